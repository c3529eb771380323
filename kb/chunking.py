"""Paragraphs -> chunks of whole sentences, with character offsets into the document text.

A table passage (a group of rows under their column names) is one chunk. Its rows are embedded only
when they say something in words; rows of names and version numbers are found by their words (BM25).
The first group of every table is embedded, so a question about the table as a whole can find it.
"""
from __future__ import annotations

import hashlib
import re

from .text import HAN_RE, split_sentences
from .types import Chunk, Document

_LATIN_WORD = re.compile(r"(?<![\w.-])[A-Za-z]{2,}(?![\w.-])")    # a word, not part of a name like "abrt-cli"


def chunk_document(doc: Document, max_chars: int = 400) -> list[Chunk]:
    """Pack each paragraph's sentences into chunks of at most `max_chars` (a longer sentence is cut)."""
    chunks, previous = [], None
    for para in doc.paragraphs:
        if para.kind == "table":
            continued = previous is not None and previous.kind == "table" and \
                previous.text[:previous.lead] == para.text[:para.lead]
            chunks.append(_chunk(doc, para, 0, len(para.text), embed=not continued or worth_embedding(para.text[para.lead:])))
            previous = para
            continue
        previous, first = para, len(chunks)
        spans = []
        for s, e in split_sentences(para.text):
            while e - s > max_chars:          # a sentence longer than a chunk: cut it, no text lost
                spans.append((s, s + max_chars))
                s += max_chars
            spans.append((s, e))
        start: int | None = None
        end = 0
        for s, e in spans:
            if start is not None and e - start > max_chars:
                chunks.append(_chunk(doc, para, start, end))
                start = None
            start = s if start is None else start
            end = e
        if start is not None:
            chunks.append(_chunk(doc, para, start, end))
        if para.kind == "step":      # what a step does is said in its first chunk; the rest is more of its code
            for c in chunks[first + 1:]:
                c.embed = False
    return chunks


def worth_embedding(rows: str) -> bool:
    """Do these table rows say something in words? At least a third of their cell text is in cells of
    several words or a phrase of Chinese; cells of names, versions and numbers are not."""
    cells = [c.strip() for line in rows.split("\n") for c in line.split(" | ") if c.strip()]
    wordy = sum(len(c) for c in cells if len(HAN_RE.findall(c)) >= 8 or len(_LATIN_WORD.findall(c)) >= 4)
    return wordy >= sum(len(c) for c in cells) / 3


def _chunk(doc: Document, para, s: int, e: int, embed: bool = True) -> Chunk:
    text = para.text[s:e]
    lead = max(0, min(para.lead - s, len(text)))
    chunk = Chunk("", doc.id, para.id, text, para.start + s, para.start + e, doc.lang, para.heading,
                  para.kind, lead, embed, para.anchor)
    chunk.id = hashlib.sha1(chunk.lexical_text.encode("utf-8")).hexdigest()[:20]
    return chunk

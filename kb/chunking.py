"""Paragraphs -> chunks of whole sentences, with character offsets into the document text."""
from __future__ import annotations

import hashlib

from .text import split_sentences
from .types import Chunk, Document


def chunk_document(doc: Document, max_chars: int = 400) -> list[Chunk]:
    """Pack each paragraph's sentences into chunks of at most `max_chars` (a longer sentence is cut)."""
    chunks = []
    for para in doc.paragraphs:
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
    return chunks


def _chunk(doc: Document, para, s: int, e: int) -> Chunk:
    text = para.text[s:e]
    chunk = Chunk("", doc.id, para.id, text, para.start + s, para.start + e, doc.lang, para.heading)
    chunk.id = hashlib.sha1(chunk.embed_text.encode("utf-8")).hexdigest()[:20]
    return chunk

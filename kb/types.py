"""The data that travels between kb's stages, in the order it flows.

Document -> Paragraph -> Chunk (indexed) -> Hit (retrieved) -> Citation, Answer (shown).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Paragraph:
    """One paragraph (or list item, table row, code block) of a document's cleaned text."""

    id: str                      # "p1", "p2", ... in reading order; shared with aligned translations
    text: str
    start: int                   # character offsets into Document.text
    end: int
    heading: tuple[str, ...] = ()   # Markdown heading path, e.g. ("迁移指南", "迁移步骤")


@dataclass
class Document:
    """A parsed corpus file: metadata from front matter plus cleaned text split into paragraphs."""

    id: str                      # path relative to the corpus folder, with "/" separators
    title: str
    text: str                    # cleaned text; paragraphs joined by blank lines
    paragraphs: list[Paragraph]
    lang: str = "zh"
    date: str | None = None
    author: str | None = None
    url: str | None = None
    translation_of: str | None = None   # id of the document this one translates


@dataclass
class Chunk:
    """The unit that is embedded and indexed: a run of whole sentences of one paragraph."""

    id: str                      # content hash of what is embedded (heading + text)
    doc_id: str
    para_id: str
    text: str
    start: int                   # offsets into the document's cleaned text
    end: int
    lang: str
    heading: tuple[str, ...] = ()

    @property
    def embed_text(self) -> str:
        """What the embedder sees: the heading path gives a short passage its context."""
        return " › ".join(self.heading) + "\n" + self.text if self.heading else self.text


@dataclass
class Hit:
    """A retrieved source passage (the two language versions of a paragraph count as one)."""

    chunk_id: str
    text: str
    document: str                # document title
    doc_id: str
    para_id: str
    lang: str
    score: float
    original: str | None = None  # aligned source-language paragraph when `text` is a translation
    url: str | None = None
    date: str | None = None
    heading: tuple[str, ...] = ()
    start: int = 0
    end: int = 0
    dense: float = 0.0           # cosine of the closest language version to the query

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Citation:
    """A numbered source shown under an answer; `quote` is the sentence(s) the answer used."""

    n: int
    text: str
    quote: str
    document: str
    score: float
    original: str | None = None
    url: str | None = None
    date: str | None = None
    doc_id: str = ""
    para_id: str = ""
    lang: str = "zh"
    heading: tuple[str, ...] = ()
    quote_start: int = 0         # offsets of `quote` inside `text` (text[quote_start:quote_end] == quote)
    quote_end: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Answer:
    """kb's reply: text with [n] markers, its citations, or a refusal with related passages."""

    question: str
    text: str
    language: str                # "zh" or "en"
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    related: list[Citation] = field(default_factory=list)   # "may be related" passages of a refusal
    mode: str = "extractive"
    seconds: float = 0.0
    signals: dict = field(default_factory=dict)   # what the refusal decision saw (closeness z, unseen share, ...)

    def to_dict(self) -> dict:
        """A JSON-safe dict; the REST API returns exactly this shape."""
        d = asdict(self)
        for c in d["citations"] + d["related"]:
            c["heading"] = list(c["heading"])
        return d

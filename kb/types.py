"""The data that travels between kb's stages, in the order it flows.

Document -> Paragraph -> Chunk (indexed) -> Hit (retrieved) -> Citation, Answer (shown).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

STEP_CODE_CHARS = 80     # of a step's code, this much is embedded with its instruction
CONTEXT_BELOW = 100      # a passage shorter than this is embedded with its nearest heading


@dataclass
class Paragraph:
    """One paragraph (or list item, table row, code block) of a document's cleaned text."""

    id: str                      # "p1", "p2", ... in reading order; shared with aligned translations
    text: str
    start: int                   # character offsets into Document.text
    end: int
    heading: tuple[str, ...] = ()   # Markdown heading path, e.g. ("迁移指南", "迁移步骤")
    kind: str = "prose"          # prose, list, table, faq or step (see kb/markdown.py)
    lead: int = 0                # text[:lead]: lead-in, question, column names or instruction; the rest follows it
    anchor: str = ""             # the heading anchor of its section on the live page ("" when unknown)


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
    scope: list[str] = field(default_factory=list)   # the versions it is about, "name number" (kb/scope.py)


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
    kind: str = "prose"
    lead: int = 0                # as Paragraph.lead, within this chunk's text
    embed: bool = True           # False: found by its words only (e.g. table rows of names and versions)
    anchor: str = ""

    @property
    def embed_text(self) -> str:
        """What the embedder sees. BM25 has the whole heading path and text (`lexical_text`); the embedding
        gets the nearest heading only where a short passage needs it for context, and of a step its
        instruction and the start of its command, which say what it does."""
        text = self.text[:self.lead + STEP_CODE_CHARS] if self.kind == "step" else self.text
        return self.heading[-1] + "\n" + text if self.heading and len(text) < CONTEXT_BELOW else text

    @property
    def lexical_text(self) -> str:
        """What BM25 indexes: the whole heading path and the text."""
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
    kind: str = "prose"          # prose, list, table, faq or step
    lead: int = 0                # text[:lead] is the lead-in / question / column names / instruction

    @property
    def rows(self) -> list[tuple[int, int]]:
        """A table passage's rows as (start, end) offsets in `text` (the column names come before them)."""
        return row_spans(self.text, self.lead) if self.kind == "table" else []

    def to_dict(self) -> dict:
        return {**asdict(self), "rows": self.rows}


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
    kind: str = "prose"
    lead: int = 0
    rows: list[int] = field(default_factory=list)   # a table passage: which of its rows (0 = first) the quote uses

    def __post_init__(self):
        if self.kind == "table" and not self.rows and self.quote_end > self.quote_start:
            self.rows = [n for n, (s, e) in enumerate(row_spans(self.text, self.lead))
                         if s < self.quote_end and self.quote_start < e]

    def to_dict(self) -> dict:
        return asdict(self)


def row_spans(text: str, start: int) -> list[tuple[int, int]]:
    """(start, end) of each line of text[start:]."""
    out, pos = [], start
    for line in text[start:].split("\n"):
        if line.strip():
            out.append((pos, pos + len(line)))
        pos += len(line) + 1
    return out


@dataclass
class Answer:
    """kb's reply: text with [n] markers, its citations, or a refusal with related passages."""

    question: str
    text: str
    language: str                # "zh" or "en"
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    related: list[Citation] = field(default_factory=list)   # a refusal's "may be related" passages; an answer's
                                                            # further reading ("see also"), unquoted
    mode: str = "extractive"
    seconds: float = 0.0
    signals: dict = field(default_factory=dict)   # what the refusal decision saw (closeness z, unseen share, ...);
    #                                                 "refused_by": the tests that refused (kb/answering.py)
    commands: list[str] = field(default_factory=list)   # lines of `text` that are commands to run (shown as code)
    output: list[str] = field(default_factory=list)     # code lines not to run: what a command printed, or the
                                                        # lines typed into the file it opened (`vim x.conf`)
    read_as: str = ""         # the question as kb read it, where it mended a slip ("tumed" as tuned) or an LLM made a
                              # follow-up standalone ("那 V9 呢？": "OpenCloudOS V9 什么时候发布？"); else ""

    def to_dict(self) -> dict:
        """A JSON-safe dict; the REST API returns exactly this shape."""
        d = asdict(self)
        for c in d["citations"] + d["related"]:
            c["heading"] = list(c["heading"])
        return d

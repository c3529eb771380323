"""The store seam: where an index's passages, vectors and words live, behind one small interface.

Retrieval and answering read a `Store`; a build makes a `Snapshot` (vectors from the embedding cache, every
passage's tokens, the off-topic baseline) and hands it to a store class to publish as a new version, which
readers see whole or not at all. `FaissStore` (kb/store_faiss.py) keeps versioned folders on this machine;
`MilvusStore` (kb/store_milvus.py) keeps collections in Milvus, switched by an alias. A third backend is one
module with a Store subclass, named in `store_class`.

A passage is known by an id that only its store interprets (a row for FAISS, a key for Milvus); a *source* is
a paragraph with its aligned translations, so retrieval ranks sources, not passages.
"""
from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .alignment import translated_words
from .bm25 import BM25, build_bm25
from .embedding import EmbeddingCache, query_key
from .spelling import spellings
from .text import ENGLISH_WORD, Tokenizer, default_tokenizer
from .types import Chunk, Document

__all__ = ["Found", "Lexicon", "Snapshot", "Stats", "Store", "build_index", "store_class", "docs_meta"]

FORMAT = 6     # 4: the manifest holds a checksum of every file; 5: passages know their kind and lead; 6: spellings
log = logging.getLogger("kb")


@dataclass(frozen=True)
class Found:
    """One passage a search found: its id in the store, score (larger is closer), source, own vector or not, language."""

    id: Hashable
    score: float
    source: Hashable
    embedded: bool = True
    lang: str = ""              # the passage's language


@dataclass(frozen=True)
class Stats:
    """What a store holds, for /healthz, `kb info` and the benchmarks."""

    kind: str            # "faiss:IndexScalarQuantizer", "milvus:HNSW", ...
    count: int           # passages
    dim: int             # vector dimension
    version: str         # the published version this store serves
    where: str = ""      # the index folder, or the server and collection
    disk_bytes: int | None = None     # on this machine (None: held elsewhere)


@dataclass(eq=False)        # compared and hashed by identity: what is derived from it (typo and dictionary maps) is kept per lexicon
class Lexicon:
    """The corpus's words and how many passages use each: what refusal (idf) and typo tolerance read."""

    vocab: dict[str, int] = field(default_factory=dict)     # token -> position in df
    df: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    passages: int = 0
    bm25: BM25 | None = None     # where the store keeps BM25 itself: which passages use a token (`using`)

    def count(self, token: str) -> int:
        """How many passages use the token."""
        i = self.vocab.get(token)
        return int(self.df[i]) if i is not None else 0

    def idf(self, token: str) -> float:
        """BM25-style idf of a token; a token the corpus never uses has df 0, so the highest idf."""
        df = self.count(token)
        return float(np.log(1 + (max(self.passages, 1) - df + 0.5) / (df + 0.5)))

    def seen(self, token: str) -> bool:
        return self.count(token) > 0

    def using(self, token: str) -> np.ndarray:
        """The passages (rows) that use `token`; none where the store keeps no postings (Milvus has its own BM25)."""
        i = self.vocab.get(token)
        if self.bm25 is None or i is None:
            return np.zeros(0, np.int32)
        return np.asarray(self.bm25.indices[self.bm25.indptr[i]:self.bm25.indptr[i + 1]])

    @classmethod
    def of(cls, bm25: BM25 | None, passages: int) -> Lexicon:
        return cls(bm25.vocab_dict, bm25.df, passages, bm25) if bm25 is not None else cls(passages=passages)


@dataclass
class Snapshot:
    """A built version before it is published: everything any store is given to write."""

    manifest: dict
    docs: dict                   # document metadata (see `docs_meta`)
    chunks: list[Chunk]
    vectors: np.ndarray          # one per chunk, L2-normalised; a chunk not embedded holds zeros
    bm25: BM25 | None            # every chunk's tokens (kb's tokenizer) and the corpus statistics


class Store(ABC):
    """A published version of an index, opened for reading. Everything retrieval and answering read.

    Attributes: `manifest` (what it was built from, checked by kb/lifecycle.py, and the off-topic baseline),
    `docs` (document metadata by id), `lexicon` (words and their passage counts), `version` (which
    published version this is: compare with `latest()` to see whether a newer one has been published).
    """

    manifest: dict
    docs: dict
    lexicon: Lexicon
    version: str

    # ------------------------------------------------------------ reading

    @abstractmethod
    def __len__(self) -> int:
        """Passages held."""

    @abstractmethod
    def __iter__(self) -> Iterator[Chunk]:
        """Every passage, in corpus order."""

    @abstractmethod
    def dense(self, vector: np.ndarray, k: int) -> list[Found]:
        """Up to k passages with vectors of their own closest to `vector` (inner product), best first."""

    @abstractmethod
    def lexical(self, tokens: list[str], k: int) -> list[Found]:
        """Up to k passages that use these tokens (kb's tokenizer), best first; only order counts, not scores."""

    @abstractmethod
    def members(self, source: Hashable) -> dict[Hashable, Chunk]:
        """The passages of one source (both languages), in document order."""

    @abstractmethod
    def between(self, doc_id: str, lang: str, start: int, end: int) -> list[Chunk]:
        """The passages of one document in `lang` that start at an offset in [start, end), in document order."""

    @abstractmethod
    def vectors(self, ids: list) -> np.ndarray:
        """The vectors standing for these passages (one not embedded borrows its table's or section's)."""

    @abstractmethod
    def latest(self) -> str:
        """The version published now (cheap: a file read or one call); differs from `version` after a rebuild."""

    @abstractmethod
    def stats(self) -> Stats:
        """Kind, size, dimension, version and disk use."""

    @property
    def dim(self) -> int:
        return int(self.manifest.get("dim", 0))

    def original(self, chunk: Chunk) -> str | None:
        """The aligned source-language paragraph of a translated chunk, else None."""
        orig = self.docs[chunk.doc_id]["aligned_to"]
        return self.docs[orig]["paragraphs"].get(chunk.para_id) if orig else None

    # ------------------------------------------------------------ writing

    @classmethod
    @abstractmethod
    def publish(cls, snapshot: Snapshot, cfg, write: bool = True) -> Store:
        """Write `snapshot` as a new version and make it the published one atomically; return it opened.

        Passages are kept by content hash: a store that can update in place writes only passages that changed
        and removes those that went. With write=False (a read-only deployment) the version lives in memory.
        """

    @classmethod
    @abstractmethod
    def open(cls, cfg) -> Store:
        """The published version; IndexProblem (one line: what is wrong, what to do) if none or damaged."""

    @classmethod
    def previous_tokens(cls, cfg, dictionary: str) -> tuple[list[str], BM25] | None:
        """The published version's chunk ids and tokens, when made with `dictionary`, so a rebuild reuses them."""
        return None


def store_class(name: str) -> type[Store]:
    """The Store class for Config.store: "faiss" (default, this machine) or "milvus" (KB_MILVUS_URI)."""
    from .errors import KbError
    if name == "faiss":
        from .store_faiss import FaissStore
        return FaissStore
    if name == "milvus":
        from .store_milvus import MilvusStore
        return MilvusStore
    raise KbError(f"unknown store '{name}': set KB_STORE to faiss or milvus")


# ---------------------------------------------------------------- building

def build_index(docs: list[Document], chunks: list[Chunk], embedder, manifest: dict, cfg, progress: bool = True,
                write: bool = True, tokenizer: Tokenizer | None = None) -> Store:
    """Embed (reusing cached vectors), tokenize (reusing the live version's tokens), then publish in cfg's store.

    The embedding cache lives in the index folder of this machine (cfg.index_path), whatever the store.
    With write=False (read-only deployment) nothing is written here and a FAISS index lives in memory.
    `tokenizer`: the knowledge base's (default: kb's dictionary only); its hash is the manifest's "dictionary".
    """
    store = store_class(getattr(cfg, "store", "faiss"))
    tokenizer = tokenizer or default_tokenizer()
    manifest = {**manifest, "dictionary": tokenizer.hash}     # the tokens BM25 holds are this tokenizer's
    cache = EmbeddingCache(Path(cfg.index_path) / "embeddings", embedder.id, embedder.dim, writable=write)
    vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)   # a chunk not embedded stays zero
    embedded = [i for i, c in enumerate(chunks) if c.embed]
    if embedded:
        vectors[embedded] = cache.embed([chunks[i] for i in embedded], embedder, progress=progress)
    previous = store.previous_tokens(cfg, manifest["dictionary"])
    bm25 = build_bm25(chunks, previous, tokenizer.tokenize, progress) if chunks else None
    nulls = null_questions()
    manifest = {**manifest, "format": FORMAT, "dim": int(embedder.dim), "chunks": len(chunks), "documents": len(docs),
                **getattr(embedder, "record", {}),      # the build embedder's same-model check, when there is one
                "null": null_baseline(vectors, nulls, cache.embed_queries(nulls, embedder)) if len(chunks) else {},
                "translated": translated_words(_twins(docs, chunks, bm25)),       # kb/alignment.py
                "spellings": spellings(c.text for c in chunks),                   # kb/spelling.py
                "built": time.strftime("%Y-%m-%dT%H:%M:%S")}
    published = store.publish(Snapshot(manifest, docs_meta(docs), chunks, vectors, bm25), cfg, write=write)
    if write:
        cache.compact({c.id for c in chunks} | {query_key(q) for q in nulls})
    return published


def _twins(docs: list[Document], chunks: list[Chunk], bm25: BM25 | None) -> list[tuple[set[str], set[str]]]:
    """(translation's words, original's tokens) of each paragraph alignment paired (kb/alignment.py)."""
    ids = {d.id for d in docs}
    original = {d.id: d.translation_of for d in docs if d.translation_of in ids and d.translation_of != d.id}
    if bm25 is None or not original:
        return []
    sides: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
    for i, c in enumerate(chunks):
        words, tokens = sides.setdefault((original.get(c.doc_id, c.doc_id), c.para_id), (set(), set()))
        if c.doc_id in original:     # as a question has them ("files", not BM25's stem "fil")
            words.update(ENGLISH_WORD.findall(c.text.lower()))
        else:                        # as BM25 holds them: a build tokenizes only new passages
            tokens.update(bm25.vocab[t] for t in bm25.tokens[bm25.token_ptr[i]:bm25.token_ptr[i + 1]])
    return [(words, tokens) for words, tokens in sides.values() if words and tokens]


NULL_QUESTIONS = Path(__file__).parent / "data" / "null_questions.txt"


def null_questions() -> list[str]:
    return [q for q in NULL_QUESTIONS.read_text(encoding="utf-8").splitlines() if q and not q.startswith("#")]


def null_baseline(vectors: np.ndarray, lines: list[str], queries: np.ndarray) -> dict:
    """How close off-topic questions come to this corpus with this model: {lang: [mean, spread]} of top cosines.

    Refusal measures a question's closeness in spreads above these, so one threshold fits any model's scale.
    The spread is pooled over both languages: a dozen questions are too few for a stable per-language one.
    Exact search over float16 copies, as the exact FAISS index holds them, whatever store serves the vectors.
    """
    from .text import detect_language
    top = np.full(len(queries), -np.inf, dtype=np.float32)
    for s in range(0, len(vectors), 65536):
        part = vectors[s:s + 65536].astype(np.float16).astype(np.float32)
        top = np.maximum(top, (part @ queries.T.astype(np.float32)).max(axis=0))
    langs = np.array([detect_language(q) for q in lines])
    means = {lang: float(top[langs == lang].mean()) for lang in ("zh", "en")}
    spread = max(float(np.sqrt(np.mean([(t - means[lang]) ** 2 for t, lang in zip(top, langs)]))), 0.005)
    return {lang: [round(m, 4), round(spread, 4)] for lang, m in means.items()}


def docs_meta(docs: list[Document]) -> dict:
    """Document metadata by id, with the paragraphs of every document that others translate (for alignment)."""
    by_id = {d.id: d for d in docs}
    meta = {}
    for d in docs:
        aligned = None
        if d.translation_of:
            orig = by_id.get(d.translation_of)
            if orig is None:
                log.warning("%s says it translates %s, which is not in the corpus: indexed on its own", d.id, d.translation_of)
            else:       # its paragraphs carry their originals' ids (kb/alignment.py); the others, ids of their own
                aligned = orig.id
        meta[d.id] = {"title": d.title, "url": d.url, "date": d.date, "lang": d.lang, "author": d.author,
                      "translation_of": d.translation_of, "aligned_to": aligned, "paragraphs": {}, "scope": d.scope}
    for d in docs:
        orig = meta[d.id]["aligned_to"]
        if orig:
            meta[orig]["paragraphs"] = {p.id: p.text for p in by_id[orig].paragraphs}
    return meta

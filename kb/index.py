"""The index folder: FAISS vectors + BM25 over the same jieba tokens + chunk metadata + a manifest.

Layout (each build is a new version folder; CURRENT names the live one, switched atomically):

    index_dir/CURRENT                 -> "v-20261126T101500-3f2a"
    index_dir/v-.../manifest.json     format, embedder id and dim, corpus fingerprint, dictionary hash
    index_dir/v-.../chunks.jsonl      one Chunk per line, in vector order
    index_dir/v-.../docs.json         document metadata and the paragraphs that translations align to
    index_dir/v-.../dense.faiss       inner-product index over L2-normalised vectors
    index_dir/v-.../bm25/             bm25s index over `tokenize` tokens, plus df.npy for answer scoring
    index_dir/embeddings/<model>/     append-only content-hash -> vector cache: rebuilds and resumed builds
                                      embed only chunks never embedded before
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .errors import IndexProblem
from .text import tokenize
from .types import Chunk, Document

FORMAT = 2
log = logging.getLogger("kb")


class Index:
    """A loaded (or freshly built) index: everything retrieval and answering read."""

    def __init__(self, manifest: dict, chunks: list[Chunk], docs: dict, dense, bm25, df: np.ndarray | None):
        self.manifest, self.chunks, self.docs, self.dense, self.bm25, self.df = manifest, chunks, docs, dense, bm25, df
        self.n_docs = max(len(chunks), 1)
        # Aligned translations share their original's source key, so both count as one source.
        self.sources: list[str] = []
        self.by_source: dict[str, list[int]] = {}
        for i, c in enumerate(chunks):
            d = docs[c.doc_id]
            key = f"{d['aligned_to'] or c.doc_id}#{c.para_id}"
            self.sources.append(key)
            self.by_source.setdefault(key, []).append(i)

    def __len__(self):
        return len(self.chunks)

    def vocab_id(self, token: str) -> int | None:
        return self.bm25.vocab_dict.get(token) if self.bm25 is not None else None

    def idf(self, token: str) -> float:
        """BM25-style idf of a token; a token the corpus never uses gets None-like 0 df -> highest idf."""
        i = self.vocab_id(token)
        df = int(self.df[i]) if i is not None and self.df is not None else 0
        return float(np.log(1 + (self.n_docs - df + 0.5) / (df + 0.5)))

    def seen(self, token: str) -> bool:
        i = self.vocab_id(token)
        return i is not None and self.df is not None and int(self.df[i]) > 0

    def original(self, chunk: Chunk) -> str | None:
        """The aligned source-language paragraph of a translated chunk, else None."""
        orig = self.docs[chunk.doc_id]["aligned_to"]
        return self.docs[orig]["paragraphs"].get(chunk.para_id) if orig else None

    def vectors(self, ids: list[int]) -> np.ndarray:
        return np.vstack([self.dense.reconstruct(int(i)) for i in ids]) if ids else np.zeros((0, self.dense.d), "float32")


# ---------------------------------------------------------------- building

def build_index(docs: list[Document], chunks: list[Chunk], embedder, manifest: dict, index_dir: Path,
                progress: bool = True, write: bool = True, index_type: str = "auto", hnsw_above: int = 200_000) -> Index:
    """Embed (reusing cached vectors), index and save atomically; returns the loaded Index.

    With write=False (read-only deployment) nothing is written and the index lives in memory.
    """
    import faiss
    meta = _docs_meta(docs)
    cache = EmbeddingCache(index_dir / "embeddings", embedder.id, embedder.dim, writable=write)
    vectors = cache.embed(chunks, embedder, progress=progress)
    dense = _dense_index(vectors, embedder.dim, index_type, hnsw_above)
    tokens = [tokenize(c.embed_text) for c in chunks]
    bm25, df = _bm25_index(tokens)
    manifest = {**manifest, "format": FORMAT, "dim": int(embedder.dim), "chunks": len(chunks),
                "documents": len(docs), "faiss": type(dense).__name__, "null": _null_baseline(dense, embedder),
                "built": time.strftime("%Y-%m-%dT%H:%M:%S")}
    index = Index(manifest, chunks, meta, dense, bm25, df)
    if write:
        _save(index, index_dir)
        cache.compact({c.id for c in chunks})
    return index


NULL_QUESTIONS = Path(__file__).parent / "data" / "null_questions.txt"


def _null_baseline(dense, embedder) -> dict:
    """How close off-topic questions come to this corpus with this model: {lang: [mean, spread]} of top cosines.

    Refusal measures a question's closeness in spreads above these, so one threshold fits any model's scale.
    The spread is pooled over both languages: a dozen questions are too few for a stable per-language one.
    """
    from .text import detect_language
    if dense.ntotal == 0:
        return {}
    lines = [l for l in NULL_QUESTIONS.read_text(encoding="utf-8").splitlines() if l and not l.startswith("#")]
    top = dense.search(embedder.embed_queries(lines), 1)[0][:, 0]
    langs = np.array([detect_language(q) for q in lines])
    means = {lang: float(top[langs == lang].mean()) for lang in ("zh", "en")}
    spread = max(float(np.sqrt(np.mean([(t - means[l]) ** 2 for t, l in zip(top, langs)]))), 0.005)
    return {lang: [round(m, 4), round(spread, 4)] for lang, m in means.items()}


def _docs_meta(docs: list[Document]) -> dict:
    by_id = {d.id: d for d in docs}
    meta = {}
    for d in docs:
        aligned = None
        if d.translation_of:
            orig = by_id.get(d.translation_of)
            if orig is None:
                log.warning("%s says it translates %s, which is not in the corpus: indexed on its own", d.id, d.translation_of)
            elif len(orig.paragraphs) != len(d.paragraphs):
                log.warning("%s has %d paragraphs but its original %s has %d: not aligned, so its citations "
                            "carry no original (keep one paragraph per paragraph)", d.id, len(d.paragraphs),
                            orig.id, len(orig.paragraphs))
            else:
                aligned = orig.id
        meta[d.id] = {"title": d.title, "url": d.url, "date": d.date, "lang": d.lang, "author": d.author,
                      "translation_of": d.translation_of, "aligned_to": aligned, "paragraphs": {}}
    for d in docs:
        orig = meta[d.id]["aligned_to"]
        if orig:
            meta[orig]["paragraphs"] = {p.id: p.text for p in by_id[orig].paragraphs}
    return meta


def _dense_index(vectors: np.ndarray, dim: int, index_type: str, hnsw_above: int):
    """Exact inner product for small corpora; HNSW (approximate, fast) above `hnsw_above` chunks."""
    import faiss
    kind = index_type if index_type != "auto" else ("hnsw" if len(vectors) > hnsw_above else "flat")
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 64
        index.hnsw.efSearch = 96
    else:
        raise IndexProblem(f"unknown index type '{index_type}': use auto, flat or hnsw")
    if len(vectors):
        index.add(vectors)
    return index


def _bm25_index(tokens: list[list[str]]):
    if not tokens:
        return None, None
    import bm25s
    bm25 = bm25s.BM25()
    bm25.index(tokens, show_progress=False)
    df = np.zeros(len(bm25.vocab_dict), dtype=np.int32)
    for toks in tokens:
        for t in set(toks):
            df[bm25.vocab_dict[t]] += 1
    return bm25, df


def _save(index: Index, index_dir: Path) -> None:
    """Write a new version folder, then switch CURRENT with an atomic rename; old versions are removed after."""
    import faiss
    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"v-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{hashlib.sha1(os.urandom(8)).hexdigest()[:4]}"
    tmp = index_dir / f".{name}.tmp"
    tmp.mkdir()
    with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as f:
        for c in index.chunks:
            f.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
    (tmp / "docs.json").write_text(json.dumps(index.docs, ensure_ascii=False), encoding="utf-8")
    faiss.write_index(index.dense, str(tmp / "dense.faiss"))
    if index.bm25 is not None:
        index.bm25.save(str(tmp / "bm25"), show_progress=False)
        np.save(tmp / "bm25" / "df.npy", index.df)
    (tmp / "manifest.json").write_text(json.dumps(index.manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    for p in tmp.rglob("*"):          # make the data durable before it becomes visible
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
    os.rename(tmp, index_dir / name)
    _atomic_write(index_dir / "CURRENT", name)
    for old in index_dir.iterdir():   # earlier versions and leftovers of killed builds
        if old.is_dir() and old.name != name and (old.name.startswith("v-") or old.name.endswith(".tmp")):
            shutil.rmtree(old, ignore_errors=True)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------- loading

def load_index(index_dir: Path, mmap: bool = False) -> Index:
    """Load the live version; raise IndexProblem (one line, what is wrong) for anything missing or damaged."""
    import faiss
    try:
        name = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise IndexProblem(f"no index in {index_dir}") from None
    folder = index_dir / name
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT:
            raise IndexProblem(f"index format {manifest.get('format')} is not {FORMAT}")
        with open(folder / "chunks.jsonl", encoding="utf-8") as f:
            chunks = [Chunk(**{**d, "heading": tuple(d["heading"])}) for d in map(json.loads, f)]
        docs = json.loads((folder / "docs.json").read_text(encoding="utf-8"))
        dense = faiss.read_index(str(folder / "dense.faiss"), faiss.IO_FLAG_MMAP if mmap else 0)
        bm25 = df = None
        if chunks:
            import bm25s
            bm25 = bm25s.BM25.load(str(folder / "bm25"), mmap=mmap, show_progress=False)
            df = np.load(folder / "bm25" / "df.npy", mmap_mode="r" if mmap else None)
    except IndexProblem:
        raise
    except Exception as e:
        raise IndexProblem(f"index in {folder} is damaged ({type(e).__name__}: {str(e)[:200]})") from None
    if dense.ntotal != len(chunks) or manifest.get("chunks") != len(chunks) or dense.d != manifest.get("dim"):
        raise IndexProblem(f"index in {folder} is inconsistent ({dense.ntotal} vectors, {len(chunks)} chunks)")
    return Index(manifest, chunks, docs, dense, bm25, df)


# ---------------------------------------------------------------- embedding cache

class EmbeddingCache:
    """Append-only content-hash -> vector store, flushed after every batch so a killed build resumes.

    One file of fixed-size records (20-byte chunk id + vector): a record torn by a kill is simply dropped.
    """

    def __init__(self, folder: Path, embedder_id: str, dim: int, writable: bool = True):
        self.path = folder / hashlib.sha1(embedder_id.encode()).hexdigest()[:16] / "vectors.bin"
        self.dim, self.writable, self.vectors = dim, writable, {}
        self.dtype = np.dtype([("id", "S20"), ("v", "<f4", (dim,))])
        if self.path.exists():
            raw = np.fromfile(self.path, dtype=np.uint8)
            whole = raw.size // self.dtype.itemsize
            records = raw[: whole * self.dtype.itemsize].view(self.dtype)
            self.vectors = {r["id"].decode(): r["v"] for r in records}
            if raw.size != whole * self.dtype.itemsize:
                self._rewrite()

    def embed(self, chunks: list[Chunk], embedder, progress: bool = True, batch_size: int = 32) -> np.ndarray:
        """Vectors for all chunks in order; only chunks whose content hash is new are embedded."""
        todo, seen = [], set()
        for c in chunks:
            if c.id not in self.vectors and c.id not in seen:
                todo.append(c)
                seen.add(c.id)
        if todo:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(todo), unit="chunk", desc="embedding", disable=not progress, leave=False,
                       dynamic_ncols=True)
            for i in range(0, len(todo), batch_size):
                batch = todo[i:i + batch_size]
                self._append([c.id for c in batch], embedder.embed_passages([c.embed_text for c in batch]))
                bar.update(len(batch))
            bar.close()
        if not chunks:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.ascontiguousarray(np.vstack([self.vectors[c.id] for c in chunks]), dtype=np.float32)

    def _records(self, items) -> bytes:
        rec = np.zeros(len(items), dtype=self.dtype)
        for j, (k, v) in enumerate(items):
            rec[j] = (k.encode(), v)
        return rec.tobytes()

    def _append(self, ids: list[str], vecs: np.ndarray) -> None:
        self.vectors.update(zip(ids, vecs))
        if not self.writable:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as f:
                f.write(self._records(list(zip(ids, vecs))))
        except OSError as e:
            log.warning("embedding cache not written (%s); continuing in memory", e)
            self.writable = False

    def _rewrite(self, keep: set[str] | None = None) -> None:
        if self.writable:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_bytes(self._records([(k, v) for k, v in self.vectors.items() if keep is None or k in keep]))
            os.replace(tmp, self.path)

    def compact(self, live: set[str]) -> None:
        """Drop vectors of chunks no longer in the corpus once they outnumber the live ones."""
        if len(self.vectors) > 2 * max(len(live), 1000):
            self._rewrite(live)

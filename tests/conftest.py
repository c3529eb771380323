"""Shared fixtures: one real index of the bundled corpus per test session; nothing written outside tmp."""
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Every default data or index folder points into the test's tmp_path."""
    for var in ("KB_CORPUS", "KB_EMBEDDER", "KB_ALLOWED_ORIGINS", "KB_LLM_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KB_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("KB_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(scope="session")
def kb(tmp_path_factory):
    """The bundled corpus with the bundled model, built once for the session."""
    from kb import KnowledgeBase
    return KnowledgeBase.open(corpus=CORPUS, index_dir=tmp_path_factory.mktemp("index"), progress=False)


# ------------------------------------------------------------------ the web face: real servers on loopback ports

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


def free_socket():
    """A listening-ready socket bound to a free port on 127.0.0.1."""
    import socket
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class ServerThread:
    """An ASGI app served by uvicorn in a background thread on a free loopback port."""

    def __init__(self, app):
        import threading

        import uvicorn
        self.sock = free_socket()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        # proxy_headers off, as in kb.web.serve: kb itself decides whose X-Forwarded-For to believe.
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1,
                                                    proxy_headers=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        import time
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "test server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


class StaticServer:
    """A folder (the demo portal page) served over HTTP on another free loopback port."""

    def __init__(self, folder: Path):
        import functools
        import http.server
        import threading

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):   # keep pytest's output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
        self.port = self.httpd.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def live(kb, tmp_path_factory):
    """kb's whole web app on a free loopback port, with the demo portal on another port as its one allowed origin.

    Yields an object with url, portal (the portal's origin), feedback (the JSONL path) and recorder.
    """
    import dataclasses
    import types

    from kb.web import create_app
    data = tmp_path_factory.mktemp("web-data")
    with StaticServer(REPO / "examples") as portal:
        recorder = Recorder(kb)
        cfg = dataclasses.replace(kb.config, data_dir=data, allowed_origins=[portal.origin])
        with ServerThread(create_app(recorder, config=cfg)) as server:
            yield types.SimpleNamespace(url=server.url, portal=portal.origin, portal_port=portal.port,
                                        feedback=data / cfg.feedback_file, recorder=recorder)


@pytest.fixture(scope="session")
def live_llm(kb, tmp_path_factory):
    """kb's web app answering through a scripted model (tests/llm_stub.py) on another loopback port.

    Yields an object with url and llm: push replies onto llm.replies, set llm.delay to slow the stream down.
    """
    import dataclasses
    import types

    from kb import KnowledgeBase
    from kb.web import create_app
    from llm_stub import ScriptedLLM
    llm = ScriptedLLM(delay=0.01)
    cfg = dataclasses.replace(kb.config, llm_base_url=llm.url, llm_model="stub",
                              data_dir=tmp_path_factory.mktemp("web-llm-data"))
    with ServerThread(create_app(KnowledgeBase(cfg, kb.index, kb.embedder))) as server:
        yield types.SimpleNamespace(url=server.url, llm=llm)
    llm.close()


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

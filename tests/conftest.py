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

from support import Recorder, ServerThread, Tricky, free_socket, read_sse  # noqa: E402,F401  (shared with benchmarks)


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

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

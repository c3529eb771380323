"""A running server picks up a rebuilt index without a restart, and a corpus whose vectors are not all made yet is
served at once by its words, saying so, until the background embedding has published the whole index."""
import dataclasses
import json
import logging
import shutil
import subprocess
import sys
import threading
import time

import pytest

from conftest import CORPUS
from kb import KnowledgeBase
from kb import progressive
from kb.config import Config
from kb.web import create_app
from support import KbServe, ServerThread, client

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")

NEW_DOC = ("---\ntitle: Zorblax guide\n---\n# Zorblax\n\nThe Zorblax daemon listens on port 4242 and keeps its "
           "journal in /var/lib/zorblax.\n")
NEW_QUESTION = "Which port does the Zorblax daemon listen on?"
OFF_TOPIC = "What is the capital of France?"


@pytest.fixture
def copy(kb, tmp_path):
    """A copy of the bundled corpus and of its built index (vectors cached): (corpus, index folder)."""
    corpus, ix = tmp_path / "corpus", tmp_path / "ix"
    shutil.copytree(CORPUS, corpus)
    shutil.copytree(kb.config.index_path, ix)
    return corpus, ix


def kb_build(corpus, ix):
    """`kb build` in another process, as an operator runs it."""
    subprocess.run([sys.executable, "-m", "kb.cli", "build", "-q", "--corpus", str(corpus), "--index", str(ix)],
                   check=True, capture_output=True, text=True, timeout=300)


def vectors(kb) -> int:
    """How many different passages the index holds vectors of."""
    return len({c.id for c in kb.index if c.embed})


def wait_for(condition, seconds=30.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


# ------------------------------------------------------------------ a rebuilt index, live

def test_two_knowledge_bases_in_one_process_each_pick_up_their_own_rebuild(copy, tmp_path, caplog):
    corpus, ix = copy
    other = tmp_path / "other"
    shutil.copytree(ix, other)
    a = KnowledgeBase.open(corpus=corpus, index_dir=ix, progress=False, reload_interval=0.1)
    b = KnowledgeBase.open(corpus=corpus, index_dir=other, progress=False, reload_interval=0.1)
    assert a.ask(NEW_QUESTION).refused and b.ask(NEW_QUESTION).refused
    (corpus / "zorblax.md").write_text(NEW_DOC, encoding="utf-8")
    kb_build(corpus, ix)
    time.sleep(0.2)
    answer = a.ask(NEW_QUESTION)
    assert not answer.refused and "4242" in answer.text and answer.citations[0].doc_id == "zorblax.md"
    assert b.ask(NEW_QUESTION).refused        # its folder was not rebuilt: it serves what it had

    # A version that cannot be opened is not served: the last good one stays, with one warning.
    good = (ix / "CURRENT").read_text()
    bad = ix / "v-99999999T000000-0-dead"
    shutil.copytree(ix / good, bad)
    (bad / "dense.faiss").write_bytes((bad / "dense.faiss").read_bytes()[:100])
    (ix / "CURRENT").write_text(bad.name)
    with caplog.at_level(logging.WARNING, logger="kb"):
        for _ in range(3):
            time.sleep(0.15)
            assert "4242" in a.ask(NEW_QUESTION).text
    said = [r.getMessage() for r in caplog.records if bad.name in r.getMessage()]
    assert len(said) == 1 and "dense.faiss" in said[0] and good in said[0]

    # Nor is one built with another model: its vectors would not be comparable with the questions'.
    foreign = ix / "v-99999999T000001-0-beef"
    shutil.copytree(ix / good, foreign)
    manifest = json.loads((foreign / "manifest.json").read_text())
    (foreign / "manifest.json").write_text(json.dumps({**manifest, "embedder": "st:another-model"}))
    (ix / "CURRENT").write_text(foreign.name)
    with caplog.at_level(logging.WARNING, logger="kb"):
        time.sleep(0.15)
        assert "4242" in a.ask(NEW_QUESTION).text
    said = [r.getMessage() for r in caplog.records if foreign.name in r.getMessage()]
    assert len(said) == 1 and "embedder" in said[0] and "st:another-model" in said[0]


def test_a_running_kb_serve_answers_from_a_rebuild_with_no_failed_request(copy):
    corpus, ix = copy
    env = {"KB_RATE_LIMIT": "0", "KB_RELOAD_INTERVAL": "1"}
    server = KbServe("--corpus", str(corpus), "--index", str(ix), env=env)
    codes, stop = [], threading.Event()
    try:
        url = server.ready()

        def ask(c):
            return c.post(f"{url}/api/v1/ask", json={"question": NEW_QUESTION}).json()

        def hammer():
            with client("127.0.0.21") as c:
                while not stop.is_set():
                    codes.append(c.post(f"{url}/api/v1/ask", json={"question": "What is cgroupfs?"}).status_code)
                    codes.append(c.get(f"{url}/api/v1/search", params={"q": "热补丁"}).status_code)

        with client("127.0.0.22") as c:
            assert ask(c)["refused"]
            before = c.get(f"{url}/healthz").json()["index"]
            hammering = threading.Thread(target=hammer)
            hammering.start()
            (corpus / "zorblax.md").write_text(NEW_DOC, encoding="utf-8")
            kb_build(corpus, ix)
            built = time.monotonic()
            wait_for(lambda: "4242" in ask(c)["text"], 15)
            swap = time.monotonic() - built
            assert c.get(f"{url}/healthz").json()["index"] not in (before, None)
            time.sleep(1)
        stop.set()
        hammering.join(timeout=30)
        print(f"\nanswered from the rebuild {swap:.2f} s after `kb build` returned; {len(codes)} requests meanwhile")
        assert len(codes) > 10 and set(codes) == {200}, {c: codes.count(c) for c in set(codes)}
    finally:
        stop.set()
        server.stop()


# ------------------------------------------------------------------ a corpus still being embedded

class Gated:
    """The bundled embedder, except that passages after the first `free` batches wait for `gate`, and `fail`
    makes them raise instead: a build whose embedding takes as long as the test wants."""

    def __init__(self, inner, free=1):
        self.inner, self.id, self.dim = inner, inner.id, inner.dim
        self.free, self.batches, self.passages = free, 0, 0
        self.gate, self.fail = threading.Event(), False

    def embed_queries(self, texts):
        return self.inner.embed_queries(texts)

    def embed_query(self, text):
        return self.inner.embed_query(text)

    def embed_passages(self, texts):
        self.batches += 1
        if self.batches > self.free:
            if self.fail:
                raise RuntimeError("embedding server went away")
            assert self.gate.wait(60), "the test never opened the gate"
        self.passages += len(texts)
        return self.inner.embed_passages(texts)


@pytest.fixture
def gated(monkeypatch, kb):
    embedder = Gated(kb.embedder)
    monkeypatch.setattr("kb.base.make_embedder", lambda *a, **k: embedder)
    monkeypatch.setattr(progressive, "BATCH", 8)
    yield embedder
    embedder.gate.set()


@pytest.mark.parametrize("store", ["faiss", "milvus"])
def test_an_unfinished_corpus_answers_by_its_words_and_says_so_until_its_vectors_arrive(gated, tmp_path, store):
    if store == "milvus":
        pytest.importorskip("pymilvus")
    cfg = Config(corpus=CORPUS, index_dir=tmp_path / "ix", lexical_first_after=0.01, reload_interval=0.1,
                 rate_limit=0, store=store, milvus_uri=str(tmp_path / "kb.db") if store == "milvus" else "")
    t0 = time.monotonic()
    kb = KnowledgeBase.open(config=cfg, progress=False, lexical_first=True)
    opened = time.monotonic() - t0
    assert kb.indexing is not None and kb.indexing < 0.5
    with ServerThread(create_app(kb), cfg) as server, client("127.0.0.23") as c:
        health = c.get(f"{server.url}/healthz").json()
        assert 0 <= health["indexing"]["progress"] < 0.5 and "%" in health["indexing"]["detail"]
        assert "answers may improve" in c.get(f"{server.url}/config").text      # the chat's header says it too
        answer = c.post(f"{server.url}/api/v1/ask", json={"question": "What is cgroupfs?"}).json()
        assert not answer["refused"] and "cgroupfs" in answer["text"].lower()
        assert "Indexing" in answer["text"] and answer["signals"]["indexing"] < 0.5
        zh = c.post(f"{server.url}/api/v1/ask", json={"question": "法国的首都是哪里？"}).json()
        en = c.post(f"{server.url}/api/v1/ask", json={"question": OFF_TOPIC}).json()
        assert zh["refused"] and "仍在建立索引" in zh["text"]      # never a false "not covered"
        assert en["refused"] and "still being indexed" in en["text"]
        print(f"\nopened lexically in {opened:.1f} s with {health['indexing']['progress']:.0%} of the vectors")

        gated.gate.set()                                     # the background embedding finishes
        wait_for(lambda: c.get(f"{server.url}/healthz").json()["indexing"] is None, 60)
        answer = c.post(f"{server.url}/api/v1/ask", json={"question": "What is cgroupfs?"}).json()
        assert not answer["refused"] and "Indexing" not in answer["text"] and "indexing" not in answer["signals"]
        en = c.post(f"{server.url}/api/v1/ask", json={"question": OFF_TOPIC}).json()
        assert en["refused"] and "does not cover" in en["text"]
    assert gated.passages == vectors(kb)                  # each passage embedded once, foreground or background
    assert not (cfg.index_path / progressive.PROGRESS).exists() and "pending" not in kb.index.manifest


def test_embedding_stopped_halfway_resumes_with_only_the_missing_vectors(gated, tmp_path, caplog):
    cfg = Config(corpus=CORPUS, index_dir=tmp_path / "ix", lexical_first_after=0.01, reload_interval=0.1)
    gated.fail = True                                        # the background embedding dies after the first batch
    with caplog.at_level(logging.WARNING, logger="kb"):
        first = KnowledgeBase.open(config=cfg, progress=False, lexical_first=True)
        wait_for(lambda: "stopped" in caplog.text, 30)
    made, pending = gated.passages, first.index.manifest["pending"]
    assert made == 8 and pending > 0 and first.indexing is not None

    # A command-line ask does not serve half an index: it finishes it, embedding only what is missing.
    gated.fail, gated.free, gated.passages = False, 10**6, 0
    whole = KnowledgeBase.open(config=dataclasses.replace(cfg, lexical_first_after=20), progress=False)
    assert whole.indexing is None and "pending" not in whole.index.manifest
    assert gated.passages == vectors(whole) - made
    # ...and the server that was serving the half-built version swaps to it.
    def swapped_to_whole():
        first.refresh()                 # a server looks between requests; here, each time it is asked
        return first.indexing is None

    wait_for(swapped_to_whole, 10)

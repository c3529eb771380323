"""The store seam: FaissStore and MilvusStore (Milvus Lite, embedded and as a loopback server) keep one contract,
and the bundled corpus answers the same on each."""
import logging
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kb import KnowledgeBase
from kb.errors import KbError
from kb.evaluation import evaluate, load_labelled
from support import milvus_lite_server

pytest.importorskip("pymilvus")
REPO = Path(__file__).resolve().parent.parent
CORPUS, DATA = REPO / "corpus", REPO / "tests" / "data"


def with_cache(kb, folder: Path) -> Path:
    """A fresh index folder holding the session index's embedding cache, so no passage is embedded again."""
    shutil.copytree(kb.config.index_path / "embeddings", folder / "embeddings")
    return folder


@pytest.fixture(scope="module")
def milvus_kb(kb, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("milvus")
    return KnowledgeBase.open(corpus=CORPUS, index_dir=with_cache(kb, tmp / "index"), store="milvus",
                              milvus_uri=str(tmp / "kb.db"), progress=False)


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory):
    """`milvus-lite server` on a free loopback port, as several processes would share it."""
    with milvus_lite_server(tmp_path_factory.mktemp("milvus-server")) as uri:
        yield uri


@pytest.fixture(params=["faiss", "milvus"])
def store(request, kb):
    return (kb if request.param == "faiss" else request.getfixturevalue("milvus_kb")).index


# ------------------------------------------------------------------ the contract, on both stores

def test_a_store_holds_the_corpus_and_says_what_it_is(store, kb):
    stats = store.stats()
    assert stats.count == len(store) == kb.index.manifest["chunks"] > 0
    assert stats.dim == 384 and stats.kind.split(":")[0] in ("faiss", "milvus")
    assert stats.version == store.version == store.latest()
    assert sorted((c.doc_id, c.start, c.text, c.embed) for c in store) == \
        sorted((c.doc_id, c.start, c.text, c.embed) for c in kb.index)


def test_dense_search_finds_a_passage_by_its_own_vector_best_first_and_unpadded(store):
    everything = store.dense(np.ones(store.dim, np.float32), 10 * len(store))
    assert 0 < len(everything) <= len(store) and all(f.embedded for f in everything)    # no -1 padding
    assert [f.score for f in everything] == sorted((f.score for f in everything), reverse=True)
    for f in everything[::7]:
        near = store.dense(store.vectors([f.id])[0], 3)
        assert near[0].id == f.id and near[0].score > 0.99 and near[0].source == f.source
        assert f.id in store.members(f.source)


def test_lexical_search_finds_passages_by_kb_tokens_and_ignores_unknown_words(store, kb):
    found = store.lexical(kb.tokenizer.tokenize("cgroupfs"), 5)
    assert found and all("cgroupfs" in store.members(f.source)[f.id].text.lower() for f in found)
    assert store.lexical(["zzqxunknownword"], 5) == []
    assert store.lexicon.seen("cgroupfs") and not store.lexicon.seen("zzqxunknownword")
    assert store.lexicon.idf("zzqxunknownword") > store.lexicon.idf("cgroupfs")


def test_a_source_holds_a_paragraph_in_both_languages(store):
    translated = next(c for c in store if store.original(c))
    found = next(f for f in store.dense(np.ones(store.dim, np.float32), len(store))
                 if store.members(f.source)[f.id].para_id == translated.para_id
                 and store.members(f.source)[f.id].doc_id == translated.doc_id)
    langs = {c.lang for c in store.members(found.source).values()}
    assert langs == {"zh", "en"}


def test_a_documents_passages_are_read_in_order_from_an_offset(store, kb):
    """What a how-to answer reads after a section's preface (kb/answering.py): one document, one language."""
    doc = next(c.doc_id for c in kb.index if c.lang == "zh")
    want = sorted((c for c in kb.index if c.doc_id == doc and c.lang == "zh"), key=lambda c: c.start)
    assert len(want) > 4
    got = store.between(doc, "zh", want[1].start, want[4].start)
    assert [(c.start, c.text, c.heading, c.kind) for c in got] == [(c.start, c.text, c.heading, c.kind) for c in want[1:4]]
    assert store.between(doc, "xx", 0, 10**9) == [] and store.between("nowhere.md", "zh", 0, 10**9) == []
    assert store.between('a" or doc != "', "zh", 0, 10**9) == []        # a name is a value, never part of a filter


def test_both_stores_rank_the_same_sources_for_the_same_question(kb, milvus_kb):
    for q in ("OpenCloudOS 9 什么时候发布？", "What is cgroupfs?"):
        assert [h.chunk_id for h in kb.search(q, k=3)] == [h.chunk_id for h in milvus_kb.search(q, k=3)]


# ------------------------------------------------------------------ the bundled eval on every store

def eval_figures(kb) -> dict:
    from kb.evaluation import format_report
    items = load_labelled(DATA / "eval.jsonl") + load_labelled(DATA / "heldout.jsonl")
    report = evaluate(kb, items)
    print(f"\n{kb.index.stats().kind} {kb.config.milvus_uri}\n{format_report(report, ('lang', 'split'))}")
    return {f"{lang}/{m}": v for lang, row in report["metrics"].items() for m, v in row.items()
            if m not in ("questions", "p50_ms", "p95_ms")}


def test_the_bundled_eval_gives_the_same_figures_on_faiss_milvus_lite_and_a_milvus_server(kb, milvus_kb, milvus_server,
                                                                                           tmp_path):
    served = KnowledgeBase.open(corpus=CORPUS, index_dir=with_cache(kb, tmp_path / "index"), store="milvus",
                                milvus_uri=milvus_server, progress=False)
    faiss = eval_figures(kb)
    for other in (milvus_kb, served):
        figures = eval_figures(other)
        assert figures.keys() == faiss.keys()
        # Milvus ranks BM25 with its own implementation: one question of a language's 44 may go either way
        far = {k: (faiss[k], figures[k]) for k in faiss if abs(faiss[k] - figures[k]) > 0.03}
        assert not far, f"{other.config.milvus_uri}: {far}"
    # a replica: no corpus folder here (the same name, so the same collection), nothing but its settings
    replica = KnowledgeBase.open(corpus=tmp_path / "corpus", index_dir=tmp_path / "replica", store="milvus",
                                 milvus_uri=milvus_server, progress=False)
    assert replica.index.version == served.index.version and not replica.ask("What is cgroupfs?").refused


# ------------------------------------------------------------------ updates

def test_a_rebuild_writes_only_changed_passages_and_the_alias_publishes_it_whole(kb, tmp_path, caplog):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    settings = dict(corpus=corpus, index_dir=with_cache(kb, tmp_path / "index"), store="milvus",
                    milvus_uri=str(tmp_path / "kb.db"), progress=False)
    first = KnowledgeBase.open(**settings)
    second = KnowledgeBase.open(**settings, rebuild=True)        # the other collection of the pair: written whole
    assert second.index.version != first.index.version and first.index.latest() == second.index.version
    shutil.copy(DATA / "mini" / "guide.md", corpus / "guide.md")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kb"):
        third = KnowledgeBase.open(**settings)
    new = [c for c in third.index if c.doc_id == "guide.md"]
    assert new and len(third.index) == len(first.index) + len(new)
    assert f"{len(new)} passages written, 0 removed, {len(first.index)} unchanged" in caplog.text
    assert second.index.latest() == third.index.version != second.index.version   # a reader can tell
    assert any(h.doc_id == "guide.md" for h in third.search("迁移 备份", k=3))
    (corpus / "guide.md").unlink()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kb"):
        fourth = KnowledgeBase.open(**settings)
    assert f"0 passages written, 0 removed, {len(first.index)} unchanged" in caplog.text   # its pair never had it
    assert not any(c.doc_id == "guide.md" for c in fourth.index)


# ------------------------------------------------------------------ bad input: one line, what to do

def test_an_unreachable_server_is_one_line_saying_what_to_do(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(KbError, match=r"cannot reach Milvus at http://127.0.0.1:\d+: start it, or set KB_MILVUS_URI"):
        KnowledgeBase.open(corpus=tmp_path / "none", store="milvus", milvus_uri=f"http://127.0.0.1:{port}",
                           progress=False)


def test_a_refused_token_is_one_line_saying_what_to_do(tmp_path):
    """A loopback gRPC server that answers every call as a Milvus with authentication does to a wrong password."""
    import grpc
    from concurrent import futures

    class Refuse(grpc.GenericRpcHandler):
        def service(self, details):
            return grpc.unary_unary_rpc_method_handler(lambda request, context: context.abort(
                grpc.StatusCode.UNAUTHENTICATED, "auth check failure, please check username and password are correct"))
    server = grpc.server(futures.ThreadPoolExecutor(2))
    server.add_generic_rpc_handlers((Refuse(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with pytest.raises(KbError, match="refused kb's credentials: set KB_MILVUS_TOKEN"):
            KnowledgeBase.open(corpus=tmp_path / "none", store="milvus", milvus_uri=f"http://127.0.0.1:{port}",
                               milvus_token="root:wrong", progress=False)
    finally:
        server.stop(0)


def test_a_collection_of_another_model_is_refused_not_mixed(kb, milvus_kb):
    from pymilvus import DataType
    store = milvus_kb.index
    raw = store.client.raw
    other = store.base + ("_b" if store.collection.endswith("_a") else "_a")
    schema = raw.create_schema(auto_id=False)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=8)
    raw.create_collection(other, schema=schema)
    try:
        with pytest.raises(KbError, match=r"holds another model's passages \(vectors of dimension 8, not 384\)"):
            KnowledgeBase.open(corpus=CORPUS, index_dir=milvus_kb.config.index_path, store="milvus",
                               milvus_uri=milvus_kb.config.milvus_uri, rebuild=True, progress=False)
        assert store.latest() == store.version        # the published version is untouched
    finally:
        raw.drop_collection(other)


def test_a_lite_file_open_in_another_process_says_to_run_a_server(milvus_kb, tmp_path):
    child = subprocess.run([sys.executable, "-c", "from kb.cli import main; main()", "--corpus", str(tmp_path / "none"),
                            "--index", str(tmp_path / "ix"), "ask", "What is cgroupfs?"],
                           env={**__import__("os").environ, "KB_STORE": "milvus",
                                "KB_MILVUS_URI": milvus_kb.config.milvus_uri},
                           capture_output=True, text=True, timeout=120)
    assert child.returncode != 0 and "Traceback" not in child.stderr
    assert "is open in another process" in child.stderr and "milvus-lite server" in child.stderr


def test_an_interrupted_build_resumes_where_it_stopped(kb, tmp_path, monkeypatch, caplog):
    import kb.store_milvus as sm
    settings = dict(corpus=CORPUS, index_dir=with_cache(kb, tmp_path / "index"), store="milvus",
                    milvus_uri=str(tmp_path / "kb.db"), progress=False)
    real, calls = sm._Client.__getattr__, []

    def dies_on_the_third_batch(self, name):
        call = real(self, name)
        if name != "upsert":
            return call

        def upsert(collection, rows):
            if not collection.endswith("_meta"):
                calls.append(len(rows))
                if len(calls) == 3:
                    raise KeyboardInterrupt      # the build is killed
            return call(collection, rows)
        return upsert
    monkeypatch.setattr(sm, "BATCH", 8)
    monkeypatch.setattr(sm._Client, "__getattr__", dies_on_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        KnowledgeBase.open(**settings)
    monkeypatch.undo()
    with caplog.at_level(logging.INFO, logger="kb"):
        resumed = KnowledgeBase.open(**settings)
    n = len(resumed.index)
    assert f"{n - 16} passages written, 0 removed, 16 unchanged" in caplog.text
    assert not resumed.ask("What is cgroupfs?").refused

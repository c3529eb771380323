"""Soak: a real kb server process on loopback, many clients for a while, good and bad requests mixed.

    python benchmarks/soak.py [--seconds 60] [--clients 16] [--json]

The server is `python app.py` on the bundled corpus, as deployed behind the portal's reverse proxy:
127.0.0.1 is its trusted proxy and each client sends its own X-Forwarded-For, so each has its own rate
limit; two greedy clients ignore Retry-After, the others wait as told. Every client loops until the time
is up, picking at random (seeded): a question from the labelled set (REST, sometimes streamed, or through
the chat's queue as a new visitor), a search, a feedback post, or a bad request (empty, too long, not JSON,
not an object, k=0, not UTF-8, a body over the size limit, a path probe for /etc/passwd or the index),
or the chat page. At the end: status codes by kind, 5xx (must be 0), feedback lines in the JSONL file
against the 201 answers (must match, line for line), and the server's resident memory (VmRSS from
/proc, sampled twice a second): the second half of the run against the first.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import common

GREEDY = 2      # clients 0 and 1 ignore Retry-After and keep asking; the rest wait as told
# The soak server's settings: the defaults, except a per-client rate a busy client can reach (so 429s happen), and
# room for 100 chat sessions, not 1000, so the run reaches the point where old ones are dropped (memory flattens).
SERVER_ENV = {"KB_TRUSTED_PROXIES": "127.0.0.1", "KB_RATE_LIMIT": "240", "KB_RATE_BURST": "20",
              "KB_CHAT_SESSIONS": "100"}


class ServerProcess:
    """`python app.py --port 0` in its own process group; url and pid once it says it is ready.

    `nofile` lowers the server's own soft limit on open files (never this process's, nor the machine's). After
    "ready", what the server writes to stderr is counted in log_lines and log_bytes, and the first 200 lines kept.
    """

    def __init__(self, workdir: Path, env: dict | None = None, nofile: int | None = None):
        self.workdir, self.nofile = Path(workdir), nofile
        self.feedback = self.workdir / "data" / "feedback.jsonl"
        self.env = {**os.environ, "KB_CORPUS": str(common.ROOT / "corpus"), "KB_INDEX_DIR": str(self.workdir / "index"),
                    "KB_DATA_DIR": str(self.workdir / "data"), "PYTHONPATH": str(common.ROOT), **(env or {})}
        self.log_lines, self.log_bytes, self.log = 0, 0, []

    def _limits(self):
        import resource
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, hard))

    def _drain(self):
        for line in self.proc.stderr:
            self.log_lines += 1
            self.log_bytes += len(line)
            if len(self.log) < 200:
                self.log.append(line)

    def __enter__(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([sys.executable, str(common.ROOT / "app.py"), "--port", "0"], env=self.env,
                                     cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True, preexec_fn=self._limits if self.nofile else None)
        self.pid, lines = self.proc.pid, []
        for line in self.proc.stderr:           # ends when the server exits; "ready" comes within a minute
            lines.append(line)
            if "ready at" in line:
                self.url = line.split("ready at ")[1].split()[0].rstrip("/")
                threading.Thread(target=self._drain, daemon=True).start()   # keep draining
                return self
        raise RuntimeError("server did not start:\n" + "".join(lines[-30:]))

    def __exit__(self, *exc):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def wait_for_workers(server: ServerProcess, n: int, timeout: float = 300) -> None:
    """Wait until `n` worker processes of `kb serve --workers n` listen (each imports and loads for a while)."""
    import httpx
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _ppid(p) == server.pid
                    and b"spawn_main" in _read(p / "cmdline")]       # not multiprocessing's resource tracker
        if len(children) >= n and all(_listening(p) for p in children):
            break
        time.sleep(0.5)
    httpx.get(f"{server.url}/healthz", timeout=timeout)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _ppid(proc: Path) -> int:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _listening(proc: Path) -> bool:
    """Whether the worker has set up its server: a running uvicorn worker has an event loop's epoll fd open."""
    try:
        return any(os.readlink(fd) == "anon_inode:[eventpoll]" for fd in (proc / "fd").iterdir())
    except OSError:
        return False


def half_open(server: ServerProcess, connections: int = 400, seconds: int = 5) -> dict:
    """Hold `connections` half-open connections to `server` (each sends part of a request line, then nothing) for
    `seconds`, asking /healthz once a second on a new connection meanwhile: how long each answer took, and how
    much the server wrote to its log while this went on."""
    import socket

    import httpx
    host, port = server.url.removeprefix("http://").split(":")
    lines, size = server.log_lines, server.log_bytes
    socks, refused = [], 0
    for _ in range(connections):
        try:
            s = socket.create_connection((host, int(port)), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: kb\r\nX-Slow: ")
            socks.append(s)
        except OSError:
            refused += 1
    health = []
    try:
        for _ in range(seconds):
            t0 = time.monotonic()
            try:
                status = httpx.get(f"{server.url}/healthz", timeout=10).status_code
            except httpx.HTTPError as e:
                status = type(e).__name__
            health.append((status, time.monotonic() - t0))
            time.sleep(max(0.0, 1 - (time.monotonic() - t0)))
    finally:
        for s in socks:
            s.close()
    time.sleep(0.5)
    return {"connections": connections, "refused": refused, "healthz": [h[0] for h in health],
            "healthz_max_s": max(h[1] for h in health), "log_lines": server.log_lines - lines,
            "log_bytes": server.log_bytes - size}


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# (kind, weight): what a client does next
MIX = [("ask", 25), ("ask_stream", 5), ("chat", 5), ("search", 10), ("feedback", 15), ("empty", 5), ("too_long", 5),
       ("bad_json", 5), ("not_object", 3), ("k_zero", 3), ("not_utf8", 3), ("huge_body", 1), ("probe", 10), ("page", 2)]
PROBES = ["/gradio_api/file=/etc/passwd", "/gradio_api/file=../../../../../../etc/passwd",
          "/gradio_api/file=%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/gradio_api/file=%252e%252e%252fetc%252fpasswd",
          "/file=/etc/passwd", "/static/../../../../etc/passwd", "/assets/..%2f..%2f..%2fetc%2fpasswd",
          "/gradio_api/upload", "/gradio_api/proxy=http://127.0.0.1:1/"]


def run_soak(url: str, pid: int, feedback: Path, seconds: float, clients: int = 16, seed: int = 0) -> dict:
    """Drive the server at `url` for `seconds` with `clients` threads; return counts, memory and feedback checks."""
    import httpx
    questions = common.questions()
    kinds, weights = zip(*MIX)
    chat_fn = next(d["id"] for d in httpx.get(f"{url}/config").json()["dependencies"] if d.get("api_name") == "ask")
    lines_before = _lines(feedback)
    counts: Counter = Counter()        # (kind, status) -> n
    failures: list[str] = []           # exceptions: timeouts, dropped connections
    created: list[str] = []            # markers of feedback posts answered 201
    latencies: list[float] = []        # seconds of good asks answered 200
    rss: list[tuple[float, float]] = []
    lock, stop = threading.Lock(), threading.Event()
    passwd = Path("/etc/passwd").read_text().splitlines()[0] if Path("/etc/passwd").exists() else "root:x:0:0"

    def sample():
        t0 = time.monotonic()
        while not stop.is_set():
            rss.append((time.monotonic() - t0, rss_mb(pid)))
            stop.wait(0.5)

    def client(i: int):
        rng = random.Random(seed * 1000 + i)
        forwarded = {"X-Forwarded-For": f"198.51.100.{i + 1}"}
        with httpx.Client(base_url=url, timeout=60, headers=forwarded) as c:
            n = 0
            while not stop.is_set():
                kind = rng.choices(kinds, weights)[0]
                n += 1
                t0 = time.perf_counter()
                try:
                    status, marker, text, wait = _request(c, kind, rng, questions, f"soak-{seed}-{i}-{n}", chat_fn)
                except Exception as e:    # noqa: BLE001 - every failure is counted, not raised
                    with lock:
                        failures.append(f"{kind}: {type(e).__name__}: {str(e)[:100]}")
                    continue
                with lock:
                    counts[kind, status] += 1
                    if status == 201 and marker:
                        created.append(marker)
                    if kind == "ask" and status == 200:
                        latencies.append(time.perf_counter() - t0)
                    if passwd in text:
                        failures.append(f"{kind}: served /etc/passwd")
                if wait and i >= GREEDY:     # a polite client waits as told (Retry-After); a greedy one does not
                    stop.wait(wait)

    threads = [threading.Thread(target=sample, daemon=True)] + [
        threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join(timeout=90)
    elapsed = time.monotonic() - t0

    lines = _lines(feedback)[len(lines_before):]
    markers = [json.loads(line).get("comment") for line in lines]
    half = seconds / 2
    first = [m for t, m in rss if t < half] or [0.0]
    second = [m for t, m in rss if t >= half] or [0.0]
    statuses = Counter()
    for (_, status), n in counts.items():
        statuses[status] += n
    return {
        "seconds": round(elapsed, 1), "clients": clients, "requests": sum(counts.values()) + len(failures),
        "rps": round((sum(counts.values()) + len(failures)) / elapsed, 1),
        "statuses": dict(sorted(statuses.items())), "by_kind": {f"{k} {s}": n for (k, s), n in sorted(counts.items())},
        "5xx": sum(n for s, n in statuses.items() if s >= 500), "failures": failures[:20], "n_failures": len(failures),
        "feedback_201": len(created), "feedback_lines": len(lines),
        "feedback_lost": len(set(created) - set(markers)), "feedback_unexpected": len(set(markers) - set(created)),
        "ask_ms": common.summary_ms(latencies) if latencies else {},
        "rss_mb": {"first_half_mean": round(statistics.fmean(first), 1), "first_half_max": round(max(first), 1),
                   "second_half_mean": round(statistics.fmean(second), 1), "second_half_max": round(max(second), 1),
                   "start": round(rss[0][1], 1) if rss else 0.0, "end": round(rss[-1][1], 1) if rss else 0.0,
                   "every_10_s": [round(m, 1) for k, (t, m) in enumerate(rss) if k % 20 == 0]},
    }


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def _request(c, kind: str, rng: random.Random, questions: list[str], marker: str,
             chat_fn: int) -> tuple[int, str | None, str, float]:
    """One request of `kind`: (status, feedback marker or None, response text, seconds Retry-After asks to wait)."""
    q = rng.choice(questions)
    if kind == "chat":
        status, text, wait = _chat(c, q, marker, chat_fn)
        return status, None, text, wait
    if kind == "ask":
        r = c.post("/api/v1/ask", json={"question": q})
    elif kind == "ask_stream":
        with c.stream("POST", "/api/v1/ask/stream", json={"question": q}) as r:
            r.read()
    elif kind == "search":
        r = c.get("/api/v1/search", params={"q": q, "k": 3})
    elif kind == "feedback":
        r = c.post("/api/v1/feedback", json={"rating": rng.choice(["up", "down"]), "question": q,
                                             "answer": "…", "comment": marker})
        return r.status_code, marker, r.text, _wait(r)
    elif kind == "empty":
        r = c.post("/api/v1/ask", json={"question": rng.choice(["", "   ", "？？？"])})
    elif kind == "too_long":
        r = c.post("/api/v1/ask", json={"question": "为什么" * rng.choice([334, 4000, 30_000])})
    elif kind == "bad_json":
        r = c.post("/api/v1/ask", content=b'{"question": "What is', headers={"content-type": "application/json"})
    elif kind == "not_object":
        r = c.post("/api/v1/ask", json=[q])
    elif kind == "k_zero":
        r = c.post("/api/v1/ask", json={"question": q, "k": 0})
    elif kind == "not_utf8":
        r = c.post("/api/v1/ask", content=b'{"question": "\xff\xfe what"}', headers={"content-type": "application/json"})
    elif kind == "huge_body":
        r = c.post("/api/v1/ask", content=b'{"question": "' + b"x" * 1_200_000 + b'"}',
                   headers={"content-type": "application/json"})
    elif kind == "probe":
        r = c.get(rng.choice(PROBES))
    else:
        r = c.get("/")
    return r.status_code, None, r.text, _wait(r)


def _wait(r) -> float:
    return float(r.headers.get("retry-after", 0)) if r.status_code == 429 else 0.0


def _chat(c, question: str, session: str, fn: int) -> tuple[int, str, float]:
    """A question through the chat's queue, as a new visitor's browser asks it: join, then read the event stream.

    Returns (the join's status, or 500 when the queue's answer says the event failed; text; Retry-After).
    """
    r = c.post("/gradio_api/queue/join", json={"data": [question, None], "fn_index": fn, "session_hash": session})
    if r.status_code != 200:
        return r.status_code, r.text, _wait(r)
    with c.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as s:
        for line in s.iter_lines():
            if '"process_completed"' in line:
                return (200 if '"success":true' in line.replace(" ", "") else 500), line, 0.0
    return 500, "the event stream ended without a result", 0.0


def table(result: dict) -> str:
    """The result as the lines of a short report."""
    m = result["rss_mb"]
    rows = [["requests", result["requests"]], ["requests/s", result["rps"]],
            ["status codes", ", ".join(f"{s}×{n}" for s, n in result["statuses"].items())],
            ["5xx", result["5xx"]], ["failed requests (no answer)", result["n_failures"]],
            ["feedback 201 / lines written", f"{result['feedback_201']} / {result['feedback_lines']}"],
            ["feedback lost", result["feedback_lost"]],
            ["ask p50 / p95 ms", f"{result['ask_ms'].get('p50')} / {result['ask_ms'].get('p95')}"],
            ["RSS MiB first half mean / max", f"{m['first_half_mean']} / {m['first_half_max']}"],
            ["RSS MiB second half mean / max", f"{m['second_half_mean']} / {m['second_half_max']}"]]
    return common.table(rows, ["soak", f"{result['clients']} clients, {result['seconds']} s"])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60, help="length of the run [60]")
    p.add_argument("--clients", type=int, default=16, help="concurrent clients [16]")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="kb-soak-") as work, ServerProcess(Path(work), SERVER_ENV) as server:
        result = run_soak(server.url, server.pid, server.feedback, args.seconds, args.clients)
    result["machine"] = common.machine()
    common.emit(result, common.machine_line() + "\n\n" + table(result), args.json)


if __name__ == "__main__":
    main()

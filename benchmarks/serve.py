"""Load tests of POST /api/v1/ask on a loopback server: open loop at a fixed rate, closed loop with 16 clients.

    python benchmarks/serve.py [--seconds 30] [--rate 50] [--clients 16] [--workers 1,2] [--json]

For each worker count the bundled corpus is served by a real server process (`kb serve --workers N`
when kb has that option, else uvicorn running `kb.web:create_app` with N workers: the same app), then:
  - open loop: requests start on a fixed schedule, --rate a second, whether or not earlier ones have
    answered; latency counts from the scheduled start, so a server that falls behind shows it;
  - closed loop: --clients clients each send their next question as soon as the last is answered.
The engine's own sequential `ask` throughput is measured in this process first, on the same questions
(the questions of tests/data/eval.jsonl, in turn), so HTTP and framework overhead can be read off.
The load generator is plain asyncio over keep-alive HTTP/1.1 connections, to take little of the
2 cores the server also needs. Only 127.0.0.1 is used; the server's per-client rate limit is turned
off (KB_RATE_LIMIT=0), since here one address stands for every user.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter

import common


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=30, help="length of each run [30]")
    p.add_argument("--rate", type=float, default=50, help="open-loop arrivals per second [50]")
    p.add_argument("--clients", type=int, default=16, help="closed-loop concurrent clients [16]")
    p.add_argument("--workers", default="1,2", help="worker counts to compare [1,2]")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = p.parse_args()

    from kb import KnowledgeBase
    corpus, index = common.ROOT / "corpus", tempfile.mkdtemp(prefix="kb-serve-")
    kb = KnowledgeBase.open(corpus=corpus, index_dir=index, progress=False)
    questions = common.questions()
    engine = _sequential(kb, questions, min(args.seconds, 15))
    del kb

    runs = []
    for workers in [int(w) for w in args.workers.split(",") if w]:
        with Server(corpus, index, workers) as server:
            bodies = [json.dumps({"question": q}, ensure_ascii=False).encode() for q in questions]
            asyncio.run(_closed(server.port, bodies, 2, 3))      # warm-up: model, jieba and pages in every worker
            opened = asyncio.run(_open(server.port, bodies, args.rate, args.seconds))
            closed = asyncio.run(_closed(server.port, bodies, args.clients, args.seconds))
            runs.append({"workers": workers, "command": server.command, "open_loop": opened, "closed_loop": closed})
    result = {"machine": common.machine(), "questions": len(questions), "seconds": args.seconds, "rate": args.rate,
              "clients": args.clients, "engine_sequential": engine, "runs": runs}
    for r in runs:
        r["closed_over_engine"] = round(r["closed_loop"]["rps"] / engine["rps"], 3)
    common.emit(result, _table(result), args.json)


def _sequential(kb, questions: list[str], seconds: float) -> dict:
    """The engine's own throughput: `ask` one question after another, in this process."""
    for q in questions:
        kb.ask(q)
    times, t0, i = [], time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        times.append(common.timed(kb.ask, questions[i % len(questions)])[1])
        i += 1
    return {"asks": len(times), "rps": round(len(times) / (time.perf_counter() - t0), 1), **common.summary_ms(times)}


class Server:
    """A real kb server process on a free loopback port, for as long as the `with` block runs."""

    def __init__(self, corpus, index, workers: int):
        self.port = _free_port()
        # One loopback address stands for many users here, so the per-client rate limit is off.
        env = {**os.environ, "KB_CORPUS": str(corpus), "KB_INDEX_DIR": str(index), "KB_RATE_LIMIT": "0"}
        help_text = subprocess.run([sys.executable, "-m", "kb.cli", "serve", "--help"], capture_output=True,
                                   text=True, env=env).stdout
        if "--workers" in help_text or workers == 1:
            self.command = [sys.executable, "-m", "kb.cli", "--quiet", "serve", "--host", "127.0.0.1",
                            "--port", str(self.port)] + (["--workers", str(workers)] if "--workers" in help_text else [])
        else:   # what `kb serve --workers N` runs: uvicorn's worker processes over the app factory
            self.command = [sys.executable, "-m", "uvicorn", "--factory", "kb.web:create_app", "--host", "127.0.0.1",
                            "--port", str(self.port), "--workers", str(workers), "--log-level", "warning"]
        self.env = env

    def __enter__(self):
        self.proc = subprocess.Popen(self.command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     cwd=common.ROOT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"server exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                status, _ = asyncio.run(_request(self.port, "GET", "/healthz", b""))
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__()
        sys.exit("server did not answer /healthz within 120 s")

    def __exit__(self, *exc):
        import signal
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- a small HTTP/1.1 client

class Connection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1."""

    def __init__(self, port: int):
        self.port, self.reader, self.writer = port, None, None

    async def request(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        elif self.reader.at_eof():     # the server closed it while idle (keep-alive timeout): a new one
            self.close()
            return await self.request(method, path, body)
        try:
            return await self._send(method, path, body)
        except (ConnectionError, asyncio.IncompleteReadError) as e:
            if getattr(e, "partial", b""):
                raise
            # Closed by the server between requests, as any HTTP client sees now and then: send again once.
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            return await self._send(method, path, body)

    async def _send(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        try:
            await self.writer.drain()
            status_line = await self.reader.readline()
            if not status_line:
                raise ConnectionError("server closed the connection")
            status, length, close = int(status_line.split()[1]), 0, False
            while (line := await self.reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection" and "close" in value.lower():
                    close = True
            data = await self.reader.readexactly(length)
        except Exception:
            self.close()
            raise
        if close:
            self.close()
        return status, data

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _request(port: int, method: str, path: str, body: bytes):
    c = Connection(port)
    try:
        return await c.request(method, path, body)
    finally:
        c.close()


async def _open(port: int, bodies: list[bytes], rate: float, seconds: float) -> dict:
    """Requests on a fixed schedule; a free connection is reused, else a new one is opened."""
    idle: list[Connection] = []
    latencies, statuses = [], Counter()
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.1
    n = int(rate * seconds)

    async def one(i: int):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        conn = idle.pop() if idle else Connection(port)
        try:
            status, _ = await conn.request("POST", "/api/v1/ask", bodies[i % len(bodies)])
            statuses[status] += 1
            if status == 200:
                latencies.append(loop.time() - due)
            idle.append(conn)
        except Exception as e:   # noqa: BLE001  (every failure is counted by kind)
            statuses[type(e).__name__] += 1
    await asyncio.gather(*(one(i) for i in range(n)))
    for c in idle:
        c.close()
    elapsed = loop.time() - start
    return _summary(latencies, statuses, elapsed, offered=rate)


async def _closed(port: int, bodies: list[bytes], clients: int, seconds: float) -> dict:
    latencies, statuses = [], Counter()
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + seconds

    async def client(k: int):
        conn, i = Connection(port), k
        while loop.time() < deadline:
            t0 = loop.time()
            try:
                status, _ = await conn.request("POST", "/api/v1/ask", bodies[i % len(bodies)])
                statuses[status] += 1
                if status == 200:
                    latencies.append(loop.time() - t0)
            except Exception as e:   # noqa: BLE001
                statuses[type(e).__name__] += 1
                conn = Connection(port)
            i += clients
        conn.close()
    await asyncio.gather(*(client(k) for k in range(clients)))
    return _summary(latencies, statuses, loop.time() - start)


def _summary(latencies: list[float], statuses: Counter, elapsed: float, offered: float | None = None) -> dict:
    ok = statuses.get(200, 0)
    out = {"requests": sum(statuses.values()), "ok": ok, "rps": round(ok / elapsed, 1),
           "errors": {str(k): v for k, v in statuses.items() if k != 200}, **common.summary_ms(latencies or [0.0])}
    if offered:
        out["offered_rps"] = offered
    return out


def _table(r: dict) -> str:
    e = r["engine_sequential"]
    rows = [["engine, sequential (in process)", "-", e["rps"], e["p50"], e["p95"], e["p99"], "-", "-"]]
    for run in r["runs"]:
        for kind, label in (("open_loop", f"open loop, {r['rate']:g}/s offered"),
                            ("closed_loop", f"closed loop, {r['clients']} clients")):
            x = run[kind]
            errors = ", ".join(f"{k}: {v}" for k, v in x["errors"].items()) or "0"
            rows.append([label, run["workers"], x["rps"], x["p50"], x["p95"], x["p99"], errors,
                         run["closed_over_engine"] if kind == "closed_loop" else "-"])
    return "\n".join([
        common.machine_line(),
        f"POST /api/v1/ask on 127.0.0.1, bundled corpus, {r['questions']} questions in turn, {r['seconds']:g} s a run",
        "", common.table(rows, ["load", "workers", "answers/s", "p50 ms", "p95 ms", "p99 ms", "errors",
                                 "closed / engine"]),
        "", "server: " + " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(r["runs"][0]["command"]))
        if r["runs"] else ""])


if __name__ == "__main__":
    main()

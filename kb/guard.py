"""What stands between the network and the engine: who the client is (and which forwarded headers count), how
often and how much it may ask, how long an answer may take to start, how many answers are computed at once, which
of Gradio's routes exist at all, and the headers every page carries. (Connections themselves: kb/connections.py.)

Each guard is a plain ASGI middleware (not BaseHTTPMiddleware), so streamed answers pass through untouched.
`guards(config)` lists them innermost first, in the order FastAPI's add_middleware wants them.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import math
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException

from .errors import KbError
from .messages import message

__all__ = ["guards", "ClientAddress", "BlockedPaths", "RateLimit", "SharedBuckets", "BodyLimit", "RequestTimeout",
           "EngineSlots", "InternalErrors", "SecurityHeaders"]

log = logging.getLogger("kb")


def guards(cfg) -> list[tuple[type, dict]]:
    """(middleware, options) for a Config, innermost first; add them before CORS so its headers reach a 429."""
    return [(GradioEvents, {}),
            (InternalErrors, {"production": cfg.production}),
            (EngineSlots, {"at_once": cfg.api_concurrency, "waiting": cfg.queue_size}),
            (RequestTimeout, {"seconds": cfg.request_timeout}),
            (BodyLimit, {"max_bytes": cfg.max_body_bytes}),
            (RateLimit, {"per_minute": cfg.rate_limit, "burst": cfg.rate_burst, "workers": cfg.workers,
                         "shared": cfg.data_path / "ratelimit.sqlite3" if cfg.workers > 1 else None}),
            (BlockedPaths, {}),
            (ClientAddress, {"trusted": trusted_networks(cfg.trusted_proxies)})]


def both(key: str, **kwargs) -> str:
    """A message for someone whose language is not known yet: Chinese / English."""
    return f'{message(key, "zh", **kwargs)} / {message(key, "en", **kwargs)}'


async def send_json(send, status: int, detail: str, headers: Sequence[tuple[bytes, bytes]] = (), **more) -> None:
    """A whole {"detail": ...} JSON response, the shape of every other kb error."""
    body = json.dumps({"detail": detail, **more}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


def _path(scope) -> str:
    """The request path below the app's root path, with runs of slashes collapsed."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    return re.sub(r"/{2,}", "/", path) or "/"


# ------------------------------------------------------------------ who is asking

def trusted_networks(entries: list[str]) -> list:
    """KB_TRUSTED_PROXIES checked: each an address (10.0.0.5) or a network (10.0.0.0/8, fd00::/8)."""
    out = []
    for e in entries:
        try:
            out.append(ipaddress.ip_network(e.strip(), strict=False))
        except ValueError:
            raise KbError(f"trusted proxy {e!r} is not an IP address or network: write it like 10.0.0.5 or "
                          "10.0.0.0/8, comma-separated in KB_TRUSTED_PROXIES") from None
    return out


def _trusted(host: str, networks: list) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(ip in n for n in networks)


# What a reverse proxy says about the original request; from anyone else, a lie that Gradio would use to build
# its page's links and the /login redirect (http://evil.example in a cached page).
_FORWARDED = re.compile(rb"x-forwarded-.*|forwarded|x-real-ip|x-original-(host|url)|x-host|x-scheme")


class ClientAddress:
    """scope["client"] becomes the asker: the direct peer, or, only when that peer is a trusted proxy, the last
    address in X-Forwarded-For that is not itself a trusted proxy (the one the proxy saw).

    Anyone else's X-Forwarded-For is ignored, so a client cannot pick its own identity to dodge the rate limit,
    and all its forwarding headers (X-Forwarded-Host, -Proto, -Port, Forwarded, ...) are removed before the app
    sees them, so it cannot choose the host name kb's pages link to.
    """

    def __init__(self, app, trusted: list):
        self.app, self.trusted = app, trusted

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            peer, port = scope.get("client") or ("", 0)
            if self.trusted and _trusted(peer, self.trusted):
                hops = [h.strip() for name, value in scope["headers"] if name == b"x-forwarded-for"
                        for h in value.decode("latin-1").split(",") if h.strip()]
                while hops and _trusted(hops[-1], self.trusted):
                    hops.pop()
                if hops:
                    scope = {**scope, "client": (hops[-1][:64], port)}
            elif any(_FORWARDED.fullmatch(name) for name, _ in scope["headers"]):
                scope = {**scope, "headers": [(n, v) for n, v in scope["headers"] if not _FORWARDED.fullmatch(n)]}
        await self.app(scope, receive, send)


# ------------------------------------------------------------------ what exists

# Under /gradio_api/ the chat and gradio_client need only these; the rest (files by path or URL, uploads, the
# proxy, media streams, run history, MCP, dev reload, vibe editing, ...) answers 404 whatever Gradio version
# adds. That closes the routes behind CVE-2023-51449 and CVE-2024-1561 (file reads), CVE-2024-47167 (SSRF)
# and CVE-2024-47872 (uploaded HTML), and any like them.
_GRADIO_API = re.compile(r"/gradio_api/(queue/|heartbeat/|run/|call/|cancel$|reset$|info$|startup-events$"
                         r"|openapi\.json$)")
_ROOT_BLOCKED = re.compile(r"/(file[=/]|upload|proxy=|monitoring|svelte/|custom_component/|dev/|vibe)", re.I)


class BlockedPaths:
    """404 for Gradio routes the chat does not use."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            path = _path(scope)
            if (path.lower().startswith("/gradio_api/") and not _GRADIO_API.match(path)) or _ROOT_BLOCKED.match(path):
                if scope["type"] == "websocket":
                    return await send({"type": "websocket.close", "code": 1008})
                return await send_json(send, 404, "Not Found")
        await self.app(scope, receive, send)


# ------------------------------------------------------------------ how often

class RateLimit:
    """A token bucket per client for everything that reaches the engine: the REST API and the chat's queue.

    A client may ask `burst` questions at once, then `per_minute` a minute; beyond that 429 with Retry-After.
    Buckets of the least recently seen clients are forgotten past `max_clients`, so memory stays bounded.
    With several worker processes (`kb serve --workers N`) the buckets live in the SQLite file `shared`, so the
    limit holds for the server as a whole; if that file cannot be opened, each worker allows 1/N of the limit.
    """

    def __init__(self, app, per_minute: float, burst: int, max_clients: int = 10_000, workers: int = 1,
                 shared: Path | None = None):
        self.app, self.max_clients = app, max_clients
        self.rate, self.burst = per_minute / 60, max(1, burst)
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()   # client -> (tokens, when)
        self.shared = None
        if shared is not None and self.rate > 0:
            try:
                self.shared = SharedBuckets(shared, self.rate, self.burst)
            except (OSError, sqlite3.Error) as e:
                self.rate, self.burst = self.rate / workers, max(1, burst // workers)
                log.warning("rate limit not shared between the %d workers (%s: %s): each allows %g a minute, "
                            "burst %d; make the data folder writable to share it", workers, shared, e,
                            self.rate * 60, self.burst)

    @staticmethod
    def counts(scope) -> bool:
        path, method = _path(scope), scope.get("method")
        if method == "OPTIONS":
            return False
        return path.startswith("/api/") or (method == "POST" and path.startswith(("/gradio_api/queue/join",
                                                                                    "/gradio_api/call/")))

    def wait(self, client: str) -> float:
        """Take a token for `client`: 0 if there was one, else the seconds until there will be."""
        if self.shared is not None:
            try:
                return self.shared.take(client)
            except sqlite3.Error as e:       # a damaged or locked file: this request counts here instead
                log.warning("shared rate limit unavailable (%s): counted in this worker", e)
        now = time.monotonic()
        tokens, then = self.buckets.pop(client, (self.burst, now))
        tokens, wait = _take(tokens, now - then, self.rate, self.burst)
        self.buckets[client] = (tokens, now)
        while len(self.buckets) > self.max_clients:
            self.buckets.popitem(last=False)
        return wait

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.rate > 0 and self.counts(scope):
            client = (scope.get("client") or ("unknown", 0))[0]
            wait = self.wait(client)
            if wait:
                seconds = max(1, math.ceil(wait))
                return await send_json(send, 429, both("too_many_requests", s=seconds),
                                       [(b"retry-after", str(seconds).encode())])
        await self.app(scope, receive, send)


def _take(tokens: float, elapsed: float, rate: float, burst: int) -> tuple[float, float]:
    """A bucket `elapsed` seconds later, less one token if it has one: (tokens left, seconds to wait or 0)."""
    tokens = min(burst, tokens + max(0.0, elapsed) * rate)
    if tokens >= 1:
        return tokens - 1, 0.0
    return tokens, (1 - tokens) / rate


class SharedBuckets:
    """Token buckets in a small SQLite file that every worker process of one server reads and writes.

    One short transaction per question (well under a millisecond); rows of clients whose bucket has filled up
    again are deleted now and then, so the file stays small."""

    def __init__(self, path: Path, rate: float, burst: int):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.rate, self.burst, self.lock, self.taken = rate, burst, threading.Lock(), 0
        self.db = sqlite3.connect(str(path), timeout=2, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=OFF")      # buckets are not worth a disk flush
        self.db.execute("CREATE TABLE IF NOT EXISTS buckets (client TEXT PRIMARY KEY, tokens REAL, at REAL)")

    def take(self, client: str) -> float:
        with self.lock:
            now = time.time()        # the wall clock: the same in every process
            self.db.execute("BEGIN IMMEDIATE")
            try:
                row = self.db.execute("SELECT tokens, at FROM buckets WHERE client = ?", (client,)).fetchone()
                tokens, at = row or (self.burst, now)
                tokens, wait = _take(tokens, now - at, self.rate, self.burst)
                self.db.execute("INSERT OR REPLACE INTO buckets VALUES (?, ?, ?)", (client, tokens, now))
                self.taken += 1
                if self.taken % 1000 == 0:
                    self.db.execute("DELETE FROM buckets WHERE at < ?", (now - self.burst / self.rate,))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return wait


# ------------------------------------------------------------------ how much

class BodyLimit:
    """413 for a request body over `max_bytes`: at once from Content-Length, or as soon as a chunked body passes it."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.max_bytes:
            return await self.app(scope, receive, send)
        detail = both("body_too_large", limit=self.max_bytes)
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        # Read a moderately large body away before answering, so the client is listening when the 413 comes
        # (a server that closes on unread data resets the connection); a client that sent Expect: 100-continue
        # has not sent it, and a huge one is not worth the reading.
        drain = headers.get(b"expect", b"").lower() != b"100-continue"
        if length.isdigit() and int(length) > self.max_bytes:
            if drain and int(length) <= 8 * self.max_bytes:
                await _drain(receive, 8 * self.max_bytes)
            return await send_json(send, 413, detail, [(b"connection", b"close")])
        seen, started, ended = 0, False, False

        async def counted():
            nonlocal seen, ended
            msg = await receive()
            ended = msg["type"] != "http.request" or not msg.get("more_body")
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:    # raised inside the route, so the app's own handler answers 413 JSON
                    raise HTTPException(413, detail)
            return msg

        async def watched(msg):
            nonlocal started
            if msg["type"] == "http.response.start" and seen > self.max_bytes and drain and not ended:
                await _drain(receive, 8 * self.max_bytes - seen)
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, counted, watched)
        except HTTPException as e:
            if started or e.status_code != 413:
                raise
            if drain and not ended:
                await _drain(receive, 8 * self.max_bytes - seen)
            await send_json(send, 413, detail, [(b"connection", b"close")])


async def _drain(receive, limit: int) -> None:
    """Read and drop what is left of a request body, up to `limit` bytes."""
    while limit > 0:
        msg = await receive()
        if msg["type"] != "http.request" or not msg.get("more_body"):
            return
        limit -= len(msg.get("body", b""))


# ------------------------------------------------------------------ how long

class RequestTimeout:
    """504 when no response has started within `seconds` of the request's headers, reading its body included;
    a response that has started (a stream) runs on.

    The 504 closes the connection, so a body still trickling in is not read on. The late answer is dropped; a
    worker thread already computing it finishes and is discarded (EngineSlots keeps it from piling up).
    """

    def __init__(self, app, seconds: float):
        self.app, self.seconds = app, seconds

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.seconds or self.seconds <= 0:
            return await self.app(scope, receive, send)
        started, late = asyncio.Event(), False

        async def watched(msg):
            if late:
                return
            if msg["type"] == "http.response.start":
                started.set()
            await send(msg)

        task = asyncio.ensure_future(self.app(scope, receive, watched))
        waiter = asyncio.ensure_future(started.wait())
        try:
            await asyncio.wait({task, waiter}, timeout=self.seconds, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:     # the server is going away: take the request with it
            task.cancel()
            raise
        finally:
            waiter.cancel()
        if not task.done() and not started.is_set():
            late = True
            task.cancel()
            task.add_done_callback(lambda t: t.cancelled() or t.exception())   # nothing left to report to
            log.warning("%s %s: no response within %g s: 504", scope.get("method"), _path(scope), self.seconds)
            return await send_json(send, 504, both("timed_out"), [(b"connection", b"close")])
        await task


_ENGINE = re.compile(r"/api/v\d+/(ask|search)")


class EngineSlots:
    """At most `at_once` REST questions and searches in the engine at a time; up to `waiting` more wait for a
    slot, and beyond that a question gets 503 with Retry-After at once, before any work starts.

    A question that times out while it waits never starts (RequestTimeout cancels the wait); one that is running
    keeps its slot until its worker thread is really done, so slow questions whose askers have gone cannot pile
    up threads that all compute at once.
    """

    def __init__(self, app, at_once: int, waiting: int):
        self.app, self.at_once, self.waiting = app, max(1, at_once), max(0, waiting)
        self.slots: asyncio.Semaphore | None = None
        self.queued = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") == "OPTIONS" or not _ENGINE.match(_path(scope)):
            return await self.app(scope, receive, send)
        if self.slots is None:
            self.slots = asyncio.Semaphore(self.at_once)
        if self.slots.locked() and self.queued >= self.waiting:
            return await send_json(send, 503, both("busy", s=5), [(b"retry-after", b"5")])
        self.queued += 1
        try:
            await self.slots.acquire()
        finally:
            self.queued -= 1

        def done(task):
            self.slots.release()
            task.cancelled() or task.exception()     # a late answer's failure has no one left to report to

        task = asyncio.ensure_future(self.app(scope, receive, send))
        task.add_done_callback(done)
        await asyncio.shield(task)     # cancelled by the timeout: the answer runs out in its thread, then frees the slot


# ------------------------------------------------------------------ what went wrong inside

class InternalErrors:
    """An exception the app did not handle becomes a 500 JSON answer: no internals in production, the exception's
    name and message in development (KB_PRODUCTION=0); the traceback goes to the log.

    Caught here, inside the other guards, so the answer carries the usual headers and the connection stays open
    (an exception that reaches the server closes it, and a keep-alive client's next request fails).
    """

    def __init__(self, app, production: bool):
        self.app, self.production = app, production

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watched(msg):
            nonlocal started
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, receive, watched)
        except HTTPException:        # BodyLimit's 413, answered further out
            raise
        except Exception as e:
            log.exception("%s %s failed", scope.get("method"), _path(scope))
            if started:
                raise
            more = {} if self.production else {"error": f"{type(e).__name__}: {e}"}
            await send_json(send, 500, both("internal_error"), **more)


# ------------------------------------------------------------------ what every response says

# Gradio's page needs inline scripts and styles and evaluates the event handlers' `js=` code; beyond that
# everything comes from kb itself: no other site's scripts, no requests to other hosts, no plugins, no <base>.
PAGE_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data: blob:; font-src 'self' data:; media-src 'self' data: blob:; "
               "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'")


class SecurityHeaders:
    """frame-ancestors (who may embed kb) on every response, and the page policy above on kb's own pages;
    nosniff and a referrer policy everywhere. /docs keeps FastAPI's page (its scripts come from a CDN)."""

    def __init__(self, app, frame_ancestors: str):
        self.app, self.frame_ancestors = app, f"frame-ancestors {frame_ancestors}"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        page = not _path(scope).startswith("/docs")

        async def send_with_headers(msg):
            if msg["type"] == "http.response.start":
                h = MutableHeaders(scope=msg)
                csp = h.get("content-security-policy")
                if not csp and page and h.get("content-type", "").startswith("text/html"):
                    csp = PAGE_POLICY
                if not csp:
                    h["Content-Security-Policy"] = self.frame_ancestors
                elif "frame-ancestors" not in csp:
                    h["Content-Security-Policy"] = f"{csp}; {self.frame_ancestors}"
                h["X-Content-Type-Options"] = "nosniff"
                h["Referrer-Policy"] = "strict-origin-when-cross-origin"
            await send(msg)

        await self.app(scope, receive, send_with_headers)


# ------------------------------------------------------------------ which chat events can be called

class GradioEvents:
    """Gradio's event routes run only the chat's own events, each by its own door: /run/ only the quick unqueued
    steps (none of which reaches the engine), /queue/join and /call/ only queued ones, which the rate limit and the
    bounded queue govern, and /call/ only by a public name. An unknown, negative or non-integer fn_index, or an event
    asked for by the wrong door, gets a 404 and one log line instead of a traceback and a 500.
    """

    ROUTES = ("/gradio_api/run/", "/gradio_api/queue/join", "/gradio_api/call/")

    def __init__(self, app):
        self.app, self.doors = app, None

    def _doors(self, scope) -> dict:
        """{"run": unqueued ids, "queue": queued ids, "call": public names}, from the mounted Gradio app."""
        if self.doors is None:
            apps = [r.app for r in scope["app"].routes if hasattr(getattr(r, "app", None), "get_blocks")]
            fns = apps[0].get_blocks().fns.values() if apps else []   # no chat mounted: no events at all
            self.doors = {"run": {f._id for f in fns if not f.queue}, "queue": {f._id for f in fns if f.queue},
                          "call": {f.api_name for f in fns if f.queue and f.api_visibility == "public"},
                          "inputs": {f._id: [_accepts(c) for c in f.inputs] for f in fns if not f.queue},
                          "event": {f._id for f in fns if not f.queue and _takes_event(f.fn)}}
        return self.doors

    async def __call__(self, scope, receive, send):
        path = _path(scope)
        if scope["type"] != "http" or scope.get("method") != "POST" or not path.startswith(self.ROUTES):
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:                       # BodyLimit, further out, keeps this small
            msg = await receive()
            if msg["type"] != "http.request":
                return
            body, more = body + msg.get("body", b""), msg.get("more_body", False)
        doors = self._doors(scope)
        if path.startswith("/gradio_api/call/"):
            name = path.removeprefix("/gradio_api/call/").removeprefix("v2/").strip("/")
            asked, ok = name, name in doors["call"]
        else:
            try:
                request = json.loads(body)
                asked = request.get("fn_index")
            except (ValueError, AttributeError):   # not a JSON object: Gradio's own 422 says so
                asked = ok = None
            else:
                ids = doors["run" if path.startswith("/gradio_api/run/") else "queue"]
                ok = type(asked) is int and asked in ids
        if ok is False:
            log.warning("POST %s: no such event %.40r: 404", path, asked)
            return await send_json(send, 404, "No such event.")
        if ok and path.startswith("/gradio_api/run/") and not _fits(request, asked, doors):
            # Gradio would print a traceback and answer 500 for a value its component or the handler cannot take.
            log.warning("POST %s: values that event %d does not take: 422", path, asked)
            return await send_json(send, 422, "Not a value this event takes.")
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _accepts(component):
    """What one input of a quick event takes: a set of choices, a Python type, or None for anything."""
    choices = getattr(component, "choices", None)
    if choices:
        return {c[1] if isinstance(c, (list, tuple)) else c for c in choices}
    return {"Textbox": str, "Chatbot": list}.get(type(component).__name__)


def _takes_event(fn) -> bool:
    """Does a handler take Gradio's event data (a gr.SelectData or the like), which the request must then carry?"""
    import typing

    import gradio as gr
    try:
        hints = typing.get_type_hints(fn)
    except Exception:        # an annotation that does not resolve: no event data asked for by type
        return False
    return any(isinstance(h, type) and issubclass(h, gr.EventData) for h in hints.values())


def _fits(request: dict, fn_index: int, doors: dict) -> bool:
    """Do a quick event's values fit its inputs (count, choices, types) and carry the event data it takes?
    None stands for an empty component."""
    data, accepts = request.get("data"), doors["inputs"][fn_index]
    if not isinstance(data, list) or len(data) != len(accepts):
        return False
    event = request.get("event_data")
    if fn_index in doors["event"] and not (isinstance(event, dict) and {"index", "value"} <= event.keys()):
        return False
    return all(rule is None or value is None or (value in rule if isinstance(rule, set) else isinstance(value, rule))
               for value, rule in zip(data, accepts))

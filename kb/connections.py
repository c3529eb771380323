"""What stands between a socket and an HTTP request: how long a client may take to send its headers, how many
connections may be open at once, and how much a flood of broken connections may write to the log.

uvicorn closes a kept-alive connection after 5 idle seconds, but waits forever for the headers of a request (the
first on a connection, or one that arrives a byte at a time), and accepts connections until the process runs out
of file descriptors: a few hundred half-open connections then lock everyone out, and each refused accept logs a
traceback. So kb serves HTTP/1.1 with `GuardedH11`, and `quiet_logs` keeps one line per kind of fault a minute.
"""
from __future__ import annotations

import functools
import logging
import time

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["GuardedH11", "protocol", "connection_limits", "LogLimiter", "quiet_logs"]

log = logging.getLogger("kb")


class GuardedH11(H11Protocol):
    """uvicorn's h11 protocol, plus: a request's headers must arrive within `header_timeout` seconds (from the
    connection, or from the end of the previous response), and past `max_connections` open connections the one
    that has waited longest for a request's headers is closed, so a newcomer (a real client, a health check)
    always gets in. A connection in the middle of a request is never closed for this."""

    def __init__(self, *args, header_timeout: float, max_connections: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.header_timeout, self.max_connections = header_timeout, max_connections
        self.waiting_since: float | None = None     # when it began waiting for a request's headers; None: in a request
        self.header_timer = None

    def connection_made(self, transport):
        super().connection_made(transport)
        self._wait_for_headers()
        if len(self.connections) > self.max_connections:
            waiting = [c for c in self.connections if getattr(c, "waiting_since", None) is not None and c is not self]
            oldest = min(waiting, key=lambda c: c.waiting_since, default=self)
            oldest._close("over the connection limit (KB_MAX_CONNECTIONS): the longest-waiting connection closed")

    def connection_lost(self, exc):
        self._stop_waiting()
        super().connection_lost(exc)

    def handle_events(self):
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:      # a request's headers are in: it is the app's (and RequestTimeout's) now
            self._stop_waiting()

    def on_response_complete(self):
        super().on_response_complete()    # may start a pipelined request at once
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._wait_for_headers()

    def _wait_for_headers(self):
        self._stop_waiting()
        self.waiting_since = time.monotonic()
        if self.header_timeout and self.header_timeout > 0:
            self.header_timer = self.loop.call_later(self.header_timeout, self._headers_late, self.cycle)

    def _stop_waiting(self):
        self.waiting_since = None
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _headers_late(self, cycle):
        if self.cycle is cycle:           # no new request began since the timer was set
            self._close(f"no request headers within {self.header_timeout:g} s (KB_HEADER_TIMEOUT): connection closed")

    def _close(self, why: str):
        self._stop_waiting()
        log.info("%s", why)
        if not self.transport.is_closing():
            self.transport.close()


def connection_limits(wanted: int) -> tuple[int, int]:
    """(open connections, accept backlog) that fit this process's file-descriptor limit.

    asyncio accepts up to `backlog` connections at a time, and closing the longest-waiting ones to make room
    lags two or three such batches behind; so connections stay under half the limit and the backlog under a
    sixteenth, and accept() itself never runs out of descriptors (which stalls it for a second and logs an error).
    """
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return wanted, 2048
    if soft == resource.RLIM_INFINITY:
        return wanted, 2048
    return max(8, min(wanted, soft // 2)), max(8, min(2048, soft // 16))


def protocol(header_timeout: float, max_connections: int):
    """The `http=` argument for uvicorn.Config (a partial, so `kb serve --workers N` can hand it to each worker)."""
    return functools.partial(GuardedH11, header_timeout=header_timeout, max_connections=max_connections)


class LogLimiter(logging.Filter):
    """At most one log line per kind of fault (logger, level, message template, exception type) per `interval`
    seconds; the next one after a quiet spell says how many were left out. Only the first of a kind carries its
    traceback, so a flood of broken connections writes a handful of lines, not one traceback each."""

    def __init__(self, interval: float = 60.0, max_kinds: int = 1000):
        super().__init__()
        self.interval, self.max_kinds = interval, max_kinds
        self.kinds: dict[tuple, list] = {}    # kind -> [last time let through, left out since, tracebacks shown]

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        kind = (record.name, record.levelno, str(record.msg)[:200], exc)
        now = time.monotonic()
        seen = self.kinds.get(kind)
        if seen and now - seen[0] < self.interval:
            seen[1] += 1
            return False
        if len(self.kinds) >= self.max_kinds:
            self.kinds.clear()
        if seen and seen[1]:
            record.msg = f"{record.msg} ({seen[1]} more like this in the last {now - seen[0]:.0f} s)"
        if seen and exc:                  # its traceback was shown once already: now one line
            said = str(record.exc_info[1] if record.exc_info else "").replace("%", "%%")[:200]
            record.msg = f"{record.msg} [{exc}: {said}]"
            record.exc_info = record.exc_text = None
        self.kinds[kind] = [now, 0]
        return True


def quiet_logs(interval: float = 60.0) -> None:
    """Rate-limit the lines of the loggers a server writes per connection or request (kb's, uvicorn's, asyncio's)."""
    limiter = LogLimiter(interval)
    for name in ("kb", "uvicorn", "uvicorn.error", "asyncio"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, LogLimiter) for f in logger.filters):
            logger.addFilter(limiter)

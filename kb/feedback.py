"""👍/👎 on answers, appended as one JSON object a line to a file in the data folder.

The file is bounded: every field is capped, a record over MAX_RECORD_BYTES is refused, and past `max_mb` the file
is rotated to <file>.1 (one old file kept), so one busy client cannot fill the disk. Each record is exactly one
line for any line-based reader: besides JSON's own escapes, U+2028, U+2029, C1 controls (U+0085, ...) and lone
surrogates are written as \\u escapes.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from datetime import datetime, timezone
from pathlib import Path

from .errors import KbError

__all__ = ["record_feedback", "FeedbackUnavailable", "FeedbackTooLarge", "MAX_RECORD_BYTES"]

log = logging.getLogger("kb")

MAX_RECORD_BYTES = 64 * 1024
MAX_CITATIONS = 20
CAPS = {"question": 2000, "answer": 10_000, "comment": 2000, "quote": 2000, "document": 500, "doc_id": 500,
        "para_id": 100}
# Characters that str.splitlines() and other line readers take as a line end, or that UTF-8 cannot carry.
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff]")


class FeedbackUnavailable(KbError):
    """The feedback file cannot be written (read-only or full data folder)."""


class FeedbackTooLarge(KbError, ValueError):
    """One feedback record over MAX_RECORD_BYTES."""


def _cap(value, limit: int):
    return value[:limit] if isinstance(value, str) else value if isinstance(value, (int, float, type(None))) else None


def record_feedback(path: Path, rating: str, answer: dict, comment: str | None = None, source: str = "ui",
                    max_mb: float | None = 100.0) -> dict:
    """Append one feedback record (creating the folder and file on first use) and return it.

    Args:
        path: the JSONL file, e.g. config.data_path / config.feedback_file.
        rating: "up" or "down".
        answer: the Answer.to_dict() shape (question, text, language, refused, citations, ...); a REST client
            may send only question and text. Each field is cut to its cap in CAPS, citations to MAX_CITATIONS.
        comment: optional free text from the user.
        source: "ui" or "api".
        max_mb: rotate the file to <file>.1 before it grows past this size (config.feedback_max_mb); None: never.
    Raises:
        FeedbackTooLarge: the record is over MAX_RECORD_BYTES even with its fields capped.
        FeedbackUnavailable: the file cannot be written; the message names the folder.
    """
    record = {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rating": rating,
        "question": _cap(answer.get("question", ""), CAPS["question"]),
        "answer": _cap(answer.get("text", ""), CAPS["answer"]),
        "language": _cap(answer.get("language"), 8),
        "refused": answer.get("refused") if isinstance(answer.get("refused"), bool) else None,
        "citations": [{k: _cap(c.get(k), CAPS.get(k, 100)) for k in ("n", "document", "doc_id", "para_id", "quote")}
                      for c in (answer.get("citations") or [])[:MAX_CITATIONS] if isinstance(c, dict)],
        "comment": _cap(comment, CAPS["comment"]),
        "source": source,
    }
    line = _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(record, ensure_ascii=False)) + "\n"
    data = line.encode("utf-8")
    if len(data) > MAX_RECORD_BYTES:
        raise FeedbackTooLarge(f"feedback record of {len(data)} bytes is over the limit of {MAX_RECORD_BYTES}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path):
            if max_mb and path.exists() and path.stat().st_size + len(data) > max_mb * 1024 * 1024:
                os.replace(path, path.with_name(path.name + ".1"))
                log.info("feedback file %s reached %g MB (KB_FEEDBACK_MAX_MB): moved to %s.1", path, max_mb, path.name)
            with path.open("ab") as f:
                f.write(data)
    except OSError as e:
        raise FeedbackUnavailable(f"cannot write feedback to {path} ({e.strerror or e}): make the data folder "
                                  "writable, or point KB_DATA_DIR at one that is") from None
    return record


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on <file>.lock, across threads and the worker processes of `kb serve --workers N`."""
    try:
        import fcntl
    except ImportError:          # not POSIX: appends of one line are still whole
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

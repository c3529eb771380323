"""👍/👎 on answers, appended as one JSON object a line to a file in the data folder."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path

_lock = threading.Lock()   # the UI and the REST API may append at the same moment


def record_feedback(path: Path, rating: str, answer: dict, comment: str | None = None, source: str = "ui") -> dict:
    """Append one feedback record (creating the folder and file on first use) and return it.

    Args:
        path: the JSONL file, e.g. config.data_path / config.feedback_file.
        rating: "up" or "down".
        answer: the Answer.to_dict() shape (question, text, language, refused, citations, ...); a REST client
            may send only question and text.
        comment: optional free text from the user.
        source: "ui" or "api".
    """
    record = {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rating": rating,
        "question": answer.get("question", ""),
        "answer": answer.get("text", ""),
        "language": answer.get("language"),
        "refused": answer.get("refused"),
        "citations": [{k: c.get(k) for k in ("n", "document", "doc_id", "para_id", "quote")}
                      for c in answer.get("citations") or [] if isinstance(c, dict)],
        "comment": comment,
        "source": source,
    }
    line = json.dumps(record, ensure_ascii=False) + "\n"
    with _lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            f.write(line)
    return record

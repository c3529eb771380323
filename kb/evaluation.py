"""`kb eval`: retrieval, answer and refusal quality on a labelled JSONL set, per language.

Each line: {"question", "lang", "answerable", "evidence": [substrings of the source], "keywords": [...]}.
A citation holds the evidence when an evidence string occurs in its text or in its aligned original.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .text import squash


def load_labelled(path: Path) -> list[dict]:
    items = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not JSON ({e.msg})") from None
    return items


def _holds(citation, evidence: list[str]) -> bool:
    hay = squash(citation.text) + "\n" + squash(citation.original or "")
    return any(squash(e) in hay for e in evidence)


def evaluate(kb, items: list[dict]) -> dict:
    """Ask every question; return metrics per language and overall, plus the per-question rows."""
    for it in items[:3]:
        kb.ask(it["question"])          # warm-up, so latency reflects steady state
    rows = []
    for it in items:
        t0 = time.perf_counter()
        ans = kb.ask(it["question"])
        ms = (time.perf_counter() - t0) * 1000
        cites = ans.citations
        rows.append({
            "id": it.get("id"), "lang": it["lang"], "answerable": bool(it["answerable"]), "refused": ans.refused,
            "at1": bool(cites) and _holds(cites[0], it.get("evidence", [])),
            "at3": any(_holds(c, it.get("evidence", [])) for c in cites[:3]),
            "keywords": not ans.refused and all(k.lower() in ans.text.lower() for k in it.get("keywords", [])),
            "language_ok": ans.language == it["lang"], "ms": ms, "question": it["question"], "answer": ans.text,
        })
    report = {lang: _metrics([r for r in rows if r["lang"] == lang]) for lang in sorted({r["lang"] for r in rows})}
    report["all"] = _metrics(rows)
    return {"metrics": report, "rows": rows}


def _metrics(rows: list[dict]) -> dict:
    ans = [r for r in rows if r["answerable"]]
    un = [r for r in rows if not r["answerable"]]
    refused = [r for r in rows if r["refused"]]
    ms = np.array([r["ms"] for r in rows]) if rows else np.zeros(1)
    mean = lambda xs: round(sum(xs) / len(xs), 3) if xs else None   # noqa: E731
    return {
        "questions": len(rows), "answerable": len(ans), "unanswerable": len(un),
        "recall@1": mean([r["at1"] for r in ans]), "recall@3": mean([r["at3"] for r in ans]),
        "keyword_acc": mean([r["keywords"] for r in ans]),
        "refusal_precision": mean([not r["answerable"] for r in refused]),
        "refusal_recall": mean([r["refused"] for r in un]),
        "answerable_refused": mean([r["refused"] for r in ans]),
        "language_acc": mean([r["language_ok"] for r in rows]),
        "p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
    }


def format_table(metrics: dict) -> str:
    cols = ["questions", "recall@1", "recall@3", "keyword_acc", "refusal_precision", "refusal_recall",
            "answerable_refused", "language_acc", "p50_ms", "p95_ms"]
    head = ["lang"] + cols
    lines = [head] + [[lang] + ["-" if metrics[lang][c] is None else str(metrics[lang][c]) for c in cols]
                      for lang in metrics]
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in lines)

"""`kb eval`: retrieval, answer and refusal quality on labelled JSONL sets, per language, kind and split.

Each line: {"question", "lang", "answerable", "evidence": [...], "keywords": [...]}, optionally "id", "kind"
(fact, list, table, faq, howto, version, typo…), "cross_lingual", "page" and "version".
An evidence entry is a string, or a list of strings that must all occur in the same citation (a table cell and
its row key). A citation holds the evidence when an entry occurs in its heading path, its text or its aligned
original, compared after kb's normalisation (NFKC, Simplified Chinese) with whitespace removed.

Metrics (the issue's names in brackets): recall@1 / recall@3 [cited@1 / cited@3] = gold evidence in the first /
first three sources an answer shows (its citations, then its further reading), over answerable questions;
keyword_acc [keywords] = answered and every keyword in the answer text; refusal_recall [unanswerable refused];
answerable_refused [answerable refused].
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from .text import normalize, squash

LANG_COLUMNS = ["questions", "recall@1", "recall@3", "keyword_acc", "refusal_precision", "refusal_recall",
                "answerable_refused", "language_acc", "p50_ms", "p95_ms"]
# The grouped tables (by kind, split…) use the names for the same figures.
GROUP_COLUMNS = {"questions": "questions", "recall@1": "cited@1", "recall@3": "cited@3", "keyword_acc": "keywords",
                 "refusal_recall": "unans_refused", "answerable_refused": "ans_refused",
                 "language_acc": "lang_ok", "p50_ms": "p50_ms"}
GROUPINGS = ("lang", "kind", "split", "split/kind")


def load_labelled(path: Path) -> list[dict]:
    """Read one labelled JSONL file; each item's "split" defaults to the file's stem (e.g. docs_heldout)."""
    items = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not JSON ({e.msg})") from None
            if not isinstance(item, dict) or not {"question", "lang", "answerable"} <= item.keys():
                raise ValueError(f"{path}:{n}: each line needs an object with question, lang and answerable")
            item.setdefault("split", Path(path).stem)
            items.append(item)
    return items


def _fold(text: str) -> str:
    return squash(normalize(text))


def holds(citation, evidence: list) -> bool:
    hay = "\n".join(_fold(t) for t in (" ".join(citation.heading), citation.text, citation.original or ""))
    return any(all(_fold(part) in hay for part in ([e] if isinstance(e, str) else e)) for e in evidence)


def evaluate(kb, items: list[dict]) -> dict:
    """Ask every question; return metrics per language (and grouped by kind and split), plus per-question rows."""
    for it in items[:3]:
        kb.ask(it["question"])          # warm-up, so latency reflects steady state
    rows = []
    for it in items:
        t0 = time.perf_counter()
        ans = kb.ask(it["question"])
        ms = (time.perf_counter() - t0) * 1000
        cites, evidence = ans.citations, it.get("evidence", [])
        rows.append({
            "id": it.get("id"), "lang": it["lang"], "kind": it.get("kind", "-"), "split": it.get("split", "-"),
            "cross_lingual": bool(it.get("cross_lingual")), "answerable": bool(it["answerable"]),
            "refused": ans.refused,
            "at1": bool(cites) and holds(cites[0], evidence),
            "at3": any(holds(c, evidence) for c in (cites + ([] if ans.refused else ans.related))[:3]),
            "keywords": not ans.refused and all(k.lower() in ans.text.lower() for k in it.get("keywords", [])),
            "language_ok": ans.language == it["lang"], "ms": ms, "question": it["question"], "answer": ans.text,
            "refused_by": ans.signals.get("refused_by", []),
        })
    return {"metrics": breakdown(rows, "lang"), "by": {g: breakdown(rows, g) for g in GROUPINGS[1:]}, "rows": rows}


def _group(row: dict, grouping: str) -> str:
    if grouping == "lang":
        return row["lang"] + ("-cross" if row.get("cross_lingual") else "")
    return " ".join(str(row.get(key, "-")) for key in grouping.split("/"))


def breakdown(rows: list[dict], grouping: str) -> dict:
    """Metrics per group (sorted) and for "all"; `grouping` is one of GROUPINGS."""
    groups = defaultdict(list)
    for r in rows:
        groups[_group(r, grouping)].append(r)
    out = {g: _metrics(groups[g]) for g in sorted(groups)}
    out["all"] = _metrics(rows)
    return out


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


# The rates `interval` measures: which questions each is over (answerable or not), and what it counts of them.
RATES = {"recall@1": (True, "at1"), "recall@3": (True, "at3"), "keyword_acc": (True, "keywords"),
          "refusal_recall": (False, "refused"), "answerable_refused": (True, "refused")}


def interval(rows: list[dict], metric: str = "recall@1", level: float = 0.95, draws: int = 2000,
             seed: int = 0) -> tuple[float, float] | None:
    """How far `metric` could move on another set of questions like these: a percentile bootstrap interval,
    resampling the questions it is over with replacement. None when there are none. (On 215 answerable questions
    a cited@1 near 0.7 spans about ±0.06: a change of one or two questions is not a result.)"""
    answerable, key = RATES[metric]
    values = np.array([bool(r[key]) for r in rows if r["answerable"] == answerable], dtype=float)
    if not len(values):
        return None
    means = np.random.default_rng(seed).choice(values, (draws, len(values))).mean(axis=1)
    lo, hi = np.percentile(means, [50 * (1 - level), 50 * (1 + level)])
    return round(float(lo), 3), round(float(hi), 3)


def format_table(metrics: dict, label: str = "lang") -> str:
    """A right-aligned text table, one row per group; the lang table keeps kb's original columns."""
    cols = LANG_COLUMNS if label == "lang" else list(GROUP_COLUMNS)
    head = [label] + (cols if label == "lang" else [GROUP_COLUMNS[c] for c in cols])
    lines = [head] + [[group] + ["-" if metrics[group][c] is None else str(metrics[group][c]) for c in cols]
                      for group in metrics]
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in lines)


def format_report(report: dict, by: tuple[str, ...] = ("lang",)) -> str:
    """One table per grouping, separated by a blank line."""
    return "\n\n".join(format_table(report["metrics"] if g == "lang" else report["by"][g], g) for g in by)

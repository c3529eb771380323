"""How many passages of translated pages carry their original: per page and in total, without embedding.

    python benchmarks/alignment.py [--corpus DIR] [--pairs 20] [--unaligned] [--json]

Reads the corpus (default: the OpenCloudOS development corpus) as `kb build` does, cuts it into passages
(chunks), and counts the passages of each translation (`name.en.md`, or front matter translation_of) whose
paragraph was aligned with one of its original's, as benchmarks/docs_site.py's "alignment coverage" does
on a built index. --pairs N prints N aligned pairs drawn at random (seeded) to check by eye;
--unaligned prints the paragraphs left without an original, to judge whether their original has them.
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import time
from pathlib import Path

import common  # noqa: F401  (puts this checkout's kb first on the path)
from docs_site import DEFAULT_CORPUS

from kb.chunking import chunk_document
from kb.config import Config
from kb.documents import load_corpus


def coverage(corpus: Path) -> tuple[list[dict], list, float]:
    """One row per translation: passages, aligned passages, paragraphs, aligned paragraphs; the pairs; seconds."""
    t0 = time.perf_counter()
    docs, _ = load_corpus(corpus)
    seconds = time.perf_counter() - t0
    by_id = {d.id: d for d in docs}
    rows, pairs = [], []
    for d in docs:
        orig = by_id.get(d.translation_of or "")
        if orig is None:
            continue
        originals = {p.id: p for p in orig.paragraphs}
        chunks = chunk_document(d, Config().chunk_chars)
        rows.append({"page": d.id, "original": orig.id, "passages": len(chunks),
                     "aligned": sum(c.para_id in originals for c in chunks),
                     "paragraphs": len(d.paragraphs), "original_paragraphs": len(orig.paragraphs),
                     "aligned_paragraphs": sum(p.id in originals for p in d.paragraphs)})
        pairs += [(d.id, p, originals.get(p.id)) for p in d.paragraphs]
    return rows, pairs, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--pairs", type=int, default=0, help="print this many aligned pairs (seeded sample)")
    ap.add_argument("--unaligned", action="store_true", help="print the paragraphs that have no original")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    rows, pairs, seconds = coverage(args.corpus)
    total = {k: sum(r[k] for r in rows) for k in ("passages", "aligned", "paragraphs", "aligned_paragraphs")}
    share = round(total["aligned"] / total["passages"], 3) if total["passages"] else None
    if args.json:
        print(json.dumps({"pages": rows, "total": {**total, "coverage": share}, "read_s": round(seconds, 2)}, indent=1))
        return
    print(f"{'page':40} {'passages':>9} {'aligned':>8} {'paras en/zh':>12} {'aligned':>8}")
    for r in rows:
        print(f"{r['page']:40} {r['passages']:9} {r['aligned']:8} {r['paragraphs']:>6}/{r['original_paragraphs']:<5} "
              f"{r['aligned_paragraphs']:8}")
    print(f"total: {total['aligned']} of {total['passages']} passages of {len(rows)} translations carry their original "
          f"({share}); paragraphs {total['aligned_paragraphs']} of {total['paragraphs']}; corpus read in {seconds:.1f} s")
    for page, p, o in random.Random(0).sample([x for x in pairs if x[2]], min(args.pairs, len(pairs))):
        print(f"\n--- {page} {p.id}\nEN {p.text[:300]!r}\nZH {o.text[:300]!r}")
    if args.unaligned:
        for page, p, _ in (x for x in pairs if x[2] is None):
            print(f"\n--- no original: {page} {p.id} {' > '.join(p.heading)}\n{p.text[:300]!r}")


if __name__ == "__main__":
    main()

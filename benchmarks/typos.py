"""Typo tolerance on a real documentation site: development questions asked again with one slip of the keyboard.

    python benchmarks/typos.py [--corpus DIR] [--pages tests/data/docs_ci_pages.txt] [--index DIR] [--seed 7] [--json]

Builds an index of the site (or of the pages listed in --pages; --index DIR keeps it there and reuses it on the
next run), asks the answerable development questions (tests/data/docs_dev.jsonl, never the held-out ones) whose
page is indexed, and asks each again with one seeded typo of each kind it can have: English, in a word of five
letters or more (a letter dropped, two neighbours swapped, a letter doubled, or one replaced by its neighbour on the
keyboard); Chinese, a character of a Chinese question typed as another of the same sound, as a pinyin input method
slips (配值 for 配置; the characters drawn from those the site uses). Prints, of the questions cited right at @1 as
written, how many still are with the typo and how many are refused, for each kind.
"""
from __future__ import annotations

import random
import re
import shutil
import tempfile
from pathlib import Path

import common
from docs_site import SETS, copy_pages, read_pages, site_arguments
from kb.spelling import pinyin     # (kb's own import of pypinyin waits for the first Chinese word)

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOUR = {row[i]: row[i + 1] if i + 1 < len(row) else row[i - 1] for row in _ROWS for i in range(len(row))}


def with_typo(question: str, rng: random.Random) -> str | None:
    """`question` with one slip in one of its Latin words of five letters or more (None when it has none)."""
    words = list(re.finditer(r"[A-Za-z]{5,}", question))
    if not words:
        return None
    m = rng.choice(words)
    w, i = m.group(0), rng.randrange(1, len(m.group(0)) - 1)
    slip = rng.choice([w[:i] + w[i + 1:], w[:i] + w[i + 1] + w[i] + w[i + 2:], w[:i] + w[i] + w[i:],
                       w[:i] + _NEIGHBOUR.get(w[i].lower(), w[i]) + w[i + 1:]])
    return question[:m.start()] + slip + question[m.end():] if slip != w else None


def with_homophone(question: str, rng: random.Random, sounds: dict[str, list[str]]) -> str | None:
    """`question` with one character of a run of two or more Chinese characters typed as another of the same toneless
    pinyin (None when it has no such run, or the character no homophone)."""
    spots = [i for m in re.finditer(r"[\u4e00-\u9fff]{2,}", question) for i in range(m.start(), m.end())]
    rng.shuffle(spots)
    for i in spots:
        if others := [c for c in sounds.get(pinyin(question[i]), ()) if c != question[i]]:
            return question[:i] + rng.choice(others) + question[i + 1:]
    return None


def main():
    args = site_arguments(__doc__, ("--index", {"type": Path, "help": "index folder to build or reuse (default: a temporary one)"}),
                          ("--seed", {"type": int, "default": 7, "help": "seed of the typos [7]"}))

    from kb import KnowledgeBase
    from kb.evaluation import evaluate, load_labelled

    work = Path(tempfile.mkdtemp(prefix="kb-typos-"))
    try:
        corpus = copy_pages(args.corpus, read_pages(args.pages), work / "corpus") if args.pages else args.corpus
        pages = {f.relative_to(corpus).as_posix() for f in corpus.rglob("*") if f.is_file()}
        site = KnowledgeBase.open(corpus=corpus, index_dir=args.index or work / "index", progress=not args.json)
        items = [it for it in load_labelled(SETS[0]) if it["page"] in pages and it.get("answerable", True)]
        right = [it for it, row in zip(items, evaluate(site, items)["rows"]) if row["at1"]]
        rng = random.Random(args.seed)
        sounds: dict[str, list[str]] = {}
        for ch in sorted({ch for word in site.index.lexicon.vocab for ch in word if "\u4e00" <= ch <= "\u9fff"}):
            sounds.setdefault(pinyin(ch), []).append(ch)
        slips = {"English": [dict(it, question=q) for it in right if (q := with_typo(it["question"], rng))],
                 "Chinese": [dict(it, question=q) for it in right
                             if it["lang"] == "zh" and (q := with_homophone(it["question"], rng, sounds))]}
        rows = {kind: evaluate(site, asked)["rows"] for kind, asked in slips.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"machine": common.machine(), "right_as_written": len(right), **{kind: {
        "with_a_typo": len(rs), "still_right": round(sum(r["at1"] for r in rs) / len(rs), 3),
        "refused": round(sum(r["refused"] for r in rs) / len(rs), 3),
        "missed": [r["question"] for r in rs if not r["at1"]]} for kind, rs in rows.items()}}
    text = "\n".join([common.machine_line(), f"{len(right)} development questions cited right at @1 as written"] + [
        line for kind in rows for line in [
            f"{result[kind]['with_a_typo']} with a typo ({kind}): still cited right at @1: {result[kind]['still_right']}, "
            f"refused: {result[kind]['refused']}; missed:", *(f"  {q}" for q in result[kind]["missed"])]])
    common.emit(result, text, args.json)


if __name__ == "__main__":
    main()

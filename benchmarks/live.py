"""A server on a corpus still being embedded, and a rebuild under a running server (README: Speed and scale).

    python benchmarks/live.py [--corpus DIR] [--pages tests/data/docs_ci_pages.txt] [--workers N] [--json]
    python benchmarks/live.py --eval     # answers and refusals on the bundled eval with part of the vectors (1 minute)

1. `kb serve` on a corpus never embedded (a cold index folder, default KB_LEXICAL_FIRST_AFTER): seconds until it
   listens, until its first answer, the progress /healthz reports meanwhile, and until the whole index is served.
2. A document is added and `kb build` runs in another process while a client asks without pause: seconds from
   the build's end until the server answers from the new document (10 times in a row, each over a new
   connection, so with --workers every worker has swapped), and how many requests failed meanwhile.
The default corpus is the CI subset of the OpenCloudOS documentation site (about 3,000 passages; a few minutes).
3. --eval: tests/data/eval.jsonl on the bundled corpus served from a version with 0%, 25%, 50%, 75% and all of
   its vectors, as a server on an unfinished corpus serves it.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import common
from docs_site import DEFAULT_CORPUS, copy_pages, read_pages

QUESTION = "How do I check which kernel version is running?"
NEW_DOC = "# Zorblax\n\nThe Zorblax daemon listens on port 4242.\n"
NEW_QUESTION = "Which port does the Zorblax daemon listen on?"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    p.add_argument("--pages", type=Path, default=common.ROOT / "tests" / "data" / "docs_ci_pages.txt",
                   help="file listing the pages to copy (default: the CI subset)")
    p.add_argument("--workers", type=int, default=1, help="kb serve --workers")
    p.add_argument("--json", action="store_true")
    p.add_argument("--eval", action="store_true", help="only the bundled eval with part of the vectors")
    args = p.parse_args()
    if args.eval:
        return partial_eval(args.json)
    import httpx

    work = common.WORK / "live"
    shutil.rmtree(work, ignore_errors=True)
    corpus = copy_pages(args.corpus, read_pages(args.pages), work / "corpus")
    ix = work / "ix"
    env = {**os.environ, "KB_RATE_LIMIT": "0", "PYTHONPATH": str(common.ROOT)}
    t0 = time.monotonic()
    server = subprocess.Popen([sys.executable, "-m", "kb.cli", "serve", "--port", "0", "--corpus", str(corpus),
                               "--index", str(ix), "--workers", str(args.workers)], stderr=subprocess.PIPE, text=True,
                              env=env)
    r: dict = {"machine": common.machine(), "corpus": str(args.corpus), "pages": str(args.pages),
               "workers": args.workers}
    try:
        url = _url(server)
        c = httpx.Client(timeout=60)
        r["listening_s"] = round(time.monotonic() - t0, 1)
        while True:
            try:
                answer = c.post(f"{url}/api/v1/ask", json={"question": QUESTION})
                if answer.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        r["first_answer_s"] = round(time.monotonic() - t0, 1)
        r["first_answer_indexing"] = answer.json()["signals"].get("indexing")
        progress = []
        while (health := c.get(f"{url}/healthz").json())["indexing"] is not None:
            progress.append((round(time.monotonic() - t0), health["indexing"]["progress"]))
            time.sleep(5)
        r["whole_s"] = round(time.monotonic() - t0, 1)
        r["chunks"] = health["chunks"]
        r["progress"] = progress[:: max(1, len(progress) // 8)]

        codes, stop = [], threading.Event()

        def hammer():
            while not stop.is_set():     # a new connection each time: with --workers, any worker answers
                codes.append(httpx.post(f"{url}/api/v1/ask", json={"question": QUESTION}, timeout=60).status_code)

        thread = threading.Thread(target=hammer)
        thread.start()
        (corpus / "zorblax.md").write_text(NEW_DOC, encoding="utf-8")
        t1 = time.monotonic()
        subprocess.run([sys.executable, "-m", "kb.cli", "-q", "build", "--corpus", str(corpus), "--index", str(ix)],
                       check=True, env=env, capture_output=True)
        r["rebuild_s"] = round(time.monotonic() - t1, 1)
        t2, streak, since = time.monotonic(), 0, 0.0
        while streak < 10:
            new = "4242" in httpx.post(f"{url}/api/v1/ask", json={"question": NEW_QUESTION}, timeout=60).json()["text"]
            since = since if new and streak else time.monotonic() - t2
            streak = streak + 1 if new else 0
        r["swap_s"] = round(since, 2)
        time.sleep(1)
        stop.set()
        thread.join()
        r["requests_during_swap"], r["failed"] = len(codes), sum(code != 200 for code in codes)
    finally:
        server.terminate()
        server.wait(timeout=30)
    if args.json:
        print(json.dumps(r, indent=2))
        return
    print(f"{r['machine']}\n{r['chunks']:,} passages ({args.pages.name} of {args.corpus.name}), never embedded:")
    print(f"  kb serve listening after {r['listening_s']} s, first answer after {r['first_answer_s']} s "
          f"(indexing {r['first_answer_indexing']}), whole index served after {r['whole_s']} s")
    print("  /healthz progress (s, share): " + ", ".join(f"{s}: {p:.2f}" for s, p in r["progress"]))
    print(f"  a document added, `kb build` took {r['rebuild_s']} s; answered from it {r['swap_s']} s after "
          f"(10 times in a row, {args.workers} worker(s)); "
          f"{r['failed']} of {r['requests_during_swap']} requests failed meanwhile")


def partial_eval(as_json: bool) -> None:
    """The bundled eval served from versions with a share of the vectors (the rest as if still being made)."""
    from kb import KnowledgeBase, progressive
    from kb.config import Config
    from kb.evaluation import evaluate, load_labelled
    items = load_labelled(common.ROOT / "tests" / "data" / "eval.jsonl")
    run, share = progressive.Embedding.run, 0.0

    def only_a_share(self, seconds=None, progress=False, step=None):     # this share now, and nothing after
        n = round(share * len(self.todo))
        rest, self.todo = self.todo[n:], self.todo[:n]
        run(self)
        self.todo = rest
        return not rest

    progressive.Embedding.run = only_a_share
    progressive.Embedding.in_background = lambda self, lock: None
    rows = []
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        folder = common.WORK / "live-eval" / f"{share:.2f}"
        shutil.rmtree(folder, ignore_errors=True)
        kb = KnowledgeBase.open(config=Config(corpus=common.ROOT / "corpus", index_dir=folder), progress=False,
                                lexical_first=True)
        report = evaluate(kb, items)["rows"]
        yes, no = [r for r in report if r["answerable"]], [r for r in report if not r["answerable"]]
        rows.append({"vectors": share, "indexing": kb.indexing, "answerable": len(yes),
                     "right_first": sum(bool(r["at1"]) for r in yes), "answered": sum(not r["refused"] for r in yes),
                     "unanswerable": len(no), "wrongly_answered": sum(not r["refused"] for r in no)})
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{common.machine()}\nbundled eval, served while its vectors are made (refusals then say so):")
    print("vectors  right passage first  answered  should-refuse answered")
    for r in rows:
        print(f"{r['vectors']:>6.0%}  {r['right_first']:>10}/{r['answerable']:<9} {r['answered']:>4}/"
              f"{r['answerable']:<4} {r['wrongly_answered']:>6}/{r['unanswerable']}")


def _url(server) -> str:
    """The server's address, from its 'ready at' line; its later lines are read on (and dropped) in a thread."""
    for line in server.stderr:
        if "ready at " in line:
            threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
            return line.split("ready at ")[1].split()[0].rstrip("/")
    raise SystemExit("kb serve stopped before it was ready")


if __name__ == "__main__":
    main()

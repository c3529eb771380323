"""A server on a corpus still being embedded, and a rebuild under a running server (README: Speed and scale).

    python benchmarks/live.py [--corpus DIR] [--pages tests/data/docs_ci_pages.txt] [--json]

1. `kb serve` on a corpus never embedded (a cold index folder, default KB_LEXICAL_FIRST_AFTER): seconds until it
   listens, until its first answer, the progress /healthz reports meanwhile, and until the whole index is served.
2. A document is added and `kb build` runs in another process while a client asks without pause: seconds from
   the build's end until the server answers from the new document, and how many requests failed meanwhile.
The default corpus is the CI subset of the OpenCloudOS documentation site (about 3,000 passages; a few minutes).
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
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    import httpx

    work = common.WORK / "live"
    shutil.rmtree(work, ignore_errors=True)
    corpus = copy_pages(args.corpus, read_pages(args.pages), work / "corpus")
    ix = work / "ix"
    env = {**os.environ, "KB_RATE_LIMIT": "0", "PYTHONPATH": str(common.ROOT)}
    t0 = time.monotonic()
    server = subprocess.Popen([sys.executable, "-m", "kb.cli", "serve", "--port", "0", "--corpus", str(corpus),
                               "--index", str(ix)], stderr=subprocess.PIPE, text=True, env=env)
    r: dict = {"machine": common.machine(), "corpus": str(args.corpus), "pages": str(args.pages)}
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
            with httpx.Client(timeout=60) as h:
                while not stop.is_set():
                    codes.append(h.post(f"{url}/api/v1/ask", json={"question": QUESTION}).status_code)

        thread = threading.Thread(target=hammer)
        thread.start()
        (corpus / "zorblax.md").write_text(NEW_DOC, encoding="utf-8")
        t1 = time.monotonic()
        subprocess.run([sys.executable, "-m", "kb.cli", "-q", "build", "--corpus", str(corpus), "--index", str(ix)],
                       check=True, env=env, capture_output=True)
        r["rebuild_s"] = round(time.monotonic() - t1, 1)
        t2 = time.monotonic()
        while "4242" not in c.post(f"{url}/api/v1/ask", json={"question": NEW_QUESTION}).json()["text"]:
            time.sleep(0.05)
        r["swap_s"] = round(time.monotonic() - t2, 2)
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
    print(f"  a document added, `kb build` took {r['rebuild_s']} s; answered from it {r['swap_s']} s after; "
          f"{r['failed']} of {r['requests_during_swap']} requests failed meanwhile")


def _url(server) -> str:
    """The server's address, from its 'ready at' line; its later lines are read on (and dropped) in a thread."""
    for line in server.stderr:
        if "ready at " in line:
            threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
            return line.split("ready at ")[1].split()[0].rstrip("/")
    raise SystemExit("kb serve stopped before it was ready")


if __name__ == "__main__":
    main()

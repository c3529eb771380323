"""Replicas that share one knowledge base: two `kb serve` processes over one Milvus (a `milvus-lite server` on
loopback) hold nothing but their settings; a `kb build` run in another process is served by both within seconds
(the alias switch), with no failed request meanwhile, and one replica going away does not stop the other."""
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from conftest import CORPUS
from kb import KnowledgeBase
from support import KbServe, client, milvus_lite_server

pytest.importorskip("pymilvus")

NEW_DOC = ("---\ntitle: Zorblax guide\n---\n# Zorblax\n\nThe Zorblax daemon listens on port 4242 and keeps its "
           "journal in /var/lib/zorblax.\n")
NEW_QUESTION = "Which port does the Zorblax daemon listen on?"


def ask(c, url: str, question: str) -> dict:
    r = c.post(f"{url}/api/v1/ask", json={"question": question})
    assert r.status_code == 200, r.text
    return r.json()


def test_two_replicas_over_one_milvus_serve_a_rebuild_made_elsewhere_with_no_failed_request(kb, tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(CORPUS, corpus)
    shutil.copytree(kb.config.index_path / "embeddings", index / "embeddings")     # nothing is embedded again
    with milvus_lite_server(tmp_path / "milvus") as uri:
        env = {"KB_STORE": "milvus", "KB_MILVUS_URI": uri, "KB_RATE_LIMIT": "0", "KB_RELOAD_INTERVAL": "0.5"}
        KnowledgeBase.open(corpus=corpus, index_dir=index, store="milvus", milvus_uri=uri, progress=False)
        # Replicas: no corpus folder of their own (the same corpus name and model name the collection), no index.
        replicas = [KbServe("--corpus", str(tmp_path / f"replica{n}" / "corpus"), "--index",
                            str(tmp_path / f"replica{n}" / "index"), env=env) for n in (1, 2)]
        codes: dict[str, list] = {}
        stop = threading.Event()
        try:
            urls = [r.ready() for r in replicas]
            with client("127.0.0.41") as c:
                for url in urls:
                    assert not ask(c, url, "What is cgroupfs?")["refused"] and ask(c, url, NEW_QUESTION)["refused"]
                before = {c.get(f"{url}/healthz").json()["index"] for url in urls}
            assert len(before) == 1 and None not in before

            def hammer(url: str, source: str):
                import httpx
                with client(source) as h:
                    while not stop.is_set():
                        try:
                            codes[url].append(h.post(f"{url}/api/v1/ask", json={"question": "What is cgroupfs?"})
                                              .status_code)
                            codes[url].append(h.get(f"{url}/api/v1/search", params={"q": "热补丁"}).status_code)
                        except httpx.HTTPError as e:
                            codes[url].append(type(e).__name__)

            threads = []
            for n, url in enumerate(urls):
                codes[url] = []
                threads.append(threading.Thread(target=hammer, args=(url, f"127.0.0.{42 + n}")))
                threads[-1].start()
            (corpus / "zorblax.md").write_text(NEW_DOC, encoding="utf-8")
            subprocess.run([sys.executable, "-m", "kb.cli", "build", "-q", "--corpus", str(corpus), "--index",
                            str(index)], check=True, capture_output=True, text=True, timeout=300,
                           env={**os.environ, **env})
            built, swapped = time.monotonic(), {}
            with client("127.0.0.44") as c:
                while len(swapped) < len(urls):
                    for url in set(urls) - swapped.keys():
                        if "4242" in ask(c, url, NEW_QUESTION)["text"]:
                            swapped[url] = time.monotonic() - built
                    assert time.monotonic() - built < 20, f"not swapped within 20 s: {swapped}"
                    time.sleep(0.1)
                after = {c.get(f"{url}/healthz").json()["index"] for url in urls}
            time.sleep(1)
            stop.set()
            for t in threads:
                t.join(30)
            counts = {url: (len(v), sum(code != 200 for code in v)) for url, v in codes.items()}
            print(f"\nboth replicas answered from the rebuild {max(swapped.values()):.2f} s after `kb build` returned "
                  f"({', '.join(f'{s:.2f}' for s in swapped.values())} s); requests (failed) meanwhile: "
                  + ", ".join(f"{n} ({bad})" for n, bad in counts.values()))
            assert len(after) == 1 and after != before
            for got in codes.values():
                assert len(got) > 10 and set(got) == {200}, {code: got.count(code) for code in set(got)}

            # One replica goes away: the other keeps answering, from the rebuild.
            replicas[0].proc.kill()
            replicas[0].proc.wait(10)
            with client("127.0.0.45") as c:
                for _ in range(3):
                    assert "4242" in ask(c, urls[1], NEW_QUESTION)["text"]
                    assert not ask(c, urls[1], "What is cgroupfs?")["refused"]
        finally:
            stop.set()
            for r in replicas:
                r.stop()

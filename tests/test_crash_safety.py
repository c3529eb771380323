"""A build killed with SIGKILL at any moment leaves the previous index loadable and answering."""
import random
import shutil
import signal
import subprocess
import sys
import time

from kb import KnowledgeBase
from kb.store_faiss import load_index
from conftest import CORPUS

BUILD = "import sys; from kb import KnowledgeBase; KnowledgeBase.open(corpus=sys.argv[1], index_dir=sys.argv[2], progress=False)"


def test_sigkill_during_build_never_breaks_the_live_index(tmp_path):
    corpus, ix = tmp_path / "corpus", tmp_path / "ix"
    shutil.copytree(CORPUS, corpus)
    KnowledgeBase.open(corpus=corpus, index_dir=ix, progress=False)
    rng = random.Random(7)
    sentences = [p for p in (CORPUS / "opencloudos-8.5-release.en.md").read_text().split("\n\n")[1:] if len(p) > 80]
    killed = 0
    for round_ in range(10):
        # New text every round, so the build has real embedding work to be killed in.
        extra = "\n\n".join(f"Note {round_}.{i}: " + rng.choice(sentences) for i in range(40))
        (corpus / f"notes-{round_}.md").write_text(extra, encoding="utf-8")
        proc = subprocess.Popen([sys.executable, "-c", BUILD, str(corpus), str(ix)])
        time.sleep(rng.uniform(0.3, 2.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
        index = load_index(ix)              # whatever version is live must load whole
        assert index.stats().count == len(index) > 0
    assert killed >= 5, "the builds finished before they could be killed: make them longer"
    kb = KnowledgeBase.open(corpus=corpus, index_dir=ix, progress=False)
    assert not kb.ask("What is cgroupfs?").refused
    assert {c.doc_id for c in kb.index} >= {f"notes-{r}.md" for r in range(10)}

"""Builds of one index folder take turns: a second build waits for the first, or says clearly why it gave up."""
import logging
import subprocess
import sys

import pytest

from kb import KnowledgeBase
from kb.errors import KbError
from kb.store_faiss import load_index
from conftest import CORPUS

HOLD = ("import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
        "print('held', flush=True); time.sleep(float(sys.argv[2]))")
BUILD = ("import sys; from kb import KnowledgeBase; "
         "kb = KnowledgeBase.open(corpus=sys.argv[1], index_dir=sys.argv[2], progress=False); print(len(kb.index))")


def hold_lock(ix, seconds):
    """Another process holding the index folder's build lock for `seconds` (as a running build does)."""
    ix.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(ix / ".build.lock"), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_build_that_cannot_get_the_lock_says_so_in_one_line(tmp_path):
    ix = tmp_path / "ix"
    holder = hold_lock(ix, 60)
    try:
        with pytest.raises(KbError, match="another build of .* has held its lock") as e:
            KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False, build_wait=1)
        assert "\n" not in str(e.value) and "KB_BUILD_WAIT" in str(e.value)
    finally:
        holder.kill()
        holder.wait()
    assert not (ix / "CURRENT").exists()


def test_a_second_build_waits_for_the_first(tmp_path, caplog):
    ix = tmp_path / "ix"
    holder = hold_lock(ix, 2)
    with caplog.at_level(logging.INFO, logger="kb"):
        kb = KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False)
    holder.wait()
    assert "another build of" in caplog.text and "waiting" in caplog.text
    assert not kb.ask("What is cgroupfs?").refused


def test_two_builds_at_once_both_finish_and_leave_one_valid_index(tmp_path):
    ix = tmp_path / "ix"
    for _ in range(3):
        procs = [subprocess.Popen([sys.executable, "-c", BUILD, str(CORPUS), str(ix)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=600) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [err[-1500:] for _, err in outs]
        index = load_index(ix)
        assert index.stats().count == len(index) > 0
        assert {out.strip() for out, _ in outs} == {str(len(index))}
        (ix / "CURRENT").unlink()          # the next round builds from scratch again

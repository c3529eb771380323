"""The index's life cycle: what the live index must have been built from, the parse cache, and the build lock.

`expected_manifest` says what the live index must match and `live_index` opens it if it does (a difference
means a rebuild); `unsearchable` names documents that gave no passage; the parse cache
(`parsed.json`, plain data that cannot run code) lets a rebuild parse only changed files; `build_lock`
makes builds into one index folder take turns, so none deletes another's work.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import time
from pathlib import Path

from . import text
from .config import Config
from .documents import SUFFIXES, corpus_files
from .errors import IndexProblem, KbError, StaleIndex
from .store import FORMAT, Store, store_class
from .types import Document, Paragraph

log = logging.getLogger("kb")

PARSE_CACHE = "parsed.json"
LOCK = ".build.lock"


def changed(key: str, old, new) -> str:
    """One change that makes an index stale, in words: "embedder a -> b", or "corpus changed" for a hash."""
    if key in ("corpus", "dictionary", "parser") or old is None:
        return f"{key} changed"
    return f"{key} {old} -> {new}"


def expected_manifest(cfg: Config, embedder_id: str) -> dict:
    """What the live index must have been built from; any difference means a rebuild."""
    return {"format": FORMAT, "embedder": embedder_id,
            "corpus": corpus_fingerprint(cfg.corpus, cfg.max_file_mb, cfg.follow_symlinks),
            "dictionary": text.dictionary_hash(cfg.user_dict), "chunking": {"chunk_chars": cfg.chunk_chars},
            "source_base_url": cfg.source_base_url, "index_type": cfg.index_type, "parser": parser_version()}


def live_index(cfg: Config, emb, expected: dict, partial: bool = False) -> Store:
    """The live index when it was built from what `expected` says; else IndexProblem saying what changed.

    A version still waiting for some of its vectors (kb/progressive.py) counts only with `partial`.
    """
    index = store_class(cfg.store).open(cfg)
    stale = [k for k, v in expected.items() if index.manifest.get(k) != v]
    if stale:
        raise StaleIndex("index is out of date (" + "; ".join(
            changed(k, index.manifest.get(k), expected[k]) for k in stale) + ")")
    if index.manifest.get("pending") and not partial:
        raise StaleIndex(f"index is still being embedded ({index.manifest['pending']} passages to go)")
    return same_model(index, emb, cfg)


def published_index(cfg: Config, emb) -> Store:
    """A replica's index (a shared store, no corpus folder here): the published version, if of this model."""
    index = store_class(cfg.store).open(cfg)
    if index.manifest.get("embedder") != emb.id:
        raise KbError(f"the published index was made with the embedder {index.manifest.get('embedder')}, not {emb.id}: "
                      f"set KB_EMBEDDER to the model it was built with, or rebuild it with this one")
    return same_model(index, emb, cfg)


def same_model(index: Store, emb, cfg: Config) -> Store:
    """The index, unless its vectors have another dimension than the embedder's (a path now holding another model)."""
    dim = index.stats().dim
    if dim != emb.dim:
        raise IndexProblem(f"index in {cfg.index_path if cfg.store == 'faiss' else cfg.store} holds vectors of "
                           f"dimension {dim} but the embedder {emb.id} makes {emb.dim}")
    return index


def reloadable(index: Store, emb, dictionary: str) -> str | None:
    """Why a newly published version cannot replace the one being served (None: it can).

    Another process's build may have seen more documents (the corpus is not compared), but its vectors and tokens
    must be this knowledge base's: same embedder, dimension and dictionary.
    """
    m = index.manifest
    wrong = [changed(k, m.get(k), want) for k, want in (("embedder", emb.id), ("dictionary", dictionary))
             if m.get(k) != want]
    if (dim := index.stats().dim) != emb.dim:
        wrong.append(f"dimension {dim} -> {emb.dim}")
    return ", ".join(wrong) or None


def unsearchable(docs: list, chunks: list) -> list[str]:
    """Documents that gave no passage (text only in scripts kb does not segment, e.g. Arabic): one warning each."""
    found = {c.doc_id for c in chunks}
    problems = [f"{d.id}: no searchable text (kb indexes Chinese and English; this text has neither)"
                for d in docs if d.id not in found]
    for p in problems:
        log.warning("indexed without passages: %s", p)
    return problems


def corpus_fingerprint(folder: Path, max_file_mb: float = 20.0, follow_symlinks: bool = False) -> str:
    """Hash of every corpus file's path and bytes (reading is fast; mtimes change on every git clone).

    A file over the size limit is skipped by the build without being read, so only its size and mtime count.
    """
    h = hashlib.blake2b(digest_size=8)
    for p in corpus_files(folder, follow_symlinks):
        if p.suffix.lower() in SUFFIXES:
            rel = os.fsencode(p.relative_to(folder).as_posix())
            st = p.stat()
            h.update(rel + b"\0")
            if st.st_size > max_file_mb * 1e6:
                h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
                continue
            try:
                h.update(hashlib.blake2b(p.read_bytes(), digest_size=16).digest())
            except OSError as e:       # unreadable: the build names it; its name and error still count
                h.update(str(e.errno).encode())
    return h.hexdigest()


def parser_version() -> str:
    """Changes whenever anything parsing depends on changes: kb's version, the parsing modules, the dictionaries.

    The modules are documents.py and every kb module it imports, found by reading its imports (so a new
    helper module counts without being listed here).
    """
    from . import __version__
    here = Path(__file__).parent
    h = hashlib.blake2b(f"{__version__}\0{text.dictionary_hash()}".encode(), digest_size=8)
    todo, seen = ["documents"], set()
    while todo:
        name = todo.pop()
        if name in seen or not (here / f"{name}.py").exists():
            continue
        seen.add(name)
        source = (here / f"{name}.py").read_text(encoding="utf-8")
        h.update(f"{name}\0{source}".encode())
        todo += re.findall(r"from \.(\w+) import", source)
        todo += [m for names in re.findall(r"from \. import ([\w, ]+)", source) for m in re.findall(r"\w+", names)]
    return h.hexdigest()


def load_parsed(folder: Path) -> dict:
    """The documents the last build parsed, so a rebuild parses only files that changed (none if kb's parser did)."""
    try:
        saved = json.loads((folder / PARSE_CACHE).read_text(encoding="utf-8"))
        if saved.get("parser") != parser_version():
            return {}
        return {key: _document(d) for key, d in saved["documents"].items()}
    except Exception:    # none yet, or unreadable / not ours: parse everything
        return {}


def save_parsed(folder: Path, parsed: dict) -> None:
    data = {"parser": parser_version(), "documents": {k: dataclasses.asdict(d) for k, d in parsed.items()}}
    tmp = folder / f".parsed.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, folder / PARSE_CACHE)
    with contextlib.suppress(OSError):
        (folder / "parsed.pickle").unlink()     # left by kb 0.1's pickle cache, which could run code when loaded


def _document(d: dict) -> Document:
    """A Document back from the parse cache, every field converted to its type (the file is not trusted)."""
    paragraphs = [Paragraph(str(p["id"]), str(p["text"]), int(p["start"]), int(p["end"]), tuple(map(str, p["heading"])),
                            str(p.get("kind", "prose")), int(p.get("lead", 0)), str(p.get("anchor", "")))
                  for p in d["paragraphs"]]
    fields = {f.name for f in dataclasses.fields(Document)} - {"paragraphs"}
    return Document(paragraphs=paragraphs, **{k: d[k] for k in fields - {"scope"} if k in d},
                    scope=[str(s) for s in d.get("scope") or []])


def writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def build_lock(folder: Path, wait: float = 600.0):
    """Hold the index folder's build lock: a second build waits for the first (up to `wait` seconds).

    The lock is an OS file lock (flock), so a build killed with SIGKILL releases it at once.
    """
    try:
        import fcntl
    except ImportError:        # not POSIX: builds are not serialised
        yield False
        return
    with open(folder / LOCK, "a+b") as f:
        deadline, told = time.monotonic() + wait, False
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told and wait > 0:
                    log.info("another build of %s is running: waiting for it to finish", folder)
                    told = True
                if time.monotonic() > deadline:
                    raise IndexProblem(f"another build of {folder} has held its lock for over {wait:g} s: let it "
                                       f"finish, or stop it, then try again (KB_BUILD_WAIT sets how long to wait)") from None
                time.sleep(0.2)
        try:
            yield told
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)

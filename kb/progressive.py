"""Big corpora usable at once: serve a version whose vectors are not all made yet, and make the rest in the background.

`kb serve` (`KnowledgeBase.open(lexical_first=True)`) embeds for up to `Config.lexical_first_after` seconds, so a
small corpus is built whole as before. A corpus that needs longer is published at once with the vectors made so far:
BM25 finds every passage, and a passage still without its vector is found by its words only. A background thread
embeds the rest through the embedding cache, publishes a version with more vectors each time another quarter is
made and the whole index at the end; servers pick each up between requests (`KnowledgeBase.refresh`). The cache is
append-only, so nothing made is lost when the server is killed: the next start embeds only what is missing.

A version still waiting for vectors says so in its manifest ("pending" of "embeddable" passages), and the thread
writes how far it is to PROGRESS in the index folder, which every server process can read.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .embedding import EmbeddingCache, passage_text
from .types import Chunk

log = logging.getLogger("kb")

PROGRESS = "EMBEDDING.json"   # {"done", "total"}: unique passages embedded of those to embed
BATCH = 32                    # passages embedded at a time (the time limit is checked between batches)
PUBLISH_SHARE = 0.25          # a version with more vectors is published each time this share more is made


class Embedding:
    """The vectors a build still needs, made through the embedding cache: some now, the rest in the background.

    Args:
        index_dir: the index folder (its embeddings/ cache and PROGRESS file).
        embedder: the model.
        chunks: the build's chunks.
        publish: saves a version of these chunks (a chunk marked embed=False is found by its words) with these
            extra manifest entries, and returns it.
    """

    def __init__(self, index_dir: Path, embedder, chunks: list[Chunk], publish: Callable[[list[Chunk], dict], object]):
        self.index_dir, self.embedder, self.chunks, self.publish = index_dir, embedder, chunks, publish
        self.cache = EmbeddingCache(index_dir / "embeddings", embedder.id, embedder.dim)
        wanted = list(dict.fromkeys(c.id for c in chunks if c.embed))
        self.total = len(wanted)
        by_id = {c.id: c for c in chunks}
        self.todo = [by_id[i] for i in wanted if i not in self.cache]

    @property
    def done(self) -> int:
        return self.total - len(self.todo)

    def run(self, seconds: float | None = None, progress: bool = False,
            step: Callable[[], None] | None = None) -> bool:
        """Embed for up to `seconds` (None: until done); True when every vector is made."""
        from tqdm.auto import tqdm
        deadline = time.monotonic() + (seconds if seconds is not None else float("inf"))
        with tqdm(total=len(self.todo), unit="chunk", desc="embedding", disable=not progress or not self.todo,
                  leave=False, dynamic_ncols=True) as bar:
            while self.todo and time.monotonic() < deadline:
                batch, self.todo = self.todo[:BATCH], self.todo[BATCH:]
                self.cache.add([c.id for c in batch],
                               self.embedder.embed_passages([passage_text(c.embed_text) for c in batch]))
                bar.update(len(batch))
                if step:
                    step()
        return not self.todo

    def partial(self):
        """Publish the chunks with the vectors made so far (the others marked to be found by their words)."""
        waiting = {c.id for c in self.todo}
        chunks = [dataclasses.replace(c, embed=False) if c.embed and c.id in waiting else c for c in self.chunks]
        embeddable = sum(c.embed for c in self.chunks)
        index = self.publish(chunks, {"pending": embeddable - sum(c.embed for c in chunks), "embeddable": embeddable})
        log.info("serving by words while %d of %d passages wait for their vectors (embedding in the background)",
                 len(self.todo), self.total)
        return index

    def in_background(self, lock: contextlib.ExitStack) -> threading.Thread:
        """Embed the rest in a daemon thread that holds the build `lock` until the whole index is published."""
        thread = threading.Thread(target=self._finish, args=(lock,), name="kb-embedding", daemon=True)
        thread.start()
        return thread

    def _finish(self, lock: contextlib.ExitStack) -> None:
        published = self.done

        def step():
            nonlocal published
            write_progress(self.index_dir, self.done, self.total)
            if self.todo and self.done - published >= PUBLISH_SHARE * self.total:
                self.partial()
                published = self.done

        with lock:
            try:
                step()
                self.run(step=step)
                self.publish(self.chunks, {})
                log.info("all %d passages embedded: the whole index is published", self.total)
            except Exception as e:     # the server keeps serving what it has; a restart resumes from the cache
                log.warning("embedding in the background stopped (%s: %s); restart kb to resume it",
                            type(e).__name__, str(e)[:200])
            finally:
                with contextlib.suppress(OSError):
                    (self.index_dir / PROGRESS).unlink()


def write_progress(index_dir: Path, done: int, total: int) -> None:
    tmp = index_dir / f".{PROGRESS}.{os.getpid()}.tmp"
    with contextlib.suppress(OSError):
        tmp.write_text(json.dumps({"done": done, "total": total}), encoding="utf-8")
        os.replace(tmp, index_dir / PROGRESS)


def progress(index_dir: Path, manifest: dict) -> float | None:
    """How much of a version's embedding is done, 0..1; None for a whole version.

    The background build's PROGRESS file says it best; else the version's own manifest (its share at publishing).
    """
    pending, embeddable = manifest.get("pending") or 0, manifest.get("embeddable") or 0
    if not pending:
        return None
    share = 1 - pending / max(embeddable, 1)
    try:
        said = json.loads((index_dir / PROGRESS).read_text(encoding="utf-8"))
        share = max(share, int(said["done"]) / max(int(said["total"]), 1))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return min(max(share, 0.0), 0.99)

"""The KnowledgeBase facade: open (build or refresh) an index, then search and ask. Every face talks to this.

A knowledge base serves one version of its index at a time and asks its store (`Store.latest`, at most every
`Config.reload_interval` seconds, between requests) whether a build anywhere has published a newer one; it swaps
to it whole, so a request in flight finishes on the version it started with, and the old version is released
when the last such request ends. The same for a FAISS folder (CURRENT) and a Milvus alias shared by replicas.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .answering import Answerer
from .chunking import chunk_document
from .config import Config
from .documents import load_corpus
from .embedding import make_embedder
from .errors import IndexProblem, KbError, StaleIndex
from .generation import LLMAnswerer
from .lifecycle import (build_lock, expected_manifest, live_index, load_parsed, published_index, reloadable,
                        save_parsed, unsearchable, writable)
from .progressive import Embedding, progress as embedding_progress
from .site import with_page_urls
from .messages import message
from .store import Store, build_index, store_class
from .questions import check_k, check_question, follow_up_context, without_tags
from .spelling import asking_as_meant, spelled_as_meant
from .retrieval import Retriever
from .text import Tokenizer
from .types import Answer, Hit

log = logging.getLogger("kb")


@dataclass
class Serving:
    """One version of the index with the retriever and answerer over it: swapped whole (only `progress` moves)."""

    index: Store
    retriever: Retriever
    answerer: Answerer
    progress: float | None        # while some of its vectors are still being made: the share made; else None


class KnowledgeBase:
    """A question-answering knowledge base over a corpus folder.

    >>> kb = KnowledgeBase.open()
    >>> kb.ask("OpenCloudOS 9 什么时候发布？").text
    """

    def __init__(self, config: Config, index: Store, embedder, problems: list[str] | None = None,
                 tokenizer: Tokenizer | None = None):
        self.config, self.embedder = config, embedder
        self.problems = problems or []      # corpus files skipped at the last build, one line each
        # This knowledge base's own tokenizer (its dictionaries): the index was built with it, questions use it.
        self.tokenizer = tokenizer or Tokenizer(config.user_dict)
        self.llm = LLMAnswerer(config, self.tokenizer) if config.llm_base_url else None
        self._swapping = threading.Lock()
        self._looked = time.monotonic()                     # when the store was last asked for its latest version
        self._unusable: str | None = None                   # a published version that could not be served
        self._unreachable = False                           # the store did not answer the last look
        self.serving = self._prepare(index)

    index = property(lambda self: self.serving.index, doc="The index version being served.")
    retriever = property(lambda self: self.serving.retriever)
    answerer = property(lambda self: self.serving.answerer)

    @property
    def indexing(self) -> float | None:
        """While the served version still waits for some of its vectors: the share made (0..1); else None."""
        return self.serving.progress

    def _prepare(self, index: Store) -> Serving:
        cfg, progress = self.config, embedding_progress(self.config.index_path, index.manifest)
        if progress is not None:    # closeness cannot be judged without all the vectors: only the words decide
            cfg = dataclasses.replace(cfg, min_z=-math.inf, sure_z=math.inf)
        return Serving(index, Retriever(index, self.embedder, self.tokenizer, cfg.candidates,
                                        cfg.bm25_weight), Answerer(index, cfg, self.tokenizer), progress)

    def refresh(self) -> bool:
        """Serve the newest published version of the index, if a build published one since (see the module doc).

        Costs one `Store.latest()` (FAISS: a small file read; Milvus: the alias and a meta row), at most every
        `config.reload_interval` seconds; the request that finds a new version opens it (FAISS: memory-mapped,
        milliseconds). A version that cannot be opened, or was built with another model or dictionary, is not
        served: the current one stays, with one warning; so does a store that cannot be reached just now.
        Returns:
            Whether it swapped.
        """
        every, now = self.config.reload_interval, self.serving
        if every <= 0 or time.monotonic() - self._looked < every or not self._swapping.acquire(blocking=False):
            return False
        try:
            self._looked = time.monotonic()
            if now.progress is not None:
                now.progress = embedding_progress(self.config.index_path, now.index.manifest)
            name = self._latest(now.index)
            if not name or name in (now.index.version, self._unusable):
                return False
            try:
                index = store_class(self.config.store).open(self.config)
                why = reloadable(index, self.embedder, self.tokenizer.hash)
                if why:
                    raise IndexProblem(f"it was built with another {why}")
            except KbError as e:       # damaged or another model's (IndexProblem): never; unreachable: next look
                if isinstance(e, IndexProblem) and self._latest(now.index) == name:    # not just replaced
                    self._unusable = name
                    log.warning("index version %s is not served (%s); still serving %s", name, e, now.index.version)
                return False
            self.serving = self._prepare(index)
            log.info("serving index version %s (%d chunks)", index.version, len(index))
            return True
        finally:
            self._swapping.release()

    def _latest(self, index: Store) -> str:
        """The version the store publishes now ("" when it cannot be asked: keep serving what is open, and say
        so once until it answers again)."""
        try:
            name, self._unreachable = index.latest(), False
            return name
        except KbError as e:
            if not self._unreachable:
                log.warning("cannot look for a newer index (%s); still serving %s", e, index.version)
            self._unreachable = True
            return ""

    # ------------------------------------------------------------ opening

    @classmethod
    def open(cls, corpus: str | Path | None = None, index_dir: str | Path | None = None, embedder: str | None = None,
             config: Config | None = None, rebuild: bool = False, progress: bool = True, lexical_first: bool = False,
             **overrides) -> KnowledgeBase:
        """Open the knowledge base, building or refreshing its index when missing or stale.

        Args:
            corpus: folder of documents (default: ./corpus, or KB_CORPUS).
            index_dir: where the index lives (default: .kb/<corpus name> beside the corpus, or KB_INDEX_DIR).
            embedder: "e5" (bundled, default), "st:<sentence-transformers model name or path>" or
                "openai:<embedding server base URL>#<model>".
            overrides: any Config field, e.g. store="milvus", milvus_uri="kb.db" (kb/store.py); on a shared
                store without a corpus folder here, the published index is served as it is.
            config: a full Config; the arguments above and `overrides` take precedence over it.
            rebuild: rebuild even if the index is up to date.
            progress: show progress bars while building.
            lexical_first: what `kb serve` does: when embedding takes longer than config.lexical_first_after
                seconds, open at once with the vectors made so far and make the rest in the background
                (kb/progressive.py); a version still waiting for vectors is served as it is.
        Returns:
            A ready KnowledgeBase.
        """
        given = dict(corpus=corpus, index_dir=index_dir, embedder=embedder, **overrides)
        cfg = dataclasses.replace(config or Config.from_env(), **{k: v for k, v in given.items() if v is not None})
        tokenizer = Tokenizer(cfg.user_dict)
        emb = make_embedder(cfg.embedder, cfg.query_prompt, cfg.passage_prompt, cfg.embedder_api_key,
                            cfg.build_embedder)
        if cfg.store != "faiss" and not rebuild and not cfg.corpus.is_dir():
            # a replica of a shared store: it serves what was published, builds nothing, swaps to what is published
            return cls(cfg, published_index(cfg, emb), emb, tokenizer=tokenizer)
        expected = expected_manifest(cfg, emb.id)
        lexical_first = lexical_first and cfg.lexical_first_after > 0 and cfg.reload_interval > 0   # else never whole
        if not rebuild:
            try:
                kb = cls(cfg, live_index(cfg, emb, expected, partial=lexical_first), emb, tokenizer=tokenizer)
                if kb.indexing is not None:     # left unfinished (a server was stopped): resume unless another is at it
                    threading.Thread(target=cls._resume, args=(cfg, emb, expected, tokenizer), daemon=True).start()
                return kb
            except StaleIndex as e:
                log.info("%s: rebuilding", e)
            except IndexProblem as e:
                if (cfg.index_path / "CURRENT").exists():
                    log.warning("%s: rebuilding", e)
        return cls.build(cfg, emb, expected, progress, reuse_fresh=not rebuild, tokenizer=tokenizer,
                         lexical_first=lexical_first)

    @classmethod
    def build(cls, cfg: Config, emb=None, expected: dict | None = None, progress: bool = True,
              reuse_fresh: bool = False, tokenizer: Tokenizer | None = None, lexical_first: bool = False) -> KnowledgeBase:
        """Parse, chunk, embed and index the corpus, then save the index atomically (in memory if read-only).

        Builds of one index folder take turns (a file lock); with `reuse_fresh`, a build that had to wait
        uses the index the other build just made when it is what this one would have built. With `lexical_first`
        see `open`: the build's lock then stays held by the background embedding until the whole index is out.
        """
        emb = emb or make_embedder(cfg.embedder, cfg.query_prompt, cfg.passage_prompt, cfg.embedder_api_key,
                                   cfg.build_embedder)
        tokenizer = tokenizer or Tokenizer(cfg.user_dict)
        expected = expected or expected_manifest(cfg, emb.id)
        if not writable(cfg.index_path):
            log.warning("index folder %s is not writable: serving an in-memory index", cfg.index_path)
            return cls._build(cfg, emb, expected, progress, tokenizer, write=False)
        with contextlib.ExitStack() as lock:
            waited = lock.enter_context(build_lock(cfg.index_path, cfg.build_wait))
            if waited and reuse_fresh:
                try:
                    return cls(cfg, live_index(cfg, emb, expected, partial=lexical_first), emb, tokenizer=tokenizer)
                except IndexProblem:
                    pass
            return cls._build(cfg, emb, expected, progress, tokenizer, write=True,
                              foreground=cfg.lexical_first_after if lexical_first else None, lock=lock)

    @classmethod
    def _resume(cls, cfg: Config, emb, expected: dict, tokenizer: Tokenizer) -> None:
        """Finish the embedding of a version left unfinished, in this thread, unless another build is at it."""
        try:
            with contextlib.ExitStack() as lock:
                lock.enter_context(build_lock(cfg.index_path, wait=0))
                cls._build(cfg, emb, expected, False, tokenizer, write=True, foreground=0.0, lock=lock)
        except IndexProblem:
            log.info("another process is building %s: serving what it publishes", cfg.index_path)
        except Exception as e:      # a background thread: the server keeps serving what it has
            log.warning("could not resume embedding (%s: %s)", type(e).__name__, str(e)[:200])

    @classmethod
    def _build(cls, cfg: Config, emb, expected: dict, progress: bool, tokenizer: Tokenizer, write: bool,
               foreground: float | None = None, lock: contextlib.ExitStack | None = None) -> KnowledgeBase:
        """The build itself; with `foreground` seconds (and the build `lock`), see `open(lexical_first=True)`."""
        t0 = time.perf_counter()
        parsed = load_parsed(cfg.index_path)
        docs, problems = load_corpus(cfg.corpus, cfg.max_file_mb, cfg.strict, parsed=parsed,
                                     follow_symlinks=cfg.follow_symlinks)
        docs = with_page_urls(docs, cfg.corpus, cfg.source_base_url)      # citations link to the live pages
        chunks = [c for d in docs for c in chunk_document(d, cfg.chunk_chars)]
        problems += unsearchable(docs, chunks)

        def publish(chunks: list, more: dict, progress: bool = False) -> Store:
            index = build_index(docs, chunks, emb, {**expected, **more}, cfg, progress=progress, write=write,
                                tokenizer=tokenizer)
            if write:
                save_parsed(cfg.index_path, parsed)
            return index

        if foreground is not None and write and lock is not None:
            embedding = Embedding(cfg.index_path, emb, chunks, publish)
            if not embedding.run(foreground, progress):
                index = embedding.partial()
                embedding.in_background(lock.pop_all())
                return cls(cfg, index, emb, problems, tokenizer)
        index = publish(chunks, {}, progress)
        log.info("indexed %d chunks from %d documents in %.1f s", len(chunks), len(docs), time.perf_counter() - t0)
        return cls(cfg, index, emb, problems, tokenizer)

    # ------------------------------------------------------------ asking

    def search(self, query: str, k: int | None = None, lang: str | None = None) -> list[Hit]:
        """The k best source passages for `query` (aligned translations merged into one source).

        Args:
            query: words or a question, Chinese or English.
            k: how many sources (default: config.k; at most 50).
            lang: preferred language of the passages; default: the query's language.
        """
        query = check_question(query, self.config.max_question_chars, self.tokenizer)
        lang = lang or self.tokenizer.detect_language(query)
        self.refresh()
        return self.serving.retriever.search(query, check_k(k, self.config.k, lang), lang)

    def ask(self, question: str, k: int | None = None, history: list[str] | None = None, stream: bool = False):
        """Answer `question` in its language with cited sentences, or refuse when the corpus does not cover it.

        Args:
            question: the question, Chinese or English.
            k: sources to consider (default: config.k).
            history: earlier questions of the conversation, oldest first; a follow-up like "那 V9 呢？"
                is retrieved together with the previous question (or rewritten by the LLM when one is set).
            stream: return an iterator instead (see `ask_stream`).
        Returns:
            An Answer; `answer.refused` tells whether kb declined, `answer.mode` how it answered.
        """
        if stream:
            return self.ask_stream(question, k, history)
        *_, answer = self.ask_stream(question, k, history)
        return answer

    def ask_stream(self, question: str, k: int | None = None, history: list[str] | None = None) -> Iterator:
        """Yield the answer's text as it is produced (str pieces), then the final, checked Answer.

        With an LLM configured the pieces are the model's raw tokens; the final Answer is the validated,
        renumbered text, or the extractive answer if the model's output failed validation.
        """
        t0 = time.perf_counter()
        question = check_question(question, self.config.max_question_chars, self.tokenizer)
        lang = self.tokenizer.detect_language(question)
        k = check_k(k, self.config.k, lang)
        self.refresh()
        now = self.serving      # this question is answered from this version, whatever is published meanwhile
        if len(now.index) == 0:
            yield Answer(question, message("empty_kb", lang), lang, True)
            return
        asked = without_tags(question)
        # Read as meant (slips mended), then, for a follow-up with an LLM, as the model's standalone question:
        # the answer says how it read the question whenever that differs from what was asked.
        query = spelled_as_meant(now.index, asking_as_meant(asked, self.tokenizer.is_word), self.tokenizer)
        context = follow_up_context(question, history or [], self.tokenizer)
        if context and self.llm and (standalone := self.llm.condense(query, history or [], lang)):
            query, context = standalone, ""
        hits = now.retriever.search(query, k, lang, context=context)
        answer = now.answerer.answer(query, lang, hits, context=context)
        answer.question, answer.read_as = question, query if query != asked else ""
        note = ""
        if now.progress is not None:     # some vectors are missing: say so, and never that the corpus lacks it
            pct = math.floor(100 * now.progress)
            answer.signals["indexing"] = round(now.progress, 2)
            if answer.refused:
                answer.text = message("indexing_refused", lang, pct=pct)
            else:
                note = "\n" + message("indexing_note", lang, pct=pct)
        if self.llm and not answer.refused:      # kb decides first: a refused question never reaches the LLM
            answer = yield from self.llm.answer(answer, query, lang, hits)
            answer.text += note
        else:
            answer.text += note
            yield answer.text
        answer.seconds = round(time.perf_counter() - t0, 4)
        yield answer

    def __repr__(self):
        m = self.index.manifest
        return f"KnowledgeBase({m.get('documents')} documents, {m.get('chunks')} chunks, {m.get('embedder')})"



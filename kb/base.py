"""The KnowledgeBase facade: open (build or refresh) an index, then search and ask. Every face talks to this."""
from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from .answering import Answerer
from .chunking import chunk_document
from .config import Config
from .documents import load_corpus
from .embedding import make_embedder
from .errors import IndexProblem, StaleIndex
from .generation import LLMAnswerer
from .lifecycle import (build_lock, expected_manifest, live_index, load_parsed, published_index, save_parsed,
                        unsearchable, writable)
from .site import with_page_urls
from .messages import message
from .store import Store, build_index
from .questions import check_k, check_question, follow_up_context, without_tags
from .retrieval import Retriever
from .text import Tokenizer
from .types import Answer, Hit

log = logging.getLogger("kb")


class KnowledgeBase:
    """A question-answering knowledge base over a corpus folder.

    >>> kb = KnowledgeBase.open()
    >>> kb.ask("OpenCloudOS 9 什么时候发布？").text
    """

    def __init__(self, config: Config, index: Store, embedder, problems: list[str] | None = None,
                 tokenizer: Tokenizer | None = None):
        self.config, self.index, self.embedder = config, index, embedder
        self.problems = problems or []      # corpus files skipped at the last build, one line each
        # This knowledge base's own tokenizer (its dictionaries): the index was built with it, questions use it.
        self.tokenizer = tokenizer or Tokenizer(config.user_dict)
        self.retriever = Retriever(index, embedder, self.tokenizer, config.candidates, config.rrf_k, config.bm25_weight)
        self.answerer = Answerer(index, config, self.tokenizer)
        self.llm = LLMAnswerer(config, self.tokenizer) if config.llm_base_url else None

    # ------------------------------------------------------------ opening

    @classmethod
    def open(cls, corpus: str | Path | None = None, index_dir: str | Path | None = None, embedder: str | None = None,
             config: Config | None = None, rebuild: bool = False, progress: bool = True, **overrides) -> KnowledgeBase:
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
        Returns:
            A ready KnowledgeBase.
        """
        given = dict(corpus=corpus, index_dir=index_dir, embedder=embedder, **overrides)
        cfg = dataclasses.replace(config or Config.from_env(), **{k: v for k, v in given.items() if v is not None})
        tokenizer = Tokenizer(cfg.user_dict)
        emb = make_embedder(cfg.embedder, cfg.query_prompt, cfg.passage_prompt, cfg.embedder_api_key,
                            cfg.build_embedder)
        if cfg.store != "faiss" and not rebuild and not cfg.corpus.is_dir():
            # a replica of a shared store: it serves what was published and builds nothing
            return cls(cfg, published_index(cfg, emb), emb, tokenizer=tokenizer)
        expected = expected_manifest(cfg, emb.id)
        if not rebuild:
            try:
                return cls(cfg, live_index(cfg, emb, expected), emb, tokenizer=tokenizer)
            except StaleIndex as e:
                log.info("%s: rebuilding", e)
            except IndexProblem as e:
                if (cfg.index_path / "CURRENT").exists():
                    log.warning("%s: rebuilding", e)
        return cls.build(cfg, emb, expected, progress, reuse_fresh=not rebuild, tokenizer=tokenizer)

    @classmethod
    def build(cls, cfg: Config, emb=None, expected: dict | None = None, progress: bool = True,
              reuse_fresh: bool = False, tokenizer: Tokenizer | None = None) -> KnowledgeBase:
        """Parse, chunk, embed and index the corpus, then save the index atomically (in memory if read-only).

        Builds of one index folder take turns (a file lock); with `reuse_fresh`, a build that had to wait
        uses the index the other build just made when it is what this one would have built.
        """
        emb = emb or make_embedder(cfg.embedder, cfg.query_prompt, cfg.passage_prompt, cfg.embedder_api_key,
                                   cfg.build_embedder)
        tokenizer = tokenizer or Tokenizer(cfg.user_dict)
        expected = expected or expected_manifest(cfg, emb.id)
        if not writable(cfg.index_path):
            log.warning("index folder %s is not writable: serving an in-memory index", cfg.index_path)
            return cls._build(cfg, emb, expected, progress, tokenizer, write=False)
        with build_lock(cfg.index_path, cfg.build_wait) as waited:
            if waited and reuse_fresh:
                try:
                    return cls(cfg, live_index(cfg, emb, expected), emb, tokenizer=tokenizer)
                except IndexProblem:
                    pass
            return cls._build(cfg, emb, expected, progress, tokenizer, write=True)

    @classmethod
    def _build(cls, cfg: Config, emb, expected: dict, progress: bool, tokenizer: Tokenizer,
               write: bool) -> KnowledgeBase:
        t0 = time.perf_counter()
        parsed = load_parsed(cfg.index_path)
        docs, problems = load_corpus(cfg.corpus, cfg.max_file_mb, cfg.strict, parsed=parsed,
                                     follow_symlinks=cfg.follow_symlinks)
        docs = with_page_urls(docs, cfg.corpus, cfg.source_base_url)      # citations link to the live pages
        chunks = [c for d in docs for c in chunk_document(d, cfg.chunk_chars)]
        problems += unsearchable(docs, chunks)
        index = build_index(docs, chunks, emb, expected, cfg, progress=progress, write=write, tokenizer=tokenizer)
        if write:
            save_parsed(cfg.index_path, parsed)
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
        return self.retriever.search(query, check_k(k, self.config.k, lang), lang)

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
        if len(self.index) == 0:
            yield Answer(question, message("empty_kb", lang), lang, True)
            return
        query, context = without_tags(question), follow_up_context(question, history or [], self.tokenizer)
        if context and self.llm:
            standalone = self.llm.condense(question, history or [], lang)
            query, context = (standalone, "") if standalone else (question, context)
        hits = self.retriever.search(query, k, lang, context=context)
        answer = self.answerer.answer(query, lang, hits, context=context)
        answer.question = question
        if self.llm and not answer.refused:      # kb decides first: a refused question never reaches the LLM
            answer = yield from self.llm.answer(answer, query, lang, hits)
        else:
            yield answer.text
        answer.seconds = round(time.perf_counter() - t0, 4)
        yield answer

    def __repr__(self):
        m = self.index.manifest
        return f"KnowledgeBase({m.get('documents')} documents, {m.get('chunks')} chunks, {m.get('embedder')})"



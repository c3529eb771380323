"""The KnowledgeBase facade: open (build or refresh) an index, then search and ask. Every face talks to this."""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import pickle
import time
from collections.abc import Iterator
from pathlib import Path

from . import text
from .answering import Answerer
from .chunking import chunk_document
from .config import Config
from .documents import SUFFIXES, corpus_files, load_corpus
from .embedding import make_embedder
from .errors import IndexProblem
from .generation import LLMAnswerer
from .index import FORMAT, Index, build_index, load_index
from .messages import message
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

    def __init__(self, config: Config, index: Index, embedder, problems: list[str] | None = None,
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
            embedder: "e5" (bundled, default) or "st:<sentence-transformers model name or path>".
            config: a full Config; the arguments above and `overrides` take precedence over it.
            rebuild: rebuild even if the index is up to date.
            progress: show progress bars while building.
        Returns:
            A ready KnowledgeBase.
        """
        given = dict(corpus=corpus, index_dir=index_dir, embedder=embedder, **overrides)
        cfg = dataclasses.replace(config or Config.from_env(), **{k: v for k, v in given.items() if v is not None})
        tokenizer = Tokenizer(cfg.user_dict)
        emb = make_embedder(cfg.embedder, cfg.query_prompt, cfg.passage_prompt)
        expected = _expected_manifest(cfg, emb.id)
        if not rebuild:
            try:
                index = load_index(cfg.index_path)
                stale = [k for k, v in expected.items() if index.manifest.get(k) != v]
                if stale:
                    log.info("index is out of date (%s): rebuilding", "; ".join(
                        _changed(k, index.manifest.get(k), expected[k]) for k in stale))
                elif index.dense.d != emb.dim:    # same model name, another model (e.g. a path now holding another)
                    log.warning("index in %s holds vectors of dimension %d but the embedder %s makes %d: rebuilding",
                                cfg.index_path, index.dense.d, emb.id, emb.dim)
                else:
                    return cls(cfg, index, emb, tokenizer=tokenizer)
            except IndexProblem as e:
                if (cfg.index_path / "CURRENT").exists():
                    log.warning("%s: rebuilding", e)
        return cls.build(cfg, emb, expected, progress, tokenizer)

    @classmethod
    def build(cls, cfg: Config, emb=None, expected: dict | None = None, progress: bool = True,
              tokenizer: Tokenizer | None = None) -> KnowledgeBase:
        """Parse, chunk, embed and index the corpus, then save the index atomically (in memory if read-only)."""
        emb = emb or make_embedder(cfg.embedder, cfg.query_prompt, cfg.passage_prompt)
        tokenizer = tokenizer or Tokenizer(cfg.user_dict)
        expected = expected or _expected_manifest(cfg, emb.id)
        t0 = time.perf_counter()
        writable = _writable(cfg.index_path)
        parsed = _parsed_documents(cfg.index_path)
        docs, problems = load_corpus(cfg.corpus, cfg.max_file_mb, cfg.strict, parsed=parsed)
        chunks = [c for d in docs for c in chunk_document(d, cfg.chunk_chars)]
        if not writable:
            log.warning("index folder %s is not writable: serving an in-memory index", cfg.index_path)
        index = build_index(docs, chunks, emb, expected, cfg.index_path, progress=progress, write=writable,
                            index_type=cfg.index_type, approximate_above=cfg.approximate_above, tokenizer=tokenizer)
        if writable:
            _save_parsed_documents(cfg.index_path, parsed)
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


def _changed(key: str, old, new) -> str:
    """One change that makes an index stale, in words: "embedder a -> b", or "corpus changed" for a hash."""
    if key in ("corpus", "dictionary") or old is None:
        return f"{key} changed"
    return f"{key} {old} -> {new}"


def _expected_manifest(cfg: Config, embedder_id: str) -> dict:
    """What the live index must have been built from; any difference means a rebuild."""
    return {"format": FORMAT, "embedder": embedder_id, "corpus": corpus_fingerprint(cfg.corpus),
            "dictionary": text.dictionary_hash(cfg.user_dict), "chunking": {"chunk_chars": cfg.chunk_chars},
            "index_type": cfg.index_type}


def corpus_fingerprint(folder: Path) -> str:
    """Hash of every corpus file's path and bytes (reading is fast; mtimes change on every git clone)."""
    h = hashlib.sha1()
    for p in corpus_files(folder):
        if p.suffix.lower() in SUFFIXES:
            h.update(p.relative_to(folder).as_posix().encode() + b"\0")
            h.update(hashlib.sha1(p.read_bytes()).digest())
    return h.hexdigest()[:16]


_PARSER = hashlib.sha1(Path(__file__).with_name("documents.py").read_bytes()).hexdigest()[:16]


def _parsed_documents(folder: Path) -> dict:
    """The documents the last build parsed, so a rebuild parses only files that changed (none if kb's parser did)."""
    try:
        with open(folder / "parsed.pickle", "rb") as f:
            saved = pickle.load(f)
        return saved["documents"] if saved.get("parser") == _PARSER else {}
    except Exception:    # none yet, or unreadable: parse everything
        return {}


def _save_parsed_documents(folder: Path, parsed: dict) -> None:
    tmp = folder / f".parsed.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        pickle.dump({"parser": _PARSER, "documents": parsed}, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, folder / "parsed.pickle")


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return True
    except OSError:
        return False

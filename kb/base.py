"""The KnowledgeBase facade: open (build or refresh) an index, then search and ask. Every face talks to this."""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import pickle
import re
import time
from collections.abc import Iterator
from pathlib import Path

from . import text
from .answering import Answerer
from .chunking import chunk_document
from .config import Config
from .documents import SUFFIXES, corpus_files, load_corpus
from .embedding import make_embedder
from .errors import IndexProblem, QuestionError
from .generation import LLM, NO_ANSWER, Checked, LLMError, build_messages, check, condense_messages
from .index import FORMAT, Index, build_index, load_index
from .site import set_page_urls
from .messages import message
from .retrieval import Retriever
from .types import Answer, Hit

log = logging.getLogger("kb")


class KnowledgeBase:
    """A question-answering knowledge base over a corpus folder.

    >>> kb = KnowledgeBase.open()
    >>> kb.ask("OpenCloudOS 9 什么时候发布？").text
    """

    def __init__(self, config: Config, index: Index, embedder, problems: list[str] | None = None):
        self.config, self.index, self.embedder = config, index, embedder
        self.problems = problems or []      # corpus files skipped at the last build, one line each
        self.retriever = Retriever(index, embedder, config.candidates, config.rrf_k, config.bm25_weight)
        self.answerer = Answerer(index, config)
        self.llm = LLM(config.llm_base_url, config.llm_model, config.llm_api_key, config.llm_timeout,
                       max_tokens=config.llm_max_tokens) if config.llm_base_url else None

    # ------------------------------------------------------------ opening

    @classmethod
    def open(cls, corpus: str | Path | None = None, index_dir: str | Path | None = None, embedder: str | None = None,
             config: Config | None = None, rebuild: bool = False, progress: bool = True, **overrides) -> "KnowledgeBase":
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
        text.use_user_dict(cfg.user_dict)
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
                    return cls(cfg, index, emb)
            except IndexProblem as e:
                if (cfg.index_path / "CURRENT").exists():
                    log.warning("%s: rebuilding", e)
        return cls.build(cfg, emb, expected, progress)

    @classmethod
    def build(cls, cfg: Config, emb=None, expected: dict | None = None, progress: bool = True) -> "KnowledgeBase":
        """Parse, chunk, embed and index the corpus, then save the index atomically (in memory if read-only)."""
        emb = emb or make_embedder(cfg.embedder, cfg.query_prompt, cfg.passage_prompt)
        expected = expected or _expected_manifest(cfg, emb.id)
        t0 = time.perf_counter()
        writable = _writable(cfg.index_path)
        parsed = _parsed_documents(cfg.index_path)
        docs, problems = load_corpus(cfg.corpus, cfg.max_file_mb, cfg.strict, parsed=parsed)
        set_page_urls(docs, cfg.corpus, cfg.source_base_url)      # citations link to the live pages
        chunks = [c for d in docs for c in chunk_document(d, cfg.chunk_chars)]
        if not writable:
            log.warning("index folder %s is not writable: serving an in-memory index", cfg.index_path)
        index = build_index(docs, chunks, emb, expected, cfg.index_path, progress=progress, write=writable,
                            index_type=cfg.index_type, hnsw_above=cfg.hnsw_above)
        if writable:
            _save_parsed_documents(cfg.index_path, parsed)
        log.info("indexed %d chunks from %d documents in %.1f s", len(chunks), len(docs), time.perf_counter() - t0)
        return cls(cfg, index, emb, problems)

    # ------------------------------------------------------------ asking

    def search(self, query: str, k: int | None = None, lang: str | None = None) -> list[Hit]:
        """The k best source passages for `query` (aligned translations merged into one source).

        Args:
            query: words or a question, Chinese or English.
            k: how many sources (default: config.k).
            lang: preferred language of the passages; default: the query's language.
        """
        query = self._check(query)
        lang = lang or text.detect_language(query)
        return self.retriever.search(query, self._k(k, lang), lang)

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
        question = self._check(question)
        lang = text.detect_language(question)
        k = self._k(k, lang)
        if len(self.index) == 0:
            yield Answer(question, message("empty_kb", lang), lang, True)
            return
        query, context = _TAG.sub(" ", question), follow_up_context(question, history or [])
        if context and self.llm:
            query, context = self._condense(question, history, lang)
        hits = self.retriever.search(query, k, lang, context=context)
        answer = self.answerer.answer(query, lang, hits, context=context)
        answer.question = question
        if self.llm and not answer.refused:      # kb decides first: a refused question never reaches the LLM
            answer = yield from self._generate(answer, query, lang, hits)
        else:
            yield answer.text
        answer.seconds = round(time.perf_counter() - t0, 4)
        yield answer

    def _generate(self, extractive: Answer, query: str, lang: str, hits: list[Hit]):
        passages, out, holding = hits[:self.config.llm_passages], [], True
        try:
            for piece in self.llm.stream(build_messages(query, lang, passages)):
                out.append(piece)
                if holding and NO_ANSWER.startswith("".join(out).strip()):
                    continue                      # may still turn out to be NO_ANSWER: show nothing yet
                yield "".join(out) if holding else piece
                holding = False
            budget = 2 * (self.config.max_chars_zh if lang == "zh" else self.config.max_chars_en)
            checked = check("".join(out), query, lang, passages, self.config.llm_min_support, budget)
        except LLMError as e:
            checked = Checked(False, str(e))
        if not checked.ok:
            log.info("generative answer not used (%s): extractive answer instead", checked.reason)
            extractive.signals["fallback"] = checked.reason
            return extractive
        return Answer(extractive.question, checked.text, lang, False, checked.citations, mode="generative",
                      signals=extractive.signals)

    def _condense(self, question: str, history: list[str], lang: str) -> tuple[str, str]:
        """A follow-up rewritten by the LLM into a standalone question; kb's own rule if that fails."""
        try:
            standalone = self.llm.chat(condense_messages(question, history, lang), max_tokens=80).strip()
        except LLMError as e:
            log.info("could not condense the follow-up (%s)", e)
            standalone = ""
        standalone = standalone.splitlines()[0].strip() if standalone else ""
        if 0 < len(standalone) <= 300 and text.detect_language(standalone) == lang:
            return standalone, ""
        return question, follow_up_context(question, history)

    def _k(self, k: int | None, lang: str = "en") -> int:
        """k as asked, at most 50; zero or negative is the caller's mistake, said in the asker's language."""
        k = self.config.k if k is None else k
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise QuestionError(message("bad_k", lang, k=k))
        return min(k, 50)

    def _check(self, question) -> str:
        if not isinstance(question, str):
            raise QuestionError(message("empty_question", "en"))
        question = _LONE_SURROGATE.sub("", question).strip()   # JSON lets them in; UTF-8 cannot carry them back out
        if not any(ch.isalnum() for ch in question):   # nothing to go on, not even the asker's language
            raise QuestionError(message("empty_question", "zh") + " / " + message("empty_question", "en"))
        lang = text.detect_language(question[:500])
        if len(question) > self.config.max_question_chars:
            raise QuestionError(message("question_too_long", lang, n=len(question), limit=self.config.max_question_chars))
        return question

    def __repr__(self):
        m = self.index.manifest
        return f"KnowledgeBase({m.get('documents')} documents, {m.get('chunks')} chunks, {m.get('embedder')})"


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_TAG = re.compile(r"</?[A-Za-z][^<>]{0,200}>")   # HTML pasted into a question is not what it asks about
_FOLLOW_UP = ("那", "那么", "还有", "呢", "它", "其", "and ", "what about", "how about", "and?", "it ", "its ", "they ", "that ")


def follow_up_context(question: str, history: list[str]) -> str:
    """The previous question when this one is a follow-up (short, or opening with "那", "and", "what about"…)."""
    if not history:
        return ""
    q = question.strip().lower()
    if len(text.tokenize(q)) <= 2 or q.startswith(_FOLLOW_UP) or q.endswith(("呢？", "呢?", "呢")):
        return history[-1]
    return ""


def _changed(key: str, old, new) -> str:
    """One change that makes an index stale, in words: "embedder a -> b", or "corpus changed" for a hash."""
    if key in ("corpus", "dictionary") or old is None:
        return f"{key} changed"
    return f"{key} {old} -> {new}"


def _expected_manifest(cfg: Config, embedder_id: str) -> dict:
    """What the live index must have been built from; any difference means a rebuild."""
    return {"format": FORMAT, "embedder": embedder_id, "corpus": corpus_fingerprint(cfg.corpus),
            "dictionary": text.dictionary_hash(), "chunking": {"chunk_chars": cfg.chunk_chars},
            "source_base_url": cfg.source_base_url,
            "index_type": cfg.index_type}


def corpus_fingerprint(folder: Path) -> str:
    """Hash of every corpus file's path and bytes (reading is fast; mtimes change on every git clone)."""
    h = hashlib.sha1()
    for p in corpus_files(folder):
        if p.suffix.lower() in SUFFIXES:
            h.update(p.relative_to(folder).as_posix().encode() + b"\0")
            h.update(hashlib.sha1(p.read_bytes()).digest())
    return h.hexdigest()[:16]


_PARSER = hashlib.sha1(b"".join(Path(__file__).with_name(f).read_bytes()
                             for f in ("documents.py", "markdown.py", "site.py"))).hexdigest()[:16]


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

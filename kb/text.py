"""Text processing shared by indexing, querying, answering and evaluation.

A knowledge base's `Tokenizer` is its one tokenizer: BM25 at index and query time, sentence scoring,
the refusal check and the answer check all use it, so they can never disagree about what a word is.
"""
from __future__ import annotations

import hashlib
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import KbError

USER_DICT = Path(__file__).parent / "data" / "userdict.txt"
TOKENIZER_VERSION = "4"   # bump when tokenize() changes, so existing indexes are rebuilt

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
HAN_RE = re.compile(f"[{_HAN}]")
ENGLISH_WORD = re.compile(r"[a-z][a-z0-9-]*")      # an English word of lowercased text, as dictionaries list it
ITEM_MARK = re.compile(r"\s*(?:[-*+•]|\d+[.)、])\s+")   # what opens a list item in a passage's text: "- ", "1. ", "2、"
WEB_ADDRESS = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")   # the characters an address may hold
_WORDISH = re.compile(f"[{_HAN}A-Za-z0-9]")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_WORD_OR_CODE = re.compile(r"[A-Za-z][A-Za-z'-]*(?:[\w.]*\w)?")      # a word, or a name in code ("cpu.cfs_quota_us", "v1")
_ALNUM_SPLIT = re.compile(r"^([a-z]+)(\d+)$")

STOPWORDS_FILE = Path(__file__).parent / "data" / "stopwords.txt"
# Words that carry no topic: question frames, function words and filler in both languages.
STOPWORDS = frozenset(w for line in STOPWORDS_FILE.read_text(encoding="utf-8").splitlines()
                      if not line.startswith("#") for w in line.split())

_ZH_FRAME = set("的了是吗呢吧么什怎哪谁几在和与")   # function characters: they weigh double, like "the" or "does"
# Full-width marks end a sentence anywhere; ASCII ones only before a space or the end (not inside a URL's "?x=1").
_SENTENCE_END = re.compile(r"[。！？；]+[”’」』）)\"']*|[!?;.]+[”’」』）)\"']*(?=\s|$)|\n+")


def normalize(text: str) -> str:
    """Fold full-width forms (NFKC) and Traditional to Simplified Chinese; drop control and invisible characters."""
    text = unicodedata.normalize("NFKC", text)
    if not text.replace("\n", " ").replace("\t", " ").isprintable():   # only then may it hold NUL, zero-width…:
        text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")   # (a slow loop)
    if HAN_RE.search(text):
        text = _to_simplified(text)
    return text


def _to_simplified(text: str) -> str:
    import zhconv  # small, pure Python; only needed for Chinese text
    return zhconv.convert(text, "zh-cn")


def dictionary_hash(user_dict: Path | None = None) -> str:
    """Changes whenever kb's tokenizer, its dictionary or `user_dict` changes, so an index tokenized with the
    old ones is rebuilt."""
    h = hashlib.sha1(TOKENIZER_VERSION.encode() + STOPWORDS_FILE.read_bytes())
    for p in [USER_DICT] + ([Path(user_dict)] if user_dict else []):
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


class Tokenizer:
    """kb's dictionary plus an optional user dictionary, and everything that depends on them: search tokens,
    domain terms, language detection.

    Each knowledge base owns one (its own jieba instance and memo), so two knowledge bases with different
    dictionaries in one process never change each other's tokens. jieba loads on the first `tokenize`.
    """

    def __init__(self, user_dict: Path | str | None = None):
        self.user_dict = Path(user_dict) if user_dict else None
        if self.user_dict and not self.user_dict.is_file():
            raise KbError(f"user dictionary {self.user_dict} not found: give a jieba dictionary file "
                          "(one word a line) or leave KB_USER_DICT unset")
        self.hash = dictionary_hash(self.user_dict)          # in the index manifest: a change means a rebuild
        words = []
        for p in [USER_DICT] + ([self.user_dict] if self.user_dict else []):
            for line in p.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    m = re.match(r"^(.+?)(?: \d+)?(?: [a-z]+)?$", line)     # "word [frequency] [part of speech]"
                    words.append((m.group(1) if m else line).lower())
        self._words = words                                  # in file order, for jieba
        self.domain_terms = frozenset(words)
        # Longest first, so "page cache limit" wins over "page cache"; each is replaced in language detection.
        self._by_length = sorted((w for w in self.domain_terms if len(w) > 1), key=len, reverse=True)
        multi = [w for w in self._by_length if " " in w]
        self._phrases = re.compile("|".join(re.escape(w) for w in multi)) if multi else None
        self._jieba: Any = None
        self._tagger: Any = None
        self._lock = threading.Lock()
        # Memoised per tokenizer: the sentences of the passages an answer draws on come back question after question.
        # 601 questions asked twice over the docs site's 12,620 passages use about 18,500 entries (4 MB).
        self._tokens = lru_cache(maxsize=65536)(self._segment)
        # And per run of letters, digits or Han characters, which jieba cuts one by one: a sentence, its paragraph
        # and its section share their runs (segmenting all the site's passages and questions: 10.4 s -> 5.3 s).
        self._runs = lru_cache(maxsize=65536)(self._cut_run)

    def __repr__(self):
        return f"Tokenizer(user_dict={self.user_dict})"

    def tokenize(self, text: str, keep_stopwords: bool = False) -> list[str]:
        """Normalise and segment mixed Chinese/English text into lowercase search tokens.

        Dictionary terms stay whole ("page cache limit", "开放原子开源基金会"); long words also yield the
        sub-words jieba's search mode finds, so a query for "基金会" still matches.
        """
        return list(self._tokens(text, keep_stopwords))

    def segment(self, text: str) -> tuple[str, ...]:
        """`tokenize` without keeping the whole text's tokens (its runs' are kept), for text seen once (a typo's
        candidate spellings) that would crowd the cache."""
        return self._segment(text, False)

    def is_word(self, text: str) -> bool:
        """Is `text` a word of jieba's dictionary (Chinese at large) or of this tokenizer's own?"""
        return self._jieba_tokenizer().FREQ.get(text, 0) > 0

    def detect_language(self, text: str) -> str:
        """"zh" or "en" from the sentence frame, not single characters.

        Domain terms ("cgroupfs", "热补丁") are neutral; English function words weigh double, so
        "does the kernel support 热补丁?" is English and "OpenCloudOS 的 cgroupfs 是什么" is Chinese.
        """
        text = original = normalize(text)
        for phrase in self._by_length:
            if phrase in text.lower():
                text = re.sub(re.escape(phrase), " ", text, flags=re.IGNORECASE)
        han = sum(2 if ch in _ZH_FRAME else 1 for ch in HAN_RE.findall(text))
        en = 0.0
        for w in _WORD_OR_CODE.findall(text):
            w = w.lower()
            if _LATIN_WORD.fullmatch(w) and w not in self.domain_terms and len(w) > 1:     # not in code: "cpu.cfs_quota_us"
                en += 2 if w in STOPWORDS else 1
        if han == 0 and en == 0:
            return "zh" if HAN_RE.search(original) else "en"   # only domain terms: their script decides
        return "zh" if han / 1.5 >= en else "en"

    def verbs(self, text: str) -> set[str]:
        """The words of two characters or more that jieba's tagger calls verbs ("打开", "开启"; not "站" of "文档站"),
        as `tokenize` writes them: what a how-to question asks to do."""
        if self._tagger is None:
            import jieba.posseg
            self._tagger = jieba.posseg.POSTokenizer(self._jieba_tokenizer())
        return {w.word for w in self._tagger.cut(normalize(text).lower()) if w.flag == "v" and len(w.word) > 1}

    def _jieba_tokenizer(self):
        """This tokenizer's own jieba instance, loaded once with the dictionaries and without log noise."""
        if self._jieba is None:
            with self._lock:
                if self._jieba is None:
                    import jieba
                    tok = jieba.Tokenizer()
                    freq, total = _jieba_dictionary()
                    tok.FREQ, tok.total, tok.initialized = dict(freq), total, True    # what initialize() sets
                    for w in self._words:
                        if " " not in w:
                            tok.add_word(w, 1000)
                    self._jieba = tok
        return self._jieba

    def _segment(self, text: str, keep_stopwords: bool) -> tuple[str, ...]:
        from jieba import re_han_default as runs      # how jieba splits a text before cutting each run
        text = normalize(text).lower()
        pieces, pos = [], 0
        for m in (self._phrases.finditer(text) if self._phrases else ()):
            pieces.append((text[pos:m.start()], False))
            pieces.append((m.group(0), True))
            pos = m.end()
        pieces.append((text[pos:], False))
        out: list[str] = []
        for piece, is_phrase in pieces:
            if is_phrase:
                out += self._tokens_of([piece] + piece.split(), keep_stopwords)
            else:
                for run in runs.split(piece):
                    if run:
                        out += self._runs(run, keep_stopwords)
        return tuple(out)

    def _cut_run(self, run: str, keep_stopwords: bool) -> tuple[str, ...]:
        return self._tokens_of(self._jieba_tokenizer().cut_for_search(run), keep_stopwords)

    def _tokens_of(self, words: Iterable[str], keep_stopwords: bool) -> tuple[str, ...]:
        """jieba's words as search tokens: stripped, stemmed, without punctuation (and stopwords, unless kept)."""
        out = []
        for w in words:
            w = w.strip()
            if not w or not _WORDISH.search(w):
                continue
            split = _ALNUM_SPLIT.match(w)       # "centos8" also yields "centos" and "8"
            for t in (w, *(split.groups() if split else ())):
                if keep_stopwords or t not in STOPWORDS:
                    out.append(self._stem(t))
        return tuple(out)

    def _stem(self, tok: str) -> str:
        """A light English stemmer ("founded", "founding" -> "found"; "releases" -> "releas"); names are left alone."""
        if not (tok.isascii() and tok.isalpha() and len(tok) > 3) or tok in self.domain_terms:
            return tok
        if tok.endswith("ies") and len(tok) > 4:
            return tok[:-3] + "y"
        for suffix in ("ing", "ed", "es", "s"):
            if tok.endswith(suffix) and len(tok) - len(suffix) >= 3 and not tok.endswith(("ss", "us", "is", "os")):
                tok = tok[: -len(suffix)]
                break
        return tok[:-1] if tok.endswith("e") and len(tok) > 3 else tok


@lru_cache(maxsize=1)
def _jieba_dictionary() -> tuple[dict[str, int], int]:
    """jieba's own dictionary (word -> frequency, total), loaded once per process: it never changes, and each
    Tokenizer adds its words to a copy (milliseconds, where loading takes a second or more)."""
    import jieba
    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.initialize()
    return tok.FREQ, tok.total


@lru_cache(maxsize=1)
def default_tokenizer() -> Tokenizer:
    """The tokenizer with kb's own dictionary only, for code that has no knowledge base at hand (a corpus file's
    language tag, the refusal baseline's questions, tests). Shared safely: nothing can change its dictionary."""
    return Tokenizer()


def tokenize(text: str, keep_stopwords: bool = False) -> list[str]:
    """`Tokenizer.tokenize` with kb's own dictionary (a knowledge base uses its `tokenizer`)."""
    return default_tokenizer().tokenize(text, keep_stopwords)


def detect_language(text: str) -> str:
    """`Tokenizer.detect_language` with kb's own dictionary (a knowledge base uses its `tokenizer`)."""
    return default_tokenizer().detect_language(text)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Spans of the sentences in `text` (ending at 。！？；!?; a full stop before a space, or a newline)."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((start, m.end()))
        start = m.end()
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        seg = text[s:e]
        s2, e2 = s + len(seg) - len(seg.lstrip()), e - (len(seg) - len(seg.rstrip()))
        if e2 > s2 and _WORDISH.search(text[s2:e2]):
            out.append((s2, e2))
    return out


def squash(text: str) -> str:
    """Text with all whitespace removed, for comparing passages regardless of layout."""
    return re.sub(r"\s+", "", text)

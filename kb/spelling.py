"""Typo tolerance: a question word the corpus never uses is mapped to the corpus word it was meant to be.

Chinese typos are mostly homophones typed with a pinyin IME (发部 for 发布, 模试 for 模式), so a Chinese
word matches a corpus word of the same length and the same toneless pinyin; so do two characters that the
segmenter left single because one is mistyped (内和 for 内核). English typos match the corpus word one slip away:
two neighbouring letters swapped (riad/raid) first, then a letter missing, one too many or a wrong one
(kernal/kernel, comunity/community, kdimp/kdump), the word more passages use among those; a four-letter word only
one with a letter more (locle/locale: stemmed "locl", "local"). Failing those, a word that shares a deletion with
it (two letters apart) still counts in weighing the question, but retrieval embeds only what is one slip away
(`as_meant`: "fireawlld" is embedded as firewalld, and "clean" is not turned into "clang").

A homophone typo can also be a real word: "journalctl 怎么清楚所有日志" means 清除 (to clear), but 清楚 (clear,
as in understood) is a word too, and the corpus uses it. Such a word is meant as its homophone when the homophone
keeps the question's other words company far more often, and the corpus uses it more (`meant`): the passages
with 清除 are about logs, those with 清楚 are not.

The words a Chinese question asks with are no corpus words, so a slip in them is put right by sound alone
(`asking_as_meant`: "纳些" is 哪些, "机个" 几个; and the spoken "啥" is 什么), before anything else reads the
question: what kind of answer it wants ("几个": a number) is read from them.

Then the question's other slips are mended as typed (`spelled_as_meant`), not as tokens: the stemmer cuts a
misspelt word to a stem too short to tell ("tumed": "tum"), and jieba reads a slip as words ("版本好": 版本, 好).
A Latin word becomes one the corpus writes (the build keeps them: `spellings`), a Chinese character that no word
covers the homophone that makes a corpus word with its neighbours.
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from string import ascii_lowercase
from functools import lru_cache
import threading
import weakref

import numpy as np

from .text import HAN_RE, STOPWORDS

_LATIN_WORD = re.compile(r"(?<![A-Za-z0-9_.-])[A-Za-z]{4,}(?![A-Za-z0-9_.-])")
DOMINANT = 10          # a word whose token the corpus uses ("Tase": tas) is a slip only for one 10x as common
LONGEST_WORD = 40      # a longer run of letters is no word to mend (and would cost a second: 50,000 candidates)
MOST_SUSPECTS = 12     # Chinese characters no word covers, mended at most in a question (a real one has a few)
HOMOPHONE_RATIO = 3    # a homophone is meant when it shares passages with the question's other words 3x as often
SMOOTHING = 5          # (shares measured as in kb/translation.py: a word used in 1 passage is less sure than in 5 of 10)

# One Speller per index, made on first use and dropped with the index. It cannot clash between knowledge
# bases: it is derived from nothing but that index's own (read-only) vocabulary, so whoever shares the index
# would build the very same one.
_spellers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _speller(index) -> Speller:
    sp = _spellers.get(index)
    if sp is None:
        with _lock:
            sp = _spellers.get(index) or _spellers.setdefault(index, Speller(index.lexicon.vocab, index.lexicon.df))
    return sp


def corrected(index, tokens: list[str], pieces: Sequence[str] = ()) -> list[str]:
    """`tokens` with each word unknown to the index replaced by its likely intended corpus word (if any); with
    `pieces` (the same text segmented with its stopwords), also the corpus word meant by two characters the
    segmenter left single, one of them mistyped (内和 for 内核: "查看内和版本号" is 查看 内 和 版本号)."""
    if not index.lexicon.vocab:
        return tokens
    sp = _speller(index)
    return [t if t in sp.vocab else sp.correct(t) or t for t in tokens] + [w for _, _, w in _split_typos(sp, pieces)]


def as_meant(index, text: str, tokenize) -> str:
    """`text` with each word the index does not know replaced by the corpus word it was meant to be ("fireawlld" by
    firewalld, 模认 by 默认, 内和 by 内核), and a real word by the homophone it was meant as (清楚 by 清除, see `meant`):
    what retrieval embeds, since a typo moves a question's vector away from its topic."""
    if not index.lexicon.vocab:
        return text
    sp = _speller(index)

    def fix(m: re.Match) -> str:
        tokens = tokenize(m.group(0))
        word = tokens[0] if len(tokens) == 1 else None
        return (sp.correct(word, near=True) or m.group(0)) if word and word not in sp.vocab else m.group(0)
    text = _LATIN_WORD.sub(fix, text)
    tokens = tokenize(text)
    fixes = {t: w for t in tokens if HAN_RE.match(t) and t not in sp.vocab and (w := sp.correct(t))}
    fixes.update((a + b, w) for a, b, w in _split_typos(sp, tokenize(text, True)))
    fixes.update(meant(index, tokens))
    for typo, word in fixes.items():
        text = text.replace(typo, word)
    return text


# A word as typed: letters, digits, "-" and "_" ("tumed", "OpenCoudOS8", "kexec-tols", "disk_full_acction"), not part of
# a path or a file name ("/etc/chrony.conf"); and its parts of four letters or more
_TYPED = re.compile(r"(?<![A-Za-z0-9_./-])[A-Za-z0-9_-]*[A-Za-z][A-Za-z0-9_-]*(?!\.?[A-Za-z0-9_/-])")
_PART = re.compile(r"(?<![A-Za-z])[A-Za-z]{4,}(?![A-Za-z])")
_PLAIN = re.compile(r"[A-Za-z]+\d*")      # a word, or one with a number after it ("OpenCoudOS8"): its word is what counts


def spellings(texts) -> dict[str, int]:
    """The corpus's Latin words of four letters or more as written ("tuned", not the token "tun"), and its names made
    of words, digits, "-" and "_" ("kexec-tools", "disk_full_action"), lowercased, with how many passages use each:
    what `spelled_as_meant` mends a question's slips into. Made by the build."""
    counts: dict[str, int] = {}
    for text in texts:
        for w in {w.lower() for w in [*_PART.findall(text), *(m.group(0) for m in _TYPED.finditer(text))] if _PART.search(w)}:
            counts[w] = counts.get(w, 0) + 1
    return counts


def spelled_as_meant(index, question: str, tokenizer) -> str:
    """`question` with each Latin word that the corpus never writes and that is one slip from a word it does put
    right, in the case it was typed: "TnueD" as TuneD, "OpenCoudOS8" as OpenCloudOS8, "Whch" as Which; in a name of
    several parts, one part, where the whole name is then one the corpus writes ("kexec-tols" as kexec-tools).
    Unlike `corrected`, which mends the tokens the tokenizer made ("tumed" is "tum", too short to tell from "tun"),
    this mends the word as typed, before anything reads the question: a misspelt name would otherwise read as a name
    the docs never use, and the question be refused. The slips are `Speller._correct`'s: two neighbours swapped
    first; a letter missing; from five letters, a letter too many or a wrong one; never the first letter, seldom the
    one mistyped ("kpatch" is no slip for patch). Of several words a slip away, the one that keeps the question's
    other words company most often ("禁用 tumed 服务": tuned, not timed), then the one more passages use."""
    from .translation import is_english      # (kb/translation.py reads the store, which reads this module)
    lex, written = index.lexicon, index.manifest.get("spellings") or {}
    if not written:
        return question
    around = _Around(lex, tokenizer.tokenize(question))      # the passages of the question's other words

    def company(word: str, whole: str) -> tuple[float, int]:   # the share of its passages that have the other words
        if word in STOPWORDS:                                  # (as `meant` measures it); passages that write it
            return 0.0, lex.passages
        return min((around.share(lex.using(t)) for t in tokenizer.segment(word)), default=0.0), written[whole]

    def fix(m: re.Match) -> str:
        run = m.group(0)
        plain = bool(_PLAIN.fullmatch(run))
        if run.lower() in written:
            return run
        for part in _PART.finditer(run):
            w = part.group(0)
            if w.lower() in written and plain or w.lower() in STOPWORDS or len(w) > LONGEST_WORD or is_english(w):
                continue        # an English word the docs do not use ("give", "docks") is no slip
            # Nor is a word the corpus writes otherwise ("Windows": window), unless one a slip away is far commoner
            # ("TCase" for "Tase", whose token "tas" two passages use)
            tokens = tokenizer.segment(w)
            least = DOMINANT * int(lex.df[lex.vocab[tokens[0]]]) if len(tokens) == 1 and lex.seen(tokens[0]) else 0
            for group in _slips(w):
                found = {}
                for e in dict.fromkeys(group):
                    whole = (run[:part.start()] + e + run[part.end():]).lower()
                    if e.lower() in STOPWORDS and plain and not least or written.get(e.lower() if plain else whole, 0) > least:
                        found[e] = company(e.lower(), e.lower() if plain else whole)
                if found:
                    e = min(found, key=lambda e: (-found[e][0], -found[e][1], e))
                    return run[:part.start()] + e + run[part.end():]
        return run
    return _han_slips(index, _TYPED.sub(fix, question), tokenizer, around)


class _Around:
    """The passages that use a question's known words, read only when a candidate word is weighed against them."""

    def __init__(self, lex, tokens: list[str]):
        self.lex, self.tokens = lex, tokens
        self._rows: np.ndarray | None = None

    @property
    def rows(self) -> np.ndarray:
        if self._rows is None:
            known = [self.lex.using(t) for t in dict.fromkeys(self.tokens) if self.lex.seen(t)]
            self._rows = np.unique(np.concatenate(known)) if known else np.zeros(0, np.int32)
        return self._rows

    def share(self, using: np.ndarray) -> float:
        """The share of a word's passages (`using`) that have these words: smoothed, so a word in 1 passage that has
        them is less sure than one in 5 of 10."""
        return len(np.intersect1d(using, self.rows, assume_unique=True)) / (len(using) + SMOOTHING)


def _han_slips(index, question: str, tokenizer, around: _Around) -> str:
    """`question` with each Chinese character that no word covers (of the corpus, or of Chinese), and that makes a
    corpus word with its neighbours when typed as its homophone, typed so: "版本好" as 版本号 (jieba reads 版本 and 好,
    both words), "初始话" as 初始化, "可宜选" as 可以选. The longest word wins, then the one that keeps the question's
    other words company most; a word that shares no passage with them is no fix (so, where the store keeps no
    postings, as Milvus, only a stopword such as 可以 is)."""
    sp, lex = _speller(index), index.lexicon
    covered = [False] * len(question)
    for n in (2, 3, 4):     # by a word of the corpus, or of Chinese (jieba's dictionary: 每隔, 起不来)
        for s in range(len(question) - n + 1):
            t = question[s:s + n]
            if all(HAN_RE.match(c) for c in t) and (lex.seen(t) or t in STOPWORDS or tokenizer.is_word(t)):
                covered[s:s + n] = [True] * n
    chars = list(question)
    suspects = [i for i, ch in enumerate(question) if not covered[i] and ch not in STOPWORDS and HAN_RE.match(ch)]
    for i in suspects[:MOST_SUSPECTS]:
        found: dict[str, tuple[float, int]] = {}     # the character to type -> its best word's company, use
        for n in (4, 3, 2):
            for s in range(max(0, i - n + 1), i + 1):
                window = question[s:s + n]
                if len(window) < n or not all(HAN_RE.match(c) for c in window) or n == 2 and any(covered[s:s + 2]):
                    continue        # a pair mends only two stray characters: not 建 of 建一个 into 减一
                for w in [*sp.homophones(window), *_stop_sounds().get(pinyin(window), ())]:
                    if [k for k in range(n) if w[k] != window[k]] == [i - s]:
                        if w in STOPWORDS:
                            found[w[i - s]] = max(found.get(w[i - s], (0.0, 0)), (0.0, 0))
                        elif (share := around.share(lex.using(w))) > 0:
                            found[w[i - s]] = max(found.get(w[i - s], (0.0, 0)), (share, int(lex.df[lex.vocab[w]])))
            if found:       # the longest words first
                chars[i] = max(found, key=lambda c: (found[c], c))
                break
    return "".join(chars)


@lru_cache(maxsize=1)
def _stop_sounds() -> dict[str, list[str]]:
    """The Chinese stopwords of two characters or more by their toneless pinyin ("可以": "ke yi")."""
    out: dict[str, list[str]] = {}
    for w in STOPWORDS:
        if len(w) >= 2 and all(HAN_RE.match(c) for c in w):
            out.setdefault(pinyin(w), []).append(w)
    return out


def _slips(w: str) -> tuple[list[str], list[str]]:
    """The words one slip from `w`, in two groups: two neighbours swapped; then a letter missing, and from five letters
    a letter too many or a wrong one. Never the first letter."""
    swaps = [w[:i] + w[i + 1] + w[i] + w[i + 2:] for i in range(1, len(w) - 1) if w[i] != w[i + 1]]
    edits = [w[:i] + _cased(ch, w[i - 1:i + 1]) + w[i:] for i in range(1, len(w) + 1) for ch in ascii_lowercase]
    if len(w) >= 5:
        edits += [w[:i] + w[i + 1:] for i in range(1, len(w))]
        edits += [w[:i] + _cased(ch, w[i]) + w[i + 1:] for i in range(1, len(w)) for ch in ascii_lowercase if ch != w[i].lower()]
    return swaps, edits


def _cased(letter: str, beside: str) -> str:
    """A letter typed among `beside`: upper case where they all are ("OS"), else lower."""
    return letter.upper() if beside.isupper() else letter


def _split_typos(sp: Speller, pieces: Sequence[str]) -> list[tuple[str, str, str]]:
    """Two characters the segmenter left single, one of them mistyped ("内和" for 内核), with the word meant."""
    return [(a, b, word) for a, b in zip(pieces, pieces[1:])
            if len(a) == len(b) == 1 and HAN_RE.match(a) and HAN_RE.match(b) and (word := sp.correct(a + b))
            and (word[0] == a or word[1] == b)]


# The words a Chinese question asks with ("哪些", "几个"): typed as a homophone ("纳些", "机个"), the question no longer
# says what kind of answer it wants, and the slip reads as a rare word it is about. Never 那/这: "那些" is "those".
_ASKING_WORDS = ("哪些", "哪个", "哪几", "哪里", "什么", "多少", "几个", "几种", "几次", "怎么", "怎样", "如何", "是否", "是什么")
_TRADITIONAL = {"麼": "么", "麽": "么", "個": "个", "幾": "几", "種": "种", "樣": "样"}     # the same word, not a slip


def asking_as_meant(question: str, is_word=lambda text: False) -> str:
    """`question` with each Chinese asking word typed as a homophone one character off ("纳些", "甚么", "机个") put
    right ("哪些", "什么", "几个"), and the spoken ones written out ("啥": 什么, "咋": 怎么). Not a character that makes
    a word with the one before it (`is_word`: "表示什么" is no slip for 是什么), nor a Traditional form (什麼)."""
    chars, sounds = list(question.replace("啥", "什么").replace("咋", "怎么")), _asking_sounds()
    for i in range(len(chars) - 1):
        for word in _ASKING_WORDS:
            if chars[i] != word[0] and chars[i + 1] != word[1]:     # two slips at least: no need to look closer
                continue
            typed = "".join(chars[i:i + len(word)])
            off = [j for j, (a, b) in enumerate(zip(typed, word)) if a != b]
            if (len(typed) == len(word) and len(off) == 1 and not set(typed) & set("那这")
                    and _TRADITIONAL.get(typed[off[0]]) != word[off[0]]
                    and not (i + off[0] > 0 and is_word("".join(chars[i + off[0] - 1:i + off[0] + 1])))
                    and all(HAN_RE.fullmatch(c) for c in typed) and pinyin(typed) == sounds[word]):
                chars[i:i + len(word)] = word
                break
    return "".join(chars)


@lru_cache(maxsize=1)
def _asking_sounds() -> dict[str, str]:
    return {word: pinyin(word) for word in _ASKING_WORDS}


def prepare(index) -> None:
    """Read the index's Chinese words' pinyin now (a quarter of a second on the docs site), not on the first question
    that needs it: `kb serve` calls this while warming up."""
    if index.lexicon.vocab:
        _speller(index)._pinyin_groups()


def meant(index, tokens: list[str]) -> dict[str, str]:
    """Real-word typos: each Chinese word of `tokens` (two characters or more, used by the corpus) -> the corpus
    word of the same toneless pinyin that it was meant to be (see the module docstring). Empty where the store keeps
    no postings (Milvus)."""
    lex = index.lexicon
    words = [t for t in dict.fromkeys(tokens) if lex.seen(t)]
    if lex.bm25 is None or len(words) < 2:
        return {}
    sp = _speller(index)

    def used(w: str) -> int:        # a typo is meant as a commoner word: not 添加 as 填加, itself a typo on one page
        return len(lex.using(w))
    candidates = {t: others for t in words if len(t) >= 2 and all(HAN_RE.match(ch) for ch in t)   # (see `used`)
                  and (others := [w for w in sp.homophones(t) if w != t and used(w) > used(t)])}
    out = {}
    for t, others in candidates.items():
        around = _Around(lex, [w for w in words if w != t])     # the other words' passages
        shares = {w: around.share(lex.using(w)) for w in [t, *others]}
        best = max(others, key=shares.__getitem__)
        if shares[best] > HOMOPHONE_RATIO * shares[t]:
            out[t] = best
    return out


def coverage(index, token: str, passages: str) -> float:
    """How far the corpus covers a question word, 0..1: fully when indexed; for an unknown word, the share of
    its characters (two-character words) or character pairs (longer ones) found in the retrieved passages
    (Chinese: 不稳 ~ 稳定), or a shared stem with a corpus
    word (English: distro ~ distribution, installer ~ install). A lone unknown Chinese character is too
    ambiguous to count against the question."""
    if index.lexicon.seen(token):
        return 1.0
    if HAN_RE.search(token):
        han = "".join(HAN_RE.findall(token))
        if len(han) <= 2:
            return 1.0 if len(han) == 1 else sum(ch in passages for ch in han) / 2
        return sum(han[i:i + 2] in passages for i in range(len(han) - 1)) / (len(han) - 1)
    if token.isascii() and token.isalpha() and len(token) >= 4 and index.lexicon.vocab:
        return 1.0 if _speller(index).shares_stem(token) else 0.0
    return 0.0


class Speller:
    def __init__(self, vocab: dict, df: Sequence[int] = ()):
        self.vocab = vocab
        self.df = df                # passages using each word, by its position in vocab (commoner words win ties)
        self._latin: dict[str, list[str]] | None = None
        self._groups: dict[str, list[str]] | None = None
        self._sorted: list[str] | None = None
        # A question's unknown words are looked up by retrieval (as meant, then corrected) and again by the answer
        self.correct = lru_cache(maxsize=4096)(self._correct)

    def _correct(self, token: str, near: bool = False) -> str | None:
        """The corpus word `token` was meant to be, if any; `near`: only one a single slip away (see below)."""
        if HAN_RE.search(token):
            return next(iter(self.homophones(token)), None) if len(token) >= 2 else None     # the first one used
        if token.isascii() and token.isalpha() and len(token) >= 4:
            index = self._latin_index()
            # The corpus words one edit away: a letter missing ("locle": locale), two neighbours swapped ("riad":
            # raid); from 5 letters also a letter too many ("kernell") or a wrong one ("kdimp": kdump). The swap
            # keeps every letter typed, so it goes first; then the word more passages use.
            found = {w: 0 for i in range(len(token) - 1)
                     if (w := token[:i] + token[i + 1] + token[i] + token[i + 2:]) in self.vocab and w != token}
            deletes = _deletes(token) if len(token) >= 5 else []
            for w in [*index.get(token, ()), *(w for v in deletes for w in index.get(v, ()) if w == v or len(w) == len(
                    token) and sum(a != b for a, b in zip(w, token)) == 1)]:
                found.setdefault(w, 1)
            if found or near:
                return min(found, key=lambda w: (found[w], -self._used(w), w)) if found else None
            # Else the first word that shares a deletion with it (two letters apart)
            return next((index[v][0] for v in deletes if v in index), None)
        return None

    def _used(self, word: str) -> int:
        i = self.vocab.get(word)
        return int(self.df[i]) if i is not None and i < len(self.df) else 0

    def shares_stem(self, token: str) -> bool:
        """A corpus word starts with this word's first max(4, len - 3) letters."""
        if self._sorted is None:
            self._sorted = sorted(w for w in self.vocab if w.isascii() and w.isalpha())
        prefix = token[:max(4, len(token) - 3)]
        i = bisect.bisect_left(self._sorted, prefix)
        return i < len(self._sorted) and self._sorted[i].startswith(prefix)

    def _latin_index(self) -> dict[str, list[str]]:
        """Each long Latin corpus word and its one-letter deletions -> the words they come from."""
        if self._latin is None:
            index: dict[str, list[str]] = {}
            for w in self.vocab:
                if w.isascii() and w.isalpha() and len(w) >= 4:
                    for v in dict.fromkeys((w, *_deletes(w))):
                        index.setdefault(v, []).append(w)
            self._latin = index
        return self._latin

    def homophones(self, word: str) -> list[str]:
        """The corpus's Chinese words (two characters or more) with `word`'s toneless pinyin, itself among them, in
        the index vocabulary's order."""
        return self._pinyin_groups().get(pinyin(word), [])

    def _pinyin_groups(self) -> dict[str, list[str]]:
        if self._groups is None:
            groups: dict[str, list[str]] = {}
            for w in self.vocab:
                if len(w) >= 2 and all(HAN_RE.match(ch) for ch in w):
                    groups.setdefault(pinyin(w), []).append(w)
            self._groups = groups
        return self._groups


def _deletes(word: str) -> list[str]:
    return [word[:i] + word[i + 1:] for i in range(len(word))]


@lru_cache(maxsize=65536)       # (the same for every knowledge base: pure; a question's windows are read again and again)
def pinyin(word: str) -> str:
    """`word` in toneless pinyin, a syllable each character ("配置": "pei zhi")."""
    from pypinyin import lazy_pinyin    # loaded on the first Chinese question (or kb serve's warm-up)
    return " ".join(lazy_pinyin(word))

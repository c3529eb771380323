"""Translation -> original, paragraph by paragraph, even when the two pages do not have the same paragraphs.

A translated page (`name.en.md` beside `name.md`, or front matter `translation_of`) seldom splits its text
exactly as its original does. It is aligned in three steps, each monotonic (reading order is kept):

1. sections (runs of paragraphs under one heading path) are paired by heading depth, the anchors they
   share and their length;
2. within each pair of sections, and within the unpaired sections between two pairs, paragraphs are
   aligned Gale-Church style: dynamic programming over 1-1, 1-0, 0-1, 2-1, 1-2, 3-1 and 1-3 matches,
   scored by shared anchors, length ratio and passage kind;
3. a translated paragraph takes the id of its original (the one it shares most with when it matched two),
   so retrieval treats both as one source and a citation carries the original; a paragraph with no
   counterpart gets an id of its own ("p7.en") and only it goes without an original.

Anchors are what translation leaves alone: numbers, versions, commands, code, paths, URLs and Latin names,
counted only when the other page uses them too. No embeddings: this runs when the corpus is read, before
anything is embedded, costs milliseconds a page, and anchors with lengths align >= 95% of the development
corpus's English passages (benchmarks/alignment.py).

The paragraphs it pairs are also a small parallel corpus: `translated_words` learns from them which Chinese
word the site itself uses for an English one ("view" is 查看 in a manual, where the dictionary has 视图 first).
"""
from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace

from .text import HAN_RE, STOPWORDS
from .types import Document, Paragraph

__all__ = ["align_translations", "align_paragraphs", "translated_words"]

log = logging.getLogger("kb")

_ANCHOR = re.compile(r"[\w$~/-][\w.:/@+#=~$-]*[\w/]|[0-9]", re.ASCII)
_BEADS = [(1, 1), (1, 0), (0, 1), (2, 1), (1, 2), (3, 1), (1, 3)]
ROOM = 0.7             # an original paragraph takes more translated ones while as long as 0.7 of them
SECTION_SKIP = 0.0     # sections are paired only on good evidence: unpaired ones are aligned pooled
BAND = 80              # items either side of the diagonal the alignment may stray (pages differ by far less)
SKIP = -0.5            # score of leaving one paragraph (or section) unmatched; a match must do better
MIN_PAIRS = 3          # an English and a Chinese word used together in at least 3 aligned paragraphs, ...
MIN_DICE = 0.4         # ... and in 0.4 of the paragraphs either is in (Dice), translate each other


def align_translations(docs: list[Document]) -> None:
    """Give each translation's paragraphs the ids of their originals' (in place: new Paragraph objects)."""
    by_id = {d.id: d for d in docs}
    for d in docs:
        orig = by_id.get(d.translation_of or "")
        if orig is None or orig is d:
            continue
        match = align_paragraphs(orig.paragraphs, d.paragraphs)
        d.paragraphs = [replace(p, id=orig.paragraphs[match[i]].id if i in match else f"{p.id}.{d.lang}")
                        for i, p in enumerate(d.paragraphs)]
        if len(match) < len(d.paragraphs):
            log.info("%s: %d of %d paragraphs have no counterpart in %s: they carry no original", d.id,
                     len(d.paragraphs) - len(match), len(d.paragraphs), orig.id)


def translated_words(pairs: Iterable[tuple[Iterable[str], Iterable[str]]]) -> dict[str, str]:
    """English word -> the Chinese word the corpus's own translations use most consistently for it, learned from
    the (translation's tokens, original's tokens) of each pair of paragraphs `align_translations` paired: the
    words used together in most of the pairs either is in. {} for a corpus without translations. Deterministic:
    ties go to the later word in code-point order."""
    en_n: Counter[str] = Counter()
    zh_n: Counter[str] = Counter()
    both: Counter[tuple[str, str]] = Counter()
    for translated, original in pairs:
        en = {t for t in translated if t.isascii() and t.isalpha() and len(t) >= 3 and t not in STOPWORDS}
        zh = {t for t in original if HAN_RE.search(t)}
        en_n.update(en)
        zh_n.update(zh)
        both.update((e, z) for e in en for z in zh)
    best: dict[str, tuple[float, str]] = {}
    for (e, z), n in both.items():
        if n >= MIN_PAIRS and (dice := 2 * n / (en_n[e] + zh_n[z])) >= MIN_DICE and (dice, z) > best.get(e, (0.0, "")):
            best[e] = (dice, z)
    return {e: z for e, (_, z) in sorted(best.items())}


def align_paragraphs(a: list[Paragraph], b: list[Paragraph]) -> dict[int, int]:
    """{index in b: index in a} for the paragraphs of b (a translation) that have a counterpart in a."""
    if not a or not b:
        return {}
    feats = _Features(a, b)
    sa, sb = _sections(a), _sections(b)
    pairs = _dp(len(sa), len(sb), lambda i, n, j, m: feats.section_score(sa[i], sb[j]), [(1, 1), (1, 0), (0, 1)],
               SECTION_SKIP)
    match: dict[int, int] = {}
    covered: set[int] = set()      # paragraphs of a that matched
    ea = eb = 0       # paragraphs before these are aligned
    for i, _, j, _ in pairs + [(len(sa), 0, len(sb), 0)]:
        a0, b0 = (sa[i][0] if i < len(sa) else len(a)), (sb[j][0] if j < len(sb) else len(b))
        spans = [(ea, a0, eb, b0)]                      # the unpaired sections in between, pooled
        if i < len(sa) and j < len(sb):
            spans.append((*sa[i], *sb[j]))
            ea, eb = sa[i][1], sb[j][1]
        for a0, a1, b0, b1 in spans:
            for i0, n, j0, m in feats.paragraphs(a0, a1, b0, b1):
                match.update({j0 + k: feats.best(i0, n, j0 + k) for k in range(m)})
                covered.update(range(i0, i0 + n))
    feats.absorb(match, covered)
    return match


def _sections(paras: list[Paragraph]) -> list[tuple[int, int]]:
    """[start, end) of each run of paragraphs under the same heading path."""
    starts = [i for i, p in enumerate(paras) if i == 0 or p.heading != paras[i - 1].heading]
    return list(zip(starts, starts[1:] + [len(paras)]))


class _Features:
    """Anchors and lengths of both pages' paragraphs, and the scores made from them."""

    def __init__(self, a: list[Paragraph], b: list[Paragraph]):
        self.a, self.b = a, b
        ta, tb = [_tokens(p.text) for p in a], [_tokens(p.text) for p in b]
        shared = set().union(*ta) & set().union(*tb)        # only what both pages use is an anchor
        self.ta, self.tb = [t & shared for t in ta], [t & shared for t in tb]
        df = Counter(t for ts in self.ta + self.tb for t in ts)
        n = len(a) + len(b)
        self.w = {t: math.log(1 + n / c) for t, c in df.items()}
        han_a, han_b = (sum(len(HAN_RE.findall(p.text)) for p in ps) for ps in (a, b))
        rest_a, rest_b = sum(len(p.text) for p in a) - han_a, sum(len(p.text) for p in b) - han_b
        ratio = (rest_b - rest_a) / (han_a - han_b) if han_a != han_b else 0.0   # chars of Latin per Han character
        self.ratio = min(max(ratio, 1.5), 4.0) if ratio > 0 else 2.5
        self.la, self.lb = [self._length(p.text) for p in a], [self._length(p.text) for p in b]
        self.ha, self.hb = [_tokens(p.heading[-1] if p.heading else "") for p in a], \
            [_tokens(p.heading[-1] if p.heading else "") for p in b]

    def _length(self, text: str) -> float:
        han = len(HAN_RE.findall(text))
        return len(text) - han + self.ratio * han

    def _dice(self, x: set, y: set) -> float | None:
        wx, wy = sum(self.w[t] for t in x), sum(self.w[t] for t in y)
        return 2 * sum(self.w[t] for t in x & y) / (wx + wy) if wx + wy else None

    def _score(self, la: float, lb: float, anchors: float | None, kinds: bool) -> float:
        s = 1.0 - 1.2 * abs(math.log((la + 20) / (lb + 20))) + (0.3 if kinds else -0.3)
        return s + (3.0 * anchors - 1.0 if anchors is not None else 0.0)

    def section_score(self, sa: tuple[int, int], sb: tuple[int, int]) -> float:
        pa, pb = self.a[sa[0]], self.b[sb[0]]
        tx, ty = set().union(*self.ta[sa[0]:sa[1]]), set().union(*self.tb[sb[0]:sb[1]])
        heads = self._dice(self.ha[sa[0]] & set(self.w), self.hb[sb[0]] & set(self.w))
        s = self._score(sum(self.la[sa[0]:sa[1]]), sum(self.lb[sb[0]:sb[1]]), self._dice(tx, ty),
                        len(pa.heading) == len(pb.heading))
        return s + (2.0 * heads - 0.5 if heads is not None else 0.0)

    def paragraphs(self, a0: int, a1: int, b0: int, b1: int) -> list[tuple[int, int, int, int]]:
        """Align paragraphs a[a0:a1] with b[b0:b1]: [(i, n, j, m)], a[i:i+n] matched with b[j:j+m]."""
        def score(i, n, j, m):
            tx, ty = set().union(*self.ta[a0 + i:a0 + i + n]), set().union(*self.tb[b0 + j:b0 + j + m])
            kinds = bool({p.kind for p in self.a[a0 + i:a0 + i + n]} & {p.kind for p in self.b[b0 + j:b0 + j + m]})
            return self._score(sum(self.la[a0 + i:a0 + i + n]), sum(self.lb[b0 + j:b0 + j + m]),
                               self._dice(tx, ty), kinds) - 0.2 * (n + m - 2)
        return [(a0 + i, n, b0 + j, m) for i, n, j, m in _dp(a1 - a0, b1 - b0, score, _BEADS, SKIP)]

    def best(self, i: int, n: int, j: int) -> int:
        """Of a[i:i+n], matched together with b[j], the one b[j] shares most with (the longest if none)."""
        return max(range(i, i + n), key=lambda k: (self._dice(self.ta[k], self.tb[j]) or 0, self.la[k]))

    def absorb(self, match: dict[int, int], covered: set[int]) -> None:
        """Unmatched paragraphs of b join the original of a matched neighbour in their section while it has
        room for them: one long original paragraph (a whole list) is often several in translation."""
        filled = [0.0] * len(self.a)      # length of the translation each original paragraph took
        for j, k in match.items():
            filled[k] += self.lb[j]
        j = 0
        while j < len(self.b):
            if j in match:
                j += 1
                continue
            end = next((e for e in range(j, len(self.b)) if e in match), len(self.b))
            before, after = match.get(j - 1), match.get(end)
            if before is not None and after is not None and any(
                    i not in covered for i in range(before + 1, after)):
                j = end     # the original has unmatched paragraphs here: those are the counterparts, if any
                continue
            for n, run in ((j - 1, range(j, end)), (end, range(end - 1, j - 1, -1))):
                to = match.get(n)
                for r in run:
                    if to is None or r in match or self.b[r].heading != self.b[n].heading or \
                            self.la[to] < ROOM * (filled[to] + self.lb[r]):
                        break
                    match[r] = to
                    filled[to] += self.lb[r]
            j = end


def _dp(na: int, nb: int, score, beads, skip: float) -> list[tuple[int, int, int, int]]:
    """The monotonic matching of na items with nb items that scores best: [(i, n, j, m)], a[i:i+n] ~ b[j:j+m].

    Leaving an item unmatched scores `skip`; `score(i, n, j, m)` scores matching a[i:i+n] with b[j:j+m].
    Only matchings within BAND items of the diagonal are tried, so long pages cost time in proportion to length.
    """
    best = [[-math.inf] * (nb + 1) for _ in range(na + 1)]
    back: list[list[tuple[int, int] | None]] = [[None] * (nb + 1) for _ in range(na + 1)]
    best[0][0] = 0.0
    for i in range(na + 1):
        centre = i * nb // max(na, 1)
        for j in range(max(0, centre - BAND), min(nb, centre + BAND) + 1):
            if best[i][j] == -math.inf:
                continue
            for n, m in beads:
                if i + n > na or j + m > nb:
                    continue
                s = best[i][j] + (skip * (n + m) if not (n and m) else score(i, n, j, m))
                if s > best[i + n][j + m]:
                    best[i + n][j + m], back[i + n][j + m] = s, (n, m)
    out, i, j = [], na, nb
    while i or j:
        n, m = back[i][j] or (0, 0)     # every cell on the way back was reached
        i, j = i - n, j - m
        if n and m:
            out.append((i, n, j, m))
    return out[::-1]


def _tokens(text: str) -> set[str]:
    return {t.lower() for t in _ANCHOR.findall(text) if len(t) > 1 or t.isdigit()}

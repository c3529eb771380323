"""Extractive answers: the sentence(s) of the top sources that answer the question, each cited — or a refusal.

The refusal combines three signals, because a similarity threshold alone cannot tell an on-topic
question whose detail the text never gives ("how much does a subscription cost?") from a real one:
  1. dense similarity of the closest source (too far -> refuse);
  2. the share of the question's weight (idf) in words the corpus never uses ("吉祥物", "subscription");
  3. the answer type: a "when" / "how much" question needs a sentence with a date or number.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .index import Index
from .messages import message
from .spelling import corrected, coverage
from .text import Tokenizer, split_sentences
from .types import Answer, Citation, Hit

# How a candidate sentence scores: the share of the question's weight (idf) it covers, plus these bonuses.
SOURCES = 3                      # sentences come from the three best sources, ...
RANK_BONUS = (0.15, 0.08, 0.0)   # ... a little more readily from the better ranked ones
FITS_BONUS = 0.3                 # a sentence that can answer the question's type ("when" -> a date) goes first
TYPE_SOURCES = 2                 # a typed question is refused unless one of the two best sources has such a sentence
CONTEXT_DIVISOR = 3              # the previous question's words count a third as much as the question's own
# A further sentence joins the answer only if it adds this share of the question's weight not yet covered,
# and scores at least this fraction of the best sentence: otherwise it is padding.
MIN_GAIN = 0.2
MIN_RELATIVE_SCORE = 0.6
RELATED_MIN_TOKENS = 3           # a refusal's related passages have at least this many words (not headings like "附：")

_QTYPES = {
    "price": re.compile(r"多少钱|价格|费用|售价|收费|付费|\bprices?\b|\bcosts?\b|how much .*\b(?:pay|charge)"),
    "version": re.compile(r"版本号|哪个版本|什么版本|哪个大版本|\b(?:which|what)(?: \w+){0,2} version"),
    "number": re.compile(r"多少|几[个种年次家位台]|价格|费用|售价|多少钱|百分之|how (?:much|many)|\bprice|\bcost|percent|what percentage"),
    "time": re.compile(r"什么时候|何时|哪一?年|几月|哪天|日期|\bwhen\b|what (?:year|date|month)|which (?:year|month)"),
}
_FITS = {
    "price": re.compile(r"[元¥￥$€]|美元|人民币|\b(?:USD|RMB|EUR|dollars?|yuan)\b", re.I),
    "version": re.compile(r"\d+\.\d+(?![\d.]*%)|\b[Vv]\d+|(?:version|版本) ?\d+"),
    "number": re.compile(r"[0-9一二两三四五六七八九十百千万亿]"),
    "time": re.compile(r"[0-9]|[年月日]|初|底|\b(?:early|late|end of|year|month)\b", re.I),
}
_CLAUSE = re.compile(r"[，,、：:]\s*")
# "OpenCloudOS 8.5", "CentOS8", "V9", "ARM64" are names, not quantities ("early 2023" is a date).
_VERSION = re.compile(r"\b[A-Za-z]*[A-Z][A-Za-z]*[A-Z][A-Za-z]* ?\d+(?:\.\d+)*|\b[A-Za-z]+\d[\w.]*")


def fits(qtype: str | None, sentence: str, question: str = "") -> bool:
    """Can this sentence answer a question of this type? Numbers the question already says never count,
    and for "number" and "time" neither do version names."""
    if qtype is None:
        return True
    for number in set(re.findall(r"\d+(?:\.\d+)*", question)):
        sentence = re.sub(rf"(?<!\d)(?<!\d\.){re.escape(number)}(?!\.?\d)", " ", sentence)
    return bool(_FITS[qtype].search(sentence if qtype == "version" else _VERSION.sub(" ", sentence)))


@dataclass
class Unit:
    """A candidate piece of an answer: a sentence of a source, or a run of clauses of an over-long one."""

    score: float                 # question weight covered, plus the rank and fits bonuses
    rank: int                    # which source (0 = the best)
    start: int                   # character offsets into that source's text
    end: int
    tokens: set[str]
    fits: bool                   # can answer the question's type (see `fits`)


class Answerer:
    """Picks the answer sentences from retrieved passages (or refuses), with the knowledge base's tokenizer."""

    def __init__(self, index: Index, config, tokenizer: Tokenizer):
        self.index, self.config, self.tokenizer = index, config, tokenizer

    def answer(self, question: str, lang: str, hits: list[Hit], context: str = "") -> Answer:
        """Compose the answer to `question` from `hits` (best first), or refuse with them as related passages.

        `context` (the previous question of a conversation) counts, at a third of the weight, as part of
        the question, so a follow-up like "那 V9 呢？" is judged as "…兼容 CentOS8 吗？那 V9 呢？".
        """
        cfg, ix, tokenize = self.config, self.index, self.tokenizer.tokenize
        weights = {t: ix.idf(t) / CONTEXT_DIVISOR for t in corrected(ix, tokenize(context))}
        weights.update({t: ix.idf(t) for t in corrected(ix, tokenize(question))})
        total = sum(weights.values()) or 1.0
        passages = " ".join(h.text + (h.original or "") for h in hits[:SOURCES])
        unseen = sum(w * (1 - coverage(ix, t, passages)) for t, w in weights.items()) / total
        mean, std = ix.manifest.get("null", {}).get(lang, (0.0, 1.0))
        z = (max((h.dense for h in hits), default=0.0) - mean) / std
        qtype = next((name for name, rx in _QTYPES.items() if rx.search(question.lower())), None)
        budget = cfg.max_chars_zh if lang == "zh" else cfg.max_chars_en

        units = []
        for rank, h in enumerate(hits[:SOURCES]):
            for s, e in split_sentences(h.text):
                for cs, ce in ([(s, e)] if e - s <= budget else _clause_windows(h.text, s, e, budget)):
                    toks = set(tokenize(h.text[cs:ce]))
                    cover = sum(w for t, w in weights.items() if t in toks) / total
                    ok = fits(qtype, h.text[cs:ce], question)
                    units.append(Unit(cover + RANK_BONUS[rank] + (FITS_BONUS if ok else 0.0), rank, cs, ce, toks, ok))
        units.sort(key=lambda u: -u.score)

        refuse = (not units or z < cfg.min_z
                  or (unseen > cfg.max_unseen and z < cfg.sure_z)
                  or (qtype is not None and not any(u.fits for u in units if u.rank < TYPE_SOURCES)))
        signals = {"z": round(z, 2), "unseen": round(unseen, 2), "qtype": qtype}
        if refuse:
            related = [h for h in hits if len(tokenize(h.text)) >= RELATED_MIN_TOKENS][:3]
            return Answer(question, message("refused", lang), lang, True, related=_citations(related, {}),
                          signals=signals)

        best = units[0]
        chosen, covered, length = [best], set(best.tokens), best.end - best.start
        for u in units[1:]:
            if len(chosen) >= cfg.max_sentences:
                break
            gain = sum(w for t, w in weights.items() if t in u.tokens and t not in covered) / total
            overlaps = any(u.rank == c.rank and u.start < c.end and c.start < u.end for c in chosen)
            if (gain >= MIN_GAIN and u.score >= MIN_RELATIVE_SCORE * best.score and not overlaps
                    and length + u.end - u.start <= budget):
                chosen.append(u)
                covered |= u.tokens
                length += u.end - u.start

        order = list(dict.fromkeys(u.rank for u in chosen))          # sources in the order the answer uses them
        spans = {r: [(u.start, u.end) for u in chosen if u.rank == r] for r in order}
        citations = _citations([hits[r] for r in order], {i: spans[r] for i, r in enumerate(order)})
        parts = []
        for n, r in enumerate(order, 1):
            for s, e in sorted(spans[r]):
                parts.append(f"{hits[r].text[s:e]}[{n}]" if lang == "zh" else f"{hits[r].text[s:e]} [{n}]")
        return Answer(question, ("" if lang == "zh" else " ").join(parts), lang, False, citations, signals=signals)


def _clause_windows(text: str, s: int, e: int, budget: int) -> list[tuple[int, int]]:
    """Contiguous runs of clauses of an over-long sentence that fit the answer's length budget."""
    bounds = [s] + [m.end() + s for m in _CLAUSE.finditer(text[s:e])] + [e]
    bounds = sorted(set(bounds))
    out = []
    for i in range(len(bounds) - 1):
        for j in range(i + 1, len(bounds)):
            if bounds[j] - bounds[i] > budget:
                break
            out.append((bounds[i], bounds[j]))
    if not out:
        out.append((s, s + budget))
    return [(a, b - (len(text[a:b]) - len(text[a:b].rstrip(" ，,、：:")))) for a, b in out]


def _citations(hits: list[Hit], spans: dict[int, list[tuple[int, int]]]) -> list[Citation]:
    out = []
    for i, h in enumerate(hits):
        qs = min((s for s, _ in spans.get(i, [])), default=0)
        qe = max((e for _, e in spans.get(i, [])), default=0)
        out.append(Citation(n=i + 1, text=h.text, quote=h.text[qs:qe], document=h.document, score=h.score,
                            original=h.original, url=h.url, date=h.date, doc_id=h.doc_id, para_id=h.para_id,
                            lang=h.lang, heading=h.heading, quote_start=qs, quote_end=qe, kind=h.kind, lead=h.lead))
    return out

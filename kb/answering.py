"""Extractive answers: the sentence(s) of the top sources that answer the question, each cited — or a refusal.

The refusal combines three signals, because a similarity threshold alone cannot tell an on-topic
question whose detail the text never gives ("how much does a subscription cost?") from a real one:
  1. dense similarity of the closest source (too far -> refuse);
  2. the share of the question's weight (idf) in words the corpus never uses ("吉祥物", "subscription");
  3. the answer type: a "when" / "how much" question needs a sentence with a date or number.
"""
from __future__ import annotations

import re

from .index import Index
from .messages import message
from .spelling import corrected, coverage
from .text import split_sentences, tokenize
from .types import Answer, Citation, Hit

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


class Answerer:
    def __init__(self, index: Index, config):
        self.index, self.config = index, config

    def answer(self, question: str, lang: str, hits: list[Hit], context: str = "") -> Answer:
        """Compose the answer to `question` from `hits` (best first), or refuse with them as related passages.

        `context` (the previous question of a conversation) counts, at a third of the weight, as part of
        the question, so a follow-up like "那 V9 呢？" is judged as "…兼容 CentOS8 吗？那 V9 呢？".
        """
        cfg = self.config
        weights = {t: self.index.idf(t) / 3 for t in corrected(self.index, tokenize(context))}
        weights.update({t: self.index.idf(t) for t in corrected(self.index, tokenize(question))})
        total = sum(weights.values()) or 1.0
        passages = " ".join(h.text + (h.original or "") for h in hits[:3])
        unseen = sum(w * (1 - coverage(self.index, t, passages)) for t, w in weights.items()) / total
        mean, std = self.index.manifest.get("null", {}).get(lang, (0.0, 1.0))
        z = (max((h.dense for h in hits), default=0.0) - mean) / std
        qtype = next((name for name, rx in _QTYPES.items() if rx.search(question.lower())), None)
        budget = cfg.max_chars_zh if lang == "zh" else cfg.max_chars_en

        units = []   # (score, hit rank, start, end, tokens) of sentences, or clauses of over-long sentences
        for rank, h in enumerate(hits[:3]):
            prior = (0.15, 0.08, 0.0)[rank]
            for s, e in split_sentences(h.text):
                for cs, ce in ([(s, e)] if e - s <= budget else _clause_windows(h.text, s, e, budget)):
                    toks = set(tokenize(h.text[cs:ce]))
                    cover = sum(w for t, w in weights.items() if t in toks) / total
                    ok = fits(qtype, h.text[cs:ce], question)
                    units.append((cover + prior + (0.3 if ok else 0.0), rank, cs, ce, toks, ok))
        units.sort(key=lambda u: -u[0])

        refuse = (not units or z < cfg.min_z
                  or (unseen > cfg.max_unseen and z < cfg.sure_z)
                  or (qtype is not None and not any(u[5] for u in units if u[1] < 2)))
        signals = {"z": round(z, 2), "unseen": round(unseen, 2), "qtype": qtype}
        if refuse:
            related = [h for h in hits if len(tokenize(h.text)) >= 3][:3]   # not headings like "附："
            return Answer(question, message("refused", lang), lang, True, related=_citations(related, {}),
                          signals=signals)

        chosen, covered, length = [units[0]], set(units[0][4]), units[0][3] - units[0][2]
        for u in units[1:]:
            if len(chosen) >= cfg.max_sentences:
                break
            gain = sum(w for t, w in weights.items() if t in u[4] and t not in covered) / total
            overlaps = any(u[1] == c[1] and u[2] < c[3] and c[2] < u[3] for c in chosen)
            if gain >= 0.2 and u[0] >= 0.6 * units[0][0] and not overlaps and length + u[3] - u[2] <= budget:
                chosen.append(u)
                covered |= u[4]
                length += u[3] - u[2]

        order = list(dict.fromkeys(u[1] for u in chosen))          # sources in the order the answer uses them
        spans = {r: [(u[2], u[3]) for u in chosen if u[1] == r] for r in order}
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

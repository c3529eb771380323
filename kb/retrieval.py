"""Hybrid retrieval: the store's dense and BM25 candidates fused by source, on their standardised scores.

A "source" is a paragraph; its aligned translations are the same source. Fusing ranks of sources,
not chunks, means a paragraph found in both languages counts once, and BM25 (which only matches
the question's own language) cannot push the dense ranking of the other language aside. A question that
names a release (kb/scope.py) looks a little deeper and moves the passages about that release up; one that asks
what X is ("X 是什么", "what is X") looks deeper still, by meaning, for the passage that defines X. BM25 also
looks for a Chinese question word's synonyms (kb/translation.py): "修改启动顺序" finds "要更改启动顺序…". A table
row that the question names by its first cell ("zsh 是什么版本": `zsh | 5.5.1-10`) moves its group of rows up: rows
of names and versions are found by their words, and are close in meaning to no question, so among the groups whose
rows merely contain the name (`autojump-zsh`) and prose close in meaning, fusion alone would rank it low. So does a
list that explains terms as a glossary does ("- delaycompress ：在下一次转储时…"), when the question names one: BM25
ranks a long list low for its length, and the example that merely uses the term above it high.

Where a corpus is written in one language and translated in part (Chinese pages, some with English twins), a
question in the other language gets two result lists: the twins, closest in meaning, and the pages without one,
found mostly through translated words and less close on average (.85 against .80 on the docs site). Ranked
as one pool, a page without a twin comes after twins that are merely close; so closeness is measured within
each language's list first, as federated search merges lists from separate collections. A question in the
corpus's own language needs no merging: every paragraph is there in that language.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Hashable
from dataclasses import replace
from functools import lru_cache

import numpy as np

from .store import Found, Store
from .scope import Scopes, conflicts
from .questions import defined_in, defines
from .site import with_anchor
from .spelling import as_meant, corrected, meant
from .text import ITEM_MARK, Tokenizer, normalize
from .translation import synonyms, to_chinese
from .types import Chunk, Hit


DEPTH = 10           # a question naming a version or asking what X is: this many more sources are looked at, ...
SCOPE_BONUS = 0.3      # ... those about that version moved up by this (fused z units), those about another down
DEFINITION_BONUS = 0.5  # ... those that define X (start "X 是…") moved up by this
MIN_GROUP = 5          # a language's candidates are measured against their own mean from this many on
KEY_BONUS = 1.0        # a table row the question names by its first cell ("zsh", "TDengine"), or a glossary item by
                       # its term ("delaycompress"), moves its group up by this
KEY_DEPTH = 50         # a Latin word in at most this many passages is also looked up alone, for the rows it keys
                       # ("sqlite" is in 40 of the site's: anope-sqlite, apr-util-sqlite…; and keys one row)
_BLANK = re.compile(r"[^\n]")
_TERM = re.compile(ITEM_MARK.pattern + r"([^:：\n]{1,40}?)\s*[:：]")     # "- delaycompress ：…": the term an item explains


class Retriever:
    max_passage_chars = 1200   # a paragraph up to this long is cited whole, not just its closest chunk
    max_query_chars = 1000     # embedded per query, after normalising: at most ~1000 tokens, whatever the history holds

    def __init__(self, index: Store, embedder, tokenizer: Tokenizer, candidates: int = 30, bm25_weight: float = 1.5):
        self.index, self.embedder, self.tokenizer = index, embedder, tokenizer
        self.candidates, self.bm25_weight = candidates, bm25_weight
        self.scopes = Scopes.of_index(index)
        self._keys = lru_cache(maxsize=8192)(self._source_keys)     # this index's sources, read once
        written = Counter(d.get("lang") for d in index.docs.values() if not d.get("aligned_to"))
        self.written_in = written.most_common(1)[0][0] if written else None    # the language of the originals

    def search(self, query: str, k: int = 5, lang: str | None = None, context: str = "") -> list[Hit]:
        """The k best sources for `query`, each shown in `lang` when the corpus has that version.

        Args:
            query: the text to retrieve for (a question, possibly with conversation context).
            k: number of sources to return.
            lang: preferred language of the returned passages ("zh"/"en"); None keeps what ranked best.
            context: earlier conversation; its rankings (with the query) join the fusion at half weight.
        """
        ix = self.index
        if len(ix) == 0 or k <= 0:
            return []
        asked, defined = self.scopes.asked(query), defined_in(query, self.tokenizer.tokenize)
        n = k + DEPTH if asked or defined else k       # sources ranked; a definition is found by meaning, deeper
        depth = min(max(self.candidates, 3 * (n if defined else k)), len(ix))
        fused: dict[Hashable, float] = {}
        dense: dict[Hashable, float] = {}
        qvec = np.zeros(0, dtype=np.float32)     # the query's own vector (the first one embedded)
        keyed: set[Hashable] = set()             # sources with a table row the query names by its first cell
        across = lang is not None and lang != self.written_in     # two result lists to merge (module docstring)
        for text, weight in [(query, 1.0)] + ([(f"{context} {query}", 0.5)] if context else []):
            meant_text = as_meant(ix, text, self.tokenizer.tokenize)       # typos corrected: they move its vector
            vec = self.embedder.embed_query(normalize(meant_text)[-self.max_query_chars:])   # and what fits before it
            qvec = vec if not qvec.size else qvec
            near = ix.dense(vec, depth)
            words = corrected(ix, self.tokenizer.tokenize(text), self.tokenizer.tokenize(text, True))
            words += [s for t in dict.fromkeys(words) for s in synonyms(t, ix.lexicon)]     # 修改: 更改, 改动…
            words += list(meant(ix, words).values())        # "清楚所有日志": 清除
            words += to_chinese(text, ix.lexicon) if lang == "en" else []
            top = ix.lexical(words, depth) if self.bm25_weight > 0 else []
            if weight == 1.0:
                known = set(words)
                keyed |= {f.source for f in top if self._keyed(f.source, known)}
                if top:     # a rare name looked up alone: the row it keys, in a long group of rows
                    have, last = {f.source for f in top}, top[-1].score
                    rare = [replace(f, score=last) for w in dict.fromkeys(words) if w.isascii()
                            and any(ch.isalpha() for ch in w) and 0 < ix.lexicon.count(w) <= KEY_DEPTH
                            for f in ix.lexical([w], KEY_DEPTH) if f.source not in have and self._keyed(f.source, known)]
                    top += rare
                    keyed |= {f.source for f in rare}
            sims = {f.id: f.score for f in near}
            todo = [f.id for f in top if f.id not in sims]   # found by their words: their closeness in meaning too
            if todo:      # (a passage not embedded is measured with the vector that stands for it)
                sims.update(zip(todo, (ix.vectors(todo) @ vec).tolist()))
            dense = dense or sims
            for src, score in self._fuse(near + top, _merged(sims, near + top) if across else sims, top).items():
                fused[src] = fused.get(src, 0.0) + weight * score
        for src in keyed:       # found by their words, but close in meaning to nothing (rows of names and versions)
            fused[src] += KEY_BONUS
        best = sorted(fused, key=lambda src: fused[src], reverse=True)[:n]
        hits = [self._hit(src, fused[src], dense, qvec, lang) for src in best]
        for h in hits if asked else []:     # a question that names a version: passages about that version first
            about = self.scopes.of(h.doc_id, h.heading)
            h.score += SCOPE_BONUS * (any(v.covers(q) for v in about for q in asked) - conflicts(asked, about))
        for h in hits if defined else []:   # "X 是什么": the passage that says "X 是…" first
            h.score += DEFINITION_BONUS * defines(h.text, defined, self.tokenizer.tokenize)
        return sorted(hits, key=lambda h: -h.score)[:k]

    def _keyed(self, src: Hashable, words: set[str]) -> bool:
        """Is a table row of this source named by its first cell among `words`, or a list item by the term it
        explains ("- `delaycompress`：在下一次转储时…"), a name with Latin letters ("zsh", "TDengine"; not
        "autojump-zsh", which only contains one)?"""
        return any(key <= words for key in self._keys(src))

    def _source_keys(self, src: Hashable) -> list[frozenset[str]]:
        """The tokens of each row's first cell, or each item's term, that holds a name with Latin letters."""
        tokenize = self.tokenizer.tokenize

        def keys(c: Chunk) -> list[str]:
            lines = c.text[c.lead:].splitlines()
            return ([row.split("|")[0] for row in lines] if c.kind == "table" else
                    [m[1] for line in lines if (m := _TERM.match(line))] if c.kind == "list" else [])
        return [key for c in self.index.members(src).values() for k in keys(c) if (key := frozenset(tokenize(k)))
                and any(w.isascii() and any(ch.isalpha() for ch in w) for w in key)]

    def _fuse(self, found: list[Found], sims: dict[Hashable, float], top: list[Found]) -> dict[Hashable, float]:
        """Each candidate source's closeness in meaning and BM25 score (0 if its words did not match), each in
        standard deviations above the candidates' mean, weighted together. Scores, not ranks: a passage that alone
        holds the question's rare words stands out of the BM25 list by far and is not outvoted by generic
        passages that are merely close in meaning, as it would be by rank fusion."""
        source = {f.id: f.source for f in found}
        meaning: dict[Hashable, float] = {}
        words: dict[Hashable, float] = {}
        for i, s in sims.items():
            meaning[source[i]] = max(meaning.get(source[i], -1.0), s)
        for f in top:
            words[f.source] = max(words.get(f.source, 0.0), f.score)
        pool = list(meaning)
        z = _standard(np.array([meaning[s] for s in pool]))
        if words:
            z = (z + self.bm25_weight * _standard(np.array([words.get(s, 0.0) for s in pool]))) / (1 + self.bm25_weight)
        return dict(zip(pool, z.tolist()))

    def _hit(self, src: Hashable, score: float, dense: dict[Hashable, float], qvec: np.ndarray,
             lang: str | None) -> Hit:
        """Show the source in the preferred language: its whole paragraph, or the closest chunk of a long one."""
        ix = self.index
        chunks = ix.members(src)
        members = list(chunks)
        pool = [i for i in members if lang and chunks[i].lang == lang] or members
        missing = [i for i in pool if i not in dense]
        sims = dict(dense)
        if missing:
            sims.update(zip(missing, (ix.vectors(missing) @ qvec).tolist()))
        best = max(pool, key=lambda j: sims[j])
        c = chunks[best]
        siblings = [chunks[i] for i in pool if chunks[i].doc_id == c.doc_id]   # in document order
        hit = as_hit(ix, c, score, dense=max(sims[j] for j in members if j in sims))
        if len(siblings) > 1 and siblings[-1].end - siblings[0].start <= self.max_passage_chars:
            hit.start, hit.end, hit.text, hit.lead = siblings[0].start, siblings[-1].end, "", siblings[0].lead
            head = siblings[0].text[:siblings[0].lead]
            for s in siblings:   # chunks of one paragraph are separated by the whitespace between two sentences
                text = s.text    # a group of rows (items) repeats its table's caption and column names: shown once
                if s.lead and s.start > hit.start and s.text[:s.lead] == head:
                    text = _BLANK.sub(" ", head) + text[s.lead:]
                hit.text += " " * (s.start - hit.start - len(hit.text)) + text
        return hit


def as_hit(ix: Store, c: Chunk, score: float, dense: float = 0.0) -> Hit:
    """One passage as a source to show and cite."""
    d = ix.docs[c.doc_id]
    return Hit(chunk_id=c.id, text=c.text, document=d["title"], doc_id=c.doc_id, para_id=c.para_id, lang=c.lang,
               score=round(score, 6), original=ix.original(c), url=with_anchor(d["url"], c.anchor), date=d["date"],
               heading=c.heading, start=c.start, end=c.end, dense=dense, kind=c.kind, lead=c.lead)


def _merged(sims: dict[Hashable, float], found: list[Found]) -> dict[Hashable, float]:
    """Closeness merged across languages as separate result lists are (federated search): each passage's less the
    mean of the candidates in its language, or of the whole pool while fewer than MIN_GROUP are in it."""
    langs = {f.id: f.lang for f in found}
    groups: dict[str, list[float]] = defaultdict(list)
    for i, s in sims.items():
        groups[langs[i]].append(s)
    pool = sum(sims.values()) / len(sims) if sims else 0.0
    mean = {lang: sum(v) / len(v) if len(v) >= MIN_GROUP else pool for lang, v in groups.items()}
    return {i: s - mean[langs[i]] for i, s in sims.items()}


def _standard(x: np.ndarray) -> np.ndarray:
    """x in standard deviations above its mean (all zeros when there is no spread)."""
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 1e-9 else np.zeros_like(x)

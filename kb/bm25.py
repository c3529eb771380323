"""BM25 over kb's own tokens, kept as plain numpy arrays: built vectorised, saved as .npy, opened memory-mapped.

The scores are bm25s' default ("lucene") ones, precomputed per (token, chunk) in a compressed sparse
column matrix as bm25s does: idf = ln(1 + (N - df + 0.5) / (df + 0.5)), times tf / (tf + k1 (1 - b + b dl/avgdl)).
Building from token ids with numpy instead of bm25s' per-document Python loop takes a fraction of a
second for 100k chunks, and the token ids are saved too, so a rebuild re-tokenizes only new chunks.
A query adds up only its own tokens' columns, so its cost follows those tokens' postings, not the corpus.
"""
from __future__ import annotations

import json
import multiprocessing
import os
from array import array
from collections.abc import Callable
from pathlib import Path

import numpy as np

K1, B = 1.5, 0.75


class BM25:
    """A read-only BM25 index: `vocab_dict` (token -> column), the score matrix, and each chunk's token ids."""

    def __init__(self, vocab: list[str], data, indices, indptr, tokens, token_ptr):
        self.vocab = vocab
        self.vocab_dict = {t: i for i, t in enumerate(vocab)}
        self.data, self.indices, self.indptr = data, indices, indptr       # column t: rows indptr[t]:indptr[t+1]
        self.tokens, self.token_ptr = tokens, token_ptr                    # chunk i: tokens[token_ptr[i]:token_ptr[i+1]]
        self.n_docs = len(token_ptr) - 1

    @property
    def df(self) -> np.ndarray:
        """Chunks containing each token (every chunk with a token has a positive score for it)."""
        return np.diff(self.indptr).astype(np.int32)

    @classmethod
    def build(cls, vocab: list[str], tokens: np.ndarray, token_ptr: np.ndarray) -> BM25:
        """Index chunks given as token ids into `vocab` (chunk i: tokens[token_ptr[i]:token_ptr[i+1]])."""
        n, v = len(token_ptr) - 1, len(vocab)
        lengths = np.diff(token_ptr)
        doc = np.repeat(np.arange(n, dtype=np.int64), lengths)
        pairs, tf = np.unique(tokens.astype(np.int64) * max(n, 1) + doc, return_counts=True)   # sorted by token, then chunk
        tok, row = pairs // max(n, 1), (pairs % max(n, 1)).astype(np.int32)
        df = np.bincount(tok, minlength=v)
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
        norm = K1 * (1 - B + B * lengths / max(lengths.mean(), 1e-9)) if n else lengths
        data = (idf[tok] * tf / (tf + norm[row])).astype(np.float32)
        indptr = np.zeros(v + 1, dtype=np.int64)
        np.cumsum(df, out=indptr[1:])
        return cls(vocab, data, row, indptr, tokens.astype(np.int32), token_ptr.astype(np.int64))

    def top(self, token_ids: list[int], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best-scoring chunks for a query of `token_ids` (repeats count again, as in bm25s): (ids, scores)."""
        cols = [(int(self.indptr[t]), int(self.indptr[t + 1])) for t in token_ids]
        if not cols or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        rows: np.ndarray = np.concatenate([self.indices[s:e] for s, e in cols])
        weights: np.ndarray = np.concatenate([self.data[s:e] for s, e in cols]).astype(np.float64)
        if len(cols) > 1 and len(rows) * 8 < self.n_docs:   # few postings: add up over their union only
            rows, inverse = np.unique(rows, return_inverse=True)
            weights = np.bincount(inverse, weights=weights, minlength=len(rows))
        elif len(cols) > 1:                                  # many: one dense pass is cheaper than sorting them
            weights = np.bincount(rows, weights=weights, minlength=self.n_docs)
            rows = np.arange(self.n_docs)
        if len(rows) > k:
            best = np.argpartition(-weights, k - 1)[:k]
            rows, weights = rows[best], weights[best]
        keep = weights > 0
        rows, weights = rows[keep], weights[keep]
        order = np.lexsort((rows, -weights))      # best first; ties by chunk order, so results are stable
        return rows[order].astype(np.int64), weights[order].astype(np.float32)

    def get_scores(self, tokens: list[str]) -> np.ndarray:
        """Scores of every chunk for query tokens (bm25s' API; `top` is what retrieval uses)."""
        scores = np.zeros(self.n_docs, dtype=np.float32)
        for t in (self.vocab_dict[t] for t in tokens if t in self.vocab_dict):
            s, e = self.indptr[t], self.indptr[t + 1]
            scores[self.indices[s:e]] += self.data[s:e]
        return scores

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")
        for name in ("data", "indices", "indptr", "tokens", "token_ptr"):
            np.save(folder / f"{name}.npy", np.asarray(getattr(self, name)))

    @classmethod
    def load(cls, folder: Path, mmap: bool = True) -> BM25:
        """Open a saved index; with mmap (the default) the arrays stay on disk and pages load on use."""
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        arrays = [np.load(folder / f"{name}.npy", mmap_mode="r" if mmap else None)
                  for name in ("data", "indices", "indptr", "tokens", "token_ptr")]
        return cls(vocab, *arrays)


Tokenize = Callable[[str], list[str]]


def build_bm25(chunks: list, previous: tuple[list[str], BM25] | None, tokenize: Tokenize,
               progress: bool = True) -> BM25:
    """BM25 over every chunk's tokens; `previous` = (chunk ids, BM25) of the live version, whose tokens
    are reused for every chunk with the same content hash, so only new chunks are `tokenize`d."""
    old_rows = {k: i for i, k in enumerate(previous[0])} if previous else {}
    old = previous[1] if previous else None
    reuse = [(i, old_rows[c.id]) for i, c in enumerate(chunks) if c.id in old_rows]
    todo = [i for i, c in enumerate(chunks) if c.id not in old_rows]

    ids = {t: i for i, t in enumerate(old.vocab)} if old else {}
    fresh, fresh_len = array("i"), np.zeros(len(todo), dtype=np.int64)     # 4 bytes a token, not a Python int
    for j, toks in enumerate(_tokenize_many([chunks[i].lexical_text for i in todo], tokenize, progress)):
        fresh.extend(ids.setdefault(t, len(ids)) for t in toks)     # ids at once: a million chunks' strings won't fit
        fresh_len[j] = len(toks)

    lengths = np.zeros(len(chunks), dtype=np.int64)
    lengths[todo] = fresh_len
    runs = [(np.array(todo, dtype=np.int64), np.frombuffer(fresh, dtype=np.int32), np.cumsum(fresh_len) - fresh_len)]
    if reuse and old is not None:
        new_rows, old_rows_ = map(np.array, zip(*reuse))
        lengths[new_rows] = np.diff(old.token_ptr)[old_rows_]
        runs.insert(0, (new_rows, np.asarray(old.tokens), old.token_ptr[old_rows_]))
    ptr = np.zeros(len(chunks) + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    tokens = np.empty(ptr[-1], dtype=np.int32)
    for rows, source, starts in runs:
        n = lengths[rows]      # copy every run at once: run k goes from source[starts[k]:] to tokens[ptr[rows[k]]:]
        offs = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        tokens[np.repeat(ptr[rows], n) + offs] = source[np.repeat(starts, n) + offs]
    vocab = list(ids)
    used = np.unique(tokens)   # drop the words of removed chunks, so every vocabulary word occurs
    if len(used) < len(vocab):
        remap = np.full(len(vocab), -1, dtype=np.int32)
        remap[used] = np.arange(len(used), dtype=np.int32)
        tokens, vocab = remap[tokens], [vocab[u] for u in used]
    return BM25.build(vocab, tokens, ptr)


def _tokenize_many(texts: list[str], tokenize: Tokenize, progress: bool):
    """`tokenize` over many texts, yielded in order; one process per core for large builds (jieba is pure Python)."""
    from tqdm.auto import tqdm
    bar = tqdm(total=len(texts), unit="chunk", desc="tokenizing", disable=not progress or len(texts) < 2000,
               leave=False, dynamic_ncols=True)
    workers = min(os.cpu_count() or 1, 8)
    if len(texts) < 20_000 or workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        for t in texts:
            yield tokenize(t)
            bar.update()
    else:
        from concurrent.futures import ProcessPoolExecutor
        tokenize("")           # load jieba once, before forking, so the workers share it
        batches = [texts[i:i + 2000] for i in range(0, len(texts), 2000)]
        # Forked workers inherit `tokenize` (initargs are not pickled under fork), then tokenize batch after batch.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_worker_uses, initargs=(tokenize,)) as pool:
            for part in pool.map(_tokenize_batch, batches):
                yield from part
                bar.update(len(part))
    bar.close()


_worker_tokenize: Tokenize | None = None     # set only inside a forked tokenizing worker


def _worker_uses(tokenize: Tokenize) -> None:
    global _worker_tokenize
    _worker_tokenize = tokenize


def _tokenize_batch(texts: list[str]) -> list[list[str]]:
    assert _worker_tokenize is not None
    return [_worker_tokenize(t) for t in texts]

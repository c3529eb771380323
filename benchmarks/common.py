"""What the benchmarks share: the questions, synthetic corpora from real sentences, timing, memory, tables.

Synthetic knowledge bases (scale.py, build.py) are made of the real Chinese and English sentences of
corpus/ and tests/data/mini/, cut at their commas and recombined: each chunk is a few clauses of one
language drawn at random (seeded), so every chunk's text is unique and all its words are real.
"""
from __future__ import annotations

import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))          # run from a clean clone without installing kb first

from kb.types import Chunk, Document, Paragraph   # noqa: E402

WORK = Path(os.environ.get("KB_BENCH_DIR", ROOT / ".kb" / "bench"))   # indexes and caches the benchmarks build


def questions() -> list[str]:
    """The labelled questions of tests/data/eval.jsonl and the UI's examples: real questions in both languages."""
    examples = (ROOT / "corpus" / ".examples.txt").read_text(encoding="utf-8").splitlines()
    qs = [q.strip() for q in examples if q.strip() and not q.startswith("#")]
    path = ROOT / "tests" / "data" / "eval.jsonl"
    if path.exists():
        qs += [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return list(dict.fromkeys(qs))


def real_clauses() -> list[tuple[str, str]]:
    """(language, clause) for every clause (sentence cut at its commas) of the bundled and the test corpus."""
    import re
    from kb.documents import load_corpus
    from kb.text import split_sentences
    out = []
    for folder in (ROOT / "corpus", ROOT / "tests" / "data" / "mini"):
        docs, _ = load_corpus(folder)
        for d in docs:
            for p in d.paragraphs:
                for s, e in split_sentences(p.text):
                    out += [(d.lang, c.strip()) for c in re.split(r"(?<=[，,；;：])|(?<=[,;:])(?=\s)", p.text[s:e]) if c.strip()]
    return list(dict.fromkeys(out))


def synthetic_corpus(n_chunks: int, pool: int, seed: int = 0, per_doc: int = 50, prefix: str = "syn",
                     n_clauses: tuple[int, int] | None = None):
    """Documents of recombined real clauses, one chunk per paragraph: (docs, chunks, parents).

    Chunks 0..pool-1 are 4-8 Chinese or 3-6 English clauses (or `n_clauses`) drawn at random: these are
    embedded for real.
    Every later chunk is derived from two pool chunks a and b of its language: a's clauses with one
    swapped for one of b's and another for any clause; parents[i] = (a, b), so its vector can be mixed
    from theirs. Texts are unique and at most 400 characters (the default chunk size), so
    `chunk_document` makes exactly one chunk of each paragraph.
    """
    import hashlib
    rng = random.Random(seed)
    clauses = real_clauses()
    by_lang: dict[str, list[int]] = {}
    for i, (lang, _) in enumerate(clauses):
        by_lang.setdefault(lang, []).append(i)
    langs = sorted(by_lang)
    sizes = {"zh": n_clauses or (4, 8), "en": n_clauses or (3, 6)}
    combos: list[tuple[int, ...]] = []
    parents: list[tuple[int, int] | None] = []
    seen: set[tuple[int, ...]] = set()
    pool_by_lang: dict[str, list[int]] = {lang: [] for lang in langs}
    docs, chunks = [], []
    for d in range((n_chunks + per_doc - 1) // per_doc):
        lang = langs[d % len(langs)]
        sep = "" if lang == "zh" else " "
        doc_id = f"{prefix}/{d // 1000:04d}/doc-{d:07d}.md"
        paras, pos, texts = [], 0, []
        for j in range(min(per_doc, n_chunks - d * per_doc)):
            i = len(combos)
            while True:
                if i < pool or not pool_by_lang[lang]:
                    combo, parent = rng.sample(by_lang[lang], rng.randint(*sizes[lang])), None
                else:
                    a, b = rng.choice(pool_by_lang[lang]), rng.choice(pool_by_lang[lang])
                    combo, parent = list(combos[a]), (a, b)
                    combo[rng.randrange(len(combo))] = rng.choice(combos[b])
                    combo[rng.randrange(len(combo))] = rng.choice(by_lang[lang])
                while sum(len(clauses[k][1]) + 1 for k in combo) > 400:
                    combo.pop()
                combo = tuple(combo)
                if len(set(combo)) == len(combo) and combo not in seen:
                    break
            seen.add(combo)
            combos.append(combo)
            parents.append(parent)
            if i < pool:
                pool_by_lang[lang].append(i)
            text = sep.join(clauses[k][1] for k in combo)
            paras.append(Paragraph(f"p{j + 1}", text, pos, pos + len(text)))
            texts.append(text)
            pos += len(text) + 2
        doc = Document(doc_id, f"Synthetic {lang} document {d}", "\n\n".join(texts), paras, lang=lang)
        docs.append(doc)
        for p in paras:
            c = Chunk("", doc_id, p.id, p.text, p.start, p.end, lang)
            c.id = hashlib.sha1(c.embed_text.encode("utf-8")).hexdigest()[:20]
            chunks.append(c)
    return docs, chunks, parents


def synthetic_vectors(parents: list, pool_vectors, seed: int = 0, noise: float = 0.3):
    """Vectors for a synthetic corpus: the pool's real vectors, then each derived chunk's mix of its parents.

    v = normalise(v_a + beta * v_b + noise * g / sqrt(dim)), beta ~ U(0, 0.5), g ~ N(0, I): a derived chunk
    sits near the real chunk it was made from, leaning towards the one it borrowed a sentence from,
    perturbed in every direction so no two vectors coincide.
    """
    import numpy as np
    rng = np.random.default_rng(seed)
    n, dim = len(parents), pool_vectors.shape[1]
    out = np.empty((n, dim), dtype=np.float32)
    p = len(pool_vectors)
    out[:min(p, n)] = pool_vectors[:n]
    for s in range(p, n, 65536):
        e = min(s + 65536, n)
        a = np.array([parents[i][0] for i in range(s, e)])
        b = np.array([parents[i][1] for i in range(s, e)])
        beta = rng.uniform(0, 0.5, size=(e - s, 1)).astype(np.float32)
        v = pool_vectors[a] + beta * pool_vectors[b] + rng.standard_normal((e - s, dim), dtype=np.float32) * (noise / dim ** 0.5)
        out[s:e] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def embed_for_real(chunks: list[Chunk], progress: bool = True):
    """Real vectors of `chunks` from the bundled model, through kb's content-hash cache in WORK (so once only)."""
    from kb.embedding import make_embedder
    from kb.embedding import EmbeddingCache
    emb = make_embedder("e5")
    return EmbeddingCache(WORK / "embeddings", emb.id, emb.dim).embed(chunks, emb, progress=progress)


def write_markdown(doc: Document, folder: Path) -> Path:
    """Write a Document as a corpus file (front matter + one paragraph per blank-line block)."""
    path = folder / doc.id
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "\n\n".join(p.text for p in doc.paragraphs)
    path.write_text(f"---\ntitle: '{doc.title}'\nlang: {doc.lang}\n---\n\n{body}\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- measuring

def timed(fn, *args, **kwargs):
    """(result, seconds) of one call."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    i = min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))
    return xs[i]


def summary_ms(xs: list[float]) -> dict:
    """p50/p95/p99/mean in milliseconds of a list of seconds."""
    return {"n": len(xs), "p50": round(statistics.median(xs) * 1000, 2), "p95": round(percentile(xs, 95) * 1000, 2),
            "p99": round(percentile(xs, 99) * 1000, 2), "mean": round(statistics.fmean(xs) * 1000, 2)}


def rss_mb() -> float:
    """Resident memory of this process now, MiB (Linux /proc; 0 elsewhere)."""
    return _proc_status("VmRSS")


def peak_rss_mb() -> float:
    return _proc_status("VmHWM")


def _proc_status(key: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 2**20


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    except OSError:
        mem = 0.0
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1), "python": platform.python_version(),
            "load_avg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None}


def table(rows: list[list], headers: list[str]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:,.3g}" if abs(x) < 10 else f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.1f}"
    return str(x)


def machine_line() -> str:
    m = machine()
    return (f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, "
            f"load average {m['load_avg']}")


def emit(result: dict, text: str, as_json: bool) -> None:
    """Print the table, or the JSON when --json was given."""
    print(json.dumps(result, ensure_ascii=False, indent=2) if as_json else text)

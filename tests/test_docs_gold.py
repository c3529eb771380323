"""The labelled questions over the OpenCloudOS docs: gold evidence really is on its page, and the split is fixed.

No model, no index: this guards the labels themselves (seconds). See tests/data/README.md.
"""
import hashlib
import json
import os
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from conftest import DATA

from kb.documents import parse_document
from kb.text import normalize, squash

# CI has shared/ beside the clone; KB_DOCS_CORPUS points elsewhere (e.g. from a git worktree).
CORPUS = Path(os.environ.get("KB_DOCS_CORPUS")
              or Path(__file__).resolve().parents[2] / "shared/corpora/opencloudos-docs")
SPLITS = {"dev": DATA / "docs_dev.jsonl", "heldout": DATA / "docs_heldout.jsonl"}
KINDS = {"fact", "list", "table", "faq", "howto", "version", "typo"}


def is_heldout(qid: str) -> bool:
    """The split rule, fixed before any result was seen: 4 in 10 ids by their SHA-256 go to the held-out part."""
    return int(hashlib.sha256(qid.encode()).hexdigest()[:8], 16) % 10 < 4


def items(split):
    return [json.loads(line) for line in SPLITS[split].read_text(encoding="utf-8").splitlines() if line.strip()]


ALL = [(split, it) for split in SPLITS for it in items(split)]


@cache
def passages(page: str) -> tuple[str, ...]:
    """Each paragraph of the page as kb parses it (heading path + text), folded the way `kb eval` compares."""
    doc = parse_document(page, (CORPUS / page).read_bytes(), CORPUS)
    return tuple(squash(normalize(" ".join(p.heading) + " " + p.text)) for p in doc.paragraphs)


def test_each_question_sits_in_the_split_its_id_hashes_to():
    ids = [it["id"] for _, it in ALL]
    assert len(ids) == len(set(ids))
    assert [it["id"] for split, it in ALL if (split == "heldout") != is_heldout(it["id"])] == []


def test_the_set_is_big_mixed_and_labelled_completely():
    assert len(ALL) >= 220
    its = [it for _, it in ALL]
    assert sum(not it["answerable"] for it in its) >= 0.2 * len(its)
    assert {it["kind"] for it in its} == KINDS
    langs = Counter((it["lang"], it["cross_lingual"]) for it in its)
    assert min(langs[("zh", False)], langs[("en", False)], langs[("en", True)]) >= 30, langs
    for it in its:
        assert set(it) >= {"id", "question", "lang", "kind", "answerable", "cross_lingual", "page", "evidence",
                           "keywords"}, it["id"]
        assert bool(it["evidence"]) == it["answerable"], it["id"]     # unanswerable near misses have none
        if it["kind"] == "version":
            assert it.get("version"), it["id"]


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the development corpus is not at {CORPUS} (shared/ beside the clone)")
def test_gold_evidence_occurs_on_its_page_as_kb_parses_it():
    """Every evidence entry (a string, or a table row's key and cell together) is inside one parsed paragraph."""
    missing = []
    for _, it in ALL:
        for entry in it["evidence"]:
            parts = [squash(normalize(p)) for p in ([entry] if isinstance(entry, str) else entry)]
            if not any(all(p in para for p in parts) for para in passages(it["page"])):
                missing.append((it["id"], it["page"], entry))
    assert missing == []

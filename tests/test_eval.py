"""`kb eval` on the labelled bilingual set: the quality floors the product promises."""
import json
import subprocess
import sys

import pytest

from conftest import CORPUS, DATA


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    index = tmp_path_factory.mktemp("eval") / "index"
    out = subprocess.run([sys.executable, "-m", "kb.cli", "--corpus", str(CORPUS), "--index", str(index), "-q",
                          "eval", "--json", str(DATA / "eval.jsonl")], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_the_set_is_big_and_bilingual(report):
    m = report["metrics"]
    assert m["all"]["questions"] >= 60 and m["all"]["unanswerable"] >= 12
    assert m["zh"]["answerable"] >= 20 and m["en"]["answerable"] >= 20


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_gold_evidence_is_cited_first(report, lang):
    assert report["metrics"][lang]["recall@1"] >= 0.9


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_answers_hold_the_key_fact_in_the_askers_language(report, lang):
    m = report["metrics"][lang]
    assert m["keyword_acc"] >= 0.85 and m["language_acc"] >= 0.95


def test_refuses_what_the_corpus_does_not_say_without_refusing_what_it_does(report):
    m = report["metrics"]["all"]
    assert m["refusal_recall"] >= 0.8
    assert m["answerable_refused"] <= 0.05


def test_table_output_is_readable(tmp_path):
    out = subprocess.run([sys.executable, "-m", "kb.cli", "--corpus", str(CORPUS), "--index", str(tmp_path / "ix"),
                          "-q", "eval", str(DATA / "eval.jsonl")], capture_output=True, text=True, check=True).stdout
    header, *rows = out.splitlines()
    assert header.split()[:3] == ["lang", "questions", "recall@1"] and [r.split()[0] for r in rows] == ["en", "zh", "all"]


def test_a_second_set_written_independently_stays_above_looser_floors(tmp_path):
    """heldout.jsonl was written by someone who saw neither kb's code nor eval.jsonl."""
    out = subprocess.run([sys.executable, "-m", "kb.cli", "--corpus", str(CORPUS), "--index", str(tmp_path / "ix"),
                          "-q", "eval", "--json", str(DATA / "heldout.jsonl")], capture_output=True, text=True, check=True)
    m = json.loads(out.stdout)["metrics"]
    assert m["zh"]["recall@1"] >= 0.8 and m["en"]["recall@1"] >= 0.8
    assert m["all"]["refusal_recall"] >= 0.8 and m["all"]["answerable_refused"] <= 0.15

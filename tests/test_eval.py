"""`kb eval` on the labelled bilingual set: the quality floors the product promises."""
import json
import subprocess
import sys

import pytest

from conftest import CORPUS, DATA


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return tmp_path_factory.mktemp("eval") / "index"


def kb_eval(index, *args):
    return subprocess.run([sys.executable, "-m", "kb.cli", "--corpus", str(CORPUS), "--index", str(index), "-q",
                           "eval", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def report(index):
    return json.loads(kb_eval(index, "--json", str(DATA / "eval.jsonl")))


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


def test_several_sets_are_reported_by_split_and_by_kind(index):
    """Each file is a split (its stem); --by gives one table per grouping, named with the issue's metrics."""
    out = kb_eval(index, str(DATA / "eval.jsonl"), str(DATA / "heldout.jsonl"), "--by", "split", "--by", "kind")
    by_split, by_kind = out.split("\n\n")
    header, *rows = by_split.splitlines()
    assert header.split()[:4] == ["split", "questions", "cited@1", "cited@3"]
    assert [r.split()[:2] for r in rows] == [["eval", "72"], ["heldout", "48"], ["all", "120"]]
    kinds = [r.split()[0] for r in by_kind.splitlines()[1:]]
    assert {"typo", "paraphrase", "all"} <= set(kinds)


def test_evidence_is_found_in_the_heading_path_or_as_a_whole_table_row():
    from kb.evaluation import holds
    from kb.types import Citation
    row = Citation(1, "软件名: TDengine; 版本: V3.0.4.1", "", "adaptation_sw.md", 1.0,
                   heading=("OpenCloudOS 9.0 新特性汇总", "Kernel 6.1，带给社区最新成果体验："))
    assert holds(row, [["TDengine", "V3.0.4.1"]]) and holds(row, ["Kernel 6.1"])
    assert not holds(row, [["TDengine", "V6.0"]])       # every part of an entry must be in the same citation
    assert holds(row, ["ＴＤｅｎｇｉｎｅ"])                # compared after kb's normalisation (NFKC)


def test_an_interval_says_how_far_a_figure_could_move_on_other_questions():
    """70 of 100 cited right: the bootstrap interval holds 0.7 and is about ±0.09 wide, as a binomial's is; a
    rate over no questions has none, and unanswerable questions are counted only for the refusal rate."""
    from kb.evaluation import interval
    rows = [{"answerable": True, "at1": i < 70, "refused": False} for i in range(100)]
    lo, hi = interval(rows, "recall@1")
    assert lo < 0.7 < hi and 0.15 < hi - lo < 0.21
    assert interval(rows, "refusal_recall") is None
    rows += [{"answerable": False, "at1": False, "refused": True}] * 10
    assert interval(rows, "refusal_recall") == (1.0, 1.0) and interval(rows, "recall@1") == (lo, hi)

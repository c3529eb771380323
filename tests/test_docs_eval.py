"""Answer quality on a real documentation site: a subset of the OpenCloudOS docs, built with the bundled model.

The whole site takes about 7 minutes to build on 2 idle cores (benchmarks/docs_site.py), too long for every CI run,
so this builds the pages of tests/data/docs_ci_pages.txt (about 1,200 passages, 40 pages) into tmp_path and asks the labelled questions
whose page is among them: 716 of the 1321. The floors sit just below what kb measures (see FLOORS), so they
catch regressions; the issue's targets on the held-out part (cited@1 >= 0.85,
cited@3 >= 0.95, keywords >= 0.85, unanswerable refused >= 0.85 with <= 5% of answerable refused) are for
that work to reach, and to raise these floors to. `benchmarks/docs_site.py` measures the same on the full site.
"""
import shutil
import time

import pytest
from conftest import DATA
from test_docs_gold import CORPUS, SPLITS

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the development corpus is not at {CORPUS} "
                                "(CI has shared/ beside the clone; or set KB_DOCS_CORPUS)")

# split -> metric -> floor: the figure on this subset (in the comment) less ~0.03 for ties that break differently.
# When new questions leave a figure within ~0.015 of its floor, the floor moves to sit ~0.03 below it again; every
# round's figures, and what each change moved, are in docs/QUALITY.md ("The CI subset"). Measured in round 29, with
# oc-1242…oc-1321 (432 and 284 questions). cited@3 counts an answer's further reading ("see also") after its citations.
FLOORS = {
    "docs_dev": {"recall@1": 0.77, "recall@3": 0.88, "keyword_acc": 0.77, "refusal_recall": 0.75},  # .809 .910 .796 .782
    "docs_heldout": {"recall@1": 0.75, "recall@3": 0.83, "keyword_acc": 0.735, "refusal_recall": 0.78},  # .809 .879 .784 .800
}
# English questions over Chinese pages that have no English twin, both splits (159 questions, 109 answerable): the
# weakest group. Measured .734 .853 .706 in round 29 (each earlier round's figures are in this file's git history);
# on the first 50 such questions, .562 .688 .531 before English and Chinese candidates were merged as separate result
# lists and Chinese units scored by the words the question's translate to.
CROSS_FLOORS = {"recall@1": 0.67, "recall@3": 0.82, "keyword_acc": 0.65}
# The bound is 0.05; these leave a question or two of slack over what is measured. (Held-out .054 before
# a Chinese question's Latin names had to be said by the answer's page: it refuses two more answerable questions
# there, whose answers came from a page about something else, and lets four fewer near misses through.)
CEILINGS = {"docs_dev": {"answerable_refused": 0.05}, "docs_heldout": {"answerable_refused": 0.10}}     # [.030 .070]


def pages() -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in (DATA / "docs_ci_pages.txt").read_text().splitlines())
    return [line for line in lines if line]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from kb import KnowledgeBase
    from kb.evaluation import evaluate, format_report, load_labelled
    root = tmp_path_factory.mktemp("docs")
    for page in pages():
        (root / "corpus" / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CORPUS / page, root / "corpus" / page)
    t0 = time.perf_counter()
    kb = KnowledgeBase.open(corpus=root / "corpus", index_dir=root / "index", progress=False)
    build_s = time.perf_counter() - t0
    items = [it for path in SPLITS.values() for it in load_labelled(path) if it["page"] in set(pages())]
    out = evaluate(kb, items)
    print(f"\n{len(kb.index):,} passages from {len(pages())} pages built in {build_s:.0f} s; {len(items)} questions\n")
    print(format_report(out, ("split", "split/kind", "lang")))
    return out


def test_the_subset_keeps_most_questions_and_both_splits(report):
    by_split = report["by"]["split"]
    assert by_split["all"]["questions"] >= 300
    assert by_split["docs_heldout"]["questions"] >= 100 and by_split["docs_heldout"]["unanswerable"] >= 20


@pytest.mark.parametrize("split", list(FLOORS))
def test_quality_does_not_fall_below_todays(report, split):
    m = report["by"]["split"][split]
    low = {k: m[k] for k, floor in FLOORS[split].items() if m[k] < floor}
    high = {k: m[k] for k, ceiling in CEILINGS[split].items() if m[k] > ceiling}
    assert low == {} and high == {}, f"{split}: below floor {low}, above ceiling {high}"


def test_english_questions_find_chinese_pages_without_a_twin(report):
    m = report["metrics"]["en-cross"]
    low = {k: m[k] for k, floor in CROSS_FLOORS.items() if m[k] < floor}
    assert low == {}, f"English over Chinese-only pages: below floor {low}"

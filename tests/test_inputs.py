"""Whatever a portal user types, the engine answers or explains in the asker's language — never crashes."""
import pytest

from kb.errors import QuestionError

# (case, question, expected): "answer" = a normal cited answer, "refuse" = a polite refusal,
# "error:<text>" = QuestionError whose message contains <text>.
CASES = [
    ("empty", "", "error:Please enter a question"),
    ("whitespace", " \t\n　", "error:请输入一个问题"),
    ("punctuation only", "？！。，...", "error:Please enter a question"),
    ("emoji only", "🤔🤔🔥", "error:请输入一个问题"),
    ("100k characters", "cgroupfs 是什么" * 10_000, "error:问题太长了"),
    ("100k characters, English", "What is cgroupfs? " * 6_000, "error:too long"),
    ("NUL and control characters", "What\x00 is\x07 cgroup\x1bfs?", "answer"),
    ("lone surrogate", "\ud800What is cgroupfs?", "answer"),
    ("Traditional Chinese", "OpenCloudOS 8.5 與 CentOS8 相容嗎？", "answer"),
    ("full-width letters and digits", "ＯｐｅｎＣｌｏｕｄＯＳ　８．５ 的可用性是多少？", "answer"),
    ("HTML payload", "<img src=x onerror=alert(1)> What is cgroupfs?", "answer"),
    ("script payload only", "<script>alert(document.cookie)</script>", "refuse"),
    ("very long single word", "x" * 900, "refuse"),
    ("mixed frame", "does the kernel support 热补丁?", "answer"),
]


@pytest.mark.parametrize("case,question,expected", CASES, ids=[c[0] for c in CASES])
def test_every_input_gets_an_answer_or_a_clear_error(kb, case, question, expected):
    if expected.startswith("error:"):
        with pytest.raises(QuestionError, match=expected[6:]):
            kb.ask(question)
        return
    ans = kb.ask(question)
    assert ans.refused == (expected == "refuse") and ans.text
    if expected == "answer":
        assert ans.citations and "[1]" in ans.text


def test_traditional_and_full_width_questions_cite_like_their_plain_forms(kb):
    assert kb.ask("OpenCloudOS 8.5 與 CentOS8 相容嗎？").citations[0].para_id == \
        kb.ask("OpenCloudOS 8.5 与 CentOS8 兼容吗？").citations[0].para_id
    assert kb.ask("ＯｐｅｎＣｌｏｕｄＯＳ　８．５ 的可用性是多少？").text == kb.ask("OpenCloudOS 8.5 的可用性是多少？").text


@pytest.fixture(scope="module")
def sixty(tmp_path_factory):
    """A knowledge base of 60 one-paragraph sources that all mention cgroupfs: more than the cap of 50."""
    from kb import KnowledgeBase
    folder = tmp_path_factory.mktemp("sixty") / "corpus"
    folder.mkdir()
    (folder / "notes.md").write_text("\n\n".join(f"Note {n}: cgroupfs gives container {n} its own view of "
                                                 f"{n * 7} resources." for n in range(1, 61)), encoding="utf-8")
    kb = KnowledgeBase.open(corpus=folder, index_dir=folder.parent / "index", progress=False)
    assert len({(c.doc_id, c.para_id) for c in kb.index}) == 60   # one source each
    return kb


@pytest.mark.parametrize("k,expected", [(0, "error"), (-3, "error"), (True, "error"), (2.5, "error"),
                                        (3, 3), (50, 50), (51, 50), (10**9, 50)])
def test_k_is_checked_and_at_most_50(sixty, k, expected):
    if expected == "error":
        with pytest.raises(QuestionError, match="k 必须是 1 到 50"):
            sixty.ask("cgroupfs 是什么？", k=k)
        return
    assert len(sixty.search("cgroupfs", k=k)) == expected
    assert not sixty.ask("What does cgroupfs give a container?", k=k).refused

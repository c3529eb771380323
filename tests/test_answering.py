"""The answer is the part of a passage that answers: a FAQ's answer, a step's command, a list's items, table rows."""
import pytest
from conftest import DATA


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    from kb import KnowledgeBase
    return KnowledgeBase.open(corpus=DATA / "answering", index_dir=tmp_path_factory.mktemp("index"), progress=False)


def test_a_faq_gets_its_answer_not_its_question(kb):
    ans = kb.ask("安装时出现 error setting up base repository 怎么办？")
    assert not ans.refused and ans.citations[0].kind == "faq"
    assert "重新制作安装介质" in ans.text and "Q1" not in ans.text and "A：" not in ans.text
    assert "dd if=image.iso of=/dev/sdX bs=2M" in ans.commands


def test_a_howto_gets_the_step_with_its_command_on_a_line_of_its_own(kb):
    ans = kb.ask("efibootmgr 怎么安装？")
    assert not ans.refused and ans.citations[0].kind == "step"
    assert ans.commands == ["sudo dnf install efibootmgr"]
    assert "\nsudo dnf install efibootmgr" in ans.text and "请通过以下命令进行安装：[1]" in ans.text
    assert ans.to_dict()["commands"] == ans.commands and ans.to_dict()["citations"][0]["kind"] == "step"


def test_a_list_question_gets_the_lead_in_and_its_items(kb):
    ans = kb.ask("本系统支持哪些处理器架构？")
    assert not ans.refused and ans.citations[0].kind == "list"
    assert ans.text.startswith("本系统支持以下处理器架构：[1]\n- x86_64")
    assert "- aarch64" in ans.text and "- loongarch64" in ans.text


def test_a_table_question_gets_the_rows_asked_about_with_their_column_names(kb):
    ans = kb.ask("兼容哪些 NVIDIA 显卡？")
    assert not ans.refused and ans.citations[0].kind == "table"
    assert ans.text == "厂商 | 型号 | 显存[1]\nNVIDIA | Tesla A100 | 80 GB\nNVIDIA | Tesla T4 | 16 GB"
    assert ans.citations[0].rows == [0, 1]


def test_a_sentence_is_never_cut_at_its_semicolon(kb):
    ans = kb.ask("logrotate 默认保留几份备份？")
    assert "默认保留四份备份，超出的最旧备份会被删除。" in ans.text


def test_the_cli_shows_commands_as_code(tmp_path):
    from click.testing import CliRunner

    from kb.cli import cli
    out = CliRunner().invoke(cli, ["--corpus", str(DATA / "answering"), "--index", str(tmp_path / "ix"), "-q",
                                   "ask", "efibootmgr 怎么安装？"])
    assert out.exit_code == 0, out.output
    assert "\n    sudo dnf install efibootmgr\n" in out.output


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    from conftest import CORPUS
    from kb import KnowledgeBase
    return KnowledgeBase.open(corpus=CORPUS, index_dir=tmp_path_factory.mktemp("bundled"), progress=False)


@pytest.mark.parametrize("question, expected, vague", [
    ("OpenCloudOS 8.5 的内核有哪些新特性？", "容器资源视图隔离(cgroupfs)、云原生SLI", "整体上OpenCloudOS的内核"),
    ("Which kernel features does OpenCloudOS 8.5 bring?", "container resource view isolation (cgroupfs), cloud-native SLI",
     "Overall, the OpenCloudOS kernel"),
])
def test_a_which_question_gets_the_sentence_that_lists_not_the_vague_summary(bundled, question, expected, vague):
    """Prose that enumerates after a colon answers "which…" as a list does (the bundled corpus's kernel paragraph)."""
    ans = bundled.ask(question)
    assert not ans.refused and expected in ans.text and vague not in ans.text, ans.text

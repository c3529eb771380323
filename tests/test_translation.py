"""English questions over Chinese-only pages: their words, through CC-CEDICT, become the corpus's Chinese words,
so BM25 finds those pages too and not only the embedding, which is weak across languages."""
import numpy as np
import pytest
from kb.store import Lexicon
from kb.translation import english_words, glossary, synonyms, to_chinese, translations


def corpus_words(*words: str) -> Lexicon:
    return Lexicon({w: i for i, w in enumerate(words)}, np.ones(len(words), np.int32), passages=10)


@pytest.mark.parametrize("question, words, expected", [
    ("How do I install a kernel patch?", ("安装", "内核", "补丁"), ["安装", "内核", "补丁"]),
    ("How do I uninstall a hot patch?", ("卸载", "补丁", "安装"), ["卸载", "补丁"]),     # not "install"'s 安装
    ("Which boot entries are there?", ("引导", "条目"), ["引导", "条目"]),                  # plural to dictionary form
])
def test_english_words_become_the_chinese_words_the_corpus_uses(question, words, expected):
    assert to_chinese(question, corpus_words(*words)) == expected


def test_a_phrase_wins_over_its_words():
    assert to_chinese("Where is the source code?", corpus_words("源码", "来源", "代码")) == ["源码"]


def test_a_word_of_many_senses_gets_first_the_one_its_company_in_the_corpus_uses():
    """"order" is first 命令 (as in command) in the dictionary; in a question about booting, the corpus's 顺序 comes
    first, and 命令 next, not 指令. So "kernel" is 内核 in a question about modules, though the dictionary's first
    sense is 颗粒's."""
    from kb.bm25 import build_bm25
    from kb.text import tokenize
    from test_index_scale import _Fake
    texts = ["运行以下命令查看。", "输入下面的指令。", "用 efibootmgr 修改启动顺序。", "引导条目的顺序可以调整。", "命令和指令都可以。"]
    lexicon = Lexicon.of(build_bm25([_Fake(t) for t in texts], None, tokenize, progress=False), len(texts))
    assert to_chinese("How do I change the boot order with efibootmgr?", lexicon) == ["引导", "顺序", "命令"]
    assert to_chinese("What order?", lexicon) == ["命令", "指令"]           # nothing says otherwise: by sense


def test_a_first_sense_that_keeps_no_company_comes_after_one_that_does():
    from kb.bm25 import build_bm25
    from kb.text import tokenize
    from test_index_scale import _Fake
    texts = ["使用 modprobe 加载内核模块。", "卸载内核模块。", "内核版本。", "小麦颗粒。"]
    lexicon = Lexicon.of(build_bm25([_Fake(t) for t in texts], None, tokenize, progress=False), len(texts))
    assert to_chinese("How do I load a kernel module?", lexicon)[:3] == ["加载", "内核", "颗粒"]


def test_an_abbreviation_means_what_its_full_form_means():
    """CC-CEDICT glosses 开源 only as "abbr. for 开放源码"; 开放源码 is "open source"."""
    assert to_chinese("Which open source software is compatible?", corpus_words("开源", "软件", "兼容")) == \
        ["开源", "软件", "兼容"]
    assert "开源" not in to_chinese("a source that is open", corpus_words("开源"))


def test_only_words_the_corpus_uses_are_offered():
    assert to_chinese("How do I install a kernel patch?", corpus_words("镜像", "仓库")) == []
    assert to_chinese("kernel", corpus_words()) == []


def test_each_corpus_keeps_only_its_own_words():
    a, b = corpus_words("安装"), corpus_words("内核")         # two knowledge bases in one process
    assert to_chinese("install the kernel", a) == ["安装"] and to_chinese("install the kernel", b) == ["内核"]
    assert {zh for senses in glossary(a).values() for _, zh in senses} == {"安装"}
    for words in translations("install the kernel", a).values():     # a caller that changes what it was given
        words.append("内核")
    assert to_chinese("install the kernel", a) == ["安装"]       # changes nothing the lexicon keeps


def test_without_the_dictionary_english_questions_keep_their_own_words(monkeypatch):
    import kb.translation as translation

    def gone(package):
        raise ModuleNotFoundError(f"No module named '{package}'")
    monkeypatch.setattr(translation.resources, "files", gone)
    assert to_chinese("How do I install a kernel patch?", corpus_words("安装", "内核")) == []


def test_an_english_question_finds_a_chinese_only_page_by_its_words(tmp_path):
    from kb import KnowledgeBase
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "hotpatch.md").write_text(
        "# 热补丁\n\n## 安装\n\n用 livepatch 工具加载热补丁模块，加载后立即生效，无需重启。\n\n"
        "## 卸载\n\n不再需要某个热补丁时，先确认没有进程依赖它，再执行卸载，系统恢复原来的函数。\n\n"
        "## 查看\n\n列出当前已经加载的全部热补丁及其状态。\n", encoding="utf-8")
    (corpus / "admin.md").write_text("# 系统管理\n\n" + "\n\n".join([
        "网卡的地址和网关写在连接配置里，修改后重新激活连接即可。", "新建用户后把它加入 wheel 组，它就能使用 sudo。",
        "软件源的地址可以换成离你最近的镜像站，下载更快。", "系统日志默认保存在 journal 中，重启后仍然保留。",
        "防火墙默认只放行 SSH，其他端口需要手动开放。", "时区设置错误会让定时任务在错误的时间运行。",
        "磁盘空间不足时，先清理旧的内核和软件包缓存。", "主机名可以随时修改，不需要重启系统。"]), encoding="utf-8")
    kb = KnowledgeBase.open(corpus=corpus, index_dir=tmp_path / "index", progress=False)
    hits = kb.search("How do I uninstall a hot patch?", k=3)
    assert "执行卸载" in hits[0].text
    answer = kb.ask("How do I uninstall a hot patch?")
    assert not answer.refused and "执行卸载" in answer.citations[0].quote


@pytest.mark.parametrize("question, said, not_said", [
    ("How do I uninstall a hot patch?", "执行卸载", "无需重启"),
    ("How can I list the hot patches that are loaded?", "列出当前已经加载", "执行卸载"),
])
def test_an_english_question_over_a_chinese_paragraph_quotes_the_sentence_that_says_it(tmp_path, question, said, not_said):
    """Within a Chinese paragraph, the sentence that uses the question's words in Chinese (uninstall: 卸载) answers,
    not the paragraph's first sentence."""
    from kb import KnowledgeBase
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "hotpatch.md").write_text(
        "# 热补丁\n\n## 使用\n\n用 livepatch 工具加载热补丁模块，加载后立即生效，无需重启。不再需要某个热补丁时，先确认没有进程依赖它，"
        "再执行卸载，系统恢复原来的函数。列出当前已经加载的全部热补丁及其状态，可以确认哪些仍在生效。\n", encoding="utf-8")
    (corpus / "admin.md").write_text("# 系统管理\n\n" + "\n\n".join([
        "网卡的地址和网关写在连接配置里，修改后重新激活连接即可。", "新建用户后把它加入 wheel 组，它就能使用 sudo。",
        "软件源的地址可以换成离你最近的镜像站，下载更快。", "系统日志默认保存在 journal 中，重启后仍然保留。"]), encoding="utf-8")
    answer = KnowledgeBase.open(corpus=corpus, index_dir=tmp_path / "index", progress=False).ask(question)
    assert not answer.refused and said in answer.text and not_said not in answer.text, answer.text


def test_a_chinese_words_synonyms_share_a_sense_and_a_character_with_it():
    """修改 and 更改 are both "to alter"; 安装 and 设置 are both "to install" but share no character, and 打开 is "to
    open" as too many of the corpus's words are to make that a synonym."""
    lexicon = corpus_words("修改", "更改", "改动", "安装", "设置", "打开", "开放", "开启", "开通", "公开", "开设", "开", "启用")
    assert synonyms("修改", lexicon) == ["改动", "更改"]
    assert synonyms("安装", lexicon) == [] and synonyms("设置", lexicon) == []
    assert "开放" not in synonyms("打开", lexicon) and synonyms("开启", lexicon) == ["启用"]
    assert synonyms("kernel", lexicon) == [] and synonyms("修改", corpus_words("修改")) == []


def test_english_words_are_the_dictionarys_and_names_are_not():
    assert {"hot", "patch", "agent", "locale"} <= english_words()
    assert not {"admin", "nginx", "kpatch", "elasticsearch"} & english_words()

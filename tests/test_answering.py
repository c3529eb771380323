"""The answer is the part of a passage that answers: a FAQ's answer, a step's command, a list's items, table rows."""
import textwrap

import pytest
from conftest import DATA


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    from kb import KnowledgeBase
    return KnowledgeBase.open(corpus=DATA / "answering", index_dir=tmp_path_factory.mktemp("index"), progress=False)


def over(root, pages: dict[str, str]):
    """A knowledge base over `pages` (path -> Markdown), written under `root`."""
    from kb import KnowledgeBase
    for name, text in pages.items():
        (root / "corpus" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "corpus" / name).write_text(text, encoding="utf-8")
    return KnowledgeBase.open(corpus=root / "corpus", index_dir=root / "index", progress=False)


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


def test_a_howto_that_says_it_can_be_done_goes_on_to_how(kb):
    ans = kb.ask("怎么让 journald 的日志转发给 rsyslog？")
    assert not ans.refused and "可以把日志消息转发给 rsyslog" in ans.text and "ForwardToSyslog" in ans.text, ans.text


def test_a_howto_matching_a_sections_preface_gets_the_procedure_after_it(kb):
    """"下面过程描述了如何…" says what the section does, and "前提条件" what must hold first: the answer is the
    steps that follow, with their commands, cited as one source, up to the verification after them."""
    ans = kb.ask("怎么让内核模块开机自动加载？")
    assert not ans.refused and "下面过程描述了" not in ans.text and "前提条件" not in ans.text, ans.text
    # Every step, though their instructions say more than a prose answer may (150 characters): steps are items
    assert ans.commands == ["ls /lib/modules/$(uname -r)/kernel/crypto/ | grep md4",
                            "echo md4 > /etc/modules-load.d/md4.conf", "lsmod | grep md4"], ans.text
    assert len(ans.citations) == 1 and "2. 为模块创建一个配置文件" in ans.citations[0].quote


@pytest.mark.parametrize("question", ["AIDE 是干什么用的？", "什么是 AIDE？"])
def test_what_is_x_gets_the_sentence_that_defines_x(kb, question):
    ans = kb.ask(question)
    assert not ans.refused and ans.text.startswith("高级入侵检测环境（AIDE）是一个实用程序"), ans.text


@pytest.mark.parametrize("question", ["grub2-reboot 和 grub2-set-default 有什么区别？",
                                      "What is the difference between grub2-reboot and grub2-set-default?"])
def test_a_comparison_gets_what_each_side_says_of_itself(kb, question):
    ans = kb.ask(question)
    assert not ans.refused and len(ans.citations) == 2, ans.text
    assert "只设置下一次启动" in ans.text and "以后每次启动默认" in ans.text
    assert ans.commands == ["sudo grub2-reboot 2", "sudo grub2-set-default 2"]


def test_a_comparison_quotes_what_each_side_is_not_where_to_download_it(kb):
    ans = kb.ask("everything 镜像和 netinst 镜像有什么区别？")
    assert not ans.refused and "包含所有软件包" in ans.text and "不包含软件包" in ans.text, ans.text
    assert "https://" not in ans.text


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


def test_a_table_row_answers_only_for_what_it_names_itself(kb):
    """A row is a record: a card named in another group of the same table (a source ranked below those answers
    come from) is not what the NVIDIA rows are about, so the question is refused rather than answered with another
    card's memory."""
    from kb.types import Hit
    header = "厂商 | 型号 | 显存"

    def group(rows, n):
        return Hit(f"t{n}", header + "\n" + rows, "工具", "tools.md", f"p{n}", "zh", 2.0 - n / 4, kind="table",
                   lead=len(header), heading=("兼容显卡",), dense=0.95)
    hits = [group("NVIDIA | Tesla A100 | 80 GB\nNVIDIA | Tesla T4 | 16 GB", 0),
            *(Hit(f"c{n}", text, "工具", "tools.md", f"q{n}", "zh", 1.5 - n / 4, dense=0.9) for n, text in enumerate([
                "logrotate 按周转储日志；默认保留四份备份。", "使用 parted 工具在 GPT 磁盘上最多可以创建 128 个分区。",
                "本系统支持以下处理器架构。", "journald 的日志保存在 /var/log/journal 目录下。"], 1)),
            group("Intel | Arc A770 | 16 GB\nAMD | Radeon Pro WX 5100 | 8 GB", 5)]
    assert "80 GB" in kb.answerer.answer("Tesla A100 的显存是多少？", "zh", hits).text
    ans = kb.answerer.answer("Intel Arc 显卡的显存是多少？", "zh", hits)
    assert ans.refused and ans.signals["missing"] > 0, ans.text


def test_a_release_the_question_names_must_be_the_one_the_answer_gives(kb):
    assert "V3.0.4.1" in kb.ask("TDengine 是哪个版本？").text
    ans = kb.ask("TDengine V3.2 兼容吗？")            # the row gives V3.0.4.1; V3.2 is APISIX's, in another row
    assert ans.refused and ans.signals["missing"] == 1.0, ans.text


def test_a_product_that_neither_the_row_nor_its_page_names_is_not_in_the_table(kb):
    """"Oracle" is in the corpus (the FAQ page), but not in the database table or anywhere on its page: the
    time-series row that covers the rest of the question is another product's."""
    ans = kb.ask("兼容数据库里 Oracle 时序数据库是哪个版本？")
    assert ans.refused and ans.signals["missing"] == 1.0 and "names missing" in ans.signals["refused_by"], ans.text
    assert "V3.0.4.1" in kb.ask("兼容数据库里 TDengine 时序数据库是哪个版本？").text


def test_a_question_for_a_default_prefers_the_sentence_that_states_it(kb):
    """The sentence naming SystemMaxUse covers more of the question; the one that says its default answers it."""
    ans = kb.ask("journald 的 SystemMaxUse 默认设置成什么？")
    assert not ans.refused and "默认为所在文件系统大小的 10%" in ans.text, ans.text


@pytest.mark.parametrize("question", ["节点代理的 region 参数默认值是什么？",
                                      "What does the region parameter of the node agent default to?"])
def test_a_parameter_asked_about_is_named_by_the_answer_itself(kb, question):
    """The table gives the defaults of agent and node_path; region appears only in the command above it."""
    ans = kb.ask(question)
    assert ans.refused and ans.signals["missing"] == 1.0, ans.text
    assert "/data/test" in kb.ask("节点代理的 node_path 参数默认值是什么？").text


def test_a_count_needs_a_number_not_a_word_that_happens_to_hold_one():
    from kb.answer_types import fits
    for no in ("请遵循镜像指南，确保与其他镜像站点保持一致。", "为 OpenCloudOS 建立一个公共镜像站点", "统一管理所有节点"):
        assert not fits("number", no), no
    for yes in ("默认保留三个备份", "共一百台服务器", "每天运行一次", "最多 128 个分区"):
        assert fits("number", yes), yes
    assert fits("time", "If there is no operation within 60s, the entry is chosen", "How long does the menu wait?")
    assert not fits("time", "撰写人：alexsshi 2023-02-17", "补丁提交后一般多久会被合入？")   # a date, not how long
    assert not fits("time", "https://s3.example.cn/899a892efef34b1b944a19981040f55b/", "多久同步一次？")
    assert fits("time", "镜像每 4 小时同步一次", "多久同步一次？") and fits("time", "于 2023 年发布", "什么时候发布？")
    memory = "How much memory does a Kubernetes node need?"     # a size, not a package's version
    assert not fits("number", "kubernetes-node | 1.10.3-0 | x86_64", memory)
    assert fits("number", "内存 512G，HDD 500G", memory) and fits("number", "至少需要 2 GB 内存", "需要多少内存？")


def test_a_question_for_a_bound_needs_a_unit_that_states_one(kb):
    from kb.answer_types import fits
    assert "最多可以创建 128 个分区" in kb.ask("GPT 磁盘最多能建多少个分区？").text
    ans = kb.ask("Tesla T4 的显存最大能扩展到多少？")       # its row says 16 GB, not how far it can grow
    assert ans.refused and ans.signals["qtype"] == "limit" and ans.signals["refused_by"] == ["answer type"], ans.text
    assert "refused_by" not in kb.ask("GPT 磁盘最多能建多少个分区？").signals
    assert fits("limit", "ext4 支持的文件系统大小高达 50 TiB") and fits("limit", "It holds up to 128 partitions.")
    assert not fits("limit", "Select 2 network cards to bind.")


def test_a_typed_questions_answer_adds_no_sentence_that_gives_no_value(kb):
    """"上限是多少" is answered by the sentence with the sizes, not padded with the one before it that names ext4."""
    ans = kb.ask("ext4 支持的文件系统大小上限是多少？")
    assert "50 TB" in ans.text and "作为系统管理员" not in ans.text, ans.text


@pytest.mark.parametrize("question", ["GCC 是什么版本？", "Which GCC version is it?"])
def test_a_version_given_by_the_heading_is_shown_with_the_answer(kb, question):
    """Items under "## GCC 12.2.0" answer "GCC 是什么版本" only through their heading: the answer shows it."""
    ans = kb.ask(question)
    assert not ans.refused and ans.text.startswith("GCC 12.2.0") and "c++ 标准为 17" in ans.text, ans.text


def test_a_section_number_is_no_version_and_asking_how_asks_for_no_value():
    from kb.answer_types import asked_type
    from kb.answering import _NUMBERED
    assert _NUMBERED.sub("", "1.2 手动安装RPM包更新内核") == "手动安装RPM包更新内核"
    assert _NUMBERED.sub("", "第 46 章 ext4 文件系统入门") == "ext4 文件系统入门"
    assert _NUMBERED.sub("", "GCC 12.2.0") == "GCC 12.2.0"
    assert asked_type("GCC 是什么版本？")[0] == "version"
    assert asked_type("怎么查看内核版本号")[0] is None and asked_type("How do I check which version is installed?")[0] is None
    assert asked_type("商业版怎么收费，一年多少钱？")[0] == "price"


def test_how_big_asks_a_number_not_a_sentence_on_the_topic(kb):
    """"读写多大的数据量" asks a number (not "有多大区别"): a sentence on reading and writing that gives none does not
    answer it."""
    from kb.answer_types import asked_type
    from kb.types import Hit
    assert asked_type("两种模式有多大区别？")[0] is None
    question = "测试用例默认读写多大的数据量？"

    def hit(text):
        return Hit("c0", text, "测试", "tools.md", "p0", "zh", 2.0, dense=0.93, heading=("测试", "读写测试"))
    assert kb.answerer.answer(question, "zh", [hit("测试用例默认读写数据，以检查文件系统的数据量是否一致。")]).refused
    assert not kb.answerer.answer(question, "zh", [hit("测试用例默认读写 10 GB 的数据量。")]).refused


def test_what_a_question_asks_is_read_from_its_question_not_from_the_situation_it_tells():
    """"When I create a boom profile…, what should I use" asks what, not when; a question that first tells what the
    user sees ("…how many KB it sent…") asks what its last sentence asks."""
    from kb.answer_types import asked_type
    assert asked_type("When I create a boom profile on OpenCloudOS 8, what should I use as the uname-pattern?")[0] is None
    assert asked_type("When will V9 be released?")[0] == "time"
    assert asked_type("I want every SSH session with how many KB it sent. Which bcc command do I run?")[0] is None
    assert asked_type("How many KB did each SSH session send?")[0] == "number"


def test_a_count_of_days_or_kilobytes_needs_a_number_in_that_unit():
    from kb.answer_types import asked_type, fits
    question = "kdump 生成的 vmcore 文件默认保留多少天？"
    assert not fits("number", "ls /var/crash/127.0.0.1-2022-08-19-02:34:00/", question)    # numbers, but no days
    assert fits("number", "vmcore 文件默认保留 7 天。", question)
    assert fits("time", "Logs are kept for 30 days.", "How many days are logs kept?")
    question = "tcptop 每隔几秒刷新一次输出？"       # "几秒" asks a count of seconds, as "多少秒" does
    assert asked_type(question)[0] == "number"
    assert not fits("number", "tcptop 工具以 KB 为单位显示 TCP 流量，每行 1 个进程。", question)
    assert fits("number", "tcptop 每 2 秒刷新一次输出。", question)


def test_what_time_asks_a_time_of_day_not_how_often():
    from kb.answer_types import asked_type, fits
    question = "logrotate 的 daily 转储每天几点执行？"
    assert asked_type(question)[0] == "time"
    assert not fits("time", "daily：每天转储日志文件。", question)
    assert fits("time", "cron 每天凌晨 3 点执行 daily 任务。", question)
    assert fits("time", "The job runs at 03:25 every day.", "What time does the daily job run?")
    assert not fits("number", "图片请使用 PNG 格式，宽度 800 像素。", "图片最大不能超过多少 KB？")
    assert fits("number", "图片不能超过 500 KB。", "图片最大不能超过多少 KB？")


def test_a_list_items_sentence_is_quoted_from_its_first_letter():
    from kb.answering import _units
    from kb.types import Hit
    text = "前提条件\n- firewalld 服务在运行。\n- 已经备份配置文件。"
    hit = Hit("c1", text, "防火墙", "firewall.md", "p1", "zh", 1.0, kind="list", lead=4)
    prose = [text[s:e] for u in _units(hit, 150) if u.kind == "prose" for s, e in u.spans]
    assert "firewalld 服务在运行。" in prose and "已经备份配置文件。" in prose


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


def test_what_is_x_gets_a_definition_whose_verb_follows_a_clause(bundled):
    """"开源操作系统社区OpenCloudOS由腾讯与合作伙伴共同倡议发起，是…": the definition, not the download link."""
    ans = bundled.ask("OpenCloudOS 是什么？")
    assert not ans.refused and "由腾讯与合作伙伴共同倡议发起，是完全中立" in ans.text, ans.text


# --- version scope: a question that names a version is answered from that version's documents, or told which
# versions the documents do cover, in its own language.
RELEASES = {
    "release/v8.5.md": "# OpenCloudOS 8.5 发布说明\n\n## 内核\n\nOpenCloudOS 8.5 的内核版本为 5.4.119-19，默认启用 cgroup v2。\n\n"
                       "## 编译器\n\nGCC 升级到 8.5.0，支持更多优化选项。\n",
    "release/notes-b.md": "---\nversion: 8.6\n---\n# 发布说明\n\n## 内核\n\n内核版本为 5.4.203-1，修复了多个安全漏洞。\n\n"
                          "## 编译器\n\nGCC 升级到 8.5.0-10，默认开启栈保护。\n",
    "release/v8.5.en.md": "# OpenCloudOS 8.5 Release Notes\n\n## Kernel\n\nThe kernel of OpenCloudOS 8.5 is 5.4.119-19, "
                          "with cgroup v2 enabled by default.\n\n## Compiler\n\nGCC is upgraded to 8.5.0 with more "
                          "optimisation options.\n",
    "guide/logs.md": "# 日志管理\n\n## 查看日志\n\n使用 journalctl 命令查看系统日志，日志默认保存在 /var/log/journal 目录下。\n",
    "release/v8.5-base.md": "# OpenCloudOS 8.5 基础库\n\n## libcap 2.64\n\n- 引入库 libpsx，可以模拟 pthread 的系统调用\n"
                            "- 支持 Go 模块抽象，支持指定构建的 go 二进制文件\n- libcap 和 cap 包的线程安全性的改进\n",
}


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    return over(tmp_path_factory.mktemp("releases"), RELEASES)


def test_documents_carry_the_version_their_path_title_or_front_matter_gives(releases):
    docs = releases.index.docs
    assert "opencloudos 8.5" in docs["release/v8.5.md"]["scope"]
    assert docs["release/notes-b.md"]["scope"] == [" 8.6"]           # front matter `version: 8.6`
    assert docs["guide/logs.md"]["scope"] == []


@pytest.mark.parametrize("question, wanted, other", [
    ("OpenCloudOS 8.6 的内核版本是什么？", "5.4.203-1", "5.4.119-19"),
    ("OpenCloudOS 8.5 的内核版本是什么？", "5.4.119-19", "5.4.203-1"),
])
def test_a_version_question_is_answered_from_that_versions_document(releases, question, wanted, other):
    ans = releases.ask(question)
    assert not ans.refused and wanted in ans.text and other not in ans.text


@pytest.mark.parametrize("question, said", [
    ("OpenCloudOS 9.0 的内核版本是什么？", ["文档只给出了", "8.5", "8.6", "没有 OpenCloudOS 9.0"]),
    ("Which kernel does OpenCloudOS 9.0 ship?", ["The documents cover this for", "8.5", "not for OpenCloudOS 9.0"]),
])
def test_a_version_the_documents_do_not_cover_is_refused_naming_those_they_do(releases, question, said):
    ans = releases.ask(question)
    assert ans.refused and all(s in ans.text for s in said), ans.text
    assert ans.related and "5.4" not in ans.text


def test_a_mistyped_word_the_segmenter_cut_in_two_is_still_read(releases):
    """"内和" (a pinyin typo for 内核) is cut into 内 + 和 by jieba, so no word of the question is unknown: the
    two single characters with the pinyin of a corpus word are read as that word."""
    from kb.spelling import corrected
    tokenize = releases.tokenizer.tokenize
    assert "内核" in corrected(releases.index, tokenize("怎么查看内和版本号"), tokenize("怎么查看内和版本号", True))
    ans = releases.ask("怎么查看内和版本号")
    assert not ans.refused and "内核版本为" in ans.text, ans.text


def test_a_question_without_a_version_is_not_scoped(releases):
    ans = releases.ask("怎么查看系统日志？")
    assert not ans.refused and "journalctl" in ans.text


def test_version_mentions_are_names_with_numbers_not_quantities():
    from kb.scope import Version, conflicts, document_scope, mentions
    assert [(v.name, v.number) for v in mentions("OpenCloudOS 9.0 与 OpenCloudOS8、V9 和 Stream 23")] == [
        ("opencloudos", "9.0"), ("opencloudos", "8"), ("", "9"), ("stream", "23")]
    assert mentions("需要 2GB 内存和 32-bit 处理器") == []
    assert document_scope("release/v9.0.en.md", "Introduction", []) == [" 9.0"]
    nine = Version("opencloudos", "9")
    assert not conflicts([nine], [Version("opencloudos", "9.0")]) and conflicts([nine], [Version("opencloudos", "8.6")])
    assert not conflicts([nine], [Version("stream", "23")])          # another product's version says nothing


def test_a_chapter_or_a_sections_technology_is_not_what_a_page_is_released_for():
    """A book's chapter ("Network1-6.md", "Chapter 1"), or a technology one section names ("1.3 IPv6 地址",
    "22.2 LUKS2 加密"), does not make the page "about version 6 of IPv"; a heading over most of the page does
    ("OpenCloudOS Stream 23 新特性"). Else questions about IPv6 or LUKS2 are judged as asking for a release."""
    from kb.documents import parse_document
    sections = "".join(f"## 1.{n} {name}\n\n{name} 的说明。\n\n" for n, name in enumerate(
        ["IPv6 地址", "LUKS2 加密", "网卡命名", "网桥", "路由", "防火墙"], 1))
    page = parse_document("network/Network1-6.md", f"# Chapter 1 网络\n\n{sections}".encode(), None)
    assert page.scope == []
    notes = "# 版本说明\n\n## 下载\n\n见镜像站。\n\n## OpenCloudOS Stream 23 新特性\n\n" + sections.replace("## ", "### ")
    assert parse_document("release/ocs.md", notes.encode(), None).scope == ["stream 23"]


def test_a_version_after_a_name_is_that_names_not_a_release():
    """"cgroup v2" is cgroup's version, not release V2 (which a page about "GRUB 2" would make one); only after a
    function word is a bare "V9" a release ("the release of V9"); "set to 1024" names nothing."""
    from kb.scope import Scopes, Version, mentions
    assert [(v.name, v.number) for v in mentions("支持 cgroup v2 的 the release of V9, set to 1024")] == [
        ("cgroup", "2"), ("", "9")]
    scopes = Scopes({"grub2_boot.md": ["grub 2"], "ocs.md": ["stream 23"]})
    assert scopes.of("ocs.md", ("systemd 251",), "- 支持 cgroup v2 更多特性") == [Version("stream", "23")]


def test_a_name_the_documents_never_use_is_refused_though_the_topic_matches(releases):
    ans = releases.ask("怎么把日志发送到 Elasticsearch？")
    assert ans.refused and ans.signals["missing"] == 1.0, ans.text
    assert not releases.ask("怎么用 journalctl 查看日志？").refused


def test_a_version_question_needs_the_version_of_what_it_asks_about_not_of_its_neighbour(releases):
    assert releases.ask("OpenCloudOS 8.5 的 Go 是什么版本？").refused        # the list names Go with no version
    ans = releases.ask("OpenCloudOS 8.5 的 libcap 是什么版本？")
    assert not ans.refused and ans.citations[0].heading[-1] == "libcap 2.64", ans.text
    ans = releases.ask("Which GCC version does OpenCloudOS 8.5 bundle?")      # not the kernel's, ranked first
    assert "8.5.0" in ans.text and "5.4.119" not in ans.text, ans.text


def test_a_version_no_document_is_about_is_refused_even_where_the_topic_is_version_free(releases):
    ans = releases.ask("OpenCloudOS 8.9 怎么查看系统日志？")
    assert ans.refused and ans.signals["unknown"] == ["OpenCloudOS 8.9"] and "8.5" in ans.text, ans.text
    assert "journalctl" in releases.ask("OpenCloudOS 8 怎么查看系统日志？").text


def test_a_products_version_in_a_table_row_is_not_a_release_of_the_documents():
    """"DaoCloud | V4.0" in a compatibility table is not OpenCloudOS 4.0: a refusal names only the releases that
    documents are about, and such a row is not "about another release"."""
    from kb.scope import Scopes, Version
    scopes = Scopes({"v9.md": ["opencloudos 9.0"], "v8.md": ["opencloudos 8.6"]})
    assert scopes.of("sw.md", (), "DaoCloud | V4.0 | 容器平台 | OpenCloudOS") == []
    assert scopes.of("sw.md", (), "适用于 V9 的版本") == [Version("", "9", "V9")]


def test_a_product_name_written_with_a_space_is_still_that_product():
    from kb.scope import Scopes, conflicts
    scopes = Scopes({"v9.md": ["opencloudos 9.0"], "v8.md": ["opencloudos 8.6"]})
    about = scopes.of("nfs.md", (), "OpenCloud OS 8 中默认 NFS 版本为 4.2。")
    assert [(v.name, v.number) for v in about] == [("opencloudos", "8")]
    assert conflicts(scopes.asked("OpenCloudOS 9 默认的 NFS 版本是多少？"), about)       # about 8: not an answer for 9
    assert not conflicts(scopes.asked("OpenCloud OS 8 默认的 NFS 版本是多少？"), about)


def test_an_english_date_answers_when():
    from kb.answer_types import fits
    assert fits("time", "On January 26, the community announced its first official version.")
    assert not fits("time", "The community announced its first official version.")


def test_a_short_english_word_missing_a_letter_is_read_as_the_corpus_word():
    """"locle" (stemmed "locl") is "locale" (stemmed "local") less a letter. A four-letter word is only read as a
    longer one: taking one of its letters away as well would make "cost" a "host"."""
    from kb.spelling import Speller
    from kb.text import tokenize
    sp = Speller({w: n for n, w in enumerate(tokenize("locale host kernel"))})
    assert [sp.correct(w) for w in tokenize("locle cost kernal")] == ["local", None, "kernel"]


def test_two_swapped_letters_are_read_as_the_corpus_word():
    """"装系统时能建 RIAD 10 吗" means RAID: two letters typed the wrong way round, the commonest slip on a keyboard."""
    from kb.spelling import Speller
    from kb.text import tokenize
    sp = Speller({w: n for n, w in enumerate(tokenize("raid host kernel"))})
    assert [sp.correct(w) for w in ("riad", "hsot", "kenrel", "xyzw")] == ["raid", "host", "kernel", None]


def test_a_typo_is_read_as_the_commonest_corpus_word_one_slip_away():
    """"kdimp" is one wrong letter from kdump and two from kimap: the nearer word wins, and among words as near, the
    one more passages use; a swap ("chroyn": chrony) keeps every letter typed, so it beats a wrong letter (chrono)."""
    from kb.spelling import Speller
    words = ["kimap", "kdump", "chrono", "chrony", "clang"]
    sp = Speller({w: n for n, w in enumerate(words)}, [1, 50, 9, 2, 3])
    assert [sp.correct(w) for w in ("kdimp", "chroyn")] == ["kdump", "chrony"]
    assert sp.correct("clean", near=True) is None      # "clang" is two letters away: no slip of one key


def test_retrieval_embeds_the_question_as_it_was_meant(tmp_path):
    """A typo moves a question's vector away from its topic, so retrieval embeds "fireawlld" as firewalld, and "设制"
    (a pinyin slip) as 设置; words one slip from no corpus word stay as they are."""
    from kb.spelling import as_meant
    kb = over(tmp_path, {"fw.md": "# 防火墙\n\n使用 systemctl enable --now firewalld 启动 firewalld 并设置开机自启。\n"})
    tokenize = kb.tokenizer.tokenize
    assert as_meant(kb.index, "怎么启动 fireawlld 并设置开机自启？", tokenize) == "怎么启动 firewalld 并设置开机自启？"
    assert as_meant(kb.index, "How do I clean the firewald logs?", tokenize) == "How do I clean the firewalld logs?"
    assert as_meant(kb.index, "怎么启动 firewalld 并设制开机自启？", tokenize) == "怎么启动 firewalld 并设置开机自启？"


def test_a_misspelt_word_is_read_as_the_corpus_writes_it(tmp_path):
    """"tnued" is tuned with two letters swapped. Its token ("tnu") is too short to mend, so the word is mended as
    typed, before the question is read: answered, not refused as a name the docs never use. Of the words one slip
    away, the one that keeps the question's other words company ("chronx" beside 重启 and 服务: chrony, though the
    docs write chrono more); never the first letter ("kpatch" is no patch), nor an English word ("give"), nor a path.
    In a name of parts, a part is mended where the whole name is then the corpus's ("kexec-tols": kexec-tools)."""
    from kb.spelling import spelled_as_meant
    kb = over(tmp_path, {
        "tuned.md": "# TuneD\n\n## 禁用 TuneD\n\n要永久禁用 tuned 服务，运行以下命令：\n\n```\n# systemctl disable --now tuned\n```\n\n"
                    "## chrony\n\n要重启 chrony 服务，运行 systemctl restart chronyd。\n",
        "cpp.md": "# C++\n\nThe chrono library measures time.\n\nchrono durations are typed, and chrono clocks tick.\n\n"
                  "Apply a patch with patch -p1. Update kexec-tools with yum update kexec-tools.\n"})
    ans = kb.ask("怎么永久禁用 tnued 服务？")
    assert not ans.refused and "# systemctl disable --now tuned" in ans.commands, ans.text
    assert ans.question == "怎么永久禁用 tnued 服务？" and ans.read_as == "怎么永久禁用 tuned 服务？"    # shown above the answer
    assert kb.ask("怎么永久禁用 tuned 服务？").read_as == ""       # nothing mended: nothing to show
    assert [spelled_as_meant(kb.index, q, kb.tokenizer) for q in (
        "怎么重启 chronx 服务", "kpatch 怎么用", "Whch jobs give time?", "How do I update kexec-tols?", "cat /etc/tnued.conf")
            ] == ["怎么重启 chrony 服务", "kpatch 怎么用", "Which jobs give time?", "How do I update kexec-tools?",
                  "cat /etc/tnued.conf"]


def test_a_chinese_character_typed_as_its_homophone_is_read_as_meant(tmp_path):
    """A pinyin slip is mended where the character no word covers makes a corpus word with its neighbours: "版本好"
    (jieba reads 版本 and 好) as 版本号, "可宜选" (read as a word no page uses, so once refused) as 可以选. "是什么"
    typed "视什么" still asks what. A character that a word of Chinese covers (每隔, though the corpus writes 每个) or
    that stands beside one (建 of 建一个: not 减一) is as meant."""
    from kb.spelling import spelled_as_meant, asking_as_meant
    kb = over(tmp_path, {"apisix.md": "# APISIX\n\nAPISIX 兼容的版本号是 2.15，每个节点都要初始化。\n\n"
                                      "APISIX 是一个网关。减一个节点的版本号不变。\n\n"
                                      "## 模式\n\nAPISIX 的部署有三种模式可以选：traditional、decoupled 和 standalone。\n"})
    assert [spelled_as_meant(kb.index, asking_as_meant(q), kb.tokenizer) for q in (
        "APISIX 兼容的版本好是多少？", "APISIX 视什么？", "APISIX 每隔几秒初始话一次？", "怎么建一个 APISIX 节点？")] == [
        "APISIX 兼容的版本号是多少？", "APISIX 是什么？", "APISIX 每隔几秒初始化一次？", "怎么建一个 APISIX 节点？"]
    ans = kb.ask("APISIX 的部署有哪几种模式可宜选？")       # "可宜选", a word no corpus uses: once refused
    assert not ans.refused and "standalone" in ans.text, ans.text


def test_words_said_only_by_a_link_are_not_said(kb):
    """".../LUKS2-docs/.../luks2_doc_wip.pdf" is where a specification is, not text about docs or PDFs."""
    ans = kb.ask("How do I build the docs into a PDF?")
    assert ans.refused, ans.text
    assert "512 位" in kb.ask("LUKS 默认的密钥长度是多少？").text        # the passage still answers what it says


@pytest.mark.parametrize("question, answered", [
    ("rsyslog 默认用哪个端口接收远程日志？", "514 端口"),
    ("Which port does rsyslog use to receive remote logs by default?", "514 端口"),
    ("接收远程日志之前需要满足什么前提条件？", "防火墙已放行"),
])
def test_prerequisites_answer_only_what_is_needed_first(kb, question, answered):
    """A "前提条件" list says what must hold before a procedure: it answers what is needed, not which port."""
    ans = kb.ask(question)
    assert not ans.refused and answered in ans.text, ans.text


def test_a_howto_whose_page_never_says_what_it_asks_is_refused(kb):
    """The page about boot entries (启动项) never moves them anywhere, nor speaks of installation media; the FAQ
    that does never speaks of boot entries. No step answers, though the boot entry steps are on topic."""
    ans = kb.ask("怎么把启动项迁移到安装介质上？")
    assert ans.refused, ans.text
    # Said in other words than the page's, but close in meaning: still answered
    assert "sudo grub2-reboot 2" in kb.ask("怎么让下一次开机用另一个启动项？").commands


def test_a_word_the_segmenter_splits_is_said_by_its_pieces(kb):
    """jieba reads "管理网络" in the question as one word (and its pieces 管理, 网络): a sentence that says both pieces
    apart says it, as much as one that happens to say "管理网络" in passing."""
    from kb.types import Hit
    hits = [Hit(f"c{n}", text, "网络", "net.md", f"p{n}", "zh", 1.0 - n / 10, dense=0.9) for n, text in enumerate([
        "如果系统需要用脚本来配置和管理网络，可以安装 network-scripts。",
        "本章介绍网络连接的配置，系统默认的管理方式为 NetworkManager。"])]
    ans = kb.answerer.answer("系统默认用什么管理网络？", "zh", hits)
    assert not ans.refused and ans.citations[0].text.endswith("NetworkManager。"), ans.text


def test_a_row_the_question_names_by_its_key_answers_before_rows_that_only_contain_the_name(kb):
    """"redis 是什么版本": the row whose first cell is redis answers, though a better ranked group of the same
    table has rows whose names contain it (rh-redis5); and "htop" in a Chinese question names what the version
    is asked of, so a sentence about versions in general does not answer."""
    from kb.types import Hit
    header = "软件包 | 版本 | 架构"

    def group(rows, n, score):
        return Hit(f"t{n}", header + "\n" + rows, "工具", "tools.md", f"p{n}", "zh", score, kind="table",
                   lead=len(header), heading=("开源软件兼容列表",), dense=0.95)
    hits = [group("rh-redis5 | 3.3-1 | x86_64\nrh-redis5-runtime | 3.3-1 | x86_64", 0, 2.0),
            Hit("c1", "软件的版本号格式通常为“主版本号.次版本号.修正号”，例如 9.8.2。", "工具", "tools.md", "q1", "zh",
                1.9, dense=0.95),
            group("redis | 5.0.3-2 | x86_64\nhtop | 3.2.1-1 | aarch64", 2, 1.6)]
    ans = kb.answerer.answer("redis 是什么版本？", "zh", hits)
    assert ans.text == "软件包 | 版本 | 架构[1]\nredis | 5.0.3-2 | x86_64", ans.text
    ans = kb.answerer.answer("htop 的版本号是多少？", "zh", hits)
    assert ans.text == "软件包 | 版本 | 架构[1]\nhtop | 3.2.1-1 | aarch64", ans.text


def test_a_latin_word_in_a_chinese_question_is_a_name_the_answer_must_say(kb):
    """A Chinese writer spells in Latin letters what has no Chinese name: "fluentd" and "nginx", said nowhere in
    the corpus, are what the questions ask about, not words that may go unsaid beside the ones that match. A Latin
    word that translates to the corpus's words ("disk": 磁盘, "backup": 备份) is a plain word, not a name."""
    for question in ("journald 怎么把日志转发给 fluentd？", "logrotate 按什么周期转储 nginx 的日志？"):
        ans = kb.ask(question)
        assert ans.refused and ans.signals["missing"] == 1.0, ans.text
    assert "ForwardToSyslog" in kb.ask("journald 怎么把日志转发给 rsyslog？").text
    assert "按周转储" in kb.ask("logrotate 按什么周期转储日志？").text
    assert "128 个分区" in kb.ask("GPT disk 上最多可以创建多少个分区？").text
    assert "四份备份" in kb.ask("logrotate 默认保留几份 backup？").text


def test_a_latin_name_that_only_another_document_says_is_not_what_the_answer_is_about(kb):
    """"APISIX" is in the sources, but only in another page's table: the page that answers about forwarding logs
    never says it, so the docs do not tell how to forward logs to APISIX. "log", an English word, is no name; a
    page's path says what the page is about as its title does."""
    from kb.types import Hit
    hits = [Hit("f0", "journald 本身不直接写入 rsyslog，但可以把日志消息转发给 rsyslog。这可以通过在 journald.conf 中设置 "
                "ForwardToSyslog 选项来实现。", "工具", "tools.md", "p0", "zh", 2.0, heading=("日志转发",), dense=0.9),
            Hit("g1", "产品 | 版本 | 类型\nAPISIX | V3.2.0 | 网关", "网关", "gateway.md", "p1", "zh", 1.0,
                kind="table", lead=len("产品 | 版本 | 类型"), heading=("兼容网关",), dense=0.8)]
    ans = kb.answerer.answer("journald 怎么把日志转发给 APISIX？", "zh", hits)
    assert ans.refused and ans.signals["missing"] == 1.0, ans.text
    assert "ForwardToSyslog" in kb.answerer.answer("journald 怎么把 log 转发给 rsyslog？", "zh", hits).text
    # A page's path names what it is about where no sentence does ("tcase/tasks.md")
    for path, refused in (("tcase/tasks.md", False), ("tasks.md", True)):
        said = Hit("t0", "强制终止：终止正在执行和未执行的用例。", "任务", path, "p0", "zh", 2.0, heading=("执行任务",), dense=0.9)
        assert kb.answerer.answer("TCase 的强制终止是什么意思？", "zh", [said]).refused is refused, path


def test_a_chinese_passage_is_measured_on_what_chinese_can_say_of_an_english_question(kb):
    """"forever" has no Chinese word this corpus uses, so no Chinese passage can say it. The Chinese sentence that
    says the rest (logrotate, keep: 保留, backup: 备份) answers, not the English one that says "forever" but is
    about logrotate running, not about its backups."""
    from kb.types import Hit
    hits = [Hit("e0", "logrotate keeps running forever once cron starts it.", "Logs", "logs.en.md", "p0", "en", 2.0,
                dense=0.9),
            Hit("z1", "logrotate 按周转储日志；默认保留四份备份，超出的最旧备份会被删除。", "工具", "tools.md", "p1", "zh",
                1.95, dense=0.9)]
    ans = kb.answerer.answer("Does logrotate keep every backup forever?", "en", hits)
    assert ans.text.startswith("logrotate 按周转储日志；默认保留四份备份"), ans.text


def test_a_lists_commands_are_shown_as_code(kb):
    """An item whose command sits under it, inside the list ("- 为 enp1s0 启用混杂模式：" and its indented
    "# ip link set …"), gives that command as code: in `commands`, on a line of its own, unindented."""
    from kb.types import Hit
    text = ("2. 修改网卡以启用或禁用混杂模式。\n    - 为 enp1s0 启用混杂模式：\n        # ip link set enp1s0 promisc on\n"
            "    - 为 enp1s0 禁用混杂模式：\n        # ip link set enp1s0 promisc off")
    hits = [Hit("l0", text, "工具", "tools.md", "p0", "zh", 2.0, kind="list", heading=("临时配置网卡混杂模式",), dense=0.9)]
    ans = kb.answerer.answer("怎么启用 enp1s0 的混杂模式？", "zh", hits)
    assert ans.commands == ["# ip link set enp1s0 promisc on", "# ip link set enp1s0 promisc off"], ans.text
    assert "\n# ip link set enp1s0 promisc on\n" in ans.text and ans.text.startswith("2. 修改网卡"), ans.text


def test_a_word_is_said_by_its_synonym(kb):
    """"修改启动顺序" is answered by the step that says "更改启动顺序" (a synonym: both "to alter"), not by the
    sentence that says only that efibootmgr can "修改…启动顺序"."""
    ans = kb.ask("如何修改启动顺序？")
    assert not ans.refused and ans.commands == ["sudo efibootmgr -o 0002,0001"], ans.text
    assert ans.text.startswith("要更改启动顺序"), ans.text


def test_a_row_the_question_names_is_found_among_groups_that_only_contain_the_name(tmp_path):
    """Rows of names and versions are close in meaning to no question; "zsh 是什么版本" finds the group with the row
    `zsh | 5.5.1-10` (among rows that do not contain "zsh"), not only the ten groups whose every row contains it
    (autojump-zsh, zsh-html), which BM25 scores higher."""
    import shutil
    from kb import KnowledgeBase
    shutil.copytree(DATA / "answering", tmp_path / "corpus")
    rows = [f"{name}-zsh-{n} | {n}.0-1 | zsh" for name in ("autojump", "cekit", "colcon", "html", "doc") for n in range(24)]
    rows[60:60] = [f"tool{n} | 1.{n}-2 | x86_64" for n in range(6)] + ["zsh | 5.5.1-10 | x86_64"] + \
        [f"util{n} | 2.{n}-1 | x86_64" for n in range(6)]
    (tmp_path / "corpus" / "packages.md").write_text("# 软件包\n\n软件包 | 版本 | 架构\n--- | --- | ---\n" + "\n".join(rows)
                                                     + "\n", encoding="utf-8")
    kb = KnowledgeBase.open(corpus=tmp_path / "corpus", index_dir=tmp_path / "index", progress=False)
    ans = kb.ask("zsh 是什么版本？")
    assert "\nzsh | 5.5.1-10 | x86_64" in ans.text, ans.text


def test_a_row_is_found_by_its_key_even_when_dozens_of_other_rows_contain_the_name(tmp_path):
    """A package list names sqlite in forty groups of rows (anope-sqlite, apr-util-sqlite…) and keys one row by it:
    "兼容列表里的 sqlite 是什么版本？" finds that row, though BM25 ranks every group whose rows all contain the name, and
    the prose about the list, above it."""
    import shutil
    from kb import KnowledgeBase
    shutil.copytree(DATA / "answering", tmp_path / "corpus")
    rows = [f"{name}-sqlite-{n} | {n}.0-1 | x86_64" for name in ("anope", "apr", "asterisk", "gambas", "kf5", "libdbi")
            for n in range(60)]
    rows[200:200] = [f"tool{n} | 1.{n}-2 | x86_64" for n in range(6)] + ["sqlite | 3.26.0-17 | x86_64"] + \
        [f"util{n} | 2.{n}-1 | x86_64" for n in range(6)]
    (tmp_path / "corpus" / "packages.md").write_text(
        "# 开源软件兼容列表\n\n兼容列表给出每个软件包经过验证的版本，列表按软件包名称排列。\n\n软件包 | 版本 | 架构\n--- | --- | ---\n"
        + "\n".join(rows) + "\n", encoding="utf-8")
    kb = KnowledgeBase.open(corpus=tmp_path / "corpus", index_dir=tmp_path / "index", progress=False)
    ans = kb.ask("兼容列表里的 sqlite 是什么版本？")
    assert "\nsqlite | 3.26.0-17 | x86_64" in ans.text, ans.text


def test_a_typed_question_is_answered_by_the_value_not_by_a_sentence_that_repeats_how_it_is_asked(kb):
    """"XFS 最大支持多大": the words that ask ("最大", "支持", "多大") count half in choosing the unit, so the sentence
    that says them all ("…支持的最大大小", no number: refused, as it cannot give a bound) does not push aside the
    item that gives the bound ("高达 1024 TiB")."""
    from kb.types import Hit
    heading = ("文件系统", "XFS 文件系统")
    hits = [Hit("c0", "如果没有 -D 选项，growfs 将文件系统增大到底层设备支持的最大大小。", "存储", "fs.md", "p0", "zh", 2.0,
                dense=0.95, heading=heading),
            Hit("c1", "可扩展性和性能\n- 支持的文件系统大小高达 1024 TiB\n- 支持大量并发操作的能力", "存储", "fs.md", "p1",
                "zh", 1.75, dense=0.95, kind="list", lead=len("可扩展性和性能"), heading=heading)]
    ans = kb.answerer.answer("XFS 文件系统最大支持多大？", "zh", hits)
    assert not ans.refused and "高达 1024 TiB" in ans.text, ans.text


def test_a_howto_answered_by_prose_that_names_an_option_goes_on_to_the_step_that_runs_it(kb):
    """"--list-all 选项列出…全部设置" says what to use; the step further on in its section that runs it (not the
    step before it, which runs another command) is shown with it, cited on its own."""
    ans = kb.ask("如何查看防火墙的全部设置？")
    assert not ans.refused and "--list-all 选项" in ans.text and len(ans.citations) == 2, ans.text
    assert ans.commands[0] == "# firewall-cmd --list-all" and "--help" not in ans.text, ans.text
    assert ans.citations[1].kind == "step" and "2. 列出默认区域的全部设置" in ans.citations[1].quote


def test_what_a_command_printed_is_output_not_a_command(kb):
    """After a prompted command ("# firewall-cmd --list-all") the lines it printed ("public") are shown as code
    with it, but are not commands: a portal's "copy" button on `commands` must not copy them."""
    ans = kb.ask("如何查看防火墙的全部设置？")
    assert ans.commands == ["# firewall-cmd --list-all"], ans.text
    assert ans.output == ["public", "target: default"] and ans.to_dict()["output"] == ans.output, ans.text
    assert "\n# firewall-cmd --list-all\npublic\ntarget: default" in ans.text
    from kb.types import Hit
    instruction = "安装对应版本的开发包："     # "# OC8" labels the line under it: a comment, not a prompt
    hit = Hit("c0", f"{instruction}\n# TS3\nyum install kernel-devel.tl3\n# OC8\nyum install kernel-devel.oc8", "内核",
              "tools.md", "p0", "zh", 2.0, kind="step", lead=len(instruction), heading=("内核", "开发包"), dense=0.93)
    ans = kb.answerer.answer("怎么安装内核开发包？", "zh", [hit])
    assert "yum install kernel-devel.oc8" in ans.commands and ans.output == [], ans.text


def test_a_quantity_is_said_by_its_number_in_the_same_unit(kb):
    """"10000M" is said by "10000 Mbit" (the docs write the unit out); "2GB" is not said by a "2" alone."""
    from kb.types import Hit
    instruction = "2. 设置速度和双工：这个命令会禁用自动协商，并将连接的速度设为 10000 Mbit 全双工。"
    hit = Hit("c0", f"{instruction}\n# nmcli connection modify enp1s0 ethernet.speed 10000 ethernet.duplex full", "网络",
              "tools.md", "p0", "zh", 2.0, kind="step", lead=len(instruction), heading=("网络", "链路设置"), dense=0.93)
    ans = kb.answerer.answer("怎么用 nmcli 把连接的速度设为 10000M 全双工？", "zh", [hit])
    assert not ans.refused and "ethernet.speed 10000" in ans.commands[0], ans.text
    hit = Hit("c1", "安装需要 2 个 CPU 核心和 4 GiB 内存。", "安装", "tools.md", "p1", "zh", 2.0, dense=0.93,
              heading=("安装", "硬件要求"))
    assert kb.answerer.answer("2GB 内存的机器能安装吗？", "zh", [hit]).refused


def test_a_howto_gets_the_step_that_does_what_it_asks_not_a_better_ranked_sibling(kb):
    """"打开一个端口": among the steps of one procedure, the one whose instruction says the question's verb
    ("…以便为入站流量打开这个端口") answers, though retrieval ranks the step that lists the ports far above it."""
    from kb.types import Hit

    def step(n, instruction, command, score):
        return Hit(f"c{n}", f"{instruction}\n{command}", "防火墙", "tools.md", f"p{n}", "zh", score, kind="step",
                   lead=len(instruction), heading=("防火墙", "打开端口"), dense=0.93)
    hits = [step(0, "1. 列出所有允许的端口：", "# firewall-cmd --list-ports", 2.0),
            step(1, "3. 使新设置具有持久性：", "# firewall-cmd --runtime-to-permanent", 1.7),
            step(2, "2. 在允许的端口中添加一个端口，以便为入站流量打开这个端口：", "# firewall-cmd --add-port=port-number/port-type", 1.0)]
    ans = kb.answerer.answer("怎么用 firewall-cmd 打开一个端口？", "zh", hits)
    assert ans.commands == ["# firewall-cmd --add-port=port-number/port-type"], ans.text
    assert kb.answerer.answer("怎么列出允许的端口？", "zh", hits).commands == ["# firewall-cmd --list-ports"]


def test_a_word_typed_for_its_homophone_is_read_as_the_word_its_company_says(kb):
    """"清楚所有日志" is a pinyin typo for 清除 (to clear), though 清楚 is a word too: 清除 is the one the pages
    about logs use. A question that means 清楚 keeps it: the passages with 清除 say nothing of reporting problems."""
    ans = kb.ask("journalctl 怎么清楚所有日志？")
    assert not ans.refused and ans.commands == ["sudo journalctl --vacuum-time=1s"], ans.text
    from kb.spelling import meant
    tokenize = kb.tokenizer.tokenize
    assert meant(kb.index, tokenize("报告问题时要写清楚什么？")) == {}
    assert "清楚系统版本" in kb.ask("报告问题时要写清楚什么？").text


def test_a_table_row_names_what_its_cells_spell_whole(kb):
    """A package "rh-redis5-runtime" is not redis: a row that holds the name only inside a longer one does not give
    redis's version (as "tuned-profiles-sap-hana" does not give SAP HANA's). The row that is redis's does."""
    from kb.types import Hit
    header = "开源软件兼容列表\n软件包 | 版本 | 架构\n"

    def table(row):
        return Hit("c0", header + row, "工具", "tools.md", "p0", "zh", 2.0, kind="table", lead=len(header),
                   heading=("工具", "开源软件兼容列表"), dense=0.93)
    assert kb.answerer.answer("redis 是什么版本？", "zh", [table("rh-redis5-runtime | 3.3-1 | x86_64")]).refused
    ans = kb.answerer.answer("redis 是什么版本？", "zh", [table("redis | 5.0.3-2 | x86_64")])
    assert not ans.refused and "5.0.3-2" in ans.text, ans.text


def test_an_english_name_a_chinese_passage_has_no_word_for_is_still_asked_about(kb):
    """"Intel" asked over a Chinese table of other databases: a name the Chinese page would spell as it is (as it does
    in "适用于 Intel 处理器"), and no row says it, so the table does not give its version ("Microsoft SQL Server" over a
    list that names only another SQL product, on the docs site)."""
    from kb.types import Hit
    header = "兼容数据库\n产品 | 版本 | 类型\n"
    hit = Hit("c0", header + "TDengine | V3.0.4.1 | 时序数据库", "工具", "tools.md", "p0", "zh", 2.0, kind="table",
              lead=len(header), heading=("工具", "兼容数据库"), dense=0.93)
    assert kb.answerer.answer("Which version of the Intel database is supported?", "en", [hit]).refused
    ans = kb.answerer.answer("Which version of the TDengine database is supported?", "en", [hit])
    assert not ans.refused and "V3.0.4.1" in ans.text, ans.text


def test_the_default_is_answered_only_by_a_unit_that_says_it_is_the_default(kb):
    """"默认保留多少份", "默认的…是什么", "what is the default MTU": a sentence that gives a value in one example, without
    saying it is the default, does not answer. "Which port … by default" asks the port, said as the default or not."""
    from kb.answering import _DEFAULT_VALUE
    from kb.types import Hit

    def hit(text, n=0, score=2.0):
        return Hit(f"c{n}", text, "工具", "tools.md", f"p{n}", "zh", score, dense=0.93, heading=("工具", "日志转储"))
    for question, example, default, value in [
            ("logrotate 默认保留多少份备份？", "logrotate 按周转储日志，这里保留四份备份。",
             "logrotate 按周转储日志；默认保留四份备份。", "四份"),
            ("logrotate 默认的转储周期是什么？", "logrotate 可以按周转储日志。", "logrotate 默认按周转储日志。", "按周")]:
        assert kb.answerer.answer(question, "zh", [hit(example)]).refused, question
        ans = kb.answerer.answer(question, "zh", [hit(default)])
        assert not ans.refused and value in ans.text, ans.text
    # ranked first but giving no default, an example loses to the unit that says the default
    ans = kb.answerer.answer("logrotate 默认保留多少份备份？", "zh", [hit("logrotate 按周转储日志，这里保留两份备份。"),
                                                                hit("每个设置的默认值如下：logrotate 保留四份备份。", 1, 0.8)])
    assert not ans.refused and "四份" in ans.text and "两份" not in ans.text, ans.text
    assert _DEFAULT_VALUE.search("What is the default MTU of an IPIP tunnel?")
    assert not _DEFAULT_VALUE.search("Which port does rsyslog use by default?")


def test_how_long_a_name_can_be_asks_a_number_not_a_duration():
    """"How long can the identity of a TIPC node be?": "up to 16 letters" answers; "how long does it take" asks time."""
    from kb.answer_types import asked_type, fits
    question = "How long can the identity of a TIPC node be?"
    assert asked_type(question) == ("number", "how long")
    assert fits("number", "Identity can be any unique string of up to 16 letters and numbers.", question)
    assert asked_type("How long does a rebuild of the RAID take?")[0] == "time"


@pytest.mark.parametrize("page, question, command", [
    ("# 块丢弃\n\n## 启用定期块丢弃\n\n此过程启用 systemd 计时器，该计时器定期丢弃所有支持的文件系统上未使用的块。\n\n"
     "流程\n\n- 启用并启动 systemd 计时器：\n\n  ```\n  # systemctl enable --now fstrim.timer\n  ```\n\n"
     "## 启用在线块丢弃\n\n手动挂载文件系统时，添加 discard 挂载选项。\n",
     "怎么开启定期丢弃文件系统上未使用的块？", "# systemctl enable --now fstrim.timer"),
    ("# 服务\n\n## 修改默认目标\n\n使用以下步骤将系统的默认启动目标改为多用户模式。\n\n"
     "1. 设置默认目标：\n\n   ```\n   # systemctl set-default multi-user.target\n   ```\n\n"
     "## 查看日志\n\n使用 journalctl 查看服务日志。\n",
     "怎么把系统的默认启动目标改为多用户模式？", "# systemctl set-default multi-user.target"),
])
def test_a_procedure_that_says_what_it_does_leads_to_its_steps(tmp_path, page, question, command):
    """"此过程启用 systemd 计时器，…", "使用以下步骤将…", "This procedure enables…" say what the steps after them do:
    a how-to gets those steps with their command, not the sentence."""
    kb = over(tmp_path, {"page.md": page})
    ans = kb.ask(question)
    assert not ans.refused and ans.commands == [command], ans.text


def test_a_hyphenated_name_with_a_number_is_said_whole_or_not_at_all(kb):
    """"GCM-AES-256" is not "GCM-AES-128", nor "Radeon-Pro-128" a "Radeon Pro WX 5100": a name whose parts are joined
    by hyphens up to a number names one thing, and a passage that says its other parts (and the number elsewhere,
    "128 个分区") names another."""
    from kb.types import Hit
    hit = Hit("c0", "AMD Radeon Pro WX 5100 显卡的显存为 8 GB。", "工具", "tools.md", "p0", "zh", 2.0, dense=0.93,
              heading=("工具", "兼容显卡"))
    assert kb.answerer.answer("Radeon-Pro-128 显卡的显存是多少？", "zh", [hit]).refused
    ans = kb.answerer.answer("Radeon-Pro-5100 显卡的显存是多少？", "zh", [hit])
    assert not ans.refused and "8 GB" in ans.text, ans.text
    assert kb.ask("Radeon-Pro-128 显卡的显存是多少？").refused      # nor the table's row


def test_a_row_named_by_an_identifier_is_the_one_asked_about(tmp_path):
    """"What does node_name default to when I start the agent?" names two rows' keys: node_name, an identifier, is
    what is asked about; "agent" is only where it is used."""
    kb = over(tmp_path, {
        "agent.md": "# 节点\n\n## 启动 agent\n\n启动参数如下：\n\n参数 | 是否必填 | 含义\n--- | --- | ---\n"
        "project | 是 | 项目 id\nagent | 否 | agent key，用来标记唯一的节点，默认值是机器 ip\n"
        "node_name | 否 | 关联节点名，默认值为 node1_master_ip\nnode_path | 否 | 关联节点执行路径，默认值为 /data/test\n"})
    for question in ("What does node_name default to when I start the agent?", "启动 agent 时 node_name 默认是什么？"):
        ans = kb.ask(question)
        assert not ans.refused and "node1_master_ip" in ans.text and "机器 ip" not in ans.text, ans.text


def test_a_remark_between_commands_leads_the_commands_under_it(tmp_path):
    """A code block can carry its own remarks: "按内存排序：" between two `ps` lines introduces the second one, and
    a question about it gets that remark and its command, not the block's first line."""
    kb = over(tmp_path, {
        "ps.md": "# 进程\n\n## 按资源查看进程\n\n```\n# ps aux --sort -%cpu\n按内存占用排序：\n# ps aux --sort -%mem\n```\n\n"
        "## 结束进程\n\n使用 kill 命令结束进程。\n"})
    ans = kb.ask("ps 怎么按内存占用排序？")
    assert not ans.refused and ans.commands == ["# ps aux --sort -%mem"], ans.text


def test_a_unit_that_says_the_opposite_of_what_is_asked_goes_after_one_that_does_not(tmp_path):
    """"怎么临时关闭 SELinux" is not answered by how to turn it off permanently, though that sentence repeats more
    of the question."""
    kb = over(tmp_path, {
        "selinux.md": "# 安全\n\n## 临时或永久更改 SELinux 模式\n\n"
        "要永久关闭 SELinux，在 /etc/selinux/config 中设置 SELINUX=disabled 并重启系统。"
        "运行 setenforce 0 命令可以关闭 SELinux 的强制执行，重启后失效。\n"})
    ans = kb.ask("怎么临时关闭 SELinux？")
    assert not ans.refused and "setenforce 0" in ans.text and "永久" not in ans.text, ans.text


def test_an_english_question_over_a_chinese_passage_is_vouched_for_by_what_the_passage_says(tmp_path):
    """Across languages the bundled model puts on-topic questions no closer than off-topic ones, so an English
    question answered from a Chinese passage that says most of it (through translations) is not refused for being
    far in meaning; one it says little of still is."""
    import dataclasses
    from kb.types import Hit
    kb = over(tmp_path, {
        "task.md": "# 任务\n\n## 终止任务\n\n强制终止：终止正在执行和未执行的用例。优雅终止：仅终止未执行的用例，等待正在执行的用例"
        "执行完成后，任务终止。\n"})
    text = "强制终止：终止正在执行和未执行的用例。优雅终止：仅终止未执行的用例，等待正在执行的用例执行完成后，任务终止。"
    far = Hit("c0", text, "任务", "task.md", "p0", "zh", 1.0, dense=0.0, heading=("任务", "终止任务"))
    question = "What does a forced stop of a task do?"
    ans = kb.answerer.answer(question, "en", [far])
    assert not ans.refused and "终止未执行的用例" in ans.text, ans.text
    kb.answerer.config = dataclasses.replace(kb.answerer.config, crossing_said=1.01)     # nothing vouches
    assert kb.answerer.answer(question, "en", [far]).refused


def test_an_english_word_is_said_by_another_with_the_same_chinese_translation(tmp_path):
    """"regular" accounts are the passage's "ordinary" ones: both are glosses of 正常, so the sentence that gives
    their first ID answers, not the one that merely repeats "regular user account"."""
    kb = over(tmp_path, {
        "users.en.md": "# Accounts\n\n## User accounts\n\nIf the root account is disabled, a regular user account must be created.\n\n"
        "It is recommended to give ordinary user accounts IDs starting from 5000.\n",
        "groups.md": "# 用户组\n\n正常用户可以加入多个用户组。\n"})
    ans = kb.ask("Which IDs should regular user accounts start from?")
    assert not ans.refused and ans.text.startswith("It is recommended to give ordinary user accounts IDs"), ans.text


def test_a_sections_opening_leads_a_howto_to_the_procedure_under_it(tmp_path):
    """A task section opens with what the task is for, then its prerequisites and its numbered steps. "怎么处理" is
    answered by the steps, down to the command that fixes it, not by the opening sentence, which merely repeats the
    question's words; and what a step's command prints is shown only in its first lines."""
    output = "\n".join(f"default via 192.0.2.{n} dev enp{n}s0 proto static metric 10{n}" for n in range(1, 7))
    kb = over(tmp_path, {"gateway.md": (
        "# 网络\n\n## 修复因为多个默认网关导致的意外路由行为\n\n"
        "只有少数场景（比如多路径 TCP）需要在主机上配置多个默认网关。通常只配置一个默认网关，以免路由不对或路由不对称。\n\n"
        "**前提条件**\n\n- 主机配置了多个默认网关。\n\n**流程**\n\n"
        f"1. 显示路由表：\n    ```\n    # ip -4 route\n{textwrap.indent(output, '    ')}\n    ```\n"
        "2. 配置 NetworkManager 不使用 Corporate-LAN 连接作为默认路由：\n    ```\n"
        "    # nmcli connection modify Corporate-LAN ipv4.never-default yes\n    ```\n"
        "3. 重新激活连接：\n    ```\n    # nmcli connection up Corporate-LAN\n    ```\n\n"
        "## 配置静态路由\n\n路由可确保您可以在相互连接的网络间发送和接收流量。\n")})
    ans = kb.ask("主机上配了多个默认网关导致路由不对，应该怎么处理？")
    assert not ans.refused and "# nmcli connection modify Corporate-LAN ipv4.never-default yes" in ans.commands, ans.text
    assert "metric 101" in ans.text and "metric 104" not in ans.text, ans.text


def test_a_remark_that_opens_a_code_block_is_what_its_commands_do(tmp_path):
    """A code block may open with a line saying what its commands do ("查看内核版本号", then "# uname -r"): a
    how-to gets that line and its command, not a step elsewhere whose instruction merely mentions the words."""
    kb = over(tmp_path, {"kernel.md": (
        "# 内核\n\n## 内核升级与配置\n\n内核是操作系统的核心，负责管理系统资源。\n\n"
        "```\n查看内核版本号\n[root@host ~]# uname -r\n5.4.119-19.0010\n```\n\n"
        "### 手动安装 RPM 包更新内核\n\n进入该目录，下载内核 rpm 包并安装，xxx 表示对应内核版本号：\n\n"
        "```\n[root@host ~]# rpm -ivh kernel-xxx.rpm\n```\n")})
    ans = kb.ask("怎么查看内核版本号？")
    assert not ans.refused and ans.commands == ["[root@host ~]# uname -r"], ans.text
    assert ans.text.startswith("查看内核版本号"), ans.text


def test_a_unit_that_names_the_release_asked_about_goes_first(tmp_path):
    """"OpenCloud OS 8 支持哪些本地文件系统": the note that says so of release 8 answers, not the table of file system
    types that names no release, though a "which" question prefers a table's rows."""
    from kb.types import Hit
    kb = over(tmp_path, {"release/v8.md": "# OpenCloudOS 8 版本说明\n\nOpenCloudOS 8 正式发布，内核为 5.4。\n",
                         "fs.md": "# 存储\n\n## 文件系统\n\n文件系统有多种类型。\n"})
    lead = "OpenCloud OS 的文件系统主要有以下几种类型：\n类型 | 文件系统 | 属性和使用案例"
    table = lead + "\n共享存储文件系统 | GFS2 | 为集群成员提供共享写入的访问权限\n磁盘或本地文件系统 | XFS | 默认的文件系统"
    hits = [Hit("c1", "OpenCloud OS 8 中唯一支持的本地文件系统是 ext4 和 xfs。", "存储", "fs.md", "p1", "zh", 2.0, dense=0.9,
                heading=("存储", "分区类型")),
            Hit("c0", table, "存储", "fs.md", "p0", "zh", 1.9, dense=0.9, kind="table", lead=len(lead),
                heading=("存储", "文件系统类型"))]
    ans = kb.answerer.answer("OpenCloud OS 8 支持哪些本地文件系统？", "zh", hits)
    assert not ans.refused and ans.text.startswith("OpenCloud OS 8 中唯一支持的本地文件系统是 ext4 和 xfs。"), ans.text


def test_a_capitalised_name_in_a_chinese_question_that_the_page_never_says_is_not_answered(tmp_path):
    """"Windows" is an English word too, but capitalised in a Chinese question it names a product: the agent's page,
    which never mentions it, does not say whether the agent installs there (another page of the site does say
    "Windows")."""
    kb = over(tmp_path, {
        "agent.md": "# 节点\n\n## 安装 agent\n\n在节点上下载 agent 安装脚本并执行：\n\n"
                    "```\nwget -O agent_install.sh https://example.com/static/agent_install.sh\nbash agent_install.sh\n```\n",
        "usb.md": "# 启动盘\n\n## 制作启动盘\n\n在 Windows 或 macOS 上可以用 Rufus 等工具把 ISO 镜像写入 U 盘。\n"})
    for question in ("有没有 Windows 版的 agent 安装脚本？", "agent 能装到 Windows 上吗？"):
        assert kb.ask(question).refused, question
    ans = kb.ask("agent 的安装脚本怎么下载？")
    assert not ans.refused and "wget -O agent_install.sh" in ans.text, ans.text


def test_an_asking_word_typed_as_its_homophone_still_asks(tmp_path):
    """"机个" is "几个" typed with a pinyin slip: the question still asks how many (a number), and is answered by the
    sentence that gives it, not by one that merely repeats its words. "那些" (those) is a word of its own and stays."""
    from kb.spelling import asking_as_meant
    kb = over(tmp_path, {"tipc.md": (
        "# TIPC\n\n## 承载\n\nTIPC 的承载（bearer）可以是以太网或 UDP，每种承载都需要单独启用。一个节点最多可以配置 3 个承载。\n\n"
        "## 地址\n\n每个 TIPC 节点都可以配置一个地址，地址由集群、区域和节点号组成，节点启动后才能配置承载。\n")})
    ans = kb.ask("一个 TIPC 节点最多能配置机个承载？")
    assert not ans.refused and ans.text.startswith("一个节点最多可以配置 3 个承载。"), ans.text
    assert asking_as_meant("OpenCloudOS 修复了纳些 CVE？有甚么区别？") == "OpenCloudOS 修复了哪些 CVE？有什么区别？"
    assert asking_as_meant("那些配置文件在哪里？") == "那些配置文件在哪里？"
    assert asking_as_meant("python 是啥版本，咋升级？") == "python 是什么版本，怎么升级？"
    assert asking_as_meant("OpenCloudOS Stream 视什么？", kb.tokenizer.is_word) == "OpenCloudOS Stream 是什么？"
    for question in ("配置里的 @@ 表示什么？", "L2 版本指的是什麼？"):    # 表示 is a word; 什麼 is 什么 in Traditional
        assert asking_as_meant(question, kb.tokenizer.is_word) == question


def test_a_term_a_list_explains_is_answered_by_its_item(tmp_path):
    """Docs explain options as a glossary list ("- delaycompress ：…"). Asked what one means, kb finds that list by
    the term its item opens with, as it finds a table row by its first cell, and quotes the item, in either
    language; not the example config that merely names it, nor a passage that says "means" (这意味着)."""
    items = "\n".join(f"- {k} ：{v}" for k, v in [
        ("rotate 7", "保留7个旧的日志文件，超过7个则自动删除。"), ("daily", "每天执行一次日志转储。"),
        ("missingok", "如果日志文件不存在，则忽略错误。"), ("notifempty", "如果日志文件为空，则不进行转储。"),
        ("compress", "使用gzip压缩旧的日志文件。"), ("delaycompress", "在下一次转储时压缩旧的日志文件。"),
        ("postrotate", "在转储之后执行的命令，直到 endscript 为止。"), ("sharedscripts", "所有日志转储完后只执行一次脚本。")])
    kb = over(tmp_path, {
        "logrotate.md": "# 日志转储\n\n## 配置logrotate\n\nlogrotate的配置文件通常位于/etc/logrotate.conf和/etc/logrotate.d/"
                        "目录下，可以通过编辑这些文件来配置日志转储的规则。\n\n以下面一个配置文件为例，详细说明一下logrotate配置"
                        "文件中的基本规则\n\n```\n/var/log/myapp.log {\n    rotate 7\n    daily\n    compress\n    delaycompress\n}\n```"
                        f"\n\n上述配置文件中，我们定义了对/var/log/myapp.log文件进行日志转储的规则，具体说明如下：\n\n{items}\n\n"
                        "## 手动执行logrotate\n\n可以使用以下命令手动执行logrotate配置：logrotate -f /etc/logrotate.conf\n",
        "nfs.md": "# NFS\n\n## 检查布局\n\n- layoutget 计数器递增。这意味着服务器正在提供布局。\n"
                  "- READ 计数器不会增加。这意味着客户端直接向设备执行 I/O 请求。\n"})
    for question in ("What does delaycompress mean in a logrotate config?", "logrotate 的 delaycompress 是什么意思？"):
        ans = kb.ask(question)
        assert not ans.refused and "在下一次转储时压缩旧的日志文件" in ans.text, (question, ans.text)


def test_a_rare_name_finds_its_row_in_a_long_table(tmp_path):
    """A compatibility list of 80 products, grouped into long passages of rows: BM25 ranks such a group low for its
    length, below 36 short paragraphs that repeat the question's other words, beyond the 30 candidates BM25 gives.
    The product's name, used nowhere else, is also looked up alone, so its row is still found, and answers."""
    rows = "\n".join(f"| Product{n:02d} | V{n % 9 + 1}.{n % 4} | 中间件 |" for n in range(80)).replace("Product41", "Zebrix")
    topics = ["测试流程", "认证证书", "申请材料", "厂商名单", "适配范围", "更新周期", "发布说明", "验证报告", "技术支持"]
    words = ["商业软件", "兼容性", "列表", "版本"]
    notes = "\n\n".join(f"## 说明 {n}\n\n关于{topics[n % 9]}：" + "，".join(w + "需要核对" * (n % 3) for w in words[:2 + n % 3])
                        + f"，详见第 {n} 节。" for n in range(36))
    other = "\n\n".join(f"## 主题 {n}\n\n第 {n} 号主机的风扇转速与机房温度记录在巡检日志里。" for n in range(80))
    kb = over(tmp_path, {"sw.md": f"# 商业软件兼容列表\n\n| 产品名 | 版本 | 类型 |\n| --- | --- | --- |\n{rows}\n",
                         "notes.md": f"# 兼容列表说明\n\n{notes}\n", "hosts.md": f"# 巡检\n\n{other}\n"})
    ans = kb.ask("商业软件兼容列表里 Zebrix 是哪个版本？")
    assert not ans.refused and "Zebrix | V6.1" in ans.text, ans.text


@pytest.mark.parametrize("question", ["What's the URL of the Peking University mirror?", "北京大学镜像站的 URL 是什么？"])
def test_the_word_that_asks_for_a_link_need_not_be_on_the_page(tmp_path, question):
    """"URL" asks for a link, as "哪个版本" asks for a version: the row with the link answers, though no text on the
    page says "URL" (another page does: before, "URL" counted as a name the answer's page never says, and the
    question was refused)."""
    kb = over(tmp_path, {"mirrors.md": "# 镜像站\n\n以下镜像站同步 OpenCloudOS 的软件源。\n\n| 镜像源名称 | 地点 |\n| --- | --- |\n"
                                       "| [北京大学 Peking University](http://mirrors.pku.edu.cn/opencloudos/) | 中国 |\n"
                                       "| [南京大学 Nanjing University](https://mirrors.nju.edu.cn/opencloudos/) | 中国 |\n",
                         "style.md": "# 写作规范\n\n站内链接请使用相对路径，不要写完整的 URL。\n"})
    ans = kb.ask(question)
    assert not ans.refused and "mirrors.pku.edu.cn/opencloudos" in ans.text, ans.text


def test_an_english_word_that_is_no_word_and_not_in_the_docs_names_what_they_do_not_cover(tmp_path):
    """"ommysql" is no English word and no word of the corpus: like an unknown capitalised name, it says the
    question is about something the docs do not tell of. A slip of the keyboard ("recieve") is no such name."""
    kb = over(tmp_path, {"rsyslog.md": "# rsyslog\n\n## Remote logs\n\nEdit /etc/rsyslog.conf: load the imudp module and open port 514 "
                                       "to accept log messages from other servers:\n\n```\nmodule(load=\"imudp\")\n"
                                       "input(type=\"imudp\" port=\"514\")\n```\n"})
    ans = kb.ask("How do I make rsyslog write log messages into a database with the ommysql module?")
    assert ans.refused and "names missing" in ans.signals["refused_by"], ans.text
    ans = kb.ask("How do I make rsyslog recieve log messages from other servers with the imudp module?")
    assert not ans.refused and 'module(load="imudp")' in ans.text, ans.text
    # A hyphenated name counts by its parts: "dpdk" is the corpus's word, "devbind" no one's
    kb = over(tmp_path / "dpdk", {"dpdk.md": "# DPDK\n\n## Install\n\nInstall the dpdk package with the yum tool:\n\n"
                                             "```\n# yum install dpdk\n```\n"})
    ans = kb.ask("After installing the dpdk package, how do I bind my NIC to a driver with dpdk-devbind?")
    assert ans.refused and "names missing" in ans.signals["refused_by"], ans.text
    assert not kb.ask("How do I install the dpdk package?").refused



def test_the_clause_that_asks_is_told_from_the_situation_around_it(kb):
    """A question that tells its situation first counts the words of the clause that asks more in choosing the answer
    (on the docs site, "In top's %Cpu(s) line, what does the st value stand for?" gets the item that explains st,
    not the step that runs top). Which clause asks: the last with an asking word; none in a one-clause question."""
    from kb.answering import _asking_clause
    tokenize = kb.tokenizer.tokenize
    assert _asking_clause("服务器有 DVD 光驱，想用光盘装 OpenCloudOS 8，开机的时候要怎么设置？", tokenize) == "开机的时候要怎么设置"
    assert _asking_clause("In top's %Cpu(s) line, what does the st value stand for?", tokenize) == " what does the st value stand for"
    assert _asking_clause("Which bonding modes need no switch configuration? I run OpenCloudOS 8.", tokenize) == \
        "which bonding modes need no switch configuration"
    assert _asking_clause("怎么查看内核版本？", tokenize) == ""


def test_a_how_to_gets_the_step_not_a_sentence_that_names_no_way_to_do_it(kb):
    """"宽限期怎么修改": the step that edits the grace period answers, not the sentence that says what a grace period
    is, though that sentence comes from the better ranked passage and repeats more of the question (on the docs site,
    "ext4 磁盘配额的软限制宽限期怎么修改？"). Only a step close in score takes its place (HOW_MARGIN)."""
    from kb.types import Hit
    doc = next(iter(kb.index.docs))        # a page of the index: a how-to's refusal reads it

    def hits(step_score):
        said = Hit("c0", "但是，如果设置了软限制，您可以在可配置的时间段内超过这些配额（称为宽限期）。", "配额", doc, "p0", "zh",
                   2.0, heading=("配额", "使用配额限制存储空间"), dense=0.93)
        step = Hit("c1", "- 编辑宽限期：\n# edquota -t", "配额", doc, "p1", "zh", step_score, kind="step",
                   lead=len("- 编辑宽限期："), heading=("配额", "设置软限制的宽限期"), dense=0.93)
        return [said, step]
    ans = kb.answerer.answer("软限制的宽限期怎么修改？", "zh", hits(1.6))
    assert not ans.refused and ans.commands == ["# edquota -t"], ans.text
    ans = kb.answerer.answer("软限制的宽限期怎么修改？", "zh", hits(1.0))      # far below: the sentence stays
    assert not ans.refused and ans.commands == [] and "称为宽限期" in ans.text, ans.text


def test_a_list_question_answered_by_a_labelled_sentence_gets_its_labelled_siblings(kb):
    """"迁移前需要做哪些准备？" over "系统备份：…。业务评估：…。系统评估：…。": the labelled sentences are the list's
    items, so all three answer, though the second and third add few of the question's words. A question that asks
    for one thing gets the one sentence."""
    from kb.types import Hit
    text = ("系统备份：迁移前需要进行系统备份，保障迁移成功率。业务评估：迁移之前需要判断业务类型，依赖组件，是否有高可用架构。"
            "系统评估：系统组件差异，系统配置差异，系统内核差异。")
    hit = Hit("c0", text, "迁移", next(iter(kb.index.docs)), "p0", "zh", 2.0, heading=("迁移", "迁移前准备："), dense=0.93)
    ans = kb.answerer.answer("迁移前需要做哪些准备和评估？", "zh", [hit])
    assert not ans.refused and all(label in ans.text for label in ("系统备份", "业务评估", "系统评估")), ans.text
    ans = kb.answerer.answer("迁移前为什么要做系统备份？", "zh", [hit])
    assert not ans.refused and "系统备份" in ans.text and "系统评估" not in ans.text, ans.text


def test_a_row_whose_cell_is_a_name_the_question_asks_by_answers(tmp_path):
    """"Which auto-spacing tool can I use inside Vim?": the row whose Language cell is "Vim" answers, not the row whose
    repository's name says more of the question's words ("…-auto-spacing")."""
    kb = over(tmp_path, {"format.md": "# Format guide\n\n## Tools\n\nAuto-spacing tools you can use inside your editor or build:\n\n"
                                      "| Repository | Language |\n| --- | --- |\n| vinta/paranoid-auto-spacing | JavaScript |\n"
                                      "| hotoo/pangu.vim | Vim |\n| huacnlee/autocorrect | Rust |\n"})
    ans = kb.ask("Which of the auto-spacing tools can I use inside Vim?")
    assert not ans.refused and "hotoo/pangu.vim | Vim" in ans.text and "JavaScript" not in ans.text, ans.text


def test_a_question_that_offers_its_answers_asks_which_not_a_value():
    """"…should I give the HTTPS URL or the SSH address?" asks which of the two (on the docs site, answered by
    "填写仓库的ssh地址"), not for a link: the "URL" among the choices asks no type. Asked alone, it still does."""
    from kb.answer_types import asked_type
    assert asked_type("When I fill in the Git repository, should I give the HTTPS URL or the SSH address?") == (None, "")
    assert asked_type("仓库地址填 HTTPS 的网址还是 SSH 地址？") == (None, "")
    assert asked_type("还是想知道 agent 默认监听的端口是多少？")[0] == "number"      # 还是 "still" offers nothing
    assert asked_type("What is the URL of the Git repository?")[0] == "link"
    assert asked_type("How much memory or disk space do I need?")[0] == "number"


def test_a_value_asked_after_the_situation_is_given_by_the_line_that_says_what_the_asking_clause_asks(tmp_path):
    """"用 tar 往磁带设备里写备份，默认的 block size 是多大？": "tar" only tells the situation; the line that gives
    the default block size answers, though it does not name tar, which another source does. A line that
    says neither tar nor the block size still gives no value for it."""
    from kb.types import Hit
    kb = over(tmp_path, {"tape.md": "# 磁带\n\n写满时 I/O 会阻塞，数据块的大小可以设置。\n"})    # "block", "size": plain words
    doc = next(iter(kb.index.docs))

    def hit(text):
        return [Hit("c0", text, "磁带", doc, "p0", "zh", 2.0, dense=0.93, heading=("磁带", "磁带设备")),
                Hit("c1", "要备份磁带设备的数据，您可以使用 tar 命令。", "磁带", doc, "p1", "zh", 1.5, dense=0.9,
                    heading=("磁带", "备份磁带设备"))]
    question = "用 tar 往磁带设备里写备份，默认的 block size 是多大？"
    ans = kb.answerer.answer(question, "zh", hit("默认情况下，在磁带设备中，block size 为 10KB。"))
    assert not ans.refused and "10KB" in ans.text, ans.text
    assert kb.answerer.answer(question, "zh", hit("默认情况下，磁带设备的容量为 10 TB。")).refused


def test_a_port_asked_for_is_a_number(kb):
    """"Which TCP port does the agent use…?" asks a number: a sentence on the agent that gives none does not answer it
    (on the docs site it was answered with the agent's download command); one that gives the port does. "The port
    type" of a NIC asks no number."""
    from kb.answer_types import asked_type
    from kb.types import Hit
    assert asked_type("Which TCP port does the agent use to talk to the platform?")[0] == "number"
    assert asked_type("agent 默认监听哪个 TCP 端口？")[0] == "number"
    assert asked_type("What is the port type of the MCX515A-CCAT NIC?")[0] is None
    question = "Agent 默认监听哪个 TCP 端口？"

    def hit(text):
        return [Hit("c0", text, "agent", next(iter(kb.index.docs)), "p0", "zh", 2.0, dense=0.93, heading=("Agent", "安装 Agent"))]
    assert kb.answerer.answer(question, "zh", hit("Agent 安装后默认监听 TCP 连接，用于接收平台下发的任务。")).refused
    ans = kb.answerer.answer(question, "zh", hit("Agent 安装后默认监听 TCP 端口 8472，用于接收平台下发的任务。"))
    assert not ans.refused and "8472" in ans.text, ans.text


def test_a_version_its_heading_gives_answers_before_one_an_item_names(tmp_path):
    """"Which nginx version is included?" over "### nginx 1.22.1" and items under it, one of which names another
    program's version ("Added support for OpenSSL 3.0"): the heading's version answers, shown with the items."""
    kb = over(tmp_path, {"release.en.md": "# Release notes\n\n## Web servers\n\n### nginx 1.22.1\n\n"
                         "- Added support for OpenSSL 3.0\n- Improves http/2 performance\n\n"
                         "### httpd 2.4.53\n\n- Enhanced MPM asynchronous function\n"})
    ans = kb.ask("Which nginx version is included?")
    assert not ans.refused and "nginx 1.22.1" in ans.text, ans.text


def test_the_sentence_next_to_the_answer_joins_it_when_it_says_the_rest_of_the_question(kb):
    """"TuneD 同时选择多个配置文件冲突时以哪个为准？": the sentence that names TuneD and its profiles ranks first, and the
    next one, nearly as good, says what wins in a conflict: the answer gives both. A sentence beside them that says
    nothing more of the question stays out."""
    from kb.types import Hit
    text = ("TuneD 可以同时选择多个配置文件，TuneD 将在加载期间尝试合并它们。如果存在冲突，则最后指定的配置文件中的设置优先。"
            "合并后的设置立即生效。")
    hit = Hit("c0", text, "tuned", next(iter(kb.index.docs)), "p0", "zh", 2.0, dense=0.93, heading=("TuneD", "配置文件"))
    ans = kb.answerer.answer("TuneD 同时选择多个配置文件冲突时以哪个为准？", "zh", [hit])
    assert not ans.refused and "尝试合并" in ans.text and "最后指定" in ans.text, ans.text
    assert "立即生效" not in ans.text, ans.text


def test_what_a_command_prints_does_not_make_its_step_the_answer(tmp_path):
    """A step is about what its instruction says, not about the words of the sample output under its command. The
    only words of "which tool shows the state each TCP connection stays in?" that the tcpdrop step has are in the
    columns it prints ("TCP CONNECTION STATE STAYS"): it does not answer with them, nor with the step."""
    kb = over(tmp_path, {"bcc.en.md": "# bcc tools\n\nThe bcc tools show what the kernel does.\n\n## Drops\n\n"
                         "1. Display the packets the kernel drops:\n\n```\n# /usr/share/bcc/tools/tcpdrop\n"
                         "PID   TCP   CONNECTION   STATE   STAYS\n1024  ssh  CLOSE  3ms\n```\n\n## Traces\n\n"
                         "1. Trace how each TCP connection changes its state:\n\n```\n# /usr/share/bcc/tools/tcpstates\n```\n"})
    ans = kb.ask("Which tool shows the state each TCP connection stays in?")
    assert "tcpdrop" not in ans.text and "STAYS" not in ans.text, ans.text


def test_a_how_long_inside_a_which_clause_asks_for_the_thing_not_a_duration():
    """"Which bcc tool shows how long each connection stays in a state?" asks for a tool: an answer need not give a
    duration (on the docs site it was refused, or answered with the step of a tool that prints times). "How long
    does…" still asks one."""
    from kb.answer_types import asked_type
    assert asked_type("Which bcc tool shows how long each TCP connection stays in every TCP state?")[0] is None
    assert asked_type("What command tells how many packets were dropped?")[0] is None
    assert asked_type("How long does the agent wait before it retries?")[0] == "time"
    assert asked_type("How many partitions can parted create on a GPT disk?")[0] == "number"


def test_a_quantity_the_question_gives_is_said_by_the_range_it_falls_in(tmp_path):
    """"服务器内存有 6G，swap 推荐多大？": the row "> 2 GB – 8 GB" is the one for 6G, though it never writes "6G" (on the
    docs site such a question was refused for a name its answer does not say). A quantity no row's unit measures
    ("6T") is still not said."""
    kb = over(tmp_path, {"swap.md": "# swap 空间\n\n表 1 推荐的 swap 空间\n\n| 服务器的内存 | 推荐的 swap 空间大小 |\n"
                         "| --- | --- |\n| ⩽ 2 GB | RAM 量的 2 倍 |\n| > 2 GB – 8 GB | 与 RAM 量相等 |\n"
                         "| > 8 GB – 64 GB | 至少 4 GB |\n| > 64 GB | 至少 4 GB |\n"})
    ans = kb.ask("服务器内存有 6G，swap 推荐多大？")
    assert not ans.refused and "与 RAM 量相等" in ans.text and "2 倍" not in ans.text, ans.text
    assert kb.ask("服务器内存有 6T，swap 推荐多大？").refused


def test_a_list_question_answered_by_prose_that_lists_nothing_gets_the_list_beside_it(tmp_path):
    """"系统里提供了哪些基于 SCAP 标准的工具？": the sentences that introduce the tools repeat the question's words and
    score a little above the list of tools from the same page; a question asking "which ones" gets the list (on the
    docs site it was answered "…这些工具基于 SCAP 标准", naming none)."""
    from kb.types import Hit
    kb = over(tmp_path, {"a.md": "# 系统安全\n\n## 配置合规工具\n\n合规扫描工具可以检查系统。SCAP 是一种标准。\n\n"
                         "## 其他\n\n防火墙默认开启，SSH 端口为 22。\n"})
    doc, head = next(iter(kb.index.docs)), ("系统安全", "配置合规工具")
    prose = Hit("c0", "OpencloudOS 提供工具，使用户能够执行完全自动化的合规性审计。这些工具基于 SCAP 协议。", "安全", doc, "p0",
                "zh", 2.0, dense=0.92, heading=head, kind="prose")
    items = Hit("c1", "- SCAP Workbench：对单个本地或远程系统执行配置和漏洞扫描，生成安全报告。\n"
                "- OpenSCAP：OpenSCAP 库以及 oscap 命令行实用程序，对本地系统执行配置和漏洞扫描，验证配置合规性内容。\n"
                "- SCE：SCAP 协议的扩展，使管理员能够用脚本编写合规性扫描的内容。", "安全", doc, "p1", "zh", 2.0, dense=0.92,
                heading=head, kind="list")
    ans = kb.answerer.answer("做配置合规性扫描，系统里提供了哪些基于 SCAP 标准的工具？", "zh", [prose, items])
    assert not ans.refused and "OpenSCAP" in ans.text and "SCAP Workbench" in ans.text, ans.text


def test_a_name_given_as_an_example_need_not_be_in_the_answer(tmp_path):
    """"把某个服务（比如 sshd）的日志导出到文件": sshd is an instance of "a service", which the page gives as a
    placeholder; the question is answered (on the docs site it was refused: no passage names sshd). Named outright,
    "Nginx 服务的日志", a name no page says still refuses."""
    kb = over(tmp_path, {"ssh.md": "# SSH\n\nsshd 是 SSH 服务的守护进程，默认监听 22 端口。\n",
                         "journal.md": "# 日志\n\n## 管理系统日志\n\n- 将特定服务的日志输出到文件：\n\n"
                         "```\nsudo journalctl -u service-name > service-log.txt\n```\n\n"
                         "将 service-name 替换为您要输出的服务名称。\n\n- 将所有日志输出到文件：\n\n```\nsudo journalctl > log.txt\n```\n"})
    ans = kb.ask("怎么把某个服务（比如 sshd）的日志输出到文件？")
    assert not ans.refused and "journalctl -u service-name" in ans.text, ans.text
    assert kb.ask("怎么把 Nginx 服务的日志输出到文件？").refused


def test_a_bound_raised_to_a_value_states_the_bound(tmp_path):
    """Release notes give a new limit as "容量增加到 281 TB": that answers "最大能到多少" (it was refused as stating no
    bound); a line with a number and no bound still does not."""
    from kb.answer_types import fits
    assert fits("limit", "数据库文件容量增加到 281 TB") and fits("limit", "The maximum file size was increased to 16 TB")
    assert not fits("limit", "数据库文件容量为 281 TB")
    kb = over(tmp_path, {"release.md": "# 版本说明\n\n## 数据库支持\n\n### sqlite 3.39.0\n\n- 内置 JSON 支持\n"
                         "- 数据库文件容量增加到 281 TB\n- 减少 CPU 使用\n"})
    ans = kb.ask("sqlite 升级后，单个数据库文件最大能到多少？")
    assert not ans.refused and "281 TB" in ans.text, ans.text


def test_a_release_of_the_name_asked_about_that_the_passage_does_not_give_is_refused(tmp_path):
    """"CentOS 7 是哪一天停止维护的？" over a page that gives only CentOS8's date: that date is another release's (it
    was given as the answer). The release the page gives is answered."""
    kb = over(tmp_path, {"migrate.md": "# 迁移指南\n\n## 背景\n\nCentOS8 已经于 2022 年 01 月 01 日停止维护，"
                         "用户需要尽快迁移到其他操作系统。\n\n## 迁移工具\n\n"
                         "迁移工具会备份系统配置，最多保留 7 份备份，然后替换软件包。\n"})
    assert kb.ask("CentOS 7 是哪一天停止维护的？").refused
    ans = kb.ask("CentOS 8 是哪一天停止维护的？")
    assert not ans.refused and "2022" in ans.text, ans.text


def test_a_question_for_a_file_gets_the_sentence_that_names_one(tmp_path):
    """"autofs 从哪个配置文件读取主映射？" asks for a file: the sentence that names /etc/auto.master answers, not the one
    before it that says most of the question's words (on the docs site that one was the answer). A file the question
    itself names ("extract_case.py 生成哪个文件") is not the one asked for; "which file systems" asks for no file."""
    from kb.answer_types import asked_type, fits
    assert asked_type("Which file does autofs read as its default master map?")[0] == "path"
    assert asked_type("kdump 的命令行参数要在哪个配置文件里改？")[0] == "path"
    assert asked_type("Which file systems can GRUB2 read?")[0] is None and asked_type("支持哪个文件系统？")[0] is None
    assert fits("path", "通过生成tcase.json文件导入用例") and fits("path", "配置文件是/etc/sysconfig/kdump。")
    assert not fits("path", "需要有【extract_case.py】文件", "What file does extract_case.py generate?")
    kb = over(tmp_path, {"autofs.md": "# 自动挂载\n\n## 主映射\n\nautofs 默认读取主映射，主映射配置文件列出了由 autofs 控制的"
                         "挂载点。主映射配置文件的路径是 /etc/auto.master。\n\n## 挂载选项\n\n挂载选项写在映射条目的第三列。\n"})
    ans = kb.ask("autofs 从哪个配置文件读取主映射？")
    assert not ans.refused and "/etc/auto.master" in ans.text, ans.text


def test_a_question_that_names_a_command_without_asking_for_one_is_no_how_to(tmp_path):
    """"后置命令什么时候执行？" asks when, not for a command: it gets the sentence that says when, not a how-to's answer
    (which goes on to a further sentence, here from the next section). "用什么命令", "which command" still ask for one."""
    kb = over(tmp_path, {
        "task.md": "# 创建任务\n\n## 1. 任务设置\n\n### 1.1 前置命令\n\n任务开始前在每台机器上执行一次，用于准备测试环境。\n\n"
                   "### 1.2 后置命令\n\n全部用例执行完成后执行，用于清理测试环境。\n\n### 1.3 重启命令\n\n"
                   "机器重启之后、继续执行未完成的用例之前执行，用于恢复测试环境。\n\n### 1.4 超时时间\n\n"
                   "任务默认没有超时时间；设置后，任务运行超过该时间即被标记为超时。\n",
        "contrib.md": "# 文档贡献指南\n\n## 1. 克隆文档仓库\n\n执行以下命令，将你 Fork 后的文档仓库克隆到本地：\n\n"
                      "```bash\ngit clone git@github.com:yourname/docs.git\n```\n\n其中的 yourname 要替换为你自己的 GitHub 用户名。\n\n"
                      "## 2. 本地预览\n\n在仓库根目录执行以下命令，启动本地预览服务：\n\n```bash\nmkdocs serve\n```\n",
        "network.md": "# 网络配置\n\n## 查看连接\n\n执行以下命令，列出所有网络连接：\n\n```bash\nnmcli connection show\n```\n\n"
                      "## 修改主机名\n\n使用 hostnamectl set-hostname 命令修改主机名，修改后重新登录生效。\n"})
    ans = kb.ask("任务的后置命令什么时候执行？")
    assert not ans.refused and "全部用例执行完成后执行" in ans.text and "超时" not in ans.text, ans.text
    ans = kb.ask("克隆文档仓库用什么命令？")
    assert ans.commands == ["git clone git@github.com:yourname/docs.git"], ans.text

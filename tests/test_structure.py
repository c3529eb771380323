"""Passages that follow a Markdown page's structure, know their kind, and link to the live page."""
import logging
from pathlib import Path

import pytest

from kb.chunking import chunk_document
from kb.documents import load_corpus
from kb.markdown import markdown_blocks
from kb.site import page_url, slugify
from kb.text import tokenize

SITE = Path(__file__).resolve().parent / "data" / "structure"
DOCS = SITE / "docs"


@pytest.fixture(scope="module")
def pages():
    docs, problems = load_corpus(DOCS)
    assert problems == []
    return {d.id: d for d in docs}


@pytest.fixture(scope="module")
def site_kb(tmp_path_factory):
    """The fixture site with the bundled model: a real index, opened again from disk."""
    from kb import KnowledgeBase
    folder = tmp_path_factory.mktemp("structure-index")
    KnowledgeBase.open(corpus=DOCS, index_dir=folder, progress=False)
    return KnowledgeBase.open(corpus=DOCS, index_dir=folder, progress=False)


def find(doc, needle):
    return next(p for p in doc.paragraphs if needle in p.text)


def test_headings_are_paths_not_passages(pages):
    guide = pages["guide.md"]
    assert all(p.text not in ("主要特性", "安装步骤", "兼容软件", "常见问题") for p in guide.paragraphs)
    assert find(guide, "容器资源视图隔离").heading == ("星河操作系统使用指南", "主要特性")


def test_a_list_stays_with_its_lead_in(pages):
    p = find(pages["guide.md"], "容器资源视图隔离")
    assert p.kind == "list"
    assert p.text[:p.lead] == "星河内核的新特性包括："
    assert p.text[p.lead + 1:].split("\n") == ["- 容器资源视图隔离，让容器看到自己的资源",
                                               "- 内存分层回收，降低大内存场景的回收开销",
                                               "- 在线热补丁，无需重启即可修复漏洞"]


@pytest.mark.parametrize("question, answer", [
    ("Q：安装时提示找不到磁盘怎么办？", "A：请在 BIOS 中把磁盘模式从 RAID 改为 AHCI，然后重新启动安装程序。"),
    ("问：星河操作系统支持哪些架构？", "答：支持 x86_64、aarch64 与 RISC-V 三种架构。"),
    ("如何查看当前内核版本？", "运行下面的命令即可看到正在使用的内核版本：\nuname -r"),     # a question heading
])
def test_faq_pairs_keep_question_and_answer_together(pages, question, answer):
    p = find(pages["guide.md"], question)
    assert p.kind == "faq" and p.text[:p.lead] == question and p.text[p.lead + 1:] == answer


def test_commands_stay_with_the_step_that_introduces_them(pages):
    guide = pages["guide.md"]
    first, second = find(guide, "下载安装镜像"), find(guide, "校验镜像")
    assert first.kind == second.kind == "step"
    assert first.text.endswith("1. 下载安装镜像：\ncurl -O https://mirrors.example.org/xinghe/9.0/xinghe-9.0.iso")
    assert second.text == "2. 校验镜像的完整性：\nsha256sum xinghe-9.0.iso"
    upgrade = find(guide, "dnf upgrade")    # a paragraph, then a code block outside any list
    assert upgrade.kind == "step" and upgrade.text[:upgrade.lead] == "安装完成后，用下面的命令把系统升级到最新版本。"


def test_admonitions_br_in_cells_and_image_alt_text(pages):
    guide = pages["guide.md"]
    note = find(guide, "热补丁只适用于")
    assert note.text == "提示\n热补丁只适用于 x86_64 与 aarch64 架构，其他架构请在维护窗口重启。"
    assert "支持在线扩容。; 它不支持缩小文件系统。" in find(guide, "XFS 是星河").text
    texts = "\n".join(p.text for p in guide.paragraphs)
    assert "系统架构图" in texts                       # alt text that says something is kept
    assert "image" not in texts and "<br>" not in texts


def test_tables_are_grouped_with_the_header_once_per_group(pages):
    groups = [p for p in pages["guide.md"].paragraphs if p.kind == "table" and "pkg-" in p.text]
    assert len(groups) > 1
    rows = []
    for g in groups:
        assert g.text[:g.lead] == "星河操作系统兼容以下开源软件：\n软件包 | 版本 | 架构"
        assert g.text.count("软件包 | 版本 | 架构") == 1
        rows += g.text[g.lead + 1:].split("\n")
    assert len(rows) == len(set(rows)) == 30 and rows[0] == "pkg-alpha | 1.0.0-1 | aarch64"


def test_rows_of_names_and_versions_are_found_by_words_not_embedded(pages):
    chunks = chunk_document(pages["guide.md"])
    packages = [c for c in chunks if c.kind == "table" and "pkg-" in c.text]
    assert packages[0].embed                                  # the table's start: found by meaning too
    assert not any(c.embed for c in packages[1:])             # the other groups: by their words
    assert find_chunk(chunks, "XFS 是星河").embed              # rows that say something in words are embedded
    assert all(c.embed for c in chunks if c.kind != "table")
    # The heading path is indexed for BM25 but not embedded again and again; a short passage gets its heading.
    assert packages[1].lexical_text.startswith("星河操作系统使用指南 › 兼容软件\n")
    assert "星河操作系统使用指南" not in packages[1].embed_text and "兼容软件" not in packages[1].embed_text
    assert find_chunk(chunks, "校验镜像").embed_text == "安装步骤\n2. 校验镜像的完整性：\nsha256sum xinghe-9.0.iso"


def find_chunk(chunks, needle):
    return next(c for c in chunks if needle in c.text)


def test_kinds_and_table_rows_reach_hits_and_citations(site_kb):
    chunks = list(site_kb.index)
    assert {c.kind for c in chunks} == {"prose", "list", "table", "faq", "step"}
    groups = [c for c in chunks if "pkg-" in c.text]
    assert [c.embed for c in groups] == [True] + [False] * (len(groups) - 1)     # no vector of its own was made
    hits = site_kb.search("pkg-whiskey 的版本", k=3)
    hit = next(h for h in hits if "pkg-whiskey" in h.text)
    assert hit.kind == "table" and hit.dense > 0          # not embedded, yet closeness comes from its table's start
    row = next((s, e) for s, e in hit.rows if "pkg-whiskey" in hit.text[s:e])
    assert hit.text[row[0]:row[1]] == "pkg-whiskey | 3.1.1-4 | x86_64"
    assert hit.to_dict()["rows"] and hit.to_dict()["kind"] == "table"
    from kb.answering import _citations
    start = hit.text.index("pkg-whiskey")
    (citation,) = _citations([hit], {0: [(start, start + len("pkg-whiskey | 3.1.1-4 | x86_64"))]})
    assert citation.kind == "table"
    assert [hit.text[slice(*hit.rows[n])] for n in citation.rows] == ["pkg-whiskey | 3.1.1-4 | x86_64"]
    assert citation.to_dict()["rows"] == citation.rows


def test_citations_link_to_the_page_and_heading_on_the_live_site(site_kb):
    hit = next(h for h in site_kb.search("如何查看当前内核版本", k=5) if h.doc_id == "guide.md")
    assert hit.url == "https://docs.example.org/guide/#_7"        # mkdocs gives Chinese headings _1, _2, …
    en = next(h for h in site_kb.search("sha256sum installation image", k=5) if h.doc_id == "guide.en.md")
    assert en.url == "https://docs.example.org/en/guide/#installation"
    assert site_kb.index.docs["index.md"]["url"] == "https://docs.example.org/"
    assert site_kb.index.docs["sub/index.md"]["url"] == "https://docs.example.org/sub/"


def test_mkdocs_addresses_and_heading_slugs():
    assert page_url("https://x.org/", "guide/config.md") == "https://x.org/guide/config/"
    assert page_url("https://x.org/", "guide/config.en.md") == "https://x.org/en/guide/config/"
    assert page_url("https://x.org/", "index.en.md") == "https://x.org/en/"
    assert slugify("1.1 文件系统类型") == "11"
    assert slugify("Migration steps: CentOS 8!") == "migration-steps-centos-8"
    blocks, _ = markdown_blocks("# 指南\n\n甲。\n\n## 步骤\n\n乙。\n\n## 步骤\n\n丙。\n\n## Steps\n\n丁。\n")
    assert [b.anchor for b in blocks] == ["_1", "_2", "_3", "steps"]


def test_a_base_url_gives_any_folder_links(tmp_path, monkeypatch):
    from kb import KnowledgeBase
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "howto.md").write_text("# Upgrade the kernel\n\nRun dnf upgrade kernel and reboot the machine.\n")
    monkeypatch.setenv("KB_SOURCE_BASE_URL", "https://wiki.example.org/notes")
    kb = KnowledgeBase.open(corpus=folder, index_dir=tmp_path / "index", progress=False)
    (hit,) = kb.search("upgrade kernel", k=1)
    assert hit.url == "https://wiki.example.org/notes/howto/#upgrade-the-kernel"


def test_bad_documents_are_named_in_warnings_and_the_rest_is_indexed(caplog):
    with caplog.at_level(logging.WARNING, logger="kb"):
        docs, problems = load_corpus(DOCS)
    warned = [r.getMessage() for r in caplog.records]
    for expected in ("broken.md: table at line 5 has no '| --- |' line",
                     "broken.md: table at line 11: 1 row(s) have more cells than its header",
                     "broken.md: 1 code block(s) with lines indented less than their opening marker (opened at line 21)",
                     "broken.md: code block opened at line 56 is never closed: read as code up to line 59",
                     "broken.md: 1 empty section(s): 'An empty section'",
                     "lonely.en.md: its original lonely.md is not in the corpus"):
        assert any(w.startswith(expected) for w in warned), expected
    assert problems == [] and len(docs) == 6
    broken = next(d for d in docs if d.id == "broken.md")
    tokens = {t for p in broken.paragraphs for t in tokenize(p.text)}
    assert set(tokenize("ferrite cuprite basalt extrusive granite chalcedony marble obsidian lava pumice")) <= tokens


def test_broken_markup_is_read_as_its_writer_meant(pages):
    broken = pages["broken.md"]
    kinds = [(p.kind, p.heading[-1], p.text) for p in broken.paragraphs]
    # a command pasted without the step's indentation stays in its step; the next step is not swallowed
    assert ("step", "Steps whose code is indented less than the step",
            "1. Show the settings of the granite link:\n# nmcli connection show granite-link") in kinds
    assert ("step", "Steps whose code is indented less than the step",
            "2. Bring the granite link up again:\n# nmcli connection up granite-link") in kinds
    # an HTML table: header kept, a cell spanning two rows repeated in each, <br> in a cell, a </td> left out
    assert ("table", "An HTML table", "Mineral | Group | Hardness\nsilica | quartz; tectosilicate | 7\n"
            "silica | chalcedony | 6.5") in kinds
    # a closed fence is never touched, '#' comment after a blank line and all
    assert ("step", "A closed fence with comments", "echo marble\n# restart the quarry service\nsystemctl restart quarry") in kinds
    # a fence never closed ends where the page's headings and prose resume
    assert ("step", "Unclosed code", "The command below is never closed:\necho obsidian\n# list the lava flows\n"
            "ls /srv/lava") in kinds
    assert ("prose", "Pumice", "The rest of this page mentions pumice, and it is still searchable.") in kinds


def test_what_bad_pages_say_is_found(site_kb):
    """The pages warned about are still searchable, and answered from, for every part that was readable."""
    for query, doc, words in (("cuprite copper ore", "broken.md", "cuprite | copper ore"),
                              ("chalcedony hardness", "broken.md", "silica | chalcedony | 6.5"),
                              ("how to show the settings of the granite link", "broken.md", "# nmcli connection show granite-link"),
                              ("pumice", "broken.md", "mentions pumice"),
                              ("English page without its Chinese original", "lonely.en.md", "indexed on its own")):
        hit = site_kb.search(query, k=1)[0]
        assert hit.doc_id == doc and words in hit.text, (query, hit.doc_id, hit.text)
    answer = site_kb.ask("What is the hardness of chalcedony?")
    assert "6.5" in answer.text and answer.citations[0].doc_id == "broken.md"


PROSE = "The build writes its results into the out folder of the project, one folder for each target it was asked to build."


@pytest.mark.parametrize("page, kinds, warning", [
    # a fence closed at the end of the page, '#' lines and all: nothing to mend
    ("## Run\n\n```\nmake\n\n# clean the tree\nmake clean\n```\n", [("step", "make\n# clean the tree\nmake clean")], None),
    # never closed, then a sentence of prose after a blank line: the code ends there
    ("## Run\n\n```\nmake all\n\n" + PROSE + "\n", [("step", "make all"), ("prose", PROSE)],
     "code block opened at line 3 is never closed: read as code up to line 4"),
    # never closed, and nothing after it reads as text: code to the end, as before
    ("## Run\n\n```\nmake all\n\nmake clean\n", [("step", "make all\nmake clean")],
     "code block opened at line 3 is never closed: the rest of the page is read as code"),
    # a closing marker left out in a list item: the next marker is another fence's, after text that resumes
    ("1. Run:\n   ```\n   make\n" + PROSE + "\n\n## Next\n\n```\nmake test\n```\n",
     [("step", "1. Run:\nmake"), ("prose", PROSE), ("step", "make test")], None),
    # a fence ended by the next item of its list is CommonMark's reading, not a mistake
    ("1. Build:\n   ```\n   make\n2. Install:\n   ```\n   make install\n   ```\n",
     [("step", "1. Build:\nmake"), ("step", "2. Install:\nmake install")], None),
])
def test_code_fences_never_closed_end_where_the_text_resumes(page, kinds, warning):
    warned: list[str] = []
    blocks, _ = markdown_blocks(page, warned.append)
    assert [(b.kind, b.text) for b in blocks] == kinds
    assert [w[:len(warning)] for w in warned] == [warning] if warning else warned == []


@pytest.mark.parametrize("page, kinds, warning", [
    # no <thead>: the first row names the columns; colspan keeps the columns in place
    ("<table><tr><td>Port</td><td>Use</td><td>Note</td></tr><tr><td>22</td><td colspan=2>ssh</td></tr></table>\n",
     [("table", "Port | Use | Note\n22 | ssh |")], None),
    # a table never closed is read as far as its block goes
    ("<table>\n<tr><th>Port</th><th>Use</th></tr>\n<tr><td>443</td><td>https</td></tr>\n\nAfter the table.\n",
     [("table", "Port | Use\n443 | https"), ("prose", "After the table.")],
     "HTML table at line 1: its </table> is missing: read to the end of its block"),
    # a row with more cells than the header: kept
    ("<table><tr><th>Port</th></tr><tr><td>80</td><td>http</td></tr></table>\n",
     [("table", "Port\n80 | http")], "HTML table at line 1: 1 row(s) have more cells than its header: the extra cells are kept"),
    # a caption (text in the table, in no cell) is kept after it
    ("<table><caption>Open ports of the quarry gateway</caption><tr><th>Port</th></tr><tr><td>25</td></tr></table>\n",
     [("table", "Port\n25"), ("prose", "Open ports of the quarry gateway")], None),
    # other HTML: its visible text is a paragraph; styles are not text
    ('<style>p {color: red}</style>\n\n<div align="center">The quarry map is <b>below</b>.</div>\n',
     [("prose", "The quarry map is below.")], None),
])
def test_html_tables_become_table_passages(page, kinds, warning):
    warned: list[str] = []
    blocks, _ = markdown_blocks(page, warned.append)
    assert [(b.kind, b.text) for b in blocks] == kinds
    assert [w[:len(warning)] for w in warned] == [warning] if warning else warned == []


@pytest.mark.parametrize("page, kinds", [
    # a delimiter row of single dashes: a table to mkdocs, a list item swallowing the rows to markdown-it
    ("参数 | 含义\n - | -\nregion | 环境分区\nmaster_ip | 母机ip\n", [("table", "参数 | 含义\nregion | 环境分区\nmaster_ip | 母机ip")]),
    # in a code fence it is code
    ("```\na | b\n- | -\n```\n", [("step", "a | b\n- | -")]),
])
def test_a_table_ruled_with_single_dashes_is_a_table(page, kinds):
    blocks, _ = markdown_blocks(page)
    assert [(b.kind, b.text) for b in blocks] == kinds


def test_every_visible_word_is_still_searchable(pages):
    """Nothing a reader sees on the rendered page is lost: each of its tokens is in some passage's BM25 text."""
    from bs4 import BeautifulSoup
    from markdown_it import MarkdownIt
    for name, doc in pages.items():
        raw = (DOCS / name).read_text(encoding="utf-8").split("\n---\n", 1)[-1]
        visible = BeautifulSoup(MarkdownIt("commonmark").enable("table").render(raw), "html.parser").get_text(" ")
        # CommonMark reads broken.md's mis-indented fence as swapping code and text: its HTML table then shows as
        # code, tags and all, and a fence's info string ("bash") as text. Their words are markup, not text.
        visible = BeautifulSoup(visible, "html.parser").get_text(" ")
        indexed = {t for c in chunk_document(doc) for t in tokenize(c.lexical_text)}
        # "!!! note" is markup mkdocs does not show; an empty section's heading has no passage to lead (it is warned of)
        missing = set(tokenize(visible)) - indexed - set(tokenize("note An empty section bash"))
        assert not missing, (name, sorted(missing))


BOND_ZH = """# 网卡绑定

## 绑定模式

绑定有 3 种模式，如下表所示

| 模式 | 说明 |
| --- | --- |
| mode 0 | 轮询负载均衡：数据包依次从每块网卡发出，多块网卡同时工作，带宽叠加 |
| mode 1 | 主备容错：只有一块网卡承载流量，主网卡故障时备用网卡接管，链路保持连通 |
| mode 4 | 802.3ad 动态链路聚合：需要在交换机端口上配置 LACP，按发送哈希策略分担流量 |
"""
BOND_EN = """# NIC bonding

## Bonding modes

Bonding has three modes, as shown in the table below

| Mode | Description |
| --- | --- |
| mode 0 | round-robin load balancing: packets go out on each network card in turn, so several cards work at once and add up |
| mode 1 | active-backup fault tolerance: one network card carries traffic, and a backup takes over when it fails |
| mode 4 | 802.3ad dynamic link aggregation: it needs the switch ports configured for LACP, and shares traffic by the transmit hash policy |
"""


def test_an_english_lead_in_without_a_colon_leads_its_table(tmp_path):
    """English says in 50 letters what Chinese says in 15: its lead-in is no paragraph of its own either."""
    (tmp_path / "guide.md").write_text(BOND_ZH, encoding="utf-8")
    (tmp_path / "guide.en.md").write_text(BOND_EN, encoding="utf-8")
    docs = {d.id: d for d in load_corpus(tmp_path)[0]}
    for name, caption in (("guide.md", "绑定有 3 种模式，如下表所示"),
                          ("guide.en.md", "Bonding has three modes, as shown in the table below")):
        paragraphs = docs[name].paragraphs
        assert all(p.kind == "table" and p.text.startswith(caption + "\n") for p in paragraphs), name
    assert len(docs["guide.en.md"].paragraphs) > 1         # its rows are longer: more than one group


def test_a_twin_table_of_several_groups_shows_its_caption_once(tmp_path):
    """The English table's groups share their Chinese original: one source, caption and column names once."""
    from kb import KnowledgeBase
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "guide.md").write_text(BOND_ZH, encoding="utf-8")
    (tmp_path / "corpus" / "guide.en.md").write_text(BOND_EN, encoding="utf-8")
    kb = KnowledgeBase.open(corpus=tmp_path / "corpus", index_dir=tmp_path / "index", progress=False)
    answer = kb.ask("Which bonding mode needs LACP on the switch?")
    assert not answer.refused
    assert "mode 4 | 802.3ad dynamic link aggregation" in answer.text
    (cited, *_) = answer.citations
    assert cited.text.count("as shown in the table below") == cited.text.count("Mode | Description") == 1
    assert answer.text.count("Mode | Description") == 1


def test_html_formatting_tags_are_not_text_but_placeholders_are():
    """'<font color="red">强制终止</font>' shows 强制终止 in red: answers and citations quote 强制终止. A writer's
    "<package>" placeholder is text, as is an HTML block's visible text."""
    page = ('## <center>任务</center>\n\n<font color="red">强制终止</font>：终止正在执行的用例；'
            '<span style="color:orange">优雅终止</span>只终止未执行的用例。用实际的软件包替换 <package>。\n')
    (block,) = markdown_blocks(page, lambda message: None)[0]
    assert block.heading == ("任务",)
    assert block.text == "强制终止：终止正在执行的用例；优雅终止只终止未执行的用例。用实际的软件包替换 <package>。"


def test_a_list_item_introduces_the_command_after_it():
    """"- 查看内核日志" with its command below it, outside the item: one step, the item its instruction. An item
    among others stays in its list."""
    page = ("## 查看日志\n\n- 查看内核日志\n\n ```\n sudo journalctl -k\n ```\n\n"
            "- 按服务查看\n- 按时间查看\n\n```\njournalctl --since today\n```\n")
    blocks = markdown_blocks(page, lambda message: None)[0]
    assert [(b.kind, b.text[:b.lead]) for b in blocks] == [("step", "- 查看内核日志"), ("list", ""), ("step", "")]
    assert blocks[0].text == "- 查看内核日志\nsudo journalctl -k"


def test_a_term_and_the_paragraph_after_it_are_one_entry():
    """"- disk_full_action" and the paragraph below it, outside the item, say what that setting is: one entry, the term
    leading what it is, as a FAQ's question leads its answer, so the question "disk_full_action 应该设成什么" gets the
    paragraph. A Chinese label and its text stay as before; a term whose paragraph is followed by a command is a step."""
    page = ("## 审计\n\n- disk_full_action\n\n指定当分区上没有可用空间时触发的操作，必须设置为 halt 或 single。\n"
            "- disk_error_action\n\n指定当检测到错误时触发的操作。\n\n- 查看内核日志\n\n普通段落。\n\n"
            "- max_log_file\n\n设置日志文件的大小。\n\n```\n# vim /etc/audit/auditd.conf\n```\n")
    blocks = markdown_blocks(page, lambda message: None)[0]
    assert [(b.kind, b.text[:b.lead]) for b in blocks] == [
        ("faq", "disk_full_action"), ("faq", "disk_error_action"), ("list", ""), ("step", "max_log_file\n设置日志文件的大小。")]
    assert blocks[0].text == "disk_full_action\n指定当分区上没有可用空间时触发的操作，必须设置为 halt 或 single。"


def test_mkdocs_attribute_lists_are_no_text_and_a_heading_id_is_its_anchor():
    """'[北京大学](…){:target="_blank"}' in a table cell, an image's '{: width="60%"}' and '## 下载 {#download}'
    (Python-Markdown's attr_list, common on mkdocs sites) set attributes: answers quote none of them, and a
    citation links to the id the heading sets."""
    page = ('## 下载镜像 {#download .big}\n\n请从镜像站下载![流程图](a.png){: width="60%"}。\n\n'
            '| 镜像源 | 地点 |\n| --- | --- |\n| [北京大学](http://mirrors.pku.edu.cn/){:target="_blank"} | 中国 |\n\n'
            '变量写作 {name}，命令 `echo {#x}` 照原样。\n')
    blocks = markdown_blocks(page, lambda message: None)[0]
    assert {b.heading for b in blocks} == {("下载镜像",)} and {b.anchor for b in blocks} == {"download"}
    assert [b.text for b in blocks] == ["请从镜像站下载流程图。", "镜像源 | 地点\n北京大学 (http://mirrors.pku.edu.cn/) | 中国",
                                        "变量写作 {name}，命令 echo {#x} 照原样。"]

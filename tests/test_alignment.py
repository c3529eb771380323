"""A translated page is aligned with its original paragraph by paragraph, even when their paragraphs differ."""
import logging

from kb import KnowledgeBase
from kb.documents import load_corpus

ZH = """# 星图工具指南

## 安装

星图 2.4 版本需要 Python 3.11 以上的运行环境，安装前请先确认系统中的 Python 版本，并用 dnf 安装依赖的软件包：

```
dnf install -y stardust-cli
```

## 配置

星图的配置文件位于 /etc/stardust/stardust.conf，修改其中的 port=8420 这一行就可以更换服务监听的端口。

星图的运行日志默认写入 /var/log/stardust 目录，每天生成一个新文件，旧的日志文件会保留 14 天后自动删除。

## 升级

从 2.3 版本升级到 2.4 版本时，请先执行 stardust backup 命令备份全部数据，然后再重新安装新版本的软件包。
"""

EN = """# Stardust tool guide

## Installation

Stardust 2.4 needs Python 3.11 or later: before installing, check the Python version of your system, then install its packages with dnf:

```
dnf install -y stardust-cli
```

## Configuration

Stardust's configuration file is /etc/stardust/stardust.conf: change its line port=8420 to make the service listen on another port.

Stardust writes its logs to the /var/log/stardust folder by default, one new file a day, and deletes old log files after 14 days.

## Upgrading

When upgrading from version 2.3 to 2.4, first run the stardust backup command to back up all data, then install the new version's package.
"""
PORT = ("Stardust's configuration file is /etc/stardust/stardust.conf: "
        "change its line port=8420 to make the service listen on another port.")
LOGS = "Stardust writes its logs to the /var/log/stardust folder by default, one new file a day, and deletes old log files after 14 days."
UPGRADE = EN.strip().splitlines()[-1]
EXTRA = "Tip: the community forum of the project answers questions about every part of Stardust on weekdays."


def aligned(tmp_path, zh: str | None, en: str) -> dict[str, str | None]:
    """{English paragraph text: the Chinese paragraph it is aligned with, or None} for a twin pair."""
    (tmp_path / "corpus").mkdir(exist_ok=True)
    if zh is not None:
        (tmp_path / "corpus" / "guide.md").write_text(zh, encoding="utf-8")
    (tmp_path / "corpus" / "guide.en.md").write_text(en, encoding="utf-8")
    docs = {d.id: d for d in load_corpus(tmp_path / "corpus")[0]}
    originals = {p.id: p.text for p in docs["guide.md"].paragraphs} if zh is not None else {}
    return {p.text: originals.get(p.id) for p in docs["guide.en.md"].paragraphs}


def test_equal_twins_align_one_to_one(tmp_path):
    pairs = aligned(tmp_path, ZH, EN)
    assert len(pairs) == 4 and all(pairs.values())
    assert "14 天" in pairs[LOGS] and "port=8420" in pairs[PORT] and "stardust backup" in pairs[UPGRADE]


def test_inserted_paragraph_loses_only_its_own_original(tmp_path):
    pairs = aligned(tmp_path, ZH, EN.replace("## Configuration\n", f"## Configuration\n\n{EXTRA}\n"))
    assert pairs[EXTRA] is None
    assert "port=8420" in pairs[PORT] and "14 天" in pairs[LOGS] and "stardust backup" in pairs[UPGRADE]
    assert sum(v is not None for v in pairs.values()) == 4


def test_dropped_paragraph_keeps_the_others_aligned(tmp_path):
    pairs = aligned(tmp_path, ZH, EN.replace(PORT + "\n", ""))
    assert len(pairs) == 3 and all(pairs.values())
    assert "14 天" in pairs[LOGS] and "stardust backup" in pairs[UPGRADE]


def test_split_paragraph_both_halves_carry_the_original(tmp_path):
    first, second = ("The configuration file of Stardust is /etc/stardust/stardust.conf, in the INI format.",
                     "Change the line port=8420 in it to make the service listen on another port.")
    pairs = aligned(tmp_path, ZH, EN.replace(PORT, f"{first}\n\n{second}"))
    assert "port=8420" in pairs[first] and pairs[first] == pairs[second]
    assert "14 天" in pairs[LOGS] and "stardust backup" in pairs[UPGRADE]


def test_sections_are_matched_by_their_headings(tmp_path):
    """The English page leaves out a whole section: the section after it still finds its own."""
    pairs = aligned(tmp_path, ZH, EN[:EN.index("## Configuration")] + EN[EN.index("## Upgrading"):])
    assert len(pairs) == 2 and "stardust backup" in pairs[UPGRADE]


def test_twin_whose_original_is_missing_is_indexed_on_its_own(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="kb"):
        pairs = aligned(tmp_path, None, EN)
    assert len(pairs) == 4 and not any(pairs.values())
    assert "guide.md is not in the corpus" in caplog.text


def test_citations_carry_the_original_of_their_own_paragraph_only(tmp_path):
    """Through the real index: a passage with no counterpart is cited without an original, its neighbour with."""
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "guide.md").write_text(ZH, encoding="utf-8")
    (tmp_path / "corpus" / "guide.en.md").write_text(EN.replace("## Configuration\n", f"## Configuration\n\n{EXTRA}\n"),
                                                     encoding="utf-8")
    kb = KnowledgeBase.open(corpus=tmp_path / "corpus", index_dir=tmp_path / "index", progress=False)
    hits = {h.text: h for h in kb.search("Stardust configuration file and forum", k=5, lang="en")}
    assert "port=8420" in hits[PORT].original
    assert hits[EXTRA].original is None


STEPS = [("运行 status 命令查看服务的状态。", "Run the status command to view the state of the service."),
         ("在 /var/log 目录中查看日志文件。", "View the log files in the /var/log folder."),
         ("用 ls 命令查看目录下的文件。", "Use the ls command to view the files in a folder."),
         ("打开配置文件并修改端口。", "Open the configuration file and change the port."),
         ("重启服务后查看端口是否生效。", "Restart the service, then view whether the port took effect.")]


def test_the_sites_own_words_for_english_ones_are_learned_from_its_aligned_paragraphs(tmp_path):
    """"view" is 查看 on these pages, where the dictionary's first sense is 视图: they go together in four pairs.
    "command" and 命令, "service" and 服务 share only two: too few to tell. The index keeps what it learned."""
    (tmp_path / "corpus").mkdir()
    for name, lang, title in (("guide.md", 0, "# 指南"), ("guide.en.md", 1, "# Guide")):
        steps = "\n\n".join(f"## {n}\n\n{pair[lang]}" for n, pair in enumerate(STEPS, 1))
        (tmp_path / "corpus" / name).write_text(f"{title}\n\n{steps}\n", encoding="utf-8")
    kb = KnowledgeBase.open(corpus=tmp_path / "corpus", index_dir=tmp_path / "index", progress=False)
    assert kb.index.manifest["translated"] == {"view": "查看"}


def test_an_english_question_over_a_chinese_only_page_uses_the_sites_own_words(tmp_path):
    """The dictionary gives "view" as 视图 or 观看; the twins above say 查看. Of two sentences of a page with no
    English twin, the one that says 查看 answers "view"."""
    (tmp_path / "corpus").mkdir()
    for name, lang, title in (("guide.md", 0, "# 指南"), ("guide.en.md", 1, "# Guide")):
        steps = "\n\n".join(f"## {n}\n\n{pair[lang]}" for n, pair in enumerate(STEPS, 1))
        (tmp_path / "corpus" / name).write_text(f"{title}\n\n{steps}\n", encoding="utf-8")
    (tmp_path / "corpus" / "tools.md").write_text(
        "# 日志工具\n\n运行 logtool --purge 命令可以清理服务的全部日志。运行 logtool --show 命令可以查看服务的全部日志。\n",
        encoding="utf-8")
    kb = KnowledgeBase.open(corpus=tmp_path / "corpus", index_dir=tmp_path / "index", progress=False)
    answer = kb.ask("Which command lets me view all the logs of the service?")
    assert not answer.refused and "logtool --show" in answer.text and "--purge" not in answer.text, answer.text

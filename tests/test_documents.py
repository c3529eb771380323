"""Corpus loading: the announcement, Markdown structure, encodings, and bad files named and skipped."""
import shutil

import pytest

from kb.documents import load_corpus, parse_document
from kb.errors import CorpusError
from conftest import CORPUS, DATA


@pytest.fixture(scope="module")
def corpus_docs():
    docs, problems = load_corpus(CORPUS)
    assert problems == []
    return {d.id: d for d in docs}


def test_announcement_keeps_attribution_and_clean_paragraphs(corpus_docs):
    d = corpus_docs["opencloudos-8.5-release.html"]
    assert d.title == "OpenCloudOS 8.5 版本正式发布，完全兼容 CentOS8"
    assert d.author == "开源中国" and d.date.startswith("Thu, 27 Jan 2022") and d.lang == "zh"
    assert len(d.paragraphs) == 14
    assert d.paragraphs[0].text == "1月26日，开源操作系统社区 OpenCloudOS 宣布发布首个正式版本：OpenCloudOS 8.5。"
    assert "<" not in d.text and "span" not in d.text
    for p in d.paragraphs:
        assert d.text[p.start:p.end] == p.text


def test_redirect_links_keep_visible_text_and_real_target(corpus_docs):
    d = corpus_docs["opencloudos-8.5-release.html"]
    assert "OpenCloudOS · GitHub (https://github.com/OpenCloudOS)" in d.text
    assert "Index of /opencloudos/8.5/isos/ (http://mirrors.opencloudos.org/opencloudos/8.5/isos/)" in d.text
    assert "GoToLink" not in d.text


def test_translation_is_paragraph_aligned(corpus_docs):
    en = corpus_docs["opencloudos-8.5-release.en.md"]
    assert en.lang == "en" and en.translation_of == "opencloudos-8.5-release.html"
    assert len(en.paragraphs) == len(corpus_docs[en.translation_of].paragraphs)


def test_markdown_headings_lists_tables_code_and_mkdocs_translation():
    docs, problems = load_corpus(DATA / "mini")
    by = {d.id: d for d in docs}
    zh, en = by["guide.md"], by["guide.en.md"]
    texts = [(p.text, p.heading) for p in zh.paragraphs]
    assert any(t.startswith("1. 备份数据。\n2. 运行 migrate.sh") for t, _ in texts)      # a list stays one passage
    assert ("版本 | 支持\n8.5 | 是", ("迁移指南", "迁移步骤")) in texts                       # a table keeps its header
    assert ("sudo ./migrate.sh --check", ("迁移指南", "迁移步骤")) in texts
    assert any("官方文档 (https://docs.example.org/migrate)" in t for t, _ in texts)
    assert zh.title == "迁移指南" and zh.url == "https://example.org/guide" and zh.date == "2024-03-01"
    assert en.lang == "en" and en.translation_of == "guide.md" and zh.translation_of is None
    assert len(en.paragraphs) == len(zh.paragraphs)


def test_gb18030_text_is_decoded():
    docs, _ = load_corpus(DATA / "mini")
    weekly = next(d for d in docs if d.id == "weekly-gbk.txt")
    assert [p.text for p in weekly.paragraphs] == ["社区周报", "本周 OpenCloudOS 社区发布了新的内核补丁。", "下周将举行线上分享会。"]
    assert weekly.lang == "zh"


def test_html_nested_spans_vanish_and_scripts_are_dropped():
    docs, _ = load_corpus(DATA / "mini")
    page = next(d for d in docs if d.id == "page.html")
    assert [p.text for p in page.paragraphs] == ["Loose text in a div.", "First bold para.", "Item one", "Item two"]
    assert page.paragraphs[1].heading == ("Section",) and page.title == "Page title"
    assert "alert" not in page.text


def _bad_corpus(tmp_path):
    folder = tmp_path / "corpus"
    shutil.copytree(DATA / "mini", folder)
    (folder / "empty.txt").write_text("")
    (folder / "blob.txt").write_bytes(b"\x00\x01\x02binary\x00" * 50)
    (folder / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody\n")
    (folder / "slides.pdf").write_bytes(b"%PDF-1.4")
    shutil.copy(folder / "page.html", folder / "page2.html")
    return folder


def test_bad_files_are_named_and_skipped(tmp_path, caplog):
    docs, problems = load_corpus(_bad_corpus(tmp_path))
    assert sorted(d.id for d in docs) == ["guide.en.md", "guide.md", "page.html", "weekly-gbk.txt"]
    assert {p.split(":")[0] for p in problems} == {"empty.txt", "blob.txt", "broken.md", "slides.pdf", "page2.html"}
    assert "page2.html: duplicate of page.html" in problems
    assert "skipped blob.txt: binary file, not text" in caplog.text


def test_files_without_text_or_not_in_utf8_are_warned_about_and_the_rest_is_found(tmp_path, caplog):
    from kb import KnowledgeBase
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "basalt.md").write_text("# Basalt\n\nBasalt is a volcanic rock that cools quickly from lava.\n")
    (folder / "empty.md").write_text("")
    (folder / "draft.md").write_text("---\ntitle: Nothing written yet\n---\n")
    (folder / "dessert.txt").write_bytes("The café serves crème brûlée every Friday evening.\n".encode("cp1252"))
    (folder / "weekly.md").write_bytes("# 周报\n\n本周社区发布了新的内核补丁，欢迎大家试用。\n".encode("gbk"))
    with caplog.at_level("WARNING", logger="kb"):
        kb = KnowledgeBase.open(corpus=folder, index_dir=tmp_path / "index", progress=False)
    assert sorted(kb.problems) == ["draft.md: front matter only, no text", "empty.md: empty file"]
    assert "skipped draft.md" in caplog.text and "skipped empty.md" in caplog.text
    assert "dessert.txt: not UTF-8: read as" in caplog.text and "weekly.md: not UTF-8: read as GB18030" in caplog.text
    for query, doc in (("volcanic rock lava", "basalt.md"), ("café Friday evening", "dessert.txt"), ("内核补丁", "weekly.md")):
        assert kb.search(query, k=1)[0].doc_id == doc, query


def test_strict_mode_fails_with_the_list(tmp_path):
    with pytest.raises(CorpusError) as e:
        load_corpus(_bad_corpus(tmp_path), strict=True)
    assert "5 corpus file(s)" in str(e.value) and "broken.md: malformed YAML front matter" in str(e.value)


def test_missing_corpus_folder_says_how_to_fix(tmp_path):
    with pytest.raises(CorpusError, match="pass --corpus"):
        load_corpus(tmp_path / "nope")


def test_size_limit_names_the_file(tmp_path):
    (tmp_path / "big.txt").write_text("大" * 400_000, encoding="utf-8")
    docs, problems = load_corpus(tmp_path, max_file_mb=1)
    assert docs == [] and problems[0].startswith("big.txt: 1.2 MB is over the 1 MB limit")


def test_plain_text_without_blank_lines_has_one_paragraph_per_line():
    d = parse_document("notes.txt", "第一行。\n第二行。\n".encode())
    assert [p.text for p in d.paragraphs] == ["第一行。", "第二行。"]

"""What the chat page says about itself: KB_TITLE, KB_SUBTITLE, KB_LOGO, KB_EXAMPLES, and defaults from the corpus."""
import dataclasses

import pytest

from kb.config import Config
from kb.errors import KbError
from kb.ui import branding, corpus_topic, logo_src, read_examples


def test_the_default_title_names_what_the_documents_share(kb):
    b = branding(kb.config, kb.index.docs)
    assert b.title == {"zh": "OpenCloudOS 8.5 知识库", "en": "OpenCloudOS 8.5 knowledge base"}
    assert "《OpenCloudOS 8.5 版本正式发布，完全兼容 CentOS8》" in b.subtitle["zh"]
    assert "“OpenCloudOS 8.5 officially released, fully compatible with…”" in b.subtitle["en"]
    # The bundled corpus carries its example questions in corpus/.examples.txt, one language each.
    assert "What is cgroupfs?" in b.examples["en"] and "OpenCloudOS 9 什么时候发布？" in b.examples["zh"]


def test_titles_with_nothing_in_common_give_the_generic_name():
    assert corpus_topic(["Acme Linux 3: zram", "Acme Linux 3: networking"]) == "Acme Linux 3"
    assert corpus_topic(["zram", "networking"]) == "" and corpus_topic(["One document only"]) == ""


def test_settings_override_the_defaults(kb, tmp_path):
    (tmp_path / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>')
    (tmp_path / "q.txt").write_text("# comment\nzram 怎么开启？\n\nHow do I enable zram?\n", encoding="utf-8")
    cfg = dataclasses.replace(kb.config, title="Acme Help", subtitle="Ask us", logo=str(tmp_path / "logo.svg"),
                              examples=str(tmp_path / "q.txt"))
    b = branding(cfg, kb.index.docs)
    assert b.title == {"zh": "Acme Help", "en": "Acme Help"} and b.subtitle["zh"] == "Ask us"
    assert b.logo.startswith("data:image/svg+xml;base64,")
    assert b.examples == {"zh": ["zram 怎么开启？"], "en": ["How do I enable zram?"]}
    assert Config.from_env({"KB_TITLE": "T", "KB_LOGO": "https://portal.example/logo.png"}).logo.startswith("https://")


@pytest.mark.parametrize("logo", ["missing.png", "notes.txt", "big.png", "javascript:alert(1)"])
def test_a_bad_logo_is_refused_with_what_to_do(tmp_path, monkeypatch, logo):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "big.png").write_bytes(b"\x89PNG" + b"0" * 600_000)
    with pytest.raises(KbError, match="KB_LOGO"):
        logo_src(logo)


def test_a_missing_examples_file_is_named(tmp_path):
    with pytest.raises(KbError, match="KB_EXAMPLES"):
        read_examples(tmp_path / "nope.txt")
    assert read_examples(tmp_path / "nope.txt", required=False) == {}

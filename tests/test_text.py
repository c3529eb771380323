"""Tokenization, normalisation, sentence splitting and language detection."""
import subprocess
import sys

import pytest

from kb.text import Tokenizer, detect_language, split_sentences, tokenize

DOMAIN_TERMS = ["OpenCloudOS", "CentOS8", "TencentOS Server", "cgroupfs", "Page Cache Limit", "Monitor Buffer",
                "云原生", "热补丁", "开放原子开源基金会", "8.5", "V9"]


@pytest.mark.parametrize("term", DOMAIN_TERMS)
def test_domain_terms_stay_whole(term):
    text = f"我们介绍{term}的功能" if term.isascii() else f"about {term} today"
    assert term.lower() in tokenize(text)


def test_version_strings_are_one_token():
    toks = tokenize("OpenCloudOS 8.5 之后是 V9，可用性 99.999%")
    assert "8.5" in toks and "v9" in toks and "99.999%" in toks


def test_full_width_and_traditional_text_tokenize_like_simplified_half_width():
    assert tokenize("ＯｐｅｎＣｌｏｕｄＯＳ　８．５ 版本") == tokenize("OpenCloudOS 8.5 版本")
    assert tokenize("開源作業系統社區發佈了新版本") == tokenize("开源操作系统社区发布了新版本")


def test_a_text_gets_the_same_tokens_whatever_was_tokenized_before():
    """Runs of letters and Han characters are memoised per tokenizer: a sentence read after its paragraph (with
    stopwords kept, as the answer check reads it) gets the tokens a fresh tokenizer gives it."""
    paragraph = ("OpenCloudOS 8.5 的内核\u200b支持热补丁\x00，\n默认关闭 Page Cache Limit；開源社區發佈了 centos8 "
                 "的兼容版本\t和它的安装说明。")
    warm = Tokenizer()
    warm.tokenize(paragraph, keep_stopwords=True)
    for sentence in [paragraph, *paragraph.split("，"), *paragraph.split("；"), "的兼容版本"]:
        assert warm.tokenize(sentence) == Tokenizer().tokenize(sentence)
        assert warm.tokenize(sentence, keep_stopwords=True) == Tokenizer().tokenize(sentence, keep_stopwords=True)


def test_question_words_are_not_search_terms():
    assert tokenize("OpenCloudOS 9 什么时候发布？") == ["opencloudos", "9", "发布"]
    assert "what" not in tokenize("What is cgroupfs?")


def test_english_plurals_fold_but_names_do_not():
    assert tokenize("costs vendors communities") == ["cost", "vendor", "community"]
    assert tokenize("OpenCloudOS CentOS cgroupfs") == ["opencloudos", "centos", "cgroupfs"]


@pytest.mark.parametrize("question,lang", [
    ("OpenCloudOS 的 cgroupfs 是什么", "zh"),
    ("does the kernel support 热补丁?", "en"),
    ("OpenCloudOS 9 什麼時候發佈？", "zh"),
    ("What is cgroupfs?", "en"),
    ("那 V9 呢？", "zh"),
    ("Can I move my CentOS 8 servers to OpenCloudOS?", "en"),
    ("OpenCloudOS 8.5 支持 ARM64 热补丁吗", "zh"),
    ("Is 开放原子开源基金会 involved?", "en"),
    ("热补丁", "zh"),
    ("cgroupfs", "en"),
    ("cgroup v1 里 cpu.cfs_quota_us 最小能设成多少？", "zh"),     # a name in code is no English word ("us")
])
def test_language_follows_the_sentence_frame(question, lang):
    assert detect_language(question) == lang


def test_sentences_split_at_chinese_and_english_ends_but_not_decimals():
    text = "OpenCloudOS 8.5 发布了。它兼容 CentOS8！真的吗？Version 8.5 is out. It has 99.999% availability; good"
    sents = [text[s:e] for s, e in split_sentences(text)]
    assert sents == ["OpenCloudOS 8.5 发布了。", "它兼容 CentOS8！", "真的吗？", "Version 8.5 is out.",
                     "It has 99.999% availability;", "good"]


def test_jieba_loads_quietly():
    out = subprocess.run([sys.executable, "-c", "from kb.text import tokenize; tokenize('结巴分词测试')"],
                         capture_output=True, text=True, check=True)
    assert out.stderr == ""


def test_each_tokenizer_keeps_its_own_dictionary(tmp_path):
    from kb.text import Tokenizer
    (tmp_path / "a.txt").write_text("业务场景 100 n\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("性能优化 100 n\n", encoding="utf-8")
    a, b, plain = Tokenizer(tmp_path / "a.txt"), Tokenizer(tmp_path / "b.txt"), Tokenizer()
    text = "不同的业务场景进行了性能优化"
    assert "业务场景" in a.tokenize(text) and "性能优化" not in a.tokenize(text)
    assert "性能优化" in b.tokenize(text) and "业务场景" not in b.tokenize(text)
    assert "业务场景" not in plain.tokenize(text) and plain.tokenize(text) == tokenize(text)
    assert len({a.hash, b.hash, plain.hash}) == 3


def test_a_missing_user_dictionary_is_named(tmp_path):
    from kb.errors import KbError
    from kb.text import Tokenizer
    with pytest.raises(KbError, match="words.txt not found"):
        Tokenizer(tmp_path / "words.txt")

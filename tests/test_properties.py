"""Property tests: any text at all goes through the pipeline without an unexpected error."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.chunking import chunk_document
from kb.documents import parse_document
from kb.errors import BadDocument, QuestionError
from kb.text import detect_language, split_sentences, tokenize

# Mix CJK, Latin, digits, punctuation, emoji, control characters and lone surrogates.
text = st.text(alphabet=st.one_of(
    st.characters(), st.sampled_from(list("OpenCloudOS 8.5 兼容 CentOS8。！？；.!?\n热补丁 cgroupfs 開源 ＡＢＣ１２３"))),
    max_size=300)


@given(text)
@settings(max_examples=300, deadline=None)
def test_text_functions_never_raise(s):
    toks = tokenize(s)
    assert all(t and t == t.strip() for t in toks)
    assert detect_language(s) in ("zh", "en")
    for a, b in split_sentences(s):
        assert 0 <= a < b <= len(s)


@given(text, st.integers(min_value=5, max_value=400))
@settings(max_examples=200, deadline=None)
def test_chunks_point_at_their_text(s, size):
    try:
        doc = parse_document("x.txt", s.encode("utf-8", "surrogatepass"))
    except (BadDocument, UnicodeError):
        return
    for c in chunk_document(doc, size):
        assert doc.text[c.start:c.end] == c.text and len(c.text) <= size


@given(text)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_ask_answers_or_explains(kb, s):
    try:
        ans = kb.ask(s)
    except QuestionError as e:
        assert str(e)
        return
    assert ans.language in ("zh", "en") and ans.text
    for c in ans.citations + ans.related:
        assert 0 <= c.quote_start <= c.quote_end <= len(c.text)
        assert c.text[c.quote_start:c.quote_end] == c.quote

"""The chat's HTML: everything escaped, [n] markers linked to cards, the quoted sentence marked."""
import re

from kb.render import answer_html, draft_html, question_html
from kb.types import Answer, Citation

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def cited(answer="A said B. [1]", **c):
    passage = "Intro. A said B. Outro."
    fields = dict(n=1, text=passage, quote="A said B.", quote_start=7, quote_end=16, document="Doc", score=1.0,
                  date="Thu, 27 Jan 2022 18:00:00 GMT")
    fields.update(c)
    return Answer("q", answer, "en", False, citations=[Citation(**fields)])


def test_markers_link_to_numbered_cards_and_the_quote_is_marked():
    html = answer_html(cited(), turn=3)
    assert '<a class="kb-ref" href="#kb-3-1">[1]</a>' in html
    assert 'id="kb-3-1"' in html and '<span class="kb-n">1</span>' in html
    assert "Intro. <mark>A said B.</mark> Outro." in html
    assert "2022-01-27" in html and "\n" not in html


def test_a_marker_without_a_citation_stays_text():
    assert "[7]" in answer_html(cited("See [7]. [1]")) and 'href="#kb-0-7"' not in answer_html(cited("See [7]. [1]"))


def test_questions_documents_and_passages_are_escaped():
    ans = cited(f"{EVIL} [1]", text=f"x {EVIL} y", quote="", document=EVIL, original=EVIL, heading=(EVIL,))
    ans.question = EVIL
    html = answer_html(ans) + question_html(EVIL)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_only_web_links_become_links():
    assert 'href="https://example.com/a?b=1&amp;c=2"' in answer_html(cited(url="https://example.com/a?b=1&c=2"))
    assert "javascript:" not in answer_html(cited(url="javascript:alert(1)"))


def test_offsets_that_do_not_match_the_quote_mark_nothing():
    assert "<mark>" not in answer_html(cited(quote_start=0, quote_end=5))


def test_an_aligned_original_is_shown_under_a_translation():
    html = answer_html(cited(original="甲说乙。"))
    assert 'class="kb-original"' in html and "甲说乙。" in html


def test_a_refusal_looks_different_and_lists_related_passages():
    related = [Citation(n=1, text="Nearby text.", quote="", document="Doc", score=0.1)]
    html = answer_html(Answer("q", "Sorry, the knowledge base does not cover this question.", "en", True,
                              related=related))
    assert 'class="kb-answer kb-refused"' in html and "Passages that may be related:" in html
    assert "Nearby text." in html and 'class="kb-ref"' not in html and 'id="kb-' not in html


def test_card_labels_follow_the_answer_language():
    ans = cited(original="甲说乙。")
    ans.language = "zh"
    html = answer_html(ans)
    assert "出处" in html and "原文" in html


def test_the_growing_text_of_a_model_is_plain_escaped_text():
    html = draft_html(f"cgroupfs is {EVIL} [1", "en")
    assert 'class="kb-draft"' in html and "kb-answer" not in html and "kb-ref" not in html
    assert "<script" not in html and "<img" not in html and "&lt;script&gt;" in html


def test_an_answer_that_replaced_the_models_text_says_so_quietly():
    ans = cited()
    assert "kb-note" not in answer_html(ans)
    ans.signals["fallback"] = "sentence not supported by its passage"
    html = answer_html(ans)
    assert '<p class="kb-note">Quoted from the sources' in html and "not supported" not in html


def test_a_question_read_with_a_slip_mended_says_how_first_and_escaped():
    ans = cited()
    assert "kb-read-as" not in answer_html(ans)
    ans.read_as = f"How do I disable tuned {EVIL}?"
    html = answer_html(ans)
    assert re.search(r'^<div class="kb-answer" lang="en"><p class="kb-note kb-read-as">Read as “How do I disable tuned '
                     r'&lt;script&gt;', html) and "<script" not in html
    refusal = Answer("q", "Sorry.", "zh", True, read_as="怎么禁用 tuned 服务？")
    assert '<p class="kb-note kb-read-as">按“怎么禁用 tuned 服务？”理解</p>' in answer_html(refusal)


def test_web_addresses_in_passages_are_safe_links_and_everything_else_stays_text():
    passage = ('See https://docs.example.org/zram?x=1&y=2. Or (https://en.wikipedia.org/wiki/Zram_(Linux)), '
               '详见https://opencloudos.org下载。 Not javascript:alert(1), data:text/html,<b>x</b> or '
               'https://x.org/"onmouseover="alert(1)')
    html = answer_html(cited(text=passage, quote="", original="原文见 http://mirrors.example.org/8.5/。"))
    links = re.findall(r'<a class="kb-link" href="([^"]*)" target="_blank" rel="noopener noreferrer nofollow">', html)
    assert links == ["https://docs.example.org/zram?x=1&amp;y=2", "https://en.wikipedia.org/wiki/Zram_(Linux)",
                     "https://opencloudos.org", "https://x.org/", "http://mirrors.example.org/8.5/"]
    assert "下载。" in html and "javascript:alert(1)" in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert 'href="javascript' not in html and 'href="data' not in html and "<b>" not in html
    assert '&quot;onmouseover=&quot;alert(1)' in html     # the quote ended the address; the rest is text


def test_a_source_with_a_web_address_links_its_title():
    html = answer_html(cited(url="https://docs.example.org/guide/"))
    assert ('<a class="kb-source" href="https://docs.example.org/guide/" target="_blank" '
            'rel="noopener noreferrer nofollow">Doc</a>') in html
    for bad in ["javascript:alert(1)", "//evil.example/x", "https://a.org/\" onclick=\"x", "ftp://a.org/x"]:
        assert 'class="kb-source"' not in answer_html(cited(url=bad)), bad


def test_commands_show_as_code_escaped_on_lines_of_their_own():
    ans = cited("Run this: [1]\necho '<b>' > /tmp/x && ls")
    ans.commands = ["echo '<b>' > /tmp/x && ls"]
    html = answer_html(ans)
    assert 'Run this: <a class="kb-ref"' in html
    assert '</p><pre class="kb-code"><code>echo &#x27;&lt;b&gt;&#x27; &gt; /tmp/x &amp;&amp; ls</code></pre>' in html
    assert "<b>" not in html


def test_what_a_command_printed_shows_in_its_code_block():
    ans = cited("列出全部设置：[1]\n# firewall-cmd --list-all\npublic\ntarget: default")
    ans.commands, ans.output = ["# firewall-cmd --list-all"], ["public", "target: default"]
    assert '<pre class="kb-code"><code># firewall-cmd --list-all\npublic\ntarget: default</code></pre>' in answer_html(ans)


def test_list_items_show_as_a_list_under_their_lead_in():
    html = answer_html(cited("Features: [1]\n- one <b>\n  - one's part\n- two\n3. three"))
    assert ('<p>Features: <a class="kb-ref" href="#kb-0-1">[1]</a></p><ul class="kb-list"><li>one &lt;b&gt;</li>'
            '<li class="kb-sub">one&#x27;s part</li><li>two</li></ul><ol class="kb-list"><li value="3">three</li></ol>'
            ) in html


def test_table_rows_show_under_their_column_names_with_the_marker_below():
    html = answer_html(cited("Name | Size[1]\nzram | 4 GB\n<x> |"))
    assert ('<table class="kb-table"><caption><a class="kb-ref" href="#kb-0-1">[1]</a></caption>'
            "<thead><tr><th>Name</th><th>Size</th></tr></thead><tbody><tr><td>zram</td><td>4 GB</td></tr>"
            "<tr><td>&lt;x&gt;</td><td></td></tr></tbody></table>") in html
    markdown = answer_html(cited("| a | b |\n|---|:---:|\n| 1 | 2 |"))
    assert "<thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td>2</td></tr></tbody>" in markdown


def test_a_table_source_marks_the_rows_the_answer_used():
    passage = "Sizes:\nName | Size\nzram | 4 GB\nswap | 8 GB\ntmp | 1 GB"
    html = answer_html(cited(text=passage, quote=passage[7:], quote_start=7, quote_end=len(passage), kind="table",
                             lead=len("Sizes:\nName | Size"), rows=[0, 2]))
    assert "Name | Size\n<mark>zram | 4 GB</mark>\nswap | 8 GB\n<mark>tmp | 1 GB</mark>" in html

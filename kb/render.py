"""Answers as chat HTML: every piece of text escaped, [n] markers linked to numbered source cards, and the
answer's structure kept: list items as a list, table rows under their column names, commands (Answer.commands)
with what they printed (Answer.output) as a code block.

The chat shows this HTML as is, so nothing from a question or a document may reach it unescaped.
"""
from __future__ import annotations

import re
from email.utils import parsedate_to_datetime
from html import escape
from itertools import groupby

from .messages import message
from .text import WEB_ADDRESS
from .types import Answer, Citation, row_spans

_MARKER = re.compile(r"\[(\d+)\]")
# A list item's line: "- x", "* x", "1. x", "2) x", "3、x" (kb/markdown.py writes "-" and "1."; a model may write any)
_ITEM = re.compile(r"(\s*)(?:[-*+•]\s+|(\d{1,2})(?:[.)]\s+|、\s*))(?=\S)")
_RULE = re.compile(r"\s*:?-{3,}:?\s*")        # a Markdown table's |---|---| line
# A cell longer than this wraps in a column at least 10em wide; a shorter one (a name, a version) never wraps.
LONG_CELL = 16
_LONG = ' class="kb-long"'
_MARKS = re.compile(r"(?:\s*\[\d+\])+$")       # the [n] markers a line ends with
# A web address in a passage: ASCII only, so one written straight into Chinese text ends where the Chinese begins.
_URL_TAIL = ".,;:!?'\")]"       # sentence punctuation after an address is not part of it
# Links go to other sites: no access to this page, no referrer, no endorsement for search engines.
_REL = 'target="_blank" rel="noopener noreferrer nofollow"'


def answer_html(answer: Answer, turn: int = 0) -> str:
    """One chat bubble: the answer (or refusal) and its source cards.

    Args:
        answer: what kb.ask returned.
        turn: position of the answer in the conversation; keeps the cards' anchor ids unique on the page.
    Returns:
        One line of HTML (no blank lines, so a Markdown renderer would pass it through untouched).
    """
    lang = answer.language
    # A question read with a slip mended says how it was read, first, as a search engine's "showing results for"
    read_as = (f'<p class="kb-note kb-read-as">{escape(message("read_as", lang, question=answer.read_as))}</p>'
               if answer.read_as else "")
    if answer.refused:
        return (f'<div class="kb-answer kb-refused" lang="{lang}">{read_as}'
                f'<p class="kb-text"><span class="kb-refused-icon" aria-hidden="true">?</span>{escape(answer.text)}</p>'
                f'{_related(answer, turn, "related")}</div>')
    cards = "".join(_card(c, turn, lang) for c in answer.citations)
    sources = (f'<div class="kb-sources"><div class="kb-sources-title">{escape(message("ui_sources", lang))}</div>'
               f"{cards}</div>") if cards else ""
    # The model's text was on screen while it streamed; say why the quoted answer replaced it.
    note = (f'<p class="kb-note">{escape(message("ui_fallback", lang))}</p>'
            if answer.signals.get("fallback") else "")
    return (f'<div class="kb-answer" lang="{lang}">{read_as}<div class="kb-text">{_blocks(answer, turn)}</div>{note}{sources}'
            f'{_related(answer, turn, "see_also")}</div>')


def _related(answer: Answer, turn: int, title: str) -> str:
    """Unnumbered cards: a refusal's passages that may be related, or an answer's further reading."""
    cards = "".join(_card(c, turn, answer.language, numbered=False) for c in answer.related)
    further = " kb-further" if title == "see_also" else ""       # compact: the passage's first lines only
    return (f'<div class="kb-sources kb-related{further}"><div class="kb-sources-title">{escape(message(title, answer.language))}'
            f"</div>{cards}</div>") if cards else ""


def _blocks(answer: Answer, turn: int) -> str:
    """The answer's lines as blocks: runs of list items as a list, of "a | b" lines as a table under the first
    line's column names, of commands as one code block; other lines as a paragraph."""
    known = {c.n for c in answer.citations}

    def inline(s: str) -> str:
        return _MARKER.sub(lambda m: _ref(int(m.group(1)), turn) if int(m.group(1)) in known else m.group(0), escape(s))

    def kind(line: str) -> str:
        if line in answer.commands or line in answer.output:
            return "code"
        if m := _ITEM.match(line):
            return "ol" if m.group(2) else "ul"
        return "row" if len(_cells(line)) > 1 else "text"

    lines = [line for line in answer.text.split("\n") if line.strip()]
    out = []
    for what, group in groupby(lines, kind):
        run = list(group)
        if what == "code":
            code = "\n".join(run)
            out.append(f'<pre class="kb-code"><code>{escape(code)}</code></pre>')
        elif what in ("ul", "ol"):
            items = "".join(f"<li{_li_attrs(m)}>{inline(line[m.end():])}</li>" for line in run if (m := _ITEM.match(line)))
            out.append(f'<{what} class="kb-list">{items}</{what}>')
        elif what == "row" and len(table := [c for c in map(_cells, run) if not all(_RULE.fullmatch(x) for x in c)]) > 1:
            # A table without a lead-in carries its [n] after the column names: say it under the table instead.
            mark = _MARKS.search(table[0][-1])
            table[0][-1] = table[0][-1][:mark.start()] if mark else table[0][-1]
            caption = f"<caption>{inline(mark.group(0).strip())}</caption>" if mark else ""
            width = max(map(len, table))
            head, *rows = ["".join(f"<{tag}{_LONG * (len(c) > LONG_CELL)}>{inline(c)}</{tag}>"
                                   for c in row + [""] * (width - len(row)))
                           for tag, row in zip(["th"] + ["td"] * len(table), table)]
            out.append(f'<div class="kb-table-wrap"><table class="kb-table">{caption}<thead><tr>{head}</tr></thead>'
                       f'<tbody>{"".join(f"<tr>{r}</tr>" for r in rows)}</tbody></table></div>')
        else:
            out.append(f'<p>{"<br>".join(inline(line) for line in run)}</p>')
    return "".join(out)


def _li_attrs(item: re.Match) -> str:
    """A sub-item is indented; a numbered item keeps its number."""
    indent, n = item.group(1), item.group(2)
    return (' class="kb-sub"' if indent else "") + (f' value="{int(n)}"' if n else "")


def _cells(line: str) -> list[str]:
    """A table line's cells: "a | b | c" as kb writes rows, or "| a | b |" as Markdown does."""
    cells = [c.strip() for c in line.strip().split("|")]
    if line.strip().startswith("|") and len(cells) > 2:
        cells = cells[1:-1] if line.strip().endswith("|") else cells[1:]
    return cells


def question_html(question: str) -> str:
    """The asker's own words, shown as text."""
    return f'<div class="kb-question">{escape(question)}</div>'


def draft_html(text: str, lang: str) -> str:
    """The answer bubble while the model writes: its text so far, unchecked, so plain and escaped."""
    return (f'<div class="kb-draft" lang="{lang}" aria-busy="true"><p class="kb-text">{escape(text.strip())}'
            f'<span class="kb-caret" aria-hidden="true"></span></p></div>')


def thinking_html(lang: str) -> str:
    """The placeholder bubble while kb looks for an answer."""
    return (f'<div class="kb-thinking" role="status"><span class="kb-dot"></span><span class="kb-dot"></span>'
            f'<span class="kb-dot"></span><span class="kb-thinking-text">{escape(message("ui_thinking", lang))}</span></div>')


def _ref(n: int, turn: int) -> str:
    return f'<a class="kb-ref" href="#kb-{turn}-{n}">[{n}]</a>'


def _card(c: Citation, turn: int, lang: str, numbered: bool = True) -> str:
    """A source card: number, title, date, the passage with the quoted sentence marked, the aligned original."""
    title = escape(c.document or c.doc_id)
    if c.url and is_web_address(c.url):
        title = f'<a class="kb-source" href="{escape(c.url)}" {_REL}>{title}</a>'
    meta = " · ".join(escape(x) for x in (_day(c.date), " › ".join(c.heading)) if x)
    badge = f'<span class="kb-n">{c.n}</span>' if numbered else '<span class="kb-n kb-n-related">·</span>'
    original = ""
    if c.original:
        original = (f'<div class="kb-original" lang="zh"><span class="kb-original-label">'
                    f'{escape(message("ui_original", lang))}</span>{linked(c.original)}</div>')
    ident = f' id="kb-{turn}-{c.n}"' if numbered else ""
    meta = f'<span class="kb-meta">{meta}</span>' if meta else ""
    return (f'<div class="kb-card"{ident}>'
            f'<div class="kb-card-head">{badge}<span class="kb-doc">{title}</span>{meta}</div>'
            f'<p class="kb-passage">{_highlight(c)}</p>{original}</div>')


def _highlight(c: Citation) -> str:
    """The passage with what the answer used in <mark>: a table's rows, else the quote located by its offsets."""
    rows = row_spans(c.text, c.lead) if c.kind == "table" else []
    spans = sorted(rows[n] for n in set(c.rows) if 0 <= n < len(rows))
    if not spans:
        s, e = c.quote_start, c.quote_end
        if not c.quote or not (0 <= s < e <= len(c.text)) or c.text[s:e] != c.quote:
            return linked(c.text)
        spans = [(s, e)]
    out, end = [], 0
    for s, e in spans:
        out += [linked(c.text[end:s]), f"<mark>{linked(c.text[s:e])}</mark>"]
        end = e
    return "".join(out) + linked(c.text[end:])


def is_web_address(url: str) -> bool:
    """An http(s) address with nothing in it that could break out of an attribute or run as script."""
    return bool(WEB_ADDRESS.fullmatch(url))


def linked(text: str) -> str:
    """Text escaped, with its http(s) addresses as links; anything else that looks like a link stays text."""
    out, end = [], 0
    for m in WEB_ADDRESS.finditer(text):
        url = m.group(0)
        while url[-1] in _URL_TAIL and not (url[-1] == ")" and url.count("(") >= url.count(")")):
            url = url[:-1]
        if len(url) <= len("https://"):
            continue
        out += [escape(text[end:m.start()]), f'<a class="kb-link" href="{escape(url)}" {_REL}>{escape(url)}</a>']
        end = m.start() + len(url)
    return "".join(out) + escape(text[end:])


def _day(date: str | None) -> str:
    """'Thu, 27 Jan 2022 18:00:00 GMT' -> '2022-01-27'; anything unparseable is shown as written."""
    if not date:
        return ""
    try:
        return parsedate_to_datetime(date).date().isoformat()
    except (TypeError, ValueError):
        return date

"""Markdown as people really write it, read as they meant it (used by kb/markdown.py).

    code fences   a fence in a list item whose code lines are indented less than the item (so the item, and
                  with it the fence, ends early, and the fences after it swap code and text) is read up to its own
                  closing marker; a fence never closed ends where the page plainly resumes: a heading or a
                  sentence of prose after a blank line. A fence closed by its own marker is never touched.
    table rules   a table's delimiter row of single dashes ("- | - | -"), which mkdocs reads as a table and
                  markdown-it as a list item that swallows the rows, is written out as "--- | --- | ---".
    HTML blocks   an HTML <table> becomes a header and rows (rowspan and colspan filled in, <br> in a cell
                  kept as "; "); the visible text of any other HTML block is kept as a paragraph.

Each repair is reported through `warn`, naming the line.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser

from .text import HAN_RE

MAX_MENDS = 50           # fences mended on one page (each costs a parse of the page)
MAX_SPAN = 100           # colspan / rowspan read from untrusted HTML

_MARKER = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*$")          # a bare fence marker: it may close a fence
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+\S")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
_SENTENCE_END = re.compile(r"[.。!?！？:：]$")
_CODE_CHARS = re.compile(r"[=${};|\\<>]|^\S+\(|\s--?\w")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


_SHORT_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-{1,2}:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)+\|?[ \t]*$")


def mend_table_rules(lines: list[str]) -> None:
    """Widen the dashes of a delimiter row under a table's header line (outside code fences), in place."""
    fence = None
    for k, line in enumerate(lines):
        if (m := _MARKER.match(line)) or (fence is None and line.lstrip().startswith(("```", "~~~"))):
            marker = (m.group(1) if m else line.lstrip()[:3])[0] * 3
            fence = None if fence and marker == fence else (fence or marker)
        elif fence is None and k and "|" in lines[k - 1] and _SHORT_RULE.match(line):
            lines[k] = re.sub(r"-+", "---", line)


def mend_fences(md, lines: list[str], warn) -> list:
    """markdown-it's tokens for `lines`, after mending the code fences that were never closed.

    `lines` is changed in place (never its length): under-indented code lines are indented, and a blank
    line becomes the closing marker a fence lacks.
    """
    tokens = md.parse("\n".join(lines))
    mended: set[int] = set()
    for _ in range(MAX_MENDS):
        fences = [t for t in tokens if t.type == "fence"]
        cut = next(((t, close) for t in fences if t.map[0] not in mended and (close := _cut_short(t, lines)) is not None), None)
        open_ = fences[-1] if fences and _runs_off(fences[-1], lines) else None     # only the last can run off
        if cut is not None:
            fence, close = cut
            start, indent = fence.map[0], _indent(lines[fence.map[0]])
            mended.add(start)
            for k in range(start + 1, close + 1):
                if lines[k].strip() and _indent(lines[k]) < indent:
                    lines[k] = " " * indent + lines[k].expandtabs(4).lstrip(" ")
        elif open_ is not None:
            start = open_.map[0]
            end = next((k for k in range(start + 2, len(lines)) if not lines[k - 1].strip() and _resumes(lines, k)), None)
            if end is None:
                warn(f"code block opened at line {start + 1} is never closed: the rest of the page is read as code")
                break
            lines[end - 1] = " " * _indent(lines[start]) + open_.markup
            warn(f"code block opened at line {start + 1} is never closed: read as code up to line {end - 1}, "
                 f"where the page's text resumes")
        else:
            break
        tokens = md.parse("\n".join(lines))
    if mended:
        at = sorted(k + 1 for k in mended)
        warn(f"{len(at)} code block(s) with lines indented less than their opening marker (opened at line "
             + ", ".join(map(str, at[:8])) + (" …" if len(at) > 8 else "") + "): each read as code up to its closing marker")
    return tokens


def _indent(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip(" "))


def _runs_off(fence, lines: list[str]) -> bool:
    """A fence that runs to the end of the page without its closing marker."""
    end = fence.map[1]
    if any(line.strip() for line in lines[end:]):
        return False
    return not _closes(fence, lines[end - 1]) if end - fence.map[0] >= 2 else True


def _closes(fence, line: str) -> bool:
    m = _MARKER.match(line.lstrip(" \t>"))
    return m is not None and m.group(1)[0] == fence.markup[0] and len(m.group(1)) >= len(fence.markup)


def _cut_short(fence, lines: list[str]) -> int | None:
    """The line of this fence's own closing marker, when its list item (and so the fence) ended before it
    because a code line was indented less than the item; None for a fence that ended at its marker."""
    start, end = fence.map
    if end - start >= 2 and _closes(fence, lines[end - 1]):
        return None
    if end >= len(lines) or not lines[end].strip() or _LIST_ITEM.match(lines[end]) or "|" in lines[start] \
            or lines[start].lstrip(" \t").startswith(">"):
        return None      # ended by the page, or by the next item of its list: CommonMark's reading is meant
    close = next((k for k in range(end, len(lines)) if _MARKER.match(lines[k])), None)
    if close is None or not _closes(fence, lines[close]) or any(_resumes(lines, k) for k in range(end, close)):
        return None      # the marker is another fence's, after text: the closing marker was left out
    return close


def _resumes(lines: list[str], k: int) -> bool:
    """Does the page's text plainly resume at line k: a sentence of prose, or a heading after a blank line?"""
    return _reads_as_prose(lines[k]) or (k > 0 and not lines[k - 1].strip() and bool(_HEADING.match(lines[k])))


def _reads_as_prose(line: str) -> bool:
    """A sentence, not a line of code or output: words, a full stop, none of the characters commands use."""
    s = line.strip()
    return bool(s) and s[0].isalpha() and bool(_SENTENCE_END.search(s)) and not _CODE_CHARS.search(s) and \
        (len(_LATIN_WORD.findall(s)) >= 6 or len(HAN_RE.findall(s)) >= 10)


# ------------------------------------------------------------------ HTML blocks
class HtmlBlock(HTMLParser):
    """An HTML block's tables and text, in order: `parts` holds ("text", str) and ("table", header, rows)."""

    _SKIP = {"script", "style", "template", "noscript"}
    _BREAKS = {"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "section", "blockquote", "pre", "dd", "dt",
               "caption", "figcaption"}

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.parts: list[tuple] = []
        self.problems: list[str] = []
        self._text: list[str] = []
        self._skip = 0
        self._depth = 0                 # tables inside tables are read as the text of their cell
        self._table: dict | None = None
        self._cell: list[str] | None = None
        self.feed(html)
        self.close()
        if self._table is not None:
            self.problems.append("its </table> is missing: read to the end of its block")
            self._end_table()
        self._flush()

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "table":
            self._depth += 1
            if self._depth == 1:
                self._flush()
                self._table = {"head": [], "rows": [], "row": None, "spans": {}, "in_head": False}
        elif self._table is None or self._depth > 1:
            if tag == "br" or tag in self._BREAKS:
                self._text.append("\n")
            elif tag == "img":
                self._text.append(dict(attrs).get("alt") or "")
        elif tag == "thead":
            self._table["in_head"] = True
        elif tag in ("tbody", "tfoot"):
            self._table["in_head"] = False
        elif tag == "tr":
            self._end_row()
            self._table["row"] = []
        elif tag in ("td", "th"):
            self._end_cell()
            if self._table["row"] is None:
                self._table["row"] = []
            a = dict(attrs)
            self._table["row"].append([tag, _span(a.get("colspan")), _span(a.get("rowspan")), ""])
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")
        elif tag == "img" and self._cell is not None:
            self._cell.append(dict(attrs).get("alt") or "")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in self._SKIP:
            self._skip -= 1

    def handle_endtag(self, tag):
        if tag in self._SKIP:
            self._skip = max(self._skip - 1, 0)
        elif tag == "table" and self._depth:
            self._depth -= 1
            if self._depth == 0:
                self._end_table()
        elif self._table is not None and self._depth == 1:
            if tag in ("td", "th"):
                self._end_cell()
            elif tag == "tr":
                self._end_row()
            elif tag == "thead":
                self._end_row()
                self._table["in_head"] = False
        elif tag in self._BREAKS:
            self._text.append("\n")

    def handle_data(self, data):
        if self._skip:
            return
        data = data.replace("\n", " ")      # line breaks in HTML source are spaces; <br> and blocks break lines
        if self._table is not None and self._depth == 1:       # text in a table but in no cell (a caption) follows it
            (self._cell if self._cell is not None else self._text).append(data)
        elif self._table is not None:            # a table inside a cell: its text joins the cell
            (self._cell if self._cell is not None else self._text).append(data)
        else:
            self._text.append(data)

    def _end_cell(self):
        if self._cell is not None and self._table and self._table["row"]:
            self._table["row"][-1][3] = "; ".join(" ".join(s.split()) for s in "".join(self._cell).split("\n") if s.strip())
        self._cell = None

    def _end_row(self):
        self._end_cell()
        t = self._table
        if t is None or t["row"] is None:
            return
        cells, row, col, spans = t["row"], [], 0, t["spans"]
        header_row = t["in_head"] or (not t["head"] and not t["rows"] and bool(cells) and all(c[0] == "th" for c in cells))
        while cells or any(c >= col for c in spans):
            if col in spans:                     # a cell from a row above reaches down into this one
                left, text = spans.pop(col)
                if left > 1:
                    spans[col] = (left - 1, text)
                row.append(text)
                col += 1
                continue
            if not cells:
                row.append("")
                col += 1
                continue
            tag, colspan, rowspan, text = cells.pop(0)
            for k in range(colspan):
                row.append(text if k == 0 else "")
                if rowspan > 1:
                    spans[col + k] = (rowspan - 1, text if k == 0 else "")
            col += colspan
        (t["head"] if header_row else t["rows"]).append(row)
        t["row"] = None

    def _end_table(self):
        self._end_row()
        t, self._table, self._depth = self._table, None, 0
        head, rows = (t["head"], t["rows"]) if t["head"] else (t["rows"][:1], t["rows"][1:])
        header = head[0] if head else []
        rows = head[1:] + rows
        if rows and any(len(r) > len(header) for r in rows) and header:
            self.problems.append(f"{sum(len(r) > len(header) for r in rows)} row(s) have more cells than its header: "
                                 "the extra cells are kept")
        if header or rows:
            self.parts.append(("table", header, [r + [""] * (len(header) - len(r)) for r in rows]))

    def _flush(self):
        text = "".join(self._text)
        self._text = []
        self.parts.extend(("text", p) for p in (" ".join(s.split()) for s in text.split("\n")) if p)


def _span(value) -> int:
    try:
        return min(max(int(str(value).strip()), 1), MAX_SPAN)
    except (TypeError, ValueError):
        return 1

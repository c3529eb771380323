"""Markdown -> passages that follow the document's structure, and where each page lives on its mkdocs site.

A page becomes blocks of one kind each, under the heading path they belong to (headings are never
passages of their own):

    prose   a paragraph (a short label or a line ending in a colon leads the block after it)
    list    a list with the sentence that leads into it, one item a line
    table   rows under their column names, one row a line; long tables in groups, the header kept once per group
    faq     a question (Q:/问：, or a heading ending in "?") with its answer; also a term and what it is (a list of one
            bare name, "- disk_full_action", and the paragraph after it)
    step    an instruction with the code or commands that carry it out

Each block's `lead` is the length of its opening part (lead-in, question, column names, instruction):
text[:lead] is that part, text[lead + 1:] the items, answer, rows or commands.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from .documents import _link_text as link_text, real_url
from .mending import HtmlBlock, mend_fences, mend_table_rules
from .site import slugify, unique
from .text import HAN_RE

GROUP_CHARS = 400      # table rows and list items are grouped up to about this many characters
SHORT = 40             # a paragraph this short without a full stop is a label for the block after it
EN_PER_ZH = 2.5        # ... counted in Chinese characters: text without any takes about 2.5 letters for one

_CONTAINER = re.compile(r'^(?P<indent>[ \t]*)(?:!!!|\?\?\?\+?|===)[ \t]*(?P<type>[\w-]*)[ \t]*(?:"(?P<title>[^"]*)")?[ \t]*$')
_QUESTION = re.compile(r"^\s*(?:Q\d*|问题?\d*)\s*[:：]")
_ANSWER = re.compile(r"(?m)^\s*(?:A\d*|答)\s*[:：]")
_FULL_STOP = re.compile(r"[。！？!?.；;）)」]$")
_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_TERM = re.compile(_ITEM.pattern + r"[A-Za-z0-9_.:/=-]+(?: [A-Za-z0-9_.:/=-]+){0,2}\s*$")   # "- disk_full_action"
_BR = re.compile(r"^<br\s*/?>$", re.I)
# The tags of HTML's text formatting ('<font color="red">强制终止</font>') are presentation, not text; anything
# else in angle brackets stays, as writers use it for placeholders ("<package>", "<模块名>").
_FORMATTING = re.compile(r"^</?(?:font|span|center|b|i|u|s|em|strong|small|big|mark|sup|sub|strike|del|ins|kbd|tt|abbr)"
                         r"(?:\s[^<>]*)?/?>$", re.I)
_IMG_ALT = re.compile(r"""<img\b[^>]*\balt\s*=\s*["']([^"']*)["']""", re.I)
_GENERIC_ALT = {"", "image", "img", "picture", "pic", "screenshot", "图片", "截图", "图"}
# mkdocs' attr_list: '[北京大学](…){:target="_blank"}', '![图](a.png){: width="60%"}', "## 安装 {#install}" set
# attributes (a heading's its anchor), and are no text
_ATTR = r"""(?:[#.][\w-]+|[\w-]+=(?:"[^"]*"|'[^']*'|[^\s}"']+))"""
_ATTR_LIST = re.compile(rf"(?<![ \t])[ \t]*\{{:?[ \t]*{_ATTR}(?:[ \t]+{_ATTR})*[ \t]*\}}")   # (linear in a run of blanks)
_HEADING_ATTRS = re.compile(_ATTR_LIST.pattern + r"\s*$")       # a heading's attributes end it
_BLANK_LINES = re.compile(r"\n\s*\n")
_WS = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")


@dataclass
class Block:
    """One passage-to-be of a page: its text, kind, heading path and the anchor of its section."""

    text: str
    heading: tuple[str, ...]
    kind: str = "prose"
    lead: int = 0
    anchor: str = ""


@dataclass
class _Part:
    """A block being assembled: an opening part and body lines."""

    kind: str
    heading: tuple[str, ...]
    anchor: str
    lead: str = ""
    body: list[str] = field(default_factory=list)
    header: str = ""          # a table's column names

    def blocks(self, separate: bool = False) -> list[Block]:
        lead = "\n".join(s for s in (self.lead, self.header) if s)
        if separate:        # one block per paragraph, item, row or code block (see markdown_blocks)
            return [Block(t, self.heading, "prose", 0, self.anchor) for t in [lead] * bool(lead) + self.body]
        if self.kind not in ("table", "list") or len(lead) + sum(len(b) + 1 for b in self.body) <= GROUP_CHARS:
            return [_block(lead, self.body, self)]
        groups, size, budget = [[]], 0, max(GROUP_CHARS - len(lead), GROUP_CHARS // 2)
        for line in self.body:      # consecutive rows (items) grouped; the lead-in and header kept once per group
            if groups[-1] and size + len(line) > budget:
                groups.append([])
                size = 0
            groups[-1].append(line)
            size += len(line) + 1
        return [_block(lead, g, self) for g in groups]


def _size(text: str) -> float:
    """The length of `text` in Chinese characters: "Bond has 7 modes, as shown in the table below" is as short as
    "Bond 有 7 种模式，如下表所示", and as much a label for the table after it."""
    return len(text) if HAN_RE.search(text) else len(text) / EN_PER_ZH


def _block(lead: str, body: list[str], part: _Part) -> Block:
    text = "\n".join([lead] * bool(lead) + body)
    return Block(text, part.heading, part.kind if body or part.kind == "table" else "prose",
                 len(lead) if body else 0, part.anchor)


def markdown_blocks(body: str, warn=lambda message: None, separate: bool = False):
    """Parse a Markdown page. Returns (blocks, title); problems found are passed to `warn` (one line each).

    With `separate`, every paragraph, list item, table row and code block is a block of its own, as the
    HTML reader makes them: a translation of an HTML page is aligned with it paragraph by paragraph.
    """
    from markdown_it import MarkdownIt
    md = MarkdownIt("commonmark").enable("table")
    lines = _unfold_containers(body.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
    mend_table_rules(lines)                     # "- | - | -" under a header: a table, as mkdocs reads it
    tokens = mend_fences(md, lines, warn)       # code fences left open or indented less than their list item
    return _Builder(md, lines, warn).run(tokens, separate)


def _unfold_containers(text: str) -> str:
    """mkdocs admonitions (!!! note "title"), collapsible blocks (???) and tabs (=== "title"): their indented
    body is dedented and their title becomes a label line, so the body is read as Markdown, not as code."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        m = _CONTAINER.match(lines[i])
        if not m or not (m.group("title") or m.group("type")):
            out.append(lines[i])
            i += 1
            continue
        indent = len(m.group("indent").expandtabs(4))
        title = m.group("title") if m.group("title") is not None else m.group("type").capitalize()
        out += ["", " " * indent + f"**{title}**" if title.strip() else "", ""]
        i += 1
        while i < len(lines) and (not lines[i].strip() or len(lines[i].expandtabs(4)) - len(lines[i].expandtabs(4).lstrip()) >= indent + 4):
            line = lines[i].expandtabs(4)
            out.append(" " * indent + line[indent + 4:] if line.strip() else "")
            i += 1
    return "\n".join(out)


class _Builder:
    """Walks markdown-it's tokens once, turning them into blocks as described in the module docstring."""

    def __init__(self, md, lines: list[str], warn):
        self.md, self.lines, self.warn = md, lines, warn
        self.parts: list[_Part] = []
        self.pending: list[str] = []      # labels waiting for the block they introduce
        self.faq: _Part | None = None
        self.headings: list[str] = []
        self.anchor, self.slugs, self.empty = "", set(), []  # type: tuple[str, set[str], list[str]]
        self.title: str | None = None
        self.section_start, self.level = 0, 0   # len(self.parts) when the current section began; its heading level
        self.remark: _Part | None = None        # the step whose last line is a remark that may introduce a command

    # ------------------------------------------------------------ tokens -> parts
    def run(self, tokens, separate: bool = False):
        stack, lists = [], []     # open lists and items, innermost last; the items of the top-level list being read
        i = 0
        while i < len(tokens):
            t = tokens[i]
            if t.type == "heading_open":
                self._heading(int(t.tag[1]), tokens[i + 1], t.map)
                i += 3
                continue
            if t.type in ("bullet_list_open", "ordered_list_open"):
                stack.append({"ordered": t.type == "ordered_list_open", "n": int(t.attrs.get("start", 1) or 1)})
            elif t.type in ("bullet_list_close", "ordered_list_close"):
                stack.pop()
                if not stack:
                    self._list(lists)
                    lists = []
            elif t.type == "list_item_open":
                lst = stack[-1]
                marker = f"{lst['n']}." if lst["ordered"] else "-"
                lst["n"] += 1
                stack.append({"marker": marker, "text": [], "code": [], "children": []})
            elif t.type == "list_item_close":
                item = stack.pop()
                parent = _item(stack)
                (parent["children"] if parent else lists).append(item)
            elif t.type == "table_open":
                close = next(j for j in range(i, len(tokens)) if tokens[j].type == "table_close")
                header, rows = self._table(t.map)
                if (open_item := _item(stack)) is not None:
                    open_item["text"].append("; ".join(" | ".join(r) for r in [header] + rows))
                else:
                    self._table_part(header, rows)
                i = close + 1
                continue
            elif t.type == "inline" and tokens[i - 1].type == "paragraph_open":
                text = self._inline(t)
                if _looks_like_table(t.content):
                    self.warn(f"table at line {t.map[0] + 1} has no '| --- |' line under its header: read as a table")
                    rows = [_cells(ln) for ln in t.content.split("\n") if ln.strip()]
                    rows = [[self._inline_text(c) for c in r] for r in rows]
                    if (open_item := _item(stack)) is not None:
                        open_item["text"].append("; ".join(" | ".join(r) for r in rows))
                    else:
                        self._table_part(rows[0], rows[1:])
                elif (open_item := _item(stack)) is not None:
                    open_item["text"].append(_join_lines(text))
                else:
                    self._paragraph(text)
            elif t.type == "html_block":
                i = self._html(tokens, i, _item(stack))
                continue
            elif t.type in ("fence", "code_block"):
                code = _BLANK_LINES.sub("\n", t.content).strip("\n")
                if code.strip():
                    if (open_item := _item(stack)) is not None:
                        open_item["code"].append(code)
                    else:
                        self._code(code)
            i += 1
        self._end_section()
        if self.empty:
            self.warn(f"{len(self.empty)} empty section(s): " + ", ".join(f"'{h}'" for h in self.empty[:5])
                      + (" …" if len(self.empty) > 5 else ""))
        blocks = [b for p in self.parts for b in p.blocks(separate) if b.text.strip()]
        return blocks, self.title

    def _html(self, tokens, i: int, open_item: dict | None) -> int:
        """An HTML block: its tables become table parts, its other text paragraphs. Returns the next token.
        A table with blank lines in it is several blocks to markdown-it: it is read to its </table>."""
        start, end = tokens[i].map
        if "<table" in tokens[i].content.lower() and "</table>" not in tokens[i].content.lower():
            end = next((k + 1 for k in range(end, len(self.lines)) if "</table>" in self.lines[k].lower()), end)
        i, depth = i + 1, 0
        while i < len(tokens):          # skip what markdown-it made of the table's lines after a blank one
            t = tokens[i]
            if t.nesting == -1 and depth:
                depth -= 1
            elif t.nesting != -1 and t.map and t.map[0] < end:
                depth += t.nesting
            else:
                break
            i += 1
        block = HtmlBlock("\n".join(self.lines[start:end]))
        for problem in block.problems:
            self.warn(f"HTML table at line {start + 1}: {problem}")
        for kind, *rest in block.parts:
            if open_item is not None:
                open_item["text"].append(rest[0] if kind == "text" else "; ".join(" | ".join(r) for r in [rest[0]] + rest[1]))
            elif kind == "text":
                self._paragraph(rest[0])
            else:
                self._table_part(*rest)
        return i

    # ------------------------------------------------------------ structure
    def _heading(self, level: int, inline, where):
        text = self._inline_text(inline, hrefs=False)
        attrs = _HEADING_ATTRS.search(getattr(inline, "content", inline))      # "## 安装 {#install}"
        ident = re.search(r"(?<![\w-])#([\w-]+)", attrs.group(0)) if attrs else None
        self._end_section(level)
        self.level = level
        del self.headings[level - 1:]
        self.headings.extend([""] * (level - 1 - len(self.headings)))
        self.headings.append(text)
        self.title = self.title or text
        self.anchor = unique(ident[1] if ident else slugify(text), self.slugs)
        self.section_start = len(self.parts)
        if text.rstrip().endswith(("?", "？")):          # a question heading: its section is the answer
            self.faq = self._part("faq", lead=text)

    def _end_section(self, level: int = 1):
        self.remark = None
        if self.pending:
            prev = self._previous()
            if prev is not None and prev.kind != "table":
                prev.body.extend(self.pending)
            else:
                lines, self.pending = self.pending, []
                self._part("prose", body=["\n".join(lines)])
        self.pending = []
        if self.faq is not None and not self.faq.body:
            self.faq.kind = "prose"
        self.faq = None
        if self.headings and len(self.parts) == self.section_start and level <= self.level:
            self.empty.append(self.headings[-1])     # no text, and no subsection either

    def _previous(self) -> _Part | None:
        return self.parts[-1] if len(self.parts) > self.section_start else None

    def _part(self, kind: str, lead: str = "", body: list[str] | None = None, header: str = "") -> _Part:
        lead = "\n".join(self.pending + [lead] * bool(lead))
        self.pending = []
        part = _Part(kind, tuple(h for h in self.headings if h), self.anchor, lead, body or [], header)
        self.parts.append(part)
        return part

    def _paragraph(self, text: str):
        self.remark = None
        flat = _join_lines(text)
        if not flat:
            return
        if _QUESTION.match(flat):
            m = _ANSWER.search(text)
            q, a = (text[:m.start()], text[m.start():]) if m else (text, "")
            self.faq = self._part("faq", lead=_join_lines(q), body=[_join_lines(a)] if a.strip() else [])
            return
        if self.faq is not None:
            self.faq.body.append(flat)
            return
        prev = self._previous()
        if prev is not None and prev.kind == "list" and not prev.lead and len(prev.body) == 1 and _TERM.match(prev.body[0]) \
                and _FULL_STOP.search(flat):
            prev.kind, prev.lead, prev.body = "faq", _ITEM.sub("", prev.body[0]), [flat]   # a term, then what it is
            return
        if flat.endswith((":", "：")) or (_size(flat) <= SHORT and not _FULL_STOP.search(flat)):
            self.pending.append(flat)       # a label or lead-in: it belongs to what follows
        elif self.pending:
            self._part("prose", body=[flat])
        elif prev is not None and prev.kind == "step" and len(flat) <= 2 * SHORT:
            prev.body.append(flat)          # a short remark after a command stays with its step...
            self.remark = prev              # ...unless a command follows it: then it introduces that one
            return
        elif prev is not None and len(flat) <= SHORT and prev.kind in ("prose", "step", "list"):
            prev.body.append(flat)          # a short fragment joins its neighbour
        else:
            self._part("prose", body=[flat])

    def _code(self, code: str):
        if self.faq is not None:
            self.faq.body.append(code)
            return
        prev, remark, self.remark = self._previous(), self.remark, None
        if remark is not None and remark is prev:
            self._part("step", lead=prev.body.pop(), body=[code])
        elif self.pending:
            self._part("step", body=[code])
        elif prev is not None and prev.kind == "step":
            prev.body.append(code)
        elif prev is not None and (prev.kind in ("prose", "faq") or prev.kind == "list" and len(prev.body) == 1):
            # the paragraph before a command introduces it, and so does a list's one item ("- 查看内核日志")
            prev.kind, prev.lead, prev.body = "step", "\n".join([prev.lead] * bool(prev.lead) + prev.body), [code]
        else:
            self._part("step", body=[code])

    def _list(self, items: list[dict]):
        self.remark = None
        lines = ["\n".join(_item_lines(item)) for item in items]    # an item keeps its sub-items and code
        if self.faq is not None:
            self.faq.body.extend(lines)
            return
        if any(_has_code(item) for item in items):      # numbered steps with their commands
            for item in items:
                rest = [ln for c in item["children"] for ln in _item_lines(c)]
                self._part("step", lead=f"{item['marker']} {' '.join(item['text'])}".strip(), body=item["code"] + rest)
            return
        self._part("list", body=lines)

    def _table_part(self, header: list[str], rows: list[list[str]]):
        self.remark = None
        lines = [" | ".join(r).strip() for r in rows]
        if self.faq is not None:
            self.faq.body.extend([" | ".join(header)] + lines)
            return
        self._part("table", body=[ln for ln in lines if ln.strip(" |")], header=" | ".join(header))

    def _table(self, where) -> tuple[list[str], list[list[str]]]:
        """Header and rows from the table's source lines (markdown-it drops cells beyond the header's count)."""
        src = [ln.lstrip(" \t>") for ln in self.lines[where[0]:where[1]] if ln.strip(" \t>")]
        header = [self._inline_text(c) for c in _cells(src[0])]
        rows = [[self._inline_text(c) for c in _cells(ln)] for ln in src[2:]]
        wide = [n + 3 for n, r in enumerate(rows) if len(r) > len(header)]
        if wide:
            self.warn(f"table at line {where[0] + 1}: {len(wide)} row(s) have more cells than its header "
                      f"(first at line {where[0] + wide[0]}); the extra cells are kept")
        return header, [r + [""] * (len(header) - len(r)) for r in rows]

    # ------------------------------------------------------------ inline text
    def _inline_text(self, source, hrefs: bool = True) -> str:
        if isinstance(source, str):
            tokens = self.md.parseInline(source.strip())
            source = tokens[0] if tokens else None
            if source is None:
                return ""
            return _join_lines(self._inline(source, hrefs, cell=True))
        return _join_lines(self._inline(source, hrefs))

    def _inline(self, token, hrefs: bool = True, cell: bool = False) -> str:
        out, href, start, code = [], None, 0, set[int]()     # code: which pieces of `out` are code spans
        for c in token.children or []:
            if c.type in ("text", "code_inline"):
                if c.type == "code_inline":
                    code.add(len(out))
                out.append(c.content)
            elif c.type == "html_inline":
                alt = _IMG_ALT.search(c.content)
                out.append(("; " if cell else "\n") if _BR.match(c.content.strip()) else
                           (alt.group(1) if alt and alt.group(1).strip().lower() not in _GENERIC_ALT else
                            "" if alt or _FORMATTING.match(c.content.strip()) else c.content))
            elif c.type in ("softbreak", "hardbreak"):
                out.append("\n")
            elif c.type == "link_open":
                href, start = real_url(c.attrs.get("href", "")), len(out)
            elif c.type == "link_close" and href is not None:
                text = "".join(out[start:])
                out[start:] = [link_text(text, href) if hrefs else text]
                href, code = None, {i for i in code if i < start}
            elif c.type == "image" and c.content.strip().lower() not in _GENERIC_ALT:
                out.append(c.content)
        text = ""
        for in_code, run in itertools.groupby(enumerate(out), key=lambda piece: piece[0] in code):
            part = "".join(t for _, t in run)
            text += part if in_code else _ATTR_LIST.sub("", part)      # attributes are set outside code spans
        return text


def _join_lines(text: str) -> str:
    return _WS.sub(" ", " ".join(ln.strip() for ln in text.split("\n") if ln.strip())).strip()


def _item_lines(item: dict, depth: int = 0) -> list[str]:
    lines = [("  " * depth + f"{item['marker']} {' '.join(item['text'])}").rstrip()] + item["code"]
    return lines + [ln for c in item["children"] for ln in _item_lines(c, depth + 1)]


def _item(stack: list[dict]) -> dict | None:
    """The innermost open list item."""
    return next((s for s in reversed(stack) if "marker" in s), None)


def _has_code(item: dict) -> bool:
    return bool(item["code"]) or any(_has_code(c) for c in item["children"])


def _cells(line: str) -> list[str]:
    """The cells of a table source line: split on pipes that are not escaped or inside `code`."""
    line = line.strip()
    line = line[1:] if line.startswith("|") else line
    line = line[:-1] if line.endswith("|") and not line.endswith("\\|") else line
    cells, cur, code = [], [], False
    for i, ch in enumerate(line):
        if ch == "`":
            code = not code
        if ch == "|" and not code and (i == 0 or line[i - 1] != "\\"):
            cells.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    cells.append("".join(cur))
    return [c.strip().replace("\\|", "|") for c in cells]


def _looks_like_table(source: str) -> bool:
    """Two or more lines that all start with a pipe and hold another: a table whose delimiter row is missing."""
    rows = [ln.strip() for ln in source.split("\n") if ln.strip()]
    return len(rows) >= 2 and all(r.startswith("|") and r.count("|") >= 2 for r in rows)

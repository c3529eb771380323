"""Corpus files -> Documents: front matter, HTML / Markdown / plain text, charset detection.

Every loader ends in the same shape: a list of paragraphs (text + heading path) that becomes
a Document whose cleaned text is the paragraphs joined by blank lines.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from .alignment import align_translations
from .errors import BadDocument, CorpusError
from .scope import document_scope
from .text import detect_language
from .types import Document, Paragraph

log = logging.getLogger("kb")

SUFFIXES = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown", ".txt": "text"}
_FRONT_MATTER = re.compile(r"\A\s*---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_MKDOCS_LANG = re.compile(r"^(?P<stem>.+)\.(?P<lang>[a-z]{2})(?:[-_][A-Za-z]{2,4})?$")
_WS = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")


def corpus_files(folder: Path, follow_symlinks: bool = False) -> list[Path]:
    """Every usable file under the corpus folder, sorted (see `walk_corpus`)."""
    return walk_corpus(folder, follow_symlinks)[0]


def walk_corpus(folder: Path, follow_symlinks: bool = False) -> tuple[list[Path], list[str]]:
    """(files, problems): every file under the corpus folder, and one line for each entry left out.

    Hidden files and folders (like .kb) are left out silently. A file name that is not UTF-8 is named and
    left out. Symbolic links are not followed unless `follow_symlinks`, and then only when they lead to a
    place inside the corpus folder: a link to /etc/passwd never reaches the index.
    """
    if not folder.is_dir():
        raise CorpusError(f"corpus folder not found: {folder} (create it, or pass --corpus / set KB_CORPUS)")
    root = folder.resolve()
    files, problems, visited = [], [], {root}

    def visit(path: Path, rel: str) -> None:
        try:
            entries = sorted(os.scandir(path), key=lambda entry: entry.name)
        except OSError as e:
            problems.append(f"{rel or '.'}: folder not readable ({e.strerror})")
            return
        for entry in entries:
            name = rel + entry.name
            if entry.name.startswith("."):
                continue
            try:
                entry.name.encode("utf-8")
            except UnicodeEncodeError:
                shown = os.fsencode(name).decode("utf-8", "backslashreplace")
                problems.append(f"{shown}: the file name is not UTF-8 (rename it)")
                continue
            try:
                if entry.is_symlink():
                    if not follow_symlinks:
                        problems.append(f"{name}: a symbolic link, not followed (KB_FOLLOW_SYMLINKS=1 follows links "
                                        "that stay inside the corpus folder)")
                        continue
                    target = Path(entry.path).resolve()
                    if not target.is_relative_to(root):
                        problems.append(f"{name}: a symbolic link that leads out of the corpus folder, not followed")
                        continue
                if entry.is_dir():
                    real = Path(entry.path).resolve()
                    if real not in visited:      # a link back up the tree is visited once
                        visited.add(real)
                        visit(Path(entry.path), name + "/")
                elif entry.is_file():
                    files.append(Path(entry.path))
                elif entry.is_symlink():
                    problems.append(f"{name}: a symbolic link to nothing")
                else:
                    problems.append(f"{name}: not a regular file")
            except (OSError, RuntimeError) as err:     # unreadable, or a loop of links
                problems.append(f"{name}: cannot be read ({getattr(err, 'strerror', None) or err})")

    visit(folder, "")
    return files, problems


def load_corpus(folder: Path, max_file_mb: float = 20.0, strict: bool = False,
                parsed: dict | None = None, follow_symlinks: bool = False) -> tuple[list[Document], list[str]]:
    """Load every supported file; bad files are named in a warning and skipped (or raise with strict).

    Args:
        parsed: Documents of an earlier load, by path and content hash: a file whose bytes have not
            changed is not parsed again. Updated in place to this load's files.
        follow_symlinks: follow symbolic links that stay inside the corpus folder (never ones leading out).
    Returns:
        (documents, problems) where each problem is one line naming a skipped file and why.
    """
    docs, seen, fresh = [], {}, {}
    paths, problems = walk_corpus(folder, follow_symlinks)
    for path in paths:
        rel = path.relative_to(folder).as_posix()
        try:
            if path.suffix.lower() not in SUFFIXES:
                raise BadDocument(f"unsupported file type '{path.suffix}' (kb reads {', '.join(sorted(SUFFIXES))})")
            raw = read_bounded(path, max_file_mb)
            digest = hashlib.sha1(raw).hexdigest()
            if digest in seen:
                raise BadDocument(f"duplicate of {seen[digest]}")
            key = f"{rel}\0{digest}"
            doc = (parsed or {}).get(key) or parse_document(rel, raw, folder)
            seen[digest], fresh[key] = rel, doc
            docs.append(dataclasses.replace(doc))    # a copy: linking translations below changes it
        except BadDocument as e:
            problems.append(f"{rel}: {e}")
        except OSError as e:
            problems.append(f"{rel}: cannot be read ({e.strerror or e})")
    for p in problems:
        log.warning("skipped %s", p)
    if strict and problems:
        raise CorpusError(f"{len(problems)} corpus file(s) could not be used (--strict)", problems)
    _link_mkdocs_translations(docs)
    align_translations(docs)     # a translation's paragraphs take their originals' ids (kb/alignment.py)
    if parsed is not None:
        parsed.clear()
        parsed.update(fresh)
    return docs, problems


def read_bounded(path: Path, max_file_mb: float) -> bytes:
    """The file's bytes, its size checked before reading (and again while reading: it may be growing)."""
    limit = int(max_file_mb * 1e6)
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(limit + 1) if size <= limit else b""
    if size > limit or len(raw) > limit:
        raise BadDocument(f"{max(size, len(raw)) / 1e6:.1f} MB is over the {max_file_mb:g} MB limit (KB_MAX_FILE_MB)")
    return raw


def decode(raw: bytes, warn=lambda message: None) -> str:
    """UTF-8 first, then GB18030 (a superset of GBK/GB2312), then charset detection; binary is refused.
    A file that is not UTF-8 is read all the same, and `warn` is told which encoding was assumed."""
    if not raw.strip():
        raise BadDocument("empty file")
    head = raw[:8192]
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BadDocument("binary file, not text")
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        if enc != "utf-8-sig":
            warn(f"not UTF-8: read as {enc.upper()} (save it as UTF-8 if its text looks wrong)")
        return text
    from charset_normalizer import from_bytes
    best = from_bytes(raw).best()
    if best is None:
        raise BadDocument("not decodable as text (tried UTF-8, GB18030 and charset detection)")
    warn(f"not UTF-8: read as {best.encoding} (save it as UTF-8 if its text looks wrong)")
    return str(best)


FRONT_MATTER_FIELDS = ("title", "date", "author", "url", "lang", "translation_of", "version")
MAX_FRONT_MATTER = 16_384          # characters: front matter is a few lines of metadata
MAX_FIELD = 1000                   # characters of one field's value


def split_front_matter(text: str) -> tuple[dict, str]:
    """(metadata, body): the fields kb uses from YAML front matter, each a short single value.

    Front matter is untrusted: aliases (&a / *a, the "billion laughs") and oversized blocks are refused,
    and a value YAML cannot make (an invalid date like 2022-02-30) makes the file a bad file.
    """
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, text
    import yaml
    block = m.group(1)
    if len(block) > MAX_FRONT_MATTER:
        raise BadDocument(f"front matter is over {MAX_FRONT_MATTER} characters (it is for a few fields: "
                          f"{', '.join(FRONT_MATTER_FIELDS)})")
    try:
        if any(isinstance(ev, yaml.AliasEvent) for ev in yaml.parse(block, Loader=yaml.SafeLoader)):
            raise BadDocument("front matter uses YAML aliases (*name), which kb does not accept")
        meta = yaml.safe_load(block) or {}
    except yaml.YAMLError as e:
        raise BadDocument(f"malformed YAML front matter: {str(e).splitlines()[0]}") from None
    except (ValueError, TypeError, OverflowError, RecursionError) as e:    # e.g. date 2022-02-30
        raise BadDocument(f"bad value in front matter: {str(e)[:200]}") from None
    if not isinstance(meta, dict):
        raise BadDocument("malformed front matter: expected 'key: value' lines")
    out = {}
    for key in FRONT_MATTER_FIELDS:
        value = meta.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, (str, int, float, dt.date)) or isinstance(value, bool):
            raise BadDocument(f"front matter field '{key}' must be a single value, not {type(value).__name__}")
        if len(str(value)) > MAX_FIELD:
            raise BadDocument(f"front matter field '{key}' is over {MAX_FIELD} characters")
        if key == "url" and not str(value).startswith(("http://", "https://")):
            raise BadDocument(f"front matter url must start with http:// or https:// (got '{str(value)[:80]}')")
        out[key] = value
    return out, text[m.end():]


def parse_document(rel: str, raw: bytes, folder: Path | None = None) -> Document:
    """Parse one file's bytes into a Document (the format is chosen by the file suffix)."""
    meta, body = split_front_matter(decode(raw, lambda problem: log.warning("%s: %s", rel, problem)))
    kind = SUFFIXES[Path(rel).suffix.lower()]
    if kind == "markdown":     # structure-aware: kinds, lead-ins, anchors (kb/markdown.py)
        from .markdown import markdown_blocks
        original = str(meta.get("translation_of") or "")    # a translation of an HTML page: one passage per
        separate = bool(original) and SUFFIXES.get(Path(original).suffix.lower()) != "markdown"   # paragraph, as there
        blocks, title = markdown_blocks(body, lambda problem: log.warning("%s: %s", rel, problem), separate)
    else:
        blocks, title = {"html": _html_blocks, "text": _text_blocks}[kind](body)
    paragraphs, parts, pos = [], [], 0
    for block in blocks:
        text, heading = (block.text, block.heading) if kind == "markdown" else (_WS.sub(" ", block[0]).strip(), block[1])
        if not text:
            continue
        if parts:
            pos += 2
        more = (block.kind, block.lead, block.anchor) if kind == "markdown" else ()
        paragraphs.append(Paragraph(f"p{len(paragraphs) + 1}", text, pos, pos + len(text), tuple(heading), *more))
        parts.append(text)
        pos += len(text)
    if not paragraphs:
        raise BadDocument("front matter only, no text" if meta and not body.strip() else "no text found")
    full = "\n\n".join(parts)
    stem = Path(rel).name.split(".")[0]
    lang = _lang_from_name(rel) or detect_language(full[:3000])
    date = meta.get("date")
    under = Counter(h for p in paragraphs for h in dict.fromkeys(p.heading[:2]))
    tops = [h for h, n in under.items() if 2 * n >= len(paragraphs)]     # what the headings over most of it say it is about
    return Document(
        id=rel, title=str(meta.get("title") or title or stem), text=full, paragraphs=paragraphs,
        lang=_norm_lang(str(meta.get("lang") or lang)),
        date=date.isoformat() if isinstance(date, (dt.date, dt.datetime)) else (str(date) if date else None),
        author=str(meta["author"]) if meta.get("author") else None,
        url=str(meta["url"]) if meta.get("url") else None,
        translation_of=_resolve(rel, meta.get("translation_of")),
        scope=document_scope(rel, str(meta.get("title") or title or ""), list(tops), meta.get("version")),
    )


def _norm_lang(lang: str) -> str:
    return "zh" if lang.lower().startswith(("zh", "cn")) else "en" if lang.lower().startswith("en") else lang.lower()


def _lang_from_name(rel: str) -> str | None:
    m = _MKDOCS_LANG.match(Path(rel).name.rsplit(".", 1)[0])
    return _norm_lang(m.group("lang")) if m and m.group("lang") in ("en", "zh") else None


def _resolve(rel: str, target) -> str | None:
    """translation_of is relative to the translating file's folder."""
    if not target:
        return None
    parent = Path(rel).parent
    return (parent / str(target)).as_posix() if str(parent) != "." else str(target)


def _link_mkdocs_translations(docs: list[Document]) -> None:
    """mkdocs i18n: name.en.md beside name.md is name.md's English translation."""
    ids = {d.id for d in docs}
    for d in docs:
        m = _MKDOCS_LANG.match(d.id.rsplit(".", 1)[0])
        if d.translation_of is None and m and m.group("lang") in ("en", "zh"):
            base = f"{m.group('stem')}.{d.id.rsplit('.', 1)[1]}"
            if base in ids and base != d.id:
                d.translation_of = base
            elif base != d.id:
                log.warning("%s: its original %s is not in the corpus: indexed on its own", d.id, base)


def real_url(href: str) -> str:
    """Unwrap redirect links (…/GoToLink?url=https%3A…) to the address they lead to."""
    q = parse_qs(urlparse(href).query)
    for key in ("url", "target", "u", "to", "link"):
        for v in q.get(key, []):
            if v.startswith(("http://", "https://")):
                return v
    return href


def _link_text(text: str, href: str | None) -> str:
    if not href or href.startswith(("#", "javascript:", "mailto:")) or href.strip() == text.strip():
        return text
    return f"{text} ({href})"


# --- HTML: every text node belongs to its nearest block ancestor; one block -> one paragraph.
_BLOCKS = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "tr", "dt", "dd",
           "figcaption", "caption", "div", "section", "article", "main", "body", "td", "th", "header", "footer"}
_SKIP = {"script", "style", "noscript", "template", "head", "title", "svg", "iframe", "button", "form"}


MAX_HTML_DEPTH = 256            # elements inside each other; real pages stay far below
MAX_PARSE_SECONDS = 10.0        # per HTML file, after BeautifulSoup has built its tree
_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^<>]*?(/?)>")
# Elements that never contain others, or that pages routinely leave unclosed: they do not add depth.
_FLAT = {"p", "li", "td", "th", "tr", "dt", "dd", "option", "br", "hr", "img", "input", "meta", "link", "wbr",
         "area", "base", "col", "embed", "source", "track", "param", "keygen"}


def _html_depth(body: str) -> int:
    """How deeply elements nest, from the tags alone (before building a tree, whose cost grows with depth)."""
    depth = deepest = 0
    for m in _TAG_RE.finditer(body):
        if m.group(2).lower() in _FLAT or m.group(3):
            continue
        depth = max(depth - 1, 0) if m.group(1) else depth + 1
        deepest = max(deepest, depth)
    return deepest


def _html_blocks(body: str):
    from bs4 import BeautifulSoup, Comment, NavigableString
    depth = _html_depth(body)
    if depth > MAX_HTML_DEPTH:
        raise BadDocument(f"HTML elements nested {depth} deep (kb reads up to {MAX_HTML_DEPTH})")
    deadline = time.monotonic() + MAX_PARSE_SECONDS
    soup = BeautifulSoup(body, "html.parser")
    title = soup.title.get_text(strip=True) if soup.title else None
    blocks, headings = [], []
    current, current_text = None, []

    def flush():
        if current_text:
            blocks.append(("".join(current_text), list(headings)))
            current_text.clear()

    for a in soup.find_all("a"):
        href = a.get("href")
        if href:
            href = real_url(str(href))
            text = a.get_text(" ", strip=True)
            a.replace_with(_link_text(text, href) if text else "")
    # Depth first in document order, each node with its nearest block ancestor (a stack, not node.parents:
    # asking every text node for its ancestors costs depth x nodes).
    stack: list[tuple[Any, Any]] = [(soup, None)]
    steps = 0
    while stack:
        node, block = stack.pop()
        steps += 1
        if steps % 1000 == 0 and time.monotonic() > deadline:
            raise BadDocument(f"HTML took over {MAX_PARSE_SECONDS:g} s to read")
        if isinstance(node, NavigableString):
            if isinstance(node, Comment):
                continue
            if block is not current:
                flush()
                current = block
                if block is not None and block.name in ("h1", "h2", "h3", "h4", "h5", "h6"):
                    level = int(block.name[1])
                    del headings[level - 1:]
                    headings.extend([""] * (level - 1 - len(headings)))
                    headings.append(block.get_text(" ", strip=True))
                    title = title or headings[-1]
                    current = None   # the heading is context for what follows, not a paragraph of its own
                    continue
            if current is not None or node.strip():
                current_text.append(str(node))
        elif node.name not in _SKIP:
            inner = node if node.name in _BLOCKS else block
            stack.extend((child, inner) for child in reversed(node.contents))
    flush()
    return [(t, [h for h in hs if h]) for t, hs in blocks], title


def _text_blocks(body: str):
    """Blank lines separate paragraphs; a file without blank lines has one paragraph per line."""
    body = body.replace("\r\n", "\n")
    parts = re.split(r"\n\s*\n", body) if re.search(r"\n\s*\n", body) else body.split("\n")
    return [(p.strip(), []) for p in parts if p.strip()], None

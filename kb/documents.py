"""Corpus files -> Documents: front matter, HTML / Markdown / plain text, charset detection.

Every loader ends in the same shape: a list of paragraphs (text + heading path) that becomes
a Document whose cleaned text is the paragraphs joined by blank lines.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from .errors import BadDocument, CorpusError
from .text import detect_language
from .types import Document, Paragraph

log = logging.getLogger("kb")

SUFFIXES = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown", ".txt": "text"}
_FRONT_MATTER = re.compile(r"\A\s*---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_MKDOCS_LANG = re.compile(r"^(?P<stem>.+)\.(?P<lang>[a-z]{2})(?:[-_][A-Za-z]{2,4})?$")
_WS = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")


def corpus_files(folder: Path) -> list[Path]:
    """Every file under the corpus folder, sorted, hidden files and folders (like .kb) left out."""
    if not folder.is_dir():
        raise CorpusError(f"corpus folder not found: {folder} (create it, or pass --corpus / set KB_CORPUS)")
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def load_corpus(folder: Path, max_file_mb: float = 20.0, strict: bool = False,
                parsed: dict | None = None) -> tuple[list[Document], list[str]]:
    """Load every supported file; bad files are named in a warning and skipped (or raise with strict).

    Args:
        parsed: Documents of an earlier load, by path and content hash: a file whose bytes have not
            changed is not parsed again. Updated in place to this load's files.
    Returns:
        (documents, problems) where each problem is one line naming a skipped file and why.
    """
    docs, problems, seen, fresh = [], [], {}, {}
    for path in corpus_files(folder):
        rel = path.relative_to(folder).as_posix()
        try:
            if path.suffix.lower() not in SUFFIXES:
                raise BadDocument(f"unsupported file type '{path.suffix}' (kb reads {', '.join(sorted(SUFFIXES))})")
            size = path.stat().st_size
            if size > max_file_mb * 1e6:
                raise BadDocument(f"{size / 1e6:.1f} MB is over the {max_file_mb:g} MB limit (KB_MAX_FILE_MB)")
            raw = path.read_bytes()
            digest = hashlib.sha1(raw).hexdigest()
            if digest in seen:
                raise BadDocument(f"duplicate of {seen[digest]}")
            key = f"{rel}\0{digest}"
            doc = (parsed or {}).get(key) or parse_document(rel, raw, folder)
            seen[digest], fresh[key] = rel, doc
            docs.append(dataclasses.replace(doc))    # a copy: linking translations below changes it
        except BadDocument as e:
            problems.append(f"{rel}: {e}")
    for p in problems:
        log.warning("skipped %s", p)
    if strict and problems:
        raise CorpusError(f"{len(problems)} corpus file(s) could not be used (--strict)", problems)
    _link_mkdocs_translations(docs)
    if parsed is not None:
        parsed.clear()
        parsed.update(fresh)
    return docs, problems


def decode(raw: bytes) -> str:
    """UTF-8 first, then GB18030 (a superset of GBK/GB2312), then charset detection; binary is refused."""
    if not raw.strip():
        raise BadDocument("empty file")
    head = raw[:8192]
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BadDocument("binary file, not text")
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes
    best = from_bytes(raw).best()
    if best is None:
        raise BadDocument("not decodable as text (tried UTF-8, GB18030 and charset detection)")
    return str(best)


def split_front_matter(text: str) -> tuple[dict, str]:
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, text
    import yaml
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as e:
        raise BadDocument(f"malformed YAML front matter: {str(e).splitlines()[0]}") from None
    if not isinstance(meta, dict):
        raise BadDocument("malformed front matter: expected 'key: value' lines")
    return meta, text[m.end():]


def parse_document(rel: str, raw: bytes, folder: Path | None = None) -> Document:
    """Parse one file's bytes into a Document (the format is chosen by the file suffix)."""
    meta, body = split_front_matter(decode(raw))
    kind = SUFFIXES[Path(rel).suffix.lower()]
    if kind == "markdown":     # structure-aware: kinds, lead-ins, anchors (kb/markdown.py)
        from .markdown import markdown_blocks
        original = str(meta.get("translation_of") or "")    # a translation of an HTML page: one passage per
        separate = bool(original) and SUFFIXES.get(Path(original).suffix.lower()) != "markdown"   # paragraph, as there
        blocks, links, title = markdown_blocks(body, lambda problem: log.warning("%s: %s", rel, problem), separate)
    else:
        blocks, links, title = {"html": _html_blocks, "text": _text_blocks}[kind](body)
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
        raise BadDocument("no text found")
    full = "\n\n".join(parts)
    stem = Path(rel).name.split(".")[0]
    lang = _lang_from_name(rel) or detect_language(full[:3000])
    date = meta.get("date")
    return Document(
        id=rel, title=str(meta.get("title") or title or stem), text=full, paragraphs=paragraphs,
        lang=_norm_lang(str(meta.get("lang") or lang)),
        date=date.isoformat() if isinstance(date, (dt.date, dt.datetime)) else (str(date) if date else None),
        author=str(meta["author"]) if meta.get("author") else None,
        url=str(meta["url"]) if meta.get("url") else None,
        translation_of=_resolve(rel, meta.get("translation_of")),
        links=links,
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


def _html_blocks(body: str):
    from bs4 import BeautifulSoup, NavigableString, Comment
    soup = BeautifulSoup(body, "html.parser")
    title = soup.title.get_text(strip=True) if soup.title else None
    blocks, links, headings = [], [], []
    current, current_text = None, []

    def flush():
        if current_text:
            blocks.append(("".join(current_text), list(headings)))
            current_text.clear()

    for a in soup.find_all("a"):
        href = a.get("href")
        if href:
            href = real_url(href)
            text = a.get_text(" ", strip=True)
            links.append((text, href))
            a.replace_with(_link_text(text, href) if text else "")
    for node in soup.descendants:
        if not isinstance(node, NavigableString) or isinstance(node, Comment):
            continue
        if any(p.name in _SKIP for p in node.parents):
            continue
        block = next((p for p in node.parents if p.name in _BLOCKS), None)
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
    flush()
    return [(t, [h for h in hs if h]) for t, hs in blocks], links, title


def _text_blocks(body: str):
    """Blank lines separate paragraphs; a file without blank lines has one paragraph per line."""
    body = body.replace("\r\n", "\n")
    parts = re.split(r"\n\s*\n", body) if re.search(r"\n\s*\n", body) else body.split("\n")
    return [(p.strip(), []) for p in parts if p.strip()], [], None

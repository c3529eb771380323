"""Where a corpus page lives on the web: mkdocs page addresses and heading anchors, for citation links.

A corpus folder gets addresses when it is an mkdocs docs/ folder (mkdocs.yml with site_url beside or
above it) or is given a base URL (KB_SOURCE_BASE_URL); a page's front matter `url` always wins.
"""
from __future__ import annotations

import dataclasses
import re
import unicodedata
from pathlib import Path
from urllib.parse import quote


def slugify(heading: str) -> str:
    """The anchor mkdocs (Python-Markdown's toc, by default) gives a heading: ASCII only, so a Chinese
    heading's slug is empty and becomes "_1", "_2", … in page order (see `unique`)."""
    value = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def unique(slug: str, used: set) -> str:
    """Python-Markdown's rule for repeated or empty slugs: add _1, or count up the number after the "_"."""
    while slug in used or not slug:
        m = re.match(r"^(.*)_([0-9]+)$", slug)
        slug = f"{m.group(1)}_{int(m.group(2)) + 1}" if m else f"{slug}_1"
    used.add(slug)
    return slug


def site_base(folder: Path, base_url: str = "") -> str:
    """The live address of the corpus folder: `base_url` if given, else the site_url of the mkdocs.yml whose
    docs_dir is (or holds) the folder; "" when neither is known."""
    if base_url:
        return base_url.rstrip("/") + "/"
    folder = folder.resolve()
    for up in [folder, *folder.parents][:4]:
        yml = up / "mkdocs.yml"
        if not yml.is_file():
            continue
        try:
            conf = yml.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        site = re.search(r"(?m)^site_url:\s*['\"]?([^'\"\s#]+)", conf)
        docs = re.search(r"(?m)^docs_dir:\s*['\"]?([^'\"\s#]+)", conf)
        docs_dir = (up / (docs.group(1) if docs else "docs")).resolve()
        if not site or not (folder == docs_dir or docs_dir in folder.parents):
            return ""
        sub = folder.relative_to(docs_dir).as_posix()
        return site.group(1).rstrip("/") + "/" + ("" if sub == "." else quote(sub) + "/")
    return ""


def with_page_urls(docs: list, folder: Path, base_url: str = "") -> list:
    """Copies of the documents, each without a `url` of its own given its address on the live site when the
    site is known (copies: the parse cache keeps only what the files say, so a new base URL takes effect)."""
    base = site_base(folder, base_url)
    return [dataclasses.replace(d, url=page_url(base, d.id)) if base and not d.url else d for d in docs]


def page_url(base: str, rel: str) -> str:
    """mkdocs addresses: name.md -> name/, name.en.md -> en/name/, index.md -> its folder."""
    parts = rel.split("/")
    name = parts[-1].rsplit(".", 1)[0]
    lang = ""
    m = re.match(r"^(.+)\.([a-z]{2})$", name)
    if m:
        name, lang = m.group(1), m.group(2) + "/"
    path = parts[:-1] + ([] if name.lower() in ("index", "readme") else [name])
    return base + lang + "".join(quote(p) + "/" for p in path)


def with_anchor(url: str | None, anchor: str) -> str | None:
    """A page address with a heading anchor, for web addresses that do not already point inside the page."""
    if url and anchor and "#" not in url and url.startswith(("http://", "https://", "/")):
        return f"{url}#{quote(anchor)}"
    return url

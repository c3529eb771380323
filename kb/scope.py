"""Scope: which release of which product a document, a section or a question is about.

A version is named the way documentation names it: a name followed by a number ("OpenCloudOS 9.0",
"Stream 23", "OpenCloudOS8", "V9"; "OpenCloud OS 8" where the corpus scopes by "OpenCloudOS"). A document's
scope comes from its front matter (`version:`), its path ("release/v9.0.md") and its title and headings. Of the
versions a question names, those that count are the ones the corpus scopes its documents by (a *scope name*,
like "OpenCloudOS" or "Stream"); "Rust 1.64" or "TDengine V3.2" are things a document may list, not what it is
about.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .text import STOPWORDS

# A name then its version ("OpenCloudOS 9.0", "Stream 23", "opencloudos/9.0/isos"), or "V8" alone;
# "2GB", "32-bit" and "1.4 MB" are quantities, not versions.
# A bare "V8" followed by a name is that name's ("V8 JavaScript"). ASCII bounds: "发布V9第一个" names V9.
_MENTION = re.compile(r"(?<![A-Za-z0-9_.])(?:([A-Za-z][A-Za-z]+)[ /_-]?[Vv]?|[Vv](?=\d+(?:\.\d+)?(?!\s?[A-Z][a-z])))"
                      r"(\d+(?:\.\d+)?)(?![A-Za-z0-9_%]|\.\d|\s?(?:[KMGT]i?B|bit|位)\b)")


_PARTS = {"chapter", "section", "part", "appendix", "step", "figure", "table", "lesson"}   # "Chapter 7": a part of the book


@dataclass(frozen=True)
class Version:
    """One named version: `name` lowercased ("" when only "V9" says it), `number` as written ("9.0")."""

    name: str
    number: str
    said: str = field(default="", compare=False)   # as the text wrote it ("OpenCloudOS 9.0")

    def covers(self, other: Version) -> bool:
        """Can a text about `self` answer for `other`? The same number, or one is the other's series
        ("9" and "9.0"); names must agree unless one is unknown."""
        if self.name and other.name and self.name != other.name:
            return False
        a, b = self.number.split("."), other.number.split(".")
        n = min(len(a), len(b))
        return [int(x) for x in a[:n]] == [int(x) for x in b[:n]]


def mentions(text: str) -> list[Version]:
    """Every "name number" version the text names, in order."""
    out = []
    for m in _MENTION.finditer(text):
        name = m.group(1) or ""
        if name.lower() in STOPWORDS:        # "of V9" is V9; "to 1024", "on 1.3" name nothing
            if m.group(0)[len(name):].lstrip(" /_-")[:1] in "Vv":
                out.append(Version("", m.group(2), m.group(0)[len(name):].strip()))
            continue
        out.append(Version(name.lower(), m.group(2), m.group(0)))     # "cgroup v2" is cgroup's, not a release V2
    return out


def document_scope(path: str, title: str, headings: list[str], front=None) -> list[str]:
    """The versions a document is about, as "name number" strings: its front matter's `version:` if it has one,
    else those its file name, title and `headings` name (e.g. ["opencloudos 9.0", " 9.0"]); often none. Not a
    part of a book ("Chapter 7", "Network1-6.md": chapters 1 to 6). The caller passes only the top headings
    over most of the page: a section's "1.3 IPv6 地址" names what it explains, not a release the page is for."""
    if front is not None and str(front).strip():
        found = mentions(str(front)) or [Version("", str(front).strip().lstrip("Vv"))]
    else:
        stem = re.sub(r"(\.[a-z]{2})?\.\w+$", "", path.rsplit("/", 1)[-1]).replace("_", " ")   # v9.0.en.md -> v9.0
        stem = re.sub(r"\d+-\d+", " ", stem)          # "Network1-6": chapters 1 to 6
        found = mentions(stem) + mentions(title) + [v for h in headings for v in mentions(h)]
    return list(dict.fromkeys(f"{v.name} {v.number}" for v in found if re.fullmatch(r"\d+(?:\.\d+)?", v.number)
                              and v.name not in _PARTS))


def parse(scope: list[str]) -> list[Version]:
    """Versions back from `document_scope`'s strings."""
    out = []
    for s in scope:
        name, _, number = s.partition(" ")
        if re.fullmatch(r"\d+(?:\.\d+)?", number):
            out.append(Version(name, number, number))
    return out


class Scopes:
    """The scope names of one corpus (the names its documents are scoped by) and the versions of each."""

    def __init__(self, doc_scopes: dict[str, list[str]]):
        self.docs = {d: parse(s) for d, s in doc_scopes.items()}
        self.versions = [v for vs in self.docs.values() for v in vs]      # every document's, once per corpus
        self.names = {v.name for v in self.versions if v.name}
        self.numbers = {v.number for v in self.versions}
        # The names written with a space inside ("OpenCloud OS 8" for OpenCloudOS 8): read as the name
        spaced = [" ?".join(map(re.escape, n)) for n in sorted(self.names, key=len, reverse=True) if len(n) > 3]
        self._spaced = re.compile(rf"(?<![A-Za-z])(?:{'|'.join(spaced)})(?![A-Za-z])", re.I) if spaced else None

    @classmethod
    def of_index(cls, index) -> Scopes:
        """The scopes of an index's documents (their `scope` metadata)."""
        return cls({doc_id: meta.get("scope") or [] for doc_id, meta in index.docs.items()})

    def _mentions(self, text: str) -> list[Version]:
        if self._spaced and " " in text:
            text = self._spaced.sub(lambda m: m.group(0).replace(" ", ""), text)
        return mentions(text)

    def asked(self, question: str) -> list[Version]:
        """The versions the question names that the corpus scopes documents by ("OC 9.0" counts when some
        document is about 9.0, whatever it calls the product; "qcow2" does not)."""
        out = []
        for v in self._mentions(question):
            if v.name in self.names:
                out.append(v)
            elif ("." in v.number and v.number in self.numbers) or not v.name:
                out.append(Version("", v.number, v.said))
        return out

    def _scoping(self, v: Version) -> bool:
        """Is this mention a version of what documents are scoped by? "OpenCloudOS 9.0", or a bare "V9" where some
        document is about 9, not the "V4.0" of a product in a table row."""
        return v.name in self.names or not v.name and any(d.covers(v) for d in self.versions)

    def of(self, doc_id: str, heading: tuple[str, ...], *texts: str) -> list[Version]:
        """The versions a passage is about: those the first of `texts` that names any names (the answer, then its
        passage), else its headings, else its document's."""
        for found in (*([v for v in self._mentions(t) if self._scoping(v)] for t in texts),
                      [v for h in heading for v in self._mentions(h) if self._scoping(v)]):
            if found:
                return found
        return self.docs.get(doc_id, [])


def conflicts(asked: list[Version], about: list[Version]) -> bool:
    """A passage about `about` cannot answer a question about `asked`: for some version asked, the passage names
    versions of that product and none of them covers it."""
    for q in asked:
        same = [v for v in about if not (q.name and v.name) or q.name == v.name]
        if same and not any(v.covers(q) for v in same):
            return True
    return False

"""What kb takes as a question: the input checks, and the earlier question a follow-up leans on.

The first stage of `ask` and `search`: whatever a user types arrives here, and leaves as a clean question
in a known language, or as a QuestionError that says what is wrong in the asker's language.
"""
from __future__ import annotations

import re

from .errors import QuestionError, QuestionTooLong
from .messages import message
from .text import Tokenizer, normalize

MAX_K = 50           # sources one call may ask for: more is never useful and only costs time

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_TAG = re.compile(r"</?[A-Za-z][^<>]{0,200}>")   # HTML pasted into a question is not what it asks about
# "X 是什么", "什么是 X", "AIDE 是干什么用的", "what is X": X, defined by a sentence that starts by naming it
_DEFINE = re.compile(r"^(?:什么是|何为)\s*(.+?)\s*[？?]*$|^(.+?)\s*(?:是什么|是啥|是(?:干|做)什么用?的|是干嘛的|指的是什么"
                     r"|是什么意思)\s*[？?]*$|^what (?:is|are) (?:an? |the )?(.+?)\s*\??$"
                     r"|^what does (.+?) (?:do|mean)\b(?: in .+?)?\s*\??$", re.I)
_MEANING = re.compile(r"是什么意思|指的是什么|^what does .+ mean\b", re.I)     # what a term means: always a definition
_ATTRIBUTE = re.compile(r"的|\b(?:of|in|for|on)\b", re.I)
# A definition's head: a short phrase naming it, within one sentence ("OpenCloudOS 由腾讯与伙伴发起，是…"), then
# "是" (not "是否"), "指", "is"…
_DEFINITION = re.compile(r"[^。；;：:\n]{0,40}?(?=是(?!否|不是)|指|用于|\b(?:is|are|refers? to|means)\b|\s*[：:])", re.I)
_COLON = re.compile(r"\s*[：:]")
_FOLLOW_UP = ("那", "那么", "还有", "呢", "它", "其", "and ", "what about", "how about", "and?", "it ", "its ", "they ", "that ")


def check_question(question, max_chars: int, tokenizer: Tokenizer) -> str:
    """The question, stripped, or a QuestionError: not text, nothing to go on, or longer than `max_chars`."""
    if not isinstance(question, str):
        raise QuestionError(message("empty_question", "en"))
    question = _LONE_SURROGATE.sub("", question).strip()   # JSON lets them in; UTF-8 cannot carry them back out
    if not any(ch.isalnum() for ch in question):   # nothing to go on, not even the asker's language
        raise QuestionError(message("empty_question", "zh") + " / " + message("empty_question", "en"))
    n = len(question)
    if n <= max_chars:      # measured as embedded: NFKC turns one U+FDFA into 18 characters
        n = len(normalize(question))
    if n > max_chars:
        lang = tokenizer.detect_language(question[:500])
        raise QuestionTooLong(message("question_too_long", lang, n=n, limit=max_chars))
    return question


def check_k(k, default: int, lang: str = "en") -> int:
    """k as asked (`default` if None), at most MAX_K; zero, negative or not a whole number is the caller's
    mistake, said in the asker's language."""
    k = default if k is None else k
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise QuestionError(message("bad_k", lang, k=k))
    return min(k, MAX_K)


def without_tags(question: str) -> str:
    """The question with pasted HTML tags blanked out, for retrieval and answering."""
    return _TAG.sub(" ", question)


def follow_up_context(question: str, history: list[str], tokenizer: Tokenizer) -> str:
    """The previous question when this one is a follow-up (short, or opening with "那", "and", "what about"…)."""
    if not history:
        return ""
    q = question.strip().lower()
    if len(tokenizer.tokenize(q)) <= 2 or q.startswith(_FOLLOW_UP) or q.endswith(("呢？", "呢?", "呢")):
        return history[-1]
    return ""


def defined_in(question: str, tokenize) -> set[str]:
    """The words of what a definition question asks about ("AIDE" of "AIDE 是干什么用的？"); none for others."""
    m = _DEFINE.search(question.strip())
    subject = next(filter(None, m.groups())) if m else ""
    if _MEANING.search(question):       # "logrotate 的 delaycompress 是什么意思": a term, named last
        subject = subject.rsplit("的", 1)[-1]
    # a thing's attribute ("TCase 的回调地址是什么", "the default version in 8.5") is a value asked, not a definition
    return set() if _ATTRIBUTE.search(subject) else set(tokenize(subject))


def defines(text: str, subject: set[str], tokenize) -> bool:
    """Does `text` start by defining `subject` ("高级入侵检测环境（AIDE）是一个实用程序…"): name it, and little
    else, before its first "是" / "is"? Or explain it as a glossary does, the term alone before a colon
    ("delaycompress ：在下一次转储时…"; not "OpenCloudOS Stream 的 bug 追踪系统：")?"""
    m = _DEFINITION.match(text := text.lstrip()) if subject else None
    if m is None:
        return False
    head = set(tokenize(m.group()))
    return subject <= head and (not _COLON.match(text, m.end()) or head <= subject)

"""Answer types: what kind of value a question asks for, and whether a text can give it.

"什么时候" asks a date, "多少" and "多大" a number, "最多能建多少个分区" a bound, "保留多少天" a number of days, "多久" a
duration or a frequency, "几点" a time of day, "多少内存" a size, "哪个版本" a version, "下载地址" a link, "哪个端口"
a number, "哪个配置文件" / "which file" a path or a file name ("/etc/auto.master", "tcase.json"). A clause that offers
its answers ("should I give the HTTPS URL or the SSH address?") asks which of them. kb/answering.py refuses an answer
unit that cannot give what is asked, and prefers one that can. The question's own numbers and version names
("OpenCloudOS 8.5", "ARM64") never count as the value.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_QTYPES = {
    # a bound: "最多能建多少个分区", "上限是多少", "the maximum size" (not "最大的优势是什么": no quantity asked)
    "limit": re.compile(r"(?:最多|最大|最少|最小|上限|至多|至少)[^，,。？?]*?(?:多少|几|多大|多长|多久|多高)"
                        r"|(?:多少|几|多大)[^，,。？?]*?(?:最多|最大|上限)|\b(?:at most|at least|maximum|minimum|max|upper limit)\b"),
    "link": re.compile(r"下载地址|网址|链接|(?:哪里|哪儿|去哪)下载?|\bwhere (?:can|do|should) i (?:download|get)\b"
                       r"|\b(?:url|download link)\b"),
    # a file or directory: "在哪个配置文件里改", "which file does it read" (not "哪个文件系统", "which file systems")
    "path": re.compile(r"(?:哪个|什么|哪一个)(?:配置)?(?:文件|目录|路径)(?!系统)"
                       r"|\b(?:which|what) (?:config(?:uration)? )?(?:file|directory|folder|path)\b(?! ?systems?)"),
    "price": re.compile(r"多少钱|价格|费用|售价|收费|付费|\bprices?\b|\bcosts?\b|how much .*\b(?:pay|charge)"),
    "version": re.compile(r"版本号|哪个版本|什么版本|哪个大版本|(?:多少|几)版本|版本(?:是|为)?多少"
                          r"|\b(?:which|what)(?: [\w-]+){0,5} version"),
    "number": re.compile(r"多少|多大(?!区别|差别|不同|影响|作用|意义)|(?<!哪)几[个种年次家位台]|价格|费用|售价|多少钱|百分之"
                         r"|几\s*(?:秒|分钟|小时|天|周|个?月|倍|遍|毫秒)"
                         r"|how (?:much|many)|\bprice|\bcost|percent|what percentage"      # "哪几种" asks which, not how many
                         r"|\bhow long(?= (?:can|may|should|must|could|will)\b.*\bbe\b)"  # a name's length, not a time
                         r"|(?:哪个|什么|哪一个)\s*(?:tcp|udp)?\s*端口|端口号|\b(?:which|what) (?:tcp |udp )?port\b(?! type)"),  # a port
    # "when" asks only as a question word: not "what is required when a feature is merged"
    "time": re.compile(r"什么时候|何时|多久|多长时间|几点|\bhow (?:long|often)\b|哪一?年|几月|哪天|日期"
                       r"|^when\b(?![^?]*,\s*(?:what|which|how|where|who|why|can|do|does|should|is|are)\b)"  # not "When I…, what…"
                       r"|\bwhen (?:did|does|do|is|was|will|are|were)\b|what (?:year|date|month)|which (?:year|month)"),
}
# Asking how to look a value up ("怎么查看内核版本号", "how do I check the version"): a way, not the value. Not "怎么收费".
LOOK_UP = r"查看|查询|检查|确认|获取|获得|知道|得知|看到?|查|显示|列出"      # the verbs that look something up
_LOOKS_UP = re.compile(r"(?:怎么|怎样|如何)\s*(?:才能)?\s*(?:" + LOOK_UP + ")"
                       r"|\bhow (?:do|can|to|should)(?: i| you| we)? (?:check|see|find|view|show|list|get|tell|know|display|query)\b")
CLAUSES = re.compile(r"[，,；;。？?！!]|(?<=[a-z])\.\s")      # where a question's clauses end
_CHOICE = re.compile(r"^\s*(?:should|shall|do|does|did|is|are|was|were|can|could|will|would)\b.*\bor\b|\S\s*还是")   # not 还是 "still"
# A number: digits, or Chinese numerals counting something ("三个", "十天", "一百") — not the 一 of 一致 or 统一,
# nor 一个 ("a")
_NUMBER = (r"(?:[0-9]|[一二两三四五六七八九十百千万亿]*[二两三四五六七八九十百千万亿]"
           r"|一\s*(?=[种次天年月日周倍台条项位名家只件块张份层级元百千万亿]|小时|分钟|秒))")
_FITS = {
    "limit": re.compile(r"(?=.*(?:最多|最大|最少|最小|上限|下限|至多|至少|高达|多达|不超过|不少于|不低于|不高于|以内"
                        r"|(?:增加|提升|提高|扩大|扩展)到"          # a new bound: "容量增加到 281 TB"
                        r"|\b(?:up to|at most|at least|maximum|minimum|max|limit(?:ed)? (?:to|of)|no (?:more|less|fewer) than"
                        r"|(?:increased|raised) to|as (?:many|much) as)\b))(?=.*" + _NUMBER + ")", re.I | re.S),
    "link": re.compile(r"https?://|www\.|\b[\w-]+\.(?:com|org|net|tech|cn|io)\b"),
    # "/etc/kdump.conf", "kernel/configs/nooc.config", "tcase.json"; in Chinese text too ("生成tcase.json文件")
    "path": re.compile(r"(?<![A-Za-z0-9_.-])(?:~?/[\w.-]+|[A-Za-z0-9_.-]+/[\w.-]+|[A-Za-z0-9_-]+\.(?:conf|config|cfg|json|ya?ml"
                       r"|ini|toml|rules|repo|xml|md|py|sh|txt|log|service|mount|automount|master|pmod|policy|d)(?![A-Za-z0-9_]))"),
    "price": re.compile(r"[元¥￥$€]|美元|人民币|\b(?:USD|RMB|EUR|dollars?|yuan)\b", re.I),
    "version": re.compile(r"\d+\.\d+(?![\d.]*%)|\b[Vv]\d+|(?:version|版本) ?\d+"),
    "number": re.compile(_NUMBER),
    "time": re.compile(r"(?<![0-9A-Za-z])(?:19|20)\d\d(?![0-9A-Za-z])"     # a year, not the 1998 inside a hash
                       r"|\d\s*(?:[年月日天周秒]|小时|分钟|(?:second|minute|hour|day|week|month|year)s?\b)|[年月日]|初|底"
                       r"|每|之?后|之前|以前|\b(?:early|late|end of|year|month|daily|weekly|hourly|after|before|once|until)\b"
                       r"|\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?"
                       r"|nov(?:ember)?|dec(?:ember)?)\.? \d", re.I),
}
# Units a count or an amount is asked in: the answer must give a number in the same unit ("保留多少天": "7 天").
_MEASURES = {
    "day": r"天|日|days?", "week": r"周|星期|个星期|weeks?", "month": r"个月|月|months?", "year": r"年|years?",
    "hour": r"小时|个小时|hours?|h", "minute": r"分钟|minutes?|mins?", "second": r"秒|秒钟|seconds?|s",
    "times": r"次|遍|times", "size": r"[KMGTP]i?B|[KMGTP]|字节|bytes?|[KMGT]i?b(?:ps|it/s)|[KMGT]bps",
}
_ASKS_MEASURE = re.compile(r"(?:多少|几)\s*(个月|个小时|个星期|[天日周月年次遍秒]|小时|分钟|秒钟|星期|[KMGTP]i?B|字节)"
                           r"|\bhow many (days?|weeks?|months?|years?|hours?|minutes?|seconds?|times|[KMGT]i?B|bytes)\b",
                           re.I)
# "几点 / what time" asks a time of day
_ASKS_CLOCK = re.compile(r"几点|\bwhat time\b|\bat what time\b", re.I)
_CLOCK = re.compile(r"\d{1,2}\s*[:：]\s*\d{2}|\d{1,2}\s*[点时]|[零一二三四五六七八九十两]{1,3}点|凌晨|午夜|中午|[上下]午"
                    r"|\b(?:[ap]\.?m\b|midnight|noon|o'clock)", re.I)
# "How long / how often" asks a duration or a frequency: a number of time units, or "每…", "daily"
_ASKS_DURATION = re.compile(r"多久|多长时间|\bhow (?:long|often)\b", re.I)
_DURATION = re.compile(_NUMBER + r"\s*(?:[天日周秒年]|个?月|个?星期|个?小时|分钟|[smhd]\b"
                       r"|(?:sec|second|min|minute|hour|day|week|month|year)s?\b)"
                       r"|每|定期|实时|\b(?:every|daily|weekly|monthly|hourly|yearly)\b", re.I)
# Memory, disk space or bandwidth asked by how much ("需要多少内存", "how much RAM"): a size answers, not a count
_ASKS_SIZE = re.compile(r"(?:多少|多大)的?(?:内存|磁盘|硬盘|存储|空间|带宽)"
                        r"|(?:内存|磁盘|硬盘|存储|空间|带宽)(?:是|为|有|要|需要)?(?:多少|多大)"
                        r"|\bhow (?:much|big|large)\b.*\b(?:memory|ram|disk|storage|space|bandwidth)\b", re.I)
_ENUMERATOR = re.compile(r"(?:^|(?<=[\s；;，,、(（]))\d{1,2}[.)、](?!\d)")
# "OpenCloudOS 8.5", "CentOS8", "V9", "ARM64" are names, not quantities ("early 2023" is a date).
_VERSION = re.compile(r"\b[A-Za-z]*[A-Z][A-Za-z]*[A-Z][A-Za-z]* ?\d+(?:\.\d+)*|\b[A-Za-z]+\d[\w.]*")


@dataclass(frozen=True)
class Wanted:
    """The value a question asks for, read once per question: its type, and what a sentence giving it must say."""

    qtype: str | None
    numbers: tuple[str, ...] = ()    # the question's own numbers, never the value
    files: tuple[str, ...] = ()      # asking a path, the files it names itself ("What file does extract_case.py generate?")
    measure: str | None = None       # "多少天": a number of days (a key of `_MEASURES`)
    clock: bool = False              # "几点": a time of day
    duration: bool = False           # "多久": a duration or a frequency

    @property
    def by_subject(self) -> bool:
        """Is the value said beside what is asked about? Not a file: it is named where it is used."""
        return self.qtype != "path"

    def fits(self, sentence: str) -> bool:
        """Can this sentence answer? The question's own numbers never count, and for all but "version" neither do
        version names."""
        if self.qtype is None:
            return True
        sentence = _ENUMERATOR.sub(" ", sentence)          # "1. 每个commit…" is no count
        for number in self.numbers:
            sentence = re.sub(rf"(?<!\d)(?<!\d\.){re.escape(number)}(?!\.?\d)", " ", sentence)
        sentence = sentence if self.qtype == "version" else _VERSION.sub(" ", sentence)
        for file in self.files:
            sentence = sentence.replace(file, " ")
        if self.measure:                                   # "多少天" needs "30 天"/"30 days"
            return bool(re.search(rf"[0-9一二两三四五六七八九十百千万]\s*(?:{_MEASURES[self.measure]})", sentence, re.I))
        if self.clock:                                     # "几点": "凌晨 3 点", "03:00", not "每天"
            return bool(_CLOCK.search(sentence))
        if self.duration:                                  # "多久": "60s", "每 4 小时", not a date
            return bool(_DURATION.search(sentence))
        return bool(_FITS[self.qtype].search(sentence))


def wanted(qtype: str | None, question: str = "") -> Wanted:
    """What a question of this type asks for (`asked_type` gives the type)."""
    if qtype is None:
        return Wanted(None)
    return Wanted(qtype, tuple(sorted(set(re.findall(r"\d+(?:\.\d+)*", question)))),
                  tuple(sorted(set(_FITS["path"].findall(question)))) if qtype == "path" else (),
                  _measure(question) if qtype in ("number", "time", "limit") else None,
                  qtype == "time" and bool(_ASKS_CLOCK.search(question)),
                  qtype == "time" and bool(_ASKS_DURATION.search(question)))


def fits(qtype: str | None, sentence: str, question: str = "") -> bool:
    """Can this sentence answer a question of this type? (`wanted` once per question, then `Wanted.fits`.)"""
    return wanted(qtype, question).fits(sentence)


def _measure(question: str) -> str | None:
    """The unit a "how much / how many" question counts in ("多少天", "how many days", "多少 KB"), if any."""
    if _ASKS_SIZE.search(question):
        return "size"
    m = _ASKS_MEASURE.search(question)
    said = m and (m.group(1) or m.group(2))
    return next((name for name, rx in _MEASURES.items() if said and re.fullmatch(rx, said, re.I)), None)


def asks(word: str, qtype: str | None) -> bool:
    """Does the word alone ask for that type of value ("URL" for a link)? Then it is no subject of the question."""
    return qtype is not None and bool(_QTYPES[qtype].fullmatch(word.lower()))


def asked_type(question: str) -> tuple[str | None, str]:
    """The type of value `question` asks for (a key of `_QTYPES`, or None) and the words that ask it. None for a
    question that asks how to look it up ("怎么查看内核版本号", "how do I check the version"): a way, not a value."""
    low = question.lower()
    # "I want to see … how many KB it sent … Which bcc command do I run?": the last sentence asks; the others tell
    sentences = [t for t in re.split(r"(?<=[.!?])\s+", low.strip()) if t]
    if len(sentences) > 1 and re.match(r"(?:which|what|how|where|who|why)\b", sentences[-1]):
        low = sentences[-1]
    if _LOOKS_UP.search(low):
        return None, ""
    name, m = next(((name, m) for name, rx in _QTYPES.items() if (m := rx.search(low))), (None, None))
    # A clause that offers the answers ("should I give the HTTPS URL or the SSH address?", "是…还是…") asks which of
    # them: the word among them ("URL") asks for no value
    if not m:
        return None, ""
    before = CLAUSES.split(low[:m.start()])[-1]          # the words of its clause before the ones that ask
    if _CHOICE.search(before + CLAUSES.split(low[m.start():])[0]):
        return None, ""
    # "Which bcc tool shows how long each connection stays…": a "how long" inside a clause that asks "which" is what
    # the thing found does; the question asks for the thing
    if m.group(0).startswith("how") and re.match(r"\s*(?:which|what)\b", before):
        return None, ""
    return name, m.group(0)


def asking_words(typed: str) -> str:
    """The words that ask, of those `asked_type` gives: not the "nginx" of "which nginx version", which names what
    the version is of."""
    return re.sub(r"^(which|what)\b.*\b(version)$", r"\1 \2", typed)

"""Extractive answers: the part of the top sources that answers the question, cited — or a refusal.

What answers depends on the passage's kind (kb/markdown.py): a prose sentence (or up to three: one that adds enough
of the question, or the one beside it that nearly matches it, "…尝试合并它们。如果存在冲突，则…优先。"; for a list question
answered by a labelled sentence, "系统备份：…", its labelled siblings, "业务评估：…", "系统评估：…"); a list's
lead-in with its items (the commands among them as code; a "哪些…" question answered by prose that lists nothing gets
a list or table from the same page nearly as good instead); a FAQ entry's answer, not its question; a step's
instruction with its command, the command on a line of its own; a table's column names with the row(s) asked
about (a row the question names by its first cell, "redis", or by a cell that is a capitalised name it asks by, "Vim",
before rows that only contain the name, "rh-redis5",
whichever source holds them). Units are scored by the share of the question's weight (idf) that they, their
passage and its heading cover, so the question line of a FAQ, or a sentence that only restates the question,
never beats the text that answers it; nor does one that says the opposite of what is asked ("永久" for "临时").
A remark among a code block's commands ("按 CPU 和命令排序：") is the instruction of the commands under it. A
how-to answer that would be a sentence naming no option gives way to a step nearly as good ("编辑宽限期：# edquota -t"
for "宽限期怎么修改", not the sentence that says what a grace period is); one that says a thing can be done goes on to
the sentence that says how, and one that would quote a
section's preface ("下面过程描述了如何…", "此过程启用…", "This section describes how to…", "使用以下步骤…") or its
prerequisites gets the steps that follow them; a comparison ("X 和 Y 有什么区别") is answered with what each side
says of itself, and "X 是什么" with the sentence that defines X ("X 是…"). Items that give
the version asked for only through their heading ("## GCC 12.2.0") are shown under that heading.

The refusal is judged on the chosen answer unit, because a similarity threshold alone cannot tell an on-topic
question whose detail the text never gives ("how much does a subscription cost?") from a real one:
  1. dense similarity of the closest source (too far -> refuse; for an English question answered from a Chinese
     passage, the unit saying Config.crossing_said of it, through translations, vouches instead);
  2. the share of the question's weight (idf) in words the corpus never uses ("吉祥物", "subscription"), and
     the share that the unit and its heading path say (under Config.min_said: not about what is asked);
  3. the answer type (kb/answer_types.py): a "when" / "how much" / "which version" question needs a unit with a date, number or
     version, said on a line about what is asked ("Go", not the "libpsx 2.64" beside it); one that asks for a
     bound ("最多能建多少个分区", "at most") needs a unit that states one ("最多 128 个", "up to 50 TiB"); one that
     counts in a unit ("保留多少天", "how many days", "多少内存") a number in that unit; "多久" / "how often" a
     duration or a frequency, not a date; a count a number, not the 一 of 一致; the default ("默认的采样频率是多少",
     "what is the default MTU") a unit that says it is the default;
  4. the names asked about (products, identifiers, model numbers, quantities, which a bound or range they fall in
     says: "> 64 GB" for "128G"; not those given as an example, "（比如 sshd）"; in a Chinese question also its Latin words that
     translate to none of the corpus's words, "fluentd") that the unit's context (its passage, heading
     path, document title and the other sources from its document; for a table row, the row, its header and
     headings only, where a name counts only spelled whole: "tuned-profiles-sap-hana" does not name SAP HANA) never
     says: more than Config.max_missing of the question's weight, or any identifier
     ("GRUB_TIMEOUT", "GCM-AES-256"), release ("TDengine V3.2") or name the corpus never uses, a product that neither a table
     row nor the sources from its page name ("Oracle"), a Latin name in a Chinese question that nothing from the
     answer's document (its sources, their headings, its title and path) says ("普通用户 admin"), a word of an
     English question (or part of a hyphenated one: "dpdk-devbind") that is no English word, nor a slip of one, nor
     the corpus's ("the ommysql module"), or a
     parameter asked about ("region 参数") that the unit itself does not name -> refuse; the words that ask for the
     value ("URL" for a link) are no names;
  5. a version that no document is about and no source names ("OpenCloudOS 9.5" when there are 9.0 and 9.2), or a
     release of a name asked about ("CentOS 7") where the answer's passage gives only others ("CentOS8");
  6. a how-to whose answer's page never says Config.max_unsaid_how of the question's weight, in its words or their
     translations ("导出备份" on a page that only sets, changes and deletes boot entries), unless the closest
     passage is as close in meaning as Config.sure_z_how.
`Answer.signals["refused_by"]` names the tests that refused ("answer type", "names missing"…).
An English question over Chinese pages is not refused for its English words: names are judged against the
passage and its aligned original, plain English words in a translated passage's question are not names (a
capitalised one the passage's language has no word for, "Microsoft", still is), and a
word whose Chinese translation (kb/translation.py) the passages use counts as said. The same translations score
a Chinese passage's units, so the sentence that says "卸载" answers "How do I uninstall…"; and a Chinese passage
is measured on the part of the question Chinese can say (an English word nothing translates, "forever", only
English text can). A Chinese question's words are said by their synonyms too (kb/translation.py: 修改 by 更改) when
a unit is chosen, not when it is judged for refusal.
"""
from __future__ import annotations

import itertools
import re
import string
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

from .answer_types import CLAUSES, LOOK_UP, Wanted, asked_type, asking_words, asks, wanted
from .store import Store
from .messages import message
from .questions import defined_in, defines
from .scope import Scopes, Version, conflicts, mentions
from .spelling import corrected, coverage, meant
from .translation import english_words, glossed_alike, synonyms, translations
from .text import ENGLISH_WORD, ITEM_MARK, WEB_ADDRESS, Tokenizer, normalize, split_sentences
from .retrieval import as_hit
from .types import Answer, Citation, Hit

# How a candidate unit scores: the share of the question's weight (idf) it covers, plus these bonuses.
SOURCES = 5                      # units come from the five best sources, ...
RANK_BONUS = (0.15, 0.08, 0.0, -0.05, -0.1)  # ... a little more readily from the better ranked ones,
RETRIEVAL_SHARE = 0.3            # and less from a source the further its retrieval score is below the best's
FITS_BONUS = 0.3                 # a unit that can answer the question's type ("when" -> a date) goes first
SCOPED_BONUS = 0.25              # a unit that names the release the question asks about ("OpenCloud OS 8 中…")
SHAPE_BONUS = 0.25               # "how do I…" prefers a step with its command; "which…" a list or table
HOW_MARGIN = 0.15                # a how-to's best unit is prose naming no option: a step this close in score answers instead
LIST_MARGIN = 0.15               # "哪些…": the best unit is prose that lists nothing: a list from its page this close answers
DEFINES_BONUS = 1.0              # "X 是什么": the sentence that defines X ("X 是…") answers, wherever it ranks
ACTION_SHARE = 3                 # a Chinese how-to's verbs ("打开", "开启") count this much more in choosing the step
CLAUSE_SHARE = 1.5               # the words of the clause that asks, in a question that also tells, count this much more
ASKING_SHARE = 0.5               # the words that ask a typed question's value ("最大"/"多大") count half in choosing a unit
GLOSSED_SHARE = 0.7              # an English word said by another gloss of its Chinese translation counts this much
LEAD_SHARE = 0.3                 # what a lead-in, FAQ question or instruction says counts this much more
PASSAGE_SHARE = 0.5              # words of the unit's passage and heading outside the unit count half
RESTATES = 0.25                  # a sentence with less than this share of its weight outside the question restates it
RESTATE_PENALTY = 0.5            # ... and goes after any that says something
UNSEEN_SOURCES = 3               # words none of the three best sources uses count as unseen
CONTEXT_DIVISOR = 3              # the previous question's words count a third as much as the question's own
# A further sentence joins the answer only if it adds this share of the question's weight not yet covered,
# scores at least this fraction of the best sentence and, for a typed question ("上限是多少"), can give its value
# too: otherwise it is padding.
MIN_GAIN = 0.2
MIN_RELATIVE_SCORE = 0.6
BESIDE_SCORE = 0.8               # ... unless it is next to the best sentence, scores this much of it and adds any
                                 # of the question ("冲突时以哪个为准": "…尝试合并它们。" + "如果存在冲突，则…优先。")
SEE_ALSO = 2                     # an answer also shows up to two more sources as further reading, ...
SEE_ALSO_MARGIN = 1.5            # ... that retrieval scored within this of the best (fused z-score units)
SUBJECT = 20                     # a sentence about X names X within its first characters
SECTION_CHARS = 4000             # the steps a preface leads to are looked for this far after it, ...
PROCEDURE_SHARE = 2              # ... and their instructions may say twice what a prose answer may: they are items
RELATED_MIN_TOKENS = 3           # a refusal's related passages have at least this many words (not headings like "附：")
PER_VERSION = 3                  # a question names a version and one of the 3 best units is about another: see answer()
PAGES_KEPT = 64                  # pages whose text an Answerer keeps at hand (a how-to's refusal reads them)
MAX_ITEMS = 8                    # a list answer gives up to this many items (table rows, answer or command lines)
PRINTED_LINES = 3                # a procedure shows this many lines of what each of its commands prints

# The shape of answer a question asks for: the passage kinds that give it. A how-to asks how, or asks for a command
# ("用什么命令", "which bcc command"); naming one is not asking for one ("后置命令什么时候执行", "命令里的 yourname 要替换成什么").
_SEVERAL = r"哪些|哪几|有哪|\bwhat are\b|\bwhich \w+s\b|\blist\b"      # asks for several things ("which file" asks one)
_SHAPES = {
    ("step",): re.compile(r"怎么|怎样|如何|(?:什么|哪个|哪条|哪些|啥)命令|命令(?:是什么|是啥|怎么写|如何写)|步骤|方法"
                          r"|\bhow (?:do|can|to|should)\b|\b(?:what|which)(?: \w+)? commands?\b|\bcommand looks? like|\bsteps?\b"),
    ("list", "table"): re.compile(_SEVERAL + r"|有什么|什么内容|\bwhich\b|\bwhat \w+s\b"),
}
_PLURAL = re.compile(_SEVERAL)
# "X 和 Y 有什么区别", "the difference between X and Y": X and Y are a word or two each
_COMPARE = re.compile(r"([\w.+-]+(?: [\w.+-]+)?)\s*(?:和|与|跟|同)\s*([\w.+-]+(?: [\w.+-]+)?)\s*(?:之间)?(?:有什么|有何|的)?"
                      r"(?:区别|不同|差别|差异)|difference between (?:the )?([\w.+-]+(?: [\w.+-]+)?) and (?:the )?([\w.+-]+(?: [\w.+-]+)?)")
# Words that ask rather than say what is asked about ("哪几种", "whats", the "mean" of "what does X mean"): no passage
# needs to contain them.
_ASKING = re.compile(r"^(?:哪|什么|多少|几[个种次年]|怎么|怎样|如何|为什么|是否)|^(?:whats?|which|who|how|why|when|where|mean|含义)$")
_LOOKING = re.compile(LOOK_UP)
_CLAUSE = re.compile(r"[；;，,、]\s*")
_ANSWER_MARK = re.compile(r"\s*(?:A\d*|答)\s*[:：]\s*")
# A sentence that says how: by what means, or with a command, option or setting ("通过设置 ForwardToSyslog", "--vacuum")
_HOW = re.compile(r"通过|使用|运行|执行|输入|设置|\b(?:by|using|run|set|use|with)\b|(?<!\w)--?\w|\w=|[a-z][A-Z]|/\w+/")
# Text about the text ("下面过程描述了如何…", "This section describes how to…") and the list of what must hold first
# ("前提条件", "Prerequisites"): a how-to is answered by the step that follows them in their section.
_PREFACE = re.compile(r"(?:下面|以下|下列|本|此|这|该)\w{0,6}?(?:描述|介绍|说明|讲述|演示|展示)了?\w{0,4}?(?:如何|怎样|怎么)"
                      r"|\b(?:this|the following|these|next) (?:\w+ )?(?:section|procedure|chapter|topic|example|step|article)s?"
                      r" (?:describes?|explains?|shows?|demonstrates?|covers?)\b"
                      r"|^\s*(?:此|这个|该|本|以下|下面的?)(?:过程|流程)(?!中)"           # "此过程启用…"
                      r"|^\s*请?(?:使用|按照?|执行)(?:以下|下面的?|下列)(?:步骤|过程|流程)"     # "使用以下步骤将…"
                      r"|^\s*(?:use|follow|complete|perform) the following (?:steps|procedure)\b"
                      r"|^\s*(?:this|the following) procedures? (?!is\b|was\b)[a-z]+s\b", re.I)   # "This procedure enables…"
# Words of opposite sense: a unit that says one where the question says the other answers another question
_OPPOSITES = [("临时", "永久"), ("暂时", "永久"), ("temporary", "permanent"), ("temporarily", "permanently"),
              ("启用", "禁用"), ("enable", "disable"), ("开启", "关闭"), ("安装", "卸载"), ("install", "uninstall"),
              ("加载", "卸载"), ("load", "unload"), ("挂载", "卸载"), ("mount", "unmount"), ("允许", "禁止"),
              ("allow", "deny"), ("最大", "最小"), ("maximum", "minimum"), ("上限", "下限"), ("增加", "减少"),
              ("添加", "删除"), ("启动", "停止"), ("创建", "删除"), ("create", "delete")]
_AFTER_STEPS = re.compile(r"\s*(?:验证|校验|其他资源|相关信息|参考|verif(?:y|ication)|additional resources|next steps?)\s*[:：]?\s*$",
                          re.I | re.M)
_PREREQUISITES = re.compile(r"\s*(?:前提条件|先决条件|前置条件|准备工作|prerequisites?|before you (?:begin|start))\s*[:：]?\s*$", re.I)
# What a prose sentence names that a command carries: an option ("--list-all"), a setting ("ForwardToSyslog"), a key
_CARRIED = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*|[A-Za-z]*[a-z][A-Z]\w*|[A-Za-z]\w*_\w+)")
_KEYED = re.compile(r"([A-Za-z0-9_.=-]+)\s*(?:参数|选项|配置项|字段|标志)|\b([A-Za-z0-9_.=-]+)\s+(?:parameter|option|flag|field)s?\b",
                    re.I)
_DEFAULT_VALUE = re.compile(r"\bwhat(?:'s| is| are) the default\b|\bdefaults? to\b|默认(?:值|的?[\w\s.-]{0,12}?)(?:是|为)(?:什么|多少|哪)",
                            re.I)      # asks what the default is, not what is done by default ("which port… by default")
_DEFAULT = re.compile(r"默认|缺省|(?<![\w/-])defaults?(?![\w/-])", re.I)     # not /etc/default/grub, set-default
_NEEDS = re.compile(r"前提|先决|需要|要求|之前|\b(?:needs?|requires?|required|requirements?|prerequisites?|before)\b", re.I)
_LABELLED = re.compile(r"\s*[^\s:：，,。；;]{1,12}\s*[:：]\s*\S")     # "系统备份：迁移前需要…", "Backup: …"
_LEADS_IN = re.compile(r"[:：]\s*$")      # a sentence that ends in a colon leads into what follows: no answer alone
_WORDY = re.compile(r"[^\W\d_]")         # a unit says something: not a bare "5." left of a numbered item
_PROSE_LINE = re.compile(r"[。．！？；!?;:：,，]\s*$|[\u4e00-\u9fff]{4}")
# A shell prompt before a command: "$ ", root's "# " before a command's name (not "# 注释", "# OC8"), "[user@host dir]# ",
# "user@host:~$ "; and the commands a line of code starts with when it is typed without one
_PROMPT = re.compile(r"\s*(?:\$ |# (?=[a-z./~])|\[[^\]\n]+\][#$]|[\w.-]+@[\w.-]+:\S*[#$] )")
_RUNS = r"sudo |yum |dnf |rpm |pip3? |git |vim? "
_TYPED = re.compile(rf"\s*(?:{_RUNS})")
_COMMAND_LIKE = re.compile(rf"^\s*(?:\$ |# |\[\w+@|{_RUNS})|[=/|<>]")


def is_command(line: str) -> bool:
    """Does this line of a step (after its instruction) read as code rather than as a remark?"""
    return bool(line.strip()) and not _PROSE_LINE.search(line) and not ITEM_MARK.match(line)


def _shell(line: str) -> bool:
    """A command outside a step (in a FAQ answer, among a procedure's lines): code that looks like a shell line."""
    return is_command(line) and bool(_COMMAND_LIKE.search(line))


@dataclass
class Asked:
    """What a typed question asks the value of, read once per question for `Answerer._fits`."""

    wanted: Wanted               # its type, and what never counts as the value (its own numbers)
    subjects: list[set[str]]     # its names, each as tokens ("go" of "OpenCloudOS 9.0 的 Go 是什么版本")
    present: list[set[str]]      # those some source names
    attribute: set[str]          # the asking clause's words, where it names none of them ("默认", "block", "siz")
    content: set[str]            # its words but those that ask, versions and scope names ("nginx" of "Which nginx version…")


@dataclass
class Unit:
    """A candidate answer from one source: a sentence (or clauses) of prose, or the lines of a structured
    passage that answer — a list with its lead-in, a FAQ answer, a step with its command, table rows."""

    score: float                 # question weight covered, plus the rank, fits and shape bonuses
    rank: int                    # which source (0 = the best)
    spans: list[tuple[int, int]]  # character offsets into that source's text; one line each when structured
    tokens: set[str]
    fits: bool                   # can answer the question's type (see `fits`)
    kind: str = "prose"
    code: list[int] = field(default_factory=list)   # which of `spans` are commands
    cut: bool = False            # a window of an over-long sentence: shown with "…"
    lead: tuple[int, int] = (0, 0)   # the span that says what a structured unit is about
    off: bool = False            # about another version than the question asks (kb/scope.py)
    scoped: bool = False         # about a version the question asks
    titled: bool = False         # gives the version asked for by its heading ("GCC 12.2.0"): shown above it
    default: bool = False        # the question asks a default, and this says one (or its heading or lead-in does)

    @property
    def start(self) -> int:
        return self.spans[0][0]

    @property
    def end(self) -> int:
        return self.spans[-1][1]


class Answerer:
    """Picks the answer sentences from retrieved passages (or refuses), with the knowledge base's tokenizer."""

    def __init__(self, index: Store, config, tokenizer: Tokenizer):
        self.index, self.config, self.tokenizer = index, config, tokenizer
        self.scopes = Scopes.of_index(index)
        self.page = lru_cache(PAGES_KEPT)(self._page)     # this index's pages, not another knowledge base's

    @cached_property
    def _opposites(self) -> dict[str, set[str]]:
        """_OPPOSITES as this tokenizer's tokens, both ways round: word -> the words of opposite sense."""
        out: dict[str, set[str]] = {}
        for x, y in [*_OPPOSITES, *((b, a) for a, b in _OPPOSITES)]:
            if word := self.tokenizer.tokenize(x)[:1]:
                out.setdefault(word[0], set()).update(self.tokenizer.tokenize(y)[:1])
        return out

    def _page(self, doc_id: str, lang: str) -> str:
        """A document's title, headings and text in `lang`, with its passages' originals, normalised as tokens are:
        a question word is looked for in it as a substring (a stem, "configur", finds "configure")."""
        ix = self.index
        parts = [" ".join([*c.heading, c.text, ix.original(c) or ""]) for c in ix.between(doc_id, lang, 0, 2**62)]
        return normalize(" ".join([ix.docs[doc_id]["title"], *parts])).lower()

    def answer(self, question: str, lang: str, hits: list[Hit], context: str = "") -> Answer:
        """Compose the answer to `question` from `hits` (best first), or refuse with them as related passages.

        `context` (the previous question of a conversation) counts, at a third of the weight, as part of
        the question, so a follow-up like "那 V9 呢？" is judged as "…兼容 CentOS8 吗？那 V9 呢？".
        """
        cfg, ix, tokenize = self.config, self.index, self.tokenizer.tokenize
        weights = {t: ix.lexicon.idf(t) / CONTEXT_DIVISOR for t in corrected(ix, tokenize(context)) if not _ASKING.match(t)}
        weights.update({t: ix.lexicon.idf(t) for t in corrected(ix, tokenize(question), tokenize(question, True))
                        if not _ASKING.match(t)})
        total = sum(weights.values()) or 1.0
        asked = self.scopes.asked(question)      # the versions it names: scope decides on those, not words
        # and the releases it names of other things, written apart ("CentOS 7", not the device "gretap0")
        releases = [v for v in _releases(question) if v.name not in self.scopes.names and v.said[len(v.name)].isspace()]
        versions = {t for t in tokenize(" ".join(v.said for v in asked)) if any(c.isdigit() for c in t)}
        passages = " ".join(h.text + (h.original or "") for h in hits[:UNSEEN_SOURCES])
        # An English word is seen where the passages use its Chinese translation: the dictionary's ("uninstall" in
        # 卸载) or the site's own (kb/alignment.py: "view" in 查看).
        seen_as: dict[str, list[str]] = {}
        learned = ix.manifest.get("translated", {})
        for phrase, zh in [*translations(question, ix.lexicon).items(),
                           *((w, [learned[w]]) for w in ENGLISH_WORD.findall(question.lower()) if w in learned)
                           ] if lang == "en" else []:
            for token in tokenize(phrase):      # (both give only words the corpus uses)
                seen_as[token] = [*seen_as.get(token, ()), *zh]
        # A Chinese word's synonyms ("修改": 更改), and the homophone a real word was mistyped for ("清楚": 清除), make a
        # unit that says them answer as if it said the word; only in choosing the unit: what the question asks must
        # still be said for it not to be refused.
        typo = meant(ix, list(weights))
        alike = {t: syn for t in weights if (syn := synonyms(t, ix.lexicon) + ([typo[t]] if t in typo else []))}
        # An English word's, less surely: "regular" says what "ordinary" does (both are glosses of 正常)
        glossed = {word: [g for g in tokenize(" ".join(glossed_alike(zh[:1], ix.lexicon))) if g != word]
                   for word, zh in seen_as.items()}
        # A unit that says the opposite of a question's word, and not the word, answers another question ("永久改为
        # permissive" for "临时切到 permissive")
        opposite = {word: others for word, others in self._opposites.items() if word in weights}
        mean, std = ix.manifest.get("null", {}).get(lang, (0.0, 1.0))
        z = (max((h.dense for h in hits), default=0.0) - mean) / std
        low = question.lower()
        qtype, typed = asked_type(question)
        asking = set(tokenize(typed))        # the words that ask it ("是多少版本", "最大…多大")
        # Words that say what is asked ("版本" in "是多少版本", "version") and versions asked need not be in the sources.
        unseen = sum(w * (1 - (1.0 if any(z in passages for z in seen_as.get(t, ())) else coverage(ix, t, passages)))
                     for t, w in weights.items() if t not in versions | asking) / total
        shape = next((kinds for kinds, rx in _SHAPES.items() if rx.search(low)), ())
        defined = defined_in(question, tokenize)
        asks_default = bool(_DEFAULT.search(question))
        # "默认…多少", "what is the default X": only a unit that says it is the default gives that value
        default_value = asks_default and (qtype is not None or bool(_DEFAULT_VALUE.search(question)))
        prerequisites_off = not _NEEDS.search(question) and "step" not in shape
        budget = cfg.max_chars_zh if lang == "zh" else cfg.max_chars_en
        # A Chinese question's Latin words that translate to the corpus's words ("kernel": 内核) are plain words;
        # the others name something ("htop", "fluentd"). (The dictionary is read once per index version.)
        plain = {w for phrase in translations(question, ix.lexicon) for w in phrase.split()} | {
            w for w in ENGLISH_WORD.findall(question.lower()) if w in learned} if lang == "zh" else set()

        def scoping(w: str) -> bool:      # a name documents are scoped by ("OpenCloudOS"), or in the version asked
            return w.lower() in self.scopes.names or any(w in v.said for v in asked)

        def acronym(w: str) -> bool:      # one the corpus never uses, which may be translated ("EOL": 停止维护)
            return w.isalpha() and w.isupper() and not ix.lexicon.seen(w.lower())

        # What a typed question asks the value of ("Go" in "OpenCloudOS 9.0 的 Go 是什么版本"): its names, less the
        # versions and the names documents are scoped by.
        subjects = [t for w in _names_in(question, lang, plain=plain) if qtype and not scoping(w)
                    if (t := set(tokenize(w))) and not asks(w, qtype)]     # not "URL", which asks for a link
        # Those (not numbers) some source names: a unit that names none of them cannot give their value ("GCC 8.5.0" is
        # there, so the kernel's "5.4.119" does not answer for GCC; "EOL", said nowhere, leaves "2021 年底" free).
        arounds = [set(tokenize(h.text + " " + " ".join(h.heading))) for h in hits[:SOURCES]]   # what each source says
        present = [t for t in subjects if any(c.isalpha() for w in t for c in w) and any(t <= a for a in arounds)]

        # A word jieba also splits ("管理网络": 管理, 网络) is said where its pieces are ("管理方式…网络"): segmenting
        # a passage differently from the question does not make it say less.
        pieces = {t: ps for t in weights if not t.isascii() and len(ps := [p for p in weights if p != t and p in t]) > 1
                  and set(t) <= set("".join(ps))}

        def tells(t: str, where) -> bool:    # `where`: a unit's tokens, or a page's text (a stem is found in its word)
            return (t in where or any(z in where for z in seen_as.get(t, ()))
                    or t in pieces and all(p in where for p in pieces[t]))

        # In choosing the unit (loose), the words that ask ("最大…多大") count half: a unit answers by giving the
        # value ("1024 TiB"), not by repeating how it was asked ("最大的优势"). A Chinese how-to's verbs count more:
        # they say what to do ("打开端口": the step "添加端口以打开它", not its sibling "列出端口"). Not a verb that
        # looks up ("查看"): what is looked up decides which step shows it.
        acts = {v for v in self.tokenizer.verbs(question) if not _LOOKING.fullmatch(v)} if lang == "zh" and "step" in shape else set()
        # A question that tells its situation first ("服务器有 DVD 光驱，想用光盘装…，开机的时候要怎么设置？"): the words of
        # the clause that asks count more than those of the situation
        asked_in = set(tokenize(_asking_clause(question, self.tokenizer.tokenize, typed)))
        # A typed question whose asking clause names none of the names it tells its situation with ("用 tar 往磁带设备
        # 里写备份，默认的 block size 是多大"): the value is of what that clause says ("默认", "block size"), and a line
        # saying all of it gives the value, whether or not it names the tool too
        attribute = {t for t in asked_in if t in weights and t not in typed} - set().union(*subjects) if (
            asked_in and not any(t <= asked_in for t in subjects)) else set()      # (the words that ask are in `typed`)
        content = {t for t in weights if t not in versions | set(tokenize(asking_words(typed))) and t not in self.scopes.names
                   } if qtype == "version" else set()       # only a version is looked for in a heading
        target = Asked(wanted(qtype, question), subjects, present, attribute, content)
        share = {t: (ASKING_SHARE if t in asking else 1.0) * (ACTION_SHARE if t in acts else 1.0)
                 * (CLAUSE_SHARE if t in asked_in else 1.0) for t in weights}

        def cover(tokens, loose: bool = False) -> float:      # loose: a synonym says the word too
            return sum(w * (share[t] if loose else 1.0) * (
                1.0 if tells(t, tokens) or loose and any(z in tokens for z in alike.get(t, ()))
                else GLOSSED_SHARE if loose and any(z in tokens for z in glossed.get(t, ())) else 0.0)
                for t, w in weights.items()) / total

        def says(text: str) -> set[str]:      # its words, not its links' ("…/LUKS2-docs/…/luks2_doc_wip.pdf")
            return set(tokenize(WEB_ADDRESS.sub(" ", text)))

        spelled = _names_in(question, lang)         # its names, read as if nothing translated them
        capitalised = {w.lower() for w in spelled if any(c.isupper() for c in w)}

        def by_key(row: str) -> float:
            """1 when the question names this row by its key (first cell), or by another cell that is a capitalised
            name it asks by ("Vim"); 2 when by an identifier key ("node_name"), surer than a word ("agent")."""
            key, *cells = row.split("|")
            if not _names(set(tokenize(key)), weights):
                return 1.0 if any(cell.strip().lower() in capitalised for cell in cells) else 0.0
            return 2.0 if _IDENTIFIER.search(key) and key.strip().lower() in low else 1.0

        def restates(tokens) -> bool:
            own = [ix.lexicon.idf(t) for t in tokens]
            return sum(w for t, w in zip(tokens, own) if t not in weights) < RESTATES * (sum(own) or 1.0)

        # An English question's plain words that nothing translates ("anyone") can be said only in English: a
        # Chinese passage is measured on the part of the question its language can say.
        names_en = set(tokenize(" ".join(spelled))) if lang == "en" else set()
        bare = {t: w for t, w in weights.items() if t not in seen_as and t not in names_en} if lang == "en" else {}
        units = []
        for rank, (h, around) in enumerate(zip(hits, arounds)):
            sayable = total - sum(w for t, w in bare.items() if t not in around) if h.lang != lang and not h.original else total
            scale = total / sayable if sayable > 0 else 1.0
            if prerequisites_off and h.kind == "list" and _PREREQUISITES.match(h.text[:h.lead]):
                continue     # what must hold first answers what is needed, or leads a how-to to its steps
            # A passage that names none of what is asked about, in a section whose other sources name it ("前提条件：
            # - 已安装 rsyslog 服务" before "该模块默认监听 514 端口"): the section is about it, as its heading would say
            section = set().union(*(arounds[j] for j, g in enumerate(hits[:SOURCES]) if j != rank and g.doc_id == h.doc_id
                                    and g.heading == h.heading)) if subjects and not any(t <= around for t in subjects) else set()
            for u in _units(h, budget):
                text = "\n".join(h.text[s:e] for s, e in u.spans)
                toks, keyed = says(text), False
                # What a step's commands print is an example, not what the step says: it counts as the passage does
                if u.kind == "step" and (printed := _output(h.text, [u.spans[i] for i in u.code])):
                    toks = says("\n".join(h.text[s:e] for s, e in u.spans if (s, e) not in printed))
                if u.kind == "table":         # the rows asked about: those that cover the most of the question
                    u.spans = _rows(h, u.spans, lambda row: cover(set(tokenize(row)) | _quantities(spelled, row), True)
                                    + by_key(row))      # "128G": the row "> 64 GB | …"
                    text = "\n".join(h.text[s:e] for s, e in u.spans)
                    toks, keyed = says(text), any(by_key(h.text[s:e]) for s, e in u.spans if s >= h.lead)
                penalty = RESTATE_PENALTY if u.kind == "prose" and (restates(list(toks)) or _LEADS_IN.search(text)) else 0.0
                if any(toks & os and not tells(t, toks) for t, os in opposite.items()):
                    penalty += RESTATE_PENALTY
                said = set(tokenize(h.text[slice(*u.lead)])) if u.kind != "prose" else set()
                if u.kind != "step":          # a list, FAQ or table answers with its lead-in, question or header;
                    toks |= said              # a step with what it shows of its instruction
                u.rank, u.tokens = rank, toks
                u.default = asks_default and bool(_DEFAULT.search(" ".join([*h.heading, text, h.text[slice(*u.lead)]])))
                u.fits = (self._fits(target, u, h, section if u.kind in ("prose", "step") else ())   # a row, an item: a record
                          and (u.default or not default_value))
                about = self.scopes.of(h.doc_id, h.heading, text, h.text) if asked else []
                u.off, u.scoped = conflicts(asked, about), any(v.covers(q) for v in about for q in asked)
                u.score = (scale * (cover(toks, True) + PASSAGE_SHARE * cover(around - toks, True)
                                    + LEAD_SHARE * cover(said, True))
                           + RANK_BONUS[rank] - penalty - RETRIEVAL_SHARE * (hits[0].score - h.score)
                           + (FITS_BONUS if u.fits else 0.0)
                           + (SHAPE_BONUS if u.kind in shape or ("list" in shape and _enumerates(text)) else 0.0)
                           + (DEFINES_BONUS if defines(text, defined, tokenize) else 0.0)
                           + (FITS_BONUS if u.default else 0.0)            # "默认值是什么": "默认值为 /data/test"
                           + (FITS_BONUS if keyed else 0.0)                # "redis 是什么版本": the row "redis | 5.0.3-2"
                           + (SCOPED_BONUS if u.scoped else 0.0))          # it names the release asked about
                units.append(u)
        units.sort(key=lambda u: -u.score)
        other = [u for u in units if u.off]          # about another version than the one asked
        # When one of the best is about another version, the topic is one the docs give per version: only a
        # passage about the version asked may answer, not one that names no version.
        per_version = any(u.off for u in units[:PER_VERSION])
        units = [u for u in units if not u.off and (u.scoped or not per_version)]
        missing, identified, said_here, unsaid_on_page, elsewhere = 0.0, False, 0.0, 0.0, False
        if units:       # the names, numbers and rare words asked about that the answer's context never says
            h = hits[units[0].rank]
            here = units[0].tokens | set(tokenize(" ".join(h.heading)))     # what the unit and its headings say
            said_here = cover(here)
            if "step" in shape:     # a how-to: what its page never says (of the words the corpus uses: see unseen)
                page = self.page(h.doc_id, h.lang)
                unsaid_on_page = sum(w for t, w in weights.items() if ix.lexicon.seen(t) and not tells(t, page)) / total
            # The unit, its passage, heading path and document (its title, and its path: "tcase/task_execute.md"
            # is about TCase where no sentence says so), and the other sources from it; a table row is a record:
            # only what it, its header and headings say.
            around_doc = [part for g in hits if g.doc_id == h.doc_id for part in (g.text, *g.heading, g.document,
                                                                                   g.original or "")]
            around_doc.append(re.sub(r"\.\w+$|[/_.-]", " ", h.doc_id))
            named = _names_in(question, lang, translated=h.lang != lang and not h.original, plain=plain)
            # A capitalised word the passage's language has no word for ("Microsoft") is a name all the same
            if lang == "en" and h.lang != lang and not h.original:
                named += [w for w in spelled if w not in named and not any(t in seen_as for t in tokenize(w))]
            named = [w for w in named if not asks(w, qtype)]    # "URL" asks for a link: a link answers it
            context = " ".join(around_doc)
            doc_said = set(tokenize(context)) | _quantities(named, context)
            said = units[0].tokens | (set(tokenize(" ".join([*h.heading, h.document]))) if units[0].kind == "table"
                                      else doc_said)
            # A row names what its cells spell whole: "tuned-profiles-sap-hana" is a package, not SAP HANA
            if units[0].kind == "table":
                record = " ".join([*h.heading, h.document, *(h.text[s:e] for s, e in units[0].spans)])
                said -= {t for w in named if w.isascii() and not _whole(w, record) for t in tokenize(w)}
                said |= _quantities(named, record)
            names = {t for t in corrected(ix, tokenize(" ".join(w for w in named if not acronym(w)))) if t not in versions}
            # A model number or identifier the answer's context says verbatim ("MCX515A-CCAT") puts it on topic,
            # however far its meaning (a table row of names) is from the question's.
            ids = [set(tokenize(w)) for w in named if any(c.isdigit() for c in w) and len(w) >= 5]
            identified = bool(ids) and all(t <= said for t in ids)
            missing = sum(weights.get(t, 0.0) for t in names if t not in said) / total
            on_page = doc_said | self.scopes.names | seen_as.keys()      # what a table row's page says, or translates
            if any(t in weights and (coverage(ix, t, passages) == 0 or units[0].kind == "table" and not identified
                                     and t not in on_page) for t in names - said):
                missing = 1.0       # a name the corpus never uses ("Elasticsearch"), or that neither a table row nor
                                    # the sources from its page say ("Oracle" for "达梦 | V7"): not given
            if lang == "en" and any((ts := tokenize(w)) and all(coverage(ix, t, passages) == 0 for t in ts) and _coined(w)
                                    for w in _WORD_PART.findall(question.lower())):
                missing = 1.0       # no English word, and no word of the corpus either: it names what the docs do not
                                    # tell of ("the ommysql module", "writethrough mode"), as "Elasticsearch" does
            if any(not set(tokenize(k)) <= units[0].tokens for m in _KEYED.finditer(question) if len(k := m[1] or m[2]) > 1):
                missing = 1.0       # "region 参数", "the master_ip option": the unit itself names the key asked about
            if any(not set(tokenize(w)) <= said for w in named if _IDENTIFIER.search(w)
                   or _RELEASE.fullmatch(w) and not set(tokenize(w)) <= versions):
                missing = 1.0       # an identifier ("GRUB_TIMEOUT", "MCX516A") or a release ("V3.2", "2.35") the context
                                    # never says: it is not about it (a row giving "TDengine | V3.0.4.1" is not about V3.2)
            # "CentOS 7" asked, and the answer's passage tells of "CentOS8" only: another release of what is asked about
            elsewhere = bool(releases) and conflicts(releases, _releases(" ".join([*h.heading, h.text])))
            if lang == "zh" and any(not set(corrected(ix, tokenize(w))) & (said | doc_said) for w in named
                                    if w.isascii() and w.isalpha() and (w.lower() not in english_words() or w[0].isupper())
                                    and not scoping(w) and not acronym(w)):
                missing = 1.0       # a Chinese question's Latin name, no lowercase English word ("hot patch": "Windows"
                                    # is a name) nor an acronym, that nothing from the answer's document says ("普通用户
                                    # admin 的密码", "发送到 Elasticsearch"): the docs tell of something else

        # A version asked that no document is about and no source names ("OpenCloudOS 9.5" when there are 9.0 and 9.2)
        known = self.scopes.versions + [v for h in hits for v in mentions(" ".join([*h.heading, h.text, h.original or ""]))
                                        ] if asked else []
        unknown = [q.said for q in asked if not any(v.covers(q) and v.number.count(".") >= q.number.count(".")
                                                    for v in known)]
        # An English question answered from a Chinese passage: what the unit says of it, not closeness, vouches
        crossed = bool(units) and lang == "en" and hits[units[0].rank].lang != lang and not hits[units[0].rank].original
        vouched = crossed and said_here >= cfg.crossing_said
        # Each test that refuses, by the name `signals["refused_by"]` gives it (the module docstring's 1-6)
        tests = {"no unit": not units, "unknown version": bool(unknown),
                 "far": z < cfg.min_z and not identified and not vouched, "says little": said_here < cfg.min_said,
                 "unseen words": unseen > cfg.max_unseen and z < cfg.sure_z,
                 "answer type": (qtype is not None or default_value) and bool(units) and not units[0].fits,
                 "names missing": missing > cfg.max_missing, "another release": elsewhere,
                 "how-to unsaid": unsaid_on_page > cfg.max_unsaid_how and z < cfg.sure_z_how}
        refused_by = [name for name, failed in tests.items() if failed]
        signals = {"z": round(z, 2), "unseen": round(unseen, 2), "qtype": qtype, "missing": round(missing, 2), "said": round(said_here, 2),
                   "unsaid_on_page": round(unsaid_on_page, 2),
                   **({"unknown": unknown} if unknown else {}), **({"refused_by": refused_by} if refused_by else {})}
        if (not units or unknown) and other:
            return self._out_of_scope(question, lang, asked, [hits[u.rank] for u in other], signals)
        if refused_by:
            related = [h for h in hits if len(tokenize(h.text)) >= RELATED_MIN_TOKENS][:3]
            return Answer(question, message("refused", lang), lang, True, related=_citations(related, {}),
                          signals=signals)

        def text_of(u: Unit) -> str:
            return hits[u.rank].text[u.start:u.end]

        best = units[0]
        if "step" in shape and best.kind == "prose" and not _CARRIED.search(text_of(best)):
            best = next((u for u in units if u.kind == "step" and u.fits and u.score >= best.score - HOW_MARGIN), best)
        if _PLURAL.search(low) and best.kind == "prose" and not _enumerates(text_of(best)):
            best = next((u for u in units if u.kind in ("list", "table") and u.fits and u.score >= best.score - LIST_MARGIN
                         and hits[u.rank].doc_id == hits[best.rank].doc_id), best)
        chosen, covered, length = [best], set(best.tokens), best.end - best.start
        if "step" in shape and best.kind == "prose":     # "…可以配置为转发。" + "这可以通过设置 ForwardToSyslog 来实现。"
            h = hits[best.rank]
            after = next((u for u in units if u.rank == best.rank and u.kind == "prose" and u.start >= best.end
                          and not h.text[best.end:u.start].strip()), None)
            if after and _HOW.search(h.text[after.start:after.end]) and length + after.end - after.start <= budget:
                chosen.append(after)
                covered |= after.tokens
                length += after.end - after.start
        if "step" in shape and (found := self._procedure(best, hits, PROCEDURE_SHARE * budget)):
            best, h = found         # "此节介绍了如何…", "前提条件": the steps after them, with their commands
            hits, best.rank, chosen = [*hits, h], len(hits), [best]
        # "X 和 Y 有什么区别？": what each says of itself, when no one unit names both
        sides = [set(tokenize(side)) for side in m.groups() if side] if (m := _COMPARE.search(low)) else []
        if len(sides) == 2 and all(sides) and not all(side <= best.tokens for side in sides):
            def opens(u: Unit, side: set[str]) -> bool:      # its text (a table's rows, a list's items) names it first
                h = hits[u.rank]
                at = next((a for a, _ in u.spans if a >= h.lead), u.start) if u.kind in ("table", "list") else u.start
                return side <= set(tokenize(h.text[at:at + SUBJECT]))
            def pick(side: set[str], other: set[str]) -> Unit | None:   # the best that opens with its side, else the best
                named = [u for u in units if side <= u.tokens and not other <= u.tokens]
                return next((u for u in named if opens(u, side)), named[0] if named else None)
            a, b = pick(*sides), pick(*sides[::-1])
            if a and b:             # distinct: each names one side without the other
                chosen = [a, b]
        # "迁移前需要做哪些准备？" answered by "系统备份：…": its labelled siblings ("业务评估：…") are the rest of the list
        labelled = "list" in shape and best.kind == "prose" and bool(_LABELLED.match(text_of(best)))
        for u in units[1:] if best.kind == "prose" and len(chosen) == 1 else []:   # a structured unit answers on its own
            if len(chosen) >= cfg.max_sentences:
                break
            gain = sum(w for t, w in weights.items() if t in u.tokens and t not in covered) / total
            overlaps = any(u.rank == c.rank and u.start < c.end and c.start < u.end for c in chosen)
            sibling = labelled and u.rank == best.rank and bool(_LABELLED.match(text_of(u)))
            # the sentence just before or after the best one, with nothing between them
            beside = (u.rank == best.rank and gain > 0 and u.score >= BESIDE_SCORE * best.score
                      and not hits[u.rank].text[min(u.end, best.end):max(u.start, best.start)].strip())
            if (u.kind == "prose" and u.fits and (sibling or beside or gain >= MIN_GAIN and u.score >= MIN_RELATIVE_SCORE * best.score)
                    and not overlaps and length + u.end - u.start <= budget):
                chosen.append(u)
                covered |= u.tokens
                length += u.end - u.start

        if "step" in shape and all(u.kind == "prose" for u in chosen) and (found := self._carried(chosen, hits, budget)):
            step, h = found         # "--list-all 选项显示完整概述。": and the step "# firewall-cmd --list-all" after it
            hits, step.rank, chosen = [*hits, h], len(hits), [*chosen, step]

        order = list(dict.fromkeys(u.rank for u in chosen))          # sources in the order the answer uses them
        number = {r: n for n, r in enumerate(order, 1)}
        spans = {i: [s for u in chosen if u.rank == r for s in u.spans] for i, r in enumerate(order)}
        citations = _citations([hits[r] for r in order], spans)
        # Sources that retrieval ranks nearly as high as the one quoted: shown after it, as further reading.
        also = [h for r, h in enumerate(hits[:SOURCES]) if r not in order and h.score >= hits[0].score - SEE_ALSO_MARGIN
                and len(tokenize(h.text)) >= RELATED_MIN_TOKENS and not any(   # nor a part of one quoted
                    g.doc_id == h.doc_id and g.start <= h.start and h.end <= g.end for g in (hits[r] for r in order))
                ][:SEE_ALSO]
        text, commands, output = _compose(sorted(chosen, key=lambda u: (number[u.rank], u.start)), hits, number, lang)
        return Answer(question, text, lang, False, citations, related=_citations(also, {}, len(order) + 1), signals=signals,
                      commands=commands, output=output)

    def _fits(self, target: Asked, u: Unit, h: Hit, section: Collection[str] = ()) -> bool:
        """Does the unit give the value a typed question asks for, said of what it asks about? On the lines that name
        that (not "- 支持 Go 模块抽象" beside "- 引入库 libpsx 2.64" for "Go 是什么版本"), unless its heading or
        lead-in names it ("GCC 12.2.0" above "- 默认编译的 c++ 版本选项为 17"), or, for a passage that names none of
        it, the other sources of its `section`; or on a line that says all its asking clause says (`target.attribute`).
        A version also in that heading, and first where the heading names a word of the question (`target.content`):
        "### nginx 1.22.1" answers "Which nginx version…", not the "Openssl 3.0" of an item under it."""
        want, subjects = target.wanted, target.subjects
        if want.qtype is None:
            return True
        tokenize = self.tokenizer.tokenize
        lines = [h.text[a:b] for a, b in u.spans]
        on: list[str] = []
        if subjects and want.by_subject:
            above = set(tokenize(" ".join(h.heading) + " " + h.text[slice(*u.lead)])) | set(section)
            on = _naming(lines, [t for t in subjects if not t <= above], tokenize)
            if target.present and not on and not any(t <= above for t in subjects):
                # what is asked about, which another source names, is not named here, nor the asking clause's all
                on = [line for line in lines if len(target.attribute) > 1 and target.attribute <= set(tokenize(line))]
                if not on:
                    return False
        heading = _NUMBERED.sub("", h.heading[-1]) if want.qtype == "version" and not on and h.heading else ""
        title = set(tokenize(heading))
        titled = bool(title) and (not subjects or any(t <= title for t in subjects))
        said = "\n".join(on or lines)
        if titled and title & target.content and want.fits(heading):
            u.titled = True
            return True
        if want.fits(said):
            return True
        u.titled = titled and want.fits(said + "\n" + heading)    # shown with that heading
        return u.titled

    def _procedure(self, u: Unit, hits: list[Hit], budget: int) -> tuple[Unit, Hit] | None:
        """The procedure that a preface, a section's opening paragraph or a prerequisites list `u` leads to, as one
        source: the passages after it in its section (its heading path or below), up to the next preface; their lines
        within the budget (commands aside) and 2 × MAX_ITEMS lines besides what the commands print, of which the first
        PRINTED_LINES each. None when `u` is none of these, or no command follows within that."""
        h, ix = hits[u.rank], self.index
        before = ix.between(h.doc_id, h.lang, max(0, h.start - SECTION_CHARS), h.start)
        opens = (u.kind == "prose" and bool(h.heading) and not (before and before[-1].heading == h.heading)
                 and not _CARRIED.search(h.text[u.start:u.end]))   # one that names an option leads to its step only
        if not (u.kind == "list" and _PREREQUISITES.match(h.text[slice(*u.lead)])
                or _PREFACE.search(h.text[slice(*u.spans[0])]) or opens):
            return None
        after = []
        for c in ix.between(h.doc_id, h.lang, h.end, h.end + SECTION_CHARS):
            if c.heading[:len(h.heading)] != h.heading or _PREFACE.search(c.text) or _AFTER_STEPS.match(c.text):
                break                                   # the section, what the preface is about, or the steps end
            if after or not (c.kind == "list" and _PREREQUISITES.match(c.text[:c.lead])):
                after.append(c)
        if not any(c.kind == "step" for c in after):
            return None
        text, spans, code, left, used, steps = "", [], [], budget, [], 0
        for c in after:
            lines = _line_spans(c.text, 0)
            shell = [(s, e) for s, e in lines if (is_command(c.text[s:e]) and s >= c.lead if c.kind == "step"
                                                  else _shell(c.text[s:e]))]
            prose = sum(e - s for s, e in lines if (s, e) not in shell)
            block = [(s, e) for s, e in lines if s >= c.lead] if c.kind == "step" else shell     # its code
            printed = {line for line in _output(c.text, block)     # what its commands print:
                       if not ITEM_MARK.match(c.text[slice(*line)])}
            if used and (prose > left or steps + len(lines) - len(printed) > 2 * MAX_ITEMS):   # not counted, and
                break                                                                # only its first lines shown
            shown = [line for n, line in enumerate(lines) if line not in printed
                     or not all(m >= 0 and lines[m] in printed for m in range(n - PRINTED_LINES, n))]
            at = len(text) + 1 if text else 0          # one passage a line on from the last
            text += "\n" * bool(text) + c.text
            code += [len(spans) + i for i, line in enumerate(shown) if line in shell]
            spans += [(s + at, e + at) for s, e in shown]
            left, used, steps = left - prose, used + [c], steps + len(lines) - len(printed)
        if not code:
            return None                                 # no command within the budget: no procedure to show
        originals = list(dict.fromkeys(o for c in used if (o := ix.original(c))))
        merged = replace(as_hit(ix, used[0], h.score), text=text, end=used[-1].end, kind="step", lead=0,
                         original="\n".join(originals) or None)
        return Unit(h.score, u.rank, spans, set(self.tokenizer.tokenize(text)), True, "step", code), merged

    def _carried(self, chosen: list[Unit], hits: list[Hit], budget: int) -> tuple[Unit, Hit] | None:
        """The step that carries out what a how-to's prose answer names (see _CARRIED): the first after the best
        unit's passage, in its section (its heading path or below), with a command that says the name."""
        h = hits[chosen[0].rank]
        names = {n for u in chosen if u.rank == chosen[0].rank for n in _CARRIED.findall(h.text[u.start:u.end])}
        if not names:
            return None
        said = re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, names)) + r")(?![\w-])")
        for c in self.index.between(h.doc_id, h.lang, h.end, h.end + SECTION_CHARS):
            if c.heading[:len(h.heading)] != h.heading:
                break
            g = as_hit(self.index, c, h.score)
            for u in _units(g, budget) if c.kind == "step" else []:
                if u.kind == "step" and any(said.search(g.text[slice(*u.spans[i])]) for i in u.code):
                    return u, g
        return None

    def _out_of_scope(self, question: str, lang: str, asked: list[Version], hits: list[Hit], signals: dict) -> Answer:
        """The refusal that says which versions the documents do cover, when none covers the one asked."""
        have = list(dict.fromkeys(q.said[:len(q.said) - len(q.number)] + v.number    # said as the question says it
                                  for h in hits for v in self.scopes.of(h.doc_id, h.heading, h.text)
                                  for q in asked[:1] if not (q.name and v.name) or q.name == v.name))
        join = "、".join if lang == "zh" else ", ".join
        text = message("other_versions", lang, have=join(have), asked=join(dict.fromkeys(v.said for v in asked)))
        related = list({h.chunk_id: h for h in hits}.values())[:3]
        return Answer(question, text, lang, True, related=_citations(related, {}), signals={**signals, "scope": have})


# Identifiers, not words or versions: "GRUB_TIMEOUT", "x86_64", "MCX515A-CCAT", "R3810G5" (not "CentOS8", "V9", "2GB")
_IDENTIFIER = re.compile(r"_|\d[A-Za-z]+\d|[A-Za-z]\d+[A-Za-z]{2,}|\d[A-Za-z]-|[A-Za-z]-\d")
_RELEASE = re.compile(r"[Vv]?\d+(?:\.\d+)+")
_NUMBERED = re.compile(r"^\s*(?:第\s*\d+\s*[章节部分]+|(?:chapter|section)\s+\d+|\d+(?:\.\d+)*)[.、:：\s]*", re.I)  # "1.2 ", "第 46 章"
_EXAMPLE = re.compile(r"(?:比如|例如|譬如|such as|e\.g\.,?|for (?:example|instance),?)[^，,。；;？?！!）)]{1,30}", re.I)
_QUOTED = re.compile(r"[a-z][\w.-]*(?: [a-z][\w.-]*){2,}")
_NAME_WORD = re.compile(r"[A-Za-z0-9][\w.+-]*")
_WORD_PART = re.compile(r"[a-z][a-z0-9]*")     # a word, or each part of a hyphenated one ("dpdk-devbind")
# A quantity: a number and its unit ("10000M", "512MB", "2TB", "100Mbps", "3GHz")
_QUANTITY = re.compile(r"(\d+(?:\.\d+)?)([KMGTP]i?[Bb]?(?:ps|it)?|[KMGT]?Hz|bytes?|bits?)", re.I)


# A bound on a quantity: "> 64 GB", "⩽ 2 GB", "大于 2 TiB", "超过2GB", "64 GB 以上"; and a range, "2 GB – 8 GB"
_ABOVE = re.compile(r"(?:>|≥|⩾|大于|超过|高于|多于)\s*(\d+(?:\.\d+)?)\s*([A-Za-z])(?!\w*\s*[–~-]\s*\d)"
                    r"|(\d+(?:\.\d+)?)\s*([A-Za-z])\w*\s*以上")
_BELOW = re.compile(r"(?:<|≤|⩽|小于|低于|少于|不超过)\s*(\d+(?:\.\d+)?)\s*([A-Za-z])|(\d+(?:\.\d+)?)\s*([A-Za-z])\w*\s*以下")
_BETWEEN = re.compile(r"(\d+(?:\.\d+)?)\s*([A-Za-z])?\w*\s*[–~-]\s*(\d+(?:\.\d+)?)\s*([A-Za-z])")


def _quantities(named: list[str], text: str) -> set[str]:
    """The quantities of `named` ("128G", "10000M") that `text` says: their number in the same unit ("10000 Mbit";
    "2GB" is not said by a "2" alone), or a bound or range of that unit they fall in ("> 64 GB" says 128G)."""
    def bounds(rx: re.Pattern, unit: str) -> list[float]:
        return [float(m[1] or m[3]) for m in rx.finditer(text) if (m[2] or m[4]).lower() == unit]
    out = set()
    for w in named:
        if q := _QUANTITY.fullmatch(w):
            n, unit = float(q[1]), q[2][0].lower()
            if (re.search(rf"(?<![\d.]){re.escape(q[1])}\s*{unit}", text, re.I) or any(n > b for b in bounds(_ABOVE, unit))
                    or any(n < b for b in bounds(_BELOW, unit)) or any(
                        float(m[1]) <= n <= float(m[3]) for m in _BETWEEN.finditer(text)
                        if m[4].lower() == unit and (m[2] or unit).lower() == unit)):
                out.add(w.lower())
    return out


# A thing's release: a name and its number, apart or not ("CentOS 7", "CentOS8", "openssl 3.0.5"). Not kb/scope.py's
# `mentions`, which reads the versions documents are about: those have one or two parts, and allow "V9", "name-9"
# and "name/9", where "--maxrecoveryrate 128" and "rx-frames 128" would read as releases.
_NAMED_RELEASE = re.compile(r"(?<![A-Za-z0-9_.-])([A-Za-z][A-Za-z]+)\s?(\d+(?:\.\d+)*)(?![A-Za-z0-9_.-])")


def _releases(text: str) -> list[Version]:
    return [Version(m[1].lower(), m[2], m[0]) for m in _NAMED_RELEASE.finditer(text)]


def _whole(name: str, text: str) -> bool:
    """Does `text` spell `name` as a name of its own, not as part of a longer one ("python3-test", "x86_64")? A
    hyphenated name is also spelled by its parts, each whole ("Radeon-Pro-5100" by "Radeon Pro WX 5100")."""
    def spelled(word: str) -> bool:
        return bool(re.search(rf"(?<![A-Za-z0-9_.-]){re.escape(word)}(?![A-Za-z0-9_-]|\.\w)", text, re.I))
    return spelled(name) or "-" in name and all(spelled(part) for part in name.split("-") if part)


def _asking_clause(question: str, tokenize, typed: str = "") -> str:
    """The clause a question asks in, when it has several: the last with an asking word ("怎么", "which") or the
    words that ask its type ("多大"); else ""."""
    parts = [c for c in CLAUSES.split(question.lower()) if c.strip()]
    return next((c for c in reversed(parts) if any(_ASKING.match(t) for t in tokenize(c, True)) or typed and typed in c),
                "") if len(parts) > 1 else ""


def _coined(word: str) -> bool:
    """Is it no English word in any inflection ("ommysql", "writethrough"; not "lets", "shipped", "configuring"),
    nor one a slip of the keyboard away from one ("shuold", which the corpus's speller does not mend, as it mends
    no word the corpus does not use)? False when the dictionary is missing."""
    ew = english_words()
    bases = [word] + ([word[:-1], word[:-2], word[:-3], word[:-3] + "e", word[:-3] + "y", word[:-4]]
                      if word.endswith(("s", "ed", "ing")) else [])
    if not ew or any(b in ew for b in bases):
        return False
    halves = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    slips = {a + b[1:] for a, b in halves if b} | {a + b[1] + b[0] + b[2:] for a, b in halves if len(b) > 1} | {
        a + c + b[i:] for a, b in halves for i in (0, 1) if len(b) >= i for c in string.ascii_lowercase}
    return not slips & ew


def _names_in(question: str, lang: str, translated: bool = False, plain: Collection[str] = ()) -> list[str]:
    """The names, versions and numbers a question asks about: words with a digit, a capital past the first letter
    or "_"; in a Chinese question capitalised words and every Latin word of two letters or more but the `plain`
    ones ("htop", "fluentd": a Chinese writer spells in Latin letters what has no Chinese name, but "kernel",
    "hot patch" translate); in an English one those with a capital not opening the question, unless the passage
    is in the other language (which translates them)."""
    out = _QUOTED.findall(question) if lang == "zh" else []       # an error message quoted in a Chinese question
    question = _EXAMPLE.sub(lambda m: " " * len(m[0]), question)   # "（比如 sshd）": an instance of what is asked about
    for m in _NAME_WORD.finditer(question):
        w = m.group(0)
        if (any(c.isdigit() for c in w) or any(c.isupper() for c in w[1:]) or "_" in w
                or (lang == "zh" and (w[0].isupper() or len(w) > 1 and w.lower() not in plain))
                or (w[0].isupper() and not translated and question[:m.start()].strip())):
            out.append(w)
    return out


def _naming(lines: list[str], names: list[set[str]], tokenize) -> list[str]:
    """The lines that name the most of `names` (each a set of tokens); none when no line names any."""
    counts = [sum(t <= set(tokenize(line)) for t in names) for line in lines]
    top = max(counts, default=0)
    return [line for line, c in zip(lines, counts) if c == top] if top else []


# Things listed after a colon ("典型特性包括：A、B、C"), or three or more joined by 、 ("分为成功、跳过、失败…六种")
_ENUMERATION = re.compile(r"[:：][^。！？!?]*?(?:[、，,；;][^、，,；;。]+){2,}|(?:[^、。！？；;\s]{1,12}、){2,}[^、。！？；;\s]")


def _enumerates(text: str) -> bool:
    """A sentence that lists things (see _ENUMERATION): it answers "which…" like a list does."""
    return bool(_ENUMERATION.search(text))


def _units(h: Hit, budget: int) -> list[Unit]:
    """The candidate answers in one passage (unscored)."""
    text, lead = h.text, h.lead
    body = _line_spans(text, lead) if lead or h.kind != "prose" else []
    units = [Unit(0.0, 0, spans, set(), False, kind, code, lead=said)
             for kind, spans, code, said in _structured(h, body, budget)]
    start = lead if h.kind == "faq" else 0          # never the question of a FAQ
    for s, e in _sentences(text, start):
        if (m := ITEM_MARK.match(text, s)) and m.end() < e:      # an item's sentence without its "- " or "1."
            s = m.end()
        if not _WORDY.search(text[s:e]) or (is_command(text[s:e]) and h.kind == "step"):
            continue                                           # a command is shown with its instruction
        for cs, ce, cut in ([(s, e, False)] if e - s <= budget else _clause_windows(text, s, e, budget)):
            units.append(Unit(0.0, 0, [(cs, ce)], set(), False, cut=cut))
    return units


def _structured(h: Hit, body: list[tuple[int, int]], budget: int):
    """(kind, spans, command indices, lead span) for the structured units of a passage: see the module docstring."""
    text, lead = h.text, h.lead
    head = [(s, e) for s, e in _line_spans(text[:lead], 0)] if lead else []

    def listed(spans):    # a list's lines and which are commands ("- 为 enp1s0 启用…：" over "# ip link set …"), unindented
        shell = [_shell(text[s:e]) for s, e in spans]
        return ([(e - len(text[s:e].lstrip()), e) if c else (s, e) for (s, e), c in zip(spans, shell)],
                [i for i, c in enumerate(shell) if c])
    if h.kind == "list" and body:
        tops = [i for i, (s, e) in enumerate(body) if not text[s].isspace()]
        if len(body) <= MAX_ITEMS or len(tops) == len(body):  # a long nested list answers by its sub-lists
            yield "list", *listed(head + body[:MAX_ITEMS]), (0, lead)
        for a, b in zip(tops, tops[1:] + [len(body)]):
            if b - a > 1:                                     # an item with sub-items leads into them
                yield "list", *listed(body[a:min(b, a + 1 + MAX_ITEMS)]), body[a]
    elif h.kind == "faq" and body:
        if m := _ANSWER_MARK.match(text, body[0][0]):       # "A：" / "答：" is not part of the answer
            body = [(m.end(), body[0][1])] * (m.end() < body[0][1]) + body[1:]
        code = {(s, e) for s, e in body if _shell(text[s:e])}
        body = _within(text, body[:MAX_ITEMS], code, budget)
        yield "faq", body, [i for i, span in enumerate(body) if span in code], (0, lead)
    elif h.kind == "step" and body:
        # A line that is no command right above the commands ("查看内核版本号", then "# uname -r") is what they do
        # ...unless another remark leads into commands further down: alternatives ("启用…：", "禁用…：", each over its
        # command), which answer together, as a list
        remark = body[:1] if len(body) > 1 and not is_command(text[slice(*body[0])]) and is_command(
            text[slice(*body[1])]) and not any(_LEADS_IN.search(text[s:e]) for s, e in body[2:]) else []
        run = []
        for s, e in body[len(remark):]:
            if not is_command(text[s:e]) or len(run) >= MAX_ITEMS:
                break
            run.append((s, e))
        if run:
            said = _sentences(text[:lead], 0)[-2:] if lead else []     # what the command does, on one line
            if said and ("\n" in text[said[0][0]:said[-1][1]] or said[-1][1] - said[0][0] > budget):
                said = said[-1:]
            instruction = remark or ([(said[0][0], said[-1][1])] if said else [])
            yield "step", instruction + run, list(range(len(instruction), len(instruction) + len(run))), (0, lead)
            # A remark among the commands that leads into the next ones ("按 CPU 和命令排序：" between two `perf
            # top` lines) is their instruction: each such remark and the commands under it are a step of their own.
            rest = body[len(remark) + len(run):]
            for i, (s, e) in enumerate(rest):
                if is_command(text[s:e]) or not text[s:e].rstrip().endswith((":", "：")):
                    continue
                under = list(itertools.takewhile(lambda span: is_command(text[slice(*span)]), rest[i + 1:i + 1 + MAX_ITEMS]))
                if under:
                    yield "step", [(s, e), *under], list(range(1, 1 + len(under))), (s, e)
        else:                                                 # an instruction with items, not commands, under it
            yield "list", head + body[:MAX_ITEMS], [], (0, lead)
    elif h.kind == "table" and body:
        yield "table", head + body, [], (0, lead)         # narrowed to the rows asked about by _rows


def _rows(h: Hit, spans: list[tuple[int, int]], cover) -> list[tuple[int, int]]:
    """A table unit's caption and column names, with the rows that name or cover the most of the question
    (up to MAX_ITEMS, in their order); the first rows when none says more than the others."""
    head = [(s, e) for s, e in spans if s < h.lead]
    rows = [(s, e) for s, e in spans if s >= h.lead]
    scores = [cover(h.text[s:e]) for s, e in rows]
    top = max(scores, default=0.0)
    picked = [r for r, c in zip(rows, scores) if c >= top - 1e-9] if top > 0 else rows
    return head + picked[:MAX_ITEMS]


def _within(text: str, lines: list[tuple[int, int]], code: set, budget: int) -> list[tuple[int, int]]:
    """The first lines whose prose (commands aside) fits the budget; a line that does not fit gives the whole
    sentences of it that do (at least one)."""
    out, left = [], budget
    for s, e in lines:
        if (s, e) in code:
            out.append((s, e))
            continue
        if e - s > left:
            fit = [(a, b) for a, b in _sentences(text[:e], s) if b - s <= left] or _sentences(text[:e], s)[:1] * (not out)
            out += [(s, fit[-1][1])] if fit else []
            break
        out.append((s, e))
        left -= e - s
    return out


def _names(key: set[str], weights: dict) -> float:
    """1 when the question names this row by its key (first cell), whatever that key's words weigh."""
    return 1.0 if key and key <= weights.keys() else 0.0


def _line_spans(text: str, start: int) -> list[tuple[int, int]]:
    out, pos = [], start
    for line in text[start:].split("\n"):
        if line.strip():
            out.append((pos, pos + len(line.rstrip())))
        pos += len(line) + 1
    return out


def _sentences(text: str, start: int) -> list[tuple[int, int]]:
    """Sentence spans of text[start:], a semicolon not ending one: a clause after it belongs to the same."""
    out: list[tuple[int, int]] = []
    for s, e in split_sentences(text[start:]):
        s, e = s + start, e + start
        if out and text[out[-1][1] - 1] in "；;" and "\n" not in text[out[-1][1]:s]:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _clause_windows(text: str, s: int, e: int, budget: int) -> list[tuple[int, int, bool]]:
    """Contiguous runs of clauses of an over-long sentence that fit the answer's length budget (cut=True)."""
    bounds = sorted({s, e, *(m.end() + s for m in _CLAUSE.finditer(text[s:e]))})
    out = []
    for i in range(len(bounds) - 1):
        for j in range(i + 1, len(bounds)):
            if bounds[j] - bounds[i] > budget:
                break
            out.append((bounds[i], bounds[j]))
    if not out:
        out.append((s, s + budget))
    return [(a, b - (len(text[a:b]) - len(text[a:b].rstrip(" ，,、；;：:"))), b < e) for a, b in out]


def _compose(units: list[Unit], hits: list[Hit], number: dict[int, int],
             lang: str) -> tuple[str, list[str], list[str]]:
    """The answer text with [n] markers, its command lines and the lines those commands printed. Prose runs on; a
    structured unit's lines each stand on their own line, its marker after the first line that is not code."""
    parts, commands, output = [], [], []
    for u in units:
        text, mark = hits[u.rank].text, f"[{number[u.rank]}]" if lang == "zh" else f" [{number[u.rank]}]"
        heading = hits[u.rank].heading[-1] if hits[u.rank].heading else ""
        if u.kind == "prose":
            title = heading + ("：" if lang == "zh" else ": ") if u.titled else ""
            parts.append(title + text[u.start:u.end] + ("…" if u.cut else "") + mark)
            continue
        lines, code = [text[s:e] for s, e in u.spans], u.code
        if u.titled or len(code) == len(lines):      # the version's heading, or what commands alone do: above them
            lines, code = [heading] + lines, [i + 1 for i in code]
        lines[next(i for i in range(len(lines)) if i not in code)] += mark
        printed = _printed([lines[i] for i in code])
        commands += [lines[i] for n, i in enumerate(code) if n not in printed]
        output += [lines[i] for n, i in enumerate(code) if n in printed]
        parts.append("\n".join(line for line in lines if line))
    sep = "" if lang == "zh" else " "
    return (sep if all(u.kind == "prose" for u in units) else "\n").join(parts), commands, output


def _output(text: str, code: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """The spans, of those of `text`'s code lines, that a command printed (see _printed)."""
    return {code[n] for n in _printed([text[s:e] for s, e in code])}


def _printed(code: list[str]) -> set[int]:
    """Which of a unit's code lines a command printed: where a command is typed after a shell prompt
    ("# firewall-cmd --list-all", "[root@host ~]# uname -r", "$ ls"), the lines after it that carry none and do not
    continue it (after a trailing backslash) are its output ("public", "5.4.119-19") or the lines of a file it opened
    ("vim x.conf", then "blacklist cdrom"). Code without a prompt is all commands (a script's lines), and so is a
    line that starts with a command ("# OC8", a comment, over "yum install …")."""
    if not any(_PROMPT.match(line) for line in code):
        return set()
    out, going = set(), False
    for n, line in enumerate(code):
        if _PROMPT.match(line) or going or _TYPED.match(line):
            going = line.rstrip().endswith("\\")
        else:
            out.add(n)
    return out


def _citations(hits: list[Hit], spans: dict[int, list[tuple[int, int]]], first: int = 1) -> list[Citation]:
    """Hits as Citations numbered from `first`, each quoting the spans the answer used of it (none: unquoted)."""
    out = []
    for i, h in enumerate(hits):
        used = spans.get(i, [])
        qs, qe = min((s for s, _ in used), default=0), max((e for _, e in used), default=0)
        rows = [n for n, (s, e) in enumerate(h.rows) if any(a < e and s < b for a, b in used)]
        out.append(Citation(n=first + i, text=h.text, quote=h.text[qs:qe], document=h.document, score=h.score,
                            original=h.original, url=h.url, date=h.date, doc_id=h.doc_id, para_id=h.para_id,
                            lang=h.lang, heading=h.heading, quote_start=qs, quote_end=qe, kind=h.kind, lead=h.lead,
                            rows=rows))
    return out


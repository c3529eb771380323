"""The Gradio chat: branded header, bilingual labels with a switch, example questions, cited answers, 👍/👎, embed mode.

A question travels in three steps so the page never waits silently:
  `show_question` (the question and a "looking it up" bubble)  ->  `ask` (kb.ask; the public "/ask" endpoint,
  queued, so the rate limit and the bounded queue apply)  ->  `redraw` (the cited answer in that bubble).
With an LLM configured, `ask` also streams the model's text into the bubble while it writes.

Each visitor's chat has two pieces of state:
  session: {"history": earlier questions, "answered": {message index: Answer dict} for 👍/👎,
            "chat": which conversation (New chat counts up), "open": the index of the newest waiting bubble or None}
  bubble:  what a waiting bubble shows next: {"chat", "at": index, "phase": "writing", "text", "lang"} or
           {"chat", "at", "phase": "done", "answer": Answer}; each change redraws that bubble.
"""
from __future__ import annotations

import base64
import json
import mimetypes
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from pathlib import Path

import gradio as gr

from . import render
from .errors import KbError, QuestionError
from .feedback import FeedbackUnavailable, record_feedback
from .messages import message
from .text import detect_language

LANGS = [("中文", "zh"), ("English", "en")]
MAX_LOGO_BYTES = 512_000
LOGO_TYPES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".ico"}

# Steps that only move text around skip Gradio's queue: a plain request each, and no event stream for the page
# load to race with (Gradio's frontend can drop a stream that closes just as the next event joins it).
# None of them reaches the engine: only `ask` does, and it is queued.
_QUICK = dict(api_visibility="private", queue=False, show_progress="hidden")

# Runs in the browser before the page's first event: the UI language is ?lang=, else the browser's language.
_DETECT_LANG = """(current) => {
  const asked = new URLSearchParams(window.location.search).get("lang") || navigator.language || "en";
  return [asked.toLowerCase().startsWith("zh") ? "zh" : "en"];
}"""


def theme() -> gr.themes.Base:
    """A calm indigo theme on the system's own fonts (no web-font downloads; CJK falls back to Noto/PingFang/YaHei)."""
    return gr.themes.Soft(primary_hue="indigo", secondary_hue="indigo", neutral_hue="slate",
                          font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Noto Sans CJK SC",
                                "PingFang SC", "Microsoft YaHei", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"])


def css() -> str:
    """The chat's stylesheet (kb/data/ui.css)."""
    return resources.files("kb").joinpath("data/ui.css").read_text(encoding="utf-8")


def head() -> str:
    """Markup for the page's <head>: embed-mode flag, [n] links that scroll in place, overload messages."""
    said = {key: {lang: message(f"ui_{key}", lang, s="{s}") for lang in ("zh", "en")}
            for key in ("rate_limited", "overloaded")}
    return resources.files("kb").joinpath("data/ui-head.html").read_text(encoding="utf-8").replace(
        "/*KB_MESSAGES*/{}", json.dumps(said, ensure_ascii=False))


# ------------------------------------------------------------------ branding

@dataclass
class Branding:
    """What the page says about itself, per UI language."""

    title: dict[str, str]
    subtitle: dict[str, str]
    logo: str = ""                                   # an <img> src: a data: URI or an http(s) URL
    examples: dict[str, list[str]] = field(default_factory=dict)


def branding(cfg, docs: dict) -> Branding:
    """KB_TITLE, KB_SUBTITLE, KB_LOGO and KB_EXAMPLES; what is not set is said about the corpus itself.

    Args:
        cfg: the Config.
        docs: the index's document metadata (id -> {"title", "lang", "translation_of", ...}).
    """
    topic = corpus_topic([d.get("title") or "" for d in docs.values()])
    originals = [d for d in docs.values() if not d.get("translation_of")] or list(docs.values())
    title, subtitle = {}, {}
    for lang in ("zh", "en"):
        named_topic = message("ui_title_topic", lang, topic=topic) if topic else message("ui_title", lang)
        title[lang] = cfg.title or named_topic
        if cfg.subtitle:
            subtitle[lang] = cfg.subtitle
            continue
        named = next((d for d in docs.values() if d.get("lang") == lang), originals[0] if originals else None)
        name = _short((named or {}).get("title") or "")
        key = "ui_subtitle" if not name else "ui_subtitle_one" if len(originals) == 1 else "ui_subtitle_many"
        subtitle[lang] = message(key, lang, n=len(originals), title=name)
    examples = read_examples(Path(cfg.examples) if cfg.examples else Path(cfg.corpus) / ".examples.txt",
                             required=bool(cfg.examples))
    return Branding(title, subtitle, logo_src(cfg.logo), examples)


def corpus_topic(titles: list[str]) -> str:
    """The words every document title starts with ("OpenCloudOS 8.5"), or "" when they share none."""
    words = [t.split() for t in titles if t.strip()]
    if len(words) < 2:
        return ""
    common = []
    for same in zip(*words):
        if len(set(same)) > 1:
            break
        common.append(same[0])
    return " ".join(common).strip(" -–—:|·,，、：")


def read_examples(path: Path, required: bool = True) -> dict[str, list[str]]:
    """Example questions from a text file, one a line (# starts a comment), by language: {"zh": [...], "en": [...]}."""
    if not path.is_file():
        if required:
            raise KbError(f"example questions file not found: {path} "
                          "(KB_EXAMPLES takes a text file, one question a line)")
        return {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise KbError(f"cannot read the example questions in {path} ({e}): save it as UTF-8 text") from None
    out: dict[str, list[str]] = {"zh": [], "en": []}
    for line in lines:
        q = line.strip()
        if q and not q.startswith("#"):
            out[detect_language(q)].append(q[:200])
    return out


def logo_src(logo: str) -> str:
    """KB_LOGO as an <img> src: an http(s) URL as given, an image file inlined as a data: URI (so it also shows
    inside other sites' pages, and needs no route of its own)."""
    if not logo:
        return ""
    if render.is_web_address(logo):
        return logo
    path = Path(logo).expanduser()
    if path.suffix.lower() not in LOGO_TYPES or not path.is_file():
        raise KbError(f"logo not found or not an image: {logo} (KB_LOGO takes an image file "
                      f"({', '.join(sorted(LOGO_TYPES))}) or an http(s) URL)")
    if path.stat().st_size > MAX_LOGO_BYTES:
        raise KbError(f"logo {logo} is over {MAX_LOGO_BYTES // 1000} kB: use a smaller image for KB_LOGO")
    kind = "image/svg+xml" if path.suffix.lower() == ".svg" else mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _short(title: str, limit: int = 60) -> str:
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


# ------------------------------------------------------------------ the chat's steps

def _session(chat: int = 0) -> dict:
    return {"history": [], "answered": {}, "chat": chat, "open": None}


class Chat:
    """The chat's event handlers for one KnowledgeBase; every input and output is a component's value."""

    def __init__(self, kb, cfg, brand: Branding):
        self.kb, self.cfg, self.brand = kb, cfg, brand
        self.feedback_path = cfg.data_path / cfg.feedback_file
        self.streams = getattr(kb, "llm", None) is not None   # without a model there is nothing to watch grow

    # --- what the page shows in each language
    def header_html(self, lang: str) -> str:
        logo = (f'<img class="kb-logo" src="{escape(self.brand.logo)}" alt="" referrerpolicy="no-referrer">'
                if self.brand.logo else "")
        progress = getattr(self.kb, "indexing", None)      # vectors still being made (kb/progressive.py)
        indexing = (f'<div class="kb-subtitle kb-indexing-note" role="status">'
                    f'{escape(message("indexing_note", lang, pct=int(100 * progress)))}</div>'
                    if progress is not None else "")
        return (f'<div class="kb-brand">{logo}<div><div class="kb-title">{escape(self.brand.title[lang])}</div>'
                f'<div class="kb-subtitle">{escape(self.brand.subtitle[lang])}</div>{indexing}</div></div>')

    def examples(self, lang: str) -> list[dict]:
        other = "en" if lang == "zh" else "zh"
        return [{"text": q} for q in (self.brand.examples.get(lang) or self.brand.examples.get(other) or [])[:4]]

    @staticmethod
    def welcome_html(lang: str) -> str:
        return f'<div class="kb-welcome">{escape(message("ui_welcome", lang))}</div>'

    @staticmethod
    def footer_html(lang: str) -> str:
        return f'<div class="kb-footer">{escape(message("ui_footer", lang))}</div>'

    def relabel(self, lang: str):
        """Every label, placeholder, example and button in the chosen language."""
        return (self.header_html(lang),
                gr.update(placeholder=message("ui_placeholder", lang), label=message("ui_question", lang)),
                gr.update(value=message("ui_new_chat", lang)),
                gr.update(placeholder=self.welcome_html(lang), examples=self.examples(lang)),
                self.footer_html(lang))

    # --- step 1
    def show_question(self, question: str, messages: list, session: dict):
        """The question and a placeholder bubble. A question kb cannot take gets no bubbles and stays in the box;
        `ask` then shows the engine's own message for it."""
        q = (question or "").strip()
        if not q or len(q) > self.cfg.max_question_chars:
            return gr.skip(), gr.skip(), question, gr.skip()
        messages = list(messages or []) + [
            {"role": "user", "content": render.question_html(q)},
            {"role": "assistant", "content": render.thinking_html(detect_language(q[:500]))},
        ]
        return messages, "", q, {**session, "open": len(messages) - 1}

    # --- step 2
    def ask(self, question: str, session: dict):
        """Answer a question with cited sources, or refuse; returns the REST API's Answer shape."""
        session = session or _session()
        where = {"chat": session["chat"], "at": session["open"]}
        text, lang, ans = "", detect_language((question or "")[:500]), None
        try:
            for item in self.kb.ask_stream(question, history=session["history"][-10:]):
                if not isinstance(item, str):
                    ans = item
                elif self.streams:
                    text += item
                    yield gr.skip(), gr.skip(), {**where, "phase": "writing", "text": text, "lang": lang}
        except QuestionError as e:
            raise gr.Error(str(e)) from None
        assert ans is not None, "ask_stream ends with the Answer"
        session = {**session, "history": session["history"] + [ans.question]}
        yield ans.to_dict(), session, {**where, "phase": "done", "answer": ans}

    # --- step 3
    @staticmethod
    def redraw(bubble: dict | None, messages: list, session: dict):
        """A waiting bubble follows `bubble`: the growing text, then the cited answer. Nothing is drawn into another
        conversation (New chat was clicked meanwhile) or over an answer already there."""
        bubble = bubble or {}
        at = bubble.get("at")
        messages = list(messages or [])
        if at is None or bubble["chat"] != session["chat"] or at >= len(messages) or at in session["answered"]:
            return gr.skip(), gr.skip()
        if bubble["phase"] == "writing":
            messages[at] = {"role": "assistant", "content": render.draft_html(bubble["text"], bubble["lang"])}
            return messages, gr.skip()
        ans = bubble["answer"]
        messages[at] = {"role": "assistant", "content": render.answer_html(ans, at)}
        opened = None if session["open"] == at else session["open"]
        return messages, {**session, "open": opened, "answered": {**session["answered"], at: ans.to_dict()}}

    @staticmethod
    def take_back(messages: list, question: str, session: dict):
        """`ask` refused the question (its message is on screen): drop its bubbles, give it back to edit."""
        messages = list(messages or [])
        if session.get("open") is not None and session["open"] == len(messages) - 1:
            messages = messages[:-2]
        return messages, question, {**session, "open": None}

    # --- around the conversation
    def vote(self, session: dict, lang: str, data: gr.LikeData):
        """👍/👎 on an answer: appended to the feedback file, and a thank-you that says it was recorded."""
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        answered = session.get("answered", {})
        ans = answered.get(index) or answered.get(str(index))
        if ans is None or data.liked not in (True, False):
            return
        try:
            record_feedback(self.feedback_path, "up" if data.liked else "down", ans, max_mb=self.cfg.feedback_max_mb)
        except FeedbackUnavailable:     # logged once by record_feedback; the voter is told, nothing breaks
            gr.Warning(message("feedback_unavailable", lang), duration=5)
            return
        gr.Info(message("ui_thanks_up" if data.liked else "ui_thanks_down", lang), duration=3)

    @staticmethod
    def new_chat(session: dict):
        return [], _session(session["chat"] + 1), None, ""

    @staticmethod
    def pick_example(evt: gr.SelectData) -> str:
        return evt.value["text"] if isinstance(evt.value, dict) else str(evt.value)

    def opening(self, lang: str, request: gr.Request):
        """On page load: the detected language, the host page's opening question (?q=), and the header as it is now
        (it says how far indexing is while vectors are still being made)."""
        q = ((request.query_params.get("q") or "") if request else "").strip()
        return lang, q or gr.skip(), self.header_html(lang)    # no question, no change: nothing joins the queue


# ------------------------------------------------------------------ before the page: while the index is built

_INDEXING_PAGE = """<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta http-equiv="refresh" content="5"><title>kb</title><style>
body {{ margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center; background: #f8fafc;
  font-family: ui-sans-serif, system-ui, "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif; }}
.kb-indexing {{ max-width: 30em; padding: 24px; text-align: center; color: #475569; line-height: 1.7; }}
.kb-indexing b {{ display: block; font-size: 1.2rem; color: #1e293b; }}
</style></head><body><div class="kb-indexing" role="status"><p lang="zh"><b>{zh_title}</b>{zh}</p>
<p lang="en"><b>{en_title}</b>{en}</p></div></body></html>"""


def indexing_app():
    """What a visitor gets while the corpus is being embedded: a page that says "indexing…" and looks again every
    5 s (it keeps its address, so ?q= and ?embed= survive), and a 503 with Retry-After for the API and /healthz."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    said = {f"{lang}{part}": escape(message(key, lang)) for lang in ("zh", "en")
            for part, key in (("_title", "ui_indexing_title"), ("", "ui_indexing"))}
    page = _INDEXING_PAGE.format(**said)

    async def waiting(request):
        headers = {"Retry-After": "5", "Cache-Control": "no-store"}
        if request.url.path.startswith(("/api/", "/healthz", "/gradio_api/")) or request.method != "GET":
            return JSONResponse({"status": "indexing", "detail": f'{said["zh"]} / {said["en"]}'}, 503, headers)
        return HTMLResponse(page, 503, headers)

    return Starlette(routes=[Route("/{path:path}", waiting, methods=["GET", "HEAD", "POST"])])


class WhileIndexing:
    """`with WhileIndexing(sock):` serves `indexing_app` on the listening socket until the block ends, then gives the
    socket back untouched for the real app."""

    def __init__(self, sock):
        import threading

        import uvicorn
        self.sock = sock.dup()   # the temporary server closes its own copy; the listening socket stays open
        self.server = uvicorn.Server(uvicorn.Config(indexing_app(), log_level="warning", lifespan="off",
                                                    timeout_graceful_shutdown=1, proxy_headers=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


# ------------------------------------------------------------------ the page

def build_ui(kb, config=None) -> gr.Blocks:
    """The chat page for a KnowledgeBase; mount it with gr.mount_gradio_app (see kb.web.create_app).

    Args:
        kb: an open KnowledgeBase.
        config: serving settings (branding, question limit, feedback file); default: kb.config.
    Raises:
        KbError: KB_LOGO or KB_EXAMPLES names a file that is missing or unusable.
    """
    cfg = config or kb.config
    chat = Chat(kb, cfg, branding(cfg, kb.index.docs))
    with gr.Blocks(title=chat.brand.title["en"], fill_height=True, analytics_enabled=False) as demo:
        with gr.Row(elem_classes="kb-header", equal_height=True):
            header = gr.HTML(chat.header_html("en"), elem_classes="kb-header-text", scale=1, min_width=240)
            new_chat = gr.Button(message("ui_new_chat", "en"), elem_id="kb-new-chat", variant="secondary",
                                 size="sm", scale=0, min_width=0)
            lang = gr.Radio(LANGS, value="en", show_label=False, container=False, elem_id="kb-lang",
                            scale=0, min_width=0)
        chatbot = gr.Chatbot(
            elem_id="kb-chat", show_label=False, scale=1, height=None, min_height=200,
            render_markdown=False, sanitize_html=True, latex_delimiters=[], buttons=[],
            feedback_options=("Like", "Dislike"), placeholder=chat.welcome_html("en"), layout="bubble",
            examples=chat.examples("en"),
        )
        box = gr.Textbox(elem_id="kb-question", show_label=False, label=message("ui_question", "en"),
                         placeholder=message("ui_placeholder", "en"), submit_btn=True, lines=1, max_lines=6,
                         autofocus=True)
        footer = gr.HTML(chat.footer_html("en"), elem_classes="kb-footer-wrap")

        pending = gr.Textbox(visible=False)            # the question being answered (an input of "/ask")
        opening = gr.Textbox(visible=False)            # the host page's opening question
        answer_json = gr.JSON(visible=False)           # what "/ask" returns: Answer.to_dict()
        session = gr.State(_session())
        bubble = gr.State(None)

        step1 = dict(fn=chat.show_question, inputs=[box, chatbot, session], outputs=[chatbot, box, pending, session],
                     **_QUICK)
        step2 = dict(inputs=[pending, session], outputs=[answer_json, session, bubble], show_progress="hidden")
        undo = dict(fn=chat.take_back, inputs=[chatbot, pending, session], outputs=[chatbot, box, session], **_QUICK)

        # Only the box's chain is the public "/ask" endpoint; the others are the page's own.
        box.submit(**step1).success(chat.ask, **step2, api_name="ask").failure(**undo)
        chatbot.example_select(chat.pick_example, None, [box], **_QUICK).then(**step1) \
            .success(chat.ask, **step2, api_visibility="private").failure(**undo)
        # The host page's opening question (?q=) changes `opening`, and is asked like a typed one; a page without
        # one changes nothing, so it costs no place in the queue.
        demo.load(chat.opening, [lang], [lang, opening, header], js=_DETECT_LANG, **_QUICK)
        opening.change(**{**step1, "inputs": [opening, chatbot, session]}) \
            .success(chat.ask, **step2, api_visibility="private").failure(**undo)

        # One redraw at a time, the newest last ("always_last"): the cited answer is always the final picture.
        bubble.change(chat.redraw, [bubble, chatbot, session], [chatbot, session], **_QUICK, trigger_mode="always_last")
        chatbot.like(chat.vote, [session, lang], None, api_visibility="private")   # queued: its toast needs the stream
        new_chat.click(chat.new_chat, [session], [chatbot, session, bubble, box], **_QUICK)
        lang.change(chat.relabel, [lang], [header, box, new_chat, chatbot, footer], **_QUICK)
    return demo

"""The Gradio chat: bilingual labels with a switch, clickable examples, cited answers, 👍/👎, embed mode.

A question travels in three steps so the page never waits silently:
  show the question and a "looking it up" bubble  ->  kb.ask (the public "/ask" endpoint)  ->  the cited answer.
With an LLM configured, step 2 also streams the model's text into the bubble while it writes (see `draft`).
"""
from __future__ import annotations

import itertools
from html import escape
from importlib import resources

import gradio as gr

from . import render
from .errors import QuestionError
from .feedback import record_feedback
from .messages import message
from .text import detect_language

LANGS = [("中文", "zh"), ("English", "en")]
_turns = itertools.count()   # makes every finished answer a change of `draft`, even one equal to the last

# Steps that only move text around skip Gradio's queue: a plain request each, and no event stream for the page
# load to race with (Gradio's frontend can drop a stream that closes just as the next event joins it).
_QUICK = dict(api_visibility="private", queue=False)

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
    """Markup for the page's <head>: embed-mode flag and [n] links that scroll to their card in place."""
    return resources.files("kb").joinpath("data/ui-head.html").read_text(encoding="utf-8")


def build_ui(kb, config=None) -> gr.Blocks:
    """The chat page for a KnowledgeBase; mount it with gr.mount_gradio_app (see kb.web.create_app).

    Args:
        kb: an open KnowledgeBase.
        config: serving settings (examples, question limit, feedback file); default: kb.config.
    """
    cfg = config or kb.config
    feedback_path = cfg.data_path / cfg.feedback_file

    def header_html(lang: str) -> str:
        return (f'<div class="kb-title">{escape(message("ui_title", lang))}</div>'
                f'<div class="kb-subtitle">{escape(message("ui_subtitle", lang))}</div>')

    def welcome_html(lang: str) -> str:
        return f'<div class="kb-welcome">{escape(message("ui_welcome", lang))}</div>'

    def footer_html(lang: str) -> str:
        return f'<div class="kb-footer">{escape(message("ui_footer", lang))}</div>'

    with gr.Blocks(title="kb", fill_height=True, analytics_enabled=False) as demo:
        with gr.Row(elem_classes="kb-header", equal_height=True):
            header = gr.HTML(header_html("en"), elem_classes="kb-header-text", scale=1, min_width=240)
            new_chat = gr.Button(message("ui_new_chat", "en"), elem_id="kb-new-chat", variant="secondary",
                                 size="sm", scale=0, min_width=0)
            lang = gr.Radio(LANGS, value="en", show_label=False, container=False, elem_id="kb-lang",
                            scale=0, min_width=0)
        chat = gr.Chatbot(
            elem_id="kb-chat", show_label=False, scale=1, height=None, min_height=320,
            render_markdown=False, sanitize_html=True, latex_delimiters=[], buttons=[],
            feedback_options=("Like", "Dislike"), placeholder=welcome_html("en"), layout="bubble",
            examples=[{"text": q} for q in cfg.examples],
        )
        box = gr.Textbox(elem_id="kb-question", show_label=False, label=message("ui_question", "en"),
                         placeholder=message("ui_placeholder", "en"), submit_btn=True, lines=1, max_lines=6,
                         autofocus=True)
        footer = gr.HTML(footer_html("en"), elem_classes="kb-footer-wrap")

        pending = gr.Textbox(visible=False)            # the question being answered (an input of "/ask")
        answer_json = gr.JSON(visible=False)           # what "/ask" returns: Answer.to_dict()
        history = gr.State([])                         # earlier questions, oldest first, for follow-ups
        answer = gr.State(None)                        # the Answer of this turn
        # What the answer bubble shows: {"text": ...} while the model writes, then {"done": n} for the cited answer.
        # Every bubble redraw follows its changes, so a late redraw of the growing text never covers the answer.
        draft = gr.State(None)
        answered = gr.State({})                        # chat message index -> Answer dict, for 👍/👎

        def show_question(question: str, messages: list):
            """Step 1: the question and a placeholder bubble. A question kb cannot take gets no bubbles and stays in
            the box; step 2 then shows the engine's own message for it."""
            q = (question or "").strip()
            if not q or len(q) > cfg.max_question_chars:
                return gr.skip(), gr.skip(), question, None
            messages = list(messages or []) + [
                {"role": "user", "content": render.question_html(q)},
                {"role": "assistant", "content": render.thinking_html(detect_language(q[:500]))},
            ]
            return messages, "", q, None

        streams = getattr(kb, "llm", None) is not None   # without a model there is nothing to watch grow

        def ask(question: str, earlier: list):
            """Answer a question with cited sources, or refuse; returns the REST API's Answer shape."""
            text, lang = "", detect_language(question[:500])
            try:
                for item in kb.ask(question, history=earlier or [], stream=True):
                    if not isinstance(item, str):
                        ans = item
                    elif streams:
                        text += item
                        yield gr.skip(), gr.skip(), gr.skip(), {"text": text, "lang": lang}
            except QuestionError as e:
                raise gr.Error(str(e)) from None
            yield ans.to_dict(), list(earlier or []) + [ans.question], ans, {"done": next(_turns)}

        def redraw(now: dict | None, ans, messages: list, log: dict):
            """Step 3 (and the growing text before it): the placeholder bubble follows `draft`."""
            messages = list(messages or [])
            turn = len(messages) - 1
            content = str(messages[turn].get("content")) if turn >= 0 else ""
            if not now or ("kb-thinking" not in content and "kb-draft" not in content):
                return gr.skip(), gr.skip()
            if "text" in now:
                messages[turn] = {"role": "assistant", "content": render.draft_html(now["text"], now["lang"])}
                return messages, gr.skip()
            if ans is None:
                return gr.skip(), gr.skip()
            messages[turn] = {"role": "assistant", "content": render.answer_html(ans, turn)}
            return messages, {**log, turn: ans.to_dict()}

        def take_back(messages: list, question: str):
            """Step 2 refused the question (its message is on screen): drop its bubbles, give it back to edit."""
            messages = list(messages or [])
            if messages and "kb-thinking" in str(messages[-1].get("content")):
                messages = messages[:-2]
            return messages, question

        def ask_chain(event, public: bool):
            """Steps 2 and 3 after step 1; only one chain is the public "/ask" endpoint."""
            step2 = event.success(ask, [pending, history], [answer_json, history, answer, draft], show_progress="hidden",
                                  api_name="ask" if public else None,
                                  api_visibility="public" if public else "private")
            step2.failure(take_back, [chat, pending], [chat, box], **_QUICK, show_progress="hidden")

        # One redraw at a time, the newest last ("always_last"): the cited answer is always the final picture.
        draft.change(redraw, [draft, answer, chat, answered], [chat, answered], **_QUICK, show_progress="hidden",
                     trigger_mode="always_last")

        step1 = dict(fn=show_question, inputs=[box, chat], outputs=[chat, box, pending, answer],
                     **_QUICK, show_progress="hidden")
        ask_chain(box.submit(**step1), public=True)

        def pick_example(evt: gr.SelectData):
            return evt.value["text"] if isinstance(evt.value, dict) else str(evt.value)

        ask_chain(chat.example_select(pick_example, None, [box], **_QUICK).then(**step1), public=False)

        def on_feedback(log: dict, ui_lang: str, data: gr.LikeData):
            index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
            ans = log.get(index) or log.get(str(index))
            if ans is None or data.liked not in (True, False):
                return
            record_feedback(feedback_path, "up" if data.liked else "down", ans)
            gr.Info(message("ui_thanks", ui_lang), duration=2)

        chat.like(on_feedback, [answered, lang], None, api_visibility="private")   # queued: its toast needs the stream
        new_chat.click(lambda: ([], [], {}, ""), None, [chat, history, answered, box], **_QUICK)
        chat.clear(lambda: ([], {}), None, [history, answered], **_QUICK)

        def relabel(ui_lang: str):
            """Every label, placeholder and button in the chosen language."""
            return (header_html(ui_lang),
                    gr.update(placeholder=message("ui_placeholder", ui_lang), label=message("ui_question", ui_lang)),
                    gr.update(value=message("ui_new_chat", ui_lang)),
                    gr.update(placeholder=welcome_html(ui_lang)),
                    footer_html(ui_lang))

        lang.change(relabel, [lang], [header, box, new_chat, chat, footer], **_QUICK,
                    show_progress="hidden")

        def opening(ui_lang: str, request: gr.Request):
            """On page load: the detected language, and the answer to the host page's opening question (?q=)."""
            q = (request.query_params.get("q") or "").strip() if request else ""
            if not q:
                return ui_lang, gr.skip(), gr.skip(), gr.skip()
            try:
                ans = kb.ask(q[: cfg.max_question_chars])
            except QuestionError:
                return ui_lang, gr.skip(), gr.skip(), gr.skip()
            messages = [{"role": "user", "content": render.question_html(ans.question)},
                        {"role": "assistant", "content": render.answer_html(ans, 1)}]
            return ui_lang, messages, [ans.question], {1: ans.to_dict()}

        demo.load(opening, [lang], [lang, chat, history, answered], js=_DETECT_LANG, **_QUICK,
                  show_progress="minimal")
    return demo

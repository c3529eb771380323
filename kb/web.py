"""The web server: one ASGI app with the REST API under /api/v1, the Gradio chat at /, and the embedding rules.

    uvicorn.run(create_app(), host="127.0.0.1", port=7860)     # what `python app.py` and `kb serve` do
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import signal
import socket
import threading
from pathlib import Path
from typing import Literal
from urllib.parse import urlencode

import gradio as gr   # the chat's Blocks turn Gradio's analytics off (ui.build_ui), so nothing phones home
from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from . import __version__, spelling, ui
from .config import Config
from .connections import connection_limits, protocol, quiet_logs
from .errors import KbError, QuestionError, QuestionTooLong
from .feedback import CAPS as FEEDBACK_CAPS
from .feedback import MAX_CITATIONS, MAX_RECORD_BYTES, FeedbackTooLarge, FeedbackUnavailable, record_feedback
from .guard import SecurityHeaders, both, guards

# Searched once before serving: loads the query model and the dictionary (kb/translation.py; a Chinese word reads
# it), jieba's tagger (a Chinese how-to's verbs) and the corpus words' pinyin (typos), so the first visitor's answer
# is as quick as the rest.
WARM_UP = "warm up 预热"


def _warm(kb) -> None:
    kb.search(WARM_UP)
    kb.tokenizer.verbs(WARM_UP)
    spelling.prepare(kb.index)
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:\d{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


def create_app(kb=None, config: Config | None = None) -> FastAPI:
    """The whole web face of a knowledge base as one ASGI app.

    Args:
        kb: an open KnowledgeBase; default: KnowledgeBase.open(config=config).
        config: serving settings (allowed origins, question limit, data folder); default: kb.config.
    Returns:
        A FastAPI app: REST under /api/v1, /healthz, /docs, /embed, and the Gradio chat at /.
    """
    if kb is None:
        from .base import KnowledgeBase
        kb = KnowledgeBase.open(config=config)
    cfg = config or kb.config
    origins = allowed_origins(cfg.allowed_origins)
    app = FastAPI(title="kb", version=__version__, docs_url=None, redoc_url=None,
                  description="Ask a Chinese/English knowledge base; every answer cites its source passages. "
                              "The chat UI at / is the same engine (Gradio endpoint `/ask`).")
    for middleware, options in guards(cfg):   # inside CORS, so a portal page can read its 429, 413 or 504
        app.add_middleware(middleware, **options)
    # Gradio sees this CORSMiddleware and leaves CORS to it, so one list governs the API and the chat alike.
    app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials="*" not in origins,
                       allow_methods=["GET", "POST"], allow_headers=["*"], max_age=600)
    app.add_middleware(SecurityHeaders, frame_ancestors=" ".join(["'self'", *origins]) if "*" not in origins else "*")
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(api_router(kb, cfg))
    _add_docs(app)

    @app.get("/healthz", tags=["status"])
    def healthz() -> dict:
        """200 once the index is loaded, with what it holds; `indexing` while vectors are still being made."""
        kb.refresh()
        now = kb.serving
        m, progress = now.index.manifest, now.progress
        return {"status": "ok", "documents": m.get("documents"), "chunks": m.get("chunks"),
                "embedder": m.get("embedder"), "built": m.get("built"), "index": now.index.version, "version": __version__,
                "indexing": None if progress is None else
                {"progress": round(progress, 2), "detail": both("indexing_note", pct=math.floor(100 * progress))}}

    @app.get("/embed", include_in_schema=False)
    def embed(request: Request) -> RedirectResponse:
        """The chat without page chrome, for an iframe; ?q= opens with a question, ?lang=zh|en sets the UI."""
        query = urlencode({**request.query_params, "embed": "1"})
        return RedirectResponse(f"{request.scope.get('root_path', '')}/?{query}", status_code=307)

    @app.get("/gradio.js", include_in_schema=False)
    def gradio_js() -> FileResponse:
        """Gradio's <gradio-app> web component, at a stable address for host pages (it loads /assets/...)."""
        return FileResponse(Path(gr.__file__).parent / "templates" / "frontend" / "gradio.js",
                            media_type="text/javascript")

    # A bounded queue, and no way around it: api_open=False closes Gradio's direct /run/ route to queued events.
    demo = ui.build_ui(kb, cfg).queue(max_size=cfg.queue_size, default_concurrency_limit=cfg.queue_concurrency,
                                      api_open=False)
    # Gradio keeps every visitor's session (~40 kB of page state, more with a long chat) up to this many.
    demo.state_session_capacity = cfg.chat_sessions
    return gr.mount_gradio_app(app, demo, path="/", server_name=cfg.host, server_port=cfg.port,
                               footer_links=["api", "gradio"], theme=ui.theme(), css=ui.css(), head=ui.head(),
                               ssr_mode=False, mcp_server=False, run_history=False, show_error=not cfg.production)


def serve(config: Config, progress: bool = True) -> None:
    """Build or load the index (progress bar on the terminal), log the address, and serve until Ctrl-C.

    Args:
        config: everything, including host and port (port 0 picks a free one).
        progress: show a progress bar while the index builds.
    """
    import uvicorn

    from .base import KnowledgeBase
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C (SIGINT) stops kb with "kb: stopped" even where kb was started with it ignored (a script's
        # background job inherits that): uvicorn stops on it either way, and would then exit without a word.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    log = logging.getLogger("kb")
    if not log.handlers and not logging.getLogger().handlers:   # run as a script: show kb's own lines only
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("kb: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    # Take the port first: a clash is reported before the index build, not after it.
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as e:
        raise KbError(f"cannot listen on {config.host}:{config.port} ({e.strerror}): stop the other server or "
                      "choose another port with --port or KB_PORT") from None
    sock.listen(2048)   # from "ready" on, a connection waits in the backlog instead of being refused
    with ui.WhileIndexing(sock):   # meanwhile visitors see "indexing…" and the API says 503, instead of waiting silently
        # Any build happens here, once, before workers start; a long one goes on in the background (kb/progressive.py).
        kb = KnowledgeBase.open(config=config, progress=progress, lexical_first=True)
        _warm(kb)
    app = create_app(kb) if config.workers <= 1 else None
    port = sock.getsockname()[1]
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(config.host, f"[{config.host}]" if family == socket.AF_INET6
                                                         else config.host)
    log.info("ready at http://%s:%d/  (REST API: /api/v1, docs: /docs; Ctrl-C stops)", shown, port)
    options = uvicorn_options(config)
    quiet_logs()
    if config.workers <= 1:
        uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])
        return
    # Worker processes share the listening socket and the read-only index: its arrays are memory-mapped,
    # so the page cache holds one copy for all of them; each loads the model (~100 MB) and the app itself.
    from uvicorn.supervisors import Multiprocess
    os.environ["KB_SERVE_CONFIG"] = config.to_json()
    # A worker imports Gradio and loads the model before it can answer uvicorn's health check: on a busy
    # machine that takes longer than uvicorn's 5 s, and a worker killed for it would be restarted for ever.
    Multiprocess(uvicorn.Config("kb.web:_worker_app", factory=True, workers=config.workers,
                                timeout_worker_healthcheck=120, **options), sockets=[sock]).run()


def uvicorn_options(config: Config) -> dict:
    """How `serve` runs uvicorn: kb's connection guards (kb/connections.py) and quiet, rate-limited logs."""
    # Open chat tabs hold event streams; do not let them keep Ctrl-C waiting.
    # proxy_headers off: kb alone decides whose X-Forwarded-For to believe (Config.trusted_proxies, kb/guard.py).
    # No limit_concurrency: uvicorn counts half-open connections against it and would answer everyone 503;
    # GuardedH11 closes the longest-waiting connection instead.
    connections, backlog = connection_limits(config.max_connections)
    return dict(log_level="warning", timeout_graceful_shutdown=3, proxy_headers=False, server_header=False,
                http=protocol(config.header_timeout, connections), backlog=backlog, timeout_keep_alive=5,
                h11_max_incomplete_event_size=16 * 1024)


def _worker_app() -> FastAPI:
    """The app of one worker process of `serve` with workers > 1 (uvicorn imports it by name)."""
    from .base import KnowledgeBase
    quiet_logs()
    kb = KnowledgeBase.open(config=Config(**json.loads(os.environ["KB_SERVE_CONFIG"])), progress=False,
                            lexical_first=True)
    _warm(kb)
    return create_app(kb)


# ------------------------------------------------------------------ API docs, offline

def _add_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc with their scripts served by kb itself, so they work with no network."""
    import fastapi_offline   # ships Swagger UI's and ReDoc's files; its own FastAPI wrapper is not used
    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} API",
                                   swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
                                   swagger_favicon_url=f"{root}/docs-assets/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} API",
                              redoc_js_url=f"{root}/docs-assets/redoc.standalone.js",
                              redoc_favicon_url=f"{root}/docs-assets/favicon.png", with_google_fonts=False)


# ------------------------------------------------------------------ REST

class AskRequest(BaseModel):
    question: str = Field(description="The question, Chinese or English.", examples=["What is cgroupfs?"])
    k: int | None = Field(None, ge=1, le=50, description="Sources to consider (default 5).")
    history: list[str] = Field(default_factory=list, max_length=50,
                               description="Earlier questions of the conversation, oldest first, for follow-ups.")


class FeedbackCitation(BaseModel):
    """What feedback keeps of a citation (other keys of an Answer's citation are accepted and dropped)."""
    n: int | None = None
    document: str | None = Field(None, max_length=FEEDBACK_CAPS["document"])
    doc_id: str | None = Field(None, max_length=FEEDBACK_CAPS["doc_id"])
    para_id: str | int | None = None
    quote: str | None = Field(None, max_length=FEEDBACK_CAPS["quote"])


class FeedbackRequest(BaseModel):
    rating: Literal["up", "down"]
    question: str = Field(max_length=FEEDBACK_CAPS["question"])
    answer: str = Field("", max_length=FEEDBACK_CAPS["answer"], description="The answer text that was rated.")
    citations: list[FeedbackCitation] = Field(default_factory=list, max_length=MAX_CITATIONS)
    comment: str | None = Field(None, max_length=FEEDBACK_CAPS["comment"])


def api_router(kb, cfg: Config) -> APIRouter:
    """POST /ask, POST /ask/stream, GET /search, POST /feedback under /api/v1."""
    r = APIRouter(prefix="/api/v1", tags=["api"])

    def asked(call):
        try:
            return call()
        except QuestionError as e:
            raise HTTPException(413 if isinstance(e, QuestionTooLong) else 422, str(e)) from None

    @r.post("/ask")
    def ask(body: AskRequest) -> dict:
        """Answer in the question's language with cited sentences, or refuse with related passages.

        Returns the Answer shape: question, text (with [n] markers), language, refused, citations
        (n, text, quote, quote_start, quote_end, document, date, url, original, ...), related (a refusal's related
        passages, or an answer's further reading: unquoted, numbered after the citations), mode, seconds, commands
        (the lines of text to run), output (code lines not to run: what a command printed, or a file's lines) and
        read_as (the question as kb read it where it mended a slip, "tumed" as tuned; else "").
        """
        history = [h[: cfg.max_question_chars] for h in body.history[-10:]]
        return asked(lambda: kb.ask(body.question, k=body.k, history=history).to_dict())

    # A plain function, not a generator, so that a bad question is still a 4xx JSON answer.
    @r.post("/ask/stream", response_class=StreamingResponse, responses={200: {
        "description": "Server-sent events: `delta` … `answer` `done`.",
        "content": {"text/event-stream": {"example": _SSE_EXAMPLE}}}})
    def ask_stream(body: AskRequest):
        """/ask as server-sent events: the answer's text as it is written, then the checked answer.

        Events: `delta` with `{"text": piece}` as pieces arrive (with an LLM configured, the model's raw text;
        without one, the extractive answer once); then one `answer` with the same shape as /ask (the final word:
        renumbered citations, or the extractive answer with `signals.fallback` when the model's text failed the
        checks); then `done`. A bad question is a 4xx JSON error, as for /ask; a failure after the stream has
        begun is an `error` event with `{"message": ...}` that ends it.
        """
        history = [h[: cfg.max_question_chars] for h in body.history[-10:]]
        events = kb.ask_stream(body.question, k=body.k, history=history)
        first = asked(lambda: next(events))   # the question is checked before the stream starts
        return StreamingResponse(_sse(first, events), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @r.get("/search")
    def search(q: str = Query(description="Words or a question."), k: int = Query(5, ge=1, le=50)) -> dict:
        """The k source passages that best match q (aligned translations merged into one hit)."""
        hits = asked(lambda: kb.search(q, k=k))
        return {"query": q, "hits": [h.to_dict() for h in hits]}

    @r.post("/feedback", status_code=201)
    def feedback(body: FeedbackRequest) -> dict:
        """Record 👍 ("up") or 👎 ("down") on an answer, appended to the feedback JSONL file."""
        answer = {"question": body.question, "text": body.answer, "citations": [c.model_dump() for c in body.citations]}
        try:
            rec = record_feedback(cfg.data_path / cfg.feedback_file, body.rating, answer, body.comment, source="api",
                                  max_mb=cfg.feedback_max_mb)
        except FeedbackTooLarge:
            raise HTTPException(413, both("feedback_too_large", limit=MAX_RECORD_BYTES)) from None
        except FeedbackUnavailable as e:
            logging.getLogger("kb").warning("%s", e)
            raise HTTPException(503, both("feedback_unavailable")) from None
        return {"ok": True, "time": rec["time"]}

    return r


_SSE_EXAMPLE = ('event: delta\ndata: {"text": "cgroupfs is container resource view isolation"}\n\n'
                'event: delta\ndata: {"text": " [1]."}\n\n'
                'event: answer\ndata: {"question": "What is cgroupfs?", "text": "…", "citations": [...], '
                '"mode": "generative", ...}\n\nevent: done\ndata: {}\n\n')


def _sse(first, rest):
    """kb.ask_stream's items as server-sent events; a failure midway ends the stream with an `error` event."""
    def event(name: str, data: dict) -> bytes:   # JSON escapes newlines, so the data is always one line
        return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()

    def items():
        yield first
        yield from rest

    try:
        for x in items():
            yield event("delta", {"text": x}) if isinstance(x, str) else event("answer", x.to_dict())
        yield event("done", {})
    except KbError as e:
        yield event("error", {"message": str(e)})
    except Exception:   # a bug must not show the asker a traceback; the server log has it
        logging.getLogger("kb").exception("streaming an answer failed")
        yield event("error", {"message": "Internal error while answering."})
    finally:
        rest.close()   # a client that hangs up stops the model too


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 (400 for a body that is not JSON) with one readable sentence in "detail" and the specifics in "errors"."""
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return JSONResponse({"detail": "The request body is not valid JSON."}, status_code=400)
    first = errors[0] if errors else {}
    if tuple(first.get("loc", ())) == ("body",):
        return JSONResponse({"detail": 'The request body must be a JSON object, e.g. {"question": "What is cgroupfs?"}.'},
                            status_code=422)
    where = ".".join(str(x) for x in first.get("loc", ()) if x not in ("body", "query"))
    detail = f"{where}: {first.get('msg', 'invalid')}" if where else first.get("msg", "Invalid request.")
    brief = [{k: e[k] for k in ("type", "loc", "msg") if k in e} for e in errors]
    return JSONResponse({"detail": detail, "errors": jsonable_encoder(brief)}, 422)


# ------------------------------------------------------------------ embedding rules

def allowed_origins(origins: list[str]) -> list[str]:
    """KB_ALLOWED_ORIGINS checked and normalised: each is scheme://host[:port], or "*" for any site."""
    out = []
    for o in origins:
        o = o.strip().rstrip("/")
        if o != "*" and not _ORIGIN.fullmatch(o):
            raise KbError(f"allowed origin {o!r} is not a site origin: write it like https://portal.example.com "
                          "(scheme, host and optional port; no path), comma-separated in KB_ALLOWED_ORIGINS")
        out.append(o)
    return out

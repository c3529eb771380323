"""The `kb` command line: build, ask, search, eval, serve. Heavy modules are imported per command."""
from __future__ import annotations

import json
import logging
import sys

import click

from .errors import KbError


class _OneLine(logging.Formatter):
    def format(self, record):
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"kb: {level}{record.getMessage()}"


def _setup_logging(quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    log = logging.getLogger("kb")
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False


def _remember(ctx, param, value):
    """Keep a shared option's value; given after the command it wins over the same option given before it."""
    if value is not None and value is not False:
        ctx.meta.setdefault("kb.settings", {})[param.name] = value


# Taken both before and after the command: `kb --corpus docs ask "…"` and `kb ask --corpus docs "…"`.
_SHARED: list[tuple[list[str], dict]] = [
    (["--corpus"], dict(type=click.Path(file_okay=False), help="Corpus folder [./corpus; KB_CORPUS].")),
    (["--index", "index_dir"], dict(type=click.Path(file_okay=False),
                                    help="Index folder [.kb/<corpus name> beside the corpus; KB_INDEX_DIR].")),
    (["--embedder"], dict(help="'e5' (bundled, default) or 'st:<model name or path>' [KB_EMBEDDER].")),
    (["--llm-base-url"], dict(help="OpenAI-compatible server for generative answers, e.g. "
                                   "http://127.0.0.1:11434/v1 [KB_LLM_BASE_URL; off when unset].")),
    (["--llm-model"], dict(help="Model name on that server [KB_LLM_MODEL].")),
    (["--llm-api-key"], dict(help="API key for that server [KB_LLM_API_KEY].")),
    (["-q", "--quiet"], dict(is_flag=True, help="No progress bars or info lines.")),
]


def _shared() -> list[click.Option]:
    """The shared options, for the group and for each command; their values land in ctx.meta via _remember."""
    return [click.Option(decls, expose_value=False, callback=_remember, **options) for decls, options in _SHARED]


def _settings(ctx) -> dict:
    return dict(ctx.meta.get("kb.settings", {}))


def _quiet(ctx) -> bool:
    return bool(_settings(ctx).get("quiet"))


def _config(ctx, **more):
    """Defaults, then KB_* environment variables, then the command line's options (the shared ones too)."""
    from .config import Config
    settings = _settings(ctx)
    _setup_logging(bool(settings.pop("quiet", False)))
    return Config.from_env(**settings, **more)


def _open(ctx, config=None, **kwargs):
    from .base import KnowledgeBase
    config = config or _config(ctx)
    return KnowledgeBase.open(config=config, progress=not _quiet(ctx), **kwargs)


class _Command(click.Command):
    """A command whose KbError (bad corpus, bad question, unreachable model…) is one line, not a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KbError as e:
            raise click.ClickException(str(e)) from None


class _Group(click.Group):
    """Its commands are _Commands and take the shared options too (after the command's name)."""

    def command(self, *args, **kwargs):
        make = super().command(*args, cls=_Command, **kwargs)

        def decorator(f):
            command = make(f)
            command.params += _shared()
            return command
        return decorator


@click.group(cls=_Group, params=_shared(), context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kb")
def cli():
    """kb: ask a Chinese/English knowledge base; answers cite their sources.

    --corpus, --index, --embedder, --llm-* and -q may come before or after the command.
    """


@cli.command()
@click.option("--strict", is_flag=True, help="Fail when any corpus file cannot be used, instead of skipping it.")
@click.pass_context
def build(ctx, strict):
    """Build (or rebuild) the index from the corpus folder."""
    config = _config(ctx, strict=strict or None)
    logging.getLogger("kb").setLevel(logging.WARNING)   # the line below says what was indexed; warnings still show
    kb = _open(ctx, config, rebuild=True)
    m = kb.index.manifest
    click.echo(f"indexed {m['chunks']} chunks from {m['documents']} documents into {kb.index.stats().where}"
               + (f" ({len(kb.problems)} file(s) skipped)" if kb.problems else ""))


@cli.command()
@click.argument("question")
@click.option("-k", type=int, default=None, help="Sources to consider [5].")
@click.option("--json", "as_json", is_flag=True, help="Print the Answer as JSON (the REST API's shape).")
@click.pass_context
def ask(ctx, question, k, as_json):
    """Answer QUESTION with cited sources, or say the knowledge base does not cover it."""
    kb = _open(ctx)
    ans = kb.ask(question, k=k)
    if as_json:
        click.echo(json.dumps(ans.to_dict(), ensure_ascii=False, indent=2))
        return
    from .messages import message
    if ans.read_as:
        click.echo(click.style(message("read_as", ans.language, question=ans.read_as), dim=True))
    for line in ans.text.split("\n"):     # commands and their output indented as code (coloured on a terminal)
        click.echo(click.style(f"    {line}", fg="cyan") if line in ans.commands or line in ans.output else line)
    for title, cards in ((None, ans.citations), ("related" if ans.refused else "see_also", ans.related)):
        if cards:
            click.echo()
            if title:
                click.echo(message(title, ans.language))
        for c in cards:
            click.echo(f"[{c.n}] {c.document} ({c.doc_id} {c.para_id})" if not title else f"- {c.document} ({c.para_id})")
            click.echo(f"    {c.text}")
            if c.original:
                click.echo(f"    原文: {c.original}")


@cli.command()
@click.argument("query")
@click.option("-k", type=int, default=5, show_default=True, help="Number of sources.")
@click.option("--json", "as_json", is_flag=True, help="Print hits as JSON.")
@click.pass_context
def search(ctx, query, k, as_json):
    """Show the source passages that best match QUERY."""
    kb = _open(ctx)
    hits = kb.search(query, k=k)
    if as_json:
        click.echo(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=2))
        return
    for i, h in enumerate(hits, 1):
        click.echo(f"{i}. [{h.score:.4f}] {h.document} ({h.doc_id} {h.para_id})\n   {h.text}")


@cli.command("eval")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--by", "by", multiple=True, type=click.Choice(["lang", "kind", "split", "split/kind"]),
              help="Group the table by language (default), question kind, split (one per file), or both.")
@click.option("--json", "as_json", is_flag=True, help="Print metrics and per-question rows as JSON.")
@click.option("--errors", is_flag=True, help="Also list the questions that missed.")
@click.pass_context
def eval_(ctx, files, by, as_json, errors):
    """Measure citations, answer keywords, refusals and latency on labelled JSONL sets (see kb/evaluation.py)."""
    from .evaluation import evaluate, format_report, load_labelled
    kb = _open(ctx)
    try:
        report = evaluate(kb, [item for f in files for item in load_labelled(f)])
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    click.echo(format_report(report, by or ("lang",)))
    if errors:
        for r in report["rows"]:
            wrong = r["refused"] if r["answerable"] else not r["refused"]
            if wrong or (r["answerable"] and not (r["at1"] and r["keywords"])):
                how = f"refused ({', '.join(r['refused_by'])})" if r["refused"] else "answered"
                click.echo(f"\n{r['id']} {how}: {r['question']}\n  -> {r['answer']}")


@cli.command()
@click.option("--host", default=None, help="Address to listen on [127.0.0.1, or KB_HOST].")
@click.option("--port", type=int, default=None, help="Port [7860, or KB_PORT]; 0 picks a free one.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Server processes over the same index [1, or KB_WORKERS]; see README: Speed and scale.")
@click.pass_context
def serve(ctx, host, port, workers):
    """Serve the chat at /, the REST API under /api/v1 and its docs at /docs (see docs/EMBEDDING.md)."""
    from .web import serve as run
    try:
        run(_config(ctx, host=host, port=port, workers=workers), progress=not _quiet(ctx))
    except KeyboardInterrupt:   # Ctrl-C: uvicorn has already shut down cleanly (or the build was cut short)
        click.echo("kb: stopped", err=True)


def main():
    cli(prog_name="kb")


if __name__ == "__main__":
    main()

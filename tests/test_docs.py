"""Every command and code block in README.md and docs/*.md is run here, so the docs cannot drift from what kb does.

How each kind is checked:
- `kb …` (bash and console blocks): the real CLI in a subprocess, over a copy of the bundled corpus's index;
  a console block's output is compared in substance (its lines, up to a trailing "…"; tables column by column).
  `kb serve` is started for real (on a free port), asked /healthz, and stopped with Ctrl-C.
- `curl …` and `python -c …`: run as written against a real server on a free loopback port (7860 in the docs).
- python blocks: executed as written, one namespace per file, from kb's folder; `expr  # 'value'` lines are compared.
- html blocks: every kb address in them (https://kb.example.com/…) is fetched from the real server; the browser
  side of the same three snippets is tests/test_browser.py's portal test (examples/portal.html).
Checked another way, because they install software, start long-running servers on fixed ports or run for minutes:
- `python -m venv`, `. .venv/bin/activate`, `pip install …`, `bash .ci/run`: .ci/run exists and makes the same venv
  with the same pins and extras (which pyproject.toml defines), then runs `python -m pytest -q`.
- `python app.py …`: every option shown is in `python app.py --help` (tests/test_cli.py runs app.py for real).
- `python benchmarks/….py …`: the script exists and its --help lists the options shown.
- `python -m pytest -m X`: pyproject.toml declares marker X. `python -m http.server … -d DIR`: DIR has portal.html.
- `export KB_…=…` and `KB_…=… command`: each name is a Config field.
"""
import ast
import dataclasses
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import REPO
from kb.config import Config

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
DOCS_SERVER = re.compile(r"(https?://)?(localhost|127\.0\.0\.1):7860|https://kb\.example\.com")
FIELDS = {f.name for f in dataclasses.fields(Config)}


def blocks(lang: str) -> list[tuple[str, str]]:
    """(file name, text) of every fenced block of one language, in document order."""
    return [(p.name, text) for p in DOCS for kind, text in FENCE.findall(p.read_text(encoding="utf-8")) if kind == lang]


def commands(text: str) -> list[list[str]]:
    """A bash block's commands as argv lists: continuations joined, comments dropped, `a && b` split, `&` dropped."""
    out = []
    for line in text.replace("\\\n", " ").splitlines():
        argv = shlex.split(line, comments=True)
        while argv:
            cut = argv.index("&&") if "&&" in argv else len(argv)
            out.append([a for a in argv[:cut] if a != "&"])
            argv = argv[cut + 1:]
    return [a for a in out if a]


def split_env(argv: list[str]) -> tuple[dict, list[str]]:
    env = {}
    while argv and re.fullmatch(r"[A-Z_]+=.*", argv[0]):
        name, value = argv[0].split("=", 1)
        env[name], argv = value, argv[1:]
    return env, argv


BASH = [(name, argv) for name, text in blocks("bash") for argv in commands(text)]


@pytest.fixture(scope="module")
def index(kb, tmp_path_factory):
    """A copy of the session's index of the bundled corpus, for the documented commands to use and rebuild."""
    folder = tmp_path_factory.mktemp("docs") / "index"
    shutil.copytree(kb.config.index_path, folder)
    return folder


def kb_cli(args: list[str], index: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "KB_INDEX_DIR": str(index), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "kb.cli", *args], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=300, **kwargs)


def help_of(*argv: str) -> str:
    out = subprocess.run([sys.executable, *argv, "--help"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_every_block_is_of_a_kind_checked_here():
    kinds = {kind for p in DOCS for kind, _ in FENCE.findall(p.read_text(encoding="utf-8"))}
    assert kinds <= {"bash", "console", "python", "html"}, kinds


def test_the_quick_start_is_two_commands_and_the_first_makes_a_venv():
    name, first = blocks("bash")[0]
    assert name == "README.md" and len(first.strip().splitlines()) == 2
    assert [argv[:3] for argv in commands(first)] == [
        ["python3", "-m", "venv"], [".", ".venv/bin/activate"], ["pip", "install", "."], ["python", "app.py"],
        ["bash", ".ci/run"]]


@pytest.mark.parametrize("name, argv", BASH, ids=[" ".join(a)[:60] for _, a in BASH])
def test_bash_command(name, argv, index, live):
    env, argv = split_env(argv)
    assert set(env) <= {f"KB_{f.upper()}" for f in FIELDS}, env
    program, args = argv[0], argv[1:]
    if program == "kb":
        run_kb(args, index)
    elif program == "curl":
        out = subprocess.run(["curl", "-sS", *[DOCS_SERVER.sub(live.url, a) for a in args]], capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        if "-N" in args:
            assert "event: answer" in out.stdout and "event: done" in out.stdout
        else:
            d = json.loads(out.stdout)
            assert "detail" not in d and (d.get("text") or d.get("hits") or d.get("ok")), d
    elif program in ("python", "python3") and args[0] == "-c":
        out = subprocess.run([sys.executable, "-c", DOCS_SERVER.sub(live.url, args[1])], capture_output=True,
                             text=True, cwd=REPO, timeout=120)
        assert out.returncode == 0 and out.stdout.strip(), out.stderr
    elif program in ("python", "python3") and (args[0] == "app.py" or args[0].startswith("benchmarks/")):
        shown = help_of(args[0])
        assert all(a in shown for a in args if a.startswith("--")), (args, shown)
    elif program in ("python", "python3") and args[:2] == ["-m", "pytest"]:
        markers = re.findall(r'"(\w+): ', (REPO / "pyproject.toml").read_text())
        assert all(args[i + 1] in markers for i, a in enumerate(args) if a == "-m" and i > 0), args
    elif program in ("python", "python3") and args[:2] == ["-m", "http.server"]:
        assert (REPO / args[args.index("-d") + 1] / "portal.html").exists()
    elif (program in ("python", "python3") and args[:2] == ["-m", "venv"]) or program == ".":
        assert args[-1].startswith(".venv") and "python3 -m venv .venv" in ci_run()
    elif program == "pip":
        assert args[0] == "install"
        for req in (a for a in args[1:] if not a.startswith("-")):
            extras = re.fullmatch(r"\.(?:\[(\w+)\])?", req)
            if extras:
                assert not extras[1] or f"\n{extras[1]} = [" in (REPO / "pyproject.toml").read_text(), req
            else:
                assert f"pip install -q {req}" in ci_run(), req          # the same pin as CI's
        if "-e" in args:
            assert f"pip install -q -e '{args[args.index('-e') + 1]}'" in ci_run()
    elif program == "bash":
        assert args == [".ci/run"] and ci_run().rstrip().endswith("python -m pytest -q")
    elif program == "export":
        assert all(a.split("=")[0].removeprefix("KB_").lower() in FIELDS for a in args), args
    else:
        pytest.fail(f"{name}: no check for the documented command {shlex.join(argv)!r}: add one here")


def ci_run() -> str:
    return (REPO / ".ci" / "run").read_text()


_RAN: dict = {}


def run_kb(args: list[str], index: Path) -> str:
    """A documented `kb …` command run for real; `kb serve` is started on a free port, checked and stopped."""
    if "serve" not in args:
        key = tuple(a for a in args if a not in ("-q", "--quiet"))   # `kb eval x` and `kb -q eval x` run once
        if key not in _RAN:
            out = kb_cli(args, index)
            assert out.returncode == 0 and out.stdout.strip(), out.stderr
            if "--json" in args:
                json.loads(out.stdout)
            _RAN[key] = out.stdout
        return _RAN[key]
    args = [*args[:args.index("--port")], "--port", "0", *args[args.index("--port") + 2:]] if "--port" in args \
        else [*args, "--port", "0"]
    proc = subprocess.Popen([sys.executable, "-m", "kb.cli", *args], stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "KB_INDEX_DIR": str(index), "PYTHONPATH": str(REPO)})
    try:
        for line in proc.stderr:
            if "ready at" in line:
                break
        url = line.split("ready at ")[1].split()[0]
        assert httpx.get(url + "healthz", timeout=30).json()["status"] == "ok"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    return ""


# ------------------------------------------------------------------ console blocks: the output, in substance

CONSOLE = [(name, cmd, out) for name, text in blocks("console")
           for cmd, out in re.findall(r"^\$ (.*)\n((?:(?!\$ ).*\n?)*)", text, re.M)]


@pytest.mark.parametrize("name, cmd, shown", CONSOLE, ids=[c[:50] for _, c, _ in CONSOLE])
def test_console_output(name, cmd, shown, index):
    argv = shlex.split(cmd, comments=True)
    assert argv[0] == "kb", cmd
    real = run_kb(argv[1:], index).splitlines()
    lines = [x for x in shown.splitlines() if x.strip()]
    if lines and lines[0].startswith("lang "):
        compare_tables(lines, real)
        return
    at = 0
    for line in lines:
        if line.strip() == "…":
            continue
        want = line.rstrip().removesuffix("…").rstrip()
        found = [i for i in range(at, len(real)) if real[i].rstrip() == want
                 or (line.rstrip().endswith("…") and real[i].startswith(want))]
        assert found, f"{name}: `{cmd}` no longer prints {line!r}; it prints:\n" + "\n".join(real)
        at = found[0] + 1


def compare_tables(shown: list[str], real: list[str]):
    """Each row shown has the same values as the real row of that language, in every column shown."""
    def rows(lines):
        header = lines[0].split()
        return {r.split()[0]: dict(zip(header, r.split())) for r in lines[1:]}
    real_rows = rows([x for x in real if x.split() and (x.split()[0] == "lang" or x.split()[0] in ("en", "zh", "all"))])
    for lang, row in rows(shown).items():
        assert {k: real_rows[lang][k] for k in row} == row, (lang, real_rows[lang])


# ------------------------------------------------------------------ python and html blocks

def run_python(code: str, namespace: dict):
    """Run a block statement by statement; `expr  # literal` compares the expression's value with the literal."""
    lines = code.splitlines()
    for node in ast.parse(code).body:
        last = lines[node.end_lineno - 1]
        comment = last[last.index("#") + 1:].strip() if "#" in last and isinstance(node, ast.Expr) else ""
        source = ast.get_source_segment(code, node)
        try:
            expected = ast.literal_eval(comment)
        except (ValueError, SyntaxError):
            exec(compile(source, "<docs>", "exec"), namespace)
            continue
        assert eval(source, namespace) == expected, source


@pytest.mark.parametrize("name", sorted({name for name, _ in blocks("python")}))
def test_python_blocks(name, index, live, monkeypatch, capsys):
    monkeypatch.chdir(REPO)                       # "Run it from kb's folder": ./corpus is the bundled corpus
    monkeypatch.setenv("KB_INDEX_DIR", str(index))
    namespace = {}
    for file, code in blocks("python"):
        if file == name:
            run_python(DOCS_SERVER.sub(live.url, code), namespace)
    assert capsys.readouterr().out.strip()        # the blocks that print, printed


def test_html_blocks_name_addresses_kb_serves(live):
    for name, html in blocks("html"):
        for path in re.findall(r"https://kb\.example\.com(/[^\"' ]*)", html):
            r = httpx.get(live.url + path, follow_redirects=True, timeout=60)
            assert r.status_code == 200, (name, path)


def test_the_module_table_lists_every_module():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## How it works"):readme.index("**Refusal.**")]
    listed = set(re.findall(r"`(kb/\w+\.py)`", table))
    assert listed == {f"kb/{p.name}" for p in (REPO / "kb").glob("*.py")}

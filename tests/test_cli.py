"""The `kb` command line as a user runs it: real subprocesses, one-line errors."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import CORPUS, DATA, read_sse
from llm_stub import ScriptedLLM


def run(*args, env=None, check=True):
    out = subprocess.run([sys.executable, "-m", "kb.cli", *args], capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    if check:
        assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    index = tmp_path_factory.mktemp("cli") / "index"
    run("--corpus", str(CORPUS), "--index", str(index), "-q", "build")
    return ["--corpus", str(CORPUS), "--index", str(index)]


def test_ask_in_english_cites_the_chinese_original(built):
    out = run(*built, "ask", "Can I move my CentOS 8 servers to OpenCloudOS without changing applications?").stdout
    assert "fully compatible with CentOS8" in out and "[1]" in out and "原文:" in out


def test_ask_json_is_the_answer_shape(built):
    d = json.loads(run(*built, "ask", "--json", "OpenCloudOS 的吉祥物是什么？").stdout)
    assert d["refused"] and d["language"] == "zh" and d["text"].startswith("抱歉")


def test_search_lists_sources(built):
    out = run(*built, "search", "热补丁", "-k", "2").stdout
    assert out.startswith("1. [") and "ARM64热补丁" in out


def test_user_errors_are_one_line(built, tmp_path):
    out = run(*built, "ask", "   ", check=False)
    assert out.returncode == 1 and out.stderr.strip() == "Error: 请输入一个问题。 / Please enter a question."
    out = run("--corpus", str(tmp_path / "missing"), "ask", "hi", check=False)
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1 and "corpus folder not found" in out.stderr


def test_build_strict_fails_on_a_bad_file_and_default_skips_it(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "mini", corpus)
    (corpus / "broken.md").write_text("---\ntitle: [oops\n---\ntext\n")
    out = run("--corpus", str(corpus), "--index", str(tmp_path / "ix"), "-q", "build", "--strict", check=False)
    assert out.returncode == 1 and "broken.md: malformed YAML front matter" in out.stderr and "Traceback" not in out.stderr
    out = run("--corpus", str(corpus), "--index", str(tmp_path / "ix"), "-q", "build")
    assert "1 file(s) skipped" in out.stdout and "skipped broken.md" in out.stderr


def test_serve_takes_the_llm_from_the_command_line(built):
    import httpx
    llm = ScriptedLLM()
    proc = subprocess.Popen([sys.executable, "-m", "kb.cli", *built, "--llm-base-url", llm.url, "--llm-model", "stub",
                             "serve", "--port", "0"], stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:
            if "ready at" in line:
                break
        url = line.split("ready at ")[1].split()[0]
        with httpx.stream("POST", url + "api/v1/ask/stream", json={"question": "What is cgroupfs?"}, timeout=30) as r:
            events = list(read_sse(r.iter_lines()))
        assert [e for e, _ in events][-2:] == ["answer", "done"]
        assert llm.requests[0]["model"] == "stub" and "do not answer" in events[-2][1]["signals"]["fallback"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        llm.close()

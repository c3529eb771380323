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


def test_a_question_read_with_a_slip_mended_says_so_first(built):
    out = run(*built, "ask", "Does OpenCloudOS suport hot patching on ARM64?").stdout
    assert out.startswith("Read as “Does OpenCloudOS support hot patching on ARM64?”\n") and "[1]" in out


def test_ask_json_is_the_answer_shape(built):
    d = json.loads(run(*built, "ask", "--json", "OpenCloudOS 的吉祥物是什么？").stdout)
    assert d["refused"] and d["language"] == "zh" and d["text"].startswith("抱歉") and d["read_as"] == ""


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


def test_shared_options_also_come_after_the_command(built, tmp_path):
    corpus, index = built[1], built[3]
    out = run("ask", "--corpus", corpus, "--index", index, "-q", "What is cgroupfs?").stdout
    assert "cgroupfs" in out and "[1]" in out
    out = run("search", "热补丁", "-k", "1", "--index", index, "--corpus", corpus, "--embedder", "e5", "--quiet")
    assert out.stdout.startswith("1. [") and out.stderr == ""
    # Given in both places, the one after the command wins.
    out = run("--corpus", str(tmp_path / "missing"), "ask", "--corpus", corpus, "--index", index, "What is cgroupfs?")
    assert "cgroupfs" in out.stdout
    assert "--corpus" in run("eval", "--help").stdout and "--embedder" in run("serve", "--help").stdout


def test_build_says_once_what_it_indexed(tmp_path):
    out = run("build", "--corpus", str(DATA / "mini"), "--index", str(tmp_path / "ix"))
    assert out.stdout.count("indexed") == 1 and "indexed" not in out.stderr
    assert out.stdout.startswith("indexed ") and str(tmp_path / "ix") in out.stdout


@pytest.mark.parametrize("command, ignored", [(["-m", "kb.cli", "serve"], False), (["app.py"], False),
                                              (["-m", "kb.cli", "serve"], True)],
                         ids=["kb serve", "python app.py", "started with SIGINT ignored"])
def test_ctrl_c_stops_the_server_with_one_line_and_exit_0(built, command, ignored):
    """Also where kb inherits SIGINT ignored, as a script's background job does (`kb serve &`), and is then sent it."""
    import signal

    import httpx
    from conftest import REPO
    proc = subprocess.Popen([sys.executable, *command, *built, "--port", "0"], stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=REPO,
                            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignored else None)
    try:
        for line in proc.stderr:
            if "ready at" in line:
                break
        assert line.startswith("kb: ready at http://127.0.0.1:"), line      # said once: not "kb: kb is ready"
        url = line.split("ready at ")[1].split()[0]
        assert httpx.get(url + "healthz", timeout=30).json()["status"] == "ok"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0 and err == "kb: stopped\n" and out == ""


def test_eval_errors_say_which_test_refused(built, tmp_path):
    """A maintainer reading `kb eval --errors` sees why a question was refused, not only that it was."""
    labelled = tmp_path / "mascot.jsonl"
    labelled.write_text(json.dumps({"id": "m1", "question": "OpenCloudOS 的吉祥物是什么？", "lang": "zh", "answerable": True,
                                    "evidence": ["吉祥物"], "keywords": ["吉祥物"]}, ensure_ascii=False) + "\n", encoding="utf-8")
    out = run(*built, "-q", "eval", str(labelled), "--errors").stdout
    assert "\nm1 refused (says little, unseen words): OpenCloudOS 的吉祥物是什么？\n  -> 抱歉" in out, out

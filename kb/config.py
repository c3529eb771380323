"""One configuration for every stage; each field can be overridden by a KB_<FIELD> environment variable."""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Config:
    # --- where things live
    corpus: Path = Path("corpus")
    index_dir: Path | None = None          # default: .kb/<corpus name> beside the corpus folder
    data_dir: Path | None = None           # feedback log etc.; default: .kb beside the corpus folder
    user_dict: Path | None = None          # extra jieba dictionary, added to kb's own

    # --- loading documents
    max_file_mb: float = 20.0              # larger files are named and skipped
    strict: bool = False                   # a bad corpus file fails the build instead of being skipped
    follow_symlinks: bool = False          # follow links inside the corpus folder (never ones that lead out of it)
    source_base_url: str = ""              # the corpus folder's address on the web: citations link to page#heading
                                           # (an mkdocs docs/ folder with site_url in mkdocs.yml needs none)

    # --- chunking
    chunk_chars: int = 400                 # a chunk packs whole sentences up to this many characters

    # --- index (kb/store.py)
    store: str = "faiss"                   # "faiss": a folder on this machine; "milvus": a Milvus server (or Milvus Lite)
    milvus_uri: str = ""                   # a path ending .db (embedded Milvus Lite) or http://host:19530;
                                           # default: milvus.db in the index folder
    milvus_token: str = ""                 # "user:password" or an API key, when the server asks for one
    index_type: str = "auto"               # "flat" (exact); "ivf" or "hnsw" (approximate); "auto": flat, then IVF ...
    approximate_above: int = 200_000       # ... above this many chunks (KB_HNSW_ABOVE, its old name, still works)
    build_wait: float = 600.0              # seconds a build waits for another build of the same index to finish

    # --- embedding
    embedder: str = "e5"                   # "e5" (bundled), "st:<model name or local path>" (sentence-transformers)
                                           # or "openai:<base URL>#<model>" (an OpenAI-compatible embedding server)
    embedder_api_key: str = ""             # bearer key of an openai: embedding server
    build_embedder: str = ""               # embeds the passages when building instead (e.g. a GPU server of the
                                           # same model); refused unless it matches `embedder` on probe texts
    query_prompt: str = ""                 # st: and openai: models, e.g. "query: " and "passage: " for E5
    passage_prompt: str = ""

    # --- retrieval
    k: int = 5                             # sources returned by search / considered by ask
    candidates: int = 30                   # depth of each ranked list before fusion
    bm25_weight: float = 1.5               # weight of BM25 against meaning (1.0) in fusion; 0 = meaning alone

    # --- answering
    max_sentences: int = 3
    max_chars_zh: int = 150
    max_chars_en: int = 350
    # Closeness is measured in standard deviations above off-topic questions (see store.null_baseline),
    # so the same thresholds hold for any embedding model.
    min_z: float = 0.5                     # not this much closer than off-topic questions: refuse
    crossing_said: float = 0.5             # ...unless the question is English, the unit Chinese and it says this share
                                           # of the question (translated): across languages the model's closeness
                                           # does not tell on-topic from off-topic (docs/QUALITY.md, round 11)
    max_unseen: float = 0.45               # this share of the question's weight in words the corpus never uses: refuse,
    sure_z: float = 10.0                   # ...unless the closest passage is this close
    min_said: float = 0.1                  # the answer unit and its headings say less of the question than this: refuse
    max_missing: float = 0.4               # refuse when the answer's context (its passage, heading path and the other
                                           # sources from its document) lacks more than this share of the question's
                                           # weight in names it asks about (1.0: off)
    max_unsaid_how: float = 0.3            # a how-to whose answer's page never says this share of the question's weight
    sure_z_how: float = 3.0                # ("导出备份", "背景图片"): refuse, unless the closest passage is this close

    # --- generative answers (optional): any OpenAI-compatible chat server; off while llm_base_url is empty
    llm_base_url: str = ""                 # e.g. http://127.0.0.1:11434/v1 (Ollama), http://127.0.0.1:8000/v1
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout: float = 60.0
    llm_max_tokens: int = 300
    llm_passages: int = 4                  # passages given to the model
    llm_min_support: float = 0.5           # share of each answer sentence that must be found in its passage

    # --- serving
    host: str = "127.0.0.1"
    port: int = 7860
    max_question_chars: int = 1000
    allowed_origins: list[str] = field(default_factory=list)   # sites allowed to embed kb / call its API
    feedback_file: str = "feedback.jsonl"  # 👍/👎 log, one JSON object a line, inside data_path
    workers: int = 1                       # server processes over the same index (README: Speed and scale)
    reload_interval: float = 1.0           # seconds between looks for a newer index a build published (0: never)
    lexical_first_after: float = 10.0      # kb serve embeds this long, then serves by words while the rest of the
                                           # vectors are made in the background (0, or reload_interval 0:
                                           # wait for them all)

    # --- the chat page (kb/ui.py); what is left empty is said about the corpus itself
    title: str = ""                        # default: what the documents' titles share, e.g. "OpenCloudOS 8.5 knowledge base"
    subtitle: str = ""                     # default: how many documents, naming one
    logo: str = ""                         # an image file (inlined, up to 512 kB) or an http(s) URL
    examples: str = ""                     # a text file of example questions, one a line, either language;
                                           # default: .examples.txt in the corpus folder, if there is one

    # --- serving limits (kb/guard.py)
    production: bool = True                # KB_PRODUCTION=0 for development: Python errors shown in the chat and in 500s
    rate_limit: float = 60.0               # questions a minute per client (REST API and the chat's queue); 0: no limit
    rate_burst: int = 20                   # ...of which this many may come at once
    trusted_proxies: list[str] = field(default_factory=list)   # reverse proxies (IPs, CIDRs) whose X-Forwarded-For counts
    max_body_bytes: int = 1_048_576        # larger request bodies get 413 (the chat sends its conversation each turn)
    request_timeout: float = 60.0          # seconds for a response to start, else 504; 0: no limit
    queue_size: int = 64                   # chat questions waiting at once; more are told the queue is full
    queue_concurrency: int = 4             # chat questions answered at once
    api_concurrency: int = 4               # REST questions and searches answered at once; queue_size more wait, then 503
    header_timeout: float = 10.0           # seconds a connection may take to send a request's headers, then closed
    max_connections: int = 1000            # open connections (lowered to fit the file limit); beyond, the idlest closes
    feedback_max_mb: float = 100.0         # the feedback file is rotated to <file>.1 past this size (so 2x on disk)
    chat_sessions: int = 1000              # chat conversations kept in memory; beyond, the least recently used is dropped

    def __post_init__(self):
        for name in ("corpus", "index_dir", "data_dir", "user_dict"):
            if getattr(self, name) is not None:
                setattr(self, name, Path(getattr(self, name)))

    @property
    def index_path(self) -> Path:
        """The index folder: index_dir, or .kb/<corpus name> beside the corpus folder."""
        return self.index_dir or self.corpus.resolve().parent / ".kb" / self.corpus.name

    @property
    def data_path(self) -> Path:
        """Where feedback and other run-time data go: data_dir, or .kb beside the corpus folder."""
        return self.data_dir or self.corpus.resolve().parent / ".kb"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> Config:
        """Defaults, then KB_* environment variables, then explicit keyword overrides (None is ignored)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if env.get("KB_HNSW_ABOVE") and not env.get("KB_APPROXIMATE_ABOVE"):    # deprecated name of the same knob
            values["approximate_above"] = int(env["KB_HNSW_ABOVE"])
        for f in dataclasses.fields(cls):
            raw = env.get(f"KB_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _coerce(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise TypeError(f"unknown config field(s): {', '.join(sorted(unknown))}")
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()},
                          ensure_ascii=False, indent=2)


def _coerce(f: dataclasses.Field, raw: str):
    kind = str(f.type)
    if "list" in kind:
        return [s.strip() for s in raw.split(",") if s.strip()]
    if "bool" in kind:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    return raw

"""MilvusStore: the index in Milvus (a 2.5+ server, or embedded Milvus Lite for a path ending .db).

One knowledge base (corpus + embedding model) is three collections and an alias:

    kb_<corpus>_<model>_a, _b      passages: vector (HNSW, inner product), text, kb's tokens under Milvus's BM25
                                   (jieba analyzer), and what kb shows and filters on (document, paragraph,
                                   language, heading path, offsets, kind); primary key = content hash
    kb_<corpus>_<model>            the alias readers use: it names the published one of _a / _b
    kb_<corpus>_<model>_meta       per collection: manifest, document metadata, vocabulary with passage counts
                                   (refusal and typo tolerance read them), the version name

A build brings the collection the alias does not name up to the new version -- upserting only passages
whose content or place changed, deleting those that went -- writes its meta, then moves the alias: readers
see the old version or the new one, never half a build. A killed build resumes where it stopped (rows
already written compare equal). Readers hold nothing but their settings: everything is read from Milvus.

Measured on Milvus Lite: BM25 scores come back negative, so lexical results are ranked by position only;
collections come back unloaded after a restart (opening loads them); one process holds a .db at a time
(several processes share one `milvus-lite server --host 127.0.0.1 --port N`).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Hashable, Iterator
from pathlib import Path

import numpy as np

from .errors import IndexProblem, KbError, MissingDependency
from .store import Found, Lexicon, Snapshot, Stats, Store
from .types import Chunk

__all__ = ["MilvusStore", "StoreUnavailable"]

log = logging.getLogger("kb")
BATCH = 500              # rows per upsert / delete
PART = 16_000            # characters of JSON per meta row (VARCHAR holds 65,535 bytes)
FIELDS = ["pk", "chunk", "doc", "para", "text", "start", "end", "lang", "heading", "kind", "lead", "anchor",
          "source", "embedded", "row_hash"]


class StoreUnavailable(KbError):
    """The store cannot be reached or refuses kb (server down, wrong token, data held by another process)."""


def _milvus():
    try:
        import pymilvus
    except ImportError:
        raise MissingDependency("pymilvus", "milvus", "KB_STORE=milvus") from None
    return pymilvus


class _Client:
    """A MilvusClient whose every failure becomes one line that says what to do.

    One per server and token in a process (`_client`): a MilvusClient is thread-safe and holds no state of
    any knowledge base, and a new connection to an embedded Milvus Lite busy indexing can time out.
    """

    def __init__(self, uri: str, token: str = ""):
        self.uri = uri
        if _held_elsewhere(uri):     # else milvus-lite logs a traceback before pymilvus fails
            raise StoreUnavailable(_explain(RuntimeError("another process holds the lock"), "open", uri))
        with self.errors("connect to"):
            self.raw = _milvus().MilvusClient(uri, token=token, timeout=30)   # a busy host is slow to answer

    @contextlib.contextmanager
    def errors(self, doing: str):
        try:
            yield
        except KbError:
            raise
        except Exception as e:    # pymilvus, grpc and milvus-lite errors
            raise StoreUnavailable(_explain(e, doing, self.uri)) from None

    def __getattr__(self, name):
        call = getattr(self.raw, name)

        def checked(*a, **k):
            with self.errors(f"{name.replace('_', ' ')} at"):
                return call(*a, **k)
        return checked


_clients: dict[tuple[str, str], _Client] = {}
_clients_lock = threading.Lock()


def _client(uri: str, token: str) -> _Client:
    with _clients_lock:
        if (uri, token) not in _clients:
            _clients[uri, token] = _Client(uri, token)
        return _clients[uri, token]


def _held_elsewhere(uri: str) -> bool:
    """Is this Milvus Lite folder (a .db path) open in another process? It holds an advisory lock on db/LOCK."""
    lock = Path(uri) / "LOCK"
    if "://" in uri or not lock.exists():
        return False
    try:
        import fcntl

        import milvus_lite
        servers = getattr(milvus_lite.server_manager_instance, "_servers", None)
    except ImportError:
        return False
    if servers is None or os.path.abspath(uri) in servers:      # this process serves it: pymilvus shares it
        return False
    with open(lock, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def _explain(e: Exception, doing: str, uri: str) -> str:
    text, seen, cause = f"{type(e).__name__}: {e}", {id(e)}, e.__cause__ or e.__context__
    while cause is not None and id(cause) not in seen:     # milvus-lite's own error hides under pymilvus's
        seen.add(id(cause))
        text, cause = f"{text} <- {type(cause).__name__}: {cause}", cause.__cause__ or cause.__context__
    if "DataDirLocked" in text or "another process holds the lock" in text:
        return (f"Milvus Lite file {uri} is open in another process: for several processes run "
                f"`milvus-lite server --data-dir DIR --host 127.0.0.1 --port N` and set KB_MILVUS_URI=http://127.0.0.1:N")
    if re.search(r"auth|UNAUTHENTICATED|password|permission denied|PERMISSION_DENIED", text, re.I):
        return f"Milvus at {uri} refused kb's credentials: set KB_MILVUS_TOKEN to user:password (or an API key)"
    if re.search(r"Fail connecting|unavailable|UNAVAILABLE|DEADLINE|timed? ?out|Connection refused", text, re.I):
        return f"cannot reach Milvus at {uri}: start it, or set KB_MILVUS_URI (a path ending .db, or http://host:19530)"
    return f"Milvus at {uri} failed to {doing.removesuffix(' at')} ({' '.join(text.split())[:200]})"


def _settings(cfg) -> tuple[str, str, str]:
    """(uri, token, base name) for this corpus and embedding model."""
    uri = cfg.milvus_uri or str(Path(cfg.index_path) / "milvus.db")
    if not re.match(r"^(https?|tcp|unix)://", uri):
        Path(uri).expanduser().parent.mkdir(parents=True, exist_ok=True)
    corpus = re.sub(r"[^0-9A-Za-z]+", "_", Path(cfg.corpus).resolve().name)[:40].strip("_") or "corpus"
    model = hashlib.blake2b(f"{cfg.embedder}\0{cfg.query_prompt}\0{cfg.passage_prompt}".encode(),
                            digest_size=4).hexdigest()
    return uri, cfg.milvus_token, f"kb_{corpus}_{model}"


class MilvusStore(Store):
    """One published version in Milvus, read through its alias (see the module docstring)."""

    def __init__(self, client: _Client, base: str, collection: str, meta: dict):
        self.client, self.base, self.collection = client, base, collection
        self.manifest, self.docs, self.version = meta["manifest"], meta["docs"], meta["version"]
        words = meta["lexicon"]
        self.lexicon = Lexicon({t: i for i, t in enumerate(words["vocab"])}, np.asarray(words["df"], np.int32),
                               self.manifest.get("chunks", 0))

    def __len__(self) -> int:
        return int(self.manifest.get("chunks", 0))

    def __iter__(self) -> Iterator[Chunk]:
        rows = _scan(self.client, self.collection, FIELDS)
        return iter(sorted((_chunk(r) for r in rows), key=lambda c: (c.doc_id, c.start)))

    def dense(self, vector: np.ndarray, k: int) -> list[Found]:
        if k <= 0:
            return []
        found = self.client.search(self.collection, data=[vector.astype(np.float32).tolist()], anns_field="vector",
                                   limit=k, filter="embedded == true", output_fields=["source", "lang"],
                                   search_params={"metric_type": "IP", "params": {"ef": max(64, k)}})
        return [Found(h["pk"], float(h["distance"]), h["entity"]["source"], lang=h["entity"]["lang"]) for h in found[0]]

    def lexical(self, tokens: list[str], k: int) -> list[Found]:
        known = [t for t in tokens if t in self.lexicon.vocab]
        if not known or k <= 0:
            return []
        found = self.client.search(self.collection, data=[" ".join(known)], anns_field="sparse", limit=k,
                                   output_fields=["source", "embedded", "lang"], search_params={"metric_type": "BM25"})
        # Lite gives BM25 scores as negatives: only the order is used, so position stands in for the score.
        return [Found(h["pk"], float(k - n), h["entity"]["source"], bool(h["entity"]["embedded"]), h["entity"]["lang"])
                for n, h in enumerate(found[0])]

    def members(self, source: Hashable) -> dict:
        rows = self.client.query(self.collection, filter=f'source == "{source}"', output_fields=FIELDS)
        return {r["pk"]: c for r, c in sorted(((r, _chunk(r)) for r in rows), key=lambda rc: (rc[1].doc_id, rc[1].start))}

    def between(self, doc_id: str, lang: str, start: int, end: int) -> list[Chunk]:
        doc, language = (json.dumps(v, ensure_ascii=False) for v in (doc_id, lang))    # values, quoted and escaped
        rows = self.client.query(self.collection, filter=f"doc == {doc} and lang == {language} and start >= {int(start)}"
                                 f" and start < {int(end)}", output_fields=FIELDS)
        return sorted(map(_chunk, rows), key=lambda c: c.start)

    def vectors(self, ids: list) -> np.ndarray:
        if not ids:
            return np.zeros((0, self.dim), np.float32)
        rows = {r["pk"]: r["vector"] for r in self.client.get(self.collection, ids=list(ids), output_fields=["vector"])}
        return np.asarray([rows[i] for i in ids], dtype=np.float32)

    def latest(self) -> str:
        return _published(self.client, self.base)[1]

    def stats(self) -> Stats:
        fields = self.client.describe_collection(self.collection)["fields"]
        dim = next(int(f["params"]["dim"]) for f in fields if f["name"] == "vector")
        count = int(self.client.get_collection_stats(self.collection)["row_count"])
        return Stats("milvus:HNSW", count, dim, self.version, f"Milvus at {self.client.uri}, collection {self.base}")

    # ------------------------------------------------------------ opening

    @classmethod
    def open(cls, cfg) -> MilvusStore:
        uri, token, base = _settings(cfg)
        client = _client(uri, token)
        if client.has_collection(base + "_meta"):
            client.load_collection(base + "_meta")   # collections come back unloaded after a restart
        collection, _ = _published(client, base)
        if not collection:
            raise IndexProblem(f"no index in Milvus at {uri} (collection {base})")
        return cls._opened(client, base, collection)

    @classmethod
    def _opened(cls, client: _Client, base: str, collection: str) -> MilvusStore:
        client.load_collection(collection)
        meta = {name: _read_meta(client, base, collection, name) for name in ("manifest", "docs", "lexicon", "version")}
        if any(v is None for v in meta.values()):
            raise IndexProblem(f"index in Milvus collection {collection} is incomplete (its metadata is missing)")
        return cls(client, base, collection, meta)

    # ------------------------------------------------------------ writing

    @classmethod
    def publish(cls, snapshot: Snapshot, cfg, write: bool = True) -> MilvusStore:
        """Bring the unpublished collection to `snapshot` (only rows that changed), write its meta, move the alias."""
        from .store_faiss import ChunkTable     # its `vec` column: which vector a chunk not embedded borrows
        uri, token, base = _settings(cfg)
        client = _client(uri, token)
        dim = snapshot.vectors.shape[1]
        _ensure_meta(client, base)
        live, _ = _published(client, base)
        target = f"{base}_b" if live == f"{base}_a" else f"{base}_a"
        _ensure_passages(client, target, dim)
        borrow = ChunkTable.from_chunks(snapshot.chunks, snapshot.docs).meta["vec"]
        bm25 = snapshot.bm25
        rows, keys = [], {}
        for i, c in enumerate(snapshot.chunks):
            n = keys[c.id] = keys.get(c.id, -1) + 1        # the same text twice: a key each
            # Milvus's BM25 indexes kb's own tokens (its dictionaries), so questions and passages agree with
            # the vocabulary refusal reads; its jieba analyzer finds them again between the spaces.
            words = " ".join(bm25.vocab[t] for t in bm25.tokens[bm25.token_ptr[i]:bm25.token_ptr[i + 1]]) if bm25 else ""
            rows.append(_row(c, f"{c.id}-{n}" if n else c.id, _source(c, snapshot.docs), words,
                             snapshot.vectors[borrow[i]] if borrow[i] >= 0 else snapshot.vectors[i]))
        have = {r["pk"]: r["row_hash"] for r in _scan(client, target, ["pk", "row_hash"])}
        todo = [r for r in rows if have.get(r["pk"]) != r["row_hash"]]
        gone = list(have.keys() - {r["pk"] for r in rows})
        for s in range(0, len(todo), BATCH):
            client.upsert(target, [{**r, "vector": r["vector"].tolist()} for r in todo[s:s + BATCH]])
        for s in range(0, len(gone), BATCH):
            client.delete(target, ids=gone[s:s + BATCH])
        log.info("Milvus %s: %d passages written, %d removed, %d unchanged", target, len(todo), len(gone),
                 len(rows) - len(todo))
        version = f"{target}@{snapshot.manifest['built']}-{hashlib.sha1(np.random.bytes(8)).hexdigest()[:6]}"
        meta = {"manifest": {**snapshot.manifest, "milvus": target}, "docs": snapshot.docs, "version": version,
                "lexicon": {"vocab": bm25.vocab if bm25 else [], "df": bm25.df.tolist() if bm25 else []}}
        for name, value in meta.items():
            _write_meta(client, base, target, name, value)
        client.flush(target)
        if live:
            client.alter_alias(target, base)
        else:
            client.create_alias(target, base)
        return cls._opened(client, base, target)


# ---------------------------------------------------------------- rows

def _source(c: Chunk, docs: dict) -> str:
    """A paragraph and its aligned translations share one source key."""
    key = f"{docs[c.doc_id]['aligned_to'] or c.doc_id}#{c.para_id}"
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


def _row(c: Chunk, pk: str, source: str, words: str, vector: np.ndarray) -> dict:
    row = {"pk": pk, "chunk": c.id, "doc": c.doc_id, "para": c.para_id, "text": _cut(c.text), "start": c.start,
           "end": c.end, "lang": c.lang, "heading": list(c.heading), "kind": c.kind, "lead": c.lead,
           "anchor": _cut(c.anchor, 1024), "source": source, "embedded": bool(c.embed),
           "words": _cut(words)}
    # what a reader sees of this row; the vector follows from its content hash and the model (one per collection)
    row["row_hash"] = hashlib.blake2b(json.dumps([row, vector[:4].tolist()], ensure_ascii=False).encode(),
                                      digest_size=12).hexdigest()
    return {**row, "vector": np.asarray(vector, np.float32)}


def _cut(text: str, limit: int = 65_535) -> str:
    """At most `limit` UTF-8 bytes (Milvus's VARCHAR), cut at a character."""
    b = text.encode("utf-8")
    return text if len(b) <= limit else b[:limit].decode("utf-8", "ignore")


def _chunk(r: dict) -> Chunk:
    return Chunk(r["chunk"], r["doc"], r["para"], r["text"], int(r["start"]), int(r["end"]), r["lang"],
                 tuple(r["heading"]), r["kind"], int(r["lead"]), bool(r["embedded"]), r["anchor"])


# ---------------------------------------------------------------- collections

def _published(client: _Client, base: str) -> tuple[str, str]:
    """(collection, version) the alias names now; ("", "") before the first build. Three quick calls."""
    if base not in (client.list_aliases().get("aliases") or []):
        return "", ""
    collection = client.describe_alias(base)["collection_name"]
    return collection, _read_meta(client, base, collection, "version") or ""


def _scan(client: _Client, collection: str, fields: list[str]) -> list[dict]:
    """Every row of a collection. A query returns at most 16,384 rows, so a large collection is read in 256
    slices by the first two hex digits of the key (content hashes spread evenly); no query iterator, which
    Milvus Lite serves only with a logged error."""
    n = int(client.get_collection_stats(collection)["row_count"])
    rows = []
    for prefix in [""] if n < 15_000 else [f"{i:02x}" for i in range(256)]:
        rows += client.query(collection, filter=f'pk like "{prefix}%"' if prefix else "", limit=16_384,
                             output_fields=fields)
    return rows


def _ensure_passages(client: _Client, target: str, dim: int) -> None:
    """Create the passages collection `target` when missing; refuse one of another model."""
    pm = _milvus()
    DataType = pm.DataType
    if client.has_collection(target):
        fields = {f["name"]: f for f in client.describe_collection(target)["fields"]}
        have = int(fields["vector"]["params"]["dim"]) if "vector" in fields else None
        if have != dim or "row_hash" not in fields:
            raise KbError(f"Milvus collection {target} holds another model's passages (vectors of dimension {have}, "
                          f"not {dim}): drop it, or point KB_MILVUS_URI at another Milvus")
    else:
        s = client.create_schema(auto_id=False)
        s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        s.add_field("words", DataType.VARCHAR, max_length=65_535, enable_analyzer=True,
                    analyzer_params={"tokenizer": "jieba", "filter": ["lowercase"]})
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        s.add_function(pm.Function(name="bm25", function_type=pm.FunctionType.BM25, input_field_names=["words"],
                                   output_field_names=["sparse"]))
        for name, kind, extra in [("chunk", DataType.VARCHAR, {"max_length": 32}),
                                  ("doc", DataType.VARCHAR, {"max_length": 4096}),
                                  ("para", DataType.VARCHAR, {"max_length": 256}),
                                  ("text", DataType.VARCHAR, {"max_length": 65_535}),
                                  ("start", DataType.INT64, {}), ("end", DataType.INT64, {}),
                                  ("lang", DataType.VARCHAR, {"max_length": 16}), ("heading", DataType.JSON, {}),
                                  ("kind", DataType.VARCHAR, {"max_length": 16}), ("lead", DataType.INT64, {}),
                                  ("anchor", DataType.VARCHAR, {"max_length": 1024}),
                                  ("source", DataType.VARCHAR, {"max_length": 64}), ("embedded", DataType.BOOL, {}),
                                  ("row_hash", DataType.VARCHAR, {"max_length": 32})]:
            s.add_field(name, kind, **extra)
        ip = client.prepare_index_params()
        ip.add_index("vector", index_type="HNSW", metric_type="IP", params={"M": 32, "efConstruction": 64})
        ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        _create(client, target, s, ip)
    client.load_collection(target)


def _create(client: _Client, name: str, schema, index_params) -> None:
    """A collection whose writes every later read sees; its indexes are built without waiting (Milvus Lite
    cannot say when they are, and logs an error when asked), loading waits for what it needs."""
    client.create_collection(name, schema=schema, consistency_level="Strong")
    client.create_index(name, index_params, sync=False)


def _ensure_meta(client: _Client, base: str) -> None:
    if not client.has_collection(base + "_meta"):
        DataType = _milvus().DataType
        s = client.create_schema(auto_id=False)
        s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=512)
        s.add_field("collection", DataType.VARCHAR, max_length=256)
        s.add_field("text", DataType.VARCHAR, max_length=65_535)
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=2)     # Milvus wants one; never searched
        ip = client.prepare_index_params()
        ip.add_index("vector", index_type="FLAT", metric_type="L2")
        _create(client, base + "_meta", s, ip)
    client.load_collection(base + "_meta")


def _write_meta(client: _Client, base: str, collection: str, name: str, value) -> None:
    text = json.dumps(value, ensure_ascii=False)
    parts = [text[s:s + PART] for s in range(0, len(text), PART)] or [""]
    rows = [{"pk": f"{collection}/{name}/{n}", "collection": collection, "text": p, "vector": [0.0, 0.0]}
            for n, p in enumerate(parts)]
    client.delete(base + "_meta", filter=f'collection == "{collection}" and pk like "{collection}/{name}/%"')
    for s in range(0, len(rows), 64):
        client.upsert(base + "_meta", rows[s:s + 64])


def _read_meta(client: _Client, base: str, collection: str, name: str):
    """One meta entry of a collection (None if it has none)."""
    rows = client.query(base + "_meta", filter=f'pk like "{collection}/{name}/%"', output_fields=["pk", "text"])
    if not rows:
        return None
    rows.sort(key=lambda r: int(r["pk"].rsplit("/", 1)[1]))
    try:
        return json.loads("".join(r["text"] for r in rows))
    except ValueError:
        return None

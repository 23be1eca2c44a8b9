"""One collection: durable objects and multi-vectors, and Weaviate's searches over them.

Layout of a collection's directory: ``objects.sqlite`` (WAL; config, objects, blobs, the live vector
slots) and per named vector ``<name>.<generation>.vec`` (token rows) and ``.fde`` (MUVERA encodings).
A write appends and fsyncs vector rows first, then commits one SQLite transaction, then publishes the
change to readers; a failure at any step before the commit leaves the previous state (see
``segments.py``).

Concurrency: a write validates its objects and runs the vectorizer (and MUVERA) *before* it takes the
collection's commit lock, against the state published at that moment; under the commit lock (writers
commit one at a time) it validates again against the current state, reusing the vectors made
beforehand, so the outcome is exactly that of serial writes (an object inserted or deleted meanwhile, a
property another writer's auto-schema added, a dimension another writer fixed). Readers share a
readers-writer lock (``rwlock.py``) that a writer takes alone only for SQLite's COMMIT and the in-memory
swap that publishes it; readers read blobs and layouts through their own SQLite connection, which sees
committed transactions only. So a search never waits for an encode and never sees half a batch.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from colweave.store.bm25 import InvertedIndex
from colweave.store.errors import (
    SchemaError,
    StoreError,
    storage_errors,
)
from colweave.store.explaining import Explaining
from colweave.store.filter_index import FilterIndex
from colweave.store.keyword import Keyword
from colweave.store.objects import (
    Rec,
    Vectorizer,
    connect,
    rollback,
)
from colweave.store.reads import QUERY_MAXIMUM_RESULTS
from colweave.store.rwlock import RWLock
from colweave.store.schema import (
    CollectionConfig,
    Property,
)
from colweave.store.segments import VectorSegment
from colweave.store.vector_search import MAX_QUERY_TOKENS, muvera_pool
from colweave.store.writes import Writes

__all__ = ["MAX_QUERY_TOKENS", "QUERY_MAXIMUM_RESULTS", "Collection", "muvera_pool"]


class Collection(Writes, Keyword, Explaining):
    """One collection (see the module docstring). Its parts live in ``writes`` (with ``compaction``),
    ``reads``, ``vector_search``, ``keyword`` (BM25 and hybrid) and ``explaining``, over ``state``."""

    def __init__(self, path: Path, vectorizer: Vectorizer | None = None) -> None:
        self.path = path
        self.vectorizer = vectorizer
        self._commit_lock = threading.RLock()  # writers commit one at a time
        self._state = RWLock()  # readers share it; a writer holds it alone to publish
        self._db = connect(path / "objects.sqlite")  # the writers' connection
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if "config" not in meta:
            self._db.close()
            raise StoreError(f"{path}: not a collection (no config)")
        try:
            self._config = CollectionConfig.from_weaviate(json.loads(meta["config"]))
        except (SchemaError, ValueError) as e:
            # A config written before a bound existed (e.g. MUVERA sizes): refuse to open it, clearly,
            # rather than allocate what it asks for. It can still be deleted.
            self._db.close()
            raise StoreError(
                f"collection at {path.name} cannot be opened: its stored config is invalid: {e}"
            ) from None
        self.vector_dtype = meta.get("vector_dtype", "float16")
        self._rdb = connect(path / "objects.sqlite")  # readers': sees committed transactions only
        self._rdb_lock = threading.Lock()
        self._segments: dict[str, VectorSegment] = {}
        self._slot_of: dict[str, dict[int, int]] = {}
        rows_by_name: dict[str, list[tuple[int, int, int, int]]] = {}
        for doc, name, slot, start, ntok in self._db.execute(
            "SELECT doc, name, slot, start, ntok FROM vectors"
        ):
            rows_by_name.setdefault(name, []).append((slot, start, ntok, doc))
        for name, vc in self._config.vectors.items():
            dim = int(meta[f"dim.{name}"]) if f"dim.{name}" in meta else None
            seg = VectorSegment(
                path, name, self.vector_dtype, dim, int(meta.get(f"gen.{name}", 0)), vc.muvera
            )
            seg.open(rows_by_name.get(name, []))
            self._segments[name] = seg
            self._slot_of[name] = {doc: slot for slot, _, _, doc in rows_by_name.get(name, [])}
        self._recs: dict[int, Rec] = {}
        self._doc_of: dict[str, int] = {}
        self._sorted: list[tuple[str, int]] | None = None
        blobs: dict[int, set[str]] = {}
        for doc, name in self._db.execute("SELECT doc, name FROM blobs"):
            blobs.setdefault(doc, set()).add(name)
        self._bm25 = InvertedIndex(self._config)
        self._schema_changed()
        for doc, u, props, created, updated in self._db.execute(
            "SELECT doc, uuid, props, created, updated FROM objects ORDER BY doc"
        ):
            rec = Rec(u, json.loads(props), frozenset(blobs.get(doc, ())), created, updated)
            self._recs[doc] = rec
            self._doc_of[u] = doc
            self._bm25.add(doc, rec.props)
        self._findex = FilterIndex.build(self._recs, self._config)

    def close(self) -> None:
        with self._commit_lock, self._state.write():
            self._db.close()
            with self._rdb_lock:
                self._rdb.close()

    def add_property(self, prop: Property) -> None:
        with self._commit_lock:
            if self._config.property(prop.name) is not None:
                raise SchemaError(f"property {prop.name!r} already exists in {self.name}")
            new = CollectionConfig.from_weaviate(self._config.to_weaviate())
            new.properties.append(prop)
            new.validate()
            with storage_errors(f"adding property {prop.name!r} to {self.name}"):
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._meta_set("config", json.dumps(new.to_weaviate()))
                    with self._state.write():
                        self._db.execute("COMMIT")
                        self._config.properties.append(prop)
                        self._schema_changed()
                except BaseException:
                    rollback(self._db)
                    raise

    def update_config(self, new: CollectionConfig) -> None:
        """Replaces the config with ``new``, durably: a class update (``CollectionConfig.updated``) or a
        deleted property index (``CollectionConfig.without_index``). ``new`` has the same properties (in
        their data types and tokenizations) and vectors; what it changes is read at query time."""
        with self._commit_lock:
            same = [(p.name, p.data_type, p.tokenization) for p in self._config.properties]
            if [(p.name, p.data_type, p.tokenization) for p in new.properties] != same or set(
                new.vectors
            ) != set(self._config.vectors):
                raise SchemaError(f"{self.name}: an update cannot change the properties or vectors")
            with storage_errors(f"updating the config of {self.name}"):
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._meta_set("config", json.dumps(new.to_weaviate()))
                    with self._state.write():
                        self._db.execute("COMMIT")
                        cfg = self._config  # the object readers (and the BM25 index) hold: updated in place
                        cfg.description = new.description
                        cfg.properties[:] = new.properties
                        cfg.vectors.update(new.vectors)
                        cfg.inverted_index = new.inverted_index
                        cfg.extra = new.extra
                        cfg.legacy = new.legacy
                        self._schema_changed()
                except BaseException:
                    rollback(self._db)
                    raise

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
property another writer's auto-schema added, a dimension another writer fixed). Readers search a
published state (``published.View``: records, filter columns, BM25 index, segment snapshots and a
SQLite read transaction begun at its commit) that no writer changes: after its COMMIT a writer makes the
next view, copying what it changes, and publishes it by one reference assignment. So a search never
waits for an encode nor for a publish, and never sees half a batch.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from colweave.store.aggregate import Aggregating
from colweave.store.bm25 import InvertedIndex
from colweave.store.copies import build_copies, save_copies
from colweave.store.cow import CowMap
from colweave.store.errors import (
    SchemaError,
    StoreError,
    storage_errors,
)
from colweave.store.explaining import Explaining
from colweave.store.filter_index import FilterIndex
from colweave.store.group_by import Grouping
from colweave.store.objects import (
    NO_BLOBS,
    Rec,
    Vectorizer,
    connect,
    rollback,
)
from colweave.store.published import Published, View
from colweave.store.reads import QUERY_MAXIMUM_RESULTS
from colweave.store.ref_writes import ReferenceWrites
from colweave.store.schema import (
    CollectionConfig,
    Property,
)
from colweave.store.segments import VectorSegment
from colweave.store.ttl import Expiring
from colweave.store.vector_search import MAX_QUERY_TOKENS, muvera_pool
from colweave.store.writes import Writes

__all__ = ["MAX_QUERY_TOKENS", "QUERY_MAXIMUM_RESULTS", "Collection", "muvera_pool"]


class Collection(ReferenceWrites, Writes, Aggregating, Explaining, Grouping, Expiring):
    """One collection (see the module docstring). Its parts live in ``writes`` (with ``compaction``),
    ``reads``, ``vector_search``, ``keyword`` (BM25 and hybrid), ``aggregate`` and ``explaining``, over
    ``state``."""

    def __init__(self, path: Path, vectorizer: Vectorizer | None = None) -> None:
        self.path = path
        self.vectorizer = vectorizer
        self._commit_lock = threading.RLock()  # writers commit one at a time
        self._db = connect(path / "objects.sqlite")  # the writers' connection
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if "config" not in meta:
            self._db.close()
            raise StoreError(f"{path}: not a collection (no config)")
        try:
            config = CollectionConfig.from_weaviate(json.loads(meta["config"]))
        except (SchemaError, ValueError) as e:
            # A config written before a bound existed (e.g. MUVERA sizes): refuse to open it, clearly,
            # rather than allocate what it asks for. It can still be deleted.
            self._db.close()
            raise StoreError(
                f"collection at {path.name} cannot be opened: its stored config is invalid: {e}"
            ) from None
        self.vector_dtype = meta.get("vector_dtype", "float16")
        self._segments: dict[str, VectorSegment] = {}
        slot_of: dict[str, Mapping[int, int]] = {}
        rows_by_name: dict[str, list[tuple[int, int, int, int]]] = {}
        for doc, name, slot, start, ntok in self._db.execute(
            "SELECT doc, name, slot, start, ntok FROM vectors"
        ):
            rows_by_name.setdefault(name, []).append((slot, start, ntok, doc))
        for name, vc in config.vectors.items():
            dim = int(meta[f"dim.{name}"]) if f"dim.{name}" in meta else None
            # Single vectors are kept in float32, exactly as given: Weaviate returns them as given, and
            # hamming and l2 distances must see the values themselves.
            dtype = self.vector_dtype if vc.multi else "float32"
            seg = VectorSegment(path, name, dtype, dim, int(meta.get(f"gen.{name}", 0)), vc.muvera)
            seg.open(rows_by_name.get(name, []))
            self._segments[name] = seg
            slot_of[name] = {doc: slot for slot, _, _, doc in rows_by_name.get(name, [])}
        del rows_by_name
        self._copies = build_copies(self._segments, config)
        tokens: dict[str, dict[int, int]] = {}
        for doc, name, original in self._db.execute("SELECT doc, name, original FROM pooled"):
            tokens.setdefault(name, {})[doc] = original
        recs: dict[int, Rec] = {}
        doc_of: dict[str, int] = {}
        blobs: dict[int, frozenset[str]] = {}
        for doc, name in self._db.execute("SELECT doc, name FROM blobs"):
            blobs[doc] = blobs.get(doc, NO_BLOBS) | {name}
        bm25 = InvertedIndex(config)
        batch: list[tuple[int, dict[str, Any]]] = []
        for doc, u, props, created, updated in self._db.execute(
            "SELECT doc, uuid, props, created, updated FROM objects ORDER BY doc"
        ):
            rec = Rec(u, props, blobs.get(doc, NO_BLOBS), created, updated)
            recs[doc] = rec
            doc_of[u] = doc
            batch.append((doc, rec.props))
            if len(batch) == 1024:
                bm25.add_many(batch)
                batch = []
        bm25.add_many(batch)
        view = View(
            config,
            recs,
            doc_of,
            slot_of,
            {n: s.snapshot() for n, s in self._segments.items()},
            {n: s.dim for n, s in self._segments.items()},
            bm25,
            FilterIndex.build(recs, config),
            copies={n: c.view() for n, c in self._copies.items()},
            tokens={n: CowMap(t) for n, t in tokens.items()},
        )
        self._state = Published(path / "objects.sqlite", view)

    def close(self) -> None:
        with self._commit_lock:
            if self.path.exists():  # not a collection being deleted
                save_copies(self._segments, self._copies)
            self._db.close()
            self._state.close()

    def _publish_config(
        self,
        new: CollectionConfig,
        recoded: Sequence[str] = (),
        added: Mapping[str, VectorSegment] | None = None,
    ) -> None:
        """Publishes a committed config change (readers keep the view they pinned); ``recoded``: the
        vectors whose compact copy changed with it (built, or dropped, from the writer's ``_copies``);
        ``added``: the segments of the vectors it adds (empty)."""
        v = self._state.current
        copies = {n: c for n, c in v.copies.items() if n not in recoded}
        copies.update({n: self._copies[n].view() for n in recoded if n in self._copies})
        changes: dict[str, object] = {}
        if added:
            changes["slot_of"] = {**v.slot_of, **{n: {} for n in added}}
            changes["snaps"] = {**v.snaps, **{n: seg.snapshot() for n, seg in added.items()}}
            changes["dims"] = {**v.dims, **{n: seg.dim for n, seg in added.items()}}
        self._state.publish(v.but(config=new, bm25=v.bm25.copy(new), copies=copies, **changes))

    def add_property(self, prop: Property) -> None:
        with self._commit_lock:
            if self._config.property(prop.name) is not None:
                raise SchemaError(f"property {prop.name!r} already exists in {self.name}")
            new = CollectionConfig.from_weaviate(self._config.to_weaviate())
            new.properties.append(prop)
            new.validate()
            with storage_errors(f"adding property {prop.name!r} to {self.name}"):
                self._state.before_begin()
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._meta_set("config", json.dumps(new.to_weaviate()))
                    self._state.before_commit()
                    self._db.execute("COMMIT")
                except BaseException:
                    rollback(self._db)
                    raise
                self._publish_config(new)

    def update_class(
        self, body: dict[str, Any], check: Callable[[CollectionConfig, CollectionConfig], None] | None = None
    ) -> CollectionConfig:
        """Weaviate's class update (``PUT /v1/schema/{class}``) with ``body``, the complete class as a
        client sends it (``CollectionConfig.updated``: what may change, named vectors that may be added),
        read and applied under the commit lock, so two updates at once cannot undo each other. ``check``
        (old, new) may refuse the new config by raising before anything is written."""
        with self._commit_lock:
            old = self._state.current.config
            new = old.updated(body)
            if check is not None:
                check(old, new)
            self.update_config(new)
            return self._state.current.config

    def update_config(self, new: CollectionConfig) -> None:
        """Replaces the config with ``new``, durably: a class update (``CollectionConfig.updated``) or a
        deleted property index (``CollectionConfig.without_index``). ``new`` has the same properties (in
        their data types and tokenizations) and every vector of the current config; what it changes is
        read at query time. A vector ``new`` adds (Weaviate's ``add_vector``) starts empty: the objects
        there are have none of it until they are written again with one."""
        with self._commit_lock:
            same = [(p.name, p.data_type, p.tokenization) for p in self._config.properties]
            if [(p.name, p.data_type, p.tokenization) for p in new.properties] != same:
                raise SchemaError(f"{self.name}: an update cannot change the properties")
            missing = [n for n in self._config.vectors if n not in new.vectors]
            if missing:  # e.g. an update made from a config read before another one added a vector
                raise SchemaError(f"missing config for vector {missing[0]!r}")
            added = [n for n in new.vectors if n not in self._config.vectors]
            # The new vectors' segments: empty, their files made by the first write (a file of the name
            # left by an interrupted write of an earlier life cannot exist: vectors are never removed,
            # and open() truncates what no committed row references anyway).
            segments = {n: self._new_segment(n, new) for n in added}
            # A quantizer turned on or changed: its compact copy is built from the segment first (no
            # writer can append meanwhile), then swapped in with the config.
            changed = [
                n
                for n, v in new.vectors.items()
                if n not in added and v.compression.kind != self._config.vectors[n].compression.kind
            ]
            copies = build_copies({n: self._segments[n] for n in changed}, new)
            with storage_errors(f"updating the config of {self.name}"):
                self._state.before_begin()
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._meta_set("config", json.dumps(new.to_weaviate()))
                    self._state.before_commit()
                    self._db.execute("COMMIT")
                except BaseException:
                    rollback(self._db)
                    raise
                for n in changed:
                    self._copies.pop(n, None)
                self._copies.update(copies)
                self._segments.update(segments)
                self._publish_config(CollectionConfig.from_weaviate(new.to_weaviate()), changed, segments)

    def _new_segment(self, name: str, config: CollectionConfig) -> VectorSegment:
        vc = config.vectors[name]
        dtype = self.vector_dtype if vc.multi else "float32"  # as __init__ opens them
        seg = VectorSegment(self.path, name, dtype, None, 0, vc.muvera)
        seg.open([])
        return seg

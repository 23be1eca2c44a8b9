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

import base64
import bisect
import contextlib
import json
import logging
import threading
import uuid as uuidlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from colweave import _native
from colweave.explain import Explanation
from colweave.explain import explain as explain_match
from colweave.layout import PageLayout
from colweave.store import layouts as layout_rows
from colweave.store.bm25 import InvertedIndex
from colweave.store.errors import (
    NotFoundError,
    ObjectError,
    QueryError,
    SchemaError,
    StoreError,
    VectorizerUnavailableError,
    disk_full_error,
    is_disk_full,
    storage_errors,
)
from colweave.store.filters import And, FilterT, Or, Predicate, Where, compile_filter
from colweave.store.objects import (
    BatchError,
    BatchResult,
    DataObject,
    Rec,
    StoredObject,
    Vectorizer,
    connect,
    ms_now,
    ms_to_datetime,
    parse_uuid,
    rollback,
)
from colweave.store.results import Metadata, SearchResult, autocut, explain_ranked, explain_relative
from colweave.store.rwlock import RWLock
from colweave.store.schema import (
    MULTI2MULTIVEC,
    CollectionConfig,
    Property,
    coerce_value,
    infer_data_type,
)
from colweave.store.segments import Snapshot, VectorSegment, muvera_encode

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
VECTOR_SET = "vector,hybridVector"
# Weaviate's QUERY_MAXIMUM_RESULTS default: offset + limit of one result page.
QUERY_MAXIMUM_RESULTS = 10_000
# A query multi-vector holds at most this many tokens (Weaviate Embeddings' limit on a query).
MAX_QUERY_TOKENS = 8192
KEYWORD_SET = "keyword,bm25"


@dataclass
class _Prepared:
    index: int
    uuid: str
    doc: int | None  # existing object being replaced
    props: dict[str, Any]  # non-blob, stored form
    blobs: dict[str, bytes]
    created: int
    updated: int
    vectors: dict[str, F32]  # new multi-vectors (normalised); names absent keep the old one
    layouts: dict[str, PageLayout] = field(default_factory=dict)  # of new vectors that have one
    fdes: dict[str, F32] = field(default_factory=dict)  # MUVERA encodings made before the commit


@dataclass
class _Made:
    """What the vectorizer made for one (object, vector) before the commit lock was taken."""

    image: bytes
    result: F32 | Exception
    layout: PageLayout | None
    normalised: F32 | None = None  # checked and normalised, when it passed the checks then
    fde: F32 | None = None


# (object index, vector name) -> what was made for it before the commit
_Pre = dict[tuple[int, str], _Made]


class Collection:
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

    # -- schema --------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._config.name

    @property
    def config(self) -> CollectionConfig:
        return self._config

    def close(self) -> None:
        with self._commit_lock, self._state.write():
            self._db.close()
            with self._rdb_lock:
                self._rdb.close()

    def _schema_changed(self) -> None:
        self._props_by_name = {p.name: p for p in self._config.properties}
        self._props_by_lower = {p.name.lower(): p.name for p in self._config.properties}
        self._default_props = [p for p in self._config.properties if p.data_type != "blob"]
        self._bm25.refresh_schema()

    def _meta_set(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

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
            # A new searchable property has no values yet: nothing to index.

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

    # -- preparing writes ----------------------------------------------------------------------------
    def _target(self, target_vector: str | None) -> str:
        names = list(self._config.vectors)
        if target_vector is None:
            if len(names) != 1:
                raise QueryError(
                    f"target_vector: {self.name} has {len(names)} named vectors "
                    f"({', '.join(names) or 'none'}); "
                    "name one"
                )
            return names[0]
        if target_vector not in self._config.vectors:
            raise QueryError(f"target_vector: {self.name} has no vector named {target_vector!r}")
        return target_vector

    def _check_vector(self, name: str, v: Any, dims: dict[str, int], where: str) -> F32:
        m = _numeric_matrix(v)
        if m is None:
            raise ObjectError(f"{where}: vector {name!r} is not a numeric matrix")
        if m.ndim != 2 or m.shape[0] == 0 or m.shape[1] == 0:
            raise ObjectError(
                f"{where}: vector {name!r} must be a non-empty multi-vector (tokens, dim), "
                f"got shape {m.shape}"
            )
        if not np.all(np.isfinite(m)):
            raise ObjectError(f"{where}: vector {name!r} has NaN or infinite values")
        dim = dims.get(name)
        if dim is None:
            dims[name] = m.shape[1]
        elif m.shape[1] != dim:
            raise ObjectError(
                f"{where}: vector {name!r} has dimension {m.shape[1]}, the collection uses {dim}"
            )
        return self._for_distance(name, m)

    def _for_distance(self, name: str, m: F32) -> F32:
        """Rows L2-normalised for cosine distance (zero rows stay zero), contiguous float32."""
        if self._config.vectors[name].distance == "cosine":
            norms = np.linalg.norm(m, axis=1, keepdims=True)
            m = np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)
        return np.ascontiguousarray(m, np.float32)

    def _prepare(
        self,
        objects: Sequence[DataObject],
        *,
        mode: str,
        new_props: list[Property],
        dims: dict[str, int],
        errors: list[BatchError],
        pre: _Pre | None = None,
        defer: list[tuple[int, str, bytes]] | None = None,
    ) -> list[_Prepared]:
        """Validates objects; ``mode`` is "insert" (must not exist), "upsert", "replace" or "merge"
        (must exist). Auto-schema adds unknown properties to ``new_props``. The images to vectorize
        are vectorized here, taking what ``pre`` holds for them; with ``defer`` they are only listed
        there (the pass before the commit lock)."""
        out: list[_Prepared] = []
        now = ms_now()
        pending: dict[str, Property] = {p.name: p for p in new_props}
        to_vectorize: list[tuple[_Prepared, str, bytes]] = []
        for i, obj in enumerate(objects):
            u: str | None = None
            try:
                if not isinstance(obj, DataObject):
                    raise ObjectError(f"object {i}: expected a DataObject, got {type(obj).__name__}")
                u = parse_uuid(obj.uuid) if obj.uuid is not None else str(uuidlib.uuid4())
                if not isinstance(obj.properties, dict):
                    raise ObjectError("properties: expected a dict")
                doc = self._doc_of.get(u)
                if mode == "insert" and doc is not None:
                    raise ObjectError(f"id '{u}' already exists")
                if mode in ("replace", "merge") and doc is None:
                    raise NotFoundError(f"no object with id '{u}' in {self.name}")
                old = self._recs[doc] if doc is not None else None
                given = dict(obj.properties)
                if mode == "merge" and old is not None:
                    merged: dict[str, Any] = dict(old.props)
                    merged.update({k: v for k, v in given.items()})
                    given = merged
                props: dict[str, Any] = {}
                blobs: dict[str, bytes] = {}
                local_new: dict[str, Property] = {}
                for key, value in given.items():
                    if not isinstance(key, str):
                        raise ObjectError(f"property names must be strings, got {key!r}")
                    prop = self._props_by_name.get(key) or pending.get(key) or local_new.get(key)
                    if prop is None:
                        other = self._props_by_lower.get(key.lower()) or next(
                            (n for n in (*pending, *local_new) if n.lower() == key.lower()), None
                        )
                        if other is not None:
                            raise ObjectError(
                                f"property {key!r}: collides with property {other!r} "
                                "(property names must differ other than by case)"
                            )
                        t = infer_data_type(value)
                        if t is None:
                            continue  # null or empty: nothing to infer, nothing to store
                        try:
                            prop = Property.create(key, t)
                        except SchemaError as e:
                            raise ObjectError(str(e)) from None
                        local_new[key] = prop
                    try:
                        stored = coerce_value(prop, value)
                    except SchemaError as e:
                        raise ObjectError(str(e)) from None
                    if stored is None:
                        continue
                    if prop.data_type == "blob":
                        blobs[key] = base64.b64decode(stored)
                    else:
                        props[key] = stored
                if mode == "merge" and old is not None and doc is not None:
                    for b in old.blobs:
                        if b not in blobs and b not in obj.properties:
                            blobs[b] = self._load_blob(doc, b)
                vecs: dict[str, F32] = {}
                for name, v in (obj.vectors or {}).items():
                    if name not in self._config.vectors:
                        raise ObjectError(f"vector {name!r}: {self.name} has no such named vector")
                    vecs[name] = self._check_vector(name, v, dims, f"object {i}")
                lays: dict[str, PageLayout] = {}
                for n, lay in (obj.layouts or {}).items():
                    if n not in vecs:
                        raise ObjectError(f"layout {n!r}: only a vector given with the object has a layout")
                    lays[n] = layout_rows.checked(lay, len(vecs[n]), f"object {i}: layout {n!r}")
                p = _Prepared(i, u, doc, props, blobs, old.created if old else now, now, vecs, lays)
                for name, v in vecs.items():  # encodings made before the commit lock, if still valid
                    fde = _fde_for((pre or {}).get((i, name)), v)
                    if fde is not None:
                        p.fdes[name] = fde
                for name, vc in self._config.vectors.items():
                    if name in vecs or vc.vectorizer != MULTI2MULTIVEC:
                        continue
                    fields = vc.image_fields
                    images = [blobs[f] for f in fields if f in blobs]
                    unchanged = (
                        doc is not None
                        and all(f not in obj.properties for f in fields)
                        and self._slot_of[name].get(doc) is not None
                    )
                    if images and not unchanged:
                        if self.vectorizer is None:
                            raise ObjectError(
                                f"vector {name!r} uses {MULTI2MULTIVEC}, but the store has no vectorizer"
                            )
                        to_vectorize.append((p, name, images[0]))
                pending.update(local_new)
                out.append(p)
            except (ObjectError, NotFoundError) as e:
                errors.append(BatchError(i, u, str(e)))
        if defer is not None:
            defer.extend((p.index, name, img) for p, name, img in to_vectorize)
        elif to_vectorize:
            out = self._vectorize(out, to_vectorize, dims, errors, pre or {})
        new_props[:] = list(pending.values())
        return out

    def _vectorize(
        self,
        items: list[_Prepared],
        todo: list[tuple[_Prepared, str, bytes]],
        dims: dict[str, int],
        errors: list[BatchError],
        pre: _Pre,
    ) -> list[_Prepared]:
        """The vectors of the images of ``todo``: what ``pre`` made for the same image, else the
        vectorizer's (see :meth:`_embed`). Returns ``items`` without the objects that failed."""
        made: list[_Made | None] = []
        for p, name, img in todo:
            m = pre.get((p.index, name))
            made.append(m if m is not None and m.image == img else None)
        missing = [(i, img) for i, ((_, _, img), m) in enumerate(zip(todo, made, strict=True)) if m is None]
        if missing:  # the state changed since the first pass (rare): vectorize under the commit lock
            for (i, _), m in zip(missing, self._embed([img for _, img in missing]), strict=True):
                made[i] = m
        failed: set[int] = set()
        for (p, name, _), mk in zip(todo, made, strict=True):
            assert mk is not None
            try:
                if isinstance(mk.result, Exception):
                    raise ObjectError(f"vector {name!r}: the vectorizer failed: {mk.result}")
                v = self._check_vector(name, mk.result, dims, f"object {p.index}")
                fde = _fde_for(mk, v)
                if fde is not None:
                    p.fdes[name] = fde
                p.vectors[name] = v
                if mk.layout is not None:
                    p.layouts[name] = layout_rows.checked(mk.layout, len(v), f"vector {name!r}")
            except ObjectError as e:
                if p.index not in failed:
                    errors.append(BatchError(p.index, p.uuid, str(e)))
                failed.add(p.index)
        return [p for p in items if p.index not in failed]

    def _embed(self, images: list[bytes]) -> list[_Made]:
        """Runs the vectorizer over ``images`` (one call; if it fails, one call per image so that a bad
        image fails only its own object). A vectorizer may also answer an exception in place of one
        image's vectors: that image's object fails with it."""
        assert self.vectorizer is not None
        results: list[Any]
        lays: list[PageLayout | None]
        try:
            results, lays = layout_rows.embed_with_layouts(self.vectorizer, images)
            if len(results) != len(images):
                raise StoreError(f"the vectorizer returned {len(results)} vectors for {len(images)} images")
        except VectorizerUnavailableError:
            raise
        except Exception:
            results, lays = [], []
            for img in images:
                try:
                    (m,), (lay,) = layout_rows.embed_with_layouts(self.vectorizer, [img])
                    results.append(m)
                    lays.append(lay)
                except VectorizerUnavailableError:
                    raise
                except Exception as e:
                    results.append(e)
                    lays.append(None)
        return [_Made(img, m, lay) for img, m, lay in zip(images, results, lays, strict=True)]

    def _pre_vectorize(self, objects: Sequence[DataObject], mode: str) -> _Pre:
        """The first pass of a write, before the commit lock: finds the images to vectorize against the
        published state, then vectorizes them and MUVERA-encodes the results holding no lock at all.
        What it finds is a guess that the commit checks again (see :meth:`_vectorize`)."""
        todo: list[tuple[int, str, bytes]] = []
        with self._state.read():
            dims = {n: s.dim for n, s in self._segments.items() if s.dim is not None}
            self._prepare(objects, mode=mode, new_props=[], dims=dims, errors=[], defer=todo)
        pre: _Pre = {}
        # Self-provided multi-vectors: their MUVERA encodings, one call per named vector.
        for name, vc in self._config.vectors.items():
            if not vc.muvera.enabled:
                continue
            given: list[tuple[int, F32]] = []
            for i, obj in enumerate(objects):
                v = obj.vectors.get(name) if isinstance(obj, DataObject) and obj.vectors else None
                if v is not None:
                    with contextlib.suppress(ObjectError):  # reported by the commit's pass
                        given.append((i, self._check_vector(name, v, dict(dims), f"object {i}")))
            if given:
                fdes = muvera_encode(vc.muvera, [m for _, m in given], is_query=False)
                for (i, m), fde in zip(given, fdes, strict=True):
                    pre[(i, name)] = _Made(b"", m, None, m, fde)
        if not todo:
            return pre
        for (i, name, _), mk in zip(todo, self._embed([img for _, _, img in todo]), strict=True):
            pre[(i, name)] = mk
            if isinstance(mk.result, Exception):
                continue
            try:
                mk.normalised = self._check_vector(name, mk.result, dict(dims), f"object {i}")
            except ObjectError:
                continue  # reported by the commit's pass
            muvera = self._config.vectors[name].muvera
            if muvera.enabled:
                mk.fde = muvera_encode(muvera, [mk.normalised], is_query=False)[0]
        return pre

    def _load_blob(self, doc: int, name: str) -> bytes:
        with self._rdb_lock:
            row = self._rdb.execute(
                "SELECT data FROM blobs WHERE doc = ? AND name = ?", (doc, name)
            ).fetchone()
        return bytes(row[0]) if row else b""

    def _read_layout(self, doc: int, name: str) -> PageLayout | None:
        with self._rdb_lock:
            return layout_rows.read(self._rdb, doc, name)

    # -- committing writes ---------------------------------------------------------------------------
    def _commit(self, items: list[_Prepared], new_props: list[Property], dims: dict[str, int]) -> None:
        """Makes ``items`` durable and visible, all or nothing."""
        if not items:
            return
        placed: dict[str, list[tuple[int, int, int]]] = {}
        rollbacks: dict[str, tuple[int, int]] = {}
        owners: dict[str, list[_Prepared]] = {}
        config = self._config
        if new_props:
            config = CollectionConfig.from_weaviate(self._config.to_weaviate())
            config.properties.extend(new_props)
            config.validate()
        try:
            for name, seg in self._segments.items():
                batch = [p for p in items if name in p.vectors]
                if not batch:
                    continue
                fdes = None
                if seg.muvera.enabled and all(name in p.fdes for p in batch):
                    fdes = np.stack([p.fdes[name] for p in batch])
                placed[name], rollbacks[name] = seg.append([p.vectors[name] for p in batch], fdes)
                owners[name] = batch
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                docs: list[int] = []
                for p in items:
                    js = json.dumps(p.props, ensure_ascii=False, separators=(",", ":"))
                    if p.doc is None:
                        cur = db.execute(
                            "INSERT INTO objects (uuid, props, created, updated) VALUES (?, ?, ?, ?)",
                            (p.uuid, js, p.created, p.updated),
                        )
                        assert cur.lastrowid is not None
                        p.doc = cur.lastrowid
                    else:
                        db.execute(
                            "UPDATE objects SET props = ?, updated = ? WHERE doc = ?", (js, p.updated, p.doc)
                        )
                        db.execute("DELETE FROM blobs WHERE doc = ?", (p.doc,))
                    db.executemany(
                        "INSERT INTO blobs (doc, name, data) VALUES (?, ?, ?)",
                        [(p.doc, k, v) for k, v in p.blobs.items()],
                    )
                    docs.append(p.doc)
                for name, rows in placed.items():
                    db.executemany(
                        "INSERT OR REPLACE INTO vectors (doc, name, slot, start, ntok) "
                        "VALUES (?, ?, ?, ?, ?)",
                        [(p.doc, name, s, st, n) for p, (s, st, n) in zip(owners[name], rows, strict=True)],
                    )
                    self._meta_set(f"dim.{name}", str(dims[name]))
                    layout_rows.write(db, [(p.doc, name, p.layouts.get(name)) for p in owners[name]])
                if new_props:
                    self._meta_set("config", json.dumps(config.to_weaviate()))
                with self._state.write():  # readers see the commit and its publication at once
                    db.execute("COMMIT")
                    self._publish(items, new_props, dims, placed, owners)
            except BaseException:
                rollback(db)
                raise
        except BaseException as e:
            # Nothing committed: the files go back to their committed lengths, and nothing in memory
            # has changed.
            for name, before in rollbacks.items():
                self._segments[name].rollback(before)
            if is_disk_full(e):
                raise disk_full_error(f"writing {len(items)} object(s) to {self.name}") from e
            raise
        for name in placed:
            self._maybe_compact(name)

    def _publish(
        self,
        items: list[_Prepared],
        new_props: list[Property],
        dims: dict[str, int],
        placed: dict[str, list[tuple[int, int, int]]],
        owners: dict[str, list[_Prepared]],
    ) -> None:
        """Makes a committed write visible to readers (who are kept out meanwhile)."""
        if new_props:
            self._config.properties.extend(new_props)
            self._schema_changed()
        self._sorted = None
        for p in items:
            assert p.doc is not None
            old = self._recs.get(p.doc)
            if old is not None:
                self._bm25.remove(p.doc, old.props)
            rec = Rec(p.uuid, p.props, frozenset(p.blobs), p.created, p.updated)
            self._recs[p.doc] = rec
            self._doc_of[p.uuid] = p.doc
            self._bm25.add(p.doc, rec.props)
        for name, rows in placed.items():
            seg = self._segments[name]
            if seg.dim is None:
                seg.dim = dims[name]
            owner_docs = [p.doc for p in owners[name] if p.doc is not None]
            dead = [self._slot_of[name][d] for d in owner_docs if d in self._slot_of[name]]
            seg.publish(rows, owner_docs)
            seg.kill(dead)
            for d, (s, _, _) in zip(owner_docs, rows, strict=True):
                self._slot_of[name][d] = s

    # -- writes --------------------------------------------------------------------------------------
    def _write(self, objects: Sequence[DataObject], mode: str) -> BatchResult:
        objects = list(objects)
        pre = self._pre_vectorize(objects, mode)
        with self._commit_lock:
            errors: list[BatchError] = []
            new_props: list[Property] = []
            dims = {n: s.dim for n, s in self._segments.items() if s.dim is not None}
            # The last of several objects with one UUID wins (as in a Weaviate batch).
            last: dict[str, int] = {}
            for i, o in enumerate(objects):
                if isinstance(o, DataObject) and o.uuid is not None:
                    with contextlib.suppress(ObjectError):
                        last[parse_uuid(o.uuid)] = i
            items = self._prepare(objects, mode=mode, new_props=new_props, dims=dims, errors=errors, pre=pre)
            shadowed = [p for p in items if last.get(p.uuid, p.index) != p.index]
            items = [p for p in items if last.get(p.uuid, p.index) == p.index]
            self._commit(items, new_props, dims)
            uuids: list[str | None] = [None] * len(objects)
            for p in items + shadowed:
                uuids[p.index] = p.uuid
            errors.sort(key=lambda e: e.index)
            return BatchResult(uuids, errors)

    def insert(
        self,
        properties: dict[str, Any] | None = None,
        *,
        uuid: str | uuidlib.UUID | None = None,
        vectors: dict[str, Any] | None = None,
        layouts: dict[str, PageLayout] | None = None,
    ) -> str:
        """Inserts one object; raises if it is invalid or its UUID exists. Returns its UUID."""
        res = self._write([DataObject(properties or {}, uuid, vectors, layouts)], "insert")
        if res.errors:
            raise ObjectError(res.errors[0].message)
        u = res.uuids[0]
        assert u is not None
        return u

    def insert_many(self, objects: Sequence[DataObject]) -> BatchResult:
        """Batch insert (an existing UUID is overwritten, as in Weaviate's batch): invalid objects are
        reported in ``errors`` by index, the others are stored — durably once this returns."""
        return self._write(list(objects), "upsert")

    def replace(
        self,
        uuid: str | uuidlib.UUID,
        properties: dict[str, Any],
        *,
        vectors: dict[str, Any] | None = None,
        layouts: dict[str, PageLayout] | None = None,
    ) -> None:
        """Replaces an object's properties (and the vectors given; others are kept or re-vectorized)."""
        res = self._write([DataObject(properties, uuid, vectors, layouts)], "replace")
        if res.errors:
            e = res.errors[0].message
            raise NotFoundError(e) if e.startswith("no object") else ObjectError(e)

    def update(
        self,
        uuid: str | uuidlib.UUID,
        properties: dict[str, Any],
        *,
        vectors: dict[str, Any] | None = None,
        layouts: dict[str, PageLayout] | None = None,
    ) -> None:
        """Merges ``properties`` into the object's (a merge-update, PATCH)."""
        res = self._write([DataObject(properties, uuid, vectors, layouts)], "merge")
        if res.errors:
            e = res.errors[0].message
            raise NotFoundError(e) if e.startswith("no object") else ObjectError(e)

    def _delete_docs(self, docs: list[int]) -> int:
        if not docs:
            return 0
        db = self._db
        with storage_errors(f"deleting {len(docs)} object(s) from {self.name}"):
            db.execute("BEGIN IMMEDIATE")
            try:
                for table in ("objects", "blobs", "vectors"):
                    db.executemany(f"DELETE FROM {table} WHERE doc = ?", [(d,) for d in docs])
                layout_rows.delete_docs(db, docs)
                with self._state.write():
                    db.execute("COMMIT")
                    self._sorted = None
                    for d in docs:
                        rec = self._recs.pop(d)
                        del self._doc_of[rec.uuid]
                        self._bm25.remove(d, rec.props)
                    for name, seg in self._segments.items():
                        slots = [self._slot_of[name].pop(d) for d in docs if d in self._slot_of[name]]
                        seg.kill(slots)
            except BaseException:
                rollback(db)
                raise
        for name in self._segments:
            self._maybe_compact(name)
        return len(docs)

    def delete(self, uuid: str | uuidlib.UUID) -> bool:
        with self._commit_lock:
            doc = self._doc_of.get(parse_uuid(uuid))
            return self._delete_docs([doc]) == 1 if doc is not None else False

    def delete_many(
        self, *, ids: Sequence[str | uuidlib.UUID] | None = None, filters: FilterT | None = None
    ) -> int:
        """Deletes the objects with these ids and/or matching ``filters``; returns how many."""
        with self._commit_lock:
            if ids is None and filters is None:
                raise QueryError("delete_many: give ids or filters")
            docs = set(self._matching(filters)) if filters is not None else set(self._recs)
            if ids is not None:
                wanted = {self._doc_of.get(parse_uuid(u)) for u in ids}
                docs &= {d for d in wanted if d is not None}
            return self._delete_docs(sorted(docs))

    # -- compaction ----------------------------------------------------------------------------------
    def _compact(self, name: str) -> None:
        seg = self._segments[name]
        gen = seg.generation + 1
        rows = seg.compact_to(gen)
        db = self._db
        committed = False
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "UPDATE vectors SET slot = ?, start = ?, ntok = ? WHERE doc = ? AND name = ?",
                [(s, st, n, d, name) for d, s, st, n in rows],
            )
            self._meta_set(f"gen.{name}", str(gen))
            with self._state.write():
                db.execute("COMMIT")
                committed = True
                seg.switch(gen, rows)
                self._slot_of[name] = {d: s for d, s, _, _ in rows}
        except BaseException:
            if not committed:
                rollback(db)
                seg.discard(gen)
            raise

    def _maybe_compact(self, name: str) -> None:
        """Compacts a segment once more than half of its rows are dead (replaced or deleted vectors)."""
        seg = self._segments[name]
        if seg.rows and seg.dead_rows() * 2 > seg.rows:
            try:
                self._compact(name)
            except Exception as e:  # the write that got us here is committed: report, do not fail it
                log.warning(
                    "compaction of %s.%s failed (will retry on the next write): %s", self.name, name, e
                )

    def compact(self) -> None:
        """Rewrites every vector segment without its deleted (tombstoned) slots."""
        with self._commit_lock, storage_errors(f"compacting {self.name}"):
            for name in self._segments:
                self._compact(name)

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())

    # -- reads ---------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._recs)

    def _id_candidates(self, f: FilterT) -> set[int] | None:
        """A superset of the objects ``f`` can match, from its id conditions alone (None: no bound).
        ``fetch_object_by_id`` is an id filter: it must not scan every object."""
        if isinstance(f, Where):
            if f.target == "id" and f.operator in ("equal", "contains_any"):
                values = f.value if f.operator == "contains_any" else [f.value]
                if isinstance(values, list | tuple):
                    out = set()
                    for v in values:
                        try:
                            d = self._doc_of.get(parse_uuid(v))
                        except ObjectError:
                            return None  # compile_filter reports the bad UUID
                        if d is not None:
                            out.add(d)
                    return out
            return None
        if isinstance(f, And):
            bounds = [b for b in (self._id_candidates(x) for x in f.operands) if b is not None]
            return set.intersection(*bounds) if bounds else None
        if isinstance(f, Or):
            parts = [self._id_candidates(x) for x in f.operands]
            if not parts or any(p is None for p in parts):
                return None
            return set().union(*(p for p in parts if p is not None))
        return None

    def _matching(self, filters: FilterT | None) -> list[int]:
        pred: Predicate | None = compile_filter(filters, self._config)
        if pred is None or filters is None:
            return list(self._recs)
        bound = self._id_candidates(filters)
        if bound is not None:
            return [d for d in sorted(bound) if pred(self._recs[d])]
        return [d for d, r in self._recs.items() if pred(r)]

    def _by_uuid(self) -> list[tuple[str, int]]:
        """Every object as ``(uuid, doc)`` in UUID order (cached until the next write)."""
        if self._sorted is None:
            self._sorted = sorted((r.uuid, d) for d, r in self._recs.items())
        return self._sorted

    def count(self, filters: FilterT | None = None) -> int:
        with self._state.read():
            return len(self._recs) if filters is None else len(self._matching(filters))

    def exists(self, uuid: str | uuidlib.UUID) -> bool:
        with self._state.read():
            return parse_uuid(uuid) in self._doc_of

    def _vector_of(self, name: str, doc: int) -> F32 | None:
        slot = self._slot_of[name].get(doc)
        if slot is None:
            return None
        snap = self._segments[name].snapshot()
        a, b = int(snap.offsets[slot]), int(snap.offsets[slot + 1])
        return np.asarray(snap.rows[a:b], np.float32)

    def _props_of(
        self, doc: int, return_properties: Sequence[str] | None, blobs_by_default: bool
    ) -> dict[str, Any]:
        rec = self._recs[doc]
        if return_properties is None and not blobs_by_default:
            return {p.name: rec.props[p.name] for p in self._default_props if p.name in rec.props}
        names = [p.name for p in self._config.properties] if return_properties is None else return_properties
        out: dict[str, Any] = {}
        for n in names:
            p = self._props_by_name.get(n)
            if p is None:
                raise QueryError(f"return_properties: {self.name} has no property {n!r}")
            if p.data_type == "blob":
                if n in rec.blobs:
                    out[n] = base64.b64encode(self._load_blob(doc, n)).decode("ascii")
            elif n in rec.props:
                out[n] = rec.props[n]
        return out

    def _vectors_of(self, doc: int, include_vector: bool | Sequence[str]) -> dict[str, F32]:
        if not include_vector:
            return {}
        names = list(self._config.vectors) if isinstance(include_vector, bool) else list(include_vector)
        out = {}
        for n in names:
            if n not in self._config.vectors:
                raise QueryError(f"include_vector: {self.name} has no vector named {n!r}")
            v = self._vector_of(n, doc)
            if v is not None:
                out[n] = v
        return out

    def get(
        self,
        uuid: str | uuidlib.UUID,
        *,
        include_vector: bool | Sequence[str] = False,
        return_properties: Sequence[str] | None = None,
    ) -> StoredObject | None:
        """One object with all its properties (blobs included), or None."""
        with self._state.read():
            doc = self._doc_of.get(parse_uuid(uuid))
            if doc is None:
                return None
            rec = self._recs[doc]
            return StoredObject(
                rec.uuid,
                self._props_of(doc, return_properties, True),
                ms_to_datetime(rec.created),
                ms_to_datetime(rec.updated),
                self._vectors_of(doc, include_vector),
            )

    def _result(
        self,
        doc: int,
        return_properties: Sequence[str] | None,
        include_vector: bool | Sequence[str],
        **meta: Any,
    ) -> SearchResult:
        rec = self._recs[doc]
        created, updated = rec.times()
        md = Metadata(creation_time=created, last_update_time=updated, **meta)
        vectors = self._vectors_of(doc, include_vector) if include_vector else {}
        return SearchResult(rec.uuid, self._props_of(doc, return_properties, False), md, vectors)

    def fetch_objects(
        self,
        *,
        limit: int | None = None,
        offset: int = 0,
        after: str | uuidlib.UUID | None = None,
        filters: FilterT | None = None,
        return_properties: Sequence[str] | None = None,
        include_vector: bool | Sequence[str] = False,
    ) -> list[SearchResult]:
        """Objects in UUID order (Weaviate's), after the cursor ``after`` when given."""
        _check_page(limit, offset)
        with self._state.read():
            if filters is None:
                items = self._by_uuid()
                start = bisect.bisect_right(items, (parse_uuid(after), 1 << 62)) if after is not None else 0
                end = None if limit is None else start + offset + limit
                items = items[start + offset : end]
            else:
                items = sorted((self._recs[d].uuid, d) for d in self._matching(filters))
                if after is not None:
                    a = parse_uuid(after)
                    items = [x for x in items if x[0] > a]
                items = items[offset:]
                if limit is not None:
                    items = items[:limit]
            return [self._result(d, return_properties, include_vector) for _, d in items]

    def iterator(
        self,
        *,
        batch_size: int = 100,
        include_vector: bool | Sequence[str] = False,
        return_properties: Sequence[str] | None = None,
    ) -> Iterator[SearchResult]:
        """Every object, in UUID order, fetched ``batch_size`` at a time with a cursor."""
        after: str | None = None
        while True:
            page = self.fetch_objects(
                limit=batch_size,
                after=after,
                include_vector=include_vector,
                return_properties=return_properties,
            )
            yield from page
            if len(page) < batch_size:
                return
            after = page[-1].uuid

    # -- explanations --------------------------------------------------------------------------------
    def layout(self, uuid: str | uuidlib.UUID, *, target_vector: str | None = None) -> PageLayout | None:
        """The page layout stored with an object's vector (None: self-provided vectors have none)."""
        with self._state.read():
            name = self._target(target_vector)
            doc = self._doc_of.get(parse_uuid(uuid))
            if doc is None:
                raise NotFoundError(f"no object with id '{parse_uuid(uuid)}' in {self.name}")
            return self._read_layout(doc, name)

    def explain(
        self,
        uuid: str | uuidlib.UUID,
        query: Any,
        *,
        target_vector: str | None = None,
        tokens: Sequence[Any] | None = None,
    ) -> Explanation:
        """Why the object matched ``query`` (a text, embedded by the vectorizer, or a multi-vector; see
        ``colweave.explain``): per query token its best vector, score and page box, and the similarity
        map. ``tokens`` describes the rows of a multi-vector query (a text query's come from the
        vectorizer's ``query_tokens`` when it has one)."""
        name = self._target(target_vector)
        if isinstance(query, str):  # embedded outside the lock
            q = self._embed_query(name, query)
            describe = getattr(self.vectorizer, "query_tokens", None)
            if tokens is None and describe is not None:
                tokens = describe(query)
        with self._state.read():
            q = self._query_matrix(name, query if not isinstance(query, str) else q)
            doc = self._doc_of.get(parse_uuid(uuid))
            if doc is None:
                raise NotFoundError(f"no object with id '{parse_uuid(uuid)}' in {self.name}")
            page = self._vector_of(name, doc)
            if page is None:
                raise QueryError(f"object '{parse_uuid(uuid)}' has no vector {name!r}")
            if q.shape[1] != page.shape[1]:
                raise QueryError(
                    f"explain: the query has dimension {q.shape[1]}, {name!r} uses {page.shape[1]}"
                )
            try:
                return explain_match(q, page, self._read_layout(doc, name), tokens)
            except ValueError as e:
                raise QueryError(f"explain: {e}") from None

    # -- vector search -------------------------------------------------------------------------------
    def _allowed_docs(self, filters: FilterT | None) -> set[int] | None:
        return None if filters is None else set(self._matching(filters))

    def _vector_topk(self, name: str, query: F32, k: int, allowed: set[int] | None) -> tuple[list[int], F32]:
        """The ``k`` best objects by MaxSim (exact, or MUVERA candidates then exact rescoring)."""
        seg = self._segments[name]
        vc = self._config.vectors[name]
        if seg.dim is None or k == 0:
            return [], np.zeros(0, np.float32)
        if query.shape[1] != seg.dim:
            raise QueryError(
                f"near_vector: the query has dimension {query.shape[1]}, {name!r} uses {seg.dim}"
            )
        snap: Snapshot = seg.snapshot()
        if allowed is None:
            cands = snap.live
        else:
            slot_of = self._slot_of[name]
            cands = np.fromiter((slot_of[d] for d in allowed if d in slot_of), np.int64)
            cands.sort()
        if len(cands) == 0:
            return [], np.zeros(0, np.float32)
        if vc.muvera.enabled and snap.fdes is not None:
            ef = muvera_pool(vc.index_extra, k)
            if ef < len(cands):
                mask = np.zeros(len(snap.slot_doc), np.uint8)
                mask[cands] = 1
                qf = muvera_encode(vc.muvera, [query], is_query=True)[0]
                cands, _ = _native.fde_topk(qf, snap.fdes, ef, allowed=mask)
        idx, scores = _native.maxsim_topk(
            query, snap.rows, snap.offsets, k, candidates=np.ascontiguousarray(cands)
        )
        return [int(snap.slot_doc[i]) for i in idx], scores

    def _query_matrix(self, name: str, v: Any) -> F32:
        q = _numeric_matrix(v)
        if q is None:
            raise QueryError("near_vector: the query is not a numeric matrix")
        if q.ndim == 1:
            q = q[None, :]
        if q.ndim != 2 or q.shape[0] == 0 or q.shape[1] == 0:
            raise QueryError(f"near_vector: expected a (tokens, dim) multi-vector, got shape {q.shape}")
        if q.shape[0] > MAX_QUERY_TOKENS:
            raise QueryError(
                f"near_vector: the query has {q.shape[0]} tokens, at most {MAX_QUERY_TOKENS} are allowed"
            )
        dim = self._segments[name].dim
        if dim is not None and q.shape[1] != dim:
            raise QueryError(f"near_vector: the query has dimension {q.shape[1]}, {name!r} uses {dim}")
        if not np.all(np.isfinite(q)):
            raise QueryError("near_vector: the query has NaN or infinite values")
        return self._for_distance(name, q)

    def near_vector(
        self,
        near_vector: Any,
        *,
        target_vector: str | None = None,
        limit: int = 10,
        offset: int = 0,
        autocut: int | None = None,
        distance: float | None = None,
        filters: FilterT | None = None,
        return_properties: Sequence[str] | None = None,
        include_vector: bool | Sequence[str] = False,
    ) -> list[SearchResult]:
        """The objects closest to a multi-vector: distance = -MaxSim (lower is better)."""
        _check_page(limit, offset)
        with self._state.read():
            name = self._target(target_vector)
            q = self._query_matrix(name, near_vector)
            docs, scores = self._vector_topk(name, q, offset + limit, self._allowed_docs(filters))
            dists = [-float(s) for s in scores]
            keep = [(d, x) for d, x in zip(docs, dists, strict=True) if distance is None or x <= distance]
            keep = _cut(keep, offset, limit, autocut, [x for _, x in keep])
            return [self._result(d, return_properties, include_vector, distance=x) for d, x in keep]

    def near_text(self, query: str, *, target_vector: str | None = None, **kwargs: Any) -> list[SearchResult]:
        """``near_vector`` with the collection's vectorizer applied to ``query``."""
        # The named vectors never change: the query is embedded outside the lock.
        name = self._target(target_vector)
        q = self._embed_query(name, query)
        return self.near_vector(q, target_vector=name, **kwargs)

    def _embed_query(self, name: str, query: str) -> F32:
        if not isinstance(query, str) or not query:
            raise QueryError("query: expected a non-empty string")
        if self._config.vectors[name].vectorizer == "none":
            raise QueryError(f"near_text: vector {name!r} has no vectorizer (it is self-provided)")
        if self.vectorizer is None:
            raise QueryError("near_text: the store was opened without a vectorizer")
        (m,) = self.vectorizer.embed_queries([query])
        return np.asarray(m, np.float32)

    # -- keyword and hybrid search -------------------------------------------------------------------
    def _allowed_mask(self, filters: FilterT | None) -> npt.NDArray[np.uint8] | None:
        if filters is None:
            return None
        docs = self._matching(filters)
        mask = np.zeros(max(self._recs, default=-1) + 1, np.uint8)
        if docs:
            mask[np.asarray(docs, np.int64)] = 1
        return mask

    def bm25(
        self,
        query: str,
        *,
        query_properties: list[str] | None = None,
        limit: int = 10,
        offset: int = 0,
        autocut: int | None = None,
        filters: FilterT | None = None,
        return_properties: Sequence[str] | None = None,
        include_vector: bool | Sequence[str] = False,
    ) -> list[SearchResult]:
        """Keyword search with Weaviate's BM25 over the searchable text properties."""
        _check_page(limit, offset)
        if not isinstance(query, str):
            raise QueryError("query: expected a string")
        with self._state.read():
            docs, scores = self._bm25.search(
                query, offset + limit, query_properties, self._allowed_mask(filters)
            )
            values = scores.tolist()
            keep = _cut(list(zip(docs.tolist(), values, strict=True)), offset, limit, autocut, values)
            return [self._result(d, return_properties, include_vector, score=s) for d, s in keep]

    def hybrid(
        self,
        query: str,
        *,
        alpha: float = 0.75,
        vector: Any = None,
        query_properties: list[str] | None = None,
        fusion_type: str = "relativeScore",
        target_vector: str | None = None,
        limit: int = 10,
        offset: int = 0,
        autocut: int | None = None,
        filters: FilterT | None = None,
        return_properties: Sequence[str] | None = None,
        include_vector: bool | Sequence[str] = False,
    ) -> list[SearchResult]:
        """BM25 and vector search fused (alpha = vector weight; relativeScore or ranked)."""
        _check_page(limit, offset)
        if not isinstance(alpha, int | float) or not 0 <= alpha <= 1:
            raise QueryError(f"alpha: must be between 0 and 1, got {alpha!r}")
        fusion: Literal["relativeScore", "ranked"]
        if fusion_type in ("relativeScore", "relative_score"):
            fusion = "relativeScore"
        elif fusion_type == "ranked":
            fusion = "ranked"
        else:
            raise QueryError(f"fusion_type: expected 'relativeScore' or 'ranked', got {fusion_type!r}")
        if not isinstance(query, str):
            raise QueryError("query: expected a string")
        embedded: F32 | None = None
        if alpha > 0 and self._config.vectors and vector is None:  # embedded outside the lock
            embedded = self._embed_query(self._target(target_vector), query)
        with self._state.read():
            k_leg = max(100, offset + limit)
            legs: list[tuple[str, list[int], F32, float]] = []
            allowed = self._allowed_docs(filters)
            if alpha > 0 and self._config.vectors:
                name = self._target(target_vector)
                q = self._query_matrix(name, vector) if embedded is None else embedded
                docs, scores = self._vector_topk(name, q, k_leg, allowed)
                vscores = (np.float32(1) - (-scores.astype(np.float32))).astype(np.float32)  # 1 - distance
                legs.append((VECTOR_SET, docs, vscores, float(alpha)))
            if alpha < 1:
                mask = None
                if allowed is not None:
                    mask = np.zeros(max(self._recs, default=-1) + 1, np.uint8)
                    if allowed:
                        mask[np.fromiter(allowed, np.int64)] = 1
                bdocs, bscores = self._bm25.search(query, k_leg, query_properties, mask)
                legs.append(
                    (KEYWORD_SET, [int(d) for d in bdocs], bscores.astype(np.float32), 1.0 - float(alpha))
                )
            union = sorted({d for _, docs, _, _ in legs for d in docs}, key=lambda d: self._recs[d].uuid)
            key_of = {d: i for i, d in enumerate(union)}
            keys, fused, contrib = _native.fuse(
                [np.asarray([key_of[d] for d in docs], np.uint64) for _, docs, _, _ in legs],
                [np.ascontiguousarray(s, np.float32) for _, _, s, _ in legs],
                [w for _, _, _, w in legs],
                fusion,
            )
            original = [dict(zip(docs, s.tolist(), strict=True)) for _, docs, s, _ in legs]
            rows = [(union[int(k)], float(s), c) for k, s, c in zip(keys, fused, contrib, strict=True)]
            rows = _cut(rows, offset, limit, autocut, [r[1] for r in rows])
            out = []
            for d, s, c in rows:
                u = self._recs[d].uuid
                if fusion == "relativeScore":
                    explain = explain_relative(
                        u,
                        [
                            (legs[i][0], original[i][d], float(c[i]))
                            for i in range(len(legs))
                            if d in original[i]
                        ],
                    )
                else:
                    explain = explain_ranked(
                        u, [(legs[i][0], float(c[i])) for i in range(len(legs)) if d in original[i]]
                    )
                out.append(self._result(d, return_properties, include_vector, score=s, explain_score=explain))
            return out


def _fde_for(made: _Made | None, v: F32) -> F32 | None:
    """The MUVERA encoding made before the commit for exactly the multi-vector ``v``, if any."""
    if made is None or made.fde is None or made.normalised is None:
        return None
    return made.fde if np.array_equal(made.normalised, v) else None


def muvera_pool(index_config: dict[str, Any], k: int) -> int:
    """How many MUVERA candidates are rescored exactly for the best ``k``: the index's ``ef`` when set
    (> 0), else ``max(dynamicEfMax, dynamicEfFactor·k)`` (500 for k ≤ 62 with Weaviate's defaults: the
    brute-force scan over the encodings is cheap, and fewer candidates lose recall at 20k pages)."""
    ef = int(index_config.get("ef", -1))
    if ef <= 0:
        ef = max(int(index_config.get("dynamicEfMax", 500)), int(index_config.get("dynamicEfFactor", 8)) * k)
    return max(ef, k)


def _numeric_matrix(v: Any) -> F32 | None:
    """``v`` as float32, or None when it is not numbers: booleans, strings and objects are not (numpy
    would turn ``True`` into 1.0), nor are integers beyond float range."""
    if isinstance(v, list | tuple):
        for row in v:
            if isinstance(row, bool):
                return None
            if isinstance(row, list | tuple) and any(isinstance(x, bool) for x in row):
                return None
    try:
        a = np.asarray(v)
        if a.dtype.kind not in "fiu":
            return None
        with np.errstate(over="ignore"):  # beyond float32: inf, refused as not finite
            return np.asarray(a, dtype=np.float32)
    except (TypeError, ValueError, OverflowError):
        return None


def _check_page(limit: int | None, offset: int) -> None:
    """limit and offset are non-negative integers with ``offset + limit`` at most
    :data:`QUERY_MAXIMUM_RESULTS` (Weaviate's default); ``limit=None`` (everything, for the library's
    own use) still bounds ``offset``."""
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise QueryError(f"limit: must be a non-negative integer, got {_short(limit)}")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise QueryError(f"offset: must be a non-negative integer, got {_short(offset)}")
    if offset + (limit or 0) > QUERY_MAXIMUM_RESULTS:
        raise QueryError(
            f"query maximum results exceeded: offset ({offset}) + limit ({limit or 0}) must be at most "
            f"{QUERY_MAXIMUM_RESULTS}"
        )


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:40] + "..."


def _cut(rows: list[Any], offset: int, limit: int, cut: int | None, values: list[float]) -> list[Any]:
    """Keeps ``offset + limit`` rows, applies autocut over them, then pages."""
    rows = rows[: offset + limit]
    if cut is not None and cut > 0:
        rows = rows[: autocut(values[: len(rows)], cut)]
    return rows[offset : offset + limit]

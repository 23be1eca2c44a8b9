"""Writes: validation, vectorization and MUVERA encoding before the commit lock, then the short commit
step (append + fsync the vector rows, one SQLite transaction, publish to readers) — see
``collection.py`` for the concurrency and durability rules."""

from __future__ import annotations

import base64
import contextlib
import json
import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from colweave import _native
from colweave.layout import PageLayout
from colweave.store import layouts as layout_rows
from colweave.store.compaction import Compaction
from colweave.store.copies import Codes, CompactCopy, concat, encode, encode_fdes
from colweave.store.cow import CowMap, fork, set_many
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
from colweave.store.filter_index import merged_filters
from colweave.store.filters import FilterT
from colweave.store.objects import (
    NO_BLOBS,
    BatchError,
    BatchResult,
    DataObject,
    Rec,
    parse_uuid,
    rollback,
)
from colweave.store.published import View
from colweave.store.reads import Reads
from colweave.store.ref_writes import target_exists
from colweave.store.references import split_beacon
from colweave.store.schema import (
    MULTI2MULTIVEC,
    CollectionConfig,
    Property,
    coerce_value,
    infer_data_type,
)
from colweave.store.segments import muvera_encode
from colweave.store.state import _numeric_matrix

F32 = npt.NDArray[np.float32]


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
    drop: set[str] = field(default_factory=set)  # self-provided vectors the replaced object loses
    codes: dict[str, Codes] = field(default_factory=dict)  # compact-copy codes made before the commit
    original: dict[str, int] = field(default_factory=dict)  # token counts before pooling (pooled vectors)
    js: str | None = None  # ``props`` as the JSON text the commit stored


@dataclass
class _Encoded:
    """What a write stores for one multi-vector, made before the commit lock: the vectors (pooled when the
    vector pools tokens), their MUVERA encoding and compact-copy codes when the index has them."""

    source: F32  # the checked, normalised multi-vector it was made from
    vectors: F32
    fde: F32 | None
    codes: Codes | None
    original: int | None  # token count before pooling, when pooled


@dataclass
class _Made:
    """What the vectorizer made for one (object, vector) before the commit lock was taken."""

    image: bytes
    result: F32 | Exception
    layout: PageLayout | None
    normalised: F32 | None = None  # checked and normalised, when it passed the checks then
    enc: _Encoded | None = None


# (object index, vector name) -> what was made for it before the commit
_Pre = dict[tuple[int, str], _Made]


class Writes(Compaction, Reads):
    def _check_vector(self, name: str, v: Any, dims: dict[str, int], where: str) -> F32:
        """A given vector checked against its config: a multi-vector ``(tokens, dim)`` (normalised for
        cosine), or a single vector ``(dim,)`` (kept as given, as one row: the distance kernel normalises
        for cosine, and Weaviate returns the vector as it was given)."""
        m = _numeric_matrix(v)
        if m is None:
            raise ObjectError(f"{where}: vector {name!r} is not a numeric matrix")
        if not self._config.vectors[name].multi:
            if m.ndim != 1 or m.shape[0] == 0:
                raise ObjectError(
                    f"{where}: vector {name!r} is configured as a single vector: expected a non-empty "
                    f"list of numbers, got shape {m.shape}"
                )
            m = m[None, :]
        elif m.ndim == 1:
            raise ObjectError(
                f"{where}: vector {name!r} is configured as multi-vector: expected an array of token "
                "vectors, got a single vector"
            )
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
        now = int(self.clock() * 1000)
        view = self._state.view()  # one state for the whole pass (pinned, or the writer's own)
        config, doc_of, recs = view.config, view.doc_of, view.recs
        props_by_name, props_by_lower, slot_of = view.props_by_name, view.props_by_lower, view.slot_of
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
                doc = doc_of.get(u)
                if mode == "insert" and doc is not None:
                    raise ObjectError(f"id '{u}' already exists")
                if mode in ("replace", "merge") and doc is None:
                    raise NotFoundError(f"no object with id '{u}' in {self.name}")
                old = recs[doc] if doc is not None else None
                given = dict(obj.properties)
                kept_refs: dict[str, int] = {}  # reference property -> how many beacons it kept
                if mode == "merge" and old is not None:
                    merged: dict[str, Any] = dict(old.props)
                    for k, v in given.items():
                        rp = props_by_name.get(k)
                        if rp is not None and rp.is_reference and isinstance(v, list | tuple):
                            # Weaviate's merge adds the references given to those the object has
                            before = list(old.props.get(k) or ())
                            kept_refs[k] = len(before)
                            v = before + list(v)
                        merged[k] = v
                    given = merged
                props: dict[str, Any] = {}
                blobs: dict[str, bytes] = {}
                local_new: dict[str, Property] = {}
                for key, value in given.items():
                    if not isinstance(key, str):
                        raise ObjectError(f"property names must be strings, got {key!r}")
                    prop = props_by_name.get(key) or pending.get(key) or local_new.get(key)
                    if prop is None:
                        other = props_by_lower.get(key.lower()) or next(
                            (n for n in (*pending, *local_new) if n.lower() == key.lower()), None
                        )
                        if other is not None:
                            raise ObjectError(
                                f"property {key!r}: collides with property {other!r} "
                                "(property names must differ other than by case)"
                            )
                        if value is None:
                            continue  # a null is no value (Weaviate drops it before looking the name up)
                        if not self.auto_schema:
                            raise ObjectError(
                                f"no such prop with name '{key[:1].lower() + key[1:]}' found in class "
                                f"'{self.name}' in the schema. Check your schema files for which "
                                "properties in this class are available"
                            )
                        t = infer_data_type(value)
                        if t is None:
                            continue  # empty: nothing to infer, nothing to store
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
                    if prop.is_reference and defer is None and key in obj.properties:
                        # The references given must point to objects that exist (Weaviate's
                        # validation); checked under the commit lock only, not in the first pass.
                        for b in stored[kept_refs.get(key, 0) :]:
                            if not target_exists(self._refs, self, prop, b):
                                raise ObjectError(
                                    f"'cref' {self.name}:{key}: no object with id {split_beacon(b)[1]} found"
                                )
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
                    if name not in config.vectors:
                        raise ObjectError(f"vector {name!r}: {self.name} has no such named vector")
                    if not config.vectors[name].multi and _is_empty(v):
                        continue  # an empty single vector is no vector (as in Weaviate)
                    vecs[name] = self._check_vector(name, v, dims, f"object {i}")
                lays: dict[str, PageLayout] = {}
                for n, lay in (obj.layouts or {}).items():
                    if n not in vecs:
                        raise ObjectError(f"layout {n!r}: only a vector given with the object has a layout")
                    lays[n] = layout_rows.checked(lay, len(vecs[n]), f"object {i}: layout {n!r}")
                p = _Prepared(i, u, doc, props, blobs, old.created if old else now, now, vecs, lays)
                if doc is not None and mode in ("replace", "upsert"):
                    # Weaviate replaces the whole object: a self-provided vector not given is gone.
                    p.drop = {
                        n
                        for n, vc in config.vectors.items()
                        if vc.vectorizer == "none" and n not in vecs and doc in slot_of[n]
                    }
                if defer is None:  # the commit's pass: encodings made before the commit lock, if still valid
                    for name in list(vecs):
                        self._apply_encoding(p, name, (pre or {}).get((i, name)))
                for name, vc in config.vectors.items():
                    if name in vecs or vc.vectorizer != MULTI2MULTIVEC:
                        continue
                    fields = vc.image_fields
                    images = [blobs[f] for f in fields if f in blobs]
                    unchanged = (
                        doc is not None
                        and all(f not in obj.properties for f in fields)
                        and slot_of[name].get(doc) is not None
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
                p.vectors[name] = v
                if mk.layout is not None:
                    p.layouts[name] = layout_rows.checked(mk.layout, len(v), f"vector {name!r}")
                self._apply_encoding(p, name, mk)
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
        with self._state.read() as view:
            dims = {n: d for n, d in view.dims.items() if d is not None}
            # Only images are looked for here: without a vectorized vector the pass would find none.
            if any(vc.vectorizer == MULTI2MULTIVEC for vc in view.config.vectors.values()):
                self._prepare(objects, mode=mode, new_props=[], dims=dims, errors=[], defer=todo)
        pre: _Pre = {}
        # Self-provided multi-vectors: pooled and encoded (MUVERA, compact codes) here, holding no lock.
        for name in self._config.vectors:
            if not self._encodes(name):
                continue
            for i, obj in enumerate(objects):
                v = obj.vectors.get(name) if isinstance(obj, DataObject) and obj.vectors else None
                if v is None:
                    continue
                with contextlib.suppress(ObjectError):  # reported by the commit's pass
                    m = self._check_vector(name, v, dict(dims), f"object {i}")
                    pre[(i, name)] = _Made(b"", m, None, m, self._encode(name, m))
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
            if self._encodes(name):
                mk.enc = self._encode(name, mk.normalised)
        return pre

    def _encodes(self, name: str) -> bool:
        vc = self._config.vectors[name]
        return vc.muvera.enabled or vc.pool_factor > 1 or vc.compression.kind is not None

    def _encode(self, name: str, m: F32) -> _Encoded:
        """Pools (when the vector pools tokens) and encodes one checked multi-vector ``m``."""
        vc = self._config.vectors[name]
        vectors, original = m, None
        if vc.pool_factor > 1:
            pooled, _, _ = _native.pool_tokens_batch(
                m,
                np.array([0, len(m)], np.int64),
                vc.pool_factor,
                normalize=vc.distance == "cosine",
                threads=1,
            )
            vectors, original = self._for_distance(name, pooled), len(m)
        fde = muvera_encode(vc.muvera, [vectors], is_query=False)[0] if vc.muvera.enabled else None
        kind = vc.compression.kind
        codes = encode(kind, vectors, self.vector_dtype) if kind else None
        if codes is not None and fde is not None:  # the copy holds the encoding compressed too
            fc, fs = encode_fdes(fde[None, :])
            codes = replace(codes, fde=fc, fde_scales=fs)
        return _Encoded(m, vectors, fde, codes, original)

    def _apply_encoding(self, p: _Prepared, name: str, made: _Made | None) -> None:
        """Replaces ``p``'s checked multi-vector ``name`` by what is stored for it: the encoding made before
        the commit lock for exactly that multi-vector, else one made now (the state changed meanwhile)."""
        if not self._encodes(name):
            return
        v = p.vectors[name]
        enc = made.enc if made is not None else None
        if enc is None or not np.array_equal(enc.source, v):
            enc = self._encode(name, v)
        p.vectors[name] = enc.vectors
        if enc.fde is not None:
            p.fdes[name] = enc.fde
        if enc.codes is not None:
            p.codes[name] = enc.codes
        if enc.original is not None:
            p.original[name] = enc.original
            p.layouts.pop(name, None)  # a pooled vector is no longer one per patch: no layout

    def _commit(self, items: list[_Prepared], new_props: list[Property], dims: dict[str, int]) -> None:
        """Makes ``items`` durable and visible, all or nothing."""
        if not items:
            return
        placed: dict[str, list[tuple[int, int, int]]] = {}
        rollbacks: dict[str, tuple[int, int]] = {}
        owners: dict[str, list[_Prepared]] = {}
        copied: dict[str, Codes] = {}
        new_copies: dict[str, CompactCopy] = {}
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
                if seg.muvera.enabled:
                    if all(name in p.fdes for p in batch):
                        fdes = np.stack([p.fdes[name] for p in batch])
                    else:  # what the segment would make: the copy's encoding codes need it too
                        fdes = muvera_encode(seg.muvera, [p.vectors[name] for p in batch], is_query=False)
                placed[name], rollbacks[name] = seg.append([p.vectors[name] for p in batch], fdes)
                owners[name] = batch
                cc = self._copies.get(name)
                kind = self._config.vectors[name].compression.kind
                if cc is None and kind is not None:  # the vector's first rows: its copy starts empty
                    assert seg.rows == 0, (name, seg.rows)
                    fde_dim = seg.fde_dim if seg.muvera.enabled else None
                    cc = new_copies[name] = CompactCopy(kind, dims[name], fde_dim)
                if cc is not None:  # the compact copy's codes, made before the commit lock when still valid
                    parts = []
                    for i, p in enumerate(batch):
                        c = p.codes.get(name)
                        if c is None or c.kind != cc.kind:
                            c = encode(cc.kind, p.vectors[name], self.vector_dtype)
                        if cc.fde_dim is not None and c.fde is None:
                            assert fdes is not None
                            fc, fs = encode_fdes(fdes[i : i + 1])
                            c = replace(c, fde=fc, fde_scales=fs)
                        parts.append(c)
                    copied[name] = concat(cc.kind, parts, cc.dim, cc.fde_dim)
            db = self._db
            self._state.before_begin()
            db.execute("BEGIN IMMEDIATE")
            try:
                docs: list[int] = []
                for p in items:
                    js = p.js = json.dumps(p.props, ensure_ascii=False, separators=(",", ":"))
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
                    db.executemany(
                        "DELETE FROM pooled WHERE doc = ? AND name = ?",
                        [(p.doc, name) for p in owners[name] if name not in p.original],
                    )
                    db.executemany(
                        "INSERT OR REPLACE INTO pooled (doc, name, original) VALUES (?, ?, ?)",
                        [(p.doc, name, p.original[name]) for p in owners[name] if name in p.original],
                    )
                dropped = [(p.doc, n) for p in items for n in p.drop]
                db.executemany("DELETE FROM vectors WHERE doc = ? AND name = ?", dropped)
                layout_rows.write(db, [(d, n, None) for d, n in dropped])
                db.executemany("DELETE FROM pooled WHERE doc = ? AND name = ?", dropped)
                if new_props:
                    self._meta_set("config", json.dumps(config.to_weaviate()))
                self._state.before_commit()
                db.execute("COMMIT")
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
        # Committed: readers see it once the next view is published, here under the commit lock. The
        # compact copies only grow at their end, so the codes appended here are past every published
        # view's (each holds the codes of exactly its own rows).
        self._copies.update(new_copies)
        for name, codes in copied.items():
            self._copies[name].append(codes)
        self._publish(items, config, dims, placed, owners)
        for name in set(placed) | {n for p in items for n in p.drop}:
            self._maybe_compact(name)

    def _publish(
        self,
        items: list[_Prepared],
        config: CollectionConfig,
        dims: dict[str, int],
        placed: dict[str, list[tuple[int, int, int]]],
        owners: dict[str, list[_Prepared]],
    ) -> None:
        """Makes a committed write visible: the next view, sharing what the write did not change."""
        v = self._state.current
        recs, doc_of = fork(v.recs), fork(v.doc_of)
        bm25 = v.bm25.copy(config)
        new_recs: dict[int, Rec] = {}
        for p in items:
            assert p.doc is not None
            old = recs.get(p.doc)
            if old is not None:
                bm25.remove(p.doc, old.props)
            new_recs[p.doc] = Rec(
                p.uuid, p.props, frozenset(p.blobs) or NO_BLOBS, p.created, p.updated, js=p.js
            )
        set_many(recs, new_recs)
        changes: dict[int, Rec | None] = dict(new_recs)
        set_many(doc_of, {p.uuid: p.doc for p in items if p.doc is not None})
        bm25.add_many([(p.doc, p.props) for p in items if p.doc is not None])
        slot_of = dict(v.slot_of)
        snaps, vdims = dict(v.snaps), dict(v.dims)
        copies, tokens = dict(v.copies), dict(v.tokens)
        forked: dict[str, CowMap[int, int]] = {}
        for name, rows in placed.items():
            seg = self._segments[name]
            if seg.dim is None:
                seg.dim = dims[name]
            vdims[name] = seg.dim
            slots = forked[name] = fork(slot_of[name])
            slot_of[name] = slots
            owner_docs = [p.doc for p in owners[name] if p.doc is not None]
            dead = [slots[d] for d in owner_docs if d in slots]
            seg.publish(rows, owner_docs)
            seg.kill(dead)
            for d, (s, _, _) in zip(owner_docs, rows, strict=True):
                slots[d] = s
            snaps[name] = seg.snapshot()
            if name in self._copies:
                copies[name] = self._copies[name].view()
            pooled = [p for p in owners[name] if name in p.original or p.doc in tokens.get(name, {})]
            if pooled:
                counts = tokens[name] = fork(tokens.get(name, {}))
                for p in pooled:
                    assert p.doc is not None
                    if name in p.original:
                        counts[p.doc] = p.original[name]
                    else:
                        counts.pop(p.doc, None)
        # Self-provided vectors a replaced object lost: tombstoned, and gone from the next view.
        dropped: dict[str, list[int]] = {}
        for p in items:
            for name in p.drop:
                assert p.doc is not None
                dropped.setdefault(name, []).append(p.doc)
        for name, drop_docs in dropped.items():
            if name not in forked:
                forked[name] = fork(slot_of[name])
                slot_of[name] = forked[name]
            slots = forked[name]
            dead = [slots.pop(d) for d in drop_docs if d in slots]
            if dead:
                self._segments[name].kill(dead)
                snaps[name] = self._segments[name].snapshot()
            if any(d in tokens.get(name, {}) for d in drop_docs):
                counts = tokens[name] = fork(tokens[name])
                for d in drop_docs:
                    counts.pop(d, None)
        findex = merged_filters(v.findex, v.findex.changed(changes, config, recs), changes, recs)
        self._state.publish(
            View(config, recs, doc_of, slot_of, snaps, vdims, bm25, findex, copies=copies, tokens=tokens)
        )

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
        """Batch insert (an existing UUID is replaced, as in Weaviate's batch): invalid objects are
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
        """Replaces an object, as Weaviate's PUT does: its properties, and its vectors with those given
        (a self-provided vector not given is removed; a vectorizer's is made again when its image
        changed, else kept)."""
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
        """Merges ``properties`` into the object's (a merge-update, PATCH); the references given for a
        reference property are added to those it has, as in Weaviate."""
        res = self._write([DataObject(properties, uuid, vectors, layouts)], "merge")
        if res.errors:
            e = res.errors[0].message
            raise NotFoundError(e) if e.startswith("no object") else ObjectError(e)

    def _delete_docs(self, docs: list[int]) -> int:
        if not docs:
            return 0
        db = self._db
        with storage_errors(f"deleting {len(docs)} object(s) from {self.name}"):
            self._state.before_begin()
            db.execute("BEGIN IMMEDIATE")
            try:
                for table in ("objects", "blobs", "vectors", "pooled"):
                    db.executemany(f"DELETE FROM {table} WHERE doc = ?", [(d,) for d in docs])
                layout_rows.delete_docs(db, docs)
                self._state.before_commit()
                db.execute("COMMIT")
            except BaseException:
                rollback(db)
                raise
            v = self._state.current
            recs, doc_of = fork(v.recs), fork(v.doc_of)
            bm25 = v.bm25.copy()
            for d in docs:
                rec = recs.pop(d)
                del doc_of[rec.uuid]
                bm25.remove(d, rec.props)
            slot_of, snaps = dict(v.slot_of), dict(v.snaps)
            for name, seg in self._segments.items():
                if not any(d in v.slot_of[name] for d in docs):
                    continue
                slots = slot_of[name] = fork(v.slot_of[name])
                seg.kill([slots.pop(d) for d in docs if d in slots])
                snaps[name] = seg.snapshot()
            tokens = dict(v.tokens)
            for name, counts in v.tokens.items():
                if any(d in counts for d in docs):
                    forked_counts = tokens[name] = fork(counts)
                    for d in docs:
                        forked_counts.pop(d, None)
            findex = merged_filters(
                v.findex, v.findex.changed(dict.fromkeys(docs), v.config, recs), docs, recs
            )
            self._state.publish(
                v.but(
                    recs=recs,
                    doc_of=doc_of,
                    slot_of=slot_of,
                    snaps=snaps,
                    bm25=bm25,
                    findex=findex,
                    tokens=tokens,
                )
            )
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


def _is_empty(v: Any) -> bool:
    """Whether ``v`` is an empty list or array (of any shape)."""
    if isinstance(v, list | tuple):
        return len(v) == 0
    return isinstance(v, np.ndarray) and v.size == 0

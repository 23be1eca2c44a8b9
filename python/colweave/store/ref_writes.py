"""Writing cross-references: adding, replacing and deleting the beacons of an object's reference property.

A reference property's beacons are a property value like any other (``objects.props``, one JSON column of
the object's row), so a reference write is one SQLite transaction that rewrites the rows it changes, made
durable (``synchronous=FULL``) before it is published to readers: a crash (kill -9 included) leaves either
the old beacons or the new ones. As in Weaviate, each write sets the object's last update time, a beacon
without its collection gets the property's collection when the property has one target, the targets of a
single write (add, replace) must exist while a batch (``add_references``) does not check them, and deleting
a beacon removes every copy of it.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from colweave.store.cow import fork
from colweave.store.errors import NotFoundError, ObjectError, SchemaError, storage_errors
from colweave.store.filter_index import merged_filters
from colweave.store.objects import Rec, parse_uuid, rollback
from colweave.store.references import Collections, split_beacon
from colweave.store.schema import Property, reference_beacon
from colweave.store.state import CollectionState


@dataclass
class ReferenceWrite:
    """One reference to add: from the object ``from_uuid``'s property ``prop`` to ``beacon``."""

    from_uuid: str | uuidlib.UUID
    prop: str
    beacon: str


def target_exists(store: Collections | None, own: Any, prop: Property, beacon: str) -> bool:
    """Whether the object a stored beacon points to exists (in its collection, or, for a beacon without
    one, in any target collection of the property)."""
    cls, uid = split_beacon(beacon)
    for t in [cls] if cls is not None else prop.targets:
        coll = own if t == own.name else (store.find_collection(t) if store is not None else None)
        if coll is not None and coll.exists(uid):
            return True
    return False


class ReferenceWrites(CollectionState):
    """Reference writes, a part of ``Collection`` (over its state)."""

    def references_from(self, store: Collections) -> None:
        """Where the targets of this collection's references are looked up (its store)."""
        self._refs = store

    def _reference_prop(self, name: Any) -> Property:
        prop = self._config.property(name) if isinstance(name, str) else None
        if prop is None:
            raise ObjectError(f"property {name} does not exist for class {self.name}")
        if not prop.is_reference:
            raise ObjectError(f"property '{prop.name}' is not a reference-type")
        return prop

    def _beacon(self, prop: Property, beacon: Any, where: str = "reference") -> str:
        try:
            return reference_beacon(prop, beacon, where)
        except SchemaError as e:
            raise ObjectError(str(e)) from None

    def _check_exists(self, prop: Property, beacon: str, what: str) -> None:
        if not target_exists(self._refs, self, prop, beacon):
            raise ObjectError(f"{what}: no object with id {split_beacon(beacon)[1]} found")

    def _rewrite_refs(self, changes: dict[int, dict[str, Any]]) -> None:
        """Commits new property values of existing objects (doc -> props) and publishes them."""
        if not changes:
            return
        now = int(self.clock() * 1000)
        db = self._db
        with storage_errors(f"writing references of {self.name}"):
            self._state.before_begin()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "UPDATE objects SET props = ?, updated = ? WHERE doc = ?",
                    [
                        (json.dumps(p, ensure_ascii=False, separators=(",", ":")), now, d)
                        for d, p in changes.items()
                    ],
                )
                self._state.before_commit()
                db.execute("COMMIT")
            except BaseException:
                rollback(db)
                raise
        # Committed: the next view holds the new records (readers keep the view they pinned). Only
        # reference values changed: the keyword index (text) is shared as it is; the filter index
        # learns the changed objects (their reference counts and targets, their update time).
        v = self._state.current
        recs = fork(v.recs)
        changed: dict[int, Rec | None] = {}
        for d, p in changes.items():
            old = recs[d]
            rec = Rec(old.uuid, p, old.blobs, old.created, now)
            recs[d] = changed[d] = rec
        findex = merged_filters(v.findex, v.findex.changed(changed, v.config, recs), changed, recs)
        self._state.publish(v.but(recs=recs, findex=findex))

    def _doc(self, uuid: str | uuidlib.UUID) -> int:
        u = parse_uuid(uuid)
        doc = self._doc_of.get(u)
        if doc is None:
            raise NotFoundError(f"source object: no object with id '{u}' in {self.name}")
        return int(doc)

    def add_reference(self, from_uuid: str | uuidlib.UUID, prop: str, beacon: str) -> None:
        """Appends one reference (``weaviate://localhost/<Collection>/<uuid>``) to an object's property;
        the referenced object must exist."""
        with self._commit_lock:
            p = self._reference_prop(prop)
            b = self._beacon(p, beacon)
            self._check_exists(p, b, "validate reference")
            doc = self._doc(from_uuid)
            props = dict(self._recs[doc].props)
            props[p.name] = [*(props.get(p.name) or ()), b]
            self._rewrite_refs({doc: props})

    def replace_references(self, from_uuid: str | uuidlib.UUID, prop: str, beacons: Sequence[str]) -> None:
        """Sets an object's property to exactly these references (an empty list removes them all); every
        referenced object must exist."""
        if not isinstance(beacons, list | tuple):
            raise ObjectError(f"references: expected a list of beacons, got {type(beacons).__name__}")
        with self._commit_lock:
            doc = self._doc(from_uuid)
            p = self._reference_prop(prop)
            out = [self._beacon(p, b) for b in beacons]
            for b in out:
                self._check_exists(p, b, "validate reference")
            props = dict(self._recs[doc].props)
            props[p.name] = out
            self._rewrite_refs({doc: props})

    def delete_reference(self, from_uuid: str | uuidlib.UUID, prop: str, beacon: str) -> bool:
        """Removes every copy of one reference from an object's property; False when it had none."""
        with self._commit_lock:
            p = self._reference_prop(prop)
            b = self._beacon(p, beacon)
            doc = self._doc(from_uuid)
            props = dict(self._recs[doc].props)
            before = list(props.get(p.name) or ())
            after = [x for x in before if x != b]
            if len(after) == len(before):
                return False
            props[p.name] = after
            self._rewrite_refs({doc: props})
            return True

    def add_references(self, refs: Sequence[ReferenceWrite]) -> list[str | None]:
        """A batch of references (Weaviate's batch references): each is appended in order, in one durable
        commit; per reference, None or why it failed (a missing source object or property, a bad beacon).
        As in Weaviate's batch, the referenced objects are not looked up."""
        errors: list[str | None] = []
        with self._commit_lock:
            changes: dict[int, dict[str, Any]] = {}
            for r in refs:
                try:
                    if not isinstance(r, ReferenceWrite):
                        raise ObjectError(f"expected a ReferenceWrite, got {type(r).__name__}")
                    p = self._reference_prop(r.prop)
                    b = self._beacon(p, r.beacon)
                    doc = self._doc(r.from_uuid)
                    props = changes.get(doc)
                    if props is None:
                        props = changes[doc] = dict(self._recs[doc].props)
                    props[p.name] = [*(props.get(p.name) or ()), b]
                    errors.append(None)
                except (ObjectError, NotFoundError) as e:
                    errors.append(str(e))
            self._rewrite_refs(changes)
        return errors

"""Reads of a collection's published state: objects by id, filters, counts, fetch in UUID order, and the
result rows every search returns. A read pins the published view (``published.py``) and uses only it."""

from __future__ import annotations

import base64
import bisect
import uuid as uuidlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from colweave.store.errors import (
    ObjectError,
    QueryError,
)
from colweave.store.filters import And, FilterT, Or, Predicate, Where, compile_filter
from colweave.store.objects import (
    Rec,
    StoredObject,
    ms_to_datetime,
    parse_uuid,
)
from colweave.store.results import Metadata, SearchResult, autocut
from colweave.store.sorting import check_sort, sort_order
from colweave.store.state import CollectionState

F32 = npt.NDArray[np.float32]
# Weaviate's QUERY_MAXIMUM_RESULTS default: offset + limit of one result page.
QUERY_MAXIMUM_RESULTS = 10_000


class Reads(CollectionState):
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
        """The docs ``filters`` keeps, ascending (every object without one)."""
        if filters is None:
            return list(self._recs)
        if self._scan_filters:
            return self._matching_by_scan(filters)
        docs: list[int] = self._findex.match(filters, self._config, self._doc_of, self._recs).tolist()
        return docs

    def _count_matching(self, filters: FilterT) -> int:
        if self._scan_filters:
            return len(self._matching_by_scan(filters))
        return len(self._findex.match(filters, self._config, self._doc_of, self._recs))

    def _matching_by_scan(self, filters: FilterT | None) -> list[int]:
        """The reference path: the filter's predicate over every object (``filter_index`` answers the
        same from its columns; kept for the benchmark and the tests that compare the two). It runs as
        earlier versions did, over records holding their properties as dicts (made once per view)."""
        pred: Predicate | None = compile_filter(filters, self._config)
        if pred is None or filters is None:
            return list(self._recs)
        v = self._view
        if v.scan_recs is None:
            v.scan_recs = {d: Rec(r.uuid, r.props, r.blobs, r.created, r.updated) for d, r in v.recs.items()}
        recs = v.scan_recs
        bound = self._id_candidates(filters)
        if bound is not None:
            return [d for d in sorted(bound) if pred(recs[d])]
        return [d for d, r in recs.items() if pred(r)]

    def _by_uuid(self) -> list[tuple[str, int]]:
        """Every object as ``(uuid, doc)`` in UUID order (cached until the next write)."""
        if self._sorted is None:
            self._sorted = sorted((r.uuid, d) for d, r in self._recs.items())
        return self._sorted

    def count(self, filters: FilterT | None = None) -> int:
        with self._state.read():
            return len(self._recs) if filters is None else self._count_matching(filters)

    def exists(self, uuid: str | uuidlib.UUID) -> bool:
        with self._state.read():
            return parse_uuid(uuid) in self._doc_of

    def _vector_of(self, name: str, doc: int) -> F32 | None:
        slot = self._slot_of[name].get(doc)
        if slot is None:
            return None
        snap = self._snapshot(name)
        a, b = int(snap.offsets[slot]), int(snap.offsets[slot + 1])
        if not self._config.vectors[name].multi:  # a single vector: one row
            return np.array(snap.rows[a], np.float32)
        return np.asarray(snap.rows[a:b], np.float32)

    def _props_of(
        self, doc: int, return_properties: Sequence[str] | None, blobs_by_default: bool
    ) -> dict[str, Any]:
        rec = self._recs[doc]
        props = rec.props
        if return_properties is None and not blobs_by_default:
            return {p.name: props[p.name] for p in self._default_props if p.name in props}
        names = [p.name for p in self._config.properties] if return_properties is None else return_properties
        out: dict[str, Any] = {}
        for n in names:
            p = self._props_by_name.get(n)
            if p is None:
                raise QueryError(f"return_properties: {self.name} has no property {n!r}")
            if p.data_type == "blob":
                if n in rec.blobs:
                    out[n] = base64.b64encode(self._load_blob(doc, n)).decode("ascii")
            elif n in props:
                out[n] = props[n]
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
        sort: Sequence[tuple[str, bool]] | None = None,
    ) -> list[SearchResult]:
        """Objects in UUID order (Weaviate's), after the cursor ``after`` when given; with ``sort`` (a list
        of ``(property, ascending)``, see ``sorting.py``) in that order instead, ties in UUID order."""
        _check_page(limit, offset)
        if sort is not None:
            if after is not None:
                raise QueryError("sort cannot be set with after and limit parameters")
            keys = check_sort(self._config, sort)
        with self._state.read():
            if sort is not None:
                docs = [d for _, d in self._by_uuid()] if filters is None else self._matching(filters)
                docs.sort(key=lambda d: self._recs[d].uuid)
                order = sort_order(self._config, [self._recs[d] for d in docs], keys)
                page = [docs[i] for i in order][offset:]
                if limit is not None:
                    page = page[:limit]
                return [self._result(d, return_properties, include_vector) for d in page]
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

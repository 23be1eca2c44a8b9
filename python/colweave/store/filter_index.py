"""Filters and counts answered from compact columns instead of one Python call per object.

What a filter can read of an object is held per property in numpy arrays, built when a collection opens
and merged at publish:

* elements of int, number, boolean and date properties (scalars and arrays alike): their values sorted,
  with the object of each (``_Nums``) — an equality or a range is two binary searches and a slice;
* elements of text (tokens, per the property's tokenization) and uuid properties: the distinct strings
  sorted in a Python list, and per element one 64-bit key ``string id << 32 | doc`` sorted (``_Strs``) —
  a string's objects are one slice, a range of strings one slice, a ``like`` visits the distinct
  strings only (from the pattern's literal prefix on);
* one value per object in dense arrays indexed by doc: which objects exist, creation and update times,
  which properties and blobs are present (``is_none``), and ``len(prop)`` when the collection indexes
  property lengths;
* per geoCoordinates property, its latitudes and longitudes (float32) in dense arrays indexed by doc: a
  ``within_geo_range`` is Weaviate's great-circle distance over the column and one comparison (Weaviate
  keeps a geo index for every such property, so these columns exist whatever its index settings).

A filter is evaluated as boolean masks over doc numbers (And/Or/Not are ``&``, ``|`` and ``~``), so a
filter that keeps 1 % of the objects costs a few array operations and the slices it keeps. The columns
are immutable: a write publishes a new :class:`FilterIndex` sharing the old columns and listing the objects
it changed (``delta``; each is checked with the reference predicate of ``filters.compile_filter``) until
there are :data:`MAX_DELTA` of them, when the columns are merged (numpy, in the writer, never blocking a
reader). Every operator answers exactly what the reference predicate answers (a property-based test
compares them); an indexed property's columns exist when one of its indexes (filterable, searchable,
rangeFilters) was on when they were built — one switched on later is answered by the reference
predicate over the objects, until the next open rebuilds the columns. Conditions on cross-references
(a reference count, the targets a resolved ``Filter.by_ref`` condition names) are answered by the
reference predicate too; whether a reference property is set (``is_none``) comes from the columns.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from colweave.store.filters import (
    _LEN,
    And,
    FilterT,
    Not,
    Or,
    Predicate,
    Record,
    Where,
    _as_list,
    _compile,
    _elems,
    _number,
    _texts,
    _time_ms,
    _uuid,
    compile_filter,
    like_matcher,
)
from colweave.store.geo_phone import GEO, PHONE, geo_distance, parse_geo_range, within
from colweave.store.objects import Rec
from colweave.store.schema import CollectionConfig, Property
from colweave.store.tokenize import tokenize, tokenize_value

Mask = npt.NDArray[np.bool_]
I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]

#: Objects changed since the columns were last merged that a filter checks one by one.
MAX_DELTA = 512
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DOC_BITS = 32
_DOC_MASK = (1 << _DOC_BITS) - 1
_NUM_BASES = ("int", "number", "boolean", "date")


class _Unindexable(Exception):
    """A leaf the columns cannot answer (its property had no index when they were built)."""


@dataclass(frozen=True)
class _Nums:
    vals: npt.NDArray[Any]  # sorted (int64 or float64)
    docs: I64

    def slice_docs(self, lo: int, hi: int) -> I64:
        return self.docs[lo:hi]


@dataclass(frozen=True)
class _Strs:
    keys: list[str]  # distinct strings, sorted
    codes: npt.NDArray[np.uint64]  # sorted: (index in keys) << 32 | doc

    def group(self, i: int, j: int) -> I64:
        """The docs of keys ``i..j-1``."""
        lo = np.searchsorted(self.codes, np.uint64(i << _DOC_BITS), "left")
        hi = np.searchsorted(self.codes, np.uint64(j << _DOC_BITS), "left")
        return (self.codes[lo:hi] & np.uint64(_DOC_MASK)).astype(np.int64)


def _num_value(base: str, x: Any) -> Any:
    return int(x) if base == "boolean" else x


def _prop_elements(prop: Property, v: Any) -> list[Any]:
    """What the columns hold of one value of ``prop`` (the reference predicate's elements)."""
    base = prop.data_type.removesuffix("[]")
    if base == "text":
        return list(set(tokenize_value(v, prop.tokenization or "word")))
    els = _elems(v) or []
    if base == "date":
        return [_time_ms(x, "") for x in els]
    if base == "boolean":
        return [int(x) for x in els]
    return els


def _field_like(prop: Property, v: Any) -> list[str]:
    """What ``like`` matches on a field-tokenized property: the stripped texts (``""`` included)."""
    return sorted({x.strip() for x in _texts(v)})


def _indexed(prop: Property) -> bool:
    """Whether ``prop`` has value columns (a cross-reference's conditions are answered by the reference
    predicate: its beacons are not values a filter compares)."""
    return (
        prop.data_type not in ("blob", GEO, PHONE)
        and not prop.is_reference
        and bool(prop.index_filterable or prop.index_searchable or prop.index_range_filters)
    )


def _merge_nums(old: _Nums | None, drop: I64, vals: list[Any], docs: list[int], dtype: Any) -> _Nums:
    if old is None:
        ov, od = np.zeros(0, dtype), np.zeros(0, np.int64)
    else:
        keep = ~np.isin(old.docs, drop) if len(drop) else None
        ov, od = (old.vals, old.docs) if keep is None else (old.vals[keep], old.docs[keep])
    if not vals:
        return _Nums(ov, od)
    nv = np.asarray(vals, dtype)
    nd = np.asarray(docs, np.int64)
    order = np.argsort(nv, kind="stable")
    nv, nd = nv[order], nd[order]
    at = np.searchsorted(ov, nv, "left")
    return _Nums(np.insert(ov, at, nv), np.insert(od, at, nd))


def _merge_strs(old: _Strs | None, drop: I64, keys: list[str], docs: list[int]) -> _Strs:
    okeys: list[str] = [] if old is None else old.keys
    codes = np.zeros(0, np.uint64) if old is None else old.codes
    if old is not None and len(drop):
        codes = codes[~np.isin((codes & np.uint64(_DOC_MASK)).astype(np.int64), drop)]
    if not keys:
        return _Strs(okeys, codes)
    missing = sorted({k for k in keys} - set(_present_keys(okeys, keys)))
    if missing:
        pos = np.asarray([bisect.bisect_left(okeys, k) for k in missing], np.int64)
        remap = np.arange(len(okeys), dtype=np.int64)
        remap += np.searchsorted(pos, remap, "right")
        kid = (codes >> np.uint64(_DOC_BITS)).astype(np.int64)
        codes = (remap[kid].astype(np.uint64) << np.uint64(_DOC_BITS)) | (codes & np.uint64(_DOC_MASK))
        okeys = sorted(okeys + missing)  # two sorted runs: linear
    index = {k: bisect.bisect_left(okeys, k) for k in set(keys)}
    new = np.asarray([(index[k] << _DOC_BITS) | d for k, d in zip(keys, docs, strict=True)], np.uint64)
    new.sort()
    return _Strs(okeys, np.insert(codes, np.searchsorted(codes, new), new))


def _present_keys(keys: list[str], wanted: Iterable[str]) -> list[str]:
    out = []
    for k in set(wanted):
        i = bisect.bisect_left(keys, k)
        if i < len(keys) and keys[i] == k:
            out.append(k)
    return out


def _grow(a: npt.NDArray[Any], n: int) -> npt.NDArray[Any]:
    if len(a) >= n:
        return a.copy()
    out = np.zeros(n, a.dtype)
    out[: len(a)] = a
    return out


@dataclass(frozen=True)
class _Columns:
    """The merged columns (see the module docstring). ``n`` bounds every doc number in them."""

    n: int
    live: Mask
    created: I64
    updated: I64
    present: dict[str, Mask]  # every non-blob property
    blobs: dict[str, Mask]  # every blob property
    nums: dict[str, _Nums]
    strs: dict[str, _Strs]
    likes: dict[str, _Strs]  # field-tokenized text: stripped texts for like
    lengths: dict[str, I64]  # len(prop), when indexPropertyLength was on
    geos: dict[str, tuple[F32, F32]]  # geoCoordinates: latitude and longitude per doc
    indexed: frozenset[str]  # the properties with columns
    known: frozenset[str]  # every property of the schema they were built for
    with_lengths: bool

    @staticmethod
    def empty(config: CollectionConfig) -> _Columns:
        z = np.zeros(0, np.int64)
        return _Columns(
            0,
            np.zeros(0, np.bool_),
            z,
            z,
            {},
            {},
            {},
            {},
            {},
            {},
            {},
            _indexed_names(config),
            frozenset(p.name for p in config.properties),
            _lengths_on(config),
        )

    def merged(self, changes: Mapping[int, Record | None], config: CollectionConfig) -> _Columns:
        """These columns with ``changes`` (doc → its new record, or None: deleted) applied."""
        if any(d < 0 or d > _DOC_MASK for d in changes):
            raise ValueError("doc numbers beyond 32 bits cannot be indexed")
        n = max(self.n, max(changes, default=-1) + 1)
        drop = np.fromiter(changes, np.int64, len(changes))
        # The changed objects the sorted columns hold entries of: those live when they were merged
        # (an object new since then has none to remove).
        held = drop[drop < self.n]
        held = held[self.live[held]]
        live = _grow(self.live, n)
        created, updated = _grow(self.created, n), _grow(self.updated, n)
        live[drop] = False
        kept = [(d, r) for d, r in changes.items() if r is not None]
        at = np.fromiter((d for d, _ in kept), np.int64, len(kept))
        live[at] = True
        created[at] = np.fromiter((r.created for _, r in kept), np.int64, len(kept))
        updated[at] = np.fromiter((r.updated for _, r in kept), np.int64, len(kept))
        all_props = [r.props for _, r in kept]  # parsed once per object
        present: dict[str, Mask] = {}
        blobs: dict[str, Mask] = {}
        nums: dict[str, _Nums] = {}
        strs: dict[str, _Strs] = {}
        likes: dict[str, _Strs] = {}
        lengths: dict[str, I64] = {}
        geos: dict[str, tuple[F32, F32]] = {}
        indexed = _indexed_names(config)
        with_lengths = _lengths_on(config)

        def column(old: npt.NDArray[Any] | None, dtype: Any, values: Iterable[Any]) -> npt.NDArray[Any]:
            a = _grow(old if old is not None else np.zeros(0, dtype), n)
            a[drop] = 0
            a[at] = np.fromiter(values, dtype, len(kept))
            return a

        for p in config.properties:
            name = p.name
            if p.data_type == "blob":
                blobs[name] = column(self.blobs.get(name), np.bool_, (name in r.blobs for _, r in kept))
                continue
            values = [props.get(name) for props in all_props]
            present[name] = column(self.present.get(name), np.bool_, (v not in (None, []) for v in values))
            if with_lengths and (p.data_type == "text" or p.data_type.endswith("[]")):
                lengths[name] = column(
                    self.lengths.get(name),
                    np.int64,
                    (len(v) if isinstance(v, str | list) else 0 for v in values),
                )
            if p.data_type == GEO:
                old = self.geos.get(name)
                geos[name] = (
                    column(old[0] if old else None, np.float32, (_geo(v, "latitude") for v in values)),
                    column(old[1] if old else None, np.float32, (_geo(v, "longitude") for v in values)),
                )
                continue
            if name not in indexed:
                continue
            base = p.data_type.removesuffix("[]")
            vals: list[Any] = []
            docs: list[int] = []
            if base in ("int", "number") and not p.data_type.endswith("[]"):  # one element each
                for (d, _), v in zip(kept, values, strict=True):
                    if v is not None:
                        vals.append(v)
                        docs.append(d)
            elif base == "text":
                tok = p.tokenization or "word"
                for (d, _), v in zip(kept, values, strict=True):
                    if v is not None:
                        toks = set(tokenize_value(v, tok))
                        vals.extend(toks)
                        docs.extend([d] * len(toks))
            else:
                for (d, _), v in zip(kept, values, strict=True):
                    if v is not None:
                        els = _prop_elements(p, v)
                        vals.extend(els)
                        docs.extend([d] * len(els))
            if base in _NUM_BASES:
                dtype = np.float64 if base == "number" else np.int64
                nums[name] = _merge_nums(self.nums.get(name), held, vals, docs, dtype)
            else:
                strs[name] = _merge_strs(self.strs.get(name), held, vals, docs)
            if base == "text" and (p.tokenization or "word") == "field":
                lv: list[str] = []
                ld: list[int] = []
                for (d, _), v in zip(kept, values, strict=True):
                    els = _field_like(p, v)
                    lv.extend(els)
                    ld.extend([d] * len(els))
                likes[name] = _merge_strs(self.likes.get(name), held, lv, ld)
        known = frozenset(p.name for p in config.properties)
        return _Columns(
            n,
            live,
            created,
            updated,
            present,
            blobs,
            nums,
            strs,
            likes,
            lengths,
            geos,
            indexed,
            known,
            with_lengths,
        )


def _geo(v: Any, key: str) -> float:
    return float(v[key]) if isinstance(v, dict) else 0.0


def _indexed_names(config: CollectionConfig) -> frozenset[str]:
    return frozenset(p.name for p in config.properties if _indexed(p))


def _lengths_on(config: CollectionConfig) -> bool:
    return bool(config.inverted_index.extra.get("indexPropertyLength"))


class FilterIndex:
    """Immutable: the columns, and the objects changed since they were merged (doc → record, or None
    when deleted). A write makes a new one with :meth:`changed`."""

    __slots__ = ("columns", "delta")

    def __init__(self, columns: _Columns, delta: Mapping[int, Record | None]) -> None:
        self.columns = columns
        self.delta = delta

    @staticmethod
    def build(recs: Mapping[int, Record], config: CollectionConfig) -> FilterIndex:
        return FilterIndex(_Columns.empty(config).merged(recs, config), {})

    def changed(
        self,
        changes: Mapping[int, Record | None],
        config: CollectionConfig,
        recs: Mapping[int, Record],
    ) -> FilterIndex:
        """With ``changes`` applied; ``recs`` (every object after them) rebuilds the columns when the
        set of indexed properties changed."""
        cols = self.columns
        # An index switched on for a property the columns know but did not index (or property lengths
        # switched on): its values are missing from the columns, so they are built again. A property
        # new to the schema has no values in them: it starts empty.
        if (_indexed_names(config) & cols.known) - cols.indexed or (
            _lengths_on(config) and not cols.with_lengths and cols.n
        ):
            return FilterIndex.build(recs, config)
        delta = {**self.delta, **changes}
        if len(delta) > MAX_DELTA:
            return FilterIndex(cols.merged(delta, config), {})
        return FilterIndex(cols, delta)

    def match(
        self,
        f: FilterT,
        config: CollectionConfig,
        doc_of: Mapping[str, int],
        recs: Mapping[int, Record],
    ) -> I64:
        """The docs ``f`` keeps, ascending. ``recs`` are every object (for a leaf the columns cannot
        answer); raises what :func:`compile_filter` raises for a bad filter."""
        pred = compile_filter(f, config)
        assert pred is not None
        cols = self.columns
        n = max(cols.n, max(self.delta, default=-1) + 1)
        ev = _Eval(cols, n, config, doc_of, recs)
        mask = ev.eval(f)
        for d, r in self.delta.items():
            mask[d] = r is not None and pred(r)
        return np.flatnonzero(mask).astype(np.int64)


class _Eval:
    def __init__(
        self,
        cols: _Columns,
        n: int,
        config: CollectionConfig,
        doc_of: Mapping[str, int],
        recs: Mapping[int, Record],
    ) -> None:
        self.c, self.n, self.config, self.doc_of, self.recs = cols, n, config, doc_of, recs
        self.live = _grow(cols.live, n) if len(cols.live) < n else cols.live

    def none(self) -> Mask:
        return np.zeros(self.n, np.bool_)

    def of(self, docs: I64) -> Mask:
        m = self.none()
        m[docs] = True
        return m

    def col(self, a: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return a if len(a) >= self.n else _grow(a, self.n)

    def eval(self, f: FilterT) -> Mask:
        if isinstance(f, And | Or):
            parts = iter(f.operands)
            m = self.eval(next(parts)).copy()
            for x in parts:
                if isinstance(f, And):
                    m &= self.eval(x)
                else:
                    m |= self.eval(x)
            return m
        if isinstance(f, Not):
            return self.live & ~self.eval(f.operand)
        assert isinstance(f, Where)
        try:
            return self.leaf(f)
        except _Unindexable:
            pred = _compile(f, self.config)
            m = self.none()
            for d in np.flatnonzero(self.live):
                r = self.recs.get(int(d))
                if r is not None and pred(r):
                    m[d] = True
            return m

    # -- leaves --------------------------------------------------------------------------------------
    def leaf(self, f: Where) -> Mask:
        op = f.operator
        if f.target in ("ref_count", "ref_targets"):  # counts and targets of references: the predicate
            raise _Unindexable
        values = _as_list(op, f.value)
        if f.target == "id":
            ids = [_uuid(v, "id") for v in values]
            return self.set_ops(op, ids, lambda v: self.of_docs([self.doc_of.get(v)]), None)
        if f.target in ("creation_time", "update_time"):
            ts = [_time_ms(v, f.target) for v in values]
            a = self.c.created if f.target == "creation_time" else self.c.updated
            return self.dense(op, ts, self.col(a))
        length = _LEN.fullmatch(f.name)
        if length is not None:
            prop = self.config.property(length.group(1))
            assert prop is not None
            ln = self.c.lengths.get(prop.name)
            if ln is None and self.c.with_lengths and prop.name not in self.c.known:
                ln = np.zeros(0, np.int64)  # a property new since the columns were built: length 0
            if ln is None:
                raise _Unindexable
            lv = [int(_number(v, True, "", "length")) for v in values]
            return self.dense(op, lv, self.col(ln))
        prop = self.config.property(f.name)
        assert prop is not None
        t = prop.data_type
        base = t.removesuffix("[]")
        if prop.is_reference and op != "is_none":  # a reference count (REST's path [ref], valueInt)
            raise _Unindexable
        if op == "is_none":
            pm = self.c.blobs.get(prop.name) if t == "blob" else self.c.present.get(prop.name)
            present = self.col(pm) if pm is not None else self.none()
            return self.live & ~present if f.value else present & self.live
        new = prop.name not in self.c.known  # added since the columns were built: no values in them
        if t == GEO:
            return self.geo(prop, f.value, new)
        if prop.name not in self.c.indexed and not new:
            raise _Unindexable
        if base == "text":
            return self.text(prop, op, values)
        if base in _NUM_BASES:
            nums = self.c.nums.get(prop.name) or _Nums(np.zeros(0, np.float64), np.zeros(0, np.int64))
            if base == "date":
                vs: list[Any] = [_time_ms(v, "") for v in values]
            elif base == "boolean":
                vs = [int(v) for v in values]
            else:
                vs = [_number(v, base == "int", "", t) for v in values]
            return self.sorted_ops(op, vs, nums, base == "number")
        return self.str_ops(op, [_uuid(v, "") for v in values], self.strs(self.c.strs, prop.name))

    def geo(self, prop: Property, value: Any, new: bool) -> Mask:
        """``within_geo_range`` over the property's coordinate columns (the only operator besides
        ``is_none`` that ``compile_filter`` lets through for geoCoordinates)."""
        lat, lon, dist = parse_geo_range(value, "")
        cols = self.c.geos.get(prop.name)
        pm = self.c.present.get(prop.name)
        if new or cols is None or pm is None:
            return self.none()
        d = geo_distance(lat, lon, self.col(cols[0]), self.col(cols[1]))
        out: Mask = within(d, dist) & self.col(pm) & self.live
        return out

    @staticmethod
    def strs(table: dict[str, _Strs], name: str) -> _Strs:
        return table.get(name) or _Strs([], np.zeros(0, np.uint64))

    def of_docs(self, docs: Iterable[int | None]) -> Mask:
        m = self.none()
        for d in docs:
            if d is not None and d < self.n:
                m[d] = True
        return m & self.live

    def set_ops(
        self, op: str, values: list[Any], eq: Callable[[Any], Mask], rng: Callable[[str, Any], Mask] | None
    ) -> Mask:
        """The operators over ``eq(value)`` (objects with an element equal to it) and ``rng``."""
        if op == "equal":
            return eq(values[0])
        if op == "not_equal":
            return self.live & ~eq(values[0])
        if op in ("contains_any", "contains_none"):
            m = self.none()
            for v in dict.fromkeys(values):
                m |= eq(v)
            return m if op == "contains_any" else self.live & ~m
        if op == "contains_all":
            distinct = list(dict.fromkeys(values))
            m = eq(distinct[0]).copy()
            for v in distinct[1:]:
                m &= eq(v)
            return m
        assert rng is not None, op
        return rng(op, values[0])

    def dense(self, op: str, values: list[int], col: I64) -> Mask:
        """One integer per object (times, lengths)."""

        def eq(v: int) -> Mask:
            if not _INT64_MIN <= v <= _INT64_MAX:
                return self.none()
            out: Mask = (col == v) & self.live
            return out

        def rng(op: str, v: int) -> Mask:
            if v > _INT64_MAX or v < _INT64_MIN:
                above = v > _INT64_MAX  # every value is below v
                keep = (op in ("less_than", "less_or_equal")) == above
                return self.live.copy() if keep else self.none()
            cmp = {
                "greater_than": np.greater,
                "greater_or_equal": np.greater_equal,
                "less_than": np.less,
                "less_or_equal": np.less_equal,
            }[op]
            return cmp(col, v) & self.live

        return self.set_ops(op, values, eq, rng)

    def sorted_ops(self, op: str, values: list[Any], nums: _Nums, floating: bool) -> Mask:
        vals = nums.vals

        def bound(v: Any, side: str) -> int:
            if not floating and not _INT64_MIN <= v <= _INT64_MAX:
                return 0 if v < 0 else len(vals)
            return int(np.searchsorted(vals, v, side))  # type: ignore[call-overload]

        def eq(v: Any) -> Mask:
            return self.of(nums.slice_docs(bound(v, "left"), bound(v, "right")))

        def rng(op: str, v: Any) -> Mask:
            if op == "greater_than":
                lo, hi = bound(v, "right"), len(vals)
            elif op == "greater_or_equal":
                lo, hi = bound(v, "left"), len(vals)
            elif op == "less_than":
                lo, hi = 0, bound(v, "left")
            else:
                lo, hi = 0, bound(v, "right")
            return self.of(nums.slice_docs(lo, hi))

        return self.set_ops(op, values, eq, rng)

    def str_ops(self, op: str, values: list[str], strs: _Strs) -> Mask:
        keys = strs.keys

        def eq(v: str) -> Mask:
            i = bisect.bisect_left(keys, v)
            if i < len(keys) and keys[i] == v:
                return self.of(strs.group(i, i + 1))
            return self.none()

        def rng(op: str, v: str) -> Mask:
            if op == "greater_than":
                lo, hi = bisect.bisect_right(keys, v), len(keys)
            elif op == "greater_or_equal":
                lo, hi = bisect.bisect_left(keys, v), len(keys)
            elif op == "less_than":
                lo, hi = 0, bisect.bisect_left(keys, v)
            else:
                lo, hi = 0, bisect.bisect_right(keys, v)
            return self.of(strs.group(lo, hi)) if lo < hi else self.none()

        return self.set_ops(op, values, eq, rng)

    def text(self, prop: Property, op: str, values: list[str]) -> Mask:
        tok = prop.tokenization or "word"
        strs = self.strs(self.c.strs, prop.name)
        if op == "like":
            pat = values[0].lower() if tok in ("word", "lowercase") else values[0]
            target = self.strs(self.c.likes, prop.name) if tok == "field" else strs
            return self.like(pat, target)
        if op in ("equal", "not_equal"):
            want = sorted(set(tokenize(values[0], tok)))
            m = self.str_ops("contains_all", want, strs) if want else self.none()
            return m if op == "equal" else self.live & ~m
        if op in ("contains_any", "contains_all", "contains_none"):
            tokens = sorted({x for v in values for x in tokenize(v, tok)})
            if not tokens:  # nothing to look for: any finds nothing, all and none hold for every object
                return self.none() if op == "contains_any" else self.live.copy()
            return self.str_ops(op, tokens, strs)
        return self.str_ops(op, values, strs)

    def like(self, pattern: str, strs: _Strs) -> Mask:
        match = like_matcher(pattern)
        prefix = ""
        for ch in pattern:
            if ch in "*?":
                break
            prefix += ch
        keys = strs.keys
        lo = bisect.bisect_left(keys, prefix) if prefix else 0
        hits: list[int] = []
        for i in range(lo, len(keys)):
            k = keys[i]
            if prefix and not k.startswith(prefix):
                break
            if match(k):
                hits.append(i)
        m = self.none()
        for a, b in _runs(hits):
            m[strs.group(a, b)] = True
        return m


def _runs(ids: list[int]) -> list[tuple[int, int]]:
    """Consecutive indexes as half-open runs."""
    out: list[tuple[int, int]] = []
    for i in ids:
        if out and out[-1][1] == i:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def reference_match(f: FilterT, config: CollectionConfig, recs: Mapping[int, Record]) -> list[int]:
    """The docs ``f`` keeps, by the reference predicate over every record (ascending)."""
    pred: Predicate | None = compile_filter(f, config)
    if pred is None:
        return sorted(recs)
    return sorted(d for d, r in recs.items() if pred(r))


def merged_filters(
    old: FilterIndex, new: FilterIndex, changed: Iterable[int], recs: Mapping[int, Rec]
) -> FilterIndex:
    """``new``; when the write merged the objects changed since the last merge into the filter columns,
    their properties are no longer read per query: they are kept as JSON text from now on (``Rec``)."""
    if new.columns is not old.columns:
        for d in (*old.delta, *changed):
            r = recs.get(d)
            if r is not None:
                r.compact()
    return new

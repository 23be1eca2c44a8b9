"""Weaviate's Aggregate over a collection: which objects (all, a filter's, or a search's, cut by
``object_limit`` / distance / certainty), then metrics of their properties, in one group or grouped by
a property's values.

Two layers: a search gives a set of objects (``Aggregating._aggregate_docs``, the only part that knows
vectors), and :func:`property_metrics` computes a property's metrics over those objects' values with
numpy (texts with a counter), knowing nothing of how they were chosen. The metrics are Weaviate's (its
``aggregator`` package), including its edge cases:

* numbers (``int``, ``number`` and their arrays, every element counted): count, minimum, maximum, sum,
  mean = sum / count, median = the middle value, or the mean of the two middle values for an even
  count, mode = the most frequent value, the smallest of those tied. No values: only ``count`` (0).
* dates: count, minimum, maximum, mode (the earliest of those tied: Weaviate picks one of them at
  random), median (for an even count the instant halfway between the two middle ones, in UTC); dates
  are returned in RFC 3339 with nanoseconds as Go writes them, in the offset they were stored with
  (UTC when a whole collection's scalar dates are aggregated, which Weaviate reads from its index).
* text (``text``, ``text[]``): count of values, and the most frequent values (top occurrences: by
  count, ties in byte order; 5 unless a limit is given).
* booleans: count, totalTrue, totalFalse, percentageTrue, percentageFalse (fractions, 0 with no values).

An object without a value for the property adds nothing. Grouping puts an object in the group of each
value it has (each element of an array), counts distinct objects per group, and keeps the ``limit``
largest groups (100 by default), ties in value order.
"""

from __future__ import annotations

import calendar
import collections
import datetime as dt
import re
import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from colweave.store.errors import QueryError
from colweave.store.filters import FilterT
from colweave.store.keyword import Keyword, _fusion
from colweave.store.objects import Rec
from colweave.store.schema import Property

# Weaviate's metric names, by the kind of property they apply to.
NUMERIC_METRICS = ("count", "type", "minimum", "maximum", "mean", "median", "mode", "sum")
DATE_METRICS = ("count", "type", "minimum", "maximum", "median", "mode")
TEXT_METRICS = ("count", "type", "topOccurrences")
BOOLEAN_METRICS = ("count", "type", "totalTrue", "totalFalse", "percentageTrue", "percentageFalse")
DEFAULT_TOP_OCCURRENCES = 5
DEFAULT_GROUP_LIMIT = 100
DEFAULT_HYBRID_OBJECT_LIMIT = 10  # Weaviate's QUERY_DEFAULTS_LIMIT, which a hybrid aggregate uses
KINDS = {
    "int": "numerical",
    "number": "numerical",
    "text": "text",
    "boolean": "boolean",
    "date": "date",
}


# -- what to search -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NearVector:
    vector: Any
    target_vector: str | None = None


@dataclass(frozen=True)
class NearText:
    query: str
    target_vector: str | None = None


@dataclass(frozen=True)
class NearObject:
    uuid: str | uuidlib.UUID
    target_vector: str | None = None


@dataclass(frozen=True)
class NearImage:
    image: bytes | str  # bytes, or base64 text
    target_vector: str | None = None


@dataclass(frozen=True)
class Hybrid:
    query: str
    alpha: float = 0.75
    vector: Any = None
    query_properties: list[str] | None = None
    fusion_type: str = "relativeScore"
    target_vector: str | None = None
    max_vector_distance: float | None = None


@dataclass(frozen=True)
class BM25:
    query: str
    query_properties: list[str] | None = None


Search = NearVector | NearText | NearObject | NearImage | Hybrid | BM25


# -- what to compute, and what comes back ------------------------------------------------------------------
@dataclass(frozen=True)
class Metrics:
    """The metrics wanted for one property; ``names=None``: every metric of its kind."""

    property: str
    names: frozenset[str] | None = None
    top_occurrences_limit: int | None = None


@dataclass
class PropertyAggregate:
    property: str
    data_type: str  # the schema's, e.g. "int[]"
    kind: str  # "numerical", "date", "text" or "boolean"
    # The computed metrics (see the module docstring for which ones each kind returns): numbers as
    # float (``count`` and the totals as int), dates as RFC 3339 text.
    values: dict[str, Any] = field(default_factory=dict)
    top_occurrences: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class AggregateGroup:
    count: int  # objects in the group
    properties: dict[str, PropertyAggregate]
    grouped_by: tuple[str, Any] | None = None  # (property, value)


@dataclass
class AggregateResult:
    groups: list[AggregateGroup]
    grouped: bool = False

    @property
    def total_count(self) -> int:
        return self.groups[0].count if not self.grouped and self.groups else 0

    @property
    def properties(self) -> dict[str, PropertyAggregate]:
        return self.groups[0].properties if not self.grouped and self.groups else {}


# -- metrics over values ---------------------------------------------------------------------------------
def _elements(v: Any) -> list[Any]:
    if v is None:
        return []
    return list(v) if isinstance(v, list | tuple) else [v]


def property_metrics(
    prop: Property, values: Sequence[Any], wanted: Metrics, *, utc_dates: bool = False
) -> PropertyAggregate:
    """``wanted``'s metrics of ``prop`` over ``values`` (one per object, None when it has none)."""
    base = prop.data_type.removesuffix("[]")
    kind = KINDS.get(base)
    if kind is None:
        raise QueryError(
            f"aggregate: property {prop.name!r} of data type {prop.data_type} can't be aggregated"
        )
    allowed = {
        "numerical": NUMERIC_METRICS,
        "date": DATE_METRICS,
        "text": TEXT_METRICS,
        "boolean": BOOLEAN_METRICS,
    }[kind]
    names = set(allowed) if wanted.names is None else set(wanted.names) & set(allowed)
    flat = [x for v in values for x in _elements(v)]
    out = PropertyAggregate(prop.name, prop.data_type, kind)
    if "type" in names:
        out.values["type"] = prop.data_type
    if kind == "numerical":
        _numerical(np.asarray(flat, np.float64), names, out)
    elif kind == "date":
        _dates(flat, names, out, utc_dates and not prop.data_type.endswith("[]"))
    elif kind == "text":
        limit = (
            DEFAULT_TOP_OCCURRENCES if wanted.top_occurrences_limit is None else wanted.top_occurrences_limit
        )
        _text(flat, limit, out)
    else:
        _boolean(np.asarray(flat, np.bool_), out)
    return out


def _median_index(n: int) -> tuple[int, int]:
    return ((n - 1) // 2, n // 2)  # the same index twice for an odd count


def _numerical(a: np.ndarray, names: set[str], out: PropertyAggregate) -> None:
    if a.size == 0:
        if "count" in names:
            out.values["count"] = 0
        return
    uniq, counts = np.unique(a, return_counts=True)
    s = np.sort(a)
    lo, hi = _median_index(a.size)
    total = float(np.sum(a))
    got = {
        "count": int(a.size),
        "minimum": float(s[0]),
        "maximum": float(s[-1]),
        "sum": total,
        "mean": total / a.size,
        "median": float(s[lo]) if lo == hi else float((s[lo] + s[hi]) / 2),
        "mode": float(uniq[int(np.argmax(counts))]),  # argmax: the first (smallest) of those tied
    }
    out.values.update({k: v for k, v in got.items() if k in names})


_DATE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|([+-])(\d{2}):(\d{2}))\Z"
)


def date_nanos(s: str) -> tuple[int, int]:
    """An RFC 3339 date as (nanoseconds since the epoch, UTC offset in seconds)."""
    m = _DATE.match(s)
    if m is None:
        raise QueryError(f"aggregate: {s!r} is not an RFC 3339 date")
    y, mo, d, h, mi, sec = (int(m.group(i)) for i in range(1, 7))
    frac = (m.group(7) or "")[:9].ljust(9, "0")
    off = 0 if m.group(8) in ("Z", "z") else (int(m.group(10)) * 3600 + int(m.group(11)) * 60)
    if m.group(9) == "-":
        off = -off
    secs = calendar.timegm((y, mo, d, h, mi, sec, 0, 0, 0)) - off
    return secs * 1_000_000_000 + int(frac), off


def format_nanos(ns: int, offset_s: int = 0) -> str:
    """Go's ``time.RFC3339Nano``: fractional seconds without trailing zeros, ``Z`` for UTC."""
    secs, frac = divmod(ns + offset_s * 1_000_000_000, 1_000_000_000)
    t = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=secs)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    if offset_s == 0:
        return text + "Z"
    sign = "+" if offset_s > 0 else "-"
    h, m = divmod(abs(offset_s) // 60, 60)
    return f"{text}{sign}{h:02d}:{m:02d}"


def _dates(flat: list[Any], names: set[str], out: PropertyAggregate, utc: bool) -> None:
    if not flat:
        if "count" in names:
            out.values["count"] = 0
        return
    parsed = {x: date_nanos(x) for x in set(flat)}  # dates repeat: each distinct text parsed once
    ns = np.fromiter((parsed[x][0] for x in flat), np.int64, len(flat))
    offsets = [0 if utc else parsed[x][1] for x in flat]
    order = np.argsort(ns, kind="stable")
    s = ns[order]
    _, first, counts = np.unique(s, return_index=True, return_counts=True)

    def at(i: int) -> str:  # the i-th date in time order, as stored
        j = int(order[i])
        return format_nanos(int(ns[j]), offsets[j])

    lo, hi = _median_index(len(s))
    # Two different middle dates: the instant halfway, in UTC (Go: a + (b - a) / 2).
    halfway = int(s[lo]) + (int(s[hi]) - int(s[lo])) // 2
    median = at(lo) if s[lo] == s[hi] else format_nanos(halfway)
    got = {
        "count": len(s),
        "minimum": at(0),
        "maximum": at(len(s) - 1),
        "median": median,
        "mode": at(int(first[int(np.argmax(counts))])),  # the earliest of those tied
    }
    out.values.update({k: v for k, v in got.items() if k in names})


def _text(flat: list[Any], limit: int, out: PropertyAggregate) -> None:
    out.values["count"] = len(flat)  # Weaviate always returns the count and the top occurrences
    if not flat or limit <= 0:
        return
    # Counted as Python strings (numpy's fixed-width str would cost the longest value's width per value,
    # and drop trailing NULs). Ties in byte order: UTF-8 keeps the code point order str comparison uses.
    counts = collections.Counter(flat)
    out.top_occurrences = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def _boolean(a: np.ndarray, out: PropertyAggregate) -> None:
    n = int(a.size)
    t = int(np.count_nonzero(a))
    out.values.update(
        {
            "count": n,
            "totalTrue": t,
            "totalFalse": n - t,
            "percentageTrue": t / n if n else 0.0,
            "percentageFalse": (n - t) / n if n else 0.0,
        }
    )


def group_values(prop: Property, recs: Sequence[tuple[int, Rec]], limit: int) -> list[tuple[Any, list[int]]]:
    """The ``limit`` largest groups of ``prop``'s values over ``recs``: ``(value, docs)``, most objects
    first, ties in value order. Integers group as numbers (Weaviate reads them as float64)."""
    if prop.data_type.removesuffix("[]") not in ("text", "int", "number", "boolean", "date", "uuid"):
        raise QueryError(
            f"group_by: property {prop.name!r} of data type {prop.data_type} can't be grouped by"
        )
    members: dict[Any, set[int]] = {}
    numeric = prop.data_type.removesuffix("[]") in ("int", "number")
    for doc, rec in recs:
        for x in _elements(rec.props.get(prop.name)):
            members.setdefault(float(x) if numeric else x, set()).add(doc)
    ranked = sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0]))[: max(limit, 0)]
    return [(value, sorted(docs)) for value, docs in ranked]


# -- the collection's aggregate ------------------------------------------------------------------------------
class Aggregating(Keyword):
    def aggregate(
        self,
        search: Search | None = None,
        *,
        metrics: Sequence[Metrics] = (),
        filters: FilterT | None = None,
        object_limit: int | None = None,
        distance: float | None = None,
        certainty: float | None = None,
        group_by: str | None = None,
        limit: int | None = None,
    ) -> AggregateResult:
        """Metrics over the objects a search finds (every object, or a filter's, without one).

        A vector search (``NearVector``, ``NearText``, ``NearObject``, ``NearImage``) keeps its best
        ``object_limit`` objects, and of those the ones within ``distance`` (or of at least
        ``certainty``: distance ≤ ``(1 - certainty) * 2``); one of these is required. ``Hybrid`` and
        ``BM25`` keep each leg's best ``object_limit`` (10 by default) and aggregate all that fusion
        returns. ``group_by`` groups by a property's values (``limit``: how many groups, 100 by default).
        """
        for what, v in (("object_limit", object_limit), ("limit", limit)):
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                raise QueryError(f"{what}: must be a non-negative integer, got {v!r}")
        search = self._embedded_search(search)
        with self._state.read():
            wanted = [(self._aggregated_property(m.property), m) for m in metrics]
            gprop = None
            if group_by is not None:
                gprop = self._aggregated_property(group_by)
            everything = search is None and filters is None
            docs = self._aggregate_docs(search, filters, object_limit, distance, certainty)
            if gprop is None:
                return AggregateResult([self._group(docs, wanted, utc_dates=everything and group_by is None)])
            groups = group_values(
                gprop,
                [(d, self._recs[d]) for d in docs],
                DEFAULT_GROUP_LIMIT if limit is None else limit,
            )
            out = []
            for value, members in groups:
                g = self._group(members, wanted, utc_dates=False)
                g.grouped_by = (gprop.name, value)
                out.append(g)
            return AggregateResult(out, grouped=True)

    def _aggregated_property(self, name: str) -> Property:
        if not isinstance(name, str):
            raise QueryError(f"aggregate: expected a property name, got {name!r}")
        p = self._props_by_name.get(name)
        if p is None:
            raise QueryError(f"aggregate: {self.name} has no property {name!r}")
        return p

    def _group(
        self, docs: Sequence[int], wanted: Sequence[tuple[Property, Metrics]], *, utc_dates: bool
    ) -> AggregateGroup:
        props = {}
        for p, m in wanted:
            values = [self._recs[d].props.get(p.name) for d in docs]
            props[p.name] = property_metrics(p, values, m, utc_dates=utc_dates)
        return AggregateGroup(len(docs), props)

    def _embedded_search(self, search: Search | None) -> Search | None:
        """``search`` with its text or image embedded (outside the state lock), as a ``NearVector``."""
        if isinstance(search, NearText):
            name = self._target(search.target_vector)
            return NearVector(self._embed_query(name, search.query), name)
        if isinstance(search, NearImage):
            name = self._target(search.target_vector)
            return NearVector(self._embed_image(name, search.image), name)
        if isinstance(search, NearObject):
            name, q = self.stored_query_vector(search.uuid, search.target_vector)
            return NearVector(q, name)
        if isinstance(search, Hybrid):
            embedded = self._hybrid_embedding(search.query, search.alpha, search.vector, search.target_vector)
            if embedded is not None:
                return Hybrid(
                    search.query,
                    search.alpha,
                    embedded,
                    search.query_properties,
                    search.fusion_type,
                    search.target_vector,
                    search.max_vector_distance,
                )
        elif search is not None and not isinstance(search, NearVector | BM25):
            raise QueryError(f"aggregate: unsupported search {type(search).__name__}")
        return search

    def _aggregate_docs(
        self,
        search: Search | None,
        filters: FilterT | None,
        object_limit: int | None,
        distance: float | None,
        certainty: float | None,
    ) -> list[int]:
        """The objects to aggregate (the caller has pinned the view)."""
        allowed = self._allowed_docs(filters)
        if search is None:
            return list(self._recs) if allowed is None else sorted(allowed)
        if isinstance(search, NearVector):
            name = self._target(search.target_vector)
            cut = self._distance_cut(name, distance, certainty, check_cosine=False)
            if object_limit is None and cut is None:
                raise QueryError("aggregate: a vector search needs object_limit, distance or certainty")
            q = self._search_vector(name, search.vector)
            docs, _ = self._vector_docs(name, q, object_limit, cut, allowed)
            return docs
        k = DEFAULT_HYBRID_OBJECT_LIMIT if object_limit is None else object_limit
        if isinstance(search, BM25):
            if not isinstance(search.query, str):
                raise QueryError("query: expected a string")
            mask = None
            if allowed is not None:
                mask = np.zeros(max(self._recs, default=-1) + 1, np.uint8)
                if allowed:
                    mask[np.fromiter(allowed, np.int64)] = 1
            bdocs, _ = self._bm25.search(search.query, k, search.query_properties, mask)
            return [int(d) for d in bdocs]
        assert isinstance(search, Hybrid)
        _, rows = self._hybrid_rows(
            search.query,
            search.alpha,
            search.vector,
            search.query_properties,
            _fusion(search.fusion_type),
            search.target_vector,
            search.max_vector_distance,
            k,
            allowed,
        )
        return [d for d, _, _ in rows]

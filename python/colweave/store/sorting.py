"""Sorting fetched objects by properties and metadata, in Weaviate's order.

``sort`` is a list of ``(path, ascending)`` keys, compared in turn (the next key breaks the ties of the
previous one); objects equal on every key keep the order they had (UUID order for a fetch). The order of
each data type is Weaviate's (its sorter's comparators):

* text: case-insensitively (``"a" == "A"``, ``"a" < "B"``); int and number: numerically, as one type;
  date: in time; boolean: false before true;
* arrays (text[], int[], number[], date[], boolean[]): element by element, then the shorter first;
* a missing value comes before every value in ascending order and after every value in descending order;
* ``_id`` (the UUID, as text), ``_creationTimeUnix`` and ``_lastUpdateTimeUnix`` (milliseconds).

As in Weaviate, uuid and cross-reference properties cannot be sorted by (an error says so), sorting
cannot be combined with a search (near_vector, bm25, hybrid...) or with a cursor (``after``). Blob
properties cannot be sorted by here either (Weaviate would compare their base64 text).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from typing import Any

from colweave.store.errors import QueryError
from colweave.store.geo_phone import GEO, PHONE
from colweave.store.objects import Rec
from colweave.store.schema import CollectionConfig, parse_date

SortT = Sequence[tuple[str, bool]]
MAX_SORT_KEYS = 64
_INTERNAL = {"_id": "id", "id": "id", "_creationTimeUnix": "created", "_lastUpdateTimeUnix": "updated"}


def check_sort(config: CollectionConfig, sort: Any) -> list[tuple[str, bool]]:
    """The sort keys, checked against the schema with Weaviate's messages; property names get their first
    letter lower-cased."""
    if not isinstance(sort, list | tuple) or not sort:
        raise QueryError("sort: expected a non-empty list of (property, ascending) keys")
    if len(sort) > MAX_SORT_KEYS:
        raise QueryError(f"sort: at most {MAX_SORT_KEYS} keys")
    out: list[tuple[str, bool]] = []
    errs: list[str] = []
    for i, key in enumerate(sort):
        if not isinstance(key, list | tuple) or len(key) != 2 or not isinstance(key[1], bool):
            raise QueryError(f"sort: key {i} must be (property, ascending), got {key!r}")
        path = key[0]
        if not isinstance(path, str) or not path:
            errs.append(f"sort parameter at position {i}: path parameter cannot be empty")
            continue
        if path in _INTERNAL:
            out.append((path, key[1]))
            continue
        prop = config.property(path)
        if prop is None:
            errs.append(
                f"sort parameter at position {i}: no such prop with name '{path}' found in class "
                f"'{config.name}' in the schema. Check your schema files for which properties in this "
                "class are available"
            )
            continue
        if prop.data_type in ("uuid", "uuid[]"):
            errs.append(
                f'sort parameter at position {i}: prop "{prop.name}" is of type uuid/uuid[]: sorting by '
                "uuid is currently not supported"
            )
            continue
        if prop.is_reference:
            errs.append(
                f'sort parameter at position {i}: sorting by reference not supported, property "{prop.name}" '
                f'is a ref prop to the class "{prop.targets[0]}"'
            )
            continue
        if prop.data_type == "blob":
            errs.append(f"sort parameter at position {i}: sorting by a blob property is not supported")
            continue
        out.append((prop.name, key[1]))
    if errs:
        raise QueryError("; ".join(errs))
    return out


def _scalar(data_type: str) -> Callable[[Any], Any]:
    """A stored value of a scalar type as the value Weaviate compares."""
    if data_type == "text":
        return lambda v: v.lower()
    if data_type == "date":
        return lambda v: parse_date(v) or dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    if data_type in ("int", "number"):
        return float
    return lambda v: v  # boolean: False < True


def _cmp(a: Any, b: Any) -> int:
    return 0 if a == b else (-1 if a < b else 1)


def _comparator(
    config: CollectionConfig, path: str, ascending: bool
) -> tuple[Callable[[Rec], Any], Callable[[Any, Any], int]]:
    """How to read one key of an object, and how two read keys compare (ascending)."""
    del ascending
    internal = _INTERNAL.get(path)
    if internal == "id":
        return (lambda r: r.uuid), _cmp
    if internal is not None:
        return (lambda r: float(getattr(r, internal))), _cmp
    prop = config.property(path)
    assert prop is not None  # check_sort found it
    t = prop.data_type
    name = prop.name
    if t in (GEO, PHONE):  # Weaviate compares them as float arrays: [longitude, latitude], [code, national]
        keys = ("longitude", "latitude") if t == GEO else ("countryCode", "national")

        def read_pair(r: Rec) -> Any:
            v = r.props.get(name)
            return None if not isinstance(v, dict) else [float(v.get(k) or 0) for k in keys]

        return read_pair, _cmp
    conv = _scalar(t.removesuffix("[]"))
    if t.endswith("[]"):

        def read_array(r: Rec) -> Any:
            v = r.props.get(name)
            return None if v is None else [conv(x) for x in v]

        def cmp_array(a: list[Any], b: list[Any]) -> int:
            for x, y in zip(a, b, strict=False):
                c = _cmp(x, y)
                if c:
                    return c
            return _cmp(len(a), len(b))

        return read_array, cmp_array

    def read(r: Rec) -> Any:
        v = r.props.get(name)
        return None if v is None else conv(v)

    return read, _cmp


def sort_order(config: CollectionConfig, recs: Sequence[Rec], sort: SortT) -> list[int]:
    """The positions of ``recs`` in the order of ``sort`` (checked with :func:`check_sort`); ties keep
    their order."""
    keys = [(*_comparator(config, p, asc), asc) for p, asc in sort]
    values = [[read(r) for read, _, _ in keys] for r in recs]

    def compare(i: int, j: int) -> int:
        for level, (_, cmp, asc) in enumerate(keys):
            a, b = values[i][level], values[j][level]
            if a is None or b is None:
                c = 0 if a is None and b is None else (-1 if a is None else 1)
            else:
                c = cmp(a, b)
            if c:
                return c if asc else -c
        return 0

    return sorted(range(len(recs)), key=functools.cmp_to_key(compare))  # sorted() is stable

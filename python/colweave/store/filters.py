"""Filters with Weaviate's semantics, usable in every search, fetch, count and delete-many.

Build them like the Python client does::

    Filter.by_property("title").equal("holiday film") & Filter.by_creation_time().greater_than(t)
    Filter.by_id().contains_any([u1, u2]) | ~Filter.by_property("year").less_than(2000)

Semantics (Weaviate's): text is compared on its *tokens* — ``equal("holiday film")`` on a word-tokenized
property matches objects containing both tokens, ``like`` matches any token against the pattern (``*`` any
run, ``?`` one character); on arrays a comparison holds when it holds for some element; ``contains_any`` /
``contains_all`` / ``contains_none`` take a list; a missing (null) property fails every comparison except
``not_equal``, ``contains_none`` and ``is_none(True)``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid as uuidlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from colweave.store.errors import FilterError
from colweave.store.geo_phone import GEO, PHONE, geo_distance, parse_geo_range, within
from colweave.store.schema import BEACON_PREFIX, UUID_RE, CollectionConfig, Property, parse_date
from colweave.store.tokenize import tokenize

# Bounds on what a filter may hold: nesting depth, operands of one And/Or, nodes in all, values of one
# contains_* list, and the length of a like pattern. Anything beyond is refused with a FilterError (a
# client error), before any work is done.
MAX_FILTER_DEPTH = 64
MAX_FILTER_OPERANDS = 1024
MAX_FILTER_NODES = 10_000
MAX_FILTER_VALUES = 10_000
MAX_LIKE_PATTERN = 4096

OPERATORS = (
    "equal",
    "not_equal",
    "greater_than",
    "greater_or_equal",
    "less_than",
    "less_or_equal",
    "like",
    "contains_any",
    "contains_all",
    "contains_none",
    "is_none",
    "within_geo_range",
)


class Record(Protocol):
    """What a filter reads of an object."""

    uuid: str
    blobs: frozenset[str]
    created: int  # ms since the epoch
    updated: int

    @property
    def props(self) -> dict[str, Any]: ...

    def tokens(self, prop: Property) -> frozenset[str]: ...


class _Base:
    # ``a & b & c`` is one And of three (not nested Ands), so chaining conditions never deepens a filter.
    def __and__(self, other: _Base) -> _Base:
        return And([*_parts(self, And), *_parts(other, And)])

    def __or__(self, other: _Base) -> _Base:
        return Or([*_parts(self, Or), *_parts(other, Or)])

    def __invert__(self) -> _Base:
        return Not(self)


@dataclass(frozen=True)
class Hop:
    """One step along a cross-reference: the reference property, and the target collection it is
    followed into (None: every target collection of the property)."""

    link_on: str
    target_collection: str | None = None


@dataclass(frozen=True)
class Where(_Base):
    # "id", "creation_time", "update_time", "property", "ref_count" (the number of references a
    # cross-reference property holds), or "ref_targets" (the store's resolution of ``via``: the
    # property references one of ``value``, a frozenset of (collection, uuid)).
    target: str
    operator: str
    value: Any
    name: str = ""
    # The condition holds for an object reached along these references (Filter.by_ref(...)...).
    via: tuple[Hop, ...] = ()


@dataclass(frozen=True)
class And(_Base):
    operands: Sequence[_Base] = field(default_factory=list)


@dataclass(frozen=True)
class Or(_Base):
    operands: Sequence[_Base] = field(default_factory=list)


@dataclass(frozen=True)
class Not(_Base):
    operand: _Base


FilterT = _Base


def _parts(f: _Base, kind: type[And] | type[Or]) -> list[_Base]:
    return list(f.operands) if type(f) is kind and isinstance(f, And | Or) else [f]


class _Target:
    def __init__(self, target: str, name: str = "", via: tuple[Hop, ...] = ()) -> None:
        self._t, self._n, self._via = target, name, via

    def _w(self, op: str, v: Any) -> Where:
        return Where(self._t, op, v, self._n, self._via)

    def equal(self, v: Any) -> Where:
        return self._w("equal", v)

    def not_equal(self, v: Any) -> Where:
        return self._w("not_equal", v)

    def greater_than(self, v: Any) -> Where:
        return self._w("greater_than", v)

    def greater_or_equal(self, v: Any) -> Where:
        return self._w("greater_or_equal", v)

    def less_than(self, v: Any) -> Where:
        return self._w("less_than", v)

    def less_or_equal(self, v: Any) -> Where:
        return self._w("less_or_equal", v)

    def like(self, v: str) -> Where:
        return self._w("like", v)

    def contains_any(self, v: Sequence[Any]) -> Where:
        return self._w("contains_any", list(v))

    def contains_all(self, v: Sequence[Any]) -> Where:
        return self._w("contains_all", list(v))

    def contains_none(self, v: Sequence[Any]) -> Where:
        return self._w("contains_none", list(v))

    def is_none(self, v: bool = True) -> Where:
        return self._w("is_none", v)

    def within_geo_range(self, coordinate: Any, distance: float) -> Where:
        """Objects whose geoCoordinates property lies at most ``distance`` metres from ``coordinate``
        (an object with ``latitude`` and ``longitude``, such as the client's ``GeoCoordinate``, or a
        ``(latitude, longitude)`` pair), by Weaviate's great-circle distance (``store/geo_phone.py``)."""
        if isinstance(coordinate, tuple | list) and len(coordinate) == 2:
            lat, lon = coordinate
        else:
            lat, lon = getattr(coordinate, "latitude", None), getattr(coordinate, "longitude", None)
        return self._w("within_geo_range", (lat, lon, distance))


class _Ref:
    """Conditions on the objects a cross-reference property points to (``Filter.by_ref``)."""

    def __init__(self, via: tuple[Hop, ...]) -> None:
        self._via = via

    def by_ref(self, link_on: str, target_collection: str | None = None) -> _Ref:
        return _Ref((*self._via, Hop(link_on, target_collection)))

    def by_ref_count(self, link_on: str) -> _Target:
        return _Target("ref_count", link_on, self._via)

    def by_id(self) -> _Target:
        return _Target("id", "", self._via)

    def by_property(self, name: str, length: bool = False) -> _Target:
        return _Target("property", f"len({name})" if length else name, self._via)

    def by_creation_time(self) -> _Target:
        return _Target("creation_time", "", self._via)

    def by_update_time(self) -> _Target:
        return _Target("update_time", "", self._via)


class Filter:
    @staticmethod
    def by_id() -> _Target:
        return _Target("id")

    @staticmethod
    def by_ref(link_on: str, target_collection: str | None = None) -> _Ref:
        """Objects whose cross-reference ``link_on`` points to an object (of ``target_collection``, or of
        any target collection) that meets the condition that follows."""
        return _Ref((Hop(link_on, target_collection),))

    @staticmethod
    def by_ref_count(link_on: str) -> _Target:
        """The number of references the cross-reference property ``link_on`` holds (0 when it has none)."""
        return _Target("ref_count", link_on)

    @staticmethod
    def by_property(name: str) -> _Target:
        return _Target("property", name)

    @staticmethod
    def by_creation_time() -> _Target:
        return _Target("creation_time")

    @staticmethod
    def by_update_time() -> _Target:
        return _Target("update_time")

    @staticmethod
    def all_of(filters: Sequence[_Base]) -> _Base:
        return And(list(filters))

    @staticmethod
    def any_of(filters: Sequence[_Base]) -> _Base:
        return Or(list(filters))

    @staticmethod
    def not_(f: _Base) -> _Base:
        return Not(f)

    @staticmethod
    def from_weaviate(where: dict[str, Any]) -> _Base:
        """A filter from Weaviate's REST ``where`` JSON (see :func:`from_weaviate`)."""
        return from_weaviate(where)


Predicate = Callable[[Record], bool]

_REST_OPS = {
    "Equal": "equal",
    "NotEqual": "not_equal",
    "GreaterThan": "greater_than",
    "GreaterThanEqual": "greater_or_equal",
    "LessThan": "less_than",
    "LessThanEqual": "less_or_equal",
    "Like": "like",
    "ContainsAny": "contains_any",
    "ContainsAll": "contains_all",
    "ContainsNone": "contains_none",
    "IsNull": "is_none",
    "WithinGeoRange": "within_geo_range",
}
_REST_VALUES = (
    "valueText",
    "valueString",
    "valueInt",
    "valueNumber",
    "valueBoolean",
    "valueDate",
    "valueTextArray",
    "valueStringArray",
    "valueIntArray",
    "valueNumberArray",
    "valueBooleanArray",
    "valueDateArray",
    "valueGeoRange",
)


_VALUE_TYPES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "valueText": ("text", lambda v: isinstance(v, str)),
    "valueString": ("text", lambda v: isinstance(v, str)),
    "valueDate": ("an RFC 3339 date", lambda v: isinstance(v, str)),
    "valueInt": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "valueNumber": ("a finite number", lambda v: _finite_number(v)),
    "valueBoolean": ("a boolean", lambda v: isinstance(v, bool)),
    "valueGeoRange": ("an object with geoCoordinates and distance", lambda v: isinstance(v, dict)),
}


def from_weaviate(where: dict[str, Any]) -> _Base:
    """A filter from Weaviate's REST ``where`` shape (``{"operator", "operands"}`` or
    ``{"path", "operator", "value<Type>"}``; paths ``id``, ``_creationTimeUnix``, ``_lastUpdateTimeUnix``).
    Nesting deeper than :data:`MAX_FILTER_DEPTH`, more operands than :data:`MAX_FILTER_OPERANDS`,
    unknown operators and values of the wrong type raise :class:`FilterError`."""
    return _from_weaviate(where, 1, [0])


def _from_weaviate(where: Any, depth: int, nodes: list[int]) -> _Base:
    if depth > MAX_FILTER_DEPTH:
        raise FilterError(f"where: filters may be nested at most {MAX_FILTER_DEPTH} deep")
    nodes[0] += 1
    if nodes[0] > MAX_FILTER_NODES:
        raise FilterError(f"where: a filter may hold at most {MAX_FILTER_NODES} conditions")
    if not isinstance(where, dict):
        raise FilterError(f"where: expected an object, got {_short(where)}")
    op = where.get("operator")
    if op in ("And", "Or"):
        operands = where.get("operands")
        if not isinstance(operands, list) or not operands:
            raise FilterError(f"where: operator {op} needs a non-empty list of operands")
        if len(operands) > MAX_FILTER_OPERANDS:
            raise FilterError(f"where: operator {op} takes at most {MAX_FILTER_OPERANDS} operands")
        children = [_from_weaviate(o, depth + 1, nodes) for o in operands]
        return And(children) if op == "And" else Or(children)
    if op == "Not":
        operands = where.get("operands")
        if not isinstance(operands, list) or len(operands) != 1:
            raise FilterError("where: operator Not needs exactly one operand")
        return Not(_from_weaviate(operands[0], depth + 1, nodes))
    if not isinstance(op, str) or op not in _REST_OPS:
        raise FilterError(f"where: unknown operator {_short(op)}")
    path = where.get("path")
    if isinstance(path, str):
        path = [path]
    if (
        not isinstance(path, list)
        or len(path) % 2 != 1
        or len(path) > 2 * MAX_FILTER_DEPTH
        or not all(isinstance(x, str) and x for x in path)
    ):
        raise FilterError(
            "where: path must name one property, or follow cross-references as "
            f"[refProperty, TargetCollection, ..., property], got {_short(path)}"
        )
    via = tuple(Hop(path[i], path[i + 1]) for i in range(0, len(path) - 1, 2))
    path = path[-1:]
    values = [k for k in _REST_VALUES if k in where]
    if len(values) != 1:
        raise FilterError(f"where: expected exactly one value<Type> field, got {values or 'none'}")
    key = values[0]
    value = where[key]
    what, ok = _VALUE_TYPES[key.removesuffix("Array")]
    if key.endswith("Array"):
        if not isinstance(value, list) or not all(ok(v) for v in value):
            raise FilterError(f"where: {key} must be a list of {what} values, got {_short(value)}")
        if len(value) > MAX_FILTER_VALUES:
            raise FilterError(f"where: {key} may hold at most {MAX_FILTER_VALUES} values")
    elif not ok(value) and not (op == "IsNull" and isinstance(value, bool)):
        raise FilterError(f"where: {key} must be {what}, got {_short(value)}")
    name = path[0]
    if name in ("id", "_id"):
        target = _Target("id", "", via)
    elif name == "_creationTimeUnix":
        target = _Target("creation_time", "", via)
    elif name == "_lastUpdateTimeUnix":
        target = _Target("update_time", "", via)
    else:
        target = _Target("property", name, via)
    if (
        target._t in ("creation_time", "update_time")
        and isinstance(value, str)
        and value.lstrip("-").isdigit()
        and len(value) <= 19
    ):
        value = int(value)
    return target._w(_REST_OPS[op], value)


def _finite_number(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    return isinstance(v, float) and math.isfinite(v)


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 80 else r[:80] + "..."


def _as_list(op: str, v: Any) -> list[Any]:
    if op in ("contains_any", "contains_all", "contains_none"):
        if not isinstance(v, list | tuple):
            raise FilterError(f"{op}: expected a list of values, got {_short(v)}")
        if not v:
            raise FilterError(f"{op}: the list of values is empty")
        if len(v) > MAX_FILTER_VALUES:
            raise FilterError(f"{op}: at most {MAX_FILTER_VALUES} values")
        return list(v)
    return [v]


def _uuid(v: Any, where: str) -> str:
    if isinstance(v, uuidlib.UUID):
        return str(v)
    if not isinstance(v, str) or UUID_RE.match(v) is None:
        raise FilterError(f"{where}: {_short(v)} is not a UUID (expected the form 8-4-4-4-12 hex digits)")
    return v.lower()


def _time_ms(v: Any, where: str) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    d = parse_date(v)
    if d is None:
        raise FilterError(f"{where}: expected a datetime or an RFC 3339 date, got {_short(v)}")
    return round(d.timestamp() * 1000)


_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "equal": lambda a, b: a == b,
    "not_equal": lambda a, b: a != b,
    "greater_than": lambda a, b: a > b,
    "greater_or_equal": lambda a, b: a >= b,
    "less_than": lambda a, b: a < b,
    "less_or_equal": lambda a, b: a <= b,
}


def _scalar_pred(op: str, values: list[Any], get: Callable[[Record], list[Any] | None]) -> Predicate:
    """A comparison over a scalar-or-array field: ``get`` returns its elements (None: null)."""
    if op == "is_none":
        want = bool(values[0])
        return lambda r: (not get(r)) == want
    if op == "not_equal":
        eq = _scalar_pred("equal", values, get)
        return lambda r: not eq(r)
    if op == "contains_any":
        s = set(values)
        return lambda r: any(x in s for x in (get(r) or ()))
    if op == "contains_all":
        s = set(values)
        return lambda r: s.issubset(get(r) or ())
    if op == "contains_none":
        s = set(values)
        return lambda r: not any(x in s for x in (get(r) or ()))
    if op == "like":
        raise FilterError("like: only text properties support like")
    cmp, b = _CMP[op], values[0]
    return lambda r: any(cmp(a, b) for a in (get(r) or ()))


def like_matcher(pattern: str) -> Callable[[str], bool]:
    """Weaviate's like: ``*`` is any run of characters, ``?`` exactly one; everything else is literal.

    Matched in linear time, without backtracking: the pattern is split on ``*`` into segments of
    literals and ``?`` (each of a fixed length). The first segment must match at the start, the last
    at the end, and the middle ones, in order, each at its left-most place after the previous one
    (taking the left-most place never loses a match: what follows may start anywhere later). Each
    segment is searched once, by a regex without repetition, so nothing is ever retried."""
    if not isinstance(pattern, str):
        raise FilterError(f"like: expected a text pattern, got {_short(pattern)}")
    if len(pattern) > MAX_LIKE_PATTERN:
        raise FilterError(f"like: the pattern is longer than {MAX_LIKE_PATTERN} characters")

    def seg(text: str) -> re.Pattern[str]:
        return re.compile("".join("." if c == "?" else re.escape(c) for c in text), re.S)

    parts = pattern.split("*")
    if len(parts) == 1:
        whole = seg(pattern)
        return lambda t: len(t) == len(pattern) and whole.fullmatch(t) is not None
    first, last = parts[0], parts[-1]
    rx_first, rx_last = seg(first), seg(last)
    middle = [seg(p) for p in parts[1:-1] if p]
    fixed = len(pattern) - len(parts) + 1  # every character but the stars

    def match(t: str) -> bool:
        n = len(t)
        if n < fixed:
            return False
        if first and rx_first.match(t) is None:
            return False
        end = n - len(last)
        if last and rx_last.fullmatch(t, end) is None:
            return False
        pos = len(first)
        for rx in middle:
            m = rx.search(t, pos, end)
            if m is None:
                return False
            pos = m.end()
        return True

    return match


def compile_filter(f: _Base | None, config: CollectionConfig) -> Predicate | None:
    """Checks ``f`` against the collection's schema and returns a predicate over records. Trees deeper
    than :data:`MAX_FILTER_DEPTH` or larger than the other bounds raise :class:`FilterError`."""
    if f is None:
        return None
    _check_shape(f)
    return _compile(f, config)


def _check_shape(f: Any) -> None:
    """Bounds a filter tree without recursing (so a tree of any depth gets a FilterError, never a
    RecursionError)."""
    stack: list[tuple[Any, int]] = [(f, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > MAX_FILTER_DEPTH:
            raise FilterError(f"filters: filters may be nested at most {MAX_FILTER_DEPTH} deep")
        if nodes > MAX_FILTER_NODES:
            raise FilterError(f"filters: a filter may hold at most {MAX_FILTER_NODES} conditions")
        if isinstance(node, And | Or):
            kind = type(node).__name__.lower()
            ops = node.operands
            if not isinstance(ops, list | tuple):
                raise FilterError(f"{kind}: operands must be a list of filters")
            if not ops:
                raise FilterError(f"{kind}: needs at least one operand")
            if len(ops) > MAX_FILTER_OPERANDS:
                raise FilterError(f"{kind}: takes at most {MAX_FILTER_OPERANDS} operands")
            stack.extend((x, depth + 1) for x in ops)
        elif isinstance(node, Not):
            stack.append((node.operand, depth + 1))
        elif not isinstance(node, Where):
            raise FilterError(f"filters: expected a Filter, got {type(node).__name__}")


def _compile(f: _Base, config: CollectionConfig) -> Predicate:
    if isinstance(f, And | Or):
        ps = [_compile(x, config) for x in f.operands]
        if isinstance(f, And):
            return lambda r: all(p(r) for p in ps)
        return lambda r: any(p(r) for p in ps)
    if isinstance(f, Not):
        inner = _compile(f.operand, config)
        return lambda r: not inner(r)
    if not isinstance(f, Where):
        raise FilterError(f"filters: expected a Filter, got {type(f).__name__}")
    op = f.operator
    if not isinstance(op, str) or op not in OPERATORS:
        raise FilterError(f"filters: unknown operator {_short(op)}")
    if f.target not in ("id", "creation_time", "update_time", "property", "ref_count", "ref_targets"):
        raise FilterError(f"filters: unknown target {_short(f.target)}")
    if f.via:
        raise FilterError(
            "filters: a condition on referenced objects (Filter.by_ref) needs the other collections: "
            "resolve it first with colweave.store.references.resolve_filter(store, config, filters)"
        )
    if f.target == "ref_targets":
        return _ref_targets_pred(f, config)
    if f.target == "ref_count":
        return _ref_count_pred(f, config)
    if f.target == "id":
        if op not in ("equal", "not_equal", "contains_any", "contains_all", "contains_none"):
            raise FilterError(f"id: operator {op} is not supported for ids")
        ids = [_uuid(v, "id") for v in _as_list(op, f.value)]
        return _scalar_pred(op, ids, lambda r: [r.uuid])
    if op == "within_geo_range" and f.target != "property":
        raise FilterError(f"{f.target}: within_geo_range is only supported on geoCoordinates properties")
    if f.target in ("creation_time", "update_time"):
        if op in ("like", "is_none"):
            raise FilterError(f"{f.target}: operator {op} is not supported for timestamps")
        ts = [_time_ms(v, f.target) for v in _as_list(op, f.value)]
        attr = "created" if f.target == "creation_time" else "updated"
        return _scalar_pred(op, ts, lambda r: [getattr(r, attr)])
    length = _LEN.fullmatch(f.name)
    if length is not None:
        return _length_pred(f, length.group(1), config)
    prop = config.property(f.name)
    if prop is None:
        raise FilterError(f"no such prop with name {f.name!r} found in class {config.name!r} in the schema")
    if prop.is_reference and op != "is_none":  # Weaviate's REST shape of a count filter: path [ref], valueInt
        return _ref_count_pred(Where("ref_count", f.operator, f.value, f.name), config)
    where = f"property {prop.name!r}"
    t = prop.data_type
    base = t.removesuffix("[]")
    if t == GEO or op == "within_geo_range":
        return _geo_pred(prop, op, f.value, where)
    if t == PHONE and op != "is_none":
        raise FilterError(f"{where}: phoneNumber properties can only be filtered with is_none")
    if op != "is_none" and not (prop.index_filterable or prop.index_searchable or prop.index_range_filters):
        raise FilterError(
            f"Filtering by property '{prop.name}' requires inverted index. Is `indexFilterable` option of "
            f"property '{prop.name}' enabled? Set it to `true` or leave empty"
        )
    if op == "is_none":
        if not isinstance(f.value, bool):
            raise FilterError(f"{where}: is_none takes a boolean")
        if t == "blob":
            return lambda r: (prop.name not in r.blobs) == f.value
        return lambda r: (r.props.get(prop.name) in (None, [])) == f.value
    if t == "blob":
        raise FilterError(f"{where}: blob properties can only be filtered with is_none")
    values = _as_list(op, f.value)
    if base == "text":
        if not all(isinstance(v, str) for v in values):
            raise FilterError(f"{where}: expected text values for a {t} property, got {_short(f.value)}")
        tok = prop.tokenization or "word"
        if op == "like":
            pat = values[0].lower() if tok in ("word", "lowercase") else values[0]
            like = like_matcher(pat)
            if tok == "field":
                return lambda r: any(like(x.strip()) for x in _texts(r.props.get(prop.name)))
            return lambda r: any(like(x) for x in r.tokens(prop))
        if op in ("equal", "not_equal"):
            want = frozenset(tokenize(values[0], tok))

            def eq(r: Record) -> bool:
                toks = r.tokens(prop)
                return bool(toks) and want <= toks if want else False

            return eq if op == "equal" else (lambda r: not eq(r))
        if op in ("contains_any", "contains_all", "contains_none"):
            tokens = sorted({x for v in values for x in tokenize(v, tok)})
            return _scalar_pred(op, tokens, lambda r: list(r.tokens(prop)))
        return _scalar_pred(op, values, lambda r: list(r.tokens(prop)))
    if op == "like":
        raise FilterError(f"{where}: like is only supported on text properties")
    if base in ("int", "number"):
        values = [_number(v, base == "int", where, t) for v in values]
        if not all(_finite_number(v) for v in values):
            raise FilterError(f"{where}: expected numbers (finite) for a {t} property, got {_short(f.value)}")
        return _scalar_pred(op, values, lambda r: _elems(r.props.get(prop.name)))
    if base == "boolean":
        if not all(isinstance(v, bool) for v in values):
            raise FilterError(f"{where}: expected booleans for a {t} property, got {_short(f.value)}")
        return _scalar_pred(op, values, lambda r: _elems(r.props.get(prop.name)))
    if base == "date":
        # A date property takes RFC 3339 dates only (Weaviate: "expected value to be time.Time (or
        # parseable string)"); milliseconds are for the creation / update time filters.
        if not all(isinstance(v, str | dt.datetime) for v in values):
            raise FilterError(f"{where}: expected RFC 3339 dates for a {t} property, got {f.value!r}")
        ts = [_time_ms(v, where) for v in values]
        return _scalar_pred(
            op, ts, lambda r: [_time_ms(x, where) for x in _elems(r.props.get(prop.name)) or ()] or None
        )
    if base == "uuid":
        ids = [_uuid(v, where) for v in values]
        return _scalar_pred(op, ids, lambda r: _elems(r.props.get(prop.name)))
    raise FilterError(f"{where}: data type {t} cannot be filtered")  # pragma: no cover


_LEN = re.compile(r"len\((.+)\)")


def _geo_pred(prop: Property, op: str, value: Any, where: str) -> Predicate:
    """A geoCoordinates property: ``is_none``, or ``within_geo_range`` (Weaviate's great-circle distance,
    at most the range's distance); every other operator, or a geo range on another type, is an error."""
    if prop.data_type != GEO:
        raise FilterError(
            f"{where}: within_geo_range needs a geoCoordinates property, {prop.name!r} is {prop.data_type}"
        )
    if op == "is_none":
        if not isinstance(value, bool):
            raise FilterError(f"{where}: is_none takes a boolean")
        return lambda r: (r.props.get(prop.name) is None) == value
    if op != "within_geo_range":
        raise FilterError(
            f"{where}: prop {prop.name!r} is of type geoCoordinates, it can only be used with geoRange "
            "filters (within_geo_range) and is_none"
        )
    lat, lon, dist = parse_geo_range(value, where)

    def pred(r: Record) -> bool:
        v = r.props.get(prop.name)
        if not isinstance(v, dict):
            return False
        return bool(within(geo_distance(lat, lon, v["latitude"], v["longitude"]), dist))

    return pred


def _reference_property(name: str, config: CollectionConfig) -> Property:
    prop = config.property(name)
    if prop is None:
        raise FilterError(f"no such prop with name {name!r} found in class {config.name!r} in the schema")
    if not prop.is_reference:
        raise FilterError(f"property {prop.name!r} is not a cross-reference (it is {prop.data_type})")
    return prop


def _ref_count_pred(f: Where, config: CollectionConfig) -> Predicate:
    """``Filter.by_ref_count(prop)``: how many references the property holds (0 when it has none)."""
    prop = _reference_property(f.name, config)
    if f.operator in ("like", "is_none", "contains_any", "contains_all", "contains_none"):
        raise FilterError(f"ref count of {prop.name!r}: operator {f.operator} is not supported for a count")
    values = [_number(v, True, f"ref count of {prop.name!r}", "count") for v in _as_list(f.operator, f.value)]
    return _scalar_pred(f.operator, values, lambda r: [len(r.props.get(prop.name) or ())])


def _ref_targets_pred(f: Where, config: CollectionConfig) -> Predicate:
    """The store's resolution of a condition on referenced objects: the property references one of the
    objects in ``f.value`` (a set of ``(collection, uuid)``); a stored beacon without a collection (the
    legacy form) matches by its uuid."""
    prop = _reference_property(f.name, config)
    wanted = frozenset(f.value)
    uuids = frozenset(u for _, u in wanted)

    def pred(r: Record) -> bool:
        for beacon in r.props.get(prop.name) or ():
            cls, _, uid = beacon[len(BEACON_PREFIX) :].rpartition("/")
            if ((cls, uid) in wanted) if cls else (uid in uuids):
                return True
        return False

    return pred


def _length_pred(f: Where, name: str, config: CollectionConfig) -> Predicate:
    """``Filter.by_property(name, length=True)`` (path ``len(name)``): a text's length in characters, an
    array's in elements, 0 for a missing value; needs ``invertedIndexConfig.indexPropertyLength``."""
    if not config.inverted_index.extra.get("indexPropertyLength"):
        raise FilterError(
            "Property length must be indexed to be filterable! add `IndexPropertyLength: true` to the "
            f"invertedIndexConfig in {config.name}.  Geo-coordinates, phone numbers and data blobs are not "
            "supported by property length."
        )
    prop = config.property(name)
    if prop is None:
        raise FilterError(f"no such prop with name {name!r} found in class {config.name!r} in the schema")
    where = f"len({prop.name})"
    if prop.data_type != "text" and not prop.data_type.endswith("[]"):
        raise FilterError(
            f"{where}: property length is indexed for text and array properties, not {prop.data_type}"
        )
    if f.operator in ("like", "is_none"):
        raise FilterError(f"{where}: operator {f.operator} is not supported for a property length")
    values = [_number(v, True, where, "length") for v in _as_list(f.operator, f.value)]

    def length(r: Record) -> list[Any]:
        v = r.props.get(prop.name)
        return [len(v) if isinstance(v, str | list) else 0]

    return _scalar_pred(f.operator, values, length)


def _number(v: Any, integer: bool, where: str, t: str) -> int | float:
    """A filter value for an int or number property, as Weaviate takes it: a number (a text value on a
    number property is refused, "data type filter cannot use valueText on type int"); for an int property
    it must be whole (``1.0`` is 1, ``1.2`` is an error)."""
    x: Any = v
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise FilterError(f"{where}: expected numbers for a {t} property, got {v!r}")
    if not integer:
        return float(x)
    if isinstance(x, float):
        if not math.isfinite(x):
            raise FilterError(f"{where}: filtering for integer, but received a non-finite number {v!r}")
        if not x.is_integer():
            raise FilterError(f"{where}: filtering for integer, but received a floating point number {v!r}")
        return int(x)
    return x


def _elems(v: Any) -> list[Any] | None:
    if v is None:
        return None
    return list(v) if isinstance(v, list) else [v]


def _texts(v: Any) -> list[str]:
    if v is None:
        return []
    return [x for x in v if isinstance(x, str)] if isinstance(v, list) else [v] if isinstance(v, str) else []

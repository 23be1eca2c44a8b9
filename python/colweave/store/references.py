"""Cross-references across collections: following them in filters and returning the objects they point to.

A cross-reference property (``Property.reference``) holds a list of beacons,
``weaviate://localhost/<Collection>/<uuid>``, stored with the object's other properties (the same SQLite
row, so the same commit makes them durable). As in Weaviate, deleting a referenced object (or its whole
collection) leaves the beacons in place: they still count in ``Filter.by_ref_count`` and are skipped when
the references are returned or followed.

What needs other collections lives here, at the store's level, and runs outside every collection's lock:
a condition on referenced objects (``Filter.by_ref(...)``) is resolved into the set of objects it matches
in the target collections *before* the source collection is searched, and the referenced objects of a
result are fetched from their collections afterwards. So a collection never holds its lock while it waits
for another's (two searches following references in opposite directions cannot deadlock).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, overload

from colweave.store.errors import FilterError, QueryError
from colweave.store.filters import MAX_FILTER_VALUES, And, Filter, FilterT, Hop, Not, Or, Where
from colweave.store.results import SearchResult
from colweave.store.schema import BEACON_PREFIX, CollectionConfig, Property, normalize_class_name

# How deep references may be followed (filters and returned references alike).
MAX_REFERENCE_DEPTH = 8
# At most this many referenced objects are returned per result and reference property.
MAX_REFERENCES_RETURNED = 10_000


class _Coll(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def config(self) -> CollectionConfig: ...

    def fetch_objects(self, **kwargs: Any) -> list[SearchResult]: ...


class Collections(Protocol):
    """What following references needs of the store: a collection by name, or None when there is none."""

    def find_collection(self, name: str) -> Any: ...


def split_beacon(beacon: str) -> tuple[str | None, str]:
    """A stored beacon as ``(collection or None, uuid)`` (stored beacons are already canonical)."""
    cls, _, uid = beacon[len(BEACON_PREFIX) :].rpartition("/")
    return (cls or None), uid


def reference_property(config: CollectionConfig, name: str, where: str) -> Property:
    prop = config.property(name)
    if prop is None:
        raise QueryError(
            f"{where}: no such prop with name {name!r} found in class {config.name!r} in the schema"
        )
    if not prop.is_reference:
        raise QueryError(f"{where}: property {prop.name!r} of {config.name} is not a cross-reference")
    return prop


def _hop_targets(config: CollectionConfig, hop: Hop, where: str) -> tuple[Property, list[str]]:
    try:
        prop = reference_property(config, hop.link_on, where)
    except QueryError as e:
        raise FilterError(str(e)) from None
    if hop.target_collection is None:
        return prop, list(prop.targets)
    target = normalize_class_name(hop.target_collection)
    if target not in prop.targets:
        raise FilterError(
            f"{where}: property {prop.name!r} of {config.name} does not reference collection {target!r} "
            f"(its target collections: {', '.join(prop.targets)})"
        )
    return prop, [target]


# -- filters ---------------------------------------------------------------------------------------------


def has_reference_conditions(f: FilterT | None) -> bool:
    stack: list[Any] = [f] if f is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, Where):
            if node.via:
                return True
        elif isinstance(node, And | Or):
            if isinstance(node.operands, list | tuple):
                stack.extend(node.operands)
        elif isinstance(node, Not):
            stack.append(node.operand)
    return False


@overload
def resolve_filter(store: Collections, config: CollectionConfig, f: FilterT) -> FilterT: ...


@overload
def resolve_filter(store: Collections, config: CollectionConfig, f: None) -> None: ...


def resolve_filter(store: Collections, config: CollectionConfig, f: FilterT | None) -> FilterT | None:
    """``f`` with every condition on referenced objects replaced by the set of objects it matches in the
    target collections (``Where("ref_targets", ...)``), for the collection of ``config``."""
    if f is None or not has_reference_conditions(f):
        return f
    return _resolve(store, config, f, 0)


def _resolve(store: Collections, config: CollectionConfig, f: FilterT, depth: int) -> FilterT:
    if isinstance(f, And):
        return And([_resolve(store, config, x, depth) for x in f.operands])
    if isinstance(f, Or):
        return Or([_resolve(store, config, x, depth) for x in f.operands])
    if isinstance(f, Not):
        return Not(_resolve(store, config, f.operand, depth))
    if not isinstance(f, Where) or not f.via:
        return f
    if depth + len(f.via) > MAX_REFERENCE_DEPTH:
        raise FilterError(f"filters: references may be followed at most {MAX_REFERENCE_DEPTH} deep")
    hop, rest = f.via[0], f.via[1:]
    prop, targets = _hop_targets(config, hop, "filters")
    inner = Where(f.target, f.operator, f.value, f.name, rest)
    matched: set[tuple[str, str]] = set()
    for target in targets:
        coll = store.find_collection(target)
        if coll is None:  # a target collection that was deleted: nothing of it can match
            continue
        cond = _resolve(store, coll.config, inner, depth + 1)
        for r in coll.fetch_objects(filters=cond, limit=None, return_properties=[]):
            matched.add((coll.name, r.uuid))
    return Where("ref_targets", "contains_any", frozenset(matched), prop.name)


# -- returned references ---------------------------------------------------------------------------------


@dataclass
class RefQuery:
    """The referenced objects to return for one cross-reference property (Weaviate's ``QueryReference``):
    their properties (None: every property but blobs and references), vectors, and the references of
    theirs to return in turn. ``target_collection`` limits a multi-target property to one target."""

    link_on: str
    target_collection: str | None = None
    return_properties: list[str] | None = None
    include_vector: bool | list[str] = False
    references: list[RefQuery] = field(default_factory=list)
    # What the caller wants of the referenced objects' metadata (kept for it; the store does not read it).
    return_metadata: Any = None


@dataclass
class Referenced:
    """One referenced object: its collection, the object, and the references of its that were asked for
    (by property; a property the object has no value for is absent)."""

    collection: str
    object: SearchResult
    references: dict[str, list[Referenced]] = field(default_factory=dict)


def _check_queries(config: CollectionConfig, queries: Sequence[RefQuery], depth: int) -> None:
    if depth > MAX_REFERENCE_DEPTH:
        raise QueryError(f"return_references: references may be followed at most {MAX_REFERENCE_DEPTH} deep")
    for q in queries:
        prop = reference_property(config, q.link_on, "return_references")
        if q.target_collection is not None:
            t = normalize_class_name(q.target_collection)
            if t not in prop.targets:
                raise QueryError(
                    f"return_references: property {prop.name!r} of {config.name} does not reference "
                    f"collection {t!r} (its target collections: {', '.join(prop.targets)})"
                )


def resolve_references(
    store: Collections, config: CollectionConfig, results: Sequence[SearchResult], queries: Sequence[RefQuery]
) -> list[dict[str, list[Referenced]]]:
    """For each result (of the collection of ``config``), the referenced objects ``queries`` ask for, by
    reference property, in the order of the property's beacons (duplicates kept, as Weaviate returns
    them); beacons whose object no longer exists are skipped. A property the object has no value for is
    absent from its dictionary."""
    return _references(store, config, results, queries, 1)


def _references(
    store: Collections,
    config: CollectionConfig,
    results: Sequence[SearchResult],
    queries: Sequence[RefQuery],
    depth: int,
) -> list[dict[str, list[Referenced]]]:
    out: list[dict[str, list[Referenced]]] = [{} for _ in results]
    if not queries or not results:
        return out
    _check_queries(config, queries, depth)
    source = store.find_collection(config.name)
    if source is None:
        return out
    names = sorted({reference_property(config, q.link_on, "return_references").name for q in queries})
    ids = [r.uuid for r in results]
    rows = source.fetch_objects(filters=Filter.by_id().contains_any(ids), limit=None, return_properties=names)
    beacons = {r.uuid: r.properties for r in rows}
    for q in queries:
        prop = reference_property(config, q.link_on, "return_references")
        only = normalize_class_name(q.target_collection) if q.target_collection is not None else None
        # Every beacon of every result, grouped by target collection (a legacy beacon without its
        # collection is looked for in each target collection of the property).
        per_target: dict[str, set[str]] = {}
        for r in results:
            for b in beacons.get(r.uuid, {}).get(prop.name) or ():
                cls, uid = split_beacon(b)
                for t in [cls] if cls is not None else prop.targets:
                    if only is None or t == only:
                        per_target.setdefault(t, set()).add(uid)
        found: dict[tuple[str, str], Referenced] = {}
        for t, uids in per_target.items():
            coll = store.find_collection(t)
            if coll is None:
                continue
            wanted = sorted(uids)
            objs = []
            for start in range(0, len(wanted), MAX_FILTER_VALUES):  # an id filter holds that many at most
                objs += coll.fetch_objects(
                    filters=Filter.by_id().contains_any(wanted[start : start + MAX_FILTER_VALUES]),
                    limit=None,
                    return_properties=q.return_properties,
                    include_vector=q.include_vector,
                )
            nested = _references(store, coll.config, objs, q.references, depth + 1)
            for o, refs in zip(objs, nested, strict=True):
                found[(coll.name, o.uuid)] = Referenced(coll.name, o, refs)
        for r, mine in zip(results, out, strict=True):
            stored = beacons.get(r.uuid, {}).get(prop.name)
            if stored is None:
                continue
            listed: list[Referenced] = []
            for b in stored:
                cls, uid = split_beacon(b)
                for t in [cls] if cls is not None else prop.targets:
                    hit = found.get((t, uid))
                    if hit is not None:
                        listed.append(hit)
                        break
                if len(listed) >= MAX_REFERENCES_RETURNED:
                    break
            mine[prop.name] = listed
    return out

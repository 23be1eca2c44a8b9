"""Group-by in searches: Weaviate's two groupers, over the results of one search.

Weaviate groups a search's results in one of two ways, and colweave follows both:

* **Vector searches** (``near_vector``, ``near_text``, ``near_object``, ``near_image``, multi-target too)
  group the ``offset + limit`` nearest objects in distance order by the *stored* values of the property
  (Weaviate's shard grouper). A value is the property's JSON text: a text or a date as it is, an int as
  its digits, a number as Go writes a float64 (``2`` for 2.0, ``1e-7``), a boolean as ``true`` /
  ``false``, a reference as each beacon; an array gives one value per element (the object then joins the
  group of each, as long as the group has room), and an object without the property, or with an empty
  array, has the value ``""``. An object joins the group of its value while the group holds fewer than
  ``objects_per_group``; a value with no group yet opens one while there are fewer than
  ``number_of_groups`` groups, otherwise the object's remaining values are skipped. Groups come in the
  order they were opened, so by their best distance; a group's ``min_distance`` is its first (nearest)
  hit's distance and ``max_distance`` its last one's. ``offset`` and ``limit`` then page the groups.
* **Keyword and hybrid searches** (``bm25``, ``hybrid``) group the page of results the same search would
  return (its ``limit`` and ``offset`` applied), in score order, with the same room rules, but by the
  values as a returned object holds them (Weaviate's explorer grouper): only strings group (text, date,
  uuid and their arrays); an object whose value is missing, empty or not a string (int, number, boolean,
  a reference) joins no group, and an array holding a non-string is Weaviate's error. ``min_distance`` =
  ``max_distance`` = the first hit's distance (0 when the search gave it none, as a BM25 hit).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from colweave.store.errors import SchemaError
from colweave.store.objects import Rec
from colweave.store.results import SearchResult
from colweave.store.schema import REFERENCE, CollectionConfig, Property, lowercase_first
from colweave.store.state import CollectionState


@dataclass(frozen=True)
class GroupBy:
    """What to group by: a property (its first letter lower-cased, as Weaviate stores names), how many
    groups at most and how many objects per group at most (zero or less: no group has room)."""

    prop: str
    number_of_groups: int
    objects_per_group: int


@dataclass
class Group:
    """One group: its value (``name``), the nearest and farthest distance of its hits, and the hits in
    the order the search ranked them."""

    name: str
    min_distance: float
    max_distance: float
    hits: list[SearchResult] = field(default_factory=list)


def group_property(config: CollectionConfig, prop: str) -> Property:
    """The property to group by; a name the collection lacks is Weaviate's error."""
    name = lowercase_first(prop)
    for p in config.properties:
        if p.name == name:
            if p.data_type == "blob":
                raise SchemaError(
                    f"group_by: property {name!r} is a blob: blob properties can't be grouped by"
                )
            return p
    raise SchemaError(
        f"no such prop with name '{name}' found in class '{config.name}' in the schema. Check your schema "
        "files for which properties in this class are available"
    )


def go_json_number(f: float) -> str:
    """A float64 as Go's encoding/json writes it: the shortest digits that round-trip, in plain notation
    unless the magnitude is below 1e-6 or at least 1e21 (then ``1e-07`` cleaned to ``1e-7``, ``1e+21``)."""
    a = abs(f)
    r = repr(float(f))
    if a != 0 and (a < 1e-6 or a >= 1e21):
        mant, _, exp = r.partition("e")
        if mant.endswith(".0"):
            mant = mant[:-2]
        sign, digits = exp[0], exp[1:]
        if sign == "-" and len(digits) == 2 and digits[0] == "0":
            digits = digits[1:]
        return f"{mant}e{sign}{digits}"
    s = format(Decimal(r), "f") if "e" in r else r
    return s[:-2] if s.endswith(".0") else s


def _stored_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_json_number(v) if math.isfinite(v) else str(v)
    return str(v)


def stored_values(props: Mapping[str, Any], prop: str) -> list[str]:
    """The values the vector searches' grouper reads (see the module docstring)."""
    v = props.get(prop)
    if v is None:
        return [""]
    if isinstance(v, list | tuple):
        return [_stored_text(x) for x in v] or [""]
    return [_stored_text(v)]


def _go_type(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "float64"
    if isinstance(v, dict):
        return "map[string]interface {}"
    if isinstance(v, list | tuple):
        return "[]interface {}"
    return type(v).__name__


def returned_values(props: Mapping[str, Any], prop: Property) -> list[str]:
    """The values the keyword and hybrid searches' grouper reads (see the module docstring)."""
    if prop.data_type == REFERENCE:
        return []
    v = props.get(prop.name)
    if isinstance(v, str):
        return [v]
    if isinstance(v, list | tuple):
        for i, x in enumerate(v):
            if not isinstance(x, str):
                raise SchemaError(
                    f"failed to extract groupBy values for property {prop.name}: array element at index "
                    f"{i} is not a string: {_go_type(x)}"
                )
        return list(v)
    return []


def _distance(r: SearchResult) -> float:
    d = r.metadata.distance
    return float(d) if d is not None else 0.0


def group(
    results: list[SearchResult],
    recs: Mapping[int, Rec],
    doc_of: Mapping[str, int],
    prop: Property,
    spec: GroupBy,
    *,
    by_distance: bool,
) -> list[Group]:
    """Groups ``results`` (best first) with the vector searches' grouper (``by_distance``) or the keyword
    and hybrid searches' one; the properties are read from ``recs`` (the view the search read)."""
    groups: dict[str, Group] = {}
    for r in results:
        doc = doc_of.get(r.uuid)
        if doc is None:  # pragma: no cover - a result of this view always has its record
            continue
        props = recs[doc].props
        values = stored_values(props, prop.name) if by_distance else returned_values(props, prop)
        for val in values:
            g = groups.get(val)
            if g is not None and len(g.hits) >= spec.objects_per_group:
                continue
            if g is None:
                if len(groups) >= spec.number_of_groups:
                    break  # no room for another group: the object's other values are skipped
                if spec.objects_per_group <= 0:
                    continue
                d = _distance(r)
                g = groups[val] = Group(val, d, d)
            g.hits.append(r)
            if by_distance:
                g.max_distance = _distance(r)
    return list(groups.values())


class Grouping(CollectionState):
    """``search_grouped``: one search and its grouping over the same published view."""

    def search_grouped(
        self, search: Callable[[], list[SearchResult]], spec: GroupBy, *, by_distance: bool
    ) -> list[Group]:
        """Runs ``search`` (a search of this collection, best first) and groups its results by ``spec``
        (see the module docstring), both against the view pinned here."""
        with self._state.read() as view:
            prop = group_property(view.config, spec.prop)
            results = search()
            return group(results, view.recs, view.doc_of, prop, spec, by_distance=by_distance)

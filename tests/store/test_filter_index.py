"""The filter columns (``filter_index``) against the reference: for random objects and random filters, the
objects a filter keeps are exactly those the predicate of ``filters.compile_filter`` accepts, one by one
(and a bad filter fails with the same error). Covered: every operator on every data type, scalars and
arrays, nulls and empty arrays, the four tokenizations, ids, creation/update times, ``len(prop)``, blobs'
``is_none``, cross-references (their count, by REST's shape too, the targets a resolved ``by_ref``
condition names, ``is_none``), And/Or/Not nesting, and the columns after writes (objects replaced,
deleted and added, both while they are listed in the delta and once merged)."""

from __future__ import annotations

import uuid as uuidlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colweave.store import DataObject, Filter, Store
from colweave.store import filter_index as fi
from colweave.store.errors import FilterError
from colweave.store.filter_index import FilterIndex, reference_match
from colweave.store.filters import And, Not, Or, Where
from colweave.store.geo_phone import geo_distance
from colweave.store.objects import Rec
from colweave.store.ref_writes import ReferenceWrite
from colweave.store.schema import CollectionConfig

SETTINGS = settings(
    derandomize=True,
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

IDS = [str(uuidlib.UUID(int=i * 7919 + 1)) for i in range(12)]
WORDS = ["holiday", "Film", "winter", "a", "ünï", "home", "", "  x  ", "Zebra", "film-noir", "hö"]
DATES = [
    "2020-01-01T00:00:00Z",
    "2020-01-01T02:00:00+02:00",  # the same instant as the first
    "2021-06-15T12:30:00Z",
    "1999-12-31T23:59:59.5Z",
    "2024-02-29T00:00:00Z",
]
TIMES = [1_600_000_000_000 + k * 1000 for k in range(6)]
INTS = [-(2**63), -5, 0, 1, 2, 3, 7, 2**63 - 1]
NUMS = [-2.5, -0.0, 0.0, 0.5, 1.0, 3.25, 1e300]

PROPS: list[dict[str, Any]] = [
    {"name": "title", "dataType": ["text"], "tokenization": "word"},
    {"name": "tags", "dataType": ["text[]"], "tokenization": "word"},
    {"name": "code", "dataType": ["text"], "tokenization": "field"},
    {"name": "codes", "dataType": ["text[]"], "tokenization": "field"},
    {"name": "ws", "dataType": ["text"], "tokenization": "whitespace"},
    {"name": "lc", "dataType": ["text[]"], "tokenization": "lowercase"},
    {"name": "year", "dataType": ["int"]},
    {"name": "years", "dataType": ["int[]"]},
    {"name": "score", "dataType": ["number"]},
    {"name": "scores", "dataType": ["number[]"]},
    {"name": "flag", "dataType": ["boolean"]},
    {"name": "flags", "dataType": ["boolean[]"]},
    {"name": "when", "dataType": ["date"]},
    {"name": "whens", "dataType": ["date[]"]},
    {"name": "ref", "dataType": ["uuid"]},
    {"name": "refs", "dataType": ["uuid[]"]},
    {"name": "page", "dataType": ["blob"]},
    {"name": "rangeOnly", "dataType": ["int"], "indexFilterable": False, "indexRangeFilters": True},
    {"name": "hidden", "dataType": ["text"], "indexFilterable": False, "indexSearchable": False},
    {"name": "cites", "dataType": ["Things"]},  # a cross-reference (to its own collection)
    {"name": "geo", "dataType": ["geoCoordinates"]},
    {"name": "phone", "dataType": ["phoneNumber"]},
]
# Stored geo coordinates (float32 values), from the same point to the antipodes; ranges around them, and
# ranges whose distance is exactly the (float32) distance between two of them (``<=`` keeps the point).
GEOS = [(1.0, 2.0), (1.0, 2.01), (52.37, 4.9), (-33.87, 151.21), (89.0, 179.0), (-1.0, -178.0), (0.0, 0.0)]
GEO_VALUES = [
    {"latitude": float(str(np.float32(a))), "longitude": float(str(np.float32(b)))} for a, b in GEOS
]
EXACT = [float(geo_distance(a[0], a[1], b[0], b[1])) for a in GEOS[:3] for b in GEOS]
PHONES = [
    {
        "countryCode": 31,
        "defaultCountry": "NL",
        "input": "020 123 4567",
        "internationalFormatted": "+31 20 123 4567",
        "national": 201234567,
        "nationalFormatted": "020 123 4567",
        "valid": True,
    }
]
TYPE_OF = {p["name"]: p["dataType"][0] for p in PROPS}


def make_config(length: bool = True) -> CollectionConfig:
    return CollectionConfig.from_weaviate(
        {
            "class": "Things",
            "properties": PROPS,
            "invertedIndexConfig": {"indexPropertyLength": length},
        }
    )


def scalar(t: str) -> st.SearchStrategy[Any]:
    return {
        "text": st.sampled_from(WORDS)
        | st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join),
        "int": st.sampled_from(INTS),
        "number": st.sampled_from(NUMS),
        "boolean": st.booleans(),
        "date": st.sampled_from(DATES),
        "uuid": st.sampled_from(IDS[:6]),
        "geoCoordinates": st.sampled_from(GEO_VALUES),
        "phoneNumber": st.sampled_from(PHONES),
    }[t]


# Beacons as stored: with their collection, and the legacy form without one.
BEACONS = [f"weaviate://localhost/Things/{u}" for u in IDS[:5]] + [f"weaviate://localhost/{IDS[5]}"]


def value(t: str) -> st.SearchStrategy[Any]:
    if t == "Things":
        return st.none() | st.lists(st.sampled_from(BEACONS), max_size=3)
    if t == "blob":
        return st.just(None)
    if t.endswith("[]"):
        return st.none() | st.lists(scalar(t[:-2]), max_size=3)
    return st.none() | scalar(t)


@st.composite
def records(draw: st.DrawFn) -> Rec:
    props = {}
    for name, t in TYPE_OF.items():
        v = draw(value(t))
        if v is not None:
            props[name] = v
    blobs = frozenset({"page"}) if draw(st.booleans()) else frozenset()
    created = draw(st.sampled_from(TIMES))
    return Rec(draw(st.sampled_from(IDS)), props, blobs, created, created + draw(st.sampled_from([0, 1000])))


def leaf_value(target: str, name: str, op: str) -> st.SearchStrategy[Any]:
    if target == "id":
        one: st.SearchStrategy[Any] = st.sampled_from(IDS)
    elif target in ("creation_time", "update_time"):
        one = st.sampled_from([*TIMES, TIMES[0] - 1, TIMES[-1] + 1, 2**70, -(2**70)])
    elif target == "ref_targets":
        return st.frozensets(st.tuples(st.sampled_from(["Things", "Other"]), st.sampled_from(IDS[:7])))
    elif target == "ref_count" or name == "cites":
        one = st.integers(-1, 4)
    elif name.startswith("len("):
        one = st.integers(-1, 12)
    else:
        t = TYPE_OF[name].removesuffix("[]")
        if t == "blob":
            one = st.sampled_from(WORDS)
        elif t == "int":
            one = st.sampled_from([*INTS, 4, 2**64, -(2**64)])
        elif t == "text" and op == "like":
            one = st.sampled_from(["*", "?", "holi*", "*ilm*", "f?lm", "*e?", "", "x", "FILM*", "Zeb*", "h*"])
        elif t == "text":  # values without tokens, too
            one = scalar(t) | st.sampled_from(["", "--", " "])
        else:
            one = scalar(t)
    if op in ("contains_any", "contains_all", "contains_none"):
        return st.lists(one, min_size=1, max_size=3)
    if op == "is_none":
        return st.booleans()
    if op == "within_geo_range":
        return st.tuples(
            st.sampled_from([g[0] for g in GEOS]),
            st.sampled_from([g[1] for g in GEOS]),
            st.sampled_from([0.0, 1.0, 2000.0, 1e6, 2e7, 3e7, *EXACT]),
        ) | st.sampled_from([(0.0, 0.0, -1.0), ("x", 0.0, 1.0)])
    return one


OPS = [
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
]
NAMES = [*TYPE_OF, "len(title)", "len(tags)", "len(years)", "len(code)"]


@st.composite
def leaves(draw: st.DrawFn) -> Where:
    target = draw(
        st.sampled_from(["property"] * 6 + ["id", "creation_time", "update_time", "ref_count", "ref_targets"])
    )
    name = draw(st.sampled_from(NAMES)) if target == "property" else ""
    if target in ("ref_count", "ref_targets"):
        name = "cites"
    op = draw(st.sampled_from(OPS))
    return Where(target, op, draw(leaf_value(target, name, op)), name)


filters = st.recursive(
    leaves(),
    lambda inner: (
        st.lists(inner, min_size=1, max_size=3).map(And)
        | st.lists(inner, min_size=1, max_size=3).map(Or)
        | inner.map(Not)
    ),
    max_leaves=6,
)


def outcome(fn: Any) -> Any:
    try:
        return list(fn())
    except FilterError as e:
        return ("error", str(e))


def check(idx: FilterIndex, f: Any, config: CollectionConfig, recs: dict[int, Rec]) -> None:
    doc_of = {r.uuid: d for d, r in recs.items()}
    want = outcome(lambda: reference_match(f, config, recs))
    got = outcome(lambda: idx.match(f, config, doc_of, recs).tolist())
    assert got == want, f


def unique_ids(recs: list[Rec]) -> dict[int, Rec]:
    """Docs 1.. with distinct UUIDs (as a collection holds them): later duplicates get fresh ones."""
    seen: set[str] = set()
    out: dict[int, Rec] = {}
    for d, r in enumerate(recs, start=1):
        if r.uuid in seen:
            r.uuid = str(uuidlib.UUID(int=10_000 + d))
        seen.add(r.uuid)
        out[d * 3] = r  # gaps between docs, as deletes leave them
    return out


@SETTINGS
@given(st.lists(records(), min_size=1, max_size=14), st.lists(leaves(), min_size=1, max_size=12))
def test_every_condition_equals_the_reference_predicate(recs: list[Rec], fs: list[Any]) -> None:
    """Single conditions (most of any filter's cases: a nested one fails if any of them does)."""
    config = make_config()
    by_doc = unique_ids(recs)
    idx = FilterIndex.build(by_doc, config)
    for f in fs:
        check(idx, f, config, by_doc)


@settings(SETTINGS, max_examples=200)
@given(st.lists(records(), max_size=14), st.lists(filters, min_size=1, max_size=4))
def test_columns_equal_the_reference_predicate(recs: list[Rec], fs: list[Any]) -> None:
    config = make_config()
    by_doc = unique_ids(recs)
    idx = FilterIndex.build(by_doc, config)
    for f in fs:
        check(idx, f, config, by_doc)


@settings(SETTINGS, max_examples=200)
@given(
    st.lists(records(), max_size=10),
    st.lists(st.tuples(st.integers(0, 40), records() | st.none()), max_size=10),
    st.lists(filters, min_size=1, max_size=3),
    st.sampled_from([0, 2, 1024]),
)
def test_columns_after_writes_equal_the_reference_predicate(
    recs: list[Rec], writes: list[tuple[int, Rec | None]], fs: list[Any], max_delta: int
) -> None:
    """Changes (replace, delete, insert at any doc) applied one write at a time; with ``max_delta`` 0
    every write merges into the columns, with 1024 every change stays in the delta."""
    config = make_config()
    by_doc = unique_ids(recs)
    idx = FilterIndex.build(by_doc, config)
    old = fi.MAX_DELTA
    fi.MAX_DELTA = max_delta
    try:
        for doc, rec in writes:
            if rec is None:
                if doc not in by_doc:
                    continue
                del by_doc[doc]
            else:
                if any(r.uuid == rec.uuid and d != doc for d, r in by_doc.items()):
                    rec.uuid = str(uuidlib.UUID(int=20_000 + doc))
                by_doc[doc] = rec
            idx = idx.changed({doc: rec}, config, by_doc)
            for f in fs:
                check(idx, f, config, by_doc)
    finally:
        fi.MAX_DELTA = old


def test_a_property_added_after_the_columns_were_built() -> None:
    """Auto-schema adds properties with the objects that have them: the columns answer for it at once
    (its values are in the delta, then merged), as the reference does."""
    config = make_config()
    recs = {1: Rec(IDS[0], {"year": 1}, frozenset(), TIMES[0], TIMES[0])}
    idx = FilterIndex.build(recs, config)
    wider = CollectionConfig.from_weaviate(
        {**config.to_weaviate(), "properties": [*PROPS, {"name": "extra", "dataType": ["text"]}]}
    )
    recs[2] = Rec(IDS[1], {"extra": "new words"}, frozenset(), TIMES[1], TIMES[1])
    for max_delta in (1024, 0):
        fi.MAX_DELTA, old = max_delta, fi.MAX_DELTA
        try:
            after = idx.changed({2: recs[2]}, wider, recs)
        finally:
            fi.MAX_DELTA = old
        for f in (
            Filter.by_property("extra").equal("words"),
            Filter.by_property("extra").is_none(True),
            Filter.by_property("len(extra)").greater_than(3),
            ~Filter.by_property("extra").like("new*"),
        ):
            check(after, f, wider, recs)
        assert after.match(Filter.by_property("extra").equal("words"), wider, {}, recs).tolist() == [2]


def test_an_index_deleted_refuses_like_the_reference(tmp_path: Path) -> None:
    """A property whose filterable index was deleted (``DELETE .../index/filterable``) is refused for every
    operator but is_none, through the store, as the reference refuses it."""
    store = Store(tmp_path)
    try:
        c = store.create_collection({"class": "Docs", "properties": [{"name": "year", "dataType": ["int"]}]})
        c.insert_many([DataObject({"year": y}) for y in (1, 2, 3)])
        assert c.count(Filter.by_property("year").greater_than(1)) == 2
        c.update_config(c.config.without_index("year", "filterable"))
        c.update_config(c.config.without_index("year", "rangeFilters"))
        with pytest.raises(FilterError, match="requires inverted index"):
            c.count(Filter.by_property("year").greater_than(1))
        assert c.count(Filter.by_property("year").is_none(False)) == 3
    finally:
        store.close()


def test_store_filters_equal_the_scan_after_reopen(tmp_path: Path) -> None:
    """Through a real store on disk: count, fetch and delete_many answer from the columns exactly what the
    reference scan answers, before and after reopening (the columns are rebuilt from SQLite)."""
    props = [p for p in PROPS if p["name"] not in ("hidden", "cites")]
    schema = {"class": "Docs", "properties": [*props, {"name": "cites", "dataType": ["Docs"]}]}
    objs = [
        DataObject(
            {
                "title": f"page {i} {'holiday' if i % 7 == 0 else 'work'}",
                "year": 1990 + i % 30,
                "tags": [f"t{i % 5}", f"u{i % 3}"],
                "score": i / 10,
                "when": DATES[i % len(DATES)],
            },
            uuid=str(uuidlib.UUID(int=i + 1)),
        )
        for i in range(300)
    ]
    queries = [
        Filter.by_property("title").equal("holiday"),
        Filter.by_property("year").greater_or_equal(2015) & Filter.by_property("tags").contains_any(["t1"]),
        Filter.by_property("score").less_than(3.0) | ~Filter.by_property("tags").contains_all(["t2", "u1"]),
        Filter.by_property("when").equal("2020-01-01T00:00:00Z"),
        Filter.by_property("title").like("hol*"),
        Filter.by_ref_count("cites").greater_or_equal(1),
        Filter.by_ref_count("cites").equal(2) & Filter.by_property("year").less_than(2010),
        Filter.by_property("cites").is_none(True),
    ]
    store = Store(tmp_path)
    try:
        c = store.create_collection(schema)
        c.insert_many(objs)
        c.delete_many(filters=Filter.by_property("year").equal(1995))
        c.replace(str(uuidlib.UUID(int=8)), {"title": "holiday again", "year": 2019})
        # Reference writes publish the objects they change to the columns' delta.
        beacon = f"weaviate://localhost/Docs/{uuidlib.UUID(int=3)}"
        c.add_reference(str(uuidlib.UUID(int=2)), "cites", beacon)
        c.add_references(
            [ReferenceWrite(str(uuidlib.UUID(int=i + 1)), "cites", beacon) for i in (10, 11, 11, 40)]
        )
        c.replace_references(str(uuidlib.UUID(int=41)), "cites", [beacon, beacon])
        c.delete_reference(str(uuidlib.UUID(int=41)), "cites", beacon)  # every copy
        for reopened in (False, True):
            if reopened:
                store.close()
                store = Store(tmp_path)
                c = store.get_collection("Docs")
            for q in queries:
                fast = ([r.uuid for r in c.fetch_objects(filters=q, limit=None)], c.count(q))
                c._scan_filters = True
                try:
                    slow = ([r.uuid for r in c.fetch_objects(filters=q, limit=None)], c.count(q))
                finally:
                    c._scan_filters = False
                assert fast == slow, q
                assert fast[1] > 0, q
    finally:
        store.close()

"""Hostile and careless input to the store: each gets a clear error (SchemaError, ObjectError,
FilterError, QueryError) and changes nothing — sizes a config multiplies are bounded at creation, like
patterns match in linear time, filters and result pages are bounded, and values are checked at write
time as Weaviate checks them."""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import math
import os
import sqlite3
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from colweave.store import (
    Collection,
    CollectionConfig,
    DataObject,
    Filter,
    FilterError,
    ObjectError,
    Property,
    QueryError,
    SchemaError,
    Store,
    StoreError,
    VectorConfig,
)
from colweave.store.filters import MAX_FILTER_DEPTH, And, Not, Where, from_weaviate, like_matcher

DIM = 8


def files(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its digest (SQLite's -wal/-shm excepted: they are caches)."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            if not n.endswith(("-wal", "-shm")):
                p = Path(dirpath) / n
                out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def refused(
    root: Path, c: Collection | None, calls: list[tuple[str, Callable[[], object]]], error: type[Exception]
) -> int:
    """Runs each call, expecting ``error``, with the files under ``root`` and the collection's content
    unchanged. Returns how many were refused."""
    n = 0
    for what, call in calls:
        before = (files(root), _content(c))
        with _labelled(what), pytest.raises(error) as info:
            call()
        assert str(info.value), f"{what}: an error without a message"
        n += 1
        assert (files(root), _content(c)) == before, f"{what} changed something"
    return n


@contextlib.contextmanager
def _labelled(what: str) -> Iterator[None]:
    try:
        yield
    except BaseException as e:
        e.add_note(what)
        raise


def _content(c: Collection | None) -> Any:
    if c is None:
        return None
    return (
        json.dumps(c.config.to_weaviate(), sort_keys=True),
        [(r.uuid, json.dumps(r.properties, sort_keys=True)) for r in c.fetch_objects()],
    )


# --- 3. sizes a config multiplies ------------------------------------------------------------------


def muvera(**kw: Any) -> dict[str, Any]:
    return {
        "class": "Big",
        "vectorConfig": {
            "v": {
                "vectorizer": {"none": {}},
                "vectorIndexConfig": {"multivector": {"enabled": True, "muvera": {"enabled": True, **kw}}},
            }
        },
    }


def index(**kw: Any) -> dict[str, Any]:
    body = muvera()
    body["vectorConfig"]["v"]["vectorIndexConfig"].update(kw)
    return body


def bm25(**kw: Any) -> dict[str, Any]:
    return {"class": "Big", "invertedIndexConfig": {"bm25": kw}}


BAD_CONFIGS = [
    muvera(ksim=10, dprojections=100_000, repetitions=100_000),  # the 1.28 TB
    muvera(ksim=11),
    muvera(ksim=0),
    muvera(ksim=-1),
    muvera(ksim=4.5),
    muvera(ksim="4"),
    muvera(ksim=True),
    muvera(ksim=math.inf),
    muvera(ksim=1e400),
    muvera(dprojections=0),
    muvera(dprojections=100_000),
    muvera(repetitions=0),
    muvera(repetitions=100_000),
    muvera(ksim=10, dprojections=64, repetitions=2),  # 131,072 floats per object
    muvera(ksim=8, dprojections=1024, repetitions=1),
    index(ef=-2),
    index(ef=10**9),
    index(ef="x"),
    index(ef=math.nan),
    index(dynamicEfMax=0),
    index(dynamicEfMax=10**12),
    index(dynamicEfFactor=10**6),
    index(dynamicEfMin="1"),
    index(maxConnections=10**9),
    index(efConstruction=-5),
    bm25(k1=math.nan),
    bm25(k1=math.inf),
    bm25(k1=-1),
    bm25(k1=1e400),
    bm25(k1=1e6),
    bm25(k1="1.2"),
    bm25(b=math.nan),
    bm25(b=1.5),
    bm25(b=-0.1),
    {"class": "Big", "invertedIndexConfig": {"bm25": [1, 2]}},
]


def test_config_sizes_are_bounded_at_creation(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        calls: list[tuple[str, Callable[[], object]]] = [
            (json.dumps(b, default=str)[:120], lambda b=b: s.create_collection(b)) for b in BAD_CONFIGS
        ]
        assert refused(tmp_path, None, calls, SchemaError) == len(BAD_CONFIGS)
        assert s.list_collections() == []
        # The bounds leave Weaviate's defaults and generous settings alone.
        s.create_collection(muvera(ksim=4, dprojections=16, repetitions=10))
        s.delete_collection("Big")
        s.create_collection(muvera(ksim=8, dprojections=32, repetitions=8))  # 65,536 floats


def test_a_stored_config_beyond_the_bounds_does_not_abort_on_open(tmp_path: Path) -> None:
    """A config written before the bounds existed: opening it raises a clear StoreError (instead of
    allocating 1.28 TB on the first insert), the rest of the store works, and it can be deleted."""
    with Store(tmp_path) as s:
        c = s.create_collection(muvera())
        s.create_collection(CollectionConfig("Fine"))
        cfg = c.config.to_weaviate()
        mv = cfg["vectorConfig"]["v"]["vectorIndexConfig"]["multivector"]["muvera"]
        mv.update(ksim=10, dprojections=100_000, repetitions=100_000)
        folder = c.path
    db = sqlite3.connect(folder / "objects.sqlite")
    db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(cfg),))
    db.commit()
    db.close()
    with Store(tmp_path) as s:
        assert s.list_collections() == ["Big", "Fine"]
        with pytest.raises(StoreError, match="stored config is invalid"):
            s.get_collection("Big")
        s.get_collection("Fine").insert({"x": 1})
        assert s.delete_collection("Big")
        assert s.list_collections() == ["Fine"]


# --- 4. like in linear time ------------------------------------------------------------------------


def fnmatch_like(pattern: str, text: str) -> bool:
    """The reference: fnmatch's * and ? are like's; its [ ] classes are escaped to literals."""
    return fnmatch.fnmatchcase(text, "".join("[[]" if c == "[" else c for c in pattern))


@settings(max_examples=1500, deadline=None)
@given(
    st.text(alphabet="ab*?[].\n", max_size=12),
    st.text(alphabet="ab[].\n", max_size=16),
)
def test_like_matches_the_reference(pattern: str, text: str) -> None:
    assert like_matcher(pattern)(text) == fnmatch_like(pattern, text), (pattern, text)


def best_of(n: int, f: Callable[[], object]) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def test_like_is_linear_on_hostile_patterns() -> None:
    # The pattern (a backtracking regex held the GIL for > 30 s on 40 characters).
    assert not like_matcher("*a" * 14 + "*b")("a" * 40)
    assert like_matcher("*a" * 14 + "*b")("a" * 40 + "b")
    # 200 wildcards on 10,000 characters, where every segment is found only at the end of its block,
    # so the whole text is scanned: matching, and not matching (one segment too many).
    matching = "*a?c" * 199 + "*b"
    failing = "*a?c" * 201 + "*b"

    def text(n: int) -> str:
        block = "a" * (n // 200 - 1) + "c"
        return block * 200 + "b"

    t10, t20 = text(10_000), text(20_000)
    assert like_matcher(matching)(t10)
    assert not like_matcher(failing)(t10)
    assert fnmatch_like(matching, t10[:300] + "b") == like_matcher(matching)(t10[:300] + "b")
    yes, no = like_matcher(matching), like_matcher(failing)
    times = {}
    for n, t in ((10_000, t10), (20_000, t20)):
        times[n] = best_of(5, lambda t=t: (yes(t), no(t)))
    print(
        f"\nlike, 200 wildcards (match + no match): 10,000 characters {times[10_000] * 1e3:.2f} ms, "
        f"20,000 characters {times[20_000] * 1e3:.2f} ms"
    )
    # Linear: twice the text costs about twice the time (a quadratic matcher would take 4x, a
    # backtracking one never finishes). Generous bounds: the cores are shared.
    assert times[20_000] < 3.5 * times[10_000] + 0.002
    assert times[10_000] < 1.0


def test_like_through_a_collection(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        c = s.create_collection(
            CollectionConfig(
                "Texts",
                properties=[
                    Property.create("field", "text", tokenization="field"),
                    Property.create("words", "text"),
                ],
            )
        )
        long = "a" * 10_000
        c.insert_many(
            [
                DataObject({"field": long, "words": "aaaa " * 10 + "a" * 13 + "b"}),
                DataObject({"field": long + "b", "words": "ab " + "a" * 14 + "b"}),
            ]
        )
        hostile = "*a" * 199 + "*b"
        t0 = time.perf_counter()
        assert c.count(Filter.by_property("field").like(hostile)) == 1
        assert c.count(Filter.by_property("words").like("*a" * 14 + "*b")) == 1
        took = time.perf_counter() - t0
        print(f"\nlike on a 10,000-character field, 200 wildcards, through count(): {took * 1e3:.1f} ms")
        assert took < 1.0
        with pytest.raises(FilterError, match="pattern is longer"):
            c.count(Filter.by_property("words").like("*" * 5000))
        with pytest.raises(FilterError):
            c.count(Filter.by_property("words").like(5))  # type: ignore[arg-type]


# --- 6. filters and result pages ---------------------------------------------------------------------


def nested_json(depth: int) -> dict[str, Any]:
    w: dict[str, Any] = {"path": ["n"], "operator": "Equal", "valueInt": 1}
    for i in range(depth - 1):
        w = {"operator": "And" if i % 2 else "Not", "operands": [w]}
    return w


def nested_tree(depth: int) -> Any:
    f: Any = Filter.by_property("n").equal(1)
    for i in range(depth - 1):
        f = And([f]) if i % 2 else Not(f)
    return f


BAD_WHERE: list[Any] = [
    nested_json(MAX_FILTER_DEPTH + 1),
    nested_json(150),
    nested_json(510),
    nested_json(100_000),
    {"operator": "And", "operands": [nested_json(1)] * 1025},
    {"operator": "Foo", "path": ["n"], "valueInt": 1},
    {"operator": 999, "path": ["n"], "valueInt": 1},
    {"operator": None},
    {"operator": "And", "operands": []},
    {"operator": "And", "operands": "x"},
    {"operator": "Not", "operands": [nested_json(1), nested_json(1)]},
    {"operator": "Equal", "path": ["n"]},
    {"operator": "Equal", "path": ["n"], "valueInt": 1, "valueText": "1"},
    {"operator": "Equal", "path": ["n", "m"], "valueInt": 1},
    {"operator": "Equal", "path": 5, "valueInt": 1},
    {"operator": "Equal", "path": ["n"], "valueInt": "5"},
    {"operator": "Equal", "path": ["n"], "valueInt": 1.5},
    {"operator": "Equal", "path": ["n"], "valueInt": True},
    {"operator": "Equal", "path": ["n"], "valueNumber": math.nan},
    {"operator": "Equal", "path": ["n"], "valueNumber": math.inf},
    {"operator": "Equal", "path": ["n"], "valueBoolean": 1},
    {"operator": "Equal", "path": ["t"], "valueText": 5},
    {"operator": "Equal", "path": ["t"], "valueText": {"a": 1}},
    {"operator": "ContainsAny", "path": ["t"], "valueTextArray": "x"},
    {"operator": "ContainsAny", "path": ["n"], "valueIntArray": [1, "2"]},
    {"operator": "ContainsAny", "path": ["n"], "valueIntArray": list(range(10_001))},
    {"operator": "Equal", "path": ["_creationTimeUnix"], "valueText": "9" * 5000},
    {"operator": "Equal", "path": ["id"], "valueText": "{00000000-0000-0000-0000-000000000001}"},
    {"operator": "Equal", "path": ["nope"], "valueInt": 1},
    {"operator": "Like", "path": ["n"], "valueText": "1*"},
    [],
    None,
    "Equal",
]

BAD_TREES: list[Any] = [
    nested_tree(MAX_FILTER_DEPTH + 1),
    nested_tree(10_000),
    And([]),
    And([1]),  # type: ignore[list-item]
    Not(None),  # type: ignore[arg-type]
    Where("property", "equal_ish", 1, "n"),
    Where("property", 999, 1, "n"),  # type: ignore[arg-type]
    Where("nowhere", "equal", 1, "n"),
    Filter.by_property("n").equal(math.nan),
    Filter.by_property("n").equal(True),
    Filter.by_property("n").equal("1"),
    Filter.by_property("n").contains_any([]),
    Filter.by_property("n").contains_any(list(range(10_001))),
    Filter.by_property("n").contains_any([[1]]),
    Filter.by_property("t").equal(["a"]),
    Filter.by_property("t").is_none("yes"),  # type: ignore[arg-type]
    Filter.by_id().equal("0000000000000000000000000000001a"),
    Filter.by_id().equal("{00000000-0000-0000-0000-000000000001}"),
    Filter.by_id().greater_than("00000000-0000-0000-0000-000000000001"),
    Filter.by_creation_time().like("x"),
    Filter.by_creation_time().equal("yesterday"),
]


def test_bad_filters_get_a_filter_error(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        c = s.create_collection(
            CollectionConfig("F", properties=[Property.create("n", "int"), Property.create("t", "text")])
        )
        c.insert_many([DataObject({"n": i, "t": f"t{i}"}) for i in range(5)])
        calls: list[tuple[str, Callable[[], object]]] = []
        for i, w in enumerate(BAD_WHERE):
            calls.append((f"where #{i}", lambda w=w: c.count(from_weaviate(w))))
        for i, f in enumerate(BAD_TREES):
            calls.append((f"filter #{i}", lambda f=f: c.count(f)))
            calls.append((f"fetch filter #{i}", lambda f=f: c.fetch_objects(filters=f)))
            calls.append((f"delete_many filter #{i}", lambda f=f: c.delete_many(filters=f)))
        assert refused(tmp_path, c, calls, FilterError) == len(calls)
        # Chaining conditions with & and | builds flat And/Or nodes: 1,000 conditions are one level.
        chained = Filter.by_property("n").greater_or_equal(0)
        for i in range(999):
            chained = chained & Filter.by_property("n").not_equal(-i - 1)
        assert c.count(chained) == 5
        any_of = Filter.by_property("n").equal(0)
        for i in range(1, 999):
            any_of = any_of | Filter.by_property("n").equal(i)
        assert c.count(any_of) == 5
        assert c.count(chained & any_of) == 5
        # At the bound, filters work.
        assert c.count(from_weaviate(nested_json(MAX_FILTER_DEPTH))) == c.count(nested_tree(MAX_FILTER_DEPTH))


def test_result_pages_and_query_vectors_are_bounded(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        c = s.create_collection(
            CollectionConfig(
                "P", properties=[Property.create("t", "text")], vectors={"v": VectorConfig.self_provided("v")}
            )
        )
        c.insert_many([DataObject({"t": "x"}, vectors={"v": np.ones((2, DIM))}) for _ in range(3)])
        q = np.ones((2, DIM), np.float32)
        pages: list[dict[str, Any]] = [
            {"limit": -1},
            {"offset": -5},
            {"limit": 99999999999999999999999},
            {"limit": 10_001},
            {"offset": 10_001},
            {"offset": 5_000, "limit": 5_001},
            {"limit": "5"},
            {"limit": True},
            {"limit": 1.5},
            {"offset": None},
        ]
        searches: list[tuple[str, Callable[..., object]]] = [
            ("fetch_objects", c.fetch_objects),
            ("near_vector", lambda **kw: c.near_vector(q, **kw)),
            ("bm25", lambda **kw: c.bm25("x", **kw)),
            ("hybrid", lambda **kw: c.hybrid("x", vector=q, **kw)),
        ]
        calls: list[tuple[str, Callable[[], object]]] = [
            (f"{name} {kw}", lambda f=f, kw=kw: f(**kw)) for name, f in searches for kw in pages
        ]
        bad_queries: list[Any] = [
            np.ones((8193, DIM), np.float32),
            np.ones((2, DIM + 1), np.float32),
            np.full((2, DIM), np.nan, np.float32),
            np.full((2, DIM), np.inf, np.float32),
            [[1e39] * DIM],  # beyond float32
            [[10**400] * DIM],
            [[True] * DIM],
            np.ones((2, DIM), bool),
            [["1"] * DIM],
            np.ones((2, 2, DIM)),
            np.ones((0, DIM)),
            [[1.0] * DIM, [1.0] * (DIM - 1)],
            "a vector",
            None,
        ]
        for v in bad_queries:
            calls.append((f"near_vector {str(v)[:40]}", lambda v=v: c.near_vector(v)))
            calls.append((f"hybrid {str(v)[:40]}", lambda v=v: c.hybrid("x", vector=v)))
        assert refused(tmp_path, c, calls, QueryError) == len(calls)
        # The largest page and query allowed work.
        assert len(c.fetch_objects(offset=0, limit=10_000)) == 3
        assert len(c.near_vector(np.ones((8192, DIM), np.float32), limit=10_000)) == 3


# --- 5. write-time validation --------------------------------------------------------------------


def typed_collection(s: Store) -> Collection:
    return s.create_collection(
        CollectionConfig(
            "W",
            properties=[
                Property.create("i", "int"),
                Property.create("x", "number"),
                Property.create("ok", "boolean"),
                Property.create("d", "date"),
                Property.create("u", "uuid"),
                Property.create("ii", "int[]"),
                Property.create("title", "text"),
            ],
            vectors={"v": VectorConfig.self_provided("v")},
        )
    )


BAD_PROPERTIES: list[dict[str, Any]] = [
    {"i": 2**63},
    {"i": -(2**63) - 1},
    {"i": 10**30},
    {"i": 1e308},
    {"i": math.inf},
    {"i": math.nan},
    {"i": True},
    {"i": 1.5},
    {"i": "1"},
    {"ii": [1, 2**63]},
    {"ii": [1, True]},
    {"x": math.nan},
    {"x": math.inf},
    {"x": -math.inf},
    {"x": 10**400},
    {"x": True},
    {"x": "1.0"},
    {"ok": 1},
    {"ok": "true"},
    {"d": "2020-13-01T00:00:00Z"},
    {"d": "2020-02-30T00:00:00Z"},
    {"d": "2020-01-01T25:00:00Z"},
    {"d": "2020-01-01"},
    {"d": "yesterday"},
    {"d": "2020-01-01T00:00:00Z\n"},
    {"d": 1577836800},
    {"u": "{00000000-0000-4000-8000-000000000001}"},
    {"u": "00000000000040008000000000000001"},
    {"u": "urn:uuid:00000000-0000-4000-8000-000000000001"},
    {"u": "12345678123456781234567812345678----"},
    {"u": "00000000-0000-4000-8000-000000000001\n"},
    {"title": 5},
    {"title": ["a"]},
    {"id": "x"},  # Weaviate's reserved names, refused by auto-schema
    {"_id": "x"},
    {"_additional": "x"},
    {"ID": "x"},
    {"tItle": "collides with title by case"},
]

BAD_VECTORS: list[Any] = [
    [[True] * DIM],
    np.ones((2, DIM), bool),
    np.full((2, DIM), np.nan),
    np.full((2, DIM), -np.inf),
    [[1e39] * DIM],
    [[10**400] * DIM],
    np.ones(DIM),
    np.ones((2, 2, DIM)),
    np.ones((0, DIM)),
    np.ones((2, 0)),
    [[1.0] * DIM, [1.0] * (DIM - 1)],
    [["1"] * DIM],
    np.ones((2, DIM + 1)),  # the collection already has dimension DIM
    "vector",
    {"a": 1},
]

BAD_UUIDS = [
    "{00000000-0000-4000-8000-000000000001}",
    "00000000000040008000000000000001",
    "urn:uuid:00000000-0000-4000-8000-000000000001",
    "12345678123456781234567812345678----",
    "00000000-0000-4000-8000-00000000000g",
    "00000000-0000-4000-8000-000000000001 ",
    "",
    "x" * 5000,
    5,
]


def test_bad_values_are_refused_at_write_time(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        c = typed_collection(s)
        good = {"v": np.ones((2, DIM))}
        c.insert({"i": 2**63 - 1, "x": 1e308, "title": "t"}, vectors=good)
        calls: list[tuple[str, Callable[[], object]]] = []
        for p in BAD_PROPERTIES:
            calls.append((f"insert {p!r:.60}", lambda p=p: c.insert(p, vectors=good)))
        for v in BAD_VECTORS:
            calls.append((f"vector {str(v)[:40]}", lambda v=v: c.insert({"title": "t"}, vectors={"v": v})))
        for u in BAD_UUIDS:
            calls.append((f"uuid {u!r:.40}", lambda u=u: c.insert({"title": "t"}, uuid=u, vectors=good)))
            calls.append((f"get {u!r:.40}", lambda u=u: c.get(u)))
            calls.append((f"delete {u!r:.40}", lambda u=u: c.delete(u)))
        assert refused(tmp_path, c, calls, ObjectError) == len(calls)
        # Reads of everything stored keep working (nothing unreadable got in).
        assert len(c.fetch_objects(include_vector=True)) == 1
        # The canonical form in either case is accepted, and stored in lower case.
        u = c.insert({"title": "t"}, uuid="00000000-0000-4000-8000-00000000000A", vectors=good)
        assert u == "00000000-0000-4000-8000-00000000000a"
        assert c.get(uuidlib.UUID(u)) is not None


def test_a_batch_fails_only_the_objects_involved(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        c = typed_collection(s)
        v = {"v": np.ones((2, DIM))}
        objs = [
            DataObject({"color": "red"}, vectors=v),  # new property
            DataObject({"cOlor": "blue"}, vectors=v),  # collides with it by case
            DataObject({"tItle": "x"}, vectors=v),  # collides with the schema's title
            DataObject({"id": "x"}, vectors=v),  # reserved
            DataObject({"i": 2**64}, vectors=v),  # out of range
            DataObject({"title": "fine"}, uuid="{00000000-0000-4000-8000-000000000001}", vectors=v),
            DataObject({"title": "fine"}, vectors={"v": np.ones((2, DIM), bool)}),
            DataObject({"title": "fine", "shade": "dark"}, vectors=v),
        ]
        res = c.insert_many(objs)
        assert sorted(e.index for e in res.errors) == [1, 2, 3, 4, 5, 6]
        assert [u is not None for u in res.uuids] == [True, False, False, False, False, False, False, True]
        assert c.count() == 2
        names = [p.name for p in c.config.properties]
        assert "color" in names
        assert "shade" in names
        assert "Color" not in names
        assert "Title" not in names
        assert "id" not in names
    with Store(tmp_path) as s:
        assert s.get_collection("W").count() == 2

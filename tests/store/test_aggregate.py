"""``Collection.aggregate`` from the library: Weaviate's metric edge cases with hand-computed values
(read from Weaviate's aggregator: even medians, mode ties, date formatting and offsets, top-occurrence
ties, missing values), and the searches the wire does not offer (BM25, near_text, near_image)."""

from __future__ import annotations

import numpy as np
import pytest

from colweave.store import CollectionConfig, DataObject, Property, QueryError, Store, VectorConfig
from colweave.store.aggregate import BM25, Metrics, NearImage, NearObject, NearText, NearVector
from conftest import DIM


def _coll(store: Store, vectorizer: str = "none"):
    vc = (
        VectorConfig.self_provided("v")
        if vectorizer == "none"
        else VectorConfig.multi2multivec("v", ["page"])
    )
    return store.create_collection(
        CollectionConfig(
            "Agg",
            properties=[
                Property.create("t", "text"),
                Property.create("n", "number"),
                Property.create("i", "int[]"),
                Property.create("d", "date"),
                Property.create("b", "boolean[]"),
                Property.create("page", "blob"),
            ],
            vectors={"v": vc},
        )
    )


def _vec(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((3, DIM)).astype(np.float32)


def test_metric_edge_cases_match_weaviates_rules(store: Store) -> None:
    c = _coll(store)
    rows = [
        {"t": "b", "n": 2.0, "i": [3, 1], "d": "2021-03-01T10:00:00.000000001+02:00", "b": []},
        {"t": "B", "n": 4.0, "i": [1], "d": "2021-03-01T08:00:00.000000001Z"},
        {"t": "a", "n": 2.0, "i": [], "d": "2021-03-02T00:00:00Z"},
        {"t": "a", "n": 10.0, "d": "2021-03-04T00:00:00.5Z", "b": [True]},
        {"t": "b"},
    ]
    c.insert_many([DataObject(p, vectors={"v": _vec(k)}) for k, p in enumerate(rows)])
    r = c.aggregate(
        metrics=[
            Metrics("t", top_occurrences_limit=2),
            Metrics("n"),
            Metrics("i"),
            Metrics("d"),
            Metrics("b"),
        ]
    )
    assert r.total_count == 5
    p = r.properties
    # Top occurrences: most frequent first, ties in byte order ("B" < "a" < "b"); count of values.
    assert p["t"].values["count"] == 5
    assert p["t"].top_occurrences == [("a", 2), ("b", 2)]
    # n = 2, 4, 2, 10: even count, two different middle values -> their mean; mode 2; sum 18.
    assert p["n"].values == {
        "type": "number",
        "count": 4,
        "minimum": 2.0,
        "maximum": 10.0,
        "sum": 18.0,
        "mean": 4.5,
        "median": 3.0,
        "mode": 2.0,
    }
    # i = 3, 1, 1 (array elements; an empty array adds nothing): odd count -> the middle one; the
    # tie-free mode 1.
    assert (p["i"].values["count"], p["i"].values["median"], p["i"].values["mode"]) == (3, 1.0, 1.0)
    # Dates over the whole collection (a scalar date: Weaviate reads its index) come back in UTC with
    # nanoseconds; 08:00:00.000000001Z twice (one written as +02:00) is the mode; the even median is
    # halfway between the two middle instants.
    d = p["d"].values
    assert d["count"] == 4
    assert d["minimum"] == d["mode"] == "2021-03-01T08:00:00.000000001Z"
    assert d["maximum"] == "2021-03-04T00:00:00.5Z"
    # 08:00:00.000000001 + (16 h - 1 ns) // 2 = 16:00:00 exactly.
    assert d["median"] == "2021-03-01T16:00:00Z"
    assert p["b"].values == {
        "type": "boolean[]",
        "count": 1,
        "totalTrue": 1,
        "totalFalse": 0,
        "percentageTrue": 1.0,
        "percentageFalse": 0.0,
    }
    # Filtered, the dates are the stored ones in their own offset (Weaviate reads the objects).
    f = c.aggregate(
        NearVector(_vec(0)),
        object_limit=1,
        metrics=[Metrics("d", frozenset({"minimum"})), Metrics("n", frozenset({"count"}))],
    )
    assert f.properties["d"].values == {"minimum": "2021-03-01T10:00:00.000000001+02:00"}
    assert f.properties["n"].values == {"count": 1}
    # Nothing matches: only the count (0) of numbers and dates; booleans report zeros.
    e = c.aggregate(NearVector(_vec(0)), object_limit=0, metrics=[Metrics("n"), Metrics("d"), Metrics("b")])
    assert e.properties["n"].values == {"type": "number", "count": 0}
    assert e.properties["d"].values == {"type": "date", "count": 0}
    assert e.properties["b"].values["percentageTrue"] == 0.0


def test_even_date_median_is_halfway_in_utc(store: Store) -> None:
    c = _coll(store)
    c.insert_many(
        [
            DataObject({"d": "2021-01-01T00:00:00+01:00"}, vectors={"v": _vec(1)}),
            DataObject({"d": "2021-01-02T00:00:00.000000001Z"}, vectors={"v": _vec(2)}),
        ]
    )
    (g,) = c.aggregate(metrics=[Metrics("d")], group_by=None).groups
    # 2020-12-31T23:00Z and 2021-01-02T00:00:00.000000001Z: halfway is 2021-01-01T11:30:00 plus half a
    # nanosecond, which Go's integer division drops.
    assert g.properties["d"].values["median"] == "2021-01-01T11:30:00Z"
    assert g.properties["d"].values["minimum"] == "2020-12-31T23:00:00Z"  # whole collection: UTC


def test_library_searches_bm25_near_text_near_image_near_object(store: Store, vectorizer) -> None:
    c = _coll(store, vectorizer="multi2multivec")
    pages = [bytes([k]) * (10 + k) for k in range(6)]
    c.insert_many(
        [
            DataObject({"t": f"page {'kiwi' if k % 2 else 'fig'}", "n": float(k), "page": p})
            for k, p in enumerate(pages)
        ]
    )
    r = c.aggregate(BM25("kiwi"), metrics=[Metrics("n", frozenset({"sum", "count"}))])
    assert r.total_count == 3
    assert r.properties["n"].values == {"count": 3, "sum": 9.0}
    assert c.aggregate(BM25("kiwi"), object_limit=1).total_count == 1

    def nearest(q: np.ndarray, k: int) -> list[float]:
        rows = [vectorizer.embed_images([p])[0] for p in pages]
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        d = [-np.max(qn @ (m / np.linalg.norm(m, axis=1, keepdims=True)).T, axis=1).sum() for m in rows]
        return sorted(float(n) for n in np.argsort(d)[:k])

    for search, q in (
        (NearText("a kiwi"), vectorizer.embed_queries(["a kiwi"])[0]),
        (NearImage(pages[2]), vectorizer.embed_images([pages[2]])[0]),
    ):
        r = c.aggregate(search, object_limit=2, metrics=[Metrics("n", frozenset({"minimum", "maximum"}))])
        lo, hi = nearest(q, 2)
        assert r.properties["n"].values == {"minimum": lo, "maximum": hi}, search
    uid = c.fetch_objects(filters=None, limit=10)[0].uuid
    hit = c.near_object(uid, limit=1)
    assert hit[0].uuid == uid  # the object itself is the nearest
    assert c.aggregate(NearObject(uid), distance=hit[0].metadata.distance).total_count == 1
    with pytest.raises(QueryError, match="needs object_limit, distance or certainty"):
        c.aggregate(NearObject(uid))
    with pytest.raises(QueryError, match="can't be aggregated"):
        c.aggregate(metrics=[Metrics("page")])


def test_texts_are_counted_exactly(store: Store) -> None:
    """A trailing NUL is part of a text (numpy's fixed-width strings would drop it and merge the two)."""
    c = _coll(store)
    c.insert_many([DataObject({"t": t}, vectors={"v": _vec(k)}) for k, t in enumerate(["x", "x\x00", "x"])])
    (g,) = c.aggregate(metrics=[Metrics("t")]).groups
    assert g.properties["t"].top_occurrences == [("x", 2), ("x\x00", 1)]

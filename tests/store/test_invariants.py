"""Search invariants over random collections (hypothesis)."""

from __future__ import annotations

import tempfile

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from colweave.store import CollectionConfig, DataObject, Filter, Property, Store, VectorConfig

WORDS = ["cat", "dog", "film", "snow", "the", "winter", "beach"]


@st.composite
def collections(draw: st.DrawFn) -> list[DataObject]:
    n = draw(st.integers(1, 25))
    objs = []
    for i in range(n):
        k = draw(st.integers(1, 4))
        vec = draw(st.lists(st.floats(-1, 1, width=32), min_size=k * 4, max_size=k * 4))
        v = np.asarray(vec, np.float32).reshape(k, 4)
        v[:, 0] += 1.5  # no zero rows
        text = " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=0, max_size=6)))
        objs.append(DataObject({"text": text, "n": i % 7}, vectors={"v": v}))
    return objs


@settings(max_examples=25, deadline=None)
@given(objs=collections(), limit=st.integers(1, 8), offset=st.integers(0, 5), threshold=st.integers(0, 6))
def test_search_invariants(objs: list[DataObject], limit: int, offset: int, threshold: int) -> None:
    with tempfile.TemporaryDirectory() as d, Store(d) as store:
        cfg = CollectionConfig(
            "R",
            properties=[Property.create("text", "text"), Property.create("n", "int")],
            vectors={"v": VectorConfig.self_provided("v")},
        )
        c = store.create_collection(cfg)
        assert not c.insert_many(objs).errors
        q = np.asarray([[1.0, 0.2, -0.3, 0.1], [0.5, -1.0, 0.0, 0.4]], np.float32)
        everything = c.near_vector(q, limit=100)
        assert len(everything) == len(objs)
        dists = [r.metadata.distance for r in everything]
        assert dists == sorted(dists)
        page = c.near_vector(q, limit=limit, offset=offset)
        assert [r.uuid for r in page] == [r.uuid for r in everything[offset : offset + limit]]
        f = Filter.by_property("n").greater_or_equal(threshold)
        matching = [r for r in everything if r.properties["n"] >= threshold]
        assert [r.uuid for r in c.near_vector(q, limit=limit, filters=f)] == [
            r.uuid for r in matching[:limit]
        ]
        assert c.count(f) == len(matching) == len(c.fetch_objects(filters=f))
        kw = c.bm25("cat winter", limit=100)
        scores = [r.metadata.score for r in kw]
        assert scores == sorted(scores, reverse=True)
        assert all(s > 0 for s in scores)
        assert {r.uuid for r in kw} == {
            r.uuid for r in everything if {"cat", "winter"} & set(r.properties["text"].split())
        }
        hy = c.hybrid("cat winter", vector=q, limit=100)
        hs = [r.metadata.score for r in hy]
        assert hs == sorted(hs, reverse=True)
        assert all(-1e-6 <= s <= 1 + 1e-6 for s in hs)
        assert {r.uuid for r in hy} == {r.uuid for r in everything}  # the vector leg finds everything

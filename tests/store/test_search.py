"""near_vector, bm25, hybrid, filters and MUVERA against plain Python/numpy references."""

from __future__ import annotations

import re
import uuid as uuidlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from store_ref import ref_bm25, ref_maxsim, stored

from colweave.store import (
    CollectionConfig,
    DataObject,
    Filter,
    FilterError,
    MuveraConfig,
    Property,
    QueryError,
    Store,
    VectorConfig,
)
from colweave.store.collection import Collection
from colweave.store.results import autocut, go_float32
from conftest import DIM

WORDS = ["cat", "dog", "the", "holiday", "film", "snow", "night", "a", "of", "winter", "summer", "beach"]
WORDS += ["city", "river"]


def corpus(n: int, seed: int = 0) -> list[DataObject]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        title = " ".join(rng.choice(WORDS, rng.integers(1, 6)))
        props: dict = {"title": title.title(), "n": i, "tags": list(rng.choice(["red", "green", "blue"], 2))}
        if i % 4:
            props["body"] = " ".join(rng.choice(WORDS, rng.integers(3, 15)))
        if i % 5 == 0:
            props["flag"] = bool(i % 2)
        v = rng.standard_normal((int(rng.integers(3, 12)), DIM)).astype(np.float32)
        out.append(
            DataObject(
                props, uuid=str(uuidlib.UUID(int=int(rng.integers(1 << 62)) << 64 | i)), vectors={"v": v}
            )
        )
    return out


def make(
    store: Store, n: int = 60, muvera: MuveraConfig | None = None
) -> tuple[Collection, list[DataObject]]:
    cfg = CollectionConfig(
        "Docs",
        properties=[
            Property.create("title", "text"),
            Property.create("body", "text"),
            Property.create("n", "int"),
            Property.create("tags", "text[]"),
            Property.create("flag", "boolean"),
        ],
        vectors={"v": VectorConfig.self_provided("v", muvera=muvera)},
    )
    c = store.create_collection(cfg)
    objs = corpus(n)
    assert not c.insert_many(objs).errors
    return c, objs


def ref_vector(objs: list[DataObject], q: np.ndarray, keep: Callable[[DataObject], bool] = lambda o: True):
    qn = stored(q, np.float32)
    rows = [(str(o.uuid), -ref_maxsim(qn, stored(o.vectors["v"]))) for o in objs if keep(o)]  # type: ignore[index]
    return sorted(rows, key=lambda r: r[1])


def props_of(objs: list[DataObject]) -> list[tuple[str, dict]]:
    return [(str(o.uuid), o.properties) for o in objs]


def test_near_vector_matches_reference(store: Store) -> None:
    c, objs = make(store)
    q = np.random.default_rng(9).standard_normal((5, DIM)).astype(np.float32)
    want = ref_vector(objs, q)
    got = c.near_vector(q, limit=10)
    assert [r.uuid for r in got] == [u for u, _ in want[:10]]
    np.testing.assert_allclose([r.metadata.distance for r in got], [d for _, d in want[:10]], rtol=1e-5)
    page = c.near_vector(q, limit=4, offset=3)
    assert [r.uuid for r in page] == [u for u, _ in want[3:7]]
    cut = c.near_vector(q, limit=10, distance=want[2][1])
    assert [r.uuid for r in cut] == [u for u, _ in want[:3]]


def test_filtered_near_vector_returns_the_best_matching(store: Store) -> None:
    c, objs = make(store)
    q = np.random.default_rng(4).standard_normal((3, DIM)).astype(np.float32)
    f = Filter.by_property("n").greater_or_equal(45) | Filter.by_property("tags").contains_any(["red"])
    keep = lambda o: o.properties["n"] >= 45 or "red" in o.properties["tags"]  # noqa: E731
    want = ref_vector(objs, q, keep)
    got = c.near_vector(q, limit=8, filters=f)
    assert [r.uuid for r in got] == [u for u, _ in want[:8]]


def test_bm25_matches_reference(store: Store) -> None:
    c, objs = make(store)
    for query, props in [
        ("holiday film", None),
        ("The cat and the dog", None),
        ("snow", ["title"]),
        ("winter night", ["title^2", "body"]),
        ("river river beach", ["body^0.5"]),
    ]:
        spec = [
            (p.split("^")[0], float(p.split("^")[1]) if "^" in p else 1.0)
            for p in props or ["title", "body", "tags"]
        ]
        want = ref_bm25(props_of(objs), query, spec)
        got = c.bm25(query, query_properties=props, limit=12)
        assert len(got) == min(12, len(want))
        np.testing.assert_allclose([r.metadata.score for r in got], [s for _, s in want[:12]], rtol=1e-5)
        for r, (u, s) in zip(got, want, strict=False):  # same order up to float32 near-ties
            assert r.uuid == u or abs(r.metadata.score - s) < 1e-5 * s


def test_bm25_stopwords_only_query_finds_nothing(store: Store) -> None:
    c, _ = make(store)
    assert c.bm25("the a of") == []
    with pytest.raises(QueryError, match="not a searchable"):
        c.bm25("cat", query_properties=["n"])


def test_bm25_with_filter_uses_global_statistics(store: Store) -> None:
    c, objs = make(store)
    want = [
        x
        for x in ref_bm25(props_of(objs), "cat dog", [("title", 1), ("body", 1), ("tags", 1)])
        if int(x[0][-4:], 16) % 2 == 0
    ]
    f = Filter.by_id().contains_any([str(o.uuid) for o in objs if o.properties["n"] % 2 == 0])
    got = c.bm25("cat dog", limit=100, filters=f)
    assert {r.uuid for r in got} == {u for u, _ in want}
    np.testing.assert_allclose(sorted(r.metadata.score for r in got), sorted(s for _, s in want), rtol=1e-5)


def ref_fuse(
    legs: list[tuple[str, list[tuple[str, float]], float]], fusion: str
) -> list[tuple[str, float, dict]]:
    f32 = np.float32
    total: dict[str, np.float32] = {}
    parts: dict[str, dict[str, tuple[float, float]]] = {}
    for name, rows, w in legs:
        scores = [f32(s) for _, s in rows]
        lo, hi = (min(scores), max(scores)) if scores else (f32(0), f32(0))
        for rank, (u, s) in enumerate(rows):
            if fusion == "relativeScore":
                part = f32(w) if hi == lo else f32(w) * ((f32(s) - lo) / (hi - lo))
            else:
                part = f32(w / (rank + 60))
            total[u] = f32(total.get(u, f32(0)) + part)
            parts.setdefault(u, {})[name] = (float(s), float(part))
    out = sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(u, float(s), parts[u]) for u, s in out]


EXPLAIN_REL = re.compile(
    r"\nHybrid \(Result Set (vector,hybridVector|keyword,bm25)\) Document ([0-9a-f-]{36}): "
    r"original score (\S+), normalized score: (\S+)"
)
EXPLAIN_RANKED = re.compile(
    r"\nHybrid \(Result Set (vector,hybridVector|keyword,bm25)\) Document ([0-9a-f-]{36}) "
    r"contributed (\S+) to the score"
)


@pytest.mark.parametrize("fusion", ["relativeScore", "ranked"])
@pytest.mark.parametrize("alpha", [0.75, 0.3, 1.0, 0.0])
def test_hybrid_matches_reference(store: Store, fusion: str, alpha: float) -> None:
    c, objs = make(store, n=150)
    q = np.random.default_rng(1).standard_normal((4, DIM)).astype(np.float32)
    text = "holiday film winter"
    k_leg = 100  # max(100, limit)
    legs = []
    if alpha > 0:
        vec = [(u, float(np.float32(1) - np.float32(d))) for u, d in ref_vector(objs, q)[:k_leg]]
        legs.append(("vector,hybridVector", vec, alpha))
    if alpha < 1:
        kw = ref_bm25(props_of(objs), text, [("title", 1), ("body", 1), ("tags", 1)])[:k_leg]
        legs.append(("keyword,bm25", kw, 1 - alpha))
    want = ref_fuse(legs, fusion)
    got = c.hybrid(text, vector=q, alpha=alpha, fusion_type=fusion, limit=15)
    assert len(got) == 15
    np.testing.assert_allclose(
        [r.metadata.score for r in got], [s for _, s, _ in want[:15]], rtol=1e-5, atol=1e-7
    )
    for r, (u, s, _) in zip(got, want, strict=False):
        assert r.uuid == u or abs(r.metadata.score - s) < 1e-6
    for r in got:
        parts = next(p for u, _, p in want if u == r.uuid)
        explain = r.metadata.explain_score
        assert explain is not None
        rx = EXPLAIN_REL if fusion == "relativeScore" else EXPLAIN_RANKED
        lines = rx.findall(explain)
        assert "".join(m.group(0) for m in rx.finditer(explain)) == explain  # nothing else in it
        assert [m[0] for m in lines] == [n for n in ("vector,hybridVector", "keyword,bm25") if n in parts]
        for m in lines:
            assert m[1] == r.uuid
            orig, part = parts[m[0]]
            if fusion == "relativeScore":
                np.testing.assert_allclose(float(m[2]), orig, rtol=1e-5)
                np.testing.assert_allclose(float(m[3]), part, rtol=1e-5, atol=1e-6)
            else:
                assert m[2] == go_float32(part)


def test_hybrid_default_alpha_limit_and_paging(store: Store) -> None:
    c, _ = make(store)
    q = np.random.default_rng(2).standard_normal((4, DIM)).astype(np.float32)
    full = c.hybrid("cat", vector=q, limit=20)
    assert full == c.hybrid("cat", vector=q, alpha=0.75, limit=20)
    assert [r.uuid for r in c.hybrid("cat", vector=q, limit=5, offset=5)] == [r.uuid for r in full[5:10]]
    assert len(c.hybrid("cat", vector=q)) == 10
    with pytest.raises(QueryError, match="alpha"):
        c.hybrid("cat", vector=q, alpha=1.5)
    with pytest.raises(QueryError, match="fusion_type"):
        c.hybrid("cat", vector=q, fusion_type="rrf")


def test_go_float32_formatting() -> None:
    # Outputs of Go's fmt.Sprintf("%v", float32(x)).
    cases = {
        0.5: "0.5",
        1 / 3: "0.33333334",
        1.0: "1",
        0.0: "0",
        1e-5: "1e-05",
        0.0001: "0.0001",
        123456.0: "123456",
        1234567.0: "1.234567e+06",
        0.016393442: "0.016393442",
        -2.5: "-2.5",
        3.4e38: "3.4e+38",
    }
    for x, want in cases.items():
        assert go_float32(x) == want


# Weaviate's autocut, as its own unit tests pin it down (entities/autocut in weaviate/weaviate): result lists
# (scores, best first) with the number of results that autocut=N keeps. They include plateaus, ties at the
# end and a cut past the last jump (everything is kept).
WEAVIATE_AUTOCUT_CASES: list[tuple[list[float], int, int]] = [
    ([], 1, 0),
    ([2], 1, 1),
    ([2, 1.95, 1.9, 0.2, 0.1, 0.1, -1], 1, 3),
    ([2, 1.95, 1.9, 0.2, 0.1, 0.1, -2], 2, 6),
    ([5, 1, 1, 1, 1, 0, 0], 1, 1),
    ([5, 1, 1, 1, 1, 0, 0], 2, 5),
    ([0.298, 0.260, 0.169, 0.108, 0.108, 0.104, 0.093], 1, 3),
    ([0.5, 0.32, 0.31, 0.30, 0.29, 0.15], 1, 1),
    ([0.5, 0.32, 0.31, 0.30, 0.29, 0.15, 0.15, 0.15], 2, 5),
    ([1.0, 0.98, 0.95, 0.9, 0.88, 0.87, 0.80, 0.79], 1, 3),
    ([1.0, 0.98, 0.95, 0.9, 0.88, 0.87, 0.80, 0.79], 2, 6),
    ([1.0, 0.98, 0.95, 0.9, 0.88, 0.87, 0.80, 0.79], 3, 8),
    ([0.586835, 0.5450372, 0.34137487, 0.30482167, 0.2753393], 1, 2),
    ([0.36663342, 0.33818772, 0.045160502, 0.045160501], 1, 2),
    # Distances (ascending) work the same way: groups before each jump. Worked by hand: with n = 6 the
    # curve minus the diagonal is 0, -.19, -.38, -.1, -.29, 0, whose local maxima are at 3 and 5.
    ([0.1, 0.11, 0.12, 0.5, 0.51, 0.9], 1, 3),
    ([0.1, 0.11, 0.12, 0.5, 0.51, 0.9], 2, 5),
    ([0.1, 0.11, 0.12, 0.5, 0.51, 0.9], 3, 6),
    # Two results, or all equal: nothing to cut.
    ([0.3, 0.9], 1, 2),
    ([0.4, 0.4, 0.4, 0.4], 1, 4),
]


@pytest.mark.parametrize(("values", "cut", "want"), WEAVIATE_AUTOCUT_CASES)
def test_autocut_matches_weaviate(values: list[float], cut: int, want: int) -> None:
    assert autocut([float(np.float32(v)) for v in values], cut) == want


@given(st.lists(st.floats(-100, 100, width=32), min_size=0, max_size=30), st.integers(1, 3))
def test_autocut_keeps_a_prefix_that_grows_with_the_cut(values: list[float], cut: int) -> None:
    y = sorted(values)
    got = autocut(y, cut)
    assert 0 <= got <= len(y)
    assert autocut(y, cut + 1) >= got
    assert autocut(y, 0) == len(y)  # autocut off


def test_autocut_in_search(store: Store) -> None:
    c, _ = make(store)
    q = np.random.default_rng(5).standard_normal((3, DIM)).astype(np.float32)
    full = c.near_vector(q, limit=20)
    n = autocut([r.metadata.distance for r in full], 1)
    assert [r.uuid for r in c.near_vector(q, limit=20, autocut=1)] == [r.uuid for r in full[:n]]


FILTERS: list[tuple[object, Callable[[dict], bool]]] = [
    (
        Filter.by_property("title").equal("holiday film"),
        lambda p: {"holiday", "film"} <= set(p["title"].lower().split()),
    ),
    (Filter.by_property("title").not_equal("cat"), lambda p: "cat" not in p["title"].lower().split()),
    (
        Filter.by_property("title").like("ho*"),
        lambda p: any(w.startswith("ho") for w in p["title"].lower().split()),
    ),
    (
        Filter.by_property("title").like("?at"),
        lambda p: any(len(w) == 3 and w.endswith("at") for w in p["title"].lower().split()),
    ),
    (Filter.by_property("n").greater_than(30), lambda p: p["n"] > 30),
    (Filter.by_property("n").less_or_equal(10), lambda p: p["n"] <= 10),
    (Filter.by_property("n").equal(7), lambda p: p["n"] == 7),
    (Filter.by_property("tags").contains_all(["red", "blue"]), lambda p: {"red", "blue"} <= set(p["tags"])),
    (Filter.by_property("tags").contains_any(["green"]), lambda p: "green" in p["tags"]),
    (Filter.by_property("tags").contains_none(["green"]), lambda p: "green" not in p["tags"]),
    (Filter.by_property("body").is_none(True), lambda p: "body" not in p),
    (Filter.by_property("flag").equal(True), lambda p: p.get("flag") is True),
    (Filter.by_property("flag").not_equal(True), lambda p: p.get("flag") is not True),
    (
        Filter.all_of(
            [Filter.by_property("n").greater_than(5), ~Filter.by_property("tags").contains_any(["red"])]
        ),
        lambda p: p["n"] > 5 and "red" not in p["tags"],
    ),
    (
        Filter.any_of([Filter.by_property("n").less_than(3), Filter.by_property("title").equal("snow")]),
        lambda p: p["n"] < 3 or "snow" in p["title"].lower().split(),
    ),
]


@pytest.mark.parametrize(("f", "pred"), FILTERS)
def test_filters_match_reference(store: Store, f: object, pred: Callable[[dict], bool]) -> None:
    c, objs = make(store)
    want = {str(o.uuid) for o in objs if pred(o.properties)}
    assert c.count(f) == len(want)  # type: ignore[arg-type]
    assert {r.uuid for r in c.fetch_objects(filters=f)} == want  # type: ignore[arg-type]
    q = np.random.default_rng(8).standard_normal((3, DIM)).astype(np.float32)
    ref = [u for u, _ in ref_vector(objs, q, lambda o: pred(o.properties))][:5]
    assert [r.uuid for r in c.near_vector(q, limit=5, filters=f)] == ref  # type: ignore[arg-type]


def test_time_and_id_filters(store: Store) -> None:
    c, objs = make(store, n=10)
    first = c.get(str(objs[0].uuid))
    assert first is not None
    t = first.creation_time
    assert c.count(Filter.by_creation_time().greater_or_equal(t)) == 10
    assert c.count(Filter.by_update_time().less_than(t)) == 0
    assert c.count(Filter.by_id().equal(str(objs[3].uuid))) == 1
    assert c.count(Filter.by_id().not_equal(str(objs[3].uuid))) == 9
    assert c.count(Filter.by_id().contains_any([str(o.uuid) for o in objs[:4]])) == 4


def test_invalid_filters(store: Store) -> None:
    c, _ = make(store, n=5)
    with pytest.raises(FilterError, match="no such prop"):
        c.count(Filter.by_property("nope").equal(1))
    with pytest.raises(FilterError, match="expected numbers"):
        c.count(Filter.by_property("n").equal("x"))
    with pytest.raises(FilterError, match="like"):
        c.count(Filter.by_property("n").like("1*"))
    with pytest.raises(FilterError, match="UUID"):
        c.count(Filter.by_id().equal("nope"))


def clustered(n: int, tokens: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((64, DIM))
    out = []
    for _ in range(n):
        topics = rng.integers(0, 64, 4)
        c = centers[rng.choice(topics, tokens)]
        out.append((c + 0.4 * rng.standard_normal(c.shape)).astype(np.float32))
    return out


class _CountingNative:
    """The extension as the collection sees it, noting how many candidates each exact rescoring gets."""

    def __init__(self, native: object) -> None:
        self._native = native
        self.rescored: list[int] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._native, name)

    def maxsim_topk(self, query, rows, offsets, k, *, candidates=None, **kw):  # type: ignore[no-untyped-def]
        self.rescored.append(len(offsets) - 1 if candidates is None else len(candidates))
        return self._native.maxsim_topk(query, rows, offsets, k, candidates=candidates, **kw)


@pytest.mark.parametrize(("ef", "min_recall"), [(60, 0.8), (150, 0.9)])
def test_muvera_search_rescores_a_smaller_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ef: int, min_recall: float
) -> None:
    """With a candidate pool smaller than the collection, only the pool is rescored exactly, and the
    result is close to exact search (recall@10 against exact MaxSim over every object)."""
    import dataclasses

    import colweave.store.vector_search as collection_module

    s = Store(tmp_path)
    vc = VectorConfig.self_provided(
        "v", muvera=MuveraConfig(enabled=True, ksim=3, dprojections=8, repetitions=8)
    )
    vc = dataclasses.replace(vc, index_extra={**vc.index_extra, "ef": ef})
    c = s.create_collection(CollectionConfig("M", vectors={"v": vc}))
    n = 400
    docs = clustered(n, 20, 0)
    ids = c.insert_many([DataObject({"n": i}, vectors={"v": d}) for i, d in enumerate(docs)]).uuids
    assert (c.path / "v.0.fde").stat().st_size == n * 8 * 8 * 8 * 4
    counting = _CountingNative(collection_module._native)
    monkeypatch.setattr(collection_module, "_native", counting)
    rng = np.random.default_rng(1)
    everything = [DataObject({}, uuid=u, vectors={"v": d}) for u, d in zip(ids, docs, strict=True)]
    recall = []
    for t in range(20):
        q = docs[t * 7][:5] + 0.3 * rng.standard_normal((5, DIM)).astype(np.float32)
        exact = ref_vector(everything, q)
        got = c.near_vector(q, limit=10)
        assert counting.rescored[-1] == ef < n  # the pool, not the collection, was rescored
        dist = dict(exact)
        for r in got:  # candidates are rescored with exact MaxSim
            np.testing.assert_allclose(r.metadata.distance, dist[r.uuid], rtol=1e-5)
        assert [r.metadata.distance for r in got] == sorted(r.metadata.distance for r in got)
        recall.append(len({r.uuid for r in got} & {u for u, _ in exact[:10]}) / 10)
    print(f"MUVERA ef={ef} of {n}: recall@10 {np.mean(recall):.3f}")
    assert np.mean(recall) >= min_recall
    s.close()


def test_muvera_survives_a_restart(tmp_path: Path) -> None:
    s = Store(tmp_path)
    cfg = CollectionConfig(
        "M",
        vectors={
            "v": VectorConfig.self_provided(
                "v", muvera=MuveraConfig(enabled=True, ksim=3, dprojections=8, repetitions=8)
            )
        },
    )
    c = s.create_collection(cfg)
    docs = clustered(100, 20, 0)
    ids = c.insert_many([DataObject({"n": i}, vectors={"v": d}) for i, d in enumerate(docs)]).uuids
    s.close()
    s = Store(tmp_path)
    c2 = s.get_collection("M")
    assert len(c2) == 100
    assert c2.near_vector(docs[3][:5], limit=1)[0].uuid == ids[3]
    s.close()


def test_rest_where_filters(store: Store) -> None:
    from colweave.store.filters import from_weaviate

    c, objs = make(store, n=30)
    where = {
        "operator": "And",
        "operands": [
            {"path": ["n"], "operator": "GreaterThan", "valueInt": 10},
            {
                "operator": "Or",
                "operands": [
                    {"path": ["tags"], "operator": "ContainsAny", "valueTextArray": ["red"]},
                    {"path": ["title"], "operator": "Like", "valueText": "sn*"},
                ],
            },
        ],
    }
    want = {
        str(o.uuid)
        for o in objs
        if o.properties["n"] > 10
        and (
            "red" in o.properties["tags"]
            or any(w.startswith("sn") for w in o.properties["title"].lower().split())
        )
    }
    assert {r.uuid for r in c.fetch_objects(filters=from_weaviate(where))} == want
    ids = {"path": ["id"], "operator": "ContainsAny", "valueTextArray": [str(o.uuid) for o in objs[:3]]}
    assert c.count(Filter.from_weaviate(ids)) == 3
    assert c.count(from_weaviate({"operator": "Not", "operands": [ids]})) == 27
    assert (
        c.count(from_weaviate({"path": ["_creationTimeUnix"], "operator": "GreaterThan", "valueText": "0"}))
        == 30
    )
    with pytest.raises(FilterError, match="operator"):
        from_weaviate({"path": ["n"], "operator": "Near", "valueInt": 1})
    with pytest.raises(FilterError, match="value"):
        from_weaviate({"path": ["n"], "operator": "Equal"})


def test_id_filters_combined(store: Store) -> None:
    c, objs = make(store, n=20)
    ids = [str(o.uuid) for o in objs]
    f = Filter.by_id().contains_any(ids[:10]) & Filter.by_property("n").greater_than(4)
    assert {r.uuid for r in c.fetch_objects(filters=f)} == set(ids[5:10])
    g = Filter.by_id().equal(ids[1]) | Filter.by_id().equal(ids[15])
    assert {r.uuid for r in c.fetch_objects(filters=g)} == {ids[1], ids[15]}
    h = Filter.by_id().equal(ids[1]) | Filter.by_property("n").equal(3)
    assert {r.uuid for r in c.fetch_objects(filters=h)} == {ids[1], ids[3]}
    assert c.count(Filter.by_id().contains_any([str(uuidlib.uuid4())])) == 0
    q = np.random.default_rng(0).standard_normal((3, DIM)).astype(np.float32)
    assert [r.uuid for r in c.near_vector(q, filters=Filter.by_id().equal(ids[7]))] == [ids[7]]
    # The cursor pages through UUID order.
    ordered = sorted(ids)
    assert [r.uuid for r in c.fetch_objects(after=ordered[4], limit=3)] == ordered[5:8]


def test_like_wildcards_are_the_only_special_characters(store: Store) -> None:
    cfg = CollectionConfig("L", properties=[Property.create("code", "text", tokenization="field")])
    c = store.create_collection(cfg)
    c.insert_many([DataObject({"code": v}) for v in ["a.b", "axb", "[a]", "a", "ab*c"]])

    def like(p: str) -> set[str]:
        return {r.properties["code"] for r in c.fetch_objects(filters=Filter.by_property("code").like(p))}

    assert like("a.b") == {"a.b"}
    assert like("[a]") == {"[a]"}
    assert like("a?b") == {"a.b", "axb"}
    assert like("a*") == {"a.b", "axb", "a", "ab*c"}

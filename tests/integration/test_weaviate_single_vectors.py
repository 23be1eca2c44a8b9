"""Single vectors through the real weaviate-client against a real colweave server on free ports, over
REST (schema, objects, batch) and gRPC (search, batch, aggregate): the ``default`` vector the client
configures, self-provided named vectors beside a multi-vector, the legacy collection-level vector, and
Weaviate's distances and certainties checked against numpy and Weaviate's formulas."""

from __future__ import annotations

import uuid as uuidlib

import httpx
import numpy as np
import numpy.typing as npt
import pytest
import weaviate
import weaviate.classes as wvc
from weaviate.classes.config import Configure, DataType, Property, Reconfigure, VectorDistances
from weaviate.classes.query import MetadataQuery
from weaviate.collections.classes.data import DataObject
from weaviate.exceptions import UnexpectedStatusCodeError, WeaviateQueryError

METRICS = {
    "cosine": VectorDistances.COSINE,
    "dot": VectorDistances.DOT,
    "l2-squared": VectorDistances.L2_SQUARED,
    "manhattan": VectorDistances.MANHATTAN,
    "hamming": VectorDistances.HAMMING,
}


def weaviate_distance(
    metric: str, q: npt.NDArray[np.float64], x: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Weaviate's definitions (its distancer package) in float64."""
    if metric == "cosine":
        return np.maximum(1 - (x @ q) / (np.linalg.norm(q) * np.linalg.norm(x, axis=1)), 0)
    if metric == "dot":
        return -(x @ q)
    if metric == "l2-squared":
        return ((x - q) ** 2).sum(axis=1)
    if metric == "manhattan":
        return np.abs(x - q).sum(axis=1)
    return (x != q).sum(axis=1).astype(np.float64)


def test_a_collection_without_vectorizer_has_the_default_single_vector(served) -> None:
    s, client = served
    coll = client.collections.create("Plain", properties=[Property(name="name", data_type=DataType.TEXT)])
    cfg = coll.config.get()
    assert cfg.vector_config is not None
    assert set(cfg.vector_config) == {"default"}
    assert cfg.vector_config["default"].vector_index_config.distance_metric == VectorDistances.COSINE
    u1 = coll.data.insert({"name": "one"}, vector=[1.0, 2.0, 3.0])  # REST POST /v1/objects
    res = coll.data.insert_many(  # gRPC BatchObjects (vector_bytes)
        [DataObject({"name": "two"}, vector=[0.5, -1.0, 0.25]), DataObject({"name": "three"})]
    )
    assert not res.has_errors
    got = coll.query.fetch_object_by_id(u1, include_vector=True)  # gRPC Search
    assert got is not None
    assert got.vector == {"default": [1.0, 2.0, 3.0]}
    body = httpx.get(f"{s.http}/v1/objects/Plain/{u1}?include=vector", timeout=10).json()
    assert body["vectors"] == {"default": [1.0, 2.0, 3.0]}
    none = coll.query.fetch_object_by_id(res.uuids[1], include_vector=True)
    assert none is not None
    assert none.vector == {}
    # near_vector: cosine, with Weaviate's certainty 1 - d/2
    q = np.array([1.0, 1.0, 0.0])
    found = coll.query.near_vector(q.tolist(), return_metadata=MetadataQuery(distance=True, certainty=True))
    x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.25]])
    want = weaviate_distance("cosine", q, x)
    order = np.argsort(want)
    assert [o.uuid for o in found.objects] == [[u1, res.uuids[0]][i] for i in order]
    for o, i in zip(found.objects, order, strict=True):
        assert o.metadata.distance == pytest.approx(want[i], abs=1e-6)
        assert o.metadata.certainty == pytest.approx(1 - want[i] / 2, abs=1e-6)


@pytest.mark.parametrize("metric", list(METRICS))
@pytest.mark.parametrize("index", ["hnsw", "flat", "dynamic"])
def test_distances_and_certainty_over_grpc_match_numpy(served, metric: str, index: str) -> None:
    s, client = served
    make_index = {
        "hnsw": Configure.VectorIndex.hnsw,
        "flat": Configure.VectorIndex.flat,
        "dynamic": Configure.VectorIndex.dynamic,
    }[index]
    coll = client.collections.create(
        "Dist",
        properties=[Property(name="n", data_type=DataType.INT)],
        vector_config=Configure.Vectors.self_provided(
            vector_index_config=make_index(distance_metric=METRICS[metric])
        ),
    )
    # The index type and distance round-trip through GET /v1/schema.
    schema = httpx.get(f"{s.http}/v1/schema/Dist", timeout=10).json()
    assert schema["vectorConfig"]["default"]["vectorIndexType"] == index
    assert schema["vectorConfig"]["default"]["vectorIndexConfig"]["distance"] == metric
    rng = np.random.default_rng(len(metric))
    if metric == "hamming":
        x = rng.integers(0, 3, (25, 6)).astype(np.float32)
        q = rng.integers(0, 3, 6).astype(np.float32)
    else:
        x = rng.standard_normal((25, 6)).astype(np.float32)
        q = rng.standard_normal(6).astype(np.float32)
    ids = [uuidlib.UUID(int=i + 1) for i in range(25)]
    with coll.batch.fixed_size(batch_size=10) as batch:
        for i in range(25):
            batch.add_object({"n": i}, uuid=ids[i], vector=x[i].tolist())
    assert not coll.batch.failed_objects
    want = weaviate_distance(metric, q.astype(np.float64), x.astype(np.float64))
    order = sorted(range(25), key=lambda i: (want[i], i))
    md = MetadataQuery(distance=True, certainty=True)
    res = coll.query.near_vector(q.tolist(), limit=25, return_metadata=md).objects
    assert [o.uuid for o in res] == [ids[i] for i in order]
    for o, i in zip(res, order, strict=True):
        assert o.metadata.distance == pytest.approx(want[i], abs=0 if metric == "hamming" else 1e-4)
        if metric == "cosine":
            assert o.metadata.certainty == pytest.approx(1 - want[i] / 2, abs=1e-4)
        else:  # Weaviate computes certainty for cosine only
            assert o.metadata.certainty is None
    values = np.unique(want)
    m = len(values) // 2
    cut = float(values[m - 1] + values[m]) / 2  # between two distances
    within = coll.query.near_vector(q.tolist(), distance=cut, limit=25).objects
    assert len(within) == int((want <= cut).sum())
    if metric == "cosine":
        assert len(coll.query.near_vector(q.tolist(), certainty=0.7, limit=25).objects) == int(
            (want <= (1 - 0.7) * 2).sum()
        )
    else:
        with pytest.raises(WeaviateQueryError, match=f"configured with {metric} distance"):
            coll.query.near_vector(q.tolist(), certainty=0.7)
    # Aggregate over the search: the objects within the distance, or the object_limit nearest. As in
    # Weaviate, an aggregate's distance d is the certainty 1 - d / 2: one of 2 or more is a certainty
    # <= 0, which cuts nothing, so the request needs an object_limit (and then counts that many).
    if 1 - cut / 2 > 0:
        assert coll.aggregate.near_vector(q.tolist(), distance=cut).total_count == int((want <= cut).sum())
    else:
        with pytest.raises(WeaviateQueryError, match="must provide certainty or objectLimit"):
            coll.aggregate.near_vector(q.tolist(), distance=cut)
        assert coll.aggregate.near_vector(q.tolist(), distance=cut, object_limit=25).total_count == 25
    assert coll.aggregate.near_vector(q.tolist(), object_limit=4).total_count == 4


def test_legacy_unnamed_vector_shapes_and_search(served) -> None:
    s, client = served
    coll = client.collections.create(
        "Legacy",
        properties=[Property(name="name", data_type=DataType.TEXT)],
        vectorizer_config=Configure.Vectorizer.none(),
        vector_index_config=Configure.VectorIndex.flat(distance_metric=VectorDistances.L2_SQUARED),
    )
    schema = httpx.get(f"{s.http}/v1/schema/Legacy", timeout=10).json()
    assert "vectorConfig" not in schema
    assert (schema["vectorizer"], schema["vectorIndexType"]) == ("none", "flat")
    assert schema["vectorIndexConfig"]["distance"] == "l2-squared"
    u1 = coll.data.insert({"name": "a"}, vector=[1.0, 0.0])
    u2 = coll.data.insert({"name": "b"}, vector=[0.0, 3.0])
    # REST: the collection-level vector is "vector"; gRPC: vector_bytes, which the client names default
    body = httpx.get(f"{s.http}/v1/objects/Legacy/{u2}?include=vector", timeout=10).json()
    assert body["vector"] == [0.0, 3.0]
    assert "vectors" not in body
    listed = httpx.get(f"{s.http}/v1/objects?class=Legacy&include=vector", timeout=10).json()
    assert sorted(o["vector"] for o in listed["objects"]) == [[0.0, 3.0], [1.0, 0.0]]
    got = coll.query.fetch_object_by_id(u1, include_vector=True)
    assert got is not None
    assert got.vector == {"default": [1.0, 0.0]}
    res = coll.query.near_vector([0.0, 1.0], return_metadata=MetadataQuery(distance=True)).objects
    assert [o.uuid for o in res] == [u1, u2]
    assert [o.metadata.distance for o in res] == [2.0, 4.0]  # l2-squared: 1 + 1, (3 - 1)^2
    # hybrid with alpha 1: the vector leg alone; a vector distance limit keeps the nearer one
    hy = coll.query.hybrid("a", vector=[0.0, 1.0], alpha=1.0).objects
    assert [o.uuid for o in hy] == [u1, u2]
    hy = coll.query.hybrid("a b", vector=[0.0, 1.0], alpha=0.5, max_vector_distance=3.0).objects
    assert [o.uuid for o in hy] == [u1]
    # A vector of the wrong dimension is refused, nothing stored.
    with pytest.raises(weaviate.exceptions.UnexpectedStatusCodeError, match="dimension 3"):
        coll.data.insert({"name": "c"}, vector=[1.0, 2.0, 3.0])
    assert len(coll) == 2
    # Replacing without a vector removes it (Weaviate's PUT); the config round-trips into a new one.
    coll.data.replace(uuid=u1, properties={"name": "a2"})
    got = coll.query.fetch_object_by_id(u1, include_vector=True)
    assert got is not None
    assert got.vector == {}
    cfg = coll.config.get()
    cfg.name = "Legacy2"
    again = client.collections.create_from_config(cfg).config.get()
    assert again.vector_index_type.value == "flat"
    assert again.vector_config is None


def test_named_single_vector_beside_a_multi_vector(served) -> None:
    _, client = served
    coll = client.collections.create(
        "Both",
        properties=[Property(name="title", data_type=DataType.TEXT)],
        vector_config=[
            Configure.MultiVectors.self_provided(name="colbert"),
            Configure.Vectors.self_provided(
                name="text",
                vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.DOT),
            ),
        ],
    )
    rng = np.random.default_rng(5)
    pages = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(6)]
    texts = rng.standard_normal((6, 5)).astype(np.float32)
    ids = [
        coll.data.insert({"title": f"p{i}"}, vector={"colbert": pages[i].tolist(), "text": texts[i].tolist()})
        for i in range(6)
    ]
    qt = rng.standard_normal(5).astype(np.float32)
    res = coll.query.near_vector(
        qt.tolist(), target_vector="text", return_metadata=MetadataQuery(distance=True)
    )
    dots = texts.astype(np.float64) @ qt
    assert [o.uuid for o in res.objects] == [ids[i] for i in np.argsort(-dots, kind="stable")]
    np.testing.assert_allclose([o.metadata.distance for o in res.objects], -np.sort(dots)[::-1], rtol=1e-5)
    got = coll.query.fetch_object_by_id(ids[2], include_vector=True)
    assert got is not None
    assert got.vector["text"] == pytest.approx(texts[2].tolist())
    assert np.asarray(got.vector["colbert"]).shape == (3, 4)
    # A single vector for the multi-vector (or a matrix for the single one) is refused.
    with pytest.raises(weaviate.exceptions.UnexpectedStatusCodeError, match="multi-vector"):
        coll.data.insert({"title": "x"}, vector={"colbert": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(weaviate.exceptions.WeaviateInsertManyAllFailedError, match="as a single vector"):
        coll.data.insert_many([DataObject({"title": "y"}, vector={"text": [[1.0] * 5]})])
    assert len(coll) == 6
    # Several query vectors for the single target (min of their distances, Weaviate's default join)
    q2 = rng.standard_normal((2, 5)).astype(np.float32)
    res = coll.query.near_vector(
        {"text": q2.tolist()}, target_vector="text", return_metadata=MetadataQuery(distance=True)
    ).objects
    best = np.min(-(texts.astype(np.float64) @ q2.T.astype(np.float64)), axis=1)
    assert [o.uuid for o in res] == [ids[i] for i in np.argsort(best, kind="stable")]
    np.testing.assert_allclose([o.metadata.distance for o in res], np.sort(best), rtol=1e-5)


def test_multi_target_sum_and_manual_weights(served) -> None:
    _, client = served
    coll = client.collections.create(
        "Targets",
        vector_config=[
            Configure.Vectors.self_provided(name="first"),
            Configure.Vectors.self_provided(name="second"),
        ],
    )
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((8, 2)), rng.standard_normal((8, 3))
    ids = [coll.data.insert({}, vector={"first": a[i].tolist(), "second": b[i].tolist()}) for i in range(8)]
    qa, qb = rng.standard_normal(2), rng.standard_normal((2, 3))
    da = weaviate_distance("cosine", qa, a)
    db = np.stack([weaviate_distance("cosine", v, b) for v in qb])
    for target, weights in (
        (wvc.query.TargetVectors.sum(["first", "second"]), [1.0, 1.0, 1.0]),
        (wvc.query.TargetVectors.manual_weights({"first": 2.0, "second": [1.0, 0.5]}), [2.0, 1.0, 0.5]),
    ):
        res = coll.query.near_vector(
            {"first": qa.tolist(), "second": qb.tolist()},
            target_vector=target,
            return_metadata=MetadataQuery(distance=True),
        ).objects
        combined = weights[0] * da + weights[1] * db[0] + weights[2] * db[1]
        assert [o.uuid for o in res] == [ids[i] for i in np.argsort(combined, kind="stable")]
        np.testing.assert_allclose([o.metadata.distance for o in res], np.sort(combined), rtol=1e-4)
    # hybrid over the combined vector leg, keyword weight 0: the same order
    hy = coll.query.hybrid(
        None, vector={"first": qa.tolist(), "second": qb.tolist()}, target_vector=["first", "second"]
    ).objects
    assert len(hy) == 8


def test_rest_batch_objects_with_unnamed_and_named_vectors(served) -> None:
    s, client = served
    client.collections.create("Old", vectorizer_config=Configure.Vectorizer.none())
    client.collections.create(
        "Two",
        vector_config=[Configure.Vectors.self_provided(name="a"), Configure.Vectors.self_provided(name="b")],
    )
    ids = [str(uuidlib.UUID(int=i)) for i in range(1, 5)]
    body = {
        "objects": [
            {"class": "Old", "id": ids[0], "properties": {}, "vector": [0.5, 0.25]},  # the legacy vector
            {
                "class": "Two",
                "id": ids[1],
                "properties": {},
                "vectors": {"a": [1.0, 0.0], "b": [0.0, 1.0, 0.0]},
            },
            {"class": "Two", "id": ids[2], "properties": {}, "vector": [1.0, 0.0]},  # which one? refused
            {"class": "Two", "id": ids[3], "properties": {}, "vectors": {"a": [[1.0, 0.0]]}},  # wrong shape
        ]
    }
    out = httpx.post(f"{s.http}/v1/batch/objects", json=body, timeout=30).json()
    assert [o["result"] for o in out[:2]] == [{}, {}]
    assert "does not have single vector index" in out[2]["result"]["errors"]["error"][0]["message"]
    assert "configured as a single vector" in out[3]["result"]["errors"]["error"][0]["message"]
    old = client.collections.get("Old").query.fetch_object_by_id(ids[0], include_vector=True)
    assert old is not None
    assert old.vector == {"default": [0.5, 0.25]}
    two = client.collections.get("Two")
    got = two.query.fetch_object_by_id(ids[1], include_vector=True)
    assert got is not None
    assert got.vector == {"a": [1.0, 0.0], "b": [0.0, 1.0, 0.0]}
    assert len(two) == 1  # nothing of the refused objects was stored


def test_hfresh_index_config_round_trips_and_is_served_exactly(served) -> None:
    s, client = served
    coll = client.collections.create(
        "Fresh",
        vector_config=Configure.Vectors.self_provided(
            vector_index_config=Configure.VectorIndex.hfresh(
                distance_metric=VectorDistances.L2_SQUARED,
                max_posting_size_kb=512,
                replicas=2,
                search_probe=25,
            )
        ),
    )
    vic = coll.config.get().vector_config["default"].vector_index_config
    assert (vic.distance_metric, vic.max_posting_size_kb, vic.replicas, vic.search_probe) == (
        VectorDistances.L2_SQUARED,
        512,
        2,
        25,
    )
    coll.config.update(
        vector_config=Reconfigure.Vectors.update(
            name="default", vector_index_config=Reconfigure.VectorIndex.hfresh(search_probe=100)
        )
    )
    assert coll.config.get().vector_config["default"].vector_index_config.search_probe == 100
    schema = httpx.get(f"{s.http}/v1/schema/Fresh", timeout=10).json()["vectorConfig"]["default"]
    assert schema["vectorIndexType"] == "hfresh"
    changed = {**schema["vectorIndexConfig"], "replicas": 3}
    body = {**httpx.get(f"{s.http}/v1/schema/Fresh", timeout=10).json()}
    body["vectorConfig"]["default"]["vectorIndexConfig"] = changed
    r = httpx.put(f"{s.http}/v1/schema/Fresh", json=body, timeout=10)
    assert r.status_code == 422
    assert r.json()["error"][0]["message"].endswith('replicas is immutable: attempted change from "2" to "3"')
    with pytest.raises(UnexpectedStatusCodeError, match="HFresh only supports 'cosine' or 'l2-squared'"):
        client.collections.create(
            "Fresh2",
            vector_config=Configure.Vectors.self_provided(
                vector_index_config=Configure.VectorIndex.hfresh(distance_metric=VectorDistances.DOT)
            ),
        )
    rng = np.random.default_rng(2)
    x = rng.standard_normal((12, 4))
    ids = [coll.data.insert({}, vector=v.tolist()) for v in x]
    q = rng.standard_normal(4)
    res = coll.query.near_vector(q.tolist(), limit=12, return_metadata=MetadataQuery(distance=True)).objects
    want = weaviate_distance("l2-squared", q, x.astype(np.float32).astype(np.float64))
    assert [o.uuid for o in res] == [ids[i] for i in np.argsort(want, kind="stable")]
    np.testing.assert_allclose([o.metadata.distance for o in res], np.sort(want), rtol=1e-4)

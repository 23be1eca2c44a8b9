"""Weaviate's quantizers on a multi-vector index through the real weaviate-client against a real colweave
server: created with ``Configure.VectorIndex.Quantizer``, round-tripped by ``config.get()`` and
``create_from_config``, changed with ``Reconfigure``, and searched with results equal to the numpy
reference of the same codes (sign bits, then exact MaxSim over the rescored candidates)."""

from __future__ import annotations

import numpy as np
import pytest
import weaviate
from weaviate.classes.config import Configure, DataType, Property, Reconfigure
from weaviate.classes.query import MetadataQuery
from weaviate.collections.classes.config import _BQConfig, _RQConfig

DIM = 16


def _unit(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def _signs(m: np.ndarray) -> np.ndarray:
    return np.where(m > 0, 1, -1).astype(np.int64)


def reference(q: np.ndarray, pages: list[np.ndarray], k: int, rescore: int) -> list[tuple[int, float]]:
    """Sign-bit MaxSim picks the ``rescore`` best (ties to the earlier page), exact MaxSim on the stored
    fp16 rows orders them; distance = -MaxSim."""
    qn = _unit(q)
    st = [_unit(p).astype(np.float16).astype(np.float64) for p in pages]
    binary = {i: float((_signs(qn) @ _signs(d).T).max(axis=1).sum()) for i, d in enumerate(st)}
    cands = sorted(binary, key=lambda i: (-binary[i], i))[: max(rescore, k)]
    ex = {i: float((qn.astype(np.float64) @ st[i].T).max(axis=1).sum()) for i in cands}
    return [(i, -ex[i]) for i in sorted(ex, key=lambda i: (-ex[i], i))[:k]]


def test_quantized_multivector_collection_through_the_client(served) -> None:
    s, client = served
    client.collections.delete(["Quant", "QuantCopy", "Later"])
    coll = client.collections.create(
        name="Quant",
        properties=[Property(name="n", data_type=DataType.INT)],
        vector_config=[
            Configure.MultiVectors.self_provided(
                name="colbert", quantizer=Configure.VectorIndex.Quantizer.bq(rescore_limit=4)
            )
        ],
    )
    cfg = coll.config.get()
    q_cfg = cfg.vector_config["colbert"].vector_index_config.quantizer
    assert isinstance(q_cfg, _BQConfig)
    assert q_cfg.rescore_limit == 4
    raw = client.collections.get("Quant").config.get(simple=False)
    assert raw.vector_config["colbert"].vector_index_config.multi_vector is not None

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((4, DIM))
    pages = [
        (centres[rng.integers(0, 4, 3 + i % 7)] + 0.7 * rng.standard_normal((3 + i % 7, DIM))).astype(
            np.float32
        )
        for i in range(40)
    ]
    with coll.batch.fixed_size(batch_size=16) as batch:
        for i, p in enumerate(pages):
            batch.add_object(properties={"n": i}, vector={"colbert": p.tolist()})
    assert not coll.batch.failed_objects
    assert len(coll) == 40

    def search(q: np.ndarray, k: int) -> list[tuple[int, float]]:
        res = coll.query.near_vector(
            near_vector=q.tolist(),
            target_vector="colbert",
            limit=k,
            return_metadata=MetadataQuery(distance=True),
            return_properties=["n"],
        )
        return [(int(o.properties["n"]), float(o.metadata.distance)) for o in res.objects]

    queries = [pages[j][:3] + 0.2 * rng.standard_normal((3, DIM)).astype(np.float32) for j in (1, 8, 21, 33)]
    for q in queries:
        got, want = search(q, 3), reference(q, pages, 3, 4)
        assert [i for i, _ in got] == [i for i, _ in want]
        np.testing.assert_allclose([d for _, d in got], [d for _, d in want], atol=1e-4)

    # The config round-trips through the client into a new collection.
    body = cfg.to_dict()
    body["class"] = "QuantCopy"
    copy_cfg = client.collections.create_from_dict(body).config.get()
    assert copy_cfg.vector_config["colbert"].vector_index_config.quantizer == q_cfg

    # Reconfigure (what the client lets through): bq's rescore limit; a quantizer turned on later (its codes
    # built from the stored vectors); rq bits fixed once on.
    coll.config.update(
        vector_config=Reconfigure.Vectors.update(
            name="colbert",
            vector_index_config=Reconfigure.VectorIndex.hnsw(
                quantizer=Reconfigure.VectorIndex.Quantizer.bq(rescore_limit=40)
            ),
        )
    )
    assert coll.config.get().vector_config["colbert"].vector_index_config.quantizer.rescore_limit == 40
    for q in queries:  # 40 rescored of 40 pages: exact
        got, want = search(q, 3), reference(q, pages, 3, 40)
        assert [i for i, _ in got] == [i for i, _ in want]

    client.collections.delete("Later")
    later = client.collections.create(
        name="Later",
        properties=[Property(name="n", data_type=DataType.INT)],
        vector_config=[Configure.MultiVectors.self_provided(name="colbert")],
    )
    later.data.insert_many(
        [
            weaviate.classes.data.DataObject(properties={"n": i}, vector={"colbert": p.tolist()})
            for i, p in enumerate(pages)
        ]
    )
    later.config.update(
        vector_config=Reconfigure.Vectors.update(
            name="colbert",
            vector_index_config=Reconfigure.VectorIndex.hnsw(
                quantizer=Reconfigure.VectorIndex.Quantizer.rq(bits=8, rescore_limit=10)
            ),
        )
    )
    rq = later.config.get().vector_config["colbert"].vector_index_config.quantizer
    assert isinstance(rq, _RQConfig)
    assert (rq.bits, rq.rescore_limit) == (8, 10)
    assert s.server.state.store.get_collection("Later")._copies["colbert"].kind == "int8"
    res = later.query.near_vector(near_vector=queries[0].tolist(), target_vector="colbert", limit=3)
    assert len(res.objects) == 3
    with pytest.raises(weaviate.exceptions.WeaviateBaseError, match="rq bits is immutable"):
        later.config.update(
            vector_config=Reconfigure.Vectors.update(
                name="colbert",
                vector_index_config=Reconfigure.VectorIndex.hnsw(
                    quantizer=Reconfigure.VectorIndex.Quantizer.rq(bits=1)
                ),
            )
        )


def test_two_quantizers_are_refused_with_nothing_created(served) -> None:
    _, client = served
    client.collections.delete("Two")
    with pytest.raises(weaviate.exceptions.WeaviateBaseError, match="more than a single compression"):
        client.collections.create_from_dict(
            {
                "class": "Two",
                "vectorConfig": {
                    "v": {
                        "vectorizer": {"none": {}},
                        "vectorIndexType": "hnsw",
                        "vectorIndexConfig": {
                            "multivector": {"enabled": True},
                            "bq": {"enabled": True},
                            "sq": {"enabled": True},
                        },
                    }
                },
            }
        )
    assert not client.collections.exists("Two")


def test_pooling_setting_round_trips_through_the_client(served) -> None:
    """colweavePooling sits in the vector's module config, which the client keeps: config.get() ->
    create_from_config makes a collection that pools the same way."""
    s, client = served
    client.collections.delete(["Pooled", "PooledCopy"])
    coll = client.collections.create_from_dict(
        {
            "class": "Pooled",
            "vectorConfig": {
                "v": {
                    "vectorizer": {"none": {"colweavePooling": {"poolFactor": 2}}},
                    "vectorIndexType": "hnsw",
                    "vectorIndexConfig": {"multivector": {"enabled": True}, "bq": {"enabled": True}},
                }
            },
        }
    )
    cfg = coll.config.get()
    cfg.name = "PooledCopy"
    client.collections.create_from_config(cfg)
    page = np.random.default_rng(1).standard_normal((9, DIM)).astype(np.float32)
    for name in ("Pooled", "PooledCopy"):
        c = client.collections.get(name)
        uid = c.data.insert(properties={}, vector={"v": page.tolist()})
        stored = s.server.state.store.get_collection(name)
        assert stored.token_counts(str(uid)) == (4, 9)
        got = c.query.fetch_object_by_id(uid, include_vector=True).vector["v"]
        assert np.asarray(got).shape == (4, DIM)

"""Adding named vectors to an existing collection (Weaviate >= 1.31's ``collection.config.add_vector``)
through the real weaviate-client against a real colweave server on free ports: beside the ``default``
vector the client configures, beside a collection-level (legacy, unnamed) vector and beside named vectors;
single and multi-vectors, and a vectorizer module's vector; the objects there before have none of the new
vector, searches on it (gRPC) see exactly the objects that have it (numpy references), the REST and gRPC
vector shapes are Weaviate's, the change survives a restart, and what Weaviate refuses is refused."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import numpy as np
import pytest
import weaviate
from tests.server.conftest import HashModel, png, start_server
from weaviate.classes.config import Configure, DataType, Property, VectorDistances
from weaviate.classes.query import MetadataQuery
from weaviate.collections.classes.data import DataObject
from weaviate.exceptions import UnexpectedStatusCodeError, WeaviateQueryError

KINDS = {
    "client default": None,  # the client configures one named vector, "default"
    "collection-level": Configure.Vectorizer.none(),
    "named": [Configure.NamedVectors.none("another")],
}


def cosine(q: np.ndarray, x: np.ndarray) -> np.ndarray:
    q64, x64 = q.astype(np.float64), x.astype(np.float64)
    return 1 - (x64 @ q64) / (np.linalg.norm(q64) * np.linalg.norm(x64, axis=1))


def maxsim(q: np.ndarray, d: np.ndarray) -> float:
    """MaxSim of L2-normalised rows, the document stored in float16 (the store's default)."""
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    dn = (d / np.linalg.norm(d, axis=1, keepdims=True)).astype(np.float16).astype(np.float64)
    return float((qn @ dn.T).max(axis=1).sum())


def connect(s: Any) -> weaviate.WeaviateClient:
    return weaviate.connect_to_local(
        port=int(s.http.rsplit(":", 1)[1]), grpc_port=int(s.grpc.rsplit(":", 1)[1])
    )


@pytest.mark.parametrize("kind", list(KINDS))
def test_add_vectors_then_write_and_search_them(served, tmp_path, kind: str) -> None:
    s, client = served
    rng = np.random.default_rng(len(kind))
    coll = client.collections.create(
        "Grow", vectorizer_config=KINDS[kind], properties=[Property(name="name", data_type=DataType.TEXT)]
    )
    own = {"client default": "default", "collection-level": None, "named": "another"}[kind]
    first = rng.standard_normal((3, 2)).astype(np.float32)
    old = [
        coll.data.insert(
            {"name": f"old{i}"}, vector=first[i].tolist() if own is None else {own: first[i].tolist()}
        )
        for i in range(3)
    ]
    coll.config.add_vector(
        vector_config=[
            Configure.Vectors.self_provided(name="vec"),
            Configure.MultiVectors.self_provided(name="mv"),
        ]
    )
    cfg = coll.config.get()
    assert cfg.vector_config is not None
    assert set(cfg.vector_config) == {"vec", "mv"} | ({own} if own else set())
    assert cfg.vector_config["vec"].vector_index_config.distance_metric == VectorDistances.COSINE
    raw = httpx.get(f"{s.http}/v1/schema/Grow", timeout=10).json()
    assert ("vectorizer" in raw) == (own is None)  # the collection-level vector stays at the top level
    # New objects: REST insert, gRPC batch; one without the new vectors.
    vec = rng.standard_normal((4, 5)).astype(np.float32)
    mv = [rng.standard_normal((int(rng.integers(2, 5)), 3)).astype(np.float32) for _ in range(4)]
    new = [coll.data.insert({"name": "new0"}, vector={"vec": vec[0].tolist(), "mv": mv[0].tolist()})]
    res = coll.data.insert_many(
        [
            DataObject({"name": f"new{i}"}, vector={"vec": vec[i].tolist(), "mv": mv[i].tolist()})
            for i in (1, 2, 3)
        ]
        + [DataObject({"name": "none"})]
    )
    assert not res.has_errors
    new += [res.uuids[i] for i in range(3)]
    untouched = res.uuids[3]

    def check(coll: Any, base: str) -> None:
        q = rng.standard_normal(5).astype(np.float32)
        found = coll.query.near_vector(
            q.tolist(), target_vector="vec", limit=20, return_metadata=MetadataQuery(distance=True)
        ).objects
        d = cosine(q, vec)
        assert [o.uuid for o in found] == [new[i] for i in np.argsort(d, kind="stable")]
        np.testing.assert_allclose([o.metadata.distance for o in found], np.sort(d), atol=1e-6)
        qm = rng.standard_normal((2, 3)).astype(np.float32)
        found = coll.query.near_vector(
            qm.tolist(), target_vector="mv", limit=20, return_metadata=MetadataQuery(distance=True)
        ).objects
        scores = np.array([maxsim(qm, m) for m in mv])
        assert [o.uuid for o in found] == [new[i] for i in np.argsort(-scores, kind="stable")]
        np.testing.assert_allclose([o.metadata.distance for o in found], -np.sort(scores)[::-1], rtol=1e-3)
        agg = coll.aggregate.near_vector(q.tolist(), target_vector="vec", object_limit=50, total_count=True)
        assert agg.total_count == 4
        # The objects there before have none of the new vectors; gRPC and REST shapes as Weaviate's.
        got = coll.query.fetch_object_by_id(old[0], include_vector=["vec", "mv"])
        assert got is not None
        assert got.vector == {}
        got = coll.query.fetch_object_by_id(new[1], include_vector=["vec", "mv"])
        assert got is not None
        assert got.vector["vec"] == pytest.approx(vec[1].tolist())
        assert np.asarray(got.vector["mv"]).shape == mv[1].shape
        body = httpx.get(f"{base}/v1/objects/Grow/{new[1]}?include=vector", timeout=10).json()
        assert body["vectors"]["vec"] == pytest.approx(vec[1].tolist())
        assert "vector" not in body
        body = httpx.get(f"{base}/v1/objects/Grow/{old[1]}?include=vector", timeout=10).json()
        if own is None:  # the collection-level vector: "vector" in REST, vector_bytes ("default") in gRPC
            assert body["vector"] == pytest.approx(first[1].tolist())
            assert "vectors" not in body
            got = coll.query.fetch_object_by_id(old[1], include_vector=True)
            assert got is not None
            assert got.vector == {"default": pytest.approx(first[1].tolist())}
        else:
            assert body["vectors"] == {own: pytest.approx(first[1].tolist())}
        assert coll.query.fetch_object_by_id(untouched, include_vector=True).vector == {}
        # No target: the collection-level vector where there is one, else Weaviate's error.
        q2 = rng.standard_normal(2).astype(np.float32)
        if own is None:
            found = coll.query.near_vector(q2.tolist(), return_metadata=MetadataQuery(distance=True)).objects
            d = cosine(q2, first)
            assert [o.uuid for o in found] == [old[i] for i in np.argsort(d, kind="stable")]
        else:
            with pytest.raises(WeaviateQueryError, match=r"named vectors .*; name one"):
                coll.query.near_vector(q2.tolist())

    check(coll, s.http)
    if own is None:  # an unnamed vector (gRPC vector_bytes) is the collection-level one, beside named ones
        res = coll.data.insert_many([DataObject({"name": "u"}, vector=[0.5, 2.0])])
        assert not res.has_errors
        got = coll.query.fetch_object_by_id(res.uuids[0], include_vector=True)
        assert got is not None
        assert got.vector == {"default": [0.5, 2.0]}
        coll.data.delete_by_id(res.uuids[0])
    # An old object written again with the new vector has it from then on.
    coll.data.update(uuid=old[2], properties={"name": "again"}, vector={"vec": vec[0].tolist()})
    got = coll.query.fetch_object_by_id(old[2], include_vector=["vec"])
    assert got is not None
    assert got.vector == {"vec": pytest.approx(vec[0].tolist())}
    coll.data.replace(  # Weaviate's PUT: the vectors not given go
        uuid=old[2],
        properties={"name": "old2"},
        vector=first[2].tolist() if own is None else {own: first[2].tolist()},
    )
    # A restart keeps the new vectors and their objects.
    client.close()
    s.stop()
    s2 = start_server(HashModel(), data_dir=tmp_path / "data")
    try:
        with connect(s2) as c2:
            again = c2.collections.get("Grow")
            assert set(again.config.get().vector_config or {}) == {"vec", "mv"} | ({own} if own else set())
            check(again, s2.http)
    finally:
        s2.stop()


def test_add_a_vectorizer_modules_vector_later(served) -> None:
    """A ``multi2multivec-weaviate`` vector added to a collection of pages: the pages there before are not
    vectorized (as in Weaviate), the pages written since are; near_vector / near_text search those."""
    s, client = served
    coll = client.collections.create(
        "Pages",
        properties=[
            Property(name="page", data_type=DataType.BLOB),
            Property(name="title", data_type=DataType.TEXT),
        ],
        vector_config=[Configure.Vectors.self_provided(name="text")],
    )
    imgs = [base64.b64encode(png(30 + 5 * i, 20 + 3 * i, (40 * i, 90, 180))).decode() for i in range(4)]
    before = [
        coll.data.insert({"page": imgs[i], "title": f"p{i}"}, vector={"text": [1.0, float(i)]})
        for i in (0, 1)
    ]
    coll.config.add_vector(
        vector_config=Configure.MultiVectors.multi2vec_weaviate(name="document", image_field="page")
    )
    after = [coll.data.insert({"page": imgs[i], "title": f"p{i}"}) for i in (2, 3)]
    got = coll.query.fetch_object_by_id(before[0], include_vector=True)
    assert got is not None
    assert set(got.vector) == {"text"}
    store_coll = s.server.state.store.get_collection("Pages")
    for u, img in zip(after, imgs[2:], strict=True):
        o = store_coll.get(str(u), include_vector=True)
        assert o is not None
        want = s.model.embed_images([base64.b64decode(img)])[0]
        np.testing.assert_allclose(o.vectors["document"], want, atol=2e-3)  # float16 storage
    res = coll.query.near_text("a page", target_vector="document", limit=10).objects
    assert sorted(str(o.uuid) for o in res) == sorted(str(u) for u in after)
    # A module naming a model this server does not serve is refused, as at creation.
    with pytest.raises(UnexpectedStatusCodeError, match="other/model") as e:
        coll.config.add_vector(
            vector_config=Configure.MultiVectors.multi2vec_weaviate(
                name="doc2", image_field="page", model="other/model"
            )
        )
    assert e.value.status_code == 422
    assert "doc2" not in (coll.config.get().vector_config or {})


def test_add_vector_refusals(served) -> None:
    s, client = served
    legacy = client.collections.create("Legacy", vectorizer_config=Configure.Vectorizer.none())
    # "default" names the collection-level vector in the named-vector API: no named vector may take it.
    with pytest.raises(UnexpectedStatusCodeError, match="vector named default cannot be created") as e:
        legacy.config.add_vector(vector_config=Configure.Vectors.self_provided(name="default"))
    assert e.value.status_code == 422
    legacy.config.add_vector(vector_config=Configure.Vectors.self_provided(name="vec"))
    # Adding a vector that exists, changed, is changing it: refused as Weaviate refuses the change.
    with pytest.raises(UnexpectedStatusCodeError, match="distance is immutable") as e:
        legacy.config.add_vector(
            vector_config=Configure.Vectors.self_provided(
                name="vec",
                vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.DOT),
            )
        )
    assert e.value.status_code == 422
    # The same config again changes nothing.
    legacy.config.add_vector(vector_config=Configure.Vectors.self_provided(name="vec"))
    assert set(legacy.config.get().vector_config or {}) == {"vec"}
    # Creating a collection with both at once is Weaviate's error (only adding to one is allowed).
    body = httpx.get(f"{s.http}/v1/schema/Legacy", timeout=10).json()
    body["class"] = "Both"
    r = httpx.post(f"{s.http}/v1/schema", json=body, timeout=10)
    assert r.status_code == 422
    assert "both a class level vector index and named vectors is forbidden" in r.text
    assert not client.collections.exists("Both")
    # A collection-level vector cannot be added to a collection of named vectors.
    client.collections.create("Named", vector_config=[Configure.Vectors.self_provided(name="a")])
    body = httpx.get(f"{s.http}/v1/schema/Named", timeout=10).json()
    body.update(vectorizer="none", vectorIndexType="hnsw")
    r = httpx.put(f"{s.http}/v1/schema/Named", json=body, timeout=10)
    assert r.status_code == 422
    assert "vectorizer is immutable" in r.text

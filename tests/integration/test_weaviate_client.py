"""The Weaviate Embeddings multimodal docs workflow, unchanged but for the connection, with the real
weaviate-client against a real colweave server on free ports."""

from __future__ import annotations

import base64
import uuid

import numpy as np
import pytest
from tests.server.conftest import png
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.query import Filter, HybridFusion, MetadataQuery

TITLES = ["Jingle All the Way", "A Christmas Carol", "Home Alone", "The Holiday", "Die Hard", "Elf"]


def pages() -> list[tuple[str, str]]:
    return [
        (t, base64.b64encode(png(40 + 7 * i, 30 + 3 * i, (i * 40, 100, 200 - i * 30))).decode())
        for i, t in enumerate(TITLES)
    ]


def create_demo(client, name="DemoCollection", **kw):
    client.collections.delete(name)
    return client.collections.create(
        name=name,
        properties=[Property(name="doc_page", data_type=DataType.BLOB)],
        vector_config=[
            Configure.MultiVectors.multi2vec_weaviate(name="document", image_field="doc_page", **kw)
        ],
    )


def test_docs_workflow_near_text_hybrid_bm25(served) -> None:
    s, client = served
    assert client.is_ready()
    coll = create_demo(client)
    with coll.batch.fixed_size(batch_size=200) as batch:
        for title, b64 in pages():
            batch.add_object(properties={"title": title, "doc_page": b64})
    assert not coll.batch.failed_objects
    assert len(coll) == len(TITLES)
    cfg = coll.config.get()
    assert {p.name: p.data_type for p in cfg.properties}["title"] == DataType.TEXT  # auto-schema

    store_coll = s.server.state.store.get_collection("DemoCollection")
    qv = s.model.embed_queries(["A holiday film"])[0]
    want = store_coll.near_vector(qv, target_vector="document", limit=2)

    res = coll.query.near_text(query="A holiday film", limit=2, return_metadata=MetadataQuery(distance=True))
    assert [str(o.uuid) for o in res.objects] == [w.uuid for w in want]
    for o, w in zip(res.objects, want, strict=True):
        assert o.metadata.distance == pytest.approx(w.metadata.distance, abs=1e-5)
        assert o.properties["title"] in TITLES
        assert "doc_page" not in o.properties  # blobs only when asked for

    for kwargs in (
        {},
        {"alpha": 0.5},
        {"alpha": 0.5, "fusion_type": HybridFusion.RANKED},
        {"fusion_type": HybridFusion.RELATIVE_SCORE},
    ):
        res = coll.query.hybrid(
            query="holiday", limit=2, return_metadata=MetadataQuery(score=True, explain_score=True), **kwargs
        )
        alpha = kwargs.get("alpha", 0.75)
        fusion = "ranked" if kwargs.get("fusion_type") == HybridFusion.RANKED else "relativeScore"
        want = store_coll.hybrid(
            "holiday",
            alpha=alpha,
            vector=s.model.embed_queries(["holiday"])[0],
            fusion_type=fusion,
            target_vector="document",
            limit=2,
        )
        assert [str(o.uuid) for o in res.objects] == [w.uuid for w in want], kwargs
        for o, w in zip(res.objects, want, strict=True):
            assert o.metadata.score == pytest.approx(w.metadata.score, abs=1e-6)
            assert o.metadata.explain_score == w.metadata.explain_score

    res = coll.query.bm25(query="holiday", limit=3)
    assert [o.properties["title"] for o in res.objects] == ["The Holiday"]

    fetched = coll.query.fetch_objects(limit=10)
    assert len(fetched.objects) == len(TITLES)
    one = fetched.objects[0]
    by_id = coll.query.fetch_object_by_id(one.uuid)
    assert by_id.properties["title"] == one.properties["title"]
    assert by_id.metadata.creation_time is not None
    assert by_id.metadata.last_update_time is not None
    ids = [fetched.objects[1].uuid, fetched.objects[2].uuid]
    many = coll.query.fetch_objects_by_ids(ids)
    assert {o.uuid for o in many.objects} == set(ids)

    filt = coll.query.near_text(
        query="holiday", limit=5, filters=Filter.by_property("title").like("*Holiday*")
    )
    assert [o.properties["title"] for o in filt.objects] == ["The Holiday"]
    assert coll.aggregate.over_all(total_count=True).total_count == len(TITLES)
    client.collections.delete("DemoCollection")
    assert not client.collections.exists("DemoCollection")


def test_muvera_variant_and_self_provided_vectors(served) -> None:
    s, client = served
    coll = create_demo(
        client,
        "MuveraDemo",
        encoding=Configure.VectorIndex.MultiVector.Encoding.muvera(ksim=4, dprojections=16, repetitions=20),
    )
    cfg = coll.config.get()
    muvera = cfg.vector_config["document"].vector_index_config.multi_vector.encoding
    assert muvera.repetitions == 20
    with coll.batch.fixed_size(batch_size=200) as batch:
        for title, b64 in pages():
            batch.add_object(properties={"title": title, "doc_page": b64})
    assert len(coll) == len(TITLES)
    assert len(coll.query.near_text(query="a film", limit=3).objects) == 3

    client.collections.delete("Byov")
    byov = client.collections.create(
        name="Byov",
        properties=[Property(name="title", data_type=DataType.TEXT)],
        vector_config=[Configure.MultiVectors.self_provided(name="colbert")],
    )
    rng = np.random.default_rng(0)
    vecs = {i: rng.standard_normal((3 + i, 4)).astype(np.float32) for i in range(5)}
    with byov.batch.fixed_size(batch_size=10) as batch:
        for i, v in vecs.items():
            batch.add_object(properties={"title": f"doc {i}"}, vector={"colbert": v.tolist()})
    assert not byov.batch.failed_objects
    new_id = byov.data.insert(properties={"title": "inserted"}, vector={"colbert": [[1.0, 0.0, 0.0, 0.0]]})
    assert len(byov) == 6
    q = rng.standard_normal((2, 4)).astype(np.float32)
    res = byov.query.near_vector(
        near_vector=q.tolist(),
        target_vector="colbert",
        limit=3,
        return_metadata=MetadataQuery(distance=True),
        include_vector=True,
    )
    want = s.server.state.store.get_collection("Byov").near_vector(q, target_vector="colbert", limit=3)
    assert [str(o.uuid) for o in res.objects] == [w.uuid for w in want]
    for o, w in zip(res.objects, want, strict=True):
        assert o.metadata.distance == pytest.approx(w.metadata.distance, abs=1e-5)
        assert np.asarray(o.vector["colbert"]).shape[1] == 4

    byov.data.update(uuid=new_id, properties={"title": "updated"})
    assert byov.query.fetch_object_by_id(new_id).properties["title"] == "updated"
    byov.data.replace(uuid=new_id, properties={"title": "replaced"})
    assert byov.query.fetch_object_by_id(new_id).properties["title"] == "replaced"
    inserted = byov.data.insert_many([{"title": "m1"}, {"title": "m2"}])
    assert not inserted.errors
    assert len(byov) == 8
    assert byov.data.delete_by_id(new_id)
    assert byov.query.fetch_object_by_id(new_id) is None
    res = byov.data.delete_many(where=Filter.by_property("title").like("m*"))
    assert res.successful == 2
    assert len(byov) == 5
    assert byov.query.fetch_object_by_id(uuid.uuid4()) is None


def test_dynamic_and_stream_batches_import_the_same_objects(served) -> None:
    _, client = served
    for mode in ("dynamic", "stream"):
        coll = create_demo(client, f"Batch{mode.title()}")
        ctx = coll.batch.dynamic() if mode == "dynamic" else coll.batch.stream()
        ids = []
        with ctx as batch:
            for title, b64 in pages():
                ids.append(batch.add_object(properties={"title": title, "doc_page": b64}))
        assert not coll.batch.failed_objects, mode
        assert len(coll) == len(TITLES), mode
        got = {str(o.uuid) for o in coll.query.fetch_objects(limit=100).objects}
        assert got == {str(i) for i in ids}, mode

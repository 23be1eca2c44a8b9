"""The real ``colweave serve`` process with the committed tiny ColModernVBERT: vectors equal the Encoder's,
a restart keeps everything, and ``kill -9`` during an import loses nothing that was acknowledged."""

from __future__ import annotations

import base64
import io
import json
import threading
import uuid

import httpx
import numpy as np
import pytest
import weaviate
from PIL import Image
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.data import DataObject
from weaviate.classes.query import MetadataQuery

from colweave.model import Encoder

from .serve_process import TINY_MODEL, serve

TITLES = ["Jingle All the Way", "A Christmas Carol", "Home Alone", "The Holiday"]


def page(i: int) -> bytes:
    rng = np.random.default_rng(i)
    img = Image.fromarray(rng.integers(0, 255, (90 + 13 * (i % 5), 70 + 9 * (i % 3), 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder(TINY_MODEL)


def connect(sp):
    return weaviate.connect_to_local(port=sp.http_port, grpc_port=sp.grpc_port)


def test_embed_api_vectors_equal_the_encoder(tmp_path, encoder) -> None:
    sp = serve(tmp_path / "data", "--api-key", "k1")
    try:
        images = [page(1), page(2)]
        body = {
            "input": [base64.b64encode(i).decode() for i in images],
            "model": "ModernVBERT/colmodernvbert",
        }
        headers = {"Authorization": "Bearer k1", "X-Weaviate-Cluster-Url": "http://weaviate.local:8080"}
        r = httpx.post(
            f"{sp.http}/v1/embeddings/embed", content=json.dumps(body), headers=headers, timeout=60
        )
        # The tiny model is a ColModernVBERT export: it answers to Weaviate's default name...
        assert r.status_code == 200, r.text
        body["model"] = "Snowflake/another-model"  # ...and not to another model's
        r = httpx.post(
            f"{sp.http}/v1/embeddings/embed", content=json.dumps(body), headers=headers, timeout=60
        )
        assert r.status_code == 422
        body["model"] = encoder.info["model_id"]  # its own id works too
        r = httpx.post(
            f"{sp.http}/v1/embeddings/embed", content=json.dumps(body), headers=headers, timeout=60
        )
        assert r.status_code == 200, r.text
        want = encoder.embed_images(images)
        got = r.json()["embeddings"]
        assert len(got) == 2
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(np.asarray(g, np.float32), w, rtol=0, atol=1e-6)
        q = httpx.post(
            f"{sp.http}/v1/embeddings/embed",
            headers=headers,
            timeout=60,
            content=json.dumps({"input": ["holiday films", "x"], "is_search_query": True}),
        )
        for g, w in zip(q.json()["embeddings"], encoder.embed_queries(["holiday films", "x"]), strict=True):
            np.testing.assert_allclose(np.asarray(g, np.float32), w, rtol=0, atol=1e-6)
        bad = httpx.post(
            f"{sp.http}/v1/embeddings/embed",
            content=json.dumps(body),
            timeout=10,
            headers={"Authorization": "Bearer wrong"},
        )
        assert bad.status_code == 401
        assert "detail" in bad.json()
    finally:
        assert sp.stop() == 0


def test_docs_workflow_restart_keeps_everything(tmp_path, encoder) -> None:
    data = tmp_path / "data"
    sp = serve(data)
    try:
        with connect(sp) as client:
            coll = client.collections.create(
                name="DemoCollection",
                properties=[Property(name="doc_page", data_type=DataType.BLOB)],
                vector_config=[
                    Configure.MultiVectors.multi2vec_weaviate(name="document", image_field="doc_page")
                ],
            )
            with coll.batch.fixed_size(batch_size=200) as batch:
                for i, t in enumerate(TITLES):
                    batch.add_object(properties={"title": t, "doc_page": base64.b64encode(page(i)).decode()})
            assert not coll.batch.failed_objects
            before = coll.query.near_text(
                query="A holiday film",
                limit=4,
                return_metadata=MetadataQuery(distance=True),
                include_vector=True,
            )
            # The stored vectors are the Encoder's (stored as float16).
            by_title = {o.properties["title"]: o for o in before.objects}
            for i, t in enumerate(TITLES):
                got = np.asarray(by_title[t].vector["document"], np.float32)
                np.testing.assert_allclose(got, encoder.embed_images([page(i)])[0], atol=2e-3)
    finally:
        assert sp.stop() == 0
    sp = serve(data)
    try:
        with connect(sp) as client:
            coll = client.collections.get("DemoCollection")
            assert len(coll) == len(TITLES)
            after = coll.query.near_text(
                query="A holiday film", limit=4, return_metadata=MetadataQuery(distance=True)
            )
            assert [o.uuid for o in after.objects] == [o.uuid for o in before.objects]
            for a, b in zip(after.objects, before.objects, strict=True):
                assert a.metadata.distance == pytest.approx(b.metadata.distance, abs=1e-6)
            assert [o.properties["title"] for o in coll.query.bm25(query="holiday").objects] == [
                "The Holiday"
            ]
    finally:
        assert sp.stop() == 0


def test_kill9_during_import_loses_nothing_acknowledged(tmp_path) -> None:
    data = tmp_path / "data"
    sp = serve(data)
    acked: list[str] = []
    stop = threading.Event()
    enough = threading.Event()
    with connect(sp) as client:
        coll = client.collections.create(
            name="Pages",
            properties=[
                Property(name="doc_page", data_type=DataType.BLOB),
                Property(name="title", data_type=DataType.TEXT),
            ],
            vector_config=[
                Configure.MultiVectors.multi2vec_weaviate(name="document", image_field="doc_page")
            ],
        )

        def importer() -> None:
            n = 0
            while not stop.is_set():
                objs = [
                    {"title": f"page {n + j}", "doc_page": base64.b64encode(page(n + j)).decode()}
                    for j in range(5)
                ]
                ids = [uuid.uuid4() for _ in objs]
                try:
                    res = coll.data.insert_many(
                        [DataObject(properties=o, uuid=u) for o, u in zip(objs, ids, strict=True)]
                    )
                except Exception:
                    return  # the server died mid-batch: this batch was never acknowledged
                assert not res.errors
                acked.extend(str(u) for u in ids)
                n += 5
                if len(acked) >= 30:
                    enough.set()

        t = threading.Thread(target=importer)
        t.start()
        # Bounded: an importer that stops early (or a server that hangs) fails the test instead of waiting.
        assert enough.wait(180), f"only {len(acked)} objects acknowledged in 180 s"
        sp.kill9()
        stop.set()
        t.join(30)
    sp = serve(data)
    try:
        with connect(sp) as client:
            coll = client.collections.get("Pages")
            stored = [str(o.uuid) for o in coll.iterator()]
            assert len(stored) == len(set(stored)), "duplicated objects"
            assert set(acked) <= set(stored), f"lost {len(set(acked) - set(stored))} acknowledged objects"
            assert len(stored) - len(acked) in (0, 5), "a batch was half-written"
            res = coll.query.near_text(query="page", limit=3)
            assert len(res.objects) == 3
            assert coll.query.bm25(query="page", limit=len(stored) + 10).objects
    finally:
        assert sp.stop() == 0

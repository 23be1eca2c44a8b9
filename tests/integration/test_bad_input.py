"""Bad input through the Weaviate protocols gets a clear error, changes nothing, and the server keeps
serving (the real ``colweave serve`` with the tiny model)."""

from __future__ import annotations

import base64
import io
import json

import httpx
import numpy as np
import pytest
import weaviate
from PIL import Image
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.data import DataObject
from weaviate.exceptions import WeaviateBaseError, WeaviateInsertManyAllFailedError

from .serve_process import serve
from .test_serve_process import page


def bomb() -> bytes:
    """A tiny PNG that decodes to 4000 x 4000 pixels."""
    buf = io.BytesIO()
    Image.new("L", (4000, 4000)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    sp = serve(
        tmp_path_factory.mktemp("bad") / "data",
        "--max-image-pixels",
        "1000000",
        "--max-request-bytes",
        "2000000",
    )
    client = weaviate.connect_to_local(port=sp.http_port, grpc_port=sp.grpc_port)
    pages = client.collections.create(
        name="Pages",
        properties=[
            Property(name="doc_page", data_type=DataType.BLOB),
            Property(name="title", data_type=DataType.TEXT),
            Property(name="year", data_type=DataType.INT),
        ],
        vector_config=[Configure.MultiVectors.multi2vec_weaviate(name="document", image_field="doc_page")],
    )
    pages.data.insert({"title": "good", "doc_page": base64.b64encode(page(1)).decode(), "year": 2001})
    byov = client.collections.create(
        name="Byov",
        properties=[Property(name="title", data_type=DataType.TEXT)],
        vector_config=[Configure.MultiVectors.self_provided(name="colbert")],
    )
    byov.data.insert({"title": "v"}, vector={"colbert": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]})
    yield sp, client
    client.close()
    assert sp.stop() == 0


def batch_error(coll, obj: DataObject) -> str:
    """The error of a one-object batch (the client raises when every object failed)."""
    with pytest.raises(WeaviateInsertManyAllFailedError) as e:
        coll.data.insert_many([obj])
    return str(e.value)


def still_serving(client) -> None:
    pages = client.collections.get("Pages")
    assert len(pages) == 1
    assert len(client.collections.get("Byov")) == 1
    assert pages.query.near_text(query="good", limit=1).objects[0].properties["title"] == "good"


BAD_PAGES = [
    ("undecodable base64", {"title": "x", "doc_page": "%%%not-base64%%%"}, "base64"),
    ("not an image", {"title": "x", "doc_page": base64.b64encode(b"hello, not an image").decode()}, "image"),
    ("decompression bomb", {"title": "x", "doc_page": base64.b64encode(bomb()).decode()}, "pixels"),
    (
        "wrong property type",
        {"title": "x", "year": "two thousand", "doc_page": base64.b64encode(page(2)).decode()},
        "year",
    ),
]


@pytest.mark.parametrize(("what", "props", "fragment"), BAD_PAGES, ids=[b[0] for b in BAD_PAGES])
def test_bad_objects_are_reported_by_index_and_change_nothing(server, what, props, fragment) -> None:
    _, client = server
    pages = client.collections.get("Pages")
    msg = batch_error(pages, DataObject(properties=props))
    assert fragment in msg.lower(), msg
    with pytest.raises(WeaviateBaseError):
        pages.data.insert(props)
    still_serving(client)


def test_a_bad_object_does_not_fail_the_rest_of_its_batch(server) -> None:
    _, client = server
    pages = client.collections.get("Pages")
    good = {"title": "another good", "doc_page": base64.b64encode(page(3)).decode()}
    res = pages.data.insert_many([DataObject(properties=BAD_PAGES[1][1]), DataObject(properties=good)])
    assert list(res.errors) == [0]
    assert len(pages) == 2
    pages.data.delete_by_id(res.uuids[1])
    still_serving(client)


def test_bad_vectors(server) -> None:
    _, client = server
    byov = client.collections.get("Byov")
    assert "dimension" in batch_error(
        byov, DataObject(properties={"title": "w"}, vector={"colbert": [[1.0, 2.0]]})
    )
    assert "nope" in batch_error(
        byov, DataObject(properties={"title": "w"}, vector={"nope": [[1.0, 2.0, 3.0]]})
    )
    with pytest.raises(WeaviateBaseError, match="dimension"):
        byov.query.near_vector(near_vector=[[1.0, 2.0]], target_vector="colbert")
    with pytest.raises(WeaviateBaseError, match="no vectorizer"):
        byov.query.near_text(query="text on a self-provided vector", target_vector="colbert")
    still_serving(client)


def test_wrong_vector_byte_length_on_the_wire(server) -> None:
    """A raw gRPC request with a truncated multi-vector (the client always packs correctly)."""
    sp, client = server
    import grpc
    from weaviate.proto.v1 import base_pb2, base_search_pb2, search_get_pb2, weaviate_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{sp.grpc_port}") as ch:
        stub = weaviate_pb2_grpc.WeaviateStub(ch)
        bad = base_pb2.Vectors(
            vector_bytes=b"\x03\x00" + np.ones(4, "<f4").tobytes(),
            type=base_pb2.Vectors.VECTOR_TYPE_MULTI_FP32,
        )
        req = search_get_pb2.SearchRequest(
            collection="Byov",
            limit=1,
            uses_123_api=True,
            uses_125_api=True,
            uses_127_api=True,
            near_vector=base_search_pb2.NearVector(
                vectors=[bad], targets=base_search_pb2.Targets(target_vectors=["colbert"])
            ),
        )
        with pytest.raises(grpc.RpcError) as e:
            stub.Search(req, timeout=10)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "whole number of rows" in e.value.details()
    still_serving(client)


def test_unknown_collection_and_bad_schema(server) -> None:
    sp, client = server
    with pytest.raises(WeaviateBaseError):
        client.collections.get("NoSuchThing").query.fetch_objects()
    assert "does not exist" in batch_error(
        client.collections.get("NoSuchThing"), DataObject(properties={"a": "b"})
    )
    r = httpx.post(
        f"{sp.http}/v1/schema",
        content=json.dumps({"class": "Bad", "properties": [{"name": "x", "dataType": ["no-such-type"]}]}),
    )
    assert r.status_code == 422
    assert r.json()["error"][0]["message"]
    r = httpx.post(f"{sp.http}/v1/schema", content=b"{broken")
    assert r.status_code == 400
    r = httpx.post(f"{sp.http}/v1/objects", content=b"x" * 3_000_000)
    assert r.status_code == 413
    r = httpx.post(f"{sp.http}/v1/batch/objects", content=json.dumps({"objects": []}))
    assert r.status_code == 422
    assert not client.collections.exists("Bad")
    still_serving(client)

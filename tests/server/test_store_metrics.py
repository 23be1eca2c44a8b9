"""Images a store write vectorizes are counted in the server's metrics, whichever protocol wrote them."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from tests.server.conftest import HashModel, RunningServer, png, start_server
from weaviate.proto.v1 import batch_pb2, weaviate_pb2_grpc

SCHEMA = {
    "class": "Pages",
    "properties": [{"name": "page", "dataType": ["blob"]}, {"name": "title", "dataType": ["text"]}],
    "vectorConfig": {
        "doc": {
            "vectorizer": {"multi2multivec-weaviate": {"imageFields": ["page"]}},
            "vectorIndexType": "hnsw",
            "vectorIndexConfig": {"multivector": {"enabled": True}},
        }
    },
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    s = start_server(HashModel(), data_dir=tmp_path / "data")
    r = httpx.post(f"{s.http}/v1/schema", json=SCHEMA, timeout=30)
    assert r.status_code == 200, r.text
    yield s
    s.stop()


def encoded(s: RunningServer) -> float:
    text = httpx.get(f"{s.http}/metrics", timeout=30).text
    m = re.search(r"^colweave_images_encoded_total ([0-9.e+]+)$", text, re.M)
    assert m, text
    return float(m.group(1))


def image(i: int) -> str:
    return base64.b64encode(png(20 + i, 16, (i * 40 % 256, 10, 200))).decode()


def stored(s: RunningServer) -> int:
    r = httpx.get(f"{s.http}/v1/objects", params={"class": "Pages", "limit": 100}, timeout=30)
    return len(r.json()["objects"])


def grpc_object(i: int) -> batch_pb2.BatchObject:
    props = batch_pb2.BatchObject.Properties()
    props.non_ref_properties.update({"page": image(i), "title": f"p{i}"})
    return batch_pb2.BatchObject(collection="Pages", uuid=str(uuid.uuid4()), properties=props)


def test_every_write_path_counts_the_images_it_encodes(server: RunningServer) -> None:
    s = server
    n = encoded(s)
    # REST, one object.
    r = httpx.post(
        f"{s.http}/v1/objects", json={"class": "Pages", "properties": {"page": image(1)}}, timeout=30
    )
    assert r.status_code == 200, r.text
    assert encoded(s) == n + 1
    # REST batch: three images (and one object without an image, which encodes nothing).
    objs = [{"class": "Pages", "properties": {"page": image(i)}} for i in (2, 3, 4)]
    objs.append({"class": "Pages", "properties": {"title": "no page"}})
    r = httpx.post(f"{s.http}/v1/batch/objects", json={"objects": objs}, timeout=30)
    assert r.status_code == 200, r.text
    assert all("errors" not in (x.get("result") or {}) for x in r.json()), r.text
    assert encoded(s) == n + 4
    with grpc.insecure_channel(s.grpc) as ch:
        stub = weaviate_pb2_grpc.WeaviateStub(ch)
        # gRPC BatchObjects: two images.
        reply = stub.BatchObjects(
            batch_pb2.BatchObjectsRequest(objects=[grpc_object(5), grpc_object(6)]), timeout=30
        )
        assert not reply.errors
        assert encoded(s) == n + 6
        # gRPC BatchStream: three images.
        R = batch_pb2.BatchStreamRequest
        data = R(data=R.Data(objects=R.Data.Objects(values=[grpc_object(i) for i in (7, 8, 9)])))
        replies = list(stub.BatchStream(iter([R(start=R.Start()), data, R(stop=R.Stop())]), timeout=30))
    errors = [x for r in replies if r.HasField("results") for x in r.results.errors]
    assert not errors
    assert encoded(s) == n + 9
    assert stored(s) == 10

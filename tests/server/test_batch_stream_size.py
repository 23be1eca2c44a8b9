"""The batch size a BatchStream asks of its client (``backoff``): the vectorizer's while the stream has not
shown what it imports or while it imports into a vectorizing collection, Weaviate's largest (1000) for
collections that do not vectorize. With the vectorizer's 32 for plain objects, the client suite's
server-side batching of 100 000 objects made some 3 000 commits and outlasted its 60 s timeout."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from tests.server.conftest import HashModel, RunningServer, png, start_server
from weaviate.proto.v1 import batch_pb2, weaviate_pb2_grpc

PAGES = {
    "class": "Pages",
    "properties": [{"name": "page", "dataType": ["blob"]}],
    "vectorConfig": {
        "doc": {
            "vectorizer": {"multi2multivec-weaviate": {"imageFields": ["page"]}},
            "vectorIndexType": "hnsw",
            "vectorIndexConfig": {"multivector": {"enabled": True}},
        }
    },
}
PLAIN = {"class": "Plain", "properties": [{"name": "name", "dataType": ["text"]}]}
R = batch_pb2.BatchStreamRequest


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    s = start_server(HashModel(), data_dir=tmp_path / "data")
    for schema in (PAGES, PLAIN):
        r = httpx.post(f"{s.http}/v1/schema", json=schema, timeout=30)
        assert r.status_code == 200, r.text
    yield s
    s.stop()


def _obj(collection: str, i: int) -> batch_pb2.BatchObject:
    props = batch_pb2.BatchObject.Properties()
    if collection == "Pages":
        props.non_ref_properties.update({"page": base64.b64encode(png(20 + i, 16)).decode()})
    else:
        props.non_ref_properties.update({"name": f"n{i}"})
    return batch_pb2.BatchObject(collection=collection, uuid=str(uuid.uuid4()), properties=props)


def _stream(s: RunningServer, collections: list[str]) -> tuple[list[int], int]:
    """The batch sizes the server asked for, in order, and how many objects it stored."""
    msgs = [R(start=R.Start())]
    msgs += [
        R(data=R.Data(objects=R.Data.Objects(values=[_obj(c, i) for i in range(3)]))) for c in collections
    ]
    msgs.append(R(stop=R.Stop()))
    with grpc.insecure_channel(s.grpc) as ch:
        replies = list(weaviate_pb2_grpc.WeaviateStub(ch).BatchStream(iter(msgs), timeout=60))
    assert not [e for r in replies if r.HasField("results") for e in r.results.errors]
    stored = sum(len(r.results.successes) for r in replies if r.HasField("results"))
    return [r.backoff.batch_size for r in replies if r.HasField("backoff")], stored


def test_plain_objects_are_asked_for_in_weaviates_largest_batches(server: RunningServer) -> None:
    small = max(8, 4 * server.server.state.cfg.max_batch_images)
    assert _stream(server, ["Plain", "Plain"]) == ([small, 1000], 6)


def test_a_vectorizing_collection_keeps_the_vectorizers_batch_size(server: RunningServer) -> None:
    small = max(8, 4 * server.server.state.cfg.max_batch_images)
    assert _stream(server, ["Pages"]) == ([small], 3)
    # plain objects first, then pages: the size follows what the stream imports
    assert _stream(server, ["Plain", "Pages"]) == ([small, 1000, small], 6)

"""A full disk is 507 / RESOURCE_EXHAUSTED with a message saying so (never "internal error"), logged
without a traceback, and the server keeps serving reads. The store's own disk-full atomicity is tested
in tests/store; here the store's ``StorageFullError`` is injected at the write step the server calls."""

from __future__ import annotations

import errno
import logging

import grpc
import httpx
import numpy as np
import pytest
from weaviate.proto.v1 import batch_pb2, weaviate_pb2_grpc

from colweave.server.weaviate_wire import encode_multi_vector
from colweave.store import StorageFullError
from colweave.store.collection import Collection

SCHEMA = {
    "class": "Docs",
    "properties": [{"name": "title", "dataType": ["text"]}],
    "vectorConfig": {
        "colbert": {
            "vectorizer": {"none": {}},
            "vectorIndexType": "hnsw",
            "vectorIndexConfig": {"multivector": {"enabled": True}},
        }
    },
}


def full(*_a: object, **_k: object) -> None:
    raise StorageFullError("appending to segment colbert.f16: [Errno 28] No space left on device")


def raw_enospc(*_a: object, **_k: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def grpc_obj() -> batch_pb2.BatchObject:
    props = batch_pb2.BatchObject.Properties()
    props.non_ref_properties.update({"title": "x"})
    return batch_pb2.BatchObject(
        collection="Docs",
        properties=props,
        vectors=[encode_multi_vector("colbert", np.ones((2, 4), np.float32))],
    )


@pytest.mark.parametrize("fault", [full, raw_enospc], ids=["StorageFullError", "raw ENOSPC"])
def test_disk_full_is_507_and_resource_exhausted(make_server, tmp_path, monkeypatch, caplog, fault) -> None:
    s = make_server(data_dir=tmp_path / "data")
    assert httpx.post(f"{s.http}/v1/schema", json=SCHEMA).status_code == 200
    vec = {"colbert": [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]}
    r = httpx.post(
        f"{s.http}/v1/objects", json={"class": "Docs", "properties": {"title": "a"}, "vectors": vec}
    )
    assert r.status_code == 200
    kept = r.json()["id"]
    monkeypatch.setattr(Collection, "insert_many", fault)
    monkeypatch.setattr(Collection, "insert", fault)
    caplog.set_level(logging.INFO)
    caplog.clear()

    r = httpx.post(
        f"{s.http}/v1/objects", json={"class": "Docs", "properties": {"title": "b"}, "vectors": vec}
    )
    assert r.status_code == 507, r.text
    assert "disk full" in r.json()["error"][0]["message"]
    r = httpx.post(
        f"{s.http}/v1/batch/objects",
        json={"objects": [{"class": "Docs", "properties": {"title": "c"}, "vectors": vec}]},
    )
    assert r.status_code == 507, r.text
    assert "disk full" in r.json()["error"][0]["message"]

    R = batch_pb2.BatchStreamRequest
    with grpc.insecure_channel(s.grpc) as ch:
        stub = weaviate_pb2_grpc.WeaviateStub(ch)
        with pytest.raises(grpc.RpcError) as e:
            stub.BatchObjects(batch_pb2.BatchObjectsRequest(objects=[grpc_obj()]), timeout=10)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "disk full" in e.value.details()
        replies = list(
            stub.BatchStream(
                iter(
                    [
                        R(start=R.Start()),
                        R(data=R.Data(objects=R.Data.Objects(values=[grpc_obj(), grpc_obj()]))),
                        R(stop=R.Stop()),
                    ]
                ),
                timeout=10,
            )
        )
    errors = [x.error for r in replies if r.HasField("results") for x in r.results.errors]
    assert len(errors) == 2
    assert all("disk full" in m for m in errors), errors

    # Reads keep working; nothing was logged with a traceback.
    r = httpx.get(f"{s.http}/v1/objects/Docs/{kept}")
    assert r.status_code == 200
    assert httpx.get(f"{s.http}/v1/objects", params={"class": "Docs"}).json()["totalResults"] == 1
    assert not [rec for rec in caplog.records if rec.exc_info], [rec.getMessage() for rec in caplog.records]

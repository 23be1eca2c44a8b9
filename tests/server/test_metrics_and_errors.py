"""/metrics needs a key when keys are configured and does no store work per scrape; unexpected exceptions
are logged with their traceback and answered 500 / INTERNAL, expected ones never log a traceback."""

from __future__ import annotations

import logging

import grpc
import httpx
import numpy as np
import pytest
from weaviate.proto.v1 import batch_pb2, search_get_pb2, weaviate_pb2_grpc

from colweave.server.weaviate_wire import encode_multi_vector
from colweave.store.collection import Collection
from colweave.store.store import Store

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
VEC = {"colbert": [[1.0, 0.0, 0.0, 0.0]]}


def boom(*_a: object, **_k: object) -> None:
    raise RuntimeError("boom: an unexpected bug")


def test_metrics_need_a_key_and_do_no_store_work(make_server, tmp_path, monkeypatch) -> None:
    s = make_server(data_dir=tmp_path / "data", api_keys=("sekret",))
    auth = {"authorization": "Bearer sekret"}
    assert httpx.post(f"{s.http}/v1/schema", json=SCHEMA, headers=auth).status_code == 200
    for i in range(3):
        r = httpx.post(
            f"{s.http}/v1/objects",
            json={"class": "Docs", "properties": {"title": f"t{i}"}, "vectors": VEC},
            headers=auth,
        )
        assert r.status_code == 200, r.text
    assert httpx.get(f"{s.http}/metrics").status_code == 401
    assert httpx.get(f"{s.http}/metrics", headers={"authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(f"{s.http}/v1/.well-known/ready").status_code == 200  # probes stay open

    # A scrape touches no store method at all.
    monkeypatch.setattr(Store, "list_collections", boom)
    monkeypatch.setattr(Store, "get_collection", boom)
    monkeypatch.setattr(Collection, "__len__", boom)
    r = httpx.get(f"{s.http}/metrics", headers=auth)
    assert r.status_code == 200
    assert 'colweave_objects_stored{collection="Docs"} 3.0' in r.text


def test_unexpected_errors_log_a_traceback_and_expected_ones_do_not(
    make_server, tmp_path, monkeypatch, caplog
) -> None:
    s = make_server(data_dir=tmp_path / "data")
    assert httpx.post(f"{s.http}/v1/schema", json=SCHEMA).status_code == 200
    r = httpx.post(
        f"{s.http}/v1/objects", json={"class": "Docs", "properties": {"title": "a"}, "vectors": VEC}
    )
    oid = r.json()["id"]
    caplog.set_level(logging.DEBUG)

    # Expected: validation, unknown collection / object, bad names, overload-free paths.
    caplog.clear()
    expected = [
        ("POST", "/v1/objects", {"class": "../x"}, 422),
        ("POST", "/v1/batch/objects", {"objects": [{"class": "./Docs"}]}, 200),
        ("GET", "/v1/objects?class=Docs&offset=-5", None, 422),
        ("GET", f"/v1/objects/Nope/{oid}", None, 404),
        ("GET", "/v1/objects/Docs/{" + oid + "}", None, 422),
        ("POST", "/v1/objects", {"class": "Docs", "properties": {"title": 5}, "vectors": VEC}, 422),
        ("POST", "/v1/schema", b"{not json", 400),
    ]
    for method, path, body, want in expected:
        content = body if isinstance(body, bytes) else None
        r = httpx.request(method, s.http + path, json=None if content else body, content=content)
        assert r.status_code == want, (path, r.status_code, r.text)
    with grpc.insecure_channel(s.grpc) as ch:
        stub = weaviate_pb2_grpc.WeaviateStub(ch)
        for coll in ("../x", "Nope"):
            with pytest.raises(grpc.RpcError) as e:
                stub.Search(search_get_pb2.SearchRequest(collection=coll, uses_127_api=True), timeout=10)
            assert e.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
        props = batch_pb2.BatchObject.Properties()
        reply = stub.BatchObjects(
            batch_pb2.BatchObjectsRequest(objects=[batch_pb2.BatchObject(properties=props)]), timeout=10
        )
        assert len(reply.errors) == 1
    assert not [x for x in caplog.records if x.exc_info], [x.getMessage() for x in caplog.records]

    # Unexpected: a bug in the store is 500 / INTERNAL, logged once with its traceback.
    monkeypatch.setattr(Collection, "get", boom)
    monkeypatch.setattr(Collection, "fetch_objects", boom)
    caplog.clear()
    r = httpx.get(f"{s.http}/v1/objects/Docs/{oid}")
    assert r.status_code == 500
    assert r.json()["error"][0]["message"] == "internal error (see the server log)"
    with grpc.insecure_channel(s.grpc) as ch:
        with pytest.raises(grpc.RpcError) as e:
            weaviate_pb2_grpc.WeaviateStub(ch).Search(
                search_get_pb2.SearchRequest(collection="Docs", uses_127_api=True), timeout=10
            )
        assert e.value.code() == grpc.StatusCode.INTERNAL
    traced = [x for x in caplog.records if x.exc_info]
    assert len(traced) == 2, [x.getMessage() for x in caplog.records]
    assert all("boom" in str(x.exc_info[1]) for x in traced)


def test_a_bad_batch_stream_object_does_not_log_a_traceback(make_server, tmp_path, caplog) -> None:
    s = make_server(data_dir=tmp_path / "data")
    assert httpx.post(f"{s.http}/v1/schema", json=SCHEMA).status_code == 200
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    R = batch_pb2.BatchStreamRequest
    props = batch_pb2.BatchObject.Properties()
    objs = [
        batch_pb2.BatchObject(collection="Docs/..", properties=props),
        batch_pb2.BatchObject(
            collection="Docs",
            properties=props,
            vectors=[encode_multi_vector("colbert", np.ones((1, 4), np.float32))],
        ),
    ]
    with grpc.insecure_channel(s.grpc) as ch:
        replies = list(
            weaviate_pb2_grpc.WeaviateStub(ch).BatchStream(
                iter(
                    [
                        R(start=R.Start()),
                        R(data=R.Data(objects=R.Data.Objects(values=objs))),
                        R(stop=R.Stop()),
                    ]
                ),
                timeout=10,
            )
        )
    errors = [x.error for r in replies if r.HasField("results") for x in r.results.errors]
    successes = [x for r in replies if r.HasField("results") for x in r.results.successes]
    assert len(errors) == 1
    assert "collection name" in errors[0]
    assert len(successes) == 1
    assert not [x for x in caplog.records if x.exc_info]

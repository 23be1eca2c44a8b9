"""Weaviate's REST subset, request by request, as the client and curl users send it."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
import weaviate
from tests.server.conftest import HashModel, start_server
from weaviate.classes.config import Configure
from weaviate.classes.init import Auth


@pytest.fixture
def server(tmp_path):
    s = start_server(HashModel(), data_dir=tmp_path / "data")
    yield s
    s.stop()


def j(r: httpx.Response):
    return r.json() if r.content else None


def test_schema_and_objects_crud(server) -> None:
    base = server.http
    schema = {
        "class": "articles",  # the first letter is upper-cased, as in Weaviate
        "properties": [{"name": "title", "dataType": ["text"], "skip_vectorization": False}],
        "vectorConfig": {
            "colbert": {
                "vectorizer": {"none": {}},
                "vectorIndexType": "hnsw",
                "vectorIndexConfig": {"multivector": {"enabled": True}},
            }
        },
    }
    r = httpx.post(f"{base}/v1/schema", content=json.dumps(schema))
    assert r.status_code == 200, r.text
    assert r.json()["class"] == "Articles"
    assert httpx.post(f"{base}/v1/schema", content=json.dumps(schema)).status_code == 422  # exists
    got = httpx.get(f"{base}/v1/schema/Articles").json()
    assert got["vectorConfig"]["colbert"]["vectorIndexConfig"]["multivector"]["enabled"] is True
    assert got["invertedIndexConfig"]["bm25"] == {"b": 0.75, "k1": 1.2}
    assert [c["class"] for c in httpx.get(f"{base}/v1/schema").json()["classes"]] == ["Articles"]
    r = httpx.post(
        f"{base}/v1/schema/Articles/properties", content=json.dumps({"name": "year", "dataType": ["int"]})
    )
    assert r.status_code == 200, r.text
    assert "year" in {p["name"] for p in httpx.get(f"{base}/v1/schema/Articles").json()["properties"]}

    oid = str(uuid.uuid4())
    body = {
        "class": "Articles",
        "id": oid,
        "properties": {"title": "first", "year": 1999},
        "vectors": {"colbert": [[1.0, 0.0], [0.0, 1.0]]},
    }
    r = httpx.post(f"{base}/v1/objects", content=json.dumps(body))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == oid
    assert httpx.head(f"{base}/v1/objects/Articles/{oid}").status_code == 204
    assert httpx.head(f"{base}/v1/objects/Articles/{uuid.uuid4()}").status_code == 404
    obj = httpx.get(f"{base}/v1/objects/Articles/{oid}", params={"include": "vector"}).json()
    assert obj["properties"] == {"title": "first", "year": 1999}
    assert obj["vectors"]["colbert"] == [[1.0, 0.0], [0.0, 1.0]]
    assert obj["creationTimeUnix"] <= obj["lastUpdateTimeUnix"]
    r = httpx.patch(f"{base}/v1/objects/Articles/{oid}", content=json.dumps({"properties": {"year": 2000}}))
    assert r.status_code == 204
    assert httpx.get(f"{base}/v1/objects/Articles/{oid}").json()["properties"] == {
        "title": "first",
        "year": 2000,
    }
    r = httpx.put(f"{base}/v1/objects/Articles/{oid}", content=json.dumps({"properties": {"title": "only"}}))
    assert r.status_code == 200
    assert httpx.get(f"{base}/v1/objects/Articles/{oid}").json()["properties"] == {"title": "only"}
    r = httpx.patch(f"{base}/v1/objects/Articles/{uuid.uuid4()}", content=json.dumps({"properties": {}}))
    assert r.status_code == 404
    assert r.json()["error"][0]["message"]

    batch = {
        "objects": [
            {"class": "Articles", "properties": {"title": "b1"}, "vectors": {"colbert": [[1.0, 1.0]]}},
            {"class": "Articles", "properties": {"title": 5}, "vectors": {"colbert": [[1.0, 1.0]]}},
            {"class": "Nope", "properties": {"title": "x"}},
            {"properties": {"title": "no class"}},
        ]
    }
    r = httpx.post(f"{base}/v1/batch/objects", content=json.dumps(batch))
    assert r.status_code == 200
    res = r.json()
    assert res[0]["result"] == {}
    assert uuid.UUID(res[0]["id"])
    for i in (1, 2, 3):
        assert res[i]["result"]["errors"]["error"][0]["message"], i
    listed = httpx.get(f"{base}/v1/objects", params={"class": "Articles", "limit": 10}).json()
    assert {o["properties"]["title"] for o in listed["objects"]} == {"only", "b1"}
    first = httpx.get(f"{base}/v1/objects", params={"class": "Articles", "limit": 1}).json()["objects"]
    after = httpx.get(
        f"{base}/v1/objects", params={"class": "Articles", "limit": 5, "after": first[0]["id"]}
    ).json()
    assert len(first) == 1
    assert len(after["objects"]) == 1
    assert after["objects"][0]["id"] > first[0]["id"]

    where = {"path": ["title"], "operator": "Equal", "valueText": "b1"}
    dry = httpx.request(
        "DELETE",
        f"{base}/v1/batch/objects",
        content=json.dumps(
            {"match": {"class": "Articles", "where": where}, "dryRun": True, "output": "verbose"}
        ),
    )
    assert dry.status_code == 200, dry.text
    assert dry.json()["results"]["matches"] == 1
    assert dry.json()["results"]["successful"] == 0
    metrics = httpx.get(f"{base}/metrics").text
    assert 'colweave_objects_stored{collection="Articles"} 2.0' in metrics

    gone = httpx.request(
        "DELETE",
        f"{base}/v1/batch/objects",
        content=json.dumps({"match": {"class": "Articles", "where": where}}),
    )
    assert gone.json()["results"]["successful"] == 1
    assert httpx.delete(f"{base}/v1/objects/Articles/{oid}").status_code == 204
    assert httpx.delete(f"{base}/v1/objects/Articles/{oid}").status_code == 404
    assert httpx.delete(f"{base}/v1/schema/Articles").status_code == 200
    assert httpx.delete(f"{base}/v1/schema/Articles").status_code == 200  # idempotent
    assert httpx.get(f"{base}/v1/schema/Articles").status_code == 404


def test_api_keys_with_the_weaviate_client(tmp_path) -> None:
    s = start_server(HashModel(), data_dir=tmp_path / "data", api_keys=("the-key",))
    try:
        http_port = int(s.http.rsplit(":", 1)[1])
        grpc_port = int(s.grpc.rsplit(":", 1)[1])
        with weaviate.connect_to_local(
            port=http_port, grpc_port=grpc_port, auth_credentials=Auth.api_key("the-key")
        ) as client:
            client.collections.create(
                name="Secured", vector_config=[Configure.MultiVectors.self_provided(name="colbert")]
            )
            assert client.collections.get("Secured").query.fetch_objects().objects == []
        with pytest.raises(weaviate.exceptions.WeaviateBaseError):
            weaviate.connect_to_local(
                port=http_port, grpc_port=grpc_port, auth_credentials=Auth.api_key("wrong")
            ).collections.list_all()
        assert httpx.get(f"{s.http}/v1/schema").status_code == 401
    finally:
        s.stop()

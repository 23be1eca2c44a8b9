"""Collection aliases (Weaviate >= 1.32) through the real weaviate-client and raw REST against a real colweave
server: ``client.alias`` (create, list, get, update, delete, exists), Weaviate's status codes and messages
(quoted from its alias handlers and usecases), an alias resolving to its collection on the data plane (REST
objects, batches and the schema's GET; gRPC searches, aggregates, batch inserts and deletes) but not for
schema changes, and aliases surviving a restart."""

from __future__ import annotations

import uuid

import httpx
from tests.server.conftest import HashModel, start_server
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter

U = [uuid.UUID(f"00000000-0000-4000-8000-{i:012d}") for i in range(10)]


def _books(client, name="Books"):
    return client.collections.create(
        name,
        vectorizer_config=Configure.Vectorizer.none(),
        properties=[Property(name="title", data_type=DataType.TEXT)],
    )


def test_alias_lifecycle_through_the_client(served) -> None:
    _, client = served
    _books(client, "Books")
    _books(client, "Papers")
    client.alias.create(alias_name="Library", target_collection="Books")
    client.alias.create(alias_name="shelf", target_collection="Papers")  # first letter upper-cased

    every = client.alias.list_all()
    assert {a: (r.alias, r.collection) for a, r in every.items()} == {
        "Library": ("Library", "Books"),
        "Shelf": ("Shelf", "Papers"),
    }
    assert list(client.alias.list_all(collection="Papers")) == ["Shelf"]
    assert client.alias.list_all(collection="Nothing") == {}
    got = client.alias.get(alias_name="library")  # the first letter's case does not matter
    assert got is not None
    assert (got.alias, got.collection) == ("Library", "Books")
    assert client.alias.get(alias_name="Nothing") is None
    assert client.alias.exists(alias_name="Library")
    assert not client.alias.exists(alias_name="Nothing")

    assert client.alias.update(alias_name="Library", new_target_collection="Papers")
    got = client.alias.get(alias_name="Library")
    assert got is not None
    assert got.collection == "Papers"
    assert not client.alias.update(alias_name="Nothing", new_target_collection="Papers")  # 404

    assert client.alias.delete(alias_name="Library")
    assert not client.alias.delete(alias_name="Library")  # 404 the second time
    assert list(client.alias.list_all()) == ["Shelf"]


def test_alias_errors_are_weaviates(served) -> None:
    s, client = served
    _books(client, "Books")
    _books(client, "Papers")
    with httpx.Client(base_url=s.http) as http:

        def create(body):
            return http.post("/v1/aliases", json=body)

        def message(r):
            return r.json()["error"][0]["message"]

        r = create({"alias": "Shelf", "class": "Books"})
        assert r.status_code == 200
        assert r.json() == {"alias": "Shelf", "class": "Books"}
        for bad in ("invalid_alias_!#", "", "a" * 256):
            r = create({"alias": bad, "class": "Books"})
            assert r.status_code == 422, bad
            assert "is not a valid alias name" in message(r), bad
        r = create({"alias": "Other", "class": "Nothing"})
        assert r.status_code == 422
        assert message(r) == 'target class "Nothing" does not exist'
        r = create({"alias": "Shelf", "class": "Papers"})
        assert r.status_code == 422
        assert message(r) == "create alias: Shelf, alias already exists"
        r = create({"alias": "shelf", "class": "Papers"})  # the same alias, first letter upper-cased
        assert r.status_code == 422
        assert message(r) == "create alias: Shelf, alias already exists"
        r = create({"alias": "Books", "class": "Papers"})
        assert r.status_code == 422
        assert message(r) == "create alias: class Books already exists"

        # A collection may not take an alias's name.
        r = http.post("/v1/schema", json={"class": "Shelf", "vectorizer": "none"})
        assert r.status_code == 422
        assert "alias name Shelf already exists" in message(r)

        r = http.put("/v1/aliases/Shelf", json={"class": "Nothing"})
        assert r.status_code == 422
        assert message(r) == 'target class "Nothing" does not exist'
        assert http.put("/v1/aliases/Books", json={"class": "Papers"}).status_code == 404  # not an alias
        assert http.get("/v1/aliases/Shelf").json() == {"alias": "Shelf", "class": "Books"}  # unchanged
        assert http.delete("/v1/aliases/Nothing").status_code == 404

        # Schema changes do not go through an alias: deleting one is a no-op on its collection (200, as
        # Weaviate answers a delete of a missing class), changing or extending one is refused.
        assert http.delete("/v1/schema/Shelf").status_code == 200
        assert client.collections.exists("Books")
        r = http.post("/v1/schema/Shelf/properties", json={"name": "year", "dataType": ["int"]})
        assert r.status_code == 404
        assert "year" not in [p.name for p in client.collections.get("Books").config.get().properties]
        assert http.get("/v1/schema/Shelf").json()["class"] == "Books"  # reading resolves it

        # Deleting the collection leaves its alias, pointing nowhere (Weaviate keeps it too).
        client.collections.delete("Books")
        assert http.get("/v1/aliases/Shelf").json() == {"alias": "Shelf", "class": "Books"}
        r = http.post("/v1/objects", json={"class": "Shelf", "properties": {"title": "x"}})
        assert r.status_code == 404
        assert "points to collection 'Books' which does not exist" in message(r)
        assert not client.collections.exists("Books")  # the write did not create it


def test_alias_resolves_on_the_data_plane(served) -> None:
    s, client = served
    books = _books(client, "Books")
    client.alias.create(alias_name="Library", target_collection="Books")
    lib = client.collections.get("Library")

    # gRPC batch insert and REST insert through the alias land in the collection.
    res = lib.data.insert_many(
        [DataObject({"title": "first"}, uuid=U[1]), DataObject({"title": "second"}, uuid=U[2])]
    )
    assert not res.has_errors
    lib.data.insert({"title": "third"}, uuid=U[3])
    assert sorted(str(o.uuid) for o in books.query.fetch_objects().objects) == [str(u) for u in U[1:4]]

    # gRPC searches, fetches by id and aggregates through the alias.
    hits = lib.query.bm25("second")
    assert [o.uuid for o in hits.objects] == [U[2]]
    assert lib.query.fetch_object_by_id(U[1]).properties["title"] == "first"
    assert lib.aggregate.over_all(total_count=True).total_count == 3
    got = lib.query.fetch_objects(filters=Filter.by_property("title").equal("third")).objects
    assert [o.uuid for o in got] == [U[3]]

    with httpx.Client(base_url=s.http) as http:
        r = http.get(f"/v1/objects/Library/{U[1]}")
        # However the object is reached, its class is the collection's (Weaviate's acceptance tests).
        assert r.status_code == 200
        assert r.json()["class"] == "Books"
        r = http.get("/v1/objects", params={"class": "Library"})
        assert sorted(o["id"] for o in r.json()["objects"]) == [str(u) for u in U[1:4]]
        r = http.patch(f"/v1/objects/Library/{U[1]}", json={"properties": {"title": "patched"}})
        assert r.status_code == 204
        assert books.query.fetch_object_by_id(U[1]).properties["title"] == "patched"

    # gRPC batch delete through the alias.
    out = lib.data.delete_many(where=Filter.by_property("title").equal("second"))
    assert out.successful == 1
    assert sorted(str(o.uuid) for o in books.query.fetch_objects().objects) == [str(U[1]), str(U[3])]
    lib.data.delete_by_id(U[3])
    assert [o.uuid for o in books.query.fetch_objects().objects] == [U[1]]


def test_aliases_survive_a_restart(served, tmp_path) -> None:
    s, client = served
    _books(client, "Books")
    client.alias.create(alias_name="Library", target_collection="Books")
    client.alias.create(alias_name="Shelf", target_collection="Books")
    client.alias.delete(alias_name="Shelf")
    client.close()
    s.stop()
    s2 = start_server(HashModel(), data_dir=tmp_path / "data")
    try:
        with httpx.Client(base_url=s2.http) as http:
            assert http.get("/v1/aliases").json() == {"aliases": [{"alias": "Library", "class": "Books"}]}
            r = http.post("/v1/objects", json={"class": "Library", "properties": {"title": "kept"}})
            assert r.status_code == 200
            assert r.json()["class"] == "Books"
    finally:
        s2.stop()

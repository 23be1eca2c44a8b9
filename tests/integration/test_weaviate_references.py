"""Cross-references and sorting through the real weaviate-client against a real colweave server: reference
properties in the schema, adding / replacing / deleting references over REST (single and batch) and gRPC
(inserts, batch streams), returning them with ``return_references`` (nested, multi-target), filters on
them (``Filter.by_ref_count``, ``Filter.by_ref``), dangling references, and ``sort=`` on fetches.

The expected values are Weaviate's documented behaviour (its handlers' rules and messages, quoted in the
assertions) and orders written out by hand from the rules in ``colweave.store.sorting``'s docstring
(Weaviate's sorter comparators)."""

from __future__ import annotations

import datetime as dt
import uuid

import grpc
import httpx
import pytest
import weaviate
from tests.integration.serve_process import serve
from tests.server.conftest import HashModel, start_server
from weaviate.classes.config import Configure, DataType, Property, ReferenceProperty
from weaviate.classes.data import DataObject, DataReference
from weaviate.classes.query import Filter, MetadataQuery, QueryReference, Sort
from weaviate.collections.classes.internal import ReferenceToMulti
from weaviate.exceptions import UnexpectedStatusCodeError, WeaviateQueryError
from weaviate.proto.v1 import base_search_pb2, batch_pb2, search_get_pb2, weaviate_pb2_grpc

from colweave.store import Store

U = [uuid.UUID(f"00000000-0000-4000-8000-{i:012d}") for i in range(20)]


def _none(client, name, **kw):
    return client.collections.create(name, vectorizer_config=Configure.Vectorizer.none(), **kw)


def _pages(client):
    """Target (text, int) with two objects, Source (name) referencing it."""
    target = _none(
        client,
        "Target",
        properties=[
            Property(name="text", data_type=DataType.TEXT),
            Property(name="num", data_type=DataType.INT),
        ],
    )
    target.data.insert({"text": "first", "num": 1}, uuid=U[1])
    target.data.insert({"text": "second", "num": 15}, uuid=U[2])
    source = _none(
        client,
        "Source",
        properties=[Property(name="name", data_type=DataType.TEXT)],
        references=[ReferenceProperty(name="ref", target_collection="Target")],
    )
    return target, source


def _ref_uuids(obj, prop="ref"):
    return [o.uuid for o in obj.references[prop].objects]


# -- schema --------------------------------------------------------------------------------------------


def test_reference_properties_round_trip_in_the_schema(served) -> None:
    s, client = served
    _none(client, "Alpha")
    _none(client, "Beta")
    _none(
        client,
        "Gamma",
        properties=[Property(name="title", data_type=DataType.TEXT)],
        references=[
            ReferenceProperty(name="one", target_collection="alpha"),  # first letter upper-cased
            ReferenceProperty.MultiTarget(name="many", target_collections=["Alpha", "Beta"]),
            ReferenceProperty(name="self", target_collection="Gamma"),  # a collection may reference itself
        ],
    )
    body = httpx.get(f"{s.http}/v1/schema/Gamma", timeout=10).json()
    props = {p["name"]: p for p in body["properties"]}
    assert props["one"]["dataType"] == ["Alpha"]
    assert props["many"]["dataType"] == ["Alpha", "Beta"]
    assert props["self"]["dataType"] == ["Gamma"]
    assert props["one"]["indexFilterable"] is True
    assert props["one"]["indexSearchable"] is False
    cfg = client.collections.use("Gamma").config.get()
    refs = {r.name: r.target_collections for r in cfg.references}
    assert refs == {"one": ["Alpha"], "many": ["Alpha", "Beta"], "self": ["Gamma"]}
    assert [p.name for p in cfg.properties] == ["title"]
    # add_reference (POST /v1/schema/{class}/properties) also round-trips
    client.collections.use("Alpha").config.add_reference(
        ReferenceProperty(name="back", target_collection="Gamma")
    )
    cfg = client.collections.use("Alpha").config.get()
    assert {r.name: r.target_collections for r in cfg.references} == {"back": ["Gamma"]}


def test_a_reference_to_a_collection_that_does_not_exist_is_refused(served) -> None:
    _s, client = served
    with pytest.raises(UnexpectedStatusCodeError) as e:
        _none(client, "Orphan", references=[ReferenceProperty(name="ref", target_collection="Nowhere")])
    assert e.value.status_code == 422
    assert "reference property to nonexistent class" in e.value.message
    assert not client.collections.exists("Orphan")
    coll = _none(client, "Lonely")
    with pytest.raises(UnexpectedStatusCodeError) as e:
        coll.config.add_reference(ReferenceProperty(name="ref", target_collection="Nowhere"))
    assert "reference property to nonexistent class" in e.value.message
    assert coll.config.get().references == []


# -- writing references ------------------------------------------------------------------------------


def test_references_added_replaced_and_deleted_are_returned_in_order(served) -> None:
    _, client = served
    _target, source = _pages(client)
    a = source.data.insert({"name": "a"}, references={"ref": U[1]}, uuid=U[10])  # REST insert
    source.data.reference_add(from_uuid=a, from_property="ref", to=U[2])
    source.data.reference_add(from_uuid=a, from_property="ref", to=str(U[1]))  # duplicates are kept
    obj = source.query.fetch_object_by_id(
        a, return_references=QueryReference(link_on="ref", return_properties=["text", "num"])
    )
    assert _ref_uuids(obj) == [U[1], U[2], U[1]]
    assert [o.properties for o in obj.references["ref"].objects] == [
        {"text": "first", "num": 1},
        {"text": "second", "num": 15},
        {"text": "first", "num": 1},
    ]
    assert all(o.collection == "Target" for o in obj.references["ref"].objects)
    # delete removes every copy of the beacon
    source.data.reference_delete(from_uuid=a, from_property="ref", to=U[1])
    obj = source.query.fetch_object_by_id(a, return_references=QueryReference(link_on="ref"))
    assert _ref_uuids(obj) == [U[2]]
    source.data.reference_replace(from_uuid=a, from_property="ref", to=[U[2], U[1]])
    obj = source.query.fetch_object_by_id(a, return_references=QueryReference(link_on="ref"))
    assert _ref_uuids(obj) == [U[2], U[1]]
    # replacing with nothing leaves the property present and empty
    source.data.reference_replace(from_uuid=a, from_property="ref", to=[])
    obj = source.query.fetch_object_by_id(a, return_references=QueryReference(link_on="ref"))
    assert obj.references["ref"].objects == []
    # an object that never had the property has no entry at all
    b = source.data.insert({"name": "b"})
    obj = source.query.fetch_object_by_id(b, return_references=QueryReference(link_on="ref"))
    assert obj.references == {}


def test_each_reference_write_sets_the_last_update_time(served) -> None:
    _, client = served
    _, source = _pages(client)
    a = source.data.insert({"name": "a"})
    before = source.query.fetch_object_by_id(a)
    source.data.reference_add(from_uuid=a, from_property="ref", to=U[1])
    after = source.query.fetch_object_by_id(a)
    assert after.metadata.last_update_time >= before.metadata.last_update_time
    assert after.metadata.creation_time == before.metadata.creation_time


def test_rest_get_object_returns_beacons_with_hrefs(served) -> None:
    s, client = served
    _, source = _pages(client)
    source.data.insert({"name": "a"}, references={"ref": [U[2], U[1]]}, uuid=U[10])
    body = httpx.get(f"{s.http}/v1/objects/Source/{U[10]}", timeout=10).json()
    assert body["properties"]["name"] == "a"
    assert body["properties"]["ref"] == [
        {"beacon": f"weaviate://localhost/Target/{U[2]}", "href": f"/v1/objects/Target/{U[2]}"},
        {"beacon": f"weaviate://localhost/Target/{U[1]}", "href": f"/v1/objects/Target/{U[1]}"},
    ]
    listed = httpx.get(f"{s.http}/v1/objects", params={"class": "Source"}, timeout=10).json()
    assert listed["objects"][0]["properties"]["ref"][0]["beacon"] == f"weaviate://localhost/Target/{U[2]}"


def test_batch_references_over_rest_and_the_batch_stream(served) -> None:
    _, client = served
    _target, source = _pages(client)
    src = [source.data.insert({"name": f"s{i}"}, uuid=U[10 + i]) for i in range(3)]
    ret = source.data.reference_add_many(  # POST /v1/batch/references
        [DataReference(from_property="ref", from_uuid=src[i], to_uuid=U[1 + i % 2]) for i in range(3)]
        + [DataReference(from_property="ref", from_uuid=src[0], to_uuid=[U[2], U[1]])]
    )
    assert not ret.has_errors
    with client.batch.fixed_size(batch_size=10) as batch:  # the gRPC batch stream
        batch.add_reference(from_uuid=src[2], from_collection="Source", from_property="ref", to=U[1])
    assert client.batch.failed_references == []
    got = {
        o.uuid: _ref_uuids(o)
        for o in source.query.fetch_objects(return_references=QueryReference(link_on="ref")).objects
    }
    assert got == {src[0]: [U[1], U[2], U[1]], src[1]: [U[2]], src[2]: [U[1], U[1]]}


def test_batch_reference_errors_are_per_reference(served) -> None:
    _, client = served
    _, source = _pages(client)
    a = source.data.insert({"name": "a"})
    ret = source.data.reference_add_many(
        [
            DataReference(from_property="doesNotExist", from_uuid=a, to_uuid=U[1]),
            DataReference(from_property="ref", from_uuid=U[19], to_uuid=U[1]),  # no such source object
            DataReference(from_property="ref", from_uuid=a, to_uuid=U[2]),
        ]
    )
    assert ret.has_errors
    assert sorted(ret.errors) == [0, 1]
    assert "property doesNotExist does not exist for class Source" in ret.errors[0].message
    obj = source.query.fetch_object_by_id(a, return_references=QueryReference(link_on="ref"))
    assert _ref_uuids(obj) == [U[2]]


def test_insert_many_with_references_over_grpc(served) -> None:
    _, client = served
    one = _none(client, "One", properties=[Property(name="name", data_type=DataType.TEXT)])
    two = _none(client, "Two", properties=[Property(name="name", data_type=DataType.TEXT)])
    one.data.insert({"name": "o"}, uuid=U[1])
    two.data.insert({"name": "t"}, uuid=U[2])
    multi = _none(
        client,
        "Multi",
        references=[
            ReferenceProperty.MultiTarget(name="ref", target_collections=["One", "Two"]),
            ReferenceProperty(name="solo", target_collection="One"),
        ],
    )
    ret = multi.data.insert_many(
        [
            DataObject(
                properties={},
                uuid=U[10],
                references={"ref": ReferenceToMulti(target_collection="Two", uuids=U[2]), "solo": [U[1]]},
            ),
            DataObject(
                properties={},
                uuid=U[11],
                references={"ref": ReferenceToMulti(target_collection="One", uuids=U[1])},
            ),
        ]
    )
    assert not ret.has_errors
    obj = multi.query.fetch_object_by_id(
        U[10],
        return_references=[
            QueryReference(link_on="ref", return_properties=["name"]),
            QueryReference(link_on="solo"),
        ],
    )
    assert [(o.collection, o.properties["name"]) for o in obj.references["ref"].objects] == [("Two", "t")]
    assert _ref_uuids(obj, "solo") == [U[1]]
    # a multi-target query reference returns only the objects of its target collection
    rows = multi.query.fetch_objects(
        return_references=QueryReference.MultiTarget(link_on="ref", target_collection="One")
    ).objects
    got = {o.uuid: _ref_uuids(o) for o in rows}
    assert got == {U[10]: [], U[11]: [U[1]]}


def test_nested_references_with_metadata_over_a_search(served) -> None:
    _, client = served
    a = _none(client, "A", properties=[Property(name="name", data_type=DataType.TEXT)])
    a1 = a.data.insert({"name": "A1"})
    b = _none(
        client,
        "B",
        properties=[Property(name="name", data_type=DataType.TEXT)],
        references=[ReferenceProperty(name="a", target_collection="A")],
    )
    b1 = b.data.insert({"name": "B"}, references={"a": a1})
    c = _none(
        client,
        "C",
        properties=[Property(name="name", data_type=DataType.TEXT)],
        references=[ReferenceProperty(name="b", target_collection="B")],
    )
    c.data.insert({"name": "find me"}, references={"b": b1})
    objs = c.query.bm25(
        query="find",
        return_properties="name",
        return_references=QueryReference(
            link_on="b",
            return_properties="name",
            return_metadata=MetadataQuery(last_update_time=True),
            return_references=QueryReference(link_on="a", return_properties="name"),
        ),
    ).objects
    assert objs[0].properties == {"name": "find me"}
    rb = objs[0].references["b"].objects[0]
    assert (rb.collection, rb.uuid, rb.properties) == ("B", b1, {"name": "B"})
    assert isinstance(rb.metadata.last_update_time, dt.datetime)
    ra = rb.references["a"].objects[0]
    assert (ra.collection, ra.uuid, ra.properties) == ("A", a1, {"name": "A1"})


def test_bad_references_are_refused_and_change_nothing(served) -> None:
    s, client = served
    _target, source = _pages(client)
    other = _none(client, "Other")
    other.data.insert({}, uuid=U[5])
    a = source.data.insert({"name": "a"}, references={"ref": U[1]})
    url = f"{s.http}/v1/objects/Source/{a}/references/ref"
    cases = [
        ({"beacon": "weaviate://localhost/Target/not-a-uuid"}, "path segment must be uuid"),
        ({"beacon": f"weaviate://elsewhere/Target/{U[2]}"}, "unrecognized cross-ref ref format"),
        ({"beacon": f"weaviate://localhost/Target/{U[2]}/extra"}, "path must be of format '<class>/<uuid>'"),
        ({"beacon": f"weaviate://localhost/Target/{U[9]}"}, f"no object with id {U[9]} found"),
        ({"beacon": f"weaviate://localhost/Other/{U[5]}"}, "cannot reference collection 'Other'"),
        ({"href": "x"}, "beacon"),
    ]
    for body, msg in cases:
        r = httpx.post(url, json=body, timeout=10)
        assert r.status_code == 422, (body, r.text)
        assert msg in r.json()["error"][0]["message"], (body, r.text)
    r = httpx.post(
        f"{s.http}/v1/objects/Source/{U[19]}/references/ref",
        json={"beacon": f"weaviate://localhost/Target/{U[2]}"},
        timeout=10,
    )
    assert r.status_code == 404  # no such source object
    r = httpx.post(
        f"{s.http}/v1/objects/Source/{a}/references/name",
        json={"beacon": f"weaviate://localhost/Target/{U[2]}"},
        timeout=10,
    )
    assert r.status_code == 422
    assert "is not a reference-type" in r.text
    # inline references at insert: the target must exist (Weaviate's validation)
    with pytest.raises(UnexpectedStatusCodeError) as e:
        source.data.insert({"name": "x"}, references={"ref": U[9]})
    assert f"no object with id {U[9]} found" in e.value.message
    obj = source.query.fetch_object_by_id(a, return_references=QueryReference(link_on="ref"))
    assert _ref_uuids(obj) == [U[1]]
    assert len(source) == 1
    assert httpx.get(f"{s.http}/v1/.well-known/ready", timeout=10).status_code == 200


def test_a_deleted_target_leaves_a_dangling_beacon_that_is_skipped(served) -> None:
    s, client = served
    target, source = _pages(client)
    a = source.data.insert({"name": "a"}, references={"ref": [U[1], U[2]]})
    target.data.delete_by_id(U[1])
    obj = source.query.fetch_object_by_id(a, return_references=QueryReference(link_on="ref"))
    assert _ref_uuids(obj) == [U[2]]
    body = httpx.get(f"{s.http}/v1/objects/Source/{a}", timeout=10).json()
    assert [b["beacon"] for b in body["properties"]["ref"]] == [
        f"weaviate://localhost/Target/{U[1]}",
        f"weaviate://localhost/Target/{U[2]}",
    ]
    # the count still counts it, as Weaviate's count index does
    assert len(source.query.fetch_objects(filters=Filter.by_ref_count("ref").equal(2)).objects) == 1
    client.collections.delete("Target")  # the whole target collection
    obj = source.query.fetch_object_by_id(a, return_references=QueryReference(link_on="ref"))
    assert obj.references["ref"].objects == []


# -- filters -------------------------------------------------------------------------------------------


def _filter_fixture(client):
    _target, source = _pages(client)
    source.config.add_reference(ReferenceProperty(name="ref2", target_collection="Source"))
    s0 = source.data.insert({"name": "zero"}, uuid=U[10])
    s1 = source.data.insert({"name": "one"}, references={"ref": U[1]}, uuid=U[11])
    s2 = source.data.insert({"name": "two"}, references={"ref": [U[1], U[2]]}, uuid=U[12])
    s3 = source.data.insert({"name": "three"}, references={"ref2": s2}, uuid=U[13])
    return source, [s0, s1, s2, s3]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: Filter.by_ref_count("ref").equal(0), [0, 3]),
        (lambda: Filter.by_ref_count("ref").not_equal(1), [0, 2, 3]),
        (lambda: Filter.by_ref_count("ref").less_than(2), [0, 1, 3]),
        (lambda: Filter.by_ref_count("ref").greater_or_equal(1), [1, 2]),
        (lambda: Filter.by_ref("ref").by_property("num").greater_than(3), [2]),
        (lambda: Filter.by_ref("ref").by_property("text").equal("first"), [1, 2]),
        (lambda: Filter.by_ref("ref").by_id().equal(U[2]), [2]),
        (lambda: Filter.by_ref("ref2").by_ref("ref").by_property("num").equal(15), [3]),
        (lambda: Filter.by_ref("ref2").by_ref_count("ref").equal(2), [3]),
        (lambda: Filter.by_ref_multi_target("ref", "Target").by_property("num").equal(1), [1, 2]),
        (
            lambda: (
                Filter.by_ref("ref").by_property("num").equal(1) & Filter.by_property("name").equal("one")
            ),
            [1],
        ),
    ],
)
def test_reference_filters_over_grpc(served, make, expected) -> None:
    _, client = served
    source, ids = _filter_fixture(client)
    got = sorted(o.uuid for o in source.query.fetch_objects(filters=make()).objects)
    assert got == sorted(ids[i] for i in expected)
    # the same filter counts (aggregate) and deletes (batch delete, as a dry run) the same objects
    assert source.aggregate.over_all(filters=make(), total_count=True).total_count == len(expected)
    assert source.data.delete_many(where=make(), dry_run=True).matches == len(expected)


def test_reference_filter_errors(served) -> None:
    _, client = served
    source, _ = _filter_fixture(client)
    with pytest.raises(WeaviateQueryError, match="is not a cross-reference"):
        source.query.fetch_objects(filters=Filter.by_ref_count("name").equal(1))
    with pytest.raises(WeaviateQueryError, match="no such prop with name 'nope'"):
        source.query.fetch_objects(filters=Filter.by_ref("ref").by_property("nope").equal(1))


# -- durability ----------------------------------------------------------------------------------------


def test_references_survive_reopening_the_store(tmp_path) -> None:
    data = tmp_path / "data"
    s = start_server(HashModel(), data_dir=data)
    client = weaviate.connect_to_local(
        port=int(s.http.rsplit(":", 1)[1]), grpc_port=int(s.grpc.rsplit(":", 1)[1])
    )
    try:
        _, source = _pages(client)
        a = source.data.insert({"name": "a"}, references={"ref": U[1]})
        source.data.reference_add(from_uuid=a, from_property="ref", to=U[2])
    finally:
        client.close()
        s.stop()
    with Store(data) as store:
        coll = store.get_collection("Source")
        assert coll.config.property("ref").targets == ["Target"]
        got = coll.get(a)
        assert got is not None
        assert got.properties["ref"] == [
            f"weaviate://localhost/Target/{U[1]}",
            f"weaviate://localhost/Target/{U[2]}",
        ]


# -- sorting -------------------------------------------------------------------------------------------


def _sort_fixture(client):
    coll = _none(
        client,
        "Sorted",
        properties=[
            Property(name="text", data_type=DataType.TEXT),
            Property(name="num", data_type=DataType.NUMBER),
            Property(name="int", data_type=DataType.INT),
            Property(name="flag", data_type=DataType.BOOL),
            Property(name="when", data_type=DataType.DATE),
            Property(name="texts", data_type=DataType.TEXT_ARRAY),
            Property(name="nums", data_type=DataType.INT_ARRAY),
            Property(name="ident", data_type=DataType.UUID),
        ],
    )
    d = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    rows = [
        # 0: inserted with U[0] .. 4: U[4]; UUID order is the insertion index
        {
            "text": "banana",
            "num": 2.5,
            "int": 3,
            "flag": True,
            "when": d + dt.timedelta(days=2),
            "texts": ["b", "a"],
            "nums": [2, 1],
        },
        {"text": "Apple", "num": -1.0, "int": 3, "flag": False, "when": d, "texts": ["b"], "nums": [2]},
        {"text": "cherry", "int": 1, "flag": True, "texts": ["A", "z"], "nums": [1, 5, 0]},
        {
            "text": "apple",
            "num": 10.0,
            "int": 2,
            "flag": False,
            "when": d + dt.timedelta(hours=1),
            "nums": [2, 1, 0],
        },
        {"num": 0.0, "int": 1, "texts": ["a"]},
    ]
    for i, r in enumerate(rows):
        coll.data.insert(r, uuid=U[i])
    return coll


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        # text: case-insensitive ("Apple" == "apple": ties keep UUID order); missing first ascending
        (Sort.by_property("text"), [4, 1, 3, 0, 2]),
        (Sort.by_property("text", ascending=False), [2, 0, 1, 3, 4]),
        # number: missing (2) first ascending, last descending
        (Sort.by_property("num"), [2, 1, 4, 0, 3]),
        (Sort.by_property("num", ascending=False), [3, 0, 4, 1, 2]),
        # two keys: int, then text descending breaks the ties
        (Sort.by_property("int").by_property("text", ascending=False), [2, 4, 3, 0, 1]),
        # boolean: missing, false, true
        (Sort.by_property("flag"), [4, 1, 3, 0, 2]),
        # date: in time; missing first
        (Sort.by_property("when"), [2, 4, 1, 3, 0]),
        # arrays: element by element (text case-insensitively), then the shorter first
        (Sort.by_property("texts"), [3, 4, 2, 1, 0]),
        (Sort.by_property("nums"), [4, 2, 1, 0, 3]),
        (Sort.by_property("nums", ascending=False), [3, 0, 1, 2, 4]),
        (Sort.by_id(ascending=False), [4, 3, 2, 1, 0]),
    ],
)
def test_sort_follows_weaviates_order_for_each_type(served, sort, expected) -> None:
    _, client = served
    coll = _sort_fixture(client)
    got = [o.uuid for o in coll.query.fetch_objects(sort=sort).objects]
    assert got == [U[i] for i in expected]


@pytest.mark.parametrize("ascending", [True, False])
def test_sort_by_creation_and_update_time(served, ascending) -> None:
    _, client = served
    coll = _sort_fixture(client)
    coll.data.update(U[1], {"int": 4})  # object 1 is now the last one updated
    md = MetadataQuery(creation_time=True, last_update_time=True)
    every = coll.query.fetch_objects(return_metadata=md).objects  # UUID order
    for attr, sort in (
        ("creation_time", Sort.by_creation_time(ascending)),
        ("last_update_time", Sort.by_update_time(ascending)),
    ):
        # the expected order from the returned times: by time, ties in UUID order (a stable sort)
        want = sorted(
            every, key=lambda o, a=attr: getattr(o.metadata, a).timestamp() * (1 if ascending else -1)
        )
        got = coll.query.fetch_objects(sort=sort).objects
        assert [o.uuid for o in got] == [o.uuid for o in want], attr
    assert coll.query.fetch_objects(sort=Sort.by_update_time(False), limit=1).objects[0].uuid == U[1]


def test_sort_with_filters_limit_offset_and_rest(served) -> None:
    s, client = served
    coll = _sort_fixture(client)
    got = coll.query.fetch_objects(
        sort=Sort.by_property("int", ascending=False).by_property("text"),
        filters=Filter.by_property("int").greater_than(1),
        limit=2,
        offset=1,
    ).objects
    # int desc: 3 (1: Apple, 0: banana), 2 (3: apple); offset 1, limit 2
    assert [o.uuid for o in got] == [U[0], U[3]]
    r = httpx.get(
        f"{s.http}/v1/objects",
        params={"class": "Sorted", "sort": "int,text", "order": "desc,asc"},
        timeout=10,
    )
    assert [o["id"] for o in r.json()["objects"]] == [str(U[i]) for i in (1, 0, 3, 4, 2)]
    # an order that is neither asc nor desc is asc, as in Weaviate
    r = httpx.get(
        f"{s.http}/v1/objects", params={"class": "Sorted", "sort": "num", "order": "sideways"}, timeout=10
    )
    assert [o["id"] for o in r.json()["objects"]] == [str(U[i]) for i in (2, 1, 4, 0, 3)]


def test_sort_errors_are_weaviates(served) -> None:
    _, client = served
    coll = _sort_fixture(client)
    with pytest.raises(WeaviateQueryError, match="sorting by uuid is currently not supported"):
        coll.query.fetch_objects(sort=Sort.by_property("ident"))
    with pytest.raises(WeaviateQueryError, match="no such prop with name 'nope' found in class 'Sorted'"):
        coll.query.fetch_objects(sort=Sort.by_property("nope"))
    with pytest.raises(WeaviateQueryError, match="sorting by reference not supported"):
        _none(
            client, "Referrer", references=[ReferenceProperty(name="ref", target_collection="Sorted")]
        ).query.fetch_objects(sort=Sort.by_property("ref"))
    # gRPC Search: sorting with a search is Weaviate's error (the client offers sort on fetches only)
    channel = grpc.insecure_channel(s_grpc(served))
    try:
        stub = weaviate_pb2_grpc.WeaviateStub(channel)
        req = search_get_pb2.SearchRequest(
            collection="Sorted",
            bm25_search=base_search_pb2.BM25(query="apple"),
            sort_by=[search_get_pb2.SortBy(path=["text"], ascending=True)],
        )
        with pytest.raises(grpc.RpcError) as e:
            stub.Search(req, timeout=10)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "sorting cannot be combined with search" in e.value.details()
        req = search_get_pb2.SearchRequest(
            collection="Sorted",
            after=str(U[0]),
            sort_by=[search_get_pb2.SortBy(path=["text"], ascending=True)],
        )
        with pytest.raises(grpc.RpcError) as e:
            stub.Search(req, timeout=10)
        assert "sort cannot be set with after and limit parameters" in e.value.details()
    finally:
        channel.close()


def s_grpc(served) -> str:
    return served[0].grpc.removeprefix("grpc://")


def test_references_acknowledged_before_kill9_survive_it(tmp_path) -> None:
    data = tmp_path / "data"
    sp = serve(data)
    try:
        client = weaviate.connect_to_local(port=sp.http_port, grpc_port=sp.grpc_port)
        try:
            _, source = _pages(client)
            a = source.data.insert({"name": "a"}, references={"ref": U[1]}, uuid=U[10])
            source.data.reference_add(from_uuid=a, from_property="ref", to=U[2])
            ret = source.data.reference_add_many(
                [DataReference(from_property="ref", from_uuid=a, to_uuid=U[1])]
            )
            assert not ret.has_errors
            source.data.reference_delete(from_uuid=a, from_property="ref", to=U[2])
        finally:
            client.close()
    finally:
        sp.kill9()  # no shutdown: only what the commits made durable is left
    sp = serve(data)
    try:
        client = weaviate.connect_to_local(port=sp.http_port, grpc_port=sp.grpc_port)
        try:
            obj = client.collections.use("Source").query.fetch_object_by_id(
                U[10], return_references=QueryReference(link_on="ref")
            )
            assert _ref_uuids(obj) == [U[1], U[1]]
        finally:
            client.close()
    finally:
        sp.stop()


def test_grpc_batch_references(served) -> None:
    """``weaviate.v1.Weaviate/BatchReferences`` (the batch stream's references go the same way)."""
    _, client = served
    _, source = _pages(client)
    a = source.data.insert({"name": "a"}, uuid=U[10])
    channel = grpc.insecure_channel(s_grpc(served))
    try:
        stub = weaviate_pb2_grpc.WeaviateStub(channel)
        ref = batch_pb2.BatchReference
        reply = stub.BatchReferences(
            batch_pb2.BatchReferencesRequest(
                references=[
                    ref(name="ref", from_collection="Source", from_uuid=str(a), to_uuid=str(U[2])),
                    ref(
                        name="ref",
                        from_collection="Source",
                        from_uuid=str(a),
                        to_collection="Target",
                        to_uuid=str(U[1]),
                    ),
                    ref(name="nope", from_collection="Source", from_uuid=str(a), to_uuid=str(U[1])),
                    ref(name="ref", from_collection="Source", from_uuid="not-a-uuid", to_uuid=str(U[1])),
                ]
            ),
            timeout=10,
        )
    finally:
        channel.close()
    assert sorted(e.index for e in reply.errors) == [2, 3]
    obj = source.query.fetch_object_by_id(a, return_references=QueryReference(link_on="ref"))
    assert _ref_uuids(obj) == [U[2], U[1]]


def test_following_references_is_bounded_and_cycles_end(served) -> None:
    s, client = served
    node = _none(client, "Node", properties=[Property(name="name", data_type=DataType.TEXT)])
    node.config.add_reference(ReferenceProperty(name="next", target_collection="Node"))
    node.data.insert({"name": "loop"}, uuid=U[1])
    node.data.reference_add(from_uuid=U[1], from_property="next", to=U[1])  # a cycle of one

    def nested(depth: int) -> QueryReference:
        q = QueryReference(link_on="next", return_properties=["name"])
        for _ in range(depth - 1):
            q = QueryReference(link_on="next", return_properties=["name"], return_references=q)
        return q

    obj = node.query.fetch_object_by_id(U[1], return_references=nested(8))
    for _ in range(8):  # eight levels of the same object, then it stops
        obj = obj.references["next"].objects[0]
        assert (obj.uuid, obj.properties["name"]) == (U[1], "loop")
    with pytest.raises(WeaviateQueryError, match="at most 8 deep"):
        node.query.fetch_object_by_id(U[1], return_references=nested(9))
    deep = Filter.by_ref("next")
    for _ in range(8):
        deep = deep.by_ref("next")
    with pytest.raises(WeaviateQueryError, match="at most 8 deep"):
        node.query.fetch_objects(filters=deep.by_property("name").equal("loop"))
    assert httpx.get(f"{s.http}/v1/.well-known/ready", timeout=10).status_code == 200


def test_update_adds_references_as_weaviates_merge_does(served) -> None:
    _, client = served
    _, source = _pages(client)
    a = source.data.insert({"name": "a"}, references={"ref": [U[1]]})
    source.data.update(uuid=a, properties={"name": "b"}, references={"ref": U[2]})  # PATCH
    obj = source.query.fetch_object_by_id(a, return_references=QueryReference(link_on="ref"))
    assert obj.properties["name"] == "b"
    assert _ref_uuids(obj) == [U[1], U[2]]
    with pytest.raises(UnexpectedStatusCodeError) as e:  # the added ones must exist
        source.data.update(uuid=a, references={"ref": U[9]})
    assert f"no object with id {U[9]} found" in e.value.message
    source.data.replace(uuid=a, properties={"name": "c"}, references={"ref": U[2]})  # PUT replaces
    obj = source.query.fetch_object_by_id(a, return_references=QueryReference(link_on="ref"))
    assert _ref_uuids(obj) == [U[2]]


def test_fetch_answers_score_and_explain_score_when_asked(served) -> None:
    """Weaviate answers both on every search that asks (0 and an empty explanation on a fetch), with the
    references beside them."""
    _, client = served
    _, source = _pages(client)
    source.data.insert({"name": "a"}, references={"ref": [U[1]]})
    (obj,) = source.query.fetch_objects(
        return_metadata=MetadataQuery.full(), return_references=QueryReference(link_on="ref")
    ).objects
    assert obj.metadata.score == 0.0
    assert obj.metadata.explain_score == ""
    assert obj.metadata.creation_time is not None
    assert _ref_uuids(obj) == [U[1]]
    (obj,) = source.query.fetch_objects(return_metadata=MetadataQuery(creation_time=True)).objects
    assert obj.metadata.score is None
    assert obj.metadata.explain_score is None

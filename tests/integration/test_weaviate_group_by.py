"""Group-by in searches through the real client over gRPC (``group_by=GroupBy(...)``), against a
reference written here from Weaviate's rules (docs/search-semantics.md, "Group-by"): numpy distances, the
nearest ``offset + limit`` objects grouped in distance order for the vector searches, the page of results
grouped in score order (strings only) for bm25 and hybrid."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import numpy as np
import pytest
import weaviate
from tests.server.conftest import RunningServer
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.query import GroupBy, MetadataQuery
from weaviate.proto.v1 import search_get_pb2, weaviate_pb2_grpc

N, DIM = 60, 8
NUMBERS = [0.5, 2.0, 1e-7, 1e21, 123456789.0, -3.25]
# A float64 as Go's encoding/json writes it (the text Weaviate's grouper reads from the stored JSON).
GO_TEXT = {0.5: "0.5", 2.0: "2", 1e-7: "1e-7", 1e21: "1e+21", 123456789.0: "123456789", -3.25: "-3.25"}


def _props(i: int) -> dict[str, Any]:
    p: dict[str, Any] = {
        "cat": ["red", "green", "blue", "cyan", "plum"][i % 5],
        "n": i % 4,
        "x": NUMBERS[i % len(NUMBERS)],
        "flag": i % 3 == 0,
        "tags": [["a", "b"], ["b"], [], ["c", "a", "d"]][i % 4],
        "words": f"word{i % 3} common",
    }
    if i % 7 == 6:
        del p["cat"]  # no value: the vector grouper's "" group
    return p


@pytest.fixture
def populated(served: tuple[RunningServer, Any]) -> tuple[Any, list[str], np.ndarray, list[dict[str, Any]]]:
    _, client = served
    c = client.collections.create(
        "Groups",
        properties=[
            Property(name="cat", data_type=DataType.TEXT),
            Property(name="n", data_type=DataType.INT),
            Property(name="x", data_type=DataType.NUMBER),
            Property(name="flag", data_type=DataType.BOOL),
            Property(name="tags", data_type=DataType.TEXT_ARRAY),
            Property(name="words", data_type=DataType.TEXT),
        ],
        vector_config=Configure.Vectors.self_provided(),
    )
    rng = np.random.default_rng(12)
    vecs = rng.standard_normal((N, DIM)).astype(np.float32)
    props = [_props(i) for i in range(N)]
    uuids = [str(uuid.UUID(int=i + 1)) for i in range(N)]
    with c.batch.fixed_size(batch_size=25) as b:
        for u, p, v in zip(uuids, props, vecs, strict=True):
            b.add_object(properties=p, uuid=u, vector=v.tolist())
    assert not c.batch.failed_objects
    return c, uuids, vecs, props


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return GO_TEXT[v]
    return str(v)


def reference_vector_groups(
    order: list[int], dists: np.ndarray, props: list[dict[str, Any]], prop: str, groups: int, per_group: int
) -> list[tuple[str, list[int]]]:
    """Weaviate's shard grouper: ``order`` (nearest first) grouped by the stored values of ``prop``."""
    out: dict[str, list[int]] = {}
    for i in order:
        v = props[i].get(prop)
        values = [_text(x) for x in v] if isinstance(v, list) else [_text(v)] if v is not None else []
        for val in values or [""]:
            if val in out:
                if len(out[val]) < per_group:
                    out[val].append(i)
            elif len(out) < groups:
                out[val] = [i]
            else:
                break
    return list(out.items())


def cosine_distances(vecs: np.ndarray, q: np.ndarray) -> np.ndarray:
    v = vecs.astype(np.float64)
    qq = q.astype(np.float64)
    return 1 - (v @ qq) / (np.linalg.norm(v, axis=1) * np.linalg.norm(qq))


@pytest.mark.parametrize("prop", ["cat", "n", "x", "flag", "tags"])
@pytest.mark.parametrize(
    ("groups", "per_group", "limit", "offset"), [(3, 2, 20, 0), (10, 4, 40, 0), (4, 3, 25, 2)]
)
def test_near_vector_groups_the_nearest_objects_by_their_stored_values(
    populated: Any, prop: str, groups: int, per_group: int, limit: int, offset: int
) -> None:
    c, uuids, vecs, props = populated
    q = np.random.default_rng(5).standard_normal(DIM).astype(np.float32)
    d = cosine_distances(vecs, q)
    order = [int(i) for i in np.argsort(d, kind="stable")[: offset + limit]]
    want = reference_vector_groups(order, d, props, prop, groups, per_group)[offset : offset + limit]

    res = c.query.near_vector(
        q.tolist(),
        limit=limit,
        offset=offset,
        group_by=GroupBy(prop=prop, number_of_groups=groups, objects_per_group=per_group),
        return_metadata=MetadataQuery(distance=True),
    )
    assert list(res.groups) == [name for name, _ in want]
    for name, members in want:
        g = res.groups[name]
        assert [str(o.uuid) for o in g.objects] == [uuids[i] for i in members]
        assert g.number_of_objects == len(members)
        assert g.min_distance == pytest.approx(d[members[0]], abs=1e-5)
        assert g.max_distance == pytest.approx(d[members[-1]], abs=1e-5)
        for o, i in zip(g.objects, members, strict=True):
            assert o.metadata.distance == pytest.approx(d[i], abs=1e-5)
            assert o.belongs_to_group == name
            if props[i].get(prop) not in (None, []):
                assert o.properties[prop] == props[i][prop]
    # the flat list is the groups' hits, group after group
    assert [str(o.uuid) for o in res.objects] == [uuids[i] for _, m in want for i in m]


def test_near_object_and_a_distance_group_what_the_search_keeps(populated: Any) -> None:
    c, uuids, vecs, props = populated
    d = cosine_distances(vecs, vecs[0])
    cutoff = float(np.sort(d)[12])  # the 12 nearest besides the object itself (d = 0)
    order = [int(i) for i in np.argsort(d, kind="stable") if d[i] <= cutoff + 1e-6][:10]
    want = reference_vector_groups(order, d, props, "n", 3, 10)
    res = c.query.near_object(
        uuids[0], distance=cutoff + 1e-6, group_by=GroupBy(prop="n", number_of_groups=3, objects_per_group=10)
    )
    assert [(name, [str(o.uuid) for o in g.objects]) for name, g in res.groups.items()] == [
        (name, [uuids[i] for i in m]) for name, m in want
    ]
    assert res.objects[0].uuid == uuid.UUID(uuids[0])  # the object itself opens the first group


def test_return_properties_keep_the_grouped_property(populated: Any) -> None:
    c, _, vecs, _ = populated
    res = c.query.near_vector(
        vecs[3].tolist(),
        return_properties=["words"],
        group_by=GroupBy(prop="cat", number_of_groups=2, objects_per_group=1),
    )
    assert len(res.objects) == 2
    for o in res.objects:
        assert set(o.properties) == {"words", "cat"}


def test_bm25_groups_its_page_by_text_values_in_score_order(served: tuple[RunningServer, Any]) -> None:
    """As the client suite's test_bm25_group_by, and the rules that tell the two groupers apart."""
    _, client = served
    c = client.collections.create(
        "Words",
        properties=[
            Property(name="Name", data_type=DataType.TEXT),
            Property(name="n", data_type=DataType.INT),
            Property(name="tags", data_type=DataType.TEXT_ARRAY),
            Property(name="nums", data_type=DataType.INT_ARRAY),
        ],
        vector_config=Configure.Vectors.self_provided(),
    )
    rows = [
        {"Name": "test", "n": 1, "tags": ["x", "y"], "nums": [1]},
        {"Name": "another", "n": 2, "tags": ["y"], "nums": [2]},
        {"Name": "test test test", "n": 1, "tags": [], "nums": [3]},
        {"Name": "test", "n": 2, "tags": ["z"]},
    ]
    assert not c.data.insert_many(rows).has_errors
    objs = c.query.bm25(
        query="test", group_by=GroupBy(prop="name", objects_per_group=1, number_of_groups=1)
    ).objects
    assert [o.belongs_to_group for o in objs] == ["test test test"]

    ranked = c.query.bm25(query="test", return_metadata=MetadataQuery(score=True)).objects
    names = [o.properties["name"] for o in ranked]
    assert names[0] == "test test test"  # three occurrences score highest
    res = c.query.bm25(query="test", group_by=GroupBy(prop="name", objects_per_group=5, number_of_groups=5))
    want: dict[str, list[uuid.UUID]] = {}
    for o in ranked:
        want.setdefault(o.properties["name"], []).append(o.uuid)
    assert {k: [o.uuid for o in g.objects] for k, g in res.groups.items()} == want
    assert list(res.groups) == list(want)  # in score order
    assert all(g.min_distance == 0 and g.max_distance == 0 for g in res.groups.values())

    # text arrays give one value per element; an empty array joins no group
    res = c.query.bm25(query="test", group_by=GroupBy(prop="tags", objects_per_group=5, number_of_groups=5))
    tagged = {t: [o.uuid for o in ranked if t in o.properties["tags"]] for t in ("x", "y", "z")}
    assert {k: [o.uuid for o in g.objects] for k, g in res.groups.items()} == {
        k: v for k, v in tagged.items() if v
    }
    # an int is not a string: no object joins a group (Weaviate's explorer grouper)
    assert (
        c.query.bm25(
            query="test", group_by=GroupBy(prop="n", objects_per_group=5, number_of_groups=5)
        ).objects
        == []
    )
    # an int array is Weaviate's error
    with pytest.raises(
        weaviate.exceptions.WeaviateQueryError, match="array element at index 0 is not a string"
    ):
        c.query.bm25(query="test", group_by=GroupBy(prop="nums", objects_per_group=5, number_of_groups=5))


def test_hybrid_groups_its_page_of_fused_results(populated: Any) -> None:
    c, _, vecs, _ = populated
    page = c.query.hybrid("word1", vector=vecs[7].tolist(), limit=12, offset=3).objects
    want: dict[str, list[uuid.UUID]] = {}
    for o in page:
        cat = o.properties.get("cat")
        if cat is None:
            continue  # no value: the hybrid grouper skips the object
        if cat in want:
            if len(want[cat]) < 2:
                want[cat].append(o.uuid)
        elif len(want) < 3:
            want[cat] = [o.uuid]
    res = c.query.hybrid(
        "word1",
        vector=vecs[7].tolist(),
        limit=12,
        offset=3,
        group_by=GroupBy(prop="cat", number_of_groups=3, objects_per_group=2),
    )
    assert {k: [o.uuid for o in g.objects] for k, g in res.groups.items()} == want
    assert list(res.groups) == list(want)


def test_group_by_errors(served: tuple[RunningServer, Any], populated: Any) -> None:
    s, _ = served
    c, _, vecs, _ = populated
    with pytest.raises(
        weaviate.exceptions.WeaviateQueryError, match="no such prop with name 'nope' found in class 'Groups'"
    ):
        c.query.near_vector(
            vecs[0].tolist(), group_by=GroupBy(prop="nope", number_of_groups=2, objects_per_group=2)
        )
    with grpc.insecure_channel(s.grpc) as ch:
        stub = weaviate_pb2_grpc.WeaviateStub(ch)
        for req, msg in [
            (
                search_get_pb2.SearchRequest(
                    collection="Groups",
                    uses_127_api=True,
                    group_by=search_get_pb2.GroupBy(
                        path=["cat", "n"], number_of_groups=1, objects_per_group=1
                    ),
                ),
                "groupby path can only have one entry",
            ),
            (
                search_get_pb2.SearchRequest(
                    collection="Groups",
                    uses_127_api=True,
                    group_by=search_get_pb2.GroupBy(path=["cat"], number_of_groups=1, objects_per_group=1),
                ),
                "group_by needs a search",
            ),
        ]:
            with pytest.raises(grpc.RpcError) as e:
                stub.Search(req, timeout=10)
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert msg in (e.value.details() or "")
    # no room: zero groups or zero objects per group give no results, as in Weaviate
    assert (
        c.query.near_vector(
            vecs[0].tolist(), group_by=GroupBy(prop="cat", number_of_groups=0, objects_per_group=2)
        ).objects
        == []
    )
    assert (
        c.query.near_vector(
            vecs[0].tolist(), group_by=GroupBy(prop="cat", number_of_groups=2, objects_per_group=0)
        ).objects
        == []
    )
    assert len(c.query.near_vector(vecs[0].tolist(), limit=3).objects) == 3  # still serving

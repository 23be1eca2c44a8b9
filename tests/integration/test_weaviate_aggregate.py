"""Issue 12, points 3 and 6 through the real weaviate-client over gRPC against a real colweave server:
aggregates over everything, a filter, or a search (near_vector, near_object, near_text, near_image,
hybrid) cut by object_limit / distance / certainty, with Weaviate's property metrics and group_by; and
near_object / near_image searches.

References, computed here independently of colweave: Python's ``statistics`` and ``collections.Counter``
for the metrics, numpy MaxSim over the stored (float16) rows for which objects a search keeps, and the
values Weaviate documents for the client's own aggregate test (``test_all_available_aggregations``)."""

from __future__ import annotations

import base64
import collections
import datetime as dt
import statistics
from typing import Any

import grpc
import numpy as np
import pytest
from tests.server.conftest import png
from weaviate.classes.aggregate import GroupByAggregate, Metrics
from weaviate.classes.config import Configure, DataType, Property, VectorDistances
from weaviate.classes.query import Filter, MetadataQuery
from weaviate.collections.classes.aggregate import (
    AggregateBoolean,
    AggregateDate,
    AggregateInteger,
    AggregateNumber,
    AggregateText,
)
from weaviate.exceptions import WeaviateQueryError
from weaviate.proto.v1 import aggregate_pb2, base_search_pb2, weaviate_pb2_grpc

N = 40
WORDS = ["apple", "banana", "cherry", "date", "elder"]
COLOURS = ["red", "green", "blue", "gold", "grey"]
DAYS = [f"2021-01-{d:02d}T{h:02d}:00:00Z" for d, h in [(1, 0), (2, 6), (2, 6), (3, 12), (5, 18)]]


def _norm(m: np.ndarray) -> np.ndarray:
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def stored(m: np.ndarray) -> np.ndarray:
    """What the store keeps of a cosine multi-vector: unit rows in float16."""
    return _norm(np.asarray(m, np.float32)).astype(np.float16).astype(np.float32)


def distances(q: np.ndarray, docs: list[np.ndarray]) -> np.ndarray:
    """-MaxSim of the (normalised) query against each stored multi-vector."""
    qn = _norm(np.asarray(q, np.float32))
    return np.asarray([-float(np.max(qn @ d.T, axis=1).sum()) for d in docs])


def _objects(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Objects with every aggregatable type, ties for the modes, and missing values."""
    out = []
    for i in range(N):
        p: dict[str, Any] = {
            "title": f"{COLOURS[i % 5]} {'kiwi' if i % 7 == 0 else 'fig'} page",
            "word": WORDS[int(rng.integers(0, 5))],
            "words": [WORDS[int(x)] for x in rng.integers(0, 5, int(rng.integers(0, 4)))],
            "count": int(rng.integers(-3, 6)),
            "counts": [int(x) for x in rng.integers(0, 4, int(rng.integers(0, 3)))],
            "score": float(np.round(rng.normal(), 3)),
            "scores": [float(np.round(x, 2)) for x in rng.normal(size=int(rng.integers(0, 3)))],
            "flag": bool(rng.integers(0, 2)),
            "flags": [bool(x) for x in rng.integers(0, 2, int(rng.integers(0, 3)))],
            "day": DAYS[int(rng.integers(0, 5))],
            "days": [DAYS[int(x)] for x in rng.integers(0, 5, int(rng.integers(0, 3)))],
        }
        for k in list(p):
            if k != "title" and rng.random() < 0.15:
                del p[k]  # no value: it adds nothing to any metric
        out.append(p)
    return out


PROPS = [
    Property(name="title", data_type=DataType.TEXT),
    Property(name="word", data_type=DataType.TEXT),
    Property(name="words", data_type=DataType.TEXT_ARRAY),
    Property(name="count", data_type=DataType.INT),
    Property(name="counts", data_type=DataType.INT_ARRAY),
    Property(name="score", data_type=DataType.NUMBER),
    Property(name="scores", data_type=DataType.NUMBER_ARRAY),
    Property(name="flag", data_type=DataType.BOOL),
    Property(name="flags", data_type=DataType.BOOL_ARRAY),
    Property(name="day", data_type=DataType.DATE),
    Property(name="days", data_type=DataType.DATE_ARRAY),
    Property(name="ident", data_type=DataType.UUID),
]
KIND = {
    "word": "text",
    "words": "text",
    "title": "text",
    "count": "int",
    "counts": "int",
    "score": "number",
    "scores": "number",
    "flag": "bool",
    "flags": "bool",
    "day": "date",
    "days": "date",
}


def _metric(name: str) -> Any:
    m = Metrics(name)
    return {
        "text": lambda: m.text(limit=3),
        "int": m.integer,
        "number": m.number,
        "bool": m.boolean,
        "date": m.date_,
    }[KIND[name]]()


def _byov(client, rng):
    coll = client.collections.create(
        "Agg", properties=PROPS, vector_config=[Configure.MultiVectors.self_provided(name="colbert")]
    )
    objs = _objects(rng)
    vecs = [rng.standard_normal((int(rng.integers(3, 6)), 8)).astype(np.float32) for _ in objs]
    with coll.batch.fixed_size(batch_size=50) as batch:
        uuids = [
            batch.add_object(properties=p, vector={"colbert": v.tolist()})
            for p, v in zip(objs, vecs, strict=True)
        ]
    assert not coll.batch.failed_objects
    return coll, objs, [stored(v) for v in vecs], [str(u) for u in uuids]


# -- independent references ------------------------------------------------------------------------------
def _flat(objs: list[dict[str, Any]], name: str) -> list[Any]:
    out: list[Any] = []
    for o in objs:
        v = o.get(name)
        out.extend(v if isinstance(v, list) else [] if v is None else [v])
    return out


def _when(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s)


def _rfc3339(t: dt.datetime) -> str:
    t = t.astimezone(dt.timezone.utc)
    frac = f".{t.microsecond:06d}".rstrip("0").rstrip(".")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"


def check_metrics(res_props: dict[str, Any], objs: list[dict[str, Any]], names: list[str]) -> None:
    for name in names:
        vals = _flat(objs, name)
        got = res_props[name]
        kind = KIND[name]
        if kind == "text":
            assert isinstance(got, AggregateText)
            assert got.count == len(vals)
            want = sorted(collections.Counter(vals).items(), key=lambda kv: (-kv[1], kv[0]))[:3]
            assert [(t.value, t.count) for t in got.top_occurrences] == want, name
        elif kind in ("int", "number"):
            assert isinstance(got, AggregateInteger if kind == "int" else AggregateNumber)
            assert got.count == len(vals), name
            if not vals:
                assert (got.minimum, got.maximum, got.mean, got.median, got.mode, got.sum_) == (None,) * 6
                continue
            assert got.minimum == min(vals), name
            assert got.maximum == max(vals), name
            assert got.sum_ == pytest.approx(sum(vals), abs=1e-9), name
            assert got.mean == pytest.approx(statistics.fmean(vals), abs=1e-9), name
            assert got.median == pytest.approx(statistics.median(vals), abs=1e-12), name
            assert got.mode == min(statistics.multimode(vals)), name  # ties: the smallest
        elif kind == "bool":
            assert isinstance(got, AggregateBoolean)
            t = sum(vals)
            assert (got.count, got.total_true, got.total_false) == (len(vals), t, len(vals) - t), name
            assert got.percentage_true == pytest.approx(t / len(vals) if vals else 0.0)
            assert got.percentage_false == pytest.approx((len(vals) - t) / len(vals) if vals else 0.0)
        else:
            assert isinstance(got, AggregateDate)
            assert got.count == len(vals), name
            if not vals:
                continue
            ts = sorted(_when(v) for v in vals)
            assert got.minimum == _rfc3339(ts[0]), name
            assert got.maximum == _rfc3339(ts[-1]), name
            mid = len(ts) // 2
            median = ts[mid] if len(ts) % 2 else ts[mid - 1] + (ts[mid] - ts[mid - 1]) / 2
            assert got.median == _rfc3339(median), name
            assert got.mode == _rfc3339(min(statistics.multimode(ts))), name  # ties: the earliest


def _gap_cut(d: np.ndarray, lo: int, hi: int) -> tuple[int, float]:
    """A count k in [lo, hi] whose k-th and (k+1)-th nearest are well apart, and a distance between."""
    s = np.sort(d)
    k = max(range(lo, hi + 1), key=lambda k: s[k] - s[k - 1])
    assert s[k] - s[k - 1] > 1e-3, "the random data has no clear gap"
    return k, float((s[k] + s[k - 1]) / 2)


# -- tests -----------------------------------------------------------------------------------------------
ALL = list(KIND)


def test_over_all_and_filtered_metrics_match_statistics(served) -> None:
    _, client = served
    coll, objs, _, _ = _byov(client, np.random.default_rng(1))
    res = coll.aggregate.over_all(return_metrics=[_metric(n) for n in ALL], total_count=True)
    assert res.total_count == N
    check_metrics(res.properties, objs, ALL)

    res = coll.aggregate.over_all(
        filters=Filter.by_property("count").greater_or_equal(1),
        return_metrics=[_metric(n) for n in ALL],
        total_count=True,
    )
    kept = [o for o in objs if o.get("count") is not None and o["count"] >= 1]
    assert res.total_count == len(kept)
    check_metrics(res.properties, kept, ALL)

    # No object matches: counts 0, every other number None (the client suite's issue #11219).
    res = coll.aggregate.over_all(
        filters=Filter.by_property("count").equal(99),
        return_metrics=[_metric("count"), _metric("score"), _metric("day"), _metric("flag")],
        total_count=True,
    )
    assert res.total_count == 0
    check_metrics(res.properties, [], ["count", "score", "day", "flag"])

    # Only what was asked for comes back; the top-occurrence limit applies.
    res = coll.aggregate.over_all(
        return_metrics=[
            Metrics("count").integer(sum_=True),
            Metrics("word").text(top_occurrences_count=True, top_occurrences_value=True, limit=1),
        ]
    )
    c = res.properties["count"]
    assert c.sum_ == sum(_flat(objs, "count"))
    assert c.mean is None
    assert c.maximum is None
    assert len(res.properties["word"].top_occurrences) == 1


def test_documented_values_of_the_client_suite(served) -> None:
    """The values test_all_available_aggregations asserts against Weaviate (less its reference)."""
    _, client = served
    coll = client.collections.create(
        "Doc",
        properties=[p for p in PROPS if p.name != "ident"],
        vector_config=[Configure.MultiVectors.self_provided(name="colbert")],
    )
    coll.data.insert(
        {
            "word": "some text",
            "words": ["some text", "some text"],
            "count": 1,
            "counts": [1, 2],
            "score": 1.0,
            "scores": [1.0, 2.0],
            "flag": True,
            "flags": [True, False],
            "day": "2021-01-01T00:00:00Z",
            "days": ["2021-01-01T00:00:00Z", "2021-01-02T00:00:00Z"],
        }
    )
    r = coll.aggregate.over_all(return_metrics=[_metric(n) for n in ALL if n != "title"]).properties
    assert (r["words"].count, r["words"].top_occurrences[0].count) == (2, 2)
    assert (r["counts"].mean, r["counts"].median, r["counts"].mode, r["counts"].maximum) == (1.5, 1.5, 1, 2)
    assert (r["scores"].mean, r["scores"].median, r["scores"].minimum) == (1.5, 1.5, 1.0)
    assert (r["flags"].percentage_true, r["flags"].total_false) == (0.5, 1)
    assert r["day"].median == r["day"].mode == "2021-01-01T00:00:00Z"
    assert (r["days"].median, r["days"].maximum) == ("2021-01-01T12:00:00Z", "2021-01-02T00:00:00Z")


def test_near_vector_and_near_object_aggregates_keep_what_the_search_finds(served) -> None:
    _, client = served
    rng = np.random.default_rng(2)
    coll, objs, docs, uuids = _byov(client, rng)
    q = rng.standard_normal((3, 8)).astype(np.float32)
    d = distances(q, docs)
    k, cut = _gap_cut(d, 4, 12)
    nearest = [objs[i] for i in np.argsort(d)[:k]]
    metrics = [_metric(n) for n in ALL]

    res = coll.aggregate.near_vector(
        q.tolist(), target_vector="colbert", object_limit=k, return_metrics=metrics, total_count=True
    )
    assert res.total_count == k
    check_metrics(res.properties, nearest, ALL)
    res = coll.aggregate.near_vector(q.tolist(), target_vector="colbert", distance=cut, total_count=True)
    assert res.total_count == k  # the same objects: those within the cut
    # A certainty c keeps distance <= (1 - c) * 2, also with a limit, which comes first.
    res = coll.aggregate.near_vector(
        q.tolist(), target_vector="colbert", certainty=1 - cut / 2, object_limit=k - 2, total_count=True
    )
    assert res.total_count == k - 2

    # With a filter: the nearest among the matching objects.
    match = [i for i, o in enumerate(objs) if o.get("flag") is True]
    fd = {i: d[i] for i in match}
    near_match = sorted(match, key=fd.__getitem__)[:3]
    res = coll.aggregate.near_vector(
        q.tolist(),
        target_vector="colbert",
        object_limit=3,
        filters=Filter.by_property("flag").equal(True),
        return_metrics=[_metric("count"), _metric("word")],
    )
    check_metrics(res.properties, [objs[i] for i in near_match], ["count", "word"])

    # near_object: the object's stored vector is the query; the object itself is kept (Weaviate
    # excludes nothing).
    src = 5
    d0 = distances(docs[src], docs)
    k0, cut0 = _gap_cut(d0, 3, 10)
    assert int(np.argmin(d0)) == src
    res = coll.aggregate.near_object(
        uuids[src], target_vector="colbert", object_limit=k0, return_metrics=metrics, total_count=True
    )
    assert res.total_count == k0
    check_metrics(res.properties, [objs[i] for i in np.argsort(d0)[:k0]], ALL)
    res = coll.aggregate.near_object(uuids[src], target_vector="colbert", distance=cut0, total_count=True)
    assert res.total_count == k0

    # group_by within a search: the groups of the objects it keeps.
    res = coll.aggregate.near_vector(
        q.tolist(),
        target_vector="colbert",
        object_limit=k,
        group_by=GroupByAggregate(prop="word"),
        return_metrics=[Metrics("count").integer(count=True, sum_=True)],
        total_count=True,
    )
    want = collections.Counter(o["word"] for o in nearest if "word" in o)
    assert {g.grouped_by.value: g.total_count for g in res.groups} == dict(want)
    for g in res.groups:
        members = [o for o in nearest if o.get("word") == g.grouped_by.value]
        assert g.properties["count"].sum_ == (
            sum(_flat(members, "count")) if _flat(members, "count") else None
        )


def test_group_by_counts_objects_per_value_largest_first(served) -> None:
    _, client = served
    coll, objs, _, _ = _byov(client, np.random.default_rng(3))
    for prop, limit in (("word", 3), ("words", 10), ("counts", 2), ("flag", None), ("day", 10)):
        res = coll.aggregate.over_all(
            group_by=GroupByAggregate(prop=prop, limit=limit) if limit else prop,
            return_metrics=[_metric("score"), _metric("word")],
            total_count=True,
        )
        members: dict[Any, list[dict[str, Any]]] = collections.defaultdict(list)
        for o in objs:
            for v in dict.fromkeys(_flat([o], prop)):  # an object counts once per value
                members[v].append(o)
        ranked = sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0]))[: limit or 100]
        assert [(g.grouped_by.prop, g.grouped_by.value, g.total_count) for g in res.groups] == [
            (prop, v, len(m)) for v, m in ranked
        ], prop
        for g, (_, m) in zip(res.groups, ranked, strict=True):
            check_metrics(g.properties, m, ["score", "word"])
    res = coll.aggregate.over_all(group_by="word", filters=Filter.by_property("count").equal(99))
    assert res.groups == []


def test_hybrid_aggregate(served) -> None:
    _, client = served
    rng = np.random.default_rng(4)
    coll, objs, docs, _ = _byov(client, rng)
    with_kiwi = [o for o in objs if "kiwi" in o["title"].split()]
    assert 3 < len(with_kiwi) < 10
    # Keyword only: every object whose title has the word, up to object_limit (Weaviate's default 10).
    res = coll.aggregate.hybrid("kiwi", alpha=0, object_limit=10, total_count=True)
    assert res.total_count == len(with_kiwi)
    res = coll.aggregate.hybrid("kiwi", alpha=0, object_limit=2, total_count=True)
    assert res.total_count == 2
    # Weaviate's hybrid aggregate searches every `text` property (not text[]) whatever the query
    # properties say: "cherry" is found in `word`, not in `words`.
    res = coll.aggregate.hybrid(
        "cherry", alpha=0, query_properties=["title"], object_limit=N, total_count=True
    )
    assert res.total_count == sum(o.get("word") == "cherry" for o in objs)
    q = rng.standard_normal((2, 8)).astype(np.float32)
    d = distances(q, docs)
    order = np.argsort(d)
    # Both legs: the union of each leg's best object_limit.
    res = coll.aggregate.hybrid(
        "kiwi", alpha=0.5, vector=q.tolist(), object_limit=len(with_kiwi), total_count=True
    )
    vec_best = {id(objs[i]) for i in order[: len(with_kiwi)]}
    assert res.total_count == len(vec_best | {id(o) for o in with_kiwi})
    # max_vector_distance: only what the vector search finds within it, keyword matches included.
    k, cut = _gap_cut(d, 3, 8)
    res = coll.aggregate.hybrid(
        "kiwi",
        vector=q.tolist(),
        max_vector_distance=cut,
        return_metrics=[_metric("count")],
        total_count=True,
    )
    assert res.total_count == k
    check_metrics(res.properties, [objs[i] for i in order[:k]], ["count"])
    # The same cut in a hybrid search.
    hits = coll.query.hybrid("kiwi", vector=q.tolist(), max_vector_distance=cut, limit=N).objects
    assert sorted(o.properties["title"] for o in hits) == sorted(objs[i]["title"] for i in order[:k])
    assert len(hits) == k


def _multi2vec(client, s):
    coll = client.collections.create(
        "Pages",
        properties=[
            Property(name="page", data_type=DataType.BLOB),
            Property(name="n", data_type=DataType.INT),
        ],
        vector_config=[Configure.MultiVectors.multi2vec_weaviate(name="doc", image_field="page")],
    )
    images = [png(30 + 3 * i, 20 + 2 * i, (10 * i, 90, 200 - 9 * i)) for i in range(12)]
    uuids = [
        str(coll.data.insert({"page": base64.b64encode(img).decode(), "n": i}))
        for i, img in enumerate(images)
    ]
    docs = [stored(v) for v in s.model.embed_images(images)]
    return coll, images, uuids, docs


def _raw_aggregate(s, req: aggregate_pb2.AggregateRequest) -> aggregate_pb2.AggregateReply:
    with grpc.insecure_channel(s.grpc) as ch:
        return weaviate_pb2_grpc.WeaviateStub(ch).Aggregate(req, timeout=30)


def test_near_image_and_near_text_search_and_aggregate(served) -> None:
    s, client = served
    coll, _images, uuids, docs = _multi2vec(client, s)
    probe = png(33, 22, (10, 90, 191))  # a page like page 1, not one of them
    d = distances(s.model.embed_images([probe])[0], docs)
    order = np.argsort(d)
    res = coll.query.near_image(
        base64.b64encode(probe).decode(),
        limit=4,
        return_metadata=MetadataQuery(distance=True, certainty=True),
    )
    assert [str(o.uuid) for o in res.objects] == [uuids[i] for i in order[:4]]
    for o, i in zip(res.objects, order, strict=False):
        assert o.metadata.distance == pytest.approx(d[i], abs=1e-4)
        assert o.metadata.certainty == pytest.approx(1 - d[i] / 2, abs=1e-4)
    k, cut = _gap_cut(d, 2, 8)
    res = coll.query.near_image(base64.b64encode(probe).decode(), distance=cut, limit=12)
    assert len(res.objects) == k

    # Aggregate near_image: weaviate-client 4.23.0 cannot build this request (its near_media passes a
    # near_image keyword its request builder lacks), so it goes through the client's generated stub.
    reply = _raw_aggregate(
        s,
        aggregate_pb2.AggregateRequest(
            collection="Pages",
            objects_count=True,
            object_limit=k,
            near_image=base_search_pb2.NearImageSearch(image=base64.b64encode(probe).decode()),
            aggregations=[
                aggregate_pb2.AggregateRequest.Aggregation(
                    property="n",
                    int=aggregate_pb2.AggregateRequest.Aggregation.Integer(sum=True, maximum=True),
                )
            ],
        ),
    )
    (a,) = reply.single_result.aggregations.aggregations
    assert reply.single_result.objects_count == k
    assert (a.int.sum, a.int.maximum) == (sum(int(i) for i in order[:k]), int(max(order[:k])))

    dq = distances(s.model.embed_queries(["a page of a report"])[0], docs)
    kq, cutq = _gap_cut(dq, 2, 8)
    res = coll.aggregate.near_text("a page of a report", distance=cutq, total_count=True)
    assert res.total_count == kq
    res = coll.aggregate.near_text(
        "a page of a report", object_limit=3, return_metrics=[Metrics("n").integer(sum_=True)]
    )
    assert res.properties["n"].sum_ == sum(int(i) for i in np.argsort(dq)[:3])


def test_near_object_search_returns_the_object_first(served) -> None:
    s, client = served
    coll, _, uuids, docs = _multi2vec(client, s)
    d = distances(docs[4], docs)
    order = np.argsort(d)
    res = coll.query.near_object(
        uuids[4], limit=5, return_metadata=MetadataQuery(distance=True, certainty=True)
    )
    assert [str(o.uuid) for o in res.objects] == [uuids[i] for i in order[:5]]
    assert str(res.objects[0].uuid) == uuids[4]
    for o, i in zip(res.objects, order, strict=False):
        assert o.metadata.distance == pytest.approx(d[i], abs=1e-4)
        assert o.metadata.certainty == pytest.approx(1 - d[i] / 2, abs=1e-4)
    k, cut = _gap_cut(d, 2, 8)
    assert len(coll.query.near_object(uuids[4], distance=cut, limit=12).objects) == k
    assert len(coll.query.near_object(uuids[4], certainty=1 - cut / 2, limit=12).objects) == k
    assert [str(o.uuid) for o in coll.query.near_object(uuids[4], offset=1, limit=2).objects] == [
        uuids[i] for i in order[1:3]
    ]

    # Self-provided multi-vectors too, with a filter.
    rng = np.random.default_rng(5)
    byov, objs, bdocs, buuids = _byov(client, rng)
    d = distances(bdocs[0], bdocs)
    want = [buuids[i] for i in np.argsort(d) if objs[i].get("flag") is True][:4]
    res = byov.query.near_object(buuids[0], limit=4, filters=Filter.by_property("flag").equal(True))
    assert [str(o.uuid) for o in res.objects] == want


def test_bad_aggregates_and_near_searches_are_clear_errors(served) -> None:
    s, client = served
    coll, _, _, uuids = _byov(client, np.random.default_rng(6))
    vec = base_search_pb2.NearVector(vector_bytes=np.ones((2, 8), np.float32).tobytes())

    def refused(req: aggregate_pb2.AggregateRequest, message: str) -> None:
        with pytest.raises(grpc.RpcError) as e:
            _raw_aggregate(s, req)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in e.value.details()

    A = aggregate_pb2.AggregateRequest
    # The client checks this one itself; other SDKs may not.
    refused(A(collection="Agg", near_vector=vec), "must provide certainty or objectLimit with vector search")
    # A distance of 2 or more is a certainty <= 0, which Weaviate ignores: still nothing to cut by.
    far = base_search_pb2.NearObject(id=uuids[0], distance=2.5)
    refused(A(collection="Agg", near_object=far), "must provide certainty or objectLimit with vector search")
    both = base_search_pb2.NearObject(id=uuids[0], distance=0.5, certainty=0.5)
    refused(A(collection="Agg", near_object=both, object_limit=2), "cannot provide distance and certainty")
    missing = base_search_pb2.NearObject(id="6a8b8a4f-0000-4000-8000-000000000000")
    refused(A(collection="Agg", near_object=missing, object_limit=2), "vector not found")
    refused(
        A(collection="Agg", hybrid=base_search_pb2.Hybrid(query="x")), "must provide certainty or objectLimit"
    )
    ident = A.Aggregation(property="ident", text=A.Aggregation.Text(count=True))
    refused(A(collection="Agg", aggregations=[ident]), "data type uuid can't be aggregated")
    nope = A.Aggregation(property="nope", int=A.Aggregation.Integer(count=True))
    refused(A(collection="Agg", aggregations=[nope]), "has no property 'nope'")
    refused(
        A(collection="Agg", group_by=A.GroupBy(collection="Agg", property="nope")), "has no property 'nope'"
    )
    img = base_search_pb2.NearImageSearch(image=base64.b64encode(png()).decode())
    refused(A(collection="Agg", near_image=img, object_limit=2), "has no vectorizer (self-provided)")
    with pytest.raises(WeaviateQueryError, match="has no vectorizer"):
        coll.query.near_image(base64.b64encode(png()).decode())
    # Certainty is Weaviate's for cosine only.
    dot = client.collections.create(
        "Dot",
        vector_config=[
            Configure.MultiVectors.self_provided(
                name="v", vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.DOT)
            )
        ],
    )
    u = dot.data.insert({}, vector={"v": [[1.0, 0.0], [0.0, 1.0]]})
    with pytest.raises(WeaviateQueryError, match="certainty when vector index is configured with dot"):
        dot.query.near_object(u, certainty=0.5)
    # The server still answers.
    assert coll.aggregate.over_all(total_count=True).total_count == N

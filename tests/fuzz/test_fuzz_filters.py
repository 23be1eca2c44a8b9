"""Bounded, deterministic fuzzing of filter translation and evaluation: random gRPC ``Filters`` trees (any
operator number, target and value kind) and random REST ``where`` JSON, translated by the server and
evaluated by a real store on disk. Every input either gives a clear error (the server's ValidationError,
the store's errors) or a result that is consistent (count == the objects fetched); nothing else escapes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from weaviate.proto.v1 import base_pb2

from colweave.server import guards
from colweave.server.errors import ServiceError
from colweave.server.weaviate_grpc import parse_filters
from colweave.store import DataObject, Store, StoreError
from colweave.store.filters import from_weaviate

FUZZ = settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
PROPS = ["title", "year", "score", "flag", "tags", "when", "ref", "nope", "_id", "_creationTimeUnix", ""]
IDS = [str(uuid.UUID(int=i + 1)) for i in range(6)]


@pytest.fixture(scope="module")
def coll(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("fuzz-filters"))
    c = store.create_collection(
        {
            "class": "Fuzz",
            "properties": [
                {"name": "title", "dataType": ["text"]},
                {"name": "year", "dataType": ["int"]},
                {"name": "score", "dataType": ["number"]},
                {"name": "flag", "dataType": ["boolean"]},
                {"name": "tags", "dataType": ["text[]"]},
                {"name": "when", "dataType": ["date"]},
                {"name": "ref", "dataType": ["uuid"]},
            ],
            "vectorConfig": {
                "v": {
                    "vectorizer": {"none": {}},
                    "vectorIndexType": "hnsw",
                    "vectorIndexConfig": {"multivector": {"enabled": True}},
                }
            },
        }
    )
    rng = np.random.default_rng(0)
    words = ["holiday", "film", "winter", "a", "home", "ünï"]
    objs = []
    for i, u in enumerate(IDS):
        props: dict[str, Any] = {
            "title": " ".join(words[: i + 1]),
            "year": 1990 + 7 * i,
            "score": i / 3,
            "flag": bool(i % 2),
            "tags": words[i:],
            "when": dt.datetime(2000 + i, 1, 2, tzinfo=dt.timezone.utc).isoformat(),
            "ref": IDS[(i + 1) % len(IDS)],
        }
        if i == 5:
            props = {"title": "sparse"}  # nulls for everything else
        objs.append(DataObject(props, u, {"v": rng.standard_normal((2, 4))}))
    res = c.insert_many(objs)
    assert not res.errors
    yield c
    store.close()


texts = st.text(alphabet="abcfhilmnoptwy*?ü ", max_size=10)
values = st.one_of(
    st.builds(lambda v: ("value_text", v), texts | st.sampled_from(IDS) | st.just("{" + IDS[0] + "}")),
    st.builds(lambda v: ("value_int", v), st.integers(-(2**63), 2**63 - 1)),
    st.builds(lambda v: ("value_number", v), st.floats(allow_nan=True, allow_infinity=True)),
    st.builds(lambda v: ("value_boolean", v), st.booleans()),
    st.builds(lambda v: ("value_text_array", v), st.lists(texts, max_size=4)),
    st.builds(lambda v: ("value_int_array", v), st.lists(st.integers(-(2**63), 2**63 - 1), max_size=4)),
    st.builds(lambda v: ("value_number_array", v), st.lists(st.floats(), max_size=4)),
    st.builds(lambda v: ("value_boolean_array", v), st.lists(st.booleans(), max_size=4)),
    st.just(("none", None)),
)
operators = st.one_of(st.sampled_from(list(base_pb2.Filters.Operator.values())), st.integers(0, 2000))


def _leaf(op: int, target: str, value: tuple[str, Any], use_on: bool) -> base_pb2.Filters:
    f = base_pb2.Filters(operator=op)  # type: ignore[arg-type]
    if target:
        if use_on:
            f.on.append(target)
        else:
            f.target.property = target
    kind, v = value
    if kind in ("value_text", "value_int", "value_number", "value_boolean"):
        setattr(f, kind, v)
    elif kind != "none":
        getattr(f, kind).values.extend(v)
    return f


leaves = st.builds(_leaf, operators, st.sampled_from(PROPS), values, st.booleans())


def _node(op: int, children: list[base_pb2.Filters]) -> base_pb2.Filters:
    return base_pb2.Filters(operator=op, filters=children)  # type: ignore[arg-type]


trees = st.recursive(
    leaves,
    lambda kids: st.builds(
        _node,
        st.sampled_from(
            [base_pb2.Filters.OPERATOR_AND, base_pb2.Filters.OPERATOR_OR, base_pb2.Filters.OPERATOR_NOT, 999]
        ),
        st.lists(kids, max_size=3),
    ),
    max_leaves=12,
)


def evaluate(coll, f) -> None:
    try:
        found = coll.fetch_objects(filters=f, limit=guards.MAX_RESULTS)
        n = coll.count(f)
    except (StoreError, ValueError):
        return
    assert n == len(found)
    assert {str(r.uuid) for r in found} <= set(IDS)


@FUZZ
@given(trees)
def test_grpc_filters_translate_and_evaluate_cleanly(coll, tree) -> None:
    status = 200
    try:
        f = parse_filters(tree)
    except ServiceError as e:
        status = e.http_status
    if status != 200:
        assert status < 500
        return
    evaluate(coll, f)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    texts,
    st.sampled_from(IDS),
)
where_ops = st.sampled_from(
    [
        "Equal",
        "NotEqual",
        "GreaterThan",
        "GreaterThanEqual",
        "LessThan",
        "LessThanEqual",
        "Like",
        "ContainsAny",
        "ContainsAll",
        "ContainsNone",
        "IsNull",
        "And",
        "Or",
        "Not",
        "WithinGeoRange",
        "Bogus",
        "",
    ]
)
value_keys = st.sampled_from(
    [
        "valueText",
        "valueInt",
        "valueNumber",
        "valueBoolean",
        "valueDate",
        "valueTextArray",
        "valueIntArray",
        "x",
    ]
)


def _where_leaf(op: str, path: Any, key: str, value: Any) -> dict[str, Any]:
    return {"operator": op, "path": path, key: value}


rest_leaves = st.builds(
    _where_leaf,
    where_ops,
    st.one_of(st.lists(st.sampled_from(PROPS), max_size=2), st.sampled_from(PROPS), st.integers()),
    value_keys,
    st.one_of(scalars, st.lists(scalars, max_size=3)),
)
rest_trees = st.recursive(
    rest_leaves | st.one_of(scalars, st.lists(scalars, max_size=2)),
    lambda kids: st.builds(
        lambda op, ops: {"operator": op, "operands": ops},
        where_ops,
        st.one_of(st.lists(kids, max_size=3), kids),
    ),
    max_leaves=12,
)


@FUZZ
@given(rest_trees)
def test_rest_where_translates_and_evaluates_cleanly(coll, where) -> None:
    try:
        if not isinstance(where, dict):
            raise StoreError("not an object")  # the route refuses a non-object where (tested there)
        guards.json_depth(where, "where")
        f = from_weaviate(where)
    except (ServiceError, StoreError, ValueError):
        return
    evaluate(coll, f)

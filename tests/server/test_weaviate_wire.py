"""Weaviate's gRPC wire formats against weaviate-client 4.24.1's own packing and parsing code."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from weaviate.collections.batch.grpc_batch import _BatchGRPC
from weaviate.collections.classes.batch import _BatchObject
from weaviate.collections.grpc.shared import _Pack, _Unpack
from weaviate.collections.queries.base_executor import _BaseExecutor
from weaviate.connect.v4 import _ServerVersion
from weaviate.proto.v1 import base_pb2

from colweave.server import weaviate_wire as wire
from colweave.server.errors import ValidationError

finite = st.floats(-1e6, 1e6, allow_nan=False, width=32)


@given(
    st.integers(1, 40).flatmap(
        lambda d: st.lists(st.lists(finite, min_size=d, max_size=d), min_size=1, max_size=6)
    )
)
def test_multi_vectors_round_trip_with_the_client(rows) -> None:
    packed = base_pb2.Vectors(vector_bytes=_Pack.multi(rows), type=base_pb2.Vectors.VECTOR_TYPE_MULTI_FP32)
    arr = wire.decode_vector(packed)
    np.testing.assert_array_equal(arr, np.asarray(rows, np.float32))
    back = wire.encode_multi_vector("x", arr)
    assert _Unpack.multi(back.vector_bytes) == [[float(np.float32(v)) for v in r] for r in rows]


def test_single_vector_and_bad_vectors() -> None:
    one = base_pb2.Vectors(
        vector_bytes=_Pack.single([1.0, 2.0]), type=base_pb2.Vectors.VECTOR_TYPE_SINGLE_FP32
    )
    got = wire.decode_vector(one)
    assert got.shape == (2,)  # a single vector stays one-dimensional: the store checks its shape
    np.testing.assert_array_equal(got, [1.0, 2.0])
    multi = base_pb2.Vectors.VECTOR_TYPE_MULTI_FP32
    bad = [
        base_pb2.Vectors(vector_bytes=b"\x03", type=multi),  # no header
        base_pb2.Vectors(vector_bytes=b"\x00\x00" + b"\x00" * 8, type=multi),  # dim 0
        base_pb2.Vectors(vector_bytes=b"\x03\x00" + b"\x00" * 8, type=multi),  # 2 floats, dim 3
        base_pb2.Vectors(vector_bytes=b"\x03\x00", type=multi),  # no rows
        base_pb2.Vectors(vector_bytes=b"\x00" * 5),  # partial float
        base_pb2.Vectors(vector_bytes=_Pack.single([float("nan")])),
    ]
    for b in bad:
        with pytest.raises(ValidationError):
            wire.decode_vector(b)


def client_batch_object(props: dict, vector=None) -> object:
    grpc = _BatchGRPC(_ServerVersion(1, 36, 6), None, None)
    obj = _BatchObject(
        collection="C",
        properties=props,
        references=None,
        uuid=uuid.uuid4(),
        vector=vector,
        tenant=None,
        index=0,
    )
    return grpc.grpc_object(obj)


def test_batch_properties_as_the_client_sends_them() -> None:
    when = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)
    uid = uuid.uuid4()
    props = {
        "title": "Jingle All the Way",
        "count": 3,
        "score": 0.5,
        "ok": True,
        "nothing": None,
        "tags": ["a", "b"],
        "ints": [1, 2, 3],
        "floats": [0.25, 1.5],
        "flags": [True, False],
        "empty": [],
        "when": when,
        "uid": uid,
        "whens": [when],
    }
    obj = client_batch_object(props, vector={"colbert": [[0.1, 0.2], [0.3, 0.4]]})
    got = wire.batch_properties(obj.properties, "objects[0]")
    assert got["title"] == "Jingle All the Way"
    assert got["count"] == 3.0  # a Struct carries every number as a double
    assert got["score"] == 0.5
    assert got["ok"] is True
    assert got["nothing"] is None
    assert got["tags"] == ["a", "b"]
    assert got["ints"] == [1, 2, 3]
    assert got["floats"] == [0.25, 1.5]
    assert got["flags"] == [True, False]
    assert got["empty"] == []
    assert dt.datetime.fromisoformat(got["when"].replace("Z", "+00:00")) == when
    assert got["uid"] == str(uid)
    vecs = wire.batch_vectors(obj, "objects[0]")
    np.testing.assert_allclose(vecs["colbert"], [[0.1, 0.2], [0.3, 0.4]], rtol=1e-7)
    single = client_batch_object({"t": "x"}, vector=[1.0, 2.0, 3.0])
    # The unnamed vector: its collection decides which vector it is (weaviate_ops.resolve_unnamed).
    np.testing.assert_array_equal(wire.batch_vectors(single, "o")[wire.UNNAMED], [1.0, 2.0, 3.0])


def parse_value(v):
    """The client's own result parser."""
    return _BaseExecutor._BaseExecutor__deserialize_non_ref_prop(object.__new__(_BaseExecutor), v)


@pytest.mark.parametrize(
    ("value", "dtype", "expected"),
    [
        ("hello", "text", "hello"),
        (["a", "b"], "text[]", ["a", "b"]),
        (7, "int", 7),
        ([1, -2, 2**40], "int[]", [1, -2, 2**40]),
        (0.125, "number", 0.125),
        ([0.5, 1e300], "number[]", [0.5, 1e300]),
        (True, "boolean", True),
        ([True, False], "boolean[]", [True, False]),
        ("aGVsbG8=", "blob", "aGVsbG8="),
        (None, "text", None),
    ],
)
def test_result_values_parse_in_the_client(value, dtype, expected) -> None:
    assert parse_value(wire.to_value(value, dtype)) == expected


def test_dates_and_uuids_parse_in_the_client() -> None:
    when = dt.datetime(2023, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone.utc)
    assert parse_value(wire.to_value(when, "date")) == when
    assert parse_value(wire.to_value([when, when], "date[]")) == [when, when]
    u = uuid.uuid4()
    assert parse_value(wire.to_value(str(u), "uuid")) == u
    assert parse_value(wire.to_value([u], "uuid[]")) == [u]
    assert wire.uuid_bytes(u) == u.bytes
    with pytest.raises(ValidationError, match="not a UUID"):
        wire.parse_uuid("nope", "id")

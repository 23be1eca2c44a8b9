"""Weaviate's gRPC wire formats, in both directions: vectors, batch properties, result values, UUIDs.

Facts (``docs/weaviate-wire.md``) from Weaviate and what weaviate-client 4.24.1 sends and parses:
* ``Vectors{vector_bytes, type}``: ``VECTOR_TYPE_SINGLE_FP32`` is raw little-endian float32;
  ``VECTOR_TYPE_MULTI_FP32`` is a little-endian uint16 ``dim`` followed by row-major float32 rows.
* Batch properties arrive split: scalars in a ``Struct`` (every number a double), typed arrays
  (text/int/number-as-packed-float64/bool) in their own lists, empty lists by name.
* Result values are ``properties_pb2.Value`` oneofs; arrays of ints and numbers are packed int64/float64.
* The client reads an object's UUID from ``metadata.id_as_bytes`` (16 bytes, big-endian).
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid as uuid_lib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from google.protobuf import struct_pb2
from weaviate.proto.v1 import base_pb2, batch_pb2, properties_pb2

from colweave.server.errors import ValidationError
from colweave.server.weaviate_ops import UNNAMED as ops_UNNAMED
from colweave.store.geo_phone import GEO, PHONE
from colweave.store.schema import BEACON_PREFIX

F32 = npt.NDArray[np.float32]


# The key of the unnamed vector (gRPC ``vector_bytes``) among an object's vectors until the translation
# layer knows its collection (:func:`colweave.server.weaviate_ops.resolve_unnamed`).
UNNAMED = ops_UNNAMED


def decode_vector(v: base_pb2.Vectors, where: str = "vector") -> F32:
    """A ``Vectors`` message as a float32 array: 1-D for a single vector, 2-D ``(tokens, dim)`` for a
    multi-vector."""
    data = bytes(v.vector_bytes)
    if v.type == base_pb2.Vectors.VECTOR_TYPE_MULTI_FP32:
        if len(data) < 2:
            raise ValidationError(
                f"{where}: a multi-vector needs a 2-byte dimension header, got {len(data)} bytes"
            )
        (dim,) = struct.unpack("<H", data[:2])
        body = data[2:]
        if dim == 0:
            raise ValidationError(f"{where}: multi-vector dimension is 0")
        if not body or len(body) % (4 * dim):
            raise ValidationError(
                f"{where}: {len(body)} bytes of float32 data is not a whole number of rows of dimension {dim}"
            )
        arr = np.frombuffer(body, dtype="<f4").reshape(-1, dim)
    else:
        if not data or len(data) % 4:
            raise ValidationError(f"{where}: {len(data)} bytes is not a whole number of float32 values")
        arr = np.frombuffer(data, dtype="<f4")
    out = arr.astype(np.float32)
    if not np.isfinite(out).all():
        raise ValidationError(f"{where}: vectors must be finite (no NaN or infinity)")
    return out


def encode_multi_vector(name: str, arr: npt.NDArray[Any]) -> base_pb2.Vectors:
    a = np.ascontiguousarray(arr, dtype="<f4")
    if a.ndim != 2 or a.shape[1] > 0xFFFF:
        raise ValueError("multi-vectors are 2-D with dimension < 65536")
    return base_pb2.Vectors(
        name=name,
        vector_bytes=struct.pack("<H", a.shape[1]) + a.tobytes(),
        type=base_pb2.Vectors.VECTOR_TYPE_MULTI_FP32,
    )


def encode_single_vector(name: str, arr: npt.NDArray[Any]) -> base_pb2.Vectors:
    a = np.ascontiguousarray(arr, dtype="<f4").reshape(-1)
    return base_pb2.Vectors(
        name=name, vector_bytes=a.tobytes(), type=base_pb2.Vectors.VECTOR_TYPE_SINGLE_FP32
    )


def batch_vectors(obj: batch_pb2.BatchObject, where: str) -> dict[str, F32]:
    """The vectors of a batch object by name; ``vector_bytes`` / ``vector`` (and a ``Vectors`` without a
    name) are the unnamed vector, under :data:`UNNAMED`."""
    out: dict[str, F32] = {}
    for i, v in enumerate(obj.vectors):
        name = v.name or UNNAMED
        if name in out:
            raise ValidationError(f"{where}: vector {name!r} given twice")
        out[name] = decode_vector(v, f"{where}.vectors[{i}]")
    if obj.vector_bytes:
        out.setdefault(UNNAMED, decode_vector(base_pb2.Vectors(vector_bytes=obj.vector_bytes), where))
    elif len(obj.vector):
        out.setdefault(UNNAMED, np.asarray(list(obj.vector), dtype=np.float32))
    return out


def _struct_value(v: struct_pb2.Value) -> Any:
    kind = v.WhichOneof("kind")
    if kind == "number_value":
        return v.number_value
    if kind == "string_value":
        return v.string_value
    if kind == "bool_value":
        return v.bool_value
    if kind == "null_value" or kind is None:
        return None
    if kind == "list_value":
        return [_struct_value(x) for x in v.list_value.values]
    return {k: _struct_value(x) for k, x in v.struct_value.fields.items()}


def _plain_values(props: Any, where: str) -> dict[str, Any]:
    """The non-reference values of a batch object's properties (or of an object property's value) as
    plain Python values (numbers as float, arrays as lists, object properties as dicts)."""
    out: dict[str, Any] = {k: _struct_value(v) for k, v in props.non_ref_properties.fields.items()}

    def put(name: str, value: Any) -> None:
        if name in out:
            raise ValidationError(f"{where}: property {name!r} given twice")
        out[name] = value

    for tp in props.text_array_properties:
        put(tp.prop_name, list(tp.values))
    for ip in props.int_array_properties:
        put(ip.prop_name, [int(x) for x in ip.values])
    for fp in props.number_array_properties:
        if fp.values_bytes:
            if len(fp.values_bytes) % 8:
                raise ValidationError(
                    f"{where}: property {fp.prop_name!r}: packed float64 array has a partial value"
                )
            put(fp.prop_name, [float(x) for x in np.frombuffer(fp.values_bytes, dtype="<f8")])
        else:
            put(fp.prop_name, [float(x) for x in fp.values])
    for bp in props.boolean_array_properties:
        put(bp.prop_name, [bool(x) for x in bp.values])
    for name in props.empty_list_props:
        put(name, [])
    if len(props.object_array_properties):
        raise ValidationError(f"{where}: object properties are not supported by this server")
    # The client sends a dict value as an object property: the map of a geoCoordinates or phoneNumber
    # value (the schema refuses it for any other data type; object properties are not supported).
    for op in props.object_properties:
        put(op.prop_name, _plain_values(op.value, where))
    return out


def batch_properties(props: batch_pb2.BatchObject.Properties, where: str) -> dict[str, Any]:
    """A batch object's properties as plain Python values (numbers as float, arrays as lists)."""
    out = _plain_values(props, where)

    def put(name: str, value: Any) -> None:
        if name in out:
            raise ValidationError(f"{where}: property {name!r} given twice")
        out[name] = value

    # Cross-references: the uuids of a property's targets, as the beacons an object's JSON would hold
    # (a single-target property's beacons get their collection from the schema).
    refs: dict[str, list[dict[str, str]]] = {}
    for sp in props.single_target_ref_props:
        refs.setdefault(sp.prop_name, []).extend({"beacon": f"{BEACON_PREFIX}{u}"} for u in sp.uuids)
    for mp in props.multi_target_ref_props:
        if not mp.target_collection:
            raise ValidationError(
                f"{where}: property {mp.prop_name!r}: a multi-target reference needs its collection"
            )
        refs.setdefault(mp.prop_name, []).extend(
            {"beacon": f"{BEACON_PREFIX}{mp.target_collection}/{u}"} for u in mp.uuids
        )
    for name, beacons in refs.items():
        put(name, beacons)
    return out


def rfc3339(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    value = value.astimezone(dt.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def to_value(value: Any, data_type: str) -> properties_pb2.Value:
    """A stored property value as the ``Value`` the client parses for its data type."""
    if value is None:
        return properties_pb2.Value(null_value=struct_pb2.NULL_VALUE)  # type: ignore[arg-type]
    base = data_type[:-2] if data_type.endswith("[]") else data_type
    if data_type.endswith("[]"):
        vals = list(value)
        if base == "int":
            lv = properties_pb2.ListValue(
                int_values=properties_pb2.IntValues(values=np.asarray(vals, "<i8").tobytes())
            )
        elif base == "number":
            lv = properties_pb2.ListValue(
                number_values=properties_pb2.NumberValues(values=np.asarray(vals, "<f8").tobytes())
            )
        elif base == "boolean":
            lv = properties_pb2.ListValue(
                bool_values=properties_pb2.BoolValues(values=[bool(v) for v in vals])
            )
        elif base == "date":
            lv = properties_pb2.ListValue(
                date_values=properties_pb2.DateValues(values=[_date_str(v) for v in vals])
            )
        elif base == "uuid":
            lv = properties_pb2.ListValue(
                uuid_values=properties_pb2.UuidValues(values=[str(v) for v in vals])
            )
        else:
            lv = properties_pb2.ListValue(
                text_values=properties_pb2.TextValues(values=[str(v) for v in vals])
            )
        return properties_pb2.Value(list_value=lv)
    if base == "int":
        return properties_pb2.Value(int_value=int(value))
    if base == "number":
        return properties_pb2.Value(number_value=float(value))
    if base == "boolean":
        return properties_pb2.Value(bool_value=bool(value))
    if base == "date":
        return properties_pb2.Value(date_value=_date_str(value))
    if base == "uuid":
        return properties_pb2.Value(uuid_value=str(value))
    if base == "blob":
        return properties_pb2.Value(blob_value=str(value))
    if base == GEO:
        return properties_pb2.Value(
            geo_value=properties_pb2.GeoCoordinate(
                latitude=float(value["latitude"]), longitude=float(value["longitude"])
            )
        )
    if base == PHONE:
        return properties_pb2.Value(
            phone_value=properties_pb2.PhoneNumber(
                country_code=int(value.get("countryCode", 0)),
                default_country=str(value.get("defaultCountry", "")),
                input=str(value.get("input", "")),
                international_formatted=str(value.get("internationalFormatted", "")),
                national=int(value.get("national", 0)),
                national_formatted=str(value.get("nationalFormatted", "")),
                valid=bool(value.get("valid", False)),
            )
        )
    return properties_pb2.Value(text_value=str(value))


def _date_str(v: Any) -> str:
    return rfc3339(v) if isinstance(v, dt.datetime) else str(v)


def to_properties(values: Mapping[str, Any], types: Mapping[str, str]) -> properties_pb2.Properties:
    return properties_pb2.Properties(fields={k: to_value(v, types.get(k, "text")) for k, v in values.items()})


def uuid_bytes(u: uuid_lib.UUID | str) -> bytes:
    return (u if isinstance(u, uuid_lib.UUID) else uuid_lib.UUID(str(u))).bytes


def parse_uuid(value: str, where: str) -> uuid_lib.UUID:
    try:
        return uuid_lib.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise ValidationError(f"{where}: {value!r} is not a UUID") from None


def names(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))

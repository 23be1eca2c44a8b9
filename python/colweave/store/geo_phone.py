"""Weaviate's ``geoCoordinates`` and ``phoneNumber`` values: parsing them as Weaviate's object validation
does, the great-circle distance its ``withinGeoRange`` filter compares, and their wire forms.

* A geoCoordinates value is ``{"latitude": x, "longitude": y}``; both are numbers and stored, as in
  Weaviate, at float32 precision (kept as the shortest decimal of the float32, so REST answers ``1.1``
  and gRPC's float fields carry Weaviate's float32). Weaviate's messages for a value that is not a map,
  lacks a field or holds a non-number. One check Weaviate does not make: a latitude must lie in
  [-90, 90] and a longitude in [-180, 180] (Weaviate stores any number, but its Python client then
  fails to read the object back: its ``GeoCoordinate`` enforces these ranges); non-finite numbers,
  which JSON cannot carry, are refused too.
* A phoneNumber value is given as ``{"input": "...", "defaultCountry": "nl"}`` and stored with the fields
  Weaviate derives with libphonenumber (here the ``phonenumbers`` port of the same library):
  ``countryCode``, ``defaultCountry`` (upper-cased), ``input``, ``internationalFormatted``, ``national``,
  ``nationalFormatted`` and ``valid``.
* The distance is Weaviate's (``hnsw/distancer/geo_spatial.go``): the haversine formula on a sphere of
  radius 6 371 000 m, with the degrees-to-radians conversion of the latitudes in float32, the rest in
  float64, and the result rounded to float32; a point is within range when that distance is at most the
  range's (float32) distance. (One deviation: for nearly antipodal points, where rounding makes the
  haversine term exceed 1 and Weaviate's distance NaN, it is clipped to 1: half the circumference.)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from colweave.store.errors import SchemaError

GEO = "geoCoordinates"
PHONE = "phoneNumber"
EARTH_RADIUS_M = 6371e3

_PI32 = np.float32(math.pi)
_D180 = np.float32(180.0)

# Go's %T of the JSON values Weaviate's messages name.
_GO_TYPES = {str: "string", bool: "bool", int: "json.Number", float: "float64", list: "[]interface {}"}


def _go_type(v: Any) -> str:
    return _GO_TYPES.get(type(v), type(v).__name__)


def _f32(x: float) -> float:
    """``x`` rounded to float32, as the shortest decimal that is that float32."""
    return float(str(np.float32(x)))


_RANGES = {"latitude": 90.0, "longitude": 180.0}


def _coordinate(key: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"must be json.Number or float, but got {_go_type(v)}")
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"must be a finite number, got {v!r}")
    bound = _RANGES[key]
    if not -bound <= f <= bound:
        raise ValueError(f"must be between {-bound:g} and {bound:g}, got {v!r}")
    return _f32(f)


def parse_geo(value: Any, where: str) -> dict[str, float]:
    """A geoCoordinates value in its stored form, or SchemaError with Weaviate's message."""
    pre = f"invalid geoCoordinates {where}"
    if not isinstance(value, dict):
        raise SchemaError(f"{pre}: geoCoordinates must be a map, but got: {_go_type(value)}")
    for key in ("longitude", "latitude"):
        if key not in value:
            raise SchemaError(f"{pre}: geoCoordinates is missing required field '{key}'")
    out: dict[str, float] = {}
    for key in ("longitude", "latitude"):
        try:
            out[key] = _coordinate(key, value[key])
        except ValueError as e:
            raise SchemaError(f"{pre}: invalid {key}: {e}") from None
    return {"latitude": out["latitude"], "longitude": out["longitude"]}


def geo_distance(
    lat_a: Any, lon_a: Any, lat_b: npt.ArrayLike, lon_b: npt.ArrayLike
) -> npt.NDArray[np.float32]:
    """Weaviate's great-circle distance in metres (float32) from point a to each point b; the same code
    serves one point (the reference predicate) and a column of them (the filter index)."""
    la = np.asarray(lat_a, np.float32)
    oa = np.asarray(lon_a, np.float32)
    lb = np.asarray(lat_b, np.float32)
    ob = np.asarray(lon_b, np.float32)
    la_rad = (la * _PI32 / _D180).astype(np.float64)
    lb_rad = (lb * _PI32 / _D180).astype(np.float64)
    dlat = (lb - la).astype(np.float64) * math.pi / 180
    dlon = (ob - oa).astype(np.float64) * math.pi / 180
    s_lat = np.sin(dlat / 2)
    s_lon = np.sin(dlon / 2)
    a = s_lat * s_lat + np.cos(la_rad) * np.cos(lb_rad) * s_lon * s_lon
    # Rounding can take a a hair past 1 for nearly antipodal points; Weaviate's formula then yields NaN
    # (which its range check keeps); clipped here, such a point is half the circumference away.
    a = np.clip(a, 0.0, 1.0)
    c = 2 * np.arctan2(np.sqrt(a), np.sqrt(1 - a))
    return np.asarray(EARTH_RADIUS_M * c, np.float64).astype(np.float32)


def within(distance: npt.NDArray[np.float32], max_distance: float) -> npt.NDArray[np.bool_]:
    out: npt.NDArray[np.bool_] = distance <= np.float32(max_distance)
    return out


def parse_geo_range(value: Any, where: str) -> tuple[float, float, float]:
    """A withinGeoRange filter value ``(latitude, longitude, distance in metres)``; accepts the tuple, or
    Weaviate's REST shape ``{"geoCoordinates": {"latitude", "longitude"}, "distance": {"max": d}}``."""
    from colweave.store.errors import FilterError

    if isinstance(value, dict):
        dist = value.get("distance")
        if not isinstance(dist, dict) or "max" not in dist:
            raise FilterError("valueGeoRange: field 'distance' must be set")
        coords = value.get("geoCoordinates")
        if not isinstance(coords, dict):
            raise FilterError("valueGeoRange: field 'geoCoordinates' must be set")
        value = (coords.get("latitude"), coords.get("longitude"), dist.get("max"))
    if not isinstance(value, tuple | list) or len(value) != 3:
        raise FilterError(f"{where}: within_geo_range takes (latitude, longitude, distance)")
    lat, lon, d = value
    for label, x in (("latitude", lat), ("longitude", lon), ("distance", d)):
        if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(float(x)):
            raise FilterError(f"{where}: within_geo_range: {label} must be a finite number, got {x!r}")
    if d < 0:
        raise FilterError("valueGeoRange: field 'distance.max' must be a positive number")
    return float(lat), float(lon), float(d)


_PHONE_PARSE_ERRORS = {
    1: "the phone number supplied is not a number",
    2: "phone number had an IDD, but after this was not long enough to be a viable phone number",
    3: "the string supplied is too short to be a phone number",
    4: "the string supplied is too long to be a phone number",
}
_MISSING_COUNTRY = (
    "invalid phone number: invalid or missing defaultCountry - this field is optional if the specified "
    "number is in the international format, but required if the number is in national format, use "
    "ISO 3166-1 alpha-2"
)
PHONE_FIELDS = (
    "countryCode",
    "defaultCountry",
    "input",
    "internationalFormatted",
    "national",
    "nationalFormatted",
    "valid",
)


def parse_phone(value: Any, where: str) -> dict[str, Any]:
    """A phoneNumber value (``{"input", "defaultCountry"?}``) in its stored form, or SchemaError with
    Weaviate's message."""
    import phonenumbers

    pre = f"invalid phoneNumber {where}"
    if not isinstance(value, dict):
        raise SchemaError(f"{pre}: phoneNumber must be a map, but got: {_go_type(value)}")
    if "input" not in value:
        raise SchemaError(f"{pre}: phoneNumber is missing required field 'input'")
    text = value["input"]
    if not isinstance(text, str):
        raise SchemaError(f"{pre}: phoneNumber.input must be a string")
    country = value.get("defaultCountry", "")
    if not isinstance(country, str):
        raise SchemaError(f"{pre}: phoneNumber.defaultCountry must be a string")
    country = country.upper()
    try:
        num = phonenumbers.parse(text, country or None)
    except phonenumbers.NumberParseException as e:
        if e.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise SchemaError(f"{pre}: {_MISSING_COUNTRY}") from None
        why = _PHONE_PARSE_ERRORS.get(e.error_type, str(e))
        raise SchemaError(f"{pre}: invalid phone number: {why}") from None
    fmt = phonenumbers.PhoneNumberFormat
    return {
        "countryCode": int(num.country_code or 0),
        "defaultCountry": country,
        "input": text,
        "internationalFormatted": phonenumbers.format_number(num, fmt.INTERNATIONAL),
        "national": int(num.national_number or 0),
        "nationalFormatted": phonenumbers.format_number(num, fmt.NATIONAL),
        "valid": bool(phonenumbers.is_valid_number(num)),
    }


def phone_rest(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored phone number as Weaviate's REST answers it: its empty fields left out (Go's omitempty)."""
    return {k: stored[k] for k in PHONE_FIELDS if stored.get(k) not in (None, "", 0, False)}

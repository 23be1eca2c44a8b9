"""geoCoordinates and phoneNumber properties through the real weaviate-client (REST and gRPC) and raw REST
against a real colweave server.

References: distances are the haversine formula on a sphere of radius 6 371 000 m computed here in float64
(Weaviate's geo distancer uses that radius and formula), with every point kept well away from the range's
edge, and the edge itself checked a millionth of the distance either side; the phone numbers' fields are
those Weaviate's documentation shows for ``{"input": "020 1234567", "defaultCountry": "nl"}`` and the
client suite's for ``+441612345000``; the error messages are Weaviate's object validation's."""

from __future__ import annotations

import math
import uuid

import httpx
import numpy as np
import pytest
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter, Metrics, Sort
from weaviate.collections.classes.types import GeoCoordinate, PhoneNumber
from weaviate.exceptions import WeaviateInsertManyAllFailedError, WeaviateQueryError

R = 6371e3


def haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = math.radians(lat2 - lat1), math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * R * math.asin(math.sqrt(a))


def _places(client):
    return client.collections.create(
        "Places",
        vectorizer_config=Configure.Vectorizer.none(),
        properties=[
            Property(name="name", data_type=DataType.TEXT),
            Property(name="geo", data_type=DataType.GEO_COORDINATES),
            Property(name="phone", data_type=DataType.PHONE_NUMBER),
        ],
    )


def test_geo_coordinates_round_trip(served) -> None:
    s, client = served
    places = _places(client)
    u1 = places.data.insert({"geo": GeoCoordinate(latitude=52.3676, longitude=4.9041)})  # REST
    res = places.data.insert_many([{"geo": {"latitude": -33.8688, "longitude": 151.2093}}])  # gRPC
    assert not res.has_errors
    u2 = res.uuids[0]
    # gRPC returns Weaviate's float32 values; REST writes them as their shortest decimals.
    got = places.query.fetch_object_by_id(u1).properties["geo"]
    assert (got.latitude, got.longitude) == (float(np.float32(52.3676)), float(np.float32(4.9041)))
    got = places.query.fetch_object_by_id(u2).properties["geo"]
    assert (got.latitude, got.longitude) == (float(np.float32(-33.8688)), float(np.float32(151.2093)))
    with httpx.Client(base_url=s.http) as http:
        r = http.get(f"/v1/objects/Places/{u1}")
        assert r.json()["properties"]["geo"] == {"latitude": 52.3676, "longitude": 4.9041}
        schema = http.get("/v1/schema/Places").json()
        geo = next(p for p in schema["properties"] if p["name"] == "geo")
        assert geo["dataType"] == ["geoCoordinates"]

        def bad(geo):
            r = http.post("/v1/objects", json={"class": "Places", "properties": {"geo": geo}})
            assert r.status_code == 422, r.text
            return r.json()["error"][0]["message"]

        pre = "invalid geoCoordinates property 'geo': "
        assert bad("north") == pre + "geoCoordinates must be a map, but got: string"
        assert bad({"latitude": 1.0}) == pre + "geoCoordinates is missing required field 'longitude'"
        assert bad({"longitude": 1.0}) == pre + "geoCoordinates is missing required field 'latitude'"
        assert bad({"latitude": "1", "longitude": 2}) == (
            pre + "invalid latitude: must be json.Number or float, but got string"
        )
        # Ranges (which Weaviate's client enforces when it reads a value back): refused here.
        assert (
            bad({"latitude": 90.5, "longitude": 0})
            == pre + "invalid latitude: must be between -90 and 90, got 90.5"
        )
        assert bad({"latitude": 0, "longitude": -181}) == (
            pre + "invalid longitude: must be between -180 and 180, got -181"
        )
    u3 = places.data.insert({"geo": {"latitude": -90, "longitude": 180}})  # the edges are coordinates
    assert places.query.fetch_object_by_id(u3).properties["geo"] == GeoCoordinate(latitude=-90, longitude=180)
    assert len(places) == 3  # nothing of the refused objects was stored


def test_within_geo_range_matches_the_haversine_distance(served) -> None:
    s, client = served
    places = _places(client)
    rng = np.random.default_rng(7)
    centre = (48.8566, 2.3522)
    radius = 900_000.0
    points = []
    while len(points) < 120:  # random points, none within 1 km of the range's edge
        lat, lon = float(rng.uniform(30, 65)), float(rng.uniform(-20, 30))
        lat, lon = float(np.float32(lat)), float(np.float32(lon))  # as stored
        if abs(haversine(*centre, lat, lon) - radius) > 1000:
            points.append((lat, lon))
    objs = [
        DataObject({"name": f"p{i}", "geo": {"latitude": a, "longitude": b}}, uuid=uuid.UUID(int=i + 1))
        for i, (a, b) in enumerate(points)
    ]
    objs.append(DataObject({"name": "nowhere"}, uuid=uuid.UUID(int=999)))  # no coordinates: never in range
    assert not places.data.insert_many(objs).has_errors
    want = sorted(
        str(uuid.UUID(int=i + 1)) for i, (a, b) in enumerate(points) if haversine(*centre, a, b) <= radius
    )
    assert 10 < len(want) < 110

    f = Filter.by_property("geo").within_geo_range(
        GeoCoordinate(latitude=centre[0], longitude=centre[1]), radius
    )
    got = places.query.fetch_objects(filters=f, limit=1000).objects
    assert sorted(str(o.uuid) for o in got) == want  # gRPC
    assert places.aggregate.over_all(filters=f, total_count=True).total_count == len(want)
    with httpx.Client(base_url=s.http) as http:  # REST: a dry-run delete lists the matches
        where = {
            "path": ["geo"],
            "operator": "WithinGeoRange",
            "valueGeoRange": {
                "geoCoordinates": {"latitude": centre[0], "longitude": centre[1]},
                "distance": {"max": radius},
            },
        }
        body = {"match": {"class": "Places", "where": where}, "dryRun": True, "output": "verbose"}
        r = http.request("DELETE", "/v1/batch/objects", json=body)
        assert r.status_code == 200, r.text
        assert sorted(o["id"] for o in r.json()["results"]["objects"]) == want
        bad = {**where, "valueGeoRange": {**where["valueGeoRange"], "distance": {"max": -1}}}
        body = {"match": {"class": "Places", "where": bad}, "dryRun": True}
        r = http.request("DELETE", "/v1/batch/objects", json=body)
        assert r.status_code == 422
        assert "valueGeoRange: field 'distance.max' must be a positive number" in r.text

    # The edge: a point at distance d is in a range of d (1 + 1e-6) and out of one of d (1 - 1e-6).
    a, b = points[0]
    d = haversine(*centre, a, b)
    near = GeoCoordinate(latitude=centre[0], longitude=centre[1])
    name0 = Filter.by_property("name").equal("p0")
    for dist, hit in ((d * (1 + 1e-6), True), (d * (1 - 1e-6), False)):
        f = Filter.by_property("geo").within_geo_range(near, dist) & name0
        assert len(places.query.fetch_objects(filters=f).objects) == (1 if hit else 0)
    # The client suite's case: 2 km around a point 1.1 km away, not the one at the other end of the world.
    f = Filter.by_property("geo").within_geo_range(GeoCoordinate(latitude=a, longitude=b + 0.01), 2000.0)
    assert [o.properties["name"] for o in places.query.fetch_objects(filters=f).objects] == ["p0"]


def test_auto_schema_and_sorting(served) -> None:
    """Auto-schema infers both types from Weaviate's shapes; sorting compares Weaviate's float arrays
    ([longitude, latitude] and [countryCode, national])."""
    s, client = served
    client.collections.create("Auto", vectorizer_config=Configure.Vectorizer.none())
    with httpx.Client(base_url=s.http) as http:
        for i, (lat, lon, phone) in enumerate(
            [
                (10.0, 30.0, "+44 161 234 5000"),
                (50.0, -5.0, "+1 202 555 0100"),
                (-20.0, 30.0, "+31 20 123 4567"),
            ]
        ):
            props = {"spot": {"latitude": lat, "longitude": lon}, "tel": {"input": phone}}
            r = http.post(
                "/v1/objects", json={"class": "Auto", "id": str(uuid.UUID(int=i + 1)), "properties": props}
            )
            assert r.status_code == 200, r.text
        types = {p["name"]: p["dataType"] for p in http.get("/v1/schema/Auto").json()["properties"]}
        assert types == {"spot": ["geoCoordinates"], "tel": ["phoneNumber"]}
    auto = client.collections.get("Auto")
    by_geo = auto.query.fetch_objects(sort=Sort.by_property("spot")).objects
    assert [o.uuid.int for o in by_geo] == [2, 3, 1]  # longitudes -5, 30, 30 (then latitude -20 < 10)
    by_tel = auto.query.fetch_objects(sort=Sort.by_property("tel", ascending=False)).objects
    assert [o.uuid.int for o in by_tel] == [1, 3, 2]  # country codes 44, 31, 1


def test_geo_filters_and_aggregates_refused_as_weaviate_does(served) -> None:
    _, client = served
    places = _places(client)
    places.data.insert({"name": "x", "geo": {"latitude": 1.0, "longitude": 2.0}})
    with pytest.raises(WeaviateQueryError, match="it can only be used with geoRange filters"):
        places.query.fetch_objects(filters=Filter.by_property("geo").equal("x"))
    near = GeoCoordinate(latitude=1.0, longitude=2.0)
    with pytest.raises(WeaviateQueryError, match="within_geo_range needs a geoCoordinates property"):
        places.query.fetch_objects(filters=Filter.by_property("name").within_geo_range(near, 10.0))
    assert len(places.query.fetch_objects(filters=Filter.by_property("geo").is_none(False)).objects) == 1
    with pytest.raises(Exception, match="can't be aggregated"):
        places.aggregate.over_all(return_metrics=[Metrics("geo").text()])


def test_phone_numbers(served) -> None:
    s, client = served
    places = _places(client)
    u1 = places.data.insert({"phone": PhoneNumber(number="020 1234567", default_country="nl")})  # REST
    res = places.data.insert_many([{"phone": PhoneNumber(number="+441612345000")}])  # gRPC
    assert not res.has_errors
    u3 = places.data.insert({"phone": PhoneNumber(number="+31 20 123")})  # parsed, but too short: invalid

    p = places.query.fetch_object_by_id(u1).properties["phone"]  # gRPC
    assert (p.number, p.default_country, p.country_code, p.national) == ("020 1234567", "NL", 31, 201234567)
    assert (p.national_formatted, p.international_formatted, p.valid) == (
        "020 123 4567",
        "+31 20 123 4567",
        True,
    )
    p = places.query.fetch_object_by_id(res.uuids[0]).properties["phone"]
    assert (p.country_code, p.international_formatted, p.valid) == (44, "+44 161 234 5000", True)
    assert places.query.fetch_object_by_id(u3).properties["phone"].valid is False

    with httpx.Client(base_url=s.http) as http:
        r = http.get(f"/v1/objects/Places/{u1}")
        assert r.json()["properties"]["phone"] == {
            "countryCode": 31,
            "defaultCountry": "NL",
            "input": "020 1234567",
            "internationalFormatted": "+31 20 123 4567",
            "national": 201234567,
            "nationalFormatted": "020 123 4567",
            "valid": True,
        }
        # Go's omitempty: REST leaves out the empty fields (no default country, not valid).
        assert "valid" not in http.get(f"/v1/objects/Places/{u3}").json()["properties"]["phone"]

        def bad(phone):
            r = http.post("/v1/objects", json={"class": "Places", "properties": {"phone": phone}})
            assert r.status_code == 422, r.text
            return r.json()["error"][0]["message"]

        pre = "invalid phoneNumber property 'phone': "
        assert bad("+31 20 123 4567") == pre + "phoneNumber must be a map, but got: string"
        assert bad({"number": "1"}) == pre + "phoneNumber is missing required field 'input'"
        assert bad({"input": 31}) == pre + "phoneNumber.input must be a string"
        assert (
            bad({"input": "1", "defaultCountry": 31}) == pre + "phoneNumber.defaultCountry must be a string"
        )
        assert bad({"input": "020 1234567"}) == pre + (
            "invalid phone number: invalid or missing defaultCountry - this field is optional if the "
            "specified number is in the international format, but required if the number is in national "
            "format, use ISO 3166-1 alpha-2"
        )
        assert (
            bad({"input": "call me"})
            == pre + "invalid phone number: the phone number supplied is not a number"
        )
    with pytest.raises(WeaviateInsertManyAllFailedError, match="phoneNumber must be a map"):
        places.data.insert_many([{"phone": "020 1234567"}])  # gRPC batch: the same per-object error
    assert len(places) == 3

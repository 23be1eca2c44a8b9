"""Bounded, deterministic fuzzing of the JSON bodies (and names, ids and query strings) of every REST
route, against a real server on a free port with a real store on disk: no answer is a 5xx, and the
server keeps serving and keeps what it had."""

from __future__ import annotations

import base64
import json
import urllib.parse
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.server.conftest import HashModel, png, start_server

FUZZ = settings(
    derandomize=True,
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
KNOWN = str(uuid.UUID(int=7))
SCHEMA = {
    "class": "Docs",
    "properties": [
        {"name": "title", "dataType": ["text"]},
        {"name": "year", "dataType": ["int"]},
        {"name": "page", "dataType": ["blob"]},
    ],
    "vectorConfig": {
        "colbert": {
            "vectorizer": {"none": {}},
            "vectorIndexType": "hnsw",
            "vectorIndexConfig": {"multivector": {"enabled": True}},
        }
    },
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start_server(HashModel(), data_dir=tmp_path_factory.mktemp("fuzz-rest") / "data")
    with httpx.Client(base_url=s.http, timeout=30) as c:
        assert c.post("/v1/schema", json=SCHEMA).status_code == 200
        assert c.post("/v1/schema", json={**SCHEMA, "class": "Kept"}).status_code == 200
        for cls in ("Docs", "Kept"):
            r = c.post(
                "/v1/objects",
                json={
                    "class": cls,
                    "id": KNOWN,
                    "properties": {"title": "kept", "year": 1999},
                    "vectors": {"colbert": [[1.0, 0.0], [0.0, 1.0]]},
                },
            )
            assert r.status_code == 200, r.text
        kept = c.get(f"/v1/objects/Kept/{KNOWN}", params={"include": "vector"}).json()
        yield s, c
        # The fuzzer writes to Docs only: Kept is exactly as it was, and the server still answers.
        assert c.get(f"/v1/objects/Kept/{KNOWN}", params={"include": "vector"}).json() == kept
        assert c.get("/v1/objects", params={"class": "Kept"}).json()["totalResults"] == 1
    s.stop()


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["Docs", "docs", "../x", "./Docs", KNOWN, "{" + KNOWN + "}", "text", "int[]", "*"]),
)
json_values = st.recursive(
    json_scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=16,
)
KEYS = [
    "class",
    "id",
    "properties",
    "vectors",
    "vector",
    "objects",
    "match",
    "where",
    "operator",
    "operands",
    "path",
    "valueText",
    "valueInt",
    "name",
    "dataType",
    "vectorConfig",
    "moduleConfig",
    "input",
    "model",
    "is_search_query",
    "dimensions",
    "dryRun",
    "output",
    "title",
    "year",
    "page",
    "colbert",
    "invertedIndexConfig",
    "multiTenancyConfig",
    "collection",
    "query",
    "mode",
    "limit",
    "alpha",
    "targetVector",
    "mapTokens",
]
# Objects whose keys are the routes' own: they get past the first checks and reach the deeper ones.
shaped = st.recursive(
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6),
    lambda kids: st.dictionaries(
        st.sampled_from(KEYS), kids | json_values | st.lists(kids, max_size=3), max_size=6
    ),
    max_leaves=20,
)
bodies = st.one_of(shaped, json_values, st.binary(max_size=40).map(lambda b: b"\x00raw" + b))
names = st.one_of(
    st.sampled_from(["Docs", "Nope", "docs", "..", "%2e%2e", "D" * 300, "A_b1"]),
    st.text(max_size=10).filter(lambda s: "/" not in s and s not in ("", ".", "..")),
)
ids = st.one_of(
    st.just(KNOWN), st.uuids().map(str), st.text(max_size=40).filter(lambda s: "/" not in s and s)
)
ROUTES = [
    ("POST", "/v1/schema"),
    ("GET", "/v1/schema/{name}"),
    ("POST", "/v1/schema/{name}/properties"),
    ("POST", "/v1/objects"),
    ("GET", "/v1/objects?{query}"),
    ("GET", "/v1/objects/{name}/{id}?{query}"),
    ("HEAD", "/v1/objects/{name}/{id}"),
    ("PUT", "/v1/objects/{name}/{id}"),
    ("PATCH", "/v1/objects/{name}/{id}"),
    ("DELETE", "/v1/objects/{name}/{id}"),
    ("POST", "/v1/batch/objects"),
    ("DELETE", "/v1/batch/objects"),
    ("POST", "/v1/embeddings/embed"),
    ("GET", "/v1/meta"),
    ("GET", "/v1/nodes"),
    ("GET", "/v1/colweave/info"),
    ("POST", "/v1/colweave/explain"),
    ("POST", "/v1/colweave/search"),
    ("GET", "/v1/colweave/image/{name}/{id}?{query}"),
]
queries = st.dictionaries(
    st.sampled_from(["class", "limit", "offset", "after", "include", "x"]),
    st.one_of(
        st.integers(-(10**25), 10**25).map(str),
        st.sampled_from(["vector", "Docs", "../x", KNOWN, "", "1e3", " 5"]),
        st.text(max_size=8),
    ),
    max_size=4,
)


def send(c: httpx.Client, method: str, path: str, body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return c.request(method, path, content=None if method in ("GET", "HEAD") else content)


@FUZZ
@given(st.sampled_from(ROUTES), names, ids, queries, bodies)
def test_no_body_name_id_or_query_gives_a_5xx(server, route, name, oid, query, body) -> None:
    _, c = server
    method, template = route
    path = template.format(
        name=urllib.parse.quote(name, safe=""),
        id=urllib.parse.quote(oid, safe=""),
        query=urllib.parse.urlencode(query),
    )
    r = send(c, method, path, body)
    assert r.status_code < 500, (method, path, body, r.status_code, r.text[:300])


image = base64.b64encode(png(12, 9)).decode()


@FUZZ
@given(
    st.lists(
        st.fixed_dictionaries(
            {"class": st.sampled_from(["Docs", "docs", "Nope", "../x", ""]) | json_scalars},
            optional={
                "id": ids | json_scalars,
                "properties": st.fixed_dictionaries(
                    {},
                    optional={
                        "title": json_values,
                        "year": json_values,
                        "page": st.just(image) | json_scalars,
                        "new_prop": json_values,
                        "id": json_scalars,
                    },
                )
                | json_values,
                "vectors": st.fixed_dictionaries(
                    {},
                    optional={
                        "colbert": st.lists(
                            st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), max_size=3),
                            max_size=3,
                        )
                        | json_values
                    },
                )
                | json_values,
            },
        ),
        min_size=1,
        max_size=6,
    )
)
def test_batches_of_near_valid_objects_never_give_a_5xx(server, objects) -> None:
    _, c = server
    r = c.post("/v1/batch/objects", content=json.dumps({"objects": objects}).encode())
    assert r.status_code < 500, (objects, r.status_code, r.text[:300])
    if r.status_code == 200:
        assert len(r.json()) == len(objects)

"""Hostile and careless inputs against the real ``colweave serve`` (tiny model, real store on disk): every
one gets a clear 4xx / INVALID_ARGUMENT / NOT_FOUND, nothing changes on disk or in the store, and the
server keeps serving. Raw HTTP and raw gRPC, because the client refuses to send most of these."""

from __future__ import annotations

import base64
import io
import json
import os
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
from PIL import Image
from weaviate.proto.v1 import (
    aggregate_pb2,
    base_pb2,
    base_search_pb2,
    batch_delete_pb2,
    batch_pb2,
    search_get_pb2,
    weaviate_pb2_grpc,
)

from colweave.server.weaviate_wire import encode_multi_vector
from colweave.v1 import embedding_pb2 as epb
from colweave.v1 import embedding_pb2_grpc as epb_grpc

from .serve_process import ServeProcess, serve

GOOD_ID = "6a5e0b1e-9d4c-4c57-8f0a-0c2a3b4d5e6f"
BAD_NAMES = [
    "./Docs",
    "../x",
    "/tmp/abs",
    "Docs/../Docs",
    "Docs/..",
    "..",
    "D" * 5000,
    "Do cs",
    "Docs\x00",
    "Dócs",
    "1abc",
    "Docs.",
    "_Docs",
    "Docs-2",
    "%2e%2e",
    "C:\\x",
]
BAD_UUIDS = [
    "{6a5e0b1e-9d4c-4c57-8f0a-0c2a3b4d5e6f}",
    "6a5e0b1e9d4c4c578f0a0c2a3b4d5e6f",
    "urn:uuid:6a5e0b1e-9d4c-4c57-8f0a-0c2a3b4d5e6f",
    "6a5e0b1e-9d4c-4c57-8f0a-0c2a3b4d5e6",
    "not-a-uuid",
]
DIM = 16


def q(s: str) -> str:
    return urllib.parse.quote(s, safe="")


def snapshot(root: Path) -> set[str]:
    """Every path under the test's temporary root (data directory and its neighbours), except logs."""
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if not p.name.endswith(".log") and "-wal" not in p.name
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[ServeProcess, Path, list[dict[str, Any]]]]:
    root = tmp_path_factory.mktemp("hostile")
    sp = serve(root / "data")
    r = httpx.post(
        f"{sp.http}/v1/schema",
        json={
            "class": "Docs",
            "properties": [{"name": "title", "dataType": ["text"]}, {"name": "year", "dataType": ["int"]}],
            "vectorConfig": {
                "colbert": {
                    "vectorizer": {"none": {}},
                    "vectorIndexType": "hnsw",
                    "vectorIndexConfig": {"multivector": {"enabled": True}},
                }
            },
        },
    )
    assert r.status_code == 200, r.text
    rng = np.random.default_rng(0)
    for i in range(3):
        r = httpx.post(
            f"{sp.http}/v1/objects",
            json={
                "class": "Docs",
                "id": str(uuid.UUID(int=i + 1)),
                "properties": {"title": f"doc {i}", "year": 2000 + i},
                "vectors": {"colbert": rng.standard_normal((4, DIM)).round(3).tolist()},
            },
        )
        assert r.status_code == 200, r.text
    before = everything(sp)
    yield sp, root, before
    assert sp.stop() == 0


def everything(sp: ServeProcess) -> list[dict[str, Any]]:
    r = httpx.get(f"{sp.http}/v1/objects", params={"class": "Docs", "include": "vector", "limit": 100})
    assert r.status_code == 200, r.text
    return sorted(r.json()["objects"], key=lambda o: o["id"])


def unchanged(sp: ServeProcess, root: Path, before: list[dict[str, Any]], files: set[str]) -> None:
    assert snapshot(root) == files
    assert everything(sp) == before
    assert httpx.get(f"{sp.http}/v1/schema").json()["classes"][0]["class"] == "Docs"
    assert len(httpx.get(f"{sp.http}/v1/schema").json()["classes"]) == 1


def rest_cases() -> list[tuple[str, str, str, Any, int]]:
    """(what, method, path, json body or None, expected status)."""
    cases: list[tuple[str, str, str, Any, int]] = []
    for n in BAD_NAMES:
        cases += [
            (
                f"POST /v1/objects class={n[:20]!r}",
                "POST",
                "/v1/objects",
                {"class": n, "properties": {}},
                422,
            ),
            (f"POST /v1/schema class={n[:20]!r}", "POST", "/v1/schema", {"class": n}, 422),
            (f"GET ?class={n[:20]!r}", "GET", f"/v1/objects?class={q(n)}", None, 422),
            (
                f"DELETE batch match.class={n[:20]!r}",
                "DELETE",
                "/v1/batch/objects",
                {"match": {"class": n, "where": {"path": ["title"], "operator": "Like", "valueText": "*"}}},
                422,
            ),
        ]
        if "/" not in n and n != "..":  # one path segment (the client resolves "..", "/" splits)
            cases += [
                (f"GET /v1/schema/{n[:20]!r}", "GET", f"/v1/schema/{q(n)}", None, 422),
                (f"DELETE /v1/schema/{n[:20]!r}", "DELETE", f"/v1/schema/{q(n)}", None, 422),
                (
                    f"POST /v1/schema/{n[:20]!r}/properties",
                    "POST",
                    f"/v1/schema/{q(n)}/properties",
                    {"name": "extra", "dataType": ["text"]},
                    422,
                ),
                (f"GET /v1/objects/{n[:20]!r}/id", "GET", f"/v1/objects/{q(n)}/{GOOD_ID}", None, 422),
                (f"HEAD /v1/objects/{n[:20]!r}/id", "HEAD", f"/v1/objects/{q(n)}/{GOOD_ID}", None, 422),
                (
                    f"PUT /v1/objects/{n[:20]!r}/id",
                    "PUT",
                    f"/v1/objects/{q(n)}/{GOOD_ID}",
                    {"properties": {"title": "x"}},
                    422,
                ),
                (
                    f"PATCH /v1/objects/{n[:20]!r}/id",
                    "PATCH",
                    f"/v1/objects/{q(n)}/{GOOD_ID}",
                    {"properties": {"title": "x"}},
                    422,
                ),
                (f"DELETE /v1/objects/{n[:20]!r}/id", "DELETE", f"/v1/objects/{q(n)}/{GOOD_ID}", None, 422),
            ]
        else:
            cases.append((f"GET /v1/schema/{n[:20]!r} (no route)", "GET", f"/v1/schema/{q(n)}", None, 404))
    cases += [
        ("GET unknown schema", "GET", "/v1/schema/Nope", None, 404),
        ("GET unknown object's collection", "GET", f"/v1/objects/Nope/{GOOD_ID}", None, 404),
        ("GET ?class=Nope", "GET", "/v1/objects?class=Nope", None, 404),
        ("POST object into Nope", "POST", "/v1/objects", {"class": "Nope", "properties": {}}, 404),
        (
            "add property to Nope",
            "POST",
            "/v1/schema/Nope/properties",
            {"name": "x", "dataType": ["text"]},
            404,
        ),
    ]
    for u in BAD_UUIDS:
        cases += [
            (f"GET object id={u!r}", "GET", f"/v1/objects/Docs/{q(u)}", None, 422),
            (f"HEAD object id={u!r}", "HEAD", f"/v1/objects/Docs/{q(u)}", None, 422),
            (f"DELETE object id={u!r}", "DELETE", f"/v1/objects/Docs/{q(u)}", None, 422),
            (f"PUT object id={u!r}", "PUT", f"/v1/objects/Docs/{q(u)}", {"properties": {"title": "x"}}, 422),
            (
                f"PATCH object id={u!r}",
                "PATCH",
                f"/v1/objects/Docs/{q(u)}",
                {"properties": {"title": "x"}},
                422,
            ),
            (f"POST object body id={u!r}", "POST", "/v1/objects", {"class": "Docs", "id": u}, 422),
            (f"GET after={u!r}", "GET", f"/v1/objects?class=Docs&after={q(u)}", None, 422),
        ]
    deep = '{"path": ["title"], "operator": "Equal", "valueText": "doc 1"}'
    for depth in range(1, 511):
        # Encoded by hand: json.dumps itself gives up (RecursionError) on a few hundred levels.
        op = "And" if depth % 2 else "Or"
        deep = f'{{"operator": "{op}", "operands": [{deep}]}}'
        if depth in (65, 150, 510):
            cases.append(
                (
                    f"REST where {depth} deep",
                    "DELETE",
                    "/v1/batch/objects",
                    f'{{"match": {{"class": "Docs", "where": {deep}}}}}'.encode(),
                    422,
                )
            )
    for params, what in [
        ("limit=99999999999999999999999", "limit 10^23"),
        ("limit=-1", "negative limit"),
        ("offset=-5", "offset -5"),
        ("limit=abc", "limit not a number"),
        ("limit=9000&offset=2000", "offset + limit over 10000"),
        ("limit=20000", "limit 20000"),
        ("include=vector&limit=1000", "1000 objects with vectors"),
    ]:
        cases.append((what, "GET", f"/v1/objects?class=Docs&{params}", None, 422))
    return cases


REST_CASES = rest_cases()


def test_rest_hostile_inputs_get_4xx_and_change_nothing(server) -> None:
    sp, root, before = server
    files = snapshot(root)
    wrong: list[str] = []
    with httpx.Client(base_url=sp.http, timeout=30) as c:
        for what, method, path, body, want in REST_CASES:
            content = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
            r = c.request(method, path, content=content)
            if r.status_code != want:
                wrong.append(f"{what}: {r.status_code} (wanted {want}) {r.text[:200]}")
            elif (method != "HEAD" and want != 404) or path.startswith("/v1/objects?"):
                msg = r.json()["error"][0]["message"]
                assert msg, what
                assert "internal error" not in msg, (what, msg)
    assert not wrong, "\n".join(wrong)
    unchanged(sp, root, before, files)
    print(f"REST: {len(REST_CASES)} hostile inputs, all answered 4xx, nothing changed")


def test_rest_batch_with_bad_names_fails_only_those_objects(server) -> None:
    sp, root, before = server
    objs = [{"class": n, "properties": {"title": "x"}} for n in BAD_NAMES]
    objs += [{"class": "Docs", "id": u, "properties": {"title": "x"}} for u in BAD_UUIDS]
    r = httpx.post(f"{sp.http}/v1/batch/objects", json={"objects": objs}, timeout=30)
    assert r.status_code == 200, r.text
    for entry in r.json():
        msg = entry["result"]["errors"]["error"][0]["message"]
        assert "collection name" in msg or "not a UUID" in msg, msg
    unchanged(sp, root, before, snapshot(root))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _filter_bytes(depth: int) -> bytes:
    """A ``Filters`` tree ``depth`` levels deep, encoded by hand: protobuf itself refuses to build (or
    parse) messages nested about 100 deep, which is what a hostile client sends."""
    f = base_pb2.Filters(
        operator=base_pb2.Filters.OPERATOR_EQUAL,
        target=base_pb2.FilterTarget(property="title"),
        value_text="doc 1",
    ).SerializeToString()
    for i in range(depth - 1):
        op = base_pb2.Filters.OPERATOR_AND if i % 2 else base_pb2.Filters.OPERATOR_NOT
        f = _varint(1 << 3 | 0) + _varint(op) + _field(3, f)
    return f


def _filter(depth: int) -> base_pb2.Filters:
    return base_pb2.Filters.FromString(_filter_bytes(depth))


class Raw:
    """A request sent as raw bytes (a message protobuf will not build)."""

    def __init__(self, head: Any, field: int, payload: bytes) -> None:
        self.data = head.SerializeToString() + _field(field, payload)


def _search(**kw: Any) -> search_get_pb2.SearchRequest:
    kw.setdefault("collection", "Docs")
    return search_get_pb2.SearchRequest(uses_123_api=True, uses_125_api=True, uses_127_api=True, **kw)


def _near(rows: int) -> base_search_pb2.NearVector:
    v = encode_multi_vector("colbert", np.ones((rows, DIM), np.float32))
    return base_search_pb2.NearVector(
        vectors=[v], targets=base_search_pb2.Targets(target_vectors=["colbert"])
    )


def _grpc_cases() -> list[tuple[str, str, Any, grpc.StatusCode]]:
    """(what, method, request, expected code)."""
    S, A, D = _search, aggregate_pb2.AggregateRequest, batch_delete_pb2.BatchDeleteRequest
    inv, nf = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    cases: list[tuple[str, str, Any, grpc.StatusCode]] = []
    for n in [*BAD_NAMES, ""]:
        cases += [
            (f"Search collection={n[:20]!r}", "Search", S(collection=n), inv),
            (f"Aggregate collection={n[:20]!r}", "Aggregate", A(collection=n, objects_count=True), inv),
            (f"BatchDelete collection={n[:20]!r}", "BatchDelete", D(collection=n, filters=_filter(1)), inv),
        ]
    cases += [
        ("Search unknown collection", "Search", S(collection="Nope"), nf),
        ("Aggregate unknown collection", "Aggregate", A(collection="Nope", objects_count=True), nf),
        ("BatchDelete unknown collection", "BatchDelete", D(collection="Nope", filters=_filter(1)), nf),
        ("filter 65 deep", "Search", S(filters=_filter(65)), inv),
        ("filter 98 deep", "Search", S(filters=_filter(98)), inv),
        ("filter 99 deep", "Search", Raw(S(), 40, _filter_bytes(99)), inv),
        ("filter 150 deep", "Search", Raw(S(), 40, _filter_bytes(150)), inv),
        ("filter 5000 deep", "Search", Raw(S(), 40, _filter_bytes(5000)), inv),
        ("filter 150 deep (Aggregate)", "Aggregate", Raw(A(collection="Docs"), 40, _filter_bytes(150)), inv),
        (
            "filter 150 deep (BatchDelete)",
            "BatchDelete",
            Raw(D(collection="Docs"), 2, _filter_bytes(150)),
            inv,
        ),
        ("filter operator 999", "Search", S(filters=base_pb2.Filters(operator=999, on=["title"])), inv),  # type: ignore[arg-type]
        (
            "filter without a target",
            "Search",
            S(filters=base_pb2.Filters(operator=base_pb2.Filters.OPERATOR_EQUAL, value_text="x")),
            inv,
        ),
        (
            "filter _id in braces",
            "Search",
            S(
                filters=base_pb2.Filters(
                    operator=base_pb2.Filters.OPERATOR_EQUAL, on=["_id"], value_text="{" + GOOD_ID + "}"
                )
            ),
            inv,
        ),
        ("offset 4e9", "Search", S(offset=4_000_000_000), inv),
        ("limit 4e9", "Search", S(limit=4_000_000_000), inv),
        ("offset + limit > 10000", "Search", S(limit=5000, offset=5001), inv),
        ("after in braces", "Search", S(after="{" + GOOD_ID + "}"), inv),
        ("near_vector 9000 tokens", "Search", S(near_vector=_near(9000)), inv),
        ("near_vector 200000 tokens", "Search", S(near_vector=_near(200_000)), inv),
        (
            "near_text 100000 characters",
            "Search",
            S(near_text=base_search_pb2.NearTextSearch(query=["a " * 50_000])),
            inv,
        ),
        ("bm25 100000 characters", "Search", S(bm25_search=base_search_pb2.BM25(query="a " * 50_000)), inv),
        (
            "hybrid 100000 characters",
            "Search",
            S(hybrid_search=base_search_pb2.Hybrid(query="a " * 50_000)),
            inv,
        ),
        ("EmbedQueries dtype 7", "EmbedQueries", epb.EmbedQueriesRequest(texts=["x"], dtype=7), inv),  # type: ignore[arg-type]
        ("EmbedImages dtype 99", "EmbedImages", epb.EmbedImagesRequest(images=[b"x"], dtype=99), inv),  # type: ignore[arg-type]
    ]
    return cases


GRPC_CASES = _grpc_cases()


def _call(ch: grpc.Channel, method: str, req: Any) -> Any:
    if isinstance(req, Raw):
        return ch.unary_unary(f"/weaviate.v1.Weaviate/{method}")(req.data, timeout=30)
    if method.startswith("Embed"):
        return getattr(epb_grpc.EmbeddingServiceStub(ch), method)(req, timeout=30)
    return getattr(weaviate_pb2_grpc.WeaviateStub(ch), method)(req, timeout=30)


def test_grpc_hostile_inputs_get_clear_codes_and_change_nothing(server) -> None:
    sp, root, before = server
    files = snapshot(root)
    wrong: list[str] = []
    opts = [("grpc.max_send_message_length", 64 << 20)]
    with grpc.insecure_channel(f"127.0.0.1:{sp.grpc_port}", options=opts) as ch:
        for what, method, req, want in GRPC_CASES:
            try:
                _call(ch, method, req)
                wrong.append(f"{what}: succeeded")
            except grpc.RpcError as e:
                if e.code() != want or "internal error" in (e.details() or ""):
                    wrong.append(f"{what}: {e.code()} {e.details()[:200]} (wanted {want})")
    assert not wrong, "\n".join(wrong)
    unchanged(sp, root, before, files)
    print(f"gRPC: {len(GRPC_CASES)} hostile inputs, all answered with their clear code, nothing changed")


def _obj(collection: str, uid: str = "") -> batch_pb2.BatchObject:
    props = batch_pb2.BatchObject.Properties()
    props.non_ref_properties.update({"title": "batched"})
    return batch_pb2.BatchObject(
        collection=collection,
        uuid=uid,
        properties=props,
        vectors=[encode_multi_vector("colbert", np.ones((2, DIM), np.float32))],
    )


def test_grpc_batch_objects_fails_only_the_bad_objects(server) -> None:
    sp, _, before = server
    good = str(uuid.uuid4())
    objs = [
        _obj(""),
        *(_obj(n) for n in BAD_NAMES),
        *(_obj("Docs", u) for u in BAD_UUIDS),
        _obj("Docs", good),
    ]
    with grpc.insecure_channel(f"127.0.0.1:{sp.grpc_port}") as ch:
        reply = weaviate_pb2_grpc.WeaviateStub(ch).BatchObjects(
            batch_pb2.BatchObjectsRequest(objects=objs), timeout=30
        )
    assert sorted(e.index for e in reply.errors) == list(range(len(objs) - 1))
    for e in reply.errors:
        assert "collection name" in e.error or "not a UUID" in e.error, e.error
    assert httpx.get(f"{sp.http}/v1/objects/Docs/{good}").status_code == 200
    assert httpx.delete(f"{sp.http}/v1/objects/Docs/{good}").status_code == 204
    assert everything(sp) == before


def _stream(ch: grpc.Channel, msgs: list[batch_pb2.BatchStreamRequest]) -> list[batch_pb2.BatchStreamReply]:
    return list(weaviate_pb2_grpc.WeaviateStub(ch).BatchStream(iter(msgs), timeout=30))


def test_batch_stream_bad_objects_and_data_before_start(server) -> None:
    sp, root, before = server
    files = snapshot(root)
    R = batch_pb2.BatchStreamRequest
    bad = [_obj(n) for n in BAD_NAMES[:4]] + [_obj("Docs", BAD_UUIDS[0]), _obj("")]
    data = R(data=R.Data(objects=R.Data.Objects(values=bad)))
    with grpc.insecure_channel(f"127.0.0.1:{sp.grpc_port}") as ch:
        with pytest.raises(grpc.RpcError) as e:
            _stream(ch, [data, R(stop=R.Stop())])
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "start" in e.value.details()
        replies = _stream(ch, [R(start=R.Start()), data, R(stop=R.Stop())])
    errors = [x for r in replies if r.HasField("results") for x in r.results.errors]
    successes = [x for r in replies if r.HasField("results") for x in r.results.successes]
    assert len(errors) == len(bad)
    assert not successes
    for x in errors:
        assert "collection name" in x.error or "not a UUID" in x.error, x.error
    unchanged(sp, root, before, files)


def test_no_store_mode_refuses_bad_names_too(tmp_path) -> None:
    sp = serve(tmp_path / "data", "--no-store")
    try:
        files = snapshot(tmp_path)
        assert "no such endpoint" in httpx.get(f"{sp.http}/v1/schema").text  # really no store
        for n in BAD_NAMES:
            for method, path, body in [
                ("POST", "/v1/objects", {"class": n}),
                ("GET", f"/v1/objects?class={q(n)}", None),
                ("GET", f"/v1/schema/{q(n)}", None),
                ("POST", "/v1/schema", {"class": n}),
            ]:
                r = httpx.request(method, sp.http + path, json=body, timeout=10)
                assert 400 <= r.status_code < 500, (n, path, r.status_code)
        with grpc.insecure_channel(f"127.0.0.1:{sp.grpc_port}") as ch:
            for n in BAD_NAMES:
                with pytest.raises(grpc.RpcError) as e:
                    _call(ch, "Search", _search(collection=n))
                assert e.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNIMPLEMENTED)
        assert snapshot(tmp_path) == files
        assert not (tmp_path / "data" / "collections").exists() or not os.listdir(
            tmp_path / "data" / "collections"
        )
    finally:
        assert sp.stop() == 0


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_hostile_images_get_422_naming_the_item_without_memory_growth(server) -> None:
    from tests.fuzz.test_fuzz_images import one_by_64m_png, png, tiff

    sp, root, before = server
    good = base64.b64encode(png_ok()).decode()
    hostile = {
        "1 x 64,000,000 PNG": one_by_64m_png(),
        "64,000,000 x 1 PNG": png(1, 64_000_000),
        "1:400 PNG": png(20_000, 50),
        "128-byte TIFF": tiff([(256, 3, 1, 16), (257, 3, 1, 16), (273, 4, 1, 1 << 31)], b"\x00" * 56, True)[
            :128
        ],
        "TIFF with a 4-billion-pixel header": tiff([(256, 4, 1, 0xFFFFFFFF), (257, 4, 1, 1)], b"", True),
        "TIFF with 0 samples per pixel": tiff(
            [(256, 3, 1, 8), (257, 3, 1, 8), (277, 3, 1, 0), (273, 4, 1, 30), (279, 4, 1, 64)],
            b"\x00" * 64,
            False,
        ),
        "truncated PNG": png_ok()[:60],
        "truncated JPEG": jpeg_ok()[:200],
    }
    rss0 = _peak_rss_mb(sp.proc.pid)
    for what, data in hostile.items():
        r = httpx.post(
            f"{sp.http}/v1/embeddings/embed",
            json={"input": [good, base64.b64encode(data).decode()]},
            timeout=60,
        )
        assert r.status_code == 422, (what, r.status_code, r.text)
        assert r.json()["detail"].startswith("image 1"), (what, r.json())
    grown = _peak_rss_mb(sp.proc.pid) - rss0
    print(f"{len(hostile)} hostile images: all 422 naming the item; peak RSS grew {grown:.0f} MB")
    assert grown < 100
    unchanged(sp, root, before, snapshot(root))


def png_ok() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (9, 99, 199)).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_ok() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (300, 200), (9, 99, 199)).save(buf, format="JPEG")
    return buf.getvalue()

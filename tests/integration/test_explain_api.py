"""POST /v1/colweave/explain, colweave.v1.ExplainService, the search and image routes behind the page at
``/``: a real server on free ports with the committed tiny model, pages imported with the real
weaviate-client (so through the server's own vectorization path), numbers checked against numpy over the
vectors the server stores and the ranking against Weaviate's own search API."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
import weaviate
from PIL import Image, ImageDraw, ImageFont
from tests.server.conftest import RunningServer, start_server
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.query import MetadataQuery

from colweave.model import Encoder
from colweave.v1 import embedding_pb2, explain_pb2, explain_pb2_grpc

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "model" / "tiny-colweave"
WORDS = ["invoice total", "shipping address", "quarterly revenue", "meeting notes", "tax receipt"]


def page_png(i: int, text: str) -> bytes:
    sizes = [(595, 842), (842, 595), (400, 400), (300, 900), (620, 877)]
    img = Image.new("RGB", sizes[i], "white")
    d = ImageDraw.Draw(img)
    d.text((30 + 20 * i, 60 + 90 * i), text.upper(), fill="black", font=ImageFont.load_default(size=28))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder(TINY, device="cpu", threads=1)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Iterator[tuple[RunningServer, Any]]:
    s = start_server(encoder, data_dir=tmp_path_factory.mktemp("explain") / "data")
    client = weaviate.connect_to_local(
        port=int(s.http.rsplit(":", 1)[1]), grpc_port=int(s.grpc.rsplit(":", 1)[1])
    )
    try:
        coll = client.collections.create(
            name="Docs",
            properties=[
                Property(name="title", data_type=DataType.TEXT),
                Property(name="page", data_type=DataType.INT),
                Property(name="image", data_type=DataType.BLOB),
            ],
            vector_config=[Configure.MultiVectors.multi2vec_weaviate(name="doc", image_field="image")],
        )
        with coll.batch.fixed_size(batch_size=10) as batch:
            for i, w in enumerate(WORDS):
                batch.add_object(
                    properties={
                        "title": f"Report {w}",
                        "page": i + 1,
                        "image": base64.b64encode(page_png(i, w)).decode(),
                    }
                )
        assert not coll.batch.failed_objects
        yield s, client
    finally:
        client.close()
        s.stop()


def post(s: RunningServer, path: str, body: Any, **kw: Any) -> httpx.Response:
    return httpx.post(s.http + path, json=body, timeout=30, **kw)


def query_vectors(s: RunningServer, text: str) -> np.ndarray:
    r = post(s, "/v1/embeddings/embed", {"input": [text], "is_search_query": True})
    assert r.status_code == 200, r.text
    q = np.asarray(r.json()["embeddings"][0], np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_rest_explain_equals_numpy_over_the_stored_vectors(
    served: tuple[RunningServer, Any], encoder: Encoder
) -> None:
    s, client = served
    coll = client.collections.get("Docs")
    query = "invoice total"
    hits = coll.query.near_text(
        query, limit=5, include_vector=True, return_metadata=MetadataQuery(distance=True)
    ).objects
    assert len(hits) == 5
    q = query_vectors(s, query)
    for hit in hits:
        r = post(s, "/v1/colweave/explain", {"collection": "Docs", "id": str(hit.uuid), "query": query})
        assert r.status_code == 200, r.text
        ex = r.json()
        page = np.asarray(hit.vector["doc"], np.float32)
        sim = q @ page.T
        assert ex["score"] == pytest.approx(float(sim.max(axis=1).sum()), rel=1e-4, abs=1e-4)
        assert ex["score"] == pytest.approx(-hit.metadata.distance, rel=1e-4, abs=1e-4)
        assert [t["vector"] for t in ex["tokens"]] == sim.argmax(axis=1).tolist()
        np.testing.assert_allclose([t["score"] for t in ex["tokens"]], sim.max(axis=1), rtol=1e-4, atol=1e-5)
        # The layout is the one the Encoder gives this page: the import path recorded it.
        i = WORDS.index(hit.properties["title"].removeprefix("Report "))
        with Image.open(io.BytesIO(page_png(i, WORDS[i]))) as im:
            lay = encoder.page_layout(*im.size)
        assert ex["layout"]["tileStarts"] == list(lay.tile_starts)
        assert (ex["layout"]["width"], ex["layout"]["height"]) == (lay.width, lay.height)
        np.testing.assert_allclose(
            ex["map"]["scores"], sim.max(axis=0)[lay.patch_indices()], rtol=1e-4, atol=1e-5
        )
        for t in ex["tokens"]:
            p = lay.patch(t["vector"])
            assert (t["patch"] is None) == (p is None)
            if p is not None:
                assert t["patch"]["box"] == pytest.approx(list(p.box))
        # the best image patch per token: numpy's argmax over the patch vectors only
        idx = lay.patch_indices().ravel()
        pick = idx[sim[:, idx].argmax(axis=1)]
        assert [t["bestPatch"]["index"] for t in ex["tokens"]] == pick.tolist()
        np.testing.assert_allclose(
            [t["bestPatch"]["score"] for t in ex["tokens"]], sim[:, idx].max(axis=1), rtol=1e-4, atol=1e-5
        )
        for t in ex["tokens"]:
            assert t["bestPatch"]["box"] == pytest.approx(list(lay.patch(t["bestPatch"]["index"]).box))
        kinds = [t["kind"] for t in ex["queryTokens"]]
        assert kinds.count("augmentation") == 10
        assert "".join(t["text"] for t in ex["queryTokens"] if t["kind"] == "text") == query
    # one token's map
    uid = str(hits[0].uuid)
    r = post(s, "/v1/colweave/explain", {"collection": "Docs", "id": uid, "query": query, "mapTokens": [2]})
    page = np.asarray(hits[0].vector["doc"], np.float32)
    lay_idx = np.asarray(r.json()["layout"]["tileStarts"])[:, None] + np.arange(16)[None, :]
    np.testing.assert_allclose(
        np.asarray(r.json()["map"]["scores"]).reshape(len(lay_idx), 16),
        (q[2] @ page.T)[lay_idx],
        rtol=1e-4,
        atol=1e-5,
    )


def test_grpc_explain_matches_rest(served: tuple[RunningServer, Any]) -> None:
    s, client = served
    uid = str(client.collections.get("Docs").query.fetch_objects(limit=1).objects[0].uuid)
    rest = post(s, "/v1/colweave/explain", {"collection": "Docs", "id": uid, "query": "tax receipt"}).json()
    with grpc.insecure_channel(s.grpc) as ch:
        stub = explain_pb2_grpc.ExplainServiceStub(ch)
        rep = stub.Explain(
            explain_pb2.ExplainRequest(collection="Docs", id=uid, text="tax receipt"), timeout=30
        )
        assert rep.score == pytest.approx(rest["score"], rel=1e-5)
        assert [t.vector for t in rep.tokens] == [t["vector"] for t in rest["tokens"]]
        assert [t.kind for t in rep.tokens] == [t["kind"] for t in rest["tokens"]]
        assert list(rep.layout.tile_starts) == rest["layout"]["tileStarts"]
        np.testing.assert_allclose(rep.map, np.ravel(rest["map"]["scores"]), rtol=1e-5, atol=1e-6)
        assert [t.HasField("patch") for t in rep.tokens] == [t["patch"] is not None for t in rest["tokens"]]
        for t in rep.tokens:
            want = rest["tokens"][t.index]["bestPatch"]
            assert t.best_patch_vector == want["index"]
            assert t.best_patch_score == pytest.approx(want["score"], rel=1e-5)
            b = t.best_patch.box
            assert [b.x0, b.y0, b.x1, b.y1] == pytest.approx(want["box"])
        # a multi-vector query: its rows are "vector" tokens
        q = query_vectors(s, "tax receipt")
        mv = embedding_pb2.MultiVector(
            data=q.astype("<f4").tobytes(), rows=q.shape[0], dim=q.shape[1], dtype=embedding_pb2.DTYPE_FLOAT32
        )
        rep2 = stub.Explain(explain_pb2.ExplainRequest(collection="Docs", id=uid, vector=mv), timeout=30)
        assert rep2.score == pytest.approx(rest["score"], rel=1e-4)
        assert {t.kind for t in rep2.tokens} == {"vector"}
        with pytest.raises(grpc.RpcError) as err:
            stub.Explain(explain_pb2.ExplainRequest(collection="Nope", id=uid, text="x"), timeout=30)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        bad = embedding_pb2.MultiVector(data=b"\x00" * 7, rows=2, dim=2)
        with pytest.raises(grpc.RpcError) as err:
            stub.Explain(explain_pb2.ExplainRequest(collection="Docs", id=uid, vector=bad), timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("mode", ["near_text", "hybrid", "bm25"])
def test_search_route_ranks_as_weaviates_api(served: tuple[RunningServer, Any], mode: str) -> None:
    s, client = served
    coll = client.collections.get("Docs")
    query = "revenue report"
    if mode == "near_text":
        want = coll.query.near_text(query, limit=5).objects
    elif mode == "hybrid":
        want = coll.query.hybrid(query, alpha=0.4, limit=5).objects
    else:
        want = coll.query.bm25(query, limit=5).objects
    body: dict[str, Any] = {"collection": "Docs", "query": query, "mode": mode, "limit": 5}
    if mode == "hybrid":
        body["alpha"] = 0.4
    r = post(s, "/v1/colweave/search", body)
    assert r.status_code == 200, r.text
    got = r.json()["results"]
    assert [g["id"] for g in got] == [str(o.uuid) for o in want]
    assert all("image" not in g["properties"] for g in got)
    # a filter in Weaviate's REST shape
    body["where"] = {"path": ["page"], "operator": "GreaterThanEqual", "valueInt": 3}
    got = post(s, "/v1/colweave/search", body).json()["results"]
    assert got
    assert all(g["properties"]["page"] >= 3 for g in got)


def test_images_are_made_from_the_stored_blob_and_cached(served: tuple[RunningServer, Any]) -> None:
    s, client = served
    obj = client.collections.get("Docs").query.fetch_objects(limit=1, return_properties=["image"]).objects[0]
    raw = base64.b64decode(obj.properties["image"])
    url = f"{s.http}/v1/colweave/image/Docs/{obj.uuid}"
    full = httpx.get(url + "?size=full", timeout=30)
    assert full.status_code == 200
    assert full.content == raw
    assert full.headers["content-type"] == "image/png"
    api = s.server.explain
    before = api.cache.size_bytes
    thumb = httpx.get(url, timeout=30)
    assert thumb.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(thumb.content)) as im, Image.open(io.BytesIO(raw)) as orig:
        assert max(im.size) == 256
        assert im.size[0] / im.size[1] == pytest.approx(orig.size[0] / orig.size[1], rel=0.02)
    assert api.cache.size_bytes == before + len(thumb.content)
    assert httpx.get(url, timeout=30).content == thumb.content
    assert api.cache.size_bytes == before + len(thumb.content)  # served from the cache
    assert httpx.get(url + "?size=huge", timeout=30).status_code == 422
    assert (
        httpx.get(
            f"{s.http}/v1/colweave/image/Docs/00000000-0000-0000-0000-000000000000", timeout=30
        ).status_code
        == 404
    )


def test_image_cache_is_bounded() -> None:
    from colweave.server.explain_api import ImageCache

    c = ImageCache(max_bytes=100)
    for i in range(10):
        c.put(("k", i), bytes(30))
    assert c.size_bytes <= 100
    assert c.get(("k", 9)) is not None
    assert c.get(("k", 0)) is None
    c.put(("big",), bytes(101))  # larger than the whole cache: not kept
    assert c.get(("big",)) is None


def test_bad_explain_requests_answer_clearly(served: tuple[RunningServer, Any]) -> None:
    s, client = served
    uid = str(client.collections.get("Docs").query.fetch_objects(limit=1).objects[0].uuid)
    cases = [
        ({"collection": "Docs", "id": uid}, 422, "query"),
        ({"collection": "Nope", "id": uid, "query": "x"}, 404, "Nope"),
        (
            {"collection": "Docs", "id": "00000000-0000-0000-0000-000000000000", "query": "x"},
            404,
            "no object",
        ),
        ({"collection": "Docs", "id": "not-a-uuid", "query": "x"}, 422, "UUID"),
        ({"collection": "Docs", "id": uid, "query": "x", "mapTokens": [999]}, 422, "mapTokens"),
        ({"collection": "Docs", "id": uid, "query": "x", "mapTokens": "all"}, 422, "mapTokens"),
        ({"collection": "Docs", "id": uid, "vector": [[1.0, 2.0]]}, 422, "dimension"),
        ({"collection": "Docs", "id": uid, "query": "   "}, 422, "empty"),
    ]
    for body, status, needle in cases:
        r = post(s, "/v1/colweave/explain", body)
        assert r.status_code == status, (body, r.text)
        assert needle in r.json()["error"][0]["message"], (body, r.text)
    assert (
        post(s, "/v1/colweave/search", {"collection": "Docs", "query": "x", "mode": "nearest"}).status_code
        == 422
    )
    assert post(s, "/v1/colweave/search", {"collection": "Docs", "query": "x", "limit": 0}).status_code == 422


def test_self_provided_vectors_explain_with_token_indices_only(served: tuple[RunningServer, Any]) -> None:
    s, client = served
    own = client.collections.create(
        name="Own", vector_config=[Configure.MultiVectors.self_provided(name="v")]
    )
    page = np.random.default_rng(1).standard_normal((6, 32)).astype(np.float32)
    uid = own.data.insert({"title": "x"}, vector={"v": page.tolist()})
    q = np.random.default_rng(2).standard_normal((3, 32)).astype(np.float32)
    r = post(s, "/v1/colweave/explain", {"collection": "Own", "id": str(uid), "vector": q.tolist()})
    assert r.status_code == 200, r.text
    ex = r.json()
    assert ex["layout"] is None
    assert all(t["patch"] is None for t in ex["tokens"])
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    pn = page / np.linalg.norm(page, axis=1, keepdims=True)
    sim = qn @ pn.T
    assert [t["vector"] for t in ex["tokens"]] == sim.argmax(axis=1).tolist()
    assert len(ex["map"]["scores"]) == 6


def test_api_keys_guard_the_routes_but_not_the_page(tmp_path: Path, encoder: Encoder) -> None:
    s = start_server(encoder, data_dir=tmp_path / "data", api_keys=("sekret",))
    try:
        page = httpx.get(s.http + "/", timeout=30)
        assert page.status_code == 200
        assert "<title>colweave search</title>" in page.text
        assert httpx.get(s.http + "/ui/app.js", timeout=30).status_code == 200
        assert httpx.get(s.http + "/ui/../explain_api.py", timeout=30).status_code == 404
        assert httpx.get(s.http + "/ui/nope.js", timeout=30).status_code == 404
        body = {"collection": "Docs", "query": "x"}
        assert post(s, "/v1/colweave/search", body).status_code == 401
        r = post(s, "/v1/colweave/search", body, headers={"Authorization": "Bearer sekret"})
        assert r.status_code == 404  # authenticated; no such collection
        assert httpx.get(s.http + "/v1/colweave/image/Docs/x", timeout=30).status_code == 401
    finally:
        s.stop()


def test_single_object_writes_keep_the_layout_too(
    served: tuple[RunningServer, Any], encoder: Encoder
) -> None:
    """POST /v1/objects and PUT /v1/objects/{class}/{id} (the client's data.insert / data.replace) vectorize
    through the server's path like batches do, and store the page layout with the vectors."""
    s, client = served
    coll = client.collections.get("Docs")
    uid = coll.data.insert(
        {"title": "single", "page": 9, "image": base64.b64encode(page_png(2, "single page")).decode()}
    )

    def layout() -> Any:
        r = post(s, "/v1/colweave/explain", {"collection": "Docs", "id": str(uid), "query": "single"})
        assert r.status_code == 200, r.text
        return r.json()["layout"]

    assert layout()["tileStarts"] == list(encoder.page_layout(400, 400).tile_starts)
    coll.data.replace(
        uid, {"title": "single", "page": 9, "image": base64.b64encode(page_png(3, "tall page")).decode()}
    )
    got = layout()
    assert (got["width"], got["height"]) == (300, 900)
    assert got["tileStarts"] == list(encoder.page_layout(300, 900).tile_starts)
    coll.data.delete_by_id(uid)


def test_the_page_needs_nothing_from_outside() -> None:
    """Every asset the page loads is one colweave serves: no URL with a scheme or a host anywhere, and the
    key goes in a header, never in a URL."""
    import re

    from colweave.server.explain_api import STATIC, WEB_DIR

    html = (WEB_DIR / "index.html").read_text(encoding="utf-8")
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert refs
    assert all(r.startswith("/ui/") or r == "#" for r in refs), refs
    assert {r.removeprefix("/ui/") for r in refs if r != "#"} == set(STATIC)
    for name in STATIC:
        text = (WEB_DIR / name).read_text(encoding="utf-8")
        assert not re.search(r"\b(?:https?|wss?|ftp):|url\(\s*['\"]?//|@import", text), name
    js = (WEB_DIR / "app.js").read_text(encoding="utf-8")
    assert "sessionStorage.getItem(KEY)" in js
    assert "h.Authorization = " in js
    assert "apiKey=" not in js
    assert "?key" not in js

"""The Weaviate Embeddings API (POST /v1/embeddings/embed), colweave.v1 gRPC, health, meta, auth, limits
and batching, against a real server on free ports."""

from __future__ import annotations

import base64
import concurrent.futures
import json

import grpc
import httpx
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from colweave.v1 import embedding_pb2 as pb
from colweave.v1 import embedding_pb2_grpc as pb_grpc

from .conftest import HashModel, png


def post_embed(base: str, body: dict, headers: dict | None = None) -> httpx.Response:
    # Weaviate sends JSON without a Content-Type header.
    return httpx.post(
        f"{base}/v1/embeddings/embed", content=json.dumps(body).encode(), headers=headers or {}, timeout=30
    )


def test_health_meta_and_probes(make_server) -> None:
    s = make_server()
    assert httpx.get(f"{s.http}/v1/.well-known/live").status_code == 200
    assert httpx.get(f"{s.http}/v1/.well-known/ready").status_code == 200
    assert httpx.get(f"{s.http}/v1/.well-known/openid-configuration").status_code == 404
    meta = httpx.get(f"{s.http}/v1/meta").json()
    assert meta["version"] >= "1.36.6"
    assert "multi2multivec-weaviate" in meta["modules"]
    assert meta["grpcMaxMessageSize"] == s.server.cfg.max_request_bytes
    nodes = httpx.get(f"{s.http}/v1/nodes").json()
    assert nodes["nodes"][0]["status"] == "HEALTHY"
    info = httpx.get(f"{s.http}/v1/colweave/info").json()
    assert info["model_id"] == "test/hash-model"
    assert info["dim"] == HashModel.dim
    assert info["limits"]["max_images_per_request"] == s.server.cfg.max_images_per_request
    with grpc.insecure_channel(s.grpc) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        for service in ("", "colweave.v1.EmbeddingService"):
            resp = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(ch)
        replies = list(
            refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        )
        names = {svc.name for svc in replies[0].list_services_response.service}
        assert {"colweave.v1.EmbeddingService", "grpc.health.v1.Health"} <= names
    assert httpx.get(f"{s.http}/v1/no-such-thing").json()["error"][0]["message"]


def test_embed_documents_and_queries_like_weaviate(make_server) -> None:
    s = make_server()
    images = [png(40, 30), png(64, 64, (0, 0, 255))]
    resp = post_embed(
        s.http,
        {"input": [base64.b64encode(i).decode() for i in images], "model": "test/hash-model"},
        headers={"X-Weaviate-Cluster-Url": "http://weaviate:8080"},
    )
    assert resp.status_code == 200
    body = resp.json()
    want = s.model.embed_images(images)
    assert len(body["embeddings"]) == 2
    for got, exp in zip(body["embeddings"], want, strict=True):
        np.testing.assert_array_equal(np.asarray(got, np.float32), exp)
    assert body["metadata"]["model"] == "ModernVBERT/colmodernvbert"  # a ColModernVBERT stand-in
    assert body["metadata"]["num_embeddings_inferred"] == 2
    assert body["metadata"]["usage"]["total_tokens"] == sum(len(v) for v in want)

    q = post_embed(s.http, {"input": ["a holiday film", "x"], "is_search_query": True})
    assert q.status_code == 200
    for got, exp in zip(q.json()["embeddings"], s.model.embed_queries(["a holiday film", "x"]), strict=True):
        np.testing.assert_array_equal(np.asarray(got, np.float32), exp)


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"input": ["%%%not base64%%%"]}, 422, "not valid base64"),
        ({"input": [base64.b64encode(b"definitely not an image").decode()]}, 422, "cannot decode"),
        ({"input": []}, 422, "non-empty list"),
        ({"input": "x", "is_search_query": True}, 422, "non-empty list"),
        ({"input": [""], "is_search_query": True}, 422, "empty query"),
        ({"input": [3], "is_search_query": True}, 422, "expected a query string"),
        ({"input": ["x"], "is_search_query": True, "model": "Snowflake/other"}, 422, "not served here"),
        ({"input": ["x"], "is_search_query": True, "dimensions": 256}, 422, "text2vec-weaviate"),
        ({"input": ["x"], "is_search_query": "yes"}, 422, "true or false"),
        ({"nothing": 1}, 422, "non-empty list"),
    ],
)
def test_embed_bad_input_gets_detail_and_server_keeps_serving(make_server, body, status, fragment) -> None:
    s = make_server()
    resp = post_embed(s.http, body)
    assert resp.status_code == status, resp.text
    assert fragment in resp.json()["detail"]
    assert post_embed(s.http, {"input": ["ok"], "is_search_query": True}).status_code == 200


def test_embed_rejects_non_json_and_oversize(make_server) -> None:
    s = make_server(max_request_bytes=2000, max_texts_per_request=3, max_text_chars=50)
    r = httpx.post(f"{s.http}/v1/embeddings/embed", content=b"{not json")
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["detail"]
    r = post_embed(s.http, {"input": ["x" * 3000], "is_search_query": True})
    assert r.status_code == 413
    r = post_embed(s.http, {"input": ["a", "b", "c", "d"], "is_search_query": True})
    assert r.status_code == 413
    r = post_embed(s.http, {"input": ["y" * 51], "is_search_query": True})
    assert r.status_code == 413
    assert post_embed(s.http, {"input": ["fine"], "is_search_query": True}).status_code == 200


def test_api_keys_on_rest_and_grpc(make_server) -> None:
    s = make_server(api_keys=("secret-1", "secret-2"))
    body = {"input": ["q"], "is_search_query": True}
    assert post_embed(s.http, body).status_code == 401
    assert post_embed(s.http, body, {"Authorization": "Bearer wrong"}).status_code == 401
    assert post_embed(s.http, body, {"Authorization": "Basic secret-1"}).status_code == 401
    assert post_embed(s.http, body, {"Authorization": "Bearer secret-2"}).status_code == 200
    assert httpx.get(f"{s.http}/v1/meta").status_code == 401
    assert httpx.get(f"{s.http}/v1/meta", headers={"Authorization": "Bearer secret-1"}).status_code == 200
    assert httpx.get(f"{s.http}/v1/.well-known/ready").status_code == 200  # probes stay open
    with grpc.insecure_channel(s.grpc) as ch:
        stub = pb_grpc.EmbeddingServiceStub(ch)
        with pytest.raises(grpc.RpcError) as e:
            stub.EmbedQueries(pb.EmbedQueriesRequest(texts=["q"]), timeout=5)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as e:
            stub.EmbedQueries(
                pb.EmbedQueriesRequest(texts=["q"]), metadata=[("authorization", "Bearer nope")]
            )
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        ok = stub.EmbedQueries(
            pb.EmbedQueriesRequest(texts=["q"]), metadata=[("authorization", "Bearer secret-1")]
        )
        assert len(ok.embeddings) == 1
        health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING


def decode(mv: pb.MultiVector) -> np.ndarray:
    dt = "<f2" if mv.dtype == pb.DTYPE_FLOAT16 else "<f4"
    return np.frombuffer(mv.data, dt).reshape(mv.rows, mv.dim)


def test_colweave_grpc_unary_stream_and_info(make_server) -> None:
    s = make_server()
    images = [png(10, 10), png(33, 17, (1, 2, 3))]
    with grpc.insecure_channel(s.grpc) as ch:
        stub = pb_grpc.EmbeddingServiceStub(ch)
        r = stub.EmbedImages(pb.EmbedImagesRequest(images=images, request_id="r1"), timeout=10)
        assert r.request_id == "r1"
        assert r.model == "ModernVBERT/colmodernvbert"
        for mv, exp in zip(r.embeddings, s.model.embed_images(images), strict=True):
            assert mv.dtype == pb.DTYPE_FLOAT32
            np.testing.assert_array_equal(decode(mv), exp)
        assert r.metadata.tokens == sum(m.rows for m in r.embeddings)
        r16 = stub.EmbedQueries(pb.EmbedQueriesRequest(texts=["two words"], dtype=pb.DTYPE_FLOAT16))
        np.testing.assert_array_equal(
            decode(r16.embeddings[0]), s.model.embed_queries(["two words"])[0].astype(np.float16)
        )
        texts = [["a"], ["b c", "d e f"], ["g"]]
        replies = list(stub.EmbedQueriesStream(iter(pb.EmbedQueriesRequest(texts=t) for t in texts)))
        assert [len(x.embeddings) for x in replies] == [1, 2, 1]
        np.testing.assert_array_equal(decode(replies[1].embeddings[1]), s.model.embed_queries(["d e f"])[0])
        img_replies = list(stub.EmbedImagesStream(iter([pb.EmbedImagesRequest(images=[png()])] * 2)))
        assert len(img_replies) == 2
        info = stub.Info(pb.InfoRequest())
        assert info.model_id == "ModernVBERT/colmodernvbert"  # the served name
        assert info.dim == HashModel.dim
        assert info.limits.max_images_per_request == s.server.cfg.max_images_per_request
        with pytest.raises(grpc.RpcError) as e:
            stub.EmbedImages(pb.EmbedImagesRequest(images=[b"garbage"]))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as e:
            stub.EmbedQueries(pb.EmbedQueriesRequest(texts=[]))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert len(stub.EmbedQueries(pb.EmbedQueriesRequest(texts=["still serving"])).embeddings) == 1


def test_concurrent_requests_share_batches_and_bad_input_is_isolated(make_server) -> None:
    model = HashModel(delay=0.2)
    s = make_server(model, max_wait_ms=100.0, max_batch_images=16)
    good = [png(20 + i, 20) for i in range(6)]

    def send(i: int) -> httpx.Response:
        payload = good[i] if i != 3 else b"not an image"
        return post_embed(s.http, {"input": [base64.b64encode(payload).decode()]})

    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        results = list(ex.map(send, range(6)))
    for i, r in enumerate(results):
        if i == 3:
            assert r.status_code == 422
        else:
            assert r.status_code == 200, r.text
            np.testing.assert_array_equal(
                np.asarray(r.json()["embeddings"][0], np.float32), HashModel().embed_images([good[i]])[0]
            )
    assert max(model.calls) > 1, f"requests were never batched together: {model.calls}"
    metrics = httpx.get(f"{s.http}/metrics").text
    assert "colweave_batch_size_bucket" in metrics
    assert 'colweave_requests_total{endpoint="embed",protocol="http",status="200"} 5.0' in metrics


def test_overload_answers_429_and_resource_exhausted(make_server) -> None:
    model = HashModel(delay=0.5)
    s = make_server(model, max_queue=2, max_batch_texts=1, max_wait_ms=0.0)
    body = {"input": ["q1", "q2"], "is_search_query": True}
    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        statuses = [f.result().status_code for f in [ex.submit(post_embed, s.http, body) for _ in range(6)]]
    assert 429 in statuses
    assert 200 in statuses
    assert post_embed(s.http, {"input": ["after"], "is_search_query": True}).status_code == 200


def test_default_model_answers_to_weaviates_model_name(make_server) -> None:
    """Serving Qdrant/colmodernvbert, the server accepts and reports ModernVBERT/colmodernvbert — the name
    Weaviate's multi2multivec-weaviate module sends by default — and the repository id too."""
    s = make_server(model="Qdrant/colmodernvbert")
    for name in ("ModernVBERT/colmodernvbert", "Qdrant/colmodernvbert"):
        r = post_embed(s.http, {"input": ["q"], "is_search_query": True, "model": name})
        assert r.status_code == 200, r.text
        assert r.json()["metadata"]["model"] == "ModernVBERT/colmodernvbert"
    assert (
        post_embed(s.http, {"input": ["q"], "is_search_query": True, "model": "other/model"}).status_code
        == 422
    )
    assert httpx.get(f"{s.http}/v1/meta").json()["modules"]["multi2multivec-weaviate"]["model"] == (
        "ModernVBERT/colmodernvbert"
    )
    s2 = make_server(model="Qdrant/colmodernvbert", model_name="my-name")
    assert (
        post_embed(s2.http, {"input": ["q"], "is_search_query": True, "model": "my-name"}).status_code == 200
    )

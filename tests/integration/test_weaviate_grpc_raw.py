"""Requests the 4.24.1 client never sends but older clients and other SDKs do: hybrid's old ``alpha``
field, ``use_alpha_param`` without a value, ranked fusion, and reflection listing weaviate.v1."""

from __future__ import annotations

import uuid

import grpc
import numpy as np
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from tests.server.conftest import HashModel, start_server
from weaviate.proto.v1 import base_pb2, base_search_pb2, search_get_pb2, weaviate_pb2_grpc

from colweave.server.weaviate_wire import encode_multi_vector
from colweave.store.objects import DataObject


@pytest.fixture
def served(tmp_path):
    s = start_server(HashModel(), data_dir=tmp_path / "data")
    store = s.server.state.store
    coll = store.create_collection(
        {
            "class": "Films",
            "properties": [{"name": "title", "dataType": ["text"]}],
            "vectorConfig": {
                "colbert": {
                    "vectorizer": {"none": {}},
                    "vectorIndexType": "hnsw",
                    "vectorIndexConfig": {"multivector": {"enabled": True}},
                }
            },
        }
    )
    rng = np.random.default_rng(3)
    titles = ["holiday film", "holiday at home", "a film", "winter holiday film", "nothing"]
    coll.insert_many(
        [DataObject({"title": t}, vectors={"colbert": rng.standard_normal((4, 8))}) for t in titles]
    )
    yield s, coll, rng.standard_normal((3, 8)).astype(np.float32)
    s.stop()


def search(s, hybrid: base_search_pb2.Hybrid) -> list[tuple[bytes, float]]:
    with grpc.insecure_channel(s.grpc) as ch:
        reply = weaviate_pb2_grpc.WeaviateStub(ch).Search(
            search_get_pb2.SearchRequest(
                collection="Films",
                limit=5,
                hybrid_search=hybrid,
                uses_127_api=True,
                metadata=search_get_pb2.MetadataRequest(uuid=True, score=True),
            ),
            timeout=10,
        )
    return [(r.metadata.id_as_bytes, r.metadata.score) for r in reply.results]


@pytest.mark.parametrize(
    ("fields", "alpha", "fusion"),
    [
        ({"alpha": 0.3}, 0.3, "relativeScore"),  # old clients: always `alpha`
        ({"use_alpha_param": True}, 0.75, "relativeScore"),  # >= 1.36.6 without a value: the default
        ({"use_alpha_param": True, "alpha_param": 0.0}, 0.0, "relativeScore"),  # an explicit 0 is kept
        ({"use_alpha_param": True, "alpha_param": 0.5, "fusion_type": 1}, 0.5, "ranked"),
    ],
)
def test_hybrid_alpha_styles_and_fusions(served, fields, alpha, fusion) -> None:
    s, coll, q = served
    vec = encode_multi_vector("colbert", q)
    hybrid = base_search_pb2.Hybrid(
        query="holiday film",
        vectors=[base_pb2.Vectors(vector_bytes=vec.vector_bytes, type=vec.type)],
        targets=base_search_pb2.Targets(target_vectors=["colbert"]),
        **fields,
    )
    got = search(s, hybrid)
    want = coll.hybrid(
        "holiday film", alpha=alpha, vector=q, fusion_type=fusion, target_vector="colbert", limit=5
    )
    assert [g[0] for g in got] == [uuid.UUID(w.uuid).bytes for w in want]
    np.testing.assert_allclose([g[1] for g in got], [w.metadata.score for w in want], rtol=1e-6)


def test_reflection_lists_weaviate_service(served) -> None:
    s, _, _ = served
    with grpc.insecure_channel(s.grpc) as ch:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        replies = list(
            stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        )
    names = {svc.name for svc in replies[0].list_services_response.service}
    assert {"weaviate.v1.Weaviate", "colweave.v1.EmbeddingService", "grpc.health.v1.Health"} <= names

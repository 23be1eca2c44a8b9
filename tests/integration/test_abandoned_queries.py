"""The issue's scenario scaled to CI: many heavy near_vector queries whose clients give up after a short
deadline, then a one-object fetch. Abandoned queries that have not started are never run and at most a
few heavy calls run at once, so the fetch answers in about the time of one query, not of all of them."""

from __future__ import annotations

import time
import uuid

import grpc
import httpx
import numpy as np
import pytest
from weaviate.proto.v1 import base_search_pb2, batch_pb2, search_get_pb2, weaviate_pb2_grpc

from colweave.server.guards import MAX_QUERY_TOKENS
from colweave.server.weaviate_wire import encode_multi_vector

from .serve_process import serve

DIM = 128
DOCS, TOKENS = 24, 1024
ABANDONED = 16


def heavy_query(stub, timeout: float):
    q = np.random.default_rng(1).standard_normal((MAX_QUERY_TOKENS, DIM)).astype(np.float32)
    req = search_get_pb2.SearchRequest(
        collection="Heavy",
        limit=3,
        uses_123_api=True,
        uses_125_api=True,
        uses_127_api=True,
        near_vector=base_search_pb2.NearVector(
            vectors=[encode_multi_vector("colbert", q)],
            targets=base_search_pb2.Targets(target_vectors=["colbert"]),
        ),
    )
    return stub.Search.future(req, timeout=timeout)


@pytest.mark.slow
def test_abandoned_heavy_queries_do_not_delay_a_fetch(tmp_path) -> None:
    sp = serve(tmp_path / "data", "--log-level", "warning")
    try:
        r = httpx.post(
            f"{sp.http}/v1/schema",
            json={
                "class": "Heavy",
                "properties": [{"name": "title", "dataType": ["text"]}],
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
        ids = [str(uuid.uuid4()) for _ in range(DOCS)]
        opts = [("grpc.max_send_message_length", 256 << 20), ("grpc.max_receive_message_length", 256 << 20)]
        with grpc.insecure_channel(f"127.0.0.1:{sp.grpc_port}", options=opts) as ch:
            stub = weaviate_pb2_grpc.WeaviateStub(ch)
            for start in range(0, DOCS, 4):
                objs = []
                for u in ids[start : start + 4]:
                    props = batch_pb2.BatchObject.Properties()
                    props.non_ref_properties.update({"title": "t"})
                    v = rng.standard_normal((TOKENS, DIM)).astype(np.float32)
                    objs.append(
                        batch_pb2.BatchObject(
                            collection="Heavy",
                            uuid=u,
                            properties=props,
                            vectors=[encode_multi_vector("colbert", v)],
                        )
                    )
                reply = stub.BatchObjects(batch_pb2.BatchObjectsRequest(objects=objs), timeout=120)
                assert not reply.errors, reply.errors

            t0 = time.perf_counter()
            heavy_query(stub, 300).result()
            one = time.perf_counter() - t0
            deadline = max(0.2, one / 4)

            futs = [heavy_query(stub, deadline) for _ in range(ABANDONED)]
            for f in futs:
                with pytest.raises(grpc.RpcError) as e:
                    f.result()
                assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            t1 = time.perf_counter()
            r = httpx.get(f"{sp.http}/v1/objects/Heavy/{ids[5]}", timeout=600)
            fetch = time.perf_counter() - t1
            assert r.status_code == 200
        print(
            f"one {MAX_QUERY_TOKENS}-token query over {DOCS}x{TOKENS} tokens: {one:.2f} s; after "
            f"{ABANDONED} abandoned ones ({deadline:.2f} s deadline) a one-object fetch took {fetch:.2f} s "
            "(2 shared cores)"
        )
        # Without admission all sixteen run (eight at once) and the fetch waits for most of them.
        assert fetch < 4 * one, (fetch, one)
    finally:
        assert sp.stop() == 0

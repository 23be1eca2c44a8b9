"""Eight concurrent clients importing and querying for a minute: no errors, nothing lost or duplicated."""

from __future__ import annotations

import base64
import os
import threading
import time
import uuid

import pytest
import weaviate
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.data import DataObject

from .serve_process import serve
from .test_serve_process import page

CLIENTS = 8
SECONDS = float(os.environ.get("COLWEAVE_SOAK_SECONDS", "60"))


@pytest.mark.slow
def test_eight_clients_for_a_minute(tmp_path) -> None:
    sp = serve(tmp_path / "data")
    try:
        with weaviate.connect_to_local(port=sp.http_port, grpc_port=sp.grpc_port) as admin:
            admin.collections.create(
                name="Soak",
                properties=[
                    Property(name="doc_page", data_type=DataType.BLOB),
                    Property(name="title", data_type=DataType.TEXT),
                ],
                vector_config=[
                    Configure.MultiVectors.multi2vec_weaviate(name="document", image_field="doc_page")
                ],
            )
        images = [base64.b64encode(page(i)).decode() for i in range(10)]
        acked: list[list[str]] = [[] for _ in range(CLIENTS)]
        errors: list[str] = []
        queries = [0] * CLIENTS
        deadline = time.time() + SECONDS

        def worker(k: int) -> None:
            try:
                with weaviate.connect_to_local(port=sp.http_port, grpc_port=sp.grpc_port) as client:
                    coll = client.collections.get("Soak")
                    n = 0
                    while time.time() < deadline:
                        if k % 2 == 0:  # importers
                            ids = [uuid.uuid4() for _ in range(4)]
                            res = coll.data.insert_many(
                                [
                                    DataObject(
                                        properties={
                                            "title": f"client {k} page {n + j}",
                                            "doc_page": images[(n + j) % len(images)],
                                        },
                                        uuid=u,
                                    )
                                    for j, u in enumerate(ids)
                                ]
                            )
                            if res.errors:
                                errors.append(f"client {k}: {res.errors}")
                                return
                            acked[k].extend(str(u) for u in ids)
                            n += 4
                        else:  # searchers
                            coll.query.near_text(query=f"page {n}", limit=5)
                            coll.query.hybrid(query="client page", limit=5)
                            coll.query.bm25(query="page", limit=5)
                            queries[k] += 3
                            n += 1
            except Exception as e:
                errors.append(f"client {k}: {type(e).__name__}: {e}")

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS + 120)
        assert not errors, errors[:5]
        all_acked = [u for a in acked for u in a]
        assert len(all_acked) > 0
        assert sum(queries) > 0
        with weaviate.connect_to_local(port=sp.http_port, grpc_port=sp.grpc_port) as client:
            coll = client.collections.get("Soak")
            stored = [str(o.uuid) for o in coll.iterator()]
            assert len(stored) == len(set(stored)), "duplicated objects"
            assert sorted(stored) == sorted(all_acked), "lost or extra objects"
            assert len(coll) == len(all_acked)
    finally:
        assert sp.stop() == 0

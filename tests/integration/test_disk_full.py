"""A real full disk under the real server (a small tmpfs; CI runs as root): writes answer 507 /
RESOURCE_EXHAUSTED saying the disk is full, reads keep working, nothing acknowledged is lost or changed,
and once space is freed writes succeed again, also after kill -9."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from weaviate.proto.v1 import batch_pb2, weaviate_pb2_grpc

from colweave.server.weaviate_wire import encode_multi_vector

from .serve_process import ServeProcess, serve

DIM, TOKENS = 64, 128  # 16 KB of float16 per object
SCHEMA = {
    "class": "Pages",
    "properties": [{"name": "title", "dataType": ["text"]}],
    "vectorConfig": {
        "colbert": {
            "vectorizer": {"none": {}},
            "vectorIndexType": "hnsw",
            "vectorIndexConfig": {"multivector": {"enabled": True}},
        }
    },
}


@pytest.fixture
def small_disk(tmp_path: Path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(disk)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def vec(i: int) -> np.ndarray:
    return np.random.default_rng(i).standard_normal((TOKENS, DIM)).astype(np.float16).astype(np.float32)


def insert(stub, i: int) -> tuple[str, grpc.StatusCode | None, str]:
    u = str(uuid.UUID(int=i + 1))
    props = batch_pb2.BatchObject.Properties()
    props.non_ref_properties.update({"title": f"page {i}"})
    obj = batch_pb2.BatchObject(
        collection="Pages", uuid=u, properties=props, vectors=[encode_multi_vector("colbert", vec(i))]
    )
    try:
        reply = stub.BatchObjects(batch_pb2.BatchObjectsRequest(objects=[obj]), timeout=60)
    except grpc.RpcError as e:
        return u, e.code(), e.details() or ""
    if reply.errors:
        return u, grpc.StatusCode.UNKNOWN, reply.errors[0].error
    return u, None, ""


def check_exact(sp: ServeProcess, acked: dict[str, int]) -> None:
    with httpx.Client(base_url=sp.http, timeout=60) as c:
        for u, i in acked.items():
            r = c.get(f"/v1/objects/Pages/{u}", params={"include": "vector"})
            assert r.status_code == 200, (u, r.text)
            o = r.json()
            assert o["properties"]["title"] == f"page {i}"
            want = vec(i) / np.linalg.norm(vec(i), axis=1, keepdims=True)  # cosine: stored normalized, fp16
            np.testing.assert_allclose(np.asarray(o["vectors"]["colbert"], np.float32), want, atol=2e-3)
        assert c.get("/v1/objects", params={"class": "Pages", "limit": 1000}).json()["totalResults"] == len(
            acked
        )


@pytest.mark.slow
def test_a_full_disk_loses_nothing_and_recovers(small_disk: Path) -> None:
    filler = small_disk / "filler"
    sp = serve(small_disk)
    acked: dict[str, int] = {}
    try:
        assert httpx.post(f"{sp.http}/v1/schema", json=SCHEMA).status_code == 200
        filler.write_bytes(b"\0" * (1 << 20))  # 1 MB to free later
        with grpc.insecure_channel(f"127.0.0.1:{sp.grpc_port}") as ch:
            stub = weaviate_pb2_grpc.WeaviateStub(ch)
            full: tuple[grpc.StatusCode | None, str] | None = None
            for i in range(2000):
                u, code, msg = insert(stub, i)
                if code is None:
                    acked[u] = i
                    continue
                full = (code, msg)
                break
            assert full is not None, "the 6 MB disk never filled"
            assert full[0] == grpc.StatusCode.RESOURCE_EXHAUSTED, full
            assert "disk full" in full[1], full
            # REST writes say so too, and reads keep working.
            r = httpx.post(
                f"{sp.http}/v1/objects",
                json={
                    "class": "Pages",
                    "properties": {"title": "x"},
                    "vectors": {"colbert": vec(0).tolist()},
                },
            )
            assert r.status_code == 507, r.text
            assert "disk full" in r.json()["error"][0]["message"]
            for _ in range(3):  # failing again and again changes nothing either
                assert insert(stub, 99_999)[1] == grpc.StatusCode.RESOURCE_EXHAUSTED
            check_exact(sp, acked)

            filler.unlink()
            n = len(acked)
            for i in range(n + 100_000, n + 100_010):
                u, code, msg = insert(stub, i)
                assert code is None, (code, msg)
                acked[u] = i
            check_exact(sp, acked)
        sp.kill9()
        sp = serve(small_disk)
        check_exact(sp, acked)
        print(
            f"disk full after {n} acknowledged objects; 10 more after freeing 1 MB; all exact after kill -9"
        )
    finally:
        with contextlib.suppress(Exception):
            sp.stop()

"""The committed generated code of colweave's protos matches a fresh generation, and it works."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _generate_module():
    spec = importlib.util.spec_from_file_location("proto_generate", ROOT / "proto" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools (dev extra) regenerates the code")
    files = _generate_module().generate(tmp_path)
    assert files, "no generated files"
    committed_dir = ROOT / "python" / "colweave" / "v1"
    fresh = {f.name: f.read_bytes() for f in files}
    committed = {f.name: f.read_bytes() for f in committed_dir.glob("*_pb2*.py*")}
    assert sorted(committed) == sorted(fresh), "generated file set changed: run `make proto`"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale generated code, run `make proto`: {stale}"


def test_generated_modules_round_trip_a_multivector() -> None:
    import numpy as np

    from colweave.v1 import embedding_pb2, embedding_pb2_grpc

    vec = np.arange(6, dtype="<f4").reshape(3, 2)
    msg = embedding_pb2.EmbedResponse(
        embeddings=[
            embedding_pb2.MultiVector(data=vec.tobytes(), rows=3, dim=2, dtype=embedding_pb2.DTYPE_FLOAT32)
        ],
        model="m",
    )
    back = embedding_pb2.EmbedResponse.FromString(msg.SerializeToString())
    mv = back.embeddings[0]
    np.testing.assert_array_equal(np.frombuffer(mv.data, "<f4").reshape(mv.rows, mv.dim), vec)
    assert hasattr(embedding_pb2_grpc, "EmbeddingServiceServicer")
    assert "colweave.v1.embedding_pb2" in sys.modules

"""The exporter end to end (needs the export extra, which serving never installs).

`make test-export` (CI) runs these in their own environment with COLWEAVE_EXPORT_TESTS=1, where a missing
torch, transformers or onnx is an error; elsewhere (the serving environment of `make test`) they skip.

Exports the committed tiny checkpoint again and checks the result against transformers' recorded outputs, for
both processor layouts, fp16 and the command line."""

from __future__ import annotations

import importlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from colweave.cli import main
from colweave.model import Encoder
from colweave.model.export import export_model
from colweave.model.manifest import read_manifest, verify_files

from .conftest import CHECKPOINT, IMAGES

for _module in ("torch", "transformers", "onnx"):
    if os.environ.get("COLWEAVE_EXPORT_TESTS") == "1":
        importlib.import_module(_module)
    else:
        pytest.importorskip(_module)


def _max_diff(enc: Encoder, meta: dict[str, Any], ref: dict[str, np.ndarray], n_images: int = 6) -> float:
    names = list(meta["images"])[:n_images]
    worst = 0.0
    for name, emb in zip(names, enc.embed_images([(IMAGES / n).read_bytes() for n in names]), strict=True):
        want = ref[f"image/{name}/embeddings"]
        assert emb.shape == want.shape
        worst = max(worst, float(np.abs(emb - want).max()))
    texts = [q["text"] for q in meta["queries"].values()]
    for name, emb in zip(meta["queries"], enc.embed_queries(texts), strict=True):
        want = ref[f"query/{name}/embeddings"]
        assert emb.shape == want.shape
        worst = max(worst, float(np.abs(emb - want).max()))
    return worst


def test_export_reproduces_transformers(
    tmp_path: Path, meta: dict[str, Any], ref: dict[str, np.ndarray]
) -> None:
    manifest = export_model(CHECKPOINT, tmp_path / "m", log=lambda _: None)
    assert manifest["verify_max_abs_diff"] < 1e-5
    verify_files(tmp_path / "m", manifest)
    assert _max_diff(Encoder(tmp_path / "m", device="cpu", precision="fp32"), meta, ref) <= 1e-4


def test_hub_processor_layout(tmp_path: Path, meta: dict[str, Any], ref: dict[str, np.ndarray]) -> None:
    """The hub's layout: a short processor_config.json beside a flat preprocessor_config.json."""
    src = tmp_path / "hub-layout"
    shutil.copytree(CHECKPOINT, src)
    proc = json.loads((src / "processor_config.json").read_text())
    (src / "preprocessor_config.json").write_text(json.dumps(proc.pop("image_processor")))
    (src / "processor_config.json").write_text(json.dumps({"image_seq_len": proc["image_seq_len"]}))
    export_model(src, tmp_path / "m", log=lambda _: None)
    assert _max_diff(Encoder(tmp_path / "m", device="cpu", precision="fp32"), meta, ref) <= 1e-4


def test_fp16_keeps_accuracy(tmp_path: Path, meta: dict[str, Any], ref: dict[str, np.ndarray]) -> None:
    manifest = export_model(CHECKPOINT, tmp_path / "m", dtype="fp16", log=lambda _: None)
    assert manifest["dtype"] == "fp16"
    enc = Encoder(tmp_path / "m", device="cpu", precision="fp32")
    for emb in enc.embed_queries(["fp16 query"]):
        assert emb.dtype == np.float32
    assert _max_diff(enc, meta, ref, n_images=2) <= 5e-3


def test_cli(tmp_path: Path) -> None:
    assert (
        main(["export", "--from", str(CHECKPOINT), "--out", str(tmp_path / "m"), "--quantize", "int8"]) == 0
    )
    manifest = read_manifest(tmp_path / "m")
    assert manifest is not None
    assert manifest["quantize"] == "int8"
    assert manifest["source"] == str(CHECKPOINT)
    assert main(["export", "--from", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dtype": "bf16"}, "dtype"),
        ({"quantize": "int4"}, "quantize"),
        ({"dtype": "fp16", "quantize": "int8"}, "fp32"),
    ],
)
def test_bad_options(tmp_path: Path, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        export_model(CHECKPOINT, tmp_path, **kwargs)


def test_fp16_keeps_the_rotary_frequencies_fp32(tmp_path: Path) -> None:
    """θ = 160000 gives fp16 subnormals: the exported fp16 text graph must hold inv_freq in float32."""
    import onnx
    from onnx import numpy_helper

    export_model(CHECKPOINT, tmp_path / "m", dtype="fp16", log=lambda _: None)
    cfg = json.loads((CHECKPOINT / "config.json").read_text())["vlm_config"]["text_config"]
    head_dim = cfg["hidden_size"] // cfg["num_attention_heads"]
    graph = onnx.load(str(tmp_path / "m" / "text.onnx")).graph
    wanted = {
        theta: 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim)
        for theta in (p["rope_theta"] for p in cfg["rope_parameters"].values())
    }
    found = set()
    tensors = [numpy_helper.to_array(t) for t in graph.initializer]
    tensors += [numpy_helper.to_array(n.attribute[0].t) for n in graph.node if n.op_type == "Constant"]
    for arr in tensors:
        for theta, freq in wanted.items():
            if arr.shape == freq.shape and np.allclose(arr.astype(np.float64), freq, rtol=1e-6, atol=0):
                assert arr.dtype == np.float32, theta
                found.add(theta)
    assert found == set(wanted)


def test_export_from_a_cached_hub_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    commit = "89abcdef0123456789abcdef0123456789abcdef"
    repo = tmp_path / "hub" / "models--someorg--tiny-colmodernvbert"
    shutil.copytree(CHECKPOINT, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    manifest = export_model("someorg/tiny-colmodernvbert", tmp_path / "m", log=lambda _: None)
    assert manifest["source"] == "someorg/tiny-colmodernvbert"
    assert manifest["revision"] == commit

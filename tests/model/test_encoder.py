"""The Encoder against transformers' outputs (committed fixtures; onnxruntime only, no torch)."""

from __future__ import annotations

import base64
import importlib.util
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from colweave.model import (
    CudaFallbackWarning,
    Encoder,
    ImageDecodeError,
    ImageSizeError,
    ModelFilesError,
    ModelInputError,
    TextInputError,
)
from colweave.model.manifest import read_manifest, verify_files
from colweave.model.session import SessionSettings, create_session

from .conftest import IMAGES, INT8, SINGLE, SPLIT

TOL = 1e-4
#: fp32 runtimes this installation has (OpenVINO is the optional ``openvino`` extra).
RUNTIMES = [
    "onnxruntime",
    pytest.param(
        "openvino",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("openvino") is None, reason="OpenVINO not installed (extra 'openvino')"
        ),
    ),
]


def _image_inputs(meta: dict[str, Any]) -> tuple[list[str], list[bytes]]:
    names = list(meta["images"])
    return names, [(IMAGES / n).read_bytes() for n in names]


def _queries(meta: dict[str, Any]) -> tuple[list[str], list[str]]:
    return list(meta["queries"]), [q["text"] for q in meta["queries"].values()]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("layout_dir", [SPLIT, SINGLE], ids=["split", "qdrant-single-graph"])
def test_parity_with_transformers(
    layout_dir: Path, runtime: str, meta: dict[str, Any], ref: dict[str, np.ndarray]
) -> None:
    """fp32 is exact on either runtime (OpenVINO's CPU default would be bf16: the hint must be set)."""
    enc = Encoder(layout_dir, device="cpu", threads=1, runtime=runtime, precision="fp32")
    assert enc.runtime == runtime
    assert enc.precision == "fp32"
    names, images = _image_inputs(meta)
    for name, emb in zip(names, enc.embed_images(images), strict=True):
        want = ref[f"image/{name}/embeddings"]
        assert emb.dtype == np.float32, name
        assert emb.shape == want.shape, name
        assert float(np.abs(emb - want).max()) <= TOL, name
    qnames, texts = _queries(meta)
    for name, emb in zip(qnames, enc.embed_queries(texts), strict=True):
        want = ref[f"query/{name}/embeddings"]
        assert emb.shape == want.shape, name
        assert float(np.abs(emb - want).max()) <= TOL, name


def test_vectors_are_unit_norm(encoder: Encoder) -> None:
    emb = encoder.embed_queries(["unit norm"])[0]
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_long_query_exceeds_the_sliding_window(meta: dict[str, Any]) -> None:
    assert meta["queries"]["long"]["n_vectors"] > 8 * 4  # local_attention 8: several windows


@pytest.mark.parametrize(("tiles", "tokens"), [(1, 1), (3, 400), (100, 100_000)])
def test_results_do_not_depend_on_batch_composition(
    tiles: int, tokens: int, meta: dict[str, Any], ref: dict[str, np.ndarray]
) -> None:
    enc = Encoder(
        SPLIT,
        device="cpu",
        threads=1,
        precision="fp32",
        max_tiles_per_batch=tiles,
        max_tokens_per_batch=tokens,
    )
    names, images = _image_inputs(meta)
    order = list(range(len(names)))[::-1]
    got = enc.embed_images([images[i] for i in order])
    for i, emb in zip(order, got, strict=True):
        assert float(np.abs(emb - ref[f"image/{names[i]}/embeddings"]).max()) <= TOL
    qnames, texts = _queries(meta)
    texts = texts * 3
    for i, emb in enumerate(enc.embed_queries(texts)):
        assert float(np.abs(emb - ref[f"query/{qnames[i % len(qnames)]}/embeddings"]).max()) <= TOL


def test_same_query_alone_and_in_a_padded_batch(encoder: Encoder) -> None:
    alone = encoder.embed_queries(["revenue"])[0]
    batched = encoder.embed_queries(["x " * 200, "revenue", "y"])[1]
    assert float(np.abs(alone - batched).max()) <= 1e-5


def test_int8_is_close_to_fp32(
    meta: dict[str, Any], ref: dict[str, np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    """onnxruntime's int8 export stays within cosine 0.99 of fp32 where the CPU has VNNI dot products;
    without them (AVX2 only: its kernels saturate 16-bit sums; measured 0.966 on an AMD Zen 3) it stays
    above 0.95 and the Encoder warns at load."""
    from colweave.model.session import int8_dot_products

    with caplog.at_level(logging.WARNING, logger="colweave.model"):
        enc = Encoder(INT8, device="cpu", threads=1)
    assert enc.info["quantize"] == "int8"
    vnni = int8_dot_products()
    assert any("has no VNNI" in r.getMessage() for r in caplog.records) is not vnni
    names, images = _image_inputs(meta)
    for name, emb in zip(names[:4], enc.embed_images(images[:4]), strict=True):
        cos = (emb * ref[f"image/{name}/embeddings"]).sum(axis=1)
        assert float(cos.mean()) >= (0.99 if vnni else 0.95), name


def test_accepts_every_input_form(encoder: Encoder, ref: dict[str, np.ndarray]) -> None:
    data = (IMAGES / "a4_portrait.png").read_bytes()
    pil = Image.open(IMAGES / "a4_portrait.png")
    forms = [
        data,
        base64.b64encode(data).decode(),
        "data:image/png;base64," + base64.b64encode(data).decode(),
        IMAGES / "a4_portrait.png",
        pil,
        np.asarray(pil.convert("RGB")),
    ]
    want = ref["image/a4_portrait.png/embeddings"]
    for emb in encoder.embed_images(forms):
        assert float(np.abs(emb - want).max()) <= TOL


def test_empty_lists(encoder: Encoder) -> None:
    assert encoder.embed_images([]) == []
    assert encoder.embed_queries([]) == []


def test_bad_images_name_the_culprit(encoder: Encoder) -> None:
    good = (IMAGES / "square.png").read_bytes()
    with pytest.raises(ImageDecodeError, match="image 1: ") as info:
        encoder.embed_images([good, b"garbage"])
    assert isinstance(info.value, ValueError)
    with pytest.raises(ImageSizeError, match=r"image 0: .*zero dimension"):
        encoder.embed_images([np.zeros((0, 3, 3), np.uint8)])
    small = Encoder(SPLIT, device="cpu", max_image_pixels=100)
    with pytest.raises(ImageSizeError, match="over the limit of 100"):
        small.embed_images([good])


@pytest.mark.parametrize("bad", ["one string", b"bytes", np.zeros((4, 4, 3), np.uint8)])
def test_a_single_item_instead_of_a_list(encoder: Encoder, bad: object) -> None:
    with pytest.raises(ModelInputError, match="must be a list"):
        encoder.embed_images(bad)  # type: ignore[arg-type]
    with pytest.raises(ModelInputError, match="must be a list"):
        encoder.embed_queries(bad)  # type: ignore[arg-type]


def test_bad_queries(encoder: Encoder) -> None:
    with pytest.raises(TextInputError, match="query 2 is empty"):
        encoder.embed_queries(["a", "b", ""])
    with pytest.raises(TextInputError, match="not a str"):
        encoder.embed_queries([3])  # type: ignore[list-item]


def test_info(encoder: Encoder) -> None:
    info = encoder.info
    assert info["dim"] == 32
    assert info["image_seq_len"] == 16
    assert info["tile_size"] == 64
    assert info["layout"] == "split"
    assert info["dtype"] == "fp32"
    assert info["providers"] == ["CPUExecutionProvider"]
    assert info["limits"]["max_tokens"] == 2048


def test_single_graph_layout_info() -> None:
    enc = Encoder(SINGLE, device="cpu")
    assert enc.layout == "single"
    assert enc.dim == 32
    assert read_manifest(SINGLE) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"device": "tpu"},
        {"threads": 0},
        {"threads": "2"},
        {"max_tiles_per_batch": 0},
        {"max_image_pixels": -1},
    ],
)
def test_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each message names its own argument
        Encoder(SPLIT, **kwargs)


def test_cuda_requested_without_a_cuda_build() -> None:
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(ValueError, match="onnxruntime-gpu"):
        Encoder(SPLIT, device="cuda")


def test_loud_warning_on_cuda_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    real = ort.get_available_providers()
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", *real])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            sess = create_session(SPLIT / "text.onnx", SessionSettings(device="auto"))
        except ModelFilesError:
            pytest.skip("this onnxruntime refuses unknown providers outright")
    assert sess.get_providers() == ["CPUExecutionProvider"]
    assert any(issubclass(w.category, CudaFallbackWarning) for w in caught)


def test_missing_graphs(tmp_path: Path) -> None:
    for f in ("config.json", "preprocessor_config.json", "processor_config.json", "tokenizer.json"):
        (tmp_path / f).write_bytes((SPLIT / f).read_bytes())
    with pytest.raises(ModelFilesError, match="holds no model graphs"):
        Encoder(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"not onnx")
    with pytest.raises(ModelFilesError, match="cannot load"):
        Encoder(tmp_path)


@pytest.mark.parametrize("model_dir", [SPLIT, INT8])
def test_manifest_hashes_match_the_files(model_dir: Path) -> None:
    manifest = read_manifest(model_dir)
    assert manifest is not None
    assert {"vision.onnx", "text.onnx", "tokenizer.json"} <= set(manifest["files"])
    assert manifest["versions"]["transformers"]
    assert manifest["opset"] == 18
    verify_files(model_dir, manifest)


def test_corrupted_file_is_detected(tmp_path: Path) -> None:
    import shutil

    d = tmp_path / "m"
    shutil.copytree(SPLIT, d)
    with (d / "tokenizer.json").open("a") as f:
        f.write(" ")
    manifest = read_manifest(d)
    assert manifest is not None
    with pytest.raises(ModelFilesError, match="does not match the hash"):
        verify_files(d, manifest)


class _Recorder:
    """Wraps a session and records the batch sizes it was run with (a ``run_each`` call of OpenVINO's
    streams counts as one batch of all its inputs; each of them must be a single one)."""

    def __init__(self, sess: Any, key: str) -> None:
        self.sess, self.key, self.sizes = sess, key, []  # type: ignore[var-annotated]
        if hasattr(sess, "run_each"):
            self.run_each = self._run_each

    def run(self, names: Any, feeds: dict[str, np.ndarray]) -> Any:
        self.sizes.append(feeds[self.key].shape)
        return self.sess.run(names, feeds)

    def _run_each(self, output: str, key: str, arrays: list[np.ndarray]) -> Any:
        assert key == self.key
        assert all(a.shape[0] == 1 for a in arrays)
        self.sizes.append((len(arrays), *arrays[0].shape[1:]))
        return self.sess.run_each(output, key, arrays)


def test_queries_never_run_the_vision_graph() -> None:
    enc = Encoder(SPLIT, device="cpu")
    vision = _Recorder(enc._vision, "pixel_values")
    enc._vision = vision  # type: ignore[assignment]
    enc.embed_queries(["a", "b c d"])
    assert vision.sizes == []


def test_budgets_bound_every_run(meta: dict[str, Any]) -> None:
    enc = Encoder(SPLIT, device="cpu", max_tiles_per_batch=5, max_tokens_per_batch=700)
    vision, text = _Recorder(enc._vision, "pixel_values"), _Recorder(enc._text, "input_ids")
    enc._vision, enc._text = vision, text  # type: ignore[assignment]
    _, images = _image_inputs(meta)
    enc.embed_images(images)
    assert sum(s[0] for s in vision.sizes) == sum(v["pixel_shape"][0] for v in meta["images"].values())
    assert max(s[0] for s in vision.sizes) <= 5
    assert all(b * s <= 700 for b, s in text.sizes)
    assert len(text.sizes) > 1


def test_top_level_name() -> None:
    import colweave

    assert colweave.Encoder is Encoder
    with pytest.raises(AttributeError):
        _ = colweave.NoSuchThing  # type: ignore[attr-defined]


def test_info_names_the_model_not_a_path_from_the_exporting_machine() -> None:
    from colweave.model import Encoder

    from .conftest import FIXTURES

    enc = Encoder(FIXTURES / "tiny-colweave")
    assert enc.info["model_id"] == "tiny-colweave"
    assert enc.info["dim"] == 32


def test_spinning_sessions_give_the_same_vectors() -> None:
    from colweave.model import Encoder

    from .conftest import FIXTURES

    plain = Encoder(FIXTURES / "tiny-colweave", threads=2, runtime="onnxruntime")
    spin = Encoder(FIXTURES / "tiny-colweave", threads=2, spin=True, runtime="onnxruntime")
    assert spin.info["spin"] is True
    assert plain.info["spin"] is False
    for a, b in zip(plain.embed_queries(["a query", "x"]), spin.embed_queries(["a query", "x"]), strict=True):
        np.testing.assert_array_equal(a, b)

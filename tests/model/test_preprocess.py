"""Preprocessing against transformers' Idefics3 PIL image processor: identical pixel values, bit for bit."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from colweave.model.config import ImageProcessorConfig, load_processor_config
from colweave.model.images import load_image
from colweave.model.preprocess import ImagePreprocessor, grid_for_size

from .conftest import FIXTURES, IMAGES, SPLIT


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def pre() -> ImagePreprocessor:
    return ImagePreprocessor(load_processor_config(SPLIT).image)


def test_every_fixture_image_matches_the_reference_pixels(
    pre: ImagePreprocessor, meta: dict[str, Any]
) -> None:
    assert len(meta["images"]) >= 15
    for name, want in meta["images"].items():
        out = pre(load_image((IMAGES / name).read_bytes()))
        assert (out.rows, out.cols) == (want["rows"], want["cols"]), name
        assert list(out.pixel_values.shape) == want["pixel_shape"], name
        assert out.pixel_values.dtype == np.float32
        assert _digest(out.pixel_values) == want["pixel_sha256"], name


@pytest.mark.parametrize("name", ["tiny_1x1.png", "banner.png"])
def test_full_pixel_arrays_are_identical(
    pre: ImagePreprocessor, ref: dict[str, np.ndarray], name: str
) -> None:
    out = pre(load_image((IMAGES / name).read_bytes()))
    np.testing.assert_array_equal(out.pixel_values, ref[f"image/{name}/pixel_values"])


def test_grids_cover_several_shapes(meta: dict[str, Any]) -> None:
    grids = {(v["rows"], v["cols"]) for v in meta["images"].values()}
    assert {(4, 3), (4, 4), (3, 4), (1, 4), (4, 1), (4, 2)} <= grids


@pytest.mark.parametrize("variant", ["no_split", "edge96_tile32", "edge5000_tile1024"])
def test_other_processor_settings_match_the_reference(meta: dict[str, Any], variant: str) -> None:
    entry = meta["preprocess_only"][variant]
    cfg = ImageProcessorConfig.from_dict(entry["config"], variant)
    pre = ImagePreprocessor(cfg)
    for name, want in entry["images"].items():
        out = pre(load_image((IMAGES / name).read_bytes()))
        assert (out.rows, out.cols) == (want["rows"], want["cols"]), (variant, name)
        assert list(out.pixel_values.shape) == want["pixel_shape"], (variant, name)
        assert _digest(out.pixel_values) == want["pixel_sha256"], (variant, name)


def test_unsplit_images_are_one_global_tile(meta: dict[str, Any]) -> None:
    for want in meta["preprocess_only"]["no_split"]["images"].values():
        assert (want["rows"], want["cols"]) == (0, 0)
        assert want["pixel_shape"][0] == 1


@given(h=st.integers(1, 300), w=st.integers(1, 300))
def test_grid_for_size_agrees_with_the_pixels(h: int, w: int) -> None:
    cfg = ImageProcessorConfig.from_dict(
        {"size": {"longest_edge": 96}, "max_image_size": {"longest_edge": 32}}, "t"
    )
    pre = ImagePreprocessor(cfg)
    out = pre(Image.new("RGB", (w, h), (10, 20, 30)))
    assert grid_for_size(h, w, cfg) == (out.rows, out.cols)
    assert out.n_tiles == (out.rows * out.cols + 1 if out.rows else 1)


def test_real_model_grids() -> None:
    """The real processor settings (Qdrant/colmodernvbert's preprocessor_config.json): A4 is 4x3 + 1 = 13
    tiles, US Letter 4x4 + 1 = 17, 16:9 landscape 3x4 + 1 = 13."""
    raw = json.loads(
        (FIXTURES.parent / "configs" / "Qdrant__colmodernvbert__preprocessor_config.json").read_text()
    )
    cfg = ImageProcessorConfig.from_dict(raw, "qdrant")
    assert (cfg.longest_edge, cfg.tile_size, cfg.resample) == (2048, 512, 1)
    assert grid_for_size(3508, 2480, cfg) == (4, 3)
    assert grid_for_size(3300, 2550, cfg) == (4, 4)
    assert grid_for_size(1080, 1920, cfg) == (3, 4)


def test_lut_equals_the_reference_formula() -> None:
    cfg = ImageProcessorConfig.from_dict(
        {"image_mean": [0.48, 0.45, 0.4], "image_std": [0.27, 0.26, 0.28]}, "t"
    )
    pre = ImagePreprocessor(cfg)
    frame = np.arange(256 * 3, dtype=np.uint8).reshape(16, 16, 3)
    got = pre.normalise([frame])[0]
    # transformers: rescale in float64 then float32, normalise in float32 on CHW
    x = (np.moveaxis(frame, -1, 0).astype(np.float64) * cfg.rescale_factor).astype(np.float32)
    mean = np.array(cfg.image_mean, dtype=np.float32)
    std = np.array(cfg.image_std, dtype=np.float32)
    want = ((x.T - mean) / std).T
    np.testing.assert_array_equal(got, want)


def test_transparent_palette_colour_is_composited_on_white(pre: ImagePreprocessor) -> None:
    pal = Image.new("P", (4, 2), 0)
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    pal.putpixel((0, 0), 1)
    buf = io.BytesIO()
    pal.save(buf, format="PNG", transparency=1)
    frames, _, _ = pre.tiles_uint8(load_image(buf.getvalue()))
    # the transparent (blue) corner became white, the rest stayed red
    assert tuple(frames[-1][-1, -1]) == (255, 0, 0)
    assert tuple(frames[0][0, 0]) == (255, 255, 255)

"""Image inputs: every accepted form decodes to the same RGB pixels; bad inputs raise clear ValueErrors."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colweave.model.errors import ImageDecodeError, ImageSizeError, ModelInputError
from colweave.model.images import decode_base64, load_image

from .conftest import IMAGES


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


RGB = (np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3) * 3).astype(np.uint8)


@pytest.mark.parametrize("name", sorted(p.name for p in IMAGES.iterdir()))
def test_every_format_decodes_like_pillow(name: str) -> None:
    data = (IMAGES / name).read_bytes()
    img = load_image(data)
    assert img.mode == "RGB"
    want = Image.open(io.BytesIO(data)).convert("RGB")
    np.testing.assert_array_equal(np.asarray(img), np.asarray(want))


def test_all_input_forms_agree(tmp_path: Path) -> None:
    data = _png(RGB)
    b64 = base64.b64encode(data).decode()
    (tmp_path / "x.png").write_bytes(data)
    forms = [
        data,
        bytearray(data),
        memoryview(data),
        b64,
        "data:image/png;base64," + b64,
        "DATA:image/png;base64,\n" + "\n".join(b64[i : i + 60] for i in range(0, len(b64), 60)),
        b64.rstrip("="),
        base64.urlsafe_b64encode(data).decode(),
        tmp_path / "x.png",
        Image.open(io.BytesIO(data)),
        RGB,
    ]
    for form in forms:
        np.testing.assert_array_equal(np.asarray(load_image(form)), RGB, err_msg=type(form).__name__)


@pytest.mark.parametrize(
    ("arr", "mode"),
    [
        (RGB[..., 0], "L"),
        (RGB[..., :1], "L"),
        (np.dstack([RGB, np.full(RGB.shape[:2], 7, np.uint8)]), "RGBA"),
    ],
)
def test_arrays_convert_like_pil(arr: np.ndarray, mode: str) -> None:
    want = Image.fromarray(arr.squeeze(-1) if arr.ndim == 3 and arr.shape[2] == 1 else arr, mode).convert(
        "RGB"
    )
    np.testing.assert_array_equal(np.asarray(load_image(arr)), np.asarray(want))


@pytest.mark.parametrize(
    "mode", ["1", "L", "LA", "P", "PA", "RGBA", "RGBX", "CMYK", "YCbCr", "I", "I;16", "F"]
)
def test_every_mode_becomes_rgb_as_pillow_converts_it(mode: str) -> None:
    img = (
        Image.fromarray(RGB).convert(mode) if mode not in ("I;16", "F", "I") else Image.new(mode, (7, 5), 300)
    )
    out = load_image(img)
    assert out.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img.convert("RGB")))


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (b"", "empty image data"),
        (b"not an image at all", "not a decodable image"),
        (_png(RGB)[:60], "corrupt|truncated"),
        ("", "empty base64"),
        ("%%%notbase64%%%", "invalid base64"),
        ("data:image/png,abc", "not base64-encoded"),
        (base64.b64encode(b"GIF89a-garbage").decode(), "corrupt|not a decodable"),
        (np.zeros((4, 4), dtype=np.float32), "uint8"),
        (np.zeros((4, 4, 2), dtype=np.uint8), "shape"),
        (np.zeros((2, 2, 2, 3), dtype=np.uint8), "shape"),
        (12345, "unsupported image input type"),
        (Path("/nonexistent/image.png"), "cannot read image file"),
    ],
)
def test_bad_inputs_raise_decode_errors(bad: object, match: str) -> None:
    with pytest.raises(ImageDecodeError, match=match) as info:
        load_image(bad)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, ModelInputError)


def test_eps_and_other_formats_are_refused() -> None:
    buf = io.BytesIO()
    Image.fromarray(RGB).save(buf, format="PPM")
    with pytest.raises(ImageDecodeError, match="accepted formats"):
        load_image(buf.getvalue())


@pytest.mark.parametrize("arr", [np.zeros((0, 5, 3), np.uint8), np.zeros((5, 0), np.uint8)])
def test_zero_sized_arrays(arr: np.ndarray) -> None:
    with pytest.raises(ImageSizeError, match="zero dimension"):
        load_image(arr)


def test_pixel_limit_is_configurable() -> None:
    data = _png(np.zeros((20, 30, 3), np.uint8))
    assert load_image(data, max_pixels=600).size == (30, 20)
    with pytest.raises(ImageSizeError, match="over the limit of 599"):
        load_image(data, max_pixels=599)
    with pytest.raises(ImageSizeError):
        load_image(np.zeros((20, 30, 3), np.uint8), max_pixels=599)
    with pytest.raises(ImageSizeError):
        load_image(Image.new("RGB", (30, 20)), max_pixels=599)


def _bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge size over a tiny compressed body: rejected before decoding."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = lambda kind, body: (  # noqa: E731
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    )
    idat = zlib.compress(b"\x00" * (width + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_is_rejected_from_the_header() -> None:
    with pytest.raises(ImageSizeError, match="decompression bomb"):
        load_image(_bomb_png(50_000, 50_000))
    with pytest.raises(ImageSizeError, match="decompression bomb"):
        load_image(_bomb_png(200_000, 200_000), max_pixels=10**12)  # beyond Pillow's own hard limit


def test_zero_size_header() -> None:
    with pytest.raises(ModelInputError):
        load_image(_bomb_png(0, 10))


def test_base64_variants() -> None:
    assert decode_base64("aGVsbG8=") == b"hello"
    assert decode_base64("aGVsbG8") == b"hello"
    assert decode_base64(" data:;base64,aGVs\nbG8= ") == b"hello"


def test_lazily_opened_truncated_pil_image() -> None:
    noisy = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = _png(noisy)
    truncated = Image.open(io.BytesIO(data[: len(data) // 2]))
    with pytest.raises(ImageDecodeError, match="truncated"):
        load_image(truncated)

"""Bounded, deterministic fuzzing of the image decoder entry points (``load_image``, ``decode_base64`` and
the server's ``decode_base64_image``): mutated real images of every accepted format, hand-built PNG
headers and TIFF directories with hostile sizes, tags and offsets. Every input either decodes to an RGB
image within the limits or raises the model's ``ModelInputError`` (a 4xx naming the item); nothing else."""

from __future__ import annotations

import contextlib
import io
import struct
import warnings
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from colweave.model import images
from colweave.model.errors import ImageSizeError, ModelInputError
from colweave.server.embedding import decode_base64_image
from colweave.server.errors import ValidationError

FUZZ = settings(
    derandomize=True,
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "model" / "images"
SEEDS = sorted(p.read_bytes() for p in FIXTURES.iterdir() if p.is_file())
MAX_PIXELS = 4_000_000


def check(data: object, target_edge: int | None = None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            img = images.load_image(data, MAX_PIXELS, target_edge=target_edge)
        except ModelInputError as e:
            error = str(e)
            img = None
    if img is None:
        assert error
        return
    assert img.mode == "RGB"
    w, h = img.size
    assert 0 < w * h <= MAX_PIXELS
    assert max(w, h) <= images.MAX_ASPECT * min(w, h)


@FUZZ
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=8),
    st.one_of(st.none(), st.integers(1, 1 << 20)),
    st.one_of(st.none(), st.integers(1, 4096)),
)
def test_mutated_images_decode_or_fail_clearly(seed: bytes, flips, cut, target_edge) -> None:
    b = bytearray(seed)
    for pos, val in flips:
        b[pos % len(b)] = val
    check(bytes(b[:cut] if cut else b), target_edge)


def png(width: int, height: int, color_type: int = 0, bit_depth: int = 8, body: bytes | None = None) -> bytes:
    """A PNG built by hand (its header claims any size; the data may be short)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    idat = zlib.compress(body if body is not None else b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def one_by_64m_png() -> bytes:
    """The issue's image: 1 x 64,000,000 pixels in 62 KB (every row is one filter byte + 8 MB of zeros)."""
    width = 64_000_000
    raw = zlib.compressobj(9)
    data = raw.compress(b"\x00" * (width // 8 + 1)) + raw.flush()
    return png(width, 1, color_type=0, bit_depth=1, body=None)[:33] + _idat_and_end(data)


def _idat_and_end(compressed: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return chunk(b"IDAT", compressed) + chunk(b"IEND", b"")


def test_impossible_shapes_are_refused_before_decoding() -> None:
    for data, what in [
        (one_by_64m_png(), "side"),
        (png(1, 64_000_000), "side"),
        (png(20_000, 50), "elongated"),
        (png(50, 20_000), "elongated"),
        (png(70_000, 1_000), "side"),
    ]:
        with pytest.raises(ImageSizeError, match=what):
            images.load_image(data, images.DEFAULT_MAX_PIXELS)
    with pytest.raises(ModelInputError):
        images.load_image(png(0, 10), images.DEFAULT_MAX_PIXELS)
    # A valid elongated page (1:20) still decodes.
    buf = io.BytesIO()
    Image.new("L", (400, 20)).save(buf, format="PNG")
    assert images.load_image(buf.getvalue(), images.DEFAULT_MAX_PIXELS).size == (400, 20)


@FUZZ
@given(
    st.integers(0, 1 << 32),
    st.integers(0, 1 << 32),
    st.sampled_from([0, 2, 3, 4, 6, 7]),
    st.sampled_from([1, 2, 4, 8, 16, 3]),
    st.binary(max_size=256),
)
def test_hand_built_png_headers(width, height, color_type, depth, body) -> None:
    check(png(width & 0xFFFFFFFF, height & 0xFFFFFFFF, color_type, depth, body))


TAGS = [256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 317, 320, 322, 323, 324, 325, 338, 339, 530]


def tiff(entries: list[tuple[int, int, int, int]], tail: bytes, little: bool) -> bytes:
    """A TIFF with one directory of (tag, type, count, value) entries, then ``tail`` (strip data)."""
    e = "<" if little else ">"
    head = (b"II" if little else b"MM") + struct.pack(e + "HI", 42, 8)
    ifd = struct.pack(e + "H", len(entries))
    for tag, typ, count, value in entries:
        ifd += struct.pack(e + "HHII", tag, typ, count, value)
    return head + ifd + struct.pack(e + "I", 0) + tail


tiff_entries = st.lists(
    st.tuples(
        st.sampled_from(TAGS) | st.integers(0, 65535),
        st.integers(0, 20),
        st.integers(0, 1 << 32) | st.integers(0, 8),
        st.integers(0, 1 << 32) | st.integers(0, 300),
    ).map(
        lambda t: (
            (*tuple(x & 4294967295 for x in t[:1]), t[1] & 65535, *tuple(x & 4294967295 for x in t[2:]))
        )
    ),
    max_size=14,
)


@FUZZ
@given(tiff_entries, st.binary(max_size=128), st.booleans())
@example(
    [(256, 3, 1, 16), (257, 3, 1, 16), (258, 3, 1, 8), (273, 4, 1, 1 << 31), (279, 4, 1, 256)], b"", True
)
@example([(256, 4, 1, 0xFFFFFFFF), (257, 4, 1, 1), (277, 3, 1, 0)], b"\x00" * 64, True)
@example([(256, 3, 1, 8), (257, 3, 1, 8), (258, 3, 3, 0xFFFF), (262, 3, 1, 2)], b"\x00" * 100, False)
def test_hand_built_tiff_directories(entries, tail, little) -> None:
    entries = [(t & 0xFFFF, typ & 0xFFFF, c, v) for t, typ, c, v in entries]
    check(tiff(entries, tail, little))


@FUZZ
@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_base64_entry_points(text: str) -> None:
    error = "input[0]"
    try:
        data = decode_base64_image(text, "input[0]")
    except ValidationError as e:
        error = e.message
        data = None
    assert error.startswith("input[0]")
    if data is not None:
        check(data)
    with contextlib.suppress(ModelInputError):
        images.decode_base64(text)


def test_a_huge_jpeg_decodes_at_a_reduced_scale() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (4096, 3072), (10, 200, 30)).save(buf, format="JPEG", quality=80)
    full = images.load_image(buf.getvalue(), images.DEFAULT_MAX_PIXELS)
    small = images.load_image(buf.getvalue(), images.DEFAULT_MAX_PIXELS, target_edge=512)
    assert full.size == (4096, 3072)
    assert small.size == (1024, 768)  # 1/4 scale: still twice the model's 512
    near = images.load_image(buf.getvalue(), images.DEFAULT_MAX_PIXELS, target_edge=2048)
    assert near.size == (4096, 3072)  # under DRAFT_FACTOR x the model's size: decoded in full


@pytest.fixture(scope="module")
def encoder():
    from colweave.model import Encoder

    return Encoder(Path(__file__).resolve().parents[1] / "fixtures" / "model" / "tiny-colweave")


@settings(FUZZ, max_examples=150)
@given(
    st.one_of(
        st.builds(
            lambda seed, flips: bytes(dict(flips).get(i, b) for i, b in enumerate(seed)),
            st.sampled_from(SEEDS),
            st.lists(st.tuples(st.integers(0, 600), st.integers(0, 255)), max_size=6),
        ),
        st.builds(
            lambda e, t, le: tiff([(a & 0xFFFF, b & 0xFFFF, c, d) for a, b, c, d in e], t, le),
            tiff_entries,
            st.binary(max_size=128),
            st.booleans(),
        ),
    )
)
def test_the_encoder_refuses_what_it_cannot_embed_clearly(encoder, data: bytes) -> None:
    """The whole path the server runs (decode, convert, resize, tile, embed): a 4xx error or vectors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            (out,) = encoder.embed_images([data])
        except ModelInputError as e:
            error = str(e)
            out = None
    if out is None:
        assert error.startswith("image 0")
        return
    assert out.ndim == 2
    assert out.shape[0] > 0

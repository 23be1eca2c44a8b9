"""Image inputs: decoding bytes / base64 / arrays / PIL images into the RGB PIL image the model sees.

Conversion to RGB is ``PIL.Image.convert("RGB")``, exactly what ``ColModernVBertProcessor.process_images``
(transformers) and colpali-engine do before the Idefics3 image processor runs: an alpha channel is dropped,
not composited, palettes are expanded, CMYK and 16-bit greyscale use Pillow's own conversions. A palette
image's transparency colour survives that conversion in ``info`` and the image processor then composites it
onto white (see ``preprocess.composite_transparency``). EXIF orientation is not applied (nor is it by the
reference).
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import os
import re
import warnings
from typing import Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from colweave.model.errors import ImageDecodeError, ImageSizeError

#: Everything ``Encoder.embed_images`` accepts for one image. ``str`` is base64 (optionally a ``data:`` URL);
#: a file is passed as a ``pathlib.Path`` (or any ``os.PathLike``).
ImageInput = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", Image.Image, np.ndarray]

#: Encoded formats accepted (Pillow format names; multi-picture phone JPEGs open as JPEG).
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
#: Default decompression-bomb limit: 64 Mpx (an A4 page scanned at 600 dpi is 35 Mpx).
DEFAULT_MAX_PIXELS = 64_000_000
#: Longest side accepted (JPEG's own limit; an A0 sheet at 400 dpi is 18,700 pixels long).
MAX_SIDE = 65_535
#: Most elongated shape accepted (long side / short side): a till receipt is about 1:30. The model resizes
#: the long side to a fixed length, so a 1 x 64,000,000 strip would become a page of nothing.
MAX_ASPECT = 200
#: A JPEG this many times larger than the model's input (long side) is decoded at a reduced scale (the
#: decoder's 1/2, 1/4, 1/8), never below twice the model's size: the resize that follows then sees almost
#: the same pixels, at a fraction of the memory and time.
DRAFT_FACTOR = 4

_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]*)*?)(?P<b64>;base64)?,", re.I)
_WS = re.compile(r"\s+")


def _check_size(width: int, height: int, max_pixels: int, what: str) -> None:
    if width <= 0 or height <= 0:
        raise ImageSizeError(f"{what} has a zero dimension ({width}x{height})")
    if max(width, height) > MAX_SIDE:
        raise ImageSizeError(f"{what} is {width}x{height}: a side is longer than {MAX_SIDE:,} pixels")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageSizeError(
            f"{what} is {width}x{height}: more elongated than 1:{MAX_ASPECT} (the model would see a "
            "page of nothing)"
        )
    if width * height > max_pixels:
        raise ImageSizeError(
            f"{what} is {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,} "
            "(a possible decompression bomb; raise max_image_pixels to accept it)"
        )


def decode_base64(text: str) -> bytes:
    """Decodes standard or URL-safe base64, with or without padding or a ``data:...;base64,`` prefix."""
    s = text.strip()
    m = _DATA_URL.match(s)
    if m:
        if not m.group("b64"):
            raise ImageDecodeError("data: URL is not base64-encoded (expected ';base64,')")
        s = s[m.end() :]
    s = _WS.sub("", s)
    if not s:
        raise ImageDecodeError("empty base64 string")
    if "-" in s or "_" in s:
        s = s.replace("-", "+").replace("_", "/")
    s += "=" * (-len(s) % 4)
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ImageDecodeError(f"invalid base64: {e}") from None


def _draft(img: Image.Image, target_edge: int | None) -> None:
    """Lets a large JPEG decode at a reduced scale (see ``DRAFT_FACTOR``)."""
    if not target_edge or img.format != "JPEG":
        return
    longest = max(img.width, img.height)
    if longest < DRAFT_FACTOR * target_edge:
        return
    scale = 2 * target_edge / longest
    img.draft(img.mode, (max(1, math.ceil(img.width * scale)), max(1, math.ceil(img.height * scale))))


def open_encoded(
    data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, target_edge: int | None = None
) -> Image.Image:
    """Opens encoded image bytes, checks the header's size (pixels, sides, aspect) before decoding a
    single pixel, then decodes fully (a large JPEG at a scale still above ``target_edge``, the long side
    the model resizes to). Every decoder failure is an ``ImageDecodeError``."""
    if not data:
        raise ImageDecodeError("empty image data")
    Image.init()  # Image.open(formats=...) needs the plugins registered; cheap after the first call
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as e:
        raise ImageSizeError(f"image rejected as a decompression bomb: {e}") from None
    except UnidentifiedImageError:
        raise ImageDecodeError(
            f"not a decodable image (accepted formats: {', '.join(ALLOWED_FORMATS)}; got {len(data)} bytes "
            f"starting {data[:8]!r})"
        ) from None
    except MemoryError:
        raise ImageSizeError("image header too large to parse") from None
    except Exception as e:  # the decoders raise anything on malformed headers (struct.error, KeyError, ...)
        raise ImageDecodeError(f"corrupt image header: {type(e).__name__}: {e}") from None
    try:
        width, height = img.width, img.height
    except Exception as e:
        raise ImageDecodeError(f"corrupt image header: {type(e).__name__}: {e}") from None
    _check_size(width, height, max_pixels, f"{img.format} image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _draft(img, target_edge)
            img.load()
    except Image.DecompressionBombError as e:
        raise ImageSizeError(f"image rejected as a decompression bomb: {e}") from None
    except MemoryError:
        raise ImageSizeError(f"{img.format} image {width}x{height} is too large to decode here") from None
    except Exception as e:
        raise ImageDecodeError(f"corrupt or truncated {img.format} image: {type(e).__name__}: {e}") from None
    _check_size(img.width, img.height, max_pixels, f"{img.format} image")
    return img


def _from_array(arr: np.ndarray) -> Image.Image:
    if arr.dtype != np.uint8:
        raise ImageDecodeError(f"image arrays must be uint8, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        mode = "L"
    elif arr.ndim == 3 and arr.shape[2] in (3, 4):
        mode = "RGB" if arr.shape[2] == 3 else "RGBA"
    else:
        raise ImageDecodeError(
            f"image arrays must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) uint8, got shape {arr.shape}"
        )
    return Image.fromarray(np.ascontiguousarray(arr), mode=mode)


def load_image(
    image: object, max_pixels: int = DEFAULT_MAX_PIXELS, target_edge: int | None = None
) -> Image.Image:
    """Any accepted input → a fully decoded RGB PIL image (see the module docstring for the conversion).
    ``target_edge`` (the long side the model resizes to) lets a huge JPEG decode at a reduced scale."""
    if isinstance(image, Image.Image):
        img = image
        _check_size(img.width, img.height, max_pixels, "image")
        try:
            img.load()  # an Image.open()ed file decodes lazily: surface truncation here, not mid-resize
        except MemoryError:
            raise ImageSizeError(f"image {img.width}x{img.height} is too large to decode here") from None
        except Exception as e:
            raise ImageDecodeError(f"corrupt or truncated image: {type(e).__name__}: {e}") from None
    elif isinstance(image, (bytes, bytearray, memoryview)):
        img = open_encoded(bytes(image), max_pixels, target_edge)
    elif isinstance(image, str):
        img = open_encoded(decode_base64(image), max_pixels, target_edge)
    elif isinstance(image, os.PathLike):
        try:
            with open(image, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ImageDecodeError(f"cannot read image file {os.fspath(image)!r}: {e}") from None
        img = open_encoded(data, max_pixels, target_edge)
    elif isinstance(image, np.ndarray):
        if image.ndim in (2, 3):
            _check_size(image.shape[1], image.shape[0], max_pixels, "image array")
        img = _from_array(image)
    else:
        raise ImageDecodeError(
            f"unsupported image input type {type(image).__name__}: pass encoded bytes, a base64 string, "
            "a pathlib.Path, a PIL image or a uint8 numpy array"
        )
    _check_size(img.width, img.height, max_pixels, "image")
    if img.mode == "RGB":
        return img
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return img.convert("RGB")
    except MemoryError:
        raise ImageSizeError(f"image {img.width}x{img.height} is too large to convert here") from None
    except Exception as e:
        raise ImageDecodeError(f"cannot convert a {img.mode} image to RGB: {type(e).__name__}: {e}") from None

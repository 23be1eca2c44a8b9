"""Idefics3 image preprocessing, value for value as transformers' PIL image processor computes it.

The steps of ``Idefics3ImageProcessorPil._preprocess`` (transformers 5.x) for one RGB image:

1. resize so the longest edge is ``size.longest_edge`` (upscaling small images; the other side is
   ``int(L / aspect)`` or ``int(L * aspect)``, bumped to even; then capped at 4096 px);
2. with splitting on, resize both sides up to multiples of the tile size (the long side is rounded up, the
   short side is ``ceil(int(long / aspect) / tile) * tile``); an image larger than one tile is cut into
   ``rows x cols`` tiles, row-major, and the whole resized image is resized to one more tile, placed last;
   with splitting off, the image is resized to one square tile;
3. rescale (``float64(v) * factor`` cast to float32) and normalise (``(x - mean) / std`` in float32).

Every resize is Pillow's ``Image.resize`` on the uint8 RGB image with the configured filter, as in the
reference. Step 3 depends only on the byte value and the channel, so it is a 3 x 256 lookup table built
with the very same numpy operations, which makes it bit-identical and fast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from colweave.model.config import ImageProcessorConfig

#: transformers' ``MAX_IMAGE_SIZE`` for Idefics3: no resized side exceeds it.
MAX_IMAGE_SIZE = 4096


@dataclass(frozen=True)
class ProcessedImage:
    """Tiles in model order (row-major grid tiles, then the global tile) and the grid that produced them."""

    pixel_values: np.ndarray  # float32 (n_tiles, 3, tile, tile)
    rows: int  # 0 with cols 0: the image is one unsplit tile
    cols: int

    @property
    def n_tiles(self) -> int:
        return int(self.pixel_values.shape[0])


def _rescale_to_max_len(height: int, width: int, max_len: int) -> tuple[int, int]:
    aspect = width / height
    if width >= height:
        width = max_len
        height = int(width / aspect)
        if height % 2 != 0:
            height += 1
    else:
        height = max_len
        width = int(height * aspect)
        if width % 2 != 0:
            width += 1
    return max(height, 1), max(width, 1)


def _scale_below_upper_bound(height: int, width: int, max_len: int) -> tuple[int, int]:
    aspect = width / height
    if width >= height and width > max_len:
        width = max_len
        height = int(width / aspect)
    elif height > width and height > max_len:
        height = max_len
        width = int(height * aspect)
    return max(height, 1), max(width, 1)


def resized_size(height: int, width: int, longest_edge: int) -> tuple[int, int]:
    """Step 1's output size (height, width)."""
    height, width = _rescale_to_max_len(height, width, longest_edge)
    return _scale_below_upper_bound(height, width, MAX_IMAGE_SIZE)


def tile_multiple_size(height: int, width: int, tile: int) -> tuple[int, int]:
    """Step 2's output size (height, width): both sides multiples of ``tile``."""
    aspect = width / height
    if width >= height:
        width = math.ceil(width / tile) * tile
        height = int(width / aspect)
        height = math.ceil(height / tile) * tile
    else:
        height = math.ceil(height / tile) * tile
        width = int(height * aspect)
        width = math.ceil(width / tile) * tile
    return height, width


def grid_for_size(height: int, width: int, cfg: ImageProcessorConfig) -> tuple[int, int]:
    """(rows, cols) an image of this size becomes, without touching pixels; (0, 0) means one unsplit tile."""
    if not cfg.do_image_splitting:
        return 0, 0
    if cfg.do_resize:
        height, width = resized_size(height, width, cfg.longest_edge)
    height, width = tile_multiple_size(height, width, cfg.tile_size)
    if height > cfg.tile_size or width > cfg.tile_size:
        return height // cfg.tile_size, width // cfg.tile_size
    return 0, 0


def composite_transparency(img: Image.Image) -> Image.Image:
    """transformers' ``convert_to_rgb`` on an RGB image: one that still carries a transparency colour (Pillow
    keeps it when a transparent palette image is converted to RGB) gets that colour composited onto white."""
    if "A" not in img.getbands() and img.info.get("transparency") is None:
        return img
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _lut(cfg: ImageProcessorConfig) -> np.ndarray:
    """(3, 256) float32: the value each byte of each channel becomes after rescale and normalise."""
    values = np.arange(256, dtype=np.uint8)
    rows = []
    for c in range(3):
        x: np.ndarray = values
        if cfg.do_rescale:
            x = (values.astype(np.float64) * cfg.rescale_factor).astype(np.float32)
        if cfg.do_normalize:
            if not np.issubdtype(x.dtype, np.floating):
                x = x.astype(np.float32)
            mean = np.array(cfg.image_mean, dtype=x.dtype)[c]
            std = np.array(cfg.image_std, dtype=x.dtype)[c]
            x = (x - mean) / std
        rows.append(x.astype(np.float32))
    return np.stack(rows)


class ImagePreprocessor:
    """Turns RGB PIL images into tiles; one instance per model (it caches the lookup table)."""

    def __init__(self, cfg: ImageProcessorConfig) -> None:
        self.cfg = cfg
        self._lut = _lut(cfg)
        self._filter = Image.Resampling(cfg.resample)

    def _resize(self, img: Image.Image, height: int, width: int) -> Image.Image:
        return img.resize((width, height), resample=self._filter)

    def tiles_uint8(self, img: Image.Image) -> tuple[list[np.ndarray], int, int]:
        """Steps 1-2: the tiles as HWC uint8 arrays, and (rows, cols)."""
        if img.mode != "RGB":
            raise ValueError(f"expected an RGB image, got mode {img.mode}")
        cfg = self.cfg
        if cfg.do_convert_rgb:
            img = composite_transparency(img)
        if cfg.do_resize:
            img = self._resize(img, *resized_size(img.height, img.width, cfg.longest_edge))
        t = cfg.tile_size
        if not cfg.do_image_splitting:
            return [np.asarray(self._resize(img, t, t))], 0, 0
        img = self._resize(img, *tile_multiple_size(img.height, img.width, t))
        if img.height > t or img.width > t:
            rows = (img.height - t) // t + 1
            cols = (img.width - t) // t + 1
            arr = np.asarray(img)
            frames = [arr[r * t : (r + 1) * t, c * t : (c + 1) * t] for r in range(rows) for c in range(cols)]
            frames.append(np.asarray(self._resize(img, t, t)))
            return frames, rows, cols
        return [np.asarray(img)], 0, 0

    def normalise(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Step 3 for equally sized HWC uint8 RGB tiles: float32 (n, 3, height, width)."""
        h, w = (frames[0].shape[0], frames[0].shape[1]) if len(frames) else (self.cfg.tile_size,) * 2
        out = np.empty((len(frames), 3, h, w), dtype=np.float32)
        for i, frame in enumerate(frames):
            for c in range(3):
                np.take(self._lut[c], frame[:, :, c], out=out[i, c])
        return out

    def __call__(self, img: Image.Image) -> ProcessedImage:
        frames, rows, cols = self.tiles_uint8(img)
        return ProcessedImage(self.normalise(frames), rows, cols)

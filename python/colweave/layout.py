"""Where each vector of a page comes from: the tile grid, the patch of a tile, the box on the original page.

A page's multi-vector is one vector per token of its prompt (see ``model/tokenizer.py``): a few text and
special tokens, and for every tile ``image_seq_len`` image tokens in a row, which are the tile's patches
after pixel shuffle in row-major order (``side x side`` with ``side = sqrt(image_seq_len)``; 8 x 8 for
ColModernVBERT, 4 x 4 for the tiny test model). The tiles are, in model order, the ``rows x cols`` grid
tiles (row-major) and then one global tile; a page that fits one tile is just that tile.

Preprocessing (``model/preprocess.py``) resizes the page to the longest edge, then to multiples of the tile
size, and cuts that grid image into tiles; the global tile is the whole grid image squeezed into one tile.
Each resize maps the whole image onto the whole image, so a patch's box on the original page is its box in
the grid image scaled by ``page size / grid image size`` per axis (a global-tile patch covers
``1 / side`` of the page per axis). Text and special tokens have no box.

A ``PageLayout`` is small (a dozen integers and one start index per tile), stored by the store with the
vectors it describes (``to_json`` / ``from_json``), and checked against the vector count when stored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from colweave.model.config import ImageProcessorConfig

LAYOUT_VERSION = 1


class LayoutError(ValueError):
    """A layout that is inconsistent in itself or with the vectors it is stored with."""


@dataclass(frozen=True)
class Patch:
    """One image vector: its index in the page's multi-vector, its tile and patch position, its box."""

    index: int
    tile: int  # model order: grid tiles row-major, then the global tile
    is_global: bool  # the global tile (or the only tile of an unsplit page)
    tile_row: int  # the tile's grid position (-1 for the global tile)
    tile_col: int
    row: int  # the patch's position inside its tile
    col: int
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in original-page pixels

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "tile": self.tile,
            "global": self.is_global,
            "tileRow": self.tile_row,
            "tileCol": self.tile_col,
            "row": self.row,
            "col": self.col,
            "box": list(self.box),
        }


def _positive(name: str, v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise LayoutError(f"layout: {name} must be a positive integer, got {v!r}")
    return v


@dataclass(frozen=True)
class PageLayout:
    width: int  # the original page (the decoded image), pixels
    height: int
    rows: int  # the tile grid; 0 x 0: the page is one unsplit tile
    cols: int
    grid_width: int  # the resized image the grid tiles are cut from (cols x tile, rows x tile)
    grid_height: int
    tile_size: int
    patch_side: int  # patches per tile side after pixel shuffle
    tile_starts: tuple[int, ...]  # index of each tile's first vector, in model order
    n_vectors: int  # the length of the page's multi-vector

    def __post_init__(self) -> None:
        for name in ("width", "height", "grid_width", "grid_height", "tile_size", "patch_side", "n_vectors"):
            _positive(name, getattr(self, name))
        if not all(isinstance(v, int) and v >= 0 for v in (self.rows, self.cols)):
            raise LayoutError("layout: rows and cols must be non-negative integers")
        if (self.rows == 0) != (self.cols == 0):
            raise LayoutError("layout: rows and cols are both 0 (one tile) or both positive")
        expected = self.rows * self.cols + 1 if self.rows else 1
        if len(self.tile_starts) != expected:
            raise LayoutError(
                f"layout: a {self.rows}x{self.cols} grid has {expected} tiles, got {len(self.tile_starts)}"
            )
        per = self.patches_per_tile
        prev_end = 0
        for s in self.tile_starts:
            if not isinstance(s, int) or s < prev_end:
                raise LayoutError("layout: tile_starts must be increasing, non-overlapping indices")
            prev_end = s + per
        if prev_end > self.n_vectors:
            raise LayoutError(
                f"layout: the tiles end at vector {prev_end}, past the {self.n_vectors} vectors"
            )

    # -- shape --------------------------------------------------------------------------------------
    @property
    def patches_per_tile(self) -> int:
        return self.patch_side * self.patch_side

    @property
    def n_tiles(self) -> int:
        return len(self.tile_starts)

    @property
    def n_patches(self) -> int:
        return self.n_tiles * self.patches_per_tile

    def check_vectors(self, n_vectors: int) -> None:
        if n_vectors != self.n_vectors:
            raise LayoutError(f"layout: describes {self.n_vectors} vectors, the multi-vector has {n_vectors}")

    # -- patches -----------------------------------------------------------------------------------
    def patch_indices(self) -> npt.NDArray[np.int64]:
        """The vector index of every patch, tile by tile, row-major inside a tile: (n_tiles, side, side)."""
        starts = np.asarray(self.tile_starts, np.int64)
        offs = np.arange(self.patches_per_tile, dtype=np.int64)
        return (starts[:, None] + offs[None, :]).reshape(self.n_tiles, self.patch_side, self.patch_side)

    def patch(self, index: int) -> Patch | None:
        """The patch of vector ``index``, or None for a text or special token."""
        per = self.patches_per_tile
        for t, s in enumerate(self.tile_starts):
            if s <= index < s + per:
                r, c = divmod(index - s, self.patch_side)
                return self._patch(index, t, r, c)
        return None

    def _patch(self, index: int, tile: int, r: int, c: int) -> Patch:
        side = self.patch_side
        is_global = tile == self.n_tiles - 1
        if is_global:
            sx, sy = self.width / side, self.height / side
            return Patch(index, tile, True, -1, -1, r, c, (c * sx, r * sy, (c + 1) * sx, (r + 1) * sy))
        tr, tc = divmod(tile, self.cols)
        step = self.tile_size / side
        fx, fy = self.width / self.grid_width, self.height / self.grid_height
        x0 = (tc * self.tile_size + c * step) * fx
        y0 = (tr * self.tile_size + r * step) * fy
        return Patch(index, tile, False, tr, tc, r, c, (x0, y0, x0 + step * fx, y0 + step * fy))

    def patches(self) -> list[Patch]:
        side = self.patch_side
        return [
            self._patch(s + r * side + c, t, r, c)
            for t, s in enumerate(self.tile_starts)
            for r in range(side)
            for c in range(side)
        ]

    def tile_box(self, tile: int) -> tuple[float, float, float, float]:
        """The page region a tile covers."""
        first = self._patch(self.tile_starts[tile], tile, 0, 0).box
        last = self._patch(
            self.tile_starts[tile] + self.patches_per_tile - 1, tile, *(self.patch_side - 1,) * 2
        )
        return first[0], first[1], last.box[2], last.box[3]

    # -- serialisation -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": LAYOUT_VERSION,
            "width": self.width,
            "height": self.height,
            "rows": self.rows,
            "cols": self.cols,
            "gridWidth": self.grid_width,
            "gridHeight": self.grid_height,
            "tileSize": self.tile_size,
            "patchSide": self.patch_side,
            "tileStarts": list(self.tile_starts),
            "vectors": self.n_vectors,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: Any) -> PageLayout:
        if not isinstance(d, dict):
            raise LayoutError("layout: expected an object")
        if d.get("version") != LAYOUT_VERSION:
            raise LayoutError(f"layout: unknown version {d.get('version')!r}")
        try:
            starts = d["tileStarts"]
            if not isinstance(starts, list):
                raise LayoutError("layout: tileStarts must be a list")
            return cls(
                width=d["width"],
                height=d["height"],
                rows=d["rows"],
                cols=d["cols"],
                grid_width=d["gridWidth"],
                grid_height=d["gridHeight"],
                tile_size=d["tileSize"],
                patch_side=d["patchSide"],
                tile_starts=tuple(starts),
                n_vectors=d["vectors"],
            )
        except KeyError as e:
            raise LayoutError(f"layout: missing {e.args[0]!r}") from None

    @classmethod
    def from_json(cls, text: str) -> PageLayout:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise LayoutError(f"layout: not JSON: {e}") from None


def patch_side_of(image_seq_len: int) -> int:
    side = math.isqrt(image_seq_len)
    if side * side != image_seq_len:
        raise LayoutError(f"image_seq_len {image_seq_len} is not a square: the patch grid is unknown")
    return side


def page_layout(
    width: int,
    height: int,
    cfg: ImageProcessorConfig,
    image_seq_len: int,
    token_ids: Sequence[int] | npt.NDArray[np.int64],
    image_token_id: int,
) -> PageLayout:
    """The layout preprocessing gives a ``width x height`` page whose prompt is ``token_ids``.

    Follows ``ImagePreprocessor.tiles_uint8`` step by step: the resize to the longest edge (when
    ``do_resize``), the resize to tile multiples, the grid; the image tokens of the prompt give each tile's
    first vector."""
    from colweave.model.preprocess import resized_size, tile_multiple_size

    _positive("width", width)
    _positive("height", height)
    t = cfg.tile_size
    h, w = height, width
    if cfg.do_resize:
        h, w = resized_size(h, w, cfg.longest_edge)
    rows = cols = 0
    gh = gw = t
    if cfg.do_image_splitting:
        h, w = tile_multiple_size(h, w, t)
        if h > t or w > t:
            rows, cols = (h - t) // t + 1, (w - t) // t + 1
            gh, gw = rows * t, cols * t
    ids = np.asarray(token_ids, np.int64)
    positions = np.flatnonzero(ids == image_token_id)
    n_tiles = rows * cols + 1 if rows else 1
    if len(positions) != n_tiles * image_seq_len:
        raise LayoutError(
            f"the page prompt holds {len(positions)} image tokens, "
            f"{n_tiles} tiles need {n_tiles * image_seq_len}"
        )
    blocks = positions.reshape(n_tiles, image_seq_len)
    if not np.array_equal(blocks - blocks[:, :1], np.broadcast_to(np.arange(image_seq_len), blocks.shape)):
        raise LayoutError("the image tokens of a tile are not contiguous in the page prompt")
    return PageLayout(
        width=width,
        height=height,
        rows=rows,
        cols=cols,
        grid_width=gw,
        grid_height=gh,
        tile_size=t,
        patch_side=patch_side_of(image_seq_len),
        tile_starts=tuple(int(s) for s in blocks[:, 0]),
        n_vectors=len(ids),
    )

"""Page layouts in a collection's database: the ``layouts`` table (doc, vector name) -> layout JSON.

A layout row is written in the same SQLite transaction as the vector slot it describes, and removed in
the same transaction when that vector is replaced by one without a layout (self-provided vectors) or the
object is deleted, so a layout never outlives or contradicts its vectors. Compaction moves vector rows
but not their (doc, name) keys, so it leaves layouts alone.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from colweave.layout import LayoutError, PageLayout
from colweave.store.errors import ObjectError

F32 = npt.NDArray[np.float32]


def embed_with_layouts(vectorizer: Any, images: list[bytes]) -> tuple[list[Any], list[PageLayout | None]]:
    """The vectorizer's multi-vectors for ``images`` and, when it can tell (``embed_images_with_layouts``,
    as ``colweave.Encoder`` has), their layouts."""
    fn = getattr(vectorizer, "embed_images_with_layouts", None)
    if fn is None:
        vectors = list(vectorizer.embed_images(images))
        return vectors, [None] * len(vectors)
    pairs = list(fn(images))
    return [v for v, _ in pairs], [lay for _, lay in pairs]


def checked(layout: Any, n_vectors: int, where: str) -> PageLayout:
    if not isinstance(layout, PageLayout):
        raise ObjectError(f"{where}: a layout must be a colweave.layout.PageLayout")
    try:
        layout.check_vectors(n_vectors)
    except LayoutError as e:
        raise ObjectError(f"{where}: {e}") from None
    return layout


def write(db: sqlite3.Connection, rows: Iterable[tuple[int | None, str, PageLayout | None]]) -> None:
    """Inside the caller's transaction: each (doc, name) gets its layout, or none."""
    rows = list(rows)
    db.executemany(
        "DELETE FROM layouts WHERE doc = ? AND name = ?", [(d, n) for d, n, lay in rows if lay is None]
    )
    db.executemany(
        "INSERT OR REPLACE INTO layouts (doc, name, layout) VALUES (?, ?, ?)",
        [(d, n, lay.to_json()) for d, n, lay in rows if lay is not None],
    )


def delete_docs(db: sqlite3.Connection, docs: Sequence[int]) -> None:
    db.executemany("DELETE FROM layouts WHERE doc = ?", [(d,) for d in docs])


def read(db: sqlite3.Connection, doc: int, name: str) -> PageLayout | None:
    row = db.execute("SELECT layout FROM layouts WHERE doc = ? AND name = ?", (doc, name)).fetchone()
    return None if row is None else PageLayout.from_json(row[0])


def page_layout_for(model: Any, data: bytes, n_vectors: int) -> PageLayout | None:
    """The layout of the page image ``data`` whose vectors the model just made (None when the model
    cannot tell, or the image's size cannot be read again)."""
    fn = getattr(model, "page_layout", None)
    if fn is None:
        return None
    from PIL import Image

    from colweave.model.images import ALLOWED_FORMATS

    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as im:
            width, height = im.size
        layout = fn(width, height)
    except Exception:  # the vectors exist; a page without a layout is still a page
        return None
    if not isinstance(layout, PageLayout) or layout.n_vectors != n_vectors:
        return None
    return layout

"""The state every part of a collection shares: its files, its published in-memory view and the locks
that guard them (see ``collection.py`` for the concurrency rules), and the helpers all parts use."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from colweave.layout import PageLayout
from colweave.store import layouts as layout_rows
from colweave.store.bm25 import InvertedIndex
from colweave.store.copies import CompactCopy, CopyView
from colweave.store.errors import (
    QueryError,
)
from colweave.store.filter_index import FilterIndex
from colweave.store.objects import (
    Rec,
    Vectorizer,
)
from colweave.store.published import Published, View
from colweave.store.references import Collections
from colweave.store.schema import (
    CollectionConfig,
    Property,
)
from colweave.store.segments import Snapshot, VectorSegment

F32 = npt.NDArray[np.float32]


class CollectionState:
    """What a collection holds; the parts (``reads``, ``vector_search``, ``keyword``, ``writes``,
    ``compaction``, ``explaining``) are mixins over it, put together by ``collection.Collection``.

    What readers read lives in the published :class:`~colweave.store.published.View`; the attributes
    below (``_config``, ``_recs``, ...) are the view the calling thread pinned with ``_state.read()``,
    else the current one (a writer's own, under the commit lock)."""

    path: Path
    vectorizer: Vectorizer | None
    vector_dtype: str
    _commit_lock: threading.RLock
    _state: Published
    _db: sqlite3.Connection
    _segments: dict[str, VectorSegment]
    #: the compact copy of each vector with a quantizer (copies.py), the writer's (under the commit lock);
    #: readers score with the codes their view holds (``_copy_view``)
    _copies: dict[str, CompactCopy]
    #: Answer filters by the reference predicate over every object (the benchmark's "before").
    _scan_filters: bool = False
    _refs: Collections | None = None  # the store: where the targets of references are looked up
    #: Weaviate's auto-schema: unknown properties of an object are added (else they are its error)
    auto_schema: bool = True
    #: the time (seconds since the epoch): the objects' creation and update times, their expiry (ttl.py)
    clock: Callable[[], float] = staticmethod(time.time)

    @property
    def _view(self) -> View:
        return self._state.view()

    @property
    def _config(self) -> CollectionConfig:
        return self._state.view().config

    @property
    def _recs(self) -> Mapping[int, Rec]:
        return self._state.view().recs

    @property
    def _doc_of(self) -> Mapping[str, int]:
        return self._state.view().doc_of

    @property
    def _slot_of(self) -> dict[str, Mapping[int, int]]:
        return self._state.view().slot_of

    @property
    def _bm25(self) -> InvertedIndex:
        return self._state.view().bm25

    @property
    def _findex(self) -> FilterIndex:
        return self._state.view().findex

    @property
    def _props_by_name(self) -> dict[str, Property]:
        return self._state.view().props_by_name

    @property
    def _props_by_lower(self) -> dict[str, str]:
        return self._state.view().props_by_lower

    @property
    def _default_props(self) -> list[Property]:
        return self._state.view().default_props

    @property
    def _sorted(self) -> list[tuple[str, int]] | None:
        return self._state.view().sorted

    @_sorted.setter
    def _sorted(self, value: list[tuple[str, int]] | None) -> None:
        self._state.view().sorted = value

    def _snapshot(self, name: str) -> Snapshot:
        return self._state.view().snaps[name]

    def _dim(self, name: str) -> int | None:
        return self._state.view().dims[name]

    def _copy_view(self, name: str) -> CopyView | None:
        return self._state.view().copies.get(name)

    def _original_tokens(self, name: str) -> Mapping[int, int]:
        """doc -> its token count before pooling, for the docs pooling shrank (pooled vectors only)."""
        return self._state.view().tokens.get(name, {})

    @property
    def name(self) -> str:
        return self._config.name

    @property
    def config(self) -> CollectionConfig:
        return self._config

    def _meta_set(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _target(self, target_vector: str | None) -> str:
        names = list(self._config.vectors)
        if target_vector is None:
            lv = self._config.legacy_vector  # Weaviate: no target means the collection-level vector
            if lv is not None:
                return lv.name
            if len(names) != 1:
                raise QueryError(
                    f"target_vector: {self.name} has {len(names)} named vectors "
                    f"({', '.join(names) or 'none'}); "
                    "name one"
                )
            return names[0]
        if target_vector not in self._config.vectors:
            raise QueryError(f"target_vector: {self.name} has no vector named {target_vector!r}")
        return target_vector

    def _for_distance(self, name: str, m: F32) -> F32:
        """Rows L2-normalised for cosine distance (zero rows stay zero), contiguous float32. A single
        vector is kept as it is (its distance kernel normalises)."""
        vc = self._config.vectors[name]
        if vc.multi and vc.distance == "cosine":
            norms = np.linalg.norm(m, axis=1, keepdims=True)
            m = np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)
        return np.ascontiguousarray(m, np.float32)

    def _load_blob(self, doc: int, name: str) -> bytes:
        v = self._state.view()  # its connection reads the state it publishes
        with v.rdb_lock:
            con = self._state.connection(v)
            row = con.execute("SELECT data FROM blobs WHERE doc = ? AND name = ?", (doc, name)).fetchone()
        return bytes(row[0]) if row else b""

    def _read_layout(self, doc: int, name: str) -> PageLayout | None:
        v = self._state.view()
        with v.rdb_lock:
            return layout_rows.read(self._state.connection(v), doc, name)


def _numeric_matrix(v: Any) -> F32 | None:
    """``v`` as float32, or None when it is not numbers: booleans, strings and objects are not (numpy
    would turn ``True`` into 1.0), nor are integers beyond float range."""
    if isinstance(v, list | tuple):
        for row in v:
            if isinstance(row, bool):
                return None
            if isinstance(row, list | tuple) and any(isinstance(x, bool) for x in row):
                return None
    try:
        a = np.asarray(v)
        if a.dtype.kind not in "fiu":
            return None
        with np.errstate(over="ignore"):  # beyond float32: inf, refused as not finite
            return np.asarray(a, dtype=np.float32)
    except (TypeError, ValueError, OverflowError):
        return None

"""The state every part of a collection shares: its files, its published in-memory view and the locks
that guard them (see ``collection.py`` for the concurrency rules), and the helpers all parts use."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from colweave.layout import PageLayout
from colweave.store import layouts as layout_rows
from colweave.store.bm25 import InvertedIndex
from colweave.store.errors import (
    QueryError,
)
from colweave.store.filter_index import FilterIndex
from colweave.store.objects import (
    Rec,
    Vectorizer,
)
from colweave.store.rwlock import RWLock
from colweave.store.schema import (
    CollectionConfig,
    Property,
)
from colweave.store.segments import VectorSegment

F32 = npt.NDArray[np.float32]


class CollectionState:
    """What a collection holds; the parts (``reads``, ``vector_search``, ``keyword``, ``writes``,
    ``compaction``, ``explaining``) are mixins over it, put together by ``collection.Collection``."""

    path: Path
    vectorizer: Vectorizer | None
    vector_dtype: str
    _commit_lock: threading.RLock
    _state: RWLock
    _db: sqlite3.Connection
    _rdb: sqlite3.Connection
    _rdb_lock: threading.Lock
    _config: CollectionConfig
    _segments: dict[str, VectorSegment]
    _slot_of: dict[str, dict[int, int]]
    _recs: dict[int, Rec]
    _doc_of: dict[str, int]
    _sorted: list[tuple[str, int]] | None
    _bm25: InvertedIndex
    _findex: FilterIndex
    #: Answer filters by the reference predicate over every object (the benchmark's "before").
    _scan_filters: bool = False
    _props_by_name: dict[str, Property]
    _props_by_lower: dict[str, str]
    _default_props: list[Property]

    @property
    def name(self) -> str:
        return self._config.name

    @property
    def config(self) -> CollectionConfig:
        return self._config

    def _schema_changed(self) -> None:
        self._props_by_name = {p.name: p for p in self._config.properties}
        self._props_by_lower = {p.name.lower(): p.name for p in self._config.properties}
        self._default_props = [p for p in self._config.properties if p.data_type != "blob"]
        self._bm25.refresh_schema()

    def _meta_set(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _target(self, target_vector: str | None) -> str:
        names = list(self._config.vectors)
        if target_vector is None:
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
        """Rows L2-normalised for cosine distance (zero rows stay zero), contiguous float32."""
        if self._config.vectors[name].distance == "cosine":
            norms = np.linalg.norm(m, axis=1, keepdims=True)
            m = np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)
        return np.ascontiguousarray(m, np.float32)

    def _load_blob(self, doc: int, name: str) -> bytes:
        with self._rdb_lock:
            row = self._rdb.execute(
                "SELECT data FROM blobs WHERE doc = ? AND name = ?", (doc, name)
            ).fetchone()
        return bytes(row[0]) if row else b""

    def _read_layout(self, doc: int, name: str) -> PageLayout | None:
        with self._rdb_lock:
            return layout_rows.read(self._rdb, doc, name)


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

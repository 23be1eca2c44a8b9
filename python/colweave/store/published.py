"""Published states: what readers of a collection search, immutable once published.

A :class:`View` holds everything a read needs — the config, the records, UUID → doc, per named vector
doc → slot and the segment's :class:`~colweave.store.segments.Snapshot` (with the compact copy's codes
of those rows and the token counts before pooling), the BM25 index, the filter columns — and a SQLite
connection whose read transaction was begun right after the commit the view publishes, so blobs and
layouts read through it belong to the same state. A writer never changes a published view: it makes the
next one (copying what it changes, sharing the rest) and publishes it by one reference assignment. A
reader pins the view current when it starts (``Published.read``) and uses only that one to the end, so
it never waits for a writer (the mutex it takes only counts the view's readers, for a few instructions;
no writer holds it across any work) and never sees half a write. The view's read transaction ends when
it has been replaced and its last reader has left, so SQLite's WAL can be checkpointed past it.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from colweave.store.bm25 import InvertedIndex
from colweave.store.copies import CopyView
from colweave.store.filter_index import FilterIndex
from colweave.store.objects import Rec
from colweave.store.schema import CollectionConfig, Property
from colweave.store.segments import Snapshot


class View:
    """One published state (see the module docstring). ``sorted`` is a cache a reader may fill."""

    __slots__ = (
        "bm25",
        "config",
        "copies",
        "default_props",
        "dims",
        "doc_of",
        "findex",
        "props_by_lower",
        "props_by_name",
        "rdb",
        "rdb_lock",
        "readers",
        "recs",
        "retired",
        "scan_recs",
        "slot_of",
        "snaps",
        "sorted",
        "tokens",
    )

    def __init__(
        self,
        config: CollectionConfig,
        recs: Mapping[int, Rec],
        doc_of: Mapping[str, int],
        slot_of: dict[str, Mapping[int, int]],
        snaps: dict[str, Snapshot],
        dims: dict[str, int | None],
        bm25: InvertedIndex,
        findex: FilterIndex,
        copies: dict[str, CopyView] | None = None,
        tokens: dict[str, Mapping[int, int]] | None = None,
    ) -> None:
        self.config = config
        self.recs = recs
        self.doc_of = doc_of
        self.slot_of = slot_of
        self.snaps = snaps
        self.dims = dims
        self.bm25 = bm25
        self.findex = findex
        #: per quantized vector, the compact copy's codes of exactly the rows of ``snaps[name]``
        self.copies: dict[str, CopyView] = copies if copies is not None else {}
        #: per pooled vector, doc -> its token count before pooling (docs pooling did not shrink: absent)
        self.tokens: dict[str, Mapping[int, int]] = tokens if tokens is not None else {}
        self.sorted: list[tuple[str, int]] | None = None
        self.scan_recs: dict[int, Rec] | None = None  # the reference scan's records (reads.py)
        self.props_by_name: dict[str, Property] = {p.name: p for p in config.properties}
        self.props_by_lower: dict[str, str] = {p.name.lower(): p.name for p in config.properties}
        self.default_props: list[Property] = [p for p in config.properties if p.data_type != "blob"]
        self.rdb: sqlite3.Connection | None = None
        self.rdb_lock = threading.Lock()
        self.readers = 0
        self.retired = False

    def but(self, **changes: object) -> View:
        """A new view: this one with ``changes`` (the caches and the connection are not carried)."""
        fields = {
            "config": self.config,
            "recs": self.recs,
            "doc_of": self.doc_of,
            "slot_of": self.slot_of,
            "snaps": self.snaps,
            "dims": self.dims,
            "bm25": self.bm25,
            "findex": self.findex,
            "copies": self.copies,
            "tokens": self.tokens,
        }
        fields.update(changes)
        return View(**fields)  # type: ignore[arg-type]


class Published:
    """The current view of one collection, the readers' pins, and the pool of read connections.

    A view's read transaction begins when it is first needed (a reader's blob or layout) or, at the
    latest, just before the next COMMIT (:meth:`before_commit`, under the commit lock): either way no
    commit comes between the view's own commit and the start of its snapshot. Some view always holds a
    snapshot while reads keep coming, which would keep SQLite from ever restarting its WAL (it would
    grow without bound); so once the WAL has grown, :meth:`before_begin` checkpoints it and begins the
    current view's transaction again — the same state, as nothing has committed since it was
    published — now reading the database file only, which lets the write that follows restart the WAL.
    """

    #: WAL size beyond which the next commit checkpoints it first.
    CHECKPOINT_BYTES = 4 << 20

    def __init__(self, db_path: Path, first: View) -> None:
        self._path = db_path
        self._wal = db_path.with_name(db_path.name + "-wal")
        self._ckpt: sqlite3.Connection | None = None
        self._mutex = threading.Lock()  # guards ``current``, the reader counts and the pool
        self._local = threading.local()
        self._pool: list[sqlite3.Connection] = []
        self._all: list[sqlite3.Connection] = []
        self._closed = False
        self.current = first

    # -- readers -------------------------------------------------------------------------------------
    def view(self) -> View:
        """The view this thread pinned, else the current one (a writer's, under the commit lock)."""
        v: View | None = getattr(self._local, "view", None)
        return v if v is not None else self.current

    @contextmanager
    def read(self) -> Iterator[View]:
        """Pins the current view for the length of one read (nested reads keep the outer pin)."""
        pinned: View | None = getattr(self._local, "view", None)
        if pinned is not None:
            yield pinned
            return
        with self._mutex:
            v = self.current
            v.readers += 1
        self._local.view = v
        try:
            yield v
        finally:
            self._local.view = None
            with self._mutex:
                v.readers -= 1
                done = v.retired and v.readers == 0
            if done:
                self._detach(v)

    def connection(self, v: View) -> sqlite3.Connection:
        """``v``'s connection, its read transaction begun if it was not yet; call with ``v.rdb_lock``."""
        if v.rdb is None:
            if v.retired:  # cannot happen: a retired view was attached before the commit after it
                raise RuntimeError("a replaced view has no read transaction")
            self._attach(v)
        assert v.rdb is not None
        return v.rdb

    # -- the writer ----------------------------------------------------------------------------------
    def before_begin(self) -> None:
        """Call under the commit lock right before each write transaction begins: checkpoints a grown
        WAL and begins the current view's read transaction again from the same state, now reading the
        database file only, so that the write can restart the WAL (see the class docstring)."""
        try:
            big = self._wal.stat().st_size > self.CHECKPOINT_BYTES
        except OSError:
            big = False
        if not big:
            return
        with contextlib.suppress(sqlite3.Error):
            if self._ckpt is None:
                self._ckpt = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            self._ckpt.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        v = self.current
        with v.rdb_lock:
            if v.rdb is not None:  # nothing has committed since it was published: the same state
                v.rdb.execute("ROLLBACK")
                _begin(v.rdb)

    def before_commit(self) -> None:
        """Call under the commit lock right before each COMMIT: begins the current view's read
        transaction if no reader has yet (after the COMMIT it would see the next state)."""
        v = self.current
        with v.rdb_lock:
            self.connection(v)

    def publish(self, new: View) -> None:
        """Makes ``new`` the current view (call it after the COMMIT it publishes, under the commit lock)."""
        with self._mutex:
            old, self.current = self.current, new
            old.retired = True
            done = old.readers == 0
        if done:
            self._detach(old)

    def _attach(self, v: View) -> None:
        with self._mutex:
            con = self._pool.pop() if self._pool else None
        if con is None:
            con = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            con.execute("PRAGMA query_only=1")
            with self._mutex:
                self._all.append(con)
        _begin(con)
        v.rdb = con

    def _detach(self, v: View) -> None:
        with v.rdb_lock:
            con, v.rdb = v.rdb, None
            if con is None:
                return
            with contextlib.suppress(sqlite3.Error):
                con.execute("ROLLBACK")
        with self._mutex:
            if self._closed:
                con.close()
            else:
                self._pool.append(con)

    def close(self) -> None:
        with self._mutex:
            self._closed = True
            cons, self._all, self._pool = self._all, [], []
            if self._ckpt is not None:
                cons.append(self._ckpt)
                self._ckpt = None
        for con in cons:
            with contextlib.suppress(sqlite3.Error):
                con.close()


def _begin(con: sqlite3.Connection) -> None:
    con.execute("BEGIN")
    con.execute("SELECT count(*) FROM meta").fetchone()  # the read transaction's snapshot starts here

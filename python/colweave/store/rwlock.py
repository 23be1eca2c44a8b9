"""A readers-writer lock guarding a collection's published state.

Readers share it for the length of one read (a search, a fetch, a count); a writer holds it alone only
to publish a commit (SQLite's COMMIT and the in-memory swap that goes with it, milliseconds), never while
it validates, vectorizes or writes vector files. A waiting writer goes before readers that arrive after
it, so a stream of searches cannot starve a commit; a thread that already holds the lock (to read or to
publish) may take it again to read.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class RWLock:
    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer: int | None = None  # the publishing thread
        self._writers_waiting = 0
        self._local = threading.local()

    def _held_reads(self) -> int:
        return int(getattr(self._local, "reads", 0))

    @contextmanager
    def read(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._writer != me and self._held_reads() == 0:
                while self._writer is not None or self._writers_waiting:
                    self._cond.wait()
            self._readers += 1
        self._local.reads = self._held_reads() + 1
        try:
            yield
        finally:
            self._local.reads = self._held_reads() - 1
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        me = threading.get_ident()
        if self._held_reads():
            raise RuntimeError("a reader cannot publish (it would wait for itself)")
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer is not None or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = me
        try:
            yield
        finally:
            with self._cond:
                self._writer = None
                self._cond.notify_all()

"""Compaction: a vector segment is rewritten without its dead (replaced or deleted) rows once they are
more than half of it, committed like a write and published as the next view."""

from __future__ import annotations

import logging

from colweave.store.errors import (
    storage_errors,
)
from colweave.store.objects import (
    rollback,
)
from colweave.store.state import CollectionState

log = logging.getLogger(__name__)


class Compaction(CollectionState):
    def _compact(self, name: str) -> None:
        seg = self._segments[name]
        gen = seg.generation + 1
        snap = seg.snapshot()
        rows = seg.compact_to(gen)
        copy = self._copies[name].compacted(snap) if name in self._copies else None
        db = self._db
        committed = False
        try:
            self._state.before_begin()
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "UPDATE vectors SET slot = ?, start = ?, ntok = ? WHERE doc = ? AND name = ?",
                [(s, st, n, d, name) for d, s, st, n in rows],
            )
            self._meta_set(f"gen.{name}", str(gen))
            self._state.before_commit()
            db.execute("COMMIT")
            committed = True
            seg.switch(gen, rows)
            v = self._state.current
            copies = v.copies
            if copy is not None:  # rebuilt from its live rows: the new view's codes match its snapshot
                self._copies[name] = copy
                copies = {**v.copies, name: copy.view()}
            self._state.publish(
                v.but(
                    slot_of={**v.slot_of, name: {d: s for d, s, _, _ in rows}},
                    snaps={**v.snaps, name: seg.snapshot()},
                    copies=copies,
                )
            )
        except BaseException:
            if not committed:
                rollback(db)
                seg.discard(gen)
            raise

    def _maybe_compact(self, name: str) -> None:
        """Compacts a segment once more than half of its rows are dead (replaced or deleted vectors)."""
        seg = self._segments[name]
        if seg.rows and seg.dead_rows() * 2 > seg.rows:
            try:
                self._compact(name)
            except Exception as e:  # the write that got us here is committed: report, do not fail it
                log.warning(
                    "compaction of %s.%s failed (will retry on the next write): %s", self.name, name, e
                )

    def compact(self) -> None:
        """Rewrites every vector segment without its deleted (tombstoned) slots."""
        with self._commit_lock, storage_errors(f"compacting {self.name}"):
            for name in self._segments:
                self._compact(name)

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())

"""Multi-vector segments: one append-only file of token rows per (collection, named vector), fp16 by
default (fp32 optional), memory-mapped for scans, plus a file of MUVERA encodings when enabled.

A *slot* is one object's multi-vector: tokens ``[start, start + ntok)`` of the segment. Slots are appended
in order, so their starts never decrease; SQLite holds the live slots (``vectors`` table) and is the commit
point: bytes are written and fsync'ed here *before* the SQLite transaction that references them commits,
so after a crash anything past the last referenced row is garbage and is truncated on open. A deleted
object leaves a dead slot (a tombstone) until :meth:`VectorSegment.compact_to` rewrites the live slots
into the next generation of files.

For the MaxSim kernel the slots form a partition of the rows: ``offsets = [start_0, …, start_{n-1}, rows]``,
a dead slot spanning whatever gap it left; searches pass the live slots as ``candidates``.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from colweave import _native
from colweave.store.schema import MuveraConfig

# The seed of the MUVERA random matrices: part of the on-disk format (encodings are persisted).
MUVERA_SEED = 0x6D7576657261

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_at(path: Path, offset: int, arrays: list[npt.NDArray[np.generic]]) -> bool:
    """Writes ``arrays`` at ``offset`` of ``path`` (cutting off whatever lies past ``offset`` first) and
    fsyncs it. Returns whether the file was created. Short writes are continued; errors propagate."""
    new_file = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size != offset:
            os.ftruncate(fd, offset)
        pos = offset
        for a in arrays:
            view = np.ascontiguousarray(a).reshape(-1).view(np.uint8).data
            done = 0
            while done < len(view):
                n = os.pwrite(fd, view[done:], pos + done)
                if n <= 0:  # pragma: no cover - pwrite raises rather than return 0 on a regular file
                    raise OSError(errno.ENOSPC, "short write")
                done += n
            pos += done
        os.fsync(fd)
    finally:
        os.close(fd)
    return new_file


def muvera_encode(cfg: MuveraConfig, mats: list[F32], *, is_query: bool) -> F32:
    """MUVERA encodings (``len(mats)`` rows of ``fde_dim``) of multi-vectors, in Rust."""
    dim = mats[0].shape[1] if mats else 1
    data = np.ascontiguousarray(np.concatenate(mats) if mats else np.zeros((0, dim), np.float32), np.float32)
    offsets = np.zeros(len(mats) + 1, np.int64)
    np.cumsum([m.shape[0] for m in mats], out=offsets[1:])
    return _native.muvera_encode(
        data,
        offsets,
        is_query=is_query,
        ksim=cfg.ksim,
        dprojections=cfg.dprojections,
        repetitions=cfg.repetitions,
        seed=MUVERA_SEED,
    )


class _Ints:
    """A growable int64 array (8 bytes per slot, where a list of ints costs 36). A snapshot reads its
    first entries in place (:meth:`shared`): appends write past them, and a change to one of them
    copies the array first (published snapshots never change)."""

    __slots__ = ("_a", "_n", "_shared")

    def __init__(self, values: list[int] | npt.NDArray[np.int64] | None = None) -> None:
        self._a = np.array(values if values is not None else [], np.int64)
        self._n = len(self._a)
        self._shared = 0  # entries below this one are read by a snapshot

    def shared(self, then: int | None = None) -> I64:
        """The entries, read in place by a snapshot from now on; with ``then``, followed by it (in the
        spare room after them, where the next append will write)."""
        n = self._n
        if then is not None:
            self._reserve(n + 1)
            self._a[n] = then
            n += 1
        self._shared = max(self._shared, n)
        out: I64 = self._a[:n]
        return out

    def _reserve(self, n: int) -> None:
        if n > len(self._a):
            grown = np.empty(max(16, 2 * len(self._a), n), np.int64)
            grown[: self._n] = self._a[: self._n]
            self._a = grown
            self._shared = 0

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> int:
        if not 0 <= i < self._n:
            raise IndexError(i)
        return int(self._a[i])

    def __setitem__(self, i: int, v: int) -> None:
        if not 0 <= i < self._n:
            raise IndexError(i)
        if i < self._shared:  # a snapshot reads it: change a copy
            self._a = self._a.copy()
            self._shared = 0
        self._a[i] = v

    def __iter__(self) -> Iterator[int]:
        return iter(self._a[: self._n].tolist())

    def append(self, v: int) -> None:
        self._reserve(self._n + 1)
        if self._n < self._shared and self._a[self._n] != v:  # a snapshot's last offset: keep it
            self._a = self._a.copy()
            self._shared = 0
        self._a[self._n] = v
        self._n += 1

    def copy(self) -> I64:
        return self._a[: self._n].copy()


class ReadFd:
    """A read-only file descriptor of a segment file, closed when the last snapshot holding it goes (a
    compacted generation's file stays readable by the snapshots made before the switch)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


@dataclass(frozen=True)
class Snapshot:
    """An immutable view for readers: rows, offsets over all slots, the object (doc) of each slot
    (-1 when dead), the live slots, and the MUVERA encodings (one row per slot) when enabled."""

    rows: npt.NDArray[np.float16] | F32
    offsets: I64
    slot_doc: I64
    live: I64
    fdes: F32 | None
    mm: mmap.mmap | None = None  # the map under ``rows`` (its pages can be dropped after a read)
    file: ReadFd | None = None  # the rows' file, for reads that copy rows out (``copies.gather_exact``)

    def doc_to_slot(self) -> dict[int, int]:
        return {int(self.slot_doc[s]): int(s) for s in self.live}


class VectorSegment:
    """The token rows of one named vector of one collection. Writers hold the collection's commit lock;
    :meth:`publish`, :meth:`kill` and :meth:`switch` run after the commit; readers search the
    :class:`Snapshot` a published view holds, which none of them changes."""

    def __init__(
        self, directory: Path, name: str, dtype: str, dim: int | None, generation: int, muvera: MuveraConfig
    ) -> None:
        self.dir = directory
        self.name = name
        self.dtype = np.dtype(np.float16 if dtype == "float16" else np.float32)
        self.dim = dim
        self.generation = generation
        self.muvera = muvera
        self._starts = _Ints()
        self._docs = _Ints()
        self._live: _Ints | None = _Ints()  # the live slots ascending (None: to be found again)
        self._rows = 0
        self._dead = 0  # rows of tombstoned slots and gaps
        self._snap: Snapshot | None = None
        self._lock = threading.Lock()

    # -- files ---------------------------------------------------------------------------------------
    def vec_path(self, gen: int | None = None) -> Path:
        return self.dir / f"{self.name}.{self.generation if gen is None else gen}.vec"

    def fde_path(self, gen: int | None = None) -> Path:
        return self.dir / f"{self.name}.{self.generation if gen is None else gen}.fde"

    @property
    def fde_dim(self) -> int:
        return self.muvera.fde_dim

    def open(self, live: list[tuple[int, int, int, int]]) -> None:
        """Restores the slots from SQLite's live rows ``(slot, start, ntok, doc)``; truncates what no
        committed row references (a half-written batch) and removes other generations' files."""
        for p in self.dir.glob(f"{self.name}.*"):
            suffix = p.name[len(self.name) + 1 :]
            gen, _, ext = suffix.partition(".")
            if ext in ("vec", "fde") and gen.isdigit() and int(gen) != self.generation:
                p.unlink()
        live = sorted(live)
        starts: list[int] = []
        docs: list[int] = []
        end = 0
        for slot, start, ntok, doc in live:
            if start < end:
                raise RuntimeError(f"segment {self.vec_path()}: slot {slot} overlaps the previous slot")
            while len(starts) < slot:  # dead slots fill the gap
                starts.append(end)
                docs.append(-1)
            starts.append(start)
            docs.append(doc)
            end = start + ntok
        row_bytes = (self.dim or 0) * self.dtype.itemsize
        vp = self.vec_path()
        size = vp.stat().st_size if vp.exists() else 0
        if size < end * row_bytes:
            raise RuntimeError(f"segment {vp}: {size} bytes, but committed rows need {end * row_bytes}")
        if vp.exists() and size != end * row_bytes:
            os.truncate(vp, end * row_bytes)
        if self.muvera.enabled:
            fp = self.fde_path()
            need = len(starts) * self.fde_dim * 4
            fsize = (fp.exists() and fp.stat().st_size) or 0
            if fsize < need:
                raise RuntimeError(f"encodings {fp}: {fsize} bytes, but committed slots need {need}")
            if fp.exists() and fsize != need:
                os.truncate(fp, need)
        self._starts, self._docs, self._rows = _Ints(starts), _Ints(docs), end
        self._live = None
        self._dead = end - sum(ntok for _, _, ntok, _ in live)
        self._snap = None

    # -- writes --------------------------------------------------------------------------------------
    def committed_bytes(self) -> tuple[int, int]:
        """The lengths of the vector and encoding files that committed slots reference; anything past
        them is garbage (an append that failed or was not committed)."""
        return (self._rows * (self.dim or 0) * self.dtype.itemsize, len(self._starts) * self.fde_dim * 4)

    def append(
        self, mats: list[F32], fdes: F32 | None = None
    ) -> tuple[list[tuple[int, int, int]], tuple[int, int]]:
        """Writes multi-vectors (already checked and normalised) durably, with their MUVERA encodings
        (``fdes``, one row per matrix, made here when not given); returns their
        ``(slot, start, ntok)`` and the file sizes to roll back to if the commit fails.
        Nothing is visible to readers until :meth:`publish`.

        The bytes are written at the committed ends of the files (never appended after whatever a
        failed write left there), and a failure at any step (a short write, ENOSPC, fsync, the
        encoder) truncates both files back to their committed lengths before it is re-raised."""
        before = self.committed_bytes()
        placed = []
        slot, start = len(self._starts), self._rows
        for m in mats:
            placed.append((slot, start, int(m.shape[0])))
            slot += 1
            start += int(m.shape[0])
        try:
            new_file = _write_at(
                self.vec_path(), before[0], [np.ascontiguousarray(m, self.dtype) for m in mats]
            )
            if self.muvera.enabled and mats:
                if fdes is None or len(fdes) != len(mats):
                    fdes = muvera_encode(self.muvera, mats, is_query=False)
                new_file |= _write_at(self.fde_path(), before[1], [np.ascontiguousarray(fdes, np.float32)])
            if new_file:
                fsync_dir(self.dir)
        except BaseException:
            self.rollback(before)
            raise
        return placed, before

    def rollback(self, before: tuple[int, int]) -> None:
        """Truncates the files back to ``before`` (their committed lengths). Best effort: if truncating
        fails too, the next append truncates first and :meth:`open` drops the rest."""
        for p, size in zip((self.vec_path(), self.fde_path()), before, strict=True):
            with contextlib.suppress(OSError):
                if p.exists() and p.stat().st_size != size:
                    os.truncate(p, size)

    def publish(self, placed: list[tuple[int, int, int]], docs: list[int]) -> None:
        """Makes committed slots visible."""
        with self._lock:
            for (slot, start, ntok), doc in zip(placed, docs, strict=True):
                assert slot == len(self._starts), (slot, len(self._starts))
                assert start == self._rows, (start, self._rows)
                self._starts.append(start)
                self._docs.append(doc)
                if self._live is not None:
                    self._live.append(slot)
                self._rows = start + ntok
            self._snap = None

    def kill(self, slots: list[int]) -> None:
        """Tombstones slots whose deletion has committed."""
        with self._lock:
            for s in slots:
                if self._docs[s] >= 0:
                    end = self._starts[s + 1] if s + 1 < len(self._starts) else self._rows
                    self._dead += end - self._starts[s]
                    self._live = None
                self._docs[s] = -1
            self._snap = None

    # -- reads ---------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        with self._lock:
            if self._snap is not None:
                return self._snap
            dim = self.dim or 1
            n = len(self._starts)
            rows: npt.NDArray[np.float16] | F32
            mm: mmap.mmap | None = None
            file: ReadFd | None = None
            if self._rows:
                file = ReadFd(os.open(self.vec_path(), os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)))
                mm = mmap.mmap(file.fd, self._rows * dim * self.dtype.itemsize, access=mmap.ACCESS_READ)
                rows = np.frombuffer(mm, dtype=self.dtype).reshape(self._rows, dim)
            else:
                rows = np.zeros((0, dim), self.dtype)
            # In place (see _Ints): later appends write past these entries, later kills copy first.
            offsets = self._starts.shared(then=self._rows)
            slot_doc = self._docs.shared()
            if self._live is None:
                self._live = _Ints(np.flatnonzero(slot_doc >= 0))
            live = self._live.shared()
            fdes: F32 | None = None
            if self.muvera.enabled:
                fdes = (
                    np.memmap(self.fde_path(), dtype=np.float32, mode="r", shape=(n, self.fde_dim))
                    if n
                    else np.zeros((0, self.fde_dim), np.float32)
                )
            self._snap = Snapshot(rows, offsets, slot_doc, live, fdes, mm, file)
            return self._snap

    def dead_rows(self) -> int:
        """Rows no live object references (reclaimed by compaction)."""
        return self._dead

    @property
    def rows(self) -> int:
        return self._rows

    # -- compaction ----------------------------------------------------------------------------------
    def compact_to(self, gen: int) -> list[tuple[int, int, int, int]]:
        """Writes the live slots into generation ``gen``'s files (fsync'ed); returns the new
        ``(doc, slot, start, ntok)`` rows for SQLite. The caller commits them, then calls :meth:`switch`."""
        snap = self.snapshot()
        vp, fp = self.vec_path(gen), self.fde_path(gen)
        out: list[tuple[int, int, int, int]] = []
        parts: list[npt.NDArray[np.generic]] = []
        start = 0
        for new_slot, s in enumerate(snap.live):
            a, b = int(snap.offsets[s]), int(snap.offsets[s + 1])
            parts.append(np.ascontiguousarray(snap.rows[a:b]))
            out.append((int(snap.slot_doc[s]), new_slot, start, b - a))
            start += b - a
        try:
            _write_at(vp, 0, parts)
            if snap.fdes is not None:
                _write_at(fp, 0, [np.ascontiguousarray(snap.fdes[snap.live])])
            fsync_dir(self.dir)
        except BaseException:
            self.discard(gen)
            raise
        return out

    def discard(self, gen: int) -> None:
        """Removes generation ``gen``'s files (a compaction that failed or was not committed)."""
        for p in (self.vec_path(gen), self.fde_path(gen)):
            with contextlib.suppress(OSError):  # else removed on the next open, as other generations are
                p.unlink(missing_ok=True)

    def switch(self, gen: int, rows: list[tuple[int, int, int, int]]) -> None:
        """Adopts generation ``gen`` (already committed in SQLite) and deletes the old files."""
        old = self.generation
        with self._lock:
            self.generation = gen
            self._starts = _Ints([r[2] for r in rows])
            self._docs = _Ints([r[0] for r in rows])
            self._live = None
            self._rows = rows[-1][2] + rows[-1][3] if rows else 0
            self._dead = 0
            self._snap = None
        for p in (self.vec_path(old), self.fde_path(old)):
            if p.exists():
                p.unlink()

"""The compact in-memory copy of a named vector's multi-vectors (sign bits or int8 codes, see
``compression.py``) for candidate scoring, and the candidate pipeline that ends in exact fp16 MaxSim.

The copy holds one code row per row of the vector segment, dead rows included, so the segment's slot
offsets address it too. When the index has MUVERA as well, the copy also holds the encodings compressed
(int8 codes and one float32 scale per slot, ``_native.fde_topk_int8``): the first stage then scans a
quarter of the float32 file's bytes, and the float32 file is only read to build the copy. It
lives in memory: loaded when the collection opens (from the cache a clean close saved, plus the rows
committed since, encoded from the memory-mapped segment; or all of it from the segment when a config update
turns a quantizer on), grown when a write publishes (the codes are made before the commit lock, with the
write's other encodings; the next published view holds the grown codes, earlier views the rows they had),
and rebuilt from its own live rows when the segment is compacted. The codes are
a pure function of the committed fp16 rows, so the copy a collection opens with (after a kill -9 too) is
exactly the one its acknowledged writes had; the cache only saves re-reading every row.
"""

from __future__ import annotations

import contextlib
import json
import logging
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from colweave import _native
from colweave.store.schema import CollectionConfig
from colweave.store.segments import Snapshot, VectorSegment, fsync_dir

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
# Rows converted to float32 at a time when a copy is built from a segment (~32 MB of float32 at 128-d).
BUILD_CHUNK_ROWS = 1 << 16


@dataclass(frozen=True)
class Codes:
    """Codes of some token rows: ``bits`` (binary) or ``int8`` + ``scales`` (int8); and, in a copy of a
    MUVERA index, ``fde`` + ``fde_scales``: the int8 MUVERA encodings of the slots those rows belong to."""

    bits: U64 | None = None
    int8: npt.NDArray[np.int8] | None = None
    scales: F32 | None = None
    fde: npt.NDArray[np.int8] | None = None
    fde_scales: F32 | None = None

    def __len__(self) -> int:
        a = self.bits if self.bits is not None else self.int8
        assert a is not None
        return len(a)

    @property
    def kind(self) -> str:
        return "binary" if self.bits is not None else "int8"


def encode(kind: str, rows: npt.NDArray[np.generic], stored: str = "float16") -> Codes:
    """The codes of ``rows`` (``(n, dim)``) for a copy of ``kind``, made from the rows as the segment stores
    them (``stored``: float16 or float32), so that a copy built from the segment has the same codes."""
    m = np.ascontiguousarray(np.asarray(rows, np.float16 if stored == "float16" else np.float32), np.float32)
    if kind == "binary":
        return Codes(bits=_native.binarize(m))
    codes, scales = _native.quantize_int8(m)
    return Codes(int8=codes, scales=scales)


def encode_fdes(fdes: npt.NDArray[np.generic]) -> tuple[npt.NDArray[np.int8], F32]:
    """The int8 codes and scales of float32 MUVERA encodings (``(n, fde_dim)``), as the copy holds them."""
    m = np.ascontiguousarray(fdes, np.float32)
    if len(m) == 0:
        return np.zeros((0, m.shape[1]), np.int8), np.zeros(0, np.float32)
    codes, scales = _native.quantize_int8(m)
    return codes, scales


def concat(kind: str, parts: list[Codes], dim: int, fde_dim: int | None = None) -> Codes:
    fde: dict[str, npt.NDArray[np.generic]] = {}
    if fde_dim is not None:
        fde["fde"] = np.concatenate(
            [p.fde for p in parts if p.fde is not None] or [np.zeros((0, fde_dim), np.int8)]
        )
        fde["fde_scales"] = np.concatenate(
            [p.fde_scales for p in parts if p.fde_scales is not None] or [np.zeros(0, np.float32)]
        )
    if kind == "binary":
        words = (dim + 63) // 64
        return Codes(
            bits=np.concatenate(
                [p.bits for p in parts if p.bits is not None] or [np.zeros((0, words), np.uint64)]
            ),
            **fde,  # type: ignore[arg-type]
        )
    return Codes(
        int8=np.concatenate([p.int8 for p in parts if p.int8 is not None] or [np.zeros((0, dim), np.int8)]),
        scales=np.concatenate([p.scales for p in parts if p.scales is not None] or [np.zeros(0, np.float32)]),
        **fde,  # type: ignore[arg-type]
    )


class _Grow:
    """An array that grows at its end (capacity doubling); ``view()`` is the filled part. Views handed out
    earlier stay valid: growing copies into a new buffer, filling writes past every earlier view's end."""

    def __init__(self, shape: tuple[int, ...], dtype: type) -> None:
        self.buf: npt.NDArray[np.generic] = np.zeros((16, *shape), dtype)
        self.n = 0

    def extend(self, a: npt.NDArray[np.generic]) -> None:
        need = self.n + len(a)
        if need > len(self.buf):
            new = np.empty((max(need, 2 * len(self.buf)), *self.buf.shape[1:]), self.buf.dtype)
            new[: self.n] = self.buf[: self.n]
            self.buf = new
        self.buf[self.n : need] = a
        self.n = need

    def reserve(self, n: int) -> None:
        if n > len(self.buf):
            new = np.empty((n, *self.buf.shape[1:]), self.buf.dtype)
            new[: self.n] = self.buf[: self.n]
            self.buf = new

    def view(self) -> npt.NDArray[np.generic]:
        return self.buf[: self.n]

    @property
    def nbytes(self) -> int:
        return int(self.buf.nbytes)


@dataclass(frozen=True)
class CopyView:
    """What a reader scores with: the codes of every row."""

    kind: str
    dim: int
    codes: Codes

    def fde_topk(self, query_fde: F32, k: int, allowed: npt.NDArray[np.uint8] | None) -> I64:
        """The ``k`` best slots by the int8 MUVERA encodings (the query encoding quantised alike), best
        first; ``allowed`` (one byte per slot) keeps only the slots marked 1."""
        assert self.codes.fde is not None
        assert self.codes.fde_scales is not None
        qc, qs = _native.quantize_int8(np.ascontiguousarray(query_fde, np.float32)[None, :])
        idx, _ = _native.fde_topk_int8(
            qc[0], float(qs[0]), self.codes.fde, self.codes.fde_scales, k, allowed=allowed
        )
        return idx

    def topk(self, query: F32, offsets: I64, k: int, candidates: I64) -> I64:
        """The ``k`` best slots among ``candidates`` by MaxSim on the codes (the query quantised alike)."""
        if self.kind == "binary":
            assert self.codes.bits is not None
            q = _native.binarize(query)
            idx, _ = _native.maxsim_binary_topk(
                q, self.codes.bits, offsets, k, dim=self.dim, candidates=candidates
            )
        else:
            assert self.codes.int8 is not None
            assert self.codes.scales is not None
            qc, qs = _native.quantize_int8(query)
            idx, _ = _native.maxsim_int8_topk(
                qc, qs, self.codes.int8, self.codes.scales, offsets, k, candidates=candidates
            )
        return idx


class CompactCopy:
    """The codes of every row of one vector segment (see the module docstring), the writer's: changed only
    under the collection's commit lock. Readers score with a :meth:`view` a published view holds; the copy
    only grows at its end, so such a view keeps the codes of exactly its own rows."""

    def __init__(self, kind: str, dim: int, fde_dim: int | None = None) -> None:
        self.kind = kind
        self.dim = dim
        self.fde_dim = fde_dim  # the MUVERA encodings' size when the copy holds them, else None
        words = (dim + 63) // 64
        self._bits = _Grow((words,), np.uint64) if kind == "binary" else None
        self._int8 = _Grow((dim,), np.int8) if kind == "int8" else None
        self._scales = _Grow((), np.float32) if kind == "int8" else None
        self._fde = _Grow((fde_dim,), np.int8) if fde_dim is not None else None
        self._fde_scales = _Grow((), np.float32) if fde_dim is not None else None

    @property
    def rows(self) -> int:
        g = self._bits or self._int8
        assert g is not None
        return g.n

    @property
    def slots(self) -> int:
        """The slots whose MUVERA encodings the copy holds (0 without them)."""
        return self._fde.n if self._fde is not None else 0

    def _grows(self) -> tuple[_Grow | None, ...]:
        return (self._bits, self._int8, self._scales, self._fde, self._fde_scales)

    @property
    def nbytes(self) -> int:
        """Bytes of the codes held (not of the buffers' spare capacity)."""
        return sum(g.view().nbytes for g in self._grows() if g is not None)

    def append(self, codes: Codes) -> None:
        """Adds the codes of rows appended to the segment (and of their slots' encodings)."""
        if codes.kind != self.kind:
            raise ValueError(f"codes of kind {codes.kind} for a {self.kind} copy")
        if self._fde is not None:
            assert self._fde_scales is not None
            if codes.fde is None or codes.fde_scales is None:
                raise ValueError("codes without MUVERA encodings for a copy that holds them")
            self._fde.extend(codes.fde)
            self._fde_scales.extend(codes.fde_scales)
        if self._bits is not None:
            assert codes.bits is not None
            self._bits.extend(codes.bits)
        else:
            assert self._int8 is not None
            assert self._scales is not None
            assert codes.int8 is not None
            assert codes.scales is not None
            self._int8.extend(codes.int8)
            self._scales.extend(codes.scales)

    def view(self) -> CopyView:
        fde: dict[str, npt.NDArray[np.generic]] = {}
        if self._fde is not None:
            assert self._fde_scales is not None
            fde = {"fde": self._fde.view(), "fde_scales": self._fde_scales.view()}
        if self._bits is not None:
            codes = Codes(bits=self._bits.view(), **fde)  # type: ignore[arg-type]
        else:
            assert self._int8 is not None
            assert self._scales is not None
            codes = Codes(int8=self._int8.view(), scales=self._scales.view(), **fde)  # type: ignore[arg-type]
        return CopyView(self.kind, self.dim, codes)

    @classmethod
    def build(cls, kind: str, snap: Snapshot, dim: int, fde_dim: int | None = None) -> CompactCopy:
        """The copy of every row (and slot encoding) of a segment's snapshot, encoded chunk by chunk."""
        c = cls(kind, dim, fde_dim)
        c._encode_rows(snap, 0, 0)
        return c

    def _encode_rows(self, snap: Snapshot, start: int, start_slot: int) -> None:
        """Appends the codes of the snapshot's rows from ``start`` on, and of its slots' MUVERA encodings
        from ``start_slot`` on when the copy holds them (buffers sized once)."""
        rows = snap.rows
        for g in (self._bits, self._int8, self._scales):
            if g is not None:
                g.reserve(len(rows))
        fdes = snap.fdes if self._fde is not None else None
        if fdes is not None:
            for g in (self._fde, self._fde_scales):
                assert g is not None
                g.reserve(len(fdes))
        empty = encode_fdes(np.zeros((0, self.fde_dim or 0), np.float32))
        for a in range(start, len(rows), BUILD_CHUNK_ROWS):
            chunk = np.asarray(rows[a : a + BUILD_CHUNK_ROWS])
            c = encode(self.kind, chunk, str(chunk.dtype))
            if self._fde is not None:  # the encodings come below, slot by slot
                c = Codes(c.bits, c.int8, c.scales, *empty)
            self.append(c)
            _release(snap, a, a + len(chunk))
        if fdes is not None:
            assert self._fde is not None
            assert self._fde_scales is not None
            per = max(1, BUILD_CHUNK_ROWS * 128 // max(1, self.fde_dim or 1))  # ~32 MB of float32 at a time
            for a in range(start_slot, len(fdes), per):
                codes, scales = encode_fdes(np.asarray(fdes[a : a + per]))
                self._fde.extend(codes)
                self._fde_scales.extend(scales)
            _release_fdes(fdes)

    def compacted(self, snap: Snapshot) -> CompactCopy:
        """The copy of a segment compacted from ``snap``: the live slots' rows (and encodings), in order."""
        out = CompactCopy(self.kind, self.dim, self.fde_dim)
        view = self.view()
        parts: list[Codes] = []
        for s in snap.live:
            a, b = int(snap.offsets[s]), int(snap.offsets[s + 1])
            fde: dict[str, npt.NDArray[np.generic]] = {}
            if view.codes.fde is not None:
                assert view.codes.fde_scales is not None
                fde = {"fde": view.codes.fde[s : s + 1], "fde_scales": view.codes.fde_scales[s : s + 1]}
            if view.codes.bits is not None:
                parts.append(Codes(bits=view.codes.bits[a:b], **fde))  # type: ignore[arg-type]
            else:
                assert view.codes.int8 is not None
                assert view.codes.scales is not None
                parts.append(
                    Codes(int8=view.codes.int8[a:b], scales=view.codes.scales[a:b], **fde)  # type: ignore[arg-type]
                )
        out.append(concat(self.kind, parts, self.dim, self.fde_dim))
        return out


def _release_fdes(fdes: npt.NDArray[np.generic]) -> None:
    """Drops a memory-mapped encodings file's pages from this process's resident memory (they stay in the
    page cache): once the copy holds the int8 codes, searches never read the float32 file."""
    mm = getattr(fdes, "_mmap", None)
    if isinstance(mm, mmap.mmap) and len(mm):
        with contextlib.suppress(OSError, ValueError):
            mm.madvise(mmap.MADV_DONTNEED)


def gather_exact(query: F32, snap: Snapshot, cands: I64, k: int, *, prefetch: bool = True) -> tuple[I64, F32]:
    """The ``k`` best of ``cands`` (slots) by exact MaxSim on the segment's rows. The candidates' rows are
    read from the segment file into one buffer (``_read_rows``: the reads of every candidate asked for at
    once, so rows not in the page cache come from the disk in parallel, then ``preadv``), so rescoring
    never grows the resident memory with the originals. ``prefetch=False`` (for the benchmark): the rows
    are copied out of the memory map one page fault after another, each candidate's pages dropped from
    this process afterwards (``MADV_DONTNEED``; they stay in the page cache)."""
    cands = np.sort(np.asarray(cands, np.int64))  # ties go to the lower slot, as in a full scan
    if len(cands) == 0:
        return cands, np.zeros(0, np.float32)
    starts, ends = snap.offsets[cands], snap.offsets[cands + 1]
    if prefetch and snap.file is None:
        _will_need(snap, starts, ends)
    lens = ends - starts
    offs = np.zeros(len(cands) + 1, np.int64)
    np.cumsum(lens, out=offs[1:])
    buf = np.empty((int(offs[-1]), snap.rows.shape[1]), snap.rows.dtype)
    if prefetch and snap.file is not None:
        _read_rows(snap, snap.file.fd, starts, ends, buf, offs)
    else:
        for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            buf[offs[i] : offs[i + 1]] = snap.rows[a:b]
            _release(snap, a, b)
    idx, scores = _native.maxsim_topk(query, buf, offs, min(k, len(cands)))
    return cands[idx], scores


def _read_rows(
    snap: Snapshot, fd: int, starts: I64, ends: I64, buf: npt.NDArray[np.generic], offs: I64
) -> None:
    """Copies rows ``[starts[i], ends[i])`` (ascending) of the segment file into ``buf[offs[i]:offs[i+1]]``
    with ``preadv``: the reads of every range are first asked for together (``POSIX_FADV_WILLNEED``,
    adjacent ranges as one), and the rows never enter this process's mapping, so nothing needs dropping
    (twice as fast as copying from the map when the pages are cached: no page faults, no ``madvise``)."""
    row = snap.rows.shape[1] * snap.rows.dtype.itemsize
    lo = hi = -1
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        if b <= a:
            continue
        if a * row <= hi:
            hi = max(hi, b * row)
            continue
        if hi > lo:
            os.posix_fadvise(fd, lo, hi - lo, os.POSIX_FADV_WILLNEED)
        lo, hi = a * row, b * row
    if hi > lo:
        os.posix_fadvise(fd, lo, hi - lo, os.POSIX_FADV_WILLNEED)
    for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        if b <= a:
            continue
        part = buf[offs[i] : offs[i + 1]]
        # a short read cannot happen for committed rows; copy from the map then
        if os.preadv(fd, [memoryview(part.data)], a * row) != part.nbytes:
            part[:] = snap.rows[a:b]
            _release(snap, a, b)


_PAGE = mmap.PAGESIZE


def _pages(snap: Snapshot, a: int, b: int) -> tuple[int, int]:
    """The page-aligned byte range of rows ``[a, b)`` in the snapshot's memory map."""
    assert snap.mm is not None
    row = snap.rows.shape[1] * snap.rows.dtype.itemsize
    return (a * row) // _PAGE * _PAGE, min(-(-(b * row) // _PAGE) * _PAGE, len(snap.mm))


def will_need(snap: Snapshot, slots: I64) -> None:
    """Asks the kernel to read the rows of ``slots`` ahead, all at once (before a search reads them)."""
    slots = np.sort(np.asarray(slots, np.int64))
    _will_need(snap, snap.offsets[slots], snap.offsets[slots + 1])


def _will_need(snap: Snapshot, starts: I64, ends: I64) -> None:
    """Asks the kernel to read rows ``[starts[i], ends[i])`` (ascending) ahead, all at once, adjacent
    ranges as one."""
    mm = snap.mm
    if mm is None:
        return
    lo = hi = -1
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        if b <= a:
            continue
        s, e = _pages(snap, a, b)
        if s <= hi:
            hi = max(hi, e)
            continue
        if hi > lo:
            mm.madvise(mmap.MADV_WILLNEED, lo, hi - lo)
        lo, hi = s, e
    if hi > lo:
        mm.madvise(mmap.MADV_WILLNEED, lo, hi - lo)


def _release(snap: Snapshot, a: int, b: int) -> None:
    """Drops rows ``[a, b)`` of the snapshot's memory map from this process's resident pages."""
    mm = snap.mm
    if mm is None or b <= a:
        return
    start, end = _pages(snap, a, b)
    if end > start:
        mm.madvise(mmap.MADV_DONTNEED, start, end - start)


def build_copies(
    segments: dict[str, VectorSegment], config: CollectionConfig, *, cached: bool = True
) -> dict[str, CompactCopy]:
    """The compact copy of every named vector whose index has a quantizer (and rows of a known dimension):
    its cache (see below) extended with the rows committed since, else built from the segment."""
    out: dict[str, CompactCopy] = {}
    for name, seg in segments.items():
        kind = config.vectors[name].compression.kind
        cur = None
        if kind is not None and seg.dim is not None:
            snap = seg.snapshot()
            fde_dim = seg.fde_dim if seg.muvera.enabled else None
            cur = load_copy(seg, kind, snap, fde_dim) if cached else None
            if cur is None:
                cur = CompactCopy.build(kind, snap, seg.dim, fde_dim)
        if cur is not None:
            out[name] = cur
    return out


# -- the copy cache ----------------------------------------------------------------------------------------
# A copy is a pure function of the committed rows of one segment generation, and those rows only ever grow
# at its end; so a copy saved at some point stays valid for its first ``rows`` rows (and ``slots`` slots)
# as long as the generation lives. The collection saves it when it closes; opening loads it and encodes
# only the rows committed since (after a kill -9: since the last clean close) from the segment. The cache
# is never the commit point: a missing, stale, foreign or damaged file just means encoding from the rows.

_MAGIC = b"colweave-copy 4\n"
_HEADER = 4096


def cache_path(seg: VectorSegment, kind: str) -> Path:
    return seg.dir / f"{seg.name}.{seg.generation}.{kind}.copy"


def _arrays(copy: CompactCopy) -> list[npt.NDArray[np.generic]]:
    return [g.view() for g in copy._grows() if g is not None]


def save_copy(seg: VectorSegment, copy: CompactCopy) -> None:
    """Writes ``copy`` to its cache file (a temporary file fsync'ed, then renamed over the old one)."""
    path = cache_path(seg, copy.kind)
    head = {
        "kind": copy.kind,
        "dim": copy.dim,
        "rows": copy.rows,
        "fde_dim": copy.fde_dim,
        "slots": copy.slots,
    }
    blob = _MAGIC + json.dumps(head).encode()
    tmp = path.with_suffix(".copy.tmp")
    with open(tmp, "wb") as f:
        f.write(blob.ljust(_HEADER, b"\n"))
        for a in _arrays(copy):
            f.write(np.ascontiguousarray(a).data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(seg.dir)


def load_copy(
    seg: VectorSegment, kind: str, snap: Snapshot, fde_dim: int | None = None
) -> CompactCopy | None:
    """The cached copy of ``seg``'s current generation, extended with the rows (and slots) committed since
    it was saved; None when there is no usable cache. Removes the caches of other generations and kinds."""
    keep = cache_path(seg, kind)
    for p in seg.dir.glob(f"{seg.name}.*.copy*"):
        if p != keep:
            with contextlib.suppress(OSError):
                p.unlink()
    assert seg.dim is not None
    try:
        with open(keep, "rb") as f:
            raw = f.read(_HEADER)
            if not raw.startswith(_MAGIC):
                return None
            head = json.loads(raw[len(_MAGIC) :].rstrip(b"\n").decode())
            rows, slots = int(head["rows"]), int(head["slots"])
            if (head["kind"], head["dim"], head["fde_dim"]) != (kind, seg.dim, fde_dim) or rows > len(
                snap.rows
            ):
                return None
            if fde_dim is not None and (snap.fdes is None or slots > len(snap.fdes)):
                return None
            c = CompactCopy(kind, seg.dim, fde_dim)
            parts = (
                (c._bits, rows),
                (c._int8, rows),
                (c._scales, rows),
                (c._fde, slots),
                (c._fde_scales, slots),
            )
            for g, n in parts:
                if g is None:
                    continue
                width = int(np.prod(g.buf.shape[1:], dtype=np.int64))
                arr = np.fromfile(f, dtype=g.buf.dtype, count=n * width)
                if len(arr) != n * width:
                    return None
                g.buf, g.n = arr.reshape(n, *g.buf.shape[1:]), n
    except (OSError, ValueError, KeyError, TypeError):
        return None
    c._encode_rows(snap, rows, slots)  # the rows (and slots) committed since the copy was saved
    return c


def save_copies(segments: dict[str, VectorSegment], copies: dict[str, CompactCopy]) -> None:
    for name, copy in copies.items():
        try:
            save_copy(segments[name], copy)
        except OSError as e:  # a cache: the next open encodes from the rows instead
            log.warning("could not save the compact copy of %s: %s", name, e)

"""Compact copies of multi-vectors for candidate scoring, exact rescoring, and token pooling.

A search over compressed multi-vectors has two phases:

1. score every page (or a filtered subset) on a compact in-memory copy: :class:`BinaryCopy` (one sign bit
   per dimension, 16 bytes per 128-d token, MaxSim by XOR + popcount) or :class:`Int8Copy` (one byte per
   dimension plus a float32 scale per token, MaxSim by VNNI dot products); keep the best ``n_candidates``;
2. rescore those candidates with exact MaxSim on the originals (float16, memory-mapped) for the final order:
   :func:`rescored_topk`.

:func:`pool_tokens` reduces a page's vectors before they are stored (hierarchical clustering, Ward's
linkage on cosine geometry, as colpali-engine's token pooling).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from colweave import _native

__all__ = ["BinaryCopy", "Int8Copy", "pool_tokens", "rescored_topk"]

_F32 = npt.NDArray[np.float32]
_I64 = npt.NDArray[np.int64]


def _rows(data: npt.ArrayLike, arg: str) -> _F32:
    a = np.asarray(data)
    if a.ndim != 2 or a.dtype not in (np.float32, np.float16):
        raise _native.InvalidArgumentError(
            f"{arg}: expected a 2-D float32 or float16 array, got {a.dtype} {a.shape}"
        )
    return np.ascontiguousarray(a, dtype=np.float32)


def pool_tokens(vectors: npt.ArrayLike, pool_factor: int, *, normalize: bool = True) -> tuple[_F32, _I64]:
    """Pools one page's ``(n, dim)`` vectors into ``max(n // pool_factor, 1)`` vectors.

    The vectors are clustered agglomeratively (Ward's linkage on the L2-normalised vectors, i.e. on cosine
    distance); each cluster becomes the mean of its vectors, re-normalised to unit length when
    ``normalize``. Returns ``(pooled, assignments)``: ``assignments[t]`` is the pooled row of token ``t``;
    rows are numbered by their first token, so they keep the page's order.
    """
    v = _rows(vectors, "vectors")
    offsets = np.array([0, len(v)], np.int64)
    pooled, _, labels = _native.pool_tokens_batch(v, offsets, pool_factor, normalize=normalize, threads=1)
    return pooled, labels


def _offsets(offsets: npt.ArrayLike) -> _I64:
    return np.ascontiguousarray(offsets, dtype=np.int64)


@dataclass(frozen=True)
class BinaryCopy:
    """Sign bits of every token: ``codes`` ``(total_tokens, ceil(dim / 64))`` uint64, pages by ``offsets``."""

    codes: npt.NDArray[np.uint64]
    offsets: _I64
    dim: int

    @classmethod
    def encode(cls, vectors: npt.ArrayLike, offsets: npt.ArrayLike) -> BinaryCopy:
        v = _rows(vectors, "vectors")
        return cls(_native.binarize(v), _offsets(offsets), v.shape[1])

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes + self.offsets.nbytes)

    def topk(
        self, query: npt.ArrayLike, k: int, *, candidates: _I64 | None = None, threads: int | None = None
    ) -> tuple[_I64, _F32]:
        """The ``k`` best pages by binary MaxSim of the binarised query (best first)."""
        q = _native.binarize(_rows(query, "query"))
        return _native.maxsim_binary_topk(
            q, self.codes, self.offsets, k, dim=self.dim, candidates=candidates, threads=threads
        )


@dataclass(frozen=True)
class Int8Copy:
    """int8 codes of every token with one float32 scale per token, pages by ``offsets``."""

    codes: npt.NDArray[np.int8]
    scales: _F32
    offsets: _I64

    @classmethod
    def encode(cls, vectors: npt.ArrayLike, offsets: npt.ArrayLike) -> Int8Copy:
        codes, scales = _native.quantize_int8(_rows(vectors, "vectors"))
        return cls(codes, scales, _offsets(offsets))

    @property
    def dim(self) -> int:
        return int(self.codes.shape[1])

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes + self.scales.nbytes + self.offsets.nbytes)

    def topk(
        self, query: npt.ArrayLike, k: int, *, candidates: _I64 | None = None, threads: int | None = None
    ) -> tuple[_I64, _F32]:
        """The ``k`` best pages by int8 MaxSim of the int8-quantised query (best first)."""
        qc, qs = _native.quantize_int8(_rows(query, "query"))
        return _native.maxsim_int8_topk(
            qc, qs, self.codes, self.scales, self.offsets, k, candidates=candidates, threads=threads
        )


def rescored_topk(
    copy: BinaryCopy | Int8Copy,
    query: npt.ArrayLike,
    originals: npt.NDArray[np.float16] | npt.NDArray[np.float32],
    k: int,
    *,
    n_candidates: int,
    candidates: _I64 | None = None,
    threads: int | None = None,
) -> tuple[_I64, _F32]:
    """The ``k`` best pages: the ``n_candidates`` best by ``copy``'s MaxSim (within ``candidates`` when
    given, e.g. a filter's pages), reordered by exact MaxSim on ``originals`` (same pages and offsets).
    The scores are exact MaxSim scores."""
    q = _rows(query, "query")
    if n_candidates < k:
        raise _native.InvalidArgumentError(f"n_candidates: {n_candidates} is fewer than k = {k}")
    cand, _ = copy.topk(q, n_candidates, candidates=candidates, threads=threads)
    return _native.maxsim_topk(q, originals, copy.offsets, k, candidates=cand, threads=threads)

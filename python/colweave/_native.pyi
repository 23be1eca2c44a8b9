"""Type stubs of the Rust extension module (checked against it by ``mypy.stubtest``)."""

from typing import Literal

import numpy as np
import numpy.typing as npt

__version__: str
__all__ = [
    "ColweaveNativeError",
    "InvalidArgumentError",
    "UnsupportedIsaError",
    "__version__",
    "available_isas",
    "bm25_topk",
    "default_isa",
    "fde_topk",
    "fuse",
    "maxsim",
    "maxsim_topk",
    "muvera_encode",
]

_IsaName = Literal["portable", "neon", "avx2", "avx512"]

class ColweaveNativeError(ValueError):
    """Base class of the errors raised by colweave's kernels."""

class InvalidArgumentError(ColweaveNativeError):
    """An argument has the wrong dtype, shape or value."""

class UnsupportedIsaError(ColweaveNativeError):
    """The requested SIMD path is not available on this CPU."""

def maxsim(
    query: npt.NDArray[np.float32],
    docs: npt.NDArray[np.float32] | npt.NDArray[np.float16],
    offsets: npt.NDArray[np.int64],
    *,
    threads: int | None = None,
    isa: _IsaName | None = None,
) -> npt.NDArray[np.float32]:
    """MaxSim score of every document: ``score[i] = Σ_q max_{t in doc i} q·t``.

    ``query`` is float32 ``(nq, dim)``; ``docs`` float32 or float16 ``(total_tokens, dim)``, documents
    packed back to back; ``offsets`` int64 ``(n_docs + 1,)`` with ``offsets[0] == 0``, non-decreasing,
    ``offsets[-1] == total_tokens``. An empty document scores ``-inf``. ``threads`` defaults to every core;
    ``isa`` forces a SIMD path (see :func:`available_isas`). Raises :class:`InvalidArgumentError`
    (a ``ValueError``) naming the argument at fault.
    """

def maxsim_topk(
    query: npt.NDArray[np.float32],
    docs: npt.NDArray[np.float32] | npt.NDArray[np.float16],
    offsets: npt.NDArray[np.int64],
    k: int,
    *,
    candidates: npt.NDArray[np.int64] | None = None,
    threads: int | None = None,
    isa: _IsaName | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The ``k`` best documents (or fewer), score descending, ties by lower index.

    ``candidates`` restricts scoring to those document indices (duplicates count once). Empty documents
    never match.
    """

def available_isas() -> list[_IsaName]:
    """The SIMD paths this CPU supports, slowest first."""

def default_isa() -> _IsaName:
    """The SIMD path used when none is requested."""

def fuse(
    keys: list[npt.NDArray[np.uint64]],
    scores: list[npt.NDArray[np.float32]],
    weights: list[float],
    fusion: Literal["relativeScore", "ranked"] = "relativeScore",
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Hybrid fusion of result lists (one ``keys``/``scores`` pair per leg, best first, with a weight).

    relativeScore: ``w·(s - min)/(max - min)`` per leg (``w`` when all scores are equal), summed (float32);
    ranked: ``w/(rank0 + 60)``. Returns the keys and scores sorted by score descending, ties to the lower
    key, and ``contributions[i, leg]`` (NaN where that leg did not find result ``i``).
    """

def bm25_topk(
    term_docs: list[npt.NDArray[np.uint32]],
    term_freqs: list[npt.NDArray[np.float32]],
    term_fields: list[int],
    term_weights: list[float],
    doc_lens: list[npt.NDArray[np.float32]],
    avg_lens: list[float],
    *,
    n_objects: float,
    k1: float,
    b: float,
    k: int,
    allowed: npt.NDArray[np.uint8] | None = None,
    term_dfs: list[float] | None = None,
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]]:
    """The ``k`` best documents by BM25 (Weaviate's formula, no ``(k1 + 1)`` factor), ties to the lower
    document. Each term is a posting list (documents, frequencies) in field ``term_fields[i]`` with a weight
    (boost times occurrences in the query); ``doc_lens[f][d]`` is document ``d``'s length in field ``f``.
    ``allowed[d] != 0`` keeps document ``d`` (a filter). ``term_dfs`` are the document frequencies used in
    the idf (default: each posting list's length).
    """

def muvera_encode(
    data: npt.NDArray[np.float32],
    offsets: npt.NDArray[np.int64],
    *,
    is_query: bool,
    ksim: int = 4,
    dprojections: int = 16,
    repetitions: int = 10,
    seed: int = ...,
    threads: int | None = None,
) -> npt.NDArray[np.float32]:
    """MUVERA fixed-dimensional encodings, ``(n, repetitions · 2^ksim · dprojections)``, of multi-vectors
    packed back to back (``data`` ``(total_tokens, dim)``, ``offsets`` ``(n + 1,)``). Documents average per
    SimHash bucket and fill empty buckets from the nearest token; queries sum per bucket.
    """

def fde_topk(
    query: npt.NDArray[np.float32],
    fdes: npt.NDArray[np.float32],
    k: int,
    *,
    allowed: npt.NDArray[np.uint8] | None = None,
    threads: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The ``k`` rows of ``fdes`` with the largest dot product with ``query``, best first, ties to the
    lower index; ``allowed[i] != 0`` keeps row ``i``."""

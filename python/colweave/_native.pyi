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
    "binarize",
    "binary_isas",
    "bm25_topk",
    "default_isa",
    "dense_distances",
    "dense_topk",
    "fde_isas",
    "fde_topk",
    "fde_topk_int8",
    "fuse",
    "int8_isas",
    "maxsim",
    "maxsim_binary",
    "maxsim_binary_topk",
    "maxsim_int8",
    "maxsim_int8_topk",
    "maxsim_topk",
    "muvera_encode",
    "pool_tokens_batch",
    "quantize_int8",
]

_IsaName = Literal["portable", "neon", "avx2", "avx512"]
_BinaryIsaName = Literal["portable", "popcnt", "avx512vpopcntdq"]
_Int8IsaName = Literal["portable", "avx2", "avxvnni", "avx512vnni"]

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

_FdeIsaName = Literal["portable", "avx2", "avx512vnni"]

def fde_topk_int8(
    query: npt.NDArray[np.int8],
    query_scale: float,
    codes: npt.NDArray[np.int8],
    scales: npt.NDArray[np.float32],
    k: int,
    *,
    allowed: npt.NDArray[np.uint8] | None = None,
    threads: int | None = None,
    isa: _FdeIsaName | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The ``k`` int8 encodings (``codes`` ``(n, d)`` in [-127, 127], one scale each) with the largest
    score ``(float32(q · row) * scale_row) * query_scale``, best first, ties to the lower index;
    ``allowed[i] != 0`` keeps row ``i``."""

def fde_isas() -> list[_FdeIsaName]:
    """The int8 encodings scan's paths on this CPU, slowest first."""

_Metric = Literal["cosine", "dot", "l2-squared", "manhattan", "hamming"]

def dense_distances(
    query: npt.NDArray[np.float32],
    rows: npt.NDArray[np.float32] | npt.NDArray[np.float16],
    *,
    metric: _Metric = "cosine",
    candidates: npt.NDArray[np.int64] | None = None,
    threads: int | None = None,
    isa: _IsaName | None = None,
) -> npt.NDArray[np.float32]:
    """Weaviate's distance (lower is better) from ``query`` (float32 ``(dim,)``) to every row of ``rows``
    (float32 or float16 ``(n, dim)``), or to ``rows[candidates]`` in that order: cosine
    ``max(0, 1 - q·x / (|q| |x|))`` (1 for a zero vector), dot ``-q·x``, l2-squared ``Σ (q - x)²``,
    manhattan ``Σ |q - x|``, hamming ``#{i: q_i != x_i}``. Rows need not be normalised. ``threads``
    defaults to every core; ``isa`` forces a SIMD path (see :func:`available_isas`)."""

def dense_topk(
    query: npt.NDArray[np.float32],
    rows: npt.NDArray[np.float32] | npt.NDArray[np.float16],
    k: int,
    *,
    metric: _Metric = "cosine",
    candidates: npt.NDArray[np.int64] | None = None,
    threads: int | None = None,
    isa: _IsaName | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The ``k`` rows nearest to ``query`` (or fewer) by :func:`dense_distances`, nearest first, ties to
    the lower row index; ``candidates`` restricts the search to those rows (duplicates count once)."""

def binarize(data: npt.NDArray[np.float32]) -> npt.NDArray[np.uint64]:
    """Sign bits of ``data`` ``(n, dim)``: ``(n, ceil(dim / 64))`` words, bit ``k % 64`` of word ``k // 64``
    set when value ``k`` is ``> 0`` (little-endian: ``np.packbits(data > 0, axis=1, bitorder="little")``
    viewed as uint64)."""

def maxsim_binary(
    query: npt.NDArray[np.uint64],
    docs: npt.NDArray[np.uint64],
    offsets: npt.NDArray[np.int64],
    *,
    dim: int,
    threads: int | None = None,
    isa: _BinaryIsaName | None = None,
) -> npt.NDArray[np.float32]:
    """Binary MaxSim of every document: ``Σ_q max_t (dim - 2 · popcount(q XOR t))``, the ±1 dot products
    of the sign codes (integers, as float32; an empty document scores ``-inf``). Bits past ``dim`` in the
    last word are ignored."""

def maxsim_binary_topk(
    query: npt.NDArray[np.uint64],
    docs: npt.NDArray[np.uint64],
    offsets: npt.NDArray[np.int64],
    k: int,
    *,
    dim: int,
    candidates: npt.NDArray[np.int64] | None = None,
    threads: int | None = None,
    isa: _BinaryIsaName | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The ``k`` best documents by binary MaxSim, best first, ties to the lower index; ``candidates``
    restricts the scan (duplicates count once). Empty documents never match."""

def quantize_int8(
    data: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]:
    """Symmetric int8 codes with one scale per row: ``scale = max|x| / 127``,
    ``code = round_half_even(x / scale)`` in ``[-127, 127]`` (a zero row: scale 0, codes 0). Rejects
    non-finite values."""

def maxsim_int8(
    query: npt.NDArray[np.int8],
    query_scales: npt.NDArray[np.float32],
    docs: npt.NDArray[np.int8],
    doc_scales: npt.NDArray[np.float32],
    offsets: npt.NDArray[np.int64],
    *,
    threads: int | None = None,
    isa: _Int8IsaName | None = None,
) -> npt.NDArray[np.float32]:
    """int8 MaxSim of every document: per query token ``max_t float32(dot(q, t)) * doc_scale[t]``
    (float32, the integer dot exact), times the query token's scale, summed in float64 and rounded to
    float32; ``dim`` at most 1024. Every path returns the same bits."""

def maxsim_int8_topk(
    query: npt.NDArray[np.int8],
    query_scales: npt.NDArray[np.float32],
    docs: npt.NDArray[np.int8],
    doc_scales: npt.NDArray[np.float32],
    offsets: npt.NDArray[np.int64],
    k: int,
    *,
    candidates: npt.NDArray[np.int64] | None = None,
    threads: int | None = None,
    isa: _Int8IsaName | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The ``k`` best documents by int8 MaxSim, best first, ties to the lower index."""

def binary_isas() -> list[_BinaryIsaName]:
    """The binary kernel's paths on this CPU, slowest first."""

def int8_isas() -> list[_Int8IsaName]:
    """The int8 kernel's paths on this CPU, slowest first."""

def pool_tokens_batch(
    data: npt.NDArray[np.float32],
    offsets: npt.NDArray[np.int64],
    pool_factor: int,
    *,
    normalize: bool = True,
    threads: int | None = None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Hierarchical (Ward) token pooling of every page: ``(pooled, pooled_offsets, labels)``; page ``i``
    keeps ``max(n_i // pool_factor, 1)`` mean vectors (unit length when ``normalize``), ``labels[t]`` is
    token ``t``'s row within its page's pooled rows (numbered by first token)."""

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
    "default_isa",
    "maxsim",
    "maxsim_topk",
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

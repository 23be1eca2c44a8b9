"""colweave: self-hosted visual document retrieval with ColModernVBERT.

The late-interaction kernels are implemented in Rust (``colweave._native``) and release the GIL.
"""

from __future__ import annotations

from colweave._native import (
    ColweaveNativeError,
    InvalidArgumentError,
    UnsupportedIsaError,
    available_isas,
    default_isa,
    maxsim,
    maxsim_topk,
)
from colweave._native import __version__ as __version__

__all__ = [
    "ColweaveNativeError",
    "InvalidArgumentError",
    "UnsupportedIsaError",
    "available_isas",
    "default_isa",
    "maxsim",
    "maxsim_topk",
]

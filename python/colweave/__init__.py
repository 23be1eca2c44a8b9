"""colweave: self-hosted visual document retrieval with ColModernVBERT.

The late-interaction kernels are implemented in Rust (``colweave._native``) and release the GIL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from colweave._native import (
    ColweaveNativeError,
    InvalidArgumentError,
    UnsupportedIsaError,
    available_isas,
    binarize,
    binary_isas,
    default_isa,
    dense_distances,
    dense_topk,
    int8_isas,
    maxsim,
    maxsim_binary,
    maxsim_binary_topk,
    maxsim_int8,
    maxsim_int8_topk,
    maxsim_topk,
    pool_tokens_batch,
    quantize_int8,
)
from colweave._native import __version__ as __version__
from colweave.compact import BinaryCopy, Int8Copy, pool_tokens, rescored_topk

if TYPE_CHECKING:
    from colweave.model import Encoder

# The model layer (onnxruntime, tokenizers, Pillow) loads on first use, so `import colweave` stays light.
_LAZY = {"Encoder": "colweave.model"}
#: ``colweave.ingest(...)``: the ingest package, which is callable (see ``colweave.ingest``).
_LAZY_MODULES = ("ingest",)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(f"colweave.{name}")
    raise AttributeError(f"module 'colweave' has no attribute {name!r}")


__all__ = [
    "BinaryCopy",
    "ColweaveNativeError",
    "Encoder",
    "Int8Copy",
    "InvalidArgumentError",
    "UnsupportedIsaError",
    "available_isas",
    "binarize",
    "binary_isas",
    "default_isa",
    "dense_distances",
    "dense_topk",
    "ingest",
    "int8_isas",
    "maxsim",
    "maxsim_binary",
    "maxsim_binary_topk",
    "maxsim_int8",
    "maxsim_int8_topk",
    "maxsim_topk",
    "pool_tokens",
    "pool_tokens_batch",
    "quantize_int8",
    "rescored_topk",
]

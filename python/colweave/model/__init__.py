"""ColModernVBERT on onnxruntime: exact Idefics3 preprocessing, prompts, tokenization, the Encoder, and the
exporter (``colweave.model.export``, which needs the ``export`` extra and is not imported here)."""

from __future__ import annotations

from colweave.model.encoder import Encoder
from colweave.model.errors import (
    ImageDecodeError,
    ImageSizeError,
    ModelFilesError,
    ModelInputError,
    ModelNotAvailableError,
    TextInputError,
)
from colweave.model.session import CudaFallbackWarning

__all__ = [
    "CudaFallbackWarning",
    "Encoder",
    "ImageDecodeError",
    "ImageSizeError",
    "ModelFilesError",
    "ModelInputError",
    "ModelNotAvailableError",
    "TextInputError",
]

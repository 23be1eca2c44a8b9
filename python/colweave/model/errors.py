"""The model layer's exceptions: bad inputs are ``ValueError``s, broken model directories are not."""

from __future__ import annotations


class ModelInputError(ValueError):
    """An image or a text that cannot be embedded; the message says which one and why."""


class ImageDecodeError(ModelInputError):
    """Bytes or base64 that are not a decodable image, or a corrupt / truncated file."""


class ImageSizeError(ModelInputError):
    """An image with a zero dimension, or more pixels than the configured limit (decompression bombs)."""


class TextInputError(ModelInputError):
    """A query that is not a string, is empty, or is too long for the model."""


class ModelFilesError(RuntimeError):
    """A model directory that is missing files or holds files colweave cannot use."""


class ModelNotAvailableError(ModelFilesError):
    """A hub model that is neither cached nor downloadable (offline, no network, unknown id)."""

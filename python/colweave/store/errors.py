"""The store's exceptions: one hierarchy, each a ``ValueError`` or ``LookupError`` as its meaning says."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error the store raises."""


class SchemaError(StoreError, ValueError):
    """A collection config or a property is invalid (bad name, data type, tokenization, index config)."""


class ObjectError(StoreError, ValueError):
    """An object is invalid: bad UUID, property value of the wrong type, wrong vector shape."""


class FilterError(StoreError, ValueError):
    """A filter names an unknown property or compares it with a value of the wrong type."""


class QueryError(StoreError, ValueError):
    """A search request is invalid (limit, alpha, missing vectorizer, unknown target vector)."""


class NotFoundError(StoreError, LookupError):
    """A collection or object does not exist."""


class AlreadyExistsError(StoreError, ValueError):
    """A collection or object with that name or UUID already exists."""


class StorageFullError(StoreError, OSError):
    """A write failed because the disk (or a quota) is full; nothing was changed and reads keep working.
    Writes succeed again once space is freed. The server answers 507 / RESOURCE_EXHAUSTED."""

"""The store's exceptions: one hierarchy, each a ``ValueError`` or ``LookupError`` as its meaning says."""

from __future__ import annotations

import contextlib
import errno
import sqlite3
from collections.abc import Iterator


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


class VectorizerUnavailableError(StoreError):
    """The vectorizer cannot take work now (overloaded, shutting down): the whole write fails and
    nothing changes, rather than every object failing on its own."""


class StorageFullError(StoreError, OSError):
    """A write failed because the disk (or a quota) is full; nothing was changed and reads keep working.
    Writes succeed again once space is freed. The server answers 507 / RESOURCE_EXHAUSTED."""


_SQLITE_FULL = 13  # SQLite's primary result code for a full disk
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(e: BaseException) -> bool:
    """True for an error that means the disk (or a quota) is full: ENOSPC / EDQUOT from the operating
    system, SQLITE_FULL from SQLite."""
    if isinstance(e, StorageFullError):
        return True
    if isinstance(e, OSError):
        return e.errno in _FULL_ERRNOS
    if isinstance(e, sqlite3.Error):
        code = getattr(e, "sqlite_errorcode", None)  # Python >= 3.11
        if code is not None:
            return bool(code & 0xFF == _SQLITE_FULL)
        return "database or disk is full" in str(e)
    return False


def disk_full_error(what: str) -> StorageFullError:
    err = StorageFullError(f"{what}: the disk is full (no space left on the device); nothing was changed")
    err.errno = errno.ENOSPC
    return err


@contextlib.contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Re-raises a disk-full error from the block as :class:`StorageFullError` (naming ``what``)."""
    try:
        yield
    except StorageFullError:
        raise
    except (OSError, sqlite3.Error) as e:
        if is_disk_full(e):
            raise disk_full_error(what) from e
        raise

"""Objects as the store holds them: inputs (``DataObject``), batch outcomes, the in-memory record of each
object's filterable state, and the SQLite schema of a collection's database."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from colweave.layout import PageLayout
from colweave.store.errors import ObjectError
from colweave.store.schema import UUID_RE, Property, lowercase_first
from colweave.store.tokenize import tokenize_value

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    doc INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    props TEXT NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS blobs (
    doc INTEGER NOT NULL,
    name TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (doc, name)
);
CREATE TABLE IF NOT EXISTS vectors (
    doc INTEGER NOT NULL,
    name TEXT NOT NULL,
    slot INTEGER NOT NULL,
    start INTEGER NOT NULL,
    ntok INTEGER NOT NULL,
    PRIMARY KEY (doc, name)
);
-- Token pooling at import: how many tokens a pooled multi-vector had before pooling (vectors.ntok kept).
CREATE TABLE IF NOT EXISTS pooled (
    doc INTEGER NOT NULL,
    name TEXT NOT NULL,
    original INTEGER NOT NULL,
    PRIMARY KEY (doc, name)
);
CREATE TABLE IF NOT EXISTS layouts (
    doc INTEGER NOT NULL,
    name TEXT NOT NULL,
    layout TEXT NOT NULL,
    PRIMARY KEY (doc, name)
);
"""


#: the size SQLite cuts the WAL file back to when it restarts it (a quarter of the checkpoint threshold)
WAL_SIZE_LIMIT = 1 << 20


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with durable commits (``synchronous=FULL``): a commit that returned
    survives a crash of the process or of the machine."""
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA foreign_keys=OFF")
    # When a write restarts the WAL after a checkpoint, SQLite truncates the file to this size; without a
    # limit it keeps its largest size for ever, and ``Published.before_begin`` (which checkpoints once the
    # file is larger than CHECKPOINT_BYTES) would checkpoint, with an extra fsync, before every commit.
    con.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    con.executescript(SCHEMA_SQL)
    return con


def rollback(db: sqlite3.Connection) -> None:
    """Rolls back the open transaction, unless SQLite already has (it does by itself on some errors,
    a full disk among them); never raises, so the error that got here is the one reported."""
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")


class Vectorizer(Protocol):
    """What the store needs of an encoder: multi-vectors (``(tokens, dim)`` float32) for page images and
    for query texts, one per input, in order."""

    def embed_images(self, images: list[bytes]) -> list[npt.NDArray[np.float32]]: ...

    def embed_queries(self, queries: list[str]) -> list[npt.NDArray[np.float32]]: ...


VectorInput = npt.ArrayLike


@dataclass
class DataObject:
    """One object to insert: properties, an optional UUID, optional multi-vectors by vector name, and
    optionally the page layout of a vector (``colweave.layout``; only for vectors given here).

    Property names have their first letter lower-cased, as Weaviate stores them (``{"Name": ...}`` is
    property ``name``); two keys that become the same name are an error."""

    properties: dict[str, Any] = field(default_factory=dict)
    uuid: str | uuidlib.UUID | None = None
    vectors: dict[str, VectorInput] | None = None
    layouts: dict[str, PageLayout] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.properties, dict):
            return  # the store reports it per object
        if all(not isinstance(k, str) or k[:1] == k[:1].lower() for k in self.properties):
            return
        out: dict[str, Any] = {}
        for k, v in self.properties.items():
            name = lowercase_first(k) if isinstance(k, str) else k
            if name in out:
                raise ObjectError(
                    f"property {name!r} is given twice (property names are case-insensitive "
                    "in their first letter)"
                )
            out[name] = v
        self.properties = out


@dataclass
class BatchError:
    index: int
    uuid: str | None
    message: str


@dataclass
class BatchResult:
    """``uuids[i]`` is object ``i``'s UUID, or None where it failed; ``errors`` says why."""

    uuids: list[str | None]
    errors: list[BatchError]

    @property
    def has_errors(self) -> bool:
        return bool(self.errors)


@dataclass
class StoredObject:
    uuid: str
    properties: dict[str, Any]
    creation_time: dt.datetime
    last_update_time: dt.datetime
    vectors: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)


NO_BLOBS: frozenset[str] = frozenset()  # shared by every object without blobs


class Rec:
    """An object's in-memory state: UUID, non-blob properties, which blobs it has, times (ms).

    The properties are kept as their stored JSON text (``props`` parses it on each call; a few hundred
    bytes instead of a dict's kilobyte per object), or as the dict a write made until ``compact``."""

    __slots__ = ("_js", "_props", "_tokens", "blobs", "created", "updated", "uuid")

    def __init__(
        self, uuid: str, props: dict[str, Any] | str, blobs: frozenset[str], created: int, updated: int
    ) -> None:
        self.uuid = uuid
        self._js: str | None = props if isinstance(props, str) else None
        self._props: dict[str, Any] | None = None if isinstance(props, str) else props
        self.blobs = blobs
        self.created = created
        self.updated = updated
        self._tokens: dict[str, frozenset[str]] | None = None

    @property
    def props(self) -> dict[str, Any]:
        p = self._props
        if p is not None:
            return p
        js = self._js
        assert js is not None
        out: dict[str, Any] = json.loads(js)
        return out

    def compact(self) -> None:
        """Keeps the properties as JSON text only (readers holding the dict keep theirs)."""
        p = self._props
        if p is not None:
            self._js = json.dumps(p, ensure_ascii=False, separators=(",", ":"))
            self._props = None
            self._tokens = None

    def times(self) -> tuple[dt.datetime, dt.datetime]:
        """Creation and last update time as UTC datetimes."""
        return ms_to_datetime(self.created), ms_to_datetime(self.updated)

    def tokens(self, prop: Property) -> frozenset[str]:
        cache = self._tokens
        t = cache.get(prop.name) if cache is not None else None
        if t is None:
            t = frozenset(tokenize_value(self.props.get(prop.name), prop.tokenization or "word"))
            if self._props is not None:  # cached while the properties are (a write's, in the delta)
                if cache is None:
                    cache = self._tokens = {}
                cache[prop.name] = t
        return t


def parse_uuid(v: str | uuidlib.UUID | None, where: str = "uuid") -> str:
    """A UUID in its canonical form (lower case). Text must be the hyphenated 8-4-4-4-12 form, as in
    Weaviate: braces, ``urn:uuid:`` and the hyphen-less form are refused."""
    if isinstance(v, uuidlib.UUID):
        return str(v)
    if not isinstance(v, str) or UUID_RE.match(v) is None:
        shown = repr(v) if len(repr(v)) <= 60 else repr(v)[:60] + "..."
        raise ObjectError(f"{where}: {shown} is not a valid UUID (expected the form 8-4-4-4-12 hex digits)")
    return v.lower()


def ms_now() -> int:
    return int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)


def ms_to_datetime(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)

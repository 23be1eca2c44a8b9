"""The store: a data directory of independent collections.

Layout::

    <data_dir>/.lock                 flock: one process (one Store) at a time
    <data_dir>/catalog.sqlite        collection name -> folder
    <data_dir>/collections/<folder>/ one collection (see ``collection.py``)

A collection name never becomes a path: every name is checked (:func:`normalize_class_name`, Weaviate's
rule) and then looked up in the catalogue, which maps it to an opaque folder id ``c-<32 hex digits>``
chosen by the store. Names are unique case-insensitively (Weaviate refuses ``DOCS`` next to ``Docs``)
and looked up exactly. Data directories of the earlier layout (``collections/<Name>/``) are adopted
into the catalogue once, when first opened, and keep their folders.

A collection is created in a temporary folder, renamed into place and committed to the catalogue in one
catalogue transaction; deleting one renames its folder away inside the transaction that removes its
catalogue row, then removes the files. On open, whatever an interrupted create or delete left (hidden
temporary folders, folders no catalogue row names, rows whose folder is gone) is cleaned up, so a crash
never leaves half a collection under its name. A full disk fails a create with :class:`StorageFullError`
and leaves nothing behind. The lock file (``flock``) is released by the operating system when the process
dies, even by ``kill -9``.

Collection aliases (Weaviate >= 1.32) live in the catalogue too, each one row committed in one
transaction (durable on return: the catalogue is synchronous=FULL). An alias is another name for a
collection on the data plane (:meth:`Store.collection`), not for schema changes; a collection and an alias
never share a name (case-insensitively). As in Weaviate, deleting a collection leaves its aliases in
place, pointing nowhere, until they are deleted or pointed elsewhere.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid as uuidlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from colweave.store.collection import Collection
from colweave.store.errors import (
    AlreadyExistsError,
    NotFoundError,
    SchemaError,
    StoreError,
    storage_errors,
)
from colweave.store.objects import Vectorizer, connect, rollback
from colweave.store.schema import CollectionConfig, Property, normalize_class_name
from colweave.store.segments import fsync_dir

log = logging.getLogger(__name__)

VECTOR_DTYPES = ("float16", "float32")

# Folder ids: the store's own (``c-`` + 32 hex digits), or a legacy folder named after its collection.
_ALIAS_RE = re.compile(r"^[A-Z][_0-9A-Za-z]{0,254}\Z")
_FOLDER_RE = re.compile(r"^(c-[0-9a-f]{32}|[A-Z][_0-9A-Za-z]{0,254})\Z")

CATALOG_SQL = """
CREATE TABLE IF NOT EXISTS collections (
    key TEXT PRIMARY KEY,          -- the name in lower case: names are unique case-insensitively
    name TEXT NOT NULL UNIQUE,     -- the canonical name (first letter upper-cased)
    folder TEXT NOT NULL UNIQUE    -- the folder under collections/
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS aliases (
    key TEXT PRIMARY KEY,          -- the alias in lower case: unique case-insensitively, with the names
    alias TEXT NOT NULL UNIQUE,    -- the canonical alias (first letter upper-cased)
    class TEXT NOT NULL            -- the collection it points to (it may since have been deleted)
);
"""


def _connect_catalog(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.executescript(CATALOG_SQL)
    return con


class Store:
    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        vectorizer: Vectorizer | None = None,
        auto_schema: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``auto_schema`` (Weaviate's AUTOSCHEMA_ENABLED, on by default): an object's unknown properties
        are added to its collection with the type their values imply; off, they are the object's error.
        ``clock`` (seconds since the epoch) is the time objects expire by (``objectTtlConfig``)."""
        self.data_dir = Path(data_dir)
        self.auto_schema = auto_schema
        self.clock = clock
        self._sweeper: threading.Thread | None = None
        self._sweep_stop = threading.Event()
        self.root = self.data_dir / "collections"
        self.root.mkdir(parents=True, exist_ok=True)
        # One process at a time: segments are appended without coordination between processes.
        self._lock_file: int | None = os.open(self.data_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_file)
            self._lock_file = None
            raise StoreError(f"{self.data_dir} is in use by another process (or another Store)") from None
        self.vectorizer = vectorizer
        self._lock = threading.RLock()
        self._open: dict[str, Collection] = {}
        try:
            with storage_errors("opening the store"):
                self._cat = _connect_catalog(self.data_dir / "catalog.sqlite")
                self._adopt_legacy()
                self._clean_up()
        except BaseException:
            self.close()
            raise

    # -- catalogue -----------------------------------------------------------------------------------
    def _adopt_legacy(self) -> None:
        """Once per data directory: registers the folders of the earlier layout (``collections/<Name>``)."""
        if self._cat.execute("SELECT 1 FROM meta WHERE key = 'layout'").fetchone():
            return
        cat = self._cat
        cat.execute("BEGIN IMMEDIATE")
        try:
            for p in sorted(self.root.iterdir()):
                if p.name.startswith(".") or p.name.startswith("c-") or not p.is_dir():
                    continue
                if not (p / "objects.sqlite").is_file():
                    continue
                try:
                    name = normalize_class_name(p.name)
                except SchemaError:
                    log.warning("%s: not a collection name, left alone", p)
                    continue
                if name != p.name:
                    log.warning("%s: not a canonical collection name, left alone", p)
                    continue
                cur = cat.execute(
                    "INSERT OR IGNORE INTO collections (key, name, folder) VALUES (?, ?, ?)",
                    (name.lower(), name, p.name),
                )
                if cur.rowcount != 1:
                    log.warning("%s: another collection has this name (case-insensitively), left alone", p)
            cat.execute("INSERT INTO meta (key, value) VALUES ('layout', '2')")
            cat.execute("COMMIT")
        except BaseException:
            rollback(cat)
            raise

    def _clean_up(self) -> None:
        """Removes what an interrupted create or delete left behind."""
        rows = self._cat.execute("SELECT name, folder FROM collections").fetchall()
        folders = {f for _, f in rows}
        for name, folder in rows:
            if not _FOLDER_RE.match(folder) or not (self.root / folder).is_dir():
                log.warning(
                    "collection %s: its folder %r is gone; removing it from the catalogue", name, folder
                )
                self._cat.execute("DELETE FROM collections WHERE name = ?", (name,))
        for p in self.root.iterdir():
            if p.name.startswith(".") or (p.name.startswith("c-") and p.name not in folders):
                shutil.rmtree(p, ignore_errors=True)

    def _folder(self, name: str) -> Path | None:
        """The folder of a collection (``name`` already checked), or None when it does not exist."""
        row = self._cat.execute("SELECT folder FROM collections WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        folder = str(row[0])
        if not _FOLDER_RE.match(folder):  # never join anything else onto the root
            raise StoreError(f"catalogue entry of {name!r} names an invalid folder {folder!r}")
        return self.root / folder

    def _same_but_case(self, name: str) -> str | None:
        """The existing collection whose name equals ``name`` but for case (Weaviate refuses a second)."""
        row = self._cat.execute("SELECT name FROM collections WHERE key = ?", (name.lower(),)).fetchone()
        return None if row is None else str(row[0])

    def _alias_row(self, name: str) -> tuple[str, str] | None:
        """The alias equal to ``name`` case-insensitively, as ``(alias, collection)``."""
        row = self._cat.execute("SELECT alias, class FROM aliases WHERE key = ?", (name.lower(),)).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    # -- aliases -------------------------------------------------------------------------------------
    @staticmethod
    def _alias_name(name: Any) -> str:
        """Weaviate's rule for alias names: a collection name's (first letter upper-cased first)."""
        s = name if isinstance(name, str) else ""
        up = s[:1].upper() + s[1:]
        if len(up) > 255:
            raise SchemaError(
                f"'{up}' is not a valid alias name. Name should not be longer than 255 characters"
            )
        if not _ALIAS_RE.match(up):
            raise SchemaError(f"'{up}' is not a valid alias name")
        return up

    def list_aliases(self, collection: str | None = None) -> list[tuple[str, str]]:
        """Every alias as ``(alias, collection)``, by alias; only those of ``collection`` (its exact
        name, as Weaviate looks it up: none when it does not exist) when given."""
        with self._lock:
            if collection is None:
                rows = self._cat.execute("SELECT alias, class FROM aliases ORDER BY alias").fetchall()
            elif self._folder_or_none(collection) is None:
                return []
            else:
                rows = self._cat.execute(
                    "SELECT alias, class FROM aliases WHERE class = ? ORDER BY alias", (collection,)
                ).fetchall()
        return [(str(a), str(c)) for a, c in rows]

    def get_alias(self, name: str) -> tuple[str, str] | None:
        """``(alias, collection)`` of the alias ``name`` (its first letter's case does not matter)."""
        if not isinstance(name, str) or not name:
            return None
        up = name[:1].upper() + name[1:]
        with self._lock:
            row = self._cat.execute("SELECT alias, class FROM aliases WHERE alias = ?", (up,)).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def create_alias(self, alias: str, collection: str) -> tuple[str, str]:
        """Creates an alias of an existing collection; returns ``(alias, collection)``. Refused (with
        Weaviate's messages) when the alias or the collection name is invalid, the collection does not
        exist, the alias exists, or a collection has that name."""
        name = self._alias_name(alias)
        target = collection[:1].upper() + collection[1:] if isinstance(collection, str) else ""
        if not _ALIAS_RE.match(target):
            raise SchemaError(f"'{target}' is not a valid class name")
        with self._lock:
            if self._folder(target) is None:
                raise SchemaError(f'target class "{target}" does not exist')
            if self._alias_row(name) is not None:
                raise SchemaError(f"create alias: {name}, alias already exists")
            if self._same_but_case(name) is not None:
                raise SchemaError(f"create alias: class {name} already exists")
            with storage_errors(f"creating alias {name}"):
                self._cat.execute(
                    "INSERT INTO aliases (key, alias, class) VALUES (?, ?, ?)", (name.lower(), name, target)
                )
        return name, target

    def replace_alias(self, alias: str, collection: str) -> tuple[str, str] | None:
        """Points an existing alias at another existing collection; None when there is no such alias."""
        up = alias[:1].upper() + alias[1:] if isinstance(alias, str) else ""
        target = collection[:1].upper() + collection[1:] if isinstance(collection, str) else ""
        with self._lock:
            found = self.get_alias(up)
            if found is None:
                return None
            if not _ALIAS_RE.match(target) or self._folder(target) is None:
                raise SchemaError(f'target class "{target}" does not exist')
            with storage_errors(f"updating alias {found[0]}"):
                self._cat.execute("UPDATE aliases SET class = ? WHERE alias = ?", (target, found[0]))
        return found[0], target

    def delete_alias(self, alias: str) -> bool:
        """Deletes an alias; False when there was none."""
        found = self.get_alias(alias)
        if found is None:
            return False
        with self._lock, storage_errors(f"deleting alias {found[0]}"):
            cur = self._cat.execute("DELETE FROM aliases WHERE alias = ?", (found[0],))
        return cur.rowcount == 1

    def resolve(self, name: str) -> str:
        """The collection ``name`` means on the data plane: an alias's collection, else ``name`` itself
        (checked and first letter upper-cased)."""
        found = self.get_alias(name) if isinstance(name, str) else None
        return found[1] if found is not None else normalize_class_name(name)

    def collection(self, name: str) -> Collection:
        """:meth:`get_collection` through aliases (objects, batches, searches, aggregates, the schema's
        GET: where Weaviate resolves them); an alias whose collection was deleted is NotFoundError."""
        found = self.get_alias(name) if isinstance(name, str) else None
        if found is None:
            return self.get_collection(name)
        try:
            return self.get_collection(found[1])
        except NotFoundError:
            raise NotFoundError(
                f"alias {found[0]!r} points to collection {found[1]!r} which does not exist"
            ) from None

    def _folder_or_none(self, name: str) -> Path | None:
        return self._folder(name) if _ALIAS_RE.match(name) else None

    # -- lifecycle -----------------------------------------------------------------------------------
    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- time-to-live ---------------------------------------------------------------------------------
    def delete_expired(self, now: float | None = None) -> int:
        """Deletes, in every collection with a time-to-live, the objects expired at ``now`` (default: the
        store's clock); returns how many. One durable write per collection that had any."""
        total = 0
        for name in self.list_collections():
            with self._lock:
                coll = self._open.get(name)
                if coll is None and not self._stored_ttl(name):
                    continue  # not opened for this: a collection without a time-to-live stays closed
            coll = coll or self.find_collection(name)
            if coll is not None and coll.config.extra.get("objectTtlConfig"):
                total += coll.delete_expired(now)
        return total

    def _stored_ttl(self, name: str) -> bool:
        """Whether the stored config of the (unopened) collection ``name`` has a time-to-live."""
        folder = self._folder(name)
        if folder is None or not (folder / "objects.sqlite").is_file():
            return False
        try:
            con = sqlite3.connect(f"file:{folder / 'objects.sqlite'}?mode=ro", uri=True)
            try:
                row = con.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
            finally:
                con.close()
            return row is not None and bool(json.loads(row[0]).get("objectTtlConfig"))
        except (sqlite3.Error, ValueError, AttributeError):
            return False

    def start_expiry(self, interval_s: float) -> None:
        """Runs ``delete_expired`` every ``interval_s`` seconds on a thread of its own until ``close``."""
        if self._sweeper is not None:
            return

        def sweep() -> None:
            while not self._sweep_stop.wait(interval_s):
                try:
                    n = self.delete_expired()
                except Exception:  # a full disk, a collection deleted meanwhile: the next sweep retries
                    log.warning("deleting expired objects failed", exc_info=True)
                    continue
                if n:
                    log.info("deleted %d expired objects", n)

        self._sweeper = threading.Thread(target=sweep, name="colweave-ttl", daemon=True)
        self._sweeper.start()

    def close(self) -> None:
        self._sweep_stop.set()
        if self._sweeper is not None and self._sweeper is not threading.current_thread():
            self._sweeper.join()
            self._sweeper = None
        with self._lock:
            for c in self._open.values():
                c.close()
            self._open.clear()
            cat = getattr(self, "_cat", None)
            if cat is not None:
                cat.close()
                del self._cat
            if self._lock_file is not None:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)
                os.close(self._lock_file)
                self._lock_file = None

    # -- API -----------------------------------------------------------------------------------------
    def list_collections(self) -> list[str]:
        with self._lock:
            return sorted(str(n) for (n,) in self._cat.execute("SELECT name FROM collections"))

    def exists(self, name: str) -> bool:
        """Whether a collection of this name exists (names compare case-insensitively, as in Weaviate)."""
        name = normalize_class_name(name)
        with self._lock:
            return self._folder(name) is not None

    def create_collection(
        self, config: CollectionConfig | dict[str, Any], *, vector_dtype: str = "float16"
    ) -> Collection:
        """Creates a collection from a config (or Weaviate's JSON shape); vectors are stored as float16
        (default) or float32."""
        if vector_dtype not in VECTOR_DTYPES:
            raise SchemaError(f"vector_dtype: expected float16 or float32, got {vector_dtype!r}")
        if isinstance(config, CollectionConfig):
            cfg = CollectionConfig.from_weaviate(config.to_weaviate())  # re-validated, and a private copy
        else:
            cfg = CollectionConfig.from_weaviate(config)
        cfg.check_creatable()
        name = normalize_class_name(cfg.name)
        with self._lock:
            existing = self._same_but_case(name)
            if existing is not None:
                raise AlreadyExistsError(f"class name {name!r} already exists as {existing!r}")
            alias = self._alias_row(name)
            if alias is not None:
                if alias[0] == name:
                    raise AlreadyExistsError(f"alias name {name} already exists")
                raise AlreadyExistsError(f"class already exists: found similar alias {alias[0]!r}")
            for p in cfg.properties:
                self._check_targets(p, name)
            folder = f"c-{uuidlib.uuid4().hex}"
            tmp = self.root / f".new-{folder}"
            final = self.root / folder
            cat = self._cat
            try:
                with storage_errors(f"creating collection {name}"):
                    tmp.mkdir()
                    db = connect(tmp / "objects.sqlite")
                    try:
                        db.execute("BEGIN IMMEDIATE")
                        db.executemany(
                            "INSERT INTO meta (key, value) VALUES (?, ?)",
                            [("config", json.dumps(cfg.to_weaviate())), ("vector_dtype", vector_dtype)],
                        )
                        db.execute("COMMIT")
                        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    finally:
                        db.close()
                    fsync_dir(tmp)
                    cat.execute("BEGIN IMMEDIATE")
                    try:
                        cat.execute(
                            "INSERT INTO collections (key, name, folder) VALUES (?, ?, ?)",
                            (name.lower(), name, folder),
                        )
                        os.rename(tmp, final)
                        fsync_dir(self.root)
                        cat.execute("COMMIT")
                    except BaseException:
                        rollback(cat)
                        if final.exists():
                            os.rename(final, tmp)
                        raise
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            coll = Collection(final, self.vectorizer)
            coll.auto_schema = self.auto_schema
            coll.clock = self.clock
            coll.references_from(self)
            self._open[name] = coll
            return coll

    def _check_targets(self, prop: Property, own: str) -> None:
        """A cross-reference property's target collections exist (a collection may reference itself), as
        Weaviate requires when a class is created or a property added."""
        for t in prop.targets:
            if t != own and self._folder(t) is None:
                raise SchemaError(f"property {prop.name!r}: reference property to nonexistent class {t!r}")

    def add_property(self, name: str, prop: Property) -> None:
        """Adds a property to a collection (a cross-reference's target collections must exist)."""
        coll = self.get_collection(name)
        with self._lock:
            self._check_targets(prop, coll.name)
        coll.add_property(prop)

    def find_collection(self, name: str) -> Collection | None:
        """The collection called ``name``, or None when there is none (following cross-references)."""
        try:
            return self.get_collection(name)
        except (NotFoundError, SchemaError):
            return None

    def set_vectorizer(self, vectorizer: Vectorizer | None) -> None:
        """The vectorizer of the collections' later writes and text queries (the server attaches its
        embedding service once the store is open)."""
        with self._lock:
            self.vectorizer = vectorizer
            for coll in self._open.values():
                coll.vectorizer = vectorizer

    def get_collection(self, name: str) -> Collection:
        name = normalize_class_name(name)
        with self._lock:
            coll = self._open.get(name)
            if coll is None:
                path = self._folder(name)
                if path is None:
                    raise NotFoundError(f"collection {name!r} does not exist")
                with storage_errors(f"opening collection {name}"):  # SQLite may need its -shm file
                    coll = Collection(path, self.vectorizer)
                    coll.auto_schema = self.auto_schema
                    coll.clock = self.clock
                    coll.references_from(self)
                self._open[name] = coll
            return coll

    def delete_collection(self, name: str) -> bool:
        """Deletes a collection; False when there was none (deleting is idempotent, as in Weaviate)."""
        name = normalize_class_name(name)
        with self._lock:
            path = self._folder(name)
            if path is None:
                return False
            trash = self.root / f".del-{path.name}-{uuidlib.uuid4().hex}"
            cat = self._cat
            with storage_errors(f"deleting collection {name}"):
                cat.execute("BEGIN IMMEDIATE")
                try:
                    cat.execute("DELETE FROM collections WHERE name = ?", (name,))
                    os.rename(path, trash)
                    fsync_dir(self.root)
                    cat.execute("COMMIT")
                except BaseException:
                    rollback(cat)
                    if trash.exists() and not path.exists():
                        os.rename(trash, path)
                    raise
            coll = self._open.pop(name, None)
        # Closed outside the store's lock: a write to it may be looking up another collection (the
        # targets of its cross-references) and would otherwise wait for this thread, which waits for it.
        if coll is not None:
            coll.close()
        shutil.rmtree(trash, ignore_errors=True)
        return True

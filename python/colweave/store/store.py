"""The store: a data directory of independent collections.

``<data_dir>/collections/<Name>/`` holds one collection (see ``collection.py``). A collection is created
in a temporary directory and renamed into place once its config is durable; deleting one renames it
away first and then removes it, so a crash never leaves half a collection under its name. A lock file
(``flock``) keeps a second process (or a second ``Store``) from opening the same directory; the operating
system releases it when the process dies, even by ``kill -9``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
import uuid as uuidlib
from pathlib import Path
from typing import Any

from colweave.store.collection import Collection
from colweave.store.errors import AlreadyExistsError, NotFoundError, SchemaError, StoreError
from colweave.store.objects import Vectorizer, connect
from colweave.store.schema import CollectionConfig, normalize_class_name
from colweave.store.segments import fsync_dir

VECTOR_DTYPES = ("float16", "float32")


class Store:
    def __init__(self, data_dir: str | os.PathLike[str], *, vectorizer: Vectorizer | None = None) -> None:
        self.data_dir = Path(data_dir)
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
        for p in self.root.iterdir():
            if p.name.startswith("."):  # an interrupted create or delete
                shutil.rmtree(p, ignore_errors=True)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            for c in self._open.values():
                c.close()
            self._open.clear()
            if self._lock_file is not None:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)
                os.close(self._lock_file)
                self._lock_file = None

    def list_collections(self) -> list[str]:
        with self._lock:
            return sorted(p.name for p in self.root.iterdir() if not p.name.startswith(".") and p.is_dir())

    def exists(self, name: str) -> bool:
        return (self.root / normalize_class_name(name)).is_dir()

    def create_collection(
        self, config: CollectionConfig | dict[str, Any], *, vector_dtype: str = "float16"
    ) -> Collection:
        """Creates a collection from a config (or Weaviate's JSON shape); vectors are stored as float16
        (default) or float32."""
        if vector_dtype not in VECTOR_DTYPES:
            raise SchemaError(f"vector_dtype: expected float16 or float32, got {vector_dtype!r}")
        cfg = config if isinstance(config, CollectionConfig) else CollectionConfig.from_weaviate(config)
        with self._lock:
            final = self.root / cfg.name
            if final.exists() or any(n.lower() == cfg.name.lower() for n in self.list_collections()):
                raise AlreadyExistsError(f"class name {cfg.name!r} already exists")
            tmp = self.root / f".new-{cfg.name}-{uuidlib.uuid4().hex}"
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
            os.rename(tmp, final)
            fsync_dir(self.root)
            coll = Collection(final, self.vectorizer)
            self._open[cfg.name] = coll
            return coll

    def get_collection(self, name: str) -> Collection:
        name = normalize_class_name(name)
        with self._lock:
            coll = self._open.get(name)
            if coll is None:
                path = self.root / name
                if not path.is_dir():
                    raise NotFoundError(f"collection {name!r} does not exist")
                coll = Collection(path, self.vectorizer)
                self._open[name] = coll
            return coll

    def delete_collection(self, name: str) -> bool:
        """Deletes a collection; False when there was none (deleting is idempotent, as in Weaviate)."""
        name = normalize_class_name(name)
        with self._lock:
            path = self.root / name
            if not path.is_dir():
                return False
            coll = self._open.pop(name, None)
            if coll is not None:
                coll.close()
            trash = self.root / f".del-{name}-{uuidlib.uuid4().hex}"
            os.rename(path, trash)
            fsync_dir(self.root)
            shutil.rmtree(trash, ignore_errors=True)
            return True

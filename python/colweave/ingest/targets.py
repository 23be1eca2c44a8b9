"""Where ingested pages go: the embedded store in a data directory, or a running server through
weaviate-client (colweave, or a Weaviate whose ``multi2vec_weaviate`` vectorizer points at colweave).

The collection is created when missing with the configuration of the docs: the page image in the blob
``doc_page`` vectorized by ``multi2vec_weaviate`` into the multi-vector ``document`` (MUVERA on request),
and ``title``, ``source``, ``page``, ``text`` beside it (``text`` is searchable: ``bm25`` and ``hybrid``
find the words on the page).
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import numpy as np

VECTOR = "document"
IMAGE_FIELD = "doc_page"
PROPERTIES = (("title", "text"), ("source", "text"), ("page", "int"), ("text", "text"), (IMAGE_FIELD, "blob"))


class TargetError(Exception):
    """The target cannot be used (unreachable, locked, a collection of another shape): ends the run."""


class Target(Protocol):
    #: Whether ``insert`` needs the page vectors (the embedded store) or the target embeds (a server).
    needs_vectors: bool

    def ensure_collection(self, name: str, muvera: bool) -> str: ...
    def existing(self, uuids: Sequence[str]) -> set[str]: ...
    def insert(
        self, objects: Sequence[tuple[str, dict[str, Any]]], vectors: Sequence[np.ndarray] | None
    ) -> dict[int, str]: ...
    def close(self) -> None: ...


class EmbeddedTarget:
    """``colweave.store.Store`` in ``data_dir``; the caller embeds. Each ``insert`` is durable on return."""

    needs_vectors = True

    def __init__(self, data_dir: str | Path, vectorizer: Any = None) -> None:
        from colweave.store import Store
        from colweave.store.errors import StoreError

        try:
            self.store = Store(data_dir, vectorizer=vectorizer)
        except (StoreError, OSError) as e:
            raise TargetError(f"cannot open the data directory {data_dir}: {e}") from None
        self.coll: Any = None
        self.vector = VECTOR

    def ensure_collection(self, name: str, muvera: bool) -> str:
        from colweave.store import CollectionConfig, MuveraConfig, Property, VectorConfig
        from colweave.store.errors import NotFoundError, StoreError

        try:
            try:
                self.coll = self.store.get_collection(name)
                created = False
            except NotFoundError:
                self.coll = self.store.create_collection(
                    CollectionConfig(
                        name,
                        properties=[Property.create(n, t) for n, t in PROPERTIES],
                        vectors={
                            VECTOR: VectorConfig.multi2multivec(
                                VECTOR, [IMAGE_FIELD], muvera=MuveraConfig(enabled=muvera)
                            )
                        },
                    )
                )
                created = True
        except StoreError as e:
            raise TargetError(f"collection {name!r}: {e}") from None
        self.vector = _pick_vector(self.coll.config.to_weaviate(), name)
        return "created" if created else "exists"

    def existing(self, uuids: Sequence[str]) -> set[str]:
        return {u for u in uuids if self.coll.exists(u)}

    def insert(
        self, objects: Sequence[tuple[str, dict[str, Any]]], vectors: Sequence[np.ndarray] | None
    ) -> dict[int, str]:
        from colweave.store import DataObject

        assert vectors is not None
        res = self.coll.insert_many(
            [
                DataObject(props, uuid, vectors={self.vector: vec})
                for (uuid, props), vec in zip(objects, vectors, strict=True)
            ]
        )
        return {e.index: e.message for e in res.errors}

    def close(self) -> None:
        self.store.close()


def _pick_vector(schema: dict[str, Any], name: str) -> str:
    """The collection's multi-vector that embeds ``doc_page`` (``document`` for the ones ingest creates)."""
    vc = schema.get("vectorConfig") or {}
    if VECTOR in vc:
        return VECTOR
    for vname, body in vc.items():
        for mcfg in (body.get("vectorizer") or {}).values():
            if isinstance(mcfg, dict) and IMAGE_FIELD in (mcfg.get("imageFields") or []):
                return str(vname)
    raise TargetError(
        f"collection {name!r} exists but has no multi-vector that embeds {IMAGE_FIELD!r}: ingest into a new "
        "collection"
    )


class ServerTarget:
    """A running server by URL (``http://host:8080``; gRPC on ``grpc_port``); the server embeds."""

    needs_vectors = False

    def __init__(
        self,
        url: str,
        *,
        grpc_port: int | None = None,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        vectorizer_base_url: str | None = None,
        timeout_s: float = 600.0,
    ) -> None:
        import weaviate
        from weaviate.classes.init import AdditionalConfig, Auth, Timeout

        u = urlparse(url if "://" in url else f"http://{url}")
        if u.scheme not in ("http", "https") or not u.hostname:
            raise TargetError(f"--url {url!r}: expected http://host:port or https://host:port")
        secure = u.scheme == "https"
        port = u.port or (443 if secure else 80)
        try:
            self.client = weaviate.connect_to_custom(
                http_host=u.hostname,
                http_port=port,
                http_secure=secure,
                grpc_host=u.hostname,
                grpc_port=grpc_port or 50051,
                grpc_secure=secure,
                auth_credentials=Auth.api_key(api_key) if api_key else None,
                headers=headers,
                # A CPU embeds a page in seconds: a batch of pages needs more than the client's default 90 s.
                additional_config=AdditionalConfig(timeout=Timeout(init=30, query=120, insert=timeout_s)),
            )
        except Exception as e:  # weaviate-client raises its own connection / startup errors
            raise TargetError(f"cannot connect to {url}: {e}") from None
        self.url = url
        self.vectorizer_base_url = vectorizer_base_url
        self.coll: Any = None

    def ensure_collection(self, name: str, muvera: bool) -> str:
        from weaviate.classes.config import Configure, DataType, Property

        types = {"text": DataType.TEXT, "int": DataType.INT, "blob": DataType.BLOB}
        try:
            if self.client.collections.exists(name):
                self.coll = self.client.collections.get(name)
                _pick_vector(self.coll.config.get().to_dict(), name)
                return "exists"
            kwargs: dict[str, Any] = {"name": VECTOR, "image_field": IMAGE_FIELD}
            if self.vectorizer_base_url:
                kwargs["base_url"] = self.vectorizer_base_url
            if muvera:
                kwargs["encoding"] = Configure.VectorIndex.MultiVector.Encoding.muvera()
            self.coll = self.client.collections.create(
                name=name,
                properties=[Property(name=n, data_type=types[t]) for n, t in PROPERTIES],
                vector_config=[Configure.MultiVectors.multi2vec_weaviate(**kwargs)],
            )
            return "created"
        except TargetError:
            raise
        except Exception as e:
            raise TargetError(f"collection {name!r} on {self.url}: {e}") from None

    def existing(self, uuids: Sequence[str]) -> set[str]:
        from weaviate.classes.query import Filter

        found: set[str] = set()
        for s in range(0, len(uuids), 100):
            chunk = list(uuids[s : s + 100])
            res = self.coll.query.fetch_objects(
                filters=Filter.by_id().contains_any(chunk), limit=len(chunk), return_properties=[]
            )
            found.update(str(o.uuid) for o in res.objects)
        return found

    def insert(
        self, objects: Sequence[tuple[str, dict[str, Any]]], vectors: Sequence[np.ndarray] | None
    ) -> dict[int, str]:
        from weaviate.classes.data import DataObject

        res = self.coll.data.insert_many(
            [DataObject(properties=props, uuid=uuidlib.UUID(u)) for u, props in objects]
        )
        return {int(i): str(getattr(e, "message", e)) for i, e in res.errors.items()}

    def close(self) -> None:
        self.client.close()

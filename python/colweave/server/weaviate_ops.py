"""What Weaviate's REST and gRPC layers share: the store behind an executor (the event loop never waits
on SQLite or a scan), vectorization through the server's batcher, and the store's errors mapped onto the
server's taxonomy.

The store vectorizes what its rules say needs it (library and server alike) through
:class:`StoreVectorizer`, which hands the images to the embedding service on the event loop: the same
checks, dynamic batcher and metrics as every other request. The store does that before its commit lock,
so searches never wait for a page's encode; writes run on their own threads, so they never hold a
search's slot while they wait for their pages.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import errno
import functools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from colweave.layout import PageLayout
from colweave.server.embedding import EmbeddingService
from colweave.server.errors import (
    ConflictError,
    NotFoundError,
    NotReadyError,
    OverloadedError,
    ServiceError,
    StorageFullError,
    ValidationError,
)
from colweave.server.metrics import Metrics
from colweave.store import errors as store_errors
from colweave.store.filters import FilterT
from colweave.store.layouts import page_layout_for
from colweave.store.objects import BatchError, BatchResult, DataObject
from colweave.store.ref_writes import ReferenceWrite
from colweave.store.references import has_reference_conditions, resolve_filter
from colweave.store.schema import MULTI2MULTIVEC, CollectionConfig, normalize_class_name
from colweave.store.store import Store

# The key of an object's unnamed vector (REST ``vector``, gRPC ``vector_bytes``) before it is resolved.
UNNAMED = ""

T = TypeVar("T")
log = logging.getLogger("colweave.weaviate")
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _disk_full_message(e: BaseException) -> str:
    detail = str(e) or "no space left on device"
    return f"disk full: the write was not applied (nothing changed; free space and retry): {detail}"


@contextlib.contextmanager
def store_errors_as_service_errors() -> Iterator[None]:
    try:
        yield
    except _Unavailable as e:
        raise e.error from None
    except store_errors.StorageFullError as e:
        raise StorageFullError(_disk_full_message(e)) from None
    except store_errors.NotFoundError as e:
        raise NotFoundError(str(e)) from None
    except store_errors.AlreadyExistsError as e:
        raise ConflictError(str(e)) from None
    except (store_errors.StoreError, ValueError) as e:
        raise ValidationError(str(e)) from None
    except OSError as e:
        if e.errno in _DISK_FULL:
            raise StorageFullError(_disk_full_message(e)) from None
        raise


def _empty(v: Any) -> bool:
    try:
        return int(np.asarray(v, dtype=object).size) == 0
    except (TypeError, ValueError):
        return False


def unnamed_target(cfg: CollectionConfig) -> str:
    """The vector an unnamed vector (or an untargeted search) means, as Weaviate decides: the
    collection-level vector of a legacy collection, else the collection's only named vector."""
    lv = cfg.legacy_vector
    if lv is not None:
        return lv.name
    if len(cfg.vectors) == 1:
        return next(iter(cfg.vectors))
    raise ValidationError(f"collection {cfg.name} configuration does not have single vector index")


def resolve_unnamed(cfg: CollectionConfig, obj: DataObject) -> DataObject:
    """``obj`` with its unnamed vector (key :data:`UNNAMED`) under the name :func:`unnamed_target`
    gives (a vector given by that name too wins); an empty unnamed vector is no vector, as in Weaviate.
    Raises ValidationError when the collection has no single vector it could be."""
    vecs = obj.vectors
    if not vecs or UNNAMED not in vecs:
        return obj
    rest = {k: v for k, v in vecs.items() if k != UNNAMED}
    v = vecs[UNNAMED]
    if not _empty(v):
        rest.setdefault(unnamed_target(cfg), v)
    return DataObject(obj.properties, obj.uuid, rest or None, obj.layouts)


class HeavyWork:
    """Admission for store work that may take long (searches, scans, batch writes).

    At most ``slots`` such calls run at once and at most ``queue`` wait; beyond that a request is refused
    (429 / RESOURCE_EXHAUSTED). A call whose client has gone before it started is never run, and a slot is
    held until the thread really finishes (a cancelled asyncio task does not free it early), so abandoned
    queries cannot pile up behind the limit and make a one-object fetch wait.
    """

    def __init__(self, slots: int, queue: int) -> None:
        self.slots = slots
        self.queue = queue
        self._free = slots
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def running(self) -> int:
        return self.slots - self._free

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        if len(self._waiters) >= self.queue:
            raise OverloadedError(
                f"{self.running} searches running and {len(self._waiters)} waiting (limit {self.queue}); "
                "retry later"
            )
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut in self._waiters:
                self._waiters.remove(fut)
            elif fut.done() and not fut.cancelled():
                self.release()  # the slot was handed over just as the client went: pass it on
            raise

    def release(self) -> None:
        while self._waiters:
            fut = self._waiters.pop(0)
            if not fut.done():
                fut.set_result(None)
                return
        self._free += 1


class WeaviateOps:
    def __init__(
        self,
        embedding: Callable[[], EmbeddingService],
        threads: int = 8,
        heavy_slots: int | None = None,
        heavy_queue: int = 64,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._store: Store | None = None
        self._embedding = embedding
        slots = heavy_slots or max(1, min(threads // 2, os.cpu_count() or 1))
        # Light calls (one object, schema) and heavy ones (searches, scans, batches) have their own
        # threads: a light call never queues behind heavy ones.
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="colweave-store")
        self._heavy_executor = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="colweave-search")
        # Writes wait for their pages' encodes on threads (and admission) of their own.
        self._write_executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="colweave-write")
        self.write_work = HeavyWork(threads, heavy_queue)
        self.heavy_work = HeavyWork(slots, heavy_queue)

    def attach(self, store: Store, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """The store, once opened (start-up opens it in a worker thread); its writes vectorize through
        the embedding service on ``loop`` (the running one by default)."""
        store.set_vectorizer(StoreVectorizer(self, loop or asyncio.get_running_loop()))
        self._store = store

    @property
    def store(self) -> Store:
        if self._store is None:
            raise NotReadyError("the store is still opening")
        return self._store

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Runs a store call in the store's thread pool, its errors mapped to the server's taxonomy."""

        def call() -> T:
            with store_errors_as_service_errors():
                return fn(*args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def heavy(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``run`` for work that may take long: admitted by ``HeavyWork``; skipped if the client left."""
        return await self._admitted(self.heavy_work, self._heavy_executor, fn, *args, **kwargs)

    async def _admitted(
        self, work: HeavyWork, executor: ThreadPoolExecutor, fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T:
        loop = asyncio.get_running_loop()
        await work.acquire()

        def call() -> T:
            with store_errors_as_service_errors():
                return fn(*args, **kwargs)

        try:
            cf: Future[T] = executor.submit(call)
        except BaseException:
            work.release()
            raise

        def done(_: Future[T]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed (shutdown)
                loop.call_soon_threadsafe(work.release)

        cf.add_done_callback(done)
        # Cancelling the wrapper cancels cf if it has not started (then it never runs).
        return await asyncio.wrap_future(cf)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._heavy_executor.shutdown(wait=True)
        self._write_executor.shutdown(wait=True)
        if self._store is not None:
            self._store.close()

    def note(self, coll: Any) -> None:
        """Records a collection's object count after a write (an in-memory count: /metrics does no store
        work per scrape)."""
        if self._metrics is not None:
            self._metrics.objects.labels(coll.name).set(len(coll))

    def forget(self, name: str) -> None:
        if self._metrics is not None:
            with contextlib.suppress(KeyError):
                self._metrics.objects.remove(name)

    # -- collections ------------------------------------------------------------------------------
    async def config(self, name: str) -> CollectionConfig:
        coll = await self.run(self.store.collection, name)
        return coll.config

    async def create_collection(self, body: dict[str, Any]) -> CollectionConfig:
        """Creates a collection from Weaviate's JSON; one whose vectorizer names a model this server does
        not serve is refused (it would otherwise be vectorized by whatever model is served)."""
        with store_errors_as_service_errors():
            cfg = CollectionConfig.from_weaviate(body)
        try:
            svc = self._embedding()
        except NotReadyError:
            svc = None  # still loading: vectorize() and query_vector() check once it has loaded
        if svc is not None:
            for vector in cfg.vectors:
                self.check_model(svc, cfg, vector)
        coll = await self.run(self.store.create_collection, body)
        self.note(coll)
        return coll.config

    def check_added_vectors(self, old: CollectionConfig, new: CollectionConfig) -> None:
        """A class update's new vectors (``add_vector``) are refused as a new collection's would be when
        their module names a model this server does not serve."""
        try:
            svc = self._embedding()
        except NotReadyError:
            return  # still loading: vectorize() and query_vector() check once it has loaded
        for vector in new.vectors:
            if vector not in old.vectors:
                self.check_model(svc, new, vector)

    @staticmethod
    def model_mismatch(svc: EmbeddingService, cfg: CollectionConfig, vector: str) -> str | None:
        """Why ``vector`` of ``cfg`` cannot be vectorized here (its module names another model), or None."""
        vc = cfg.vectors[vector]
        if vc.vectorizer != MULTI2MULTIVEC:
            return None
        want = vc.vectorizer_config.get("model")
        if not want or want in svc.info.accepted:
            return None
        return (
            f"{cfg.name}: vector {vector!r} is configured for model {want!r}, but this server serves "
            f"{svc.info.name!r}: serve {want!r} (--model), or, if the served model is that model, start "
            f"colweave with --model-name {want!r}"
        )

    def check_model(self, svc: EmbeddingService, cfg: CollectionConfig, vector: str) -> None:
        why = self.model_mismatch(svc, cfg, vector)
        if why is not None:
            raise ValidationError(why)

    # -- vectorization ----------------------------------------------------------------------------
    def model_refusals(self, cfg: CollectionConfig, objects: Sequence[DataObject]) -> dict[int, str]:
        """Per object, why it cannot be vectorized here: it has a page image for a vector whose module
        names a model this server does not serve (and no vector given for it)."""
        try:
            svc = self._embedding()
        except NotReadyError:
            return {}  # still loading: the vectorizer reports it
        refused = {name: why for name in cfg.vectors if (why := self.model_mismatch(svc, cfg, name))}
        out: dict[int, str] = {}
        for i, obj in enumerate(objects):
            for name, why in refused.items():
                given = obj.vectors is not None and name in obj.vectors
                props = obj.properties if isinstance(obj.properties, dict) else {}
                if not given and any(props.get(f) for f in cfg.vectors[name].image_fields):
                    out[i] = why
                    break
        return out

    async def embed_pages(self, images: list[bytes]) -> list[tuple[Any, PageLayout | None]]:
        """Vectors (or the error of each image) and layouts of page images, through the embedding
        service's public path (its checks and metrics) and its dynamic batcher."""
        svc = self._embedding()
        out: list[tuple[Any, PageLayout | None]] = []
        step = max(1, svc.cfg.max_queue // 2)
        for start in range(0, len(images), step):
            chunk = images[start : start + step]
            # One request per image: the batcher packs them together and isolates a bad one.
            results = await asyncio.gather(
                *(svc.embed_images([img]) for img in chunk), return_exceptions=True
            )
            for img, res in zip(chunk, results, strict=True):
                if isinstance(res, BaseException):
                    if isinstance(res, ServiceError) and not isinstance(res, ValidationError):
                        raise _Unavailable(res)  # overloaded / shutting down: the whole write fails
                    if not isinstance(res, Exception):
                        raise res
                    out.append((res, None))
                    continue
                v = res.outputs[0]
                out.append((v, page_layout_for(svc.model, img, len(v))))
        return out

    async def query_vector(
        self, cfg: CollectionConfig, target: str | None, text: str
    ) -> tuple[str, np.ndarray]:
        """The query multi-vector of ``text`` for the target vector (which must have a vectorizer)."""
        target = self._vectorized_target(cfg, target, "send a vector instead of text")
        svc = self._embedding()
        self.check_model(svc, cfg, target)
        res = await svc.embed_queries([text])
        return target, res.outputs[0]

    async def image_query_vector(
        self, cfg: CollectionConfig, target: str | None, image_b64: str
    ) -> tuple[str, np.ndarray]:
        """The multi-vector of a page image (base64) for the target vector, as a query (near_image): the
        embedding service's image path, with its checks, batching and metrics."""
        target = self._vectorized_target(cfg, target, "send a vector instead of an image")
        try:
            image = base64.b64decode(image_b64, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("near_image: the image is not valid base64") from None
        if not image:
            raise ValidationError("near_image: the image is empty")
        svc = self._embedding()
        self.check_model(svc, cfg, target)
        res = await svc.embed_images([image])
        return target, res.outputs[0]

    def _vectorized_target(self, cfg: CollectionConfig, target: str | None, instead: str) -> str:
        names = list(cfg.vectors)
        if target is None:
            if len(names) != 1:
                raise ValidationError(
                    f"{cfg.name} has {len(names)} named vectors ({', '.join(names) or 'none'}): "
                    "name the target vector"
                )
            target = names[0]
        vc = cfg.vectors.get(target)
        if vc is None:
            raise ValidationError(f"{cfg.name} has no vector named {target!r}")
        if vc.vectorizer != MULTI2MULTIVEC:
            raise ValidationError(
                f"vector {target!r} of {cfg.name} has no vectorizer (self-provided): {instead}"
            )
        return target

    # -- writes -----------------------------------------------------------------------------------
    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Runs a store write (which vectorizes through :class:`StoreVectorizer`) on the writers'
        threads, admitted as heavy work is: a write waiting for its pages never takes a search's slot."""
        return await self._admitted(self.write_work, self._write_executor, fn, *args, **kwargs)

    async def insert_many(self, collection: str, objects: list[DataObject]) -> BatchResult:
        """Batch upsert with vectorization; errors by index, the rest stored durably on return."""
        coll = await self.run(self.store.collection, collection)
        refused: dict[int, str] = {}
        objects = list(objects)
        for i, obj in enumerate(objects):
            try:
                objects[i] = resolve_unnamed(coll.config, obj)
            except ValidationError as bad:
                refused[i] = bad.message
        refused.update(self.model_refusals(coll.config, objects))
        if not refused:
            res = await self.write(coll.insert_many, objects)
            self.note(coll)
            return res
        keep = [i for i in range(len(objects)) if i not in refused]
        kept = await self.write(coll.insert_many, [objects[i] for i in keep]) if keep else BatchResult([], [])
        self.note(coll)
        uuids: list[str | None] = [None] * len(objects)
        errors = [BatchError(i, None, msg) for i, msg in refused.items()]
        for j, i in enumerate(keep):
            uuids[i] = kept.uuids[j]
        for e in kept.errors:
            errors.append(BatchError(keep[e.index], e.uuid, e.message))
        errors.sort(key=lambda e: e.index)
        return BatchResult(uuids, errors)

    async def write_one(self, collection: str, obj: DataObject, mode: str) -> str:
        """insert / replace / merge of one object, with vectorization."""
        coll = await self.run(self.store.collection, collection)
        obj = resolve_unnamed(coll.config, obj)
        why = self.model_refusals(coll.config, [obj])
        if why:
            raise ValidationError(why[0])
        if mode == "insert":
            u = await self.write(
                coll.insert, obj.properties, uuid=obj.uuid, vectors=obj.vectors, layouts=obj.layouts
            )
            self.note(coll)
            return u
        if obj.uuid is None:
            raise ValidationError(f"{mode}: the object's id is required")
        method = coll.replace if mode == "replace" else coll.update
        await self.write(
            functools.partial(method, obj.uuid, obj.properties, vectors=obj.vectors, layouts=obj.layouts)
        )
        self.note(coll)
        return str(obj.uuid)

    async def resolve_filter(self, config: CollectionConfig, filters: FilterT) -> FilterT:
        """``filters`` with its conditions on referenced objects resolved in their collections (see
        ``store.references``); a filter without any is returned as it is, without a thread hop."""
        if not has_reference_conditions(filters):
            return filters
        return await self.heavy(resolve_filter, self.store, config, filters)

    async def add_references(self, refs: Sequence[tuple[str, str, str, str]]) -> dict[int, str]:
        """A batch of references ``(from collection, from uuid, property, beacon)``, stored durably per
        source collection; returns why each failed one failed, by index."""
        errors: dict[int, str] = {}
        by_coll: dict[str, list[int]] = {}
        for i, (cls, _, _, _) in enumerate(refs):
            try:
                by_coll.setdefault(normalize_class_name(cls), []).append(i)
            except store_errors.StoreError as e:
                errors[i] = str(e)
        for name, idx in by_coll.items():
            try:
                coll = await self.run(self.store.collection, name)
            except NotFoundError as e:
                errors.update({i: f"source class {name!r} not found in schema: {e.message}" for i in idx})
                continue
            batch = [ReferenceWrite(refs[i][1], refs[i][2], refs[i][3]) for i in idx]
            res = await self.write(coll.add_references, batch)
            errors.update({i: msg for i, msg in zip(idx, res, strict=True) if msg is not None})
        return errors


class _Unavailable(store_errors.VectorizerUnavailableError):
    def __init__(self, error: ServiceError) -> None:
        super().__init__(error.message)
        self.error = error


class StoreVectorizer:
    """The store's vectorizer in the server: page images go through the embedding service (see
    :meth:`WeaviateOps.embed_pages`) on the server's event loop, from the store's write threads. So the
    store decides which images to vectorize (its rules, for library and server alike) and the service
    validates, batches and counts them."""

    def __init__(self, ops: WeaviateOps, loop: asyncio.AbstractEventLoop, timeout_s: float = 3600.0) -> None:
        self._ops = ops
        self._loop = loop
        self._timeout_s = timeout_s

    def _off_loop(self) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:  # no loop in this thread: as it should be
            return
        if running is self._loop:  # waiting for the loop on the loop would never end
            raise RuntimeError("the store vectorizes on its own threads, never on the event loop")

    def embed_images_with_layouts(self, images: list[bytes]) -> list[tuple[Any, PageLayout | None]]:
        self._off_loop()
        fut = asyncio.run_coroutine_threadsafe(self._ops.embed_pages(list(images)), self._loop)
        try:
            return fut.result(timeout=self._timeout_s)
        except ServiceError as e:  # not ready: the whole write fails
            raise _Unavailable(e) from None
        except TimeoutError:
            fut.cancel()
            raise _Unavailable(ServiceError("vectorizing the pages took too long")) from None

    def embed_images(self, images: list[bytes]) -> list[npt.NDArray[np.float32]]:
        out = []
        for v, _ in self.embed_images_with_layouts(images):
            if isinstance(v, Exception):
                raise v
            out.append(v)
        return out

    def embed_queries(self, queries: list[str]) -> list[npt.NDArray[np.float32]]:
        async def embed() -> list[npt.NDArray[np.float32]]:
            return list((await self._ops._embedding().embed_queries(queries)).outputs)

        self._off_loop()
        return asyncio.run_coroutine_threadsafe(embed(), self._loop).result(timeout=self._timeout_s)

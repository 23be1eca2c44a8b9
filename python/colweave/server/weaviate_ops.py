"""What Weaviate's REST and gRPC layers share: the store behind an executor (the event loop never waits
on SQLite or a scan), vectorization through the server's batcher, and the store's errors mapped onto the
server's taxonomy.

The store is opened without a vectorizer: objects whose multi2multivec-weaviate vector is missing are
vectorized here, outside the collection's lock, through the same dynamic batcher as every other request,
and handed to the store with their vectors (a page takes seconds on a CPU; searches must not wait for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from colweave.server.embedding import EmbeddingService, decode_base64_image
from colweave.server.errors import (
    ConflictError,
    NotFoundError,
    NotReadyError,
    OverloadedError,
    ServiceError,
    StorageFullError,
    ValidationError,
)
from colweave.store import errors as store_errors
from colweave.store.layouts import page_layout_for
from colweave.store.objects import BatchError, BatchResult, DataObject
from colweave.store.schema import MULTI2MULTIVEC, CollectionConfig
from colweave.store.store import Store

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
    ) -> None:
        self._store: Store | None = None
        self._embedding = embedding
        slots = heavy_slots or max(1, min(threads // 2, os.cpu_count() or 1))
        # Light calls (one object, schema) and heavy ones (searches, scans, batches) have their own
        # threads: a light call never queues behind heavy ones.
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="colweave-store")
        self._heavy_executor = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="colweave-search")
        self.heavy_work = HeavyWork(slots, heavy_queue)

    def attach(self, store: Store) -> None:
        """The store, once opened (start-up opens it in a worker thread)."""
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
        loop = asyncio.get_running_loop()
        await self.heavy_work.acquire()

        def call() -> T:
            with store_errors_as_service_errors():
                return fn(*args, **kwargs)

        try:
            cf: Future[T] = self._heavy_executor.submit(call)
        except BaseException:
            self.heavy_work.release()
            raise

        def done(_: Future[T]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed (shutdown)
                loop.call_soon_threadsafe(self.heavy_work.release)

        cf.add_done_callback(done)
        # Cancelling the wrapper cancels cf if it has not started (then it never runs).
        return await asyncio.wrap_future(cf)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._heavy_executor.shutdown(wait=True)
        if self._store is not None:
            self._store.close()

    # -- collections ------------------------------------------------------------------------------
    async def config(self, name: str) -> CollectionConfig:
        coll = await self.run(self.store.get_collection, name)
        return coll.config

    # -- vectorization ----------------------------------------------------------------------------
    async def vectorize(self, cfg: CollectionConfig, objects: Sequence[DataObject]) -> dict[int, str]:
        """Adds the multi2multivec-weaviate vectors that objects lack (from the first image field with a
        value, as the store would); returns per-object error messages for the images that failed."""
        jobs: list[tuple[int, str, bytes]] = []
        errors: dict[int, str] = {}
        for i, obj in enumerate(objects):
            for name, vc in cfg.vectors.items():
                if vc.vectorizer != MULTI2MULTIVEC or (obj.vectors and name in obj.vectors):
                    continue
                value = next((obj.properties[f] for f in vc.image_fields if obj.properties.get(f)), None)
                if value is None:
                    continue
                try:
                    jobs.append((i, name, decode_base64_image(value, f"property of vector {name!r}")))
                except ValidationError as e:
                    errors[i] = e.message
        if not jobs:
            return errors
        svc = self._embedding()
        step = max(1, svc.cfg.max_queue // 2)
        for start in range(0, len(jobs), step):
            chunk = jobs[start : start + step]
            # One request per image: the batcher packs them together and isolates a bad one. Through
            # the service's public path, so its validation and metrics (images, tiles, tokens encoded)
            # are those of every other request.
            results = await asyncio.gather(
                *(svc.embed_images([img]) for _, _, img in chunk), return_exceptions=True
            )
            for (i, name, img), res in zip(chunk, results, strict=True):
                if isinstance(res, BaseException):
                    if isinstance(res, ServiceError) and not isinstance(res, ValidationError):
                        raise res  # overloaded / shutting down: the whole request fails
                    errors[i] = f"could not vectorize {name!r}: {res}"
                    continue
                obj = objects[i]
                if obj.vectors is None:
                    obj.vectors = {}
                obj.vectors[name] = res.outputs[0]
                layout = page_layout_for(svc.model, img, len(res.outputs[0]))
                if layout is not None:  # which vector is which patch of the page (colweave.layout)
                    obj.layouts = {**(obj.layouts or {}), name: layout}
        return errors

    async def query_vector(
        self, cfg: CollectionConfig, target: str | None, text: str
    ) -> tuple[str, np.ndarray]:
        """The query multi-vector of ``text`` for the target vector (which must have a vectorizer)."""
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
                f"vector {target!r} of {cfg.name} has no vectorizer (self-provided): "
                "send a vector instead of text"
            )
        res = await self._embedding().embed_queries([text])
        return target, res.outputs[0]

    # -- writes -----------------------------------------------------------------------------------
    async def insert_many(self, collection: str, objects: list[DataObject]) -> BatchResult:
        """Batch upsert with vectorization; errors by index, the rest stored durably on return."""
        coll = await self.run(self.store.get_collection, collection)
        vec_errors = await self.vectorize(coll.config, objects)
        keep = [i for i in range(len(objects)) if i not in vec_errors]
        res = await self.heavy(coll.insert_many, [objects[i] for i in keep]) if keep else BatchResult([], [])
        uuids: list[str | None] = [None] * len(objects)
        errors = [BatchError(i, None, msg) for i, msg in vec_errors.items()]
        for j, i in enumerate(keep):
            uuids[i] = res.uuids[j]
        for e in res.errors:
            errors.append(BatchError(keep[e.index], e.uuid, e.message))
        errors.sort(key=lambda e: e.index)
        return BatchResult(uuids, errors)

    async def write_one(self, collection: str, obj: DataObject, mode: str) -> str:
        """insert / replace / merge of one object, with vectorization."""
        coll = await self.run(self.store.get_collection, collection)
        errs = await self.vectorize(coll.config, [obj])
        if errs:
            raise ValidationError(errs[0])
        if mode == "insert":
            return await self.run(
                coll.insert, obj.properties, uuid=obj.uuid, vectors=obj.vectors, layouts=obj.layouts
            )
        if obj.uuid is None:
            raise ValidationError(f"{mode}: the object's id is required")
        method = coll.replace if mode == "replace" else coll.update
        await self.run(
            functools.partial(method, obj.uuid, obj.properties, vectors=obj.vectors, layouts=obj.layouts)
        )
        return str(obj.uuid)

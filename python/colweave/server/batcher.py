"""Dynamic batching of model calls shared by every endpoint.

Requests from any protocol are queued; one worker per batcher takes the first waiting request, waits up
to ``max_wait`` for others, and runs them together in a worker thread (the event loop never blocks on
inference) as long as the batch stays within ``max_items`` inputs. A request larger than the budget runs
alone. If a combined call fails, each request is retried on its own, so one client's bad input never fails
another's. When more than ``max_queue`` inputs wait, new requests are refused with ``OverloadedError``.

A request whose caller is cancelled (its client went away: the HTTP layer cancels on disconnect, grpc on
a cancelled call or an expired deadline) leaves the queue at once and is never run; if its batch is
already running, its share of the result is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from colweave.server.errors import NotReadyError, OverloadedError
from colweave.server.metrics import Metrics

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger("colweave.batcher")


@dataclass
class BatchResult(Generic[R]):
    outputs: list[R]
    queue_seconds: float
    inference_seconds: float
    batch_inputs: int


@dataclass
class _Pending(Generic[T, R]):
    items: Sequence[T]
    future: asyncio.Future[BatchResult[R]]
    enqueued: float = field(default_factory=time.perf_counter)


class DynamicBatcher(Generic[T, R]):
    def __init__(
        self,
        name: str,
        fn: Callable[[list[T]], list[R]],
        *,
        max_items: int,
        max_wait_s: float,
        max_queue: int,
        metrics: Metrics | None = None,
    ) -> None:
        self.name = name
        self._fn = fn
        self._max_items = max_items
        self._max_wait = max_wait_s
        self._max_queue = max_queue
        self._metrics = metrics
        self._queue: deque[_Pending[T, R]] = deque()
        self._queued_items = 0
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"colweave-{name}")
        self._closing = False
        self._in_flight = 0
        self._abandoned = 0

    @property
    def queued(self) -> int:
        return self._queued_items

    def start(self) -> None:
        if self._task is None:
            self._wakeup = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"batcher-{self.name}")

    async def submit(self, items: Sequence[T]) -> BatchResult[R]:
        if self._closing or self._task is None:
            raise NotReadyError(
                "the server is shutting down" if self._closing else "the batcher is not running"
            )
        if not items:
            return BatchResult([], 0.0, 0.0, 0)
        if self._queued_items + len(items) > self._max_queue and self._queued_items > 0:
            raise OverloadedError(
                f"{self.name}: {self._queued_items} inputs already queued "
                f"(limit {self._max_queue}); retry later"
            )
        fut: asyncio.Future[BatchResult[R]] = asyncio.get_running_loop().create_future()
        pending = _Pending(items, fut)
        self._queue.append(pending)
        self._queued_items += len(items)
        self._gauge()
        assert self._wakeup is not None
        self._wakeup.set()
        try:
            return await fut
        except asyncio.CancelledError:
            self._abandon(pending)
            raise

    @property
    def abandoned(self) -> int:
        """Requests dropped from the queue because their caller went away."""
        return self._abandoned

    def _abandon(self, pending: _Pending[T, R]) -> None:
        try:
            self._queue.remove(pending)
        except ValueError:
            return  # already running: its result is dropped when the batch finishes
        self._queued_items -= len(pending.items)
        self._abandoned += 1
        self._gauge()
        if self._metrics is not None:
            self._metrics.abandoned.labels(self.name).inc()

    def _gauge(self) -> None:
        if self._metrics is not None:
            self._metrics.queue_size.labels(self.name).set(self._queued_items)

    async def _run(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            first = self._queue[0]
            # Wait (briefly) for company, unless the first request already fills a batch.
            deadline = first.enqueued + self._max_wait
            while self._queued_items < self._max_items and not self._closing:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                self._wakeup.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), remaining)
            if not self._queue:  # every waiting request was abandoned meanwhile
                continue
            batch = [self._queue.popleft()]
            size = len(batch[0].items)
            while self._queue and size + len(self._queue[0].items) <= self._max_items:
                p = self._queue.popleft()
                batch.append(p)
                size += len(p.items)
            self._queued_items -= size
            self._gauge()
            self._in_flight += 1
            try:
                await self._execute(loop, batch, size)
            finally:
                self._in_flight -= 1

    async def _execute(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending[T, R]], size: int) -> None:
        start = time.perf_counter()
        flat: list[T] = [x for p in batch for x in p.items]
        try:
            outputs = await loop.run_in_executor(self._executor, self._fn, flat)
        except Exception as exc:
            if len(batch) == 1:
                if not batch[0].future.done():
                    batch[0].future.set_exception(exc)
                return
            # Isolate the failure: run every request alone.
            for p in batch:
                await self._execute(loop, [p], len(p.items))
            return
        elapsed = time.perf_counter() - start
        if self._metrics is not None:
            self._metrics.batch_size.labels(self.name).observe(size)
            self._metrics.batch_seconds.labels(self.name).observe(elapsed)
        if len(outputs) != len(flat):
            err = RuntimeError(
                f"{self.name}: the model returned {len(outputs)} outputs for {len(flat)} inputs"
            )
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(err)
            return
        i = 0
        for p in batch:
            n = len(p.items)
            waited = start - p.enqueued
            if self._metrics is not None:
                self._metrics.queue_seconds.labels(self.name).observe(waited)
            if not p.future.done():  # the client may have gone away
                p.future.set_result(BatchResult(list(outputs[i : i + n]), waited, elapsed, size))
            i += n

    async def close(self, grace_s: float = 30.0) -> None:
        """Stops taking requests, finishes the queued and running ones (up to ``grace_s``), then stops."""
        self._closing = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace_s)
            except asyncio.TimeoutError:
                log.warning(
                    "%s: %d queued inputs dropped after the %.0f s grace period",
                    self.name,
                    self._queued_items,
                    grace_s,
                )
                self._task.cancel()
                while self._queue:
                    p = self._queue.popleft()
                    if not p.future.done():
                        p.future.set_exception(NotReadyError("the server shut down before this request ran"))
        self._executor.shutdown(wait=True, cancel_futures=True)

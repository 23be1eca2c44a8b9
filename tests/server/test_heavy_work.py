"""HeavyWork admission: at most ``slots`` heavy store calls run, at most ``queue`` wait (then 429), a
waiter whose client leaves gives its place up, and a slot is only freed when the thread finishes."""

from __future__ import annotations

import asyncio
import threading

import pytest

from colweave.server.errors import OverloadedError
from colweave.server.weaviate_ops import WeaviateOps


def test_admission_cancellation_and_slots_held_until_the_thread_ends() -> None:
    async def main() -> None:
        ops = WeaviateOps(lambda: None, threads=4, heavy_slots=2, heavy_queue=2)  # type: ignore[arg-type, return-value]
        release = threading.Event()
        ran: list[int] = []

        def work(i: int) -> int:
            ran.append(i)
            release.wait(10)
            return i

        running = [asyncio.ensure_future(ops.heavy(work, i)) for i in range(2)]
        waiting = [asyncio.ensure_future(ops.heavy(work, i)) for i in (2, 3)]
        await asyncio.sleep(0.05)
        assert ops.heavy_work.running == 2
        assert ops.heavy_work.waiting == 2
        with pytest.raises(OverloadedError):
            await ops.heavy(work, 4)
        # A running call's client leaves: the slot stays taken until its thread is done.
        running[0].cancel()
        waiting[0].cancel()  # a waiting one leaves: it never runs
        await asyncio.sleep(0.05)
        assert ops.heavy_work.running == 2
        assert ops.heavy_work.waiting == 1
        release.set()
        assert await waiting[1] == 3
        assert await running[1] == 1
        assert sorted(ran) == [0, 1, 3]
        await asyncio.sleep(0.05)
        assert ops.heavy_work.running == 0
        ops.close()

    asyncio.run(main())

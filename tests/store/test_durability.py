"""Durability: a real process killed with SIGKILL in the middle of batch inserts; a failing commit; readers
during writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid as uuidlib
from pathlib import Path

import numpy as np
import pytest

from colweave.store import CollectionConfig, DataObject, Property, Store, VectorConfig

BATCH = 25
TOKENS = 40
DIM = 64

CHILD = textwrap.dedent(
    """
    import sys, uuid
    import numpy as np
    from colweave.store import DataObject, Store

    BATCH, TOKENS, DIM = {BATCH}, {TOKENS}, {DIM}
    s = Store(sys.argv[1])
    c = s.get_collection("Dur")
    for b in range(10_000):
        objs = []
        for i in range(BATCH):
            n = b * 1000 + i + 1
            v = np.random.default_rng(n).standard_normal((TOKENS, DIM)).astype(np.float32)
            props = {{"title": f"batch {{b}} item {{i}} tok{{n}}"}}
            objs.append(DataObject(props, uuid=uuid.UUID(int=n), vectors={{"v": v}}))
        print("BEGIN", b, flush=True)
        res = c.insert_many(objs)
        assert not res.errors
        print("ACK", b, flush=True)
    """
).format(BATCH=BATCH, TOKENS=TOKENS, DIM=DIM)


def config() -> CollectionConfig:
    return CollectionConfig(
        "Dur", properties=[Property.create("title", "text")], vectors={"v": VectorConfig.self_provided("v")}
    )


def batch_ids(b: int) -> set[str]:
    return {str(uuidlib.UUID(int=b * 1000 + i + 1)) for i in range(BATCH)}


@pytest.mark.parametrize("seed", range(8))
def test_sigkill_during_batch_inserts(tmp_path: Path, seed: int) -> None:
    with Store(tmp_path) as s:
        s.create_collection(config())
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    rng = np.random.default_rng(seed)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    assert proc.stdout is not None
    acked: set[int] = set()
    begun: list[int] = []
    target = int(rng.integers(3, 8))
    last = ""
    # Bounded: a child that stops writing is killed, so readline() returns "" and the test fails.
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    while len(acked) < target or last != "BEGIN":  # stop right after a batch has started
        line = proc.stdout.readline()
        assert line, "the child died early"
        last, b = line.split()
        (acked.add if last == "ACK" else begun.append)(int(b))
    time.sleep(float(rng.uniform(0, 0.004)))  # land inside that batch's insert (a few ms)
    os.kill(proc.pid, signal.SIGKILL)
    rest = proc.stdout.read()
    proc.wait(30)
    watchdog.cancel()
    for line in rest.splitlines():
        kind, b = line.split()
        (acked.add if kind == "ACK" else begun.append)(int(b))
    in_flight = [b for b in begun if b not in acked]
    assert len(in_flight) <= 1

    with Store(tmp_path) as s:
        c = s.get_collection("Dur")
        have = {r.uuid for r in c.iterator(batch_size=200)}
        want = set().union(*(batch_ids(b) for b in acked))
        assert want <= have, "an acknowledged object was lost"
        extra = have - want
        if extra:  # the batch in flight committed before the kill: all of it, never part
            assert in_flight
            assert extra == batch_ids(in_flight[0])
        # Vectors and BM25 state are usable: every sampled object finds itself.
        for b in sorted(acked)[:: max(1, len(acked) // 3)]:
            n = b * 1000 + 7
            v = np.random.default_rng(n).standard_normal((TOKENS, DIM)).astype(np.float32)
            hit = c.near_vector(v, limit=1)[0]
            assert hit.uuid == str(uuidlib.UUID(int=n))
            np.testing.assert_allclose(hit.metadata.distance, -TOKENS, rtol=1e-3)
            assert c.bm25(f"tok{n}", limit=1)[0].uuid == str(uuidlib.UUID(int=n))
        # And writable.
        c.insert({"title": "after the crash"}, vectors={"v": np.ones((2, DIM), np.float32)})
        assert c.count() == len(have) + 1


def test_failed_commit_leaves_previous_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = Store(tmp_path)
    c = s.create_collection(config())
    rng = np.random.default_rng(0)
    c.insert_many(
        [DataObject({"title": f"t{i}"}, vectors={"v": rng.standard_normal((5, DIM))}) for i in range(10)]
    )
    seg = c.path / "v.0.vec"
    size = seg.stat().st_size
    before = [(r.uuid, r.properties) for r in c.fetch_objects()]

    def boom(key: str, value: str) -> None:
        raise OSError("disk full (injected)")

    monkeypatch.setattr(c, "_meta_set", boom)
    with pytest.raises(OSError, match="injected"):
        c.insert_many(
            [DataObject({"title": "new"}, vectors={"v": rng.standard_normal((5, DIM))}) for _ in range(3)]
        )
    monkeypatch.undo()
    assert seg.stat().st_size == size
    assert [(r.uuid, r.properties) for r in c.fetch_objects()] == before
    c.insert({"title": "fine"}, vectors={"v": rng.standard_normal((5, DIM))})
    assert c.count() == 11
    s.close()
    with Store(tmp_path) as s2:
        assert s2.get_collection("Dur").count() == 11


def test_readers_never_see_half_a_batch(tmp_path: Path) -> None:
    s = Store(tmp_path)
    c = s.create_collection(config())
    rng = np.random.default_rng(0)
    stop = threading.Event()
    seen: list[int] = []

    def read() -> None:
        q = rng.standard_normal((3, DIM)).astype(np.float32)
        while not stop.is_set():
            seen.append(c.count())
            seen.append(len(c.near_vector(q, limit=1000)))

    t = threading.Thread(target=read)
    t.start()
    for b in range(15):
        c.insert_many([DataObject({"title": f"{b}"}, vectors={"v": np.ones((3, DIM))}) for _ in range(BATCH)])
    stop.set()
    t.join(60)
    assert not t.is_alive()
    assert seen
    assert all(n % BATCH == 0 for n in seen)
    s.close()

"""Readers during a write's vectorization, and writers racing each other.

A gated vectorizer blocks inside ``embed_images`` until the test releases it, so a write is held in its
vectorization for as long as the test wants; every read issued meanwhile must answer (bounded by a
timeout, never by the gate) with the state from before the write, and the state after its commit once
released. Racing writers must end where some serial order of the same writes ends.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from store_ref import ref_maxsim, stored

from colweave.store import DataObject, Filter, Store
from colweave.store.bm25 import InvertedIndex
from colweave.store.collection import Collection
from colweave.store.errors import NotFoundError, ObjectError
from conftest import DIM, HashVectorizer

WAIT_S = 20  # bound on every wait: a test that would hang fails instead


class GatedVectorizer(HashVectorizer):
    """HashVectorizer whose image calls wait for ``gate`` (open unless closed) and say they started."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Semaphore(0)

    def embed_images(self, images: list[bytes]) -> list[np.ndarray]:
        self.started.release()
        if not self.gate.wait(WAIT_S):
            raise TimeoutError("the test never released the vectorizer")
        return super().embed_images(images)

    def wait_started(self, n: int = 1) -> None:
        for _ in range(n):
            assert self.started.acquire(timeout=WAIT_S), "the write never reached the vectorizer"


def config(name: str = "Pages", muvera: bool = False) -> dict[str, Any]:
    index: dict[str, Any] = {"multivector": {"enabled": True}}
    if muvera:
        index["multivector"]["muvera"] = {"enabled": True, "ksim": 3, "dprojections": 8, "repetitions": 4}
        index["ef"] = 2  # fewer candidates than objects: MUVERA really chooses
    return {
        "class": name,
        "properties": [
            {"name": "page", "dataType": ["blob"]},
            {"name": "title", "dataType": ["text"]},
        ],
        "vectorConfig": {
            "doc": {
                "vectorizer": {"multi2multivec-weaviate": {"imageFields": ["page"]}},
                "vectorIndexType": "hnsw",
                "vectorIndexConfig": index,
            }
        },
    }


def page(i: int) -> str:
    return base64.b64encode(f"page image {i}".encode() * (1 + i % 3)).decode()


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[tuple[Store, GatedVectorizer]]:
    v = GatedVectorizer()
    s = Store(tmp_path / "data", vectorizer=v)
    yield s, v
    v.gate.set()
    s.close()


def snapshot_of(c: Collection, q: np.ndarray) -> dict[str, Any]:
    """What every kind of read answers now."""
    return {
        "count": c.count(),
        "count_filtered": c.count(Filter.by_property("title").like("*zebra*")),
        "fetch": [(r.uuid, r.properties.get("title")) for r in c.fetch_objects()],
        "near": [(r.uuid, round(r.metadata.distance or 0.0, 3)) for r in c.near_vector(q, limit=10)],
        "bm25": [r.uuid for r in c.bm25("zebra", limit=10)],
        "hybrid": [r.uuid for r in c.hybrid("zebra", vector=q, alpha=0.5, limit=10)],
    }


def bounded(pool: ThreadPoolExecutor, fn: Callable[[], Any]) -> Any:
    """``fn()`` on another thread, failing the test if it waits (for the gated write) instead of answering."""
    fut: Future[Any] = pool.submit(fn)
    return fut.result(timeout=WAIT_S / 2)


@pytest.mark.parametrize("muvera", [False, True])
def test_reads_during_vectorization_see_the_previous_state(
    gated: tuple[Store, GatedVectorizer], muvera: bool
) -> None:
    s, v = gated
    c = s.create_collection(config(muvera=muvera))
    c.insert_many([DataObject({"page": page(i), "title": f"old page {i}"}) for i in range(4)])
    q = np.random.default_rng(1).standard_normal((3, DIM)).astype(np.float32)
    before = snapshot_of(c, q)
    assert before["count"] == 4
    assert before["bm25"] == []
    assert before["count_filtered"] == 0
    new = [DataObject({"page": page(10 + i), "title": f"zebra page {i}"}) for i in range(2)]
    v.gate.clear()
    with ThreadPoolExecutor(2) as pool:
        write = pool.submit(c.insert_many, new)
        v.wait_started()
        # The write is inside its vectorization: every read answers, from the state before it.
        during = bounded(pool, lambda: snapshot_of(c, q))
        assert during == before
        assert not write.done()
        v.gate.set()
        res = write.result(timeout=WAIT_S)
    assert not res.errors
    after = snapshot_of(c, q)
    assert after["count"] == 6
    assert after["count_filtered"] == 2
    assert sorted(after["bm25"]) == sorted(u for u in res.uuids if u is not None)
    # The new objects are searchable with exact MaxSim distances (an independent reference).
    target = c.get(res.uuids[0], include_vector=True)
    assert target is not None
    mine = target.vectors["doc"]
    hits = c.near_vector(mine, limit=1)
    want = ref_maxsim(stored(mine, np.float16).astype(np.float64), stored(mine).astype(np.float64))
    assert hits[0].uuid == res.uuids[0]
    assert hits[0].metadata.distance == pytest.approx(-want, abs=1e-2)


def test_a_reader_never_sees_half_a_batch(gated: tuple[Store, GatedVectorizer]) -> None:
    """Counts taken while batches commit are always a whole number of batches."""
    s, _ = gated
    c = s.create_collection(config())
    batches, size = 6, 5
    stop = threading.Event()
    seen: list[int] = []

    def reader() -> None:
        while not stop.is_set():
            n = c.count()
            fetched = len(c.fetch_objects())
            bm = len(c.bm25("zebra", limit=100))
            seen.extend((n, fetched, bm))

    t = threading.Thread(target=reader)
    t.start()
    try:
        for b in range(batches):
            objs = [DataObject({"page": page(b * size + i), "title": "zebra"}) for i in range(size)]
            assert not c.insert_many(objs).errors
    finally:
        stop.set()
        t.join(WAIT_S)
    assert seen
    assert all(n % size == 0 for n in seen), sorted(set(seen))


@pytest.mark.parametrize("write", ["insert", "replace", "delete"])
def test_a_reader_never_waits_for_a_publish(
    gated: tuple[Store, GatedVectorizer], monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    """A write held inside its publish (after SQLite's COMMIT, while it updates the BM25 index for the
    next published state) does not hold readers: every kind of read answers meanwhile, from the state
    before the write (blobs included, though SQLite already holds the new ones), then the new state."""
    s, _ = gated
    c = s.create_collection(config())
    res = c.insert_many([DataObject({"page": page(i), "title": f"old page {i}"}) for i in range(4)])
    first = res.uuids[0]
    assert first is not None
    q = np.random.default_rng(1).standard_normal((3, DIM)).astype(np.float32)

    def reads() -> dict[str, Any]:
        got = c.get(first)
        return {**snapshot_of(c, q), "first": None if got is None else got.properties}

    before = reads()
    entered, release = threading.Event(), threading.Event()
    hook = "remove" if write == "delete" else "add_many"
    original = getattr(InvertedIndex, hook)

    def held(self: InvertedIndex, *args: Any) -> None:
        entered.set()
        if not release.wait(WAIT_S):
            raise TimeoutError("the test never released the publish")
        original(self, *args)

    monkeypatch.setattr(InvertedIndex, hook, held)
    run: dict[str, Callable[[], Any]] = {
        "insert": lambda: c.insert_many([DataObject({"page": page(20), "title": "zebra page"})]),
        "replace": lambda: c.replace(first, {"page": page(21), "title": "zebra page"}),
        "delete": lambda: c.delete(first),
    }
    with ThreadPoolExecutor(3) as pool:
        try:
            w = pool.submit(run[write])
            assert entered.wait(WAIT_S), "the write never reached its publish"
            during = bounded(pool, reads)
            assert not w.done()
        finally:
            release.set()
        w.result(timeout=WAIT_S)
    monkeypatch.undo()
    assert during == before
    after = reads()
    assert after["count"] == {"insert": 5, "replace": 4, "delete": 3}[write]
    assert after["count_filtered"] == (0 if write == "delete" else 1)
    if write == "replace":
        assert after["first"] is not None
        assert after["first"]["title"] == "zebra page"
        assert after["first"]["page"] == page(21)
    else:
        assert after["first"] == (None if write == "delete" else before["first"])


def test_insert_racing_insert_of_the_same_id(gated: tuple[Store, GatedVectorizer]) -> None:
    s, v = gated
    c = s.create_collection(config())
    u = "00000000-0000-4000-8000-000000000001"
    v.gate.clear()
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(c.insert, {"page": page(1), "title": "first"}, uuid=u)
        v.wait_started()
        # The second insert of the same id commits while the first is vectorizing ...
        c.insert({"title": "second"}, uuid=u)
        v.gate.set()
        # ... so the first, validated again at its commit, finds the id taken, as serially.
        with pytest.raises(ObjectError, match="already exists"):
            first.result(timeout=WAIT_S)
    got = c.get(u)
    assert got is not None
    assert got.properties["title"] == "second"
    assert c.count() == 1


def test_replace_racing_delete(gated: tuple[Store, GatedVectorizer]) -> None:
    s, v = gated
    c = s.create_collection(config())
    u = c.insert({"page": page(1), "title": "one"})
    v.gate.clear()
    with ThreadPoolExecutor(2) as pool:
        rep = pool.submit(c.replace, u, {"page": page(2), "title": "two"})
        v.wait_started()
        assert c.delete(u)
        v.gate.set()
        with pytest.raises(NotFoundError):
            rep.result(timeout=WAIT_S)
    assert c.count() == 0
    assert c.get(u) is None


def test_dimension_fixed_by_another_writer_meanwhile(gated: tuple[Store, GatedVectorizer]) -> None:
    s, v = gated
    c = s.create_collection(config())
    v.gate.clear()
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(c.insert_many, [DataObject({"page": page(1)})])
        v.wait_started()
        # A self-provided vector of another dimension commits first and fixes the dimension.
        c.insert({"title": "x"}, vectors={"doc": np.ones((2, DIM // 2), np.float32)})
        v.gate.set()
        res = slow.result(timeout=WAIT_S)
    assert len(res.errors) == 1
    assert f"dimension {DIM}, the collection uses {DIM // 2}" in res.errors[0].message
    assert c.count() == 1


def test_property_added_by_another_writer_meanwhile(gated: tuple[Store, GatedVectorizer]) -> None:
    s, v = gated
    c = s.create_collection(config())
    v.gate.clear()
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(c.insert_many, [DataObject({"page": page(1), "pages": 3})])
        v.wait_started()
        c.insert({"pages": "three"})  # auto-schema: pages is text now
        v.gate.set()
        res = slow.result(timeout=WAIT_S)
    # Serially, the second write finds pages typed text and its number refused.
    assert len(res.errors) == 1
    assert "pages" in res.errors[0].message
    prop = c.config.property("pages")
    assert prop is not None
    assert prop.data_type == "text"
    assert c.count() == 1


def state_of(c: Collection) -> dict[str, Any]:
    return {
        r.uuid: (
            r.properties,
            {k: np.asarray(x).round(3).tolist() for k, x in r.vectors.items()},
        )
        for r in c.fetch_objects(include_vector=True)
    } | {"schema": sorted((p.name, p.data_type) for p in c.config.properties)}


def test_concurrent_writers_end_as_serial_writers(tmp_path: Path) -> None:
    """Four writers of disjoint batches (with auto-schema properties of their own and one shared),
    all vectorizing at once, end in the state of the same batches written one after another."""

    def batches() -> list[list[DataObject]]:
        return [
            [
                DataObject(
                    {"page": page(w * 10 + i), "title": f"w{w} {i}", f"extra{w}": i, "shared": "s"},
                    uuid=f"00000000-0000-4000-8000-{w:06d}{i:06d}",
                )
                for i in range(5)
            ]
            for w in range(4)
        ]

    serial = Store(tmp_path / "serial", vectorizer=HashVectorizer())
    sc = serial.create_collection(config())
    for b in batches():
        assert not sc.insert_many(b).errors
    want = state_of(sc)
    serial.close()

    v = GatedVectorizer()
    conc = Store(tmp_path / "concurrent", vectorizer=v)
    try:
        cc = conc.create_collection(config())
        v.gate.clear()
        with ThreadPoolExecutor(4) as pool:
            futs = [pool.submit(cc.insert_many, b) for b in batches()]
            v.wait_started(4)  # all four are vectorizing at once
            v.gate.set()
            assert all(not f.result(timeout=WAIT_S).errors for f in futs)
        assert state_of(cc) == want
    finally:
        v.gate.set()
        conc.close()


def test_muvera_encodings_made_before_the_commit_belong_to_their_objects(
    gated: tuple[Store, GatedVectorizer],
) -> None:
    """The encodings made outside the commit lock are stored with the right objects: each slot's row
    equals the encoding of that object's own (normalised) multi-vector, for vectorized pages and
    self-provided vectors mixed in one batch, with an invalid object in between shifting the indices."""
    from colweave.store.segments import muvera_encode

    s, _ = gated
    c = s.create_collection(config(muvera=True))
    rng = np.random.default_rng(3)
    mats = [rng.standard_normal((3 + i, DIM)).astype(np.float32) for i in range(3)]
    objs = [
        DataObject({"page": page(1)}),
        DataObject({}, vectors={"doc": mats[0]}),
        DataObject({"title": "bad"}, vectors={"doc": np.ones((2, DIM + 1), np.float32)}),
        DataObject({"page": page(2)}),
        DataObject({}, vectors={"doc": mats[1]}),
        DataObject({}, vectors={"doc": mats[2]}),
    ]
    res = c.insert_many(objs)
    assert [e.index for e in res.errors] == [2]
    cfg = c.config.vectors["doc"].muvera
    seg = c._segments["doc"]
    snap = seg.snapshot()
    assert snap.fdes is not None
    for u in res.uuids:
        if u is None:
            continue
        doc = c._doc_of[u]
        slot = c._slot_of["doc"][doc]
        obj = objs[res.uuids.index(u)]
        m = (
            np.asarray(obj.vectors["doc"], np.float32)
            if obj.vectors
            else HashVectorizer().embed_images([base64.b64decode(obj.properties["page"])])[0]
        )
        m = m / np.linalg.norm(m, axis=1, keepdims=True)
        want = muvera_encode(cfg, [np.ascontiguousarray(m, np.float32)], is_query=False)[0]
        np.testing.assert_allclose(snap.fdes[slot], want, rtol=1e-5, atol=1e-5)


def test_published_views_let_sqlite_restart_its_wal(gated: tuple[Store, GatedVectorizer]) -> None:
    """Each published view reads blobs through a read transaction of its own commit; some view always
    holding one must not keep SQLite from restarting its WAL: after 16 MB of replaced blobs, each read
    back in between, the WAL is no larger than a few checkpoint intervals (it grew to all 16 MB when
    the views' transactions kept it from restarting)."""
    from colweave.store.published import Published

    s, _ = gated
    c = s.create_collection(
        {
            "class": "Blobs",
            "properties": [{"name": "data", "dataType": ["blob"]}, {"name": "n", "dataType": ["int"]}],
        }
    )
    blob = base64.b64encode(np.random.default_rng(0).bytes(64_000)).decode()
    u = c.insert({"data": blob, "n": 0})
    for i in range(250):
        c.replace(u, {"data": blob, "n": i})
        got = c.get(u)
        assert got is not None
        assert got.properties == {"data": blob, "n": i}
    wal = c.path / "objects.sqlite-wal"
    assert wal.stat().st_size <= 3 * Published.CHECKPOINT_BYTES


def test_a_large_write_does_not_make_every_later_commit_checkpoint(tmp_path: Path) -> None:
    """One write larger than the checkpoint threshold grows the WAL file past it; once checkpointed and
    restarted the file must be cut back, else every later commit would checkpoint (and fsync) first:
    small batches after a large import (the client suite's 100 000 objects twice) ran at half speed."""
    from colweave.store.published import Published

    s = Store(tmp_path / "data")
    c = s.create_collection(
        {
            "class": "Big",
            "properties": [{"name": "data", "dataType": ["blob"]}, {"name": "n", "dataType": ["int"]}],
        }
    )
    blob = base64.b64encode(np.random.default_rng(0).bytes(Published.CHECKPOINT_BYTES + (1 << 20))).decode()
    c.insert({"data": blob, "n": 0})
    wal = c.path / "objects.sqlite-wal"
    assert wal.stat().st_size > Published.CHECKPOINT_BYTES
    c.insert({"n": 1})  # checkpoints the large write (and restarts the WAL)
    c.insert({"n": 2})
    checkpoints: list[str] = []
    assert c._state._ckpt is not None
    c._state._ckpt.set_trace_callback(lambda sql: checkpoints.append(sql) if "checkpoint" in sql else None)
    for i in range(20):
        c.insert({"n": 3 + i})
    assert wal.stat().st_size <= Published.CHECKPOINT_BYTES
    assert checkpoints == []
    assert len(c) == 23
    s.close()


@pytest.mark.parametrize("single", [False, True])
def test_reference_writes_and_dropped_vectors_publish_without_waiting_for_readers(
    tmp_path: Path, single: bool
) -> None:
    """A reader that pinned the published state keeps it while a reference write (or a replace that
    drops a single vector) commits and publishes the next one: the write does not wait for the reader,
    the reader sees the references, reference counts and vector as they were, and the next read sees
    the write."""
    with Store(tmp_path) as s:
        c = s.create_collection(
            {
                "class": "Cites",
                "properties": [
                    {"name": "n", "dataType": ["int"]},
                    {"name": "cites", "dataType": ["Cites"]},
                ],
                "vectorConfig": {
                    "v": {"vectorizer": {"none": {}}, "vectorIndexType": "flat"}
                    if single
                    else {"vectorizer": {"none": {}}, "vectorIndexConfig": {"multivector": {"enabled": True}}}
                },
            }
        )
        vec: Any = [1.0, 0.0, 0.0] if single else [[1.0, 0.0, 0.0]]
        a = c.insert({"n": 1}, vectors={"v": vec})
        b = c.insert({"n": 2}, vectors={"v": vec})
        beacon = f"weaviate://localhost/Cites/{b}"
        one_ref = Filter.by_ref_count("cites").equal(1)

        def state() -> tuple[Any, int, bool]:
            got = c.get(a, include_vector=True)
            assert got is not None
            return got.properties.get("cites"), c.count(one_ref), "v" in got.vectors

        write: Callable[[], Any] = (
            (lambda: c.replace(a, {"n": 1, "cites": [beacon]}))
            if single
            else (lambda: c.add_reference(a, "cites", beacon))
        )
        with ThreadPoolExecutor(1) as pool, c._state.read():
            before = state()
            pool.submit(write).result(timeout=WAIT_S)  # under the old readers-writer lock: a timeout
            assert state() == before
        assert before == (None, 0, True)
        assert state() == ([beacon], 1, not single)

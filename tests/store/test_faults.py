"""Fault injection at every write step: a failure (ENOSPC part way through a write, a failing fsync,
SQLite reporting a full disk) leaves the files and the in-memory state exactly as they were, reports
StorageFullError, and the next write lands exactly (no garbage in front of it), also after a reopen."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from colweave.store import (
    Collection,
    CollectionConfig,
    DataObject,
    MuveraConfig,
    Property,
    StorageFullError,
    Store,
    VectorConfig,
)
from colweave.store import segments as segments_mod

DIM = 8


def config() -> CollectionConfig:
    return CollectionConfig(
        "Faults",
        properties=[Property.create("title", "text"), Property.create("image", "blob")],
        vectors={
            "a": VectorConfig.self_provided(
                "a", muvera=MuveraConfig(True, ksim=2, dprojections=4, repetitions=2)
            ),
            "b": VectorConfig.self_provided("b"),
        },
    )


def unit(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


class Book:
    """What the test has been told is stored: uuid -> (title, a, b)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.objs: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}
        self.n = 0

    def make(self, k: int) -> list[DataObject]:
        out = []
        for _ in range(k):
            self.n += 1
            a = self.rng.standard_normal((1 + self.n % 5, DIM)).astype(np.float32)
            b = self.rng.standard_normal((2 + self.n % 3, DIM)).astype(np.float32)
            props = {
                "title": f"object w{self.n}",
                "image": bytes([self.n % 256]) * 10,
                f"extra{self.n}": self.n,
            }
            u = f"00000000-0000-4000-8000-{self.n:012d}"
            out.append(DataObject(props, uuid=u, vectors={"a": a, "b": b}))
        return out

    def acked(self, objs: list[DataObject]) -> None:
        for o in objs:
            assert o.vectors is not None
            self.objs[str(o.uuid)] = (o.properties["title"], unit(o.vectors["a"]), unit(o.vectors["b"]))

    def verify(self, c: Collection) -> None:
        assert len(c) == len(self.objs)
        for u, (title, a, b) in self.objs.items():
            got = c.get(u, include_vector=True)
            assert got is not None, u
            assert got.properties["title"] == title
            np.testing.assert_array_equal(got.vectors["a"], a)
            np.testing.assert_array_equal(got.vectors["b"], b)
        # And searchable: a sample finds itself by vectors (exact and via MUVERA) and by keyword.
        for u, (title, a, b) in list(self.objs.items())[:: max(1, len(self.objs) // 4)]:
            assert c.near_vector(b, target_vector="b", limit=1)[0].uuid == u
            assert c.near_vector(a, target_vector="a", limit=1)[0].uuid in {
                x for x, v in self.objs.items() if v[1].shape == a.shape and np.array_equal(v[1], a)
            }
            assert c.bm25(title.split()[1], limit=1)[0].uuid == u


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def state(c: Collection) -> dict[str, Any]:
    """Everything a failed write must leave unchanged: vector files byte for byte, SQLite's content,
    the in-memory indexes, and what reads return."""
    files = {p.name: digest(p) for p in sorted(c.path.iterdir()) if p.suffix in (".vec", ".fde")}
    con = sqlite3.connect(f"file:{c.path / 'objects.sqlite'}?mode=ro", uri=True)
    try:
        dump = list(con.iterdump())
    finally:
        con.close()
    segs = {
        n: (s.dim, s.generation, list(s._starts), list(s._docs), s._rows, s._dead)
        for n, s in c._segments.items()
    }
    recs = {d: (r.uuid, json.dumps(r.props, sort_keys=True), sorted(r.blobs)) for d, r in c._recs.items()}
    reads = [
        (r.uuid, json.dumps(r.properties, sort_keys=True), {k: v.tobytes() for k, v in r.vectors.items()})
        for r in c.fetch_objects(include_vector=True)
    ]
    q = np.ones((2, DIM), np.float32)
    searches = (
        [(r.uuid, r.metadata.distance) for r in c.near_vector(q, target_vector="a", limit=5)],
        [(r.uuid, r.metadata.distance) for r in c.near_vector(q, target_vector="b", limit=5)],
        [(r.uuid, r.metadata.score) for r in c.bm25("object", limit=5)],
    )
    return {
        "files": files,
        "sqlite": dump,
        "segments": segs,
        "slot_of": {n: dict(m) for n, m in c._slot_of.items()},
        "recs": recs,
        "doc_of": dict(c._doc_of),
        "config": json.dumps(c.config.to_weaviate(), sort_keys=True),
        "reads": reads,
        "searches": searches,
    }


class Faults:
    """Counts the calls of every write step and makes call ``fail_at`` of step ``kind`` fail: a pwrite
    writes half of its bytes and then raises ENOSPC (a partial write); fsync raises ENOSPC; a SQLite
    statement raises SQLite's disk-full error."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, c: Collection) -> None:
        self.counts = {"pwrite": 0, "fsync": 0, "sqlite": 0}
        self.kind: str | None = None
        self.fail_at = -1
        self.fired = False
        real_pwrite, real_fsync = os.pwrite, os.fsync

        def pwrite(fd: int, data: Any, offset: int) -> int:
            if self._hit("pwrite"):
                view = memoryview(data).cast("B")
                real_pwrite(fd, view[: len(view) // 2], offset)
                raise OSError(errno.ENOSPC, "No space left on device (injected)")
            return real_pwrite(fd, data, offset)

        def fsync(fd: int) -> None:
            if self._hit("fsync"):
                raise OSError(errno.ENOSPC, "No space left on device (injected)")
            real_fsync(fd)

        monkeypatch.setattr(segments_mod.os, "pwrite", pwrite)
        monkeypatch.setattr(segments_mod.os, "fsync", fsync)
        monkeypatch.setattr(c, "_db", _FailingDB(c._db, self))

    def _hit(self, kind: str) -> bool:
        self.counts[kind] += 1
        if self.kind == kind and self.counts[kind] == self.fail_at:
            self.fired = True
            return True
        return False

    def arm(self, kind: str | None, fail_at: int = -1) -> None:
        self.counts = dict.fromkeys(self.counts, 0)
        self.kind, self.fail_at, self.fired = kind, fail_at, False


class _FailingDB:
    def __init__(self, db: sqlite3.Connection, faults: Faults) -> None:
        self._real, self._f = db, faults

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if not sql.startswith(("SELECT", "ROLLBACK")) and self._f._hit("sqlite"):
            raise sqlite3.OperationalError("database or disk is full")
        return self._real.execute(sql, *args)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        if self._f._hit("sqlite"):
            raise sqlite3.OperationalError("database or disk is full")
        return self._real.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.fixture
def coll(tmp_path: Path) -> Iterator[tuple[Store, Collection]]:
    s = Store(tmp_path / "data")
    c = s.create_collection(config(), vector_dtype="float32")
    yield s, c
    s.close()


def each_fault(
    faults: Faults,
    c: Collection,
    op: Callable[[], object],
    same: Callable[[dict[str, Any], dict[str, Any]], bool] = lambda a, b: a == b,
) -> Iterator[tuple[str, int, bool]]:
    """Runs ``op`` with call 1, 2, ... of each write step failing, until a run gets past every call of
    that step. Yields ``(step, k, succeeded)`` after each run: a run that failed has been checked to
    leave the state exactly as before; one that succeeded (nothing failed, or only work after the
    commit, such as compaction, did) is acknowledged."""
    for kind in ("pwrite", "fsync", "sqlite"):
        k = 1
        while True:
            before = state(c)
            faults.arm(kind, k)
            try:
                op()
            except StorageFullError as e:
                faults.arm(None)
                message, code = str(e), e.errno
            else:
                fired = faults.fired
                faults.arm(None)
                yield kind, k, True
                if not fired:
                    break  # the run got past every call of this step
                k += 1
                continue
            assert "disk is full" in message
            assert code == errno.ENOSPC
            assert same(before, state(c)), f"{kind} #{k} changed the state"
            yield kind, k, False
            k += 1


def test_insert_fails_cleanly_at_every_step(
    coll: tuple[Store, Collection], monkeypatch: pytest.MonkeyPatch
) -> None:
    s, c = coll
    book = Book(1)
    first = book.make(6)
    assert not c.insert_many(first).errors
    book.acked(first)
    faults = Faults(monkeypatch, c)
    tried = 0
    pending = [book.make(4)]
    for _, _, ok in each_fault(faults, c, lambda: _insert(c, pending[0])):
        if ok:  # the insert went through: it is acknowledged, and the next one is a new batch
            book.acked(pending[0])
            pending[0] = book.make(4)
        else:
            tried += 1
            # The next write lands exactly, right after the committed rows.
            one = book.make(1)
            _insert(c, one)
            book.acked(one)
        book.verify(c)
    assert tried >= 10  # pwrite a, fde, b; fsync of each file and folder; every SQLite statement
    monkeypatch.undo()
    s.close()
    with Store(s.data_dir) as s2:
        book.verify(s2.get_collection("Faults"))


def _insert(c: Collection, objs: list[DataObject]) -> None:
    res = c.insert_many(objs)
    assert not res.errors, res.errors


def test_first_insert_failure_keeps_the_dimension_unset(
    coll: tuple[Store, Collection], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, c = coll
    faults = Faults(monkeypatch, c)
    faults.arm("sqlite", 1)
    with pytest.raises(StorageFullError):
        c.insert({"title": "x"}, vectors={"b": np.ones((2, DIM), np.float32)})
    faults.arm(None)
    assert c._segments["b"].dim is None
    # A different dimension is still accepted: nothing was stored with the first.
    c.insert({"title": "y"}, vectors={"b": np.ones((2, DIM * 2), np.float32)})
    assert c._segments["b"].dim == DIM * 2


def test_replace_and_delete_fail_cleanly_at_every_step(
    coll: tuple[Store, Collection], monkeypatch: pytest.MonkeyPatch
) -> None:
    s, c = coll
    book = Book(2)
    objs = book.make(8)
    _insert(c, objs)
    book.acked(objs)
    faults = Faults(monkeypatch, c)
    tried = 0
    # Replacing objects tombstones their old slots (and, past half the rows, compacts after the commit).
    for _, _, ok in each_fault(faults, c, lambda: _insert(c, _again(book, objs[:3]))):
        if ok:
            book.acked(objs[:3])
        tried += not ok
        book.verify(c)
    victims = list(book.objs)[:2]
    deleted = False
    for _, _, ok in each_fault(faults, c, lambda: c.delete_many(ids=victims)):
        if ok and not deleted:
            for u in victims:
                del book.objs[u]
            deleted = True
        tried += not ok
        book.verify(c)
    assert tried >= 5
    monkeypatch.undo()
    s.close()
    with Store(s.data_dir) as s2:
        book.verify(s2.get_collection("Faults"))


def _again(book: Book, objs: list[DataObject]) -> list[DataObject]:
    """The same objects (same UUIDs) with new vectors."""
    out = []
    for o in objs:
        assert o.vectors is not None
        o.vectors = {
            k: book.rng.standard_normal(np.shape(v)).astype(np.float32) for k, v in o.vectors.items()
        }
        out.append(o)
    return out


def same_but_compacted(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Equal, except that segments compacted before the failing one stay compacted (each segment's
    compaction is its own transaction; it changes no object)."""
    keys = ("sqlite", "files", "segments", "slot_of")
    if {k: v for k, v in before.items() if k not in keys} != {
        k: v for k, v in after.items() if k not in keys
    }:
        return False
    for name, seg in before["segments"].items():
        new = after["segments"][name]
        if new != seg and not (new[1] == seg[1] + 1 and new[5] == 0 and new[4] == seg[4] - seg[5]):
            return False
        gens = {f.split(".")[1] for f in after["files"] if f.startswith(name + ".")}
        if gens != {str(new[1])}:
            return False
    return True


def test_compaction_fails_cleanly_at_every_step(
    coll: tuple[Store, Collection], monkeypatch: pytest.MonkeyPatch
) -> None:
    s, c = coll
    book = Book(3)
    objs = book.make(10)
    _insert(c, objs)
    book.acked(objs)
    c.delete_many(ids=[str(o.uuid) for o in objs[:3]])  # under half dead: not compacted yet
    for o in objs[:3]:
        del book.objs[str(o.uuid)]
    assert c._segments["a"].dead_rows() > 0
    faults = Faults(monkeypatch, c)
    tried = 0
    for _, _, ok in each_fault(faults, c, c.compact, same_but_compacted):
        tried += not ok  # same_but_compacted checked that only the current generation's files exist
        book.verify(c)
    assert tried >= 5
    assert all(seg.generation >= 1 for seg in c._segments.values())
    assert [seg.dead_rows() for seg in c._segments.values()] == [0, 0]
    more = book.make(3)
    _insert(c, more)
    book.acked(more)
    book.verify(c)
    monkeypatch.undo()
    s.close()
    with Store(s.data_dir) as s2:
        book.verify(s2.get_collection("Faults"))


def test_compaction_failing_after_a_write_does_not_fail_the_write(
    coll: tuple[Store, Collection], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compaction runs after a write has committed: its failure is logged, the write stands, the old
    generation stays, and the next write compacts."""
    _, c = coll
    book = Book(4)
    objs = book.make(6)
    _insert(c, objs)
    book.acked(objs)
    faults = Faults(monkeypatch, c)
    c.delete_many(ids=[str(o.uuid) for o in objs[:2]])
    for o in objs[:2]:
        del book.objs[str(o.uuid)]
    # Deleting two more crosses half of the rows: the delete commits, then compaction writes the next
    # generation (a delete writes nothing else), and that write fails.
    faults.arm("pwrite", 1)
    assert c.delete_many(ids=[str(o.uuid) for o in objs[2:4]]) == 2
    assert faults.fired
    faults.arm(None)
    for o in objs[2:4]:
        del book.objs[str(o.uuid)]
    assert c._segments["a"].generation == 0  # ("b" compacted: its write came second)
    assert not list(c.path.glob("a.1.*"))
    book.verify(c)
    more = book.make(1)
    _insert(c, more)
    book.acked(more)
    assert c._segments["a"].generation == 1
    book.verify(c)


class FailOnCall:
    """Wraps ``real``: call number ``k`` raises ENOSPC."""

    def __init__(self, real: Callable[..., Any], k: int) -> None:
        self.real, self.k, self.n, self.fired = real, k, 0, False

    def __call__(self, *a: Any, **kw: Any) -> Any:
        self.n += 1
        if self.n == self.k:
            self.fired = True
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        return self.real(*a, **kw)


def test_collection_create_and_delete_fail_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    s = Store(data)
    s.create_collection(config())

    def tree() -> list[str]:
        return sorted(
            str(p.relative_to(data)) for p in data.rglob("*") if not p.name.endswith(("-wal", "-shm"))
        )

    before = tree()
    refused = 0
    for step in ("rename", "fsync", "mkdir"):
        for k in range(1, 5):
            monkeypatch.setattr(os, step, FailOnCall(getattr(os, step), k))
            with contextlib.suppress(StorageFullError):
                s.create_collection(CollectionConfig("Other"))
            failed = getattr(os, step).fired
            monkeypatch.undo()
            if failed:
                refused += 1
                assert tree() == before
                assert s.list_collections() == ["Faults"]
            else:
                assert s.list_collections() == ["Faults", "Other"]
                assert s.delete_collection("Other")
                assert tree() == before
    assert refused >= 4
    # Delete: the folder rename fails -> nothing changes.
    monkeypatch.setattr(os, "rename", FailOnCall(os.rename, 1))
    with pytest.raises(StorageFullError, match="disk is full"):
        s.delete_collection("Faults")
    monkeypatch.undo()
    assert tree() == before
    assert s.list_collections() == ["Faults"]
    assert len(s.get_collection("Faults")) == 0
    s.close()
    with Store(data) as s2:
        assert s2.list_collections() == ["Faults"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_quota_and_disk_full_are_storage_full(
    coll: tuple[Store, Collection], monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """EDQUOT (a quota) reads as a full disk too; other OS errors stay what they are."""
    _, c = coll
    real = os.pwrite

    def pwrite(fd: int, data: Any, offset: int) -> int:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(segments_mod.os, "pwrite", pwrite)
    with pytest.raises(StorageFullError, match="disk is full"):
        c.insert({"title": "x"}, vectors={"b": np.ones((2, DIM), np.float32)})
    monkeypatch.setattr(
        segments_mod.os, "pwrite", lambda *a: (_ for _ in ()).throw(OSError(errno.EIO, "I/O"))
    )
    with pytest.raises(OSError, match="I/O") as info:
        c.insert({"title": "x"}, vectors={"b": np.ones((2, DIM), np.float32)})
    assert not isinstance(info.value, StorageFullError)
    monkeypatch.setattr(segments_mod.os, "pwrite", real)
    c.insert({"title": "y"}, vectors={"b": np.ones((2, DIM), np.float32)})
    assert len(c) == 1

"""Collection names never become paths: every Store method checks the name, a bad one changes nothing on
disk anywhere, names are unique case-insensitively, and data directories of the earlier layout
(``collections/<Name>/``) keep opening."""

from __future__ import annotations

import contextlib
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
    AlreadyExistsError,
    CollectionConfig,
    DataObject,
    NotFoundError,
    SchemaError,
    Store,
    VectorConfig,
)
from colweave.store.objects import connect

DIM = 8


def hostile_names(tmp: Path) -> list[Any]:
    return [
        "./Docs",
        "../x",
        "../../x",
        "../../../escaped",
        "Docs/../Docs",
        "Docs/",
        "Docs/x",
        "Docs\\x",
        "/tmp/colweave-absolute-name",
        str(tmp / "absolute"),
        "..",
        ".",
        ".Docs",
        "Docs.",
        "~",
        "%2e%2e",
        "Docs\x00",
        "Docs\n",
        "Do cs",
        "Döcs",
        "Docs;DROP TABLE collections",
        "Docs'",
        "c-" + "0" * 32,  # the store's own folder-id shape
        "1Docs",
        "_Docs",
        "-Docs",
        "A" * 256,
        "A" * 5000,
        "",
        None,
        5,
        b"Docs",
        ["Docs"],
        {"class": "Docs"},
    ]


def listing(*roots: Path) -> dict[str, tuple[int, str]]:
    """Every file and folder under ``roots``: (size, sha256) of files, (-1, "") of folders."""
    out: dict[str, tuple[int, str]] = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for d in dirnames:
                out[os.path.join(dirpath, d)] = (-1, "")
            for f in filenames:
                p = os.path.join(dirpath, f)
                data = Path(p).read_bytes()
                out[p] = (len(data), hashlib.sha256(data).hexdigest())
    return out


@contextlib.contextmanager
def _note(what: str, name: Any) -> Iterator[None]:
    try:
        yield
    except BaseException as e:
        e.add_note(f"{what}({name!r:.60})")
        raise


def config(name: str = "Docs") -> CollectionConfig:
    return CollectionConfig(name, vectors={"v": VectorConfig.self_provided("v")})


def test_hostile_names_are_refused_and_change_nothing(tmp_path: Path) -> None:
    # The data directory sits three levels down so that ``../..`` names would land inside tmp_path.
    data = tmp_path / "a" / "b" / "data"
    s = Store(data)
    docs = s.create_collection(config())
    docs.insert({}, vectors={"v": np.ones((2, DIM), np.float32)})
    before = listing(tmp_path)
    parent_before = sorted(os.listdir(tmp_path.parent))
    calls: list[tuple[str, Callable[[Any], object]]] = [
        ("create(dict)", lambda n: s.create_collection({"class": n})),
        ("create(dict, vectors)", lambda n: s.create_collection({"class": n, "vectorConfig": {}})),
        ("create(config)", lambda n: s.create_collection(CollectionConfig(n))),
        ("get", s.get_collection),
        ("exists", s.exists),
        ("delete", s.delete_collection),
    ]
    tried = 0
    for n in hostile_names(tmp_path):
        for what, call in calls:
            with _note(what, n), pytest.raises(SchemaError, match="class"):
                call(n)
            tried += 1
        assert listing(tmp_path) == before, f"{n!r} changed files"
    assert tried == len(hostile_names(tmp_path)) * len(calls)
    assert sorted(os.listdir(tmp_path.parent)) == parent_before
    assert not Path("/tmp/colweave-absolute-name").exists()
    assert s.list_collections() == ["Docs"]
    assert len(s.get_collection("Docs")) == 1
    s.close()


def test_folders_are_opaque_ids(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        s.create_collection(config("Docs"))
        s.create_collection(config("pages"))
        assert s.list_collections() == ["Docs", "Pages"]
        folders = sorted(p.name for p in (tmp_path / "collections").iterdir())
        assert len(folders) == 2
        assert all(f.startswith("c-") and len(f) == 34 for f in folders), folders


def test_names_are_unique_case_insensitively(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        s.create_collection(config("Docs"))
        for other in ("docs", "DOCS", "DoCs"):
            with pytest.raises(AlreadyExistsError):
                s.create_collection(config(other))
        assert s.list_collections() == ["Docs"]
        assert s.get_collection("docs") is s.get_collection("Docs")  # first letter upper-cased
        with pytest.raises(NotFoundError):
            s.get_collection("DOCS")
        assert not s.exists("DOCS")
        assert s.delete_collection("DOCS") is False
        assert s.exists("Docs")
        assert s.delete_collection("docs") is True
        assert s.list_collections() == []
        assert list((tmp_path / "collections").iterdir()) == []
        s.create_collection(config("DOCS"))  # the name is free again
        assert s.list_collections() == ["DOCS"]


def test_reopen_keeps_the_catalogue(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    v = rng.standard_normal((3, DIM)).astype(np.float32)
    with Store(tmp_path) as s:
        c = s.create_collection(config("Docs"), vector_dtype="float32")
        u = c.insert({}, vectors={"v": v})
        s.create_collection(config("Gone"))
        s.delete_collection("Gone")
    with Store(tmp_path) as s:
        assert s.list_collections() == ["Docs"]
        got = s.get_collection("Docs").get(u, include_vector=True)
        assert got is not None
        np.testing.assert_allclose(got.vectors["v"], v / np.linalg.norm(v, axis=1, keepdims=True), rtol=1e-6)


def make_legacy(data: Path, name: str, n: int) -> list[tuple[str, np.ndarray]]:
    """A data directory of the earlier layout, written as that code did: ``collections/<Name>/``."""
    from colweave.store.collection import Collection

    folder = data / "collections" / name
    folder.mkdir(parents=True)
    db = connect(folder / "objects.sqlite")
    cfg = config(name)
    db.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        [("config", json.dumps(cfg.to_weaviate())), ("vector_dtype", "float32")],
    )
    db.close()
    c = Collection(folder)
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        v = rng.standard_normal((2 + i % 3, DIM)).astype(np.float32)
        out.append((c.insert({"i": i}, vectors={"v": v}), v / np.linalg.norm(v, axis=1, keepdims=True)))
    c.close()
    return out


def test_legacy_layout_keeps_opening(tmp_path: Path) -> None:
    objs = make_legacy(tmp_path, "Old", 5)
    (tmp_path / "collections" / "not a collection").mkdir()
    for _ in range(2):  # adopted on the first open, found in the catalogue on the second
        with Store(tmp_path) as s:
            assert s.list_collections() == ["Old"]
            c = s.get_collection("Old")
            assert len(c) == len(objs) + (0 if _ == 0 else 1)
            for u, v in objs:
                got = c.get(u, include_vector=True)
                assert got is not None
                np.testing.assert_allclose(got.vectors["v"], v, rtol=1e-6)
            if _ == 0:
                c.insert({"i": 99}, vectors={"v": np.ones((2, DIM), np.float32)})
            with pytest.raises(AlreadyExistsError):
                s.create_collection(config("OLD"))
    assert (tmp_path / "collections" / "not a collection").is_dir()  # not ours: left alone
    with Store(tmp_path) as s:
        assert s.delete_collection("Old")
    assert not (tmp_path / "collections" / "Old").exists()
    with Store(tmp_path) as s:  # a deleted legacy collection is not adopted again
        assert s.list_collections() == []


def test_interrupted_create_and_delete_are_cleaned_up(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        s.create_collection(config("Keep"))
        s.create_collection(config("Half"))
        half = s._folder("Half")
        assert half is not None
    root = tmp_path / "collections"
    # A create that renamed its folder but never committed its catalogue row; a delete that renamed the
    # folder away but never committed; temporary folders.
    (root / ("c-" + "a" * 32)).mkdir()
    (root / ("c-" + "a" * 32) / "objects.sqlite").write_bytes(b"")
    os.rename(half, root / f".del-{half.name}-x")
    (root / ".new-c-123").mkdir()
    with Store(tmp_path) as s:
        assert s.list_collections() == ["Keep"]
        kept = s._folder("Keep")
        assert kept is not None
        assert sorted(p.name for p in root.iterdir()) == [kept.name]
        cat = sqlite3.connect(tmp_path / "catalog.sqlite")
        assert cat.execute("SELECT name FROM collections").fetchall() == [("Keep",)]
        cat.close()


def test_batch_objects_into_a_collection_by_any_name_form(tmp_path: Path) -> None:
    """``docs`` and ``Docs`` are one collection: objects written through either read back exactly."""
    with Store(tmp_path) as s:
        s.create_collection(config("Docs"), vector_dtype="float32")
        a = np.eye(2, DIM, dtype=np.float32)
        b = np.eye(3, DIM, k=1, dtype=np.float32)
        ua = s.get_collection("docs").insert_many([DataObject(vectors={"v": a})]).uuids[0]
        ub = s.get_collection("Docs").insert_many([DataObject(vectors={"v": b})]).uuids[0]
    with Store(tmp_path) as s:
        c = s.get_collection("Docs")
        ga, gb = c.get(str(ua), include_vector=True), c.get(str(ub), include_vector=True)
        assert ga is not None
        assert gb is not None
        np.testing.assert_array_equal(ga.vectors["v"], a)
        np.testing.assert_array_equal(gb.vectors["v"], b)

"""Objects: CRUD, batches with per-object errors, auto-schema, blobs, vectors, persistence, compaction."""

from __future__ import annotations

import base64
import datetime as dt
import uuid as uuidlib
from pathlib import Path

import numpy as np
import pytest
from store_ref import stored

from colweave.store import (
    AlreadyExistsError,
    CollectionConfig,
    DataObject,
    Filter,
    NotFoundError,
    ObjectError,
    Property,
    QueryError,
    Store,
    VectorConfig,
)
from conftest import DIM, HashVectorizer


def make(store: Store, name: str = "Docs", **kw: object) -> object:
    cfg = CollectionConfig(
        name,
        properties=[Property.create("title", "text"), Property.create("page", "blob")],
        vectors={"v": VectorConfig.self_provided("v")},
    )
    return store.create_collection(cfg, **kw)  # type: ignore[arg-type]


def vec(seed: int, n: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def test_crud(store: Store) -> None:
    c = make(store)
    u = c.insert({"title": "Hello", "page": b"\x00\x01"}, vectors={"v": vec(1)})
    got = c.get(u, include_vector=True)
    assert got is not None
    assert got.properties == {"title": "Hello", "page": base64.b64encode(b"\x00\x01").decode()}
    np.testing.assert_allclose(got.vectors["v"], stored(vec(1)), atol=0)
    assert got.creation_time == got.last_update_time
    assert got.creation_time.tzinfo is dt.timezone.utc
    with pytest.raises(ObjectError, match="already exists"):
        c.insert({"title": "again"}, uuid=u)
    c.update(u, {"count": 3})
    got2 = c.get(u)
    assert got2 is not None
    assert got2.properties["title"] == "Hello"
    assert got2.properties["count"] == 3.0
    assert got2.creation_time == got.creation_time
    assert got2.last_update_time >= got.last_update_time
    c.replace(u, {"title": "Bye"})
    got3 = c.get(u, include_vector=True)
    assert got3 is not None
    assert got3.properties == {"title": "Bye"}
    assert "v" not in got3.vectors  # a replaced object's self-provided vectors go, as in Weaviate
    with pytest.raises(NotFoundError):
        c.replace(str(uuidlib.uuid4()), {"title": "x"})
    assert c.delete(u)
    assert not c.delete(u)
    assert c.get(u) is None
    assert len(c) == 0


def test_batch_keeps_valid_objects_and_reports_errors(store: Store) -> None:
    c = make(store)
    objs = [
        DataObject({"title": "ok 0"}, vectors={"v": vec(0)}),
        DataObject({"title": 5}),  # wrong type
        DataObject({"title": "ok 2"}, uuid="not-a-uuid"),
        DataObject({"title": "ok 3"}, vectors={"v": np.zeros((2, DIM + 1))}),  # wrong dimension
        DataObject({"title": "ok 4"}, vectors={"nope": vec(4)}),  # unknown vector
        DataObject({"title": "ok 5"}, vectors={"v": np.full((2, DIM), np.nan)}),
        DataObject({"title": "ok 6"}),
    ]
    res = c.insert_many(objs)
    assert [e.index for e in res.errors] == [1, 2, 3, 4, 5]
    assert "expected text" in res.errors[0].message
    assert "dimension" in res.errors[2].message
    assert res.uuids[0] is not None
    assert res.uuids[6] is not None
    assert res.uuids[1] is None
    assert len(c) == 2
    assert c.count(Filter.by_property("title").equal("ok")) == 2


def test_batch_upserts_and_last_duplicate_wins(store: Store) -> None:
    c = make(store)
    u = str(uuidlib.uuid4())
    c.insert_many([DataObject({"title": "first"}, uuid=u)])
    res = c.insert_many([DataObject({"title": "second"}, uuid=u), DataObject({"title": "third"}, uuid=u)])
    assert res.uuids == [u, u]
    assert len(c) == 1
    got = c.get(u)
    assert got is not None
    assert got.properties["title"] == "third"


def test_auto_schema_adds_properties(store: Store) -> None:
    c = make(store)
    c.insert({"title": "t", "year": 2020, "tags": ["alpha", "b"], "when": "2024-05-01T10:00:00Z", "ok": True})
    types = {p.name: p.data_type for p in c.config.properties}
    assert types == {
        "title": "text",
        "page": "blob",
        "year": "number",
        "tags": "text[]",
        "when": "date",
        "ok": "boolean",
    }
    # The new text property is searchable and persisted in the schema.
    assert c.bm25("alpha")[0].properties["tags"] == ["alpha", "b"]
    with pytest.raises(ObjectError, match="expected a number"):
        c.insert({"year": "twenty"})


def test_cursor_iteration_and_fetch(store: Store) -> None:
    c = make(store)
    ids = sorted(str(uuidlib.uuid4()) for _ in range(25))
    c.insert_many([DataObject({"title": f"t{i}"}, uuid=u) for i, u in enumerate(ids)])
    assert [r.uuid for r in c.iterator(batch_size=7)] == ids
    page = c.fetch_objects(limit=5, after=ids[9])
    assert [r.uuid for r in page] == ids[10:15]
    assert [r.uuid for r in c.fetch_objects(limit=3, offset=2)] == ids[2:5]
    assert [r.uuid for r in c.fetch_objects(filters=Filter.by_id().contains_any(ids[3:5]))] == ids[3:5]
    assert all("page" not in r.properties for r in page)  # blobs only when asked for


def test_delete_many(store: Store) -> None:
    c = make(store)
    c.insert_many([DataObject({"title": f"item {i}", "n": i}, vectors={"v": vec(i)}) for i in range(10)])
    assert c.delete_many(filters=Filter.by_property("n").less_than(4)) == 4
    assert c.count() == 6
    some = [r.uuid for r in c.fetch_objects(limit=2)]
    assert c.delete_many(ids=some) == 2
    assert c.count() == 4
    with pytest.raises(QueryError):
        c.delete_many()


def test_vectorizer_is_called_for_image_fields(tmp_path: Path) -> None:
    vz = HashVectorizer()
    s = Store(tmp_path, vectorizer=vz)
    cfg = CollectionConfig(
        "Pages",
        properties=[Property.create("doc_page", "blob")],
        vectors={"document": VectorConfig.multi2multivec("document", ["doc_page"])},
    )
    c = s.create_collection(cfg)
    img = base64.b64encode(b"fake image bytes").decode()
    u = c.insert({"doc_page": img, "title": "A holiday film"})
    got = c.get(u, include_vector=True)
    assert got is not None
    (want,) = vz.embed_images([b"fake image bytes"])
    np.testing.assert_allclose(got.vectors["document"], stored(want), atol=0)
    # A merge that does not touch the image keeps the vector without calling the vectorizer.
    calls = vz.image_calls
    c.update(u, {"title": "new title"})
    assert vz.image_calls == calls
    hits = c.near_text("holiday", limit=1)
    assert hits[0].uuid == u
    s.close()
    s2 = Store(tmp_path)  # no vectorizer: inserts needing one fail per object, clearly
    res = s2.get_collection("Pages").insert_many([DataObject({"doc_page": img})])
    assert "no vectorizer" in res.errors[0].message
    s2.close()


def test_reopen_restores_everything(tmp_path: Path) -> None:
    s = Store(tmp_path)
    c = make(s)
    c.insert_many(
        [DataObject({"title": f"cat {i}", "page": b"x" * i}, vectors={"v": vec(i)}) for i in range(12)]
    )
    c.delete_many(filters=Filter.by_property("title").equal("3"))
    before = {r.uuid: r for r in c.fetch_objects(include_vector=True, return_properties=["title", "page"])}
    q = vec(100, 3)
    nv = [(r.uuid, r.metadata.distance) for r in c.near_vector(q, limit=5)]
    kw = [(r.uuid, r.metadata.score) for r in c.bm25("cat", limit=5)]
    s.close()
    s = Store(tmp_path)
    assert s.list_collections() == ["Docs"]
    c = s.get_collection("docs")
    after = {r.uuid: r for r in c.fetch_objects(include_vector=True, return_properties=["title", "page"])}
    assert before.keys() == after.keys()
    for u in before:
        assert before[u].properties == after[u].properties
        np.testing.assert_array_equal(before[u].vectors["v"], after[u].vectors["v"])
    assert [(r.uuid, r.metadata.distance) for r in c.near_vector(q, limit=5)] == nv
    assert [(r.uuid, r.metadata.score) for r in c.bm25("cat", limit=5)] == kw
    s.close()


def test_compaction_reclaims_space_and_keeps_results(tmp_path: Path) -> None:
    s = Store(tmp_path)
    c = make(s)
    c.insert_many([DataObject({"title": f"t {i}", "n": i}, vectors={"v": vec(i, 50)}) for i in range(40)])
    seg = c.path / "v.0.vec"
    size0 = seg.stat().st_size
    q = vec(7, 3)
    c.delete_many(filters=Filter.by_property("n").less_than(15))  # < half: tombstones only
    assert seg.exists()
    assert seg.stat().st_size == size0
    want = [(r.uuid, r.metadata.distance) for r in c.near_vector(q, limit=40)]
    c.delete_many(filters=Filter.by_property("n").less_than(25))  # > half dead: compacts
    left = {r.uuid for r in c.fetch_objects()}
    assert not seg.exists()
    new = c.path / "v.1.vec"
    assert new.stat().st_size == 15 * 50 * DIM * 2
    got = [(r.uuid, r.metadata.distance) for r in c.near_vector(q, limit=10)]
    assert got == [x for x in want if x[0] in left][:10]
    s.close()
    s = Store(tmp_path)
    c = s.get_collection("Docs")
    assert [(r.uuid, r.metadata.distance) for r in c.near_vector(q, limit=10)] == got
    c.insert({"title": "after"}, vectors={"v": vec(999, 50)})
    assert c.near_vector(vec(999, 50), limit=1)[0].properties["title"] == "after"
    s.close()


def test_float32_storage(tmp_path: Path) -> None:
    s = Store(tmp_path)
    c = make(s, vector_dtype="float32")
    u = c.insert({"title": "x"}, vectors={"v": vec(1)})
    got = c.get(u, include_vector=True)
    assert got is not None
    np.testing.assert_allclose(got.vectors["v"], stored(vec(1), np.float32), rtol=1e-7)
    c.insert({"title": "y"}, vectors={"v": vec(2)})
    (hit, _) = c.near_vector(vec(1), limit=2)
    assert hit.uuid == u
    np.testing.assert_allclose(hit.metadata.distance, -4.0, rtol=1e-6)  # 4 unit tokens matching themselves
    assert (c.path / "v.0.vec").stat().st_size == 2 * 4 * DIM * 4
    s.close()


def test_collections_are_independent(store: Store) -> None:
    a = make(store, "A")
    b = make(store, "B")
    a.insert({"title": "only in a"})
    assert len(b) == 0
    with pytest.raises(AlreadyExistsError):
        make(store, "A")
    assert store.delete_collection("a")
    assert not store.delete_collection("a")  # idempotent
    assert store.list_collections() == ["B"]
    with pytest.raises(NotFoundError):
        store.get_collection("A")


class FlakyVectorizer(HashVectorizer):
    """Rejects images starting with b"bad", like an encoder given undecodable bytes."""

    def embed_images(self, images: list[bytes]) -> list[np.ndarray]:
        if any(i.startswith(b"bad") for i in images):
            raise ValueError("cannot decode image")
        return super().embed_images(images)


def test_a_bad_image_fails_only_its_object(tmp_path: Path) -> None:
    s = Store(tmp_path, vectorizer=FlakyVectorizer())
    cfg = CollectionConfig(
        "Pages",
        properties=[Property.create("doc_page", "blob")],
        vectors={"document": VectorConfig.multi2multivec("document", ["doc_page"])},
    )
    c = s.create_collection(cfg)
    res = c.insert_many([DataObject({"doc_page": b"good one"}), DataObject({"doc_page": b"bad one"})])
    assert [e.index for e in res.errors] == [1]
    assert "cannot decode image" in res.errors[0].message
    assert len(c) == 1
    s.close()


def test_one_store_per_data_directory(tmp_path: Path) -> None:
    from colweave.store import StoreError

    s = Store(tmp_path)
    with pytest.raises(StoreError, match="in use"):
        Store(tmp_path)
    s.close()
    Store(tmp_path).close()  # released on close


def test_crash_during_compaction_keeps_the_old_generation(tmp_path: Path) -> None:
    s = Store(tmp_path)
    c = make(s)
    c.insert_many([DataObject({"title": f"t {i}"}, vectors={"v": vec(i, 6)}) for i in range(10)])
    seg = c._segments["v"]
    q = vec(3, 2)
    want = [(r.uuid, r.metadata.distance) for r in c.near_vector(q, limit=10)]
    seg.compact_to(seg.generation + 1)  # new files written, SQLite never told: as if killed here
    assert (c.path / "v.1.vec").exists()
    s.close()
    s = Store(tmp_path)
    c = s.get_collection("Docs")
    assert not (c.path / "v.1.vec").exists()  # the unreferenced generation is removed
    assert [(r.uuid, r.metadata.distance) for r in c.near_vector(q, limit=10)] == want
    s.close()


def test_incremental_bm25_index_equals_a_rebuild(tmp_path: Path) -> None:
    s = Store(tmp_path)
    c = make(s)
    words = ["cat", "dog", "film", "snow", "winter", "beach", "river"]
    rng = np.random.default_rng(0)
    ids = c.insert_many(
        [DataObject({"title": " ".join(rng.choice(words, 5)), "n": i}) for i in range(30)]
    ).uuids
    for u in ids[:5]:
        assert u is not None
        c.update(u, {"title": "cat cat river"})
    for u in ids[5:10]:
        assert u is not None
        c.replace(u, {"note": "no title any more"})
    c.delete_many(ids=[u for u in ids[10:15] if u is not None])
    queries = ["cat", "river winter", "snow beach dog", "film"]
    before = [[(r.uuid, r.metadata.score) for r in c.bm25(q, limit=30)] for q in queries]
    s.close()
    s = Store(tmp_path)
    c = s.get_collection("Docs")  # the index is rebuilt from SQLite
    assert [[(r.uuid, r.metadata.score) for r in c.bm25(q, limit=30)] for q in queries] == before
    s.close()


def test_property_names_take_weaviates_lower_case_first_letter(store: Store) -> None:
    c = store.create_collection(
        CollectionConfig(
            "Case", properties=[Property.create("Title", "text"), Property.create("pageNo", "int")]
        )
    )
    assert [p.name for p in c.config.properties] == ["title", "pageNo"]
    u = c.insert({"Title": "A page", "PageNo": 3, "Extra": True}, vectors=None)
    got = c.get(u)
    assert got is not None
    assert got.properties == {"title": "A page", "pageNo": 3, "extra": True}
    assert [p.name for p in c.config.properties][2:] == ["extra"]  # auto-schema lower-cases too
    res = c.insert_many([DataObject({"title": "x"}), DataObject({"PageNo": 4})])
    assert not res.has_errors
    assert c.count(Filter.by_property("PageNo").greater_than(3)) == 1
    assert c.count(Filter.by_property("Title").equal("page")) == 1
    with pytest.raises(ObjectError, match="given twice"):
        DataObject({"Title": "a", "title": "b"})
    assert len(c) == 3


def test_every_published_bm25_index_keeps_its_own_scores(tmp_path: Path, monkeypatch) -> None:
    """Each write publishes a BM25 index that shares its term lists and document lengths with the one
    before (copy-on-write); a reader still holding an earlier one must keep scoring exactly the objects
    of its own state. Every index published along a run of inserts, replaces (lengths that change),
    deletes and batches scores, at the end, as Weaviate's formula does over the objects of its state
    (small copy-on-write levels, so that merges and flattening happen on the way); most queries' terms
    are searched in the earlier indexes only then, so no cached arrays can hide a shared list changed."""
    from store_ref import ref_bm25

    from colweave.store import cow

    monkeypatch.setattr(cow, "TOP_AT", 2)
    monkeypatch.setattr(cow, "FLATTEN_AT", 4)
    s = Store(tmp_path)
    c = s.create_collection(
        CollectionConfig(
            "Words", properties=[Property.create("title", "text"), Property.create("tags", "text[]")]
        )
    )
    words = ["cat", "dog", "film", "snow", "winter", "beach", "river", "night"]
    rng = np.random.default_rng(7)

    def obj() -> dict[str, object]:
        return {
            "title": " ".join(rng.choice(words, int(rng.integers(1, 7)))),
            "tags": list(rng.choice(words, int(rng.integers(1, 3)))),
        }

    queries = ["cat", "river winter", "snow beach dog", "night film film"]
    ids = [u for u in c.insert_many([DataObject(obj()) for _ in range(20)]).uuids if u is not None]
    views = []
    for step in range(80):
        v = c._state.current
        v.bm25.search(queries[0], 50)  # a reader of each state (makes its arrays, as searches do)
        views.append(v)
        op = step % 4
        if op == 0:
            ids.append(c.insert(obj()))
        elif op == 1:
            c.replace(ids[int(rng.integers(len(ids)))], obj())
        elif op == 2 and len(ids) > 5:
            c.delete(ids.pop(int(rng.integers(len(ids)))))
        else:
            ids += [u for u in c.insert_many([DataObject(obj()) for _ in range(3)]).uuids if u is not None]
    views.append(c._state.current)
    for v in views:
        objs = [(r.uuid, r.props) for _, r in sorted(v.recs.items())]
        for q in queries:
            want = dict(ref_bm25(objs, q, [("title", 1.0), ("tags", 1.0)]))
            docs, scores = v.bm25.search(q, 1000)
            got = {v.recs[int(d)].uuid: float(x) for d, x in zip(docs, scores, strict=True)}
            assert got.keys() == want.keys()
            np.testing.assert_allclose([got[u] for u in want], list(want.values()), rtol=1e-5)
    s.close()

"""Cross-references and sorting in the embedded store (the library API, no server): reference properties,
inline references, reference writes, merges that keep them, following them in filters and results, their
durability across reopening, and sorting a fetch."""

from __future__ import annotations

import uuid as uuidlib
from pathlib import Path

import pytest

from colweave.store import CollectionConfig, Filter, NotFoundError, ObjectError, Property, QueryError, Store
from colweave.store.errors import FilterError, SchemaError
from colweave.store.ref_writes import ReferenceWrite
from colweave.store.references import RefQuery, resolve_filter, resolve_references

U = [str(uuidlib.UUID(f"00000000-0000-4000-8000-{i:012d}")) for i in range(10)]
B = "weaviate://localhost/"


def _two(store: Store):
    tgt = store.create_collection(CollectionConfig("Tgt", properties=[Property.create("n", "int")]))
    for i in range(3):
        tgt.insert({"n": i}, uuid=U[i])
    src = store.create_collection(
        CollectionConfig(
            "Src", properties=[Property.create("name", "text"), Property.reference("ref", "Tgt")]
        )
    )
    return tgt, src


def test_reference_writes_and_their_stored_form(store: Store) -> None:
    _, src = _two(store)
    # a beacon without its collection gets the property's one target; uuids are lower-cased
    a = src.insert({"name": "a", "ref": [{"beacon": B + U[1].upper()}]}, uuid=U[5])
    src.add_reference(a, "ref", f"{B}Tgt/{U[2]}")
    src.add_references([ReferenceWrite(a, "ref", f"{B}{U[1]}"), ReferenceWrite(U[9], "ref", f"{B}{U[1]}")])
    got = src.get(a)
    assert got is not None
    assert got.properties["ref"] == [f"{B}Tgt/{U[1]}", f"{B}Tgt/{U[2]}", f"{B}Tgt/{U[1]}"]
    # a merge (PATCH) of another property keeps the references, even dangling ones
    store.get_collection("Tgt").delete(U[2])
    src.update(a, {"name": "b"})
    got = src.get(a)
    assert got is not None
    assert got.properties == {"name": "b", "ref": [f"{B}Tgt/{U[1]}", f"{B}Tgt/{U[2]}", f"{B}Tgt/{U[1]}"]}
    assert src.delete_reference(a, "ref", f"{B}{U[1]}")
    assert not src.delete_reference(a, "ref", f"{B}{U[1]}")
    got = src.get(a)
    assert got is not None
    assert got.properties["ref"] == [f"{B}Tgt/{U[2]}"]
    src.replace_references(a, "ref", [])
    got = src.get(a)
    assert got is not None
    assert got.properties["ref"] == []


def test_bad_reference_writes_change_nothing(store: Store) -> None:
    _, src = _two(store)
    a = src.insert({"name": "a", "ref": [{"beacon": f"{B}Tgt/{U[0]}"}]})
    with pytest.raises(ObjectError, match="no object with id"):
        src.add_reference(a, "ref", f"{B}Tgt/{U[8]}")
    with pytest.raises(ObjectError, match="cannot reference collection 'Src'"):
        src.add_reference(a, "ref", f"{B}Src/{a}")
    with pytest.raises(ObjectError, match="is not a reference-type"):
        src.add_reference(a, "name", f"{B}Tgt/{U[1]}")
    with pytest.raises(NotFoundError):
        src.add_reference(U[8], "ref", f"{B}Tgt/{U[1]}")
    with pytest.raises(ObjectError, match="reference must be an array"):
        src.insert({"ref": {"beacon": f"{B}Tgt/{U[1]}"}})
    with pytest.raises(ObjectError, match="no object with id"):
        src.insert({"ref": [{"beacon": f"{B}Tgt/{U[8]}"}]})
    got = src.get(a)
    assert got is not None
    assert got.properties["ref"] == [f"{B}Tgt/{U[0]}"]
    assert len(src) == 1
    with pytest.raises(SchemaError, match="nonexistent class"):
        store.create_collection(CollectionConfig("Bad", properties=[Property.reference("r", "Nope")]))
    with pytest.raises(SchemaError, match="nonexistent class"):
        store.add_property("Src", Property.reference("r2", "Nope"))


def test_following_references_in_filters_and_results(store: Store) -> None:
    _, src = _two(store)
    src.insert({"name": "none"}, uuid=U[5])
    src.insert({"name": "one", "ref": [{"beacon": f"{B}Tgt/{U[1]}"}]}, uuid=U[6])
    src.insert(
        {"name": "two", "ref": [{"beacon": f"{B}Tgt/{U[2]}"}, {"beacon": f"{B}Tgt/{U[0]}"}]}, uuid=U[7]
    )
    f = Filter.by_ref("ref").by_property("n").greater_than(1)
    with pytest.raises(FilterError, match="resolve_filter"):
        src.fetch_objects(filters=f)
    assert [r.uuid for r in src.fetch_objects(filters=resolve_filter(store, src.config, f))] == [U[7]]
    assert src.count(Filter.by_ref_count("ref").less_than(2)) == 2
    rows = src.fetch_objects()
    refs = resolve_references(store, src.config, rows, [RefQuery("ref", return_properties=["n"])])
    got = {
        r.uuid: [(x.collection, x.object.uuid, x.object.properties) for x in m.get("ref", [])]
        for r, m in zip(rows, refs, strict=True)
    }
    assert got == {
        U[5]: [],
        U[6]: [("Tgt", U[1], {"n": 1})],
        U[7]: [("Tgt", U[2], {"n": 2}), ("Tgt", U[0], {"n": 0})],
    }
    assert "ref" not in refs[0]  # the object without the property has no entry


def test_references_survive_reopening(tmp_path: Path) -> None:
    with Store(tmp_path / "d") as store:
        _, src = _two(store)
        src.insert({"name": "a"}, uuid=U[5])
        src.add_reference(U[5], "ref", f"{B}Tgt/{U[1]}")
    with Store(tmp_path / "d") as store:
        src = store.get_collection("Src")
        got = src.get(U[5])
        assert got is not None
        assert got.properties["ref"] == [f"{B}Tgt/{U[1]}"]
        assert src.config.property("ref").targets == ["Tgt"]  # type: ignore[union-attr]
        src.add_reference(U[5], "ref", f"{B}Tgt/{U[2]}")  # the store is attached again after reopening


def test_sorting_a_fetch(store: Store) -> None:
    c = store.create_collection(
        CollectionConfig("S", properties=[Property.create("t", "text"), Property.create("n", "number")])
    )
    for i, (t, n) in enumerate([("b", 1.0), ("A", None), (None, 3.0), ("a", 2.0)]):
        c.insert({"t": t, "n": n}, uuid=U[i])
    assert [r.uuid for r in c.fetch_objects(sort=[("t", True)])] == [U[2], U[1], U[3], U[0]]
    assert [r.uuid for r in c.fetch_objects(sort=[("t", False), ("n", False)])] == [U[0], U[3], U[1], U[2]]
    assert [r.uuid for r in c.fetch_objects(sort=[("n", True)], limit=2, offset=1)] == [U[0], U[3]]
    with pytest.raises(QueryError, match="sort cannot be set with after"):
        c.fetch_objects(sort=[("t", True)], after=U[0])
    assert (
        c.fetch_objects(sort=[("_id", False)], filters=Filter.by_property("n").greater_than(1))[0].uuid
        == U[3]
    )
    with pytest.raises(QueryError, match="no such prop with name 'x'"):
        c.fetch_objects(sort=[("x", True)])

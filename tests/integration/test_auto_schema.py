"""Weaviate's auto-schema switch (AUTOSCHEMA_ENABLED; colweave: ``--no-auto-schema``) through the real client:
on (the default) an object's unknown properties join its collection; off they are that object's error and
the batch's other objects are stored (the client suite's ``test_insert_many_error`` runs with it off)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import weaviate
from tests.server.conftest import HashModel, RunningServer, start_server
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.data import DataObject


def _connect(s: RunningServer) -> Any:
    return weaviate.connect_to_local(
        port=int(s.http.rsplit(":", 1)[1]), grpc_port=int(s.grpc.rsplit(":", 1)[1])
    )


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[Any]:
    s = start_server(HashModel(), data_dir=tmp_path / "data", no_auto_schema=True)
    client = _connect(s)
    try:
        yield client
    finally:
        client.close()
        s.stop()


def _objects() -> list[DataObject[dict[str, Any], None]]:
    return [
        DataObject(properties={"wrong_name": "some name"}, vector=[1, 2, 3]),
        DataObject(properties={"name": "some other name", "gone": None}, uuid=uuid.uuid4()),
        DataObject(properties={"OtherThing": "is_wrong"}, vector=[1, 2, 3]),
    ]


def test_unknown_properties_are_the_objects_errors_without_auto_schema(strict: Any) -> None:
    c = strict.collections.create(
        "Strict",
        properties=[Property(name="Name", data_type=DataType.TEXT)],
        vector_config=Configure.Vectors.self_provided(),
    )
    ret = c.data.insert_many(_objects())
    assert ret.has_errors
    assert sorted(ret.errors) == [0, 2]
    # Weaviate's message, with the name as the schema would hold it (first letter lower-cased)
    assert ret.errors[0].message.startswith("no such prop with name 'wrong_name' found in class 'Strict'")
    assert "'otherThing'" in ret.errors[2].message
    assert c.query.fetch_object_by_id(ret.uuids[1]).properties == {
        "name": "some other name"
    }  # a null is no value
    assert [p.name for p in c.config.get().properties] == ["name"]  # nothing added
    assert len(c) == 1
    # REST inserts too, and the server keeps serving
    with pytest.raises(weaviate.exceptions.UnexpectedStatusCodeError, match="no such prop with name 'extra'"):
        c.data.insert({"name": "x", "extra": 1})
    assert len(c) == 1
    c.data.insert({"name": "y"})
    assert len(c) == 2


def test_unknown_properties_join_the_collection_with_auto_schema(served: tuple[RunningServer, Any]) -> None:
    _, client = served
    c = client.collections.create(
        "Loose",
        properties=[Property(name="Name", data_type=DataType.TEXT)],
        vector_config=Configure.Vectors.self_provided(),
    )
    ret = c.data.insert_many(_objects())
    assert not ret.has_errors
    props = {p.name: p.data_type for p in c.config.get().properties}
    assert props == {"name": DataType.TEXT, "wrong_name": DataType.TEXT, "otherThing": DataType.TEXT}
    assert len(c) == 3

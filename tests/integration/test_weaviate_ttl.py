"""Object time-to-live through the real client (``object_ttl_config=Configure.ObjectTTL...``): the config as
Weaviate takes and returns it, expired objects left out of searches over gRPC, and deleted by the
server's background sweep. The store's rules with an injected clock: tests/store/test_ttl.py."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import weaviate
from tests.server.conftest import HashModel, start_server
from weaviate.classes.config import Configure, DataType, Property, Reconfigure
from weaviate.classes.query import Filter


@pytest.fixture
def sweeping(tmp_path: Path) -> Iterator[Any]:
    """A server that looks for expired objects every 50 ms."""
    s = start_server(HashModel(), data_dir=tmp_path / "data", ttl_sweep_s=0.05)
    client = weaviate.connect_to_local(
        port=int(s.http.rsplit(":", 1)[1]), grpc_port=int(s.grpc.rsplit(":", 1)[1])
    )
    try:
        yield client
    finally:
        client.close()
        s.stop()


def test_config_round_trips_and_updates_as_in_weaviate(served: Any) -> None:
    _, client = served
    c = client.collections.create(
        "Ttl",
        object_ttl_config=Configure.ObjectTTL.delete_by_creation_time(
            time_to_live=dt.timedelta(days=30), filter_expired_objects=True
        ),
    )
    conf = c.config.get()
    assert conf.object_ttl_config is not None
    assert conf.object_ttl_config.delete_on == "creationTime"
    assert conf.object_ttl_config.time_to_live == dt.timedelta(days=30)
    assert conf.object_ttl_config.filter_expired_objects
    assert conf.inverted_index_config.index_timestamps  # turned on for the timestamps, as Weaviate does
    # too short a time-to-live on the timestamps: Weaviate's 422
    with pytest.raises(weaviate.exceptions.UnexpectedStatusCodeError, match="defaultTtl value too small"):
        client.collections.create(
            "Short",
            object_ttl_config=Configure.ObjectTTL.delete_by_update_time(time_to_live=dt.timedelta(seconds=5)),
        )
    assert not client.collections.exists("Short")

    d = client.collections.create(
        "Dated",
        properties=[
            Property(name="due", data_type=DataType.DATE),
            Property(name="n", data_type=DataType.INT),
        ],
    )
    assert d.config.get().object_ttl_config is None
    d.config.update(
        object_ttl_config=Reconfigure.ObjectTTL.delete_by_date_property(
            property_name="due", filter_expired_objects=True, ttl_offset=3600
        )
    )
    conf = d.config.get()
    assert conf.object_ttl_config is not None
    assert (conf.object_ttl_config.delete_on, conf.object_ttl_config.time_to_live) == (
        "due",
        dt.timedelta(hours=1),
    )
    with pytest.raises(weaviate.exceptions.UnexpectedStatusCodeError, match='should have "date" data type'):
        d.config.update(object_ttl_config=Reconfigure.ObjectTTL.delete_by_date_property(property_name="n"))
    d.config.update(object_ttl_config=Reconfigure.ObjectTTL.disable())
    assert d.config.get().object_ttl_config is None


def test_expired_objects_are_left_out_of_searches_and_deleted_in_the_background(sweeping: Any) -> None:
    client = sweeping
    c = client.collections.create(
        "Dated",
        properties=[
            Property(name="due", data_type=DataType.DATE),
            Property(name="word", data_type=DataType.TEXT),
        ],
        vector_config=Configure.Vectors.self_provided(),
        object_ttl_config=Configure.ObjectTTL.delete_by_date_property(
            property_name="due", filter_expired_objects=True, ttl_offset=-60
        ),
    )
    now = dt.datetime.now(dt.timezone.utc)
    future = c.data.insert({"due": now + dt.timedelta(days=1), "word": "w"}, vector=[1.0, 0.0])
    undated = c.data.insert({"word": "w"}, vector=[0.0, 1.0])
    # the sweep may come at any moment: every search sees at most the unexpired objects, and the
    # expired ones leave for good within the deadline
    past = c.data.insert({"due": now - dt.timedelta(days=1), "word": "w"}, vector=[1.0, 1.0])
    keep = {future, undated}
    assert {o.uuid for o in c.query.fetch_objects().objects} == keep
    assert {o.uuid for o in c.query.bm25("w").objects} == keep
    assert {o.uuid for o in c.query.near_vector([1.0, 1.0]).objects} == keep
    # "due" 30 s from now with ttl_offset -60 s: expired already
    soon = c.data.insert({"due": now + dt.timedelta(seconds=30), "word": "w"}, vector=[1.0, 0.5])
    assert {
        o.uuid for o in c.query.fetch_objects(filters=Filter.by_property("word").equal("w")).objects
    } == keep
    deadline = time.monotonic() + 30
    assert c.query.fetch_object_by_id(past) is None  # a gRPC fetch by id is a search: filtered
    while c.data.exists(past) or c.data.exists(soon):  # REST reads the stored objects: deleted yet?
        assert time.monotonic() < deadline, "the expired objects were not deleted"
        time.sleep(0.02)
    assert len(c) == 2
    assert {o.uuid for o in c.query.fetch_objects().objects} == keep


def test_a_write_whose_object_is_deleted_before_it_is_read_back_still_answers_200(
    served: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep (or any delete) may remove an object between its write and the read of its reply: the
    write succeeded, so the reply is the object as written (it was a 500 from an assertion)."""
    s, client = served
    c = client.collections.create("Raced", properties=[Property(name="word", data_type=DataType.TEXT)])
    coll = s.server.state.store.get_collection("Raced")
    real_get = type(coll).get

    def deleted_first(self: Any, uuid: Any, *args: Any, **kwargs: Any) -> Any:
        self.delete(uuid)  # what a concurrent delete does between the write and the read
        return real_get(self, uuid, *args, **kwargs)

    monkeypatch.setattr(type(coll), "get", deleted_first)
    u = c.data.insert({"word": "w"})
    assert u is not None
    monkeypatch.setattr(type(coll), "get", real_get)
    assert not c.data.exists(u)

"""Object time-to-live (``objectTtlConfig``) in the store, with an injected clock: Weaviate's config rules,
when an object expires for each ``deleteOn``, leaving expired objects out of searches, deleting them
durably (and after a reopen), and config updates."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from colweave.store import SchemaError, Store

T0 = 1_800_000_000.0  # the fake clock's start (2027-01-15)
DAY = 86_400


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _schema(ttl: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "class": "Expiring",
        "properties": [
            {"name": "n", "dataType": ["int"]},
            {"name": "due", "dataType": ["date"]},
            {"name": "dues", "dataType": ["date[]"]},
            {"name": "unindexed", "dataType": ["date"], "indexFilterable": False, "indexRangeFilters": False},
            {"name": "ranged", "dataType": ["date"], "indexFilterable": False, "indexRangeFilters": True},
            {"name": "word", "dataType": ["text"]},
        ],
        "objectTtlConfig": ttl,
        **extra,
    }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Any:
    s = Store(tmp_path / "data", clock=clock)
    yield s
    s.close()


@pytest.mark.parametrize(
    ("ttl", "message"),
    [
        ({"enabled": True, "defaultTtl": 3600}, 'missing value for "deleteOn"'),
        (
            {"enabled": True, "deleteOn": "_creationTimeUnix", "defaultTtl": 59},
            'Required minimum "60" seconds, given "59"',
        ),
        ({"enabled": True, "deleteOn": "_lastUpdateTimeUnix"}, 'Required minimum "60" seconds, given "0"'),
        (
            {"enabled": True, "deleteOn": "nope"},
            'property "nope" set as "deleteOn" not found among collection properties',
        ),
        (
            {"enabled": True, "deleteOn": "n"},
            'property "n" set as "deleteOn" should have "date" data type, "int" given',
        ),
        ({"enabled": True, "deleteOn": "dues"}, '"date" data type, "date[]" given'),
        ({"enabled": True, "deleteOn": "unindexed"}, "should have filterable or rangeable index enabled"),
        (
            {"enabled": True, "deleteOn": "due", "defaultTtl": "1h"},
            "defaultTtl: expected a whole number of seconds",
        ),
        ({"enabled": "yes", "deleteOn": "due"}, "enabled: expected a boolean"),
    ],
)
def test_weaviates_config_rules(store: Any, ttl: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaError, match=re.escape(message)):
        store.create_collection(_schema(ttl))
    assert store.list_collections() == []


def test_accepted_configs_round_trip(store: Any) -> None:
    # on the timestamps a new collection gets indexTimestamps; a date property may have any offset
    c = store.create_collection(_schema({"enabled": True, "deleteOn": "_creationTimeUnix", "defaultTtl": 60}))
    w = c.config.to_weaviate()
    assert w["objectTtlConfig"] == {
        "enabled": True,
        "deleteOn": "_creationTimeUnix",
        "defaultTtl": 60,
        "filterExpiredObjects": False,
    }
    assert w["invertedIndexConfig"]["indexTimestamps"] is True
    store.delete_collection("Expiring")
    c = store.create_collection(_schema({"enabled": True, "deleteOn": " ranged ", "defaultTtl": -1}))
    assert c.config.to_weaviate()["objectTtlConfig"]["deleteOn"] == "ranged"
    assert not c.config.to_weaviate()["invertedIndexConfig"].get("indexTimestamps")
    store.delete_collection("Expiring")
    c = store.create_collection(_schema({"enabled": False, "deleteOn": "whatever"}))
    assert "objectTtlConfig" not in c.config.to_weaviate()  # disabled: no time-to-live at all


@pytest.mark.parametrize("delete_on", ["_creationTimeUnix", "_lastUpdateTimeUnix", "due"])
def test_objects_expire_are_left_out_and_are_deleted(tmp_path: Path, clock: Clock, delete_on: str) -> None:
    s = Store(tmp_path / "data", clock=clock)
    c = s.create_collection(
        _schema({"enabled": True, "deleteOn": delete_on, "defaultTtl": DAY, "filterExpiredObjects": True})
    )
    # a (created at T0, due T0 + 2 days), b (created T0, updated T0 + 1.5 days, due T0), nodate (no due)
    a = c.insert({"n": 1, "word": "w", "due": _iso(T0 + 2 * DAY)})
    b = c.insert({"n": 2, "word": "w", "due": _iso(T0)})
    nodate = c.insert({"n": 3, "word": "w"})
    clock.t = T0 + 1.5 * DAY
    c.update(b, {"n": 20})
    # expiry = base + 1 day; expired when expiry <= now
    expiry = {
        "_creationTimeUnix": {a: T0 + DAY, b: T0 + DAY, nodate: T0 + DAY},
        "_lastUpdateTimeUnix": {a: T0 + DAY, b: T0 + 2.5 * DAY, nodate: T0 + DAY},
        "due": {a: T0 + 3 * DAY, b: T0 + DAY},  # nodate never expires
    }[delete_on]
    for now in (T0 + 0.5 * DAY, T0 + DAY - 1, T0 + DAY, T0 + 2.75 * DAY, T0 + 10 * DAY):
        clock.t = now
        want = sorted(u for u in (a, b, nodate) if not (u in expiry and expiry[u] <= now))
        got = sorted(r.uuid for r in c.unexpired(c.fetch_objects(limit=10)))
        assert got == want, (now - T0) / DAY
        assert sorted(r.uuid for r in c.unexpired(c.bm25("w", limit=10))) == want
    # deletion: at T0 + 1 day the objects whose expiry is T0 + 1 day go, durably
    n_before = len(c)
    gone = sorted(u for u, t in expiry.items() if t <= T0 + DAY)
    assert s.delete_expired(now=T0 + DAY) == len(gone)
    assert len(c) == n_before - len(gone)
    assert all(c.get(u) is None for u in gone)
    assert s.delete_expired(now=T0 + DAY) == 0  # nothing left to delete
    s.close()
    s = Store(tmp_path / "data", clock=clock)
    c = s.get_collection("Expiring")
    assert sorted(r.uuid for r in c.fetch_objects(limit=10)) == sorted({a, b, nodate} - set(gone))
    s.close()


def test_without_filter_expired_objects_searches_keep_them_until_deleted(store: Any, clock: Clock) -> None:
    c = store.create_collection(_schema({"enabled": True, "deleteOn": "_creationTimeUnix", "defaultTtl": 60}))
    u = c.insert({"n": 1})
    clock.t = T0 + 3600
    assert [r.uuid for r in c.unexpired(c.fetch_objects())] == [u]
    assert c.expired_docs() != []
    assert store.delete_expired() == 1  # the store's clock
    assert len(c) == 0


def test_updates_follow_weaviates_rules(store: Any, clock: Clock) -> None:
    c = store.create_collection(_schema({"enabled": False}))
    body = c.config.to_weaviate()
    # enabling on a timestamp needs indexed timestamps, which an update cannot turn on
    body["objectTtlConfig"] = {"enabled": True, "deleteOn": "_creationTimeUnix", "defaultTtl": 600}
    with pytest.raises(
        SchemaError,
        match=re.escape('requires indexed timestamps. Enable "invertedIndexConfig.indexTimestamps"'),
    ):
        c.update_config(c.config.updated(body))
    body["objectTtlConfig"] = {
        "enabled": True,
        "deleteOn": "due",
        "defaultTtl": 3600,
        "filterExpiredObjects": True,
    }
    c.update_config(c.config.updated(body))
    assert c.config.to_weaviate()["objectTtlConfig"]["deleteOn"] == "due"
    u = c.insert({"due": _iso(T0)})
    clock.t = T0 + 3600
    assert c.unexpired(c.fetch_objects()) == []  # the new config applies at once
    body = c.config.to_weaviate()
    body["objectTtlConfig"] = {"enabled": False}
    c.update_config(c.config.updated(body))
    assert "objectTtlConfig" not in c.config.to_weaviate()
    assert [r.uuid for r in c.unexpired(c.fetch_objects())] == [u]
    assert store.delete_expired() == 0


def test_a_later_differently_cased_key_overrides_fields_as_weaviates_json_decoding_does(store: Any) -> None:
    """The client's config update sends the new fields as "objectTTLConfig" after the "objectTtlConfig" it
    read (client 4.23): Weaviate decodes both into one struct, the later key's fields winning."""
    c = store.create_collection(_schema({"enabled": True, "deleteOn": "due", "defaultTtl": 3600}))
    body = c.config.to_weaviate()
    body["objectTTLConfig"] = {"enabled": True, "deleteOn": "ranged", "filterExpiredObjects": True}
    ttl = c.config.updated(body).to_weaviate()["objectTtlConfig"]
    assert ttl == {"enabled": True, "deleteOn": "ranged", "defaultTtl": 3600, "filterExpiredObjects": True}


def test_the_sweep_opens_only_collections_with_a_time_to_live(tmp_path: Path, clock: Clock) -> None:
    s = Store(tmp_path / "data", clock=clock)
    s.create_collection(_schema({"enabled": True, "deleteOn": "_creationTimeUnix", "defaultTtl": 60}))
    s.create_collection({"class": "Plain", "properties": [{"name": "n", "dataType": ["int"]}]})
    s.get_collection("Expiring").insert({"n": 1})
    s.get_collection("Plain").insert({"n": 1})
    s.close()
    s = Store(tmp_path / "data", clock=clock)
    assert s.delete_expired(now=T0 + 61) == 1  # found though no one opened it since the restart
    assert set(s._open) == {"Expiring"}
    assert len(s.get_collection("Plain")) == 1
    s.close()

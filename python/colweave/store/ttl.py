"""Object time-to-live: Weaviate's ``objectTtlConfig`` (Weaviate 1.35+).

A collection's config ``{"enabled", "deleteOn", "defaultTtl", "filterExpiredObjects"}``: an object expires
``defaultTtl`` seconds after its base time, which ``deleteOn`` names: ``_creationTimeUnix`` (created),
``_lastUpdateTimeUnix`` (last updated) or a ``date`` property of the collection (an object without a value
there never expires). Expired objects are deleted in the background (``Store.delete_expired``, run every
``--ttl-sweep-s`` seconds by the server, through the ordinary delete path: durable, published as one
write); until then, with ``filterExpiredObjects``, searches leave them out of their results.

Weaviate's rules for the config, checked here: ``deleteOn`` is required; on the timestamps, ``defaultTtl``
is at least 60 seconds and the timestamps must be indexed (creating a collection turns
``indexTimestamps`` on for it, an update that needs it is refused); a date property must exist, be
``date`` (not ``date[]``) and be filterable or range-filterable, and any ``defaultTtl`` goes with it
(negative: expire before the date). A config with ``enabled`` false is no time-to-live at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from colweave.store.errors import SchemaError
from colweave.store.objects import Rec
from colweave.store.results import SearchResult
from colweave.store.schema import Property, parse_date
from colweave.store.state import CollectionState

CREATION = "_creationTimeUnix"
UPDATE = "_lastUpdateTimeUnix"
MIN_DEFAULT_TTL_S = 60  # Weaviate's minimum for the timestamps (OBJECTS_TTL_MINIMUM_DEFAULT_TTL)
KEY = "objectTtlConfig"


def parse(
    raw: Any, properties: list[Property], inverted_extra: dict[str, Any], *, updating: bool = False
) -> dict[str, Any] | None:
    """The normalized config of ``raw`` (None when absent or disabled), checked against the collection's
    ``properties``; on a timestamp ``deleteOn`` a new collection gets ``indexTimestamps`` (in
    ``inverted_extra``), an ``updating`` one must have it. Raises SchemaError with Weaviate's message."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise SchemaError(f"{KEY}: expected an object")
    enabled = raw.get("enabled", False)
    if not isinstance(enabled, bool):
        raise SchemaError(f"{KEY}.enabled: expected a boolean, got {enabled!r}")
    if not enabled:
        return None
    delete_on = raw.get("deleteOn") or ""
    if not isinstance(delete_on, str):
        raise SchemaError(f"{KEY}.deleteOn: expected a string, got {delete_on!r}")
    delete_on = delete_on.strip()
    ttl = raw.get("defaultTtl", 0)
    if isinstance(ttl, float) and ttl.is_integer():
        ttl = int(ttl)
    if isinstance(ttl, bool) or not isinstance(ttl, int):
        raise SchemaError(f"{KEY}.defaultTtl: expected a whole number of seconds, got {ttl!r}")
    filt = raw.get("filterExpiredObjects", False)
    if not isinstance(filt, bool):
        raise SchemaError(f"{KEY}.filterExpiredObjects: expected a boolean, got {filt!r}")
    if not delete_on:
        raise SchemaError(
            f'missing value for "deleteOn". Set "{CREATION}", "{UPDATE}" or custom property of "date" type'
        )
    if delete_on in (CREATION, UPDATE):
        if not inverted_extra.get("indexTimestamps"):
            if updating:
                raise SchemaError(
                    f'"deleteOn"="{delete_on}" requires indexed timestamps. Enable '
                    '"invertedIndexConfig.indexTimestamps"'
                )
            inverted_extra["indexTimestamps"] = True
        if ttl < MIN_DEFAULT_TTL_S:
            raise SchemaError(
                f'defaultTtl value too small for "deleteOn"="{delete_on}". Required minimum '
                f'"{MIN_DEFAULT_TTL_S}" seconds, given "{ttl}" seconds'
            )
    else:
        prop = next((p for p in properties if p.name == delete_on), None)
        if prop is None:
            raise SchemaError(
                f'property "{delete_on}" set as "deleteOn" not found among collection properties'
            )
        if prop.data_type != "date":
            raise SchemaError(
                f'property "{delete_on}" set as "deleteOn" should have "date" data type, '
                f'"{prop.data_type}" given'
            )
        if not prop.index_filterable and not prop.index_range_filters:
            raise SchemaError(
                f'property "{delete_on}" set as "deleteOn" should have filterable or rangeable index enabled'
            )
    return {"enabled": True, "deleteOn": delete_on, "defaultTtl": ttl, "filterExpiredObjects": filt}


def expires_at_ms(ttl: Mapping[str, Any], rec: Rec) -> int | None:
    """When ``rec`` expires (ms since the epoch), or None when it never does (no value in the date
    property ``deleteOn`` names)."""
    delete_on = ttl["deleteOn"]
    if delete_on == CREATION:
        base = rec.created
    elif delete_on == UPDATE:
        base = rec.updated
    else:
        d = parse_date(rec.props.get(delete_on))
        if d is None:
            return None
        base = int(d.timestamp() * 1000)
    return base + int(ttl["defaultTtl"]) * 1000


def expired(ttl: Mapping[str, Any], rec: Rec, now_ms: int) -> bool:
    """Whether ``rec`` has expired at ``now_ms`` (Weaviate keeps an object while its expiry is after now)."""
    at = expires_at_ms(ttl, rec)
    return at is not None and at <= now_ms


class Expiring(CollectionState):
    """Time-to-live over a collection: which objects have expired, leaving them out, deleting them."""

    def _now_ms(self, now: float | None) -> int:
        return int((self.clock() if now is None else now) * 1000)

    def expired_docs(self, now: float | None = None) -> list[int]:
        """The docs of the objects expired at ``now`` (default: the clock), in the current view."""
        ttl = self._config.extra.get(KEY)
        if not ttl:
            return []
        at = self._now_ms(now)
        return sorted(d for d, rec in self._recs.items() if expired(ttl, rec, at))

    def unexpired(self, results: list[SearchResult], now: float | None = None) -> list[SearchResult]:
        """``results`` without the objects expired at ``now`` when the collection filters expired
        objects (``filterExpiredObjects``); else ``results`` as they are."""
        with self._state.read() as view:
            ttl = view.config.extra.get(KEY)
            if not ttl or not ttl.get("filterExpiredObjects"):
                return results
            at = self._now_ms(now)
            out = []
            for r in results:
                doc = view.doc_of.get(r.uuid)
                if doc is None or not expired(ttl, view.recs[doc], at):
                    out.append(r)
            return out

    def delete_expired(self, now: float | None = None) -> int:
        """Deletes the objects expired at ``now`` (one durable write); returns how many."""
        with self._commit_lock:
            docs = self.expired_docs(now)
            return self._delete_docs(docs) if docs else 0

    def _delete_docs(self, docs: list[int]) -> int:  # pragma: no cover - Writes implements it
        raise NotImplementedError

"""Weaviate's REST subset over the embedded store: schema, objects, batch objects.

Shapes follow Weaviate (``docs/weaviate-wire.md``): collection names have their first letter
upper-cased, deleting a missing collection answers 200, unknown keys in a schema body (the client's
``skip_vectorization``, ``vectorize_property_name``) are ignored, errors are ``{"error": [{"message"}]}``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import colweave
from colweave.server import guards
from colweave.server.errors import (
    BadRequestError,
    NotFoundError,
    StorageFullError,
    ValidationError,
)
from colweave.server.http_app import ORJSONResponse, read_json
from colweave.server.state import ServerState
from colweave.server.weaviate_ops import UNNAMED, WeaviateOps
from colweave.store.errors import StoreError
from colweave.store.filters import from_weaviate as filters_from_weaviate
from colweave.store.geo_phone import phone_rest
from colweave.store.objects import DataObject, StoredObject
from colweave.store.references import split_beacon
from colweave.store.results import SearchResult
from colweave.store.schema import BEACON_PREFIX, Property


def ms(t: dt.datetime | None) -> int | None:
    return None if t is None else round(t.timestamp() * 1000)


def _rest_properties(props: dict[str, Any], refs: frozenset[str]) -> dict[str, Any]:
    """Properties as Weaviate's REST answers them: a cross-reference as its beacons with their hrefs, a
    phone number without its empty fields (the only map-valued properties are geo coordinates and phone
    numbers: object properties are not supported)."""
    phones = [k for k, v in props.items() if isinstance(v, dict) and "internationalFormatted" in v]
    if phones:
        props = {**props, **{k: phone_rest(props[k]) for k in phones}}
    if not refs or not refs.intersection(props):
        return props
    out = dict(props)
    for name in refs.intersection(props):
        beacons = []
        for b in props[name] or ():
            cls, uid = split_beacon(b)
            href = f"/v1/objects/{cls}/{uid}" if cls else f"/v1/objects/{uid}"
            beacons.append({"beacon": b, "href": href})
        out[name] = beacons
    return out


def reference_names(coll: Any) -> frozenset[str]:
    return frozenset(p.name for p in coll.config.properties if p.is_reference)


def _written(uuid: str, obj: DataObject) -> StoredObject:
    """The object as written, for the reply to a write whose object another request (a delete, the
    time-to-live sweep) removed before it could be read back: the write itself succeeded."""
    now = dt.datetime.now(dt.timezone.utc)
    return StoredObject(uuid, dict(obj.properties), now, now)


def object_json(
    collection: str,
    obj: StoredObject | SearchResult,
    include_vector: bool,
    legacy: str | None = None,
    *,
    refs: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """An object as Weaviate's REST API writes it; with its vectors, the collection-level vector of a
    legacy collection (named ``legacy``) as ``vector``, named vectors under ``vectors``; a
    cross-reference as its beacons."""
    if isinstance(obj, SearchResult):
        created, updated = obj.metadata.creation_time, obj.metadata.last_update_time
    else:
        created, updated = obj.creation_time, obj.last_update_time
    out: dict[str, Any] = {
        "class": collection,
        "id": str(obj.uuid),
        "properties": _rest_properties(obj.properties, refs),
        "creationTimeUnix": ms(created),
        "lastUpdateTimeUnix": ms(updated),
    }
    if include_vector:
        vectors = {k: np.asarray(v).tolist() for k, v in (obj.vectors or {}).items()}
        if legacy is not None and legacy in vectors:
            out["vector"] = vectors.pop(legacy)
        if vectors or legacy is None:
            out["vectors"] = vectors
    return out


def _vectors_from_json(body: dict[str, Any], where: str) -> dict[str, Any] | None:
    """An object's vectors as given (a single vector is a list of numbers, a multi-vector a list of
    them: the store checks each against its config); ``vector`` is the unnamed one."""
    out: dict[str, Any] = {}
    vectors = body.get("vectors")
    if vectors is not None:
        if not isinstance(vectors, dict):
            raise ValidationError(f"{where}: 'vectors' must map vector names to (multi-)vectors")
        out.update(vectors)
    if body.get("vector") is not None:
        out[UNNAMED] = body["vector"]
    return out or None


def legacy_name(coll: Any) -> str | None:
    """The name under which the store keeps a legacy collection's unnamed vector (None: named only)."""
    lv = coll.config.legacy_vector
    return lv.name if lv is not None else None


def data_object(body: Any, where: str, *, uuid: str | None = None) -> tuple[str, DataObject]:
    if not isinstance(body, dict):
        raise BadRequestError(f"{where}: expected a JSON object")
    cls = body.get("class")
    if not isinstance(cls, str) or not cls:
        raise ValidationError(f"{where}: 'class' is required")
    name = guards.collection_name(cls, f"{where}.class")
    props = body.get("properties") or {}
    if not isinstance(props, dict):
        raise ValidationError(f"{where}: 'properties' must be an object")
    oid = uuid if uuid is not None else body.get("id")
    if oid is not None:
        oid = guards.uuid_str(oid, f"{where}.id")
    try:
        return name, DataObject(dict(props), oid, _vectors_from_json(body, where))
    except StoreError as e:  # two property names that are one (Name / name)
        raise ValidationError(f"{where}: {e}") from None


def path_name(request: Request) -> str:
    return guards.collection_name(request.path_params["name"], "path: collection")


def path_id(request: Request) -> str:
    return guards.uuid_str(request.path_params["id"], "path: id")


def shard_name(collection: str) -> str:
    """The name of a collection's one shard: stable, 12 characters like Weaviate's (which are random)."""
    return hashlib.sha256(collection.encode()).hexdigest()[:12]


def include_vector(request: Request) -> bool:
    return "vector" in request.query_params.get("include", "").split(",")


def _sort_params(sort: str | None, order: str | None) -> list[tuple[str, bool]] | None:
    """``?sort=a,b&order=asc,desc`` as Weaviate reads them: an order that is missing or neither asc nor
    desc is asc."""
    if sort is None:
        return None
    keys = sort.split(",")
    orders = order.split(",") if order is not None else []
    return [(k, not (i < len(orders) and orders[i] == "desc")) for i, k in enumerate(keys)]


def _batch_reference(item: Any, i: int) -> tuple[str, str, str, str]:
    """One entry of ``POST /v1/batch/references`` as ``(from collection, from uuid, property, beacon)``."""
    where = f"references[{i}]"
    if not isinstance(item, dict):
        raise ValidationError(f"{where}: expected an object with 'from' and 'to'")
    if item.get("tenant"):
        raise ValidationError(f"{where}: multi-tenancy is not supported by this server")
    src, to = item.get("from"), item.get("to")
    if not isinstance(src, str) or not src.startswith(BEACON_PREFIX):
        raise ValidationError(
            f"{where}: invalid from: expected weaviate://localhost/<Class>/<uuid>/<property>"
        )
    parts = src[len(BEACON_PREFIX) :].split("/")
    if len(parts) != 3 or not all(parts):
        raise ValidationError(
            f"{where}: invalid from: expected weaviate://localhost/<Class>/<uuid>/<property>, got {src!r}"
        )
    if not isinstance(to, str):
        raise ValidationError(f"{where}: invalid to: expected a beacon")
    return parts[0], guards.uuid_str(parts[1], f"{where}.from"), parts[2], to


def routes(state: ServerState, ops: WeaviateOps) -> list[Route]:
    async def schema_list(_: Request) -> Response:
        names = await ops.run(ops.store.list_collections)
        configs = [(await ops.config(n)).to_weaviate() for n in names]
        return ORJSONResponse({"classes": configs})

    async def schema_create(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise BadRequestError("expected a collection (class) object")
        cfg = await ops.create_collection(body)
        return ORJSONResponse(cfg.to_weaviate())

    async def schema_get(request: Request) -> Response:
        cfg = await ops.config(path_name(request))
        return ORJSONResponse(cfg.to_weaviate())

    async def schema_delete(request: Request) -> Response:
        name = path_name(request)
        await ops.run(ops.store.delete_collection, name)
        ops.forget(name)
        return Response(status_code=200)

    async def schema_update(request: Request) -> Response:
        """``PUT /v1/schema/{class}`` (``collection.config.update``): Weaviate's rules for what may change
        (``CollectionConfig.updated``); the whole update is refused when one field may not."""
        body = await read_json(request)
        coll = await ops.run(ops.store.get_collection, request.path_params["name"])
        if not isinstance(body, dict):
            raise BadRequestError("expected a collection (class) object")
        cfg = await ops.run(coll.update_class, body, ops.check_added_vectors)
        return ORJSONResponse(cfg.to_weaviate())

    async def schema_delete_property_index(request: Request) -> Response:
        """``DELETE /v1/schema/{class}/properties/{prop}/index/{filterable|searchable|rangeFilters}``."""
        p = request.path_params
        coll = await ops.run(ops.store.get_collection, p["name"])
        new = await ops.run(coll.config.without_index, p["prop"], p["index"])
        await ops.run(coll.update_config, new)
        return Response(status_code=200)

    async def schema_add_property(request: Request) -> Response:
        name = path_name(request)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise BadRequestError("expected a property object")
        prop = await ops.run(Property.from_weaviate, body)
        await ops.run(ops.store.add_property, name, prop)
        return ORJSONResponse(prop.to_weaviate())

    async def nodes_of(request: Request) -> Response:
        """``GET /v1/nodes/{class}``: this one node, with the collection's one shard when ``output=verbose``
        (``client.cluster.nodes(collection, output=...)``, ``collection.shards()``)."""
        q = request.query_params
        output = q.get("output", "minimal")
        if output not in ("minimal", "verbose"):
            raise ValidationError(f"output: expected minimal or verbose, got {output!r}")
        coll = await ops.run(ops.store.collection, request.path_params["name"])
        embedding = state.embedding
        node: dict[str, Any] = {
            "name": "node1",
            "status": "HEALTHY" if state.ready else "UNHEALTHY",
            "version": state.meta()["version"],
            "gitHash": "colweave-" + colweave.__version__,
            "batchStats": {"queueLength": embedding.images.queued if embedding else 0, "ratePerSecond": 0},
            "shards": None,
        }
        if output == "verbose":
            n = await ops.run(coll.count)
            shard = {
                "name": shard_name(coll.name),
                "class": coll.name,
                "objectCount": n,
                "vectorIndexingStatus": "READY",  # indexing is synchronous: a write returns indexed
                "vectorQueueLength": 0,
                "compressed": False,
                "loaded": True,
            }
            wanted = q.get("shardName")
            node["shards"] = [shard] if wanted in (None, shard["name"]) else []
            node["stats"] = {"shardCount": 1, "objectCount": n}
        return ORJSONResponse({"nodes": [node]})

    async def schema_shards(request: Request) -> Response:
        """``GET /v1/schema/{class}/shards`` (``collection.config.get_shards()``): the one shard, ready."""
        coll = await ops.run(ops.store.collection, request.path_params["name"])
        return ORJSONResponse([{"name": shard_name(coll.name), "status": "READY", "vectorQueueSize": 0}])

    async def objects_create(request: Request) -> Response:
        name, obj = data_object(await read_json(request), "object")
        u = await ops.write_one(name, obj, "insert")
        coll = await ops.run(ops.store.collection, name)
        stored = await ops.run(coll.get, u) or _written(u, obj)
        return ORJSONResponse(object_json(coll.name, stored, False, refs=reference_names(coll)))

    async def _get(request: Request) -> tuple[Any, StoredObject | None]:
        name, oid = path_name(request), path_id(request)
        coll = await ops.run(ops.store.collection, name)
        stored = await ops.run(coll.get, oid, include_vector=include_vector(request))
        return coll, stored

    async def objects_get(request: Request) -> Response:
        coll, stored = await _get(request)
        if stored is None:
            raise NotFoundError(f"no object with id '{request.path_params['id']}' in {coll.name}")
        return ORJSONResponse(
            object_json(
                coll.name, stored, include_vector(request), legacy_name(coll), refs=reference_names(coll)
            )
        )

    async def objects_head(request: Request) -> Response:
        name, oid = path_name(request), path_id(request)
        coll = await ops.run(ops.store.collection, name)
        found = await ops.run(coll.exists, oid)
        return Response(status_code=204 if found else 404)

    async def objects_replace(request: Request) -> Response:
        pname, oid = path_name(request), path_id(request)
        body = await read_json(request)
        if isinstance(body, dict):
            body.setdefault("class", pname)
        name, obj = data_object(body, "object", uuid=oid)
        await ops.write_one(name, obj, "replace")
        coll = await ops.run(ops.store.collection, name)
        stored = await ops.run(coll.get, oid) or _written(oid, obj)
        return ORJSONResponse(object_json(coll.name, stored, False, refs=reference_names(coll)))

    async def objects_merge(request: Request) -> Response:
        pname, oid = path_name(request), path_id(request)
        body = await read_json(request)
        if isinstance(body, dict):
            body.setdefault("class", pname)
        name, obj = data_object(body, "object", uuid=oid)
        await ops.write_one(name, obj, "merge")
        return Response(status_code=204)

    async def objects_delete(request: Request) -> Response:
        name, oid = path_name(request), path_id(request)
        coll = await ops.run(ops.store.collection, name)
        if not await ops.run(coll.delete, oid):
            raise NotFoundError(f"no object with id '{request.path_params['id']}' in {coll.name}")
        ops.note(coll)
        return Response(status_code=204)

    async def objects_list(request: Request) -> Response:
        q = request.query_params
        limit = guards.int_param(q.get("limit"), "limit", 25)
        offset = guards.int_param(q.get("offset"), "offset", 0)
        vec = include_vector(request)
        guards.page(limit, offset, vectors=vec)
        after = guards.uuid_str(q["after"], "after") if q.get("after") else None
        if "class" in q:
            names = [guards.collection_name(q["class"], "class")]
        else:
            names = await ops.run(ops.store.list_collections)
        sort = _sort_params(q.get("sort"), q.get("order"))
        if sort is not None and after is not None:
            raise ValidationError("sort cannot be set with after and limit parameters")
        rows: list[tuple[str, Any]] = []
        legacy: dict[str, str | None] = {}
        ref_names: dict[str, frozenset[str]] = {}
        for n in names:
            coll = await ops.run(ops.store.collection, n)
            legacy[coll.name] = legacy_name(coll)
            ref_names[coll.name] = reference_names(coll)
            page = await ops.heavy(
                coll.fetch_objects,
                limit=limit - len(rows) + offset,
                after=after,
                include_vector=vec,
                **({"sort": sort} if sort is not None else {}),
            )
            rows.extend((coll.name, r) for r in page)
            if len(rows) >= limit + offset:
                break
        rows = rows[offset : offset + limit]

        def render() -> bytes:  # a page of multi-vectors is megabytes of JSON: not on the event loop
            out = [
                object_json(name, r, vec, legacy[name], refs=ref_names.get(name, frozenset()))
                for name, r in rows
            ]
            return orjson.dumps({"objects": out, "totalResults": len(out)}, option=orjson.OPT_SERIALIZE_NUMPY)

        return Response(await ops.run(render), media_type="application/json")

    async def batch_objects(request: Request) -> Response:
        body = await read_json(request)
        items = body.get("objects") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise ValidationError("'objects' must be a non-empty list")
        objects: dict[int, DataObject] = {}
        errors: dict[int, str] = {}
        by_coll: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            try:
                name, objects[i] = data_object(item, f"objects[{i}]")
                by_coll.setdefault(name, []).append(i)
            except ValidationError as e:
                errors[i] = e.message
        ids: dict[int, str] = {}
        disk_full: StorageFullError | None = None
        for name, idx in by_coll.items():
            try:
                res = await ops.insert_many(name, [objects[i] for i in idx])
            except StorageFullError as e:
                disk_full = e
                errors.update({i: e.message for i in idx})
                continue
            except (NotFoundError, ValidationError) as e:
                errors.update({i: e.message for i in idx})
                continue
            for j, i in enumerate(idx):
                if res.uuids[j] is not None:
                    ids[i] = str(res.uuids[j])
            for err in res.errors:
                errors[idx[err.index]] = err.message
                ids.pop(idx[err.index], None)
        out = []
        for i, item in enumerate(items):
            entry = dict(item) if isinstance(item, dict) else {}
            if i in ids:
                entry["id"] = ids[i]
            entry["result"] = {"errors": {"error": [{"message": errors[i]}]}} if i in errors else {}
            out.append(entry)
        if disk_full is not None and not ids:
            raise disk_full  # nothing was stored: the whole request is 507
        return ORJSONResponse(out)

    async def batch_delete(request: Request) -> Response:
        body = await read_json(request)
        match = body.get("match") if isinstance(body, dict) else None
        if not isinstance(match, dict) or not isinstance(match.get("class"), str):
            raise ValidationError("'match' with 'class' and 'where' is required")
        if not isinstance(match.get("where"), dict):
            raise ValidationError("match.where: a filter is required")
        name = guards.collection_name(match["class"], "match.class")
        guards.json_depth(match["where"], "match.where")
        dry_run = body.get("dryRun", False)
        if not isinstance(dry_run, bool):
            raise ValidationError(f"dryRun: expected a boolean, got {dry_run!r}")
        verbose = body.get("output", "minimal") == "verbose"
        coll = await ops.run(ops.store.collection, name)
        filters = await ops.run(filters_from_weaviate, match["where"])
        filters = await ops.resolve_filter(coll.config, filters)
        matches = await ops.heavy(
            coll.fetch_objects, filters=filters, limit=guards.MAX_RESULTS, return_properties=[]
        )
        deleted = (
            0
            if dry_run
            else await ops.heavy(coll.delete_many, ids=[m.uuid for m in matches], filters=filters)
        )
        ops.note(coll)
        # As Weaviate's REST handler counts: a dry run's objects are DRYRUN, neither successful nor failed
        # (its gRPC handler counts them as successful).
        results: dict[str, Any] = {
            "matches": len(matches),
            "limit": guards.MAX_RESULTS,
            "successful": 0 if dry_run else deleted,
            "failed": 0 if dry_run else len(matches) - deleted,
        }
        if verbose:
            results["objects"] = [
                {"id": m.uuid, "status": "DRYRUN" if dry_run else "SUCCESS"} for m in matches
            ]
        return ORJSONResponse(
            {"match": match, "dryRun": dry_run, "output": body.get("output", "minimal"), "results": results}
        )

    # -- aliases (Weaviate >= 1.32) ---------------------------------------------------------------------
    def _alias_json(found: tuple[str, str]) -> dict[str, str]:
        return {"alias": found[0], "class": found[1]}

    async def aliases_list(request: Request) -> Response:
        cls = request.query_params.get("class")
        found = await ops.run(ops.store.list_aliases, cls or None)
        return ORJSONResponse({"aliases": [_alias_json(a) for a in found]})

    async def aliases_create(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ValidationError("expected an alias object with 'alias' and 'class'")
        found = await ops.run(ops.store.create_alias, body.get("alias"), body.get("class"))
        return ORJSONResponse(_alias_json(found))

    async def alias_get(request: Request) -> Response:
        name = request.path_params["alias"]
        found = await ops.run(ops.store.get_alias, name)
        if found is None:
            raise NotFoundError(f"alias {name} not found")
        return ORJSONResponse(_alias_json(found))

    async def alias_update(request: Request) -> Response:
        name = request.path_params["alias"]
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ValidationError("expected an object with the alias's new 'class'")
        found = await ops.run(ops.store.replace_alias, name, body.get("class"))
        if found is None:
            raise NotFoundError(f"no alias found with name: {name}")
        return ORJSONResponse(_alias_json(found))

    async def alias_delete(request: Request) -> Response:
        name = request.path_params["alias"]
        if not await ops.run(ops.store.delete_alias, name):
            raise NotFoundError(f"alias {name} not found")
        return Response(status_code=204)

    # -- cross-references ------------------------------------------------------------------------------
    async def _ref_target(request: Request) -> tuple[Any, str, str]:
        p = request.path_params
        name, oid = path_name(request), path_id(request)
        coll = await ops.run(ops.store.collection, name)
        return coll, oid, str(p["prop"])

    def _beacon_of(body: Any, where: str) -> str:
        if not isinstance(body, dict) or not isinstance(body.get("beacon"), str):
            raise ValidationError(f"{where}: expected a reference object with a 'beacon'")
        return str(body["beacon"])

    async def reference_add(request: Request) -> Response:
        """``POST /v1/objects/{class}/{id}/references/{prop}``: appends one reference (the target must
        exist)."""
        coll, oid, prop = await _ref_target(request)
        beacon = _beacon_of(await read_json(request), "reference")
        await ops.write(coll.add_reference, oid, prop, beacon)
        return Response(status_code=200)

    async def reference_replace(request: Request) -> Response:
        """``PUT /v1/objects/{class}/{id}/references/{prop}``: the property's references become these."""
        coll, oid, prop = await _ref_target(request)
        body = await read_json(request)
        if not isinstance(body, list):
            raise ValidationError("references: expected a list of reference objects")
        if len(body) > guards.MAX_RESULTS:
            raise ValidationError(f"references: at most {guards.MAX_RESULTS} references at once")
        beacons = [_beacon_of(b, f"references[{i}]") for i, b in enumerate(body)]
        await ops.write(coll.replace_references, oid, prop, beacons)
        return Response(status_code=200)

    async def reference_delete(request: Request) -> Response:
        """``DELETE /v1/objects/{class}/{id}/references/{prop}``: removes the reference (204 even when the
        object did not hold it, as in Weaviate)."""
        coll, oid, prop = await _ref_target(request)
        beacon = _beacon_of(await read_json(request), "reference")
        await ops.write(coll.delete_reference, oid, prop, beacon)
        return Response(status_code=204)

    async def batch_references(request: Request) -> Response:
        """``POST /v1/batch/references``: ``[{"from": "weaviate://localhost/<Class>/<uuid>/<prop>",
        "to": "weaviate://localhost/[<Class>/]<uuid>"}]``; per reference SUCCESS or FAILED with why."""
        body = await read_json(request)
        if not isinstance(body, list) or not body:
            raise ValidationError(
                "invalid params: length cannot be 0, need at least one reference for batching"
            )
        if len(body) > guards.MAX_RESULTS:
            raise ValidationError(f"at most {guards.MAX_RESULTS} references per batch")
        parsed: dict[int, tuple[str, str, str, str]] = {}
        errors: dict[int, str] = {}
        for i, item in enumerate(body):
            try:
                parsed[i] = _batch_reference(item, i)
            except ValidationError as e:
                errors[i] = e.message
        idx = sorted(parsed)
        failed = await ops.add_references([parsed[i] for i in idx])
        errors.update({idx[j]: m for j, m in failed.items()})
        out = []
        for i, item in enumerate(body):
            entry: dict[str, Any] = {k: item.get(k) for k in ("from", "to")} if isinstance(item, dict) else {}
            if i in errors:
                entry["result"] = {"status": "FAILED", "errors": {"error": [{"message": errors[i]}]}}
            else:
                entry["result"] = {"status": "SUCCESS"}
            out.append(entry)
        return ORJSONResponse(out)

    return [
        Route(
            "/v1/objects/{name}/{id}/references/{prop}",
            reference_add,
            methods=["POST"],
            name="reference_add",
        ),
        Route(
            "/v1/objects/{name}/{id}/references/{prop}",
            reference_replace,
            methods=["PUT"],
            name="reference_replace",
        ),
        Route(
            "/v1/objects/{name}/{id}/references/{prop}",
            reference_delete,
            methods=["DELETE"],
            name="reference_delete",
        ),
        Route("/v1/batch/references", batch_references, methods=["POST"], name="batch_references"),
        Route("/v1/aliases", aliases_list, methods=["GET"], name="aliases_list"),
        Route("/v1/aliases", aliases_create, methods=["POST"], name="aliases_create"),
        Route("/v1/aliases/{alias}", alias_get, methods=["GET"], name="alias_get"),
        Route("/v1/aliases/{alias}", alias_update, methods=["PUT"], name="alias_update"),
        Route("/v1/aliases/{alias}", alias_delete, methods=["DELETE"], name="alias_delete"),
        Route("/v1/schema", schema_list, methods=["GET"], name="schema_list"),
        Route("/v1/schema", schema_create, methods=["POST"], name="schema_create"),
        Route("/v1/schema/{name}", schema_get, methods=["GET"], name="schema_get"),
        Route("/v1/schema/{name}", schema_update, methods=["PUT"], name="schema_update"),
        Route("/v1/schema/{name}", schema_delete, methods=["DELETE"], name="schema_delete"),
        Route(
            "/v1/schema/{name}/properties/{prop}/index/{index}",
            schema_delete_property_index,
            methods=["DELETE"],
            name="schema_delete_property_index",
        ),
        Route(
            "/v1/schema/{name}/properties", schema_add_property, methods=["POST"], name="schema_add_property"
        ),
        Route("/v1/nodes/{name}", nodes_of, methods=["GET"], name="nodes_of"),
        Route("/v1/schema/{name}/shards", schema_shards, methods=["GET"], name="schema_shards"),
        Route("/v1/objects", objects_create, methods=["POST"], name="objects_create"),
        Route("/v1/objects", objects_list, methods=["GET"], name="objects_list"),
        # HEAD before GET: Starlette's GET routes answer HEAD too.
        Route("/v1/objects/{name}/{id}", objects_head, methods=["HEAD"], name="objects_head"),
        Route("/v1/objects/{name}/{id}", objects_get, methods=["GET"], name="objects_get"),
        Route("/v1/objects/{name}/{id}", objects_replace, methods=["PUT"], name="objects_replace"),
        Route("/v1/objects/{name}/{id}", objects_merge, methods=["PATCH"], name="objects_merge"),
        Route("/v1/objects/{name}/{id}", objects_delete, methods=["DELETE"], name="objects_delete"),
        Route("/v1/batch/objects", batch_objects, methods=["POST"], name="batch_objects"),
        Route("/v1/batch/objects", batch_delete, methods=["DELETE"], name="batch_delete"),
    ]

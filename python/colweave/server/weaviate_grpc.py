"""Weaviate's gRPC service (``weaviate.v1.Weaviate``) over the embedded store, with the generated modules
that ship inside weaviate-client: Search, Aggregate, BatchObjects, BatchDelete, BatchStream."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import numpy as np
from weaviate.proto.v1 import (
    aggregate_pb2,
    base_pb2,
    batch_delete_pb2,
    batch_pb2,
    search_get_pb2,
    weaviate_pb2_grpc,
)

from colweave.server import guards
from colweave.server import weaviate_wire as wire
from colweave.server.errors import NotFoundError, ServiceError, StorageFullError, ValidationError
from colweave.server.grpc_app import call_rpc
from colweave.server.state import ServerState
from colweave.server.weaviate_ops import WeaviateOps
from colweave.store import aggregate as agg
from colweave.store import filters as F
from colweave.store.errors import StoreError
from colweave.store.objects import DataObject
from colweave.store.results import SearchResult
from colweave.store.schema import CollectionConfig, lowercase_first

log = logging.getLogger("colweave.weaviate")
DEFAULT_LIMIT = 10

_OPS = {
    base_pb2.Filters.OPERATOR_EQUAL: "equal",
    base_pb2.Filters.OPERATOR_NOT_EQUAL: "not_equal",
    base_pb2.Filters.OPERATOR_GREATER_THAN: "greater_than",
    base_pb2.Filters.OPERATOR_GREATER_THAN_EQUAL: "greater_or_equal",
    base_pb2.Filters.OPERATOR_LESS_THAN: "less_than",
    base_pb2.Filters.OPERATOR_LESS_THAN_EQUAL: "less_or_equal",
    base_pb2.Filters.OPERATOR_LIKE: "like",
    base_pb2.Filters.OPERATOR_CONTAINS_ANY: "contains_any",
    base_pb2.Filters.OPERATOR_CONTAINS_ALL: "contains_all",
    base_pb2.Filters.OPERATOR_CONTAINS_NONE: "contains_none",
    base_pb2.Filters.OPERATOR_IS_NULL: "is_none",
}
_TARGETS = {"_id": "id", "_creationTimeUnix": "creation_time", "_lastUpdateTimeUnix": "update_time"}


def _filter_value(f: base_pb2.Filters) -> Any:
    kind = f.WhichOneof("test_value")
    if kind == "value_text":
        return f.value_text
    if kind == "value_int":
        return f.value_int
    if kind == "value_boolean":
        return f.value_boolean
    if kind == "value_number":
        return f.value_number
    if kind == "value_text_array":
        return list(f.value_text_array.values)
    if kind == "value_int_array":
        return list(f.value_int_array.values)
    if kind == "value_boolean_array":
        return list(f.value_boolean_array.values)
    if kind == "value_number_array":
        return list(f.value_number_array.values)
    raise ValidationError(f"filters: unsupported or missing value ({kind or 'none'})")


def _operator_name(op: int) -> str:
    try:
        return base_pb2.Filters.Operator.Name(op)
    except ValueError:
        return f"{op} (unknown)"


def parse_filters(
    f: base_pb2.Filters, budget: guards.FilterBudget | None = None, depth: int = 1
) -> F.FilterT:
    """Weaviate's gRPC filter tree as the store's filter (at most ``guards.MAX_FILTER_DEPTH`` deep)."""
    budget = budget or guards.FilterBudget()
    budget.enter(depth)
    op = f.operator
    if op in (base_pb2.Filters.OPERATOR_AND, base_pb2.Filters.OPERATOR_OR):
        if not f.filters:
            raise ValidationError("filters: and/or without operands")
        parts = [parse_filters(x, budget, depth + 1) for x in f.filters]
        return F.And(parts) if op == base_pb2.Filters.OPERATOR_AND else F.Or(parts)
    if op == base_pb2.Filters.OPERATOR_NOT:
        if len(f.filters) != 1:
            raise ValidationError("filters: not takes exactly one operand")
        return F.Not(parse_filters(f.filters[0], budget, depth + 1))
    name = _OPS.get(op)
    if name is None:
        raise ValidationError(f"filters: operator {_operator_name(op)} is not supported")
    if f.HasField("target"):
        if f.target.WhichOneof("target") != "property":
            raise ValidationError("filters: only property, id and time targets are supported (no references)")
        path = f.target.property
    elif len(f.on) == 1:
        path = f.on[0]
    else:
        raise ValidationError("filters: a filter needs one target property")
    target = _TARGETS.get(path, "property")
    value = _filter_value(f)
    if target == "id" and name != "is_none":
        for v in value if isinstance(value, list) else [value]:
            guards.uuid_str(v, "filters: _id")
    return F.Where(target, name, value, path if target == "property" else "")


def _target_vector(*sources: Any) -> str | None:
    for s in sources:
        if s is None:
            continue
        if hasattr(s, "targets") and s.HasField("targets") and len(s.targets.target_vectors):
            if len(s.targets.target_vectors) > 1:
                raise ValidationError("searching several target vectors at once is not supported")
            return str(s.targets.target_vectors[0])
        if hasattr(s, "target_vectors") and len(s.target_vectors):
            if len(s.target_vectors) > 1:
                raise ValidationError("searching several target vectors at once is not supported")
            return str(s.target_vectors[0])
    return None


def _query_vectors(msg: Any, where: str) -> np.ndarray | None:
    """A multi-vector from ``vectors`` (preferred) or ``vector_bytes`` of a NearVector/Hybrid message,
    at most ``guards.MAX_QUERY_TOKENS`` rows."""
    out: np.ndarray | None = None
    if len(msg.vectors):
        if len(msg.vectors) > 1:
            raise ValidationError(f"{where}: one query vector expected, got {len(msg.vectors)}")
        out = wire.decode_vector(msg.vectors[0], where)
    elif msg.vector_bytes:
        out = wire.decode_vector(base_pb2.Vectors(vector_bytes=msg.vector_bytes), where)
    elif len(msg.vector):
        out = np.asarray([list(msg.vector)], np.float32)
    if out is not None:
        guards.query_tokens(int(out.shape[0]), where)
    return out


def _query_properties(names: Any) -> list[str] | None:
    """The searched properties (``name`` or ``name^boost``), first letters lower-cased as Weaviate does."""
    return [lowercase_first(str(n)) for n in names] or None


def _ms(t: dt.datetime | None) -> int:
    return round(t.timestamp() * 1000) if t is not None else 0


def _threshold(msg: Any, where: str) -> dict[str, float | None]:
    """A search's ``distance`` or ``certainty`` limit (one of them at most, as Weaviate requires)."""
    distance = msg.distance if msg.HasField("distance") else None
    certainty = msg.certainty if msg.HasField("certainty") else None
    if distance is not None and certainty is not None:
        raise ValidationError(f"{where}: cannot provide distance and certainty")
    return {"distance": distance, "certainty": certainty}


# Weaviate's aggregator names of each request message's flags.
_METRIC_FLAGS = {
    "int": {f: f for f in ("count", "type", "sum", "mean", "mode", "median", "maximum", "minimum")},
    "number": {f: f for f in ("count", "type", "sum", "mean", "mode", "median", "maximum", "minimum")},
    "text": {"count": "count", "type": "type", "top_occurences": "topOccurrences"},
    "boolean": {
        "count": "count",
        "type": "type",
        "total_true": "totalTrue",
        "total_false": "totalFalse",
        "percentage_true": "percentageTrue",
        "percentage_false": "percentageFalse",
    },
    "date": {f: f for f in ("count", "type", "median", "mode", "maximum", "minimum")},
}


def _metric_request(a: aggregate_pb2.AggregateRequest.Aggregation) -> tuple[str, agg.Metrics]:
    """(the property as the request names it, what the store computes): the kind of the result follows
    the property's data type, the flags say which metrics (Weaviate reads them whatever the kind)."""
    kind = a.WhichOneof("aggregation")
    if kind == "reference":
        raise ValidationError(f"aggregate: property {a.property!r}: reference aggregations are not supported")
    names: set[str] = set()
    top_limit = None
    if kind is not None:
        msg = getattr(a, kind)
        names = {metric for flag, metric in _METRIC_FLAGS[kind].items() if getattr(msg, flag)}
        # A top-occurrences limit counts only when top occurrences are asked for (else Weaviate's 5).
        if kind == "text" and msg.top_occurences and msg.HasField("top_occurences_limit"):
            top_limit = msg.top_occurences_limit
    return a.property, agg.Metrics(lowercase_first(a.property), frozenset(names), top_limit)


def _aggregations_reply(
    g: agg.AggregateGroup, metrics: list[tuple[str, agg.Metrics]]
) -> aggregate_pb2.AggregateReply.Aggregations:
    A = aggregate_pb2.AggregateReply.Aggregations.Aggregation
    out = []
    for asked, m in metrics:
        pa = g.properties[m.property]
        v = pa.values
        if pa.kind == "numerical" and pa.data_type in ("int", "int[]"):
            # Weaviate's integer reply: whole numbers but for mean and median (Go's int64 truncation).
            i = A.Integer(type=v.get("type"))
            for k in ("count", "mode", "maximum", "minimum", "sum"):
                if k in v:
                    setattr(i, k, int(v[k]))
            for k in ("mean", "median"):
                if k in v:
                    setattr(i, k, float(v[k]))
            out.append(A(property=asked, int=i))
        elif pa.kind == "numerical":
            n = A.Number(type=v.get("type"), count=v.get("count"))
            for k in ("mode", "maximum", "minimum", "sum", "mean", "median"):
                if k in v:
                    setattr(n, k, float(v[k]))
            out.append(A(property=asked, number=n))
        elif pa.kind == "date":
            texts = {k: v[k] for k in ("median", "mode", "maximum", "minimum") if k in v}
            out.append(A(property=asked, date=A.Date(type=v.get("type"), count=v.get("count"), **texts)))
        elif pa.kind == "text":
            top = None
            if pa.top_occurrences:
                top = A.Text.TopOccurrences(
                    items=[
                        A.Text.TopOccurrences.TopOccurrence(value=t, occurs=n) for t, n in pa.top_occurrences
                    ]
                )
            out.append(
                A(property=asked, text=A.Text(type=v.get("type"), count=v["count"], top_occurences=top))
            )
        else:
            out.append(
                A(
                    property=asked,
                    boolean=A.Boolean(
                        type=v.get("type"),
                        count=v["count"],
                        total_true=v["totalTrue"],
                        total_false=v["totalFalse"],
                        percentage_true=v["percentageTrue"],
                        percentage_false=v["percentageFalse"],
                    ),
                )
            )
    return aggregate_pb2.AggregateReply.Aggregations(aggregations=out)


def _grouped_by_reply(prop: str, value: Any) -> aggregate_pb2.AggregateReply.Group.GroupedBy:
    G = aggregate_pb2.AggregateReply.Group.GroupedBy
    if isinstance(value, bool):
        return G(path=[prop], boolean=value)
    if isinstance(value, float):
        return G(path=[prop], number=value)
    return G(path=[prop], text=str(value))


class WeaviateServicer(weaviate_pb2_grpc.WeaviateServicer):
    def __init__(self, state: ServerState, ops: WeaviateOps) -> None:
        self.state = state
        self.ops = ops

    async def _call(
        self, endpoint: str, context: grpc.aio.ServicerContext, fn: Callable[[], Awaitable[Any]]
    ) -> Any:
        async def ready_then_run() -> Any:
            self.state.require_embedding()  # the store opens with the model: not ready, not served
            return await fn()

        return await call_rpc(self.state, endpoint, context, ready_then_run)

    # -- Search -----------------------------------------------------------------------------------
    async def Search(self, request: search_get_pb2.SearchRequest, context: grpc.aio.ServicerContext) -> Any:
        return await self._call("weaviate.v1/Search", context, lambda: self._search(request))

    async def _search(self, req: search_get_pb2.SearchRequest) -> search_get_pb2.SearchReply:
        t0 = time.perf_counter()
        if req.tenant:
            raise ValidationError("multi-tenancy is not supported by this server")
        if (
            len(req.sort_by)
            or req.HasField("group_by")
            or req.HasField("generative")
            or req.HasField("rerank")
        ):
            raise ValidationError("sort, group-by, generative and rerank are not supported by this server")
        name = guards.collection_name(req.collection, "collection")
        limit = req.limit or DEFAULT_LIMIT
        guards.page(limit, req.offset)
        filters = parse_filters(req.filters) if req.HasField("filters") else None
        after = guards.uuid_str(req.after, "after") if req.after else None
        max_chars = self.state.cfg.max_text_chars
        for field, text in (("bm25", req.bm25_search.query), ("hybrid", req.hybrid_search.query)):
            if len(text) > max_chars:
                raise ValidationError(
                    f"{field}: the query has {len(text)} characters; the limit is {max_chars}"
                )
        coll = await self.ops.run(self.ops.store.get_collection, name)
        cfg: CollectionConfig = coll.config
        md = req.metadata
        include_vector: bool | list[str] = list(md.vectors) if len(md.vectors) else bool(md.vector)
        props: list[str] | None = None
        if req.HasField("properties") and not req.properties.return_all_nonref_properties:
            props = [lowercase_first(p) for p in req.properties.non_ref_properties]
        common: dict[str, Any] = {
            "limit": limit,
            "offset": req.offset,
            "filters": filters,
            "return_properties": props,
            "include_vector": include_vector,
        }
        autocut = req.autocut or None
        results: list[SearchResult]
        qv: np.ndarray | None
        target: str | None
        if req.HasField("near_text"):
            nt = req.near_text
            target, qv = await self.ops.query_vector(cfg, _target_vector(nt), " ".join(nt.query))
            results = await self.ops.heavy(
                coll.near_vector,
                qv,
                target_vector=target,
                autocut=autocut,
                **_threshold(nt, "near_text"),
                **common,
            )
        elif req.HasField("near_image"):
            ni = req.near_image
            target, qv = await self.ops.image_query_vector(cfg, _target_vector(ni), ni.image)
            results = await self.ops.heavy(
                coll.near_vector,
                qv,
                target_vector=target,
                autocut=autocut,
                **_threshold(ni, "near_image"),
                **common,
            )
        elif req.HasField("near_object"):
            no = req.near_object
            oid = guards.uuid_str(no.id, "near_object.id")
            results = await self.ops.heavy(
                coll.near_object,
                oid,
                target_vector=_target_vector(no),
                autocut=autocut,
                **_threshold(no, "near_object"),
                **common,
            )
        elif req.HasField("near_vector"):
            nv = req.near_vector
            qv = _query_vectors(nv, "near_vector")
            if qv is None:
                raise ValidationError("near_vector: no vector given")
            results = await self.ops.heavy(
                coll.near_vector,
                qv,
                target_vector=_target_vector(nv),
                autocut=autocut,
                **_threshold(nv, "near_vector"),
                **common,
            )
        elif req.HasField("hybrid_search"):
            h = req.hybrid_search
            target = _target_vector(h, h.near_vector if h.HasField("near_vector") else None)
            qv = _query_vectors(h, "hybrid")
            if qv is None and h.HasField("near_vector"):
                qv = _query_vectors(h.near_vector, "hybrid.near_vector")
            # Clients >= 1.36.6 send use_alpha_param (alpha_param only when set: default 0.75);
            # older ones always send alpha.
            default_alpha = h.alpha_param if h.HasField("alpha_param") else 0.75
            alpha = default_alpha if h.use_alpha_param else h.alpha
            if qv is None and alpha > 0 and h.query:
                vtarget = target or (next(iter(cfg.vectors)) if len(cfg.vectors) == 1 else None)
                if vtarget is not None and cfg.vectors[vtarget].vectorizer != "none":
                    target, qv = await self.ops.query_vector(cfg, vtarget, h.query)
            fusion = "ranked" if h.fusion_type == h.FUSION_TYPE_RANKED else "relativeScore"
            results = await self.ops.heavy(
                coll.hybrid,
                h.query,
                alpha=alpha,
                vector=qv,
                query_properties=_query_properties(h.properties),
                fusion_type=fusion,
                target_vector=target,
                max_vector_distance=h.vector_distance if h.HasField("vector_distance") else None,
                autocut=autocut,
                **common,
            )
        elif req.HasField("bm25_search"):
            b = req.bm25_search
            results = await self.ops.heavy(
                coll.bm25,
                b.query,
                query_properties=_query_properties(b.properties),
                autocut=autocut,
                **common,
            )
        elif any(
            req.HasField(k)
            for k in (
                "near_audio",
                "near_video",
                "near_depth",
                "near_thermal",
                "near_imu",
            )
        ):
            raise ValidationError(
                "only near_text, near_vector, near_object, near_image, hybrid and bm25 searches are supported"
            )
        else:
            results = await self.ops.heavy(
                coll.fetch_objects,
                after=after,
                **{k: v for k, v in common.items()},
            )
        types = {p.name: p.data_type for p in cfg.properties}
        # Building thousands of results (with their vectors) is CPU work: off the event loop.
        built = await self.ops.run(lambda: [self._result(cfg.name, r, md, types) for r in results])
        return search_get_pb2.SearchReply(took=time.perf_counter() - t0, results=built)

    def _result(
        self, name: str, r: SearchResult, md: search_get_pb2.MetadataRequest, types: dict[str, str]
    ) -> search_get_pb2.SearchResult:
        m = r.metadata
        meta = search_get_pb2.MetadataResult(id=str(r.uuid), id_as_bytes=wire.uuid_bytes(r.uuid))
        if md.creation_time_unix and m.creation_time is not None:
            meta.creation_time_unix = _ms(m.creation_time)
            meta.creation_time_unix_present = True
        if md.last_update_time_unix and m.last_update_time is not None:
            meta.last_update_time_unix = _ms(m.last_update_time)
            meta.last_update_time_unix_present = True
        if md.distance and m.distance is not None:
            meta.distance = m.distance
            meta.distance_present = True
        if md.certainty and m.certainty is not None:
            meta.certainty = m.certainty
            meta.certainty_present = True
        if md.score and m.score is not None:
            meta.score = m.score
            meta.score_present = True
        if md.explain_score and m.explain_score is not None:
            meta.explain_score = m.explain_score
            meta.explain_score_present = True
        for vname, vec in (r.vectors or {}).items():
            meta.vectors.append(wire.encode_multi_vector(vname, vec))
        return search_get_pb2.SearchResult(
            metadata=meta,
            properties=search_get_pb2.PropertiesResult(
                non_ref_props=wire.to_properties(r.properties, types), target_collection=name
            ),
        )

    # -- Aggregate --------------------------------------------------------------------------------
    async def Aggregate(
        self, request: aggregate_pb2.AggregateRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        return await self._call("weaviate.v1/Aggregate", context, lambda: self._aggregate(request))

    async def _aggregate(self, req: aggregate_pb2.AggregateRequest) -> aggregate_pb2.AggregateReply:
        """Weaviate's Aggregate: the request's search, filter and metrics as the store's aggregate
        (``Collection.aggregate``), with Weaviate's request rules (a vector search needs an object
        limit or a certainty; a distance d is the certainty 1 - d / 2, ignored when not positive)."""
        t0 = time.perf_counter()
        if req.tenant:
            raise ValidationError("multi-tenancy is not supported by this server")
        name = guards.collection_name(req.collection, "collection")
        filters = parse_filters(req.filters) if req.HasField("filters") else None
        coll = await self.ops.run(self.ops.store.get_collection, name)
        cfg: CollectionConfig = coll.config
        metrics = [_metric_request(a) for a in req.aggregations]
        object_limit = req.object_limit if req.HasField("object_limit") else None
        limit = req.limit if req.HasField("limit") else None
        group_by = lowercase_first(req.group_by.property) if req.HasField("group_by") else None
        kind = req.WhichOneof("search")
        search: agg.Search | None = None
        certainty: float | None = None
        if kind in ("near_vector", "near_object", "near_text", "near_image"):
            msg = getattr(req, kind)
            if msg.HasField("distance") and msg.HasField("certainty"):
                raise ValidationError(f"{kind}: cannot provide distance and certainty")
            c = 0.0
            if msg.HasField("certainty") and msg.certainty != 0:
                c = msg.certainty
            elif msg.HasField("distance"):
                c = 1.0 - msg.distance / 2.0
            if c <= 0 and object_limit is None:
                raise ValidationError("must provide certainty or objectLimit with vector search")
            certainty = c if c > 0 else None
            target = _target_vector(msg)
            if kind == "near_vector":
                qv = _query_vectors(msg, "near_vector")
                if qv is None:
                    raise ValidationError("near_vector: no vector given")
                search = agg.NearVector(qv, target)
            elif kind == "near_object":
                search = agg.NearObject(guards.uuid_str(msg.id, "near_object.id"), target)
            elif kind == "near_text":
                target, qv = await self.ops.query_vector(cfg, target, " ".join(msg.query))
                search = agg.NearVector(qv, target)
            else:
                target, qv = await self.ops.image_query_vector(cfg, target, msg.image)
                search = agg.NearVector(qv, target)
        elif kind == "hybrid":
            search = await self._hybrid_aggregate_search(cfg, req.hybrid, object_limit)
        elif kind is not None:
            raise ValidationError(
                f"{kind}: only near_vector, near_object, near_text, near_image and hybrid aggregates "
                "are supported"
            )
        res = await self.ops.heavy(
            coll.aggregate,
            search,
            metrics=[m for _, m in metrics],
            filters=filters,
            object_limit=object_limit,
            certainty=certainty,
            group_by=group_by,
            limit=limit,
        )
        took = time.perf_counter() - t0
        R = aggregate_pb2.AggregateReply
        if not res.grouped:
            g = res.groups[0]
            return R(
                took=took,
                single_result=R.Single(
                    objects_count=g.count if req.objects_count else 0,
                    aggregations=_aggregations_reply(g, metrics),
                ),
            )
        if not res.groups:
            return R(took=took)  # as Weaviate: no groups, no result
        groups = [
            R.Group(
                objects_count=g.count,
                aggregations=_aggregations_reply(g, metrics),
                grouped_by=_grouped_by_reply(
                    req.group_by.property, g.grouped_by[1] if g.grouped_by else None
                ),
            )
            for g in res.groups
        ]
        return R(took=took, grouped_results=R.Grouped(groups=groups))

    async def _hybrid_aggregate_search(
        self, cfg: CollectionConfig, h: Any, object_limit: int | None
    ) -> agg.Hybrid:
        target = _target_vector(h, h.near_vector if h.HasField("near_vector") else None)
        qv = _query_vectors(h, "hybrid")
        if qv is None and h.HasField("near_vector"):
            qv = _query_vectors(h.near_vector, "hybrid.near_vector")
        max_distance = h.vector_distance if h.HasField("vector_distance") else None
        if qv is None and object_limit is None and max_distance is None:
            raise ValidationError("must provide certainty or objectLimit with vector search")
        default_alpha = h.alpha_param if h.HasField("alpha_param") else 0.75
        alpha = default_alpha if h.use_alpha_param else h.alpha
        if qv is None and alpha > 0 and h.query:
            vtarget = target or (next(iter(cfg.vectors)) if len(cfg.vectors) == 1 else None)
            if vtarget is not None and cfg.vectors[vtarget].vectorizer != "none":
                target, qv = await self.ops.query_vector(cfg, vtarget, h.query)
        # Weaviate's hybrid aggregate searches every searchable `text` property (not text[]), whatever
        # the request's properties say.
        keyword_props = [p.name for p in cfg.properties if p.data_type == "text" and p.index_searchable]
        return agg.Hybrid(
            h.query,
            alpha,
            qv,
            keyword_props,
            "ranked" if h.fusion_type == h.FUSION_TYPE_RANKED else "relativeScore",
            target,
            max_distance,
        )

    # -- Batches ----------------------------------------------------------------------------------
    async def _import(
        self, objects: list[batch_pb2.BatchObject]
    ) -> tuple[dict[int, str], list[str], StorageFullError | None]:
        """Stores a batch: per-index errors, the UUIDs in input order, and the disk-full error if one
        collection's objects could not be written for lack of space."""
        errors: dict[int, str] = {}
        disk_full: StorageFullError | None = None
        by_coll: dict[str, list[tuple[int, DataObject]]] = {}
        uuids: list[str] = []
        for i, o in enumerate(objects):
            uuids.append(o.uuid)
            where = f"objects[{i}]"
            try:
                if o.tenant:
                    raise ValidationError(f"{where}: multi-tenancy is not supported by this server")
                name = guards.collection_name(o.collection, f"{where}.collection")
                oid = guards.uuid_str(o.uuid, f"{where}.uuid") if o.uuid else None
                props = wire.batch_properties(o.properties, where) if o.HasField("properties") else {}
                vectors = wire.batch_vectors(o, where)
                obj = DataObject(props, oid, dict(vectors) or None)
                by_coll.setdefault(name, []).append((i, obj))
            except ValidationError as e:
                errors[i] = e.message
            except StoreError as e:  # a bad collection name, two property names that are one
                errors[i] = f"{where}: {e}"
        for name, items in by_coll.items():
            try:
                res = await self.ops.insert_many(name, [obj for _, obj in items])
            except StorageFullError as e:
                disk_full = e
                errors.update({i: e.message for i, _ in items})
                continue
            except (NotFoundError, ValidationError) as e:
                errors.update({i: e.message for i, _ in items})
                continue
            for err in res.errors:
                errors[items[err.index][0]] = err.message
            for j, (i, _) in enumerate(items):
                if res.uuids[j] is not None:
                    uuids[i] = str(res.uuids[j])
        return errors, uuids, disk_full

    async def BatchObjects(
        self, request: batch_pb2.BatchObjectsRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        async def run() -> batch_pb2.BatchObjectsReply:
            t0 = time.perf_counter()
            errors, _, disk_full = await self._import(list(request.objects))
            if disk_full is not None and len(errors) == len(request.objects):
                raise disk_full  # nothing was stored: RESOURCE_EXHAUSTED for the whole call
            return batch_pb2.BatchObjectsReply(
                took=time.perf_counter() - t0,
                errors=[
                    batch_pb2.BatchObjectsReply.BatchError(index=i, error=m)
                    for i, m in sorted(errors.items())
                ],
            )

        return await self._call("weaviate.v1/BatchObjects", context, run)

    async def BatchDelete(
        self, request: batch_delete_pb2.BatchDeleteRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        async def run() -> batch_delete_pb2.BatchDeleteReply:
            t0 = time.perf_counter()
            name = guards.collection_name(request.collection, "collection")
            if not request.HasField("filters"):
                raise ValidationError("delete_many needs a filter")
            filters = parse_filters(request.filters)
            coll = await self.ops.run(self.ops.store.get_collection, name)
            matches = await self.ops.heavy(coll.fetch_objects, filters=filters, limit=guards.MAX_RESULTS)
            if request.dry_run:
                deleted = 0
            else:
                deleted = await self.ops.heavy(
                    coll.delete_many, ids=[m.uuid for m in matches], filters=filters
                )
                self.ops.note(coll)
            # As Weaviate's gRPC handler counts: an object without an error is successful, so a dry run
            # reports every match as successful (its REST handler counts them as DRYRUN instead).
            successful = len(matches) if request.dry_run else deleted
            objs = []
            if request.verbose:
                objs = [
                    batch_delete_pb2.BatchDeleteObject(uuid=wire.uuid_bytes(m.uuid), successful=True)
                    for m in matches
                ]
            return batch_delete_pb2.BatchDeleteReply(
                took=time.perf_counter() - t0,
                failed=len(matches) - successful,
                matches=len(matches),
                successful=successful,
                objects=objs,
            )

        return await self._call("weaviate.v1/BatchDelete", context, run)

    async def BatchStream(
        self, requests: AsyncIterator[batch_pb2.BatchStreamRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[batch_pb2.BatchStreamReply]:
        """start → started; each data message → acks at once, then results once the objects are durable;
        stop → the stream ends after the last results. The batch size the client should use is sent as
        backoff (the vectorizer's batch size when a collection vectorizes)."""
        R = batch_pb2.BatchStreamReply
        try:
            self.state.require_embedding()
        except ServiceError as e:
            await context.abort(e.grpc_code, e.message)
        out: asyncio.Queue[batch_pb2.BatchStreamReply | None] = asyncio.Queue()
        pending: set[asyncio.Task[None]] = set()
        window = asyncio.Semaphore(4)  # at most 4 data messages in flight: backpressure on the client

        async def handle(objects: list[batch_pb2.BatchObject]) -> None:
            try:
                errors, uuids, _ = await self._import(objects)
            except ServiceError as e:
                errors, uuids = dict.fromkeys(range(len(objects)), e.message), [o.uuid for o in objects]
            except Exception:
                # Every object still gets a result: a client waiting for one would never finish its batch.
                log.exception("BatchStream: importing %d objects failed", len(objects))
                msg = "internal error (see the server log)"
                errors, uuids = dict.fromkeys(range(len(objects)), msg), [o.uuid for o in objects]
            finally:
                window.release()
            res = R.Results(
                errors=[R.Results.Error(error=m, uuid=uuids[i]) for i, m in sorted(errors.items())],
                successes=[R.Results.Success(uuid=u) for i, u in enumerate(uuids) if i not in errors],
            )
            await out.put(R(results=res))

        protocol_error: list[str] = []

        async def reader() -> None:
            started = False
            try:
                async for msg in requests:
                    kind = msg.WhichOneof("message")
                    if kind != "start" and not started:
                        protocol_error.append(f"BatchStream: the first message must be 'start', got {kind!r}")
                        break
                    if kind == "start":
                        if not started:
                            started = True
                            await out.put(R(started=R.Started()))
                            await out.put(R(backoff=R.Backoff(batch_size=self._stream_batch_size())))
                    elif kind == "data":
                        if self.state.stopping:
                            # Not acknowledged: the client keeps these and resends them after reconnecting.
                            await out.put(R(shutting_down=R.ShuttingDown()))
                            break
                        objs = list(msg.data.objects.values)
                        if len(msg.data.references.values):
                            await out.put(
                                R(
                                    results=R.Results(
                                        errors=[
                                            R.Results.Error(
                                                error="cross-references are not supported by this server",
                                                beacon=f"weaviate://localhost/{r.to_collection}/{r.to_uuid}",
                                            )
                                            for r in msg.data.references.values
                                        ]
                                    )
                                )
                            )
                        if not objs:
                            continue
                        await out.put(R(acks=R.Acks(uuids=[o.uuid for o in objs])))
                        await window.acquire()
                        t = asyncio.create_task(handle(objs))
                        pending.add(t)
                        t.add_done_callback(pending.discard)
                    elif kind == "stop":
                        break
            finally:
                if pending:
                    await asyncio.gather(*pending, return_exceptions=True)
                await out.put(None)

        read_task = asyncio.create_task(reader())
        t0 = time.perf_counter()
        try:
            while True:
                reply = await out.get()
                if reply is None:
                    break
                yield reply
            if protocol_error:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, protocol_error[0])
        finally:
            read_task.cancel()
            self.state.metrics.requests.labels("grpc", "weaviate.v1/BatchStream", "OK").inc()
            self.state.metrics.latency.labels("grpc", "weaviate.v1/BatchStream").observe(
                time.perf_counter() - t0
            )

    def _stream_batch_size(self) -> int:
        svc = self.state.embedding
        return max(8, 4 * svc.cfg.max_batch_images) if svc is not None else 100


def register(state: ServerState, ops: WeaviateOps) -> Callable[[grpc.aio.Server], None]:
    def add(server: grpc.aio.Server) -> None:
        weaviate_pb2_grpc.add_WeaviateServicer_to_server(WeaviateServicer(state, ops), server)  # type: ignore[no-untyped-call]

    return add

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
    base_search_pb2,
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
from colweave.store.group_by import Group, GroupBy
from colweave.store.objects import DataObject
from colweave.store.references import (
    MAX_REFERENCE_DEPTH,
    Referenced,
    RefQuery,
    resolve_references,
)
from colweave.store.results import SearchResult
from colweave.store.schema import BEACON_PREFIX, MULTI2MULTIVEC, REFERENCE, CollectionConfig, lowercase_first

log = logging.getLogger("colweave.weaviate")
DEFAULT_LIMIT = 10
# The largest batch Weaviate's batch stream asks its clients for (its backoff messages range 100..1000).
STREAM_BATCH_MAX = 1000
# The fields of a SearchRequest that are a search (a request with none of them fetches objects).
_SEARCHES = ("near_text", "near_vector", "hybrid_search", "bm25_search", "near_object", "near_image")
# A referenced object's metadata: its times (the client asks for them; Weaviate always has them).
_REF_METADATA = search_get_pb2.MetadataRequest(creation_time_unix=True, last_update_time_unix=True)

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
    base_pb2.Filters.OPERATOR_WITHIN_GEO_RANGE: "within_geo_range",
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
    if kind == "value_geo":
        g = f.value_geo
        return (g.latitude, g.longitude, g.distance)
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
    via: list[F.Hop] = []
    if f.HasField("target"):
        t = f.target
        while True:  # along cross-references (Filter.by_ref(...)...) to the condition's target
            kind = t.WhichOneof("target")
            if kind == "single_target":
                via.append(F.Hop(t.single_target.on))
                t = t.single_target.target
            elif kind == "multi_target":
                via.append(F.Hop(t.multi_target.on, t.multi_target.target_collection or None))
                t = t.multi_target.target
            else:
                break
            if len(via) > guards.MAX_FILTER_DEPTH:
                raise ValidationError(
                    f"filters: references may be followed at most {guards.MAX_FILTER_DEPTH} deep"
                )
        if kind == "count":
            return F.Where("ref_count", name, _filter_value(f), t.count.on, tuple(via))
        if kind != "property":
            raise ValidationError("filters: a filter needs a target property")
        path = t.property
    elif len(f.on) == 1:
        path = f.on[0]
    else:
        raise ValidationError("filters: a filter needs one target property")
    target = _TARGETS.get(path, "property")
    value = _filter_value(f)
    if target == "id" and name != "is_none":
        for v in value if isinstance(value, list) else [value]:
            guards.uuid_str(v, "filters: _id")
    return F.Where(target, name, value, path if target == "property" else "", tuple(via))


def _ref_queries(refs: Any, depth: int = 1) -> list[RefQuery]:
    """The references to return (``return_references``), nested as the request nests them."""
    if depth > MAX_REFERENCE_DEPTH and len(refs):
        raise ValidationError(
            f"return_references: references may be followed at most {MAX_REFERENCE_DEPTH} deep"
        )
    out = []
    for r in refs:
        props: list[str] | None = None
        nested: list[RefQuery] = []
        if r.HasField("properties"):
            if not r.properties.return_all_nonref_properties:
                props = [lowercase_first(p) for p in r.properties.non_ref_properties]
            nested = _ref_queries(r.properties.ref_properties, depth + 1)
        md = r.metadata
        vec: bool | list[str] = list(md.vectors) if len(md.vectors) else bool(md.vector)
        out.append(
            RefQuery(
                link_on=lowercase_first(r.reference_property),
                target_collection=r.target_collection or None,
                return_properties=props,
                include_vector=vec,
                references=nested,
                return_metadata=md if r.HasField("metadata") else None,
            )
        )
    return out


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


def _query_vectors(msg: Any, where: str) -> tuple[str | None, np.ndarray | None]:
    """The query vector of a NearVector / Hybrid message and the target it names, if any: from
    ``vectors`` (preferred), ``vector_bytes``, ``vector``, or one target's ``vector_for_targets`` /
    ``vector_per_target`` (the client's ``near_vector={"name": vector}``). A single vector is 1-D, a
    multi-vector 2-D with at most ``guards.MAX_QUERY_TOKENS`` rows."""
    out: np.ndarray | None = None
    target: str | None = None
    per_target: Any = getattr(msg, "vector_for_targets", ())
    by_name: Any = getattr(msg, "vector_per_target", {})
    if len(msg.vectors):
        if len(msg.vectors) > 1:
            raise ValidationError(f"{where}: one query vector expected, got {len(msg.vectors)}")
        out = wire.decode_vector(msg.vectors[0], where)
    elif msg.vector_bytes:
        out = wire.decode_vector(base_pb2.Vectors(vector_bytes=msg.vector_bytes), where)
    elif len(msg.vector):
        out = np.asarray(list(msg.vector), np.float32)
    elif len(per_target) or len(by_name):
        if len(per_target) + len(by_name) > 1 or (len(per_target) and len(per_target[0].vectors) > 1):
            raise ValidationError("searching several target vectors at once is not supported")
        if len(per_target):
            vt = per_target[0]
            target = vt.name or None
            if len(vt.vectors):
                out = wire.decode_vector(vt.vectors[0], where)
            else:
                out = wire.decode_vector(base_pb2.Vectors(vector_bytes=vt.vector_bytes), where)
        else:
            ((target, raw),) = by_name.items()
            out = wire.decode_vector(base_pb2.Vectors(vector_bytes=raw), where)
    if out is not None:
        guards.query_tokens(int(out.shape[0]) if out.ndim == 2 else 1, where)
    return target, out


_COMBINATIONS = {
    base_search_pb2.COMBINATION_METHOD_UNSPECIFIED: "min",  # Weaviate's default
    base_search_pb2.COMBINATION_METHOD_TYPE_MIN: "min",
    base_search_pb2.COMBINATION_METHOD_TYPE_SUM: "sum",
    base_search_pb2.COMBINATION_METHOD_TYPE_AVERAGE: "average",
    base_search_pb2.COMBINATION_METHOD_TYPE_MANUAL: "manual",
    base_search_pb2.COMBINATION_METHOD_TYPE_RELATIVE_SCORE: "relativeScore",
}


def _vector_legs(
    nv: base_search_pb2.NearVector, cfg: CollectionConfig, where: str
) -> tuple[list[tuple[str | None, np.ndarray]], str, list[float] | None]:
    """A NearVector message as (target, query vector) legs with their combination and weights, as
    Weaviate's parser reads it: one vector for every target named (or for the default one), or a
    vector per target (``vector_for_targets``), where a target may get several query vectors (rows of a
    multi-vector message for a single-vector target, or several messages) — each its own leg."""
    targets: list[str] = []
    combination, weights = "min", None
    if nv.HasField("targets"):
        t = nv.targets
        targets = [str(x) for x in t.target_vectors]
        if t.combination not in _COMBINATIONS:
            raise ValidationError(f"{where}: unknown combination method {t.combination}")
        combination = _COMBINATIONS[t.combination]
        if combination in ("manual", "relativeScore"):
            if len(t.weights_for_targets) != len(targets):
                raise ValidationError(
                    f"{where}: number of weights ({len(t.weights_for_targets)}) does not match number of "
                    f"targets ({len(targets)})"
                )
            for wt, name in zip(t.weights_for_targets, targets, strict=True):
                if wt.target != name:
                    raise ValidationError(f"{where}: target vector {wt.target} not found in target vectors")
            weights = [float(wt.weight) for wt in t.weights_for_targets]
    elif len(nv.target_vectors):
        targets = [str(x) for x in nv.target_vectors]

    def is_multi(name: str | None) -> bool:
        vc = cfg.vectors.get(name) if name else None
        return vc.multi if vc is not None else False

    def expand(name: str | None, arrays: list[np.ndarray]) -> list[tuple[str | None, np.ndarray]]:
        out: list[tuple[str | None, np.ndarray]] = []
        for arr in arrays:
            if arr.ndim == 2 and name is not None and name in cfg.vectors and not is_multi(name):
                out.extend((name, row) for row in arr)  # several query vectors for one single vector
            else:
                out.append((name, arr))
        return out

    if len(nv.vector_for_targets):
        names = list(dict.fromkeys(targets)) if targets else []
        if len(nv.vector_for_targets) != len(names):
            raise ValidationError(f"{where}: vector for target must have the same lengths as target vectors")
        legs: list[tuple[str | None, np.ndarray]] = []
        for i, (vt, name) in enumerate(zip(nv.vector_for_targets, names, strict=True)):
            if vt.name != name:
                raise ValidationError(f"{where}: vector for target {name} is required")
            if len(vt.vectors):
                arrays = [wire.decode_vector(v, f"{where}.vector_for_targets[{i}]") for v in vt.vectors]
            else:
                arrays = [wire.decode_vector(base_pb2.Vectors(vector_bytes=vt.vector_bytes), where)]
            legs.extend(expand(name, arrays))
    elif len(nv.vector_per_target):
        names = list(dict.fromkeys(targets))
        if set(nv.vector_per_target) != set(names):
            raise ValidationError(f"{where}: vector per target must be provided for all targets")
        legs = [
            (name, wire.decode_vector(base_pb2.Vectors(vector_bytes=nv.vector_per_target[name]), where))
            for name in names
        ]
    else:
        _, vec = _query_vectors(nv, where)
        if vec is None:
            raise ValidationError(f"{where}: no vector given")
        legs = [(name, vec) for name in targets] if targets else [(None, vec)]
    for _, v in legs:
        guards.query_tokens(int(v.shape[0]) if v.ndim == 2 else 1, where)
    if weights is not None and len(weights) != len(legs):
        raise ValidationError(
            f"{where}: number of weights ({len(weights)}) does not match number of target vectors "
            f"({len(legs)})"
        )
    return legs, combination, weights


def _threshold(msg: Any, where: str) -> dict[str, float | None]:
    """A search's ``distance`` or ``certainty`` limit (one of them at most, as Weaviate requires)."""
    distance = msg.distance if msg.HasField("distance") else None
    certainty = msg.certainty if msg.HasField("certainty") else None
    if distance is not None and certainty is not None:
        raise ValidationError(f"{where}: cannot provide distance and certainty")
    return {"distance": distance, "certainty": certainty}


def _query_properties(names: Any) -> list[str] | None:
    """The searched properties (``name`` or ``name^boost``), first letters lower-cased as Weaviate does."""
    return [lowercase_first(str(n)) for n in names] or None


def _ms(t: dt.datetime | None) -> int:
    return round(t.timestamp() * 1000) if t is not None else 0


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
        if req.HasField("generative") or req.HasField("rerank"):
            raise ValidationError("generative and rerank are not supported by this server")
        spec: GroupBy | None = None
        if req.HasField("group_by"):
            gb = req.group_by
            if len(gb.path) != 1:
                raise ValidationError(f"groupby path can only have one entry, received [{' '.join(gb.path)}]")
            if not any(req.HasField(k) for k in _SEARCHES):
                raise ValidationError(
                    "group_by needs a search: near_vector, near_text, near_object, near_image, hybrid or bm25"
                )
            spec = GroupBy(lowercase_first(gb.path[0]), gb.number_of_groups, gb.objects_per_group)
        if len(req.sort_by) and any(req.HasField(k) for k in _SEARCHES):
            raise ValidationError("sorting cannot be combined with search")  # Weaviate's words
        if any(len(s.path) != 1 for s in req.sort_by):
            raise ValidationError(
                "sort: sorting by reference not supported, path must have exactly one argument"
            )
        sort = [(str(s.path[0]), bool(s.ascending)) for s in req.sort_by] or None
        if sort is not None and req.after:
            raise ValidationError("sort cannot be set with after and limit parameters")
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
        coll = await self.ops.run(self.ops.store.collection, name)
        cfg: CollectionConfig = coll.config
        md = req.metadata
        include_vector: bool | list[str] = list(md.vectors) if len(md.vectors) else bool(md.vector)
        props: list[str] | None = None
        ref_queries: list[RefQuery] = []
        if req.HasField("properties"):
            if not req.properties.return_all_nonref_properties:
                props = [lowercase_first(p) for p in req.properties.non_ref_properties]
            ref_queries = _ref_queries(req.properties.ref_properties)
        if spec is not None and props is not None and spec.prop not in props:
            props.append(spec.prop)  # Weaviate returns the grouped-by property whether asked for or not
        if filters is not None:
            filters = await self.ops.resolve_filter(coll.config, filters)
        common: dict[str, Any] = {
            "limit": limit,
            "offset": req.offset,
            "filters": filters,
            "return_properties": props,
            "include_vector": include_vector,
        }
        autocut = req.autocut or None
        groups: list[Group] = []

        async def heavy(
            fn: Callable[..., list[SearchResult]], *args: Any, **kwargs: Any
        ) -> list[SearchResult]:
            """The search, without the objects expired (store/ttl.py); with a group-by, its grouping (into
            ``groups``) over the same view, and no results: a vector search groups its ``offset + limit``
            nearest objects and then pages the groups, a keyword or hybrid search groups its page of
            results (store/group_by.py)."""
            if spec is None:
                return await self.ops.heavy(lambda: coll.unexpired(fn(*args, **kwargs)))
            by_distance = fn.__name__ not in ("hybrid", "bm25")
            if by_distance:
                kwargs = {**kwargs, "limit": kwargs["limit"] + kwargs["offset"], "offset": 0}
            found = await self.ops.heavy(
                coll.search_grouped,
                lambda: coll.unexpired(fn(*args, **kwargs)),
                spec,
                by_distance=by_distance,
            )
            groups.extend(found[req.offset : req.offset + limit] if by_distance else found)
            return []

        results: list[SearchResult]
        qv: np.ndarray | None
        target: str | None
        if req.HasField("near_text"):
            nt = req.near_text
            target, qv = await self.ops.query_vector(cfg, _target_vector(nt), " ".join(nt.query))
            results = await heavy(
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
            results = await heavy(
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
            results = await heavy(
                coll.near_object,
                oid,
                target_vector=_target_vector(no),
                autocut=autocut,
                **_threshold(no, "near_object"),
                **common,
            )
        elif req.HasField("near_vector"):
            nv = req.near_vector
            legs, combination, weights = _vector_legs(nv, cfg, "near_vector")
            limits = _threshold(nv, "near_vector")
            if len(legs) == 1:
                results = await heavy(
                    coll.near_vector,
                    legs[0][1],
                    target_vector=legs[0][0],
                    autocut=autocut,
                    **limits,
                    **common,
                )
            else:
                if limits["certainty"] is not None:
                    raise ValidationError("multiple target vectors are not supported with certainty")
                results = await heavy(
                    coll.near_vectors,
                    legs,
                    combination=combination,
                    weights=weights,
                    autocut=autocut,
                    distance=limits["distance"],
                    **common,
                )
        elif req.HasField("hybrid_search"):
            results = await heavy(
                coll.hybrid, **(await self._hybrid_kwargs(req.hybrid_search, cfg)), autocut=autocut, **common
            )
        elif req.HasField("bm25_search"):
            b = req.bm25_search
            results = await heavy(
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
            extra = {"sort": sort} if sort is not None else {}
            results = await heavy(
                coll.fetch_objects,
                after=after,
                **extra,
                **{k: v for k, v in common.items()},
            )
        if spec is not None:
            results = [h for g in groups for h in g.hits]
        refs: list[dict[str, list[Referenced]]] | None = None
        if ref_queries:
            refs = await self.ops.heavy(resolve_references, self.ops.store, cfg, results, ref_queries)
        store = self.ops.store
        lv = cfg.legacy_vector
        legacy = lv.name if lv is not None else None
        types: dict[str, dict[str, str]] = {}  # property types by collection, for this reply
        # Building thousands of results (with their vectors) is CPU work: off the event loop.
        built = await self.ops.run(
            lambda: [
                search_get_pb2.SearchResult(
                    metadata=self._metadata(r, md, legacy),
                    properties=self._properties(
                        store,
                        cfg,
                        r,
                        refs[i] if refs is not None else None,
                        ref_queries,
                        bool(ref_queries),
                        types,
                    ),
                )
                for i, r in enumerate(results)
            ]
        )
        if spec is None:
            return search_get_pb2.SearchReply(took=time.perf_counter() - t0, results=built)
        # A group's hits carry only their id, vectors and distance (Weaviate's group hits have no more).
        hit_md = search_get_pb2.MetadataRequest(vector=md.vector, vectors=md.vectors, distance=md.distance)
        reply = search_get_pb2.SearchReply(took=time.perf_counter() - t0)
        i = 0
        for g in groups:
            out = reply.group_by_results.add(
                name=g.name,
                min_distance=g.min_distance,
                max_distance=g.max_distance,
                number_of_objects=len(g.hits),
            )
            for h in g.hits:
                hit = out.objects.add()
                hit.CopyFrom(built[i])
                hit.metadata.CopyFrom(self._metadata(h, hit_md, legacy))
                i += 1
        return reply

    def _properties(
        self,
        store: Any,
        cfg: CollectionConfig,
        r: SearchResult,
        refs: dict[str, list[Referenced]] | None,
        queries: list[RefQuery],
        requested: bool,
        type_cache: dict[str, dict[str, str]],
    ) -> search_get_pb2.PropertiesResult:
        """An object's properties as Weaviate returns them: the non-reference ones as values, and per
        reference property asked for (and present on the object) the referenced objects, nested."""
        types = type_cache.get(cfg.name)
        if types is None:
            types = type_cache[cfg.name] = {p.name: p.data_type for p in cfg.properties}
        values = {k: v for k, v in r.properties.items() if types.get(k) != REFERENCE}
        out = search_get_pb2.PropertiesResult(
            non_ref_props=wire.to_properties(values, types),
            target_collection=cfg.name,
            ref_props_requested=requested,
        )
        by_link = {lowercase_first(q.link_on): q for q in queries}
        for prop, objs in (refs or {}).items():
            q = by_link.get(prop)
            sub = search_get_pb2.RefPropertiesResult(prop_name=prop)
            for o in objs:
                tcfg = store.find_collection(o.collection)  # a dictionary lookup once open
                if tcfg is None:
                    continue
                nested_q = q.references if q is not None else []
                inner = self._properties(
                    store, tcfg.config, o.object, o.references, nested_q, bool(nested_q), type_cache
                )
                rmd = q.return_metadata if q is not None and q.return_metadata is not None else _REF_METADATA
                tlv = tcfg.config.legacy_vector
                inner.metadata.CopyFrom(self._metadata(o.object, rmd, tlv.name if tlv is not None else None))
                sub.properties.append(inner)
            out.ref_props.append(sub)
        return out

    def _metadata(
        self, r: SearchResult, md: search_get_pb2.MetadataRequest, legacy: str | None = None
    ) -> search_get_pb2.MetadataResult:
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
        # Weaviate answers a score and an explain score whenever they are asked for (0 and "" where the
        # search has none, a fetch or a vector search).
        if md.score:
            meta.score = m.score if m.score is not None else 0.0
            meta.score_present = True
        if md.explain_score:
            meta.explain_score = m.explain_score if m.explain_score is not None else ""
            meta.explain_score_present = True
        for vname, vec in (r.vectors or {}).items():
            if vec.ndim == 1 and vname == legacy:  # a legacy collection's vector: the unnamed one
                meta.vector_bytes = np.ascontiguousarray(vec, "<f4").tobytes()
            elif vec.ndim == 1:
                meta.vectors.append(wire.encode_single_vector(vname, vec))
            else:
                meta.vectors.append(wire.encode_multi_vector(vname, vec))
        return meta

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
        coll = await self.ops.run(self.ops.store.collection, name)
        cfg: CollectionConfig = coll.config
        if filters is not None:  # references in the filter, resolved before the search
            filters = await self.ops.resolve_filter(cfg, filters)
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
                legs, _, _ = _vector_legs(msg, cfg, "near_vector")
                if len(legs) != 1:
                    raise ValidationError("found more than one target vector for aggregation")
                search = agg.NearVector(legs[0][1], legs[0][0])
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
        kw = await self._hybrid_kwargs(h, cfg)
        if kw["vector_legs"] is not None:
            raise ValidationError("found more than one target vector for aggregation")
        if kw["vector"] is None and object_limit is None and kw["max_vector_distance"] is None:
            raise ValidationError("must provide certainty or objectLimit with vector search")
        # Weaviate's hybrid aggregate searches every searchable `text` property (not text[]), whatever
        # the request's properties say.
        keyword_props = [p.name for p in cfg.properties if p.data_type == "text" and p.index_searchable]
        return agg.Hybrid(
            kw["query"],
            kw["alpha"],
            kw["vector"],
            keyword_props,
            kw["fusion_type"],
            kw["target_vector"],
            kw["max_vector_distance"],
        )

    async def _hybrid_kwargs(self, h: base_search_pb2.Hybrid, cfg: CollectionConfig) -> dict[str, Any]:
        """The store's ``hybrid`` arguments of a Hybrid message (Search and Aggregate alike): the query,
        alpha, the vector (given, embedded from the query, or a multi-target search's legs), the
        fusion, the searched properties and the vector distance limit."""
        max_chars = self.state.cfg.max_text_chars
        if len(h.query) > max_chars:
            raise ValidationError(
                f"hybrid: the query has {len(h.query)} characters; the limit is {max_chars}"
            )
        legs: tuple[list[tuple[str | None, np.ndarray]], str, list[float] | None] | None = None
        several = (h.HasField("targets") and len(h.targets.target_vectors) > 1) or len(h.target_vectors) > 1
        if several or (h.HasField("near_vector") and len(h.near_vector.vector_for_targets)):
            nv = base_search_pb2.NearVector()
            if h.HasField("near_vector"):
                nv.CopyFrom(h.near_vector)
            elif len(h.vectors):
                nv.vectors.extend(h.vectors)
            elif h.vector_bytes:
                nv.vector_bytes = h.vector_bytes
            if h.HasField("targets"):
                nv.targets.CopyFrom(h.targets)
            else:
                nv.target_vectors.extend(h.target_vectors)
            legs = _vector_legs(nv, cfg, "hybrid")
        target: str | None = None
        qv: np.ndarray | None = None
        if legs is not None and len(legs[0]) == 1:
            (target, qv), legs = legs[0][0], None
        elif legs is None:
            target = _target_vector(h, h.near_vector if h.HasField("near_vector") else None)
            named, qv = _query_vectors(h, "hybrid")
            if qv is None and h.HasField("near_vector"):
                named, qv = _query_vectors(h.near_vector, "hybrid.near_vector")
            target = target or named
        max_vector_distance = h.vector_distance if h.HasField("vector_distance") else None
        if h.HasField("near_vector"):
            limits = _threshold(h.near_vector, "hybrid.near_vector")
            if limits["certainty"] is not None:
                raise ValidationError(
                    "hybrid.near_vector: certainty is not supported in hybrid; use distance"
                )
            if limits["distance"] is not None:
                max_vector_distance = limits["distance"]
        # Clients >= 1.36.6 send use_alpha_param (alpha_param only when set: default 0.75);
        # older ones always send alpha.
        default_alpha = h.alpha_param if h.HasField("alpha_param") else 0.75
        alpha = default_alpha if h.use_alpha_param else h.alpha
        if qv is None and legs is None and alpha > 0 and h.query:
            vtarget = target or (next(iter(cfg.vectors)) if len(cfg.vectors) == 1 else None)
            if vtarget is not None and cfg.vectors[vtarget].vectorizer != "none":
                target, qv = await self.ops.query_vector(cfg, vtarget, h.query)
        return {
            "query": h.query,
            "alpha": alpha,
            "vector": qv,
            "query_properties": _query_properties(h.properties),
            "fusion_type": "ranked" if h.fusion_type == h.FUSION_TYPE_RANKED else "relativeScore",
            "target_vector": target,
            "max_vector_distance": max_vector_distance,
            "vector_legs": legs,
        }

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

    async def _references(self, refs: list[batch_pb2.BatchReference]) -> dict[int, str]:
        """A batch of gRPC references, stored durably; why each failed one failed, by index."""
        items: list[tuple[str, str, str, str]] = []
        errors: dict[int, str] = {}
        idx: list[int] = []
        for i, r in enumerate(refs):
            try:
                if r.tenant:
                    raise ValidationError("multi-tenancy is not supported by this server")
                oid = guards.uuid_str(r.from_uuid, "from_uuid")
                to = guards.uuid_str(r.to_uuid, "to_uuid")
                beacon = (
                    f"{BEACON_PREFIX}{r.to_collection}/{to}" if r.to_collection else f"{BEACON_PREFIX}{to}"
                )
                items.append((r.from_collection, oid, r.name, beacon))
                idx.append(i)
            except ValidationError as e:
                errors[i] = e.message
        failed = await self.ops.add_references(items)
        errors.update({idx[j]: m for j, m in failed.items()})
        return errors

    async def BatchReferences(
        self, request: batch_pb2.BatchReferencesRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        async def run() -> batch_pb2.BatchReferencesReply:
            t0 = time.perf_counter()
            if len(request.references) > guards.MAX_RESULTS:
                raise ValidationError(f"at most {guards.MAX_RESULTS} references per batch")
            errors = await self._references(list(request.references))
            return batch_pb2.BatchReferencesReply(
                took=time.perf_counter() - t0,
                errors=[
                    batch_pb2.BatchReferencesReply.BatchError(index=i, error=m)
                    for i, m in sorted(errors.items())
                ],
            )

        return await self._call("weaviate.v1/BatchReferences", context, run)

    async def BatchDelete(
        self, request: batch_delete_pb2.BatchDeleteRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        async def run() -> batch_delete_pb2.BatchDeleteReply:
            t0 = time.perf_counter()
            name = guards.collection_name(request.collection, "collection")
            if not request.HasField("filters"):
                raise ValidationError("delete_many needs a filter")
            filters = parse_filters(request.filters)
            coll = await self.ops.run(self.ops.store.collection, name)
            filters = await self.ops.resolve_filter(coll.config, filters)
            matches = await self.ops.heavy(
                coll.fetch_objects, filters=filters, limit=guards.MAX_RESULTS, return_properties=[]
            )
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

        async def handle(objects: list[batch_pb2.BatchObject], refs: list[batch_pb2.BatchReference]) -> None:
            ref_errors: dict[int, str] = {}
            try:
                # Objects first: a reference in the same message may start from one of them.
                errors, uuids, _ = await self._import(objects) if objects else ({}, [], None)
                if refs:
                    ref_errors = await self._references(refs)
            except ServiceError as e:
                errors, uuids = dict.fromkeys(range(len(objects)), e.message), [o.uuid for o in objects]
                ref_errors = dict.fromkeys(range(len(refs)), e.message)
            except Exception:
                # Every object still gets a result: a client waiting for one would never finish its batch.
                log.exception("BatchStream: importing %d objects failed", len(objects))
                msg = "internal error (see the server log)"
                errors, uuids = dict.fromkeys(range(len(objects)), msg), [o.uuid for o in objects]
                ref_errors = dict.fromkeys(range(len(refs)), msg)
            finally:
                window.release()
            res = R.Results(
                errors=[R.Results.Error(error=m, uuid=uuids[i]) for i, m in sorted(errors.items())]
                + [
                    R.Results.Error(error=m, beacon=_from_beacon(refs[i]))
                    for i, m in sorted(ref_errors.items())
                ],
                successes=[R.Results.Success(uuid=u) for i, u in enumerate(uuids) if i not in errors]
                + [
                    R.Results.Success(beacon=_from_beacon(r))
                    for i, r in enumerate(refs)
                    if i not in ref_errors
                ],
            )
            await out.put(R(results=res))

        protocol_error: list[str] = []
        # The batch size asked of the client: the vectorizer's until the data shows what is imported, then
        # Weaviate's largest (1000) while no collection named in it vectorizes: small batches of plain
        # objects would make the import one commit (and fsync) per few dozen objects.
        sent_size = [await self._stream_batch_size([], {})]
        vectorizes: dict[str, bool] = {}  # collection name -> whether its objects are vectorized

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
                            await out.put(R(backoff=R.Backoff(batch_size=sent_size[0])))
                    elif kind == "data":
                        if self.state.stopping:
                            # Not acknowledged: the client keeps these and resends them after reconnecting.
                            await out.put(R(shutting_down=R.ShuttingDown()))
                            break
                        objs = list(msg.data.objects.values)
                        refs = list(msg.data.references.values)
                        if not objs and not refs:
                            continue
                        await out.put(
                            R(
                                acks=R.Acks(
                                    uuids=[o.uuid for o in objs], beacons=[_from_beacon(r) for r in refs]
                                )
                            )
                        )
                        size = await self._stream_batch_size(objs, vectorizes)
                        if size != sent_size[0]:
                            sent_size[0] = size
                            await out.put(R(backoff=R.Backoff(batch_size=size)))
                        await window.acquire()
                        t = asyncio.create_task(handle(objs, refs))
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

    async def _stream_batch_size(
        self, objects: list[batch_pb2.BatchObject], vectorizes: dict[str, bool]
    ) -> int:
        """The batch size for a stream whose last data message held ``objects``: the vectorizer's batch
        size while nothing is known or while a collection named there vectorizes (a batch of pages is a
        model call), else 1000 (the largest Weaviate's own stream asks for). ``vectorizes`` keeps the
        answer per collection name for the stream's life."""
        svc = self.state.embedding
        small = max(8, 4 * svc.cfg.max_batch_images) if svc is not None else 100
        if not objects or svc is None:
            return small
        for name in {o.collection for o in objects}:
            if name not in vectorizes:
                coll = await self.ops.run(self.ops.store.find_collection, name) if name else None
                vectorizes[name] = coll is not None and any(
                    v.vectorizer == MULTI2MULTIVEC for v in coll.config.vectors.values()
                )
            if vectorizes[name]:
                return small
        return STREAM_BATCH_MAX


def _from_beacon(r: batch_pb2.BatchReference) -> str:
    """How Weaviate's batch stream names a reference in its acks and results (the client's key)."""
    return f"{BEACON_PREFIX}{r.from_collection}/{r.from_uuid}/{r.name}"


def register(state: ServerState, ops: WeaviateOps) -> Callable[[grpc.aio.Server], None]:
    def add(server: grpc.aio.Server) -> None:
        weaviate_pb2_grpc.add_WeaviateServicer_to_server(WeaviateServicer(state, ops), server)  # type: ignore[no-untyped-call]

    return add

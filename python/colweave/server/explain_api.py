"""colweave's "why did this page match" API and the search page at ``/``.

REST (API key as for every other route):

* ``POST /v1/colweave/explain`` ``{"collection", "id", "query": text | "vector": [[...]],
  "targetVector"?, "mapTokens"?: [int]}`` -> the explanation (``colweave.explain.Explanation.to_json``)
  plus ``"queryTokens"`` (each query vector's text piece and kind; the ten augmentation tokens have
  kind ``augmentation``).
* ``POST /v1/colweave/search`` ``{"collection", "query", "mode": "near_text" | "hybrid" | "bm25",
  "alpha"?, "where"? (Weaviate's REST filter shape), "limit"?, "targetVector"?}`` -> ``{"results":
  [{"id", "properties", "score", "distance"}]}`` (blob properties left out), ranked as the same search
  through Weaviate's gRPC API ranks them.
* ``GET /v1/colweave/image/{collection}/{id}?property=&size=thumb|large|full`` -> a page image made from
  the stored blob: ``thumb`` (JPEG, longest edge 256 px) and ``large`` (1280 px) are cached in memory
  (bounded), ``full`` is the stored bytes.

gRPC: ``colweave.v1.ExplainService/Explain`` (``proto/colweave/v1/explain.proto``).

The page (``/``, ``/ui/*``) is static HTML, CSS and JavaScript from ``server/web``, served without
authentication (it holds no data); it calls the routes above with the key the user typed, sent in the
``Authorization`` header and kept in ``sessionStorage``.
"""

from __future__ import annotations

import base64
import collections
import io
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from colweave.explain import Explanation
from colweave.server import guards
from colweave.server.errors import BadRequestError, NotFoundError, ValidationError
from colweave.server.http_app import ORJSONResponse, read_json, weaviate_error
from colweave.server.state import ServerState
from colweave.server.weaviate_ops import WeaviateOps
from colweave.store.filters import from_weaviate as filters_from_weaviate
from colweave.store.schema import MULTI2MULTIVEC, CollectionConfig
from colweave.v1 import embedding_pb2 as epb
from colweave.v1 import explain_pb2 as xpb
from colweave.v1 import explain_pb2_grpc as xpb_grpc

log = logging.getLogger("colweave.explain")

WEB_DIR = Path(__file__).resolve().parent / "web"
SIZES = {"thumb": 256, "large": 1280}
MAX_LIMIT = 100
CACHE_BYTES = 64 * 1024 * 1024


class ImageCache:
    """Made thumbnails by (collection, id, property, size, last update): least recently used out first,
    at most ``max_bytes`` in all."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: collections.OrderedDict[tuple[Any, ...], bytes] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: tuple[Any, ...], data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._items[key] = data
            self._bytes += len(data)
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)

    @property
    def size_bytes(self) -> int:
        return self._bytes


def _sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data.startswith(b"BM"):
        return "image/bmp"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    return "application/octet-stream"


def make_preview(data: bytes, longest: int, max_pixels: int) -> bytes:
    """A JPEG of the image ``data`` whose longest edge is at most ``longest`` pixels."""
    from PIL import Image

    from colweave.model.images import load_image

    img = load_image(data, max_pixels)
    img = img.copy()
    img.thumbnail((longest, longest), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def _opt(body: dict[str, Any], key: str) -> str | None:
    v = body.get(key)
    if v is None:
        return None
    return _req(body, key)


def _req(body: dict[str, Any], key: str) -> str:
    v = body.get(key)
    if not isinstance(v, str) or not v:
        raise ValidationError(f"{key!r}: expected a non-empty string")
    return v


def _target(cfg: CollectionConfig, target: str | None) -> str:
    names = list(cfg.vectors)
    if target is None:
        if len(names) != 1:
            raise ValidationError(f"{cfg.name} has {len(names)} named vectors: name one in 'targetVector'")
        return names[0]
    if target not in cfg.vectors:
        raise ValidationError(f"{cfg.name} has no vector named {target!r}")
    return target


class ExplainApi:
    def __init__(self, state: ServerState, ops: WeaviateOps) -> None:
        self.state = state
        self.ops = ops
        self.cache = ImageCache()

    # -- explain ------------------------------------------------------------------------------------
    async def explain(
        self,
        collection: str,
        oid: str,
        text: str | None,
        vector: np.ndarray | None,
        target: str | None,
        map_tokens: list[int] | None,
    ) -> Explanation:
        collection = guards.collection_name(collection, "collection")
        oid = guards.uuid_str(oid, "id")
        if vector is not None and vector.ndim == 2:
            guards.query_tokens(int(vector.shape[0]), "vector")
        coll = await self.ops.run(self.ops.store.get_collection, collection)
        cfg = coll.config
        name = _target(cfg, target)
        tokens = None
        if text is not None:
            svc = self.state.require_embedding()
            svc.check_texts([text])
            name, qv = await self.ops.query_vector(cfg, name, text)
            describe = getattr(svc.model, "query_tokens", None)
            if describe is not None:
                tokens = await self.ops.run(describe, text)
        elif vector is not None:
            qv = vector
        else:
            raise ValidationError("give the query as 'query' (text) or 'vector' (a multi-vector)")
        ex: Explanation = await self.ops.heavy(coll.explain, oid, qv, target_vector=name, tokens=tokens)
        try:
            ex.token_indices(map_tokens)
        except ValueError as e:
            raise ValidationError(f"mapTokens: {e}") from None
        return ex

    async def explain_http(self, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise BadRequestError("expected a JSON object with 'collection', 'id' and 'query' or 'vector'")
        collection = _req(body, "collection")
        oid = _req(body, "id")
        text = _opt(body, "query")
        vector = None
        if body.get("vector") is not None:
            if text is not None:
                raise ValidationError("give 'query' or 'vector', not both")
            try:
                vector = np.asarray(body["vector"], dtype=np.float32)
            except (TypeError, ValueError):
                raise ValidationError("'vector': expected a (tokens, dim) list of lists of numbers") from None
        map_tokens = body.get("mapTokens")
        if map_tokens is not None and (
            not isinstance(map_tokens, list) or not all(type(t) is int for t in map_tokens)
        ):
            raise ValidationError("'mapTokens': expected a list of query token indices")
        ex = await self.explain(collection, oid, text, vector, _opt(body, "targetVector"), map_tokens)
        out = ex.to_json(map_tokens)
        out["queryTokens"] = [
            {"index": t.index, "text": t.token.text, "kind": t.token.kind} for t in ex.tokens
        ]
        return ORJSONResponse(out)

    # -- search -------------------------------------------------------------------------------------
    async def search_http(self, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise BadRequestError("expected a JSON object with 'collection', 'query' and 'mode'")
        collection = _req(body, "collection")
        query = _req(body, "query")
        mode = body.get("mode", "near_text")
        if mode not in ("near_text", "hybrid", "bm25"):
            raise ValidationError("'mode': expected near_text, hybrid or bm25")
        limit = body.get("limit", 10)
        if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
            raise ValidationError(f"'limit': expected an integer from 1 to {MAX_LIMIT}")
        alpha = body.get("alpha", 0.75)
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not 0 <= alpha <= 1:
            raise ValidationError("'alpha': expected a number from 0 to 1")
        where = body.get("where")
        collection = guards.collection_name(collection, "collection")
        if isinstance(where, dict):
            guards.json_depth(where, "where")
        filters = await self.ops.run(filters_from_weaviate, where) if where is not None else None
        self.state.require_embedding().check_texts([query])
        coll = await self.ops.run(self.ops.store.get_collection, collection)
        cfg = coll.config
        target = _opt(body, "targetVector")
        common: dict[str, Any] = {"limit": limit, "filters": filters}
        if mode == "near_text":
            target, qv = await self.ops.query_vector(cfg, target, query)
            results = await self.ops.heavy(coll.near_vector, qv, target_vector=target, **common)
        elif mode == "hybrid":
            qv = None
            vtarget = target or (next(iter(cfg.vectors)) if len(cfg.vectors) == 1 else None)
            if alpha > 0 and vtarget is not None and cfg.vectors[vtarget].vectorizer == MULTI2MULTIVEC:
                target, qv = await self.ops.query_vector(cfg, vtarget, query)
            results = await self.ops.heavy(
                coll.hybrid, query, alpha=float(alpha), vector=qv, target_vector=target, **common
            )
        else:
            results = await self.ops.heavy(coll.bm25, query, **common)
        return ORJSONResponse(
            {
                "collection": cfg.name,
                "mode": mode,
                "results": [
                    {
                        "id": r.uuid,
                        "properties": r.properties,
                        "score": r.metadata.score
                        if r.metadata.score is not None
                        else (None if r.metadata.distance is None else -r.metadata.distance),
                        "distance": r.metadata.distance,
                    }
                    for r in results
                ],
            }
        )

    # -- images -------------------------------------------------------------------------------------
    async def image_http(self, request: Request) -> Response:
        name = guards.collection_name(request.path_params["collection"], "path: collection")
        oid = guards.uuid_str(request.path_params["id"], "path: id")
        size = request.query_params.get("size", "thumb")
        if size not in (*SIZES, "full"):
            raise ValidationError("size: expected thumb, large or full")
        coll = await self.ops.run(self.ops.store.get_collection, name)
        cfg = coll.config
        blobs = [p.name for p in cfg.properties if p.data_type == "blob"]
        prop = request.query_params.get("property") or next(
            (f for vc in cfg.vectors.values() for f in vc.image_fields if f in blobs), None
        )
        if prop is None and blobs:
            prop = blobs[0]
        if prop is None or prop not in blobs:
            raise ValidationError(
                f"{cfg.name} has no blob property {prop!r}" if prop else f"{cfg.name} has no blobs"
            )
        stored = await self.ops.run(coll.get, oid, return_properties=[prop])
        if stored is None or not stored.properties.get(prop):
            raise NotFoundError(f"no image {prop!r} on object '{oid}' in {cfg.name}")
        headers = {"Cache-Control": "private, max-age=300"}
        if size == "full":
            data = base64.b64decode(stored.properties[prop])
            return Response(data, media_type=_sniff(data), headers=headers)
        key = (cfg.name, stored.uuid, prop, size, stored.last_update_time)
        cached = self.cache.get(key)
        if cached is None:
            raw = base64.b64decode(stored.properties[prop])
            cached = await self.ops.heavy(make_preview, raw, SIZES[size], self.state.cfg.max_image_pixels)
            self.cache.put(key, cached)
        return Response(cached, media_type="image/jpeg", headers=headers)

    # -- gRPC ---------------------------------------------------------------------------------------
    async def explain_grpc(self, request: xpb.ExplainRequest) -> xpb.ExplainResponse:
        which = request.WhichOneof("query")
        text = request.text if which == "text" else None
        vector = None
        if which == "vector":
            mv = request.vector
            dt = "<f2" if mv.dtype == epb.DTYPE_FLOAT16 else "<f4"
            width = 2 if dt == "<f2" else 4
            if mv.rows == 0 or mv.dim == 0 or len(mv.data) != mv.rows * mv.dim * width:
                raise ValidationError("vector: data must hold rows x dim values of its dtype")
            vector = np.frombuffer(mv.data, dtype=dt).reshape(mv.rows, mv.dim).astype(np.float32)
        map_tokens = list(request.map_tokens) or None
        ex = await self.explain(
            request.collection, request.id, text, vector, request.target_vector or None, map_tokens
        )
        return explanation_pb(ex, map_tokens)


def explanation_pb(ex: Explanation, map_tokens: list[int] | None) -> xpb.ExplainResponse:
    def patch(p: Any) -> xpb.Patch | None:
        if p is None:
            return None
        return xpb.Patch(
            tile=p.tile,
            is_global=p.is_global,
            tile_row=p.tile_row,
            tile_col=p.tile_col,
            row=p.row,
            col=p.col,
            box=xpb.Box(x0=p.box[0], y0=p.box[1], x1=p.box[2], y1=p.box[3]),
        )

    layout = None
    if ex.layout is not None:
        d = ex.layout
        layout = xpb.Layout(
            width=d.width,
            height=d.height,
            rows=d.rows,
            cols=d.cols,
            grid_width=d.grid_width,
            grid_height=d.grid_height,
            tile_size=d.tile_size,
            patch_side=d.patch_side,
            tile_starts=list(d.tile_starts),
            vectors=d.n_vectors,
        )
    return xpb.ExplainResponse(
        score=ex.score,
        tokens=[
            xpb.TokenMatch(
                index=t.index,
                text=t.token.text,
                kind=t.token.kind,
                start=t.token.start,
                end=t.token.end,
                vector=t.vector,
                score=t.score,
                patch=patch(t.patch),
                best_patch=patch(t.best_patch),
                best_patch_vector=t.best_patch.index if t.best_patch is not None else 0,
                best_patch_score=t.best_patch_score or 0.0,
            )
            for t in ex.tokens
        ],
        layout=layout,
        map_tokens=ex.token_indices(map_tokens),
        map=ex.similarity_map(map_tokens).ravel().tolist(),
    )


class ExplainServicer(xpb_grpc.ExplainServiceServicer):
    def __init__(self, state: ServerState, api: ExplainApi) -> None:
        self.state = state
        self.api = api

    async def Explain(self, request: xpb.ExplainRequest, context: grpc.aio.ServicerContext) -> Any:
        from colweave.server.grpc_app import call_rpc

        return await call_rpc(
            self.state, "colweave.v1/Explain", context, lambda: self.api.explain_grpc(request)
        )


def register_grpc(state: ServerState, api: ExplainApi) -> Callable[[grpc.aio.Server], None]:
    def add(server: grpc.aio.Server) -> None:
        xpb_grpc.add_ExplainServiceServicer_to_server(ExplainServicer(state, api), server)  # type: ignore[no-untyped-call]

    return add


GRPC_SERVICE = "colweave.v1.ExplainService"


# -- the page ---------------------------------------------------------------------------------------
STATIC = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}


async def _index(_: Request) -> Response:
    return FileResponse(
        WEB_DIR / "index.html", media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"}
    )


async def _asset(request: Request) -> Response:
    name = request.path_params["name"]
    media = STATIC.get(name)
    if media is None:
        return weaviate_error(404, f"GET /ui/{name}: no such asset")
    return FileResponse(WEB_DIR / name, media_type=media, headers={"Cache-Control": "no-cache"})


def api_routes(api: ExplainApi) -> list[Route]:
    """The guarded REST routes (the HTTP app adds authentication, errors and metrics around them)."""
    return [
        Route("/v1/colweave/explain", api.explain_http, methods=["POST"], name="colweave_explain"),
        Route("/v1/colweave/search", api.search_http, methods=["POST"], name="colweave_search"),
        Route("/v1/colweave/image/{collection}/{id}", api.image_http, methods=["GET"], name="colweave_image"),
    ]


def page_routes() -> list[Route]:
    """The page and its assets: public (no data in them), so a browser can load them before the key."""
    return [
        Route("/", _index, methods=["GET"], name="page"),
        Route("/ui/{name}", _asset, methods=["GET"], name="page_asset"),
    ]


# -- OpenAPI ----------------------------------------------------------------------------------------
_ERR = {"$ref": "#/components/schemas/ErrorResponse"}

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/colweave/explain": {
        "post": {
            "summary": "Why an object matched a query: per query token the best page vector, score and box; "
            "the similarity map",
            "tags": ["colweave"],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["collection", "id"],
                            "properties": {
                                "collection": {"type": "string"},
                                "id": {"type": "string", "format": "uuid"},
                                "query": {"type": "string", "description": "a text query (or give vector)"},
                                "vector": {
                                    "type": "array",
                                    "items": {"type": "array", "items": {"type": "number"}},
                                    "description": "a multi-vector query (tokens x dim)",
                                },
                                "targetVector": {"type": "string"},
                                "mapTokens": {
                                    "type": "array",
                                    "items": {"type": "integer"},
                                    "description": "query tokens the map is the maximum over (default all)",
                                },
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "the explanation",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "score": {"type": "number", "description": "MaxSim"},
                                    "tokens": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "index": {"type": "integer"},
                                                "text": {"type": "string"},
                                                "kind": {
                                                    "type": "string",
                                                    "enum": [
                                                        "text",
                                                        "prefix",
                                                        "special",
                                                        "augmentation",
                                                        "vector",
                                                    ],
                                                },
                                                "span": {
                                                    "type": "array",
                                                    "items": {"type": "integer"},
                                                    "nullable": True,
                                                },
                                                "vector": {"type": "integer"},
                                                "score": {"type": "number"},
                                                "patch": {"type": "object", "nullable": True},
                                            },
                                        },
                                    },
                                    "map": {"type": "object"},
                                    "layout": {"type": "object", "nullable": True},
                                    "queryTokens": {"type": "array", "items": {"type": "object"}},
                                },
                            }
                        }
                    },
                },
                "404": {
                    "description": "no such collection or object",
                    "content": {"application/json": {"schema": _ERR}},
                },
                "422": {"description": "invalid request", "content": {"application/json": {"schema": _ERR}}},
            },
        }
    },
    "/v1/colweave/search": {
        "post": {
            "summary": "near_text, hybrid or bm25 search of a collection (what the page at / uses)",
            "tags": ["colweave"],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["collection", "query"],
                            "properties": {
                                "collection": {"type": "string"},
                                "query": {"type": "string"},
                                "mode": {"type": "string", "enum": ["near_text", "hybrid", "bm25"]},
                                "alpha": {"type": "number", "minimum": 0, "maximum": 1},
                                "where": {"type": "object", "description": "Weaviate's REST filter shape"},
                                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                                "targetVector": {"type": "string"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {"description": "ranked results: id, non-blob properties, score, distance"},
                "422": {"description": "invalid request", "content": {"application/json": {"schema": _ERR}}},
            },
        }
    },
    "/v1/colweave/image/{collection}/{id}": {
        "get": {
            "summary": "A stored page image: a cached JPEG thumbnail or large preview, or the stored bytes",
            "tags": ["colweave"],
            "parameters": [
                {"name": "collection", "in": "path", "required": True, "schema": {"type": "string"}},
                {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "format": "uuid"},
                },
                {"name": "property", "in": "query", "schema": {"type": "string"}},
                {
                    "name": "size",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["thumb", "large", "full"]},
                },
            ],
            "responses": {
                "200": {"description": "the image", "content": {"image/jpeg": {}, "image/png": {}}},
                "404": {
                    "description": "no such object or image",
                    "content": {"application/json": {"schema": _ERR}},
                },
            },
        }
    },
}

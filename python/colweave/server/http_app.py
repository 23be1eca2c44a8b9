"""The HTTP side (ASGI, Starlette): health, Weaviate's meta/nodes, the Weaviate Embeddings API
(``POST /v1/embeddings/embed``), colweave's info endpoint and Prometheus metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

import colweave
from colweave.server.embedding import decode_base64_image
from colweave.server.errors import (
    BadRequestError,
    PayloadTooLargeError,
    ServiceError,
    UnauthenticatedError,
    ValidationError,
)
from colweave.server.state import MODULE_NAME, ServerState

log = logging.getLogger("colweave.http")

# Paths that never require authentication (probes). /metrics needs a key when keys are configured.
PUBLIC_PATHS = ("/v1/.well-known/",)
LARGE_BODY = 1 << 20
# Status recorded for a request whose client went away before the answer (nginx's convention).
CLIENT_GONE = 499


class ClientGone(Exception):
    """The client closed the connection while its request was being served."""


async def _disconnected(request: Request) -> None:
    """Returns when the client has gone (the body must have been read already)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def until_disconnect(request: Request, fn: Callable[[Request], Awaitable[Response]]) -> Response:
    """Runs ``fn`` and cancels it when the client disconnects: queued model or store work it waits for is
    then dropped instead of run for nobody."""
    try:
        await request.body()  # read (and cache) the body first: afterwards receive() only reports disconnects
    except ClientDisconnect:
        raise ClientGone from None
    work = asyncio.ensure_future(fn(request))
    watch = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        work.cancel()
        raise
    finally:
        watch.cancel()
    if work.done():
        return work.result()
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await work
    raise ClientGone


class ORJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def weaviate_error(status: int, message: str) -> Response:
    return ORJSONResponse({"error": [{"message": message}]}, status_code=status)


def embed_error(status: int, message: str) -> Response:
    return ORJSONResponse({"detail": message}, status_code=status)


class BodyLimit:
    """Rejects request bodies above the configured size (413) before the route reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise PayloadTooLargeError(f"request body larger than {self.max_bytes} bytes")
            return message

        await self.app(scope, limited, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        msg = f"request body larger than {self.max_bytes} bytes"
        resp = (
            embed_error(413, msg) if scope["path"].startswith("/v1/embeddings") else weaviate_error(413, msg)
        )
        await resp(scope, receive, send)


async def read_json(request: Request) -> Any:
    """The body as JSON, whatever the Content-Type (Weaviate's embed client sends none)."""
    body = await request.body()
    if not body:
        raise BadRequestError("empty request body: expected JSON")
    try:
        if len(body) > LARGE_BODY:  # megabytes of JSON (a page of images): parse off the event loop
            return await asyncio.to_thread(orjson.loads, body)
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise BadRequestError(f"request body is not valid JSON: {e}") from None


Handler = Callable[[Request], Awaitable[Response]]


def build_app(state: ServerState, extra_routes: list[Route] | None = None) -> Starlette:
    """The ASGI app. ``extra_routes`` are added by the Weaviate REST layer when a store is served."""

    def guarded(endpoint: str, fn: Handler, *, embed_api: bool = False) -> Handler:
        """Authentication, error rendering, metrics and logging around one route."""

        async def handler(request: Request) -> Response:
            t0 = time.perf_counter()
            status = 500
            try:
                if not request.url.path.startswith(PUBLIC_PATHS):
                    state.keys.check(request.headers.get("authorization"))
                resp = await until_disconnect(request, fn)
                status = resp.status_code
                return resp
            except ClientGone:
                status = CLIENT_GONE
                log.debug(
                    "%s %s: the client went away; its work was dropped", request.method, request.url.path
                )
                return Response(status_code=CLIENT_GONE)
            except ServiceError as e:
                status = e.http_status
                if isinstance(e, UnauthenticatedError) or status >= 500:
                    log.warning("%s %s -> %d: %s", request.method, request.url.path, status, e.message)
                return embed_error(status, e.message) if embed_api else weaviate_error(status, e.message)
            except Exception:
                log.exception("%s %s failed", request.method, request.url.path)
                msg = "internal error (see the server log)"
                return embed_error(500, msg) if embed_api else weaviate_error(500, msg)
            finally:
                state.metrics.requests.labels("http", endpoint, str(status)).inc()
                state.metrics.latency.labels("http", endpoint).observe(time.perf_counter() - t0)

        return handler

    async def live(_: Request) -> Response:
        return Response(status_code=200)

    async def ready(_: Request) -> Response:
        return Response(status_code=200 if state.ready and not state.stopping else 503)

    async def openid(_: Request) -> Response:
        # 404 = anonymous / API-key auth: the client then skips OIDC.
        return weaviate_error(404, "OIDC is not configured on this server")

    async def meta(request: Request) -> Response:
        host = f"{request.url.scheme}://{request.url.netloc}"
        return ORJSONResponse(state.meta(host))

    async def nodes(_: Request) -> Response:
        queued = state.embedding.images.queued if state.embedding is not None else 0
        node: dict[str, Any] = {
            "name": "node1",
            "status": "HEALTHY" if state.ready else "UNHEALTHY",
            "version": state.meta()["version"],
            "gitHash": "colweave-" + colweave.__version__,
            "batchStats": {"queueLength": queued, "ratePerSecond": 0},
            "shards": None,
        }
        return ORJSONResponse({"nodes": [node]})

    async def metrics(_: Request) -> Response:
        # Cheap by design: counters and gauges kept up to date by the requests themselves (object counts
        # are set after each write), no store work and no collection opened per scrape.
        return Response(state.metrics.render(), media_type=state.metrics.content_type)

    async def info(_: Request) -> Response:
        svc = state.require_embedding()
        i = svc.info
        return ORJSONResponse(
            {
                "model": i.name,
                "model_id": i.model_id,
                "dim": i.dim,
                "dtype": i.dtype,
                "providers": list(i.providers),
                "image_seq_len": i.image_seq_len,
                "limits": svc.limits(),
                "version": colweave.__version__,
            }
        )

    async def embed(request: Request) -> Response:
        """``POST /v1/embeddings/embed`` exactly as Weaviate's multi2multivec-weaviate module calls it."""
        svc = state.require_embedding()
        cluster = request.headers.get("x-weaviate-cluster-url")
        if cluster:
            log.info("embed request from Weaviate cluster %s", cluster)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise BadRequestError("expected a JSON object with 'input'")
        inputs = body.get("input")
        if not isinstance(inputs, list) or not inputs:
            raise ValidationError("'input' must be a non-empty list of strings")
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise ValidationError("'model' must be a string")
        if model and model not in svc.info.accepted:
            raise ValidationError(f"model {model!r} is not served here; this server serves {svc.info.name!r}")
        if "dimensions" in body:
            raise ValidationError(
                "'dimensions' is a text2vec-weaviate (single-vector) option; this server returns "
                f"multi-vectors for {MODULE_NAME}"
            )
        is_query = body.get("is_search_query", False)
        if not isinstance(is_query, bool):
            raise ValidationError("'is_search_query' must be true or false")
        t0 = time.perf_counter()
        if is_query:
            for i, v in enumerate(inputs):
                if not isinstance(v, str):
                    raise ValidationError(f"input[{i}]: expected a query string")
            res = await svc.embed_queries(inputs)
        else:
            images = await asyncio.to_thread(
                lambda: [decode_base64_image(v, f"input[{i}]") for i, v in enumerate(inputs)]
            )
            res = await svc.embed_images(images)
        n = sum(int(v.shape[0]) for v in res.outputs)
        return ORJSONResponse(
            {
                "embeddings": res.outputs,
                "metadata": {
                    "model": svc.info.name,
                    "time_taken_inference": res.inference_seconds,
                    "time_taken_total": time.perf_counter() - t0,
                    "num_embeddings_inferred": len(res.outputs),
                    "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": n},
                },
            }
        )

    routes = [
        Route("/v1/.well-known/live", guarded("live", live), methods=["GET"]),
        Route("/v1/.well-known/ready", guarded("ready", ready), methods=["GET"]),
        Route("/v1/.well-known/openid-configuration", guarded("openid", openid), methods=["GET"]),
        Route("/v1/meta", guarded("meta", meta), methods=["GET"]),
        Route("/v1/nodes", guarded("nodes", nodes), methods=["GET"]),
        Route("/v1/embeddings/embed", guarded("embed", embed, embed_api=True), methods=["POST"]),
        Route("/v1/colweave/info", guarded("info", info), methods=["GET"]),
        Route("/metrics", guarded("metrics", metrics), methods=["GET"]),
    ]
    for r in extra_routes or []:
        routes.append(Route(r.path, guarded(r.name or r.path, r.endpoint), methods=r.methods))

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return weaviate_error(status, f"{request.method} {request.url.path}: no such endpoint")

    return Starlette(
        routes=routes,
        middleware=[Middleware(BodyLimit, max_bytes=state.cfg.max_request_bytes)],
        exception_handlers={404: not_found, 405: not_found},
    )

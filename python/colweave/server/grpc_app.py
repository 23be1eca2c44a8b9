"""The gRPC side (grpc.aio): colweave.v1.EmbeddingService, grpc.health.v1, server reflection, API-key
authentication for everything but health and reflection. Weaviate's service is added by
``weaviate_grpc`` when a store is served."""

from __future__ import annotations

import functools
import logging
import resource
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

import colweave
from colweave.server.access import AccessLogInterceptor
from colweave.server.connections import connection_cap, grpc_options
from colweave.server.errors import ServiceError, UnauthenticatedError, ValidationError
from colweave.server.state import ServerState
from colweave.v1 import embedding_pb2 as pb
from colweave.v1 import embedding_pb2_grpc as pb_grpc

log = logging.getLogger("colweave.grpc")

OPEN_METHOD_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


def _abort_handler(
    handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str
) -> grpc.RpcMethodHandler:
    async def abort_unary(_request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(code, message)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(abort_unary)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(abort_unary)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(abort_unary)
    return grpc.unary_unary_rpc_method_handler(abort_unary)


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, state: ServerState) -> None:
        self.state = state

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        if not self.state.keys.enabled or details.method.startswith(OPEN_METHOD_PREFIXES):
            return await continuation(details)
        md = {k.lower(): v for k, v in (details.invocation_metadata or ())}
        try:
            self.state.keys.check(md.get("authorization"))
        except UnauthenticatedError as e:
            handler = await continuation(details)
            if handler is None:
                return handler
            self.state.metrics.requests.labels("grpc", details.method, "UNAUTHENTICATED").inc()
            return _abort_handler(handler, e.grpc_code, e.message)
        return await continuation(details)


class _Undecodable:
    """What a request that protobuf cannot parse becomes (too deeply nested, truncated, wrong type)."""

    def __init__(self, method: str, error: Exception) -> None:
        self.message = (
            f"{method}: the request is not a valid protobuf message (or is nested too deeply): {error}"
        )


class DecodeGuard(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Turns a request protobuf cannot parse into INVALID_ARGUMENT (grpc answers UNKNOWN otherwise):
    e.g. a filter nested deeper than protobuf's recursion limit."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.request_deserializer is None or not hasattr(handler, "_replace"):
            return handler
        decode = handler.request_deserializer
        method = details.method

        def guarded_decode(data: bytes) -> Any:
            try:
                return decode(data)
            except Exception as e:
                return _Undecodable(method, e)

        code = grpc.StatusCode.INVALID_ARGUMENT
        if handler.request_streaming:
            behavior = handler.stream_stream or handler.stream_unary

            async def checked(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
                async for r in requests:
                    if isinstance(r, _Undecodable):
                        await context.abort(code, r.message)
                    yield r

            if handler.stream_stream is not None:

                async def ss(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
                    async for reply in behavior(checked(requests, context), context):
                        yield reply

                return handler._replace(request_deserializer=guarded_decode, stream_stream=ss)

            async def su(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
                return await behavior(checked(requests, context), context)

            return handler._replace(request_deserializer=guarded_decode, stream_unary=su)

        if handler.unary_stream is not None:
            us_behavior = handler.unary_stream

            async def us(request: Any, context: grpc.aio.ServicerContext) -> Any:
                if isinstance(request, _Undecodable):
                    await context.abort(code, request.message)
                async for reply in us_behavior(request, context):
                    yield reply

            return handler._replace(request_deserializer=guarded_decode, unary_stream=us)
        uu_behavior = handler.unary_unary

        async def uu(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, _Undecodable):
                await context.abort(code, request.message)
            return await uu_behavior(request, context)

        return handler._replace(request_deserializer=guarded_decode, unary_unary=uu)


def check_dtype(dtype: int) -> None:
    if dtype not in pb.DType.values():
        known = ", ".join(pb.DType.keys())
        raise ValidationError(f"dtype: {dtype} is not a known DType (one of {known})")


def multivector(arr: np.ndarray, dtype: pb.DType) -> pb.MultiVector:
    if dtype == pb.DTYPE_FLOAT16:
        data = np.ascontiguousarray(arr, dtype="<f2").tobytes()
    else:
        data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        dtype = pb.DTYPE_FLOAT32
    return pb.MultiVector(data=data, rows=int(arr.shape[0]), dim=int(arr.shape[1]), dtype=dtype)


async def call_rpc(
    state: ServerState, endpoint: str, context: grpc.aio.ServicerContext, fn: Callable[[], Awaitable[Any]]
) -> Any:
    """Runs one RPC: service errors abort with their gRPC code, anything else is INTERNAL (logged with its
    trace); every call is counted and timed."""
    t0 = time.perf_counter()
    code = "OK"
    try:
        return await fn()
    except ServiceError as e:
        code = e.grpc_code.name
        await context.abort(e.grpc_code, e.message)
    except Exception:
        code = "INTERNAL"
        log.exception("%s failed", endpoint)
        await context.abort(grpc.StatusCode.INTERNAL, "internal error (see the server log)")
    finally:
        state.metrics.requests.labels("grpc", endpoint, code).inc()
        state.metrics.latency.labels("grpc", endpoint).observe(time.perf_counter() - t0)


class EmbeddingServicer(pb_grpc.EmbeddingServiceServicer):
    def __init__(self, state: ServerState) -> None:
        self.state = state

    async def _call(
        self, endpoint: str, context: grpc.aio.ServicerContext, fn: Callable[[], Awaitable[Any]]
    ) -> Any:
        return await call_rpc(self.state, endpoint, context, fn)

    async def _images(self, request: pb.EmbedImagesRequest) -> pb.EmbedResponse:
        svc = self.state.require_embedding()
        check_dtype(request.dtype)
        res = await svc.embed_images(list(request.images))
        return self._response(res, request.dtype, request.request_id, tiles=True)

    async def _queries(self, request: pb.EmbedQueriesRequest) -> pb.EmbedResponse:
        svc = self.state.require_embedding()
        check_dtype(request.dtype)
        res = await svc.embed_queries(list(request.texts))
        return self._response(res, request.dtype, request.request_id, tiles=False)

    def _response(self, res: Any, dtype: pb.DType, request_id: str, *, tiles: bool) -> pb.EmbedResponse:
        svc = self.state.require_embedding()
        tokens = sum(int(v.shape[0]) for v in res.outputs)
        seq = svc.info.image_seq_len
        n_tiles = sum(int(v.shape[0]) // seq for v in res.outputs) if (tiles and seq) else 0
        return pb.EmbedResponse(
            embeddings=[multivector(v, dtype) for v in res.outputs],
            metadata=pb.EmbedMetadata(
                tokens=tokens,
                tiles=n_tiles,
                queue_seconds=res.queue_seconds,
                inference_seconds=res.inference_seconds,
            ),
            model=svc.info.name,
            request_id=request_id,
        )

    async def EmbedImages(self, request: pb.EmbedImagesRequest, context: grpc.aio.ServicerContext) -> Any:
        return await self._call("colweave.v1/EmbedImages", context, lambda: self._images(request))

    async def EmbedQueries(self, request: pb.EmbedQueriesRequest, context: grpc.aio.ServicerContext) -> Any:
        return await self._call("colweave.v1/EmbedQueries", context, lambda: self._queries(request))

    async def EmbedImagesStream(
        self, requests: AsyncIterator[pb.EmbedImagesRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.EmbedResponse]:
        async for request in requests:
            yield await self._call(
                "colweave.v1/EmbedImagesStream", context, functools.partial(self._images, request)
            )

    async def EmbedQueriesStream(
        self, requests: AsyncIterator[pb.EmbedQueriesRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.EmbedResponse]:
        async for request in requests:
            yield await self._call(
                "colweave.v1/EmbedQueriesStream", context, functools.partial(self._queries, request)
            )

    async def Info(self, request: pb.InfoRequest, context: grpc.aio.ServicerContext) -> Any:
        async def info() -> pb.InfoResponse:
            svc = self.state.require_embedding()
            i = svc.info
            return pb.InfoResponse(
                model_id=i.name,
                dim=i.dim,
                dtype=i.dtype,
                providers=list(i.providers),
                image_seq_len=i.image_seq_len,
                limits=pb.Limits(**svc.limits()),
                version=colweave.__version__,
            )

        return await self._call("colweave.v1/Info", context, info)


class GrpcServer:
    """grpc.aio server on ``host:grpc_port`` with health (per service) and reflection."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        cfg = state.cfg
        self.server = grpc.aio.server(
            interceptors=[AccessLogInterceptor(), AuthInterceptor(state), DecodeGuard()],
            options=[
                ("grpc.max_receive_message_length", cfg.max_request_bytes),
                ("grpc.max_send_message_length", max(cfg.max_request_bytes, 512 * 1024 * 1024)),
                ("grpc.so_reuseport", 0),
                *grpc_options(
                    connection_cap(cfg.max_connections, resource.getrlimit(resource.RLIMIT_NOFILE)[0]),
                    cfg.header_timeout_s,
                    cfg.grpc_idle_s,
                ),
            ],
        )
        self.health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        pb_grpc.add_EmbeddingServiceServicer_to_server(EmbeddingServicer(state), self.server)  # type: ignore[no-untyped-call]
        self.services = [pb.DESCRIPTOR.services_by_name["EmbeddingService"].full_name]
        self.port = 0

    def add_service(self, full_name: str, register: Callable[[grpc.aio.Server], None]) -> None:
        register(self.server)
        self.services.append(full_name)

    async def start(self) -> None:
        names = [
            *self.services,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ]
        reflection.enable_server_reflection(names, self.server)
        addr = f"{self.state.cfg.host}:{self.state.cfg.grpc_port}"
        self.port = self.server.add_insecure_port(addr)
        if not self.port:
            raise OSError(f"cannot bind the gRPC port {addr}")
        await self.server.start()
        await self.set_serving(False)

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *self.services]:
            await self.health.set(name, status)

    async def stop(self, grace_s: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)

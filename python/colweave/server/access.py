"""The access log: one line per request, for REST and gRPC alike.

Each line carries the protocol, the method and path (or the full gRPC method), the status (HTTP code or gRPC
status name), the duration in milliseconds and a request id: the caller's ``X-Request-Id`` (header or gRPC
metadata) when it sends a sane one, else a fresh one. REST responses echo the id back in ``X-Request-Id``.
Lines go to the ``colweave.access`` logger at INFO, so ``--log-format json`` makes them JSON objects with an
``access`` field holding the same facts.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("colweave.access")

REQUEST_ID_HEADER = "x-request-id"
# A caller's id is logged only when it is short and plain (no spaces, no control characters: one line each).
_SANE_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")


def request_id(given: str | bytes | None) -> str:
    """The caller's id when it is sane, else a new random one (32 hex digits)."""
    if isinstance(given, bytes):
        given = given.decode("latin-1")
    if given and _SANE_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def log_access(protocol: str, method: str, path: str, status: str, seconds: float, rid: str) -> None:
    fields = {
        "protocol": protocol,
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(seconds * 1000.0, 3),
        "request_id": rid,
    }
    log.info(
        "%s %s %s %s %.1f ms request_id=%s",
        protocol,
        method,
        path,
        status,
        seconds * 1000.0,
        rid,
        extra={"access": fields},
    )


class AccessLog:
    """ASGI middleware: one access line per HTTP request, written when the response has been sent (or the
    connection was lost: status 499, nginx's "client closed request", when no response was started)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        given = next((v for k, v in scope.get("headers", []) if k == b"x-request-id"), None)
        rid = request_id(given)
        status = 499

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            status = 500 if status == 499 else status
            raise
        finally:
            log_access("http", scope["method"], scope["path"], str(status), time.perf_counter() - t0, rid)


def _status_name(context: Any) -> str:
    try:
        code = context.code()
    except Exception:  # pragma: no cover - grpc.aio contexts all have code() since grpcio 1.38
        code = None
    if code is None:
        return "OK"
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    # grpc.aio may hand back the raw integer of the C core's status.
    for c in grpc.StatusCode:
        if c.value[0] == code:
            return str(c.name)
    return str(code)


class AccessLogInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """grpc.aio interceptor: one access line per RPC (streams: when the stream ends), with the status the
    handler set or aborted with; an exception the handler did not turn into a status counts as UNKNOWN."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        method = str(details.method)
        md = {k.lower(): v for k, v in (details.invocation_metadata or ())}
        given = md.get(REQUEST_ID_HEADER)

        def done(context: Any, t0: float, rid: str, failed: BaseException | None) -> None:
            status = _status_name(context)
            if failed is not None and status == "OK" and not isinstance(failed, grpc.aio.AbortError):
                status = "CANCELLED" if isinstance(failed, asyncio.CancelledError) else "UNKNOWN"
            log_access("grpc", "POST", method, status, time.perf_counter() - t0, rid)

        if handler.response_streaming:
            inner_stream = handler.unary_stream or handler.stream_stream

            async def streaming(request: Any, context: Any) -> AsyncIterator[Any]:
                t0, rid, failed = time.perf_counter(), request_id(given), None
                try:
                    res = inner_stream(request, context)
                    if hasattr(res, "__aiter__"):
                        async for item in res:
                            yield item
                    elif hasattr(res, "__await__"):  # a handler that writes with context.write()
                        await res
                    else:
                        for item in res:
                            yield item
                except BaseException as e:
                    failed = e
                    raise
                finally:
                    done(context, t0, rid, failed)

            wrapped_stream = streaming
            if handler.request_streaming:
                return grpc.stream_stream_rpc_method_handler(
                    wrapped_stream, handler.request_deserializer, handler.response_serializer
                )
            return grpc.unary_stream_rpc_method_handler(
                wrapped_stream, handler.request_deserializer, handler.response_serializer
            )

        inner_unary = handler.unary_unary or handler.stream_unary

        async def unary(request: Any, context: Any) -> Any:
            t0, rid, failed = time.perf_counter(), request_id(given), None
            try:
                result = inner_unary(request, context)
                if hasattr(result, "__await__"):
                    result = await result
                return result
            except BaseException as e:
                failed = e
                raise
            finally:
                done(context, t0, rid, failed)

        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(
                unary, handler.request_deserializer, handler.response_serializer
            )
        return grpc.unary_unary_rpc_method_handler(
            unary, handler.request_deserializer, handler.response_serializer
        )

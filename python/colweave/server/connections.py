"""Connection hygiene for both ports: no client can hold the server's sockets or fill its log.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive``, but it never closes a new
connection that sends nothing, or one that sends its headers a byte at a time (slowloris): each of those
holds a file descriptor forever, and once descriptors run out every ``accept()`` fails. So the HTTP port
uses ``GuardedH11Protocol``:

* a request's headers must be complete within ``header_timeout_s`` of the connection opening or of the
  previous response (the deadline is not reset by each byte), else the connection is closed;
* above ``max_connections`` open connections a new one gets ``503`` ("too many connections") and is
  closed at once;
* each condition is logged as one line, at most every ``LOG_INTERVAL_S`` seconds, with how many events it
  stands for (never one line, or one traceback, per event); the loop's own ``accept()`` errors (out of
  file descriptors) go through the same limiter instead of a traceback each.

The gRPC port gets the matching core options (handshake timeout, idle-connection close, a connection
cap). At start-up the soft open-file limit is raised to the hard one and the caps are kept under it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("colweave.connections")
LOG_INTERVAL_S = 10.0
# File descriptors kept free for the store, the model and the other port.
RESERVED_FDS = 256
_ACCEPT_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class RateLimitedLog:
    """One warning per condition per interval, saying how many events it stands for."""

    def __init__(self, logger: logging.Logger, interval_s: float = LOG_INTERVAL_S) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._count: dict[str, int] = {}
        self.totals: dict[str, int] = {}

    def event(self, key: str, message: str, *args: Any) -> None:
        self.totals[key] = self.totals.get(key, 0) + 1
        self._count[key] = self._count.get(key, 0) + 1
        now = time.monotonic()
        if now - self._last.get(key, -1e9) < self.interval_s:
            return
        n = self._count.pop(key)
        self._last[key] = now
        suffix = f" ({n} times in the last {self.interval_s:.0f} s)" if n > 1 else ""
        self.logger.warning(message + suffix, *args)


def raise_fd_limit() -> int:
    """Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return int(soft)


def connection_cap(requested: int, fd_limit: int) -> int:
    """The per-port cap: what was asked for, but never more than half the descriptors left over."""
    return max(16, min(requested, (fd_limit - RESERVED_FDS) // 2))


class ConnectionGuard:
    """The shared state of one HTTP port's connections."""

    def __init__(self, max_connections: int, header_timeout_s: float) -> None:
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self.log = RateLimitedLog(log)

    def refusal(self) -> bytes:
        body = (
            b'{"error":[{"message":"too many connections (limit %d): retry later"}]}' % self.max_connections
        )
        return (
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"retry-after: 1\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )

    def protocol(self) -> type[asyncio.Protocol]:
        guard = self

        class Protocol(GuardedH11Protocol):
            _guard = guard

        return Protocol

    def loop_exception_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """The loop's handler: accept() failures (out of descriptors) become one rate-limited line."""
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _ACCEPT_ERRNOS:
            self.log.event(
                "accept",
                "cannot accept new connections: %s (open-file limit %d); refusing until descriptors free up",
                exc.strerror or exc,
                resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            )
            return
        loop.default_exception_handler(context)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline and a connection cap (see the module docstring)."""

    _guard: ConnectionGuard

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        g = self._guard
        if len(self.connections) > g.max_connections:
            g.log.event(
                "cap",
                "refused new connections: %d open, the limit is %d (--max-connections)",
                len(self.connections) - 1,
                g.max_connections,
            )
            transport.write(g.refusal())
            transport.close()
            return
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self._guard.header_timeout_s, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_done(self) -> bool:
        return self.conn.their_state is not h11.IDLE

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._header_timer is not None and self._headers_done():
            self._cancel_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            # Waiting for the next request: uvicorn's keep-alive timer restarts on every byte, this does not.
            self._arm_header_timer()
            if self._headers_done():  # a pipelined request was already complete
                self._cancel_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self._headers_done():
            return
        self._guard.log.event(
            "header",
            "closed connections that sent no complete request headers within %.0f s (--header-timeout-s)",
            self._guard.header_timeout_s,
        )
        self.transport.close()


def grpc_options(max_connections: int, header_timeout_s: float, idle_s: float) -> list[tuple[str, int]]:
    """grpc core's counterparts: handshake deadline, idle connections closed (GOAWAY), a connection cap."""
    return [
        ("grpc.server_handshake_timeout_ms", int(header_timeout_s * 1000)),
        ("grpc.max_connection_idle_ms", int(idle_s * 1000)),
        ("grpc.max_allowed_incoming_connections", max_connections),
        ("grpc.max_concurrent_streams", 100),
    ]

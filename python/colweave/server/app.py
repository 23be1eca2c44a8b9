"""One process, one asyncio loop, two ports: uvicorn serves the ASGI app, grpc.aio the gRPC services.

Start-up binds both ports at once (liveness answers immediately), loads the model in a worker thread, warms
it with one query and one image, and only then reports ready (``/v1/.well-known/ready`` 200, gRPC health
SERVING). SIGTERM / SIGINT stop accepting work, drain in-flight requests and batches (up to the grace
period) and close the store cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import logging
import signal
import socket
import time
from collections.abc import Callable, Generator
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import colweave
from colweave.server import explain_api, openapi, weaviate_grpc, weaviate_rest
from colweave.server.access import AccessLog
from colweave.server.config import FLAGS, ServerConfig
from colweave.server.connections import ConnectionGuard, connection_cap, raise_fd_limit
from colweave.server.embedding import EmbeddingModel, EmbeddingService
from colweave.server.grpc_app import GrpcServer
from colweave.server.http_app import build_app
from colweave.server.state import ServerState
from colweave.server.weaviate_ops import WeaviateOps
from colweave.store.errors import StoreError

log = logging.getLogger("colweave.server")


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: the ColweaveServer owns shutdown for both ports."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def warm_up(model: EmbeddingModel) -> None:
    """One query and one small image through the model, so the first real request is not the slow one."""
    from PIL import Image

    model.embed_queries(["warm-up query"])
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (255, 255, 255)).save(buf, format="PNG")
    model.embed_images([buf.getvalue()])


class StartupError(Exception):
    """Start-up cannot go on; the message is one line that says why and what to change."""


def _port_in_use(host: str, port: int, flag: str) -> StartupError:
    env = next(f.env for f in FLAGS if f.flag == flag)
    return StartupError(
        f"port {port} on {host} is already in use (another colweave or Weaviate?): stop that process or "
        f"choose another port with {flag} (or {env})"
    )


def bind_http_socket(host: str, port: int) -> socket.socket:
    """The HTTP listening socket, bound here so a busy port is one clear error (uvicorn would exit)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as e:
        raise StartupError(f"--host {host}: cannot resolve it ({e.strerror})") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise _port_in_use(host, port, "--http-port") from None
        raise StartupError(f"cannot listen on {host}:{port} (--host, --http-port): {e.strerror}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def check_grpc_port(host: str, port: int) -> None:
    """Fails with one clear line when the gRPC port is taken (grpc's own error is a C-core log line)."""
    if port == 0:
        return
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as e:
        raise StartupError(f"--host {host}: cannot resolve it ({e.strerror})") from None
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise _port_in_use(host, port, "--grpc-port") from None
            raise StartupError(
                f"cannot listen on {host}:{port} (--host, --grpc-port): {e.strerror}"
            ) from None


def log_configuration(cfg: ServerConfig) -> None:
    """The start-up configuration, one readable line per setting (API keys redacted)."""
    red = cfg.redacted()
    width = max(len(f.flag) for f in FLAGS)
    log.info("configuration (flag, value):")
    for f in FLAGS:
        value = red[f.name]
        if isinstance(value, (list, tuple)):
            shown = ", ".join(str(v) for v in value) or "(none)"
        elif value in (None, ""):
            shown = "(none)"
        else:
            shown = str(value)
        log.info("  %-*s %s", width, f.flag, shown, extra={"config": {f.name: value}})


class ColweaveServer:
    def __init__(
        self,
        cfg: ServerConfig,
        model_factory: Callable[[], EmbeddingModel],
        *,
        store_factory: Callable[[], Any] | None = None,
        warm: bool = True,
    ) -> None:
        self.cfg = cfg
        self.state = ServerState(cfg)
        self._model_factory = model_factory
        self._store_factory = store_factory
        self._warm = warm
        self.grpc: GrpcServer | None = None  # grpc.aio objects must be made inside the running loop
        self.ops: WeaviateOps | None = None
        extra: list[Any] = []
        if store_factory is not None:
            self.ops = WeaviateOps(self.state.require_embedding, metrics=self.state.metrics)
            self.explain = explain_api.ExplainApi(self.state, self.ops)
            extra = weaviate_rest.routes(self.state, self.ops) + explain_api.api_routes(self.explain)
        self.app = build_app(self.state, extra)
        if self.ops is not None:
            self.app.router.routes.extend(explain_api.page_routes())  # public: the page holds no data
        fd_limit = raise_fd_limit()
        self.connections = ConnectionGuard(
            connection_cap(cfg.max_connections, fd_limit), cfg.header_timeout_s
        )

        async def openapi_json(_: Request) -> Response:
            return JSONResponse(openapi.document(with_store=self.ops is not None))

        self.app.router.routes.append(Route("/openapi.json", openapi_json, methods=["GET"]))
        self.http = _Uvicorn(
            uvicorn.Config(
                AccessLog(self.app),
                host=cfg.host,
                port=cfg.http_port,
                log_config=None,
                access_log=False,
                lifespan="off",
                http=self.connections.protocol(),
                timeout_keep_alive=cfg.keep_alive_s,  # type: ignore[arg-type]
                timeout_graceful_shutdown=max(1, int(cfg.shutdown_grace_s)),
            )
        )
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        if not self._stop.is_set():
            log.info("shutting down: draining in-flight requests (grace %.0f s)", self.cfg.shutdown_grace_s)
        self._stop.set()

    async def _load(self) -> None:
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        try:
            if self._store_factory is not None and self.ops is not None:
                # The store first: it is quick to open, and a data directory held by another server should
                # be the one error, before minutes of model loading.
                self.state.store = await loop.run_in_executor(None, self._store_factory)
                self.ops.attach(self.state.store)
                if hasattr(self.state.store, "start_expiry"):
                    self.state.store.start_expiry(self.cfg.ttl_sweep_s)
            model = await loop.run_in_executor(None, self._model_factory)
            if self._warm:
                await loop.run_in_executor(None, warm_up, model)
            svc = EmbeddingService(model, self.cfg, self.state.metrics)
        except Exception as e:
            self.state.load_error = f"{type(e).__name__}: {e}"
            if isinstance(e, StoreError):
                log.error("cannot start: %s (--data-dir, COLWEAVE_DATA_DIR)", e)
                log.debug("details", exc_info=True)
            elif isinstance(e, (ValueError, RuntimeError, OSError)):
                # The model layer's errors say what to do (offline with no cache, missing files, ...).
                log.error("cannot start: %s", e)
                log.debug("details", exc_info=True)
            else:
                log.exception("failed to load the model")
            self.request_stop()
            return
        svc.start()
        self.state.embedding = svc
        self.state.ready = True
        if self.grpc is not None:
            await self.grpc.set_serving(True)
        i = svc.info
        log.info(
            "ready in %.1f s: model %s, served as %s (dim %d, %s, providers %s)",
            time.perf_counter() - t0,
            i.model_id,
            i.name,
            i.dim,
            i.dtype,
            ",".join(i.providers),
        )

    async def run(self) -> int:
        """Serves until a signal (or ``request_stop``); returns the process exit code."""
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self.connections.loop_exception_handler)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        log.info("colweave %s starting", colweave.__version__)
        log_configuration(self.cfg)
        try:
            http_sock = bind_http_socket(self.cfg.host, self.cfg.http_port)
            try:
                check_grpc_port(self.cfg.host, self.cfg.grpc_port)
            except StartupError:
                http_sock.close()
                raise
        except StartupError as e:
            log.error("cannot start: %s", e)
            self.state.load_error = str(e)
            return 1
        self.grpc = GrpcServer(self.state)
        if self.ops is not None:
            self.grpc.add_service("weaviate.v1.Weaviate", weaviate_grpc.register(self.state, self.ops))
            self.grpc.add_service(
                explain_api.GRPC_SERVICE, explain_api.register_grpc(self.state, self.explain)
            )
        try:
            await self.grpc.start()
        except (RuntimeError, OSError) as e:  # taken between the check and grpc's own bind
            http_sock.close()
            log.error("cannot start: the gRPC port (--grpc-port %d): %s", self.cfg.grpc_port, e)
            self.state.load_error = str(e)
            return 1
        http_task = asyncio.create_task(self.http.serve(sockets=[http_sock]), name="http")
        while not self.http.started and not http_task.done():
            await asyncio.sleep(0.01)
        if http_task.done():
            await self.grpc.stop(0)
            exc = http_task.exception()
            log.error("the HTTP server did not start: %s", exc)
            return 1
        log.info(
            "listening: http://%s:%d (REST), %s:%d (gRPC)",
            self.cfg.host,
            http_sock.getsockname()[1],
            self.cfg.host,
            self.grpc.port,
        )
        load_task = asyncio.create_task(self._load(), name="load")
        stop_task = asyncio.create_task(self._stop.wait())
        await asyncio.wait({http_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        code = 1 if self.state.load_error else 0
        await self.shutdown(http_task, load_task)
        return code

    async def shutdown(self, http_task: asyncio.Task[None], load_task: asyncio.Task[None]) -> None:
        self.state.stopping = True
        self.state.ready = False
        grace = self.cfg.shutdown_grace_s
        self.http.should_exit = True
        if self.grpc is not None:
            await asyncio.gather(self.grpc.stop(grace), http_task, return_exceptions=True)
        else:
            await asyncio.gather(http_task, return_exceptions=True)
        if not load_task.done():
            load_task.cancel()
        if self.state.embedding is not None:
            await self.state.embedding.close(grace)
        if self.ops is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.ops.close)
        log.info("stopped")

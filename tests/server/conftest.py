"""A real server (both ports, real sockets) run in a background thread for protocol tests."""

from __future__ import annotations

import asyncio
import hashlib
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from colweave.server.app import ColweaveServer
from colweave.server.config import ServerConfig
from colweave.store.store import Store


class HashModel:
    """A deterministic model double for protocol tests (the real Encoder is tested in tests/model).

    Images are really decoded with Pillow (so undecodable bytes fail like they do in the Encoder); the
    vectors are a pure function of the input, so a test can compare what the server returned with what the
    model gives for the same input. ``delay`` slows every call (batching and overload tests).
    """

    dim = 8

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: list[int] = []
        self.lock = threading.Lock()
        self.entered = threading.Event()  # set when a call has started (tests wait on it, not on a sleep)

    @property
    def info(self) -> dict[str, Any]:
        return {
            "model_id": "test/hash-model",
            "model_type": "colmodernvbert",  # it stands in for ColModernVBERT: served under Weaviate's name
            "dim": self.dim,
            "dtype": "fp32",
            "providers": ["CPUExecutionProvider"],
            "image_seq_len": 4,
        }

    def _vec(self, seed: bytes, rows: int) -> np.ndarray:
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(seed).digest()[:8], "little"))
        v = rng.standard_normal((rows, self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def embed_images(self, images: Sequence[Any]) -> list[np.ndarray]:
        with self.lock:
            self.calls.append(len(images))
        self.entered.set()
        time.sleep(self.delay)
        out = []
        for img in images:
            try:
                with Image.open(io.BytesIO(img)) as im:
                    im.load()
                    w, h = im.size
            except Exception as e:
                raise ValueError(f"cannot decode the image: {e}") from None
            out.append(self._vec(bytes(img), 4 + (w * h) % 5))
        return out

    def embed_queries(self, texts: Sequence[str]) -> list[np.ndarray]:
        with self.lock:
            self.calls.append(len(texts))
        self.entered.set()
        time.sleep(self.delay)
        return [self._vec(t.encode(), 2 + len(t.split())) for t in texts]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    server: ColweaveServer
    model: Any
    http: str
    grpc: str
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.request_stop)
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "server did not stop"


def start_server(encoder: Any, **overrides: Any) -> RunningServer:
    """A server on free ports; with ``data_dir=...`` it also serves an embedded store there."""
    overrides.setdefault("no_store", "data_dir" not in overrides)
    overrides.setdefault("model", "test/hash-model")
    cfg = replace(
        ServerConfig(),
        host="127.0.0.1",
        http_port=free_port(),
        grpc_port=free_port(),
        shutdown_grace_s=5.0,
        **overrides,
    )
    store_factory = (
        None if cfg.no_store else (lambda: Store(cfg.data_dir, auto_schema=not cfg.no_auto_schema))
    )
    server = ColweaveServer(cfg, lambda: encoder, store_factory=store_factory, warm=False)
    loop = asyncio.new_event_loop()
    result: dict[str, int] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        result["code"] = loop.run_until_complete(server.run())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.state.ready:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError(f"server did not become ready: {server.state.load_error}")
        time.sleep(0.02)
    return RunningServer(
        server, encoder, f"http://127.0.0.1:{cfg.http_port}", f"127.0.0.1:{cfg.grpc_port}", thread, loop
    )


@pytest.fixture
def make_server() -> Iterator[Callable[..., RunningServer]]:
    started: list[RunningServer] = []

    def make(encoder: Any = None, **overrides: Any) -> RunningServer:
        s = start_server(encoder or HashModel(), **overrides)
        started.append(s)
        return s

    yield make
    for s in started:
        if s.thread.is_alive():
            s.stop()


def png(w: int = 32, h: int = 24, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, format="PNG")
    return buf.getvalue()

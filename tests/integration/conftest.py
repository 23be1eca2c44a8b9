"""Fixtures shared by the integration tests that drive a real server through the real weaviate-client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import weaviate
from tests.server.conftest import HashModel, RunningServer, start_server


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[RunningServer, Any]]:
    """A server with the hash model on free ports, on a fresh data directory, and a client connected to it
    (REST and gRPC). A test may stop the server itself (to reopen its store); it is stopped here otherwise."""
    s = start_server(HashModel(), data_dir=tmp_path / "data")
    client = weaviate.connect_to_local(
        port=int(s.http.rsplit(":", 1)[1]), grpc_port=int(s.grpc.rsplit(":", 1)[1])
    )
    try:
        yield s, client
    finally:
        client.close()
        if s.thread.is_alive():
            s.stop()

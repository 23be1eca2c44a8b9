"""Flags and COLWEAVE_* variables, redaction, readiness and graceful shutdown."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import threading
import time
from dataclasses import replace

import httpx
import pytest

from colweave.server.app import ColweaveServer
from colweave.server.config import FLAGS, ServerConfig, add_arguments, from_args
from colweave.server.logs import JsonFormatter

from .conftest import HashModel, free_port, png, start_server


def parse(argv: list[str], env: dict[str, str] | None = None) -> ServerConfig:
    p = argparse.ArgumentParser()
    add_arguments(p, env or {})
    return from_args(p.parse_args(argv))


def test_every_flag_has_an_env_variable_listed_in_help() -> None:
    p = argparse.ArgumentParser()
    add_arguments(p, {})
    text = p.format_help()
    for f in FLAGS:
        assert f.env in text, f.env
        assert f.env.startswith("COLWEAVE_")


def test_defaults_are_weaviates_ports() -> None:
    cfg = parse([])
    assert (cfg.http_port, cfg.grpc_port) == (8080, 50051)
    assert cfg.api_keys == ()


def test_env_then_flag_precedence_and_types() -> None:
    env = {
        "COLWEAVE_HTTP_PORT": "9000",
        "COLWEAVE_API_KEYS": "k1, k2",
        "COLWEAVE_NO_STORE": "true",
        "COLWEAVE_MAX_WAIT_MS": "2.5",
        "COLWEAVE_DEVICE": "cpu",
    }
    cfg = parse([], env)
    assert cfg.http_port == 9000
    assert cfg.api_keys == ("k1", "k2")
    assert cfg.no_store is True
    assert cfg.max_wait_ms == 2.5
    assert cfg.device == "cpu"
    cfg = parse(["--http-port", "9100", "--api-key", "k3", "--store"], env)
    assert cfg.http_port == 9100
    assert cfg.api_keys == ("k3",)
    assert cfg.no_store is False


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"COLWEAVE_HTTP_PORT": "eighty"}, "expected int"),
        ({"COLWEAVE_DEVICE": "tpu"}, "expected one of"),
        ({"COLWEAVE_NO_STORE": "maybe"}, "true or false"),
    ],
)
def test_bad_env_values_are_clear_errors(env, fragment) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse([], env)


def test_bad_flag_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="not a port"):
        parse(["--http-port", "70000"])
    with pytest.raises(ValueError, match="at least 1"):
        parse(["--max-queue", "0"])


def test_secrets_are_redacted_in_logs() -> None:
    cfg = parse(["--api-key", "super-secret"])
    red = cfg.redacted()
    assert "super-secret" not in json.dumps(red, default=str)
    assert red["api_keys"] == ["***"]
    rec = logging.LogRecord("x", logging.INFO, "f", 1, "starting with %s", (red,), None)
    assert "super-secret" not in JsonFormatter().format(rec)


def test_graceful_shutdown_finishes_in_flight_requests() -> None:
    model = HashModel(delay=1.0)
    s = start_server(model)
    result: dict[str, int] = {}

    def slow() -> None:
        body = {"input": [base64.b64encode(png()).decode()]}
        result["status"] = httpx.post(
            f"{s.http}/v1/embeddings/embed", content=json.dumps(body), timeout=30
        ).status_code

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)  # the request is now inside the model
    s.stop()
    t.join(timeout=10)
    assert result["status"] == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{s.http}/v1/.well-known/live", timeout=2)


def test_not_ready_until_the_model_loads() -> None:
    gate = threading.Event()
    cfg = replace(
        ServerConfig(),
        host="127.0.0.1",
        http_port=free_port(),
        grpc_port=free_port(),
        no_store=True,
        shutdown_grace_s=2.0,
    )

    def factory() -> HashModel:
        gate.wait(20)  # the model "loads" until the test opens the gate
        return HashModel()

    server = ColweaveServer(cfg, factory, warm=True)
    loop = asyncio.new_event_loop()
    th = threading.Thread(target=lambda: loop.run_until_complete(server.run()), daemon=True)
    th.start()
    base = f"http://127.0.0.1:{cfg.http_port}"
    for _ in range(200):
        try:
            if httpx.get(f"{base}/v1/.well-known/live").status_code == 200:
                break
        except httpx.ConnectError:
            time.sleep(0.02)
    assert httpx.get(f"{base}/v1/.well-known/ready").status_code == 503
    r = httpx.post(f"{base}/v1/embeddings/embed", content=b'{"input": ["q"], "is_search_query": true}')
    assert r.status_code == 503
    assert "loading" in r.json()["detail"]
    gate.set()
    for _ in range(500):
        if httpx.get(f"{base}/v1/.well-known/ready").status_code == 200:
            break
        time.sleep(0.02)
    assert httpx.get(f"{base}/v1/.well-known/ready").status_code == 200
    loop.call_soon_threadsafe(server.request_stop)
    th.join(20)
    assert not th.is_alive()


def test_a_model_that_cannot_serve_stops_the_server_with_its_error() -> None:
    """Whatever fails while loading (here: an object that is not a model) ends start-up with the error."""
    cfg = replace(
        ServerConfig(), host="127.0.0.1", http_port=free_port(), grpc_port=free_port(), no_store=True
    )
    server = ColweaveServer(cfg, lambda: object(), warm=False)
    loop = asyncio.new_event_loop()
    try:
        code = loop.run_until_complete(asyncio.wait_for(server.run(), 30))
    finally:
        loop.close()
    assert code == 1
    assert server.state.load_error is not None
    assert not server.state.ready

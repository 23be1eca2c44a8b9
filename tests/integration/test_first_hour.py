"""What a newcomer meets in the first hour: the command line, start-up errors, the access log, OpenAPI."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import httpx
import pytest
from tests.integration.serve_process import ROOT, TINY_MODEL, serve

from colweave.server.config import add_arguments, from_args
from colweave.v1 import embedding_pb2 as pb
from colweave.v1 import embedding_pb2_grpc as pb_grpc


def colweave(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("COLWEAVE_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "colweave", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )


def parse(argv: list[str], env: dict[str, str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p, env or {})
    return p.parse_args(argv)


def test_no_store_flag_turns_the_store_off() -> None:
    assert from_args(parse(["--no-store"])).no_store is True
    assert from_args(parse([])).no_store is False
    # the positive form overrides the variable
    assert from_args(parse(["--store"], {"COLWEAVE_NO_STORE": "1"})).no_store is False
    assert from_args(parse([], {"COLWEAVE_NO_STORE": "1"})).no_store is True
    assert from_args(parse(["--ort-spin"])).ort_spin is True
    assert from_args(parse(["--no-ort-spin"], {"COLWEAVE_ORT_SPIN": "1"})).ort_spin is False


def test_no_arguments_prints_the_usage_and_fails() -> None:
    r = colweave()
    assert r.returncode == 2
    assert "usage: colweave" in r.stderr
    assert "serve" in r.stderr


def test_help_is_plain_text() -> None:
    for args in ((), ("serve",), ("export",)):
        r = colweave(*args, "--help")
        assert r.returncode == 0, r.stderr
        assert "``" not in r.stdout
        assert "[default: ]" not in r.stdout
        assert "default: )" not in r.stdout
        assert "--no-no-" not in r.stdout


def test_a_malformed_variable_does_not_break_version_or_help() -> None:
    env = {"COLWEAVE_HTTP_PORT": "eighty", "COLWEAVE_EXPORT_OPSET": "x"}
    r = colweave("--version", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("colweave ")
    assert colweave("serve", "--help", env=env).returncode == 0
    r = colweave("serve", env=env)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "colweave serve: error: COLWEAVE_HTTP_PORT='eighty': expected int"
    ]


@pytest.mark.parametrize("flag", ["--http-port", "--grpc-port"])
def test_a_busy_port_is_one_line_naming_the_port_and_the_flag(flag: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        other = "--grpc-port" if flag == "--http-port" else "--http-port"
        r = colweave("serve", "--model", str(TINY_MODEL), "--no-store", flag, str(port), other, "0")
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if "ERROR" in line or "Traceback" in line]
    assert len(errors) == 1, r.stderr
    assert f"port {port}" in errors[0]
    assert flag in errors[0]
    assert "Traceback" not in r.stderr
    assert len(r.stderr.splitlines()) < 40  # the configuration lines and the error, nothing else


@pytest.mark.slow
def test_a_second_server_on_the_same_data_dir_says_it_is_in_use(tmp_path: Path) -> None:
    first = serve(tmp_path / "data")
    try:
        r = colweave(
            "serve",
            "--model",
            str(TINY_MODEL),
            "--data-dir",
            str(tmp_path / "data"),
            "--http-port",
            "0",
            "--grpc-port",
            "0",
        )
        assert r.returncode == 1
        assert "Traceback" not in r.stderr
        errors = [line for line in r.stderr.splitlines() if "ERROR" in line]
        assert len(errors) == 1, r.stderr
        assert "in use by another process" in errors[0]
        assert "--data-dir" in errors[0]
        assert "failed to load the model" not in r.stderr
        # the first server was not disturbed
        assert httpx.get(f"{first.http}/v1/.well-known/ready", timeout=5).status_code == 200
    finally:
        assert first.stop() == 0


@pytest.mark.slow
def test_one_access_line_per_request_rest_and_grpc(tmp_path: Path) -> None:
    sp = serve(tmp_path / "data", "--log-format", "json")
    try:
        r = httpx.get(f"{sp.http}/v1/meta", headers={"X-Request-Id": "req-123"}, timeout=10)
        assert r.status_code == 200
        assert r.headers["x-request-id"] == "req-123"
        assert httpx.get(f"{sp.http}/v1/schema/Nope", timeout=10).status_code == 404
        generated = httpx.get(f"{sp.http}/v1/.well-known/live", timeout=10).headers["x-request-id"]
        with grpc.insecure_channel(f"127.0.0.1:{sp.grpc_port}") as ch:
            stub = pb_grpc.EmbeddingServiceStub(ch)
            stub.Info(pb.InfoRequest(), metadata=[("x-request-id", "grpc-7")], timeout=10)
            with pytest.raises(grpc.RpcError) as e:
                stub.EmbedQueries(pb.EmbedQueriesRequest(texts=[]), timeout=10)
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        assert sp.stop() == 0
    records = [json.loads(line) for line in sp.log.read_text().splitlines() if line.startswith("{")]
    access = [r["access"] for r in records if "access" in r]
    ready_polls = [a for a in access if a["path"] == "/v1/.well-known/ready"]
    others = [a for a in access if a["path"] != "/v1/.well-known/ready"]
    assert ready_polls  # serve() polled readiness: those are requests too
    assert [(a["protocol"], a["method"], a["path"], a["status"]) for a in others] == [
        ("http", "GET", "/v1/meta", "200"),
        ("http", "GET", "/v1/schema/Nope", "404"),
        ("http", "GET", "/v1/.well-known/live", "200"),
        ("grpc", "POST", "/colweave.v1.EmbeddingService/Info", "OK"),
        ("grpc", "POST", "/colweave.v1.EmbeddingService/EmbedQueries", "INVALID_ARGUMENT"),
    ]
    assert [a["request_id"] for a in others][:4] == ["req-123", others[1]["request_id"], generated, "grpc-7"]
    assert all(a["duration_ms"] >= 0 for a in access)
    assert len({a["request_id"] for a in others}) == len(others)
    # the start-up configuration is logged setting by setting
    config = [r["config"] for r in records if "config" in r]
    assert {"http_port": sp.http_port} in config
    assert {"no_store": False} in config


@pytest.mark.slow
def test_openapi_document_lists_the_served_routes(tmp_path: Path) -> None:
    sp = serve(tmp_path / "data", "--no-store")
    try:
        doc = httpx.get(f"{sp.http}/openapi.json", timeout=10).json()
        assert doc["openapi"].startswith("3.")
        for path, ops in doc["paths"].items():
            for method in ops:
                r = httpx.request(
                    method.upper(), sp.http + path, json={"input": ["x"], "is_search_query": True}
                )
                assert r.status_code != 404, (method, path)
                assert str(r.status_code) in ops[method]["responses"], (method, path, r.status_code)
        assert "/v1/embeddings/embed" in doc["paths"]
        assert "/v1/colweave/info" in doc["paths"]
    finally:
        assert sp.stop() == 0

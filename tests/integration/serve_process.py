"""``colweave serve`` as a real subprocess with the committed tiny model, for tests that kill it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests.server.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
TINY_MODEL = ROOT / "tests" / "fixtures" / "model" / "tiny-colweave"


@dataclass
class ServeProcess:
    proc: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int
    log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def serve(
    data_dir: Path,
    *extra: str,
    ready_timeout: float = 60,
    http_port: int | None = None,
    grpc_port: int | None = None,
) -> ServeProcess:
    """The tiny model served on free ports (or the given ones), once it reports ready."""
    http_port = http_port or free_port()
    grpc_port = grpc_port or free_port()
    log = data_dir.parent / f"serve-{http_port}.log"
    cmd = [
        sys.executable,
        "-m",
        "colweave",
        "serve",
        "--model",
        str(TINY_MODEL),
        "--data-dir",
        str(data_dir),
        "--http-port",
        str(http_port),
        "--grpc-port",
        str(grpc_port),
        *extra,
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    sp = ServeProcess(proc, http_port, grpc_port, log)
    deadline = time.time() + ready_timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"colweave serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{sp.http}/v1/.well-known/ready", timeout=1).status_code == 200:
                return sp
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    sp.kill9()
    raise RuntimeError(f"colweave serve did not become ready:\n{log.read_text()}")

"""Runs weaviate-client's own integration suite against real ``colweave serve`` processes.

    python tests/weaviate_suite/run.py                      # the whole in-scope suite
    python tests/weaviate_suite/run.py -- integration/test_collection_filter.py -x   # part of it

1. Downloads the sdist of the pinned client version (``scope.toml``) from PyPI with ``pip download`` and
   extracts its ``integration/`` folder into a cache directory (nothing of it enters this repository).
2. Creates a virtual environment for the suite there (the pinned client, pytest and the suite's
   dependencies), or uses ``--venv``.
3. Starts ``colweave serve`` with the committed tiny model on each port pair the suite connects to
   (``scope.toml``: 8080/50051, 8090/50061, 8087/50058), each on a fresh data directory.
4. Runs the collected tests that ``scope.toml`` does not exclude, each with a timeout, and prints the
   counts: collected, in scope, passed, failed, skipped (and the most common failure messages), and the
   skips grouped by the reason each test gave: the client skips the tests of features newer than the
   Weaviate version colweave reports (``GET /v1/meta``), apart from those the tests skip themselves.

Exit status: 0 when the run completed (and the pass rate reaches ``--min-pass-rate``), 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCOPE = HERE / "scope.toml"
TINY_MODEL = ROOT / "tests" / "fixtures" / "model" / "tiny-colweave"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "colweave" / "weaviate-suite"
# What the suite imports besides the client (its requirements-test.txt, without the CI-only plugins).
SUITE_DEPS = [
    "pytest==9.0.3",
    "pytest-asyncio==1.3.0",
    "pytest-timeout==2.4.0",
    "numpy>=1.24.4,<3",
    "pandas>=2.0.3,<3",
    "polars>=0.20.26,<1.39",
    "httpx",
]


def log(msg: str) -> None:
    print(f"[weaviate-suite] {msg}", flush=True)


def load_scope(path: Path = SCOPE) -> dict[str, Any]:
    with open(path, "rb") as f:
        return tomllib.load(f)


def exclusions(scope: dict[str, Any]) -> list[tuple[str, str]]:
    """``(pattern, feature)`` for every exclusion of the scope file."""
    return [(pattern, ex["feature"]) for ex in scope.get("exclude", []) for pattern in ex["tests"]]


def fetch_suite(package: str, version: str, cache: Path) -> Path:
    """The extracted sdist root (holding ``integration/``), downloaded once per version."""
    root = cache / f"{package.replace('-', '_')}-{version}"
    if (root / "integration" / "conftest.py").is_file():
        return root
    dl = cache / "sdist"
    dl.mkdir(parents=True, exist_ok=True)
    log(f"downloading the {package}=={version} sdist from PyPI")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
         "--disable-pip-version-check", "-q", "-d", str(dl), f"{package}=={version}"],
        check=True,
    )  # fmt: skip
    archives = sorted(dl.glob(f"{package.replace('-', '_')}-{version}.tar.gz")) + sorted(
        dl.glob(f"{package}-{version}.tar.gz")
    )
    if not archives:
        raise SystemExit(f"pip download left no {package}-{version} sdist in {dl}")
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=cache))
    with tarfile.open(archives[0]) as tar:
        members = [
            m
            for m in tar.getmembers()
            if "/integration/" in m.name
            and ".." not in m.name
            and not m.name.startswith("/")
            and (m.isfile() or m.isdir())
        ]
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
            tar.extractall(tmp, members=members, filter="data")
        else:  # pragma: no cover - older interpreters: plain files and folders only (checked above)
            tar.extractall(tmp, members=members)
    (extracted,) = [p for p in tmp.iterdir() if p.is_dir()]
    if root.exists():
        shutil.rmtree(root)
    extracted.rename(root)
    shutil.rmtree(tmp, ignore_errors=True)
    if not (root / "integration" / "conftest.py").is_file():
        raise SystemExit(f"the {package} {version} sdist has no integration/ suite")
    return root


def ensure_venv(cache: Path, package: str, version: str) -> Path:
    """A virtual environment with the pinned client and the suite's dependencies; its python."""
    venv = cache / f"venv-{version}"
    py = venv / "bin" / "python"
    stamp = venv / ".colweave-deps"
    want = "\n".join([f"{package}=={version}", *SUITE_DEPS])
    if py.exists() and stamp.exists() and stamp.read_text() == want:
        return py
    log(f"creating the suite's virtual environment in {venv}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", f"{package}=={version}",
         *SUITE_DEPS],
        check=True,
    )  # fmt: skip
    stamp.write_text(want)
    return py


def client_version(py: Path) -> str:
    out = subprocess.run(
        [str(py), "-c", "import importlib.metadata as m; print(m.version('weaviate-client'))"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Server:
    def __init__(self, http: int, grpc: int, work: Path, *, auto_schema: bool = True) -> None:
        self.http, self.grpc = http, grpc
        self.data = work / f"data-{http}"
        self.log = work / f"serve-{http}.log"
        cmd = [
            sys.executable, "-m", "colweave", "serve", "--model", str(TINY_MODEL),
            "--data-dir", str(self.data), "--http-port", str(http), "--grpc-port", str(grpc),
            "--log-level", "warning",
        ]  # fmt: skip
        if not auto_schema:
            cmd.append("--no-auto-schema")
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.http}/v1/.well-known/ready"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"colweave serve exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"colweave serve on {self.http} was not ready after {timeout:.0f} s:\n{self.tail()}")

    def weaviate_version(self) -> str:
        """The Weaviate version the server reports (``GET /v1/meta``): the client gates tests on it."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/v1/meta", timeout=10) as r:
            return str(json.loads(r.read())["version"])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _generic(message: str) -> str:
    """A failure message without the names that differ from test to test (collections, UUIDs)."""
    message = re.sub(r"\bTest\w*", "<collection>", message)
    message = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", message)
    return message[:160]


_VERSION = re.compile(r"\b1\.(\d+)(?:\.(\d+))?\b")


def parse_version(v: str) -> tuple[int, int, int]:
    """``"1.36.6"`` → ``(1, 36, 6)`` (missing parts are 0)."""
    major, minor, patch = [*(int(p) for p in re.findall(r"\d+", v)[:3]), 0, 0, 0][:3]
    return major, minor, patch


def needs_newer(reason: str, served: tuple[int, int, int]) -> bool:
    """Whether a skip reason names a Weaviate version newer than the one the server reports: the client
    skips the tests of features that came after it (``requires Weaviate >= 1.37.0``)."""
    return any((1, int(m[1]), int(m[2] or 0)) > served for m in _VERSION.finditer(reason))


def skips_by_reason(
    results: dict[str, Any], served: tuple[int, int, int]
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """The skipped tests' reasons with their counts, most common first: those naming a newer Weaviate
    than ``served``, and the others (the test skipped itself: no API key, a flaky check, ...)."""
    reasons = collections.Counter(
        results["messages"].get(t, "(no reason given)")
        for t, o in results["outcomes"].items()
        if o == "skipped"
    )
    ordered = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    newer = [(r, k) for r, k in ordered if needs_newer(r, served)]
    return newer, [(r, k) for r, k in ordered if not needs_newer(r, served)]


def summarize(results: dict[str, Any], version: str, top: int, served: str) -> tuple[int, int]:
    outcomes: dict[str, str] = results["outcomes"]
    counts = collections.Counter(outcomes.values())
    passed, failed = counts.get("passed", 0), counts.get("failed", 0)
    skipped, not_run = counts.get("skipped", 0), counts.get("not run", 0)
    n = results["in_scope"]
    print()
    print(f"weaviate-client {version} integration suite against colweave")
    print(f"  collected {results['collected']}, in scope {n}, excluded {results['collected'] - n}")
    for feature, k in sorted(results["excluded"].items(), key=lambda kv: -kv[1]):
        print(f"    excluded {k:4d}  {feature}")
    ran = passed + failed
    rate = 100 * passed / ran if ran else 0.0
    print(
        f"  passed {passed}, failed {failed}, skipped {skipped}"
        + (f", not run {not_run}" if not_run else "")
        + f"  ({rate:.1f} % of the {ran} in-scope tests that ran passed)"
    )
    if skipped:
        newer, own = skips_by_reason(results, parse_version(served))
        print(f"  skipped {skipped}, by reason:")
        if newer:
            print(
                f"    {sum(k for _, k in newer)} by the client for features newer than the Weaviate {served} "
                "colweave implements and reports:"
            )
            for reason, k in newer:
                print(f"    {k:4d}  {reason[:160]}")
        if own:
            print(f"    {sum(k for _, k in own)} by the tests themselves:")
            for reason, k in own:
                print(f"    {k:4d}  {reason[:160]}")
    for file, reason in sorted(results.get("skipped_files", {}).items()):
        print(
            f"  {file} skips itself whole at collection (no tests counted; pytest counts one skip): {reason}"
        )
    if failed and top:
        msgs = collections.Counter(
            _generic(results["messages"].get(t, "?")) for t, o in outcomes.items() if o == "failed"
        )
        print(f"  most common failures (of {failed}):")
        for msg, k in msgs.most_common(top):
            print(f"    {k:4d}  {msg}")
    return passed, ran


def main(argv: list[str] | None = None) -> int:
    full = load_scope()
    scope = full["suite"]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("COLWEAVE_SUITE_CACHE", DEFAULT_CACHE)))
    ap.add_argument("--venv", type=Path, help="use this virtual environment for the suite (no installs)")
    ap.add_argument("--timeout", type=int, default=scope["timeout_s"], help="per-test timeout, seconds")
    ap.add_argument("--results", type=Path, help="write each in-scope test's outcome here (JSON)")
    ap.add_argument("--junitxml", type=Path, help="also write pytest's JUnit XML here")
    ap.add_argument("--top", type=int, default=15, help="show this many of the most common failures")
    ap.add_argument("--min-pass-rate", type=float, default=0.0, help="fail below this percentage")
    ap.add_argument("--ready-timeout", type=float, default=120)
    ap.add_argument("pytest_args", nargs="*", help="after --: test paths / pytest options (default: all)")
    args = ap.parse_args(argv)

    package, version = scope["package"], scope["version"]
    args.cache.mkdir(parents=True, exist_ok=True)
    suite = fetch_suite(package, version, args.cache)
    py = (args.venv / "bin" / "python") if args.venv else ensure_venv(args.cache, package, version)
    got = client_version(py)
    if got != version:
        raise SystemExit(f"{py} has weaviate-client {got}, the scope pins {version}")

    busy = [p for pair in scope["servers"] for p in pair if not port_free(p)]
    if busy:
        raise SystemExit(f"ports {busy} are in use: the suite needs them for colweave (stop what uses them)")
    work = Path(tempfile.mkdtemp(prefix="colweave-weaviate-suite-"))
    # The client's CI runs its main deployment with AUTOSCHEMA_ENABLED=false (ci/docker-compose.yml: the
    # suite expects an unknown property to be the object's error there) and the others with Weaviate's
    # default (on).
    servers = [Server(http, grpc, work, auto_schema=i > 0) for i, (http, grpc) in enumerate(scope["servers"])]
    results_file = args.results or work / "results.json"
    exclude_file = work / "exclude.json"
    exclude_file.write_text(json.dumps(exclusions(full)))
    try:
        for s in servers:
            s.wait_ready(args.ready_timeout)
        served = servers[0].weaviate_version()
        log(f"colweave serving on {', '.join(f'{s.http}/{s.grpc}' for s in servers)}; running the suite")
        env = {
            **os.environ,
            "PYTHONPATH": str(HERE),
            "COLWEAVE_SUITE_EXCLUDE": str(exclude_file),
            "COLWEAVE_SUITE_RESULTS": str(results_file),
        }
        cmd = [
            str(py), "-m", "pytest", "-o", "addopts=", "-p", "no:cacheprovider", "-p", "scope_plugin",
            "-q", "--timeout", str(args.timeout), "-W", "ignore::DeprecationWarning",
            *(["--junitxml", str(args.junitxml)] if args.junitxml else []),
            *(args.pytest_args or ["integration"]),
        ]  # fmt: skip
        t0 = time.monotonic()
        rc = subprocess.run(cmd, cwd=suite, env=env).returncode
        took = time.monotonic() - t0
        dead = [s for s in servers if not s.alive()]
    finally:
        codes = [s.stop() for s in servers]
    if not results_file.exists():
        print(f"pytest exited with {rc} before writing results")
        return 1
    results = json.loads(results_file.read_text())
    passed, ran = summarize(results, got, args.top, served)
    print(f"  took {took:.0f} s (per-test timeout {args.timeout} s)")
    ok = True
    for s in dead:
        print(f"colweave serve on {s.http} died during the run (exit {s.proc.returncode}):\n{s.tail()}")
        ok = False
    if any(c not in (0, -signal.SIGTERM) for c in codes) and not dead:
        print(f"colweave serve exit codes on SIGTERM: {codes}")
    if rc not in (0, 1):  # 1: some tests failed; anything else: pytest itself failed
        print(f"pytest exited with {rc}")
        ok = False
    rate = 100 * passed / ran if ran else 0.0
    if rate < args.min_pass_rate:
        print(f"pass rate {rate:.1f} % is below --min-pass-rate {args.min_pass_rate} %")
        ok = False
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Shared helpers of the benchmarks: interleaved rounds, medians, the BLAS in use, numpy's sgemm rate."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    parts = []
    for lib in threadpool_info():
        if lib.get("user_api") == "blas":
            parts.append(
                f"{lib.get('internal_api')} {lib.get('version')} {lib.get('architecture')} "
                f"threads={lib.get('num_threads')}"
            )
    core = os.environ.get("OPENBLAS_CORETYPE")
    if core:
        parts.append(f"WARNING: OPENBLAS_CORETYPE={core} (may slow numpy; unset it to benchmark fairly)")
    return "; ".join(parts) or "no BLAS found"


def blas_threads(n: int | None) -> Any:
    """Context manager limiting BLAS threads (no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def sgemm_gflops(n: int, threads: int, rounds: int = 3) -> float:
    """numpy float32 GEMM rate (n³), median of `rounds`, with `threads` BLAS threads."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    with blas_threads(threads):
        a @ b
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9


def interleaved(
    fns: dict[str, Callable[[], Any]], rounds: int, settle: float = 0.05, warmup: bool = True
) -> dict[str, float]:
    """Runs every function once per round, in turn (after one warm-up each, unless the caller has already
    run each once); returns median seconds.

    Each timing starts after a `settle` pause: OpenBLAS and OpenMP worker threads keep spinning for a while
    after a call, and would otherwise steal the cores from whichever implementation runs next.
    """
    for f in fns.values():
        if warmup:
            f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, f in fns.items():
            time.sleep(settle)
            t = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}

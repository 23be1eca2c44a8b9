"""The single-vector kernel (``colweave.dense_topk``) against numpy, per distance and SIMD path.

    python bench/dense.py                      # 100,000 vectors of 384 floats, top 10
    python bench/dense.py --rows 1000000 --dim 768 --threads 2

For every distance Weaviate offers and every SIMD path this CPU has: the median time of one top-k query
over the whole matrix (float32, and float16 storage for the fastest path), as a ratio to numpy computing
the same distances (float32 BLAS for cosine / dot, elementwise for the rest) plus ``argpartition``.
Ratios, not absolute times, are what to compare across machines.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

import colweave

METRICS = ("cosine", "dot", "l2-squared", "manhattan", "hamming")


def numpy_topk(
    metric: str, q: npt.NDArray[np.float32], x: npt.NDArray[np.float32], k: int
) -> npt.NDArray[np.floating]:
    """The k smallest distances, numpy's way."""
    if metric == "cosine":
        d = 1 - (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))
    elif metric == "dot":
        d = -(x @ q)
    elif metric == "l2-squared":
        d = ((x - q) ** 2).sum(axis=1)
    elif metric == "manhattan":
        d = np.abs(x - q).sum(axis=1)
    else:
        d = (x != q).sum(axis=1).astype(np.float32)
    part = np.argpartition(d, k)[:k]
    return np.sort(d[part])


def median_s(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm up (pages, pools)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, (args.rows, args.dim)).astype(np.float32)  # small integers: hamming is meaningful
    x16 = x.astype(np.float16)
    q = rng.integers(-3, 4, args.dim).astype(np.float32)
    print(
        f"{args.rows:,} x {args.dim} float32, top {args.k}; {platform.processor() or platform.machine()}; "
        f"threads {args.threads or 'all'}; SIMD paths {colweave.available_isas()}"
    )
    best = colweave.default_isa()
    for metric in METRICS:
        t_np = median_s(lambda m=metric: numpy_topk(m, q, x, args.k), args.repeat)
        line = [f"{metric:11s} numpy {t_np * 1e3:8.2f} ms"]
        for isa in colweave.available_isas():
            t = median_s(
                lambda m=metric, i=isa: colweave.dense_topk(
                    q, x, args.k, metric=m, isa=i, threads=args.threads
                ),
                args.repeat,
            )
            line.append(f"{isa} {t_np / t:5.1f}x")
        t16 = median_s(
            lambda m=metric: colweave.dense_topk(q, x16, args.k, metric=m, isa=best, threads=args.threads),
            args.repeat,
        )
        line.append(f"{best}/fp16 {t_np / t16:5.1f}x")
        # The same k distances as numpy (ties may pick other rows of equal distance).
        _, got = colweave.dense_topk(q, x, args.k, metric=metric)
        same = np.allclose(got, numpy_topk(metric, q, x, args.k), rtol=1e-5, atol=1e-5)
        line.append("same top-k distances" if same else "DIFFERENT top-k distances")
        print("  ".join(line))


if __name__ == "__main__":
    main()

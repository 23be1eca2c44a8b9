"""MaxSim throughput: colweave (fp32, fp16) against numpy formulations and maxsim-cpu, in one run.

    python bench/maxsim.py            # 2,000 documents (~1 GB of fp32 vectors), 7 rounds
    python bench/maxsim.py --quick    # 600 documents, 5 rounds: under a minute

Every implementation runs on the same data in interleaved rounds; the figures are medians. Ratios are
against the best numpy formulation measured in the same run. Scores of every implementation are checked
against colweave's before timing, so a broken baseline cannot win.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import itertools

import colweave
from _common import blas_info, blas_threads, interleaved, sgemm_gflops

try:
    import maxsim_cpu  # type: ignore[import-not-found]
except ImportError:  # optional comparator
    maxsim_cpu = None

# maxsim-cpu 0.1.0 touches numpy.core, which numpy 2 flags on every call.
warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*numpy.core")


def numpy_per_doc(q, docs, offsets):
    return np.array([(q @ docs[s:e].T).max(1).sum() for s, e in itertools.pairwise(offsets)], np.float32)


def numpy_chunked(q, docs, offsets, chunk_tokens):
    """Q @ D.T over runs of whole documents (~chunk_tokens tokens), then max per document."""
    out = np.empty(len(offsets) - 1, np.float32)
    lens = np.diff(offsets)
    fixed = lens.size and np.all(lens == lens[0]) and lens[0] > 0
    i = 0
    n = len(lens)
    while i < n:
        j = int(np.searchsorted(offsets, offsets[i] + chunk_tokens, side="right")) - 1
        j = min(max(j, i + 1), n)
        s = q @ docs[offsets[i] : offsets[j]].T  # (nq, tokens)
        if fixed:
            out[i:j] = s.reshape(len(q), j - i, lens[0]).max(axis=2).sum(axis=0)
        else:
            out[i:j] = np.maximum.reduceat(s, offsets[i:j] - offsets[i], axis=1).sum(axis=0)
        i = j
    return out


def make_data(rng, n_docs, lens_range, dim):
    lo, hi = lens_range
    lens = np.full(n_docs, lo) if lo == hi else rng.integers(lo, hi + 1, size=n_docs)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    docs = rng.standard_normal((int(offsets[-1]), dim), dtype=np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    return docs, offsets


def run_case(title, q, docs, docs16, offsets, rounds, threads, with_maxsim_cpu) -> dict[str, float]:
    nq, dim = q.shape
    tokens = int(offsets[-1])
    n_docs = len(offsets) - 1
    flops = 2.0 * nq * tokens * dim
    fns: dict[str, Callable[[], np.ndarray]] = {
        "colweave fp32": lambda: colweave.maxsim(q, docs, offsets, threads=threads),
        "colweave fp16": lambda: colweave.maxsim(q, docs16, offsets, threads=threads),
        "numpy per document": lambda: numpy_per_doc(q, docs, offsets),
        "numpy chunked 8k tokens": lambda: numpy_chunked(q, docs, offsets, 8192),
        "numpy chunked 32k tokens": lambda: numpy_chunked(q, docs, offsets, 32768),
    }
    lens = np.diff(offsets)
    if with_maxsim_cpu and maxsim_cpu is not None:
        if np.all(lens == lens[0]):
            d3 = docs.reshape(n_docs, int(lens[0]), dim)
            fns["maxsim-cpu"] = lambda: maxsim_cpu.maxsim_scores(q, d3)
        else:
            parts = [docs[s:e] for s, e in itertools.pairwise(offsets)]
            fns["maxsim-cpu"] = lambda: maxsim_cpu.maxsim_scores_variable(q, parts)
    with blas_threads(threads):
        # Correctness first: every implementation must agree with colweave fp32 (fp16 to its own precision).
        ref = fns["colweave fp32"]()
        for name, f in fns.items():
            tol = 2e-2 if "fp16" in name else 1e-3
            got = np.asarray(f(), np.float32)
            if not np.allclose(got, ref, rtol=tol, atol=tol):
                raise SystemExit(f"{name} disagrees with colweave fp32: max |Δ| {np.abs(got - ref).max()}")
        med = interleaved(fns, rounds)
    best_np = min(v for k, v in med.items() if k.startswith("numpy"))
    print(
        f"\n## {title}: nq {nq}, {n_docs} documents, {tokens / n_docs:.0f} tokens avg, dim {dim}, "
        f"threads {threads}"
    )
    print(f"{'implementation':28s} {'median ms':>10s} {'docs/s':>10s} {'GFLOP/s':>9s} {'vs best numpy':>14s}")
    for name, t in med.items():
        print(f"{name:28s} {t * 1e3:10.1f} {n_docs / t:10.0f} {flops / t / 1e9:9.1f} {best_np / t:13.2f}x")
    return {k: flops / v / 1e9 for k, v in med.items()} | {"_best_numpy": flops / best_np / 1e9}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="600 documents, 5 rounds (under a minute)")
    ap.add_argument("--docs", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2, help="threads for colweave and numpy (default 2)")
    ap.add_argument("--dim", type=int, default=128)
    args = ap.parse_args()
    n_docs = args.docs or (600 if args.quick else 2000)
    rounds = args.rounds or (5 if args.quick else 7)
    threads = args.threads

    print(
        f"colweave {colweave.__version__}, SIMD path {colweave.default_isa()} "
        f"(available: {', '.join(colweave.available_isas())})"
    )
    print(f"numpy {np.__version__}: {blas_info()}")
    print(
        f"maxsim-cpu: {'installed' if maxsim_cpu is not None else 'not installed (pip install maxsim-cpu)'}"
    )
    n = 2048 if args.quick else 4096
    sg1 = sgemm_gflops(n, 1)
    sgt = sgemm_gflops(n, threads)
    print(f"numpy sgemm {n}³: {sg1:.1f} GFLOP/s (1 thread), {sgt:.1f} GFLOP/s ({threads} threads)")

    rng = np.random.default_rng(0)
    fixed, fixed_off = make_data(rng, n_docs, (1024, 1024), args.dim)
    fixed16 = fixed.astype(np.float16)
    var, var_off = make_data(rng, n_docs, (500, 1100), args.dim)
    var16 = var.astype(np.float16)
    q32 = rng.standard_normal((32, args.dim), dtype=np.float32)
    q32 /= np.linalg.norm(q32, axis=1, keepdims=True)
    q10 = q32[:10].copy()

    r_fixed = run_case("fixed 1024 tokens", q32, fixed, fixed16, fixed_off, rounds, threads, True)
    r_var = run_case("variable 500-1100 tokens", q32, var, var16, var_off, rounds, threads, True)
    r_nq10 = run_case("nq 10, fixed 1024 tokens", q10, fixed, fixed16, fixed_off, rounds, threads, True)
    sub = max(n_docs // 4, 50)
    r_single = run_case(
        "single thread, fixed 1024 tokens",
        q32,
        fixed[: sub * 1024],
        fixed16[: sub * 1024],
        fixed_off[: sub + 1],
        rounds,
        1,
        False,
    )

    print("\n## targets")
    checks = [
        (
            "fp32 >= 2.0x best numpy (nq 32, 1024 tokens)",
            r_fixed["colweave fp32"] / r_fixed["_best_numpy"],
            2.0,
        ),
        (
            "fp32 >= 2.0x best numpy (nq 32, 500-1100 tokens)",
            r_var["colweave fp32"] / r_var["_best_numpy"],
            2.0,
        ),
        ("fp16 >= fp32 (nq 32, 1024 tokens)", r_fixed["colweave fp16"] / r_fixed["colweave fp32"], 1.0),
        ("nq 10 fp32 >= 2.0x best numpy", r_nq10["colweave fp32"] / r_nq10["_best_numpy"], 2.0),
        ("single thread fp32 >= 0.70x numpy 1-thread sgemm GFLOP/s", r_single["colweave fp32"] / sg1, 0.70),
    ]
    if "maxsim-cpu" in r_fixed:
        checks.insert(
            1,
            (
                "fp32 >= 2.0x maxsim-cpu (nq 32, 1024 tokens)",
                r_fixed["colweave fp32"] / r_fixed["maxsim-cpu"],
                2.0,
            ),
        )
    failed = 0
    for name, ratio, need in checks:
        ok = ratio >= need
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {ratio:.2f}x")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

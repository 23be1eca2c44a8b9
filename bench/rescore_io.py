"""Exact rescoring with a cold page cache: the candidates' fp16 rows read from disk one page fault at a
time (before) against all their reads issued at once with ``MADV_WILLNEED`` (after), in one run.

A segment of ``--pages`` pages (``--tokens`` x ``--dim`` fp16 rows each, random: only the reads are
measured) is written once under ``--data`` (kept for the next run). Each round picks ``--candidates``
random pages and a query, evicts the segment file from the page cache (``posix_fadvise(DONTNEED)``; the
rescoring itself drops its pages from the process with ``MADV_DONTNEED``, so nothing keeps them), and
rescores them (``copies.gather_exact``, the store's rescoring) without and with the prefetch, in
alternating order; then once more warm. Both must return the same pages and scores. Medians of
``--rounds`` rounds.

    PYTHONPATH=python python bench/rescore_io.py --pages 20000 --data /tmp/rescore-io
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from colweave.store.copies import gather_exact
from colweave.store.schema import MuveraConfig
from colweave.store.segments import VectorSegment


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=20_000)
    ap.add_argument("--tokens", type=int, default=885)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--candidates", type=int, default=128, help="pages rescored per query (rescoreLimit)")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--data", type=Path, required=True, help="where the segment is written (and kept)")
    args = ap.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    seg = VectorSegment(args.data, "v", "float16", args.dim, 0, MuveraConfig())
    want_rows = args.pages * args.tokens
    row_bytes = args.dim * 2
    if not seg.vec_path().exists() or seg.vec_path().stat().st_size != want_rows * row_bytes:
        seg.vec_path().unlink(missing_ok=True)
        rng = np.random.default_rng(0)
        t = time.perf_counter()
        for start in range(0, args.pages, 100):
            n = min(100, args.pages - start)
            mats = list(rng.standard_normal((n, args.tokens, args.dim), np.float32))
            placed, _ = seg.append(mats)
            seg.publish(placed, list(range(start, start + n)))
        print(f"wrote {args.pages} pages in {time.perf_counter() - t:.0f} s")
    else:
        live = [(i, i * args.tokens, args.tokens, i) for i in range(args.pages)]
        seg.open(live)
    snap = seg.snapshot()
    path = seg.vec_path()
    size = path.stat().st_size
    print(f"cpu: {cpu_name()}, {os.cpu_count()} vCPUs (shared)")
    print(f"segment: {args.pages} pages x {args.tokens} x {args.dim} fp16 = {size / 1e9:.1f} GB")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rng = np.random.default_rng(1)
    times: dict[str, list[float]] = {"before": [], "after": [], "warm": []}
    for r in range(args.rounds):
        cands = rng.choice(args.pages, args.candidates, replace=False).astype(np.int64)
        q = rng.standard_normal((22, args.dim)).astype(np.float32)
        got = {}
        order = ("before", "after") if r % 2 == 0 else ("after", "before")
        for name in order:
            evict(path)
            t = time.perf_counter()
            got[name] = gather_exact(q, snap, cands, 10, prefetch=name == "after")
            times[name].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        gather_exact(q, snap, cands, 10)
        times["warm"].append((time.perf_counter() - t) * 1000)
        assert np.array_equal(got["before"][0], got["after"][0])
        assert np.array_equal(got["before"][1], got["after"][1])
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"rescoring {args.candidates} pages, cold page cache, medians of {args.rounds} rounds: "
        f"before (page faults) p50 {med['before']:.1f} ms | after (MADV_WILLNEED) p50 {med['after']:.1f} ms "
        f"({med['before'] / med['after']:.2f}x faster) | warm p50 {med['warm']:.1f} ms; same results"
    )


if __name__ == "__main__":
    main()

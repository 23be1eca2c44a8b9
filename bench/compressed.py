"""Compressed multi-vectors and token pooling against exact fp16 MaxSim, on the same synthetic pages.

    python bench/compressed.py                  # 5,000 pages (1.1 GB of fp16 on disk): a few minutes
    python bench/compressed.py --pages 20000 --pool-pages 5000

Pages come from ``bench/synthetic.py`` (pages mixing a few of many topics; written to an fp16 file
chunk by chunk, memory-mapped). The truth is exact float16 MaxSim (``colweave.maxsim_topk``) over every
page. Side by side, one query at a time, every core:

* exact fp16 MaxSim over the memory-mapped pages;
* binary (sign bits, popcount MaxSim) candidates, then exact rescoring of the candidates on the fp16 pages;
* int8 (per-token scale, VNNI MaxSim) candidates, then exact rescoring;
* pooled x2 / x3 (Ward token pooling), exact MaxSim on the pooled vectors alone (fp16, in memory);
* binary codes of the pooled x2 / x3 vectors as candidates, exact rescoring on the original pages.

For each: recall@10 against the truth, median latency, and the bytes per page of the compact copy that
must stay in memory (the fp16 originals stay on disk, memory-mapped; rescoring reads only the candidates).
Pooling runs over the first ``--pool-pages`` pages (its truth is recomputed on those pages).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).parent))
import colweave
from synthetic import Synthetic

K = 10


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def recall(got: npt.NDArray[np.int64], want: npt.NDArray[np.int64]) -> float:
    return len(set(got.tolist()) & set(want.tolist())) / len(want)


def timed(fn: Callable[[], npt.NDArray[np.int64]]) -> tuple[float, npt.NDArray[np.int64]]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def line(
    name: str, secs: list[float], recalls: list[float], per_page: float, exact_s: float, raw: int
) -> None:
    ms = statistics.median(secs) * 1e3
    p90 = float(np.percentile(secs, 90)) * 1e3
    print(
        f"{name:46s} recall@10 {np.mean(recalls):.3f}  p50 {ms:7.1f} ms  p90 {p90:7.1f} ms  "
        f"({exact_s * 1e3 / ms:5.1f}x faster than exact)  {per_page:9,.0f} B/page in memory "
        f"({raw / per_page:5.1f}x less than fp16)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=5000)
    ap.add_argument("--pool-pages", type=int, default=None, help="pages pooled (default: all)")
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--candidates", type=int, nargs="+", default=[100, 400])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--data", type=Path, default=Path(__file__).parent / ".cache" / "compressed")
    ap.add_argument("--keep", action="store_true", help="keep the generated fp16 file")
    args = ap.parse_args()
    n, th = args.pages, args.threads
    gen = Synthetic()
    path = args.data / f"pages-{gen.seed}-{n}.f16"
    load = os.getloadavg()[0]
    print(
        f"CPU {cpu_model()} ({os.cpu_count()} cores, load average {load:.1f}: shared cores, "
        f"timings indicative); ISA: maxsim {colweave.default_isa()}, binary {colweave.binary_isas()[-1]}, "
        f"int8 {colweave.int8_isas()[-1]}"
    )
    t = time.perf_counter()
    rows = gen.write(path, n)
    offsets = gen.offsets(n)
    print(
        f"pages {n:,} x {gen.tokens} tokens x {gen.dim} (fp16 on disk, memory-mapped), {gen.topics} topics, "
        f"{gen.topics_per_page} per page; queries {gen.query_tokens} tokens; generated in "
        f"{time.perf_counter() - t:.0f} s"
    )
    raw = gen.tokens * gen.dim * 2
    queries = [gen.query(j, n) for j in range(args.queries)]
    colweave.maxsim_topk(queries[0], rows, offsets, K, threads=th)  # the page cache, once

    # -- the originals and their compact copies -------------------------------------------------------
    t = time.perf_counter()
    bcodes = np.concatenate([colweave.binarize(r) for _, r in chunks(rows, gen, n)])
    t_bin = time.perf_counter() - t
    t = time.perf_counter()
    parts = [colweave.quantize_int8(r) for _, r in chunks(rows, gen, n)]
    t_int8 = time.perf_counter() - t
    binary = colweave.BinaryCopy(bcodes, offsets, gen.dim)
    int8 = colweave.Int8Copy(
        np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), offsets
    )
    del parts, bcodes
    print(
        f"encode (from the fp16 file, incl. the float32 conversion): binary {n / t_bin:,.0f} pages/s, "
        f"int8 {n / t_int8:,.0f} pages/s"
    )
    configs: dict[str, tuple[Search, float]] = {
        "exact fp16 MaxSim (memory-mapped)": (
            lambda q: colweave.maxsim_topk(q, rows, offsets, K, threads=th)[0],
            raw,
        )
    }
    for name, copy in (("binary", binary), ("int8", int8)):
        per_page = copy.nbytes / n
        configs[f"{name} MaxSim alone (no rescoring)"] = (
            lambda q, c=copy: c.topk(q, K, threads=th)[0],
            per_page,
        )
        for nc in args.candidates:
            configs[f"{name} -> {nc} candidates -> exact fp16 rescore"] = (
                lambda q, c=copy, nc=nc: colweave.rescored_topk(c, q, rows, K, n_candidates=nc, threads=th)[
                    0
                ],
                per_page,
            )
    measure(configs, queries, raw)
    del binary, int8, configs

    # -- pooling -----------------------------------------------------------------------------------------
    npool = min(n, args.pool_pages or n)
    sub_off = offsets[: npool + 1]
    sub = rows[: npool * gen.tokens]
    print(f"pooling: the first {npool:,} pages (truth: exact fp16 MaxSim over those pages)")
    pconfigs: dict[str, tuple[Search, float]] = {
        "exact fp16 MaxSim (memory-mapped)": (
            lambda q: colweave.maxsim_topk(q, sub, sub_off, K, threads=th)[0],
            raw,
        )
    }
    for pf in (2, 3):
        t = time.perf_counter()
        pooled_parts, pooled_off = [], [np.zeros(1, np.int64)]
        base = 0
        for _, r in chunks(sub, gen, npool):
            v, o, _ = colweave.pool_tokens_batch(r, gen.offsets(len(r) // gen.tokens), pf, threads=th)
            pooled_parts.append(v.astype(np.float16))
            pooled_off.append(o[1:] + base)
            base += int(o[-1])
        t_pool = time.perf_counter() - t
        pooled = np.concatenate(pooled_parts)
        poff = np.concatenate(pooled_off)
        del pooled_parts
        print(
            f"pool x{pf}: {npool / t_pool:,.1f} pages/s (all cores), "
            f"{len(pooled) / npool:.0f} vectors kept per page"
        )
        pconfigs[f"pooled x{pf}, exact fp16 MaxSim on pooled"] = (
            lambda q, v=pooled, o=poff: colweave.maxsim_topk(q, v, o, K, threads=th)[0],
            pooled.nbytes / npool,
        )
        pb = colweave.BinaryCopy(colweave.binarize(pooled.astype(np.float32)), poff, gen.dim)
        for nc in args.candidates:

            def two_phase(
                q: npt.NDArray[np.float32], nc: int = nc, c: colweave.BinaryCopy = pb
            ) -> npt.NDArray[np.int64]:
                cand, _ = c.topk(q, nc, threads=th)
                return colweave.maxsim_topk(q, sub, sub_off, K, candidates=cand, threads=th)[0]

            pconfigs[f"binary(pooled x{pf}) -> {nc} -> exact rescore"] = (two_phase, pb.nbytes / npool)
    measure(pconfigs, queries, raw)
    if not args.keep:
        del rows, sub
        path.unlink(missing_ok=True)


Search = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.int64]]


def measure(
    configs: dict[str, tuple[Search, float]], queries: list[npt.NDArray[np.float32]], raw: int
) -> None:
    """Runs every configuration once per query, in turn (after one warm-up each); the first is the truth."""
    for fn, _ in configs.values():
        fn(queries[0])
    secs: dict[str, list[float]] = {k: [] for k in configs}
    found: dict[str, list[npt.NDArray[np.int64]]] = {k: [] for k in configs}
    for q in queries:
        for name, (fn, _) in configs.items():
            time.sleep(0.02)
            t = time.perf_counter()
            idx = fn(q)
            secs[name].append(time.perf_counter() - t)
            found[name].append(idx)
    truth_name = next(iter(configs))
    exact_s = statistics.median(secs[truth_name])
    for name, (_, per_page) in configs.items():
        recs = [recall(g, w) for g, w in zip(found[name], found[truth_name], strict=True)]
        line(name, secs[name], recs, per_page, exact_s, raw)


def chunks(
    rows: npt.NDArray[np.float16], gen: Synthetic, n_pages: int, chunk: int = 256
) -> Iterator[tuple[int, npt.NDArray[np.float32]]]:
    """float32 copies of consecutive chunks of whole pages of the fp16 rows."""
    for a in range(0, n_pages, chunk):
        b = min(n_pages, a + chunk)
        yield a, np.asarray(rows[a * gen.tokens : b * gen.tokens], np.float32)


if __name__ == "__main__":
    main()

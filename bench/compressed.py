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
    print(
        f"{name:44s} recall@10 {np.mean(recalls):.3f}  p50 {ms:8.1f} ms  ({exact_s * 1e3 / ms:5.1f}x exact)  "
        f"in memory {per_page:9,.0f} B/page ({raw / per_page:5.1f}x smaller than fp16)"
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

    # -- exact -----------------------------------------------------------------------------------------
    colweave.maxsim_topk(queries[0], rows, offsets, K, threads=th)  # warm the page cache
    ex_s, truth = [], []
    for q in queries:
        s, (idx, _) = timed(lambda q=q: colweave.maxsim_topk(q, rows, offsets, K, threads=th))
        ex_s.append(s)
        truth.append(idx)
    exact_s = statistics.median(ex_s)
    line("exact fp16 MaxSim", ex_s, [1.0], raw, exact_s, raw)

    # -- compact copies of the originals -----------------------------------------------------------------
    t = time.perf_counter()
    bcodes = np.concatenate([colweave.binarize(r) for _, r in chunks(rows, gen, n)])
    t_bin = time.perf_counter() - t
    t = time.perf_counter()
    parts = [colweave.quantize_int8(r) for _, r in chunks(rows, gen, n)]
    t_int8 = time.perf_counter() - t
    icodes, iscales = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    del parts
    binary = colweave.BinaryCopy(bcodes, offsets, gen.dim)
    int8 = colweave.Int8Copy(icodes, iscales, offsets)
    print(
        f"encode: binary {n / t_bin:,.0f} pages/s, int8 {n / t_int8:,.0f} pages/s (from fp16 rows, one core)"
    )
    for name, copy in (("binary", binary), ("int8", int8)):
        per_page = copy.nbytes / n
        # The first phase alone (its own recall) and with exact rescoring of its candidates.
        secs, recs = [], []
        for q, want in zip(queries, truth, strict=True):
            s, (idx, _) = timed(lambda q=q, c=copy: c.topk(q, K, threads=th))
            secs.append(s)
            recs.append(recall(idx, want))
        line(f"{name} MaxSim alone (no rescoring)", secs, recs, per_page, exact_s, raw)
        for nc in args.candidates:
            secs, recs = [], []
            for q, want in zip(queries, truth, strict=True):
                s, (idx, _) = timed(
                    lambda q=q, c=copy, nc=nc: colweave.rescored_topk(
                        c, q, rows, K, n_candidates=nc, threads=th
                    )
                )
                secs.append(s)
                recs.append(recall(idx, want))
            line(f"{name} -> {nc} candidates -> exact fp16 rescore", secs, recs, per_page, exact_s, raw)
    del binary, int8, bcodes, icodes, iscales

    # -- pooling -----------------------------------------------------------------------------------------
    npool = min(n, args.pool_pages or n)
    sub_off = offsets[: npool + 1]
    sub = rows[: npool * gen.tokens]
    truth_p = truth
    if npool < n:
        truth_p = [colweave.maxsim_topk(q, sub, sub_off, K, threads=th)[0] for q in queries]
        print(f"pooling over the first {npool:,} pages (truth: exact fp16 MaxSim over those pages)")
    for pf in (2, 3):
        t = time.perf_counter()
        pooled_parts, pooled_off = [], [np.zeros(1, np.int64)]
        base = 0
        for _, r in chunks(sub, gen, npool):
            po = gen.offsets(len(r) // gen.tokens)
            v, o, _ = colweave.pool_tokens_batch(r, po, pf, threads=th)
            pooled_parts.append(v.astype(np.float16))
            pooled_off.append(o[1:] + base)
            base += int(o[-1])
        t_pool = time.perf_counter() - t
        pooled = np.concatenate(pooled_parts)
        poff = np.concatenate(pooled_off)
        del pooled_parts
        kept = len(pooled) / npool
        print(f"pool x{pf}: {npool / t_pool:,.1f} pages/s (all cores), {kept:.0f} vectors kept per page")
        secs, recs = [], []
        for q, want in zip(queries, truth_p, strict=True):
            s, (idx, _) = timed(lambda q=q, v=pooled, o=poff: colweave.maxsim_topk(q, v, o, K, threads=th))
            secs.append(s)
            recs.append(recall(idx, want))
        line(f"pooled x{pf}, exact fp16 MaxSim on pooled", secs, recs, pooled.nbytes / npool, exact_s, raw)
        pb = colweave.BinaryCopy(colweave.binarize(pooled.astype(np.float32)), poff, gen.dim)
        for nc in args.candidates:
            secs, recs = [], []
            for q, want in zip(queries, truth_p, strict=True):

                def two_phase(q=q, nc=nc, c=pb) -> npt.NDArray[np.int64]:
                    cand, _ = c.topk(q, nc, threads=th)
                    return colweave.maxsim_topk(q, sub, sub_off, K, candidates=cand, threads=th)[0]

                s, idx = timed(two_phase)
                secs.append(s)
                recs.append(recall(idx, want))
            line(
                f"binary(pooled x{pf}) -> {nc} -> exact rescore", secs, recs, pb.nbytes / npool, exact_s, raw
            )
    if not args.keep:
        del rows
        path.unlink(missing_ok=True)


def chunks(
    rows: npt.NDArray[np.float16], gen: Synthetic, n_pages: int, chunk: int = 256
) -> Iterator[tuple[int, npt.NDArray[np.float32]]]:
    """float32 copies of consecutive chunks of whole pages of the fp16 rows."""
    for a in range(0, n_pages, chunk):
        b = min(n_pages, a + chunk)
        yield a, np.asarray(rows[a * gen.tokens : b * gen.tokens], np.float32)


if __name__ == "__main__":
    main()

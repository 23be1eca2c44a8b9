"""The embedded store's multi-vector configurations side by side, on one generated dataset, against exact
fp16 MaxSim over the same stored pages as the truth.

    python bench/store_configs.py --pages 20000                 # every configuration
    python bench/store_configs.py --pages 100000 --pool-pages 5000 --only exact muvera bq muvera+bq

Pages come from ``bench/synthetic.py`` (885 x 128 tokens mixing 8 of 4,096 topics; queries of 22 tokens
from one page's main topics). The pages are imported once into one collection with MUVERA on (Weaviate's
defaults), and each configuration is then set on it with a class update, as a user would, and measured
in a fresh process (so resident memory is its own):

* ``exact``: no quantizer, MUVERA bypassed (``ef`` >= pages): exact fp16 MaxSim over every page;
* ``muvera``: MUVERA candidates (the float32 encodings, ``ef`` -1: 500), exact rescoring;
* ``bq`` / ``sq`` / ``rq1`` / ``rq8`` / ``pq``: the compact copy over every page (``ef`` >= pages), the best
  ``--rescore`` rescored exactly (pq's rescore count is fixed: 20);
* ``muvera+bq`` / ``muvera+sq``: MUVERA candidates (500) from the int8 encodings the compact copy holds,
  then the compact copy, then exact rescoring;
* a suffix ``@N`` sets the rescoreLimit, ``/efN`` the MUVERA pool (``ef``), e.g. ``muvera+bq@256/ef1000``;
* ``pool2`` / ``pool3`` (+ ``+bq`` / ``+muvera+bq``): token pooling at import (x2, x3) on the first
  ``--pool-pages`` pages, its own collections; the truth is exact MaxSim on the unpooled pages.

For each: recall@10, p50/p99 latency with 1 and 4 concurrent queries, resident memory after warm-up (RSS;
anonymous and file-backed; per page over the process before the store was opened), the time to open
(build the compact copy from the segment, or load the cache a clean close saved), bytes on disk per page,
and the import rate. The load average is printed: the cores are shared, timings are indicative.

``--cold-cache`` evicts the fp16 originals (the segment's ``.vec`` file, not the MUVERA encodings) from
the page cache before every timed query (``posix_fadvise(DONTNEED)``), as when they exceed the memory,
and measures each configuration twice: with the rescored pages' reads issued together (the store's
way) and read one page fault at a time (``--no-prefetch``, the earlier way), with the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from colweave import _native
from colweave.store import CollectionConfig, DataObject, Property, Store
from colweave.store.schema import VectorConfig
from synthetic import Synthetic

K = 10
NAME = "Bench"


def status() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, val = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = int(val.split()[0]) * 1024
    return out


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def quantizer(name: str, rescore: int) -> dict[str, Any]:
    return {
        "bq": {"bq": {"enabled": True, "rescoreLimit": rescore}},
        "sq": {"sq": {"enabled": True, "rescoreLimit": rescore}},
        "rq1": {"rq": {"enabled": True, "bits": 1, "rescoreLimit": rescore}},
        "rq8": {"rq": {"enabled": True, "bits": 8, "rescoreLimit": rescore}},
        "pq": {"pq": {"enabled": True}},
        "none": {},
    }[name]


def parse(config: str) -> tuple[bool, str]:
    """``muvera+bq`` -> (MUVERA used, quantizer); the suffixes ``@N`` (rescoreLimit) and ``/efN`` (the
    MUVERA pool, ``ef``) are read by set_config."""
    parts = config.split("/")[0].split("@")[0].split("+")
    muvera = "muvera" in parts
    q = [p for p in parts if p not in ("muvera", "exact") and not p.startswith("pool")]
    return muvera, q[0] if q else "none"


def collection_config(name: str, pool: int) -> CollectionConfig:
    vz: dict[str, Any] = {"none": {"colweavePooling": {"poolFactor": pool}} if pool > 1 else {}}
    vc = VectorConfig.from_weaviate(
        "v",
        {
            "vectorizer": vz,
            "vectorIndexConfig": {"multivector": {"enabled": True, "muvera": {"enabled": True}}},
        },
    )
    return CollectionConfig(name, properties=[Property.create("n", "int")], vectors={"v": vc})


def set_config(data: Path, name: str, config: str, rescore: int, n_pages: int) -> None:
    """Sets ``config`` on the collection with a class update (ef and the quantizer)."""
    muvera, q = parse(config)
    config, _, ef = config.partition("/ef")
    if "@" in config:
        rescore = int(config.split("@")[1])
    with Store(data) as s:
        c = s.get_collection(name)
        for step in ("off", "on"):  # one quantizer at a time; rq bits only change while rq is off
            body = c.config.to_weaviate()
            idx = body["vectorConfig"]["v"]["vectorIndexConfig"]
            for part in ("pq", "bq", "sq", "rq"):
                idx[part]["enabled"] = False
            if step == "on":
                for key, val in quantizer(q, rescore).items():
                    idx[key].update(val)
            idx["ef"] = (int(ef) if ef else -1) if muvera else max(n_pages, 1)
            c.update_config(c.config.updated(body))


def import_pages(
    data: Path, name: str, gen: Synthetic, n_pages: int, pool: int, batch: int = 32
) -> dict[str, float]:
    with Store(data) as s:
        s.delete_collection(name)
        c = s.create_collection(collection_config(name, pool))
        t = time.perf_counter()
        for a in range(0, n_pages, batch):
            b = min(n_pages, a + batch)
            objs = [DataObject({"n": i}, vectors={"v": gen.page(i)}) for i in range(a, b)]
            res = c.insert_many(objs)
            assert not res.errors, res.errors[:1]
            if (a // batch) % 200 == 0:
                print(
                    f"  import {name}: {b:,}/{n_pages:,} pages ({time.perf_counter() - t:.0f} s, {load()})",
                    flush=True,
                )
        secs = time.perf_counter() - t
        disk = c.disk_bytes()
    return {"import_pages_per_s": n_pages / secs, "import_s": secs, "disk_per_page": disk / n_pages}


def truth(
    data: Path, name: str, queries: list[np.ndarray], n_pages: int, chunk: int = 512
) -> list[list[int]]:
    """Exact top-10 (slots) of every query over the stored fp16 rows of the first ``n_pages`` slots, in one
    pass over the segment (every query per chunk of pages)."""
    with Store(data) as s:
        c = s.get_collection(name)
        snap = c._segments["v"].snapshot()
        best: list[list[tuple[float, int]]] = [[] for _ in queries]
        for a in range(0, n_pages, chunk):
            b = min(n_pages, a + chunk)
            lo, hi = int(snap.offsets[a]), int(snap.offsets[b])
            rows = np.asarray(snap.rows[lo:hi])
            offs = np.ascontiguousarray(snap.offsets[a : b + 1] - lo)
            for j, q in enumerate(queries):
                sc = _native.maxsim(q, rows, offs)
                top = np.argsort(-sc, kind="stable")[:K]
                best[j] = sorted(best[j] + [(-float(sc[t]), a + int(t)) for t in top])[:K]
            if snap.mm is not None:  # keep the page cache from counting against this process
                import mmap

                row = rows.shape[1] * rows.dtype.itemsize
                start = lo * row // mmap.PAGESIZE * mmap.PAGESIZE
                snap.mm.madvise(mmap.MADV_DONTNEED, start, min(hi * row - start, len(snap.mm) - start))
        return [[slot for _, slot in b] for b in best]


# -- one configuration, in its own process ------------------------------------------------------------------


def measure(args: argparse.Namespace) -> None:
    base = status()
    queries = np.load(args.queries_file)
    want = json.loads(Path(args.truth_file).read_text())
    t = time.perf_counter()
    s = Store(args.data)
    c = s.get_collection(args.name)
    open_s = time.perf_counter() - t
    copy = c._copies.get("v")
    copy_bytes = copy.nbytes if copy is not None else 0
    n_live = c.count()

    if args.no_prefetch:  # the earlier rescoring: the candidates' pages faulted in one at a time
        from colweave.store import copies

        copies._will_need = lambda *a: None  # type: ignore[assignment]
    vec_files = list(c._segments["v"].dir.glob("v.*.vec"))

    def evict() -> None:
        for p in vec_files:
            fd = os.open(p, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)

    def run(q: np.ndarray) -> tuple[float, list[int]]:
        if args.cold_cache:
            evict()
        t0 = time.perf_counter()
        res = c.near_vector(q, limit=K)
        dt = time.perf_counter() - t0
        return dt, [int(c._slot_of["v"][c._doc_of[r.uuid]]) for r in res]

    n_q = len(queries)
    warm = min(args.warmup, n_q)
    for q in queries[:warm]:
        run(q)
    after_warm = status()
    lat1, recalls = [], []
    for j in range(n_q):
        dt, got = run(queries[j])
        lat1.append(dt)
        recalls.append(len(set(got) & set(want[j])) / K)
    lat4: list[float] = []
    if args.concurrent:
        lock = threading.Lock()
        todo = list(range(n_q))

        def worker() -> None:
            while True:
                with lock:
                    if not todo:
                        return
                    j = todo.pop()
                dt, _ = run(queries[j])
                with lock:
                    lat4.append(dt)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    during: list[float] = []
    imported_during = 0.0
    if args.during_import:
        # Queries while a writer imports more pages into this collection (batches of 8, as a client's
        # batch would send them: MUVERA and compact codes made, segments fsynced, SQLite committed, a view
        # published), one query at a time from this thread; afterwards the added pages are deleted again.
        gen = Synthetic()
        first = n_live  # the generator's next pages: new ones, unlike any stored
        added: list[str] = []
        rate = [0.0]
        done = threading.Event()

        def writer() -> None:
            t_w = time.perf_counter()
            try:
                for a in range(0, args.during_import, 8):
                    b = min(args.during_import, a + 8)
                    objs = [
                        DataObject({"n": -1 - i}, vectors={"v": gen.page(first + i)}) for i in range(a, b)
                    ]
                    res = c.insert_many(objs)
                    assert not res.errors, res.errors[:1]
                    added.extend(u for u in res.uuids if u is not None)
            finally:
                rate[0] = args.during_import / (time.perf_counter() - t_w)
                done.set()

        th = threading.Thread(target=writer)
        th.start()
        j = 0
        while not done.is_set():
            dt, _ = run(queries[j % n_q])
            if not done.is_set():  # only queries that ran entirely during the import
                during.append(dt)
            j += 1
        th.join()
        imported_during = rate[0]
        for u in added:
            c.delete(u)
    end = status()
    t = time.perf_counter()
    s.close()  # saves the compact copy's cache
    close_s = time.perf_counter() - t
    reopen_s = cold_s = None
    if copy is not None and args.cold:
        t = time.perf_counter()
        s = Store(args.data)
        c = s.get_collection(args.name)
        reopen_s = time.perf_counter() - t
        caches = list(c._segments["v"].dir.glob("*.copy"))
        s.close()
        for p in caches:  # without the cache: the copy is encoded from every fp16 row
            p.unlink()
        t = time.perf_counter()
        s = Store(args.data)
        s.get_collection(args.name)
        cold_s = time.perf_counter() - t
        s.close()
    out = {
        "recall": float(np.mean(recalls)),
        "p50_1": statistics.median(lat1) * 1e3,
        "p99_1": float(np.percentile(lat1, 99)) * 1e3,
        "p50_4": statistics.median(lat4) * 1e3 if lat4 else None,
        "p99_4": float(np.percentile(lat4, 99)) * 1e3 if lat4 else None,
        "rss": after_warm["VmRSS"],
        "rss_end": end["VmRSS"],
        "anon": after_warm["RssAnon"],
        "file": after_warm["RssFile"],
        "rss_per_page": (after_warm["VmRSS"] - base["VmRSS"]) / n_live,
        "copy_per_page": copy_bytes / n_live,
        "open_s": open_s,
        "close_s": close_s,
        "reopen_s": reopen_s,
        "cold_open_s": cold_s,
        "queries": n_q,
        "p50_during": statistics.median(during) * 1e3 if during else None,
        "queries_during": len(during),
        "import_rate_during": imported_during,
    }
    print("RESULT " + json.dumps(out), flush=True)


def run_config(
    args: argparse.Namespace,
    name: str,
    config: str,
    n_pages: int,
    qfile: Path,
    tfile: Path,
    queries: int,
    no_prefetch: bool = False,
) -> dict[str, Any]:
    set_config(args.data, name, config, args.rescore, n_pages)
    if config == "exact" and args.exact_queries and args.exact_queries < queries:
        # exact search reads every page per query: fewer queries (the first ones) where that is slow
        few = qfile.with_name(f"exact.{qfile.name}")
        np.save(few, np.load(qfile)[: args.exact_queries])
        tfew = tfile.with_name(f"exact.{tfile.name}")
        tfew.write_text(json.dumps(json.loads(tfile.read_text())[: args.exact_queries]))
        qfile, tfile = few, tfew
    cmd = [
        sys.executable,
        __file__,
        "--measure",
        "--data",
        str(args.data),
        "--name",
        name,
        "--queries-file",
        str(qfile),
        "--truth-file",
        str(tfile),
        "--warmup",
        str(args.warmup),
    ]
    if args.cold_cache:
        cmd.append("--cold-cache")
    if args.during_import:
        cmd += ["--during-import", str(args.during_import)]
    if no_prefetch:
        cmd.append("--no-prefetch")
    if parse(config)[1] != "none" and not getattr(args, "cold_done", False):
        cmd.append("--cold")  # once per run: the open without the cache (encoding every row)
        args.cold_done = True
    if not args.no_concurrent and not (config == "exact" and n_pages > 20000):
        cmd.append("--concurrent")
    env = dict(os.environ)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600, check=False)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        raise RuntimeError(f"{config}: measuring failed:\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
    return dict(json.loads(lines[-1][7:]))


def report(label: str, r: dict[str, Any], extra: dict[str, float]) -> None:
    p4 = f"{r['p50_4']:7.1f}/{r['p99_4']:7.1f}" if r["p50_4"] is not None else "      -/      -"
    reopen = " (cache)" if r["reopen_s"] is not None else ""
    if r.get("cold_open_s") is not None:
        reopen += f", {r['cold_open_s']:.1f} s (from the rows)"
    print(
        f"{label:22s} recall@10 {r['recall']:.3f} | p50/p99 ms 1q {r['p50_1']:7.1f}/{r['p99_1']:7.1f} "
        f"4q {p4} | RSS {r['rss'] / 2**20:7.0f} MiB (anon {r['anon'] / 2**20:.0f}, file "
        f"{r['file'] / 2**20:.0f}) {r['rss_per_page'] / 1e3:6.1f} KB/page, "
        f"copy {r['copy_per_page'] / 1e3:5.1f} KB/page | disk {extra['disk_per_page'] / 1e3:6.1f} KB/page | "
        f"import {extra['import_pages_per_s']:6.1f} pages/s | open {r['open_s']:.1f} s{reopen} | {load()}",
        flush=True,
    )
    if r.get("p50_during") is not None:
        print(
            f"{'':22s} during an import ({r['import_rate_during']:.1f} pages/s into this collection): "
            f"p50 {r['p50_during']:.1f} ms over {r['queries_during']} queries = "
            f"{r['p50_during'] / r['p50_1']:.2f}x idle (target <= 2x)",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=20000)
    ap.add_argument("--pool-pages", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--rescore", type=int, default=64, help="rescoreLimit of the quantizers")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--exact-queries", type=int, default=None, help="queries for the exact configuration")
    ap.add_argument("--only", nargs="*", default=None, help="configurations to run (default: all)")
    ap.add_argument("--pool-only", nargs="*", default=None, help="pooled configurations (default: all)")
    ap.add_argument("--no-concurrent", action="store_true")
    ap.add_argument("--data", type=Path, default=Path(__file__).parent / ".cache" / "store_configs")
    ap.add_argument("--keep", action="store_true", help="keep the store (re-used by the next run)")
    ap.add_argument("--cold-cache", action="store_true", help="originals evicted before every query")
    ap.add_argument("--no-prefetch", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--during-import",
        type=int,
        default=0,
        metavar="N",
        help="also time queries while N more pages are imported into the collection (then deleted)",
    )
    # internal: measuring one configuration in a fresh process
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--name", default=NAME, help=argparse.SUPPRESS)
    ap.add_argument("--queries-file", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--truth-file", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--concurrent", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--cold", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        measure(args)
        return

    n, m = args.pages, min(args.pool_pages, args.pages)
    gen = Synthetic()
    args.data.mkdir(parents=True, exist_ok=True)
    mem = int(
        next(
            ln.split()[1]
            for ln in Path("/proc/meminfo").read_text().splitlines()
            if ln.startswith("MemAvailable")
        )
    )
    print(
        f"{n:,} pages x {gen.tokens} x {gen.dim} fp16 ({n * gen.tokens * gen.dim * 2 / 1e9:.1f} GB), "
        f"{args.queries} queries, rescoreLimit {args.rescore}; {os.cpu_count()} cores, {load()}, "
        f"MemAvailable {mem / 2**20:.1f} GiB; maxsim {_native.default_isa()}, "
        f"binary {_native.binary_isas()[-1]}, int8 {_native.int8_isas()[-1]}",
        flush=True,
    )
    marker = args.data / f"{NAME}.{n}.imported.json"
    if marker.exists():
        imported = json.loads(marker.read_text())
        print(f"re-using the imported {n:,} pages ({imported})")
    else:
        imported = import_pages(args.data, NAME, gen, n, 1)
        marker.write_text(json.dumps(imported))
        print(
            f"imported {n:,} pages: {imported['import_pages_per_s']:.1f} pages/s, "
            f"{imported['disk_per_page']:,.0f} B/page on disk",
            flush=True,
        )
    queries = np.stack([gen.query(j, n) for j in range(args.queries)])
    qfile = args.data / "queries.npy"
    np.save(qfile, queries)
    t = time.perf_counter()
    tfile = args.data / f"truth.{n}.json"
    if not tfile.exists():
        tfile.write_text(json.dumps(truth(args.data, NAME, list(queries), n)))
    print(
        f"truth: exact fp16 MaxSim over the stored pages in {time.perf_counter() - t:.0f} s ({load()})",
        flush=True,
    )

    configs = (
        args.only
        if args.only is not None
        else ["exact", "muvera", "bq", "sq", "rq1", "rq8", "pq", "muvera+bq", "muvera+sq"]
    )
    for config in configs:
        r = run_config(args, NAME, config, n, qfile, tfile, args.queries)
        report(f"{config} ({n // 1000}k)", r, imported)
        if args.cold_cache:
            before = run_config(args, NAME, config, n, qfile, tfile, args.queries, no_prefetch=True)
            report(f"{config} ({n // 1000}k) one fault at a time", before, imported)
            print(
                f"  cold page cache, {config}: p50 {before['p50_1']:.1f} ms -> {r['p50_1']:.1f} ms "
                f"({before['p50_1'] / r['p50_1']:.2f}x faster with the reads issued together; {load()})",
                flush=True,
            )

    pooled = (
        args.pool_only
        if args.pool_only is not None
        else ["pool2", "pool2+bq", "pool2+muvera+bq", "pool3", "pool3+bq", "pool3+muvera+bq"]
    )
    if pooled and m:
        pq_ = np.stack([gen.query(j, m) for j in range(args.queries)])
        pqfile = args.data / "pool_queries.npy"
        np.save(pqfile, pq_)
        ptfile = args.data / f"pool_truth.{m}.json"
        ptfile.write_text(json.dumps(truth(args.data, NAME, list(pq_), m)))
        print(
            f"pooling: the first {m:,} pages; truth: exact fp16 MaxSim over those pages, unpooled", flush=True
        )
        for factor in sorted({int(p.split("+")[0][4:]) for p in pooled}):
            pname = f"{NAME}Pool{factor}"
            pimported = import_pages(args.data, pname, gen, m, factor)
            print(
                f"imported {m:,} pages pooled x{factor}: {pimported['import_pages_per_s']:.1f} pages/s",
                flush=True,
            )
            for config in [p for p in pooled if p.startswith(f"pool{factor}")]:
                r = run_config(
                    args,
                    pname,
                    config.replace(f"pool{factor}", "exact") if "+" not in config else config,
                    m,
                    pqfile,
                    ptfile,
                    args.queries,
                )
                report(f"{config} ({m // 1000}k)", r, pimported)
            with Store(args.data) as s:
                s.delete_collection(pname)
    if not args.keep:
        shutil.rmtree(args.data, ignore_errors=True)


if __name__ == "__main__":
    main()

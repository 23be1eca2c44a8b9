"""Filtered reads at 100,000 objects: the filter columns against the reference scan, in one run.

A collection of ``--objects`` objects (small multi-vectors: the filter is what is measured) with a few
properties of every kind; ``category`` (int, 0..99) makes a 1 %-selective filter. For near_vector,
fetch_objects and count with that filter (and with a 1 % filter of two conditions over text and a range),
the median latency of ``--rounds`` runs through the columns (after) and through the Python predicate over
every object (before: ``_scan_filters``, the code path of earlier versions). Both must return the same
objects. Then the resident memory per object: a fresh process opens the store and reports
``(RSS after open - RSS before) / objects``; ``--open-only`` is that subprocess.

    PYTHONPATH=python python bench/filters.py --objects 100000
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from colweave.store import DataObject, Filter, Store

TOKENS = 4
DIM = 16
WORDS = [f"w{i}" for i in range(500)]


def schema() -> dict[str, Any]:
    return {
        "class": "Bench",
        "properties": [
            {"name": "category", "dataType": ["int"]},
            {"name": "title", "dataType": ["text"]},
            {"name": "tags", "dataType": ["text[]"]},
            {"name": "year", "dataType": ["int"]},
            {"name": "score", "dataType": ["number"]},
            {"name": "published", "dataType": ["date"]},
        ],
        "vectorConfig": {
            "doc": {
                "vectorizer": {"none": {}},
                "vectorIndexType": "hnsw",
                "vectorIndexConfig": {"multivector": {"enabled": True}},
            }
        },
    }


def objects(start: int, n: int, rng: np.random.Generator) -> list[DataObject]:
    out = []
    for i in range(start, start + n):
        words = rng.choice(len(WORDS), 6, replace=False)
        out.append(
            DataObject(
                {
                    "category": i % 100,
                    "title": " ".join(WORDS[w] for w in words),
                    "tags": [f"tag{i % 37}", f"group{i % 11}"],
                    "year": 1950 + i % 75,
                    "score": float(rng.random()),
                    "published": f"20{i % 25:02d}-0{1 + i % 9}-1{i % 10}T00:00:00Z",
                },
                uuid=str(uuidlib.UUID(int=(i * 2654435761) % (1 << 64) + 1)),
                vectors={"doc": rng.standard_normal((TOKENS, DIM)).astype(np.float32)},
            )
        )
    return out


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def open_only(path: Path) -> None:
    before = rss_kib()
    store = Store(path)
    c = store.get_collection("Bench")
    n = len(c)
    c.count(Filter.by_property("category").equal(7))  # a first filtered read
    after = rss_kib()
    print(f"{n} {(after - before) * 1024}")
    store.close()


def median_ms(fn: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    fn()  # warm-up
    times, out = [], None
    for _ in range(rounds):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--data", type=Path, default=None, help="reuse (or create) the store here")
    ap.add_argument("--open-only", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.open_only is not None:
        open_only(args.open_only)
        return
    print(f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)")
    tmp = None
    if args.data is None:
        tmp = tempfile.TemporaryDirectory()
        args.data = Path(tmp.name)
    store = Store(args.data)
    try:
        c = store.get_collection("Bench") if "Bench" in store.list_collections() else None
        if c is None or len(c) != args.objects:
            if c is not None:
                store.delete_collection("Bench")
            c = store.create_collection(schema())
            rng = np.random.default_rng(0)
            t = time.perf_counter()
            for start in range(0, args.objects, 2000):
                c.insert_many(objects(start, min(2000, args.objects - start), rng))
            dt = time.perf_counter() - t
            print(f"imported {args.objects} objects in {dt:.1f} s ({args.objects / dt:.0f}/s)")
        q = np.random.default_rng(1).standard_normal((8, DIM)).astype(np.float32)
        one = Filter.by_property("category").equal(7)
        two = Filter.by_property("tags").contains_any(["tag5"]) & Filter.by_property("year").less_than(1952)
        cases: list[tuple[str, Callable[[], Any]]] = [
            (
                "near_vector, category = 7 (1 %)",
                lambda: [r.uuid for r in c.near_vector(q, limit=10, filters=one)],
            ),
            (
                "fetch_objects, category = 7 (1 %)",
                lambda: [r.uuid for r in c.fetch_objects(filters=one, limit=100)],
            ),
            ("count, category = 7 (1 %)", lambda: c.count(one)),
            ("count, tags ∋ tag5 ∧ year < 1952 (0.1 %)", lambda: c.count(two)),
            (
                "near_vector, tags ∋ tag5 ∧ year < 1952",
                lambda: [r.uuid for r in c.near_vector(q, limit=10, filters=two)],
            ),
        ]
        print(f"objects={len(c)} tokens/object={TOKENS} dim={DIM} rounds={args.rounds} (medians)")
        for name, fn in cases:
            c._scan_filters = True
            before, want = median_ms(fn, args.rounds)
            c._scan_filters = False
            after, got = median_ms(fn, args.rounds)
            same = "same results" if got == want else "DIFFERENT RESULTS"
            print(
                f"{name:45s} before (scan) {before:8.2f} ms | after (columns) {after:7.2f} ms "
                f"({before / after:6.1f}x) {same}"
            )
        # The worst case of the columns: as many objects changed since the last merge as a merge
        # allows, each checked by the predicate (objects replaced by one batch).
        from colweave.store.filter_index import MAX_DELTA  # here: --open-only also runs on older versions

        changed = objects(0, MAX_DELTA, np.random.default_rng(2))
        c.insert_many(changed)
        print(
            f"after replacing {len(changed)} objects "
            f"({len(c._findex.delta)} checked one by one until the next merge):"
        )
        for name, fn in cases:
            c._scan_filters = True
            _, want = median_ms(fn, 1)
            c._scan_filters = False
            after, got = median_ms(fn, args.rounds)
            same = "same results" if got == want else "DIFFERENT RESULTS"
            print(f"{name:45s} after (columns + delta) {after:7.2f} ms {same}")
        # What a write pays to publish a new view at this size (copies of the maps it changes).
        rng = np.random.default_rng(3)
        times = []
        for i in range(args.rounds):
            obj = objects(args.objects + 10 + i, 1, rng)[0]
            t = time.perf_counter()
            c.insert(obj.properties, uuid=obj.uuid, vectors=obj.vectors)
            times.append((time.perf_counter() - t) * 1000)
        print(
            f"insert of one object at {len(c)} objects (fsync'ed commit + publish): "
            f"p50 {statistics.median(times):.1f} ms"
        )
    finally:
        store.close()
    out = subprocess.run(
        [sys.executable, __file__, "--open-only", str(args.data)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ},
    ).stdout.split()
    n, grew = int(out[0]), int(out[1])
    print(
        f"resident memory after opening {n} objects: {grew / 2**20:.1f} MiB, {grew / max(n, 1):.0f} B/object"
    )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()

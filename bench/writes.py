"""Write speed of the store: a batch import of small metadata-only objects, then single inserts (and small
batches) into the full collection — this checkout against another version of colweave in the same run.

Each version runs in its own process (``--worker``), one after another, ``--repeats`` times interleaved
(A B A B ...), each time in a fresh store; the figures are medians over the repeats. For each: the batch
import rate (objects/s, wall clock and CPU time of the process), the median wall and CPU milliseconds of
one ``insert`` at ``--objects`` objects (the wall time includes the commit's fsync, which the CPU time
does not), and of one ``insert_many`` of 10 objects.

    PYTHONPATH=python python bench/writes.py --objects 100000 --against /path/to/old/checkout/python

``--against`` is the ``python/`` directory of another checkout (e.g. a ``git worktree`` of an older
commit, with its own ``_native`` extension in place); without it only this checkout runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib
from pathlib import Path
from typing import Any

WORDS = [f"w{i}" for i in range(500)]


def schema(vectors: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "class": "Writes",
        "properties": [
            {"name": "category", "dataType": ["int"]},
            {"name": "title", "dataType": ["text"]},
            {"name": "tags", "dataType": ["text[]"]},
            {"name": "year", "dataType": ["int"]},
            {"name": "score", "dataType": ["number"]},
            {"name": "published", "dataType": ["date"]},
        ],
    }
    if vectors:  # a small self-provided multi-vector per object
        out["vectorConfig"] = {
            "doc": {
                "vectorizer": {"none": {}},
                "vectorIndexType": "hnsw",
                "vectorIndexConfig": {"multivector": {"enabled": True}},
            }
        }
    return out


def vecs(i: int, vectors: bool) -> dict[str, Any] | None:
    if not vectors:
        return None
    import numpy as np

    return {"doc": np.random.default_rng(i).standard_normal((4, 16)).astype(np.float32)}


def props(i: int) -> dict[str, Any]:
    h = (i * 2654435761) & 0xFFFFFFFF
    return {
        "category": i % 100,
        "title": " ".join(WORDS[(h >> s) % len(WORDS)] for s in (0, 5, 10, 15, 20, 25)),
        "tags": [f"tag{i % 37}", f"group{i % 11}"],
        "year": 1950 + i % 75,
        "score": (h % 10_000) / 10_000,
        "published": f"20{i % 25:02d}-0{1 + i % 9}-1{i % 10}T00:00:00Z",
    }


def uid(i: int) -> str:
    return str(uuidlib.UUID(int=(i * 2654435761) % (1 << 64) + 1))


def worker(n: int, batch: int, singles: int, vectors: bool) -> dict[str, float]:
    from colweave.store import DataObject, Store

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp))
        try:
            c = store.create_collection(schema(vectors))
            wall, cpu = time.perf_counter(), time.process_time()
            for start in range(0, n, batch):
                objs = [
                    DataObject(props(i), uuid=uid(i), vectors=vecs(i, vectors))
                    for i in range(start, min(start + batch, n))
                ]
                res = c.insert_many(objs)
                assert not res.errors, res.errors[:1]
            out["import_per_s"] = n / (time.perf_counter() - wall)
            out["import_cpu_per_s"] = n / (time.process_time() - cpu)
            assert len(c) == n
            walls, cpus = [], []
            for i in range(n, n + singles):
                w, t = time.perf_counter(), time.process_time()
                c.insert(props(i), uuid=uid(i), vectors=vecs(i, vectors))
                cpus.append((time.process_time() - t) * 1000)
                walls.append((time.perf_counter() - w) * 1000)
            out["single_ms"] = statistics.median(walls)
            out["single_cpu_ms"] = statistics.median(cpus)
            walls, cpus = [], []
            base = n + singles
            for j in range(singles):
                objs = [
                    DataObject(props(i), uuid=uid(i), vectors=vecs(i, vectors))
                    for i in range(base + 10 * j, base + 10 * j + 10)
                ]
                w, t = time.perf_counter(), time.process_time()
                c.insert_many(objs)
                cpus.append((time.process_time() - t) * 1000)
                walls.append((time.perf_counter() - w) * 1000)
            out["batch10_ms"] = statistics.median(walls)
            out["batch10_cpu_ms"] = statistics.median(cpus)
        finally:
            store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000, help="objects per insert_many of the import")
    ap.add_argument("--singles", type=int, default=30, help="single inserts (and 10-object batches) timed")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--against", type=Path, default=None, help="another checkout's python/ directory")
    ap.add_argument("--vectors", action="store_true", help="each object with a 4 x 16 multi-vector")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.objects, args.batch, args.singles, args.vectors)))
        return
    here = Path(__file__).resolve().parent.parent / "python"
    versions = {"this": here}
    if args.against is not None:
        versions = {"other": args.against.resolve(), **versions}
    print(f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in versions}
    for _ in range(args.repeats):
        for name, path in versions.items():
            env = {**os.environ, "PYTHONPATH": str(path)}
            cmd = [sys.executable, __file__, "--worker", "--objects", str(args.objects)]
            cmd += ["--batch", str(args.batch), "--singles", str(args.singles)]
            cmd += ["--vectors"] if args.vectors else []
            res = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            runs[name].append(json.loads(res.stdout.strip().splitlines()[-1]))
    med = {k: {m: statistics.median(r[m] for r in rs) for m in rs[0]} for k, rs in runs.items()}
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    kind = "with a 4 x 16 multi-vector" if args.vectors else "metadata-only"
    print(
        f"{args.objects} {kind} objects, batches of {args.batch}, medians of {args.repeats} runs per version"
    )
    for name, path in versions.items():
        m = med[name]
        print(
            f"{name:5s} ({path}): import {m['import_per_s']:7.0f}/s (CPU {m['import_cpu_per_s']:7.0f}/s) | "
            f"insert at {args.objects}: {m['single_ms']:6.2f} ms (CPU {m['single_cpu_ms']:5.2f} ms) | "
            f"insert_many(10): {m['batch10_ms']:6.2f} ms (CPU {m['batch10_cpu_ms']:5.2f} ms)"
        )
    if "other" in med:
        a, b = med["other"], med["this"]

        def ratio(key: str) -> str:
            return f"{b[key] / a[key]:.2f}x"

        print(
            f"this / other: import {ratio('import_per_s')} the rate (CPU {ratio('import_cpu_per_s')}), "
            f"insert {ratio('single_ms')} the time (CPU {ratio('single_cpu_ms')}), "
            f"insert_many(10) {ratio('batch10_ms')} (CPU {ratio('batch10_cpu_ms')})"
        )


if __name__ == "__main__":
    main()

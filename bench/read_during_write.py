"""near_vector latency while a page is being encoded, against the same query on an idle collection.

A collection of synthetic pages (fp16, exact MaxSim) gets one page written at a time through a vectorizer
whose encode takes ``--encode-s`` seconds outside the GIL (as onnxruntime's does: the wait releases it);
once the encode has started, one near_vector is issued and timed. A store whose readers wait for a
writer's encode shows a latency near the encode time; one whose readers read the published state shows
its idle latency. Medians over ``--rounds``; the idle and during-write queries run in the same process.

    PYTHONPATH=python python bench/read_during_write.py --pages 2000 --encode-s 1.0 --rounds 5
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from colweave.store import DataObject, Store

DIM = 128
TOKENS = 64


class SlowVectorizer:
    """Multi-vectors from a seeded generator, after ``encode_s`` of GIL-free waiting per call."""

    def __init__(self, encode_s: float) -> None:
        self.encode_s = encode_s
        self.started = threading.Event()

    def embed_images(self, images: list[bytes]) -> list[np.ndarray]:
        self.started.set()
        time.sleep(self.encode_s)  # the encode itself: native code that releases the GIL
        return [
            np.random.default_rng(abs(hash(b)) % (1 << 32)).standard_normal((TOKENS, DIM)).astype(np.float32)
            for b in images
        ]

    def embed_queries(self, queries: list[str]) -> list[np.ndarray]:
        raise NotImplementedError


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--encode-s", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)")
    rng = np.random.default_rng(0)
    vec = SlowVectorizer(args.encode_s)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp), vectorizer=vec)
        coll = store.create_collection(
            {
                "class": "Bench",
                "properties": [{"name": "page", "dataType": ["blob"]}],
                "vectorConfig": {
                    "doc": {
                        "vectorizer": {"multi2multivec-weaviate": {"imageFields": ["page"]}},
                        "vectorIndexType": "hnsw",
                        "vectorIndexConfig": {"multivector": {"enabled": True}},
                    }
                },
            }
        )
        for start in range(0, args.pages, 500):
            n = min(500, args.pages - start)
            coll.insert_many(
                [
                    DataObject({}, vectors={"doc": rng.standard_normal((TOKENS, DIM)).astype(np.float32)})
                    for _ in range(n)
                ]
            )
        q = rng.standard_normal((16, DIM)).astype(np.float32)
        coll.near_vector(q, limit=10)  # warm-up (page cache, kernels)
        idle, during = [], []
        for r in range(args.rounds):
            t = time.perf_counter()
            coll.near_vector(q, limit=10)
            idle.append(time.perf_counter() - t)
            vec.started.clear()
            img = base64.b64encode(f"page {r}".encode()).decode()
            w = threading.Thread(target=coll.insert_many, args=([DataObject({"page": img})],))
            w.start()
            if not vec.started.wait(30):
                raise RuntimeError("the write never reached the vectorizer")
            t = time.perf_counter()
            coll.near_vector(q, limit=10)
            during.append(time.perf_counter() - t)
            w.join()
        store.close()
    mi, md = statistics.median(idle), statistics.median(during)
    print(
        f"pages={args.pages} tokens/page={TOKENS} dim={DIM} encode={args.encode_s:.2f}s rounds={args.rounds}"
    )
    print(f"near_vector idle:                 p50 {mi * 1000:8.1f} ms")
    print(f"near_vector during a page encode: p50 {md * 1000:8.1f} ms  ({md / mi:.2f}x idle)")


if __name__ == "__main__":
    main()

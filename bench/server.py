"""The server against the Encoder alone, in one run (medians; a real ``colweave serve`` subprocess).

    python bench/server.py [--model DIR] [--pages 16] [--queries 200] [--quick]

1. Import: pages/s through the server (weaviate-client ``insert_many``: the server vectorizes through its
   batcher and stores) against ``Encoder.embed_images`` on the same pages in the server's batch size.
2. ``near_text`` p50 / p99 over a collection of 1,000 pages (885 vectors each, brought by the client so
   that building the collection does not take 1,000 page encodings).
3. Embedding throughput with 4 concurrent clients: HTTP ``/v1/embeddings/embed`` and gRPC
   ``colweave.v1`` against direct ``Encoder`` calls from 4 threads (queries and pages).

The default model is the committed tiny ColModernVBERT (fast, so protocol overhead is exaggerated);
``--model`` takes a full-size model directory (e.g. the one ``bench/encode.py`` exports).
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import httpx
import numpy as np
import weaviate
from PIL import Image
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.data import DataObject

from colweave.model import Encoder
from colweave.v1 import embedding_pb2 as pb
from colweave.v1 import embedding_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "fixtures" / "model" / "tiny-colweave"
BATCH_IMAGES = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def page(i: int, size: tuple[int, int] = (595, 842)) -> bytes:
    """An A4-shaped page image with some structure (PNG)."""
    rng = np.random.default_rng(i)
    a = np.full((size[1], size[0], 3), 255, np.uint8)
    for _ in range(40):
        y, x = rng.integers(0, size[1] - 20), rng.integers(0, size[0] - 200)
        a[y : y + 12, x : x + rng.integers(50, 200)] = rng.integers(0, 120)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


class Server:
    def __init__(self, model: Path, data: Path) -> None:
        self.http_port, self.grpc_port = free_port(), free_port()
        cmd = [
            sys.executable,
            "-m",
            "colweave",
            "serve",
            "--model",
            str(model),
            "--data-dir",
            str(data),
            "--http-port",
            str(self.http_port),
            "--grpc-port",
            str(self.grpc_port),
            "--log-level",
            "warning",
            "--max-batch-images",
            str(BATCH_IMAGES),
        ]
        self.proc = subprocess.Popen(cmd, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        deadline = time.time() + 600
        while time.time() < deadline:
            try:
                if httpx.get(f"{self.http}/v1/.well-known/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit("colweave serve exited")
            time.sleep(0.2)
        raise SystemExit("colweave serve did not become ready")

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=TINY)
    ap.add_argument("--pages", type=int, default=16, help="pages imported per round")
    ap.add_argument("--queries", type=int, default=200, help="near_text queries timed")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="8 pages, 60 queries, 300-page collection")
    ap.add_argument("--import-only", action="store_true", help="only part 1 (the import comparison)")
    args = ap.parse_args()
    n_pages = 8 if args.quick else args.pages
    n_queries = 60 if args.quick else args.queries
    coll_pages = 300 if args.quick else 1000

    enc = Encoder(args.model)
    info = enc.info
    print(
        f"model {info['model_id']} ({args.model}), dim {info['dim']}, {info['dtype']}, "
        f"providers {','.join(info['providers'])}, runtime {info['runtime']} {info['precision']}; "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} (cores shared: compare within a run)"
    )
    pages = [page(i) for i in range(n_pages)]
    b64 = [base64.b64encode(p).decode() for p in pages]

    with tempfile.TemporaryDirectory() as tmp:
        srv = Server(args.model, Path(tmp) / "data")
        try:
            client = weaviate.connect_to_local(port=srv.http_port, grpc_port=srv.grpc_port)
            # -- 1. import ---------------------------------------------------------------------------
            t_enc, t_srv = [], []

            def encoder_half() -> None:
                t = time.perf_counter()
                for i in range(0, n_pages, BATCH_IMAGES):
                    enc.embed_images(pages[i : i + BATCH_IMAGES])
                t_enc.append(time.perf_counter() - t)

            def server_half() -> None:
                name = f"Import{len(t_srv)}"
                coll = client.collections.create(
                    name=name,
                    properties=[Property(name="doc_page", data_type=DataType.BLOB)],
                    vector_config=[
                        Configure.MultiVectors.multi2vec_weaviate(name="document", image_field="doc_page")
                    ],
                )
                t = time.perf_counter()
                res = coll.data.insert_many(
                    [DataObject(properties={"doc_page": s, "title": f"p{i}"}) for i, s in enumerate(b64)]
                )
                t_srv.append(time.perf_counter() - t)
                assert not res.errors, res.errors
                client.collections.delete(name)

            print("\n## import (A4-shaped PNG pages, weaviate-client insert_many, rounds in ABBA order)")
            for r in range(args.rounds):
                halves = [encoder_half, server_half] if r % 2 == 0 else [server_half, encoder_half]
                load = os.getloadavg()[0]
                for half in halves:
                    half()
                print(
                    f"round {r + 1}: Encoder {n_pages / t_enc[-1]:.3f} pages/s, server "
                    f"{n_pages / t_srv[-1]:.3f} pages/s, "
                    f"overhead {100 * (t_srv[-1] / t_enc[-1] - 1):+.1f} %; "
                    f"load {load:.2f} → {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
            e, s = statistics.median(t_enc), statistics.median(t_srv)
            per_round = statistics.median(b / a - 1 for a, b in zip(t_enc, t_srv, strict=True))
            print(f"Encoder.embed_images      {n_pages / e:8.3f} pages/s (median)")
            print(
                f"server insert_many        {n_pages / s:8.3f} pages/s (median)   overhead of the medians "
                f"{100 * (s / e - 1):+.1f} %, median per-round overhead {100 * per_round:+.1f} % "
                f"(target ≤ 10 %: {'met' if per_round <= 0.10 else 'NOT met'})"
            )
            if args.import_only:
                client.close()
                return

            # -- 2. near_text latency at 1k pages -------------------------------------------------------
            rng = np.random.default_rng(0)
            coll = client.collections.create(
                name="Latency",
                properties=[Property(name="doc_page", data_type=DataType.BLOB)],
                vector_config=[
                    Configure.MultiVectors.multi2vec_weaviate(name="document", image_field="doc_page")
                ],
            )
            with coll.batch.fixed_size(batch_size=50) as batch:
                for i in range(coll_pages):
                    v = rng.standard_normal((885, info["dim"])).astype(np.float32)
                    batch.add_object(properties={"title": f"page {i}"}, vector={"document": v.tolist()})
            assert len(coll) == coll_pages, len(coll)
            words = [
                "annual",
                "report",
                "revenue",
                "growth",
                "holiday",
                "film",
                "invoice",
                "contract",
                "chart",
                "table",
            ]
            lat = []
            for i in range(n_queries):
                q = " ".join(words[(i + j) % len(words)] for j in range(1 + i % 6))
                t = time.perf_counter()
                coll.query.near_text(query=q, limit=10)
                lat.append(time.perf_counter() - t)
            print(f"\n## near_text over {coll_pages} pages x 885 vectors ({n_queries} queries)")
            print(f"p50 {1000 * pct(lat, 50):.1f} ms   p99 {1000 * pct(lat, 99):.1f} ms")
            q_enc = []
            for i in range(n_queries):
                q = " ".join(words[(i + j) % len(words)] for j in range(1 + i % 6))
                t = time.perf_counter()
                enc.embed_queries([q])
                q_enc.append(time.perf_counter() - t)
            print(f"(Encoder.embed_queries alone: p50 {1000 * pct(q_enc, 50):.1f} ms)")

            # -- 3. embedding throughput, 4 concurrent clients --------------------------------------------
            texts = [f"what does the {w} on page {i} say" for i, w in enumerate(words * 10)]
            small_pages = pages[: min(4, n_pages)]

            def timed(fn, items, workers=4) -> float:
                t = time.perf_counter()
                with concurrent.futures.ThreadPoolExecutor(workers) as ex:
                    list(ex.map(fn, items))
                return time.perf_counter() - t

            chan = grpc.insecure_channel(
                f"127.0.0.1:{srv.grpc_port}", options=[("grpc.max_receive_message_length", 512 * 1024 * 1024)]
            )
            stub = pb_grpc.EmbeddingServiceStub(chan)
            http = httpx.Client(timeout=600)

            def http_q(t: str) -> None:
                r = http.post(
                    f"{srv.http}/v1/embeddings/embed",
                    content=json.dumps({"input": [t], "is_search_query": True}),
                )
                assert r.status_code == 200

            def http_p(p: bytes) -> None:
                r = http.post(
                    f"{srv.http}/v1/embeddings/embed",
                    content=json.dumps({"input": [base64.b64encode(p).decode()]}),
                )
                assert r.status_code == 200

            rows = {
                "queries": {
                    "Encoder (4 threads)": lambda: timed(lambda t: enc.embed_queries([t]), texts),
                    "HTTP /v1/embeddings/embed": lambda: timed(http_q, texts),
                    "gRPC colweave.v1": lambda: timed(
                        lambda t: stub.EmbedQueries(pb.EmbedQueriesRequest(texts=[t])), texts
                    ),
                },
                "pages": {
                    "Encoder (4 threads)": lambda: timed(lambda p: enc.embed_images([p]), small_pages),
                    "HTTP /v1/embeddings/embed": lambda: timed(http_p, small_pages),
                    "gRPC colweave.v1": lambda: timed(
                        lambda p: stub.EmbedImages(pb.EmbedImagesRequest(images=[p])), small_pages
                    ),
                },
            }
            for kind, fns in rows.items():
                n = len(texts) if kind == "queries" else len(small_pages)
                times: dict[str, list[float]] = {k: [] for k in fns}
                for _ in range(args.rounds):
                    for k, f in fns.items():
                        times[k].append(f())
                base = statistics.median(times["Encoder (4 threads)"])
                print(f"\n## {kind}: {n} single-input requests from 4 concurrent clients")
                for k, v in times.items():
                    m = statistics.median(v)
                    print(f"{k:28s} {n / m:9.1f} {kind}/s   {base / m:5.2f}x of the Encoder")
            chan.close()
            client.close()
        finally:
            srv.stop()


if __name__ == "__main__":
    main()

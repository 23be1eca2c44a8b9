"""A hostile ``like`` pattern through the real server: it answers, and liveness keeps answering meanwhile.

A backtracking matcher holding the GIL stopped the whole server for more than 30 s on ``*a`` repeated 14
times then ``*b`` against a 40-character text; here 200 wildcards run against 10,000-character texts (the
worst case for backtracking: every ``a`` is a possible start), while another thread polls liveness.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
import weaviate
from tests.integration.serve_process import serve
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.query import Filter

TEXT = 10_000


@pytest.mark.slow
def test_a_hostile_like_pattern_answers_while_liveness_answers(tmp_path: Path) -> None:
    sp = serve(tmp_path / "data")
    try:
        with weaviate.connect_to_local(port=sp.http_port, grpc_port=sp.grpc_port) as client:
            texts = client.collections.create(
                "Texts",
                properties=[Property(name="body", data_type=DataType.TEXT)],
                vector_config=[Configure.MultiVectors.self_provided(name="v")],
            )
            bodies = ["a" * TEXT, "a" * (TEXT - 1) + "b", "ab" * (TEXT // 2), "b" * TEXT]
            for body in bodies:
                texts.data.insert({"body": body}, vector={"v": [[1.0, 0.0, 0.0, 0.0]]})
            pattern = "*a" * 200 + "*b"
            # The reference: the pattern needs 200 a's, then a b after them (fnmatch-style, whole token).
            expected = sorted(b for b in bodies if b.count("a") >= 200 and "b" in b[b.index("a") :])
            assert len(expected) == 2  # "a…ab" and "abab…"

            polls: list[tuple[float, float]] = []  # (start, duration) of each liveness answer
            polling = threading.Event()
            stop = threading.Event()

            def poll() -> None:
                with httpx.Client(base_url=sp.http, timeout=60) as http:
                    while not stop.is_set():
                        t = time.perf_counter()
                        ok = http.get("/v1/.well-known/live").status_code == 200
                        polls.append((t, time.perf_counter() - t if ok else float("inf")))
                        polling.set()

            poller = threading.Thread(target=poll)
            poller.start()
            try:
                assert polling.wait(30)
                start = time.perf_counter()
                n = 0
                while n < 5 or time.perf_counter() - start < 1.0:  # long enough for liveness to be asked
                    hits = texts.query.fetch_objects(
                        filters=Filter.by_property("body").like(pattern), limit=10
                    )
                    n += 1
                end = time.perf_counter()
            finally:
                stop.set()
                poller.join(60)
            took = (end - start) / n
            during = [d for t, d in polls if start <= t <= end]
            slowest = max(during, default=float("inf"))
            got = sorted(str(o.properties["body"]) for o in hits.objects)
            assert got == expected
            print(
                f"like with 200 wildcards over {TEXT:,}-character texts: {took * 1000:.1f} ms per query; "
                f"slowest liveness answer meanwhile {slowest * 1000:.1f} ms"
            )
            # The old matcher held the GIL for > 30 s: generous bounds that it cannot meet.
            assert len(during) >= 3, "liveness was not asked while the queries ran"
            assert took < 5.0
            assert slowest < 2.0
    finally:
        try:
            code = sp.stop()
        except subprocess.TimeoutExpired:  # a server stuck in a match: never leave it running
            sp.kill9()
            raise
        assert code == 0

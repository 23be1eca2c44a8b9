"""Single vectors in the store: Weaviate's five distances and certainty against numpy, beside
multi-vectors in one collection, deletes / compaction / reopening, a SIGKILL during batches, the shapes
refused, replacing an object, and multi-target combinations."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid as uuidlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from colweave.store import DataObject, ObjectError, QueryError, Store
from colweave.store.filters import Where

METRICS = ("cosine", "dot", "l2-squared", "manhattan", "hamming")


def weaviate_distance(
    metric: str, q: npt.NDArray[np.float32], x: npt.NDArray[np.float32]
) -> npt.NDArray[np.float64]:
    """Weaviate's distances (its distancer package), here in float64 with numpy."""
    q64, x64 = q.astype(np.float64), x.astype(np.float64)
    if metric == "cosine":
        nx = np.linalg.norm(x64, axis=1)
        d = 1.0 - (x64 @ q64) / (np.linalg.norm(q64) * np.where(nx == 0, 1, nx))
        d[nx == 0] = 1.0
        return np.maximum(d, 0.0)
    if metric == "dot":
        return -(x64 @ q64)
    if metric == "l2-squared":
        return ((x64 - q64) ** 2).sum(axis=1)
    if metric == "manhattan":
        return np.abs(x64 - q64).sum(axis=1)
    return (x64 != q64).sum(axis=1).astype(np.float64)


def body(name: str, vectors: dict) -> dict:
    return {"class": name, "properties": [{"name": "n", "dataType": ["int"]}], "vectorConfig": vectors}


def single(metric: str, index: str = "hnsw") -> dict:
    return {"vectorizer": {"none": {}}, "vectorIndexType": index, "vectorIndexConfig": {"distance": metric}}


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("index", ["hnsw", "flat", "dynamic"])
def test_near_vector_is_weaviates_distance_exactly(tmp_path: Path, metric: str, index: str) -> None:
    rng = np.random.default_rng(len(metric) * 7 + len(index))
    dim, n = 24, 60
    if metric == "hamming":  # small integers: components that are equal
        x = rng.integers(0, 3, (n, dim)).astype(np.float32)
        q = rng.integers(0, 3, dim).astype(np.float32)
    else:
        x = rng.standard_normal((n, dim)).astype(np.float32)
        q = rng.standard_normal(dim).astype(np.float32)
    with Store(tmp_path) as s:
        c = s.create_collection(body("Single", {"text": single(metric, index)}))
        res = c.insert_many([DataObject({"n": i}, uuidlib.UUID(int=i + 1), {"text": x[i]}) for i in range(n)])
        assert not res.errors
        c.delete_many(ids=[str(uuidlib.UUID(int=i + 1)) for i in range(0, n, 5)])  # tombstones
        live = np.array([i for i in range(n) if i % 5], np.int64)
        want = weaviate_distance(metric, q, x[live])
        got = c.near_vector(q, limit=n, filters=Where("property", "less_than", 50, "n"))
        keep = live < 50
        order = sorted(range(int(keep.sum())), key=lambda j: (want[keep][j], live[keep][j]))
        assert [r.uuid for r in got] == [str(uuidlib.UUID(int=int(live[keep][j]) + 1)) for j in order]
        tol = 0.0 if metric == "hamming" else 1e-4
        np.testing.assert_allclose([r.metadata.distance for r in got], want[keep][order], atol=tol, rtol=1e-5)
        for r in got:
            if metric == "cosine":  # Weaviate's certainty: 1 - distance / 2, for cosine only
                assert r.metadata.certainty == pytest.approx(1 - r.metadata.distance / 2)
            else:
                assert r.metadata.certainty is None
        # The distance limit keeps what is within it; certainty is cosine's only.
        values = np.unique(want)
        cut = float(values[len(values) // 2] + values[len(values) // 2 + 1]) / 2  # between two distances
        within = c.near_vector(q, limit=n, distance=cut)
        assert len(within) == int((want <= cut).sum())
        if metric == "cosine":
            near = c.near_vector(q, limit=n, certainty=0.6)
            assert len(near) == int((want <= (1 - 0.6) * 2).sum())  # Weaviate: distance = (1 - c) * 2
        else:
            with pytest.raises(QueryError, match=f"configured with {metric} distance"):
                c.near_vector(q, certainty=0.6)
        # Vectors come back exactly as given (float32), after a reopen too.
        got_v = c.get(str(uuidlib.UUID(int=2)), include_vector=True)
        assert got_v is not None
        np.testing.assert_array_equal(got_v.vectors["text"], x[1])
    with Store(tmp_path) as s:
        c = s.get_collection("Single")
        assert c.config.vectors["text"].index_type == index
        again = c.near_vector(q, limit=n, filters=Where("property", "less_than", 50, "n"))
        assert [r.uuid for r in again] == [r.uuid for r in got]
        c.compact()
        after = c.near_vector(q, limit=n, filters=Where("property", "less_than", 50, "n"))
        assert [(r.uuid, r.metadata.distance) for r in after] == [(r.uuid, r.metadata.distance) for r in got]


def test_single_and_multi_vectors_in_one_collection(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    pages = [rng.standard_normal((int(rng.integers(2, 9)), 16)).astype(np.float32) for _ in range(20)]
    words = rng.standard_normal((20, 8)).astype(np.float32)
    with Store(tmp_path) as s:
        c = s.create_collection(
            body(
                "Both",
                {
                    "page": {
                        "vectorizer": {"none": {}},
                        "vectorIndexConfig": {"multivector": {"enabled": True}},
                    },
                    "words": single("dot"),
                },
            )
        )
        ids = c.insert_many(
            [DataObject({"n": i}, vectors={"page": pages[i], "words": words[i]}) for i in range(20)]
        ).uuids
        qm = rng.standard_normal((3, 16)).astype(np.float32)
        qs = rng.standard_normal(8).astype(np.float32)
        # the page: MaxSim over normalised tokens, distance -MaxSim
        unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)  # noqa: E731
        maxsim = np.array([(unit(qm) @ unit(p).T).max(axis=1).sum() for p in pages])
        got = c.near_vector(qm, target_vector="page", limit=5)
        assert [r.uuid for r in got] == [ids[i] for i in np.argsort(-maxsim, kind="stable")[:5]]
        # multi-vectors are stored in float16 (the store's default): a few 1e-4 of difference
        np.testing.assert_allclose([r.metadata.distance for r in got], -np.sort(maxsim)[::-1][:5], atol=3e-3)
        # the words: dot distance
        got = c.near_vector(qs, target_vector="words", limit=5)
        dots = words @ qs
        assert [r.uuid for r in got] == [ids[i] for i in np.argsort(-dots, kind="stable")[:5]]
        np.testing.assert_allclose([r.metadata.distance for r in got], -np.sort(dots)[::-1][:5], rtol=1e-5)
        both = c.get(ids[4], include_vector=True)
        assert both is not None
        assert both.vectors["words"].shape == (8,)
        assert both.vectors["page"].ndim == 2


def test_shapes_and_values_refused_nothing_changed(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        c = s.create_collection(
            body(
                "Shapes",
                {
                    "page": {
                        "vectorizer": {"none": {}},
                        "vectorIndexConfig": {"multivector": {"enabled": True}},
                    },
                    "words": single("cosine"),
                },
            )
        )
        c.insert({"n": 1}, vectors={"words": [1.0, 2.0, 3.0], "page": [[1.0, 0.0]]})
        bad = [
            ({"words": [[1.0, 2.0, 3.0]]}, "configured as a single vector"),
            ({"words": [1.0, 2.0]}, "dimension 2, the collection uses 3"),
            ({"words": [1.0, float("nan"), 3.0]}, "NaN or infinite"),
            ({"words": ["a", "b", "c"]}, "not a numeric"),
            ({"page": [1.0, 0.0]}, "configured as multi-vector"),
        ]
        for vectors, message in bad:
            with pytest.raises(ObjectError, match=message):
                c.insert({"n": 2}, vectors=vectors)
        assert len(c) == 1
        # An empty single vector is no vector (as in Weaviate).
        u = c.insert({"n": 3}, vectors={"words": []})
        got = c.get(u, include_vector=True)
        assert got is not None
        assert "words" not in got.vectors
        with pytest.raises(QueryError, match="single vector"):
            c.near_vector([[1.0, 2.0, 3.0], [1.0, 0.0, 0.0]], target_vector="words")
        with pytest.raises(QueryError, match="dimension 2"):
            c.near_vector([1.0, 2.0], target_vector="words")
        with pytest.raises(QueryError, match="is a single vector"):
            c.explain(u, [[1.0, 2.0, 3.0]], target_vector="words")


def test_replacing_an_object_drops_the_vectors_not_given(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        c = s.create_collection(body("Rep", {"default": single("cosine")}))
        u = c.insert({"n": 1}, vectors={"default": [1.0, 2.0, 3.0]})
        c.update(u, {"n": 2})  # a merge keeps it
        got = c.get(u, include_vector=True)
        assert got is not None
        assert got.vectors["default"].tolist() == [1.0, 2.0, 3.0]
        c.replace(u, {"n": 3})  # Weaviate's PUT: the self-provided vector goes
        got = c.get(u, include_vector=True)
        assert got is not None
        assert "default" not in got.vectors
        assert c.near_vector([1.0, 2.0, 3.0]) == []
        c.replace(u, {"n": 4}, vectors={"default": [2.0, 3.0, 4.0]})
        assert [r.uuid for r in c.near_vector([2.0, 3.0, 4.0])] == [u]
        c.insert_many([DataObject({"n": 5}, u)])  # a batch over an existing id replaces too
        got = c.get(u, include_vector=True)
        assert got is not None
        assert "default" not in got.vectors
    with Store(tmp_path) as s:
        got = s.get_collection("Rep").get(u, include_vector=True)
        assert got is not None
        assert got.properties["n"] == 5
        assert "default" not in got.vectors


@pytest.mark.parametrize("combination", ["min", "sum", "average", "manual", "relativeScore"])
def test_multi_target_combinations(tmp_path: Path, combination: str) -> None:
    rng = np.random.default_rng(11)
    a = rng.standard_normal((30, 4)).astype(np.float32)
    b = rng.standard_normal((30, 6)).astype(np.float32)
    qa, qb1, qb2 = (rng.standard_normal(d).astype(np.float32) for d in (4, 6, 6))
    with Store(tmp_path) as s:
        c = s.create_collection(body("Multi", {"a": single("l2-squared"), "b": single("manhattan")}))
        ids = c.insert_many(
            [DataObject({"n": i}, vectors={"a": a[i], "b": b[i]}) for i in range(30)]
            + [DataObject({"n": 99}, vectors={"a": np.zeros(4, np.float32)})]  # no "b": left out but by min
        ).uuids
        weights = [0.5, 1.0, 2.0]
        legs = [("a", qa), ("b", qb1), ("b", qb2)]
        k = 8
        res = c.near_vectors(legs, combination=combination, weights=weights, limit=k)
        da = weaviate_distance("l2-squared", qa, a)
        d1, d2 = weaviate_distance("manhattan", qb1, b), weaviate_distance("manhattan", qb2, b)
        # Weaviate's combination over the union of each leg's k nearest (exact legs here)
        tops = [set(np.argsort(d, kind="stable")[:k].tolist()) for d in (da, d1, d2)]
        union = sorted(set().union(*tops))
        legs_d = np.stack([da, d1, d2])
        if combination == "min":
            comb = {i: min(legs_d[j, i] for j in range(3) if i in tops[j]) for i in union}
        else:
            w = {"sum": [1, 1, 1], "average": [1 / 3] * 3}.get(combination, weights)
            if combination == "relativeScore":
                sub = legs_d[:, union]
                lo, hi = sub.min(axis=1, keepdims=True), sub.max(axis=1, keepdims=True)
                norm = (sub - lo) / (hi - lo)
                comb = dict(zip(union, (np.asarray(w)[:, None] * norm).sum(axis=0), strict=True))
            else:
                comb = dict(zip(union, (np.asarray(w)[:, None] * legs_d[:, union]).sum(axis=0), strict=True))
        want = sorted(comb.items(), key=lambda kv: (kv[1], kv[0]))[:k]
        assert [r.uuid for r in res] == [ids[i] for i, _ in want]
        np.testing.assert_allclose([r.metadata.distance for r in res], [v for _, v in want], rtol=1e-5)
        if combination in ("manual", "relativeScore"):
            with pytest.raises(QueryError, match="number of weights"):
                c.near_vectors(legs, combination=combination, weights=[1.0], limit=k)


CHILD = textwrap.dedent(
    """
    import sys, uuid
    import numpy as np
    from colweave.store import DataObject, Store

    s = Store(sys.argv[1])
    c = s.get_collection("Dur")
    for b in range(10_000):
        objs = []
        for i in range(20):
            n = b * 1000 + i + 1
            rng = np.random.default_rng(n)
            v = {"words": rng.standard_normal(48).astype(np.float32),
                 "page": rng.standard_normal((6, 16)).astype(np.float32)}
            objs.append(DataObject({"n": n}, uuid=uuid.UUID(int=n), vectors=v))
        print("BEGIN", b, flush=True)
        assert not c.insert_many(objs).errors
        if b % 3 == 2:  # deletes too, so that compactions run
            c.delete_many(ids=[str(uuid.UUID(int=b * 1000 + i + 1)) for i in range(0, 20, 2)])
        print("ACK", b, flush=True)
    """
)


@pytest.mark.parametrize("seed", range(3))
def test_sigkill_during_single_vector_batches(tmp_path: Path, seed: int) -> None:
    with Store(tmp_path) as s:
        s.create_collection(
            body(
                "Dur",
                {
                    "words": single("l2-squared", "flat"),
                    "page": {
                        "vectorizer": {"none": {}},
                        "vectorIndexConfig": {"multivector": {"enabled": True}},
                    },
                },
            )
        )
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    rng = np.random.default_rng(seed)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    assert proc.stdout is not None
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    acked: set[int] = set()
    target, last = int(rng.integers(3, 7)), ""
    while len(acked) < target or last != "BEGIN":
        line = proc.stdout.readline()
        assert line, "the child died early"
        last, b = line.split()
        if last == "ACK":
            acked.add(int(b))
    time.sleep(float(rng.uniform(0, 0.004)))
    os.kill(proc.pid, signal.SIGKILL)
    for line in proc.stdout.read().splitlines():
        kind, b = line.split()
        if kind == "ACK":
            acked.add(int(b))
    proc.wait(30)
    watchdog.cancel()
    with Store(tmp_path) as s:
        c = s.get_collection("Dur")
        for b in sorted(acked):
            for i in range(1, 20, 2):  # never deleted: each finds itself at distance 0, vector exact
                n = b * 1000 + i + 1
                v = np.random.default_rng(n).standard_normal(48).astype(np.float32)
                hit = c.near_vector(v, target_vector="words", limit=1)[0]
                assert hit.uuid == str(uuidlib.UUID(int=n))
                assert hit.metadata.distance == 0.0
                got = c.get(hit.uuid, include_vector=True)
                assert got is not None
                np.testing.assert_array_equal(got.vectors["words"], v)
        u = c.insert({"n": -1}, vectors={"words": np.ones(48, np.float32)})
        assert c.near_vector(np.ones(48, np.float32), target_vector="words", limit=1)[0].uuid == u

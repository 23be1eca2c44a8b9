"""colweave.dense_distances / dense_topk (single vectors, Weaviate's distances) against numpy in float64,
on every SIMD path of this CPU, for float32 and float16 rows."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import colweave

ISAS = colweave.available_isas()
METRICS = ("cosine", "dot", "l2-squared", "manhattan", "hamming")


def reference(
    metric: str, q: npt.NDArray[np.float32], rows: npt.NDArray[np.generic]
) -> npt.NDArray[np.float64]:
    """Weaviate's distances (adapters/repos/db/vector/hnsw/distancer), in float64."""
    q64, x = q.astype(np.float64), rows.astype(np.float64)
    if metric == "cosine":
        nq, nx = np.linalg.norm(q64), np.linalg.norm(x, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            d = 1.0 - (x @ q64) / (nq * nx)
        d[(nx == 0) | (nq == 0)] = 1.0
        return np.maximum(d, 0.0)
    if metric == "dot":
        return -(x @ q64)
    if metric == "l2-squared":
        return ((x - q64) ** 2).sum(axis=1)
    if metric == "manhattan":
        return np.abs(x - q64).sum(axis=1)
    return (x != q64).sum(axis=1).astype(np.float64)


def tolerance(
    metric: str, q: npt.NDArray[np.float32], rows: npt.NDArray[np.generic]
) -> npt.NDArray[np.float64]:
    if metric == "hamming":
        return np.zeros(len(rows))  # a count: exact
    if metric == "cosine":
        return np.full(len(rows), 1e-5 * np.sqrt(len(q)) + 1e-6)
    terms = (np.abs(q.astype(np.float64)) + np.abs(rows.astype(np.float64))) ** 2
    return 1e-5 * np.maximum(terms.sum(axis=1), 1.0)


def vectors(draw: st.DrawFn, n: int, dim: int, ints: bool) -> npt.NDArray[np.float32]:
    if ints:  # small integers: equal components (hamming) and exact ties
        values = st.integers(-2, 2).map(float)
    else:
        values = st.floats(-100, 100, width=32, allow_nan=False, allow_infinity=False)
    flat = draw(st.lists(values, min_size=n * dim, max_size=n * dim))
    return np.asarray(flat, np.float32).reshape(n, dim)


@st.composite
def cases(draw: st.DrawFn):
    dim = draw(st.integers(1, 70))
    n = draw(st.integers(0, 40))
    ints = draw(st.booleans())
    rows = vectors(draw, n, dim, ints)
    q = vectors(draw, 1, dim, ints)[0]
    return q, rows


@settings(max_examples=60, deadline=None)
@given(cases(), st.sampled_from(METRICS), st.sampled_from([np.float32, np.float16]))
def test_distances_match_numpy(case, metric: str, dtype) -> None:
    q, rows = case
    rows = rows.astype(dtype)
    want = reference(metric, q, rows)
    tol = tolerance(metric, q, rows)
    for isa in ISAS:
        got = colweave.dense_distances(q, rows, metric=metric, isa=isa, threads=2)
        assert got.dtype == np.float32
        assert got.shape == (len(rows),)
        assert np.all(np.abs(got.astype(np.float64) - want) <= tol), (isa, metric, got, want)


@settings(max_examples=60, deadline=None)
@given(cases(), st.sampled_from(METRICS), st.integers(0, 50), st.data())
def test_topk_is_the_nearest_first_ties_to_lower_index(case, metric: str, k: int, data) -> None:
    q, rows = case
    cands = None
    if len(rows) and data.draw(st.booleans()):
        cands = np.asarray(data.draw(st.lists(st.integers(0, len(rows) - 1), max_size=60)), np.int64)
    for isa in ISAS:
        dist = colweave.dense_distances(q, rows, metric=metric, isa=isa)
        pool = np.arange(len(rows)) if cands is None else np.unique(cands)
        order = sorted(pool.tolist(), key=lambda i: (dist[i], i))[:k]
        idx, d = colweave.dense_topk(q, rows, k, metric=metric, candidates=cands, isa=isa)
        assert idx.dtype == np.int64
        assert d.dtype == np.float32
        assert idx.tolist() == order
        assert d.tolist() == [float(dist[i]) for i in order]


def test_weaviate_values_by_hand() -> None:
    q = np.array([1.0, 0.0, 0.0], np.float32)
    rows = np.array([[1, 0, 0], [0, 1, 0], [-2, 0, 0], [0, 0, 0], [3, 4, 0]], np.float32)
    d = {m: colweave.dense_distances(q, rows, metric=m).tolist() for m in METRICS}
    # cosine 1 - 0.6 computed in float32, as Weaviate does
    assert d["cosine"] == [0.0, 1.0, 2.0, 1.0, float(np.float32(1) - np.float32(0.6))]
    assert d["dot"] == [-1.0, 0.0, 2.0, 0.0, -3.0]
    assert d["l2-squared"] == [0.0, 2.0, 9.0, 1.0, 20.0]
    assert d["manhattan"] == [0.0, 2.0, 3.0, 1.0, 6.0]
    assert d["hamming"] == [0.0, 2.0, 1.0, 1.0, 2.0]


def test_large_inputs_run_on_several_threads_and_agree() -> None:
    rng = np.random.default_rng(7)
    rows = rng.standard_normal((3000, 384), dtype=np.float32)
    q = rng.standard_normal(384, dtype=np.float32)
    for metric in METRICS:
        one = colweave.dense_distances(q, rows, metric=metric, threads=1)
        many = colweave.dense_distances(q, rows, metric=metric, threads=4)
        assert np.array_equal(one, many)
        idx1, d1 = colweave.dense_topk(q, rows, 25, metric=metric, threads=1)
        idx4, d4 = colweave.dense_topk(q, rows, 25, metric=metric, threads=4)
        assert idx1.tolist() == idx4.tolist()
        assert d1.tolist() == d4.tolist()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": np.zeros(3, np.float64)}, "query: expected dtype float32"),
        ({"query": np.zeros((1, 3), np.float32)}, "query: expected a 1-D array"),
        ({"rows": np.zeros((2, 4), np.float32)}, "rows: has dim 4"),
        ({"rows": np.zeros(6, np.float32)}, "rows: expected a 2-D"),
        ({"rows": np.zeros((2, 3), np.int32)}, "rows: expected dtype float32 or float16"),
        ({"metric": "euclidean"}, "metric: unknown distance"),
        ({"candidates": np.array([5], np.int64)}, "candidates"),
        ({"candidates": np.array([0], np.int32)}, "candidates: expected dtype int64"),
        ({"threads": 0}, "threads"),
        ({"isa": "sse9"}, "isa"),
        ({"k": -1}, "k: must be non-negative"),
        ({"k": 10**20}, "k: "),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs: dict, message: str) -> None:
    args = {"query": np.zeros(3, np.float32), "rows": np.zeros((2, 3), np.float32), "k": 1}
    args.update(kwargs)
    with pytest.raises(colweave.InvalidArgumentError, match=message):
        colweave.dense_topk(args.pop("query"), args.pop("rows"), args.pop("k"), **args)

"""colweave.maxsim / maxsim_topk against a float64 numpy reference, on every SIMD path of this CPU."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

import colweave

ISAS = colweave.available_isas()


def reference(query: npt.NDArray[np.float32], docs: npt.NDArray[np.generic], offsets: npt.NDArray[np.int64]):
    """Plain float64 MaxSim on the stored values (fp16 upcast exactly)."""
    q = query.astype(np.float64)
    d = docs.astype(np.float64)
    out = np.empty(len(offsets) - 1)
    for i in range(len(offsets) - 1):
        s, e = offsets[i], offsets[i + 1]
        out[i] = -np.inf if s == e else (q @ d[s:e].T).max(axis=1).sum()
    return out


def assert_close(got: npt.NDArray[np.float32], want: npt.NDArray[np.float64], query, docs) -> None:
    assert got.dtype == np.float32
    assert got.shape == want.shape
    inf = np.isinf(want)
    assert np.array_equal(np.isinf(got), inf)
    assert np.all(got[inf] == -np.inf)
    # 1e-4 relative; the absolute floor covers scores that cancel to ~0 (scaled by the terms' magnitude).
    scale = np.abs(query).sum() * (np.abs(docs).max() if docs.size else 0.0)
    np.testing.assert_allclose(got[~inf], want[~inf], rtol=1e-4, atol=1e-6 * scale + 1e-30)


def make(rng: np.random.Generator, nq: int, dim: int, lens: list[int], dtype=np.float32):
    query = rng.standard_normal((nq, dim), dtype=np.float32)
    docs = rng.standard_normal((sum(lens), dim), dtype=np.float32).astype(dtype)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    return query, docs, offsets


def test_isas_include_portable_and_default() -> None:
    assert ISAS[0] == "portable"
    assert colweave.default_isa() == ISAS[-1]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@given(
    nq=st.integers(1, 40),
    dim=st.integers(1, 200),
    lens=st.lists(st.integers(0, 60), min_size=0, max_size=12),
    threads=st.sampled_from([None, 1, 2, 5]),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_float64_reference(isa, dtype, nq, dim, lens, threads, seed) -> None:
    query, docs, offsets = make(np.random.default_rng(seed), nq, dim, lens, dtype)
    got = colweave.maxsim(query, docs, offsets, threads=threads, isa=isa)
    assert_close(got, reference(query, docs, offsets), query, docs)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_realistic_shapes_all_paths(isa, dtype) -> None:
    """ColModernVBERT-like: nq 32 and 10, dim 128, pages of 500-1100 tokens, parallel."""
    rng = np.random.default_rng(1)
    for nq in (32, 10):
        lens = rng.integers(500, 1100, size=24).tolist()
        query, docs, offsets = make(rng, nq, 128, lens, dtype)
        got = colweave.maxsim(query, docs, offsets, isa=isa)
        assert_close(got, reference(query, docs, offsets), query, docs)


def test_paths_agree_with_each_other() -> None:
    query, docs, offsets = make(np.random.default_rng(2), 19, 96, [0, 1, 23, 24, 25, 200, 3])
    results = [colweave.maxsim(query, docs, offsets, isa=isa) for isa in ISAS]
    for r in results[1:]:
        np.testing.assert_allclose(r, results[0], rtol=2e-6)


def test_empty_document_scores_minus_inf_and_no_documents() -> None:
    query, docs, offsets = make(np.random.default_rng(3), 2, 8, [0, 3, 0])
    got = colweave.maxsim(query, docs, offsets)
    assert got[0] == -np.inf
    assert got[2] == -np.inf
    assert np.isfinite(got[1])
    empty = colweave.maxsim(query, np.zeros((0, 8), np.float32), np.zeros(1, np.int64))
    assert empty.shape == (0,)
    assert empty.dtype == np.float32


def test_non_contiguous_inputs_are_accepted() -> None:
    rng = np.random.default_rng(4)
    query, docs, offsets = make(rng, 5, 16, [3, 4, 5])
    want = colweave.maxsim(query, docs, offsets)
    q_f = np.asfortranarray(query)
    d_strided = np.repeat(docs, 2, axis=1)[:, ::2]
    assert not d_strided.flags.c_contiguous
    assert not q_f.flags.c_contiguous
    np.testing.assert_array_equal(colweave.maxsim(q_f, d_strided, offsets), want)
    np.testing.assert_array_equal(colweave.maxsim(query, docs, offsets[::1].copy()), want)


@given(
    lens=st.lists(st.integers(0, 30), min_size=0, max_size=30),
    k=st.integers(0, 40),
    use_candidates=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_topk_matches_sorted_reference(lens, k, use_candidates, seed) -> None:
    rng = np.random.default_rng(seed)
    # Few distinct values so that ties happen: integer-valued vectors.
    query = rng.integers(-2, 3, size=(3, 4)).astype(np.float32)
    docs = rng.integers(-2, 3, size=(sum(lens), 4)).astype(np.float32)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    n = len(lens)
    cand = (
        rng.integers(0, n, size=rng.integers(0, 2 * n + 1)).astype(np.int64)
        if (use_candidates and n)
        else None
    )
    idx, scores = colweave.maxsim_topk(query, docs, offsets, k, candidates=cand)
    ref = reference(query, docs, offsets)
    pool = sorted(set(cand.tolist())) if cand is not None else list(range(n))
    pool = [i for i in pool if lens[i] > 0]
    want = sorted(pool, key=lambda i: (-ref[i], i))[:k]
    assert idx.dtype == np.int64
    assert scores.dtype == np.float32
    assert idx.tolist() == want
    np.testing.assert_array_equal(scores, ref[want].astype(np.float32))


BAD_CASES = [
    # (description, kwargs override, argument named in the message)
    ("query float64", {"query": np.zeros((2, 4))}, "query"),
    ("query 1-D", {"query": np.zeros(4, np.float32)}, "query"),
    ("query empty", {"query": np.zeros((0, 4), np.float32)}, "query"),
    ("query dim 0", {"query": np.zeros((2, 0), np.float32), "docs": np.zeros((3, 0), np.float32)}, "query"),
    ("query list", {"query": [[0.0] * 4]}, "query"),
    ("docs int", {"docs": np.zeros((3, 4), np.int32)}, "docs"),
    ("docs 3-D", {"docs": np.zeros((1, 3, 4), np.float32)}, "docs"),
    ("docs wrong dim", {"docs": np.zeros((3, 5), np.float32)}, "docs"),
    ("offsets int32", {"offsets": np.array([0, 3], np.int32)}, "offsets"),
    ("offsets 2-D", {"offsets": np.array([[0, 3]], np.int64)}, "offsets"),
    ("offsets empty", {"offsets": np.zeros(0, np.int64)}, "offsets"),
    ("offsets start", {"offsets": np.array([1, 3], np.int64)}, "offsets"),
    ("offsets decreasing", {"offsets": np.array([0, 2, 1, 3], np.int64)}, "offsets"),
    ("offsets end short", {"offsets": np.array([0, 2], np.int64)}, "offsets"),
    ("offsets end long", {"offsets": np.array([0, 4], np.int64)}, "offsets"),
    ("offsets negative", {"offsets": np.array([0, -1, 3], np.int64)}, "offsets"),
    ("threads 0", {"threads": 0}, "threads"),
    ("threads negative", {"threads": -2}, "threads"),
    ("isa unknown", {"isa": "sse9"}, "isa"),
]


@pytest.mark.parametrize(("what", "override", "arg"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_arguments_raise_value_error_naming_the_argument(what, override, arg) -> None:
    kwargs = {
        "query": np.zeros((2, 4), np.float32),
        "docs": np.zeros((3, 4), np.float32),
        "offsets": np.array([0, 3], np.int64),
    }
    kwargs.update(override)
    with pytest.raises(ValueError, match=rf"^{arg}:") as info:
        colweave.maxsim(**kwargs)
    assert isinstance(info.value, colweave.InvalidArgumentError)
    with pytest.raises(ValueError, match=rf"^{arg}:"):
        colweave.maxsim_topk(k=1, **kwargs)


def test_topk_bad_k_and_candidates() -> None:
    q, d, o = np.zeros((2, 4), np.float32), np.zeros((3, 4), np.float32), np.array([0, 1, 3], np.int64)
    with pytest.raises(ValueError, match=r"^k:"):
        colweave.maxsim_topk(q, d, o, -1)
    for bad in (np.array([2], np.int64), np.array([-1], np.int64)):
        with pytest.raises(ValueError, match=r"^candidates:.*not a document index"):
            colweave.maxsim_topk(q, d, o, 1, candidates=bad)
    with pytest.raises(ValueError, match=r"^candidates:.*int64"):
        colweave.maxsim_topk(q, d, o, 1, candidates=np.array([0], np.int32))
    with pytest.raises(ValueError, match=r"^candidates:.*1-D"):
        colweave.maxsim_topk(q, d, o, 1, candidates=np.array([[0]], np.int64))


def test_unsupported_isa_is_a_clear_error() -> None:
    missing = [i for i in ("portable", "neon", "avx2", "avx512") if i not in ISAS]
    if not missing:
        pytest.skip("every SIMD path is supported on this CPU")
    with pytest.raises(colweave.UnsupportedIsaError, match="not supported on this CPU"):
        colweave.maxsim(
            np.zeros((1, 4), np.float32), np.zeros((1, 4), np.float32), np.array([0, 1]), isa=missing[0]
        )


def test_releases_the_gil() -> None:
    """While one thread is inside a single-threaded maxsim call, another thread keeps running Python.

    A second thread spins, noting every pause between its iterations longer than 1 ms. Were the GIL held
    for the work, that thread could not run from the moment the call enters the kernel until it returns: one
    pause as long as the call. With the GIL released its pauses are only the scheduler's (other processes
    share the cores), far shorter than the call."""
    import threading
    import time

    rng = np.random.default_rng(5)
    query, docs, offsets = make(rng, 32, 128, [1024] * 100)
    # Size the work to this CPU: repeat the documents until one call takes well over 50 ms (a fast AVX-512
    # core finishes 800 pages in under 50 ms; a fixed size would make the test depend on the machine).
    for _ in range(8):
        t = time.perf_counter()
        colweave.maxsim(query, docs, offsets, threads=1)
        if time.perf_counter() - t > 0.2:
            break
        docs = np.concatenate([docs, docs])
        offsets = np.concatenate([offsets, offsets[1:] + offsets[-1]])
    pauses: list[tuple[float, float]] = []
    running = [True]
    started = threading.Event()

    def spin() -> None:
        prev = time.perf_counter()
        started.set()
        while running[0]:
            now = time.perf_counter()
            if now - prev > 1e-3:
                pauses.append((prev, now))
            prev = now

    th = threading.Thread(target=spin)
    th.start()
    started.wait(10)
    t0 = time.perf_counter()
    colweave.maxsim(query, docs, offsets, threads=1)
    t1 = time.perf_counter()
    running[0] = False
    th.join(10)
    call = t1 - t0
    assert call > 0.05, f"the call ({call * 1000:.1f} ms) is too short to tell"
    inside = [min(b, t1) - max(a, t0) for a, b in pauses if b > t0 and a < t1]
    longest = max(inside, default=0.0)
    # Held: one pause of about the whole call. Released: scheduler pauses only.
    print(f"longest pause {longest * 1000:.1f} ms in a {call * 1000:.1f} ms call")
    assert longest < 0.5 * call, (longest, call)


def test_integer_arguments_out_of_range_are_invalid_argument_errors() -> None:
    rng = np.random.default_rng(6)
    query, docs, offsets = make(rng, 4, 16, [3, 5])
    with pytest.raises(colweave.InvalidArgumentError, match=r"^k: "):
        colweave.maxsim_topk(query, docs, offsets, k=10**20)
    with pytest.raises(colweave.InvalidArgumentError, match=r"^threads: "):
        colweave.maxsim(query, docs, offsets, threads=10**20)
    with pytest.raises(colweave.InvalidArgumentError, match=r"^k: "):
        colweave._native.fde_topk(np.zeros(4, np.float32), np.zeros((2, 4), np.float32), -(10**30))
    idx, _ = colweave.maxsim_topk(query, docs, offsets, k=2**62)  # large but valid: every document
    assert sorted(idx.tolist()) == [0, 1]

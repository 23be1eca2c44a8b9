"""Compressed multi-vectors (binary, int8), exact rescoring and token pooling against independent references.

* codes: numpy's own ``packbits`` / ``rint`` formulations of the documented encodings;
* scores: integer (int64) numpy arithmetic on the same codes, then the documented float32 steps, on every
  SIMD path of this CPU (bit-for-bit equality);
* pooling: ``scipy.cluster.hierarchy`` (Ward linkage, maxclust cut) on the normalised vectors.
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.cluster.hierarchy import fcluster, linkage

import colweave
from colweave import _native

BIN_ISAS = colweave.binary_isas()
INT8_ISAS = colweave.int8_isas()


def offsets_of(lens: list[int]) -> npt.NDArray[np.int64]:
    return np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)


# -- references ------------------------------------------------------------------------------------------


def ref_binarize(x: npt.NDArray[np.float32]) -> npt.NDArray[np.uint64]:
    words = -(-x.shape[1] // 64)
    bits = np.zeros((x.shape[0], words * 64), bool)
    bits[:, : x.shape[1]] = x > 0
    return np.packbits(bits, axis=1, bitorder="little").view("<u8").astype(np.uint64)


def signs(codes: npt.NDArray[np.uint64], dim: int) -> npt.NDArray[np.int64]:
    """±1 matrix of the first ``dim`` bits."""
    bits = np.unpackbits(codes.astype("<u8").view(np.uint8), axis=1, bitorder="little")[:, :dim]
    return bits.astype(np.int64) * 2 - 1


def ref_binary(
    q: npt.NDArray[np.uint64], d: npt.NDArray[np.uint64], offsets, dim: int
) -> npt.NDArray[np.float32]:
    qs, ds = signs(q, dim), signs(d, dim)
    out = np.empty(len(offsets) - 1, np.float32)
    for i in range(len(offsets) - 1):
        s, e = offsets[i], offsets[i + 1]
        out[i] = -np.inf if s == e else np.float32((qs @ ds[s:e].T).max(axis=1).sum())
    return out


def ref_quantize(x: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]:
    amax = np.abs(x).max(axis=1).astype(np.float32)
    scale = (amax / np.float32(127)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1))[:, None]
    codes = np.clip(np.rint(x / safe), -127, 127).astype(np.int8)
    codes[scale == 0] = 0
    return codes, scale


def ref_int8(qc, qs, dc, ds, offsets) -> npt.NDArray[np.float32]:
    out = np.empty(len(offsets) - 1, np.float32)
    for i in range(len(offsets) - 1):
        s, e = offsets[i], offsets[i + 1]
        if s == e:
            out[i] = -np.inf
            continue
        dots = qc.astype(np.int64) @ dc[s:e].astype(np.int64).T  # exact
        m = (dots.astype(np.float32) * ds[s:e][None, :]).max(axis=1)  # float32
        out[i] = np.float32((m * qs).astype(np.float64).sum())
    return out


def ref_maxsim(q, d, offsets) -> npt.NDArray[np.float64]:
    q64, d64 = q.astype(np.float64), d.astype(np.float64)
    return np.array(
        [-np.inf if s == e else (q64 @ d64[s:e].T).max(axis=1).sum() for s, e in itertools.pairwise(offsets)]
    )


def ranked(scores, pool) -> list[int]:
    return sorted(pool, key=lambda i: (-scores[i], i))


# -- binary ----------------------------------------------------------------------------------------------


@given(n=st.integers(0, 20), dim=st.integers(1, 300), seed=st.integers(0, 2**32 - 1))
def test_binarize_equals_packbits(n, dim, seed) -> None:
    x = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    x[:, ::7] = 0.0  # zeros give 0 bits
    got = colweave.binarize(x)
    assert got.dtype == np.uint64
    np.testing.assert_array_equal(got, ref_binarize(x))


@pytest.mark.parametrize("isa", BIN_ISAS)
@given(
    nq=st.integers(1, 40),
    dim=st.integers(1, 260),
    lens=st.lists(st.integers(0, 40), min_size=0, max_size=10),
    threads=st.sampled_from([None, 1, 3]),
    seed=st.integers(0, 2**32 - 1),
)
def test_binary_maxsim_equals_integer_reference(isa, nq, dim, lens, threads, seed) -> None:
    rng = np.random.default_rng(seed)
    words = -(-dim // 64)
    # Random words: the bits past `dim` are junk and must be ignored.
    q = rng.integers(0, 2**64, (nq, words), dtype=np.uint64)
    d = rng.integers(0, 2**64, (sum(lens), words), dtype=np.uint64)
    offsets = offsets_of(lens)
    got = colweave.maxsim_binary(q, d, offsets, dim=dim, threads=threads, isa=isa)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, ref_binary(q, d, offsets, dim))


def test_binary_realistic_pages_all_paths() -> None:
    rng = np.random.default_rng(3)
    lens = rng.integers(700, 1000, 12).tolist()
    x = rng.standard_normal((sum(lens), 128), dtype=np.float32)
    q = colweave.binarize(rng.standard_normal((22, 128), dtype=np.float32))
    d = colweave.binarize(x)
    want = ref_binary(q, d, offsets_of(lens), 128)
    for isa in BIN_ISAS:
        np.testing.assert_array_equal(colweave.maxsim_binary(q, d, offsets_of(lens), dim=128, isa=isa), want)


# -- int8 ------------------------------------------------------------------------------------------------


@given(n=st.integers(0, 20), dim=st.integers(1, 200), seed=st.integers(0, 2**32 - 1))
def test_quantize_int8_equals_reference(n, dim, seed) -> None:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, dim)) * rng.uniform(1e-3, 10, (n, 1))).astype(np.float32)
    if n:
        x[0] = 0.0  # an all-zero row: scale 0, codes 0
    codes, scales = colweave.quantize_int8(x)
    want_c, want_s = ref_quantize(x)
    assert codes.dtype == np.int8
    assert scales.dtype == np.float32
    np.testing.assert_array_equal(scales, want_s)
    np.testing.assert_array_equal(codes, want_c)


@pytest.mark.parametrize("isa", INT8_ISAS)
@given(
    nq=st.integers(1, 40),
    dim=st.integers(1, 200),
    lens=st.lists(st.integers(0, 40), min_size=0, max_size=10),
    threads=st.sampled_from([None, 1, 3]),
    seed=st.integers(0, 2**32 - 1),
)
def test_int8_maxsim_equals_integer_reference(isa, nq, dim, lens, threads, seed) -> None:
    rng = np.random.default_rng(seed)
    qc = rng.integers(-127, 128, (nq, dim), dtype=np.int8)
    dc = rng.integers(-127, 128, (sum(lens), dim), dtype=np.int8)
    if dc.size and seed % 3 == 0:
        dc[:] = -127  # extreme codes: the u8 offset and 16-bit pairs at their limits
        qc[:] = 127
    qs = rng.uniform(0, 0.02, nq).astype(np.float32)
    ds = rng.uniform(0, 0.02, sum(lens)).astype(np.float32)
    offsets = offsets_of(lens)
    got = colweave.maxsim_int8(qc, qs, dc, ds, offsets, threads=threads, isa=isa)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, ref_int8(qc, qs, dc, ds, offsets))


def test_int8_realistic_pages_all_paths() -> None:
    rng = np.random.default_rng(4)
    lens = rng.integers(700, 1000, 12).tolist()
    dc, ds = colweave.quantize_int8(rng.standard_normal((sum(lens), 128), dtype=np.float32))
    qc, qs = colweave.quantize_int8(rng.standard_normal((22, 128), dtype=np.float32))
    want = ref_int8(qc, qs, dc, ds, offsets_of(lens))
    for isa in INT8_ISAS:
        np.testing.assert_array_equal(colweave.maxsim_int8(qc, qs, dc, ds, offsets_of(lens), isa=isa), want)


# -- top-k and rescoring ---------------------------------------------------------------------------------


@given(
    lens=st.lists(st.integers(0, 12), min_size=0, max_size=25),
    k=st.integers(0, 30),
    use_candidates=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_compressed_topk_match_sorted_references(lens, k, use_candidates, seed) -> None:
    rng = np.random.default_rng(seed)
    n, dim = len(lens), 8  # few bits and levels: many ties, broken by the lower index
    x = rng.standard_normal((sum(lens), dim), dtype=np.float32)
    query = rng.standard_normal((3, dim), dtype=np.float32)
    offsets = offsets_of(lens)
    cand = rng.integers(0, n, rng.integers(0, 2 * n + 1)).astype(np.int64) if (use_candidates and n) else None
    pool = [i for i in (sorted(set(cand.tolist())) if cand is not None else range(n)) if lens[i] > 0]

    qb, db = colweave.binarize(query), colweave.binarize(x)
    idx, sc = colweave.maxsim_binary_topk(qb, db, offsets, k, dim=dim, candidates=cand)
    ref = ref_binary(qb, db, offsets, dim)
    assert idx.tolist() == ranked(ref, pool)[:k]
    np.testing.assert_array_equal(sc, ref[idx])

    (qc, qs), (dc, ds) = colweave.quantize_int8(query), colweave.quantize_int8(x)
    idx, sc = colweave.maxsim_int8_topk(qc, qs, dc, ds, offsets, k, candidates=cand)
    ref = ref_int8(qc, qs, dc, ds, offsets)
    assert idx.tolist() == ranked(ref, pool)[:k]
    np.testing.assert_array_equal(sc, ref[idx])


@pytest.mark.parametrize("kind", ["binary", "int8"])
@settings(max_examples=30, deadline=None)
@given(
    n_pages=st.integers(1, 40), k=st.integers(1, 10), extra=st.integers(0, 20), seed=st.integers(0, 2**32 - 1)
)
def test_rescored_topk_is_exact_maxsim_on_the_candidates(kind, n_pages, k, extra, seed) -> None:
    rng = np.random.default_rng(seed)
    lens = rng.integers(1, 30, n_pages).tolist()
    offsets = offsets_of(lens)
    originals = rng.standard_normal((sum(lens), 32), dtype=np.float32).astype(np.float16)
    query = rng.standard_normal((5, 32), dtype=np.float32)
    n_cand = k + extra
    if kind == "binary":
        copy: colweave.BinaryCopy | colweave.Int8Copy = colweave.BinaryCopy.encode(originals, offsets)
        first = ref_binary(colweave.binarize(query), ref_binarize(originals.astype(np.float32)), offsets, 32)
    else:
        copy = colweave.Int8Copy.encode(originals, offsets)
        qc, qs = ref_quantize(query)
        dc, ds = ref_quantize(originals.astype(np.float32))
        first = ref_int8(qc, qs, dc, ds, offsets)
    candidates = ranked(first, range(n_pages))[:n_cand]
    exact = ref_maxsim(query, originals, offsets)
    idx, scores = colweave.rescored_topk(copy, query, originals, k, n_candidates=n_cand)
    want = ranked(exact, candidates)[:k]
    # Exact float64 ties are impossible with random data; equal-up-to-rounding scores may swap.
    assert sorted(idx.tolist()) == sorted(want) or np.allclose(np.sort(exact[idx]), np.sort(exact[want]))
    np.testing.assert_allclose(scores, exact[idx], rtol=1e-4, atol=1e-4)
    assert scores.tolist() == sorted(scores.tolist(), reverse=True)


def test_rescoring_recovers_the_exact_order_from_a_coarse_first_phase() -> None:
    """With every page a candidate, rescoring is exact search, whatever the first phase got wrong."""
    rng = np.random.default_rng(9)
    lens = rng.integers(5, 40, 60).tolist()
    offsets = offsets_of(lens)
    originals = rng.standard_normal((sum(lens), 64), dtype=np.float32).astype(np.float16)
    query = rng.standard_normal((7, 64), dtype=np.float32)
    exact = ref_maxsim(query, originals, offsets)
    for copy in (
        colweave.BinaryCopy.encode(originals, offsets),
        colweave.Int8Copy.encode(originals, offsets),
    ):
        idx, _ = colweave.rescored_topk(copy, query, originals, 10, n_candidates=60)
        assert idx.tolist() == ranked(exact, range(60))[:10]


# -- token pooling ---------------------------------------------------------------------------------------


def scipy_partition(x: npt.NDArray[np.float32], pool_factor: int) -> list[list[int]]:
    u = x.astype(np.float64)
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    k = max(len(x) // pool_factor, 1)
    if len(x) == 1:
        return [[0]]
    labels = fcluster(linkage(u, method="ward"), t=k, criterion="maxclust")
    return sorted(sorted(np.flatnonzero(labels == c).tolist()) for c in np.unique(labels))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 120),
    dim=st.integers(2, 64),
    pool_factor=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_pool_tokens_equals_scipy_ward(n, dim, pool_factor, seed) -> None:
    x = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    pooled, labels = colweave.pool_tokens(x, pool_factor)
    k = max(n // pool_factor, 1)
    assert pooled.shape == (k, dim)
    assert labels.dtype == np.int64
    groups = [np.flatnonzero(labels == c).tolist() for c in range(k)]
    assert [g[0] for g in groups] == sorted(g[0] for g in groups)  # numbered by first token
    assert sorted(groups) == scipy_partition(x, pool_factor)
    for c, g in enumerate(groups):
        mean = x[g].astype(np.float64).mean(axis=0)
        np.testing.assert_allclose(pooled[c], mean / np.linalg.norm(mean), rtol=1e-5, atol=1e-6)


def test_pool_tokens_on_a_realistic_page_and_batch() -> None:
    """885 topic-structured tokens, pool factor 3: same partition as scipy; the batch form agrees."""
    rng = np.random.default_rng(11)
    centres = rng.standard_normal((8, 128))
    x = (centres[rng.integers(0, 8, 885)] + 0.5 * rng.standard_normal((885, 128))).astype(np.float32)
    pooled, labels = colweave.pool_tokens(x, 3)
    assert pooled.shape == (295, 128)
    groups = [np.flatnonzero(labels == c).tolist() for c in range(295)]
    assert sorted(groups) == scipy_partition(x, 3)
    np.testing.assert_allclose(np.linalg.norm(pooled, axis=1), 1.0, rtol=1e-5)
    raw, _ = colweave.pool_tokens(x, 3, normalize=False)
    np.testing.assert_allclose(raw[0], x[labels == 0].mean(axis=0), rtol=1e-5, atol=1e-6)
    both = np.concatenate([x[:100], x])
    pv, po, pl = colweave.pool_tokens_batch(both, np.array([0, 100, 985], np.int64), 3, threads=2)
    assert po.tolist() == [0, 33, 328]
    np.testing.assert_array_equal(pv[33:], pooled)
    np.testing.assert_array_equal(pl[100:], labels)


# -- bad input -------------------------------------------------------------------------------------------


def test_bad_arguments_raise_clear_errors() -> None:
    q = np.zeros((2, 2), np.uint64)
    d = np.zeros((3, 2), np.uint64)
    o = np.array([0, 3], np.int64)
    cases = [
        (lambda: colweave.maxsim_binary(q, d, o, dim=0), "dim"),
        (lambda: colweave.maxsim_binary(q, d, o, dim=64), "query"),
        (lambda: colweave.maxsim_binary(q, d.astype(np.int64), o, dim=128), "docs"),
        (lambda: colweave.maxsim_binary(q, d, np.array([0, 2], np.int64), dim=128), "offsets"),
        (lambda: colweave.maxsim_binary(q, d, o, dim=128, isa="sse9"), "isa"),
        (lambda: colweave.maxsim_binary_topk(q, d, o, -1, dim=128), "k"),
        (
            lambda: colweave.maxsim_binary_topk(q, d, o, 1, dim=128, candidates=np.array([1], np.int64)),
            "candidates",
        ),
        (lambda: colweave.quantize_int8(np.array([[np.nan]], np.float32)), "data"),
        (lambda: colweave.quantize_int8(np.zeros((2, 2))), "data"),
        (lambda: colweave.pool_tokens(np.zeros((3, 2), np.float32), 0), "pool_factor"),
        (lambda: colweave.pool_tokens(np.full((3, 2), np.inf, np.float32), 2), "data"),
    ]
    qc, qs = np.zeros((2, 4), np.int8), np.ones(2, np.float32)
    dc, ds = np.zeros((3, 4), np.int8), np.ones(3, np.float32)
    cases += [
        (lambda: colweave.maxsim_int8(qc, qs[:1], dc, ds, o), "query_scales"),
        (lambda: colweave.maxsim_int8(qc, qs, dc, ds[:2], o), "doc_scales"),
        (lambda: colweave.maxsim_int8(qc, qs, dc[:, :3], ds, o), "docs"),
        (lambda: colweave.maxsim_int8(qc, np.array([1, np.nan], np.float32), dc, ds, o), "query_scales"),
        (lambda: colweave.maxsim_int8(qc, qs, dc, ds, o, isa="avx512"), "isa"),
    ]
    for fn, arg in cases:
        with pytest.raises(_native.InvalidArgumentError, match=f"^{arg}: "):
            fn()


# -- int8 MUVERA encodings -------------------------------------------------------------------------------

FDE_ISAS = _native.fde_isas()


@pytest.mark.parametrize("isa", FDE_ISAS)
@given(
    n=st.integers(0, 600),
    dim=st.integers(1, 300),
    k=st.integers(0, 700),
    use_allowed=st.booleans(),
    threads=st.sampled_from([None, 1, 3]),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=60, deadline=None)
def test_fde_topk_int8_equals_integer_reference(isa, n, dim, k, use_allowed, threads, seed) -> None:
    rng = np.random.default_rng(seed)
    codes = rng.integers(-127, 128, (n, dim), dtype=np.int8)
    if n and seed % 4 == 0:
        codes[: n // 2] = codes[n // 2 : 2 * (n // 2)]  # equal rows: ties go to the lower index
    q = rng.integers(-127, 128, dim, dtype=np.int8)
    if seed % 5 == 0:
        q[:], codes[:] = -127, -127  # extreme codes: the byte products at their limit
    qs = np.float32(rng.uniform(0, 0.02))
    scales = rng.uniform(0, 0.02, n).astype(np.float32)
    allowed = rng.integers(0, 2, n, dtype=np.uint8) if use_allowed else None
    ref = ((codes.astype(np.int64) @ q.astype(np.int64)).astype(np.float32) * scales) * qs
    pool = [i for i in range(n) if allowed is None or allowed[i]]
    want = ranked(ref, pool)[:k]
    idx, sc = _native.fde_topk_int8(q, float(qs), codes, scales, k, allowed=allowed, threads=threads, isa=isa)
    assert idx.tolist() == want
    np.testing.assert_array_equal(sc, ref[want])


def test_fde_topk_int8_keeps_the_float32_order_on_muvera_encodings() -> None:
    """The int8 codes of real MUVERA encodings choose nearly the pool the float32 encodings choose."""
    rng = np.random.default_rng(3)
    lens = rng.integers(20, 60, 2000)
    tok = rng.standard_normal((int(lens.sum()), 32)).astype(np.float32)
    tok /= np.linalg.norm(tok, axis=1, keepdims=True)
    fdes = _native.muvera_encode(tok, offsets_of(list(lens)), is_query=False)
    q = tok[:8] + 0.3 * rng.standard_normal((8, 32)).astype(np.float32)
    qf = _native.muvera_encode(q, np.array([0, 8], np.int64), is_query=True)[0]
    f32, _ = _native.fde_topk(qf, fdes, 100)
    codes, scales = _native.quantize_int8(fdes)
    qc, qsc = _native.quantize_int8(qf[None, :])
    i8, _ = _native.fde_topk_int8(qc[0], float(qsc[0]), codes, scales, 100)
    assert len(set(f32.tolist()) & set(i8.tolist())) >= 90


def test_fde_topk_int8_rejects_bad_arguments() -> None:
    q, c, s = np.zeros(4, np.int8), np.zeros((3, 4), np.int8), np.ones(3, np.float32)
    with pytest.raises(ValueError, match="columns"):
        _native.fde_topk_int8(q, 1.0, np.zeros((3, 5), np.int8), s, 1)
    with pytest.raises(ValueError, match="scales"):
        _native.fde_topk_int8(q, 1.0, c, np.ones(2, np.float32), 1)
    with pytest.raises(ValueError, match="allowed"):
        _native.fde_topk_int8(q, 1.0, c, s, 1, allowed=np.ones(2, np.uint8))
    with pytest.raises(ValueError, match="int8"):
        _native.fde_topk_int8(q.astype(np.float32), 1.0, c, s, 1)
    with pytest.raises(ValueError, match="query_scale"):
        _native.fde_topk_int8(q, float("nan"), c, s, 1)
    with pytest.raises(ValueError, match="k"):
        _native.fde_topk_int8(q, 1.0, c, s, -1)
    with pytest.raises(ValueError, match="isa"):
        _native.fde_topk_int8(q, 1.0, c, s, 1, isa="sse9")

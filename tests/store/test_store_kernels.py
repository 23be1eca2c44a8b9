"""The Rust kernels of the store (fusion, BM25, MUVERA) against plain Python/numpy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from colweave import _native

# --- fusion --------------------------------------------------------------------------------------------


def ref_fuse(legs: list[tuple[list[int], list[float], float]], fusion: str) -> list[tuple[int, float]]:
    """weaviate.md §3, in float32 like Weaviate."""
    f32 = np.float32
    total: dict[int, np.float32] = {}
    for keys, scores, w in legs:
        lo, hi = (min(scores), max(scores)) if scores else (0.0, 0.0)
        for rank, (k, s) in enumerate(zip(keys, scores, strict=True)):
            if fusion == "relativeScore":
                part = f32(w) if f32(hi) == f32(lo) else f32(w) * ((f32(s) - f32(lo)) / (f32(hi) - f32(lo)))
            else:
                part = f32(w / (rank + 60))
            total[k] = f32(total.get(k, f32(0)) + part)
    return sorted(((k, float(v)) for k, v in total.items()), key=lambda kv: (-kv[1], kv[0]))


@st.composite
def legs(draw: st.DrawFn) -> list[tuple[list[int], list[float], float]]:
    out = []
    for _ in range(draw(st.integers(1, 3))):
        keys = draw(st.lists(st.integers(0, 40), unique=True, max_size=25))
        scores = sorted(
            draw(st.lists(st.floats(-50, 50, width=32), min_size=len(keys), max_size=len(keys))), reverse=True
        )
        out.append((keys, scores, draw(st.floats(0, 1))))
    return out


@pytest.mark.parametrize("fusion", ["relativeScore", "ranked"])
@given(data=legs())
def test_fuse_matches_reference(fusion: str, data: list) -> None:
    keys, scores, contrib = _native.fuse(
        [np.asarray(k, np.uint64) for k, _, _ in data],
        [np.asarray(s, np.float32) for _, s, _ in data],
        [w for _, _, w in data],
        fusion,
    )
    want = ref_fuse(data, fusion)
    assert keys.tolist() == [k for k, _ in want]
    np.testing.assert_allclose(scores, [s for _, s in want], rtol=1e-5, atol=1e-6)
    assert contrib.shape == (len(keys), len(data))
    for i, k in enumerate(keys.tolist()):
        for leg, (lk, _, _) in enumerate(data):
            assert np.isnan(contrib[i, leg]) == (k not in lk)


def test_fuse_rejects_bad_input() -> None:
    with pytest.raises(_native.InvalidArgumentError, match=r"^fusion"):
        _native.fuse([], [], [], "rrf")  # type: ignore[arg-type]
    with pytest.raises(_native.InvalidArgumentError, match=r"^weights"):
        _native.fuse([np.zeros(1, np.uint64)], [np.zeros(1, np.float32)], [])
    with pytest.raises(_native.InvalidArgumentError, match=r"^keys"):
        _native.fuse([np.zeros(2, np.uint64)], [np.zeros(2, np.float32)], [1.0])
    with pytest.raises(_native.InvalidArgumentError, match=r"^scores"):
        _native.fuse([np.zeros(1, np.uint64)], [np.zeros(1, np.float64)], [1.0])  # type: ignore[list-item]


# --- BM25 ----------------------------------------------------------------------------------------------


def ref_bm25(
    docs: list[list[list[str]]], query: list[tuple[int, str, float]], k1: float, b: float
) -> list[tuple[int, float]]:
    """docs[d][field] = tokens (or [] when absent); query = (field, term, weight)."""
    n_obj = len(docs)
    scores: dict[int, float] = {}
    for field, term, w in query:
        present = [d for d in range(n_obj) if docs[d][field]]
        avg = sum(len(docs[d][field]) for d in present) / len(present) if present else 0.0
        n = sum(1 for d in range(n_obj) if term in docs[d][field])
        if n == 0:
            continue
        idf = math.log(1 + (n_obj - n + 0.5) / (n + 0.5))
        for d in range(n_obj):
            f = docs[d][field].count(term)
            if f:
                ln = len(docs[d][field])
                scores[d] = scores.get(d, 0.0) + w * idf * f / (f + k1 * (1 - b + b * ln / avg))
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


words = st.sampled_from(["cat", "dog", "the", "film", "holiday", "x", "y", "zebra"])


@given(
    docs=st.lists(st.lists(st.lists(words, max_size=12), min_size=2, max_size=2), min_size=1, max_size=30),
    query=st.lists(st.tuples(st.integers(0, 1), words, st.floats(0.1, 3)), min_size=1, max_size=5),
    k1=st.floats(0, 3),
    b=st.floats(0, 1),
    k=st.integers(0, 40),
)
def test_bm25_matches_reference(docs: list, query: list, k1: float, b: float, k: int) -> None:
    # Each (field, term) once, as the store sends it (query multiplicity is in the weight).
    seen: dict[tuple[int, str], float] = {}
    for f, t, w in query:
        seen[(f, t)] = seen.get((f, t), 0.0) + w
    query = [(f, t, w) for (f, t), w in seen.items()]
    lens = [np.asarray([len(d[f]) for d in docs], np.float32) for f in range(2)]
    avgs = []
    for f in range(2):
        present = [len(d[f]) for d in docs if d[f]]
        avgs.append(sum(present) / len(present) if present else 0.0)
    tdocs, tfreqs, tfields, tweights = [], [], [], []
    for f, t, w in query:
        ds = [i for i, d in enumerate(docs) if t in d[f]]
        tdocs.append(np.asarray(ds, np.uint32))
        tfreqs.append(np.asarray([docs[i][f].count(t) for i in ds], np.float32))
        tfields.append(f)
        tweights.append(w)
    ids, scores = _native.bm25_topk(
        tdocs, tfreqs, tfields, tweights, lens, avgs, n_objects=len(docs), k1=k1, b=b, k=k
    )
    want = ref_bm25(docs, query, k1, b)[:k]
    np.testing.assert_allclose(scores, [s for _, s in want], rtol=1e-5, atol=1e-6)
    # Same order wherever scores are distinguishable (float32 may merge near-ties).
    got_scores = dict(zip(ids.tolist(), scores.tolist(), strict=True))
    assert set(got_scores) <= {d for d, _ in ref_bm25(docs, query, k1, b)}
    for (d, s), gd in zip(want, ids.tolist(), strict=True):
        assert d == gd or abs(got_scores[gd] - s) < 1e-5


def test_bm25_allowed_mask_and_errors() -> None:
    docs = [np.asarray([0, 1, 2], np.uint32)]
    freqs = [np.asarray([1, 2, 3], np.float32)]
    lens = [np.asarray([3, 3, 3], np.float32)]
    ids, _ = _native.bm25_topk(docs, freqs, [0], [1.0], lens, [3.0], n_objects=3, k1=1.2, b=0.75, k=5)
    assert ids.tolist() == [2, 1, 0]
    ids, _ = _native.bm25_topk(
        docs,
        freqs,
        [0],
        [1.0],
        lens,
        [3.0],
        n_objects=3,
        k1=1.2,
        b=0.75,
        k=5,
        allowed=np.array([1, 0, 0], np.uint8),
    )
    assert ids.tolist() == [0]
    # An explicit document frequency replaces the posting list's length in the idf.
    _, s_default = _native.bm25_topk(docs, freqs, [0], [1.0], lens, [3.0], n_objects=10, k1=1.2, b=0.75, k=1)
    _, s_df = _native.bm25_topk(
        docs, freqs, [0], [1.0], lens, [3.0], n_objects=10, k1=1.2, b=0.75, k=1, term_dfs=[1.0]
    )
    ratio = math.log(1 + (10 - 1 + 0.5) / 1.5) / math.log(1 + (10 - 3 + 0.5) / 3.5)
    np.testing.assert_allclose(s_df[0] / s_default[0], ratio, rtol=1e-6)
    with pytest.raises(_native.InvalidArgumentError, match=r"^term_dfs"):
        _native.bm25_topk(docs, freqs, [0], [1.0], lens, [3.0], n_objects=3, k1=1.2, b=0.75, k=1, term_dfs=[])
    with pytest.raises(_native.InvalidArgumentError, match=r"^docs"):
        _native.bm25_topk(
            [np.asarray([5], np.uint32)],
            [np.ones(1, np.float32)],
            [0],
            [1.0],
            lens,
            [3.0],
            n_objects=3,
            k1=1.2,
            b=0.75,
            k=1,
        )
    with pytest.raises(_native.InvalidArgumentError, match=r"^b"):
        _native.bm25_topk(docs, freqs, [0], [1.0], lens, [3.0], n_objects=3, k1=1.2, b=1.5, k=1)
    with pytest.raises(_native.InvalidArgumentError, match=r"^term_docs"):
        _native.bm25_topk(
            [np.asarray([0], np.int64)], freqs, [0], [1.0], lens, [3.0], n_objects=3, k1=1, b=0, k=1
        )  # type: ignore[list-item]


# --- MUVERA --------------------------------------------------------------------------------------------

M64 = (1 << 64) - 1


class RefSplitMix:
    def __init__(self, seed: int) -> None:
        self.s = seed & M64

    def next(self) -> int:
        self.s = (self.s + 0x9E3779B97F4A7C15) & M64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def unit(self) -> float:
        return ((self.next() >> 11) + 1.0) / float(1 << 53)

    def gaussian(self) -> float:
        u, v = self.unit(), self.unit()
        return math.sqrt(-2.0 * math.log(u)) * math.cos(2 * math.pi * v)


def ref_fde(tokens: np.ndarray, ksim: int, dproj: int, reps: int, seed: int, is_query: bool) -> np.ndarray:
    """The documented construction, from the same seeded random stream, in float64."""
    dim = tokens.shape[1]
    rng = RefSplitMix(seed)
    scale = np.float32(1 / math.sqrt(dproj))
    out = []
    for _ in range(reps):
        planes = np.array([rng.gaussian() for _ in range(ksim * dim)], np.float32).reshape(ksim, dim)
        signs = [scale if rng.next() >> 63 == 0 else -scale for _ in range(dproj * dim)]
        proj = np.array(signs, np.float32).reshape(dproj, dim)
        codes = [(sum(1 << j for j in range(ksim) if planes[j] @ t > 0)) for t in tokens.astype(np.float64)]
        p = tokens.astype(np.float64) @ proj.T.astype(np.float64)
        block = np.zeros((1 << ksim, dproj))
        counts = np.zeros(1 << ksim)
        for t, c in enumerate(codes):
            block[c] += p[t]
            counts[c] += 1
        if not is_query:
            for bkt in range(1 << ksim):
                if counts[bkt] > 0:
                    block[bkt] /= counts[bkt]
                else:
                    nearest = min(range(len(codes)), key=lambda t: (bin(codes[t] ^ bkt).count("1"), t))
                    block[bkt] = p[nearest]
        out.append(block.ravel())
    return np.concatenate(out)


@pytest.mark.parametrize("is_query", [False, True])
def test_muvera_matches_reference(is_query: bool) -> None:
    rng = np.random.default_rng(3)
    lens = [5, 1, 9]
    data = rng.standard_normal((sum(lens), 8)).astype(np.float32)
    offsets = np.array([0, 5, 6, 15], np.int64)
    got = _native.muvera_encode(
        data, offsets, is_query=is_query, ksim=3, dprojections=4, repetitions=3, seed=11
    )
    assert got.shape == (3, 3 * 8 * 4)
    for i in range(3):
        want = ref_fde(data[offsets[i] : offsets[i + 1]], 3, 4, 3, 11, is_query)
        np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-5)


def test_muvera_dot_products_track_maxsim() -> None:
    """FDE dot products rank documents roughly like MaxSim (the point of the encoding)."""
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((20, 32))
    docs = []
    for _ in range(60):
        c = centers[rng.integers(0, 20, 30)]
        d = c + 0.3 * rng.standard_normal(c.shape)
        docs.append((d / np.linalg.norm(d, axis=1, keepdims=True)).astype(np.float32))
    q = docs[7][:6] + 0.05 * rng.standard_normal((6, 32)).astype(np.float32)
    q = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
    data = np.concatenate(docs)
    offsets = np.arange(0, 61 * 30, 30, dtype=np.int64)
    fdes = _native.muvera_encode(data, offsets, is_query=False)
    qf = _native.muvera_encode(q, np.array([0, 6], np.int64), is_query=True)[0]
    idx, _ = _native.fde_topk(qf, fdes, 5)
    assert 7 in idx.tolist()
    exact = np.array([(q @ d.T).max(1).sum() for d in docs])
    approx = fdes @ qf
    assert np.corrcoef(exact, approx)[0, 1] > 0.5


def test_fde_topk_matches_numpy() -> None:
    rng = np.random.default_rng(1)
    fdes = rng.standard_normal((1000, 64)).astype(np.float32)
    q = rng.standard_normal(64).astype(np.float32)
    allowed = (rng.random(1000) < 0.3).astype(np.uint8)
    idx, scores = _native.fde_topk(q, fdes, 10, allowed=allowed, threads=2)
    ref = fdes.astype(np.float64) @ q.astype(np.float64)
    ref[allowed == 0] = -np.inf
    want = np.argsort(-ref, kind="stable")[:10]
    assert idx.tolist() == want.tolist()
    np.testing.assert_allclose(scores, ref[want], rtol=1e-5, atol=1e-5)


def test_muvera_rejects_bad_params() -> None:
    data = np.zeros((2, 4), np.float32)
    offsets = np.array([0, 2], np.int64)
    with pytest.raises(_native.InvalidArgumentError, match=r"^ksim"):
        _native.muvera_encode(data, offsets, is_query=False, ksim=11)
    with pytest.raises(_native.InvalidArgumentError, match=r"^repetitions"):
        _native.muvera_encode(data, offsets, is_query=False, repetitions=0)
    with pytest.raises(_native.InvalidArgumentError, match=r"^offsets"):
        _native.muvera_encode(data, np.array([0, 3], np.int64), is_query=False)
    with pytest.raises(_native.InvalidArgumentError, match=r"^data"):
        _native.muvera_encode(data.astype(np.float64), offsets, is_query=False)  # type: ignore[arg-type]
    with pytest.raises(_native.InvalidArgumentError, match=r"^fdes"):
        _native.fde_topk(np.zeros(3, np.float32), np.zeros((2, 4), np.float32), 1)

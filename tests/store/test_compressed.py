"""Weaviate's quantizers on a multi-vector index (compact copies + exact rescoring) and token pooling at
import, against numpy references of the same codes (sign bits by ``np.packbits``, int8 by ``np.rint``),
exact float64 MaxSim on the stored fp16 rows, and scipy's Ward clustering."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from store_ref import stored

from colweave._native import muvera_encode
from colweave.store import CollectionConfig, DataObject, Filter, MuveraConfig, Property, SchemaError, Store
from colweave.store.collection import Collection
from colweave.store.schema import VectorConfig
from colweave.store.segments import MUVERA_SEED

DIM = 24
WAIT_S = 20  # bound on a wait for a write in another thread

# -- references ------------------------------------------------------------------------------------------


def ref_signs(x: np.ndarray) -> np.ndarray:
    """±1 of each value (sign bit set when > 0), as the binary codes hold them."""
    return np.where(np.asarray(x) > 0, 1, -1).astype(np.int64)


def ref_bits(x: np.ndarray) -> np.ndarray:
    """Sign bits packed little-endian into uint64 words."""
    words = -(-x.shape[1] // 64)
    bits = np.zeros((x.shape[0], words * 64), bool)
    bits[:, : x.shape[1]] = x > 0
    return np.packbits(bits, axis=1, bitorder="little").view("<u8").astype(np.uint64)


def ref_int8(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, np.float32)
    scale = (np.abs(x).max(axis=1) / np.float32(127)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1))[:, None]
    return np.clip(np.rint(x / safe), -127, 127).astype(np.int64), scale


def ref_compact_score(kind: str, q: np.ndarray, d: np.ndarray) -> float:
    """MaxSim of query ``q`` and page ``d`` (stored rows) on the codes of ``kind``."""
    if kind == "binary":
        return float((ref_signs(q) @ ref_signs(d).T).max(axis=1).sum())
    qc, qs = ref_int8(q)
    dc, ds = ref_int8(d)
    m = ((qc @ dc.T).astype(np.float32) * ds[None, :]).max(axis=1)
    return float((m * qs).astype(np.float64).sum())


def ref_fde_int8_scores(qf: np.ndarray, fdes: np.ndarray, cands: list[int]) -> dict[int, float]:
    """Scores of MUVERA encodings on their int8 codes: the integer dot product, then
    ``(float32(dot) * scale_row) * scale_query`` in float32, as the store's copy scores them."""
    qc, qs = ref_int8(qf[None, :])
    dc, ds = ref_int8(fdes)
    dots = (dc @ qc[0]).astype(np.float32)
    sc = (dots * ds) * qs[0]
    return {i: float(sc[i]) for i in cands}


def exact(q: np.ndarray, d: np.ndarray) -> float:
    return float((np.asarray(q, np.float64) @ np.asarray(d, np.float64).T).max(axis=1).sum())


def ranked(scores: dict[int, float], n: int) -> list[int]:
    """The ``n`` best keys, ties to the lower key (slot order), as the kernels break them."""
    return sorted(scores, key=lambda i: (-scores[i], i))[:n]


def unit(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def ref_search(
    kind: str | None,
    q: np.ndarray,
    pages: list[np.ndarray],
    k: int,
    rescore: int,
    allowed: list[int] | None = None,
    fde_pool: int | None = None,
    muvera: MuveraConfig | None = None,
    fde_pages: list[np.ndarray] | None = None,
    fde_int8: bool | None = None,
) -> list[tuple[int, float]]:
    """Reference pipeline over ``pages`` (stored fp16 rows, in slot order): MUVERA candidates
    (``fde_pool``; the encodings are made from the normalised float32 rows ``fde_pages``, as written, and
    scored on their int8 codes when there is a compact copy, ``fde_int8`` defaulting to ``kind is not
    None``), then the best ``max(rescore, k)`` by compact MaxSim, then exact MaxSim (distance)."""
    qn = unit(q)
    cands = list(range(len(pages))) if allowed is None else sorted(allowed)
    if fde_pool is not None and muvera is not None and fde_pool < len(cands):
        kw: dict[str, Any] = {
            "ksim": muvera.ksim,
            "dprojections": muvera.dprojections,
            "repetitions": muvera.repetitions,
            "seed": MUVERA_SEED,
        }
        qf = muvera_encode(qn, np.array([0, len(qn)], np.int64), is_query=True, **kw)[0]
        assert fde_pages is not None
        f32 = [unit(p) for p in fde_pages]
        offs = np.zeros(len(pages) + 1, np.int64)
        np.cumsum([len(p) for p in pages], out=offs[1:])
        fdes = muvera_encode(np.concatenate(f32), offs, is_query=False, **kw)
        if fde_int8 if fde_int8 is not None else kind is not None:
            fs = ref_fde_int8_scores(qf, fdes, cands)
        else:
            fs = {i: float(qf.astype(np.float64) @ fdes[i].astype(np.float64)) for i in cands}
        cands = sorted(ranked(fs, fde_pool))
    if kind is not None and max(rescore, k) < len(cands):
        cs = {i: ref_compact_score(kind, qn, pages[i]) for i in cands}
        cands = ranked(cs, max(rescore, k))
    ex = {i: exact(qn, pages[i]) for i in cands}
    return [(i, -ex[i]) for i in ranked(ex, k)]


# -- helpers ---------------------------------------------------------------------------------------------

QUANTIZERS: dict[str, tuple[dict[str, Any], str]] = {  # name: (vectorIndexConfig part, copy kind)
    "bq": ({"bq": {"enabled": True, "rescoreLimit": 7}}, "binary"),
    "rq1": ({"rq": {"enabled": True, "bits": 1, "rescoreLimit": 7}}, "binary"),
    "sq": ({"sq": {"enabled": True, "rescoreLimit": 7}}, "int8"),
    "rq8": ({"rq": {"enabled": True, "bits": 8, "rescoreLimit": 7}}, "int8"),
    "rq4": ({"rq": {"enabled": True, "bits": 4, "rescoreLimit": 7}}, "int8"),
    "pq": ({"pq": {"enabled": True, "segments": 4, "centroids": 16}}, "int8"),
}


def vector_config(
    quantizer: dict[str, Any] | None = None,
    *,
    muvera: bool = False,
    pool: int | None = None,
    module: str = "none",
    extra_index: dict[str, Any] | None = None,
) -> VectorConfig:
    mcfg: dict[str, Any] = {} if module == "none" else {"imageFields": ["page"]}
    if pool is not None:
        mcfg["colweavePooling"] = {"poolFactor": pool}
    idx: dict[str, Any] = {"multivector": {"enabled": True, "muvera": {"enabled": muvera}}}
    idx.update(copy.deepcopy(quantizer or {}))
    idx.update(extra_index or {})
    return VectorConfig.from_weaviate("v", {"vectorizer": {module: mcfg}, "vectorIndexConfig": idx})


def make(store: Store, vc: VectorConfig, name: str = "Pages") -> Collection:
    props = [Property.create("n", "int"), Property.create("page", "blob")]
    return store.create_collection(CollectionConfig(name, properties=props, vectors={"v": vc}))


def pages(n: int, seed: int = 0) -> list[np.ndarray]:
    """Pages that share structure (a few topic centres), so that the compact order differs from exact."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((6, DIM)).astype(np.float32)
    out = []
    for _ in range(n):
        t = int(rng.integers(4, 20))
        out.append(centres[rng.integers(0, 6, t)] + 0.8 * rng.standard_normal((t, DIM)).astype(np.float32))
    return out


def uid(i: int) -> str:
    return str(uuidlib.UUID(int=i + 1))


def fill(c: Collection, raw: list[np.ndarray]) -> None:
    res = c.insert_many([DataObject({"n": i}, uuid=uid(i), vectors={"v": v}) for i, v in enumerate(raw)])
    assert not res.errors


def got(c: Collection, q: np.ndarray, k: int, **kw: Any) -> list[tuple[int, float]]:
    return [
        (int(uuidlib.UUID(r.uuid).int) - 1, float(r.metadata.distance))
        for r in c.near_vector(q, limit=k, **kw)
    ]


def assert_same(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> None:
    assert [i for i, _ in a] == [i for i, _ in b]
    np.testing.assert_allclose([d for _, d in a], [d for _, d in b], rtol=1e-5, atol=1e-5)


# -- schema ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("part", "expected", "kind", "rescore"),
    [
        ({"bq": {"enabled": True}}, {"bq": {"enabled": True}}, "binary", 512),
        (
            {"bq": {"enabled": True, "rescoreLimit": 50, "cache": True}},
            {"bq": {"enabled": True, "rescoreLimit": 50, "cache": True}},
            "binary",
            50,
        ),
        (
            {"sq": {"enabled": True}},
            {"sq": {"enabled": True, "trainingLimit": 100000, "rescoreLimit": 20}},
            "int8",
            20,
        ),
        (
            {"sq": {"enabled": True, "rescoreLimit": 30, "trainingLimit": 1000}},
            {"sq": {"enabled": True, "trainingLimit": 1000, "rescoreLimit": 30}},
            "int8",
            30,
        ),
        ({"rq": {"enabled": True}}, {"rq": {"enabled": True, "bits": 8, "rescoreLimit": 20}}, "int8", 20),
        (
            {"rq": {"enabled": True, "bits": 4}},
            {"rq": {"enabled": True, "bits": 4, "rescoreLimit": 20}},
            "int8",
            20,
        ),
        # Weaviate: 1-bit RQ without a rescore limit rescores 512.
        (
            {"rq": {"enabled": True, "bits": 1}},
            {"rq": {"enabled": True, "bits": 1, "rescoreLimit": 512}},
            "binary",
            512,
        ),
        (
            {"rq": {"enabled": True, "bits": 1, "rescoreLimit": 64}},
            {"rq": {"enabled": True, "bits": 1, "rescoreLimit": 64}},
            "binary",
            64,
        ),
        (
            {"pq": {"enabled": True, "segments": 16, "centroids": 64, "encoder": {}, "trainingLimit": 500}},
            {
                "pq": {
                    "enabled": True,
                    "bitCompression": False,
                    "segments": 16,
                    "centroids": 64,
                    "trainingLimit": 500,
                    "encoder": {"type": "kmeans", "distribution": "log-normal"},
                }
            },
            "int8",
            20,
        ),
    ],
)
def test_quantizer_configs_round_trip(
    tmp_path: Path, part: dict, expected: dict, kind: str, rescore: int
) -> None:
    for muvera in (False, True):
        vc = vector_config(part, muvera=muvera)
        out = vc.to_weaviate()["vectorIndexConfig"]
        (q,) = expected
        assert out[q] == expected[q]
        for other in {"pq", "bq", "sq", "rq"} - {q}:
            assert not out[other]["enabled"]
        assert (vc.compression.kind, vc.compression.rescore_limit) == (kind, rescore)
        cfg = CollectionConfig("Rt", properties=[], vectors={"v": vc})
        again = CollectionConfig.from_weaviate(cfg.to_weaviate())
        assert again.to_weaviate() == cfg.to_weaviate()
        with Store(tmp_path / f"s{muvera}") as s:
            s.create_collection(cfg)
        with Store(tmp_path / f"s{muvera}") as s:
            assert s.get_collection("Rt").config.to_weaviate() == cfg.to_weaviate()


def test_pooling_config_round_trips_and_is_immutable() -> None:
    for module in ("none", "multi2multivec-weaviate"):
        vc = vector_config(pool=3, module=module)
        assert vc.pool_factor == 3
        props = [Property.create("page", "blob")]
        cfg = CollectionConfig("P", properties=props, vectors={"v": vc})
        body = cfg.to_weaviate()
        assert body["vectorConfig"]["v"]["vectorizer"][module]["colweavePooling"] == {"poolFactor": 3}
        assert CollectionConfig.from_weaviate(body).to_weaviate() == body
        changed = copy.deepcopy(body)
        changed["vectorConfig"]["v"]["vectorizer"][module]["colweavePooling"] = {"poolFactor": 2}
        with pytest.raises(SchemaError, match="immutable"):
            cfg.updated(changed)
    assert vector_config().pool_factor == 1


# -- search ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(QUANTIZERS))
def test_quantized_search_equals_reference_of_the_same_codes(store: Store, name: str) -> None:
    part, kind = QUANTIZERS[name]
    c = make(store, vector_config(part))
    raw = pages(90, seed=1)
    fill(c, raw)
    st = [stored(v) for v in raw]
    rescore = c.config.vectors["v"].compression.rescore_limit
    assert c._copies["v"].kind == kind
    rng = np.random.default_rng(5)
    for j in range(6):
        q = raw[int(rng.integers(90))][:5] + 0.3 * rng.standard_normal((5, DIM)).astype(np.float32)
        for k in (3, 10):
            assert_same(got(c, q, k), ref_search(kind, q, st, k, rescore))
        # within a filter (the compact scan runs over the filtered pages only)
        allowed = [i for i in range(90) if i % 3 != j % 3]
        flt = Filter.by_property("n").contains_any(allowed)
        assert_same(got(c, q, 4, filters=flt), ref_search(kind, q, st, 4, rescore, allowed))


def test_compressed_results_differ_from_exact_only_through_candidates(store: Store) -> None:
    """With few candidates the compact stage decides which pages are rescored (the reference above sees
    it), yet every distance returned is exact MaxSim of its page; with rescoreLimit ≥ pages it is exact."""
    raw = pages(90, seed=2)
    st = [stored(v) for v in raw]
    small = make(store, vector_config({"bq": {"enabled": True, "rescoreLimit": 3}}), "Small")
    fill(small, raw)
    full = make(store, vector_config({"bq": {"enabled": True, "rescoreLimit": 1000}}), "Full")
    fill(full, raw)
    rng = np.random.default_rng(3)
    differs = 0
    for _ in range(12):
        q = rng.standard_normal((4, DIM)).astype(np.float32)
        a = got(small, q, 3)
        for i, d in a:
            assert d == pytest.approx(-exact(unit(q), st[i]), abs=1e-5)
        assert_same(got(full, q, 3), ref_search(None, q, st, 3, 0))
        differs += [i for i, _ in a] != [i for i, _ in got(full, q, 3)]
    assert differs > 0  # the compact stage really is in the path


@pytest.mark.parametrize("name", ["bq", "sq"])
def test_muvera_then_compact_then_exact_equals_reference(store: Store, name: str) -> None:
    part, kind = QUANTIZERS[name]
    c = make(store, vector_config(part, muvera=True, extra_index={"ef": 20}))
    raw = pages(80, seed=4)
    fill(c, raw)
    st = [stored(v) for v in raw]
    rng = np.random.default_rng(6)
    mu = c.config.vectors["v"].muvera
    for _ in range(5):
        q = raw[int(rng.integers(80))][:6] + 0.3 * rng.standard_normal((6, DIM)).astype(np.float32)
        assert_same(got(c, q, 5), ref_search(kind, q, st, 5, 7, fde_pool=20, muvera=mu, fde_pages=raw))


@pytest.mark.parametrize("name", ["bq", "sq"])
def test_muvera_candidates_are_chosen_on_the_int8_encodings(store: Store, name: str) -> None:
    """With a compact copy, the MUVERA pool comes from the int8 codes of the encodings (a quarter of the
    float32 bytes to scan), not from the float32 encodings: with the limit equal to ``ef`` and every
    candidate rescored, the results are exactly the pool, so the two choices are told apart."""
    part = {next(iter(QUANTIZERS[name][0])): {"enabled": True, "rescoreLimit": 64}}
    kind = QUANTIZERS[name][1]
    c = make(store, vector_config(part, muvera=True, extra_index={"ef": 20}))
    raw = pages(120, seed=11)
    fill(c, raw)
    st = [stored(v) for v in raw]
    rng = np.random.default_rng(12)
    mu = c.config.vectors["v"].muvera
    differs = 0
    for _ in range(30):
        q = raw[int(rng.integers(120))][:4] + 0.5 * rng.standard_normal((4, DIM)).astype(np.float32)
        want = ref_search(kind, q, st, 20, 64, fde_pool=20, muvera=mu, fde_pages=raw)
        assert_same(got(c, q, 20), want)
        f32 = ref_search(kind, q, st, 20, 64, fde_pool=20, muvera=mu, fde_pages=raw, fde_int8=False)
        differs += {i for i, _ in want} != {i for i, _ in f32}
    assert differs > 0  # the queries do tell int8 from float32 candidates apart


def test_codes_follow_replacements_deletes_compaction_and_reopen(tmp_path: Path) -> None:
    raw = pages(60, seed=7)
    s = Store(tmp_path)
    c = make(s, vector_config(QUANTIZERS["sq"][0], muvera=True, extra_index={"ef": 30}))
    fill(c, raw)
    rng = np.random.default_rng(8)
    for i in range(0, 60, 4):  # replace a quarter with new vectors
        raw[i] = rng.standard_normal((int(rng.integers(3, 15)), DIM)).astype(np.float32)
        c.replace(uid(i), {"n": i}, vectors={"v": raw[i]})
    gone = set(range(1, 60, 2))
    c.delete_many(ids=[uid(i) for i in sorted(gone)])  # more than half dead: compacted
    assert c._segments["v"].dead_rows() == 0
    live = [i for i in range(60) if i not in gone]

    def check(col: Collection) -> None:
        snap = col._segments["v"].snapshot()
        view = col._copies["v"].view()
        rows = np.asarray(snap.rows, np.float32)
        assert view.codes.int8 is not None
        assert view.codes.scales is not None
        codes, scales = ref_int8(rows)
        np.testing.assert_array_equal(view.codes.int8, codes)
        np.testing.assert_array_equal(view.codes.scales, scales)
        order = [int(uuidlib.UUID(col._recs[int(d)].uuid).int) - 1 for d in snap.slot_doc[snap.live]]
        st = [stored(raw[i]) for i in order]
        mu = col.config.vectors["v"].muvera
        for j in range(4):
            q = raw[live[j * 5]][:4]
            want = [
                (order[i], d)
                for i, d in ref_search(
                    "int8", q, st, 4, 7, fde_pool=30, muvera=mu, fde_pages=[raw[i] for i in order]
                )
            ]
            assert_same(got(col, q, 4), want)

    check(c)
    s.close()
    (cache,) = tmp_path.rglob("v.*.int8.copy")
    with Store(tmp_path) as s2:  # from the cache a clean close saved
        check(s2.get_collection("Pages"))
    for damage in (b"not a copy", cache.read_bytes()[:5000]):  # a damaged cache: encoded from the rows
        cache.write_bytes(damage)
        with Store(tmp_path) as s3:
            check(s3.get_collection("Pages"))


def test_quantizer_turned_on_changed_and_off_by_a_class_update(store: Store) -> None:
    """As Weaviate allows: compression can be enabled on a populated index (the copy is built from the
    stored vectors) and changed; rq bits are immutable once on."""
    raw = pages(70, seed=9)
    st = [stored(v) for v in raw]
    c = make(store, vector_config())
    fill(c, raw)
    q = raw[3][:5]
    assert "v" not in c._copies
    assert_same(got(c, q, 5), ref_search(None, q, st, 5, 0))
    for part, kind in (QUANTIZERS["bq"], QUANTIZERS["rq8"], (None, None)):
        body = c.config.to_weaviate()
        idx = body["vectorConfig"]["v"]["vectorIndexConfig"]
        for other in ("pq", "bq", "sq", "rq"):
            idx[other]["enabled"] = False
        for key, val in (part or {}).items():
            idx[key].update(val)
        c.update_config(c.config.updated(body))
        assert (c._copies["v"].kind if "v" in c._copies else None) == kind
        assert_same(got(c, q, 5), ref_search(kind, q, st, 5, 7))
        if kind is not None:
            fill(c, raw[:3])  # writes after the change carry codes too
            assert c._copies["v"].rows == c._segments["v"].rows
    body = c.config.to_weaviate()
    body["vectorConfig"]["v"]["vectorIndexConfig"]["rq"].update({"enabled": True, "bits": 8})
    c.update_config(c.config.updated(body))
    body = c.config.to_weaviate()
    body["vectorConfig"]["v"]["vectorIndexConfig"]["rq"]["bits"] = 1
    with pytest.raises(SchemaError, match="rq bits is immutable"):
        c.config.updated(body)


# -- pooling ---------------------------------------------------------------------------------------------


def ref_pool(x: np.ndarray, factor: int) -> np.ndarray:
    """scipy's Ward clusters of the L2-normalised rows, ``n // factor`` of them, as re-normalised means,
    ordered by their first token."""
    u = unit(x).astype(np.float64)
    k = max(len(x) // factor, 1)
    if len(x) == 1:
        return u
    labels = fcluster(linkage(u, method="ward"), t=k, criterion="maxclust")
    groups = sorted(sorted(np.flatnonzero(labels == c_).tolist()) for c_ in np.unique(labels))
    means = np.stack([unit(x)[g].astype(np.float64).mean(axis=0) for g in groups])
    return means / np.linalg.norm(means, axis=1, keepdims=True)


@pytest.mark.parametrize("factor", [2, 3])
def test_pooling_self_provided_vectors_at_import(tmp_path: Path, factor: int) -> None:
    raw = pages(25, seed=10)
    s = Store(tmp_path)
    c = make(s, vector_config(QUANTIZERS["bq"][0], pool=factor))
    fill(c, raw)
    for i, v in enumerate(raw):
        obj = c.get(uid(i), include_vector=True)
        assert obj is not None
        want = ref_pool(v, factor)
        assert obj.vectors["v"].shape == want.shape
        np.testing.assert_allclose(obj.vectors["v"], want, atol=2e-3)  # fp16 storage
        assert c.token_counts(uid(i)) == (max(len(v) // factor, 1), len(v))
    q = raw[4][:3]
    res = c.near_vector(q, limit=3)
    for r in res:
        i = int(uuidlib.UUID(r.uuid).int) - 1
        assert r.tokens == {"v": (max(len(raw[i]) // factor, 1), len(raw[i]))}
    st = [stored(ref_pool(v, factor).astype(np.float32)) for v in raw]
    ref = ref_search("binary", q, st, 3, 7)
    assert [i for i, _ in got(c, q, 3)] == [i for i, _ in ref]
    # a replacement pools again; a deleted object has no counts; all survive a reopen
    raw[0] = np.random.default_rng(1).standard_normal((11, DIM)).astype(np.float32)
    c.replace(uid(0), {"n": 0}, vectors={"v": raw[0]})
    c.delete(uid(1))
    s.close()
    with Store(tmp_path) as s2:
        c2 = s2.get_collection("Pages")
        assert c2.token_counts(uid(0)) == (11 // factor, 11)
        assert c2.token_counts(uid(1)) is None
        assert c2.token_counts(uid(2)) == (max(len(raw[2]) // factor, 1), len(raw[2]))


def test_pooling_vectorized_pages_and_unpooled_counts(store: Store, vectorizer: Any) -> None:
    c = make(store, vector_config(pool=2, module="multi2multivec-weaviate"))
    imgs = [bytes([i]) * (10 + i) for i in range(6)]
    res = c.insert_many([DataObject({"n": i, "page": _b64(b)}, uuid=uid(i)) for i, b in enumerate(imgs)])
    assert not res.errors
    made = vectorizer.embed_images(imgs)
    for i, m in enumerate(made):
        obj = c.get(uid(i), include_vector=True)
        assert obj is not None
        np.testing.assert_allclose(obj.vectors["v"], ref_pool(m, 2), atol=2e-3)
        assert c.token_counts(uid(i)) == (len(m) // 2, len(m))
    plain = make(store, vector_config(), "Plain")
    fill(plain, pages(3))
    assert plain.token_counts(uid(0)) == (len(pages(3)[0]),) * 2
    assert plain.near_vector(pages(3)[0], limit=1)[0].tokens == {"v": (len(pages(3)[0]),) * 2}


def _b64(b: bytes) -> str:
    import base64

    return base64.b64encode(b).decode()


# -- kill -9 ---------------------------------------------------------------------------------------------

BATCH = 20
CHILD = textwrap.dedent(
    """
    import sys, uuid
    import numpy as np
    from colweave.store import DataObject, Store

    s = Store(sys.argv[1])
    c = s.get_collection("Dur")
    for b in range(10_000):
        objs = []
        for i in range(%(batch)d):
            n = b * 1000 + i + 1
            v = np.random.default_rng(n).standard_normal((30, %(dim)d)).astype(np.float32)
            objs.append(DataObject({"n": n}, uuid=uuid.UUID(int=n), vectors={"v": v}))
        print("BEGIN", b, flush=True)
        assert not c.insert_many(objs).errors
        print("ACK", b, flush=True)
    """
) % {"batch": BATCH, "dim": DIM}


@pytest.mark.parametrize("seed", range(3))
def test_sigkill_keeps_acknowledged_objects_with_their_codes(tmp_path: Path, seed: int) -> None:
    with Store(tmp_path) as s:
        c = make(s, vector_config(QUANTIZERS["bq"][0], muvera=True, pool=2, extra_index={"ef": 40}), "Dur")
        first = [900_001 + i for i in range(5)]
        for n in first:  # saved in the copy's cache by this clean close; the child's rows are not
            v = np.random.default_rng(n).standard_normal((30, DIM)).astype(np.float32)
            c.insert({"n": n}, uuid=uuidlib.UUID(int=n), vectors={"v": v})
    assert list(tmp_path.glob("*/v.0.binary.copy")) or list(tmp_path.rglob("v.0.binary.copy"))
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    acked: set[int] = set()
    target = 3 + seed
    while True:
        line = proc.stdout.readline()
        assert line, "the child died early"
        kind, b = line.split()
        if kind == "ACK":
            acked.add(int(b))
        elif len(acked) >= target:
            break  # kill right after a batch has begun (it is pooling and encoding)
    os.kill(proc.pid, signal.SIGKILL)
    for line in proc.stdout.read().splitlines():
        kind, b = line.split()
        if kind == "ACK":
            acked.add(int(b))
    proc.wait(30)
    watchdog.cancel()
    with Store(tmp_path) as s:
        c = s.get_collection("Dur")
        have = {int(uuidlib.UUID(r.uuid).int) for r in c.iterator()}
        want = {b * 1000 + i + 1 for b in acked for i in range(BATCH)} | set(first)
        assert want <= have
        snap = c._segments["v"].snapshot()
        view = c._copies["v"].view()
        np.testing.assert_array_equal(view.codes.bits, ref_bits(np.asarray(snap.rows, np.float32)))
        for n in sorted(want)[::7]:
            v = np.random.default_rng(n).standard_normal((30, DIM)).astype(np.float32)
            hit = c.near_vector(v, limit=1)[0]
            assert hit.uuid == str(uuidlib.UUID(int=n))
            assert hit.tokens == {"v": (15, 30)}
            pooled = ref_pool(v, 2)
            assert hit.metadata.distance == pytest.approx(
                -exact(unit(v), stored(pooled.astype(np.float32))), abs=1e-4
            )


# -- single vectors next to multi-vectors ------------------------------------------------------------------


def single_config(part: dict[str, Any]) -> VectorConfig:
    idx = {"distance": "cosine", **copy.deepcopy(part)}
    return VectorConfig.from_weaviate("s", {"vectorizer": {"none": {}}, "vectorIndexConfig": idx})


def make_mixed(store: Store, s_part: dict[str, Any], v: VectorConfig) -> Collection:
    props = [Property.create("n", "int")]
    return store.create_collection(
        CollectionConfig("Mixed", properties=props, vectors={"v": v, "s": single_config(s_part)})
    )


@pytest.mark.parametrize("name", ["bq", "sq", "rq1", "pq"])
def test_single_vector_keeps_its_quantizer_settings_and_is_searched_exactly(store: Store, name: str) -> None:
    """A single vector's compression settings round-trip, but it has no compact copy and no token counts:
    its search is the exact cosine ranking (numpy), while the multi-vector next to it keeps its copy."""
    part = copy.deepcopy(QUANTIZERS[name][0])
    c = make_mixed(store, part, vector_config(QUANTIZERS["sq"][0]))
    idx = c.config.to_weaviate()["vectorConfig"]["s"]["vectorIndexConfig"]
    for q, settings in part.items():
        assert {k: idx[q][k] for k in settings} == settings
    rng = np.random.default_rng(3)
    singles = rng.standard_normal((40, DIM)).astype(np.float32)
    raw = pages(40, seed=4)
    res = c.insert_many(
        [DataObject({"n": i}, uuid=uid(i), vectors={"v": raw[i], "s": singles[i]}) for i in range(40)]
    )
    assert not res.errors
    assert set(c._copies) == {"v"}
    assert c._copies["v"].rows == c._segments["v"].rows
    q = rng.standard_normal(DIM).astype(np.float32)
    cos = (singles.astype(np.float64) @ q) / (np.linalg.norm(singles, axis=1) * np.linalg.norm(q))
    want = sorted(range(40), key=lambda i: (1 - cos[i], i))[:6]
    out = c.near_vector(q, target_vector="s", limit=6)
    assert [int(uuidlib.UUID(r.uuid).int) - 1 for r in out] == want
    np.testing.assert_allclose([r.metadata.distance for r in out], [1 - cos[i] for i in want], atol=1e-5)
    assert all(r.tokens == {} for r in out)
    assert c.token_counts(uid(0), "s") is None


def test_pooling_is_refused_on_a_single_vector() -> None:
    with pytest.raises(SchemaError, match="multi-vectors only"):
        VectorConfig.from_weaviate(
            "s", {"vectorizer": {"none": {"colweavePooling": {"poolFactor": 2}}}, "vectorIndexConfig": {}}
        )


def test_replace_without_a_pooled_multivector_drops_it_codes_and_counts(tmp_path: Path) -> None:
    """Weaviate's replace drops a self-provided vector not given: the pooled multi-vector goes with its
    pooling record; after the compaction the drops trigger, the copy holds the codes of the segment's rows."""
    s = Store(tmp_path)
    c = make_mixed(s, {}, vector_config(QUANTIZERS["sq"][0], pool=2))
    raw = pages(20, seed=5)
    singles = np.random.default_rng(6).standard_normal((20, DIM)).astype(np.float32)
    res = c.insert_many(
        [DataObject({"n": i}, uuid=uid(i), vectors={"v": raw[i], "s": singles[i]}) for i in range(20)]
    )
    assert not res.errors
    dropped = [i for i in range(20) if i % 3 != 2]  # most of the rows of v die: it is compacted
    for i in dropped:
        c.replace(uid(i), {"n": i}, vectors={"s": singles[i]})
        assert c.token_counts(uid(i), "v") is None
    assert c._segments["v"].generation >= 1  # compacted at least once
    (n_pooled,) = c._db.execute("SELECT COUNT(*) FROM pooled").fetchone()
    assert n_pooled == 20 - len(dropped)
    kept = [i for i in range(20) if i not in dropped]
    assert sorted(int(uuidlib.UUID(c._recs[d].uuid).int) - 1 for d in c._original_tokens("v")) == kept
    snap = c._segments["v"].snapshot()
    codes, scales = ref_int8(np.asarray(snap.rows, np.float32))
    view = c._copies["v"].view()
    np.testing.assert_array_equal(view.codes.int8, codes)
    np.testing.assert_array_equal(view.codes.scales, scales)
    hits = c.near_vector(raw[2][:3], target_vector="v", limit=20)
    assert sorted(int(uuidlib.UUID(r.uuid).int) - 1 for r in hits) == kept
    s.close()
    with Store(tmp_path) as s2:
        c2 = s2.get_collection("Mixed")
        assert all(c2.token_counts(uid(i), "v") is None for i in dropped)
        assert c2.token_counts(uid(kept[0]), "v") == (max(len(raw[kept[0]]) // 2, 1), len(raw[kept[0]]))
        assert c2.get(uid(dropped[0]), include_vector=True).vectors.keys() == {"s"}


def test_a_pinned_reader_keeps_the_codes_and_token_counts_of_its_own_rows(tmp_path: Path) -> None:
    """A reader pinned before writes (deletes that compact the segment, an insert, a replace that drops
    the pooled vector) scores with the compact codes of exactly its view's rows and reads its token
    counts, while the writes go through without waiting for it; the next read sees them."""
    with Store(tmp_path) as s:
        c = make_mixed(s, {}, vector_config(QUANTIZERS["sq"][0], pool=2))
        raw = pages(30, seed=11)
        singles = np.random.default_rng(12).standard_normal((30, DIM)).astype(np.float32)
        objs = [DataObject({"n": i}, uuid=uid(i), vectors={"v": raw[i], "s": singles[i]}) for i in range(30)]
        assert not c.insert_many(objs[:20]).errors
        q = raw[3][:3]
        later = (4, 5, 7, 8, 10, 11, 13, 14, 21, 24, 27)

        def state() -> tuple[list[Any], list[str]]:
            snap, view = c._snapshot("v"), c._copy_view("v")
            assert view is not None
            codes, scales = ref_int8(np.asarray(snap.rows, np.float32))
            np.testing.assert_array_equal(view.codes.int8, codes)  # the codes of this view's rows only
            np.testing.assert_array_equal(view.codes.scales, scales)
            counts = [c.token_counts(uid(i), "v") for i in range(30)]
            return counts, [r.uuid for r in c.near_vector(q, target_vector="v", limit=30)]

        def writes() -> None:
            c.delete_many(ids=[uid(i) for i in range(0, 20, 3)])
            assert not c.insert_many(objs[20:]).errors
            c.replace(uid(1), {"n": 1}, vectors={"s": singles[1]})
            c.replace(uid(2), {"n": 2}, vectors={"s": singles[2]})
            c.delete_many(ids=[uid(i) for i in later])

        with ThreadPoolExecutor(1) as pool, c._state.read():
            before = state()
            pool.submit(writes).result(timeout=WAIT_S)
            assert c._segments["v"].generation >= 1  # the writes compacted the segment
            assert state() == before
        assert before[0][:20] == [(max(len(raw[i]) // 2, 1), len(raw[i])) for i in range(20)]
        assert before[0][20:] == [None] * 10
        gone = set(range(0, 20, 3)) | set(later)
        after = state()
        assert after[0][1] is None
        assert after[0][2] is None
        for i in set(range(30)) - gone - {1, 2}:
            assert after[0][i] == (max(len(raw[i]) // 2, 1), len(raw[i]))
        assert sorted(after[1]) == sorted(uid(i) for i in set(range(30)) - gone - {1, 2})


class _RecordingMap:
    """A memory map that records the ranges it is advised about (the rest goes to the real one)."""

    def __init__(self, mm: Any) -> None:
        self.mm, self.calls = mm, []  # type: ignore[var-annotated]

    def __len__(self) -> int:
        return len(self.mm)

    def madvise(self, option: int, start: int, length: int) -> None:
        self.calls.append((option, start, length))
        self.mm.madvise(option, start, length)


@pytest.mark.parametrize("dim", [4, 128])
def test_rescoring_reads_every_candidate_ahead_and_equals_exact_maxsim(
    tmp_path: Path, dim: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exact rescoring (``copies.gather_exact``) first asks for the reads of every candidate's rows at once
    (``POSIX_FADV_WILLNEED`` on the segment file): the ranges cover each candidate's bytes, adjacent
    candidates share one request, nothing past the file is asked for; then it reads the rows with
    ``preadv`` and never touches the memory map (no page of the originals enters the process).
    ``will_need`` asks the map for MUVERA's candidates (page-aligned ranges covering every candidate).
    Its top-k equals float64 MaxSim over the candidates in numpy (ties to the lower slot), read either way."""
    import dataclasses
    import mmap
    import os

    from colweave.store import copies
    from colweave.store.copies import gather_exact, will_need
    from colweave.store.segments import VectorSegment

    rng = np.random.default_rng(5)
    seg = VectorSegment(tmp_path, "v", "float16", dim, 0, MuveraConfig())
    mats = [rng.standard_normal((int(rng.integers(1, 40)), dim)).astype(np.float32) for _ in range(60)]
    placed, _ = seg.append(mats)
    seg.publish(placed, list(range(60)))
    snap = seg.snapshot()
    assert snap.file is not None
    size = os.path.getsize(seg.vec_path())
    rows16 = [m.astype(np.float16).astype(np.float64) for m in mats]
    row = dim * 2
    advised: list[tuple[int, int, int, int]] = []
    real = os.posix_fadvise

    def spy_fadvise(fd: int, off: int, n: int, advice: int) -> None:
        advised.append((fd, off, n, advice))
        real(fd, off, n, advice)

    monkeypatch.setattr(copies.os, "posix_fadvise", spy_fadvise)
    for trial in range(20):
        cands = np.sort(rng.choice(60, int(rng.integers(1, 25)), replace=False)).astype(np.int64)
        if trial == 0:
            cands = np.arange(50, 60, dtype=np.int64)  # adjacent, and the segment's last rows
        q = rng.standard_normal((5, dim)).astype(np.float32)
        rec = _RecordingMap(snap.mm)
        advised.clear()
        idx, scores = gather_exact(q, dataclasses.replace(snap, mm=rec), cands, 7)
        assert rec.calls == []  # the map is not read, so nothing to drop either
        ahead = [
            (off, n) for fd, off, n, adv in advised if fd == snap.file.fd and adv == os.POSIX_FADV_WILLNEED
        ]
        assert 0 < len(ahead) == len(advised) <= len(cands)
        if trial == 0:
            assert len(ahead) == 1  # ten adjacent candidates: one request
        for off, n in ahead:
            assert off + n <= size
        for c in cands.tolist():
            a, b = int(snap.offsets[c]) * row, int(snap.offsets[c + 1]) * row
            assert any(off <= a and b <= off + n for off, n in ahead), (c, a, b, ahead)
        alone = _RecordingMap(snap.mm)  # what MUVERA's candidates ask for before an exact search
        will_need(dataclasses.replace(snap, mm=alone), cands[::-1].copy())
        assert alone.calls
        assert all(o == mmap.MADV_WILLNEED for o, _, _ in alone.calls)
        for _o, s0, n in alone.calls:
            assert s0 % mmap.PAGESIZE == 0
            assert s0 + n <= len(snap.mm)
        for c in cands.tolist():
            a, b = int(snap.offsets[c]) * row, int(snap.offsets[c + 1]) * row
            assert any(s0 <= a and b <= s0 + n for _, s0, n in alone.calls), (c, a, b, alone.calls)
        ref = [float((q.astype(np.float64) @ rows16[c].T).max(axis=1).sum()) for c in cands.tolist()]
        order = sorted(range(len(cands)), key=lambda i: (-ref[i], int(cands[i])))[:7]
        assert idx.tolist() == [int(cands[i]) for i in order]
        np.testing.assert_allclose(scores, [ref[i] for i in order], rtol=1e-4, atol=1e-4)
        idx2, scores2 = gather_exact(q, snap, cands, 7, prefetch=False)
        assert idx2.tolist() == idx.tolist()
        assert np.array_equal(scores2, scores)

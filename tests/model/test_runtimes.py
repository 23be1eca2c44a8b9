"""Runtime and precision selection, and the reduced precisions checked against fp32 (not assumed).

The fp32 parity of both runtimes with transformers is in test_encoder.py. Here: ``auto`` picks by the
CPU's ISA and says why; impossible combinations fail with what would work; bf16 and int8 keep per-token
cosine ≥ 0.999 to the transformers references and the same top-10 on a retrieval check built from the
fixtures; the preprocessing workers change nothing in the results.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from colweave.model import Encoder, ImageDecodeError
from colweave.model import session as session_mod
from colweave.model.session import SessionSettings, native_bf16, resolve

from .conftest import IMAGES, INT8, SINGLE, SPLIT

HAVE_OV = importlib.util.find_spec("openvino") is not None
needs_ov = pytest.mark.skipif(not HAVE_OV, reason="OpenVINO not installed (extra 'openvino')")
#: Two documents whose fp32 scores differ by less than this fraction of the query's best score count as
#: tied in the retrieval check: the tiny random-weight model spreads its scores over only ~2-10 % of the
#: best one, so the order inside such a near-tie is decided by float rounding, not by the model.
TIE = 0.005
MIN_COSINE = 0.999


def _fixtures(meta: dict[str, Any]) -> tuple[list[str], list[bytes], list[str], list[str]]:
    names = list(meta["images"])
    qnames = list(meta["queries"])
    return (
        names,
        [(IMAGES / n).read_bytes() for n in names],
        qnames,
        [q["text"] for q in meta["queries"].values()],
    )


def _maxsim(q: np.ndarray, d: np.ndarray) -> float:
    return float((q @ d.T).max(axis=1).sum())


def _precisions() -> list[Any]:
    bf16_skip = pytest.mark.skipif(
        not native_bf16(), reason="this CPU has no native bf16 (AVX512-BF16 / AMX-BF16)"
    )
    int8_skip = pytest.mark.skipif(
        not session_mod.openvino_int8_supported(), reason="OpenVINO's int8-weight kernels need AVX-512"
    )
    return [
        pytest.param("bf16", marks=[needs_ov, bf16_skip]),
        pytest.param("int8", marks=[needs_ov, int8_skip]),
    ]


# ---------------------------------------------------------------- selection


def test_native_bf16_reads_the_cpu_flags_and_the_onednn_cap() -> None:
    amx = frozenset({"avx2", "avx512f", "amx_bf16", "avx512_bf16"})
    assert native_bf16(amx, {})
    assert native_bf16(frozenset({"avx512_bf16"}), {})
    assert not native_bf16(frozenset({"avx2", "avx512f", "avx512_vnni"}), {})
    assert not native_bf16(amx, {"ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert not native_bf16(amx, {"ONEDNN_MAX_CPU_ISA": "avx512_core_vnni"})
    assert native_bf16(amx, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"})


def test_openvino_int8_needs_avx512() -> None:
    from colweave.model.session import openvino_int8_supported

    assert openvino_int8_supported(frozenset({"avx2", "avx512f"}), {})
    assert not openvino_int8_supported(frozenset({"avx2", "fma"}), {})
    assert not openvino_int8_supported(frozenset({"avx2", "avx512f"}), {"ONEDNN_MAX_CPU_ISA": "AVX2"})


@needs_ov
def test_int8_where_openvino_cannot_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_mod, "openvino_int8_supported", lambda: False)
    with pytest.raises(ValueError, match="AVX-512"):
        Encoder(SPLIT, device="cpu", precision="int8")


@needs_ov
@pytest.mark.skipif(not native_bf16(), reason="this CPU has no native bf16: a bf16 session cannot compile")
def test_auto_with_native_bf16_is_openvino_bf16(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Without int8 matrix units (VNNI / AMX-INT8) bf16 is the fastest path that keeps quality."""
    monkeypatch.setattr(session_mod, "native_bf16", lambda: True)
    monkeypatch.setattr(session_mod, "int8_matmul_units", lambda: False)
    with caplog.at_level(logging.INFO, logger="colweave.model"):
        enc = Encoder(SPLIT, device="cpu")
    assert (enc.runtime, enc.precision) == ("openvino", "bf16")
    assert enc.info["providers"] == ["OpenVINO-CPU-bf16"]
    assert "native bf16" in enc.info["runtime_reason"]
    assert any("runtime openvino, precision bf16" in r.getMessage() for r in caplog.records)


@needs_ov
def test_auto_without_native_bf16_is_onnxruntime_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never slower than onnxruntime fp32: OpenVINO fp32 measured slower (bench/encode.py)."""
    monkeypatch.setattr(session_mod, "native_bf16", lambda: False)
    monkeypatch.setattr(session_mod, "int8_matmul_units", lambda: False)
    enc = Encoder(SPLIT, device="cpu")
    assert (enc.runtime, enc.precision) == ("onnxruntime", "fp32")
    assert "no native bf16" in enc.info["runtime_reason"]
    # Asking for a reduced precision still picks the runtime that has it, where this CPU runs it (OpenVINO's
    # int8-weight kernels need AVX-512; without it the request is refused, saying why).
    if session_mod.openvino_int8_supported():
        assert Encoder(SPLIT, device="cpu", precision="int8").runtime == "openvino"
    else:
        with pytest.raises(ValueError, match="need AVX-512"):
            Encoder(SPLIT, device="cpu", precision="int8")


def test_int8_matmul_units_need_openvino_int8_kernels_and_vnni() -> None:
    from colweave.model.session import int8_matmul_units

    assert int8_matmul_units(frozenset({"avx512f", "avx512_vnni"}), {})
    assert int8_matmul_units(frozenset({"avx512f", "amx_int8"}), {})
    assert not int8_matmul_units(frozenset({"avx512f", "avx_vnni"}), {})  # no AVX-512 VNNI
    assert not int8_matmul_units(frozenset({"avx2", "avx_vnni"}), {})
    assert not int8_matmul_units(frozenset({"avx512f", "avx512_vnni"}), {"ONEDNN_MAX_CPU_ISA": "AVX2"})


needs_int8_units = pytest.mark.skipif(
    not (HAVE_OV and session_mod.int8_matmul_units()), reason="no OpenVINO int8 matrix units on this CPU"
)


@pytest.mark.skipif(
    not (HAVE_OV and session_mod.openvino_int8_supported()),
    reason="OpenVINO's int8-weight kernels need AVX-512",
)
def test_every_int8_load_on_two_threads_encodes_right() -> None:
    """OpenVINO 2026.4 compiled wrong int8 vision graphs in THROUGHPUT mode (several streams) in about 3 of
    10 loads on a 2-core Xeon with AMX; each load here must match onnxruntime fp32."""
    from colweave.model import quality

    ref = Encoder(SPLIT, device="cpu", runtime="onnxruntime", precision="fp32")._probe()
    worst = []
    for _ in range(8):
        enc = Encoder(SPLIT, device="cpu", threads=2, runtime="openvino", precision="int8")
        worst.append(quality.min_cosine(enc._probe(), ref))
    assert min(worst) >= MIN_COSINE, worst


@needs_int8_units
def test_auto_with_int8_units_is_int8_checked_on_the_model_and_cached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from colweave.model import quality

    monkeypatch.setenv("COLWEAVE_CACHE_DIR", str(tmp_path))
    calls: list[float] = []
    real = quality.min_cosine

    def counted(a: list[np.ndarray], b: list[np.ndarray]) -> float:
        calls.append(real(a, b))
        return calls[-1]

    monkeypatch.setattr(quality, "min_cosine", counted)
    enc = Encoder(SPLIT, device="cpu")
    assert (enc.runtime, enc.precision) == ("openvino", "int8")
    assert len(calls) == 1
    assert MIN_COSINE <= calls[0] < 1 - 1e-6
    assert f"probe cosine to fp32 {calls[0]:.5f}" in enc.info["runtime_reason"]
    assert len(list((tmp_path / "precision-checks").glob("int8-*.json"))) == 1
    # The probe really is what the model produces: the same vectors as a fresh reference run.
    ref = Encoder(SPLIT, device="cpu", runtime="onnxruntime", precision="fp32")
    assert real(enc._probe(), ref._probe()) == pytest.approx(calls[0], abs=1e-6)
    # A second load reuses the verdict.
    again = Encoder(SPLIT, device="cpu")
    assert again.precision == "int8"
    assert len(calls) == 1
    assert "cached" in again.info["runtime_reason"]


@needs_int8_units
def test_auto_int8_that_loses_quality_falls_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A model whose int8 vectors drift (here: weights rounded to 3 levels, as an outlier-heavy
    checkpoint would do to int8) is not kept at int8 by ``auto``."""
    from colweave.model import openvino_runtime

    monkeypatch.setenv("COLWEAVE_CACHE_DIR", str(tmp_path))
    real = openvino_runtime.compress_weights_int8

    def crude(model: Any) -> int:
        import openvino as ov
        from openvino import opset13 as ops

        n = real(model)
        for node in model.get_ordered_ops():
            if node.get_type_name() == "Constant" and node.get_element_type() == ov.Type.i8:
                q = np.sign(node.get_data()).astype(np.int8) * 127
                for target in list(node.output(0).get_target_inputs()):
                    target.replace_source_output(ops.constant(q).output(0))
        return n

    monkeypatch.setattr(openvino_runtime, "compress_weights_int8", crude)
    enc = Encoder(SPLIT, device="cpu")
    assert enc.precision != "int8"
    want = ("openvino", "bf16") if native_bf16() else ("onnxruntime", "fp32")
    assert (enc.runtime, enc.precision) == want
    assert "int8 was tried" in enc.info["runtime_reason"]
    assert enc._vision is not None
    assert not getattr(enc._vision, "compressed", 0)
    # Asked for explicitly, int8 is what the user gets (no check overrides a request).
    assert Encoder(SPLIT, device="cpu", precision="int8").precision == "int8"


@needs_ov
def test_openvino_tiles_run_on_a_static_one_tile_graph_over_streams(meta: dict[str, Any]) -> None:
    """The vision graph is compiled for exactly one tile and the tiles go through ``run_each`` over
    several streams; the vectors are those of the dynamic-shape, one-request path, in page order."""
    from colweave.model.session import create_session

    _, images, _, _ = _fixtures(meta)
    enc = Encoder(SPLIT, device="cpu", threads=2, runtime="openvino", precision="fp32")
    assert enc._vision is not None
    t = enc.info["tile_size"]
    assert enc._vision.static
    assert enc._vision.get_inputs()[0].shape == [1, 3, t, t]
    assert enc._vision.streams == 2
    assert enc.max_tiles_per_batch == 16
    streamed = enc.embed_images(images)
    dynamic = create_session(SPLIT / "vision.onnx", enc._settings)
    assert not dynamic.static
    assert not isinstance(dynamic.get_inputs()[0].shape[0], int)
    enc._vision, enc._tile_streams = dynamic, 0
    enc.max_tiles_per_batch = 1
    for got, want in zip(streamed, enc.embed_images(images), strict=True):
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-5


@needs_ov
def test_openvino_compiled_graph_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from colweave.model import openvino_runtime

    monkeypatch.setenv(openvino_runtime.CACHE_ENV, str(tmp_path))
    enc = Encoder(SPLIT, device="cpu", runtime="openvino", precision="fp32")
    assert enc._vision is not None
    assert enc._vision.cache_dir == str(tmp_path)
    blobs = sorted(tmp_path.glob("*.blob"))
    assert len(blobs) == 2  # the vision and the text graph
    again = Encoder(SPLIT, device="cpu", runtime="openvino", precision="fp32")
    assert sorted(tmp_path.glob("*.blob")) == blobs  # reused, not compiled anew
    q = "what does the invoice say"
    assert np.array_equal(again.embed_queries([q])[0], enc.embed_queries([q])[0])


def test_auto_without_openvino_is_onnxruntime_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_mod, "openvino_available", lambda: False)
    enc = Encoder(SPLIT, device="cpu")
    assert (enc.runtime, enc.precision) == ("onnxruntime", "fp32")
    assert enc.providers == ["CPUExecutionProvider"]
    assert "colweave[openvino]" in enc.info["runtime_reason"]


def test_an_int8_model_directory_runs_int8_on_onnxruntime() -> None:
    enc = Encoder(INT8, device="cpu")
    assert (enc.runtime, enc.precision) == ("onnxruntime", "int8")


def test_a_gpu_is_always_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_mod, "_cuda_available", lambda: True)
    choice = resolve(SessionSettings(device="auto"))
    assert (choice.settings.runtime, choice.settings.precision) == ("onnxruntime", "fp32")
    with pytest.raises(ValueError, match="CPU"):
        resolve(SessionSettings(device="cuda", runtime="openvino"))


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLWEAVE_RUNTIME", "onnxruntime")
    monkeypatch.setenv("COLWEAVE_PRECISION", "fp32")
    enc = Encoder(SPLIT, device="cpu")
    assert (enc.runtime, enc.precision) == ("onnxruntime", "fp32")
    # An explicit argument wins over the variable.
    if HAVE_OV:
        assert Encoder(SPLIT, device="cpu", runtime="openvino").runtime == "openvino"
    monkeypatch.setenv("COLWEAVE_RUNTIME", "tensorflow")
    with pytest.raises(ValueError, match="COLWEAVE_RUNTIME='tensorflow'"):
        Encoder(SPLIT, device="cpu")


@pytest.mark.parametrize(
    ("model_dir", "kwargs", "message"),
    [
        (SPLIT, {"runtime": "onnxruntime", "precision": "bf16"}, "onnxruntime has no bf16"),
        (SPLIT, {"runtime": "onnxruntime", "precision": "int8"}, "--quantize int8"),
        (INT8, {"precision": "fp32"}, "int8-quantised"),
        (SPLIT, {"runtime": "pytorch"}, "runtime must be one of"),
        (SPLIT, {"precision": "fp8"}, "precision must be one of"),
    ],
)
def test_impossible_combinations_say_what_works(
    model_dir: Path, kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Encoder(model_dir, device="cpu", **kwargs)


@needs_ov
def test_bf16_without_native_bf16_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_mod, "native_bf16", lambda: False)
    with pytest.raises(ValueError, match="no native bf16"):
        Encoder(SPLIT, device="cpu", precision="bf16")


def test_openvino_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_mod, "openvino_available", lambda: False)
    monkeypatch.setattr(session_mod, "native_bf16", lambda: True)
    monkeypatch.setattr(session_mod, "openvino_int8_supported", lambda: True)
    for kwargs in ({"runtime": "openvino"}, {"precision": "bf16"}, {"precision": "int8"}):
        with pytest.raises(ValueError, match=r"colweave\[openvino\]"):
            Encoder(SPLIT, device="cpu", **kwargs)


# ---------------------------------------------------------------- reduced precisions against fp32


@pytest.mark.parametrize("precision", _precisions())
@pytest.mark.parametrize("layout_dir", [SPLIT, SINGLE], ids=["split", "qdrant-single-graph"])
def test_reduced_precision_keeps_per_token_cosine(
    layout_dir: Path, precision: str, meta: dict[str, Any], ref: dict[str, np.ndarray]
) -> None:
    enc = Encoder(layout_dir, device="cpu", threads=1, precision=precision)
    assert (enc.runtime, enc.precision) == ("openvino", precision)
    names, images, qnames, texts = _fixtures(meta)
    worst = 1.0
    for name, emb in zip(names, enc.embed_images(images), strict=True):
        want = ref[f"image/{name}/embeddings"]
        assert emb.shape == want.shape, name
        worst = min(worst, float((emb * want).sum(axis=1).min()))
    for name, emb in zip(qnames, enc.embed_queries(texts), strict=True):
        want = ref[f"query/{name}/embeddings"]
        assert emb.shape == want.shape, name
        worst = min(worst, float((emb * want).sum(axis=1).min()))
    assert worst >= MIN_COSINE
    # Not fp32 in disguise: the reduced precision really changed the numbers.
    assert worst < 1 - 1e-6


@pytest.mark.parametrize("precision", _precisions())
def test_reduced_precision_keeps_the_top_10(
    precision: str, meta: dict[str, Any], ref: dict[str, np.ndarray]
) -> None:
    """Every fixture query against every fixture page: the reduced precision's top 10 is fp32's top 10,
    in the same order, except inside near-ties (fp32 scores within ``TIE`` of the best score)."""
    names, images, qnames, texts = _fixtures(meta)
    enc = Encoder(SPLIT, device="cpu", threads=1, precision=precision)
    docs, queries = enc.embed_images(images), enc.embed_queries(texts)
    for qi, qname in enumerate(qnames):
        want = np.array(
            [_maxsim(ref[f"query/{qname}/embeddings"], ref[f"image/{n}/embeddings"]) for n in names]
        )
        got = np.array([_maxsim(queries[qi], d) for d in docs])
        tie = TIE * float(np.abs(want).max())
        top_want, top_got = list(np.argsort(-want)[:10]), list(np.argsort(-got)[:10])
        for a in set(top_want) | set(top_got):
            for b in set(top_want) | set(top_got):
                if got[a] > got[b] and want[b] - want[a] > tie:
                    pytest.fail(
                        f"{qname}: {precision} ranks {names[a]} above {names[b]}, fp32 has it "
                        f"{want[b] - want[a]:.4f} below (tie margin {tie:.4f}); fp32 top 10 "
                        f"{[names[i] for i in top_want]}, {precision} {[names[i] for i in top_got]}"
                    )


@needs_ov
@pytest.mark.skipif(not session_mod.openvino_int8_supported(), reason="OpenVINO's int8 kernels need AVX-512")
def test_int8_compresses_the_weight_matrices() -> None:
    enc = Encoder(SPLIT, device="cpu", runtime="openvino", precision="int8")
    assert enc._vision is not None
    assert enc._text is not None
    assert enc._vision.compressed > 0
    assert enc._text.compressed > 0


@needs_ov
def test_openvino_runs_an_int8_onnx_directory(meta: dict[str, Any], ref: dict[str, np.ndarray]) -> None:
    enc = Encoder(INT8, device="cpu", runtime="openvino")
    assert (enc.runtime, enc.precision) == ("openvino", "int8")
    names, images, _, _ = _fixtures(meta)
    for name, emb in zip(names[:4], enc.embed_images(images[:4]), strict=True):
        assert float((emb * ref[f"image/{name}/embeddings"]).sum(axis=1).mean()) >= 0.99, name


@needs_ov
def test_openvino_sessions_are_safe_to_share_between_threads(meta: dict[str, Any]) -> None:
    enc = Encoder(SPLIT, device="cpu", runtime="openvino", precision="fp32")
    _, images, _, texts = _fixtures(meta)
    want_img, want_q = enc.embed_images(images[:3]), enc.embed_queries(texts)
    errors: list[str] = []

    def worker() -> None:
        for _ in range(3):
            for a, b in zip(enc.embed_images(images[:3]), want_img, strict=True):
                if not np.array_equal(a, b):
                    errors.append("image")
            for a, b in zip(enc.embed_queries(texts), want_q, strict=True):
                if not np.array_equal(a, b):
                    errors.append("query")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []


# ---------------------------------------------------------------- preprocessing in worker threads


@pytest.mark.parametrize("workers", [1, 3])
def test_prepare_workers_give_the_sequential_results(workers: int, meta: dict[str, Any]) -> None:
    _, images, _, _ = _fixtures(meta)
    kwargs: dict[str, Any] = {"device": "cpu", "runtime": "onnxruntime", "precision": "fp32"}
    sequential = Encoder(SPLIT, prepare_workers=0, max_tokens_per_batch=700, **kwargs)
    overlapped = Encoder(SPLIT, prepare_workers=workers, max_tokens_per_batch=700, **kwargs)
    want = sequential.embed_images(images)
    got = overlapped.embed_images(images)
    streamed = list(overlapped.iter_embed_images(iter(images)))
    assert len(want) == len(got) == len(streamed) == len(images)
    for a, b, c in zip(want, got, streamed, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_prepare_workers_really_run_in_other_threads(meta: dict[str, Any]) -> None:
    _, images, _, _ = _fixtures(meta)
    enc = Encoder(SPLIT, device="cpu", runtime="onnxruntime", precision="fp32", prepare_workers=2)
    seen: set[str] = set()
    real = enc._prepare_page

    def spy(i: int, image: object) -> Any:
        seen.add(threading.current_thread().name)
        return real(i, image)

    enc._prepare_page = spy  # type: ignore[method-assign]
    enc.embed_images(images[:4])
    assert seen
    assert all(name.startswith("colweave-prepare") for name in seen)


def test_a_bad_page_in_a_stream_names_itself_and_stops_the_workers(meta: dict[str, Any]) -> None:
    _, images, _, _ = _fixtures(meta)
    enc = Encoder(SPLIT, device="cpu", runtime="onnxruntime", precision="fp32", prepare_workers=2)
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(ImageDecodeError, match="image 3"):
        enc.embed_images([*images[:3], b"not an image", *images[3:6]])
    leftover = {t.name for t in threading.enumerate() if t.name.startswith("colweave-prepare")} - before
    assert leftover == set()


def test_bad_prepare_workers() -> None:
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match="prepare_workers"):
            Encoder(SPLIT, prepare_workers=bad)  # type: ignore[arg-type]


def test_server_flags_and_variables() -> None:
    import argparse

    from colweave.server.config import add_arguments, from_args

    def parse(argv: list[str], env: dict[str, str]) -> Any:
        p = argparse.ArgumentParser()
        add_arguments(p, env)
        return from_args(p.parse_args(argv))

    cfg = parse([], {})
    assert (cfg.runtime, cfg.precision) == ("auto", "auto")
    cfg = parse([], {"COLWEAVE_RUNTIME": "onnxruntime", "COLWEAVE_PRECISION": "int8"})
    assert (cfg.runtime, cfg.precision) == ("onnxruntime", "int8")
    cfg = parse(["--runtime", "openvino", "--precision", "bf16"], {"COLWEAVE_RUNTIME": "onnxruntime"})
    assert (cfg.runtime, cfg.precision) == ("openvino", "bf16")
    with pytest.raises(ValueError, match="COLWEAVE_PRECISION"):
        parse([], {"COLWEAVE_PRECISION": "fp8"})


@pytest.mark.parametrize("layout_dir", [SPLIT, SINGLE], ids=["split", "qdrant-single-graph"])
def test_the_next_page_is_prepared_while_the_graphs_run(layout_dir: Path, meta: dict[str, Any]) -> None:
    """The graphs' first run (page 0) waits for page 1's preparation to start: with a worker it starts
    at once; done in order (``prepare_workers=0``) it cannot start before that run ends. And the graphs do
    not wait for a whole token batch to be prepared: page 2 is not started when page 0 runs."""
    _, images, _, _ = _fixtures(meta)
    kwargs: dict[str, Any] = {"device": "cpu", "runtime": "onnxruntime", "precision": "fp32"}

    def overlapped(workers: int, timeout: float) -> bool:
        enc = Encoder(layout_dir, prepare_workers=workers, **kwargs)
        next_started, last_started = threading.Event(), threading.Event()
        seen: list[bool] = []
        real_prepare = enc._prepare_page
        graph = "_vision" if layout_dir == SPLIT else "_single"
        session = getattr(enc, graph)

        class Spy:
            def run(self, names: Any, feeds: Any) -> Any:
                if not seen:
                    seen.append(next_started.wait(timeout) and not last_started.is_set())
                return session.run(names, feeds)

            def __getattr__(self, name: str) -> Any:
                return getattr(session, name)

        def prepare(i: int, image: object) -> Any:
            if i == 1:
                next_started.set()
            if i == 2:
                last_started.set()
            return real_prepare(i, image)

        setattr(enc, graph, Spy())
        enc._prepare_page = prepare  # type: ignore[method-assign]
        enc.embed_images(images[:3])
        return seen == [True]

    assert overlapped(1, timeout=30)
    assert not overlapped(0, timeout=1)

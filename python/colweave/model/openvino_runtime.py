"""OpenVINO sessions with onnxruntime's calling convention (``run``, ``get_inputs``, ``get_outputs``,
``get_providers``), so the Encoder does not care which runtime runs a graph.

Precisions (the ``INFERENCE_PRECISION_HINT`` is always set: OpenVINO's CPU default is bf16 wherever the CPU
has it, which would make "fp32" silently inexact):

* ``fp32``: the graph as exported, hint ``f32``.
* ``bf16``: hint ``bf16`` (matrix products on AMX / AVX512-BF16; OpenVINO keeps the numerically sensitive
  operations, e.g. softmax and normalisation statistics, in fp32).
* ``int8``: int8 weights, compressed here at load time: each MatMul whose second input is a constant fp32
  matrix gets int8 weights with one symmetric fp32 scale per output channel (``Constant(i8) → Convert(f32)
  → Multiply(scale)``, the decompression pattern OpenVINO's CPU plugin fuses into its matrix kernels). The
  plugin then quantizes each MatMul's activations on the fly, one scale per token and group of
  ``DYNAMIC_QUANTIZATION_GROUP`` inputs, and multiplies in int8 (VNNI); no calibration data, no extra
  package. Everything else runs in bf16 where the CPU has native bf16 (attention, normalisation inputs),
  else in fp32.

Two ways to run:

* ``run``: one request on all the session's threads (latency: queries, the text graph of pages).
* ``run_each``: many independent single-input requests (the tiles of pages), spread over the streams of a
  session created with ``throughput=True`` (``PERFORMANCE_HINT=THROUGHPUT``: one stream per core here). No
  thread waits for another inside an operator, which on 2 shared cores measured 1.8x the latency mode's
  rate.

An ``OpenVINOSession`` may be called from several threads: ``run`` takes an infer request from a pool,
``run_each`` calls are serialised (they keep every stream busy anyway).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from colweave.model.errors import ModelFilesError
from colweave.model.session import SessionSettings, native_bf16

#: Smallest weight matrix worth compressing (tiny projections cost more to decompress than they save).
MIN_COMPRESS_ELEMENTS = 1024
#: Inputs per dynamic activation scale in the int8 MatMuls (per token). One 1024 x 768 x 3072 MatMul on
#: one Zen 5 core: 585 GFLOP/s at 128, 460 at OpenVINO's default 32 (more scales to apply), 364 without
#: dynamic quantization (int8 weights decompressed to bf16), 417 plain bf16; per-token cosine to fp32
#: of the full-size vision tower 0.9998 either way.
DYNAMIC_QUANTIZATION_GROUP = 128
#: ``COLWEAVE_OPENVINO_CACHE``: a directory where OpenVINO keeps compiled graphs (skips most of the
#: compile step of later loads); unset: no cache.
CACHE_ENV = "COLWEAVE_OPENVINO_CACHE"


@dataclass(frozen=True)
class _Port:
    """What onnxruntime's ``NodeArg`` offers the Encoder: a name and a shape (an int per static dim)."""

    name: str
    shape: list[int | str]


def _name(port: Any) -> str:
    """The port's ONNX name: OpenVINO may attach several (a graph input also names the cast after it)."""
    names = sorted(str(n) for n in port.get_names())
    return next((n for n in names if not n.startswith("/")), str(port.get_any_name()))


def _shape(port: Any) -> list[int | str]:
    out: list[int | str] = []
    for i, d in enumerate(port.get_partial_shape()):
        out.append(d.get_length() if d.is_static else f"d{i}")
    return out


def compress_weights_int8(model: Any) -> int:
    """Rewrites ``model`` in place (see the module docstring); returns how many MatMuls were compressed."""
    import openvino as ov
    from openvino import opset13 as ops

    done: dict[
        tuple[int, bool], Any
    ] = {}  # constant node id → its decompressed output (weights tied across MatMuls)
    count = 0
    for node in model.get_ordered_ops():
        if node.get_type_name() != "MatMul":
            continue
        src = node.input_value(1)
        const = src.get_node()
        if const.get_type_name() != "Constant" or const.get_element_type() != ov.Type.f32:
            continue
        weights = const.get_data()
        if weights.ndim != 2 or weights.size < MIN_COMPRESS_ELEMENTS:
            continue
        transpose_b = bool(node.get_attributes().get("transpose_b", False))
        key = (id(const), transpose_b)
        if key not in done:
            # The reduction axis is the inner dimension K: rows of a [K, N] matrix, columns of [N, K].
            axis = 1 if transpose_b else 0
            w = np.asarray(weights, dtype=np.float32)
            scale = np.abs(w).max(axis=axis, keepdims=True) / 127.0
            scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
            q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
            decompressed = ops.multiply(ops.convert(ops.constant(q), ov.Type.f32), ops.constant(scale))
            done[key] = decompressed.output(0)
        node.input(1).replace_source_output(done[key])
        count += 1
    model.validate_nodes_and_infer_types()
    return count


class OpenVINOSession:
    """One compiled graph on OpenVINO's CPU plugin; see the module docstring.

    ``static_inputs`` fixes input shapes (name → shape) before compiling: the kernels are then chosen and
    laid out once for that shape. ``throughput``: several streams for ``run_each``.
    """

    def __init__(
        self,
        path: Path,
        settings: SessionSettings,
        *,
        static_inputs: dict[str, list[int]] | None = None,
        throughput: bool = False,
    ) -> None:
        import openvino as ov

        if settings.precision not in ("fp32", "bf16", "int8"):
            raise ValueError(f"OpenVINOSession needs a concrete precision, got {settings.precision!r}")
        self.path = path
        self.precision = settings.precision
        core = ov.Core()
        self.cache_dir = os.environ.get(CACHE_ENV, "").strip() or None
        if self.cache_dir:
            core.set_property({"CACHE_DIR": self.cache_dir})
        try:
            model = core.read_model(os.fspath(path))
        except Exception as e:  # OpenVINO raises RuntimeError subclasses of its own
            raise ModelFilesError(f"OpenVINO cannot load {path}: {e}") from e
        self.static = bool(static_inputs)
        if static_inputs:
            by_name = {_name(p): p for p in model.inputs}
            unknown = sorted(set(static_inputs) - set(by_name))
            if unknown:
                raise ModelFilesError(f"{path}: no graph inputs named {unknown}")
            try:
                model.reshape({by_name[k]: ov.PartialShape(v) for k, v in static_inputs.items()})
            except Exception as e:
                raise ModelFilesError(f"{path}: cannot fix the input shapes {static_inputs}: {e}") from e
        self.compressed = compress_weights_int8(model) if settings.precision == "int8" else 0
        bf16 = settings.precision == "bf16" or (settings.precision == "int8" and native_bf16())
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32",
            # Threads that may move: on shared cores a pinned thread waits for its core while another is
            # free (2 threads, load ~3: 1.3x faster unpinned; no difference measured on idle cores).
            "ENABLE_CPU_PINNING": False,
        }
        if settings.precision == "int8":
            config["DYNAMIC_QUANTIZATION_GROUP_SIZE"] = DYNAMIC_QUANTIZATION_GROUP
        if throughput:
            config["PERFORMANCE_HINT"] = "THROUGHPUT"
        else:
            config["PERFORMANCE_HINT"] = "LATENCY"
            config["NUM_STREAMS"] = 1
        if settings.threads:
            config["INFERENCE_NUM_THREADS"] = settings.threads
        try:
            self._compiled = core.compile_model(model, "CPU", config)
        except Exception as e:
            raise ModelFilesError(f"OpenVINO cannot compile {path}: {e}") from e
        self.streams = int(self._compiled.get_property("NUM_STREAMS")) if throughput else 1
        self._queue: Any = None
        self._queue_lock = threading.Lock()
        self._inputs = [_Port(_name(p), _shape(p)) for p in self._compiled.inputs]
        self._outputs = [_Port(_name(p), _shape(p)) for p in self._compiled.outputs]
        self._input_index = {p.name: i for i, p in enumerate(self._inputs)}
        self._output_index = {p.name: i for i, p in enumerate(self._outputs)}
        self._requests: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def get_inputs(self) -> list[_Port]:
        return list(self._inputs)

    def get_outputs(self) -> list[_Port]:
        return list(self._outputs)

    def get_providers(self) -> list[str]:
        return [f"OpenVINO-CPU-{self.precision}"]

    def run(self, output_names: list[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        try:
            request = self._requests.get_nowait()
        except queue.Empty:
            request = self._compiled.create_infer_request()
        try:
            request.infer({self._input_index[k]: np.ascontiguousarray(v) for k, v in feeds.items()})
            names = output_names or [p.name for p in self._outputs]
            # Copies: the request's output buffers are reused by its next call.
            return [np.array(request.get_output_tensor(self._output_index[n]).data) for n in names]
        finally:
            self._requests.put(request)

    def run_each(self, output_name: str, input_name: str, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One request per array (``{input_name: array}``), ``streams`` at a time; their ``output_name``
        outputs in input order."""
        import openvino as ov

        results: list[np.ndarray | None] = [None] * len(arrays)
        out = self._output_index[output_name]
        inp = self._input_index[input_name]

        def done(request: Any, i: int) -> None:
            results[i] = np.array(request.get_output_tensor(out).data)

        with self._queue_lock:
            if self._queue is None:
                self._queue = ov.AsyncInferQueue(self._compiled, self.streams)
            self._queue.set_callback(done)
            for i, a in enumerate(arrays):
                self._queue.start_async({inp: np.ascontiguousarray(a)}, i)
            self._queue.wait_all()
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:
            raise RuntimeError(f"OpenVINO returned no output for requests {missing}")
        return [r for r in results if r is not None]

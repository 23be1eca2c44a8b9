"""OpenVINO sessions with onnxruntime's calling convention (``run``, ``get_inputs``, ``get_outputs``,
``get_providers``), so the Encoder does not care which runtime runs a graph.

Precisions (the ``INFERENCE_PRECISION_HINT`` is always set: OpenVINO's CPU default is bf16 wherever the CPU
has it, which would make "fp32" silently inexact):

* ``fp32``: the graph as exported, hint ``f32``.
* ``bf16``: hint ``bf16`` (matrix products on AMX / AVX512-BF16; OpenVINO keeps the numerically sensitive
  operations, e.g. softmax and normalisation statistics, in fp32).
* ``int8``: weight-only compression done here at load time: each MatMul whose second input is a constant
  fp32 matrix gets int8 weights with one symmetric fp32 scale per output channel
  (``Constant(i8) → Convert(f32) → Multiply(scale)``, the decompression pattern OpenVINO's CPU plugin fuses
  into its matrix kernels); activations stay fp32 (hint ``f32``). No calibration data, no extra package.

An ``OpenVINOSession`` may be called from several threads: each call takes an infer request from a pool.
"""

from __future__ import annotations

import os
import queue
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from colweave.model.errors import ModelFilesError
from colweave.model.session import SessionSettings

#: Smallest weight matrix worth compressing (tiny projections cost more to decompress than they save).
MIN_COMPRESS_ELEMENTS = 1024


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
    """One compiled graph on OpenVINO's CPU plugin; see the module docstring."""

    def __init__(self, path: Path, settings: SessionSettings) -> None:
        import openvino as ov

        if settings.precision not in ("fp32", "bf16", "int8"):
            raise ValueError(f"OpenVINOSession needs a concrete precision, got {settings.precision!r}")
        self.path = path
        self.precision = settings.precision
        core = ov.Core()
        try:
            model = core.read_model(os.fspath(path))
        except Exception as e:  # OpenVINO raises RuntimeError subclasses of its own
            raise ModelFilesError(f"OpenVINO cannot load {path}: {e}") from e
        self.compressed = compress_weights_int8(model) if settings.precision == "int8" else 0
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": "bf16" if settings.precision == "bf16" else "f32",
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": "1",
        }
        if settings.threads:
            config["INFERENCE_NUM_THREADS"] = settings.threads
        try:
            self._compiled = core.compile_model(model, "CPU", config)
        except Exception as e:
            raise ModelFilesError(f"OpenVINO cannot compile {path}: {e}") from e
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

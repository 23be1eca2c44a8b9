"""The one place that builds onnxruntime sessions: device → providers (validated), a loud warning when CUDA
was asked for but the session runs on the CPU, full graph optimisation, thread counts, arena settings."""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

log = logging.getLogger("colweave.model")

DEVICES = ("auto", "cpu", "cuda")


class CudaFallbackWarning(RuntimeWarning):
    """CUDA was requested (or expected) but onnxruntime runs the graph on the CPU."""


@dataclass(frozen=True)
class SessionSettings:
    device: str = "auto"
    threads: int | None = None  # intra-op threads; None: onnxruntime's default (one per physical core)
    device_id: int = 0
    #: Let idle onnxruntime workers spin between operators. Off by default: where cores are shared (other
    #: processes, a server's own threads) spinning workers steal the time the busy ones need; a query on 2
    #: contended cores measured 126 ms with spinning and 75 ms without.
    spin: bool = False

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.threads is not None and (
            not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 1
        ):
            raise ValueError(f"threads must be a positive integer or None, got {self.threads!r}")
        if not isinstance(self.device_id, int) or self.device_id < 0:
            raise ValueError(f"device_id must be a non-negative integer, got {self.device_id!r}")


def requested_providers(settings: SessionSettings) -> list[str | tuple[str, dict[str, str]]]:
    """The provider list for ``settings``; ``device="cuda"`` without onnxruntime-gpu is an error."""
    available = ort.get_available_providers()
    cuda_ok = "CUDAExecutionProvider" in available
    if settings.device == "cuda" and not cuda_ok:
        raise ValueError(
            "device='cuda' but this onnxruntime has no CUDAExecutionProvider (available: "
            f"{', '.join(available)}): install onnxruntime-gpu in place of onnxruntime (in the colweave "
            "clone: `.venv/bin/pip uninstall -y onnxruntime && .venv/bin/pip install -e '.[gpu]'`)"
        )
    if settings.device == "cpu" or not cuda_ok:
        return ["CPUExecutionProvider"]
    cuda_options = {
        "device_id": str(settings.device_id),
        "arena_extend_strategy": "kSameAsRequested",
        "cudnn_conv_algo_search": "HEURISTIC",
    }
    return [("CUDAExecutionProvider", cuda_options), "CPUExecutionProvider"]


def session_options(settings: SessionSettings) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = settings.threads or 0
    opts.inter_op_num_threads = 1
    opts.enable_cpu_mem_arena = True
    opts.enable_mem_pattern = True
    opts.log_severity_level = 3
    spin = "1" if settings.spin else "0"
    opts.add_session_config_entry("session.intra_op.allow_spinning", spin)
    opts.add_session_config_entry("session.inter_op.allow_spinning", spin)
    return opts


def create_session(path: Path, settings: SessionSettings) -> ort.InferenceSession:
    """An InferenceSession for ``path`` under ``settings``; warns loudly on a CUDA → CPU fallback."""
    providers = requested_providers(settings)
    try:
        sess = ort.InferenceSession(os.fspath(path), session_options(settings), providers=providers)
    except Exception as e:  # onnxruntime raises its own Fail / InvalidGraph / RuntimeException types
        from colweave.model.errors import ModelFilesError

        raise ModelFilesError(f"onnxruntime cannot load {path}: {e}") from e
    wanted_cuda = any((p[0] if isinstance(p, tuple) else p) == "CUDAExecutionProvider" for p in providers)
    if wanted_cuda and "CUDAExecutionProvider" not in sess.get_providers():
        message = (
            f"CUDA was requested for {path.name} but onnxruntime fell back to the CPU (providers in use: "
            f"{', '.join(sess.get_providers())}). Check the CUDA / cuDNN libraries onnxruntime-gpu needs; "
            "embedding will be much slower."
        )
        log.error(message)
        warnings.warn(message, CudaFallbackWarning, stacklevel=3)
    return sess

"""The one place that builds inference sessions.

Two runtimes read the same ONNX graphs:

* **onnxruntime** (always installed): the CPU provider, or CUDA with onnxruntime-gpu. Device → providers
  (validated), a loud warning when CUDA was asked for but the session runs on the CPU, full graph
  optimisation, thread counts, arena settings.
* **OpenVINO** (the ``openvino`` extra; CPU only here): fp32 (``INFERENCE_PRECISION_HINT=f32``, exact),
  bf16 (the hint set to bf16: AMX / AVX512-BF16 matrix units), int8 (weight-only: every MatMul's constant
  weights stored as int8 with one fp32 scale per output channel, decompressed inside the kernels; see
  ``colweave.model.openvino_runtime``).

``resolve`` turns ``runtime="auto"`` / ``precision="auto"`` into a concrete choice for the CPU at hand and
says why; ``create_session`` builds one graph's session for a resolved choice. Both graphs of a model use
the same choice.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import onnxruntime as ort

log = logging.getLogger("colweave.model")

DEVICES = ("auto", "cpu", "cuda")
RUNTIMES = ("auto", "onnxruntime", "openvino")
PRECISIONS = ("auto", "fp32", "bf16", "int8")

#: ``ONEDNN_MAX_CPU_ISA`` values (oneDNN's names, upper case) that keep the bf16 matrix instructions usable.
_BF16_ISAS: tuple[str, ...] = (
    "AVX512_CORE_BF16",
    "AVX10_1_512",
    "AVX512_CORE_AMX",
    "AVX512_CORE_AMX_FP16",
    "AVX10_1_512_AMX",
    "AVX10_1_512_AMX_FP16",
    "ALL",
    "DEFAULT",
)


class CudaFallbackWarning(RuntimeWarning):
    """CUDA was requested (or expected) but onnxruntime runs the graph on the CPU."""


@dataclass(frozen=True)
class SessionSettings:
    device: str = "auto"
    threads: int | None = None  # intra-op threads; None: the runtime's default (one per physical core)
    device_id: int = 0
    #: Let idle onnxruntime workers spin between operators. Off by default: where cores are shared (other
    #: processes, a server's own threads) spinning workers steal the time the busy ones need; a query on 2
    #: contended cores measured 126 ms with spinning and 75 ms without. (OpenVINO has no such switch.)
    spin: bool = False
    runtime: str = "auto"
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, got {self.runtime!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.threads is not None and (
            not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 1
        ):
            raise ValueError(f"threads must be a positive integer or None, got {self.threads!r}")
        if not isinstance(self.device_id, int) or self.device_id < 0:
            raise ValueError(f"device_id must be a non-negative integer, got {self.device_id!r}")


# ---------------------------------------------------------------- what this machine has


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def cpu_flags() -> frozenset[str]:
    """The CPU feature flags the kernel reports (Linux ``/proc/cpuinfo``); empty where unknown."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def native_bf16(flags: frozenset[str] | None = None, env: dict[str, str] | None = None) -> bool:
    """Whether the CPU multiplies bf16 matrices natively (AVX512-BF16 or AMX-BF16) and oneDNN may use it.

    ``ONEDNN_MAX_CPU_ISA`` capped below the bf16 ISAs (e.g. ``AVX2``) counts as no native bf16: OpenVINO
    would then emulate bf16, slower than fp32.
    """
    flags = cpu_flags() if flags is None else flags
    env = dict(os.environ) if env is None else env
    cap = env.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    if cap and cap not in _BF16_ISAS:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & flags)


#: ``ONEDNN_MAX_CPU_ISA`` values below AVX-512: OpenVINO's int8-weight (compressed) matrix kernels need
#: AVX-512 (with the cap at AVX2 they fail to build: "could not create a primitive descriptor").
_BELOW_AVX512 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2")


def openvino_int8_supported(flags: frozenset[str] | None = None, env: dict[str, str] | None = None) -> bool:
    """Whether OpenVINO can run int8-compressed weights here: x86 AVX-512 (not capped below it)."""
    flags = cpu_flags() if flags is None else flags
    env = dict(os.environ) if env is None else env
    if env.get("ONEDNN_MAX_CPU_ISA", "").strip().upper() in _BELOW_AVX512:
        return False
    return "avx512f" in flags


def int8_matmul_units(flags: frozenset[str] | None = None, env: dict[str, str] | None = None) -> bool:
    """Whether OpenVINO's int8 path multiplies in int8 here: its int8 kernels (AVX-512) and VNNI or AMX
    int8 instructions for the dynamically quantized activations."""
    flags = cpu_flags() if flags is None else flags
    return openvino_int8_supported(flags, env) and bool({"avx512_vnni", "amx_int8"} & flags)


def int8_dot_products(flags: frozenset[str] | None = None) -> bool:
    """Whether an x86 CPU has VNNI int8 dot products (AVX512-VNNI, AVX-VNNI or AMX-INT8); other
    architectures count as having them (their int8 kernels do not saturate 16-bit sums)."""
    flags = cpu_flags() if flags is None else flags
    if not {"sse2", "avx2"} & flags:
        return True
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & flags)


def cpu_isa_summary(flags: frozenset[str] | None = None) -> str:
    """The matrix-relevant ISA extensions of this CPU, for logs and benchmarks."""
    flags = cpu_flags() if flags is None else flags
    x86 = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
    names = (*x86, "asimd", "asimddp", "bf16", "sve", "i8mm")
    have = [n for n in names if n in flags]
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return " ".join(have) + (f" (ONEDNN_MAX_CPU_ISA={cap})" if cap else "") if have else "unknown"


def _cuda_available() -> bool:
    return "CUDAExecutionProvider" in ort.get_available_providers()


# ---------------------------------------------------------------- auto → a concrete choice


@dataclass(frozen=True)
class Choice:
    settings: SessionSettings  # runtime and precision concrete
    reason: str
    #: Set when ``auto`` chose int8: what to use instead if int8 fails the quality check on this model's
    #: own weights (``colweave.model.quality``), which the Encoder runs before keeping int8.
    fallback: Choice | None = None


def resolve(settings: SessionSettings, *, quantized: bool = False) -> Choice:
    """Picks the runtime and precision; ``quantized``: the graphs are already int8 (``--quantize int8``).

    ``auto`` on a CPU: OpenVINO int8 where the CPU has int8 matrix units (``int8_matmul_units``), returned
    with a ``fallback`` because the Encoder keeps it only after checking it on the model's own weights
    (``colweave.model.quality``); else OpenVINO bf16 where the CPU has native bf16 (AMX / AVX512-BF16: 2.0x
    onnxruntime fp32 per A4 page on a shared 2-core Xeon, per-token cosine 0.9998); else onnxruntime fp32
    (OpenVINO fp32 measured 0.88x it, see ``bench/encode.py``), also when OpenVINO is not installed.
    A GPU (``device="cuda"``, or ``auto`` with onnxruntime-gpu) always runs onnxruntime at the graph's own
    precision. Impossible combinations raise ``ValueError`` saying what would work.
    """
    runtime, precision = settings.runtime, settings.precision
    gpu = settings.device == "cuda" or (settings.device == "auto" and _cuda_available())
    have_ov = openvino_available()
    bf16 = native_bf16()
    graph = "int8" if quantized else "fp32"

    if runtime == "openvino" and settings.device == "cuda":
        raise ValueError(
            "runtime='openvino' runs on the CPU here: use device='cpu' (or runtime='onnxruntime')"
        )
    if runtime == "openvino" and not have_ov:
        raise ValueError("runtime='openvino' but OpenVINO is not installed: pip install 'colweave[openvino]'")
    if quantized and precision not in ("auto", "int8"):
        raise ValueError(
            f"precision={precision!r} but this model directory holds int8-quantised graphs: use "
            "precision='int8' (or 'auto'), or a model exported without --quantize"
        )
    if precision == "bf16":
        if runtime == "onnxruntime":
            raise ValueError("onnxruntime has no bf16 CPU path: use runtime='openvino' (or 'auto')")
        if not have_ov:
            raise ValueError("precision='bf16' needs OpenVINO: pip install 'colweave[openvino]'")
        if not bf16:
            raise ValueError(
                "precision='bf16' but this CPU has no native bf16 (AVX512-BF16 or AMX-BF16; "
                f"ISA: {cpu_isa_summary()}): it would be emulated, slower than fp32. Use 'fp32' or 'int8'"
            )
    if precision == "int8" and not quantized and runtime == "onnxruntime":
        raise ValueError(
            "onnxruntime runs int8 from a model exported with `colweave export --quantize int8`; this "
            "directory is fp32: export an int8 copy, or use runtime='openvino' (int8 weight compression)"
        )
    if precision == "int8" and not quantized and runtime != "onnxruntime" and not openvino_int8_supported():
        raise ValueError(
            "precision='int8' on an fp32 model uses OpenVINO's int8-weight kernels, which need AVX-512 "
            f"(ISA: {cpu_isa_summary()}): use 'fp32', or a model exported with "
            "`colweave export --quantize int8`"
        )
    if precision == "int8" and not quantized and not have_ov:
        raise ValueError(
            "precision='int8' on an fp32 model needs OpenVINO (pip install 'colweave[openvino]'), or a "
            "model exported with `colweave export --quantize int8`"
        )

    if runtime == "auto":
        if gpu or not have_ov or quantized:
            runtime = "onnxruntime"  # quantized: its own dynamic-int8 graphs, which its kernels were made for
        elif precision in ("bf16", "int8") or (precision == "auto" and bf16):
            runtime = "openvino"
        else:
            # fp32 without native bf16: OpenVINO fp32 measured 0.88x onnxruntime fp32 (bench/encode.py), so
            # onnxruntime, which can never be slower than itself.
            runtime = "onnxruntime"
    if precision == "auto":
        if quantized:
            precision = "int8"
        elif runtime == "openvino" and bf16:
            precision = "bf16"
        else:
            precision = "fp32"

    if gpu and runtime == "onnxruntime":
        why = "a GPU: onnxruntime with CUDA at the graph's own precision"
    elif settings.runtime == "auto" and settings.precision == "auto":
        if runtime == "openvino" and precision == "bf16":
            why = f"native bf16 on this CPU ({cpu_isa_summary()}): OpenVINO bf16"
        elif quantized:
            why = "the model directory holds int8 graphs: onnxruntime int8"
        elif not have_ov:
            hint = " (pip install 'colweave[openvino]' for the faster OpenVINO runtime)" if not gpu else ""
            why = f"OpenVINO is not installed: onnxruntime {graph}{hint}"
        else:
            why = (
                f"no native bf16 on this CPU ({cpu_isa_summary()}): onnxruntime fp32 (faster than OpenVINO "
                "fp32 in bench/encode.py)"
            )
    else:
        why = f"requested runtime={settings.runtime}, precision={settings.precision}"
    choice = Choice(replace(settings, runtime=runtime, precision=precision), why)
    if quantized and not gpu and not int8_dot_products():
        log.warning(
            "this CPU (%s) has no VNNI: onnxruntime's int8 kernels then multiply with 16-bit saturating "
            "sums, and an int8 export loses accuracy (per-token cosine to fp32 about 0.97 on the test model, "
            "0.99+ with VNNI); prefer the fp32 export here",
            cpu_isa_summary(),
        )
    if (
        settings.precision == "auto"
        and settings.runtime in ("auto", "openvino")
        and have_ov
        and not gpu
        and not quantized
        and int8_matmul_units()
    ):
        # int8 weights with dynamically quantized int8 activations: 1.17x bf16 per A4 page and 1.3x per
        # query on a 2-core Zen 5 (bench/encode.py); kept only if this model's int8 vectors stay within
        # cosine 0.999 of fp32 on a probe page and query (checked by the Encoder at load, then cached).
        hint = "bf16" if bf16 else "fp32"
        why = (
            f"int8 matrix units on this CPU ({cpu_isa_summary()}): OpenVINO int8 (int8 weights, dynamic int8 "
            f"activations, {hint} elsewhere)"
        )
        return Choice(replace(settings, runtime="openvino", precision="int8"), why, fallback=choice)
    return choice


# ---------------------------------------------------------------- onnxruntime


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


def _create_ort_session(path: Path, settings: SessionSettings) -> ort.InferenceSession:
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
        warnings.warn(message, CudaFallbackWarning, stacklevel=4)
    return sess


def create_session(
    path: Path,
    settings: SessionSettings,
    *,
    static_inputs: dict[str, list[int]] | None = None,
    throughput: bool = False,
) -> Any:
    """A session for ``path``: an onnxruntime ``InferenceSession``, or an OpenVINO session with the same
    ``run`` / ``get_inputs`` / ``get_outputs`` / ``get_providers`` methods. ``auto`` values are resolved
    first (as for an fp32 graph); pass settings from ``resolve`` to control that.

    OpenVINO only (onnxruntime ignores them): ``static_inputs`` fixes input shapes at compile time;
    ``throughput`` gives the session several streams and a ``run_each`` method for independent inputs."""
    if settings.runtime == "auto" or settings.precision == "auto":
        settings = resolve(settings).settings
    if settings.runtime == "openvino":
        from colweave.model.openvino_runtime import OpenVINOSession

        return OpenVINOSession(path, settings, static_inputs=static_inputs, throughput=throughput)
    return _create_ort_session(path, settings)

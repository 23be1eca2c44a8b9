"""Server configuration: every command-line flag is also a ``COLWEAVE_*`` environment variable.

The flag wins over the variable, the variable over the default; ``colweave serve --help`` lists the
variable beside each flag. Secrets (API keys) are redacted whenever the configuration is logged.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "COLWEAVE_"
# The default model is the public ONNX export of ColModernVBERT (Qdrant/colmodernvbert, MIT): it needs no
# torch, so a plain install can download and serve it. A transformers checkpoint (ModernVBERT/...) goes
# through `colweave export` first and is then served with --model DIR.
DEFAULT_MODEL = "Qdrant/colmodernvbert"
# The name Weaviate's multi2multivec-weaviate module sends in `model` by default.
COLMODERNVBERT = "ModernVBERT/colmodernvbert"
COLMODERNVBERT_SOURCES = (DEFAULT_MODEL, COLMODERNVBERT, "ModernVBERT/colmodernvbert-merged")
# config.json's model_type of ColModernVBERT checkpoints (transformers' ColModernVBertForRetrieval).
COLMODERNVBERT_TYPE = "colmodernvbert"


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/colweave`` (``~/.local/share/colweave``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "colweave"


@dataclass(frozen=True)
class ServerConfig:
    model: str = DEFAULT_MODEL
    model_name: str = ""
    data_dir: Path = field(default_factory=default_data_dir)
    no_store: bool = False
    no_auto_schema: bool = False
    ttl_sweep_s: float = 60.0
    host: str = "127.0.0.1"
    http_port: int = 8080
    grpc_port: int = 50051
    api_keys: tuple[str, ...] = ()
    device: str = "auto"
    threads: int | None = None
    ort_spin: bool = False
    runtime: str = "auto"
    precision: str = "auto"
    # Dynamic batching.
    max_batch_images: int = 8
    max_batch_texts: int = 64
    max_wait_ms: float = 5.0
    max_queue: int = 256
    # Limits per request.
    # Weaviate's own default gRPC message limit (GRPC_MAX_MESSAGE_SIZE): clients size their batches by it.
    max_request_bytes: int = 104_858_000
    max_images_per_request: int = 64
    max_texts_per_request: int = 256
    max_image_pixels: int = 64_000_000
    max_text_chars: int = 8192
    # Operations.
    log_level: str = "info"
    log_format: str = "text"
    shutdown_grace_s: float = 30.0
    # Connections (both ports): see colweave.server.connections.
    max_connections: int = 10_000
    header_timeout_s: float = 10.0
    keep_alive_s: float = 5.0
    grpc_idle_s: float = 300.0

    def served_name(self, model_id: str, model_type: str | None = None) -> str:
        """The name clients use for the served model: ``--model-name``, else Weaviate's default model name
        for any ColModernVBERT (a hub export of it, or an export of ModernVBERT/* or a fine-tune of it:
        ``model_type`` colmodernvbert in its files), else the model's id."""
        if self.model_name:
            return self.model_name
        if self.model in COLMODERNVBERT_SOURCES or model_type == COLMODERNVBERT_TYPE:
            return COLMODERNVBERT
        return model_id

    def redacted(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["api_keys"] = ["***"] * len(self.api_keys)
        d["data_dir"] = str(self.data_dir)
        return d


@dataclass(frozen=True)
class _Flag:
    name: str  # field name
    help: str
    kind: type = str
    choices: Sequence[str] | None = None
    multiple: bool = False  # list flag; env value is comma-separated
    boolean: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


FLAGS: tuple[_Flag, ...] = (
    _Flag("model", "model directory or Hugging Face hub id (downloaded and cached on first use)"),
    _Flag(
        "model_name",
        "the model name clients send and see; a ColModernVBERT model answers to "
        "ModernVBERT/colmodernvbert (Weaviate's default) unless this is set, another model to its id",
    ),
    _Flag("data_dir", "data directory of the embedded store", kind=Path),
    _Flag("no_store", "serve embeddings only (no Weaviate collections)", boolean=True),
    _Flag(
        "no_auto_schema",
        "refuse an object's unknown properties instead of adding them to its collection (Weaviate's "
        "AUTOSCHEMA_ENABLED=false)",
        boolean=True,
    ),
    _Flag(
        "ttl_sweep_s",
        "seconds between the deletions of expired objects (collections with objectTtlConfig)",
        kind=float,
    ),
    _Flag("host", "address to bind both ports to"),
    _Flag("http_port", "REST port (Weaviate REST, /v1/embeddings/embed, health, metrics)", kind=int),
    _Flag("grpc_port", "gRPC port (weaviate.v1, colweave.v1, grpc.health.v1, reflection)", kind=int),
    _Flag(
        "api_keys",
        "API key accepted as 'Authorization: Bearer <key>' (repeatable); none = anonymous",
        multiple=True,
    ),
    _Flag("device", "where the model runs", choices=("auto", "cpu", "cuda")),
    _Flag("threads", "onnxruntime intra-op threads (default: all cores)", kind=int),
    _Flag(
        "ort_spin",
        "let onnxruntime workers spin between operators: lower query latency on dedicated "
        "cores, worse on shared ones",
        boolean=True,
    ),
    _Flag(
        "runtime",
        "CPU inference runtime; auto: OpenVINO when installed (bf16 on CPUs with native bf16), else "
        "onnxruntime; the choice is logged",
        choices=("auto", "onnxruntime", "openvino"),
    ),
    _Flag(
        "precision",
        "inference precision; auto: bf16 where the CPU has native bf16 (OpenVINO), int8 for an int8 "
        "export, else fp32",
        choices=("auto", "fp32", "bf16", "int8"),
    ),
    _Flag("max_batch_images", "most images one model call encodes together", kind=int),
    _Flag("max_batch_texts", "most queries one model call encodes together", kind=int),
    _Flag("max_wait_ms", "longest a request waits for others to share its batch", kind=float),
    _Flag(
        "max_queue", "most inputs waiting per batcher before requests get 429 / RESOURCE_EXHAUSTED", kind=int
    ),
    _Flag("max_request_bytes", "largest request body / gRPC message", kind=int),
    _Flag("max_images_per_request", "most images in one embedding request", kind=int),
    _Flag("max_texts_per_request", "most texts in one embedding request", kind=int),
    _Flag(
        "max_image_pixels",
        "largest decoded image (width x height); larger ones are rejected as bombs",
        kind=int,
    ),
    _Flag("max_text_chars", "longest query text", kind=int),
    _Flag("log_level", "logging level", choices=("debug", "info", "warning", "error")),
    _Flag("log_format", "log line format", choices=("text", "json")),
    _Flag("shutdown_grace_s", "seconds to drain in-flight requests on shutdown", kind=float),
    _Flag(
        "max_connections",
        "most open connections per port (also capped by the open-file limit); beyond it new ones are "
        "refused (HTTP 503)",
        kind=int,
    ),
    _Flag(
        "header_timeout_s",
        "seconds a connection may take to send a request's headers (new, idle or slow connections are "
        "closed after it)",
        kind=float,
    ),
    _Flag("keep_alive_s", "seconds an idle HTTP keep-alive connection stays open", kind=float),
    _Flag("grpc_idle_s", "seconds an idle gRPC connection stays open", kind=float),
)


def _parse_env(flag: _Flag, raw: str) -> Any:
    if flag.boolean:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"{flag.env}={raw!r}: expected true or false")
    if flag.multiple:
        return [v.strip() for v in raw.split(",") if v.strip()]
    try:
        value = flag.kind(raw)
    except ValueError as e:
        raise ValueError(f"{flag.env}={raw!r}: expected {flag.kind.__name__}") from e
    if flag.choices and value not in flag.choices:
        raise ValueError(f"{flag.env}={raw!r}: expected one of {', '.join(flag.choices)}")
    return value


_METAVARS = {
    "model": "DIR_OR_ID",
    "model_name": "NAME",
    "host": "ADDR",
    "http_port": "PORT",
    "grpc_port": "PORT",
    "api_keys": "KEY",
}


def _negation(f: _Flag) -> str:
    """The flag that turns a boolean off: --store for --no-store, --no-ort-spin for --ort-spin."""
    if f.name.startswith("no_"):
        return "--" + f.name[3:].replace("_", "-")
    return "--no-" + f.name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, env: Mapping[str, str] | None = None) -> None:
    """Adds every server flag. Nothing is read from the environment here (a malformed variable must not
    break ``--help`` or ``--version``): ``from_args`` resolves flag, then variable, then default. ``env``
    (default: ``os.environ`` at parse time) is the environment ``from_args`` will read."""
    defaults = ServerConfig()
    parser.set_defaults(_colweave_env=None if env is None else dict(env))
    for f in FLAGS:
        default = getattr(defaults, f.name)
        if f.name == "api_keys" or default in (None, "", (), []):
            shown = ""
        elif f.boolean:
            shown = "; default off"
        elif f.name == "data_dir":
            shown = "; default $XDG_DATA_HOME/colweave or ~/.local/share/colweave"
        else:
            shown = f"; default {default}"
        help_text = f"{f.help} (env {f.env}{shown})"
        metavar = _METAVARS.get(f.name) or {int: "N", float: "X", Path: "DIR"}.get(f.kind)
        if f.boolean:
            # Two plain store_const flags: argparse's BooleanOptionalAction treats every option that starts
            # with --no- as the negative one, so --no-store would turn the store *on*.
            parser.add_argument(f.flag, dest=f.name, action="store_const", const=True, help=help_text)
            parser.add_argument(
                _negation(f),
                dest=f.name,
                action="store_const",
                const=False,
                help=f"the opposite of {f.flag} (overrides {f.env})",
            )
        elif f.multiple:
            parser.add_argument(
                f.flag.rstrip("s"), f.flag, dest=f.name, action="append", metavar=metavar, help=help_text
            )
        else:
            parser.add_argument(
                f.flag, dest=f.name, type=f.kind, choices=f.choices, metavar=metavar, help=help_text
            )
        parser.set_defaults(**{f.name: None})


def from_args(ns: argparse.Namespace, env: Mapping[str, str] | None = None) -> ServerConfig:
    """The configuration: a flag given on the command line, else its ``COLWEAVE_*`` variable, else the
    default. Raises ``ValueError`` naming the variable or flag for a bad value."""
    if env is None:
        env = getattr(ns, "_colweave_env", None)
    if env is None:
        env = os.environ
    defaults = ServerConfig()
    values: dict[str, Any] = {}
    for f in FLAGS:
        v = getattr(ns, f.name, None)
        if v is None and f.env in env:
            v = _parse_env(f, env[f.env])
        if v is None:
            v = getattr(defaults, f.name)
        if f.multiple:
            v = tuple(v)
        values[f.name] = v
    cfg = ServerConfig(**values)
    validate(cfg)
    return cfg


def validate(cfg: ServerConfig) -> None:
    for name in ("http_port", "grpc_port"):
        port = getattr(cfg, name)
        if not 0 <= port <= 65535:
            raise ValueError(f"--{name.replace('_', '-')}: {port} is not a port number")
    positive = (
        "max_batch_images",
        "max_batch_texts",
        "max_queue",
        "max_request_bytes",
        "max_images_per_request",
        "max_texts_per_request",
        "max_image_pixels",
        "max_text_chars",
    )
    for name in positive:
        if getattr(cfg, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("max_connections",):
        if getattr(cfg, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("header_timeout_s", "keep_alive_s", "grpc_idle_s", "ttl_sweep_s"):
        if not getattr(cfg, name) > 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive")
    if cfg.max_wait_ms < 0:
        raise ValueError("--max-wait-ms must not be negative")
    if cfg.threads is not None and cfg.threads < 1:
        raise ValueError("--threads must be at least 1")

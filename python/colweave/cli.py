"""The colweave command line.

Every flag can also be given as an environment variable COLWEAVE_* (shown in each command's --help); a
flag on the command line wins over the variable."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import colweave

ENV_PREFIX = "COLWEAVE_"


def _env_default(name: str, default: Any = None) -> Any:
    return os.environ.get(ENV_PREFIX + name, default)


def _add_export(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="convert a transformers-native ColModernVBERT checkpoint into a colweave model directory "
        "(needs the export extra)",
        description="Converts a checkpoint (a hub id or a local directory written by "
        "ColModernVBertForRetrieval.save_pretrained + ColModernVBertProcessor.save_pretrained) into "
        "vision.onnx, "
        "text.onnx, the tokenizer and processor files and a colweave.json manifest.",
    )
    src = _env_default("EXPORT_FROM")
    out = _env_default("EXPORT_OUT")
    p.add_argument(
        "--from",
        dest="source",
        required=src is None,
        default=src,
        help="hub id (org/name) or local checkpoint directory (env COLWEAVE_EXPORT_FROM)",
    )
    p.add_argument(
        "--out", required=out is None, default=out, help="output model directory (env COLWEAVE_EXPORT_OUT)"
    )
    p.add_argument(
        "--dtype",
        choices=["fp32", "fp16"],
        default=_env_default("EXPORT_DTYPE", "fp32"),
        help="graph precision; fp16 keeps RoPE in fp32 (for GPUs) (env COLWEAVE_EXPORT_DTYPE)",
    )
    p.add_argument(
        "--quantize",
        choices=["int8"],
        default=_env_default("EXPORT_QUANTIZE"),
        help="dynamic int8 quantisation of the MatMuls (for CPUs) (env COLWEAVE_EXPORT_QUANTIZE)",
    )
    p.add_argument(
        "--revision",
        default=_env_default("EXPORT_REVISION"),
        help="hub revision (branch, tag or commit) (env COLWEAVE_EXPORT_REVISION)",
    )
    p.add_argument(
        "--opset",
        type=int,
        default=_env_default("EXPORT_OPSET", "18"),  # a string: argparse converts it (errors included)
        help="ONNX opset (env COLWEAVE_EXPORT_OPSET)",
    )
    p.add_argument(
        "--no-verify",
        action="store_true",
        default=_env_default("EXPORT_NO_VERIFY", "").lower() in ("1", "true", "yes"),
        help="skip the onnxruntime-vs-PyTorch check on a sample (env COLWEAVE_EXPORT_NO_VERIFY)",
    )


def _export(args: argparse.Namespace) -> int:
    from colweave.model.errors import ModelFilesError
    from colweave.model.export import export_model

    try:
        export_model(
            args.source,
            args.out,
            dtype=args.dtype,
            quantize=args.quantize,
            revision=args.revision,
            opset=args.opset,
            verify=not args.no_verify,
        )
    except (ModelFilesError, ValueError, RuntimeError) as e:
        print(f"colweave export: error: {e}", file=sys.stderr)
        return 2
    return 0


def _add_serve(sub: Any) -> None:
    from colweave.server.config import add_arguments

    p = sub.add_parser(
        "serve",
        help="run the server: Weaviate REST + gRPC, the Weaviate Embeddings API and colweave.v1",
        description="Serves ColModernVBERT embeddings and an embedded Weaviate-compatible store on one "
        "process and two ports (REST 8080, gRPC 50051: weaviate.connect_to_local() works as is). The "
        "model is downloaded and cached on first use.",
    )
    add_arguments(p)


def _serve(args: argparse.Namespace) -> int:
    import asyncio

    from colweave.server.app import ColweaveServer
    from colweave.server.config import from_args
    from colweave.server.logs import setup_logging
    from colweave.store.store import Store

    try:
        cfg = from_args(args)
    except ValueError as e:
        print(f"colweave serve: error: {e}", file=sys.stderr)
        return 2
    setup_logging(cfg.log_level, cfg.log_format)

    def load_model() -> Any:
        from colweave.model import Encoder

        return Encoder(
            cfg.model,
            device=cfg.device,
            threads=cfg.threads,
            max_image_pixels=cfg.max_image_pixels,
            spin=cfg.ort_spin,
            runtime=cfg.runtime,
            precision=cfg.precision,
        )

    def open_store() -> Store:
        return Store(cfg.data_dir, auto_schema=not cfg.no_auto_schema)

    server = ColweaveServer(cfg, load_model, store_factory=None if cfg.no_store else open_store)
    return asyncio.run(server.run())


def _add_ingest(sub: Any) -> None:
    from colweave.ingest.cli import add_parser

    add_parser(sub)


def _ingest(args: argparse.Namespace) -> int:
    from colweave.ingest.cli import run

    return run(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="colweave",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'colweave <command> --help' for a command's flags.",
    )
    parser.add_argument("--version", action="version", version=f"colweave {colweave.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    sub.add_parser("info", help="print the kernels' build and CPU facts")
    _add_export(sub)
    _add_serve(sub)
    _add_ingest(sub)
    args = parser.parse_args(argv)
    if args.command == "info":
        print(f"colweave {colweave.__version__}")
        print(f"simd paths: {', '.join(colweave.available_isas())} (default {colweave.default_isa()})")
        return 0
    if args.command == "export":
        return _export(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "ingest":
        return _ingest(args)
    # No command: the usage on stderr and a usage error's exit status, as argparse gives for a bad one.
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""The ``colweave ingest`` subcommand (registered by ``colweave.cli``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

ENV_PREFIX = "COLWEAVE_"


def _env(name: str, default: Any = None) -> Any:
    return os.environ.get(ENV_PREFIX + name, default)


def add_parser(sub: Any) -> None:
    from colweave.ingest.sources import DEFAULT_LONGEST_EDGE
    from colweave.server.config import DEFAULT_MODEL, default_data_dir

    p = sub.add_parser(
        "ingest",
        help="turn PDFs, images, folders and globs into a searchable collection",
        description="Renders every PDF page (PDFium, longest edge 2048 px) and keeps its text layer, embeds "
        "the pages and stores one object per page (doc_page, title, source, page, text) in the embedded "
        "store (--data-dir) or a running server (--url). Re-running skips the pages already stored, so an "
        "interrupted run resumes. Exit status: 0 all stored, 1 some files or pages failed, 2 bad usage or "
        "an unusable target, 130 interrupted.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="PDF or image files, folders (recursive), globs")
    p.add_argument(
        "--collection",
        required=_env("INGEST_COLLECTION") is None,
        default=_env("INGEST_COLLECTION"),
        help="collection name, created if missing [env COLWEAVE_INGEST_COLLECTION]",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"embedded store's data directory [env COLWEAVE_DATA_DIR] [default: {default_data_dir()}, "
        "unless --url is given]",
    )
    p.add_argument(
        "--url",
        default=_env("INGEST_URL"),
        help="a running colweave or Weaviate, e.g. http://localhost:8080 (the server embeds) "
        "[env COLWEAVE_INGEST_URL]",
    )
    p.add_argument(
        "--grpc-port",
        type=int,
        default=int(_env("INGEST_GRPC_PORT", "50051")),
        help="the server's gRPC port [env COLWEAVE_INGEST_GRPC_PORT] [default: 50051]",
    )
    p.add_argument(
        "--api-key", default=_env("INGEST_API_KEY"), help="the server's API key [env COLWEAVE_INGEST_API_KEY]"
    )
    p.add_argument(
        "--vectorizer-base-url",
        default=_env("INGEST_VECTORIZER_BASE_URL"),
        help="for a Weaviate server: the colweave URL its multi2vec_weaviate vectorizer calls "
        "[env COLWEAVE_INGEST_VECTORIZER_BASE_URL]",
    )
    p.add_argument(
        "--model",
        default=_env("MODEL", DEFAULT_MODEL),
        help=f"model directory or hub id (embedded store) [env COLWEAVE_MODEL] [default: {DEFAULT_MODEL}]",
    )
    p.add_argument(
        "--runtime",
        choices=("auto", "onnxruntime", "openvino"),
        default=_env("RUNTIME", "auto"),
        help="CPU runtime [env COLWEAVE_RUNTIME] [default: auto]",
    )
    p.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16", "int8"),
        default=_env("PRECISION", "auto"),
        help="inference precision [env COLWEAVE_PRECISION] [default: auto]",
    )
    p.add_argument(
        "--threads", type=int, default=_env("THREADS"), help="inference threads [env COLWEAVE_THREADS]"
    )
    p.add_argument(
        "--muvera",
        action=argparse.BooleanOptionalAction,
        default=_env("INGEST_MUVERA", "").lower() in ("1", "true", "yes", "on"),
        help="create the collection with MUVERA encodings [env COLWEAVE_INGEST_MUVERA]",
    )
    p.add_argument(
        "--longest-edge",
        type=int,
        default=int(_env("INGEST_LONGEST_EDGE", str(DEFAULT_LONGEST_EDGE))),
        help=f"render PDF pages to this longest edge in pixels [env COLWEAVE_INGEST_LONGEST_EDGE] "
        f"[default: {DEFAULT_LONGEST_EDGE}]",
    )
    p.add_argument(
        "--batch-pages",
        type=int,
        default=int(_env("INGEST_BATCH_PAGES", "4")),
        help="pages per stored batch (each durable before the next) [env COLWEAVE_INGEST_BATCH_PAGES]",
    )
    p.add_argument(
        "--progress",
        choices=("auto", "bar", "lines", "none"),
        default=_env("INGEST_PROGRESS", "auto"),
        help="auto: a progress bar on a terminal, log lines otherwise [env COLWEAVE_INGEST_PROGRESS]",
    )


class _Reporter:
    """A tqdm bar (pages, pages/s, ETA) on a terminal; otherwise a log line per stored batch."""

    def __init__(self, mode: str, stream: TextIO) -> None:
        if mode == "auto":
            mode = "bar" if stream.isatty() else "lines"
        self.mode = mode
        self.stream = stream
        self.bar: Any = None
        self.last_line = 0.0

    def print(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def __call__(self, p: Any) -> None:
        if self.mode == "bar":
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=p.pages_total, initial=p.skipped, unit="page", file=self.stream)
            self.bar.n = p.pages_done + p.skipped
            self.bar.set_postfix_str(f"{p.pages_per_s:.2f} pages/s, {p.failed} failed", refresh=False)
            self.bar.refresh()
        elif self.mode == "lines":
            eta = f", ETA {p.eta_s:.0f} s" if p.eta_s is not None else ""
            self.print(
                f"colweave ingest: {p.pages_done + p.skipped}/{p.pages_total} pages ({p.pages_done} stored, "
                f"{p.skipped} skipped, {p.failed} failed), {p.pages_per_s:.2f} pages/s{eta}"
                + (f" [{p.current}]" if p.current else "")
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run(args: argparse.Namespace) -> int:
    from colweave.ingest.pipeline import ingest
    from colweave.ingest.targets import TargetError
    from colweave.model.errors import ModelFilesError, ModelNotAvailableError
    from colweave.server.config import default_data_dir

    logging.basicConfig(level=logging.INFO, format="colweave ingest: %(message)s", stream=sys.stderr)
    if args.url and args.data_dir is not None:
        print("colweave ingest: error: give --data-dir or --url, not both", file=sys.stderr)
        return 2
    data_dir = None
    if not args.url:
        data_dir = args.data_dir or Path(_env("DATA_DIR") or default_data_dir())
    threads = int(args.threads) if args.threads is not None else None
    reporter = _Reporter(args.progress, sys.stderr)
    started = time.perf_counter()
    try:
        summary = ingest(
            args.paths,
            args.collection,
            data_dir=data_dir,
            url=args.url,
            grpc_port=args.grpc_port,
            api_key=args.api_key,
            vectorizer_base_url=args.vectorizer_base_url,
            model=args.model,
            runtime=args.runtime,
            precision=args.precision,
            threads=threads,
            muvera=args.muvera,
            longest_edge=args.longest_edge,
            batch_pages=args.batch_pages,
            progress=None if reporter.mode == "none" else reporter,
            on_failure=lambda f: reporter.print(f"colweave ingest: FAILED {f}"),
            log=lambda s: reporter.print(f"colweave ingest: {s}"),
        )
    except KeyboardInterrupt:
        reporter.close()
        print(
            f"colweave ingest: interrupted after {time.perf_counter() - started:.1f} s; every stored batch "
            "stays, run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    except (TargetError, ValueError, ModelFilesError, ModelNotAvailableError) as e:
        reporter.close()
        print(f"colweave ingest: error: {e}", file=sys.stderr)
        return 2
    reporter.close()
    print(f"colweave ingest: {summary.line()}", file=sys.stderr)
    return 1 if summary.failed else 0

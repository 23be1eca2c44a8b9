"""Regenerates the committed Python modules of colweave's own protos (`make proto`).

    python proto/generate.py [--out DIR]

Writes `colweave/v1/*_pb2.py`, `*_pb2.pyi` and `*_pb2_grpc.py` under `python/` (or DIR) with grpcio-tools.
The test suite regenerates into a temporary folder and fails when the committed files differ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"


def protos() -> list[Path]:
    return sorted(PROTO_DIR.glob("colweave/v1/*.proto"))


def generate(out: Path) -> list[Path]:
    from grpc_tools import protoc  # dev extra

    out.mkdir(parents=True, exist_ok=True)
    rels = [str(p.relative_to(PROTO_DIR)) for p in protos()]
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *rels,
    ]
    # protoc resolves the relative paths against -I.
    import os

    cwd = os.getcwd()
    os.chdir(PROTO_DIR)
    try:
        rc = protoc.main(args)
    finally:
        os.chdir(cwd)
    if rc != 0:
        raise SystemExit(f"protoc failed with exit code {rc}")
    return sorted((out / "colweave" / "v1").glob("*_pb2*.py*"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "python")
    files = generate(ap.parse_args().out)
    for f in files:
        print(f"wrote {f}")


if __name__ == "__main__":
    sys.exit(main())

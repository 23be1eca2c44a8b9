"""The ``colweave`` command line."""

from __future__ import annotations

import argparse
import sys

import colweave


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="colweave", description=__doc__)
    parser.add_argument("--version", action="version", version=f"colweave {colweave.__version__}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("info", help="print the kernels' build and CPU facts")
    args = parser.parse_args(argv)
    if args.command == "info":
        print(f"colweave {colweave.__version__}")
        print(f"simd paths: {', '.join(colweave.available_isas())} (default {colweave.default_isa()})")
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())

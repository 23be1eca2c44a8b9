"""``colweave.json``: what a model directory holds and how it was made (source, dims, dtype, file hashes)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from colweave.model.errors import ModelFilesError

MANIFEST_NAME = "colweave.json"
FORMAT = "colweave-model"
FORMAT_VERSION = 1


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_entries(model_dir: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    return {n: {"sha256": sha256_file(model_dir / n), "bytes": (model_dir / n).stat().st_size} for n in names}


def write_manifest(model_dir: Path, manifest: dict[str, Any]) -> Path:
    path = model_dir / MANIFEST_NAME
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def read_manifest(model_dir: Path) -> dict[str, Any] | None:
    path = model_dir / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFilesError(f"{path} is not readable JSON: {e}") from e
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelFilesError(f"{path} is not a colweave model manifest")
    if data.get("format_version") != FORMAT_VERSION:
        raise ModelFilesError(
            f"{path} has format_version {data.get('format_version')!r}; this colweave reads {FORMAT_VERSION}"
        )
    return data


def verify_files(model_dir: Path, manifest: dict[str, Any]) -> None:
    """Checks every listed file's size and hash (slow for big graphs: used by tests and ``--verify``)."""
    for name, entry in manifest.get("files", {}).items():
        path = model_dir / name
        if not path.is_file():
            raise ModelFilesError(f"{path} is listed in {MANIFEST_NAME} but missing")
        if path.stat().st_size != entry.get("bytes") or sha256_file(path) != entry.get("sha256"):
            raise ModelFilesError(f"{path} does not match the hash in {MANIFEST_NAME} (corrupt or replaced)")

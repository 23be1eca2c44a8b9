"""Where model files come from: a local directory, or a Hugging Face hub id through ``huggingface_hub``.

``huggingface_hub`` honours ``HF_HOME`` / ``HF_HUB_CACHE`` (the cache), ``HF_HUB_OFFLINE`` (no network:
the cache only) and ``HF_TOKEN`` (gated or private repositories). Offline with nothing cached is one
:class:`ModelNotAvailableError` that says what to do.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from colweave.model.errors import ModelNotAvailableError

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")

#: What an export needs from a transformers-native checkpoint repository (weights, configs, tokenizer).
CHECKPOINT_PATTERNS = [
    "*.json",
    "*.safetensors",
    "*.txt",
    "*.model",
    "*.jinja",
]


@dataclass(frozen=True)
class ResolvedSource:
    path: Path
    source: str  # what the user gave: a directory or a hub id
    revision: str | None  # the hub commit hash, None for a local directory


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def looks_like_repo_id(source: str) -> bool:
    return bool(_REPO_ID.match(source)) and not source.startswith((".", "/", "~"))


def resolve(
    source: str | os.PathLike[str],
    revision: str | None = None,
    patterns: list[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> ResolvedSource:
    """A local directory as is; otherwise a hub repository id, downloaded (or found in the cache).

    ``patterns`` limits the download (default: what an export needs from a checkpoint)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return ResolvedSource(path.resolve(), str(source), None)
    text = os.fspath(source)
    if not looks_like_repo_id(text):
        raise ModelNotAvailableError(
            f"{text!r} is neither an existing directory nor a hub id like 'org/name'"
        )
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError
    except ImportError as e:  # pragma: no cover - huggingface_hub ships with tokenizers
        raise ModelNotAvailableError(
            f"huggingface_hub is needed to fetch {text!r}: pip install huggingface_hub"
        ) from e
    try:
        local = snapshot_download(
            repo_id=text,
            revision=revision,
            allow_patterns=patterns or CHECKPOINT_PATTERNS,
            local_files_only=_offline(),
            cache_dir=None if cache_dir is None else os.fspath(cache_dir),
        )
    except LocalEntryNotFoundError:
        raise ModelNotAvailableError(
            f"{text!r} is not in the Hugging Face cache ({cache_dir or _cache_dir()}) and cannot be "
            "downloaded "
            + ("because HF_HUB_OFFLINE is set" if _offline() else "(no network access to the hub?)")
            + ": download it on a connected machine (`hf download "
            + text
            + "`) and copy the cache, point HF_HOME at a cache that has it, or pass a local directory"
        ) from None
    except RepositoryNotFoundError:
        raise ModelNotAvailableError(
            f"hub repository {text!r} does not exist or needs a token (set HF_TOKEN)"
        ) from None
    except (HfHubHTTPError, OSError) as e:
        raise ModelNotAvailableError(f"downloading {text!r} failed: {e}") from e
    local_path = Path(local)
    return ResolvedSource(local_path, text, local_path.name)  # snapshots/<commit hash>


def _cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except Exception:  # pragma: no cover
        return "the Hugging Face cache"

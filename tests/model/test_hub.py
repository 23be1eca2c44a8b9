"""Hub ids resolve through huggingface_hub's cache layout, offline included; no network is used."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from colweave.model import Encoder, hub
from colweave.model.errors import ModelNotAvailableError

from .conftest import SPLIT

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _cache(tmp_path: Path, repo: str) -> Path:
    root = tmp_path / "hub" / ("models--" + repo.replace("/", "--"))
    snap = root / "snapshots" / COMMIT
    shutil.copytree(SPLIT, snap)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(COMMIT)
    return tmp_path / "hub"


def test_local_directory_is_used_as_is() -> None:
    r = hub.resolve(SPLIT)
    assert r.path == SPLIT.resolve()
    assert r.revision is None


def test_cached_repo_resolves_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = _cache(tmp_path, "someorg/tiny-colweave")
    r = hub.resolve("someorg/tiny-colweave", patterns=["*"], cache_dir=cache)
    assert r.revision == COMMIT
    assert (r.path / "text.onnx").is_file()


def test_encoder_loads_a_cached_hub_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = _cache(tmp_path, "someorg/tiny-colweave")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    enc = Encoder("someorg/tiny-colweave", device="cpu")
    assert enc.model_dir.name == COMMIT
    assert len(enc.embed_queries(["x"])) == 1


def test_offline_without_cache_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError, match="HF_HUB_OFFLINE") as info:
        hub.resolve("someorg/not-cached", cache_dir=tmp_path)
    assert "hf download someorg/not-cached" in str(info.value)


@pytest.mark.parametrize("bad", ["./nope", "/no/such/dir", "not a repo id", "a/b/c"])
def test_neither_directory_nor_repo_id(bad: str) -> None:
    with pytest.raises(ModelNotAvailableError, match="neither an existing directory nor a hub id"):
        hub.resolve(bad)

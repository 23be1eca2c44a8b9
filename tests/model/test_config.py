"""Both processor layouts, defaults as transformers applies them, clear errors for broken directories."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from colweave.model.config import ImageProcessorConfig, ModelConfig, load_model_config, load_processor_config
from colweave.model.errors import ModelFilesError

from .conftest import CHECKPOINT, FIXTURES, SINGLE, SPLIT


def test_nested_and_flat_layouts_agree() -> None:
    nested = json.loads((CHECKPOINT / "processor_config.json").read_text())
    assert isinstance(nested["image_processor"], dict)  # transformers 5.x save_pretrained layout
    assert not (CHECKPOINT / "preprocessor_config.json").exists()
    assert not (SINGLE / "processor_config.json").read_text().count("image_processor")  # the hub's layout
    a, b, c = (load_processor_config(d) for d in (CHECKPOINT, SPLIT, SINGLE))
    assert a == b == c
    assert (a.image.longest_edge, a.image.tile_size, a.image_seq_len) == (256, 64, 16)


def test_the_real_hub_files(tmp_path: Path) -> None:
    cfgs = FIXTURES.parent / "configs"
    shutil.copy(
        cfgs / "Qdrant__colmodernvbert__preprocessor_config.json", tmp_path / "preprocessor_config.json"
    )
    shutil.copy(
        cfgs / "ModernVBERT__colmodernvbert__processor_config.json", tmp_path / "processor_config.json"
    )
    shutil.copy(
        cfgs / "RECONSTRUCTED__colmodernvbert_transformers_native_config.json", tmp_path / "config.json"
    )
    model = load_model_config(tmp_path)
    assert (model.image_token_id, model.embedding_dim, model.derived_image_seq_len) == (50407, 128, 64)
    proc = load_processor_config(tmp_path, model)
    assert (proc.image.longest_edge, proc.image.tile_size, proc.image_seq_len) == (2048, 512, 64)
    assert proc.image.rescale_factor == 1 / 255


def test_remote_code_config_layout() -> None:
    raw = {"image_token_id": 7, "scale_factor": 4, "vision_config": {"image_size": 512, "patch_size": 16}}
    cfg = ModelConfig.from_dict(raw, "x")
    assert cfg.derived_image_seq_len == 64
    assert cfg.embedding_dim is None


def test_image_seq_len_is_derived_when_absent(tmp_path: Path) -> None:
    shutil.copy(SPLIT / "preprocessor_config.json", tmp_path / "preprocessor_config.json")
    shutil.copy(SPLIT / "config.json", tmp_path / "config.json")
    assert load_processor_config(tmp_path, load_model_config(tmp_path)).image_seq_len == 16
    with pytest.raises(ModelFilesError, match="image_seq_len"):
        load_processor_config(tmp_path)


def test_defaults_are_the_reference_class_defaults() -> None:
    cfg = ImageProcessorConfig.from_dict({}, "x")
    assert (cfg.longest_edge, cfg.tile_size, cfg.resample, cfg.image_mean) == (1456, 364, 1, (0.5, 0.5, 0.5))


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"size": {"longest_edge": 0}}, "size"),
        ({"max_image_size": {}}, "max_image_size"),
        ({"resample": 9}, "resample"),
        ({"image_std": [0.5, 0, 0.5]}, "image_std"),
        ({"image_mean": [1, 2]}, "image_mean"),
        ({"rescale_factor": -1}, "rescale_factor"),
    ],
)
def test_bad_values(raw: dict[str, object], match: str) -> None:
    with pytest.raises(ModelFilesError, match=match):
        ImageProcessorConfig.from_dict(raw, "x")


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ModelFilesError, match="no image-processor settings"):
        load_processor_config(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text("{not json")
    with pytest.raises(ModelFilesError, match="not readable JSON"):
        load_processor_config(tmp_path)
    with pytest.raises(ModelFilesError, match=r"config\.json is missing"):
        load_model_config(tmp_path)

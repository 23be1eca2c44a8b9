"""Everything the preprocessing and the Encoder need, read from a model directory's own files.

Two processor layouts exist and both are read:

* the hub's: a short ``processor_config.json`` (``image_seq_len``, ``processor_class``) beside a flat
  ``preprocessor_config.json`` holding the Idefics3 image-processor settings;
* transformers 5.x ``save_pretrained``: one ``processor_config.json`` with the image settings nested under
  ``"image_processor"``.

A key missing from the files takes the value transformers' ``Idefics3ImageProcessor`` class would use, so a
directory is interpreted exactly as the reference interprets it; nothing is fixed to the real model's sizes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from colweave.model.errors import ModelFilesError

# transformers' Idefics3ImageProcessor class attributes (used only for keys a config file leaves out).
_IDEFICS3_DEFAULTS: dict[str, Any] = {
    "do_convert_rgb": True,
    "do_resize": True,
    "size": {"longest_edge": 4 * 364},
    "resample": 1,  # LANCZOS
    "do_image_splitting": True,
    "max_image_size": {"longest_edge": 364},
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "do_pad": True,
}
# ColModernVBertProcessor's prompt (transformers 5.x, colpali-engine, fastembed: the same string).
DEFAULT_VISUAL_PROMPT = "<|begin_of_text|>User:<image>Describe the image.<end_of_utterance>\nAssistant:"
QUERY_AUGMENTATION_COUNT = 10


def read_json(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ModelFilesError(f"{path} is missing") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFilesError(f"{path} is not readable JSON: {e}") from e
    if not isinstance(data, dict):
        raise ModelFilesError(f"{path} does not hold a JSON object")
    return data


def _edge(value: Any, key: str, source: str) -> int:
    if isinstance(value, dict):
        value = value.get("longest_edge", value.get("height"))
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ModelFilesError(f"{source}: {key} must give a positive integer longest_edge, got {value!r}")
    return value


def _triple(value: Any, key: str, source: str) -> tuple[float, float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (float(value),) * 3
    if isinstance(value, list) and len(value) == 3 and all(isinstance(v, (int, float)) for v in value):
        return (float(value[0]), float(value[1]), float(value[2]))
    raise ModelFilesError(f"{source}: {key} must be a number or a list of 3 numbers, got {value!r}")


@dataclass(frozen=True)
class ImageProcessorConfig:
    """The Idefics3 image-processor settings (transformers' names, values as the files give them)."""

    do_convert_rgb: bool
    do_resize: bool
    longest_edge: int
    resample: int
    do_image_splitting: bool
    tile_size: int
    do_rescale: bool
    rescale_factor: float
    do_normalize: bool
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str) -> ImageProcessorConfig:
        d = {**_IDEFICS3_DEFAULTS, **raw}
        resample = d["resample"]
        if not isinstance(resample, int) or not 0 <= resample <= 5:
            raise ModelFilesError(f"{source}: resample must be a PIL filter number 0-5, got {resample!r}")
        factor = d["rescale_factor"]
        if not isinstance(factor, (int, float)) or isinstance(factor, bool) or factor <= 0:
            raise ModelFilesError(f"{source}: rescale_factor must be a positive number, got {factor!r}")
        std = _triple(d["image_std"], "image_std", source)
        if any(s == 0 for s in std):
            raise ModelFilesError(f"{source}: image_std must not contain 0")
        return cls(
            do_convert_rgb=bool(d["do_convert_rgb"]),
            do_resize=bool(d["do_resize"]),
            longest_edge=_edge(d["size"], "size", source),
            resample=resample,
            do_image_splitting=bool(d["do_image_splitting"]),
            tile_size=_edge(d["max_image_size"], "max_image_size", source),
            do_rescale=bool(d["do_rescale"]),
            rescale_factor=float(factor),
            do_normalize=bool(d["do_normalize"]),
            image_mean=_triple(d["image_mean"], "image_mean", source),
            image_std=std,
        )

    def to_dict(self) -> dict[str, Any]:
        """The flat ``preprocessor_config.json`` form (the hub's layout)."""
        return {
            "image_processor_type": "Idefics3ImageProcessor",
            "do_convert_rgb": self.do_convert_rgb,
            "do_resize": self.do_resize,
            "size": {"longest_edge": self.longest_edge},
            "resample": self.resample,
            "do_image_splitting": self.do_image_splitting,
            "max_image_size": {"longest_edge": self.tile_size},
            "do_rescale": self.do_rescale,
            "rescale_factor": self.rescale_factor,
            "do_normalize": self.do_normalize,
            "image_mean": list(self.image_mean),
            "image_std": list(self.image_std),
            "do_pad": True,
        }


@dataclass(frozen=True)
class ModelConfig:
    """What ``config.json`` says about the architecture (either the native or the remote-code layout)."""

    image_token_id: int
    embedding_dim: int | None
    vision_image_size: int | None
    patch_size: int | None
    pixel_shuffle_factor: int | None
    max_position_embeddings: int | None

    @property
    def derived_image_seq_len(self) -> int | None:
        if self.vision_image_size and self.patch_size and self.pixel_shuffle_factor:
            return (self.vision_image_size // self.patch_size) ** 2 // self.pixel_shuffle_factor**2
        return None

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str) -> ModelConfig:
        vlm = raw.get("vlm_config") if isinstance(raw.get("vlm_config"), dict) else raw
        assert isinstance(vlm, dict)
        vision = vlm.get("vision_config") or {}
        text = vlm.get("text_config") or {}
        token = vlm.get("image_token_id", raw.get("image_token_id"))
        if not isinstance(token, int):
            raise ModelFilesError(f"{source}: no integer image_token_id")

        def opt_int(d: dict[str, Any], *keys: str) -> int | None:
            for k in keys:
                v = d.get(k)
                if isinstance(v, int) and not isinstance(v, bool):
                    return v
            return None

        return cls(
            image_token_id=token,
            embedding_dim=opt_int(raw, "embedding_dim"),
            vision_image_size=opt_int(vision, "image_size"),
            patch_size=opt_int(vision, "patch_size"),
            pixel_shuffle_factor=opt_int(vlm, "pixel_shuffle_factor", "scale_factor"),
            max_position_embeddings=opt_int(text, "max_position_embeddings")
            or opt_int(vlm, "max_position_embeddings"),
        )


@dataclass(frozen=True)
class ProcessorConfig:
    """The image settings plus the prompt settings of ColModernVBertProcessor."""

    image: ImageProcessorConfig
    image_seq_len: int
    visual_prompt_prefix: str
    query_prefix: str

    def to_dict(self) -> dict[str, Any]:
        """The short ``processor_config.json`` colweave writes beside ``preprocessor_config.json``."""
        return {
            "processor_class": "ColModernVBertProcessor",
            "image_seq_len": self.image_seq_len,
            "visual_prompt_prefix": self.visual_prompt_prefix,
            "query_prefix": self.query_prefix,
        }


def load_processor_config(model_dir: Path, model: ModelConfig | None = None) -> ProcessorConfig:
    """Reads the processor settings of ``model_dir`` in either layout (see the module docstring)."""
    proc_path = model_dir / "processor_config.json"
    pre_path = model_dir / "preprocessor_config.json"
    proc: dict[str, Any] = read_json(proc_path) if proc_path.is_file() else {}
    nested = proc.get("image_processor")
    if isinstance(nested, dict):
        image = ImageProcessorConfig.from_dict(nested, f"{proc_path} (image_processor)")
    elif pre_path.is_file():
        image = ImageProcessorConfig.from_dict(read_json(pre_path), str(pre_path))
    else:
        raise ModelFilesError(
            f"{model_dir} has no image-processor settings: expected preprocessor_config.json, or "
            "processor_config.json with an 'image_processor' section"
        )
    seq_len = proc.get("image_seq_len")
    if seq_len is None and model is not None:
        seq_len = model.derived_image_seq_len
    if not isinstance(seq_len, int) or isinstance(seq_len, bool) or seq_len <= 0:
        raise ModelFilesError(
            f"{model_dir}: image_seq_len is neither in processor_config.json nor derivable from config.json"
        )
    prefix = proc.get("visual_prompt_prefix") or DEFAULT_VISUAL_PROMPT
    query_prefix = proc.get("query_prefix") or ""
    if not isinstance(prefix, str) or not isinstance(query_prefix, str):
        raise ModelFilesError(f"{proc_path}: visual_prompt_prefix and query_prefix must be strings")
    if prefix.count("<image>") != 1:
        raise ModelFilesError(f"{proc_path}: visual_prompt_prefix must contain '<image>' exactly once")
    return ProcessorConfig(image, seq_len, prefix, query_prefix)


def load_model_config(model_dir: Path) -> ModelConfig:
    path = model_dir / "config.json"
    return ModelConfig.from_dict(read_json(path), str(path))


def model_type_of(model_dir: Path) -> str | None:
    """``model_type`` from the directory's ``config.json`` (``colmodernvbert`` for ColModernVBERT and its
    fine-tunes), or None when it cannot be read."""
    try:
        raw = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError):
        return None
    value = raw.get("model_type") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None

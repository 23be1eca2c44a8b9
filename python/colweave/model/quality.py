"""The check behind ``auto`` choosing int8: this model's own weights, not assumed.

int8 (int8 weights, dynamically quantized int8 activations) keeps per-token cosine ≥ 0.999 to fp32 on
the fixtures and on the full-size architecture with random weights, but a real checkpoint can have
activation outliers that a random one does not. So before an Encoder keeps an ``auto`` int8 choice it
embeds a probe, a generated document image as one tile and a query, at int8 and at exact fp32, and
compares every vector. Below ``MIN_COSINE`` it falls back to the next choice (bf16 or fp32) and says why.

The result is cached per model files, OpenVINO version, CPU ISA and settings in
``$COLWEAVE_CACHE_DIR`` (default ``$XDG_CACHE_HOME/colweave``, else ``~/.cache/colweave``) under
``precision-checks/``, so later loads pay nothing; an unwritable cache only means the check runs again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

log = logging.getLogger("colweave.model")

MIN_COSINE = 0.999
PROBE_QUERY = "what was the total operating revenue in the third quarter compared with last year"
#: Changes whenever the probe or the comparison changes, so that older cached verdicts are not reused.
PROBE_VERSION = 1


@dataclass(frozen=True)
class Verdict:
    min_cosine: float
    cached: bool

    @property
    def ok(self) -> bool:
        return self.min_cosine >= MIN_COSINE


def cache_root() -> Path:
    explicit = os.environ.get("COLWEAVE_CACHE_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "colweave"


def probe_image(size: int) -> Image.Image:
    """A deterministic document-like square: lines of dark word boxes, a heading, a table rule, a photo-like
    gradient block (the content the model embeds)."""
    rng = np.random.default_rng(12345)
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    s = size / 512
    draw.rectangle([40 * s, 30 * s, 300 * s, 58 * s], fill=(20, 20, 30))
    y = 80 * s
    while y < 330 * s:
        x = 40 * s
        while x < 470 * s:
            w = float(rng.integers(15, 70)) * s
            shade = tuple(int(v) for v in rng.integers(0, 90, 3))
            draw.rectangle([x, y, min(x + w, 472 * s), y + 9 * s], fill=shade)
            x += w + float(rng.integers(6, 14)) * s
        y += 18 * s
    draw.line([40 * s, 345 * s, 472 * s, 345 * s], fill=(0, 0, 0), width=max(1, int(2 * s)))
    grad = np.linspace(0, 255, int(150 * s), dtype=np.float32)
    block = np.stack(
        [
            np.add.outer(grad, grad) / 2,
            np.outer(grad, np.ones_like(grad)),
            255 - grad[None, :] * np.ones_like(grad)[:, None],
        ],
        axis=-1,
    )
    img.paste(Image.fromarray(block.clip(0, 255).astype(np.uint8)), (int(40 * s), int(355 * s)))
    return img


def _key(model_dir: Path, manifest: dict[str, Any] | None, settings: dict[str, Any]) -> str:
    import openvino as ov

    from colweave.model.openvino_runtime import DYNAMIC_QUANTIZATION_GROUP
    from colweave.model.session import cpu_isa_summary, native_bf16

    files: dict[str, Any] = {}
    if manifest and isinstance(manifest.get("files"), dict):
        files = {k: v.get("sha256") for k, v in manifest["files"].items() if isinstance(v, dict)}
    else:  # no manifest (e.g. a Qdrant-layout directory): the graphs' sizes and modification times
        for p in sorted(model_dir.glob("*.onnx*")):
            st = p.stat()
            files[p.name] = [st.st_size, st.st_mtime_ns]
    what = {
        "probe": PROBE_VERSION,
        "model": str(model_dir.resolve()),
        "files": files,
        "openvino": ov.get_version(),
        "isa": cpu_isa_summary(),
        "bf16": native_bf16(),
        "group": DYNAMIC_QUANTIZATION_GROUP,
        "settings": settings,
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:32]


def min_cosine(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    worst = 1.0
    for x, y in zip(a, b, strict=True):
        if x.shape != y.shape:
            return -1.0
        c = (x * y).sum(axis=1) / np.maximum(np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1), 1e-12)
        worst = min(worst, float(c.min()))
    return worst


def check(
    model_dir: Path,
    manifest: dict[str, Any] | None,
    settings: dict[str, Any],
    candidate: Callable[[], list[np.ndarray]],
    reference: Callable[[], list[np.ndarray]],
) -> Verdict:
    """The candidate's probe vectors against the reference's (min per-token cosine), cached."""
    path = cache_root() / "precision-checks" / f"int8-{_key(model_dir, manifest, settings)}.json"
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        return Verdict(float(cached["min_cosine"]), cached=True)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    got = min_cosine(candidate(), reference())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"min_cosine": got, "model_dir": str(model_dir)}), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        log.warning("cannot cache the int8 check in %s: %s", path.parent, e)
    return Verdict(got, cached=False)

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "model"
IMAGES = FIXTURES / "images"
SPLIT = FIXTURES / "tiny-colweave"
INT8 = FIXTURES / "tiny-colweave-int8"
SINGLE = FIXTURES / "tiny-qdrant-layout"
CHECKPOINT = FIXTURES / "tiny-checkpoint"


@pytest.fixture(scope="session")
def meta() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "references.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="session")
def ref() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "references.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="session")
def encoder() -> Any:
    from colweave.model import Encoder

    # Exact onnxruntime fp32: the tests comparing with transformers' references at 1e-4 use it.
    return Encoder(SPLIT, device="cpu", threads=1, runtime="onnxruntime", precision="fp32")

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from colweave.store import Store

DIM = 16


def _seed(data: bytes) -> int:
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "little")


class HashVectorizer:
    """Deterministic stand-in for the encoder: multi-vectors seeded by the input's hash."""

    def __init__(self) -> None:
        self.image_calls = 0
        self.query_calls = 0

    def embed_images(self, images: list[bytes]) -> list[np.ndarray]:
        self.image_calls += 1
        return [
            np.random.default_rng(_seed(b)).standard_normal((4 + len(b) % 3, DIM)).astype(np.float32)
            for b in images
        ]

    def embed_queries(self, queries: list[str]) -> list[np.ndarray]:
        self.query_calls += 1
        return [
            np.random.default_rng(_seed(q.encode())).standard_normal((3, DIM)).astype(np.float32)
            for q in queries
        ]


@pytest.fixture
def vectorizer() -> HashVectorizer:
    return HashVectorizer()


@pytest.fixture
def store(tmp_path: Path, vectorizer: HashVectorizer) -> Iterator[Store]:
    s = Store(tmp_path / "data", vectorizer=vectorizer)
    yield s
    s.close()

"""Independent reference implementations and helpers for the store tests (plain Python / numpy)."""

from __future__ import annotations

import unicodedata

import numpy as np


def ref_tokenize(text: str) -> list[str]:
    """Reference word tokenizer: runs of Unicode letters (L*) and numbers (N*), lowercased."""
    out, cur = [], []
    for ch in text:
        if unicodedata.category(ch)[0] in "LN":
            cur.append(ch)
        elif cur:
            out.append("".join(cur).lower())
            cur = []
    if cur:
        out.append("".join(cur).lower())
    return out


def normalize_rows(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    n = np.linalg.norm(m, axis=1, keepdims=True)
    return np.where(n > 0, m / np.where(n > 0, n, 1), 0)


def stored(m: np.ndarray, dtype: type = np.float16) -> np.ndarray:
    """What the store keeps of a multi-vector: rows L2-normalised in float32, cast to the storage type."""
    m32 = np.asarray(m, np.float32)
    n = np.linalg.norm(m32, axis=1, keepdims=True)
    return (m32 / n).astype(dtype).astype(np.float64)


def ref_maxsim(q: np.ndarray, d: np.ndarray) -> float:
    return float((q @ d.T).max(axis=1).sum())

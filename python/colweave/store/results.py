"""Search results, Weaviate's explain strings, and autocut."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass
class Metadata:
    creation_time: dt.datetime | None = None
    last_update_time: dt.datetime | None = None
    distance: float | None = None
    certainty: float | None = None
    score: float | None = None
    explain_score: str | None = None


@dataclass
class SearchResult:
    uuid: str
    properties: dict[str, Any]
    metadata: Metadata = field(default_factory=Metadata)
    vectors: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)
    # near_vector / near_text: the searched vector's (tokens kept, tokens before pooling) — a colweave
    # extension; the two are equal unless the vector pools tokens at import (colweavePooling).
    tokens: dict[str, tuple[int, int]] = field(default_factory=dict)


def go_float32(x: float) -> str:
    """``fmt.Sprintf("%v", float32(x))`` as Go writes it: the shortest digits that round-trip a float32,
    in ``%e`` form (``1.5e-05``, ``1e+06``) when the decimal exponent is < -4 or ≥ 6 (Go's ``%g`` with
    shortest precision), else plain."""
    f = np.float32(x)
    if np.isnan(f):
        return "NaN"
    if np.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if np.signbit(f) else "0"
    sci = np.format_float_scientific(f, unique=True, trim="-")  # e.g. '1.2345e-05', '3e+00'
    mant, _, exp_s = sci.partition("e")
    exp = int(exp_s)
    if exp < -4 or exp >= 6:
        sign = "-" if exp < 0 else "+"
        return f"{mant}e{sign}{abs(exp):02d}"
    return np.format_float_positional(f, unique=True, trim="-")


def explain_relative(uuid: str, legs: list[tuple[str, float, float]]) -> str:
    """relativeScore: one line per leg that found the object: ``(set name, original, normalized)``."""
    return "".join(
        f"\nHybrid (Result Set {name}) Document {uuid}: original score {go_float32(orig)}, "
        f"normalized score: {go_float32(norm)}"
        for name, orig, norm in legs
    )


def explain_ranked(uuid: str, legs: list[tuple[str, float]]) -> str:
    return "".join(
        f"\nHybrid (Result Set {name}) Document {uuid} contributed {go_float32(part)} to the score"
        for name, part in legs
    )


def autocut(values: list[float], cut: int) -> int:
    """How many results to keep: Weaviate's autocut, which cuts after the ``cut``-th jump of the
    (sorted) scores or distances, measured against the straight line from the first to the last."""
    n = len(values)
    if cut <= 0 or n <= 2:
        return n
    y = np.asarray(values, np.float32)
    span = np.float32(y[-1] - y[0])
    if span == 0:
        return n
    step = np.float32(1.0) / np.float32(n - 1)
    diff = (y - y[0]) / span - np.arange(n, dtype=np.float32) * step
    found = 0
    for i in range(1, n):
        nxt = diff[i - 2] if i == n - 1 else diff[i + 1]
        if diff[i] > diff[i - 1] and diff[i] > nxt:
            found += 1
            if found >= cut:
                return i
    return n

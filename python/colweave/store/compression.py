"""Weaviate's vector-index quantizers (``vectorIndexConfig.pq/bq/sq/rq``) on a multi-vector index, and
colweave's token pooling (``colweavePooling`` in the vectorizer's module config), as colweave runs them.

How each quantizer maps onto colweave's kernels (see ``colweave.compact``):

============  ====================================  ============================================
quantizer     compact copy kept in memory           candidates rescored exactly (fp16 MaxSim)
============  ====================================  ============================================
``bq``        sign bits (16 B per 128-d token),     ``rescoreLimit`` when given (a colweave
              MaxSim by XOR + popcount              extension: Weaviate's hnsw ``bq`` has none),
                                                    else 512 (Weaviate's default for 1-bit RQ)
``rq`` bits 1 the same sign bits                    ``rescoreLimit`` (Weaviate: 512 for 1 bit)
``rq`` 4 / 8  int8 codes + one float32 scale per    ``rescoreLimit`` (Weaviate's default 20)
              token, MaxSim by VNNI dot products
              (no 4-bit kernel: 4 bits store int8)
``sq``        the same int8 codes (per-token        ``rescoreLimit`` (Weaviate's default 20)
              scales: no training, ``trainingLimit``
              is kept but unused)
``pq``        the same int8 codes (not a product    20 (Weaviate's hnsw ``pq`` has no rescore
              quantizer: ``segments``, ``centroids``  limit; colweave rescores like ``sq``)
              and ``trainingLimit`` are validated
              and kept but unused)
============  ====================================  ============================================

At least ``limit`` candidates are always rescored, so the final order and the distances are exact MaxSim
(``distance = -MaxSim``) over the candidates. With MUVERA on as well: MUVERA candidates first (the
index's ``ef`` pool), scored on int8 codes of the encodings that the compact copy holds (2.5 KB per page
at the default 2,560 values instead of 10 KB of float32 read per query; the same pool recall as float32
at 100,000 pages, where their sign bits lost too much), then the compact copy, then exact rescoring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from colweave.store.errors import SchemaError

JSON = dict[str, Any]

QUANTIZERS = ("pq", "bq", "sq", "rq")
# Candidates rescored exactly when the config names no rescore limit (bq, pq): Weaviate's default for
# 1-bit codes (DefaultBRQRescoreLimit) for the sign bits, its sq/rq default for the int8 codes.
BINARY_RESCORE_DEFAULT = 512
INT8_RESCORE_DEFAULT = 20
MAX_RESCORE_LIMIT = 100_000
MAX_POOL_FACTOR = 64
POOLING_KEY = "colweavePooling"


def _typed(d: JSON, key: str, kind: type, where: str) -> Any:
    v = d.get(key)
    if v is None:
        return None
    if kind is bool:
        if not isinstance(v, bool):
            raise SchemaError(f"{where}.{key}: expected a boolean, got {v!r}")
        return v
    if kind is int:
        if (
            isinstance(v, bool)
            or not isinstance(v, int | float)
            or (isinstance(v, float) and not math.isfinite(v))
            or int(v) != v
        ):
            raise SchemaError(f"{where}.{key}: expected an integer, got {v!r}"[:200])
        return int(v)
    if not isinstance(v, str):
        raise SchemaError(f"{where}.{key}: expected a string, got {v!r}"[:200])
    return v


def check_quantizers(idx: JSON, raw: JSON, where: str) -> None:
    """Validates the quantizer parts of a multi-vector hnsw config ``idx`` (Weaviate's defaults merged
    with what the client sent, ``raw``) as Weaviate's hnsw config does, in place: one quantizer at a time,
    typed values, ``rq.bits`` 1, 4 or 8 (1 bit without a rescore limit rescores 512), PQ's encoder type
    and distribution, non-negative segments; colweave also bounds ``rescoreLimit``."""
    enabled = []
    for q in QUANTIZERS:
        part = idx.get(q)
        if part is None:
            continue
        qwhere = f"{where}.{q}"
        if not isinstance(part, dict):
            raise SchemaError(f"{qwhere}: expected an object")
        for key, kind in (
            ("enabled", bool),
            ("cache", bool),
            ("bitCompression", bool),
            ("centering", bool),
            ("rescoreLimit", int),
            ("trainingLimit", int),
            ("segments", int),
            ("centroids", int),
            ("bits", int),
        ):
            v = _typed(part, key, kind, qwhere)
            if v is not None:
                part[key] = v
        rl = part.get("rescoreLimit")
        if rl is not None and not -1 <= rl <= MAX_RESCORE_LIMIT:
            raise SchemaError(f"{qwhere}.rescoreLimit: must be between -1 and {MAX_RESCORE_LIMIT}, got {rl}")
        if part.get("enabled"):
            enabled.append(q)
    if len(enabled) > 1:
        raise SchemaError(
            f"{where}: invalid hnsw config: more than a single compression methods enabled "
            f"({', '.join(enabled)})"
        )
    rq = idx.get("rq")
    if isinstance(rq, dict) and rq.get("enabled"):
        if rq.get("bits") not in (1, 4, 8):
            raise SchemaError(f"{where}.rq.bits: RQ bits must be 8, 4 or 1, got {rq.get('bits')!r}")
        raw_rq = raw.get("rq")
        if rq["bits"] == 1 and not (isinstance(raw_rq, dict) and raw_rq.get("rescoreLimit") is not None):
            rq["rescoreLimit"] = BINARY_RESCORE_DEFAULT
    pq = idx.get("pq")
    if isinstance(pq, dict) and pq.get("enabled"):
        if (pq.get("segments") or 0) < 0:
            raise SchemaError(f"{where}.pq.segments: pq segments must be non-negative")
        enc = pq.get("encoder")
        if not isinstance(enc, dict):
            raise SchemaError(f"{where}.pq.encoder: expected an object")
        # A value the client leaves out (the Python client sends ``"encoder": {}``) keeps the default.
        enc.setdefault("type", "kmeans")
        enc.setdefault("distribution", "log-normal")
        if enc["type"] not in ("kmeans", "tile"):
            raise SchemaError(f"{where}.pq.encoder.type: invalid encoder type {enc['type']}")
        if enc["distribution"] not in ("log-normal", "normal"):
            raise SchemaError(
                f"{where}.pq.encoder.distribution: invalid encoder distribution {enc['distribution']}"
            )
        if (pq.get("centroids") or 0) < 1 or (pq.get("trainingLimit") or 0) < 1:
            raise SchemaError(f"{where}.pq: centroids and trainingLimit must be positive")


@dataclass(frozen=True)
class Compression:
    """What a multi-vector index keeps in memory for candidate scoring: ``kind`` ``"binary"`` or ``"int8"``
    (``None``: no compact copy, exact MaxSim over every candidate), the Weaviate quantizer that asked for
    it, and how many candidates are rescored exactly (at least the query's limit)."""

    kind: str | None = None
    quantizer: str | None = None
    rescore_limit: int = 0

    def rescored(self, k: int) -> int:
        return max(self.rescore_limit, k)


def compression_of(idx: JSON) -> Compression:
    """The compression a (validated) multi-vector hnsw config asks for."""
    for q in QUANTIZERS:
        part = idx.get(q)
        if not (isinstance(part, dict) and part.get("enabled")):
            continue
        binary = q == "bq" or (q == "rq" and part.get("bits") == 1)
        default = BINARY_RESCORE_DEFAULT if binary else INT8_RESCORE_DEFAULT
        rl = part.get("rescoreLimit") if q != "pq" else None
        limit = rl if isinstance(rl, int) and rl > 0 else default
        return Compression("binary" if binary else "int8", q, limit)
    return Compression()


def pooling_of(module_config: JSON, where: str) -> int:
    """The pool factor of ``colweavePooling`` in a vectorizer's module config (1: no pooling); validated,
    normalised in place to ``{"poolFactor": n}``."""
    p = module_config.get(POOLING_KEY)
    if p is None:
        return 1
    pwhere = f"{where}.{POOLING_KEY}"
    if not isinstance(p, dict):
        raise SchemaError(f'{pwhere}: expected an object such as {{"poolFactor": 2}}')
    unknown = sorted(set(p) - {"poolFactor"})
    if unknown:
        raise SchemaError(f"{pwhere}: unknown setting(s) {', '.join(map(repr, unknown))} (only poolFactor)")
    f = _typed(p, "poolFactor", int, pwhere)
    if f is None or not 1 <= f <= MAX_POOL_FACTOR:
        raise SchemaError(
            f"{pwhere}.poolFactor: must be an integer between 1 and {MAX_POOL_FACTOR}, got {f!r}"
        )
    module_config[POOLING_KEY] = {"poolFactor": f}
    return int(f)

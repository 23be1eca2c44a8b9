"""Independent reference implementations and helpers for the store tests (plain Python / numpy)."""

from __future__ import annotations

import math
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


# Weaviate's "en" stopword preset, as weaviate.md lists it.
EN = set(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there "  # noqa: SIM905
    "these they this to was will with".split()
)


def ref_bm25(
    objs: list[tuple[str, dict]], query: str, props: list[tuple[str, float]], k1: float = 1.2, b: float = 0.75
) -> list[tuple[str, float]]:
    """weaviate.md §3 over every object: N = all objects, avgLen over the objects having the property,
    and (as Weaviate's block-max search does) one document frequency per term, averaged over the searched
    properties that contain it."""
    n_obj = len(objs)
    terms: dict[str, int] = {}
    for t in ref_tokenize(query):
        if t not in EN:
            terms[t] = terms.get(t, 0) + 1
    toks_by_prop: dict[str, dict[str, list[str]]] = {}
    for name, _ in props:
        toks: dict[str, list[str]] = {}
        for u, p in objs:
            v = p.get(name)
            if v is None:
                continue
            vals = v if isinstance(v, list) else [v]
            toks[u] = [t for x in vals for t in ref_tokenize(x)]
        toks_by_prop[name] = toks
    # One document frequency per term: the mean (integer division) over the searched properties having it.
    df: dict[str, int] = {}
    for term in terms:
        counts = [sum(1 for t in toks_by_prop[name].values() if term in t) for name, _ in props]
        nonzero = [c for c in counts if c]
        if nonzero:
            df[term] = sum(nonzero) // len(nonzero)
    scores: dict[str, float] = {}
    for name, boost in props:
        toks = toks_by_prop[name]
        if not toks:
            continue
        avg = sum(len(t) for t in toks.values()) / len(toks)
        for term, mult in terms.items():
            if term not in df or not any(term in t for t in toks.values()):
                continue
            n = df[term]
            idf = math.log(1 + (n_obj - n + 0.5) / (n + 0.5))
            for u, t in toks.items():
                f = t.count(term)
                if f:
                    s = idf * f / (f + k1 * (1 - b + b * len(t) / avg)) * boost * mult
                    scores[u] = scores.get(u, 0.0) + s
    order = {u: i for i, (u, _) in enumerate(objs)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))

"""Vector search over a collection's multi-vectors: exact MaxSim through the Rust kernel, or MUVERA
candidates then exact rescoring; ``near_text`` embeds the query with the collection's vectorizer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from colweave import _native
from colweave.store.cow import present_values
from colweave.store.errors import (
    QueryError,
)
from colweave.store.filters import FilterT
from colweave.store.reads import Reads, _check_page, _cut
from colweave.store.results import SearchResult
from colweave.store.segments import Snapshot, muvera_encode
from colweave.store.state import _numeric_matrix

F32 = npt.NDArray[np.float32]
# A query multi-vector holds at most this many tokens (Weaviate Embeddings' limit on a query).
MAX_QUERY_TOKENS = 8192


class VectorSearch(Reads):
    def _allowed_docs(self, filters: FilterT | None) -> set[int] | None:
        return None if filters is None else set(self._matching(filters))

    def _vector_topk(self, name: str, query: F32, k: int, allowed: set[int] | None) -> tuple[list[int], F32]:
        """The ``k`` best objects by MaxSim (exact, or MUVERA candidates then exact rescoring)."""
        dim = self._dim(name)
        vc = self._config.vectors[name]
        if dim is None or k == 0:
            return [], np.zeros(0, np.float32)
        if query.shape[1] != dim:
            raise QueryError(f"near_vector: the query has dimension {query.shape[1]}, {name!r} uses {dim}")
        snap: Snapshot = self._snapshot(name)
        if allowed is None:
            cands = snap.live
        else:
            cands = np.asarray(present_values(self._slot_of[name], allowed), np.int64)
            cands.sort()
        if len(cands) == 0:
            return [], np.zeros(0, np.float32)
        if vc.muvera.enabled and snap.fdes is not None:
            ef = muvera_pool(vc.index_extra, k)
            if ef < len(cands):
                mask = np.zeros(len(snap.slot_doc), np.uint8)
                mask[cands] = 1
                qf = muvera_encode(vc.muvera, [query], is_query=True)[0]
                cands, _ = _native.fde_topk(qf, snap.fdes, ef, allowed=mask)
        idx, scores = _native.maxsim_topk(
            query, snap.rows, snap.offsets, k, candidates=np.ascontiguousarray(cands)
        )
        return [int(snap.slot_doc[i]) for i in idx], scores

    def _query_matrix(self, name: str, v: Any) -> F32:
        q = _numeric_matrix(v)
        if q is None:
            raise QueryError("near_vector: the query is not a numeric matrix")
        if q.ndim == 1:
            q = q[None, :]
        if q.ndim != 2 or q.shape[0] == 0 or q.shape[1] == 0:
            raise QueryError(f"near_vector: expected a (tokens, dim) multi-vector, got shape {q.shape}")
        if q.shape[0] > MAX_QUERY_TOKENS:
            raise QueryError(
                f"near_vector: the query has {q.shape[0]} tokens, at most {MAX_QUERY_TOKENS} are allowed"
            )
        dim = self._dim(name)
        if dim is not None and q.shape[1] != dim:
            raise QueryError(f"near_vector: the query has dimension {q.shape[1]}, {name!r} uses {dim}")
        if not np.all(np.isfinite(q)):
            raise QueryError("near_vector: the query has NaN or infinite values")
        return self._for_distance(name, q)

    def near_vector(
        self,
        near_vector: Any,
        *,
        target_vector: str | None = None,
        limit: int = 10,
        offset: int = 0,
        autocut: int | None = None,
        distance: float | None = None,
        filters: FilterT | None = None,
        return_properties: Sequence[str] | None = None,
        include_vector: bool | Sequence[str] = False,
    ) -> list[SearchResult]:
        """The objects closest to a multi-vector: distance = -MaxSim (lower is better)."""
        _check_page(limit, offset)
        with self._state.read():
            name = self._target(target_vector)
            q = self._query_matrix(name, near_vector)
            docs, scores = self._vector_topk(name, q, offset + limit, self._allowed_docs(filters))
            dists = [-float(s) for s in scores]
            keep = [(d, x) for d, x in zip(docs, dists, strict=True) if distance is None or x <= distance]
            keep = _cut(keep, offset, limit, autocut, [x for _, x in keep])
            return [self._result(d, return_properties, include_vector, distance=x) for d, x in keep]

    def near_text(self, query: str, *, target_vector: str | None = None, **kwargs: Any) -> list[SearchResult]:
        """``near_vector`` with the collection's vectorizer applied to ``query``."""
        # The named vectors never change: the query is embedded outside the lock.
        name = self._target(target_vector)
        q = self._embed_query(name, query)
        return self.near_vector(q, target_vector=name, **kwargs)

    def _embed_query(self, name: str, query: str) -> F32:
        if not isinstance(query, str) or not query:
            raise QueryError("query: expected a non-empty string")
        if self._config.vectors[name].vectorizer == "none":
            raise QueryError(f"near_text: vector {name!r} has no vectorizer (it is self-provided)")
        if self.vectorizer is None:
            raise QueryError("near_text: the store was opened without a vectorizer")
        (m,) = self.vectorizer.embed_queries([query])
        return np.asarray(m, np.float32)


def muvera_pool(index_config: dict[str, Any], k: int) -> int:
    """How many MUVERA candidates are rescored exactly for the best ``k``: the index's ``ef`` when set
    (> 0), else ``max(dynamicEfMax, dynamicEfFactor·k)`` (500 for k ≤ 62 with Weaviate's defaults: the
    brute-force scan over the encodings is cheap, and fewer candidates lose recall at 20k pages)."""
    ef = int(index_config.get("ef", -1))
    if ef <= 0:
        ef = max(int(index_config.get("dynamicEfMax", 500)), int(index_config.get("dynamicEfFactor", 8)) * k)
    return max(ef, k)

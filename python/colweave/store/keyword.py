"""Keyword (BM25) and hybrid search: Weaviate's BM25 over the inverted index, fused with vector search
by the Rust fusion kernel (relativeScore or ranked), with Weaviate's explainScore."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from colweave import _native
from colweave.store.errors import (
    QueryError,
)
from colweave.store.filters import FilterT
from colweave.store.reads import _check_page, _cut
from colweave.store.results import SearchResult, explain_ranked, explain_relative
from colweave.store.vector_search import VectorSearch

F32 = npt.NDArray[np.float32]
VECTOR_SET = "vector,hybridVector"
KEYWORD_SET = "keyword,bm25"


class Keyword(VectorSearch):
    def _allowed_mask(self, filters: FilterT | None) -> npt.NDArray[np.uint8] | None:
        if filters is None:
            return None
        docs = self._matching(filters)  # ascending; the index pads the mask to its size
        mask = np.zeros(docs[-1] + 1 if docs else 0, np.uint8)
        if docs:
            mask[np.asarray(docs, np.int64)] = 1
        return mask

    def bm25(
        self,
        query: str,
        *,
        query_properties: list[str] | None = None,
        limit: int = 10,
        offset: int = 0,
        autocut: int | None = None,
        filters: FilterT | None = None,
        return_properties: Sequence[str] | None = None,
        include_vector: bool | Sequence[str] = False,
    ) -> list[SearchResult]:
        """Keyword search with Weaviate's BM25 over the searchable text properties."""
        _check_page(limit, offset)
        if not isinstance(query, str):
            raise QueryError("query: expected a string")
        with self._state.read():
            docs, scores = self._bm25.search(
                query, offset + limit, query_properties, self._allowed_mask(filters)
            )
            values = scores.tolist()
            keep = _cut(list(zip(docs.tolist(), values, strict=True)), offset, limit, autocut, values)
            return [self._result(d, return_properties, include_vector, score=s) for d, s in keep]

    def hybrid(
        self,
        query: str,
        *,
        alpha: float = 0.75,
        vector: Any = None,
        query_properties: list[str] | None = None,
        fusion_type: str = "relativeScore",
        target_vector: str | None = None,
        max_vector_distance: float | None = None,
        vector_legs: tuple[Sequence[tuple[str | None, Any]], str, Sequence[float] | None] | None = None,
        limit: int = 10,
        offset: int = 0,
        autocut: int | None = None,
        filters: FilterT | None = None,
        return_properties: Sequence[str] | None = None,
        include_vector: bool | Sequence[str] = False,
    ) -> list[SearchResult]:
        """BM25 and vector search fused (alpha = vector weight; relativeScore or ranked). The vector leg's
        score is ``1 - distance`` (a multi-vector's distance is -MaxSim, a single vector's its
        configured distance). ``max_vector_distance`` keeps only objects the vector leg finds within
        that distance, in both legs (as Weaviate does). ``vector_legs`` (legs, combination, weights)
        makes the vector leg a multi-target search (see ``near_vectors``)."""
        _check_page(limit, offset)
        fusion = _fusion(fusion_type)
        # A multi-target vector leg brings its own vectors: nothing to embed.
        embedded = self._hybrid_embedding(
            query, alpha, vector if vector_legs is None else vector_legs, target_vector
        )
        with self._state.read():
            legs, rows = self._hybrid_rows(
                query,
                alpha,
                vector if embedded is None else embedded,
                query_properties,
                fusion,
                target_vector,
                max_vector_distance,
                max(100, offset + limit),
                self._allowed_docs(filters),
                vector_legs,
            )
            rows = _cut(rows, offset, limit, autocut, [r[1] for r in rows])
            original = [dict(zip(docs, s.tolist(), strict=True)) for _, docs, s, _ in legs]
            out = []
            for d, s, c in rows:
                u = self._recs[d].uuid
                if fusion == "relativeScore":
                    explain = explain_relative(
                        u,
                        [
                            (legs[i][0], original[i][d], float(c[i]))
                            for i in range(len(legs))
                            if d in original[i]
                        ],
                    )
                else:
                    explain = explain_ranked(
                        u, [(legs[i][0], float(c[i])) for i in range(len(legs)) if d in original[i]]
                    )
                out.append(self._result(d, return_properties, include_vector, score=s, explain_score=explain))
            return out

    def _hybrid_embedding(
        self, query: str, alpha: float, vector: Any, target_vector: str | None
    ) -> F32 | None:
        """The query text's embedding when the vector leg runs without a given vector (outside the lock)."""
        if not isinstance(alpha, int | float) or isinstance(alpha, bool) or not 0 <= alpha <= 1:
            raise QueryError(f"alpha: must be between 0 and 1, got {alpha!r}")
        if not isinstance(query, str):
            raise QueryError("query: expected a string")
        if alpha > 0 and self._config.vectors and vector is None:
            return self._embed_query(self._target(target_vector), query)
        return None

    def _hybrid_rows(
        self,
        query: str,
        alpha: float,
        vector: Any,
        query_properties: list[str] | None,
        fusion: Literal["relativeScore", "ranked"],
        target_vector: str | None,
        max_vector_distance: float | None,
        k_leg: int,
        allowed: set[int] | None,
        vector_legs: tuple[Sequence[tuple[str | None, Any]], str, Sequence[float] | None] | None = None,
    ) -> tuple[list[tuple[str, list[int], F32, float]], list[tuple[int, float, Any]]]:
        """Each leg's best ``k_leg`` objects and their fusion, best first: ``(doc, score, contributions)``.
        Callers have pinned the view (``_state.read()``)."""
        if max_vector_distance is not None and (
            isinstance(max_vector_distance, bool)
            or not isinstance(max_vector_distance, int | float)
            or not np.isfinite(max_vector_distance)
        ):
            raise QueryError(f"max_vector_distance: expected a finite number, got {max_vector_distance!r}")
        legs: list[tuple[str, list[int], F32, float]] = []
        within: set[int] | None = None
        if alpha > 0 and self._config.vectors:
            if vector_legs is not None:
                names, queries = self._legs(vector_legs[0])
                nearest = self._combined(names, queries, vector_legs[1], vector_legs[2], k_leg, allowed)
                docs, dists = [d for d, _ in nearest], np.asarray([x for _, x in nearest], np.float64)
            else:
                name = self._target(target_vector)
                q = self._search_vector(name, vector)
                docs, dists = self._nearest(name, q, k_leg, allowed)
            if max_vector_distance is not None:
                n_in = int(np.searchsorted(dists, max_vector_distance, side="right"))  # nearest first
                docs, dists = docs[:n_in], dists[:n_in]
                within = set(docs)
            vscores = (np.float32(1) - dists.astype(np.float32)).astype(np.float32)  # 1 - distance
            legs.append((VECTOR_SET, docs, vscores, float(alpha)))
        if alpha < 1:
            mask = None
            if allowed is not None:
                mask = np.zeros(max(allowed, default=-1) + 1, np.uint8)
                if allowed:
                    mask[np.fromiter(allowed, np.int64)] = 1
            bdocs, bscores = self._bm25.search(query, k_leg, query_properties, mask)
            kdocs, kscores = [int(d) for d in bdocs], bscores.astype(np.float32)
            if within is not None:  # Weaviate drops keyword results beyond the vector cut-off
                keep = np.asarray([d in within for d in kdocs], bool)
                kdocs, kscores = [d for d in kdocs if d in within], kscores[keep] if len(keep) else kscores
            legs.append((KEYWORD_SET, kdocs, kscores, 1.0 - float(alpha)))
        union = sorted({d for _, docs, _, _ in legs for d in docs}, key=lambda d: self._recs[d].uuid)
        key_of = {d: i for i, d in enumerate(union)}
        keys, fused, contrib = _native.fuse(
            [np.asarray([key_of[d] for d in docs], np.uint64) for _, docs, _, _ in legs],
            [np.ascontiguousarray(s, np.float32) for _, _, s, _ in legs],
            [w for _, _, _, w in legs],
            fusion,
        )
        rows = [(union[int(k)], float(s), c) for k, s, c in zip(keys, fused, contrib, strict=True)]
        return legs, rows


def _fusion(fusion_type: str) -> Literal["relativeScore", "ranked"]:
    if fusion_type in ("relativeScore", "relative_score"):
        return "relativeScore"
    if fusion_type == "ranked":
        return "ranked"
    raise QueryError(f"fusion_type: expected 'relativeScore' or 'ranked', got {fusion_type!r}")

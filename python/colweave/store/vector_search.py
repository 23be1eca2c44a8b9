"""Vector search: over a multi-vector, exact MaxSim through the Rust kernel (or MUVERA candidates then
exact rescoring), distance = -MaxSim; over a single vector, an exact scan with Weaviate's distance
(cosine, dot, l2-squared, manhattan, hamming) through the Rust dense kernel, whatever index type
(hnsw, flat, dynamic) the config names. ``near_text`` embeds the query with the collection's
vectorizer."""

from __future__ import annotations

import base64
import binascii
import uuid as uuidlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from colweave import _native
from colweave.store.copies import gather_exact, will_need
from colweave.store.cow import present_values
from colweave.store.errors import (
    QueryError,
)
from colweave.store.filters import FilterT
from colweave.store.objects import parse_uuid
from colweave.store.reads import Reads, _check_page, _cut
from colweave.store.results import SearchResult
from colweave.store.segments import Snapshot, muvera_encode
from colweave.store.state import _numeric_matrix

F32 = npt.NDArray[np.float32]
# A query multi-vector holds at most this many tokens (Weaviate Embeddings' limit on a query).
MAX_QUERY_TOKENS = 8192
# How a multi-target search combines the distances of its legs (Weaviate's combination methods).
COMBINATIONS = ("min", "sum", "average", "manual", "relativeScore")


class VectorSearch(Reads):
    def _allowed_docs(self, filters: FilterT | None) -> set[int] | None:
        return None if filters is None else set(self._matching(filters))

    def _slots(self, name: str, snap: Snapshot, allowed: set[int] | None) -> npt.NDArray[np.int64]:
        """The live slots of vector ``name`` to search, in slot order: every one, or those of ``allowed``."""
        if allowed is None:
            return snap.live
        slots = np.asarray(present_values(self._slot_of[name], allowed), np.int64)
        slots.sort()
        return slots

    def _vector_topk(self, name: str, query: F32, k: int, allowed: set[int] | None) -> tuple[list[int], F32]:
        """The ``k`` best objects by MaxSim (exact, or MUVERA candidates then exact rescoring)."""
        dim = self._dim(name)
        vc = self._config.vectors[name]
        if dim is None or k == 0:
            return [], np.zeros(0, np.float32)
        if query.shape[1] != dim:
            raise QueryError(f"near_vector: the query has dimension {query.shape[1]}, {name!r} uses {dim}")
        snap: Snapshot = self._snapshot(name)
        cands = self._slots(name, snap, allowed)
        if len(cands) == 0:
            return [], np.zeros(0, np.float32)
        view = self._copy_view(name)  # the codes of exactly this view's rows
        if vc.muvera.enabled and snap.fdes is not None:
            ef = muvera_pool(vc.index_extra, k)
            if ef < len(cands):
                qf = muvera_encode(vc.muvera, [query], is_query=True)[0]
                mask = np.zeros(len(snap.slot_doc), np.uint8)  # the live (and allowed) slots
                mask[cands] = 1
                if view is not None and view.codes.fde is not None:  # the int8 encodings the copy holds
                    cands = view.fde_topk(qf, ef, mask)
                else:
                    cands, _ = _native.fde_topk(qf, snap.fdes, ef, allowed=mask)
                if view is None:  # the candidates' originals, read from disk together if they must be
                    will_need(snap, cands)
        if view is not None:
            # Compact-copy scoring, then exact fp16 MaxSim on the best rescoreLimit (at least k).
            n = vc.compression.rescored(k)
            if n < len(cands):
                cands = view.topk(query, snap.offsets, n, np.ascontiguousarray(cands))
            idx, scores = gather_exact(query, snap, cands, k)
        else:
            idx, scores = _native.maxsim_topk(
                query, snap.rows, snap.offsets, k, candidates=np.ascontiguousarray(cands)
            )
        return [int(snap.slot_doc[i]) for i in idx], scores

    def _single_topk(self, name: str, query: F32, k: int, allowed: set[int] | None) -> tuple[list[int], F32]:
        """The ``k`` nearest objects by the single vector ``name``'s distance (exact), nearest first."""
        if self._dim(name) is None or k == 0:
            return [], np.zeros(0, np.float32)
        snap: Snapshot = self._snapshot(name)
        slots = self._slots(name, snap, allowed)
        if len(slots) == 0:
            return [], np.zeros(0, np.float32)
        rows = np.ascontiguousarray(snap.offsets[slots])  # a live slot's one row; increasing with the slot
        metric = self._config.vectors[name].distance
        idx, dist = _native.dense_topk(query, snap.rows, k, metric=metric, candidates=rows)  # type: ignore[arg-type]
        found = slots[np.searchsorted(rows, idx)]
        return [int(d) for d in snap.slot_doc[found]], dist

    def _query_single(self, name: str, v: Any) -> F32:
        q = _numeric_matrix(v)
        if q is None:
            raise QueryError("near_vector: the query is not a numeric vector")
        if q.ndim == 2 and q.shape[0] == 1:
            q = q[0]
        if q.ndim != 1 or q.shape[0] == 0:
            raise QueryError(
                f"near_vector: {name!r} is a single vector: expected a non-empty list of numbers, "
                f"got shape {q.shape}"
            )
        dim = self._dim(name)
        if dim is not None and q.shape[0] != dim:
            raise QueryError(f"near_vector: the query has dimension {q.shape[0]}, {name!r} uses {dim}")
        if not np.all(np.isfinite(q)):
            raise QueryError("near_vector: the query has NaN or infinite values")
        return np.ascontiguousarray(q, np.float32)

    def _search_vector(self, name: str, v: Any) -> F32:
        """The query for target ``name``: a multi-vector matrix or a single vector."""
        if self._config.vectors[name].multi:
            return self._query_matrix(name, v)
        return self._query_single(name, v)

    def _nearest(
        self, name: str, query: F32, k: int, allowed: set[int] | None
    ) -> tuple[list[int], npt.NDArray[np.float64]]:
        """The ``k`` nearest objects and their distances (lower is better) for target ``name``."""
        if self._config.vectors[name].multi:
            docs, scores = self._vector_topk(name, query, k, allowed)
            return docs, -scores.astype(np.float64)
        docs, dist = self._single_topk(name, query, k, allowed)
        return docs, dist.astype(np.float64)

    def _max_distance(self, name: str, distance: float | None, certainty: float | None) -> float | None:
        """The distance limit of a search: ``distance``, or Weaviate's ``(1 - certainty) * 2``, which
        only a cosine vector has (single or multi: Weaviate checks the distance's name only)."""
        return self._distance_cut(name, distance, certainty, check_cosine=True)

    def _distance_meta(self, name: str, dist: float) -> dict[str, float]:
        """A result's distance, and its certainty where Weaviate gives one (cosine vectors)."""
        if self._config.vectors[name].distance == "cosine":
            return {"distance": dist, "certainty": certainty_of(dist)}
        return {"distance": dist}

    def token_counts(self, uuid: str, target_vector: str | None = None) -> tuple[int, int] | None:
        """How many tokens an object's multi-vector keeps, and how many it had before pooling (equal when
        the vector does not pool tokens); None when the object or its vector does not exist, or when the
        vector is a single vector."""
        with self._state.read():
            name = self._target(target_vector)
            doc = self._doc_of.get(parse_uuid(uuid))
            return None if doc is None else self._token_counts(name, doc)

    def _token_counts(self, name: str, doc: int) -> tuple[int, int] | None:
        slot = self._slot_of[name].get(doc)
        if slot is None or not self._config.vectors[name].multi:
            return None
        offsets = self._snapshot(name).offsets
        kept = int(offsets[slot + 1] - offsets[slot])
        return kept, self._original_tokens(name).get(doc, kept)

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
        certainty: float | None = None,
        filters: FilterT | None = None,
        return_properties: Sequence[str] | None = None,
        include_vector: bool | Sequence[str] = False,
    ) -> list[SearchResult]:
        """The objects closest to a query vector, lower distance first: for a multi-vector
        distance = -MaxSim; for a single vector the distance its config names (Weaviate's values; with
        cosine also Weaviate's certainty, ``1 - distance / 2``). ``distance`` (or ``certainty``, cosine
        only) keeps the results within that limit."""
        _check_page(limit, offset)
        with self._state.read():
            name = self._target(target_vector)
            q = self._search_vector(name, near_vector)
            limit_d = self._max_distance(name, distance, certainty)
            docs, dists = self._nearest(name, q, offset + limit, self._allowed_docs(filters))
            keep = [
                (d, float(x)) for d, x in zip(docs, dists, strict=True) if limit_d is None or x <= limit_d
            ]
            keep = _cut(keep, offset, limit, autocut, [x for _, x in keep])
            out = [
                self._result(d, return_properties, include_vector, **self._distance_meta(name, x))
                for d, x in keep
            ]
            for r, (d, _) in zip(out, keep, strict=True):
                counts = self._token_counts(name, d)
                if counts is not None:
                    r.tokens[name] = counts
            return out

    def _distances_for(self, name: str, query: F32, docs: Sequence[int]) -> dict[int, float]:
        """The exact distance of each of ``docs`` that has vector ``name`` (the others are left out)."""
        slots = np.asarray(sorted(present_values(self._slot_of[name], docs)), np.int64)
        if self._dim(name) is None or len(slots) == 0:
            return {}
        snap: Snapshot = self._snapshot(name)
        if self._config.vectors[name].multi:
            idx, scores = _native.maxsim_topk(query, snap.rows, snap.offsets, len(slots), candidates=slots)
            return {int(snap.slot_doc[i]): -float(x) for i, x in zip(idx, scores, strict=True)}
        rows = np.ascontiguousarray(snap.offsets[slots])
        metric = self._config.vectors[name].distance
        dist = _native.dense_distances(query, snap.rows, metric=metric, candidates=rows)  # type: ignore[arg-type]
        return {int(snap.slot_doc[s]): float(x) for s, x in zip(slots, dist, strict=True)}

    def _legs(self, legs: Sequence[tuple[str | None, Any]]) -> tuple[list[str], list[F32]]:
        """The target names and checked query vectors of a multi-target search's legs."""
        if not legs:
            raise QueryError("near_vector: no vector given")
        names = [self._target(t) for t, _ in legs]
        return names, [self._search_vector(name, v) for name, (_, v) in zip(names, legs, strict=True)]

    def _combined(
        self,
        names: list[str],
        queries: list[F32],
        combination: str,
        weights: Sequence[float] | None,
        k: int,
        allowed: set[int] | None,
    ) -> list[tuple[int, float]]:
        """The objects of a multi-target search with their combined distances, best first (see
        :meth:`near_vectors`)."""
        if combination not in COMBINATIONS:
            raise QueryError(f"combination: expected one of {', '.join(COMBINATIONS)}, got {combination!r}")
        n = len(names)
        if combination == "sum":
            w = [1.0] * n
        elif combination == "average":
            w = [1.0 / n] * n
        elif combination in ("manual", "relativeScore"):
            if weights is None or len(weights) != n:
                raise QueryError(
                    f"number of weights ({0 if weights is None else len(weights)}) does not match number of "
                    f"targets ({n})"
                )
            w = [float(x) for x in weights]
        else:
            w = [0.0] * n
        found = [self._nearest(name, q, k, allowed) for name, q in zip(names, queries, strict=True)]
        combined: dict[int, float] = {}
        if n == 1:  # one leg: its own distances, as Weaviate returns them
            docs, dists = found[0]
            combined = dict(zip(docs, dists.tolist(), strict=True))
        elif combination == "min":
            for docs, dists in found:
                for d, x in zip(docs, dists.tolist(), strict=True):
                    combined[d] = min(combined.get(d, x), x)
        else:
            union = sorted({d for docs, _ in found for d in docs})
            per_leg: list[dict[int, float]] = []
            for name, q, (docs, dists) in zip(names, queries, found, strict=True):
                have = dict(zip(docs, dists.tolist(), strict=True))
                have.update(self._distances_for(name, q, [d for d in union if d not in have]))
                per_leg.append(have)
            union = [d for d in union if all(d in leg for leg in per_leg)]  # every vector present
            combined = dict.fromkeys(union, 0.0)
            for wi, leg in zip(w, per_leg, strict=True):
                if combination == "relativeScore":
                    vals = [leg[d] for d in union]
                    lo, hi = (min(vals), max(vals)) if vals else (0.0, 0.0)
                    for d in union:
                        combined[d] += wi * (leg[d] - lo) / (hi - lo) if hi != lo else wi
                else:
                    for d in union:
                        combined[d] += wi * leg[d]
        return sorted(combined.items(), key=lambda dx: (dx[1], dx[0]))

    def near_vectors(
        self,
        legs: Sequence[tuple[str | None, Any]],
        *,
        combination: str = "min",
        weights: Sequence[float] | None = None,
        limit: int = 10,
        offset: int = 0,
        autocut: int | None = None,
        distance: float | None = None,
        filters: FilterT | None = None,
        return_properties: Sequence[str] | None = None,
        include_vector: bool | Sequence[str] = False,
    ) -> list[SearchResult]:
        """A search over several (target vector, query vector) legs, their distances combined as
        Weaviate's multi-target search combines them: each leg finds its ``offset + limit`` nearest
        objects; ``min`` keeps each found object's smallest distance; ``sum``, ``average`` and
        ``manual`` (``weights``, one per leg) add the weighted distances of every leg, computed exactly
        for the objects a leg did not find (an object without one of the vectors is left out);
        ``relativeScore`` min-max normalises each leg's distances over the found objects and adds them
        weighted. Lower is better; ``distance`` limits the combined value (not for relativeScore)."""
        _check_page(limit, offset)
        with self._state.read():
            names, queries = self._legs(legs)
            rows = self._combined(
                names, queries, combination, weights, offset + limit, self._allowed_docs(filters)
            )
            if distance is not None and combination != "relativeScore":
                rows = [(d, x) for d, x in rows if x <= distance]
            rows = _cut(rows, offset, limit, autocut, [x for _, x in rows])
            return [self._result(d, return_properties, include_vector, distance=x) for d, x in rows]

    def _distance_cut(
        self, name: str, distance: float | None, certainty: float | None, *, check_cosine: bool
    ) -> float | None:
        """The largest distance kept: ``distance``, or Weaviate's ``(1 - certainty) * 2`` in float32."""
        if distance is not None and certainty is not None:
            raise QueryError("cannot provide distance and certainty at once")
        for what, v in (("distance", distance), ("certainty", certainty)):
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v)
            ):
                raise QueryError(f"{what}: expected a finite number, got {v!r}")
        if certainty is None:
            return None if distance is None else float(distance)
        dist = self._config.vectors[name].distance
        if check_cosine and dist != "cosine":
            raise QueryError(
                f"can't compute and return certainty when vector index is configured with {dist} distance"
            )
        return float(np.float32(1 - certainty) * np.float32(2))

    def near_object(
        self, uuid: str | uuidlib.UUID, *, target_vector: str | None = None, **kwargs: Any
    ) -> list[SearchResult]:
        """``near_vector`` with the stored vector of object ``uuid`` as the query: the object itself is
        one of the results (at distance -MaxSim with itself), as in Weaviate, which excludes nothing."""
        name, q = self.stored_query_vector(uuid, target_vector)
        return self.near_vector(q, target_vector=name, **kwargs)

    def stored_query_vector(
        self, uuid: str | uuidlib.UUID, target_vector: str | None = None
    ) -> tuple[str, F32]:
        """The target vector's name and object ``uuid``'s stored vector for it, as a query (a copy).

        The one place ``near_object`` (search and aggregate) reads its query from: Weaviate's errors
        when the object is missing ("vector not found") or has no vector for the target."""
        with self._state.read():
            name = self._target(target_vector)
            doc = self._doc_of.get(parse_uuid(uuid))
            if doc is None:
                raise QueryError(f"nearObject: vector not found: no object with id '{parse_uuid(uuid)}'")
            v = self._vector_of(name, doc)
            if v is None:
                raise QueryError(f"nearObject: vector not found for target: {name}")
            return name, np.array(v, np.float32)

    def near_image(
        self, image: bytes | str, *, target_vector: str | None = None, **kwargs: Any
    ) -> list[SearchResult]:
        """``near_vector`` with an image (bytes, or base64 text) embedded as a page by the vector's
        vectorizer: "pages like this page"."""
        name = self._target(target_vector)
        q = self._embed_image(name, image)
        return self.near_vector(q, target_vector=name, **kwargs)

    def _embed_image(self, name: str, image: bytes | str) -> F32:
        if isinstance(image, str):
            try:
                image = base64.b64decode(image, validate=True)
            except (binascii.Error, ValueError):
                raise QueryError("near_image: the image is not valid base64") from None
        if not isinstance(image, bytes | bytearray | memoryview) or not image:
            raise QueryError("near_image: expected a non-empty image (bytes or base64 text)")
        self._check_vectorizer(name, "near_image")
        assert self.vectorizer is not None
        try:
            (m,) = self.vectorizer.embed_images([bytes(image)])
        except ValueError as e:  # an image the model cannot decode
            raise QueryError(f"near_image: {e}") from None
        return np.asarray(m, np.float32)

    def _vector_docs(
        self, name: str, q: F32, object_limit: int | None, cut: float | None, allowed: set[int] | None
    ) -> tuple[list[int], list[float]]:
        """The objects of a vector search for an aggregate: the best ``object_limit`` (all when None),
        then those within ``cut``, nearest first, with their distances."""
        k = len(self._slot_of[name]) if object_limit is None else object_limit
        docs, found = self._nearest(name, q, k, allowed)
        dists = found.tolist()
        if cut is None:
            return docs, dists
        n = next((i for i, x in enumerate(dists) if x > cut), len(dists))
        return docs[:n], dists[:n]

    def near_text(self, query: str, *, target_vector: str | None = None, **kwargs: Any) -> list[SearchResult]:
        """``near_vector`` with the collection's vectorizer applied to ``query``."""
        # The named vectors never change: the query is embedded outside the lock.
        name = self._target(target_vector)
        q = self._embed_query(name, query)
        return self.near_vector(q, target_vector=name, **kwargs)

    def _embed_query(self, name: str, query: str) -> F32:
        if not isinstance(query, str) or not query:
            raise QueryError("query: expected a non-empty string")
        self._check_vectorizer(name, "near_text")
        assert self.vectorizer is not None
        (m,) = self.vectorizer.embed_queries([query])
        return np.asarray(m, np.float32)

    def _check_vectorizer(self, name: str, where: str) -> None:
        if self._config.vectors[name].vectorizer == "none":
            raise QueryError(f"{where}: vector {name!r} has no vectorizer (it is self-provided)")
        if self.vectorizer is None:
            raise QueryError(f"{where}: the store was opened without a vectorizer")


def certainty_of(distance: float) -> float:
    """Weaviate's certainty of a cosine distance: ``1 - distance / 2``."""
    return 1.0 - distance / 2.0


def muvera_pool(index_config: dict[str, Any], k: int) -> int:
    """How many MUVERA candidates are rescored exactly for the best ``k``: the index's ``ef`` when set
    (> 0), else ``max(dynamicEfMax, dynamicEfFactor·k)`` (500 for k ≤ 62 with Weaviate's defaults: the
    brute-force scan over the encodings is cheap, and fewer candidates lose recall at 20k pages)."""
    ef = int(index_config.get("ef", -1))
    if ef <= 0:
        ef = max(int(index_config.get("dynamicEfMax", 500)), int(index_config.get("dynamicEfFactor", 8)) * k)
    return max(ef, k)

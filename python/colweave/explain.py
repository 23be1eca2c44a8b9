"""Why a page matched a query: the late-interaction score taken apart.

MaxSim scores a page as the sum, over the query's vectors, of each one's best dot product with a page
vector. ``explain`` keeps what that sum throws away: for every query token its best page vector, the
score, and (when the page has a layout, see ``colweave.layout``) the patch and the box on the page, plus
the best image patch (the best vector can be a text token of the page's prompt, which has no box);
and the similarity of every page vector to every query token, from which ``similarity_map`` gives the
score of every image patch for one token, a set of tokens (a word), or the whole query (the maximum
over its tokens).

The arithmetic is float32 matrix products over the vectors as stored (the store's float16 rows widened
to float32), so the total equals the search's MaxSim up to float rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from colweave.layout import PageLayout, Patch

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class TokenInfo:
    """What a query vector stands for (``colweave.model.tokenizer.QueryToken`` has these fields)."""

    text: str
    kind: str  # text, prefix, special, augmentation; "vector" for a query given as bare vectors
    start: int = -1
    end: int = -1


@dataclass(frozen=True)
class TokenMatch:
    index: int  # the query token (row of the query multi-vector)
    token: TokenInfo
    vector: int  # its best page vector
    score: float
    patch: Patch | None  # None: the best vector is a text or special token of the page, or no layout
    # The best image patch (the best vector may be a text token of the page prompt); None without layout.
    best_patch: Patch | None = None
    best_patch_score: float | None = None

    def to_json(self) -> dict[str, Any]:
        best = None
        if self.best_patch is not None:
            best = {**self.best_patch.to_json(), "score": self.best_patch_score}
        return {
            "index": self.index,
            "text": self.token.text,
            "kind": self.token.kind,
            "span": [self.token.start, self.token.end] if self.token.start >= 0 else None,
            "vector": self.vector,
            "score": self.score,
            "patch": self.patch.to_json() if self.patch is not None else None,
            "bestPatch": best,
        }


@dataclass
class Explanation:
    score: float  # MaxSim: the sum of the tokens' best scores
    tokens: list[TokenMatch]
    similarity: F32  # (query tokens, page vectors)
    layout: PageLayout | None

    def token_indices(self, tokens: Sequence[int] | None) -> list[int]:
        m = self.similarity.shape[0]
        if tokens is None:
            return list(range(m))
        out = []
        for t in tokens:
            if not isinstance(t, int) or isinstance(t, bool) or not 0 <= t < m:
                raise ValueError(f"token {t!r}: the query has tokens 0..{m - 1}")
            out.append(t)
        if not out:
            raise ValueError("tokens: name at least one query token")
        return out

    def similarity_map(self, tokens: Sequence[int] | None = None) -> F32:
        """Per page vector, the best score over the chosen query tokens (all when None).

        With a layout: ``(tiles, side, side)``, the patches of each tile in model order (grid tiles
        row-major, then the global tile). Without: ``(page vectors,)``."""
        rows = self.similarity[self.token_indices(tokens)]
        best: F32 = rows.max(axis=0)
        if self.layout is None:
            return best
        out: F32 = best[self.layout.patch_indices()]
        return out

    def to_json(self, map_tokens: Sequence[int] | None = None) -> dict[str, Any]:
        sim_map = self.similarity_map(map_tokens)
        out: dict[str, Any] = {
            "score": self.score,
            "tokens": [t.to_json() for t in self.tokens],
            "map": {
                "tokens": self.token_indices(map_tokens),
                "min": float(sim_map.min()),
                "max": float(sim_map.max()),
                "scores": sim_map.tolist(),
            },
            "layout": None,
        }
        if self.layout is not None:
            lay = self.layout
            out["layout"] = {
                **lay.to_dict(),
                "tiles": [
                    {
                        "index": t,
                        "global": t == lay.n_tiles - 1,
                        "box": list(lay.tile_box(t)),
                    }
                    for t in range(lay.n_tiles)
                ],
            }
        return out


def _as_matrix(v: Any, what: str) -> F32:
    m = np.asarray(v, dtype=np.float32)
    if m.ndim != 2 or m.shape[0] == 0 or m.shape[1] == 0 or not np.all(np.isfinite(m)):
        raise ValueError(f"{what}: expected a finite, non-empty (tokens, dim) matrix, got shape {m.shape}")
    return m


def explain(
    query: Any,
    page: Any,
    layout: PageLayout | None = None,
    tokens: Sequence[Any] | None = None,
) -> Explanation:
    """Takes the MaxSim of ``query`` (m, d) against ``page`` (n, d) apart; see the module docstring.

    ``tokens`` describes the query vectors (m objects with ``text``, ``kind`` and optionally
    ``start``/``end``, e.g. ``Encoder.query_tokens``); without it they are ``vector`` tokens. A
    ``layout`` must describe exactly ``n`` vectors."""
    q = _as_matrix(query, "query")
    p = _as_matrix(page, "page")
    if q.shape[1] != p.shape[1]:
        raise ValueError(f"the query has dimension {q.shape[1]}, the page {p.shape[1]}")
    if layout is not None:
        layout.check_vectors(p.shape[0])
    if tokens is not None and len(tokens) != q.shape[0]:
        raise ValueError(f"{len(tokens)} token descriptions for {q.shape[0]} query vectors")
    sim = np.ascontiguousarray(q @ p.T, dtype=np.float32)
    rows = np.arange(sim.shape[0])
    best = sim.argmax(axis=1)
    scores = sim[rows, best]
    if layout is not None:
        image_idx = layout.patch_indices().ravel()
        on_patches = sim[:, image_idx]
        pick = on_patches.argmax(axis=1)
        patch_vec, patch_scores = image_idx[pick].tolist(), on_patches[rows, pick].tolist()
    matches = []
    for i, (b, s) in enumerate(zip(best.tolist(), scores.tolist(), strict=True)):
        if tokens is None:
            info = TokenInfo(f"#{i}", "vector")
        else:
            t = tokens[i]
            info = TokenInfo(
                str(t.text), str(t.kind), int(getattr(t, "start", -1)), int(getattr(t, "end", -1))
            )
        if layout is None:
            matches.append(TokenMatch(i, info, int(b), float(s), None))
        else:
            matches.append(
                TokenMatch(
                    i,
                    info,
                    int(b),
                    float(s),
                    layout.patch(int(b)),
                    layout.patch(patch_vec[i]),
                    patch_scores[i],
                )
            )
    return Explanation(float(scores.astype(np.float32).sum(dtype=np.float32)), matches, sim, layout)

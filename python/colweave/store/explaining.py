"""Why a page matched: the stored page layout of an object's vector and the per-token explanation of a
query against it (``colweave.explain``)."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Sequence
from typing import Any

from colweave.explain import Explanation
from colweave.explain import explain as explain_match
from colweave.layout import PageLayout
from colweave.store.errors import (
    NotFoundError,
    QueryError,
)
from colweave.store.objects import (
    parse_uuid,
)
from colweave.store.vector_search import VectorSearch


class Explaining(VectorSearch):
    def layout(self, uuid: str | uuidlib.UUID, *, target_vector: str | None = None) -> PageLayout | None:
        """The page layout stored with an object's vector (None: self-provided vectors have none)."""
        with self._state.read():
            name = self._target(target_vector)
            doc = self._doc_of.get(parse_uuid(uuid))
            if doc is None:
                raise NotFoundError(f"no object with id '{parse_uuid(uuid)}' in {self.name}")
            return self._read_layout(doc, name)

    def explain(
        self,
        uuid: str | uuidlib.UUID,
        query: Any,
        *,
        target_vector: str | None = None,
        tokens: Sequence[Any] | None = None,
    ) -> Explanation:
        """Why the object matched ``query`` (a text, embedded by the vectorizer, or a multi-vector; see
        ``colweave.explain``): per query token its best vector, score and page box, and the similarity
        map. ``tokens`` describes the rows of a multi-vector query (a text query's come from the
        vectorizer's ``query_tokens`` when it has one)."""
        name = self._target(target_vector)
        if isinstance(query, str):  # embedded outside the lock
            q = self._embed_query(name, query)
            describe = getattr(self.vectorizer, "query_tokens", None)
            if tokens is None and describe is not None:
                tokens = describe(query)
        with self._state.read():
            q = self._query_matrix(name, query if not isinstance(query, str) else q)
            doc = self._doc_of.get(parse_uuid(uuid))
            if doc is None:
                raise NotFoundError(f"no object with id '{parse_uuid(uuid)}' in {self.name}")
            page = self._vector_of(name, doc)
            if page is None:
                raise QueryError(f"object '{parse_uuid(uuid)}' has no vector {name!r}")
            if q.shape[1] != page.shape[1]:
                raise QueryError(
                    f"explain: the query has dimension {q.shape[1]}, {name!r} uses {page.shape[1]}"
                )
            try:
                return explain_match(q, page, self._read_layout(doc, name), tokens)
            except ValueError as e:
                raise QueryError(f"explain: {e}") from None

"""The checks every request passes before it reaches the store or the model, shared by REST and gRPC.

Each check raises the server's ``ValidationError`` (422 / INVALID_ARGUMENT) with a message naming the
field, so a bad input is refused before anything is created, opened or computed:

* collection names: Weaviate's rule (first letter upper-cased, then ``[A-Z][_0-9A-Za-z]*``, at most 255
  characters), the store's ``normalize_class_name``;
* UUIDs: the canonical ``8-4-4-4-12`` hexadecimal form only, as Weaviate (no braces, ``urn:uuid:`` or
  missing hyphens);
* result pages: ``limit`` and ``offset`` are non-negative and ``offset + limit`` is at most
  ``MAX_RESULTS`` (Weaviate's ``QUERY_MAXIMUM_RESULTS`` default); a REST list that returns vectors pages
  at most ``MAX_VECTOR_PAGE`` objects;
* query size: a query multi-vector has at most ``MAX_QUERY_TOKENS`` rows (the query limit of the
  Weaviate Embeddings API);
* filters: at most ``MAX_FILTER_DEPTH`` levels and ``MAX_FILTER_NODES`` conditions.
"""

from __future__ import annotations

import re
from typing import Any

from colweave.server.errors import ValidationError
from colweave.store.errors import StoreError
from colweave.store.schema import normalize_class_name

MAX_RESULTS = 10_000
MAX_VECTOR_PAGE = 100
MAX_QUERY_TOKENS = 8192
MAX_FILTER_DEPTH = 64
MAX_FILTER_NODES = 10_000

_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def collection_name(raw: Any, where: str = "class") -> str:
    """The normalized collection name, or ValidationError: nothing is opened or created for a bad one."""
    if not isinstance(raw, str) or not raw:
        raise ValidationError(f"{where}: a collection name is required")
    try:
        return normalize_class_name(raw)
    except (StoreError, ValueError) as e:
        msg = str(e)
        if msg.startswith("class: "):
            msg = msg[len("class: ") :]
        raise ValidationError(f"{where}: {msg}") from None


def uuid_str(raw: Any, where: str = "id") -> str:
    """A UUID in Weaviate's canonical form (lower-cased), or ValidationError."""
    if not isinstance(raw, str) or not _UUID_RE.match(raw):
        shown = raw if not isinstance(raw, str) or len(raw) <= 80 else raw[:80] + "..."
        raise ValidationError(
            f"{where}: {shown!r} is not a UUID (expected the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
        )
    return raw.lower()


def int_param(raw: str | None, name: str, default: int) -> int:
    """A non-negative integer query parameter (at most ``MAX_RESULTS``)."""
    if raw is None or raw == "":
        return default
    s = raw.strip()
    if not s.isdigit() or len(s) > 12:
        if s.startswith("-") and s[1:].isdigit():
            raise ValidationError(f"{name}: must not be negative, got {raw}")
        if s.isdigit():
            raise ValidationError(f"{name}: {s[:30]}... is larger than {MAX_RESULTS}")
        raise ValidationError(f"{name}: expected a non-negative integer, got {raw[:40]!r}")
    return int(s)


def page(limit: int, offset: int, *, vectors: bool = False) -> None:
    """``limit`` / ``offset`` of one result page."""
    if limit < 0:
        raise ValidationError(f"limit: must not be negative, got {limit}")
    if offset < 0:
        raise ValidationError(f"offset: must not be negative, got {offset}")
    if offset + limit > MAX_RESULTS:
        raise ValidationError(
            f"offset ({offset}) + limit ({limit}) is more than {MAX_RESULTS}, the most results one query "
            "returns; page with 'after' instead"
        )
    if vectors and limit > MAX_VECTOR_PAGE:
        raise ValidationError(
            f"limit: at most {MAX_VECTOR_PAGE} objects per page when vectors are included, got {limit}"
        )


def query_tokens(rows: int, where: str) -> None:
    if rows > MAX_QUERY_TOKENS:
        raise ValidationError(
            f"{where}: the query multi-vector has {rows} vectors; the limit is {MAX_QUERY_TOKENS} "
            "(the query token limit of the Weaviate Embeddings API)"
        )


class FilterBudget:
    """Counts the conditions of one filter tree while it is translated; refuses deep or huge ones."""

    def __init__(self, where: str = "filters") -> None:
        self.where = where
        self.nodes = 0

    def enter(self, depth: int) -> None:
        self.nodes += 1
        if depth > MAX_FILTER_DEPTH:
            raise ValidationError(f"{self.where}: nested more than {MAX_FILTER_DEPTH} levels deep")
        if self.nodes > MAX_FILTER_NODES:
            raise ValidationError(f"{self.where}: more than {MAX_FILTER_NODES} conditions")


def json_depth(value: Any, where: str, limit: int = MAX_FILTER_DEPTH) -> None:
    """Refuses a JSON filter nested deeper than ``limit`` operand levels (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    nodes = 0
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            nodes += 1
            if depth > limit:
                raise ValidationError(f"{where}: nested more than {limit} levels deep")
            if nodes > MAX_FILTER_NODES:
                raise ValidationError(f"{where}: more than {MAX_FILTER_NODES} conditions")
            ops = v.get("operands")
            if isinstance(ops, list):
                stack.extend((x, depth + 1) for x in ops)

"""API-key authentication shared by REST and gRPC: ``Authorization: Bearer <key>``.

With no keys configured the server is anonymous and ignores the header. Keys are compared in constant
time (``hmac.compare_digest`` against every configured key, so timing reveals neither which key nor how
much of it matched).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from colweave.server.errors import UnauthenticatedError


class ApiKeys:
    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._keys = [k.encode() for k in keys if k]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def check(self, authorization: str | None) -> None:
        """Raises UnauthenticatedError unless auth is off or the header carries a configured key."""
        if not self._keys:
            return
        if not authorization:
            raise UnauthenticatedError("anonymous access not enabled, please provide an API key")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthenticatedError("the Authorization header must be 'Bearer <api key>'")
        given = token.strip().encode()
        ok = False
        for key in self._keys:
            ok |= hmac.compare_digest(given, key)
        if not ok:
            raise UnauthenticatedError("invalid api key")

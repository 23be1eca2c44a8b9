"""A copy-on-write map for published states: a writer forks the map a view holds, changes the fork and
publishes it, while readers keep reading the original, which never changes.

A fork shares the original's ``base`` dict (never changed once shared) and copies only its ``top``, the
entries changed since the base was last flattened (a removed key is a tombstone there). Once the top
outgrows a sixteenth of the base (at least :data:`FLATTEN_AT` entries), a fork flattens both into a new
base. So a write that changes k entries of a map of n costs O(k) plus an amortised O(n / 16 per change
beyond the threshold) — not the O(n) of copying the whole dict — and a lookup is at most two dict
lookups.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

FLATTEN_AT = 1024
_GONE: Any = object()  # a key removed since the base was flattened
_ABSENT: Any = object()


class CowMap(MutableMapping[K, V], Generic[K, V]):
    __slots__ = ("_base", "_len", "_top")

    def __init__(self, base: dict[K, V] | None = None) -> None:
        """Wraps ``base`` (not copied: the caller must not change it afterwards)."""
        self._base: dict[K, V] = base if base is not None else {}
        self._top: dict[K, V] = {}
        self._len = len(self._base)

    def fork(self) -> CowMap[K, V]:
        """A map equal to this one that can be changed without changing this one."""
        new: CowMap[K, V] = CowMap.__new__(CowMap)
        if len(self._top) > max(FLATTEN_AT, len(self._base) >> 4):
            base = dict(self._base)  # one C-level copy, then the changes
            for k, v in self._top.items():
                if v is _GONE:
                    del base[k]
                else:
                    base[k] = v
            new._base = base
            new._top = {}
        else:
            new._base = self._base
            new._top = dict(self._top)
        new._len = self._len
        return new

    def __getitem__(self, k: K) -> V:
        v = self._top.get(k, _ABSENT)
        if v is _ABSENT:
            return self._base[k]
        if v is _GONE:
            raise KeyError(k)
        out: V = v
        return out

    def get(self, k: K, default: Any = None) -> Any:
        v = self._top.get(k, _ABSENT)
        if v is _ABSENT:
            return self._base.get(k, default)
        return default if v is _GONE else v

    def __contains__(self, k: object) -> bool:
        v = self._top.get(k, _ABSENT)  # type: ignore[arg-type]
        if v is _ABSENT:
            return k in self._base
        return v is not _GONE

    def __setitem__(self, k: K, v: V) -> None:
        if k not in self:
            self._len += 1
        self._top[k] = v

    def __delitem__(self, k: K) -> None:
        if k not in self:
            raise KeyError(k)
        self._len -= 1
        if k in self._base:
            self._top[k] = _GONE
        else:
            del self._top[k]

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[K]:
        for k, _ in self.items():
            yield k

    def items(self) -> Iterator[tuple[K, V]]:  # type: ignore[override]
        """The entries: the base's in its order (with their changed values), then the added ones."""
        top, base = self._top, self._base
        if not top:
            yield from base.items()
            return
        for k, v in base.items():
            t = top.get(k, _ABSENT)
            if t is _ABSENT:
                yield k, v
            elif t is not _GONE:
                yield k, t
        for k, t in top.items():
            if t is not _GONE and k not in base:
                yield k, t

    def values(self) -> Iterator[V]:  # type: ignore[override]
        for _, v in self.items():
            yield v

    def keys(self) -> Iterator[K]:  # type: ignore[override]
        return iter(self)


def present_values(m: Mapping[K, V], keys: Iterable[K]) -> list[V]:
    """``[m[k] for k in keys if k in m]``, in one loop over plain dicts (a search maps a filter's
    thousands of objects to their slots with it)."""
    if not isinstance(m, CowMap):
        return [m[k] for k in keys if k in m]
    top, base, out = m._top, m._base, []
    for k in keys:
        v = top.get(k, _ABSENT)
        if v is _ABSENT:
            v = base.get(k, _ABSENT)
            if v is _ABSENT:
                continue
        elif v is _GONE:
            continue
        out.append(v)
    return out


def fork(m: Mapping[K, V]) -> CowMap[K, V]:
    """A changeable copy-on-write fork of ``m`` (a plain dict is wrapped, not copied: it must not be
    changed afterwards — it belongs to a published state)."""
    if isinstance(m, CowMap):
        return m.fork()
    assert isinstance(m, dict)
    return CowMap(m)

"""A copy-on-write map for published states: a writer forks the map a view holds, changes the fork and
publishes it, while readers keep reading the original, which never changes.

A map is three dicts, each never changed once a fork shares it: the ``base`` (most entries), the ``mid``
(the entries changed since the base was last flattened) and the ``top`` (those changed since the mid was
last merged); a removed key is a tombstone in the mid or top. A fork shares the base and the mid and
copies only the top. Once the top holds more than :data:`TOP_AT` entries, a fork merges it into a new
mid; once the mid outgrows a sixteenth of the base (at least :data:`FLATTEN_AT` entries), into a new
base. So a write that changes k entries of a map of n entries costs O(k + TOP_AT) plus an amortised
O(n / (16 * TOP_AT) + 16) per change — not the O(n) of copying the whole dict, nor the O(n / 16) of
copying one level of changes — and a lookup is at most three dict lookups.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

K = TypeVar("K")
V = TypeVar("V")

FLATTEN_AT = 1024
TOP_AT = 64
_GONE: Any = object()  # a key removed since the base was flattened
_ABSENT: Any = object()


class CowMap(MutableMapping[K, V], Generic[K, V]):
    __slots__ = ("_base", "_len", "_mid", "_top")

    def __init__(self, base: dict[K, V] | None = None) -> None:
        """Wraps ``base`` (not copied: the caller must not change it afterwards)."""
        self._base: dict[K, V] = base if base is not None else {}
        self._mid: dict[K, V] = {}
        self._top: dict[K, V] = {}
        self._len = len(self._base)

    def fork(self) -> CowMap[K, V]:
        """A map equal to this one that can be changed without changing this one."""
        new: CowMap[K, V] = CowMap.__new__(CowMap)
        base, mid, top = self._base, self._mid, self._top
        if len(top) > TOP_AT:
            mid = dict(mid)  # one C-level copy, then the changes
            for k, v in top.items():
                if v is _GONE and k not in base:
                    mid.pop(k, None)
                else:
                    mid[k] = v
            top = {}
            if len(mid) > max(FLATTEN_AT, len(base) >> 4):
                base = dict(base)
                for k, v in mid.items():
                    if v is _GONE:
                        del base[k]
                    else:
                        base[k] = v
                mid = {}
        else:
            top = dict(top)
        new._base, new._mid, new._top = base, mid, top
        new._len = self._len
        return new

    def _below(self, k: Any) -> Any:
        """``k``'s value in the mid and base (``_ABSENT`` when it has none there)."""
        v = self._mid.get(k, _ABSENT)
        if v is _ABSENT:
            return self._base.get(k, _ABSENT)
        return _ABSENT if v is _GONE else v

    def __getitem__(self, k: K) -> V:
        v = self._top.get(k, _ABSENT)
        if v is _ABSENT:
            v = self._mid.get(k, _ABSENT)
            if v is _ABSENT:
                return self._base[k]
        if v is _GONE:
            raise KeyError(k)
        out: V = v
        return out

    def get(self, k: K, default: Any = None) -> Any:
        v = self._top.get(k, _ABSENT)
        if v is _ABSENT:
            v = self._mid.get(k, _ABSENT)
            if v is _ABSENT:
                return self._base.get(k, default)
        return default if v is _GONE else v

    def __contains__(self, k: object) -> bool:
        v = self._top.get(k, _ABSENT)  # type: ignore[arg-type]
        if v is _ABSENT:
            v = self._mid.get(k, _ABSENT)  # type: ignore[arg-type]
            if v is _ABSENT:
                return k in self._base
        return v is not _GONE

    def __setitem__(self, k: K, v: V) -> None:
        top = self._top
        t = top.get(k, _ABSENT)
        if t is _GONE or (t is _ABSENT and self._below(k) is _ABSENT):
            self._len += 1
        top[k] = v

    def set_many(self, d: Mapping[K, V]) -> None:
        """``self[k] = v`` for each entry of ``d``, in one loop."""
        top, mid, base = self._top, self._mid, self._base
        added = 0
        for k in d:
            t = top.get(k, _ABSENT)
            if t is _ABSENT:
                t = mid.get(k, _ABSENT)
                if t is _ABSENT:
                    if k not in base:
                        added += 1
                    continue
            if t is _GONE:
                added += 1
        top.update(d)
        self._len += added

    def add_new(self, d: Mapping[K, V]) -> None:
        """``self[k] = v`` for each entry of ``d``, none of whose keys this map holds (unchecked)."""
        self._top.update(d)
        self._len += len(d)

    def __delitem__(self, k: K) -> None:
        top = self._top
        t = top.get(k, _ABSENT)
        below = self._below(k)
        if t is _GONE or (t is _ABSENT and below is _ABSENT):
            raise KeyError(k)
        self._len -= 1
        if below is not _ABSENT:
            top[k] = _GONE
        else:
            del top[k]

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[K]:
        for k, _ in self.items():
            yield k

    def items(self) -> Iterator[tuple[K, V]]:  # type: ignore[override]
        """The entries: the base's in its order (with their changed values), then the added ones."""
        top, mid, base = self._top, self._mid, self._base
        if not top and not mid:
            yield from base.items()
            return
        for k, v in base.items():
            t = top.get(k, _ABSENT)
            if t is _ABSENT:
                t = mid.get(k, v)
            if t is not _GONE:
                yield k, t
        for k, m in mid.items():
            if k in base:
                continue
            t = top.get(k, m)
            if t is not _GONE:
                yield k, t
        for k, t in top.items():
            if t is not _GONE and k not in base and k not in mid:
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
    top, mid, base, out = m._top, m._mid, m._base, []
    for k in keys:
        v = top.get(k, _ABSENT)
        if v is _ABSENT:
            v = mid.get(k, _ABSENT)
            if v is _ABSENT:
                v = base.get(k, _ABSENT)
                if v is _ABSENT:
                    continue
        if v is _GONE:
            continue
        out.append(v)
    return out


def arrays(m: Mapping[Any, Any], keys: Any, values: Any) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """The keys and values of ``m`` as arrays of dtypes ``keys`` and ``values``, in one pass over plain
    dicts: the base's entries not changed since, then the changed ones (in no particular order)."""
    if not isinstance(m, CowMap) or (not m._top and not m._mid):
        d = m._base if isinstance(m, CowMap) else m
        return np.fromiter(d.keys(), keys, len(d)), np.fromiter(d.values(), values, len(d))
    base = m._base
    ks = np.fromiter(base.keys(), keys, len(base))
    vs = np.fromiter(base.values(), values, len(base))
    changed = {**m._mid, **m._top}
    keep = ~np.isin(ks, np.fromiter(changed.keys(), keys, len(changed)))
    added = [(k, v) for k, v in changed.items() if v is not _GONE]
    ak = np.fromiter((k for k, _ in added), keys, len(added))
    av = np.fromiter((v for _, v in added), values, len(added))
    return np.concatenate([ks[keep], ak]), np.concatenate([vs[keep], av])


def set_many(m: MutableMapping[K, V], d: Mapping[K, V]) -> None:
    """``m.update(d)``, in one loop for a copy-on-write map."""
    if isinstance(m, CowMap):
        m.set_many(d)
    else:
        m.update(d)


def add_new(m: MutableMapping[K, V], d: Mapping[K, V]) -> None:
    """``m.update(d)`` where ``m`` holds none of ``d``'s keys (the caller knows: not checked)."""
    if isinstance(m, CowMap):
        m.add_new(d)
    else:
        m.update(d)


def to_dict(m: Mapping[K, V]) -> dict[K, V]:
    """A plain dict equal to ``m`` (one C-level copy of the largest part, then the changes)."""
    if not isinstance(m, CowMap):
        return dict(m)
    out = dict(m._base)
    for level in (m._mid, m._top):
        for k, v in level.items():
            if v is _GONE:
                out.pop(k, None)
            else:
                out[k] = v
    return out


def fork(m: Mapping[K, V]) -> CowMap[K, V]:
    """A changeable copy-on-write fork of ``m`` (a plain dict is wrapped, not copied: it must not be
    changed afterwards — it belongs to a published state)."""
    if isinstance(m, CowMap):
        return m.fork()
    assert isinstance(m, dict)
    return CowMap(m)

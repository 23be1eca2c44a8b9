"""The copy-on-write map of published states against plain dicts: a chain of forks, each changed by random
sets and deletes, equals a dict changed the same way (its entries as arrays too), and every earlier fork (a published state readers
may still hold) keeps exactly what it held when it was forked — across merges of the top into the middle
level and flattening into the base too."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from colweave.store import cow
from colweave.store.cow import CowMap, arrays, fork, present_values

ops = st.lists(
    st.tuples(st.sampled_from(["set", "del", "fork"]), st.integers(0, 40), st.integers(0, 9)), max_size=300
)


def same(m: CowMap[int, int], want: dict[int, int]) -> None:
    assert dict(m.items()) == want
    assert len(m) == len(want)
    assert sorted(m) == sorted(want)
    for k in range(-1, 42):
        assert (k in m) == (k in want)
        assert m.get(k, "none") == want.get(k, "none")
    keys = list(range(-1, 42, 3))
    assert present_values(m, keys) == [want[k] for k in keys if k in want]
    ks, vs = arrays(m, np.int64, np.int32)
    assert ks.dtype == np.int64 and vs.dtype == np.int32
    assert sorted(zip(ks.tolist(), vs.tolist(), strict=True)) == sorted(want.items())


@settings(derandomize=True, max_examples=500, deadline=None)
@given(
    st.dictionaries(st.integers(0, 40), st.integers(0, 9), max_size=20),
    ops,
    st.sampled_from([0, 4, 1024]),
    st.sampled_from([0, 3, 64]),
)
def test_forks_equal_dicts_and_never_change_once_forked(
    start: dict[int, int], steps: list[tuple[str, int, int]], flatten_at: int, top_at: int
) -> None:
    old, cow.FLATTEN_AT = cow.FLATTEN_AT, flatten_at
    old_top, cow.TOP_AT = cow.TOP_AT, top_at
    try:
        m = fork(dict(start))
        model = dict(start)
        frozen: list[tuple[CowMap[int, int], dict[int, int]]] = []
        for op, k, v in steps:
            if op == "set":
                m[k] = v
                model[k] = v
            elif op == "del":
                if k in model:
                    del m[k]
                    del model[k]
                else:
                    assert m.pop(k, None) is None
            else:
                frozen.append((m, dict(model)))
                m = m.fork()
            same(m, model)
        for f, want in frozen:
            same(f, want)
    finally:
        cow.FLATTEN_AT = old
        cow.TOP_AT = old_top

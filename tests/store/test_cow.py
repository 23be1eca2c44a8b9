"""The copy-on-write map of published states against plain dicts: a chain of forks, each changed by random
sets and deletes, equals a dict changed the same way (its entries as arrays too), and every earlier fork
(a published state readers may still hold) keeps exactly what it held when it was forked — across merges
of the top into the middle level and flattening into the base too. Segment snapshots likewise."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from colweave.store import cow
from colweave.store.cow import CowMap, arrays, fork, present_values

ops = st.lists(
    st.tuples(st.sampled_from(["set", "many", "new", "del", "fork"]), st.integers(0, 40), st.integers(0, 9)),
    max_size=300,
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
    assert ks.dtype == np.int64
    assert vs.dtype == np.int32
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
            elif op == "many":  # k and the next keys, some present, some not
                more = {k + i: v + i for i in range(3)}
                cow.set_many(m, more)
                model.update(more)
            elif op == "new":  # keys it does not hold (some removed earlier)
                fresh = {x: v for x in range(k, k + 4) if x not in model}
                cow.add_new(m, fresh)
                model.update(fresh)
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


seg_ops = st.lists(
    st.tuples(st.sampled_from(["append", "kill", "snapshot"]), st.integers(1, 3), st.integers(0, 99)),
    max_size=60,
)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(seg_ops)
def test_segment_snapshots_never_change_once_taken(steps: list[tuple[str, int, int]]) -> None:
    """A segment's snapshots share their arrays with the segment (appends write past them, kills copy
    first): every snapshot taken along a run of appends and kills keeps exactly the slots, offsets,
    owners and live slots of its moment, computed here from a list of the slots."""
    import tempfile
    from pathlib import Path

    from colweave.store.schema import MuveraConfig
    from colweave.store.segments import VectorSegment

    with tempfile.TemporaryDirectory() as tmp:
        seg = VectorSegment(Path(tmp), "v", "float16", 4, 0, MuveraConfig())
        slots: list[list[int]] = []  # per slot: [start, ntok, doc or -1]
        taken = []
        doc = 0
        for op, k, pick in steps:
            if op == "append":
                mats = [np.full((1 + (doc + i) % 3, 4), doc + i, np.float32) for i in range(k)]
                placed, _ = seg.append(mats)
                seg.publish(placed, list(range(doc, doc + k)))
                for (_, start, ntok), d in zip(placed, range(doc, doc + k), strict=True):
                    slots.append([start, ntok, d])
                doc += k
            elif op == "kill":
                live = [i for i, s in enumerate(slots) if s[2] >= 0]
                if live:
                    s = live[pick % len(live)]
                    seg.kill([s])
                    slots[s][2] = -1
            else:
                taken.append((seg.snapshot(), [list(s) for s in slots]))
        taken.append((seg.snapshot(), [list(s) for s in slots]))
        for snap, want in taken:
            rows = sum(s[1] for s in want)
            assert snap.offsets.tolist() == [s[0] for s in want] + [rows]
            assert snap.slot_doc.tolist() == [s[2] for s in want]
            assert snap.live.tolist() == [i for i, s in enumerate(want) if s[2] >= 0]
            for s in want:
                if s[2] >= 0:
                    a, b = s[0], s[0] + s[1]
                    assert (np.asarray(snap.rows[a:b]) == s[2]).all()

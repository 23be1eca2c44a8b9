"""Named vectors added to an existing collection (Weaviate >= 1.31's ``collection.config.add_vector``, a
class update with new ``vectorConfig`` entries), beside named vectors or beside a collection-level vector:
what may be added and what not (nothing changed then), the objects there before have none of the new
vector until written with one, searches on it see exactly the objects that have it (numpy references),
readers keep the view they pinned, and the change is durable (reopening, a SIGKILL while vectors are
added and written)."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid as uuidlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.store.store_ref import ref_maxsim, stored

from colweave.store import QueryError, SchemaError, Store


def single(metric: str, index: str = "hnsw") -> dict[str, Any]:
    return {"vectorizer": {"none": {}}, "vectorIndexType": index, "vectorIndexConfig": {"distance": metric}}


MULTI = {"vectorizer": {"none": {}}, "vectorIndexConfig": {"multivector": {"enabled": True}}}


def legacy_body(name: str) -> dict[str, Any]:
    """A collection with a collection-level (unnamed) vector, as ``Configure.Vectorizer.none()`` makes."""
    return {
        "class": name,
        "properties": [{"name": "n", "dataType": ["int"]}],
        "vectorizer": "none",
        "vectorIndexType": "flat",
        "vectorIndexConfig": {"distance": "dot"},
    }


def with_vectors(config: dict[str, Any], **vectors: dict[str, Any]) -> dict[str, Any]:
    """The complete class with named vectors added, as the client's ``add_vector`` sends it."""
    out = copy.deepcopy(config)
    out.setdefault("vectorConfig", {}).update(copy.deepcopy(vectors))
    return out


def l2(q: np.ndarray, x: np.ndarray) -> np.ndarray:
    return ((x.astype(np.float64) - q.astype(np.float64)) ** 2).sum(axis=1)


def test_vectors_added_beside_a_collection_level_vector(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    legacy = rng.standard_normal((8, 3)).astype(np.float32)
    words = rng.standard_normal((5, 4)).astype(np.float32)
    pages = [rng.standard_normal((int(rng.integers(2, 5)), 6)).astype(np.float32) for _ in range(5)]
    with Store(tmp_path) as s:
        c = s.create_collection(legacy_body("Leg"))
        before = [
            c.insert({"n": i}, uuid=str(uuidlib.UUID(int=i + 1)), vectors={"default": legacy[i]})
            for i in range(4)
        ]
        # A reader that pinned the view before the update keeps it to its end.
        pinned, updated, seen = threading.Event(), threading.Event(), []

        def reader() -> None:
            with c._state.read():
                seen.append(set(c.config.vectors))
                pinned.set()
                assert updated.wait(30)
                seen.append(set(c.config.vectors))
                with pytest.raises(QueryError, match="no vector named 'words'"):
                    c.near_vector(words[0], target_vector="words")
                seen.append("refused")

        t = threading.Thread(target=reader)
        t.start()
        assert pinned.wait(30)
        new = c.update_class(
            with_vectors(c.config.to_weaviate(), words=single("l2-squared", "flat"), page=MULTI)
        )
        updated.set()
        t.join(30)
        assert seen == [{"default"}, {"default"}, "refused"]
        assert set(new.vectors) == {"default", "words", "page"}
        assert set(c.config.vectors) == {"default", "words", "page"}
        assert c.config.legacy_vector is not None
        raw = c.config.to_weaviate()
        assert (raw["vectorizer"], raw["vectorIndexType"]) == ("none", "flat")
        assert set(raw["vectorConfig"]) == {"words", "page"}
        # The objects there before have the collection-level vector only.
        got = c.get(before[0], include_vector=True)
        assert got is not None
        assert set(got.vectors) == {"default"}
        assert c.near_vector(words[0], target_vector="words") == []
        after = []
        for i in range(5):
            vecs: dict[str, Any] = {"default": legacy[4 + i]} if i < 4 else {}
            if i != 2:
                vecs["words"] = words[i]
            if i != 3:
                vecs["page"] = pages[i]
            after.append(c.insert({"n": 10 + i}, uuid=str(uuidlib.UUID(int=100 + i)), vectors=vecs))
        # An object written again with the new vector has it from then on.
        c.update(before[1], {"n": 1}, vectors={"words": words[2] * 2})
        assert set(c.get(before[1], include_vector=True).vectors) == {"default", "words"}  # type: ignore[union-attr]

        def check(c: Any) -> None:
            q = rng.standard_normal(4).astype(np.float32)
            have = [(after[i], words[i]) for i in range(5) if i != 2] + [(before[1], words[2] * 2)]
            d = l2(q, np.stack([v for _, v in have]))
            res = c.near_vector(q, target_vector="words", limit=20)
            assert [r.uuid for r in res] == [have[i][0] for i in np.argsort(d, kind="stable")]
            np.testing.assert_allclose([r.metadata.distance for r in res], np.sort(d), rtol=1e-5)
            qm = rng.standard_normal((3, 6)).astype(np.float32)
            qn = qm / np.linalg.norm(qm, axis=1, keepdims=True)
            scores = {after[i]: ref_maxsim(qn, stored(pages[i])) for i in range(5) if i != 3}
            res = c.near_vector(qm, target_vector="page", limit=20)
            assert [r.uuid for r in res] == sorted(scores, key=lambda u: -scores[u])
            np.testing.assert_allclose(
                [r.metadata.distance for r in res], [-scores[r.uuid] for r in res], rtol=1e-3
            )
            # No target: the collection-level vector (dot), over the objects that have it.
            ql = rng.standard_normal(3).astype(np.float32)
            ids = before + after[:4]
            dots = legacy.astype(np.float64) @ ql
            res = c.near_vector(ql, limit=20)
            assert [r.uuid for r in res] == [ids[i] for i in np.argsort(-dots, kind="stable")]
            np.testing.assert_allclose([r.metadata.distance for r in res], -np.sort(dots)[::-1], rtol=1e-5)
            got = c.get(after[0], include_vector=True)
            assert got is not None
            assert set(got.vectors) == {"default", "words", "page"}
            np.testing.assert_array_equal(got.vectors["words"], words[0])

        check(c)
    with Store(tmp_path) as s:  # the schema change and the vectors written since are durable
        c = s.get_collection("Leg")
        assert set(c.config.vectors) == {"default", "words", "page"}
        check(c)
        # Compaction after deletes keeps the added vectors' slots right.
        c.delete_many(ids=[after[0], before[1]])
        c.compact()
        after.pop(0)
        assert sorted(r.uuid for r in c.near_vector(words[1], target_vector="words", limit=20)) == sorted(
            after[i - 1] for i in (1, 3, 4)
        )


def test_vectors_added_beside_named_vectors(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    with Store(tmp_path) as s:
        c = s.create_collection(
            {
                "class": "Named",
                "properties": [{"name": "n", "dataType": ["int"]}],
                "vectorConfig": {"a": single("cosine")},
            }
        )
        old = [c.insert({"n": i}, vectors={"a": rng.standard_normal(3)}) for i in range(3)]
        c.update_class(with_vectors(c.config.to_weaviate(), b=single("manhattan")))
        c.update_class(with_vectors(c.config.to_weaviate(), m=MULTI))
        x = rng.standard_normal((4, 5)).astype(np.float32)
        new = [c.insert({"n": 9}, vectors={"b": x[i]}) for i in range(4)]
        q = rng.standard_normal(5).astype(np.float32)
        d = np.abs(x.astype(np.float64) - q).sum(axis=1)
        res = c.near_vector(q, target_vector="b", limit=10)
        assert [r.uuid for r in res] == [new[i] for i in np.argsort(d, kind="stable")]
        np.testing.assert_allclose([r.metadata.distance for r in res], np.sort(d), rtol=1e-5)
        assert c.near_vector(rng.standard_normal((2, 5)), target_vector="m") == []
        assert len(c.near_vector(rng.standard_normal(3), target_vector="a", limit=10)) == len(old)
        # An untargeted search over several named vectors stays an error.
        with pytest.raises(QueryError, match="name one"):
            c.near_vector(q)
        # Compaction with an added vector that no object has yet ("m").
        c.delete_many(ids=[new[0], old[0]])
        c.compact()
        res = c.near_vector(q, target_vector="b", limit=10)
        assert [r.uuid for r in res] == [new[i] for i in np.argsort(d, kind="stable") if i != 0]
    with Store(tmp_path) as s:
        c = s.get_collection("Named")
        assert list(c.config.vectors) == ["a", "b", "m"]
        assert len(c.near_vector(q, target_vector="b", limit=10)) == 3
        assert c.near_vector(rng.standard_normal((2, 5)), target_vector="m") == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # an existing vector cannot change while another is added
        (
            lambda b: (b["vectorConfig"]["a"]["vectorIndexConfig"].update(distance="dot"), b)[1],
            "distance is immutable",
        ),
        (lambda b: (b["vectorConfig"].pop("a"), b)[1], "missing config for vector 'a'"),
        (
            lambda b: (b["vectorConfig"]["new"].update(vectorizer={"text2vec-openai": {}}), b)[1],
            "text2vec-openai",
        ),
        (lambda b: (b["vectorConfig"].update(bad_name_é=single("cosine")), b)[1], "invalid vector name"),
        (
            lambda b: (
                b["vectorConfig"]["new"].update(
                    vectorIndexType="dynamic", vectorIndexConfig={"multivector": {"enabled": True}}
                ),
                b,
            )[1],
            "requires the hnsw index type",
        ),
        # a collection-level vector cannot be added to a collection of named vectors
        (lambda b: {**b, "vectorizer": "none", "vectorIndexType": "hnsw"}, "vectorizer is immutable"),
    ],
)
def test_what_cannot_be_added_is_refused_and_nothing_changes(
    tmp_path: Path, change: Any, message: str
) -> None:
    with Store(tmp_path) as s:
        c = s.create_collection(
            {
                "class": "Ref",
                "properties": [{"name": "n", "dataType": ["int"]}],
                "vectorConfig": {"a": single("cosine")},
            }
        )
        u = c.insert({"n": 1}, vectors={"a": [1.0, 0.0]})
        before = c.config.to_weaviate()
        body = change(with_vectors(before, new=single("l2-squared")))
        with pytest.raises(SchemaError, match=message):
            c.update_class(body)
        assert c.config.to_weaviate() == before
        assert sorted(p.name for p in tmp_path.glob("collections/*/*.vec")) == ["a.0.vec"]
        assert c.near_vector([1.0, 0.0])[0].uuid == u
    with Store(tmp_path) as s:
        assert s.get_collection("Ref").config.to_weaviate() == before


def test_collection_level_vector_rules(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        # Creating a collection with both is Weaviate's error; adding named ones later is not.
        with pytest.raises(
            SchemaError, match="both a class level vector index and named vectors is forbidden"
        ):
            s.create_collection(with_vectors(legacy_body("Both"), words=single("cosine")))
        assert s.list_collections() == []
        c = s.create_collection(legacy_body("Leg"))
        # "default" is the collection-level vector's name in the named-vector API: no named vector may take it
        with pytest.raises(SchemaError, match="vector named default cannot be created"):
            c.update_class(with_vectors(c.config.to_weaviate(), default=single("cosine")))
        # Removing the collection-level vector is refused too.
        raw = with_vectors(c.config.to_weaviate(), words=single("cosine"))
        for key in ("vectorizer", "vectorIndexType", "vectorIndexConfig"):
            del raw[key]
        with pytest.raises(SchemaError, match="vectorizer is immutable"):
            c.update_class(raw)
        assert set(c.config.vectors) == {"default"}


def test_an_update_made_before_another_added_a_vector_is_refused(tmp_path: Path) -> None:
    """Two clients adding a vector each from the config they read: the second update would drop the first
    one's vector, so it is refused (it names the vector) instead of losing it."""
    with Store(tmp_path) as s:
        c = s.create_collection(
            {
                "class": "Race",
                "properties": [{"name": "n", "dataType": ["int"]}],
                "vectorConfig": {"a": single("cosine")},
            }
        )
        seen = c.config.to_weaviate()
        c.update_class(with_vectors(seen, b=single("cosine")))
        with pytest.raises(SchemaError, match="missing config for vector 'b'"):
            c.update_class(with_vectors(seen, x=single("cosine")))
        assert set(c.config.vectors) == {"a", "b"}


CHILD = textwrap.dedent(
    """
    import copy, sys, uuid
    import numpy as np
    from colweave.store import DataObject, Store

    s = Store(sys.argv[1])
    c = s.get_collection("Grow")
    for k in range(10_000):
        name = f"v{k}"
        print("ADDING", k, flush=True)
        body = copy.deepcopy(c.config.to_weaviate())
        body.setdefault("vectorConfig", {})[name] = {
            "vectorizer": {"none": {}},
            "vectorIndexType": "flat",
            "vectorIndexConfig": {"distance": "l2-squared"},
        }
        c.update_class(body)
        print("ADDED", k, flush=True)
        objs = [
            DataObject({"n": k}, uuid=uuid.UUID(int=k * 100 + i + 1),
                       vectors={name: np.random.default_rng(k * 100 + i).standard_normal(3 + k % 5)})
            for i in range(5)
        ]
        assert not c.insert_many(objs).errors
        print("ACK", k, flush=True)
    """
)


@pytest.mark.parametrize("seed", range(2))
def test_sigkill_while_vectors_are_added_and_written(tmp_path: Path, seed: int) -> None:
    with Store(tmp_path) as s:
        c = s.create_collection(legacy_body("Grow"))
        first = c.insert({"n": -1}, vectors={"default": [1.0, 2.0, 3.0]})
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    rng = np.random.default_rng(seed)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    assert proc.stdout is not None
    watchdog = threading.Timer(120, proc.kill)  # bounded: a child that stops writing is killed
    watchdog.start()
    added: set[int] = set()
    acked: set[int] = set()
    target, last = int(rng.integers(3, 8)), ""
    while len(acked) < target or last != ("ADDING" if seed == 0 else "ADDED"):
        line = proc.stdout.readline()
        assert line, "the child died early"
        last, k = line.split()
        {"ADDED": added, "ACK": acked}.get(last, set()).add(int(k))
    time.sleep(float(rng.uniform(0, 0.003)))
    os.kill(proc.pid, signal.SIGKILL)
    for line in proc.stdout.read().splitlines():
        kind, k = line.split()
        {"ADDED": added, "ACK": acked}.get(kind, set()).add(int(k))
    proc.wait(30)
    watchdog.cancel()
    with Store(tmp_path) as s:
        c = s.get_collection("Grow")
        names = set(c.config.vectors)
        assert {f"v{k}" for k in added} <= names  # every acknowledged change survived
        assert names <= {"default"} | {f"v{k}" for k in range(max(added) + 2)}  # nothing else appeared
        raw = json.loads(json.dumps(c.config.to_weaviate()))
        assert raw["vectorizer"] == "none"
        for k in sorted(acked):
            for i in range(5):
                v = np.random.default_rng(k * 100 + i).standard_normal(3 + k % 5).astype(np.float32)
                hit = c.near_vector(v, target_vector=f"v{k}", limit=1)[0]
                assert hit.uuid == str(uuidlib.UUID(int=k * 100 + i + 1))
                assert hit.metadata.distance == 0.0
        assert [r.uuid for r in c.near_vector([1.0, 2.0, 3.0], limit=5)] == [first]  # the unnamed vector
        # The store goes on: a vector added after the crash, and written.
        c.update_class(with_vectors(c.config.to_weaviate(), after=single("cosine")))
        u = c.insert({"n": 0}, vectors={"after": [0.0, 1.0]})
        assert [r.uuid for r in c.near_vector([0.0, 2.0], target_vector="after")] == [u]
    with Store(tmp_path) as s:
        assert "after" in s.get_collection("Grow").config.vectors

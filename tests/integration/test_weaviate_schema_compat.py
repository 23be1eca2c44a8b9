"""Weaviate's schema rules through the real weaviate-client (REST for the schema and single objects, gRPC
for batches, queries and deletes) against a real colweave server: modules colweave does not run are
refused, property names get Weaviate's lower-cased first letter, ``collection.config.update`` and property
index deletion follow Weaviate's update validation, dry-run delete counts, filter value types, and the
legacy ``Vectorizer.none()`` class round trip.

The references are Weaviate's documented behaviour (its schema handler's rules and messages, quoted in
the assertions) and, for BM25, Weaviate's formula computed here with the standard library."""

from __future__ import annotations

import datetime as dt
import math
import uuid

import httpx
import pytest
from weaviate.classes.config import Configure, DataType, Property, Reconfigure, VectorDistances
from weaviate.classes.query import Filter, MetadataQuery
from weaviate.exceptions import UnexpectedStatusCodeError, WeaviateQueryError

from colweave.store import Store


def _status(e: pytest.ExceptionInfo[UnexpectedStatusCodeError]) -> int:
    return e.value.status_code


# -- point 7: modules colweave does not run ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "module"),
    [
        ({"generative_config": Configure.Generative.openai()}, "generative-openai"),
        ({"reranker_config": Configure.Reranker.cohere()}, "reranker-cohere"),
        ({"vector_config": Configure.Vectors.text2vec_openai(name="t")}, "text2vec-openai"),
        ({"vectorizer_config": Configure.Vectorizer.text2vec_contextionary()}, "text2vec-contextionary"),
    ],
)
def test_modules_colweave_does_not_run_are_refused_by_name(served, kwargs, module) -> None:
    _, client = served
    with pytest.raises(UnexpectedStatusCodeError) as e:
        client.collections.create("Mod", properties=[Property(name="t", data_type=DataType.TEXT)], **kwargs)
    assert _status(e) == 422
    assert f"module '{module}' is not available" in e.value.message
    assert not client.collections.exists("Mod")  # nothing was created


def test_module_config_in_a_raw_class_is_refused(served) -> None:
    s, client = served
    body = {"class": "Raw", "vectorizer": "none", "moduleConfig": {"generative-dummy": {}}}
    r = httpx.post(f"{s.http}/v1/schema", json=body, timeout=10)
    assert r.status_code == 422
    assert "module 'generative-dummy' is not available" in r.json()["error"][0]["message"]
    assert not client.collections.exists("Raw")
    # An object time-to-live Weaviate refuses (below its 60 s minimum) is refused with its message.
    ttl = {
        "class": "Raw",
        "objectTtlConfig": {"enabled": True, "defaultTtl": 30, "deleteOn": "_creationTimeUnix"},
    }
    r = httpx.post(f"{s.http}/v1/schema", json=ttl, timeout=10)
    assert r.status_code == 422
    assert 'defaultTtl value too small for "deleteOn"="_creationTimeUnix"' in r.json()["error"][0]["message"]
    assert not client.collections.exists("Raw")


# -- point 2: property names --------------------------------------------------------------------------


def test_property_names_get_a_lower_case_first_letter(served) -> None:
    s, client = served
    coll = client.collections.create(
        "Names",
        vectorizer_config=Configure.Vectorizer.none(),
        properties=[
            Property(name="Name", data_type=DataType.TEXT),
            Property(name="PageCount", data_type=DataType.INT),
        ],
    )
    assert [p.name for p in coll.config.get().properties] == ["name", "pageCount"]

    u1 = coll.data.insert({"Name": "first page", "PageCount": 3})  # REST
    res = coll.data.insert_many([{"Name": "second page", "pageCount": 5}, {"name": "third"}])  # gRPC
    assert not res.has_errors
    got = {str(o.uuid): o.properties for o in coll.query.fetch_objects().objects}
    assert got[str(u1)] == {"name": "first page", "pageCount": 3}
    assert sorted(p["name"] for p in got.values()) == ["first page", "second page", "third"]
    assert all(set(p) <= {"name", "pageCount"} for p in got.values())
    rest = httpx.get(f"{s.http}/v1/objects/Names/{u1}", timeout=10).json()
    assert rest["properties"] == {"name": "first page", "pageCount": 3}

    # Filters, searched and returned properties take either spelling of the first letter.
    for name in ("PageCount", "pageCount"):
        hits = coll.query.fetch_objects(filters=Filter.by_property(name).greater_than(4)).objects
        assert [o.properties["name"] for o in hits] == ["second page"]
    hits = coll.query.bm25("page", query_properties=["Name"], return_properties=["Name"]).objects
    assert sorted(o.properties["name"] for o in hits) == ["first page", "second page"]
    assert all(set(o.properties) == {"name"} for o in hits)

    # Adding a property, and auto-schema, lower-case too.
    coll.config.add_property(Property(name="Extra", data_type=DataType.TEXT))
    coll.data.insert({"Auto": 1.5, "Extra": "x"})
    names = [p.name for p in coll.config.get().properties]
    assert names[:2] == ["name", "pageCount"]
    assert set(names[2:]) == {"extra", "auto"}

    # Two keys that are one property: an error, nothing stored.
    n = len(coll)
    with pytest.raises(UnexpectedStatusCodeError) as e:
        coll.data.insert({"Name": "a", "name": "b"})
    assert _status(e) == 422
    assert "given twice" in e.value.message
    bad = coll.data.insert_many([{"Name": "a", "name": "b"}, {"name": "ok"}])
    assert list(bad.errors) == [0]
    assert "given twice" in bad.errors[0].message
    assert len(coll) == n + 1

    # A property "Name" next to "name" in one class is one property defined twice.
    with pytest.raises(UnexpectedStatusCodeError) as e:
        client.collections.create(
            "Twice",
            properties=[
                Property(name="Name", data_type=DataType.TEXT),
                Property(name="name", data_type=DataType.TEXT),
            ],
        )
    assert _status(e) == 422


# -- point 4: config.update ------------------------------------------------------------------------------


def _bm25(docs: list[list[str]], query: list[str], k1: float, b: float) -> list[float]:
    """Weaviate's BM25 (one property): idf = ln(1 + (N - n + 0.5) / (n + 0.5)) times
    tf / (tf + k1 (1 - b + b |d| / avg|d|)), without BM25's usual (k1 + 1) factor."""
    n_docs = len(docs)
    avg = sum(len(d) for d in docs) / n_docs
    out = []
    for d in docs:
        score = 0.0
        for term in query:
            n = sum(term in x for x in docs)
            tf = d.count(term)
            if not tf:
                continue
            idf = math.log(1 + (n_docs - n + 0.5) / (n + 0.5))
            score += idf * tf / (tf + k1 * (1 - b + b * len(d) / avg))
        out.append(score)
    return out


def test_config_update_changes_what_weaviate_lets_change(served, tmp_path) -> None:
    s, client = served
    coll = client.collections.create(
        "Upd",
        description="before",
        vectorizer_config=Configure.Vectorizer.none(),
        properties=[Property(name="text", data_type=DataType.TEXT, description="p before")],
    )
    texts = ["apple banana apple", "banana cherry", "apple", "cherry cherry cherry banana"]
    with coll.batch.fixed_size(10) as batch:
        for t in texts:
            batch.add_object({"text": t})
    toks = [t.split() for t in texts]

    def scores() -> list[float]:
        res = coll.query.bm25("apple banana", limit=10, return_metadata=MetadataQuery(score=True))
        by_text = {o.properties["text"]: o.metadata.score for o in res.objects}
        return [by_text.get(t, 0.0) for t in texts]

    assert scores() == pytest.approx(_bm25(toks, ["apple", "banana"], 1.2, 0.75), rel=1e-5)

    coll.config.update(
        description="after",
        property_descriptions={"text": "p after"},
        inverted_index_config=Reconfigure.inverted_index(
            bm25_b=0.3, bm25_k1=2.0, cleanup_interval_seconds=10, stopwords_removals=["the"]
        ),
        vectorizer_config=Reconfigure.VectorIndex.hnsw(
            ef=99, dynamic_ef_min=50, flat_search_cutoff=123, vector_cache_max_objects=777
        ),
    )
    cfg = coll.config.get()
    assert cfg.description == "after"
    assert cfg.properties[0].description == "p after"
    assert (cfg.inverted_index_config.bm25.b, cfg.inverted_index_config.bm25.k1) == (0.3, 2.0)
    assert cfg.inverted_index_config.cleanup_interval_seconds == 10
    assert cfg.inverted_index_config.stopwords.removals == ["the"]
    vi = cfg.vector_index_config
    assert (vi.ef, vi.dynamic_ef_min, vi.flat_search_cutoff, vi.vector_cache_max_objects) == (
        99,
        50,
        123,
        777,
    )
    assert vi.ef_construction == 128
    assert vi.max_connections == 32
    assert scores() == pytest.approx(_bm25(toks, ["apple", "banana"], 2.0, 0.3), rel=1e-5)

    # Durable: the store reopened from its directory reads the updated config (and the deleted index).
    raw = httpx.get(f"{s.http}/v1/schema/Upd", timeout=10).json()
    assert raw["vectorIndexConfig"]["ef"] == 99
    assert raw["description"] == "after"
    coll.config.delete_property_index("text", "filterable")
    raw = httpx.get(f"{s.http}/v1/schema/Upd", timeout=10).json()
    s.stop()
    with Store(tmp_path / "data") as store:
        assert store.get_collection("Upd").config.to_weaviate() == raw


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["vectorIndexConfig"].update(efConstruction=64), "efConstruction is immutable"),
        (lambda c: c["vectorIndexConfig"].update(distance="dot"), "distance is immutable"),
        (lambda c: c["vectorIndexConfig"].update(maxConnections=8), "maxConnections is immutable"),
        (lambda c: c.update(vectorIndexType="flat"), "vector index type is immutable"),
        (lambda c: c["replicationConfig"].update(factor=2), "cannot scale to 2 replicas"),
        (lambda c: c["shardingConfig"].update(desiredCount=3), "shard count is immutable"),
        (
            lambda c: c["invertedIndexConfig"].update(indexTimestamps=True),
            '"indexTimestamp" setting is immutable',
        ),
        (lambda c: c["properties"][0].update(dataType=["text[]"]), "property fields other than description"),
        (lambda c: c["properties"].pop(), "property fields other than description"),
        (lambda c: c.update({"class": "Other"}), "class name is immutable"),
        (lambda c: c.update(moduleConfig={"generative-openai": {}}), "module 'generative-openai'"),
    ],
)
def test_config_update_refuses_what_weaviate_refuses(served, change, message) -> None:
    s, client = served
    client.collections.create(
        "Fixed",
        vectorizer_config=Configure.Vectorizer.none(),
        properties=[Property(name="text", data_type=DataType.TEXT)],
    )
    before = httpx.get(f"{s.http}/v1/schema/Fixed", timeout=10).json()
    body = httpx.get(f"{s.http}/v1/schema/Fixed", timeout=10).json()
    change(body)
    body["description"] = "would change"
    r = httpx.put(f"{s.http}/v1/schema/Fixed", json=body, timeout=10)
    assert r.status_code == 422, r.text
    assert message in r.json()["error"][0]["message"]
    assert httpx.get(f"{s.http}/v1/schema/Fixed", timeout=10).json() == before  # nothing changed


def test_config_update_of_a_flat_index(served) -> None:
    _, client = served
    coll = client.collections.create(
        "Flat",
        vectorizer_config=Configure.Vectorizer.none(),
        vector_index_config=Configure.VectorIndex.flat(
            vector_cache_max_objects=5, quantizer=Configure.VectorIndex.Quantizer.bq(rescore_limit=10)
        ),
    )
    coll.config.update(
        vectorizer_config=Reconfigure.VectorIndex.flat(
            vector_cache_max_objects=10, quantizer=Reconfigure.VectorIndex.Quantizer.bq(rescore_limit=20)
        )
    )
    cfg = coll.config.get().vector_index_config
    assert (cfg.vector_cache_max_objects, cfg.quantizer.rescore_limit) == (10, 20)
    with pytest.raises(UnexpectedStatusCodeError) as e:  # flat: whether bq is on is fixed at creation
        coll.config.update(
            vectorizer_config=Reconfigure.VectorIndex.flat(
                quantizer=Reconfigure.VectorIndex.Quantizer.bq(enabled=False)
            )
        )
    assert _status(e) == 422
    assert 'bq is immutable: attempted change from "true" to "false"' in e.value.message
    assert coll.config.get().vector_index_config.quantizer.rescore_limit == 20


def test_config_update_of_a_multi_vector(served) -> None:
    s, client = served
    coll = client.collections.create(
        "Mv",
        properties=[Property(name="doc_page", data_type=DataType.BLOB)],
        vector_config=[Configure.MultiVectors.multi2vec_weaviate(name="document", image_field="doc_page")],
    )
    coll.config.update(
        vector_config=Reconfigure.Vectors.update(
            name="document", vector_index_config=Reconfigure.VectorIndex.hnsw(ef=321)
        )
    )
    assert coll.config.get().vector_config["document"].vector_index_config.ef == 321
    body = httpx.get(f"{s.http}/v1/schema/Mv", timeout=10).json()
    body["vectorConfig"]["document"]["vectorIndexConfig"]["multivector"]["muvera"]["enabled"] = True
    r = httpx.put(f"{s.http}/v1/schema/Mv", json=body, timeout=10)
    assert r.status_code == 422
    assert "muvera enabled is immutable" in r.json()["error"][0]["message"]
    body = httpx.get(f"{s.http}/v1/schema/Mv", timeout=10).json()
    body["vectorConfig"]["document"]["vectorizer"]["multi2multivec-weaviate"]["imageFields"] = ["other"]
    r = httpx.put(f"{s.http}/v1/schema/Mv", json=body, timeout=10)
    assert r.status_code == 422
    assert "vectorizer config of vector 'document' is immutable" in r.text


# -- point 4: deleting a property index ---------------------------------------------------------------


def test_delete_property_index(served) -> None:
    s, client = served
    coll = client.collections.create(
        "Idx",
        vectorizer_config=Configure.Vectorizer.none(),
        properties=[
            Property(name="title", data_type=DataType.TEXT),
            Property(name="when", data_type=DataType.DATE, index_range_filters=True),
        ],
    )
    coll.data.insert_many([{"title": "hello world", "when": "2024-01-01T00:00:00Z"}, {"title": "bye"}])
    assert len(coll.query.bm25("hello").objects) == 1
    assert len(coll.query.fetch_objects(filters=Filter.by_property("title").equal("bye")).objects) == 1

    with pytest.raises(UnexpectedStatusCodeError) as e:
        coll.config.delete_property_index("does_not_exist", "filterable")
    assert _status(e) == 422
    assert "not found" in e.value.message

    coll.config.delete_property_index("title", "searchable")
    p = coll.config.get().properties[0]
    assert (p.index_searchable, p.index_filterable) == (False, True)
    with pytest.raises(WeaviateQueryError, match="not a searchable text property"):
        coll.query.bm25("hello", query_properties=["title"])
    assert coll.query.bm25("hello").objects == []  # no searchable property left
    # Still filterable (its filterable index), then not at all.
    assert len(coll.query.fetch_objects(filters=Filter.by_property("title").equal("bye")).objects) == 1
    coll.config.delete_property_index("title", "filterable")
    with pytest.raises(WeaviateQueryError, match="Filtering by property 'title' requires inverted index"):
        coll.query.fetch_objects(filters=Filter.by_property("title").equal("bye"))

    coll.config.delete_property_index("when", "rangeFilters")
    when = coll.config.get().properties[1]
    assert (when.index_range_filters, when.index_filterable) == (False, True)
    coll.config.delete_property_index("when", "rangeFilters")  # already off: nothing to do, no error
    r = httpx.delete(f"{s.http}/v1/schema/Idx/properties/when/index/nonsense", timeout=10)
    assert r.status_code == 422
    assert "invalid property index type" in r.text


# -- point 4: dry-run counts and filter value types ----------------------------------------------------


def test_dry_run_delete_counts_as_weaviate_does(served) -> None:
    s, client = served
    coll = client.collections.create(
        "Dry",
        vectorizer_config=Configure.Vectorizer.none(),
        properties=[Property(name="n", data_type=DataType.INT)],
    )
    coll.data.insert_many([{"n": i} for i in range(5)])
    ret = coll.data.delete_many(
        where=Filter.by_property("n").less_than(3), dry_run=True, verbose=True
    )  # gRPC
    assert (ret.matches, ret.successful, ret.failed) == (3, 3, 0)
    assert ret.objects is not None
    assert all(o.successful for o in ret.objects)
    assert len(coll) == 5
    body = {
        "match": {"class": "Dry", "where": {"path": ["n"], "operator": "LessThan", "valueInt": 2}},
        "dryRun": True,
        "output": "verbose",
    }
    r = httpx.request("DELETE", f"{s.http}/v1/batch/objects", json=body, timeout=10).json()  # REST
    # Weaviate's REST handler counts a dry run's objects as DRYRUN, not as successful.
    assert (r["results"]["matches"], r["results"]["successful"], r["results"]["failed"]) == (2, 0, 0)
    assert [o["status"] for o in r["results"]["objects"]] == ["DRYRUN", "DRYRUN"]
    assert len(coll) == 5
    ret = coll.data.delete_many(where=Filter.by_property("n").less_than(3))
    assert (ret.matches, ret.successful, ret.failed) == (3, 3, 0)
    assert len(coll) == 2


def test_filter_values_of_the_wrong_type(served) -> None:
    s, client = served
    coll = client.collections.create(
        "Types",
        vectorizer_config=Configure.Vectorizer.none(),
        properties=[
            Property(name="i", data_type=DataType.INT),
            Property(name="f", data_type=DataType.NUMBER),
            Property(name="t", data_type=DataType.TEXT),
            Property(name="b", data_type=DataType.BOOL),
            Property(name="d", data_type=DataType.DATE),
        ],
    )
    ids = [
        coll.data.insert({"i": k, "f": float(k), "t": f"w{k}", "b": k == 1, "d": f"2024-01-0{k}T00:00:00Z"})
        for k in (1, 2, 3)
    ]

    def fetch(f) -> set[uuid.UUID]:
        return {o.uuid for o in coll.query.fetch_objects(filters=f).objects}

    assert fetch(Filter.by_property("i").equal(1)) == {ids[0]}
    assert fetch(Filter.by_property("i").equal(1.0)) == {ids[0]}  # a whole number is an int
    assert fetch(Filter.by_property("f").equal(1)) == {ids[0]}  # an int is a number
    assert fetch(Filter.by_property("i").contains_any([1.0, 3.0])) == {ids[0], ids[2]}
    assert fetch(Filter.by_property("d").greater_than(dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc))) == {
        ids[2]
    }
    for bad, msg in (
        (Filter.by_property("i").equal(1.2), "floating point number"),
        (Filter.by_property("i").greater_than(True), "expected numbers"),
        (Filter.by_property("t").equal(5), "expected text"),
        (Filter.by_property("b").equal(1), "expected booleans"),
        (Filter.by_property("f").equal("x"), "expected numbers"),
        (Filter.by_property("d").greater_than(5), "expected RFC 3339 dates"),
    ):
        with pytest.raises(WeaviateQueryError, match=msg):
            coll.query.fetch_objects(filters=bad)
    where = {"path": ["i"], "operator": "Equal", "valueNumber": 2.5}
    r = httpx.request(
        "DELETE", f"{s.http}/v1/batch/objects", json={"match": {"class": "Types", "where": where}}, timeout=10
    )
    assert r.status_code == 422
    assert "floating point number" in r.text
    assert len(coll) == 3


# -- point 4: the legacy Vectorizer.none() class round trip ---------------------------------------------


def test_legacy_vectorizer_none_class_round_trips(served) -> None:
    _, client = served
    coll = client.collections.create(
        "Legacy",
        vectorizer_config=Configure.Vectorizer.none(),
        vector_index_config=Configure.VectorIndex.hnsw(ef=77, dynamic_ef_max=900),
        properties=[Property(name="title", data_type=DataType.TEXT)],
        inverted_index_config=Configure.inverted_index(bm25_b=0.5, bm25_k1=1.1),
    )
    cfg = coll.config.get()
    assert cfg.vectorizer == "none"
    assert cfg.vector_config is None
    assert (cfg.vector_index_config.ef, cfg.vector_index_config.dynamic_ef_max) == (77, 900)
    assert cfg.vector_index_config.distance_metric == VectorDistances.COSINE
    assert cfg.vector_index_config.filter_strategy.value == "acorn"  # Weaviate's default since 1.34

    cfg.name = "LegacyCopy"
    copy = client.collections.create_from_config(cfg)
    again = copy.config.get()
    assert again.name == "LegacyCopy"
    assert again == cfg
    client.collections.create_from_dict({**cfg.to_dict(), "class": "LegacyDict"})
    d = client.collections.use("LegacyDict").config.get()
    d.name = cfg.name
    assert d == cfg

    dot = client.collections.create(
        "LegacyDot",
        vectorizer_config=Configure.Vectorizer.none(),
        vector_index_config=Configure.VectorIndex.flat(distance_metric=VectorDistances.DOT),
    )
    got = dot.config.get()
    assert got.vector_index_type.value == "flat"
    assert got.vector_index_config.distance_metric == VectorDistances.DOT


def test_property_length_filter(served) -> None:
    s, client = served
    words = ["one", "two", "three", "four", "", "ünï"]
    coll = client.collections.create(
        "Lengths",
        vectorizer_config=Configure.Vectorizer.none(),
        properties=[
            Property(name="field", data_type=DataType.TEXT),
            Property(name="tags", data_type=DataType.TEXT_ARRAY),
        ],
        inverted_index_config=Configure.inverted_index(index_property_length=True),
    )
    ids = [coll.data.insert({"field": w, "tags": list(w)}) for w in words]
    ids.append(coll.data.insert({}))  # missing: length 0
    lengths = [len(w) for w in words] + [0]

    def want(pred) -> set[uuid.UUID]:
        return {u for u, n in zip(ids, lengths, strict=True) if pred(n)}

    def got(f) -> set[uuid.UUID]:
        return {o.uuid for o in coll.query.fetch_objects(filters=f, limit=100).objects}

    assert got(Filter.by_property("field", length=True).equal(3)) == want(lambda n: n == 3)
    assert got(Filter.by_property("field", length=True).greater_than(3)) == want(lambda n: n > 3)
    assert got(Filter.by_property("tags", length=True).less_or_equal(0)) == want(lambda n: n == 0)
    assert got(Filter.by_property("Field", length=True).not_equal(3)) == want(lambda n: n != 3)
    with pytest.raises(WeaviateQueryError, match="floating point number"):
        got(Filter.by_property("field", length=True).equal(2.5))

    plain = client.collections.create(
        "NoLengths",
        vectorizer_config=Configure.Vectorizer.none(),
        properties=[Property(name="field", data_type=DataType.TEXT)],
    )
    plain.data.insert({"field": "abc"})
    with pytest.raises(WeaviateQueryError, match="Property length must be indexed"):
        plain.query.fetch_objects(filters=Filter.by_property("field", length=True).equal(3))
    where = {"path": ["len(field)"], "operator": "Equal", "valueInt": 3}
    r = httpx.request(
        "DELETE",
        f"{s.http}/v1/batch/objects",
        json={"match": {"class": "NoLengths", "where": where}},
        timeout=10,
    )
    assert r.status_code == 422
    assert "Property length must be indexed" in r.text


def test_nodes_and_shards_of_a_collection(served) -> None:
    s, client = served
    coll = client.collections.create(
        "Nodes",
        vectorizer_config=Configure.Vectorizer.none(),
        properties=[Property(name="n", data_type=DataType.INT)],
    )
    coll.data.insert_many([{"n": i} for i in range(3)])
    (node,) = client.cluster.nodes("Nodes", output="verbose")
    assert node.status == "HEALTHY"
    assert [(sh.collection, sh.object_count, sh.vector_queue_length) for sh in node.shards] == [
        ("Nodes", 3, 0)
    ]
    assert node.stats.object_count == 3
    assert client.cluster.nodes("Nodes", output="minimal")[0].shards is None
    (shard,) = coll.shards()
    assert (shard.collection, shard.object_count) == ("Nodes", 3)
    (status,) = coll.config.get_shards()
    assert (status.name, status.status, status.vector_queue_size) == (shard.name, "READY", 0)
    assert httpx.get(f"{s.http}/v1/nodes/Missing", timeout=10).status_code == 404
    assert httpx.get(f"{s.http}/v1/nodes/Nodes?output=everything", timeout=10).status_code == 422

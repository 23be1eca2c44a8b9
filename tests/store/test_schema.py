from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from colweave.store import CollectionConfig, MuveraConfig, Property, SchemaError, VectorConfig
from colweave.store.schema import DATA_TYPES, RESERVED_PROPERTY_NAMES, TOKENIZATIONS, infer_data_type


def _weaviate_sample() -> dict:
    """What Weaviate 1.36 answers to ``GET /v1/schema/DemoCollection`` for the docs' multimodal collection
    (one BLOB property, one text property, a multi2multivec-weaviate multi-vector), key order included:
    every setting the client did not send is Weaviate's default."""
    hnsw = {
        "skip": False,
        "cleanupIntervalSeconds": 300,
        "maxConnections": 32,
        "efConstruction": 128,
        "ef": -1,
        "dynamicEfMin": 100,
        "dynamicEfMax": 500,
        "dynamicEfFactor": 8,
        "vectorCacheMaxObjects": 10**12,
        "flatSearchCutoff": 40000,
        "distance": "cosine",
        "pq": {
            "enabled": False,
            "bitCompression": False,
            "segments": 0,
            "centroids": 256,
            "trainingLimit": 100000,
            "encoder": {"type": "kmeans", "distribution": "log-normal"},
        },
        "bq": {"enabled": False},
        "sq": {"enabled": False, "trainingLimit": 100000, "rescoreLimit": 20},
        "rq": {"enabled": False, "bits": 8, "rescoreLimit": 20},
        "filterStrategy": "sweeping",
        "multivector": {
            "enabled": True,
            "aggregation": "maxSim",
            "muvera": {"enabled": False, "ksim": 4, "dprojections": 16, "repetitions": 10},
        },
        "skipDefaultQuantization": False,
        "trackDefaultQuantization": False,
    }
    module = {
        "imageFields": ["doc_page"],
        "baseURL": "",
        "model": "ModernVBERT/colmodernvbert",
        "vectorizeClassName": False,
    }
    blob = {
        "name": "doc_page",
        "dataType": ["blob"],
        "indexFilterable": True,
        "indexSearchable": False,
        "indexRangeFilters": False,
    }
    text = {
        "name": "title",
        "dataType": ["text"],
        "indexFilterable": True,
        "indexSearchable": True,
        "indexRangeFilters": False,
        "tokenization": "word",
    }
    return {
        "vectorConfig": {
            "document": {
                "vectorizer": {"multi2multivec-weaviate": module},
                "vectorIndexType": "hnsw",
                "vectorIndexConfig": hnsw,
            }
        },
        "class": "DemoCollection",
        "properties": [blob, text],
        "invertedIndexConfig": {
            "bm25": {"b": 0.75, "k1": 1.2},
            "cleanupIntervalSeconds": 60,
            "stopwords": {"preset": "en", "additions": None, "removals": None},
            "usingBlockMaxWAND": True,
        },
        "multiTenancyConfig": {"enabled": False, "autoTenantCreation": False, "autoTenantActivation": False},
        "replicationConfig": {
            "factor": 1,
            "asyncEnabled": False,
            "deletionStrategy": "NoAutomatedResolution",
        },
        "shardingConfig": {
            "virtualPerPhysical": 128,
            "desiredCount": 1,
            "actualCount": 1,
            "desiredVirtualCount": 128,
            "actualVirtualCount": 128,
            "key": "_id",
            "strategy": "hash",
            "function": "murmur3",
        },
    }


@pytest.fixture
def sample() -> dict:
    return _weaviate_sample()


def test_sample_round_trips_exactly(sample: dict) -> None:
    cfg = CollectionConfig.from_weaviate(sample)
    out = cfg.to_weaviate()
    assert out == sample
    assert json.dumps(out) == json.dumps(sample)  # same key order too
    assert cfg.vectors["document"].image_fields == ["doc_page"]
    assert cfg.vectors["document"].muvera == MuveraConfig(False, 4, 16, 10)


def test_client_request_gets_weaviate_defaults(sample: dict) -> None:
    # What weaviate-client sends for the docs workflow: partial, with client-only keys.
    request = {
        "class": "demoCollection",
        "properties": [{"name": "doc_page", "dataType": ["blob"]}, {"name": "title", "dataType": ["text"]}],
        "vectorConfig": {
            "document": {
                "vectorizer": {
                    "multi2multivec-weaviate": {
                        "imageFields": ["doc_page"],
                        "model": "ModernVBERT/colmodernvbert",
                    }
                },
                "vectorIndexType": "hnsw",
                "vectorIndexConfig": {"multivector": {"enabled": True, "aggregation": "maxSim"}},
            }
        },
        "skip_vectorization": False,
        "vectorize_property_name": True,
    }
    # Weaviate >= 1.34 defaults hnsw's filterStrategy to acorn (DefaultFilterStrategy); the sample was
    # written with sweeping set.
    sample["vectorConfig"]["document"]["vectorIndexConfig"]["filterStrategy"] = "acorn"
    assert CollectionConfig.from_weaviate(request).to_weaviate() == sample


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"class": "1bad"}, "invalid collection name"),
        ({"properties": [{"name": "x", "dataType": ["object"]}]}, "not supported"),
        ({"properties": [{"name": "x", "dataType": ["int"], "tokenization": "word"}]}, "tokenization"),
        ({"properties": [{"name": "x", "dataType": ["text"], "tokenization": "trigram"}]}, "tokenization"),
        ({"properties": [{"name": "x", "dataType": ["int"], "indexSearchable": True}]}, "indexSearchable"),
        ({"properties": [{"name": "x", "dataType": ["int"]}, {"name": "X", "dataType": ["int"]}]}, "twice"),
        ({"properties": [{"name": "a-b", "dataType": ["text"]}]}, "invalid property name"),
        ({"invertedIndexConfig": {"bm25": {"b": 1.5}}}, "between 0 and 1"),
        ({"invertedIndexConfig": {"stopwords": {"preset": "fr"}}}, "preset"),
        ({"vectorizer": "text2vec-openai"}, "module 'text2vec-openai' is not available"),
    ],
)
def test_invalid_configs(patch: dict, message: str) -> None:
    body = {"class": "Good", **patch}
    with pytest.raises(SchemaError, match=message):
        CollectionConfig.from_weaviate(body)


def _vec(cfg: dict) -> dict:
    return {"class": "V", "vectorConfig": {"v": cfg}}


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"vectorizer": {"multi2multivec-weaviate": {}}}, "imageFields setting needs to be present"),
        ({"vectorizer": {"text2vec-openai": {}}}, "not available"),
        ({"vectorIndexConfig": {"distance": "euclidean"}}, "not a distance"),
        ({"vectorIndexType": "dynamic", "vectorIndexConfig": {"multivector": {"enabled": True}}}, "hnsw"),
        ({"vectorIndexConfig": {"multivector": {"enabled": True, "muvera": {"ksim": 11}}}}, "ksim"),
        (
            {"vectorIndexConfig": {"multivector": {"enabled": True, "muvera": {"repetitions": 0}}}},
            "repetitions",
        ),
        (
            {"vectorIndexConfig": {"multivector": {"enabled": True, "muvera": {"dprojections": 0}}}},
            "dprojections",
        ),
        ({"vectorIndexConfig": {"distance": "l2-squared", "multivector": {"enabled": True}}}, "distance"),
        (
            {
                "vectorIndexConfig": {
                    "multivector": {"enabled": True},
                    "pq": {"enabled": True},
                    "bq": {"enabled": True},
                }
            },
            "more than a single compression",
        ),
        (
            {"vectorIndexConfig": {"multivector": {"enabled": True}, "rq": {"enabled": True, "bits": 2}}},
            "RQ bits",
        ),
        ({"vectorIndexConfig": {"multivector": {"enabled": True}, "bq": {"enabled": "yes"}}}, "boolean"),
        (
            {
                "vectorIndexConfig": {
                    "multivector": {"enabled": True},
                    "sq": {"enabled": True, "rescoreLimit": 1.5},
                }
            },
            "integer",
        ),
        (
            {
                "vectorIndexConfig": {
                    "multivector": {"enabled": True},
                    "pq": {"enabled": True, "encoder": {"type": "x"}},
                }
            },
            "encoder type",
        ),
        (
            {
                "vectorIndexConfig": {
                    "multivector": {"enabled": True},
                    "pq": {"enabled": True, "segments": -1},
                }
            },
            "segments",
        ),
        ({"vectorizer": {"none": {"colweavePooling": {"poolFactor": 0}}}}, "poolFactor"),
        ({"vectorizer": {"none": {"colweavePooling": {"factor": 2}}}}, "unknown setting"),
        ({"vectorizer": {"none": {"colweavePooling": 2}}}, "expected an object"),
        ({"vectorIndexConfig": {"multivector": {"enabled": True, "aggregation": "mean"}}}, "maxSim"),
    ],
)
def test_invalid_vector_configs(cfg: dict, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        CollectionConfig.from_weaviate(_vec(cfg))


def test_image_field_must_be_a_blob() -> None:
    with pytest.raises(SchemaError, match="blob"):
        CollectionConfig(
            "C",
            properties=[Property.create("page", "text")],
            vectors={"v": VectorConfig.multi2multivec("v", ["page"])},
        )


def test_multi2multivec_forces_multivector_and_muvera_defaults() -> None:
    cfg = CollectionConfig.from_weaviate(
        _vec({"vectorizer": {"multi2multivec-weaviate": {"imageFields": ["p"]}}, "vectorIndexConfig": {}})
    )
    mv = cfg.to_weaviate()["vectorConfig"]["v"]["vectorIndexConfig"]["multivector"]
    assert mv == {
        "enabled": True,
        "aggregation": "maxSim",
        "muvera": {"enabled": False, "ksim": 4, "dprojections": 16, "repetitions": 10},
    }
    assert cfg.vectors["v"].muvera.fde_dim == 2560


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("hello", "text"),
        ("2024-01-02T03:04:05Z", "date"),
        ("2024-01-02T03:04:05.123+02:00", "date"),
        ("7d0e0a0e-3f3c-4d55-9c61-0d6a3a1e2b3c", "uuid"),
        (3, "number"),
        (2.5, "number"),
        (True, "boolean"),
        (["a", "b"], "text[]"),
        ([1, 2.0], "number[]"),
        ([True], "boolean[]"),
        (b"\x89PNG", "blob"),
        (None, None),
        ([], None),
    ],
)
def test_auto_schema_inference(value: object, expected: str | None) -> None:
    assert infer_data_type(value) == expected


def test_auto_schema_rejects_mixed_lists() -> None:
    with pytest.raises(SchemaError):
        infer_data_type(["a", 1])


# Valid property names; "id" in any case is reserved (refused, tested on its own), so the generator skips it.
names = st.from_regex(r"[a-z][a-zA-Z0-9_]{0,12}", fullmatch=True).filter(
    lambda n: n.lower() not in RESERVED_PROPERTY_NAMES
)


@st.composite
def configs(draw: st.DrawFn) -> dict:
    props = []
    for name in draw(st.lists(names, max_size=6, unique_by=str.lower)):
        dtype = draw(st.sampled_from(DATA_TYPES))
        p: dict = {"name": name, "dataType": [dtype], "indexFilterable": draw(st.booleans())}
        if dtype in ("text", "text[]"):
            p["tokenization"] = draw(st.sampled_from(TOKENIZATIONS))
            p["indexSearchable"] = draw(st.booleans())
        props.append(p)
    vectors = {}
    for vname in draw(st.lists(names, max_size=3, unique=True)):
        vectors[vname] = {
            "vectorizer": {"none": {}},
            "vectorIndexConfig": {
                "distance": draw(st.sampled_from(["cosine", "dot"])),
                "ef": draw(st.integers(-1, 1000)),
                "multivector": {
                    "enabled": True,
                    "muvera": {
                        "enabled": draw(st.booleans()),
                        "ksim": draw(st.integers(1, 6)),
                        "dprojections": draw(st.integers(1, 32)),
                        "repetitions": draw(st.integers(1, 16)),
                    },
                },
            },
        }
    return {
        "class": "C" + draw(names),
        "properties": props,
        "vectorConfig": vectors,
        "invertedIndexConfig": {
            "bm25": {"k1": draw(st.floats(0, 3)), "b": draw(st.floats(0, 1))},
            "stopwords": {
                "preset": draw(st.sampled_from(["en", "none"])),
                "additions": draw(st.none() | st.lists(names, max_size=3)),
                "removals": draw(st.none() | st.lists(names, max_size=3)),
            },
        },
    }


@given(configs())
def test_round_trip_property(body: dict) -> None:
    full = CollectionConfig.from_weaviate(body).to_weaviate()
    again = CollectionConfig.from_weaviate(json.loads(json.dumps(full))).to_weaviate()
    assert json.dumps(again) == json.dumps(full)
    for p_in, p_out in zip(body["properties"], full["properties"], strict=True):
        assert p_out["dataType"] == p_in["dataType"]
        assert p_out.get("tokenization") == p_in.get("tokenization")
    for name, v in body["vectorConfig"].items():
        mv = full["vectorConfig"][name]["vectorIndexConfig"]["multivector"]
        assert mv["muvera"] == v["vectorIndexConfig"]["multivector"]["muvera"]

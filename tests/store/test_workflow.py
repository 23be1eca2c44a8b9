"""The docs workflow of weaviate.md §4, on the embedded store, with a deterministic vectorizer."""

from __future__ import annotations

import base64
from pathlib import Path

from colweave.store import DataObject, Filter, Store
from conftest import HashVectorizer

FILMS = [
    "A holiday film",
    "A winter thriller",
    "Summer beach comedy",
    "Holiday at the river",
    "Night city noir",
]


def test_docs_workflow(tmp_path: Path) -> None:
    store = Store(tmp_path, vectorizer=HashVectorizer())
    store.delete_collection("DemoCollection")  # scripts delete first: idempotent
    # What weaviate-client sends for Configure.MultiVectors.multi2vec_weaviate(..., encoding=muvera(...)).
    coll = store.create_collection(
        {
            "class": "DemoCollection",
            "properties": [{"name": "doc_page", "dataType": ["blob"]}],
            "vectorConfig": {
                "document": {
                    "vectorizer": {"multi2multivec-weaviate": {"imageFields": ["doc_page"]}},
                    "vectorIndexType": "hnsw",
                    "vectorIndexConfig": {
                        "multivector": {
                            "enabled": True,
                            "muvera": {"enabled": True, "ksim": 4, "dprojections": 16, "repetitions": 20},
                        }
                    },
                }
            },
        }
    )
    pages = {t: base64.b64encode(f"page image of {t}".encode()).decode() for t in FILMS}
    res = coll.insert_many([DataObject({"title": t, "doc_page": pages[t]}) for t in FILMS])
    assert not res.errors
    schema = coll.config.to_weaviate()
    title = next(p for p in schema["properties"] if p["name"] == "title")
    assert title == {
        "name": "title",
        "dataType": ["text"],
        "indexFilterable": True,
        "indexSearchable": True,
        "indexRangeFilters": False,
        "tokenization": "word",
    }
    muv = schema["vectorConfig"]["document"]["vectorIndexConfig"]["multivector"]["muvera"]
    assert muv == {"enabled": True, "ksim": 4, "dprojections": 16, "repetitions": 20}

    hits = coll.near_text("A holiday film", limit=2)
    assert len(hits) == 2
    assert all(h.metadata.distance is not None for h in hits)
    assert all("doc_page" not in h.properties for h in hits)  # blobs only when asked for
    hy = coll.hybrid("holiday", limit=2)
    assert {h.properties["title"] for h in hy} <= set(FILMS)
    assert hy[0].metadata.explain_score.startswith("\nHybrid (Result Set vector,hybridVector) Document ")
    # fetch_object_by_id: an id filter asking for times.
    u = res.uuids[0]
    (obj,) = coll.fetch_objects(filters=Filter.by_id().equal(u), return_properties=["title", "doc_page"])
    assert obj.properties == {"title": FILMS[0], "doc_page": pages[FILMS[0]]}
    assert obj.metadata.creation_time is not None
    assert obj.metadata.last_update_time is not None
    store.close()
    # Reopen: everything, including the vectors and the MUVERA encodings, is back.
    store = Store(tmp_path, vectorizer=HashVectorizer())
    again = store.get_collection("demoCollection")
    assert [h.uuid for h in again.near_text("A holiday film", limit=2)] == [h.uuid for h in hits]
    store.close()

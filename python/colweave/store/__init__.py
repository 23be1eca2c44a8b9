"""colweave's embedded store: collections of objects with multi-vectors, searched with Weaviate's
semantics (near_vector by MaxSim, BM25, hybrid fusion, filters, MUVERA), durable in a data directory.

    from colweave.store import Store, CollectionConfig, Property, VectorConfig, DataObject, Filter

    store = Store("/var/lib/colweave")
    pages = store.create_collection(
        CollectionConfig("Pages", properties=[Property.create("title", "text")],
                         vectors={"page": VectorConfig.self_provided("page")})
    )
    pages.insert_many([DataObject({"title": "A holiday film"}, vectors={"page": tokens})])
    hits = pages.hybrid("holiday", vector=query_tokens, limit=5)

Aggregates (``colweave.store.aggregate``: the searches ``NearVector``, ``NearText``, ``NearObject``,
``NearImage``, ``Hybrid``, ``BM25`` and ``Metrics``) compute Weaviate's property metrics over what a
search finds: ``pages.aggregate(NearVector(query_tokens), object_limit=5, metrics=[Metrics("title")])``.
"""

from __future__ import annotations

from colweave.store.collection import Collection
from colweave.store.errors import (
    AlreadyExistsError,
    FilterError,
    NotFoundError,
    ObjectError,
    QueryError,
    SchemaError,
    StorageFullError,
    StoreError,
)
from colweave.store.filters import Filter
from colweave.store.objects import BatchError, BatchResult, DataObject, StoredObject, Vectorizer
from colweave.store.results import Metadata, SearchResult
from colweave.store.schema import (
    CollectionConfig,
    InvertedIndexConfig,
    MuveraConfig,
    Property,
    VectorConfig,
)
from colweave.store.store import Store
from colweave.store.tokenize import tokenize

__all__ = [
    "AlreadyExistsError",
    "BatchError",
    "BatchResult",
    "Collection",
    "CollectionConfig",
    "DataObject",
    "Filter",
    "FilterError",
    "InvertedIndexConfig",
    "Metadata",
    "MuveraConfig",
    "NotFoundError",
    "ObjectError",
    "Property",
    "QueryError",
    "SchemaError",
    "SearchResult",
    "StorageFullError",
    "Store",
    "StoreError",
    "StoredObject",
    "VectorConfig",
    "Vectorizer",
    "tokenize",
]

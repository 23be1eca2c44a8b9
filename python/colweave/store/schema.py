"""Collection configs that mirror Weaviate's, with its JSON shape (``GET /v1/schema/{Name}``) both ways.

``CollectionConfig.from_weaviate(body)`` accepts what a client sends to ``POST /v1/schema`` (partial, with
client-only keys, which are ignored) or what Weaviate returns (complete), fills Weaviate's defaults and
validates; ``to_weaviate()`` returns the complete shape. Keys this module does not interpret (hnsw tuning,
sharding, replication, multi-tenancy) are kept and written back unchanged, so a complete config
round-trips exactly.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import math
import re
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any

from colweave.store.compression import POOLING_KEY, Compression, check_quantizers, compression_of, pooling_of
from colweave.store.errors import SchemaError
from colweave.store.geo_phone import GEO, PHONE, parse_geo, parse_phone

JSON = dict[str, Any]

SCALAR_TYPES = ("text", "int", "number", "boolean", "date", "uuid")
ARRAY_TYPES = tuple(f"{t}[]" for t in SCALAR_TYPES)
# geoCoordinates and phoneNumber: Weaviate's map-valued types (``store/geo_phone.py``); no arrays of them.
DATA_TYPES = (*SCALAR_TYPES, *ARRAY_TYPES, "blob", GEO, PHONE)
# The data type of a cross-reference property (its ``dataType`` is the list of its target collections).
REFERENCE = "cref"
TEXT_TYPES = ("text", "text[]")
TOKENIZATIONS = ("word", "lowercase", "whitespace", "field")
MULTI2MULTIVEC = "multi2multivec-weaviate"
VECTORIZERS = ("none", MULTI2MULTIVEC)
DISTANCES = ("cosine", "dot")
# The name of the unnamed (collection-level, "legacy") vector in Weaviate's named-vector API, and of the
# vector Weaviate's client configures when a collection is created without any.
DEFAULT_VECTOR = "default"
# Weaviate's distances for single vectors.
SINGLE_DISTANCES = ("cosine", "dot", "l2-squared", "manhattan", "hamming")
INDEX_TYPES = ("hnsw", "flat", "dynamic", "hfresh")
STOPWORD_PRESETS = ("en", "none")
# Bounds on the sizes a config multiplies: MUVERA's encoding has repetitions * 2^ksim * dprojections
# floats per object (Weaviate's defaults: 10 * 16 * 16 = 2560); candidate pools (ef, dynamicEf*) and
# the HNSW graph sizes are bounded too, and BM25's k1 and b must be finite and in range.
MAX_KSIM = 10
MAX_DPROJECTIONS = 1024
MAX_REPETITIONS = 1024
MAX_FDE_DIM = 1 << 16
MAX_EF = 100_000
MAX_EF_FACTOR = 1000
MAX_CONNECTIONS = 2048
MAX_BM25_K1 = 1000.0
_INDEX_INTS = {  # key: (lowest, highest)
    "ef": (-1, MAX_EF),
    "dynamicEfMin": (1, MAX_EF),
    "dynamicEfMax": (1, MAX_EF),
    "dynamicEfFactor": (1, MAX_EF_FACTOR),
    "efConstruction": (1, MAX_EF),
    "maxConnections": (1, MAX_CONNECTIONS),
    "flatSearchCutoff": (0, 1 << 40),
    "cleanupIntervalSeconds": (0, 1 << 40),
}

# Weaviate's rule for class names (entities/schema validation): 255 characters at most.
_CLASS_RE = re.compile(r"^[A-Z][_0-9A-Za-z]{0,254}\Z")
_PROP_RE = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,230}\Z")
_VECTOR_RE = re.compile(r"^[_A-Za-z][-_0-9A-Za-z]{0,230}\Z")


def _hnsw_defaults() -> JSON:
    """Weaviate's hnsw index config, as ``GET /v1/schema`` writes it (without ``multivector``)."""
    return {
        "skip": False,
        "cleanupIntervalSeconds": 300,
        "maxConnections": 32,
        "efConstruction": 128,
        "ef": -1,
        "dynamicEfMin": 100,
        "dynamicEfMax": 500,
        "dynamicEfFactor": 8,
        "vectorCacheMaxObjects": 1000000000000,
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
        "filterStrategy": "acorn",  # Weaviate >= 1.34 (HNSW_DEFAULT_FILTER_STRATEGY unset)
        "multivector": None,  # placeholder keeping Weaviate's key order; filled by MultiVectorConfig
        "skipDefaultQuantization": False,
        "trackDefaultQuantization": False,
    }


def _top_defaults() -> JSON:
    return {
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


def _merge(defaults: JSON, given: JSON) -> JSON:
    """``defaults`` overlaid with ``given`` recursively (dicts merge; other values replace); keeps key order
    of ``defaults`` first, then keys only ``given`` has."""
    out = copy.deepcopy(defaults)
    for k, v in given.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _bool(d: JSON, key: str, default: bool, where: str) -> bool:
    v = d.get(key, default)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise SchemaError(f"{where}.{key}: expected a boolean, got {v!r}")
    return v


def _int(d: JSON, key: str, default: int, where: str) -> int:
    v = d.get(key, default)
    if v is None:
        return default
    if (
        isinstance(v, bool)
        or not isinstance(v, int | float)
        or (isinstance(v, float) and not math.isfinite(v))
        or int(v) != v
    ):
        raise SchemaError(f"{where}.{key}: expected an integer, got {_short(v)}")
    return int(v)


def _float(d: JSON, key: str, default: float, where: str) -> float:
    v = d.get(key, default)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise SchemaError(f"{where}.{key}: expected a number, got {_short(v)}")
    try:
        f = float(v)
    except OverflowError:
        f = math.inf
    if not math.isfinite(f):
        raise SchemaError(f"{where}.{key}: expected a finite number, got {_short(v)}")
    return f


def lowercase_first(name: str) -> str:
    """Weaviate's property-name rule: the first letter is lower-cased wherever a name enters (creating a
    collection, adding a property, an object's keys, filters, returned and searched properties)."""
    return name[:1].lower() + name[1:]


def _module_error(where: str, module: Any) -> SchemaError:
    """The error for a module colweave does not run, naming it and saying what kind of module it is."""
    m = str(module)
    if m.startswith("generative-"):
        what = "colweave runs no generative (RAG) modules"
    elif m.startswith("reranker-"):
        what = "colweave runs no reranker modules"
    elif re.match(r"^(text2|multi2|img2|ref2)", m):
        what = f"colweave vectorizes with {MULTI2MULTIVEC} only (or self-provided vectors: vectorizer none)"
    else:
        what = f"colweave runs {MULTI2MULTIVEC} only"
    return SchemaError(f"{where}: module {m!r} is not available: {what}")


def normalize_class_name(name: str) -> str:
    """The one check every collection name passes wherever it enters (REST, gRPC, the library): Weaviate
    upper-cases the first letter, then the name must match ``^[A-Z][_0-9A-Za-z]{0,254}$``. A name that
    passes can never be a path (no separators, dots or other characters), but the store still maps names
    to folders through its own catalogue rather than trusting this alone."""
    if not isinstance(name, str) or not name:
        raise SchemaError("class: a collection needs a non-empty name")
    out = name[0].upper() + name[1:]
    if not _CLASS_RE.match(out):
        shown = name if len(name) <= 80 else name[:80] + f"... ({len(name)} characters)"
        raise SchemaError(
            f"class: invalid collection name {shown!r}: it must match /[A-Z][_0-9A-Za-z]{{0,254}}/ "
            "(a letter, then letters, digits or underscores, at most 255 characters)"
        )
    return out


@dataclass
class Property:
    name: str
    data_type: str
    tokenization: str | None = None
    index_filterable: bool = True
    index_searchable: bool = False
    index_range_filters: bool = False
    description: str | None = None
    extra: JSON = field(default_factory=dict)
    # A cross-reference property's target collections (its data type is REFERENCE); empty otherwise.
    targets: list[str] = field(default_factory=list)

    @property
    def is_reference(self) -> bool:
        return self.data_type == REFERENCE

    @classmethod
    def reference(cls, name: str, targets: str | list[str], *, description: str | None = None) -> Property:
        """A cross-reference property to one target collection or several (Weaviate's
        ``ReferenceProperty`` / ``ReferenceProperty.MultiTarget``)."""
        body: JSON = {"name": name, "dataType": [targets] if isinstance(targets, str) else list(targets)}
        if description is not None:
            body["description"] = description
        return cls.from_weaviate(body)

    @classmethod
    def create(
        cls,
        name: str,
        data_type: str,
        *,
        tokenization: str | None = None,
        index_filterable: bool = True,
        index_searchable: bool | None = None,
        description: str | None = None,
    ) -> Property:
        """A property with Weaviate's defaults (text: word tokenization, searchable)."""
        body: JSON = {"name": name, "dataType": [data_type], "indexFilterable": index_filterable}
        if tokenization is not None:
            body["tokenization"] = tokenization
        if index_searchable is not None:
            body["indexSearchable"] = index_searchable
        if description is not None:
            body["description"] = description
        return cls.from_weaviate(body)

    @classmethod
    def from_weaviate(cls, d: JSON) -> Property:
        if not isinstance(d, dict):
            raise SchemaError(f"properties: expected an object, got {d!r}")
        name = d.get("name")
        if not isinstance(name, str) or not _PROP_RE.match(name):
            raise SchemaError(
                f"properties: invalid property name {_short(name)}: it must match /[_A-Za-z][_0-9A-Za-z]*/"
            )
        name = lowercase_first(name)
        if name.lower() in RESERVED_PROPERTY_NAMES:
            raise SchemaError(f"properties: {name!r} is a reserved property name")
        where = f"property {name!r}"
        types = d.get("dataType")
        if isinstance(types, str):
            types = [types]
        if isinstance(types, list) and types and all(isinstance(t, str) and t[:1].isupper() for t in types):
            return cls._reference_from_weaviate(name, types, d)
        if not isinstance(types, list) or len(types) != 1 or not isinstance(types[0], str):
            raise SchemaError(
                f"{where}: dataType must be a list with one data type (or the target collections of a "
                f"cross-reference), got {_short(types)}"
            )
        dtype = types[0]
        if dtype in ("string", "string[]"):  # Weaviate's deprecated names
            dtype = dtype.replace("string", "text")
        if dtype not in DATA_TYPES:
            raise SchemaError(
                f"{where}: data type {dtype!r} is not supported (supported: {', '.join(DATA_TYPES)})"
            )
        is_text = dtype in TEXT_TYPES
        tok = d.get("tokenization")
        if is_text:
            tok = tok or "word"
            if tok not in TOKENIZATIONS:
                raise SchemaError(
                    f"{where}: tokenization {tok!r} is not supported (supported: {', '.join(TOKENIZATIONS)})"
                )
        elif tok:
            raise SchemaError(f"{where}: tokenization is only allowed for text and text[] properties")
        else:
            tok = None
        searchable = _bool(d, "indexSearchable", is_text, where)
        if searchable and not is_text:
            raise SchemaError(f"{where}: indexSearchable is only allowed for text and text[] properties")
        known = {
            "name",
            "dataType",
            "tokenization",
            "indexFilterable",
            "indexSearchable",
            "indexRangeFilters",
            "description",
            "indexInverted",
            "moduleConfig",
        }
        extra = {k: copy.deepcopy(v) for k, v in d.items() if k not in known and k == "nestedProperties"}
        if "moduleConfig" in d and isinstance(d["moduleConfig"], dict):
            extra["moduleConfig"] = copy.deepcopy(d["moduleConfig"])
        desc = d.get("description")
        return cls(
            name=name,
            data_type=dtype,
            tokenization=tok,
            index_filterable=_bool(d, "indexFilterable", True, where),
            index_searchable=searchable,
            index_range_filters=_bool(d, "indexRangeFilters", False, where),
            description=desc if isinstance(desc, str) else None,
            extra=extra,
        )

    @classmethod
    def _reference_from_weaviate(cls, name: str, types: list[str], d: JSON) -> Property:
        """A cross-reference property: ``dataType`` names its target collections (first letters upper-cased,
        as Weaviate does); it has no tokenization and no searchable or range index."""
        where = f"property {name!r}"
        targets: list[str] = []
        for t in types:
            try:
                c = normalize_class_name(t)
            except SchemaError as e:
                raise SchemaError(f"{where}: target collection {_short(t)}: {e}") from None
            if c in targets:
                raise SchemaError(f"{where}: target collection {c!r} is given twice")
            targets.append(c)
        if d.get("tokenization"):
            raise SchemaError(f"{where}: tokenization is not allowed for a cross-reference property")
        if _bool(d, "indexSearchable", False, where):
            raise SchemaError(f"{where}: indexSearchable is not allowed for a cross-reference property")
        if _bool(d, "indexRangeFilters", False, where):
            raise SchemaError(f"{where}: indexRangeFilters is not allowed for a cross-reference property")
        if d.get("nestedProperties"):
            raise SchemaError(f"{where}: a cross-reference property has no nested properties")
        desc = d.get("description")
        return cls(
            name=name,
            data_type=REFERENCE,
            index_filterable=_bool(d, "indexFilterable", True, where),
            description=desc if isinstance(desc, str) else None,
            targets=targets,
        )

    def to_weaviate(self) -> JSON:
        out: JSON = {
            "name": self.name,
            "dataType": list(self.targets) if self.is_reference else [self.data_type],
        }
        if self.description is not None:
            out["description"] = self.description
        out["indexFilterable"] = self.index_filterable
        out["indexSearchable"] = self.index_searchable
        out["indexRangeFilters"] = self.index_range_filters
        if self.tokenization is not None:
            out["tokenization"] = self.tokenization
        out.update(copy.deepcopy(self.extra))
        return out


@dataclass
class MuveraConfig:
    enabled: bool = False
    ksim: int = 4
    dprojections: int = 16
    repetitions: int = 10

    @property
    def fde_dim(self) -> int:
        return self.repetitions * (1 << self.ksim) * self.dprojections

    @classmethod
    def from_weaviate(cls, d: JSON | None, where: str) -> MuveraConfig:
        d = d or {}
        where = f"{where}.muvera"
        m = cls(
            enabled=_bool(d, "enabled", False, where),
            ksim=_int(d, "ksim", 4, where),
            dprojections=_int(d, "dprojections", 16, where),
            repetitions=_int(d, "repetitions", 10, where),
        )
        if not 1 <= m.ksim <= MAX_KSIM:
            raise SchemaError(f"{where}.ksim: must be between 1 and {MAX_KSIM}, got {m.ksim}")
        if not 1 <= m.dprojections <= MAX_DPROJECTIONS:
            raise SchemaError(
                f"{where}.dprojections: must be between 1 and {MAX_DPROJECTIONS}, got {m.dprojections}"
            )
        if not 1 <= m.repetitions <= MAX_REPETITIONS:
            raise SchemaError(
                f"{where}.repetitions: must be between 1 and {MAX_REPETITIONS}, got {m.repetitions}"
            )
        if m.fde_dim > MAX_FDE_DIM:
            raise SchemaError(
                f"{where}: repetitions * 2^ksim * dprojections = {m.fde_dim} floats per object is more than "
                f"{MAX_FDE_DIM}; lower ksim, dprojections or repetitions"
            )
        return m

    def to_weaviate(self) -> JSON:
        return {
            "enabled": self.enabled,
            "ksim": self.ksim,
            "dprojections": self.dprojections,
            "repetitions": self.repetitions,
        }


@dataclass
class VectorConfig:
    """A vector of a collection: a multi-vector (``multi``; MaxSim over its tokens) or a single vector
    (one row; Weaviate's distances), with its vectorizer and its index config. ``legacy`` marks the
    unnamed, collection-level vector of a collection created without named vectors (Weaviate's
    ``vectorizer`` / ``vectorIndexType`` / ``vectorIndexConfig`` at the top level of the class), which
    colweave keeps under the name Weaviate gives it in its named-vector API, ``default``."""

    name: str
    vectorizer: str = "none"
    vectorizer_config: JSON = field(default_factory=dict)
    index_type: str = "hnsw"
    distance: str = "cosine"
    aggregation: str = "maxSim"
    muvera: MuveraConfig = field(default_factory=MuveraConfig)
    index_extra: JSON = field(default_factory=_hnsw_defaults)
    multi: bool = True
    legacy: bool = False

    @property
    def image_fields(self) -> list[str]:
        return list(self.vectorizer_config.get("imageFields") or [])

    @property
    def compression(self) -> Compression:
        """The compact copy and rescoring the index's quantizer (pq/bq/sq/rq) asks for: multi-vectors only (a
        single vector's compression settings are kept and returned, and it is searched exactly)."""
        return compression_of(self.index_extra) if self.multi else Compression()

    @property
    def pool_factor(self) -> int:
        """Token pooling at import (``colweavePooling.poolFactor``; 1: none)."""
        p = self.vectorizer_config.get(POOLING_KEY)
        return int(p["poolFactor"]) if self.multi and isinstance(p, dict) else 1

    @classmethod
    def self_provided(cls, name: str, *, muvera: MuveraConfig | None = None) -> VectorConfig:
        """A self-provided multi-vector."""
        return cls(name=name, muvera=muvera or MuveraConfig())

    @classmethod
    def single(cls, name: str, *, distance: str = "cosine", index_type: str = "hnsw") -> VectorConfig:
        """A self-provided single vector (Weaviate's ``Configure.Vectors.self_provided()``)."""
        return cls.from_weaviate(
            name,
            {
                "vectorizer": {"none": {}},
                "vectorIndexType": index_type,
                "vectorIndexConfig": {"distance": distance},
            },
        )

    @classmethod
    def multi2multivec(
        cls, name: str, image_fields: list[str], *, muvera: MuveraConfig | None = None, **module: Any
    ) -> VectorConfig:
        body: JSON = {
            "vectorizer": {MULTI2MULTIVEC: {"imageFields": image_fields, **module}},
            "vectorIndexType": "hnsw",
            "vectorIndexConfig": {"multivector": {"enabled": True}},
        }
        vc = cls.from_weaviate(name, body)
        if muvera is not None:
            vc.muvera = muvera
        return vc

    @classmethod
    def from_weaviate(cls, name: str, d: JSON, *, legacy: bool = False) -> VectorConfig:
        where = "" if legacy else f"vectorConfig.{name}"
        dot = "" if legacy else "."
        if not isinstance(name, str) or not _VECTOR_RE.match(name):
            raise SchemaError(f"vectorConfig: invalid vector name {name!r}")
        if not isinstance(d, dict):
            raise SchemaError(f"{where or 'vectorConfig'}: expected an object")
        vz = d.get("vectorizer") or {"none": {}}
        if isinstance(vz, str):
            vz = {vz: {}}
        if not isinstance(vz, dict) or len(vz) != 1:
            raise SchemaError(f"{where}{dot}vectorizer: expected one vectorizer, got {vz!r}")
        ((module, mcfg),) = vz.items()
        if module not in VECTORIZERS:
            raise _module_error(f"{where}{dot}vectorizer", module)
        mcfg = copy.deepcopy(mcfg) if isinstance(mcfg, dict) else {}
        if module == MULTI2MULTIVEC:
            fields = mcfg.get("imageFields")
            if not fields:
                raise SchemaError(
                    f"{where}.vectorizer.{MULTI2MULTIVEC}: imageFields setting needs to be present"
                )
            if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
                raise SchemaError(f"{where}: imageFields must be a list of property names")
            mcfg = {
                "imageFields": fields,
                "baseURL": mcfg.get("baseURL", mcfg.get("baseUrl", "")) or "",
                "model": mcfg.get("model") or "ModernVBERT/colmodernvbert",
                "vectorizeClassName": bool(mcfg.get("vectorizeClassName", False)),
                **{k: v for k, v in mcfg.items() if k in ("weights", "dimensions", POOLING_KEY)},
            }
        pooling_of(mcfg, f"{where}.vectorizer.{module}")
        index_type = d.get("vectorIndexType", "hnsw") or "hnsw"
        if index_type not in INDEX_TYPES:
            raise SchemaError(
                f"{where}{dot}vectorIndexType: unsupported vector index type: {index_type!r} "
                f"(supported: {', '.join(INDEX_TYPES)})"
            )
        raw = d.get("vectorIndexConfig") or {}
        if not isinstance(raw, dict):
            raise SchemaError(f"{where}{dot}vectorIndexConfig: expected an object")
        mv = raw.get("multivector") or {}
        if not isinstance(mv, dict):
            raise SchemaError(f"{where}{dot}vectorIndexConfig.multivector: expected an object")
        mwhere = f"{where}{dot}vectorIndexConfig.multivector"
        multi = _bool(mv, "enabled", False, mwhere) or module == MULTI2MULTIVEC
        if not multi:
            if POOLING_KEY in mcfg:
                raise SchemaError(
                    f"{where}{dot}vectorizer.{module}.{POOLING_KEY}: "
                    "token pooling applies to multi-vectors only"
                )
            return cls._single_from_weaviate(name, module, mcfg, index_type, raw, where, legacy)
        if legacy:
            raise SchemaError(
                "vectorIndexConfig.multivector: a multi-vector index is only configurable with named "
                "vectors (vectorConfig)"
            )
        if index_type in ("dynamic", "hfresh") or (module == MULTI2MULTIVEC and index_type != "hnsw"):
            raise SchemaError(f"{where}: a multi-vector requires the hnsw index type")
        idx = _merge(_hnsw_defaults(), {k: v for k, v in raw.items() if k != "multivector"})
        distance = idx.get("distance", "cosine")
        if distance not in DISTANCES:
            raise SchemaError(
                f"{where}.vectorIndexConfig.distance: {distance!r} is not supported for multi-vectors "
                f"(supported: {', '.join(DISTANCES)})"
            )
        aggregation = mv.get("aggregation", "maxSim") or "maxSim"
        if aggregation != "maxSim":
            raise SchemaError(f"{mwhere}.aggregation: only maxSim is supported, got {aggregation!r}")
        muvera = MuveraConfig.from_weaviate(mv.get("muvera"), mwhere)
        _check_hnsw_ints(f"{where}.vectorIndexConfig", idx)
        check_quantizers(idx, raw, f"{where}.vectorIndexConfig")
        return cls(
            name=name,
            vectorizer=module,
            vectorizer_config=mcfg,
            index_type=index_type,
            distance=distance,
            aggregation=aggregation,
            muvera=muvera,
            index_extra=idx,
        )

    @classmethod
    def _single_from_weaviate(
        cls, name: str, module: str, mcfg: JSON, index_type: str, raw: JSON, where: str, legacy: bool
    ) -> VectorConfig:
        """A single vector's config, Weaviate's defaults of its index type filled in. colweave serves
        every index type by an exact scan over float32 vectors: the hnsw, flat and dynamic parameters,
        compression (pq, bq, sq, rq) included, are kept and returned, and change nothing in the results
        (an exact search is what each of them approximates)."""
        iwhere = f"{where}.vectorIndexConfig" if where else "vectorIndexConfig"
        defaults = {
            "hnsw": _single_hnsw_defaults,
            "flat": _flat_defaults,
            "dynamic": _dynamic_defaults,
            "hfresh": _hfresh_defaults,
        }
        idx = _merge(defaults[index_type](), raw)
        distance = idx.get("distance", "cosine")
        if distance not in SINGLE_DISTANCES:
            raise SchemaError(
                f"{iwhere}.distance: {distance!r} is not a distance "
                f"(supported: {', '.join(SINGLE_DISTANCES)})"
            )
        parts: list[tuple[str, JSON, str]] = [(iwhere, idx, index_type)]
        if index_type == "dynamic":
            for sub in ("hnsw", "flat"):
                if not isinstance(idx.get(sub), dict):
                    raise SchemaError(f"{iwhere}.{sub}: expected an object")
                parts.append((f"{iwhere}.{sub}", idx[sub], sub))
            thr = _int(idx, "threshold", 10000, iwhere)
            if thr < 0:
                raise SchemaError(f"{iwhere}.threshold: must not be negative, got {thr}")
            idx["threshold"] = thr
        for pwhere, part, kind in parts:
            mv = part.get("multivector")
            if isinstance(mv, dict) and mv.get("enabled"):
                if index_type == "dynamic":
                    raise SchemaError(f"{pwhere}: multi vector index is not supported for dynamic index")
                raise SchemaError(f"{pwhere}.multivector: a multi-vector index is not supported here")
            if "distance" in part and part["distance"] not in SINGLE_DISTANCES:
                raise SchemaError(
                    f"{pwhere}.distance: {part['distance']!r} is not a distance "
                    f"(supported: {', '.join(SINGLE_DISTANCES)})"
                )
            if kind == "hnsw":
                _check_hnsw_ints(pwhere, part)
            if kind == "hfresh":
                _check_hfresh(pwhere, part)
        return cls(
            name=name,
            vectorizer=module,
            vectorizer_config=mcfg,
            index_type=index_type,
            distance=distance,
            index_extra=idx,
            multi=False,
            legacy=legacy,
        )

    def to_weaviate(self) -> JSON:
        idx = copy.deepcopy(self.index_extra)
        idx["distance"] = self.distance
        if self.multi:
            idx["multivector"] = {
                "enabled": True,
                "aggregation": self.aggregation,
                "muvera": self.muvera.to_weaviate(),
            }
        if self.legacy:  # the class's top-level keys, as Weaviate writes them
            return {
                "vectorizer": self.vectorizer,
                "vectorIndexType": self.index_type,
                "vectorIndexConfig": idx,
            }
        return {
            "vectorizer": {self.vectorizer: copy.deepcopy(self.vectorizer_config)},
            "vectorIndexType": self.index_type,
            "vectorIndexConfig": idx,
        }


def _check_hnsw_ints(where: str, idx: JSON) -> None:
    """The hnsw integers within their bounds (written back as integers)."""
    for key, (lo, hi) in _INDEX_INTS.items():
        v = _int(idx, key, lo, where)
        if not lo <= v <= hi:
            raise SchemaError(f"{where}.{key}: must be between {lo} and {hi}, got {v}")
        idx[key] = v


@dataclass
class InvertedIndexConfig:
    k1: float = 1.2
    b: float = 0.75
    stopwords_preset: str = "en"
    stopwords_additions: list[str] | None = None
    stopwords_removals: list[str] | None = None
    extra: JSON = field(default_factory=lambda: {"cleanupIntervalSeconds": 60, "usingBlockMaxWAND": True})

    @classmethod
    def from_weaviate(cls, d: JSON | None) -> InvertedIndexConfig:
        d = d or {}
        if not isinstance(d, dict):
            raise SchemaError("invertedIndexConfig: expected an object")
        bm25 = d.get("bm25") or {}
        sw = d.get("stopwords") or {}
        if not isinstance(bm25, dict) or not isinstance(sw, dict):
            raise SchemaError("invertedIndexConfig: bm25 and stopwords must be objects")
        out = cls(
            k1=_float(bm25, "k1", 1.2, "invertedIndexConfig.bm25"),
            b=_float(bm25, "b", 0.75, "invertedIndexConfig.bm25"),
        )
        if not 0 <= out.k1 <= MAX_BM25_K1:
            raise SchemaError(
                f"invertedIndexConfig.bm25.k1: must be between 0 and {MAX_BM25_K1:g}, got {out.k1}"
            )
        if not 0 <= out.b <= 1:
            raise SchemaError(f"invertedIndexConfig.bm25.b: must be between 0 and 1, got {out.b}")
        preset = sw.get("preset", "en") or "en"
        if preset not in STOPWORD_PRESETS:
            raise SchemaError(f"invertedIndexConfig.stopwords.preset: {preset!r} is not a preset (en, none)")
        out.stopwords_preset = preset
        for key in ("additions", "removals"):
            v = sw.get(key)
            if v is not None and (not isinstance(v, list) or not all(isinstance(w, str) for w in v)):
                raise SchemaError(f"invertedIndexConfig.stopwords.{key}: expected a list of words")
            setattr(out, f"stopwords_{key}", list(v) if v is not None else None)
        extra = {"cleanupIntervalSeconds": 60, "usingBlockMaxWAND": True}
        extra.update({k: copy.deepcopy(v) for k, v in d.items() if k not in ("bm25", "stopwords")})
        out.extra = extra
        return out

    def to_weaviate(self) -> JSON:
        out: JSON = {"bm25": {"b": self.b, "k1": self.k1}}
        out["cleanupIntervalSeconds"] = self.extra.get("cleanupIntervalSeconds", 60)
        out["stopwords"] = {
            "preset": self.stopwords_preset,
            "additions": self.stopwords_additions,
            "removals": self.stopwords_removals,
        }
        out.update({k: copy.deepcopy(v) for k, v in self.extra.items() if k != "cleanupIntervalSeconds"})
        return out


@dataclass
class CollectionConfig:
    name: str
    properties: list[Property] = field(default_factory=list)
    vectors: dict[str, VectorConfig] = field(default_factory=dict)
    inverted_index: InvertedIndexConfig = field(default_factory=InvertedIndexConfig)
    description: str | None = None
    extra: JSON = field(default_factory=_top_defaults)

    def __post_init__(self) -> None:
        self.name = normalize_class_name(self.name)
        self.validate()

    @property
    def legacy_vector(self) -> VectorConfig | None:
        """The collection-level (unnamed) vector, if any: a collection created without named vectors has
        it, and keeps it when named vectors are added later (Weaviate >= 1.31's ``add_vector``)."""
        return next((v for v in self.vectors.values() if v.legacy), None)

    @property
    def legacy(self) -> JSON | None:
        """The collection-level ("legacy") vector index as Weaviate writes it at the top level of the class
        (``vectorizer``: always "none" here, ``vectorIndexType``, ``vectorIndexConfig``), or None."""
        lv = self.legacy_vector
        return lv.to_weaviate() if lv is not None else None

    @legacy.setter
    def legacy(self, value: JSON | None) -> None:
        for name in [n for n, v in self.vectors.items() if v.legacy]:
            del self.vectors[name]
        if value is not None:
            lv = _legacy_vector_index(value, False)
            assert lv is not None
            self.vectors[lv.name] = lv

    def validate(self) -> None:
        if not _CLASS_RE.match(self.name):
            raise SchemaError(
                f"class: invalid collection name {self.name!r}: it must match /[A-Z][_0-9A-Za-z]*/"
            )
        seen: set[str] = set()
        for p in self.properties:
            if p.name.lower() in seen:
                raise SchemaError(f"properties: property {p.name!r} is defined twice")
            seen.add(p.name.lower())
        for name, v in self.vectors.items():
            if name != v.name:
                raise SchemaError(f"vectorConfig: key {name!r} and vector name {v.name!r} differ")
            for f in v.image_fields:
                ip = self.property(f)
                if ip is not None and ip.data_type != "blob":
                    raise SchemaError(
                        f"vectorConfig.{name}: image field {f!r} must be a blob property, not {ip.data_type}"
                    )

    def check_creatable(self) -> None:
        """What Weaviate refuses when a collection is created but lets a later update reach: a
        collection-level vector beside named vectors (named vectors may be added to a collection that has
        one, not created with it)."""
        if self.legacy_vector is not None and any(not v.legacy for v in self.vectors.values()):
            raise SchemaError(
                "creating a class with both a class level vector index and named vectors is forbidden"
            )

    def property(self, name: str) -> Property | None:
        """The property called ``name`` (first letter lower-cased, as Weaviate stores names)."""
        name = lowercase_first(name)
        for p in self.properties:
            if p.name == name:
                return p
        return None

    @classmethod
    def from_weaviate(cls, d: JSON) -> CollectionConfig:
        if not isinstance(d, dict):
            raise SchemaError("expected a collection config object")
        name = d.get("class") or d.get("name")
        if not isinstance(name, str):
            raise SchemaError("class: a collection needs a name")
        mc = d.get("moduleConfig")  # first: a module colweave does not run is the error to report
        if mc is not None:
            if not isinstance(mc, dict):
                raise SchemaError("moduleConfig: expected an object")
            for module in mc:
                if module not in VECTORIZERS:
                    raise _module_error("moduleConfig", module)
        props_raw = d.get("properties") or []
        if not isinstance(props_raw, list):
            raise SchemaError("properties: expected a list")
        props = [Property.from_weaviate(p) for p in props_raw]
        vc = d.get("vectorConfig") or {}
        if not isinstance(vc, dict):
            raise SchemaError("vectorConfig: expected an object")
        vectors = {n: VectorConfig.from_weaviate(n, v) for n, v in vc.items()}
        legacy = _legacy_vector_index(d, bool(vectors))
        if legacy is not None:
            if legacy.name in vectors:  # Weaviate's rule: "default" is the collection-level vector's name
                raise SchemaError(
                    f"vector named {DEFAULT_VECTOR} cannot be created when collection level vector index "
                    "is configured"
                )
            vectors[legacy.name] = legacy
        extra = _top_defaults()
        for k in ("multiTenancyConfig", "replicationConfig", "shardingConfig"):
            if isinstance(d.get(k), dict):
                extra[k] = _merge(extra[k], d[k])
        if extra["multiTenancyConfig"].get("enabled"):
            raise SchemaError("multiTenancyConfig.enabled: multi-tenancy is not supported")
        inverted = InvertedIndexConfig.from_weaviate(d.get("invertedIndexConfig"))
        from colweave.store import ttl as object_ttl  # ttl.py reads the schema's types

        # Go's JSON decoding, which Weaviate reads a class with, matches keys case-insensitively and decodes
        # each one it meets into the same struct: a later key's fields override an earlier one's, the others
        # stay. The client's update sends "objectTTLConfig" after the "objectTtlConfig" it read.
        raw_ttl: Any = None
        for key, value in d.items():
            if key.lower() != "objectttlconfig" or value is None:
                continue
            if not isinstance(value, dict) or not isinstance(raw_ttl, dict | None):
                raw_ttl = value
                continue
            raw_ttl = {**(raw_ttl or {}), **{k: v for k, v in value.items() if v is not None}}
        ttl = object_ttl.parse(raw_ttl, props, inverted.extra, updating=bool(d.get(_UPDATING)))
        if ttl is not None:
            extra[object_ttl.KEY] = ttl
        desc = d.get("description")
        return cls(
            name=name,
            properties=props,
            vectors=vectors,
            inverted_index=inverted,
            description=desc if isinstance(desc, str) else None,
            extra=extra,
        )

    # -- updates: Weaviate's PUT /v1/schema/{class}, deleting a property index ----------------------------
    def updated(self, body: JSON) -> CollectionConfig:
        """The config after Weaviate's class update with ``body``: the complete class, as the client sends it
        (the current config with the changes merged in). As in Weaviate, the description, the inverted
        index's bm25, stopwords and cleanup interval, the vector indexes' other fields (ef, dynamic ef, flat
        search cutoff, vector cache, filter strategy) and the replication settings may change, and the
        properties their descriptions; the class name, vectorizers, vector index types, efConstruction,
        maxConnections, cleanupIntervalSeconds, distance, multi-vector and MUVERA settings, the timestamp /
        null-state / property-length indexes and the shard counts may not, and a replication factor above
        1 is refused as on a one-node Weaviate. Raises SchemaError naming the field."""
        if not isinstance(body, dict):
            raise SchemaError("expected a collection (class) object")
        given = body.get("class")
        if given is not None and (not isinstance(given, str) or normalize_class_name(given) != self.name):
            raise SchemaError(f"class name is immutable: attempted change from {self.name!r} to {given!r}")
        body = copy.deepcopy(body)
        body["class"] = self.name
        inv = body.get("invertedIndexConfig")
        if isinstance(inv, dict):  # parts left out keep their values (Weaviate fills them from the class)
            current = self.inverted_index.to_weaviate()
            for key in ("bm25", "stopwords"):
                if inv.get(key) is None:
                    inv[key] = current[key]
        if self.inverted_index.extra.get("indexTimestamps"):  # immutable: the update keeps it
            body.setdefault("invertedIndexConfig", {})
            if isinstance(body["invertedIndexConfig"], dict):
                body["invertedIndexConfig"].setdefault("indexTimestamps", True)
        body[_UPDATING] = True
        new = CollectionConfig.from_weaviate(body)
        self._check_properties_update(new)
        self._check_vectors_update(new)
        self._check_inverted_update(new)
        old_rep, new_rep = self.extra["replicationConfig"], new.extra["replicationConfig"]
        if old_rep.get("factor") != new_rep.get("factor"):
            factor = new_rep.get("factor")
            if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
                raise SchemaError(f"replicationConfig.factor: expected a positive integer, got {factor!r}")
            if factor > 1:
                raise SchemaError(f"cannot scale to {factor} replicas, cluster has only 1 nodes")
        old_sh, new_sh = self.extra["shardingConfig"], new.extra["shardingConfig"]
        for key, label in (
            ("desiredCount", "re-sharding not supported yet: shard count is immutable"),
            ("virtualPerPhysical", "virtual shards per physical is immutable"),
        ):
            if old_sh.get(key) != new_sh.get(key):
                raise SchemaError(
                    f'{label}: attempted change from "{old_sh.get(key)}" to "{new_sh.get(key)}"'
                )
        new.extra["shardingConfig"] = copy.deepcopy(old_sh)  # the actual counts are the server's
        by_name = {p.name: p for p in new.properties}
        new.properties = [by_name[p.name] for p in self.properties]  # the properties keep their order
        return new

    def _check_properties_update(self, new: CollectionConfig) -> None:
        fixed = (
            "property fields other than description cannot be updated through updating the class. Use the "
            'add property feature (e.g. "POST /v1/schema/{className}/properties") '
            "to add additional properties"
        )
        if sorted(p.name for p in new.properties) != sorted(p.name for p in self.properties):
            raise SchemaError(fixed)
        for p in self.properties:
            q = new.property(p.name)
            assert q is not None
            a, b = p.to_weaviate(), q.to_weaviate()
            ma, mb = a.pop("moduleConfig", None) or {}, b.pop("moduleConfig", None) or {}
            for module, cfg in ma.items():
                if module not in mb:
                    raise SchemaError(f"property {p.name!r}: module {module!r} configuration was removed")
                if mb[module] != cfg:
                    raise SchemaError(
                        f"property {p.name!r}: module {module!r} configuration cannot be updated"
                    )
            a.pop("description", None)
            b.pop("description", None)
            if a != b:
                raise SchemaError(f"property {p.name!r}: {fixed}")

    def _check_vectors_update(self, new: CollectionConfig) -> None:
        for name, old in self.vectors.items():
            if old.legacy:
                continue  # below
            v = new.vectors.get(name)
            if v is None:
                raise SchemaError(f"missing config for vector {name!r}")
            if v.index_type != old.index_type:
                raise SchemaError(
                    f"vector index type of vector {name!r} is immutable: attempted change from "
                    f"{old.index_type!r} to {v.index_type!r}"
                )
            if v.vectorizer != old.vectorizer:
                raise SchemaError(
                    f"vectorizer of vector {name!r} is immutable: attempted change from "
                    f"{old.vectorizer!r} to {v.vectorizer!r}"
                )
            if v.vectorizer_config != old.vectorizer_config:
                raise SchemaError(f"vectorizer config of vector {name!r} is immutable for class {self.name}")
            old_idx, new_idx = old.to_weaviate()["vectorIndexConfig"], v.to_weaviate()["vectorIndexConfig"]
            _check_index_update(f"vector {name!r}: ", old.index_type, old_idx, new_idx)
            for key in ("skipDefaultQuantization", "trackDefaultQuantization"):
                if key in old_idx:
                    v.index_extra[key] = old_idx[key]
        # Named vectors not in the collection yet are added (Weaviate >= 1.31): validated as at creation
        # (from_weaviate), beside the collection-level vector too; the objects there are have none of
        # them until they are written again with one.
        if (self.legacy is None) != (new.legacy is None):
            before = (self.legacy or {}).get("vectorizer", "")
            after = (new.legacy or {}).get("vectorizer", "")
            raise SchemaError(f"vectorizer is immutable: attempted change from {before!r} to {after!r}")
        old_lv, new_lv = self.legacy_vector, new.legacy_vector
        if old_lv is not None and new_lv is not None:
            if old_lv.index_type != new_lv.index_type:
                raise SchemaError(
                    "vector index type is immutable: attempted change from "
                    f"{old_lv.index_type!r} to {new_lv.index_type!r}"
                )
            old_idx, new_idx = (
                old_lv.to_weaviate()["vectorIndexConfig"],
                new_lv.to_weaviate()["vectorIndexConfig"],
            )
            _check_index_update("", old_lv.index_type, old_idx, new_idx)
            for key in ("skipDefaultQuantization", "trackDefaultQuantization"):
                if key in old_idx:
                    new_lv.index_extra[key] = old_idx[key]

    def _check_inverted_update(self, new: CollectionConfig) -> None:
        old, upd = self.inverted_index.extra, new.inverted_index.extra
        for key, label in (
            ("indexTimestamps", "indexTimestamp"),
            ("indexNullState", "indexNullState"),
            ("indexPropertyLength", "indexPropertyLength"),
        ):
            a, b = bool(old.get(key, False)), bool(upd.get(key, False))
            if a != b:
                raise SchemaError(f'"{label}" setting is immutable. Value changed from "{a}" to "{b}"')
        cleanup = upd.get("cleanupIntervalSeconds", 60)
        if isinstance(cleanup, bool) or not isinstance(cleanup, int | float) or cleanup < 0:
            raise SchemaError(
                "invertedIndexConfig.cleanupIntervalSeconds: cleanup interval seconds must be > 0"
            )

    def without_index(self, prop_name: str, index: str) -> CollectionConfig:
        """The config with one index of one property removed (Weaviate's ``DELETE
        /v1/schema/{class}/properties/{prop}/index/{filterable|searchable|rangeFilters}``); removing an
        index that is already off changes nothing."""
        attr = {
            "filterable": "index_filterable",
            "searchable": "index_searchable",
            "rangeFilters": "index_range_filters",
            "rangeable": "index_range_filters",
        }.get(index)
        if attr is None:
            raise SchemaError(f"invalid property index type: {index}")
        if not prop_name:
            raise SchemaError("property name cannot be empty")
        if self.property(prop_name) is None:
            raise SchemaError(f"property name {prop_name}: not found")
        new = CollectionConfig.from_weaviate(self.to_weaviate())
        p = new.property(prop_name)
        assert p is not None
        setattr(p, attr, False)
        return new

    def to_weaviate(self) -> JSON:
        out: JSON = {}
        named = {n: v.to_weaviate() for n, v in self.vectors.items() if not v.legacy}
        if named:
            out["vectorConfig"] = named
        legacy = self.legacy
        if legacy is not None:
            out.update(legacy)
        out["class"] = self.name
        if self.description is not None:
            out["description"] = self.description
        out["properties"] = [p.to_weaviate() for p in self.properties]
        out["invertedIndexConfig"] = self.inverted_index.to_weaviate()
        out.update(copy.deepcopy(self.extra))
        return out


# A key ``updated`` puts in the body it parses: Weaviate checks a time-to-live config differently on update.
_UPDATING = "\x00updating"


def _go(v: Any) -> str:
    """A value as Weaviate's messages print it (Go's %v: true/false, <nil>)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return "<nil>" if v is None else str(v)


def _immutable(where: str, label: str, a: Any, b: Any) -> None:
    if a != b:
        raise SchemaError(f'{where}{label} is immutable: attempted change from "{_go(a)}" to "{_go(b)}"')


def _part(d: JSON, key: str) -> JSON:
    v = d.get(key)
    return v if isinstance(v, dict) else {}


def _check_hnsw_update(where: str, old: JSON, new: JSON) -> None:
    """hnsw's ValidateUserConfigUpdate; colweave adds MUVERA's parameters (its stored encodings depend
    on them)."""
    for key in ("efConstruction", "maxConnections", "cleanupIntervalSeconds", "distance"):
        _immutable(where, key, old.get(key), new.get(key))
    om, nm = _part(old, "multivector"), _part(new, "multivector")
    _immutable(where, "multivector enabled", bool(om.get("enabled")), bool(nm.get("enabled")))
    omu, nmu = _part(om, "muvera"), _part(nm, "muvera")
    _immutable(where, "muvera enabled", bool(omu.get("enabled")), bool(nmu.get("enabled")))
    if om.get("enabled"):
        for key in ("ksim", "dprojections", "repetitions"):
            _immutable(where, f"muvera {key}", omu.get(key), nmu.get(key))
    orq, nrq = _part(old, "rq"), _part(new, "rq")
    if orq.get("enabled") and nrq.get("enabled"):
        _immutable(where, "rq bits", orq.get("bits"), nrq.get("bits"))


def _check_flat_update(where: str, old: JSON, new: JSON) -> None:
    """flat's ValidateUserConfigUpdate: the distance and whether each compression is on are fixed."""
    _immutable(where, "distance", old.get("distance"), new.get("distance"))
    _immutable(where, "pq.cache", _part(old, "pq").get("cache"), _part(new, "pq").get("cache"))
    for q in ("pq", "bq", "rq"):
        _immutable(where, q, bool(_part(old, q).get("enabled")), bool(_part(new, q).get("enabled")))
    _immutable(where, "rq.bits", _part(old, "rq").get("bits"), _part(new, "rq").get("bits"))


def _check_index_update(where: str, index_type: str, old: JSON, new: JSON) -> None:
    """Refuses a change Weaviate refuses between two ``vectorIndexConfig``s of ``index_type``; the
    default-quantization bookkeeping keeps its old values (Weaviate does not let a client change it)."""
    if index_type == "flat":
        _check_flat_update(where, old, new)
    elif index_type == "hfresh":  # hfresh's ValidateUserConfigUpdate
        _immutable(where, "distance", old.get("distance"), new.get("distance"))
        _immutable(where, "replicas", old.get("replicas"), new.get("replicas"))
        om, nm = _part(_part(old, "multivector"), "muvera"), _part(_part(new, "multivector"), "muvera")
        _immutable(where, "multivector.muvera.enabled", bool(om.get("enabled")), bool(nm.get("enabled")))
    elif index_type == "dynamic":
        _immutable(where, "distance", old.get("distance"), new.get("distance"))
        _check_flat_update(where, _part(old, "flat"), _part(new, "flat"))
        _check_hnsw_update(where, _part(old, "hnsw"), _part(new, "hnsw"))
    else:
        _check_hnsw_update(where, old, new)
    for key in ("skipDefaultQuantization", "trackDefaultQuantization"):
        if key in old:
            new[key] = old[key]


def _legacy_vector_index(d: JSON, has_named_vectors: bool) -> VectorConfig | None:
    """The collection-level vector of ``d``: what Weaviate keeps for a collection created without named
    vectors (``Configure.Vectorizer.none()``, or nothing at all), its defaults filled in, as the vector
    named ``default`` (beside the named vectors added since, if any). None for a collection of named
    vectors only."""
    vz = d.get("vectorizer")
    if vz is not None and not isinstance(vz, str):
        raise SchemaError(f"vectorizer: expected a module name, got {vz!r}")
    if vz not in (None, "", "none"):
        if vz == MULTI2MULTIVEC:
            raise SchemaError(
                f"vectorizer: {MULTI2MULTIVEC} (a multi-vector module) is only configurable with named "
                "vectors (vectorConfig)"
            )
        raise _module_error("vectorizer", vz)
    itype = d.get("vectorIndexType")
    raw = d.get("vectorIndexConfig")
    if has_named_vectors and not itype and not raw:
        return None  # named vectors only (a "vectorizer": "none" beside them says nothing more)
    # Beside named vectors: a collection created with a collection-level vector that later had named
    # vectors added (its stored config, or the class a client sends back to update it). Creating a
    # collection with both is refused by the store (``check_creatable``), as Weaviate does.
    if raw is not None and not isinstance(raw, dict):
        raise SchemaError("vectorIndexConfig: expected an object")
    body: JSON = {"vectorizer": {"none": {}}, "vectorIndexType": itype or "hnsw", "vectorIndexConfig": raw}
    return VectorConfig.from_weaviate(DEFAULT_VECTOR, body, legacy=True)


def _single_hnsw_defaults() -> JSON:
    """Weaviate's hnsw config of a single-vector index."""
    out = _hnsw_defaults()
    out["multivector"] = {"enabled": False, "aggregation": "maxSim", "muvera": MuveraConfig().to_weaviate()}
    return out


def _flat_defaults() -> JSON:
    """Weaviate's flat index config (entities/vectorindex/flat: SetDefaults)."""

    def compression() -> JSON:
        return {"enabled": False, "rescoreLimit": -1, "cache": False}

    return {
        "distance": "cosine",
        "vectorCacheMaxObjects": 1000000000000,
        "pq": compression(),
        "bq": compression(),
        "sq": compression(),
        "rq": {**compression(), "bits": 8},
        "skipDefaultQuantization": False,
        "trackDefaultQuantization": False,
    }


def _hfresh_defaults() -> JSON:
    """Weaviate's hfresh index config (entities/vectorindex/hfresh: SetDefaults)."""
    return {
        "maxPostingSizeKB": 48,
        "replicas": 4,
        "searchProbe": 256,
        "distance": "cosine",
        "rq": {"enabled": True, "bits": 1, "rescoreLimit": 350},
        "multivector": {"enabled": False, "aggregation": "maxSim", "muvera": MuveraConfig().to_weaviate()},
    }


def _check_hfresh(where: str, idx: JSON) -> None:
    """hfresh's validation: cosine or l2-squared, posting size between 8 and 1024 KB, at most 10 replicas."""
    errs = []
    if idx.get("distance") not in ("cosine", "l2-squared"):
        errs.append(
            f"unsupported distance type '{idx.get('distance')}', HFresh only supports 'cosine' or "
            "'l2-squared' for the distance metric"
        )
    for key in ("maxPostingSizeKB", "replicas", "searchProbe"):
        v = _int(idx, key, 0, where)
        if v < 0:
            raise SchemaError(f"{where}.{key}: must not be negative, got {v}")
        idx[key] = v
    if idx["maxPostingSizeKB"] < 8:
        errs.append(f"maxPostingSizeKB is '{idx['maxPostingSizeKB']}' but must be at least 8")
    if idx["replicas"] > 10:
        errs.append(f"replicas is '{idx['replicas']}' but must be less than 10")
    if idx["maxPostingSizeKB"] > 1024:
        errs.append(f"maxPostingSizeKB is '{idx['maxPostingSizeKB']}' but must be less than 1024")
    if errs:
        raise SchemaError(f"{where}: invalid hfresh config: " + "; ".join(errs))


def _dynamic_defaults() -> JSON:
    """Weaviate's dynamic index config: flat until ``threshold`` objects, then hnsw."""
    return {
        "distance": "cosine",
        "threshold": 10000,
        "hnsw": _single_hnsw_defaults(),
        "flat": _flat_defaults(),
    }


# --- values ---------------------------------------------------------------------------------------------

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z")


def parse_date(v: Any) -> dt.datetime | None:
    """An RFC 3339 timestamp (string) or an aware datetime, as an aware datetime; else None."""
    if isinstance(v, dt.datetime):
        return v if v.tzinfo is not None else v.replace(tzinfo=dt.timezone.utc)
    if isinstance(v, str) and _RFC3339.match(v):
        s = v.replace("z", "Z").replace("Z", "+00:00").replace("t", "T").replace(" ", "T")
        frac = re.search(r"\.(\d+)", s)
        if frac and len(frac.group(1)) > 6:  # fromisoformat takes at most microseconds
            s = s.replace(frac.group(0), "." + frac.group(1)[:6])
        try:
            return dt.datetime.fromisoformat(s)
        except ValueError:
            return None
    return None


def format_date(d: dt.datetime) -> str:
    """RFC 3339 as Weaviate writes it (``2006-01-02T15:04:05Z`` / ``+02:00``, fractions when present)."""
    s = d.isoformat()
    return s[:-6] + "Z" if s.endswith("+00:00") else s


# The one textual form of a UUID Weaviate accepts: 8-4-4-4-12 hex digits (no braces, urn: or hyphen-less).
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
# Property names Weaviate reserves (auto-schema and explicit schemas refuse them).
RESERVED_PROPERTY_NAMES = frozenset({"_additional", "_id", "id"})


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:60] + "..."


def _is_uuid(v: str) -> bool:
    return isinstance(v, str) and UUID_RE.match(v) is not None


def infer_data_type(value: Any) -> str | None:
    """Weaviate's auto-schema inference; None when the value says nothing (null, empty list)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return "blob"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"  # Weaviate's AUTOSCHEMA_DEFAULT_NUMBER
    if isinstance(value, dt.datetime):
        return "date"
    if isinstance(value, uuidlib.UUID):
        return "uuid"
    if isinstance(value, str):
        if parse_date(value) is not None:
            return "date"
        if _is_uuid(value):
            return "uuid"
        return "text"
    if isinstance(value, dict):  # Weaviate's auto-schema: the shapes of a geo coordinate and a phone number
        if len(value) == 2 and value.get("latitude") is not None and value.get("longitude") is not None:
            return GEO
        if value.get("input") is not None and (
            len(value) == 1 or (len(value) == 2 and "defaultCountry" in value)
        ):
            return PHONE
        raise SchemaError("object properties are not supported by this server")
    if isinstance(value, list | tuple):
        inner = [t for t in (infer_data_type(v) for v in value) if t is not None]
        if not inner:
            return None
        first = inner[0]
        if first in ("blob", GEO, PHONE) or first.endswith("[]"):
            raise SchemaError(f"cannot infer a data type for a list of {first} values")
        if any(t != first for t in inner):
            raise SchemaError(f"cannot infer a data type for a list mixing {', '.join(sorted(set(inner)))}")
        return first + "[]"
    raise SchemaError(f"cannot infer a data type for a value of type {type(value).__name__}")


BEACON_PREFIX = "weaviate://localhost/"


def parse_beacon(beacon: Any) -> tuple[str | None, str]:
    """``weaviate://localhost/<Class>/<uuid>`` (or the legacy ``weaviate://localhost/<uuid>``) as
    ``(class or None, uuid in lower case)``; anything else raises SchemaError with Weaviate's message."""
    if not isinstance(beacon, str):
        raise SchemaError(f"invalid reference: the beacon must be a string, got {_short(beacon)}")
    scheme, sep, rest = beacon.partition("://")
    host, _, path = rest.partition("/")
    if not sep or not path:
        raise SchemaError(f"invalid reference: invalid cref URI: {_short(beacon)}")
    segments = path.split("/")
    if len(segments) > 2:
        raise SchemaError(
            f"invalid reference: invalid cref URI: path must be of format '<class>/<uuid>', but got '/{path}'"
        )
    cls, uid = (segments[0], segments[1]) if len(segments) == 2 else (None, segments[0])
    if not _is_uuid(uid):
        n = 2 if cls is not None else 1
        raise SchemaError(
            f"invalid reference: invalid cref URI: {n}nd path segment must be uuid, but got '{uid}'"
        )
    if scheme != "weaviate" or host != "localhost":
        raise SchemaError("invalid reference: unrecognized cross-ref ref format")
    if cls is not None:
        cls = normalize_class_name(cls)
    return cls, uid.lower()


def format_beacon(cls: str | None, uid: str) -> str:
    return f"{BEACON_PREFIX}{cls}/{uid}" if cls else f"{BEACON_PREFIX}{uid}"


def reference_beacon(prop: Property, beacon: Any, where: str) -> str:
    """One beacon for the cross-reference property ``prop``, in its stored form: the class filled in
    when the property has one target (Weaviate does so on every reference write), and a class the
    property does not target refused."""
    cls, uid = parse_beacon(beacon)
    if cls is None and len(prop.targets) == 1:
        cls = prop.targets[0]
    if cls is not None and cls not in prop.targets:
        raise SchemaError(
            f"{where}: property {prop.name!r} cannot reference collection {cls!r} "
            f"(its target collections: {', '.join(prop.targets)})"
        )
    return format_beacon(cls, uid)


def _reference_value(prop: Property, value: Any, where: str) -> list[str]:
    """A cross-reference property's value as Weaviate takes it (a list of ``{"beacon": ...}`` objects,
    ``href`` ignored), stored as the list of its beacons."""
    if isinstance(value, dict):
        raise SchemaError(f"{where}: reference must be an array, but got a map: {_short(value)}")
    if not isinstance(value, list | tuple):
        raise SchemaError(f"{where}: invalid ref type. Needs to be []map, got {type(value).__name__}")
    out = []
    for ref in value:
        if isinstance(ref, str):  # a stored beacon (an object's own value, kept by a merge)
            out.append(reference_beacon(prop, ref, where))
            continue
        if not isinstance(ref, dict):
            raise SchemaError(
                f"{where}: multiple references should be a list of maps, but we got: {type(ref).__name__}"
            )
        keys = set(ref) - {"href"}
        if keys != {"beacon"}:
            if "beacon" not in keys:
                raise SchemaError(f"{where}: requires exactly 1 argument: 'beacon' is missing")
            raise SchemaError(f"{where}: requires exactly 1 argument: 'beacon', got {_short(ref)}")
        out.append(reference_beacon(prop, ref["beacon"], where))
    return out


def coerce_value(prop: Property, value: Any) -> Any:
    """Checks ``value`` against ``prop``'s data type and returns its stored (JSON) form."""
    t = prop.data_type
    where = f"property {prop.name!r}"
    if value is None:
        return None
    if t == REFERENCE:
        return _reference_value(prop, value, where)
    if isinstance(value, dict) and t not in (GEO, PHONE):
        raise SchemaError(
            f"{where}: got a map for data type {t} (object properties are not supported by this server)"
        )
    if t.endswith("[]"):
        if not isinstance(value, list | tuple):
            raise SchemaError(f"{where}: expected a list for data type {t}, got {type(value).__name__}")
        scalar = Property(name=prop.name, data_type=t[:-2], tokenization=prop.tokenization)
        return [coerce_value(scalar, v) for v in value]
    if t == "text":
        if not isinstance(value, str):
            raise SchemaError(f"{where}: expected text, got {type(value).__name__}")
        return value
    if t == "int":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (isinstance(value, float) and not math.isfinite(value))
            or int(value) != value
        ):
            raise SchemaError(f"{where}: expected an integer, got {_short(value)}")
        if not INT64_MIN <= int(value) <= INT64_MAX:
            raise SchemaError(f"{where}: {_short(value)} is out of the range of a 64-bit integer")
        return int(value)
    if t == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SchemaError(f"{where}: expected a number, got {_short(value)}")
        try:
            f = float(value)
        except OverflowError:
            f = math.inf
        if not math.isfinite(f):
            raise SchemaError(f"{where}: expected a finite number, got {_short(value)}")
        return f
    if t == "boolean":
        if not isinstance(value, bool):
            raise SchemaError(f"{where}: expected a boolean, got {value!r}")
        return value
    if t == "date":
        d = parse_date(value)
        if d is None:
            raise SchemaError(f"{where}: expected an RFC 3339 date, got {value!r}")
        return value if isinstance(value, str) else format_date(d)
    if t == "uuid":
        s = str(value) if isinstance(value, uuidlib.UUID) else value
        if not isinstance(s, str) or not _is_uuid(s):
            raise SchemaError(f"{where}: expected a UUID, got {value!r}")
        return s.lower()
    if t == GEO:
        return parse_geo(value, where)
    if t == PHONE:
        return parse_phone(value, where)
    if t == "blob":
        if isinstance(value, bytes | bytearray | memoryview):
            return base64.b64encode(bytes(value)).decode("ascii")
        if not isinstance(value, str):
            raise SchemaError(
                f"{where}: expected base64 text or bytes for a blob, got {type(value).__name__}"
            )
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SchemaError(f"{where}: the blob is not valid base64") from None
        return value
    raise SchemaError(f"{where}: unsupported data type {t}")  # pragma: no cover - DATA_TYPES is closed

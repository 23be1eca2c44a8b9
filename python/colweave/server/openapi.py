"""The OpenAPI 3.1 document of colweave's own HTTP routes, served at ``GET /openapi.json``.

It covers what colweave defines or serves under its own contract: the Weaviate Embeddings API
(``POST /v1/embeddings/embed``), ``GET /v1/colweave/info``, the health probes and this document. Weaviate's
REST API (``/v1/schema``, ``/v1/objects``, ...) is Weaviate's and documented by Weaviate.

A new route is one entry: ``OPERATIONS[(method, path)] = {...}`` (an OpenAPI operation object), plus any
schema it references in ``SCHEMAS``. CI runs schemathesis against a real server with this document.
"""

from __future__ import annotations

import copy
from typing import Any

import colweave
from colweave.server import explain_api

_DETAIL = {"$ref": "#/components/schemas/Detail"}
_WEAVIATE_ERROR = {"$ref": "#/components/schemas/WeaviateError"}


def _errors(schema: dict[str, Any], *codes: int) -> dict[str, Any]:
    why = {
        400: "the body is not JSON, or not a JSON object",
        401: "an API key is required (Authorization: Bearer <key>) and was missing or wrong",
        413: "the request is larger than a configured limit",
        422: "the request is well-formed JSON but invalid (nothing was changed)",
        429: "the server's queue is full; retry later",
        503: "the model is still loading, failed to load, or the server is shutting down",
    }
    return {
        str(c): {"description": why[c], "content": {"application/json": {"schema": schema}}} for c in codes
    }


SCHEMAS: dict[str, Any] = {
    "Detail": {
        "type": "object",
        "required": ["detail"],
        "properties": {"detail": {"type": "string"}},
    },
    "WeaviateError": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "array",
                "items": {"type": "object", "properties": {"message": {"type": "string"}}},
            }
        },
    },
    "EmbedRequest": {
        "type": "object",
        "required": ["input"],
        "properties": {
            "input": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string"},
                "description": "page images as base64 (a data: prefix is accepted), or query texts when "
                "is_search_query is true",
            },
            "model": {
                "type": "string",
                "description": "the served model's name (see /v1/colweave/info); omitted = the served model",
            },
            "is_search_query": {"type": "boolean", "default": False},
        },
    },
    "EmbedResponse": {
        "type": "object",
        "required": ["embeddings", "metadata"],
        "properties": {
            "embeddings": {
                "type": "array",
                "description": "one multi-vector per input: rows of dim floats (L2-normalised)",
                "items": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
            },
            "metadata": {
                "type": "object",
                "required": ["model", "num_embeddings_inferred"],
                "properties": {
                    "model": {"type": "string"},
                    "time_taken_inference": {"type": "number"},
                    "time_taken_total": {"type": "number"},
                    "num_embeddings_inferred": {"type": "integer"},
                    "usage": {
                        "type": "object",
                        "properties": {
                            "prompt_tokens": {"type": "integer"},
                            "completion_tokens": {"type": "integer"},
                            "total_tokens": {"type": "integer"},
                        },
                    },
                },
            },
        },
    },
    "Info": {
        "type": "object",
        "required": ["model", "model_id", "dim", "dtype", "providers", "image_seq_len", "limits", "version"],
        "properties": {
            "model": {"type": "string", "description": "the name clients send and see"},
            "model_id": {"type": "string", "description": "what the model directory says it is"},
            "dim": {"type": "integer"},
            "dtype": {"type": "string"},
            "providers": {"type": "array", "items": {"type": "string"}},
            "image_seq_len": {"type": "integer"},
            "limits": {"type": "object", "additionalProperties": {"type": "integer"}},
            "version": {"type": "string"},
        },
    },
}

OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/embeddings/embed"): {
        "operationId": "embed",
        "summary": "Embed page images or queries (the Weaviate Embeddings API, multi-vector)",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EmbedRequest"}}},
        },
        "responses": {
            "200": {
                "description": "one multi-vector per input, in order",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EmbedResponse"}}},
            },
            **_errors(_DETAIL, 400, 401, 413, 422, 429, 503),
        },
    },
    ("get", "/v1/colweave/info"): {
        "operationId": "info",
        "summary": "The served model, its dimension and the request limits",
        "responses": {
            "200": {
                "description": "model facts",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Info"}}},
            },
            **_errors(_WEAVIATE_ERROR, 401, 503),
        },
    },
    ("get", "/v1/.well-known/live"): {
        "operationId": "live",
        "summary": "Liveness: 200 as soon as the process serves HTTP",
        "security": [],
        "responses": {"200": {"description": "alive"}},
    },
    ("get", "/v1/.well-known/ready"): {
        "operationId": "ready",
        "summary": "Readiness: 200 once the model is loaded and warmed, 503 before and while stopping",
        "security": [],
        "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}},
    },
    ("get", "/openapi.json"): {
        "operationId": "openapi",
        "summary": "This document",
        "security": [],
        "responses": {
            "200": {"description": "the OpenAPI document", "content": {"application/json": {"schema": {}}}}
        },
    },
}

# Routes served only with a store: the search page's (explain, search, page images), documented beside
# their code.
STORE_OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    (method, path): op for path, ops in explain_api.OPENAPI_PATHS.items() for method, op in ops.items()
}


def document(*, with_store: bool = True) -> dict[str, Any]:
    """The OpenAPI document of the routes a server serves (``with_store=False``: ``--no-store``); a fresh
    copy, callers may change it."""
    ops = {**OPERATIONS, **STORE_OPERATIONS} if with_store else OPERATIONS
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), op in sorted(ops.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        paths.setdefault(path, {})[method] = copy.deepcopy(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "colweave",
            "version": colweave.__version__,
            "description": "colweave's own HTTP routes. The Weaviate REST API it also serves is Weaviate's.",
        },
        "paths": paths,
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        # Optional: a server started without --api-key accepts anonymous requests.
        "security": [{}, {"apiKey": []}],
    }

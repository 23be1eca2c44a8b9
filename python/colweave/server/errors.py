"""One error taxonomy for every endpoint: each kind carries its HTTP status and its gRPC status code.

Handlers raise these; the HTTP layer renders them in the shape its protocol expects (Weaviate REST:
``{"error": [{"message": ...}]}``; the Weaviate Embeddings API: ``{"detail": ...}``) and the gRPC layer
aborts with the matching code. Anything else is an internal error (500 / INTERNAL), logged with its trace.
"""

from __future__ import annotations

import grpc


class ServiceError(Exception):
    """Base class: a request failed for a reason the client should see."""

    http_status = 500
    grpc_code = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(ServiceError):
    """Malformed or invalid input: nothing was changed."""

    http_status = 422
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT


class BadRequestError(ValidationError):
    """Unparseable request (not JSON, wrong shape)."""

    http_status = 400


class PayloadTooLargeError(ValidationError):
    """The request exceeds a configured size limit."""

    http_status = 413


class NotFoundError(ServiceError):
    http_status = 404
    grpc_code = grpc.StatusCode.NOT_FOUND


class ConflictError(ServiceError):
    http_status = 422
    grpc_code = grpc.StatusCode.ALREADY_EXISTS


class UnauthenticatedError(ServiceError):
    http_status = 401
    grpc_code = grpc.StatusCode.UNAUTHENTICATED


class OverloadedError(ServiceError):
    """The queue is full: retry later."""

    http_status = 429
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class StorageFullError(ServiceError):
    """The disk (or a quota) is full: the write changed nothing; reads keep working, writes succeed again
    once space is freed."""

    http_status = 507
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class NotReadyError(ServiceError):
    """The model is still loading or the server is shutting down."""

    http_status = 503
    grpc_code = grpc.StatusCode.UNAVAILABLE

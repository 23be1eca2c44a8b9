"""What the HTTP and gRPC layers of one server share."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Any

from colweave.server.auth import ApiKeys
from colweave.server.config import ServerConfig
from colweave.server.embedding import EmbeddingService
from colweave.server.errors import NotReadyError
from colweave.server.metrics import Metrics

# The Weaviate version whose client-visible behaviour this server implements: >= 1.36.0 makes the client
# use batch.stream(), >= 1.36.6 makes hybrid send use_alpha_param without alpha (server default 0.75).
WEAVIATE_VERSION = "1.36.6"
MODULE_NAME = "multi2multivec-weaviate"


@dataclass
class ServerState:
    cfg: ServerConfig
    metrics: Metrics = field(default_factory=Metrics)
    keys: ApiKeys = field(init=False)
    embedding: EmbeddingService | None = None
    store: Any = None
    ready: bool = False
    stopping: bool = False
    started: float = field(default_factory=time.time)
    load_error: str | None = None

    def __post_init__(self) -> None:
        self.keys = ApiKeys(self.cfg.api_keys)

    def require_embedding(self) -> EmbeddingService:
        if self.stopping:
            raise NotReadyError("the server is shutting down")
        if self.embedding is None or not self.ready:
            raise NotReadyError(
                f"the model failed to load: {self.load_error}"
                if self.load_error
                else "the model is still loading"
            )
        return self.embedding

    def meta(self, http_host: str | None = None) -> dict[str, Any]:
        info = self.embedding.info if self.embedding is not None else None
        modules: dict[str, Any] = {
            MODULE_NAME: {
                "name": "Weaviate Multivec Embedding Module",
                "documentationHref": "https://docs.weaviate.io/cloud/embeddings",
            }
        }
        if info is not None:
            modules[MODULE_NAME]["model"] = info.name
        host = http_host or f"http://{socket.gethostname()}:{self.cfg.http_port}"
        return {
            "hostname": host,
            "version": WEAVIATE_VERSION,
            "modules": modules,
            "grpcMaxMessageSize": self.cfg.max_request_bytes,
        }

"""Prometheus metrics of one server instance (its own registry, so several servers can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "colweave_requests",
            "Requests by protocol, endpoint and outcome",
            ["protocol", "endpoint", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "colweave_request_seconds",
            "Request latency",
            ["protocol", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_size = Gauge("colweave_queue_size", "Inputs waiting in a batcher", ["batcher"], registry=r)
        self.batch_size = Histogram(
            "colweave_batch_size", "Inputs per model call", ["batcher"], buckets=SIZE_BUCKETS, registry=r
        )
        self.batch_seconds = Histogram(
            "colweave_batch_seconds", "Model time per batch", ["batcher"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.queue_seconds = Histogram(
            "colweave_queue_seconds",
            "Time a request waited for its batch",
            ["batcher"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.abandoned = Counter(
            "colweave_abandoned_requests",
            "Queued requests dropped because their client went away",
            ["batcher"],
            registry=r,
        )
        self.images = Counter("colweave_images_encoded", "Images encoded", registry=r)
        self.tiles = Counter("colweave_tiles_encoded", "Image tiles encoded by the vision graph", registry=r)
        self.tokens = Counter("colweave_tokens_encoded", "Tokens (vectors) produced", ["kind"], registry=r)
        self.objects = Gauge(
            "colweave_objects_stored",
            "Objects in a collection (set after each write to it since start-up)",
            ["collection"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

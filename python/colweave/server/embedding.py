"""The embedding service behind every protocol: request limits, the two dynamic batchers (images and
queries, so a query never waits behind a page), metrics, and the model's description."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from colweave.server.batcher import BatchResult, DynamicBatcher
from colweave.server.config import ServerConfig
from colweave.server.errors import PayloadTooLargeError, ValidationError
from colweave.server.metrics import Metrics

Vectors = npt.NDArray[np.float32]


class EmbeddingModel(Protocol):
    """What the server needs from a model (``colweave.Encoder`` provides it)."""

    def embed_images(self, images: Sequence[Any]) -> list[Vectors]: ...

    def embed_queries(self, texts: Sequence[str]) -> list[Vectors]: ...

    @property
    def info(self) -> Any: ...


@dataclass(frozen=True)
class ModelInfo:
    model_id: str  # what the model directory says it is
    name: str  # what clients send in `model` and see in replies
    accepted: frozenset[str]  # every name a request may use for this model
    dim: int
    dtype: str
    providers: tuple[str, ...]
    image_seq_len: int

    @classmethod
    def of(cls, model: EmbeddingModel, cfg: ServerConfig | None = None) -> ModelInfo:
        info = model.info

        def get(name: str, default: Any = None) -> Any:
            if isinstance(info, dict):
                return info.get(name, default)
            return getattr(info, name, default)

        model_id = str(get("model_id", "unknown"))
        model_type = get("model_type")
        model_type = model_type if isinstance(model_type, str) else None
        name = cfg.served_name(model_id, model_type) if cfg is not None else model_id
        return cls(
            model_id=model_id,
            name=name,
            accepted=frozenset({model_id, name, *([cfg.model] if cfg is not None else [])}),
            dim=int(get("dim", 0)),
            dtype=str(get("dtype", "fp32")),
            providers=tuple(get("providers", ()) or ()),
            image_seq_len=int(get("image_seq_len", 0) or 0),
        )


def decode_base64_image(value: str, where: str) -> bytes:
    """Decodes a base64 image (a ``data:...;base64,`` prefix is accepted) or raises ValidationError."""
    if not isinstance(value, str):
        raise ValidationError(f"{where}: expected a base64 string, got {type(value).__name__}")
    s = value.strip()
    if s.startswith("data:"):
        head, sep, s = s.partition(",")
        if not sep or ";base64" not in head:
            raise ValidationError(f"{where}: a data URL must be base64-encoded ('data:<type>;base64,<data>')")
    if not s:
        raise ValidationError(f"{where}: empty image")
    try:
        data = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValidationError(f"{where}: not valid base64 ({e})") from None
    if not data:
        raise ValidationError(f"{where}: empty image")
    return data


class EmbeddingService:
    def __init__(self, model: EmbeddingModel, cfg: ServerConfig, metrics: Metrics) -> None:
        self.model = model
        self.cfg = cfg
        self.metrics = metrics
        self.info = ModelInfo.of(model, cfg)
        self.images: DynamicBatcher[Any, Vectors] = DynamicBatcher(
            "images",
            model.embed_images,
            max_items=cfg.max_batch_images,
            max_wait_s=cfg.max_wait_ms / 1000,
            max_queue=cfg.max_queue,
            metrics=metrics,
        )
        self.queries: DynamicBatcher[str, Vectors] = DynamicBatcher(
            "queries",
            model.embed_queries,
            max_items=cfg.max_batch_texts,
            max_wait_s=cfg.max_wait_ms / 1000,
            max_queue=cfg.max_queue,
            metrics=metrics,
        )

    def start(self) -> None:
        self.images.start()
        self.queries.start()

    async def close(self, grace_s: float) -> None:
        await self.images.close(grace_s)
        await self.queries.close(grace_s)

    def limits(self) -> dict[str, int]:
        c = self.cfg
        return {
            "max_images_per_request": c.max_images_per_request,
            "max_texts_per_request": c.max_texts_per_request,
            "max_request_bytes": c.max_request_bytes,
            "max_image_pixels": c.max_image_pixels,
            "max_text_chars": c.max_text_chars,
        }

    def check_images(self, images: Sequence[bytes]) -> None:
        if not images:
            raise ValidationError("no images given: send at least one")
        if len(images) > self.cfg.max_images_per_request:
            raise PayloadTooLargeError(
                f"{len(images)} images in one request; the limit is {self.cfg.max_images_per_request}"
            )
        for i, img in enumerate(images):
            if not isinstance(img, (bytes, bytearray, memoryview)) or len(img) == 0:
                raise ValidationError(f"input[{i}]: empty image")

    def check_texts(self, texts: Sequence[str]) -> None:
        if not texts:
            raise ValidationError("no texts given: send at least one")
        if len(texts) > self.cfg.max_texts_per_request:
            raise PayloadTooLargeError(
                f"{len(texts)} texts in one request; the limit is {self.cfg.max_texts_per_request}"
            )
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise ValidationError(f"input[{i}]: expected a string, got {type(t).__name__}")
            if not t.strip():
                raise ValidationError(f"input[{i}]: empty query text")
            if len(t) > self.cfg.max_text_chars:
                raise PayloadTooLargeError(
                    f"input[{i}]: {len(t)} characters; the limit is {self.cfg.max_text_chars}"
                )
            try:
                t.encode("utf-8")
            except UnicodeEncodeError:
                raise ValidationError(f"input[{i}]: not valid UTF-8 text (lone surrogates)") from None

    async def embed_images(self, images: Sequence[bytes]) -> BatchResult[Vectors]:
        self.check_images(images)
        try:
            res = await self.images.submit([bytes(i) for i in images])
        except ValueError as e:  # the model's errors for undecodable images, bombs, ...
            raise ValidationError(str(e)) from None
        except MemoryError:
            raise PayloadTooLargeError(
                f"not enough memory to process these {len(images)} images: send fewer or smaller ones"
            ) from None
        self.metrics.images.inc(len(images))
        tokens = sum(int(v.shape[0]) for v in res.outputs)
        self.metrics.tokens.labels("image").inc(tokens)
        if self.info.image_seq_len:
            # Every tile contributes image_seq_len vectors; the rest are prompt tokens.
            self.metrics.tiles.inc(sum(int(v.shape[0]) // self.info.image_seq_len for v in res.outputs))
        return res

    async def embed_queries(self, texts: Sequence[str]) -> BatchResult[Vectors]:
        self.check_texts(texts)
        try:
            res = await self.queries.submit(list(texts))
        except ValueError as e:
            raise ValidationError(str(e)) from None
        self.metrics.tokens.labels("query").inc(sum(int(v.shape[0]) for v in res.outputs))
        return res

from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DTYPE_UNSPECIFIED: _ClassVar[DType]
    DTYPE_FLOAT32: _ClassVar[DType]
    DTYPE_FLOAT16: _ClassVar[DType]
DTYPE_UNSPECIFIED: DType
DTYPE_FLOAT32: DType
DTYPE_FLOAT16: DType

class EmbedImagesRequest(_message.Message):
    __slots__ = ("images", "dtype", "request_id")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedScalarFieldContainer[bytes]
    dtype: DType
    request_id: str
    def __init__(self, images: _Optional[_Iterable[bytes]] = ..., dtype: _Optional[_Union[DType, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class EmbedQueriesRequest(_message.Message):
    __slots__ = ("texts", "dtype", "request_id")
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    dtype: DType
    request_id: str
    def __init__(self, texts: _Optional[_Iterable[str]] = ..., dtype: _Optional[_Union[DType, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class MultiVector(_message.Message):
    __slots__ = ("data", "rows", "dim", "dtype")
    DATA_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    rows: int
    dim: int
    dtype: DType
    def __init__(self, data: _Optional[bytes] = ..., rows: _Optional[int] = ..., dim: _Optional[int] = ..., dtype: _Optional[_Union[DType, str]] = ...) -> None: ...

class EmbedMetadata(_message.Message):
    __slots__ = ("tokens", "tiles", "queue_seconds", "inference_seconds")
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    TILES_FIELD_NUMBER: _ClassVar[int]
    QUEUE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    tokens: int
    tiles: int
    queue_seconds: float
    inference_seconds: float
    def __init__(self, tokens: _Optional[int] = ..., tiles: _Optional[int] = ..., queue_seconds: _Optional[float] = ..., inference_seconds: _Optional[float] = ...) -> None: ...

class EmbedResponse(_message.Message):
    __slots__ = ("embeddings", "metadata", "model", "request_id")
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    embeddings: _containers.RepeatedCompositeFieldContainer[MultiVector]
    metadata: EmbedMetadata
    model: str
    request_id: str
    def __init__(self, embeddings: _Optional[_Iterable[_Union[MultiVector, _Mapping]]] = ..., metadata: _Optional[_Union[EmbedMetadata, _Mapping]] = ..., model: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class InfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_images_per_request", "max_texts_per_request", "max_request_bytes", "max_image_pixels", "max_text_chars")
    MAX_IMAGES_PER_REQUEST_FIELD_NUMBER: _ClassVar[int]
    MAX_TEXTS_PER_REQUEST_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUEST_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_IMAGE_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MAX_TEXT_CHARS_FIELD_NUMBER: _ClassVar[int]
    max_images_per_request: int
    max_texts_per_request: int
    max_request_bytes: int
    max_image_pixels: int
    max_text_chars: int
    def __init__(self, max_images_per_request: _Optional[int] = ..., max_texts_per_request: _Optional[int] = ..., max_request_bytes: _Optional[int] = ..., max_image_pixels: _Optional[int] = ..., max_text_chars: _Optional[int] = ...) -> None: ...

class InfoResponse(_message.Message):
    __slots__ = ("model_id", "dim", "dtype", "providers", "image_seq_len", "limits", "version")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_SEQ_LEN_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    dim: int
    dtype: str
    providers: _containers.RepeatedScalarFieldContainer[str]
    image_seq_len: int
    limits: Limits
    version: str
    def __init__(self, model_id: _Optional[str] = ..., dim: _Optional[int] = ..., dtype: _Optional[str] = ..., providers: _Optional[_Iterable[str]] = ..., image_seq_len: _Optional[int] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., version: _Optional[str] = ...) -> None: ...

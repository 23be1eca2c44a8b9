from colweave.v1 import embedding_pb2 as _embedding_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExplainRequest(_message.Message):
    __slots__ = ("collection", "id", "text", "vector", "target_vector", "map_tokens")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    TARGET_VECTOR_FIELD_NUMBER: _ClassVar[int]
    MAP_TOKENS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    id: str
    text: str
    vector: _embedding_pb2.MultiVector
    target_vector: str
    map_tokens: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, collection: _Optional[str] = ..., id: _Optional[str] = ..., text: _Optional[str] = ..., vector: _Optional[_Union[_embedding_pb2.MultiVector, _Mapping]] = ..., target_vector: _Optional[str] = ..., map_tokens: _Optional[_Iterable[int]] = ...) -> None: ...

class Box(_message.Message):
    __slots__ = ("x0", "y0", "x1", "y1")
    X0_FIELD_NUMBER: _ClassVar[int]
    Y0_FIELD_NUMBER: _ClassVar[int]
    X1_FIELD_NUMBER: _ClassVar[int]
    Y1_FIELD_NUMBER: _ClassVar[int]
    x0: float
    y0: float
    x1: float
    y1: float
    def __init__(self, x0: _Optional[float] = ..., y0: _Optional[float] = ..., x1: _Optional[float] = ..., y1: _Optional[float] = ...) -> None: ...

class Patch(_message.Message):
    __slots__ = ("tile", "is_global", "tile_row", "tile_col", "row", "col", "box")
    TILE_FIELD_NUMBER: _ClassVar[int]
    IS_GLOBAL_FIELD_NUMBER: _ClassVar[int]
    TILE_ROW_FIELD_NUMBER: _ClassVar[int]
    TILE_COL_FIELD_NUMBER: _ClassVar[int]
    ROW_FIELD_NUMBER: _ClassVar[int]
    COL_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    tile: int
    is_global: bool
    tile_row: int
    tile_col: int
    row: int
    col: int
    box: Box
    def __init__(self, tile: _Optional[int] = ..., is_global: bool = ..., tile_row: _Optional[int] = ..., tile_col: _Optional[int] = ..., row: _Optional[int] = ..., col: _Optional[int] = ..., box: _Optional[_Union[Box, _Mapping]] = ...) -> None: ...

class TokenMatch(_message.Message):
    __slots__ = ("index", "text", "kind", "start", "end", "vector", "score", "patch", "best_patch", "best_patch_vector", "best_patch_score")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    PATCH_FIELD_NUMBER: _ClassVar[int]
    BEST_PATCH_FIELD_NUMBER: _ClassVar[int]
    BEST_PATCH_VECTOR_FIELD_NUMBER: _ClassVar[int]
    BEST_PATCH_SCORE_FIELD_NUMBER: _ClassVar[int]
    index: int
    text: str
    kind: str
    start: int
    end: int
    vector: int
    score: float
    patch: Patch
    best_patch: Patch
    best_patch_vector: int
    best_patch_score: float
    def __init__(self, index: _Optional[int] = ..., text: _Optional[str] = ..., kind: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., vector: _Optional[int] = ..., score: _Optional[float] = ..., patch: _Optional[_Union[Patch, _Mapping]] = ..., best_patch: _Optional[_Union[Patch, _Mapping]] = ..., best_patch_vector: _Optional[int] = ..., best_patch_score: _Optional[float] = ...) -> None: ...

class Layout(_message.Message):
    __slots__ = ("width", "height", "rows", "cols", "grid_width", "grid_height", "tile_size", "patch_side", "tile_starts", "vectors")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    GRID_WIDTH_FIELD_NUMBER: _ClassVar[int]
    GRID_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    TILE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PATCH_SIDE_FIELD_NUMBER: _ClassVar[int]
    TILE_STARTS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    rows: int
    cols: int
    grid_width: int
    grid_height: int
    tile_size: int
    patch_side: int
    tile_starts: _containers.RepeatedScalarFieldContainer[int]
    vectors: int
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., rows: _Optional[int] = ..., cols: _Optional[int] = ..., grid_width: _Optional[int] = ..., grid_height: _Optional[int] = ..., tile_size: _Optional[int] = ..., patch_side: _Optional[int] = ..., tile_starts: _Optional[_Iterable[int]] = ..., vectors: _Optional[int] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("score", "tokens", "layout", "map_tokens", "map")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    MAP_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAP_FIELD_NUMBER: _ClassVar[int]
    score: float
    tokens: _containers.RepeatedCompositeFieldContainer[TokenMatch]
    layout: Layout
    map_tokens: _containers.RepeatedScalarFieldContainer[int]
    map: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, score: _Optional[float] = ..., tokens: _Optional[_Iterable[_Union[TokenMatch, _Mapping]]] = ..., layout: _Optional[_Union[Layout, _Mapping]] = ..., map_tokens: _Optional[_Iterable[int]] = ..., map: _Optional[_Iterable[float]] = ...) -> None: ...

"""``colweave ingest``: a folder of PDFs (and images) becomes a searchable collection.

``colweave.ingest(paths, collection, data_dir=... | url=..., progress=...)`` is the library API (this
package is callable: ``colweave.ingest(...)`` and ``colweave.ingest.ingest(...)`` are the same function);
``colweave ingest PATH... --collection NAME`` the command. See ``pipeline`` for what a run does.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from colweave.ingest.pipeline import Failure, IngestProgress, IngestSummary, ingest
from colweave.ingest.sources import NAMESPACE, SourceError, page_uuid
from colweave.ingest.targets import TargetError

__all__ = [
    "NAMESPACE",
    "Failure",
    "IngestProgress",
    "IngestSummary",
    "SourceError",
    "TargetError",
    "ingest",
    "page_uuid",
]


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> IngestSummary:
        return ingest(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

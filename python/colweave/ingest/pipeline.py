"""The ingest run: scan → skip what is stored → render (one thread) → embed (the Encoder, whose own workers
prepare the next pages) → insert in small batches, each durable before the next.

Re-running is safe and cheap: a page's UUID comes from its file's content and its number, pages already in
the collection are skipped before anything is rendered, and an interrupted run (Ctrl-C, ``kill -9``) keeps
every batch that was acknowledged, so the next run resumes after it. A file that cannot be read (corrupt,
encrypted, missing) is one failure line and the run goes on.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from colweave.ingest.sources import (
    DEFAULT_LONGEST_EDGE,
    PageJob,
    SourceError,
    SourceFile,
    expand_paths,
    page_uuid,
    render_pages,
    scan_file,
)
from colweave.ingest.targets import EmbeddedTarget, ServerTarget, Target, TargetError
from colweave.model.images import DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class Failure:
    source: str  # the path (as given or found)
    message: str  # one line

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


@dataclass
class IngestProgress:
    """What a progress callback receives after the scan and after every stored batch."""

    files_total: int
    pages_total: int  # pages of the readable files
    pages_done: int  # stored by this run
    skipped: int  # already in the collection
    failed: int  # failure lines so far
    elapsed_s: float  # since the first page was rendered
    current: str = ""

    @property
    def pages_per_s(self) -> float:
        return self.pages_done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def remaining(self) -> int:
        return max(self.pages_total - self.pages_done - self.skipped, 0)

    @property
    def eta_s(self) -> float | None:
        rate = self.pages_per_s
        return self.remaining / rate if rate > 0 else None


@dataclass
class IngestSummary:
    collection: str
    target: str
    files: int = 0  # files found (readable or not)
    files_failed: int = 0
    pages: int = 0  # stored by this run
    skipped: int = 0  # already stored
    failed: int = 0  # failure lines (a file or a page)
    seconds: float = 0.0  # the page phase: first render to last acknowledged batch
    collection_created: bool = False
    failures: list[Failure] = field(default_factory=list)

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (
            f"{self.collection}: files {self.files} ({self.files_failed} failed), pages {self.pages} stored, "
            f"skipped {self.skipped}, failed {self.failed}, {self.pages_per_s:.2f} pages/s "
            f"({self.seconds:.1f} s)"
        )


_DONE = object()


def _producer(
    plan: list[tuple[SourceFile, list[int]]],
    out: queue.Queue[Any],
    stop: threading.Event,
    longest_edge: int,
    max_pixels: int,
) -> None:
    """Renders every planned page in order into ``out`` (PageJob or Failure), then ``_DONE``."""

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for f, pages in plan:
            for item in render_pages(f, pages, longest_edge, max_pixels):
                if isinstance(item, PageJob):
                    ok = put(item)
                else:
                    number, err = item
                    ok = put(
                        Failure(os.fspath(f.path), f"page {number}: {err}" if f.n_pages > 1 else str(err))
                    )
                if not ok:
                    return
    except BaseException as e:  # handed to the consumer, which raises it
        put(e)
        return
    put(_DONE)


def ingest(
    paths: Iterable[str | os.PathLike[str]],
    collection: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    url: str | None = None,
    grpc_port: int | None = None,
    api_key: str | None = None,
    headers: dict[str, str] | None = None,
    vectorizer_base_url: str | None = None,
    encoder: Any = None,
    model: str | None = None,
    runtime: str | None = None,
    precision: str | None = None,
    threads: int | None = None,
    muvera: bool = False,
    longest_edge: int = DEFAULT_LONGEST_EDGE,
    batch_pages: int = 4,
    max_image_pixels: int = DEFAULT_MAX_PIXELS,
    progress: Callable[[IngestProgress], None] | None = None,
    on_failure: Callable[[Failure], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> IngestSummary:
    """Ingests PDFs, images, folders and globs into ``collection``; returns the summary.

    Target: ``data_dir`` (the embedded store; pages are embedded here, with ``encoder`` or an Encoder of
    ``model`` / ``runtime`` / ``precision`` / ``threads``) or ``url`` (a running colweave or Weaviate: the
    server embeds). ``progress`` is called after the scan and after every stored batch, ``on_failure`` for
    every failure line. A ``KeyboardInterrupt`` stops the run (what was stored stays) and propagates.
    """
    if (data_dir is None) == (url is None):
        raise ValueError("give exactly one target: data_dir (the embedded store) or url (a running server)")
    for name, value in (("longest_edge", longest_edge), ("batch_pages", batch_pages)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    say = log or (lambda _: None)
    summary = IngestSummary(collection, os.fspath(data_dir) if data_dir is not None else str(url))

    def fail(source: str, message: str) -> None:
        f = Failure(source, message)
        summary.failures.append(f)
        summary.failed += 1
        if on_failure is not None:
            on_failure(f)

    files, missing = expand_paths(paths)
    for arg, why in missing:
        fail(arg, why)
    scanned: list[SourceFile] = []
    for p in files:
        summary.files += 1
        try:
            scanned.append(scan_file(p, max_image_pixels))
        except SourceError as e:
            summary.files_failed += 1
            fail(os.fspath(p), str(e))
    summary.files += len(missing)
    summary.files_failed += len(missing)

    target: Target
    if data_dir is not None:
        target = EmbeddedTarget(Path(data_dir))
    else:
        target = ServerTarget(
            str(url),
            grpc_port=grpc_port,
            api_key=api_key,
            headers=headers,
            vectorizer_base_url=vectorizer_base_url,
        )

    def get_encoder() -> Any:
        """The Encoder, loaded only once there are pages to embed (a rerun that skips all loads nothing)."""
        nonlocal encoder
        if encoder is None:
            from colweave.model import Encoder
            from colweave.server.config import DEFAULT_MODEL

            say(f"loading the model {model or DEFAULT_MODEL}")
            encoder = Encoder(model or DEFAULT_MODEL, threads=threads, runtime=runtime, precision=precision)
            say(f"model ready: runtime {encoder.runtime}, precision {encoder.precision}")
        return encoder

    try:
        summary.collection_created = target.ensure_collection(collection, muvera) == "created"
        say(f"collection {collection} {'created' if summary.collection_created else 'exists'}")
        _run_pages(
            target, scanned, summary, get_encoder, longest_edge, batch_pages, max_image_pixels, progress, fail
        )
    finally:
        target.close()
    return summary


def _run_pages(
    target: Target,
    scanned: list[SourceFile],
    summary: IngestSummary,
    get_encoder: Callable[[], Any],
    longest_edge: int,
    batch_pages: int,
    max_pixels: int,
    progress: Callable[[IngestProgress], None] | None,
    fail: Callable[[str, str], None],
) -> None:
    all_uuids = [page_uuid(f.sha256, n) for f in scanned for n in range(1, f.n_pages + 1)]
    try:
        stored = target.existing(all_uuids)
    except Exception as e:
        raise TargetError(f"cannot list the stored pages: {e}") from None
    plan: list[tuple[SourceFile, list[int]]] = []
    seen: set[str] = set()
    for f in scanned:
        todo = []
        for n in range(1, f.n_pages + 1):
            u = page_uuid(f.sha256, n)
            if u in stored or u in seen:
                summary.skipped += 1
            else:
                todo.append(n)
                seen.add(u)
        if todo:
            plan.append((f, todo))
    pages_total = len(all_uuids)
    encoder: Any = get_encoder() if plan and target.needs_vectors else None
    t0 = time.perf_counter()
    last: list[int] = []

    def report(current: str = "") -> None:
        summary.seconds = time.perf_counter() - t0
        state = [summary.pages, summary.failed]
        if progress is not None and state != last:
            last[:] = state
            progress(
                IngestProgress(
                    len(scanned) + summary.files_failed,
                    pages_total,
                    summary.pages,
                    summary.skipped,
                    summary.failed,
                    summary.seconds,
                    current,
                )
            )

    report()
    if not plan:
        return
    rendered: queue.Queue[Any] = queue.Queue(maxsize=max(2 * batch_pages, 4))
    stop = threading.Event()
    producer = threading.Thread(
        target=_producer,
        args=(plan, rendered, stop, longest_edge, max_pixels),
        name="colweave-ingest-render",
        daemon=True,
    )
    producer.start()

    def jobs() -> Iterator[PageJob]:
        while True:
            item = rendered.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, Failure):
                fail(item.source, item.message)
                continue
            yield item

    def store(batch: Sequence[PageJob], vectors: Sequence[np.ndarray] | None) -> None:
        try:
            errors = target.insert([(j.uuid, j.properties()) for j in batch], vectors)
        except Exception as e:
            raise TargetError(f"the target refused a batch of {len(batch)} pages: {e}") from None
        for i, j in enumerate(batch):
            if i in errors:
                fail(os.fspath(j.file.path), f"page {j.page}: {errors[i]}")
            else:
                summary.pages += 1
        report(batch[-1].file.source)

    try:
        if target.needs_vectors:
            pending: deque[PageJob] = deque()

            def images() -> Iterator[Any]:
                for j in jobs():
                    pending.append(j)
                    yield j.image

            batch: list[PageJob] = []
            vectors: list[np.ndarray] = []
            for emb in encoder.iter_embed_images(images()):
                job = pending.popleft()
                job.image = None  # type: ignore[assignment]  # the pixels are no longer needed
                batch.append(job)
                vectors.append(emb)
                if len(batch) >= batch_pages:
                    store(batch, vectors)
                    batch, vectors = [], []
            if batch:
                store(batch, vectors)
        else:
            batch = []
            for job in jobs():
                batch.append(job)
                if len(batch) >= batch_pages:
                    store(batch, None)
                    batch = []
            if batch:
                store(batch, None)
    finally:
        stop.set()
        producer.join(timeout=30)
        report()  # only if something changed since the last batch's report

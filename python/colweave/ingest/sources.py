"""What gets ingested: paths, folders and globs → files; a file → its pages (rendered, with their text).

A PDF page is rendered with PDFium (``pypdfium2``) at the size the model sees (longest edge 2048 px by
default: no pixels are rendered only to be thrown away) and keeps its text layer (empty for a scan). An
image file is one page, stored as the bytes it came in. Page UUIDs are ``uuid5`` of the file's SHA-256
and the page number, so the same file gives the same objects wherever it lies and whatever it is called.

PDFium is not thread-safe: every PDFium call of a run happens in one thread at a time.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import io
import os
import uuid as uuidlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from colweave.model.errors import ModelInputError
from colweave.model.images import DEFAULT_MAX_PIXELS, load_image

PDF_SUFFIXES = (".pdf",)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")
#: The namespace of page UUIDs (uuid5 of "<sha256 of the file>/<page number>").
NAMESPACE = uuidlib.uuid5(uuidlib.NAMESPACE_URL, "https://colweave/ingest/page")
DEFAULT_LONGEST_EDGE = 2048


class SourceError(Exception):
    """A file that cannot be ingested; the message is the one line the user sees (without the path)."""


def page_uuid(sha256: str, page: int) -> str:
    return str(uuidlib.uuid5(NAMESPACE, f"{sha256}/{page}"))


def _is_glob(s: str) -> bool:
    return any(c in s for c in "*?[")


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to ingest (folders recursively, globs expanded; PDFs and images only, in sorted order per
    argument, each file once) and the arguments that matched nothing, with why."""
    files: list[Path] = []
    missing: list[tuple[str, str]] = []
    seen: set[Path] = set()
    wanted = PDF_SUFFIXES + IMAGE_SUFFIXES

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            files.append(p)

    for raw in paths:
        arg = os.fspath(raw)
        p = Path(arg).expanduser()
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in wanted)
            if not found:
                missing.append((arg, "no PDF or image files in this folder"))
            for q in found:
                add(q)
        elif p.exists():
            add(p)  # named explicitly: tried whatever its suffix
        elif _is_glob(arg):
            matches = sorted(Path(m) for m in glob.glob(os.path.expanduser(arg), recursive=True))
            found = [m for m in matches if m.is_file() and m.suffix.lower() in wanted]
            if not found:
                missing.append((arg, "the pattern matches no PDF or image files"))
            for q in found:
                add(q)
        else:
            missing.append((arg, "no such file or folder"))
    return files, missing


@dataclass
class SourceFile:
    path: Path
    sha256: str
    kind: str  # "pdf" or "image"
    n_pages: int
    title: str
    data: bytes

    @property
    def source(self) -> str:
        return self.path.name


@dataclass
class PageJob:
    """One page, ready to store: the image the model sees, its stored blob, and its properties."""

    file: SourceFile
    page: int  # 1-based
    uuid: str
    image: Image.Image
    blob_b64: str
    text: str

    def properties(self) -> dict[str, Any]:
        return {
            "doc_page": self.blob_b64,
            "title": self.file.title,
            "source": self.file.source,
            "page": self.page,
            "text": self.text,
        }


def _pdfium() -> Any:
    import pypdfium2

    return pypdfium2


def _open_pdf(data: bytes) -> Any:
    pdfium = _pdfium()
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        message = str(e)
        if "password" in message.lower():
            raise SourceError("encrypted PDF (password protected): cannot be read") from None
        raise SourceError(
            f"not a readable PDF ({message.removeprefix('Failed to load document ')})"
        ) from None


def scan_file(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> SourceFile:
    """Reads and hashes ``path`` and counts its pages; ``SourceError`` if it cannot be ingested."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SourceError(f"cannot read: {e.strerror or e}") from None
    if not data:
        raise SourceError("empty file")
    sha = hashlib.sha256(data).hexdigest()
    if data[:1024].lstrip().startswith(b"%PDF") or path.suffix.lower() in PDF_SUFFIXES:
        doc = _open_pdf(data)
        try:
            n = len(doc)
            title = str(doc.get_metadata_value("Title") or "").strip()
        finally:
            doc.close()
        if n == 0:
            raise SourceError("the PDF has no pages")
        return SourceFile(path, sha, "pdf", n, title or path.stem, data)
    try:
        load_image(data, max_pixels)
    except ModelInputError as e:
        raise SourceError(str(e)) from None
    return SourceFile(path, sha, "image", 1, path.stem, data)


def _png_b64(img: Image.Image) -> str:
    buf = io.BytesIO()
    # Level 1: a rendered text page compresses almost as well as at level 6, several times faster.
    img.save(buf, format="PNG", compress_level=1)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def render_pages(
    f: SourceFile,
    pages: Sequence[int],
    longest_edge: int = DEFAULT_LONGEST_EDGE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Iterator[PageJob | tuple[int, SourceError]]:
    """The given pages (1-based) of ``f``, rendered, in order; a page that fails is ``(page, error)`` and
    the pages after it are still tried."""
    if f.kind == "image":
        if pages:
            try:
                img = load_image(f.data, max_pixels)
            except ModelInputError as e:
                yield 1, SourceError(str(e))
                return
            yield PageJob(f, 1, page_uuid(f.sha256, 1), img, base64.b64encode(f.data).decode("ascii"), "")
        return
    try:
        doc = _open_pdf(f.data)
    except SourceError as e:
        for number in pages:
            yield number, e
        return
    try:
        for number in pages:
            try:
                img, text = _render(doc, number, longest_edge)
            except _pdfium().PdfiumError as e:
                yield number, SourceError(f"page {number} cannot be rendered: {e}")
                continue
            yield PageJob(f, number, page_uuid(f.sha256, number), img, _png_b64(img), text)
    finally:
        doc.close()


def _render(doc: Any, number: int, longest_edge: int) -> tuple[Image.Image, str]:
    page = doc[number - 1]
    try:
        w, h = page.get_size()
        scale = longest_edge / max(w, h, 1e-6)
        img = page.render(scale=scale).to_pil().convert("RGB")
        textpage = page.get_textpage()
        try:
            text = str(textpage.get_text_bounded())
        finally:
            textpage.close()
    finally:
        page.close()
    return img, text.replace("\r\n", "\n").replace("\r", "\n").strip()

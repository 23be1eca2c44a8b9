"""``colweave ingest`` / ``colweave.ingest(...)`` with real PDFs written at test time (text pages with known
words, an image-only page, an encrypted file, a corrupt file), real PDFium rendering, the tiny model, and
both targets: the embedded store in a data directory, and a real ``colweave serve`` on free ports."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

import colweave
from colweave.ingest import Failure, IngestProgress, page_uuid
from colweave.model import Encoder
from colweave.store import Store

from .pdfgen import ImagePage, TextPage, build_pdf

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "fixtures" / "model" / "tiny-colweave"
PHOTO = ROOT / "tests" / "fixtures" / "model" / "images" / "photo.jpg"

REPORT_PAGES = [
    ["Annual report 2024", "Revenue grew in every quarter.", "The zebra project shipped."],
    ["Second page", "Our quokka mascot visited the office."],
    ["Third page", "Platypus inventory and warehouse costs."],
]


def _scan(seed: int = 0) -> ImagePage:
    rng = np.random.default_rng(seed)
    return ImagePage(rng.integers(0, 255, (80, 56, 3), dtype=np.uint8).tobytes(), 56, 80)


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder(TINY, device="cpu", runtime="onnxruntime", precision="fp32")


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    d = tmp_path / "docs"
    (d / "nested").mkdir(parents=True)
    pages: list[TextPage | ImagePage] = [TextPage(lines) for lines in REPORT_PAGES]
    pages.append(_scan())
    (d / "report.pdf").write_bytes(build_pdf(pages, title="Annual Report"))
    (d / "nested" / "photo.jpg").write_bytes(PHOTO.read_bytes())
    return d


def _expected_uuid(path: Path, page: int) -> str:
    """Independent of colweave.ingest: uuid5 of '<sha256>/<page>' in the documented namespace."""
    ns = uuid.uuid5(uuid.NAMESPACE_URL, "https://colweave/ingest/page")
    return str(uuid.uuid5(ns, f"{hashlib.sha256(path.read_bytes()).hexdigest()}/{page}"))


def test_pages_become_objects_in_the_embedded_store(tmp_path: Path, docs: Path, encoder: Encoder) -> None:
    events: list[IngestProgress] = []
    summary = colweave.ingest(
        [docs], "Reports", data_dir=tmp_path / "data", encoder=encoder, progress=events.append
    )
    assert (summary.files, summary.files_failed, summary.pages, summary.skipped, summary.failed) == (
        2,
        0,
        5,
        0,
        0,
    )
    assert summary.collection_created
    assert summary.pages_per_s > 0
    assert events[-1].pages_done == 5
    assert events[-1].pages_total == 5
    with Store(tmp_path / "data", vectorizer=encoder) as store:
        coll = store.get_collection("Reports")
        cfg = coll.config.to_weaviate()
        module = cfg["vectorConfig"]["document"]["vectorizer"]["multi2multivec-weaviate"]
        assert module["imageFields"] == ["doc_page"]
        assert {p["name"] for p in cfg["properties"]} == {"doc_page", "title", "source", "page", "text"}
        assert coll.count() == 5
        pdf = docs / "report.pdf"
        for page, lines in enumerate(REPORT_PAGES, start=1):
            obj = coll.get(_expected_uuid(pdf, page), include_vector=True, return_properties=None)
            assert obj is not None, page
            props = obj.properties
            assert props["title"] == "Annual Report"
            assert props["source"] == "report.pdf"
            assert props["page"] == page
            for line in lines:
                assert line in props["text"]
            png = base64.b64decode(props["doc_page"])
            assert png.startswith(b"\x89PNG")
            img = Image.open(io.BytesIO(png))
            assert max(img.size) == 2048
            assert img.size == (1448, 2048)  # A4 portrait at longest edge 2048
            # The stored vectors are the stored page's (fp16 storage: ~1e-3).
            (want,) = encoder.embed_images([png])
            np.testing.assert_allclose(obj.vectors["document"], want, atol=2e-3)
        scan = coll.get(_expected_uuid(pdf, 4), return_properties=["text", "page"])
        assert scan is not None
        assert scan.properties == {"text": "", "page": 4}
        photo = coll.get(_expected_uuid(docs / "nested" / "photo.jpg", 1), return_properties=None)
        assert photo is not None
        assert photo.properties["source"] == "photo.jpg"
        assert photo.properties["title"] == "photo"
        assert base64.b64decode(photo.properties["doc_page"]) == PHOTO.read_bytes()  # stored as it came
        # bm25 searches the text layer; near_text the page images.
        hits = coll.bm25("quokka", limit=3)
        assert [h.properties["page"] for h in hits] == [2]
        hits = coll.bm25("platypus warehouse", limit=3)
        assert hits[0].properties["page"] == 3
        assert len(coll.near_text("annual revenue", limit=3)) == 3


def test_rerun_skips_everything_and_a_renamed_copy_too(tmp_path: Path, docs: Path, encoder: Encoder) -> None:
    colweave.ingest([docs], "Reports", data_dir=tmp_path / "data", encoder=encoder)
    (docs / "copy-of-report.pdf").write_bytes((docs / "report.pdf").read_bytes())
    again = colweave.ingest([docs], "Reports", data_dir=tmp_path / "data", encoder=encoder)
    assert (again.files, again.pages, again.skipped, again.failed) == (3, 0, 9, 0)
    assert not again.collection_created
    with Store(tmp_path / "data") as store:
        assert store.get_collection("Reports").count() == 5
    # Nothing left to embed: no model is loaded (this one does not exist).
    cheap = colweave.ingest([docs], "Reports", data_dir=tmp_path / "data", model=str(tmp_path / "no-model"))
    assert (cheap.pages, cheap.skipped) == (0, 9)


def test_a_bad_file_is_one_line_and_the_run_goes_on(tmp_path: Path, docs: Path, encoder: Encoder) -> None:
    locked = build_pdf([TextPage(["secret words"])], user_password="s3cret")
    (docs / "locked.pdf").write_bytes(locked)
    (docs / "corrupt.pdf").write_bytes(build_pdf([TextPage(["x"])])[:200])
    (docs / "empty.png").write_bytes(b"")
    (docs / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    failures: list[Failure] = []
    summary = colweave.ingest(
        [docs, tmp_path / "missing.pdf", str(tmp_path / "nothing-*.pdf")],
        "Reports",
        data_dir=tmp_path / "data",
        encoder=encoder,
        on_failure=failures.append,
    )
    by_name = {Path(f.source).name: f.message for f in failures}
    assert set(by_name) == {
        "locked.pdf",
        "corrupt.pdf",
        "empty.png",
        "garbage.png",
        "missing.pdf",
        "nothing-*.pdf",
    }
    assert "encrypted" in by_name["locked.pdf"]
    assert "password" in by_name["locked.pdf"]
    assert "not a readable PDF" in by_name["corrupt.pdf"]
    assert by_name["empty.png"] == "empty file"
    assert "not a decodable image" in by_name["garbage.png"] or "corrupt" in by_name["garbage.png"]
    assert by_name["missing.pdf"] == "no such file or folder"
    assert "matches no" in by_name["nothing-*.pdf"]
    assert all("\n" not in m for m in by_name.values())
    assert (summary.pages, summary.failed, summary.files_failed) == (5, 6, 6)
    # The encrypted file is a real one: with its password PDFium reads it.
    assert (
        pdfium.PdfDocument(locked, password="s3cret")[0].get_textpage().get_text_bounded() == "secret words"
    )


def test_muvera_on_request(tmp_path: Path, docs: Path, encoder: Encoder) -> None:
    colweave.ingest([docs / "report.pdf"], "Fast", data_dir=tmp_path / "data", encoder=encoder, muvera=True)
    with Store(tmp_path / "data") as store:
        cfg = store.get_collection("Fast").config.to_weaviate()
    assert cfg["vectorConfig"]["document"]["vectorIndexConfig"]["multivector"]["muvera"]["enabled"] is True


def test_exactly_one_target(tmp_path: Path, docs: Path) -> None:
    with pytest.raises(ValueError, match="exactly one target"):
        colweave.ingest([docs], "X")
    with pytest.raises(ValueError, match="exactly one target"):
        colweave.ingest([docs], "X", data_dir=tmp_path, url="http://localhost:1")


def test_page_uuid_is_the_documented_uuid5(docs: Path) -> None:
    pdf = docs / "report.pdf"
    assert page_uuid(hashlib.sha256(pdf.read_bytes()).hexdigest(), 2) == _expected_uuid(pdf, 2)


# ---------------------------------------------------------------- the command, kill -9, resume


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "colweave", "ingest", *args]


def test_cli_plain_lines_and_exit_status(tmp_path: Path, docs: Path) -> None:
    args = ["--collection", "Reports", "--data-dir", str(tmp_path / "data"), "--model", str(TINY)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    ok = subprocess.run(
        _cli(str(docs), *args), capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert ok.returncode == 0, ok.stderr
    last = ok.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "colweave ingest: Reports: files 2 (0 failed), pages 5 stored, skipped 0, failed 0"
    )
    assert "pages/s" in last
    assert "runtime" in ok.stderr  # the runtime choice is logged
    (docs / "bad.pdf").write_bytes(b"%PDF-1.7\nnot really")
    bad = subprocess.run(
        _cli(str(docs), *args), capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert bad.returncode == 1
    failed = [line for line in bad.stderr.splitlines() if "FAILED" in line]
    assert len(failed) == 1
    assert "bad.pdf: not a readable PDF" in failed[0]
    assert "skipped 5" in bad.stderr.splitlines()[-1]


@pytest.mark.slow
def test_resume_after_kill_9(tmp_path: Path) -> None:
    n = 40
    pdf = tmp_path / "long.pdf"
    pdf.write_bytes(build_pdf([TextPage([f"page number {i} word{i}"]) for i in range(1, n + 1)]))
    data = tmp_path / "data"
    args = _cli(str(pdf), "--collection", "Long", "--data-dir", str(data), "--model", str(TINY))
    args += ["--batch-pages", "1", "--progress", "lines"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    acknowledged = 0
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # progress lines come after each durable batch
            if " stored, " in line and "pages (" in line:
                acknowledged = int(line.split("pages (")[1].split(" stored")[0])
                if acknowledged >= 3:
                    break
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(30)
    assert acknowledged >= 3
    with Store(data) as store:
        stored = store.get_collection("Long").count()
    assert acknowledged <= stored < n  # what was acknowledged stays; the run was really cut short
    rerun = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert f"pages {n - stored} stored, skipped {stored}, failed 0" in rerun.stderr.splitlines()[-1]
    with Store(data) as store:
        coll = store.get_collection("Long")
        assert coll.count() == n
        pages = sorted(h.properties["page"] for h in coll.fetch_objects(limit=n + 5))
        assert pages == list(range(1, n + 1))
        assert [h.properties["page"] for h in coll.bm25("word17", limit=2)] == [17]


# ---------------------------------------------------------------- a running server


@pytest.mark.slow
def test_a_running_server_by_url(tmp_path: Path, docs: Path) -> None:
    import weaviate
    from tests.integration.serve_process import serve

    sp = serve(tmp_path / "server-data")
    try:
        events: list[Any] = []
        summary = colweave.ingest(
            [docs], "Reports", url=sp.http, grpc_port=sp.grpc_port, progress=events.append, batch_pages=2
        )
        assert (summary.files, summary.pages, summary.skipped, summary.failed) == (2, 5, 0, 0)
        again = colweave.ingest([docs], "Reports", url=sp.http, grpc_port=sp.grpc_port)
        assert (again.pages, again.skipped) == (0, 5)
        with weaviate.connect_to_local(port=sp.http_port, grpc_port=sp.grpc_port) as client:
            coll = client.collections.get("Reports")
            assert len(coll) == 5
            obj = coll.query.fetch_object_by_id(_expected_uuid(docs / "report.pdf", 2), include_vector=True)
            assert obj is not None
            assert obj.properties["source"] == "report.pdf"
            assert obj.properties["page"] == 2
            assert "quokka" in obj.properties["text"]
            assert len(obj.vector["document"]) > 0  # the server embedded the page
            hits = coll.query.bm25("platypus", limit=2).objects
            assert [h.properties["page"] for h in hits] == [3]
            assert len(coll.query.near_text("annual revenue", limit=3).objects) == 3
    finally:
        sp.stop()

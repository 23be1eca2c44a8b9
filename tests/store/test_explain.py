"""Page layouts (which vector is which patch, where on the page) and explanations of a match.

Geometry is checked against what preprocessing really does to pixels (a colour-coded page and a page with
text in a known region, cut into tiles by the very ImagePreprocessor the Encoder uses); the arithmetic
against numpy over the vectors the store holds. With the tiny model the scores themselves are random.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from colweave.explain import explain
from colweave.layout import LayoutError, PageLayout, page_layout
from colweave.model import Encoder
from colweave.model.config import ImageProcessorConfig, ModelConfig, ProcessorConfig, read_json
from colweave.model.tokenizer import TextTokenizer
from colweave.store import CollectionConfig, DataObject, Property, Store, VectorConfig

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY = FIXTURES / "model" / "tiny-colweave"


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder(TINY, device="cpu", threads=1)


def gradient_page(width: int, height: int) -> Image.Image:
    """Red encodes x, green encodes y (linearly, 0..255 across the page): a patch's colour after
    preprocessing says which page region it came from."""
    x = (np.arange(width) + 0.5) / width * 255
    y = (np.arange(height) + 0.5) / height * 255
    arr = np.zeros((height, width, 3), np.uint8)
    arr[:, :, 0] = np.round(x)[None, :]
    arr[:, :, 1] = np.round(y)[:, None]
    arr[:, :, 2] = 128
    return Image.fromarray(arr, "RGB")


def tile_blocks(encoder: Encoder, img: Image.Image) -> tuple[list[np.ndarray], int]:
    frames, _, _ = encoder._pre.tiles_uint8(img)
    side = encoder.page_layout(img.width, img.height).patch_side
    return frames, frames[0].shape[0] // side


@pytest.mark.parametrize(
    "size", [(595, 842), (842, 595), (1000, 400), (300, 300), (50, 30), (257, 1999), (64, 64)]
)
def test_patch_boxes_are_where_preprocessing_takes_the_pixels_from(
    encoder: Encoder, size: tuple[int, int]
) -> None:
    w, h = size
    img = gradient_page(w, h)
    lay = encoder.page_layout(w, h)
    frames, step = tile_blocks(encoder, img)
    assert len(frames) == lay.n_tiles
    assert lay.n_vectors == len(encoder.embed_images([img])[0])
    worst = 0.0
    for p in lay.patches():
        block = frames[p.tile][p.row * step : (p.row + 1) * step, p.col * step : (p.col + 1) * step]
        cx, cy = (p.box[0] + p.box[2]) / 2, (p.box[1] + p.box[3]) / 2
        # The gradient's value at the box centre is its mean over the box (it is linear).
        want = np.array([cx / w * 255, cy / h * 255])
        got = block[:, :, :2].reshape(-1, 2).mean(axis=0)
        worst = max(worst, float(np.abs(got - want).max()))
    # A patch off by one patch would be off by >= 255 / (cols * side) levels (>= 5 here); resampling
    # and the 8-bit gradient keep a right box within 2.5.
    assert worst < 2.5, worst


def test_text_vectors_have_no_box_and_every_image_vector_one(encoder: Encoder) -> None:
    lay = encoder.page_layout(595, 842)
    assert (lay.rows, lay.cols, lay.n_tiles, lay.patch_side) == (4, 3, 13, 4)
    image_idx = set(lay.patch_indices().ravel().tolist())
    ids = encoder._tok.encode_document(4, 3)
    assert image_idx == set(np.flatnonzero(ids == encoder._tok.image_token_id).tolist())
    for i in range(lay.n_vectors):
        p = lay.patch(i)
        assert (p is None) == (i not in image_idx)
        if p is not None:
            assert p.index == i
    assert all(lay.patch(p.index) == p for p in lay.patches())
    # The grid tiles tile the page exactly; the global tile covers all of it.
    area = sum((b[2] - b[0]) * (b[3] - b[1]) for b in map(lay.tile_box, range(12)))
    assert area == pytest.approx(595 * 842)
    assert lay.tile_box(12) == pytest.approx((0, 0, 595, 842))


def test_a4_page_with_the_real_models_settings_is_4x3_tiles_of_8x8() -> None:
    """The same layout code with ColModernVBERT's processor files (512 px tiles, 2048 px pages, 64 vectors
    per tile): an A4 page at 150 dpi is a 4 x 3 grid plus the global tile, 8 x 8 patches each."""
    image = ImageProcessorConfig.from_dict(
        read_json(FIXTURES / "configs" / "Qdrant__colmodernvbert__preprocessor_config.json"), "real"
    )
    seq = read_json(FIXTURES / "configs" / "ModernVBERT__colmodernvbert__processor_config.json")[
        "image_seq_len"
    ]
    proc = ProcessorConfig(image, seq, Encoder(TINY)._proc.visual_prompt_prefix, "")
    model = ModelConfig(459, None, None, None, None, None)
    tok = TextTokenizer(TINY, proc, model)
    lay = page_layout(1240, 1754, image, seq, tok.encode_document(4, 3), tok.image_token_id)
    assert (lay.rows, lay.cols, lay.patch_side, lay.n_patches) == (4, 3, 8, 13 * 64)
    assert (lay.grid_width, lay.grid_height) == (1536, 2048)
    first = lay.patches()[0]
    assert first.box == pytest.approx((0, 0, 64 * 1240 / 1536, 64 * 1754 / 2048))


def text_page() -> tuple[bytes, tuple[int, int, int, int]]:
    """A white A4-sized page with 'INVOICE TOTAL' in black in a known region; returns PNG bytes and the
    text's bounding box."""
    img = Image.new("RGB", (595, 842), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=36)
    draw.text((300, 520), "INVOICE TOTAL", fill="black", font=font)
    bbox = draw.textbbox((300, 520), "INVOICE TOTAL", font=font)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue(), (int(bbox[0]), int(bbox[1]), int(bbox[2]), int(bbox[3]))


def test_the_patches_that_hold_the_text_are_the_boxes_over_its_region(encoder: Encoder) -> None:
    data, (x0, y0, x1, y1) = text_page()
    img = Image.open(io.BytesIO(data)).convert("RGB")
    lay = encoder.page_layout(img.width, img.height)
    frames, step = tile_blocks(encoder, img)
    inked, over_text = set(), set()
    for p in lay.patches():
        if p.is_global:
            continue
        block = frames[p.tile][p.row * step : (p.row + 1) * step, p.col * step : (p.col + 1) * step]
        if block.min() < 128:
            inked.add(p.index)
        b = p.box
        # Resampling spreads ink by under a resized pixel (page / grid image = 3.1 px here).
        m = 4
        if b[0] < x1 + m and b[2] > x0 - m and b[1] < y1 + m and b[3] > y0 - m:
            over_text.add(p.index)
    assert inked
    assert inked <= over_text
    # and the boxes over the text's core all hold ink
    core = {
        p.index
        for p in lay.patches()
        if not p.is_global and p.box[0] >= x0 + 2 and p.box[2] <= x1 - 2 and p.box[1] >= y0 and p.box[3] <= y1
    }
    assert core <= inked


# -- the store ------------------------------------------------------------------------------------


def pages_config(name: str = "Pages") -> CollectionConfig:
    return CollectionConfig(
        name,
        properties=[Property.create("title", "text"), Property.create("page", "blob")],
        vectors={"page": VectorConfig.multi2multivec("page", image_fields=["page"])},
    )


@pytest.fixture
def store(tmp_path: Path, encoder: Encoder) -> Iterator[Store]:
    s = Store(tmp_path / "data", vectorizer=encoder)
    yield s
    s.close()


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def test_store_keeps_layouts_durably_and_explains_with_numpy_arithmetic(
    tmp_path: Path, encoder: Encoder
) -> None:
    text, _ = text_page()
    pages = [text, png(gradient_page(842, 595)), png(gradient_page(50, 30))]
    with Store(tmp_path / "data", vectorizer=encoder) as s:
        coll = s.create_collection(pages_config())
        res = coll.insert_many([DataObject({"title": f"p{i}", "page": b64(p)}) for i, p in enumerate(pages)])
        assert not res.errors
        ids = res.uuids
    with Store(tmp_path / "data", vectorizer=encoder) as s:  # reopened: the layouts are on disk
        coll = s.get_collection("Pages")
        query = "invoice total"
        hits = coll.near_text(query, limit=3)
        assert len(hits) == 3
        q = encoder.embed_queries([query])[0]
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        for hit in hits:
            i = ids.index(hit.uuid)
            with Image.open(io.BytesIO(pages[i])) as im:
                assert coll.layout(hit.uuid) == encoder.page_layout(*im.size)
            stored = coll.get(hit.uuid, include_vector=True)
            assert stored is not None
            page_vecs = stored.vectors["page"]
            ex = coll.explain(hit.uuid, query)
            sim = q @ page_vecs.T
            assert ex.score == pytest.approx(float(sim.max(axis=1).sum()), rel=1e-5, abs=1e-5)
            assert hit.metadata.distance is not None
            assert ex.score == pytest.approx(-hit.metadata.distance, rel=1e-4, abs=1e-4)
            assert [t.vector for t in ex.tokens] == sim.argmax(axis=1).tolist()
            np.testing.assert_allclose([t.score for t in ex.tokens], sim.max(axis=1), rtol=1e-5, atol=1e-6)
            lay = coll.layout(hit.uuid)
            assert lay is not None
            whole = ex.similarity_map()
            np.testing.assert_allclose(whole, sim.max(axis=0)[lay.patch_indices()], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(
                ex.similarity_map([3]), sim[3][lay.patch_indices()], rtol=1e-5, atol=1e-6
            )
            idx = lay.patch_indices().ravel()
            for t, row in zip(ex.tokens, sim, strict=True):
                assert t.patch == lay.patch(t.vector)
                assert t.best_patch == lay.patch(int(idx[row[idx].argmax()]))
                assert t.best_patch_score == pytest.approx(float(row[idx].max()), rel=1e-5, abs=1e-6)
            kinds = [t.token.kind for t in ex.tokens]
            assert kinds.count("augmentation") == 10
            assert kinds[0] == kinds[-1] == "special"
            words = "".join(t.token.text for t in ex.tokens if t.token.kind == "text")
            assert words == query
            js = ex.to_json([1, 2])
            assert js["map"]["tokens"] == [1, 2]
            assert len(js["layout"]["tiles"]) == lay.n_tiles


def test_self_provided_vectors_have_token_indices_only(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    with Store(tmp_path / "d") as s:
        coll = s.create_collection(
            CollectionConfig("Own", properties=[], vectors={"v": VectorConfig.self_provided("v")})
        )
        page = rng.standard_normal((7, 8)).astype(np.float32)
        u = coll.insert({}, vectors={"v": page})
        assert coll.layout(u) is None
        q = rng.standard_normal((3, 8)).astype(np.float32)
        ex = coll.explain(u, q)
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        pn = coll.get(u, include_vector=True).vectors["v"]  # type: ignore[union-attr]
        sim = qn @ pn.T
        assert [t.vector for t in ex.tokens] == sim.argmax(axis=1).tolist()
        assert all(t.patch is None and t.token.kind == "vector" for t in ex.tokens)
        np.testing.assert_allclose(ex.similarity_map(), sim.max(axis=0), rtol=1e-5, atol=1e-6)
        assert ex.to_json()["layout"] is None
        res = coll.insert_many([DataObject({}, None, {"v": page}, {"v": _layout_for(9)})])
        assert res.errors
        assert "describes 9 vectors" in res.errors[0].message
        res = coll.insert_many([DataObject({}, None, None, {"v": _layout_for(7)})])
        assert res.errors
        assert "only a vector given" in res.errors[0].message
        assert len(coll) == 1


def _layout_for(n: int) -> PageLayout:
    return PageLayout(10, 10, 0, 0, 4, 4, 4, 1, (0,), n)


def layout_rows(path: Path) -> list[tuple[int, str]]:
    con = sqlite3.connect(path)
    try:
        return [(int(d), str(n)) for d, n in con.execute("SELECT doc, name FROM layouts")]
    finally:
        con.close()


def test_layout_rows_follow_their_vectors(store: Store, encoder: Encoder) -> None:
    coll = store.create_collection(pages_config())
    db = coll.path / "objects.sqlite"
    u = coll.insert({"title": "a", "page": b64(png(gradient_page(200, 100)))})
    assert len(layout_rows(db)) == 1
    coll.update(u, {"title": "b"})  # the page is unchanged: the vector and its layout stay
    assert coll.layout(u) == encoder.page_layout(200, 100)
    coll.update(u, {"page": b64(png(gradient_page(100, 300)))})  # re-vectorized: new layout
    assert coll.layout(u) == encoder.page_layout(100, 300)
    own = encoder.embed_images([png(gradient_page(100, 300))])[0]
    coll.replace(u, {"title": "c"}, vectors={"page": own})  # self-provided: no layout any more
    assert coll.layout(u) is None
    assert layout_rows(db) == []
    u2 = coll.insert({"title": "d", "page": b64(png(gradient_page(90, 90)))})
    assert len(layout_rows(db)) == 1
    coll.delete(u2)
    assert layout_rows(db) == []


def test_a_layout_is_committed_with_its_object_or_not_at_all(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from colweave.store import layouts

    coll = store.create_collection(pages_config())
    real = layouts.write

    def write_then_fail(db: Any, rows: Any) -> None:
        real(db, rows)
        raise OSError("disk gone")

    monkeypatch.setattr(layouts, "write", write_then_fail)
    with pytest.raises(OSError, match="disk gone"):
        coll.insert_many([DataObject({"title": "x", "page": b64(png(gradient_page(80, 60)))})])
    assert len(coll) == 0
    assert layout_rows(coll.path / "objects.sqlite") == []


def test_bad_layouts_are_refused() -> None:
    with pytest.raises(LayoutError):
        PageLayout(10, 10, 2, 0, 4, 4, 4, 1, (0,), 5)
    with pytest.raises(LayoutError):
        PageLayout(10, 10, 0, 0, 4, 4, 4, 2, (3,), 5)  # 4 patches from 3 end past 5 vectors
    with pytest.raises(LayoutError):
        PageLayout.from_json('{"version": 99}')
    lay = PageLayout(10, 10, 0, 0, 4, 4, 4, 1, (2,), 5)
    assert PageLayout.from_json(lay.to_json()) == lay
    with pytest.raises(ValueError, match="dimension"):
        explain(np.ones((2, 3)), np.ones((5, 4)))
    with pytest.raises(LayoutError):
        explain(np.ones((2, 4)), np.ones((6, 4)), lay)

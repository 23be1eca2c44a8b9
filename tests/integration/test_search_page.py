"""The search page at ``/`` in a real browser: Debian's chromium driven by selenium (headless), against
``colweave serve`` as a subprocess with the committed tiny model and an API key, pages rendered with text
and imported with the real weaviate-client.

The browser is required: as root (CI) the test installs ``chromium`` and ``chromium-driver`` with apt;
elsewhere it skips with the reason unless ``CI`` is set, where a missing browser fails. Screenshots go to
a temporary folder whose path the test prints (``pytest -s`` shows it).
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import weaviate
from PIL import Image, ImageDraw, ImageFont
from tests.integration.serve_process import ServeProcess, serve
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.init import Auth

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
API_KEY = "page-test-key"
DOCS = [
    ("Annual report", 1, "ANNUAL REPORT 2025"),
    ("Annual report", 2, "QUARTERLY REVENUE TABLE"),
    ("Invoice 1042", 1, "INVOICE TOTAL 1,234.00 EUR"),
    ("Meeting notes", 1, "MEETING NOTES: BUDGET"),
    ("Shipping form", 1, "SHIPPING ADDRESS AND DATE"),
    ("Tax receipt", 3, "TAX RECEIPT NUMBER 77"),
]

pytestmark = pytest.mark.slow


def _need(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser test)")
    pytest.skip(reason)


def ensure_browser() -> None:
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"]
        if subprocess.run(cmd, env=env, capture_output=True, timeout=900).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
            subprocess.run(cmd, env=env, capture_output=True, timeout=900)
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        _need("chromium and chromium-driver are not installed (apt-get install -y chromium chromium-driver)")


def page_png(title: str, page: int, text: str, i: int) -> bytes:
    sizes = [(595, 842), (595, 842), (842, 595), (620, 877), (500, 700), (595, 842)]
    img = Image.new("RGB", sizes[i], "white")
    d = ImageDraw.Draw(img)
    big, small = ImageFont.load_default(size=30), ImageFont.load_default(size=16)
    d.text((40, 40), f"{title} - page {page}", fill="black", font=small)
    d.text((40, 140 + 60 * i), text, fill="black", font=big)
    for k in range(12):  # some body text lines
        d.line(
            (40, 320 + 24 * k + 30 * (i % 3), sizes[i][0] - 60 - 13 * k, 320 + 24 * k + 30 * (i % 3)),
            fill=(90, 90, 90),
            width=3,
        )
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    sp = serve(tmp_path_factory.mktemp("page") / "data", "--api-keys", API_KEY, ready_timeout=120)
    try:
        yield sp
    finally:
        sp.stop()


@pytest.fixture(scope="module")
def client(server: ServeProcess) -> Iterator[Any]:
    c = weaviate.connect_to_local(
        port=server.http_port, grpc_port=server.grpc_port, auth_credentials=Auth.api_key(API_KEY)
    )
    try:
        coll = c.collections.create(
            name="Docs",
            properties=[
                Property(name="title", data_type=DataType.TEXT),
                Property(name="page", data_type=DataType.INT),
                Property(name="image", data_type=DataType.BLOB),
            ],
            vector_config=[Configure.MultiVectors.multi2vec_weaviate(name="doc", image_field="image")],
        )
        with coll.batch.fixed_size(batch_size=10) as batch:
            for i, (title, page, text) in enumerate(DOCS):
                batch.add_object(
                    properties={
                        "title": title,
                        "page": page,
                        "image": base64.b64encode(page_png(title, page, text, i)).decode(),
                    }
                )
        assert not coll.batch.failed_objects
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    ensure_browser()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _need("selenium (dev extra) is not installed")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        opts.add_argument(arg)
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    drv.set_page_load_timeout(60)
    try:
        yield drv
    finally:
        drv.quit()


@pytest.fixture(scope="module")
def shots() -> Path:
    d = Path(tempfile.mkdtemp(prefix="colweave-page-shots-"))
    print(f"\nscreenshots of the search page: {d}")
    return d


def wait(drv: Any, cond: Any, timeout: float = 60) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(drv, timeout).until(cond)


def result_ids(drv: Any) -> list[str]:
    return drv.execute_script(
        "return [...document.querySelectorAll('#results button')].map(b => b.dataset.id)"
    )


def search(drv: Any, query: str) -> None:
    from selenium.webdriver.common.by import By

    box = drv.find_element(By.ID, "query")
    box.clear()
    box.send_keys(query)
    drv.find_element(By.ID, "search-btn").click()
    wait(drv, lambda d: d.find_element(By.ID, "results").get_attribute("data-query") == query)


CANVAS_STATS = """
const c = document.getElementById('heatmap');
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
const seen = new Set(); let painted = 0;
for (let i = 0; i < d.length; i += 4 * 7) {
  if (d[i + 3] > 0) { painted++; seen.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2]); }
}
return [c.width, c.height, painted, seen.size];
"""


def test_search_page_in_a_real_browser(server: ServeProcess, client: Any, browser: Any, shots: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    drv = browser
    drv.get(server.http + "/")
    # Without the key the schema call is refused, and the page says so.
    wait(drv, lambda d: d.find_element(By.ID, "error").is_displayed())
    assert "API key" in drv.find_element(By.ID, "error").text
    key = drv.find_element(By.ID, "api-key")
    key.send_keys(API_KEY)
    key.send_keys(Keys.ENTER)
    wait(drv, lambda d: d.execute_script("return document.body.dataset.schema") == "loaded")
    assert drv.execute_script("return sessionStorage.getItem('colweave.apiKey')") == API_KEY
    assert API_KEY not in drv.current_url
    assert Select(drv.find_element(By.ID, "collection")).first_selected_option.text == "Docs"

    # near_text: the same results in the same order as Weaviate's API
    query = "invoice total"
    search(drv, query)
    want = [str(o.uuid) for o in client.collections.get("Docs").query.near_text(query, limit=10).objects]
    assert result_ids(drv) == want
    assert len(want) == len(DOCS)
    wait(
        drv,
        lambda d: d.execute_script(
            "return [...document.querySelectorAll('#results img')]"
            ".every(i => i.complete && i.naturalWidth > 0)"
        ),
    )
    sizes = drv.execute_script(
        "return [...document.querySelectorAll('#results img')]"
        ".map(i => [i.naturalWidth, i.naturalHeight, i.alt])"
    )
    assert all(max(w, h) <= 256 for w, h, _ in sizes)  # thumbnails, not the full page
    assert all(alt.startswith("Thumbnail of ") for _, _, alt in sizes)
    assert drv.execute_script(
        "return [...document.querySelectorAll('#results img')].every(i => i.src.startsWith('blob:'))"
    )
    first_title = drv.find_element(By.CSS_SELECTOR, "#results li:first-child .title").text
    assert first_title in {t for t, _, _ in DOCS}
    drv.save_screenshot(str(shots / "1-results.png"))

    # hybrid with alpha and a property filter
    drv.find_element(By.CSS_SELECTOR, "input[name=mode][value=hybrid]").click()
    Select(drv.find_element(By.ID, "filter-prop")).select_by_value("title")
    drv.find_element(By.ID, "filter-value").send_keys("Annual report")
    search(drv, "revenue")
    from weaviate.classes.query import Filter

    want_h = [
        str(o.uuid)
        for o in client.collections.get("Docs")
        .query.hybrid(
            "revenue", alpha=0.75, limit=10, filters=Filter.by_property("title").equal("Annual report")
        )
        .objects
    ]
    assert result_ids(drv) == want_h
    assert len(want_h) == 2
    drv.find_element(By.ID, "filter-value").clear()
    drv.find_element(By.CSS_SELECTOR, "input[name=mode][value=near_text]").click()
    search(drv, query)
    assert result_ids(drv) == want

    # Open the first result with the keyboard: the page large, the heatmap drawn, patches outlined.
    first = drv.find_element(By.CSS_SELECTOR, "#results button[data-index='0']")
    first.send_keys(Keys.ENTER)
    viewer = drv.find_element(By.ID, "viewer")
    wait(drv, lambda d: viewer.get_attribute("data-drawn") and viewer.get_attribute("data-index") == "0")
    w, h, painted, colours = drv.execute_script(CANVAS_STATS)
    assert w > 200
    assert h > 200
    assert painted > 1000
    assert colours > 8, "the heatmap should vary across the page"
    assert int(viewer.get_attribute("data-outlined")) == 2  # one best patch per query word
    img = drv.find_element(By.ID, "page-img")
    assert query in img.get_attribute("alt")
    assert drv.execute_script("return arguments[0].naturalWidth", img) > 256  # the large preview
    rows = drv.find_elements(By.CSS_SELECTOR, "#tokens tbody tr")
    kinds = [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows]
    assert kinds.count("augmentation") == 10
    drv.save_screenshot(str(shots / "2-page-heatmap.png"))

    # One word's map.
    before = viewer.get_attribute("data-drawn")  # read first: the redraw may finish before the next call
    Select(drv.find_element(By.ID, "word")).select_by_visible_text("“invoice”")
    wait(drv, lambda d: viewer.get_attribute("data-drawn") != before)
    assert int(viewer.get_attribute("data-outlined")) == 1
    drv.save_screenshot(str(shots / "3-word-invoice.png"))

    # Keyboard: next, next, previous, then Escape back to the result list.
    body = drv.find_element(By.TAG_NAME, "body")
    for key_, index in ((Keys.ARROW_RIGHT, "1"), (Keys.ARROW_RIGHT, "2"), (Keys.ARROW_LEFT, "1")):
        body.send_keys(key_)
        wait(
            drv,
            lambda d, i=index: viewer.get_attribute("data-index") == i and viewer.get_attribute("data-drawn"),
        )
        assert viewer.get_attribute("data-id") == want[int(index)]
    assert drv.execute_script(CANVAS_STATS)[3] > 8
    body.send_keys(Keys.ESCAPE)
    wait(drv, lambda d: not viewer.is_displayed())
    assert drv.switch_to.active_element.get_attribute("data-index") == "1"

    # A narrow screen: no sideways scrolling, the viewer stacks.
    drv.set_window_size(420, 900)
    drv.switch_to.active_element.send_keys(Keys.ENTER)
    wait(drv, lambda d: viewer.get_attribute("data-drawn"))
    too_wide = drv.execute_script(
        "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right >"
        " window.innerWidth + 1).map(e => e.tagName + '#' + e.id + '.' + e.className)"
    )
    assert not too_wide, f"wider than a 420 px screen: {too_wide}"
    assert drv.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    drv.save_screenshot(str(shots / "4-narrow.png"))
    drv.set_window_size(1280, 1000)
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-results.png",
        "2-page-heatmap.png",
        "3-word-invoice.png",
        "4-narrow.png",
    ]

"""The audit's HTML report, opened from disk in a real headless Chromium."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from packcheck.apps.audit.run import AuditConfig, run_audit
from test_audit import SKUS, build_data

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium "
                                                      "(apt-get install chromium; .ci/run does)"),
]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = build_data(tmp_path_factory.mktemp("report") / "data")
    html = root.parent / "out" / "report.html"
    run_audit(AuditConfig(data_dir=root, out=root.parent / "out" / "results.csv", html=html, workers=1))
    return html


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, report):
    page = browser.new_page()
    seen = {"requests": [], "dialogs": [], "errors": [], "console": []}
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("console", lambda m: seen["console"].append(m.text))
    page.goto(report.as_uri())
    page.seen = seen
    yield page
    page.close()


def visible(page, selector="[data-status]") -> list[str]:
    return page.eval_on_selector_all(
        selector, "els => els.filter(e => !e.hidden).map(e => e.getAttribute('data-status'))")


def test_flagged_orders_come_first_with_their_pictures(page):
    statuses = page.eval_on_selector_all("article.card", "els => els.map(e => e.getAttribute('data-status'))")
    assert statuses == ["FLAG"] * 3 + ["ERROR"] * 6
    first = page.locator("article.card").first
    assert first.locator(".oid").inner_text() == "O2"
    captions = first.locator("figcaption").all_inner_texts()
    assert captions == ["packing photo (photos/O2.jpg)", "ordered: MUG-RED Mug (red)", "colour closer to: MUG-BLU Mug (blue)"]
    widths = first.locator("img").evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == 3 and all(w > 0 for w in widths)
    assert "a sibling variant (colour, size, flavour) of the ordered item was packed" in first.inner_text()
    assert first.locator(".sw").count() == 3  # ordered, found and sibling colour
    assert page.locator("#f-count").inner_text() == "12 of 12 orders shown"


def test_filters_by_status_reason_and_sku(page):
    page.select_option("#f-status", "ERROR")
    assert visible(page) == ["ERROR"] * 6
    page.select_option("#f-status", "")
    page.select_option("#f-reason", "wrong_item")
    assert page.locator("article.card:not([hidden]) .oid").all_inner_texts() == ["O4"]
    page.select_option("#f-reason", "")
    page.fill("#f-sku", "tri")
    assert page.locator("article.card:not([hidden]) .oid").all_inner_texts() == ["O4", "O3"]
    assert page.locator("tr[data-status]:not([hidden]) td").first.inner_text() == "=1+2"
    assert page.locator("#f-count").inner_text() == "3 of 12 orders shown"


def test_markup_in_titles_is_shown_as_text_and_never_run(page):
    title = SKUS["BOX-GRN"][4]
    assert "<script>" in title
    assert title in page.locator("body").inner_text()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.seen["dialogs"] == [] and page.seen["errors"] == []
    assert not [m for m in page.seen["console"] if "Content Security Policy" in m]


def test_the_report_needs_nothing_but_itself(page, report, tmp_path):
    assert {u.split(":", 1)[0] for u in page.seen["requests"]} <= {"file", "data"}
    assert [u for u in page.seen["requests"] if u.startswith("file:")] == [report.as_uri()]
    # Moved away from the data folder, it still shows its images.
    moved = tmp_path / "elsewhere.html"
    shutil.copy(report, moved)
    page.goto(moved.as_uri())
    assert page.locator("article.card").first.locator("img").evaluate_all(
        "imgs => imgs.every(i => i.naturalWidth > 0)")


# ---------------------------------------------------------------- #16: the report, read by a reviewer
LONG = "photos/" + "L" * 140 + ".jpg"


@pytest.fixture(scope="module")
def report16(tmp_path_factory) -> Path:
    """The audit data plus an order without a station, a dark photo and an ERROR with a long unbroken path."""
    import cv2

    from test_audit import ORDER_ROWS, bench_photo, save

    rows = ORDER_ROWS + [("O12", "MUG-RED", "1", "photos/O12.jpg", "", "MUG-RED"),
                         ("O13", "MUG-BLU", "1", "photos/O13.jpg", "B", None),
                         ("O14", "MUG-BLU", "1", LONG, "A", None)]
    root = build_data(tmp_path_factory.mktemp("report16") / "data", rows)
    save(root / "photos" / "O13.jpg", (bench_photo("MUG-BLU", 13) * 0.08).astype("uint8"))  # very dark
    assert cv2.imread(str(root / "photos" / "O13.jpg")).mean() < 20
    html = root.parent / "out" / "report.html"
    run_audit(AuditConfig(data_dir=root, out=root.parent / "out" / "results.csv", html=html, workers=1,
                          db=station_db(root.parent / "evidence.sqlite")))
    return html


def station_db(path: Path) -> Path:
    """A station's evidence database with three overrides: O2's FLAG by a supervisor whose code was
    checked, O14's ERROR shipped without evidence, and O9 by a name typed before codes were asked for."""
    from packcheck.apps.evidence.store import EvidenceStore
    from packcheck.core.verdict import CheckResult, Status, combine, error_verdict

    with EvidenceStore.open(path) as store:
        flag = store.record_check(combine("O2", [CheckResult("variant", Status.FLAG, "wrong_variant", "blue found")],
                                          thresholds_version="t"), station="B")
        store.record_override(flag.id, supervisor="maria", reason="buyer agreed", authenticated=True)
        error = store.record_check(error_verdict("O14", "photo_unreadable", "no photo", thresholds_version="t"))
        store.record_override(error.id, supervisor="maria", reason="camera broken", authenticated=True,
                              without_evidence=True, reason_code="photo_camera_broken")
        old = store.record_check(combine("O9", [CheckResult("item", Status.REVIEW, "wrong_item", "unsure")],
                                         thresholds_version="t"))
        store.record_override(old.id, supervisor="bob", reason="looked fine")
        # #18: a station whose name is markup, with a photo-to-verdict time (the per-station summary).
        store.record_check(combine("O3", [CheckResult("item", Status.FLAG, "wrong_item", "other item")],
                                   thresholds_version="t"), station=HOSTILE_STATION,
                           extra={"photo_to_verdict_s": 0.25})
    return path


HOSTILE_STATION = '<img src=x onerror="document.title=1">b9'


@pytest.fixture
def page16(browser, report16):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(report16.as_uri())
    page.errors = errors
    yield page
    assert errors == []
    page.close()


def test_card_text_does_not_overflow_its_box(page16):
    """#16: "the ERROR card's text overflows its box"."""
    page16.set_viewport_size({"width": 420, "height": 900})
    card = page16.locator("article.card", has_text="L" * 140)
    assert card.count() == 1 and card.get_attribute("data-status") == "ERROR"
    widths = page16.eval_on_selector_all("article.card", "els => els.map(e => [e.scrollWidth, e.clientWidth])")
    assert widths and all(scroll <= client + 1 for scroll, client in widths), widths
    boxes = page16.eval_on_selector_all(".card .noimg", "els => els.map(e => [e.scrollHeight, e.clientHeight])")
    assert boxes and all(scroll <= client + 1 for scroll, client in boxes), boxes  # the text stays in its box
    assert page16.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_photos_enlarge_on_click(page16):
    """#16: "photos are 220 px with no click-to-enlarge"."""
    photo = page16.locator("article.card").first.locator("img.zoom").first
    assert photo.evaluate("i => i.getBoundingClientRect().width") <= 222  # 220 px and its border
    photo.click()
    zoom = page16.locator("#zoom")
    assert zoom.is_visible()
    assert zoom.locator("img").evaluate("i => i.getBoundingClientRect().width") > 400
    assert zoom.locator("img").evaluate("i => i.naturalWidth") == 640  # the photo at up to 800 px, not the thumbnail
    zoom.click()
    assert not zoom.is_visible()


def test_a_dark_photo_is_also_shown_brightened_the_original_kept(page16):
    """#16: "a dark photo is not brightened for the reviewer"."""
    import base64

    import cv2
    import numpy as np

    card = page16.locator("article.card", has=page16.locator(".oid", has_text="O13"))
    srcs = card.locator("figure img").evaluate_all("imgs => imgs.map(i => i.src)")
    lumas = [cv2.imdecode(np.frombuffer(base64.b64decode(s.split(",", 1)[1]), np.uint8), cv2.IMREAD_GRAYSCALE).mean()
             for s in srcs]
    captions = card.locator("figcaption").all_inner_texts()
    assert captions[0] == "packing photo (photos/O13.jpg)" and lumas[0] < 20  # the original, as judged
    assert captions[1].startswith("the same photo brightened for viewing") and lumas[1] > max(60, 4 * lumas[0])
    assert page16.locator("figure.brightened").count() == 1  # only the dark photo


def test_passed_orders_have_thumbnails(page16):
    """#16: "passed orders have no thumbnails"."""
    rows = page16.locator("tr[data-status=PASS]")
    assert rows.count() >= 3
    assert rows.locator("img.zoom").evaluate_all("imgs => imgs.map(i => i.naturalWidth > 0)") == [True] * rows.count()


def test_per_station_table_includes_orders_without_a_station(page16):
    """#16: "the per-station table leaves out orders without a station"."""
    row = page16.locator('table[data-counts=station] tr[data-name=""]')
    # O12 (PASS) and the row without an order id (ERROR) have no station
    assert row.locator("td").all_inner_texts()[:6] == ["(no station)", "2", "1", "0", "0", "1"]
    totals = page16.eval_on_selector_all("table[data-counts=station] tbody tr",
                                         "rows => rows.map(r => +r.cells[1].textContent)")
    assert sum(totals) == page16.locator("[data-status]").count()


def test_a_filter_with_no_match_says_so(page16):
    """#16: "a filter with no match shows empty headings"."""
    assert not page16.locator("#f-none").is_visible()
    page16.fill("#f-sku", "no-such-sku")
    assert page16.locator("#f-none").is_visible()
    assert page16.locator("#f-none").inner_text() == "No orders match these filters."
    assert page16.locator("section[data-section]:visible").count() == 0
    assert page16.locator("h2", has_text="Orders that need a person").is_hidden()
    assert page16.locator('table[data-counts=sku] tbody').inner_text().strip() == "no orders match"


def test_per_sku_and_per_station_tables_follow_the_filters(page16):
    """#16: "the per-SKU and per-station tables ignore the filters"."""
    before = {k: page16.locator(f"table[data-counts={k}] tbody").inner_html() for k in ("sku", "station")}
    page16.select_option("#f-status", "FLAG")
    flagged = page16.eval_on_selector_all("[data-status]:not([hidden])",
                                          "els => els.map(e => [JSON.parse(e.dataset.skus), e.dataset.station])")
    assert flagged and all(True for _ in flagged)
    sku_rows = page16.eval_on_selector_all("table[data-counts=sku] tbody tr", "rows => rows.map(r => "
                                           "[r.dataset.name, +r.cells[2].textContent, +r.cells[4].textContent])")
    expected = {}
    for skus, _ in flagged:
        for sku in set(skus):
            expected[sku] = expected.get(sku, 0) + 1
    assert {name: flag for name, _, flag in sku_rows} == expected
    assert all(passed == 0 for _, passed, _ in sku_rows)
    stations = page16.eval_on_selector_all("table[data-counts=station] tbody tr",
                                           "rows => rows.map(r => [r.dataset.name, +r.cells[1].textContent])")
    assert sum(n for _, n in stations) == len(flagged)
    page16.select_option("#f-status", "")
    assert {k: page16.locator(f"table[data-counts={k}] tbody").inner_html() for k in before} == before


def test_error_has_one_colour_in_the_report(page16):
    """#16: "ERROR is red on the evidence sheet but purple elsewhere" (the kiosk and sheet tests check theirs)."""
    from packcheck.apps.present import STATUS_RGB

    r, g, b = STATUS_RGB["ERROR"]
    assert page16.eval_on_selector(".badge.ERROR", "e => getComputedStyle(e).backgroundColor") == f"rgb({r}, {g}, {b})"


def test_station_overrides_are_listed_and_the_unsafe_ones_marked(page16):
    """#14 ("the HTML report ... show ... unauthenticated or evidence-less overrides clearly") and work
    package B item 7 (an ERROR overridden is "shipped without evidence" in the report too): with
    `audit --db`, every override of the station is listed, and shown on its order."""
    section = page16.locator("h2:text('Shipped at the station by override') + p").inner_text()
    assert section == "3 override(s) in evidence.sqlite: 1 shipped without evidence, 1 not authenticated."
    rows = page16.locator("table.overrides tr.override")
    assert rows.count() == 3
    unsafe = page16.locator("table.overrides tr.unsafe").all_inner_texts()
    assert [x.split("\t")[0] for x in unsafe] == ["O14", "O9"]
    assert "SHIPPED WITHOUT EVIDENCE" in unsafe[0] and "NOT AUTHENTICATED" in unsafe[1]
    card = page16.locator("article.card", has=page16.locator(".oid", has_text="O2")).first
    assert card.locator(".override").inner_text().startswith("station: FLAG overridden by maria (code checked)")
    error_card = page16.locator("article.card", has=page16.locator(".oid", has_text="O14")).first
    line = error_card.locator(".override.unsafe")
    assert "SHIPPED WITHOUT EVIDENCE" in line.inner_text()
    assert line.evaluate("e => getComputedStyle(e).fontWeight") == "700"
    passed = page16.locator("section[data-section=passed] tr", has=page16.locator("td", has_text="O9")).first
    assert "NOT AUTHENTICATED" in passed.locator(".override.unsafe").inner_text()


def test_the_stations_summary_is_a_table_of_the_report(page16):
    """#18 "a per-station summary (checks, FLAG/REVIEW rates, overrides, median photo-to-verdict time) for
    operations, in the terminal and in the HTML report": with `audit --db`, the report shows the summary
    `history --stations` prints, one row per station of the evidence store, names escaped."""
    table = page16.locator("table.stations")
    assert table.locator("th").all_inner_texts() == ["station", "checks", "FLAG", "REVIEW", "ERROR", "overrides",
                                                     "photo->verdict (median)"]
    rows = [r.split("\t") for r in table.locator("tbody tr").all_inner_texts()]
    assert rows == [["-", "2", "0.0%", "50.0%", "1", "2", "-"],
                    [HOSTILE_STATION, "1", "100.0%", "0.0%", "0", "0", "250 ms"],
                    ["B", "1", "100.0%", "0.0%", "0", "1", "-"]]
    assert table.locator("img").count() == 0 and page16.title() != "1"
    # The audit's filters recount this audit's orders, never the stations' recorded checks.
    page16.select_option("#f-status", "ERROR")
    assert [r.split("\t") for r in table.locator("tbody tr").all_inner_texts()] == rows

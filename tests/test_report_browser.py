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

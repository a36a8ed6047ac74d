"""The kiosk page: its HTTP endpoints, and a real headless Chromium following a live station session."""
from __future__ import annotations

import http.client
import json
import os
import re
from pathlib import Path

import pytest

from packcheck.apps.evidence.store import EvidenceStore, PhotoInput
from packcheck.apps.kiosk import Kiosk
from packcheck.apps.station import Outcome
from packcheck.core.verdict import Status

from test_evidence import verdict_for
from test_station import (  # noqa: F401 - station_data is a fixture
    SUPERVISOR_CODE, StationProcess, jpeg, make_supervisors, scene_jpeg, scene_rgb, station_data,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture
def kiosk(tmp_path):
    store = EvidenceStore.open(tmp_path / "evidence.sqlite")
    k = Kiosk(store, port=0).start()
    yield k
    k.close()
    store.close()


def _get(k: Kiosk, path: str, host: str | None = None):
    conn = http.client.HTTPConnection(k.host, k.port, timeout=10)
    conn.request("GET", path, headers={"Host": host or f"127.0.0.1:{k.port}"})
    r = conn.getresponse()
    return r, r.read()


def _publish_check(k: Kiosk, order_id: str, photo: bytes, status=Status.PASS, *, message=None):
    rec = k.store.record_check(verdict_for(order_id, [photo], status, message=message),
                               photos=[PhotoInput(photo, f"{order_id}.jpg")])
    out = Outcome("check", rec.message, record=rec)
    k.publish(out)
    return rec


def test_page_and_endpoints(kiosk):
    r, body = _get(kiosk, "/")
    assert r.status == 200 and r.getheader("Content-Type") == "text/html; charset=utf-8"
    assert r.getheader("Content-Security-Policy").startswith("default-src 'self'")
    assert not re.search(rb"(src|href)=\"(https?:)?//", body)  # nothing loaded from elsewhere
    r, body = _get(kiosk, "/api/state")
    assert json.loads(body) == {"seq": 0, "verdict": None, "notice": None}
    photo = jpeg(scene_rgb("SHIRT-RED"))
    rec = _publish_check(kiosk, "O1", photo)
    state = json.loads(_get(kiosk, "/api/state")[1])
    assert state["seq"] == 1 and state["verdict"]["status"] == "PASS" and state["verdict"]["check_id"] == rec.id
    r, body = _get(kiosk, state["verdict"]["photo"])
    assert (r.status, r.getheader("Content-Type"), body) == (200, "image/jpeg", photo)
    assert _get(kiosk, "/blob/../../evidence.sqlite")[0].status == 404
    assert _get(kiosk, "/blob/" + "0" * 64 + ".jpg")[0].status == 404
    assert _get(kiosk, "/nope")[0].status == 404
    # Another host name (DNS rebinding from a web page) gets nothing.
    assert _get(kiosk, "/api/state", host="evil.example:80")[0].status == 403
    kiosk.publish(Outcome("rejected", "order 'X' is not in orders.csv"))
    assert json.loads(_get(kiosk, "/api/state")[1])["notice"]["text"] == "order 'X' is not in orders.csv"


def test_event_stream_delivers_each_new_state(kiosk):
    conn = http.client.HTTPConnection(kiosk.host, kiosk.port, timeout=10)
    conn.request("GET", "/events", headers={"Host": f"127.0.0.1:{kiosk.port}"})
    r = conn.getresponse()
    assert r.getheader("Content-Type").startswith("text/event-stream")

    def next_event():
        data = None
        while True:
            line = r.fp.readline().decode().rstrip("\n")
            if line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "" and data is not None:
                return data

    assert next_event()["seq"] == 0
    _publish_check(kiosk, "O2", jpeg(scene_rgb("SHIRT-GRN")), Status.FLAG)
    ev = next_event()
    assert (ev["seq"], ev["verdict"]["status"], ev["verdict"]["reasons"]) == (1, "FLAG", ["green Shirt found, red ordered"])
    conn.close()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
def test_kiosk_follows_a_live_session_in_headless_chromium(tmp_path, station_data):  # noqa: F811 - fixture
    """A live session, and what #16 asks of the kiosk: no broken images when idle, "waiting for photo"
    at once after a scan (never the previous verdict), DO NOT SEAL, the "looks like" image beside the
    photo, each reason once, ERROR in the one ERROR colour; overrides need the supervisor's code (#14)."""
    from playwright.sync_api import expect, sync_playwright

    from packcheck.apps.present import STATUS_RGB

    photos = tmp_path / "camera"
    photos.mkdir()
    (photos / "O1.jpg").write_bytes(scene_jpeg("SHIRT-RED", seed=1))
    (photos / "O2.jpg").write_bytes(scene_jpeg("SHIRT-GRN", seed=2))
    supervisors = make_supervisors(tmp_path / "private" / "supervisors.json")
    st = StationProcess(["--data", str(station_data), "--db", str(tmp_path / "evidence.sqlite"), "--photo-dir",
                         str(photos), "--timeout", "6", "--station", "bench-3", "--web", "--port", "0",
                         "--supervisors", str(supervisors)])

    def header_rgb(page):
        return page.eval_on_selector("header", "e => getComputedStyle(e).backgroundColor")

    try:
        url = st.expect(r"^kiosk page: (http://127\.0\.0\.1:\d+/)$", stream="err").group(1)
        st.expect(r"^station ready", stream="err")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                requests = []
                page.on("request", lambda req: requests.append(req.url))
                page.goto(url)
                expect(page.locator("#status")).to_have_text("READY")
                expect(page.locator("#live")).to_have_text("live")
                assert page.locator("img:visible").count() == 0  # idle: no broken-image icons
                assert page.locator("figure:visible").count() == 0

                st.send("O1")
                expect(page.locator("#status")).to_have_text("PASS", timeout=30_000)
                expect(page.locator("body")).to_have_class("status-PASS")
                expect(page.locator("#order")).to_have_text("order O1")
                for img in ("#photo", "#listing"):
                    page.wait_for_function(f"document.querySelector('{img}').naturalWidth > 0")
                assert page.eval_on_selector("#listing", "e => e.naturalWidth") == 400
                expect(page.locator("#instruction")).to_be_hidden()

                # No photo of O4 will come: for the 6 s the station waits, the page must not show O1's PASS.
                st.send("O4")
                expect(page.locator("#order")).to_have_text("O4: waiting for photo (up to 6 s)", timeout=3_000)
                expect(page.locator("#status")).to_have_text("WAIT")
                assert page.locator("img:visible").count() == 0
                expect(page.locator("#status")).to_have_text("ERROR", timeout=30_000)
                r, g, b = STATUS_RGB["ERROR"]
                assert header_rgb(page) == f"rgb({r}, {g}, {b})"
                expect(page.locator("#instruction")).to_have_text(re.compile(r"^DO NOT SEAL: the order could not"))

                st.send("O2")
                expect(page.locator("#status")).to_have_text("FLAG", timeout=30_000)
                expect(page.locator("body")).to_have_class("status-FLAG")
                r, g, b = STATUS_RGB["FLAG"]
                assert header_rgb(page) == f"rgb({r}, {g}, {b})"
                expect(page.locator("#instruction")).to_have_text(re.compile(r"^DO NOT SEAL: fix the box"))
                # The wording belongs to the core checks; the colours are what the packer must read.
                expect(page.locator("#reasons")).to_contain_text(re.compile(r"green\b.* found, red ordered"))
                reasons = page.locator("#reasons li").all_inner_texts()
                assert len(reasons) == len(set(reasons))
                assert sum(bool(re.search(r"found, red ordered", x)) for x in reasons) == 1
                # The SKU the verdict names: "looks like" when the item check names it, "colour of" when
                # the variant check does (a sibling's colour on the ordered product).
                expect(page.locator("#lookalike-cap")).to_have_text(
                    re.compile(r"^(looks like|colour of): SHIRT-GRN Shirt \(green\)"))
                page.wait_for_function("document.querySelector('#lookalike').naturalWidth > 0")
                page.screenshot(path=str(tmp_path / "kiosk-flag.png"))

                # Text is shown as text: markup in an override reason is not interpreted.
                st.send("!ok maria <img src=x onerror=alert(1)> buyer agreed")
                st.send(SUPERVISOR_CODE)
                expect(page.locator("#override")).to_contain_text("overridden by maria (code checked) at",
                                                                  timeout=30_000)
                expect(page.locator("#override")).to_contain_text(": <img src=x onerror=alert(1)> buyer agreed")
                expect(page.locator("#status")).to_have_text("FLAG")
                expect(page.locator("#badge")).to_be_visible()
                expect(page.locator("body")).to_have_class("status-FLAG overridden")
                assert page.locator("#override img").count() == 0

                st.send("NOPE-1")
                expect(page.locator("#notice")).to_contain_text("order 'NOPE-1' is not in", timeout=30_000)
                expect(page.locator("#status")).to_have_text("READY")  # O2's verdict is not NOPE-1's
                if os.environ.get("PACKCHECK_KIOSK_SCREENSHOT"):
                    page.screenshot(path=os.environ["PACKCHECK_KIOSK_SCREENSHOT"])
                assert all(u.startswith(url) for u in requests), requests
            finally:
                browser.close()
        assert st.finish() == 0
    finally:
        st.kill()

"""The packing station: sessions driven through stdin, photo sources, crash safety.

The data folder is drawn here with OpenCV (four SKUs: a red and a green shirt
that are sibling variants, a blue mug, an orange star toy), so these tests do
not depend on sample_data. ``make_station_data`` and ``StationProcess`` are
also used by test_evidence.py and test_kiosk_browser.py.
"""
from __future__ import annotations

import csv
import hashlib
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from packcheck.apps.evidence.store import EvidenceStore
from packcheck.apps.station import CameraSource, FolderSource, Station, parse_line, photo_complete
from packcheck.cli import cli
from packcheck.core.imaging import jpeg_end
from packcheck.core.verdict import Status
from packcheck.errors import CameraError, ImageMissing, ImageStillWriting

# ---------------------------------------------------------------- a small data folder
COLOURS = {"red": (200, 30, 30), "green": (30, 160, 40), "blue": (30, 60, 200), "orange": (240, 140, 20)}
SKUS = {  # sku: (product_id, title, variant, shape)
    "SHIRT-RED": ("P1", "Shirt", "red", "shirt"),
    "SHIRT-GRN": ("P1", "Shirt", "green", "shirt"),
    "MUG-BLU": ("P2", "Mug", "blue", "mug"),
    "STAR-ORG": ("P3", "Star toy", "orange", "star"),
}
#: order id -> ordered SKU. Photos are written by each test, not listed here.
ORDERS = {"O1": "SHIRT-RED", "O2": "SHIRT-RED", "O3": "MUG-BLU", "O4": "MUG-BLU",
          **{f"K{i:02d}": "SHIRT-RED" for i in range(1, 13)}}


def draw(img: np.ndarray, shape: str, cx: int, cy: int, s: int, colour) -> None:
    if shape == "shirt":
        pts = np.array([(-1, -1), (-.4, -1.2), (.4, -1.2), (1, -1), (1.5, -.4), (1, -.1), (.8, -.4), (.8, 1.2),
                        (-.8, 1.2), (-.8, -.4), (-1, -.1), (-1.5, -.4)])
        cv2.fillPoly(img, [(pts * s + (cx, cy)).astype(np.int32)], colour)
        cv2.putText(img, "PK", (int(cx - s * .4), int(cy + s * .2)), cv2.FONT_HERSHEY_SIMPLEX, s / 60,
                    (255, 255, 255), max(1, s // 30))
    elif shape == "mug":
        cv2.rectangle(img, (int(cx - s * .8), int(cy - s)), (int(cx + s * .6), int(cy + s)), colour, -1)
        cv2.ellipse(img, (int(cx + s * .6), cy), (int(s * .5), int(s * .6)), 0, -90, 90, colour, int(s * .15))
        cv2.circle(img, (int(cx - s * .1), cy), int(s * .35), (240, 240, 40), -1)
    else:
        a = np.linspace(0, 2 * np.pi, 11)[:-1]
        r = np.where(np.arange(10) % 2 == 0, s, s * .45)
        cv2.fillPoly(img, [np.stack([cx + r * np.sin(a), cy - r * np.cos(a)], 1).astype(np.int32)], colour)
        cv2.circle(img, (cx, cy), int(s * .2), (20, 20, 20), -1)


def scene_rgb(sku: str, *, seed: int = 0, size=(1280, 960)) -> np.ndarray:
    """A packing photo: the SKU's product on a noisy brown bench."""
    w, h = size
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (150, 110, 70)
    img = (img + rng.normal(0, 6, img.shape)).clip(0, 255).astype(np.uint8)
    _, _, variant, shape = SKUS[sku]
    draw(img, shape, w // 2 + int(rng.integers(-40, 40)), h // 2, int(h * .24), COLOURS[variant])
    return img


def jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    return cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def scene_jpeg(sku: str, *, seed: int = 0) -> bytes:
    return jpeg(scene_rgb(sku, seed=seed))


def make_station_data(root: Path) -> Path:
    """catalogue.csv with listing images, orders.csv; returns root."""
    (root / "listings").mkdir(parents=True, exist_ok=True)
    with open(root / "catalogue.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sku", "product_id", "title", "variant", "listing_images"])
        for sku, (pid, title, variant, shape) in SKUS.items():
            img = np.full((400, 400, 3), 255, np.uint8)
            draw(img, shape, 200, 200, 110, COLOURS[variant])
            cv2.imwrite(str(root / "listings" / f"{sku}.png"), img[:, :, ::-1])
            w.writerow([sku, pid, title, variant, f"listings/{sku}.png"])
    with open(root / "orders.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["order_id", "sku", "qty", "photo"])
        for oid, sku in ORDERS.items():
            w.writerow([oid, sku, 1, f"photos/{oid}.jpg"])
        w.writerow(["BADQTY", "SHIRT-RED", "two", "photos/BADQTY.jpg"])
    return root


@pytest.fixture(scope="session")
def station_data(tmp_path_factory) -> Path:
    return make_station_data(tmp_path_factory.mktemp("station_data"))


@pytest.fixture(scope="session")
def checker(station_data):
    from packcheck.apps.checker import Checker

    return Checker.open(station_data)  # builds DATA/.packcheck-cache once for every test and subprocess


SUPERVISOR_CODE = "4711"


def make_supervisors(path: Path, name: str = "maria", code: str = SUPERVISOR_CODE) -> Path:
    """A supervisors file (mode 0600) outside the data folder with one supervisor."""
    from packcheck.apps.supervisors import add_supervisor

    add_supervisor(path, name, code)
    return path


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name("." + path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_in_two_halves(path: Path, data: bytes, *, pause_s: float, delay_s: float = 0.0) -> threading.Thread:
    """A camera app that writes half the photo, pauses, then the rest (in a started thread)."""

    def camera_app():
        time.sleep(delay_s)
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
            time.sleep(pause_s)
            f.write(data[len(data) // 2:])

    t = threading.Thread(target=camera_app)
    t.start()
    return t


# ---------------------------------------------------------------- a station in a subprocess
class StationProcess:
    """``packcheck station`` in a subprocess, driven line by line like a barcode scanner."""

    def __init__(self, args: list[str], *, cwd: Path | None = None):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "packcheck", "station", *args], cwd=cwd, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.lines: dict[str, list[str]] = {"out": [], "err": []}
        self._q: dict[str, queue.Queue] = {"out": queue.Queue(), "err": queue.Queue()}
        for name, stream in (("out", self.proc.stdout), ("err", self.proc.stderr)):
            threading.Thread(target=self._pump, args=(name, stream), daemon=True).start()

    def _pump(self, name, stream):
        for line in stream:
            self._q[name].put(line.rstrip("\n"))
        self._q[name].put(None)

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, pattern: str, *, stream: str = "out", timeout: float = 60.0) -> re.Match:
        """Read lines of ``stream`` until one matches ``pattern``."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            try:
                line = self._q[stream].get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s; got:\n"
                                     + "\n".join(self.lines[stream][-30:])) from None
            if line is None:
                raise AssertionError(f"station ended before {pattern!r}; exit {self.proc.wait()}; stdout:\n"
                                     + "\n".join(self.lines["out"][-30:]) + "\nstderr:\n"
                                     + "\n".join(self.lines["err"][-30:]))
            self.lines[stream].append(line)
            m = rx.search(line)
            if m:
                return m

    def finish(self, timeout: float = 60.0) -> int:
        """Close stdin (EOF) and wait for the summary and exit."""
        self.proc.stdin.close()
        code = self.proc.wait(timeout=timeout)
        for name in ("out", "err"):
            while True:
                line = self._q[name].get(timeout=10)
                if line is None:
                    break
                self.lines[name].append(line)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


# ---------------------------------------------------------------- what lines mean
@pytest.mark.parametrize("line, kind, fields", [
    ("O-1001\n", "order", {"order_id": "O-1001"}),
    ("  O-1001  \r\n", "order", {"order_id": "O-1001"}),
    ("!ok maria customer agreed to green", "override", {"supervisor": "maria", "reason": "customer agreed to green"}),
    ("override SUP-7 lid scratched, buyer told", "override", {"supervisor": "SUP-7", "reason": "lid scratched, buyer told"}),
    ("!OK maria", "malformed", {}),
    ("!help", "help", {}),
    ("!quit", "quit", {}),
    ("", "empty", {}),
    ("O 1001", "malformed", {}),
    ("O\x1b[1001", "malformed", {}),
    ("X" * 65, "malformed", {}),
    ("!frobnicate", "malformed", {}),
])
def test_parse_line(line, kind, fields):
    cmd = parse_line(line)
    assert cmd.kind == kind
    for k, v in fields.items():
        assert getattr(cmd, k) == v


# ---------------------------------------------------------------- is a photo whole?
def test_jpeg_end_sees_truncation_past_an_exif_thumbnail():
    main = jpeg(scene_rgb("SHIRT-RED"))
    thumb = jpeg(cv2.resize(scene_rgb("SHIRT-RED"), (160, 120)))
    payload = b"Exif\0\0" + thumb
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    whole = main[:2] + app1 + main[2:]
    assert jpeg_end(whole) == len(whole)
    # The thumbnail's end marker lies in the last 4 KB of this half-written file; it must not count.
    half = whole[:2 + len(app1) + 3000]
    assert jpeg_end(half) is None
    assert jpeg_end(main[: len(main) // 2]) is None
    assert photo_complete(main) is True


def test_photo_complete_png_webp_and_unknown():
    png = cv2.imencode(".png", np.zeros((20, 20, 3), np.uint8))[1].tobytes()
    webp = cv2.imencode(".webp", np.zeros((20, 20, 3), np.uint8))[1].tobytes()
    assert photo_complete(png) is True and photo_complete(png[:-12]) is False
    assert photo_complete(webp) is True and photo_complete(webp[:-5]) is False
    assert photo_complete(b"BM....") is False  # too short to hold a BMP header (see test_station_trust.py)
    assert photo_complete(b"GIF89a....") is None
    assert photo_complete(b"") is False


# ---------------------------------------------------------------- photo folder
def test_folder_source_prefers_order_named_file_then_newest_new_image(tmp_path):
    src = FolderSource(tmp_path, poll_s=0.01)
    old = tmp_path / "IMG_0001.jpg"
    old.write_bytes(scene_jpeg("MUG-BLU"))
    named = tmp_path / "O1.jpg"
    named.write_bytes(scene_jpeg("SHIRT-RED"))
    before = src.snapshot()
    assert [p.name for p in src.take("O1", before, timeout_s=1)] == ["O1.jpg"]
    # Already judged and unchanged: a rescan waits for a new photo, and when none comes judges it again (#16).
    [again] = src.take("O1", src.snapshot(), timeout_s=0.3)
    assert (again.name, again.again, again.data) == ("O1.jpg", True, named.read_bytes())
    # The camera app rewrites O1.jpg in place (the folder's own mtime does not change).
    before = src.snapshot()
    threading.Timer(0.2, named.write_bytes, (scene_jpeg("SHIRT-RED", seed=9),)).start()
    assert [p.data for p in src.take("O1", before, timeout_s=5)] == [named.read_bytes()]
    before = src.snapshot()
    threading.Timer(0.2, write_atomically, (tmp_path / "IMG_0002.jpg", scene_jpeg("SHIRT-RED", seed=2))).start()
    [photo] = src.take("O1", before, timeout_s=5)
    assert photo.name == "IMG_0002.jpg" and photo.waited_s >= 0.15
    # Several views of one order: ORDER_ID_*.
    (tmp_path / "O7_b.jpg").write_bytes(scene_jpeg("SHIRT-RED", seed=8))
    (tmp_path / "O7_a.png").write_bytes(cv2.imencode(".png", scene_rgb("SHIRT-RED"))[1].tobytes())
    assert [p.name for p in src.take("O7", src.snapshot(), timeout_s=1)] == ["O7_a.png", "O7_b.jpg"]
    # Hidden and non-image files are never taken.
    before = src.snapshot()
    (tmp_path / ".IMG_0003.jpg.part").write_bytes(scene_jpeg("SHIRT-RED"))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ImageMissing):
        src.take("O2", before, timeout_s=0.2)


def test_folder_source_waits_for_a_photo_written_in_two_halves(tmp_path):
    data = scene_jpeg("SHIRT-RED", seed=3)
    src = FolderSource(tmp_path, poll_s=0.01)
    before = src.snapshot()

    t = write_in_two_halves(tmp_path / "IMG_0100.jpg", data, pause_s=0.6)
    [photo] = src.take("O1", before, timeout_s=10)
    t.join()
    assert photo.data == data  # never the half
    assert photo.waited_s >= 0.5


def test_folder_source_gives_up_on_a_photo_that_never_completes(tmp_path):
    src = FolderSource(tmp_path, poll_s=0.01)
    before = src.snapshot()
    data = scene_jpeg("SHIRT-RED")
    (tmp_path / "IMG_0200.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageStillWriting, match=r"IMG_0200.jpg was still being written 0.3 s after the scan of O1"):
        src.take("O1", before, timeout_s=0.3)


def test_folder_source_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ImageMissing, match="photo folder .*nope does not exist"):
        FolderSource(tmp_path / "nope")


# ---------------------------------------------------------------- camera
class FakeCapture:
    def __init__(self, frames, opened=True):
        self.frames = list(frames)
        self.opened = opened
        self.released = False

    def isOpened(self):
        return self.opened

    def grab(self):
        return True

    def read(self):  # the last frame repeats, as a camera looking at a still scene
        if not self.frames:
            return False, None
        return True, self.frames.pop(0) if len(self.frames) > 1 else self.frames[0]

    def release(self):
        self.released = True


def test_camera_source_takes_a_frame_as_jpeg():
    frame = scene_rgb("SHIRT-RED")[:, :, ::-1].copy()
    cam = CameraSource(0, open_capture=lambda i: FakeCapture([frame]))
    [photo] = cam.take("O1", None, timeout_s=5)
    assert photo.data[:3] == b"\xff\xd8\xff" and jpeg_end(photo.data) is not None
    assert photo.name == "camera 0"
    cam.close()


def test_camera_source_black_frames_missing_camera_and_dead_camera():
    black = np.zeros((480, 640, 3), np.uint8)
    cam = CameraSource(1, open_capture=lambda i: FakeCapture([black]))
    with pytest.raises(CameraError, match=r"camera 1 gives black pictures \(brightness 0 of 255\); check the lens cap"):
        cam.take("O1", None, timeout_s=0.3)
    with pytest.raises(CameraError, match="camera 2 could not be opened: no such camera"):
        CameraSource(2, open_capture=lambda i: FakeCapture([], opened=False))
    dead = CameraSource(3, open_capture=lambda i: FakeCapture([]))
    with pytest.raises(CameraError, match="camera 3 stopped giving pictures"):
        dead.take("O1", None, timeout_s=1)


def test_cli_camera_that_does_not_exist_is_an_error_not_a_traceback(tmp_path, station_data):
    result = CliRunner().invoke(cli, ["station", "--data", str(station_data), "--db", str(tmp_path / "e.sqlite"),
                                      "--camera", "97"], input="")
    assert result.exit_code == 2
    assert "Error: camera 97 could not be opened: no such camera" in result.output
    assert "Traceback" not in result.output


def test_cli_station_needs_exactly_one_photo_source(tmp_path, station_data):
    result = CliRunner().invoke(cli, ["station", "--data", str(station_data), "--db", str(tmp_path / "e.sqlite")])
    assert result.exit_code == 2
    assert result.output.strip() == ("Error: give one photo source: --photo-dir DIR (the folder the camera app "
                                     "saves into) or --camera INDEX")


# ---------------------------------------------------------------- the Station, in process
def test_station_waits_for_a_half_written_photo_and_judges_it_once(tmp_path, checker):
    photos = tmp_path / "camera"
    photos.mkdir()
    store = EvidenceStore.open(tmp_path / "evidence.sqlite")
    bench = Station(checker, store, FolderSource(photos, poll_s=0.01), station="bench-1", timeout_s=15)
    data = scene_jpeg("SHIRT-RED", seed=5)

    t = write_in_two_halves(photos / "IMG_0001.jpg", data, delay_s=0.2, pause_s=0.8)
    out = bench.handle("O1\n")
    t.join()
    assert out.kind == "check"
    assert out.verdict.status is Status.PASS, out.verdict.message
    assert out.verdict.photos == (hashlib.sha256(data).hexdigest(),)
    assert dict(out.timings)["wait_photo"] >= 0.9
    assert store.count() == 1
    store.close()


def test_station_records_bad_order_without_waiting_and_refuses_needless_overrides(tmp_path, checker, evidence_db):
    """Also #18: on either evidence backend (a SQLite file, a shared PostgreSQL store)."""
    db, photos_dir = evidence_db
    store = EvidenceStore.open(db, photos_dir=photos_dir)
    bench = Station(checker, store, FolderSource(tmp_path, poll_s=0.01), timeout_s=30)
    assert bench.handle("!ok maria because").text == "nothing to override: no order has been checked in this session"
    t = time.perf_counter()
    out = bench.handle("BADQTY")
    assert time.perf_counter() - t < 5  # no 30 s wait for a photo of an order that cannot be judged
    assert out.verdict.status is Status.ERROR and "'two' is not a whole number" in out.verdict.message
    (tmp_path / "O1.jpg").write_bytes(scene_jpeg("SHIRT-RED"))
    assert bench.handle("O1").verdict.status is Status.PASS
    assert bench.handle("!ok maria because").text == "nothing to override: the last check (order O1) passed"
    s = bench.summary()
    assert (s.checks, s.by_status, s.rejected) == (2, {"ERROR": 1, "PASS": 1}, 2)
    assert [r.order_id for r in s.unresolved] == ["BADQTY"]
    store.close()


# ---------------------------------------------------------------- whole sessions
def test_cli_session_through_stdin(tmp_path, station_data, evidence_db):
    """CliRunner: exact messages for a pass, an unknown id, a garbled scan, help and EOF; #18: on either
    evidence backend (PostgreSQL given as PACKCHECK_DB and PACKCHECK_PHOTOS)."""
    photos = tmp_path / "camera"
    photos.mkdir()
    (photos / "O1.jpg").write_bytes(scene_jpeg("SHIRT-RED"))
    db, photos_dir = evidence_db
    env = {"PACKCHECK_DB": str(db), "PACKCHECK_PHOTOS": str(photos_dir) if photos_dir else None}
    lines = "O1\nNOPE-42\nO1 O2\n\n!help\n!ok maria fine\n"
    result = CliRunner().invoke(cli, ["station", "--data", str(station_data), "--photo-dir",
                                      str(photos), "--timeout", "2", "--operator", "ana"], input=lines, env=env)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "PASS" in out and "order O1" in out and "recorded as check #1, photo O1.jpg" in out
    assert f"!  order 'NOPE-42' is not in {station_data / 'orders.csv'}; check the barcode and scan again" in out
    assert "!  'O1 O2' is not an order id (it has spaces or control characters); scan again" in out
    assert "!ok SUPERVISOR REASON...    let the last checked box ship anyway" in out
    # The !ok comes after rejected scans (an unknown id, a garbled one): it is about nothing, not about O1 (#16).
    assert "!  nothing to override: the last scan (O1 O2) was not checked; scan the order first" in out
    assert "O1: waiting for photo (up to 2 s)" in out
    assert out.rstrip().endswith(
        "session ended: 1 check (1 PASS), 0 overrides, 0 rescans, 3 lines rejected")
    assert "station ready: 4 SKUs" in result.stderr
    with EvidenceStore.open(db, create=False, photos_dir=photos_dir) as store:
        [rec] = store.history()
        assert store.read_blob(rec.photos[0]) == (photos / "O1.jpg").read_bytes()
    assert (rec.order_id, rec.status, rec.operator) == ("O1", Status.PASS, "ana")


@pytest.mark.slow
def test_session_end_to_end_pass_flag_rescan_override_unknown_timeout(tmp_path, station_data):
    """A subprocess driven line by line: every kind of line a bench produces, then the evidence."""
    photos = tmp_path / "camera"
    photos.mkdir()
    (photos / "O1.jpg").write_bytes(scene_jpeg("SHIRT-RED", seed=1))
    (photos / "O2.jpg").write_bytes(scene_jpeg("SHIRT-GRN", seed=2))  # red ordered, green packed
    (photos / "O3.jpg").write_bytes(scene_jpeg("STAR-ORG", seed=3))  # mug ordered, star packed
    db = tmp_path / "ev" / "evidence.sqlite"
    supervisors = make_supervisors(tmp_path / "private" / "supervisors.json")
    st = StationProcess(["--data", str(station_data), "--db", str(db), "--photo-dir", str(photos),
                         "--timeout", "3", "--station", "bench-7", "--operator", "ana", "--verbose",
                         "--supervisors", str(supervisors)])
    try:
        st.send("O1")
        st.expect(r"^O1: waiting for photo \(up to 3 s\)$")
        st.expect(r"^\s+PASS\s+$")
        st.expect(r"recorded as check #1, photo O1.jpg")
        st.expect(r"station: wait_photo \d+ ms, reuse \d+ ms, evidence \d+ ms, photo_to_verdict \d+ ms")
        st.send("O2")
        st.expect(r"^\s+FLAG\s+$")
        st.expect(r"green\b.* found, red ordered")
        st.expect(r"recorded as check #2")
        st.expect(r"DO NOT SEAL: fix the box and scan the order again, or call a supervisor \(order O2;")
        # The packer swaps in the red shirt and scans again; the camera app writes a new photo.
        st.send("O2")
        time.sleep(0.3)
        write_atomically(photos / "IMG_0002.jpg", scene_jpeg("SHIRT-RED", seed=4))
        st.expect(r"^\s+PASS\s+$")
        st.expect(r"recorded as check #3 \(rescan; previous check #2\), photo IMG_0002.jpg")
        st.send("O3")
        st.expect(r"^\s+FLAG\s+$")
        st.expect(r"STAR-ORG")
        st.send("!ok maria buyer accepted the star toy by phone")
        st.send(SUPERVISOR_CODE)  # the station asks for maria's code; a badge scanner types it on the next line
        st.expect(r"^OVERRIDE  order O3: FLAG \(wrong_item: .*STAR-ORG.*\) overridden by maria \(code checked\): "
                  r"buyer accepted the star toy by phone \(check #4\); the box may ship$")
        st.send("!ok maria twice")
        st.expect(r"^!  order O3 \(check #4\) is already overridden$")
        st.send("XX-404")
        st.expect(r"^!  order 'XX-404' is not in .*orders.csv; check the barcode and scan again$")
        st.send("O4")  # nothing appears in the folder
        st.expect(r"^\s+ERROR\s+$", timeout=30)
        st.expect(r"no photo of order O4 appeared in .*camera within 3 s; take the photo, then scan the order again")
        st.expect(r"recorded as check #5")
        code = st.finish()
    finally:
        st.kill()
    assert code == 0
    out = "\n".join(st.lines["out"])
    assert out.count("\a") == 2  # a bell for each FLAG
    assert ("session ended: 5 checks (1 ERROR, 2 FLAG, 2 PASS), 1 override, 1 rescan, 2 lines rejected"
            in st.lines["out"][-2])
    assert st.lines["out"][-1].startswith("  NOT RESOLVED: order O4 is ERROR (check #5)")

    with EvidenceStore.open(db, create=False) as store:
        recs = store.history()
        assert [(r.order_id, r.status.value, r.previous_check_id) for r in recs] == [
            ("O1", "PASS", None), ("O2", "FLAG", None), ("O2", "PASS", 2), ("O3", "FLAG", None), ("O4", "ERROR", None)]
        assert all(r.station == "bench-7" and r.operator == "ana" for r in recs)
        assert [(o.supervisor, o.reason) for o in recs[3].overrides] == [("maria", "buyer accepted the star toy by phone")]
        assert recs[1].photo_sha256 == (hashlib.sha256((photos / "O2.jpg").read_bytes()).hexdigest(),)
        # the ordered listing, and the sibling the photo looks like (the kiosk and the sheet show it beside)
        assert [f.sku for f in recs[1].listings] == ["SHIRT-RED", "SHIRT-GRN"]
        assert recs[1].extra["looks_like"]["sku"] == "SHIRT-GRN"
        assert store.verify_files() == []

    # The evidence of the flagged-then-fixed order holds both checks and verifies.
    runner = CliRunner()
    bundle = tmp_path / "appeal-O2.zip"
    from packcheck.apps.evidence.keys import init_key

    key = init_key(tmp_path / "keys" / "site-key.pem")
    r = runner.invoke(cli, ["evidence", "O2", "--db", str(db), "--out", str(bundle), "--signing-key", str(key.path)])
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"wrote {bundle}: 2 checks of order O2")
    r = runner.invoke(cli, ["evidence", "--verify", str(bundle)])
    assert (r.exit_code, r.output.splitlines()[0]) == (  # 8 files: + the look-alike listing
        0, f"OK: {bundle}: order O2, 2 checks, all 8 files match SHA256SUMS, signature valid")
    import json
    import zipfile

    with zipfile.ZipFile(bundle) as z:
        names = set(z.namelist())
        doc = json.loads(z.read("verdict.json"))
    assert {"sheet.png", "sheet-check-2.png", "verdict.json", "SHA256SUMS", "README.txt"} <= names
    assert sum(n.startswith("photos/check-") for n in names) == 2
    assert [(c["id"], c["status"], c["previous_check_id"]) for c in doc["checks"]] == [(2, "FLAG", None), (3, "PASS", 2)]
    assert doc["latest_status"] == "PASS"

    r = runner.invoke(cli, ["history", "--db", str(db), "--status", "flag"])
    assert r.exit_code == 0
    assert [ln.split()[2] for ln in r.output.splitlines()[1:-1] if ln.split()[0].isdigit()] == ["O2", "O3"]
    assert "overridden by maria (code checked) at" in r.output


@pytest.mark.slow
def test_sigkill_during_a_session_leaves_every_completed_check(tmp_path, station_data):
    photos = tmp_path / "camera"
    photos.mkdir()
    orders = [f"K{i:02d}" for i in range(1, 13)]
    for i, oid in enumerate(orders):
        # Distinct photos, so every check writes a new photo file that a kill can interrupt.
        (photos / f"{oid}.jpg").write_bytes(scene_jpeg("SHIRT-RED", seed=100 + i))
    db = tmp_path / "evidence.sqlite"
    st = StationProcess(["--data", str(station_data), "--db", str(db), "--photo-dir", str(photos), "--timeout", "5"])
    try:
        for oid in orders:
            st.send(oid)
        completed = [int(st.expect(r"recorded as check #(\d+)").group(1)) for _ in range(3)]
        time.sleep(0.15)  # somewhere inside the next check
        os.kill(st.proc.pid, signal.SIGKILL)
        st.proc.wait(timeout=30)
    finally:
        st.kill()
    assert st.proc.returncode == -signal.SIGKILL
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with EvidenceStore.open(db, create=False) as store:
        recs = store.history()
        ids = [r.id for r in recs]
        assert set(completed) <= set(ids)
        assert [r.order_id for r in recs] == orders[: len(recs)]
        for r in recs:
            assert len(r.photos) == 1 and (store.root / r.photos[0].relpath).is_file()
        # No file under its final name holds anything but the bytes its name promises;
        # reopening removed the killed writer's temporary file, if it left one.
        assert store.verify_files() == []
        assert not list(store.blob_root.rglob(".tmp-*"))


# ---------------------------------------------------------------- help
@pytest.mark.parametrize("args", [["station"], ["evidence"], ["history"], ["bench", "station"]])
def test_every_command_has_help_with_an_example(args):
    for flag in ("-h", "--help"):
        result = CliRunner().invoke(cli, [*args, flag])
        assert result.exit_code == 0
        assert "Example" in result.output and f"packcheck {' '.join(args)} " in result.output


# ---------------------------------------------------------------- the demo data
SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.mark.slow
@pytest.mark.skipif(not (SAMPLE_DATA / "orders.csv").exists(), reason="sample_data/ has not been generated")
def test_station_on_sample_data_judges_as_packcheck_check_does(tmp_path):
    """The station's path (bytes from a watched folder) gives the verdict 'packcheck check' gives."""
    import csv as _csv

    from packcheck.apps.checker import Checker

    checker = Checker.open(SAMPLE_DATA)
    with open(SAMPLE_DATA / "orders.csv", newline="") as f:
        order_ids = list(dict.fromkeys(row["order_id"] for row in _csv.DictReader(f)))[:6]
    store = EvidenceStore.open(tmp_path / "evidence.sqlite")
    # enrol=False: a clear PASS would otherwise become a reference photo written into the repository's
    # sample_data/ (references.csv), changing every later check of the demo.
    bench = Station(checker, store, FolderSource(SAMPLE_DATA / "photos", poll_s=0.01), timeout_s=5, enrol=False)
    for oid in order_ids:
        out = bench.handle(oid)
        direct = checker.check_id(oid)
        assert out.kind == "check", out.text
        assert (out.verdict.status, out.verdict.reasons, out.verdict.message, out.verdict.photos) == \
            (direct.status, direct.reasons, direct.message, direct.photos), oid
        assert len(out.record.photos) == len(checker.find(oid).photos)
    assert store.verify_files() == []
    assert not (SAMPLE_DATA / "references.csv").exists()
    store.close()

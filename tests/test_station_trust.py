"""A station you can trust (#16 "The station and the kiosk", #14 station parts).

Each test names the issue item it covers. The data folder is test_station's (a red and a green
shirt that are siblings, a blue mug, an orange star; orders O1, O2 red shirt, O3, O4 blue mug,
K01..K12 red shirt, BADQTY).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import zipfile

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from packcheck.apps.evidence.bundle import write_bundle
from packcheck.apps.evidence.store import EvidenceStore
from packcheck.apps.station import FolderSource, Station, photo_complete
from packcheck.apps.supervisors import SupervisorError, Supervisors, add_supervisor, remove_supervisor
from packcheck.cli import cli
from packcheck.core.imaging import bmp_end, tiff_end
from packcheck.core.verdict import Status
from packcheck.errors import ImageMissing, ImageTooLarge

from test_station import (  # noqa: F401 - checker and station_data are fixtures
    SUPERVISOR_CODE, checker, make_supervisors, scene_jpeg, scene_rgb, station_data, write_in_two_halves,
)


@pytest.fixture
def bench(tmp_path, checker):
    """A Station on an empty photo folder; ``bench.codes`` are the codes the supervisor will type."""
    photos = tmp_path / "camera"
    photos.mkdir()
    store = EvidenceStore.open(tmp_path / "ev" / "evidence.sqlite")
    heard = []
    codes: list[str] = []
    sups = Supervisors.load(make_supervisors(tmp_path / "private" / "supervisors.json"))
    st = Station(checker, store, FolderSource(photos, poll_s=0.01), timeout_s=0.6, listeners=(heard.append,),
                 supervisors=sups, ask_code=lambda prompt: codes.pop(0) if codes else None)
    st.photos, st.heard, st.codes = photos, heard, codes
    yield st
    st.close()
    store.close()


# ---------------------------------------------------------------- #16: the station and the kiosk
def test_a_scan_is_announced_as_waiting_before_its_photo_is_taken(bench):
    """#16: "After a scan, the kiosk keeps showing the previous order's verdict ... show 'ORD-X: waiting for
    photo' at once, on the terminal too" (the terminal and the kiosk are listeners)."""
    (bench.photos / "O1.jpg").write_bytes(scene_jpeg("SHIRT-RED"))
    out = bench.handle("O1")
    assert [(o.kind, o.text) for o in bench.heard] == [("waiting", "O1: waiting for photo (up to 0.6 s)"),
                                                       ("check", out.verdict.message)]


def test_rescanning_an_order_judges_its_photo_again(bench):
    """#16: "Rescanning an order whose photo was already judged says 'no photo of order ORD-1014 appeared'
    although the file is there"."""
    data = scene_jpeg("SHIRT-RED")
    (bench.photos / "O1.jpg").write_bytes(data)
    first = bench.handle("O1")
    again = bench.handle("O1")
    assert again.kind == "check" and again.verdict.status is first.verdict.status is Status.PASS
    assert again.photo == "O1.jpg" and again.record.previous_check_id == first.record.id
    assert again.note == "no new photo came: the photo already taken was judged again"
    assert again.verdict.photos == (hashlib.sha256(data).hexdigest(),)
    assert bench.heard[2].text == "O1: waiting for a new photo (up to 0.6 s; then the photo already taken is judged again)"


def test_an_override_after_a_rejected_scan_is_about_nothing_and_names_the_flag(bench):
    """#16: "An !ok after a rejected scan applies to the previous order and says 'the box may ship' without
    naming the FLAG it overrides"."""
    (bench.photos / "O2.jpg").write_bytes(scene_jpeg("SHIRT-GRN"))  # red ordered, green packed
    flag = bench.handle("O2")
    assert flag.verdict.status is Status.FLAG
    assert bench.handle("NOPE-9").kind == "rejected"
    out = bench.handle("!ok maria buyer agreed")
    assert out.text == "nothing to override: the last scan (NOPE-9) was not checked; scan the order first"
    assert bench.codes == [] and bench.store.history()[-1].overrides == ()
    bench.handle("O2")  # rescanned: the same photo judged again
    bench.codes.append(SUPERVISOR_CODE)
    out = bench.handle("!ok maria buyer agreed")
    assert out.kind == "override"
    assert out.text.startswith(f"order O2: FLAG ({', '.join(flag.verdict.reasons)}: {flag.verdict.message}) "
                               "overridden by maria (code checked): buyer agreed (check #")
    assert out.text.endswith("); the box may ship")


def test_order_ids_in_another_case_are_read_and_mistyped_ones_get_a_suggestion(bench):
    """#16: "Lower-case ids (ord-1001) are rejected with no suggestion; a mistyped order id gets no 'did you
    mean'"."""
    (bench.photos / "K07.jpg").write_bytes(scene_jpeg("SHIRT-RED"))
    out = bench.handle("k07")
    assert out.kind == "check" and out.record.order_id == "K07" and out.note == "'k07' read as K07"
    out = bench.handle("K077")
    assert out.kind == "rejected"
    assert out.text == (f"order 'K077' is not in {bench.checker.root / 'orders.csv'}; did you mean K07? "
                        "Check the barcode and scan again")


# ---------------------------------------------------------------- #14: the station binds photo to order
def test_a_photo_named_for_another_order_is_never_taken_by_the_fallback(bench):
    """#14: "scan ORD-1001, a file ORD-1023.jpg lands in the inbox, and ORD-1001 is judged and recorded on it;
    ORD-1023 then has 'no photo'"."""
    import threading

    threading.Timer(0.15, (bench.photos / "O3.jpg").write_bytes, (scene_jpeg("MUG-BLU"),)).start()
    out = bench.handle("O1")
    assert out.verdict.status is Status.ERROR and out.record.photos == ()
    assert "no photo of order O1 appeared" in out.verdict.message
    out = bench.handle("O3")
    assert (out.kind, out.photo, out.verdict.status) == ("check", "O3.jpg", Status.PASS)


def test_a_photo_already_used_by_another_order_is_refused(bench):
    """#14: "A photo reused for another order is not noticed" (at the station: the same bytes)."""
    data = scene_jpeg("SHIRT-RED", seed=11)
    (bench.photos / "O1.jpg").write_bytes(data)
    first = bench.handle("O1")
    (bench.photos / "O2.jpg").write_bytes(data)  # a copy, under the other order's name
    out = bench.handle("O2")
    assert out.verdict.status is Status.ERROR and out.verdict.reasons == ("photo_of_other_order",)
    assert out.verdict.message == (f"photo O2.jpg was already used for order O1 (check #{first.record.id}): one "
                                   "photo proves one parcel only; take a new photo of O2, then scan it again")
    assert out.record.photos == () and out.record.extra["refused_photos"][0]["file"] == "O2.jpg"


# ---------------------------------------------------------------- #14: inbox files opened safely
def test_a_symlink_in_the_inbox_is_refused_and_nothing_is_kept(bench, tmp_path):
    """#14: "A symlink in the station inbox pulls any readable file into the evidence store"."""
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(scene_jpeg("MUG-BLU", seed=3))
    (bench.photos / "O1.jpg").symlink_to(secret)
    out = bench.handle("O1")
    assert out.verdict.status is Status.ERROR
    assert out.verdict.message.startswith(f"photo {bench.photos / 'O1.jpg'} is a symbolic link, not a photo file")
    assert not bench.store.blob_root.exists() or not any(p.is_file() for p in bench.store.blob_root.rglob("*.jpg")
                                                         if p.name.startswith(hashlib.sha256(secret.read_bytes()).hexdigest()))
    # a link under another name is not even a candidate for the newest-image fallback
    (bench.photos / "IMG_0001.jpg").symlink_to(secret)
    assert "no photo of order O2 appeared" in bench.handle("O2").verdict.message


def test_a_named_pipe_in_the_inbox_does_not_block_the_station(bench):
    """#14: only regular files (no FIFOs: reading one would wait forever)."""
    os.mkfifo(bench.photos / "O1.jpg")
    out = bench.handle("O1")
    assert out.verdict.status is Status.ERROR and "is a named pipe, not a photo file" in out.verdict.message


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(bench):
    """#14: "the station also skips the 80 MB size limit that check applies (a 1 GiB file was stored)"."""
    big = bench.photos / "O1.jpg"
    with open(big, "wb") as f:
        f.write(scene_jpeg("SHIRT-RED"))
        f.truncate(1024**3)  # sparse: 1 GiB on paper
    out = bench.handle("O1")
    assert out.verdict.status is Status.ERROR and out.record.photos == ()
    assert out.verdict.message == (f"photo {big} is 1074 MB, more than the 84 MB limit for one photo; it was not read "
                                   "or kept")
    assert sum(p.stat().st_size for p in bench.store.blob_root.rglob("*") if p.is_file()) < 10 * 1024**2


def test_reading_goes_through_an_opened_descriptor(tmp_path):
    """#14: the file is opened with O_NOFOLLOW and the descriptor checked (a link swapped in is not followed)."""
    src = FolderSource(tmp_path, poll_s=0.01, max_bytes=1000)
    (tmp_path / "O1.png").write_bytes(cv2.imencode(".png", scene_rgb("SHIRT-RED"))[1].tobytes())
    with pytest.raises(ImageTooLarge, match=r"O1.png is \d+ MB, more than the 0 MB limit for one photo; it was not read"):
        src.take("O1", src.snapshot(), timeout_s=0.2)
    os.remove(tmp_path / "O1.png")
    os.symlink("/etc/hostname", tmp_path / "O1.png")
    with pytest.raises(ImageMissing, match="is a symbolic link"):
        src.take("O1", src.snapshot(), timeout_s=0.2)
    src.close()


def _bmp(rgb) -> bytes:
    return cv2.imencode(".bmp", rgb[:, :, ::-1])[1].tobytes()


def _tiff(rgb) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "TIFF")
    return buf.getvalue()


@pytest.mark.parametrize("encode", [_bmp, _tiff], ids=["bmp", "tiff"])
def test_half_written_bmp_and_tiff_are_waited_for_by_their_size_fields(tmp_path, encode):
    """#14: "Half-written BMP/TIFF are waited for using the format's own size fields"."""
    data = encode(scene_rgb("SHIRT-RED")[::4, ::4].copy())
    assert photo_complete(data) is True
    assert all(photo_complete(data[:n]) is False for n in (10, 40, len(data) // 2, len(data) - 1))
    assert (bmp_end if encode is _bmp else tiff_end)(data) == len(data)
    # settle_s=0.01: were the format unable to tell, the first half would be taken as soon as it stopped growing
    src = FolderSource(tmp_path, poll_s=0.01, settle_s=0.01)
    before = src.snapshot()
    t = write_in_two_halves(tmp_path / f"IMG_0001.{'bmp' if encode is _bmp else 'tif'}", data, pause_s=0.5)
    [photo] = src.take("O1", before, timeout_s=10)
    t.join()
    assert photo.data == data


# ---------------------------------------------------------------- #14: overrides by who they claim to be
def test_supervisors_file_holds_salted_hashes_readable_by_its_owner_only(tmp_path):
    """#14: "a supervisors file (name, salted hash of a PIN or badge code) made by a command"."""
    path = tmp_path / "sup" / "supervisors.json"
    r = CliRunner().invoke(cli, ["supervisors", "add", "maria", "--file", str(path)], input="4711\n4711\n")
    assert r.exit_code == 0, r.output
    assert r.stdout == f"added supervisor maria in {path} (mode 0600)\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "4711" not in text
    add_supervisor(path, "SUP-7", "4711")
    entries = json.loads(path.read_text())["supervisors"]
    assert entries["maria"]["salt"] != entries["SUP-7"]["salt"] and entries["maria"]["hash"] != entries["SUP-7"]["hash"]
    sups = Supervisors.load(path)
    assert sups.verify("maria", "4711") and not sups.verify("maria", "4712") and not sups.verify("bob", "4711")
    r = CliRunner().invoke(cli, ["supervisors", "add", "ana", "--file", str(path)], input="1234\n1235\n1234\n1234\n")
    assert r.exit_code == 0 and "do not match" in r.stderr.lower()
    assert CliRunner().invoke(cli, ["supervisors", "list", "--file", str(path)]).stdout.split() == ["SUP-7", "ana", "maria"]
    remove_supervisor(path, "ana")
    r = CliRunner().invoke(cli, ["supervisors", "remove", "ana", "--file", str(path)])
    assert (r.exit_code, r.stderr) == (2, f"Error: 'ana' is not a supervisor in {path} (there are: SUP-7, maria)\n")


def test_an_unsafe_supervisors_file_is_refused(tmp_path, station_data):
    """#14: the file is outside the data folder and 0600."""
    path = make_supervisors(tmp_path / "supervisors.json")
    os.chmod(path, 0o644)
    with pytest.raises(SupervisorError, match=r"can be read or changed by other users \(mode 0644\); make it "
                                              r"private: chmod 600"):
        Supervisors.load(path)
    os.chmod(path, 0o600)
    (tmp_path / "link.json").symlink_to(path)
    with pytest.raises(SupervisorError, match="is not a regular file"):
        Supervisors.load(tmp_path / "link.json")
    inside = make_supervisors(tmp_path / "shop" / "supervisors.json")
    with pytest.raises(SupervisorError, match="is inside the data folder"):
        Supervisors.load(inside, data_dir=tmp_path / "shop")
    args = ["station", "--data", str(station_data), "--db", str(tmp_path / "e.sqlite"), "--photo-dir", str(tmp_path)]
    r = CliRunner().invoke(cli, args + ["--supervisors", str(station_data / "s.json")])
    assert r.exit_code == 2 and r.stderr.startswith(f"Error: the supervisors file {station_data / 's.json'} is "
                                                    f"inside the data folder {station_data}: anyone who can change")
    r = CliRunner().invoke(cli, args + ["--supervisors", str(tmp_path / "none.json")])
    assert (r.exit_code, r.stderr) == (2, f"Error: no supervisors file at {tmp_path / 'none.json'}; create it with "
                                          "'packcheck supervisors add NAME'\n")


def test_a_wrong_code_is_refused_and_recorded(bench):
    """#14: "Overrides are typed by anyone: !ok ANYNAME REASON from the packer's keyboard lets any FLAG ship"."""
    (bench.photos / "O2.jpg").write_bytes(scene_jpeg("SHIRT-GRN"))
    check = bench.handle("O2").record
    bench.codes.append("0000")
    out = bench.handle("!ok maria buyer agreed")
    assert out.text == f"wrong code for supervisor maria: override of order O2 (check #{check.id}) refused (recorded)"
    out = bench.handle("!ok mallory buyer agreed")
    assert out.text.startswith("'mallory' is not in the supervisors file")
    assert [(r["check_id"], r["supervisor"], r["why"]) for r in bench.store.override_refusals()] == [
        (check.id, "maria", "wrong code"), (check.id, "mallory", "not a supervisor")]
    assert bench.store.get_check(check.id).overrides == ()
    bench.codes.append(SUPERVISOR_CODE)
    assert bench.handle("!ok maria buyer agreed").kind == "override"
    [o] = bench.store.get_check(check.id).overrides
    assert (o.supervisor, o.authenticated, o.without_evidence) == ("maria", True, False)


def test_without_a_supervisors_file_no_override_is_accepted(tmp_path, checker):
    store = EvidenceStore.open(tmp_path / "e.sqlite")
    (tmp_path / "O2.jpg").write_bytes(scene_jpeg("SHIRT-GRN"))
    st = Station(checker, store, FolderSource(tmp_path, poll_s=0.01), timeout_s=0.5)
    st.handle("O2")
    assert st.handle("!ok maria fine").text.startswith("overrides need a supervisors file: make one with "
                                                      "'packcheck supervisors add NAME'")
    store.close()


def test_an_error_with_no_photo_ships_only_with_a_listed_reason_as_shipped_without_evidence(bench, tmp_path):
    """#14: "an ERROR with no photo can be overridden only with a reason from a fixed list and is marked as
    shipped without evidence in history, report and bundle"."""
    err = bench.handle("O4").record  # no photo comes
    assert err.status is Status.ERROR
    out = bench.handle("!ok maria buyer knows")
    assert out.kind == "rejected" and out.text.startswith(
        f"order O4 (check #{err.id}) is an ERROR: no photo was judged, so it ships only as \"shipped without "
        "evidence\" with one of these reasons: photo_camera_broken, customer_collects")
    bench.codes.append(SUPERVISOR_CODE)
    out = bench.handle("!ok maria customer_collects at the shop desk")
    assert out.kind == "override" and out.text.endswith("; SHIPPED WITHOUT EVIDENCE; the box may ship")
    [o] = bench.store.get_check(err.id).overrides
    assert (o.without_evidence, o.reason_code, o.reason) == (True, "customer_collects",
                                                             "customer_collects at the shop desk")
    r = CliRunner().invoke(cli, ["history", "--db", str(bench.store.path)])
    assert "(code checked) at " in r.stdout and r.stdout.rstrip().splitlines()[-2].endswith(
        ": customer_collects at the shop desk; SHIPPED WITHOUT EVIDENCE")
    r = CliRunner().invoke(cli, ["history", "--db", str(bench.store.path), "--json"])
    assert json.loads(r.stdout)[-1]["shipped_without_evidence"] is True
    from packcheck.apps.evidence.keys import init_key

    bundle = write_bundle(bench.store, "O4", tmp_path / "appeal.zip", signer=init_key(tmp_path / "keys" / "site.pem"))
    with zipfile.ZipFile(bundle.path) as z:
        doc = json.loads(z.read("verdict.json"))
    assert doc["shipped_without_evidence"] is True
    assert doc["checks"][-1]["overrides"][0]["without_evidence"] is True
    # the evidence sheet: ERROR in the one ERROR colour (#16: "ERROR is red on the evidence sheet")
    from packcheck.apps.evidence.sheet import render_sheet
    from packcheck.apps.present import STATUS_RGB

    sheet = render_sheet(bench.store, bench.store.get_check(err.id))
    assert tuple(int(v) for v in sheet[20, 20]) == STATUS_RGB["ERROR"][::-1]


def test_station_cli_reads_the_code_from_the_next_line(tmp_path, station_data):
    """#14: "!ok asks for the code (read without echo when on a terminal; from the next stdin line otherwise)"."""
    photos = tmp_path / "camera"
    photos.mkdir()
    (photos / "O2.jpg").write_bytes(scene_jpeg("SHIRT-GRN"))
    sups = make_supervisors(tmp_path / "private" / "supervisors.json")
    args = ["station", "--data", str(station_data), "--db", str(tmp_path / "e.sqlite"), "--photo-dir", str(photos),
            "--timeout", "2", "--supervisors", str(sups)]
    r = CliRunner().invoke(cli, args, input=f"O2\n!ok maria buyer agreed\n0000\n!ok maria buyer agreed\n{SUPERVISOR_CODE}\n")
    assert r.exit_code == 0, r.output
    assert "!  wrong code for supervisor maria: override of order O2 (check #1) refused (recorded)" in r.stdout
    assert "OVERRIDE  order O2: FLAG (" in r.stdout and "overridden by maria (code checked): buyer agreed" in r.stdout
    assert "0000" not in r.stdout and SUPERVISOR_CODE not in r.stdout
    assert "DO NOT SEAL" in r.stdout and "O2: waiting for photo" in r.stdout


def test_an_evidence_database_of_schema_1_is_brought_up_to_date(tmp_path):
    """Overrides recorded before codes were asked for stay, marked unauthenticated."""
    import sqlite3

    from packcheck.apps.evidence import store as store_mod
    from packcheck.core.verdict import error_verdict

    db = tmp_path / "old.sqlite"
    from packcheck.apps.evidence.backends import SqliteBackend

    conn = sqlite3.connect(db)
    conn.executescript(SqliteBackend.ddl(store_mod._SCHEMA))
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with EvidenceStore.open(db) as s:
        rec = s.record_check(error_verdict("O1", "photo_unreadable", "none", thresholds_version="t"))
        s.record_override(rec.id, supervisor="bob", reason="typed")
        [o] = s.get_check(rec.id).overrides
        assert (o.authenticated, o.without_evidence) == (False, False)
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == store_mod.SCHEMA_VERSION


def test_audit_db_needs_an_existing_database(tmp_path):
    """#14/B7, `packcheck audit --db`: the station's overrides go into the --html report (the browser
    test checks the page); a database that is not there says what to do, with or without --html (#18: --db
    also feeds the audit's photo_reused look-ups, so it no longer needs --html), and is not created."""
    from test_audit import build_data

    root = build_data(tmp_path / "data")
    for html in ([], ["--html", str(tmp_path / "r.html")]):
        r = CliRunner().invoke(cli, ["audit", "--data", str(root), "--out", str(tmp_path / "r.csv"), *html,
                                     "--db", str(tmp_path / "nope.sqlite"), "-q"])
        assert r.exit_code == 2
        assert r.stderr.strip().splitlines()[-1] == (f"Error: no evidence database at {tmp_path / 'nope.sqlite'}; "
                                                     "check the --db path (packcheck station --db creates one)")
        assert not (tmp_path / "nope.sqlite").exists() and not (tmp_path / "r.csv").exists()

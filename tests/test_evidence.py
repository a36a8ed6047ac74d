"""The evidence store: records, content-addressed files, bundles, and nothing lost under crashes or concurrency."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from packcheck.apps.evidence.bundle import BundleMismatch, verify_bundle, write_bundle
from packcheck.apps.evidence.keys import init_key
from packcheck.apps.evidence.store import EvidenceError, EvidenceStore, PhotoInput, parse_since
from packcheck.cli import cli
from packcheck.core.records import VariantDetails
from packcheck.core.verdict import CheckResult, Status, combine, error_verdict

from test_station import jpeg, scene_rgb


def verdict_for(order_id: str, photos: list[bytes], status: Status = Status.PASS, *, message: str | None = None):
    """A verdict as the Checker would give, without running it (fast; no model)."""
    variant = CheckResult(
        "variant", status, None if status is Status.PASS else "wrong_variant",
        message or ("colour matches red" if status is Status.PASS else "green Shirt found, red ordered"),
        value=0.9 if status is Status.PASS else -0.9, flag_below=-0.05, review_below=0.0, sku="SHIRT-RED",
        details=VariantDetails(distance_ordered=0.2, distance_sibling=0.6, nearest_sibling="SHIRT-GRN",
                               ordered_lab=(110.0, 191.0, 173.0), sibling_lab=(147.0, 71.0, 178.0),
                               found_lab=(146.0, 72.0, 178.0)))
    return combine(order_id, [variant], thresholds_version="test-1",
                   photos=[hashlib.sha256(p).hexdigest() for p in photos], photo_paths=["photo 1"])


@pytest.fixture
def store(evidence_db):
    """The evidence store on each backend (#18: the evidence tests run on SQLite and on PostgreSQL)."""
    db, photos = evidence_db
    s = EvidenceStore.open(db, photos_dir=photos)
    yield s
    s.close()


def db_args(store) -> list[str]:
    """The CLI's --db (and, for PostgreSQL, --photos-dir) naming ``store``."""
    if store.path is not None:
        return ["--db", str(store.path)]
    return ["--db", store._db.url, "--photos-dir", str(store.blob_root)]


@pytest.fixture
def signer(tmp_path):
    return init_key(tmp_path / "keys" / "site-key.pem")


@pytest.fixture
def listing(tmp_path) -> Path:
    p = tmp_path / "catalogue" / "SHIRT-RED.png"
    p.parent.mkdir()
    import cv2

    img = np.full((200, 200, 3), 255, np.uint8)
    cv2.circle(img, (100, 100), 60, (30, 30, 200), -1)
    cv2.imwrite(str(p), img)
    return p


def test_record_and_read_back(store, listing):
    photo = jpeg(scene_rgb("SHIRT-RED"))
    v = verdict_for("O1", [photo])
    rec = store.record_check(v, photos=[PhotoInput(photo, "IMG_1.jpg")], listing_images={"SHIRT-RED": [listing]},
                             station="bench-1", operator="ana", extra={"note": "x"})
    assert (rec.id, rec.order_id, rec.status, rec.station, rec.operator) == (1, "O1", Status.PASS, "bench-1", "ana")
    assert rec.checked_at.endswith("Z") and len(rec.checked_at) == len("2026-11-26T10:33:51.123Z")
    assert rec.photo_sha256 == v.photos and rec.thresholds_version == "test-1"
    [p] = rec.photos
    [lst] = rec.listings
    assert (p.source, p.ext, lst.sku, lst.ext) == ("IMG_1.jpg", ".jpg", "SHIRT-RED", ".png")
    assert p.relpath == f"photos/{p.sha256[:2]}/{p.sha256}.jpg"
    assert store.blob_path(p.sha256, p.ext).read_bytes() == photo
    assert store.blob_path(p.sha256, p.ext).relative_to(store.blob_root).as_posix() == p.relpath.split("/", 1)[1]
    assert rec.verdict["checks"][0]["details"]["nearest_sibling"] == "SHIRT-GRN"
    assert rec.extra == {"note": "x"}
    assert store.get_check(1) == rec


def test_photos_must_be_the_ones_judged(store):
    v = verdict_for("O1", [b"judged bytes"])
    with pytest.raises(ValueError, match="the photos given are not the ones judged"):
        store.record_check(v, photos=[b"other bytes"])


def test_files_are_content_addressed_and_never_overwritten(store):
    sha, ext = store.put_blob(b"\xff\xd8\xff same bytes")
    path = store.blob_path(sha, ext)
    before = path.stat().st_mtime_ns
    time.sleep(0.01)
    assert store.put_blob(b"\xff\xd8\xff same bytes") == (sha, ext)
    assert path.stat().st_mtime_ns == before
    # A damaged file keeps its name (it is evidence of the damage) and is reported.
    path.write_bytes(b"damaged")
    assert store.put_blob(b"\xff\xd8\xff same bytes") == (sha, ext)
    assert path.read_bytes() == b"damaged"
    store.record_check(error_verdict("O9", "photo_unreadable", "x", thresholds_version="t"),
                       photos=[b"\xff\xd8\xff same bytes"])
    assert store.verify_files() == [f"damaged {path}"]
    with pytest.raises(EvidenceError, match="is damaged"):
        store.read_blob(store.order_checks("O9")[0].photos[0])


def test_rescan_links_to_the_previous_check_and_overrides_are_kept(store):
    first = store.record_check(verdict_for("O2", [b"a"], Status.FLAG), photos=[b"a"])
    store.record_check(verdict_for("O3", [b"b"]), photos=[b"b"])
    again = store.record_check(verdict_for("O2", [b"c"]), photos=[b"c"])
    assert (first.previous_check_id, again.previous_check_id) == (None, first.id)
    o = store.record_override(first.id, supervisor="maria", reason="buyer agreed", station="b1")
    assert store.get_check(first.id).overrides == (o,)
    with pytest.raises(EvidenceError, match="an override needs a reason"):
        store.record_override(first.id, supervisor="maria", reason="  ")
    with pytest.raises(EvidenceError, match="an override needs the supervisor's name"):
        store.record_override(first.id, supervisor="", reason="r")
    with pytest.raises(EvidenceError, match="there is no check #99 to override"):
        store.record_override(99, supervisor="maria", reason="r")


def test_history_filters(store):
    for i, (oid, status) in enumerate([("O1", Status.PASS), ("O2", Status.FLAG), ("O2", Status.PASS)]):
        store.record_check(verdict_for(oid, [bytes([i])], status), photos=[bytes([i])],
                           checked_at=f"2026-11-2{i + 4}T12:00:00.000Z")
    assert [r.id for r in store.history(statuses=["flag"])] == [2]
    assert [r.id for r in store.history(since=parse_since("2026-11-25"))] == [2, 3]
    assert [r.id for r in store.history(order_id="O2")] == [2, 3]
    assert [r.id for r in store.history(limit=2)] == [2, 3]
    assert store.latest().id == 3


@pytest.mark.parametrize("text, utc", [
    ("2026-11-26", "2026-11-26T00:00:00.000Z"),
    ("2026-11-26 14:30", "2026-11-26T14:30:00.000Z"),
    ("2026-11-26T14:30:00Z", "2026-11-26T14:30:00.000Z"),
    ("2026-11-26T14:30+02:00", "2026-11-26T12:30:00.000Z"),
])
def test_parse_since(text, utc):
    assert parse_since(text) == utc


def test_parse_since_rejects_nonsense():
    with pytest.raises(EvidenceError, match="'yesterday' is not a date; give it as 2026-11-26"):
        parse_since("yesterday")


def test_open_refuses_what_is_not_an_evidence_database(tmp_path):
    with pytest.raises(EvidenceError, match="no evidence database at .*missing.sqlite; check the --db path"):
        EvidenceStore.open(tmp_path / "missing.sqlite", create=False)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(EvidenceError, match="is not a packcheck evidence database or is damaged"):
        EvidenceStore.open(junk)
    newer = tmp_path / "newer.sqlite"
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(EvidenceError, match="written by a newer packcheck"):
        EvidenceStore.open(newer)
    with pytest.raises(EvidenceError, match="is a folder"):
        EvidenceStore.open(tmp_path)


def test_wal_and_full_sync(store):
    if store.kind != "sqlite":
        pytest.skip("SQLite's journal and sync settings")
    c = sqlite3.connect(store.path)
    assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    c.close()
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


# ---------------------------------------------------------------- bundles
def _flagged_then_fixed(store, listing) -> tuple[bytes, bytes]:
    bad, good = jpeg(scene_rgb("SHIRT-GRN", seed=1)), jpeg(scene_rgb("SHIRT-RED", seed=2))
    first = store.record_check(verdict_for("O2", [bad], Status.FLAG), photos=[PhotoInput(bad, "O2.jpg")],
                               listing_images={"SHIRT-RED": [listing]}, station="bench-1", operator="ana")
    store.record_override(first.id, supervisor="maria", reason="checked by hand <b>ok</b>")
    store.record_check(verdict_for("O2", [good]), photos=[PhotoInput(good, "IMG_2.jpg")],
                       listing_images={"SHIRT-RED": [listing]}, station="bench-1", operator="ana")
    return bad, good


def test_bundle_of_a_flagged_then_fixed_order(store, listing, tmp_path, signer):
    bad, good = _flagged_then_fixed(store, listing)
    original_listing = listing.read_bytes()
    listing.write_bytes(b"the catalogue changed since")  # the bundle keeps the listing as checked
    out = tmp_path / "appeal.zip"
    bundle = write_bundle(store, "O2", out, signer=signer)
    assert bundle.checks == 2
    verified = verify_bundle(out)
    assert set(verified.files) == set(bundle.files) - {"SHA256SUMS", "SIGNATURE.json"}
    assert verified.key_fingerprint == signer.fingerprint and verified.order_id == "O2"
    with zipfile.ZipFile(out) as z:
        doc = json.loads(z.read("verdict.json"))
        photos = sorted(n for n in z.namelist() if n.startswith("photos/"))
        listings = [n for n in z.namelist() if n.startswith("listing/")]
        assert [z.read(n) for n in photos] == [bad, good]
        assert [z.read(n) for n in listings] == [original_listing]
        import cv2

        sheet = cv2.imdecode(np.frombuffer(z.read("sheet.png"), np.uint8), cv2.IMREAD_COLOR)
        old_sheet = cv2.imdecode(np.frombuffer(z.read("sheet-check-1.png"), np.uint8), cv2.IMREAD_COLOR)
        sums = z.read("SHA256SUMS").decode()
    assert sheet.shape[1] == 1800 and old_sheet.shape[1] == 1800
    from packcheck.apps.present import STATUS_RGB

    assert tuple(int(v) for v in old_sheet[20, 20]) == STATUS_RGB["FLAG"][::-1]  # the FLAG band, BGR
    assert tuple(int(v) for v in sheet[20, 20]) == STATUS_RGB["PASS"][::-1]
    assert doc["format"] == "packcheck-appeal/2" and doc["order_id"] == "O2"
    assert [(c["status"], c["previous_check_id"]) for c in doc["checks"]] == [("FLAG", None), ("PASS", 1)]
    assert doc["checks"][0]["overrides"][0]["reason"] == "checked by hand <b>ok</b>"
    assert doc["checks"][0]["photos"][0]["source"] == "O2.jpg"
    assert doc["checks"][0]["verdict"]["checks"][0]["message"] == "green Shirt found, red ordered"
    assert f"{hashlib.sha256(bad).hexdigest()}  {photos[0]}" in sums.splitlines()


def _rewrite(src: Path, dst: Path, change) -> None:
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    change(members)
    with zipfile.ZipFile(dst, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)


@pytest.mark.parametrize("change, message", [
    (lambda m: m.update({"sheet.png": m["sheet.png"] + b"x"}), r"sheet.png does not match SHA256SUMS"),
    (lambda m: m.pop("verdict.json"), r"verdict.json is listed in SHA256SUMS but missing from the bundle"),
    (lambda m: m.update({"extra.txt": b"hi"}), r"extra.txt is in the bundle but not in SHA256SUMS"),
    (lambda m: m.pop("SHA256SUMS"), r"has no SHA256SUMS file"),
])
def test_verify_names_the_file_that_differs(store, listing, tmp_path, change, message, signer):
    _flagged_then_fixed(store, listing)
    good = write_bundle(store, "O2", tmp_path / "a.zip", signer=signer).path
    bad = tmp_path / "b.zip"
    _rewrite(good, bad, change)
    with pytest.raises(BundleMismatch, match=message):
        verify_bundle(bad)


def test_verify_refuses_a_file_that_is_not_a_zip(tmp_path):
    p = tmp_path / "x.zip"
    p.write_bytes(b"nope")
    with pytest.raises(EvidenceError, match="cannot be read as a zip file"):
        verify_bundle(p)


def test_cli_evidence_verify_and_history(store, listing, tmp_path, signer):
    _flagged_then_fixed(store, listing)
    runner = CliRunner()
    db = store.where
    dbargs = db_args(store)
    out = tmp_path / "appeal.zip"
    r = runner.invoke(cli, ["evidence", "O2", *dbargs, "--out", str(out), "--signing-key", str(signer.path)])
    assert r.exit_code == 0
    assert r.output.splitlines()[0] == f"wrote {out}: 2 checks of order O2, 9 files, signed by {signer.fingerprint}"
    r = runner.invoke(cli, ["evidence", "--verify", str(out)])
    assert (r.exit_code, r.output) == (0, f"OK: {out}: order O2, 2 checks, all 7 files match SHA256SUMS, "
                                          f"signature valid\nsigned by key {signer.fingerprint}: compare it with "
                                          "the seller's published key\n")
    tampered = tmp_path / "tampered.zip"
    _rewrite(out, tampered, lambda m: m.update({"verdict.json": m["verdict.json"].replace(b"FLAG", b"PASS")}))
    r = runner.invoke(cli, ["evidence", "--verify", str(tampered)])
    assert r.exit_code == 2
    assert r.output.startswith(f"Error: {tampered}: verdict.json does not match SHA256SUMS (expected ")
    key = ["--signing-key", str(signer.path)]
    r = runner.invoke(cli, ["evidence", "O404", *dbargs, "--out", str(tmp_path / "x.zip"), *key])
    assert (r.exit_code, r.output) == (2, f"Error: order 'O404' was never checked in {db}; check the order id "
                                          f"(packcheck history --db {db} lists the checked orders)\n")
    assert not (tmp_path / "x.zip").exists()
    r = runner.invoke(cli, ["evidence", "O2", "--db", str(tmp_path / "none.sqlite"), *key])
    assert r.exit_code == 2 and "Error: no evidence database at" in r.output
    assert not (tmp_path / "none.sqlite").exists()

    r = runner.invoke(cli, ["history", *dbargs])
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert lines[0].split() == ["#", "time", "(UTC)", "order", "station", "operator", "status", "message"]
    assert lines[1].split()[2:6] == ["O2", "bench-1", "ana", "FLAG"]
    # recorded without a supervisor's code (as before #14): said plainly
    assert "overridden by maria (NOT AUTHENTICATED: a name typed, no code checked) at" in lines[2]
    assert lines[2].endswith(": checked by hand <b>ok</b>")
    assert lines[4].strip() == "rescan of #1" and lines[-1] == "2 checks"
    r = runner.invoke(cli, ["history", *dbargs, "--status", "PASS", "--json"])
    assert [(c["id"], c["status"], c["previous_check_id"]) for c in json.loads(r.output)] == [(2, "PASS", 1)]
    r = runner.invoke(cli, ["history", *dbargs, "--since", "2999-01-01"])
    assert (r.exit_code, r.output) == (0, "no checks recorded that match\n")
    r = runner.invoke(cli, ["history", *dbargs, "--since", "soon"])
    assert (r.exit_code, r.output) == (2, "Error: 'soon' is not a date; give it as 2026-11-26 or 2026-11-26T14:30\n")


# ---------------------------------------------------------------- processes and crashes
WRITER = textwrap.dedent("""
    import hashlib, os, sys, time
    from packcheck.apps.evidence.store import EvidenceStore, PhotoInput
    from packcheck.core.verdict import error_verdict
    db, tag, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    store = EvidenceStore.open(db, photos_dir=os.environ.get("PACKCHECK_PHOTOS"))
    if len(sys.argv) > 5:  # a start line: wait until every writer is ready, then all write at once
        print("ready", flush=True)
        while not os.path.exists(sys.argv[5]):
            time.sleep(0.005)
    i = 0
    while n < 0 or i < n:
        photo = hashlib.sha256(f"{tag}-{i}".encode()).digest() * (size // 32)
        v = error_verdict(f"{tag}-{i}", "photo_unreadable", "test record", thresholds_version="t")
        rec = store.record_check(v, photos=[PhotoInput(photo, f"{tag}-{i}.bin")], station=tag)
        print(f"committed {rec.id} {tag}-{i}", flush=True)
        i += 1
""")


def _writer(db: Path | str, tag: str, n: int, size: int, go: Path | None = None,
            photos: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, **({"PACKCHECK_PHOTOS": str(photos)} if photos else {})}
    return subprocess.Popen([sys.executable, "-c", WRITER, str(db), tag, str(n), str(size)]
                            + ([str(go)] if go else []), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_stations_writing_one_database_at_once_lose_nothing_and_never_fork_the_chain(tmp_path, evidence_db):
    """#18: several station processes append to one store at the same moment (SQLite file or PostgreSQL):
    every check is kept once and the evidence chain verifies, one position per row, no fork."""
    db, photos = evidence_db
    n = 25
    go = tmp_path / "go"
    procs = [_writer(db, tag, n, 20_000, go, photos) for tag in "ABCD"]
    # Both start writing at the same moment (not whenever their imports finish), so
    # the interleaving asserted below does not depend on the machine's load.
    for p in procs:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    with EvidenceStore.open(db, create=False, photos_dir=photos) as store:
        recs = store.history()
        assert sorted(r.order_id for r in recs) == sorted(f"{t}-{i}" for t in "ABCD" for i in range(n))
        assert len({r.id for r in recs}) == 4 * n
        assert all(len(r.photos) == 1 for r in recs)
        assert store.verify_files() == []
        # They really wrote at the same time: their records interleave.
        stations = [r.station for r in recs]
        assert sum(a != b for a, b in zip(stations, stations[1:])) > 2
        report = store.verify_chain()
        assert report.ok and report.rows == 4 * n and report.head_seq == 4 * n, report.problems
        assert sorted(r.chain.seq for r in recs) == list(range(1, 4 * n + 1))
    if store.kind != "sqlite":
        return
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_no_committed_check(tmp_path):
    db = tmp_path / "evidence.sqlite"
    rng = np.random.default_rng(7)
    committed: dict[int, str] = {}
    for round_ in range(4):
        p = _writer(db, f"R{round_}", -1, 3_000_000)  # big photos: the kill often lands inside a write
        lines = []
        for _ in range(int(rng.integers(1, 4))):
            lines.append(p.stdout.readline())
        time.sleep(float(rng.uniform(0.0, 0.08)))
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        for line in lines:
            _, cid, oid = line.split()
            committed[int(cid)] = oid
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
        with EvidenceStore.open(db, create=False) as store:  # sweeps the dead writer's temporary file
            have = {r.id: r.order_id for r in store.history()}
            assert all(have.get(cid) == oid for cid, oid in committed.items())
            assert store.verify_files() == []
            assert not list(store.blob_root.rglob(".tmp-*"))


def test_live_writers_temporary_files_are_not_swept(tmp_path):
    store = EvidenceStore.open(tmp_path / "evidence.sqlite")
    store.put_blob(b"x")
    import socket

    live = store.blob_root / "ab" / f".tmp-{socket.gethostname()}-{os.getpid()}-deadbeef.{'a' * 64}.jpg"
    live.parent.mkdir(exist_ok=True)
    live.write_bytes(b"being written")
    dead = store.blob_root / "ab" / f".tmp-{socket.gethostname()}-999999999-deadbeef.{'b' * 64}.jpg"
    dead.write_bytes(b"left by a killed writer")
    store.close()
    EvidenceStore.open(tmp_path / "evidence.sqlite").close()
    assert live.exists() and not dead.exists()


def test_bundle_readme_says_how_to_verify(store, listing, tmp_path, signer):
    _flagged_then_fixed(store, listing)
    with zipfile.ZipFile(write_bundle(store, "O2", tmp_path / "a.zip", signer=signer).path) as z:
        readme = z.read("README.txt").decode()
    assert "sha256sum -c SHA256SUMS" in readme and "packcheck evidence --verify" in readme
    assert signer.fingerprint in readme

"""A warehouse on one PostgreSQL evidence store (#18): schema and migrations, stations in parallel
processes, look-ups across stations, moving a station's SQLite history in, against a real server."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import pytest
from click.testing import CliRunner

from packcheck.apps.evidence.bundle import write_bundle
from packcheck.apps.evidence.keys import init_key, public_pem
from packcheck.apps.evidence.store import SCHEMA_VERSION, EvidenceError, EvidenceStore, PhotoInput, utc_now
from packcheck.cli import cli
from packcheck.core.verdict import Status

from test_evidence import verdict_for
from test_station import checker, station_data  # noqa: F401 - fixtures


def _run(*args, env=None):
    r = CliRunner().invoke(cli, list(map(str, args)), env=env)
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def signer(tmp_path):
    return init_key(tmp_path / "keys" / "site-key.pem")


def _record(store, order_id, photo: bytes, status=Status.PASS, station="bench-1", extra=None):
    return store.record_check(verdict_for(order_id, [photo], status), photos=[PhotoInput(photo, f"{order_id}.jpg")],
                              station=station, operator="ana", extra=extra)


# ---------------------------------------------------------------- schema
def test_a_shared_store_is_made_and_upgraded_only_by_db_upgrade(pg_url, tmp_path):
    """#18 one schema, versioned migrations, `packcheck db upgrade`: a station never migrates a shared store."""
    with pytest.raises(EvidenceError, match=rf"has schema 0, this packcheck needs {SCHEMA_VERSION}; run once, from one machine: "
                                            r"packcheck db upgrade --db URL"):
        EvidenceStore.open(pg_url, photos_dir=tmp_path / "photos")
    code, out, err = _run("db", "upgrade", "--db", pg_url)
    assert (code, err) == (0, "")
    where = pg_url  # no password in the URL: shown as given
    assert out == f"{where}: schema {SCHEMA_VERSION} (applied 1, 2, 3, 4)\n"
    assert _run("db", "upgrade", "--db", pg_url)[1] == f"{where}: schema {SCHEMA_VERSION}, up to date\n"
    with EvidenceStore.open(pg_url) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert [r[0] for r in s._db.execute("SELECT version FROM schema_migrations ORDER BY 1")] == [1, 2, 3, 4]


def test_sqlite_keeps_the_same_migrations_table(tmp_path):
    """#18: the SQLite store notes the same versions (and stays zero-configuration: made when opened)."""
    with EvidenceStore.open(tmp_path / "e.sqlite") as s:
        assert [r[0] for r in s._db.execute("SELECT version FROM schema_migrations ORDER BY 1")] == [1, 2, 3, 4]
        assert s.schema_version() == SCHEMA_VERSION and s.blob_root == tmp_path / "photos"


def test_a_postgresql_store_needs_its_photo_folder(evidence_db, tmp_path):
    """#18 photos in a shared folder that is configuration: without it a PostgreSQL store refuses to keep
    a photo (and names the option), with it (or PACKCHECK_PHOTOS) files land there, named by SHA-256."""
    db, photos = evidence_db
    if photos is None:
        pytest.skip("a SQLite store keeps its photos beside its file")
    with EvidenceStore.open(db) as s:
        with pytest.raises(EvidenceError, match=r"keeps its photos in a shared folder: give it with --photos-dir "
                                                r"DIR \(or PACKCHECK_PHOTOS=DIR\)"):
            _record(s, "O1", b"\xff\xd8\xff photo")
        assert s.count() == 0  # nothing half recorded
    with EvidenceStore.open(db, photos_dir=photos) as s:
        rec = _record(s, "O1", b"\xff\xd8\xff photo")
        path = photos / rec.photo_sha256[0][:2] / f"{rec.photo_sha256[0]}.jpg"
        assert path.read_bytes() == b"\xff\xd8\xff photo"
        assert not list(photos.rglob(".tmp-*"))


# ---------------------------------------------------------------- stations in parallel, seen from the office
STATION = textwrap.dedent("""
    import sys
    from packcheck.apps.evidence.keys import load_signer
    from packcheck.apps.evidence.store import EvidenceStore, PhotoInput
    from packcheck.core.verdict import Status
    sys.path.insert(0, sys.argv[5])
    from test_evidence import verdict_for
    url, photos, name, key = sys.argv[1:5]
    with EvidenceStore.open(url, photos_dir=photos, signer=load_signer(key)) as store:
        for i in range(6):
            photo = f"{name}-{i}".encode() * 50
            status = Status.FLAG if i == 2 else Status.PASS
            rec = store.record_check(verdict_for(f"{name}-O{i}", [photo], status),
                                     photos=[PhotoInput(photo, f"{name}-{i}.jpg")], station=name,
                                     extra={"photo_to_verdict_s": 0.1 * (i + 1)})
            if status is Status.FLAG:
                store.record_override(rec.id, supervisor="maria", reason="checked by hand", station=name)
""")


def test_two_stations_in_two_processes_and_the_office_sees_both(pg_url, tmp_path, signer):
    """#18 done-when: two stations record into one PostgreSQL at once; history, --station, --stations and
    evidence from a third process see both; the bundle verifies against the database."""
    assert _run("db", "upgrade", "--db", pg_url)[0] == 0
    photos = tmp_path / "shared-photos"
    tests_dir = os.path.dirname(__file__)
    procs = [subprocess.Popen([sys.executable, "-c", STATION, pg_url, str(photos), name, str(signer.path), tests_dir],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("bench-1", "bench-2")]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    env = {"PACKCHECK_DB": pg_url, "PACKCHECK_PHOTOS": str(photos)}
    code, out, _ = _run("history", env=env)
    assert code == 0 and out.splitlines()[-1] == "12 checks"
    assert {line.split()[3] for line in out.splitlines()[1:] if line[:5].strip().isdigit()} == {"bench-1", "bench-2"}
    code, out, _ = _run("history", "--station", "bench-2", "--json", env=env)
    assert [c["order_id"] for c in json.loads(out)] == [f"bench-2-O{i}" for i in range(6)]
    code, out, _ = _run("history", "--stations", env=env)
    assert code == 0
    assert out.splitlines()[1].split() == ["bench-1", "6", "16.7%", "0.0%", "0", "1", "350", "ms"]
    assert out.splitlines()[2].split()[0] == "bench-2" and out.splitlines()[-1] == "2 stations, 12 checks"
    code, out, _ = _run("history", "--verify", "--key", _pub(signer, tmp_path), env=env)
    assert code == 0 and out.startswith(f"OK: the evidence chain of {pg_url} holds: 14 rows")
    bundle = tmp_path / "appeal.zip"
    code, out, err = _run("evidence", "bench-1-O2", "--out", bundle, "--signing-key", signer.path, env=env)
    assert code == 0, err
    code, out, _ = _run("evidence", "--verify", bundle, "--key", _pub(signer, tmp_path), env=env)
    assert code == 0 and out.splitlines()[-1] == (f"database {pg_url}: chain of 14 rows valid; the bundle's checks "
                                                  "match their rows")
    with zipfile.ZipFile(bundle) as z:
        doc = json.loads(z.read("verdict.json"))
    assert doc["checks"][0]["station"] == "bench-1"


def _pub(signer, tmp_path):
    path = tmp_path / "seller-key.pem"
    path.write_text(public_pem(signer.public))
    return path


def test_a_photo_reused_at_another_station_is_found(pg_url, tmp_path):
    """#18 cross-station look-ups: station bench-2 (its own process's store) judges a re-encoded copy of the
    photo bench-1 kept for another order: photo_reused names that order; history shows both stations."""
    import shutil

    import cv2
    from PIL import Image

    from helpers import SAMPLE_DATA
    from packcheck.apps.checker import Checker
    from packcheck.apps.station import FolderSource, Station
    from packcheck.core.imaging import load_image

    demo = tmp_path / "shop"
    shutil.copytree(SAMPLE_DATA, demo, ignore=shutil.ignore_patterns(".packcheck-cache"))
    EvidenceStore.open(pg_url, upgrade=True).close()
    photos = tmp_path / "shared-photos"
    checker = Checker.open(demo)
    inbox1, inbox2 = tmp_path / "in1", tmp_path / "in2"
    inbox1.mkdir()
    inbox2.mkdir()
    original = (demo / "photos" / "ORD-1001.jpg").read_bytes()
    with EvidenceStore.open(pg_url, photos_dir=photos) as a, EvidenceStore.open(pg_url, photos_dir=photos) as b:
        one = Station(checker, a, FolderSource(inbox1), station="bench-1", timeout_s=5)
        two = Station(checker, b, FolderSource(inbox2), station="bench-2", timeout_s=5)
        (inbox1 / "ORD-1001.jpg").write_bytes(original)
        first = one.handle("ORD-1001")
        rgb = load_image(original, work_side=0).rgb
        Image.fromarray(cv2.resize(rgb, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)).save(
            inbox2 / "ORD-1002.jpg", quality=75)
        second = two.handle("ORD-1002")
        assert "photo_reused" in second.verdict.reasons
        assert second.verdict.check("reused").message.startswith(
            f"the same photo was used for order ORD-1001 (check #{first.record.id}, station bench-1)")
        assert (first.record.station, second.record.station) == ("bench-1", "bench-2")
    code, out, _ = _run("history", "--db", pg_url, "--order", "ORD-1002")
    assert code == 0 and "PHOTO REUSED: the same photo was used for order ORD-1001" in out


# ---------------------------------------------------------------- moving a station's history
def test_db_copy_moves_a_station_and_its_bundles_still_verify(pg_url, tmp_path, signer):
    """#18 `packcheck db copy`: rows, chain, signatures and photos move; verified; old bundles verify
    against the new store exactly as against the SQLite file; a second copy into it is refused."""
    sqlite = tmp_path / "bench-1" / "evidence.sqlite"
    with EvidenceStore.open(sqlite, signer=signer) as s:
        first = _record(s, "O1", b"\xff\xd8\xff one", Status.FLAG)
        s.record_override(first.id, supervisor="maria", reason="ok")
        _record(s, "O2", b"\xff\xd8\xff two")
        _record(s, "O1", b"\xff\xd8\xff three")
        bundle = write_bundle(s, "O1", tmp_path / "appeal.zip", signer=signer).path
    photos = tmp_path / "shared-photos"
    code, out, err = _run("db", "copy", "--from", sqlite, "--to", pg_url, "--photos-dir", photos)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"copied {sqlite} into {pg_url}: 3 checks, 3 check_files, 1 overrides, 0 override_refusals, 0 photo_hashes; 3 files",
        out.splitlines()[1]]
    assert out.splitlines()[1].startswith("verified: row counts equal; chain of 4 rows valid, head position 4 hash ")
    pub = _pub(signer, tmp_path)
    code, out_sqlite, _ = _run("evidence", "--verify", bundle, "--key", pub, "--db", sqlite)
    code2, out_pg, _ = _run("evidence", "--verify", bundle, "--key", pub, "--db", pg_url, "--photos-dir", photos)
    assert (code, code2) == (0, 0)
    assert out_pg.splitlines()[:-1] == out_sqlite.splitlines()[:-1]
    assert out_pg.splitlines()[-1] == out_sqlite.splitlines()[-1].replace(str(sqlite), pg_url)
    assert _run("history", "--verify", "--key", pub, "--db", pg_url)[0] == 0
    with EvidenceStore.open(pg_url, photos_dir=photos, signer=signer) as s:
        nxt = _record(s, "O3", b"\xff\xd8\xff four")  # ids and the chain go on after the copied rows
        assert (nxt.id, nxt.chain.seq) == (4, 5) and s.verify_chain(public_key=signer.public).ok
    code, _, err = _run("db", "copy", "--from", sqlite, "--to", pg_url, "--photos-dir", photos)
    assert code == 2 and err.startswith(f"Error: {pg_url} already holds checks: a history is copied only into an "
                                        "empty evidence database")


def test_deleting_the_newest_rows_of_a_shared_store_is_found(pg_url, tmp_path):
    """#14's tail deletion on PostgreSQL (no transactional id counter there): found against the chain head."""
    EvidenceStore.open(pg_url, upgrade=True).close()
    with EvidenceStore.open(pg_url, photos_dir=tmp_path / "p") as s:
        for i in range(4):
            _record(s, f"O{i}", bytes([i]) * 10)
        s._db.execute("DELETE FROM check_files WHERE check_id >= 3")
        s._db.execute("DELETE FROM checks WHERE id >= 3")
    code, out, err = _run("history", "--verify", "--db", pg_url)
    assert code == 2
    assert "FOUND: chain positions 3 to 4 were recorded and then deleted (the chain head says 4 rows were appended)" \
        in out


@pytest.mark.parametrize("args", [["db"], ["db", "upgrade"], ["db", "copy"]])
def test_db_commands_have_help_with_an_example(args):
    for flag in ("-h", "--help"):
        result = CliRunner().invoke(cli, [*args, flag])
        assert result.exit_code == 0
        assert "Example" in result.output and f"packcheck {' '.join(args)} " in result.output


def test_history_stations_refuses_filters_it_cannot_apply(tmp_path):
    EvidenceStore.open(tmp_path / "e.sqlite").close()
    code, _, err = _run("history", "--db", tmp_path / "e.sqlite", "--stations", "--status", "FLAG")
    assert (code, err) == (2, "Error: --stations sums up every station; give it with --db (and --since, --json) "
                              "only\n")
    assert _run("history", "--db", tmp_path / "e.sqlite", "--stations")[1] == "no checks recorded\n"


# ---------------------------------------------------------------- faults
def test_a_check_recorded_twice_with_its_client_id_is_kept_once(evidence_db):
    """#18 no duplicates on catch-up: a replay of a check whose commit did reach the store returns that check."""
    db, photos = evidence_db
    with EvidenceStore.open(db, photos_dir=photos) as s:
        v = verdict_for("O1", [b"\xff\xd8\xff p"])
        one = s.record_check(v, photos=[b"\xff\xd8\xff p"], client_id="bench-1:0001")
        again = s.record_check(v, photos=[b"\xff\xd8\xff p"], client_id="bench-1:0001")
        assert again.id == one.id and s.count() == 1 and s.verify_chain().rows == 1


def test_stations_spool_through_a_database_restart_and_catch_up_in_order(pg_cluster, pg_url, tmp_path):
    """#18 faults: the server stops mid-shift; the station keeps recording into its local spool, and once the
    server is back the spooled checks are replayed in order: none lost, none doubled, the chain valid."""
    from packcheck.apps.evidence.backends import DatabaseUnavailable
    from packcheck.apps.evidence.spool import Spool

    EvidenceStore.open(pg_url, upgrade=True).close()
    spool = Spool(tmp_path / "spool")
    photos = tmp_path / "photos"
    with EvidenceStore.open(pg_url, photos_dir=photos) as s:
        def check(i):
            photo = b"\xff\xd8\xff" + bytes([i]) * 20
            return spool.record(s, verdict_for(f"O{i}", [photo]), photos=[photo], station="bench-1")

        assert not check(0).spooled
        pg_cluster.stop_server()
        try:
            with pytest.raises(DatabaseUnavailable, match=r"^(lost|cannot reach) the evidence database"):
                s.count()
            assert [check(i).spooled for i in (1, 2, 3)] == [True, True, True]
            assert len(spool) == 3 and spool.flush(s) == 0
        finally:
            pg_cluster.start_server()
        back = utc_now()
        after = check(4)
        assert not after.spooled and len(spool) == 0
        recs = s.history()
        assert [r.order_id for r in recs] == ["O0", "O1", "O2", "O3", "O4"]
        assert all(r.checked_at <= back for r in recs[1:4])  # the time judged, not the time replayed
        assert s.verify_chain().ok and s.verify_chain().rows == 5
    assert [r.checked_at for r in recs] == sorted(r.checked_at for r in recs)


@pytest.mark.slow
def test_bench_fleet_counts_every_check_once_through_a_restart(pg_cluster):
    """#18 load and faults, measured: `bench fleet` (its own durable server; small here) writes as many records as
    checks made, no duplicates, the chain valid and signed, through a database restart mid-run."""
    from packcheck.tooling.bench.fleet import format_report, run

    r = run(stations=3, checks=15, restart_at=0.4, down_s=0.5)
    assert (r["checks_made"], r["records_written"], r["duplicates"], r["left_in_spool"]) == (45, 45, 0, 0)
    assert r["chain_valid"] and r["chain_rows"] == 45 and r["restart"]["at_checks"] >= 18
    assert r["recorded_directly"] + r["spooled"] == 45 and r["record_ms_p50"] <= r["record_ms_p95"]
    assert format_report(r).splitlines()[-1] == "OK"


def test_an_unreachable_database_is_one_error_line(tmp_path):
    """#18: a station or the office pointed at a server that is not there gets one Error: line, exit 2."""
    url = f"postgresql://nobody@/nodb?host={tmp_path}&port=1"
    code, out, err = _run("history", "--db", url)
    assert (code, out) == (2, "")
    assert err == (f"Error: cannot reach the evidence database {url} (connection is bad: connection to server "
                   f"on socket \"{tmp_path}/.s.PGSQL.1\" failed: No such file or directory); check the server is "
                   "running and the --db URL\n")


def test_the_station_keeps_judging_through_a_database_outage(pg_cluster, pg_url, tmp_path, checker):
    """#18 faults at the bench: the shared database stops mid-shift; the station judges on, shows the check as
    not yet recorded, refuses to override it, and records it (once, in order) as soon as the database is back."""
    from packcheck.apps.evidence.spool import Spool
    from packcheck.apps.station import FolderSource, Station

    from test_station import scene_jpeg

    EvidenceStore.open(pg_url, upgrade=True).close()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with EvidenceStore.open(pg_url, photos_dir=tmp_path / "photos") as store:
        bench = Station(checker, store, FolderSource(inbox, poll_s=0.01), station="bench-1", timeout_s=10,
                        enrol=False, spool=Spool(tmp_path / "spool"))
        (inbox / "O1.jpg").write_bytes(scene_jpeg("SHIRT-RED", seed=1))
        assert bench.handle("O1").record.id == 1
        pg_cluster.stop_server()
        try:
            (inbox / "O3.jpg").write_bytes(scene_jpeg("STAR-ORG", seed=2))  # a mug was ordered
            out = bench.handle("O3")
            assert out.kind == "check" and out.record.id == 0 and out.verdict.status is not Status.PASS
            assert bench.handle("!ok maria fine").text == (
                "order O3 waits in the local spool for the evidence database; an override needs its recorded "
                "check: scan it again once the database is back")
            assert len(bench.spool) == 1
        finally:
            pg_cluster.start_server()
        (inbox / "O2.jpg").write_bytes(scene_jpeg("SHIRT-RED", seed=3))
        assert bench.handle("O2").record.id == 3
        assert len(bench.spool) == 0
        assert [(r.id, r.order_id) for r in store.history()] == [(1, "O1"), (2, "O3"), (3, "O2")]
        assert store.verify_chain().ok


def test_station_spool_option_is_for_a_shared_store(tmp_path, station_data):
    code, _, err = _run("station", "--data", station_data, "--db", tmp_path / "e.sqlite", "--photo-dir", tmp_path,
                        "--spool", tmp_path / "spool")
    assert (code, err) == (2, "Error: --spool is for a shared PostgreSQL store; a SQLite --db is on this machine's "
                              "disk already\n")


def test_audit_html_shows_the_stations_summary_history_prints(tmp_path):
    """#18 "a per-station summary ... in the terminal and in the HTML report", through the CLI: `audit --html
    --db` writes the figures `history --stations` prints (one function computes them), the station's name
    escaped; without --db the report has no stations table."""
    import html as html_mod

    from test_audit import build_data
    from test_report_browser import HOSTILE_STATION, station_db

    root = build_data(tmp_path / "data")
    db = station_db(tmp_path / "evidence.sqlite")
    code, out, _ = _run("history", "--db", db, "--stations")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["station", "checks", "FLAG", "REVIEW", "ERROR", "overrides", "photo->verdict",
                                "(median)"]
    assert lines[1].split() == ["-", "2", "0.0%", "50.0%", "1", "2", "-"]
    assert lines[3].split() == ["B", "1", "100.0%", "0.0%", "0", "1", "-"]
    assert lines[2].split()[-7:] == ["1", "100.0%", "0.0%", "0", "0", "250", "ms"]  # the name cut at 14
    report = tmp_path / "out" / "report.html"
    code, _, err = _run("audit", "--data", root, "--out", tmp_path / "out" / "r.csv", "--html", report, "--db", db,
                        "--workers", "1", "-q")
    assert code == 1, err
    page = report.read_text(encoding="utf-8")
    assert ('<tr data-station-summary="-"><td>-</td><td class=num>2</td><td class=num>0.0%</td>'
            "<td class=num>50.0%</td><td class=num>1</td><td class=num>2</td><td class=num>-</td></tr>") in page
    name = html_mod.escape(HOSTILE_STATION)
    assert (f"<td>{name}</td><td class=num>1</td><td class=num>100.0%</td><td class=num>0.0%</td>"
            "<td class=num>0</td><td class=num>0</td><td class=num>250 ms</td></tr>") in page
    assert HOSTILE_STATION not in page
    code, _, _ = _run("audit", "--data", root, "--out", tmp_path / "out2" / "r.csv", "--html",
                      tmp_path / "out2" / "report.html", "--workers", "1", "-q")
    assert code == 1 and 'class="stations"' not in (tmp_path / "out2" / "report.html").read_text(encoding="utf-8")

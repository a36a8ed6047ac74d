"""Evidence that stands up (issue #14): the site key, the hash chain, signed bundles and a verify that trusts
nothing; and --verify on hostile files (issue #15, Resources)."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from packcheck.apps.evidence import chain
from packcheck.apps.evidence.bundle import BundleMismatch, BundleUnsafe, verify_bundle, write_bundle
from packcheck.apps.evidence.keys import (
    SigningKeyError, fingerprint, init_key, load_public, load_signer, public_pem,
)
from packcheck.apps.evidence.store import EvidenceStore, PhotoInput
from packcheck.cli import cli
from packcheck.core.verdict import Status

from test_evidence import verdict_for
from test_station import jpeg, scene_rgb


@pytest.fixture
def signer(tmp_path):
    return init_key(tmp_path / "keys" / "site-key.pem")


@pytest.fixture
def store(tmp_path, signer):
    s = EvidenceStore.open(tmp_path / "ev" / "evidence.sqlite", signer=signer)
    yield s
    s.close()


def _record(store, order_id, status=Status.PASS, seed=0, **kw):
    photo = jpeg(scene_rgb("SHIRT-RED", seed=seed))
    return store.record_check(verdict_for(order_id, [photo], status), photos=[PhotoInput(photo, f"{order_id}.jpg")],
                              station="bench-1", **kw)


def _flagged_order(store):
    first = _record(store, "O1", Status.FLAG, seed=1)
    store.record_override(first.id, supervisor="maria", reason="checked by hand")
    _record(store, "O2", seed=2)
    _record(store, "O1", seed=3)
    return first


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _zip(path: Path, members: list[tuple[str, bytes]] | dict, *, infos=None) -> Path:
    items = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(path, "w") as z:
        for name, data in items:
            z.writestr(infos(name) if infos else name, data)
    return path


def _sums(members: dict[str, bytes]) -> bytes:
    return "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in sorted(members.items())
                   if n not in ("SHA256SUMS", "SIGNATURE.json")).encode()


def _verify_cli(*args) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, ["evidence", "--verify", *map(str, args)])
    return r.exit_code, r.stdout, r.stderr


# ---------------------------------------------------------------- the site key
def test_keys_init_makes_a_private_key_and_export_publishes_it(tmp_path):
    """#14 What to build: a site key, created 0600, never replaced; its public half and fingerprint exported."""
    path = tmp_path / "cfg" / "site-key.pem"
    runner = CliRunner()
    r = runner.invoke(cli, ["keys", "init", "--signing-key", str(path)])
    assert r.exit_code == 0, r.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_uid == os.geteuid()
    signer = load_signer(path)
    assert r.stdout.splitlines()[1] == f"fingerprint {signer.fingerprint}"
    r = runner.invoke(cli, ["keys", "init", "--signing-key", str(path)])
    assert r.exit_code == 2 and r.stderr.startswith(f"Error: {path} already exists")
    pub = tmp_path / "seller-key.pem"
    r = runner.invoke(cli, ["keys", "export", "--signing-key", str(path), "--out", str(pub)])
    assert r.exit_code == 0 and r.stdout.splitlines()[-1] == f"fingerprint {signer.fingerprint}"
    assert "PRIVATE" not in pub.read_text() and fingerprint(load_public(pub)) == signer.fingerprint


def test_a_key_others_can_read_or_a_linked_key_is_refused(tmp_path, signer):
    """#14: the private key readable only by the account that runs the station; a world-readable key is refused."""
    os.chmod(signer.path, 0o644)
    with pytest.raises(SigningKeyError, match=r"can be read by other accounts \(mode 0644\); make it private with: "
                                              r"chmod 600 "):
        load_signer(signer.path)
    r = CliRunner().invoke(cli, ["keys", "export", "--signing-key", str(signer.path)])
    assert r.exit_code == 2 and r.stderr == (f"Error: the signing key {signer.path} can be read by other accounts "
                                             f"(mode 0644); make it private with: chmod 600 {signer.path}\n")
    os.chmod(signer.path, 0o600)
    link = tmp_path / "link.pem"
    link.symlink_to(signer.path)
    with pytest.raises(SigningKeyError, match="is a symbolic link"):
        load_signer(link)


def test_the_key_must_stay_outside_the_data_folder(tmp_path):
    """#14: the private key outside the data folder (a bundle, the kiosk or a copy of the folder never carries it)."""
    data = tmp_path / "shop"
    data.mkdir()
    r = CliRunner().invoke(cli, ["keys", "init", "--signing-key", str(data / "k.pem"),
                                                 "--data", str(data)])
    assert r.exit_code == 2 and "is inside" in r.stderr and "keep it outside the data and evidence folders" in r.stderr
    assert not (data / "k.pem").exists()


# ---------------------------------------------------------------- the chain
def test_every_check_and_override_is_chained_and_signed(store, signer):
    """#14: every recorded check and override appended to one hash chain, each row signed by the site key."""
    first = _flagged_order(store)
    recs = store.history()
    positions = sorted([r.chain.seq for r in recs] + [o.chain.seq for r in recs for o in r.overrides])
    assert positions == [1, 2, 3, 4]
    assert first.chain.prev_hash == chain.GENESIS
    assert recs[0].overrides[0].chain.prev_hash == recs[0].chain.row_hash
    assert all(r.chain.signed_by == signer.fingerprint and r.chain.row_sig for r in recs)
    report = store.verify_chain(public_key=signer.public, require_signatures=True)
    assert report.ok and (report.rows, report.signed, report.head_seq) == (4, 4, 4)


def test_new_columns_are_covered_by_the_chain(store, signer):
    """#14: canonical = every column, so a column another package adds later (override fields) is chained too;
    added NULL-able without a default, it leaves the older rows' hashes valid."""
    _flagged_order(store)
    with store._transaction() as c:
        c.execute("ALTER TABLE overrides ADD COLUMN evidence_less INTEGER DEFAULT 0")
    assert store.verify_chain(public_key=signer.public).ok is False  # a DEFAULT changes the old rows' content
    with store._transaction() as c:
        c.execute("UPDATE overrides SET evidence_less = NULL")
    assert store.verify_chain(public_key=signer.public).ok
    o = store.record_override(store.latest().id, supervisor="ana", reason="box checked")
    with store._transaction() as c:
        c.execute("UPDATE overrides SET evidence_less = 1 WHERE id = ?", (o.id,))
    report = store.verify_chain(public_key=signer.public)
    assert report.problems == (f"override #{o.id} (of check #3) (chain position 5) was changed after it was recorded: "
                               "its content no longer matches its hash",)


def _history_verify(db, *extra) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, ["history", "--db", str(db), "--verify", *map(str, extra)])
    return r.exit_code, r.stdout, r.stderr


def test_history_verify_finds_an_edited_status(store, signer, tmp_path):
    """#14: an `UPDATE checks SET status='PASS'` in the SQLite file must be found by history --verify."""
    _flagged_order(store)
    pub = tmp_path / "pub.pem"
    pub.write_text(public_pem(signer.public))
    code, out, err = _history_verify(store.path, "--key", pub)
    assert code == 0 and out.startswith(f"OK: the evidence chain of {store.path} holds: 4 rows")
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE checks SET status='PASS'")
    conn.commit()
    conn.close()
    code, out, err = _history_verify(store.path, "--key", pub)
    assert code == 2
    assert out.splitlines() == ["FOUND: check #1 (order O1) (chain position 1) was changed after it was recorded: "
                                "its content no longer matches its hash"]
    assert err.startswith(f"Error: the evidence chain of {store.path} is broken: 1 problem found")


def test_history_verify_finds_deleted_and_reordered_rows(store, signer, tmp_path):
    """#14: history --verify finds a deleted or reordered row; deleting the newest rows is found from the ids."""
    _flagged_order(store)
    _record(store, "O3", seed=4)
    db = store.path
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM checks WHERE id = 2")
    conn.commit()
    code, out, _ = _history_verify(db)
    assert code == 2 and "FOUND: chain positions 3 to 3 are missing before check #3 (order O1): rows were deleted" in out
    # Reordered: two rows swap places in the chain.
    conn.execute("UPDATE checks SET chain_seq = -chain_seq WHERE id IN (3, 4)")
    conn.execute("UPDATE checks SET chain_seq = CASE id WHEN 3 THEN 5 ELSE 4 END WHERE id IN (3, 4)")
    conn.commit()
    code, out, _ = _history_verify(db)
    assert code == 2 and "check #4 (order O3) (chain position 4) does not link to the row before it" in out
    conn.execute("DELETE FROM checks WHERE id IN (3, 4)")
    conn.execute("DELETE FROM check_files WHERE check_id IN (3, 4)")
    conn.commit()
    conn.close()
    code, out, _ = _history_verify(db)
    assert code == 2 and "FOUND: checks #2 to #4 were recorded and then deleted" in out


def test_a_row_inserted_by_hand_or_signed_by_another_key_is_found(store, signer, tmp_path):
    """#14: the chain cannot be extended without the site key: a forged row is outside the chain or badly signed."""
    _flagged_order(store)
    conn = sqlite3.connect(store.path)
    conn.execute("INSERT INTO checks (order_id, checked_at, status, reasons, message, thresholds_version, photo_sha256,"
                 " verdict_json, extra_json) VALUES ('O9', '2026-01-01T00:00:00.000Z', 'PASS', '[]', 'ok', 't',"
                 " '[]', '{}', '{}')")
    conn.commit()
    conn.close()
    report = store.verify_chain(public_key=signer.public)
    assert report.problems == ("check #4 (order O9) is not in the chain (no chain position or hash): added to the "
                               "database by hand",)
    other = init_key(tmp_path / "other.pem")
    with EvidenceStore.open(tmp_path / "x" / "e.sqlite", signer=other) as forged:
        _record(forged, "O1")
        assert forged.verify_chain(public_key=other.public).ok
        report = forged.verify_chain(public_key=signer.public)
    assert report.problems == ("check #1 (order O1) (chain position 1) has a signature that the site key did not "
                               "make",)


def test_a_schema_1_database_is_upgraded_and_its_rows_chained(tmp_path):
    """An evidence database of the previous release opens: its rows join the chain (unsigned) in time order."""
    db = tmp_path / "old.sqlite"
    from packcheck.apps.evidence import store as store_mod
    from packcheck.apps.evidence.backends import SqliteBackend

    conn = sqlite3.connect(db)
    conn.executescript(SqliteBackend.ddl(store_mod._SCHEMA) + "PRAGMA user_version = 1;")
    conn.execute("INSERT INTO checks (order_id, checked_at, status, reasons, message, thresholds_version, photo_sha256,"
                 " verdict_json, extra_json) VALUES ('O1', '2026-01-01T00:00:00.000Z', 'FLAG', '[]', 'x', 't', '[]',"
                 " '{}', '{}')")
    conn.execute("INSERT INTO overrides (check_id, overridden_at, supervisor, reason) VALUES "
                 "(1, '2026-01-01T00:01:00.000Z', 'maria', 'ok')")
    conn.commit()
    conn.close()
    with EvidenceStore.open(db) as s:
        report = s.verify_chain()
        assert report.ok and (report.rows, report.signed) == (2, 0)
        rec = s.get_check(1)
        assert rec.chain.seq == 1 and rec.overrides[0].chain.seq == 2


#: The station work's schema 2 (#16, before it was merged with the chain): override columns with a DEFAULT, then
#: (as in schema 4) refused overrides and photos looked up by their bytes; no chain columns.
STATION_SCHEMA_2_COLUMNS = """
ALTER TABLE overrides ADD COLUMN authenticated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE overrides ADD COLUMN without_evidence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE overrides ADD COLUMN reason_code TEXT;
"""


def test_a_station_schema_2_database_is_upgraded_and_its_rows_chained(tmp_path):
    """Merge of #14/#18 with #16: a database of the station work's own schema 2 (told by its columns: override
    fields, no chain) opens; its override fields and refusals stay, its rows join the chain, schema 4 after."""
    db = tmp_path / "station2.sqlite"
    from packcheck.apps.evidence import store as store_mod
    from packcheck.apps.evidence.backends import SqliteBackend

    conn = sqlite3.connect(db)
    tables = [SqliteBackend.ddl(step) for step in store_mod._MIGRATIONS[4] if not step.startswith("ALTER")]
    conn.executescript(SqliteBackend.ddl(store_mod._SCHEMA) + STATION_SCHEMA_2_COLUMNS + ";\n".join(tables)
                       + ";\nPRAGMA user_version = 2;")
    conn.execute("INSERT INTO checks (order_id, checked_at, status, reasons, message, thresholds_version, photo_sha256,"
                 " verdict_json, extra_json) VALUES ('O1', '2026-01-01T00:00:00.000Z', 'ERROR', '[]', 'x', 't', '[]',"
                 " '{}', '{}')")
    conn.execute("INSERT INTO overrides (check_id, overridden_at, supervisor, reason, authenticated, without_evidence,"
                 " reason_code) VALUES (1, '2026-01-01T00:01:00.000Z', 'maria', 'camera_broken', 1, 1,"
                 " 'camera_broken')")
    conn.execute("INSERT INTO override_refusals (check_id, refused_at, supervisor, why) VALUES "
                 "(1, '2026-01-01T00:00:30.000Z', 'maria', 'wrong code')")
    conn.commit()
    conn.close()
    with EvidenceStore.open(db) as s:
        assert s.applied == [2, 3, 4] and s.schema_version() == store_mod.SCHEMA_VERSION
        report = s.verify_chain()
        assert report.ok and (report.rows, report.signed) == (2, 0)
        [o] = s.get_check(1).overrides
        assert (o.authenticated, o.without_evidence, o.reason_code, o.chain.seq) == (True, True, "camera_broken", 2)
        assert [r["why"] for r in s.override_refusals()] == ["wrong code"]


def test_an_overrides_code_check_and_shipped_without_evidence_are_in_the_chain(store, signer):
    """Merge of #14 with #16: the override's new facts are columns of its row, so the chain covers them:
    marking an unchecked override as code-checked in the database is found by history --verify."""
    from packcheck.core.verdict import error_verdict

    rec = store.record_check(error_verdict("O1", "photo_unreadable", "none", thresholds_version="t"))
    store.record_override(rec.id, supervisor="bob", reason="typed")
    store.record_override(rec.id, supervisor="maria", reason="camera_broken", authenticated=True,
                          without_evidence=True, reason_code="camera_broken")
    assert store.verify_chain(public_key=signer.public).ok
    assert json.dumps(store.chain_record("overrides", 2)["row"], sort_keys=True).count('"without_evidence": 1') == 1
    store._db.execute("UPDATE overrides SET authenticated = 1 WHERE id = 1")
    report = store.verify_chain(public_key=signer.public)
    assert report.problems == ("override #1 (of check #1) (chain position 2) was changed after it was recorded: its "
                               "content no longer matches its hash",)


# ---------------------------------------------------------------- bundles
def test_a_forged_bundle_does_not_verify(store, signer, tmp_path):
    """#14 first bullet: replace the photo, set every status to PASS, recompute SHA256SUMS, zip again: not OK."""
    _flagged_order(store)
    good = write_bundle(store, "O1", tmp_path / "good.zip", signer=signer).path
    m = _members(good)
    photo = next(n for n in m if n.startswith("photos/check-1-"))
    m[photo] = jpeg(scene_rgb("SHIRT-GRN", seed=9))
    m["verdict.json"] = m["verdict.json"].replace(b'"FLAG"', b'"PASS"')
    m["SHA256SUMS"] = _sums(m)
    forged = _zip(tmp_path / "forged.zip", m)
    code, out, err = _verify_cli(forged)
    assert code == 2 and out == ""
    assert "SHA256SUMS is not the manifest that was signed (it was changed after signing)" in err
    assert "is not the photo that was judged" in err
    assert "check #1: its chain record does not match its hash" in err


def test_a_key_holder_who_re_signs_a_forgery_is_caught_by_the_chain_and_the_database(store, signer, tmp_path):
    """#14: even re-signed with the site key, a changed verdict disagrees with its chain record and the database."""
    _flagged_order(store)
    good = write_bundle(store, "O1", tmp_path / "good.zip", signer=signer).path
    m = _members(good)
    doc = json.loads(m["verdict.json"])
    doc["checks"][0]["status"] = "PASS"
    record = doc["checks"][0]["chain"][0]["record"]["row"]
    record["status"] = "PASS"  # also the chain record: its hash then no longer holds
    m["verdict.json"] = json.dumps(doc).encode()
    m["SHA256SUMS"] = _sums(m)
    sig = json.loads(m["SIGNATURE.json"])
    sig["statement"]["manifest_sha256"] = hashlib.sha256(m["SHA256SUMS"]).hexdigest()
    from packcheck.apps.evidence.bundle import SIGNATURE_CONTEXT, _canonical_json

    sig["signature"] = signer.sign(SIGNATURE_CONTEXT + _canonical_json(sig["statement"]))
    m["SIGNATURE.json"] = json.dumps(sig).encode()
    forged = _zip(tmp_path / "resigned.zip", m)
    with pytest.raises(BundleMismatch, match=r"check #1: its chain record does not match its hash"):
        verify_bundle(forged)
    code, _, err = _verify_cli(forged, "--db", store.path)
    assert code == 2 and "check #1: its chain record does not match its hash" in err
    assert "check #1 differs between the bundle and the database (bundle: PASS, database: FLAG)" in err


def test_verify_with_the_database_finds_an_edited_row(store, signer, tmp_path):
    """#14: `UPDATE checks SET status='PASS'` goes unnoticed by new bundles and --verify no more."""
    _flagged_order(store)
    good = write_bundle(store, "O1", tmp_path / "good.zip", signer=signer).path
    code, out, _ = _verify_cli(good, "--db", store.path)
    assert code == 0 and out.splitlines()[-1].startswith(f"database {store.path}: chain of 4 rows valid")
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE checks SET status='PASS'")
    conn.commit()
    conn.close()
    code, _, err = _verify_cli(good, "--db", store.path)
    assert code == 2 and "database: check #1 (order O1) (chain position 1) was changed after it was recorded" in err
    later = write_bundle(store, "O1", tmp_path / "later.zip", signer=signer).path  # made from the edited database
    code, _, err = _verify_cli(later)
    assert code == 2 and "check #1: its chain record does not match its hash" in err


def test_verify_requires_the_published_key_when_given(signer, tmp_path):
    """#14: --verify names the signing key; --key PUBKEY requires that one."""
    other = init_key(tmp_path / "impostor.pem")
    with EvidenceStore.open(tmp_path / "other" / "evidence.sqlite", signer=other) as impostor:
        _flagged_order(impostor)
        bundle = write_bundle(impostor, "O1", tmp_path / "b.zip", signer=other).path
    code, out, _ = _verify_cli(bundle)
    assert code == 0 and f"signed by key {other.fingerprint}: compare it with the seller's published key" in out
    pub = tmp_path / "seller.pem"
    pub.write_text(public_pem(signer.public))
    code, out, err = _verify_cli(bundle, "--key", pub)
    assert code == 2 and f"signed by key {other.fingerprint}, not by the key given ({signer.fingerprint})" in err


@pytest.mark.parametrize("case, message", [
    ("empty_sums", "SIGNATURE.json is missing: the bundle is not signed"),
    ("duplicate", "member 'verdict.json' is in the zip more than once"),
    ("dotdot", "member '../../x' has a '..', '.' or folder entry in its name"),
    ("absolute", "member '/etc/x' has an absolute path in its name"),
    ("symlink", "member 'photos/link.jpg' is a symbolic link, not a file"),
    ("device", "member 'photos/dev.jpg' is a device, pipe or folder, not a file"),
    ("missing", "is listed in SHA256SUMS but missing from the bundle"),
])
def test_verify_refuses_bad_member_lists(store, signer, tmp_path, case, message):
    """#14: an empty SHA256SUMS, duplicate names, `../../x`, absolute names, symlinks, devices, missing members."""
    _flagged_order(store)
    good = write_bundle(store, "O1", tmp_path / "good.zip", signer=signer).path
    m = list(_members(good).items())
    infos = None
    if case == "empty_sums":
        m = [("SHA256SUMS", b"")]
    elif case == "duplicate":
        m.append(("verdict.json", b"{}"))
    elif case in ("dotdot", "absolute"):
        m.append(("../../x" if case == "dotdot" else "/etc/x", b"x"))
    elif case in ("symlink", "device"):
        name = "photos/link.jpg" if case == "symlink" else "photos/dev.jpg"
        m.append((name, b"/etc/passwd"))

        def infos(n, _name=name, _mode=(stat.S_IFLNK if case == "symlink" else stat.S_IFCHR) | 0o777):
            info = zipfile.ZipInfo(n)
            if n == _name:
                info.create_system, info.external_attr = 3, _mode << 16
            return info
    elif case == "missing":
        m = [(n, d) for n, d in m if n != "sheet.png"]
    bad = tmp_path / "bad.zip"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name it is asked to write
        _zip(bad, m, infos=infos)
    code, out, err = _verify_cli(bad)
    assert code == 2 and out == "" and err.startswith(f"Error: {bad}: ") and message in err


# ---------------------------------------------------------------- hostile files (#15, Resources)
def _patched(path: Path, data: bytes = b"{}", *, flag: int = 0, method: int | None = None,
             size: int | None = None) -> Path:
    """A zip of SHA256SUMS and one member whose headers are then rewritten: its flags (bit 0: encrypted),
    its compression method and its uncompressed size (local header and central directory alike)."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("SHA256SUMS", b"")
        z.writestr("verdict.json", data)  # stored: the bytes are kept as given
    raw = bytearray(path.read_bytes())
    for sig, flag_at, method_at, size_at in ((b"PK\x03\x04", 6, 8, 22), (b"PK\x01\x02", 8, 10, 24)):
        at = raw.find(sig)
        while at >= 0:
            raw[at + flag_at:at + flag_at + 2] = struct.pack("<H", flag)
            if method is not None:
                raw[at + method_at:at + method_at + 2] = struct.pack("<H", method)
            if size is not None and raw[at + size_at - 4:at + size_at] == struct.pack("<I", len(data)):
                raw[at + size_at:at + size_at + 4] = struct.pack("<I", size)
            at = raw.find(sig, at + 4)
    path.write_bytes(bytes(raw))
    return path


def _zip_bomb(path: Path) -> Path:
    """3 MB on disk, 3,000 MB unpacked: one deflated member of zeros."""
    import zlib

    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(1 << 20)
    # A full flush resets the compressor, so each further MB of zeros compresses to the same bytes.
    first = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    data = first + block * 2999 + c.flush()
    assert zlib.decompressobj(-15).decompress(data[:len(first) + 3 * len(block)]) == bytes(4 << 20)
    return _patched(path, data, method=zipfile.ZIP_DEFLATED, size=3000 << 20)


def _many_members(path: Path, n: int) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for i in range(n):
            z.writestr(zipfile.ZipInfo(f"m/{i}"), b"")
    return path


@pytest.mark.parametrize("case, message", [
    ("dev_zero", "/dev/zero is not a regular file (a device, pipe or folder); give the appeal zip itself"),
    ("fifo", "is not a regular file (a device, pipe or folder); give the appeal zip itself"),
    ("bomb", "member 'verdict.json' would unpack to 3145728000 bytes (at most 200 MB per member); refused unread"),
    ("members", "declares 80000 members, more than an appeal bundle has (at most 2000)"),
    ("encrypted", "member 'SHA256SUMS' is encrypted; a packcheck bundle never is"),
    ("compression", "member 'SHA256SUMS' uses compression method 99, not stored or deflated"),
])
def test_verify_refuses_hostile_files_at_once(tmp_path, case, message):
    """#15 Resources: /dev/zero, a FIFO, a 3 MB zip bomb, an 80k-member zip, an encrypted member, unknown
    compression: each a clear Error (exit 2), in a process whose memory stays small (measured, not timed)."""
    if case == "dev_zero":
        path = Path("/dev/zero")
    elif case == "fifo":
        path = tmp_path / "appeal.zip"
        os.mkfifo(path)
    elif case == "bomb":
        path = _zip_bomb(tmp_path / "bomb.zip")
        assert path.stat().st_size < 4 << 20
    elif case == "members":
        path = _many_members(tmp_path / "many.zip", 80_000)
    elif case == "encrypted":
        path = _patched(tmp_path / "enc.zip", flag=1)
    else:
        path = _patched(tmp_path / "method.zip", method=99)
    # The peak is this process's own (VmHWM of its address space): ru_maxrss survives exec on Linux and
    # would report the test runner's memory, which the child started as.
    code = ("import sys\nfrom packcheck.cli import cli\n"
            "try:\n    cli(['evidence', '--verify', sys.argv[1]], prog_name='packcheck')\n"
            "finally:\n    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
            "    print('maxrss_kb', hwm, file=sys.stderr)\n")
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    first = r.stderr.splitlines()[0]
    assert first.startswith("Error: ") and message in first and "this is a bug" not in r.stderr
    rss_mb = int(r.stderr.split("maxrss_kb ")[1].split()[0]) / 1024
    assert rss_mb < 400, f"{case}: {rss_mb:.0f} MB"


def test_the_member_name_check_is_not_quadratic(tmp_path):
    """#15: 2,000 members (the most a bundle may have) with one duplicate: found by one pass over a set."""
    path = tmp_path / "many.zip"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _zip(path, [("SHA256SUMS", b"")] + [(f"m/{i}", b"") for i in range(1998)] + [("m/7", b"")])
    with pytest.raises(BundleMismatch, match=r"member 'm/7' is in the zip more than once"):
        verify_bundle(path)
    with pytest.raises(BundleUnsafe, match="declares 2001 members"):
        verify_bundle(_many_members(tmp_path / "more.zip", 2001))


# ---------------------------------------------------------------- history streams
def test_history_streams_its_rows(store, monkeypatch):
    """#15 minor: `history` loaded every row (800 MB for 40k checks); now it reads BATCH checks at a time."""
    for i in range(7):
        _record(store, f"O{i}", Status.FLAG if i % 3 == 0 else Status.PASS, seed=i)
    monkeypatch.setattr(EvidenceStore, "BATCH", 2)
    sizes = []
    build = EvidenceStore._build

    def spy(self, rows):
        sizes.append(len(rows))
        return build(self, rows)

    monkeypatch.setattr(EvidenceStore, "_build", spy)
    it = store.iter_history()
    assert next(it).order_id == "O0" and sizes == [2]  # lazily: one batch read so far
    assert [r.order_id for r in it] == [f"O{i}" for i in range(1, 7)] and max(sizes) == 2
    assert [r.id for r in store.iter_history(limit=3)] == [5, 6, 7]
    assert [r.id for r in store.iter_history(statuses=["FLAG"], limit=2)] == [4, 7]
    r = CliRunner().invoke(cli, ["history", "--db", str(store.path), "--json", "--limit", "3"])
    assert r.exit_code == 0 and [c["id"] for c in json.loads(r.stdout)] == [5, 6, 7]
    r = CliRunner().invoke(cli, ["history", "--db", str(store.path), "--status", "FLAG"])
    assert [line.split()[0] for line in r.stdout.splitlines()[1:-1]] == ["1", "4", "7"]
    assert r.stdout.splitlines()[-1] == "3 checks"
    assert json.loads(CliRunner().invoke(cli, ["history", "--db", str(store.path), "--json", "--order", "x"]).stdout) == []


@pytest.mark.parametrize("args", [["keys"], ["keys", "init"], ["keys", "export"], ["bench", "duplicates"]])
def test_the_new_commands_have_help_with_an_example(args):
    for flag in ("-h", "--help"):
        result = CliRunner().invoke(cli, [*args, flag])
        assert result.exit_code == 0
        assert "Example" in result.output and f"packcheck {' '.join(args)} " in result.output

"""``packcheck bench printed`` (#13): the printed-products proxy set is written whole and deterministically."""
from __future__ import annotations

import csv
import hashlib

from click.testing import CliRunner

from packcheck.cli import cli


def _digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.jpg"))}


def test_the_printed_set_is_complete_and_the_same_seed_writes_the_same_files(tmp_path):
    args = ["--products", "2", "--photos", "2", "--refs", "1", "--seed", "3", "--size", "480x360", "--workers", "1"]
    for name in ("a", "b"):
        r = CliRunner().invoke(cli, ["bench", "printed", "--out", str(tmp_path / name), *args])
        assert r.exit_code == 0, r.output
    a, b = tmp_path / "a", tmp_path / "b"
    with open(a / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["kind"] for r in rows].count("iconic") == 2 and [r["kind"] for r in rows].count("photo") == 4
    assert all((a / r["path"]).is_file() for r in rows)
    with open(a / "manifest_reference.csv", newline="") as fh:
        assert [r["kind"] for r in csv.DictReader(fh)].count("reference") == 2
    assert _digests(a) == _digests(b) and len(_digests(a)) == 2 + 4 + 2


def test_a_bad_option_is_exit_2():
    r = CliRunner().invoke(cli, ["bench", "printed", "--products", "x"])
    assert r.exit_code == 2

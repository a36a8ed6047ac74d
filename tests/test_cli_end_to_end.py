"""The CLI: exit codes and messages, help on every command, and every sample order's expected status."""
import csv
import json

import pytest
from click.testing import CliRunner

from packcheck.apps.checker import Checker
from packcheck.cli import cli
from helpers import SAMPLE_DATA

EXPECTED = list(csv.DictReader(open(SAMPLE_DATA / "expected.csv", encoding="utf-8")))


@pytest.fixture(scope="module")
def sample_checker(tmp_path_factory):
    return Checker.open(SAMPLE_DATA, cache=tmp_path_factory.mktemp("cache") / "index.sqlite")


@pytest.mark.parametrize("row", EXPECTED, ids=[r["order_id"] for r in EXPECTED])
def test_every_sample_order_gets_its_expected_status(sample_checker, row):
    v = sample_checker.check_id(row["order_id"])
    assert v.status.value == row["status"], v.message
    if row["reason"]:
        assert row["reason"] in v.reasons, v.reasons


def test_sample_data_covers_every_outcome():
    statuses = {r["status"] for r in EXPECTED}
    reasons = {r["reason"] for r in EXPECTED}
    assert statuses == {"PASS", "REVIEW", "FLAG", "ERROR"}
    assert {"wrong_item", "wrong_variant", "missing_component", "retake_photo"} <= reasons


def _run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_check_pass_exit_0_and_json(tmp_path):
    r = _run("check", "ORD-1002", "--data", str(SAMPLE_DATA), "--cache", str(tmp_path / "i.sqlite"), "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["status"] == "PASS" and d["order_id"] == "ORD-1002"
    assert {c["check"] for c in d["checks"]} >= {"quality", "item", "variant", "components"}
    assert set(d["timings"]) >= {"decode", "embedding", "keypoints"}


def test_check_flag_exit_1_names_the_variant_found(tmp_path):
    r = _run("check", "ORD-1014", "--data", str(SAMPLE_DATA), "--cache", str(tmp_path / "i.sqlite"))
    assert r.exit_code == 1
    assert r.stdout.startswith("FLAG")
    assert "red found, green ordered" in r.output


def test_readme_example_is_what_the_command_prints(tmp_path):
    # The README's console example is the real output of the real command, not a sketch of it.
    readme = (SAMPLE_DATA.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("```console\n", 1)[1].split("```", 1)[0].splitlines()
    assert block[0] == "$ packcheck check ORD-1014 --data sample_data"
    r = _run("check", "ORD-1014", "--data", str(SAMPLE_DATA), "--cache", str(tmp_path / "i.sqlite"))
    assert r.stdout.splitlines() == block[1:]


def test_check_missing_component_message(tmp_path):
    r = _run("check", "ORD-1017", "--data", str(SAMPLE_DATA), "--cache", str(tmp_path / "i.sqlite"))
    assert r.exit_code == 1
    assert "CHG-20W-WHT missing (1 of 1)" in r.output


@pytest.mark.parametrize("order, words", [
    ("ORD-1022", "truncated JPEG"),
    ("NO-SUCH-ORDER", "order 'NO-SUCH-ORDER' is not in"),
])
def test_check_error_exit_2_with_an_error_line(tmp_path, order, words):
    r = CliRunner().invoke(cli, ["check", order, "--data", str(SAMPLE_DATA), "--cache", str(tmp_path / "i.sqlite")])
    assert r.exit_code == 2
    assert "Error: " in r.stderr and words in r.stderr
    assert "Traceback" not in r.output + r.stderr


def test_check_with_a_given_photo(tmp_path):
    photo = SAMPLE_DATA / "photos" / "ORD-1014.jpg"  # red trousers
    r = _run("check", "ORD-1021", "--data", str(SAMPLE_DATA), "--photo", str(photo),
             "--cache", str(tmp_path / "i.sqlite"))
    assert r.exit_code == 0, r.output  # ORD-1021 ordered the red trousers; its own photo is an empty bench


def test_bad_data_folder_is_exit_2(tmp_path):
    (tmp_path / "catalogue.csv").write_text("sku,title\nA,x\n")
    r = CliRunner().invoke(cli, ["check", "X", "--data", str(tmp_path)])
    assert r.exit_code == 2
    assert r.stderr.strip() == ("Error: catalogue.csv, row 1: missing columns product_id, variant, listing_images "
                                "(found: sku, title)")


def _commands(group, prefix=()):
    for name in group.list_commands(None):
        cmd = group.get_command(None, name)
        yield prefix + (name,), cmd
        if hasattr(cmd, "list_commands"):
            yield from _commands(cmd, prefix + (name,))


@pytest.mark.parametrize("path", [p for p, _ in _commands(cli)], ids=lambda p: " ".join(p))
def test_every_command_has_help_with_an_example(path):
    r = _run(*path, "-h")
    assert r.exit_code == 0
    assert "Example" in r.output and "packcheck" in r.output


@pytest.mark.slow
def test_readme_first_command_runs_the_demo_audit(tmp_path):
    # The README's first command, minus the venv and install it starts with (the test
    # runs inside that install), on a copy of the demo shop: it must succeed and leave
    # the CSV and report it promises.
    import shlex
    import shutil
    import subprocess
    import sys

    readme = (SAMPLE_DATA.parent / "README.md").read_text(encoding="utf-8")
    line = next(x for x in readme.splitlines() if x.startswith("python3 -m venv .venv"))
    setup = "python3 -m venv .venv && .venv/bin/pip install -e . && "
    assert line.startswith(setup)
    job = line[len(setup):].replace(".venv/bin/packcheck", f"{shlex.quote(sys.executable)} -m packcheck")
    shutil.copytree(SAMPLE_DATA, tmp_path / "sample_data", ignore=shutil.ignore_patterns(".packcheck-cache"))
    r = subprocess.run(["bash", "-c", job], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(tmp_path / "out" / "results.csv", encoding="utf-8-sig")))
    assert len(rows) == len({e["order_id"] for e in EXPECTED})
    assert "FLAG" in {x["status"] for x in rows}
    assert (tmp_path / "out" / "report.html").stat().st_size > 10_000
    # And the audit's own exit code is still 1 for this demo (the `|| [ $? -eq 1 ]` is needed).
    r = subprocess.run([sys.executable, "-m", "packcheck", "audit", "--data", "sample_data", "--out",
                        "out2/results.csv", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stderr


# ---------------------------------------------------------------- the demo at other operating points
#: Operating points as the share of genuine pairs each check may FLAG and REVIEW, from a strict 1 %
#: to a loose 5 % (each check given the whole target, stricter than calibration's split of it).
#: The limits are read off the shipped file's own genuine score distribution
#: (``genuine_quantiles``), so the test follows a recalibration instead of pinning its numbers.
OPERATING_POINTS = {"1%": (0.01, 0.05), "shipped": None, "5%": (0.05, 0.10)}


def _genuine_quantile(band, p: float) -> float:
    """The score a check's genuine pairs fall below with probability ``p`` (interpolated)."""
    import numpy as np

    from packcheck.core.thresholds import GENUINE_P

    return float(np.interp(p, GENUINE_P, band.genuine_quantiles))


@pytest.fixture(scope="module")
def operating_point_checkers(sample_checker):
    import dataclasses

    th = sample_checker.thresholds
    out = {}
    for name, rates in OPERATING_POINTS.items():
        t = th
        if rates:
            flag_p, review_p = rates
            bands = {k: dataclasses.replace(b, flag_below=_genuine_quantile(b, flag_p),
                                            review_below=_genuine_quantile(b, review_p))
                     for k, b in (("item", th.item), ("variant", th.variant))}
            t = dataclasses.replace(th, **bands)
        c = sample_checker
        out[name] = Checker(c.root, c.catalogue, c.index, t, c.packed)
    return out


@pytest.mark.parametrize("point", list(OPERATING_POINTS))
@pytest.mark.parametrize("row", EXPECTED, ids=[r["order_id"] for r in EXPECTED])
def test_demo_statuses_hold_at_any_sensible_operating_point(operating_point_checkers, point, row):
    """#16: "The sample-data expectations were made to depend on the operating point ... make the demo
    hold at any sensible target"."""
    v = operating_point_checkers[point].check_id(row["order_id"])
    assert v.status.value == row["status"], v.message
    if row["reason"]:
        assert row["reason"] in v.reasons, v.reasons

"""What `packcheck check` prints (#16, "Text output"): both limits, CIE L*a*b*, titles without the
variant twice, an ERROR said once, and JSON without the machine's folders."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from packcheck.apps.present import limits_text, reason_lines
from packcheck.cli import cli
from packcheck.core.colour import cie_lab
from packcheck.core.thresholds import load_thresholds
from packcheck.core.verdict import Status
from helpers import SAMPLE_DATA


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache") / "index.sqlite")


def _check(cache, *args):
    return CliRunner().invoke(cli, ["check", *args, "--data", str(SAMPLE_DATA), "--cache", cache])


def _check_block(lines: list[str], check: str) -> str:
    """The line of a check that did not pass and the indented lines under it."""
    start = next(i for i, x in enumerate(lines) if x[2:].split()[1:2] == [check])
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" " * 20)), len(lines))
    return "\n".join(lines[start:end])


@pytest.mark.parametrize("order, check", [("ORD-1014", "variant"), ("ORD-1011", "item")])
def test_each_scored_check_shows_both_limits(cache, order, check):
    """#16: "Text output shows one limit; REVIEW and FLAG have different ones (-0.14 and -0.61): show both"
    (once: in the check's own words or on the line under it)."""
    band = getattr(load_thresholds(), check)
    block = _check_block(_check(cache, order).stdout.splitlines(), check)
    both = f"REVIEW below {band.review_below:+.2f}, FLAG below {band.flag_below:+.2f}"
    assert block.count(both) == 1, block
    assert limits_text({"flag_below": -0.61, "review_below": -0.14}) == "REVIEW below -0.14, FLAG below -0.61"


def test_colours_are_cie_lab_everywhere(cache):
    """#16: "The colour called 'Lab' is OpenCV's 8-bit encoding (a=129, b=126): report CIE L*a*b*"."""
    d = json.loads(_check(cache, "ORD-1014", "--json").stdout)
    variant = next(c for c in d["checks"] if c["check"] == "variant")["details"]
    # green trousers ordered (a* < 0), red ones found (a* > 0): in OpenCV's 8-bit encoding both are > 0
    assert variant["ordered_lab"][1] < -10 and variant["found_lab"][1] > 10 and variant["sibling_lab"][1] > 10
    assert all(0 <= lab[0] <= 100 for lab in (variant["ordered_lab"], variant["found_lab"], d["meta"]["found_lab"]))
    text = _check(cache, "ORD-1014").stdout
    assert "colour found L* " in text and "a* +" in text and "ordered L* " in text
    assert cie_lab([255, 128, 128]) == (100.0, 0.0, 0.0)


def test_titles_do_not_repeat_the_variant(cache):
    """#16: 'Titles repeat the variant ("T-shirt, navy (navy)")'."""
    out = _check(cache, "ORD-1001").stdout
    assert "Rocket Club T-shirt, navy matches the listing" in out
    assert "(navy)" not in out


def test_an_error_is_printed_once_on_stderr_with_exit_2(cache):
    """#16: "An ERROR is printed twice (stdout and stderr)". Once, as the Error: line on stderr."""
    r = _check(cache, "ORD-1022")
    assert r.exit_code == 2
    assert r.stdout == ""
    errors = [x for x in r.stderr.splitlines() if not x.startswith("Warning: ")]
    assert errors == ["Error: photos/ORD-1022.jpg is a truncated JPEG (the end of the image data is missing); it may "
                      "still be copying, or the camera share dropped: retake or copy it again"]


def test_json_holds_paths_relative_to_the_data_folder(cache):
    """#16: "--json holds absolute paths of the machine"."""
    for order in ("ORD-1014", "ORD-1022"):
        r = _check(cache, order, "--json")
        assert str(SAMPLE_DATA.resolve()) not in r.stdout and str(SAMPLE_DATA) not in r.stdout
        d = json.loads(r.stdout)
        assert d["photo_paths"] == [f"photos/{order}.jpg"]
    item = next(c for c in json.loads(_check(cache, "ORD-1014", "--json").stdout)["checks"] if c["check"] == "item")
    assert item["details"]["listing_image"].startswith("listings/TR-CHINO-")  # the ordered product's listing
    assert item["details"]["nearest_image"].startswith("listings/TR-CHINO-")


def test_reason_lines_say_each_reason_once():
    """#16: "the same reason appears twice" (the item and the variant check both say "red found")."""
    checks = [{"check": "item", "status": "FLAG", "reason": "wrong_variant", "sku": "A", "message": "red found (item)"},
              {"check": "variant", "status": "REVIEW", "reason": "wrong_variant", "sku": "A", "message": "red found"},
              {"check": "components", "status": "PASS", "reason": None, "sku": None, "message": "ok"},
              {"check": "weight", "status": "FLAG", "reason": "weight_short", "sku": None, "message": "59 g light"}]
    assert reason_lines(checks, status="FLAG") == ["red found (item)", "59 g light"]
    assert reason_lines([], status="ERROR", message="no photo") == ["no photo"]


def test_flag_and_error_have_distinct_colours_on_the_terminal():
    """#16: "FLAG and ERROR share one red on the terminal" (ERROR is magenta: the purple of the kiosk,
    report and sheet)."""
    from packcheck.cli.common import render_verdict
    from packcheck.core.verdict import CheckResult, combine, error_verdict

    flag = combine("O1", [CheckResult("item", Status.FLAG, "wrong_item", "looks like X", -3.0, -0.5, -0.2)],
                   thresholds_version="t")
    error = error_verdict("O2", "photo_unreadable", "no photo", thresholds_version="t")
    assert "\x1b[41m" in render_verdict(flag, big=True) and "\x1b[45m" not in render_verdict(flag, big=True)
    assert "\x1b[45m" in render_verdict(error, big=True) and "\x1b[41m" not in render_verdict(error, big=True)
    assert render_verdict(error, big=True).endswith("  no photo")  # the station shows the reason on the banner

"""Checks and verdicts: components, thresholds file, the combined verdict, and the item/variant
checks on synthetic packing photos of a synthetic shop."""
import dataclasses
from pathlib import Path

import pytest

from packcheck.apps.checker import Checker
from packcheck.core.checks import component_check, expected_components
from packcheck.core.records import Catalogue, CatalogueItem, OrderLine
from packcheck.core.thresholds import DEFAULT_PATH, load_thresholds
from packcheck.core.verdict import CheckResult, Status, combine
from packcheck.errors import ThresholdsError
from packcheck.tooling import synth
from helpers import synth_shop, write_csv


def _catalogue():
    items = {s: CatalogueItem(s, s, s.title(), "", (Path("x.jpg"),)) for s in ("KIT", "CASE")}
    return Catalogue(items, {"KIT": (("phone", 1), ("charger", 1), ("cable", 2))})


def test_expected_components_are_bom_times_quantity_summed_over_lines():
    lines = [OrderLine("KIT", 2, 2), OrderLine("CASE", 1, 3)]
    assert expected_components(_catalogue(), lines) == {"phone": 2, "charger": 2, "cable": 4, "CASE": 1}


def test_component_check_names_missing_and_extra():
    exp = {"phone": 1, "charger": 1, "cable": 1}
    r = component_check(exp, {"phone": 1, "cable": 1})
    assert r.status is Status.FLAG and r.reason == "missing_component"
    assert r.message == "charger missing (1 of 1)"
    r = component_check(exp, {"phone": 1, "charger": 1, "cable": 3})
    assert r.status is Status.REVIEW and r.reason == "extra_component" and "cable (3 packed, 1 expected)" in r.message
    r = component_check(exp, None)
    assert r.status is Status.PASS and "not recorded" in r.message
    assert component_check(exp, dict(exp)).status is Status.PASS


def test_verdict_is_the_worst_judged_check_and_never_dilutes_a_flag():
    ok = CheckResult("item", Status.PASS, None, "fine", 2.0, -0.5, 0.3)
    bad = CheckResult("item", Status.FLAG, "wrong_item", "looks like X", -3.0, -0.5, 0.3)
    retake = CheckResult("quality", Status.REVIEW, "retake_photo", "retake photo: too dark")
    assert combine("O", [ok], thresholds_version="t").status is Status.PASS
    v = combine("O", [ok, bad], thresholds_version="t")
    assert v.status is Status.FLAG and v.reasons == ("wrong_item",) and v.message == "looks like X"
    # A check the photo cannot support is recorded as not judged: no claim, no status.
    unsupported = dataclasses.replace(bad, status=Status.PASS, reason=None, message="item not judged: retake",
                                      judged=False)
    v = combine("O", [retake, unsupported], thresholds_version="t")
    assert v.status is Status.REVIEW and v.reasons == ("retake_photo",) and "looks like" not in v.message
    assert v.to_dict()["checks"][1]["judged"] is False and v.to_dict()["checks"][1]["value"] == -3.0  # recorded
    # A judged FLAG is never averaged away by another check.
    assert combine("O", [retake, bad], thresholds_version="t").status is Status.FLAG


def test_shipped_thresholds_load_and_bad_files_are_refused(tmp_path):
    th = load_thresholds()
    assert th.schema_version == 3 and th.item.flag_below <= th.item.review_below
    text = DEFAULT_PATH.read_text()
    for broken, words in [
        (text.replace("schema_version = 3", "schema_version = 99"), "schema_version 99"),
        (text.replace("schema_version = 3", "schema_version = 1"), "schema_version 1 is no longer read.*recalibrate"),
        (text.replace("schema_version = 3", "schema_version = 2"), "schema_version 2 is no longer read.*log-odds"),
        (text.replace("[fusion]\n", "[fusionz]\n"), "missing key 'fusion.embedding'"),
        (text.replace("[locate]\n", "[locatez]\n"), "missing key 'locate.min_item_fraction'"),
        (text.replace("pipeline_version = ", "pipeline = "), "missing key 'pipeline_version'"),
        (text.replace("[item]\n", "[itemz]\n"), "missing key 'item.flag_below'"),
        ("schema_version = [", "not valid TOML"),
    ]:
        p = tmp_path / "t.toml"
        p.write_text(broken)
        with pytest.raises(ThresholdsError, match=words):
            load_thresholds(p)
    with pytest.raises(ThresholdsError, match="does not exist"):
        load_thresholds(tmp_path / "none.toml")
    with pytest.raises(ThresholdsError, match="unknown signal"):
        th.with_signals(["embedding", "smell"])
    assert th.with_signals(["colour"]).enabled_signals == ("colour",)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A synthetic shop (trousers in 3 colours, mugs in 2, a towel, a bottle) and packing photos."""
    root = tmp_path_factory.mktemp("shop")
    skus = synth_shop(root)
    by_item = {v: k for k, v in skus.items()}
    (root / "photos").mkdir()
    orders = []
    cases = {
        "PASS-TR": ("TRO-" + synth.list_variants("trousers")[0][:3].upper(), ("trousers", 0)),
        "PASS-MUG": ("MUG-" + synth.list_variants("mug")[0][:3].upper(), ("mug", 0)),
        "VARIANT": ("TRO-" + synth.list_variants("trousers")[0][:3].upper(), ("trousers", 2)),
        "ITEM": ("BOT-" + synth.list_variants("bottle")[0][:3].upper(), ("towel", 0)),
    }
    for n, (oid, (sku, (product, vi))) in enumerate(cases.items()):
        variant = synth.list_variants(product)[vi]
        img = synth.render_scene([(product, variant)], seed=100 + n, size=(960, 720))
        synth.save_jpeg(root / "photos" / f"{oid}.jpg", img, quality=85)
        orders.append([oid, sku, 1, f"photos/{oid}.jpg"])
        assert by_item[(product, variant)]  # the shipped item is in the catalogue
    write_csv(root / "orders.csv", ["order_id", "sku", "qty", "photo"], orders)
    return Checker.open(root, cache=None), cases


@pytest.mark.parametrize("order_id, status, reason", [
    ("PASS-TR", Status.PASS, None),
    ("PASS-MUG", Status.PASS, None),
    ("VARIANT", Status.FLAG, "wrong_variant"),
    ("ITEM", Status.FLAG, "wrong_item"),
])
def test_synthetic_packing_photos_get_the_right_verdict(shop, order_id, status, reason):
    checker, _ = shop
    v = checker.check_id(order_id)
    assert v.status is status, v.message
    if reason:
        assert reason in v.reasons
    item = v.check("item")
    assert item.flag_below == checker.thresholds.item.flag_below  # the limit comes from the file
    assert item.details.nearest_sku and item.details.decided_by
    # the embedding's z-score is there exactly when it ran; the cascade leaves it out of a clear PASS only
    ran = "embedding" in v.meta.stages_run
    assert (item.details.z.embedding is not None) == ran and (ran or v.status is Status.PASS)
    assert dict(v.timings).keys() >= {"decode", "locate", "hash_colour", "embedding", "keypoints", "match"}


def test_wrong_variant_names_the_sibling_found(shop):
    checker, cases = shop
    v = checker.check_id("VARIANT")
    found = synth.list_variants("trousers")[2]
    assert f"{found} found" in v.message
    assert v.check("variant").details.nearest_sibling == "TRO-" + found[:3].upper()


def test_turning_signals_off_changes_what_is_fused(shop):
    checker, _ = shop
    colour_only = Checker(checker.root, checker.catalogue, checker.index, checker.thresholds.with_signals(["colour"]),
                          checker.packed)
    v = colour_only.check_id("PASS-MUG")
    assert [s for s, _ in v.check("item").details.z.items()] == ["colour"]


def test_every_number_of_the_thresholds_file_is_fitted_or_set_by_hand_with_a_reason():
    import tomllib

    from packcheck.core.thresholds import FITTED, HAND_SET

    doc = tomllib.loads(DEFAULT_PATH.read_text())
    numbers = {f"{section}.{key}" for section, table in doc.items() if isinstance(table, dict) and section != "provenance"
               for key, value in table.items()
               if isinstance(value, (int, float)) or (isinstance(value, list) and value
                                                      and all(isinstance(v, (int, float)) for v in value))}
    assert numbers == set(FITTED) | set(HAND_SET)
    assert all(len(why) > 20 for why in HAND_SET.values())
    for line in DEFAULT_PATH.read_text().splitlines():  # the file says which is which, on the line itself
        key = line.split(" = ")[0]
        if " = " in line and not line.startswith(("#", "[")) and key not in ("schema_version", "version"):
            assert "  # fitted" in line or "  # set by hand: " in line or "provenance" in line or \
                key in ("pipeline_version", "commit") or not any(k.endswith("." + key) for k in numbers), line


def test_a_calibration_older_than_the_pipeline_is_said_once_on_stderr(tmp_path):
    from click.testing import CliRunner

    from packcheck.cli import cli
    from packcheck.core.fingerprint import PIPELINE_VERSION
    from helpers import SAMPLE_DATA

    text = DEFAULT_PATH.read_text()
    current = tmp_path / "current.toml"
    current.write_text(text.replace(f"pipeline_version = {load_thresholds().pipeline_version}",
                                    f"pipeline_version = {PIPELINE_VERSION}"))
    older = tmp_path / "older.toml"
    older.write_text(text.replace(f"pipeline_version = {load_thresholds().pipeline_version}",
                                  f"pipeline_version = {PIPELINE_VERSION - 1}"))
    args = ["check", "ORD-1002", "--data", str(SAMPLE_DATA), "--cache", str(tmp_path / "i.sqlite"), "--thresholds"]
    r = CliRunner().invoke(cli, args + [str(current)])
    assert r.exit_code == 0 and r.stderr == ""
    r = CliRunner().invoke(cli, args + [str(older)])
    assert r.exit_code == 0 and r.stdout.startswith("PASS")
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(
        f"Warning: thresholds {load_thresholds(older).version} were fitted at pipeline version {PIPELINE_VERSION - 1}")
    assert "recalibrate with 'packcheck calibrate'" in r.stderr

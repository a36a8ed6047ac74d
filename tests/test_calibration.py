"""The calibration tool: limits with a known answer, error messages, the TOML, the command end to end."""
from __future__ import annotations

import base64
import csv
import subprocess
import sys
import re
import tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from packcheck.cli import cli
from packcheck.core.thresholds import FEATURES, GENUINE_P, STANDARDISED, Band, SIGNALS, load_thresholds
from packcheck.errors import DataError
from packcheck.tooling.calibration import calibrate as cal, report

REALDATA = Path(__file__).resolve().parents[2] / "shared/realdata/grocerystore"


# ---------------------------------------------------------------- helpers
def make_pairs(genuine_item, impostor_item, *, genuine_variant=None, impostor_variant=None,
               impostor_label="wrong_item") -> cal.Pairs:
    """One photo per pair (so folds and the bootstrap see independent pairs)."""
    rows = []
    gv = [None] * len(genuine_item) if genuine_variant is None else genuine_variant
    iv = [None] * len(impostor_item) if impostor_variant is None else impostor_variant
    for s, v in zip(genuine_item, gv):
        rows.append((len(rows), "A", "match", float(s), None if v is None else float(v)))
    for s, v in zip(impostor_item, iv):
        rows.append((len(rows), "A", impostor_label, float(s), None if v is None else float(v)))
    return cal.Pairs.build(rows, [f"photo {i}" for i in range(len(rows))])


def fitted(pairs, target, **kw):
    return cal.calibrate_scores(pairs, base=load_thresholds(), normalisation=dict(load_thresholds().normalisation),
                                target=target, review_rate=kw.pop("review_rate", cal.default_review_rate(target)),
                                folds=kw.pop("folds", 5), seed=0, n_boot=kw.pop("n_boot", 300),
                                source=kw.pop("source"), command="test")


# ---------------------------------------------------------------- choosing limits
def test_limit_at_picks_the_order_statistic_by_hand():
    genuine = np.array([7.0, 3.0, 1.0, 9.0, 2.0, 5.0, 4.0, 8.0, 6.0, 10.0,
                        11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0])  # 1..19 shuffled
    # k = floor(0.10 * 20) = 2: the 2nd lowest score; flags only the 1.0 pair.
    assert cal.limit_at(genuine, 0.10) == 2.0
    assert cal.limit_at(genuine, 0.25) == 5.0  # k = floor(5.0) = 5
    assert cal.limit_at(genuine, 0.04) is None  # 0.04 * 20 < 1: no limit can promise 4%
    assert cal.limit_at(np.array([]), 0.5) is None


def test_fit_on_a_tiny_hand_made_example_picks_exact_limits(tmp_path):
    genuine = np.arange(1.0, 20.0)  # 19 genuine pairs scoring 1..19
    impostor = np.array([-3.0, -1.0, 0.5, 1.5, 2.5, 6.0])
    pairs = make_pairs(genuine, impostor)
    f = cal.fit(pairs, target=0.10, review_rate=0.20)
    assert (f.item.flag_below, f.item.review_below) == (2.0, 4.0)  # k = 2 and k = floor(0.2 * 20) = 4
    assert f.variant is None and f.item.flags and f.item.reviews
    ist, vst = cal.statuses(pairs, f.item.band, None)
    r = cal.rates(pairs, ist, vst)
    assert r["genuine.verdict.flag"] == pytest.approx(1 / 19)  # the 1.0 pair
    assert r["genuine.verdict.review"] == pytest.approx(2 / 19)  # 2.0 and 3.0
    assert r["wrong_item.verdict.flag"] == pytest.approx(4 / 6)  # -3, -1, 0.5, 1.5
    assert r["wrong_item.verdict.pass"] == pytest.approx(1 / 6)  # 6.0


def test_limits_are_written_rounded_down_so_rounding_never_flags_more():
    pairs = make_pairs([0.123456789, 1, 2, 3, 4, 5, 6, 7, 8, 9], [-5.0])
    f = cal.fit(pairs, target=0.2, review_rate=0.3)  # k = floor(0.2 * 11) = 2 -> 1.0
    assert f.item.flag_below == 1.0
    f = cal.fit(make_pairs([0.0, 0.123456789, 2, 3, 4, 5, 6, 7, 8, 9], [-5.0]), target=0.2, review_rate=0.3)
    assert f.item.flag_below == 0.1234


def test_too_few_genuine_pairs_never_flag_and_warn(tmp_path):
    src = tmp_path / "labels.csv"
    src.write_text("x")
    pairs = make_pairs(np.linspace(0, 1, 20), np.linspace(-2, -1, 20))
    c = fitted(pairs, 0.01, source=src)  # 0.01 * 21 < 1
    assert not c.fit.item.flags
    assert c.item.flag_below < pairs.item.min()
    assert any("only 20 genuine (match) pairs" in w and "at least 300" in w for w in c.warnings)
    assert any("never flags" in w for w in c.warnings)


@pytest.mark.parametrize("target", [0.01, 0.05])
def test_synthetic_gaussians_meet_the_target_on_held_out_pairs(target):
    # genuine ~ N(2, 1), impostor ~ N(-2, 1): the limit is 2 + z_target, e.g. -0.326 at 1%.
    rng = np.random.default_rng(7)
    pairs = make_pairs(rng.normal(2, 1, 3000), rng.normal(-2, 1, 3000))
    f = cal.fit(pairs, target=target)
    from scipy.stats import norm

    assert f.item.flag_below == pytest.approx(2 + norm.ppf(target), abs=0.1)
    held_genuine = rng.normal(2, 1, 200_000)
    held_impostor = rng.normal(-2, 1, 200_000)
    false_flags = (held_genuine < f.item.flag_below).mean()
    assert false_flags <= target * 1.35  # one fit: sampling spread of the 3,000 genuine scores
    assert (held_impostor < f.item.flag_below).mean() >= norm.cdf(4 + norm.ppf(target)) - 0.02


def test_the_limit_rule_meets_the_target_on_average_over_many_fits():
    # The order-statistic rule promises an *expected* held-out rate <= target; the naive
    # in-sample rule (flag floor(target * n) of the genuine pairs) overshoots it.
    rng = np.random.default_rng(11)
    target, n = 0.01, 250
    rates = []
    for _ in range(400):
        limit = cal.limit_at(rng.normal(2, 1, n), target)
        rates.append((rng.normal(2, 1, 4000) < limit).mean())
    assert np.mean(rates) <= target * 1.05
    assert np.mean(rates) >= target * 0.5  # and it is not needlessly strict


def test_cross_validation_reports_the_held_out_rate():
    rng = np.random.default_rng(3)
    target = 0.05
    pairs = make_pairs(rng.normal(2, 1, 2000), rng.normal(-2, 1, 2000))
    cv = cal.cross_validate(pairs, target=target, review_rate=0.25, folds=5, seed=0, n_boot=300)
    assert cv.folds == 5 and len(cv.per_fold) == 5
    pooled = cv.pooled["genuine.verdict.flag"]
    assert 0.03 <= pooled <= 0.065
    lo, hi = cv.ci["genuine.verdict.flag"]
    assert lo <= target <= hi
    assert cv.pooled["wrong_item.verdict.flag"] >= 0.9
    # grouped by photo: every photo in exactly one fold, folds of (almost) equal size
    sizes = np.bincount(list(cv.fold_of_photo.values()))
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == len(np.unique(pairs.photo))


def test_cross_validation_keeps_a_photos_pairs_in_one_fold():
    # Photo p has a genuine pair and 3 impostor pairs; the folds must not split them.
    rows = []
    rng = np.random.default_rng(0)
    for p in range(40):
        rows.append((p, "A", "match", rng.normal(2), None))
        rows += [(p, s, "wrong_item", rng.normal(-2), None) for s in "BCD"]
    pairs = cal.Pairs.build(rows)
    folds = cal.grouped_folds(pairs.photo, 4, seed=1)
    assert set(folds) == set(range(40))
    cv = cal.cross_validate(pairs, target=0.05, review_rate=0.25, folds=4, seed=1, n_boot=100)
    assert cv is not None
    assert cal.cross_validate(pairs, target=0.05, review_rate=0.25, folds=41, seed=1) is None  # more folds than photos


def test_cross_validation_keeps_a_products_photos_in_one_fold():
    """With products known (Pairs.group), a product's photos are never on both sides of a fold."""
    rows, groups = [], []
    rng = np.random.default_rng(1)
    for p in range(40):
        groups.append(f"product-{p % 8}")
        rows.append((p, "A", "match", rng.normal(2), None))
        rows += [(p, s, "wrong_item", rng.normal(-2), None) for s in "BC"]
    pairs = cal.Pairs.build(rows, groups=groups)
    cv = cal.cross_validate(pairs, target=0.05, review_rate=0.25, folds=4, seed=1, n_boot=100)
    assert cv is not None and set(cv.fold_of_photo) == {f"product-{k}" for k in range(8)}
    assert cal.cross_validate(pairs, target=0.05, review_rate=0.25, folds=9, seed=1) is None  # 8 products


def test_budget_split_goes_to_the_check_that_separates_the_impostors():
    # Wrong variants look like the item (item check blind) but differ in colour (variant check sees them).
    rng = np.random.default_rng(5)
    n = 2000
    pairs = make_pairs(rng.normal(2, 1, n), rng.normal(2, 1, n),
                       genuine_variant=rng.normal(1, 0.5, n), impostor_variant=rng.normal(-0.5, 0.5, n),
                       impostor_label="wrong_variant")
    f = cal.fit(pairs, target=0.02)
    assert f.item_share <= 0.2 and f.variant is not None and f.variant.flags
    # The verdict (FLAG if either check flags) still meets the target on new pairs.
    held = make_pairs(rng.normal(2, 1, 100_000), [], genuine_variant=rng.normal(1, 0.5, 100_000))
    ist, vst = cal.statuses(held, f.item.band, f.variant.band)
    assert (np.maximum(ist, vst) == 2).mean() <= 0.02 * 1.3
    assert cal.rates(pairs, *cal.statuses(pairs, f.item.band, f.variant.band))["wrong_variant.verdict.flag"] > 0.75


def test_bootstrap_interval_covers_the_rate_and_is_seeded():
    rng = np.random.default_rng(1)
    pairs = make_pairs(rng.normal(2, 1, 500), rng.normal(-2, 1, 500))
    ist, vst = cal.statuses(pairs, Band(0.0, 1.0), None)
    r = cal.rates(pairs, ist, vst)
    a = cal.bootstrap(pairs, ist, vst, n_boot=500, seed=4)
    b = cal.bootstrap(pairs, ist, vst, n_boot=500, seed=4)
    assert a == b
    lo, hi = a["genuine.verdict.flag"]
    assert lo <= r["genuine.verdict.flag"] <= hi and hi - lo < 0.05
    assert a["genuine.variant.flag"] is None  # no pair has a variant score


# ---------------------------------------------------------------- the thresholds file
def test_written_thresholds_round_trip_through_load_thresholds(tmp_path):
    src = tmp_path / "labels.csv"
    src.write_text("photo,sku,label\n")
    rng = np.random.default_rng(2)
    n = 400
    pairs = make_pairs(rng.normal(2, 1, n), rng.normal(-1, 1, n), genuine_variant=rng.normal(0.5, 0.3, n),
                       impostor_variant=rng.normal(-0.5, 0.3, n), impostor_label="wrong_variant")
    norm = dict(load_thresholds().normalisation)
    norm.update(colour_mean=1.2345, reference_colour_std=0.8765)
    c = cal.calibrate_scores(pairs, base=load_thresholds(), normalisation=norm, target=0.05, review_rate=0.2,
                             folds=4, seed=0, n_boot=200, source=src, command='packcheck calibrate --out "a b.toml"')
    out = cal.write_thresholds(c, tmp_path / "sub" / "thresholds.toml")
    th = load_thresholds(out)
    assert th.schema_version == 3 and th.version == c.version and re.fullmatch(r"cal-\d{8}-\d{4}-[0-9a-f]{8}-t[0-9.e-]+", th.version)
    from packcheck.core.fingerprint import PIPELINE_VERSION

    assert th.pipeline_version == PIPELINE_VERSION and th.commit
    assert (th.locate, th.large_catalogue_rows) == (load_thresholds().locate, load_thresholds().large_catalogue_rows)
    text = out.read_text()  # the same structure as the shipped file: every number says where it comes from
    assert "flag_below = " in text and "  # fitted" in text and "min_item_fraction = 0.004  # set by hand: " in text
    for got, want, scores in ((th.item, c.item, pairs.item), (th.variant, c.variant, pairs.variant)):
        assert (got.flag_below, got.review_below) == (want.flag_below, want.review_below)
        g = scores[pairs.genuine]
        assert np.allclose(got.genuine_quantiles, np.quantile(g, GENUINE_P), atol=1e-5)
        assert got.tail(float(np.quantile(g, 0.05))) == pytest.approx(0.05, rel=1e-3)
    assert th.normalisation["colour_mean"] == 1.2345 and th.normalisation["reference_colour_std"] == 0.8765
    base = load_thresholds()
    assert th.fusion == base.fusion and th.search == base.search and th.geometry == base.geometry
    assert (th.min_brightness, th.count_flag_short_by) == (base.min_brightness, base.count_flag_short_by)
    p = th.provenance
    assert p["target_false_flag"] == 0.05 and p["pairs"] == {"match": n, "wrong_item": 0, "wrong_variant": n}
    assert p["input_sha256"] == cal.sha256_file(src)
    assert p["command"] == 'packcheck calibrate --out "a b.toml"'
    assert p["achieved"]["false_flag"] == round(c.achieved["genuine.verdict.flag"], 4)
    assert len(p["achieved"]["false_flag_ci95"]) == 2
    assert p["cross_validation"]["folds"] == 4 and len(p["cross_validation"]["false_flag_per_fold"]) == 4
    assert p["packcheck_version"] and p["date"]
    assert not (tmp_path / "sub" / "thresholds.toml.tmp").exists()


def test_toml_writer_escapes_strings_and_round_trips():
    doc = {"s": 'quote " backslash \\ newline \n tab \t unicode é', "f": 1e-7, "neg": -0.0001, "i": 3,
           "b": True, "l": [1.5, "x"], "t": {"key with space": 1, "n": {"deep": [1, 2]}}, "skip": None}
    back = tomllib.loads(cal.toml_dumps(doc, header="line one\nline two"))
    doc.pop("skip")
    assert back == doc


# ---------------------------------------------------------------- bad labels
def _img(path: Path, colour, shape="circle"):
    img = np.full((96, 96, 3), 255, np.uint8)
    if shape == "circle":
        cv2.circle(img, (48, 48), 30, colour, -1)
    else:
        cv2.rectangle(img, (20, 24), (76, 72), colour, -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img[:, :, ::-1].copy())


@pytest.fixture
def data_folder(tmp_path):
    root = tmp_path / "data"
    for name, colour, shape in (("red", (200, 30, 30), "circle"), ("blue", (30, 30, 200), "circle"),
                                ("box", (30, 160, 30), "box")):
        _img(root / "listings" / f"{name}.png", colour, shape)
    (root / "catalogue.csv").write_text(
        "sku,product_id,title,variant,listing_images\n"
        "MUG-R,MUG,Mug,red,listings/red.png\n"
        "MUG-B,MUG,Mug,blue,listings/blue.png\n"
        "BOX-1,BOX,Box,,listings/box.png\n")
    _img(root / "photos" / "a.png", (200, 30, 30))
    _img(root / "photos" / "b.png", (30, 30, 200))
    return root


def _labels(root: Path, text: str) -> Path:
    p = root / "labels.csv"
    p.write_text(text)
    return p


GOOD = "photo,sku,label\nphotos/a.png,MUG-R,match\nphotos/a.png,MUG-B,wrong_variant\nphotos/b.png,BOX-1,wrong_item\n"


def test_good_labels_are_read(data_folder):
    inputs = cal.read_labels(_labels(data_folder, GOOD), data_folder)
    assert inputs.counts() == {"match": 1, "wrong_item": 1, "wrong_variant": 1}
    assert [(p.path.name, p.skus, p.labels) for p in inputs.photos] == [
        ("a.png", ("MUG-R", "MUG-B"), ("match", "wrong_variant")), ("b.png", ("BOX-1",), ("wrong_item",))]


@pytest.mark.parametrize("text, words", [
    (GOOD + "photos/b.png,MUG-B,maybe\n", "labels.csv, row 5, field 'label': 'maybe' is not a label; use one of "
                                         "match, wrong_item, wrong_variant"),
    (GOOD + "photos/zzz.png,MUG-B,match\n", "labels.csv, row 5, field 'photo': photo 'photos/zzz.png' does not exist"),
    (GOOD + "photos/b.png,MUG-X,match\n", "labels.csv, row 5, field 'sku': SKU 'MUG-X' is not in"),
    (GOOD + "photos/b.png,,match\n", "labels.csv, row 5, field 'sku': is empty"),
    (GOOD + "photos/b.png,BOX-1,wrong_variant\n", "labels.csv, row 5, field 'label': label wrong_variant, but SKU "
                                                 "'BOX-1' has no sibling variant"),
    (GOOD + "photos/a.png,MUG-R,wrong_item\n", "labels.csv, row 5: photo 'photos/a.png' against SKU 'MUG-R' is "
                                              "already labelled on row 2"),
    (GOOD + "../outside.png,MUG-R,match\n", "labels.csv, row 5, field 'photo': '../outside.png' points outside"),
    ("photo,sku,label\nphotos/a.png,MUG-R,match\nphotos/b.png,MUG-B,match\n",
     "labels.csv: only one class present: all 2 pairs are 'match'"),
    ("photo,sku,label\nphotos/a.png,BOX-1,wrong_item\n", "labels.csv: only one class present: all 1 pairs are "
                                                        "'wrong_item'"),
    ("", "labels.csv: is empty"),
    ("photo,sku,label\n", "labels.csv: has no labelled pairs (only a header)"),
    ("photo,label\nphotos/a.png,match\n", "labels.csv, row 1: missing column sku"),
])
def test_bad_labels_name_the_row(data_folder, text, words):
    with pytest.raises(DataError) as e:
        cal.read_labels(_labels(data_folder, text), data_folder)
    assert words in str(e.value)


def test_an_unreadable_photo_is_an_error_naming_its_row(data_folder):
    (data_folder / "photos" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    labels = _labels(data_folder, GOOD + "photos/broken.jpg,MUG-B,match\n")
    with pytest.raises(DataError, match=r"photo\(s\) cannot be read: labels.csv row 5: .*broken.jpg"):
        cal.calibrate(cal.read_labels(labels, data_folder, cache=None), target=0.1, folds=0, workers=1)


def test_bad_labels_through_the_cli_exit_2_with_one_error_line(data_folder, tmp_path):
    labels = _labels(data_folder, GOOD + "photos/b.png,MUG-B,maybe\n")
    r = CliRunner().invoke(cli, ["calibrate", "--labels", str(labels), "--data", str(data_folder),
                                 "--out", str(tmp_path / "t.toml")])
    assert r.exit_code == 2
    assert r.output.strip() == ("Error: labels.csv, row 5, field 'label': 'maybe' is not a label; use one of "
                                "match, wrong_item, wrong_variant")
    assert not (tmp_path / "t.toml").exists()


@pytest.mark.parametrize("args, words", [
    (["--out", "t.toml"], "give either --labels (with --data) or --manifest"),
    (["--labels", "l.csv", "--out", "t.toml"], "--labels needs --data"),
    (["--manifest", "m.csv", "--labels", "l.csv", "--data", ".", "--out", "t.toml"], "give either"),
])
def test_cli_usage_errors(args, words):
    r = CliRunner().invoke(cli, ["calibrate", *args])
    assert r.exit_code == 2 and words in r.output


def test_cli_rejects_a_target_outside_0_1(data_folder, tmp_path):
    r = CliRunner().invoke(cli, ["calibrate", "--labels", str(_labels(data_folder, GOOD)), "--data",
                                 str(data_folder), "--target-false-flag", "5", "--out", str(tmp_path / "t.toml")])
    assert r.exit_code == 2
    assert "Error: --target-false-flag must be between 0 and 1 (e.g. 0.01), got 5" in r.output


def test_help_has_an_example_and_short_flag():
    for flag in ("-h", "--help"):
        r = CliRunner().invoke(cli, ["calibrate", flag])
        assert r.exit_code == 0
        assert "Examples:" in r.output and "packcheck calibrate --manifest" in r.output


def test_the_library_never_imports_calibration():
    code = ("import sys, packcheck.cli, packcheck.apps.checker, packcheck.tooling.bench.accuracy; "
            "sys.exit(1 if any(m.startswith('packcheck.tooling.calibration') for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ---------------------------------------------------------------- end to end
def _scene(colour, shape, rng, *, background=(225, 222, 215), offset=(0, 0), size=240):
    """A 'packing station' photo: one object on a slightly noisy table, shifted, a little darker."""
    img = np.full((size, size, 3), background, np.uint8)
    cx, cy = size // 2 + offset[0], size // 2 + offset[1]
    if shape == "circle":
        cv2.circle(img, (cx, cy), 60, colour, -1)
        cv2.circle(img, (cx, cy), 25, (250, 250, 250), -1)
    else:
        cv2.rectangle(img, (cx - 65, cy - 45), (cx + 65, cy + 45), colour, -1)
        for k in range(-45, 46, 18):
            cv2.line(img, (cx - 65, cy + k), (cx + 65, cy + k), (20, 20, 20), 3)
    noise = rng.normal(0, 6, img.shape)
    return np.clip(img * rng.uniform(0.85, 1.0) + noise, 0, 255).astype(np.uint8)


def _tiny_manifest(root: Path) -> Path:
    rng = np.random.default_rng(0)
    classes = [("1", "Mug red", "Mug", (200, 40, 40), "circle"), ("2", "Mug blue", "Mug", (40, 60, 200), "circle"),
               ("3", "Box green", "Box", (40, 160, 60), "box"), ("4", "Box yellow", "Box", (230, 200, 40), "box")]
    rows = [("class_id", "class_name", "coarse_class", "kind", "path")]
    for cid, name, coarse, colour, shape in classes:
        folder = root / name.replace(" ", "_")
        folder.mkdir(parents=True)
        icon = _scene(colour, shape, rng, background=(255, 255, 255))
        cv2.imwrite(str(folder / "iconic.png"), icon[:, :, ::-1].copy())
        rows.append((cid, name, coarse, "iconic", f"{folder.name}/iconic.png"))
        for k in range(4):
            photo = _scene(colour, shape, rng, offset=tuple(rng.integers(-20, 21, 2)))
            cv2.imwrite(str(folder / f"photo{k}.jpg"), photo[:, :, ::-1].copy())
            rows.append((cid, name, coarse, "photo", f"{folder.name}/photo{k}.jpg"))
    path = root / "manifest.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def test_calibrate_a_tiny_manifest_end_to_end(tmp_path):
    manifest = _tiny_manifest(tmp_path / "set")
    out, html_path = tmp_path / "out" / "thresholds.toml", tmp_path / "out" / "calibration.html"
    r = CliRunner().invoke(cli, ["calibrate", "--manifest", str(manifest), "--target-false-flag", "0.1",
                                 "--out", str(out), "--report", str(html_path), "--folds", "2", "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert "pairs: 16 match, 16 wrong_variant, 32 wrong_item (16 photos)" in r.output
    assert "2-fold CV" in r.output and "WARNING: only 16 genuine (match) pairs" in r.output
    th = load_thresholds(out)
    assert th.version.startswith("cal-") and th.provenance["pairs"]["match"] == 16
    assert th.provenance["command"].startswith("packcheck calibrate --manifest ")
    assert "--target-false-flag 0.1" in th.provenance["command"]
    assert th.provenance["input_sha256"] == cal.sha256_file(manifest)
    assert all(th.normalisation[f"{k}{s}_std"] > 0 for k in ("", "reference_") for s in STANDARDISED)
    assert th.provenance["fusion_folds"] == 2 and set(th.fusion.weights) == set(FEATURES)
    text = html_path.read_text()
    assert text.count("data:image/png;base64,") >= 2 and "Confusion at the chosen limits" in text
    png = base64.b64decode(text.split("data:image/png;base64,")[1].split("'")[0])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    plots = sorted(p.name for p in (tmp_path / "out" / "calibration_plots").iterdir())
    assert plots == ["cross_validation.png", "item.png", "variant.png"]
    # the cascade's margins are fitted and written, and change no pair they were fitted on
    assert th.cascade.on and th.provenance["cascade"]["changed"] == 0
    assert "cascade: item margin" in r.output


def test_a_manifest_may_name_photos_by_absolute_path(tmp_path):
    manifest = _tiny_manifest(tmp_path / "set")
    rows = list(csv.reader(manifest.open()))
    (tmp_path / "elsewhere").mkdir()
    absolute = tmp_path / "elsewhere" / "abs.csv"  # the photos are outside its folder
    with open(absolute, "w", newline="") as f:
        csv.writer(f).writerows([rows[0]] + [r[:4] + [str(manifest.parent / r[4])] for r in rows[1:]])
    inputs = cal.read_manifest_pairs(absolute)
    assert len(inputs.photos) == 16 and all(str(manifest.parent) in p.where for p in inputs.photos)


def test_report_confusion_table_counts_every_pair(tmp_path):
    src = tmp_path / "x.csv"
    src.write_text("x")
    rng = np.random.default_rng(9)
    pairs = make_pairs(rng.normal(2, 1, 100), rng.normal(-2, 1, 100), genuine_variant=rng.normal(0.5, 0.3, 100),
                       impostor_variant=rng.normal(-0.5, 0.3, 100), impostor_label="wrong_variant")
    c = fitted(pairs, 0.05, source=src, folds=4)
    rows = report.confusion(c)
    assert [r[0] for r in rows] == ["match", "wrong_variant", "wrong_item"]
    assert sum(rows[0][1:]) == 100 and sum(rows[1][1:]) == 100 and sum(rows[2][1:]) == 0
    assert rows[0][3] == round(c.achieved["genuine.verdict.flag"] * 100)
    path = report.write_report(c, tmp_path / "r.html")
    assert (tmp_path / "r_plots" / "item.png").stat().st_size > 10_000


@pytest.mark.realdata
@pytest.mark.slow
def test_calibrate_on_the_grocery_store_photos(tmp_path):
    manifest = REALDATA / "manifest.csv"
    if not manifest.is_file():
        pytest.skip(f"real data not found at {REALDATA} (the shared/realdata folder beside the repo)")
    out = tmp_path / "thresholds.toml"
    r = CliRunner().invoke(cli, ["calibrate", "--manifest", str(manifest), "--target-false-flag", "0.05",
                                 "--out", str(out), "--report", str(tmp_path / "cal.html")])
    assert r.exit_code == 0, r.output
    th = load_thresholds(out)
    p = th.provenance
    assert p["pairs"] == {"match": 150, "wrong_item": 3216, "wrong_variant": 384}
    cv = p["cross_validation"]
    assert cv["false_flag"] <= 0.1  # target 0.05; 150 genuine pairs leave wide intervals
    assert cv["false_flag_ci95"][0] <= 0.05
    assert cv["wrong_item_flagged"] >= 0.7

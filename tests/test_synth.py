"""Fast checks of the procedural product / packing-photo generator."""
from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest
from PIL import Image

from packcheck.tooling import synth

SMALL = (320, 240)  # (width, height): keeps scene tests fast


def _hue_deg(rgb_pixels: np.ndarray) -> float:
    """Circular mean hue (degrees) of an (N, 3) uint8 RGB pixel array."""
    hsv = cv2.cvtColor(rgb_pixels.reshape(-1, 1, 3), cv2.COLOR_RGB2HSV_FULL).reshape(-1, 3)
    sat = hsv[:, 1] > 60  # ignore grey/white print and shadows
    ang = hsv[sat, 0].astype(float) / 256 * 2 * np.pi
    return float(np.degrees(np.arctan2(np.sin(ang).mean(), np.cos(ang).mean())) % 360)


def test_every_product_has_three_variants_and_renders():
    assert len(synth.list_products()) >= 12
    for p in synth.list_products():
        assert len(synth.list_variants(p)) >= 3
        img = synth.render_listing(p, synth.list_variants(p)[0], size=200)
        assert img.shape == (200, 200, 3) and img.dtype == np.uint8
        # web-shop style: pure white corners, a product of decent size
        assert (img[:4, :4] == 255).all()
        assert (img.min(axis=2) < 235).mean() > 0.08, p


def test_listing_is_deterministic_not_just_cached():
    a = synth.render_listing("tshirt", "navy", size=300)
    synth._sprite_full.cache_clear()
    b = synth.render_listing("tshirt", "navy", size=300)
    assert np.array_equal(a, b)


def test_variants_share_shape_but_differ_in_hue():
    sprites = {v: synth.render_sprite("trousers", v, long_side=300) for v in ("red", "green", "blue")}
    alphas = [s[..., 3] for s in sprites.values()]
    assert all(np.array_equal(alphas[0], a) for a in alphas[1:])
    opaque = alphas[0] > 250
    hues = {v: _hue_deg(s[..., :3][opaque]) for v, s in sprites.items()}
    for v1, v2 in (("red", "green"), ("green", "blue"), ("red", "blue")):
        d = abs(hues[v1] - hues[v2]) % 360
        assert min(d, 360 - d) > 60, hues


def test_recolouring_keeps_the_print():
    black = synth.render_sprite("tshirt", "black", long_side=400)
    yellow = synth.render_sprite("tshirt", "yellow", long_side=400)
    h, w = black.shape[:2]
    # centre of the rocket badge on the chest: identical in both colourways
    cy, cx = int(h * 0.42), int(w * 0.5)
    patch_b = black[cy - 10:cy + 10, cx - 10:cx + 10, :3].astype(int)
    patch_y = yellow[cy - 10:cy + 10, cx - 10:cx + 10, :3].astype(int)
    assert np.abs(patch_b - patch_y).max() <= 1
    # while the body colour is very different (sleeve area)
    sy, sx = int(h * 0.3), int(w * 0.12)
    assert np.abs(black[sy, sx, :3].astype(int) - yellow[sy, sx, :3].astype(int)).sum() > 200


def test_scene_is_deterministic_per_seed():
    items = [("mug", "red")]
    a = synth.render_scene(items, seed=3, size=SMALL)
    b = synth.render_scene(items, seed=3, size=SMALL)
    c = synth.render_scene(items, seed=4, size=SMALL)
    assert a.shape == (240, 320, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_scene_contains_the_product_and_matches_the_empty_station():
    ref = synth.render_empty_station(7, size=SMALL, surface="wood", in_box=False)
    img, info = synth.render_scene([("towel", "blue")], seed=1, size=SMALL, station_seed=7, surface="wood",
                                   in_box=False, hand=False, clutter=0, coverage=0.3, return_info=True)
    item = info.labels == 1
    assert 0.05 < item.mean() < 0.6
    diff = np.abs(img.astype(int) - ref.astype(int)).max(axis=2)
    assert diff[item].mean() > 40          # the towel is there ...
    assert np.median(diff[~item]) < 12      # ... and the rest is the same station
    # the towel is blue where the labels say it is
    assert _hue_deg(img[item]) == pytest.approx(215, abs=35)


def test_hand_clutter_and_multi_item_scenes():
    img, info = synth.render_scene([("phone", "graphite"), ("charger", "white"), ("cable", "white")], seed=5,
                                   size=SMALL, hand=True, clutter=["tape", "pen"], return_info=True)
    assert info.hand_mask is not None and info.hand_mask.any()
    assert set(np.unique(info.labels)) >= {1, 2, 3}
    assert len(info.polygons) == 3 and all(p.shape == (4, 2) for p in info.polygons)
    assert info.clutter == ["tape", "pen"]


def test_bad_photo_modes():
    items = [("cereal", "honey")]
    normal = synth.render_scene(items, seed=2, size=SMALL, station_seed=9)
    dark = synth.render_scene(items, seed=2, size=SMALL, station_seed=9, dark=True)
    blurred = synth.render_scene(items, seed=2, size=SMALL, station_seed=9, blurred=True)
    _, empty = synth.render_scene(items, seed=2, size=SMALL, station_seed=9, empty=True, return_info=True)
    assert dark.mean() < 35 < normal.mean()

    def sharpness(x):  # on a downsized copy so that sensor noise does not dominate
        g = cv2.cvtColor(cv2.resize(x, (160, 120), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        return cv2.Laplacian(g, cv2.CV_64F).var()

    assert sharpness(blurred) < 0.2 * sharpness(normal)
    assert not empty.labels.any() and empty.items == []


@pytest.mark.parametrize("orientation", [1, 2, 3, 4, 5, 6, 7, 8])
def test_save_jpeg_exif_orientation_reads_back_upright(tmp_path, orientation):
    # an asymmetric test card: a red block top-left, a blue bar along the bottom
    up = np.full((120, 200, 3), 200, np.uint8)
    up[:40, :60] = (220, 30, 30)
    up[100:, :] = (30, 30, 220)
    path = synth.save_jpeg(tmp_path / "o.jpg", up, quality=92, exif_orientation=orientation)
    raw = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    assert raw.shape[:2] == ((200, 120) if orientation >= 5 else (120, 200))
    shown = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)  # cv2 applies EXIF orientation
    assert shown.shape == up.shape
    assert np.abs(shown.astype(int) - up.astype(int)).mean() < 4
    with Image.open(path) as im:
        assert im.getexif().get(0x0112) == orientation


def test_save_jpeg_without_orientation_has_no_exif(tmp_path):
    up = np.zeros((10, 20, 3), np.uint8)
    path = synth.save_jpeg(tmp_path / "n.jpg", up, quality=80)
    with Image.open(path) as im:
        assert 0x0112 not in im.getexif()
    with pytest.raises(ValueError):
        synth.orient_for_exif(up, 9)


def test_make_scene_manifest(tmp_path):
    path = synth.make_scene_manifest(tmp_path / "bench", n_products=2, n_variants=2, photos_per_class=1,
                                     seed=1, size=SMALL)
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["class_id", "class_name", "coarse_class", "kind", "path"]
    assert len(rows) == 2 * 2 * 2
    assert {r["kind"] for r in rows} == {"iconic", "photo"}
    by_class = {}
    for r in rows:
        by_class.setdefault(r["class_id"], set()).add(r["coarse_class"])
        img = cv2.imread(str(path.parent / r["path"]))
        assert img is not None
        if r["kind"] == "photo":
            assert img.shape[:2] == (240, 320)
    assert len(by_class) == 4
    coarse = [next(iter(v)) for v in by_class.values()]
    assert coarse.count(coarse[0]) == 2  # sibling variants share the coarse class


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError):
        synth.render_listing("spaceship", "red")
    with pytest.raises(ValueError):
        synth.render_listing("tshirt", "purple")
    with pytest.raises(ValueError):
        synth.render_scene([("mug", "red")], seed=0, size=SMALL, clutter=["banana"])


SAMPLE = __import__("pathlib").Path(__file__).resolve().parents[1] / "sample_data"


@pytest.mark.skipif(not (SAMPLE / "orders.csv").exists(), reason="sample_data/ has not been generated")
def test_sample_data_is_consistent():
    def rows(name):
        with open(SAMPLE / name, newline="") as fh:
            return list(csv.DictReader(fh))

    cat = {r["sku"]: r for r in rows("catalogue.csv")}
    assert len(cat) >= 20
    for r in cat.values():
        for p in r["listing_images"].split(";"):
            img = cv2.imread(str(SAMPLE / p))
            assert img is not None and 600 <= max(img.shape[:2]) <= 800
    for r in rows("components.csv"):
        assert r["sku"] in cat and r["component"] in cat
    orders = rows("orders.csv")
    expected = {r["order_id"]: r for r in rows("expected.csv")}
    assert {r["order_id"] for r in orders} == set(expected)
    assert {r["status"] for r in expected.values()} == {"PASS", "FLAG", "REVIEW", "ERROR"}
    for r in orders:
        assert r["sku"] in cat
        for p in filter(None, r["photo"].split(";")):
            assert (SAMPLE / p).is_file()
        if r["station"]:
            assert (SAMPLE / "stations" / r["station"] / "empty.jpg").is_file()
    rotated = 0
    for p in sorted((SAMPLE / "photos").glob("*.jpg")):
        with Image.open(p) as im:
            o = im.getexif().get(0x0112)
        if o in (6, 8):
            rotated += 1
            assert cv2.imread(str(p)).shape[:2] == (960, 1280)
    assert 2 <= rotated <= 3


def test_bench_scenes_cli_writes_a_manifest_and_refuses_impossible_sizes(tmp_path):
    from click.testing import CliRunner

    from packcheck.cli import cli

    r = CliRunner().invoke(cli, ["bench", "scenes", "--out", str(tmp_path / "s"), "--products", "2",
                                 "--variants", "2", "--photos", "1"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(tmp_path / "s" / "manifest.csv", encoding="utf-8")))
    assert sorted(x["kind"] for x in rows) == ["iconic"] * 4 + ["photo"] * 4
    # Asking for more colours than a product has is a usage error naming the product, not a bug report.
    r = CliRunner().invoke(cli, ["bench", "scenes", "--out", str(tmp_path / "t"), "--variants", "4"])
    assert r.exit_code == 2
    assert "--variants" in r.output and "'mug'" in r.output and "bug" not in r.output

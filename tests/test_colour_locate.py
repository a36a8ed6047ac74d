"""Colour histograms and product location on synthetic images."""
import cv2
import numpy as np
import pytest

from packcheck.core import colour
from packcheck.core.locate import listing_mask, locate_product
from packcheck.core.thresholds import load_thresholds
from packcheck.tooling import synth
from helpers import blob_image

LIMITS = load_thresholds().locate


def test_histogram_ignores_masked_background():
    img = blob_image(colour=(200, 30, 30), background=(30, 160, 30))
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.ellipse(mask, (80, 60), (40, 30), 15, 0, 360, 255, -1)
    red_only = colour.lab_histogram(np.full((20, 20, 3), (200, 30, 30), np.uint8))
    masked = colour.lab_histogram(img, mask)
    whole = colour.lab_histogram(img)
    d_masked = colour.hellinger_distance(red_only, colour.sqrt_hist(masked[None]))[0]
    d_whole = colour.hellinger_distance(red_only, colour.sqrt_hist(whole[None]))[0]
    assert d_masked < 0.45 < d_whole


@pytest.mark.parametrize("a, b", [((26, 26, 29), (30, 40, 82)), ((62, 108, 60), (40, 90, 50)),
                                  ((168, 40, 38), (200, 60, 30))])
def test_close_sibling_colours_are_told_apart(a, b):
    # navy vs black, two greens, two reds: each is nearer its own listing colour.
    def hist(c, seed):
        noisy = np.clip(np.full((30, 30, 3), c, float) + np.random.default_rng(seed).normal(0, 4, (30, 30, 3)), 0, 255)
        return colour.lab_histogram(noisy.astype(np.uint8))

    ha, hb = hist(a, 1), hist(b, 2)
    photo_a = hist(a, 3)
    d = colour.hellinger_distance(photo_a, colour.sqrt_hist(np.stack([ha, hb])))
    assert d[0] < d[1]


def test_dominant_colour():
    img = np.full((10, 10, 3), (200, 30, 30), np.uint8)
    lab = colour.dominant_lab(img)
    assert colour.lab_to_rgb(colour.cie_lab(lab)) == pytest.approx((200, 30, 30), abs=3)  # swatches take CIE L*a*b*


def test_listing_mask_removes_white_background_but_keeps_white_print():
    img = blob_image()
    loc = listing_mask(img)
    assert loc.found and loc.method == "background"
    assert 0.15 < loc.fraction < 0.45
    assert loc.mask[60, 80 - 12] == 255 or loc.mask[60, 80] == 255  # inside the product
    assert loc.mask[2, 2] == 0


def test_listing_mask_keeps_everything_for_a_lifestyle_photo():
    rng = np.random.default_rng(0)
    busy = rng.integers(0, 255, (100, 100, 3), dtype=np.uint8)
    assert not listing_mask(busy).found


def _scene(items, seed, **kw):
    return synth.render_scene(items, seed=seed, size=(640, 480), return_info=True, **kw)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_locates_the_product_on_a_bench(seed):
    img, info = _scene([("mug", synth.list_variants("mug")[0])], seed, hand=False, clutter=0)
    loc = locate_product(img, limits=LIMITS)
    assert loc.found
    truth = (info.labels > 0)
    ys, xs = np.nonzero(truth)
    cx, cy = xs.mean(), ys.mean()
    x0, y0, x1, y1 = loc.bbox
    assert x0 <= cx <= x1 and y0 <= cy <= y1
    # most of the product is inside the located mask, and the mask is not the whole frame
    assert (loc.mask[truth] > 0).mean() > 0.7
    assert loc.fraction < 0.8


def test_empty_bench_is_recognised():
    img = synth.render_scene([], seed=4, size=(640, 480), empty=True, clutter=0, hand=False)
    loc = locate_product(img, limits=LIMITS)
    assert not loc.found and loc.method == "empty"


def test_empty_station_reference_counts_separate_items():
    """Touching items (or items joined by a shadow) count as one, so the count is a
    lower bound; it must never exceed the truth and should usually equal it."""
    items = [("mug", synth.list_variants("mug")[0]), ("bottle", synth.list_variants("bottle")[0]),
             ("cap", synth.list_variants("cap")[0])]
    exact = 0
    for seed in range(5, 15):
        img, info = synth.render_scene(items, seed=seed, station_seed=70 + seed % 3, size=(640, 480),
                                       hand=False, clutter=0, return_info=True)
        ref = synth.render_empty_station(70 + seed % 3, size=(640, 480))
        truth = (info.labels > 0).astype(np.uint8)
        n_truth = cv2.connectedComponents(cv2.dilate(truth, np.ones((9, 9), np.uint8)))[0] - 1
        loc = locate_product(img, limits=LIMITS, empty_rgb=ref)
        assert loc.method == "reference" and loc.found
        assert loc.n_items <= n_truth
        assert (loc.mask[truth > 0] > 0).mean() > 0.9
        exact += loc.n_items == n_truth
    assert exact >= 6

"""Cheaper stages with the same results (issue #19, "cheaper expensive stages, accuracy unchanged").

Each test pins that a faster path computes exactly what the slower one did (or
that work which cannot change the answer is not done); none times anything.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from packcheck.core import embedding, judge, keypoints, locate, scoring
from packcheck.core.thresholds import load_thresholds
from packcheck.tooling import synth
from helpers import blob_image, synth_shop, write_csv

LIMITS = load_thresholds().locate


def test_embedding_crops_go_through_one_batched_forward_pass(monkeypatch):
    """#19: the embedding's crops in ONE forward pass, equal to embedding each crop alone."""
    crops = [blob_image(size=(90, 120), seed=1), blob_image(size=(200, 200), colour=(30, 30, 200)),
             np.full((50, 80, 3), 128, np.uint8)]
    alone = np.stack([embedding.embed([c])[0] for c in crops])
    net = embedding.load_model()
    calls = []

    class Spy:
        def setInput(self, x):
            calls.append(x.shape)
            net.setInput(x)

        def forward(self):
            return net.forward()

    monkeypatch.setattr(embedding, "load_model", lambda model_path=None: Spy())
    together = embedding.embed(crops)
    assert calls == [(3, 3, embedding.INPUT_SIDE_PX, embedding.INPUT_SIDE_PX)]
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_preprocessing_is_area_shrink_then_the_network_scaling():
    """#19: blobFromImages lays the batch out with exactly the values of (area-shrunk px - 127) / 128."""
    crops = [blob_image(size=(300, 300), seed=3), blob_image(size=(360, 480), seed=4), blob_image(size=(90, 120))]
    side = embedding.INPUT_SIDE_PX
    want = np.stack([((cv2.resize(c, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32) - 127.0)
                      / 128.0).transpose(2, 0, 1) for c in crops])
    got = embedding.preprocess(crops)
    assert got.dtype == np.float32 and np.array_equal(got, want)


def _ratio_survivors_reference(photo: keypoints.Keypoints, listing: keypoints.Keypoints) -> np.ndarray:
    """Lowe's ratio test written plainly (full sort): the photo rows whose best match passes."""
    q, db = keypoints.root_sift(photo.descriptors), keypoints.root_sift(listing.descriptors)
    sim = np.sort(q @ db.T, axis=1)
    d1, d2 = np.maximum(2 - 2 * sim[:, -1], 0), np.maximum(2 - 2 * sim[:, -2], 0)
    return d1 < keypoints.RATIO ** 2 * d2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ratio_test_by_partition_equals_a_full_sort(seed, monkeypatch):
    """#19: the top-two similarities taken by one partition (no negated copy) give the same survivors."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 60, (80, 128)).astype(np.uint8)
    photo = keypoints.Keypoints(rng.random((80, 2), dtype=np.float32) * 300, base, (300, 300))
    noisy = np.clip(base.astype(int) + rng.integers(-4, 5, base.shape), 0, 255).astype(np.uint8)
    listing = keypoints.Keypoints(photo.points * 1.1, np.concatenate([noisy, rng.integers(0, 60, (40, 128))
                                                                      .astype(np.uint8)]), (330, 330))
    want = _ratio_survivors_reference(photo, listing)
    seen = []
    real = np.flatnonzero
    monkeypatch.setattr(keypoints.np, "flatnonzero", lambda a: seen.append(np.asarray(a).copy()) or real(a))
    keypoints.count_inliers(photo, [listing])
    assert len(seen) == 1 and np.array_equal(seen[0], want) and want.sum() > 10


def test_empty_bench_is_prepared_once_per_station_and_locates_alike(monkeypatch):
    """#19 (no repeated work between photos): the empty-station photo is shrunk and its ORB features
    found once, not for every photo; the location is the same as with the bare array."""
    items = [("mug", synth.list_variants("mug")[0])]
    ref = synth.render_empty_station(71, size=(640, 480))
    photos = [synth.render_scene(items, seed=s, station_seed=71, size=(640, 480), hand=False, clutter=0)
              for s in (5, 6, 7)]
    calls = []
    real = locate._orb
    monkeypatch.setattr(locate, "_orb", lambda rgb: calls.append(rgb.shape) or real(rgb))
    bare = [locate.locate_product(p, limits=LIMITS, empty_rgb=ref) for p in photos]
    assert len(calls) == 6  # photo and reference, every time
    calls.clear()
    bench = locate.EmptyBench(ref)
    prepared = [locate.locate_product(p, limits=LIMITS, empty_rgb=bench) for p in photos]
    assert len(calls) == 4  # each photo, and the reference once
    for a, b in zip(bare, prepared):
        assert a.method == b.method == "reference"
        assert (a.bbox, a.n_items, a.fraction) == (b.bbox, b.n_items, b.fraction)
        assert np.array_equal(a.mask, b.mask)


def test_a_catalogue_verified_whole_casts_no_keypoint_votes(tmp_path, monkeypatch):
    """#19: the keypoint vote only picks a shortlist; when every row is verified it is not computed."""
    from packcheck.apps.checker import Checker

    skus = synth_shop(tmp_path, products=(("mug", 2), ("towel", 1)))
    (tmp_path / "photos").mkdir()
    img = synth.render_scene([("mug", synth.list_variants("mug")[0])], seed=3, size=(640, 480))
    synth.save_jpeg(tmp_path / "photos" / "o1.jpg", img, quality=85)
    write_csv(tmp_path / "orders.csv", ["order_id", "sku", "qty", "photo"], [["O1", next(iter(skus)), 1, "photos/o1.jpg"]])
    checker = Checker.open(tmp_path, cache=None)
    assert scoring.verifies_all(checker.index, checker.thresholds)
    before = checker.check_id("O1")

    def no_votes(*a, **k):
        raise AssertionError("keypoint votes computed for a catalogue verified whole")

    monkeypatch.setattr(judge, "keypoint_votes", no_votes)
    monkeypatch.setattr(scoring, "keypoint_votes", no_votes)
    after = checker.check_id("O1")
    assert [(c.check, c.status, c.value) for c in after.checks] == [(c.check, c.status, c.value)
                                                                     for c in before.checks]


@pytest.mark.parametrize("seed", range(5))
def test_located_box_from_bounding_rect_equals_the_nonzero_pixels(seed):
    """#19: the located box comes from cv2.boundingRect, the same box np.nonzero's extremes give."""
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(20, 90, 2))
    mask = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        mask[y:y + int(rng.integers(1, 15)), x:x + int(rng.integers(1, 15))] = 255
    loc = locate._finish(mask, "border", 0.5, (2 * h, 2 * w))
    big = cv2.resize(mask, (2 * w, 2 * h), interpolation=cv2.INTER_NEAREST)
    ys, xs = np.nonzero(big)
    assert loc.found and loc.bbox == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert locate._finish(np.zeros((h, w), np.uint8), "border", 1.0, (h, w)).method == "none"

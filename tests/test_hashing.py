"""Fast hashes agree with imagehash on the same pixels; golden values pin them."""
import cv2
import imagehash
import numpy as np
import pytest
from PIL import Image

from packcheck.core import hashing


def _grey(seed, size):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 6), dtype=np.uint8)
    return cv2.resize(small, size, interpolation=cv2.INTER_CUBIC)


@pytest.mark.parametrize("seed", range(20))
def test_structural_hashes_equal_imagehash_on_same_pixels(seed):
    g32, g64 = _grey(seed, (32, 32)), _grey(seed, (64, 64))
    g98 = np.ascontiguousarray(g64[:8, :9])
    g88 = np.ascontiguousarray(g64[:8, :8])
    assert (hashing.phash_bits(g32) != imagehash.phash(Image.fromarray(g32)).hash).sum() == 0
    assert (hashing.dhash_bits(g98) != imagehash.dhash(Image.fromarray(g98)).hash).sum() == 0
    assert (hashing.ahash_bits(g88) != imagehash.average_hash(Image.fromarray(g88)).hash).sum() == 0
    ours = hashing.whash_bits(g64)
    theirs = imagehash.whash(Image.fromarray(g64), image_scale=64).hash
    assert (ours != theirs).sum() <= 2


@pytest.mark.parametrize("seed", range(20))
def test_colour_hash_equals_imagehash(seed):
    # Pillow's own HSV conversion is used, so the bits are equal, not merely close.
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    ours = hashing.colour_hash_bits(hashing.colour_hash_values(rgb))
    theirs = imagehash.colorhash(Image.fromarray(rgb)).hash
    assert (ours != theirs).sum() == 0
    # The masked-pixel path (a column of pixels, any count) converts each pixel alike.
    n = int(rng.integers(1, 700))
    column = rgb.reshape(-1, 3)[:n].reshape(-1, 1, 3)
    theirs = imagehash.colorhash(Image.fromarray(np.ascontiguousarray(column))).hash
    assert (hashing.colour_hash_bits(hashing.colour_hash_values(column)) != theirs).sum() == 0


def test_luma_is_pillows_L():
    rgb = np.random.default_rng(3).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    assert np.array_equal(hashing.luma(rgb), np.asarray(Image.fromarray(rgb).convert("L")))


def test_golden_hashes_are_pinned():
    # If a library upgrade changes these, every cached listing fingerprint changes too:
    # bump fingerprint.PIPELINE_VERSION and re-pin.
    g = _grey(7, (64, 64))
    assert [hex(int(h)) for h in hashing.structural_hashes(g)] == GOLDEN


GOLDEN = ["0x64441b3f697ad1d1", "0xc1c3ff3cbc3c70c", "0x13070c4ff9e9c7d", "0x13070c4ff9e9c7d"]


def test_pack_unpack_and_hamming_broadcast():
    bits = np.random.default_rng(1).integers(0, 2, 64).astype(bool)
    packed = hashing.pack_bits(bits)
    assert np.array_equal(hashing.unpack_bits(packed), bits)
    many = np.array([packed, packed ^ np.uint64(0b1011)], np.uint64)
    assert hashing.hamming(packed, many).tolist() == [0, 3]
    assert hashing.hamming(np.zeros(1_000, np.uint64), np.uint64(2**64 - 1)).max() == 64


def test_rotated_hashes_make_quarter_turns_free():
    g = _grey(11, (64, 64))
    listing = hashing.rotated_hashes(g)
    photo = hashing.structural_hashes(np.rot90(g, 1))
    assert hashing.hamming(photo[None], listing).sum(axis=1).min() == 0
    assert hashing.hamming(photo, listing[0]).sum() > 20


def test_hsv_is_pillows_own():
    # colorhash's bins are decided by Pillow's HSV; a re-implementation drifts by
    # one step between Pillow releases (Pillow 13 rounds differently), so it must be Pillow's.
    rgb = np.random.default_rng(7).integers(0, 256, (333, 3), dtype=np.uint8)
    h, s, v = hashing._pillow_hsv(rgb)
    theirs = np.asarray(Image.fromarray(rgb.reshape(-1, 1, 3)).convert("HSV")).reshape(-1, 3)
    assert np.array_equal(np.stack([h, s, v], axis=1), theirs)

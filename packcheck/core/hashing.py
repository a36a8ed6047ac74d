"""Perceptual hashes (pHash, dHash, aHash, wHash, colour hash) with numpy and OpenCV.

These compute the same bits as ``imagehash`` on the same pixels (tests pin it),
at a fraction of the cost: the input is the small working copy the pipeline
already holds, shrunk with ``cv2.INTER_AREA`` (imagehash shrinks with Pillow's
LANCZOS, which flips a few dHash bits; packcheck uses one pipeline for listing
and photo alike, so the two are always comparable).

A 64-bit hash is a Python ``int``-compatible ``np.uint64``; the distance between
two hashes is the number of differing bits (:func:`hamming`), as ``a - b`` is in
imagehash. Bit ``i`` of the packed value is element ``i`` of the flattened
boolean array, row by row.
"""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

#: Names of the 64-bit structural hashes, in the order :func:`structural_hashes` returns them.
HASH_NAMES = ("phash", "dhash", "ahash", "whash")
_BIT_WEIGHTS = (np.uint64(1) << np.arange(64, dtype=np.uint64)).astype(np.uint64)


def pack_bits(bits: np.ndarray) -> np.uint64:
    """Pack up to 64 booleans (flattened row by row) into one ``np.uint64``."""
    flat = np.asarray(bits, dtype=bool).ravel()
    if flat.size > 64:
        raise ValueError(f"at most 64 bits fit one hash, got {flat.size}")
    return np.uint64(np.bitwise_or.reduce(_BIT_WEIGHTS[: flat.size][flat], initial=np.uint64(0)))


def unpack_bits(value: np.uint64, n_bits: int = 64) -> np.ndarray:
    """The inverse of :func:`pack_bits`."""
    return (np.uint64(value) & _BIT_WEIGHTS[:n_bits]) != 0


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits that differ between packed hashes; broadcasts (one against a million is one call)."""
    return np.bitwise_count(np.bitwise_xor(np.asarray(a, np.uint64), np.asarray(b, np.uint64)))


def luma(rgb: np.ndarray) -> np.ndarray:
    """8-bit grey exactly as Pillow's ``convert('L')`` computes it (ITU-R 601-2)."""
    rgb = rgb.astype(np.uint32)
    y = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16
    return y.astype(np.uint8)


def _shrink(grey: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if grey.shape[1] == size[0] and grey.shape[0] == size[1]:
        return grey
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA)


def phash_bits(grey: np.ndarray) -> np.ndarray:
    """pHash of a grey image: 8x8 low DCT frequencies of 32x32 pixels above their median.

    ``cv2.dct`` is orthonormal while imagehash's ``scipy.fftpack.dct`` is not; the two
    differ by a constant per row and column, except that row 0 and column 0 carry an
    extra 1/sqrt(2). Undoing that makes the median, and so every bit, identical.
    """
    px = _shrink(grey, (32, 32)).astype(np.float32)
    low = cv2.dct(px)[:8, :8].astype(np.float64)
    low[0, :] *= np.sqrt(2.0)
    low[:, 0] *= np.sqrt(2.0)
    return low > np.median(low)


def dhash_bits(grey: np.ndarray) -> np.ndarray:
    """dHash: is each of 9x8 pixels brighter than its left neighbour."""
    px = _shrink(grey, (9, 8))
    return px[:, 1:] > px[:, :-1]


def ahash_bits(grey: np.ndarray) -> np.ndarray:
    """aHash: 8x8 pixels above their mean."""
    px = _shrink(grey, (8, 8))
    return px > px.mean()


def whash_bits(grey: np.ndarray) -> np.ndarray:
    """wHash (Haar, 64x64 scale, lowest LL removed), as imagehash ``whash(image_scale=64)``.

    Written with numpy block means instead of pywt: a Haar LL band at level k is the
    block mean times 2**k, and the median threshold is scale free, so the bits match.
    """
    px = _shrink(grey, (64, 64)).astype(np.float64) / 255.0
    px = px - px.mean()  # removing the level-6 LL band removes exactly the mean
    ll = px.reshape(8, 8, 8, 8).mean(axis=(1, 3))
    return ll > np.median(ll)


def structural_hashes(grey: np.ndarray) -> np.ndarray:
    """The four 64-bit hashes of a grey crop, packed, in :data:`HASH_NAMES` order."""
    return np.array(
        [pack_bits(f(grey)) for f in (phash_bits, dhash_bits, ahash_bits, whash_bits)],
        dtype=np.uint64,
    )


def rotated_hashes(grey: np.ndarray) -> np.ndarray:
    """(4, 4) hashes of a crop turned by 0, 90, 180 and 270 degrees.

    Listing images are upright; a parcel on the bench lies at any angle. Comparing
    a photo against the best of four rotations of the listing makes the hashes
    insensitive to quarter turns (the located crop absorbs the rest).
    """
    return np.stack([structural_hashes(np.rot90(grey, k)) for k in range(4)])


def _pillow_hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue, saturation and value in 0..255, by Pillow's own ``convert('HSV')``.

    imagehash's ``colorhash`` uses exactly this conversion, and its rounding has
    changed between Pillow releases; calling it keeps the bits equal (and it is
    three times faster than the same arithmetic in numpy).
    """
    flat = rgb.reshape(-1, 3).astype(np.uint8, copy=False)
    n = flat.shape[0]
    # Pillow converts row by row: a tall one-pixel column is slow, so lay the
    # pixels out in rows of 256 (each pixel converts on its own; the padding is cut).
    rows = max(1, -(-n // 256))
    px = np.zeros((rows * 256, 3), np.uint8)
    px[:n] = flat
    hsv = np.asarray(Image.fromarray(px.reshape(rows, 256, 3), "RGB").convert("HSV")).reshape(-1, 3)[:n]
    return hsv[:, 0], hsv[:, 1], hsv[:, 2]


def _hue_counts(hue: np.ndarray) -> np.ndarray:
    # numpy.histogram(hue, bins=linspace(0, 255, 7)) for whole numbers, by bincount.
    return np.bincount(np.minimum(hue.astype(np.int32) * 6 // 255, 5), minlength=6)


def colour_hash_values(rgb: np.ndarray, *, binbits: int = 3) -> np.ndarray:
    """imagehash ``colorhash``: 14 bin fractions (black, grey, 6 faint and 6 bright hues).

    Returns the 14 quantised fractions (each 0 .. 2**binbits - 1); compare two with
    :func:`colour_hash_distance`. Bits packed the imagehash way are :func:`colour_hash_bits`.
    """
    intensity = luma(rgb).ravel()
    h, s, _ = _pillow_hsv(rgb)
    black = intensity < 256 // 8
    grey = s < 256 // 3
    colours = ~black & ~grey
    faint = colours & (s < 256 * 2 // 3)
    bright = colours & (s > 256 * 2 // 3)
    n = max(1, int(colours.sum()))
    faint_counts = _hue_counts(h[faint])
    bright_counts = _hue_counts(h[bright])
    top = 2**binbits
    # Same arithmetic order as imagehash, so float rounding cannot flip a bin.
    head = np.array([black.mean() * top, (~black & grey).mean() * top])
    hues = np.concatenate([faint_counts, bright_counts]).astype(np.float64) * top * 1.0 / n
    return np.minimum(top - 1, np.concatenate([head, hues]).astype(np.int64)).astype(np.uint8)


def colour_hash_bits(values: np.ndarray, *, binbits: int = 3) -> np.ndarray:
    """The (14, binbits) bit array imagehash builds from the quantised fractions."""
    out = [[(int(v) // (2 ** (binbits - i - 1))) % (2 ** (binbits - i)) > 0 for i in range(binbits)]
           for v in values]
    return np.asarray(out, dtype=bool)


def colour_hash_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Differing bits between colour hashes given as quantised values; broadcasts over rows."""
    xor = _COLOUR_PATTERN[np.asarray(a, np.uint8)] ^ _COLOUR_PATTERN[np.asarray(b, np.uint8)]
    return np.bitwise_count(xor).sum(axis=-1)


# The imagehash bit pattern (binbits=3) of each quantised value 0..7, as a byte.
_COLOUR_PATTERN = np.array(
    [int("".join("1" if b else "0" for b in colour_hash_bits(np.array([v]))[0]), 2) for v in range(8)],
    dtype=np.uint8,
)

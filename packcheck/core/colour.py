"""Colour of the located product: masked Lab histograms, their distance, a swatch.

Colour is compared in CIE Lab, where equal steps look about equally different,
and only over the product's own pixels (the listing's white background and the
photo's table are masked out), so a red shirt on a brown table is still red.
Lightness gets fewer bins than the two chroma axes: the bench light changes L far
more than it changes a and b, while a sibling variant changes a and b.
"""
from __future__ import annotations

import cv2
import numpy as np

#: Bins on the L, a and b axes of the histogram. The chroma axes need 16 bins:
#: with 8, navy and black (or two greens) share a bin and cannot be told apart.
LAB_BINS = (4, 16, 16)
HIST_SIZE = int(np.prod(LAB_BINS))


def lab_histogram(rgb: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Normalised (sum 1) Lab histogram of the masked pixels, flattened, float32.

    Examples
    --------
    >>> import numpy as np
    >>> h = lab_histogram(np.full((8, 8, 3), (200, 30, 30), np.uint8))
    >>> h.shape, round(float(h.sum()), 3)
    ((1024,), 1.0)
    """
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    m = None if mask is None else (mask > 0).astype(np.uint8)
    if m is not None and not m.any():
        m = None
    hist = cv2.calcHist([lab], [0, 1, 2], m, list(LAB_BINS), [0, 256, 0, 256, 0, 256]).ravel()
    # A light blur across neighbouring bins, so a colour on a bin edge does not
    # jump between bins under a small change of light.
    planes = hist.reshape(LAB_BINS[0], LAB_BINS[1], LAB_BINS[2])
    hist = np.stack([cv2.GaussianBlur(p, (3, 3), 0.6) for p in planes]).ravel()
    total = float(hist.sum())
    return (hist / total if total > 0 else hist).astype(np.float32)


def sqrt_hist(hists: np.ndarray) -> np.ndarray:
    """Square-rooted histograms: the dot product of two is their Bhattacharyya coefficient."""
    return np.sqrt(np.clip(hists, 0, None))


def hellinger(coefficient):
    """The Hellinger distance in [0, 1] for a Bhattacharyya coefficient (array or scalar).

    Every colour distance in packcheck goes through this one formula: the colour
    signal, the variant check's positions and separations, the large-catalogue search.

    Examples
    --------
    >>> hellinger(np.array([1.0, 0.0, 0.75])).round(3).tolist()
    [0.0, 1.0, 0.5]
    """
    return np.sqrt(np.clip(1.0 - coefficient, 0.0, 1.0))


def hellinger_distance(hists: np.ndarray, sqrt_others: np.ndarray) -> np.ndarray:
    """Hellinger distance of each row of ``sqrt_others`` (square-rooted histograms, see :func:`sqrt_hist`)
    to the nearest of ``hists`` (one histogram, or one per photo region).

    Examples
    --------
    >>> a = np.array([1.0, 0.0]); b = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> hellinger_distance(a, sqrt_hist(b)).round(3).tolist()
    [0.0, 1.0]
    """
    bc = sqrt_hist(hists) @ np.asarray(sqrt_others).T
    return hellinger(bc.max(axis=0) if bc.ndim > 1 else bc)


def dominant_lab(rgb: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """The product's typical colour: the median Lab (OpenCV 8-bit scaling) of its pixels."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).reshape(-1, 3)
    if mask is not None and (mask > 0).any():
        lab = lab[(mask > 0).ravel()]
    return _median_u8(lab)


def _median_u8(values: np.ndarray) -> np.ndarray:
    """``np.median(values, axis=0)`` of an (n, c) uint8 array, by counting instead of sorting."""
    n = values.shape[0]
    if n == 0:
        return np.full(values.shape[1], np.nan, np.float32)
    out = np.empty(values.shape[1], np.float32)
    for c in range(values.shape[1]):
        cum = np.cumsum(np.bincount(values[:, c], minlength=256))
        lo = np.searchsorted(cum, (n - 1) // 2, side="right")
        hi = np.searchsorted(cum, n // 2, side="right")
        out[c] = (float(lo) + float(hi)) / 2
    return out


def cie_lab(lab8) -> tuple[float, float, float]:
    """An OpenCV 8-bit Lab triple as CIE L*a*b* (D65), rounded to 0.1: what every report shows.

    OpenCV stores 8-bit Lab as L = L* x 255/100, a = a* + 128, b = b* + 128; the
    numbers people (and colour tools) read are L* 0-100 and a*, b* around 0.

    Examples
    --------
    >>> cie_lab([255, 128, 128]), cie_lab([54.4, 209.0, 68.5])
    ((100.0, 0.0, 0.0), (21.3, 81.0, -59.5))
    """
    L, a, b = (float(v) for v in np.asarray(lab8, np.float64).reshape(3))
    return (round(L * 100.0 / 255.0, 1), round(a - 128.0, 1), round(b - 128.0, 1))


def lab_to_rgb(lab) -> tuple[int, int, int]:
    """A CIE L*a*b* triple (as :func:`cie_lab` gives) as an 8-bit sRGB triple, for swatches in reports.

    >>> lab_to_rgb((100.0, 0.0, 0.0)), lab_to_rgb((0.0, 0.0, 0.0))
    ((255, 255, 255), (0, 0, 0))
    """
    px = np.asarray(lab, np.float32).reshape(1, 1, 3)
    rgb = cv2.cvtColor(px, cv2.COLOR_LAB2RGB)[0, 0]
    r, g, b = (np.clip(rgb, 0.0, 1.0) * 255.0).round().astype(int)
    return int(r), int(g), int(b)

"""Local features with geometric verification: is the listing's print really in the photo?

SIFT keypoints, compared as RootSIFT (Hellinger kernel, which matches better than
plain L2 on SIFT), filtered by Lowe's ratio test, then verified by a RANSAC
homography: the count of matches that agree on one plane-to-plane mapping. That
count is high only when the same printed surface is seen, at any scale, angle or
position, however small the product is in a cluttered photo; and near zero for
another product, even a same-coloured one.

One photo is matched against many listing images at once: all descriptor
distances come from one matrix product, and RANSAC runs only for listings with
enough ratio-test survivors to possibly pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Long side (px) of the grey image keypoints are detected on.
KEYPOINT_SIDE_PX = 400
#: Smaller images are enlarged to this long side first: web-shop thumbnails are
#: often 200 px, and SIFT finds few stable keypoints at that size.
KEYPOINT_MIN_SIDE_PX = 400
#: At most this many keypoints per image (strongest first).
MAX_KEYPOINTS = 600
#: Lowe's ratio test: best match distance below this share of the second best.
RATIO = 0.8
#: RANSAC reprojection tolerance, as a share of the listing image's long side.
RANSAC_TOLERANCE = 0.02
#: Fewer ratio-test survivors than this cannot make a homography worth counting.
MIN_MATCHES = 6
# Matches a homography fits exactly, whatever they are: inliers beyond these are evidence.
HOMOGRAPHY_SAMPLE = 4

_sift: dict[float, object] = {}


@dataclass(frozen=True)
class Keypoints:
    """Keypoint positions (N, 2) float32, in pixels of an image ``size`` (w, h); descriptors (N, 128) uint8."""

    points: np.ndarray
    descriptors: np.ndarray
    size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.points)

    @property
    def root(self) -> np.ndarray:
        """The RootSIFT descriptors (:func:`root_sift`), computed once per object."""
        got = self.__dict__.get("_root")
        if got is None:
            got = root_sift(self.descriptors)
            object.__setattr__(self, "_root", got)
        return got


def _detector(contrast: float | None = None):
    key = contrast or 0.0
    if key not in _sift:
        _sift[key] = (cv2.SIFT_create(nfeatures=MAX_KEYPOINTS) if contrast is None
                      else cv2.SIFT_create(nfeatures=MAX_KEYPOINTS, contrastThreshold=contrast))
    return _sift[key]


def detect(grey: np.ndarray, mask: np.ndarray | None = None, *, contrast: float | None = None) -> Keypoints:
    """SIFT keypoints of a grey image (shrunk to ``KEYPOINT_SIDE_PX``), inside ``mask`` if given.

    ``contrast``: SIFT's contrast threshold (default OpenCV's 0.04); lower finds keypoints on
    plain products too (a lemon on white), for near-duplicate matching."""
    h, w = grey.shape[:2]
    s = min(1.0, KEYPOINT_SIDE_PX / max(h, w))
    if max(h, w) < KEYPOINT_MIN_SIDE_PX:
        s = KEYPOINT_MIN_SIDE_PX / max(h, w)
    if s != 1.0:
        size = (max(1, round(w * s)), max(1, round(h * s)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        if mask is not None:
            mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
    if mask is not None:
        mask = (mask > 0).astype(np.uint8) * 255
        if not mask.any():
            mask = None
    kps, desc = _detector(contrast).detectAndCompute(grey, mask)
    if desc is None or not kps:
        return Keypoints(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8), (grey.shape[1], grey.shape[0]))
    pts = np.array([k.pt for k in kps], np.float32)
    return Keypoints(pts, np.clip(desc, 0, 255).astype(np.uint8), (grey.shape[1], grey.shape[0]))


def root_sift(descriptors: np.ndarray) -> np.ndarray:
    """RootSIFT: L1-normalise, square root; Euclidean distance then equals the Hellinger kernel."""
    d = descriptors.astype(np.float32)
    d /= np.maximum(d.sum(axis=1, keepdims=True), 1e-7)
    return np.sqrt(d)


def count_inliers(photo: Keypoints, listings: list[Keypoints]) -> np.ndarray:
    """Geometrically verified matches between a photo and each listing image.

    Returns
    -------
    (len(listings),) int array: RANSAC homography inliers, 0 where none is found.
    """
    out = np.zeros(len(listings), np.int32)
    if len(photo) < MIN_MATCHES or not listings:
        return out
    q = root_sift(photo.descriptors)
    sizes = [len(k) for k in listings]
    if sum(sizes) == 0:
        return out
    db = root_sift(np.concatenate([k.descriptors for k in listings if len(k)]))
    # Squared distances of unit vectors: 2 - 2 cos; one BLAS call for every listing.
    sim = q @ db.T
    start = 0
    for j, (kp, n) in enumerate(zip(listings, sizes)):
        if n < 2:
            start += n
            continue
        block = sim[:, start: start + n]
        start += n
        good, nearest = _ratio_matches(block)
        if len(good) < MIN_MATCHES:
            continue
        found = _homography(photo.points[good], kp.points[nearest], RANSAC_TOLERANCE * max(kp.size))
        if found is None:
            continue
        # Several photo points landing on one listing point are one match, not many.
        out[j] = len(np.unique(nearest[found[1]]))
    return out


def _ratio_matches(sim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lowe's ratio test on a similarity block of unit RootSIFT vectors (at least 2 columns): (query rows
    kept, their nearest)."""
    # One partition, no negated copy of the block.
    top2 = np.partition(sim, sim.shape[1] - 2, axis=1)[:, -2:]  # [second best, best] similarity
    d1 = np.maximum(2.0 - 2.0 * top2[:, 1], 0.0)
    d2 = np.maximum(2.0 - 2.0 * top2[:, 0], 0.0)
    good = np.flatnonzero(d1 < (RATIO**2) * d2)
    return good, np.argmax(sim[good], axis=1)


def _homography(src: np.ndarray, dst: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray] | None:
    """RANSAC homography src -> dst: (H, inlier mask), or None."""
    # USAC_FAST: the same inliers as classic RANSAC here at half the time.
    # USAC draws from OpenCV's per-thread generator and takes no seed of its own
    # (UsacParams cannot express USAC_FAST's settings): seeding it (one of the two
    # places packcheck does, see packcheck.core) gives the same inliers for the same
    # pair in any process and order.
    cv2.setRNGSeed(0)
    H, inl = cv2.findHomography(src, dst, cv2.USAC_FAST, tol, maxIters=500, confidence=0.99)
    if H is None or inl is None:
        return None
    return H, inl.ravel() > 0


def match_homography(src: Keypoints, dst: Keypoints, *, min_inliers: int):
    """The homography taking ``src``'s picture onto ``dst``'s, from RootSIFT matches (ratio test, RANSAC).

    Returns
    -------
    (H, src_points, dst_points, inlier mask) or None when fewer than ``min_inliers`` matches agree.
    """
    if len(src) < MIN_MATCHES or len(dst) < 2:
        return None
    good, nearest = _ratio_matches(src.root @ dst.root.T)
    if len(good) < max(MIN_MATCHES, min_inliers):
        return None
    a, b = src.points[good], dst.points[nearest]
    found = _homography(a, b, RANSAC_TOLERANCE * max(dst.size))
    if found is None or int(found[1].sum()) < min_inliers:
        return None
    return found[0], a, b, found[1]


class VoteIndex:
    """Every listing image's keypoints in one approximate nearest-neighbour index, for a shortlist.

    Verifying a photo against every listing image costs one descriptor product per
    image; beyond a few dozen images that is too slow for a station. Instead each
    photo descriptor looks up its nearest listing descriptors across the whole
    catalogue (a FLANN k-d forest) and, where Lowe's ratio test against the nearest
    descriptor *of another image* passes, votes for the image it came from. The
    images with most votes are verified properly (:func:`count_inliers`). On the
    printed-product proxy set (100 covers) the right image is among the 10 most
    voted for 97.5% of photos, where the embedding's 10 best hold it for 73%.

    The forest is built once per catalogue with a fixed seed (the same votes in
    every process).

    Parameters
    ----------
    listings : keypoints of each listing row (row i of the catalogue).
    trees, checks : FLANN k-d forest size and leaves searched per query (speed/recall).
    """

    def __init__(self, listings: list[Keypoints], *, trees: int = 4, checks: int = 32):
        descs = [root_sift(k.descriptors) for k in listings]
        self.rows = len(listings)
        self._checks = checks
        if not any(len(d) for d in descs):
            self._owner = np.zeros(0, np.int32)
            self._index = None
            return
        self._owner = np.concatenate([np.full(len(d), i, np.int32) for i, d in enumerate(descs)])
        data = np.ascontiguousarray(np.concatenate([d for d in descs if len(d)]), np.float32)
        cv2.setRNGSeed(0)  # the forest's random splits: the same votes in every process
        self._index = cv2.flann_Index(data, {"algorithm": 1, "trees": trees})
        self._data = data  # FLANN keeps a pointer to it

    def votes(self, photo: Keypoints, *, neighbours: int = 4) -> np.ndarray:
        """(rows,) float: ratio-test votes each listing row gets from the photo's descriptors."""
        out = np.zeros(self.rows, np.float64)
        if self._index is None or len(photo) == 0:
            return out
        q = np.ascontiguousarray(root_sift(photo.descriptors), np.float32)
        k = int(min(neighbours, len(self._owner)))
        idx, dist = self._index.knnSearch(q, k, params={"checks": self._checks})
        idx = np.asarray(idx, np.int64).reshape(len(q), k)
        dist = np.asarray(dist, np.float64).reshape(len(q), k)  # squared L2
        owner = self._owner[np.clip(idx, 0, len(self._owner) - 1)]
        other = owner != owner[:, :1]
        has_other = other.any(axis=1)
        first_other = np.argmax(other, axis=1)
        d2 = dist[np.arange(len(q)), first_other]
        # No other image among the neighbours: every near descriptor is this image's, a vote too.
        passed = ~has_other | (dist[:, 0] < (RATIO ** 2) * d2)
        np.add.at(out, owner[passed, 0], 1.0)
        return out

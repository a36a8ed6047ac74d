"""Near-duplicate photos: a packing photo that is a copy of a listing image, or of another order's photo.

Perceptual hashes are near chance at telling a product from another (README,
Accuracy), but they are strong at what they were made for: finding the *same
picture* again after re-encoding or resizing. Crops and screen photos move the
picture in the frame, so the decision is made by geometry and pixels:

* **candidates** come from the hashes (:class:`PhotoSignature`: pHash and dHash
  of the whole frame and of two centre crops, compared crop against crop) or,
  for a listing image, from being the ordered item's listing;
* a **homography** (RootSIFT, ratio test, RANSAC; :func:`~packcheck.core.keypoints.match_homography`)
  maps one picture onto the other;
* the **pixels** are compared after warping, over the whole common frame: a
  copy agrees nearly everywhere, background included.

``photo_is_listing``: the warped listing agrees with the photo over the listing's
*background* too (a screen shows the listing's white background around the
product; a real product on a bench has bench around it), and where the listing's
frame ends inside the photo there is an edge (the screen's bezel), not more of
the same surface. A genuine photo of a flat printed product (a book, a box)
matches the listing's print geometrically but not its background, so it is not
flagged.

``photo_reused``: one homography explains the matches across the *whole* frame
and the warped pixels agree in nearly every tile. Two genuine photos of one SKU
on one bench share the bench, but the product (and the hands, the clutter) moved
between them: those tiles disagree.

Every limit comes from the thresholds file's ``[duplicates]`` section
(:class:`~packcheck.core.thresholds.DuplicateLimits`); ``packcheck bench duplicates``
measures the rates they give.
"""
from __future__ import annotations

import dataclasses
import io
import struct
from dataclasses import dataclass

import cv2
import numpy as np

from . import hashing, keypoints
from .imaging import LoadedImage
from .locate import listing_mask
from .records import DuplicateDetails
from .thresholds import DuplicateLimits
from .verdict import CheckResult, Status

#: Centre crops (share of each side) the signature hashes besides the whole frame: a photo
#: cropped by up to 10% lines up with one of them.
CROPS = (1.0, 0.9, 0.8)
#: Long side (px) the hashes' crops are taken from.
HASH_SIDE_PX = 128
#: Long side (px) of the grey copy that geometry and pixel comparisons use.
FRAME_SIDE_PX = 400
#: Pixel comparison grid: the common frame is cut into this many tiles on its long side.
TILES = 16
#: SIFT's contrast threshold for near-duplicate matching: half OpenCV's default, so plain
#: products on white (a lemon, a pepper) still give enough keypoints.
KEYPOINT_CONTRAST = 0.015
#: A tile whose grey levels spread less than this (std, 0..255) is plain: compared by its mean.
FLAT_STD = 4.0

_SIG_VERSION = 1
#: What a stored listing :class:`Frame` was computed with: bump it when :func:`frame_of`,
#: :func:`listing_frame` or a constant they read changes, so stored frames are computed again.
FRAME_VERSION = 1


# ---------------------------------------------------------------- hashes
@dataclass(frozen=True)
class PhotoSignature:
    """The perceptual hashes of a photo's whole frame and centre crops: ``phash[i]``/``dhash[i]`` of
    :data:`CROPS` ``[i]``. Kept with every judged photo (evidence store, audit journal)."""

    phash: tuple[int, ...]
    dhash: tuple[int, ...]

    @property
    def key(self) -> int:
        """The whole frame's pHash as a signed 64-bit integer (an SQLite INTEGER)."""
        return struct.unpack("<q", struct.pack("<Q", self.phash[0]))[0]

    def to_bytes(self) -> bytes:
        return struct.pack(f"<B{2 * len(CROPS)}Q", _SIG_VERSION, *self.phash, *self.dhash)

    @classmethod
    def from_bytes(cls, data: bytes) -> "PhotoSignature":
        n = len(CROPS)
        values = struct.unpack(f"<B{2 * n}Q", bytes(data))
        if values[0] != _SIG_VERSION:
            raise ValueError(f"photo signature version {values[0]} is not {_SIG_VERSION}")
        return cls(tuple(values[1:1 + n]), tuple(values[1 + n:]))

    def to_list(self) -> list[str]:
        """JSON form: the hashes as hex (16 digits each), pHashes then dHashes."""
        return [f"{v:016x}" for v in (*self.phash, *self.dhash)]

    @classmethod
    def from_list(cls, values) -> "PhotoSignature":
        n = len(CROPS)
        ints = [int(v, 16) for v in values]
        return cls(tuple(ints[:n]), tuple(ints[n:]))


def photo_signature(rgb: np.ndarray) -> PhotoSignature:
    """pHash and dHash of the whole frame and its centre crops (:data:`CROPS`).

    >>> img = np.zeros((60, 80, 3), np.uint8); img[10:40, 20:50] = 255
    >>> sig = photo_signature(img)
    >>> len(sig.phash), hash_distance(sig, sig)
    (3, 0)
    """
    h, w = rgb.shape[:2]
    s = min(1.0, HASH_SIDE_PX / max(h, w))
    if s < 1.0:  # one shrink, then the crops: the hashes need 32 px, not the whole working copy
        rgb = cv2.resize(rgb, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
    grey = hashing.luma(rgb)
    ph, dh = [], []
    h, w = grey.shape
    for share in CROPS:
        ch, cw = max(8, round(h * share)), max(8, round(w * share))
        y, x = (h - ch) // 2, (w - cw) // 2
        crop = grey[y:y + ch, x:x + cw]
        ph.append(int(hashing.pack_bits(hashing.phash_bits(crop))))
        dh.append(int(hashing.pack_bits(hashing.dhash_bits(crop))))
    return PhotoSignature(tuple(ph), tuple(dh))


def hash_distances(query: PhotoSignature, stored: np.ndarray) -> np.ndarray:
    """The smallest pHash + dHash distance over every pair of crops, of ``query`` against many.

    ``stored``: (N, 2 * len(CROPS)) uint64, rows as :func:`signature_matrix` builds them.
    Returns (N,) int: 0 for the same picture, about 64 for unrelated ones (two 64-bit hashes).
    """
    n = len(CROPS)
    stored = np.asarray(stored, np.uint64).reshape(-1, 2 * n)
    q = np.array([*query.phash, *query.dhash], np.uint64)
    best = None
    for i in range(n):
        for j in range(n):
            d = hashing.hamming(stored[:, j], q[i]) + hashing.hamming(stored[:, n + j], q[n + i])
            best = d if best is None else np.minimum(best, d)
    return best.astype(np.int64)


def hash_distance(a: PhotoSignature, b: PhotoSignature) -> int:
    return int(hash_distances(a, signature_matrix([b]))[0])


def signature_matrix(signatures) -> np.ndarray:
    """(N, 2 * len(CROPS)) uint64 of many signatures, for :func:`hash_distances`."""
    rows = [(*s.phash, *s.dhash) for s in signatures]
    return np.array(rows, np.uint64).reshape(len(rows), 2 * len(CROPS))


# ---------------------------------------------------------------- geometry and pixels
@dataclass(frozen=True)
class Frame:
    """A picture prepared for comparison: grey at :data:`FRAME_SIDE_PX`, its keypoints, and for a
    listing image which pixels are background (255) rather than product."""

    grey: np.ndarray
    keypoints: keypoints.Keypoints
    background: np.ndarray | None = None
    chroma: np.ndarray | None = None  # (H, W, 2) uint8: Lab a and b (OpenCV's 8-bit scale), grey's size


def frame_of(rgb: np.ndarray, background: np.ndarray | None = None) -> Frame:
    """:class:`Frame` of an RGB picture; ``background``: a listing's background mask at ``rgb``'s size."""
    h, w = rgb.shape[:2]
    s = FRAME_SIDE_PX / max(h, w)
    size = (max(8, round(w * s)), max(8, round(h * s)))
    grey = cv2.resize(hashing.luma(rgb), size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    bg = None
    if background is not None:
        bg = cv2.resize(background, size, interpolation=cv2.INTER_NEAREST)
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    chroma = np.ascontiguousarray(cv2.cvtColor(small, cv2.COLOR_RGB2LAB)[..., 1:])
    return Frame(grey, keypoints.detect(grey, contrast=KEYPOINT_CONTRAST), bg, chroma)


def listing_frame(image: LoadedImage) -> Frame:
    """:class:`Frame` of a listing image, with its background (what :func:`~packcheck.core.locate.listing_mask`
    does not count as product) marked 255."""
    bg = np.where(listing_mask(image.rgb, image.alpha).mask > 0, 0, 255).astype(np.uint8)
    return frame_of(image.rgb, bg)


def frame_to_bytes(frame: Frame) -> bytes:
    """A :class:`Frame` as a compressed ``.npz`` (plain arrays, no pickle): :func:`frame_from_bytes` gives
    back equal arrays."""
    kp = frame.keypoints
    arrays = {"grey": frame.grey, "points": kp.points, "desc": kp.descriptors, "size": np.array(kp.size, np.int32)}
    if frame.background is not None:
        arrays["background"] = frame.background
    if frame.chroma is not None:
        arrays["chroma"] = frame.chroma
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def frame_from_bytes(data: bytes) -> Frame:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        kp = keypoints.Keypoints(z["points"], z["desc"], tuple(int(v) for v in z["size"]))
        return Frame(z["grey"], kp, z["background"] if "background" in z.files else None,
                     z["chroma"] if "chroma" in z.files else None)


def frame_with(rgb: np.ndarray, points: keypoints.Keypoints, box: tuple[int, int, int, int]) -> Frame:
    """:class:`Frame` of a photo whose keypoints were already detected inside ``box`` (x0, y0, x1, y1 of
    ``rgb``), e.g. by the fingerprint: they are moved into the frame's pixels instead of detected again."""
    h, w = rgb.shape[:2]
    s = FRAME_SIDE_PX / max(h, w)
    size = (max(8, round(w * s)), max(8, round(h * s)))
    grey = cv2.resize(hashing.luma(rgb), size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    x0, y0, x1, y1 = box
    if len(points) and points.size[0] > 0:
        back = (x1 - x0) / points.size[0]
        moved = ((points.points * back + np.float32([x0, y0])) * s).astype(np.float32)
    else:
        moved = np.zeros((0, 2), np.float32)
    return Frame(grey, keypoints.Keypoints(moved, points.descriptors, size))


def _tone_curve(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """A monotone 256-entry curve taking ``src`` grey levels to ``dst``'s (exposure, gamma, white balance
    of a screen or a re-encode): the median ``dst`` per level band, interpolated, made non-decreasing."""
    src = src.ravel().astype(np.int32)
    dst = dst.ravel().astype(np.float32)
    edges = np.linspace(0, 256, 17)
    centres, values = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (src >= lo) & (src < hi)
        if sel.sum() >= 8:
            centres.append(float(np.median(src[sel])))
            values.append(float(np.median(dst[sel])))
    if not centres:
        return np.arange(256, dtype=np.float32)
    if len(centres) == 1:
        return np.arange(256, dtype=np.float32) + (values[0] - centres[0])
    curve = np.interp(np.arange(256), centres, np.maximum.accumulate(values))
    return curve.astype(np.float32)


def _tile_edges(n: int, side: float) -> np.ndarray:
    starts = [int(v) for v in np.arange(0, n - side / 2, side)] or [0]
    return np.array(starts + [min(n, int(starts[-1] + side))])


def _tile_agreement(a: np.ndarray, b: np.ndarray, valid: np.ndarray, min_correlation: float,
                    chroma_shift: np.ndarray | None = None, max_chroma: float = 0.0) -> tuple[float, int]:
    """Share of tiles in which ``a`` and ``b`` show the same thing, and how many tiles were compared.

    The frame is cut into :data:`TILES` tiles on its long side; a tile at least 80% inside ``valid``
    is compared. One with texture agrees when its normalised correlation is at least
    ``min_correlation`` (insensitive to glare and vignetting, which shift and scale a tile); a plain
    one when the other is plain too; with ``chroma_shift`` ((H, W, 2) Lab a/b difference), a tile
    whose mean colour moved more than ``max_chroma`` disagrees (a red mug is not the blue one in the
    same place). Sums per tile come from integral images: no loop over pixels.
    """
    h, w = a.shape
    side = max(h, w) / TILES
    ys, xs = _tile_edges(h, side), _tile_edges(w, side)

    def sums(x: np.ndarray) -> np.ndarray:
        s = cv2.integral(np.ascontiguousarray(x, np.float64))
        return (s[ys[1:, None], xs[None, 1:]] - s[ys[:-1, None], xs[None, 1:]]
                - s[ys[1:, None], xs[None, :-1]] + s[ys[:-1, None], xs[None, :-1]])

    v = valid.astype(np.float64)
    a64, b64 = a.astype(np.float64) * v, b.astype(np.float64) * v
    n = sums(v)
    area = (ys[1:] - ys[:-1])[:, None] * (xs[1:] - xs[:-1])[None, :]
    use = n >= 0.8 * area
    n = np.maximum(n, 1)
    ma, mb = sums(a64) / n, sums(b64) / n
    va = np.maximum(sums(a64 * a) / n - ma ** 2, 0)
    vb = np.maximum(sums(b64 * b) / n - mb ** 2, 0)
    cov = sums(a64 * b) / n - ma * mb
    sa, sb = np.sqrt(va), np.sqrt(vb)
    flat = (sa < FLAT_STD) | (sb < FLAT_STD)
    agree = np.where(flat, (sa < 2 * FLAT_STD) & (sb < 2 * FLAT_STD),
                     cov / np.maximum(sa * sb, 1e-9) >= min_correlation)
    if chroma_shift is not None:
        moved = sum(np.abs(sums(chroma_shift[..., k] * v) / n) for k in range(chroma_shift.shape[2]))
        agree &= moved <= max_chroma
    total = int(use.sum())
    return (float(agree[use].sum()) / total if total else 0.0), total


@dataclass(frozen=True)
class Comparison:
    """How one picture maps onto another: matches, inliers, their spread and the pixel agreement."""

    inliers: int
    coverage: float  # share of the query's 4x4 grid cells holding an inlier
    agreement: float  # share of compared tiles that agree after warping
    tiles: int
    background_agreement: float | None = None  # listing background the photo shows plain, as the listing does
    background_share: float | None = None  # share of the photo the listing's background covers
    frame_edge: float | None = None  # contrast across the listing frame's edge inside the photo
    overlap: float = 1.0  # share of the query's frame the other picture covers once warped
    frame_visible: float | None = None  # share of the listing's warped frame inside the photo


def _coverage(points: np.ndarray, inlier: np.ndarray, size: tuple[int, int], cells: int = 4) -> float:
    """Share of the frame's grid cells holding an inlier: one homography explains the whole frame
    (background and product), not just the product on a plain bench."""
    if not len(points):
        return 0.0
    w, h = size
    cx = np.clip((points[inlier, 0] / w * cells).astype(int), 0, cells - 1)
    cy = np.clip((points[inlier, 1] / h * cells).astype(int), 0, cells - 1)
    return len(np.unique(cy * cells + cx)) / cells ** 2


def compare_frames(query: Frame, other: Frame, limits: DuplicateLimits) -> Comparison | None:
    """Map ``other`` onto ``query`` and compare: None when no homography with enough inliers exists."""
    found = keypoints.match_homography(other.keypoints, query.keypoints, min_inliers=limits.min_inliers)
    if found is None:
        return None
    H, src, dst, inlier = found
    h, w = query.grey.shape
    coverage = _coverage(dst, inlier, (w, h))
    if other.background is not None:
        # A listing: where its frame falls decides most photos without a pixel compared (the frame
        # reaches far past the photo, or the bench continues past it). Only then the costly part.
        geometry = Comparison(int(inlier.sum()), coverage, 1.0, 0, 1.0, 1.0, _frame_edge(query.grey, other.grey.shape, H),
                              frame_visible=_visible(other.grey.shape, H, (w, h)))
        if not is_listing_copy(geometry, limits):
            return dataclasses.replace(geometry, agreement=0.0, background_agreement=0.0, background_share=0.0)
    warped = cv2.warpPerspective(other.grey, H, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    valid = cv2.warpPerspective(np.full(other.grey.shape, 255, np.uint8), H, (w, h), flags=cv2.INTER_NEAREST) > 0
    valid = cv2.erode(valid.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if valid.sum() < 64:
        return None
    if other.background is None:
        fitted = _tone_curve(warped[valid], query.grey[valid])[warped]
        shift = None
        if query.chroma is not None and other.chroma is not None:
            ab = cv2.warpPerspective(other.chroma, H, (w, h), flags=cv2.INTER_LINEAR).astype(np.float32)
            shift = ab - query.chroma.astype(np.float32)
            shift -= np.median(shift[valid], axis=0)  # white balance moves every colour alike
        agreement, tiles = _tile_agreement(fitted, query.grey, valid, limits.tile_min_correlation, shift,
                                           limits.reuse_max_chroma)
        return Comparison(int(inlier.sum()), coverage, agreement, tiles, overlap=float(valid.mean()))
    bg = cv2.warpPerspective(other.background, H, (w, h), flags=cv2.INTER_NEAREST) > 0
    bg &= valid
    product = valid & ~bg
    # The background is judged away from its edges (the product's outline, the frame's border), where
    # any picture has a gradient.
    bg = cv2.erode(bg.astype(np.uint8), np.ones((11, 11), np.uint8)) > 0
    cheap = Comparison(int(inlier.sum()), coverage, 1.0, 0, 1.0, float(bg.mean()),
                       _frame_edge(query.grey, other.grey.shape, H), frame_visible=_visible(other.grey.shape, H, (w, h)))
    if not is_listing_copy(cheap, limits):
        # Decided by geometry alone (the frame reaches past the photo, no edge where it ends): the
        # pixels are not compared (this is most genuine photos, and it is the costly part).
        return dataclasses.replace(cheap, agreement=0.0, background_agreement=0.0)
    # The tone curve is fitted on the product only, then the listing's background is held against
    # the photo: a screen shows it plain and at the listing's level (glare aside), a bench shows bench.
    fitted = _tone_curve(warped[product] if product.sum() >= 64 else warped[valid],
                         query.grey[product] if product.sum() >= 64 else query.grey[valid])[warped]
    agreement, tiles = _tile_agreement(fitted, query.grey, product, limits.tile_min_correlation)
    if tiles == 0:  # a product too small for a tile of its own: the whole common frame
        agreement, tiles = _tile_agreement(fitted, query.grey, valid, limits.tile_min_correlation)
    # One-sided: a screen shows the listing's white at least as bright as the product's brightest
    # tone (the curve stops there; glare only brightens it); a dark mat or bench is darker.
    level = query.grey.astype(np.float32) >= fitted - limits.listing_background_levels
    background = _plain_share(query.grey, bg, limits.plain_max_gradient, level)
    return dataclasses.replace(cheap, agreement=agreement, tiles=tiles, background_agreement=background)


def _warped_corners(shape, H: np.ndarray) -> np.ndarray:
    """The four corners of a (h, w) frame mapped by ``H``, (4, 2) float32, clockwise from top left."""
    h, w = shape[:2]
    return cv2.perspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]).reshape(-1, 1, 2), H).reshape(-1, 2)


def _visible(listing_shape, H: np.ndarray, size: tuple[int, int]) -> float:
    """Share of the listing's frame, warped onto the photo, that lies inside the photo."""
    corners = _warped_corners(listing_shape, H)
    whole = abs(float(cv2.contourArea(corners)))
    if whole <= 0:
        return 0.0
    box = np.float32([[0, 0], [size[0], 0], [size[0], size[1]], [0, size[1]]])
    inside, _ = cv2.intersectConvexConvex(corners.astype(np.float32), box)
    return float(inside) / whole


def _plain_share(photo: np.ndarray, where: np.ndarray, max_gradient: float, level: np.ndarray) -> float:
    """Share of ``where`` the photo shows as the listing does: plain (local gradient of the photo smoothed
    at 2 px, 3x3 morphological averaged over 5x5, at most ``max_gradient``: a screen's white, not a
    bench) and at its level (``level``)."""
    if not where.any():
        return 0.0
    # Smoothed first: a screen's moire and the sensor's noise are finer than a bench's grain and edges.
    grad = cv2.morphologyEx(cv2.GaussianBlur(photo, (0, 0), 2.0), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    local = cv2.blur(grad.astype(np.float32), (5, 5))
    return float(((local <= max_gradient) & level)[where].mean())


def _frame_edge(photo: np.ndarray, listing_shape, H: np.ndarray, offset: float = 6.0) -> float:
    """The weakest side's contrast across the listing frame's border, where it lies inside the photo
    (0..255): a screen's bezel steps on every side; a shadow of a real product darkens one or two sides
    at most. 255 when no side is inside the photo (a copy, a crop: no surface continues past it)."""
    h, w = photo.shape
    corners = _warped_corners(listing_shape, H)
    centre = corners.mean(axis=0)
    steps = []
    for a, b in zip(corners, np.roll(corners, -1, axis=0)):
        t = np.linspace(0.1, 0.9, 40)[:, None]
        points = a + (b - a) * t
        normal = np.array([-(b - a)[1], (b - a)[0]], np.float64)
        normal /= max(np.linalg.norm(normal), 1e-9)
        if np.dot(normal, centre - (a + b) / 2) < 0:
            normal = -normal  # pointing into the frame
        inner, outer = points + offset * normal, points - offset * normal
        ok = ((inner >= 1) & (inner < [w - 1, h - 1])).all(axis=1) & ((outer >= 1) & (outer < [w - 1, h - 1])).all(axis=1)
        if ok.sum() < 10:
            continue  # this side lies outside the photo
        values = [photo[np.round(p[ok, 1]).astype(int), np.round(p[ok, 0]).astype(int)].astype(np.float32)
                  for p in (inner, outer)]
        steps.append(float(np.median(np.abs(values[0] - values[1]))))
    return min(steps) if steps else 255.0


# ---------------------------------------------------------------- the two findings
def is_listing_copy(c: Comparison, limits: DuplicateLimits) -> bool:
    """The photo shows the listing image itself (a copy, a crop, a screen), not the product."""
    if c.inliers < limits.min_inliers or c.agreement < limits.listing_min_agreement:
        return False
    if (c.frame_visible or 0.0) < limits.listing_min_visible:
        return False  # the listing's frame reaches far past the photo: its product, photographed larger
    if c.background_share is not None and c.background_share >= limits.listing_min_background:
        return (c.background_agreement or 0.0) >= limits.listing_min_background_agreement \
            and (c.frame_edge or 0.0) >= limits.listing_min_frame_edge
    # A listing without background in view: only a copy of the whole frame (re-encode, resize, crop) counts.
    return (c.frame_edge or 0.0) >= 255.0 and c.coverage >= limits.reuse_min_coverage


def is_reuse(c: Comparison, limits: DuplicateLimits) -> bool:
    """The two photos are one picture (re-encoded, resized or cropped), not two shots of one scene."""
    return (c.inliers >= limits.min_inliers and c.coverage >= limits.reuse_min_coverage
            and c.overlap >= limits.reuse_min_overlap and c.agreement >= limits.reuse_min_agreement)


def _details(c: Comparison, *, other: str, distance: int | None) -> DuplicateDetails:
    return DuplicateDetails(other=other, inliers=c.inliers, coverage=round(c.coverage, 3),
                            agreement=round(c.agreement, 3), hash_distance=distance,
                            background_agreement=None if c.background_agreement is None
                            else round(c.background_agreement, 3))


def listing_result(sku: str, image: str, c: Comparison, *, distance: int | None = None) -> CheckResult:
    """The FLAG of a photo that is a listing image (:func:`is_listing_copy` said so)."""
    return CheckResult("is_listing", Status.FLAG, "photo_is_listing",
                       f"the photo is the listing image of {sku} ({image}), not a photo of the parcel: "
                       "retake a real photo of the packed items",
                       value=round(c.agreement, 3), sku=sku, details=_details(c, other=image, distance=distance))


def reuse_result(other_order: str, where: str, c: Comparison, *, distance: int | None = None) -> CheckResult:
    """The REVIEW of a photo already used for another order (:func:`is_reuse` said so)."""
    return CheckResult("reused", Status.REVIEW, "photo_reused",
                       f"the same photo was used for order {other_order} ({where}): photograph this parcel",
                       value=round(c.agreement, 3), details=_details(c, other=other_order, distance=distance))


def same_file_result(other_order: str, where: str) -> CheckResult:
    """The REVIEW of a photo whose bytes are exactly another order's photo (same SHA-256)."""
    c = Comparison(0, 1.0, 1.0, 0)
    return CheckResult("reused", Status.REVIEW, "photo_reused",
                       f"the same photo file was used for order {other_order} ({where}): photograph this parcel",
                       value=1.0, details=_details(c, other=other_order, distance=0))

"""Find the product: mask a listing's plain background, locate items on the bench.

Comparing a whole phone photo with a clean listing image mostly compares the
table, the box and the packer's hand. So before any fingerprint is taken:

* a listing image has its white or uniform background removed (or its alpha
  channel used), leaving the product's pixels;
* a packing photo is searched for what is *not* the station surface. With an
  empty-station reference photo, that is plain background subtraction; without
  one, the surface is learnt from the photo's border, and the search repeats
  inside the found region (a product inside an open box: first the box, then
  the product in it). Skin-coloured regions entering from the frame edge (a
  hand or arm) are not taken for the product.

Everything here works on a small copy (``ANALYSIS_SIDE_PX`` long side): finding
a parcel does not need 12 megapixels. The numbers that decide what is found in a
photo (an item, no product, an empty bench, a hand) come from the thresholds
file (:class:`~packcheck.core.thresholds.LocateLimits`); the constants below
shape the search and the listing masks, which are part of the cached listing
fingerprints (changing one means a new ``PIPELINE_VERSION``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .records import Location
from .thresholds import LocateLimits

#: Long side of the copy the localiser works on.
ANALYSIS_SIDE_PX = 256
#: Lab distance below which a pixel is "like the background" (at least; raised for noisy borders).
MIN_BACKGROUND_DISTANCE = 14.0
#: A listing mask covering less than this share, or more than the next, of the image
#: is no mask: the whole image is kept. Listing fingerprints are cached by content
#: and pipeline version, so these are pipeline settings, not thresholds-file limits.
LISTING_MIN_FRACTION = 0.01
LISTING_MAX_FRACTION = 0.98
#: ORB keeps no keypoint within 31 px (its edge threshold) of a border: a side shorter
#: than twice that holds none, so alignment is not tried.
ORB_MIN_SIDE_PX = 2 * 31 + 1


def _small(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    h, w = rgb.shape[:2]
    s = min(1.0, ANALYSIS_SIDE_PX / max(h, w))
    if s < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return rgb, s


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)


def _border_pixels(img: np.ndarray, width: int) -> np.ndarray:
    return np.concatenate([img[:width].reshape(-1, img.shape[-1]), img[-width:].reshape(-1, img.shape[-1]),
                           img[:, :width].reshape(-1, img.shape[-1]), img[:, -width:].reshape(-1, img.shape[-1])])


def _whole(shape, method: str) -> Location:
    h, w = shape[:2]
    return Location((0, 0, w, h), np.full((h, w), 255, np.uint8), False, 0, 1.0, method)


def _clean(mask: np.ndarray) -> np.ndarray:
    k = max(3, (min(mask.shape) // 64) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel, iterations=2)
    return _fill_holes(mask)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    # White print on a white product is not background: fill what the border cannot reach.
    h, w = mask.shape
    flood = np.zeros((h + 2, w + 2), np.uint8)
    flood[1:-1, 1:-1] = mask > 0
    reach = flood.copy()
    cv2.floodFill(reach, None, (0, 0), 1)
    holes = reach[1:-1, 1:-1] == 0
    out = mask.copy()
    out[holes] = 255
    return out


def listing_mask(rgb: np.ndarray, alpha: np.ndarray | None = None) -> Location:
    """The product's pixels in a listing image: alpha, else what differs from the plain background.

    Only background connected to the image border is removed, so white parts of
    the product itself stay. A listing that is not on a plain background (a
    lifestyle photo) keeps the whole frame.

    Examples
    --------
    >>> import numpy as np, cv2
    >>> img = np.full((100, 100, 3), 255, np.uint8)
    >>> _ = cv2.circle(img, (50, 50), 30, (200, 30, 30), -1)
    >>> loc = listing_mask(img)
    >>> loc.found, 0.2 < loc.fraction < 0.35
    (True, True)
    """
    h, w = rgb.shape[:2]
    if alpha is not None:
        mask = np.where(alpha > 127, 255, 0).astype(np.uint8)
        frac = float((mask > 0).mean())
        if frac >= LISTING_MIN_FRACTION:
            return _finish(mask, "alpha", 1.0, (h, w))
    small, s = _small(rgb)
    lab = _lab(small)
    border = _border_pixels(lab, max(2, min(small.shape[:2]) // 50))
    ref = np.median(border, axis=0)
    spread = np.median(np.linalg.norm(border - ref, axis=1))
    if spread > MIN_BACKGROUND_DISTANCE:  # not a plain background: keep everything
        return _whole(rgb.shape, "background")
    dist = np.linalg.norm(lab - ref, axis=2)
    near = (dist < max(MIN_BACKGROUND_DISTANCE * 0.7, 4 * spread)).astype(np.uint8)
    n, labels = cv2.connectedComponents(near)
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    background = np.isin(labels, edge_labels[edge_labels > 0]) & (near > 0)
    mask = _clean(np.where(background, 0, 255).astype(np.uint8))
    frac = float((mask > 0).mean())
    if not LISTING_MIN_FRACTION <= frac <= LISTING_MAX_FRACTION:
        return _whole(rgb.shape, "background")
    return _finish(mask, "background", s, (h, w))


def _finish(mask_small: np.ndarray, method: str, s: float, shape, *, n_items=1, item_boxes=()) -> Location:
    h, w = shape
    mask = mask_small if s == 1.0 else cv2.resize(mask_small, (w, h), interpolation=cv2.INTER_NEAREST)
    # The box around the nonzero pixels, without listing them (np.nonzero of a full mask is slower).
    bx, by, bw, bh = cv2.boundingRect(mask)
    if bw == 0:
        return _whole(shape, "none")
    bbox = (bx, by, bx + bw, by + bh)
    scale = 1.0 / s
    boxes = tuple(tuple(int(round(v * scale)) for v in b) for b in item_boxes)
    return Location(bbox, mask, True, n_items, float((mask > 0).mean()), method, boxes)


def _skin(lab_small: np.ndarray, rgb_small: np.ndarray) -> np.ndarray:
    # A classic YCrCb skin range; only used to ignore hands that reach in from the edge.
    ycc = cv2.cvtColor(rgb_small, cv2.COLOR_RGB2YCrCb)
    cr, cb = ycc[..., 1], ycc[..., 2]
    return (cr > 135) & (cr < 175) & (cb > 80) & (cb < 130)


def _components(mask: np.ndarray, skin: np.ndarray | None, limits: LocateLimits):
    """Keep item-sized components; drop skin-coloured ones that touch the frame edge (hands)."""
    h, w = mask.shape
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    keep = []
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        if area < limits.min_item_fraction * h * w:
            continue
        touches = x == 0 or y == 0 or x + bw >= w or y + bh >= h
        if skin is not None and touches:
            comp = labels == i
            skin_share = float(skin[comp].mean())
            if skin_share > limits.hand_skin_share:
                continue
            if skin_share > limits.held_skin_share:
                # Product held in a hand: keep the component but not its skin pixels.
                labels[comp & skin] = 0
        keep.append((int(area), i, (int(x), int(y), int(x + bw), int(y + bh))))
    keep.sort(reverse=True)
    out = np.zeros_like(mask)
    for _, i, _ in keep:
        out[labels == i] = 255
    return out, [b for _, _, b in keep]


def _foreground_by_border(lab: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray | None:
    """Pixels inside ``region`` unlike the surface seen along the region's border."""
    x0, y0, x1, y1 = region
    sub = lab[y0:y1, x0:x1]
    if min(sub.shape[:2]) < 16:
        return None
    bw = max(2, min(sub.shape[:2]) // 25)
    sides = [sub[:bw].reshape(-1, 3), sub[-bw:].reshape(-1, 3), sub[:, :bw].reshape(-1, 3), sub[:, -bw:].reshape(-1, 3)]
    border = np.concatenate(sides)
    # The surface may be two-toned (table and box flap, light and shadow): model it
    # as up to three colour clusters. A cluster is surface only if it shows on at
    # least three sides of the frame: a product that reaches one edge (a T-shirt
    # laid out to the top of the photo) must not be mistaken for the table.
    k = 3
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    # OpenCV's k-means draws from OpenCV's per-thread generator, whose state depends on
    # what ran before, and takes no generator of its own: seeding it (one of the two
    # places packcheck does, see packcheck.core) makes a photo's location the same in
    # every process, whatever order photos come in.
    cv2.setRNGSeed(0)
    _, labels, centres = cv2.kmeans(border.astype(np.float32), k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    labels = labels.ravel()
    bounds = np.cumsum([0] + [len(x) for x in sides])
    side_share = np.array([[np.mean(labels[bounds[i]:bounds[i + 1]] == j) for i in range(4)] for j in range(k)])
    shares = np.bincount(labels, minlength=k) / len(labels)
    surface = (shares > 0.15) & ((side_share > 0.1).sum(axis=1) >= 3)
    centres = centres[surface]
    if len(centres) == 0:
        return None
    # Lightness varies with uneven light and shadow; chroma identifies the surface.
    weights = np.array([0.5, 1.0, 1.0], np.float32)
    d = np.min(np.stack([np.linalg.norm((sub - c) * weights, axis=2) for c in centres]), axis=0)
    spreads = [np.median(np.linalg.norm((border[labels == j] - centres[i]) * weights, axis=1))
               for i, j in enumerate(np.flatnonzero(surface))]
    limit = max(MIN_BACKGROUND_DISTANCE, 3.0 * float(np.median(spreads)))
    fg = np.zeros(lab.shape[:2], np.uint8)
    fg[y0:y1, x0:x1] = np.where(d > limit, 255, 0).astype(np.uint8)
    return fg


def _orb(rgb: np.ndarray):
    """ORB keypoints and descriptors of an analysis-size RGB image (for aligning the empty bench)."""
    orb = cv2.ORB_create(nfeatures=800, fastThreshold=10)
    return orb.detectAndCompute(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), None)


@dataclass
class EmptyBench:
    """An empty-station photo, with what locating needs of it computed once per analysis size.

    A station's reference is the same for every photo it takes: shrinking it to
    the analysis size and finding its ORB features once, instead of per photo,
    gives the same location at less cost. ``locate_product`` accepts the bare
    array too (prepared per call).
    """

    rgb: np.ndarray
    _prepared: dict = field(default_factory=dict, repr=False, compare=False)

    def at(self, shape: tuple[int, int]):
        """(reference shrunk to ``shape`` (h, w), its ORB keypoints, its ORB descriptors)."""
        got = self._prepared.get(shape)
        if got is None:
            ref = cv2.resize(self.rgb, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
            # No ORB on a strip too thin for its pyramid (see _aligned_reference).
            features = _orb(ref) if min(shape) >= ORB_MIN_SIDE_PX else (None, None)
            got = self._prepared[shape] = (ref, *features)
        return got


def _aligned_reference(small: np.ndarray, empty: EmptyBench) -> np.ndarray:
    """The empty-station photo, warped onto the photo's frame when the camera has moved.

    A bumped camera or a box placed a little differently shifts the scene; a
    homography fitted to ORB matches on the surface undoes that. Where too few
    features match to tell (a plain mat), the camera is assumed fixed. Pixels the
    warped reference does not cover are black (and ignored by the caller).
    """
    ref, k2, d2 = empty.at(small.shape[:2])
    if min(small.shape[:2]) < ORB_MIN_SIDE_PX:
        # ORB finds nothing in a strip this thin, and its image pyramid asserts on a
        # 1 px high one (a 4000 x 16 photo): the camera is assumed fixed.
        return ref
    k1, d1 = _orb(small)
    if d1 is None or d2 is None or len(k1) < 20 or len(k2) < 20:
        return ref
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(d2, d1)
    if len(matches) < 20:
        return ref
    src = np.float32([k2[m.queryIdx].pt for m in matches])
    dst = np.float32([k1[m.trainIdx].pt for m in matches])
    # Classic RANSAC draws from a generator of its own with a fixed seed: no global seeding needed.
    H, inl = cv2.findHomography(src, dst, cv2.RANSAC, 3.0)
    if H is None or int(inl.sum()) < max(15, 0.25 * len(matches)):
        return ref
    return cv2.warpPerspective(ref, H, (small.shape[1], small.shape[0]), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def locate_product(rgb: np.ndarray, *, limits: LocateLimits, empty_rgb: np.ndarray | EmptyBench | None = None
                   ) -> Location:
    """Locate the items on the packing surface.

    Parameters
    ----------
    rgb : the photo (any size; analysed at ``ANALYSIS_SIDE_PX``).
    limits : what counts as an item, as no product, as an empty bench (``Thresholds.locate``).
    empty_rgb : optional photo of the same station with nothing on it (an
        :class:`EmptyBench` to reuse its preparation across photos). With it,
        items are found by background subtraction and counted reliably.

    Returns
    -------
    Location
        ``found`` is False when nothing plausible stands out; the mask is then the
        whole frame so that later stages still have something to compare.
    """
    h, w = rgb.shape[:2]
    small, s = _small(rgb)
    lab = _lab(small)
    skin = _skin(lab, small)
    if empty_rgb is not None:
        empty = empty_rgb if isinstance(empty_rgb, EmptyBench) else EmptyBench(empty_rgb)
        ref = _aligned_reference(small, empty)
        ref_lab = _lab(ref)
        valid = ref.any(axis=2)
        delta = cv2.GaussianBlur(lab, (5, 5), 0) - cv2.GaussianBlur(ref_lab, (5, 5), 0)
        # A shadow darkens the surface but keeps its hue: darkening counts for little,
        # so drop shadows do not join items that lie close together into one.
        delta[..., 0] *= np.where(delta[..., 0] < 0, 0.3, 0.5)
        diff = np.linalg.norm(delta, axis=2)
        diff[~valid] = 0
        typical = float(np.percentile(diff[valid], 50)) if valid.any() else np.inf
        if typical > MIN_BACKGROUND_DISTANCE:
            # Most of the frame differs from the reference: it is another bench, or
            # the light changed completely. Locate without it.
            return locate_product(rgb, limits=limits)
        limit = max(MIN_BACKGROUND_DISTANCE, typical * 3.0)
        fg = _clean(np.where(diff > limit, 255, 0).astype(np.uint8))
        fg, boxes = _components(fg, skin, limits)
        frac = float((fg > 0).mean())
        if frac < limits.min_product_fraction:
            return Location((0, 0, w, h), np.full((h, w), 255, np.uint8), False, 0, 0.0, "reference")
        if frac <= limits.max_reference_change:
            return _finish(fg, "reference", s, (h, w), n_items=len(boxes), item_boxes=boxes)
        # Nearly everything changed: the reference does not fit this photo; ignore it.

    sh, sw = small.shape[:2]
    region = (0, 0, sw, sh)
    best = None
    for _ in range(2):  # the box on the table, then the product in the box
        fg = _foreground_by_border(lab, region)
        if fg is None:
            break
        fg = _clean(fg)
        fg, boxes = _components(fg, skin, limits)
        area = float((fg > 0).sum())
        region_area = float((region[2] - region[0]) * (region[3] - region[1]))
        if not boxes or area < limits.min_product_fraction * sh * sw:
            if best is None:
                # The border colour is everywhere: an empty surface, or a scene so busy
                # (a pile of produce, a shelf) that the border is like everything else.
                method = "empty" if edge_density(small) < limits.empty_max_edge_density else "none"
                return Location((0, 0, w, h), np.full((h, w), 255, np.uint8), False, 0, 0.0, method)
            break
        if area > limits.max_region_fraction * region_area:
            break  # no surface to learn from inside this region: keep the previous answer
        best = (fg, boxes)
        ys, xs = np.nonzero(fg)
        inner = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        # Only look inside when the region is big enough to hold a frame of surface.
        if (inner[2] - inner[0]) * (inner[3] - inner[1]) < limits.min_inner_fraction * sh * sw:
            break
        region = inner
    if best is None:
        return _whole(rgb.shape, "none")
    fg, boxes = best
    return _finish(fg, "border", s, (h, w), n_items=len(boxes), item_boxes=boxes)


def edge_density(rgb: np.ndarray) -> float:
    """Share of pixels on a Canny edge: low for a bare table, high for clutter."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return float((cv2.Canny(grey, 60, 150) > 0).mean())


def square_crop(rgb: np.ndarray, bbox: tuple[int, int, int, int], *, pad: float = 0.08) -> np.ndarray:
    """A square crop around ``bbox`` (grown by ``pad`` on each side), shifted to stay in the frame."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = bbox
    side = int(round(max(x1 - x0, y1 - y0) * (1 + 2 * pad)))
    side = max(8, min(side, max(h, w)))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = int(round(min(max(cx - side / 2, 0), max(0, w - side))))
    top = int(round(min(max(cy - side / 2, 0), max(0, h - side))))
    return rgb[top: top + side, left: left + side]


def centre_crop(rgb: np.ndarray, fraction: float) -> np.ndarray:
    """The central square covering ``fraction`` of the short side."""
    h, w = rgb.shape[:2]
    side = max(8, int(min(h, w) * fraction))
    top, left = (h - side) // 2, (w - side) // 2
    return rgb[top: top + side, left: left + side]


def pad_to_square(rgb: np.ndarray, value: int = 255) -> np.ndarray:
    """Pad with ``value`` to a square, product centred (listing crops keep their aspect)."""
    h, w = rgb.shape[:2]
    side = max(h, w)
    out = np.full((side, side, 3), value, np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    out[top: top + h, left: left + w] = rgb
    return out

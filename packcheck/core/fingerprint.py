"""Fingerprints: every signal of one image, computed once from one decode.

A fingerprint holds, for the located product:

* ``embeddings``: one L2-normalised EfficientNet-Lite0 vector per crop. A listing
  (and a reference: a confirmed real photo enrolled for its SKU, see
  :func:`fingerprint_reference`) has its product at four quarter-turns,
  because a CNN is not rotation invariant and a parcel lies on the bench at any
  angle; the photo's located product is turned to the nearest right angle of
  its own outline first (deskewed), so one of the four matches. A photo has
  the located product, the whole frame and its centre, and each separate item
  when several lie on the bench: whichever crop shows the product best wins.
* ``hists`` / ``labs`` / ``colour_hashes``: the masked Lab histogram, the dominant
  colour and the imagehash-style colour hash, per region (region 0 is everything
  located; then each item).
* ``hashes``: pHash, dHash, aHash and wHash of the located crop; a listing keeps
  them at four quarter-turns so a photo at any right angle compares fairly.
* ``keypoints``: SIFT keypoints and descriptors of the located region.
* ``quality``: brightness and sharpness, for the "retake photo" gate.

Listing fingerprints are stored by content (see :mod:`packcheck.store.fingerprints`) and
never recomputed for an unchanged file; photo fingerprints are computed per check.
"""
from __future__ import annotations

import dataclasses
import io
import time
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from . import colour, embedding, hashing, keypoints
from .imaging import LoadedImage
from .locate import EmptyBench, centre_crop, listing_mask, locate_product, pad_to_square, square_crop
from .records import Location, LocationSummary
from .thresholds import LocateLimits

#: Bump when any computation below changes: cached listing fingerprints are then rebuilt.
PIPELINE_VERSION = 17
#: Long side of the copy hashes and colour are computed from.
COLOUR_SIDE_PX = 160
#: Long side of the copy the sharpness measure uses (the measure depends on scale).
SHARPNESS_SIDE_PX = 256
#: At most this many separate items get their own crop.
MAX_ITEM_CROPS = 4
#: A photo is also embedded from its centre square of this share of the short side: the
#: localiser misses a product held in a hand or set on a busy surface, and the packer
#: points the camera at the product (on real shelf photos: embedding rank-1 0.53 -> 0.57).
CENTRE_CROP_FRACTION = 0.7


@dataclass(frozen=True)
class Quality:
    """Photo quality measures. ``brightness``: mean luma 0..255 of the frame.
    ``sharpness``: variance of the Laplacian of the located crop at a fixed scale.
    ``colourless``: every pixel is grey (a black-and-white photo), so colour says nothing."""

    brightness: float
    sharpness: float
    colourless: bool = False


@dataclass(frozen=True)
class Fingerprint:
    embeddings: np.ndarray  # (E, 1280) float32, or (0, 1280) when the signal is off
    hists: np.ndarray  # (R, HIST_SIZE) float32
    labs: np.ndarray  # (R, 3) float32, OpenCV-scaled Lab
    colour_hashes: np.ndarray  # (R, 14) uint8
    hashes: np.ndarray  # (T, 4) uint64: T=4 rotations for a listing, regions for a photo
    keypoints: keypoints.Keypoints
    quality: Quality
    location: LocationSummary  # where the product is, in work-image pixels
    work_size: tuple[int, int]
    timings: dict = field(default_factory=dict, compare=False)

    @property
    def n_views(self) -> int:
        """View 0 is everything located; views 1.. are the separate items (when several were found)."""
        return len(self.hists)

    def view_rows(self, view: int) -> tuple[list[int], list[int]]:
        """(embedding rows, region rows) that belong to ``view``.

        Regions are [everything, item 1, ...]; embedding crops are [located product,
        whole frame, centre, item 1, ...] (see :func:`photo_crops`), so the item crops are
        the last ``n_views - 1`` embedding rows.
        """
        items = self.n_views - 1
        n_emb = len(self.embeddings)
        if view == 0:
            return list(range(max(0, n_emb - items))), [0]
        return ([n_emb - items + view - 1] if n_emb else []), [view]

    # -- storage: plain arrays in an .npz, never pickle --------------------------------
    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        where = self.location
        loc = np.array([*where.bbox, where.found, where.n_items, where.fraction], np.float64)
        np.savez(
            buf,
            embeddings=self.embeddings.astype(np.float16),
            hists=self.hists,
            labs=self.labs,
            colour_hashes=self.colour_hashes,
            hashes=self.hashes,
            kp_points=self.keypoints.points,
            kp_desc=self.keypoints.descriptors,
            kp_size=np.array(self.keypoints.size, np.int32),
            quality=np.array([self.quality.brightness, self.quality.sharpness, self.quality.colourless],
                             np.float64),
            location=loc,
            method=np.array(where.method),
            work_size=np.array(self.work_size, np.int32),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Fingerprint":
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            loc = z["location"]
            return cls(
                embeddings=z["embeddings"].astype(np.float32),
                hists=z["hists"],
                labs=z["labs"],
                colour_hashes=z["colour_hashes"],
                hashes=z["hashes"],
                keypoints=keypoints.Keypoints(z["kp_points"], z["kp_desc"], tuple(int(v) for v in z["kp_size"])),
                quality=Quality(float(z["quality"][0]), float(z["quality"][1]), bool(z["quality"][2])),
                location=LocationSummary((int(loc[0]), int(loc[1]), int(loc[2]), int(loc[3])), bool(loc[4]),
                                         int(loc[5]), float(loc[6]), str(z["method"])),
                work_size=tuple(int(v) for v in z["work_size"]),
            )


def _grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _quality(rgb: np.ndarray, bbox) -> Quality:
    grey = _grey(rgb)
    crop = grey[bbox[1]:bbox[3], bbox[0]:bbox[2]]
    if crop.size == 0:
        crop = grey
    h, w = crop.shape
    s = SHARPNESS_SIDE_PX / max(h, w)
    crop = cv2.resize(crop, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
    sharp = float(cv2.Laplacian(crop, cv2.CV_32F).var())
    # A greyscale file decodes to three identical channels; any colour photo, even
    # of a grey scene, has some chroma noise.
    colourless = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
    return Quality(brightness=float(grey.mean()), sharpness=sharp, colourless=colourless)


def _regions(rgb: np.ndarray, loc: Location):
    """(crop, mask) pairs for colour and hashes: everything located, then each item."""
    out = []
    x0, y0, x1, y1 = loc.bbox
    out.append((rgb[y0:y1, x0:x1], loc.mask[y0:y1, x0:x1]))
    if loc.n_items > 1:
        for bx0, by0, bx1, by1 in loc.item_boxes[:MAX_ITEM_CROPS]:
            out.append((rgb[by0:by1, bx0:bx1], loc.mask[by0:by1, bx0:bx1]))
    return out


def _colour_signals(regions):
    hists, labs, chashes, hashes = [], [], [], []
    for crop, mask in regions:
        small = crop
        h, w = crop.shape[:2]
        s = min(1.0, COLOUR_SIDE_PX / max(h, w, 1))
        if s < 1.0:
            size = (max(1, round(w * s)), max(1, round(h * s)))
            small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
        hists.append(colour.lab_histogram(small, mask))
        labs.append(colour.dominant_lab(small, mask))
        fg = small[mask > 0] if (mask > 0).any() else small.reshape(-1, 3)
        chashes.append(hashing.colour_hash_values(fg.reshape(-1, 1, 3)))
        hashes.append((small, mask))
    return np.stack(hists), np.stack(labs), np.stack(chashes), hashes


def photo_colour_and_hashes(regions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A photo's hash-and-colour stage: Lab histograms, dominant colours, colour hashes and
    structural hashes of each ``(crop, mask)`` region (see :func:`fingerprint_photo`)."""
    hists, labs, chashes, hash_inputs = _colour_signals(regions)
    hashes = np.stack([hashing.structural_hashes(_masked_grey(s, m)) for s, m in hash_inputs])
    return hists, labs, chashes, hashes


def _masked_grey(small: np.ndarray, mask: np.ndarray, fill: int = 255) -> np.ndarray:
    # Hash the product, not its background: paint the background one flat tone.
    grey = hashing.luma(small)
    if mask is not None and (mask > 0).any() and not (mask > 0).all():
        grey = np.where(mask > 0, grey, fill).astype(np.uint8)
    return grey


def _assemble(rgb, loc: Location, emb, colours, hashes, kps, timings) -> Fingerprint:
    hists, labs, chashes = colours
    return Fingerprint(
        embeddings=emb, hists=hists, labs=labs, colour_hashes=chashes, hashes=hashes, keypoints=kps,
        quality=_quality(rgb, loc.bbox),
        location=LocationSummary.of(loc),
        work_size=(rgb.shape[1], rgb.shape[0]),
        timings=timings,
    )


def fingerprint_listing(image: LoadedImage, *, use_embedding: bool = True) -> Fingerprint:
    """Fingerprint a listing image: product masked from its background, hashes at four turns."""
    t0 = time.perf_counter()
    rgb = image.rgb
    loc = listing_mask(rgb, image.alpha)
    x0, y0, x1, y1 = loc.bbox
    regions = _regions(rgb, loc)[:1]
    hists, labs, chashes, hash_inputs = _colour_signals(regions)
    small, mask = hash_inputs[0]
    hashes = hashing.rotated_hashes(_masked_grey(small, mask))
    t1 = time.perf_counter()
    crop = rgb[y0:y1, x0:x1].copy()
    crop[loc.mask[y0:y1, x0:x1] == 0] = 255
    square = pad_to_square(crop)
    emb = (embedding.embed([np.rot90(square, k) for k in range(4)]) if use_embedding
           else np.zeros((0, embedding.EMBEDDING_DIM), np.float32))
    t2 = time.perf_counter()
    kps = keypoints.detect(_grey(rgb[y0:y1, x0:x1]), loc.mask[y0:y1, x0:x1])
    t3 = time.perf_counter()
    return _assemble(rgb, loc, emb, (hists, labs, chashes), hashes, kps,
                     {"hash_colour": t1 - t0, "embedding": t2 - t1, "keypoints": t3 - t2})


def deskewed_crop(rgb: np.ndarray, loc: Location) -> np.ndarray:
    """A square crop of the located product, turned so its outline's edges are upright.

    The angle comes from the minimum-area rectangle around the product mask and
    is taken modulo 90 degrees, so the turn is at most 45 degrees; the listing's
    four quarter-turns cover the rest.
    """
    pts = cv2.findNonZero(loc.mask)
    crop = square_crop(rgb, loc.bbox, pad=0.15)
    if pts is None or len(pts) < 10:
        return crop
    (_, _), (w, h), angle = cv2.minAreaRect(pts)
    angle = ((angle + 45.0) % 90.0) - 45.0
    if abs(angle) < 3.0:
        return crop
    side = crop.shape[0]
    m = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
    turned = cv2.warpAffine(crop, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    # The corners now hold reflected background; keep the central part the product fills.
    return centre_crop(turned, 0.85)


def product_crop(rgb: np.ndarray, loc: Location, *, fallback_crop_fraction: float) -> np.ndarray:
    """The located product deskewed, else the centre square of ``fallback_crop_fraction`` of the short side."""
    return deskewed_crop(rgb, loc) if loc.found else centre_crop(rgb, fallback_crop_fraction)


def photo_crops(rgb: np.ndarray, loc: Location, *, fallback_crop_fraction: float) -> list[np.ndarray]:
    """The crops a photo is embedded from: the product (:func:`product_crop`), the whole frame, its
    centre (:data:`CENTRE_CROP_FRACTION`), each item."""
    crops = [product_crop(rgb, loc, fallback_crop_fraction=fallback_crop_fraction), rgb,
             centre_crop(rgb, CENTRE_CROP_FRACTION)]
    if loc.found and loc.n_items > 1:
        crops.extend(square_crop(rgb, b) for b in loc.item_boxes[:MAX_ITEM_CROPS])
    return crops


def fingerprint_photo(
    image: LoadedImage,
    *,
    locate: LocateLimits,
    empty_reference: np.ndarray | EmptyBench | None = None,
    use_embedding: bool = True,
    use_keypoints: bool = True,
) -> Fingerprint:
    """Fingerprint a packing photo: locate the items, then take every signal from the located region.

    ``locate`` (``Thresholds.locate``) decides what counts as an item and as no product found.
    """
    fp, embed = photo_stages(image, locate=locate, empty_reference=empty_reference, use_keypoints=use_keypoints)
    return embed() if use_embedding else fp


def photo_stages(
    image: LoadedImage,
    *,
    locate: LocateLimits,
    empty_reference: np.ndarray | EmptyBench | None = None,
    use_keypoints: bool = True,
) -> tuple[Fingerprint, Callable[[], Fingerprint]]:
    """A photo's fingerprint without its embedding, and the function that adds it.

    The embedding (a CNN forward pass over every crop) is the stage the cascade may
    leave out (:func:`packcheck.core.judge.cascade_decides`); everything else comes
    from this one decode and location. The function returns the whole fingerprint,
    as :func:`fingerprint_photo` computes it, with the embedding's time added.
    """
    t0 = time.perf_counter()
    rgb = image.rgb
    loc = locate_product(rgb, limits=locate, empty_rgb=empty_reference)
    t1 = time.perf_counter()
    if loc.found:
        regions = _regions(rgb, loc)
    else:
        # Nothing stands out from the surface (or the scene is cluttered):
        # the centre of the frame is the best guess at the product.
        c = centre_crop(rgb, locate.fallback_crop_fraction)
        regions = [(c, np.full(c.shape[:2], 255, np.uint8))]
    hists, labs, chashes, hashes = photo_colour_and_hashes(regions)
    t2 = time.perf_counter()
    if use_keypoints:
        kps = _photo_keypoints(rgb, loc)
    else:
        kps = keypoints.Keypoints(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8), (0, 0))
    t3 = time.perf_counter()
    fp = _assemble(rgb, loc, np.zeros((0, embedding.EMBEDDING_DIM), np.float32), (hists, labs, chashes), hashes,
                   kps, {"locate": t1 - t0, "hash_colour": t2 - t1, "embedding": 0.0, "keypoints": t3 - t2})

    def embed() -> Fingerprint:
        t = time.perf_counter()
        emb = embedding.embed(photo_crops(rgb, loc, fallback_crop_fraction=locate.fallback_crop_fraction))
        return dataclasses.replace(fp, embeddings=emb, timings={**fp.timings, "embedding": time.perf_counter() - t})

    return fp, embed


def fingerprint_reference(image: LoadedImage, *, locate: LocateLimits) -> Fingerprint:
    """Fingerprint a confirmed real photo of a SKU as a row of the index, shaped like a listing's.

    The located product (:func:`product_crop`) stands in for the listing's masked
    product: embedded at four quarter-turns, its colour and hashes taken from the
    located region, its keypoints from the same square as a photo's. Only the
    product counts, not the bench around it: every photo taken on that bench
    shares the bench, whatever it shows.
    """
    t0 = time.perf_counter()
    rgb = image.rgb
    loc = locate_product(rgb, limits=locate)
    if loc.found:
        regions = _regions(rgb, loc)[:1]
    else:
        c = centre_crop(rgb, locate.fallback_crop_fraction)
        regions = [(c, np.full(c.shape[:2], 255, np.uint8))]
    hists, labs, chashes, hash_inputs = _colour_signals(regions)
    small, mask = hash_inputs[0]
    hashes = hashing.rotated_hashes(_masked_grey(small, mask))
    t1 = time.perf_counter()
    crop = product_crop(rgb, loc, fallback_crop_fraction=locate.fallback_crop_fraction)
    emb = embedding.embed([np.rot90(crop, k) for k in range(4)])
    t2 = time.perf_counter()
    kps = _photo_keypoints(rgb, loc)
    t3 = time.perf_counter()
    return _assemble(rgb, loc, emb, (hists, labs, chashes), hashes, kps,
                     {"hash_colour": t1 - t0, "embedding": t2 - t1, "keypoints": t3 - t2})


def _photo_keypoints(rgb: np.ndarray, loc: Location) -> keypoints.Keypoints:
    """Keypoints of the located product's square (the whole frame when nothing was found)."""
    x0, y0, x1, y1 = square_crop_box(rgb.shape, loc.bbox) if loc.found else (0, 0, rgb.shape[1], rgb.shape[0])
    return keypoints.detect(_grey(rgb[y0:y1, x0:x1]))


def square_crop_box(shape, bbox, pad: float = 0.1) -> tuple[int, int, int, int]:
    """The located box grown by ``pad`` on each side, clipped to the frame."""
    h, w = shape[:2]
    x0, y0, x1, y1 = bbox
    dx, dy = int((x1 - x0) * pad), int((y1 - y0) * pad)
    return max(0, x0 - dx), max(0, y0 - dy), min(w, x1 + dx), min(h, y1 + dy)

"""Near-duplicate photos in the apps: the listing images a photo is held against, and the other orders'
photos it may repeat (this audit run, or the station's evidence history).

The rules are :mod:`packcheck.core.duplicates`'; this module only finds what to
compare and keeps what was computed:

* :class:`CopyFinder` (one per :class:`~packcheck.apps.checker.Checker`): the
  ordered SKUs' listing images prepared once each (grey, keypoints, background
  mask), and the frames and signatures of the photos judged last, so the
  station and the audit reuse them instead of decoding a photo twice;
* :class:`PhotoHistory`: the signatures of photos judged before (the evidence
  store's ``photo_hashes``), searched by hash distance, and the candidates
  verified by geometry on their stored files (the station's look-up, and the
  audit's with ``--db``);
* :func:`find_reuse_in_run`: the audit's pass over its own journal.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..core import duplicates as dup
from ..core.fingerprint import square_crop_box
from ..core.imaging import LoadedImage, load_image
from ..core.records import Catalogue, Order
from ..core.thresholds import DuplicateLimits
from ..core.verdict import CheckResult, Status, Verdict, combine
from ..errors import ImageError
from ..store.fingerprints import FingerprintStore

log = logging.getLogger(__name__)

#: Photos whose frames and signatures are kept after their check (for the station's and audit's reuse look-up).
RECENT_PHOTOS = 16


def product_frame(image: LoadedImage, fp) -> dup.Frame:
    """A photo's :class:`~packcheck.core.duplicates.Frame` for the listing comparison, with the keypoints
    its fingerprint found on the located product (where ``fingerprint_photo`` detects them)."""
    loc = fp.location
    box = square_crop_box(image.rgb.shape, loc.bbox) if loc.found else (0, 0, *fp.work_size)
    return dup.frame_with(image.rgb, fp.keypoints, box)


class RecentPhoto:
    """A photo judged lately: its signature, and its whole-frame :class:`~packcheck.core.duplicates.Frame`
    computed only when a reuse candidate needs it (a keypoint detection: most photos never need it)."""

    def __init__(self, signature: dup.PhotoSignature, rgb: np.ndarray | Callable[[], np.ndarray]):
        self.signature = signature
        self._rgb = rgb  # or a function that decodes it (the audit: most photos are never decoded again)
        self._frame: dup.Frame | None = None

    @property
    def frame(self) -> dup.Frame:
        if self._frame is None:
            self._frame = dup.frame_of(self._rgb() if callable(self._rgb) else self._rgb)
        return self._frame


class CopyFinder:
    """The listing check of one order, and what it computed about the photos, kept for the reuse check."""

    def __init__(self, catalogue: Catalogue, limits: DuplicateLimits, store: FingerprintStore | None = None):
        self.catalogue = catalogue
        self.limits = limits
        #: Where listing frames are kept by content (the listing index's store); None: this process only.
        self.store = store
        self._listings: dict[tuple[str, int, int], dup.Frame | None] = {}
        self._recent: OrderedDict[str, RecentPhoto] = OrderedDict()

    def _listing_frame(self, path: Path) -> dup.Frame | None:
        try:
            st = path.stat()
        except OSError:
            return None
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in self._listings:
            self._listings[key] = self._stored_listing_frame(path)
        return self._listings[key]

    def _stored_listing_frame(self, path: Path) -> dup.Frame | None:
        """The listing image's frame from the store (the index makes them), else computed and stored."""
        if self.store is not None:
            try:
                got = self.store.frame(self.store.digest(path))
            except OSError:
                return None
            if got is not None:
                return got
        try:
            image = load_image(path)
        except ImageError as e:
            log.warning("listing image %s not compared for copies: %s", path, e)
            return None
        frame = dup.listing_frame(image)
        if self.store is not None:
            self.store.put_frames([(image.sha256, dup.frame_to_bytes(frame))])
        return frame

    def remember(self, image: LoadedImage) -> dup.PhotoSignature:
        """A judged photo's signature, kept with its pixels for :meth:`recent` (the last few photos)."""
        got = self._recent.get(image.sha256)
        if got is None:
            got = self._recent[image.sha256] = RecentPhoto(dup.photo_signature(image.rgb), image.rgb)
            while len(self._recent) > RECENT_PHOTOS:
                self._recent.popitem(last=False)
        return got.signature

    def recent(self, sha256: str) -> "RecentPhoto | None":
        """The photo with this SHA-256, if it was judged lately: its signature, and its frame on demand."""
        return self._recent.get(sha256)

    def listing_checks(self, order: Order, images: Sequence[LoadedImage], fps: Sequence) -> list[CheckResult]:
        """``photo_is_listing`` for each photo that is one of the ordered SKUs' listing images; nothing
        when none is. ``fps``: the photos' fingerprints, whose keypoints (detected on the located
        product) are reused, so the check costs no second keypoint detection."""
        out = []
        # The ordered SKUs' own listings: a sibling's listing passed off as the photo is already a
        # wrong variant.
        skus = [sku for sku in dict.fromkeys(order.skus) if sku in self.catalogue.items]
        for image, fp in zip(images, fps):
            self.remember(image)
            if not skus or not len(fp.keypoints):
                continue
            frame = product_frame(image, fp)
            for sku in skus:
                hit = next((r for r in (self._compare(frame, sku, p)
                                        for p in self.catalogue.items[sku].listing_images) if r), None)
                if hit:
                    out.append(hit)
                    break
        return out

    def _compare(self, frame: dup.Frame, sku: str, path: Path) -> CheckResult | None:
        listing = self._listing_frame(Path(path))
        if listing is None:
            return None
        c = dup.compare_frames(frame, listing, self.limits)
        if c is None or not dup.is_listing_copy(c, self.limits):
            return None
        return dup.listing_result(sku, Path(path).name, c)


def with_checks(verdict: Verdict, extra: list[CheckResult]) -> Verdict:
    """The verdict with ``extra`` checks added and the status and message combined again (an ERROR stays)."""
    if not extra or verdict.status is Status.ERROR:
        return verdict
    return combine(verdict.order_id, [*verdict.checks, *extra], thresholds_version=verdict.thresholds_version,
                   photos=verdict.photos, photo_paths=verdict.photo_paths, timings=verdict.timings,
                   meta=verdict.meta)


class PhotoHistory:
    """Photos judged before, for the reuse look-up: signatures in memory, refreshed from the store.

    ``source(after_check)`` yields ``(check_id, position, order_id, sha256, signature bytes, station)``
    of every photo recorded after ``after_check`` (:meth:`EvidenceStore.photo_signatures`);
    ``load(check_id, position)`` returns the stored photo's bytes. Other stations writing the same
    database are seen at the next look-up. A finding names the other order, its check and its station.
    """

    def __init__(self, source: Callable[[int], Iterable], load: Callable[[int, int], bytes],
                 limits: DuplicateLimits):
        self._source, self._load, self.limits = source, load, limits
        self._last = 0
        self._rows: list[tuple[int, int, str, str, str | None]] = []
        self._matrix = np.zeros((0, 2 * len(dup.CROPS)), np.uint64)

    def refresh(self) -> None:
        new, sigs = [], []
        for check_id, position, order_id, sha, blob, station in self._source(self._last):
            try:
                sig = dup.PhotoSignature.from_bytes(blob)
            except (ValueError, Exception):  # noqa: BLE001 - a damaged row must not stop the bench
                continue
            new.append((check_id, position, order_id, sha, station))
            sigs.append(sig)
            self._last = max(self._last, check_id)
        if new:
            self._rows += new
            self._matrix = np.concatenate([self._matrix, dup.signature_matrix(sigs)])

    def __len__(self) -> int:
        return len(self._rows)

    def reuse(self, order_id: str, sha256: str, photo: RecentPhoto) -> CheckResult | None:
        """``photo_reused`` naming the other order whose photo this one repeats; None when it repeats none."""
        sig = photo.signature
        self.refresh()
        if not self._rows:
            return None
        same = [r for r in self._rows if r[3] == sha256 and r[2] != order_id]
        if same:
            return dup.same_file_result(same[0][2], _where(same[0]))
        distances = dup.hash_distances(sig, self._matrix)
        others = np.array([r[2] != order_id for r in self._rows])
        near = np.flatnonzero(others & (distances <= self.limits.candidate_max_distance))
        for i in near[np.argsort(distances[near], kind="stable")][: self.limits.max_candidates]:
            check_id, position, other, *_ = self._rows[i]
            try:
                stored = load_image(self._load(check_id, position))
            except Exception as e:  # noqa: BLE001 - a missing or damaged stored photo is not this order's fault
                log.warning("photo of check #%s not compared for reuse: %s", check_id, e)
                continue
            c = dup.compare_frames(photo.frame, dup.frame_of(stored.rgb), self.limits)
            if c is not None and dup.is_reuse(c, self.limits):
                return dup.reuse_result(other, _where(self._rows[i]), c, distance=int(distances[i]))
        return None


def _where(row: tuple) -> str:
    """Where a stored photo was judged: ``check #12, station bench-2`` (no station: the check only)."""
    return f"check #{row[0]}" + (f", station {row[4]}" if row[4] else "")


def find_reuse_in_run(photos: Sequence[tuple[str, str, str, dup.PhotoSignature]],
                      load: Callable[[str, str], dup.Frame], limits: DuplicateLimits) -> dict[str, list[CheckResult]]:
    """Orders of one audit run whose photos repeat another order's: order id -> ``photo_reused`` results.

    ``photos``: (order id, photo path, sha256, signature) of every judged photo, in input order;
    ``load(path, sha256)`` gives a photo's frame, asked only for the photos of a candidate pair (hash
    distance) whose files differ, once per path while at most 64 are held. Both orders of a pair are
    marked, each naming the other (which one is the real parcel's photo, a person decides). Hashes are
    compared all against all (about 20 s for 20,000 photos on one core); only the nearest few per
    photo are verified.
    """
    out: dict[str, list[CheckResult]] = {}
    if len(photos) < 2:
        return out
    matrix = dup.signature_matrix([p[3] for p in photos])
    frames: dict[str, dup.Frame] = {}
    named: set[tuple[str, str]] = set()

    def frame(path: str, sha: str) -> dup.Frame:
        if path not in frames:
            frames[path] = load(path, sha)
        return frames[path]

    for i in range(1, len(photos)):
        oid, path, sha, sig = photos[i]
        distances = dup.hash_distances(sig, matrix[:i])
        near = [j for j in np.argsort(distances, kind="stable")
                if distances[j] <= limits.candidate_max_distance and photos[j][0] != oid][: limits.max_candidates]
        for j in near:
            other = photos[j]
            if (oid, other[0]) in named:
                continue
            if other[2] == sha:
                results = (dup.same_file_result(other[0], other[1]), dup.same_file_result(oid, path))
            else:
                try:
                    c = dup.compare_frames(frame(path, sha), frame(other[1], other[2]), limits)
                except ImageError:
                    continue
                if c is None or not dup.is_reuse(c, limits):
                    continue
                d = int(distances[j])
                results = (dup.reuse_result(other[0], other[1], c, distance=d),
                           dup.reuse_result(oid, path, c, distance=d))
            out.setdefault(oid, []).append(results[0])
            out.setdefault(other[0], []).append(results[1])
            named |= {(oid, other[0]), (other[0], oid)}
        if len(frames) > 64:  # keep memory flat: frames are cheap to compute again
            frames.clear()
    return out

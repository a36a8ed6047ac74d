"""Check one order end to end: photos in, :class:`~packcheck.core.verdict.Verdict` out.

A :class:`Checker` is built once per process (loading the catalogue, the listing
index and the thresholds takes a while; checking an order should not) and then
answers :meth:`Checker.check` for as many orders as come. It never raises for a
bad order: unreadable photos, unknown SKUs and invalid rows become an ERROR
verdict whose message a packer understands.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..core import checks
from ..core.colour import cie_lab
from ..core.fingerprint import Fingerprint, photo_stages
from ..core.imaging import load_image
from ..core.records import Catalogue, Order, VerdictMeta
from ..core.judge import judge_cascade
from ..core.locate import EmptyBench
from ..core.thresholds import Thresholds, load_thresholds
from ..core.verdict import CheckResult, Status, Verdict, combine, error_verdict
from ..errors import ImageError, PackcheckError, UnknownOrder
from ..store import dataset, references
from ..store.fingerprints import default_cache_path
from ..store.index import ListingIndex, build_index
from .duplicates import CopyFinder

log = logging.getLogger(__name__)


@dataclass
class Checker:
    """Everything needed to judge orders of one data folder."""

    root: Path
    catalogue: Catalogue
    index: ListingIndex
    thresholds: Thresholds
    packed: dict
    references: list = field(default_factory=list)  # enrolled references (packcheck.store.references)
    cache_path: Path | None = None
    #: Empty-station photos by station, decoded on first use.
    _refs: dict = field(default_factory=dict, init=False, repr=False)
    #: Listing images prepared for the photo_is_listing check, and the last photos' hashes (apps/duplicates.py).
    _copies: CopyFinder | None = field(default=None, init=False, repr=False)
    #: orders.csv by order id, read on first use and again only when the file changes.
    _orders: dataset.OrderIndex | None = field(default=None, init=False, repr=False)

    @property
    def copies(self) -> CopyFinder:
        if self._copies is None:
            self._copies = CopyFinder(self.catalogue, self.thresholds.duplicates, store=self.index.store)
        return self._copies

    @classmethod
    def open(cls, root: str | Path, *, thresholds: Thresholds | str | Path | None = None,
             cache: Path | None | bool = True, workers: int = 1, progress=None) -> "Checker":
        """Load a data folder: validate the catalogue, index its listing images, read the thresholds.

        ``cache=True`` keeps the index in ``<root>/.packcheck-cache/``; a path puts it
        there; ``None``/``False`` keeps it in memory only.
        """
        root = Path(root)
        if not root.is_dir():
            raise PackcheckError(f"data folder {root} does not exist")
        th = thresholds if isinstance(thresholds, Thresholds) else load_thresholds(thresholds)
        catalogue = dataset.load_catalogue(root)
        packed = dataset.load_packed(root)
        refs = references.load_references(root, known_skus=catalogue.items)
        cache_path = default_cache_path(root) if cache is True else (cache or None)
        index = _index(root, catalogue, refs, th, cache_path, workers=workers, progress=progress)
        return cls(root=root, catalogue=catalogue, index=index, thresholds=th, packed=packed, references=refs,
                   cache_path=cache_path)

    def reload_references(self) -> None:
        """Read ``references.csv`` again and rebuild the index with it (new photos are fingerprinted)."""
        self.references = references.load_references(self.root, known_skus=self.catalogue.items)
        self.index = _index(self.root, self.catalogue, self.references, self.thresholds, self.cache_path)

    # ------------------------------------------------------------------ orders
    @property
    def orders(self) -> dataset.OrderIndex:
        """orders.csv by order id (read when first used, and again when the file changes)."""
        if self._orders is None:
            self._orders = dataset.OrderIndex(self.root)
        return self._orders

    def find(self, order_id: str) -> Order:
        order = self.orders.find(order_id, self.catalogue, packed=self.packed)
        if order is None:
            raise UnknownOrder(f"order '{order_id}' is not in {self.root / dataset.ORDERS}; check the barcode")
        return order

    def check_id(self, order_id: str, *, photos: list | None = None) -> Verdict:
        """Check an order by id (``photos`` replaces the photos orders.csv names)."""
        try:
            order = self.find(order_id)
        except UnknownOrder as e:
            return error_verdict(order_id, "unknown_order", str(e), thresholds_version=self.thresholds.version)
        return self.check(order, photos=photos)

    def check(self, order: Order, *, photos: list | None = None) -> Verdict:
        """Judge one order. ``photos``: paths or bytes to use instead of the order's own."""
        th = self.thresholds
        timings: dict[str, float] = {}
        sources = list(photos) if photos is not None else list(order.photos)
        names = [str(p) if not isinstance(p, (bytes, bytearray)) else f"photo {i + 1}"
                 for i, p in enumerate(sources)]
        if order.problems:
            return error_verdict(order.order_id, "bad_order", "; ".join(order.problems),
                                 thresholds_version=th.version, photo_paths=names)
        if not sources:
            return error_verdict(order.order_id, "photo_unreadable", "no photo given for this order",
                                 thresholds_version=th.version)
        try:
            t = time.perf_counter()
            images = [load_image(src, name=name) for src, name in zip(sources, names)]
            timings["decode"] = time.perf_counter() - t
            reference = self._station_reference(order.station)
            # Every stage but the embedding now; the embedding when the cascade needs it (judge).
            staged = [photo_stages(image, locate=th.locate, empty_reference=reference,
                                   use_keypoints=th.signal_on("keypoints")) for image in images]
        except ImageError as e:
            return error_verdict(order.order_id, "photo_unreadable", str(e), thresholds_version=th.version,
                                 photo_paths=names, timings=tuple(timings.items()))
        fps = [fp for fp, _ in staged]
        done: list[Fingerprint] = []

        def complete() -> list[Fingerprint]:
            if not done:
                done.extend(embed() for _, embed in staged)
            return done

        verdict_checks, match_t, early = self.judge(order, fps, complete if th.signal_on("embedding") else lambda: fps)
        fps = done or fps
        for stage in ("locate", "hash_colour", "embedding", "keypoints"):
            timings[stage] = sum(f.timings.get(stage, 0.0) for f in fps)
        timings["match"] = match_t - timings["embedding"]
        t = time.perf_counter()
        verdict_checks += self.copies.listing_checks(order, images, fps)  # photo_is_listing: apps/duplicates.py
        timings["copies"] = time.perf_counter() - t
        stages = ("locate", "hash_colour", *(("keypoints",) if th.signal_on("keypoints") else ()),
                  *(("embedding",) if done else ()))
        return combine(order.order_id, verdict_checks, thresholds_version=th.version,
                       score=checks.match_score(verdict_checks, th, without_embedding=early),
                       photos=[im.sha256 for im in images], photo_paths=names, timings=tuple(timings.items()),
                       meta=VerdictMeta(station=order.station or "", skus=order.skus,
                                        items_located=max(f.location.n_items for f in fps),
                                        found_lab=cie_lab(fps[0].labs[0]), stages_run=stages))

    def judge(self, order: Order, fps: list[Fingerprint], complete: Callable[[], list[Fingerprint]] | None = None
              ) -> tuple[list, float, bool]:
        """The checks for an order whose photos are fingerprinted: no decoding, no file but the
        keypoints of the rows verified, which the index reads from its store on first use.

        ``fps`` may lack their embeddings; ``complete()`` then returns them with it, and is
        called only when the cascade needs it (:func:`packcheck.core.judge.judge_cascade`).
        Returns the checks, the seconds taken and whether the cascade decided without the embedding."""
        t = time.perf_counter()
        th = self.thresholds
        result, early = judge_cascade(order.skus, fps, self.index, th, self.catalogue, complete or (lambda: fps))
        expected = checks.expected_components(self.catalogue, order.lines)
        result.append(checks.component_check(expected, None if order.packed is None else dict(order.packed)))
        retake = any(c.check == "quality" and c.reason == "retake_photo" for c in result)
        count = checks.count_check(fps, sum(expected.values()), th, packed_recorded=order.packed is not None,
                                   retake=retake)
        if count is not None:
            result.append(count)
        weight = checks.weight_check(self.catalogue, order.lines, order.packed_weight_g, th.weight)
        if weight is not None:
            result.append(weight)
        return result, time.perf_counter() - t, early

    def _station_reference(self, station: str | None) -> EmptyBench | None:  # noqa: D401 - an empty bench
        if station not in self._refs:
            path = dataset.station_reference(self.root, station)
            try:
                self._refs[station] = EmptyBench(load_image(path).rgb) if path else None
            except ImageError as e:
                log.warning("empty-station photo of %s ignored: %s", station, e)
                self._refs[station] = None
        return self._refs[station]


def _index(root: Path, catalogue: Catalogue, refs: list, th: Thresholds, cache_path: Path | None, *,
           workers: int = 1, progress=None) -> ListingIndex:
    """The listing images of ``catalogue`` and the enrolled ``refs``, indexed."""
    entries = [(sku, p) for sku, item in catalogue.items.items() for p in item.listing_images]
    entries += references.reference_entries(root, refs)
    return build_index(entries, cache=cache_path, workers=workers, progress=progress,
                       large_from=th.large_catalogue_rows, locate=th.locate, vote_max_rows=th.search.vote_max_rows)

"""Judging what the photos show: the quality gate, the item check and the variant check, together.

One function, :func:`judge_items`, is what a station, the audit and the accuracy
benchmark all run, so a benchmark figure is the verdict's own figure. It decides
which checks the photos can support:

* a photo that must be retaken (too dark, blurred, too small, nothing on the
  bench) gets "retake photo" and no claim about the item or its colour: both
  are recorded as not judged, unless keypoint geometry conclusively shows another
  product, which no lighting explains (the verdict is never weaker than a
  conclusive check);
* the variant check belongs to a photo that shows the ordered product: only when
  the item check passes is the colour judged; otherwise it is not judged, so a
  wrong item never carries a sibling's name;
* a black-and-white photo cannot tell sibling colours apart: REVIEW, retake in colour.

:class:`PhotoScoring` keeps what does not depend on the order (the appearance
signals, the keypoint votes, every keypoint verification made), so judging one
photo against many orders (the benchmark) costs little more than against one.

**The cascade.** The embedding is the one stage a photo may not need: judged
first on the other signals (:meth:`Thresholds.without_embedding`), an order
whose every item and variant check clears its REVIEW limit by the calibrated
margin (``[cascade]``, see :func:`cascade_decides`) is a PASS that the
embedding, whatever it said, would not change on any calibration pair. Every
other order is judged again with the embedding, reusing the keypoint
verifications already made (:func:`judge_cascade`). Only a PASS is decided
early: a FLAG names what the photo looks like, which the embedding knows best.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from . import checks
from .fingerprint import Fingerprint
from .records import Catalogue
from .scoring import (Cheap, Listings, PhotoSet, Scores, cheap_scores, finish_scores, keypoint_votes, score_photo,
                      verifies_all)
from .thresholds import Thresholds
from .verdict import CheckResult, Status


@dataclass
class PhotoScoring:
    """A set of photos (one order's) scored against a catalogue, in the parts that do not depend on the order.

    ``views``: the photos pooled (view 0, everything located) and, for orders of
    several SKUs, each separate item on the bench (views 1..).
    """

    fps: list[Fingerprint]
    index: Listings
    thresholds: Thresholds
    views: list[PhotoSet] = field(init=False)
    _cheap: dict[int, Cheap] = field(default_factory=dict, init=False)
    _votes: dict[int, np.ndarray | None] = field(default_factory=dict, init=False)
    inliers: dict[int, int] = field(default_factory=dict, init=False)  # row -> inliers, shared by the views

    def __post_init__(self):
        n_views = max(f.n_views for f in self.fps)
        self.views = [PhotoSet.of(self.fps, v) for v in range(n_views)]

    def scores(self, view: int, must_verify) -> Scores:
        """The fused scores of one view, with the rows in ``must_verify`` verified too."""
        photo = self.views[view]
        if self.index.coarse is not None:
            return score_photo(photo, self.index, self.thresholds, must_verify=must_verify,
                               inlier_cache=self.inliers)
        if view not in self._cheap:
            self._cheap[view] = cheap_scores(photo, self.index, self.thresholds)
            # Votes only pick a shortlist: a catalogue verified whole needs none.
            needed = self.thresholds.signal_on("keypoints") and not verifies_all(self.index, self.thresholds)
            self._votes[view] = keypoint_votes(photo, self.index) if needed else None
        return finish_scores(photo, self.index, self.thresholds, self._cheap[view], must_verify=must_verify,
                             inlier_cache=self.inliers, votes=self._votes[view])

    def nearest(self) -> str | None:
        """The SKU the photos look most like, whatever was ordered (view 0, no order's rows forced in)."""
        s = self.scores(0, ())
        return self.index.owners[int(np.argmax(s.fused))] if len(s.fused) else None


def _not_judged(result: CheckResult, why: str) -> CheckResult:
    """``result`` kept for the record (its value still ranks it), without its claim or its status."""
    return dataclasses.replace(result, status=Status.PASS, reason=None,
                               message=f"{result.check} not judged: {why}", judged=False)


def judge_items(skus: tuple[str, ...], scoring: PhotoScoring, catalogue: Catalogue) -> list[CheckResult]:
    """The quality, item and variant checks of an order's SKUs on its photos (see the module doc)."""
    th = scoring.thresholds
    index = scoring.index
    fps = scoring.fps
    quality = checks.quality_check(fps, th)
    result = [quality]
    retake = quality.reason == "retake_photo"
    must = sorted({r for s in skus for sku in checks.family(s, catalogue) for r in index.rows_of(sku)})
    # Each SKU is judged on the view that shows it best (several SKUs, several items on
    # the bench: a cap beside the trousers must not make the trousers look like a cap).
    n_views = len(scoring.views) if len(set(skus)) > 1 else 1
    scored = [scoring.scores(v, must) for v in range(n_views)]
    colourless = all(f.quality.colourless for f in fps)
    for sku in dict.fromkeys(skus):
        items = [checks.item_check(sku, scored[v], index, catalogue, th, order_skus=skus) for v in range(n_views)]
        best = int(np.argmax([c.value for c in items]))
        item = items[best]
        conclusive_other = item.status is Status.FLAG and item.details.conclusive
        if retake and not conclusive_other:
            item = _not_judged(item, "the photo cannot be judged; retake it")
        result.append(item)
        if not catalogue.siblings(sku):
            continue
        if colourless:
            result.append(CheckResult("variant", Status.REVIEW, "retake_photo",
                                      "colour not judged: a black-and-white photo cannot tell sibling colours "
                                      "apart; retake it in colour", sku=sku))
            continue
        variant = checks.variant_check(sku, scoring.views[best], scored[best], index, catalogue, th,
                                       order_skus=skus)
        if variant is None:
            continue
        if retake:
            variant = _not_judged(variant, "the photo cannot be judged; retake it")
        elif item.status is not Status.PASS:
            variant = _not_judged(variant, "the photo does not clearly show the ordered product")
        result.append(variant)
    return result


#: The checks whose scores the embedding feeds (the cascade's margins are theirs).
CASCADE_CHECKS = ("item", "variant")


def embedding_optional(th: Thresholds) -> bool:
    """Whether ``th`` fuses the embedding and another signal: only then can an order be judged without it."""
    return th.signal_on("embedding") and len(th.enabled_signals) > 1


def cascade_possible(th: Thresholds) -> bool:
    """Whether ``th`` lets the cascade leave the embedding out: margins fitted, and another signal fused."""
    return th.cascade.on and embedding_optional(th)


def cascade_decides(results: Sequence[CheckResult], th: Thresholds) -> bool:
    """Whether checks judged without the embedding are a PASS the embedding could not change.

    Every item and variant check must be judged and clear its REVIEW limit by its
    margin (``th.cascade``), and the quality check must pass; an order with no item
    check (nothing was judged) is never decided early.
    """
    if not cascade_possible(th):
        return False
    margins = {"item": (th.cascade.item_margin, th.item), "variant": (th.cascade.variant_margin, th.variant)}
    scored = [r for r in results if r.check in CASCADE_CHECKS]
    if not any(r.check == "item" for r in scored):
        return False
    if any(r.check == "quality" and r.status is not Status.PASS for r in results):
        return False
    for r in scored:
        margin, band = margins[r.check]
        if not r.judged or r.status is not Status.PASS or r.value is None or r.value - margin < band.review_below:
            return False
    return True


def judge_cascade(skus: tuple[str, ...], fps: list[Fingerprint], index: Listings, th: Thresholds,
                  catalogue: Catalogue, complete: Callable[[], list[Fingerprint]]
                  ) -> tuple[list[CheckResult], bool]:
    """:func:`judge_items` with the embedding left out where :func:`cascade_decides` allows; and whether
    it was left out (the order decided early).

    ``fps``: the photos' fingerprints, without embeddings when the cascade is on;
    ``complete()`` returns them with their embeddings (called only when needed).
    """
    if not cascade_possible(th):
        return judge_items(skus, PhotoScoring(complete(), index, th), catalogue), False
    cheap = PhotoScoring(fps, index, th.without_embedding())
    results = judge_items(skus, cheap, catalogue)
    if cascade_decides(results, th):
        return results, True
    full = PhotoScoring(complete(), index, th)
    full.inliers = cheap.inliers  # keypoint verifications do not depend on the embedding
    return judge_items(skus, full, catalogue), False


__all__ = ["CASCADE_CHECKS", "PhotoScoring", "cascade_decides", "cascade_possible", "embedding_optional",
           "judge_cascade", "judge_items"]

"""The one versioned file every number that can change a status comes from.

``packcheck/data/thresholds.toml`` ships with the package and is written by the
calibration tool (``packcheck calibrate``); ``--thresholds FILE`` replaces it.
Code that reaches a verdict takes a :class:`Thresholds` (keyword-only, no
defaults) and has no limits of its own. Each number is either *fitted* by
calibration (:data:`FITTED`) or *set by hand* with a reason (:data:`HAND_SET`);
the calibration tool writes which, as a comment on each line. The file records
the pipeline version and the commit it was fitted at, so a calibration older
than the fingerprints it judges can be seen (:meth:`Thresholds.stale`). An
unknown ``schema_version`` or a missing key is a
:class:`~packcheck.errors.ThresholdsError` naming the key.
"""
from __future__ import annotations

import stat
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import numpy as np

from ..errors import ThresholdsError

SCHEMA_VERSION = 3
DEFAULT_PATH = Path(__file__).resolve().parents[1] / "data" / "thresholds.toml"
#: Signals the item check can fuse, in the order reports list them (and ``--signals`` names them).
SIGNALS = ("embedding", "keypoints", "colour", "hash")
#: The fused features, each with a weight in ``[fusion]``: the standardised appearance
#: signals, ``keypoints`` (log1p inliers) and ``geometry`` (dominance over other SKUs'
#: inliers); both keypoint features belong to the ``keypoints`` signal.
FEATURES = ("embedding", "colour", "hash", "keypoints", "geometry")
#: The signals standardised against a cohort (keypoints enter the fusion as counts).
STANDARDISED = ("embedding", "colour", "hash")
_SIGNAL_FEATURES = {"embedding": ("embedding",), "keypoints": ("keypoints", "geometry"), "colour": ("colour",),
                    "hash": ("hash",)}
#: The statuses a band gives, by :meth:`Band.levels`.
LEVELS = ("PASS", "REVIEW", "FLAG")

#: The numbers 'packcheck calibrate' fits to labelled photos (the rest are set by hand).
FITTED = tuple(f"{check}.{key}" for check in ("item", "variant")
               for key in ("flag_below", "review_below", "genuine_quantiles")) + tuple(
    f"normalisation.{prefix}{s}_{stat}" for prefix in ("", "reference_") for s in STANDARDISED
    for stat in ("mean", "std")) + tuple(f"fusion.{f}" for f in FEATURES) + (
    "fusion.intercept", "variant.colour_weight", "variant.lead_weight", "cascade.item_margin",
    "cascade.variant_margin", "cascade.item_genuine_quantiles", "cascade.variant_genuine_quantiles")
#: The numbers set by hand, and why each is what it is (calibration copies them from its base file).
HAND_SET = {
    "geometry.conclusive_inliers": "a homography this many distinct matches strong is no chance match (a random "
                                   "pairing fits one within 2% of the image in far less than one try in a million)",
    "geometry.conclusive_ratio": "and it must have this many times the inliers of any other SKU, so a logo two "
                                 "products share decides nothing",
    "geometry.conclusive_bonus": "log-odds added to a conclusive row: more than the appearance signals ever "
                                 "contribute, so conclusive geometry decides",
    "normalisation.min_cohort": "fewer listing images are no cohort: the fixed means and spreads are used",
    "normalisation.max_cohort": "a photo is standardised against at most this many listing images (evenly spaced)",
    "normalisation.large_catalogue_cohort": "the cohort of a large catalogue: these rows stay in memory, 24 KB each",
    "normalisation.min_std_share": "a cohort's spread is at least this share of the fixed one, so near-identical "
                                   "listing images do not blow small differences up",
    "references.max_per_sku": "enrolled reference photos kept per SKU: a few real photos close most of the gap "
                              "to the listing; more add start-up and matching cost",
    "references.max_similarity": "a photo whose embedding is this close to an enrolled reference of the SKU "
                                 "adds nothing new and is not enrolled (keeps the references diverse)",
    "references.enrol_margin": "a station PASS is enrolled automatically only this far (log-odds) above the "
                               "item check's REVIEW limit, and only when a listing image decided it",
    "search.shortlist": "rows each ranking (fused appearance, each signal, keypoint votes) adds to the rows "
                        "verified with keypoints, besides the ordered SKU's and its siblings'",
    "search.verify_all_rows": "a catalogue of at most this many rows is verified whole (one descriptor product "
                              "per row: ~0.5 ms each)",
    "search.vote_max_rows": "up to this many rows the keypoint vote index is built (~80 KB per row in memory)",
    "search.large_catalogue_rows": "from this many listing images the index keeps coarse vectors and scores "
                                   "candidates only (the exact path holds 28 KB per image)",
    "quality.min_brightness": "a photo darker than this (mean luma) cannot show colour: retake photo",
    "quality.min_sharpness": "Laplacian variance (at 256 px) below this is too blurred to judge: retake photo",
    "quality.min_side_px": "a photo narrower than this after decoding cannot show a product: retake photo",
    "count.review_short_by": "with an empty-bench photo, this many pieces short asks a person whatever the packed "
                             "record says (touching items count as one: lay the pieces apart for the photo)",
    "count.flag_short_by": "this many pieces short, with nothing recorded as packed, is a FLAG (without an "
                           "empty-bench photo the count is less sure: a REVIEW)",
    "weight.tolerance_g": "the scale's resolution, tape and a packing slip: a difference within this many grams "
                          "(plus the share below) is nobody's concern",
    "weight.tolerance_share": "items of one SKU differ by a few percent (fill, folding, labels): this share of the "
                              "expected weight is allowed on top of tolerance_g",
    "weight.flag_factor": "a difference beyond this many tolerances is a FLAG; between one and this many, a REVIEW",
    "locate.min_item_fraction": "a component smaller than this share of the frame is noise, not an item",
    "locate.min_product_fraction": "a located region smaller than this share of the frame is no product found",
    "locate.empty_max_edge_density": "nothing stands out and fewer edge pixels than this: an empty bench "
                                     "(retake photo); more: a busy scene",
    "locate.max_reference_change": "an empty-station photo that leaves more than this share changed does not "
                                   "fit the photo (camera moved) and is ignored",
    "locate.hand_skin_share": "an edge-touching component more skin-coloured than this is a hand, not an item",
    "locate.held_skin_share": "above this skin share a component is a product held in a hand: its skin is dropped",
    "locate.max_region_fraction": "a foreground filling more of its search region leaves no surface to learn from",
    "locate.min_inner_fraction": "the search repeats inside a found region (a product in a box) from this share "
                                 "of the frame up",
    "locate.fallback_crop_fraction": "no product found: the centre square of this share of the short side "
                                     "stands in for it",
    "duplicates.candidate_max_distance": "re-encoded, resized and 10%-cropped copies measured at most 30 of 128 "
                                         "bits; 40 leaves room (candidates are then verified by geometry)",
    "duplicates.max_candidates": "the nearest few by hash are verified by geometry (about 10 ms each)",
    "duplicates.min_inliers": "a homography from fewer RANSAC matches is chance on a textured bench",
    "duplicates.tile_min_correlation": "a re-encoded, resized or screen-shown tile keeps its pattern (glare "
                                       "and gamma shift and scale it); a moved product's tile does not",
    "duplicates.plain_max_gradient": "a screen's white, glare and moire included, stays under it at 400 px; "
                                     "wood, mats, boxes and clutter rise above it",
    "duplicates.reuse_min_coverage": "a reused photo's inliers reach most of the frame's 4x4 cells (bench and "
                                     "product); a product on a featureless bench cannot be told from a crop and "
                                     "is not judged",
    "duplicates.reuse_min_agreement": "a copy agrees in nearly every tile; two shots of one bench disagree "
                                      "where the product, hands or clutter moved",
    "duplicates.reuse_min_overlap": "a crop of up to 10% a side keeps 81% of the frame; a new shot of a product "
                                    "moved further on a plain bench keeps less",
    "duplicates.reuse_max_chroma": "JPEG and resizing move a tile's Lab a+b by a few units; another colour "
                                   "(a sibling variant on the same bench) by tens",
    "duplicates.listing_min_agreement": "the listing's print warped onto the photo agrees in at least this share "
                                        "of tiles: the homography is right (a real print agrees too; the "
                                        "background and the frame's edge decide)",
    "duplicates.listing_min_background": "too little of the listing's background in view cannot tell a screen "
                                         "from the printed product itself: not judged",
    "duplicates.listing_min_background_agreement": "a screen shows the listing's background as the listing "
                                                   "does; a bench around a real product does not",
    "duplicates.listing_background_levels": "a screen's white is at most this darker than the product's "
                                            "brightest tone (glare only brightens it); a dark mat or bench is "
                                            "darker",
    "duplicates.listing_min_visible": "a copy cropped by up to 10% a side keeps 81% of the listing's frame; a real "
                                      "product photographed larger than in the listing puts its frame far "
                                      "outside the photo",
    "duplicates.listing_min_frame_edge": "where the listing's frame ends inside the photo a screen has its "
                                         "bezel (a step in brightness); a real product's surface continues",
}


@dataclass(frozen=True)
class LocateLimits:
    """The numbers that decide what the localiser finds in a photo (see :mod:`packcheck.core.locate`).

    They change a status: an item too small to count changes the count check, "no
    product found" asks for a new photo. Listing images are masked with fixed
    pipeline settings instead (their fingerprints are cached by content).
    """

    min_item_fraction: float
    min_product_fraction: float
    empty_max_edge_density: float
    max_reference_change: float
    hand_skin_share: float
    held_skin_share: float
    max_region_fraction: float
    min_inner_fraction: float
    fallback_crop_fraction: float


@dataclass(frozen=True)
class WeightLimits:
    """How far the packed weight may be from what the order's pieces weigh (``[weight]``).

    The allowed difference is ``tolerance_g + tolerance_share * expected``; beyond it
    is REVIEW, beyond ``flag_factor`` times it FLAG (:func:`packcheck.core.checks.weight_check`).
    """

    tolerance_g: float
    tolerance_share: float
    flag_factor: float

    def allowed(self, expected_g: float) -> tuple[float, float]:
        """(review beyond, flag beyond) in grams, for an order whose pieces weigh ``expected_g``.

        >>> WeightLimits(10.0, 0.03, 2.0).allowed(290.0)
        (18.7, 37.4)
        """
        review = round(self.tolerance_g + self.tolerance_share * expected_g, 1)
        return review, round(self.flag_factor * review, 1)


@dataclass(frozen=True)
class DuplicateLimits:
    """What makes a photo a copy of a listing image or of another order's photo
    (see :mod:`packcheck.core.duplicates`; measured by ``packcheck bench duplicates``)."""

    candidate_max_distance: int  # pHash + dHash bits (of 128) within which another photo is compared at all
    max_candidates: int  # nearest other photos compared per photo
    min_inliers: int  # RANSAC matches one homography must explain
    tile_min_correlation: float  # a textured tile agrees when its normalised correlation is at least this
    plain_max_gradient: float  # a pixel whose local gradient (0..255) is at most this is plain
    reuse_min_coverage: float  # share of the keypoint grid cells the homography's inliers reach
    reuse_min_agreement: float  # share of tiles that agree after warping, for the same photo
    reuse_min_overlap: float  # share of the photo's frame the other photo covers once warped
    reuse_max_chroma: float  # a tile whose colour (Lab a + b, 8-bit scale) moved more than this disagrees
    listing_min_agreement: float  # share of tiles that agree after warping the listing onto the photo
    listing_min_background: float  # share of the photo the listing's background must cover to be judged
    listing_min_background_agreement: float  # share of that background the photo shows as the listing does
    listing_background_levels: float  # ... plain and at most this many grey levels darker than the listing's, toned
    listing_min_visible: float  # share of the listing's frame that must lie inside the photo
    listing_min_frame_edge: float  # contrast (0..255) where the listing's frame ends inside the photo


@dataclass(frozen=True)
class Fusion:
    """The logistic fusion: ``intercept + sum(weights[f] * feature f)`` is a row's log-odds.

    ``weights`` is keyed by :data:`FEATURES`; 0 turns a feature off.
    """

    weights: Mapping[str, float]
    intercept: float


@dataclass(frozen=True)
class Geometry:
    """When keypoint geometry decides (see :func:`packcheck.core.scoring.geometry`)."""

    conclusive_inliers: float
    conclusive_ratio: float
    conclusive_bonus: float


@dataclass(frozen=True)
class Cascade:
    """When a photo is judged without the embedding (see :func:`packcheck.core.judge.cascade_decides`).

    Judged on the cheap signals and keypoints alone, every item and variant check
    must clear its REVIEW limit by its margin (log-odds): ``packcheck calibrate``
    fits each margin as the smallest that changes no calibration pair's status.
    None (no ``[cascade]`` section): the embedding always runs.
    """

    item_margin: float | None = None
    variant_margin: float | None = None
    #: The checks' genuine scores *without the embedding* at :data:`GENUINE_P`: a check decided early
    #: is ranked against these (:func:`packcheck.core.checks.match_score`), like against like.
    item_genuine_quantiles: tuple[float, ...] = ()
    variant_genuine_quantiles: tuple[float, ...] = ()

    @property
    def on(self) -> bool:
        return self.item_margin is not None and self.variant_margin is not None

    def band(self, full: "Band", check: str) -> "Band":
        """``full``'s limits with the genuine quantiles of ``check`` ("item" or "variant") without the embedding
        (``full``'s own where the file has none)."""
        return Band(full.flag_below, full.review_below,
                    getattr(self, f"{check}_genuine_quantiles") or full.genuine_quantiles)


@dataclass(frozen=True)
class Search:
    """Which rows are verified with keypoints, and when the catalogue is searched in two passes."""

    shortlist: int
    verify_all_rows: int
    vote_max_rows: int
    large_catalogue_rows: int


@dataclass(frozen=True)
class ReferenceRules:
    """How confirmed photos become references (see :mod:`packcheck.apps.enrolment`)."""

    max_per_sku: int
    max_similarity: float
    enrol_margin: float


#: The genuine-score probabilities a band's ``genuine_quantiles`` are given at.
GENUINE_P = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8,
             0.9, 0.95, 0.99)


@dataclass(frozen=True)
class Band:
    """A score compared against two limits: below ``flag_below`` is FLAG, below ``review_below`` REVIEW.

    ``genuine_quantiles`` are the check's scores on genuine pairs at the
    probabilities :data:`GENUINE_P` (calibration's held-out scores): with them
    :meth:`tail` says how rare a score is among genuine pairs, which puts checks
    measured in different units on one scale for the verdict's ranking number
    (:func:`packcheck.core.checks.match_score`). They never decide a status.
    """

    flag_below: float
    review_below: float
    genuine_quantiles: tuple[float, ...] = ()

    def tail(self, value: float) -> float:
        """P(a genuine pair scores at most ``value``): interpolated in log-probability between the
        quantiles, extended below the lowest along the slope of the two lowest (an exponential tail).

        >>> b = Band(-1.0, 0.0, tuple(float(i) for i in range(len(GENUINE_P))))
        >>> round(b.tail(3.0), 4), round(b.tail(3.5), 4) > 0.01, b.tail(-50.0) < 1e-6
        (0.01, True, True)
        """
        q = self.genuine_quantiles
        if len(q) != len(GENUINE_P):
            return float("nan")
        lp = np.log(GENUINE_P)
        if value <= q[0]:
            slope = (lp[1] - lp[0]) / max(q[1] - q[0], 1e-9)
            return float(np.exp(max(lp[0] + slope * (value - q[0]), -700.0)))
        if value >= q[-1]:
            return GENUINE_P[-1]
        return float(np.exp(np.interp(value, q, lp)))

    def levels(self, values) -> np.ndarray:
        """0 (PASS), 1 (REVIEW) or 2 (FLAG) for each value: the one rule from a score to a status."""
        values = np.asarray(values)
        return np.where(values < self.flag_below, 2, np.where(values < self.review_below, 1, 0)).astype(np.int8)

    def status(self, value: float) -> str:
        """"PASS", "REVIEW" or "FLAG" for one value (see :meth:`levels`)."""
        return LEVELS[int(self.levels(value))]


@dataclass(frozen=True)
class Thresholds:
    """Every limit and setting the verdict uses, read from one TOML file."""

    version: str
    schema_version: int
    pipeline_version: int  # the fingerprint pipeline the fitted numbers were fitted on
    commit: str  # the packcheck commit calibration ran at ("unknown" outside a git checkout)
    fusion: Fusion
    geometry: Geometry
    search: Search
    references: ReferenceRules
    normalisation: Mapping[str, float]  # fixed mean/std per signal and kind, cohort sizes, spread floor
    item: Band
    variant: Band
    variant_colour_weight: float  # the variant score: colour_weight * colour position +
    variant_lead_weight: float  # lead_weight * fused lead over the best sibling
    min_brightness: float
    min_sharpness: float
    min_side_px: int  # a photo narrower than this (after decoding) cannot show a product
    count_review_short_by: int
    count_flag_short_by: int
    weight: WeightLimits | None  # None: the file has no [weight] section and packed weights are not judged
    locate: LocateLimits
    duplicates: DuplicateLimits
    provenance: Mapping[str, object]
    source: str
    cascade: Cascade = Cascade()

    def stale(self, running_pipeline: int) -> str | None:
        """What to tell a user whose fingerprints are newer than this calibration (None: they match)."""
        if self.pipeline_version == running_pipeline:
            return None
        return (f"thresholds {self.version} were fitted at pipeline version {self.pipeline_version} "
                f"(commit {self.commit[:12]}); this packcheck computes version {running_pipeline}: "
                "the limits may not fit its scores; recalibrate with 'packcheck calibrate'")

    def signal_on(self, signal: str) -> bool:
        """Whether any feature of ``signal`` (one of :data:`SIGNALS`) has a weight in the fusion."""
        return any(self.fusion.weights.get(f, 0.0) != 0.0 for f in _SIGNAL_FEATURES[signal])

    @property
    def enabled_signals(self) -> tuple[str, ...]:
        return tuple(s for s in SIGNALS if self.signal_on(s))

    @property
    def large_catalogue_rows(self) -> int:
        return self.search.large_catalogue_rows

    def with_signals(self, signals: tuple[str, ...] | list[str]) -> "Thresholds":
        """A copy with only ``signals`` fused (the others' features weighted 0), e.g. for ablations.

        A kept signal keeps its fitted weights; one the file has turned off gets weight 1
        (so an ablation of the hash signal measures something).
        """
        unknown = set(signals) - set(SIGNALS)
        if unknown:
            raise ThresholdsError(f"unknown signal(s) {sorted(unknown)}; choose from {', '.join(SIGNALS)}")
        if not signals:
            raise ThresholdsError("at least one signal must stay on")
        weights = {}
        for s in SIGNALS:
            for f in _SIGNAL_FEATURES[s]:
                w = self.fusion.weights.get(f, 0.0)
                weights[f] = (w if self.signal_on(s) else 1.0) if s in signals else 0.0
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["fusion"] = Fusion(MappingProxyType(weights), self.fusion.intercept)
        values["version"] = f"{self.version}+signals={','.join(signals)}"
        return Thresholds(**values)

    def without_embedding(self) -> "Thresholds":
        """A copy that fuses every other enabled signal with its own weights: the cascade's first pass."""
        return self.with_signals([s for s in self.enabled_signals if s != "embedding"])


def _get(doc: dict, dotted: str, kind, source: str):
    node = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ThresholdsError(f"{source}: missing key '{dotted}'")
        node = node[part]
    try:
        if kind in (float, int) and isinstance(node, bool):
            raise TypeError
        value = kind(node)
    except (TypeError, ValueError, OverflowError):
        raise ThresholdsError(f"{source}: '{dotted}' must be a {kind.__name__}, got {node!r}") from None
    if kind is float and not np.isfinite(value):
        # TOML allows nan and inf; every comparison with nan is False, so it would pass everything.
        raise ThresholdsError(f"{source}: '{dotted}' is {node!r}; it must be a finite number: recalibrate or "
                              "correct the file")
    return value


def _weight_limits(doc: dict, source: str) -> WeightLimits | None:
    """The ``[weight]`` section; a file without one (older, or written by a calibration tool that does
    not copy it yet) judges no weights, and says so on every order that has one."""
    if "weight" not in doc:
        return None
    limits = WeightLimits(**{f.name: _get(doc, f"weight.{f.name}", float, source) for f in fields(WeightLimits)})
    if limits.tolerance_g < 0 or limits.tolerance_share < 0 or limits.flag_factor < 1:
        raise ThresholdsError(f"{source}: [weight] needs tolerance_g >= 0, tolerance_share >= 0 and flag_factor >= 1")
    return limits


def _cascade(doc: dict, source: str) -> Cascade:
    """The ``[cascade]`` section; a file without one runs the embedding on every photo."""
    if "cascade" not in doc:
        return Cascade()
    margins = {k: _get(doc, f"cascade.{k}", float, source) for k in ("item_margin", "variant_margin")}
    for k, v in margins.items():
        if v < 0:
            raise ThresholdsError(f"{source}: 'cascade.{k}' must be >= 0 (a margin above the REVIEW limit)")
    return Cascade(**margins, **{k: _quantiles(doc, f"cascade.{k}", source)
                                 for k in ("item_genuine_quantiles", "variant_genuine_quantiles")
                                 if k in doc["cascade"]})


def _quantiles(doc: dict, dotted: str, source: str) -> tuple[float, ...]:
    node = doc
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, list) or len(node) != len(GENUINE_P) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in node):
        raise ThresholdsError(f"{source}: '{dotted}' must be a list of {len(GENUINE_P)} numbers "
                              f"(the genuine scores at probabilities {', '.join(map(str, GENUINE_P))})")
    values = tuple(float(v) for v in node)
    if any(b < a for a, b in zip(values, values[1:])):
        raise ThresholdsError(f"{source}: '{dotted}' must not decrease")
    return values


def load_thresholds(path: str | Path | None = None) -> Thresholds:
    """Read a thresholds TOML (the shipped one when ``path`` is None).

    Examples
    --------
    >>> t = load_thresholds()
    >>> t.schema_version
    3
    """
    p = Path(path) if path is not None else DEFAULT_PATH
    source = str(p)
    try:
        if not stat.S_ISREG(p.stat().st_mode):  # a pipe would wait for a writer forever
            raise ThresholdsError(f"thresholds file {p} is not a regular file (a folder, pipe or device?)")
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ThresholdsError(f"thresholds file {p} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ThresholdsError(f"thresholds file {p} cannot be read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ThresholdsError(f"thresholds file {p} is not valid TOML: {e}") from None
    schema = _get(doc, "schema_version", int, source)
    if schema in (1, 2):
        raise ThresholdsError(
            f"{source}: schema_version {schema} is no longer read: its limits were fitted to a weighted mean of "
            "the signals, and this packcheck fuses them as calibrated log-odds ([fusion], [geometry]); "
            "recalibrate with 'packcheck calibrate' on your labelled photos")
    if schema != SCHEMA_VERSION:
        raise ThresholdsError(
            f"{source}: schema_version {schema} is not supported (this packcheck reads {SCHEMA_VERSION}); "
            "recalibrate with 'packcheck calibrate' or upgrade packcheck"
        )
    weights = {f: _get(doc, f"fusion.{f}", float, source) for f in FEATURES}
    if not any(w != 0 for w in weights.values()):
        raise ThresholdsError(f"{source}: every fusion weight is 0; at least one feature must be on")
    stat_keys = [f"{prefix}{s}_{stat}" for prefix in ("", "reference_") for s in STANDARDISED
                 for stat in ("mean", "std")]
    norm_keys = ["min_cohort", "max_cohort", "large_catalogue_cohort", "min_std_share"] + stat_keys
    normalisation = {k: _get(doc, f"normalisation.{k}", float, source) for k in norm_keys}
    for k in stat_keys:
        if k.endswith("_std") and normalisation[k] <= 0:
            raise ThresholdsError(f"{source}: 'normalisation.{k}' must be positive")
    item, variant = (Band(_get(doc, f"{name}.flag_below", float, source),
                          _get(doc, f"{name}.review_below", float, source),
                          _quantiles(doc, f"{name}.genuine_quantiles", source))
                     for name in ("item", "variant"))
    for name, band in (("item", item), ("variant", variant)):
        if band.review_below < band.flag_below:
            raise ThresholdsError(f"{source}: {name}.review_below must be >= {name}.flag_below")
    return Thresholds(
        version=_get(doc, "version", str, source),
        schema_version=schema,
        pipeline_version=_get(doc, "pipeline_version", int, source),
        commit=_get(doc, "commit", str, source),
        fusion=Fusion(MappingProxyType(weights), _get(doc, "fusion.intercept", float, source)),
        geometry=Geometry(*(_get(doc, f"geometry.{f.name}", float, source) for f in fields(Geometry))),
        search=Search(*(_get(doc, f"search.{f.name}", int, source) for f in fields(Search))),
        references=ReferenceRules(_get(doc, "references.max_per_sku", int, source),
                                  _get(doc, "references.max_similarity", float, source),
                                  _get(doc, "references.enrol_margin", float, source)),
        normalisation=MappingProxyType(normalisation),
        item=item,
        variant=variant,
        variant_colour_weight=_get(doc, "variant.colour_weight", float, source),
        variant_lead_weight=_get(doc, "variant.lead_weight", float, source),
        min_brightness=_get(doc, "quality.min_brightness", float, source),
        min_sharpness=_get(doc, "quality.min_sharpness", float, source),
        min_side_px=_get(doc, "quality.min_side_px", int, source),
        count_review_short_by=_get(doc, "count.review_short_by", int, source),
        count_flag_short_by=_get(doc, "count.flag_short_by", int, source),
        weight=_weight_limits(doc, source),
        locate=LocateLimits(**{f.name: _get(doc, f"locate.{f.name}", float, source) for f in fields(LocateLimits)}),
        duplicates=DuplicateLimits(**{f.name: _get(doc, f"duplicates.{f.name}", int if f.type == "int" else float,
                                                   source) for f in fields(DuplicateLimits)}),
        provenance=MappingProxyType(dict(doc.get("provenance", {}))),
        source=source,
        cascade=_cascade(doc, source),
    )

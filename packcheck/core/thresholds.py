"""The one versioned file every decision limit comes from.

``packcheck/data/thresholds.toml`` ships with the package and is written by the
calibration tool (``packcheck calibrate``); ``--thresholds FILE`` replaces it.
Code that reaches a verdict takes a :class:`Thresholds` and has no limits of its
own. An unknown ``schema_version`` or a missing key is a
:class:`~packcheck.errors.ThresholdsError` naming the key.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from ..errors import ThresholdsError

SCHEMA_VERSION = 1
DEFAULT_PATH = Path(__file__).resolve().parents[1] / "data" / "thresholds.toml"
#: Signals the item check can fuse, in the order reports list them.
SIGNALS = ("embedding", "keypoints", "colour", "hash")


@dataclass(frozen=True)
class Band:
    """A score compared against two limits: below ``flag_below`` is FLAG, below ``review_below`` REVIEW.

    ``genuine_median`` and ``genuine_spread`` describe the check's scores on genuine
    pairs (median, and the interquartile range / 1.349) in the calibration data;
    they put checks measured in different units on one scale for
    :func:`packcheck.core.checks.match_score`. They never decide a status.
    """

    flag_below: float
    review_below: float
    genuine_median: float = 0.0
    genuine_spread: float = 1.0

    def status(self, value: float) -> str:
        if value < self.flag_below:
            return "FLAG"
        if value < self.review_below:
            return "REVIEW"
        return "PASS"


@dataclass(frozen=True)
class Thresholds:
    """Every limit and setting the verdict uses, read from one TOML file."""

    version: str
    schema_version: int
    weights: Mapping[str, float]  # signal -> weight in the fused item score (0 = off)
    normalisation: Mapping[str, float]  # fixed mean/std per signal, cohort sizes
    shortlist: int  # catalogue images verified with keypoints beside the ordered SKU
    item: Band
    variant: Band
    min_brightness: float
    min_sharpness: float
    min_side_px: int  # a photo narrower than this (after decoding) cannot show a product
    count_review_short_by: int
    count_flag_short_by: int
    provenance: Mapping[str, object]
    source: str

    @property
    def enabled_signals(self) -> tuple[str, ...]:
        return tuple(s for s in SIGNALS if self.weights.get(s, 0.0) > 0)

    def with_signals(self, signals: tuple[str, ...] | list[str]) -> "Thresholds":
        """A copy with only ``signals`` fused (the others weighted 0), e.g. for ablations."""
        unknown = set(signals) - set(SIGNALS)
        if unknown:
            raise ThresholdsError(f"unknown signal(s) {sorted(unknown)}; choose from {', '.join(SIGNALS)}")
        if not signals:
            raise ThresholdsError("at least one signal must stay on")
        weights = {s: (self.weights.get(s, 0.0) or 1.0) if s in signals else 0.0 for s in SIGNALS}
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["weights"] = MappingProxyType(weights)
        values["version"] = f"{self.version}+signals={','.join(signals)}"
        return Thresholds(**values)


def _get(doc: dict, dotted: str, kind, source: str):
    node = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ThresholdsError(f"{source}: missing key '{dotted}'")
        node = node[part]
    try:
        if kind is float and isinstance(node, bool):
            raise TypeError
        return kind(node)
    except (TypeError, ValueError):
        raise ThresholdsError(f"{source}: '{dotted}' must be a {kind.__name__}, got {node!r}") from None


def load_thresholds(path: str | Path | None = None) -> Thresholds:
    """Read a thresholds TOML (the shipped one when ``path`` is None).

    Examples
    --------
    >>> t = load_thresholds()
    >>> t.schema_version
    1
    """
    p = Path(path) if path is not None else DEFAULT_PATH
    source = str(p)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ThresholdsError(f"thresholds file {p} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ThresholdsError(f"thresholds file {p} cannot be read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ThresholdsError(f"thresholds file {p} is not valid TOML: {e}") from None
    schema = _get(doc, "schema_version", int, source)
    if schema != SCHEMA_VERSION:
        raise ThresholdsError(
            f"{source}: schema_version {schema} is not supported (this packcheck reads {SCHEMA_VERSION}); "
            "recalibrate with 'packcheck calibrate' or upgrade packcheck"
        )
    weights = {s: _get(doc, f"signals.{s}", float, source) for s in SIGNALS}
    if not any(w > 0 for w in weights.values()):
        raise ThresholdsError(f"{source}: every signal weight is 0; at least one must be on")
    norm_keys = ["min_cohort", "max_cohort"] + [f"{s}_{stat}" for s in SIGNALS for stat in ("mean", "std")]
    normalisation = {k: _get(doc, f"normalisation.{k}", float, source) for k in norm_keys}
    for s in SIGNALS:
        if normalisation[f"{s}_std"] <= 0:
            raise ThresholdsError(f"{source}: 'normalisation.{s}_std' must be positive")
    item, variant = (Band(*(_get(doc, f"{name}.{key}", float, source)
                            for key in ("flag_below", "review_below", "genuine_median", "genuine_spread")))
                     for name in ("item", "variant"))
    for name, band in (("item", item), ("variant", variant)):
        if band.review_below < band.flag_below:
            raise ThresholdsError(f"{source}: {name}.review_below must be >= {name}.flag_below")
        if band.genuine_spread <= 0:
            raise ThresholdsError(f"{source}: {name}.genuine_spread must be positive")
    return Thresholds(
        version=_get(doc, "version", str, source),
        schema_version=schema,
        weights=MappingProxyType(weights),
        normalisation=MappingProxyType(normalisation),
        shortlist=_get(doc, "search.shortlist", int, source),
        item=item,
        variant=variant,
        min_brightness=_get(doc, "quality.min_brightness", float, source),
        min_sharpness=_get(doc, "quality.min_sharpness", float, source),
        min_side_px=_get(doc, "quality.min_side_px", int, source),
        count_review_short_by=_get(doc, "count.review_short_by", int, source),
        count_flag_short_by=_get(doc, "count.flag_short_by", int, source),
        provenance=MappingProxyType(dict(doc.get("provenance", {}))),
        source=source,
    )

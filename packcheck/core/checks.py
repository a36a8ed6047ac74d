"""The checks: item, variant, components, piece count and photo quality.

Each check turns measurements into one :class:`~packcheck.core.verdict.CheckResult`
holding its status, a reason code, a message in a packer's words, and the value
with the limits it was held against. Every limit comes from
:class:`~packcheck.core.thresholds.Thresholds`; none is written here.
"""
from __future__ import annotations

import numpy as np

from . import colour
from .fingerprint import Fingerprint
from .records import (
    Catalogue, ComponentDetails, CountDetails, ItemDetails, QualityDetails, SignalValues, VariantDetails,
)
from .scoring import Listings, PhotoSet, Scores, nearest_other
from .thresholds import Thresholds
from .verdict import CheckResult, Status


def _fmt(v: float) -> str:
    return f"{v:+.2f}"


def limits_text(band) -> str:
    """Both limits a score is held against, as a packer reads them."""
    if band.review_below > band.flag_below:
        return f"REVIEW below {_fmt(band.review_below)}, FLAG below {_fmt(band.flag_below)}"
    return f"FLAG below {_fmt(band.flag_below)}"


def _signal_values(values: dict[str, float], digits: int) -> SignalValues:
    """Per-signal numbers from per-feature ones (the keypoint signal's two features summed)."""
    out: dict[str, float] = {}
    for f, v in values.items():
        s = "keypoints" if f == "geometry" else f
        out[s] = out.get(s, 0.0) + v
    return SignalValues(**{s: round(v, digits) for s, v in out.items()})


def family(sku: str, catalogue: Catalogue) -> list[str]:
    """The ordered SKU and its sibling variants: one product."""
    return [sku] + catalogue.siblings(sku)


def item_check(sku: str, scores: Scores, index: Listings, catalogue: Catalogue, thresholds: Thresholds,
               *, order_skus: tuple[str, ...]) -> CheckResult:
    """Is the ordered *product* what the photo shows, and more so than any other product?

    The product is the ordered SKU or one of its sibling variants: which variant
    it is, is the variant check's question. The value is the product's best fused
    score (log-odds) plus its lead over the best row of any other product; a
    conclusive geometric match (``Scores.conclusive``) decides either way.
    """
    item = catalogue.items[sku]
    own_rows = [r for s in family(sku, catalogue) for r in index.rows_of(s)]
    own_best = int(own_rows[int(np.argmax(scores.fused[own_rows]))])
    own = float(scores.fused[own_best])
    exclude = set(order_skus) | set(catalogue.siblings(sku))
    nearest, nearest_val, nearest_row = nearest_other(scores.fused, index, exclude=exclude)
    lead = own - nearest_val if np.isfinite(nearest_val) else 0.0
    value = float(own + lead)
    band = thresholds.item
    status = Status(band.status(value))
    feats = scores.row(own_best)
    evidence = scores.evidence_row(own_best)
    looks_other = nearest is not None and nearest_val > own
    decided_by = None
    if looks_other:
        other_ev = scores.evidence_row(nearest_row)
        decided_by = max(other_ev, key=lambda s: other_ev[s] - evidence.get(s, 0.0))
    elif evidence:
        decided_by = (max if status is Status.PASS else min)(evidence, key=evidence.get)
    decided_by = "keypoints" if decided_by == "geometry" else decided_by
    conclusive = bool(scores.conclusive[nearest_row] if looks_other else scores.conclusive[own_best])
    how = "geometry (conclusive)" if conclusive else decided_by
    shown = index.owners[own_best]
    what = "reference photo" if index.references[own_best] else "listing"
    if status is Status.PASS:
        reason = None
        variant = "" if shown == sku else f" (as its variant {shown}; the variant check says which)"
        message = (f"{item.label} matches the {what}{variant} (item score {_fmt(value)}; "
                   f"{limits_text(band)}; decided by {how})")
    else:
        reason = "wrong_item"
        other = catalogue.items[nearest] if looks_other else None
        if looks_other:
            message = (f"looks like {nearest} {other.label}, not the ordered {sku} {item.label} "
                       f"(item score {_fmt(value)}; {limits_text(band)}; decided by {how})")
        else:
            message = (f"does not look like the listing of {sku} {item.label} "
                       f"(item score {_fmt(value)}; {limits_text(band)}; weakest signal: {decided_by})")
    # What the photo looks most like besides the ordered SKUs, a sibling included (reports show it).
    look, look_val, look_row = nearest_other(scores.fused, index, exclude=order_skus)
    near = (look, round(look_val, 4), index.paths[look_row]) if look is not None else (None,) * 3
    details = ItemDetails(round(own, 4), index.paths[own_best], _signal_values(feats, 3),
                          SignalValues(**{s: round(float(v[own_best]), 4) for s, v in scores.raw.items()}),
                          *near, decided_by=decided_by, evidence=_signal_values(evidence, 3),
                          matched_sku=shown, matched_reference=bool(index.references[own_best]),
                          conclusive=conclusive, nearest_product=nearest)
    return CheckResult("item", status, reason, message, value, band.flag_below, band.review_below, sku, details)


def match_score(results, thresholds: Thresholds) -> float:
    """The verdict's one number for ranking: log10 of the rarest judged item or variant score among genuine pairs.

    Each check's value is turned into its genuine tail probability (how often a
    genuine pair scores this low, :meth:`Band.tail`, from calibration's held-out
    scores), so two checks measured in different units are compared fairly, and
    a pair is as suspicious as its most suspicious check. A check that was not
    judged (a variant check of a photo that does not show the ordered product)
    does not count; the item check counts even when the photo must be retaken
    (it is the best there is to rank by). Infinite when neither was computed.
    The status comes from each check's limits, not from this number.
    """
    bands = {"item": thresholds.item, "variant": thresholds.variant}
    tails = [bands[r.check].tail(r.value) for r in results
             if r.check in bands and r.value is not None and (r.judged or r.check == "item")]
    tails = [t for t in tails if np.isfinite(t)]
    return float(np.log10(max(min(tails), 1e-300))) if tails else float("inf")


def colour_distances(photo: PhotoSet, index: Listings, rows: list[int]) -> np.ndarray:
    """Hellinger distance between the photo's best region and each row's colour."""
    return colour.hellinger_distance(photo.hists, index.sqrt_hists[rows])


def _found_lab(photo: PhotoSet, index: Listings, row: int) -> np.ndarray:
    """The dominant colour of the photo region closest in colour to a row."""
    bc = colour.sqrt_hist(photo.hists) @ index.sqrt_hists[row]
    return photo.labs[int(np.argmax(bc))]


def variant_check(sku: str, photo: PhotoSet, scores: Scores, index: Listings, catalogue: Catalogue,
                  thresholds: Thresholds, *, order_skus: tuple[str, ...]) -> CheckResult | None:
    """Is the photographed variant the ordered one, rather than a sibling?

    Two measures per sibling, combined with weights fitted by calibration:

    * the **colour position**: the photo's colour placed on the line between the
      two listings, ``(d_sibling - d_ordered) / d(ordered listing, sibling listing)``,
      +1 exactly the ordered colour, -1 exactly the sibling's, 0 halfway; dividing
      by the siblings' own difference makes it mean the same for red-vs-green
      trousers and for two cartons that differ in one stripe;
    * the **lead**: the ordered SKU's best fused score minus the sibling's
      (log-odds; a flavour's print, a model's shape).

    ``value`` is the lowest over the siblings. None when the SKU has no siblings.
    """
    item = catalogue.items[sku]
    siblings = [s for s in catalogue.siblings(sku) if s not in order_skus and index.rows_of(s)]
    if not siblings:
        return None
    own_rows = index.rows_of(sku)
    d_own_all = colour_distances(photo, index, own_rows)
    own_row = own_rows[int(np.argmin(d_own_all))]
    d_own = float(d_own_all.min())
    own_fused = float(np.max(scores.fused[own_rows]))
    cw, lw = thresholds.variant_colour_weight, thresholds.variant_lead_weight
    best = None
    for s in siblings:
        rows = index.rows_of(s)
        d = colour_distances(photo, index, rows)
        bc = index.sqrt_hists[own_rows] @ index.sqrt_hists[rows].T
        separation = float(colour.hellinger(bc.max()))
        position = (float(d.min()) - d_own) / max(separation, 1e-3)
        lead = own_fused - float(np.max(scores.fused[rows]))
        value = cw * position + lw * lead
        if best is None or value < best[1]:
            best = (s, value, position, lead, float(d.min()), rows[int(np.argmin(d))])
    best_sib, value, position, lead, d_sib, sib_row = best
    band = thresholds.variant
    status = Status(band.status(value))
    sib = catalogue.items[best_sib]
    found = _found_lab(photo, index, sib_row if position < 0 else own_row)
    details = VariantDetails(
        distance_ordered=round(d_own, 4), distance_sibling=round(d_sib, 4), nearest_sibling=best_sib,
        ordered_lab=tuple(round(float(v), 1) for v in index.labs[own_row]),
        sibling_lab=tuple(round(float(v), 1) for v in index.labs[sib_row]),
        found_lab=tuple(round(float(v), 1) for v in found),
        colour_position=round(position, 3), lead=round(lead, 3),
    )
    scores_text = (f"variant score {_fmt(value)}: colour position {_fmt(position)}, lead {_fmt(lead)}; "
                   f"{limits_text(band)}")
    if status is Status.PASS:
        message = f"{item.variant or sku} rather than {sib.variant or best_sib} ({scores_text})"
        reason = None
    else:
        reason = "wrong_variant"
        message = f"{sib.variant or best_sib} found, {item.variant or sku} ordered ({best_sib} instead of {sku}; {scores_text})"
    return CheckResult("variant", status, reason, message, value, band.flag_below, band.review_below, sku, details)


def expected_components(catalogue: Catalogue, lines) -> dict[str, int]:
    """Bill of materials x quantity, summed over the order's line items."""
    out: dict[str, int] = {}
    for line in lines:
        for comp, per_unit in catalogue.bill_of_materials(line.sku):
            out[comp] = out.get(comp, 0) + per_unit * line.qty
    return out


def component_check(expected: dict[str, int], packed: dict[str, int] | None) -> CheckResult:
    """Expected components against what the packer scanned or declared."""
    exp_text = ", ".join(f"{c} x{n}" for c, n in expected.items())
    if packed is None:
        return CheckResult("components", Status.PASS, None,
                           f"packed components not recorded (expected: {exp_text})",
                           details=ComponentDetails(exp_text, "not recorded"))
    missing = [(c, n - packed.get(c, 0), n) for c, n in expected.items() if packed.get(c, 0) < n]
    extra = [(c, packed[c], expected.get(c, 0)) for c in packed if packed[c] > expected.get(c, 0)]
    pk_text = ", ".join(f"{c} x{n}" for c, n in packed.items()) or "nothing"
    details = ComponentDetails(exp_text, pk_text, missing="; ".join(f"{c} {m} of {n}" for c, m, n in missing),
                               extra="; ".join(f"{c} {p - e}" for c, p, e in extra))
    if missing:
        msg = "; ".join(f"{c} missing ({m} of {n})" for c, m, n in missing)
        if extra:
            msg += "; extra: " + ", ".join(f"{c} ({p} packed, {e} expected)" for c, p, e in extra)
        return CheckResult("components", Status.FLAG, "missing_component", msg, details=details)
    if extra:
        msg = "extra: " + ", ".join(f"{c} ({p} packed, {e} expected)" for c, p, e in extra)
        return CheckResult("components", Status.REVIEW, "extra_component", msg, details=details)
    return CheckResult("components", Status.PASS, None, f"all components packed ({exp_text})", details=details)


def quality_check(fps: list[Fingerprint], thresholds: Thresholds) -> CheckResult:
    """Too dark, blurred, or nothing on the bench: ask for a new photo instead of judging this one."""
    problems = []
    for n, f in enumerate(fps, 1):
        tag = f"photo {n}: " if len(fps) > 1 else ""
        q = f.quality
        if min(f.work_size) < thresholds.min_side_px:
            problems.append(f"{tag}too small to show a product ({f.work_size[0]} x {f.work_size[1]} px)")
        elif q.brightness < thresholds.min_brightness:
            problems.append(f"{tag}too dark (brightness {q.brightness:.0f} < {thresholds.min_brightness:.0f})")
        elif q.sharpness < thresholds.min_sharpness:
            problems.append(f"{tag}blurred (sharpness {q.sharpness:.0f} < {thresholds.min_sharpness:.0f})")
        elif not f.location.found and f.location.method in ("empty", "reference"):
            problems.append(f"{tag}no product found on the bench")
    details = QualityDetails(brightness=tuple(round(f.quality.brightness, 1) for f in fps),
                             sharpness=tuple(round(f.quality.sharpness, 1) for f in fps))
    if problems and len(problems) == len(fps):
        return CheckResult("quality", Status.REVIEW, "retake_photo", "retake photo: " + "; ".join(problems),
                           details=details)
    return CheckResult("quality", Status.PASS, None, "photo quality ok" + (
        f" ({'; '.join(problems)}; another photo was usable)" if problems else ""), details=details)


def count_check(fps: list[Fingerprint], expected_pieces: int, thresholds: Thresholds, *,
                packed_recorded: bool) -> CheckResult | None:
    """Separate items on the bench against the pieces expected, where an empty-station photo makes it reliable.

    Touching items merge into one, so the count is a lower bound: it only ever
    raises a concern when it is short by the thresholds' margins, and only when no
    packed record exists (a scanned record is the better evidence; the count is
    then reported beside it).
    """
    counted = [f.location.n_items for f in fps if f.location.method == "reference"]
    if not counted:
        return None
    seen = max(counted)
    short = expected_pieces - seen
    details = CountDetails(items_seen=seen, pieces_expected=expected_pieces)
    text = f"{seen} separate item(s) on the bench, {expected_pieces} piece(s) expected"
    if packed_recorded or short < thresholds.count_review_short_by:
        note = " (touching items count as one; the packed record decides)" if short > 0 else ""
        return CheckResult("count", Status.PASS, None, text + note, float(seen), details=details)
    status = Status.FLAG if short >= thresholds.count_flag_short_by else Status.REVIEW
    return CheckResult("count", status, "count_short", text + " and nothing recorded as packed", float(seen),
                       details=details)

"""The checks: item, variant, components, piece count, packed weight and photo quality.

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
    WeightDetails,
)
from .scoring import Listings, PhotoSet, Scores, nearest_other
from .thresholds import Thresholds, WeightLimits
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


def match_score(results, thresholds: Thresholds, *, without_embedding: bool = False) -> float:
    """The verdict's one number for ranking: log10 of the rarest judged item or variant score among genuine pairs.

    Each check's value is turned into its genuine tail probability (how often a
    genuine pair scores this low, :meth:`Band.tail`, from calibration's held-out
    scores), so two checks measured in different units are compared fairly, and
    a pair is as suspicious as its most suspicious check. A check that was not
    judged (a variant check of a photo that does not show the ordered product)
    does not count; the item check counts even when the photo must be retaken
    (it is the best there is to rank by). Infinite when neither was computed.
    The status comes from each check's limits, not from this number.
    ``without_embedding``: the checks were judged without it (the cascade decided
    early); their values are then mapped through the genuine scores without it
    (``[cascade]``'s quantiles), so the number ranks like the full pipeline's.
    """
    bands = {"item": thresholds.item, "variant": thresholds.variant}
    if without_embedding:
        bands = {c: thresholds.cascade.band(b, c) for c, b in bands.items()}
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

    Both measures use the listing images only, the rows the weights were fitted
    on: a reference photo of a sibling taken on the same shelf or bench may show
    the ordered product too (references help the item check, which compares
    products, not siblings).
    """
    item = catalogue.items[sku]
    siblings = [s for s in catalogue.siblings(sku) if s not in order_skus and index.rows_of(s)]
    if not siblings:
        return None

    def listing_rows(owner: str) -> list[int]:
        rows = index.rows_of(owner)
        return [r for r in rows if not index.references[r]] or rows

    own_rows = listing_rows(sku)
    d_own_all = colour_distances(photo, index, own_rows)
    own_row = own_rows[int(np.argmin(d_own_all))]
    d_own = float(d_own_all.min())
    own_fused = float(np.max(scores.fused[own_rows]))
    cw, lw = thresholds.variant_colour_weight, thresholds.variant_lead_weight
    best = None
    for s in siblings:
        rows = listing_rows(s)
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
        ordered_lab=colour.cie_lab(index.labs[own_row]),
        sibling_lab=colour.cie_lab(index.labs[sib_row]),
        found_lab=colour.cie_lab(found),
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
    """Expected components against what the packer scanned or declared.

    With nothing recorded there is nothing to compare: the check is not judged
    (``judged=False``) and says "not recorded"; the photo's piece count
    (:func:`count_check`) and the packed weight (:func:`weight_check`) still are.
    """
    exp_text = ", ".join(f"{c} x{n}" for c, n in expected.items())
    if packed is None:
        return CheckResult("components", Status.PASS, None, f"packed components not recorded (expected: {exp_text})",
                           details=ComponentDetails(exp_text, "not recorded"), judged=False)
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


def _grams(g: float) -> str:
    return f"{g:.0f} g" if abs(g - round(g)) < 0.05 else f"{g:.1f} g"


def expected_weight(catalogue: Catalogue, lines) -> tuple[dict[str, tuple[int, float]], list[str]]:
    """What an order's pieces weigh: ``({piece: (count, grams each)}, SKUs without a weight)``.

    A kit counts as its components (each weighed by components.csv's ``weight_g`` or
    its own catalogue row) when every component has a weight, so a gap on the scale
    can be put down to one of them; otherwise as one piece of the kit's own
    ``weight_g``. A SKU with neither is listed as unweighed.

    >>> from packcheck.core.records import CatalogueItem, OrderLine
    >>> cat = Catalogue({"K": CatalogueItem("K", "K", "Kit", "", (), 300.0), "A": CatalogueItem("A", "A", "A", "", (), 200.0),
    ...                  "B": CatalogueItem("B", "B", "B", "", (), 90.0)}, {"K": (("A", 1), ("B", 1))})
    >>> expected_weight(cat, [OrderLine("K", 2, 2)])
    ({'A': (2, 200.0), 'B': (2, 90.0)}, [])
    """
    pieces: dict[str, list] = {}
    unweighed: list[str] = []
    for line in lines:
        bom = catalogue.bill_of_materials(line.sku)
        weights = [catalogue.unit_weight(c) for c, _ in bom]
        if all(w is not None for w in weights):
            parts = [(c, per_unit * line.qty, w) for (c, per_unit), w in zip(bom, weights)]
        elif catalogue.items[line.sku].weight_g is not None:
            parts = [(line.sku, line.qty, catalogue.items[line.sku].weight_g)]
        else:
            unweighed.append(line.sku)
            continue
        for piece, n, w in parts:
            pieces.setdefault(piece, [0, float(w)])[0] += n
    return {k: (n, w) for k, (n, w) in pieces.items()}, unweighed


def _explain_weight(difference: float, pieces: dict[str, tuple[int, float]], allowed: float,
                    catalogue: Catalogue) -> tuple[str | None, str]:
    """(likely, words): the piece whose weight explains a gap on the scale, if exactly one does."""
    gap = abs(difference)
    if difference < 0:
        fits = sorted((abs(gap - k * w), c, k, w) for c, (n, w) in pieces.items() for k in range(1, n + 1)
                      if w > 0 and abs(gap - k * w) <= allowed)
        names = list(dict.fromkeys(c for _, c, _, _ in fits))
        if len(names) == 1:
            _, c, k, w = fits[0]
            return f"{c} x{k} missing", f"as if {c} x{k} ({_grams(k * w)}) were missing"
        if names:
            return None, "as if one of " + ", ".join(names[:3]) + " were missing"
        return None, "something is missing"
    fits = sorted((abs(gap - w), c, w) for c, (_, w) in pieces.items() if w > 0 and abs(gap - w) <= allowed)
    names = [c for _, c, _ in fits]
    if len(names) == 1:
        _, c, w = fits[0]
        return f"{c} x1 extra", f"as if 1 more {c} ({_grams(w)}) were packed"
    others = sorted((abs(gap - it.weight_g), s) for s, it in catalogue.items.items()
                    if it.weight_g and abs(gap - it.weight_g) <= allowed and s not in pieces)
    if not names and others:
        return None, f"an extra item of about {_grams(gap)} (like {', '.join(s for _, s in others[:3])})"
    return None, f"an extra item of about {_grams(gap)}"


def weight_check(catalogue: Catalogue, lines, measured_g: float | None,
                 limits: WeightLimits | None) -> CheckResult | None:
    """The packed weight against what the order's pieces weigh (bill of materials x quantity).

    A scale sees what a photo cannot: a charger missing from a closed box, a second
    T-shirt under the first. The difference may be ``limits.allowed(expected)``
    grams either way (REVIEW beyond, FLAG beyond the second limit); a difference
    that one piece's weight explains names it ("as if CHG-20W-WHT x1 (60 g) were
    missing"). None when no weight was recorded for the order.
    """
    if measured_g is None:
        return None
    pieces, unweighed = expected_weight(catalogue, lines)
    pieces_text = ", ".join(f"{c} {_grams(w)}" + (f" x{n}" if n > 1 else "") for c, (n, w) in pieces.items())
    if unweighed or limits is None:
        why = (f"no weight_g for {', '.join(unweighed)} in catalogue.csv" if unweighed
               else "the thresholds file has no [weight] limits")
        return CheckResult("weight", Status.PASS, None, f"packed {_grams(measured_g)}; not judged: {why}",
                           details=WeightDetails(None, measured_g, None, None, None, pieces_text), judged=False)
    expected = round(sum(n * w for n, w in pieces.values()), 1)
    difference = round(measured_g - expected, 1)
    review_g, flag_g = limits.allowed(expected)
    head = f"packed {_grams(measured_g)}, expected {_grams(expected)}"
    if abs(difference) <= review_g:
        return CheckResult("weight", Status.PASS, None, f"{head}: within {_grams(review_g)}", difference,
                           details=WeightDetails(expected, measured_g, difference, review_g, flag_g, pieces_text))
    likely, words = _explain_weight(difference, pieces, review_g, catalogue)
    status = Status.FLAG if abs(difference) > flag_g else Status.REVIEW
    reason = "weight_short" if difference < 0 else "weight_over"
    side = "light" if difference < 0 else "heavy"
    return CheckResult("weight", status, reason, f"{head}: {_grams(abs(difference))} {side}, {words}", difference,
                       details=WeightDetails(expected, measured_g, difference, review_g, flag_g, pieces_text, likely))


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
                packed_recorded: bool, retake: bool = False) -> CheckResult | None:
    """Separate items on the bench against the pieces the order needs (bill of materials x quantity).

    Touching items merge into one and clutter counts as an item, so the count is a
    hint. With an empty-bench photo (``method == "reference"``, reliable) a count
    short by ``count.review_short_by`` pieces asks a person *whatever the packed
    record says* (a scan says what was scanned, the photo what is in the box), and
    short by ``count.flag_short_by`` with nothing recorded is a FLAG. Without one
    the surface is learnt from the frame's border, where items in a box may merge:
    only a count short by ``flag_short_by`` with nothing recorded raises a concern,
    a REVIEW. None when no photo located items at all. A photo that must be retaken
    (``retake``: too dark, blurred, an empty bench) supports no count: recorded,
    not judged, the retake itself asks for the new photo.
    """
    counts = {m: [f.location.n_items for f in fps if f.location.method == m] for m in ("reference", "border")}
    method = "reference" if counts["reference"] else "border" if counts["border"] else None
    if method is None:
        return None
    seen = max(counts[method])
    short = expected_pieces - seen
    details = CountDetails(items_seen=seen, pieces_expected=expected_pieces, method=method)
    text = f"{seen} separate item(s) on the bench, {expected_pieces} piece(s) expected"
    if method == "border":
        text += " (counted without an empty-bench photo)"
    if retake:
        return CheckResult("count", Status.PASS, None, f"count not judged: the photo cannot be judged; retake it "
                           f"({text})", float(seen), details=details, judged=False)
    if method == "reference" and short >= thresholds.count_flag_short_by and not packed_recorded:
        return CheckResult("count", Status.FLAG, "count_short", text + " and nothing recorded as packed",
                           float(seen), details=details)
    if method == "reference" and short >= thresholds.count_review_short_by:
        note = "" if packed_recorded else " and nothing recorded as packed"
        return CheckResult("count", Status.REVIEW, "count_short",
                           text + note + ": lay the pieces apart and retake the photo, or check the box",
                           float(seen), details=details)
    if method == "border" and short >= thresholds.count_flag_short_by and not packed_recorded:
        return CheckResult("count", Status.REVIEW, "count_short", text + " and nothing recorded as packed",
                           float(seen), details=details)
    return CheckResult("count", Status.PASS, None, text, float(seen), details=details)

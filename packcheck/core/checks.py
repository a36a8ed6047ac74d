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
from .scoring import Listings, PhotoSet, Scores, item_score, nearest_other
from .thresholds import Thresholds, WeightLimits
from .verdict import CheckResult, Status


def _fmt(v: float) -> str:
    return f"{v:+.2f}"


def item_check(sku: str, scores: Scores, index: Listings, catalogue: Catalogue, thresholds: Thresholds,
               *, order_skus: tuple[str, ...]) -> CheckResult:
    """Is the ordered SKU what the photo shows, and more so than any other catalogue SKU?"""
    item = catalogue.items[sku]
    own_rows = index.rows_of(sku)
    own_best = int(own_rows[int(np.argmax(scores.fused[own_rows]))])
    own = float(scores.fused[own_best])
    # Vectorised over the whole index (a Python loop over 100,000 SKUs took ~50 ms).
    nearest, nearest_val, nearest_row = nearest_other(scores.fused, index, exclude=order_skus)
    value = item_score(own, nearest_val)
    band = thresholds.item
    status = Status(band.status(value))
    own_z = scores.row(own_best)
    z = SignalValues(**{s: round(v, 3) for s, v in own_z.items()})
    raw = SignalValues(**{s: round(float(scores.raw[s][own_best]), 4) for s in scores.raw})
    decided_by = min(own_z, key=own_z.get) if own_z else None
    if status is Status.PASS:
        reason = None
        message = f"{item.label} matches the listing (item score {_fmt(value)}, limit {_fmt(band.review_below)})"
    else:
        other = catalogue.items[nearest] if nearest else None
        looks_other = nearest is not None and nearest_val > own
        if looks_other and other.product_id == item.product_id:
            reason = "wrong_variant"
            message = (f"{other.variant or other.sku} found, {item.variant or sku} ordered ({nearest} instead of "
                       f"{sku}; item score {_fmt(value)} < {_fmt(band.review_below)})")
        elif looks_other:
            reason = "wrong_item"
            message = (f"looks like {nearest} {other.label}, not the ordered {sku} {item.label} "
                       f"(item score {_fmt(value)} < {_fmt(band.review_below)})")
        else:
            reason = "wrong_item"
            message = (f"does not look like the listing of {sku} {item.label} "
                       f"(item score {_fmt(value)} < {_fmt(band.review_below)}; weakest signal: {decided_by})")
        if nearest is not None and looks_other:
            decided_by = max(scores.row(nearest_row), key=lambda s: scores.row(nearest_row)[s] - own_z.get(s, 0))
    near = (nearest, round(nearest_val, 4), index.paths[nearest_row]) if nearest is not None else (None,) * 3
    details = ItemDetails(round(own, 4), index.paths[own_best], z, raw, *near, decided_by=decided_by)
    return CheckResult("item", status, reason, message, value, band.flag_below, band.review_below, sku, details)


def match_score(results, thresholds: Thresholds) -> float:
    """The verdict's one number for ranking: the tightest item or variant check, in genuine-spread units.

    Each check's value is standardised by how that check scores genuine pairs
    (``(value - genuine_median) / genuine_spread`` from the thresholds file), and
    the lowest is kept: a pair is as suspicious as its most suspicious check. The
    accuracy benchmark ranks pairs by it; the status itself comes from the limits.
    """
    bands = {"item": thresholds.item, "variant": thresholds.variant}
    zs = [(r.value - bands[r.check].genuine_median) / bands[r.check].genuine_spread
          for r in results if r.check in bands and r.value is not None]
    return min(zs) if zs else float("inf")


def colour_distances(photo: PhotoSet, index: Listings, rows: list[int]) -> np.ndarray:
    """Hellinger distance between the photo's best region and each listing row's colour."""
    return colour.hellinger_distance(photo.hists, index.sqrt_hists[rows])


def _found_lab(photo: PhotoSet, index: Listings, row: int) -> np.ndarray:
    """The dominant colour of the photo region closest in colour to a listing row."""
    bc = colour.sqrt_hist(photo.hists) @ index.sqrt_hists[row]
    return photo.labs[int(np.argmax(bc))]


def variant_check(sku: str, photo: PhotoSet, index: Listings, catalogue: Catalogue,
                  thresholds: Thresholds, *, order_skus: tuple[str, ...]) -> CheckResult | None:
    """Is the photo's colour nearer the ordered variant than every sibling variant?

    For each sibling, the photo's colour is placed on the line between the two
    listings: ``(d_sibling - d_ordered) / d(ordered listing, sibling listing)``,
    +1 when it is exactly the ordered colour, -1 exactly the sibling's, 0 halfway.
    Dividing by the siblings' own colour difference makes the score mean the same
    for red-vs-green trousers and for two cartons that differ in one stripe.
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
    best_sib, value, d_sib, sib_row = None, np.inf, np.inf, -1
    for s in siblings:
        rows = index.rows_of(s)
        d = colour_distances(photo, index, rows)
        bc = index.sqrt_hists[own_rows] @ index.sqrt_hists[rows].T
        separation = float(colour.hellinger(bc.max()))
        position = (float(d.min()) - d_own) / max(separation, 1e-3)
        if position < value:
            best_sib, value, d_sib, sib_row = s, position, float(d.min()), rows[int(np.argmin(d))]
    band = thresholds.variant
    status = Status(band.status(value))
    sib = catalogue.items[best_sib]
    found = _found_lab(photo, index, sib_row if value < 0 else own_row)
    details = VariantDetails(
        distance_ordered=round(d_own, 4), distance_sibling=round(d_sib, 4), nearest_sibling=best_sib,
        ordered_lab=colour.cie_lab(index.labs[own_row]),
        sibling_lab=colour.cie_lab(index.labs[sib_row]),
        found_lab=colour.cie_lab(found),
    )
    if status is Status.PASS:
        message = (f"colour matches {item.variant or sku} better than {sib.variant or best_sib} "
                   f"(position {value:+.2f}, limit {band.review_below:+.2f})")
        reason = None
    else:
        reason = "wrong_variant"
        message = (f"{sib.variant or best_sib} found, {item.variant or sku} ordered ({best_sib} instead of {sku}; "
                   f"colour position {value:+.2f} < {band.review_below:+.2f})")
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
                packed_recorded: bool) -> CheckResult | None:
    """Separate items on the bench against the pieces the order needs (bill of materials x quantity).

    Touching items merge into one and clutter counts as an item, so the count is a
    hint. With an empty-bench photo (``method == "reference"``, reliable) a count
    short by ``count.review_short_by`` pieces asks a person *whatever the packed
    record says* (a scan says what was scanned, the photo what is in the box), and
    short by ``count.flag_short_by`` with nothing recorded is a FLAG. Without one
    the surface is learnt from the frame's border, where items in a box may merge:
    only a count short by ``flag_short_by`` with nothing recorded raises a concern,
    a REVIEW. None when no photo located items at all.
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

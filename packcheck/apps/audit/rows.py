"""One order, one row: a verdict as the audit's CSV row (and the facts its HTML report shows).

Every distinct order gets exactly one row: :func:`audit_order` never raises
(a bug becomes an ERROR row naming the exception), and :func:`failure_row`
builds a row from the order alone when the check could not run at all. The CSV
is safe to open in a spreadsheet: a text cell that starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return is prefixed with ``'`` (plain numbers
such as ``-1.25`` are left alone).
"""
from __future__ import annotations

import csv
import json
import logging
import re
import time
from pathlib import Path
from typing import Iterable

from ...core import checks
from ...core.records import Catalogue, Order
from ...core.verdict import REASONS, Status, Verdict, error_verdict
from ..checker import Checker
from ..present import limits_text

log = logging.getLogger(__name__)

#: Columns of the result CSV, in order.
COLUMNS = (
    "order_id", "status", "reasons", "message", "skus",
    "item_score", "item_limit", "variant_score", "variant_limit", "nearest_sku",
    "expected_components", "packed_components", "missing_components", "extra_components",
    "photo", "photo_sha256", "station", "first_row", "seconds", "thresholds_version",
)
#: Reason codes the audit adds to :data:`packcheck.core.verdict.REASONS`.
AUDIT_REASONS = {
    "check_failed": "the check stopped with an unexpected error (a bug): the message has the details",
    "worker_crashed": "the check crashed its worker process twice (a bug): the message has the details",
}
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")




def reason_text(code: str) -> str:
    """A reason code in plain words."""
    return REASONS.get(code) or AUDIT_REASONS.get(code) or code


def spreadsheet_safe(value: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula, by prefixing ``'``.

    Examples
    --------
    >>> spreadsheet_safe('=HYPERLINK("http://x")'), spreadsheet_safe("-1.25"), spreadsheet_safe("ok")
    ('\\'=HYPERLINK("http://x")', '-1.25', 'ok')
    """
    if value and value[0] in "=+-@\t\r" and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:.3f}"


def _rel(path: str | Path, root: Path) -> str:
    p = Path(path)
    try:
        return str(p.relative_to(root))
    except ValueError:
        try:
            return str(p.resolve().relative_to(root.resolve()))
        except ValueError:
            return str(p)


def result_row(verdict: Verdict, order: Order, *, root: Path, catalogue: Catalogue,
               seconds: float) -> tuple[dict, dict]:
    """The CSV row of one order's verdict, and the extra facts the HTML report shows.

    Both are plain JSON-able dicts (they travel from worker processes and are
    kept in the journal).
    """
    # A check recorded as not judged makes no claim: its score is not shown as one.
    items = [c for c in verdict.checks if c.check == "item" and c.judged and c.value is not None]
    variants = [c for c in verdict.checks if c.check == "variant" and c.judged and c.value is not None]
    worst_item = min(items, key=lambda c: c.value) if items else None
    worst_variant = min(variants, key=lambda c: c.value) if variants else None
    comp = verdict.check("components")
    if comp is not None:
        d = comp.details
        expected, packed, missing, extra_c = d.expected, d.packed, d.missing or "", d.extra or ""
    else:  # not judged (ERROR): still say what the order needs
        known = [line for line in order.lines if line.sku in catalogue.items]
        expected = ", ".join(f"{c} x{n}" for c, n in checks.expected_components(catalogue, known).items())
        packed = "not recorded" if order.packed is None else ", ".join(f"{c} x{n}" for c, n in order.packed)
        missing = extra_c = ""
    photos = [_rel(p, root) for p in (verdict.photo_paths or order.photos)]
    row = {
        "order_id": order.order_id,
        "status": str(verdict.status),
        "reasons": ";".join(verdict.reasons),
        "message": verdict.message,
        "skus": ";".join(order.skus),
        "item_score": _num(worst_item.value) if worst_item else "",
        "item_limit": _num(worst_item.review_below) if worst_item else "",
        "variant_score": _num(worst_variant.value) if worst_variant else "",
        "variant_limit": _num(worst_variant.review_below) if worst_variant else "",
        "nearest_sku": (worst_item.details.nearest_sku or "") if worst_item else "",
        "expected_components": expected,
        "packed_components": packed,
        "missing_components": missing,
        "extra_components": extra_c,
        "photo": ";".join(photos),
        "photo_sha256": ";".join(verdict.photos),
        "station": order.station or "",
        "first_row": str(order.first_row),
        "seconds": f"{seconds:.3f}",
        "thresholds_version": verdict.thresholds_version,
    }
    extra = {
        "checks": [
            {"check": c.check, "status": str(c.status), "reason": c.reason, "message": c.message,
             "value": c.value, "flag_below": c.flag_below, "review_below": c.review_below, "sku": c.sku,
             "judged": c.judged, "limits": limits_text(c)}
            for c in verdict.checks
        ],
        "timings": {k: round(v, 6) for k, v in verdict.timings},
        "stages_run": list(verdict.meta.stages_run) if verdict.meta else [],
    }
    if worst_item is not None:
        d = worst_item.details
        own, near, near_image = d.own_fused, d.nearest_fused, d.nearest_image
        extra.update(
            item_sku=worst_item.sku,
            listing_image=_rel(d.listing_image, root),
            nearest_image=_rel(near_image, root) if near_image else None,
            looks_like=bool(worst_item.status is not Status.PASS and near is not None and own is not None
                            and near > own),
        )
    if worst_variant is not None:
        d = worst_variant.details  # None: colour not judged (a black-and-white photo)
        extra.update(nearest_sibling=d and d.nearest_sibling, ordered_lab=d and d.ordered_lab,
                     sibling_lab=d and d.sibling_lab, found_lab=d and d.found_lab)
        extra["variant_sku"] = worst_variant.sku
    return row, json.loads(json.dumps(extra, default=_plain))


def _plain(v):
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"{type(v).__name__} is not JSON-able")


def audit_order(checker: Checker, order: Order) -> tuple[dict, dict]:
    """Check one order and turn the verdict into a row; never raises.

    An unexpected exception (a bug, not bad input) becomes an ERROR row whose
    message names the exception, so one order cannot stop a night's audit.
    """
    t = time.perf_counter()
    try:
        verdict = checker.check(order)
    except Exception as e:  # noqa: BLE001 - the row records it
        log.exception("order %s: the check failed", order.order_id)
        verdict = error_verdict(order.order_id, "check_failed",
                                f"the check failed unexpectedly ({type(e).__name__}: {e}); "
                                "this is a bug, please report it with this order's photo",
                                thresholds_version=checker.thresholds.version,
                                photo_paths=[str(p) for p in order.photos])
    seconds = time.perf_counter() - t
    try:
        row, extra = result_row(verdict, order, root=checker.root, catalogue=checker.catalogue, seconds=seconds)
        # Each judged photo's perceptual hashes: the run's photo_reused pass compares them (run.py).
        recent = [checker.copies.recent(sha) for sha in verdict.photos]
        extra["photo_hashes"] = [got.signature.to_list() if got else None for got in recent]
        return row, extra
    except Exception as e:  # noqa: BLE001
        log.exception("order %s: the result row could not be built", order.order_id)
        return failure_row(order, "check_failed", f"the result could not be recorded ({type(e).__name__}: {e}); "
                           "this is a bug, please report it", root=checker.root,
                           thresholds_version=checker.thresholds.version)


def failure_row(order: Order, reason: str, message: str, *, root: Path,
                thresholds_version: str) -> tuple[dict, dict]:
    """An ERROR row built from the order alone (when the check itself could not run)."""
    row = dict.fromkeys(COLUMNS, "")
    row.update(order_id=order.order_id, status="ERROR", reasons=reason, message=message,
               skus=";".join(order.skus), station=order.station or "", first_row=str(order.first_row),
               photo=";".join(_rel(p, root) for p in order.photos), thresholds_version=thresholds_version)
    return row, {"checks": [], "timings": {}}


def write_csv(f, rows: Iterable[dict]) -> None:
    """The result rows as spreadsheet-safe CSV (UTF-8 with a BOM, so spreadsheets read it as UTF-8)."""
    f.write("\ufeff")
    w = csv.writer(f, lineterminator="\n")
    w.writerow(COLUMNS)
    for row in rows:
        w.writerow([spreadsheet_safe(str(row.get(c, ""))) for c in COLUMNS])

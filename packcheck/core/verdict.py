"""The verdict: PASS, REVIEW, FLAG or ERROR, with every reason, score and limit behind it.

Results are small frozen dataclasses (no dicts that change shape): a
:class:`CheckResult` per check, combined by :func:`combine` into a
:class:`Verdict`. Nothing here does I/O; :meth:`Verdict.to_dict` gives the JSON
form the CLI, the audit CSV and the evidence store write.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

from .records import Details, VerdictMeta


class Status(str, Enum):
    PASS = "PASS"
    REVIEW = "REVIEW"
    FLAG = "FLAG"
    ERROR = "ERROR"

    def __str__(self) -> str:  # "FLAG", not "Status.FLAG", in messages
        return self.value


_RANK = {Status.PASS: 0, Status.REVIEW: 1, Status.FLAG: 2, Status.ERROR: 3}


def worst(statuses) -> Status:
    """The most serious of ``statuses`` (ERROR > FLAG > REVIEW > PASS); PASS when there are none.

    >>> worst(["PASS", "REVIEW", "FLAG"]).value
    'FLAG'
    """
    return max((Status(s) for s in statuses), key=_RANK.__getitem__, default=Status.PASS)

#: Reason codes and what they mean, for help texts and reports.
REASONS = {
    "wrong_item": "the photo does not show the ordered item",
    "wrong_variant": "a sibling variant (colour, size, flavour) of the ordered item was packed",
    "missing_component": "a part of the kit was not packed",
    "extra_component": "more parts were packed than the order needs",
    "count_short": "fewer separate items on the bench than the order has pieces",
    "weight_short": "the parcel weighs less than its items should: something is missing",
    "weight_over": "the parcel weighs more than its items should: something extra was packed",
    "retake_photo": "the photo is too dark, blurred or shows no product: take it again",
    "photo_unreadable": "the photo file is missing, empty or not an image",
    "photo_of_other_order": "the photo was already used for another order: one photo proves one parcel only",
    "bad_order": "the order's rows in orders.csv are invalid",
    "unknown_order": "the order id is not in orders.csv",
    "photo_is_listing": "the photo is a listing image (a copy, or a photo of a screen), not the parcel: retake it",
    "photo_reused": "the same photo was already used for another order: photograph this parcel",
}


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome.

    ``value`` is what was measured and ``flag_below``/``review_below`` the limits it
    was held against (both None for counts). ``details`` is the check's own record
    (:class:`~packcheck.core.records.ItemDetails` and the like): the per-signal
    scores, the nearest other SKU, the colours, the counts.

    ``judged`` is False when there was nothing to judge (no packed record, no
    weight in the catalogue): the status is then PASS only in the sense that it
    raises nothing, and every display says "not recorded" or "not judged" instead.
    """

    check: str
    status: Status
    reason: str | None
    message: str
    value: float | None = None
    flag_below: float | None = None
    review_below: float | None = None
    sku: str | None = None
    details: Details | None = None
    judged: bool = True  # False: the photo cannot support this check; recorded, without a claim


@dataclass(frozen=True)
class Verdict:
    """The answer for one order."""

    order_id: str
    status: Status
    reasons: tuple[str, ...]
    message: str
    checks: tuple[CheckResult, ...]
    thresholds_version: str
    photos: tuple[str, ...] = ()  # SHA-256 of each photo judged
    photo_paths: tuple[str, ...] = ()
    timings: tuple[tuple[str, float], ...] = ()
    error: str | None = None
    meta: VerdictMeta | None = None
    score: float | None = None  # the ranking number (packcheck.core.checks.match_score): < 0 when a check FLAGs

    @property
    def passed(self) -> bool:
        return self.status is Status.PASS

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.check == name), None)

    @property
    def seconds(self) -> float:
        return float(sum(t for _, t in self.timings))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["status"] = self.status.value
        d["checks"] = [
            {**asdict(c), "status": c.status.value, "details": c.details.to_dict() if c.details else {}}
            for c in self.checks
        ]
        d["timings"] = {k: round(v, 6) for k, v in self.timings}
        d["meta"] = self.meta.to_dict() if self.meta else {}
        return d


def combine(order_id: str, checks: list[CheckResult], *, thresholds_version: str, photos=(), photo_paths=(),
            timings=(), meta: VerdictMeta | None = None, score: float | None = None) -> Verdict:
    """The worst judged check decides; the message lists every check that did not pass, in plain words.

    Nothing is averaged away: a FLAG of any check is the verdict's FLAG. A check
    the photo could not support was recorded as not judged (``judged=False``, a
    PASS with the reason) by whoever ran it, so it neither raises nor lowers the
    status and makes no claim.
    """
    judged = [c for c in checks if c.judged]
    status = worst(c.status for c in judged)
    bad = [c for c in judged if c.status is not Status.PASS]
    reasons = tuple(dict.fromkeys(c.reason for c in bad if c.reason))
    message = "; ".join(dict.fromkeys(c.message for c in bad)) if bad else "matches the order"
    return Verdict(
        order_id=order_id, status=status, reasons=reasons, message=message, checks=tuple(checks),
        thresholds_version=thresholds_version, photos=tuple(photos), photo_paths=tuple(photo_paths),
        timings=tuple(timings), meta=meta, score=score,
    )


def error_verdict(order_id: str, reason: str, message: str, *, thresholds_version: str, photo_paths=(),
                  timings=()) -> Verdict:
    """An ERROR verdict: the order could not be judged; ``message`` says why in packer's words."""
    return Verdict(
        order_id=order_id, status=Status.ERROR, reasons=(reason,), message=message, checks=(),
        thresholds_version=thresholds_version, photo_paths=tuple(photo_paths), timings=tuple(timings),
        error=message,
    )

"""How a verdict is said to people: one palette, one wording of limits, colours and reasons.

The terminal (:func:`packcheck.cli.common.render_verdict`), the kiosk page, the
audit's HTML report and the evidence sheet all show statuses, limits, colours,
reasons and "looks like" images. Each of those is decided here, once, so that
an ERROR is the same purple on the kiosk, in the report and on the sheet, and a
limit reads the same everywhere.

The helpers read a check either as a :class:`~packcheck.core.verdict.CheckResult`
or in its JSON form (``Verdict.to_dict()``, as the evidence store and the audit
keep it), and read every field defensively: records written by an older
packcheck, or by a newer one with more fields, still show.
"""
from __future__ import annotations

import os
from pathlib import Path

#: The colour of each status, as sRGB, on every screen and sheet.
STATUS_RGB = {"PASS": (46, 125, 50), "REVIEW": (230, 161, 0), "FLAG": (198, 40, 40), "ERROR": (106, 27, 154)}
#: Text on a status colour: dark on REVIEW's amber, white on the others.
STATUS_TEXT_RGB = {"PASS": (255, 255, 255), "REVIEW": (17, 17, 17), "FLAG": (255, 255, 255),
                   "ERROR": (255, 255, 255)}
#: What the packer must do, by status (the station's terminal and kiosk).
INSTRUCTION = {
    "FLAG": "DO NOT SEAL: fix the box and scan the order again, or call a supervisor",
    "REVIEW": "DO NOT SEAL: a person must look; fix and scan again, or call a supervisor",
    "ERROR": "DO NOT SEAL: the order could not be checked; fix the cause and scan again, or call a supervisor",
}


def status_hex(status) -> str:
    """``#rrggbb`` of a status (grey for anything unknown).

    >>> status_hex("ERROR"), status_hex("FLAG")
    ('#6a1b9a', '#c62828')
    """
    r, g, b = STATUS_RGB.get(str(status), (90, 90, 90))
    return f"#{r:02x}{g:02x}{b:02x}"


def text_hex(status) -> str:
    r, g, b = STATUS_TEXT_RGB.get(str(status), (255, 255, 255))
    return f"#{r:02x}{g:02x}{b:02x}"


def status_css(selector: str) -> str:
    """CSS giving ``{selector}`` (with ``{s}`` for the status) each status's colour and text colour.

    >>> status_css(".badge.{s}").splitlines()[0]
    '.badge.PASS{background:#2e7d32;color:#ffffff}'
    """
    return "\n".join(f"{selector.format(s=s)}{{background:{status_hex(s)};color:{text_hex(s)}}}"
                     for s in STATUS_RGB)


def _get(obj, name: str, default=None):
    """A field of a check or details record, whether a dataclass or its JSON dict."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def judged(check) -> bool:
    return bool(_get(check, "judged", True))


def check_label(check) -> str:
    """The status word a check is shown with: its status, or "not recorded" / "not judged" when there
    was nothing to judge (a components line without a packed record is never shown as PASS)."""
    if judged(check):
        return str(_get(check, "status", ""))
    return "not recorded" if _get(check, "check") == "components" else "not judged"


def _signed(v: float) -> str:
    return f"{v:+.2f}"


def limits_text(check) -> str:
    """Both limits a scored check was held against, in words ("" for a check without limits).

    >>> limits_text({"check": "variant", "flag_below": -0.61, "review_below": -0.14})
    'REVIEW below -0.14, FLAG below -0.61'
    >>> limits_text({"check": "item", "flag_below": -0.38, "review_below": -0.38})
    'REVIEW and FLAG below -0.38'
    >>> limits_text({"check": "weight", "details": {"review_beyond_g": 18.7, "flag_beyond_g": 37.4}})
    'REVIEW when off by more than 18.7 g, FLAG by more than 37.4 g'
    """
    flag, review = _get(check, "flag_below"), _get(check, "review_below")
    if flag is not None and review is not None:
        if round(flag, 2) == round(review, 2):
            return f"REVIEW and FLAG below {_signed(review)}"
        return f"REVIEW below {_signed(review)}, FLAG below {_signed(flag)}"
    details = _get(check, "details")
    review_g, flag_g = _get(details, "review_beyond_g"), _get(details, "flag_beyond_g")
    if review_g is not None and flag_g is not None:
        return f"REVIEW when off by more than {review_g:g} g, FLAG by more than {flag_g:g} g"
    return ""


def limits_unsaid(check) -> str:
    """:func:`limits_text`, unless the check's own message already states its limits ("" then).

    The item and variant checks say both limits in their message; a display that
    adds them again would say them twice.

    >>> limits_unsaid({"flag_below": -9.1, "review_below": -3.1, "message": "x (REVIEW below -3.10, FLAG below -9.10)"})
    ''
    >>> limits_unsaid({"flag_below": -0.61, "review_below": -0.14, "message": "colour position -0.70"})
    'REVIEW below -0.14, FLAG below -0.61'
    """
    message = _get(check, "message") or ""
    return "" if "FLAG below" in message else limits_text(check)


def lab_text(lab) -> str:
    """A CIE L*a*b* triple in words.

    >>> lab_text((43.1, 63.0, 45.0))
    'L* 43 a* +63 b* +45'
    """
    L, a, b = (float(v) for v in lab)
    return f"L* {L:.0f} a* {a:+.0f} b* {b:+.0f}"


def colours_text(check) -> str:
    """The colours behind a variant check in words ("" when it has none)."""
    d = _get(check, "details")
    found, ordered, sibling = _get(d, "found_lab"), _get(d, "ordered_lab"), _get(d, "sibling_lab")
    if found is None or ordered is None:
        return ""
    text = f"colour found {lab_text(found)}; ordered {lab_text(ordered)}"
    if sibling is not None and _get(d, "nearest_sibling"):
        text += f"; {_get(d, 'nearest_sibling')} {lab_text(sibling)}"
    return text


def looks_like(checks) -> tuple[str, str] | None:
    """The other SKU a verdict names, if any: ``(sku, "looks like")`` when the item check found the
    photo nearer another SKU than the ordered one, or ``(sku, "colour of")`` when the variant check
    found a sibling's colour. ``checks``: the verdict's checks (records or JSON dicts)."""
    for c in checks:
        if _get(c, "check") != "item" or str(_get(c, "status")) == "PASS":
            continue
        d = _get(c, "details")
        own, near = _get(d, "own_fused"), _get(d, "nearest_fused")
        if _get(d, "nearest_sku") and own is not None and near is not None and near > own:
            return str(_get(d, "nearest_sku")), "looks like"
    for c in checks:
        if _get(c, "check") == "variant" and str(_get(c, "status")) != "PASS" and judged(c):
            sib = _get(_get(c, "details"), "nearest_sibling")
            if sib:
                return str(sib), "colour of"
    return None


_RANK = {"PASS": 0, "REVIEW": 1, "FLAG": 2, "ERROR": 3}


def reason_lines(checks, *, status: str = "", message: str = "") -> list[str]:
    """The reasons to show a packer, each once: one line per reason code and SKU (the item and the
    variant check often say the same "red found, green ordered"), the most serious first; an ERROR's
    message alone."""
    if str(status) == "ERROR":
        return [message] if message else []
    best: dict[tuple, tuple[int, int, str]] = {}
    for n, c in enumerate(checks):
        st = str(_get(c, "status", "PASS"))
        if st == "PASS" or not judged(c):
            continue
        key = (_get(c, "reason") or f"#{n}", _get(c, "sku"))
        rank = _RANK.get(st, 0)
        if key not in best or rank > best[key][0]:
            best[key] = (rank, -n, str(_get(c, "message", "")))
    lines = [m for _, _, m in sorted(best.values(), reverse=True)]
    return lines or ([message] if message else [])


def override_text(o) -> str:
    """One override in words: who, whether their code was checked, and whether the box shipped without
    evidence (an override record or its JSON form; one recorded before codes were asked for is
    unauthenticated).

    >>> override_text({"supervisor": "maria", "overridden_at": "2026-11-26T10:00:00.000Z", "reason": "ok"})
    'overridden by maria (NOT AUTHENTICATED: a name typed, no code checked) at 2026-11-26T10:00:00.000Z: ok'
    """
    who = "code checked" if _get(o, "authenticated") else "NOT AUTHENTICATED: a name typed, no code checked"
    tail = "; SHIPPED WITHOUT EVIDENCE" if _get(o, "without_evidence") else ""
    return f"overridden by {_get(o, 'supervisor')} ({who}) at {_get(o, 'overridden_at')}: {_get(o, 'reason')}{tail}"


def public_paths(value, root: str | os.PathLike):
    """``value`` (a verdict's JSON form) with every path inside the data folder ``root`` made relative
    to it, in path fields and in messages alike: what a verdict says leaves no machine's folders behind.

    >>> public_paths({"photo_paths": ["/srv/shop/photos/a.jpg"], "error": "/srv/shop/photos/a.jpg is truncated"},
    ...              "/srv/shop")
    {'photo_paths': ['photos/a.jpg'], 'error': 'photos/a.jpg is truncated'}
    """
    prefixes = sorted({str(Path(root).absolute()) + os.sep, os.path.realpath(root) + os.sep}, key=len, reverse=True)

    def fix(v):
        if isinstance(v, str):
            for p in prefixes:
                v = v.replace(p, "")
            return v
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [fix(x) for x in v]
        return v

    return fix(value)

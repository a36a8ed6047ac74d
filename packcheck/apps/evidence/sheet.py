"""The evidence sheet: one check drawn as a PNG a marketplace's appeal form accepts.

The packing photo beside the listing image, the verdict and its reasons, ordered
and found colour swatches, every check's score against its limits, the UTC time,
station, operator and any override.
"""
from __future__ import annotations

import textwrap
import unicodedata

import cv2
import numpy as np

from ...core.colour import lab_to_rgb
from ...core.imaging import load_image
from ...errors import ImageError
from ..present import STATUS_RGB, check_label, lab_text, limits_unsaid, override_text
from .store import CheckRecord, EvidenceError, EvidenceStore, StoredFile

#: The status colours of the kiosk and the report (ERROR purple, FLAG red), as OpenCV's BGR.
_BGR = {s: rgb[::-1] for s, rgb in STATUS_RGB.items()}
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _ascii(text: str) -> str:
    # OpenCV's Hershey fonts have ASCII only: "Café" becomes "Cafe", other letters "?".
    norm = unicodedata.normalize("NFKD", str(text))
    return "".join(ch if 32 <= ord(ch) < 127 else ("" if unicodedata.combining(ch) else "?") for ch in norm)


def _text(img, text, org, *, scale=0.6, colour=(30, 30, 30), thickness=1) -> None:
    cv2.putText(img, _ascii(text), org, _FONT, scale, colour, thickness, cv2.LINE_AA)


def _fit(rgb: np.ndarray, w: int, h: int) -> np.ndarray:
    """``rgb`` scaled to fit (w, h), centred on light grey, as BGR."""
    panel = np.full((h, w, 3), 235, np.uint8)
    ih, iw = rgb.shape[:2]
    s = min(w / iw, h / ih)
    nw, nh = max(1, int(iw * s)), max(1, int(ih * s))
    small = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    x, y = (w - nw) // 2, (h - nh) // 2
    panel[y:y + nh, x:x + nw] = small[:, :, ::-1]
    return panel


def _panel(store: EvidenceStore, f: StoredFile | None, w: int, h: int, empty: str) -> np.ndarray:
    if f is not None:
        try:
            return _fit(load_image(store.read_blob(f), work_side=max(w, h)).rgb, w, h)
        except (ImageError, EvidenceError) as e:
            empty = f"cannot show: {e}"
    panel = np.full((h, w, 3), 235, np.uint8)
    for i, line in enumerate(textwrap.wrap(_ascii(empty), 60)[:6]):
        _text(panel, line, (20, h // 2 + 26 * i), scale=0.6)
    return panel


def _swatches(record: CheckRecord) -> list[tuple[str, tuple[int, int, int], str]]:
    """(label, RGB, CIE L*a*b* text) for the ordered and found colour, and the nearest sibling variant."""
    out = []
    checks = record.verdict.get("checks", [])
    variant = next((c for c in checks if c.get("check") == "variant"), None)
    ordered = found = sibling = None
    if variant:
        d = variant.get("details", {})
        ordered, found, sibling = d.get("ordered_lab"), d.get("found_lab"), d.get("sibling_lab")
        sib_name = d.get("nearest_sibling")
    else:
        colours = record.extra.get("ordered_lab") or {}
        ordered = next(iter(colours.values()), None)
        found = record.verdict.get("meta", {}).get("found_lab")
        sib_name = None
    for label, lab in (("ordered", ordered), ("found", found),
                       (f"nearest variant {sib_name}" if sib_name else "", sibling)):
        if label and lab is not None and len(lab) == 3:
            out.append((label, lab_to_rgb(lab), lab_text(lab)))
    return out


def render_sheet(store: EvidenceStore, record: CheckRecord, *, width: int = 1800) -> np.ndarray:
    """The side-by-side evidence sheet of one check as a BGR image (write it with cv2.imwrite).

    Packing photo beside the listing image, the status, the reasons in words,
    ordered vs found colour swatches, every check's score and limits, the UTC
    time, station and operator, and any override.
    """
    pad = 30
    pw = (width - 3 * pad) // 2
    ph = pw * 3 // 4
    lines: list[tuple[str, float, tuple, int]] = []

    def add(text, scale=0.65, colour=(30, 30, 30), thickness=1):
        # About 15 px per character per unit of scale in the Hershey simplex font.
        for part in textwrap.wrap(_ascii(text), int((width - 2 * pad) / (15 * scale))) or [""]:
            lines.append((part, scale, colour, thickness))

    add(f"checked {record.checked_at} (UTC)   station {record.station or '-'}   operator {record.operator or '-'}"
        f"   check #{record.id}" + (f" (rescan of #{record.previous_check_id})" if record.previous_check_id else ""))
    add(f"verdict: {record.status.value} - {record.message}", scale=0.75, thickness=2)
    for o in record.overrides:
        add(override_text(o).replace("overridden by", "OVERRIDDEN by supervisor", 1), scale=0.75,
            colour=(40, 40, 210) if o.without_evidence or not o.authenticated else (200, 90, 0), thickness=2)
    for c in record.verdict.get("checks", []):
        if c.get("reason") in ("photo_is_listing", "photo_reused"):
            what = "PHOTO IS A LISTING IMAGE" if c["reason"] == "photo_is_listing" else "PHOTO REUSED"
            add(f"{what}: {c.get('message', '')}", scale=0.75, colour=(40, 40, 210), thickness=2)
    add("")
    add("checks (value against the REVIEW and FLAG limits):", thickness=2)
    for c in record.verdict.get("checks", []):
        value = c.get("value")
        limits = f"  value {value:+.3f}" if value is not None else ""
        if limits_unsaid(c):
            limits += f" ({limits_unsaid(c)})"
        add(f"  {check_label(c):6s} {c.get('check', ''):10s}{limits}  {c.get('message', '')}", scale=0.55)
    add(f"thresholds {record.thresholds_version}   photo sha256 "
        + (", ".join(s[:16] + "..." for s in record.photo_sha256) or "none"), scale=0.5)
    swatches = _swatches(record)
    line_h = 30
    header_h = 90
    text_h = len(lines) * line_h + 20
    sw_h = 150 if swatches else 0
    height = header_h + pad + 40 + ph + pad + text_h + sw_h + pad
    sheet = np.full((height, width, 3), 255, np.uint8)
    colour = _BGR.get(record.status.value, (90, 90, 90))
    sheet[:header_h] = colour
    _text(sheet, f"{record.status.value}   order {record.order_id}", (pad, 62), scale=1.6, colour=(255, 255, 255),
          thickness=4)
    _text(sheet, f"{record.checked_at} UTC", (width - 430, 55), scale=0.8, colour=(255, 255, 255), thickness=2)
    y = header_h + pad
    photo = record.photos[0] if record.photos else None
    listing = record.listings[0] if record.listings else None
    _text(sheet, "packing photo" + (f" ({photo.source})" if photo and photo.source else ""), (pad, y + 25),
          scale=0.7, thickness=2)
    what = f"listing image of {listing.sku}" if listing else "listing image"
    _text(sheet, what, (2 * pad + pw, y + 25), scale=0.7, thickness=2)
    y += 40
    sheet[y:y + ph, pad:pad + pw] = _panel(store, photo, pw, ph, "no photo was taken for this check")
    sheet[y:y + ph, 2 * pad + pw:2 * pad + 2 * pw] = _panel(store, listing, pw, ph, "no listing image kept")
    y += ph + pad
    for text, scale, col, thick in lines:
        y += line_h
        _text(sheet, text, (pad, y), scale=scale, colour=col, thickness=thick)
    y += 20
    x = pad
    for label, rgb, lab_text in swatches:
        cv2.rectangle(sheet, (x, y + 10), (x + 110, y + 110), rgb[::-1], -1)
        cv2.rectangle(sheet, (x, y + 10), (x + 110, y + 110), (60, 60, 60), 1)
        _text(sheet, label, (x + 125, y + 45), scale=0.7, thickness=2)
        _text(sheet, f"{lab_text}  RGB {rgb[0]} {rgb[1]} {rgb[2]}", (x + 125, y + 80), scale=0.55)
        x += 560
    return sheet

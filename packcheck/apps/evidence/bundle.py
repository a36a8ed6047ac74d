"""The appeal bundle: one order's evidence as a zip a seller can send, and its verification.

:func:`write_bundle` writes the packing photos, the listing images as they were
at check time, a sheet per check, ``verdict.json`` (every check, override and
rescan) and ``SHA256SUMS``; :func:`verify_bundle` checks every file of one
against its line.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from ... import __version__
from ...util.fsio import atomic_write, check_output_path
from .sheet import render_sheet
from .store import EvidenceError, EvidenceStore, utc_now

BUNDLE_FORMAT = "packcheck-appeal/1"


class BundleMismatch(EvidenceError):
    """A file in an appeal bundle does not match its SHA256SUMS line."""


def _safe_name(text: str, *, limit: int = 60) -> str:
    """A string usable as one part of a file name inside a zip."""
    return (re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x")[:limit]


@dataclass(frozen=True)
class Bundle:
    path: Path
    files: tuple[str, ...]
    checks: int = 0
    extra: dict = field(default_factory=dict)


_README = """Appeal evidence for order {order_id}, made by packcheck {version} on {made} (UTC).

sheet.png            the latest check: packing photo beside the listing image, verdict,
                     colour swatches (ordered vs found), scores and time
sheet-check-N.png    the same for each earlier check of this order (N = check number)
photos/              the packing photos exactly as judged (file names end in their SHA-256 prefix)
listing/             the listing images of the ordered items as they were when checked (and of the
                     SKU the photo looked like, when a verdict named one)
verdict.json         every check of this order: verdict, scores, limits, overrides (whether the
                     supervisor's code was checked; "shipped_without_evidence" when an ERROR, with
                     no photo judged, was let through), history
SHA256SUMS           the SHA-256 of every file above; verify with
                         sha256sum -c SHA256SUMS      (after unzipping)
                         packcheck evidence --verify THIS.zip
"""


def write_bundle(store: EvidenceStore, order_id: str, out: str | os.PathLike) -> Bundle:
    """Write the appeal zip of ``order_id`` to ``out`` (atomically) and return what it holds.

    Raises :class:`EvidenceError` when the order was never checked or a stored file is damaged.
    """
    records = store.order_checks(order_id)
    if not records:
        raise EvidenceError(f"order '{order_id}' was never checked in {store.path}; check the order id "
                            f"(packcheck history --db {store.path} lists the checked orders)")
    out = Path(out)
    # Refused before the work: a device, pipe or folder at --out, or a database (the evidence itself).
    check_output_path(out, what="the bundle", replace_database=False)
    members: dict[str, bytes] = {}
    checks_json = []
    for rec in records:
        names = []
        for f in rec.photos:
            name = f"photos/check-{rec.id}-{f.position}-{f.sha256[:12]}{f.ext}"
            members[name] = store.read_blob(f)
            names.append({"file": name, "sha256": f.sha256, "source": f.source})
        listing_names = []
        for f in rec.listings:
            name = f"listing/{_safe_name(f.sku or 'item')}-{f.sha256[:12]}{f.ext}"
            members.setdefault(name, store.read_blob(f))
            listing_names.append({"file": name, "sku": f.sku, "sha256": f.sha256, "source": f.source})
        sheet_name = "sheet.png" if rec is records[-1] else f"sheet-check-{rec.id}.png"
        ok, png = cv2.imencode(".png", render_sheet(store, rec))
        if not ok:
            raise EvidenceError(f"could not draw the evidence sheet of check #{rec.id}")
        members[sheet_name] = png.tobytes()
        d = rec.to_dict()
        d.pop("files")
        checks_json.append({**d, "photos": names, "listing_images": listing_names, "sheet": sheet_name})
    latest = records[-1]
    made = utc_now()
    doc = {
        "format": BUNDLE_FORMAT, "order_id": order_id, "made_at": made, "packcheck_version": __version__,
        "database": store.path.name, "latest_check_id": latest.id, "latest_status": latest.status.value,
        "overridden": latest.overridden,
        "shipped_without_evidence": any(r.shipped_without_evidence for r in records), "checks": checks_json,
    }
    members["verdict.json"] = json.dumps(doc, indent=2, ensure_ascii=False, default=str).encode()
    members["README.txt"] = _README.format(order_id=order_id, version=__version__, made=made).encode()
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(members.items()))

    def write_zip(f) -> None:
        with zipfile.ZipFile(f, "w") as z:
            stamp = time.gmtime()[:6]
            for name, data in sorted(members.items()):
                info = zipfile.ZipInfo(name, date_time=stamp)
                already_compressed = name.endswith((".jpg", ".png", ".webp", ".heic"))
                info.compress_type = zipfile.ZIP_STORED if already_compressed else zipfile.ZIP_DEFLATED
                z.writestr(info, data)
            z.writestr(zipfile.ZipInfo("SHA256SUMS", date_time=stamp), sums)

    try:
        atomic_write(out, write_zip, binary=True)
    except OSError as e:
        raise EvidenceError(f"cannot write {out} ({e.strerror or e}); check the folder exists and is writable") \
            from None
    return Bundle(out, tuple(sorted(members)) + ("SHA256SUMS",), len(records))


def verify_bundle(path: str | os.PathLike) -> list[str]:
    """Check every file of an appeal zip against its SHA256SUMS; returns the names verified.

    Raises :class:`BundleMismatch` naming the file when one differs, is missing,
    or is in the zip without a SHA256SUMS line; :class:`EvidenceError` when the
    zip itself cannot be read.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
            if "SHA256SUMS" not in names:
                raise BundleMismatch(f"{path} has no SHA256SUMS file; it is not a packcheck appeal bundle")
            expected: dict[str, str] = {}
            for n, line in enumerate(z.read("SHA256SUMS").decode("utf-8", "replace").splitlines(), 1):
                m = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line.strip())
                if not m:
                    raise BundleMismatch(f"SHA256SUMS line {n} of {path} is malformed: {line[:80]!r}")
                expected[m.group(2)] = m.group(1)
            problems = []
            for name, digest in expected.items():
                if name not in names:
                    problems.append(f"{name} is listed in SHA256SUMS but missing from the bundle")
                    continue
                try:
                    actual = hashlib.sha256(z.read(name)).hexdigest()
                except (zipfile.BadZipFile, OSError, EOFError) as e:  # CRC error of a damaged member
                    problems.append(f"{name} cannot be read ({e})")
                    continue
                if actual != digest:
                    problems.append(f"{name} does not match SHA256SUMS (expected {digest[:16]}..., "
                                    f"found {actual[:16]}...)")
            problems += [f"{n} is in the bundle but not in SHA256SUMS" for n in names
                         if n != "SHA256SUMS" and n not in expected]
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise EvidenceError(f"{path} cannot be read as a zip file ({e})") from None
    if problems:
        raise BundleMismatch(f"{path}: " + "; ".join(problems))
    return sorted(expected)

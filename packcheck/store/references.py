"""Enrolled references: confirmed real photos of a SKU, matched photo-to-photo beside its listing images.

A web-shop image and a packing-bench photo differ in light, camera, angle and
background; the same SKU packed again on the same bench does not. Once a few
packs of a SKU are confirmed, their photos become *references* of that SKU and
the next photos are compared with them too (:mod:`packcheck.core.scoring` scores a
reference row like a listing row, standardised against other references).

They live in the data folder, beside the catalogue::

    references.csv   ref_id,sku,path,order_id,confirmed_by,source,added_utc,photo_sha256
    references/      the photos, named by their SHA-256 (never overwritten)

with their provenance: which order, who confirmed it (a supervisor's name, or
``station NAME`` for a PASS with a clear margin), how (``station_pass`` or
``manual``), when (UTC) and the photo's SHA-256. They are capped per
SKU and kept diverse (a photo nearly the same as one already enrolled is not
added). A wrong reference is visible (the item check names the reference photo
that matched, ``matched_reference``) and removable (:func:`remove_reference`,
``packcheck enrol --remove REF_ID``).
"""
from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..errors import DataError, PackcheckError
from ..util.fsio import atomic_write
from .dataset import read_csv, resolve_inside

REFERENCES = "references.csv"
FOLDER = "references"
SOURCES = ("station_pass", "manual")


@dataclass(frozen=True)
class Reference:
    """One enrolled reference photo and where it came from."""

    ref_id: str  # the first 12 hex digits of the photo's SHA-256
    sku: str
    path: str  # relative to the data folder
    order_id: str
    confirmed_by: str
    source: str  # one of SOURCES
    added_utc: str
    photo_sha256: str


COLUMNS = tuple(f.name for f in fields(Reference))


def load_references(root: Path, *, known_skus=None) -> list[Reference]:
    """The data folder's references (none when ``references.csv`` does not exist).

    A row naming a SKU the catalogue no longer has, or a photo that is gone, is a
    :class:`DataError` naming the row (remove the reference or restore the file).
    """
    path = Path(root) / REFERENCES
    if not path.exists():
        return []
    out = []
    for n, row in read_csv(path, COLUMNS):
        ref = Reference(**{c: row[c] for c in COLUMNS})
        if known_skus is not None and ref.sku not in known_skus:
            raise DataError(f"SKU '{ref.sku}' is not in the catalogue; remove reference {ref.ref_id} with "
                            f"'packcheck enrol --remove {ref.ref_id}'", file=REFERENCES, row=n, field="sku")
        if ref.source not in SOURCES:
            raise DataError(f"'{ref.source}' is not one of {', '.join(SOURCES)}", file=REFERENCES, row=n,
                            field="source")
        photo = resolve_inside(Path(root), ref.path, file=REFERENCES, row=n, field="path")
        if not photo.is_file():
            raise DataError(f"photo {ref.path} does not exist; restore it or remove reference {ref.ref_id}",
                            file=REFERENCES, row=n, field="path")
        out.append(ref)
    return out


def reference_entries(root: Path, references: list[Reference]) -> list[tuple[str, Path, bool]]:
    """The index entries of ``references``: ``(sku, photo path, True)``."""
    return [(r.sku, Path(root) / r.path, True) for r in references]


def _write(root: Path, references: list[Reference]) -> None:
    def write(f):
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for r in references:
            w.writerow([getattr(r, c) for c in COLUMNS])

    atomic_write(Path(root) / REFERENCES, write)


def add_reference(root: Path, sku: str, photo: bytes, *, suffix: str, order_id: str, confirmed_by: str,
                  source: str, references: list[Reference] | None = None) -> Reference:
    """Store ``photo`` under ``references/`` and append its row; returns the new :class:`Reference`.

    Cap and diversity are the caller's to check (:func:`packcheck.apps.enrolment.enrol`
    knows the SKU's fingerprints); this only refuses the same photo twice.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    root = Path(root)
    refs = load_references(root) if references is None else list(references)
    digest = hashlib.sha256(photo).hexdigest()
    same = next((r for r in refs if r.photo_sha256 == digest and r.sku == sku), None)
    if same is not None:
        raise PackcheckError(f"this photo is already reference {same.ref_id} of {sku}")
    rel = f"{FOLDER}/{digest}{suffix.lower()}"
    atomic_write(root / rel, lambda f: f.write(photo), binary=True, overwrite=False)
    ref = Reference(ref_id=digest[:12], sku=sku, path=rel, order_id=order_id, confirmed_by=confirmed_by,
                    source=source, added_utc=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                    photo_sha256=digest)
    _write(root, refs + [ref])
    return ref


def remove_reference(root: Path, ref_id: str) -> Reference:
    """Remove a reference by its id (the photo file stays, as evidence that it was once used)."""
    root = Path(root)
    refs = load_references(root)
    hit = [r for r in refs if r.ref_id == ref_id or r.photo_sha256 == ref_id]
    if not hit:
        raise PackcheckError(f"no reference '{ref_id}' in {root / REFERENCES}; 'packcheck enrol --list' shows them")
    _write(root, [r for r in refs if r not in hit])
    return hit[0]


def as_rows(references: list[Reference]) -> list[dict]:
    """Plain dicts, for JSON and tables."""
    return [asdict(r) for r in references]


def csv_text(references: list[Reference]) -> str:
    """The references as CSV text (what ``enrol --list --csv`` prints)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for r in references:
        w.writerow([getattr(r, c) for c in COLUMNS])
    return buf.getvalue()

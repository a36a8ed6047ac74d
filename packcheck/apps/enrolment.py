"""Enrolment: turning confirmed packing photos into references of their SKU.

Two ways in, both recorded with provenance (:mod:`packcheck.store.references`):

* **by hand**: ``packcheck enrol SKU PHOTO... --data D --by NAME``: someone who
  knows the photos show that SKU;
* **from the station**: a PASS whose item score clears the REVIEW limit by
  ``references.enrol_margin`` and that a *listing image* decided (a PASS decided
  by a reference does not enrol another: a wrong reference must not breed); the
  station does it (:meth:`packcheck.apps.station.Station`, ``--no-enrol`` to stop it).

Every enrolment is capped (``references.max_per_sku``) and kept diverse: a photo
whose located product embeds nearly the same (``references.max_similarity``) as
an enrolled reference of the SKU adds nothing and is skipped.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.fingerprint import fingerprint_reference
from ..core.imaging import load_image
from ..core.verdict import Status, Verdict
from ..errors import PackcheckError
from ..store import index as index_store, references as refs_store


@dataclass(frozen=True)
class Enrolment:
    """What happened to one photo: enrolled as ``reference``, or skipped with ``reason``."""

    photo: str
    sku: str
    reference: refs_store.Reference | None = None
    reason: str | None = None


def enrol(checker, sku: str, photo: str | Path | bytes, *, confirmed_by: str, source: str, order_id: str = "",
          name: str | None = None) -> Enrolment:
    """Enrol one photo of ``sku`` into ``checker``'s data folder (and its index), if it adds something.

    Raises a :class:`PackcheckError` for an unknown SKU or an unreadable photo.
    """
    if sku not in checker.catalogue.items:
        raise PackcheckError(f"SKU '{sku}' is not in the catalogue; check the spelling")
    label = name or (str(photo) if not isinstance(photo, (bytes, bytearray)) else "photo")
    data = bytes(photo) if isinstance(photo, (bytes, bytearray)) else Path(photo).read_bytes()
    image = load_image(data, name=label)
    rules = checker.thresholds.references
    existing = [r for r in checker.references if r.sku == sku]
    same = next((r for r in existing if r.photo_sha256 == image.sha256), None)
    if same is not None:
        return Enrolment(label, sku, reason=f"this photo is already reference {same.ref_id} of {sku}")
    if len(existing) >= rules.max_per_sku:
        return Enrolment(label, sku, reason=f"{sku} has {len(existing)} references already (the cap is "
                                            f"{rules.max_per_sku}); remove one to add another")
    fp = fingerprint_reference(image, locate=checker.thresholds.locate)
    new = fp.embeddings
    rows = [r for r in checker.index.rows_of(sku) if checker.index.references[r]]
    if rows:
        sims = np.einsum("td,rsd->rts", new, np.asarray(checker.index.embeddings[rows])).max(axis=(1, 2))
        top = int(np.argmax(sims))
        if sims[top] >= rules.max_similarity:
            return Enrolment(label, sku, reason=f"nearly the same as reference {Path(checker.index.paths[rows[top]]).stem[:12]} "
                                                f"(similarity {sims[top]:.3f}); not added")
    suffix = Path(label).suffix or (".jpg" if image.format == "JPEG" else f".{image.format.lower()}")
    ref = refs_store.add_reference(checker.root, sku, data, suffix=suffix, order_id=order_id,
                                   confirmed_by=confirmed_by, source=source, references=checker.references)
    index_store.keep_reference_fingerprint(checker.cache_path, image.sha256, fp)  # not fingerprinted twice
    checker.reload_references()
    return Enrolment(label, sku, reference=ref)


def auto_enrol_reason(verdict: Verdict, sku: str, checker) -> str | None:
    """Why a station verdict's photo must not be enrolled for ``sku`` automatically (None: it may be)."""
    if verdict.status is not Status.PASS:
        return "not a PASS"
    item = next((c for c in verdict.checks if c.check == "item" and c.sku == sku), None)
    if item is None or not item.judged or item.value is None:
        return "the item was not judged"
    if item.details.matched_reference:
        return "a reference photo decided it (references are enrolled from listing matches only)"
    if item.value < checker.thresholds.item.review_below + checker.thresholds.references.enrol_margin:
        return "the margin over the REVIEW limit is not clear enough"
    return None

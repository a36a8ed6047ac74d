"""Scoring labelled photos exactly as a verdict would: the API the accuracy benchmark and calibration share.

A *manifest* (``class_id,class_name,coarse_class,kind,path``; ``kind`` is
``iconic`` for a listing image, ``photo`` for a photo to judge, or
``reference`` for a confirmed real photo of the class that is enrolled as a
reference, never judged; paths relative to the manifest) names photos and the
class each shows. :func:`read_manifest` validates one and
:func:`manifest_catalogue` turns its classes into a catalogue (one SKU per
class, the coarse class as product id, so classes of one coarse class are
sibling variants).

Photos are fingerprinted and scored in worker processes started by
:func:`start_pool`; each worker holds a :class:`Context` (the listing index,
the catalogue, the thresholds), opened once by :func:`init_worker` and read
with :func:`worker_context`. :func:`fingerprint_photo_file` fingerprints one
photo; :func:`score_pairs` judges it against every class with exactly the
verdict's code (:func:`packcheck.core.judge.judge_items`, :func:`~packcheck.core.verdict.combine`):
the quality gate, the item and variant checks, what is and is not judged.
:func:`row_features` gives the fused features of a photo against *every* row
(all verified), which calibration fits the fusion to.
"""
from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import checks
from ..core.fingerprint import Fingerprint, fingerprint_photo
from ..core.imaging import load_image
from ..core.judge import PhotoScoring, cascade_decides, embedding_optional, judge_items
from ..core.records import Catalogue, CatalogueItem
from ..core.scoring import Listings, PhotoSet, cheap_scores, finish_scores
from ..core.thresholds import SIGNALS, Thresholds, load_thresholds
from ..core.verdict import combine
from ..errors import DataError
from ..store.dataset import decode_text
from ..store.index import build_index
from ..util.pool import spawn_pool

COLUMNS = ("class_id", "class_name", "coarse_class", "kind", "path")


@dataclass(frozen=True)
class Manifest:
    root: Path
    classes: dict[str, tuple[str, str]]  # class_id -> (class_name, coarse_class)
    iconic: dict[str, list[Path]]
    photos: list[tuple[str, Path]]  # (class_id, path)
    references: dict[str, list[Path]] = field(default_factory=dict)  # class_id -> confirmed real photos

    def entries(self, catalogue: Catalogue | None = None) -> list[tuple]:
        """Index entries: every class's iconic images, then its reference photos ``(cid, path, True)``."""
        cids = list(catalogue.items) if catalogue is not None else list(self.iconic)
        return ([(cid, p) for cid in cids for p in self.iconic.get(cid, [])]
                + [(cid, p, True) for cid in cids for p in self.references.get(cid, [])])


def read_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest; any problem is a DataError naming the row."""
    path = Path(path)
    name = path.name
    try:
        text = decode_text(path.read_bytes(), name)
    except FileNotFoundError:
        raise DataError("does not exist", file=str(path)) from None
    except OSError as e:
        raise DataError(f"cannot be read ({e.strerror or e})", file=str(path)) from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise DataError("is empty", file=name)
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}", file=name, row=1)
    col = {c: header.index(c) for c in COLUMNS}
    root = path.parent
    classes: dict[str, tuple[str, str]] = {}
    iconic: dict[str, list[Path]] = {}
    photos: list[tuple[str, Path]] = []
    references: dict[str, list[Path]] = {}
    absent = []
    for n, rec in enumerate(rows[1:], start=2):
        if not any(v.strip() for v in rec):
            continue
        if len(rec) < len(header):
            raise DataError(f"has {len(rec)} fields, the header has {len(header)}", file=name, row=n)
        get = {c: rec[i].strip() for c, i in col.items()}
        cid = get["class_id"]
        if not cid:
            raise DataError("is empty", file=name, row=n, field="class_id")
        classes.setdefault(cid, (get["class_name"] or cid, get["coarse_class"] or cid))
        p = root / get["path"]
        if not get["path"] or not p.is_file():
            absent.append(f"row {n}: {get['path'] or '(empty)'}")
        if get["kind"] == "iconic":
            iconic.setdefault(cid, []).append(p)
        elif get["kind"] == "photo":
            photos.append((cid, p))
        elif get["kind"] == "reference":
            references.setdefault(cid, []).append(p)
        else:
            raise DataError(f"'{get['kind']}' is not 'iconic', 'photo' or 'reference'", file=name, row=n,
                            field="kind")
    if absent:
        more = f" and {len(absent) - 5} more" if len(absent) > 5 else ""
        raise DataError(f"image file(s) missing: {'; '.join(absent[:5])}{more}", file=name)
    orphans = sorted({c for c, _ in photos if c not in iconic})
    if orphans:
        raise DataError(f"class(es) {', '.join(orphans)} have photos but no iconic image", file=name)
    orphans = sorted(c for c in references if c not in iconic)
    if orphans:
        raise DataError(f"class(es) {', '.join(orphans)} have reference photos but no iconic image", file=name)
    if not photos or len(iconic) < 2:
        raise DataError("needs photos and at least two classes with an iconic image", file=name)
    return Manifest(root, classes, iconic, photos, references)


def manifest_catalogue(m: Manifest) -> Catalogue:
    """The manifest's classes as a catalogue: one SKU per class, coarse class as product id."""
    return Catalogue({
        cid: CatalogueItem(sku=cid, product_id=coarse, title=name, variant=name, listing_images=tuple(m.iconic[cid]))
        for cid, (name, coarse) in m.classes.items() if cid in m.iconic
    })


# ---------------------------------------------------------------- worker processes
@dataclass(frozen=True)
class Context:
    """What a worker scores photos against: the listing index, the catalogue and the thresholds."""

    index: Listings
    catalogue: Catalogue
    thresholds: Thresholds


_CONTEXT: list[Context] = []  # this process's context, set by init_worker


def init_worker(cache: str, entries, catalogue: Catalogue, thresholds_path) -> None:
    """Open this process's :class:`Context` (the pool initializer; call it directly to score in-process)."""
    import cv2

    cv2.setNumThreads(1)
    th = load_thresholds(thresholds_path)
    _CONTEXT[:] = [Context(open_index(entries, cache=cache, thresholds=th), catalogue, th)]


def open_index(entries, *, cache, thresholds: Thresholds, workers: int = 1):
    """The index of ``entries`` (listing images and references) as a checker opens one."""
    return build_index(entries, cache=Path(cache) if cache is not None else None, workers=workers,
                       large_from=thresholds.large_catalogue_rows, locate=thresholds.locate,
                       vote_max_rows=thresholds.search.vote_max_rows)


def worker_context() -> Context:
    """The :class:`Context` :func:`init_worker` opened in this process."""
    if not _CONTEXT:
        raise RuntimeError("no scoring context in this process; call init_worker first")
    return _CONTEXT[0]


def start_pool(workers: int, *, cache: str | Path, entries, catalogue: Catalogue, thresholds_path):
    """A process pool whose every worker holds a :class:`Context` (see :func:`packcheck.util.pool.spawn_pool`)."""
    return spawn_pool(workers, initializer=init_worker, initargs=(str(cache), entries, catalogue, thresholds_path))


def fingerprint_photo_file(path: str) -> tuple[bytes | None, str | None]:
    """A photo's fingerprint as bytes (:meth:`Fingerprint.to_bytes`), or None and the error naming the file.

    Runs where :func:`init_worker` ran: the context's thresholds say how to locate the product.
    """
    try:
        return fingerprint_photo(load_image(path), locate=worker_context().thresholds.locate).to_bytes(), None
    except Exception as e:  # noqa: BLE001 - a bad photo is reported, the run goes on
        return None, f"{path}: {e}"


def score_pairs(fp: Fingerprint, index: Listings, catalogue: Catalogue, th: Thresholds, *, skus=None,
                inlier_cache: dict[int, int] | None = None) -> dict:
    """One photo judged against every class (or ``skus``), as a one-line order of that class would be.

    Returns per class: ``item`` and ``variant`` (each check's value with every signal,
    judged or not; None where the class has no sibling), ``variant_parts`` (colour
    position and lead), ``match`` (the verdict's ranking score, :attr:`Verdict.score`),
    ``verdict`` (its status), ``embedding_ran`` (False where the cascade decided
    without it, :func:`packcheck.core.judge.cascade_decides`: then ``match`` and
    ``verdict`` are the cascade's, ``match_full`` and ``verdict_full`` those with the
    embedding run every time); ``item_cheap`` and ``variant_parts_cheap``, the
    same without the embedding (what calibration fits the cascade's margins to; None
    when the embedding is not fused); and ``nearest``, the class the photo looks most
    like. ``inlier_cache`` (row -> inliers) is reused and filled.
    """
    scoring = PhotoScoring([fp], index, th)
    if inlier_cache is not None:
        scoring.inliers = inlier_cache
    cheap = None
    if embedding_optional(th):
        cheap = PhotoScoring([dataclasses.replace(fp, embeddings=fp.embeddings[:0])], index, th.without_embedding())
        cheap.inliers = scoring.inliers  # keypoint verifications do not depend on the embedding
    item, variant, parts, match, verdicts, ran = {}, {}, {}, {}, {}, {}
    item_cheap, parts_cheap, match_full, verdicts_full = {}, {}, {}, {}
    for cid in (catalogue.items if skus is None else skus):
        results = judge_items((cid,), scoring, catalogue)
        item[cid], variant[cid], parts[cid] = _values(results)
        final = results
        if cheap is not None:
            cheap_results = judge_items((cid,), cheap, catalogue)
            item_cheap[cid], _, parts_cheap[cid] = _values(cheap_results)
            if cascade_decides(cheap_results, th):
                final = cheap_results
        for got, out_match, out_verdict in ((final, match, verdicts), (results, match_full, verdicts_full)):
            verdict = combine(str(cid), got, thresholds_version=th.version,
                              score=checks.match_score(got, th, without_embedding=got is not results))
            out_match[cid] = verdict.score
            out_verdict[cid] = verdict.status.value
        ran[cid] = final is results
    return {"item": item, "variant": variant, "variant_parts": parts, "match": match, "verdict": verdicts,
            "embedding_ran": ran, "match_full": match_full, "verdict_full": verdicts_full,
            "item_cheap": item_cheap if cheap is not None else None,
            "variant_parts_cheap": parts_cheap if cheap is not None else None, "nearest": scoring.nearest()}


def _values(results) -> tuple[float, float | None, tuple[float, float] | None]:
    """The item value, the variant value and the variant's (colour position, lead) of one judged order."""
    by = {r.check: r for r in results}
    ic, vc = by["item"], by.get("variant")
    parts = ((vc.details.colour_position, vc.details.lead) if vc is not None and vc.details is not None else None)
    return ic.value, (vc.value if vc is not None else None), parts


def row_features(fp: Fingerprint, index: Listings, th: Thresholds) -> dict:
    """The fused features of a photo against every row of ``index``, keypoints verified for all rows.

    What calibration fits the fusion to: ``features`` (name -> (rows,) array, see
    :data:`packcheck.core.thresholds.FEATURES`), ``raw`` appearance signals,
    ``cohort`` (per signal and kind: the photo's cohort mean and variance) and
    ``inliers``.
    """
    photo = PhotoSet.of([fp])
    th_all = th.with_signals(SIGNALS)
    cheap = cheap_scores(photo, index, th_all)
    scores = finish_scores(photo, index, th_all, cheap, must_verify=range(len(index)))
    cohort = {}
    for kind, rows in (("", ~index.references), ("reference_", index.references)):
        if rows.any():
            for s, v in cheap.raw.items():
                cohort[kind + s] = (float(v[rows].mean()), float(v[rows].var()))
    return {"features": scores.features, "raw": cheap.raw, "cohort": cohort,
            "inliers": scores.raw.get("keypoints")}

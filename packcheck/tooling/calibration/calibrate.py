"""Fit the item and variant limits of a thresholds file to labelled pairs.

A *pair* is a photo held against the listing of one SKU, labelled ``match``
(genuine: the photo shows that SKU), ``wrong_item`` or ``wrong_variant``
(impostors). Pairs come from a labels CSV plus a data folder, or from a
benchmark manifest (pairs built as ``packcheck bench accuracy`` builds them).

The pipeline, each step a plain function:

1. :func:`read_labels` / :func:`read_manifest_pairs` validate the input
   (:class:`~packcheck.errors.DataError` naming the row on any problem).
2. :func:`score_pairs_of` fingerprints every photo once and scores its pairs with
   the library's own item and variant checks, in two passes: the first collects
   raw signals to re-estimate the normalisation statistics
   (:func:`estimate_normalisation`), the second scores with them.
3. :func:`fit` chooses the limits for a false-flag target; :func:`cross_validate`
   and :func:`bootstrap` say how well they hold.
4. :func:`write_thresholds` writes the TOML that ``load_thresholds`` reads.

:func:`calibrate` runs all of it and returns a :class:`Calibration`.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ... import __version__
from ...core.fingerprint import Fingerprint, PIPELINE_VERSION
from ...core.thresholds import (
    Band, FEATURES, FITTED, Fusion, GENUINE_P, HAND_SET, SCHEMA_VERSION, SIGNALS, STANDARDISED, Thresholds, load_thresholds,
)
from ...errors import DataError, PackcheckError
from ...store.dataset import load_catalogue, read_csv, resolve_inside
from ...store.index import build_index
from ...util.fsio import atomic_write
from .. import evaluate

LABELS = ("match", "wrong_item", "wrong_variant")
IMPOSTORS = ("wrong_variant", "wrong_item")
#: Shares of the false-flag budget given to the item check (the variant check gets the rest).
SHARES = tuple(round(s, 2) for s in np.linspace(0.0, 1.0, 21))
#: Listing images per photo whose keypoint inliers feed the keypoints statistics
#: (all of them when the catalogue has no more; a seeded sample otherwise).
KEYPOINT_STAT_ROWS = 64
#: Limits are written rounded *down* to this step, so rounding never flags more.
LIMIT_STEP = 1e-4


# ====================================================================== inputs
@dataclass(frozen=True)
class PhotoPairs:
    """One photo and the SKUs it is held against, with a label and a source row each."""

    path: Path
    skus: tuple[str, ...]
    labels: tuple[str, ...]
    where: str  # "labels.csv row 7" / "manifest.csv: Lemon/Lemon_001.jpg"
    truth: str | None = None  # the SKU the photo shows (its 'match' label), None if no pair is a match
    group: str = ""  # the product it shows: folds keep a product's photos together


@dataclass(frozen=True)
class Inputs:
    source: Path  # the labels CSV or manifest: its SHA-256 goes into the provenance
    kind: str  # "labels" | "manifest"
    catalogue: object  # packcheck.core.records.Catalogue
    entries: list  # (sku, listing image path) for the index
    photos: tuple[PhotoPairs, ...]
    cache: Path | None = None  # index cache to use (None: a temporary one)
    extra_sources: tuple[Path, ...] = ()

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(LABELS, 0)
        for p in self.photos:
            for lab in p.labels:
                out[lab] += 1
        return out


def read_labels(labels_path: str | Path, data_dir: str | Path, *, cache: Path | None = None) -> Inputs:
    """Read ``photo,sku,label`` rows (photo paths relative to the CSV) against a data folder.

    Every problem is a :class:`DataError` naming the labels file, row and field:
    an unknown label, a missing photo, a SKU not in ``catalogue.csv``, a
    ``wrong_variant`` label for a SKU without sibling variants, the same pair
    labelled twice, an empty file, or labels of one kind only.
    """
    labels_path = Path(labels_path)
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise PackcheckError(f"data folder {data_dir} does not exist")
    catalogue = load_catalogue(data_dir)
    name = labels_path.name
    root = labels_path.parent
    by_photo: dict[Path, dict] = {}
    seen: dict[tuple[Path, str], int] = {}
    first_row = {}
    for row, rec in read_csv(labels_path, ("photo", "sku", "label")):
        label = rec["label"].lower()
        if label not in LABELS:
            raise DataError(f"'{rec['label']}' is not a label; use one of {', '.join(LABELS)}",
                            file=name, row=row, field="label")
        sku = rec["sku"]
        if not sku:
            raise DataError("is empty; give the SKU whose listing the photo is held against",
                            file=name, row=row, field="sku")
        if sku not in catalogue.items:
            raise DataError(f"SKU '{sku}' is not in {data_dir / 'catalogue.csv'}", file=name, row=row, field="sku")
        if label == "wrong_variant" and not catalogue.siblings(sku):
            raise DataError(f"label wrong_variant, but SKU '{sku}' has no sibling variant in catalogue.csv "
                            f"(no other SKU with product_id '{catalogue.items[sku].product_id}'); "
                            "use wrong_item", file=name, row=row, field="label")
        photo = resolve_inside(root, rec["photo"], file=name, row=row, field="photo")
        if not photo.is_file():
            what = "is a folder" if photo.is_dir() else "does not exist"
            raise DataError(f"photo '{rec['photo']}' {what} (paths are relative to {name})",
                            file=name, row=row, field="photo")
        if (photo, sku) in seen:
            raise DataError(f"photo '{rec['photo']}' against SKU '{sku}' is already labelled on row "
                            f"{seen[photo, sku]}", file=name, row=row)
        seen[photo, sku] = row
        first_row.setdefault(photo, row)
        by_photo.setdefault(photo, {})[sku] = label
    if not seen:
        raise DataError("has no labelled pairs (only a header); add rows photo,sku,label", file=name)
    counts = {lab: sum(1 for d in by_photo.values() for v in d.values() if v == lab) for lab in LABELS}
    _need_both_kinds(counts, name)
    photos = []
    for p, d in by_photo.items():
        truth = next((sku for sku, lab in d.items() if lab == "match"), None)
        group = catalogue.items[truth or next(iter(d))].product_id
        photos.append(PhotoPairs(p, tuple(d), tuple(d.values()), f"{name} row {first_row[p]}", truth, group))
    photos = tuple(photos)
    from ...store import references as refs_store

    entries = [(sku, p) for sku, item in catalogue.items.items() for p in item.listing_images]
    entries += refs_store.reference_entries(data_dir, refs_store.load_references(data_dir,
                                                                                 known_skus=catalogue.items))
    return Inputs(labels_path, "labels", catalogue, entries, photos, cache=cache,
                  extra_sources=(data_dir / "catalogue.csv",))


def _need_both_kinds(counts: dict[str, int], name: str) -> None:
    if counts["match"] == 0 or counts["match"] == sum(counts.values()):
        only = next(k for k, v in counts.items() if v)
        raise DataError(f"only one class present: all {sum(counts.values())} pairs are '{only}'; calibration "
                        "needs both 'match' pairs and impostor pairs (wrong_item or wrong_variant)", file=name)


def read_manifest_pairs(manifest_path: str | Path, *, cache: Path | None = None) -> Inputs:
    """Pairs of a benchmark manifest, built as the accuracy benchmark builds them.

    Each photo against its own class (``match``), every other class of its
    ``coarse_class`` (``wrong_variant``: the benchmark's lookalike pairs) and every
    class of another coarse class (``wrong_item``).
    """
    m = evaluate.read_manifest(manifest_path)
    catalogue = evaluate.manifest_catalogue(m)
    coarse = {cid: m.classes[cid][1] for cid in catalogue.items}
    photos = []
    for truth, path in m.photos:
        skus = tuple(catalogue.items)
        labels = tuple("match" if c == truth else "wrong_variant" if coarse[c] == coarse[truth] else "wrong_item"
                       for c in skus)
        # A manifest may name a photo by an absolute path: it is shown as written.
        shown = path.relative_to(m.root) if path.is_relative_to(m.root) else path
        photos.append(PhotoPairs(path, skus, labels, f"{Path(manifest_path).name}: {shown}", truth, coarse[truth]))
    inputs = Inputs(Path(manifest_path), "manifest", catalogue, m.entries(catalogue), tuple(photos), cache=cache)
    _need_both_kinds(inputs.counts(), Path(manifest_path).name)
    return inputs


# ====================================================================== scoring
@dataclass(frozen=True)
class Pairs:
    """Scored pairs, one entry per (photo, SKU); ``variant`` is NaN where the SKU has no sibling."""

    photo: np.ndarray  # int: index into ``photo_names`` (the bootstrap and CV group on it)
    sku: np.ndarray
    label: np.ndarray
    item: np.ndarray
    variant: np.ndarray
    photo_names: tuple[str, ...] = ()
    group: np.ndarray | None = None  # the product each pair's photo shows (None: each photo its own)
    source: np.ndarray | None = None  # which photo set (input) each pair comes from (None: one set)
    #: The item and variant values without the embedding (the cascade's first pass; None: not scored).
    item_cheap: np.ndarray | None = None
    variant_cheap: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.label)

    def take(self, mask) -> "Pairs":
        def cut(a):
            return None if a is None else a[mask]

        return Pairs(self.photo[mask], self.sku[mask], self.label[mask], self.item[mask], self.variant[mask],
                     self.photo_names, cut(self.group), cut(self.source), cut(self.item_cheap),
                     cut(self.variant_cheap))

    @property
    def groups(self) -> np.ndarray:
        """What cross-validation keeps together: the product, else the photo."""
        return self.group if self.group is not None else self.photo.astype(str)

    @property
    def genuine(self) -> np.ndarray:
        return self.label == "match"

    def counts(self) -> dict[str, int]:
        return {lab: int((self.label == lab).sum()) for lab in LABELS}

    @classmethod
    def build(cls, rows: list[tuple[int, str, str, float, float | None]], photo_names=(), *,
              groups=None, sources=None, cheap: tuple[np.ndarray, np.ndarray] | None = None) -> "Pairs":
        """From (photo id, sku, label, item score, variant score or None) tuples; ``groups[photo id]`` is
        the product the photo shows; ``cheap``: the item and variant scores without the embedding."""
        return cls(
            photo=np.array([r[0] for r in rows], np.int64),
            sku=np.array([r[1] for r in rows], object),
            label=np.array([r[2] for r in rows], object),
            item=np.array([r[3] for r in rows], np.float64),
            variant=np.array([np.nan if r[4] is None else r[4] for r in rows], np.float64),
            photo_names=tuple(photo_names),
            group=None if groups is None else np.array([str(groups[r[0]]) for r in rows], object),
            source=None if sources is None else np.array([int(sources[r[0]]) for r in rows], np.int64),
            item_cheap=None if cheap is None else np.asarray(cheap[0], np.float64),
            variant_cheap=None if cheap is None else np.asarray(cheap[1], np.float64),
        )


def _features_worker(path: str):
    """Pass 1: fingerprint a photo; its fused features against every row (all verified) and its cohorts."""
    blob, err = evaluate.fingerprint_photo_file(path)
    if blob is None:
        return None, err, None
    ctx = evaluate.worker_context()
    f = evaluate.row_features(Fingerprint.from_bytes(blob), ctx.index, ctx.thresholds)
    feats = np.stack([np.asarray(f["features"][name], np.float32) for name in FEATURES], axis=1)
    return blob, None, (feats, f["cohort"])


def _pairs_worker(args):
    """Pass 2: a photo's labelled pairs judged with a given fusion: item value and variant parts per SKU."""
    blob, skus, fusion, norm = args
    ctx = evaluate.worker_context()
    th = with_fit(ctx.thresholds, fusion=fusion, normalisation=norm)
    r = evaluate.score_pairs(Fingerprint.from_bytes(blob), ctx.index, ctx.catalogue, th, skus=skus)
    cheap_items, cheap_parts = r["item_cheap"] or {}, r["variant_parts_cheap"] or {}
    return {sku: (r["item"][sku], r["variant_parts"][sku], cheap_items.get(sku), cheap_parts.get(sku))
            for sku in skus}


def with_fit(base: Thresholds, *, fusion: dict | None = None, normalisation: dict | None = None,
             variant_weights: tuple[float, float] | None = None) -> Thresholds:
    """``base`` with a fitted fusion (``{"weights": {...}, "intercept": x}``), normalisation or variant weights."""
    changes = {}
    if fusion is not None:
        changes["fusion"] = Fusion(MappingProxyType(dict(fusion["weights"])), float(fusion["intercept"]))
    if normalisation is not None:
        changes["normalisation"] = MappingProxyType(dict(normalisation))
    if variant_weights is not None:
        changes["variant_colour_weight"], changes["variant_lead_weight"] = map(float, variant_weights)
    return dataclasses.replace(base, **changes)


def estimate_normalisation(per_photo: list[dict[str, tuple[float, float]]], base: Thresholds) -> dict[str, float]:
    """Fixed normalisation statistics: those of the typical photo's cohort, per signal and kind.

    For each standardised signal (and separately for reference rows, prefix
    ``reference_``), ``<signal>_mean`` is the mean over photos of the photo's cohort
    mean and ``<signal>_std`` the root of the mean cohort variance; a kind no photo
    was scored against keeps the base values. They stand in for the cohort where a
    catalogue has fewer than ``min_cohort`` rows of a kind. The cohort settings are
    set by hand and kept from ``base``.

    >>> base = load_thresholds()
    >>> n = estimate_normalisation([{"colour": (1.0, 0.25)}, {"colour": (3.0, 0.25)}], base)
    >>> n["colour_mean"], n["colour_std"]
    (2.0, 0.5)
    """
    norm = dict(base.normalisation)
    keys = {k for p in per_photo for k in p}
    for key in keys:
        means = np.array([p[key][0] for p in per_photo if key in p])
        variances = np.array([p[key][1] for p in per_photo if key in p])
        std = float(np.sqrt(variances.mean()))
        norm[f"{key}_mean"] = float(means.mean())
        # A signal that never varies keeps its old spread.
        norm[f"{key}_std"] = std if std > 1e-9 else float(base.normalisation[f"{key}_std"])
    return norm


def logistic(X: np.ndarray, y: np.ndarray, w: np.ndarray, *, l2: float = 1e-3, iters: int = 100) -> np.ndarray:
    """Weighted L2-regularised logistic regression by Newton's method: (coefficients..., intercept).

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2000, 1)); y = (x[:, 0] + rng.logistic(size=2000) * 0.5 > 0).astype(float)
    >>> float(logistic(x, y, np.ones(2000))[0]) > 1.5
    True
    """
    X1 = np.hstack([X, np.ones((len(X), 1))])
    beta = np.zeros(X1.shape[1])
    reg = l2 * float(w.sum()) * np.r_[np.ones(X.shape[1]), 0.0]
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(X1 @ beta, -50, 50)))
        grad = X1.T @ (w * (p - y)) + reg * beta
        hess = X1.T @ (X1 * (w * p * (1 - p))[:, None]) + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def fit_fusion(features: list[np.ndarray], truth_rows: list[np.ndarray], photos: np.ndarray) -> dict:
    """The fusion weights: logistic regression of "this row shows the photographed product" on the features.

    ``features[i]`` is photo i's (rows, FEATURES) array, ``truth_rows[i]`` its rows
    of the SKU it shows; only the photos in ``photos`` are used. Each photo's genuine
    rows and its impostor rows weigh one photo each, so a catalogue's size does not
    tilt the fit.
    """
    Xs, ys, ws = [], [], []
    for i in photos:
        X = features[i]
        y = np.zeros(len(X))
        y[truth_rows[i]] = 1.0
        if not 0 < y.sum() < len(y):
            continue
        ok = np.isfinite(X).all(axis=1)
        X, y = X[ok], y[ok]
        Xs.append(X)
        ys.append(y)
        ws.append(np.where(y > 0, 1.0 / max(1, y.sum()), 1.0 / max(1, (y == 0).sum())))
    if not Xs:
        raise PackcheckError("no photo shows a catalogue SKU (no 'match' pair): the fusion cannot be fitted")
    beta = logistic(np.vstack(Xs), np.concatenate(ys), np.concatenate(ws))
    return {"weights": {f: round(float(b), 6) for f, b in zip(FEATURES, beta[:-1])},
            "intercept": round(float(beta[-1]), 6)}


def fit_variant_weights(parts: np.ndarray, label: np.ndarray) -> tuple[float, float]:
    """Weights of the variant score's colour position and lead: logistic regression, genuine vs wrong_variant
    pairs (equal total weight). (1, 1) when either kind is missing."""
    ok = np.isfinite(parts).all(axis=1) & np.isin(label, ("match", "wrong_variant"))
    y = (label[ok] == "match").astype(float)
    if not 0 < y.sum() < len(y):
        return 1.0, 1.0
    w = np.where(y > 0, 1.0 / y.sum(), 1.0 / (1 - y).sum())
    beta = logistic(parts[ok], y, w)
    return round(float(beta[0]), 6), round(float(beta[1]), 6)


@dataclass(frozen=True)
class Scored:
    """Every labelled pair scored twice: in-sample, and held out by product.

    ``pairs``: judged with the fusion and variant weights fitted on every photo
    (what the shipped file computes). ``held_out``: each photo judged with the
    fusion and variant weights fitted without its product's photos (its fold of
    :func:`product_folds`), as packcheck meets a product it has never seen.
    """

    pairs: Pairs
    held_out: Pairs
    fusion: dict
    variant_weights: tuple[float, float]
    normalisation: dict[str, float]
    folds: int
    fold_of_group: dict[str, int]


def product_folds(groups: list[str], folds: int, seed: int) -> dict[str, int]:
    """Product -> fold, products shuffled (seeded) and dealt round-robin: a product's photos stay together."""
    names = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(names))
    return {names[j]: i % max(1, folds) for i, j in enumerate(order)}


def score_pairs_of(inputs: "Inputs | list[Inputs]", *, thresholds_path: str | Path | None = None,
                   normalisation: str = "estimate", workers: int | None = None, seed: int = 0, folds: int = 5,
                   progress=None) -> Scored:
    """Score every labelled pair: fit the normalisation and the fusion, then judge the pairs.

    ``inputs`` may be several photo sets (several manifests): each is scored against
    its own catalogue, as a shop would be; the fusion is fitted on all of them
    together and the pairs keep their set (``Pairs.source``), so the limits can be
    held to the target on each set.

    Pass 1 fingerprints each photo and takes its features against every row (all
    verified with keypoints). The fixed normalisation statistics are re-estimated
    (``normalisation="estimate"``) or kept (``"keep"``); the fusion is fitted on
    all photos and, for each of ``folds`` folds of products, on the other folds.
    Pass 2 judges each photo's pairs with the verdict's own code, once with its
    fold's fusion (held out) and once with the full one. Unreadable photos are a
    :class:`DataError` naming them.
    """
    if normalisation not in ("estimate", "keep"):
        raise ValueError(f"normalisation must be 'estimate' or 'keep', got {normalisation!r}")
    sets = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    base = load_thresholds(thresholds_path)
    workers = max(1, workers or os.cpu_count() or 1)
    photos = [(k, p) for k, inp in enumerate(sets) for p in inp.photos]
    groups = [(f"{k}:{p.group}" if len(sets) > 1 else p.group) for k, p in photos]
    fold_of_group = product_folds(groups, folds, seed) if folds >= 2 and len(set(groups)) >= folds else {}
    n_folds = folds if fold_of_group else 0
    n = len(photos)
    total = (3 if n_folds else 2) * n
    done = [0]

    def tick():
        done[0] += 1
        if progress:
            progress(done[0], total)

    with tempfile.TemporaryDirectory(prefix="packcheck-calibrate-") as tmp:
        caches = [inp.cache or Path(tmp) / f"index-{k}.sqlite" for k, inp in enumerate(sets)]

        def each_set(job, make_args):
            """Run ``job`` over every set's photos in that set's own worker pool; results in photo order."""
            out = []
            for k, inp in enumerate(sets):
                args = make_args(k, inp)
                initargs = (str(caches[k]), inp.entries, inp.catalogue, thresholds_path)
                if workers == 1:
                    evaluate.init_worker(*initargs)
                    it = map(job, args)
                    for r in it:
                        out.append(r)
                        tick()
                else:
                    # spawn, not fork: this process has run OpenCV's thread pool while indexing, and a
                    # forked child can inherit one of its locks held (seen: a worker hung on a futex).
                    with evaluate.start_pool(workers, cache=caches[k], entries=inp.entries, catalogue=inp.catalogue,
                                             thresholds_path=thresholds_path) as pool:
                        for r in pool.map(job, args, chunksize=2):
                            out.append(r)
                            tick()
            return out

        truth_rows = []
        for k, inp in enumerate(sets):
            index = evaluate.open_index(inp.entries, cache=caches[k], thresholds=base, workers=workers)
            owners = np.asarray(index.owners)
            truth_rows += [np.flatnonzero(owners == p.truth) if p.truth else np.zeros(0, np.int64)
                           for p in inp.photos]
        first = each_set(_features_worker, lambda k, inp: [str(p.path) for p in inp.photos])
        bad = [f"{p.where}: {err}" for (_, p), (blob, err, _) in zip(photos, first) if blob is None]
        if bad:
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            raise DataError(f"photo(s) cannot be read: {'; '.join(bad[:5])}{more}; fix or remove those rows")
        norm = (estimate_normalisation([r[2][1] for r in first], base) if normalisation == "estimate"
                else dict(base.normalisation))
        feats = [r[2][0] for r in first]
        everyone = np.arange(n)
        full = fit_fusion(feats, truth_rows, everyone)
        fold_fusion = {f: fit_fusion(feats, truth_rows,
                                     np.array([i for i in everyone if fold_of_group[groups[i]] != f]))
                       for f in range(n_folds)}
        blobs = [r[0] for r in first]
        start = np.cumsum([0] + [len(inp.photos) for inp in sets])

        def pass2(fusion_of):
            return each_set(_pairs_worker, lambda k, inp: [
                (blobs[start[k] + j], p.skus, fusion_of(start[k] + j), norm) for j, p in enumerate(inp.photos)])

        scored = pass2(lambda i: full)
        scored_out = pass2(lambda i: fold_fusion[fold_of_group[groups[i]]]) if n_folds else None

    fold_arr = np.array([fold_of_group.get(g, -1) for g in groups])
    source = [k for k, _ in photos]
    names = [p.where for _, p in photos]
    rows, parts = [], []
    for i, (_, p) in enumerate(photos):
        for sku, lab in zip(p.skus, p.labels):
            rows.append((i, sku, lab))
    label = np.array([r[2] for r in rows], object)
    photo = np.array([r[0] for r in rows], np.int64)

    def column(per_photo, k: int, width: int) -> np.ndarray:
        blank = (np.nan,) * width if width > 1 else np.nan
        return np.array([v if (v := per_photo[i][sku][k]) is not None else blank for i, sku, _ in rows],
                        np.float64).reshape(len(rows), -1)

    def build(per_photo, held_out: bool) -> tuple[Pairs, tuple[float, float]]:
        items, cheap_items = column(per_photo, 0, 1)[:, 0], column(per_photo, 2, 1)[:, 0]
        parts, cheap_parts = column(per_photo, 1, 2), column(per_photo, 3, 2)
        variant, cheap_variant = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
        for f in (range(n_folds) if held_out else [None]):
            train = np.ones(len(rows), bool) if f is None else fold_arr[photo] != f
            test = np.ones(len(rows), bool) if f is None else fold_arr[photo] == f
            cw, lw = fit_variant_weights(parts[train], label[train])
            for out, x in ((variant, parts), (cheap_variant, cheap_parts)):
                sel = test & np.isfinite(x).all(axis=1)
                out[sel] = cw * x[sel, 0] + lw * x[sel, 1]
        weights = fit_variant_weights(parts, label)
        pairs = Pairs.build([(i, sku, lab, it, v if np.isfinite(v) else None)
                             for (i, sku, lab), it, v in zip(rows, items, variant)], names, groups=groups,
                            sources=source, cheap=(cheap_items, cheap_variant))
        return pairs, weights

    pairs, vw = build(scored, False)
    held = build(scored_out, True)[0] if n_folds else pairs
    return Scored(pairs, held, full, vw, norm, n_folds, fold_of_group)


# ====================================================================== choosing limits
def limit_at(genuine: np.ndarray, rate: float) -> float | None:
    """The largest limit whose expected false-flag rate on *new* genuine pairs is at most ``rate``.

    Flagging is ``score < limit``. With ``n`` genuine scores and ``k = floor(rate * (n + 1))``,
    the limit is the k-th lowest genuine score: it flags ``k - 1`` of them, and a new
    genuine pair from the same distribution falls below it with probability
    ``k / (n + 1) <= rate`` (order statistics). None when ``k`` is 0, i.e. when there are
    too few genuine pairs for any limit to promise ``rate``.

    >>> limit_at(np.arange(1.0, 20.0), 0.10)  # 19 scores: k = 2, the 2nd lowest
    2.0
    >>> limit_at(np.arange(1.0, 20.0), 0.04) is None  # 0.04 * 20 < 1
    True
    """
    g = np.sort(np.asarray(genuine, np.float64))
    g = g[np.isfinite(g)]
    k = int(math.floor(rate * (len(g) + 1) + 1e-9))
    if len(g) == 0 or k < 1:
        return None
    return float(g[min(k, len(g)) - 1])


def _floor_step(x: float) -> float:
    per = round(1 / LIMIT_STEP)
    return math.floor(x * per) / per


@dataclass(frozen=True)
class CheckFit:
    """The chosen band of one check and the genuine-pair rates it was fitted for."""

    check: str  # "item" | "variant"
    flag_below: float
    review_below: float
    flag_rate: float  # share of this check's genuine pairs the flag limit may flag (expected)
    review_rate: float  # same for review_below (REVIEW or FLAG)
    flags: bool  # False: too few genuine pairs for the budget, the limit is below every score seen
    reviews: bool
    n_genuine: int

    @property
    def band(self) -> Band:
        return Band(self.flag_below, self.review_below)


@dataclass(frozen=True)
class Fit:
    item: CheckFit
    variant: CheckFit | None  # None: no genuine pair has a sibling variant, the variant limits are kept
    item_share: float  # share of the false-flag budget given to the item check
    item_review_share: float  # share of the review budget given to the item check
    target: float
    review_rate: float


def limit_per_source(genuine: np.ndarray, sources: np.ndarray | None, rate: float) -> float | None:
    """:func:`limit_at` held on every photo set: the lowest of each set's limit.

    A limit that keeps the pooled rate at the target can flag far more of one set
    than another (the hardest photos gather in one set); holding each set to the
    target is what "limits that hold on new data" asks of several kinds of photo.
    A set with too few genuine pairs to promise ``rate`` does not constrain it.
    """
    if sources is None:
        return limit_at(genuine, rate)
    limits = [limit_at(genuine[sources == s], rate) for s in np.unique(sources)]
    limits = [x for x in limits if x is not None]
    return min(limits) if limits else None


def _fit_check(check: str, scores: np.ndarray, genuine: np.ndarray, flag_rate: float, review_rate: float,
               sources: np.ndarray | None = None) -> CheckFit:
    ok = genuine & np.isfinite(scores)
    g = scores[ok]
    gs = None if sources is None else sources[ok]
    finite = scores[np.isfinite(scores)]
    never = _floor_step(float(finite.min()) - 1.0)  # below every score seen: this limit never fires
    lf = limit_per_source(g, gs, flag_rate) if flag_rate > 0 else None
    lr = limit_per_source(g, gs, review_rate) if review_rate > 0 else None
    flag_below = never if lf is None else _floor_step(lf)
    review_below = flag_below if lr is None else max(flag_below, _floor_step(lr))
    return CheckFit(check, flag_below, review_below, flag_rate, review_rate, lf is not None,
                    lr is not None and review_below > flag_below, int(len(g)))


def _fit_with_shares(pairs: Pairs, flag_share: float, review_share: float, target: float,
                     review_rate: float) -> Fit:
    gen = pairs.genuine
    n_gen = int(gen.sum())
    has_var = np.isfinite(pairs.variant)
    n_var = int((gen & has_var).sum())
    item = _fit_check("item", pairs.item, gen, flag_share * target, review_share * review_rate, pairs.source)
    if not n_var:
        return Fit(item, None, 1.0, 1.0, target, review_rate)
    # The variant check's rates are over genuine pairs *with siblings*: scaled so
    # that it spends (1 - share) of the budget counted over all genuine pairs.
    scale = n_gen / n_var
    variant = _fit_check("variant", pairs.variant, gen, min(1.0, (1 - flag_share) * target * scale),
                         min(1.0, (1 - review_share) * review_rate * scale), pairs.source)
    return Fit(item, variant, flag_share, review_share, target, review_rate)


def statuses(pairs: Pairs, item: Band, variant: Band | None) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: item status and variant status as 0 PASS, 1 REVIEW, 2 FLAG (variant 0 where absent)."""
    ist = item.levels(pairs.item)
    vst = np.zeros(len(pairs), np.int8) if variant is None else variant.levels(np.nan_to_num(pairs.variant, nan=np.inf))
    return ist, vst


def _objective(pairs: Pairs, fit_: Fit, variant_band: Band | None, worst: int) -> float:
    """Mean over impostor kinds of the share whose verdict is at least ``worst`` (2 FLAG, 1 REVIEW)."""
    ist, vst = statuses(pairs, fit_.item.band, fit_.variant.band if fit_.variant else variant_band)
    verdict = np.maximum(ist, vst)
    shares = [float((verdict[pairs.label == k] >= worst).mean()) for k in IMPOSTORS if (pairs.label == k).any()]
    return float(np.mean(shares)) if shares else 0.0


def fit(pairs: Pairs, *, target: float, review_rate: float | None = None, shares=SHARES,
        variant_band: Band | None = None) -> Fit:
    """Choose the item and variant bands for a verdict-level false-flag ``target``.

    The budget is split between the checks: the item check may flag ``share * target``
    of genuine pairs and the variant check ``(1 - share) * target`` (counted over all
    genuine pairs), so by the union bound a genuine pair is flagged by *either* at
    most ``target`` of the time. Each check's limit is :func:`limit_at` its rate. The
    share (from ``shares``) that flags the largest mean share of wrong-item and
    wrong-variant pairs wins; ties go to the larger item share.

    ``review_below`` is chosen the same way for ``review_rate`` (default
    ``min(0.5, 5 * target)``): REVIEW-or-FLAG reaches at most that share of genuine
    pairs, split between the checks to leave the fewest impostors PASSing.

    ``variant_band`` is the variant band to assume when no genuine pair has a
    sibling (the variant check is then not fitted).
    """
    if not 0 < target < 1:
        raise ValueError(f"target must be in (0, 1), got {target!r}")
    review_rate = default_review_rate(target) if review_rate is None else review_rate
    if not target <= review_rate < 1:
        raise ValueError(f"review_rate must be in [target, 1), got {review_rate!r}")
    if not pairs.genuine.any():
        raise ValueError("no genuine (match) pairs to fit limits to")
    if not np.isfinite(pairs.variant[pairs.genuine]).any():
        shares = (1.0,)
    ordered = sorted(shares, reverse=True)

    def best_of(candidates, worst):
        best, best_value = None, -1.0
        for f in candidates:
            value = _objective(pairs, f, variant_band, worst)
            if value > best_value + 1e-12:
                best, best_value = f, value
        return best

    # Flag limits first (review share 1.0 meanwhile: review bands never change what is FLAGGED) ...
    flag_share = best_of((_fit_with_shares(pairs, s, 1.0, target, review_rate) for s in ordered), 2).item_share
    # ... then the review limits, given the flag limits.
    return best_of((_fit_with_shares(pairs, flag_share, s, target, review_rate) for s in ordered), 1)


def default_review_rate(target: float) -> float:
    """REVIEW-or-FLAG budget on genuine pairs: five times the false-flag target, at most half."""
    return min(0.5, 5 * target)


# ====================================================================== measuring
#: (name, kind of pair, which status, which outcome) of every rate reported.
_KINDS = ("genuine", "wrong_variant", "wrong_item", "impostor")


def _kind_masks(pairs: Pairs) -> dict[str, np.ndarray]:
    return {"genuine": pairs.genuine, "wrong_variant": pairs.label == "wrong_variant",
            "wrong_item": pairs.label == "wrong_item", "impostor": ~pairs.genuine}


def _rate_terms(pairs: Pairs, ist: np.ndarray, vst: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (numerator mask, denominator mask) over pairs, for every rate reported."""
    has_var = np.isfinite(pairs.variant)
    verdict = np.maximum(ist, vst)
    terms = {}
    for kind, m in _kind_masks(pairs).items():
        for check, st, den in (("verdict", verdict, m), ("item", ist, m), ("variant", vst, m & has_var)):
            terms[f"{kind}.{check}.flag"] = (den & (st == 2), den)
            terms[f"{kind}.{check}.review"] = (den & (st == 1), den)
            terms[f"{kind}.{check}.pass"] = (den & (st == 0), den)
    return terms


def rates(pairs: Pairs, ist: np.ndarray, vst: np.ndarray) -> dict[str, float | None]:
    """Every rate (``genuine.verdict.flag`` is the false-flag rate), None where no pair counts."""
    out = {}
    for name, (num, den) in _rate_terms(pairs, ist, vst).items():
        d = int(den.sum())
        out[name] = float(num.sum()) / d if d else None
    return out


def bootstrap(pairs: Pairs, ist: np.ndarray, vst: np.ndarray, *, n_boot: int = 2000, seed: int = 0,
              level: float = 0.95) -> dict[str, tuple[float, float] | None]:
    """Percentile bootstrap intervals of :func:`rates`, resampling *photos* (a photo's pairs move together)."""
    terms = _rate_terms(pairs, ist, vst)
    photos, group = np.unique(pairs.photo, return_inverse=True)
    n_photos = len(photos)
    names = list(terms)
    num = np.stack([np.bincount(group, weights=terms[k][0], minlength=n_photos) for k in names], axis=1)
    den = np.stack([np.bincount(group, weights=terms[k][1], minlength=n_photos) for k in names], axis=1)
    rng = np.random.default_rng(seed)
    samples = []
    for start in range(0, n_boot, 256):
        b = min(256, n_boot - start)
        w = rng.multinomial(n_photos, np.full(n_photos, 1.0 / n_photos), size=b).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            samples.append((w @ num) / (w @ den))
    s = np.concatenate(samples)
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    out = {}
    for j, k in enumerate(names):
        col = s[:, j][np.isfinite(s[:, j])]
        out[k] = (float(np.percentile(col, lo)), float(np.percentile(col, hi))) if len(col) else None
    return out


@dataclass(frozen=True)
class CrossValidation:
    folds: int
    fold_of_photo: dict[int, int]
    per_fold: tuple[dict[str, float | None], ...]  # held-out rates of each fold
    pooled: dict[str, float | None]  # held-out rates over all folds' held-out pairs
    ci: dict[str, tuple[float, float] | None]  # bootstrap interval of the pooled rates
    limits: tuple[tuple[float, float, float | None, float | None], ...]  # per fold: item flag/review, variant


def grouped_folds(ids: np.ndarray, folds: int, seed: int) -> dict:
    """Group id (a photo, or a product) -> fold, shuffled (seeded) and dealt round-robin."""
    uniq = np.unique(ids)
    order = np.random.default_rng(seed).permutation(len(uniq))
    return {(int(uniq[j]) if isinstance(uniq[j], (int, np.integer)) else uniq[j]): i % folds
            for i, j in enumerate(order)}


def cross_validate(pairs: Pairs, *, target: float, review_rate: float, folds: int = 5, seed: int = 0,
                   variant_band: Band | None = None, n_boot: int = 2000) -> CrossValidation | None:
    """k-fold cross-validation grouped by product (by photo where pairs carry no product): fit the limits
    on k-1 folds, measure on the held-out fold, whose products the limits never saw.

    None when there are fewer groups than folds or a training split lacks genuine pairs.
    """
    ids = pairs.groups
    if folds < 2 or len(np.unique(ids)) < folds:
        return None
    fold_of = grouped_folds(ids, folds, seed)
    fold = np.array([fold_of[int(p) if isinstance(p, (int, np.integer)) else p] for p in ids])
    ist = np.zeros(len(pairs), np.int8)
    vst = np.zeros(len(pairs), np.int8)
    per_fold, limits = [], []
    for k in range(folds):
        train, test = pairs.take(fold != k), pairs.take(fold == k)
        if not train.genuine.any():
            return None
        f = fit(train, target=target, review_rate=review_rate, variant_band=variant_band)
        vb = f.variant.band if f.variant else variant_band
        i_k, v_k = statuses(test, f.item.band, vb)
        ist[fold == k], vst[fold == k] = i_k, v_k
        per_fold.append(rates(test, i_k, v_k))
        limits.append((f.item.flag_below, f.item.review_below, vb.flag_below if vb else None,
                       vb.review_below if vb else None))
    return CrossValidation(folds, fold_of, tuple(per_fold), rates(pairs, ist, vst),
                           bootstrap(pairs, ist, vst, n_boot=n_boot, seed=seed), tuple(limits))


# ====================================================================== the cascade
@dataclass(frozen=True)
class CascadeFit:
    """The cascade's margins (see :func:`packcheck.core.judge.cascade_decides`) and what they do.

    ``decided``: per label, the share of pairs the cascade decides without the
    embedding; ``changed``: pairs whose status it changes (0 on the pairs fitted to,
    by construction). ``cv_changed`` / ``cv_pairs``: the same with margins fitted on
    the other product folds, counted on each held-out fold (None: no folds), of which
    ``cv_impostors_passed`` are impostors the embedding would have sent to REVIEW or
    FLAG (the rest are genuine pairs passed that it would have sent to REVIEW).
    """

    item_margin: float
    variant_margin: float
    decided: dict[str, float]
    changed: int
    cv_changed: int | None = None
    cv_pairs: int | None = None
    cv_decided_genuine: float | None = None
    cv_impostors_passed: int | None = None


def _round_up(x: float) -> float:
    """``x`` rounded up to :data:`LIMIT_STEP` (a margin written rounded never lets a fitted pair through)."""
    return round(math.ceil(round(x / LIMIT_STEP, 6)) * LIMIT_STEP, 6)


def _slacks(pairs: Pairs, item: Band, variant: Band) -> tuple[np.ndarray, np.ndarray]:
    """How far each pair's scores without the embedding clear the REVIEW limits: item (-inf where not
    scored) and variant (+inf where the SKU has no sibling: no variant check to clear)."""
    n = len(pairs)
    ic = pairs.item_cheap if pairs.item_cheap is not None else np.full(n, np.nan)
    vc = pairs.variant_cheap if pairs.variant_cheap is not None else np.full(n, np.nan)
    islack = np.where(np.isfinite(ic), ic - item.review_below, -np.inf)
    has_variant = np.isfinite(pairs.variant)
    vslack = np.where(has_variant, np.where(np.isfinite(vc), vc - variant.review_below, -np.inf), np.inf)
    return islack, vslack


def decided_early(pairs: Pairs, item: Band, variant: Band, item_margin: float, variant_margin: float) -> np.ndarray:
    """Per pair: whether the cascade with these margins decides it without the embedding (a PASS)."""
    islack, vslack = _slacks(pairs, item, variant)
    return (islack >= item_margin) & (vslack >= variant_margin)


def fit_cascade(pairs: Pairs, item: Band, variant: Band) -> CascadeFit | None:
    """The smallest margins that change no pair's status, chosen to decide the most genuine pairs early.

    A pair may be decided without the embedding only if, with it, both checks
    PASS. Every other pair must miss one of the margins: for each candidate
    variant margin (0, or just above a pair's variant slack), the item margin is
    just above the largest item slack among the pairs the variant margin lets
    through. The pair of margins that decides the most genuine pairs early wins.
    None when the pairs carry no scores without the embedding.
    """
    if pairs.item_cheap is None or not np.isfinite(pairs.item_cheap).any():
        return None
    islack, vslack = _slacks(pairs, item, variant)
    ist, vst = statuses(pairs, item, variant)
    good = (ist == 0) & (vst == 0)
    bad_i, bad_v = islack[~good], vslack[~good]
    candidates = np.unique(np.concatenate([[0.0], [_round_up(v + LIMIT_STEP) for v in bad_v[np.isfinite(bad_v)]
                                                   if v >= 0]]))
    best = None
    genuine = pairs.genuine & good
    for vm in candidates:
        through = bad_i[bad_v >= vm]
        through = through[np.isfinite(through)]
        im = _round_up(max(0.0, float(through.max()) + LIMIT_STEP) if len(through) else 0.0)
        n = int(((islack >= im) & (vslack >= vm) & genuine).sum())
        if best is None or n > best[0]:
            best = (n, float(im), float(vm))
    _, im, vm = best
    early = decided_early(pairs, item, variant, im, vm)
    decided = {lab: (round(float(early[pairs.label == lab].mean()), 4) if (pairs.label == lab).any() else None)
               for lab in LABELS}
    return CascadeFit(im, vm, decided, int((early & ~good).sum()))


def cross_validate_cascade(pairs: Pairs, fitted: CascadeFit, item: Band, variant: Band, *, folds: int,
                           seed: int) -> CascadeFit:
    """``fitted`` with its held-out figures: margins fitted on k-1 product folds, status changes counted on
    the held-out fold (at the shipped limits, so only the margins differ)."""
    ids = pairs.groups
    if folds < 2 or len(np.unique(ids)) < folds:
        return fitted
    fold_of = grouped_folds(ids, folds, seed)
    fold = np.array([fold_of[int(p) if isinstance(p, (int, np.integer)) else p] for p in ids])
    ist, vst = statuses(pairs, item, variant)
    good = (ist == 0) & (vst == 0)
    changed, impostors, early_genuine = 0, 0, 0
    for k in range(folds):
        f = fit_cascade(pairs.take(fold != k), item, variant)
        if f is None:
            return fitted
        test = fold == k
        early = decided_early(pairs.take(test), item, variant, f.item_margin, f.variant_margin)
        changed += int((early & ~good[test]).sum())
        impostors += int((early & ~good[test] & ~pairs.genuine[test]).sum())
        early_genuine += int((early & pairs.genuine[test]).sum())
    return dataclasses.replace(fitted, cv_changed=changed, cv_pairs=len(pairs), cv_impostors_passed=impostors,
                               cv_decided_genuine=round(early_genuine / max(1, int(pairs.genuine.sum())), 4))


# ====================================================================== the run
@dataclass(frozen=True)
class Calibration:
    """Everything a calibration found: inputs, limits, achieved rates, warnings."""

    pairs: Pairs
    fit: Fit
    item: Band
    variant: Band
    normalisation: dict[str, float]
    base: Thresholds
    achieved: dict[str, float | None]  # in-sample rates at the chosen limits
    ci: dict[str, tuple[float, float] | None]
    cv: CrossValidation | None
    warnings: tuple[str, ...]
    source: Path
    source_sha256: str
    extra_sha256: dict[str, str] = field(default_factory=dict)
    command: str = ""
    seed: int = 0
    seconds: float = 0.0
    version: str = ""
    date: str = ""
    commit: str = "unknown"
    held_out: dict[str, float | None] = field(default_factory=dict)  # rates of the held-out scores at the limits
    held_out_pairs: Pairs | None = None
    fusion_folds: int = 0  # product folds the held-out fusion was fitted on (0: none)
    cascade: CascadeFit | None = None  # the embedding left out of clear PASSes (None: not fitted)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_support(pairs: Pairs, fit_: Fit, target: float) -> list[str]:
    """Warnings where the data cannot support the target (too few genuine pairs) or a check is not fitted."""
    out = []
    n_gen = int(pairs.genuine.sum())
    need = math.ceil(3 / target)
    if n_gen < need:
        out.append(f"only {n_gen} genuine (match) pairs: a false-flag target of {target:g} needs at least {need} "
                   f"(3 / target); the limits rest on the few lowest genuine scores and the rates below are "
                   "uncertain (see the intervals). Label more matching photos or use a looser target.")
    for c in (fit_.item, fit_.variant):
        if c is None:
            continue
        if not c.flags:
            out.append(f"{c.check} check: its share of the budget ({c.flag_rate:.4g} of its {c.n_genuine} genuine "
                       "pairs) is less than one pair, so it never flags (its limit is below every score seen)")
    if fit_.variant is None:
        out.append("variant check not calibrated: no genuine pair has a sibling variant; its limits are kept "
                   "from the base thresholds")
    counts = pairs.counts()
    for k in IMPOSTORS:
        if counts[k] == 0:
            out.append(f"no {k} pairs: the rate at which those are caught is not measured")
    return out


def calibrate(inputs: "Inputs | list[Inputs]", *, target: float, review_rate: float | None = None, folds: int = 5, seed: int = 0,
              workers: int | None = None, thresholds_path: str | Path | None = None, normalisation: str = "estimate",
              n_boot: int = 2000, command: str = "", progress=None) -> Calibration:
    """Score the labelled pairs, choose the limits, measure them (bootstrap, cross-validation)."""
    if not 0 < target < 1:
        raise PackcheckError(f"--target-false-flag must be between 0 and 1 (e.g. 0.01), got {target:g}")
    review_rate = default_review_rate(target) if review_rate is None else review_rate
    if not target <= review_rate < 1:
        raise PackcheckError(f"the review rate must be at least the target ({target:g}) and below 1, "
                             f"got {review_rate:g}")
    t0 = time.perf_counter()
    sets = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    base = load_thresholds(thresholds_path)
    scored = score_pairs_of(inputs, thresholds_path=thresholds_path, normalisation=normalisation,
                            workers=workers, seed=seed, folds=folds, progress=progress)
    fitted = with_fit(base, fusion=scored.fusion, normalisation=scored.normalisation,
                      variant_weights=scored.variant_weights)
    return calibrate_scores(scored.held_out, in_sample=scored.pairs, base=fitted,
                            normalisation=scored.normalisation, target=target, review_rate=review_rate,
                            folds=folds, seed=seed, n_boot=n_boot, source=sets[0].source,
                            extra_sources=tuple(x for inp in sets for x in inp.extra_sources)
                            + tuple(inp.source for inp in sets[1:]),
                            command=command, t0=t0, fusion_folds=scored.folds)


def calibrate_scores(pairs: Pairs, *, base: Thresholds, normalisation: dict[str, float], target: float,
                     review_rate: float, folds: int, seed: int, n_boot: int, source: Path,
                     extra_sources=(), command: str = "", t0: float | None = None,
                     in_sample: Pairs | None = None, fusion_folds: int = 0) -> Calibration:
    """The fitting half of :func:`calibrate`, on pairs already scored.

    ``pairs`` are the held-out scores (each photo scored by a fusion fitted without
    its product): the limits are fitted to them, so they hold for products
    calibration never saw. ``in_sample`` (default: ``pairs``) are the scores of the
    shipped fusion; the rates they give at the limits are reported as achieved,
    the held-out ones beside them, and :func:`cross_validate` refits the limits
    per product fold.
    """
    t0 = time.perf_counter() if t0 is None else t0
    in_sample = pairs if in_sample is None else in_sample
    f = fit(pairs, target=target, review_rate=review_rate, variant_band=base.variant)
    item = f.item.band
    variant = f.variant.band if f.variant else base.variant
    ist, vst = statuses(in_sample, item, variant)
    achieved = rates(in_sample, ist, vst)
    ci = bootstrap(in_sample, ist, vst, n_boot=n_boot, seed=seed)
    hist, hvst = statuses(pairs, item, variant)
    held_out = rates(pairs, hist, hvst)
    cv = cross_validate(pairs, target=target, review_rate=review_rate, folds=folds, seed=seed,
                        variant_band=base.variant, n_boot=n_boot)
    cascade = fit_cascade(pairs, item, variant)
    if cascade is not None:
        cascade = cross_validate_cascade(pairs, cascade, item, variant, folds=folds, seed=seed)
    warnings = check_support(pairs, f, target)
    if cascade is not None and cascade.cv_impostors_passed:
        warnings.append(f"the cascade's margins, fitted without a product fold, passed {cascade.cv_impostors_passed} "
                        f"of {cascade.cv_pairs} held-out pairs that the embedding would have sent to REVIEW or FLAG: "
                        "on new photos it may pass a wrong item; more labelled photos make its margins safer")
    if cv is None and folds >= 2:
        warnings.append(f"cross-validation skipped: {len(np.unique(pairs.groups))} products are too few for "
                        f"{folds} folds (at least one product per fold)")
    elif cv is not None and (cv.pooled["genuine.verdict.flag"] or 0) > target:
        lo, hi = cv.ci["genuine.verdict.flag"] or (float("nan"), float("nan"))
        warnings.append(f"the cross-validated (held-out) false-flag rate {cv.pooled['genuine.verdict.flag']:.4f} "
                        f"is above the target {target:g} (95% CI {lo:.4f}-{hi:.4f}): on new photos the limits may "
                        "flag more genuine pairs than the target")
    sha = sha256_file(source)
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    return Calibration(
        pairs=in_sample, fit=f, item=item, variant=variant, normalisation=normalisation, base=base,
        achieved=achieved, ci=ci, cv=cv, held_out=held_out, held_out_pairs=pairs, fusion_folds=fusion_folds,
        cascade=cascade, warnings=tuple(warnings), source=Path(source), source_sha256=sha,
        extra_sha256={str(p): sha256_file(p) for p in extra_sources if Path(p).is_file()},
        command=command, seed=seed, seconds=time.perf_counter() - t0,
        version=f"cal-{now:%Y%m%d-%H%M}-{sha[:8]}-t{target:g}", date=now.isoformat(), commit=source_commit(),
    )


# ====================================================================== writing
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(k: str) -> str:
    return k if _BARE_KEY.match(k) else _toml_str(k)


def _toml_str(s: str) -> str:
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if v is None:
        raise ValueError("TOML has no null; leave the key out")
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def toml_dumps(doc: dict, *, header: str = "", comments: dict[str, str] | None = None) -> str:
    """A small TOML writer for nested dicts of scalars and lists of scalars (None values are left out).

    ``comments`` maps a dotted key (``"locate.min_item_fraction"``) to a comment written after its value.

    >>> import tomllib
    >>> text = toml_dumps({"a": 1, "t": {"x": 0.5, "s": 'q"uote', "sub": {"l": [1, 2]}}})
    >>> tomllib.loads(text) == {"a": 1, "t": {"x": 0.5, "s": 'q"uote', "sub": {"l": [1, 2]}}}
    True
    """
    lines = [f"# {line}".rstrip() for line in header.splitlines()]

    def emit(table: dict, path: list[str]):
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict) and v is not None}
        subtables = {k: v for k, v in table.items() if isinstance(v, dict)}
        if path:
            lines.append("")
            lines.append("[" + ".".join(_toml_key(p) for p in path) + "]")
        for k, v in scalars.items():
            note = (comments or {}).get(".".join(path + [k]))
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}" + (f"  # {note}" if note else ""))
        for k, v in subtables.items():
            emit(v, path + [k])

    emit(doc, [])
    return "\n".join(lines) + "\n"


def _r(x: float | None, nd: int = 4):
    return None if x is None else round(float(x), nd)


def _rate_block(r: dict, ci: dict | None = None) -> dict:
    """The provenance summary of a rate table (and its intervals)."""
    keys = {
        "false_flag": "genuine.verdict.flag",
        "genuine_review": "genuine.verdict.review",
        "item_false_flag": "genuine.item.flag",
        "variant_false_flag": "genuine.variant.flag",
        "wrong_item_flagged": "wrong_item.verdict.flag",
        "wrong_item_passed": "wrong_item.verdict.pass",
        "wrong_variant_flagged": "wrong_variant.verdict.flag",
        "wrong_variant_passed": "wrong_variant.verdict.pass",
        "variant_check_flags_wrong_variant": "wrong_variant.variant.flag",
    }
    out = {}
    for short, name in keys.items():
        out[short] = _r(r.get(name))
        if ci is not None and ci.get(name) is not None:
            out[f"{short}_ci95"] = [_r(ci[name][0]), _r(ci[name][1])]
    return out


def thresholds_document(cal: Calibration) -> dict:
    """The thresholds TOML as a dict: the base file's settings, the fitted limits and the provenance."""
    b = cal.base
    f = cal.fit
    prov: dict = {
        "tool": "packcheck calibrate",
        "packcheck_version": __version__,
        "date": cal.date,
        "command": cal.command,
        "input": str(cal.source),
        "input_sha256": cal.source_sha256,
        "base_thresholds": b.version,
        "target_false_flag": cal.fit.target,
        "review_rate": cal.fit.review_rate,
        "item_share_of_flag_budget": f.item_share,
        "item_share_of_review_budget": f.item_review_share,
        "seed": cal.seed,
        "pairs": cal.pairs.counts(),
        "photos": int(len(np.unique(cal.pairs.photo))),
        "genuine_pairs_with_siblings": int((cal.pairs.genuine & np.isfinite(cal.pairs.variant)).sum()),
        "method": ("fusion: logistic regression of 'this row shows the photographed product' on the features "
                   "of every row (all verified with keypoints), each photo's genuine and impostor rows weighing "
                   "one photo each; variant weights: logistic regression of colour position and lead, genuine vs "
                   "wrong_variant pairs; limits: fitted to held-out scores (each photo scored by a fusion and "
                   "variant weights fitted without its product): flag_below the k-th lowest genuine score, "
                   "k = floor(rate * (n + 1)), rate = the check's share of the target; review_below the same at "
                   "review_rate; budget split between item and variant (union bound) to flag the most "
                   "impostors; normalisation: the typical photo's cohort mean/std of each appearance signal, "
                   "per kind of row. See calibration/README.md."),
        "fusion_folds": cal.fusion_folds,
    }
    if cal.extra_sha256:
        prov["other_inputs_sha256"] = dict(cal.extra_sha256)
    prov["item"] = {"flags": f.item.flags, "reviews": f.item.reviews, "flag_rate": _r(f.item.flag_rate, 6),
                    "genuine_pairs": f.item.n_genuine}
    if f.variant is not None:
        prov["variant"] = {"flags": f.variant.flags, "reviews": f.variant.reviews,
                           "flag_rate": _r(f.variant.flag_rate, 6), "genuine_pairs": f.variant.n_genuine}
    else:
        prov["variant"] = {"calibrated": False}
    prov["achieved"] = _rate_block(cal.achieved, cal.ci)
    if cal.cv is not None:
        cv = _rate_block(cal.cv.pooled, cal.cv.ci)
        cv["folds"] = cal.cv.folds
        cv["false_flag_per_fold"] = [_r(r["genuine.verdict.flag"]) for r in cal.cv.per_fold]
        prov["cross_validation"] = cv
    if cal.warnings:
        prov["warnings"] = list(cal.warnings)
    if cal.held_out:
        prov["held_out_by_product"] = _rate_block(cal.held_out)
    c = cal.cascade
    if c is not None:
        prov["cascade"] = {
            "method": "margins: the smallest that change no held-out pair's status (item and variant checks "
                      "judged without the embedding must clear their REVIEW limits by them), chosen to decide "
                      "the most genuine pairs early",
            "decided_early": {k: v for k, v in c.decided.items() if v is not None}, "changed": c.changed,
            **({"cv_changed": c.cv_changed, "cv_impostors_passed": c.cv_impostors_passed, "cv_pairs": c.cv_pairs,
                "cv_decided_genuine": c.cv_decided_genuine} if c.cv_changed is not None else {})}
    n = cal.normalisation
    held = cal.held_out_pairs if cal.held_out_pairs is not None else cal.pairs
    stats = {f"{prefix}{s}_{st}": round(float(n[f"{prefix}{s}_{st}"]), 6)
             for prefix in ("", "reference_") for s in STANDARDISED for st in ("mean", "std")}
    return {
        "schema_version": SCHEMA_VERSION,
        "version": cal.version,
        "pipeline_version": PIPELINE_VERSION,
        "commit": cal.commit,
        "fusion": {**{f: float(b.fusion.weights[f]) for f in FEATURES}, "intercept": float(b.fusion.intercept)},
        "geometry": {f.name: getattr(b.geometry, f.name) for f in dataclasses.fields(b.geometry)},
        "references": {f.name: getattr(b.references, f.name) for f in dataclasses.fields(b.references)},
        "normalisation": {"min_cohort": int(n["min_cohort"]), "max_cohort": int(n["max_cohort"]),
                          "large_catalogue_cohort": int(n["large_catalogue_cohort"]),
                          "min_std_share": float(n["min_std_share"]), **stats},
        "search": {f.name: getattr(b.search, f.name) for f in dataclasses.fields(b.search)},
        "item": {"flag_below": cal.item.flag_below, "review_below": cal.item.review_below,
                 "genuine_quantiles": genuine_quantiles(held.item[held.genuine], b.item)},
        "variant": {"colour_weight": float(b.variant_colour_weight), "lead_weight": float(b.variant_lead_weight),
                    "flag_below": cal.variant.flag_below, "review_below": cal.variant.review_below,
                    "genuine_quantiles": genuine_quantiles(held.variant[held.genuine], b.variant)},
        "quality": {"min_brightness": b.min_brightness, "min_sharpness": b.min_sharpness,
                    "min_side_px": b.min_side_px},
        "count": {"review_short_by": b.count_review_short_by, "flag_short_by": b.count_flag_short_by},
        **({"weight": {f.name: getattr(b.weight, f.name) for f in dataclasses.fields(b.weight)}}
           if b.weight is not None else {}),
        "locate": {f.name: getattr(b.locate, f.name) for f in dataclasses.fields(b.locate)},
        "duplicates": {f.name: getattr(b.duplicates, f.name) for f in dataclasses.fields(b.duplicates)},
        **({"cascade": {"item_margin": c.item_margin, "variant_margin": c.variant_margin,
                        "item_genuine_quantiles": genuine_quantiles(held.item_cheap[held.genuine], b.item),
                        "variant_genuine_quantiles": genuine_quantiles(held.variant_cheap[held.genuine],
                                                                       b.variant)}}
           if c is not None else {}),
        "provenance": prov,
    }


def genuine_quantiles(scores: np.ndarray, base: Band) -> list[float]:
    """A check's genuine scores at the probabilities :data:`GENUINE_P` (the base file's when too few)."""
    g = np.asarray(scores, np.float64)
    g = g[np.isfinite(g)]
    if len(g) < 10:
        return list(base.genuine_quantiles)
    q = np.quantile(g, GENUINE_P)
    return [round(float(v), 6) for v in np.maximum.accumulate(q)]


#: What every thresholds file says about its numbers (written after the command line).
THRESHOLDS_HEADER = (
    "Numbers marked 'fitted' were fitted to the labelled photos above: recalibrate rather than edit them.\n"
    "Numbers marked 'set by hand' are copied from the base thresholds file; each says why it is what it is.\n"
    "pipeline_version and commit: the fingerprints the fitted numbers were fitted on; packcheck warns\n"
    "when it computes another pipeline version.")


def thresholds_comments() -> dict[str, str]:
    """The comment on each line of a thresholds file: fitted, or set by hand and why."""
    notes = {k: "fitted" for k in FITTED}
    notes.update({k: f"set by hand: {why}" for k, why in HAND_SET.items()})
    notes["pipeline_version"] = "the fingerprint pipeline (packcheck.core.fingerprint.PIPELINE_VERSION) fitted on"
    notes["commit"] = "the packcheck commit calibration ran at"
    return notes


def source_commit() -> str:
    """The git commit of the packcheck source that is running ("unknown" outside a git checkout)."""
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def write_thresholds(cal: Calibration, path: str | Path) -> Path:
    """Write the thresholds TOML (via a temporary file, so a crash never leaves half a file)."""
    path = Path(path)
    header = (f"Written by 'packcheck calibrate' on {cal.date}.\n"
              f"Command: {cal.command}\n" + THRESHOLDS_HEADER)
    text = toml_dumps(thresholds_document(cal), header=header, comments=thresholds_comments())
    atomic_write(path, lambda f: f.write(text))
    load_thresholds(path)  # what we wrote must read back
    return path


# ====================================================================== printing
def _pct(x: float | None) -> str:
    return "  n/a" if x is None else f"{100 * x:5.1f}%"


def _ci(c) -> str:
    return "" if c is None else f" [{100 * c[0]:.1f}, {100 * c[1]:.1f}]"


SUMMARY_RATES = (
    ("false flags (genuine FLAG)", "genuine.verdict.flag"),
    ("genuine sent to REVIEW", "genuine.verdict.review"),
    ("  item check false flags", "genuine.item.flag"),
    ("  variant check false flags", "genuine.variant.flag"),
    ("wrong item FLAGGED", "wrong_item.verdict.flag"),
    ("wrong item passed", "wrong_item.verdict.pass"),
    ("wrong variant FLAGGED", "wrong_variant.verdict.flag"),
    ("wrong variant passed", "wrong_variant.verdict.pass"),
)


def format_summary(cal: Calibration) -> str:
    """The calibration as plain text: limits, achieved rates with intervals, cross-validation, warnings."""
    c = cal.pairs.counts()
    f = cal.fit
    lines = [f"input: {cal.source} (sha256 {cal.source_sha256[:12]}...)",
             f"pairs: {c['match']} match, {c['wrong_variant']} wrong_variant, {c['wrong_item']} wrong_item "
             f"({len(np.unique(cal.pairs.photo))} photos)",
             f"target: at most {cal.fit.target:g} of genuine pairs flagged; REVIEW-or-FLAG at most "
             f"{cal.fit.review_rate:g}; item check's share of the flag budget {f.item_share:.2f}, of the review "
             f"budget {f.item_review_share:.2f}",
             "",
             f"item     flag_below {cal.item.flag_below:+.4f}  review_below {cal.item.review_below:+.4f}"
             + ("" if f.item.flags else "  (never flags)"),
             f"variant  flag_below {cal.variant.flag_below:+.4f}  review_below {cal.variant.review_below:+.4f}"
             + ("  (kept: not calibrated)" if f.variant is None else ("" if f.variant.flags else "  (never flags)")),
             ""]
    head = f"{'rate':30s} {'achieved [95% CI]':>22s}"
    if cal.held_out:
        head += f"   {'held out by product':>20s}"
    if cal.cv is not None:
        head += f"   {f'{cal.cv.folds}-fold CV by product [95% CI]':>32s}"
    lines += [head, "-" * len(head)]
    for label, key in SUMMARY_RATES:
        row = f"{label:30s} {_pct(cal.achieved[key]) + _ci(cal.ci.get(key)):>22s}"
        if cal.held_out:
            row += f"   {_pct(cal.held_out.get(key)):>20s}"
        if cal.cv is not None:
            row += f"   {_pct(cal.cv.pooled[key]) + _ci(cal.cv.ci.get(key)):>32s}"
        lines.append(row)
    if cal.cv is not None:
        per = ", ".join(_pct(r["genuine.verdict.flag"]).strip() for r in cal.cv.per_fold)
        lines.append(f"false flags per held-out fold: {per}")
    n = cal.normalisation
    lines.append("")
    lines.append("normalisation: " + ", ".join(f"{s} {n[f'{s}_mean']:.3f}±{n[f'{s}_std']:.3f}" for s in STANDARDISED))
    fu = cal.base.fusion
    lines.append("fusion (log-odds per unit): " + ", ".join(f"{k} {v:+.3f}" for k, v in fu.weights.items())
                 + f", intercept {fu.intercept:+.3f}; variant: colour {cal.base.variant_colour_weight:+.3f}, "
                 f"lead {cal.base.variant_lead_weight:+.3f}")
    c = cal.cascade
    if c is not None:
        lines.append(f"cascade: item margin {c.item_margin:.4f}, variant margin {c.variant_margin:.4f}: decides "
                     + ", ".join(f"{_pct(v).strip()} of {k}" for k, v in c.decided.items() if v is not None)
                     + " pairs without the embedding"
                     + (f"; fitted without each product fold: {c.cv_changed} of {c.cv_pairs} held-out pairs "
                        f"changed ({c.cv_impostors_passed} impostors passed), "
                        f"{_pct(c.cv_decided_genuine).strip()} of genuine decided early"
                        if c.cv_changed is not None else ""))
    for w in cal.warnings:
        lines.append(f"WARNING: {w}")
    return "\n".join(lines)

"""Scores of a photo against every listing image, normalised and fused.

Four raw signals compare the photo's fingerprint with each listing image:

===========  ==========================================================  =========
signal       raw value (higher = more alike)                              cost
===========  ==========================================================  =========
embedding    cosine similarity, best photo crop                          one matmul
colour       minus the Hellinger distance of masked Lab histograms       one matmul
hash         minus the share of differing bits (pHash, dHash, aHash,     popcounts
             wHash at the best quarter-turn, colour hash)
keypoints    RANSAC-verified SIFT matches (log)                          per image
===========  ==========================================================  =========

Raw values are not comparable across photos: a dim, cluttered photo is a little
like everything. So each signal is normalised against the *cohort*: the photo's
own scores against the catalogue's listing images (a z-score; with a catalogue
too small to be a cohort, fixed statistics from the thresholds file are used).
Keypoints are normalised with fixed statistics always, because they are only
computed for a shortlist: the ordered SKU, its sibling variants, and the listing
images the cheap signals rank highest.

The fused score is the weighted mean of the normalised signals (weights from the
thresholds file; 0 turns a signal off). It is computed the same way for every
listing image, so "which catalogue item does this look like" is an argmax.

A large catalogue (an index with ``coarse`` vectors, see :mod:`packcheck.core.search`)
is searched in two passes: the cheap signals are approximated for every listing
image from its coarse vector, and only the best :data:`~packcheck.core.search.CANDIDATES`
of them, the ordered SKU's and its siblings' images and a fixed cohort sample
get the exact signals above. The other rows' fused score is ``-inf`` (their raw
and normalised signals NaN): they are not in the running.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from . import colour, hashing, keypoints, search
from .fingerprint import Fingerprint
from .search import Coarse
from .thresholds import SIGNALS, Thresholds

_HASH_BITS = 4 * 64 + 14 * 3


class Listings(Protocol):
    """The listing images a photo is scored against: row ``i`` of every array is image ``i``.

    The store layer's :class:`packcheck.store.index.ListingIndex` implements it; the
    pipeline only reads these fields, and reads a listing image's keypoints through
    :meth:`keypoints` (the store reads them from disk on first use).
    """

    owners: Sequence[str]  # the SKU (or class) each image belongs to
    paths: Sequence[str]
    embeddings: np.ndarray  # (N, 4 turns, D) float32
    sqrt_hists: np.ndarray  # (N, HIST_SIZE) float32, square-rooted colour histograms
    labs: np.ndarray  # (N, 3) dominant colour
    hashes: np.ndarray  # (N, 4 turns, 4) uint64
    colour_hashes: np.ndarray  # (N, 14) uint8
    owner_ids: np.ndarray  # (N,) row -> place of its owner in owner_names
    owner_names: Sequence[str]
    coarse: Coarse | None  # set for a large catalogue (see packcheck.core.search)

    def __len__(self) -> int: ...

    def rows_of(self, owner: str) -> list[int]: ...

    def owner_id(self, owner: str) -> int: ...

    def keypoints(self, row: int) -> keypoints.Keypoints: ...


@dataclass(frozen=True)
class PhotoSet:
    """All photos of one order, pooled: the best crop/region of any photo counts."""

    embeddings: np.ndarray
    hists: np.ndarray
    labs: np.ndarray  # (R, 3) dominant colour per region
    hashes: np.ndarray  # (R, 4)
    colour_hashes: np.ndarray  # (R, 14)
    keypoints: tuple[keypoints.Keypoints, ...]

    @classmethod
    def of(cls, fps: list[Fingerprint], view: int = 0) -> "PhotoSet":
        """Pool the photos' rows of one view: 0 = everything located, k = the k-th separate item.

        Keypoints always cover the whole located area (RANSAC picks out the item).
        """
        rows = [f.view_rows(view) if view < f.n_views else ([], []) for f in fps]
        return cls(
            embeddings=np.concatenate([f.embeddings[e] for f, (e, _) in zip(fps, rows)]),
            hists=np.concatenate([f.hists[r] for f, (_, r) in zip(fps, rows)]),
            labs=np.concatenate([f.labs[r] for f, (_, r) in zip(fps, rows)]),
            hashes=np.concatenate([f.hashes[r] for f, (_, r) in zip(fps, rows)]),
            colour_hashes=np.concatenate([f.colour_hashes[r] for f, (_, r) in zip(fps, rows)]),
            keypoints=tuple(f.keypoints for f in fps),
        )


@dataclass(frozen=True)
class Scores:
    """Per listing image: raw and normalised signals, the fused score, which rows were verified."""

    raw: dict[str, np.ndarray]  # NaN for a row a large catalogue's search did not score
    z: dict[str, np.ndarray]  # NaN likewise
    fused: np.ndarray  # -inf likewise: never the nearest anything
    verified: np.ndarray  # bool: keypoints computed for this row

    def row(self, i: int) -> dict[str, float]:
        return {s: float(self.z[s][i]) for s in self.z}


def cheap_signals(photo: PhotoSet, index: Listings, thresholds: Thresholds) -> dict[str, np.ndarray]:
    """Raw embedding, colour and hash similarities against every listing image (vectorised)."""
    if index.coarse is not None:
        raise ValueError("a large catalogue's index holds no full embeddings; score it with score_photo")
    return _signals(photo, thresholds.weights, index.embeddings, index.sqrt_hists, index.hashes,
                    index.colour_hashes)


def _signals(photo: PhotoSet, w, embeddings: np.ndarray, sqrt_hists: np.ndarray, hashes: np.ndarray,
             colour_hashes: np.ndarray) -> dict[str, np.ndarray]:
    """The raw signals against the listing rows given as arrays (all of them, or a block)."""
    raw: dict[str, np.ndarray] = {}
    n = len(hashes)
    if w.get("embedding", 0) > 0:
        if len(photo.embeddings) == 0:
            raise ValueError("the embedding signal is on but the photo has no embedding")
        # Best photo crop against the best quarter-turn of each listing image.
        sims = photo.embeddings @ embeddings.reshape(-1, embeddings.shape[-1]).T
        raw["embedding"] = sims.max(axis=0).reshape(n, -1).max(axis=1)
    if w.get("colour", 0) > 0:
        raw["colour"] = -colour.hellinger_distance(photo.hists, sqrt_hists)
    if w.get("hash", 0) > 0:
        raw["hash"] = _hash_similarity(photo, hashes, colour_hashes)
    for s in raw:
        raw[s] = np.asarray(raw[s], np.float64).reshape(n)
    return raw


def _hash_similarity(photo: PhotoSet, hashes: np.ndarray, colour_hashes: np.ndarray) -> np.ndarray:
    # (R, 1, 1, 4) vs (1, N, 4 turns, 4): best turn per listing, best region per photo.
    structural = hashing.hamming(photo.hashes[:, None, None, :], hashes[None]).sum(axis=-1).min(axis=2)
    colour_bits = hashing.colour_hash_distance(photo.colour_hashes[:, None, :], colour_hashes[None])
    return -((structural + colour_bits).min(axis=0) / _HASH_BITS)


def _spread(values: np.ndarray, signal: str, thresholds: Thresholds) -> tuple[float, float]:
    """Mean and standard deviation of a cohort's values."""
    std = float(values.std())
    # Never let a cohort of near-identical images blow small differences up.
    floor = thresholds.normalisation["min_std_share"] * thresholds.normalisation[f"{signal}_std"]
    return float(values.mean()), max(std, floor)


def keypoint_z(inliers: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    norm = thresholds.normalisation
    return (np.log1p(inliers) - norm["keypoints_mean"]) / norm["keypoints_std"]


def score_photo(
    photo: PhotoSet,
    index: Listings,
    thresholds: Thresholds,
    *,
    must_verify: list[int] = (),
    inlier_cache: dict[int, int] | None = None,
) -> Scores:
    """Score a photo against every listing image of the index.

    Parameters
    ----------
    must_verify : listing rows that get keypoint verification whatever their cheap
        rank (the ordered SKU's images and its siblings').
    inlier_cache : optional dict (row -> inliers) kept by the caller to avoid
        verifying the same pair twice (the benchmark scores many orders per photo).
    """
    if index.coarse is not None:
        return _score_candidates(photo, index, thresholds, must_verify=must_verify, inlier_cache=inlier_cache)
    return finish_scores(photo, index, thresholds, cheap_scores(photo, index, thresholds),
                         must_verify=must_verify, inlier_cache=inlier_cache)


def cheap_scores(photo: PhotoSet, index: Listings, thresholds: Thresholds) -> tuple[dict, dict]:
    """The part of :func:`score_photo` that does not depend on the order: raw and normalised cheap signals.

    A caller judging one photo against many orders (the accuracy benchmark) computes
    it once and passes it to :func:`finish_scores` for each order.
    """
    raw = cheap_signals(photo, index, thresholds)
    # A fixed, evenly spread sample of the rows: the same cohort for every photo.
    cohort = cohort_sample(len(index), thresholds)
    return raw, _standardise(raw, None if cohort is None else {s: v[cohort] for s, v in raw.items()}, thresholds)


def finish_scores(photo: PhotoSet, index: Listings, thresholds: Thresholds, cheap: tuple[dict, dict], *,
                  must_verify=(), inlier_cache: dict[int, int] | None = None) -> Scores:
    """Keypoint verification of the shortlist and the fused score, from :func:`cheap_scores`."""
    raw, z = dict(cheap[0]), dict(cheap[1])
    w = thresholds.weights
    n = len(index)
    verified = np.zeros(n, bool)
    if w.get("keypoints", 0) > 0:
        cheap = _fuse(z, w, n)
        k = min(n, thresholds.shortlist)
        shortlist = set(np.argsort(-cheap, kind="stable")[:k].tolist()) | set(must_verify)
        rows = sorted(shortlist)
        inliers = np.zeros(n, np.float64)
        inliers[rows] = _inliers(photo, index, rows, inlier_cache)
        verified[rows] = True
        raw["keypoints"] = inliers
        z["keypoints"] = keypoint_z(inliers, thresholds)
    ordered = {s: z[s] for s in SIGNALS if s in z}
    return Scores(raw=raw, z=ordered, fused=_fuse(ordered, w, n), verified=verified)


def _inliers(photo: PhotoSet, index: Listings, rows: list[int], inlier_cache: dict[int, int] | None) -> list[int]:
    """Keypoint inliers of the order's best photo against each listing row, each pair verified once."""
    cache = inlier_cache if inlier_cache is not None else {}
    todo = [r for r in rows if r not in cache]
    if todo:
        listing_kps = [index.keypoints(r) for r in todo]
        best = np.zeros(len(todo), np.int32)
        for kp in photo.keypoints:
            best = np.maximum(best, keypoints.count_inliers(kp, listing_kps))
        cache.update(zip(todo, best.tolist()))
    return [cache[r] for r in rows]


def cohort_sample(n: int, thresholds: Thresholds, *, cap: int | None = None) -> np.ndarray | None:
    """The rows a catalogue of ``n`` images normalises against (None: too few, fixed statistics).

    The exact path's cohort: all rows, or ``max_cohort`` evenly spaced ones. ``cap``
    lowers that size further (a large catalogue's first pass uses
    the thresholds' ``normalisation.large_catalogue_cohort``).
    """
    norm = thresholds.normalisation
    if n < norm["min_cohort"]:
        return None
    size = min(int(norm["max_cohort"]), cap if cap is not None else n)
    return np.linspace(0, n - 1, size).astype(int) if n > size else np.arange(n)


def _standardise(values: dict[str, np.ndarray], cohort_values: dict[str, np.ndarray] | None,
                 thresholds: Thresholds) -> dict[str, np.ndarray]:
    norm = thresholds.normalisation
    z = {}
    for s, v in values.items():
        if cohort_values is None:
            mean, std = norm[f"{s}_mean"], norm[f"{s}_std"]
        else:
            mean, std = _spread(cohort_values[s], s, thresholds)
        z[s] = (v - mean) / std
    return z


def _score_candidates(photo: PhotoSet, index: Listings, thresholds: Thresholds, *,
                      must_verify, inlier_cache) -> Scores:
    """:func:`score_photo` for a large catalogue: a coarse pass over every row, exact scores for a few."""
    n = len(index)
    w = thresholds.weights
    coarse = index.coarse
    cohort = cohort_sample(n, thresholds, cap=int(thresholds.normalisation["large_catalogue_cohort"]))
    # First pass: approximate cheap signals for every row, fused as the exact ones are.
    first: dict[str, np.ndarray] = {}
    if w.get("embedding", 0) > 0:
        first["embedding"] = search.embedding_similarity(photo.embeddings, coarse.basis, coarse.embedding)
    if w.get("colour", 0) > 0:
        first["colour"] = search.colour_similarity(photo.hists, coarse.basis, coarse.colour)
    if w.get("hash", 0) > 0:
        first["hash"] = _hash_similarity(photo, index.hashes, index.colour_hashes)
    # The fused first-pass score, up to terms the same for every row (ranking is all it is for).
    approx = np.zeros(n, np.float32)
    for s, v in first.items():
        if cohort is None:
            std = thresholds.normalisation[f"{s}_std"]
        else:
            std = _spread(v[cohort], s, thresholds)[1]
        approx += np.multiply(v, np.float32(w[s] / std), dtype=np.float32)
    must = np.asarray(sorted(set(int(r) for r in must_verify)), np.int64)
    cohort_rows = cohort if cohort is not None else np.zeros(0, np.int64)
    rows = np.unique(np.concatenate([search.top_k(approx, search.CANDIDATES), must, cohort_rows]))
    # Second pass: exact signals for those rows. Every cohort row is among them; their
    # full rows stay in memory (in row order, as the cohort is), the others are read.
    in_cohort = np.isin(rows, cohort_rows, assume_unique=True)
    raw_rows = {s: np.empty(len(rows), np.float64) for s in first}
    for sel in (in_cohort, ~in_cohort):
        picked = rows[sel]
        if len(picked) == 0:
            continue
        emb, sq = coarse.rows.pinned(cohort_rows) if sel is in_cohort else coarse.rows.get(picked)
        block = _block_signals(photo, w, emb, sq, index.hashes[picked], index.colour_hashes[picked])
        for s, v in block.items():
            raw_rows[s][sel] = v
    where = np.searchsorted(rows, cohort_rows)
    z_rows = _standardise(raw_rows, None if cohort is None else {s: v[where] for s, v in raw_rows.items()},
                          thresholds)
    m = len(rows)
    verified_rows = np.zeros(m, bool)
    if w.get("keypoints", 0) > 0:
        cheap = _fuse(z_rows, w, m)
        k = min(m, thresholds.shortlist)
        pos = sorted(set(np.argsort(-cheap, kind="stable")[:k].tolist())
                     | set(np.searchsorted(rows, must).tolist()))
        inliers = np.zeros(m, np.float64)
        inliers[pos] = _inliers(photo, index, rows[pos].tolist(), inlier_cache)
        verified_rows[pos] = True
        raw_rows["keypoints"] = inliers
        z_rows["keypoints"] = keypoint_z(inliers, thresholds)
    ordered = {s: z_rows[s] for s in SIGNALS if s in z_rows}
    fused_rows = _fuse(ordered, w, m)

    def spread(v: np.ndarray, fill: float) -> np.ndarray:
        out = np.full(n, fill)
        out[rows] = v
        return out

    verified = np.zeros(n, bool)
    verified[rows] = verified_rows
    return Scores(raw={s: spread(v, np.nan) for s, v in raw_rows.items()},
                  z={s: spread(v, np.nan) for s, v in ordered.items()},
                  fused=spread(fused_rows, -np.inf), verified=verified)


def _block_signals(photo: PhotoSet, w, emb: np.ndarray, sqrt_hists: np.ndarray, hashes: np.ndarray,
                   colour_hashes: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`_signals` for a block of rows, the embedding product by :func:`search.gemm` (values equal
    to float32 rounding)."""
    raw = {}
    m = len(emb)
    if w.get("embedding", 0) > 0:
        sims = search.gemm(emb.reshape(-1, emb.shape[-1]), photo.embeddings.T)  # (m * turns, crops)
        raw["embedding"] = sims.reshape(m, -1).max(axis=1).astype(np.float64)
    rest = {s: v for s, v in w.items() if s != "embedding"}
    raw.update(_signals(photo, rest, emb, sqrt_hists, hashes, colour_hashes))
    return raw


def _fuse(z: dict[str, np.ndarray], weights, n: int) -> np.ndarray:
    total = np.zeros(n, np.float64)
    wsum = 0.0
    for s, v in z.items():
        ws = float(weights.get(s, 0.0))
        if ws > 0:
            total += ws * v
            wsum += ws
    return total / wsum if wsum else total


def nearest_other(values: np.ndarray, index: Listings, *, exclude=()) -> tuple[str | None, float, int]:
    """The owner (SKU) with the best value among all but ``exclude``: (owner, value, row).

    Ties go to the owner indexed first, then to its first row: what a loop over the
    other owners in index order, each owner's best row by ``np.argmax``, then
    ``np.argmax`` over the owners gives. ``(None, -inf, -1)`` when no other owner has images.
    """
    keep = np.ones(len(index.owner_names), bool)
    for o in exclude:
        k = index.owner_id(o)
        if k >= 0:
            keep[k] = False
    row = search.best_row(values, index.owner_ids, keep)
    if row < 0:
        return None, float("-inf"), -1
    return index.owners[row], float(values[row]), row


def item_score(own: float, best_other: float) -> float:
    """The item check's score: how well the ordered SKU matches, plus its lead over the best other SKU.

    Both halves are in the fused z units. The first says "this looks like the
    listing at all"; the second, "and more like it than like anything else in the
    catalogue" (a lookalike or a sibling variant makes it negative). With no other
    SKU to compare, the lead is taken as 0.
    """
    lead = own - best_other if np.isfinite(best_other) else 0.0
    return float(own + lead)

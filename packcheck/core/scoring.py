"""Scores of a photo against every listing image: normalised signals fused into log-odds.

A *row* is a listing image of a SKU, or a *reference*: a confirmed real photo of
the SKU enrolled from earlier packs (see :mod:`packcheck.store.references`),
matched photo-to-photo. Raw signals compare the photo's fingerprint with each row:

===========  ==========================================================  =========
signal       raw value (higher = more alike)                              cost
===========  ==========================================================  =========
embedding    cosine similarity, best photo crop vs best quarter-turn     one matmul
colour       minus the Hellinger distance of masked Lab histograms       one matmul
hash         minus the share of differing bits (pHash, dHash, aHash,     popcounts
             wHash at the best quarter-turn, colour hash)
keypoints    RANSAC-verified SIFT matches (inliers)                      per row
===========  ==========================================================  =========

Raw appearance values are not comparable across photos (a dim, cluttered photo is
a little like everything), so embedding, colour and hash are standardised
against the photo's *cohort*: its own scores against the catalogue's rows of the
same kind (listing images against listing images, references against
references; with too few rows, fixed statistics from the thresholds file).

**Geometry decides when it is conclusive.** Keypoints are verified for a
shortlist that no single signal chooses alone: the ordered SKU and its
siblings, the rows each signal ranks highest, and the rows a catalogue-wide
keypoint vote (:class:`~packcheck.core.keypoints.VoteIndex`) ranks highest; a
small catalogue is verified whole. Two geometric features enter the fusion: the
inlier count (``log1p``) and the row's *dominance*, its ``log1p`` inliers minus
the best of any other SKU's, which says "this print, and no other SKU's, is in
the photo". A row with at least ``conclusive_inliers`` inliers and
``conclusive_ratio`` times the inliers of every other SKU is *conclusive*: it
gets the fixed ``conclusive_bonus``, which outranks any appearance evidence.

**Fusion** is a logistic model: ``fused = intercept + sum(weight * feature) (+
bonus)``, the log-odds that the row shows the photographed product, its weights
fitted by ``packcheck calibrate`` on genuine and impostor rows. Each term
(:attr:`Scores.evidence`) is that signal's contribution, so a verdict can say
which signal decided.

A large catalogue (an index with ``coarse`` vectors, see :mod:`packcheck.core.search`)
is searched in two passes: the cheap signals are approximated for every row from
its coarse vector, and only the best :data:`~packcheck.core.search.CANDIDATES` of
them, the ordered SKU's and its siblings' rows and a fixed cohort sample get the
exact signals above. The other rows' fused score is ``-inf`` (their raw and
normalised signals NaN): they are not in the running.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from . import colour, hashing, keypoints, search
from .fingerprint import Fingerprint
from .search import Coarse
from .thresholds import FEATURES, Thresholds

_HASH_BITS = 4 * 64 + 14 * 3
#: The appearance signals, standardised against the cohort.
CHEAP = ("embedding", "colour", "hash")


class Listings(Protocol):
    """The rows a photo is scored against: row ``i`` of every array is image ``i``.

    The store layer's :class:`packcheck.store.index.ListingIndex` implements it; the
    pipeline only reads these fields, and reads a row's keypoints through
    :meth:`keypoints` (the store reads them from disk on first use).
    """

    owners: Sequence[str]  # the SKU (or class) each image belongs to
    paths: Sequence[str]
    references: np.ndarray  # (N,) bool: a confirmed real photo of the SKU, not a listing image
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

    def vote_index(self) -> keypoints.VoteIndex | None: ...


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
class Cheap:
    """The part of a photo's scores that does not depend on the order: raw and standardised
    appearance signals against every row (NaN where a large catalogue's search did not score)."""

    raw: dict[str, np.ndarray]
    z: dict[str, np.ndarray]
    rows: np.ndarray | None = None  # a large catalogue: the candidate rows scored; None: all rows


@dataclass(frozen=True)
class Scores:
    """Per row: raw signals, the fused features, each signal's log-odds contribution and the sum.

    ``features`` holds the fused inputs by name (:data:`~packcheck.core.thresholds.FEATURES`):
    the standardised appearance signals, ``keypoints`` (``log1p`` inliers) and
    ``geometry`` (dominance over the best other SKU's inliers). ``evidence`` is
    ``weight * feature``; ``fused`` is ``intercept + sum(evidence) + bonus`` (log-odds).
    """

    raw: dict[str, np.ndarray]  # appearance similarities; "keypoints": inliers
    features: dict[str, np.ndarray]
    evidence: dict[str, np.ndarray]
    fused: np.ndarray  # -inf for a row not scored: never the nearest anything
    verified: np.ndarray  # bool: keypoints computed for this row
    conclusive: np.ndarray  # bool: geometry decided this row (the bonus was added)

    def row(self, i: int) -> dict[str, float]:
        """The features of row ``i`` by name."""
        return {s: float(v[i]) for s, v in self.features.items()}

    def evidence_row(self, i: int) -> dict[str, float]:
        """Each signal's log-odds contribution to row ``i`` (geometry's includes a conclusive bonus)."""
        return {s: float(v[i]) for s, v in self.evidence.items()}


# ---------------------------------------------------------------- raw appearance signals
def _signals(photo: PhotoSet, on: dict[str, bool], embeddings: np.ndarray, sqrt_hists: np.ndarray,
             hashes: np.ndarray, colour_hashes: np.ndarray) -> dict[str, np.ndarray]:
    """The raw appearance signals that are ``on``, against the rows given as arrays (all, or a block)."""
    raw: dict[str, np.ndarray] = {}
    n = len(hashes)
    if on.get("embedding"):
        if len(photo.embeddings) == 0:
            raise ValueError("the embedding signal is on but the photo has no embedding")
        # Best photo crop against the best quarter-turn of each row.
        sims = photo.embeddings @ embeddings.reshape(-1, embeddings.shape[-1]).T
        raw["embedding"] = sims.max(axis=0).reshape(n, -1).max(axis=1)
    if on.get("colour"):
        raw["colour"] = -colour.hellinger_distance(photo.hists, sqrt_hists)
    if on.get("hash"):
        raw["hash"] = _hash_similarity(photo, hashes, colour_hashes)
    for s in raw:
        raw[s] = np.asarray(raw[s], np.float64).reshape(n)
    return raw


def _hash_similarity(photo: PhotoSet, hashes: np.ndarray, colour_hashes: np.ndarray) -> np.ndarray:
    # (R, 1, 1, 4) vs (1, N, 4 turns, 4): best turn per listing, best region per photo.
    structural = hashing.hamming(photo.hashes[:, None, None, :], hashes[None]).sum(axis=-1).min(axis=2)
    colour_bits = hashing.colour_hash_distance(photo.colour_hashes[:, None, :], colour_hashes[None])
    return -((structural + colour_bits).min(axis=0) / _HASH_BITS)


def _on(thresholds: Thresholds) -> dict[str, bool]:
    return {s: thresholds.signal_on(s) for s in CHEAP}


def cheap_scores(photo: PhotoSet, index: Listings, thresholds: Thresholds) -> Cheap:
    """Raw and standardised appearance signals against every row: the order-independent part of
    :func:`score_photo`. A caller judging one photo against many orders (the accuracy benchmark)
    computes it once and passes it to :func:`finish_scores` for each order."""
    if index.coarse is not None:
        raise ValueError("a large catalogue's index holds no full embeddings; score it with score_photo")
    raw = _signals(photo, _on(thresholds), index.embeddings, index.sqrt_hists, index.hashes,
                   index.colour_hashes)
    return Cheap(raw, standardise(raw, index.references, thresholds))


def _spread(values: np.ndarray, key: str, thresholds: Thresholds) -> tuple[float, float]:
    """Mean and standard deviation of a cohort's values, the spread floored (see ``min_std_share``)."""
    std = float(values.std())
    # Never let a cohort of near-identical images blow small differences up.
    floor = thresholds.normalisation["min_std_share"] * thresholds.normalisation[f"{key}_std"]
    return float(values.mean()), max(std, floor)


def cohort_sample(n: int, thresholds: Thresholds, *, cap: int | None = None) -> np.ndarray | None:
    """The rows a set of ``n`` rows normalises against (None: too few, fixed statistics).

    All rows, or ``max_cohort`` evenly spaced ones; ``cap`` lowers that size further
    (a large catalogue's first pass uses ``normalisation.large_catalogue_cohort``).
    """
    norm = thresholds.normalisation
    if n < norm["min_cohort"]:
        return None
    size = min(int(norm["max_cohort"]), cap if cap is not None else n)
    return np.linspace(0, n - 1, size).astype(int) if n > size else np.arange(n)


def standardise(raw: dict[str, np.ndarray], references: np.ndarray, thresholds: Thresholds, *,
                cohort: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Each appearance signal as a z-score against the cohort of rows of its own kind.

    Listing rows are standardised against listing rows, references against
    references: a photo is more like every photo taken on its bench than like any
    web-shop image, and that shared part must not count as evidence for the SKUs
    that happen to have references. A kind with fewer rows than
    ``normalisation.min_cohort`` uses the fixed ``[reference_]<signal>_mean/_std``.
    ``cohort`` (positions in the arrays) names the cohort rows explicitly (a large
    catalogue's fixed sample); by default it is :func:`cohort_sample` of each kind.
    """
    norm = thresholds.normalisation
    n = len(references)
    z = {s: np.full(n, np.nan) for s in raw}
    for is_ref, prefix in ((False, ""), (True, "reference_")):
        rows = np.flatnonzero(references == is_ref)
        if len(rows) == 0:
            continue
        if cohort is None:
            picked = cohort_sample(len(rows), thresholds)
            picked = None if picked is None else rows[picked]
        else:
            picked = np.asarray(cohort)[references[np.asarray(cohort)] == is_ref]
            picked = picked if len(picked) >= norm["min_cohort"] else None
        for s, v in raw.items():
            key = prefix + s
            if picked is None:
                mean, std = norm[f"{key}_mean"], norm[f"{key}_std"]
            else:
                mean, std = _spread(v[picked], key, thresholds)
            z[s][rows] = (v[rows] - mean) / std
    return z


# ---------------------------------------------------------------- fusion
def fuse(features: dict[str, np.ndarray], thresholds: Thresholds) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each feature's log-odds contribution and their sum plus the intercept (bonus not included)."""
    w = thresholds.fusion
    evidence = {s: w.weights[s] * v for s, v in features.items() if w.weights.get(s, 0.0) != 0.0}
    n = len(next(iter(features.values()))) if features else 0
    total = np.full(n, w.intercept)
    for v in evidence.values():
        total = total + v
    return evidence, total


def _cheap_rank(z: dict[str, np.ndarray], thresholds: Thresholds) -> np.ndarray:
    """The fused score of the appearance signals alone (the keypoint terms are not known yet)."""
    return fuse({s: np.nan_to_num(v, nan=-1e9) for s, v in z.items()}, thresholds)[1]


def excess_inliers(inliers: np.ndarray) -> np.ndarray:
    """Inliers beyond the :data:`~packcheck.core.keypoints.HOMOGRAPHY_SAMPLE` points any homography fits."""
    return np.maximum(np.asarray(inliers, np.float64) - keypoints.HOMOGRAPHY_SAMPLE, 0.0)


def geometry(inliers: np.ndarray, owner_ids: np.ndarray, n_owners: int, thresholds: Thresholds
             ) -> tuple[np.ndarray, np.ndarray]:
    """Each row's dominance (``log1p`` inliers minus the best of any other SKU's) and whether it is conclusive.

    Examples
    --------
    >>> from packcheck.core.thresholds import load_thresholds
    >>> dom, concl = geometry(np.array([60.0, 3.0, 0.0]), np.array([0, 1, 2]), 3, load_thresholds())
    >>> concl.tolist(), bool(dom[0] > 0 > dom[1])
    ([True, False, False], True)
    """
    g = thresholds.geometry
    best, _ = search.group_max(inliers, owner_ids, n_owners)
    best = np.where(np.isfinite(best), best, 0.0)
    order = np.argsort(-best, kind="stable")
    top, second = (best[order[0]], best[order[1]]) if n_owners > 1 else (best[order[0]], 0.0)
    other_best = np.where(owner_ids == order[0], second, top)
    # A homography fits any 4 matches exactly: only the inliers beyond that minimal
    # sample are evidence (4 "inliers" out of 6 ratio-test matches are noise).
    dominance = np.log1p(excess_inliers(inliers)) - np.log1p(excess_inliers(other_best))
    conclusive = (inliers >= g.conclusive_inliers) & (inliers >= g.conclusive_ratio * other_best)
    return dominance, conclusive


def _finish(photo: PhotoSet, index: Listings, thresholds: Thresholds, raw: dict, z: dict, rows: np.ndarray,
            verify: list[int], inlier_cache: dict[int, int] | None) -> tuple[dict, dict, dict, np.ndarray,
                                                                             np.ndarray, np.ndarray]:
    """Keypoints for the rows to ``verify`` (positions in ``rows``), then features and fusion over ``rows``."""
    m = len(rows)
    features = {s: z[s] for s in CHEAP if s in z}
    raw = dict(raw)
    verified = np.zeros(m, bool)
    conclusive = np.zeros(m, bool)
    if thresholds.signal_on("keypoints"):
        inliers = np.zeros(m, np.float64)
        if verify:
            inliers[verify] = _inliers(photo, index, rows[verify].tolist(), inlier_cache)
            verified[verify] = True
        owner_ids = np.asarray(index.owner_ids)[rows]
        dominance, conclusive = geometry(inliers, owner_ids, len(index.owner_names), thresholds)
        raw["keypoints"] = inliers
        features["keypoints"] = np.log1p(excess_inliers(inliers))
        features["geometry"] = dominance
    evidence, fused = fuse(features, thresholds)
    if conclusive.any():
        bonus = thresholds.geometry.conclusive_bonus * conclusive
        fused = fused + bonus
        evidence["geometry"] = evidence.get("geometry", np.zeros(m)) + bonus
    return raw, features, evidence, fused, verified, conclusive


def score_photo(photo: PhotoSet, index: Listings, thresholds: Thresholds, *, must_verify=(),
                inlier_cache: dict[int, int] | None = None) -> Scores:
    """Score a photo against every row of the index.

    Parameters
    ----------
    must_verify : rows that get keypoint verification whatever their rank (the ordered
        SKU's rows and its siblings').
    inlier_cache : optional dict (row -> inliers) kept by the caller to avoid
        verifying the same pair twice (the benchmark scores many orders per photo).
    """
    if index.coarse is not None:
        return _score_candidates(photo, index, thresholds, must_verify=must_verify, inlier_cache=inlier_cache)
    return finish_scores(photo, index, thresholds, cheap_scores(photo, index, thresholds),
                         must_verify=must_verify, inlier_cache=inlier_cache)


def shortlist(photo: PhotoSet, index: Listings, thresholds: Thresholds, z: dict[str, np.ndarray], *,
              must_verify=(), votes: np.ndarray | None = None) -> list[int]:
    """The rows to verify with keypoints: every row of a small catalogue; otherwise the ordered SKU's
    and siblings' rows and the ``search.shortlist`` rows each ranking puts first (the fused appearance
    score, each appearance signal alone, and the catalogue-wide keypoint vote)."""
    n = len(index)
    if verifies_all(index, thresholds):
        return list(range(n))
    k = min(n, thresholds.search.shortlist)
    rows = set(int(r) for r in must_verify)
    rankings = [_cheap_rank(z, thresholds)] + [np.nan_to_num(v, nan=-np.inf) for v in z.values()]
    if votes is None:
        votes = keypoint_votes(photo, index)
    if votes is not None:
        rankings.append(np.where(votes > 0, votes, -np.inf))
    for r in rankings:
        top = search.top_k(r, k)
        rows.update(int(t) for t in top if np.isfinite(r[t]))
    return sorted(rows)


def verifies_all(index: Listings, thresholds: Thresholds) -> bool:
    """A catalogue small enough to verify every row: no shortlist, so no keypoint vote is needed."""
    return len(index) <= thresholds.search.verify_all_rows


def keypoint_votes(photo: PhotoSet, index: Listings) -> np.ndarray | None:
    """Votes per row from the catalogue-wide keypoint index (None: the catalogue has none)."""
    vi = index.vote_index()
    if vi is None:
        return None
    return np.max([vi.votes(kp) for kp in photo.keypoints], axis=0) if photo.keypoints else None


def finish_scores(photo: PhotoSet, index: Listings, thresholds: Thresholds, cheap: Cheap, *,
                  must_verify=(), inlier_cache: dict[int, int] | None = None,
                  votes: np.ndarray | None = None) -> Scores:
    """Keypoint verification of the shortlist, the geometric features and the fused score."""
    n = len(index)
    rows = np.arange(n)
    verify = (shortlist(photo, index, thresholds, cheap.z, must_verify=must_verify, votes=votes)
              if thresholds.signal_on("keypoints") else [])
    raw, features, evidence, fused, verified, conclusive = _finish(
        photo, index, thresholds, cheap.raw, cheap.z, rows, verify, inlier_cache)
    return Scores(raw=raw, features=features, evidence=evidence, fused=fused, verified=verified,
                  conclusive=conclusive)


def _inliers(photo: PhotoSet, index: Listings, rows: list[int], inlier_cache: dict[int, int] | None) -> list[int]:
    """Keypoint inliers of the order's best photo against each row, each pair verified once."""
    cache = inlier_cache if inlier_cache is not None else {}
    todo = [r for r in rows if r not in cache]
    if todo:
        listing_kps = [index.keypoints(r) for r in todo]
        best = np.zeros(len(todo), np.int32)
        for kp in photo.keypoints:
            best = np.maximum(best, keypoints.count_inliers(kp, listing_kps))
        cache.update(zip(todo, best.tolist()))
    return [cache[r] for r in rows]


def _score_candidates(photo: PhotoSet, index: Listings, thresholds: Thresholds, *,
                      must_verify, inlier_cache) -> Scores:
    """:func:`score_photo` for a large catalogue: a coarse pass over every row, exact scores for a few."""
    n = len(index)
    on = _on(thresholds)
    coarse = index.coarse
    cap = int(thresholds.normalisation["large_catalogue_cohort"])
    cohort = cohort_sample(n, thresholds, cap=cap)
    # First pass: approximate appearance signals for every row, fused as the exact ones are.
    first: dict[str, np.ndarray] = {}
    if on["embedding"]:
        first["embedding"] = search.embedding_similarity(photo.embeddings, coarse.basis, coarse.embedding)
    if on["colour"]:
        first["colour"] = search.colour_similarity(photo.hists, coarse.basis, coarse.colour)
    if on["hash"]:
        first["hash"] = _hash_similarity(photo, index.hashes, index.colour_hashes)
    # The fused first-pass score, up to terms the same for every row (ranking is all it is for).
    approx = np.zeros(n, np.float32)
    for s, v in first.items():
        std = (thresholds.normalisation[f"{s}_std"] if cohort is None
               else _spread(v[cohort], s, thresholds)[1])
        approx += np.multiply(v, np.float32(thresholds.fusion.weights[s] / std), dtype=np.float32)
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
        block = _block_signals(photo, on, emb, sq, index.hashes[picked], index.colour_hashes[picked])
        for s, v in block.items():
            raw_rows[s][sel] = v
    z_rows = standardise(raw_rows, np.asarray(index.references)[rows], thresholds,
                         cohort=np.searchsorted(rows, cohort_rows) if cohort is not None else np.zeros(0, np.int64))
    m = len(rows)
    verify: list[int] = []
    if thresholds.signal_on("keypoints"):
        k = min(m, thresholds.search.shortlist)
        verify = sorted(set(search.top_k(_cheap_rank(z_rows, thresholds), k).tolist())
                        | set(np.searchsorted(rows, must).tolist()))
    raw_rows, features, evidence, fused_rows, verified_rows, conclusive_rows = _finish(
        photo, index, thresholds, raw_rows, z_rows, rows, verify, inlier_cache)

    def spread(v: np.ndarray, fill) -> np.ndarray:
        out = np.full(n, fill, dtype=np.asarray(v).dtype if fill is False else np.float64)
        out[rows] = v
        return out

    return Scores(raw={s: spread(v, np.nan) for s, v in raw_rows.items()},
                  features={s: spread(v, np.nan) for s, v in features.items()},
                  evidence={s: spread(v, np.nan) for s, v in evidence.items()},
                  fused=spread(fused_rows, -np.inf), verified=spread(verified_rows, False),
                  conclusive=spread(conclusive_rows, False))


def _block_signals(photo: PhotoSet, on: dict[str, bool], emb: np.ndarray, sqrt_hists: np.ndarray,
                   hashes: np.ndarray, colour_hashes: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`_signals` for a block of rows, the embedding product by :func:`search.gemm` (values equal
    to float32 rounding)."""
    raw = {}
    m = len(emb)
    if on.get("embedding"):
        sims = search.gemm(emb.reshape(-1, emb.shape[-1]), photo.embeddings.T)  # (m * turns, crops)
        raw["embedding"] = sims.reshape(m, -1).max(axis=1).astype(np.float64)
    raw.update(_signals(photo, {**on, "embedding": False}, emb, sqrt_hists, hashes, colour_hashes))
    return raw


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


__all__ = ["CHEAP", "FEATURES", "Cheap", "Listings", "PhotoSet", "Scores", "cheap_scores", "cohort_sample",
           "finish_scores", "fuse", "geometry", "keypoint_votes", "nearest_other", "score_photo", "shortlist",
           "standardise", "verifies_all"]

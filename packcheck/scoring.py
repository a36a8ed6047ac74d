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
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import hashing, keypoints
from .fingerprint import Fingerprint
from .index import ListingIndex
from .thresholds import SIGNALS, Thresholds

_HASH_BITS = 4 * 64 + 14 * 3


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

    raw: dict[str, np.ndarray]
    z: dict[str, np.ndarray]
    fused: np.ndarray
    verified: np.ndarray  # bool: keypoints computed for this row

    def row(self, i: int) -> dict[str, float]:
        return {s: float(self.z[s][i]) for s in self.z}


def cheap_signals(photo: PhotoSet, index: ListingIndex, thresholds: Thresholds) -> dict[str, np.ndarray]:
    """Raw embedding, colour and hash similarities against every listing image (vectorised)."""
    raw: dict[str, np.ndarray] = {}
    n = len(index)
    w = thresholds.weights
    if w.get("embedding", 0) > 0:
        if len(photo.embeddings) == 0:
            raise ValueError("the embedding signal is on but the photo has no embedding")
        # Best photo crop against the best quarter-turn of each listing image.
        sims = photo.embeddings @ index.embeddings.reshape(-1, index.embeddings.shape[-1]).T
        raw["embedding"] = sims.max(axis=0).reshape(n, -1).max(axis=1)
    if w.get("colour", 0) > 0:
        bc = np.sqrt(np.clip(photo.hists, 0, None)) @ index.sqrt_hists.T  # (R, N) Bhattacharyya coefficient
        raw["colour"] = -np.sqrt(np.clip(1.0 - bc.max(axis=0), 0.0, 1.0))
    if w.get("hash", 0) > 0:
        # (R, 1, 1, 4) vs (1, N, 4 turns, 4): best turn per listing, best region per photo.
        structural = hashing.hamming(photo.hashes[:, None, None, :], index.hashes[None]).sum(axis=-1).min(axis=2)
        colour_bits = hashing.colour_hash_distance(photo.colour_hashes[:, None, :], index.colour_hashes[None])
        raw["hash"] = -((structural + colour_bits).min(axis=0) / _HASH_BITS)
    for s in raw:
        raw[s] = np.asarray(raw[s], np.float64).reshape(n)
    return raw


def _cohort_stats(values: np.ndarray, signal: str, thresholds: Thresholds) -> tuple[float, float]:
    norm = thresholds.normalisation
    n = len(values)
    if n < norm["min_cohort"]:
        return norm[f"{signal}_mean"], norm[f"{signal}_std"]
    cap = int(norm["max_cohort"])
    if n > cap:
        # A fixed, evenly spread sample: the same cohort for every photo.
        values = values[np.linspace(0, n - 1, cap).astype(int)]
    std = float(values.std())
    # Never let a cohort of near-identical images blow small differences up.
    floor = 0.25 * norm[f"{signal}_std"]
    return float(values.mean()), max(std, floor)


def keypoint_z(inliers: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    norm = thresholds.normalisation
    return (np.log1p(inliers) - norm["keypoints_mean"]) / norm["keypoints_std"]


def score_photo(
    photo: PhotoSet,
    index: ListingIndex,
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
    raw = cheap_signals(photo, index, thresholds)
    z = {}
    for s, v in raw.items():
        mean, std = _cohort_stats(v, s, thresholds)
        z[s] = (v - mean) / std
    w = thresholds.weights
    n = len(index)
    verified = np.zeros(n, bool)
    if w.get("keypoints", 0) > 0:
        cheap = _fuse(z, w, n)
        k = min(n, thresholds.shortlist)
        shortlist = set(np.argsort(-cheap, kind="stable")[:k].tolist()) | set(must_verify)
        rows = sorted(shortlist)
        cache = inlier_cache if inlier_cache is not None else {}
        todo = [r for r in rows if r not in cache]
        if todo:
            listing_kps = [index.keypoints(r) for r in todo]
            best = np.zeros(len(todo), np.int32)
            for kp in photo.keypoints:
                best = np.maximum(best, keypoints.count_inliers(kp, listing_kps))
            cache.update(zip(todo, best.tolist()))
        inliers = np.zeros(n, np.float64)
        inliers[rows] = [cache[r] for r in rows]
        verified[rows] = True
        raw["keypoints"] = inliers
        z["keypoints"] = keypoint_z(inliers, thresholds)
    ordered = {s: z[s] for s in SIGNALS if s in z}
    return Scores(raw=raw, z=ordered, fused=_fuse(ordered, w, n), verified=verified)


def _fuse(z: dict[str, np.ndarray], weights, n: int) -> np.ndarray:
    total = np.zeros(n, np.float64)
    wsum = 0.0
    for s, v in z.items():
        ws = float(weights.get(s, 0.0))
        if ws > 0:
            total += ws * v
            wsum += ws
    return total / wsum if wsum else total


def best_per_owner(values: np.ndarray, index: ListingIndex, owners: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """For each owner (SKU), the best value over its listing images and that image's row."""
    best = np.full(len(owners), -np.inf)
    rows = np.full(len(owners), -1)
    for i, o in enumerate(owners):
        r = index.rows_of(o)
        if r:
            j = int(np.argmax(values[r]))
            best[i], rows[i] = values[r][j], r[j]
    return best, rows


def item_score(own: float, best_other: float) -> float:
    """The item check's score: how well the ordered SKU matches, plus its lead over the best other SKU.

    Both halves are in the fused z units. The first says "this looks like the
    listing at all"; the second, "and more like it than like anything else in the
    catalogue" (a lookalike or a sibling variant makes it negative). With no other
    SKU to compare, the lead is taken as 0.
    """
    lead = own - best_other if np.isfinite(best_other) else 0.0
    return float(own + lead)


def nearest_other(values: np.ndarray, index: ListingIndex, *, exclude=()) -> tuple[str | None, float, int]:
    """The owner (SKU) with the best value among those not in ``exclude``: (owner, value, row)."""
    owners = [o for o in dict.fromkeys(index.owners) if o not in set(exclude)]
    if not owners:
        return None, float("-inf"), -1
    best, rows = best_per_owner(values, index, owners)
    k = int(np.argmax(best))
    return owners[k], float(best[k]), int(rows[k])

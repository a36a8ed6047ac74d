"""Candidate search for large catalogues: a compact first pass over every listing image.

Below :data:`packcheck.store.index.LARGE_CATALOGUE_ROWS` listing images the index holds
every image's full embedding (4 quarter-turns x 1280 floats, 20 KB) and scores a
photo against all of them exactly. Above it that no longer fits (2 GB for 100,000
images, and a matrix that size is read from memory for every photo), so the
index keeps one *coarse* vector per image instead:

* the embedding averaged over its four quarter-turns, projected on the first
  :data:`EMBEDDING_DIMS` principal components of the catalogue's own embeddings;
* the square-rooted colour histogram projected on its first :data:`COLOUR_DIMS`
  principal components.

Both bases are fitted once, when the index is built (:func:`fit_basis`), and
stored with it. A dot product with a projected vector approximates the full one,
``x . y ~ x . mean + (P x) . (P (y - mean))``, wrong only by the residual outside
the principal subspace, which averages to zero over the catalogue. Scoring a
photo is then two small matrix-vector products over ``(N, d)`` float32 matrices
(192 bytes per image), and the best :data:`CANDIDATES` rows by the fused coarse
score are re-scored exactly (see :func:`packcheck.core.scoring.score_photo`).

The settings below are not decision limits: they choose which rows get exact
scores in a large catalogue, and small catalogues never use them.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from . import colour

#: Principal components kept of the turn-averaged embedding. 32 keep ~77% of the
#: variance on the real grocery images; re-scoring the top 20 of 209 real listing
#: images by (coarse embedding + coarse colour) lost nothing against exact scoring.
#: 32 floats read per image and photo crop keep the first pass at ~1 ms per 100k.
EMBEDDING_DIMS = 32
#: Principal components kept of the square-rooted colour histogram (~91% of its variance).
COLOUR_DIMS = 16
#: Rows re-scored exactly after the first pass (besides the ordered SKU, its
#: siblings and the cohort sample). On a synthetic 100,000-image catalogue the
#: photographed image ranks at most 5th in the first pass; each candidate costs
#: one 14 KB read from the store (~40 us).
CANDIDATES = 64
#: Rows an evenly spaced sample of which fits the bases (PCA on more adds nothing).
FIT_ROWS = 10_000


@dataclass(frozen=True)
class Basis:
    """A PCA basis: ``project(x) = (x - mean) @ components.T``.

    Attributes
    ----------
    mean : (D,) float32, the mean of the rows it was fitted on.
    components : (d, D) float32, orthonormal rows, strongest first.
    """

    mean: np.ndarray
    components: np.ndarray

    @property
    def dims(self) -> int:
        return int(self.components.shape[0])

    def project(self, x: np.ndarray) -> np.ndarray:
        """Coordinates of rows ``x`` (..., D) in the basis, float32 (..., d)."""
        return ((np.asarray(x, np.float32) - self.mean) @ self.components.T).astype(np.float32)


def fit_basis(rows: np.ndarray, *, dims: int) -> Basis:
    """Principal components of ``rows`` (n, D): the ``dims`` directions of largest variance.

    Signs are fixed (each component's largest coefficient is positive), so the same
    rows always give the same bytes.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((500, 3)) * [5.0, 1.0, 0.1]
    >>> b = fit_basis(x, dims=2)
    >>> np.abs(b.components).argmax(axis=1).tolist()
    [0, 1]
    """
    x = np.asarray(rows, np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"fit_basis needs a 2-d array of at least 2 rows, got shape {x.shape}")
    if dims < 1:
        raise ValueError(f"dims must be >= 1, got {dims!r}")
    mean = x.mean(axis=0)
    centred = x - mean
    if len(x) >= x.shape[1]:
        values, vectors = np.linalg.eigh(centred.T @ centred)
        comps = vectors[:, ::-1].T
    else:  # fewer rows than dimensions: the SVD is the cheaper route to the same axes
        comps = np.linalg.svd(centred, full_matrices=False)[2]
    comps = comps[: min(dims, len(comps))]
    flip = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
    comps = comps * np.where(flip == 0, 1.0, flip)[:, None]
    return Basis(mean.astype(np.float32), np.ascontiguousarray(comps, np.float32))


@dataclass(frozen=True)
class CoarseBasis:
    """The two bases of a catalogue's coarse vectors, and how many images they were fitted on."""

    embedding: Basis
    colour: Basis
    fitted_on: int

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, emb_mean=self.embedding.mean, emb_comp=self.embedding.components,
                 col_mean=self.colour.mean, col_comp=self.colour.components,
                 fitted_on=np.array(self.fitted_on, np.int64))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "CoarseBasis":
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return cls(Basis(z["emb_mean"], z["emb_comp"]), Basis(z["col_mean"], z["col_comp"]),
                       int(z["fitted_on"]))

    @property
    def key(self) -> str:
        """Identifies the basis (coarse vectors are stored under it)."""
        return hashlib.sha256(self.to_bytes()).hexdigest()[:16]

    @property
    def dims(self) -> int:
        return self.embedding.dims + self.colour.dims

    def coarse_vectors(self, embeddings: np.ndarray, sqrt_hists: np.ndarray) -> np.ndarray:
        """(n, dims) float32 coarse vectors of listing images: embeddings (n, turns, D), sqrt hists (n, H)."""
        pooled = np.asarray(embeddings, np.float32).mean(axis=1)
        return np.concatenate([self.embedding.project(pooled), self.colour.project(sqrt_hists)], axis=1)


def fit_coarse_basis(embeddings: np.ndarray, sqrt_hists: np.ndarray, *, fitted_on: int,
                     embedding_dims: int = EMBEDDING_DIMS, colour_dims: int = COLOUR_DIMS) -> CoarseBasis:
    """Fit both bases on a sample of listing images: embeddings (n, turns, D), sqrt hists (n, H)."""
    pooled = np.asarray(embeddings, np.float32).mean(axis=1)
    return CoarseBasis(fit_basis(pooled, dims=embedding_dims), fit_basis(sqrt_hists, dims=colour_dims), fitted_on)


def _similarity(queries: np.ndarray, basis: Basis, coords: np.ndarray) -> np.ndarray:
    """Best over ``queries`` (q, D) of the approximate dot product with each row (n, d) of ``coords``."""
    q = np.asarray(queries, np.float32)
    offset = q @ basis.mean  # x . mean: the same for every row, but not for every query
    proj = q @ basis.components.T  # (q, d)
    if len(q) == 1:
        return coords @ proj[0] + offset[0]
    # One pass over the (n, d) matrix for all queries. OpenCV's gemm does this skinny
    # product in half the time of numpy's BLAS here (1.8 vs 3.3 ms for 100,000 x 32 x 2);
    # the maximum over a row of q values is then taken column by column (a reduction
    # along the short axis is numpy's slow path).
    sims = gemm(coords, proj.T)
    best = sims[:, 0] + offset[0]
    for i in range(1, len(q)):
        np.maximum(best, sims[:, i] + offset[i], out=best)
    return best


def gemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for float32 matrices, by OpenCV (faster than numpy's BLAS for skinny products)."""
    return cv2.gemm(np.ascontiguousarray(a, np.float32), np.ascontiguousarray(b, np.float32), 1.0, None, 0.0)


def embedding_similarity(photo_embeddings: np.ndarray, basis: CoarseBasis, coarse: np.ndarray) -> np.ndarray:
    """Approximate best cosine of any photo crop with each listing image's turn-averaged embedding, (N,).

    ``coarse``: the listing images' embedding coordinates (N, ``basis.embedding.dims``).
    """
    if len(photo_embeddings) == 0:
        raise ValueError("the embedding signal is on but the photo has no embedding")
    return _similarity(photo_embeddings, basis.embedding, coarse)


def colour_similarity(photo_hists: np.ndarray, basis: CoarseBasis, coarse: np.ndarray) -> np.ndarray:
    """Approximate minus Hellinger distance of the photo's best region to each listing image, (N,).

    ``coarse``: the listing images' colour coordinates (N, ``basis.colour.dims``).
    """
    bc = _similarity(colour.sqrt_hist(np.asarray(photo_hists, np.float32)), basis.colour, coarse)
    return -colour.hellinger(bc)


def top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Rows of the ``k`` largest values, in ascending row order (ties: any of them).

    Examples
    --------
    >>> top_k(np.array([0.1, 0.9, 0.5, 0.7]), 2).tolist()
    [1, 3]
    """
    n = len(values)
    if k >= n:
        return np.arange(n)
    if k <= 0:
        return np.zeros(0, np.intp)
    return np.sort(np.argpartition(values, n - k)[n - k:])


def group_max(values: np.ndarray, groups: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group, the largest value and the first row holding it (-inf and -1 for an empty group).

    The same answer as looping over each group's rows with ``np.argmax``, in a few
    vectorised passes.

    Examples
    --------
    >>> best, rows = group_max(np.array([1.0, 5.0, 5.0, 2.0]), np.array([0, 1, 1, 0]), 3)
    >>> best.tolist(), rows.tolist()
    ([2.0, 5.0, -inf], [3, 1, -1])
    """
    values = np.asarray(values, np.float64)
    groups = np.asarray(groups)
    if values.shape != groups.shape:
        raise ValueError(f"values and groups must have one shape, got {values.shape} and {groups.shape}")
    best = np.full(n_groups, -np.inf)
    np.maximum.at(best, groups, values)
    rows = np.full(n_groups, len(values), np.int64)
    hit = values == best[groups]
    np.minimum.at(rows, groups[hit], np.flatnonzero(hit))
    empty = rows == len(values)
    rows[empty] = -1
    best[empty] = -np.inf
    return best, rows


def best_row(values: np.ndarray, groups: np.ndarray, keep: np.ndarray) -> int:
    """The row with the largest value among rows whose group is kept; ties go to the lowest
    group, then the lowest row (what a loop over groups in order with ``np.argmax`` picks). -1 if none.

    Examples
    --------
    >>> values, groups = np.array([9.0, 7.0, 7.0, 1.0]), np.array([2, 1, 0, 0])
    >>> best_row(values, groups, np.array([True, True, False]))  # group 2 left out; 0 and 1 tie
    2
    """
    keep = np.asarray(keep, bool)
    dropped = np.flatnonzero(~keep)
    if len(dropped) == len(keep) or len(values) == 0:
        return -1
    # Few groups are dropped (the order's SKUs): mask their rows rather than gather a flag per row.
    out = np.isin(groups, dropped) if len(dropped) else None
    vals = values if out is None else np.where(out, -np.inf, values)
    row = int(np.argmax(vals))
    top = vals[row]
    if (out is None or not out[row]) and np.count_nonzero(vals == top) == 1:
        return row
    tied = np.flatnonzero(vals == top)
    if out is not None:
        tied = tied[~out[tied]]
    if len(tied) == 0:
        return -1
    return int(tied[np.lexsort((tied, groups[tied]))[0]])


class RowSource(Protocol):
    """Full-precision rows of a large catalogue, read on demand (the store layer implements it:
    :class:`packcheck.store.index.StoredRows`)."""

    def get(self, rows) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings (k, 4, D) and square-rooted histograms (k, H), float32, of ``rows``, in that order."""

    def pinned(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`get` for a fixed set of rows (the cohort sample), kept in memory once read."""


@dataclass(frozen=True)
class Coarse:
    """What a large catalogue's index holds for the first pass."""

    basis: CoarseBasis
    embedding: np.ndarray  # (N, basis.embedding.dims) float32, C-contiguous: read once per photo crop
    colour: np.ndarray  # (N, basis.colour.dims) float32
    rows: RowSource

    @property
    def vectors(self) -> np.ndarray:
        """(N, basis.dims): the coarse vectors as stored."""
        return np.concatenate([self.embedding, self.colour], axis=1)

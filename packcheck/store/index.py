"""The listing index: a catalogue's listing images as a few stacked arrays, in memory.

Comparing a photo with every listing image is then a handful of vectorised
operations. How depends on the catalogue's size:

* below :data:`LARGE_CATALOGUE_ROWS` images, every
  image's full embedding and colour histogram (28 KB per image) is held and
  every image scored exactly;
* from there on, the index holds per image only a coarse vector, the hashes, the
  dominant colour and its names (about 550 bytes in all; see :mod:`packcheck.core.search`),
  reads full-precision rows from the :class:`~packcheck.store.fingerprints.FingerprintStore`
  for the few candidates each photo needs (:class:`StoredRows`, lazy row views),
  and keeps the fixed cohort sample's rows in memory (12 MB).

Keypoint descriptors are the bulk of the data and are only needed for a
shortlist, so they are read lazily, per image, at any size.
:func:`build_index` fingerprints what the store lacks (in a worker pool) and
loads the rest.
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..core import duplicates as dup, fingerprint as fp_mod, search
from ..core.colour import HIST_SIZE, sqrt_hist
from ..core.embedding import EMBEDDING_DIM
from ..core.imaging import load_image
from ..core.keypoints import Keypoints, VoteIndex
from ..core.search import Coarse
from ..core.thresholds import LocateLimits
from ..errors import ImageError, PackcheckError
from ..util.pool import spawn_pool
from .fingerprints import FingerprintStore, TURNS, chunks, to_blobs

log = logging.getLogger(__name__)

#: From this many listing images on, the index keeps coarse vectors and scores a
#: photo exactly only against candidates (see :mod:`packcheck.core.search`). Below it,
#: every image is scored exactly, as it always was. The exact path costs ~7 ms of
#: one core per 1,000 images and photo view (2-core cloud VM) and 28 KB per image
#: (140 MB at 5,000); the candidate path ~6 ms up to a few thousand images, ~14 ms
#: at 100,000, with 550 bytes per image.
LARGE_CATALOGUE_ROWS = 5_000
#: Listing images whose keypoints stay in memory once read, most recently used
#: (~80 KB each for 600 keypoints: at most ~80 MB).
KEYPOINT_CACHE_ROWS = 1_024
#: A large catalogue's coarse basis is fitted again once it has grown to this many
#: times the images it was fitted on.
REFIT_GROWTH = 2.0


#: A reference photo's fingerprint is stored under its file's digest plus this (the same
#: file could also be a listing image, fingerprinted the other way).
REFERENCE_KEY = "+reference"


def fingerprint_file(path: str, locate: LocateLimits | None = None) -> tuple[str, bytes, bytes]:
    """Fingerprint one listing image file, or with ``locate`` one reference photo: (sha256, core blob,
    keypoint blob). Runs in workers."""
    image = load_image(path)
    fp = (fp_mod.fingerprint_listing(image) if locate is None
          else fp_mod.fingerprint_reference(image, locate=locate))
    core, kp = to_blobs(fp)
    return image.sha256, core, kp


def listing_frame_file(path: str) -> bytes:
    """One listing image's near-duplicate frame (:func:`~packcheck.core.duplicates.listing_frame`), as
    stored. Runs in workers."""
    return dup.frame_to_bytes(dup.listing_frame(load_image(path)))


def keep_reference_fingerprint(cache: Path | None, digest: str, fp: "fp_mod.Fingerprint") -> None:
    """Store a reference photo's fingerprint computed elsewhere (enrolment computes it to judge
    diversity), under the key :func:`build_index` looks for, so the index rebuilt next does not
    fingerprint the photo again. Nothing to keep without a cache file."""
    if cache is None:
        return
    core, kp = to_blobs(fp)
    FingerprintStore(cache).put(digest + REFERENCE_KEY, core, kp, fingerprint=fp)


def _unpack_full(blobs: tuple[bytes, bytes]) -> tuple[np.ndarray, np.ndarray]:
    hist, emb = blobs
    return (np.frombuffer(emb, np.float16).reshape(TURNS, EMBEDDING_DIM).astype(np.float32),
            np.frombuffer(hist, np.float32))


def _unpack_many(blobs: list[tuple[bytes, bytes]]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_unpack_full` of many rows at once: embeddings (k, 4, D) float32 and sqrt hists (k, H)."""
    k = len(blobs)
    emb16 = np.frombuffer(b"".join(e for _, e in blobs), np.float16).reshape(k, TURNS * EMBEDDING_DIM)
    hists = np.frombuffer(b"".join(h for h, _ in blobs), np.float32).reshape(k, HIST_SIZE)
    return _float32(emb16).reshape(k, TURNS, EMBEDDING_DIM), sqrt_hist(hists).astype(np.float32)


def _float32(a16: np.ndarray) -> np.ndarray:
    """float16 -> float32, exactly. OpenCV's conversion is ~4x faster than numpy's ``astype`` here,
    which matters for the few hundred rows a large catalogue reads per photo."""
    if a16.size == 0:
        return a16.astype(np.float32)
    try:
        return cv2.addWeighted(a16, 1.0, a16, 0.0, 0.0, dtype=cv2.CV_32F)
    except cv2.error:
        return a16.astype(np.float32)


class StoredRows:
    """Full-precision rows of a large catalogue, read from the store when a photo needs them.

    Nothing per image is held but its digest; the rows of the cohort sample, which
    every photo is scored against, are read once and kept (:meth:`pinned`).
    """

    def __init__(self, store: FingerprintStore, digests: list[str]):
        self.store = store
        self.digests = digests
        self._pinned: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.digests)

    def get(self, rows) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings (k, 4, D) and square-rooted histograms (k, H), float32, of ``rows``, in that order."""
        rows = [int(r) for r in np.atleast_1d(np.asarray(rows, np.int64))]
        blobs = self.store.features([self.digests[r] for r in rows])
        missing = [self.digests[r] for r in rows if self.digests[r] not in blobs]
        if missing:
            raise PackcheckError(f"listing image {missing[0][:12]} is missing from the index store "
                                 f"{self.store.path}; open the catalogue again to re-index it")
        return _unpack_many([blobs[self.digests[r]] for r in rows])

    def pinned(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`get` for a fixed set of rows (the cohort sample), kept for the life of the index."""
        key = np.asarray(rows, np.int64).tobytes()
        got = self._pinned.get(key)
        if got is None:
            got = self.get(rows)
            self._pinned = {key: got}  # one cohort at a time
        return got


class RowView:
    """``view[rows]`` of one part (0: embeddings, 1: square-rooted histograms) of :class:`StoredRows`,
    indexed like the in-memory array it stands for."""

    def __init__(self, rows: StoredRows, part: int, row_shape: tuple[int, ...]):
        self._rows = rows
        self._part = part
        self.shape = (len(rows), *row_shape)
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self._rows.get([key])[self._part][0]
        return self._rows.get(key)[self._part]


@dataclass
class ListingIndex:
    """Stacked fingerprints of a set of listing images and reference photos, plus who each belongs to.

    Row ``i`` of every array is image ``i``; ``owners[i]`` is its SKU (or class id in a
    benchmark manifest); ``references[i]`` says whether it is a confirmed real photo
    of the SKU rather than a listing image. In a large catalogue (``coarse`` set),
    ``embeddings``, ``hists`` and ``sqrt_hists`` are :class:`RowView` objects that
    read rows from the store on demand. Up to ``vote_max_rows`` rows, every row's
    keypoints also go into one vote index (:meth:`vote_index`), built on first use.
    """

    owners: list[str]
    digests: list[str]
    paths: list[str]
    embeddings: np.ndarray  # (N, 4 turns, 1280) float32, unit rows
    hists: np.ndarray  # (N, HIST_SIZE)
    labs: np.ndarray  # (N, 3)
    colour_hashes: np.ndarray  # (N, 14) uint8
    hashes: np.ndarray  # (N, 4 rotations, 4 hashes) uint64
    store: FingerprintStore
    coarse: Coarse | None = None
    references: np.ndarray | None = None  # (N,) bool; None: no reference rows
    vote_max_rows: int = 0

    def __post_init__(self):
        self._kp_cache: OrderedDict[int, Keypoints] = OrderedDict()
        self._votes: VoteIndex | None = None
        if self.references is None:
            self.references = np.zeros(len(self.owners), bool)
        ids: dict[str, int] = {}
        #: ``owner_ids[i]`` is row i's owner's place in :attr:`owner_names` (first appearance order).
        self.owner_ids = np.array([ids.setdefault(o, len(ids)) for o in self.owners], np.int32)
        self.owner_names: list[str] = list(ids)
        self._owner_id = ids
        # Each owner's rows, ascending: a slice of the rows sorted by owner.
        self._by_owner = np.argsort(self.owner_ids, kind="stable")
        self._owner_start = np.searchsorted(self.owner_ids[self._by_owner], np.arange(len(ids) + 1))
        if self.coarse is not None:
            self.sqrt_hists = RowView(self.coarse.rows, 1, (HIST_SIZE,))
        else:
            self.sqrt_hists = sqrt_hist(self.hists).astype(np.float32)

    def __len__(self) -> int:
        return len(self.owners)

    def rows_of(self, owner: str) -> list[int]:
        k = self._owner_id.get(owner)
        if k is None:
            return []
        return self._by_owner[self._owner_start[k]:self._owner_start[k + 1]].tolist()

    def owner_id(self, owner: str) -> int:
        """The owner's place in :attr:`owner_names`, -1 if it has no listing image here."""
        return self._owner_id.get(owner, -1)

    def vote_index(self) -> VoteIndex | None:
        """Every row's keypoints in one vote index (None beyond ``vote_max_rows`` rows or for a large
        catalogue, whose candidates come from its coarse search)."""
        if self._votes is None and self.coarse is None and 0 < len(self) <= self.vote_max_rows:
            self._votes = VoteIndex([self.store.keypoints(d) for d in self.digests])
        return self._votes

    def keypoints(self, row: int) -> Keypoints:
        kp = self._kp_cache.get(row)
        if kp is None:
            kp = self.store.keypoints(self.digests[row])
            self._kp_cache[row] = kp
            if len(self._kp_cache) > KEYPOINT_CACHE_ROWS:
                self._kp_cache.popitem(last=False)
        else:
            self._kp_cache.move_to_end(row)
        return kp


def build_index(
    entries: list[tuple],
    *,
    cache: Path | None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    large_from: int = LARGE_CATALOGUE_ROWS,
    locate: LocateLimits | None = None,
    vote_max_rows: int = 0,
) -> ListingIndex:
    """Index listing images and reference photos: fingerprint what the cache lacks, load the rest.

    Parameters
    ----------
    entries : ``(owner, image path)`` for a listing image, ``(owner, path, True)`` for a
        reference photo of the owner; an owner (SKU) may have several of each.
    locate : how reference photos are located (``Thresholds.locate``); needed when
        ``entries`` hold references.
    vote_max_rows : build the keypoint vote index for catalogues up to this many rows.
    cache : SQLite file for fingerprints (None: in memory, gone at exit).
    workers : processes used to fingerprint new images.
    progress : called as ``progress(done, total)`` while new images are fingerprinted.
    large_from : from this many images on, keep coarse vectors and score candidates
        only (see :mod:`packcheck.core.search`).

    Raises
    ------
    ImageError naming the listing image that cannot be read.
    """
    store = FingerprintStore(cache)
    rows = [(e[0], Path(e[1]), bool(e[2]) if len(e) > 2 else False) for e in entries]
    if locate is None and any(ref for _, _, ref in rows):
        raise ValueError("reference photos need the locate limits to be fingerprinted")
    try:
        files = store.digests([p for _, p, _ in rows])
    except OSError as e:
        owner, path = next(((o, p) for o, p, _ in rows if str(p) == str(e.filename)), ("?", e.filename))
        raise ImageError(f"listing image {path} of '{owner}' cannot be read ({e.strerror or e})") from None
    digests = [d + REFERENCE_KEY if ref else d for d, (_, _, ref) in zip(files, rows)]
    have = store.has(digests)
    todo = {}
    for (owner, path, ref), d in zip(rows, digests):
        if d not in have and d not in todo:
            todo[d] = (owner, str(path), locate if ref else None)
    frames = {}
    if len(rows) < max(1, large_from):
        # The photo_is_listing check's frames, made with the fingerprints; a large catalogue's are made
        # when an order first needs them (apps.duplicates.CopyFinder), most are never needed.
        listing = [d for (_, _, ref), d in zip(rows, digests) if not ref]
        have_frames = store.has_frames(listing)
        frames = {d: (owner, str(path)) for (owner, path, ref), d in zip(rows, digests)
                  if not ref and d not in have_frames}
    if todo or frames:
        log.info("fingerprinting %d new listing image(s) or reference photo(s), %d listing frame(s)",
                 len(todo), len(frames))
        _fingerprint_all(store, todo, workers, progress, frames)
    return load_index(store, [o for o, _, _ in rows], digests, [str(p) for _, p, _ in rows],
                      large_from=large_from, references=np.array([ref for _, _, ref in rows], bool),
                      vote_max_rows=vote_max_rows)


def load_index(store: FingerprintStore, owners: list[str], digests: list[str], paths: list[str], *,
               large_from: int = LARGE_CATALOGUE_ROWS, references: np.ndarray | None = None,
               vote_max_rows: int = 0) -> ListingIndex:
    """The in-memory index of images already fingerprinted in ``store`` (row i: ``digests[i]``)."""
    if not len(owners) == len(digests) == len(paths):
        raise ValueError(f"owners, digests and paths must have one length, got "
                         f"{len(owners)}, {len(digests)}, {len(paths)}")
    small = store.signatures(digests)
    missing = [d for d in dict.fromkeys(digests) if d not in small]
    if missing:
        unknown = sorted(set(missing) - store.has(missing))
        if unknown:
            raise PackcheckError(f"{len(unknown)} listing image(s) are not in the index store {store.path}, "
                                 f"e.g. {unknown[0][:12]}; build the index with build_index")
        store.backfill(missing)
        small.update(store.signatures(missing))
    n = len(digests)
    blobs = [small[d] for d in digests]
    hashes = np.frombuffer(b"".join(b[0] for b in blobs), np.uint64).reshape(n, TURNS, 4).copy()
    chashes = np.frombuffer(b"".join(b[1] for b in blobs), np.uint8).reshape(n, 14).copy()
    labs = np.frombuffer(b"".join(b[2] for b in blobs), np.float32).reshape(n, 3).copy()
    del small, blobs
    common = dict(owners=list(owners), digests=list(digests), paths=list(paths), labs=labs,
                  colour_hashes=chashes, hashes=hashes, store=store, references=references,
                  vote_max_rows=vote_max_rows)
    if n < max(1, large_from):
        full = store.features(digests)
        emb = np.empty((n, TURNS, EMBEDDING_DIM), np.float32)
        hists = np.empty((n, HIST_SIZE), np.float32)
        for i, d in enumerate(digests):
            emb[i], hists[i] = _unpack_full(full[d])
        return ListingIndex(embeddings=emb, hists=hists, **common)
    rows = StoredRows(store, list(digests))
    basis = _basis_for(store, digests, rows)
    vectors = _coarse_vectors(store, basis, digests, rows)
    d = basis.embedding.dims
    coarse = Coarse(basis, np.ascontiguousarray(vectors[:, :d]), np.ascontiguousarray(vectors[:, d:]), rows)
    del vectors
    return ListingIndex(embeddings=RowView(rows, 0, (TURNS, EMBEDDING_DIM)),
                        hists=_HistView(rows), coarse=coarse, **common)


class _HistView(RowView):
    """The histograms themselves (squares of the stored square roots)."""

    def __init__(self, rows: StoredRows):
        super().__init__(rows, 1, (HIST_SIZE,))

    def __getitem__(self, key):
        return np.square(super().__getitem__(key))


def _basis_for(store: FingerprintStore, digests: list[str], rows: StoredRows) -> search.CoarseBasis:
    """The stored basis, or a new one fitted on an even sample of the catalogue when there is none
    or the catalogue has outgrown it."""
    n = len(set(digests))
    basis = store.latest_basis()
    if basis is not None and n <= REFIT_GROWTH * basis.fitted_on:
        return basis
    unique = list(dict.fromkeys(digests))
    sample = [unique[i] for i in np.unique(np.linspace(0, len(unique) - 1, min(len(unique), search.FIT_ROWS))
                                           .astype(int))]
    t = time.perf_counter()
    emb, sq = _read_unique(rows, sample)
    basis = search.fit_coarse_basis(emb, sq, fitted_on=n)
    store.put_basis(basis)
    log.info("fitted the coarse search basis on %d of %d listing images in %.1f s",
             len(sample), n, time.perf_counter() - t)
    return basis


def _read_unique(rows: StoredRows, digests: list[str]) -> tuple[np.ndarray, np.ndarray]:
    blobs = rows.store.features(digests)
    return _unpack_many([blobs[d] for d in digests])


def _coarse_vectors(store: FingerprintStore, basis: search.CoarseBasis, digests: list[str],
                    rows: StoredRows) -> np.ndarray:
    """(N, dims) float32: each image's coarse vector, projected now for the images that lack one."""
    key = basis.key
    known = store.coarse_vectors(key, digests)
    todo = [d for d in dict.fromkeys(digests) if d not in known]
    for chunk in chunks(todo, 2_000):
        emb, sq = _read_unique(rows, chunk)
        vecs = basis.coarse_vectors(emb, sq)
        items = [(d, v.tobytes()) for d, v in zip(chunk, vecs)]
        store.put_coarse(key, items)
        known.update(items)
    return np.frombuffer(b"".join(known[d] for d in digests), np.float32).reshape(len(digests), basis.dims)


def _fingerprint_all(store: FingerprintStore, todo: dict, workers: int, progress, frames: dict) -> None:
    """Fingerprint ``todo`` (digest -> (owner, path, locate)) and make the listing frames of ``frames``
    (digest -> (owner, path)), storing each as it comes; ``progress`` counts both."""
    jobs = [(d, o, p, fingerprint_file, (p, loc)) for d, (o, p, loc) in todo.items()]
    jobs += [(d, o, p, listing_frame_file, (p,)) for d, (o, p) in frames.items()]
    total = len(jobs)

    def fail(owner, path, e):
        # The image's own message names the file; say whose listing it is and what to do.
        msg = str(e) if str(path) in str(e) else f"{path}: {e}"
        raise ImageError(f"listing image of '{owner}': {msg}") from None

    def keep(digest, fn, got):
        if fn is listing_frame_file:
            store.put_frames([(digest, got)])
        else:
            store.put(digest, got[1], got[2])

    if workers <= 1 or total < 4:
        for n, (digest, owner, path, fn, args) in enumerate(jobs, 1):
            try:
                got = fn(*args)
            except PackcheckError as e:
                fail(owner, path, e)
            keep(digest, fn, got)
            if progress:
                progress(n, total)
        return
    with spawn_pool(workers) as pool:
        futures = [(d, o, p, fn, pool.submit(fn, *args)) for d, o, p, fn, args in jobs]
        for n, (digest, owner, path, fn, fut) in enumerate(futures, 1):
            try:
                got = fut.result()
            except PackcheckError as e:
                fail(owner, path, e)
            keep(digest, fn, got)
            if progress:
                progress(n, total)

"""Large-catalogue search: coarse recall, exactness, vectorised per-SKU maxima, the stored PCA basis."""
import dataclasses
import sqlite3
from types import MappingProxyType

import numpy as np
import pytest

from packcheck.core import scoring, search
from packcheck.core.fingerprint import PIPELINE_VERSION
from packcheck.core.thresholds import load_thresholds
from packcheck.store.fingerprints import FingerprintStore, to_blobs
from packcheck.store.index import ListingIndex, load_index
from packcheck.tooling.catalogue_gen import SyntheticCatalogue


def _store(tmp_path, cat: SyntheticCatalogue, name="index.sqlite"):
    """A store holding every image of ``cat``, as indexing would leave it; returns (store, owners, digests)."""
    store = FingerprintStore(tmp_path / name)
    items, owners, digests = [], [], []
    for row, fp in cat.fingerprints(0, cat.n):
        digest = f"{cat.seed:04d}{row:060d}"
        core, kp = to_blobs(fp)
        items.append((digest, core, kp, fp))
        owners.append(cat.owner(row))
        digests.append(digest)
    store.put_many(items)
    return store, owners, digests


def _thresholds(*, max_cohort=None):
    th = load_thresholds().with_signals(("embedding", "colour"))
    if max_cohort is not None:
        norm = dict(th.normalisation, max_cohort=max_cohort)
        th = dataclasses.replace(th, normalisation=MappingProxyType(norm))
    return th


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    cat = SyntheticCatalogue(1500, seed=3)
    store, owners, digests = _store(tmp_path_factory.mktemp("cat"), cat)
    paths = [f"listing-{i}.jpg" for i in range(cat.n)]
    large = load_index(store, owners, digests, paths, large_from=1000)
    exact = load_index(store, owners, digests, paths, large_from=10**9)
    return cat, large, exact


def _photos(cat, n, seed=0):
    rows = np.random.default_rng(seed).choice(cat.n, n, replace=False)
    return [(int(r), cat.photo(int(r), seed=i)) for i, r in enumerate(rows)]


def test_a_catalogue_below_the_threshold_is_held_whole_and_one_above_it_coarsely(catalogue):
    _, large, exact = catalogue
    assert exact.coarse is None and exact.embeddings.shape == (1500, 4, 1280)
    assert large.coarse is not None
    assert large.coarse.vectors.shape == (1500, search.EMBEDDING_DIMS + search.COLOUR_DIMS)
    assert large.coarse.vectors.dtype == np.float32
    # The full rows a large index reads on demand are the exact index's rows.
    rows = [0, 7, 1499]
    assert np.array_equal(large.embeddings[rows], exact.embeddings[rows])
    assert np.array_equal(large.sqrt_hists[7], exact.sqrt_hists[7])


def test_coarse_search_finds_the_photographed_listing_among_its_candidates(catalogue):
    cat, large, exact = catalogue
    th = _thresholds()
    hits, best_hits = 0, 0
    photos = _photos(cat, 40)
    for row, photo in photos:
        got = scoring.score_photo(photo, large, th)  # nothing forced in: the first pass alone
        want = scoring.score_photo(photo, exact, th)
        hits += np.isfinite(got.fused[row])
        best_hits += np.isfinite(got.fused[int(np.argmax(want.fused))])
    assert hits == len(photos)
    assert best_hits == len(photos)


def test_candidates_get_the_exact_scores_when_the_cohort_is_the_same(catalogue):
    cat, large, exact = catalogue
    th = _thresholds(max_cohort=512)  # the large catalogue's cohort: the exact path then normalises on the same rows
    for row, photo in _photos(cat, 10, seed=1):
        must = large.rows_of(cat.owner(row))
        got = scoring.score_photo(photo, large, th, must_verify=must)
        want = scoring.score_photo(photo, exact, th, must_verify=must)
        scored = np.isfinite(got.fused)
        assert scored[must].all() and scored.sum() >= search.CANDIDATES
        assert np.allclose(got.fused[scored], want.fused[scored], rtol=0, atol=1e-5)
        assert np.isnan(got.raw["embedding"][~scored]).all()
        owner = cat.owner(row)
        assert scoring.nearest_other(got.fused, large, exclude=(owner,))[0] == \
            scoring.nearest_other(want.fused, exact, exclude=(owner,))[0]


def test_a_small_catalogue_is_scored_exactly_by_the_formulas(tmp_path):
    """Below LARGE_CATALOGUE_ROWS every row gets the plain cosine / Hellinger z-scores, fused as the
    thresholds file's logistic model says (intercept + weight x z)."""
    from packcheck.store.index import LARGE_CATALOGUE_ROWS

    cat = SyntheticCatalogue(60, seed=11)
    store, owners, digests = _store(tmp_path, cat)
    index = load_index(store, owners, digests, owners)
    assert len(index) < LARGE_CATALOGUE_ROWS and index.coarse is None
    th = _thresholds()
    photo = cat.photo(17, seed=0)
    got = scoring.score_photo(photo, index, th)
    listing = [fp for _, fp in cat.fingerprints(0, cat.n)]
    emb = np.array([max(float(x @ y) for x in photo.embeddings
                        for y in fp.embeddings.astype(np.float16).astype(np.float32)) for fp in listing])
    bc = np.array([float(np.sqrt(photo.hists[0]) @ np.sqrt(fp.hists[0])) for fp in listing])
    col = -np.sqrt(np.clip(1 - bc, 0, 1))
    z = [(v - v.mean()) / max(v.std(), 0.25 * th.normalisation[f"{s}_std"]) for s, v in (("embedding", emb),
                                                                                          ("colour", col))]
    w = th.fusion.weights
    assert np.allclose(got.fused, th.fusion.intercept + w["embedding"] * z[0] + w["colour"] * z[1], rtol=0, atol=1e-5)
    assert int(np.argmax(got.fused)) == 17


def _loop_best_per_owner(values, index, owners):
    """Each SKU's best row, by a loop over the SKUs (what nearest_other does vectorised)."""
    best, rows = np.full(len(owners), -np.inf), np.full(len(owners), -1)
    for i, o in enumerate(owners):
        r = index.rows_of(o)
        if r:
            j = int(np.argmax(values[r]))
            best[i], rows[i] = values[r][j], r[j]
    return best, rows


def _tiny_index(owners):
    n = len(owners)
    return ListingIndex(owners=owners, digests=[f"d{i}" for i in range(n)], paths=[f"p{i}" for i in range(n)],
                        embeddings=np.zeros((n, 4, 8), np.float32), hists=np.full((n, 4), 0.25, np.float32),
                        labs=np.zeros((n, 3), np.float32), colour_hashes=np.zeros((n, 14), np.uint8),
                        hashes=np.zeros((n, 4, 4), np.uint64), store=FingerprintStore(None))


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_nearest_other_equals_the_loop(seed):
    rng = np.random.default_rng(seed)
    owners = [f"SKU-{k}" for k in rng.integers(0, 40, 300)]
    index = _tiny_index(owners)
    values = rng.integers(-5, 5, 300).astype(np.float64)  # small integers: many ties
    values[rng.choice(300, 30, replace=False)] = -np.inf  # rows a large catalogue did not score
    # nearest_other: what item_check's loop over the other SKUs picked, ties included.
    order = list(dict.fromkeys(owners))
    exclude = tuple(order[:3])
    others = [o for o in order if o not in exclude]
    vals, rows = _loop_best_per_owner(values, index, others)
    k = int(np.argmax(vals))
    assert scoring.nearest_other(values, index, exclude=exclude) == (others[k], float(vals[k]), int(rows[k]))


def test_nearest_other_without_other_owners():
    index = _tiny_index(["A", "A"])
    assert scoring.nearest_other(np.array([1.0, 2.0]), index, exclude=("A",)) == (None, float("-inf"), -1)


def test_group_max_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="one shape"):
        search.group_max(np.zeros(3), np.zeros(4, int), 2)


def test_the_basis_is_stored_and_reused_then_refitted_when_the_catalogue_outgrows_it(tmp_path):
    cat = SyntheticCatalogue(400, seed=5)
    store, owners, digests = _store(tmp_path, cat)
    paths = [str(i) for i in range(cat.n)]
    first = load_index(store, owners[:150], digests[:150], paths[:150], large_from=100)
    key = first.coarse.basis.key
    assert first.coarse.basis.fitted_on == 150
    # Reopened from the file: the same basis and the same coarse vectors, nothing refitted.
    again = load_index(FingerprintStore(tmp_path / "index.sqlite"), owners[:150], digests[:150], paths[:150],
                       large_from=100)
    assert again.coarse.basis.key == key
    assert np.array_equal(again.coarse.vectors, first.coarse.vectors)
    assert again.coarse.basis.embedding.components.dtype == np.float32
    # Grown, but less than REFIT_GROWTH times: new images are projected on the same basis.
    grown = load_index(store, owners[:280], digests[:280], paths[:280], large_from=100)
    assert grown.coarse.basis.key == key
    assert np.array_equal(grown.coarse.vectors[:150], first.coarse.vectors)
    # Outgrown: fitted again on the larger catalogue.
    refit = load_index(store, owners, digests, paths, large_from=100)
    assert refit.coarse.basis.key != key and refit.coarse.basis.fitted_on == 400
    n_bases = sqlite3.connect(tmp_path / "index.sqlite").execute("SELECT COUNT(*) FROM bases").fetchone()[0]
    assert n_bases == 2


def test_basis_bytes_round_trip():
    rng = np.random.default_rng(0)
    basis = search.fit_coarse_basis(rng.random((50, 4, 16), np.float32), rng.random((50, 8), np.float32),
                                    fitted_on=50, embedding_dims=5, colour_dims=3)
    back = search.CoarseBasis.from_bytes(basis.to_bytes())
    assert back.key == basis.key and back.fitted_on == 50 and back.dims == 8
    assert np.array_equal(back.embedding.components, basis.embedding.components)


def test_a_store_written_without_vectors_is_unpacked_once_with_the_same_values(tmp_path):
    cat = SyntheticCatalogue(6, seed=7)
    store, owners, digests = _store(tmp_path, cat)
    fresh = load_index(store, owners, digests, owners)
    conn = sqlite3.connect(tmp_path / "index.sqlite")
    with conn:  # as an older packcheck left it: fingerprints only
        conn.execute("DELETE FROM signatures")
        conn.execute("DELETE FROM features")
    assert conn.execute("SELECT COUNT(*) FROM fingerprints WHERE pipeline=?", (PIPELINE_VERSION,)).fetchone()[0] == 6
    old = load_index(FingerprintStore(tmp_path / "index.sqlite"), owners, digests, owners)
    for name in ("embeddings", "hists", "labs", "colour_hashes", "hashes"):
        assert np.array_equal(getattr(old, name), getattr(fresh, name)), name
    assert conn.execute("SELECT COUNT(*) FROM features").fetchone()[0] == 6


@pytest.mark.parametrize("dims", [1, 3])
def test_fit_basis_finds_the_axes_of_largest_spread(dims):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 6)) * [0.1, 9.0, 0.2, 4.0, 0.3, 1.0]
    basis = search.fit_basis(x, dims=dims)
    assert basis.components.shape == (dims, 6)
    assert np.abs(basis.components).argmax(axis=1).tolist() == [1, 3, 5][:dims]
    assert np.allclose(basis.components @ basis.components.T, np.eye(dims), atol=1e-5)


def test_fit_basis_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 2 rows"):
        search.fit_basis(np.zeros((1, 4)), dims=2)
    with pytest.raises(ValueError, match="dims must be"):
        search.fit_basis(np.zeros((5, 4)), dims=0)

"""A synthetic catalogue of any size, with the structure of real listing fingerprints.

The large-catalogue benchmark (``packcheck bench speed``) and the search tests
use it: :class:`SyntheticCatalogue` generates listing fingerprints (and photos
of them) in chunks from a seed, :func:`write_catalogue` writes them as an index
store would hold them, so 100,000 listing images cost no image decoding.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

#: How the synthetic catalogue is grouped: images per SKU, SKUs per product (sibling
#: variants), products per family of lookalikes.
IMAGES_PER_SKU, SKUS_PER_PRODUCT, PRODUCTS_PER_FAMILY = 2, 3, 8
_LATENT = 64


class SyntheticCatalogue:
    """Listing fingerprints with the structure of real ones, generated in chunks from a seed.

    Embeddings are ``relu(base + z @ W + noise)`` normalised, where the latent ``z``
    sums a family, a product, a SKU and an image part, so lookalikes, sibling
    variants and a SKU's images are increasingly alike (cosines about 0.33 between
    unrelated images, 0.6 within a family, 0.76 between a SKU's images, 0.8
    between an image's quarter-turns, about half the features zero, as EfficientNet
    features of real listing images are). Colour histograms mix a product palette
    with a SKU palette.
    """

    def __init__(self, n: int, *, seed: int = 0, keypoints: int = 32):
        self.n = n
        self.seed = seed
        self.keypoints = keypoints
        rng = np.random.default_rng(seed)
        from ..core.colour import HIST_SIZE
        from ..core.embedding import EMBEDDING_DIM

        self.dim, self.bins = EMBEDDING_DIM, HIST_SIZE
        self.W = (rng.standard_normal((_LATENT, self.dim)) / np.sqrt(_LATENT)).astype(np.float32)
        self.base = (rng.standard_normal(self.dim) * 0.6 - 0.35).astype(np.float32)
        n_sku = -(-n // IMAGES_PER_SKU)
        n_prod = -(-n_sku // SKUS_PER_PRODUCT)
        n_fam = -(-n_prod // PRODUCTS_PER_FAMILY)
        self.z_family = rng.standard_normal((n_fam, _LATENT)).astype(np.float32)
        self.z_product = rng.standard_normal((n_prod, _LATENT)).astype(np.float32)
        self.z_sku = rng.standard_normal((n_sku, _LATENT)).astype(np.float32)
        self.palette_product = rng.integers(0, self.bins, (n_prod, 12))
        self.palette_sku = rng.integers(0, self.bins, (n_sku, 6))

    def sku(self, row):
        return np.asarray(row) // IMAGES_PER_SKU

    def product(self, row):
        return self.sku(row) // SKUS_PER_PRODUCT

    def owner(self, row: int) -> str:
        return f"SYN-{int(self.sku(row)):06d}"

    def siblings(self, row: int) -> list[str]:
        p = int(self.product(row))
        return [f"SYN-{s:06d}" for s in range(p * SKUS_PER_PRODUCT, (p + 1) * SKUS_PER_PRODUCT)
                if s * IMAGES_PER_SKU < self.n and s != int(self.sku(row))]

    def file_bytes(self, row: int) -> bytes:
        return f"packcheck synthetic listing image {row} of {self.n}, seed {self.seed}\n".encode()

    def _row_parts(self, row: int) -> dict:
        """The random parts of one listing image, from its own seed (so a photo of it can be made later)."""
        rng = np.random.default_rng([self.seed, row])
        return {"latent": rng.standard_normal(_LATENT, np.float32),
                "turns": rng.standard_normal((4, self.dim), np.float32),
                "weights": rng.dirichlet(np.ones(18)).astype(np.float32),
                "hashes": rng.integers(0, 2**63, (4, 4), dtype=np.uint64),
                "colour_hash": rng.integers(0, 8, 14, dtype=np.uint8),
                "lab": rng.uniform(0, 255, 3).astype(np.float32),
                "kp_points": rng.uniform(0, 400, (self.keypoints, 2)).astype(np.float32),
                "kp_desc": rng.integers(0, 120, (self.keypoints, 128), dtype=np.uint8)}

    def chunk(self, start: int, stop: int) -> dict:
        """Arrays of rows ``start..stop``: pre-activations, embeddings (n, 4, D), hists (n, H), ..."""
        rows = np.arange(start, stop)
        parts = [self._row_parts(int(r)) for r in rows]
        sku = self.sku(rows)
        prod = sku // SKUS_PER_PRODUCT
        fam = prod // PRODUCTS_PER_FAMILY
        z = (self.z_family[fam] + 0.6 * self.z_product[prod] + 0.45 * self.z_sku[sku]
             + 0.35 * np.stack([p["latent"] for p in parts]))
        pre = self.base + z @ self.W
        emb = np.maximum(pre[:, None, :] + 0.7 * np.stack([p["turns"] for p in parts]), 0.0)
        emb /= np.maximum(np.linalg.norm(emb, axis=2, keepdims=True), 1e-6)
        hists = np.full((len(rows), self.bins), 1e-4, np.float32)
        bins = np.concatenate([self.palette_product[prod], self.palette_sku[sku]], axis=1)
        weights = np.stack([p["weights"] for p in parts])
        np.add.at(hists, (np.repeat(np.arange(len(rows)), bins.shape[1]), bins.ravel()), weights.ravel())
        hists /= hists.sum(axis=1, keepdims=True)
        return {"rows": rows, "pre": pre.astype(np.float32), "embeddings": emb.astype(np.float32),
                "hists": hists, "parts": parts}

    def fingerprints(self, start: int, stop: int):
        """``(row, Fingerprint)`` for rows ``start..stop``, as indexing a real image would store them."""
        from ..core.fingerprint import Fingerprint, Quality
        from ..core.records import LocationSummary
        from ..core.keypoints import Keypoints

        c = self.chunk(start, stop)
        for i, row in enumerate(c["rows"]):
            p = c["parts"][i]
            yield int(row), Fingerprint(
                embeddings=c["embeddings"][i], hists=c["hists"][i:i + 1], labs=p["lab"][None],
                colour_hashes=p["colour_hash"][None], hashes=p["hashes"],
                keypoints=Keypoints(p["kp_points"], p["kp_desc"], (400, 400)),
                quality=Quality(180.0, 200.0), location=LocationSummary((0, 0, 400, 400), True, 1, 0.5, "synthetic"),
                work_size=(400, 400))

    def photo(self, row: int, *, seed: int, keypoints: int = 600):
        """A synthetic photo of listing ``row``: a noisy product crop and a whole-frame crop, the
        product's colours mixed with the bench's, 600 keypoints."""
        from ..core.keypoints import Keypoints
        from ..core.scoring import PhotoSet

        rng = np.random.default_rng([self.seed, 10**9 + seed])
        c = self.chunk(row, row + 1)
        pre, p = c["pre"][0], c["parts"][0]
        crop = np.maximum(pre + 2.4 * rng.standard_normal(self.dim).astype(np.float32), 0.0)
        frame = np.maximum(0.5 * pre + 2.4 * rng.standard_normal(self.dim).astype(np.float32), 0.0)
        bench = rng.dirichlet(np.ones(self.bins) * 0.05).astype(np.float32)
        hist = 0.6 * c["hists"][0] + 0.4 * bench
        kp = Keypoints(rng.uniform(0, 400, (keypoints, 2)).astype(np.float32),
                       rng.integers(0, 120, (keypoints, 128), dtype=np.uint8), (400, 400))
        emb = np.stack([crop / np.linalg.norm(crop), frame / np.linalg.norm(frame)]).astype(np.float32)
        return PhotoSet(embeddings=emb, hists=hist[None].astype(np.float32), labs=p["lab"][None],
                        hashes=p["hashes"][:1], colour_hashes=p["colour_hash"][None], keypoints=(kp,))


def write_catalogue(folder: Path, cat: SyntheticCatalogue, *, chunk: int = 2_000, progress=None) -> list:
    """Write ``cat`` into ``folder``: one small file per listing image and the index store, as indexing
    would leave them. Returns the ``(owner, path)`` entries."""
    from ..store.fingerprints import FingerprintStore, to_blobs

    images = folder / "listings"
    images.mkdir(parents=True, exist_ok=True)
    store = FingerprintStore(folder / "index.sqlite")
    entries = []
    for start in range(0, cat.n, chunk):
        items = []
        for row, fp in cat.fingerprints(start, min(cat.n, start + chunk)):
            data = cat.file_bytes(row)
            path = images / f"{row:06d}.img"
            path.write_bytes(data)
            entries.append((cat.owner(row), path))
            core, kp = to_blobs(fp)
            items.append((hashlib.sha256(data).hexdigest(), core, kp, fp))
        store.put_many(items)
        if progress:
            progress(min(cat.n, start + chunk), cat.n)
    return entries

"""The imagehash loops packcheck's speed is compared with (issue #19): a naive one and a careful one.

Both take pHash, dHash and colorhash of the photo and of every listing image of
the ordered SKUs with Pillow and `imagehash`, and compare them. They differ in
the two things anyone who profiles such a loop fixes first:

* **naive**: Pillow decodes every photo at full resolution, and every listing
  image is opened and hashed again for every order;
* **careful**: ``Image.draft("RGB", (w // 8, h // 8))`` before the hashes lets
  libjpeg decode a JPEG at 1/8 through the DCT (the hashes shrink the image to
  32 px or less anyway), and each listing image's hashes are computed once and
  kept in a dict.

The careful loop is the strongest cheap peer: what packcheck costs on top of it
is what its extra signals (locating the product, the embedding, keypoints)
cost.
"""
from __future__ import annotations

from pathlib import Path


def _hashes(im) -> tuple:
    import imagehash

    return imagehash.phash(im), imagehash.dhash(im), imagehash.colorhash(im)


def naive_hashes(path: str | Path) -> tuple:
    """pHash, dHash, colorhash of an image decoded at full resolution."""
    from PIL import Image

    with Image.open(path) as im:
        return _hashes(im)


def careful_hashes(path: str | Path) -> tuple:
    """pHash, dHash, colorhash of an image decoded at 1/8 where the format allows it (JPEG)."""
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
        # A no-op for formats without DCT scaling (PNG, WebP): they decode in full.
        im.draft("RGB", (max(1, w // 8), max(1, h // 8)))
        return _hashes(im)


def distance(a: tuple, b: tuple) -> int:
    """Summed Hamming distance of two hash triples (imagehash's ``a - b``)."""
    return sum(x - y for x, y in zip(a, b))


class ImagehashLoop:
    """One order at a time: the photo's hashes against the ordered SKUs' listing images.

    ``careful=True``: reduced decode and listing hashes cached (see the module doc).
    """

    def __init__(self, *, careful: bool):
        self.careful = careful
        self._listings: dict[str, tuple] = {}

    def listing(self, path: str | Path) -> tuple:
        if not self.careful:
            return naive_hashes(path)
        key = str(path)
        got = self._listings.get(key)
        if got is None:
            got = self._listings[key] = careful_hashes(path)
        return got

    def check(self, photo: str | Path, listing_paths) -> int:
        """The smallest distance of the photo to any of ``listing_paths`` (a verdict would threshold it)."""
        mine = careful_hashes(photo) if self.careful else naive_hashes(photo)
        return min(distance(mine, self.listing(p)) for p in listing_paths)

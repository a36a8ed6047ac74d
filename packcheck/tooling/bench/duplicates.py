"""Near-duplicate benchmark: how often genuine photos trip ``photo_reused`` / ``photo_is_listing``, and how
often copies are caught.

Genuine pairs (must not trip; target at most 0.5%):

* every pair of photos of the same class of each manifest given (``kind`` photo
  or reference; pairs of two ``reference`` images are counted apart: in the
  grocery set some are adjacent frames of one shelf shot, i.e. nearly the same
  picture);
* same-bench pairs: generated scenes of one product at one station (same
  surface, light and camera pose), the hardest case for reuse;
* every photo against its own class's listing image (``photo_is_listing``;
  the printed-product set's genuine photos are perspective views of the
  listing's print).

Copies (must trip), made from the photos and listing images of the manifests
with a seeded generator: JPEG re-encode (quality 50-95), resize (0.5x-1.5x),
crop (up to 10% of each side, anywhere), the three combined, and, for listing
images, a simulated screen photo (perspective warp into a dark bezel inside a
room, gamma and colour shift, moire, blur, glare, noise, JPEG).

Each pair goes through exactly what the station and the audit run: the hash
look-up (:func:`~packcheck.core.duplicates.hash_distances` within
``candidate_max_distance``), then :func:`~packcheck.core.duplicates.compare_frames`
and the two rules. Deterministic for a seed.
"""
from __future__ import annotations

import csv
import io
import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image

from ...apps.duplicates import product_frame
from ...core import duplicates as dup
from ...core.fingerprint import fingerprint_photo
from ...core.imaging import load_image
from ...core.thresholds import DuplicateLimits, load_thresholds


@dataclass(frozen=True)
class Item:
    cls: str
    kind: str  # iconic | photo | reference
    path: Path


def read_items(manifest: Path) -> list[Item]:
    with open(manifest, newline="", encoding="utf-8-sig") as f:
        return [Item(r["class_name"], r["kind"], manifest.parent / r["path"]) for r in csv.DictReader(f)]


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=int(quality))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _resize(rgb: np.ndarray, s: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (max(16, round(w * s)), max(16, round(h * s))),
                      interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)


def _crop(rgb: np.ndarray, rng: np.random.Generator, most: float = 0.10) -> np.ndarray:
    h, w = rgb.shape[:2]
    cw, ch = rng.uniform(0, most) * w, rng.uniform(0, most) * h
    x0, y0 = int(rng.uniform(0, cw)), int(rng.uniform(0, ch))
    return rgb[y0:h - int(ch - y0), x0:w - int(cw - x0)]


def attack(rgb: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """One copy of ``rgb``: 'reencode', 'resize', 'crop' or 'all' (crop, resize, re-encode)."""
    if kind == "reencode":
        return _jpeg(rgb, rng.integers(50, 96))
    if kind == "resize":
        return _resize(rgb, rng.uniform(0.5, 1.5))
    if kind == "crop":
        return _crop(rgb, rng)
    return _jpeg(_resize(_crop(rgb, rng), rng.uniform(0.5, 1.5)), rng.integers(50, 96))


def screen_photo(listing: np.ndarray, rng: np.random.Generator, room: np.ndarray | None = None,
                 size=(1280, 960)) -> np.ndarray:
    """The listing image shown on a monitor and photographed: perspective, bezel, gamma and colour shift,
    moire, slight blur, glare, noise, JPEG."""
    W, H = size
    if room is None:
        room = np.full((H, W, 3), rng.integers(90, 200, 3), np.uint8)
        room = cv2.GaussianBlur((room + rng.normal(0, 12, room.shape)).clip(0, 255).astype(np.uint8), (0, 0), 9)
    else:
        room = cv2.resize(room, (W, H), interpolation=cv2.INTER_AREA)
    lh, lw = listing.shape[:2]
    share = rng.uniform(0.55, 0.9)  # of the frame's width the screen spans
    sw = share * W
    sh = min(sw * lh / lw, 0.92 * H)
    sw = sh * lw / lh
    cx, cy = W / 2 + rng.uniform(-0.05, 0.05) * W, H / 2 + rng.uniform(-0.05, 0.05) * H
    quad = np.float32([[cx - sw / 2, cy - sh / 2], [cx + sw / 2, cy - sh / 2],
                       [cx + sw / 2, cy + sh / 2], [cx - sw / 2, cy + sh / 2]])
    quad += rng.normal(0, 0.03 * sw, quad.shape).astype(np.float32)  # a tilted phone: perspective
    bezel = quad + (quad - quad.mean(axis=0)) * rng.uniform(0.04, 0.08)
    img = room.copy()
    cv2.fillConvexPoly(img, np.round(bezel).astype(np.int32), tuple(int(v) for v in rng.integers(10, 40, 3)))
    shown = listing.astype(np.float32) / 255.0
    shown = shown ** rng.uniform(0.8, 1.25) * rng.uniform(0.85, 1.1, 3)  # gamma, colour shift
    yy, xx = np.mgrid[0:lh, 0:lw]
    f = rng.uniform(0.15, 0.35)
    moire = 1 + rng.uniform(0.03, 0.08) * np.sin(f * (xx * np.cos(0.3) + yy * np.sin(0.3)))
    shown = (shown * moire[..., None]).clip(0, 1)
    M = cv2.getPerspectiveTransform(np.float32([[0, 0], [lw, 0], [lw, lh], [0, lh]]), quad)
    warped = cv2.warpPerspective((shown * 255).astype(np.uint8), M, (W, H), flags=cv2.INTER_LINEAR)
    inside = cv2.warpPerspective(np.full((lh, lw), 255, np.uint8), M, (W, H)) > 0
    img[inside] = warped[inside]
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.6, 1.4))
    gx, gy = rng.uniform(0.2, 0.8) * W, rng.uniform(0.2, 0.8) * H
    glare = np.exp(-(((np.arange(W)[None] - gx) ** 2 + (np.arange(H)[:, None] - gy) ** 2) / (2 * (0.12 * W) ** 2)))
    img = img.astype(np.float32) + rng.uniform(30, 70) * glare[..., None] + rng.normal(0, 3, img.shape)
    return _jpeg(img.clip(0, 255).astype(np.uint8), rng.integers(70, 92))


class _Cache:
    """Decoded pictures, their signatures and frames, each computed once."""

    def __init__(self, locate):
        self.locate = locate
        self.rgb: dict[Path, np.ndarray] = {}
        self.frames: dict[Path, dup.Frame] = {}
        self.products: dict[Path, dup.Frame] = {}
        self.sigs: dict[Path, dup.PhotoSignature] = {}

    def product(self, path: Path) -> dup.Frame:
        """The photo's frame as the checker's listing comparison has it (the fingerprint's keypoints)."""
        if path not in self.products:
            self.products[path] = photo_product_frame(load_image(path), self.locate)
        return self.products[path]

    def load(self, path: Path) -> np.ndarray:
        if path not in self.rgb:
            self.rgb[path] = load_image(path).rgb
        return self.rgb[path]

    def frame(self, path: Path, *, listing: bool = False) -> dup.Frame:
        if path not in self.frames:
            self.frames[path] = dup.listing_frame(load_image(path)) if listing else dup.frame_of(self.load(path))
        return self.frames[path]

    def sig(self, path: Path) -> dup.PhotoSignature:
        if path not in self.sigs:
            self.sigs[path] = dup.photo_signature(self.load(path))
        return self.sigs[path]


def photo_product_frame(image, locate) -> dup.Frame:
    """:func:`~packcheck.apps.duplicates.product_frame` of a photo fingerprinted as the checker does
    (the embedding, which the comparison does not use, left out)."""
    fp = fingerprint_photo(image, locate=locate, use_embedding=False)
    return product_frame(image, fp)


def _reused(query_sig, query_frame, other_sig, other_frame, limits: DuplicateLimits) -> tuple[bool, bool]:
    """(hash candidate?, judged a reused photo?) exactly as the station and the audit decide."""
    distance = dup.hash_distance(query_sig, other_sig)
    if distance > limits.candidate_max_distance:
        return False, False
    c = dup.compare_frames(query_frame, other_frame, limits)
    return True, bool(c is not None and dup.is_reuse(c, limits))


def _listing(photo_frame, listing_frame, limits: DuplicateLimits) -> bool:
    c = dup.compare_frames(photo_frame, listing_frame, limits)
    return bool(c is not None and dup.is_listing_copy(c, limits))


def _rate(hits: int, n: int) -> dict:
    return {"n": n, "hits": hits, "rate": round(hits / n, 4) if n else None}


def same_bench_scenes(n_classes: int, shots: int, seed: int) -> list[tuple[str, list[np.ndarray]]]:
    """Generated photos of one product at one station (same surface, light, camera pose), per class."""
    from ..synth import list_products, list_variants, render_scene

    rng = np.random.default_rng([seed, 0xD0B])
    out = []
    products = [(p, v) for p in list_products() for v in list_variants(p)[:3]]
    for p, v in products[:n_classes]:
        station = int(rng.integers(2 ** 31))
        shots_rgb = [_jpeg(render_scene([(p, v)], seed=int(rng.integers(2 ** 31)), station_seed=station,
                                        size=(1280, 960)), 85) for _ in range(shots)]
        out.append((f"{p}-{v}", [load_image(_encode(s)).rgb for s in shots_rgb]))
    return out


def _encode(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def run(manifests: list[Path], *, same_bench: int = 36, shots: int = 3, copies: int = 120, seed: int = 0,
        thresholds_path: Path | None = None, progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Measure the false and detection rates; returns a JSON-able report."""
    th = load_thresholds(thresholds_path)
    limits = th.duplicates
    rng = np.random.default_rng([seed, 0xD0C])
    cache = _Cache(th.locate)
    report: dict = {"limits": limits.__dict__, "sets": {}, "copies": {}}
    t0 = time.perf_counter()
    all_photos: list[Path] = []
    all_listings: list[Path] = []
    listing_set: dict[Path, str] = {}  # the set each listing image came from (copies are reported per set)
    for manifest in manifests:
        items = read_items(manifest)
        name = manifest.parent.name + "/" + manifest.name
        by_class: dict[str, list[Item]] = {}
        for it in items:
            by_class.setdefault(it.cls, []).append(it)
        pairs = {"photo pairs": [0, 0, 0], "reference-reference pairs": [0, 0, 0]}
        listing_hits = listing_n = 0
        classes = list(by_class.items())
        for k, (cls, its) in enumerate(classes):
            photos = [i for i in its if i.kind != "iconic"]
            icons = [i for i in its if i.kind == "iconic"]
            for a, b in itertools.combinations(photos, 2):
                key = "reference-reference pairs" if a.kind == b.kind == "reference" else "photo pairs"
                cand, hit = _reused(cache.sig(a.path), cache.frame(a.path), cache.sig(b.path), cache.frame(b.path),
                                    limits)
                pairs[key][0] += 1
                pairs[key][1] += cand
                pairs[key][2] += hit
            for icon in icons:
                for p in photos:
                    listing_n += 1
                    listing_hits += _listing(cache.product(p.path), cache.frame(icon.path, listing=True), limits)
            all_photos += [p.path for p in photos]
            all_listings += [i.path for i in icons]
            listing_set.update((i.path, name) for i in icons)
            # Free the pixels of a finished class (frames and signatures stay, small).
            for i in its:
                cache.rgb.pop(i.path, None)
            if progress:
                progress(f"genuine pairs of {name}", k + 1, len(classes))
        report["sets"][name] = {
            **{key: {**_rate(v[2], v[0]), "hash_candidates": v[1]} for key, v in pairs.items() if v[0]},
            "photo vs own listing": _rate(listing_hits, listing_n),
        }
    if same_bench:
        scenes = same_bench_scenes(same_bench, shots, seed)
        n = hits = cands = 0
        for k, (cls, imgs) in enumerate(scenes):
            sigs = [dup.photo_signature(i) for i in imgs]
            frames = [dup.frame_of(i) for i in imgs]
            for a, b in itertools.combinations(range(len(imgs)), 2):
                cand, hit = _reused(sigs[a], frames[a], sigs[b], frames[b], limits)
                n, cands, hits = n + 1, cands + cand, hits + hit
            if progress:
                progress("same-bench scenes", k + 1, len(scenes))
        report["sets"]["generated scenes, one bench per product"] = {
            "photo pairs": {**_rate(hits, n), "hash_candidates": cands}}
    # Copies.
    picks = [all_photos[i] for i in rng.choice(len(all_photos), min(copies, len(all_photos)), replace=False)]
    for kind in ("reencode", "resize", "crop", "all"):
        hits = cands = 0
        for k, path in enumerate(picks):
            original = load_image(path, work_side=1000).rgb  # the copy is made from the larger file
            copy = load_image(_encode(attack(original, kind, rng))).rgb
            cand, hit = _reused(dup.photo_signature(copy), dup.frame_of(copy), cache.sig(path), cache.frame(path),
                                limits)
            cands, hits = cands + cand, hits + hit
            cache.rgb.pop(path, None)
            if progress:
                progress(f"reused photos ({kind})", k + 1, len(picks))
        report["copies"][f"photo_reused, {kind}"] = {**_rate(hits, len(picks)), "hash_candidates": cands}
    lpicks = [all_listings[i] for i in rng.choice(len(all_listings), min(copies, len(all_listings)), replace=False)]
    for kind in ("reencode", "resize", "crop", "all", "screen"):
        by_set: dict[str, list[int]] = {}
        for k, path in enumerate(lpicks):
            rgb = load_image(path, work_side=1000).rgb
            copy = screen_photo(rgb, rng) if kind == "screen" else attack(rgb, kind, rng)
            copy = load_image(_encode(copy))
            hit = _listing(photo_product_frame(copy, th.locate), cache.frame(path, listing=True), limits)
            counts = by_set.setdefault(listing_set[path], [0, 0])
            counts[0], counts[1] = counts[0] + hit, counts[1] + 1
            if progress:
                progress(f"listing copies ({kind})", k + 1, len(lpicks))
        # Per set too: a listing with white background around its product differs from a full-bleed cover.
        report["copies"][f"photo_is_listing, {kind}"] = {
            **_rate(sum(h for h, _ in by_set.values()), len(lpicks)),
            "by_set": {name: _rate(h, n) for name, (h, n) in sorted(by_set.items())}}
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report


def format_report(report: dict) -> str:
    lines = ["genuine (must not trip; target <= 0.5%)", f"{'set':58} {'pairs':>7} {'tripped':>8} {'rate':>7}"]
    for name, parts in report["sets"].items():
        for what, r in parts.items():
            lines.append(f"{(name + ': ' + what)[:58]:58} {r['n']:>7} {r['hits']:>8} {100 * (r['rate'] or 0):>6.2f}%")
    lines += ["", "copies (must trip)", f"{'copy':58} {'copies':>7} {'caught':>8} {'rate':>7}"]
    for what, r in report["copies"].items():
        lines.append(f"{what:58} {r['n']:>7} {r['hits']:>8} {100 * (r['rate'] or 0):>6.1f}%")
        for name, part in r.get("by_set", {}).items():
            lines.append(f"{('  of ' + name)[:58]:58} {part['n']:>7} {part['hits']:>8} {100 * (part['rate'] or 0):>6.1f}%")
    lines.append(f"({report['seconds']} s)")
    return "\n".join(lines)

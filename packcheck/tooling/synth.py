"""Procedural products and packing-station photos for tests, demos and benchmarks.

Everything here is drawn with OpenCV primitives and numpy noise, so the material
has no licence strings attached beyond three public-domain / CC0 photographs that
scikit-image bundles and that are used as *printed artwork* on some products
(see ``ARTWORK_LICENCES``).

The module has three layers:

1. **Products** (:data:`PRODUCTS`): twelve products, each with a distinctive
   silhouette and print, and three or four colour *variants*. A variant only
   changes the body colour; labels, prints and logos keep their own colours, as
   with a real colourway. Shapes and textures depend only on the product name,
   so sibling variants have pixel-identical alpha masks.
2. **Listing images** (:func:`render_listing`, :func:`render_listing_group`): the
   product centred on a white background, like a web-shop image.
3. **Packing-station photos** (:func:`render_scene`, :func:`render_empty_station`):
   products placed on a table (wood / grey mat / cardboard) or inside an open
   box, photographed by a tilted phone camera with uneven light, shadows,
   colour cast, noise, blur, hands and clutter. A *station* (surface, box,
   lighting, camera pose) is a pure function of ``station_seed`` so that an
   empty-station reference and the photos of that station line up to 1-2 px.

All images are ``uint8`` **RGB** arrays of shape ``(H, W, 3)``; sizes are given
as ``(width, height)`` like OpenCV. Every function is deterministic for a given
seed (``np.random.default_rng``) and library versions.

EXIF orientation
----------------
:func:`save_jpeg` stores the pixels so that a viewer that applies the EXIF
Orientation tag (0x0112) shows the upright image, as phone cameras do. With
``U`` the upright image and ``S`` the stored one (numpy notation,
``np.rot90(x, 1)`` = 90 degrees counter-clockwise):

====  ==========================  ======================================
tag   viewer does to S            we store S =
====  ==========================  ======================================
1     nothing                     ``U``
2     mirror left-right           ``U[:, ::-1]``
3     rotate 180                  ``U[::-1, ::-1]``
4     mirror top-bottom           ``U[::-1, :]``
5     transpose                   ``U.transpose(1, 0, 2)``
6     rotate 90 clockwise         ``np.rot90(U, 1)`` (U turned 90 CCW)
7     transverse                  ``np.rot90(U, 2).transpose(1, 0, 2)``
8     rotate 90 counter-clockwise ``np.rot90(U, -1)`` (U turned 90 CW)
====  ==========================  ======================================

For 5-8 the stored JPEG is therefore ``H x W`` pixels wide-side-down (e.g. a
1280x960 photo is stored 960 wide, 1280 tall); ``cv2.imread`` and
``PIL.ImageOps.exif_transpose`` give back the upright 1280x960 image.
"""
from __future__ import annotations

import csv
import functools
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import cv2
import numpy as np

__all__ = [
    "PRODUCTS",
    "ARTWORK_LICENCES",
    "ProductSpec",
    "SceneInfo",
    "list_products",
    "list_variants",
    "variant_rgb",
    "render_sprite",
    "render_listing",
    "render_listing_group",
    "render_scene",
    "render_empty_station",
    "orient_for_exif",
    "save_jpeg",
    "make_scene_manifest",
]

# The skimage.data images used as printed artwork, with the licence stated in
# scikit-image's own docstrings. Only public-domain / CC0 images are allowed.
ARTWORK_LICENCES = {
    "rocket": "public domain (SpaceX launch photo of DSCOVR on Falcon 9)",
    "coffee": "CC0 (photo by Rachel Michetti, courtesy of Pikolo Espresso Bar)",
    "chelsea": "CC0 (photo of Chelsea the cat by Stefan van der Walt)",
}

# Internal working resolution of product drawings (long side, px). Sprites are
# drawn once at this size and resampled, so a product looks the same in every
# listing and scene.
_WORK = 1024

Float = np.float32


# ---------------------------------------------------------------------------
# small numeric helpers
# ---------------------------------------------------------------------------

def _stable_seed(*parts: object) -> int:
    """A seed that is stable across runs (unlike ``hash()``)."""
    return zlib.crc32("|".join(str(p) for p in parts).encode()) & 0xFFFFFFFF


def _rgb(c: Sequence[float]) -> np.ndarray:
    """0-255 colour tuple -> float32 0..1 array."""
    return np.asarray(c, dtype=Float) / 255.0


def _noise(rng: np.random.Generator, h: int, w: int, cell: float, octaves: int = 4,
           persistence: float = 0.5) -> np.ndarray:
    """Smooth fractal noise, roughly zero-mean with unit std, shape ``(h, w)``.

    ``cell`` is the size in pixels of the coarsest feature. Each octave is a
    small random grid upsampled with bicubic interpolation, which is far faster
    than true Perlin noise and looks the same for textures.
    """
    out = np.zeros((h, w), Float)
    amp = 1.0
    for i in range(octaves):
        c = max(cell / (2 ** i), 1.0)
        if c <= 1.5:  # pixel-level grain: no need to upsample a grid
            out += amp * cv2.GaussianBlur(rng.standard_normal((h, w)).astype(Float), (0, 0), 0.5 * c)
            amp *= persistence
            continue
        gh, gw = max(int(h / c) + 2, 2), max(int(w / c) + 2, 2)
        grid = rng.standard_normal((gh, gw)).astype(Float)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        amp *= persistence
    s = float(out.std())
    return out / s if s > 0 else out


def _aniso_noise(rng: np.random.Generator, h: int, w: int, cx: float, cy: float) -> np.ndarray:
    """Noise stretched along x (cell ``cx``) vs y (cell ``cy``): wood grain, fibres."""
    gh, gw = max(int(h / cy) + 2, 2), max(int(w / cx) + 2, 2)
    grid = rng.standard_normal((gh, gw)).astype(Float)
    out = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    return out / max(float(out.std()), 1e-6)


def _mask(h: int, w: int) -> np.ndarray:
    return np.zeros((h, w), np.uint8)


def _f(m: np.ndarray) -> np.ndarray:
    """uint8 mask -> float32 0..1."""
    return m.astype(Float) / 255.0


def _pts(p: Iterable[Sequence[float]]) -> np.ndarray:
    return np.round(np.asarray(list(p), dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2)


def _poly(h: int, w: int, pts, *, outline: int = 0) -> np.ndarray:
    """Anti-aliased filled (or outlined) polygon as float mask."""
    m = _mask(h, w)
    if outline:
        cv2.polylines(m, [_pts(pts)], True, 255, outline, cv2.LINE_AA)
    else:
        cv2.fillPoly(m, [_pts(pts)], 255, cv2.LINE_AA)
    return _f(m)


def _ellipse(h: int, w: int, c, axes, angle: float = 0, a0: float = 0, a1: float = 360,
             thickness: int = -1) -> np.ndarray:
    m = _mask(h, w)
    cv2.ellipse(m, (int(round(c[0])), int(round(c[1]))),
                (int(round(axes[0])), int(round(axes[1]))), angle, a0, a1, 255, thickness,
                cv2.LINE_AA)
    return _f(m)


def _rounded_rect(h: int, w: int, x0: float, y0: float, x1: float, y1: float, r: float) -> np.ndarray:
    m = _mask(h, w)
    r = int(r)
    x0, y0, x1, y1 = int(x0), int(y0), int(x1), int(y1)
    cv2.rectangle(m, (x0 + r, y0), (x1 - r, y1), 255, -1)
    cv2.rectangle(m, (x0, y0 + r), (x1, y1 - r), 255, -1)
    for cx, cy in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
        cv2.circle(m, (cx, cy), r, 255, -1, cv2.LINE_AA)
    return _f(m)


def _text_mask(h: int, w: int, text: str, center, scale: float, thickness: int,
               font: int = cv2.FONT_HERSHEY_DUPLEX, width: float | None = None) -> np.ndarray:
    """Text centred on ``center``; if ``width`` is given the scale is fitted to it."""
    if width is not None:
        (tw, _), _ = cv2.getTextSize(text, font, 1.0, thickness)
        scale = width / max(tw, 1)
    (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
    m = _mask(h, w)
    org = (int(center[0] - tw / 2), int(center[1] + th / 2))
    cv2.putText(m, text, org, font, scale, 255, thickness, cv2.LINE_AA)
    return _f(m)


def _line_mask(h: int, w: int, pts, thickness: int, closed: bool = False) -> np.ndarray:
    m = _mask(h, w)
    cv2.polylines(m, [_pts(pts)], closed, 255, thickness, cv2.LINE_AA)
    return _f(m)


def _dashed(h: int, w: int, pts, thickness: int = 2, dash: int = 10) -> np.ndarray:
    """Stitching: a dashed polyline."""
    m = _mask(h, w)
    p = np.asarray(pts, np.float64)
    seg = np.diff(p, axis=0)
    lens = np.hypot(seg[:, 0], seg[:, 1])
    total = lens.sum()
    if total <= 0:
        return _f(m)
    cum = np.concatenate([[0], np.cumsum(lens)])
    t = 0.0
    while t < total:
        a, b = t, min(t + dash, total)
        pa = np.array([np.interp(a, cum, p[:, 0]), np.interp(a, cum, p[:, 1])])
        pb = np.array([np.interp(b, cum, p[:, 0]), np.interp(b, cum, p[:, 1])])
        cv2.line(m, tuple(int(v) for v in pa), tuple(int(v) for v in pb), 255, thickness, cv2.LINE_AA)
        t += 2 * dash
    return _f(m)


def _arc_pts(c, axes, a0: float, a1: float, angle: float = 0, n: int = 64) -> np.ndarray:
    t = np.deg2rad(np.linspace(a0, a1, n))
    x, y = axes[0] * np.cos(t), axes[1] * np.sin(t)
    ca, sa = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    return np.stack([c[0] + ca * x - sa * y, c[1] + sa * x + ca * y], 1)


@functools.lru_cache(maxsize=8)
def _artwork(name: str) -> np.ndarray:
    """A bundled scikit-image photograph (float RGB) used as printed artwork."""
    if name not in ARTWORK_LICENCES:
        raise ValueError(f"artwork {name!r} is not in ARTWORK_LICENCES")
    import skimage.data  # local files shipped with scikit-image; no download

    img = getattr(skimage.data, name)()
    return (img[..., :3].astype(Float) / 255.0)


def _fit_art(name: str, w: int, h: int) -> np.ndarray:
    """Centre-crop the artwork to the aspect of ``(w, h)`` and resize."""
    a = _artwork(name)
    ah, aw = a.shape[:2]
    target = w / h
    if aw / ah > target:
        nw = int(ah * target)
        x0 = (aw - nw) // 2
        a = a[:, x0:x0 + nw]
    else:
        nh = int(aw / target)
        y0 = (ah - nh) // 2
        a = a[y0:y0 + nh]
    return cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA)


def _shift(x: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Translate without wrapping around; edge pixels are repeated (what lies
    just outside the frame is assumed to continue)."""
    M = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(x, M, (x.shape[1], x.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; wide blurs (soft shadows) run on a downsampled copy, which
    looks the same and is many times faster than a full-size wide kernel."""
    if sigma <= 0:
        return x
    if sigma < 6:
        return cv2.GaussianBlur(x, (0, 0), sigma)
    f = int(sigma // 3)
    h, w = x.shape[:2]
    small = cv2.resize(x, (max(w // f, 1), max(h // f, 1)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / f)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


# ---------------------------------------------------------------------------
# product canvas: flat paint, then one global light (shading) + sheen pass
# ---------------------------------------------------------------------------

class _Canvas:
    """An RGBA drawing surface for one product at working resolution.

    Paint is applied flat (body colour, print colours); the shading is a
    separate multiplicative ``light`` map plus an additive ``sheen`` map applied
    once in :meth:`finish`. That is what makes recolouring realistic: a
    variant only changes the flat body colour, while folds, highlights and
    texture (and the print's colours) stay exactly the same.
    """

    def __init__(self, w: int, h: int):
        self.w, self.h = w, h
        self.rgb = np.zeros((h, w, 3), Float)
        self.a = np.zeros((h, w), Float)
        self.light = np.ones((h, w), Float)
        self.sheen = np.zeros((h, w), Float)

    @staticmethod
    def _bbox(m: np.ndarray) -> tuple[slice, slice] | None:
        # Work only inside the mask's bounding box: most parts are small and
        # full-canvas float arithmetic per part made drawing ~10x slower.
        x, y, w, h = cv2.boundingRect((m > 0).astype(np.uint8))
        if w == 0 or h == 0:
            return None
        return slice(y, y + h), slice(x, x + w)

    def paint(self, m: np.ndarray, colour, alpha: float = 1.0) -> None:
        """Composite ``colour`` (RGB 0..1 triple or HxWx3 image) through mask ``m``."""
        bb = self._bbox(m)
        if bb is None:
            return
        mm = (m[bb] * alpha)[..., None]
        if isinstance(colour, np.ndarray) and colour.ndim == 3:
            col = colour[bb]
        else:
            col = np.asarray(colour, Float)
        self.rgb[bb] = self.rgb[bb] * (1 - mm) + col * mm
        self.a[bb] = np.maximum(self.a[bb], mm[..., 0])

    def shade(self, m: np.ndarray, factor: float | np.ndarray) -> None:
        """Multiply the light map by ``factor`` inside mask ``m`` (for flat shading of parts)."""
        bb = self._bbox(m)
        if bb is None:
            return
        f = np.asarray(factor, Float)
        if f.ndim == 2:
            f = f[bb]
        self.light[bb] *= 1 + (f - 1) * m[bb]

    def finish(self, edge_dark: float = 0.0, edge_px: float = 12) -> tuple[np.ndarray, np.ndarray]:
        """Apply shading; returns premultiplied RGB and alpha, cropped to the alpha bbox."""
        light = self.light
        if edge_dark > 0:
            # Surfaces curve away from the viewer at the silhouette: darken the rim.
            inside = (self.a > 0.5).astype(np.uint8)
            d = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
            light = light * (1 - edge_dark * (1 - np.clip(d / edge_px, 0, 1)))
        rgb = np.clip(self.rgb * light[..., None] + self.sheen[..., None], 0, 1)
        a = np.clip(self.a, 0, 1)
        ys, xs = np.nonzero(a > 0.01)
        pad = 4
        y0, y1 = max(ys.min() - pad, 0), min(ys.max() + pad + 1, self.h)
        x0, x1 = max(xs.min() - pad, 0), min(xs.max() + pad + 1, self.w)
        rgb, a = rgb[y0:y1, x0:x1], a[y0:y1, x0:x1]
        return (rgb * a[..., None]).astype(Float), a.astype(Float)


def _fabric(cv: _Canvas, rng: np.random.Generator, *, folds: int = 6, fold_amp: float = 0.13,
            weave: float = 0.035, twill: float = 0.0, sheen: float = 0.05) -> None:
    """Fabric shading: soft large-scale variation, fold creases and weave texture."""
    h, w = cv.h, cv.w
    cv.light *= 1 + 0.05 * _noise(rng, h, w, 260, 3)
    ridges = np.zeros((h, w), Float)
    for _ in range(folds):
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        ang = rng.uniform(0, np.pi)
        ln = rng.uniform(0.15, 0.45) * max(w, h)
        x1, y1 = x0 + ln * math.cos(ang), y0 + ln * math.sin(ang)
        # A crease is a dark line with a highlight beside it.
        cv2.line(ridges, (int(x0), int(y0)), (int(x1), int(y1)), -1.0, 10, cv2.LINE_AA)
        ox, oy = 14 * -math.sin(ang), 14 * math.cos(ang)
        cv2.line(ridges, (int(x0 + ox), int(y0 + oy)), (int(x1 + ox), int(y1 + oy)), 0.7, 12, cv2.LINE_AA)
    ridges = _blur(ridges, 9)
    cv.light *= 1 + fold_amp * ridges
    cv.sheen += sheen * np.clip(ridges, 0, None)
    fine = _noise(rng, h, w, 3, 2)
    cv.light *= 1 + weave * fine
    if twill:
        yy, xx = np.mgrid[0:h, 0:w].astype(Float)
        cv.light *= 1 + twill * np.sin((xx + yy) * (2 * np.pi / 7))


def _cylinder(cv: _Canvas, x0: float, x1: float, m: np.ndarray, *, spec: float = 0.35,
              spec_pos: float = 0.3, dark: float = 0.45) -> None:
    """Horizontal cylinder shading inside mask ``m`` between ``x0`` and ``x1``."""
    xs = np.arange(cv.w, dtype=Float)
    u = np.clip((xs - x0) / max(x1 - x0, 1), 0, 1)
    prof = 1 - dark * (np.abs(u - 0.42) / 0.58) ** 2  # lit slightly from the left
    hl = spec * np.exp(-((u - spec_pos) / 0.05) ** 2)
    cv.light *= 1 + (prof[None, :] - 1) * m
    cv.sheen += hl[None, :] * m


# ---------------------------------------------------------------------------
# the products
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ProductSpec:
    """A catalogue product: how to draw it and its colour variants.

    Attributes
    ----------
    name : str
        Key in :data:`PRODUCTS`.
    title : str
        Human title, e.g. for a catalogue.
    variants : dict
        Variant name -> body colour as an sRGB 0-255 triple.
    size_cm : float
        Real-world length of the long side of the drawing, used to give
        several items in one photo plausible relative sizes.
    height : float
        Thickness relative to the long side; drives shadow length.
    draw : callable
        ``draw(body_rgb01, rng) -> (premultiplied_rgb, alpha)``.
    """

    name: str
    title: str
    variants: dict
    size_cm: float
    height: float
    draw: Callable = field(repr=False)


def _draw_tshirt(body, rng):
    w, h = 1000, 1040
    cv = _Canvas(w, h)
    out = [(392, 110), (250, 148), (62, 330), (158, 452), (272, 372), (282, 985),
           (718, 985), (728, 372), (842, 452), (938, 330), (750, 148), (608, 110)]
    shirt = _poly(h, w, out)
    cv.paint(shirt, body)
    # inside of the back of the shirt, seen through the neck opening
    neck = _ellipse(h, w, (500, 112), (108, 78), 0, 0, 180) * shirt
    cv.shade(neck, 0.55)
    collar = _ellipse(h, w, (500, 112), (112, 82), 0, 0, 180, thickness=20)
    cv.shade(collar, 0.85)
    cv.shade(_dashed(h, w, _arc_pts((500, 112), (124, 94), 5, 175), 3, 8), 0.7)
    # hems and seams
    for a, b in (((90, 372), (182, 440)), ((910, 372), (818, 440))):
        cv.shade(_line_mask(h, w, [a, b], 4), 0.72)
    cv.shade(_dashed(h, w, [(286, 950), (714, 950)], 3, 9), 0.72)
    cv.shade(_line_mask(h, w, [(250, 150), (272, 372)], 3), 0.8)
    cv.shade(_line_mask(h, w, [(750, 150), (728, 372)], 3), 0.8)
    _fabric(cv, rng, folds=7)
    # print: rocket photo in a circular badge with a ring and lettering
    c, r = (500, 450), 142
    art = np.zeros((h, w, 3), Float)
    art[c[1] - r:c[1] + r, c[0] - r:c[0] + r] = _fit_art("rocket", 2 * r, 2 * r)
    cv.paint(_ellipse(h, w, c, (r, r)), art)
    orange = _rgb((232, 86, 36))
    cv.paint(_ellipse(h, w, c, (r + 6, r + 6), thickness=16), orange)
    cv.paint(_text_mask(h, w, "ROCKET CLUB", (500, 660), 0, 9, width=400), orange)
    cv.paint(_text_mask(h, w, "EST. 2015 - LAUNCH DAILY", (500, 725), 0, 3,
                        cv2.FONT_HERSHEY_SIMPLEX, width=330), _rgb((240, 240, 235)) * 0.5 + orange * 0.5)
    return cv.finish(edge_dark=0.25, edge_px=18)


def _draw_trousers(body, rng):
    w, h = 900, 1100
    cv = _Canvas(w, h)
    out = [(230, 60), (670, 60), (722, 1060), (520, 1060), (452, 420), (382, 1060), (178, 1060)]
    tr = _poly(h, w, out)
    cv.paint(tr, body)
    band = _poly(h, w, [(230, 60), (670, 60), (674, 122), (226, 122)])
    cv.shade(band, 0.88)
    cv.shade(_dashed(h, w, [(232, 112), (668, 112)], 2, 7), 0.65)
    for x in (262, 360, 540, 636):
        cv.shade(_rounded_rect(h, w, x, 52, x + 20, 132, 6), 1.12)
        cv.shade(_line_mask(h, w, [(x, 132), (x + 20, 132)], 3), 0.6)
    # fly, pockets and side seams
    cv.shade(_line_mask(h, w, [(452, 122), (452, 400)], 3), 0.65)
    cv.shade(_dashed(h, w, [(488, 122), (488, 340), (470, 380), (452, 398)], 3, 8), 0.6)
    cv.shade(_line_mask(h, w, [(238, 124), (262, 200), (316, 262)], 4), 0.62)
    cv.shade(_line_mask(h, w, [(662, 124), (640, 200), (588, 262)], 4), 0.62)
    cv.shade(_line_mask(h, w, [(226, 124), (180, 1055)], 3), 0.75)
    cv.shade(_line_mask(h, w, [(674, 124), (720, 1055)], 3), 0.75)
    cv.shade(_line_mask(h, w, [(182, 1018), (380, 1018)], 3), 0.7)
    cv.shade(_line_mask(h, w, [(522, 1018), (718, 1018)], 3), 0.7)
    # vertical press creases down each leg
    cv.shade(_blur(_line_mask(h, w, [(300, 140), (286, 1050)], 6), 4), 0.85)
    cv.shade(_blur(_line_mask(h, w, [(600, 140), (614, 1050)], 6), 4), 0.85)
    _fabric(cv, rng, folds=8, twill=0.045, weave=0.03)
    # metal button, leather patch and a red woven tab keep their colours
    cv.paint(_ellipse(h, w, (452, 90), (17, 17)), _rgb((196, 188, 160)))
    cv.paint(_ellipse(h, w, (452, 90), (17, 17), thickness=4), _rgb((120, 112, 90)))
    patch = _rounded_rect(h, w, 548, 66, 650, 116, 6)
    cv.paint(patch, _rgb((146, 94, 56)))
    cv.paint(_text_mask(h, w, "PACK&CO", (599, 91), 0, 3, width=82), _rgb((84, 50, 28)))
    cv.paint(_rect_f(h, w, 622, 150, 662, 196), _rgb((205, 30, 36)))
    cv.paint(_text_mask(h, w, "PK", (642, 173), 0, 3, width=28), _rgb((250, 250, 245)))
    return cv.finish(edge_dark=0.2, edge_px=14)


def _rect_f(h, w, x0, y0, x1, y1):
    m = _mask(h, w)
    cv2.rectangle(m, (int(x0), int(y0)), (int(x1), int(y1)), 255, -1)
    return _f(m)


def _draw_mug(body, rng):
    w, h = 1000, 820
    cv = _Canvas(w, h)
    x0, x1, top, bot = 180, 700, 150, 760
    cx = (x0 + x1) / 2
    # handle first so the body covers its roots
    ring = np.clip(_ellipse(h, w, (712, 440), (168, 200)) - _ellipse(h, w, (712, 440), (104, 136)), 0, 1)
    ring *= (np.arange(w)[None, :] > 640)
    cv.paint(ring, body)
    cyl = np.maximum(_rect_f(h, w, x0, top, x1, bot), _ellipse(h, w, (cx, bot), ((x1 - x0) / 2, 36)))
    yy = np.arange(h, dtype=Float)[:, None]
    hl = np.clip(1 - np.abs((np.hypot(np.arange(w)[None, :] - 712, (yy - 440) * 0.84) - 136) / 60 - 0.2), 0, 1)
    vis = ring * (1 - cyl)
    cv.light *= 1 - 0.25 * vis * (1 - hl)
    cv.sheen += 0.2 * vis * hl ** 4
    cv.paint(cyl, body)
    _cylinder(cv, x0, x1, cyl, spec=0.45, spec_pos=0.28)
    rim = _ellipse(h, w, (cx, top), ((x1 - x0) / 2, 38))
    cv.paint(rim, body)
    inner = _ellipse(h, w, (cx, top + 3), ((x1 - x0) / 2 - 12, 30))
    cv.shade(inner, 0.5)
    cv.shade(_ellipse(h, w, (cx, top + 3), ((x1 - x0) / 2 - 10, 32), thickness=4), 1.25)
    # wrap-around print: the coffee photo mapped onto the cylinder
    px0, px1, py0, py1 = 250, 630, 250, 560
    art = _fit_art("coffee", 600, py1 - py0)
    xs = np.arange(px0, px1)
    u = (xs - cx) / ((x1 - x0) / 2)  # -1..1 across the visible half cylinder
    theta = np.arcsin(np.clip(u, -1, 1))
    src = ((theta - theta[0]) / (theta[-1] - theta[0]) * (art.shape[1] - 1)).astype(np.int64)
    img = np.zeros((h, w, 3), Float)
    img[py0:py1, px0:px1] = art[:, src]
    pm = _rounded_rect(h, w, px0, py0, px1 - 1, py1 - 1, 18)
    cv.paint(pm, img)
    ink = _rgb((38, 26, 20))
    cv.paint(_text_mask(h, w, "GOOD MORNING", (cx - 10, 625), 0, 6, width=360), ink)
    cv.paint(_text_mask(h, w, "FRESHLY BREWED", (cx - 10, 680), 0, 2, cv2.FONT_HERSHEY_SIMPLEX,
                        width=220), ink)
    cv.light *= 1 + 0.005 * _noise(rng, h, w, 40, 2)
    return cv.finish(edge_dark=0.1, edge_px=8)


def _draw_phone(body, rng):
    w, h = 560, 1100
    cv = _Canvas(w, h)
    shell = _rounded_rect(h, w, 40, 40, 520, 1060, 82)
    cv.paint(shell, body)
    frame = shell - _rounded_rect(h, w, 52, 52, 508, 1048, 72)
    cv.shade(np.clip(frame, 0, 1), 1.35)
    cv.sheen += 0.08 * np.clip(frame, 0, 1)
    # glass back: a diagonal soft reflection band
    yy, xx = np.mgrid[0:h, 0:w].astype(Float)
    band = np.exp(-(((xx * 0.9 + yy * 0.45) - 560) / 90) ** 2)
    cv.sheen += 0.12 * band * shell
    cv.light *= 1 + 0.006 * _noise(rng, h, w, 80, 2)
    cam = _rounded_rect(h, w, 80, 80, 292, 292, 52)
    cv.shade(cam, 0.82)
    cv.sheen += 0.06 * cam
    cv.paint(_rounded_rect(h, w, 80, 80, 292, 292, 52) - _rounded_rect(h, w, 86, 86, 286, 286, 48),
             _rgb((150, 150, 155)), 0.6)
    for c in ((140, 140), (232, 140), (140, 232)):
        cv.paint(_ellipse(h, w, c, (44, 44)), _rgb((70, 72, 78)))
        cv.paint(_ellipse(h, w, c, (36, 36)), _rgb((14, 14, 18)))
        cv.paint(_ellipse(h, w, c, (20, 20)), _rgb((36, 44, 78)))
        cv.paint(_ellipse(h, w, (c[0] - 9, c[1] - 10), (6, 6)), _rgb((235, 235, 240)))
    cv.paint(_ellipse(h, w, (232, 232), (15, 15)), _rgb((238, 226, 180)))
    # chrome-grey logo: readable on the light and the dark colourways alike
    logo = _rgb((128, 128, 136))
    cv.paint(_ellipse(h, w, (280, 560), (58, 58), thickness=9), logo)
    cv.paint(_text_mask(h, w, "PX", (280, 560), 0, 5, width=62), logo)
    cv.paint(_text_mask(h, w, "packphone", (280, 960), 0, 2, cv2.FONT_HERSHEY_SIMPLEX, width=150),
             _rgb((150, 150, 156)))
    return cv.finish(edge_dark=0.15, edge_px=6)


def _draw_charger(body, rng):
    w, h = 560, 700
    cv = _Canvas(w, h)
    # metal prongs
    for x in (200, 360):
        pr = _rounded_rect(h, w, x - 20, 40, x + 20, 240, 19)
        xs = np.arange(w, dtype=Float)
        prof = 0.55 + 0.55 * np.clip(1 - np.abs(xs - (x - 6)) / 22, 0, 1)
        metal = np.ones((h, w, 3), Float) * _rgb((176, 178, 184))
        cv.paint(pr, metal * prof[None, :, None])
    cv.paint(_ellipse(h, w, (280, 232), (150, 14)), _rgb((70, 70, 74)))
    cube = _rounded_rect(h, w, 80, 225, 480, 645, 64)
    cv.paint(cube, body)
    # beveled edges: bright along the top-left, dark bottom-right
    d = cv2.distanceTransform((cube > 0.5).astype(np.uint8), cv2.DIST_L2, 5)
    rim = 1 - np.clip(d / 34, 0, 1)
    yy, xx = np.mgrid[0:h, 0:w].astype(Float)
    side = np.clip(((xx - 280) + (yy - 435)) / 200, -1, 1)
    cv.light *= 1 - 0.35 * rim * np.clip(side, 0, 1)
    cv.sheen += 0.12 * rim * np.clip(-side, 0, 1)
    cv.light *= 1 + 0.005 * _noise(rng, h, w, 30, 2)
    grey = _rgb((128, 128, 134))
    cv.paint(_text_mask(h, w, "20W", (280, 400), 0, 8, width=190), grey)
    cv.paint(_text_mask(h, w, "USB-C  PD", (280, 480), 0, 3, width=170), grey)
    cv.paint(_text_mask(h, w, "CE", (200, 545), 0, 3, width=40), grey)
    cv.paint(_rect_f(h, w, 320, 530, 352, 562) - _rect_f(h, w, 325, 535, 347, 557), grey)
    cv.paint(_rect_f(h, w, 330, 540, 342, 552) - _rect_f(h, w, 334, 544, 338, 548), grey)
    cv.paint(_rounded_rect(h, w, 240, 590, 320, 612, 10), _rgb((22, 22, 25)))
    cv.paint(_rounded_rect(h, w, 254, 597, 306, 605, 4), _rgb((130, 130, 136)))
    return cv.finish(edge_dark=0.1, edge_px=6)


def _tube(cv: _Canvas, pts, colour, width: int) -> None:
    """A round cable segment: dark outline, body, and a thin highlight."""
    h, w = cv.h, cv.w
    cv.paint(_line_mask(h, w, pts, width + 6), np.asarray(colour) * 0.45)
    cv.paint(_line_mask(h, w, pts, width), colour)
    hl = np.asarray(pts, np.float64) + np.array([-width * 0.18, -width * 0.2])
    cv.paint(_line_mask(h, w, hl, max(width // 4, 2)), np.clip(np.asarray(colour) * 0.6 + 0.45, 0, 1), 0.7)


def _oriented_rect(c, along, across, ang):
    ca, sa = math.cos(ang), math.sin(ang)
    pts = []
    for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        x, y = sx * along / 2, sy * across / 2
        pts.append((c[0] + ca * x - sa * y, c[1] + sa * x + ca * y))
    return pts


def _draw_cable(body, rng):
    w, h = 900, 900
    cv = _Canvas(w, h)
    body = np.asarray(body, Float)
    # A few loose loops of a coiled cable. The loop geometry depends only on the
    # product rng, so all colour variants share it.
    loops = []
    for i in range(4):
        c = (450 + rng.uniform(-25, 25), 430 + rng.uniform(-25, 25))
        ax = (rng.uniform(260, 300), rng.uniform(225, 265))
        loops.append(_arc_pts(c, ax, 0, 360, rng.uniform(-20, 20), 120))
    for lp in loops:
        _tube(cv, lp, body, 20)
    # ends leaving the coil, with connectors
    ends = [([(238, 600), (196, 672), (164, 726)], "A"), ([(690, 300), (730, 230), (760, 166)], "C")]
    for path, kind in ends:
        _tube(cv, path, body, 20)
        (ax_, ay_), (bx, by) = path[-2], path[-1]
        ang = math.atan2(by - ay_, bx - ax_)
        d = np.array([math.cos(ang), math.sin(ang)])
        base = np.array([bx, by], np.float64)
        if kind == "A":
            hous, metal, ml, mw = (90, 58), (70, 48), 70, 48
        else:
            hous, metal, ml, mw = (80, 40), (42, 28), 42, 28
        hc = base + d * hous[0] / 2
        cv.paint(_poly(h, w, _oriented_rect(hc, hous[0], hous[1], ang)), body)
        cv.shade(_poly(h, w, _oriented_rect(hc, hous[0], hous[1], ang), outline=4), 0.6)
        mc = base + d * (hous[0] + ml / 2)
        cv.paint(_poly(h, w, _oriented_rect(mc, ml, mw, ang)), _rgb((186, 188, 194)))
        cv.paint(_poly(h, w, _oriented_rect(mc, ml, mw, ang), outline=3), _rgb((110, 112, 118)))
        if kind == "A":
            cv.paint(_poly(h, w, _oriented_rect(mc + d * 6, ml * 0.6, mw * 0.35, ang)), _rgb((40, 40, 44)))
    # Velcro cable tie in a fixed colour with a small orange brand tab
    tie = _oriented_rect((450, 168), 46, 140, math.radians(8))
    cv.paint(_poly(h, w, tie), _rgb((40, 40, 44)))
    cv.light *= 1 + 0.12 * _noise(rng, h, w, 4, 1) * _poly(h, w, tie)
    cv.paint(_poly(h, w, _oriented_rect((452, 158), 30, 36, math.radians(8))), _rgb((236, 118, 32)))
    return cv.finish()


def _draw_towel(body, rng):
    w, h = 900, 720
    cv = _Canvas(w, h)
    top = [(90, 120), (800, 120), (830, 140), (842, 370), (830, 600), (800, 620), (90, 620)]
    # the folded layers below peek out at the bottom and left edge
    for k, f in ((3, 0.62), (2, 0.7), (1, 0.8)):
        cv.paint(_poly(h, w, [(x - 4 * k, y + 12 * k) for x, y in top]), body)
        cv.shade(_poly(h, w, [(x - 4 * k, y + 12 * k) for x, y in top]), f)
    layer = _poly(h, w, top)
    cv.paint(layer, body)
    cv.light = np.where(layer > 0.5, 1.0, cv.light).astype(Float)
    # woven stripes keep their colours; the dobby border is a darker weave of the body
    cream, navy = _rgb((242, 236, 222)), _rgb((32, 42, 76))
    for x in (190, 680):
        cv.paint(_rect_f(h, w, x, 120, x + 58, 620 + 36) * layer, cream)
        cv.paint(_rect_f(h, w, x + 74, 120, x + 84, 620 + 36) * layer, navy)
        cv.paint(_rect_f(h, w, x - 26, 120, x - 16, 620 + 36) * layer, navy)
    for x in (120, 790):
        border = _rect_f(h, w, x - 14, 120, x + 14, 640) * layer
        cv.shade(border, 0.86)
    # rounded fold on the right: shade the fold bulge
    xs = np.arange(w, dtype=Float)
    fold = np.clip((xs - 770) / 70, 0, 1)
    cv.light *= (1 - 0.35 * fold[None, :] ** 2)
    # terry cloth: strong fine speckle of loops
    terry = _noise(rng, h, w, 2.2, 2)
    cv.light *= 1 + 0.11 * terry
    cv.sheen += 0.03 * np.clip(terry, 0, None)
    cv.light *= 1 + 0.05 * _noise(rng, h, w, 200, 2)
    # a small care label sticking out of the fold
    cv.paint(_rect_f(h, w, 842, 420, 878, 476), _rgb((246, 246, 242)))
    cv.paint(_text_mask(h, w, "100%", (860, 440), 0, 1, cv2.FONT_HERSHEY_SIMPLEX, width=28), navy)
    return cv.finish(edge_dark=0.2, edge_px=10)


def _smooth(pts, iterations: int = 3, closed: bool = True) -> np.ndarray:
    """Chaikin corner cutting: turns a rough control polygon into a smooth outline."""
    p = np.asarray(pts, np.float64)
    for _ in range(iterations):
        q = np.roll(p, -1, 0) if closed else p[1:]
        base = p if closed else p[:-1]
        a, b = 0.75 * base + 0.25 * q, 0.25 * base + 0.75 * q
        p = np.stack([a, b], 1).reshape(-1, 2)
        if not closed:
            p = np.vstack([pts[0], p, pts[-1]])
    return p


def _draw_sneaker(body, rng):
    w, h = 1100, 560
    cv = _Canvas(w, h)
    yy, xx = np.mgrid[0:h, 0:w].astype(Float)
    upper_pts = _smooth([(92, 405), (78, 300), (90, 200), (140, 140), (220, 150), (280, 175), (318, 112),
                         (392, 100), (430, 196), (560, 222), (700, 262), (840, 300), (960, 330), (1030, 362),
                         (1056, 398), (1040, 418), (600, 418)])
    upper = _poly(h, w, upper_pts)
    cv.paint(upper, body)
    tongue = _poly(h, w, _smooth([(292, 178), (316, 108), (392, 98), (432, 200), (360, 214)]))
    cv.shade(tongue, 0.88)
    collar = _poly(h, w, _smooth([(112, 176), (160, 138), (240, 148), (286, 178), (220, 192), (150, 196)]))
    cv.paint(collar, _rgb((40, 40, 44)))
    cv.paint(_poly(h, w, _smooth([(136, 180), (176, 152), (236, 160), (266, 180), (210, 186)])), _rgb((22, 22, 24)))
    # toe box overlay and heel counter, with stitching
    toe = _poly(h, w, _smooth([(830, 300), (960, 330), (1030, 362), (1056, 398), (1040, 418), (820, 418),
                               (800, 360)]))
    cv.shade(toe, 0.9)
    cv.shade(_dashed(h, w, _smooth([(835, 306), (812, 360), (826, 412)], 2, closed=False), 3, 8), 0.62)
    heel = _poly(h, w, _smooth([(84, 404), (80, 300), (92, 212), (170, 250), (200, 404)]))
    cv.shade(heel, 0.9)
    cv.shade(_dashed(h, w, _smooth([(98, 216), (176, 256), (206, 400)], 2, closed=False), 3, 8), 0.62)
    # mesh texture and rounded-volume shading on the upper
    mesh = np.sin(xx * 0.9) * np.sin(yy * 0.9)
    cv.light *= 1 + 0.05 * mesh * upper
    cv.light *= 1 + 0.07 * _noise(rng, h, w, 120, 2)
    cv.light *= 1 - 0.25 * np.clip((yy - 200) / 220, 0, 1) ** 2
    cv.sheen += 0.07 * upper * np.exp(-((yy - 250) / 40) ** 2) * np.clip((xx - 400) / 500, 0, 1)
    # laces over eyelets
    eyes = [(412 + 56 * i, 222 + 9 * i) for i in range(5)]
    for (x, y) in eyes:
        cv.paint(_ellipse(h, w, (x - 8, y + 18), (9, 9)), _rgb((60, 60, 64)))
        cv.paint(_ellipse(h, w, (x + 18, y - 4), (9, 9)), _rgb((60, 60, 64)))
    lace = _rgb((246, 246, 242))
    for i in range(len(eyes) - 1):
        (x0, y0), (x1, y1) = eyes[i], eyes[i + 1]
        cv.paint(_line_mask(h, w, [(x0 - 8, y0 + 18), (x1 + 18, y1 - 4)], 10), lace)
        cv.paint(_line_mask(h, w, [(x0 + 18, y0 - 4), (x1 - 8, y1 + 18)], 10), lace)
    # logo: a tapered swoosh-like band, white with a dark outline so it reads
    # on every colourway
    t = np.linspace(0, 1, 60)[:, None]
    p0, p1, p2 = np.array([300, 350.0]), np.array([620, 400.0]), np.array([900, 246.0])
    ctr = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2
    tan = np.gradient(ctr, axis=0)
    nrm = np.stack([-tan[:, 1], tan[:, 0]], 1) / np.linalg.norm(tan, axis=1, keepdims=True)
    half = (26 * (1 - t) ** 0.7 + 2)
    band = np.vstack([ctr + nrm * half, (ctr - nrm * half)[::-1]])
    cv.paint(_poly(h, w, band), _rgb((244, 244, 240)))
    cv.paint(_poly(h, w, band, outline=5), _rgb((38, 38, 42)))
    cv.paint(_rounded_rect(h, w, 68, 226, 108, 330, 10), _rgb((236, 118, 30)))
    cv.paint(_text_mask(h, w, "RUN", (88, 278), 0, 2, cv2.FONT_HERSHEY_SIMPLEX, width=30), _rgb((250, 250, 248)))
    # midsole (white) with toe spring, and outsole (dark rubber) with tread
    mid = _poly(h, w, _smooth([(70, 388), (600, 404), (1000, 398), (1062, 386), (1066, 440), (1030, 466),
                               (70, 466)], 2))
    cv.paint(mid, _rgb((240, 240, 236)))
    # undo the upper's downward darkening on the white midsole, keep a soft gradient
    cv.light = np.where(mid > 0.5, 1.05 - 0.12 * np.clip((yy - 390) / 76, 0, 1), cv.light).astype(Float)
    out = _poly(h, w, _smooth([(66, 458), (1040, 458), (1062, 440), (1046, 480), (1000, 504), (110, 506),
                               (66, 488)], 2))
    cv.paint(out, _rgb((72, 72, 76)))
    for x in range(90, 1030, 26):
        cv.shade(_line_mask(h, w, [(x, 472), (x + 8, 502)], 4) * out, 0.6)
    return cv.finish(edge_dark=0.15, edge_px=8)


def _draw_bottle(body, rng):
    w, h = 420, 1160
    cv = _Canvas(w, h)
    x0, x1 = 60, 360
    outline = [(x0, 1090), (x0, 320), (x0 + 10, 270), (150, 200), (150, 150), (270, 150), (270, 200),
               (x1 - 10, 270), (x1, 320), (x1, 1090)]
    m = np.maximum(_poly(h, w, outline), _rounded_rect(h, w, x0, 900, x1, 1120, 46))
    cv.paint(m, body)
    _cylinder(cv, x0, x1, m, spec=0.4, spec_pos=0.27, dark=0.5)
    cv.light *= 1 + 0.04 * _noise(rng, h, w, 3, 1)  # powder-coat grain
    cap = _rounded_rect(h, w, 122, 36, 298, 158, 14)
    black = _rgb((32, 32, 36))
    cv.paint(np.clip(_ellipse(h, w, (210, 40), (62, 36), thickness=20), 0, 1), black)
    cv.paint(cap, black)
    for x in range(132, 292, 12):
        cv.shade(_line_mask(h, w, [(x, 70), (x, 150)], 3) * cap, 1.9)
    # white label band with the brand and a wave graphic
    lab = _rect_f(h, w, x0, 540, x1, 830)
    cv.paint(lab, _rgb((242, 242, 238)))
    yy, xx = np.mgrid[0:h, 0:w].astype(Float)
    for k, col in enumerate(((24, 116, 178), (40, 170, 190))):
        wave = ((yy > 730 + 28 * k + 18 * np.sin(xx / 34 + k)) & (yy < 800)).astype(Float) * lab
        cv.paint(wave, _rgb(col))
    blue = _rgb((18, 64, 140))
    cv.paint(_text_mask(h, w, "HYDRO", (210, 610), 0, 8, width=240), blue)
    cv.paint(_text_mask(h, w, "750 ml  COLD 24h", (210, 675), 0, 2, cv2.FONT_HERSHEY_SIMPLEX, width=200), blue)
    return cv.finish(edge_dark=0.08, edge_px=6)


def _draw_cereal(body, rng):
    w, h = 800, 1000
    cv = _Canvas(w, h)
    front = _rect_f(h, w, 40, 50, 660, 970)
    side = _poly(h, w, [(660, 50), (760, 16), (760, 930), (660, 970)])
    topf = _poly(h, w, [(40, 50), (140, 16), (760, 16), (660, 50)])
    for m, f in ((front, 1.0), (side, 0.68), (topf, 1.12)):
        cv.paint(m, body)
        cv.shade(m, f)
    red, white, dark = _rgb((204, 32, 38)), _rgb((250, 248, 242)), _rgb((40, 24, 16))
    cv.paint(_rect_f(h, w, 40, 80, 660, 280), red)
    for dx, dy in ((4, 4),):
        cv.paint(_text_mask(h, w, "CAT CRUNCH", (350 + dx, 160 + dy), 0, 12, width=540), dark)
    cv.paint(_text_mask(h, w, "CAT CRUNCH", (350, 160), 0, 12, width=540), white)
    cv.paint(_text_mask(h, w, "CRISPY OAT CLUSTERS", (350, 240), 0, 3, width=360), white)
    # artwork: the cat in a white-ringed disc over a bowl of oats
    c, r = (330, 560), 190
    art = np.zeros((h, w, 3), Float)
    art[c[1] - r:c[1] + r, c[0] - r:c[0] + r] = _fit_art("chelsea", 2 * r, 2 * r)
    cv.paint(_ellipse(h, w, c, (r + 14, r + 14)), white)
    cv.paint(_ellipse(h, w, c, (r, r)), art)
    bowl = _ellipse(h, w, (330, 760), (230, 110), 0, 0, 180)
    cv.paint(bowl, _rgb((236, 232, 224)))
    cv.paint(_ellipse(h, w, (330, 760), (230, 26)), _rgb((214, 172, 96)))
    for _ in range(40):
        x, y = rng.uniform(130, 530), rng.uniform(742, 772)
        cv.paint(_ellipse(h, w, (x, y), (14, 9), rng.uniform(0, 180)), _rgb((176, 120, 50)))
    star = [(560 + (70 if i % 2 == 0 else 44) * math.cos(i * math.pi / 8),
             390 + (70 if i % 2 == 0 else 44) * math.sin(i * math.pi / 8)) for i in range(16)]
    cv.paint(_poly(h, w, star), _rgb((250, 216, 40)))
    cv.paint(_text_mask(h, w, "NEW!", (560, 390), 0, 4, width=80), red)
    cv.paint(_text_mask(h, w, "WHOLE GRAIN OATS", (350, 900), 0, 4, width=420), white)
    cv.paint(_text_mask(h, w, "NET WT 375 g", (570, 945), 0, 2, cv2.FONT_HERSHEY_SIMPLEX, width=130), white)
    # nutrition panel on the side face
    cv.paint(_poly(h, w, [(676, 520), (744, 497), (744, 760), (676, 785)]), _rgb((236, 236, 232)))
    for k in range(8):
        y = 540 + 28 * k
        cv.paint(_line_mask(h, w, [(684, y), (736, y - 22)], 3), dark)
    # glossy print: broad soft reflection + board texture
    yy, xx = np.mgrid[0:h, 0:w].astype(Float)
    cv.sheen += 0.07 * np.exp(-(((xx - 0.5 * yy) - 120) / 120) ** 2) * front
    cv.light *= 1 + 0.025 * _noise(rng, h, w, 30, 3)
    return cv.finish()


def _draw_cap(body, rng):
    w, h = 1000, 640
    cv = _Canvas(w, h)
    crown = _ellipse(h, w, (420, 480), (350, 340), 0, 180, 360)
    # the brim is drawn first (underside darker) so the crown overlaps its root
    brim = _ellipse(h, w, (790, 486), (200, 58), 6)
    cv.paint(brim, body)
    cv.shade(brim, 0.7)
    brim_top = _ellipse(h, w, (790, 474), (196, 44), 6)
    cv.paint(brim_top, body)
    cv.shade(brim_top, 1.05)
    for k in range(4):
        cv.shade(_dashed(h, w, _arc_pts((790, 474), (170 - 22 * k, 32 - 4 * k), 150, 390, 6), 2, 8), 0.7)
    cv.paint(crown, body)
    yy, xx = np.mgrid[0:h, 0:w].astype(Float)
    r = np.hypot((xx - 420) / 350, (yy - 480) / 340)
    cv.light *= 1 - 0.3 * crown * np.clip(r, 0, 1) ** 3
    cv.light *= 1 - 0.2 * crown * np.clip((xx - 420) / 350, 0, 1)
    cv.sheen += 0.06 * crown * np.exp(-((xx - 300) ** 2 + (yy - 260) ** 2) / 8000)
    for a, b in (((420, 142), (188, 474)), ((420, 142), (640, 474)), ((420, 142), (420, 474))):
        pts = np.array([a, ((a[0] + b[0]) / 2 + (b[0] - a[0]) * 0.15, (a[1] + b[1]) / 2 - 30), b], np.float64)
        t = np.linspace(0, 1, 40)[:, None]
        curve = (1 - t) ** 2 * pts[0] + 2 * (1 - t) * t * pts[1] + t ** 2 * pts[2]
        cv.shade(_line_mask(h, w, curve, 4) * crown, 0.68)
        cv.shade(_dashed(h, w, curve + [9, 0], 2, 6) * crown, 0.75)
    cv.paint(_ellipse(h, w, (420, 140), (34, 14)), body)
    cv.shade(_ellipse(h, w, (420, 140), (34, 14)), 1.15)
    for c in ((300, 250), (548, 250)):
        cv.paint(_ellipse(h, w, c, (9, 7)), np.asarray(body) * 0.4)
    band = _rect_f(h, w, 70, 452, 770, 482) * crown
    cv.shade(band, 0.82)
    _fabric(cv, rng, folds=3, fold_amp=0.08, weave=0.05, twill=0.03)
    # embroidered logo: white letters with an orange outline, keeps its colours
    cv.paint(_text_mask(h, w, "PK", (520, 330), 0, 30, width=230), _rgb((236, 118, 30)))
    cv.paint(_text_mask(h, w, "PK", (520, 330), 0, 18, width=224), _rgb((246, 246, 242)))
    cv.light *= 1 + 0.08 * _noise(rng, h, w, 2, 1) * _text_mask(h, w, "PK", (520, 330), 0, 30, width=230)
    return cv.finish(edge_dark=0.15, edge_px=10)


def _draw_headphones(body, rng):
    w, h = 1000, 980
    cv = _Canvas(w, h)
    band = _ellipse(h, w, (500, 560), (372, 430), 0, 188, 352, thickness=64)
    cv.paint(band, body)
    yy, xx = np.mgrid[0:h, 0:w].astype(Float)
    r = np.hypot((xx - 500) / 372, (yy - 560) / 430)
    cv.light *= 1 - 0.3 * band * np.clip(np.abs(r - 1) * 12, 0, 1)
    cv.sheen += 0.14 * band * np.exp(-((r - 1.02) * 40) ** 2)
    pad = _ellipse(h, w, (500, 560), (330, 386), 0, 215, 325, thickness=34)
    cv.paint(pad, _rgb((46, 46, 50)))
    cv.light *= 1 + 0.1 * _noise(rng, h, w, 3, 1) * pad
    silver = _rgb((190, 192, 198))
    for x in (138, 862):
        cv.paint(_rounded_rect(h, w, x - 16, 420, x + 16, 560, 8), silver)
        cv.shade(_rounded_rect(h, w, x - 16, 420, x + 16, 560, 8), 1 - 0.35 * np.clip(np.abs(xx - x) / 16, 0, 1))
    for x, s in ((150, 1), (850, -1)):
        cush = _rounded_rect(h, w, x - 40 + 50 * s - 40, 560, x + 40 + 50 * s - 40, 900, 40)
        cv.paint(cush, _rgb((42, 42, 46)))
        cup = _ellipse(h, w, (x, 730), (110, 168))
        cv.light *= 1 + 0.12 * _noise(rng, h, w, 5, 1) * cush * (1 - cup)
        cv.paint(cup, body)
        rr = np.hypot((xx - x) / 110, (yy - 730) / 168)
        cv.light *= 1 - 0.35 * cup * np.clip(rr, 0, 1) ** 4
        cv.sheen += 0.1 * cup * np.exp(-((xx - x + 30) ** 2 + (yy - 670) ** 2) / 1600)
        cv.paint(_ellipse(h, w, (x, 730), (62, 62), thickness=8), silver)
        cv.paint(_text_mask(h, w, "PK", (x, 730), 0, 5, width=58), silver)
    cv.paint(_ellipse(h, w, (850, 860), (6, 6)), _rgb((60, 220, 90)))
    return cv.finish(edge_dark=0.1, edge_px=8)


PRODUCTS: dict[str, ProductSpec] = {p.name: p for p in (
    ProductSpec("tshirt", "Rocket Club T-shirt",
                {"black": (26, 26, 29), "white": (236, 236, 232), "navy": (30, 40, 82),
                 "yellow": (240, 198, 40)}, 66, 0.02, _draw_tshirt),
    ProductSpec("trousers", "Pack&Co chino trousers",
                {"red": (168, 40, 38), "green": (62, 108, 60), "blue": (46, 72, 138),
                 "khaki": (190, 166, 116)}, 90, 0.03, _draw_trousers),
    ProductSpec("mug", "Good Morning coffee mug",
                {"white": (240, 240, 236), "red": (184, 32, 38), "teal": (30, 132, 138)},
                12, 0.7, _draw_mug),
    ProductSpec("phone", "PX1 smartphone",
                {"graphite": (48, 50, 56), "silver": (206, 206, 210), "blue": (62, 98, 146)},
                15.5, 0.05, _draw_phone),
    ProductSpec("charger", "20 W USB-C charger",
                {"white": (238, 238, 236), "black": (32, 32, 35), "pink": (232, 170, 186)},
                7.5, 0.35, _draw_charger),
    ProductSpec("cable", "USB-C to USB-A cable (1 m)",
                {"white": (236, 236, 232), "black": (30, 30, 33), "red": (192, 36, 40)},
                14, 0.06, _draw_cable),
    ProductSpec("towel", "Striped bath towel",
                {"blue": (50, 100, 172), "grey": (130, 132, 136), "pink": (226, 142, 162),
                 "sand": (206, 186, 150)}, 35, 0.15, _draw_towel),
    ProductSpec("sneaker", "Run sneaker",
                {"red": (190, 40, 46), "black": (34, 34, 38), "white": (236, 236, 232),
                 "blue": (46, 92, 172)}, 29, 0.35, _draw_sneaker),
    ProductSpec("bottle", "Hydro insulated bottle 750 ml",
                {"green": (60, 140, 82), "orange": (236, 122, 32), "blue": (40, 110, 190),
                 "grey": (122, 126, 132)}, 27, 0.3, _draw_bottle),
    ProductSpec("cereal", "Cat Crunch cereal 375 g",
                {"honey": (236, 172, 40), "choco": (112, 66, 40), "berry": (122, 52, 132)},
                30, 0.25, _draw_cereal),
    ProductSpec("cap", "PK baseball cap",
                {"black": (30, 30, 34), "red": (186, 36, 40), "beige": (202, 182, 142),
                 "navy": (30, 40, 76)}, 28, 0.45, _draw_cap),
    ProductSpec("headphones", "PK over-ear headphones",
                {"black": (32, 32, 35), "white": (236, 236, 232), "blue": (46, 86, 152)},
                20, 0.2, _draw_headphones),
)}


def list_products() -> list[str]:
    """Names of all products, in a fixed order.

    Returns
    -------
    list of str
    """
    return list(PRODUCTS)


def list_variants(product: str) -> list[str]:
    """Variant names of ``product`` in a fixed order (the first three always exist).

    Parameters
    ----------
    product : str
        A key of :data:`PRODUCTS`.

    Returns
    -------
    list of str
    """
    return list(_spec(product).variants)


def variant_rgb(product: str, variant: str) -> tuple[int, int, int]:
    """The flat body colour (sRGB 0-255) of a variant, before shading.

    Parameters
    ----------
    product, variant : str

    Returns
    -------
    tuple of int
    """
    return tuple(_spec(product).variants[_check_variant(product, variant)])


def _spec(product: str) -> ProductSpec:
    try:
        return PRODUCTS[product]
    except KeyError:
        raise ValueError(f"unknown product {product!r}; known: {', '.join(PRODUCTS)}") from None


def _check_variant(product: str, variant: str) -> str:
    if variant not in _spec(product).variants:
        raise ValueError(f"unknown variant {variant!r} of {product!r}; "
                         f"known: {', '.join(_spec(product).variants)}")
    return variant


@functools.lru_cache(maxsize=64)
def _sprite_full(product: str, variant: str) -> tuple[np.ndarray, np.ndarray]:
    """Premultiplied RGB + alpha at working resolution (cached, treat read-only)."""
    spec = _spec(product)
    body = _rgb(spec.variants[_check_variant(product, variant)])
    # The texture rng depends on the product only: variants differ only in colour.
    rng = np.random.default_rng(_stable_seed("product", product))
    pm, a = spec.draw(body, rng)
    pm.setflags(write=False)
    a.setflags(write=False)
    return pm, a


def render_sprite(product: str, variant: str, *, long_side: int = 512) -> np.ndarray:
    """The product on a transparent background.

    Parameters
    ----------
    product, variant : str
        See :func:`list_products` / :func:`list_variants`.
    long_side : int
        Length in pixels of the longer side of the returned image.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 4)`` uint8 RGBA (straight, not premultiplied, alpha).
    """
    pm, a = _sprite_resized(product, variant, long_side)
    rgb = pm / np.maximum(a, 1e-4)[..., None]
    out = np.dstack([np.clip(rgb, 0, 1), a])
    return np.round(out * 255).astype(np.uint8)


def _sprite_resized(product: str, variant: str, long_side: float) -> tuple[np.ndarray, np.ndarray]:
    pm, a = _sprite_full(product, variant)
    h, w = a.shape
    s = long_side / max(h, w)
    nw, nh = max(int(round(w * s)), 1), max(int(round(h * s)), 1)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    pm2 = cv2.resize(pm, (nw, nh), interpolation=interp)
    a2 = np.clip(cv2.resize(a, (nw, nh), interpolation=interp), 0, 1)
    return np.clip(pm2, 0, a2[..., None]), a2


# ---------------------------------------------------------------------------
# listing images
# ---------------------------------------------------------------------------

def _over(dst: np.ndarray, pm: np.ndarray, a: np.ndarray, x: int, y: int) -> None:
    """Composite a premultiplied sprite onto ``dst`` (float RGB) at top-left ``(x, y)``, clipped."""
    H, W = dst.shape[:2]
    h, w = a.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x0 >= x1 or y0 >= y1:
        return
    sa = a[y0 - y:y1 - y, x0 - x:x1 - x, None]
    dst[y0:y1, x0:x1] = pm[y0 - y:y1 - y, x0 - x:x1 - x] + dst[y0:y1, x0:x1] * (1 - sa)


def _to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 255), 0, 255).astype(np.uint8)


def render_listing(product: str, variant: str, *, size: int = 800, shot: str = "front") -> np.ndarray:
    """A web-shop listing image of one product variant.

    Parameters
    ----------
    product, variant : str
        See :func:`list_products` / :func:`list_variants`.
    size : int
        The image is ``size x size`` pixels.
    shot : {"front", "angled"}
        ``"front"``: the product upright and centred on pure white (255), filling
        about 80 % of the longer side. ``"angled"``: a second gallery image, the
        product turned by 12 degrees on an off-white (247) studio background with
        a soft contact shadow.

    Returns
    -------
    numpy.ndarray
        ``(size, size, 3)`` uint8 RGB.
    """
    if shot not in ("front", "angled"):
        raise ValueError(f"shot must be 'front' or 'angled', not {shot!r}")
    if shot == "front":
        pm, a = _sprite_resized(product, variant, 0.8 * size)
        img = np.ones((size, size, 3), Float)
        h, w = a.shape
        _over(img, pm, a, (size - w) // 2, (size - h) // 2)
        return _to_u8(img)
    pm, a = _sprite_resized(product, variant, 0.74 * size)
    pm, a = _rotate_sprite(pm, a, 12.0)
    img = np.full((size, size, 3), 247 / 255, Float)
    h, w = a.shape
    x, y = (size - w) // 2, (size - h) // 2
    sh = np.zeros((size, size), Float)
    ys, xs = slice(max(y, 0), min(y + h, size)), slice(max(x, 0), min(x + w, size))
    sh[ys, xs] = a[ys.start - y:ys.stop - y, xs.start - x:xs.stop - x]
    sh = _shift(_blur(sh, size * 0.02), size * 0.015, size * 0.02)
    img *= 1 - 0.22 * sh[..., None]
    _over(img, pm, a, x, y)
    return _to_u8(img)


def _rotate_sprite(pm: np.ndarray, a: np.ndarray, angle: float, scale: float = 1.0,
                   flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Rotate (degrees, counter-clockwise), scale and optionally mirror a premultiplied sprite.

    The output canvas is enlarged to hold the whole rotated sprite.
    """
    if flip:
        pm, a = (None if pm is None else pm[:, ::-1]), a[:, ::-1]
    h, w = a.shape
    M = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    cos, sin = abs(M[0, 0]), abs(M[0, 1])
    nw, nh = int(math.ceil(h * sin + w * cos)) + 2, int(math.ceil(h * cos + w * sin)) + 2
    M[0, 2] += nw / 2 - w / 2
    M[1, 2] += nh / 2 - h / 2
    pm2 = None if pm is None else cv2.warpAffine(np.ascontiguousarray(pm), M, (nw, nh), flags=cv2.INTER_LINEAR,
                                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    a2 = cv2.warpAffine(np.ascontiguousarray(a), M, (nw, nh), flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return pm2, a2


def render_listing_group(items: Sequence[tuple[str, str]], *, size: int = 800) -> np.ndarray:
    """A listing image showing several products together (e.g. the contents of a kit).

    Items are laid out left to right at their real relative sizes
    (``ProductSpec.size_cm``), centred on pure white.

    Parameters
    ----------
    items : sequence of (product, variant)
    size : int
        The image is ``size x size`` pixels.

    Returns
    -------
    numpy.ndarray
        ``(size, size, 3)`` uint8 RGB.
    """
    if not items:
        raise ValueError("render_listing_group needs at least one item")
    # natural sizes at 10 px/cm, then scale the row to fit
    sprites = []
    for p, v in items:
        pm, a = _sprite_full(p, v)
        s = _spec(p).size_cm * 10 / max(a.shape)
        sprites.append((s * a.shape[1], s * a.shape[0], p, v))
    gap = 0.06 * max(w for w, *_ in sprites)
    row_w = sum(w for w, *_ in sprites) + gap * (len(sprites) - 1)
    row_h = max(h for _, h, *_ in sprites)
    k = 0.84 * size / max(row_w, row_h)
    img = np.ones((size, size, 3), Float)
    x = (size - row_w * k) / 2
    for w, h, p, v in sprites:
        pm, a = _sprite_resized(p, v, max(w, h) * k)
        _over(img, pm, a, int(round(x)), int(round((size - a.shape[0]) / 2)))
        x += w * k + gap * k
    return _to_u8(img)


# ---------------------------------------------------------------------------
# packing stations: surface, optional open box, light and camera
# ---------------------------------------------------------------------------

SURFACES = ("wood", "mat", "cardboard")


def _wood(rng: np.random.Generator, h: int, w: int, s: float) -> np.ndarray:
    """Planked wooden table top, planks along x."""
    palette = [(176, 130, 86), (116, 78, 50), (198, 162, 112), (152, 142, 128), (134, 96, 62)]
    base = _rgb(palette[rng.integers(len(palette))])
    yy = np.arange(h, dtype=Float)[:, None]
    warp = 30 * s * _noise(rng, h, w, 400 * s, 3)
    period = rng.uniform(14, 26) * s
    rings = np.sin(2 * np.pi * (yy + warp) / period)
    rings = np.sign(rings) * np.abs(rings) ** 0.6  # sharper latewood lines
    streak = _aniso_noise(rng, h, w, w / 2.5, 3 * s)
    fine = _noise(rng, h, w, 1.5, 1)
    tex = 0.86 + 0.05 * rings + 0.07 * streak + 0.025 * fine + 0.05 * _noise(rng, h, w, 300 * s, 2)
    plank = int(rng.uniform(170, 280) * s)
    gaps = _mask(h, w)
    for i, y0 in enumerate(range(-int(rng.uniform(0, plank)), h, plank)):
        y1 = min(y0 + plank, h)
        if y1 <= 0:
            continue
        tex[max(y0, 0):y1] *= 1 + 0.08 * rng.standard_normal()
        cv2.line(gaps, (0, y0), (w, y0), 255, max(int(2.5 * s), 1), cv2.LINE_AA)
        for x in rng.uniform(0, w, rng.integers(0, 2)):
            cv2.line(gaps, (int(x), max(y0, 0)), (int(x), y1), 255, max(int(2 * s), 1), cv2.LINE_AA)
    tex *= 1 - 0.55 * _f(gaps)
    return (base * tex[..., None]).astype(Float)


def _mat(rng: np.random.Generator, h: int, w: int, s: float) -> np.ndarray:
    """Grey rubber / cutting mat, sometimes with a printed grid."""
    palette = [(92, 94, 97), (62, 76, 68), (76, 84, 96), (110, 110, 108)]
    base = _rgb(palette[rng.integers(len(palette))])
    tex = 1 + 0.04 * _noise(rng, h, w, 250 * s, 3) + 0.05 * _noise(rng, h, w, 1.2, 1)
    img = base * tex[..., None]
    marks = _mask(h, w)
    if rng.random() < 0.6:
        step = int(rng.uniform(34, 48) * s)
        for i, x in enumerate(range(0, w, step)):
            cv2.line(marks, (x, 0), (x, h), 150 if i % 5 else 255, max(int((2.2 if i % 5 == 0 else 1.2) * s), 1),
                     cv2.LINE_AA)
        for i, y in enumerate(range(0, h, step)):
            cv2.line(marks, (0, y), (w, y), 150 if i % 5 else 255, max(int((2.2 if i % 5 == 0 else 1.2) * s), 1),
                     cv2.LINE_AA)
        for i, x in enumerate(range(0, w, step * 5)):
            cv2.putText(marks, str(i * 5), (x + 4, int(30 * s)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * s, 255,
                        max(int(1.5 * s), 1), cv2.LINE_AA)
    for _ in range(int(60 * s)):  # scratches
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        a, ln = rng.uniform(0, np.pi), rng.uniform(20, 120) * s
        cv2.line(marks, (int(x), int(y)), (int(x + ln * math.cos(a)), int(y + ln * math.sin(a))), 90, 1,
                 cv2.LINE_AA)
    m = _f(marks)[..., None]
    line_col = np.clip(base * 1.6 + 0.08, 0, 1)
    return (img * (1 - 0.8 * m) + line_col * 0.8 * m).astype(Float)


def _cardboard(rng: np.random.Generator, h: int, w: int, s: float, *, marks: bool = True) -> np.ndarray:
    """Kraft cardboard: mottled, fibrous, faint corrugation, tape and a stamp."""
    base = _rgb((178, 136, 92)) * (1 + 0.06 * rng.standard_normal())
    yy = np.arange(h, dtype=Float)[:, None]
    ang = rng.uniform(0, np.pi)
    corr = np.sin(2 * np.pi * (yy * math.cos(ang) + np.arange(w, dtype=Float)[None, :] * math.sin(ang)) / (9 * s))
    tex = (1 + 0.05 * _noise(rng, h, w, 220 * s, 3) + 0.02 * _aniso_noise(rng, h, w, 7 * s, 1.5)
           + 0.025 * _noise(rng, h, w, 1.3, 1) + 0.02 * _noise(rng, h, w, 6 * s, 2) + 0.012 * corr)
    img = base * tex[..., None]
    if marks:
        # a strip of brown packing tape
        tape = _mask(h, w)
        y = rng.uniform(0.2, 0.8) * h
        a = rng.uniform(-0.3, 0.3)
        dy = w * math.tan(a)
        tw = 48 * s
        cv2.fillPoly(tape, [_pts([(0, y), (w, y + dy), (w, y + dy + tw), (0, y + tw)])], 255, cv2.LINE_AA)
        t = _f(tape)[..., None]
        img = img * (1 - 0.5 * t) + _rgb((150, 98, 46)) * 0.5 * t + 0.05 * t
        stamp = _mask(h, w)
        cv2.putText(stamp, rng.choice(["FRAGILE", "THIS SIDE UP", "HANDLE WITH CARE"]),
                    (int(rng.uniform(0.1, 0.5) * w), int(rng.uniform(0.15, 0.9) * h)),
                    cv2.FONT_HERSHEY_DUPLEX, 2.2 * s, 255, max(int(4 * s), 1), cv2.LINE_AA)
        st = _f(stamp)[..., None] * (0.55 + 0.3 * _noise(rng, h, w, 4, 1)[..., None].clip(-1, 1))
        img = img * (1 - st) + _rgb((170, 40, 36)) * st
    return img.astype(Float)


@dataclass(frozen=True)
class _Station:
    size: tuple[int, int]
    surface: str
    in_box: bool
    world: np.ndarray        # (Hw, Ww, 3) float RGB, the plane the camera looks at
    quad: np.ndarray         # (4, 2) world coords seen at output corners TL, TR, BR, BL
    place: np.ndarray        # (N, 2) polygon (world coords) where products may lie
    light_dir: np.ndarray    # unit vector, direction in which shadows fall (world coords)
    shadow_len: float        # shadow offset per unit of object height
    shadow_strength: float
    illum: np.ndarray        # (H, W) illumination field in output coords
    temp: float              # colour temperature: -1 cool/blue .. +1 warm/orange
    exposure: float


def _illumination(rng: np.random.Generator, W: int, H: int) -> np.ndarray:
    """Uneven light: a linear gradient, vignetting and sometimes a lamp hot-spot."""
    yy, xx = np.mgrid[0:H, 0:W].astype(Float)
    x, y = (2 * xx / W - 1), (2 * yy / H - 1) * (H / W)
    a = rng.uniform(0, 2 * np.pi)
    lin = 1 + rng.uniform(0.2, 0.55) * (math.cos(a) * x + math.sin(a) * y) / 2
    r2 = (x ** 2 + y ** 2) / (1 + (H / W) ** 2)
    vig = 1 - rng.uniform(0.25, 0.5) * r2
    illum = lin * vig
    if rng.random() < 0.6:
        cx, cy = rng.uniform(-0.8, 0.8), rng.uniform(-0.6, 0.6)
        sg = rng.uniform(0.35, 0.7)
        illum *= 1 + rng.uniform(0.12, 0.3) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sg ** 2))
    illum /= np.percentile(illum, 97)
    return np.clip(illum, 0.3, 1.1).astype(Float)


def _camera_quad(rng: np.random.Generator, W: int, H: int, Ww: int, Hw: int) -> np.ndarray:
    """Where the output corners land on the world plane for a tilted phone camera.

    The side of the table further from the camera covers more of the plane, so
    the quad is a keystone (wider at the far side); a small roll and per-corner
    jitter make every station's view different.
    """
    t = rng.uniform(0.05, 0.17)                 # keystone strength (tilt)
    far = rng.uniform(0, 2 * np.pi)             # which way the camera leans
    f = np.array([math.cos(far), math.sin(far)])
    roll = math.radians(rng.uniform(-7, 7))
    z = rng.uniform(0.95, 1.08)
    base = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)], np.float64)
    pts = []
    for bx, by in base:
        d = (bx * f[0] + by * f[1]) / math.sqrt(2)
        k = z * (1 + t * d)
        x, y = bx * W / 2 * k, by * H / 2 * k
        x, y = x * math.cos(roll) - y * math.sin(roll), x * math.sin(roll) + y * math.cos(roll)
        pts.append((x, y))
    q = np.array(pts) + rng.uniform(-0.012, 0.012, (4, 2)) * [W, H]
    # keep the quad inside the world plane
    lim = np.array([Ww / 2 - 2, Hw / 2 - 2])
    over = np.max(np.abs(q) / lim)
    if over > 1:
        q /= over
    return q + [Ww / 2, Hw / 2]


def _shrink(poly: np.ndarray, k: float) -> np.ndarray:
    c = poly.mean(0)
    return c + (poly - c) * k


def _blend(world: np.ndarray, m: np.ndarray, colour, alpha: float = 1.0, add: float = 0.0) -> None:
    """``world = world*(1-a) + colour*a (+ add*a)`` through uint8 mask ``m``, inside its bbox only."""
    x, y, w, h = cv2.boundingRect(m)
    if w == 0 or h == 0:
        return
    bb = (slice(y, y + h), slice(x, x + w))
    a = _f(m[bb])[..., None] * alpha
    col = colour[bb] if isinstance(colour, np.ndarray) and colour.ndim == 3 else np.asarray(colour, Float)
    world[bb] = world[bb] * (1 - a) + col * a + add * a


def _draw_box(rng: np.random.Generator, world: np.ndarray, quad: np.ndarray, light_dir: np.ndarray,
              s: float) -> np.ndarray:
    """Draw an open cardboard box (flaps folded out) onto ``world``; returns its floor polygon."""
    Hw, Ww = world.shape[:2]
    c = quad.mean(0) + rng.uniform(-0.03, 0.03, 2) * [Ww, Hw]
    qw = min(np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3]))
    qh = min(np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1]))
    bw, bh = qw * rng.uniform(0.72, 0.84), qh * rng.uniform(0.74, 0.86)
    ang = math.atan2(quad[1][1] - quad[0][1], quad[1][0] - quad[0][0]) + math.radians(rng.uniform(-5, 5))
    u = np.array([math.cos(ang), math.sin(ang)])
    v = np.array([-u[1], u[0]])
    outer = np.array([c - u * bw / 2 - v * bh / 2, c + u * bw / 2 - v * bh / 2,
                      c + u * bw / 2 + v * bh / 2, c - u * bw / 2 + v * bh / 2])
    depth = 0.075 * min(bw, bh)
    floor = np.array([c - u * (bw / 2 - depth) - v * (bh / 2 - depth), c + u * (bw / 2 - depth) - v * (bh / 2 - depth),
                      c + u * (bw / 2 - depth) + v * (bh / 2 - depth), c - u * (bw / 2 - depth) + v * (bh / 2 - depth)])
    # Parallax: the floor is further away than the rim, shift it a bit.
    floor += rng.uniform(-0.25, 0.25, 2) * depth
    board = _cardboard(rng, Hw, Ww, s, marks=False)
    flaps = []
    for i in range(4):
        a, b = outer[i], outer[(i + 1) % 4]
        side = b - a
        n = np.array([side[1], -side[0]]) / np.linalg.norm(side)  # outward normal
        other = bh if i % 2 == 0 else bw
        ln = other * 0.5 * rng.uniform(0.35, 0.6)
        sp = side / np.linalg.norm(side) * ln * rng.uniform(0.0, 0.12)
        flaps.append(np.array([a, b, b + n * ln + sp, a + n * ln - sp]))
    # drop shadow of the whole box on the table
    sil = _mask(Hw, Ww)
    cv2.fillPoly(sil, [_pts(outer)] + [_pts(f) for f in flaps], 255, cv2.LINE_AA)
    sh = _blur(_f(sil), 18 * s)
    off = light_dir * depth * 0.9
    M = np.float32([[1, 0, off[0]], [0, 1, off[1]]])
    sh = cv2.warpAffine(sh, M, (Ww, Hw))
    world *= (1 - 0.45 * sh)[..., None]

    def fill(poly, factor):
        m = _mask(Hw, Ww)
        cv2.fillPoly(m, [_pts(poly)], 255, cv2.LINE_AA)
        x, y, w, h = cv2.boundingRect(m)
        bb = (slice(y, y + h), slice(x, x + w))
        col = np.zeros_like(world)
        col[bb] = board[bb] * factor
        _blend(world, m, col)
        return m

    for f in flaps:
        fill(f, rng.uniform(0.9, 1.06))
        crease = _mask(Hw, Ww)
        cv2.line(crease, tuple(int(x) for x in f[0]), tuple(int(x) for x in f[1]), 255, max(int(3 * s), 1), cv2.LINE_AA)
        _blend(world, crease, (0, 0, 0), 0.3)
    # inner walls: lit according to which way they face the light
    for i in range(4):
        wall = np.array([outer[i], outer[(i + 1) % 4], floor[(i + 1) % 4], floor[i]])
        side = outer[(i + 1) % 4] - outer[i]
        n_in = np.array([-side[1], side[0]]) / np.linalg.norm(side)
        fill(wall, 0.6 + 0.3 * max(0.0, float(np.dot(n_in, light_dir))))
    fm = fill(floor, 1.0)
    # ambient occlusion near the walls and the walls' shadow on the floor
    x, y, w, h = cv2.boundingRect(fm)
    bb = (slice(y, y + h), slice(x, x + w))
    fmb = fm[bb]
    d = cv2.distanceTransform((fmb > 127).astype(np.uint8), cv2.DIST_L2, 5)
    ao = 0.7 + 0.3 * np.clip(d / (0.1 * min(bw, bh)), 0, 1)
    shifted = cv2.warpAffine(fmb, np.float32([[1, 0, light_dir[0] * depth * 1.3], [0, 1, light_dir[1] * depth * 1.3]]),
                             (w, h))
    wall_sh = _blur(np.clip(_f(fmb) - _f(shifted), 0, 1), 6 * s)
    world[bb] *= np.where(fmb[..., None] > 0, (ao * (1 - 0.3 * wall_sh))[..., None], 1).astype(Float)
    # rim: the cut edge of the board shows as a lighter line
    rim = _mask(Hw, Ww)
    cv2.polylines(rim, [_pts(outer)], True, 255, max(int(7 * s), 2), cv2.LINE_AA)
    _blend(world, rim, np.clip(board * 1.15, 0, 1))
    # printed marks and a bit of tape on one flap
    fl = flaps[rng.integers(4)]
    tmp = _mask(Hw, Ww)
    ctr = fl.mean(0)
    cv2.putText(tmp, "THIS SIDE UP", (int(ctr[0] - 120 * s), int(ctr[1])), cv2.FONT_HERSHEY_SIMPLEX, 1.1 * s, 255,
                max(int(3 * s), 1), cv2.LINE_AA)
    cv2.arrowedLine(tmp, (int(ctr[0] + 150 * s), int(ctr[1] + 20 * s)), (int(ctr[0] + 150 * s), int(ctr[1] - 40 * s)),
                    255, max(int(5 * s), 1), cv2.LINE_AA, tipLength=0.4)
    _blend(world, tmp, (0.12, 0.1, 0.09), 0.85)
    tape_side = rng.integers(4)
    a, b = outer[tape_side], outer[(tape_side + 1) % 4]
    mid = (a + b) / 2
    dirn = (b - a) / np.linalg.norm(b - a)
    nrm = np.array([dirn[1], -dirn[0]])
    tl = 0.25 * np.linalg.norm(b - a)
    tape = np.array([mid - dirn * 24 * s - nrm * tl * 0.3, mid + dirn * 24 * s - nrm * tl * 0.3,
                     mid + dirn * 24 * s + nrm * tl, mid - dirn * 24 * s + nrm * tl])
    tm = _mask(Hw, Ww)
    cv2.fillPoly(tm, [_pts(tape)], 255, cv2.LINE_AA)
    _blend(world, tm, _rgb((150, 98, 46)), 0.55, add=0.11)
    return floor


@functools.lru_cache(maxsize=6)
def _station(station_seed: int, size: tuple[int, int], surface: str | None, in_box: bool | None) -> _Station:
    """Build (and cache) the station for a seed: everything that must be identical
    between an empty-station reference and the photos taken there."""
    W, H = size
    rng = np.random.default_rng([int(station_seed), 0x57A7])
    surf = surface if surface is not None else SURFACES[rng.integers(len(SURFACES))]
    if surf not in SURFACES:
        raise ValueError(f"surface must be one of {SURFACES}, not {surf!r}")
    box = bool(rng.random() < 0.35) if in_box is None else bool(in_box)
    s = min(W, H) / 1000
    Ww, Hw = int(W * 1.45), int(H * 1.45)
    tex_rng = np.random.default_rng([int(station_seed), 0x7E7])
    world = {"wood": _wood, "mat": _mat, "cardboard": _cardboard}[surf](tex_rng, Hw, Ww, s)
    quad = _camera_quad(rng, W, H, Ww, Hw)
    la = rng.uniform(0, 2 * np.pi)
    light_dir = np.array([math.cos(la), math.sin(la)])
    if box:
        floor = _draw_box(rng, world, quad, light_dir, s)
        place = _shrink(floor, 0.96)
    else:
        place = _shrink(quad, 0.9)
    world = np.clip(world, 0, 1).astype(Float)
    world.setflags(write=False)
    illum = _illumination(rng, W, H)
    illum.setflags(write=False)
    return _Station(size=(W, H), surface=surf, in_box=box, world=world, quad=quad, place=place,
                    light_dir=light_dir, shadow_len=rng.uniform(0.25, 0.6),
                    shadow_strength=rng.uniform(0.3, 0.55), illum=illum,
                    temp=float(rng.uniform(-1, 1)), exposure=float(rng.uniform(0.9, 1.05)))


# ---------------------------------------------------------------------------
# clutter: things on a packing bench that are not catalogue products
# ---------------------------------------------------------------------------

def _clutter_tape(rng, L):
    n = int(L) + 8
    cv = _Canvas(n, n)
    c, R = (n / 2, n / 2), L / 2
    tan = rng.random() < 0.6
    col = _rgb((158, 104, 48)) if tan else _rgb((214, 206, 188))
    cv.paint(_ellipse(n, n, c, (R, R)), col, 0.95 if tan else 0.75)
    core = _ellipse(n, n, c, (R * 0.62, R * 0.62))
    cv.paint(core, _rgb((190, 160, 116)))
    hole = _ellipse(n, n, c, (R * 0.52, R * 0.52))
    cv.a *= 1 - hole
    cv.rgb *= (1 - hole)[..., None]
    yy, xx = np.mgrid[0:n, 0:n].astype(Float)
    rr = np.hypot(xx - c[0], yy - c[1]) / R
    cv.light *= 1 + 0.05 * np.sin(rr * 90)  # layers of wound tape
    cv.sheen += 0.12 * np.exp(-((rr - 0.85) / 0.05) ** 2) * (xx < c[0])
    return cv.finish(), 0.3


def _clutter_slip(rng, L):
    w, h = int(L), int(L * 1.41)
    cv = _Canvas(w + 8, h + 8)
    cv.paint(_rect_f(h + 8, w + 8, 4, 4, w + 3, h + 3), _rgb((246, 245, 240)))
    ink = _rgb((40, 40, 44))
    m = _mask(h + 8, w + 8)
    sc = L / 400
    cv2.putText(m, "PACKING SLIP", (int(20 * sc), int(50 * sc)), cv2.FONT_HERSHEY_DUPLEX, 1.1 * sc, 255,
                max(int(2 * sc), 1), cv2.LINE_AA)
    cv2.putText(m, f"Order #{rng.integers(10000, 99999)}", (int(20 * sc), int(95 * sc)), cv2.FONT_HERSHEY_SIMPLEX,
                0.8 * sc, 255, max(int(1.5 * sc), 1), cv2.LINE_AA)
    for i in range(int(rng.integers(5, 9))):
        y = int((140 + 38 * i) * sc)
        cv2.line(m, (int(20 * sc), y), (int((20 + rng.uniform(150, 340)) * sc), y), 200, max(int(6 * sc), 1))
    x = 20 * sc
    while x < w - 30 * sc:  # barcode
        bw = rng.choice([1, 2, 3]) * 2 * sc
        cv2.rectangle(m, (int(x), int(h - 90 * sc)), (int(x + bw), int(h - 30 * sc)), 255, -1)
        x += bw + rng.choice([1, 2, 3]) * 2 * sc
    cv.paint(_f(m), ink)
    yy = np.arange(h + 8, dtype=Float)[:, None]
    cv.light *= 1 - 0.06 * np.sin(yy / (h + 8) * np.pi * rng.uniform(1, 3))  # curl
    return cv.finish(), 0.01


def _clutter_pen(rng, L):
    w, h = int(L) + 8, int(L / 10) + 8
    cv = _Canvas(w, h)
    cols = [(20, 50, 150), (25, 25, 28), (180, 30, 30), (235, 235, 232)]
    col = _rgb(cols[rng.integers(len(cols))])
    r = h / 2 - 4
    cv.paint(_rounded_rect(h, w, 4 + L * 0.08, 4, w - 4, h - 4, r), col)
    tip = _poly(h, w, [(4, h / 2), (4 + L * 0.09, h / 2 - r * 0.7), (4 + L * 0.09, h / 2 + r * 0.7)])
    cv.paint(tip, _rgb((190, 190, 196)))
    cv.paint(_rounded_rect(h, w, w - 4 - L * 0.35, 4, w - 4, h - 4, r), col * 0.8)
    cv.paint(_rect_f(h, w, w - 4 - L * 0.3, h / 2 - r * 0.35, w - 10, h / 2 + r * 0.1), _rgb((200, 200, 206)))
    yy = np.arange(h, dtype=Float)[:, None]
    prof = 1 - 0.5 * (np.abs(yy - h / 2) / max(r, 1)) ** 2
    cv.light *= prof
    cv.sheen += 0.25 * np.exp(-((yy - h * 0.35) / (0.12 * h)) ** 2)
    return cv.finish(), 0.1


def _clutter_note(rng, L):
    n = int(L) + 8
    cv = _Canvas(n, n)
    cols = [(250, 232, 96), (250, 170, 190), (160, 220, 240), (180, 236, 140)]
    cv.paint(_rect_f(n, n, 4, 4, n - 4, n - 4), _rgb(cols[rng.integers(len(cols))]))
    for i in range(int(rng.integers(2, 5))):  # handwriting-ish scribble
        y = 4 + L * (0.25 + 0.15 * i)
        xs = np.linspace(4 + 0.12 * L, 4 + rng.uniform(0.5, 0.85) * L, 30)
        pts = np.stack([xs, y + 0.03 * L * np.sin(xs * rng.uniform(0.2, 0.5) / max(L / 100, 0.1))], 1)
        cv.paint(_line_mask(n, n, pts, max(int(L / 60), 1)), _rgb((30, 40, 110)))
    cv.light *= 1 - 0.1 * np.clip((np.arange(n, dtype=Float)[:, None] - 0.7 * n) / (0.3 * n), 0, 1)
    return cv.finish(), 0.01


def _clutter_peanuts(rng, L):
    n = int(L) + 8
    cv = _Canvas(n, n)
    cols = [(242, 240, 232), (236, 232, 214), (210, 230, 200), (240, 206, 214)]
    col = _rgb(cols[rng.integers(len(cols))])
    k = int(rng.integers(8, 22))
    for _ in range(k):
        c = rng.normal(n / 2, n / 5, 2).clip(n * 0.1, n * 0.9)
        a = rng.uniform(0, 180)
        ln = L * rng.uniform(0.09, 0.13)
        m = _ellipse(n, n, c, (ln / 2, ln / 4.5), a)
        cv.paint(m, col)
        cv.shade(_ellipse(n, n, c, (ln / 2, ln / 4.5), a, thickness=max(int(L / 120), 1)), 0.75)
        cv.shade(_ellipse(n, n, c, (ln / 6, ln / 9), a), 0.85)
    return cv.finish(), 0.08


_CLUTTER = {"tape": (_clutter_tape, 10), "packing_slip": (_clutter_slip, 15), "pen": (_clutter_pen, 14),
            "sticky_note": (_clutter_note, 7.6), "peanuts": (_clutter_peanuts, 14)}


# ---------------------------------------------------------------------------
# the packer's hand
# ---------------------------------------------------------------------------

_SKIN = [(236, 194, 166), (222, 174, 140), (198, 146, 110), (160, 112, 82), (122, 84, 62), (92, 62, 46)]


def _hand(rng: np.random.Generator, W: int, H: int, target: np.ndarray, edge: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """A hand and forearm entering from ``edge`` (0 top, 1 right, 2 bottom, 3 left)
    with the middle fingertip at ``target``. Returns premultiplied RGB and alpha."""
    m = min(W, H)
    hs = rng.uniform(0.26, 0.36) * m            # wrist to middle fingertip
    edge_pts = {0: (target[0], -0.05 * m), 1: (W + 0.05 * m, target[1]), 2: (target[0], H + 0.05 * m),
                3: (-0.05 * m, target[1])}
    E = np.array(edge_pts[edge], np.float64)
    along = np.array([1.0, 0.0]) if edge in (0, 2) else np.array([0.0, 1.0])
    E += along * rng.uniform(-0.25, 0.25) * m
    d = target - E
    dist = np.linalg.norm(d)
    d = d / max(dist, 1e-6)
    if dist < 1.4 * hs:
        E = target - d * 1.6 * hs
    n = np.array([-d[1], d[0]])
    side = rng.choice([-1.0, 1.0])              # left or right hand
    T = np.asarray(target, np.float64)
    wrist = T - d * hs
    Eo = E - d * 0.6 * m                        # arm continues beyond the frame

    def rot(v, deg):
        a = math.radians(deg)
        return np.array([v[0] * math.cos(a) - v[1] * math.sin(a), v[0] * math.sin(a) + v[1] * math.cos(a)])

    skin_m = _mask(H, W)
    arm = [wrist + n * 0.2 * hs, wrist - n * 0.2 * hs, Eo - n * 0.25 * hs, Eo + n * 0.25 * hs]
    cv2.fillPoly(skin_m, [_pts(arm)], 255, cv2.LINE_AA)
    P = T - d * 0.62 * hs
    palm = [wrist + n * 0.21 * hs, wrist - n * 0.21 * hs, P + d * 0.17 * hs - n * 0.25 * hs,
            P + d * 0.17 * hs + n * 0.25 * hs]
    cv2.fillPoly(skin_m, [_pts(palm)], 255, cv2.LINE_AA)
    cv2.ellipse(skin_m, (int(P[0]), int(P[1])), (int(0.3 * hs), int(0.25 * hs)),
                math.degrees(math.atan2(d[1], d[0])), 0, 360, 255, -1, cv2.LINE_AA)
    curl = rng.uniform(0.65, 1.0)
    spread = rng.uniform(0.5, 1.5)
    tips = []
    for off, ln, wd, sp in ((-0.165, 0.36, 0.085, -7), (-0.055, 0.45, 0.09, -2), (0.055, 0.42, 0.088, 2),
                            (0.165, 0.33, 0.075, 7)):
        base = T - d * 0.45 * hs + n * off * hs
        fd = rot(d, sp * spread)
        tip = base + fd * ln * hs * curl
        tips.append((tip, fd, wd))
        cv2.line(skin_m, tuple(int(v) for v in base), tuple(int(v) for v in tip), 255, max(int(wd * hs), 2),
                 cv2.LINE_AA)
    tb = wrist + d * 0.2 * hs + n * side * 0.17 * hs
    td = rot(d, side * rng.uniform(35, 60))
    t1 = tb + td * 0.2 * hs
    t2 = t1 + rot(td, -side * 25) * 0.15 * hs
    cv2.line(skin_m, tuple(int(v) for v in tb), tuple(int(v) for v in t1), 255, max(int(0.11 * hs), 2), cv2.LINE_AA)
    cv2.line(skin_m, tuple(int(v) for v in t1), tuple(int(v) for v in t2), 255, max(int(0.095 * hs), 2), cv2.LINE_AA)
    a = _f(skin_m)
    glove = rng.random() < 0.15
    skin = _rgb(_SKIN[rng.integers(len(_SKIN))]) * (1 + 0.04 * rng.standard_normal(3))
    if glove:
        skin = _rgb([(60, 110, 200), (30, 30, 34), (90, 60, 140)][rng.integers(3)])
    img = np.ones((H, W, 3), Float) * skin.astype(Float)
    # rounded limb shading from the distance to the outline
    dt = cv2.distanceTransform((skin_m > 127).astype(np.uint8), cv2.DIST_L2, 5)
    shade = 0.68 + 0.38 * np.sqrt(np.clip(dt / (0.1 * hs), 0, 1))
    shade *= 1 + 0.04 * _noise(rng, H, W, 0.05 * m, 2)
    if not glove:
        for tip, fd, wd in tips:  # fingernails
            c = tip - fd * wd * hs * 0.5
            cv2.ellipse(img, (int(c[0]), int(c[1])), (int(wd * hs * 0.3), int(wd * hs * 0.22)),
                        math.degrees(math.atan2(fd[1], fd[0])), 0, 360, tuple(float(x) for x in
                                                                            np.clip(skin * 1.15 + 0.08, 0, 1)), -1,
                        cv2.LINE_AA)
    img *= shade[..., None]
    if rng.random() < 0.6:
        # a sleeve covers the forearm from some point back to the frame edge
        cut = wrist - d * rng.uniform(0.2, 0.6) * hs
        sl = _mask(H, W)
        sleeve = [cut + n * 0.27 * hs, cut - n * 0.27 * hs, Eo - n * 0.32 * hs, Eo + n * 0.32 * hs]
        cv2.fillPoly(sl, [_pts(sleeve)], 255, cv2.LINE_AA)
        slf = _f(sl)
        cols = [(40, 44, 52), (120, 124, 130), (30, 60, 110), (150, 40, 40), (220, 220, 214), (60, 90, 60)]
        scol = _rgb(cols[rng.integers(len(cols))])
        dts = cv2.distanceTransform((sl > 127).astype(np.uint8), cv2.DIST_L2, 5)
        sshade = (0.65 + 0.4 * np.sqrt(np.clip(dts / (0.12 * hs), 0, 1))) * (1 + 0.05 * _noise(rng, H, W, 3, 1))
        img = img * (1 - slf[..., None]) + (scol * sshade[..., None]) * slf[..., None]
        a = np.maximum(a, slf)
    # the hand is closer to the lens than the table: slightly out of focus
    sg = 0.0025 * m
    a = _blur(a, sg)
    pm = _blur(img * _f(skin_m | (a * 255 > 127).astype(np.uint8) * 255)[..., None], sg)
    pm = np.minimum(pm, a[..., None])
    return pm.astype(Float), a.astype(Float)


# ---------------------------------------------------------------------------
# scenes
# ---------------------------------------------------------------------------

@dataclass
class SceneInfo:
    """What :func:`render_scene` put in the picture (ground truth for tests).

    Attributes
    ----------
    items : list of (product, variant)
        The products actually placed (empty for ``empty=True``).
    polygons : list of ndarray
        For each item, the four corners (output pixel coords, ``(4, 2)``) of its
        rotated sprite bounding box, after the perspective warp.
    labels : ndarray
        ``(H, W)`` uint8: ``i + 1`` where item ``i`` is visible, 0 elsewhere
        (hands cover items).
    hand_mask : ndarray or None
        ``(H, W)`` bool where a hand/arm is, or None.
    clutter : list of str
        Names of clutter objects placed.
    station_seed : int
    surface : str
    in_box : bool
    homography : ndarray
        ``3 x 3`` world-plane -> output-pixel transform of this shot.
    """

    items: list
    polygons: list
    labels: np.ndarray
    hand_mask: np.ndarray | None
    clutter: list
    station_seed: int
    surface: str
    in_box: bool
    homography: np.ndarray


def _rect_corners(c, w, h, ang_deg):
    a = math.radians(-ang_deg)  # cv2.getRotationMatrix2D rotates counter-clockwise on screen
    ca, sa = math.cos(a), math.sin(a)
    return np.array([(c[0] + ca * x - sa * y, c[1] + sa * x + ca * y)
                     for x, y in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))])


def _paste_with_shadow(world, labels, label, pm, a, x, y, offset, sigma, strength):
    """Darken the world under a soft shadow of ``a``, then composite the sprite."""
    Hw, Ww = world.shape[:2]
    h, w = a.shape
    pad = int(3 * sigma + abs(offset[0]) + abs(offset[1])) + 2
    sh = np.zeros((h + 2 * pad, w + 2 * pad), Float)
    sh[pad:pad + h, pad:pad + w] = a
    soft = _blur(sh, sigma)
    contact = _blur(sh, max(1.0, sigma * 0.15))
    ox, oy = int(round(offset[0])), int(round(offset[1]))
    soft = _shift(soft, ox, oy)
    shadow = np.clip(strength * soft + 0.25 * contact, 0, 0.9)
    X0, Y0 = x - pad, y - pad
    xs0, ys0 = max(X0, 0), max(Y0, 0)
    xs1, ys1 = min(X0 + shadow.shape[1], Ww), min(Y0 + shadow.shape[0], Hw)
    if xs0 < xs1 and ys0 < ys1:
        world[ys0:ys1, xs0:xs1] *= (1 - shadow[ys0 - Y0:ys1 - Y0, xs0 - X0:xs1 - X0])[..., None]
    _over(world, pm, a, x, y)
    if labels is not None:
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, Ww), min(y + h, Hw)
        if x0 < x1 and y0 < y1:
            sub = a[y0 - y:y1 - y, x0 - x:x1 - x] > 0.5
            labels[y0:y1, x0:x1][sub] = label


def _inside(poly: np.ndarray, pts: np.ndarray) -> bool:
    c = poly.astype(np.float32).reshape(-1, 1, 2)
    return all(cv2.pointPolygonTest(c, (float(p[0]), float(p[1])), False) >= 0 for p in pts)


def _place(rng, st: _Station, items, coverage, apart: bool = False):
    """Choose scale, angle and position of each item inside the station's placement area.

    ``apart``: items keep a gap of about 3 % of the frame between them (a packer laying
    a kit's pieces out for the photo), so each is counted as one item; otherwise they
    may touch and overlap a little."""
    W, H = st.size
    Hw, Ww = st.world.shape[:2]
    dims, sil = [], 0.0
    for p, v in items:
        _, a = _sprite_full(p, v)
        L = _spec(p).size_cm
        dims.append((L, a.shape[1] / max(a.shape), a.shape[0] / max(a.shape)))
        sil += float(a.mean()) * L * L * dims[-1][1] * dims[-1][2]
    cm2 = sum(L * L * fw * fh for L, fw, fh in dims)
    k = math.sqrt(coverage * W * H / cm2)       # pixels per cm
    # Silhouettes cannot fill more than about half the placement area (random
    # placement would rarely succeed); start there instead of shrinking there.
    k = min(k, math.sqrt(0.45 * cv2.contourArea(st.place.astype(np.float32)) / sil))
    g = 8                                       # occupancy grid downsampling
    order = sorted(range(len(items)), key=lambda i: -dims[i][0])
    bx0, by0 = st.place.min(0)
    bx1, by1 = st.place.max(0)
    gh, gw = Hw // g + 1, Ww // g + 1
    allowed = np.zeros((gh, gw), np.uint8)
    cv2.fillPoly(allowed, [_pts(st.place / g)], 1)
    for _ in range(40):
        occ = np.zeros((gh, gw), np.uint8)
        near = occ
        placed = {}
        ok = True
        for i in order:
            L, fw, fh = dims[i]
            w, h = L * k * fw, L * k * fh
            # Overlap is judged on the real silhouettes (at 1/g scale), not on
            # bounding boxes: a coiled cable's or trousers' bbox is mostly empty,
            # and bbox tests made multi-item scenes needlessly small.
            _, a_low = _sprite_resized(*items[i], max(L * k / g, 4))
            done = False
            for _ in range(100):
                ang = rng.uniform(0, 360)
                c = np.array([rng.uniform(bx0, bx1), rng.uniform(by0, by1)])
                corners = _rect_corners(c, w, h, ang)
                _, ar = _rotate_sprite(None, a_low, ang)
                mm = (ar > 0.3).astype(np.uint8)
                y0, x0 = int(round(c[1] / g - mm.shape[0] / 2)), int(round(c[0] / g - mm.shape[1] / 2))
                if y0 < 0 or x0 < 0 or y0 + mm.shape[0] > gh or x0 + mm.shape[1] > gw:
                    continue
                area = int(mm.sum())
                # the silhouette (not its bbox) must lie in the placement area
                if area - int((mm & allowed[y0:y0 + mm.shape[0], x0:x0 + mm.shape[1]]).sum()) > 0:
                    continue
                ys0, xs0, ys1, xs1 = y0, x0, y0 + mm.shape[0], x0 + mm.shape[1]
                sub = mm
                if area and int((sub & occ[ys0:ys1, xs0:xs1]).sum()) > 0.02 * area:
                    continue
                if apart and int((sub & near[ys0:ys1, xs0:xs1]).sum()) > 0:
                    continue
                occ[ys0:ys1, xs0:xs1] |= sub
                if apart:
                    gap = max(2, int(0.03 * min(W, H) / g))
                    near = cv2.dilate(occ, np.ones((2 * gap + 1, 2 * gap + 1), np.uint8))
                placed[i] = (c, ang, L * k, corners)
                done = True
                break
            if not done:
                ok = False
                break
        if ok:
            return [placed[i] for i in range(len(items))], occ, k
        k *= 0.92
    raise RuntimeError("could not place the items in the scene")


def _place_clutter(rng, st: _Station, occ, k, names):
    W, H = st.size
    g = 8
    out = []
    m_frame = min(W, H)
    qx0, qy0 = st.quad.min(0)
    qx1, qy1 = st.quad.max(0)
    region = _shrink(st.quad, 0.97)
    for name in names:
        fn, cm = _CLUTTER[name]
        L = float(np.clip(k * cm, 0.07 * m_frame, 0.28 * m_frame))
        (pm, a), height = fn(rng, L)
        ang = rng.uniform(0, 360)
        pm, a = _rotate_sprite(pm, a, ang)
        h, w = a.shape
        for _ in range(80):
            c = np.array([rng.uniform(qx0, qx1), rng.uniform(qy0, qy1)])
            if not _inside(region, [c]):
                continue
            corners = np.array([c + (-w / 2, -h / 2), c + (w / 2, -h / 2), c + (w / 2, h / 2), c + (-w / 2, h / 2)])
            mm = np.zeros_like(occ)
            cv2.fillPoly(mm, [_pts(corners / g)], 1)
            area = int(mm.sum())
            if area and int((mm & occ).sum()) > 0.05 * area:
                continue
            occ |= mm
            out.append((name, pm, a, height, c))
            break
    return out


def render_scene(items: Sequence[tuple[str, str]], *, seed: int, size: tuple[int, int] = (1600, 1200),
                 station_seed: int | None = None, surface: str | None = None, in_box: bool | None = None,
                 coverage: float | tuple[float, float] | None = None, hand: bool | None = None,
                 clutter: bool | int | Sequence[str] | None = None, blur: bool | None = None,
                 dark: bool = False, blurred: bool = False, empty: bool = False, apart: bool = False,
                 return_info: bool = False):
    """A phone photo of a packing station with ``items`` on it.

    Parameters
    ----------
    items : sequence of (product, variant)
        What is on the table; repeat an entry for a quantity of 2.
    seed : int
        Seed of everything that changes from shot to shot: placement, rotation,
        hand, clutter, blur, noise, 1-2 px camera jitter, small exposure and
        white-balance drift.
    size : (width, height)
        Output size in pixels.
    station_seed : int, optional
        Seed of the station: surface texture, open box, lighting field, colour
        temperature and camera pose. Photos with the same ``station_seed`` (and
        the same ``surface``/``in_box``/``size`` overrides) line up with
        :func:`render_empty_station` of that seed. Default: derived from ``seed``
        (a station of its own).
    surface : {"wood", "mat", "cardboard"}, optional
        Table surface; default chosen by the station seed.
    in_box : bool, optional
        Put the items inside an open cardboard box; default chosen by the
        station seed (about a third of stations).
    coverage : float or (low, high), optional
        Fraction of the frame area covered by the items' bounding boxes
        (before rotation). Default: uniform in (0.15, 0.6). Items are shrunk if
        they do not fit.
    hand : bool, optional
        A hand/arm enters from an edge, its fingertips at or slightly over an
        item. Default: random (40 %).
    clutter : bool, int or sequence of str, optional
        Non-catalogue objects on the bench (``"tape"``, ``"packing_slip"``,
        ``"pen"``, ``"sticky_note"``, ``"peanuts"``). An int is a count, a
        sequence names them. Default: random 0-3.
    blur : bool, optional
        Slight defocus or motion blur as in a hand-held shot. Default: random (30 %).
    dark : bool
        A badly under-exposed, noisy photo (mean brightness ~ 10-25 / 255).
    blurred : bool
        Heavy defocus + motion blur: nothing is recognisable.
    empty : bool
        No product, just the surface / box (clutter and hand still possible).
    apart : bool
        Lay the items out with a gap between them (as a packer does for a kit's
        pieces), so that each one can be counted; the default lets them touch.
    return_info : bool
        Also return a :class:`SceneInfo`.

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, SceneInfo)
        ``(H, W, 3)`` uint8 RGB.
    """
    W, H = int(size[0]), int(size[1])
    rng = np.random.default_rng([int(seed), 0x5CE])
    if station_seed is None:
        station_seed = int(rng.integers(2 ** 31))
    st = _station(int(station_seed), (W, H), surface, in_box)
    m = min(W, H)
    s = m / 1000
    world = st.world.copy()
    Hw, Ww = world.shape[:2]
    labels = np.zeros((Hw, Ww), np.uint8)
    items = [] if empty else [(p, _check_variant(p, v)) for p, v in items]
    if len(items) > 254:
        raise ValueError("at most 254 items per scene")

    if coverage is None:
        cov = rng.uniform(0.15, 0.6)
    elif isinstance(coverage, (tuple, list)):
        cov = rng.uniform(*coverage)
    else:
        cov = float(coverage)
    if st.in_box:
        cov = min(cov, 0.4)  # the box floor is smaller than the frame
    g = 8
    occ = np.zeros((Hw // g + 1, Ww // g + 1), np.uint8)
    k = math.sqrt(cov * W * H / (20 * 20))
    placements = []
    if items:
        placements, occ, k = _place(rng, st, items, cov, apart)

    # clutter goes down first (it lies on the table, items may rest on it) ...
    if clutter is None:
        n_cl = int(rng.choice([0, 1, 1, 2, 2, 3]))
        names = list(rng.choice(list(_CLUTTER), size=n_cl, replace=False)) if n_cl else []
    elif isinstance(clutter, bool):
        names = list(rng.choice(list(_CLUTTER), size=int(rng.integers(1, 4)), replace=False)) if clutter else []
    elif isinstance(clutter, int):
        names = [list(_CLUTTER)[int(i)] for i in rng.integers(0, len(_CLUTTER), clutter)]
    else:
        names = list(clutter)
        for nm in names:
            if nm not in _CLUTTER:
                raise ValueError(f"unknown clutter {nm!r}; known: {', '.join(_CLUTTER)}")
    cl = _place_clutter(rng, st, occ, k, [str(n) for n in names])
    for name, pm, a, height, c in cl:
        L = max(a.shape)
        off = st.light_dir * height * L * st.shadow_len
        _paste_with_shadow(world, None, 0, pm, a, int(c[0] - a.shape[1] / 2), int(c[1] - a.shape[0] / 2), off,
                           2 + 0.02 * L, st.shadow_strength * 0.8)
    # ... then the products
    for idx, ((p, v), (c, ang, L, corners)) in enumerate(zip(items, placements)):
        pm, a = _sprite_resized(p, v, L)
        pm, a = _rotate_sprite(pm, a, ang)
        hgt = _spec(p).height
        off = st.light_dir * hgt * L * st.shadow_len
        _paste_with_shadow(world, labels, idx + 1, pm, a, int(round(c[0] - a.shape[1] / 2)),
                           int(round(c[1] - a.shape[0] / 2)), off, 2 + 0.015 * L + 0.25 * np.linalg.norm(off),
                           st.shadow_strength)

    # camera: perspective view of the plane, with 1-2 px of hand-held jitter
    out_c = np.float32([(0, 0), (W, 0), (W, H), (0, H)]) + rng.uniform(-1.5, 1.5, (4, 2)).astype(np.float32)
    Hm = cv2.getPerspectiveTransform(st.quad.astype(np.float32), out_c)
    img = cv2.warpPerspective(world, Hm, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    lab = cv2.warpPerspective(labels, Hm, (W, H), flags=cv2.INTER_NEAREST, borderValue=0)
    polys = [cv2.perspectiveTransform(cn.reshape(-1, 1, 2).astype(np.float64), Hm).reshape(-1, 2)
             for (_, _, _, cn) in placements]

    # hand
    use_hand = (rng.random() < 0.4) if hand is None else bool(hand)
    hand_mask = None
    if use_hand:
        edge = int(rng.choice([0, 1, 2, 2, 3]))
        ys, xs = np.nonzero(lab[::4, ::4]) if polys else ((), ())
        if len(ys):
            # Aim at the visible item pixels nearest the entry edge (not the
            # bbox corner, which may be empty table), then push a little
            # inwards (fingers over the item) or outwards (hand beside it).
            pts = np.stack([xs, ys], 1).astype(np.float64) * 4
            key = {0: pts[:, 1], 1: -pts[:, 0], 2: -pts[:, 1], 3: pts[:, 0]}[edge]
            cand = pts[key <= np.percentile(key, 3)]
            ext = cand[int(rng.integers(len(cand)))]
            ctr = pts.mean(0)
            target = ext + (ctr - ext) * rng.uniform(-0.12, 0.1)
        else:
            target = np.array([rng.uniform(0.3, 0.7) * W, rng.uniform(0.3, 0.7) * H])
        pm, a = _hand(rng, W, H, target, edge)
        # shadow of the hand on whatever is under it
        off = (st.light_dir * 0.06 * m).round().astype(int)
        sh = _shift(_blur(a, 0.03 * m), off[0], off[1])
        img *= (1 - 0.4 * sh)[..., None]
        img = pm + img * (1 - a[..., None])
        hand_mask = a > 0.5
        lab[hand_mask] = 0

    # light: uneven field, exposure, colour temperature (white balance error)
    exposure = st.exposure * rng.uniform(0.96, 1.04)
    if dark:
        exposure *= rng.uniform(0.07, 0.11)
    img *= (st.illum * exposure)[..., None]
    t = st.temp + rng.uniform(-0.06, 0.06)
    img *= np.float32([1 + 0.11 * t, 1.0, 1 - 0.14 * t])

    # optics: slight blur / heavy blur, then phone sharpening
    if blurred:
        img = _blur(img, rng.uniform(0.018, 0.026) * m)
        img = _motion_blur(img, rng.uniform(0.04, 0.07) * m, rng.uniform(0, 180))
    else:
        use_blur = (rng.random() < 0.3) if blur is None else bool(blur)
        if use_blur:
            if rng.random() < 0.5:
                img = _blur(img, rng.uniform(0.8, 1.8) * s)
            else:
                img = _motion_blur(img, rng.uniform(3, 9) * s, rng.uniform(0, 180))
        img = img + 0.35 * (img - _blur(img, 1.2 * s))

    # sensor: signal-dependent (shot + read) noise, stronger in the dark (high
    # ISO). Phones denoise, so what is left is slightly soft grain plus
    # blotchy low-frequency chroma noise.
    iso = 6.0 if dark else 1.0
    sig = np.sqrt(np.clip(img, 0, 1) * 0.00016 * iso + 0.000006 * iso ** 2)
    lum = _blur(rng.standard_normal((H, W)).astype(Float), 0.55)[..., None] * 1.6
    chroma = _blur(rng.standard_normal((H, W, 3)).astype(Float), 1.5) * 2.2
    img = img + sig * (0.8 * lum + 0.7 * chroma)
    img = np.clip(img, 0, 1) ** (1 / 1.04)  # a touch of tone curve
    out = _to_u8(img)
    if not return_info:
        return out
    return out, SceneInfo(items=list(items), polygons=polys, labels=lab, hand_mask=hand_mask,
                          clutter=[n for n, *_ in cl], station_seed=int(station_seed), surface=st.surface,
                          in_box=st.in_box, homography=Hm)


def _motion_blur(img: np.ndarray, length: float, angle_deg: float) -> np.ndarray:
    n = max(int(round(length)), 1) | 1
    k = np.zeros((n, n), np.float32)
    k[n // 2, :] = 1
    M = cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), angle_deg, 1.0)
    k = cv2.warpAffine(k, M, (n, n))
    k /= max(float(k.sum()), 1e-6)
    return cv2.filter2D(img, -1, k, borderType=cv2.BORDER_REFLECT)


def render_empty_station(seed: int, *, size: tuple[int, int] = (1600, 1200), surface: str | None = None,
                         in_box: bool | None = None, shot_seed: int = 0) -> np.ndarray:
    """The empty-station reference photo: the station of ``seed`` with nothing on it.

    Same surface, box, lighting and camera pose as every
    ``render_scene(..., station_seed=seed)`` with the same ``size``,
    ``surface`` and ``in_box`` arguments; only sensor noise, 1-2 px of camera
    jitter and a few percent of exposure / white-balance drift differ.

    Parameters
    ----------
    seed : int
        The station seed.
    size : (width, height)
    surface, in_box : optional
        Overrides, as in :func:`render_scene`.
    shot_seed : int
        Seed of the shot-to-shot differences.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` uint8 RGB.
    """
    return render_scene([], seed=shot_seed, size=size, station_seed=seed, surface=surface, in_box=in_box,
                        hand=False, clutter=0, blur=False, empty=True)


# ---------------------------------------------------------------------------
# JPEG with EXIF orientation
# ---------------------------------------------------------------------------

def orient_for_exif(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """The pixel array to store so that a viewer applying EXIF ``orientation`` shows ``rgb``.

    See the table in the module docstring.

    Parameters
    ----------
    rgb : numpy.ndarray
        The upright image, ``(H, W, C)``.
    orientation : int
        EXIF Orientation value, 1-8.

    Returns
    -------
    numpy.ndarray
        The array to encode (a view; ``(W, H, C)`` for 5-8).
    """
    o = int(orientation)
    if o == 1:
        return rgb
    if o == 2:
        return rgb[:, ::-1]
    if o == 3:
        return rgb[::-1, ::-1]
    if o == 4:
        return rgb[::-1, :]
    if o == 5:
        return rgb.transpose(1, 0, 2)
    if o == 6:
        return np.rot90(rgb, 1)
    if o == 7:
        return np.rot90(rgb, 2).transpose(1, 0, 2)
    if o == 8:
        return np.rot90(rgb, -1)
    raise ValueError(f"EXIF orientation must be 1-8, not {orientation!r}")


def save_jpeg(path: str | Path, rgb: np.ndarray, *, quality: int, exif_orientation: int | None = None) -> Path:
    """Write an RGB image as a JPEG, optionally stored rotated with an EXIF Orientation tag.

    Parameters
    ----------
    path : str or Path
        Destination; parent folders are created.
    rgb : numpy.ndarray
        Upright ``(H, W, 3)`` uint8 RGB image.
    quality : int
        JPEG quality 1-95.
    exif_orientation : int, optional
        If given (1-8), the pixels are stored transformed by
        :func:`orient_for_exif` and the EXIF tag 0x0112 is set to this value,
        so EXIF-aware readers (``cv2.imread``, ``ImageOps.exif_transpose``,
        browsers, phones) show ``rgb`` upright. If None no EXIF is written.

    Returns
    -------
    Path
    """
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError("save_jpeg needs an (H, W, 3) uint8 RGB array")
    kw = {}
    if exif_orientation is not None:
        arr = orient_for_exif(arr, exif_orientation)
        exif = Image.Exif()
        exif[0x0112] = int(exif_orientation)
        kw["exif"] = exif.tobytes()
    Image.fromarray(np.ascontiguousarray(arr), "RGB").save(path, "JPEG", quality=int(quality), optimize=True, **kw)
    return path


# ---------------------------------------------------------------------------
# benchmark scene sets
# ---------------------------------------------------------------------------

def make_scene_manifest(out_dir: str | Path, *, n_products: int = 12, n_variants: int = 3,
                        photos_per_class: int = 6, seed: int = 0, size: tuple[int, int] = (1280, 960)) -> Path:
    """Write a synthetic benchmark in the real-data manifest format.

    Each class is one (product, variant). For each class one listing image
    (``kind=iconic``) and ``photos_per_class`` packing-station photos
    (``kind=photo``) are written. Photos have all the realism of
    :func:`render_scene` (random stations, boxes, hands, clutter, tilt, blur)
    plus JPEG quality 70-92 and EXIF orientation 6, 8 or 3 on about a fifth of
    them; they never use ``dark``/``blurred``/``empty``.

    Parameters
    ----------
    out_dir : str or Path
        Created if missing. Files: ``manifest.csv``, ``iconic/*.jpg``,
        ``photos/*.jpg``.
    n_products : int
        The first ``n_products`` of :func:`list_products` (at most 12).
    n_variants : int
        The first ``n_variants`` variants of each product (at most 3 for all
        products; some have 4).
    photos_per_class : int
    seed : int
        Master seed.
    size : (width, height)
        Photo size.

    Returns
    -------
    Path
        Path of ``manifest.csv``. Columns: ``class_id, class_name,
        coarse_class, kind, path`` (``class_name`` is ``product-variant``,
        ``coarse_class`` the product, ``path`` relative to the manifest).
    """
    prods = list_products()
    if not 1 <= n_products <= len(prods):
        raise ValueError(f"n_products must be 1..{len(prods)}")
    if n_variants < 1 or any(len(list_variants(p)) < n_variants for p in prods[:n_products]):
        raise ValueError("n_variants is larger than the number of variants of some product")
    out = Path(out_dir)
    (out / "iconic").mkdir(parents=True, exist_ok=True)
    (out / "photos").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([int(seed), 0x3A4])
    rows = []
    cid = 0
    for p in prods[:n_products]:
        for v in list_variants(p)[:n_variants]:
            name = f"{p}-{v}"
            rel = f"iconic/{name}.jpg"
            save_jpeg(out / rel, render_listing(p, v, size=800), quality=90)
            rows.append((cid, name, p, "iconic", rel))
            for j in range(photos_per_class):
                shot = int(rng.integers(2 ** 31))
                img = render_scene([(p, v)], seed=shot, size=size, station_seed=int(rng.integers(2 ** 31)),
                                   hand=bool(rng.random() < 0.45))
                q = int(rng.integers(70, 93))
                o = int(rng.choice([6, 8, 3])) if rng.random() < 0.2 else None
                rel = f"photos/{name}_{j:02d}.jpg"
                save_jpeg(out / rel, img, quality=q, exif_orientation=o)
                rows.append((cid, name, p, "photo", rel))
            cid += 1
    path = out / "manifest.csv"
    with open(path, "w", newline="") as fh:
        wr = csv.writer(fh, lineterminator="\n")
        wr.writerow(["class_id", "class_name", "coarse_class", "kind", "path"])
        wr.writerows(rows)
    return path

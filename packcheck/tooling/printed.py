"""Synthetic proxy benchmark: phone photos of printed, textured products (``packcheck bench printed``).

Made for #13: most marketplace goods are printed boxes, books, cosmetics and
electronics packaging, decided by geometry more than by colour; this set stands
in for phone photos of 100 such products (box-like covers, clutter, glare,
perspective, hands) and for confirmed reference photos of each.

Writes, under --out DIR:
  iconic/cover-XXX.jpg        the listing image (flat cover on white, 400-800 px, q~90)
  photos/cover-XXX_NN.jpg     phone-like photos of the printed box/book in clutter
  refs/cover-XXX_rN.jpg       more phone photos of the same product (other random draws)
  manifest.csv                iconic + photo rows
  manifest_reference.csv      iconic + reference rows
  series.csv                  series id, kind (distinct / variant), layout, art source
  params.json                 the command-line parameters

Example:
  packcheck bench printed --out DIR --products 100 --photos 4 --refs 2 --seed 0 [--size 1600x1200]
                          [--backgrounds ../shared/realdata/grocerystore]

Everything random comes from numpy Generators derived from --seed, so the output is
deterministic (bit-identical for the same seed, size and library versions).
Needs: numpy, opencv-python(-headless), Pillow, scikit-image (for skimage.data images).
Optional real photos (--backgrounds): the grocery set's photos as shelf backgrounds and small insets.
"""
import argparse
import colorsys
import csv
import glob
import json
import math
import multiprocessing as mp
import os
import sys
import time

import cv2
import numpy as np
from PIL import Image

GROCERY_DIR = ""  # set by main(--backgrounds)

# ----------------------------------------------------------------------------------------
# word lists
# ----------------------------------------------------------------------------------------
WORDS = """amber anchor apple arrow atlas autumn basil beacon berry birch bloom blue bold
bramble breeze bright brook canyon cedar cherry cinder citrus clover cobalt comet copper
coral cosmic crest crimson crystal daisy dawn delta desert drift dune ember emerald fable
falcon fern fiesta flame forest frost garden ginger glacier golden granite harbor harvest
hazel heron honey horizon indigo iris island ivory jade jasmine juniper kettle lagoon
lantern lemon lily linen lotus lunar maple marble meadow midnight mint mirror misty
monarch moss nectar noble north nova oasis ocean olive onyx orbit orchid pacific paper
pebble pepper pine planet plum polar poppy prairie prism quartz quest rain raven reef
river robin ruby rustic saffron sage salt sapphire scarlet shadow silver sky slate solar
spark spice spring spruce star stone storm summer sunny swift thistle thunder tide timber
topaz tulip twilight urban valley velvet vintage violet voyage walnut willow winter wild
wonder zephyr crunch oats flakes honey puffs grain morning crisp classic original
ultra pro max mini smart wave pulse nano core prime turbo vision sonic pixel fusion
secret garden lost city silent river hidden empire broken crown last summer long night
glass house iron heart little women great escape deep water open road cold fire""".split()

SYLL = ["ka", "lo", "mi", "ra", "ve", "to", "na", "zi", "bo", "ly", "xe", "qu", "sa",
        "tri", "fen", "dor", "vel", "max", "pix", "ora", "nix", "el", "an", "ko", "ru"]

FLAVOURS = ["STRAWBERRY", "VANILLA", "CHOCOLATE", "MINT", "LEMON", "CARAMEL", "BERRY",
            "COCONUT", "MANGO", "ORIGINAL", "LIGHT", "EXTRA", "NIGHT", "DAY", "SENSITIVE",
            "CLASSIC", "DELUXE", "HONEY", "CINNAMON", "PEACH", "GOLD", "SILVER", "BLACK",
            "WHITE", "BLUE", "RED", "GREEN", "SPORT", "KIDS", "FAMILY"]

FONTS = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
         cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
         cv2.FONT_HERSHEY_SCRIPT_COMPLEX, cv2.FONT_HERSHEY_COMPLEX_SMALL]

LAYOUTS = ["book", "cereal", "cosmetics", "electronics", "split"]
# width / height of the front face for each layout (range)
ASPECTS = {"book": (0.62, 0.70), "cereal": (0.70, 0.80), "cosmetics": (0.45, 0.62),
           "electronics": (1.05, 1.40), "split": (0.75, 1.0)}
# box depth relative to the long side of the front
DEPTHS = {"book": (0.04, 0.12), "cereal": (0.18, 0.30), "cosmetics": (0.25, 0.45),
          "electronics": (0.12, 0.30), "split": (0.05, 0.25)}

SKIN = [(224, 172, 125), (241, 194, 150), (255, 219, 186), (198, 134, 90), (141, 85, 50),
        (232, 180, 160), (250, 200, 170), (170, 110, 75), (110, 70, 45)]
GLOVES = [(70, 110, 200), (30, 30, 35), (235, 235, 230), (90, 160, 220)]


# ----------------------------------------------------------------------------------------
# source images
# ----------------------------------------------------------------------------------------
def load_art_sources():
    """Real photographs shipped with scikit-image (the ones that need no download)."""
    import warnings
    warnings.filterwarnings("ignore")
    import skimage.data as d
    out = {}
    colour = ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
              "immunohistochemistry", "stereo_motorcycle", "retina", "colorwheel", "logo"]
    gray = ["camera", "coins", "brick", "grass", "gravel", "moon", "page", "text", "cell",
            "clock"]
    for n in colour + gray:
        try:
            x = getattr(d, n)()
        except Exception:
            continue
        if isinstance(x, tuple):
            x = x[0]
        x = np.asarray(x)
        if x.dtype != np.uint8:
            x = (np.clip(x, 0, 1) * 255).astype(np.uint8) if x.max() <= 1 else x.astype(np.uint8)
        if x.ndim == 3 and x.shape[2] == 4:
            a = x[..., 3:4].astype(np.float32) / 255
            x = (x[..., :3] * a + 255 * (1 - a)).astype(np.uint8)
        if x.ndim == 2:
            x = np.dstack([x] * 3)
            out[n] = ("gray", x)
        else:
            out[n] = ("colour", np.ascontiguousarray(x[..., :3]))
    if not out:
        raise SystemExit("no skimage.data images available")
    return out


def load_grocery():
    iconic, shelf = [], []
    if os.path.isdir(GROCERY_DIR):
        for f in sorted(glob.glob(os.path.join(GROCERY_DIR, "*", "*.jpg"))):
            im = np.asarray(Image.open(f).convert("RGB"))
            (iconic if "_Iconic" in os.path.basename(f) else shelf).append(im)
    return iconic, shelf


# ----------------------------------------------------------------------------------------
# colour helpers
# ----------------------------------------------------------------------------------------
def hsv(h, s, v):
    r, g, b = colorsys.hsv_to_rgb((h % 360) / 360.0, min(max(s, 0), 1), min(max(v, 0), 1))
    return (int(r * 255), int(g * 255), int(b * 255))


def rot_colour(c, dh):
    h, s, v = colorsys.rgb_to_hsv(*[x / 255.0 for x in c])
    return hsv(h * 360 + dh, s, v)


def lum(c):
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def contrast_text(c, rng_choice=None):
    return (20, 20, 25) if lum(c) > 140 else (250, 250, 245)


def hue_rotate_img(img, dh):
    if dh % 360 == 0:
        return img
    h = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    h[..., 0] = ((h[..., 0].astype(np.int32) + int(round(dh / 2))) % 180).astype(np.uint8)
    return cv2.cvtColor(h, cv2.COLOR_HSV2RGB)


def colour_transform(img, kind, p):
    img = img.copy()
    if kind == "none":
        return img
    if kind == "hue":
        return hue_rotate_img(img, p["dh"])
    if kind == "duotone":
        g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)[..., None] / 255
        g = np.clip((g - 0.5) * p["gain"] + 0.5, 0, 1)
        c0 = np.array(p["c0"], np.float32)
        c1 = np.array(p["c1"], np.float32)
        return (c0 * (1 - g) + c1 * g).astype(np.uint8)
    if kind == "poster":
        h = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.float32)
        h[..., 1] = np.clip(h[..., 1] * p["sat"], 0, 255)
        img = cv2.cvtColor(h.astype(np.uint8), cv2.COLOR_HSV2RGB)
        q = p["levels"]
        return ((img // (256 // q)) * (256 // q) + (128 // q)).astype(np.uint8)
    if kind == "warm":
        m = np.array(p["mul"], np.float32)
        return np.clip(img.astype(np.float32) * m, 0, 255).astype(np.uint8)
    return img


# ----------------------------------------------------------------------------------------
# drawing primitives (all positions given in unit cover coordinates)
# ----------------------------------------------------------------------------------------
class Canvas:
    def __init__(self, w, h, bg):
        self.w, self.h = w, h
        self.img = np.empty((h, w, 3), np.uint8)
        self.img[:] = bg
        self.s = max(w, h) / 1000.0  # stroke scale

    def px(self, u, v):
        return int(round(u * self.w)), int(round(v * self.h))

    def rect(self, u0, v0, u1, v1, col, alpha=1.0):
        x0, y0 = self.px(u0, v0)
        x1, y1 = self.px(u1, v1)
        x0, x1 = max(0, min(x0, x1)), min(self.w, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.h, max(y0, y1))
        if x1 <= x0 or y1 <= y0:
            return
        if alpha >= 1:
            self.img[y0:y1, x0:x1] = col
        else:
            sub = self.img[y0:y1, x0:x1].astype(np.float32)
            self.img[y0:y1, x0:x1] = (sub * (1 - alpha) + np.array(col, np.float32) * alpha).astype(np.uint8)

    def poly(self, pts_uv, col, alpha=1.0):
        pts = np.array([[u * self.w, v * self.h] for u, v in pts_uv], np.float32)
        pts = np.round(pts * 16).astype(np.int32)
        if alpha >= 1:
            cv2.fillPoly(self.img, [pts], col, cv2.LINE_AA, shift=4)
        else:
            ov = self.img.copy()
            cv2.fillPoly(ov, [pts], col, cv2.LINE_AA, shift=4)
            self.img[:] = cv2.addWeighted(ov, alpha, self.img, 1 - alpha, 0)

    def ellipse(self, u, v, ru, rv, col, ang=0, thick=-1):
        c = self.px(u, v)
        ax = (max(1, int(ru * self.w)), max(1, int(rv * self.h)))
        t = thick if thick < 0 else max(1, int(thick * self.s))
        cv2.ellipse(self.img, c, ax, ang, 0, 360, col, t, cv2.LINE_AA)

    def line(self, u0, v0, u1, v1, col, thick):
        cv2.line(self.img, self.px(u0, v0), self.px(u1, v1), col, max(1, int(thick * self.s)), cv2.LINE_AA)

    def paste(self, src, u0, v0, u1, v1, mask=None):
        x0, y0 = self.px(u0, v0)
        x1, y1 = self.px(u1, v1)
        w, h = x1 - x0, y1 - y0
        if w < 2 or h < 2:
            return
        r = cv2.resize(src, (w, h), interpolation=cv2.INTER_AREA if w < src.shape[1] else cv2.INTER_CUBIC)
        xa, ya = max(0, x0), max(0, y0)
        xb, yb = min(self.w, x1), min(self.h, y1)
        if xb <= xa or yb <= ya:
            return
        rr = r[ya - y0:yb - y0, xa - x0:xb - x0]
        if mask is None:
            self.img[ya:yb, xa:xb] = rr
        else:
            m = cv2.resize(mask, (w, h))[ya - y0:yb - y0, xa - x0:xb - x0].astype(np.float32)[..., None] / 255
            sub = self.img[ya:yb, xa:xb].astype(np.float32)
            self.img[ya:yb, xa:xb] = (sub * (1 - m) + rr * m).astype(np.uint8)

    def text(self, txt, u0, v0, u1, v1, col, font, weight=1.0, align="c", outline=None, italic=False):
        """Fit txt into the box (u0,v0)-(u1,v1); weight scales the stroke thickness."""
        if not txt:
            return
        f = font | (cv2.FONT_ITALIC if italic else 0)
        bw, bh = (u1 - u0) * self.w, (v1 - v0) * self.h
        if bw < 4 or bh < 4:
            return
        (tw, th), base = cv2.getTextSize(txt, f, 1.0, 1)
        sc = min(bw / max(tw, 1), bh / max(th + base * 0.5, 1))
        thick = max(1, int(round(sc * 1.6 * weight)))
        (tw, th), base = cv2.getTextSize(txt, f, sc, thick)
        x0, y0 = self.px(u0, v0)
        if align == "c":
            x = x0 + (bw - tw) / 2
        elif align == "l":
            x = x0
        else:
            x = x0 + bw - tw
        y = y0 + (bh + th) / 2 - base * 0.25
        org = (int(x), int(y))
        if outline is not None:
            cv2.putText(self.img, txt, org, f, sc, outline, thick + max(2, int(thick * 1.2)), cv2.LINE_AA)
        cv2.putText(self.img, txt, org, f, sc, col, thick, cv2.LINE_AA)


def crop_art(src, box, out_w, out_h):
    """box = (cx, cy, scale) relative; crop region with aspect out_w/out_h, resized."""
    H, W = src.shape[:2]
    cx, cy, sc = box
    asp = out_w / max(out_h, 1)
    ch = sc * min(H, W / asp)
    cw = ch * asp
    x0 = np.clip(cx * W - cw / 2, 0, W - cw)
    y0 = np.clip(cy * H - ch / 2, 0, H - ch)
    M = np.array([[out_w / cw, 0, -x0 * out_w / cw], [0, out_h / ch, -y0 * out_h / ch]], np.float32)
    interp = cv2.INTER_AREA if out_w < cw else cv2.INTER_CUBIC
    if interp == cv2.INTER_AREA:
        sub = src[int(y0):int(math.ceil(y0 + ch)), int(x0):int(math.ceil(x0 + cw))]
        return cv2.resize(sub, (out_w, out_h), interpolation=cv2.INTER_AREA)
    return cv2.warpAffine(src, M, (out_w, out_h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def barcode(cv, u0, v0, u1, v1, digits, seed_bits):
    cv.rect(u0, v0, u1, v1, (252, 252, 250))
    x0, y0 = cv.px(u0 + (u1 - u0) * 0.06, v0 + (v1 - v0) * 0.08)
    x1, y1 = cv.px(u1 - (u1 - u0) * 0.06, v0 + (v1 - v0) * 0.72)
    n = len(seed_bits)
    mod = (x1 - x0) / n
    for i, b in enumerate(seed_bits):
        if b:
            xa = int(x0 + i * mod)
            xb = max(xa + 1, int(x0 + (i + 1) * mod))
            cv.img[y0:y1, xa:xb] = (15, 15, 15)
    cv.text(digits, u0 + (u1 - u0) * 0.05, v0 + (v1 - v0) * 0.74, u1 - (u1 - u0) * 0.05, v1 - (v1 - v0) * 0.02,
            (15, 15, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.6)


def logo(cv, u, v, r, spec):
    """r: radius in unit-width coords."""
    shape, col, col2, letters, font = spec["shape"], spec["col"], spec["col2"], spec["letters"], spec["font"]
    rv = r * cv.w / cv.h
    if shape == "circle":
        cv.ellipse(u, v, r, rv, col)
        cv.ellipse(u, v, r * 0.86, rv * 0.86, col2, thick=3)
    elif shape == "ellipse":
        cv.ellipse(u, v, r * 1.3, rv * 0.75, col)
    elif shape == "square":
        cv.rect(u - r, v - rv, u + r, v + rv, col)
        cv.rect(u - r * 0.8, v - rv * 0.8, u + r * 0.8, v + rv * 0.8, col2)
        cv.rect(u - r * 0.7, v - rv * 0.7, u + r * 0.7, v + rv * 0.7, col)
    elif shape == "diamond":
        cv.poly([(u, v - rv * 1.2), (u + r * 1.2, v), (u, v + rv * 1.2), (u - r * 1.2, v)], col)
    elif shape == "shield":
        cv.poly([(u - r, v - rv), (u + r, v - rv), (u + r, v + rv * 0.2), (u, v + rv * 1.2),
                 (u - r, v + rv * 0.2)], col)
    elif shape == "star":
        pts = []
        for k in range(10):
            a = -math.pi / 2 + k * math.pi / 5
            rr = 1.25 if k % 2 == 0 else 0.6
            pts.append((u + r * rr * math.cos(a), v + rv * rr * math.sin(a)))
        cv.poly(pts, col)
    tc = col2
    cv.text(letters, u - r * 0.62, v - rv * 0.5, u + r * 0.62, v + rv * 0.5, tc, font, 1.4)


def blurb(cv, u0, v0, u1, v1, lines, col, font=cv2.FONT_HERSHEY_SIMPLEX):
    n = len(lines)
    hh = (v1 - v0) / max(n, 1)
    for i, ln in enumerate(lines):
        cv.text(ln, u0, v0 + i * hh, u1, v0 + (i + 0.8) * hh, col, font, 0.5, align="l")


def pattern(cv, kind, col, alpha, density):
    if kind == "none":
        return
    ov = cv.img.copy()
    if kind == "stripes":
        n = int(density)
        for i in range(-n, 2 * n):
            u = i / n
            pts = np.array([[u * cv.w, 0], [(u + 0.5 / n) * cv.w, 0],
                            [(u + 0.5 / n + 0.4) * cv.w, cv.h], [(u + 0.4) * cv.w, cv.h]], np.int32)
            cv2.fillPoly(ov, [pts], col, cv2.LINE_AA)
    elif kind == "dots":
        n = int(density)
        step = cv.w / n
        r = max(1, int(step * 0.22))
        for j in range(int(cv.h / step) + 1):
            for i in range(n + 1):
                cv2.circle(ov, (int((i + 0.5 * (j % 2)) * step), int(j * step)), r, col, -1, cv2.LINE_AA)
    elif kind == "lines":
        n = int(density)
        for j in range(n * 2):
            y = int(j * cv.h / (n * 2))
            cv2.line(ov, (0, y), (cv.w, y), col, max(1, int(cv.s)), cv2.LINE_AA)
    elif kind == "waves":
        n = int(density)
        xs = np.arange(0, cv.w, 4)
        for j in range(n):
            y0 = (j + 0.5) * cv.h / n
            ys = y0 + np.sin(xs / cv.w * 2 * math.pi * 3 + j) * cv.h / n * 0.3
            cv2.polylines(ov, [np.stack([xs, ys], 1).astype(np.int32)], False, col, max(1, int(2 * cv.s)), cv2.LINE_AA)
    cv.img[:] = cv2.addWeighted(ov, alpha, cv.img, 1 - alpha, 0)


# ----------------------------------------------------------------------------------------
# product specs
# ----------------------------------------------------------------------------------------
def rand_word(rng):
    return str(rng.choice(WORDS))


def pseudo_word(rng, n=None):
    n = n or int(rng.integers(2, 4))
    return "".join(rng.choice(SYLL) for _ in range(n))


def make_palette(rng, h=None):
    h = float(rng.uniform(0, 360)) if h is None else h
    scheme = rng.choice(["comp", "analog", "triad", "mono"])
    dh2 = {"comp": 180, "analog": 35, "triad": 120, "mono": 0}[scheme] + rng.uniform(-15, 15)
    band = (h, rng.uniform(0.55, 1.0), rng.uniform(0.45, 0.95))
    dark_bg = rng.random() < 0.4
    bg = (h + rng.uniform(-20, 20), rng.uniform(0.05, 0.35) if not dark_bg else rng.uniform(0.4, 0.9),
          rng.uniform(0.85, 1.0) if not dark_bg else rng.uniform(0.12, 0.3))
    acc = (h + dh2, rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0))
    return {"band": band, "bg": bg, "acc": acc}


def pal_rgb(pal, dh=0.0):
    return {k: hsv(v[0] + dh, v[1], v[2]) for k, v in pal.items()}


def make_art_ct(rng, art_kind):
    if art_kind == "gray":
        kinds = ["duotone", "duotone", "warm", "none"]
    else:
        kinds = ["none", "none", "hue", "duotone", "poster", "warm"]
    k = str(rng.choice(kinds))
    p = {"dh": float(rng.uniform(30, 330)), "gain": float(rng.uniform(0.9, 1.6)),
         "c0": hsv(rng.uniform(0, 360), rng.uniform(0.5, 1), rng.uniform(0.1, 0.4)),
         "c1": hsv(rng.uniform(0, 360), rng.uniform(0.1, 0.5), rng.uniform(0.85, 1)),
         "sat": float(rng.uniform(1.2, 1.8)), "levels": int(rng.integers(4, 8)),
         "mul": [float(rng.uniform(0.85, 1.15)) for _ in range(3)]}
    return k, p


def make_title(rng, layout):
    n = int(rng.choice([1, 2, 2, 3]))
    words = [rand_word(rng) if rng.random() < 0.8 else pseudo_word(rng) for _ in range(n)]
    if layout == "electronics":
        words = [words[0], "%s-%d" % (pseudo_word(rng, 1).upper()[:2], int(rng.integers(100, 9999)))]
    up = rng.random() < 0.6
    words = [w.upper() if up else w.capitalize() for w in words]
    if len(words) == 3 and rng.random() < 0.5:
        return [" ".join(words[:2]), words[2]]
    if len(words) == 2 and rng.random() < 0.5:
        return [" ".join(words)]
    return words


def make_series_layout(rng, layout):
    """Series-level layout choices shared by all members."""
    L = {"layout": layout,
         "aspect": float(rng.uniform(*ASPECTS[layout])),
         "depth": float(rng.uniform(*DEPTHS[layout])),
         "title_font": int(rng.choice(FONTS[:4] + ([cv2.FONT_HERSHEY_SCRIPT_COMPLEX] if layout == "cosmetics" else []))),
         "small_font": int(rng.choice([cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX_SMALL,
                                       cv2.FONT_HERSHEY_PLAIN])),
         "italic": bool(rng.random() < 0.2),
         "band_top": bool(rng.random() < 0.6),
         "band_h": float(rng.uniform(0.13, 0.24)),
         "art_full": bool(rng.random() < 0.5),
         "art_v1": float(rng.uniform(0.55, 0.75)),
         "logo_u": float(rng.choice([0.14, 0.86])),
         "logo_r": float(rng.uniform(0.06, 0.11)),
         "barcode_u": float(rng.choice([0.05, 0.62])),
         "diag": float(rng.uniform(-0.25, 0.25)),
         "split_left": bool(rng.random() < 0.5),
         "split_w": float(rng.uniform(0.38, 0.5)),
         "circle_art": bool(rng.random() < 0.6),
         "pattern": str(rng.choice(["none", "stripes", "dots", "lines", "waves"])),
         "pattern_alpha": float(rng.uniform(0.08, 0.25)),
         "pattern_density": float(rng.uniform(8, 30)),
         "n_icons": int(rng.integers(3, 6)),
         "outline": bool(rng.random() < 0.5),
         "has_inset": bool(rng.random() < 0.7),
         "has_burst": bool(rng.random() < 0.6),
         }
    return L


def make_logo(rng):
    return {"shape": str(rng.choice(["circle", "ellipse", "square", "diamond", "shield", "star"])),
            "col": hsv(rng.uniform(0, 360), rng.uniform(0.6, 1), rng.uniform(0.5, 0.95)),
            "col2": (250, 250, 245) if rng.random() < 0.7 else (20, 20, 20),
            "letters": pseudo_word(rng, 1).upper()[:int(rng.integers(1, 4))],
            "font": int(rng.choice(FONTS[:4]))}


def make_product(rng, series, n_grocery):
    """Product-level content (title, crop, palette...)."""
    L = series["L"]
    p = {"title": make_title(rng, L["layout"]),
         "sub": " ".join(rand_word(rng) for _ in range(int(rng.integers(1, 4)))).upper(),
         "author": (pseudo_word(rng).capitalize() + " " + pseudo_word(rng).capitalize()),
         "pal": make_palette(rng),
         "crop": (float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.35, 1.0))),
         "crop2": (float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.2, 0.6))),
         "ct": make_art_ct(rng, series["art_kind"]),
         "blurb": [" ".join(rand_word(rng) for _ in range(int(rng.integers(3, 7)))) for _ in range(int(rng.integers(3, 7)))],
         "digits": "".join(str(int(x)) for x in rng.integers(0, 10, 13)),
         "bits": [int(x) for x in (rng.random(int(rng.integers(50, 80))) < 0.5)],
         "inset": int(rng.integers(0, max(n_grocery, 1))),
         "flavour": str(rng.choice(FLAVOURS)),
         "burst_txt": str(rng.choice(["NEW", "50%", "XL", "BIO", "+20%", "TOP", "HD", "4K", "ECO", "2x"])),
         "icons": [str(rng.choice(["o", "^", "#", "*", "+", "~", "%", "@"])) for _ in range(6)],
         "dh": 0.0,
         "spine_seed": int(rng.integers(0, 2 ** 31)),
         }
    return p


def build_catalogue(n_products, seed, art_names):
    rng = np.random.default_rng([seed, 1000])
    products = []
    series_list = []
    sid = 0
    # art sources are dealt out in shuffled rounds, and a reused source always gets a layout
    # it has not had yet, so that two series never share both art and layout
    art_order = []
    used = {}
    while len(products) < n_products:
        size = int(rng.choice([2, 2, 3, 3, 3, 4]))
        size = min(size, n_products - len(products))
        if not art_order:
            art_order = [str(x) for x in rng.permutation(art_names)]
        art = art_order.pop()
        free = [l for l in LAYOUTS if l not in used.get(art, set())] or LAYOUTS
        layout = str(rng.choice(free))
        used.setdefault(art, set()).add(layout)
        variant = bool(size >= 2 and rng.random() < 0.22)
        series = {"id": sid, "name": "series-%02d" % sid, "L": make_series_layout(rng, layout),
                  "logo": make_logo(rng), "brand": pseudo_word(rng).upper(), "art": art,
                  "variant": variant, "size": size}
        series["art_kind"] = ART_SOURCES[art][0]
        base = make_product(rng, series, len(GROCERY_ICONIC))
        base_h = float(rng.uniform(0, 360))
        flav = list(rng.choice(FLAVOURS, size=size, replace=False))
        for k in range(size):
            if variant:
                p = dict(base)
                p["dh"] = (k * 360.0 / size + (rng.uniform(-20, 20) if k else 0)) % 360
                p["flavour"] = str(flav[k])
                p["spine_seed"] = base["spine_seed"]
            else:
                p = make_product(rng, series, len(GROCERY_ICONIC))
                p["pal"] = make_palette(rng, base_h + k * 360.0 / size + rng.uniform(-25, 25))
            p["series"] = sid
            p["class_id"] = len(products)
            p["name"] = "cover-%03d" % len(products)
            products.append(p)
        series_list.append(series)
        sid += 1
    return products, series_list


# ----------------------------------------------------------------------------------------
# cover rendering
# ----------------------------------------------------------------------------------------
def render_cover(p, series, long_px):
    L = series["L"]
    asp = L["aspect"]
    if asp >= 1:
        W, H = long_px, int(round(long_px / asp))
    else:
        W, H = int(round(long_px * asp)), long_px
    dh = p["dh"]
    pal = pal_rgb(p["pal"], dh)
    band, bg, acc = pal["band"], pal["bg"], pal["acc"]
    src = ART_SOURCES[series["art"]][1]
    ct_kind, ct_p = p["ct"]

    def art(w_u, h_u, crop):
        w, h = max(2, int(w_u * W)), max(2, int(h_u * H))
        a = crop_art(src, crop, w, h)
        a = colour_transform(a, ct_kind, ct_p)
        return hue_rotate_img(a, dh)

    cv = Canvas(W, H, bg)
    logo_spec = dict(series["logo"])
    logo_spec["col"] = rot_colour(logo_spec["col"], dh) if series["variant"] else logo_spec["col"]
    txtc = contrast_text(band)
    small = L["small_font"]
    lay = L["layout"]
    title = p["title"]

    def title_block(u0, v0, u1, v1, col, outline=None):
        n = len(title)
        hh = (v1 - v0) / n
        for i, t in enumerate(title):
            cv.text(t, u0, v0 + i * hh, u1, v0 + (i + 0.9) * hh, col, L["title_font"], 1.2, "c", outline, L["italic"])

    if lay == "book":
        if L["art_full"]:
            cv.paste(art(1, 1, p["crop"]), 0, 0, 1, 1)
        else:
            v1 = L["art_v1"]
            cv.paste(art(1, v1, p["crop"]), 0, 0 if not L["band_top"] else 1 - v1, 1, v1 if not L["band_top"] else 1)
        pattern(cv, L["pattern"], acc, L["pattern_alpha"] * 0.5, L["pattern_density"])
        bh = L["band_h"]
        b0 = 0.04 if L["band_top"] else 1 - bh - 0.1
        cv.rect(0, b0, 1, b0 + bh, band, 0.92)
        title_block(0.06, b0 + 0.01, 0.94, b0 + bh - 0.01, txtc)
        a0 = 0.9 if L["band_top"] else 0.05
        cv.rect(0.15, a0, 0.85, a0 + 0.06, bg, 0.7)
        cv.text(p["author"].upper(), 0.18, a0 + 0.005, 0.82, a0 + 0.055, contrast_text(bg), small, 0.8)
        cv.text(p["sub"], 0.1, (b0 + bh + 0.01) if L["band_top"] else b0 - 0.05, 0.9,
                (b0 + bh + 0.05) if L["band_top"] else b0 - 0.01, (250, 250, 250), small, 0.6, outline=(30, 30, 30))
        logo(cv, L["logo_u"], 0.8 if L["band_top"] else 0.22, L["logo_r"] * 0.6, logo_spec)
        if L["has_burst"]:
            cv.ellipse(1 - L["logo_u"], 0.75, 0.11, 0.11 * W / H, acc)
            cv.text(p["flavour"][:8], 1 - L["logo_u"] - 0.09, 0.73, 1 - L["logo_u"] + 0.09, 0.77, contrast_text(acc), small, 0.8)
    elif lay == "cereal":
        bh = L["band_h"]
        cv.rect(0, 0, 1, bh, band)
        logo(cv, L["logo_u"], bh / 2, min(L["logo_r"], bh * H / W * 0.45), logo_spec)
        bu0 = 0.28 if L["logo_u"] < 0.5 else 0.04
        cv.text(series["brand"], bu0, bh * 0.2, bu0 + 0.68, bh * 0.8, txtc, L["title_font"], 1.3)
        a0, a1 = bh + 0.02, 0.86
        cv.paste(art(0.92, a1 - a0, p["crop"]), 0.04, a0, 0.96, a1)
        pattern(cv, L["pattern"], acc, L["pattern_alpha"], L["pattern_density"])
        title_block(0.06, 0.55, 0.94, 0.76, (255, 255, 255) if lum(band) < 150 else band,
                    outline=(20, 20, 20) if L["outline"] else None)
        if L["has_burst"]:
            pts = []
            cu, cvv, r = 0.78, bh + 0.12, 0.13
            for k in range(24):
                a = k * math.pi / 12
                rr = r if k % 2 == 0 else r * 0.8
                pts.append((cu + rr * math.cos(a), cvv + rr * math.sin(a) * W / H))
            cv.poly(pts, acc)
            cv.text(p["burst_txt"], cu - 0.08, cvv - 0.03, cu + 0.08, cvv + 0.03, contrast_text(acc), small, 1.0)
        if L["has_inset"] and GROCERY_ICONIC:
            g = GROCERY_ICONIC[p["inset"] % len(GROCERY_ICONIC)]
            cv.rect(0.05, 0.63, 0.3, 0.63 + 0.25 * W / H, (255, 255, 255))
            cv.paste(g, 0.06, 0.635, 0.29, 0.625 + 0.24 * W / H)
        cv.rect(0, 0.88, 1, 1, bg)
        cv.text(p["flavour"], 0.04, 0.885, 0.55, 0.93, band, L["title_font"], 1.0, "l")
        for k in range(4):
            u = 0.04 + k * 0.12
            cv.rect(u, 0.94, u + 0.1, 0.99, band, 0.9)
            cv.text("%d%%" % ((p["bits"][k] * 7 + k * 13) % 40 + 2), u + 0.01, 0.945, u + 0.09, 0.985, txtc, small, 0.7)
        barcode(cv, 0.6, 0.895, 0.95, 0.99, p["digits"], p["bits"])
    elif lay == "cosmetics":
        # vertical gradient background
        g = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
        c0 = np.array(bg, np.float32)
        c1 = np.array(rot_colour(bg, 25), np.float32) * 0.85
        cv.img[:] = (c0 * (1 - g) + c1 * g).astype(np.uint8)
        pattern(cv, L["pattern"], acc, L["pattern_alpha"], L["pattern_density"])
        cv.rect(0.06, 0, 0.06 + 0.05, 1, band)
        cv.text(" ".join(series["brand"]), 0.15, 0.04, 0.95, 0.1, contrast_text(bg), small, 0.8)
        cu, cvv, r = 0.55, 0.36, 0.36
        a = art(2 * r, 2 * r * W / H, p["crop"])
        if L["circle_art"]:
            m = np.zeros(a.shape[:2], np.uint8)
            cv2.ellipse(m, (a.shape[1] // 2, a.shape[0] // 2), (a.shape[1] // 2 - 1, a.shape[0] // 2 - 1), 0, 0, 360, 255, -1, cv2.LINE_AA)
            cv.ellipse(cu, cvv, r + 0.015, (r + 0.015) * W / H, band)
            cv.paste(a, cu - r, cvv - r * W / H, cu + r, cvv + r * W / H, mask=m)
        else:
            cv.rect(cu - r - 0.015, cvv - r * W / H - 0.01, cu + r + 0.015, cvv + r * W / H + 0.01, band)
            cv.paste(a, cu - r, cvv - r * W / H, cu + r, cvv + r * W / H)
        title_block(0.14, 0.62, 0.97, 0.78, contrast_text(bg) if lum(band) > 100 and lum(bg) > 140 else band)
        cv.line(0.2, 0.8, 0.9, 0.8, band, 2)
        cv.text(p["flavour"], 0.2, 0.81, 0.9, 0.85, acc if abs(lum(acc) - lum(bg)) > 60 else contrast_text(bg), small, 0.8)
        blurb(cv, 0.18, 0.86, 0.92, 0.93, p["blurb"][:3], contrast_text(bg), small)
        logo(cv, 0.55, 0.955, 0.04, logo_spec)
        if L["has_inset"] and GROCERY_ICONIC:
            gimg = GROCERY_ICONIC[p["inset"] % len(GROCERY_ICONIC)]
            cv.paste(gimg, 0.78, 0.5, 0.96, 0.5 + 0.18 * W / H)
    elif lay == "electronics":
        cv.img[:] = hsv(p["pal"]["bg"][0] + dh, 0.3, 0.12)
        su0 = 0.38
        cv.paste(art(1 - su0, 0.82, p["crop"]), su0, 0, 1, 0.82)
        d = L["diag"]
        cv.poly([(0, 0.7 + d * 0.3), (1, 0.7 - d * 0.3), (1, 0.84 - d * 0.3), (0, 0.84 + d * 0.3)], band)
        pattern(cv, L["pattern"], acc, L["pattern_alpha"] * 0.6, L["pattern_density"])
        logo(cv, 0.08, 0.1, L["logo_r"] * 0.5, logo_spec)
        cv.text(series["brand"], 0.14, 0.05, 0.36, 0.15, (235, 235, 235), small, 1.0, "l")
        title_block(0.03, 0.22, 0.36, 0.5, (245, 245, 245))
        cv.text(p["flavour"], 0.03, 0.52, 0.34, 0.58, acc, small, 0.9, "l")
        for k in range(L["n_icons"]):
            u = 0.03 + k * 0.065
            cv.rect(u, 0.6, u + 0.055, 0.6 + 0.055 * W / H, acc)
            cv.text(p["icons"][k], u + 0.008, 0.605, u + 0.047, 0.595 + 0.05 * W / H, contrast_text(acc), cv2.FONT_HERSHEY_SIMPLEX, 1.2)
        blurb(cv, 0.03, 0.86, 0.55, 0.98, p["blurb"][:4], (200, 200, 200), small)
        if L["has_inset"] and GROCERY_ICONIC:
            gimg = GROCERY_ICONIC[p["inset"] % len(GROCERY_ICONIC)]
            cv.paste(gimg, 0.62, 0.86 - 0.14, 0.62 + 0.1, 0.86 - 0.14 + 0.1 * W / H)
        barcode(cv, 0.78, 0.86, 0.97, 0.98, p["digits"], p["bits"])
    else:  # split
        sw = L["split_w"]
        left = L["split_left"]
        pu0, pu1 = (0, sw) if left else (1 - sw, 1)
        au0, au1 = (sw, 1) if left else (0, 1 - sw)
        cv.paste(art(au1 - au0, 1, p["crop"]), au0, 0, au1, 1)
        cv.rect(pu0, 0, pu1, 1, band)
        pattern(cv, L["pattern"], acc, L["pattern_alpha"], L["pattern_density"])
        cv.rect(pu0, 0, pu1, 1, band, 0.6)
        logo(cv, (pu0 + pu1) / 2, 0.1, min(L["logo_r"], sw * 0.3), logo_spec)
        words = " ".join(title).split()
        n = len(words)
        for i, w in enumerate(words):
            cv.text(w, pu0 + 0.03, 0.22 + i * 0.4 / n, pu1 - 0.03, 0.22 + (i + 0.85) * 0.4 / n, txtc, L["title_font"], 1.2, "c",
                    None, L["italic"])
        cv.text(p["flavour"], pu0 + 0.03, 0.64, pu1 - 0.03, 0.69, acc if abs(lum(acc) - lum(band)) > 60 else txtc, small, 0.8)
        blurb(cv, pu0 + 0.03, 0.71, pu1 - 0.03, 0.84, p["blurb"][:4], txtc, small)
        if L["has_inset"] and GROCERY_ICONIC:
            gimg = GROCERY_ICONIC[p["inset"] % len(GROCERY_ICONIC)]
            cu0 = au0 + 0.05
            cv.rect(cu0 - 0.01, 0.7 - 0.01, cu0 + 0.2 + 0.01, 0.7 + 0.2 * W / H + 0.01, (255, 255, 255))
            cv.paste(gimg, cu0, 0.7, cu0 + 0.2, 0.7 + 0.2 * W / H)
        barcode(cv, pu0 + 0.05, 0.87, pu0 + min(0.35, sw - 0.05), 0.97, p["digits"], p["bits"])
    # thin print border / bleed line on some
    return cv.img


def render_side(p, series, long_px, which):
    """Texture for a side face of the box (spine): a darker related colour with text."""
    L = series["L"]
    asp = L["aspect"]
    cw = long_px if asp >= 1 else long_px * asp
    ch = long_px / asp if asp >= 1 else long_px
    dpx = max(8, int(L["depth"] * max(cw, ch)))
    vertical = which in ("left", "right")
    w, h = (dpx, int(ch)) if vertical else (int(cw), dpx)
    pal = pal_rgb(p["pal"], p["dh"])
    base = np.array(pal["band"], np.float32) * 0.8
    img = np.empty((h, w, 3), np.uint8)
    img[:] = base.astype(np.uint8)
    rng = np.random.default_rng([p["spine_seed"], ("left", "right", "top", "bottom").index(which)])
    # spine text along the long direction
    long_, short = (h, w) if vertical else (w, h)
    t = np.empty((short, long_, 3), np.uint8)
    t[:] = base.astype(np.uint8)
    c = Canvas(long_, short, tuple(int(x) for x in base))
    tc = contrast_text(tuple(int(x) for x in base))
    c.text(" ".join(p["title"]), 0.05, 0.15, 0.6, 0.85, tc, L["title_font"], 1.0, "l")
    c.text(series["brand"], 0.7, 0.2, 0.95, 0.8, tc, L["small_font"], 0.8)
    if rng.random() < 0.5:
        c.rect(0.62, 0, 0.66, 1, pal["acc"])
    t = c.img
    img = np.ascontiguousarray(np.rot90(t, 3 if which == "right" else 1)) if vertical else t
    return img


# ----------------------------------------------------------------------------------------
# scene helpers
# ----------------------------------------------------------------------------------------
def rodrigues(axis, ang):
    axis = np.asarray(axis, np.float64)
    axis = axis / (np.linalg.norm(axis) + 1e-12)
    R, _ = cv2.Rodrigues(axis * ang)
    return R


def pose(rng, tilt_max, roll_mode):
    th = math.radians(min(tilt_max, abs(rng.normal(0, tilt_max * 0.55))))
    phi = rng.uniform(0, 2 * math.pi)
    Rt = rodrigues([math.cos(phi), math.sin(phi), 0], th)
    if roll_mode == "upright":
        roll = rng.normal(0, 12)
    elif roll_mode == "quarter":
        roll = float(rng.choice([0, 90, 180, 270])) + rng.normal(0, 10)
    else:
        roll = rng.uniform(0, 360)
    Rz = rodrigues([0, 0, 1], math.radians(roll))
    return Rz @ Rt, math.degrees(th)


class Box:
    """A 3D box with the cover on the face z=0 facing the camera."""

    def __init__(self, w, h, d):
        self.w, self.h, self.d = w, h, d
        W2, H2 = w / 2, h / 2
        self.faces = {
            "front": (np.array([[-W2, -H2, 0], [W2, -H2, 0], [W2, H2, 0], [-W2, H2, 0]]), np.array([0, 0, -1])),
            "right": (np.array([[W2, -H2, 0], [W2, -H2, d], [W2, H2, d], [W2, H2, 0]]), np.array([1, 0, 0])),
            "left": (np.array([[-W2, -H2, d], [-W2, -H2, 0], [-W2, H2, 0], [-W2, H2, d]]), np.array([-1, 0, 0])),
            "top": (np.array([[-W2, -H2, d], [W2, -H2, d], [W2, -H2, 0], [-W2, -H2, 0]]), np.array([0, -1, 0])),
            "bottom": (np.array([[-W2, H2, 0], [W2, H2, 0], [W2, H2, d], [-W2, H2, d]]), np.array([0, 1, 0])),
        }

    def project(self, R, t, f, cx, cy):
        out = {}
        for k, (P, n) in self.faces.items():
            Pc = P @ R.T + t
            if np.any(Pc[:, 2] <= 1e-3):
                continue
            nc = R @ n
            ctr = Pc.mean(0)
            if nc @ ctr >= 0:
                continue
            uv = np.stack([f * Pc[:, 0] / Pc[:, 2] + cx, f * Pc[:, 1] / Pc[:, 2] + cy], 1)
            out[k] = (uv, float(-nc @ ctr / np.linalg.norm(ctr)))
        return out


def poly_area(q):
    x, y = q[:, 0], q[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))


def place_box(rng, box, R, f, FW, FH, area_frac, centre=None, allow_cut=0.0):
    cx, cy = FW / 2, FH / 2
    tz = 3.0
    for _ in range(3):
        proj = box.project(R, np.array([0, 0, tz]), f, cx, cy)
        a = poly_area(proj["front"][0]) if "front" in proj else 1
        tz *= math.sqrt(a / (area_frac * FW * FH))
    proj = box.project(R, np.array([0, 0, tz]), f, cx, cy)
    allp = np.concatenate([v[0] for v in proj.values()])
    x0, y0 = allp.min(0) - [cx, cy]
    x1, y1 = allp.max(0) - [cx, cy]
    bw, bh = x1 - x0, y1 - y0
    if centre is None:
        mx, my = allow_cut * bw, allow_cut * bh
        lo_x, hi_x = -x0 - mx, FW - x1 + mx
        lo_y, hi_y = -y0 - my, FH - y1 + my
        px = rng.uniform(lo_x, hi_x) if hi_x > lo_x else (lo_x + hi_x) / 2
        py = rng.uniform(lo_y, hi_y) if hi_y > lo_y else (lo_y + hi_y) / 2
    else:
        px, py = centre
    t = np.array([(px - cx) * tz / f, (py - cy) * tz / f, tz])
    return t, box.project(R, t, f, cx, cy)


def warp_into(frame, acc_mask, tex, quad, shade=1.0, extra_mask=None):
    """Warp texture tex to quad (4x2, order tl,tr,br,bl) and composite into frame (float32)."""
    FH, FW = frame.shape[:2]
    th, tw = tex.shape[:2]
    x0, y0 = np.floor(quad.min(0)).astype(int) - 2
    x1, y1 = np.ceil(quad.max(0)).astype(int) + 2
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, FW), min(y1, FH)
    if x1 <= x0 or y1 <= y0:
        return None
    # pre-shrink to avoid aliasing
    e = np.linalg.norm(np.roll(quad, -1, 0) - quad, axis=1)
    sx = max(e[0], e[2]) / tw
    sy = max(e[1], e[3]) / th
    s = max(sx, sy)
    if s < 0.8:
        nw, nh = max(2, int(tw * s * 1.15)), max(2, int(th * s * 1.15))
        tex = cv2.resize(tex, (nw, nh), interpolation=cv2.INTER_AREA)
        th, tw = nh, nw
    src = np.array([[0, 0], [tw, 0], [tw, th], [0, th]], np.float32)
    dst = (quad - [x0, y0]).astype(np.float32)
    Hm = cv2.getPerspectiveTransform(src, dst)
    ww, hh = x1 - x0, y1 - y0
    warped = cv2.warpPerspective(tex, Hm, (ww, hh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    m = np.zeros((hh, ww), np.uint8)
    cv2.fillConvexPoly(m, np.round(dst * 16).astype(np.int32), 255, cv2.LINE_AA, shift=4)
    mf = m.astype(np.float32)[..., None] / 255
    sub = frame[y0:y1, x0:x1]
    sub[:] = sub * (1 - mf) + warped.astype(np.float32) * shade * mf
    if acc_mask is not None:
        am = acc_mask[y0:y1, x0:x1]
        am[:] = np.maximum(am * (1 - mf[..., 0]), mf[..., 0] * (1.0 if extra_mask is None else extra_mask))
    return (x0, y0, x1, y1)


def bbox_of(pts, pad, FW, FH):
    x0, y0 = np.floor(pts.min(0) - pad).astype(int)
    x1, y1 = np.ceil(pts.max(0) + pad).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, FW), min(y1, FH)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def draw_box(frame, rng, cover, sides, box, proj, light_dir, masks=None, glossy_edge=True):
    """Render visible faces. masks: float mask array updated with front-face coverage."""
    FH, FW = frame.shape[:2]
    # soft contact shadow of the box on the surface
    allq = np.concatenate([v[0] for v in proj.values()])
    hull = cv2.convexHull(allq.astype(np.float32)).reshape(-1, 2)
    S = math.sqrt(max(poly_area(hull), 1.0))
    off = np.asarray(light_dir, np.float64) * S * rng.uniform(0.02, 0.08)
    sig = S * rng.uniform(0.02, 0.06)
    bb = bbox_of(hull + off, 3 * sig + 4, FW, FH)
    if bb is not None:
        x0, y0, x1, y1 = bb
        sm = np.zeros((y1 - y0, x1 - x0), np.float32)
        cv2.fillConvexPoly(sm, np.round((hull + off - [x0, y0]) * 16).astype(np.int32), 1.0, cv2.LINE_AA, shift=4)
        sm = soft_blur(sm, sig)
        frame[y0:y1, x0:x1] *= (1 - rng.uniform(0.3, 0.6) * sm)[..., None]
    else:
        rng.uniform(0.3, 0.6)
    for k, (quad, facing) in proj.items():
        if k == "front":
            continue
        shade = float(np.clip(0.45 + 0.5 * facing + rng.uniform(-0.1, 0.1), 0.35, 0.95))
        warp_into(frame, None, sides[k], quad, shade)
        bb = bbox_of(quad, 2, FW, FH)
        if masks is not None and bb is not None:
            x0, y0, x1, y1 = bb
            m = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.fillConvexPoly(m, np.round((quad - [x0, y0]) * 16).astype(np.int32), 255, cv2.LINE_AA, shift=4)
            masks[y0:y1, x0:x1] *= (1 - m / 255.0)
    quad = proj["front"][0]
    warp_into(frame, masks, cover, quad, 1.0)
    if glossy_edge and rng.random() < 0.5:
        col = (240, 240, 240) if rng.random() < 0.5 else (40, 40, 40)
        a = rng.uniform(0.2, 0.5)
        bb = bbox_of(quad, 4, FW, FH)
        if bb is not None:
            x0, y0, x1, y1 = bb
            m = np.zeros((y1 - y0, x1 - x0), np.float32)
            cv2.polylines(m, [np.round((quad - [x0, y0]) * 16).astype(np.int32)], True, 1.0, max(1, int(FW / 800)),
                          cv2.LINE_AA, shift=4)
            sub = frame[y0:y1, x0:x1]
            mm = (m * a)[..., None]
            sub[:] = sub * (1 - mm) + np.array(col, np.float32) * mm
    return quad


# ----------------------------------------------------------------------------------------
# backgrounds
# ----------------------------------------------------------------------------------------
def smooth_noise(rng, h, w, scale, ch=1):
    sh, sw = max(2, int(h / scale)), max(2, int(w / scale))
    n = rng.standard_normal((sh, sw, ch)).astype(np.float32)
    n = cv2.resize(n, (w, h), interpolation=cv2.INTER_CUBIC)
    return n.reshape(h, w, ch)


def table_texture(rng, h, w):
    kind = str(rng.choice(["wood", "cardboard", "mat", "texture", "laminate"]))
    if kind == "wood":
        base = np.array(hsv(rng.uniform(18, 40), rng.uniform(0.35, 0.7), rng.uniform(0.3, 0.85)), np.float32)
        # anisotropic noise: long streaks along x (grain), several octaves
        v = np.zeros((h, w), np.float32)
        for cells_y, cells_x, amp in ((h // 40 + 2, 3, 0.10), (h // 12 + 2, 6, 0.06), (h // 4 + 2, 12, 0.04)):
            n = rng.standard_normal((cells_y, cells_x)).astype(np.float32)
            v += cv2.resize(n, (w, h), interpolation=cv2.INTER_CUBIC) * amp
        v += smooth_noise(rng, h, w, 2)[..., 0] * 0.02
        img = base[None, None] * (1 + v)[..., None]
        if rng.random() < 0.6:  # plank seams
            step = int(h * rng.uniform(0.25, 0.5))
            off = int(rng.integers(0, step))
            for y in range(off, h, step):
                img[max(0, y - 1):y + 2] *= 0.55
        if rng.random() < 0.5:
            img = cv2.resize(np.ascontiguousarray(img.transpose(1, 0, 2)), (w, h))
    elif kind == "cardboard":
        base = np.array(hsv(rng.uniform(25, 38), rng.uniform(0.35, 0.55), rng.uniform(0.55, 0.8)), np.float32)
        n = smooth_noise(rng, h, w, 3)[..., 0] * 0.05 + smooth_noise(rng, h, w, w / 8)[..., 0] * 0.05
        fl = np.sin(np.arange(w, dtype=np.float32) / (w / 1600 * rng.uniform(8, 14)) * 2 * math.pi)[None, :] * 0.03
        img = base[None, None] * (1 + n + fl)[..., None]
        if rng.random() < 0.6:  # packing tape strip
            y = int(rng.uniform(0.2, 0.8) * h)
            tw = int(h * rng.uniform(0.05, 0.1))
            img[y:y + tw] = img[y:y + tw] * 0.8 + np.array([200, 170, 110], np.float32) * 0.35
    elif kind == "mat":
        base = np.array(hsv(rng.choice([140, 150, 210, 0]), rng.uniform(0.4, 0.8), rng.uniform(0.25, 0.5)), np.float32)
        img = np.empty((h, w, 3), np.float32)
        img[:] = base
        step = int(w / rng.uniform(15, 30))
        lc = base * 1.6 + 30
        for x in range(int(rng.integers(0, step)), w, step):
            img[:, x:x + max(1, w // 800)] = lc
        for y in range(int(rng.integers(0, step)), h, step):
            img[y:y + max(1, w // 800)] = lc
        img *= (1 + smooth_noise(rng, h, w, 3) * 0.03)
    elif kind == "texture":
        nm = str(rng.choice([n for n in ("brick", "gravel", "grass", "coins") if n in ART_SOURCES] or list(ART_SOURCES)))
        t = ART_SOURCES[nm][1]
        sc = rng.uniform(1.0, 3.0)
        tt = cv2.resize(t, (int(t.shape[1] * sc * w / 1600), int(t.shape[0] * sc * w / 1600)))
        reps = (h // tt.shape[0] + 1, w // tt.shape[1] + 1, 1)
        img = np.tile(tt, reps)[:h, :w].astype(np.float32)
        g = img.mean(2, keepdims=True) / 255
        col = np.array(hsv(rng.uniform(0, 360), rng.uniform(0.1, 0.5), rng.uniform(0.4, 0.9)), np.float32)
        img = col * (0.5 + 0.7 * g)
    else:
        base = np.array(hsv(rng.uniform(0, 360), rng.uniform(0, 0.15), rng.uniform(0.6, 0.95)), np.float32)
        img = base[None, None] * (1 + smooth_noise(rng, h, w, 2) * 0.02 + smooth_noise(rng, h, w, w / 5) * 0.04)
    return np.clip(img, 0, 255).astype(np.float32)


def shelf_background(rng, h, w):
    s = GROCERY_SHELF[int(rng.integers(0, len(GROCERY_SHELF)))]
    H, W = s.shape[:2]
    asp = w / h
    ch = rng.uniform(0.55, 1.0) * min(H, W / asp)
    cw = ch * asp
    x0 = rng.uniform(0, W - cw)
    y0 = rng.uniform(0, H - ch)
    sub = s[int(y0):int(y0 + ch), int(x0):int(x0 + cw)]
    if rng.random() < 0.5:
        sub = sub[:, ::-1]
    img = cv2.resize(sub, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    return img


def background(rng, h, w):
    mode = rng.random()
    if not GROCERY_SHELF or mode < 0.45:
        return table_texture(rng, h, w), "table"
    if mode < 0.7:
        return shelf_background(rng, h, w), "shelf"
    # shelf / wall behind, table in front (split along a slanted edge)
    a = shelf_background(rng, h, w)
    b = table_texture(rng, h, w)
    y0 = rng.uniform(0.15, 0.45) * h
    slope = rng.uniform(-0.15, 0.15)
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    m = np.clip((yy - (y0 + slope * (xx - w / 2))) / (3 * w / 1600) + 0.5, 0, 1)[..., None]
    return a * (1 - m) + b * m * 0.95, "mixed"


def paper_slip(rng, fs):
    """A packing slip: white paper with text lines and a barcode."""
    w, h = int(fs * rng.uniform(0.25, 0.4)), int(fs * rng.uniform(0.3, 0.5))
    c = Canvas(w, h, (int(rng.uniform(225, 250)),) * 3)
    n = int(rng.integers(6, 14))
    for i in range(n):
        ln = " ".join(rand_word(rng) for _ in range(int(rng.integers(2, 6))))
        c.text(ln.upper() if i == 0 else ln, 0.06, 0.05 + i * 0.06, 0.06 + min(0.9, 0.1 * len(ln) / 6), 0.05 + i * 0.06 + 0.04,
               (30, 30, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.6, "l")
    bits = [int(x) for x in (rng.random(60) < 0.5)]
    barcode(c, 0.1, 0.8, 0.7, 0.95, "".join(str(int(x)) for x in rng.integers(0, 10, 12)), bits)
    return c.img


# ----------------------------------------------------------------------------------------
# hands, glare, camera
# ----------------------------------------------------------------------------------------
def draw_hand(frame, rng, quad, S, shadow=True):
    """A hand (forearm, palm, four fingers, thumb) gripping an edge of the product quad."""
    FH, FW = frame.shape[:2]
    k = int(rng.integers(0, 4))
    a, b = quad[k], quad[(k + 1) % 4]
    ctr = quad.mean(0)
    p = a + (b - a) * rng.uniform(0.2, 0.8)
    e = (b - a) / (np.linalg.norm(b - a) + 1e-6)
    nrm = np.array([-e[1], e[0]])
    if np.dot(ctr - p, nrm) < 0:
        nrm = -nrm  # nrm points into the product
    # rotate the approach direction a little
    ja = rng.uniform(-0.35, 0.35)
    d = nrm * math.cos(ja) + e * math.sin(ja)
    q = np.array([-d[1], d[0]])  # across the hand
    sc = S * rng.uniform(0.7, 1.05)
    over = sc * rng.uniform(0.06, 0.3)  # how far the fingers reach onto the product
    fl = sc * 0.3  # finger length
    palm_front = p + d * (over - fl)
    palm_c = palm_front - d * sc * 0.2
    ang = math.degrees(math.atan2(d[1], d[0]))
    ss = 16
    arm_end = palm_c - d * sc * 2.5
    side = 1 if rng.random() < 0.5 else -1
    # local window holding the whole hand + its shadow
    r = sc * 0.6 + S * 0.15 + 6
    bb = bbox_of(np.array([palm_c - r, palm_c + r, arm_end - r * 0.5, arm_end + r * 0.5, p - r, p + r]), 0, FW, FH)
    x0, y0, x1, y1 = bb if bb is not None else (0, 0, 1, 1)
    o = np.array([x0, y0], np.float64)
    h_, w_ = y1 - y0, x1 - x0

    def P(v):
        return tuple(int(round(x * ss)) for x in (v - o))

    m = np.zeros((h_, w_), np.uint8)
    crease = np.zeros((h_, w_), np.uint8)
    cv2.ellipse(m, P(palm_c), (int(sc * 0.23 * ss), int(sc * 0.2 * ss)), ang, 0, 360, 255, -1, cv2.LINE_AA, shift=4)
    cv2.line(m, P(palm_c), P(arm_end), 255, max(3, int(sc * 0.33)), cv2.LINE_AA, shift=4)
    wf = sc * 0.085
    tips = []
    for i in range(4):
        off = (i - 1.5) * wf * 1.05
        ln = fl * (1.0, 1.12, 1.08, 0.85)[i] * rng.uniform(0.93, 1.05)
        base = palm_front + q * off - d * sc * 0.05
        fan = (i - 1.5) * 0.04
        dd = d * math.cos(fan) + q * math.sin(fan)
        tip = base + dd * ln
        w = max(2, int(wf * (0.95 if i < 3 else 0.82)))
        cv2.line(m, P(base), P(tip), 255, w, cv2.LINE_AA, shift=4)
        cv2.line(crease, P(base), P(tip), 255, w, cv2.LINE_AA, shift=4)
        tips.append((tip, dd, w))
    tb = palm_c + q * side * sc * 0.17
    tt = tb + q * side * sc * 0.12 + d * sc * 0.25
    cv2.line(m, P(tb), P(tt), 255, max(2, int(sc * 0.1)), cv2.LINE_AA, shift=4)
    blur = max(1, int(S * 0.004)) * 2 + 1
    mf = cv2.GaussianBlur(m, (blur, blur), 0).astype(np.float32) / 255
    full = np.zeros((FH, FW), np.float32)
    if bb is None or not m.any():
        return full
    if shadow:
        sh = soft_blur(mf, S * 0.025)
        dx, dy = (rng.uniform(-1, 1, 2) * S * 0.04).astype(np.float32)
        sh = cv2.warpAffine(sh, np.float32([[1, 0, dx], [0, 1, dy]]), (w_, h_))
        frame[y0:y1, x0:x1] *= (1 - 0.5 * sh)[..., None]
    glove = rng.random() < 0.2
    col = np.array(GLOVES[int(rng.integers(0, len(GLOVES)))] if glove else SKIN[int(rng.integers(0, len(SKIN)))], np.float32)
    col = col * rng.uniform(0.85, 1.08)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    # rounded shading across the hand + a darker far side + faint mottling
    across = ((xx - palm_c[0]) * q[0] + (yy - palm_c[1]) * q[1]) / (sc * 0.25)
    shade = 1.0 - 0.12 * np.clip(across, -1.5, 1.5) * side - 0.1 * np.clip(across, -1.5, 1.5) ** 2
    shade *= 1 + smooth_noise(rng, h_, w_, max(4, S * 0.08))[..., 0] * 0.02
    # creases between fingers: finger outlines darker
    edge = cv2.morphologyEx(crease, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(np.float32) / 255
    edge = cv2.GaussianBlur(edge, (0, 0), max(0.7, S * 0.002))
    shade *= 1 - 0.3 * edge
    hand = col[None, None] * shade[..., None]
    if not glove:
        for tip, dd, w in tips:  # nails, slightly lighter and pinker
            c = tip - dd * w * 0.55
            cv2.ellipse(hand, (int(c[0] - x0), int(c[1] - y0)), (max(1, int(w * 0.32)), max(1, int(w * 0.42))),
                        math.degrees(math.atan2(dd[1], dd[0])), 0, 360,
                        tuple(float(x) for x in np.minimum(col * np.array([1.08, 1.0, 1.02]) + 18, 255)), -1, cv2.LINE_AA)
    mm = mf[..., None]
    frame[y0:y1, x0:x1] = frame[y0:y1, x0:x1] * (1 - mm) + hand * mm
    full[y0:y1, x0:x1] = mf
    return full


def add_glare(frame, rng, prod_mask, quad, S, strong=False):
    FH, FW = frame.shape[:2]
    c = quad.mean(0) + rng.uniform(-0.35, 0.35, 2) * S
    if strong:
        ax = (int(S * rng.uniform(0.25, 0.5)), int(S * rng.uniform(0.15, 0.3)))
    elif rng.random() < 0.7:
        ax = (int(S * rng.uniform(0.08, 0.3)), int(S * rng.uniform(0.05, 0.2)))
    else:  # long streak from a tube light
        ax = (int(S * rng.uniform(0.4, 0.8)), int(S * rng.uniform(0.03, 0.07)))
    angle = rng.uniform(0, 180)
    sig = max(ax[1], 2) * rng.uniform(0.3, 0.8)
    inten = rng.uniform(90, 230) if not strong else rng.uniform(220, 260)
    r = max(ax) + 3 * sig + 4
    bb = bbox_of(np.array([c - r, c + r]), 0, FW, FH)
    if bb is None:
        return
    x0, y0, x1, y1 = bb
    # draw in a local window (big enough to hold the whole blurred ellipse when inside the frame)
    g = np.zeros((y1 - y0, x1 - x0), np.float32)
    cv2.ellipse(g, (int(round(c[0] - x0)), int(round(c[1] - y0))), ax, angle, 0, 360, 1.0, -1, cv2.LINE_AA)
    g = soft_blur(g, sig)
    g /= g.max() + 1e-6
    gm = g * prod_mask[y0:y1, x0:x1]
    sub = frame[y0:y1, x0:x1]
    # glare washes out: mix toward white
    sub[:] = sub + (255 - sub * 0.4) * (gm * inten / 255)[..., None]


def soft_blur(img, sigma):
    """Gaussian blur for large sigma: blur at reduced resolution, then upsample."""
    if sigma <= 4:
        return cv2.GaussianBlur(img, (0, 0), sigma)
    h, w = img.shape[:2]
    fct = sigma / 2.0
    sw, sh = max(2, int(w / fct)), max(2, int(h / fct))
    small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 2.0 * sw / w * fct)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def motion_kernel(length, ang):
    k = np.zeros((length, length), np.float32)
    c = length // 2
    dx, dy = math.cos(ang), math.sin(ang)
    cv2.line(k, (int(round(c - dx * c)), int(round(c - dy * c))), (int(round(c + dx * c)), int(round(c + dy * c))), 1.0, 1,
             cv2.LINE_AA)
    return k / k.sum()


def disk_kernel(r):
    n = int(math.ceil(r)) * 2 + 1
    k = np.zeros((n, n), np.float32)
    cv2.circle(k, (n // 2, n // 2), int(round(r)), 1.0, -1, cv2.LINE_AA)
    return k / k.sum()


# ----------------------------------------------------------------------------------------
# one photo
# ----------------------------------------------------------------------------------------
def make_photo(task):
    cid, kind, idx, out_path = task
    rng = np.random.default_rng([CFG["seed"], 7, cid, 0 if kind == "photo" else 1, idx])
    FWs, FHs = CFG["size"]  # sensor (stored) size, landscape
    sf = max(FWs, FHs) / 1600.0
    # upright scene orientation
    r = rng.random()
    if r < 0.45:
        orient = 1
    elif r < 0.85:
        orient = 6
    elif r < 0.92:
        orient = 8
    else:
        orient = 3
    portrait = orient in (6, 8)
    FW, FH = (FHs, FWs) if portrait else (FWs, FHs)
    f = max(FW, FH) * rng.uniform(0.7, 0.95)
    # a tail of bad photos: heavy motion blur, defocus, low light or a big glare
    hard = str(rng.choice(["motion", "defocus", "lowlight", "glare"])) if rng.random() < CFG["p_hard"] else "none"

    frame, bgkind = background(rng, FH, FW)
    # slight defocus of the background (shallow depth of field of phone)
    if rng.random() < 0.7:
        frame = soft_blur(frame, rng.uniform(1.0, 4.0) * sf)

    prod = PRODUCTS[cid]
    ser = SERIES[prod["series"]]
    light_dir = rng.uniform(-1, 1, 2)

    # --- main product pose & placement
    roll_mode = str(rng.choice(["upright", "quarter", "any"], p=[0.45, 0.25, 0.3]))
    R, tilt = pose(rng, CFG["tilt_max"], roll_mode)
    asp = ser["L"]["aspect"]
    cw, ch = (1.0, 1 / asp) if asp >= 1 else (asp, 1.0)
    box = Box(cw, ch, ser["L"]["depth"] * (1.0 if rng.random() < 0.85 else 0.02))
    lo, hi = CFG["area"]
    area = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    t_main, proj_main = place_box(rng, box, R, f, FW, FH, area, allow_cut=0.08 if rng.random() < 0.25 else 0.0)
    quad_main = proj_main["front"][0]
    S = math.sqrt(poly_area(quad_main))

    # --- clutter: packing slips and distractor covers (drawn before the main product)
    n_slip = int(rng.choice([0, 0, 1, 1, 2]))
    for _ in range(n_slip):
        slip = paper_slip(rng, 1000)
        Rs, _ = pose(rng, 35, "any")
        bx = Box(slip.shape[1] / 1000, slip.shape[0] / 1000, 0.002)
        ctr = (rng.uniform(0, FW), rng.uniform(0, FH))
        _, pj = place_box(rng, bx, Rs, f, FW, FH, rng.uniform(0.04, 0.15), centre=ctr)
        if "front" in pj:
            warp_into(frame, None, slip, pj["front"][0], rng.uniform(0.85, 1.0))

    n_dis = int(rng.choice([0, 1, 2, 2, 3, 3]))
    others = [i for i in range(len(PRODUCTS)) if i != cid]
    same = [i for i in others if PRODUCTS[i]["series"] == prod["series"]]
    dis_ids = []
    for j in range(n_dis):
        if same and rng.random() < 0.15:
            did = int(rng.choice(same))
        else:
            did = int(rng.choice(others))
        dis_ids.append(did)
        dp, ds = PRODUCTS[did], SERIES[PRODUCTS[did]["series"]]
        Rd, _ = pose(rng, CFG["tilt_max"], "any")
        a2 = ds["L"]["aspect"]
        dbox = Box(*((1.0, 1 / a2) if a2 >= 1 else (a2, 1.0)), ds["L"]["depth"])
        if rng.random() < 0.5:  # near a frame border, partly out of frame
            side = int(rng.integers(0, 4))
            u = rng.uniform(0.1, 0.9)
            ctr = [(u * FW, -0.02 * FH), (FW * 1.02, u * FH), (u * FW, FH * 1.02), (-0.02 * FW, u * FH)][side]
        else:  # next to / under the main product (occluded by it)
            ang = rng.uniform(0, 2 * math.pi)
            ctr = quad_main.mean(0) + np.array([math.cos(ang), math.sin(ang)]) * S * rng.uniform(0.5, 0.9)
        darea = area * rng.uniform(0.1, 0.35)
        _, pj = place_box(rng, dbox, Rd, f, FW, FH, darea, centre=tuple(ctr))
        if "front" in pj:
            draw_box(frame, rng, COVERS[did], SIDES[did], dbox, pj, light_dir)

    # --- main product
    prod_mask = np.zeros((FH, FW), np.float32)
    draw_box(frame, rng, COVERS[cid], SIDES[cid], box, proj_main, light_dir, masks=prod_mask)
    # physical surface texture of the print (matte cardboard / paper grain), photos only
    if rng.random() < 0.6:
        gs, ga = rng.uniform(1.0, 2.5) * sf, rng.uniform(0.015, 0.04)
        bb = bbox_of(np.concatenate([v[0] for v in proj_main.values()]), 2, FW, FH)
        if bb is not None:
            x0, y0, x1, y1 = bb
            grain = smooth_noise(rng, y1 - y0, x1 - x0, gs)[..., 0] * ga
            frame[y0:y1, x0:x1] *= (1 + grain * prod_mask[y0:y1, x0:x1])[..., None]

    # a distractor overlapping the main product a little (on top of it)
    if rng.random() < 0.15 and dis_ids:
        did = dis_ids[0]
        dp, ds = PRODUCTS[did], SERIES[PRODUCTS[did]["series"]]
        Rd, _ = pose(rng, CFG["tilt_max"], "any")
        a2 = ds["L"]["aspect"]
        dbox = Box(*((1.0, 1 / a2) if a2 >= 1 else (a2, 1.0)), ds["L"]["depth"])
        k = int(rng.integers(0, 4))
        ctr = quad_main[k] + (quad_main[k] - quad_main.mean(0)) * rng.uniform(0.5, 0.8)
        _, pj = place_box(rng, dbox, Rd, f, FW, FH, area * rng.uniform(0.15, 0.35), centre=tuple(ctr))
        if "front" in pj:
            m2 = np.ones((FH, FW), np.float32)
            draw_box(frame, rng, COVERS[did], SIDES[did], dbox, pj, light_dir, masks=m2)
            prod_mask *= m2

    # --- hand(s)
    has_hand = rng.random() < CFG["p_hand"]
    if has_hand:
        hm = draw_hand(frame, rng, quad_main, S)
        prod_mask *= (1 - hm)
        if rng.random() < 0.15:
            hm = draw_hand(frame, rng, quad_main, S)
            prod_mask *= (1 - hm)

    # --- glare
    has_glare = rng.random() < CFG["p_glare"] or hard == "glare"
    if hard == "glare":
        add_glare(frame, rng, prod_mask, quad_main, S, strong=True)
    if has_glare:
        add_glare(frame, rng, prod_mask, quad_main, S)
        if rng.random() < 0.25:
            add_glare(frame, rng, prod_mask, quad_main, S)

    # --- lighting: uneven gradient, soft shadow blob, colour temperature, exposure
    yy = np.linspace(-1, 1, FH, dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, FW, dtype=np.float32)[None, :]
    gdir = [float(x) for x in rng.uniform(-1, 1, 2)]
    grad = 1 + (xx * gdir[0] + yy * gdir[1]) * rng.uniform(0.1, 0.3)
    light = grad
    if rng.random() < 0.35:  # shadow of the phone / person
        sm = np.zeros((FH, FW), np.float32)
        c = (int(rng.uniform(0, FW)), int(rng.uniform(0, FH)))
        cv2.ellipse(sm, c, (int(FW * rng.uniform(0.15, 0.4)), int(FH * rng.uniform(0.15, 0.4))), rng.uniform(0, 180), 0, 360, 1,
                    -1)
        sm = soft_blur(sm, FW * 0.05)
        light = light * (1 - rng.uniform(0.2, 0.45) * sm)
    temp = rng.uniform(0.85, 1.15, 3).astype(np.float32)
    temp /= temp.mean()
    expo = rng.uniform(0.8, 1.15)
    # veiling flare / limited contrast of a print under room light
    contrast, black = rng.uniform(0.82, 0.97), rng.uniform(4, 22)
    # vignetting
    rr = (xx ** 2 + yy ** 2) / 2
    light = light * (1 - rng.uniform(0.1, 0.35) * rr) * (expo * contrast)
    vig_black = black * (1 - 0.3 * rr)
    light = light.astype(np.float32)
    frame = frame * light[..., None] * temp[None, None] + (vig_black.astype(np.float32)[..., None] * temp[None, None])
    frame = frame.astype(np.float32, copy=False)

    # --- optics: base softness + optional defocus / motion blur
    frame = cv2.GaussianBlur(frame, (0, 0), rng.uniform(0.5, 1.1) * sf)
    blur_kind = "none"
    if hard == "motion":
        blur_kind = "motion-strong"
        ln = int(rng.uniform(14, 28) * sf) | 1
        frame = cv2.filter2D(frame, -1, motion_kernel(ln, rng.uniform(0, math.pi)))
    elif hard == "defocus":
        blur_kind = "defocus-strong"
        frame = cv2.filter2D(frame, -1, disk_kernel(rng.uniform(4.5, 7.5) * sf))
    elif rng.random() < CFG["p_blur"]:
        if rng.random() < 0.5:
            blur_kind = "motion"
            ln = int(rng.uniform(4, 13) * sf) | 1
            frame = cv2.filter2D(frame, -1, motion_kernel(ln, rng.uniform(0, math.pi)))
        else:
            blur_kind = "defocus"
            frame = cv2.filter2D(frame, -1, disk_kernel(rng.uniform(1.5, 4.0) * sf))
    frame = np.clip(frame, 0, 255)
    # --- sensor noise (signal-dependent) + chroma noise, then ISP sharpening
    k = rng.uniform(0.03, 0.25)
    rd = rng.uniform(1.0, 3.0)
    gain = rng.uniform(3.0, 5.0) if hard == "lowlight" else 1.0
    if gain > 1:
        frame /= gain
    sigma = np.sqrt(k * frame + rd * rd)
    frame = frame + rng.standard_normal(frame.shape, dtype=np.float32) * sigma
    frame += smooth_noise(rng, FH, FW, 2.5 * sf, 3) * rng.uniform(0.5, 2.5)
    if gain > 1:  # pushed exposure + the phone's noise reduction smearing fine detail
        frame = cv2.GaussianBlur(frame * gain, (0, 0), rng.uniform(0.8, 1.4) * sf)
    if rng.random() < 0.6:
        bl = cv2.GaussianBlur(frame, (0, 0), 1.2 * sf)
        frame = frame + (frame - bl) * rng.uniform(0.3, 0.9)
    img = np.clip(frame, 0, 255).astype(np.uint8)

    # --- store like a phone: sensor-landscape pixels + EXIF orientation
    pil = Image.fromarray(img)
    if orient == 6:
        pil = pil.transpose(Image.Transpose.ROTATE_90)
    elif orient == 8:
        pil = pil.transpose(Image.Transpose.ROTATE_270)
    elif orient == 3:
        pil = pil.transpose(Image.Transpose.ROTATE_180)
    exif = Image.Exif()
    if rng.random() < 0.9 or orient != 1:
        exif[0x0112] = orient
        exif[0x010F] = str(rng.choice(["Apple", "samsung", "Google", "Xiaomi"]))
        exif[0x0110] = "PhonePhoto"
    q = int(rng.integers(CFG["q"][0], CFG["q"][1] + 1))
    pil.save(out_path, "JPEG", quality=q, exif=exif.tobytes(), subsampling=2)
    return {"class_id": cid, "kind": kind, "idx": idx, "orient": orient, "area": round(area, 3), "tilt": round(tilt, 1),
            "hand": has_hand, "glare": has_glare, "blur": blur_kind, "hard": hard, "distractors": dis_ids, "bg": bgkind, "quality": q}


# ----------------------------------------------------------------------------------------
# globals shared with worker processes (fork)
# ----------------------------------------------------------------------------------------
ART_SOURCES = {}
GROCERY_ICONIC, GROCERY_SHELF = [], []
PRODUCTS, SERIES, COVERS, SIDES = [], [], [], []
CFG = {}


def save_iconic(cover, rng, path):
    h, w = cover.shape[:2]
    L = int(rng.integers(400, 801))
    m = rng.uniform(0.0, 0.08)
    s = L / (max(h, w) * (1 + 2 * m))
    cw, ch = max(2, int(w * s)), max(2, int(h * s))
    c = cv2.resize(cover, (cw, ch), interpolation=cv2.INTER_AREA)
    pad = int(round(m * max(cw, ch)))
    canvas = np.full((ch + 2 * pad, cw + 2 * pad, 3), 255, np.uint8)
    if pad > 3 and rng.random() < 0.3:  # soft drop shadow like a web-shop mock-up
        sh = np.zeros(canvas.shape[:2], np.float32)
        o = max(2, pad // 3)
        sh[pad + o:pad + o + ch, pad + o:pad + o + cw] = 1
        sh = cv2.GaussianBlur(sh, (0, 0), max(1, pad / 3))
        canvas = (canvas * (1 - 0.3 * sh[..., None])).astype(np.uint8)
    canvas[pad:pad + ch, pad:pad + cw] = c
    Image.fromarray(canvas).save(path, "JPEG", quality=int(rng.integers(88, 93)))


def main(argv: list[str] | None = None) -> str:
    """Generate a set as the usage above says; returns a one-line summary."""
    global GROCERY_DIR
    ap = argparse.ArgumentParser(prog="packcheck bench printed", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--products", type=int, default=100)
    ap.add_argument("--photos", type=int, default=4)
    ap.add_argument("--refs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", default="1600x1200", help="stored (sensor) size WxH, landscape, e.g. 4032x3024")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--area", default="0.15,0.6", help="main product area fraction range (front face / frame)")
    ap.add_argument("--tilt", type=float, default=45.0, help="max out-of-plane tilt in degrees")
    ap.add_argument("--backgrounds", default="", help="folder of real photos (*/*.jpg) for backgrounds and insets")
    a = ap.parse_args(argv)
    a.no_grocery = not a.backgrounds
    GROCERY_DIR = a.backgrounds

    t0 = time.time()
    W, H = (int(x) for x in a.size.lower().split("x"))
    if H > W:
        W, H = H, W
    global ART_SOURCES, GROCERY_ICONIC, GROCERY_SHELF, PRODUCTS, SERIES, COVERS, SIDES, CFG
    for state in (ART_SOURCES, GROCERY_ICONIC, GROCERY_SHELF, PRODUCTS, SERIES, COVERS, SIDES, CFG):
        state.clear()  # a second call in one process starts from nothing, as a fresh process does
    CFG.update({"seed": a.seed, "size": (W, H), "tilt_max": a.tilt, "area": tuple(float(x) for x in a.area.split(",")),
                "p_hand": 0.5, "p_glare": 0.5, "p_blur": 0.3, "p_hard": 0.12, "q": (80, 92)})
    ART_SOURCES.update(load_art_sources())
    if not a.no_grocery:
        gi, gs = load_grocery()
        GROCERY_ICONIC.extend(gi)
        GROCERY_SHELF.extend(gs)
    art_names = sorted(ART_SOURCES)
    prods, series = build_catalogue(a.products, a.seed, art_names)
    PRODUCTS.extend(prods)
    SERIES.extend(series)
    long_px = 1000 if max(W, H) <= 2000 else 2000
    for p in PRODUCTS:
        s = SERIES[p["series"]]
        COVERS.append(render_cover(p, s, long_px))
        SIDES.append({k: render_side(p, s, long_px, k) for k in ("left", "right", "top", "bottom")})

    out = a.out
    for d in ("iconic", "photos", "refs"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    rows_ic = []
    for p in PRODUCTS:
        rng = np.random.default_rng([a.seed, 3, p["class_id"]])
        rel = "iconic/%s.jpg" % p["name"]
        save_iconic(COVERS[p["class_id"]], rng, os.path.join(out, rel))
        rows_ic.append((p["class_id"], p["name"], SERIES[p["series"]]["name"], "iconic", rel))
    t_cov = time.time() - t0

    tasks, rows_ph, rows_rf = [], [], []
    for p in PRODUCTS:
        for i in range(a.photos):
            rel = "photos/%s_%02d.jpg" % (p["name"], i)
            tasks.append((p["class_id"], "photo", i, os.path.join(out, rel)))
            rows_ph.append((p["class_id"], p["name"], SERIES[p["series"]]["name"], "photo", rel))
        for i in range(a.refs):
            rel = "refs/%s_r%d.jpg" % (p["name"], i)
            tasks.append((p["class_id"], "reference", i, os.path.join(out, rel)))
            rows_rf.append((p["class_id"], p["name"], SERIES[p["series"]]["name"], "reference", rel))
    if a.workers > 1:
        with mp.get_context("fork").Pool(a.workers) as pool:
            meta = pool.map(make_photo, tasks, chunksize=4)
    else:
        meta = [make_photo(t) for t in tasks]

    hdr = ("class_id", "class_name", "coarse_class", "kind", "path")
    for fn, rows in (("manifest.csv", rows_ic + rows_ph), ("manifest_reference.csv", rows_ic + rows_rf)):
        with open(os.path.join(out, fn), "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(hdr)
            w.writerows(rows)
    with open(os.path.join(out, "series.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("coarse_class", "kind", "layout", "art_source", "n_products", "class_ids"))
        for s in SERIES:
            ids = [p["class_id"] for p in PRODUCTS if p["series"] == s["id"]]
            w.writerow((s["name"], "variant" if s["variant"] else "distinct", s["L"]["layout"], s["art"], len(ids),
                        " ".join(map(str, ids))))
    with open(os.path.join(out, "photo_meta.jsonl"), "w") as fh:
        for t, m in zip(tasks, meta):
            m["path"] = os.path.relpath(t[3], out)
            fh.write(json.dumps(m) + "\n")
    with open(os.path.join(out, "params.json"), "w") as fh:
        json.dump({"argv": list(argv if argv is not None else sys.argv[1:]), "products": a.products, "photos": a.photos, "refs": a.refs, "seed": a.seed,
                   "size": [W, H], "area": CFG["area"], "tilt_max": a.tilt, "grocery": not a.no_grocery,
                   "versions": {"numpy": np.__version__, "opencv": cv2.__version__}}, fh, indent=1)
    return "covers %.1fs, total %.1fs, %d photos -> %s" % (t_cov, time.time() - t0, len(tasks), out)


if __name__ == "__main__":
    print(main())

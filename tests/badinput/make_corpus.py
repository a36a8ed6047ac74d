"""Generate the bad-input corpus of issue #9: one small data folder per case.

Run it by hand to look at the files::

    python tests/badinput/make_corpus.py /tmp/corpus

or let ``tests/test_bad_inputs.py`` build it in a temporary folder. Nothing
binary is committed: every image is drawn here with numpy/OpenCV/Pillow (the
decompression bombs and the HEIC are a few crafted header bytes).

Layout of the output folder::

    OUT/listings/          the three listing images, shared by every case
    OUT/cases/<name>/      a complete data folder: catalogue.csv, listings/,
                           photos/, orders.csv (O-1: the case, O-GOOD: a valid order)
    OUT/outside/           files outside every data folder (the escape targets)
    OUT/manifest.csv       name, group, order, expect, words (one row per case)

Each :class:`Case` states its expected outcome: ``expect="ok"`` means the input
is valid and must give a verdict (PASS, REVIEW or FLAG, never ERROR);
``expect="error"`` means a clear error whose text contains every string of
``words`` (the file, row, field, and what is wrong). ``scope`` says how far an
error reaches: ``"order"`` (only that order is an ERROR; a batch goes on) or
``"folder"`` (the data folder cannot be used: nothing is judged).
"""
from __future__ import annotations

import csv
import functools
import io
import os
import shutil
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image

# ----------------------------------------------------------------- the clean data folder
#: (sku, product_id, title, variant, shape, BGR colour). Two colour variants of one
#: ball, so the variant check has a sibling to compare with, and one box.
SKUS = (
    ("SKU-RED-BALL", "P-BALL", "Ball", "red", "circle", (40, 40, 210)),
    ("SKU-BLUE-BALL", "P-BALL", "Ball", "blue", "circle", (200, 90, 30)),
    ("SKU-GREEN-BOX", "P-BOX", "Box", "green", "square", (50, 170, 50)),
)
GOOD_SKU = "SKU-RED-BALL"
CATALOGUE_HEADER = "sku,product_id,title,variant,listing_images"
ORDERS_HEADER = "order_id,sku,qty,photo"
#: The valid order every case folder also holds: a batch must still judge it.
GOOD_ROW = f"O-GOOD,{GOOD_SKU},1,photos/good.jpg"


def draw_product(shape: str, colour: tuple[int, int, int], side: int = 240) -> np.ndarray:
    """A product on white: a filled shape with a printed stripe pattern (BGR)."""
    return _draw_product(shape, tuple(colour), side).copy()


@functools.lru_cache(maxsize=None)
def _draw_product(shape, colour, side) -> np.ndarray:
    img = np.full((side, side, 3), 255, np.uint8)
    c, r = side // 2, int(side * 0.3)
    mask = np.zeros((side, side), np.uint8)
    if shape == "circle":
        cv2.circle(mask, (c, c), r, 255, -1)
    else:
        cv2.rectangle(mask, (c - r, c - r), (c + r, c + r), 255, -1)
    img[mask > 0] = colour
    # A printed label: sharp stripes, so the photo is not "blurred" by the quality gate.
    dark = tuple(int(v * 0.45) for v in colour)
    for y in range(c - r // 2, c + r // 2, 8):
        cv2.line(img, (c - r // 2, y), (c + r // 2, y), dark, 2)
    cv2.putText(img, "PC", (c - r // 3, c + r // 6), cv2.FONT_HERSHEY_SIMPLEX, side / 300, (255, 255, 255), 2)
    return img


def draw_photo(shape: str, colour: tuple[int, int, int], *, size=(480, 360), seed: int = 0) -> np.ndarray:
    """The product on a grainy wooden table, a little off centre (BGR)."""
    return _draw_photo(shape, tuple(colour), tuple(size), seed).copy()


@functools.lru_cache(maxsize=None)
def _draw_photo(shape, colour, size, seed) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w, h = size
    grain = rng.normal(0, 14, (h, w)).astype(np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), sigmaX=6, sigmaY=0.7)  # streaks along the boards
    table = np.empty((h, w, 3), np.float32)
    table[..., 0], table[..., 1], table[..., 2] = 95 + grain, 130 + grain, 165 + grain
    for x in range(0, w, w // 5):
        cv2.line(table, (x, 0), (x, h), (60, 85, 110), 2)  # gaps between boards
    photo = np.clip(table, 0, 255).astype(np.uint8)
    side = int(min(w, h) * 0.8)
    product = draw_product(shape, colour, side)
    mask = (product != 255).any(axis=2)
    y0, x0 = (h - side) // 2, (w - side) // 2 + w // 12
    region = photo[y0:y0 + side, x0:x0 + side]
    region[mask] = product[mask]
    return photo


def jpeg_bytes(bgr: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def png_bytes(arr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", arr)
    assert ok
    return buf.tobytes()


def good_photo() -> np.ndarray:
    sku = SKUS[0]
    return draw_photo(sku[4], sku[5])


def pil_good_photo() -> Image.Image:
    return Image.fromarray(cv2.cvtColor(good_photo(), cv2.COLOR_BGR2RGB))


def pil_bytes(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


@functools.lru_cache(maxsize=None)
def listing_png(shape: str, colour: tuple[int, int, int]) -> bytes:
    return png_bytes(draw_product(shape, colour))


@functools.lru_cache(maxsize=None)
def good_jpeg() -> bytes:
    return jpeg_bytes(good_photo())


def write_listings(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for sku, _, _, _, shape, colour in SKUS:
        # Same bytes every time, so the listing index cache is shared by every case.
        (folder / f"{sku}.png").write_bytes(listing_png(shape, colour))


def catalogue_rows() -> list[str]:
    return [CATALOGUE_HEADER] + [f"{s},{p},{t},{v},listings/{s}.png" for s, p, t, v, _, _ in SKUS]


# ----------------------------------------------------------------- crafted bytes
def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bomb_bytes(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels, with almost no data (not allocated)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


@functools.lru_cache(maxsize=None)
def deep_png_bytes(width: int, height: int, *, bit_depth: int = 16, colour_type: int = 6, channels: int = 4) -> bytes:
    """A complete, valid PNG of ``width`` x ``height`` black pixels (16-bit RGBA by default), made
    without ever holding it decoded: one row is deflated with a full flush (which makes the block
    independent of what came before) and that block repeated once per row."""
    row = b"\x00" * (1 + width * channels * bit_depth // 8)
    z = zlib.compressobj(9)
    first = z.compress(row) + z.flush(zlib.Z_FULL_FLUSH)
    block = z.compress(row) + z.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(height):
        adler = zlib.adler32(row, adler)
    stream = first + block * (height - 1) + b"\x03\x00" + struct.pack(">I", adler)  # an empty final block
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", stream) + _png_chunk(b"IEND", b"")


def gif_header_bytes(width: int, height: int) -> bytes:
    """A GIF whose screen and first image claim ``width`` x ``height`` pixels, with one pixel of data."""
    head = b"GIF89a" + struct.pack("<HH", width, height) + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
    image = b"\x2c" + struct.pack("<HHHH", 0, 0, width, height) + b"\x00"
    return head + image + b"\x02\x02\x44\x01\x00" + b"\x3b"


#: A lossless WebP of 10,900 x 10,900 pixels of one colour, as Pillow's encoder wrote it: 38 bytes.
WEBP_118MP_BYTES = bytes.fromhex("524946461e000000574542505650384c110000002f93eaa40a07508f22d7a3ff8188e87f0000")
#: A PostScript "photo": Pillow's EPS plugin would run Ghostscript to render it.
EPS_BYTES = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 48\n"
             b"newpath 0 0 moveto 64 48 lineto stroke showpage\n%%EOF\n")


def jpeg_bomb_bytes(width: int, height: int) -> bytes:
    """A real small JPEG whose SOF0 frame header is edited to claim ``width`` x ``height``."""
    data = bytearray(jpeg_bytes(np.full((16, 16, 3), 128, np.uint8)))
    i = data.index(b"\xff\xc0")
    data[i + 5:i + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def heic_bytes() -> bytes:
    """A real HEIC photo (pillow-heif is a packcheck dependency)."""
    from pillow_heif import register_heif_opener

    register_heif_opener()
    return pil_bytes(pil_good_photo(), "HEIF")


#: How Pillow's exif_transpose turns each EXIF orientation upright, and its inverse
#: (what the camera stored, given the upright scene).
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
            4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
            6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
_STORED = {**_UPRIGHT, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def exif_oriented_bytes(orientation: int, fmt: str = "JPEG") -> bytes:
    """The good photo stored turned/flipped, with the EXIF tag that turns it upright again."""
    upright = pil_good_photo()
    # An asymmetric mark (top-left corner) so every flip and turn gives different pixels.
    upright.paste((255, 255, 0), (0, 0, 60, 30))
    stored = upright.transpose(_STORED[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    return pil_bytes(stored, fmt, exif=exif.tobytes(), **({"quality": 92} if fmt == "JPEG" else {}))


def png_chunk_length_bytes() -> bytes:
    """The good photo as PNG, its first IDAT chunk's length field set to almost 4 GB."""
    data = bytearray(png_bytes(good_photo()))
    i = data.index(b"IDAT") - 4
    data[i:i + 4] = struct.pack(">I", 0xFFFFFF00)
    return bytes(data)


def wide_bmp_bytes() -> bytes:
    """The start of a BMP 1,100,000 x 1 px (the pixel rows are cut off)."""
    return pil_bytes(Image.new("RGB", (1_100_000, 1), (200, 30, 30)), "BMP")[:4096]


def animated_gif_bytes() -> bytes:
    frames = [Image.fromarray(cv2.cvtColor(draw_photo("circle", c), cv2.COLOR_BGR2RGB)).quantize(64)
              for c in ((40, 40, 210), (200, 90, 30), (50, 170, 50))]
    return pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)


def png16_bytes() -> bytes:
    return png_bytes(good_photo().astype(np.uint16) * 257)


def alpha_png_bytes() -> bytes:
    """The product alone on a transparent background (a listing-style cut-out)."""
    product = draw_product("circle", SKUS[0][5], 300)
    alpha = np.where((product != 255).any(axis=2), 255, 0).astype(np.uint8)
    return png_bytes(np.dstack([product, alpha]))


# ----------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    """One hostile input and what packcheck must answer.

    ``files`` maps paths (relative to the case folder) to bytes, a callable giving
    bytes, or a special marker (``DIR``, ``SYMLINK_OUT``). ``orders``/``catalogue``
    replace the CSV text (None: the clean one). ``image`` names the file to feed
    ``load_image`` directly; ``image_error`` is the exception class name it must
    raise there (None: it must load).
    """

    name: str
    group: str  # "image" | "path" | "catalogue" | "orders"
    expect: str  # "ok" | "error"
    words: tuple[str, ...] = ()
    scope: str = "order"  # "order" | "folder" (an error stops the whole data folder)
    files: dict = field(default_factory=dict)
    orders: str | bytes | None = None
    catalogue: str | bytes | None = None
    image: str | None = None
    image_error: str | None = None
    image_words: tuple[str, ...] | None = None  # what load_image's error must say (default: ``words``)
    order_id: str = "O-1"
    photo_arg: str | None = None  # check with --photo PATH instead of the orders.csv photo
    needs: str | None = None  # "unreadable": needs a file the test process cannot read
    status: str | None = None  # for expect="ok": the verdict status it must get (None: any but ERROR)
    note: str = ""


DIR = "<directory>"
SYMLINK_OUT = "<symlink to outside/real.jpg>"
UNREADABLE = "<file with mode 000>"
FIFO = "<named pipe>"
LOOP = "<symlink to itself>"


def _orders(*rows: str, header: str = ORDERS_HEADER) -> str:
    return "\n".join([header, *rows, GOOD_ROW]) + "\n"


def _photo_case(name, fname, data, expect, words=(), image_error=None, note="", status=None) -> Case:
    return Case(
        name=name, group="image", expect=expect, words=words, files={f"photos/{fname}": data},
        orders=_orders(f"O-1,{GOOD_SKU},1,photos/{fname}"), image=f"photos/{fname}",
        image_error=image_error, note=note, status=status,
    )


def _orders_case(name, rows, expect, words=(), *, header=ORDERS_HEADER, scope="order", note="",
                 order_id="O-1") -> Case:
    return Case(name=name, group="orders", expect=expect, words=words, scope=scope, note=note,
                orders=_orders(*rows, header=header) if isinstance(rows, (list, tuple)) else rows,
                order_id=order_id)


def _catalogue_case(name, text, expect, words=(), note="") -> Case:
    return Case(name=name, group="catalogue", expect=expect, words=words, scope="folder" if expect == "error"
                else "order", catalogue=text, note=note)


def _cat(*extra_rows: str, header: str = CATALOGUE_HEADER, drop_sku: str | None = None) -> str:
    rows = [r for r in catalogue_rows()[1:] if not (drop_sku and r.startswith(drop_sku + ","))]
    return "\n".join([header, *rows, *extra_rows]) + "\n"


def _cases() -> list[Case]:
    photo_jpg = good_jpeg
    cases = [
        # ---- images that must give a clear error
        _photo_case("truncated_jpeg", "truncated.jpg", lambda: photo_jpg()[: len(photo_jpg()) * 6 // 10],
                    "error", ("truncated.jpg", "truncated JPEG"), "ImageUnreadable"),
        _photo_case("zero_bytes", "empty.jpg", b"", "error", ("empty.jpg", "empty (0 bytes)"), "ImageUnreadable"),
        _photo_case("text_named_jpg", "notes.jpg", b"order 1042: red ball x1\npacked by sam\n", "error",
                    ("notes.jpg", "text file", "not a JPEG/PNG/WebP"), "ImageUnreadable"),
        _photo_case("random_bytes_jpg", "noise.jpg", bytes(np.random.default_rng(9).integers(0, 256, 4096,
                    dtype=np.uint8)), "error", ("noise.jpg", "not an image"), "ImageUnreadable"),
        _photo_case("bomb_png_50000", "bomb.png", png_bomb_bytes(50_000, 50_000), "error",
                    ("bomb.png", "pixels"), "ImageTooLarge",
                    note="header claims 50,000 x 50,000; Pillow's own bomb guard fires first"),
        _photo_case("bomb_jpeg_50000", "bomb.jpg", jpeg_bomb_bytes(50_000, 50_000), "error",
                    ("bomb.jpg", "pixels"), "ImageTooLarge"),
        _photo_case("bomb_png_over_limit", "big.png", png_bomb_bytes(11_000, 11_000), "error",
                    ("big.png", "11000 x 11000", "120 megapixels"), "ImageTooLarge",
                    note="above MAX_PIXELS but below Pillow's guard: our limit must fire"),
        _photo_case("png_chunk_length_4gb", "chunky.png", png_chunk_length_bytes, "error",
                    ("chunky.png", "could not be decoded"), "ImageUnreadable",
                    note="a chunk header claims 4 GB: refused without allocating 4 GB"),
        # issue #15: budgets by decoded bytes, an allow-list of formats
        _photo_case("png_16bit_rgba_10900", "deep.png", lambda: deep_png_bytes(10_900, 10_900), "error",
                    ("deep.png", "10900 x 10900", "MB of memory to decode"), "ImageTooLarge",
                    note="a complete 1 MB PNG under MAX_PIXELS that decodes to 950 MB (it took 5.5 GB and 43 s)"),
        _photo_case("png_118mp_rgb", "wide.png", lambda: deep_png_bytes(10_850, 10_850, bit_depth=8,
                    colour_type=2, channels=3), "error", ("wide.png", "MB of memory to decode"), "ImageTooLarge",
                    note="118 MP of 8-bit RGB: 353 MB decoded"),
        _photo_case("gif_118mp", "huge.gif", lambda: gif_header_bytes(10_850, 10_850), "error",
                    ("huge.gif", "MB of memory to decode"), "ImageTooLarge",
                    note="a palette image counts as the RGB(A) it is expanded to"),
        _photo_case("webp_118mp", "huge.webp", WEBP_118MP_BYTES, "error", ("huge.webp", "MB of memory to decode"),
                    "ImageTooLarge", note="38 bytes of lossless WebP, 10,900 x 10,900 of one colour: 340 MB decoded"),
        _photo_case("eps_as_photo", "photo.jpg", EPS_BYTES, "error", ("photo.jpg", "PostScript/EPS", "not a photo"),
                    "UnsupportedFormat", note="refused before any decoder: Pillow would run Ghostscript"),
        _photo_case("heic", "IMG_0001.heic", heic_bytes, "ok", (), None,
                    note="an iPhone's default format: decoded (pillow-heif is a dependency)"),
        # ---- images that are valid and must be judged
        _photo_case("png_named_jpg", "really_png.jpg", lambda: png_bytes(good_photo()), "ok"),
        _photo_case("cmyk_jpeg", "cmyk.jpg", lambda: pil_bytes(pil_good_photo().convert("CMYK"), "JPEG",
                    quality=92), "ok"),
        _photo_case("png_16bit", "deep.png", png16_bytes, "ok"),
        _photo_case("png_alpha", "cutout.png", alpha_png_bytes, "ok"),
        _photo_case("grayscale_jpeg", "gray.jpg", lambda: jpeg_bytes(cv2.cvtColor(good_photo(),
                    cv2.COLOR_BGR2GRAY)), "ok"),
        _photo_case("grayscale_png", "gray.png", lambda: png_bytes(cv2.cvtColor(good_photo(),
                    cv2.COLOR_BGR2GRAY)), "ok"),
        _photo_case("animated_gif", "anim.gif", animated_gif_bytes, "ok", note="the first frame is judged"),
        _photo_case("one_pixel", "dot.png", lambda: png_bytes(np.full((1, 1, 3), 200, np.uint8)), "ok",
                    note="a verdict (retake photo), not a crash", status="REVIEW"),
        _photo_case("strip_1px_high", "strip.png", lambda: png_bytes(good_photo()[180:181]), "ok",
                    note="480 x 1 pixels: a verdict (retake photo), not a crash", status="REVIEW"),
        _photo_case("bmp_wider_than_opencv", "wide.bmp", wide_bmp_bytes, "error", ("wide.bmp", "could not be decoded"),
                    "ImageUnreadable", note="claims 1,100,000 x 1 px, within MAX_PIXELS but beyond OpenCV's "
                    "2**20 px side, whose decoder asserts instead of failing"),
        _photo_case("webp", "photo.webp", lambda: pil_bytes(pil_good_photo(), "WEBP", quality=90), "ok"),
        *[_photo_case(f"exif_orientation_{o}", f"exif{o}.jpg", (lambda o=o: exif_oriented_bytes(o)), "ok",
                      note="loaded upright, as Pillow's ImageOps.exif_transpose") for o in range(2, 9)],
        _photo_case("exif_orientation_6_png", "exif6.png", lambda: exif_oriented_bytes(6, "PNG"), "ok"),
        _photo_case("exif_orientation_8_webp", "exif8.webp", lambda: exif_oriented_bytes(8, "WEBP"), "ok"),
        *[Case(f"strip_4000x{h}_with_empty_bench", "image", "ok", files={
            f"photos/strip{h}.png": (lambda h=h: png_bytes(np.full((h, 4000, 3), 120, np.uint8))),
            "stations/main/empty.jpg": lambda: jpeg_bytes(draw_photo("square", (255, 255, 255), seed=3))},
            orders=_orders(f"O-1,{GOOD_SKU},1,photos/strip{h}.png,main", header=ORDERS_HEADER + ",station"),
            image=f"photos/strip{h}.png", status="REVIEW",
            note="an empty-bench photo made ORB alignment assert on a strip (exit 3); now: retake photo")
          for h in (1, 16)],
        # ---- paths
        Case("photo_missing", "path", "error", ("photos/gone.jpg", "does not exist"),
             orders=_orders(f"O-1,{GOOD_SKU},1,photos/gone.jpg"), image="photos/gone.jpg",
             image_error="ImageMissing"),
        Case("symlink_outside", "path", "error", ("orders.csv", "row 2", "field 'photo'", "outside the data folder"),
             files={"photos/link.jpg": SYMLINK_OUT}, orders=_orders(f"O-1,{GOOD_SKU},1,photos/link.jpg")),
        Case("dotdot_escape", "path", "error",
             ("orders.csv", "row 2", "field 'photo'", "../../outside/real.jpg", "outside the data folder"),
             orders=_orders(f"O-1,{GOOD_SKU},1,../../outside/real.jpg")),
        Case("absolute_path", "path", "error", ("orders.csv", "row 2", "field 'photo'", "absolute path"),
             orders=_orders(f"O-1,{GOOD_SKU},1,/etc/passwd")),
        Case("directory_as_photo", "path", "error", ("photos/folder.jpg", "is a folder"),
             files={"photos/folder.jpg": DIR}, orders=_orders(f"O-1,{GOOD_SKU},1,photos/folder.jpg"),
             image="photos/folder.jpg", image_error="ImageMissing"),
        Case("directory_as_listing", "path", "error",
             ("catalogue.csv", "row 5", "field 'listing_images'", "is a folder"), scope="folder",
             files={"listings/shelf.png": DIR},
             catalogue=_cat("SKU-SHELF,P-SHELF,Shelf,,listings/shelf.png")),
        Case("listing_symlink_outside", "path", "error",
             ("catalogue.csv", "row 5", "field 'listing_images'", "outside the data folder"), scope="folder",
             files={"listings/evil.png": SYMLINK_OUT},
             catalogue=_cat("SKU-EVIL,P-EVIL,Evil,,listings/evil.png")),
        Case("unreadable_photo", "path", "error", ("photos/locked.jpg", "permission denied"),
             files={"photos/locked.jpg": UNREADABLE}, orders=_orders(f"O-1,{GOOD_SKU},1,photos/locked.jpg"),
             image="photos/locked.jpg", image_error="ImageMissing", needs="unreadable"),
        Case("fifo_as_photo", "path", "error", ("photos/pipe.jpg", "not a regular file"),
             files={"photos/pipe.jpg": FIFO}, orders=_orders(f"O-1,{GOOD_SKU},1,photos/pipe.jpg"),
             image="photos/pipe.jpg", image_error="ImageMissing",
             note="a named pipe: reading it would wait for a writer forever"),
        Case("symlink_loop", "path", "error", ("photos/loop.jpg", "cannot be read"),
             files={"photos/loop.jpg": LOOP}, orders=_orders(f"O-1,{GOOD_SKU},1,photos/loop.jpg"),
             image="photos/loop.jpg", image_error="ImageMissing"),
        Case("photo_arg_text", "path", "error", ("notes.txt", "text file"), files={"notes.txt": b"hello\n"},
             orders=_orders(f"O-1,{GOOD_SKU},1,photos/good.jpg"), photo_arg="notes.txt",
             note="--photo given on the command line"),
        Case("photo_arg_missing", "path", "error", ("nowhere.jpg", "does not exist"),
             photo_arg="nowhere.jpg", note="--photo naming a file that is not there"),
        Case("photo_arg_directory", "path", "error", ("photos", "is a folder"), photo_arg="photos"),
        Case("station_escape", "path", "ok",
             orders=_orders(f"O-1,{GOOD_SKU},1,photos/good.jpg,../../outside", header=ORDERS_HEADER + ",station"),
             note="a station name like ../../x must not read files outside the folder; the order is judged"),
        Case("photo_name_too_long", "path", "error", ("photos/" + "x" * 300, "cannot be read", "too long"),
             orders=_orders(f"O-1,{GOOD_SKU},1,photos/{'x' * 300}.jpg")),
        Case("station_name_too_long", "path", "ok",
             files={"stations/main/empty.jpg": lambda: jpeg_bytes(draw_photo("square", (255, 255, 255), seed=3))},
             orders=_orders(f"O-1,{GOOD_SKU},1,photos/good.jpg,{'x' * 300}", header=ORDERS_HEADER + ",station"),
             note="no empty-station photo can exist under that name: judged without one"),
        # ---- listing images (the catalogue is unusable: nothing is judged)
        Case("listing_missing", "path", "error",
             ("catalogue.csv", "row 5", "field 'listing_images'", "listings/gone.png", "does not exist"),
             scope="folder", catalogue=_cat("SKU-GONE,P-GONE,Gone,,listings/gone.png")),
        Case("listing_dotdot_escape", "path", "error",
             ("catalogue.csv", "row 5", "field 'listing_images'", "outside the data folder"), scope="folder",
             catalogue=_cat("SKU-UP,P-UP,Up,,../../outside/real.jpg")),
        Case("listing_name_too_long", "path", "error",
             ("catalogue.csv", "row 5", "field 'listing_images'", "cannot be read", "too long"), scope="folder",
             catalogue=_cat(f"SKU-LONG,P-LONG,Long,,listings/{'x' * 300}.png")),
        Case("listing_truncated", "image", "error", ("listings/cut.jpg", "SKU-CUT", "truncated JPEG"),
             scope="folder", files={"listings/cut.jpg": lambda: jpeg_bytes(good_photo())[:3000]},
             catalogue=_cat("SKU-CUT,P-CUT,Cut,,listings/cut.jpg"), image="listings/cut.jpg",
             image_error="ImageUnreadable", image_words=("cut.jpg", "truncated JPEG")),
        Case("listing_text", "image", "error", ("listings/readme.png", "SKU-TXT", "text file"), scope="folder",
             files={"listings/readme.png": b"see the website for pictures\n"},
             catalogue=_cat("SKU-TXT,P-TXT,Text,,listings/readme.png"), image="listings/readme.png",
             image_error="ImageUnreadable", image_words=("readme.png", "text file")),
        # ---- components.csv and packed.csv
        Case("components_bad_qty", "catalogue", "error",
             ("components.csv", "row 2", "field 'qty_per_unit'", "'one'"), scope="folder",
             files={"components.csv": f"sku,component,qty_per_unit\n{GOOD_SKU},ball,one\n"}),
        Case("components_unknown_sku", "catalogue", "error",
             ("components.csv", "row 2", "field 'sku'", "SKU-NOPE", "not in catalogue.csv"), scope="folder",
             files={"components.csv": "sku,component,qty_per_unit\nSKU-NOPE,ball,1\n"}),
        Case("packed_bad_count", "orders", "error", ("packed.csv", "row 2", "field 'count'", "'lots'"),
             files={"packed.csv": "order_id,component,count\nO-1,Ball,lots\n"}),
        Case("packed_missing_column", "orders", "error", ("packed.csv", "row 1", "missing column count"),
             scope="folder", files={"packed.csv": "order_id,component\nO-1,Ball\n"}),
        Case("packed_stray_quote", "orders", "error", ("packed.csv", "row 3", "field 'component'", "never closed"),
             scope="folder", files={"packed.csv": 'order_id,component,count\nO-GOOD,Ball,1\nO-1,"Ball,1\n'
                                                  'O-2,Ball,1\nO-3,Ball,1\n'},
             note="issue #15: a stray quote swallowed the rows after it (kit orders went from FLAG to PASS)"),
        # ---- catalogue.csv
        _catalogue_case("catalogue_missing_column", "sku,product_id,title,variant\nSKU-RED-BALL,P,Ball,red\n",
                        "error", ("catalogue.csv", "row 1", "missing column listing_images")),
        _catalogue_case("catalogue_empty", "", "error", ("catalogue.csv", "is empty")),
        _catalogue_case("catalogue_header_only", CATALOGUE_HEADER + "\n", "error",
                        ("catalogue.csv", "no SKUs")),
        _catalogue_case("catalogue_extra_columns", "\n".join(
            [CATALOGUE_HEADER + ",colour_hex,notes"]
            + [r + ",#ff0000,fragile" for r in catalogue_rows()[1:]]) + "\n", "ok"),
        _catalogue_case("catalogue_bom", "\ufeff" + _cat(), "ok"),
        _catalogue_case("catalogue_latin1", _cat().replace("Ball,blue", "Balle bleue caf\u00e9,blue")
                        .encode("latin-1"), "error", ("catalogue.csv", "not UTF-8", "0xe9", "line 3")),
        _catalogue_case("catalogue_quoted_newline",
                        _cat().replace("P-BALL,Ball,red", 'P-BALL,"Ball\n(red, 5 cm)",red'), "ok"),
        _catalogue_case("catalogue_sku_trailing_spaces",
                        _cat().replace(f"{GOOD_SKU},", f"  {GOOD_SKU}   ,"), "ok",
                        note="stripped: the order's SKU-RED-BALL matches"),
        _catalogue_case("catalogue_formula_title",
                        _cat().replace("P-BALL,Ball,red", 'P-BALL,"=HYPERLINK(""http://evil.example"",""x"")",red'),
                        "ok", note="accepted as data"),
        _catalogue_case("catalogue_script_title",
                        _cat().replace("P-BALL,Ball,red", "P-BALL,<script>alert(1)</script>,red"), "ok",
                        note="accepted as data"),
        _catalogue_case("catalogue_duplicate_sku", _cat(f"{GOOD_SKU},P-X,Other,,listings/{GOOD_SKU}.png"),
                        "error", ("catalogue.csv", "row 5", "field 'sku'", "appears twice")),
        _catalogue_case("catalogue_nul_bytes", _cat().replace("Ball,red", "Ba\x00ll,red"), "error",
                        ("catalogue.csv", "NUL")),
        _catalogue_case("catalogue_huge_field", _cat().replace("Ball,red", '"' + "B" * 30_000 + '",red'), "error",
                        ("catalogue.csv", "not a valid CSV", "field larger than field limit")),
        # ---- orders.csv
        _orders_case("orders_missing_column", "order_id,sku,photo\nO-1,SKU-RED-BALL,photos/good.jpg\n", "error",
                     ("orders.csv", "row 1", "missing column qty"), scope="folder"),
        _orders_case("orders_empty", "", "error", ("orders.csv", "is empty"), scope="folder"),
        Case("orders_csv_is_fifo", "orders", "error", ("orders.csv", "not a regular file"), scope="folder",
             files={"orders.csv": FIFO}, note="a named pipe where orders.csv should be: an error, not a hang"),
        _orders_case("orders_utf16", _orders(f"O-1,{GOOD_SKU},1,photos/good.jpg").encode("utf-16"), "error",
                     ("orders.csv", "not UTF-8", "line 1"), scope="folder", note="Excel's 'Unicode text' export"),
        _orders_case("orders_duplicate_columns", "order_id,sku,qty,photo,qty\n"
                     f"O-1,{GOOD_SKU},1,photos/good.jpg,2\n", "error",
                     ("orders.csv", "row 1", "qty", "more than once"), scope="folder"),
        _orders_case("orders_header_only", ORDERS_HEADER + "\n", "error", ("O-1", "not in", "orders.csv"),
                     note="the order is unknown (no rows at all)"),
        _orders_case("orders_extra_columns",
                     "order_id,sku,qty,photo,packer,notes\n"
                     f"O-1,{GOOD_SKU},1,photos/good.jpg,sam,fragile\n{GOOD_ROW},ann,\n", "ok"),
        _orders_case("orders_bom", "\ufeff" + _orders(f"O-1,{GOOD_SKU},1,photos/good.jpg"), "ok"),
        _orders_case("orders_latin1", _orders(f"O-1,{GOOD_SKU},1,photos/caf\u00e9.jpg").encode("latin-1"), "error",
                     ("orders.csv", "not UTF-8", "0xe9", "line 2"), scope="folder"),
        _orders_case("orders_quoted_newline", [f'O-1,{GOOD_SKU},1,"photos/good.jpg;\nphotos/good.jpg"'], "ok",
                     note="a quoted photo list spanning two lines"),
        _orders_case("orders_row_after_quoted_newline",
                     [f'O-0,{GOOD_SKU},1,"photos/good.jpg;\nphotos/good.jpg"', "O-1,SKU-BLUE-BALL,two,photos/good.jpg"],
                     "error", ("orders.csv", "row 3", "field 'qty'", "'two'"),
                     note="row numbers count records as a spreadsheet shows them, not lines"),
        _orders_case("orders_stray_quote_swallows_rows",
                     ['O-1,SKU-RED-BALL,1,"photos/good.jpg', *[f"O-{n},SKU-RED-BALL,1,photos/good.jpg" for n in
                                                              range(2, 24)],
                      'O-24,SKU-RED-BALL,1,photos/good.jpg"'], "error",
                     ("orders.csv", "row 2", "field 'photo'", "looks like a row of its own", "stray"), scope="folder",
                     note="issue #15: one stray quote made 24 orders 'audited 3 orders', with no word of the rest"),
        _orders_case("orders_unclosed_quote", [f'O-1,{GOOD_SKU},"1,photos/good.jpg', f"O-2,{GOOD_SKU},1,x.jpg"],
                     "error", ("orders.csv", "row 2", "field 'qty'", "never closed"), scope="folder"),
        _orders_case("orders_quote_inside_field", [f'O-1,"{GOOD_SKU}"x,1,photos/good.jpg'], "error",
                     ("orders.csv", "row 2", "field 'sku'", "never closed properly"), scope="folder",
                     note="a quote closed in the middle of a field"),
        _orders_case("orders_duplicate_id_conflicting_photos",
                     [f"O-1,{GOOD_SKU},1,photos/good.jpg", "O-1,SKU-GREEN-BOX,1,photos/other.jpg"], "ok",
                     note="one order; its photos are the union of its rows' photos"),
        _orders_case("orders_duplicate_line_item",
                     [f"O-1,{GOOD_SKU},1,photos/good.jpg", f"O-1,{GOOD_SKU},1,photos/other.jpg"], "error",
                     ("orders.csv", "row 3", "field 'sku'", "duplicate line item", "row 2")),
        _orders_case("qty_zero", [f"O-1,{GOOD_SKU},0,photos/good.jpg"], "error",
                     ("orders.csv", "row 2", "field 'qty'", "'0'", "at least 1")),
        _orders_case("qty_negative", [f"O-1,{GOOD_SKU},-1,photos/good.jpg"], "error",
                     ("orders.csv", "row 2", "field 'qty'", "'-1'")),
        _orders_case("qty_1e9", [f"O-1,{GOOD_SKU},1e9,photos/good.jpg"], "error",
                     ("orders.csv", "row 2", "field 'qty'", "'1e9'")),
        _orders_case("qty_huge_integer", [f"O-1,{GOOD_SKU},1000000000,photos/good.jpg"], "error",
                     ("orders.csv", "row 2", "field 'qty'", "more than 10000")),
        _orders_case("qty_word", [f"O-1,{GOOD_SKU},two,photos/good.jpg"], "error",
                     ("orders.csv", "row 2", "field 'qty'", "'two'", "not a whole number")),
        _orders_case("qty_decimal_spreadsheet", [f"O-1,{GOOD_SKU},1.0,photos/good.jpg"], "ok",
                     note="spreadsheets write 1 as 1.0"),
        _orders_case("qty_two_decimals", [f"O-1,{GOOD_SKU},2.00,photos/good.jpg"], "ok",
                     note="issue #15: 2.00 is 2 (it was refused while 1.0 was accepted)"),
        _orders_case("qty_fraction", [f"O-1,{GOOD_SKU},2.5,photos/good.jpg"], "error",
                     ("orders.csv", "row 2", "field 'qty'", "'2.5'", "not a whole number")),
        _orders_case("qty_5000_digits", [f"O-1,{GOOD_SKU},{'9' * 5000},photos/good.jpg"], "error",
                     ("orders.csv", "row 2", "field 'qty'", "more than 10000"),
                     note="int() of more than 4,300 digits raises ValueError (it was exit 3)"),
        _orders_case("sku_zero_width_space", [f"O-1,{GOOD_SKU}\u200b,1,photos/good.jpg"], "error",
                     ("orders.csv", "row 2", "field 'sku'", "not in catalogue.csv"),
                     note="the CLI shows the SKU escaped (SKU-RED-BALL\\u200b): test_hostile.py"),
        _orders_case("sku_trailing_spaces", [f"O-1,{GOOD_SKU}   ,1,photos/good.jpg"], "ok",
                     note="stripped and matched"),
        _orders_case("sku_unknown", ["O-1,SKU-NOPE,1,photos/good.jpg"], "error",
                     ("orders.csv", "row 2", "field 'sku'", "SKU-NOPE", "not in catalogue.csv")),
        _orders_case("order_id_empty", [f",{GOOD_SKU},1,photos/good.jpg"], "error",
                     ("orders.csv", "row 2", "field 'order_id'", "is empty"), order_id=""),
        _orders_case("photo_field_empty", [f"O-1,{GOOD_SKU},1,"], "error",
                     ("orders.csv", "row 2", "field 'photo'", "no photo")),
        _orders_case("formula_in_order_id", [f'"=HYPERLINK(""http://evil"",""x"")",{GOOD_SKU},1,photos/good.jpg'],
                     "ok", order_id='=HYPERLINK("http://evil","x")', note="accepted as data"),
        _orders_case("script_in_order_id", [f"<script>alert(1)</script>,{GOOD_SKU},1,photos/good.jpg"], "ok",
                     order_id="<script>alert(1)</script>", note="accepted as data"),
    ]
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases


CASES: list[Case] = _cases()


# ----------------------------------------------------------------- writing
def _bytes(data) -> bytes:
    data = data() if callable(data) else data
    return data.encode("utf-8") if isinstance(data, str) else data


def write_outside(out: Path) -> Path:
    outside = out / "outside"
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "real.jpg").write_bytes(jpeg_bytes(good_photo()))
    return outside


def write_case(case: Case, folder: Path, *, outside: Path) -> Path:
    """Write one case's data folder; returns it."""
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "photos").mkdir(parents=True)
    write_listings(folder / "listings")
    (folder / "photos" / "good.jpg").write_bytes(good_jpeg())
    (folder / "photos" / "other.jpg").write_bytes(jpeg_bytes(draw_photo("square", SKUS[2][5], seed=1)))
    for rel, data in case.files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if data == DIR:
            path.mkdir()
        elif data == SYMLINK_OUT:
            path.symlink_to(outside / "real.jpg")
        elif data == FIFO:
            os.mkfifo(path)
        elif data == LOOP:
            path.symlink_to(path.name)
        elif data == UNREADABLE:
            path.write_bytes(good_jpeg())
            path.chmod(0)
        else:
            path.write_bytes(_bytes(data))
    catalogue = case.catalogue if case.catalogue is not None else "\n".join(catalogue_rows()) + "\n"
    (folder / "catalogue.csv").write_bytes(_bytes(catalogue))
    if "orders.csv" not in case.files:
        orders = case.orders if case.orders is not None else _orders(f"O-1,{GOOD_SKU},1,photos/good.jpg")
        (folder / "orders.csv").write_bytes(_bytes(orders))
    return folder


def build(out: Path, cases: list[Case] | None = None) -> dict[str, Path]:
    """Write every case folder (and the manifest) under ``out``; returns {case name: folder}."""
    out = Path(out)
    outside = write_outside(out)
    write_listings(out / "listings")
    folders = {c.name: write_case(c, out / "cases" / c.name, outside=outside) for c in (cases or CASES)}
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "group", "order_id", "expect", "status", "scope", "words", "note"])
        for c in cases or CASES:
            w.writerow([c.name, c.group, c.order_id, c.expect, c.status or "", c.scope, " | ".join(c.words), c.note])
    return folders


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_corpus.py OUT_DIR")
    done = build(Path(sys.argv[1]))
    print(f"{len(done)} cases written to {os.path.abspath(sys.argv[1])}")

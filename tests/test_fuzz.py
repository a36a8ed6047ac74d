"""Property tests (hypothesis) over everything that reads untrusted bytes.

For any input the CSV loaders and the image loader give either a valid result
or a :class:`~packcheck.errors.PackcheckError`: never another exception, never a
hang. Each example runs under a hard time bound (``_time_bound``) besides
hypothesis' deadline, and sizes stay within the documented limits
(``imaging.MAX_PIXELS``, ``dataset.MAX_FIELD_CHARS``).

The runs are derandomised (the same examples on every machine) so CI is
reproducible. For a longer local hunt, ``FUZZ_EXAMPLES=5000`` scales every
property's example count (300 is the CI scale) and ``FUZZ_RANDOM=1`` draws new
examples on each run (without hypothesis' deadline: only the hard bound
applies). The counts CI runs are in tests/README.md.
"""
from __future__ import annotations

import io
import os
import struct
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from packcheck.core.imaging import load_image
from packcheck.errors import PackcheckError
from packcheck.store import dataset
from packcheck.store.dataset import MAX_QTY, iter_orders, load_catalogue, read_csv
from helpers import hang_guard

#: Multiplies every property's example count (1 in CI).
SCALE = float(os.environ.get("FUZZ_EXAMPLES", "0") or 0) / 300 or 1.0
#: Seconds one example may take before it counts as a hang (hypothesis' deadline
#: reports slow examples; this stops a real hang from blocking CI).
HARD_LIMIT_S = 20


def fuzz_settings(n: int, deadline_ms: int = 5000):
    hunting = bool(os.environ.get("FUZZ_RANDOM"))
    return settings(
        max_examples=max(1, int(n * SCALE)),
        derandomize=not hunting,
        database=None,
        # A header may claim up to MAX_PIXELS, which takes a second or two to
        # allocate on a loaded machine; a long hunt relies on HARD_LIMIT_S alone.
        deadline=None if hunting else timedelta(milliseconds=deadline_ms),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def _time_bound(seconds: int = HARD_LIMIT_S):
    """Fail (instead of hanging) when the body runs longer than ``seconds``."""
    return hang_guard(seconds)


# ------------------------------------------------------------------ images
def _seed_images() -> dict[str, bytes]:
    """Small valid files of every format the loader takes, to mutate."""
    rng = np.random.default_rng(0)
    bgr = cv2.resize(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), (48, 32), interpolation=cv2.INTER_NEAREST)
    rgb = Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    out = {}
    for name, ext, arr in (("jpeg", ".jpg", bgr), ("png", ".png", bgr),
                           ("png16", ".png", bgr.astype(np.uint16) * 257),
                           ("png_rgba", ".png", np.dstack([bgr, bgr[:, :, 0]])),
                           ("png_gray", ".png", bgr[:, :, 1])):
        out[name] = cv2.imencode(ext, arr)[1].tobytes()
    exif = Image.Exif()
    exif[0x0112] = 6
    for name, fmt, kw in (("jpeg_exif", "JPEG", {"exif": exif.tobytes()}), ("webp", "WEBP", {}),
                          ("gif", "GIF", {}), ("tiff", "TIFF", {}), ("bmp", "BMP", {}),
                          ("jpeg_cmyk", "JPEG", {})):
        im = rgb.convert("CMYK") if name == "jpeg_cmyk" else rgb
        buf = io.BytesIO()
        im.save(buf, format=fmt, **kw)
        out[name] = buf.getvalue()
    return out


SEEDS = _seed_images()
SEED_NAMES = sorted(SEEDS)


def _check_loaded(im, work_side: int) -> None:
    """What a successful load promises."""
    assert im.rgb.dtype == np.uint8 and im.rgb.ndim == 3 and im.rgb.shape[2] == 3
    assert min(im.rgb.shape[:2]) >= 1
    assert max(im.rgb.shape[:2]) <= max(work_side, 1) or work_side == 0
    if im.alpha is not None:
        assert im.alpha.shape == im.rgb.shape[:2] and im.alpha.dtype == np.uint8
    w, h = im.original_size
    assert w >= 1 and h >= 1 and w * h <= 120_000_000
    assert len(im.sha256) == 64


def _load(data: bytes, work_side: int = 64):
    with _time_bound():
        try:
            im = load_image(data, work_side=work_side, name="fuzz.jpg")
        except PackcheckError as e:
            assert str(e), "a PackcheckError must carry a message"
            assert "fuzz.jpg" in str(e), f"the message must name the image: {e}"
            return None
    _check_loaded(im, work_side)
    return im


@fuzz_settings(300)
@given(st.binary(max_size=4096))
def test_load_image_arbitrary_bytes(data):
    _load(data)


@fuzz_settings(150)
@given(st.sampled_from(SEED_NAMES), st.binary(min_size=1, max_size=2048))
def test_load_image_known_header_random_body(seed, body):
    """A real file's first bytes (so the format is recognised) followed by garbage."""
    head = SEEDS[seed]
    _load(head[: min(len(head), 64)] + body)


@fuzz_settings(400)
@given(st.sampled_from(SEED_NAMES), st.data())
def test_load_image_mutated_valid_file(seed, data):
    """Truncations, bit flips, header edits, deleted and repeated spans of valid files."""
    buf = bytearray(SEEDS[seed])
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        kind = data.draw(st.sampled_from(["truncate", "flip", "header", "delete", "repeat", "size"]), label="kind")
        n = len(buf)
        if n == 0:
            break
        i = data.draw(st.integers(0, n - 1), label="at")
        if kind == "truncate":
            del buf[i:]
        elif kind == "flip":
            buf[i] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        elif kind == "header":
            j = data.draw(st.integers(0, min(n, 64) - 1), label="header_at")
            patch = data.draw(st.binary(min_size=1, max_size=8), label="patch")
            buf[j:j + len(patch)] = patch
        elif kind == "delete":
            del buf[i:i + data.draw(st.integers(1, 64), label="len")]
        elif kind == "repeat":
            buf[i:i] = buf[i:i + data.draw(st.integers(1, 256), label="len")]
        else:  # rewrite a 16-bit big-endian value: often a width, height or length field
            if i + 2 <= n:
                buf[i:i + 2] = struct.pack(">H", data.draw(st.sampled_from([0, 1, 0x7FFF, 0xFFFF]), label="v"))
    _load(bytes(buf))


@fuzz_settings(40)
@given(st.integers(1, 65535), st.integers(1, 65535), st.sampled_from(["png", "jpeg"]))
def test_load_image_claimed_size(width, height, fmt):
    """Any size claimed in a header: refused above the documented limit, never allocated blindly."""
    if fmt == "png":
        data = _png_with_size(width, height)
    else:
        data = bytearray(SEEDS["jpeg"])
        i = data.index(b"\xff\xc0")
        data[i + 5:i + 9] = struct.pack(">HH", height, width)
    im = _load(bytes(data))
    if width * height > 120_000_000:
        assert im is None


def _png_with_size(width: int, height: int) -> bytes:
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


# ------------------------------------------------------------------ CSVs
@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A data folder with two valid listing images; each example rewrites its CSVs."""
    root = tmp_path_factory.mktemp("fuzz_csv")
    (root / "img").mkdir()
    for name in ("a.png", "b.png"):
        (root / "img" / name).write_bytes(cv2.imencode(".png", np.full((8, 8, 3), 200, np.uint8))[1].tobytes())
    return root


VALID_CATALOGUE = "sku,product_id,title,variant,listing_images\nA,P,Thing,red,img/a.png\nB,P,Thing,blue,img/b.png\n"

#: Field values chosen to hit the validators' edges: numbers in every spelling,
#: paths that escape, spreadsheet formulas, markup, quotes, separators, odd Unicode.
WEIRD_FIELDS = st.one_of(
    st.sampled_from([
        "", " ", "A", "B", " A ", "a", "C", "1", "0", "-1", "+1", "1.0", "2.5", "1e9", "1e400", "nan", "inf",
        "10000", "10001", "99999999999999999999", "\u0663", "\u00b2", "two", "img/a.png", "img/b.png",
        "img/a.png;img/b.png", ";", ";;", "..", "../x.png", "img/../../x.png", "/etc/passwd", "img",
        "img/missing.png", "=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "@SUM(1)",
        "<script>alert(1)</script>", '"', '""', "\n", "\r\n", "\r", ",", "\ufeff", "\x00", "\u202e",
        "O-1", "O-2", "O-1 ", "\t", "x" * 300,
    ]),
    st.text(max_size=20),
)
HEADERS = st.lists(
    st.sampled_from(["sku", "product_id", "title", "variant", "listing_images", "weight_g", "order_id", "qty",
                     "photo", "station", "component", "count", "qty_per_unit", "SKU", " Qty ", "", "extra",
                     "sku"]),
    min_size=0, max_size=8,
)


def _csv_text(header: list[str], rows: list[list[str]], *, quote_all: bool, newline: str, bom: bool) -> str:
    def cell(v: str) -> str:
        if quote_all or any(ch in v for ch in ',"\r\n'):
            return '"' + v.replace('"', '""') + '"'
        return v

    lines = [",".join(cell(v) for v in r) for r in [header, *rows]]
    return ("\ufeff" if bom else "") + newline.join(lines) + newline


@st.composite
def weird_csv(draw, required: tuple[str, ...]) -> bytes:
    """CSV text that is mostly well-formed: the right columns in any order, weird values."""
    if draw(st.booleans()):
        header = list(required) + draw(st.lists(st.sampled_from(["extra", "notes", "station", "weight_g"]),
                                                max_size=2, unique=True))
        header = draw(st.permutations(header))
    else:
        header = draw(HEADERS)
    rows = draw(st.lists(st.lists(WEIRD_FIELDS, min_size=0, max_size=len(header) + 2), max_size=8))
    text = _csv_text(header, rows, quote_all=draw(st.booleans()), newline=draw(st.sampled_from(["\n", "\r\n"])),
                     bom=draw(st.booleans()))
    if draw(st.booleans()):
        return text.encode("utf-8")
    return text.encode(draw(st.sampled_from(["utf-8", "latin-1", "utf-16"])), errors="replace")


ORDER_COLS = ("order_id", "sku", "qty", "photo")
CAT_COLS = ("sku", "product_id", "title", "variant", "listing_images")


def _consume_csv(path: Path, required) -> list:
    with _time_bound():
        try:
            return list(read_csv(path, required))
        except PackcheckError:
            return []


@fuzz_settings(300, deadline_ms=2000)
@given(st.binary(max_size=2048))
def test_read_csv_arbitrary_bytes(folder, data):
    path = folder / "orders.csv"
    path.write_bytes(data)
    for row, rec in _consume_csv(path, ORDER_COLS):
        assert row >= 2 and set(ORDER_COLS) <= set(rec)
        assert all(isinstance(v, str) and v == v.strip() for v in rec.values())


@fuzz_settings(300, deadline_ms=2000)
@given(weird_csv(CAT_COLS))
def test_load_catalogue_weird_csv(folder, data):
    (folder / "catalogue.csv").write_bytes(data)
    with _time_bound():
        try:
            cat = load_catalogue(folder)
        except PackcheckError:
            return
    assert cat.items
    root = folder.resolve()
    for sku, item in cat.items.items():
        assert sku and sku == sku.strip()
        for p in item.listing_images:
            assert p.is_file() and root in p.resolve().parents, f"{p} escapes {root}"


@fuzz_settings(400, deadline_ms=2000)
@given(weird_csv(ORDER_COLS))
def test_iter_orders_weird_csv(folder, data):
    """Every order of a readable orders.csv comes out exactly once, valid or with its problems."""
    (folder / "catalogue.csv").write_text(VALID_CATALOGUE)
    (folder / "orders.csv").write_bytes(data)
    catalogue = load_catalogue(folder)
    with _time_bound():
        try:
            expected = {rec["order_id"] for _, rec in read_csv(folder / "orders.csv", ORDER_COLS)}
            orders = list(iter_orders(folder, catalogue))
        except PackcheckError:
            return
    ids = [o.order_id for o in orders]
    assert len(ids) == len(set(ids)), "an order was yielded twice"
    assert set(ids) == expected, "an order was lost"
    root = folder.resolve()
    for o in orders:
        if o.problems:
            assert all(isinstance(p, str) and p for p in o.problems)
            continue
        assert o.order_id and o.lines and o.photos
        for line in o.lines:
            assert line.sku in catalogue.items and 1 <= line.qty <= MAX_QTY
        for p in o.photos:
            assert root == p or root in p.parents, f"{p} escapes {root}"


@fuzz_settings(200, deadline_ms=2000)
@given(st.binary(max_size=2048), st.binary(max_size=1024), st.binary(max_size=1024))
def test_whole_folder_arbitrary_bytes(folder, orders, components, packed):
    """Arbitrary bytes in orders.csv, components.csv and packed.csv around a valid catalogue."""
    (folder / "catalogue.csv").write_text(VALID_CATALOGUE)
    (folder / "orders.csv").write_bytes(orders)
    (folder / "components.csv").write_bytes(components)
    (folder / "packed.csv").write_bytes(packed)
    try:
        with _time_bound():
            try:
                catalogue = load_catalogue(folder)
                packed_map = dataset.load_packed(folder)
                list(iter_orders(folder, catalogue, packed=packed_map))
            except PackcheckError:
                pass
    finally:
        (folder / "components.csv").unlink()
        (folder / "packed.csv").unlink()

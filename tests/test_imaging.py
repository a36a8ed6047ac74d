"""Decoding: formats, EXIF orientation, reduced decode, and typed errors for bad files."""
import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from packcheck import errors
from packcheck.core.imaging import WORK_SIDE_PX, load_image
from helpers import blob_image, encode


def test_png_round_trip_is_exact_rgb():
    img = blob_image()
    got = load_image(encode(img), work_side=0)
    assert got.rgb.dtype == np.uint8 and got.rgb.shape == img.shape
    assert np.array_equal(got.rgb, img)
    assert got.format == "PNG" and got.alpha is None


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_orientation_matches_pillow_exif_transpose(orientation, fmt):
    img = blob_image(size=(60, 90))
    ex = Image.Exif()
    ex[0x0112] = orientation
    data = encode(img, fmt, exif=ex, **({"quality": 95} if fmt != "PNG" else {}))
    want = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    got = load_image(data, work_side=0).rgb
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want.astype(int)).mean() < 3  # lossy formats decode a little differently


def test_large_jpeg_is_decoded_reduced_in_the_dct_domain():
    img = cv2.resize(blob_image(size=(300, 400)), (4000, 3000), interpolation=cv2.INTER_LINEAR)
    data = encode(img, "JPEG", quality=85)
    got = load_image(data)
    assert max(got.rgb.shape[:2]) == WORK_SIDE_PX
    assert got.original_size == (4000, 3000)
    assert got.scale == pytest.approx(WORK_SIDE_PX / 4000)


def test_alpha_listing_is_composited_on_white_and_mask_kept():
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[10:30, 10:30] = (0, 0, 255, 255)
    got = load_image(encode(rgba), work_side=0)
    assert got.alpha is not None and got.alpha[20, 20] == 255 and got.alpha[0, 0] == 0
    assert tuple(got.rgb[0, 0]) == (255, 255, 255)  # transparent -> white, not black
    assert tuple(got.rgb[20, 20]) == (0, 0, 255)


def test_grey_16bit_and_cmyk_become_rgb8():
    grey = load_image(encode(np.full((10, 12), 90, np.uint8)), work_side=0)
    assert grey.rgb.shape == (10, 12, 3) and grey.rgb[0, 0, 0] == 90
    ok, buf = cv2.imencode(".png", np.full((8, 8, 3), 40000, np.uint16))
    deep = load_image(buf.tobytes(), work_side=0)
    assert deep.rgb.dtype == np.uint8 and deep.rgb[0, 0, 0] == 40000 >> 8
    buf = io.BytesIO()
    Image.fromarray(blob_image()).convert("CMYK").save(buf, "JPEG")
    cmyk = buf.getvalue()
    assert load_image(cmyk, work_side=0).rgb.shape == (120, 160, 3)


def test_sha256_identifies_the_file_bytes():
    import hashlib

    data = encode(blob_image())
    assert load_image(data).sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("data, error, words", [
    (b"", errors.ImageUnreadable, "empty"),
    (b"hello, this is not a photo\n", errors.ImageUnreadable, "text file"),
    (b"\x00\x01\x02garbage" * 20, errors.ImageUnreadable, "not an image"),
])
def test_unreadable_bytes_give_typed_errors(data, error, words):
    with pytest.raises(error, match=words):
        load_image(data, name="scan.jpg")


def test_truncated_jpeg_is_refused_not_padded_grey():
    data = encode(blob_image(size=(400, 600)), "JPEG", quality=90)
    with pytest.raises(errors.ImageUnreadable, match="truncated"):
        load_image(data[: len(data) * 2 // 3], name="half.jpg")


def test_decompression_bomb_refused_from_header_alone():
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0)) \
        + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    with pytest.raises(errors.ImageTooLarge, match="50000 x 50000"):
        load_image(png, name="bomb.png")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(errors.ImageMissing, match="does not exist"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(errors.ImageMissing, match="folder"):
        load_image(tmp_path)


def test_heic_in_an_installation_without_pillow_heif_says_what_to_do(monkeypatch):
    import sys

    from packcheck.core import imaging

    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # as if the dependency were missing
    monkeypatch.setattr(imaging, "_heif_registered", False)
    data = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    with pytest.raises(errors.UnsupportedFormat, match=r"IMG_0001\.HEIC .*reinstall packcheck"):
        load_image(data, name="IMG_0001.HEIC")

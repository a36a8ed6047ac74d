"""Files as phones write them: data after the image, MPO, HEIC, 12 MP, EXIF rotation.

A phone photo must be judged exactly like the same picture in a plain file: the
bytes after a JPEG's end-of-image marker (a Google Motion Photo's video, a
Samsung trailer, an MPO's second picture) are not part of the picture.
"""
from __future__ import annotations

import io
import shutil

import cv2
import numpy as np
import pytest
from PIL import Image

from packcheck import errors
from packcheck.apps.checker import Checker
from packcheck.apps.station import photo_complete
from packcheck.core.imaging import jpeg_end, load_image
from helpers import SAMPLE_DATA, blob_image, encode


def _mp4_box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def motion_photo_trailer(seed: int = 0) -> bytes:
    """What a Google Motion Photo appends: an MP4 (ftyp + mdat with video bytes, here random)."""
    rng = np.random.default_rng(seed)
    video = rng.integers(0, 256, 150_000, dtype=np.uint8).tobytes()  # FF D9 and FF D8 occur by chance
    return _mp4_box(b"ftyp", b"mp42\x00\x00\x00\x00isommp42") + _mp4_box(b"mdat", video)


def samsung_trailer() -> bytes:
    """A Samsung-style trailer: tagged blocks after the image, ending with the SEFT/SEFH directory."""
    return (b"\x00\x00\x30\x0aMotionPhoto_Data" + bytes(range(256)) * 200
            + b"SEFH" + (1).to_bytes(4, "little") + b"\xff\xd9\xff\xd8junk" + b"SEFT")


def photo(seed: int = 0, size=(600, 800)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.resize(blob_image(size=(120, 160), seed=seed), size[::-1], interpolation=cv2.INTER_LINEAR)
    noise = rng.normal(0, 4, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


TRAILERS = {
    "motion_photo": motion_photo_trailer,
    "samsung": samsung_trailer,
    "second_jpeg": lambda: encode(photo(seed=1), "JPEG", quality=80),
    "zeros": lambda: b"\x00" * 4096,
}


@pytest.mark.parametrize("kind", sorted(TRAILERS))
@pytest.mark.parametrize("progressive", [False, True])
def test_trailing_data_is_judged_like_the_file_cut_at_its_image(kind, progressive):
    plain = encode(photo(), "JPEG", quality=90, progressive=progressive)
    phone = plain + TRAILERS[kind]()
    assert jpeg_end(phone) == len(plain)
    assert photo_complete(phone) is True
    a, b = load_image(plain), load_image(phone)
    assert np.array_equal(a.rgb, b.rgb) and a.original_size == b.original_size and b.format == "JPEG"
    # The evidence is the file as the phone wrote it, trailer included.
    assert a.sha256 != b.sha256


def test_mpo_first_picture_is_judged_like_a_plain_jpeg():
    first, second = Image.fromarray(photo(seed=2)), Image.fromarray(photo(seed=3))
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[second], quality=90)
    mpo = buf.getvalue()
    with Image.open(io.BytesIO(mpo)) as im:
        assert im.format == "MPO"
    end = jpeg_end(mpo)
    assert end is not None and end < len(mpo)
    got, cut = load_image(mpo), load_image(mpo[:end])
    assert np.array_equal(got.rgb, cut.rgb) and got.format == "JPEG"


def test_exif_thumbnail_end_marker_does_not_make_a_cut_file_whole():
    main = encode(photo(), "JPEG", quality=90)
    thumb = encode(photo(size=(120, 160)), "JPEG", quality=70)
    payload = b"Exif\0\0" + thumb
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    whole = main[:2] + app1 + main[2:]
    assert jpeg_end(whole) == len(whole)
    assert jpeg_end(whole[: len(whole) - 5000]) is None


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_cut_in_half_with_an_end_marker_appended_is_refused(progressive):
    data = encode(photo(), "JPEG", quality=90, progressive=progressive)
    forged = data[: len(data) // 2] + b"\xff\xd9"
    with pytest.raises(errors.ImageUnreadable, match="truncated JPEG"):
        load_image(forged, name="IMG_0042.jpg")
    with pytest.raises(errors.ImageUnreadable, match="truncated JPEG"):
        load_image(forged, name="IMG_0042.jpg", work_side=0)


def test_no_end_marker_is_truncated_and_names_the_file():
    data = encode(photo(), "JPEG", quality=90)
    with pytest.raises(errors.ImageUnreadable, match=r"IMG_0043\.jpg is a truncated JPEG"):
        load_image(data[:-100], name="IMG_0043.jpg")


def test_twelve_megapixel_phone_file_with_trailer_reads_reduced():
    big = cv2.resize(photo(), (4032, 3024), interpolation=cv2.INTER_LINEAR)
    ex = Image.Exif()
    ex[0x0112] = 6  # the phone was held upright
    plain = encode(big, "JPEG", quality=85, exif=ex)
    phone = plain + motion_photo_trailer()
    a, b = load_image(plain), load_image(phone)
    assert np.array_equal(a.rgb, b.rgb)
    assert b.original_size == (3024, 4032) and b.rgb.shape[0] > b.rgb.shape[1]


# ---------------------------------------------------------------- HEIC (a default dependency)
def heic(rgb: np.ndarray, **save) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "HEIF", quality=95, **save)
    return buf.getvalue()


def test_heic_decodes_like_the_same_pixels_in_a_plain_file():
    rgb = photo(seed=4)
    got = load_image(heic(rgb), name="IMG_0001.HEIC", work_side=0)
    assert got.format == "HEIF" and got.rgb.shape == rgb.shape
    assert np.abs(got.rgb.astype(int) - rgb.astype(int)).mean() < 4  # lossy, like a JPEG at 95


def test_heic_exif_rotation_is_applied_once():
    rgb = photo(seed=5, size=(300, 400))
    ex = Image.Exif()
    ex[0x0112] = 6
    got = load_image(heic(rgb, exif=ex.tobytes()), name="IMG_0002.HEIC", work_side=0)
    want = np.rot90(rgb, -1)
    assert got.rgb.shape == want.shape
    assert np.abs(got.rgb.astype(int) - want.astype(int)).mean() < 4


def test_heic_photo_gets_the_same_verdict_as_its_jpeg(tmp_path):
    data = tmp_path / "shop"
    shutil.copytree(SAMPLE_DATA, data, ignore=shutil.ignore_patterns(".packcheck-cache"))
    rgb = load_image(data / "photos" / "ORD-1001.jpg", work_side=0).rgb
    (tmp_path / "a.png").write_bytes(encode(rgb, "PNG"))
    (tmp_path / "a.heic").write_bytes(heic(rgb))
    checker = Checker.open(data, cache=tmp_path / "index.sqlite")
    v_png = checker.check_id("ORD-1001", photos=[tmp_path / "a.png"])
    v_heic = checker.check_id("ORD-1001", photos=[tmp_path / "a.heic"])
    assert v_png.status == v_heic.status
    assert [c.status for c in v_png.checks] == [c.status for c in v_heic.checks]


def test_trailer_photo_gets_exactly_the_verdict_of_the_cut_file(tmp_path):
    data = tmp_path / "shop"
    shutil.copytree(SAMPLE_DATA, data, ignore=shutil.ignore_patterns(".packcheck-cache"))
    plain = (data / "photos" / "ORD-1014.jpg").read_bytes()
    (tmp_path / "phone.jpg").write_bytes(plain + motion_photo_trailer())
    checker = Checker.open(data, cache=tmp_path / "index.sqlite")
    a = checker.check_id("ORD-1014").to_dict()
    b = checker.check_id("ORD-1014", photos=[tmp_path / "phone.jpg"]).to_dict()
    for d in (a, b):
        d.pop("timings"), d.pop("photos"), d.pop("photo_paths")
    assert a == b

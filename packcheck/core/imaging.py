"""Reading photos and listing images: the only place images are decoded.

Every image is decoded once, at the smallest resolution the pipeline needs
(``work_side`` pixels on the long side, by default), using the JPEG decoder's
DCT-domain reduction (1/2, 1/4 or 1/8) where the file allows it: a 12 MP phone
photo is never decoded at full size. JPEGs are decoded by libjpeg-turbo through
simplejpeg, which reports a scan that stops early; HEIC through pillow-heif. EXIF orientation is applied
by our own code, the same way for JPEG, PNG and WebP, listing and photo alike
(OpenCV applies it for some flags and not for others, Pillow not at all).

Hostile input is expected: sizes are checked from the header before any pixel
is decoded (decompression bombs), truncated JPEGs are detected by their
structure and by the decoder (libjpeg would otherwise pad them with grey and
carry on), data a phone appends after the image is not part of the picture,
and every failure is a typed :class:`~packcheck.errors.ImageError` with a plain
message naming the file.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import stat
import struct
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import simplejpeg
from PIL import Image, ImageFile, UnidentifiedImageError

from ..errors import ImageMissing, ImageTooLarge, ImageUnreadable, UnsupportedFormat

#: Files larger than this are refused before reading (a phone JPEG is 2-8 MB).
MAX_FILE_BYTES = 80 * 1024 * 1024
#: Images whose header claims more pixels than this are refused (decompression bombs).
MAX_PIXELS = 120_000_000
#: Images that would take more memory than this once decoded are refused, from the
#: header: width x height x channels x bytes per sample of the decode packcheck does
#: (a JPEG's DCT-reduced decode; palette images expanded to RGB). A 12 MP phone photo
#: is 36 MB decoded (at full size; 0.6 MB at 1/8), a 50 MP one 150 MB; a 16-bit RGBA
#: PNG of 10,900 x 10,900 (a 1 MB file) would be 950 MB, and its conversions 5 GB.
MAX_DECODED_BYTES = 256 * 1024 * 1024
#: The only formats decoded (Pillow's names; MPO is a JPEG with more pictures after it, AVIF
#: the AV1 flavour of HEIF). Pillow's other plugins are never tried: its EPS plugin runs
#: Ghostscript, and a "photo" must not start a PostScript interpreter.
ALLOWED_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "TIFF", "BMP", "HEIF", "AVIF")
#: How files of formats packcheck refuses begin, to name them in the error.
_REFUSED_MAGIC = ((b"%!PS", "PostScript/EPS"), (b"\xc5\xd0\xd3\xc6", "PostScript/EPS"), (b"%PDF", "PDF"),
                  (b"<svg", "SVG"), (b"<?xml", "SVG/XML"), (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
                  (b"\xff\x4f\xff\x51", "JPEG 2000"), (b"8BPS", "Photoshop (PSD)"), (b"qoif", "QOI"),
                  (b"\x00\x00\x01\x00", "Windows icon"), (b"gimp xcf", "GIMP XCF"), (b"\x76\x2f\x31\x01", "OpenEXR"),
                  (b"#?RADIANCE", "Radiance HDR"), (b"SIMPLE  =", "FITS"))
#: Long side, in pixels, of the working copy every stage derives its input from.
#: A 12 MP photo (4000 px) decodes at 1/8 in the DCT domain to 500 px, the cheapest
#: decode there is; the located product then still spans 150-300 px, which is
#: what the embedding (160 px input) and keypoints need.
WORK_SIDE_PX = 480
#: Shrinking by a factor at least this close to 1 is bilinear, not area averaging.
NEAR_SCALE = 0.8

_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"heim", b"heis", b"avif")


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image, upright, as 8-bit RGB.

    Attributes
    ----------
    rgb : (H, W, 3) uint8 array, RGB channel order, EXIF orientation applied.
    alpha : (H, W) uint8 array or None; the transparency mask of a PNG/WebP with alpha.
    original_size : (width, height) of the stored image, after orientation.
    sha256 : hex digest of the file's bytes (identifies the evidence and index entries).
    format : the container format as Pillow names it ("JPEG", "PNG", ...).
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    original_size: tuple[int, int]
    sha256: str
    format: str

    @property
    def scale(self) -> float:
        """Pixels of ``rgb`` per pixel of the stored image."""
        return self.rgb.shape[1] / max(1, self.original_size[0])


def read_bytes(path: str | os.PathLike, *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """Read a file's bytes, turning every OS failure into an :class:`ImageMissing`."""
    p = Path(path)
    try:
        if p.is_dir():
            raise ImageMissing(f"{p} is a folder, not an image file")
        st = p.stat()
        if not stat.S_ISREG(st.st_mode):
            # Reading a pipe or a device would wait for a writer, or never end.
            raise ImageMissing(f"{p} is not a regular file (a pipe or device?); give the photo file itself")
        size = st.st_size
        if size > max_bytes:
            raise ImageTooLarge(
                f"{p} is {size / 1e6:.0f} MB, more than the {max_bytes / 1e6:.0f} MB limit for one photo"
            )
        return p.read_bytes()
    except FileNotFoundError:
        raise ImageMissing(f"{p} does not exist; check the path or take the photo again") from None
    except PermissionError:
        raise ImageMissing(f"{p} cannot be read (permission denied); check the file's permissions") from None
    except IsADirectoryError:
        raise ImageMissing(f"{p} is a folder, not an image file") from None
    except OSError as e:
        raise ImageMissing(f"{p} cannot be read ({e.strerror or e})") from None


def load_image(
    source: str | os.PathLike | bytes,
    *,
    work_side: int = WORK_SIDE_PX,
    max_pixels: int = MAX_PIXELS,
    name: str | None = None,
) -> LoadedImage:
    """Decode a photo or listing image, upright, at about ``work_side`` px on the long side.

    Parameters
    ----------
    source : path or the file's bytes.
    work_side : the long side the result should have at least (it is reduced to
        at most ``work_side`` with area averaging). ``0`` keeps full resolution.
    max_pixels : refuse images whose header claims more pixels than this.
    name : how to name the image in error messages (defaults to the path).

    Returns
    -------
    LoadedImage

    Raises
    ------
    ImageMissing, ImageUnreadable, ImageTooLarge, UnsupportedFormat

    Examples
    --------
    >>> import cv2, numpy as np
    >>> ok, buf = cv2.imencode(".png", np.zeros((30, 40, 3), np.uint8))
    >>> load_image(buf.tobytes(), work_side=0).rgb.shape
    (30, 40, 3)
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = name or "image"
    else:
        label = name or str(source)
        data = read_bytes(source)
    if not data:
        raise ImageUnreadable(f"{label} is empty (0 bytes); retake the photo")
    fmt, (width, height), orientation, mode = _sniff(data, label, max_pixels)
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"{label} claims {width} x {height} pixels, more than the limit of "
            f"{max_pixels / 1e6:.0f} megapixels; it is not a normal photo"
        )
    if width < 1 or height < 1:
        raise ImageUnreadable(f"{label} has no pixels ({width} x {height})")
    need = decoded_bytes(data, fmt, mode, (width, height), work_side=work_side)
    if need > MAX_DECODED_BYTES:
        raise ImageTooLarge(
            f"{label} ({fmt}, {width} x {height} pixels) would take {need / 2**20:.0f} MB of memory to decode, "
            f"more than the limit of {MAX_DECODED_BYTES / 2**20:.0f} MB; save it as a JPEG, or smaller"
        )
    pixels = data
    if fmt in ("JPEG", "MPO"):
        end = jpeg_end(data)
        if end is None:
            raise ImageUnreadable(_truncated(label))
        # Judge the image the file starts with, exactly as if the file ended there
        # (an MPO's first picture is the ordinary JPEG a phone shows).
        pixels, fmt = data[:end], "JPEG"
    with _native_stderr_filtered():
        rgb, alpha = _decode(pixels, fmt, (width, height), work_side, label)
    rgb, alpha = _apply_orientation(rgb, alpha, orientation)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    if work_side and max(rgb.shape[:2]) > work_side:
        rgb, alpha = _shrink(rgb, alpha, work_side)
    return LoadedImage(
        rgb=np.ascontiguousarray(rgb),
        alpha=None if alpha is None else np.ascontiguousarray(alpha),
        original_size=(int(width), int(height)),
        sha256=hashlib.sha256(data).hexdigest(),
        format=fmt,
    )


def _truncated(label: str) -> str:
    return (f"{label} is a truncated JPEG (the end of the image data is missing); "
            "it may still be copying, or the camera share dropped: retake or copy it again")


def _sniff(data: bytes, label: str, max_pixels: int) -> tuple[str, tuple[int, int], int, str]:
    """Format, stored size, EXIF orientation and Pillow's mode from the header, without decoding pixels.

    Only :data:`ALLOWED_FORMATS` are tried: a file of any other format is refused
    here, before any decoder sees it. packcheck checks the pixel count itself
    (``max_pixels``), with a message naming the file and its claimed size.
    Pillow's own guard (a process-wide setting that packcheck leaves as the host
    set it) refuses even larger claims first; its error is turned into the same
    message, the size read from the PNG or JPEG header here.
    """
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        _register_heif(label)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=_allowed_formats()) as im:
                fmt = im.format or "unknown"
                size = im.size
                mode = im.mode
                try:
                    orientation = int(_exif(im, data).get(0x0112, 1) or 1)
                except Exception:  # a damaged EXIF block must not hide a good image
                    orientation = 1
    except Image.DecompressionBombError:
        size = _declared_size(data)
        claim = f"{size[0]} x {size[1]} pixels" if size else "more pixels than Pillow opens"
        raise ImageTooLarge(f"{label} claims {claim}, more than the limit of {max_pixels / 1e6:.0f} megapixels; "
                            "it is not a normal photo") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error):
        head = data[:64].lstrip()
        refused = next((name for magic, name in _REFUSED_MAGIC if head.startswith(magic)), None)
        if refused:
            raise UnsupportedFormat(f"{label} is a {refused} file, not a photo; packcheck reads JPEG, PNG, WebP, "
                                    "GIF, TIFF, BMP and HEIC: re-export it as JPEG or PNG") from None
        kind = "a text file" if head and all(32 <= b < 127 or b in b"\r\n\t" for b in head[:32]) else "not an image"
        raise ImageUnreadable(f"{label} is {kind}, not a JPEG/PNG/WebP photo; retake or re-export it") from None
    if fmt not in ALLOWED_FORMATS:  # a plugin registered by the host for one of our names
        raise UnsupportedFormat(f"{label} is a {fmt} file, which packcheck does not read; re-export it as JPEG or PNG")
    if orientation not in range(1, 9):
        orientation = 1
    return fmt, size, orientation, mode


def _exif(im: Image.Image, data: bytes) -> Image.Exif:
    """The image's EXIF block, read from the header only.

    Pillow's PNG plugin decodes every pixel to look for an EXIF chunk after the
    image data (a 1 MB PNG took 7 s and 500 MB before its size could be checked);
    here the chunk is found by walking the chunk headers instead.
    """
    if im.format != "PNG":
        return im.getexif()
    exif = Image.Image.getexif(im)  # what the chunks before the image data said
    if 0x0112 not in exif:
        body = _png_chunk(data, b"eXIf")
        if body:
            exif = Image.Exif()
            exif.load(body)
    return exif


def _png_chunk(data: bytes, kind: bytes) -> bytes | None:
    """The body of a PNG's first chunk of ``kind`` (None when it has none, or the file is cut short)."""
    return next((data[start:start + length] for tag, start, length in _png_chunks(data) if tag == kind), None)


def _allowed_formats() -> list[str]:
    """:data:`ALLOWED_FORMATS` that this Pillow has a plugin for (HEIF once pillow-heif is registered)."""
    Image.init()
    return [f for f in ALLOWED_FORMATS if f in Image.OPEN]


def decoded_bytes(data: bytes, fmt: str, mode: str, size: tuple[int, int], *, work_side: int = WORK_SIDE_PX) -> int:
    """Bytes the decode of an image takes, from its header: width x height x channels x bytes per sample.

    A JPEG counts at the DCT-reduced size it is decoded at; a palette or 1-bit
    image as the RGB(A) it is expanded to; a 16-bit PNG or TIFF at two bytes per
    sample (OpenCV keeps the depth when decoding).

    Examples
    --------
    >>> decoded_bytes(b"", "PNG", "RGB", (4000, 3000))
    36000000
    >>> decoded_bytes(b"", "JPEG", "RGB", (4000, 3000))  # decoded at 1/8
    562500
    """
    width, height = size
    if fmt in ("JPEG", "MPO"):
        _, factor = _reduction_flag(size, work_side)
        width, height = -(-width // factor), -(-height // factor)
    try:
        channels = Image.getmodebands(mode)
    except (KeyError, ValueError):  # a raw mode Pillow has no bands for: count the widest
        channels = 4
    if mode in ("P", "PA", "1"):
        channels = 4 if mode == "PA" or fmt in ("GIF", "PNG") else 3  # expanded to RGB(A) when decoded
    sample = 1
    if fmt == "PNG" and data[12:16] == b"IHDR" and len(data) >= 25 and data[24] == 16:
        sample = 2
    elif mode.startswith("I;16"):
        sample = 2
    elif mode in ("I", "F"):
        sample = 4
    elif fmt == "TIFF":
        sample = 2 if mode in ("RGB", "RGBA", "RGBX", "CMYK", "LA") and _tiff_bits(data) > 8 else 1
    return width * height * channels * sample


def _tiff_bits(data: bytes) -> int:
    """The largest BitsPerSample of a TIFF's first image (8 when the header does not say)."""
    try:
        with Image.open(io.BytesIO(data), formats=["TIFF"]) as im:
            bits = im.tag_v2.get(258, 8)
    except Exception:  # noqa: BLE001 - the decode itself will report a damaged file
        return 8
    return max(bits) if isinstance(bits, tuple) else int(bits)


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) as a PNG's IHDR or a JPEG's frame header declares it; None for other formats."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    i = 2 if data[:2] == b"\xff\xd8" else len(data)
    while i + 9 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame segment
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


_heif_registered = False


def _register_heif(label: str) -> None:
    # Registered on the first HEIC seen, not at import: importing packcheck
    # changes nothing in the host process's Pillow.
    global _heif_registered
    if _heif_registered:
        return
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        raise UnsupportedFormat(
            f"{label} is a HEIC/HEIF photo and this installation lacks pillow-heif, a packcheck dependency; "
            "reinstall packcheck (pip install packcheck), or set the camera to save JPEG"
        ) from None
    register_heif_opener()
    _heif_registered = True


#: After a scan's entropy-coded data, the next marker: FF followed by anything but
#: 00 (a stuffed FF), D0-D7 (restart markers, which stay inside the scan) or FF (fill).
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def jpeg_end(data: bytes) -> int | None:
    """Where a JPEG's first image ends (just past its end-of-image marker), or None when it is incomplete.

    The file is walked segment by segment (header segments by their lengths, so the
    end marker of an EXIF thumbnail does not count; scans to the next real
    marker, so a progressive JPEG's later scans do), which is how a decoder reads
    it. Anything after that point is not this image: phones append a Motion
    Photo's video, a vendor trailer, or an MPO file's second picture there, and
    it must neither make a whole photo look truncated nor change how it is judged.

    Examples
    --------
    >>> import cv2, numpy as np
    >>> jpg = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))[1].tobytes()
    >>> jpeg_end(jpg) == len(jpg), jpeg_end(jpg + b"trailer") == len(jpg), jpeg_end(jpg[:-40])
    (True, True, None)
    """
    if data[:2] != b"\xff\xd8":
        return None
    i, n, scanned = 2, len(data), False
    while i + 2 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == 0xD9:
            return i + 2 if scanned else None  # an end before any image data is no image
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            i += 2
            continue
        if i + 4 > n:
            return None
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if length < 2:
            return None
        i += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the next real marker
            scanned = True
            m = _NEXT_MARKER.search(data, i)
            if m is None:
                return None
            i = m.start()
    return None


def _png_chunks(data: bytes):
    """(type, start of body, length) of each PNG chunk up to IEND, stopping at one that does not fit the file."""
    pos, n = 8, len(data)
    while pos + 12 <= n:
        length = int.from_bytes(data[pos:pos + 4], "big")
        if length > n - pos - 12:
            return
        tag = data[pos + 4:pos + 8]
        yield tag, pos + 8, length
        if tag == b"IEND":
            return
        pos += 12 + length


def bmp_end(data: bytes) -> int | None:
    """How long a BMP file says it is (its header's file size, else pixel offset + pixel data), or None
    when the header cannot tell (too short to hold one, or a compressed BMP without a size).

    >>> import cv2, numpy as np
    >>> bmp = cv2.imencode(".bmp", np.zeros((3, 5, 3), np.uint8))[1].tobytes()
    >>> bmp_end(bmp) == len(bmp), bmp_end(bmp[:20])
    (True, None)
    """
    if data[:2] != b"BM" or len(data) < 26:
        return None
    declared = int.from_bytes(data[2:6], "little")
    offset = int.from_bytes(data[10:14], "little")
    header = int.from_bytes(data[14:18], "little")
    if declared >= 26:
        return declared
    if header == 12:  # BITMAPCOREHEADER: 16-bit sizes
        width, height = int.from_bytes(data[18:20], "little"), int.from_bytes(data[20:22], "little")
        bpp, compression, image_size = int.from_bytes(data[24:26], "little"), 0, 0
    elif header >= 40 and len(data) >= 38:
        width = abs(int.from_bytes(data[18:22], "little", signed=True))
        height = abs(int.from_bytes(data[22:26], "little", signed=True))
        bpp = int.from_bytes(data[28:30], "little")
        compression = int.from_bytes(data[30:34], "little")
        image_size = int.from_bytes(data[34:38], "little")
    else:
        return None
    if compression in (0, 3, 6):  # uncompressed rows, padded to 4 bytes
        return offset + ((bpp * width + 31) // 32) * 4 * height
    return offset + image_size if image_size else None


#: Bytes per value of each TIFF field type (1 BYTE ... 18 IFD8).
_TIFF_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
_TIFF_DATA = ((273, 279), (324, 325))  # (StripOffsets, StripByteCounts), (TileOffsets, TileByteCounts)


def tiff_end(data: bytes, *, max_ifds: int = 64) -> int | None:
    """The length a TIFF file needs, from its own structure: every directory (IFD), every value stored
    outside one, and every strip or tile of image data (offset + byte count) must lie inside it. A
    file shorter than this is still being written. None when the structure cannot tell (not a classic
    TIFF, e.g. BigTIFF, or a directory loop).

    >>> from PIL import Image; import io
    >>> buf = io.BytesIO(); Image.new("RGB", (8, 6), (200, 30, 30)).save(buf, "TIFF"); tif = buf.getvalue()
    >>> tiff_end(tif) <= len(tif), tiff_end(tif[: len(tif) // 2]) > len(tif) // 2
    (True, True)
    """
    if data[:4] == b"II*\x00":
        order = "little"
    elif data[:4] == b"MM\x00*":
        order = "big"
    else:
        return None

    def u(at: int, size: int) -> int:
        return int.from_bytes(data[at:at + size], order)

    if len(data) < 8:
        return 8
    need = 8
    ifd = u(4, 4)
    seen: set[int] = set()
    while ifd:
        if ifd in seen or len(seen) >= max_ifds:
            return None
        seen.add(ifd)
        if ifd + 2 > len(data):
            return max(need, ifd + 2)
        count = u(ifd, 2)
        end = ifd + 2 + 12 * count + 4
        need = max(need, end)
        if end > len(data):
            return need
        values: dict[int, list[int]] = {}
        for k in range(count):
            e = ifd + 2 + 12 * k
            tag, kind, n = u(e, 2), u(e + 2, 2), u(e + 4, 4)
            size = _TIFF_TYPE_SIZE.get(kind, 1) * n
            at = e + 8 if size <= 4 else u(e + 8, 4)
            need = max(need, at + size)
            if at + size > len(data):
                return need
            if tag in (273, 279, 324, 325) and kind in (3, 4, 16):
                width = _TIFF_TYPE_SIZE[kind]
                values[tag] = [u(at + i * width, width) for i in range(n)]
        for offsets, counts in _TIFF_DATA:
            for off, n in zip(values.get(offsets, ()), values.get(counts, ())):
                need = max(need, off + n)
        ifd = u(end - 4, 4)
    return need


def _png_chunks_fit(data: bytes) -> bool:
    """Whether every PNG chunk up to IEND lies inside the file.

    OpenCV's PNG reader allocates whatever a chunk header claims (up to 4 GB)
    before it notices the file is shorter, so a 1 KB file could take 4 GB of
    memory; files that fail this check go to Pillow, which reads chunks in
    bounded blocks.
    """
    return any(tag == b"IEND" for tag, _, _ in _png_chunks(data))


def _reduction_flag(size: tuple[int, int], work_side: int) -> tuple[int, int]:
    """The largest JPEG DCT reduction that still leaves ``work_side`` px on the long side."""
    if not work_side:
        return cv2.IMREAD_COLOR, 1
    long_side = max(size)
    for factor, flag in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                         (2, cv2.IMREAD_REDUCED_COLOR_2)):
        if long_side / factor >= work_side:
            return flag, factor
    return cv2.IMREAD_COLOR, 1


#: libjpeg warnings that mean image data is missing or damaged: the decoder would
#: carry on and fill the rest with grey (a JPEG cut short, with or without an end
#: marker appended). Its other warnings (extraneous bytes before a marker, an
#: odd JFIF version or ICC profile) leave every pixel intact and are accepted.
_JPEG_DATA_LOST = ("premature end", "bad huffman code", "must resync", "corrupt jpeg data: found marker",
                   "inconsistent progression", "huffman table")


def _decode_jpeg(data: bytes, size, work_side: int, label: str) -> np.ndarray | None:
    """BGR pixels of a JPEG, DCT-reduced as :func:`_reduction_flag` says; None for what libjpeg-turbo refuses.

    simplejpeg is libjpeg-turbo, the decoder OpenCV bundles too (the same
    pixels), but it reports the decoder's warnings: a scan that stops early is
    an error here, where OpenCV only prints a line on stderr and returns grey.
    """
    _, factor = _reduction_flag(size, work_side)
    w, h = size
    scale = {} if factor == 1 else {"min_width": -(-w // factor), "min_height": -(-h // factor)}
    try:
        return simplejpeg.decode_jpeg(data, colorspace="BGR", strict=True, **scale)
    except ValueError as e:
        text = str(e).lower()
        if any(s in text for s in _JPEG_DATA_LOST):
            raise ImageUnreadable(_truncated(label) if "premature" in text else
                                  f"{label} is a damaged JPEG ({e}); retake or copy it again") from None
    try:
        return simplejpeg.decode_jpeg(data, colorspace="BGR", strict=False, **scale)
    except ValueError:
        return None


def _decode(data: bytes, fmt: str, size, work_side: int, label: str):
    buf = np.frombuffer(data, np.uint8)
    arr = None
    try:
        if fmt == "JPEG":
            flag, _ = _reduction_flag(size, work_side)
            arr = _decode_jpeg(data, size, work_side, label)
            if arr is None:  # a colour model libjpeg-turbo will not convert (CMYK): OpenCV's own path
                flag, _ = _reduction_flag(size, work_side)
                arr = cv2.imdecode(buf, flag | cv2.IMREAD_IGNORE_ORIENTATION)
        elif fmt in ("PNG", "WEBP", "TIFF", "BMP") and (fmt != "PNG" or _png_chunks_fit(data)):
            # UNCHANGED keeps alpha and 16-bit depth, and never applies orientation.
            arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        # Some OpenCV decoders assert instead of returning None (a BMP more than
        # 2**20 px wide, say); Pillow gets the file instead.
        arr = None
    if arr is None or arr.size == 0:
        return _decode_with_pillow(data, label)
    return _to_rgb8(arr)


def _to_rgb8(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """OpenCV's BGR/BGRA/gray of any depth to 8-bit RGB plus an optional alpha mask."""
    if arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    elif arr.dtype != np.uint8:
        arr = cv2.normalize(arr, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    alpha = None
    if arr.ndim == 2:
        rgb = cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB)
    elif arr.shape[2] == 4:
        alpha = arr[:, :, 3].copy()
        rgb = _composite_on_white(cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB), alpha)
        if alpha.min() == 255:
            alpha = None
    elif arr.shape[2] == 2:  # gray + alpha
        alpha = arr[:, :, 1].copy()
        rgb = _composite_on_white(cv2.cvtColor(arr[:, :, 0], cv2.COLOR_GRAY2RGB), alpha)
    else:
        rgb = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    return rgb, alpha


#: Rows composited at a time: the float32 temporaries of a whole 50 MP image took 2 GB.
_COMPOSITE_ROWS = 256


def _composite_on_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    # A transparent listing background must look like the white web-shop
    # background, not like the black that dropping the alpha channel gives.
    # In place when the pixels are ours alone (a fresh conversion), saving a copy of the image.
    out = rgb if rgb.flags.owndata and rgb.flags.writeable else np.empty(rgb.shape, np.uint8)
    for y in range(0, rgb.shape[0], _COMPOSITE_ROWS):
        a = alpha[y:y + _COMPOSITE_ROWS].astype(np.float32)[:, :, None] / 255.0
        out[y:y + _COMPOSITE_ROWS] = (rgb[y:y + _COMPOSITE_ROWS].astype(np.float32) * a
                                      + 255.0 * (1.0 - a)).round()
    return out


def _decode_with_pillow(data: bytes, label: str):
    """Fallback for what OpenCV cannot read (GIF, CMYK oddities, HEIC via the plugin)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ImageFile.LOAD_TRUNCATED_IMAGES = False
            with Image.open(io.BytesIO(data), formats=_allowed_formats()) as im:
                im.seek(0)  # first frame of an animation
                if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                    rgba = np.asarray(im.convert("RGBA"))
                    alpha = rgba[:, :, 3].copy()
                    rgb = _composite_on_white(rgba[:, :, :3], alpha)
                    return rgb, (None if alpha.min() == 255 else alpha)
                if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                    arr = np.asarray(im)
                    # Integer arithmetic: floor(255 * v / max), as float64 would give, in a
                    # quarter of the memory (a 100 MP 16-bit scan took 800 MB as float64).
                    wide = np.uint32 if arr.dtype.itemsize <= 2 else np.int64
                    top = max(1, int(arr.max()))
                    arr = (np.clip(arr, 0, None).astype(wide) * 255 // top).astype(np.uint8)
                    return cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB), None
                return np.asarray(im.convert("RGB")).copy(), None
    except Exception as e:  # noqa: BLE001 - any decoder failure means the same to a packer
        raise ImageUnreadable(f"{label} could not be decoded ({type(e).__name__}); retake or re-export it") from None


#: Lines native decoders print on stderr (libpng, libjpeg, libtiff through OpenCV's log, and
#: the '> ...' lines continuing an OpenCV check message): a packer's terminal shows packcheck's
#: own message instead.
_DECODER_NOISE = re.compile(rb"^(libpng (error|warning)|Corrupt JPEG data|Premature end of JPEG|Invalid SOS|"
                            rb"Warning: |\[ ?(WARN|ERROR|INFO)[:\]]|TIFF|\S+: Warning, |> |$)")
_stderr_lock = threading.Lock()


@contextlib.contextmanager
def _native_stderr_filtered():
    """Keep what native decoders print on file descriptor 2 off the terminal.

    libpng, libjpeg and libtiff write their complaints straight to stderr (the
    error reaches packcheck as a failed decode, and its own message says what to
    do). Descriptor 2 points at a temporary file while decoding; afterwards any
    line that is not decoder noise (another thread's output) is written through.
    """
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass
    with _stderr_lock:
        try:
            saved = os.dup(2)
        except OSError:  # no descriptor 2 (a daemon): nothing to protect
            yield
            return
        try:
            with tempfile.TemporaryFile() as sink:
                os.dup2(sink.fileno(), 2)
                try:
                    yield
                finally:
                    os.dup2(saved, 2)
                    sink.seek(0)
                    kept = [ln for ln in sink.read(1 << 20).splitlines(keepends=True)
                            if not _DECODER_NOISE.match(ln.lstrip())]
                    if kept:
                        os.write(2, b"".join(kept))
        finally:
            os.close(saved)


_ORIENT = {
    # EXIF orientation -> how to turn the stored pixels upright (as Pillow's exif_transpose).
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def _apply_orientation(rgb, alpha, orientation: int):
    fix = _ORIENT.get(orientation)
    if fix is None:
        return rgb, alpha
    return fix(rgb), (None if alpha is None else fix(alpha))


def _shrink(rgb, alpha, work_side: int):
    h, w = rgb.shape[:2]
    s = work_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    # Area averaging where pixels are merged (no aliasing); for the last few
    # percent after a DCT-reduced decode (a 12 MP photo at 1/8 is 504 px) bilinear
    # gives the same picture (99% of pixels within 1 level on a phone photo) in a
    # sixth of the time (0.5 vs 2.8 ms).
    interp = cv2.INTER_LINEAR if s >= NEAR_SCALE else cv2.INTER_AREA
    rgb = cv2.resize(rgb, size, interpolation=interp)
    if alpha is not None:
        alpha = cv2.resize(alpha, size, interpolation=interp)
    return rgb, alpha

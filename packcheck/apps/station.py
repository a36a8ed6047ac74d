"""The packing station: scan an order, take its photo, judge it, keep the evidence.

A packer scans the order barcode (a USB scanner types the order id and Enter),
puts the items on the bench and the camera takes a photo. :class:`Station`
turns each line typed into an :class:`Outcome`:

* an order id: the listeners hear at once "ORD-X: waiting for photo"
  (kind ``"waiting"``), then the photo is taken from a :class:`FolderSource` (a
  folder a camera app writes into) or a :class:`CameraSource` (OpenCV), judged
  by the :class:`~packcheck.apps.checker.Checker` opened once for the session,
  and recorded in the :class:`~packcheck.apps.evidence.store.EvidenceStore`.
  Scanning an order again (after fixing the box) records a new check linked to
  the previous one; when no new photo comes, the one already taken is judged
  again. An id typed in the wrong case is read as the order it names; an
  unknown one gets "did you mean ...".
* ``!ok SUPERVISOR REASON...`` (or ``override SUPERVISOR REASON...``): a
  supervisor lets the last checked box ship although it was not a PASS. The
  name must be in the supervisors file (:mod:`packcheck.apps.supervisors`) and
  the station asks for the code (``ask_code``); a wrong code is refused and
  recorded. An ERROR (nothing was judged) ships only with a reason from
  :data:`NO_EVIDENCE_REASONS`, recorded as "shipped without evidence".
* ``!help``, ``!quit``.

A photo is bound to its order: the newest-image fallback never takes a file
named for another order, and a photo (the same bytes) already recorded for
another order is refused. Inbox files are opened safely: regular files inside
the folder only (opened with ``O_NOFOLLOW`` relative to the folder, the opened
descriptor checked with ``fstat``; no links, pipes or devices), at most
:data:`~packcheck.core.imaging.MAX_FILE_BYTES` (checked before reading) and
:data:`~packcheck.core.imaging.MAX_PIXELS` (checked by the decoder), as
``packcheck check`` has them.

Photos still being written are never judged: a file whose size or time changes
while it is read, or whose format says it is incomplete (a JPEG without its
end-of-image marker after the image data, a PNG without IEND, a WebP, BMP or
TIFF shorter than its own size fields), is read again at the next poll, until
the timeout. This module prints nothing; the CLI (:mod:`packcheck.cli.station`)
shows the outcomes.
"""
from __future__ import annotations

import dataclasses
import difflib
import errno
import hashlib
import logging
import os
import re
import sqlite3
import stat
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np

from ..core.colour import cie_lab
from ..core.imaging import MAX_FILE_BYTES, bmp_end, jpeg_end, tiff_end
from ..core.verdict import Status, Verdict, error_verdict
from ..errors import CameraError, ImageMissing, ImageStillWriting, ImageTooLarge, PackcheckError, UnknownOrder
from ..store import dataset
from . import enrolment
from .checker import Checker
from .duplicates import PhotoHistory, with_checks
from .evidence.backends import DatabaseUnavailable
from .evidence.spool import Spool
from .evidence.store import CheckRecord, EvidenceStore, OverrideRecord, PhotoInput
from .present import looks_like
from .supervisors import Supervisors

log = logging.getLogger(__name__)

#: File name endings a camera app writes that the station picks up.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".tif", ".tiff", ".bmp")
#: Longest order id accepted from the scanner; longer input is noise or two scans run together.
MAX_ORDER_ID_CHARS = 64
#: How often the photo folder is looked at while waiting.
POLL_S = 0.025
#: The photo folder is listed again at least this often (between listings only the
#: files of interest are looked at, unless the folder itself changed).
FULL_LIST_S = 1.0
#: A photo whose format does not say when it is complete counts as complete once
#: its size and time have not changed for this long.
SETTLE_S = 0.5
#: How many times a photo that still changed after it was judged unreadable is retried.
MAX_REREADS = 5
#: The reasons an ERROR (no photo judged) may be overridden for: the box ships without evidence.
NO_EVIDENCE_REASONS = {
    "photo_camera_broken": "the camera or the photo share is broken; the box was checked by eye",
    "customer_collects": "the customer collects the parcel in person and checks it there",
    "replacement_sent": "a replacement for a parcel already disputed; the marketplace case holds the evidence",
    "order_cancelled_return": "the order was cancelled and the box goes back to the shop's own stock",
}

HELP = """\
Scan an order barcode (or type the order id and Enter) to check it.
  !ok SUPERVISOR REASON...    let the last checked box ship anyway (also: override SUPERVISOR REASON...);
                              the station then asks for the supervisor's code
  !help                       this text
  !quit                       end the session (as does Ctrl-D)
After a FLAG: fix the box and scan the order again, or a supervisor types !ok.
An ERROR (no photo judged) ships only with one of these reasons, as "shipped without evidence":
""" + "\n".join(f"  {k:26s}  {v}" for k, v in NO_EVIDENCE_REASONS.items())


# ---------------------------------------------------------------- photo completeness
def photo_complete(data: bytes) -> bool | None:
    """Whether the bytes are a whole image file: True, False, or None when the format cannot tell."""
    if not data:
        return False
    if data[:3] == b"\xff\xd8\xff":
        # The decoder's own rule: data after the image (a Motion Photo's video, an
        # MPO's second picture) is neither needed nor waited for.
        return jpeg_end(data) is not None
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return b"IEND" in data[-16:]
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return int.from_bytes(data[4:8], "little") + 8 <= len(data)
    if data[:2] == b"BM":
        if len(data) < 26:
            return False
        end = bmp_end(data)
        return None if end is None else len(data) >= end
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        end = tiff_end(data)
        return None if end is None else len(data) >= end
    return None


# ---------------------------------------------------------------- photo sources
@dataclass(frozen=True)
class Photo:
    """A photo taken for a scan: its bytes, what it is called, and when it was complete."""

    data: bytes
    name: str
    complete_at: float  # time.perf_counter() when the bytes were known to be whole
    waited_s: float  # scan to complete
    path: Path | None = None
    signature: tuple | None = None  # (size, mtime_ns) of the file when read
    again: bool = False  # judged before for this order: no new photo came, so it is judged again


class PhotoSource(Protocol):
    def snapshot(self) -> object: ...

    def take(self, order_id: str, since: object, *, timeout_s: float) -> tuple[Photo, ...]: ...

    def changed(self, photo: Photo) -> bool: ...

    def close(self) -> None: ...


def _order_part(name: str) -> list[str]:
    """The order ids a file name could be named for: ``ORD-1.jpg`` -> ORD-1; ``ORD-1_b.jpg`` -> ORD-1_b, ORD-1."""
    stem = name[:name.rfind(".")] if "." in name else name
    return [stem] + [stem[:i] for i in range(len(stem) - 1, 0, -1) if stem[i] == "_"]


class FolderSource:
    """Photos from a folder a camera app writes into.

    For a scan of ``ORDER_ID`` the photos are ``FOLDER/ORDER_ID.*`` and
    ``FOLDER/ORDER_ID_*.*`` (several views of one order; the case of the name
    does not matter) when such files exist and have not been judged yet in their
    current state; otherwise the newest image that appears (or changes) after
    the scan, except a file named for another order (``order_of`` says which
    names are order ids). When nothing new comes before the timeout, the photos
    last judged for this same order are judged again (a rescan).

    Only regular files are read: each is opened relative to the folder with
    ``O_NOFOLLOW`` (a symbolic link is refused, not followed) and
    ``O_NONBLOCK`` (a named pipe cannot block the station), and the opened
    descriptor must be a regular file of at most ``max_bytes`` (checked with
    ``fstat`` before reading). A named file that is none of these is refused
    with an error; other such entries are ignored.
    """

    def __init__(self, folder: str | os.PathLike, *, poll_s: float = POLL_S, settle_s: float = SETTLE_S,
                 max_bytes: int = MAX_FILE_BYTES, order_of: Callable[[str], str | None] | None = None):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ImageMissing(f"photo folder {self.folder} does not exist; create it or point --photo-dir "
                               "at the folder the camera app saves into")
        try:
            self._dir_fd = os.open(self.folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
        except OSError as e:
            raise ImageMissing(f"photo folder {self.folder} cannot be opened ({e.strerror or e})") from None
        self.poll_s = poll_s
        self.settle_s = settle_s
        self.max_bytes = max_bytes
        self.order_of = order_of or (lambda name: None)
        # Files are keyed by name (str): with thousands of photos, Path objects cost
        # more than the polling itself.
        self._used: dict[str, tuple] = {}
        self._last_of: dict[str, list[str]] = {}  # order id (lower case) -> names last judged for it
        self._stable_since: dict[str, tuple[tuple, float]] = {}
        self._listing: dict[str, tuple[int, int]] = {}
        self._odd: dict[str, str] = {}  # image-named entries that are not regular files: name -> what they are
        self._listing_key: tuple[int, float] | None = None  # (folder mtime_ns, when listed)
        self._watch: set[str] = set()

    def _stat(self, name: str) -> os.stat_result:
        return os.stat(name, dir_fd=self._dir_fd, follow_symlinks=False)

    def _images(self) -> dict[str, tuple[int, int]]:
        """Every regular image file in the folder by name, with its (size, mtime_ns).

        Listing a camera folder of a few thousand photos costs tens of ms, too much
        every poll: the folder is listed again only when its own mtime changed (a
        file was created, renamed or removed) or a second has passed; in between
        only the files of interest (the order's, and new ones) are looked at.
        """
        now = time.perf_counter()
        try:
            folder_mtime = os.fstat(self._dir_fd).st_mtime_ns  # before listing: a file made meanwhile is seen next poll
        except OSError as e:
            raise ImageMissing(f"photo folder {self.folder} cannot be read ({e.strerror or e})") from None
        key = self._listing_key
        if key is None or key[0] != folder_mtime or now - key[1] >= FULL_LIST_S:
            self._listing = self._list()
            self._listing_key = (folder_mtime, now)
        else:
            for name in self._watch:
                try:
                    st = self._stat(name)
                except OSError:
                    self._listing.pop(name, None)
                    continue
                if stat.S_ISREG(st.st_mode):
                    self._listing[name] = (st.st_size, st.st_mtime_ns)
                else:
                    self._listing.pop(name, None)
                    self._odd[name] = _kind(st.st_mode)
        return dict(self._listing)

    def _list(self) -> dict[str, tuple[int, int]]:
        found, odd = {}, {}
        try:
            entries = list(os.scandir(self._dir_fd))
        except OSError as e:
            raise ImageMissing(f"photo folder {self.folder} cannot be read ({e.strerror or e})") from None
        for e in entries:
            if e.name.startswith(".") or not e.name.lower().endswith(IMAGE_SUFFIXES):
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue  # removed while listing
            if stat.S_ISREG(st.st_mode):
                found[e.name] = (st.st_size, st.st_mtime_ns)
            else:
                odd[e.name] = _kind(st.st_mode)
        self._odd = odd
        return found

    def snapshot(self) -> dict[str, tuple[int, int]]:
        """The folder at scan time: photos already there are not this order's (unless named after it)."""
        return self._images()

    def _named(self, order_id: str, names) -> list[str]:
        key = order_id.lower()
        return [n for n in names if key in (p.lower() for p in _order_part(n))]

    def _candidates(self, order_id: str, before: dict) -> list[str]:
        images = self._images()
        odd = self._named(order_id, self._odd)
        if odd:
            raise ImageMissing(f"photo {self.folder / odd[0]} is {self._odd[odd[0]]}, not a photo file: the station "
                               "reads only regular files inside the photo folder; save the photo itself there, then "
                               f"scan {order_id} again")
        named_all = self._named(order_id, images)
        used = self._used
        fresh = {n: sig for n, sig in images.items() if used.get(n) != sig}
        new = [n for n, sig in fresh.items() if before.get(n) != sig and not self._for_other_order(n, order_id)]
        self._watch = set(named_all) | set(new)
        named = sorted(n for n in named_all if n in fresh)
        if not named and new:
            named = [max(new, key=lambda n: fresh[n][1])]
        return named

    def _for_other_order(self, name: str, order_id: str) -> bool:
        """Is ``name`` named for a known order other than ``order_id``? (Never the fallback's photo.)"""
        for part in _order_part(name):
            other = self.order_of(part)
            if other is not None:
                return other.lower() != order_id.lower()
        return False

    def _read_if_complete(self, name: str) -> tuple[bytes, tuple] | None:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=self._dir_fd)
        except PermissionError:
            raise ImageMissing(f"photo {self.folder / name} cannot be read (permission denied); let the station's "
                               "user read the camera app's files, then scan the order again") from None
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise ImageMissing(f"photo {self.folder / name} is a symbolic link, not a photo file: the station "
                                   "reads only regular files inside the photo folder") from None
            return None  # removed or replaced meanwhile: look again at the next poll
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise ImageMissing(f"photo {self.folder / name} is {_kind(st.st_mode)}, not a photo file: the "
                                   "station reads only regular files inside the photo folder")
            if st.st_size > self.max_bytes:
                raise ImageTooLarge(f"photo {self.folder / name} is {st.st_size / 1e6:.0f} MB, more than the "
                                    f"{self.max_bytes / 1e6:.0f} MB limit for one photo; it was not read or kept")
            if st.st_size == 0:
                return None
            data = _read_fd(fd, st.st_size)
            st2 = os.fstat(fd)
        except OSError:
            return None
        finally:
            os.close(fd)
        sig = (st2.st_size, st2.st_mtime_ns)
        if (st.st_size, st.st_mtime_ns) != sig or len(data) != st2.st_size:
            return None  # it grew or was rewritten while being read
        whole = photo_complete(data)
        if whole is None:  # a format that cannot tell: wait until it stops changing
            seen = self._stable_since.get(name)
            if seen is None or seen[0] != sig:
                self._stable_since[name] = (sig, time.perf_counter())
                return None
            whole = time.perf_counter() - seen[1] >= self.settle_s
        return (data, sig) if whole else None

    def _again(self, order_id: str) -> list[tuple[str, bytes, tuple]]:
        """The photos last judged for this order, if still there and unchanged."""
        out = []
        for name in self._last_of.get(order_id.lower(), []):
            read = self._read_if_complete(name)
            if read is None or read[1] != self._used.get(name):
                return []
            out.append((name, *read))
        return out

    def take(self, order_id: str, since: dict, *, timeout_s: float) -> tuple[Photo, ...]:
        start = time.perf_counter()
        deadline = start + timeout_s
        last = None
        while True:
            got = []
            for name in self._candidates(order_id, since):
                read = self._read_if_complete(name)
                if read is None:
                    last = name
                    break
                got.append((name, *read))
            else:
                if got:
                    return self._taken(order_id, got, start)
            if time.perf_counter() >= deadline:
                again = self._again(order_id)
                if again:
                    return self._taken(order_id, again, start, again=True)
                if last is not None and (self.folder / last).exists():
                    raise ImageStillWriting(
                        f"photo {self.folder / last} was still being written {timeout_s:.3g} s after the scan of "
                        f"{order_id} (it keeps changing or is incomplete); check the camera share, then scan the "
                        "order again")
                raise ImageMissing(
                    f"no photo of order {order_id} appeared in {self.folder} within {timeout_s:.3g} s; "
                    "take the photo, then scan the order again")
            time.sleep(self.poll_s)

    def _taken(self, order_id: str, got, start: float, *, again: bool = False) -> tuple[Photo, ...]:
        now = time.perf_counter()
        for name, _, sig in got:
            self._used[name] = sig
        self._last_of[order_id.lower()] = [name for name, _, _ in got]
        return tuple(Photo(data, name, now, now - start, self.folder / name, sig, again) for name, data, sig in got)

    def changed(self, photo: Photo) -> bool:
        """Has the photo's file changed since it was read (so a failed decode is worth retrying)?"""
        if photo.path is None:
            return False
        try:
            st = self._stat(photo.path.name)
        except OSError:
            return False
        return (st.st_size, st.st_mtime_ns) != photo.signature

    def close(self) -> None:
        try:
            os.close(self._dir_fd)
        except OSError:
            pass


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _read_fd(fd: int, size: int) -> bytes:
    """Up to ``size`` + 1 bytes of an open file (the extra byte shows a file that grew meanwhile)."""
    chunks, left = [], size + 1
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class CameraSource:
    """Frames from a camera through ``cv2.VideoCapture``, one per scan, kept as JPEG.

    ``open_capture`` makes the capture object (``cv2.VideoCapture`` unless a test
    gives another); a camera that cannot be opened, stops giving frames or gives
    only black frames raises :class:`~packcheck.errors.CameraError`.
    """

    #: Mean brightness (0..255) below which a frame counts as black.
    BLACK_BELOW = 8.0
    #: Frames dropped before each photo: a camera buffers a few, and they would be old.
    FLUSH_FRAMES = 4

    def __init__(self, index: int, *, open_capture: Callable | None = None, delay_s: float = 0.0,
                 jpeg_quality: int = 92):
        self.index = index
        self.delay_s = delay_s
        self.jpeg_quality = jpeg_quality
        opener = open_capture or cv2.VideoCapture
        try:
            self._cap = _quietly(lambda: opener(index))
            opened = self._cap is not None and self._cap.isOpened()
        except cv2.error as e:
            raise CameraError(f"camera {index} could not be opened ({e}); check it is plugged in") from None
        if not opened:
            raise CameraError(f"camera {index} could not be opened: no such camera, or another program is "
                              "using it; check the cable, try another --camera number, or use --photo-dir")

    def snapshot(self) -> None:
        return None

    def take(self, order_id: str, since: object, *, timeout_s: float) -> tuple[Photo, ...]:
        start = time.perf_counter()
        if self.delay_s:
            time.sleep(self.delay_s)
        # A camera that just woke up gives dark frames while exposure settles: allow it a moment.
        deadline = time.perf_counter() + min(timeout_s, 3.0)
        failures = 0
        brightness = 0.0
        while True:
            for _ in range(self.FLUSH_FRAMES):
                self._cap.grab()
            ok, frame = self._cap.read()
            if not ok or frame is None or frame.size == 0:
                failures += 1
                if failures >= 3:
                    raise CameraError(f"camera {self.index} stopped giving pictures; check its cable, "
                                      "then scan the order again")
            else:
                brightness = float(np.mean(frame))
                if brightness >= self.BLACK_BELOW:
                    break
            if time.perf_counter() >= deadline:
                raise CameraError(f"camera {self.index} gives black pictures (brightness {brightness:.0f} of 255); "
                                  "check the lens cap and the bench light, then scan the order again")
            time.sleep(0.05)
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise CameraError(f"the picture of camera {self.index} could not be saved as JPEG")
        now = time.perf_counter()
        return (Photo(buf.tobytes(), f"camera {self.index}", now, now - start),)

    def changed(self, photo: Photo) -> bool:
        return False

    def close(self) -> None:
        try:
            self._cap.release()
        except Exception:  # noqa: BLE001 - releasing a broken camera must not fail the session end
            pass


def _quietly(fn):
    """Call ``fn`` with OpenCV's own warnings off (it prints one per camera index it cannot open)."""
    try:
        old = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:
        return fn()
    try:
        return fn()
    finally:
        cv2.utils.logging.setLogLevel(old)


# ---------------------------------------------------------------- what a line means
_ORDER_ID_RE = re.compile(r"[^\s\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Command:
    kind: str  # "order" | "override" | "help" | "quit" | "empty" | "malformed"
    order_id: str = ""
    supervisor: str = ""
    reason: str = ""
    problem: str = ""


def parse_line(line: str) -> Command:
    """What one line from the scanner or keyboard asks for.

    >>> parse_line("ORD-1001\\n").order_id
    'ORD-1001'
    >>> c = parse_line("!ok maria customer asked for green")
    >>> c.kind, c.supervisor, c.reason
    ('override', 'maria', 'customer asked for green')
    >>> parse_line("ORD 1001").kind
    'malformed'
    """
    text = line.strip().lstrip("\ufeff")
    if not text:
        return Command("empty")
    words = text.split()
    head = words[0].lower()
    if head in ("!ok", "!override", "override"):
        if len(words) < 3:
            return Command("malformed", problem="an override needs a supervisor and a reason: "
                                                "!ok SUPERVISOR REASON (e.g. !ok maria customer agreed to red)")
        return Command("override", supervisor=words[1], reason=" ".join(words[2:]))
    if head in ("!help", "!h", "!?", "help"):
        return Command("help")
    if head in ("!quit", "!q", "!exit"):
        return Command("quit")
    if text.startswith("!"):
        return Command("malformed", problem=f"unknown command '{words[0]}'; type !help for the commands")
    if len(text) > MAX_ORDER_ID_CHARS:
        return Command("malformed", problem=f"'{text[:40]}...' is {len(text)} characters, too long for an order "
                                            f"id (at most {MAX_ORDER_ID_CHARS}); scan again")
    if not _ORDER_ID_RE.fullmatch(text):
        return Command("malformed", problem=f"{text!r} is not an order id (it has spaces or control "
                                            "characters); scan again")
    return Command("order", order_id=text)


# ---------------------------------------------------------------- the station
@dataclass(frozen=True)
class Outcome:
    """What the station did with one line.

    ``kind``: "waiting" (a scan was accepted and its photo is awaited: only
    listeners hear it, at once), "check" (``verdict`` and ``record`` set),
    "unrecorded" (judged, ``verdict`` set, but the evidence could not be written:
    ``text`` says where and why), "override" (``override`` set), "rejected"
    (unknown order, malformed line, nothing to override, a refused override:
    ``text`` says why), "help", "quit" or "empty". ``order_id``: the order the
    outcome is about, when there is one.
    """

    kind: str
    text: str = ""
    verdict: Verdict | None = None
    record: CheckRecord | None = None
    override: OverrideRecord | None = None
    photo: str | None = None
    timings: tuple[tuple[str, float], ...] = ()  # station stages, seconds
    order_id: str | None = None
    note: str = ""  # e.g. "ord-1001 read as ORD-1001", "no new photo: ORD-1001.jpg judged again"

    @property
    def photo_to_verdict_s(self) -> float | None:
        return dict(self.timings).get("photo_to_verdict")


@dataclass
class Summary:
    """A session's counts, and the boxes that must not ship yet."""

    checks: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    overrides: int = 0
    rescans: int = 0
    rejected: int = 0
    unresolved: list[CheckRecord] = field(default_factory=list)
    #: Orders whose last check could not be recorded: order id -> (status, what went wrong).
    unrecorded: dict[str, tuple[str, str]] = field(default_factory=dict)


class Station:
    """One session at one packing bench: a Checker opened once, a photo source, an evidence store.

    ``listeners`` are called with every :class:`Outcome` (the kiosk page is one),
    and with the "waiting" outcome of each accepted scan before its photo is
    taken. ``supervisors``: who may override (None: nobody; ``!ok`` says how to
    set it up). ``ask_code(prompt)`` returns the code a supervisor typed (None:
    none came).
    """

    def __init__(self, checker: Checker, store: EvidenceStore, source: PhotoSource, *,
                 station: str | None = None, operator: str | None = None, timeout_s: float = 30.0,
                 listeners: tuple[Callable[[Outcome], None], ...] = (), supervisors: Supervisors | None = None,
                 ask_code: Callable[[str], str | None] | None = None, enrol: bool = True,
                 spool: Spool | None = None):
        if not (0 < timeout_s < float("inf")):  # nan too: it would wait forever
            raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
        self.checker = checker
        self.store = store
        self.source = source
        self.station = station
        self.operator = operator
        self.timeout_s = timeout_s
        self.listeners = list(listeners)
        self.supervisors = supervisors
        self.ask_code = ask_code or (lambda prompt: None)
        self.enrol = enrol
        # A shared store (#18): checks it cannot take while it is away wait here, replayed in order.
        self.spool = spool
        self.session = uuid.uuid4().hex[:12]
        self._last: CheckRecord | None = None
        self._last_rejected: str | None = None
        self._overridden: set[int] = set()
        self._latest_by_order: dict[str, CheckRecord] = {}
        self._summary = Summary()
        # photo_reused: every photo this evidence store kept, whichever station took it.
        self._history = PhotoHistory(lambda after: store.photo_signatures(after_check=after), store.photo_bytes,
                                     checker.thresholds.duplicates)
        self._ids: dict[str, str] | None = None  # lower-case order id -> order id, read from orders.csv
        if isinstance(source, FolderSource):
            source.order_of = self.order_id_for

    # -- order ids -----------------------------------------------------------------------
    def _order_ids(self, *, reread: bool = False) -> dict[str, str]:
        if self._ids is None or reread:
            ids: dict[str, str] = {}
            for _, rec in dataset.iter_order_rows(self.checker.root):
                if rec["order_id"]:
                    ids.setdefault(rec["order_id"].lower(), rec["order_id"])
            self._ids = ids
        return self._ids

    def order_id_for(self, text: str) -> str | None:
        """The order id ``text`` names, whatever its case (None: no such order)."""
        return self._order_ids().get(text.lower())

    def _resolve(self, text: str) -> tuple[str | None, str]:
        """(the order id a scan names, a note); None and a "did you mean" when it names none."""
        ids = self._order_ids()
        if text.lower() not in ids:
            ids = self._order_ids(reread=True)  # orders.csv may have grown since the session began
        found = ids.get(text.lower())
        if found is not None:
            return found, "" if found == text else f"'{text}' read as {found}"
        close = difflib.get_close_matches(text.lower(), list(ids), n=3, cutoff=0.75)
        where = f"order '{text}' is not in {self.checker.root / dataset.ORDERS}"
        if close:
            return None, f"{where}; did you mean {' or '.join(ids[c] for c in close)}? Check the barcode and scan again"
        return None, f"{where}; check the barcode and scan again"

    # -- the loop body -----------------------------------------------------------------
    def handle(self, line: str) -> Outcome:
        """Act on one line typed or scanned; never raises for anything a packer can type."""
        scanned_at = time.perf_counter()
        snapshot = self.source.snapshot()  # before anything else: the photo may come any moment
        cmd = parse_line(line)
        if cmd.kind == "order":
            # Whatever comes of this scan, an !ok typed next is not about the order before it.
            self._last, self._last_rejected = None, cmd.order_id
            out = self._check(cmd.order_id, snapshot, scanned_at)
        elif cmd.kind == "override":
            out = self._override(cmd)
        elif cmd.kind == "malformed":
            if not line.strip().startswith("!"):  # a garbled scan is a scan: an !ok next is not about the last order
                self._last, self._last_rejected = None, line.strip()[:40]
            out = Outcome("rejected", cmd.problem)
        elif cmd.kind == "help":
            out = Outcome("help", HELP)
        else:
            out = Outcome(cmd.kind)
        if out.kind == "rejected":
            self._summary.rejected += 1
        self._emit(out)
        return out

    def _emit(self, out: Outcome) -> None:
        for listener in self.listeners:
            try:
                listener(out)
            except Exception:  # noqa: BLE001 - a broken display must not stop the bench
                log.exception("station listener failed")

    def _check(self, scanned: str, snapshot, scanned_at: float) -> Outcome:
        order_id, note = self._resolve(scanned)
        if order_id is None:
            return Outcome("rejected", note, order_id=scanned)
        try:
            order = self.checker.find(order_id)
        except UnknownOrder:
            return Outcome("rejected", f"order '{order_id}' is not in {self.checker.root / 'orders.csv'}; "
                                       "check the barcode and scan again", order_id=order_id)
        if self.station:
            # The bench the photo is taken at decides which empty-bench reference applies.
            order = dataclasses.replace(order, station=self.station)
        timings: dict[str, float] = {}
        photos: tuple[Photo, ...] = ()
        th_version = self.checker.thresholds.version
        extra: dict = {}
        if order.problems:
            verdict = self.checker.check(order, photos=[])
        else:
            rescan = order_id in self._latest_by_order
            self._emit(Outcome("waiting", f"{order_id}: waiting for {'a new ' if rescan else ''}photo"
                                          f" (up to {self.timeout_s:.3g} s"
                                          + ("; then the photo already taken is judged again)" if rescan else ")"),
                               order_id=order_id, note=note))
            verdict = None
            for _ in range(MAX_REREADS + 1):
                remaining = self.timeout_s - (time.perf_counter() - scanned_at)
                try:
                    photos = self.source.take(order_id, snapshot, timeout_s=max(remaining, 0.0))
                except (ImageMissing, ImageStillWriting, ImageTooLarge, CameraError) as e:
                    verdict = error_verdict(order_id, "photo_unreadable", str(e), thresholds_version=th_version)
                    break
                timings["wait_photo"] = max(p.waited_s for p in photos)
                reused = self._used_elsewhere(order_id, photos)
                if reused:
                    verdict = error_verdict(order_id, "photo_of_other_order", reused, thresholds_version=th_version)
                    extra["refused_photos"] = [{"file": p.name, "sha256": hashlib.sha256(p.data).hexdigest()}
                                               for p in photos]
                    photos = ()
                    break
                verdict = self.checker.check(order, photos=[p.data for p in photos])
                if not (verdict.status is Status.ERROR and "photo_unreadable" in verdict.reasons
                        and any(self.source.changed(p) for p in photos)):
                    break
                log.info("photo %s changed after it was read; reading it again", ", ".join(p.name for p in photos))
            if any(p.again for p in photos):
                note = "; ".join(x for x in (note, "no new photo came: the photo already taken was judged again") if x)
        t = time.perf_counter()
        verdict, signatures = self._reuse(order_id, verdict)
        timings["reuse"] = time.perf_counter() - t
        t = time.perf_counter()
        ordered = {sku: self.checker.catalogue.items[sku].listing_images
                   for sku in dict.fromkeys(order.skus) if sku in self.checker.catalogue.items}
        listings = dict(ordered)
        other = looks_like(verdict.checks)
        if other and other[0] not in listings and other[0] in self.checker.catalogue.items:
            # The kiosk and the sheet show what the photo looks like beside the ordered listing.
            listings[other[0]] = self.checker.catalogue.items[other[0]].listing_images[:1]
            extra["looks_like"] = {"sku": other[0], "kind": other[1],
                                   "label": self.checker.catalogue.items[other[0]].label}
        extra.update({
            "photo_files": [p.name for p in photos],
            "ordered_lab": self._ordered_colours(order.skus),
            "ordered": {sku: self.checker.catalogue.items[sku].label for sku in ordered},
            "timings_s": {k: round(v, 4) for k, v in verdict.timings},
        })
        if note:
            extra["note"] = note
        if photos:
            extra["wait_photo_s"] = round(timings["wait_photo"], 4)
            # Photo complete to verdict known (before recording): the per-station summary's median.
            extra["photo_to_verdict_s"] = round(time.perf_counter() - max(p.complete_at for p in photos), 4)
        kept = dict(photos=[PhotoInput(p.data, p.name) for p in photos], listing_images=listings,
                    station=self.station or order.station, operator=self.operator, session=self.session,
                    extra=extra, photo_signatures=signatures)
        try:
            if self.spool is not None:
                record = self.spool.record(self.store, verdict, **kept).shown()
            else:
                record = self.store.record_check(verdict, **kept)
        except (PackcheckError, sqlite3.Error, OSError) as e:
            # A full disk or a lost share (with no spool to wait in): the packer still sees the
            # verdict, and the order stays unresolved (evidence is missing) until a scan is recorded.
            problem = (f"order {order_id}: {verdict.status.value}, but this check could not be recorded ({e}); "
                       f"the evidence database is {self.store.where}: free some space or fix it, then scan "
                       f"{order_id} again")
            self._summary.unrecorded[order_id] = (verdict.status.value, problem)
            return Outcome("unrecorded", problem, verdict=verdict, photo=", ".join(p.name for p in photos) or None,
                           timings=tuple(timings.items()))
        done = time.perf_counter()
        timings["evidence"] = done - t
        if photos:
            timings["photo_to_verdict"] = done - max(p.complete_at for p in photos)
        timings["scan_to_verdict"] = done - scanned_at
        self._note(record)
        self._maybe_enrol(order, verdict, photos)
        return Outcome("check", verdict.message, verdict=verdict, record=record,
                       photo=", ".join(p.name for p in photos) or None, timings=tuple(timings.items()),
                       order_id=order_id, note=note)

    def _used_elsewhere(self, order_id: str, photos: tuple[Photo, ...]) -> str | None:
        """Why the photos cannot be this order's: the same bytes are another order's recorded photo."""
        for p in photos:
            try:
                recorded = self.store.photo_orders(hashlib.sha256(p.data).hexdigest())
            except DatabaseUnavailable as e:  # the shared store is away: judge on, without this look-up
                log.warning("photo of %s not looked up in the stored photos: %s", order_id, e)
                return None
            others = [(o, c) for o, c in recorded if o != order_id]
            if others:
                o, c = others[0]
                return (f"photo {p.name} was already used for order {o} (check #{c}): one photo proves one parcel "
                        f"only; take a new photo of {order_id}, then scan it again")
        return None

    def _reuse(self, order_id: str, verdict: Verdict) -> tuple[Verdict, list]:
        """``photo_reused`` when a judged photo repeats another order's in the evidence store; and each
        photo's signature, to keep with the check."""
        found, signatures = [], []
        for sha in verdict.photos:
            got = self.checker.copies.recent(sha)
            signatures.append(got.signature if got else None)
            if got is not None:
                try:
                    hit = self._history.reuse(order_id, sha, got)
                except DatabaseUnavailable as e:  # the shared store is away: judge on, without this look-up
                    log.warning("photo of %s not compared with the stored photos: %s", order_id, e)
                    continue
                if hit is not None:
                    found.append(hit)
        return with_checks(verdict, found), signatures

    def _maybe_enrol(self, order, verdict, photos) -> None:
        """A clear PASS of a one-SKU order by its listing makes its photo a reference of the SKU.

        Only one photo of one SKU (a photo of several products is no reference of
        either); the rules are :func:`~packcheck.apps.enrolment.auto_enrol_reason`'s.
        A failure is logged, never the packer's problem.
        """
        skus = set(order.skus)
        if not self.enrol or len(skus) != 1 or len(photos) != 1:
            return
        sku = next(iter(skus))
        if enrolment.auto_enrol_reason(verdict, sku, self.checker) is not None:
            return
        try:
            done = enrolment.enrol(self.checker, sku, photos[0].data, confirmed_by=f"station {self.station or '-'}",
                                   source="station_pass", order_id=order.order_id, name=photos[0].name)
        except PackcheckError as e:
            log.warning("photo of %s not enrolled as a reference: %s", order.order_id, e)
            return
        if done.reference is not None:
            log.info("photo of %s enrolled as reference %s of %s", order.order_id, done.reference.ref_id, sku)

    def _ordered_colours(self, skus) -> dict[str, list[float]]:
        index = self.checker.index
        out = {}
        for sku in dict.fromkeys(skus):
            rows = index.rows_of(sku)
            if rows:
                out[sku] = list(cie_lab(index.labs[rows[0]]))
        return out

    def _note(self, record: CheckRecord) -> None:
        s = self._summary
        s.unrecorded.pop(record.order_id, None)
        s.checks += 1
        s.by_status[record.status.value] = s.by_status.get(record.status.value, 0) + 1
        if record.order_id in self._latest_by_order:
            s.rescans += 1
        self._latest_by_order[record.order_id] = record
        self._last, self._last_rejected = record, None

    def _override(self, cmd: Command) -> Outcome:
        last = self._last
        if last is None:
            if self._last_rejected:
                return Outcome("rejected", f"nothing to override: the last scan ({self._last_rejected}) was not "
                                           "checked; scan the order first")
            return Outcome("rejected", "nothing to override: no order has been checked in this session")
        what = f"order {last.order_id} (check #{last.id})"
        if last.status is Status.PASS:
            return Outcome("rejected", f"nothing to override: the last check (order {last.order_id}) passed")
        if last.id in self._overridden:
            return Outcome("rejected", f"{what} is already overridden")
        if last.id == 0:
            return Outcome("rejected", f"order {last.order_id} waits in the local spool for the evidence database; "
                                       "an override needs its recorded check: scan it again once the database "
                                       "is back")
        if self.supervisors is None:
            return Outcome("rejected", "overrides need a supervisors file: make one with 'packcheck supervisors add "
                                       "NAME' and start the station with --supervisors FILE")
        no_evidence = last.status is Status.ERROR
        code_word = cmd.reason.split()[0]
        if no_evidence and code_word not in NO_EVIDENCE_REASONS:
            return Outcome("rejected", f"{what} is an ERROR: no photo was judged, so it ships only as \"shipped "
                                       "without evidence\" with one of these reasons: "
                                       f"{', '.join(NO_EVIDENCE_REASONS)} (e.g. !ok {cmd.supervisor} "
                                       f"{next(iter(NO_EVIDENCE_REASONS))})")
        if cmd.supervisor not in self.supervisors:
            self._refused(last, cmd.supervisor, "not a supervisor")
            return Outcome("rejected", f"'{cmd.supervisor}' is not in the supervisors file {self.supervisors.path}: "
                                       f"override of {what} refused (recorded)")
        code = self.ask_code(f"code for supervisor {cmd.supervisor}: ")
        if not self.supervisors.verify(cmd.supervisor, code):
            self._refused(last, cmd.supervisor, "no code given" if not code else "wrong code")
            return Outcome("rejected", f"{'no' if not code else 'wrong'} code for supervisor {cmd.supervisor}: "
                                       f"override of {what} refused (recorded)")
        rec = self.store.record_override(last.id, supervisor=cmd.supervisor, reason=cmd.reason,
                                         station=self.station or last.station, operator=self.operator,
                                         authenticated=True, without_evidence=no_evidence,
                                         reason_code=code_word if no_evidence else None)
        self._overridden.add(last.id)
        self._summary.overrides += 1
        overrides = f"{last.status.value} ({', '.join(last.reasons) or 'no reason'}: {last.message})"
        tail = "SHIPPED WITHOUT EVIDENCE; the box may ship" if no_evidence else "the box may ship"
        return Outcome("override", f"order {last.order_id}: {overrides} overridden by {rec.supervisor} (code "
                                   f"checked): {rec.reason} (check #{last.id}); {tail}",
                       record=last, override=rec, order_id=last.order_id)

    def _refused(self, last: CheckRecord, supervisor: str, why: str) -> None:
        log.warning("override of check #%d (order %s) refused: %s for supervisor %r", last.id, last.order_id, why,
                    supervisor)
        self.store.record_override_refusal(last.id, supervisor=supervisor, why=why,
                                           station=self.station or last.station, operator=self.operator)

    # -- the end -----------------------------------------------------------------------
    def summary(self) -> Summary:
        s = dataclasses.replace(self._summary, by_status=dict(self._summary.by_status),
                                unrecorded=dict(self._summary.unrecorded))
        s.unresolved = [r for r in self._latest_by_order.values()
                        if r.status is not Status.PASS and r.id not in self._overridden]
        return s

    def close(self) -> None:
        self.source.close()


def run_lines(station: Station, lines, on_outcome: Callable[[Outcome], None]) -> Summary:
    """Feed ``lines`` (an iterable of text, e.g. stdin) to ``station`` until it ends or says quit."""
    for line in lines:
        out = station.handle(line)
        on_outcome(out)
        if out.kind == "quit":
            break
    return station.summary()


__all__ = ["Station", "FolderSource", "CameraSource", "Outcome", "Summary", "Photo", "parse_line",
           "photo_complete", "HELP", "NO_EVIDENCE_REASONS", "run_lines"]

"""The packing station: scan an order, take its photo, judge it, keep the evidence.

A packer scans the order barcode (a USB scanner types the order id and Enter),
puts the items on the bench and the camera takes a photo. :class:`Station`
turns each line typed into an :class:`Outcome`:

* an order id: the photo is taken from a :class:`FolderSource` (a folder a
  camera app writes into) or a :class:`CameraSource` (OpenCV), judged by the
  :class:`~packcheck.apps.checker.Checker` opened once for the session, and recorded
  in the :class:`~packcheck.apps.evidence.store.EvidenceStore`. Scanning an order again
  (after fixing the box) records a new check linked to the previous one.
* ``!ok SUPERVISOR REASON...`` (or ``override SUPERVISOR REASON...``): a
  supervisor lets the last checked box ship although it was not a PASS.
* ``!help``, ``!quit``.

Photos still being written are never judged: a file whose size or time changes
while it is read, or whose format says it is incomplete (a JPEG without its
end-of-image marker after the image data, a PNG without IEND), is read again
at the next poll, until the timeout. This module prints nothing; the CLI
(:mod:`packcheck.cli.station`) shows the outcomes.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np

from ..core.imaging import jpeg_end
from ..core.verdict import Status, Verdict, error_verdict
from ..errors import CameraError, ImageMissing, ImageStillWriting, PackcheckError, UnknownOrder
from . import enrolment
from .checker import Checker
from .duplicates import PhotoHistory, with_checks
from .evidence.backends import DatabaseUnavailable
from .evidence.spool import Spool
from .evidence.store import CheckRecord, EvidenceStore, OverrideRecord, PhotoInput

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

HELP = """\
Scan an order barcode (or type the order id and Enter) to check it.
  !ok SUPERVISOR REASON...    let the last checked box ship anyway (also: override SUPERVISOR REASON...)
  !help                       this text
  !quit                       end the session (as does Ctrl-D)
After a FLAG: fix the box and scan the order again, or a supervisor types !ok."""


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


class PhotoSource(Protocol):
    def snapshot(self) -> object: ...

    def take(self, order_id: str, since: object, *, timeout_s: float) -> tuple[Photo, ...]: ...

    def changed(self, photo: Photo) -> bool: ...

    def close(self) -> None: ...


class FolderSource:
    """Photos from a folder a camera app writes into.

    For a scan of ``ORDER_ID`` the photos are ``FOLDER/ORDER_ID.*`` and
    ``FOLDER/ORDER_ID_*.*`` (several views of one order) when such files exist
    and have not been judged yet in their current state; otherwise the newest
    image that appears (or changes) after the scan.
    """

    def __init__(self, folder: str | os.PathLike, *, poll_s: float = POLL_S, settle_s: float = SETTLE_S):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ImageMissing(f"photo folder {self.folder} does not exist; create it or point --photo-dir "
                               "at the folder the camera app saves into")
        self.poll_s = poll_s
        self.settle_s = settle_s
        # Files are keyed by name (str): with thousands of photos, Path objects cost
        # more than the polling itself.
        self._used: dict[str, tuple] = {}
        self._stable_since: dict[Path, tuple[tuple, float]] = {}
        self._listing: dict[str, tuple[int, int]] = {}
        self._listing_key: tuple[int, float] | None = None  # (folder mtime_ns, when listed)
        self._watch: set[str] = set()

    def _images(self) -> dict[str, tuple[int, int]]:
        """Every image in the folder by name, with its (size, mtime_ns).

        Listing a camera folder of a few thousand photos costs tens of ms, too much
        every poll: the folder is listed again only when its own mtime changed (a
        file was created, renamed or removed) or a second has passed; in between
        only the files of interest (the order's, and new ones) are looked at.
        """
        now = time.perf_counter()
        try:
            folder_mtime = os.stat(self.folder).st_mtime_ns  # before listing: a file made meanwhile is seen next poll
        except OSError as e:
            raise ImageMissing(f"photo folder {self.folder} cannot be read ({e.strerror or e})") from None
        key = self._listing_key
        if key is None or key[0] != folder_mtime or now - key[1] >= FULL_LIST_S:
            self._listing = self._list()
            self._listing_key = (folder_mtime, now)
        else:
            for name in self._watch:
                try:
                    st = os.stat(self.folder / name)
                    self._listing[name] = (st.st_size, st.st_mtime_ns)
                except OSError:
                    self._listing.pop(name, None)
        return dict(self._listing)

    def _list(self) -> dict[str, tuple[int, int]]:
        found = {}
        try:
            entries = list(os.scandir(self.folder))
        except OSError as e:
            raise ImageMissing(f"photo folder {self.folder} cannot be read ({e.strerror or e})") from None
        for e in entries:
            if e.name.startswith(".") or not e.name.lower().endswith(IMAGE_SUFFIXES):
                continue
            try:
                if e.is_file():
                    st = e.stat()
                    found[e.name] = (st.st_size, st.st_mtime_ns)
            except OSError:
                continue  # removed while listing
        return found

    def snapshot(self) -> dict[str, tuple[int, int]]:
        """The folder at scan time: photos already there are not this order's (unless named after it)."""
        return self._images()

    def _candidates(self, order_id: str, before: dict) -> list[Path]:
        images = self._images()
        views = order_id + "_"
        named_all = [n for n in images if n.startswith(order_id)
                     and ((stem := n[:n.rfind(".")]) == order_id or stem.startswith(views))]
        used = self._used
        fresh = {n: sig for n, sig in images.items() if used.get(n) != sig}
        new = [n for n, sig in fresh.items() if before.get(n) != sig]
        self._watch = set(named_all) | set(new)
        named = sorted(n for n in named_all if n in fresh)
        if not named and new:
            named = [max(new, key=lambda n: fresh[n][1])]
        return [self.folder / n for n in named]

    def _read_if_complete(self, path: Path) -> tuple[bytes, tuple] | None:
        try:
            st = path.stat()
            if st.st_size == 0:
                return None
            data = path.read_bytes()
            st2 = path.stat()
        except PermissionError:
            raise ImageMissing(f"photo {path} cannot be read (permission denied); let the station's user read "
                               "the camera app's files, then scan the order again") from None
        except OSError:
            return None  # removed or replaced while being read: look again at the next poll
        sig = (st2.st_size, st2.st_mtime_ns)
        if (st.st_size, st.st_mtime_ns) != sig or len(data) != st2.st_size:
            return None  # it grew or was rewritten while being read
        whole = photo_complete(data)
        if whole is None:  # a format that cannot tell: wait until it stops changing
            seen = self._stable_since.get(path)
            if seen is None or seen[0] != sig:
                self._stable_since[path] = (sig, time.perf_counter())
                return None
            whole = time.perf_counter() - seen[1] >= self.settle_s
        return (data, sig) if whole else None

    def take(self, order_id: str, since: dict, *, timeout_s: float) -> tuple[Photo, ...]:
        start = time.perf_counter()
        deadline = start + timeout_s
        last = None
        while True:
            got = []
            for path in self._candidates(order_id, since):
                read = self._read_if_complete(path)
                if read is None:
                    last = path
                    break
                got.append((path, *read))
            else:
                if got:
                    now = time.perf_counter()
                    for path, _, sig in got:
                        self._used[path.name] = sig
                    return tuple(Photo(data, path.name, now, now - start, path, sig) for path, data, sig in got)
            if time.perf_counter() >= deadline:
                if last is not None and last.exists():
                    raise ImageStillWriting(
                        f"photo {last} was still being written {timeout_s:.3g} s after the scan of {order_id} "
                        "(it keeps changing or is incomplete); check the camera share, then scan the order again")
                raise ImageMissing(
                    f"no photo of order {order_id} appeared in {self.folder} within {timeout_s:.3g} s; "
                    "take the photo, then scan the order again")
            time.sleep(self.poll_s)

    def changed(self, photo: Photo) -> bool:
        """Has the photo's file changed since it was read (so a failed decode is worth retrying)?"""
        if photo.path is None:
            return False
        try:
            st = photo.path.stat()
        except OSError:
            return False
        return (st.st_size, st.st_mtime_ns) != photo.signature

    def close(self) -> None:
        pass


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

    ``kind``: "check" (``verdict`` and ``record`` set), "override" (``override``
    set), "rejected" (unknown order, malformed line, nothing to override: ``text``
    says why), "help", "quit" or "empty".
    """

    kind: str
    text: str = ""
    verdict: Verdict | None = None
    record: CheckRecord | None = None
    override: OverrideRecord | None = None
    photo: str | None = None
    timings: tuple[tuple[str, float], ...] = ()  # station stages, seconds

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


class Station:
    """One session at one packing bench: a Checker opened once, a photo source, an evidence store.

    ``listeners`` are called with every :class:`Outcome` (the kiosk page is one).
    """

    def __init__(self, checker: Checker, store: EvidenceStore, source: PhotoSource, *,
                 station: str | None = None, operator: str | None = None, timeout_s: float = 30.0,
                 listeners: tuple[Callable[[Outcome], None], ...] = (), enrol: bool = True,
                 spool: Spool | None = None):
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        self.checker = checker
        self.store = store
        self.source = source
        self.station = station
        self.operator = operator
        self.timeout_s = timeout_s
        self.listeners = list(listeners)
        self.enrol = enrol
        # A shared store (#18): checks it cannot take while it is away wait here, replayed in order.
        self.spool = spool
        self.session = uuid.uuid4().hex[:12]
        self._last: CheckRecord | None = None
        self._overridden: set[int] = set()
        self._latest_by_order: dict[str, CheckRecord] = {}
        self._summary = Summary()
        # photo_reused: every photo this evidence store kept, whichever station took it.
        self._history = PhotoHistory(lambda after: store.photo_signatures(after_check=after), store.photo_bytes,
                                     checker.thresholds.duplicates)

    # -- the loop body -----------------------------------------------------------------
    def handle(self, line: str) -> Outcome:
        """Act on one line typed or scanned; never raises for anything a packer can type."""
        scanned_at = time.perf_counter()
        snapshot = self.source.snapshot()  # before anything else: the photo may come any moment
        cmd = parse_line(line)
        if cmd.kind == "order":
            out = self._check(cmd.order_id, snapshot, scanned_at)
        elif cmd.kind == "override":
            out = self._override(cmd)
        elif cmd.kind == "malformed":
            out = Outcome("rejected", cmd.problem)
        elif cmd.kind == "help":
            out = Outcome("help", HELP)
        else:
            out = Outcome(cmd.kind)
        if out.kind == "rejected":
            self._summary.rejected += 1
        for listener in self.listeners:
            try:
                listener(out)
            except Exception:  # noqa: BLE001 - a broken display must not stop the bench
                log.exception("station listener failed")
        return out

    def _check(self, order_id: str, snapshot, scanned_at: float) -> Outcome:
        try:
            order = self.checker.find(order_id)
        except UnknownOrder:
            return Outcome("rejected", f"order '{order_id}' is not in {self.checker.root / 'orders.csv'}; "
                                       "check the barcode and scan again")
        if self.station:
            # The bench the photo is taken at decides which empty-bench reference applies.
            order = dataclasses.replace(order, station=self.station)
        timings: dict[str, float] = {}
        photos: tuple[Photo, ...] = ()
        th_version = self.checker.thresholds.version
        if order.problems:
            verdict = self.checker.check(order, photos=[])
        else:
            verdict = None
            for _ in range(MAX_REREADS + 1):
                remaining = self.timeout_s - (time.perf_counter() - scanned_at)
                try:
                    photos = self.source.take(order_id, snapshot, timeout_s=max(remaining, 0.0))
                except (ImageMissing, ImageStillWriting, CameraError) as e:
                    verdict = error_verdict(order_id, "photo_unreadable", str(e), thresholds_version=th_version)
                    break
                timings["wait_photo"] = max(p.waited_s for p in photos)
                verdict = self.checker.check(order, photos=[p.data for p in photos])
                if not (verdict.status is Status.ERROR and "photo_unreadable" in verdict.reasons
                        and any(self.source.changed(p) for p in photos)):
                    break
                log.info("photo %s changed after it was read; reading it again", ", ".join(p.name for p in photos))
        t = time.perf_counter()
        verdict, signatures = self._reuse(order_id, verdict)
        timings["reuse"] = time.perf_counter() - t
        t = time.perf_counter()
        listings = {sku: self.checker.catalogue.items[sku].listing_images
                    for sku in dict.fromkeys(order.skus) if sku in self.checker.catalogue.items}
        extra = {
            "photo_files": [p.name for p in photos],
            "ordered_lab": self._ordered_colours(order.skus),
            "ordered": {sku: self.checker.catalogue.items[sku].label for sku in listings},
            "timings_s": {k: round(v, 4) for k, v in verdict.timings},
        }
        if photos:
            extra["wait_photo_s"] = round(timings["wait_photo"], 4)
            # Photo complete to verdict known (before recording): the per-station summary's median.
            extra["photo_to_verdict_s"] = round(time.perf_counter() - max(p.complete_at for p in photos), 4)
        kept = dict(photos=[PhotoInput(p.data, p.name) for p in photos], listing_images=listings,
                    station=self.station or order.station, operator=self.operator, session=self.session,
                    extra=extra, photo_signatures=signatures)
        if self.spool is not None:
            record = self.spool.record(self.store, verdict, **kept).shown()
        else:
            record = self.store.record_check(verdict, **kept)
        done = time.perf_counter()
        timings["evidence"] = done - t
        if photos:
            timings["photo_to_verdict"] = done - max(p.complete_at for p in photos)
        timings["scan_to_verdict"] = done - scanned_at
        self._note(record)
        self._maybe_enrol(order, verdict, photos)
        return Outcome("check", verdict.message, verdict=verdict, record=record,
                       photo=", ".join(p.name for p in photos) or None, timings=tuple(timings.items()))

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
                out[sku] = [round(float(v), 1) for v in index.labs[rows[0]]]
        return out

    def _note(self, record: CheckRecord) -> None:
        s = self._summary
        s.checks += 1
        s.by_status[record.status.value] = s.by_status.get(record.status.value, 0) + 1
        if record.order_id in self._latest_by_order:
            s.rescans += 1
        self._latest_by_order[record.order_id] = record
        self._last = record

    def _override(self, cmd: Command) -> Outcome:
        last = self._last
        if last is None:
            return Outcome("rejected", "nothing to override: no order has been checked in this session")
        if last.status is Status.PASS:
            return Outcome("rejected", f"nothing to override: the last check (order {last.order_id}) passed")
        if last.id in self._overridden:
            return Outcome("rejected", f"order {last.order_id} (check #{last.id}) is already overridden")
        if last.id == 0:
            return Outcome("rejected", f"order {last.order_id} waits in the local spool for the evidence database; "
                                       "an override needs its recorded check: scan it again once the database "
                                       "is back")
        rec = self.store.record_override(last.id, supervisor=cmd.supervisor, reason=cmd.reason,
                                         station=self.station or last.station, operator=self.operator)
        self._overridden.add(last.id)
        self._summary.overrides += 1
        return Outcome("override", f"order {last.order_id}: {last.status.value} overridden by {rec.supervisor}: "
                                   f"{rec.reason} (check #{last.id}); the box may ship",
                       record=last, override=rec)

    # -- the end -----------------------------------------------------------------------
    def summary(self) -> Summary:
        s = dataclasses.replace(self._summary, by_status=dict(self._summary.by_status))
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
           "photo_complete", "HELP", "run_lines"]

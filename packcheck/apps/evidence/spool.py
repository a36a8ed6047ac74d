"""A station's local queue for the checks a shared evidence store could not take yet.

When the PostgreSQL server restarts or the network drops, a station keeps judging: each check it
cannot record goes into a small spool folder on the station's own disk (one file per check,
written atomically, oldest first by name) with its photos' bytes, and is replayed, in order, as
soon as the store answers again. Every check carries a ``client_id`` made when it was judged, so a
replay of a check whose first commit did reach the database (only the answer was lost) is kept
once, never twice.

The spool files are the station's own (``pickle``, never read from anywhere else): keep the folder
on the station's local disk, readable by the station's account only.
"""
from __future__ import annotations

import logging
import os
import pickle
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...util.fsio import TEMP_PREFIX, atomic_write, sweep_temp_files
from .backends import DatabaseUnavailable
from .store import CheckRecord, EvidenceStore

log = logging.getLogger(__name__)
_SUFFIX = ".check"


def _pending(call: dict) -> CheckRecord:
    """A spooled check as a CheckRecord with id 0 (not in the store yet: no id, no chain position)."""
    from .store import PhotoInput

    v = call["verdict"]
    photos = [p if isinstance(p, PhotoInput) else PhotoInput(bytes(p)) for p in call.get("photos") or ()]
    return CheckRecord(
        id=0, order_id=v.order_id, checked_at=call["checked_at"], station=call.get("station"),
        operator=call.get("operator"), session=call.get("session"), status=v.status, reasons=tuple(v.reasons),
        message=v.message, thresholds_version=v.thresholds_version, photo_sha256=tuple(v.photos),
        previous_check_id=None, verdict=v.to_dict(),
        extra={**dict(call.get("extra") or {}), "spooled": call["client_id"], "photo_count": len(photos)})


@dataclass(frozen=True)
class Recorded:
    """What became of one check: kept in the store now (``record``), or spooled for later (``spooled``)."""

    client_id: str
    record: CheckRecord | None
    spooled: bool
    pending: CheckRecord | None = None  # a spooled check, as it will be recorded (id 0 until then)

    def shown(self) -> CheckRecord:
        """The record to show and remember: the stored one, or for a spooled check a stand-in with id 0."""
        if self.record is not None:
            return self.record
        return self.pending


class Spool:
    """Checks waiting for the shared store, in a local folder (created if needed)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        sweep_temp_files(self.folder)
        self._n = max((int(p.name.split("-", 1)[0]) for p in self._files()), default=0)

    def _files(self) -> list[Path]:
        return sorted(p for p in self.folder.glob(f"*{_SUFFIX}") if not p.name.startswith(TEMP_PREFIX))

    def __len__(self) -> int:
        return len(self._files())

    def put(self, kwargs: dict[str, Any]) -> Path:
        """Keep one ``record_check`` call (with its ``client_id``) until :meth:`flush` replays it."""
        self._n += 1
        path = self.folder / f"{self._n:012d}-{kwargs['client_id']}{_SUFFIX}"
        atomic_write(path, lambda f: pickle.dump(kwargs, f, protocol=pickle.HIGHEST_PROTOCOL), binary=True)
        return path

    def flush(self, store: EvidenceStore) -> int:
        """Replay the spooled checks into ``store``, oldest first; stops (raising nothing) at the first
        that the store still cannot take. Returns how many were kept now."""
        done = 0
        for path in self._files():
            with open(path, "rb") as f:
                kwargs = pickle.load(f)
            try:
                store.record_check(**kwargs)
            except DatabaseUnavailable:
                return done
            path.unlink()
            done += 1
        return done

    def record(self, store: EvidenceStore, verdict, **kwargs) -> Recorded:
        """``store.record_check(verdict, **kwargs)``, after the checks already waiting (order is kept); when
        the store cannot be reached, the check is spooled and the station goes on."""
        call = {"verdict": verdict, **kwargs}
        call.setdefault("client_id", uuid.uuid4().hex)
        call.setdefault("checked_at", None)
        if call["checked_at"] is None:  # the time it was judged, not the time it reached the store
            from .store import utc_now

            call["checked_at"] = utc_now()
        if len(self):
            self.flush(store)
        if not len(self):
            try:
                return Recorded(call["client_id"], store.record_check(**call), False)
            except DatabaseUnavailable as e:  # said once per outage: the checks after it join the queue
                log.warning("evidence store unavailable, spooling checks in %s until it answers: %s", self.folder, e)
        self.put(call)
        return Recorded(call["client_id"], None, True, _pending(call))

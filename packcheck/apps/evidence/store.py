"""The evidence store: every station check kept in SQLite, photos kept by content.

A seller answering a "not as described" claim needs the photo of what was
shipped, the listing of what was ordered, and when. :class:`EvidenceStore`
keeps exactly that:

* ``evidence.sqlite`` (WAL journal, ``synchronous=FULL``): one row per check
  and per supervisor override. Each check is written in one ``BEGIN IMMEDIATE``
  transaction, so a crash at any moment leaves every committed check whole and
  no half check; two processes writing one database wait for each other
  (``busy_timeout``) instead of failing or losing a row.
* ``photos/ab/abcdef....jpg`` beside the database: the packing photos *and the
  listing images at check time*, named by the SHA-256 of their bytes. A file is
  written under a temporary name, fsynced, then linked into place, so a name
  never holds half a file and an existing file is never overwritten. Because
  listing images are copied when the order is checked, a bundle made after the
  catalogue changed still shows what the listing looked like then.

:mod:`~packcheck.apps.evidence.sheet` draws a check's side-by-side sheet and
:mod:`~packcheck.apps.evidence.bundle` writes and verifies the appeal zip. No
click, no printing.
"""
from __future__ import annotations

import dataclasses
import hashlib
import heapq
import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from ...core.verdict import Status, Verdict
from ...errors import PackcheckError
from ...util.fsio import TEMP_PREFIX, atomic_write, sweep_temp_files
from ...util.sqlite import check_database_path
from . import chain
from .backends import DatabaseUnavailable, SqliteBackend, is_url, open_backend
from .keys import Signer, verify_signature

log = logging.getLogger(__name__)

#: Bumped when the tables change (a step is added to :data:`_MIGRATIONS`); a database from a newer
#: packcheck is refused, an older one is upgraded when opened.
SCHEMA_VERSION = 4
#: Folder, beside a SQLite database, holding the content-addressed image files (a PostgreSQL store
#: is given its photo folder: ``--photos-dir`` / ``PACKCHECK_PHOTOS``).
BLOB_DIR = "photos"
#: The environment variable naming the photo folder when ``--photos-dir`` is not given.
PHOTOS_ENV = "PACKCHECK_PHOTOS"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS checks (
    id                 {serial},
    order_id           TEXT NOT NULL,
    checked_at         TEXT NOT NULL,   -- UTC, ISO 8601, e.g. 2026-11-26T10:33:51.123Z
    station            TEXT,
    operator           TEXT,
    session            TEXT,            -- one id per station process
    status             TEXT NOT NULL CHECK (status IN ('PASS', 'REVIEW', 'FLAG', 'ERROR')),
    reasons            TEXT NOT NULL,   -- JSON list of reason codes
    message            TEXT NOT NULL,   -- the verdict in plain words
    thresholds_version TEXT NOT NULL,
    photo_sha256       TEXT NOT NULL,   -- JSON list, one per photo judged
    previous_check_id  BIGINT REFERENCES checks(id),  -- the order's check before this one (rescan)
    verdict_json       TEXT NOT NULL,   -- Verdict.to_dict(): every check, score, limit and timing
    extra_json         TEXT NOT NULL    -- station facts: photo file names, colours, stage timings
);
CREATE INDEX IF NOT EXISTS checks_by_order ON checks (order_id, id);
CREATE INDEX IF NOT EXISTS checks_by_time ON checks (checked_at);
CREATE TABLE IF NOT EXISTS check_files (
    check_id  BIGINT NOT NULL REFERENCES checks(id),
    role      TEXT NOT NULL CHECK (role IN ('photo', 'listing')),
    position  INTEGER NOT NULL,
    sku       TEXT,                     -- listing images: whose listing
    sha256    TEXT NOT NULL,
    ext       TEXT NOT NULL,            -- the file is photos/<sha256[:2]>/<sha256><ext>
    size      BIGINT NOT NULL,
    source    TEXT,                     -- where it came from (photo file name, listing path)
    PRIMARY KEY (check_id, role, position)
);
CREATE TABLE IF NOT EXISTS overrides (
    id            {serial},
    check_id      BIGINT NOT NULL REFERENCES checks(id),
    overridden_at TEXT NOT NULL,
    supervisor    TEXT NOT NULL,
    reason        TEXT NOT NULL,
    station       TEXT,
    operator      TEXT
);
CREATE INDEX IF NOT EXISTS overrides_by_check ON overrides (check_id);
"""
#: The schema's later versions, as steps from the one before: a new database runs every step, an
#: older one the steps it lacks. SQLite and PostgreSQL run the same steps (:mod:`.backends` turns
#: ``{serial}`` and ``{bytes}`` into each one's type); each step is noted in ``schema_migrations``
#: (SQLite also keeps ``PRAGMA user_version``, which older packchecks read).
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 2: the evidence chain (see chain.py) on checks and overrides; the photos' perceptual hashes.
    2: tuple(f"ALTER TABLE {table} ADD COLUMN {column}" for table in ("checks", "overrides") for column in (
        "chain_seq BIGINT",  # place in the one chain of checks and overrides: 1, 2, 3 ...
        "prev_hash TEXT",  # row_hash of the row at chain_seq - 1 (64 zeros for the first)
        "row_hash TEXT",  # SHA-256 of the row's canonical content (chain.canonical)
        "row_sig TEXT",  # the site key's Ed25519 signature of row_hash, base64 (NULL: no key)
        "signed_by TEXT",  # the signing key's fingerprint
    )) + (
        "CREATE UNIQUE INDEX checks_by_chain ON checks (chain_seq)",
        "CREATE UNIQUE INDEX overrides_by_chain ON overrides (chain_seq)",
        """CREATE TABLE photo_hashes (
            check_id  BIGINT NOT NULL REFERENCES checks(id),
            position  INTEGER NOT NULL,          -- as check_files.position of the photo
            order_id  TEXT NOT NULL,
            sha256    TEXT NOT NULL,
            phash     BIGINT NOT NULL,           -- the whole frame's 64-bit pHash (as a signed integer)
            signature {bytes} NOT NULL,             -- core.duplicates.PhotoSignature.to_bytes()
            PRIMARY KEY (check_id, position)
        )""",
        "CREATE INDEX photo_hashes_by_sha ON photo_hashes (sha256)",
        "CREATE INDEX photo_hashes_by_phash ON photo_hashes (phash)",
    ),
    # 3: a shared store (#18): the versions applied, the chain's head (locked by each append; a deleted
    # tail shows against it), and look-ups by station.
    3: (
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
        """CREATE TABLE chain_head (
            id       INTEGER PRIMARY KEY CHECK (id = 1),
            seq      BIGINT NOT NULL,            -- chain_seq of the newest row in the chain
            row_hash TEXT NOT NULL               -- its row_hash
        )""",
        "CREATE INDEX checks_by_station ON checks (station, id)",
        # The station's own id of a check (spool.py): a check replayed after an outage is kept once.
        "ALTER TABLE checks ADD COLUMN client_id TEXT",
        "CREATE UNIQUE INDEX checks_by_client_id ON checks (client_id)",
    ),
    # 4: supervisors with codes (#14 at the station, #16): an override says whether the supervisor's code
    # was checked and whether the box shipped without evidence (an ERROR, no photo judged, with a reason
    # from a fixed list); refused attempts (unknown name, wrong or missing code) are kept too; photos are
    # looked up by their bytes (a photo proves one order only). The columns take no DEFAULT: NULL in the
    # rows before them (read as False / none), they leave those rows' chain hashes as they were, and every
    # override recorded from now on writes them, so its hash covers them (chain.canonical).
    # A database of the station work's own schema 2 (these columns and tables, no chain) has them
    # already: its ALTERs are skipped (see _chained_version).
    4: (
        "ALTER TABLE overrides ADD COLUMN authenticated INTEGER",  # 1: the code was checked
        "ALTER TABLE overrides ADD COLUMN without_evidence INTEGER",  # 1: an ERROR shipped without evidence
        "ALTER TABLE overrides ADD COLUMN reason_code TEXT",  # its reason from the fixed list
        """CREATE TABLE IF NOT EXISTS override_refusals (
            id          {serial},
            check_id    BIGINT NOT NULL REFERENCES checks(id),
            refused_at  TEXT NOT NULL,
            supervisor  TEXT NOT NULL,      -- the name typed
            why         TEXT NOT NULL,      -- "wrong code", "no code given", "not a supervisor"
            station     TEXT,
            operator    TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS photo_files_by_sha ON check_files (sha256, role)",
    ),
}
_ADD_COLUMN = re.compile(r"ALTER TABLE (\w+) ADD COLUMN (\w+)")


def table_columns(db, table: str) -> list[str]:
    """The column names ``table`` has now (on either backend)."""
    cur = db.execute(f"SELECT * FROM {table} WHERE 1 = 0")
    return [d[0] for d in cur.description]


def _chained_version(db, version: int) -> int:
    """The schema version the migration steps start from. Two schemas were numbered 2 before they were
    merged: the evidence chain's (chain columns, photo_hashes) and the station's (override columns,
    override_refusals, no chain). The station's is told by its columns and upgraded as a 1 that has
    step 4's override columns already (its rows then join the chain, as a version 1's do)."""
    if version == 2 and "chain_seq" not in table_columns(db, "checks"):
        return 1
    return version

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


class EvidenceError(PackcheckError):
    """The evidence database or a bundle is missing, damaged, or has nothing for an order."""


# ---------------------------------------------------------------- records
@dataclass(frozen=True)
class StoredFile:
    """One image kept for a check: a packing photo or a listing image."""

    role: str  # "photo" | "listing"
    position: int
    sku: str | None
    sha256: str
    ext: str
    size: int
    source: str | None

    @property
    def relpath(self) -> str:
        """Where the file lives, relative to the database's folder."""
        return blob_relpath(self.sha256, self.ext)


@dataclass(frozen=True)
class ChainPosition:
    """Where a row stands in the evidence chain (see :mod:`~packcheck.apps.evidence.chain`)."""

    seq: int | None
    prev_hash: str | None
    row_hash: str | None
    row_sig: str | None
    signed_by: str | None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


_NO_CHAIN = ChainPosition(None, None, None, None, None)


@dataclass(frozen=True)
class OverrideRecord:
    """A supervisor's override. ``authenticated``: the supervisor's code was checked against the
    supervisors file (False for overrides recorded before codes were asked for); ``without_evidence``:
    an ERROR (no photo judged) let through with ``reason_code`` from the station's fixed list."""

    id: int
    check_id: int
    overridden_at: str
    supervisor: str
    reason: str
    station: str | None = None
    operator: str | None = None
    authenticated: bool = False
    without_evidence: bool = False
    reason_code: str | None = None
    chain: ChainPosition = _NO_CHAIN

    def to_dict(self) -> dict:
        return {**{k: v for k, v in self.__dict__.items() if k != "chain"}, "chain": self.chain.to_dict()}


@dataclass(frozen=True)
class CheckRecord:
    """One recorded check, as read back from the database."""

    id: int
    order_id: str
    checked_at: str
    station: str | None
    operator: str | None
    session: str | None
    status: Status
    reasons: tuple[str, ...]
    message: str
    thresholds_version: str
    photo_sha256: tuple[str, ...]
    previous_check_id: int | None
    verdict: dict
    extra: dict
    files: tuple[StoredFile, ...] = ()
    overrides: tuple[OverrideRecord, ...] = ()
    chain: ChainPosition = _NO_CHAIN

    @property
    def photos(self) -> tuple[StoredFile, ...]:
        return tuple(f for f in self.files if f.role == "photo")

    @property
    def listings(self) -> tuple[StoredFile, ...]:
        return tuple(f for f in self.files if f.role == "listing")

    @property
    def overridden(self) -> bool:
        return bool(self.overrides)

    @property
    def shipped_without_evidence(self) -> bool:
        return any(o.without_evidence for o in self.overrides)

    def to_dict(self) -> dict:
        return {
            "id": self.id, "order_id": self.order_id, "checked_at": self.checked_at, "station": self.station,
            "operator": self.operator, "session": self.session, "status": self.status.value,
            "reasons": list(self.reasons), "message": self.message, "thresholds_version": self.thresholds_version,
            "photo_sha256": list(self.photo_sha256), "previous_check_id": self.previous_check_id,
            "overrides": [o.to_dict() for o in self.overrides],
            "files": [{**f.__dict__, "path": f.relpath} for f in self.files],
            "extra": self.extra, "verdict": self.verdict, "chain": self.chain.to_dict(),
        }


@dataclass(frozen=True)
class PhotoInput:
    """A photo to keep with a check: its bytes and where they came from."""

    data: bytes
    source: str | None = None


# ---------------------------------------------------------------- helpers
def utc_now() -> str:
    """Now, UTC, ISO 8601 with milliseconds: ``2026-11-26T10:33:51.123Z`` (sorts as text)."""
    return format_utc(datetime.now(timezone.utc))


def format_utc(t: datetime) -> str:
    t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def parse_since(text: str) -> str:
    """A date or date-time typed by a person, as the UTC text :func:`utc_now` writes.

    A date without a time means its midnight UTC; a time without a zone is UTC.

    >>> parse_since("2026-11-26")
    '2026-11-26T00:00:00.000Z'
    >>> parse_since("2026-11-26T12:00+01:00")
    '2026-11-26T11:00:00.000Z'
    """
    value = text.strip().replace(" ", "T")
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise EvidenceError(f"'{text}' is not a date; give it as 2026-11-26 or 2026-11-26T14:30") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return format_utc(t)


def sniff_ext(data: bytes) -> str:
    """The file extension a photo's bytes call for (``.bin`` when unknown).

    >>> sniff_ext(b"\\xff\\xd8\\xff\\xe0"), sniff_ext(b"\\x89PNG\\r\\n\\x1a\\n")
    ('.jpg', '.png')
    """
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return ".gif"
    if data[:2] == b"BM":
        return ".bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return ".tif"
    if data[4:8] == b"ftyp":
        return ".heic"
    return ".bin"


def blob_relpath(sha256: str, ext: str) -> str:
    return f"{BLOB_DIR}/{sha256[:2]}/{sha256}{ext}"


# ---------------------------------------------------------------- the store
class EvidenceStore:
    """The evidence database and its content-addressed files.

    Open with :meth:`open`: a SQLite file (one station; photos in ``photos/`` beside it) or a
    PostgreSQL URL (every station of a warehouse; photos in a shared folder given as
    ``photos_dir``). Safe to share between threads of one process (a lock serialises use of the
    connection) and between processes and stations (each append to the evidence chain holds the
    database's write lock).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from packcheck.core.verdict import error_verdict
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> store = EvidenceStore.open(folder / "evidence.sqlite")
    >>> v = error_verdict("O1", "photo_unreadable", "no photo", thresholds_version="t1")
    >>> rec = store.record_check(v, station="bench-1")
    >>> [r.order_id for r in store.history()], rec.status.value
    (['O1'], 'ERROR')
    >>> store.close()
    """

    def __init__(self, backend, signer: Signer | None = None, photos_dir: Path | None = None):
        self._db = backend
        self.kind = backend.kind
        self.path: Path | None = backend.path  # the SQLite file (None on PostgreSQL)
        self.where: str = backend.where  # the file or the URL without its password, for messages
        self.signer = signer
        self.root = self.path.parent if self.path is not None else None
        self.blob_root: Path | None = Path(photos_dir) if photos_dir else (
            self.root / BLOB_DIR if self.root is not None else None)
        self._lock = backend.lock
        self.applied: list[int] = []  # schema versions applied when this store was opened
        self._listing_cache: dict[tuple[str, int, int], tuple[str, str, int]] = {}

    # -- opening ---------------------------------------------------------------------
    @classmethod
    def open(cls, target: str | os.PathLike, *, create: bool = True, signer: Signer | None = None,
             photos_dir: str | os.PathLike | None = None, upgrade: bool | None = None,
             read_only: bool = False) -> "EvidenceStore":
        """Open (or with ``create=True`` make) the evidence store at ``target``.

        ``target``: a SQLite file path, or a ``postgresql://USER@HOST/DB`` URL. ``signer``: the site
        key; every row this store appends to the chain is signed with it (without one, rows are
        chained but unsigned). ``photos_dir``: the folder of the photos and listing images (default
        for SQLite: ``photos/`` beside the file; a PostgreSQL store needs it to keep or read files).
        ``upgrade``: bring an older schema up to date (default: yes for SQLite; for PostgreSQL only
        when asked, as ``packcheck db upgrade`` does, so stations never migrate a shared database
        mid-shift). ``read_only``: a reader that never writes (the nightly audit's look-ups): no
        creation, no upgrade, no clean-up of temporary photo files, and a connection that cannot write.
        """
        postgres = is_url(target)
        if not postgres:
            path = Path(target)
            if path.is_dir():
                raise EvidenceError(f"{path} is a folder; give the database file, e.g. {path / 'evidence.sqlite'}")
            check_database_path(path, what="the evidence database")
            if not path.exists():
                if not create or read_only:
                    raise EvidenceError(f"no evidence database at {path}; check the --db path "
                                        "(packcheck station --db creates one)")
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    raise EvidenceError(f"cannot create the folder for {path} ({e.strerror or e})") from None
        try:
            backend = open_backend(target, read_only=read_only)
        except (OSError, *SqliteBackend.errors) as e:
            raise EvidenceError(f"cannot open the evidence database {target} ({e})") from None
        store = cls(backend, signer, Path(photos_dir) if photos_dir else None)
        try:
            backend.setup()
            store._upgrade(allowed=False if read_only else (not postgres) if upgrade is None else upgrade)
        except backend.errors as e:
            backend.close()
            raise EvidenceError(f"{store.where} is not a packcheck evidence database or is damaged ({e}); "
                                "check the --db path") from None
        except BaseException:
            backend.close()
            raise
        if not read_only:
            store._sweep_temp_files()
        return store

    @property
    def name(self) -> str:
        """The SQLite file's name, or the PostgreSQL database's (no host, no user): as a bundle names it."""
        if self.path is not None:
            return self.path.name
        return self.where.split("?")[0].rsplit("/", 1)[-1]

    def schema_version(self) -> int:
        with self._lock:
            return self._db.schema_version()

    def _upgrade(self, *, allowed: bool) -> list[int]:
        """Run the schema steps this database lacks (all of them on a new one); returns the versions applied."""
        db = self._db
        version = db.schema_version()
        if version > SCHEMA_VERSION:
            raise EvidenceError(f"{self.where} was written by a newer packcheck (schema {version}, "
                                f"this one reads {SCHEMA_VERSION}); upgrade packcheck")
        if version == SCHEMA_VERSION:
            self.applied = []
            return []
        if not allowed:
            raise EvidenceError(f"the evidence database {self.where} has schema {version}, this packcheck needs "
                                f"{SCHEMA_VERSION}; run once, from one machine: packcheck db upgrade --db URL")
        applied = []
        with self._transaction() as c:
            # Another process may have upgraded it meanwhile: read the version again inside the lock.
            version = _chained_version(c, db.schema_version())
            steps = [s for s in _SCHEMA.split(";") if s.strip()] if version < 1 else []
            for statement in steps:
                c.execute(db.ddl(statement))
            for v in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[v]:
                    added = _ADD_COLUMN.match(statement)
                    if added and added[2] in table_columns(c, added[1]):
                        continue  # a station-schema-2 database has the override columns already
                    c.execute(db.ddl(statement))
                if v == 2 and version == 1:
                    self._chain_legacy_rows(c)
                if v == 3:
                    seq, head = self._scan_head(c)
                    c.execute("INSERT INTO chain_head (id, seq, row_hash) VALUES (1, ?, ?)", (seq, head))
            now = utc_now()
            for v in range(version + 1, SCHEMA_VERSION + 1):
                c.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", (v, now))
                applied.append(v)
            db.set_schema_version(SCHEMA_VERSION)
        self.applied = applied
        return applied

    def upgrade(self) -> list[int]:
        """``packcheck db upgrade``: bring the schema up to date; returns the versions applied (empty: none)."""
        return self._upgrade(allowed=True)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "EvidenceStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _transaction(self):
        """One write transaction holding the database's append lock (and this store's thread lock)."""
        return self._db.write()

    # -- the chain -------------------------------------------------------------------
    @staticmethod
    def _scan_head(c) -> tuple[int, str]:
        """(chain_seq, row_hash) of the newest chained row, found by scanning; (0, GENESIS) before the first."""
        head = c.execute("SELECT chain_seq, row_hash FROM (SELECT chain_seq, row_hash FROM checks"
                         " WHERE chain_seq IS NOT NULL UNION ALL SELECT chain_seq, row_hash FROM overrides"
                         " WHERE chain_seq IS NOT NULL) AS chained ORDER BY chain_seq DESC LIMIT 1").fetchone()
        return (int(head[0]), head[1] or chain.GENESIS) if head else (0, chain.GENESIS)

    @staticmethod
    def _chain_head(c) -> tuple[int, str]:
        """(chain_seq, row_hash) the next row links to, from the ``chain_head`` row (inside the write lock)."""
        head = c.execute("SELECT seq, row_hash FROM chain_head WHERE id = 1").fetchone()
        if head is None:
            raise EvidenceError("the evidence database has no chain head row (chain_head was emptied by hand); "
                                "run packcheck history --verify to see what else changed")
        return int(head[0]), head[1]

    @staticmethod
    def _row(c, table: str, row_id: int) -> tuple[dict, list[dict]]:
        """Every column of one row (whatever columns the table has now) and, for a check, its files."""
        cur = c.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,))
        names = [d[0] for d in cur.description]
        values = cur.fetchone()
        if values is None:
            raise EvidenceError(f"there is no {table[:-1]} #{row_id}")
        row = dict(zip(names, values))
        files = []
        if table == "checks":
            cur = c.execute("SELECT * FROM check_files WHERE check_id = ? ORDER BY role, position", (row_id,))
            names = [d[0] for d in cur.description]
            files = [dict(zip(names, r)) for r in cur.fetchall()]
        return row, files

    def chain_record(self, table: str, row_id: int) -> dict:
        """The exact content a row's chain hash was taken over (:func:`chain.canonical`), as JSON data."""
        if table not in ("checks", "overrides"):
            raise ValueError(f"no chain in table {table!r}")
        with self._lock:
            row, files = self._row(self._db, table, row_id)
        return json.loads(chain.canonical(table, row, files))

    def _seal(self, c, table: str, row_id: int, seq: int, prev: str, signer: Signer | None, *,
              move_head: bool = True) -> str:
        """Hash (and sign) a row just inserted at chain position ``seq``, inside the caller's transaction;
        the chain head moves to it. Returns its hash."""
        row, files = self._row(c, table, row_id)
        if row.get("chain_seq") != seq or row.get("prev_hash") != prev:
            raise ValueError(f"{table} #{row_id} was not inserted at chain position {seq}")
        digest = chain.row_hash(table, row, files)
        sig = signer.sign(chain.signed_bytes(digest)) if signer else None
        c.execute(f"UPDATE {table} SET row_hash = ?, row_sig = ? WHERE id = ?", (digest, sig, row_id))
        if move_head:
            c.execute("UPDATE chain_head SET seq = ?, row_hash = ? WHERE id = 1", (seq, digest))
        return digest

    def _chain_legacy_rows(self, c) -> None:
        """Upgrading a schema-1 database: its rows join the chain (unsigned) in the order they were written."""
        rows = c.execute("SELECT 'checks', id, checked_at FROM checks UNION ALL "
                         "SELECT 'overrides', id, overridden_at FROM overrides ORDER BY 3, 1, 2").fetchall()
        seq, prev = 0, chain.GENESIS
        for table, row_id, _ in rows:
            seq += 1
            c.execute(f"UPDATE {table} SET chain_seq = ?, prev_hash = ? WHERE id = ?", (seq, prev, row_id))
            prev = self._seal(c, table, row_id, seq, prev, None, move_head=False)

    # -- files -----------------------------------------------------------------------
    def blob_path(self, sha256: str, ext: str) -> Path:
        if not _SHA_RE.match(sha256) or not re.fullmatch(r"\.[a-z0-9]{2,5}", ext):
            raise ValueError(f"not a stored file name: {sha256!r}{ext!r}")
        return self._photos() / sha256[:2] / f"{sha256}{ext}"

    def _photos(self) -> Path:
        if self.blob_root is None:
            raise EvidenceError(f"the evidence store {self.where} keeps its photos in a shared folder: give it "
                                f"with --photos-dir DIR (or {PHOTOS_ENV}=DIR)")
        return self.blob_root

    def put_blob(self, data: bytes, *, ext: str | None = None) -> tuple[str, str]:
        """Keep ``data`` as ``<photos folder>/ab/<sha256><ext>``; returns (sha256, ext).

        Written by :func:`~packcheck.util.fsio.atomic_write` without overwriting: a temporary file
        in the same folder, fsynced, linked to its name, then the folder fsynced. Another station
        or reader (the folder may be a network mount) never sees a partial file under a stored
        name, a stored file is never replaced, and a crash leaves at most a ``.tmp-*`` file behind
        (swept when a store on the machine that wrote it is next opened).
        """
        sha = hashlib.sha256(data).hexdigest()
        ext = ext or sniff_ext(data)
        final = self.blob_path(sha, ext)
        if not final.exists():
            atomic_write(final, lambda f: f.write(data), binary=True, overwrite=False)
        return sha, ext

    def read_blob(self, f: StoredFile) -> bytes:
        """A stored file's bytes, checked against its name."""
        path = self.blob_path(f.sha256, f.ext)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise EvidenceError(f"{f.role} {path} of the evidence store cannot be read "
                                f"({e.strerror or e}); restore the photos folder from backup") from None
        if hashlib.sha256(data).hexdigest() != f.sha256:
            raise EvidenceError(f"{f.role} {path} of the evidence store is damaged (its SHA-256 no longer "
                                "matches its name); restore it from backup")
        return data

    def verify_files(self) -> list[str]:
        """Problems with the stored files: missing, damaged, or a stray temporary file. Empty = all good."""
        problems = []
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT sha256, ext FROM check_files").fetchall()
        for sha, ext in rows:
            p = self.blob_path(sha, ext)
            if not p.is_file():
                problems.append(f"missing {p}")
            elif hashlib.sha256(p.read_bytes()).hexdigest() != sha:
                problems.append(f"damaged {p}")
        if self._photos().is_dir():
            for p in self.blob_root.rglob("*"):
                if p.is_file() and not p.name.startswith(TEMP_PREFIX):
                    sha = p.name.split(".")[0]
                    if not _SHA_RE.match(sha) or hashlib.sha256(p.read_bytes()).hexdigest() != sha:
                        problems.append(f"damaged {p}")
        return list(dict.fromkeys(problems))

    def _sweep_temp_files(self) -> None:
        """Remove temporary files left by a killed writer of this machine (never a live one's)."""
        if self.blob_root is not None:
            sweep_temp_files(self.blob_root, f"*/{TEMP_PREFIX}*")

    def _listing_blob(self, path: Path) -> tuple[str, str, int] | None:
        """Store a listing image (hashed once per size and mtime); None when it cannot be read."""
        try:
            st = path.stat()
            key = (str(path), st.st_size, st.st_mtime_ns)
            if key not in self._listing_cache:
                data = path.read_bytes()
                sha, ext = self.put_blob(data)
                self._listing_cache[key] = (sha, ext, len(data))
            return self._listing_cache[key]
        except OSError as e:
            log.warning("listing image %s not kept as evidence: %s", path, e)
            return None

    # -- writing ---------------------------------------------------------------------
    def record_check(self, verdict: Verdict, *, photos: Sequence[PhotoInput | bytes] = (),
                     listing_images: Mapping[str, Sequence[str | os.PathLike]] | None = None,
                     station: str | None = None, operator: str | None = None, session: str | None = None,
                     extra: Mapping | None = None, checked_at: str | None = None,
                     photo_signatures: Sequence | None = None, client_id: str | None = None) -> CheckRecord:
        """Keep one check: its photos and listing images as files, then its row, in one transaction.

        ``photos`` are the bytes that were judged (their SHA-256 must be the
        verdict's); ``listing_images`` maps each ordered SKU to its listing image
        files, copied now so later catalogue changes do not alter the evidence.
        The check is linked to the order's previous check (a rescan) and appended to the
        evidence chain (signed with the store's key, if it has one). ``photo_signatures``: each
        photo's :class:`~packcheck.core.duplicates.PhotoSignature` (None for one not judged), kept
        for the reuse look-ups of :meth:`similar_photos`. ``client_id``: the station's own unique id of
        this check; recording it again (a replay after the database came back, when the first
        commit's answer was lost) returns the check already kept instead of a second one.
        """
        inputs = [p if isinstance(p, PhotoInput) else PhotoInput(bytes(p)) for p in photos]
        files: list[tuple] = []
        shas = []
        for i, p in enumerate(inputs, 1):
            sha, ext = self.put_blob(p.data)
            shas.append(sha)
            files.append(("photo", i, None, sha, ext, len(p.data), p.source))
        if verdict.photos and tuple(verdict.photos) != tuple(shas):
            raise ValueError(f"the photos given are not the ones judged: verdict has {verdict.photos}, got {shas}")
        extra = dict(extra or {})
        position = 0
        for sku, paths in (listing_images or {}).items():
            for path in paths:
                stored = self._listing_blob(Path(path))
                if stored is None:
                    extra.setdefault("listing_images_missing", []).append(str(path))
                    continue
                position += 1
                files.append(("listing", position, sku, stored[0], stored[1], stored[2], str(path)))
        checked_at = checked_at or utc_now()
        verdict_json = json.dumps(verdict.to_dict(), ensure_ascii=False, default=str)
        try:
            check_id = self._insert_check(verdict, files, shas, extra, station=station, operator=operator,
                                          session=session, checked_at=checked_at, verdict_json=verdict_json,
                                          photo_signatures=photo_signatures, client_id=client_id)
        except self._db.errors as e:
            raise EvidenceError(f"cannot record the check in {self.where} ({e}); free some space on its disk "
                                "or check the database") from None
        return self.get_check(check_id)

    def _insert_check(self, verdict: Verdict, files: list, shas: list, extra: dict, *, station, operator, session,
                      checked_at: str, verdict_json: str, photo_signatures, client_id: str | None) -> int:
        signer = self.signer
        with self._transaction() as c:
            if client_id is not None:
                kept = c.execute("SELECT id FROM checks WHERE client_id = ?", (client_id,)).fetchone()
                if kept is not None:
                    return int(kept[0])  # recorded before: the check already kept
            prev = c.execute("SELECT max(id) FROM checks WHERE order_id = ?", (verdict.order_id,)).fetchone()[0]
            seq, prev_hash = self._chain_head(c)
            cur = c.execute(
                "INSERT INTO checks (order_id, checked_at, station, operator, session, status, reasons, message,"
                " thresholds_version, photo_sha256, previous_check_id, verdict_json, extra_json,"
                " chain_seq, prev_hash, signed_by, client_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (verdict.order_id, checked_at, station, operator, session, verdict.status.value,
                 json.dumps(list(verdict.reasons)), verdict.message, verdict.thresholds_version,
                 json.dumps(shas), prev, verdict_json, json.dumps(extra, ensure_ascii=False, default=str),
                 seq + 1, prev_hash, signer.fingerprint if signer else None, client_id))
            check_id = cur.fetchone()[0]
            c.executemany(
                "INSERT INTO check_files (check_id, role, position, sku, sha256, ext, size, source)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [(check_id, *f) for f in files])
            c.executemany(
                "INSERT INTO photo_hashes (check_id, position, order_id, sha256, phash, signature)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(check_id, i, verdict.order_id, shas[i - 1], sig.key, sig.to_bytes())
                 for i, sig in enumerate(photo_signatures or (), 1) if sig is not None and i <= len(shas)])
            self._seal(c, "checks", check_id, seq + 1, prev_hash, signer)
        return check_id

    def record_override(self, check_id: int, *, supervisor: str, reason: str, station: str | None = None,
                        operator: str | None = None, overridden_at: str | None = None, authenticated: bool = False,
                        without_evidence: bool = False, reason_code: str | None = None) -> OverrideRecord:
        """A supervisor lets a checked order ship anyway; ``reason`` says why (see :class:`OverrideRecord`)."""
        supervisor, reason = (supervisor or "").strip(), (reason or "").strip()
        if not supervisor:
            raise EvidenceError("an override needs the supervisor's name")
        if not reason:
            raise EvidenceError("an override needs a reason")
        at = overridden_at or utc_now()
        signer = self.signer
        with self._transaction() as c:
            if c.execute("SELECT 1 FROM checks WHERE id = ?", (check_id,)).fetchone() is None:
                raise EvidenceError(f"there is no check #{check_id} to override")
            seq, prev_hash = self._chain_head(c)
            # The override's facts are columns of its row, so the chain hash covers them.
            cur = c.execute("INSERT INTO overrides (check_id, overridden_at, supervisor, reason, station, operator,"
                            " authenticated, without_evidence, reason_code, chain_seq, prev_hash, signed_by)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                            (check_id, at, supervisor, reason, station, operator, int(authenticated),
                             int(without_evidence), reason_code, seq + 1, prev_hash,
                             signer.fingerprint if signer else None))
            override_id = cur.fetchone()[0]
            self._seal(c, "overrides", override_id, seq + 1, prev_hash, signer)
            row = c.execute(f"SELECT {self._OVERRIDE_COLUMNS} FROM overrides WHERE id = ?",
                            (override_id,)).fetchone()
        return self._override(row)

    def record_override_refusal(self, check_id: int, *, supervisor: str, why: str, station: str | None = None,
                                operator: str | None = None) -> None:
        """Keep a refused override (an unknown name, a wrong or missing code): who tried, when, on what."""
        with self._transaction() as c:
            c.execute("INSERT INTO override_refusals (check_id, refused_at, supervisor, why, station, operator)"
                      " VALUES (?, ?, ?, ?, ?, ?)", (check_id, utc_now(), supervisor, why, station, operator))

    def override_refusals(self) -> list[dict]:
        """Every refused override, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT id, check_id, refused_at, supervisor, why, station, operator"
                                      " FROM override_refusals ORDER BY id").fetchall()
        return [dict(zip(("id", "check_id", "refused_at", "supervisor", "why", "station", "operator"), r))
                for r in rows]

    def photo_orders(self, sha256: str) -> list[tuple[str, int]]:
        """The orders whose checks recorded a packing photo with these bytes: (order id, latest check id)."""
        with self._lock:
            return [(o, int(c)) for o, c in self._db.execute(
                "SELECT c.order_id, max(c.id) FROM check_files f JOIN checks c ON c.id = f.check_id"
                " WHERE f.sha256 = ? AND f.role = 'photo' GROUP BY c.order_id ORDER BY max(c.id)", (sha256,))]

    # -- reading ---------------------------------------------------------------------
    _CHAIN_COLUMNS = "chain_seq, prev_hash, row_hash, row_sig, signed_by"
    _COLUMNS = ("id, order_id, checked_at, station, operator, session, status, reasons, message, "
                "thresholds_version, photo_sha256, previous_check_id, verdict_json, extra_json, " + _CHAIN_COLUMNS)
    _OVERRIDE_COLUMNS = ("id, check_id, overridden_at, supervisor, reason, station, operator, authenticated, "
                         "without_evidence, reason_code, " + _CHAIN_COLUMNS)
    #: Checks read per query while streaming (:meth:`iter_history`): memory stays flat for any history.
    BATCH = 500

    @staticmethod
    def _override(r) -> OverrideRecord:
        return OverrideRecord(*r[:7], authenticated=bool(r[7]), without_evidence=bool(r[8]), reason_code=r[9],
                              chain=ChainPosition(*r[10:15]))

    def _build(self, rows: list) -> list[CheckRecord]:
        """CheckRecords of ``rows`` (``_COLUMNS``), with their files and overrides (two queries for all)."""
        if not rows:
            return []
        ids = [r[0] for r in rows]
        marks = ",".join("?" * len(ids))
        files: dict[int, list] = {}
        overrides: dict[int, list] = {}
        with self._lock:
            for r in self._db.execute(
                    f"SELECT check_id, role, position, sku, sha256, ext, size, source FROM check_files"
                    f" WHERE check_id IN ({marks}) ORDER BY check_id, role, position", ids):
                files.setdefault(r[0], []).append(StoredFile(*r[1:]))
            for r in self._db.execute(
                    f"SELECT {self._OVERRIDE_COLUMNS} FROM overrides WHERE check_id IN ({marks}) ORDER BY id", ids):
                overrides.setdefault(r[1], []).append(self._override(r))
        return [CheckRecord(
            id=r[0], order_id=r[1], checked_at=r[2], station=r[3], operator=r[4], session=r[5],
            status=Status(r[6]), reasons=tuple(json.loads(r[7])), message=r[8], thresholds_version=r[9],
            photo_sha256=tuple(json.loads(r[10])), previous_check_id=r[11], verdict=json.loads(r[12]),
            extra=json.loads(r[13]), files=tuple(files.get(r[0], ())), overrides=tuple(overrides.get(r[0], ())),
            chain=ChainPosition(*r[14:19]),
        ) for r in rows]

    def _records(self, where: str, args: tuple, *, limit: int | None = None, newest_first=False) -> list[CheckRecord]:
        sql = f"SELECT {self._COLUMNS} FROM checks {where} ORDER BY id {'DESC' if newest_first else 'ASC'}"
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return self._build(rows)

    def get_check(self, check_id: int) -> CheckRecord:
        found = self._records("WHERE id = ?", (int(check_id),))
        if not found:
            raise EvidenceError(f"there is no check #{check_id} in {self.path}")
        return found[0]

    def order_checks(self, order_id: str) -> list[CheckRecord]:
        """Every check of one order, oldest first."""
        return self._records("WHERE order_id = ?", (order_id,))

    def latest(self) -> CheckRecord | None:
        found = self._records("", (), limit=1, newest_first=True)
        return found[0] if found else None

    def iter_history(self, *, since: str | None = None, statuses: Iterable[str] = (), order_id: str | None = None,
                     station: str | None = None, limit: int | None = None) -> Iterator[CheckRecord]:
        """Recorded checks of every station, oldest first, read :data:`BATCH` at a time (any number of
        checks in flat memory).

        ``since``: UTC text as :func:`parse_since` gives; ``station``: only that bench's checks;
        ``limit``: only the newest ``limit``.
        """
        where, args = [], []
        if since:
            where.append("checked_at >= ?")
            args.append(since)
        statuses = [str(s).upper() for s in statuses]
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            args += statuses
        if order_id is not None:
            where.append("order_id = ?")
            args.append(order_id)
        if station is not None:
            where.append("station = ?")
            args.append(station)
        if limit:  # the newest ``limit``: start after the id just before them
            clause = ("WHERE " + " AND ".join(where)) if where else ""
            with self._lock:
                ids = self._db.execute(f"SELECT id FROM checks {clause} ORDER BY id DESC LIMIT 1 OFFSET ?",
                                         (*args, int(limit))).fetchone()
            if ids is not None:
                where.append("id > ?")
                args.append(ids[0])
        last = 0
        while True:
            clause = "WHERE " + " AND ".join(where + ["id > ?"])
            with self._lock:
                rows = self._db.execute(f"SELECT {self._COLUMNS} FROM checks {clause} ORDER BY id LIMIT ?",
                                          (*args, last, self.BATCH)).fetchall()
            if not rows:
                return
            yield from self._build(rows)
            last = rows[-1][0]

    def history(self, **filters) -> list[CheckRecord]:
        """:meth:`iter_history` as a list (for a few checks; stream a long history instead)."""
        return list(self.iter_history(**filters))

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM checks").fetchone()[0]

    # -- verifying the chain -----------------------------------------------------------
    def _chain_rows(self, conn) -> Iterator[chain.ChainRow]:
        """Every check and override in chain order (rows outside the chain first), hashed again, streamed."""
        def rows(table: str):
            cur = conn.execute(f"SELECT * FROM {table} ORDER BY chain_seq, id")
            names = [d[0] for d in cur.description]
            for values in cur:
                row = dict(zip(names, values))
                files = []
                if table == "checks":
                    fc = conn.execute("SELECT * FROM check_files WHERE check_id = ? ORDER BY role, position",
                                      (row["id"],))
                    fnames = [d[0] for d in fc.description]
                    files = [dict(zip(fnames, f)) for f in fc.fetchall()]
                what = (f"check #{row['id']} (order {row.get('order_id')})" if table == "checks"
                        else f"override #{row['id']} (of check #{row.get('check_id')})")
                yield chain.ChainRow(table, row["id"], row.get("chain_seq"), row.get("prev_hash"),
                                     row.get("row_hash"), row.get("row_sig"), chain.row_hash(table, row, files), what)

        def key(r: chain.ChainRow):
            return (-1 if r.seq is None else r.seq, r.table, r.id)

        return heapq.merge(rows("checks"), rows("overrides"), key=key)

    def verify_chain(self, *, public_key=None, require_signatures: bool = False) -> chain.ChainReport:
        """Hash every check and override again and walk the chain; the report names each break.

        ``public_key`` (an Ed25519 public key): also check every row signature with it, and with
        ``require_signatures`` count an unsigned row as a problem. Besides the chain, its last row
        is compared with the ``chain_head`` row each append moves (and, on SQLite, with the ids it
        handed out): deleting the newest rows (which leaves a shorter valid chain) is found there,
        unless that was edited too.
        """
        verify = None
        if public_key is not None:
            def verify(digest: str, sig: str) -> bool:
                return verify_signature(public_key, chain.signed_bytes(digest), sig)
        try:
            # One snapshot: rows another station adds meanwhile are not half seen.
            with self._db.snapshot() as conn:
                report = chain.verify_rows(self._chain_rows(conn), verify_sig=verify,
                                           require_signatures=require_signatures)
                tail = []
                head = conn.execute("SELECT seq, row_hash FROM chain_head WHERE id = 1").fetchone()
                if head is None:
                    tail.append("the chain head row is missing (chain_head was emptied by hand)")
                elif int(head[0]) > report.head_seq:
                    tail.append(f"chain positions {report.head_seq + 1} to {head[0]} were recorded and then deleted "
                                f"(the chain head says {head[0]} rows were appended)")
                elif (int(head[0]), head[1]) != (report.head_seq, report.head_hash):
                    tail.append(f"the chain head (position {head[0]}) does not match the last row in the chain "
                                f"(position {report.head_seq}): rows were added or edited by hand")
                for table, what in (("checks", "check"), ("overrides", "override")):
                    handed = conn.handed_out_id(table)
                    newest = conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0] or 0
                    if handed is not None and handed > newest:
                        tail.append(f"{what}s #{newest + 1} to #{handed} were recorded and then deleted "
                                    f"(the database handed out {what} ids up to #{handed})")
        except self._db.errors as e:
            raise EvidenceError(f"{self.where} cannot be read to verify it ({e})") from None
        if tail:
            report = dataclasses.replace(report, problems=report.problems + tuple(tail))
        return report

    # -- photo hashes ----------------------------------------------------------------------
    def photo_signatures(self, *, after_check: int = 0, exclude_order: str | None = None,
                         batch: int = 5000) -> Iterator[tuple[int, int, str, str, bytes, str | None]]:
        """(check_id, position, order_id, sha256, signature bytes, station) of every judged photo after
        ``after_check``, oldest first, streamed (for :class:`~packcheck.apps.duplicates.PhotoHistory`)."""
        last = after_check
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT h.check_id, h.position, h.order_id, h.sha256, h.signature, c.station"
                    " FROM photo_hashes h JOIN checks c ON c.id = h.check_id"
                    " WHERE h.check_id > ? ORDER BY h.check_id, h.position LIMIT ?", (last, batch)).fetchall()
            if not rows:
                return
            for r in rows:
                if r[2] != exclude_order:
                    yield r
            last = rows[-1][0]
            if len(rows) < batch:
                return

    def photo_bytes(self, check_id: int, position: int) -> bytes:
        """The stored bytes of a check's photo (checked against their SHA-256)."""
        with self._lock:
            row = self._db.execute("SELECT role, position, sku, sha256, ext, size, source FROM check_files"
                                     " WHERE check_id = ? AND role = 'photo' AND position = ?",
                                     (check_id, position)).fetchone()
        if row is None:
            raise EvidenceError(f"check #{check_id} has no photo {position}")
        return self.read_blob(StoredFile(*row))

    def checks_with_photo(self, sha256: str) -> list[tuple[int, str]]:
        """(check id, order id) of every check that judged the photo with this SHA-256 (indexed)."""
        with self._lock:
            return [tuple(r) for r in self._db.execute(
                "SELECT check_id, order_id FROM photo_hashes WHERE sha256 = ? ORDER BY check_id", (sha256,))]

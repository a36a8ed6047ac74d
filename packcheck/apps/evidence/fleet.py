"""A warehouse of stations on one evidence store: what each station is doing, and moving a station's
SQLite history into the shared PostgreSQL store.

No click, no printing: ``packcheck history --stations`` and ``packcheck db copy`` print what these return.
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass

from .store import EvidenceError, EvidenceStore, StoredFile, table_columns

#: The tables of the evidence store, in the order rows can be inserted (references first).
TABLES = ("checks", "check_files", "overrides", "override_refusals", "photo_hashes")
#: Rows copied per statement batch.
COPY_BATCH = 500


@dataclass(frozen=True)
class StationSummary:
    """One station's work in the store (or since a date): for operations, not for appeals."""

    station: str  # "-" for checks recorded without a station name
    checks: int
    flag: int
    review: int
    error: int
    overrides: int
    median_photo_to_verdict_s: float | None  # None: no check of it had a photo timing

    @property
    def flag_rate(self) -> float:
        return self.flag / self.checks if self.checks else 0.0

    @property
    def review_rate(self) -> float:
        return self.review / self.checks if self.checks else 0.0

    def to_dict(self) -> dict:
        return {**self.__dict__, "flag_rate": round(self.flag_rate, 4), "review_rate": round(self.review_rate, 4)}

    def cells(self) -> tuple[str, ...]:
        """The figures as shown, one per :data:`SUMMARY_COLUMNS` (``history --stations`` and the audit's
        HTML report): FLAG and REVIEW as rates, the median in milliseconds."""
        t = self.median_photo_to_verdict_s
        return (self.station, str(self.checks), f"{100 * self.flag_rate:.1f}%", f"{100 * self.review_rate:.1f}%",
                str(self.error), str(self.overrides), f"{1000 * t:.0f} ms" if t is not None else "-")


#: The per-station summary's columns: (heading, width in the terminal).
SUMMARY_COLUMNS = (("station", 14), ("checks", 7), ("FLAG", 7), ("REVIEW", 7), ("ERROR", 6), ("overrides", 9),
                   ("photo->verdict (median)", 24))


def station_summaries(store: EvidenceStore, *, since: str | None = None) -> list[StationSummary]:
    """Per station: checks, FLAG / REVIEW / ERROR counts, overrides and the median photo-to-verdict time.

    Streams the checks (status and the station's timing facts only), so any history fits in memory.
    """
    counts: dict[str, dict[str, int]] = {}
    times: dict[str, list[float]] = {}
    where, args = ("WHERE checked_at >= ?", (since,)) if since else ("", ())
    last = 0
    while True:
        clause = (where + " AND" if where else "WHERE") + " id > ?"
        rows = store._db.execute(f"SELECT id, station, status, extra_json FROM checks {clause} ORDER BY id LIMIT ?",
                                 (*args, last, store.BATCH)).fetchall()
        if not rows:
            break
        for _id, station, status, extra in rows:
            c = counts.setdefault(station or "-", {"checks": 0, "FLAG": 0, "REVIEW": 0, "ERROR": 0, "overrides": 0})
            c["checks"] += 1
            if status in c:
                c[status] += 1
            t = json.loads(extra).get("photo_to_verdict_s")
            if isinstance(t, (int, float)):
                times.setdefault(station or "-", []).append(float(t))
        last = rows[-1][0]
    o_where = "WHERE o.overridden_at >= ?" if since else ""
    for station, n in store._db.execute(
            f"SELECT c.station, count(*) FROM overrides o JOIN checks c ON c.id = o.check_id {o_where}"
            " GROUP BY c.station", args).fetchall():
        counts.setdefault(station or "-", {"checks": 0, "FLAG": 0, "REVIEW": 0, "ERROR": 0, "overrides": 0})
        counts[station or "-"]["overrides"] = int(n)
    return [StationSummary(name, c["checks"], c["FLAG"], c["REVIEW"], c["ERROR"], c["overrides"],
                           statistics.median(times[name]) if times.get(name) else None)
            for name, c in sorted(counts.items())]


@dataclass(frozen=True)
class CopyReport:
    """What ``copy_store`` moved and what it verified afterwards."""

    rows: dict  # table -> rows copied (equal in source and target, else an error was raised)
    files: int  # distinct stored files copied and read back with the right SHA-256
    chain_rows: int
    head_seq: int
    head_hash: str


def copy_store(source: EvidenceStore, target: EvidenceStore) -> CopyReport:
    """Copy every row of ``source`` (ids, chain positions, hashes and signatures as they are) and its
    photos into the empty store ``target``, then verify: row counts, the chain on the target (same
    head as the source's), and every file read back against its SHA-256.

    The rows keep their ids and chain positions because their hashes and signatures cover them: a
    bundle made from the station's SQLite file still verifies against the shared store. So the target
    must hold no checks yet (one station's history per shared database); another station's file stays
    its own archive (``--db FILE`` answers its appeals).
    """
    if target.count() or target._chain_head(target._db)[0]:
        raise EvidenceError(f"{target.where} already holds checks: a history is copied only into an empty "
                            "evidence database, keeping its ids, chain positions and signatures; keep this "
                            "station's file as its archive (packcheck evidence --db FILE answers its appeals)")
    src_report = source.verify_chain()
    if not src_report.ok:
        raise EvidenceError(f"the chain of {source.where} is broken ({src_report.problems[0]}); nothing copied: "
                            "run packcheck history --verify --db on it first")
    copied = {}
    with source._db.snapshot() as src, target._transaction() as dst:
        for table in TABLES:
            names = table_columns(src, table)
            missing = set(names) - set(table_columns(dst, table))
            if missing:
                raise EvidenceError(f"{target.where} lacks columns {sorted(missing)} of {table}; "
                                    "run packcheck db upgrade on both first")
            insert = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
            cur = src.execute(f"SELECT {', '.join(names)} FROM {table}")
            n = 0
            while True:
                batch = cur.fetchmany(COPY_BATCH)
                if not batch:
                    break
                dst.executemany(insert, [tuple(r) for r in batch])
                n += len(batch)
            copied[table] = n
        head = src.execute("SELECT seq, row_hash FROM chain_head WHERE id = 1").fetchone()
        dst.execute("UPDATE chain_head SET seq = ?, row_hash = ? WHERE id = 1", tuple(head))
        for table in ("checks", "overrides", "override_refusals"):
            dst.reset_ids(table)
        files = src.execute("SELECT DISTINCT role, sha256, ext FROM check_files").fetchall()
    for role, sha, ext in files:
        f = StoredFile(role, 0, None, sha, ext, 0, None)
        target.put_blob(source.read_blob(f), ext=ext)
    # Verify, reading back what the target now holds.
    for table in TABLES:
        have = target._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if have != copied[table]:
            raise EvidenceError(f"after the copy {target.where} has {have} rows in {table}, the source "
                                f"{copied[table]}")
    report = target.verify_chain(public_key=None)
    if not report.ok or (report.head_seq, report.head_hash) != (src_report.head_seq, src_report.head_hash):
        raise EvidenceError(f"the chain copied into {target.where} does not verify: "
                            f"{(report.problems or ('its head differs from the source',))[0]}")
    for role, sha, ext in files:
        target.read_blob(StoredFile(role, 0, None, sha, ext, 0, None))
    return CopyReport(rows=copied, files=len(files), chain_rows=report.rows, head_seq=report.head_seq,
                      head_hash=report.head_hash)

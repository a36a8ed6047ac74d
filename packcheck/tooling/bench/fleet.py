"""``packcheck bench fleet``: N stations (processes) recording into one PostgreSQL evidence store, and the
database restarted in the middle.

Each simulated station records M checks as fast as it can, each with a real photo (the grocery
photos of ``../shared/realdata`` when present, else generated ones), made unique per check by a
JPEG comment as a new shot would be: the photo goes into the shared content-addressed folder, the
check is appended to the signed evidence chain. Judging is not part of this benchmark (``bench
station`` measures it): the verdicts are made up, about one in twenty a FLAG, so the figures are the
evidence path's. Mid-run the server is stopped and started again (``pg_ctl -m fast``): stations keep
going, spool what they cannot record (:mod:`~packcheck.apps.evidence.spool`) and replay it when the
server is back.

The report: checks made and records written (must be equal), duplicates (must be 0), the chain
verified with the site key, p50/p95 of the time to record a verdict, and what the restart cost.
"""
from __future__ import annotations

import multiprocessing as mp
import queue
import tempfile
import time
from pathlib import Path

import numpy as np

REALDATA = Path(__file__).resolve().parents[4] / "shared" / "realdata"


def _photos(limit: int = 250) -> tuple[list[bytes], str]:
    """Real photos (../shared/realdata), else generated JPEGs; and what they are."""
    found = sorted(REALDATA.rglob("*.jpg"))[:limit] if REALDATA.is_dir() else []
    if found:
        return [p.read_bytes() for p in found], f"{len(found)} real photos from {REALDATA}"
    import cv2

    rng = np.random.default_rng(0)
    out = []
    for i in range(40):
        img = np.full((480, 640, 3), 235, np.uint8)
        cv2.rectangle(img, (150, 100), (490, 380), tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
        img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
        out.append(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    return out, f"{len(out)} generated 640x480 photos (no ../shared/realdata here)"


def _verdict(order_id: str, photo: bytes, flag: bool):
    import hashlib

    from ...core.verdict import CheckResult, Status, combine

    status = Status.FLAG if flag else Status.PASS
    item = CheckResult("item", status, "wrong_item" if flag else None,
                       "bench: another item found" if flag else "bench: matches the listing",
                       value=-1.0 if flag else 1.0, flag_below=0.0, review_below=0.5, sku="BENCH-1")
    return combine(order_id, [item], thresholds_version="bench-fleet",
                   photos=[hashlib.sha256(photo).hexdigest()], photo_paths=["photo 1"])


def _station(name: str, url: str, photos_dir: str, spool_dir: str, key: str, checks: int, photos: list[bytes],
             ready, go, done_counter, out_queue) -> None:
    """One station process: record ``checks`` checks, spooling through an outage, then catch up."""
    from ...apps.evidence.keys import load_signer
    from ...apps.evidence.spool import Spool
    from ...apps.evidence.store import EvidenceStore, PhotoInput
    from .station import _with_comment

    store = EvidenceStore.open(url, photos_dir=photos_dir, signer=load_signer(key))
    spool = Spool(spool_dir)
    record_s, spooled = [], 0
    with ready.get_lock():
        ready.value += 1
    go.wait()
    for i in range(checks):
        photo = _with_comment(photos[i % len(photos)], f"{name} check {i}")
        verdict = _verdict(f"{name}-{i:05d}", photo, flag=(i % 20 == 7))
        t = time.perf_counter()
        got = spool.record(store, verdict, photos=[PhotoInput(photo, f"IMG_{i:05d}.jpg")], station=name,
                           operator="bench")
        if got.spooled:
            spooled += 1
        else:
            record_s.append(time.perf_counter() - t)
        with done_counter.get_lock():
            done_counter.value += 1
    deadline = time.monotonic() + 300
    while len(spool) and time.monotonic() < deadline:
        if not spool.flush(store):
            time.sleep(0.5)
    out_queue.put({"station": name, "record_s": record_s, "spooled": spooled, "left_in_spool": len(spool)})
    store.close()


def run(*, stations: int = 10, checks: int = 1000, restart_at: float | None = 0.5, down_s: float = 3.0,
        progress=None) -> dict:
    """Run the benchmark on a throwaway, durable PostgreSQL server (initdb in a temporary folder)."""
    from ...apps.evidence.keys import init_key
    from ...apps.evidence.store import EvidenceStore
    from ..pgcluster import Cluster, find_bin

    if stations < 1 or checks < 1:
        raise ValueError(f"stations and checks must be >= 1, got {stations!r}, {checks!r}")
    bindir = find_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    photos, photo_note = _photos()
    cluster = Cluster(bindir, durable=True).start()
    try:
        with tempfile.TemporaryDirectory(prefix="packcheck-bench-fleet-") as tmp:
            tmp = Path(tmp)
            url = cluster.new_database()
            EvidenceStore.open(url, upgrade=True).close()
            signer = init_key(tmp / "keys" / "site-key.pem")
            photos_dir = tmp / "shared-photos"
            ctx = mp.get_context("spawn")
            ready, go, counter, results = ctx.Value("i", 0), ctx.Event(), ctx.Value("i", 0), ctx.Queue()
            procs = [ctx.Process(target=_station, args=(f"st-{n:02d}", url, str(photos_dir),
                                                        str(tmp / f"spool-{n:02d}"), str(signer.path), checks,
                                                        photos, ready, go, counter, results))
                     for n in range(stations)]
            for p in procs:
                p.start()
            while ready.value < stations:  # every station has its store open: all start at once
                if not all(p.is_alive() for p in procs):
                    raise RuntimeError("a station process ended before it was ready; see its error above")
                time.sleep(0.05)
            t0 = time.perf_counter()
            go.set()
            total = stations * checks
            restart, shown, reports = None, -1, []
            while len(reports) < len(procs):
                # Read the results as they come: a station cannot end while its result waits in the pipe.
                try:
                    reports.append(results.get(timeout=0.2))
                except queue.Empty:
                    if not any(p.is_alive() for p in procs):
                        raise RuntimeError("a station process ended without its result; see its error above")
                done = counter.value
                if restart is None and restart_at is not None and done >= restart_at * total:
                    t = time.perf_counter()
                    cluster.restart(down_s=down_s)
                    restart = {"at_checks": done, "outage_s": round(time.perf_counter() - t, 2)}
                if progress and done != shown:
                    progress(done, total)
                    shown = done
            wall_s = time.perf_counter() - t0
            for p in procs:
                p.join()
            with EvidenceStore.open(url, photos_dir=photos_dir) as store:
                written = store.count()
                distinct = store._db.execute("SELECT count(DISTINCT client_id) FROM checks").fetchone()[0]
                per_station = dict(store._db.execute("SELECT station, count(*) FROM checks GROUP BY station")
                                   .fetchall())
                chain = store.verify_chain(public_key=signer.public, require_signatures=True)
                files = store._db.execute("SELECT count(DISTINCT sha256) FROM check_files").fetchone()[0]
            cluster.drop_database(url)
    finally:
        cluster.stop()
    record_ms = np.array([1000 * s for r in reports for s in r["record_s"]])
    return {
        "stations": stations, "checks_per_station": checks, "checks_made": total, "records_written": written,
        "duplicates": written - distinct, "short_stations": {k: v for k, v in per_station.items() if v != checks},
        "chain_valid": chain.ok, "chain_rows": chain.rows, "chain_problems": list(chain.problems[:5]),
        "photo_files": files, "photos": photo_note,
        "record_ms_p50": round(float(np.percentile(record_ms, 50)), 1) if record_ms.size else None,
        "record_ms_p95": round(float(np.percentile(record_ms, 95)), 1) if record_ms.size else None,
        "record_ms_max": round(float(record_ms.max()), 1) if record_ms.size else None,
        "recorded_directly": int(record_ms.size), "spooled": sum(r["spooled"] for r in reports),
        "left_in_spool": sum(r["left_in_spool"] for r in reports), "restart": restart,
        "wall_s": round(wall_s, 1), "checks_per_s": round(total / wall_s, 1),
    }


def format_report(r: dict) -> str:
    ok = (r["records_written"] == r["checks_made"] and r["duplicates"] == 0 and r["chain_valid"]
          and r["left_in_spool"] == 0)
    restart = r["restart"]
    lines = [
        f"fleet: {r['stations']} stations x {r['checks_per_station']} checks into one PostgreSQL ({r['photos']})",
        f"  checks made {r['checks_made']}, records written {r['records_written']}, duplicates {r['duplicates']}, "
        f"left in spools {r['left_in_spool']}" + ("" if not r["short_stations"] else
                                                  f", stations short: {r['short_stations']}"),
        f"  chain: {r['chain_rows']} rows, {'valid, every row signed' if r['chain_valid'] else 'BROKEN'}"
        + ("" if r["chain_valid"] else f": {r['chain_problems']}"),
        f"  time to record a verdict (photo stored + chained, signed row committed): p50 {r['record_ms_p50']} ms, "
        f"p95 {r['record_ms_p95']} ms, max {r['record_ms_max']} ms ({r['recorded_directly']} recorded at once)",
        f"  wall {r['wall_s']} s, {r['checks_per_s']} checks/s over all stations",
    ]
    if restart:
        lines.append(f"  database restarted after {restart['at_checks']} checks (down {restart['outage_s']} s): "
                     f"{r['spooled']} checks spooled at the stations and replayed, none lost or doubled"
                     if ok else f"  database restarted after {restart['at_checks']} checks: {r['spooled']} spooled")
    lines.append("OK" if ok else "PROBLEM: see above")
    return "\n".join(lines)


__all__ = ["run", "format_report"]

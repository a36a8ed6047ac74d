"""``packcheck station``: the packing bench, one scanned order at a time."""
from __future__ import annotations

import logging
import sqlite3
import sys
from pathlib import Path

import click

from ..core.verdict import Status
from ..errors import PackcheckError
from .common import (
    CONTEXT, EXIT_INTERNAL, data_options, fail, handle_errors, load_checker, render_verdict, warn_if_stale,
)
from .db import db_options, open_store, photos_folder

log = logging.getLogger(__name__)


def _debug() -> bool:
    return bool(click.get_current_context().find_root().params.get("debug"))


def _show(out, *, verbose: bool) -> None:
    """Print one station outcome for the packer."""
    from ..apps.station import HELP

    if out.kind == "check":
        v, rec = out.verdict, out.record
        # The bell goes first, so it rings as the banner appears and leaves no stray byte on a later line.
        click.echo(("\a" if v.status is Status.FLAG else "") + render_verdict(v, verbose=verbose, big=True))
        note = (f"  recorded as check #{rec.id}" if rec.id else
                "  NOT YET RECORDED: the evidence database is unreachable; kept in the local spool, recorded "
                "when it answers")
        if rec.previous_check_id:
            note += f" (rescan; previous check #{rec.previous_check_id})"
        if out.photo:
            note += f", photo {out.photo}"
        click.echo(note)
        if v.status in (Status.FLAG, Status.REVIEW):
            click.echo(click.style(f"  DO NOT SEAL: fix the box and scan {v.order_id} again, "
                                   "or a supervisor types: !ok NAME REASON", bold=True))
        if verbose:
            click.echo("  station: " + ", ".join(f"{k} {1000 * t:.0f} ms" for k, t in out.timings))
    elif out.kind == "override":
        click.echo(click.style(f"OVERRIDE  {out.text}", fg="blue", bold=True))
    elif out.kind == "rejected":
        click.echo(click.style(f"!  {out.text}", fg="yellow", bold=True))
    elif out.kind == "help":
        click.echo(HELP)


def _summary_text(s) -> str:
    counts = ", ".join(f"{n} {k}" for k, n in sorted(s.by_status.items()))
    lines = [f"session ended: {s.checks} check{'s' if s.checks != 1 else ''}"
             + (f" ({counts})" if counts else "")
             + f", {s.overrides} override{'s' if s.overrides != 1 else ''}, {s.rescans} rescan"
             + ("s" if s.rescans != 1 else "") + f", {s.rejected} line{'s' if s.rejected != 1 else ''} rejected"]
    for r in s.unresolved:
        lines.append(click.style(f"  NOT RESOLVED: order {r.order_id} is {r.status.value} (check #{r.id}): "
                                 f"{r.message}", fg="red", bold=True))
    return "\n".join(lines)


@click.command(context_settings=CONTEXT)
@data_options
@db_options("Evidence store (a SQLite file is created if missing; a PostgreSQL one is made by 'packcheck db "
            "upgrade').")
@click.option("--station", "station_name", help="This bench's name (recorded; picks stations/NAME/empty.jpg).")
@click.option("--operator", help="The packer's name (recorded with every check).")
@click.option("--camera", type=int, metavar="INDEX", help="Take photos with this camera (OpenCV index, e.g. 0).")
@click.option("--photo-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Take photos from this folder: DIR/ORDER_ID.* or the newest image after the scan.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds to wait for the photo after a scan.")
@click.option("--capture-delay", type=click.FloatRange(min=0.0), default=0.0, show_default=True,
              help="With --camera: seconds between the scan and the picture.")
@click.option("--web", is_flag=True, help="Also show the latest verdict on a kiosk page on 127.0.0.1.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port of the kiosk page (0 picks a free one).")
@click.option("--signing-key", "signing_key", type=click.Path(dir_okay=False, path_type=Path),
              help="The site's private key that signs every recorded row (default: $PACKCHECK_SIGNING_KEY, else "
                   "~/.config/packcheck/site-key.pem; without one, rows are chained but unsigned).")
@click.option("--no-enrol", "no_enrol", is_flag=True,
              help="Do not keep clear PASS photos as references of their SKU (see 'packcheck enrol').")
@click.option("--spool", "spool_dir", type=click.Path(file_okay=False, path_type=Path),
              help="With a PostgreSQL --db: the local folder where checks wait while the database is away "
                   "(default: ~/.local/state/packcheck/spool).")
@click.option("-v", "--verbose", is_flag=True, help="Show every check and the per-stage timings.")
@handle_errors
def station(data_dir, thresholds_path, signals, cache_path, db_path, photos_dir, station_name, operator, camera,
            photo_dir, timeout_s, capture_delay, web, port, signing_key, no_enrol, spool_dir, verbose):
    """Run a packing station: read order ids from a barcode scanner (stdin), judge each photo.

    One long-lived process: the catalogue and listing index are loaded once. For
    each scanned order the photo is taken, judged and shown large (a bell rings on
    FLAG), and the check is recorded in the evidence database with its photo and
    the listing images. Unknown or garbled ids get a message and the loop goes on.

    \b
    Lines the station understands:
        ORDER_ID                   check this order (scan it again after fixing the box:
                                   the new check is linked to the previous one)
        !ok SUPERVISOR REASON...   the last checked box may ship anyway (also:
                                   override SUPERVISOR REASON...); recorded with the reason
        !help  !quit               (Ctrl-D also ends the session, with a summary)

    \b
    Examples:
        packcheck station --data sample_data --db evidence.sqlite --photo-dir /srv/camera --station bench-1
        packcheck station --data sample_data --db evidence.sqlite --camera 0 --operator ana --web
        packcheck station --data sample_data --db postgresql://bench3@db.lan/evidence \
            --photos-dir /mnt/evidence-photos --photo-dir /srv/camera --station bench-3
    """
    from ..apps.station import CameraSource, FolderSource, Station

    if (camera is None) == (photo_dir is None):
        fail("give one photo source: --photo-dir DIR (the folder the camera app saves into) or --camera INDEX")
    from ..apps.evidence.backends import is_url

    if spool_dir is not None and not is_url(db_path):
        fail("--spool is for a shared PostgreSQL store; a SQLite --db is on this machine's disk already")
    signer = _site_signer(signing_key, data_dir, photos_folder(db_path, photos_dir))
    store = open_store(db_path, photos_dir, create=True, signer=signer)
    if store.blob_root is None:
        store.close()
        fail(f"the station keeps its photos in the shared folder of {store.where}: give --photos-dir DIR "
             "(or PACKCHECK_PHOTOS=DIR)")
    spool = _spool(db_path, spool_dir, store)
    source = FolderSource(photo_dir) if photo_dir is not None else CameraSource(camera, delay_s=capture_delay)
    kiosk = None
    try:
        if web:  # before the slow part, so a port in use is reported at once
            from ..apps.kiosk import Kiosk

            kiosk = Kiosk(store, port=port).start()
            click.echo(f"kiosk page: {kiosk.url}", err=True)
        checker = load_checker(data_dir, thresholds_path, signals, cache_path)
        bench = Station(checker, store, source, station=station_name, operator=operator, timeout_s=timeout_s,
                        listeners=(kiosk.publish,) if kiosk else (), enrol=not no_enrol, spool=spool)
        warn_if_stale(checker.thresholds)
        where = f"folder {photo_dir}" if photo_dir is not None else f"camera {camera}"
        click.echo(f"station ready: {len(checker.catalogue.items)} SKUs, photos from {where}, evidence in "
                   f"{store.where}. Scan an order (!help for commands, Ctrl-D to end).", err=True)
        code = _loop(bench, verbose=verbose)
        if spool is not None and len(spool) and not spool.flush(store) and len(spool):
            click.echo(f"Warning: {len(spool)} checks still wait in {spool.folder} for the evidence database; the "
                       "next station session on this machine records them", err=True)
    finally:
        if kiosk is not None:
            kiosk.close()
        source.close()
        store.close()
    sys.exit(code)


def _spool(db_path: str, spool_dir: Path | None, store):
    """The local spool of a station on a shared (PostgreSQL) store; checks left from an earlier session go
    first. None for a SQLite file (on the station's own disk: nothing to wait for)."""
    from ..apps.evidence.backends import is_url
    from ..apps.evidence.spool import Spool

    if not is_url(db_path):
        return None
    spool = Spool(spool_dir or Path.home() / ".local" / "state" / "packcheck" / "spool")
    if len(spool):
        done = spool.flush(store)
        click.echo(f"recorded {done} check{'s' if done != 1 else ''} left in {spool.folder} by an earlier session"
                   + (f"; {len(spool)} still wait" if len(spool) else ""), err=True)
    return spool


def _site_signer(signing_key: Path | None, data_dir: Path, photos: Path | None):
    """The site key (refused when unsafe, or inside the data folder or the evidence photos); None, with a warning,
    when none was given and the default one does not exist."""
    from ..apps.evidence.keys import check_outside, default_key_path, load_signer

    path = signing_key or default_key_path()
    if signing_key is None and not path.exists():
        click.echo(f"Warning: no site signing key at {path}: checks are chained but not signed, and appeal "
                   "bundles cannot be made; create one with 'packcheck keys init'", err=True)
        return None
    check_outside(path, tuple(p for p in (data_dir, photos) if p is not None))
    return load_signer(path)


def _loop(bench, *, verbose: bool) -> int:
    stdin = sys.stdin
    interactive = stdin.isatty()
    code = 0
    try:
        while True:
            if interactive:
                click.echo("scan> ", nl=False, err=True)
            line = stdin.readline()
            if not line:
                break
            try:
                out = bench.handle(line)
            except (PackcheckError, sqlite3.Error, OSError) as e:
                # The bench must keep going; the packer must know this line had no effect.
                click.echo(click.style(f"Error: {e} (nothing was recorded for this line)", fg="red", bold=True))
                continue
            except Exception as e:  # noqa: BLE001 - one bad photo must not stop the bench
                if _debug():
                    raise
                log.exception("station line failed")
                click.echo(click.style(f"Error: unexpected {type(e).__name__}: {e} (a bug; nothing was recorded "
                                       "for this line; rerun with --debug and report it)", fg="red", bold=True))
                code = EXIT_INTERNAL
                continue
            _show(out, verbose=verbose)
            if out.kind == "quit":
                break
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        code = 130
    click.echo(_summary_text(bench.summary()))
    return code

"""``packcheck station``: the packing bench, one scanned order at a time."""
from __future__ import annotations

import logging
import sqlite3
import sys
from pathlib import Path

import click

from ..core.verdict import Status
from ..errors import PackcheckError
from ..util.text import printable
from .common import (
    CONTEXT, EXIT_INTERNAL, FiniteFloatRange, data_options, fail, handle_errors, load_checker, render_verdict,
    sigterm_as_interrupt, warn_if_stale,
)
from .db import db_options, open_store, photos_folder

log = logging.getLogger(__name__)


def _debug() -> bool:
    return bool(click.get_current_context().find_root().params.get("debug"))


def _show(out, *, verbose: bool, root: Path | None = None) -> None:
    """Print one station outcome for the packer (a "waiting" outcome is printed by :func:`_show_waiting`)."""
    from ..apps.present import INSTRUCTION
    from ..apps.station import HELP

    if out.kind == "check":
        v, rec = out.verdict, out.record
        # The bell goes first, so it rings as the banner appears and leaves no stray byte on a later line.
        click.echo(("\a" if v.status is Status.FLAG else "") + render_verdict(v, verbose=verbose, big=True,
                                                                             root=root))
        note = (f"  recorded as check #{rec.id}" if rec.id else
                "  NOT YET RECORDED: the evidence database is unreachable; kept in the local spool, recorded "
                "when it answers")
        if rec.previous_check_id:
            note += f" (rescan; previous check #{rec.previous_check_id})"
        if out.photo:
            note += f", photo {printable(out.photo)}"
        if out.note:
            note += f" ({printable(out.note)})"
        click.echo(note)
        if v.status is not Status.PASS:
            click.echo(click.style(f"  {INSTRUCTION[v.status.value]} (order {printable(v.order_id)}; a supervisor types: "
                                   "!ok NAME REASON)", bold=True))
        if verbose:
            click.echo("  station: " + ", ".join(f"{k} {1000 * t:.0f} ms" for k, t in out.timings))
    elif out.kind == "unrecorded":
        click.echo(render_verdict(out.verdict, verbose=verbose, big=True))
        click.echo(click.style(f"  NOT RECORDED: {printable(out.text)}", fg="red", bold=True))
    elif out.kind == "override":
        click.echo(click.style(f"OVERRIDE  {printable(out.text)}", fg="blue", bold=True))
    elif out.kind == "rejected":
        click.echo(click.style(f"!  {printable(out.text)}", fg="yellow", bold=True))
    elif out.kind == "help":
        click.echo(HELP)


def _show_waiting(out) -> None:
    """As soon as a scan is accepted, before the photo comes: the previous verdict is no longer on screen."""
    if out.kind == "waiting":
        click.echo(click.style(out.text, bold=True) + (f"  ({out.note})" if out.note else ""))


def _code_reader(stdin):
    """How the station reads a supervisor's code: without echo on a terminal, else the next input line
    (a badge scanner types it and Enter; tests send it)."""

    def ask(prompt: str) -> str | None:
        if stdin.isatty():
            try:
                return click.prompt(prompt.rstrip(": "), hide_input=True, err=True, default="", show_default=False)
            except click.exceptions.Abort:
                return None
        line = stdin.readline()
        return line.strip() or None

    return ask


def _summary_text(s) -> str:
    counts = ", ".join(f"{n} {k}" for k, n in sorted(s.by_status.items()))
    lines = [f"session ended: {s.checks} check{'s' if s.checks != 1 else ''}"
             + (f" ({counts})" if counts else "")
             + f", {s.overrides} override{'s' if s.overrides != 1 else ''}, {s.rescans} rescan"
             + ("s" if s.rescans != 1 else "") + f", {s.rejected} line{'s' if s.rejected != 1 else ''} rejected"]
    for r in s.unresolved:
        lines.append(click.style(f"  NOT RESOLVED: order {printable(r.order_id)} is {r.status.value} "
                                 f"(check #{r.id}): {printable(r.message)}", fg="red", bold=True))
    for order_id, (status, problem) in s.unrecorded.items():
        lines.append(click.style(f"  NOT RESOLVED: order {printable(order_id)} is {status}, not recorded: "
                                 f"{printable(problem)}", fg="red", bold=True))
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
@click.option("--timeout", "timeout_s", type=FiniteFloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds to wait for the photo after a scan.")
@click.option("--capture-delay", type=FiniteFloatRange(min=0.0), default=0.0, show_default=True,
              help="With --camera: seconds between the scan and the picture.")
@click.option("--web", is_flag=True, help="Also show the latest verdict on a kiosk page on 127.0.0.1.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port of the kiosk page (0 picks a free one).")
@click.option("--signing-key", "signing_key", type=click.Path(dir_okay=False, path_type=Path),
              help="The site's private key that signs every recorded row (default: $PACKCHECK_SIGNING_KEY, else "
                   "~/.config/packcheck/site-key.pem; without one, rows are chained but unsigned).")
@click.option("--supervisors", "supervisors_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Supervisors file (from 'packcheck supervisors add'); default: $PACKCHECK_SUPERVISORS or "
                   "~/.config/packcheck/supervisors.json when it exists. Without one no override is accepted.")
@click.option("--no-enrol", "no_enrol", is_flag=True,
              help="Do not keep clear PASS photos as references of their SKU (see 'packcheck enrol').")
@click.option("--spool", "spool_dir", type=click.Path(file_okay=False, path_type=Path),
              help="With a PostgreSQL --db: the local folder where checks wait while the database is away "
                   "(default: ~/.local/state/packcheck/spool).")
@click.option("-v", "--verbose", is_flag=True, help="Show every check and the per-stage timings.")
@handle_errors
def station(data_dir, thresholds_path, signals, cache_path, db_path, photos_dir, station_name, operator, camera,
            photo_dir, timeout_s, capture_delay, web, port, signing_key, supervisors_path, no_enrol, spool_dir,
            verbose):
    """Run a packing station: read order ids from a barcode scanner (stdin), judge each photo.

    One long-lived process: the catalogue and listing index are loaded once. For
    each scanned order "ORDER_ID: waiting for photo" shows at once, then the photo
    is taken, judged and shown large (a bell rings on FLAG; DO NOT SEAL unless it
    is a PASS), and the check is recorded in the evidence database with its photo
    and the listing images. An id in the wrong case is read as the order it
    names; an unknown one gets a "did you mean". A photo file named for another
    order, or already recorded for another order, is never taken for this one;
    the photo folder's files are read only if they are regular files (no links,
    pipes or devices) of at most 80 MB.

    \b
    Lines the station understands:
        ORDER_ID                   check this order (scan it again after fixing the box:
                                   the new check is linked to the previous one; with no
                                   new photo by --timeout, the last one is judged again)
        !ok SUPERVISOR REASON...   the last checked box may ship anyway (also: override ...):
                                   SUPERVISOR must be in --supervisors, and the station asks
                                   for the code (no echo on a terminal; else the next line).
                                   An ERROR ships only with a reason from a fixed list
                                   (!help lists it), as "shipped without evidence"
        !help  !quit               (Ctrl-D also ends the session, with a summary)

    \b
    Examples:
        packcheck station --data sample_data --db evidence.sqlite --photo-dir /srv/camera --station bench-1
        packcheck station --data sample_data --db evidence.sqlite --camera 0 --operator ana --web
        packcheck station --data sample_data --db postgresql://bench3@db.lan/evidence \
            --photos-dir /mnt/evidence-photos --photo-dir /srv/camera --station bench-3
        packcheck station --data shop --db evidence.sqlite --photo-dir incoming --supervisors /etc/packcheck/sup.json
    """
    from ..apps.station import CameraSource, FolderSource, Station
    from ..apps.supervisors import Supervisors, default_path

    if (camera is None) == (photo_dir is None):
        fail("give one photo source: --photo-dir DIR (the folder the camera app saves into) or --camera INDEX")
    from ..apps.evidence.backends import is_url

    if spool_dir is not None and not is_url(db_path):
        fail("--spool is for a shared PostgreSQL store; a SQLite --db is on this machine's disk already")
    if supervisors_path is None and default_path().exists():
        supervisors_path = default_path()
    supervisors = Supervisors.load(supervisors_path, data_dir=data_dir) if supervisors_path else None
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
        checker.orders.refresh()  # orders.csv indexed now, not at the first scan
        bench = Station(checker, store, source, station=station_name, operator=operator, timeout_s=timeout_s,
                        listeners=(_show_waiting,) + ((kiosk.publish,) if kiosk else ()), supervisors=supervisors,
                        ask_code=_code_reader(sys.stdin), enrol=not no_enrol, spool=spool)
        warn_if_stale(checker.thresholds)
        where = f"folder {photo_dir}" if photo_dir is not None else f"camera {camera}"
        who = (f"{len(supervisors.names())} supervisor(s) from {supervisors.path}" if supervisors
               else "no supervisors file: overrides are refused")
        click.echo(printable(f"station ready: {len(checker.catalogue.items)} SKUs, photos from {where}, evidence in "
                             f"{store.where}, {who}. Scan an order (!help for commands, Ctrl-D to end)."), err=True)
        with sigterm_as_interrupt():
            code = _loop(bench, verbose=verbose)
        if spool is not None and len(spool) and not spool.flush(store) and len(spool):
            click.echo(printable(f"Warning: {len(spool)} checks still wait in {spool.folder} for the evidence "
                                 "database; the next station session on this machine records them"), err=True)
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
                click.echo(click.style(f"Error: {printable(e)} (nothing was recorded for this line)", fg="magenta",
                                       bold=True))
                continue
            except Exception as e:  # noqa: BLE001 - one bad photo must not stop the bench
                if _debug():
                    raise
                log.exception("station line failed")
                click.echo(click.style(f"Error: unexpected {type(e).__name__}: {printable(e)} (a bug; nothing was "
                                       "recorded for this line; rerun with --debug and report it)", fg="magenta",
                                       bold=True))
                code = EXIT_INTERNAL
                continue
            _show(out, verbose=verbose, root=bench.checker.root)
            if out.kind == "quit":
                break
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        code = 130
    click.echo(_summary_text(bench.summary()))
    return code

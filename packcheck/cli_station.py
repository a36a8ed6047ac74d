"""``packcheck station``, ``packcheck evidence`` and ``packcheck history``: the packing bench and its proof."""
from __future__ import annotations

import logging
import sqlite3
import sys
from pathlib import Path

import click

from .cli import CONTEXT, EXIT_INTERNAL, fail, handle_errors
from .cliopts import data_options, dump_json, load_checker, render_verdict
from .core.verdict import Status
from .errors import PackcheckError

log = logging.getLogger(__name__)


def _debug() -> bool:
    return bool(click.get_current_context().find_root().params.get("debug"))


def _show(out, *, verbose: bool) -> None:
    """Print one station outcome for the packer."""
    from .apps.station import HELP

    if out.kind == "check":
        v, rec = out.verdict, out.record
        # The bell goes first, so it rings as the banner appears and leaves no stray byte on a later line.
        click.echo(("\a" if v.status is Status.FLAG else "") + render_verdict(v, verbose=verbose, big=True))
        note = f"  recorded as check #{rec.id}"
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
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Evidence database (created if missing); photos are kept in a photos/ folder beside it.")
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
@click.option("-v", "--verbose", is_flag=True, help="Show every check and the per-stage timings.")
@handle_errors
def station(data_dir, thresholds_path, signals, cache_path, db_path, station_name, operator, camera, photo_dir,
            timeout_s, capture_delay, web, port, verbose):
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
    """
    from .apps.evidence.store import EvidenceStore
    from .apps.station import CameraSource, FolderSource, Station

    if (camera is None) == (photo_dir is None):
        fail("give one photo source: --photo-dir DIR (the folder the camera app saves into) or --camera INDEX")
    store = EvidenceStore.open(db_path)
    source = FolderSource(photo_dir) if photo_dir is not None else CameraSource(camera, delay_s=capture_delay)
    kiosk = None
    try:
        if web:  # before the slow part, so a port in use is reported at once
            from .apps.kiosk import Kiosk

            kiosk = Kiosk(store, port=port).start()
            click.echo(f"kiosk page: {kiosk.url}", err=True)
        checker = load_checker(data_dir, thresholds_path, signals, cache_path)
        bench = Station(checker, store, source, station=station_name, operator=operator, timeout_s=timeout_s,
                        listeners=(kiosk.publish,) if kiosk else ())
        where = f"folder {photo_dir}" if photo_dir is not None else f"camera {camera}"
        click.echo(f"station ready: {len(checker.catalogue.items)} SKUs, photos from {where}, evidence in {db_path}. "
                   "Scan an order (!help for commands, Ctrl-D to end).", err=True)
        code = _loop(bench, verbose=verbose)
    finally:
        if kiosk is not None:
            kiosk.close()
        source.close()
        store.close()
    sys.exit(code)


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


@click.command(context_settings=CONTEXT)
@click.argument("order_id", required=False)
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Evidence database written by 'packcheck station'.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The zip to write (default: appeal-ORDER_ID.zip).")
@click.option("--verify", "verify_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Check an appeal zip against its SHA256SUMS instead (exit 0 ok, 2 mismatch).")
@handle_errors
def evidence(order_id, db_path, out_path, verify_path):
    """Write the appeal bundle of ORDER_ID, or --verify one.

    The zip holds the packing photo(s), the listing image(s) as they were at
    check time, a side-by-side sheet.png (verdict, colour swatches, scores, UTC
    time), verdict.json (every check of the order, overrides, history) and
    SHA256SUMS (also checkable with 'sha256sum -c SHA256SUMS' after unzipping).

    \b
    Examples:
        packcheck evidence ORD-1002 --db evidence.sqlite --out appeal.zip
        packcheck evidence --verify appeal.zip
    """
    from .apps.evidence.bundle import verify_bundle, write_bundle
    from .apps.evidence.store import EvidenceStore

    if verify_path is not None:
        if order_id or out_path:
            fail("--verify checks an existing zip; give it alone: packcheck evidence --verify appeal.zip")
        names = verify_bundle(verify_path)
        click.echo(f"OK: all {len(names)} files of {verify_path} match SHA256SUMS")
        return
    if not order_id:
        fail("give the ORDER_ID whose evidence to bundle (or --verify ZIP)")
    if db_path is None:
        fail("give the evidence database: --db evidence.sqlite")
    with EvidenceStore.open(db_path, create=False) as store:
        bundle = write_bundle(store, order_id, out_path or Path(f"appeal-{_file_safe(order_id)}.zip"))
    click.echo(f"wrote {bundle.path}: {bundle.checks} check{'s' if bundle.checks != 1 else ''} of order {order_id}, "
               f"{len(bundle.files)} files")
    for name in bundle.files:
        click.echo(f"  {name}")


def _file_safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)[:60] or "order"


@click.command(context_settings=CONTEXT)
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Evidence database written by 'packcheck station'.")
@click.option("--since", help="Only checks at or after this UTC date or time (2026-11-26, 2026-11-26T14:00).")
@click.option("--status", "statuses", multiple=True, type=click.Choice([s.value for s in Status], case_sensitive=False),
              help="Only checks with this status (repeatable).")
@click.option("--order", "order_id", help="Only the checks of this order.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the newest N checks.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of checks, with overrides and verdicts).")
@handle_errors
def history(db_path, since, statuses, order_id, limit, as_json):
    """List the checks recorded by 'packcheck station', oldest first.

    \b
    Examples:
        packcheck history --db evidence.sqlite --since 2026-11-26 --status FLAG
        packcheck history --db evidence.sqlite --order ORD-1002 --json
    """
    from .apps.evidence.store import EvidenceStore, parse_since

    since_utc = parse_since(since) if since else None
    with EvidenceStore.open(db_path, create=False) as store:
        records = store.history(since=since_utc, statuses=statuses, order_id=order_id, limit=limit)
    if as_json:
        click.echo(dump_json([_history_json(r) for r in records]))
        return
    if not records:
        click.echo("no checks recorded" + (" that match" if (since or statuses or order_id) else ""))
        return
    click.echo(f"{'#':>5}  {'time (UTC)':24}  {'order':14} {'station':10} {'operator':10} {'status':7} message")
    for r in records:
        click.echo(f"{r.id:>5}  {r.checked_at:24}  {r.order_id[:14]:14} {(r.station or '-')[:10]:10} "
                   f"{(r.operator or '-')[:10]:10} {r.status.value:7} {r.message}")
        if r.previous_check_id:
            click.echo(f"{'':33}rescan of #{r.previous_check_id}")
        for o in r.overrides:
            click.echo(f"{'':33}overridden by {o.supervisor} at {o.overridden_at}: {o.reason}")
    click.echo(f"{len(records)} check{'s' if len(records) != 1 else ''}")


def _history_json(r) -> dict:
    d = r.to_dict()
    return {k: d[k] for k in ("id", "order_id", "checked_at", "station", "operator", "status", "reasons", "message",
                              "thresholds_version", "photo_sha256", "previous_check_id", "overrides", "files",
                              "verdict")}


def register(group: click.Group) -> None:
    group.add_command(station)
    group.add_command(evidence)
    group.add_command(history)


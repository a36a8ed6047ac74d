"""``packcheck evidence`` and ``packcheck history``: the station's records, and the appeal bundle."""
from __future__ import annotations

from pathlib import Path

import click

from ..core.verdict import Status
from ..util.text import printable
from .common import CONTEXT, dump_json, fail, handle_errors


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
    from ..apps.evidence.bundle import verify_bundle, write_bundle
    from ..apps.evidence.store import EvidenceStore

    if verify_path is not None:
        if order_id or out_path:
            fail("--verify checks an existing zip; give it alone: packcheck evidence --verify appeal.zip")
        names = verify_bundle(verify_path)
        click.echo(printable(f"OK: all {len(names)} files of {verify_path} match SHA256SUMS"))
        return
    if not order_id:
        fail("give the ORDER_ID whose evidence to bundle (or --verify ZIP)")
    if db_path is None:
        fail("give the evidence database: --db evidence.sqlite")
    with EvidenceStore.open(db_path, create=False) as store:
        bundle = write_bundle(store, order_id, out_path or Path(f"appeal-{_file_safe(order_id)}.zip"))
    click.echo(printable(f"wrote {bundle.path}: {bundle.checks} check{'s' if bundle.checks != 1 else ''} of order "
                         f"{order_id}, {len(bundle.files)} files"))
    for name in bundle.files:
        click.echo(f"  {printable(name)}")


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
    from ..apps.evidence.store import EvidenceStore, parse_since
    from ..apps.present import override_text

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
        # Every recorded text is shown escaped: a typed reason or a title must not redraw the table.
        click.echo(f"{r.id:>5}  {printable(r.checked_at):24}  {printable(r.order_id)[:14]:14} "
                   f"{printable(r.station or '-')[:10]:10} {printable(r.operator or '-')[:10]:10} "
                   f"{r.status.value:7} {printable(r.message)}")
        if r.previous_check_id:
            click.echo(f"{'':33}rescan of #{r.previous_check_id}")
        for o in r.overrides:
            click.echo(f"{'':33}{printable(override_text(o))}")
    click.echo(f"{len(records)} check{'s' if len(records) != 1 else ''}")


def _history_json(r) -> dict:
    d = r.to_dict()
    return {**{k: d[k] for k in ("id", "order_id", "checked_at", "station", "operator", "status", "reasons",
                                 "message", "thresholds_version", "photo_sha256", "previous_check_id", "overrides",
                                 "files", "verdict")},
            "shipped_without_evidence": r.shipped_without_evidence}

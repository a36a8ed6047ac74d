"""``packcheck evidence``, ``packcheck history`` and ``packcheck keys``: the station's records, the signed
appeal bundle, and the site key that signs both."""
from __future__ import annotations

from pathlib import Path

import click

from ..core.verdict import Status
from ..util.fsio import check_output_path
from ..util.text import printable
from .common import CONTEXT, EXIT_ERROR, dump_json, fail, handle_errors
from .db import db_options, open_store, photos_folder


def _signing_key_option(func):
    return click.option(
        "--signing-key", "signing_key", type=click.Path(dir_okay=False, path_type=Path),
        help="The site's private key (default: $PACKCHECK_SIGNING_KEY, else ~/.config/packcheck/site-key.pem).",
    )(func)


def _public_key_option(help_text: str):
    return click.option("--key", "public_key", type=click.Path(dir_okay=False, path_type=Path), help=help_text)


@click.command(context_settings=CONTEXT)
@click.argument("order_id", required=False)
@db_options("Evidence store written by 'packcheck station' (with --verify: cross-check it too).", required=False)
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The zip to write (default: appeal-ORDER_ID.zip).")
@click.option("--verify", "verify_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Verify an appeal zip instead (exit 0: everything holds; 2: a problem, named).")
@_public_key_option("With --verify: the seller's published public key (.pem) the bundle must be signed with.")
@_signing_key_option
@handle_errors
def evidence(order_id, db_path, photos_dir, out_path, verify_path, public_key, signing_key):
    """Write the signed appeal bundle of ORDER_ID, or --verify one.

    The zip holds the packing photo(s), the listing image(s) as they were at
    check time, a side-by-side sheet.png (verdict, colour swatches, scores, UTC
    time), verdict.json (every check of the order, overrides, history, each
    with its place in the evidence chain), SHA256SUMS and SIGNATURE.json (the
    site key's signature over SHA256SUMS and the chain positions).

    --verify checks the signature (and prints the signing key's fingerprint:
    compare it with the seller's published key, or require it with --key), every
    file's hash, the photo hashes in verdict.json, the member list (nothing
    missing, extra, duplicated, absolute, '..', a link or a device) and the chain
    records; with --db also the database's chain and each check against it.

    \b
    Examples:
        packcheck evidence ORD-1002 --db evidence.sqlite --out appeal.zip
        packcheck evidence --verify appeal.zip --key seller-key.pem
        packcheck evidence --verify appeal.zip --db evidence.sqlite
        packcheck evidence ORD-1002 --db postgresql://office@db.lan/evidence --photos-dir /mnt/evidence-photos
    """
    from ..apps.evidence.bundle import verify_bundle, write_bundle
    from ..apps.evidence.keys import load_public, load_signer

    if verify_path is not None:
        if order_id or out_path:
            fail("--verify checks an existing zip; give it alone: packcheck evidence --verify appeal.zip")
        key = load_public(public_key) if public_key else None
        store = open_store(db_path, photos_dir) if db_path else None
        try:
            result = verify_bundle(verify_path, key=key, store=store)
        finally:
            if store is not None:
                store.close()
        click.echo(printable(f"OK: {verify_path}: order {result.order_id}, {result.checks} check"
                             f"{'s' if result.checks != 1 else ''}, all {len(result.files)} files match SHA256SUMS, "
                             f"signature valid"))
        click.echo(printable(f"signed by key {result.key_fingerprint}"
                             + (" (the key given)" if key else ": compare it with the seller's published key")))
        if result.database_checked:
            click.echo(printable(f"database {store.where}: chain of {result.chain_rows} rows valid; the bundle's "
                                 "checks match their rows"))
        return
    if not order_id:
        fail("give the ORDER_ID whose evidence to bundle (or --verify ZIP)")
    if db_path is None:
        fail("give the evidence database: --db evidence.sqlite (or postgresql://USER@HOST/DB)")
    out_path = out_path or Path(f"appeal-{_file_safe(order_id)}.zip")
    check_output_path(out_path, what="the bundle", replace_database=False)  # a pipe or the database: before the key
    signer = load_signer(signing_key)
    with open_store(db_path, photos_dir) as store:
        bundle = write_bundle(store, order_id, out_path, signer=signer)
    click.echo(printable(f"wrote {bundle.path}: {bundle.checks} check{'s' if bundle.checks != 1 else ''} of order "
                         f"{order_id}, {len(bundle.files)} files, signed by {signer.fingerprint}"))
    for name in bundle.files:
        click.echo(f"  {printable(name)}")


def _file_safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)[:60] or "order"


@click.command(context_settings=CONTEXT)
@db_options("Evidence store written by 'packcheck station'.")
@click.option("--since", help="Only checks at or after this UTC date or time (2026-11-26, 2026-11-26T14:00).")
@click.option("--status", "statuses", multiple=True, type=click.Choice([s.value for s in Status], case_sensitive=False),
              help="Only checks with this status (repeatable).")
@click.option("--order", "order_id", help="Only the checks of this order.")
@click.option("--station", "station", help="Only the checks of this station (every station's by default).")
@click.option("--stations", "stations", is_flag=True,
              help="Instead of the checks: one line per station (checks, FLAG/REVIEW rates, overrides, median "
                   "photo-to-verdict time); with --since, only since then.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the newest N checks.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of checks, with overrides and verdicts).")
@click.option("--verify", "verify", is_flag=True,
              help="Verify the evidence chain instead: find edited, deleted or reordered rows (exit 2 if any).")
@_public_key_option("With --verify: also check every row's signature with this public key (.pem); "
                    "default: the site key, when this account can read it.")
@_signing_key_option
@handle_errors
def history(db_path, photos_dir, since, statuses, order_id, station, stations, limit, as_json, verify, public_key,
            signing_key):
    """List the checks recorded by 'packcheck station' (every station's), oldest first, or --verify the chain.

    Rows are read a few hundred at a time, so any history lists in flat memory.
    A photo that is a copy of a listing image or of another order's photo is
    marked on its own line (PHOTO IS A LISTING IMAGE, PHOTO REUSED).

    \b
    Examples:
        packcheck history --db evidence.sqlite --since 2026-11-26 --status FLAG
        packcheck history --db evidence.sqlite --order ORD-1002 --json
        packcheck history --db evidence.sqlite --verify --key seller-key.pem
        packcheck history --db postgresql://office@db.lan/evidence --station bench-3 --status FLAG
        packcheck history --db postgresql://office@db.lan/evidence --stations --since 2026-11-26
    """
    from ..apps.evidence.store import parse_since

    if verify:
        if since or statuses or order_id or station or stations or limit or as_json:
            fail("--verify checks the whole chain; give it with --db (and --key) only")
        _verify_history(db_path, photos_dir, public_key, signing_key)
        return
    since_utc = parse_since(since) if since else None
    if stations:
        if statuses or order_id or station or limit:
            fail("--stations sums up every station; give it with --db (and --since, --json) only")
        _station_summary(db_path, photos_dir, since_utc, as_json)
        return
    with open_store(db_path, photos_dir) as store:
        records = store.iter_history(since=since_utc, statuses=statuses, order_id=order_id, station=station,
                                     limit=limit)
        if as_json:
            # Streamed: one check at a time, never the whole list in memory.
            n = 0
            for r in records:
                text = dump_json(_history_json(r))
                click.echo(("[\n" if n == 0 else ",\n") + "\n".join("  " + line for line in text.splitlines()),
                           nl=False)
                n += 1
            click.echo("\n]" if n else "[]")
            return
        n = 0
        for r in records:
            if n == 0:
                click.echo(f"{'#':>5}  {'time (UTC)':24}  {'order':14} {'station':10} {'operator':10} {'status':7} "
                           "message")
            n += 1
            _history_lines(r)
    if not n:
        click.echo("no checks recorded" + (" that match" if (since or statuses or order_id or station) else ""))
        return
    click.echo(f"{n} check{'s' if n != 1 else ''}")


def _history_lines(r) -> None:
    from ..apps.present import override_text

    # Every recorded text is shown escaped: a typed reason or a title must not redraw the table.
    click.echo(f"{r.id:>5}  {printable(r.checked_at):24}  {printable(r.order_id)[:14]:14} "
               f"{printable(r.station or '-')[:10]:10} {printable(r.operator or '-')[:10]:10} "
               f"{r.status.value:7} {printable(r.message)}")
    pad = " " * 33
    for c in r.verdict.get("checks", []):
        if c.get("reason") == "photo_is_listing":
            click.echo(click.style(f"{pad}PHOTO IS A LISTING IMAGE: {printable(c.get('message'))}", bold=True))
        elif c.get("reason") == "photo_reused":
            click.echo(click.style(f"{pad}PHOTO REUSED: {printable(c.get('message'))}", bold=True))
    if r.previous_check_id:
        click.echo(f"{pad}rescan of #{r.previous_check_id}")
    for o in r.overrides:
        click.echo(f"{pad}{printable(override_text(o))}")


def _station_summary(db_path: str, photos_dir: Path | None, since_utc: str | None, as_json: bool) -> None:
    from ..apps.evidence.fleet import SUMMARY_COLUMNS, station_summaries

    with open_store(db_path, photos_dir) as store:
        rows = station_summaries(store, since=since_utc)
    if as_json:
        click.echo(dump_json([r.to_dict() for r in rows]))
        return
    if not rows:
        click.echo("no checks recorded")
        return

    def line(cells) -> str:  # the station's name left-aligned and cut, the figures right-aligned
        return " ".join(f"{printable(c)[:w]:{w}}" if i == 0 else f"{c:>{w}}"
                        for i, (c, (_, w)) in enumerate(zip(cells, SUMMARY_COLUMNS)))

    click.echo(line([name for name, _ in SUMMARY_COLUMNS]))
    for r in rows:
        click.echo(line(r.cells()))
    total = sum(r.checks for r in rows)
    click.echo(f"{len(rows)} station{'s' if len(rows) != 1 else ''}, {total} check{'s' if total != 1 else ''}")


def _verify_history(db_path: str, photos_dir: Path | None, public_key: Path | None, signing_key: Path | None) -> None:
    import sys

    from ..apps.evidence.keys import SigningKeyError, load_public, load_signer

    key, where = None, ""
    if public_key:
        key, where = load_public(public_key), str(public_key)
    else:
        try:
            signer = load_signer(signing_key)
            key, where = signer.public, f"the site key {signer.path}"
        except SigningKeyError:
            key = None
    with open_store(db_path, photos_dir) as store:
        report = store.verify_chain(public_key=key, require_signatures=public_key is not None)
        where = store.where
    for p in report.problems:
        click.echo(printable(f"FOUND: {p}"))
    sig_note = (f"{report.signed} of {report.rows} rows signed, signatures checked with {where}"
                if report.signatures_checked else
                f"{report.signed} of {report.rows} rows signed, signatures NOT checked (give --key PUBKEY)")
    if report.problems:
        click.echo(printable(f"Error: the evidence chain of {where} is broken: {len(report.problems)} problem"
                             f"{'s' if len(report.problems) != 1 else ''} found ({sig_note})"), err=True)
        sys.exit(EXIT_ERROR)
    click.echo(printable(f"OK: the evidence chain of {where} holds: {report.rows} rows, none edited, deleted or "
                         f"reordered; {sig_note}"))
    click.echo(f"chain head: position {report.head_seq}, hash {report.head_hash} (note it: deleting the newest "
               "rows is found against a noted head or a bundle)")


def _history_json(r) -> dict:
    d = r.to_dict()
    return {**{k: d[k] for k in ("id", "order_id", "checked_at", "station", "operator", "status", "reasons",
                                 "message", "thresholds_version", "photo_sha256", "previous_check_id", "overrides",
                                 "files", "verdict", "chain")},
            "shipped_without_evidence": r.shipped_without_evidence}


@click.group(context_settings=CONTEXT)
def keys():
    """The site signing key (Ed25519) that signs every recorded check and appeal bundle.

    The private key stays with the account that runs the station, outside the
    data and evidence folders, readable by that account only (mode 0600). Publish
    the public key (keys export) so reviewers can check bundles against it.

    \b
    Examples:
        packcheck keys init
        packcheck keys export --out seller-key.pem
    """


@keys.command("init", context_settings=CONTEXT)
@_signing_key_option
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              help="The data folder the key must stay out of.")
@db_options("The evidence store whose photos folder the key must stay out of.", required=False)
@handle_errors
def keys_init(signing_key, data_dir, db_path, photos_dir):
    """Create the site's signing key (never replaces one) and print its fingerprint.

    \b
    Example:
        packcheck keys init --signing-key /etc/packcheck/site-key.pem --db /srv/evidence/evidence.sqlite
    """
    from ..apps.evidence.keys import init_key

    folders = tuple(p for p in (data_dir, photos_folder(db_path, photos_dir) if db_path else photos_dir)
                    if p is not None)
    signer = init_key(signing_key, forbidden=folders)
    click.echo(printable(f"created {signer.path} (mode 0600)"))
    click.echo(f"fingerprint {signer.fingerprint}")
    click.echo("publish the public key: packcheck keys export --out seller-key.pem")


@keys.command("export", context_settings=CONTEXT)
@_signing_key_option
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the public key here (default: print it).")
@handle_errors
def keys_export(signing_key, out_path):
    """Print (or write) the site's public key and its fingerprint, for reviewers.

    \b
    Example:
        packcheck keys export --out seller-key.pem
    """
    from ..apps.evidence.keys import load_signer, public_pem

    signer = load_signer(signing_key)
    pem = public_pem(signer.public)
    if out_path:
        from ..util.fsio import atomic_write

        atomic_write(out_path, lambda f: f.write(pem))
        click.echo(printable(f"wrote {out_path}"))
    else:
        click.echo(pem, nl=False)
    click.echo(f"fingerprint {signer.fingerprint}", err=bool(not out_path))



"""``packcheck enrol``: confirmed real photos become references of their SKU (add, list, remove)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..util.text import printable
from .common import CONTEXT, data_options, dump_json, handle_errors, load_checker


@click.command(context_settings=CONTEXT)
@click.argument("sku", required=False)
@click.argument("photos", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@data_options
@click.option("--by", "confirmed_by", help="Who confirms the photos show SKU (recorded with each reference).")
@click.option("--order", "order_id", default="", help="The order the photos were packed for (recorded).")
@click.option("--list", "list_", is_flag=True, help="List the references (of SKU, or all).")
@click.option("--remove", "remove_id", metavar="REF_ID", help="Remove the reference with this id.")
@click.option("--json", "as_json", is_flag=True, help="With --list: print JSON.")
@handle_errors
def enrol(sku, photos, data_dir, thresholds_path, signals, cache_path, confirmed_by, order_id, list_, remove_id,
          as_json):
    """Enrol confirmed photos of SKU as references, or list or remove references.

    A reference is a real photo of the SKU, matched photo-to-photo beside its
    listing images: once a few packs are confirmed, new photos are compared
    with photos taken on the same bench, light and camera. Each is kept in
    DATA/references/ and DATA/references.csv with who confirmed it, when, for
    which order, and its SHA-256. A photo nearly the same as an enrolled one,
    or beyond the cap per SKU, is skipped with the reason. A verdict says when
    a reference decided it; remove a wrong one with --remove.

    \b
    Examples:
        packcheck enrol MUG-GM-RED bench/IMG_2211.jpg bench/IMG_2214.jpg --data shop --by ana
        packcheck enrol --list --data shop
        packcheck enrol --remove 3f9a0c1e22b1 --data shop
    """
    from ..apps import enrolment
    from ..store import references

    if list_ or remove_id:
        if photos or (remove_id and sku):
            raise click.UsageError("--list takes at most a SKU; --remove takes only the REF_ID")
        if remove_id:
            ref = references.remove_reference(data_dir, remove_id)
            click.echo(printable(f"removed reference {ref.ref_id} of {ref.sku} ({ref.path}, enrolled "
                                 f"{ref.added_utc} by {ref.confirmed_by})"))
            return
        refs = [r for r in references.load_references(data_dir) if sku is None or r.sku == sku]
        if as_json:
            click.echo(dump_json(references.as_rows(refs)))
            return
        for r in refs:
            click.echo(printable(f"{r.ref_id}  {r.sku:16s} {r.source:13s} {r.added_utc}  by "
                                 f"{r.confirmed_by or '-':12s} order {r.order_id or '-':12s} {r.path}"))
        click.echo(f"{len(refs)} reference(s)")
        return
    if not sku or not photos:
        raise click.UsageError("give a SKU and at least one photo (or --list / --remove)")
    if not confirmed_by:
        raise click.UsageError("--by NAME: say who confirms that the photos show the SKU (it is recorded)")
    checker = load_checker(data_dir, thresholds_path, signals, cache_path)
    added = 0
    for photo in photos:
        got = enrolment.enrol(checker, sku, photo, confirmed_by=confirmed_by, source="manual", order_id=order_id)
        if got.reference is not None:
            added += 1
            click.echo(printable(f"enrolled {got.photo} as reference {got.reference.ref_id} of {sku}"))
        else:
            click.echo(printable(f"skipped {got.photo}: {got.reason}"))
    click.echo(printable(f"{added} of {len(photos)} photo(s) enrolled; {sku} has "
                         f"{sum(1 for r in checker.references if r.sku == sku)} reference(s)"))
    sys.exit(0)

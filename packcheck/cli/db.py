"""``packcheck db``: the evidence store's schema and moving a station's history; and the ``--db`` /
``--photos-dir`` options every evidence command shares."""
from __future__ import annotations

from pathlib import Path

import click

from .common import CONTEXT, handle_errors

DB_HELP = ("A SQLite file (one station; photos in photos/ beside it) or postgresql://USER@HOST/DB (a "
           "warehouse's shared store); default: $PACKCHECK_DB.")


def db_options(help_text: str, *, required: bool = True):
    """``--db FILE|URL`` (or $PACKCHECK_DB) and ``--photos-dir DIR`` (or $PACKCHECK_PHOTOS)."""
    from ..apps.evidence.backends import DB_ENV
    from ..apps.evidence.store import PHOTOS_ENV

    def decorate(func):
        func = click.option(
            "--photos-dir", "photos_dir", type=click.Path(file_okay=False, path_type=Path), envvar=PHOTOS_ENV,
            help="The photo folder of a PostgreSQL store (may be a network mount shared by every station; "
                 f"default: ${PHOTOS_ENV}). A SQLite store keeps photos/ beside its file.")(func)
        return click.option("--db", "db_path", metavar="FILE|URL", envvar=DB_ENV, required=required,
                            help=f"{help_text} {DB_HELP}")(func)
    return decorate


def open_store(db: str, photos_dir: Path | None, *, create: bool = False, signer=None, upgrade: bool | None = None):
    from ..apps.evidence.store import EvidenceStore

    return EvidenceStore.open(db, create=create, signer=signer, photos_dir=photos_dir, upgrade=upgrade)


def photos_folder(db: str, photos_dir: Path | None) -> Path | None:
    """Where the store's photos live (the site key must stay out of it)."""
    from ..apps.evidence.backends import is_url
    from ..apps.evidence.store import BLOB_DIR

    if photos_dir is not None:
        return photos_dir
    return None if is_url(db) else Path(db).parent / BLOB_DIR


@click.group(context_settings=CONTEXT)
def db():
    """The evidence store's schema, and moving a station's history into a shared store.

    \b
    Examples:
        packcheck db upgrade --db postgresql://packcheck@db.lan/evidence
        packcheck db copy --from bench-1/evidence.sqlite --to postgresql://packcheck@db.lan/evidence \\
            --photos-dir /mnt/evidence-photos
    """


@db.command("upgrade", context_settings=CONTEXT)
@db_options("The evidence store to create or bring up to date.")
@handle_errors
def db_upgrade(db_path, photos_dir):
    """Create the evidence schema in an empty database, or run the migrations it lacks.

    A SQLite file is upgraded whenever a station opens it; a shared PostgreSQL
    store only by this command (run once, from one machine, before the stations
    start the new packcheck), so no station migrates it mid-shift.

    \b
    Example:
        packcheck db upgrade --db postgresql://packcheck@db.lan/evidence
    """
    from ..apps.evidence.store import SCHEMA_VERSION

    with open_store(db_path, photos_dir, create=True, upgrade=True) as store:
        applied = store.applied
        where = store.where
    if applied:
        click.echo(f"{where}: schema {SCHEMA_VERSION} (applied {', '.join(map(str, applied))})")
    else:
        click.echo(f"{where}: schema {SCHEMA_VERSION}, up to date")


@db.command("copy", context_settings=CONTEXT)
@click.option("--from", "source", required=True, metavar="FILE|URL",
              help="The store to copy (a station's SQLite file).")
@click.option("--to", "target", required=True, metavar="FILE|URL",
              help="The empty store to copy into (postgresql://USER@HOST/DB); its schema is made if needed.")
@click.option("--from-photos", "source_photos", type=click.Path(file_okay=False, path_type=Path),
              help="The source's photo folder (default: photos/ beside a SQLite file).")
@click.option("--photos-dir", "photos_dir", type=click.Path(file_okay=False, path_type=Path),
              envvar="PACKCHECK_PHOTOS", help="The target's photo folder (default: $PACKCHECK_PHOTOS).")
@handle_errors
def db_copy(source, target, source_photos, photos_dir):
    """Copy a station's evidence history (checks, overrides, photos, the chain and its signatures) into
    an empty store, then verify it: row counts, the chain, every photo's SHA-256.

    Rows keep their ids and chain positions (their signatures cover them), so
    appeal bundles made from the SQLite file verify against the new store too.

    \b
    Example:
        packcheck db copy --from evidence.sqlite --to postgresql://packcheck@db.lan/evidence \\
            --photos-dir /mnt/evidence-photos
    """
    from ..apps.evidence.fleet import copy_store

    with open_store(source, source_photos) as src, open_store(target, photos_dir, create=True, upgrade=True) as dst:
        report = copy_store(src, dst)
        where = dst.where
    rows = ", ".join(f"{n} {table}" for table, n in report.rows.items())
    click.echo(f"copied {src.where} into {where}: {rows}; {report.files} files")
    click.echo(f"verified: row counts equal; chain of {report.chain_rows} rows valid, head position "
               f"{report.head_seq} hash {report.head_hash} (same as the source); {report.files} files match their "
               "SHA-256")

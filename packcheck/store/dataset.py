"""The data folder: a shop's catalogue export and its packing records, validated.

Files (paths inside them are relative to the CSV's folder and may not leave it)::

    catalogue.csv   sku,product_id,title,variant,listing_images[,weight_g]
    components.csv  sku,component,qty_per_unit[,weight_g]  (optional; weight_g: grams per piece)
    orders.csv      order_id,sku,qty,photo[,station]
    packed.csv      order_id,component,count[,packed_weight_g]   (optional)
    stations/<station>/empty.jpg                          (optional empty-bench photos)

Read with the standard ``csv`` module (no pandas in the core). Every problem is a
:class:`~packcheck.errors.DataError` naming file, row (as a spreadsheet shows
it: the header is row 1) and field. Problems that make the whole folder unusable
(a missing column, an unreadable catalogue) raise; problems confined to one
order (an unknown SKU, a bad quantity) are kept with that order, so a batch
reports them as that order's ERROR and goes on.
"""
from __future__ import annotations

import csv
import io
import os
import stat
from pathlib import Path
from typing import Iterator

from ..core.records import Catalogue, CatalogueItem, Order, OrderLine
from ..errors import DataError, PathEscapes

CATALOGUE = "catalogue.csv"
COMPONENTS = "components.csv"
ORDERS = "orders.csv"
PACKED = "packed.csv"
#: A quantity above this is a typo or an attack, not a parcel.
MAX_QTY = 10_000
#: Longest CSV field accepted (a title, a list of photos). Checked here, row by row: the
#: csv module's own limit is process-wide (csv.field_size_limit) and is left as the host set it.
MAX_FIELD_CHARS = 20_000
#: Largest CSV accepted; a nightly orders file of 100,000 rows is about 10 MB.
MAX_CSV_BYTES = 2 * 1024**3


# ---------------------------------------------------------------- reading CSV safely
def decode_text(data: bytes, name: str) -> str:
    """A CSV file's bytes as text: UTF-8 with or without a BOM, else a DataError naming the byte and line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        row = data[: e.start].count(b"\n") + 1
        raise DataError(
            f"is not UTF-8 (byte 0x{data[e.start]:02x} on line {row}); "
            "re-export it as 'CSV UTF-8' from the spreadsheet",
            file=name,
        ) from None


def read_csv(path: Path, required: tuple[str, ...], *, optional: tuple[str, ...] = ()) -> Iterator[tuple[int, dict]]:
    """Yield (row number, {column: stripped value}) for each data row; header problems raise.

    Row numbers count as a spreadsheet does (header = 1), and a quoted field that
    spans lines still counts as one row.
    """
    name = path.name
    try:
        if path.is_dir():
            raise DataError("is a folder, not a CSV file", file=str(path))
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):  # a pipe or device: reading it could wait forever
            raise DataError("is not a regular file (a pipe or device?)", file=str(path))
        if st.st_size > MAX_CSV_BYTES:
            raise DataError(f"is larger than {MAX_CSV_BYTES // 1024**3} GB", file=str(path))
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError("does not exist", file=str(path)) from None
    except PermissionError:
        raise DataError("cannot be read (permission denied)", file=str(path)) from None
    except OSError as e:
        raise DataError(f"cannot be read ({e.strerror or e})", file=str(path)) from None
    text = decode_text(data, name)
    if "\x00" in text:
        raise DataError("contains NUL bytes; it is not a text CSV file", file=name)
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise DataError(f"is empty; it needs a header row with {', '.join(required)}", file=name)
        columns = [h.strip().lower() for h in header]
        missing = [c for c in required if c not in columns]
        if missing:
            raise DataError(
                f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"(found: {', '.join(c for c in columns if c) or 'none'})",
                file=name, row=1,
            )
        dupes = {c for c in columns if c and columns.count(c) > 1}
        if dupes:
            raise DataError(f"column(s) {', '.join(sorted(dupes))} appear more than once", file=name, row=1)
        wanted = set(required) | set(optional)
        idx = {c: i for i, c in enumerate(columns) if c in wanted}
        row_no = 1
        for rec in reader:
            row_no += 1
            if not any(v.strip() for v in rec):
                continue  # blank lines are not rows
            long = next((i for i, v in enumerate(rec) if len(v) > MAX_FIELD_CHARS), None)
            if long is not None:
                raise DataError(f"is not a valid CSV (field larger than field limit ({MAX_FIELD_CHARS} characters))",
                                file=name, row=row_no, field=columns[long] if long < len(columns) else None)
            yield row_no, {c: (rec[i].strip() if i < len(rec) else "") for c, i in idx.items()}
    except csv.Error as e:
        # The csv module's own field limit (process-wide, the host's) fired before ours.
        text = f"field larger than field limit ({MAX_FIELD_CHARS} characters)" if "field limit" in str(e) else e
        raise DataError(f"is not a valid CSV ({text})", file=name, row=reader.line_num) from None


def resolve_inside(root: Path, value: str, *, file: str, row: int, field: str) -> Path:
    """The path ``value`` relative to ``root``, refused when it resolves outside ``root``.

    Symlinks are followed first, so a link pointing out of the folder is refused too.
    """
    if not value:
        raise DataError("is empty; give an image path", file=file, row=row, field=field)
    if "\x00" in value:
        raise DataError("contains a NUL character", file=file, row=row, field=field)
    candidate = Path(value)
    if candidate.is_absolute():
        raise PathEscapes(f"'{value}' is an absolute path; give it relative to the data folder",
                          file=file, row=row, field=field)
    real_root = Path(os.path.realpath(root))
    full = Path(os.path.realpath(root / candidate))
    if full != real_root and real_root not in full.parents:
        raise PathEscapes(f"'{value}' points outside the data folder; copy the file into it",
                          file=file, row=row, field=field)
    return full


def _split_paths(value: str) -> list[str]:
    return [p.strip() for p in value.split(";") if p.strip()]


def _positive_int(value: str, *, file: str, row: int, field: str, allow_zero: bool = False) -> int:
    text = value.strip()
    if text.endswith(".0"):
        text = text[:-2]  # spreadsheets write 2 as 2.0
    if not text.lstrip("+").isdigit() or not text.isascii():
        raise DataError(f"'{value}' is not a whole number", file=file, row=row, field=field)
    n = int(text)
    if n < (0 if allow_zero else 1):
        raise DataError(f"'{value}' must be {'0 or more' if allow_zero else 'at least 1'}",
                        file=file, row=row, field=field)
    if n > MAX_QTY:
        raise DataError(f"'{value}' is more than {MAX_QTY}; check the export", file=file, row=row, field=field)
    return n


def _optional_float(value: str, *, file: str, row: int, field: str) -> float | None:
    if not value:
        return None
    try:
        v = float(value)
    except ValueError:
        raise DataError(f"'{value}' is not a number", file=file, row=row, field=field) from None
    if not (0 <= v < 1e7):
        raise DataError(f"'{value}' is not a plausible weight in grams", file=file, row=row, field=field)
    return v


# ---------------------------------------------------------------- the folder
def load_catalogue(root: Path, *, check_files: bool = True) -> Catalogue:
    """Read catalogue.csv and components.csv; any problem raises (the folder is unusable)."""
    root = Path(root)
    items: dict[str, CatalogueItem] = {}
    path = root / CATALOGUE
    for row, rec in read_csv(path, ("sku", "product_id", "title", "variant", "listing_images"),
                             optional=("weight_g",)):
        sku = rec["sku"]
        if not sku:
            raise DataError("is empty", file=CATALOGUE, row=row, field="sku")
        if sku in items:
            raise DataError(f"SKU '{sku}' appears twice", file=CATALOGUE, row=row, field="sku")
        images = []
        for p in _split_paths(rec["listing_images"]) or [""]:
            full = resolve_inside(root, p, file=CATALOGUE, row=row, field="listing_images")
            if check_files:
                try:
                    what = None if full.is_file() else "is a folder" if full.is_dir() else "does not exist"
                except OSError as e:  # a name too long for the file system, a broken mount...
                    what = f"cannot be read ({e.strerror or e})"
                if what:
                    raise DataError(f"listing image '{p}' {what}", file=CATALOGUE, row=row, field="listing_images")
            images.append(full)
        items[sku] = CatalogueItem(
            sku=sku, product_id=rec["product_id"] or sku, title=rec["title"] or sku, variant=rec["variant"],
            listing_images=tuple(images),
            weight_g=_optional_float(rec.get("weight_g", ""), file=CATALOGUE, row=row, field="weight_g"),
        )
    if not items:
        raise DataError("has no SKUs (only a header)", file=CATALOGUE)
    components: dict[str, list[tuple[str, int]]] = {}
    weights: dict[str, tuple[int, float]] = {}
    cpath = root / COMPONENTS
    if cpath.exists():
        for row, rec in read_csv(cpath, ("sku", "component", "qty_per_unit"), optional=("weight_g",)):
            sku = rec["sku"]
            if sku not in items:
                raise DataError(f"SKU '{sku}' is not in {CATALOGUE}", file=COMPONENTS, row=row, field="sku")
            if not rec["component"]:
                raise DataError("is empty", file=COMPONENTS, row=row, field="component")
            qty = _positive_int(rec["qty_per_unit"], file=COMPONENTS, row=row, field="qty_per_unit")
            parts = components.setdefault(sku, [])
            if any(c == rec["component"] for c, _ in parts):
                raise DataError(f"component '{rec['component']}' of SKU '{sku}' appears twice",
                                file=COMPONENTS, row=row, field="component")
            parts.append((rec["component"], qty))
            w = _optional_float(rec.get("weight_g", ""), file=COMPONENTS, row=row, field="weight_g")
            if w is not None:
                first = weights.setdefault(rec["component"], (row, w))
                if first[1] != w:
                    raise DataError(f"'{rec['weight_g']}' differs from the weight of '{rec['component']}' on row "
                                    f"{first[0]} ({first[1]:g}); a component weighs the same in every kit",
                                    file=COMPONENTS, row=row, field="weight_g")
    return Catalogue(items, {k: tuple(v) for k, v in components.items()},
                     component_weights={c: w for c, (_, w) in weights.items()})


def load_packed(root: Path) -> dict[str, tuple[tuple[tuple[str, int], ...] | None, float | None, tuple[str, ...]]]:
    """packed.csv as {order_id: (((component, count), ...) or None, packed_weight_g, problems)}.

    A row may carry only a weight (component and count empty): the parcel was weighed
    but nothing scanned. An order whose rows name no component has its components
    "not recorded" (None), not "nothing packed". One weight per order: two rows with
    different weights are a problem of that order.
    """
    path = Path(root) / PACKED
    out: dict[str, tuple[dict, list, list]] = {}
    if not path.exists():
        return {}
    for row, rec in read_csv(path, ("order_id", "component", "count"), optional=("packed_weight_g",)):
        oid = rec["order_id"]
        if not oid:
            raise DataError("is empty", file=PACKED, row=row, field="order_id")
        counts, weights, problems = out.setdefault(oid, ({}, [], []))
        try:
            n = (_positive_int(rec["count"], file=PACKED, row=row, field="count", allow_zero=True)
                 if rec["component"] or rec["count"] else 0)
            w = _optional_float(rec.get("packed_weight_g", ""), file=PACKED, row=row, field="packed_weight_g")
        except DataError as e:
            problems.append(str(e))
            continue
        if rec["component"]:
            counts[rec["component"]] = counts.get(rec["component"], 0) + n
        if w is not None:
            if weights and weights[0][1] != w:
                problems.append(str(DataError(f"'{rec['packed_weight_g']}' differs from the weight on row "
                                              f"{weights[0][0]} ({weights[0][1]:g}); give one weight per order",
                                              file=PACKED, row=row, field="packed_weight_g")))
            weights.append((row, w))
    return {k: (tuple(c.items()) if c else None, w[0][1] if w else None, tuple(p)) for k, (c, w, p) in out.items()}


def iter_order_rows(root: Path, orders_file: Path | None = None) -> Iterator[tuple[int, dict]]:
    """The raw rows of orders.csv, streamed."""
    path = Path(orders_file) if orders_file else Path(root) / ORDERS
    return read_csv(path, ("order_id", "sku", "qty", "photo"), optional=("station",))


def build_order(root: Path, order_id: str, rows: list[tuple[int, dict]], catalogue: Catalogue,
                packed: dict | None = None, *, orders_name: str = ORDERS) -> Order:
    """Validate one order's rows. Problems are collected on the order, never raised."""
    root = Path(root)
    if not order_id:
        return Order(order_id="", lines=(), photos=(), first_row=rows[0][0], problems=(
            str(DataError("is empty", file=orders_name, row=rows[0][0], field="order_id")),))
    lines: list[OrderLine] = []
    photos: list[Path] = []
    problems: list[str] = []
    stations = []
    seen: dict[str, int] = {}
    for row, rec in rows:
        sku = rec["sku"]
        try:
            if not sku:
                raise DataError("is empty", file=orders_name, row=row, field="sku")
            if sku not in catalogue.items:
                raise DataError(f"SKU '{sku}' is not in {CATALOGUE}", file=orders_name, row=row, field="sku")
            if sku in seen:
                raise DataError(f"duplicate line item: SKU '{sku}' is already on row {seen[sku]}",
                                file=orders_name, row=row, field="sku")
            seen[sku] = row
            qty = _positive_int(rec["qty"], file=orders_name, row=row, field="qty")
            lines.append(OrderLine(sku, qty, row))
        except DataError as e:
            problems.append(str(e))
        for p in _split_paths(rec["photo"]):
            try:
                full = resolve_inside(root, p, file=orders_name, row=row, field="photo")
            except DataError as e:
                problems.append(str(e))
                continue
            if full not in photos:
                photos.append(full)
        if rec.get("station"):
            stations.append(rec["station"])
    if not photos and not problems:
        problems.append(str(DataError(f"order '{order_id}' has no photo on any of its rows",
                                      file=orders_name, row=rows[0][0], field="photo")))
    packed_counts, weight, packed_problems = (None, None, ())
    if packed and order_id in packed:
        packed_counts, weight, packed_problems = packed[order_id]
    return Order(
        order_id=order_id, lines=tuple(lines), photos=tuple(photos),
        station=stations[0] if stations else None, packed=packed_counts, packed_weight_g=weight,
        problems=tuple(problems) + tuple(packed_problems), first_row=rows[0][0],
    )


def iter_orders(root: Path, catalogue: Catalogue, *, orders_file: Path | None = None,
                packed: dict | None = None) -> Iterator[Order]:
    """Every order of orders.csv, each yielded as soon as its last row has been read.

    Rows of one order need not be adjacent. The file is read twice: once to learn
    each order's last row (a row number per order), then again, holding only the
    rows of orders not yet complete, so memory stays flat as the file grows.
    """
    last_row: dict[str, int] = {}
    for row, rec in iter_order_rows(root, orders_file):
        last_row[rec["order_id"]] = row
    name = Path(orders_file).name if orders_file else ORDERS
    pending: dict[str, list] = {}
    for row, rec in iter_order_rows(root, orders_file):
        oid = rec["order_id"]
        pending.setdefault(oid, []).append((row, rec))
        if last_row[oid] != row:
            continue
        yield build_order(root, oid, pending.pop(oid), catalogue, packed, orders_name=name)


def find_order(root: Path, order_id: str, catalogue: Catalogue, *, orders_file: Path | None = None,
               packed: dict | None = None) -> Order | None:
    """One order by id (None when orders.csv has no row for it)."""
    rows = [(row, rec) for row, rec in iter_order_rows(root, orders_file) if rec["order_id"] == order_id]
    if not rows:
        return None
    name = Path(orders_file).name if orders_file else ORDERS
    return build_order(root, order_id, rows, catalogue, packed, orders_name=name)


def station_reference(root: Path, station: str | None) -> Path | None:
    """``stations/<station>/empty.*`` when present: the empty-bench photo of that station."""
    if not station:
        return None
    folder = Path(root) / "stations" / station
    try:
        folder = resolve_inside(Path(root), f"stations/{station}", file="orders.csv", row=0, field="station")
    except DataError:
        return None
    for ext in (".jpg", ".jpeg", ".png", ".webp"):
        p = folder / f"empty{ext}"
        try:
            if p.is_file():
                return p
        except OSError:  # a station name too long for the file system: no reference photo
            return None
    return None

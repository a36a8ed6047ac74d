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

import codecs
import csv
import io
import os
import re
import stat
import sys
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator

from ..core.records import Catalogue, CatalogueItem, Order, OrderLine
from ..errors import DataError, PathEscapes

CATALOGUE = "catalogue.csv"
COMPONENTS = "components.csv"
ORDERS = "orders.csv"
PACKED = "packed.csv"
#: The columns orders.csv must have.
ORDER_COLUMNS = ("order_id", "sku", "qty", "photo")
#: A quantity above this is a typo or an attack, not a parcel.
MAX_QTY = 10_000
#: Longest CSV field accepted (a title, a list of photos). Checked here, row by row: the
#: csv module's own limit is process-wide (csv.field_size_limit) and is left as the host set it.
MAX_FIELD_CHARS = 20_000
#: Problems of one order listed in its ERROR message (the rest are counted).
MAX_PROBLEMS_SHOWN = 10
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


def _check_utf8(data: bytes, name: str, *, chunk: int = 1 << 20) -> None:
    """:func:`decode_text`'s check, a few MB of text at a time (the whole file is never one str)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(data), chunk):
            decoder.decode(data[start:start + chunk])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        decode_text(data, name)  # raises the DataError naming the byte and the line
        raise


def read_csv_bytes(path: Path) -> bytes:
    """A CSV file's bytes, read once; a folder, pipe, device, missing or oversized file is a DataError."""
    try:
        if path.is_dir():
            raise DataError("is a folder, not a CSV file", file=str(path))
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):  # a pipe or device: reading it could wait forever
            raise DataError("is not a regular file (a pipe or device?)", file=str(path))
        if st.st_size > MAX_CSV_BYTES:
            raise DataError(f"is larger than {MAX_CSV_BYTES // 1024**3} GB", file=str(path))
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError("does not exist", file=str(path)) from None
    except PermissionError:
        raise DataError("cannot be read (permission denied)", file=str(path)) from None
    except OSError as e:
        raise DataError(f"cannot be read ({e.strerror or e})", file=str(path)) from None


def read_csv(path: Path, required: tuple[str, ...], *, optional: tuple[str, ...] = (),
             data: bytes | None = None) -> Iterator[tuple[int, dict]]:
    """Yield (row number, {column: stripped value}) for each data row; header problems raise.

    Row numbers count as a spreadsheet does (header = 1), and a quoted field that
    spans lines still counts as one row. ``data``: the file's bytes, when already read.

    Quoting is strict: a stray ``"`` must not silently swallow the rows after it into
    one field (the csv module's lenient mode would). A quote that is never closed, or
    closed in the middle of a field, is a DataError naming the row and field where it
    opened; so is a quoted field spanning lines one of which holds as many commas as
    a whole row (a quoted title with a line break and a comma in it is still fine).
    """
    names: tuple[str, ...] = ()
    for row, values in _read_csv(path, required, optional, data):
        if row == 1:
            names = values
        else:
            yield row, dict(zip(names, values))


def _read_csv(path: Path, required: tuple[str, ...], optional: tuple[str, ...], data: bytes | None
              ) -> Iterator[tuple[int, tuple[str, ...]]]:
    """:func:`read_csv`'s rows as tuples: first (1, the column names kept), then (row, values)."""
    name = path.name
    data = read_csv_bytes(path) if data is None else data
    _check_utf8(data, name)
    if b"\x00" in data:
        raise DataError("contains NUL bytes; it is not a text CSV file", file=name)
    # Decoded as it is read, never held whole as text: a str and a StringIO of a
    # 100 MB file took five times its size (a 2 GB file would have taken 10 GB).
    reader = csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline=""), strict=True)
    columns: list[str] = []
    row_no, line = 1, 1
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise DataError(f"is empty; it needs a header row with {', '.join(required)}", file=name)
        columns = [h.strip().lower() for h in header]
        missing = [c for c in required if c not in columns]
        if missing:
            raise DataError(
                f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"(found: {_some(c for c in columns if c)})",
                file=name, row=1,
            )
        # Counted once (columns.count per column was quadratic: a 100 KB header of 16,000 names took 8 s).
        dupes = {c for c, n in Counter(columns).items() if c and n > 1}
        if dupes:
            raise DataError(f"column(s) {', '.join(sorted(dupes))} appear more than once", file=name, row=1)
        wanted = set(required) | set(optional)
        idx = [(c, i) for i, c in enumerate(columns) if c in wanted]
        yield 1, tuple(c for c, _ in idx)
        while True:
            line = reader.line_num + 1  # the physical line this record starts on
            rec = next(reader, None)
            if rec is None:
                break
            row_no += 1
            joined = "".join(rec)  # one string to test the whole row at once (200,000 rows are common)
            if not joined or joined.isspace():
                continue  # blank lines are not rows
            if len(joined) > MAX_FIELD_CHARS:
                long = next((i for i, v in enumerate(rec) if len(v) > MAX_FIELD_CHARS), None)
                if long is not None:
                    raise DataError(f"is not a valid CSV (field larger than field limit ({MAX_FIELD_CHARS} "
                                    "characters))", file=name, row=row_no, field=_column(columns, long))
            if "\n" in joined or "\r" in joined:
                _no_swallowed_rows(rec, columns, file=name, row=row_no)
            n = len(rec)
            yield row_no, tuple(rec[i].strip() if i < n else "" for _, i in idx)
    except csv.Error as e:
        if "field limit" in str(e):
            # The csv module's own field limit (process-wide, the host's) fired before ours.
            raise DataError(f"is not a valid CSV (field larger than field limit ({MAX_FIELD_CHARS} characters))",
                            file=name, row=row_no + 1) from None
        field = _quote_problem(_record_text(data, line))
        raise DataError(
            f"a '\"' opens a quoted field on line {line} that is never closed properly ({e}); a stray quote "
            "would swallow the rows after it: remove it, or double it (\"\") inside a quoted field, and export again",
            file=name, row=row_no + 1, field=None if field is None else _column(columns, field)) from None


def _some(names: Iterable[str], most: int = 20) -> str:
    """The first ``most`` names, comma-separated, and how many more (a header may hold 200,000)."""
    names = list(names)
    if not names:
        return "none"
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def _column(columns: list[str], i: int) -> str:
    return columns[i] if i < len(columns) and columns[i] else f"column {i + 1}"


def _no_swallowed_rows(rec: list[str], columns: list[str], *, file: str, row: int) -> None:
    """Refuse a quoted field whose later lines look like whole rows of the file (a stray quote)."""
    commas = max(1, len(columns) - 1)
    for i, value in enumerate(rec):
        if "\n" not in value and "\r" not in value:
            continue
        lines = value.splitlines()
        for k, part in enumerate(lines[1:], 2):
            if part.count(",") >= commas:
                raise DataError(
                    f"a quoted field runs over {len(lines)} lines, and line {k} of it ({part[:60]!r}) looks like a "
                    "row of its own: a stray '\"' has swallowed rows; remove it and export again",
                    file=file, row=row, field=_column(columns, i))


#: Characters of a broken record read to find its broken quote (a record is at most a few
#: fields of MAX_FIELD_CHARS; a quote never closed is reported at the field it opens).
_QUOTE_SCAN_CHARS = 1 << 20


def _record_text(data: bytes, line: int) -> str:
    """The text of a CSV file from the start of physical ``line`` (lines split as the reader
    splits them), at most :data:`_QUOTE_SCAN_CHARS` characters: never the whole file as one str
    (an 88 MB file with a stray quote on line 2 took 750 MB to say so)."""
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    for _ in range(line - 1):
        stream.readline()
    return stream.read(_QUOTE_SCAN_CHARS)


def _quote_problem(rest: str) -> int | None:
    """Which field (0-based) of the record at the start of ``rest`` has the broken quote."""
    field, i, n = 0, 0, len(rest)
    while i < n:
        if rest[i] == '"':  # a quoted field: find its closing quote
            j = i + 1
            while True:
                j = rest.find('"', j)
                if j < 0:
                    return field  # never closed
                if rest.startswith('""', j):
                    j += 2
                    continue
                break
            if j + 1 < n and rest[j + 1] not in ",\r\n":
                return field  # closed in the middle of a field
            i = j + 1
        else:
            while i < n and rest[i] not in ',"\r\n':
                i += 1
            if i < n and rest[i] == '"':
                i += 1  # a quote inside an unquoted field is only a character
                continue
        if i >= n or rest[i] in "\r\n":
            return None
        field, i = field + 1, i + 1
    return None


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


_WHOLE_NUMBER = re.compile(r"\+?([0-9]+)(?:\.0+)?", re.ASCII)


def _positive_int(value: str, *, file: str, row: int, field: str, allow_zero: bool = False) -> int:
    m = _WHOLE_NUMBER.fullmatch(value.strip())
    if m is None:  # spreadsheets write 2 as 2.0 or 2.00; 2.5 or 1e3 is no count of pieces
        raise DataError(f"'{value}' is not a whole number", file=file, row=row, field=field)
    digits = m[1].lstrip("0") or "0"
    # Compared as text first: int() of a few thousand digits raises (Python's own limit).
    n = int(digits) if len(digits) <= len(str(MAX_QTY)) else MAX_QTY + 1
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


def _orders_path(root: Path, orders_file: Path | None) -> Path:
    return Path(orders_file) if orders_file else Path(root) / ORDERS


def iter_order_rows(root: Path, orders_file: Path | None = None, *, data: bytes | None = None
                    ) -> Iterator[tuple[int, dict]]:
    """The raw rows of orders.csv, streamed (from ``data``, its bytes, when already read)."""
    return read_csv(_orders_path(root, orders_file), ORDER_COLUMNS, optional=("station",), data=data)


def build_order(root: Path, order_id: str, rows: list[tuple[int, dict]], catalogue: Catalogue,
                packed: dict | None = None, *, orders_name: str = ORDERS) -> Order:
    """Validate one order's rows. Problems are collected on the order, never raised."""
    root = Path(root)
    if not order_id:
        return Order(order_id="", lines=(), photos=(), first_row=rows[0][0], problems=(
            str(DataError("is empty", file=orders_name, row=rows[0][0], field="order_id")),))
    lines: list[OrderLine] = []
    photos: list[Path] = []
    photo_set: set[Path] = set()
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
            if full not in photo_set:  # a set: an order of 20,000 rows took 2 minutes with a list
                photo_set.add(full)
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
        problems=_first_problems([*problems, *packed_problems]), first_row=rows[0][0],
    )


def _first_problems(problems: list[str]) -> tuple[str, ...]:
    """The first :data:`MAX_PROBLEMS_SHOWN` problems of an order, and how many more there are.

    An order of 50,000 bad rows made a 5 MB message: one terminal screen after another,
    and a CSV cell no spreadsheet holds (Excel's limit is 32,767 characters).
    """
    if len(problems) <= MAX_PROBLEMS_SHOWN:
        return tuple(problems)
    more = len(problems) - MAX_PROBLEMS_SHOWN
    return (*problems[:MAX_PROBLEMS_SHOWN], f"and {more} more problem{'s' if more > 1 else ''} in its rows")


def iter_orders(root: Path, catalogue: Catalogue, *, orders_file: Path | None = None,
                packed: dict | None = None) -> Iterator[Order]:
    """Every order of orders.csv, each yielded as soon as its last row has been read.

    Rows of one order need not be adjacent. The file's bytes are read once and parsed
    twice: once to learn each order's last row (a row number per order), then again,
    holding only the rows of orders not yet complete. A file rewritten meanwhile
    cannot make the two passes disagree.
    """
    data = read_csv_bytes(_orders_path(root, orders_file))
    last_row: dict[str, int] = {}
    for row, rec in iter_order_rows(root, orders_file, data=data):
        last_row[rec["order_id"]] = row
    name = _orders_path(root, orders_file).name
    pending: dict[str, list] = {}
    for row, rec in iter_order_rows(root, orders_file, data=data):
        oid = rec["order_id"]
        pending.setdefault(oid, []).append((row, rec))
        if last_row[oid] != row:
            continue
        yield build_order(root, oid, pending.pop(oid), catalogue, packed, orders_name=name)


def find_order(root: Path, order_id: str, catalogue: Catalogue, *, orders_file: Path | None = None,
               packed: dict | None = None) -> Order | None:
    """One order by id (None when orders.csv has no row for it). Reads the whole file: a
    long-lived process looking up many orders uses an :class:`OrderIndex` instead."""
    rows = [(row, rec) for row, rec in iter_order_rows(root, orders_file) if rec["order_id"] == order_id]
    if not rows:
        return None
    return build_order(root, order_id, rows, catalogue, packed, orders_name=_orders_path(root, orders_file).name)


class OrderIndex:
    """orders.csv indexed by order id, read once and again only when the file changes.

    A station looks up one order per scan; reading and validating a 200,000-row
    file each time took 2 s. The index keeps each order's rows, and before each
    lookup compares the file's size, modification time, inode and device with
    those it was read at: a re-exported file (even one replaced by a rename) is
    read again, an unchanged one never is.
    """

    def __init__(self, root: Path, orders_file: Path | None = None):
        self.root = Path(root)
        self.path = _orders_path(root, orders_file)
        self._signature: tuple | None = None
        self._rows: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
        self._columns: tuple[str, ...] = ()

    def _current(self) -> tuple | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, st.st_ctime_ns)

    def _load(self) -> None:
        signature = self._current()
        rows: dict[str, list] = {}
        columns: tuple[str, ...] = ()
        records = _read_csv(self.path, ORDER_COLUMNS, ("station",), read_csv_bytes(self.path))
        for row, values in records:
            if row == 1:
                columns = values
                key = columns.index("order_id")
                continue
            # Tuples of interned values: a SKU, quantity or station repeats on many rows.
            rows.setdefault(values[key], []).append((row, tuple(map(sys.intern, values))))
        self._rows, self._columns, self._signature = rows, columns, signature

    def refresh(self) -> None:
        """Read the file if it was never read or changed since (a DataError when it is unusable)."""
        if self._signature is None or self._current() != self._signature:
            self._load()

    def rows(self, order_id: str) -> list[tuple[int, dict]]:
        """The rows of ``order_id`` as (row number, {column: value}); [] when it has none."""
        self.refresh()
        return [(row, dict(zip(self._columns, values))) for row, values in self._rows.get(order_id, ())]

    def find(self, order_id: str, catalogue: Catalogue, packed: dict | None = None) -> Order | None:
        """The order ``order_id`` (None when orders.csv has no row for it), as :func:`find_order` gives."""
        rows = self.rows(order_id)
        if not rows:
            return None
        return build_order(self.root, order_id, rows, catalogue, packed, orders_name=self.path.name)


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

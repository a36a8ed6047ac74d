"""The nightly audit: one row per order whatever happens, same rows on every engine, kill -9 and resume."""
from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from packcheck.apps.audit import engines, journal as journal_mod, rows as rows_mod
from packcheck.apps.audit.engines import CheckerSpec
from packcheck.apps.audit.frame import load_results, summary_by
from packcheck.apps.audit.journal import Journal
from packcheck.apps.audit.rows import spreadsheet_safe
from packcheck.apps.audit.run import AuditConfig, run_audit
from packcheck.apps.checker import Checker
from packcheck.cli import cli
from packcheck.cli.audit import Progress
from packcheck.core.records import Order
from packcheck.errors import PackcheckError
from packcheck.store import dataset
from packcheck.util.fsio import atomic_write

PYTHON = sys.executable

# ---------------------------------------------------------------- a small data folder, drawn here
#: sku -> (shape, RGB colour, product_id, variant, title)
SKUS = {
    "MUG-RED": ("circle", (200, 30, 30), "MUG", "red", "Mug"),
    "MUG-BLU": ("circle", (30, 30, 200), "MUG", "blue", "Mug"),
    "BOX-GRN": ("square", (30, 160, 30), "BOX", "", "Box <script>window.__pwned=1</script>"),
    "TRI-YEL": ("triangle", (220, 200, 20), "TRI", "", "=Triangle"),
}
#: A component name from a shop export that a spreadsheet would run.
FORMULA = '=HYPERLINK("http://evil.example","win")'
#: order_id, sku, qty, photo, station, (what the photo shows or a fault)
ORDER_ROWS = [
    ("O1", "MUG-RED", "1", "photos/O1.jpg", "A", "MUG-RED"),
    ("O2", "MUG-RED", "1", "photos/O2.jpg", "B", "MUG-BLU"),  # wrong variant
    ("O3", "BOX-GRN", "1", "photos/O3.jpg", "A", "BOX-GRN"),  # lid missing (packed.csv)
    ("O4", "TRI-YEL", "1", "photos/O4.jpg", "B", "BOX-GRN"),  # wrong item
    ("O5", "NOPE-1", "1", "photos/O1.jpg", "A", None),  # unknown SKU
    ("O6", "MUG-RED", "1", "photos/missing.jpg", "A", None),  # photo missing
    ("O7", "MUG-BLU", "1", "photos/O7.jpg", "B", "corrupt"),  # truncated JPEG
    ("O8", "MUG-BLU", "two", "photos/O1.jpg", "A", None),  # bad quantity
    ("O9", "MUG-BLU", "1", "photos/O9.jpg", "B", "MUG-BLU"),
    ("O3", "TRI-YEL", "1", "photos/O3b.jpg", "A", "TRI-YEL"),  # second line of O3, not adjacent
    ("=1+2", "TRI-YEL", "1", "photos/O10.jpg", "A", "TRI-YEL"),  # formula-like order id
    ("", "TRI-YEL", "1", "photos/O10.jpg", "A", None),  # no order id
    ("O11", "MUG-RED", "1", "../outside.jpg", "B", None),  # path escaping the folder
]


def product(shape: str, colour, size: int) -> np.ndarray:
    """A listing-style product: a coloured shape with printed text on white."""
    img = np.full((size, size, 3), 255, np.uint8)
    c, r = size // 2, size // 3
    if shape == "circle":
        cv2.circle(img, (c, c), r, colour, -1)
    elif shape == "square":
        cv2.rectangle(img, (c - r, c - r), (c + r, c + r), colour, -1)
    else:
        cv2.fillPoly(img, [np.array([[c, c - r], [c - r, c + r], [c + r, c + r]])], colour)
    rng = np.random.default_rng(sum(map(ord, shape)))
    for _ in range(12):
        x, y = (int(v) for v in rng.integers(c - r // 2, c + r // 2, 2))
        cv2.putText(img, "PK", (x, y), cv2.FONT_HERSHEY_SIMPLEX, size / 400, (20, 20, 20), 2)
    return img


def bench_photo(sku: str, seed: int, size=(640, 480)) -> np.ndarray:
    """The product lying on a brown bench, shifted a little."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = np.full((h, w, 3), (150, 120, 90), np.uint8) + rng.integers(0, 12, (h, w, 3)).astype(np.uint8)
    shape, colour = SKUS[sku][:2]
    p = product(shape, colour, 300)
    m = (p < 250).any(axis=2)
    y, x = 80 + int(rng.integers(0, 60)), 150 + int(rng.integers(0, 120))
    img[y:y + 300, x:x + 300][m] = p[m]
    return img


def save(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])


def write_csv(path: Path, header, rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def build_data(root: Path, order_rows=ORDER_ROWS) -> Path:
    """A data folder with the catalogue above and ``order_rows``; photos drawn to match."""
    root.mkdir(parents=True, exist_ok=True)
    for sku, (shape, colour, *_rest) in SKUS.items():
        save(root / "listings" / f"{sku}.jpg", product(shape, colour, 400))
    write_csv(root / "catalogue.csv", ["sku", "product_id", "title", "variant", "listing_images"],
              [[sku, pid, title, var, f"listings/{sku}.jpg"] for sku, (_, _, pid, var, title) in SKUS.items()])
    write_csv(root / "components.csv", ["sku", "component", "qty_per_unit"],
              [["BOX-GRN", "box", "1"], ["BOX-GRN", "lid", "1"], ["TRI-YEL", FORMULA, "1"]])
    write_csv(root / "packed.csv", ["order_id", "component", "count"], [["O3", "box", "1"], ["O3", FORMULA, "1"]])
    for n, (_, _, _, photo, _, shows) in enumerate(order_rows):
        target = root / photo
        if shows is None or target.exists():
            continue
        if shows == "corrupt":
            save(target, bench_photo("MUG-BLU", n))
            target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
        else:
            save(target, bench_photo(shows, n))
    write_csv(root / "orders.csv", ["order_id", "sku", "qty", "photo", "station"], [r[:5] for r in order_rows])
    return root


@pytest.fixture(scope="module")
def base_data(tmp_path_factory) -> Path:
    root = build_data(tmp_path_factory.mktemp("audit") / "data")
    Checker.open(root)  # index the listing images once; copies reuse the cache
    return root


@pytest.fixture
def data(base_data, tmp_path) -> Path:
    """A private copy of the data folder (tests may change it), without the index (it is in use)."""
    return Path(shutil.copytree(base_data, tmp_path / "data", ignore=shutil.ignore_patterns(".packcheck-cache")))


@pytest.fixture(scope="module")
def reference_run(base_data, tmp_path_factory):
    """An uninterrupted serial run: its summary and its result CSV."""
    out = tmp_path_factory.mktemp("ref") / "results.csv"
    return run_audit(AuditConfig(data_dir=base_data, out=out, workers=1)), out


@pytest.fixture(scope="module")
def reference(base_data, reference_run) -> list[dict]:
    """The rows of an uninterrupted serial run."""
    return read_rows(reference_run[1], base_data)


def read_rows(path: Path, root: Path | None = None, *, drop=("seconds",)) -> list[dict]:
    """The rows of a result CSV, without ``drop`` columns and with the data folder's path as ``DATA``."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(f)]
    if root is not None:
        rows = [{k: v.replace(str(root.resolve()), "DATA") for k, v in r.items()} for r in rows]
    return rows


def distinct_order_ids(orders_csv: Path) -> list[str]:
    with open(orders_csv, newline="", encoding="utf-8-sig") as f:
        return list(dict.fromkeys(r["order_id"].strip() for r in csv.DictReader(f)))


def by_id(rows: list[dict]) -> dict[str, dict]:
    return {spreadsheet_unsafe(r["order_id"]): r for r in rows}


def spreadsheet_unsafe(cell: str) -> str:
    return cell[1:] if cell.startswith("'") else cell


# ---------------------------------------------------------------- one row per order
def test_one_row_per_distinct_order_with_bad_rows(base_data, reference):
    ids = distinct_order_ids(base_data / "orders.csv")
    assert len(reference) == len(ids) == 12
    assert sorted(by_id(reference)) == sorted(ids)
    rows = by_id(reference)
    assert rows["O1"]["status"] == "PASS"
    assert rows["O2"]["status"] == "FLAG" and "wrong_variant" in rows["O2"]["reasons"]
    assert rows["O2"]["nearest_sku"] == "MUG-BLU"
    assert rows["O4"]["status"] == "FLAG" and rows["O4"]["reasons"] == "wrong_item"
    assert rows["O4"]["nearest_sku"] == "BOX-GRN"
    assert rows["O3"]["reasons"] == "missing_component"  # two lines (not adjacent), one order
    assert rows["O3"]["skus"] == "BOX-GRN;TRI-YEL"
    assert rows["O3"]["missing_components"] == "lid 1 of 1"
    errors = {
        "O5": ("bad_order", "row 6, field 'sku': SKU 'NOPE-1' is not in catalogue.csv"),
        "O6": ("photo_unreadable", "missing.jpg does not exist"),
        "O7": ("photo_unreadable", "O7.jpg is a truncated JPEG"),
        "O8": ("bad_order", "field 'qty': 'two' is not a whole number"),
        "": ("bad_order", "field 'order_id': is empty"),
        "O11": ("bad_order", "points outside the data folder"),
    }
    for oid, (reason, words) in errors.items():
        assert rows[oid]["status"] == "ERROR", oid
        assert rows[oid]["reasons"] == reason, oid
        assert words in rows[oid]["message"], (oid, rows[oid]["message"])
    # Rows are in input order (an order's place is its last row in orders.csv).
    assert [spreadsheet_unsafe(r["order_id"]) for r in reference][:3] == ["O1", "O2", "O4"]


def test_csv_cells_are_spreadsheet_safe(reference):
    rows = by_id(reference)
    assert rows["=1+2"]["order_id"] == "'=1+2"
    assert rows["O4"]["message"].startswith("looks like BOX-GRN")
    assert rows["=1+2"]["expected_components"].startswith("'=HYPERLINK(")
    assert rows["O2"]["variant_score"].startswith("-")  # plain numbers stay numbers (the wrong variant scores below 0)
    for row in reference:
        for cell in row.values():
            assert not (cell[:1] in ("=", "+", "@", "\t", "\r") or (cell[:1] == "-" and not _number(cell)))


def _number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("cell, safe", [
    ("=SUM(A1:A2)", "'=SUM(A1:A2)"), ("+1+1", "'+1+1"), ("-2+3", "'-2+3"), ("@cmd", "'@cmd"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("-1.25", "-1.25"), ("12", "12"), ("a=b", "a=b"), ("", ""),
])
def test_spreadsheet_safe(cell, safe):
    assert spreadsheet_safe(cell) == safe


def test_result_columns(reference):
    assert tuple(reference[0]) == tuple(c for c in rows_mod.COLUMNS if c != "seconds")
    o1 = by_id(reference)["O1"]
    assert o1["photo"] == "photos/O1.jpg" and len(o1["photo_sha256"]) == 64
    assert o1["station"] == "A" and o1["thresholds_version"]
    assert o1["expected_components"] == "MUG-RED x1" and o1["packed_components"] == "not recorded"
    assert float(o1["item_score"]) >= float(o1["item_limit"])


def test_unexpected_exception_becomes_an_error_row(data, monkeypatch, reference):
    original = Checker.check

    def check(self, order, **kw):
        if order.order_id == "O2":
            raise ZeroDivisionError("boom")
        return original(self, order, **kw)

    monkeypatch.setattr(Checker, "check", check)
    out = data / "out" / "results.csv"
    summary = run_audit(AuditConfig(data_dir=data, out=out, workers=1))
    rows = by_id(read_rows(out, data))
    assert rows["O2"]["status"] == "ERROR" and rows["O2"]["reasons"] == "check_failed"
    assert "ZeroDivisionError: boom" in rows["O2"]["message"]
    assert len(rows) == len(reference) == summary.orders
    assert rows["O9"] == by_id(reference)["O9"]


class CrashingSpec(CheckerSpec):
    """Opens a Checker whose check kills the worker process for order O2 (a segfault, say)."""

    def open(self, *, workers: int = 1):
        checker = super().open(workers=workers)
        original = checker.check

        def check(order, **kw):
            if order.order_id == "O2":
                os._exit(11)
            return original(order, **kw)

        checker.check = check
        return checker


@pytest.mark.slow
def test_worker_crash_becomes_an_error_row_and_the_rest_is_checked(base_data, reference):
    spec = CrashingSpec(root=str(base_data.resolve()))
    checker = spec.open()
    orders = list(enumerate(dataset.iter_orders(checker.root, checker.catalogue, packed=checker.packed)))
    results = list(engines._Pool(spec, 2, checker.thresholds.version).run(orders))
    assert sorted(seq for seq, _, _ in results) == list(range(len(orders)))
    rows = {order.order_id: row for _, order, (row, _) in results}
    assert rows["O2"]["status"] == "ERROR" and rows["O2"]["reasons"] == "worker_crashed"
    assert "crashed the worker process" in rows["O2"]["message"]
    ref = by_id(reference)
    for oid, row in rows.items():
        if oid != "O2":
            got = {k: spreadsheet_safe(v).replace(str(base_data.resolve()), "DATA") for k, v in row.items()
                   if k != "seconds"}
            assert got == ref[oid], oid


# ---------------------------------------------------------------- engines give the same rows
@pytest.mark.slow
def test_parallel_rows_equal_serial_rows(base_data, reference, tmp_path):
    out = tmp_path / "results.csv"
    summary = run_audit(AuditConfig(data_dir=base_data, out=out, workers=2))
    assert summary.workers == 2
    assert read_rows(out, base_data) == reference


def test_rows_do_not_depend_on_the_order_orders_are_checked_in(data, reference):
    """Each order's row is a function of that order alone, not of what the worker checked before."""
    rows = list(csv.reader(open(data / "orders.csv", newline="", encoding="utf-8")))
    with open(data / "orders.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([rows[0]] + rows[:0:-1])  # reversed
    out = data / "out" / "results.csv"
    run_audit(AuditConfig(data_dir=data, out=out, workers=1))
    got = by_id(read_rows(out, data, drop=("seconds", "first_row")))
    for oid, ref in by_id(reference).items():
        # Error messages name row numbers, and a two-line order lists its lines in file order.
        if ref["status"] != "ERROR" and ";" not in ref["skus"]:
            assert got[oid] == {k: v for k, v in ref.items() if k != "first_row"}, oid


def test_in_flight_orders_are_bounded(base_data, monkeypatch):
    """The pool pulls orders from the stream only as results come back (flat memory)."""
    monkeypatch.setattr(engines, "IN_FLIGHT_PER_WORKER", 1)
    pulled = []

    def orders():
        for i in range(40):
            pulled.append(i)
            yield i, Order(order_id=f"X{i}", lines=(), photos=(), problems=("bad",))

    pool = engines._Pool(CheckerSpec(root=str(base_data.resolve())), 2, "v")
    gen = pool.run(orders())
    ahead = []
    for n, _ in enumerate(gen, 1):
        ahead.append(len(pulled) - n)
    assert n == 40 and max(ahead) <= 2


@pytest.mark.slow
def test_dask_engine_gives_the_same_rows(base_data, reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster:
        out = tmp_path / "results.csv"
        summary = run_audit(AuditConfig(data_dir=base_data, out=out, engine="dask",
                                        scheduler=cluster.scheduler_address))
    assert summary.engine == "dask"
    assert read_rows(out, base_data) == reference


def test_dask_missing_names_the_extra(base_data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    with pytest.raises(PackcheckError, match=r"pip install 'packcheck\[dask\]'"):
        run_audit(AuditConfig(data_dir=base_data, out=tmp_path / "r.csv", engine="dask", scheduler="tcp://x:1"))


def test_unreachable_scheduler_is_a_clear_error(base_data, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(engines, "DASK_CONNECT_TIMEOUT_S", 1)
    r = CliRunner().invoke(cli, ["audit", "--data", str(base_data), "--out", str(tmp_path / "r.csv"),
                                 "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9"])
    assert r.exit_code == 2
    assert "Error: cannot reach the Dask scheduler at tcp://127.0.0.1:9" in r.stderr


# ---------------------------------------------------------------- resume and atomic output
class Stop(Exception):
    pass


def test_resume_checks_only_the_remaining_orders(data, reference):
    out = data / "out" / "results.csv"

    def stop_after_5(done, total, counts):
        if done == 5:
            raise Stop

    with pytest.raises(Stop):
        run_audit(AuditConfig(data_dir=data, out=out, workers=1), progress=stop_after_5)
    assert not out.exists()  # nothing half-written where readers look
    summary = run_audit(AuditConfig(data_dir=data, out=out, workers=1, resume=True))
    assert (summary.checked, summary.resumed) == (len(reference) - 5, 5)
    assert read_rows(out, data) == reference
    again = run_audit(AuditConfig(data_dir=data, out=out, workers=1, resume=True))
    assert again.checked == 0 and read_rows(out, data) == reference


def test_without_resume_a_run_starts_over(data, reference):
    out = data / "out" / "results.csv"
    run_audit(AuditConfig(data_dir=data, out=out, workers=1))
    summary = run_audit(AuditConfig(data_dir=data, out=out, workers=1))
    assert summary.checked == len(reference)


def test_resume_refuses_a_journal_of_other_input(data):
    out = data / "out" / "results.csv"
    with pytest.raises(Stop):
        run_audit(AuditConfig(data_dir=data, out=out, workers=1),
                  progress=lambda done, total, c: (_ for _ in ()).throw(Stop) if done == 2 else None)
    with open(data / "orders.csv", "a", encoding="utf-8") as f:
        f.write("O99,MUG-RED,1,photos/O1.jpg,A\n")
    r = CliRunner().invoke(cli, ["audit", "--data", str(data), "--out", str(out), "--resume", "-q"])
    assert r.exit_code == 2
    assert "belongs to a run over other input" in r.stderr and "without --resume" in r.stderr


def test_a_second_audit_on_the_same_output_is_refused(tmp_path):
    journal = Journal(tmp_path / "r.csv.journal", "x", resume=False)
    try:
        with pytest.raises(PackcheckError, match="another audit is writing"):
            Journal(tmp_path / "r.csv.journal", "x", resume=False)
    finally:
        journal.close()


#: ``python -m packcheck`` with the journal committed after every row instead of at
#: most once a second: the kill test then aims at a row count it can actually see,
#: however fast this machine is (with one-second batches a quick resumed run could
#: commit its last rows and finish between two looks). Crash semantics are unchanged.
_PACKCHECK_COMMIT_EVERY_ROW = ("import packcheck.apps.audit.journal as a; a.COMMIT_EVERY_S = 0; "
                               "from packcheck.cli import main; main()")


def _audit_cmd(data: Path, out: Path, workers: int, resume: bool) -> list[str]:
    cmd = [PYTHON, "-c", _PACKCHECK_COMMIT_EVERY_ROW, "audit", "--data", str(data), "--out", str(out), "--html",
           str(out.with_suffix(".html")), "--workers", str(workers), "-q"]
    return cmd + (["--resume"] if resume else [])


def _journaled(out: Path) -> int:
    """Rows committed to the journal so far (read-only, as another process would)."""
    import sqlite3

    journal = journal_mod.journal_path(out)
    if not journal.exists() or journal.stat().st_size == 0:
        return 0
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        return db.execute("SELECT count(*) FROM rows").fetchone()[0]
    except sqlite3.OperationalError:  # killed before the tables were made
        return 0
    finally:
        db.close()


@pytest.mark.slow
def test_killed_at_random_points_and_resumed_loses_and_repeats_nothing(tmp_path):
    """SIGKILL (the whole process group, workers too) at seeded random moments, then --resume to the end.

    Some kills come after a random delay (start-up, the final write), the others once
    the journal has grown by a random number of rows (mid-run), so the test does not
    depend on how fast this machine checks an order.
    """
    extra = [(f"K{n:02d}", sku, "1", photo, "AB"[n % 2], shows) for n, (sku, photo, shows) in enumerate(
        [("MUG-RED", "photos/O1.jpg", "MUG-RED"), ("MUG-RED", "photos/O2.jpg", "MUG-BLU"),
         ("TRI-YEL", "photos/O4.jpg", "BOX-GRN"), ("MUG-BLU", "photos/O9.jpg", "MUG-BLU")] * 6)]
    data = build_data(tmp_path / "data", ORDER_ROWS + extra)
    run_audit(AuditConfig(data_dir=data, out=tmp_path / "ref" / "results.csv", workers=1))
    reference = read_rows(tmp_path / "ref" / "results.csv")
    total = len(reference)
    assert total == 12 + 24
    rng = np.random.default_rng(20240612)
    out = tmp_path / "out" / "results.csv"
    kills_mid_run, finished = 0, None
    for attempt, kind in enumerate(["rows", "time", "rows", "rows", "time", "rows", "end"]):
        proc = subprocess.Popen(_audit_cmd(data, out, 1 + attempt % 2, resume=attempt > 0), start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if kind == "end":
            finished = proc.wait(timeout=600)
            break
        if kind == "time":
            # Start-up takes about a second: these land in it or in the first rows.
            deadline, target = time.monotonic() + float(rng.uniform(0.2, 1.5)), None
        else:
            before = _journaled(out)
            deadline, target = time.monotonic() + 600, before + int(rng.integers(1, max(2, (total - before) // 2)))
        while proc.poll() is None and time.monotonic() < deadline and not (target and _journaled(out) >= target):
            time.sleep(0.02)
        if proc.poll() is not None:  # it finished before the kill
            finished = proc.returncode
            break
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kills_mid_run += 0 < _journaled(out) < total
        # A reader never sees a half-written result file.
        assert not out.exists() or len(read_rows(out)) == total
    assert finished == 1, proc.stderr.read().decode()
    assert kills_mid_run >= 3
    assert read_rows(out) == reference
    assert not list(out.parent.glob(".tmp-*"))


def test_output_replaces_an_old_file_atomically(tmp_path):
    target = tmp_path / "r.csv"
    target.write_text("old\n")

    def boom(f):
        f.write("half a fi")
        raise Stop

    with pytest.raises(Stop):
        atomic_write(target, boom)
    assert target.read_text() == "old\n"
    atomic_write(target, lambda f: f.write("new\n"))
    assert target.read_text() == "new\n"


# ---------------------------------------------------------------- the command
def test_cli_summary_exit_code_and_plain_progress(base_data, tmp_path, reference):
    out = tmp_path / "results.csv"
    r = CliRunner().invoke(cli, ["audit", "--data", str(base_data), "--out", str(out), "--workers", "1",
                                 "--json", str(tmp_path / "summary.json")])
    assert r.exit_code == 1, r.output
    assert r.stdout.startswith(f"audited {len(reference)} orders in ")
    assert "  FLAG         3\n" in r.stdout and "  ERROR        6\n" in r.stdout
    assert "\nreasons:\n  bad_order              4  the order's rows in orders.csv are invalid\n" in r.stdout
    assert "slowest stage: " in r.stdout and f"results: {out}" in r.stdout
    # stderr is not a terminal here: plain lines, the last one at 100%.
    assert f"audit: {len(reference)}/{len(reference)} orders (100%)" in r.stderr
    assert '"exit_code": 1' in (tmp_path / "summary.json").read_text()


def test_cli_exit_code_0_when_everything_passed(tmp_path):
    root = build_data(tmp_path / "data", [("P1", "MUG-RED", "1", "photos/P1.jpg", "A", "MUG-RED"),
                                          ("P2", "TRI-YEL", "1", "photos/P2.jpg", "A", "TRI-YEL")])
    r = CliRunner().invoke(cli, ["audit", "--data", str(root), "--out", str(tmp_path / "r.csv"), "-q",
                                 "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert "  PASS         2\n" in r.stdout


def test_cli_orders_from_another_file(base_data, tmp_path):
    """--orders: a day's file kept elsewhere; its photo paths stay relative to the data folder."""
    day = tmp_path / "orders-0612.csv"
    write_csv(day, ["order_id", "sku", "qty", "photo"], [["D1", "MUG-RED", "1", "photos/O1.jpg"],
                                                         ["D2", "MUG-RED", "1", "photos/O2.jpg"]])
    out = tmp_path / "r.csv"
    r = CliRunner().invoke(cli, ["audit", "--data", str(base_data), "--orders", str(day), "--out", str(out), "-q",
                                 "--workers", "1"])
    assert r.exit_code == 1, r.output
    assert [(row["order_id"], row["status"]) for row in read_rows(out)] == [("D1", "PASS"), ("D2", "FLAG")]


def test_cli_exit_code_2_when_the_input_is_unusable(data, tmp_path):
    text = (data / "orders.csv").read_text().replace("photo", "picture", 1)
    (data / "orders.csv").write_text(text)
    r = CliRunner().invoke(cli, ["audit", "--data", str(data), "--out", str(tmp_path / "r.csv")])
    assert r.exit_code == 2
    assert r.stderr == ("Error: orders.csv, row 1: missing column photo "
                        "(found: order_id, sku, qty, picture, station)\n")
    assert not (tmp_path / "r.csv").exists()


def test_cli_dask_needs_a_scheduler(base_data, tmp_path):
    r = CliRunner().invoke(cli, ["audit", "--data", str(base_data), "--out", str(tmp_path / "r.csv"),
                                 "--engine", "dask"])
    assert r.exit_code == 2 and "--engine dask needs --scheduler ADDRESS" in r.stderr


@pytest.mark.parametrize("args", [["audit", "-h"], ["bench", "audit", "-h"]])
def test_help_has_an_example(args):
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0
    assert "Example" in r.output and "packcheck " + " ".join(args[:-1]) + " --" in r.output


def test_progress_lines_when_not_a_terminal():
    stream = StringIO()
    p = Progress(tty=False, every=3600, stream=stream)
    p(0, 10, {})
    p(4, 10, {"FLAG": 1})  # within the interval: no line
    p(10, 10, {"FLAG": 1, "ERROR": 2})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("audit: 10/10 orders (100%), ") and lines[1].endswith("FLAG 1, REVIEW 0, ERROR 2")


def test_progress_bar_on_a_terminal():
    stream = StringIO()
    p = Progress(tty=True, stream=stream)
    p(3, 10, {"FLAG": 1})
    p(10, 10, {"FLAG": 1})
    assert "10/10" in stream.getvalue() and "order/s" in stream.getvalue()


@pytest.mark.slow
def test_bench_audit_runs_end_to_end(tmp_path):
    """The benchmark's machinery on four orders (its numbers are not asserted: it is not a timed test)."""
    from packcheck.tooling.bench import audit as bench

    sample = build_data(tmp_path / "sample", ORDER_ROWS[:4])
    result = bench.run(sample, order_counts=[6], workers=[1], naive_orders=2, work=tmp_path / "work",
                       echo=lambda m: None)
    (run,) = result["runs"]
    assert (run["n"], run["workers"], run["orders"]) == (6, 1, 6)
    assert run["statuses"]["FLAG"] == 4  # O2 (twice: the sixth order is O2 again), O3 (lid missing), O4
    assert run["peak_tree_rss_mb"] > 50 and run["orders_per_s"] > 0
    assert result["naive"]["orders"] == 2 and result["ratios"]["one_worker_vs_naive"] > 0
    assert result["careful"]["orders"] == 2 and result["ratios"]["time_vs_careful"] > 0
    from PIL import Image

    with Image.open(tmp_path / "work" / "orders6" / "photos" / "O1.jpg") as im:
        assert im.size == (4000, 3000)
    table = bench.format_table(result)
    assert "4000x3000 JPEG photos (12 MP)" in table and "throughput, 1 worker / naive: " in table
    assert "careful loop (Pillow + imagehash" in table and "time per order, 1 worker / careful loop: " in table


# ---------------------------------------------------------------- the demo data
SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


@pytest.mark.slow
@pytest.mark.skipif(not (SAMPLE / "orders.csv").exists(), reason="sample_data/ has not been generated")
def test_sample_data_audit(tmp_path):
    data = Path(shutil.copytree(SAMPLE, tmp_path / "data", ignore=shutil.ignore_patterns(".packcheck-cache")))
    out, html = tmp_path / "results.csv", tmp_path / "report.html"
    r = CliRunner().invoke(cli, ["audit", "--data", str(data), "--out", str(out), "--html", str(html), "-q"])
    assert r.exit_code == 1, r.output
    rows = read_rows(out)
    assert len(rows) == len(distinct_order_ids(data / "orders.csv"))
    expected = {r["order_id"]: (r["status"], r["reason"]) for r in read_rows(data / "expected.csv")}
    got = {r["order_id"]: (r["status"], r["reasons"].split(";")[0]) for r in rows}
    assert got == expected
    assert html.stat().st_size > 0


def test_results_read_back_as_a_typed_frame_that_the_summary_counts(reference_run):
    summary, out = reference_run
    df = load_results(out)
    rows = read_rows(out)
    assert list(df.order_id) == [spreadsheet_unsafe(r["order_id"]) for r in rows]  # "'=1+2" reads back as "=1+2"
    assert str(df.status.dtype) == "category" and df.item_score.dtype == float and str(df.first_row.dtype) == "Int64"
    assert all(isinstance(v, tuple) for v in df.skus) and all(isinstance(v, tuple) for v in df.reasons)
    # The summary's and the report's per-SKU and per-station tables are the analyst's summary_by.
    assert summary_by(df, "sku").sort_index().equals(summary.per_sku)
    assert summary_by(df, "station").sort_index().equals(summary.per_station)
    assert summary_by(df, "status")["orders"].to_dict() == {k: v for k, v in summary.statuses.items() if v}
    reasons = summary_by(df, "reason")["orders"]
    assert sorted(reasons.items(), key=lambda kv: -kv[1]) == list(summary.reasons.items())

"""Audit throughput and memory: N synthetic orders over sample_data, 12 MP photos, 1 and 2 workers.

The benchmark builds a data folder per order count in a work folder: the
sample_data catalogue and listing images, each sample packing photo re-encoded
once as a 12 MP JPEG (4000 x 3000, as a phone takes it), and N orders that
reuse the sample orders round-robin under new ids (with their packed records).
Each (N, workers) audit runs in a fresh Python process (``python -m
packcheck.tooling.bench.audit --child``) so peak memory is that run's alone; the parent
samples the resident memory of the child's whole process tree (pool workers
included) from ``/proc`` and also reports ``ru_maxrss``.

The baselines, measured in the same run and on the same photos, are what a user
of imagehash alone writes (see :mod:`packcheck.tooling.bench.baselines`): the
naive loop (Pillow decodes the photo in full and hashes every listing image of
the ordered SKUs again for each order) and the careful one (``Image.draft``
decodes a JPEG at 1/8, listing hashes are cached), each taking pHash, dHash
and colorhash and comparing them.
"""
from __future__ import annotations

import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
PHOTO_SIZE = (4000, 3000)


# ---------------------------------------------------------------- the synthetic data
def _read(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def _write(path: Path, header: list[str], rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def make_photos(sample: Path, work: Path, size: tuple[int, int] = PHOTO_SIZE) -> Path:
    """The sample packing photos as ``size`` JPEGs (12 MP by default; upright, quality 90), written once."""
    import cv2

    from ...errors import ImageError
    from ...core.imaging import load_image

    folder = work / ("photos12mp" if tuple(size) == PHOTO_SIZE else f"photos{size[0]}x{size[1]}")
    folder.mkdir(parents=True, exist_ok=True)
    for src in sorted((sample / "photos").iterdir()):
        dst = folder / (src.stem + ".jpg")
        if dst.exists():
            continue
        try:
            rgb = load_image(src, work_side=0).rgb
        except ImageError:  # the sample's corrupt photo stays corrupt
            shutil.copyfile(src, dst)
            continue
        wh = tuple(size) if rgb.shape[1] >= rgb.shape[0] else tuple(size)[::-1]
        big = cv2.resize(rgb, wh, interpolation=cv2.INTER_CUBIC)
        tmp = dst.with_name(dst.stem + ".part.jpg")
        cv2.imwrite(str(tmp), cv2.cvtColor(big, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        os.replace(tmp, dst)
    return folder


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        return
    try:
        os.link(src, dst)  # no extra disk per order count
    except OSError:
        shutil.copyfile(src, dst)


def make_dataset(sample: Path, work: Path, n_orders: int, size: tuple[int, int] = PHOTO_SIZE) -> Path:
    """A data folder with ``n_orders`` orders reusing the sample orders round-robin (photos of ``size``)."""
    photos = make_photos(sample, work, size)
    root = work / (f"orders{n_orders}" if tuple(size) == PHOTO_SIZE else f"orders{n_orders}-{size[0]}x{size[1]}")
    if (root / "orders.csv").exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    for name in ("catalogue.csv", "components.csv"):
        if (sample / name).exists():
            shutil.copyfile(sample / name, root / name)
    for sub in ("listings", "stations"):
        if (sample / sub).is_dir():
            for f in (sample / sub).rglob("*"):
                if f.is_file():
                    _link(f, root / sub / f.relative_to(sample / sub))
    for f in photos.iterdir():
        _link(f, root / "photos" / f.name)
    orders: dict[str, list[dict]] = {}
    for rec in _read(sample / "orders.csv"):
        orders.setdefault(rec["order_id"], []).append(rec)
    packed: dict[str, list[dict]] = {}
    if (sample / "packed.csv").exists():
        for rec in _read(sample / "packed.csv"):
            packed.setdefault(rec["order_id"], []).append(rec)
    templates = list(orders)

    def photo(value: str) -> str:
        return ";".join(f"photos/{Path(p.strip()).stem}.jpg" for p in value.split(";") if p.strip())

    order_rows, packed_rows = [], []
    for k in range(n_orders):
        tid = templates[k % len(templates)]
        oid = f"B{k:07d}"
        order_rows += [[oid, r["sku"], r["qty"], photo(r["photo"]), r.get("station", "")] for r in orders[tid]]
        packed_rows += [[oid, r["component"], r["count"]] for r in packed.get(tid, [])]
    _write(root / "orders.csv", ["order_id", "sku", "qty", "photo", "station"], order_rows)
    _write(root / "packed.csv", ["order_id", "component", "count"], packed_rows)
    return root


# ---------------------------------------------------------------- one measured audit (child process)
def _child(args: dict) -> dict:
    """Run one audit in this (fresh) process; report its times and ru_maxrss."""
    from ...apps.audit.run import AuditConfig, run_audit

    # Steady state: from the first order done to the last, without start-up and the final write.
    marks = {"calls": 0, "first": None, "last": None}

    def progress(done, total, counts):
        marks["calls"] += 1
        marks["last"] = time.perf_counter()
        if marks["calls"] == 2:  # the first call reports 0 done
            marks["first"] = marks["last"]

    t0 = time.perf_counter()
    summary = run_audit(AuditConfig(data_dir=Path(args["data"]), out=Path(args["out"]), html=Path(args["html"]),
                                    workers=args["workers"], cache=Path(args["cache"])), progress=progress)
    wall = time.perf_counter() - t0
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    steady = None
    if marks["calls"] > 2 and marks["last"] > marks["first"]:
        steady = (marks["calls"] - 2) / (marks["last"] - marks["first"])
    return {
        "orders": summary.orders, "statuses": summary.statuses, "wall_s": wall, "steady_orders_per_s": steady,
        "maxrss_parent_mb": own.ru_maxrss / 1024,
        "maxrss_worker_mb": kids.ru_maxrss / 1024,
        # CPU seconds of the whole run (workers included): what an order costs on an idle machine.
        "cpu_s": own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime,
        "stage_seconds": summary.stage_seconds,
        "fingerprinted": summary.fingerprinted, "without_embedding": summary.without_embedding,
    }


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            pass
        stack.extend(children.get(p, []))
    return total


def measure(data: Path, work: Path, workers: int, cache: Path) -> dict:
    """One audit in a fresh process, with the peak memory of its process tree sampled every 0.2 s."""
    out = work / f"results-{data.name}-w{workers}.csv"
    args = {"data": str(data), "out": str(out), "html": str(out.with_suffix(".html")), "workers": workers,
            "cache": str(cache)}
    proc = subprocess.Popen([sys.executable, "-m", "packcheck.tooling.bench.audit", "--child", json.dumps(args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]
    sampling = Path("/proc").is_dir()

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    if sampling:
        sampler.start()
    stdout, stderr = proc.communicate()
    if sampling:
        sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"the measured audit failed (exit {proc.returncode}):\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_tree_rss_mb"] = peak[0] / 1e6 if sampling else None
    result["orders_per_s"] = result["orders"] / result["wall_s"]
    result["cpu_ms_per_order"] = 1000 * result["cpu_s"] / result["orders"]
    result["workers"] = workers
    return result


# ---------------------------------------------------------------- the imagehash loops
def imagehash_loop(data: Path, n_orders: int, *, careful: bool) -> dict:
    """imagehash alone over the first ``n_orders`` orders, one process: the naive loop (full decode,
    listing images hashed per order) or the careful one (1/8 decode, listing hashes cached); see
    :mod:`packcheck.tooling.bench.baselines`."""
    from ...store.dataset import load_catalogue
    from .baselines import ImagehashLoop

    catalogue = load_catalogue(data)
    orders: dict[str, list[dict]] = {}
    for rec in _read(data / "orders.csv"):
        if len(orders) == n_orders and rec["order_id"] not in orders:
            break
        orders.setdefault(rec["order_id"], []).append(rec)
    loop = ImagehashLoop(careful=careful)
    t0, cpu0 = time.perf_counter(), time.process_time()
    failed = 0
    for rows in orders.values():
        try:
            listings = [p for r in rows for p in catalogue.items[r["sku"]].listing_images]
            _ = loop.check(data / rows[0]["photo"].split(";")[0], listings) < 40  # its verdict
        except Exception:  # noqa: BLE001 - a loop must survive a corrupt photo too
            failed += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"orders": len(orders), "wall_s": wall, "orders_per_s": len(orders) / wall, "failed": failed,
            "cpu_ms_per_order": 1000 * cpu / len(orders)}


# ---------------------------------------------------------------- the command
def run(sample: Path, *, order_counts: list[int], workers: list[int], naive_orders: int, work: Path,
        echo=print, photo_size: tuple[int, int] = PHOTO_SIZE) -> dict:
    """Build the data, measure every (N, workers) audit and the naive loop; return the results."""
    from ...apps.checker import Checker

    cache = work / "index.sqlite"
    runs = []
    load_before = os.getloadavg()
    for n in order_counts:
        data = make_dataset(sample, work, n, photo_size)
        Checker.open(data, cache=cache)  # listing images indexed before anything is timed
        for w in workers:
            echo(f"auditing {n} orders with {w} worker(s) ...")
            r = measure(data, work, w, cache)
            r["n"] = n
            runs.append(r)
    loops = {}
    for name in ("naive", "careful"):
        echo(f"{name} imagehash loop over {naive_orders} orders ...")
        loops[name] = imagehash_loop(make_dataset(sample, work, order_counts[0], photo_size), naive_orders,
                                     careful=name == "careful")
    return {"photo_size": list(photo_size), "cpu_count": os.cpu_count(), "runs": runs, **loops,
            "ratios": ratios(runs, loops["naive"], loops["careful"]),
            "load_average": [load_before[0], os.getloadavg()[0]]}


#: Issue #19's targets: (ratio, "<=" or ">=", limit). Times are per order, one worker, start-up included.
TARGETS = {
    "time_vs_careful": ("<=", 2.0),
    "time_vs_naive": ("<=", 0.2),
    "two_vs_one_worker": (">=", 1.9),
    "memory": ("<=", 1.1),
}
_LABELS = {
    "time_vs_careful": "time per order, 1 worker / careful loop",
    "time_vs_careful_steady": "  the same, steady state (start-up left out)",
    "time_vs_naive": "time per order, 1 worker / naive loop",
    "time_vs_naive_steady": "  the same, steady state",
    "one_worker_vs_naive": "throughput, 1 worker / naive",
    "two_workers_vs_naive": "throughput, 2 workers / naive",
    "naive_cpu_vs_packcheck_cpu": "CPU per order, naive / packcheck",
    "careful_cpu_vs_packcheck_cpu": "CPU per order, careful / packcheck",
    "two_vs_one_worker": "throughput, 2 workers / 1 worker",
    "two_vs_one_worker_steady": "  the same, steady state",
    "one_worker_cores_busy": "cores kept busy by 1 worker (its OpenCV/BLAS threads; 2 workers can add at most "
                             "cores / this)",
}


def ratios(runs: list[dict], naive: dict, careful: dict | None = None) -> dict:
    """The ratios the issue sets targets for (speed: the largest N measured with 1 and 2 workers).

    ``time_vs_*``: packcheck's seconds per order on one worker over the loop's (below 1: packcheck is
    faster); ``memory_N_vs_M_wK``: peak memory of the N-order audit over the M-order one.
    """
    out: dict = {}
    by = {(r["n"], r["workers"]): r for r in runs}
    ns = sorted({r["n"] for r in runs})
    n = max((m for m in ns if (m, 1) in by and (m, 2) in by), default=ns[0])
    one, two = by.get((n, 1)), by.get((n, 2))
    loops = {"naive": naive, **({"careful": careful} if careful else {})}
    if one:
        for name, loop in loops.items():
            out[f"time_vs_{name}"] = loop["orders_per_s"] / one["orders_per_s"]
            if one["steady_orders_per_s"]:
                out[f"time_vs_{name}_steady"] = loop["orders_per_s"] / one["steady_orders_per_s"]
            out[f"{name}_cpu_vs_packcheck_cpu"] = loop["cpu_ms_per_order"] / one["cpu_ms_per_order"]
        out["one_worker_vs_naive"] = one["orders_per_s"] / naive["orders_per_s"]
    if two:
        out["two_workers_vs_naive"] = two["orders_per_s"] / naive["orders_per_s"]
    if one and one.get("wall_s") and one.get("cpu_s") is not None:
        # One worker runs OpenCV's and BLAS's own threads: the cores it already keeps busy bound what a
        # second worker can add on this machine (cpu_count / cores_busy).
        out["one_worker_cores_busy"] = one["cpu_s"] / one["wall_s"]
    if one and two:
        out["two_vs_one_worker"] = two["orders_per_s"] / one["orders_per_s"]
        if one["steady_orders_per_s"] and two["steady_orders_per_s"]:
            out["two_vs_one_worker_steady"] = two["steady_orders_per_s"] / one["steady_orders_per_s"]
    if len(ns) > 1:
        for w in sorted({r["workers"] for r in runs}):
            small, big = by.get((ns[0], w)), by.get((ns[-1], w))
            if small and big and small["peak_tree_rss_mb"]:
                out[f"memory_{ns[-1]}_vs_{ns[0]}_w{w}"] = big["peak_tree_rss_mb"] / small["peak_tree_rss_mb"]
    return out


def judged(key: str, value: float) -> str:
    """`` (target <= 2.0): met`` / ``: MISSED`` for a ratio the issue sets a target for, else ''."""
    rule = TARGETS.get("memory" if key.startswith("memory_") else key)
    if rule is None:
        return ""
    op, limit = rule
    met = value <= limit if op == "<=" else value >= limit
    return f" (target {op} {limit}): {'met' if met else 'MISSED'}"


def format_table(result: dict) -> str:
    w, h = result["photo_size"]
    lines = [f"packcheck audit throughput: {w}x{h} JPEG photos ({w * h / 1e6:.0f} MP), "
             f"{result['cpu_count']} CPU cores, load average {result['load_average'][0]:.1f} at the start "
             f"and {result['load_average'][1]:.1f} at the end",
             f"{'orders':>7} {'workers':>7} {'wall s':>8} {'orders/s':>9} {'steady/s':>9} {'CPU ms/order':>12} "
             f"{'peak MB':>8} {'parent MB':>9} {'worker MB':>9}"]
    for r in result["runs"]:
        steady = f"{r['steady_orders_per_s']:.2f}" if r["steady_orders_per_s"] else "-"
        peak = f"{r['peak_tree_rss_mb']:.0f}" if r["peak_tree_rss_mb"] else "-"
        lines.append(f"{r['n']:>7} {r['workers']:>7} {r['wall_s']:>8.1f} {r['orders_per_s']:>9.2f} {steady:>9} "
                     f"{r['cpu_ms_per_order']:>12.0f} {peak:>8} {r['maxrss_parent_mb']:>9.0f} "
                     f"{r['maxrss_worker_mb']:>9.0f}")
    for r in result["runs"]:
        st = r.get("stage_seconds") or {}
        if st:
            lines.append(f"  stages, {r['n']} orders, {r['workers']} worker(s), ms per order: "
                         + ", ".join(f"{k} {1000 * v / max(1, r['n']):.0f}" for k, v in st.items())
                         + (f"; embedding not needed for {r['without_embedding']} of {r['fingerprinted']} orders"
                            if r.get("fingerprinted") else ""))
    for name, what in (("naive", "full decode, listing images hashed per order"),
                       ("careful", "Image.draft 1/8 decode, listing hashes cached")):
        if name in result:
            lp = result[name]
            lines.append(f"{name} loop (Pillow + imagehash pHash/dHash/colorhash, {what}; 1 process): "
                         f"{lp['orders_per_s']:.2f} orders/s, {lp['cpu_ms_per_order']:.0f} CPU ms/order "
                         f"over {lp['orders']} orders")
    for k, v in result["ratios"].items():
        label = _LABELS.get(k) or (k.replace("memory_", "peak memory, ").replace("_vs_", " / ")
                                   .replace("_w", " orders, workers "))
        lines.append(f"  {label}: {v:.2f}{'' if k == 'one_worker_cores_busy' else 'x'}{judged(k, v)}")
    lines.append("peak MB: resident memory of the audit's process tree (parent + workers), sampled; "
                 "parent/worker MB: ru_maxrss; times include the audit's start-up unless 'steady state'")
    return "\n".join(lines)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--child":
    print(json.dumps(_child(json.loads(sys.argv[2]))))

"""``packcheck bench speed``: what a check costs next to decoding the photo, and a 100,000-image catalogue.

Part 1, photos. For each photo (by default a generated 12 MP phone-like JPEG, a
2 MP one, and the sample_data photos) the same process measures, interleaved
and repeated, medians:

* ``full_decode``: ``cv2.imread`` at full resolution;
* ``reduced_8`` (the floor), ``reduced_4``, ``reduced_2``: ``cv2.imread`` with
  ``IMREAD_REDUCED_COLOR_8/4/2`` (the JPEG decoder skips the fine DCT work);
* ``naive``: what a user of imagehash alone writes, Pillow open + ``phash`` +
  ``dhash`` + ``colorhash`` (a full decode);
* ``careful``: the same with ``Image.draft`` (a JPEG decoded at 1/8 through the
  DCT), what a careful imagehash user writes (its listing hashes are cached, so
  the photo is all it costs per check; see :mod:`.baselines`);
* ``hash_colour``: packcheck's decode (:func:`~packcheck.core.imaging.load_image`) plus
  its hash and colour computations on the decoded work copy;
* ``check``: packcheck's whole check of one order with that photo (a
  :class:`~packcheck.apps.checker.Checker` opened once, listing index warm), with the
  per-stage split its verdict reports and whether the cascade left the embedding out;
* ``check_full``: the same with the cascade off (the embedding always runs): what
  an order that is not a clear PASS costs.

It does so with one thread (OpenCV and BLAS) and again with the default threads,
and reports the ratios the speed issues (#5, #19) set targets for.

Part 2, a large catalogue. Indexing 100,000 real listing images takes hours, so
synthetic listing fingerprints (clustered embeddings modelled on real ones,
colour histograms, hashes, keypoints) are written into an index store the way
indexing writes them, with a small file per image so start-up checks files as
it would. A fresh process then measures start-up time and memory, the
nearest-SKU lookup and a whole :func:`~packcheck.core.scoring.score_photo`, and
compares answers with the exact path. Part 3 times fingerprinting real listing
images, the cost of indexing a catalogue once.
"""
from __future__ import annotations

import ctypes
import dataclasses
import gc
import glob
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np

from ..catalogue_gen import SyntheticCatalogue, write_catalogue
from .baselines import careful_hashes, naive_hashes

#: The speed issues' targets (#5, #19), as ratios measured in one run on a 12 MP photo, and the 100k lookup.
TARGETS = {"hash_colour/floor": 1.3, "check/floor": 3.0, "check/full_decode": 1.5, "check/careful": 2.0,
           "check/naive": 0.2}
LOOKUP_TARGET_MS = 10.0
#: Photo complete -> verdict target, set where a full 12 MP imread took REFERENCE_IMREAD_MS.
STATION_TARGET_MS = 150.0
REFERENCE_IMREAD_MS = 31.0
OPS = ("full_decode", "reduced_8", "reduced_4", "reduced_2", "naive", "careful", "hash_colour", "check", "check_full")
CHECK_STAGES = ("decode", "locate", "hash_colour", "embedding", "keypoints", "match")


# ---------------------------------------------------------------- threads
def _blas_setter():
    """numpy's OpenBLAS ``set_num_threads``, or None where it cannot be found."""
    candidates = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "*openblas*.so*"))
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
                     "openblas_set_num_threads"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.argtypes = [ctypes.c_int]
                return fn
    return None


def set_threads(n: int | None, *, default_cv: int, default_blas: int) -> str:
    """One thread (n=1) or the defaults (n=None) for OpenCV and BLAS; says what was set."""
    cv2.setNumThreads(1 if n == 1 else default_cv)
    setter = _blas_setter()
    if setter is not None:
        setter(1 if n == 1 else default_blas)
    return f"OpenCV {cv2.getNumThreads()}, BLAS {'1' if n == 1 else default_blas}" + (
        "" if setter else " (BLAS threads not controllable here)")


# ---------------------------------------------------------------- photos
def phone_photo(rgb: np.ndarray, size: tuple[int, int], *, seed: int = 0, quality: int = 90) -> bytes:
    """``rgb`` upscaled to ``size`` with mild sensor-like noise, as a JPEG (a phone photo's size and entropy)."""
    from .station import phone_jpeg

    return phone_jpeg(rgb, size=size, seed=seed, quality=quality)


def default_photos(checker, folder: Path) -> list[tuple[str, Path, str]]:
    """(label, path, order_id): a 12 MP and a 2 MP photo made from a sample order's photo, then the
    sample orders' own photos."""
    from ...store import dataset
    from ...core.imaging import load_image

    out = []
    orders = [o for o in dataset.iter_orders(checker.root, checker.catalogue, packed=checker.packed)
              if not o.problems and o.photos and all(p.is_file() for p in o.photos)]
    if not orders:
        raise ValueError(f"no order in {checker.root} has a readable photo to benchmark with")
    base = orders[0]
    rgb = load_image(base.photos[0], work_side=0).rgb
    for label, size in (("12MP", (4000, 3000)), ("2MP", (1600, 1200))):
        path = folder / f"{base.order_id}_{label}.jpg"
        path.write_bytes(phone_photo(rgb, size))
        out.append((label, path, base.order_id))
    for o in orders:
        try:
            load_image(o.photos[0])
        except Exception:  # noqa: BLE001 - a deliberately broken demo photo is not a benchmark input
            continue
        out.append((f"sample {o.order_id}", o.photos[0], o.order_id))
    return out


def _hash_colour(path: Path) -> None:
    from ...core.fingerprint import photo_colour_and_hashes
    from ...core.imaging import load_image

    rgb = load_image(path).rgb
    # The photo path's hash and colour code on the whole work copy (the located
    # region is part of it, so this is the upper end of that stage's cost).
    photo_colour_and_hashes([(rgb, np.full(rgb.shape[:2], 255, np.uint8))])


def _ops(checker, full_checker, orders: dict) -> dict:
    flags = {"reduced_8": cv2.IMREAD_REDUCED_COLOR_8, "reduced_4": cv2.IMREAD_REDUCED_COLOR_4,
             "reduced_2": cv2.IMREAD_REDUCED_COLOR_2}

    def imread(flag=None):
        def op(path):
            img = cv2.imread(str(path)) if flag is None else cv2.imread(str(path), flag)
            if img is None:
                raise RuntimeError(f"cv2.imread could not read {path}")
        return op

    def check_with(c):
        def check(path):
            label, order_id = orders[path]
            v = c.check(c.find(order_id), photos=[path])
            return dict(v.timings), v.status.value, "embedding" in (v.meta.stages_run if v.meta else ("embedding",))
        return check

    return {"full_decode": imread(), **{k: imread(f) for k, f in flags.items()}, "naive": naive_hashes,
            "careful": careful_hashes, "hash_colour": _hash_colour, "check": check_with(checker),
            "check_full": check_with(full_checker)}


def measure_photos(checker, photos: list[tuple[str, Path, str]], *, repeat: int, progress=None,
                   full_checker=None) -> dict:
    """Median ms per operation and photo, every operation interleaved with the others.

    ``full_checker``: the same data with the cascade off (default: ``checker``)."""
    orders = {p: (label, o) for label, p, o in photos}
    ops = _ops(checker, full_checker or checker, orders)
    times = {label: {op: [] for op in OPS} for label, _, _ in photos}
    stages = {label: {s: [] for s in CHECK_STAGES} for label, _, _ in photos}
    status, embedded = {}, {}
    for label, path, _ in photos:  # warm every code path and the file cache once
        for op in OPS:
            ops[op](path)
    for rep in range(repeat):
        for label, path, _ in photos:
            for op in OPS:
                t = time.perf_counter()
                got = ops[op](path)
                times[label][op].append(1000 * (time.perf_counter() - t))
                if op == "check":
                    timings, status[label], embedded[label] = got
                    for s in CHECK_STAGES:
                        stages[label][s].append(1000 * timings.get(s, 0.0))
        if progress:
            progress(rep + 1, repeat)
    out = {}
    for label, _, _ in photos:
        med = {op: statistics.median(v) for op, v in times[label].items()}
        out[label] = {
            "ms": {k: round(v, 2) for k, v in med.items()},
            "check_stages_ms": {s: round(statistics.median(v), 2) for s, v in stages[label].items()},
            "ratios": ratios(med),
            "status": status.get(label),
            "embedding_ran": embedded.get(label),
        }
    return out


def ratios(ms: dict) -> dict:
    """The issue's ratios from one photo's medians."""
    return {
        "hash_colour/floor": round(ms["hash_colour"] / ms["reduced_8"], 3),
        "check/floor": round(ms["check"] / ms["reduced_8"], 3),
        "check/full_decode": round(ms["check"] / ms["full_decode"], 3),
        "check/careful": round(ms["check"] / ms["careful"], 3),
        "check/naive": round(ms["check"] / ms["naive"], 3),
    }


def indexing_cost(paths: list[Path], *, repeat: int = 2) -> dict:
    """Median ms to fingerprint one listing image (decode to store blobs), one thread."""
    from ...store.fingerprints import to_blobs
    from ...core.fingerprint import fingerprint_listing
    from ...core.imaging import load_image

    times = []
    for _ in range(repeat):
        for p in paths:
            t = time.perf_counter()
            to_blobs(fingerprint_listing(load_image(p)))
            times.append(1000 * (time.perf_counter() - t))
    med = statistics.median(times)
    return {"images": len(paths), "median_ms": round(med, 1),
            "hours_for_100k_on_2_workers": round(100_000 * med / 1000 / 3600 / 2, 2)}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _catalogue_worker(folder: str, n: int, seed: int, queries: int, exact_queries: int, conn) -> None:
    """Runs in a fresh process: start-up, memory, lookups, whole score_photo, agreement with the exact path."""
    try:
        conn.send(_measure_catalogue(Path(folder), n, seed, queries, exact_queries))
    except BaseException as e:  # noqa: BLE001 - reported by the parent
        import traceback

        conn.send({"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})
    finally:
        conn.close()


def _measure_catalogue(folder: Path, n: int, seed: int, queries: int, exact_queries: int) -> dict:
    from ...core import scoring
    from ...store.index import build_index, load_index
    from ...core.thresholds import load_thresholds

    cv2.setNumThreads(1)
    setter = _blas_setter()
    if setter:
        setter(1)
    cat = SyntheticCatalogue(n, seed=seed)
    entries = [(cat.owner(r), folder / "listings" / f"{r:06d}.img") for r in range(n)]
    th = load_thresholds()
    th_lookup = th.with_signals(tuple(s for s in th.enabled_signals if s != "keypoints"))
    out: dict = {"images": n, "skus": len({o for o, _ in entries})}
    gc.collect()
    t = time.perf_counter()
    index = build_index(entries, cache=folder / "index.sqlite", large_from=th.large_catalogue_rows)
    out["first_start_s"] = round(time.perf_counter() - t, 2)  # fits the basis, projects every image, once
    del index
    gc.collect()
    t = time.perf_counter()
    index = build_index(entries, cache=folder / "index.sqlite", large_from=th.large_catalogue_rows)
    out["start_s"] = round(time.perf_counter() - t, 2)
    out["rss_mb_after_start"] = round(_rss_mb(), 1)
    # What the index holds, counted by allocation (numpy arrays and Python objects alike).
    del index
    gc.collect()
    tracemalloc.start()
    index = build_index(entries, cache=folder / "index.sqlite", large_from=th.large_catalogue_rows)
    held = tracemalloc.get_traced_memory()[0]
    scoring.score_photo(cat.photo(0, seed=-1), index, th_lookup)  # reads the cohort sample's rows
    with_cohort = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    out["index_mb"] = round(held / 1e6, 1)
    out["index_bytes_per_image"] = round(held / n)
    out["cohort_mb"] = round((with_cohort - held) / 1e6, 1)
    out["coarse_dims"] = int(index.coarse.basis.dims) if index.coarse else None
    rng = np.random.default_rng(seed + 1)
    # Photos of rows outside the cohort sample, which is always scored exactly.
    cap = int(th.normalisation["large_catalogue_cohort"])
    cohort = scoring.cohort_sample(n, th, cap=cap) if index.coarse is not None else None
    taken = set() if cohort is None else set(cohort.tolist())
    picks = np.array([r for r in rng.permutation(n)[:queries + len(taken)] if r not in taken][:queries])
    photos = [cat.photo(int(r), seed=i) for i, r in enumerate(picks)]
    musts = [sorted({x for s in [cat.owner(int(r)), *cat.siblings(int(r))] for x in index.rows_of(s)})
             for r in picks]
    for p, m in zip(photos[:3], musts):  # warm: cohort rows read once, caches filled
        scoring.score_photo(p, index, th_lookup, must_verify=m)
    lookup, lookup_cpu, full, full_cpu, found = [], [], [], [], []
    results = []
    for p, m, r in zip(photos, musts, picks):
        t, c = time.perf_counter(), time.thread_time()
        s = scoring.score_photo(p, index, th_lookup, must_verify=m)
        nearest = scoring.nearest_other(s.fused, index, exclude=(cat.owner(int(r)),))
        lookup.append(1000 * (time.perf_counter() - t))
        lookup_cpu.append(1000 * (time.thread_time() - c))
        t, c = time.perf_counter(), time.thread_time()
        s2 = scoring.score_photo(p, index, th, must_verify=m)
        scoring.nearest_other(s2.fused, index, exclude=(cat.owner(int(r)),))
        full.append(1000 * (time.perf_counter() - t))
        full_cpu.append(1000 * (time.thread_time() - c))
        # Recall of the first pass alone: without the ordered SKU forced in, is its image scored?
        found.append(bool(np.isfinite(scoring.score_photo(p, index, th_lookup).fused[int(r)])))
        results.append((nearest, s))
    out["rss_mb_after_queries"] = round(_rss_mb(), 1)
    out["lookup_ms"] = _summary(lookup)
    out["lookup_cpu_ms"] = _summary(lookup_cpu)
    out["score_photo_ms"] = _summary(full)
    out["score_photo_cpu_ms"] = _summary(full_cpu)
    out["queries"] = queries
    out["first_pass_recall"] = round(float(np.mean(found)), 3)
    out["peak_rss_mb_before_exact"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if exact_queries:
        out["vs_exact"] = _compare_exact(index, entries, photos[:exact_queries], musts, picks, results,
                                         th_lookup, cat, load_index)
    return out


def _compare_exact(index, entries, photos, musts, picks, results, th, cat, load_index) -> dict:
    """The same queries on the exact path (every row scored; 2 GB at 100k): same nearest SKU?"""
    from ...core import scoring

    t = time.perf_counter()
    exact = load_index(index.store, index.owners, index.digests, index.paths, large_from=10**12)
    load_s = time.perf_counter() - t
    same, diffs, times, ranks = 0, [], [], []
    for p, m, r, (nearest, s) in zip(photos, musts, picks, results):
        t = time.perf_counter()
        e = scoring.score_photo(p, exact, th, must_verify=m)
        times.append(1000 * (time.perf_counter() - t))
        want = scoring.nearest_other(e.fused, exact, exclude=(cat.owner(int(r)),))
        same += want[0] == nearest[0]
        diffs.append(abs(want[1] - nearest[1]))
        own = exact.rows_of(cat.owner(int(r)))
        diffs.append(float(np.max(np.abs(e.fused[own] - s.fused[own]))))
        # Where the exact nearest row ranks in the large path's first pass.
        ranks.append(int(np.isfinite(s.fused[want[2]])))
    return {"queries": len(photos), "same_nearest_sku": round(same / max(1, len(photos)), 3),
            "exact_nearest_row_scored": round(float(np.mean(ranks)), 3),
            "max_abs_fused_difference": round(float(np.max(diffs)), 4),
            "median_abs_fused_difference": round(float(np.median(diffs)), 4),
            "exact_load_s": round(load_s, 1), "exact_score_photo_ms": _summary(times),
            "peak_rss_mb_with_exact": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _summary(ms: list[float]) -> dict:
    return {"median": round(statistics.median(ms), 2), "p90": round(float(np.percentile(ms, 90)), 2),
            "n": len(ms)}


def measure_catalogue(n: int, *, seed: int = 0, queries: int = 50, exact_queries: int = 20,
                      folder: Path | None = None, progress=None) -> dict:
    """Write a synthetic catalogue of ``n`` listing images and measure it in a fresh process."""
    tmp = None
    if folder is None:
        tmp = tempfile.TemporaryDirectory(prefix="packcheck-bench-catalogue-")
        folder = Path(tmp.name)
    try:
        t = time.perf_counter()
        write_catalogue(folder, SyntheticCatalogue(n, seed=seed), progress=progress)
        write_s = time.perf_counter() - t
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_catalogue_worker, args=(str(folder), n, seed, queries, exact_queries, child))
        proc.start()
        child.close()
        try:
            out = parent.recv()
        except EOFError:  # the process died without a word (killed, out of memory)
            proc.join()
            raise RuntimeError(f"the catalogue benchmark process exited with code {proc.exitcode}") from None
        proc.join()
        if "error" in out:
            raise RuntimeError(f"catalogue benchmark failed: {out['error']}\n{out.get('traceback', '')}")
        out["write_s"] = round(write_s, 1)
        out["store_mb"] = round(sum(p.stat().st_size for p in folder.glob("index.sqlite*")) / 1e6, 1)
        return out
    finally:
        if tmp is not None:
            tmp.cleanup()


# ---------------------------------------------------------------- the run
def run(*, data_dir: Path = Path("sample_data"), photos: list[Path] | None = None, repeat: int = 7,
        catalogue_size: int = 100_000, queries: int = 50, exact_queries: int = 20, progress=None) -> dict:
    """The whole benchmark; returns the JSON-ready report."""
    from ...core import search
    from ...apps.checker import Checker
    from ...core.thresholds import Cascade, load_thresholds

    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat!r}")
    default_cv = cv2.getNumThreads()
    default_blas = os.cpu_count() or 1
    report: dict = {"machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg(),
                                "python": sys.version.split()[0], "opencv": cv2.__version__}}
    with tempfile.TemporaryDirectory(prefix="packcheck-bench-speed-") as tmp:
        tmp = Path(tmp)
        checker = Checker.open(data_dir, cache=tmp / "index.sqlite")
        full_checker = Checker.open(data_dir, cache=tmp / "index.sqlite",
                                    thresholds=dataclasses.replace(checker.thresholds, cascade=Cascade()))
        if photos:
            order = _first_order(checker)
            chosen = [(Path(p).name, Path(p), order) for p in photos]
        else:
            chosen = default_photos(checker, tmp)
        report["photos"] = {label: {"path": str(p), "order": o, **_size(p)} for label, p, o in chosen}
        for mode, n in (("one_thread", 1), ("default_threads", None)):
            report.setdefault("threads", {})[mode] = set_threads(n, default_cv=default_cv, default_blas=default_blas)
            report[mode] = measure_photos(checker, chosen, repeat=repeat, full_checker=full_checker,
                                          progress=(lambda d, t, m=mode: progress(f"photos ({m})", d, t))
                                          if progress else None)
        set_threads(1, default_cv=default_cv, default_blas=default_blas)
        listing_paths = sorted({p for item in checker.catalogue.items.values() for p in item.listing_images})
        report["indexing"] = indexing_cost(listing_paths)
        report["peak_rss_mb_photos"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if catalogue_size:
        report["catalogue"] = measure_catalogue(
            catalogue_size, queries=queries, exact_queries=exact_queries,
            progress=(lambda d, t: progress("writing synthetic catalogue", d, t)) if progress else None)
        th = load_thresholds()
        report["catalogue"]["settings"] = {
            "large_catalogue_rows": th.large_catalogue_rows, "embedding_dims": search.EMBEDDING_DIMS,
            "colour_dims": search.COLOUR_DIMS, "candidates": search.CANDIDATES,
            "cohort_rows": int(th.normalisation["large_catalogue_cohort"])}
    report["machine"]["load_average_at_end"] = os.getloadavg()
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return report


def _first_order(checker) -> str:
    from ...store import dataset

    for o in dataset.iter_orders(checker.root, checker.catalogue, packed=checker.packed):
        if not o.problems:
            return o.order_id
    raise ValueError(f"no valid order in {checker.root}")


def _size(path: Path) -> dict:
    from PIL import Image

    with Image.open(path) as im:
        return {"width": im.size[0], "height": im.size[1], "bytes": Path(path).stat().st_size}


# ---------------------------------------------------------------- printing
def format_report(r: dict) -> str:
    """The report as the CLI prints it."""
    m = r["machine"]
    lines = [f"speed bench: {m['cpus']} CPU(s), load average {_load(m['load_average_at_start'])} at start, "
             f"{_load(m['load_average_at_end'])} at end; medians in ms; ratios from the same interleaved run"]
    for mode in ("one_thread", "default_threads"):
        if mode not in r:
            continue
        lines.append("")
        lines.append(f"{mode.replace('_', ' ')} ({r['threads'][mode]})")
        head = f"  {'photo':22s}" + "".join(f"{op:>12s}" for op in OPS)
        lines.append(head)
        sample = [k for k in r[mode] if k.startswith("sample ")]
        for label, res in r[mode].items():
            if label in sample[1:]:
                continue
            name = label if label not in sample else f"sample ({len(sample)} photos)"
            ms = res["ms"] if label not in sample else _median_of(r[mode], sample, "ms")
            lines.append(f"  {name:22s}" + "".join(f"{ms[op]:12.1f}" for op in OPS))
        lines.append(f"  {'ratios (target)':22s}" + "".join(f"{f'{k} ({t})':>24s}" for k, t in TARGETS.items())
                     + "   (targets are set on 12 MP photos)")
        for label, res in r[mode].items():
            if label in sample[1:]:
                continue
            name = label if label not in sample else "sample (median)"
            rr = res["ratios"] if label not in sample else _median_of(r[mode], sample, "ratios")
            judged = label not in sample and _megapixels(r["photos"][label]) >= 10
            marks = "".join(f"{rr[k]:19.2f} {('ok  ' if rr[k] <= t else 'MISS') if judged else '    '}"
                            for k, t in TARGETS.items())
            lines.append(f"  {name:22s}{marks}")
        for label in ("12MP", "2MP"):
            if label in r[mode]:
                res = r[mode][label]
                st = res["check_stages_ms"]
                ran = res.get("embedding_ran")
                lines.append(f"  check stages, {label}: " + ", ".join(f"{k} {v:.1f}" for k, v in st.items())
                             + ("" if ran is None else "; embedding " + ("ran" if ran else
                                "not needed (a clear PASS: the cascade decided)"))
                             + (f"; with the cascade off {res['ms']['check_full']:.1f} ms" if "check_full" in res["ms"]
                                else ""))
        if "12MP" in r[mode]:
            full = r[mode]["12MP"]["ms"]["full_decode"]
            here = STATION_TARGET_MS / REFERENCE_IMREAD_MS * full
            lines.append(f"  12 MP check {r[mode]['12MP']['ms']['check']:.0f} ms; the {STATION_TARGET_MS:.0f} ms "
                         f"station target scaled by full imread ({full:.0f} ms here vs {REFERENCE_IMREAD_MS:.0f}): "
                         f"{here:.0f} ms")
    if "indexing" in r:
        ix = r["indexing"]
        lines += ["", f"indexing real listing images: {ix['median_ms']:.0f} ms each (median of {ix['images']}, one "
                      f"thread); 100,000 images: about {ix['hours_for_100k_on_2_workers']:.1f} h on 2 workers, once"]
    if "catalogue" in r:
        c = r["catalogue"]
        s = c["settings"]
        lines += ["", f"synthetic catalogue: {c['images']:,} listing images, {c['skus']:,} SKUs "
                      f"(store {c['store_mb']:.0f} MB, written in {c['write_s']:.0f} s); one thread",
                  f"  settings: large from {s['large_catalogue_rows']:,} images, coarse {s['embedding_dims']}+"
                  f"{s['colour_dims']} dims, {s['candidates']} candidates, cohort {s['cohort_rows']} rows",
                  f"  start-up: first {c['first_start_s']:.1f} s (fits the basis, once), then {c['start_s']:.1f} s; "
                  f"index memory {c['index_mb']:.0f} MB ({c['index_bytes_per_image']} B per image) + cohort sample "
                  f"{c['cohort_mb']:.0f} MB; process RSS after start-up {c['rss_mb_after_start']:.0f} MB",
                  f"  nearest-SKU lookup: median {c['lookup_ms']['median']:.1f} ms, p90 {c['lookup_ms']['p90']:.1f} "
                  f"(CPU {c['lookup_cpu_ms']['median']:.1f}; target {LOOKUP_TARGET_MS:.0f}) over {c['queries']} photos",
                  f"  whole score_photo (with keypoints): median {c['score_photo_ms']['median']:.1f} ms, "
                  f"p90 {c['score_photo_ms']['p90']:.1f} (CPU {c['score_photo_cpu_ms']['median']:.1f})",
                  f"  first pass recall (the photographed image among the candidates): {c['first_pass_recall']:.0%}"]
        if "vs_exact" in c:
            v = c["vs_exact"]
            lines.append(f"  vs the exact path ({v['queries']} photos; its score_photo median "
                         f"{v['exact_score_photo_ms']['median']:.0f} ms, load {v['exact_load_s']:.0f} s, peak "
                         f"{v['peak_rss_mb_with_exact']:.0f} MB): same nearest SKU {v['same_nearest_sku']:.0%}, "
                         f"fused score difference median {v['median_abs_fused_difference']:.3f}, "
                         f"max {v['max_abs_fused_difference']:.3f}")
    lines += ["", f"peak memory of the process: {r['peak_rss_mb']:.0f} MB "
                  f"(photos part: {r.get('peak_rss_mb_photos', 0):.0f} MB)"]
    return "\n".join(lines)


def _megapixels(photo: dict) -> float:
    return photo["width"] * photo["height"] / 1e6


def _load(v) -> str:
    return "/".join(f"{x:.2f}" for x in v)


def _median_of(results: dict, labels: list[str], key: str) -> dict:
    keys = results[labels[0]][key]
    return {k: statistics.median(results[lbl][key][k] for lbl in labels) for k in keys}

"""Accuracy benchmark: packcheck's item and variant checks against plain pHash, on real photos.

Reads a manifest (``class_id,class_name,coarse_class,kind,path``; ``kind`` is
``iconic`` for the listing image, ``photo``, or ``reference``: a confirmed real
photo of the class, enrolled as a reference and never judged; paths relative to
the manifest) and builds three kinds of pairs:

* genuine: each photo against its own class's iconic image;
* lookalike: against the iconic image of every other class of the same
  ``coarse_class`` (a sibling variant, a cheaper lookalike);
* wrong item: against the iconic image of every class of another ``coarse_class``.

Each pair is judged exactly as :class:`~packcheck.apps.checker.Checker` judges a
one-line order of that class (:func:`packcheck.tooling.evaluate.score_pairs`: the
quality gate, the item and variant checks, what is judged, the verdict's
ranking score): the catalogue is the manifest's classes (``coarse_class`` as
product id, so the classes of a coarse class are sibling variants), the same
fingerprints, shortlist, keypoint verification and thresholds. The naive baseline is imagehash pHash of the
whole photo against the whole iconic image, computed in the same run.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from ...core.fingerprint import Fingerprint
from ...core.thresholds import SIGNALS, Thresholds, load_thresholds
from .. import evaluate
from ..evaluate import manifest_catalogue, read_manifest, score_pairs


# ---------------------------------------------------------------- metrics
def auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """P(a genuine pair scores higher than an impostor pair), ties counting half (Mann-Whitney U)."""
    g = np.asarray(genuine, np.float64)
    i = np.asarray(impostor, np.float64)
    if len(g) == 0 or len(i) == 0:
        return float("nan")
    allv = np.concatenate([g, i])
    order = np.argsort(allv, kind="mergesort")
    ranks = np.empty(len(allv))
    sorted_v = allv[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_v, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[: len(g)].sum() - len(g) * (len(g) + 1) / 2) / (len(g) * len(i)))


def flag_rate_at(genuine: np.ndarray, impostor: np.ndarray, false_flag: float) -> float:
    """Share of impostors flagged by the limit that flags at most ``false_flag`` of genuine pairs.

    A pair is flagged when its score is strictly below the limit; the limit is the
    largest one that keeps flagged genuine pairs at or below the allowed share.
    """
    g = np.sort(np.asarray(genuine, np.float64))
    i = np.asarray(impostor, np.float64)
    if len(g) == 0 or len(i) == 0:
        return float("nan")
    allowed = int(np.floor(false_flag * len(g) + 1e-9))
    limit = g[allowed]  # flagging "< g[allowed]" flags exactly the `allowed` lowest (ties excepted)
    return float((i < limit).mean())


def summarise(genuine, lookalike, wrong, rank1_hits, n_photos) -> dict:
    out = {
        "auc_wrong_item": auc(genuine, wrong),
        "auc_lookalike": auc(genuine, lookalike),
        "flag_rate_wrong_item_at_1pct": flag_rate_at(genuine, wrong, 0.01),
        "flag_rate_lookalike_at_1pct": flag_rate_at(genuine, lookalike, 0.01),
        "flag_rate_wrong_item_at_5pct": flag_rate_at(genuine, wrong, 0.05),
        "flag_rate_lookalike_at_5pct": flag_rate_at(genuine, lookalike, 0.05),
        "rank1": rank1_hits / max(1, n_photos),
    }
    return {k: (round(v, 4) if isinstance(v, float) and np.isfinite(v) else v) for k, v in out.items()}


# ---------------------------------------------------------------- the run
def _phash_whole(path: str):
    import imagehash
    from PIL import Image

    with Image.open(path) as im:
        return imagehash.phash(im).hash.ravel()


def _score_worker(args):
    blob, signals = args
    fp = Fingerprint.from_bytes(blob)
    ctx = evaluate.worker_context()
    out = {}
    for name, sig in signals.items():
        th = ctx.thresholds if sig is None else ctx.thresholds.with_signals(sig)
        out[name] = score_pairs(fp, ctx.index, ctx.catalogue, th)
    return out


def ablations(th: Thresholds) -> dict[str, tuple[str, ...] | None]:
    """Configurations scored: the shipped fusion, each signal alone, and fusion without the embedding."""
    configs: dict[str, tuple[str, ...] | None] = {"packcheck": None}
    for s in SIGNALS:
        configs[f"{s} only"] = (s,)
    on = th.enabled_signals
    if "embedding" in on and len(on) > 1:
        configs["fusion without embedding"] = tuple(s for s in on if s != "embedding")
    configs["all four signals, equal weights"] = SIGNALS
    return configs


def run(manifest_path: str | Path, *, thresholds_path: str | Path | None = None, workers: int | None = None,
        ablate: bool = True, progress=None, cache_dir: str | Path | None = None) -> dict:
    """Run the benchmark; returns the JSON-ready result dict (see module doc)."""
    t0 = time.perf_counter()
    m = read_manifest(manifest_path)
    th = load_thresholds(thresholds_path)
    catalogue = manifest_catalogue(m)
    entries = m.entries(catalogue)
    workers = workers or os.cpu_count() or 1
    tmp = None
    if cache_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="packcheck-bench-")
        cache_dir = tmp.name
    cache = Path(cache_dir) / "index.sqlite"
    try:
        evaluate.open_index(entries, cache=cache, thresholds=th, workers=workers)
        t_index = time.perf_counter() - t0
        configs = ablations(th) if ablate else {"packcheck": None}
        photo_paths = [str(p) for _, p in m.photos]
        truth = [cid for cid, _ in m.photos]
        errors = []
        results = []
        baseline_photo = []
        done = 0
        with evaluate.start_pool(workers, cache=cache, entries=entries, catalogue=catalogue,
                                 thresholds_path=thresholds_path) as pool:
            fps = list(pool.map(evaluate.fingerprint_photo_file, photo_paths, chunksize=4))
            keep = [i for i, (b, e) in enumerate(fps) if b is not None]
            errors = [e for b, e in fps if e is not None]
            t_fp = time.perf_counter() - t0 - t_index
            for r in pool.map(_score_worker, [(fps[i][0], configs) for i in keep], chunksize=2):
                results.append(r)
                done += 1
                if progress:
                    progress(done, len(keep))
        t_score = time.perf_counter() - t0 - t_index - t_fp
        truth = [truth[i] for i in keep]
        coarse = {cid: m.classes[cid][1] for cid in catalogue.items}
        report = {"manifest": str(manifest_path), "thresholds_version": th.version,
                  "n_photos": len(keep), "n_classes": len(catalogue.items), "unreadable_photos": errors,
                  "n_references": sum(len(v) for v in m.references.values())}
        methods = {}
        main = [r["packcheck"] for r in results]
        methods["packcheck verdict (item + variant checks)"] = _summarise_config(main, truth, coarse, "match", True)
        if th.cascade.on:  # the same verdicts with the embedding run for every pair: what the cascade changed
            full = [{**r, "match": r["match_full"], "verdict": r["verdict_full"], "embedding_ran": {}} for r in main]
            methods["verdict, cascade off (embedding always)"] = _summarise_config(full, truth, coarse,
                                                                                          "match", True)
        methods["item check alone"] = _summarise_config(main, truth, coarse, "item")
        methods["variant check alone (pairs with siblings)"] = _summarise_config(main, truth, coarse, "variant")
        for name in configs:
            if name != "packcheck":
                methods[f"item check, {name}"] = _summarise_config([r[name] for r in results], truth, coarse, "item")
        # Naive baseline: what a user of imagehash alone writes.
        tb = time.perf_counter()
        icon_hash = {cid: _phash_whole(str(m.iconic[cid][0])) for cid in catalogue.items}
        base_scores = []
        for i in keep:
            h = _phash_whole(photo_paths[i])
            base_scores.append({cid: -float((h != ih).sum()) for cid, ih in icon_hash.items()})
        methods["baseline: imagehash pHash, whole images"] = _summarise_scores(base_scores, truth, coarse)
        t_base = time.perf_counter() - tb
        pairs = _pair_counts(truth, coarse)
        report.update({
            "pairs": pairs,
            "methods": methods,
            "seconds": {"index": round(t_index, 2), "fingerprint_photos": round(t_fp, 2),
                        "score_pairs": round(t_score, 2), "baseline": round(t_base, 2),
                        "total": round(time.perf_counter() - t0, 2)},
            "workers": workers,
        })
        return report
    finally:
        if tmp is not None:
            tmp.cleanup()


def _pair_counts(truth, coarse) -> dict:
    g = len(truth)
    look = sum(sum(1 for c in coarse if c != t and coarse[c] == coarse[t]) for t in truth)
    wrong = sum(sum(1 for c in coarse if coarse[c] != coarse[t]) for t in truth)
    return {"genuine": g, "lookalike": look, "wrong_item": wrong}


def _split_pairs(per_photo: list[dict], truth, coarse):
    gen, look, wrong = [], [], []
    for scores, t in zip(per_photo, truth):
        for cid, v in scores.items():
            if v is None:
                continue
            if cid == t:
                gen.append(v)
            elif coarse[cid] == coarse[t]:
                look.append(v)
            else:
                wrong.append(v)
    return np.array(gen), np.array(look), np.array(wrong)


def _summarise_scores(per_photo: list[dict], truth, coarse) -> dict:
    gen, look, wrong = _split_pairs(per_photo, truth, coarse)
    hits = sum(1 for s, t in zip(per_photo, truth)
               if max((c for c in s if s[c] is not None), key=s.get, default=None) == t)
    return summarise(gen, look, wrong, hits, len(truth))


def _summarise_config(results: list[dict], truth, coarse, score: str, with_verdicts: bool = False) -> dict:
    """Metrics of one score ("match", "item" or "variant") over every pair; rank-1 from the fused score.

    The variant check compares a photo with sibling colours only, so it ranks
    nothing: its rank-1 is None (not the fused score's, which it would repeat).
    """
    out = _summarise_scores([r[score] for r in results], truth, coarse)
    out["rank1"] = None if score == "variant" else round(
        sum(1 for r, t in zip(results, truth) if r["nearest"] == t) / max(1, len(truth)), 4)
    if with_verdicts:
        out["at_shipped_thresholds"] = _verdict_rates(results, truth, coarse)
    return out


def _verdict_rates(results, truth, coarse) -> dict:
    """What the verdict (item and variant checks together) does at the shipped limits."""
    buckets = {"genuine": [], "lookalike": [], "wrong_item": []}
    ran = {k: [] for k in buckets}
    for r, t in zip(results, truth):
        for cid, status in r["verdict"].items():
            kind = "genuine" if cid == t else ("lookalike" if coarse[cid] == coarse[t] else "wrong_item")
            buckets[kind].append(status)
            ran[kind].append(bool(r.get("embedding_ran", {}).get(cid, True)))
    out = {}
    for kind, statuses in buckets.items():
        n = max(1, len(statuses))
        out[kind] = {"flag": round(statuses.count("FLAG") / n, 4), "review": round(statuses.count("REVIEW") / n, 4),
                     "pass": round(statuses.count("PASS") / n, 4), "pairs": len(statuses),
                     "embedding_ran": round(sum(ran[kind]) / n, 4)}
    return out


def format_report(report: dict) -> str:
    """The benchmark as a plain-text table."""
    lines = [f"manifest: {report['manifest']}",
             f"photos: {report['n_photos']}, classes: {report['n_classes']}, pairs: "
             + ", ".join(f"{k} {v}" for k, v in report["pairs"].items()),
             f"thresholds: {report['thresholds_version']}", ""]
    head = f"{'method':44s} {'AUC wrong':>9s} {'AUC look':>9s} {'wrong@1%':>9s} {'look@1%':>8s} " \
           f"{'wrong@5%':>9s} {'look@5%':>8s} {'rank-1':>7s}"
    lines.append(head)
    lines.append("-" * len(head))
    for name, m in report["methods"].items():
        lines.append(f"{name:44s} {m['auc_wrong_item']:9.3f} {m['auc_lookalike']:9.3f} "
                     f"{m['flag_rate_wrong_item_at_1pct']:9.3f} {m['flag_rate_lookalike_at_1pct']:8.3f} "
                     f"{m['flag_rate_wrong_item_at_5pct']:9.3f} {m['flag_rate_lookalike_at_5pct']:8.3f} "
                     + (f"{m['rank1']:7.3f}" if m.get("rank1") is not None else f"{'':>7s}"))
    for name, title in (("packcheck verdict (item + variant checks)", "verdict at the shipped thresholds (item + "
                                                                        "variant checks)"),
                        ("verdict, cascade off (embedding always)", "the same with the cascade off")):
        pc = report["methods"].get(name, {})
        if "at_shipped_thresholds" in pc:
            lines.append("")
            lines.append(f"{title}:")
            for kind, r in pc["at_shipped_thresholds"].items():
                lines.append(f"  {kind:11s} FLAG {r['flag']:.3f}  REVIEW {r['review']:.3f}  PASS {r['pass']:.3f}"
                             f"  ({r['pairs']} pairs; embedding ran for {r.get('embedding_ran', 1.0):.1%})")
    s = report["seconds"]
    lines.append("")
    lines.append(f"seconds: {s['total']:.1f} total (index {s['index']:.1f}, photos {s['fingerprint_photos']:.1f}, "
                 f"pairs {s['score_pairs']:.1f}, baseline {s['baseline']:.1f}) on {report['workers']} worker(s)")
    if report["unreadable_photos"]:
        lines.append(f"unreadable photos skipped: {len(report['unreadable_photos'])}")
    return "\n".join(lines)

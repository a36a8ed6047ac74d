"""The calibration report: score histograms, ROC and DET curves, confusion tables, in one HTML file.

Plots are drawn with matplotlib's Agg backend (no display needed), written as
PNGs to ``<report name>_plots/`` and embedded (base64) in the HTML, so the HTML
alone is the whole report.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from ...core.thresholds import STANDARDISED
from .calibrate import SUMMARY_RATES, Calibration, statuses

_COLOURS = {"match": "#2a7f3f", "wrong_variant": "#d98a00", "wrong_item": "#b3262e"}
_NAMES = {"match": "genuine (match)", "wrong_variant": "wrong variant", "wrong_item": "wrong item"}
_AXIS = {
    "item": "item score (fused z units; higher = more like the ordered SKU)",
    "variant": "variant score (colour distance to nearest sibling − to ordered)",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curve(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(limits, genuine flagged, impostors flagged) for every distinct limit (flag = score < limit)."""
    g = np.sort(genuine[np.isfinite(genuine)])
    i = np.sort(impostor[np.isfinite(impostor)])
    limits = np.unique(np.concatenate([g, i, [np.inf]]))
    ff = np.searchsorted(g, limits, side="left") / max(1, len(g))
    caught = np.searchsorted(i, limits, side="left") / max(1, len(i))
    return limits, ff, caught


def _scores(cal: Calibration, check: str) -> np.ndarray:
    return cal.pairs.item if check == "item" else cal.pairs.variant


def _kinds(check: str) -> tuple[str, ...]:
    # The variant check is about sibling variants; against a different product its value means little.
    return ("wrong_variant", "wrong_item") if check == "item" else ("wrong_variant",)


def check_figure(cal: Calibration, check: str):
    """Histogram, ROC and DET of one check, with the chosen limits drawn."""
    plt = _pyplot()
    p = cal.pairs
    s = _scores(cal, check)
    band = cal.item if check == "item" else cal.variant
    g = s[p.genuine & np.isfinite(s)]
    fig, (ax_h, ax_r, ax_d) = plt.subplots(1, 3, figsize=(16, 4.8))
    fitted = check == "item" or cal.fit.variant is not None
    title = f"{check} check: flag_below {band.flag_below:+.3f}, review_below {band.review_below:+.3f}"
    if not fitted:
        title += " (kept from the base thresholds: not calibrated)"
    elif not (cal.fit.item if check == "item" else cal.fit.variant).flags:
        title += " (never flags: its share of the false-flag budget is under one genuine pair)"
    fig.suptitle(title, fontsize=12)

    # --- histogram
    groups = [s[(p.label == k) & np.isfinite(s)] for k in ("match",) + _kinds(check)]
    groups = [v for v in groups if len(v)]
    lo = min((np.percentile(v, 0.5) for v in groups), default=0.0)
    hi = max((np.percentile(v, 99.5) for v in groups), default=1.0)
    # A limit that never fires lies below every score: say so instead of stretching the axis to it.
    cf = cal.fit.item if check == "item" else cal.fit.variant
    never_flags = cf is not None and not cf.flags
    never_reviews = cf is not None and not cf.reviews and never_flags
    if not never_flags:
        lo = min(lo, band.flag_below)
    hi = max(hi, band.review_below)
    pad = 0.05 * (hi - lo or 1.0)
    bins = np.linspace(lo - pad, hi + pad, 45)
    for kind in ("match",) + _kinds(check):
        v = s[(p.label == kind) & np.isfinite(s)]
        if len(v):
            ax_h.hist(np.clip(v, bins[0], bins[-1]), bins=bins, density=True, histtype="stepfilled", alpha=0.35,
                      color=_COLOURS[kind], edgecolor=_COLOURS[kind], label=f"{_NAMES[kind]} (n={len(v)})")
    if not never_flags:
        ax_h.axvspan(bins[0], band.flag_below, color="#b3262e", alpha=0.07)
        ax_h.axvline(band.flag_below, color="#b3262e", lw=2, label=f"flag_below {band.flag_below:+.3f}")
    if not never_reviews:
        ax_h.axvspan(max(bins[0], band.flag_below), band.review_below, color="#d98a00", alpha=0.10)
        ax_h.axvline(band.review_below, color="#d98a00", lw=2, ls="--",
                     label=f"review_below {band.review_below:+.3f}")
    ax_h.set_xlim(bins[0], bins[-1])
    ax_h.set_xlabel(_AXIS[check])
    ax_h.set_ylabel("density (each group sums to 1)")
    ax_h.set_title("scores: FLAG left of the red line, REVIEW in the amber band\n"
                   "(the outermost 0.5% of each group drawn in the end bins)", fontsize=9)
    ax_h.legend(fontsize=7.5, loc="upper left", framealpha=0.85)

    # --- ROC and DET
    target = cal.fit.target
    for kind in _kinds(check):
        imp = s[(p.label == kind) & np.isfinite(s)]
        if not len(imp) or not len(g):
            continue
        limits, ff, caught = curve(g, imp)
        ax_r.plot(ff, caught, color=_COLOURS[kind], lw=1.8, drawstyle="steps-post", label=_NAMES[kind])
        # Log axes cannot show 0: rates of 0 are drawn at half of one pair.
        fx, fy = 0.5 / len(g), 0.5 / len(imp)
        ax_d.plot(np.clip(ff, fx, 1), np.clip(1 - caught, fy, 1), color=_COLOURS[kind], lw=1.8,
                  drawstyle="steps-post", label=_NAMES[kind])
        for lim, marker, name in ((band.flag_below, "o", "flag_below"), (band.review_below, "s", "review_below")):
            x = float((g < lim).mean())
            y = float((imp < lim).mean())
            ax_r.plot([x], [y], marker=marker, color=_COLOURS[kind], mec="black", ms=8, ls="none")
            ax_d.plot([max(x, fx)], [max(1 - y, fy)], marker=marker, color=_COLOURS[kind], mec="black",
                      ms=8, ls="none")
    for ax in (ax_r, ax_d):
        ax.axvline(target, color="grey", ls=":", lw=1.5, label=f"target {target:g}")
        ax.plot([], [], marker="o", color="white", mec="black", ls="none", label="at flag_below")
        ax.plot([], [], marker="s", color="white", mec="black", ls="none", label="at review_below (REVIEW or FLAG)")
    ax_r.set_xlim(0, 1)
    ax_r.set_ylim(0, 1.01)
    ax_r.set_xlabel("genuine pairs flagged (false-flag rate)")
    ax_r.set_ylabel("impostor pairs flagged (caught)")
    ax_r.set_title("ROC", fontsize=10)
    ax_r.grid(alpha=0.3)
    ax_r.legend(fontsize=8, loc="lower right")
    ax_d.set_xscale("log")
    ax_d.set_yscale("log")
    ax_d.set_xlim(left=min(0.5 / max(1, len(g)), target / 2) / 1.6, right=1.1)
    ax_d.set_xlabel("genuine pairs flagged (false-flag rate, log)")
    ax_d.set_ylabel("impostor pairs not flagged (miss rate, log)")
    ax_d.set_title("DET (lower left is better; zeros drawn at the floor)", fontsize=10)
    ax_d.grid(alpha=0.3, which="both")
    ax_d.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def cv_figure(cal: Calibration):
    """Held-out false-flag and catch rates of each cross-validation fold, against the target."""
    plt = _pyplot()
    cv = cal.cv
    fig, (ax_f, ax_c) = plt.subplots(1, 2, figsize=(12, 4.2))
    x = np.arange(cv.folds)
    labels = [f"fold {k + 1}" for k in x]

    def col(key):
        return np.array([r[key] if r[key] is not None else np.nan for r in cv.per_fold])

    ff = col("genuine.verdict.flag")
    ax_f.bar(x, ff, 0.6, color="#2a7f3f", label="held-out genuine pairs flagged")
    ax_f.axhline(cal.fit.target, color="black", ls=":", label=f"target {cal.fit.target:g}")
    pooled = cv.pooled["genuine.verdict.flag"]
    if pooled is not None:
        ax_f.axhline(pooled, color="#2a7f3f", ls="--", label=f"all folds pooled {pooled:.3f}")
    top = max(2.5 * cal.fit.target, float(np.nanmax(ff)) * 1.2 if np.isfinite(ff).any() else 0.0)
    ax_f.set_ylim(0, top)
    ax_f.set_xticks(x, labels)
    ax_f.set_ylabel("false-flag rate (held out)")
    ax_f.set_title("false flags on photos the limits never saw", fontsize=10)
    ax_f.legend(fontsize=8, loc="upper right")
    w = 0.38
    for j, (key, name, colour) in enumerate((("wrong_variant.verdict.flag", "wrong variant flagged", "#d98a00"),
                                             ("wrong_item.verdict.flag", "wrong item flagged", "#b3262e"))):
        ax_c.bar(x + (j - 0.5) * w, col(key), w, color=colour, label=name)
    ax_c.set_ylim(0, 1.18)
    ax_c.set_xticks(x, labels)
    ax_c.set_ylabel("share of held-out impostor pairs flagged")
    ax_c.set_title("impostors caught on the held-out fold", fontsize=10)
    ax_c.legend(fontsize=8, loc="upper center", ncol=2)
    fig.suptitle(f"{cv.folds}-fold cross-validation grouped by photo: limits fitted on the other "
                 f"{cv.folds - 1} folds", fontsize=11)
    fig.tight_layout()
    return fig


def confusion(cal: Calibration, check: str = "verdict") -> list[tuple[str, int, int, int]]:
    """(truth, PASS, REVIEW, FLAG) counts at the chosen limits, for the verdict or one check."""
    p = cal.pairs
    ist, vst = statuses(p, cal.item, cal.variant)
    st = {"verdict": np.maximum(ist, vst), "item": ist, "variant": vst}[check]
    has = np.isfinite(p.variant) if check == "variant" else np.ones(len(p), bool)
    rows = []
    for kind in ("match", "wrong_variant", "wrong_item"):
        m = (p.label == kind) & has
        rows.append((kind, int((st[m] == 0).sum()), int((st[m] == 1).sum()), int((st[m] == 2).sum())))
    return rows


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    _pyplot().close(fig)
    return buf.getvalue()


def _confusion_html(rows, title: str) -> str:
    out = [f"<h3>{html.escape(title)}</h3><table><tr><th>truth \\ outcome</th><th>PASS</th><th>REVIEW</th>"
           "<th>FLAG</th><th>pairs</th></tr>"]
    for kind, a, r, f in rows:
        n = a + r + f
        cells = "".join(f"<td>{v} <span class=dim>({100 * v / n:.1f}%)</span></td>" if n else "<td>–</td>"
                        for v in (a, r, f))
        out.append(f"<tr><th>{_NAMES[kind]}</th>{cells}<td>{n}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _fmt(x, ci=None) -> str:
    if x is None:
        return "n/a"
    s = f"{100 * x:.2f}%"
    if ci is not None:
        s += f" <span class=dim>[{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]</span>"
    return s


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1250px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.2em}td,th{border:1px solid #ccc;padding:4px 9px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.dim{color:#777;font-size:90%}
.warn{background:#fff3cd;border:1px solid #e0b000;padding:.6em 1em;margin:.5em 0}
img{max-width:100%;border:1px solid #ddd;margin:.4em 0}code{background:#f5f5f5;padding:1px 4px}
"""


def render_html(cal: Calibration, images: dict[str, bytes]) -> str:
    """The report page, with ``images`` (name -> PNG bytes) embedded."""
    e = html.escape
    f = cal.fit
    c = cal.pairs.counts()
    parts = [f"<!doctype html><html><head><meta charset=utf-8><title>packcheck calibration {e(cal.version)}</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>packcheck calibration <code>{e(cal.version)}</code></h1>",
             f"<p>Input <code>{e(str(cal.source))}</code> (SHA-256 <code>{cal.source_sha256}</code>), "
             f"{c['match']} match, {c['wrong_variant']} wrong-variant and {c['wrong_item']} wrong-item pairs from "
             f"{len(np.unique(cal.pairs.photo))} photos. {e(cal.date)}, in {cal.seconds:.0f} s.<br>"
             f"Command: <code>{e(cal.command)}</code></p>"]
    for w in cal.warnings:
        parts.append(f"<div class=warn><b>Warning:</b> {e(w)}</div>")
    parts.append("<h2>Limits</h2><table><tr><th>check</th><th>flag_below</th><th>review_below</th>"
                 "<th>genuine rate allowed (flag / review-or-flag)</th><th>genuine pairs</th></tr>")
    for name, band, cf in (("item", cal.item, f.item), ("variant", cal.variant, f.variant)):
        if cf is None:
            allowed, n = "not calibrated (kept)", "0"
        else:
            allowed = f"{cf.flag_rate:.4g} / {cf.review_rate:.4g}" + ("" if cf.flags else " (never flags)")
            n = str(cf.n_genuine)
        parts.append(f"<tr><td>{name}</td><td>{band.flag_below:+.4f}</td><td>{band.review_below:+.4f}</td>"
                     f"<td>{allowed}</td><td>{n}</td></tr>")
    parts.append("</table>")
    parts.append(f"<p>Target: at most <b>{f.target:g}</b> of genuine pairs FLAGGED by the verdict (any check); "
                 f"REVIEW or FLAG at most {f.review_rate:g}. The item check got {f.item_share:.0%} of the flag budget "
                 f"and {f.item_review_share:.0%} of the review budget, the variant check the rest (the splits that "
                 "flag the most impostors, then let the fewest pass). A limit is the k-th lowest "
                 "genuine score with k = ⌊rate·(n+1)⌋, so a new genuine pair is flagged with probability at most "
                 "the rate.</p>")
    head = "<tr><th>rate</th><th>achieved (in sample) [95% bootstrap CI]</th>"
    if cal.cv is not None:
        head += f"<th>{cal.cv.folds}-fold CV, held out [95% CI]</th>"
    parts.append("<h2>Achieved rates</h2><table>" + head + "</tr>")
    for label, key in SUMMARY_RATES:
        row = f"<tr><td>{e(label.strip())}</td><td>{_fmt(cal.achieved[key], cal.ci.get(key))}</td>"
        if cal.cv is not None:
            row += f"<td>{_fmt(cal.cv.pooled[key], cal.cv.ci.get(key))}</td>"
        parts.append(row + "</tr>")
    parts.append("</table><p class=dim>Intervals: percentile bootstrap over photos (a photo's pairs are resampled "
                 "together). In-sample rates are measured on the pairs the limits were fitted to; the "
                 "cross-validated ones on photos the limits never saw, and are the ones to expect on new photos.</p>")
    parts.append("<h2>Confusion at the chosen limits</h2>")
    parts.append(_confusion_html(confusion(cal, "verdict"), "verdict (FLAG if any check flags)"))
    parts.append(_confusion_html(confusion(cal, "item"), "item check"))
    if np.isfinite(cal.pairs.variant).any():
        parts.append(_confusion_html(confusion(cal, "variant"), "variant check (pairs whose SKU has siblings)"))
    parts.append("<h2>Plots</h2>")
    for name, png in images.items():
        parts.append(f"<h3>{e(name)}</h3><img alt='{e(name)}' src='data:image/png;base64,"
                     f"{base64.b64encode(png).decode()}'>")
    if cal.cv is not None:
        parts.append("<h2>Cross-validation folds</h2><table><tr><th>fold</th><th>item flag / review</th>"
                     "<th>variant flag / review</th><th>false flags</th><th>wrong variant flagged</th>"
                     "<th>wrong item flagged</th></tr>")
        for k, (lim, r) in enumerate(zip(cal.cv.limits, cal.cv.per_fold), 1):
            var = "–" if lim[2] is None else f"{lim[2]:+.3f} / {lim[3]:+.3f}"
            parts.append(f"<tr><td>{k}</td><td>{lim[0]:+.3f} / {lim[1]:+.3f}</td><td>{var}</td>"
                         f"<td>{_fmt(r['genuine.verdict.flag'])}</td><td>{_fmt(r['wrong_variant.verdict.flag'])}</td>"
                         f"<td>{_fmt(r['wrong_item.verdict.flag'])}</td></tr>")
        parts.append("</table>")
    n = cal.normalisation
    b = cal.base.normalisation
    fu = cal.base.fusion
    parts.append("<h2>Fusion</h2><table><tr><th>feature</th><th>log-odds per unit</th></tr>")
    for f, w in fu.weights.items():
        parts.append(f"<tr><td>{f}</td><td>{w:+.4f}</td></tr>")
    parts.append(f"<tr><td>intercept</td><td>{fu.intercept:+.4f}</td></tr></table><p class=dim>Logistic "
                 "regression of 'this row shows the photographed product' on each row's features (appearance "
                 "signals as cohort z-scores, keypoints as log1p(inliers), geometry as dominance over the best "
                 f"other SKU's inliers). Variant score: colour position x {cal.base.variant_colour_weight:+.3f} "
                 f"+ lead x {cal.base.variant_lead_weight:+.3f}.</p>")
    parts.append("<h2>Normalisation</h2><table><tr><th>signal</th><th>mean</th><th>std</th><th>base mean</th>"
                 "<th>base std</th></tr>")
    for kind in ("", "reference_"):
        for s in STANDARDISED:
            k = kind + s
            parts.append(f"<tr><td>{k}</td><td>{n[f'{k}_mean']:.4f}</td><td>{n[f'{k}_std']:.4f}</td>"
                         f"<td>{b[f'{k}_mean']:.4f}</td><td>{b[f'{k}_std']:.4f}</td></tr>")
    parts.append("</table><p class=dim>The typical photo's cohort statistics (mean over photos of the mean, root "
                 "of the mean variance, of each appearance signal against every listing image, or every "
                 "reference photo for the reference_ rows). They stand in for the cohort when a catalogue has "
                 f"fewer than {int(n['min_cohort'])} rows of a kind.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(cal: Calibration, path: str | Path) -> Path:
    """Write the HTML report and its PNGs (``<stem>_plots/``); returns the HTML path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plots = path.with_name(path.stem + "_plots")
    plots.mkdir(exist_ok=True)
    images = {"item check: scores, ROC, DET": ("item.png", _png(check_figure(cal, "item")))}
    if np.isfinite(cal.pairs.variant).any():
        images["variant check: scores, ROC, DET"] = ("variant.png", _png(check_figure(cal, "variant")))
    if cal.cv is not None:
        images["cross-validation"] = ("cross_validation.png", _png(cv_figure(cal)))
    for file, png in images.values():
        (plots / file).write_bytes(png)
    path.write_text(render_html(cal, {k: v[1] for k, v in images.items()}), encoding="utf-8")
    return path

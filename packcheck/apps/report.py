"""The audit's HTML report: one self-contained file that people can act on.

Flagged orders come first, then those needing review, then those that could not
be checked, each as a card: the packing photo beside the ordered listing image
(and beside the other SKU it looks like, or the sibling variant whose colour it
has), the reasons in plain words, every score against its limits, and swatches
of the ordered and the found colour. Passed orders follow as a compact table.
Filters by status, reason and SKU are a few lines of plain JavaScript; summary
tables count orders per SKU and per station.

The file needs nothing else: images are small JPEG thumbnails embedded as
``data:`` URIs, styles and script are inline. Every text from the data (titles
come from a shop export and may hold markup) is HTML-escaped, and a Content
Security Policy lets only the report's own script run, so markup that slipped
through could still not execute.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Iterable, Iterator, TextIO

import cv2

from ..core.colour import lab_to_rgb
from ..core.imaging import load_image
from ..core.records import Catalogue
from ..errors import PackcheckError

#: Cards beyond this many are listed without thumbnails (keeps the file small for a bad night).
MAX_CARDS_WITH_IMAGES = 400
#: Passed orders listed in the table; the CSV has them all.
MAX_PASS_ROWS = 5000
#: Long side of a thumbnail, in pixels, and its JPEG quality.
THUMB_PX = 220
THUMB_QUALITY = 70
_ATTENTION = ("FLAG", "REVIEW", "ERROR")

Rows = Callable[[str], Iterable[tuple[dict, dict]]]


def esc(value) -> str:
    """Text for HTML, quotes included (safe in attributes too)."""
    return html.escape("" if value is None else str(value), quote=True)


class Thumbnails:
    """Small JPEG data URIs, the listing images' cached (they recur across orders)."""

    def __init__(self, root: Path, *, cache_size: int = 2000):
        self.root = Path(root)
        self._cache: OrderedDict[str, tuple[str | None, str]] = OrderedDict()
        self._size = cache_size

    def of(self, rel: str, *, sha256: str | None = None, cache: bool = False) -> tuple[str | None, str]:
        """(data URI or None, note): the note says why there is no image, or that the file changed."""
        if cache and rel in self._cache:
            self._cache.move_to_end(rel)
            return self._cache[rel]
        path = Path(rel) if Path(rel).is_absolute() else self.root / rel
        try:
            image = load_image(path, work_side=THUMB_PX)
        except PackcheckError as e:
            result = (None, str(e))
        else:
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image.rgb, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
            note = "" if not sha256 or image.sha256 == sha256 else "the file has changed since it was checked"
            result = ("data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii"), note)
        if cache:
            self._cache[rel] = result
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return result


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 3em;color:#222;background:#fafafa}
h1{margin:.6em 0 .2em}h2{margin:1.4em 0 .4em;border-bottom:1px solid #ccc}
.badge{display:inline-block;padding:1px 8px;border-radius:4px;color:#fff;font-weight:700;font-size:12px}
.FLAG{background:#c62828}.REVIEW{background:#b26a00}.ERROR{background:#6a1b9a}.PASS{background:#2e7d32}
.filters{position:sticky;top:0;background:#fafafa;padding:.5em 0;border-bottom:1px solid #ddd;z-index:1}
.filters label{margin-right:1em}
.card{background:#fff;border:1px solid #ddd;border-left:6px solid #999;border-radius:4px;margin:.8em 0;
  padding:.6em .9em}
.card.FLAG{border-left-color:#c62828;background:#fff}.card.REVIEW{border-left-color:#b26a00;background:#fff}
.card.ERROR{border-left-color:#6a1b9a;background:#fff}
.card header{font-size:15px}.msg{margin:.3em 0;font-weight:600}
.imgs{display:flex;gap:12px;flex-wrap:wrap;margin:.4em 0}
figure{margin:0;max-width:240px}figure img{max-width:220px;max-height:220px;border:1px solid #ccc;display:block}
figcaption{font-size:12px;color:#555}.noimg{width:220px;height:60px;border:1px dashed #bbb;font-size:12px;padding:4px}
table{border-collapse:collapse;margin:.3em 0}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.sw{display:inline-block;width:28px;height:18px;border:1px solid #888;vertical-align:middle;margin:0 4px 0 10px}
.note{color:#a00;font-size:12px}[hidden]{display:none!important}
.copy{color:#fff;background:#c62828;padding:3px 8px;border-radius:3px}
"""

_JS = """
(function(){
  var st=document.getElementById('f-status'), rs=document.getElementById('f-reason'),
      sk=document.getElementById('f-sku'), n=document.getElementById('f-count');
  var items=document.querySelectorAll('[data-status]');
  function apply(){
    var s=st.value, r=rs.value, k=sk.value.trim().toLowerCase(), shown=0;
    for(var i=0;i<items.length;i++){
      var el=items[i], skus=JSON.parse(el.getAttribute('data-skus'));
      var ok=(!s||el.getAttribute('data-status')===s)
        &&(!r||el.getAttribute('data-reasons').split(' ').indexOf(r)>=0)
        &&(!k||skus.some(function(x){return x.toLowerCase().indexOf(k)>=0;}));
      el.hidden=!ok; if(ok) shown++;
    }
    n.textContent=shown+' of '+items.length+' orders shown';
  }
  st.addEventListener('change',apply); rs.addEventListener('change',apply); sk.addEventListener('input',apply);
  apply();
})();
"""


def _head(title: str) -> str:
    digest = base64.b64encode(hashlib.sha256(_JS.encode()).digest()).decode()
    csp = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>{_CSS}</style></head>\n<body>\n")


def _swatch(lab) -> str:
    r, g, b = lab_to_rgb(lab)
    return f'<span class="sw" style="background:rgb({r},{g},{b})" title="Lab {esc(tuple(lab))}"></span>'


def _fmt(v, *, count: bool = False) -> str:
    if v is None:
        return ""
    if count:
        return f"{v:.0f}"
    return f"{v:+.3f}" if isinstance(v, float) else esc(v)


class _Cards:
    """Renders the order cards; knows the catalogue (titles, listing images) and the thumbnails."""

    def __init__(self, catalogue: Catalogue, thumbs: Thumbnails, reason_text: Callable[[str], str]):
        self.catalogue, self.thumbs, self.reason_text = catalogue, thumbs, reason_text
        self.with_images = 0

    def label(self, sku: str) -> str:
        item = self.catalogue.items.get(sku)
        return f"{sku} {item.label}" if item else sku

    def listing_of(self, sku: str | None) -> str | None:
        item = self.catalogue.items.get(sku or "")
        return str(item.listing_images[0]) if item and item.listing_images else None

    def _figure(self, rel: str | None, caption: str, *, sha256: str | None = None, listing: bool = False) -> str:
        if not rel:
            return ""
        uri, note = self.thumbs.of(rel, sha256=sha256, cache=listing)
        img = (f'<img src="{esc(uri)}" alt="{esc(caption)}">' if uri
               else f'<div class="noimg">no image: {esc(note)}</div>')
        note_html = f'<div class="note">{esc(note)}</div>' if uri and note else ""
        return f"<figure>{img}<figcaption>{esc(caption)}</figcaption>{note_html}</figure>"

    def figures(self, row: dict, extra: dict) -> str:
        skus = [s for s in row["skus"].split(";") if s]
        ordered = extra.get("item_sku") or (skus[0] if skus else None)
        photo = row["photo"].split(";")[0] if row["photo"] else None
        shas = row["photo_sha256"].split(";") if row["photo_sha256"] else []
        parts = [self._figure(photo, f"packing photo ({photo})", sha256=shas[0] if shas else None)]
        listing = extra.get("listing_image") or self.listing_of(ordered)
        if ordered:
            parts.append(self._figure(listing, f"ordered: {self.label(ordered)}", listing=True))
        if extra.get("looks_like") and extra.get("nearest_image"):
            parts.append(self._figure(extra["nearest_image"], f"looks like: {self.label(row['nearest_sku'])}",
                                      listing=True))
        elif extra.get("nearest_sibling") and any(
                c["check"] == "variant" and c["status"] != "PASS" for c in extra.get("checks", [])):
            sib = extra["nearest_sibling"]
            parts.append(self._figure(self.listing_of(sib), f"colour closer to: {self.label(sib)}", listing=True))
        return '<div class="imgs">' + "".join(parts) + "</div>"

    def card(self, n: int, row: dict, extra: dict) -> str:
        status = row["status"]
        reasons = [r for r in row["reasons"].split(";") if r]
        skus = [s for s in row["skus"].split(";") if s]
        out = [f'<article class="card {esc(status)}" id="order-{n}" data-status="{esc(status)}" '
               f'data-reasons="{esc(" ".join(reasons))}" data-skus="{esc(json.dumps(skus))}">',
               f'<header><span class="badge {esc(status)}">{esc(status)}</span> order '
               f'<b class="oid">{esc(row["order_id"]) or "(no order id)"}</b>'
               f' &middot; {esc(", ".join(self.label(s) for s in skus) or "no valid SKU")}'
               + (f' &middot; station {esc(row["station"])}' if row["station"] else "")
               + f' &middot; orders.csv row {esc(row["first_row"])}</header>',
               f'<p class="msg">{esc(row["message"])}</p>']
        for c in extra.get("checks", []):  # a copied photo is said first, in its own words
            if c.get("reason") in ("photo_is_listing", "photo_reused"):
                what = "PHOTO IS A LISTING IMAGE" if c["reason"] == "photo_is_listing" else "PHOTO REUSED"
                out.append(f'<p class="copy"><b>{what}</b>: {esc(c["message"])}</p>')
        if reasons:
            out.append("<ul>" + "".join(f"<li><code>{esc(r)}</code>: {esc(self.reason_text(r))}</li>"
                                        for r in reasons) + "</ul>")
        if self.with_images < MAX_CARDS_WITH_IMAGES:
            self.with_images += 1
            out.append(self.figures(row, extra))
        checks = extra.get("checks", [])
        if checks:
            out.append("<table><tr><th>check</th><th>SKU</th><th>status</th><th>score</th><th>review below</th>"
                       "<th>flag below</th><th>what it means</th></tr>")
            for c in checks:
                out.append(f'<tr><td>{esc(c["check"])}</td><td>{esc(c["sku"] or "")}</td>'
                           f'<td><span class="badge {esc(c["status"])}">{esc(c["status"])}</span></td>'
                           f'<td class="num">{_fmt(c["value"], count=c["check"] == "count")}</td>'
                           f'<td class="num">{_fmt(c["review_below"])}</td>'
                           f'<td class="num">{_fmt(c["flag_below"])}</td><td>{esc(c["message"])}</td></tr>')
            out.append("</table>")
        if extra.get("ordered_lab") and extra.get("found_lab"):
            sib = extra.get("nearest_sibling")
            out.append("<p>colour: ordered" + _swatch(extra["ordered_lab"]) + " found" + _swatch(extra["found_lab"])
                       + (f" nearest sibling {esc(sib)}" + _swatch(extra["sibling_lab"])
                          if sib and extra.get("sibling_lab") else "") + "</p>")
        out.append(f'<p>components: expected {esc(row["expected_components"] or "-")}; '
                   f'packed {esc(row["packed_components"] or "-")}</p>')
        out.append("</article>\n")
        return "".join(out)


def _counts_table(title: str, key: str, table, label: Callable[[str], str]) -> str:
    """A :func:`~packcheck.apps.audit.frame.summary_by` table as HTML, orders needing a person first."""
    rows = table[["PASS", "REVIEW", "FLAG", "ERROR"]].to_dict("index")

    def attention(counts):
        return counts.get("FLAG", 0) + counts.get("REVIEW", 0) + counts.get("ERROR", 0)

    out = [f"<h2>{esc(title)}</h2><table><tr><th>{esc(key)}</th><th>orders</th>"
           + "".join(f'<th><span class="badge {s}">{s}</span></th>' for s in ("PASS", "REVIEW", "FLAG", "ERROR"))
           + "<th>not passed</th></tr>"]
    for name, counts in sorted(rows.items(), key=lambda kv: (-attention(kv[1]), kv[0])):
        total = sum(counts.values())
        out.append(f"<tr><td>{esc(label(name))}</td><td class=num>{total}</td>"
                   + "".join(f"<td class=num>{counts.get(s, 0)}</td>" for s in ("PASS", "REVIEW", "FLAG", "ERROR"))
                   + f"<td class=num>{100 * attention(counts) / max(1, total):.0f}%</td></tr>")
    out.append("</table>\n")
    return "".join(out)


def render(rows: Rows, *, summary, catalogue: Catalogue, root: Path,
           reason_text: Callable[[str], str]) -> Iterator[str]:
    """The report as a stream of HTML fragments.

    ``rows(status)`` yields the (row, extra) pairs of the orders with that status,
    in input order; ``summary`` is the :class:`~packcheck.apps.audit.run.AuditSummary`.
    """
    s = summary
    yield _head(f"packcheck audit: {s.statuses.get('FLAG', 0)} flagged of {s.orders} orders")
    yield (f"<h1>packcheck audit</h1><p>{s.orders} orders from <code>{esc(root)}</code>, "
           f"report written {esc(time.strftime('%Y-%m-%d %H:%M:%S %Z'))}, "
           f"{s.wall_seconds:.0f} s on {s.workers} worker(s) ({esc(s.engine)} engine).</p>")
    yield "<p>" + " ".join(f'<span class="badge {st}">{st} {s.statuses.get(st, 0)}</span>'
                           for st in ("FLAG", "REVIEW", "ERROR", "PASS")) + "</p>"
    if s.reasons:
        yield ("<table><tr><th>reason</th><th>orders</th><th>meaning</th></tr>"
               + "".join(f"<tr><td><code>{esc(r)}</code></td><td class=num>{n}</td><td>{esc(reason_text(r))}</td></tr>"
                         for r, n in s.reasons.items()) + "</table>")
    slow = s.slowest_stage
    if slow:
        yield f"<p>slowest stage: {esc(slow[0])} ({100 * slow[1]:.0f}% of the check time)</p>"
    yield ('<div class="filters"><label>status <select id="f-status"><option value="">all</option>'
           + "".join(f'<option value="{st}">{st}</option>' for st in ("FLAG", "REVIEW", "ERROR", "PASS"))
           + '</select></label><label>reason <select id="f-reason"><option value="">all</option>'
           + "".join(f'<option value="{esc(r)}">{esc(r)}</option>' for r in s.reasons)
           + '</select></label><label>SKU <input id="f-sku" list="skus" placeholder="part of a SKU"></label>'
           + '<datalist id="skus">' + "".join(f'<option value="{esc(k)}">' for k in list(s.per_sku.index)[:5000])
           + '</datalist> <span id="f-count"></span></div>\n')
    cards = _Cards(catalogue, Thumbnails(root), reason_text)
    n = 0
    yield "<h2>Orders that need a person</h2>\n"
    for status in _ATTENTION:
        for row, extra in rows(status):
            n += 1
            yield cards.card(n, row, extra)
    if n == 0:
        yield "<p>None: every order passed.</p>"
    elif n > MAX_CARDS_WITH_IMAGES:
        yield f"<p>Only the first {MAX_CARDS_WITH_IMAGES} cards have thumbnails, to keep this file small.</p>"
    yield ("<h2>Passed orders</h2><table><tr><th>order</th><th>SKUs</th><th>station</th><th>item score</th>"
           "<th>photo</th><th>result</th></tr>\n")
    shown = 0
    for row, _ in rows("PASS"):
        if shown == MAX_PASS_ROWS:
            break
        shown += 1
        skus = [x for x in row["skus"].split(";") if x]
        yield (f'<tr data-status="PASS" data-reasons="" data-skus="{esc(json.dumps(skus))}">'
               f'<td>{esc(row["order_id"])}</td><td>{esc(", ".join(skus))}</td><td>{esc(row["station"])}</td>'
               f'<td class=num>{esc(row["item_score"])}</td><td>{esc(row["photo"])}</td>'
               f'<td>{esc(row["message"])}</td></tr>\n')
    yield "</table>"
    if s.statuses.get("PASS", 0) > shown:
        yield f"<p>{s.statuses['PASS'] - shown} more passed orders are in the CSV.</p>"
    yield _counts_table("Per SKU", "SKU", s.per_sku, cards.label)
    if len(s.per_station):
        yield _counts_table("Per station", "station", s.per_station, str)
    yield f"<script>{_JS}</script>\n</body></html>\n"


def write_report(f: TextIO, *, rows: Rows, summary, catalogue: Catalogue, root: Path,
                 reason_text: Callable[[str], str]) -> None:
    """Write the report to an open text file, fragment by fragment."""
    for part in render(rows, summary=summary, catalogue=catalogue, root=root, reason_text=reason_text):
        f.write(part)

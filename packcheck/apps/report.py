"""The audit's HTML report: one self-contained file that people can act on.

Flagged orders come first, then those needing review, then those that could not
be checked, each as a card: the packing photo beside the ordered listing image
(and beside the other SKU it looks like, or the sibling variant whose colour it
has), the reasons in plain words, every score against both its limits, and
swatches of the ordered and the found colour (CIE L*a*b*). A photo enlarges on
click; a dark one is also shown brightened for the reviewer (the original stays
beside it). Passed orders follow as a compact table with thumbnails. Filters by
status, reason and SKU are a few lines of plain JavaScript: a filter that matches
nothing says so, and the per-SKU and per-station tables (orders without a station
included) count the orders the filters show.

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

import numpy as np

from ..core.colour import lab_to_rgb
from ..core.imaging import load_image
from ..core.records import Catalogue
from ..errors import PackcheckError
from .present import check_label, lab_text, override_text, public_paths, status_css, status_hex

#: Cards beyond this many are listed without thumbnails (keeps the file small for a bad night).
MAX_CARDS_WITH_IMAGES = 400
#: Passed orders listed in the table; the CSV has them all.
MAX_PASS_ROWS = 5000
#: Passed orders shown with a thumbnail (the rest of the table has none, to keep the file small).
MAX_PASS_THUMBS = 500
#: Long side of a thumbnail, in pixels, and its JPEG quality.
THUMB_PX = 220
THUMB_QUALITY = 70
#: Long side of a packing photo as embedded (shown at THUMB_PX, at this size when clicked).
ZOOM_PX = 800
#: A photo darker than this mean luma (0-255) is also shown brightened, for the reviewer only: what
#: is judged, and kept, is the original. (A display choice; the quality check's limit is in the
#: thresholds file.)
DARK_LUMA = 60.0
#: The mean luma a dark photo is brightened to.
BRIGHTENED_LUMA = 115.0
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

    def of(self, rel: str, *, sha256: str | None = None, cache: bool = False,
           side: int = THUMB_PX) -> tuple[str | None, str, str | None]:
        """(data URI or None, note, brightened data URI or None): the note says why there is no image, or
        that the file changed; the brightened copy is made for a photo darker than :data:`DARK_LUMA`."""
        if cache and rel in self._cache:
            self._cache.move_to_end(rel)
            return self._cache[rel]
        path = Path(rel) if Path(rel).is_absolute() else self.root / rel
        try:
            image = load_image(path, work_side=side)
        except PackcheckError as e:
            result = (None, str(e), None)
        else:
            note = "" if not sha256 or image.sha256 == sha256 else "the file has changed since it was checked"
            luma = float(cv2.cvtColor(image.rgb, cv2.COLOR_RGB2GRAY).mean())
            bright = _data_uri(brightened(image.rgb, luma)) if luma < DARK_LUMA and not cache else None
            result = (_data_uri(image.rgb), note, bright)
        if cache:
            self._cache[rel] = result
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return result


def _data_uri(rgb: np.ndarray) -> str:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def brightened(rgb: np.ndarray, luma: float) -> np.ndarray:
    """A dark photo made viewable: lightness scaled up to :data:`BRIGHTENED_LUMA` (hue kept), then CLAHE
    on the lightness, so what the camera barely caught can be seen. For people only; never judged."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    gain = min(12.0, BRIGHTENED_LUMA / max(luma, 1.0))
    lab[..., 0] = np.clip(lab[..., 0].astype(np.float32) * gain, 0, 255).astype(np.uint8)
    lab[..., 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(lab[..., 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 3em;color:#222;background:#fafafa}
h1{margin:.6em 0 .2em}h2{margin:1.4em 0 .4em;border-bottom:1px solid #ccc}
.badge{display:inline-block;padding:1px 8px;border-radius:4px;color:#fff;font-weight:700;font-size:12px}
""" + status_css(".badge.{s}") + """
.badge.unjudged{background:#eee;color:#555}
.filters{position:sticky;top:0;background:#fafafa;padding:.5em 0;border-bottom:1px solid #ddd;z-index:1}
.filters label{margin-right:1em}
.card{background:#fff;border:1px solid #ddd;border-left:6px solid #999;border-radius:4px;margin:.8em 0;
  padding:.6em .9em;overflow-wrap:break-word;min-width:0;max-width:100%;box-sizing:border-box}
.card .msg,.card header,.card li,figcaption,.noimg{overflow-wrap:anywhere}
""" + "".join(f".card.{s}{{border-left-color:{status_hex(s)}}}" for s in ("FLAG", "REVIEW", "ERROR")) + """

.card header{font-size:15px}.msg{margin:.3em 0;font-weight:600}
.imgs{display:flex;gap:12px;flex-wrap:wrap;margin:.4em 0}
figure{margin:0;max-width:240px}figure img{max-width:220px;max-height:220px;border:1px solid #ccc;display:block}
img.zoom{cursor:zoom-in}td img{max-width:80px;max-height:80px;display:block}
#zoom{position:fixed;inset:0;background:rgba(0,0,0,.85);z-index:9;display:flex;align-items:center;
  justify-content:center;cursor:zoom-out}
#zoom img{max-width:95vw;max-height:95vh;background:#fff}
figcaption{font-size:12px;color:#555}.noimg{width:220px;min-height:60px;border:1px dashed #bbb;font-size:12px;padding:4px;
  box-sizing:border-box;max-width:100%}
table{border-collapse:collapse;margin:.3em 0;display:block;overflow-x:auto;max-width:100%}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.sw{display:inline-block;width:28px;height:18px;border:1px solid #888;vertical-align:middle;margin:0 4px 0 10px}
.note{color:#a00;font-size:12px}[hidden]{display:none!important}
.copy{color:#fff;background:#c62828;padding:3px 8px;border-radius:3px}
.override{margin:.3em 0;padding:2px 6px;border-left:4px solid #c60}.override.unsafe{border-left-color:#a00;
  font-weight:700;color:#a00}
"""

_JS = """
(function(){
  var st=document.getElementById('f-status'), rs=document.getElementById('f-reason'),
      sk=document.getElementById('f-sku'), n=document.getElementById('f-count'),
      none=document.getElementById('f-none'), partial=document.getElementById('f-partial');
  var items=document.querySelectorAll('[data-status]');
  var sections=document.querySelectorAll('section[data-section]');
  var tables=document.querySelectorAll('table[data-counts]');
  var STATUSES=['PASS','REVIEW','FLAG','ERROR'], saved=[], labels=[];
  for(var t=0;t<tables.length;t++){
    var body=tables[t].tBodies[0], names={};
    saved.push(body.cloneNode(true));
    for(var i=0;i<body.rows.length;i++){
      var row=body.rows[i]; names[row.getAttribute('data-name')]=row.cells[0].textContent;
    }
    labels.push(names);
  }
  function td(text, num){
    var c=document.createElement('td'); c.textContent=text; if(num) c.className='num'; return c;
  }
  function recount(active){
    for(var t=0;t<tables.length;t++){
      var table=tables[t], key=table.getAttribute('data-counts');
      if(!active){ table.replaceChild(saved[t].cloneNode(true), table.tBodies[0]); continue; }
      var counts={}, order=[];
      for(var i=0;i<items.length;i++){
        var el=items[i]; if(el.hidden) continue;
        var names=key==='sku' ? JSON.parse(el.getAttribute('data-skus')) : [el.getAttribute('data-station')||''];
        var seen={};
        for(var j=0;j<names.length;j++){
          var name=names[j]; if(seen[name]) continue; seen[name]=1;
          if(!counts[name]){ counts[name]={PASS:0,REVIEW:0,FLAG:0,ERROR:0}; order.push(name); }
          counts[name][el.getAttribute('data-status')]++;
        }
      }
      var att=function(c){ return c.FLAG+c.REVIEW+c.ERROR; };
      order.sort(function(a,b){ return (att(counts[b])-att(counts[a])) || (a<b?-1:a>b?1:0); });
      var body=document.createElement('tbody');
      for(var k=0;k<order.length;k++){
        var c=counts[order[k]], total=c.PASS+c.REVIEW+c.FLAG+c.ERROR, tr=document.createElement('tr');
        tr.setAttribute('data-name', order[k]);
        tr.appendChild(td(labels[t][order[k]] || order[k] || '(no station)'));
        tr.appendChild(td(String(total), true));
        for(var s=0;s<STATUSES.length;s++) tr.appendChild(td(String(c[STATUSES[s]]), true));
        tr.appendChild(td(Math.round(100*att(c)/Math.max(1,total))+'%', true));
        body.appendChild(tr);
      }
      if(!order.length){ var tr=document.createElement('tr'), c=td('no orders match'); c.colSpan=7;
        tr.appendChild(c); body.appendChild(tr); }
      table.replaceChild(body, table.tBodies[0]);
    }
  }
  function apply(){
    var s=st.value, r=rs.value, k=sk.value.trim().toLowerCase(), shown=0, active=!!(s||r||k);
    for(var i=0;i<items.length;i++){
      var el=items[i], skus=JSON.parse(el.getAttribute('data-skus'));
      var ok=(!s||el.getAttribute('data-status')===s)
        &&(!r||el.getAttribute('data-reasons').split(' ').indexOf(r)>=0)
        &&(!k||skus.some(function(x){return x.toLowerCase().indexOf(k)>=0;}));
      el.hidden=!ok; if(ok) shown++;
    }
    for(var j=0;j<sections.length;j++){
      var any=sections[j].querySelector('[data-status]:not([hidden])');
      sections[j].hidden=active && !any;
    }
    none.hidden=!(active && shown===0);
    partial.hidden=!(active && partial.getAttribute('data-partial')==='1');
    n.textContent=shown+' of '+items.length+' orders shown';
    recount(active);
  }
  var zoom=document.getElementById('zoom'), big=zoom.querySelector('img');
  document.addEventListener('click', function(e){
    var el=e.target;
    if(el.tagName==='IMG' && el.classList.contains('zoom')){
      big.setAttribute('src', el.getAttribute('src')); big.setAttribute('alt', el.getAttribute('alt'));
      zoom.hidden=false;
    } else if(!zoom.hidden && zoom.contains(el)){ zoom.hidden=true; }
  });
  document.addEventListener('keydown', function(e){ if(e.key==='Escape') zoom.hidden=true; });
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
    return (f'<span class="sw" style="background:rgb({r},{g},{b})" title="CIE {esc(lab_text(lab))}"></span>'
            f'<small>{esc(lab_text(lab))}</small>')


def _fmt(v, *, check: str = "") -> str:
    if v is None:
        return ""
    if check == "count":
        return f"{v:.0f}"
    if check == "weight":
        return f"{v:+.0f} g"
    return f"{v:+.3f}" if isinstance(v, float) else esc(v)


class _Cards:
    """Renders the order cards; knows the catalogue (titles, listing images) and the thumbnails."""

    def __init__(self, catalogue: Catalogue, thumbs: Thumbnails, reason_text: Callable[[str], str], root: Path,
                 overrides: dict | None = None):
        self.catalogue, self.thumbs, self.reason_text, self.root = catalogue, thumbs, reason_text, root
        self.overrides = overrides or {}
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
        uri, note, bright = self.thumbs.of(rel, sha256=sha256, cache=listing, side=THUMB_PX if listing else ZOOM_PX)
        img = (f'<img class="zoom" src="{esc(uri)}" alt="{esc(caption)}" title="click to enlarge">' if uri
               else f'<div class="noimg">no image: {esc(public_paths(note, self.root))}</div>')
        note_html = f'<div class="note">{esc(note)}</div>' if uri and note else ""
        out = f"<figure>{img}<figcaption>{esc(caption)}</figcaption>{note_html}</figure>"
        if bright:
            out += (f'<figure class="brightened"><img class="zoom" src="{esc(bright)}" alt="{esc(caption)}, brightened" '
                    'title="click to enlarge"><figcaption>the same photo brightened for viewing (too dark to see; '
                    'the original, left, is what was judged)</figcaption></figure>')
        return out

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
               f'data-reasons="{esc(" ".join(reasons))}" data-skus="{esc(json.dumps(skus))}" '
               f'data-station="{esc(row["station"])}">',
               f'<header><span class="badge {esc(status)}">{esc(status)}</span> order '
               f'<b class="oid">{esc(row["order_id"]) or "(no order id)"}</b>'
               f' &middot; {esc(", ".join(self.label(s) for s in skus) or "no valid SKU")}'
               + (f' &middot; station {esc(row["station"])}' if row["station"] else "")
               + f' &middot; orders.csv row {esc(row["first_row"])}</header>',
               f'<p class="msg">{esc(public_paths(row["message"], self.root))}</p>']
        for c in extra.get("checks", []):  # a copied photo is said first, in its own words
            if c.get("reason") in ("photo_is_listing", "photo_reused"):
                what = "PHOTO IS A LISTING IMAGE" if c["reason"] == "photo_is_listing" else "PHOTO REUSED"
                out.append(f'<p class="copy"><b>{what}</b>: {esc(public_paths(c["message"], self.root))}</p>')
        out.append(_override_lines(self.overrides.get(row["order_id"], ())))
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
                label = check_label(c)
                badge = esc(c["status"]) if label == c["status"] else "unjudged"
                limits = c.get("limits", "") if c.get("review_below") is None else ""
                out.append(f'<tr><td>{esc(c["check"])}</td><td>{esc(c["sku"] or "")}</td>'
                           f'<td><span class="badge {badge}">{esc(label)}</span></td>'
                           f'<td class="num">{_fmt(c["value"], check=c["check"])}</td>'
                           f'<td class="num">{_fmt(c["review_below"])}</td>'
                           f'<td class="num">{_fmt(c["flag_below"])}</td>'
                           f'<td>{esc(public_paths(c["message"], self.root))}'
                           + (f' <span class="note">({esc(limits)})</span>' if limits else "") + "</td></tr>")
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


def station_overrides(checks) -> dict[str, list[tuple[str, object]]]:
    """The overrides of recorded station checks (:class:`~packcheck.apps.evidence.store.CheckRecord`),
    by order id, oldest first: ``{order_id: [(status at the station, override record)]}``."""
    out: dict[str, list[tuple[str, object]]] = {}
    for record in checks:
        for o in record.overrides:
            out.setdefault(record.order_id, []).append((record.status.value, o))
    return out


def _unsafe(o) -> bool:
    """An override to look at twice: the box shipped without evidence, or nobody's code was checked."""
    return bool(o.without_evidence or not o.authenticated)


def _override_lines(entries) -> str:
    return "".join(f'<p class="override{" unsafe" if _unsafe(o) else ""}">station: {esc(status)} '
                   f"{esc(override_text(o))}</p>" for status, o in entries)


def _overrides_section(overrides: dict, db_name: str) -> str:
    """Every override the station recorded: who let which box ship, evidence-less and unchecked ones marked."""
    entries = [(oid, status, o) for oid, found in overrides.items() for status, o in found]
    without = sum(o.without_evidence for _, _, o in entries)
    unchecked = sum(not o.authenticated for _, _, o in entries)
    out = [f"<h2>Shipped at the station by override</h2><p>{len(entries)} override(s) in "
           f"<code>{esc(db_name)}</code>: <b>{without} shipped without evidence</b>, "
           f"<b>{unchecked} not authenticated</b>.</p>"]
    if entries:
        out.append('<table class="overrides"><tr><th>order</th><th>status at the station</th><th>override</th></tr>'
                   + "".join(f'<tr class="override{" unsafe" if _unsafe(o) else ""}"><td>{esc(oid)}</td>'
                             f'<td><span class="badge {esc(status)}">{esc(status)}</span></td>'
                             f"<td>{esc(override_text(o))}</td></tr>" for oid, status, o in entries)
                   + "</table>")
    return "".join(out) + "\n"


def _stations_section(stations, db_name: str) -> str:
    """The stations' work in the evidence store (:func:`~packcheck.apps.evidence.fleet.station_summaries`,
    as ``packcheck history --stations`` prints it): a static table, not recounted by the filters (it
    counts the stations' checks, not this audit's orders)."""
    from .evidence.fleet import SUMMARY_COLUMNS

    out = [f'<h2>Stations</h2><p>Every check recorded in <code>{esc(db_name)}</code>, per station '
           f"(FLAG and REVIEW as shares of its checks).</p>"]
    if not stations:
        return out[0] + "<p>No checks recorded.</p>\n"
    out.append('<table class="stations"><thead><tr>' + "".join(f"<th>{esc(h)}</th>" for h, _ in SUMMARY_COLUMNS)
               + "</tr></thead><tbody>")
    for r in stations:
        cells = r.cells()
        out.append(f'<tr data-station-summary="{esc(r.station)}"><td>{esc(cells[0])}</td>'
                   + "".join(f"<td class=num>{esc(c)}</td>" for c in cells[1:]) + "</tr>")
    out.append("</tbody></table>\n")
    return "".join(out)


def _counts_table(title: str, key: str, table, label: Callable[[str], str], *, extra_row=None) -> str:
    """A :func:`~packcheck.apps.audit.frame.summary_by` table as HTML, orders needing a person first.

    ``extra_row``: (name, {status: count}) added to it (the orders without a station). Each row
    carries ``data-name``: the report's script recounts the rows over the orders the filters show.
    """
    rows = table[["PASS", "REVIEW", "FLAG", "ERROR"]].to_dict("index")
    if extra_row and sum(extra_row[1].values()):
        rows[extra_row[0]] = extra_row[1]

    def attention(counts):
        return counts.get("FLAG", 0) + counts.get("REVIEW", 0) + counts.get("ERROR", 0)

    out = [f'<h2>{esc(title)}</h2><table data-counts="{esc(key.lower())}"><thead><tr><th>{esc(key)}</th><th>orders</th>'
           + "".join(f'<th><span class="badge {s}">{s}</span></th>' for s in ("PASS", "REVIEW", "FLAG", "ERROR"))
           + "<th>not passed</th></tr></thead><tbody>"]
    for name, counts in sorted(rows.items(), key=lambda kv: (-attention(kv[1]), kv[0])):
        total = sum(counts.values())
        out.append(f'<tr data-name="{esc(name)}"><td>{esc(label(name) if name else "(no station)")}</td>'
                   f"<td class=num>{total}</td>"
                   + "".join(f"<td class=num>{counts.get(s, 0)}</td>" for s in ("PASS", "REVIEW", "FLAG", "ERROR"))
                   + f"<td class=num>{100 * attention(counts) / max(1, total):.0f}%</td></tr>")
    out.append("</tbody></table>\n")
    return "".join(out)


def render(rows: Rows, *, summary, catalogue: Catalogue, root: Path,
           reason_text: Callable[[str], str], overrides: dict | None = None, stations: list | None = None,
           db_name: str = "") -> Iterator[str]:
    """The report as a stream of HTML fragments.

    ``rows(status)`` yields the (row, extra) pairs of the orders with that status,
    in input order; ``summary`` is the :class:`~packcheck.apps.audit.run.AuditSummary`.
    ``overrides`` (:func:`station_overrides` of the station's evidence database ``db_name``, or
    None): every override listed, those shipped without evidence or without a checked code
    marked, and each on its order's card and passed row. ``stations`` (the
    :class:`~packcheck.apps.evidence.fleet.StationSummary` list of that database, or None): the
    per-station summary, as a table after the audit's own per-station counts.
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
    if overrides is not None:
        yield _overrides_section(overrides, db_name)
    cards = _Cards(catalogue, Thumbnails(root), reason_text, root, overrides)
    n = 0
    yield ('<p id="f-none" hidden>No orders match these filters.</p>'
           '<div id="zoom" hidden><img alt="enlarged photo"></div>\n<section data-section="attention">'
           "<h2>Orders that need a person</h2>\n")
    for status in _ATTENTION:
        for row, extra in rows(status):
            n += 1
            yield cards.card(n, row, extra)
    if n == 0:
        yield "<p>None: every order passed.</p>"
    elif n > MAX_CARDS_WITH_IMAGES:
        yield f"<p>Only the first {MAX_CARDS_WITH_IMAGES} cards have thumbnails, to keep this file small.</p>"
    yield ('</section>\n<section data-section="passed"><h2>Passed orders</h2><table><tr><th>order</th><th>SKUs</th>'
           "<th>station</th><th>item score</th><th>photo</th><th>result</th></tr>\n")
    shown = 0
    for row, _ in rows("PASS"):
        if shown == MAX_PASS_ROWS:
            break
        shown += 1
        skus = [x for x in row["skus"].split(";") if x]
        photo = row["photo"].split(";")[0] if row["photo"] else ""
        thumb = cards.thumbs.of(photo)[0] if photo and shown <= MAX_PASS_THUMBS else None
        img = f'<img class="zoom" src="{esc(thumb)}" alt="packing photo of {esc(row["order_id"])}">' if thumb else ""
        yield (f'<tr data-status="PASS" data-reasons="" data-skus="{esc(json.dumps(skus))}" '
               f'data-station="{esc(row["station"])}">'
               f'<td>{esc(row["order_id"])}</td><td>{esc(", ".join(skus))}</td><td>{esc(row["station"])}</td>'
               f'<td class=num>{esc(row["item_score"])}</td><td>{img}{esc(row["photo"])}</td>'
               f'<td>{esc(public_paths(row["message"], root))}'
               f'{_override_lines(cards.overrides.get(row["order_id"], ()))}</td></tr>\n')
    yield "</table></section>"
    missing = s.statuses.get("PASS", 0) - shown
    if missing > 0:
        yield f"<p>{missing} more passed orders are in the CSV.</p>"
    yield (f'<p class="note" id="f-partial" data-partial="{int(missing > 0)}" hidden>With a filter, the tables below '
           f"count the orders listed in this report ({missing} passed orders are in the CSV only).</p>")
    yield _counts_table("Per SKU", "SKU", s.per_sku, cards.label)
    per_station = {st: int(s.statuses.get(st, 0)) - int(s.per_station[st].sum()) for st in ("PASS", "REVIEW", "FLAG",
                                                                                             "ERROR")}
    yield _counts_table("Per station", "station", s.per_station, str, extra_row=("", per_station))
    if stations is not None:
        yield _stations_section(stations, db_name)
    yield f"<script>{_JS}</script>\n</body></html>\n"


def write_report(f: TextIO, *, rows: Rows, summary, catalogue: Catalogue, root: Path,
                 reason_text: Callable[[str], str], overrides: dict | None = None, stations: list | None = None,
                 db_name: str = "") -> None:
    """Write the report to an open text file, fragment by fragment."""
    for part in render(rows, summary=summary, catalogue=catalogue, root=root, reason_text=reason_text,
                       overrides=overrides, stations=stations, db_name=db_name):
        f.write(part)

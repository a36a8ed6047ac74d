"""The kiosk page: the latest verdict, full screen, on a screen beside the packing bench.

A small standard-library web server (``http.server``) bound to 127.0.0.1 serves
one page that shows the packing photo beside the listing image, the status in
a big colour band, and the reasons in words. The page updates itself through
Server-Sent Events (``/events``), reconnecting on its own, and polls
``/api/state`` once a second where SSE is unavailable. It loads nothing from
outside (script and style are served here; ``Content-Security-Policy:
default-src 'self'``) and every text is set with ``textContent``, never parsed
as HTML.

After each scan the page says "ORD-X: waiting for photo" at once (never the
previous order's verdict); a verdict shows the packing photo beside the ordered
listing and, when the verdict names one, the SKU the photo looks like; FLAG,
REVIEW and ERROR say DO NOT SEAL; colours are :mod:`packcheck.apps.present`'s,
as in the report and on the evidence sheet.

Routes: ``/`` the page, ``/kiosk.js``, ``/kiosk.css``, ``/api/state`` (JSON),
``/events`` (SSE), ``/blob/<sha256><ext>`` (a stored photo or listing image).
"""
from __future__ import annotations

import json
import logging
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..errors import PackcheckError
from .evidence.store import CheckRecord, EvidenceStore, utc_now
from .present import INSTRUCTION, override_text, reason_lines, status_css
from .station import Outcome

log = logging.getLogger(__name__)

#: Seconds between keep-alive comments on an idle event stream.
KEEPALIVE_S = 10.0
_BLOB_RE = re.compile(r"^/blob/([0-9a-f]{64})(\.[a-z0-9]{2,5})$")
_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp", ".gif": "image/gif",
          ".bmp": "image/bmp", ".tif": "image/tiff", ".heic": "image/heic"}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>packcheck station</title>
<link rel="stylesheet" href="/kiosk.css">
</head>
<body class="status-NONE">
<header id="band">
  <div id="status">READY</div>
  <div id="badge" hidden>OVERRIDDEN</div>
  <div id="order">scan an order barcode</div>
  <div id="live" title="connection to the station">connecting</div>
</header>
<div id="instruction" hidden></div>
<div id="notice" hidden></div>
<div id="override" hidden></div>
<main>
  <figure id="photo-fig" hidden><img id="photo" alt="packing photo"><figcaption id="photo-cap">packing photo</figcaption></figure>
  <figure id="listing-fig" hidden><img id="listing" alt="listing image"><figcaption id="listing-cap">listing image</figcaption></figure>
  <figure id="lookalike-fig" hidden><img id="lookalike" alt="what the photo looks like"><figcaption id="lookalike-cap"></figcaption></figure>
</main>
<ul id="reasons"></ul>
<footer id="meta"></footer>
<script src="/kiosk.js"></script>
</body>
</html>
"""

CSS = """
html, body { margin: 0; height: 100%; background: #111; color: #eee;
  font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
body { display: flex; flex-direction: column; }
[hidden] { display: none !important; }
header { display: flex; align-items: center; gap: 3vw; padding: 1.5vh 3vw; background: #444; }
#status { font-size: 11vh; font-weight: 800; letter-spacing: .05em; white-space: nowrap; }
#badge { font-size: 4vh; font-weight: 700; border: .4vh solid currentColor; padding: .5vh 1vw; white-space: nowrap; }
#order { font-size: 5vh; flex: 1; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#live { font-size: 2vh; opacity: .7; }
""" + status_css("body.status-{s} header") + """
body.status-WAITING header { background: #37474f; color: #fff; }
body.overridden header { background: #1565c0; color: #fff; }
#instruction { font-size: 6vh; font-weight: 800; padding: 1vh 3vw; border-top: .6vh solid #111; }
""" + status_css("body.status-{s} #instruction") + """
#notice { background: #ffd54f; color: #111; font-size: 4vh; padding: 1vh 3vw; }
#override { background: #1565c0; color: #fff; font-size: 4vh; padding: 1vh 3vw; }
main { flex: 1; display: flex; gap: 2vw; padding: 2vh 3vw; min-height: 0; }
figure { flex: 1; margin: 0; display: flex; flex-direction: column; min-height: 0; }
figure img { flex: 1; min-height: 0; width: 100%; object-fit: contain; background: #222; }
figcaption { font-size: 2.5vh; padding-top: .5vh; opacity: .8; }
#reasons { font-size: 4vh; margin: 0; padding: 0 3vw 1vh 6vw; }
#reasons li { margin: .3vh 0; }
footer { font-size: 2vh; opacity: .7; padding: 0 3vw 1.5vh; }
"""

JS = r"""
"use strict";
const $ = (id) => document.getElementById(id);
let shownSeq = -1;

function setImage(name, url, caption) {
  // Only our own stored files: /blob/<sha256>.<ext>; a figure without one is not shown at all.
  const img = $(name), fig = $(name + "-fig");
  if (typeof url === "string" && /^\/blob\/[0-9a-f]{64}\.[a-z0-9]{2,5}$/.test(url)) {
    if (img.getAttribute("src") !== url) img.setAttribute("src", url);
    $(name + "-cap").textContent = caption;
    fig.hidden = false;
  } else {
    img.removeAttribute("src");
    fig.hidden = true;
  }
}

function clear(bodyClass, status, order) {
  document.body.className = bodyClass;
  $("status").textContent = status;
  $("order").textContent = order;
  $("badge").hidden = true;
  $("override").hidden = true;
  $("instruction").hidden = true;
  $("reasons").replaceChildren();
  $("meta").textContent = "";
  for (const name of ["photo", "listing", "lookalike"]) setImage(name, null, "");
}

function show(state) {
  if (!state || typeof state.seq !== "number" || state.seq <= shownSeq) return;
  shownSeq = state.seq;
  const v = state.verdict;
  const notice = $("notice");
  notice.hidden = !state.notice;
  notice.textContent = state.notice ? state.notice.text : "";
  if (!v) { clear("status-NONE", "READY", "scan an order barcode"); return; }
  if (v.waiting) { clear("status-WAITING", "WAIT", String(v.text)); $("meta").textContent = v.note || ""; return; }
  document.body.className = "status-" + String(v.status) + (v.override ? " overridden" : "");
  $("status").textContent = String(v.status);
  $("badge").hidden = !v.override;
  $("order").textContent = "order " + v.order_id + (v.rescan_of ? "  (rescan)" : "");
  const instruction = $("instruction");
  instruction.hidden = !v.instruction || !!v.override;
  instruction.textContent = v.instruction || "";
  const ov = $("override");
  ov.hidden = !v.override;
  ov.textContent = v.override ? v.override.text : "";
  const ul = $("reasons");
  ul.replaceChildren();
  for (const r of v.reasons) {
    const li = document.createElement("li");
    li.textContent = r;
    ul.appendChild(li);
  }
  setImage("photo", v.photo, "packing photo" + (v.photo_name ? " \u2014 " + v.photo_name : ""));
  setImage("listing", v.listing, "ordered: " + (v.listing_label || ""));
  setImage("lookalike", v.lookalike, v.lookalike_label || "");
  $("meta").textContent = v.checked_at + " UTC \u00b7 station " + (v.station || "-") + " \u00b7 operator "
    + (v.operator || "-") + " \u00b7 check #" + v.check_id + " \u00b7 thresholds " + v.thresholds_version
    + (v.note ? " \u00b7 " + v.note : "");
}

function poll() {
  fetch("/api/state", {cache: "no-store"}).then((r) => r.json()).then(show).catch(() => {});
}

if (window.EventSource) {
  const es = new EventSource("/events");
  es.addEventListener("state", (e) => { $("live").textContent = "live"; show(JSON.parse(e.data)); });
  es.onopen = () => { $("live").textContent = "live"; };
  es.onerror = () => { $("live").textContent = "reconnecting\u2026"; };
} else {
  setInterval(poll, 1000);
}
poll();
"""


def _blob_url(f) -> str | None:
    return f"/blob/{f.sha256}{f.ext}" if f else None


def _verdict_state(record: CheckRecord) -> dict:
    """What the page shows of one recorded check (plain JSON; the page escapes every text)."""
    v = record.verdict
    checks = v.get("checks", [])
    photo = record.photos[0] if record.photos else None
    labels = record.extra.get("ordered", {})
    listing = next((f for f in record.listings if f.sku in labels), record.listings[0] if record.listings else None)
    other = record.extra.get("looks_like") or {}
    lookalike = next((f for f in record.listings if other.get("sku") and f.sku == other["sku"]), None)
    last_override = record.overrides[-1] if record.overrides else None
    return {
        "check_id": record.id, "order_id": record.order_id, "status": record.status.value,
        "message": record.message, "checked_at": record.checked_at,
        "reasons": reason_lines(checks, status=record.status.value, message=record.message),
        "instruction": INSTRUCTION.get(record.status.value),
        "station": record.station, "operator": record.operator, "thresholds_version": record.thresholds_version,
        "rescan_of": record.previous_check_id, "note": record.extra.get("note", ""),
        "photo": _blob_url(photo), "photo_name": photo.source if photo else None,
        "listing": _blob_url(listing),
        "listing_label": (f"{listing.sku} {labels.get(listing.sku, '')}".strip() if listing else None),
        "lookalike": _blob_url(lookalike),
        "lookalike_label": (f"{other.get('kind', 'looks like')}: {other['sku']} {other.get('label', '')}".strip()
                            if lookalike else None),
        "override": ({"supervisor": last_override.supervisor, "reason": last_override.reason,
                      "at": last_override.overridden_at, "text": override_text(last_override),
                      "without_evidence": last_override.without_evidence} if last_override else None),
    }


class Kiosk:
    """The page's server and the state it shows. Pass :meth:`publish` to the Station as a listener."""

    def __init__(self, store: EvidenceStore, *, host: str = "127.0.0.1", port: int = 8765):
        self.store = store
        self._cond = threading.Condition()
        self._state: dict = {"seq": 0, "verdict": None, "notice": None}
        self._closed = False
        try:
            self._server = ThreadingHTTPServer((host, port), _handler(self))
        except OSError as e:
            raise PackcheckError(f"the kiosk page cannot listen on {host}:{port} ({e.strerror or e}); "
                                 "choose another --port (0 picks a free one)") from None
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> "Kiosk":
        self._thread = threading.Thread(target=self._server.serve_forever, name="kiosk", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    # -- state -------------------------------------------------------------------------
    def state(self) -> dict:
        with self._cond:
            return dict(self._state)

    def _set(self, **changes) -> None:
        with self._cond:
            self._state = {**self._state, **changes, "seq": self._state["seq"] + 1}
            self._cond.notify_all()

    def publish(self, out: Outcome) -> None:
        """Show a station outcome: a scan replaces the verdict at once with "waiting for photo", a check
        or override with the verdict; a rejected scan clears it (the last verdict was another order's)
        and says why; other rejections only add a notice."""
        if out.kind == "waiting":
            self._set(verdict={"waiting": True, "order_id": out.order_id, "text": out.text, "note": out.note},
                      notice=None)
        elif out.kind == "check" and out.record is not None:
            self._set(verdict=_verdict_state(out.record), notice=None)
        elif out.kind == "override" and out.record is not None:
            self._set(verdict=_verdict_state(self.store.get_check(out.record.id)), notice=None)
        elif out.kind == "rejected" and out.order_id is not None:
            self._set(verdict=None, notice={"text": out.text, "at": utc_now()})
        elif out.kind in ("rejected", "unrecorded"):
            self._set(notice={"text": out.text, "at": utc_now()})

    def wait_newer(self, seq: int, timeout: float) -> dict | None:
        """The state once it is newer than ``seq``; None on timeout or when closing."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or self._state["seq"] > seq, timeout)
            if self._closed or self._state["seq"] <= seq:
                return None
            return dict(self._state)

    @property
    def closed(self) -> bool:
        return self._closed


def _handler(kiosk: Kiosk):
    allowed_hosts = None

    class Handler(BaseHTTPRequestHandler):
        server_version = "packcheck-kiosk"
        protocol_version = "HTTP/1.0"

        def log_message(self, fmt, *args):  # not to stderr: the packer's terminal shows verdicts
            log.debug("kiosk %s - " + fmt, self.client_address[0], *args)

        def _send(self, status: int, body: bytes, ctype: str, *, cache: str = "no-store") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", cache)
            self._security_headers()
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _security_headers(self) -> None:
            self.send_header("Content-Security-Policy",
                             "default-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")

        def _host_ok(self) -> bool:
            # Refuse other Host names: a web page elsewhere cannot read this one via DNS rebinding.
            nonlocal allowed_hosts
            if allowed_hosts is None:
                allowed_hosts = {f"127.0.0.1:{kiosk.port}", f"localhost:{kiosk.port}", f"[::1]:{kiosk.port}"}
            return self.headers.get("Host", "") in allowed_hosts

        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            try:
                self._route()
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _route(self):
            if not self._host_ok():
                return self._send(HTTPStatus.FORBIDDEN, b"forbidden host\n", "text/plain; charset=utf-8")
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                return self._send(200, PAGE.encode(), "text/html; charset=utf-8")
            if path == "/kiosk.js":
                return self._send(200, JS.encode(), "text/javascript; charset=utf-8")
            if path == "/kiosk.css":
                return self._send(200, CSS.encode(), "text/css; charset=utf-8")
            if path == "/api/state":
                return self._send(200, json.dumps(kiosk.state()).encode(), "application/json")
            if path == "/events":
                return self._events()
            m = _BLOB_RE.match(path)
            if m:
                return self._blob(m.group(1), m.group(2))
            return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

        def _blob(self, sha: str, ext: str):
            try:
                file: Path = kiosk.store.blob_path(sha, ext)
                data = file.read_bytes()
            except (ValueError, OSError):
                return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
            # Named by content: the same URL always has the same bytes.
            self._send(200, data, _TYPES.get(ext, "application/octet-stream"),
                       cache="public, max-age=31536000, immutable")

        def _events(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self._security_headers()
            self.end_headers()
            seq = -1
            self.wfile.write(b"retry: 1000\n\n")
            while not kiosk.closed:
                state = kiosk.wait_newer(seq, KEEPALIVE_S)
                if state is None:
                    if kiosk.closed:
                        break
                    self.wfile.write(b": keep-alive\n\n")
                else:
                    seq = state["seq"]
                    self.wfile.write(f"id: {seq}\nevent: state\ndata: {json.dumps(state)}\n\n".encode())
                self.wfile.flush()

    return Handler

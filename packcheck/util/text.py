"""Text from the data, made safe to show on a terminal.

A title, an order id, a file name or a typed override reason may hold ANSI escape
sequences (``\\x1b[32m`` can draw a FLAG as a green PASS), carriage returns and
backspaces (which overwrite what was printed), bidirectional overrides (``\\u202e``
shows text backwards) or invisible characters (a zero-width space makes
``SKU-1\\u200b`` look exactly like ``SKU-1``). :func:`printable` shows each such
character escaped, the way Python writes it; every place packcheck prints text
derived from data goes through it. Files (the audit CSV, the evidence database,
JSON for machines) keep the text as it is; the HTML report and the kiosk page
escape it for HTML instead.
"""
from __future__ import annotations

import json
import re

#: Characters that are safe as they are: what ``str.isprintable`` accepts, plus the space.
_SAFE_ASCII = re.compile(r"[ -~]*")


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: object, *, keep: str = "") -> str:
    """``text`` with every character a terminal would act on, or that cannot be seen, escaped.

    Control characters (C0, DEL, C1: ESC, CR, BS, NUL...), format characters (zero-width
    spaces and joiners, bidirectional marks and overrides, the BOM), line and paragraph
    separators and unassigned code points are written as ``\\x1b``, ``\\u200b``...;
    letters of every script, accents and emoji stay. ``keep`` names characters to
    leave alone (``"\\n"`` for a multi-line text packcheck composed itself).

    Examples
    --------
    >>> printable("FLAG\\x1b[2K\\rPASS")
    'FLAG\\\\x1b[2K\\\\rPASS'
    >>> printable("SKU-1\\u200b"), printable("Café 杯子")
    ('SKU-1\\\\u200b', 'Café 杯子')
    >>> printable("line one\\nline two", keep="\\n")
    'line one\\nline two'
    """
    text = str(text)
    if _SAFE_ASCII.fullmatch(text):
        return text  # the common case, at the cost of one regex match
    return "".join(ch if ch.isprintable() or ch == " " or ch in keep else _escape(ch) for ch in text)


def printable_json(obj, *, indent: int | None = 2) -> str:
    """``obj`` as JSON whose text shows nothing a terminal acts on: non-printable characters inside
    strings are ``\\uXXXX`` escapes (still the same JSON value), other Unicode stays readable.

    >>> printable_json({"title": "Mug\\u202e"}, indent=None)
    '{"title": "Mug\\\\u202e"}'
    """
    text = json.dumps(obj, indent=indent, ensure_ascii=False, default=str)
    # Outside strings JSON has only spaces and newlines (indentation); inside, json.dumps
    # already escaped C0 controls, so what is left to escape is inside strings.
    return "".join(ch if ch.isprintable() or ch in " \n" else _json_escape(ch) for ch in text) \
        if not text.isascii() or "\x7f" in text else text


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON spells characters beyond the BMP
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"

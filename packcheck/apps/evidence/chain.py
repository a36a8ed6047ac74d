"""The evidence hash chain: every recorded check and override, in the order written, each bound to the one before.

Each row (a check, an override) holds ``chain_seq`` (its place: 1, 2, 3 ...
across both tables), ``prev_hash`` (the ``row_hash`` of the row before it) and
``row_hash``: the SHA-256 of the row's *canonical content*, the sorted-key JSON
of every column of the row except ``row_hash`` and ``row_sig``, plus, for a
check, its stored files. NULL columns are left out, so a column added later
(``ALTER TABLE ... ADD COLUMN x``, NULL in the rows before it, no DEFAULT) is
covered in new rows without a change here and leaves the old rows' hashes as
they were. ``row_sig`` is the site key's signature of ``row_hash`` (empty when the
station ran without a key).

Editing a row changes its hash; deleting or reordering rows breaks the links or
the sequence; recomputing the whole chain after an edit needs the site key to
sign it again. Deleting the newest rows leaves a valid, shorter chain: that is
caught only against a bundle or a noted chain head (see the README's threat model).

Nothing here knows SQLite: the store hands rows in as mappings, so another
database backend chains and verifies the same way.
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Iterable, Mapping

#: The hash the first row links to.
GENESIS = "0" * 64
#: Columns the chain itself fills after hashing (never part of the hashed content).
UNHASHED = ("row_hash", "row_sig")
#: What a row signature signs: this prefix and the row hash (a signature means nothing elsewhere).
SIGNATURE_CONTEXT = b"packcheck-evidence-row/1:"


def _jsonable(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    return value


def canonical(table: str, row: Mapping, files: Iterable[Mapping] = ()) -> bytes:
    """The bytes a row's hash is taken over: sorted-key JSON of every non-NULL column but the chain's own.

    >>> canonical("overrides", {"id": 1, "reason": "ok", "station": None, "row_hash": "x"})
    b'{"files":[],"row":{"id":1,"reason":"ok"},"table":"overrides"}'
    """
    doc = {
        "table": table,
        "row": {k: _jsonable(v) for k, v in row.items() if k not in UNHASHED and v is not None},
        "files": sorted(({k: _jsonable(v) for k, v in f.items() if v is not None} for f in files),
                        key=lambda f: json.dumps(f, sort_keys=True)),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def row_hash(table: str, row: Mapping, files: Iterable[Mapping] = ()) -> str:
    return hashlib.sha256(canonical(table, row, files)).hexdigest()


def signed_bytes(row_hash_hex: str) -> bytes:
    return SIGNATURE_CONTEXT + row_hash_hex.encode("ascii")


@dataclass(frozen=True)
class ChainRow:
    """One row as read back for verification."""

    table: str
    id: int
    seq: int | None
    prev_hash: str | None
    stored_hash: str | None
    signature: str | None
    computed_hash: str
    what: str  # "check #12 (order ORD-1)", for messages


@dataclass(frozen=True)
class ChainReport:
    """What a verification found: ``problems`` (each names the row), the rows checked, the head."""

    rows: int
    signed: int
    problems: tuple[str, ...]
    head_seq: int
    head_hash: str
    signatures_checked: bool

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_rows(rows: Iterable[ChainRow], *, verify_sig=None, require_signatures: bool = False,
                max_problems: int = 50) -> ChainReport:
    """Walk the rows in ``seq`` order and name every break.

    ``verify_sig(row_hash, signature) -> bool`` checks a row signature (None: not
    checked). Problems: a row whose content no longer matches its hash (edited),
    a gap in the sequence (deleted), a link to something other than the row
    before (deleted or reordered), a row outside the chain, a bad signature, and
    with ``require_signatures`` an unsigned row.
    """
    problems: list[str] = []
    n = signed = 0
    expected_seq, prev = 1, GENESIS
    head_seq, head_hash = 0, GENESIS

    def note(text: str) -> None:
        if len(problems) < max_problems:
            problems.append(text)
        elif len(problems) == max_problems:
            problems.append("(more problems not listed)")

    for r in rows:
        n += 1
        if r.seq is None or not r.stored_hash:
            note(f"{r.what} is not in the chain (no chain position or hash): added to the database by hand")
            continue
        if r.seq != expected_seq:
            if r.seq > expected_seq:
                note(f"chain positions {expected_seq} to {r.seq - 1} are missing before {r.what}: "
                     "rows were deleted")
            else:
                note(f"{r.what} repeats chain position {r.seq}: rows were copied or renumbered")
        if r.prev_hash != prev:
            note(f"{r.what} (chain position {r.seq}) does not link to the row before it: rows were deleted, "
                 "inserted or reordered")
        if r.computed_hash != r.stored_hash:
            note(f"{r.what} (chain position {r.seq}) was changed after it was recorded: its content no longer "
                 "matches its hash")
        if r.signature:
            signed += 1
            if verify_sig is not None and not verify_sig(r.stored_hash, r.signature):
                note(f"{r.what} (chain position {r.seq}) has a signature that the site key did not make")
        elif require_signatures:
            note(f"{r.what} (chain position {r.seq}) is not signed")
        expected_seq = max(expected_seq, r.seq) + 1
        prev = r.stored_hash
        head_seq, head_hash = r.seq, r.stored_hash
    return ChainReport(rows=n, signed=signed, problems=tuple(problems), head_seq=head_seq, head_hash=head_hash,
                       signatures_checked=verify_sig is not None)

"""The appeal bundle: one order's evidence as a signed zip a seller can send, and its verification.

:func:`write_bundle` writes the packing photos, the listing images as they were
at check time, a sheet per check, ``verdict.json`` (every check, override and
rescan, each with its place in the evidence chain and the exact content that
was hashed there), ``SHA256SUMS`` (every other member) and ``SIGNATURE.json``:
the site key's signature over the manifest's SHA-256 and the chain positions
of the order's checks and overrides.

:func:`verify_bundle` trusts nothing in the zip. It opens only a regular file,
refuses archives that could exhaust memory or time (too many members, too
large, too compressed, encrypted, unknown compression) before reading a byte of
them, and then checks: the member list (no missing, extra, duplicate,
absolute, ``..``, link or device entries), every member's SHA-256, the photo
and listing hashes named in ``verdict.json`` against those members, each chain
record against its hash and signature, and the bundle's signature, naming the
key that made it. With the evidence database it also verifies the database's
chain and compares each check with its row there.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import struct
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import cv2

from ... import __version__
from ...util.fsio import atomic_write, check_output_path
from . import chain
from .keys import Signer, fingerprint, public_b64, public_from_b64, verify_signature
from .sheet import render_sheet
from .store import EvidenceError, EvidenceStore, utc_now

BUNDLE_FORMAT = "packcheck-appeal/2"
SIGNATURE_FORMAT = "packcheck-appeal-signature/1"
SUMS, SIGNATURE, VERDICT = "SHA256SUMS", "SIGNATURE.json", "verdict.json"
#: What a bundle signature signs: this prefix and the statement's canonical JSON.
SIGNATURE_CONTEXT = b"packcheck-appeal/2:"

#: Limits of what --verify reads. A real bundle holds a few photos, listing images and
#: sheets per check: tens of members and of megabytes. Anything past these is refused
#: before it is decompressed.
MAX_BUNDLE_BYTES = 1 << 30  # the zip file itself
MAX_MEMBERS = 2_000
MAX_MEMBER_BYTES = 200 << 20  # one member, uncompressed
MAX_TOTAL_BYTES = 1 << 30  # every member, uncompressed
MAX_RATIO = 200  # uncompressed / compressed size of one deflated member (JSON and text: under 20)
MAX_JSON_BYTES = 64 << 20  # verdict.json, SHA256SUMS, SIGNATURE.json
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}


class BundleMismatch(EvidenceError):
    """An appeal bundle is not what was signed: a member differs, is missing or extra, or a hash,
    chain record or signature does not hold."""


class BundleUnsafe(EvidenceError):
    """An appeal bundle that cannot be verified safely: not a regular file, too large, too many
    members, a compression bomb, encrypted or compressed in an unknown way."""


def _safe_name(text: str, *, limit: int = 60) -> str:
    """A string usable as one part of a file name inside a zip."""
    return (re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x")[:limit]


def _canonical_json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Bundle:
    path: Path
    files: tuple[str, ...]
    checks: int = 0
    extra: dict = field(default_factory=dict)


_README = """Appeal evidence for order {order_id}, made by packcheck {version} on {made} (UTC).

sheet.png            the latest check: packing photo beside the listing image, verdict,
                     colour swatches (ordered vs found), scores and time
sheet-check-N.png    the same for each earlier check of this order (N = check number)
photos/              the packing photos exactly as judged (file names end in their SHA-256 prefix)
listing/             the listing images of the ordered items as they were when checked (and of the
                     SKU the photo looked like, when a verdict named one)
verdict.json         every check of this order: verdict, scores, limits, overrides (whether the
                     supervisor's code was checked; "shipped_without_evidence" when an ERROR, with
                     no photo judged, was let through), history, and each one's place in the site's
                     evidence chain
SHA256SUMS           the SHA-256 of every file above
SIGNATURE.json       the site's signature over SHA256SUMS and the chain positions; signed by the key
                         {fingerprint}
                     compare it with the key the seller publishes. Verify everything with
                         packcheck evidence --verify THIS.zip --key SELLERS-KEY.pem
                     (sha256sum -c SHA256SUMS after unzipping checks the hashes only, not the signature)
"""


def _chain_entry(store: EvidenceStore, table: str, row_id: int, pos) -> dict:
    """A row's chain position and the exact content its hash was taken over."""
    return {"table": table, "id": row_id, **pos.to_dict(), "record": store.chain_record(table, row_id)}


def write_bundle(store: EvidenceStore, order_id: str, out: str | os.PathLike, *, signer: Signer) -> Bundle:
    """Write the signed appeal zip of ``order_id`` to ``out`` (atomically) and return what it holds.

    Raises :class:`EvidenceError` when the order was never checked or a stored file is damaged.
    """
    records = store.order_checks(order_id)
    if not records:
        raise EvidenceError(f"order '{order_id}' was never checked in {store.where}; check the order id "
                            f"(packcheck history --db {store.where} lists the checked orders)")
    out = Path(out)
    # Refused before the work: a device, pipe or folder at --out, or a database (the evidence itself).
    check_output_path(out, what="the bundle", replace_database=False)
    members: dict[str, bytes] = {}
    checks_json = []
    statement_chain = []
    for rec in records:
        names = []
        for f in rec.photos:
            name = f"photos/check-{rec.id}-{f.position}-{f.sha256[:12]}{f.ext}"
            members[name] = store.read_blob(f)
            names.append({"file": name, "sha256": f.sha256, "source": f.source})
        listing_names = []
        for f in rec.listings:
            name = f"listing/{_safe_name(f.sku or 'item')}-{f.sha256[:12]}{f.ext}"
            members.setdefault(name, store.read_blob(f))
            listing_names.append({"file": name, "sku": f.sku, "sha256": f.sha256, "source": f.source})
        sheet_name = "sheet.png" if rec is records[-1] else f"sheet-check-{rec.id}.png"
        ok, png = cv2.imencode(".png", render_sheet(store, rec))
        if not ok:
            raise EvidenceError(f"could not draw the evidence sheet of check #{rec.id}")
        members[sheet_name] = png.tobytes()
        d = rec.to_dict()
        d.pop("files")
        entries = [_chain_entry(store, "checks", rec.id, rec.chain)]
        entries += [_chain_entry(store, "overrides", o.id, o.chain) for o in rec.overrides]
        statement_chain += [{k: e[k] for k in ("table", "id", "seq", "row_hash")} for e in entries]
        checks_json.append({**d, "photos": names, "listing_images": listing_names, "sheet": sheet_name,
                            "chain": entries})
    latest = records[-1]
    made = utc_now()
    doc = {
        "format": BUNDLE_FORMAT, "order_id": order_id, "made_at": made, "packcheck_version": __version__,
        "database": store.name, "latest_check_id": latest.id, "latest_status": latest.status.value,
        "overridden": latest.overridden,
        "shipped_without_evidence": any(r.shipped_without_evidence for r in records), "checks": checks_json,
    }
    members[VERDICT] = json.dumps(doc, indent=2, ensure_ascii=False, default=str).encode()
    members["README.txt"] = _README.format(order_id=order_id, version=__version__, made=made,
                                           fingerprint=signer.fingerprint).encode()
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(members.items()))
    statement = {
        "format": SIGNATURE_FORMAT, "order_id": order_id, "made_at": made, "manifest": SUMS,
        "manifest_sha256": hashlib.sha256(sums.encode()).hexdigest(), "algorithm": "ed25519",
        "public_key": public_b64(signer.public), "key_fingerprint": signer.fingerprint,
        "chain": statement_chain,
    }
    signature = {"statement": statement, "signature": signer.sign(SIGNATURE_CONTEXT + _canonical_json(statement))}

    def write_zip(f) -> None:
        with zipfile.ZipFile(f, "w") as z:
            stamp = time.gmtime()[:6]
            for name, data in sorted(members.items()):
                info = zipfile.ZipInfo(name, date_time=stamp)
                already_compressed = name.endswith((".jpg", ".png", ".webp", ".heic"))
                info.compress_type = zipfile.ZIP_STORED if already_compressed else zipfile.ZIP_DEFLATED
                z.writestr(info, data)
            z.writestr(zipfile.ZipInfo(SUMS, date_time=stamp), sums)
            z.writestr(zipfile.ZipInfo(SIGNATURE, date_time=stamp), json.dumps(signature, indent=2))

    try:
        atomic_write(out, write_zip, binary=True)
    except OSError as e:
        raise EvidenceError(f"cannot write {out} ({e.strerror or e}); check the folder exists and is writable") \
            from None
    return Bundle(out, tuple(sorted(members)) + (SUMS, SIGNATURE), len(records))


# ---------------------------------------------------------------- verification
@dataclass(frozen=True)
class VerifiedBundle:
    """What a successful :func:`verify_bundle` established."""

    path: Path
    order_id: str
    files: tuple[str, ...]  # the members whose hashes were checked
    checks: int
    key_fingerprint: str
    made_at: str
    database_checked: bool = False
    chain_rows: int = 0


def _open_regular(path: Path):
    """The bundle opened for reading if it is a regular file of a sane size (never blocks on a FIFO)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise EvidenceError(f"{path} cannot be opened ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BundleUnsafe(f"{path} is not a regular file (a device, pipe or folder); give the appeal zip itself")
        if st.st_size > MAX_BUNDLE_BYTES:
            raise BundleUnsafe(f"{path} is {st.st_size} bytes, more than an appeal bundle can be "
                               f"({MAX_BUNDLE_BYTES >> 20} MB); it is not a packcheck bundle")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _declared_members(f, size: int) -> int | None:
    """How many members the zip's end record declares (read before the zip module parses them all)."""
    tail_len = min(size, 22 + 65535)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    count = struct.unpack("<H", tail[at + 10:at + 12])[0]
    locator = at - 20
    if count == 0xFFFF and locator >= 0 and tail[locator:locator + 4] == b"PK\x06\x07":
        offset = struct.unpack("<Q", tail[locator + 8:locator + 16])[0]
        if offset + 56 <= size:
            f.seek(offset)
            rec = f.read(56)
            if rec[:4] == b"PK\x06\x06":
                count = struct.unpack("<Q", rec[32:40])[0]
    return count


def _name_problem(name: str) -> str | None:
    """Why a member name is not one a bundle writes (None: it is fine)."""
    if not name or "\x00" in name or "\\" in name:
        return "an empty name, a NUL or a backslash"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    parts = PurePosixPath(name).parts
    if ".." in parts or "." in parts or name.endswith("/") or "//" in name:
        return "a '..', '.' or folder entry"
    return None


def _check_members(path: Path, infos: list[zipfile.ZipInfo]) -> list[str]:
    """Refuse what is unsafe to read (raises); return the structural problems of the member list."""
    if len(infos) > MAX_MEMBERS:
        raise BundleUnsafe(f"{path} has {len(infos)} members, more than an appeal bundle has "
                           f"(at most {MAX_MEMBERS}); it is not a packcheck bundle")
    problems = []
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        shown = json.dumps(name)[1:-1][:120]
        if info.flag_bits & 0x1:
            raise BundleUnsafe(f"{path}: member '{shown}' is encrypted; a packcheck bundle never is")
        if info.compress_type not in _METHODS:
            raise BundleUnsafe(f"{path}: member '{shown}' uses compression method {info.compress_type}, not "
                               "stored or deflated as a packcheck bundle does")
        if info.file_size > MAX_MEMBER_BYTES:
            raise BundleUnsafe(f"{path}: member '{shown}' would unpack to {info.file_size} bytes "
                               f"(at most {MAX_MEMBER_BYTES >> 20} MB per member); refused unread")
        if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise BundleUnsafe(f"{path}: member '{shown}' would unpack {info.file_size // max(info.compress_size, 1)}"
                               f" times larger than it is stored (at most {MAX_RATIO}x): a compression bomb; "
                               "refused unread")
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise BundleUnsafe(f"{path}: its members would unpack to more than {MAX_TOTAL_BYTES >> 20} MB; "
                               "refused unread")
        why = _name_problem(name)
        if why:
            problems.append(f"member '{shown}' has {why} in its name")
        if name in seen:
            problems.append(f"member '{shown}' is in the zip more than once")
        seen.add(name)
        mode = info.external_attr >> 16
        # Unix zips keep the file type beside the permissions (zipfile writes permissions only).
        if info.create_system == 3 and stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            kind = "a symbolic link" if stat.S_ISLNK(mode) else "a device, pipe or folder"
            problems.append(f"member '{shown}' is {kind}, not a file")
    return problems


def _read_bounded(z: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """A small member's bytes (the zip module never reads past the declared size)."""
    if info.file_size > limit:
        raise BundleUnsafe(f"member '{info.filename}' is {info.file_size} bytes, more than {limit >> 20} MB")
    with z.open(info) as f:
        return f.read()


def _hash_member(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    h = hashlib.sha256()
    with z.open(info) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _parse_sums(data: bytes, problems: list[str]) -> dict[str, str]:
    expected: dict[str, str] = {}
    for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        m = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line.strip())
        if not m:
            problems.append(f"SHA256SUMS line {n} is malformed: {line[:80]!r}")
            continue
        if m.group(2) in expected:
            problems.append(f"SHA256SUMS lists {m.group(2)} twice")
        expected[m.group(2)] = m.group(1)
    return expected


def _verify_signature(path: Path, raw: bytes | None, sums: bytes, problems: list[str], key) -> tuple[dict, object]:
    """The signed statement and the key that signed it; problems named."""
    if raw is None:
        problems.append(f"{SIGNATURE} is missing: the bundle is not signed (a bundle made before signing, "
                        "or one rebuilt by hand)")
        return {}, None
    try:
        doc = json.loads(raw)
        statement, sig = doc["statement"], doc["signature"]
        public = public_from_b64(statement["public_key"])
    except (ValueError, KeyError, TypeError, EvidenceError):
        problems.append(f"{SIGNATURE} is not a packcheck signature")
        return {}, None
    if not isinstance(statement, dict) or statement.get("format") != SIGNATURE_FORMAT:
        problems.append(f"{SIGNATURE} has an unknown format")
        return {}, None
    if not verify_signature(public, SIGNATURE_CONTEXT + _canonical_json(statement), sig):
        problems.append(f"{SIGNATURE}: the signature does not match its statement (the statement was changed, "
                        "or it was signed with another key)")
    if statement.get("manifest_sha256") != hashlib.sha256(sums).hexdigest():
        problems.append("SHA256SUMS is not the manifest that was signed (it was changed after signing)")
    if key is not None and fingerprint(key) != fingerprint(public):
        problems.append(f"signed by key {fingerprint(public)}, not by the key given ({fingerprint(key)})")
    return statement, public


def _verify_verdict(doc: dict, statement: dict, public, hashes: dict[str, str], problems: list[str]) -> list[dict]:
    """Photo and listing hashes, chain records and their signatures, against the members and the statement."""
    checks = doc.get("checks") if isinstance(doc, dict) else None
    if not isinstance(checks, list) or not checks:
        problems.append("verdict.json holds no checks")
        return []
    if statement and doc.get("order_id") != statement.get("order_id"):
        problems.append(f"verdict.json is for order {doc.get('order_id')!r}, the signature for "
                        f"{statement.get('order_id')!r}")
    entries = []
    for c in checks:
        cid = c.get("id")
        for role, key in (("photo", "photos"), ("listing image", "listing_images")):
            for f in c.get(key) or []:
                name, sha = f.get("file"), f.get("sha256")
                if name not in hashes:
                    problems.append(f"check #{cid}: its {role} {name} is not in the bundle")
                elif hashes[name] != sha:
                    problems.append(f"check #{cid}: {role} {name} is not the {role} that was judged (SHA-256 "
                                    f"{hashes[name][:16]}..., verdict.json names {str(sha)[:16]}...)")
        photo_shas = [f.get("sha256") for f in c.get("photos") or []]
        if photo_shas != list(c.get("photo_sha256") or []):
            problems.append(f"check #{cid}: the photos in the bundle are not the ones its verdict names")
        for e in c.get("chain") or []:
            entries.append(e)
            record = e.get("record") or {}
            digest = hashlib.sha256(_canonical_json(record)).hexdigest()
            what = f"{e.get('table', '?')[:-1]} #{e.get('id')}"
            if digest != e.get("row_hash"):
                problems.append(f"{what}: its chain record does not match its hash")
            if e.get("row_sig") and public is not None and not verify_signature(
                    public, chain.signed_bytes(str(e.get("row_hash"))), e["row_sig"]):
                problems.append(f"{what}: its chain record was not signed by the key that signed the bundle")
            if e.get("table") == "checks":
                row = record.get("row") or {}
                same = (row.get("id") == cid and row.get("status") == c.get("status")
                        and row.get("message") == c.get("message")
                        and json.loads(row.get("photo_sha256") or "null") == c.get("photo_sha256")
                        and json.loads(row.get("reasons") or "null") == c.get("reasons")
                        and json.loads(row.get("verdict_json") or "null") == c.get("verdict"))
                if not same:
                    problems.append(f"check #{cid}: verdict.json does not say what was recorded in the chain "
                                    f"(recorded: {row.get('status')}, {row.get('message')!r})")
        if not any(e.get("table") == "checks" for e in c.get("chain") or []):
            problems.append(f"check #{cid} has no chain record")
    signed = statement.get("chain") if statement else None
    listed = [{k: e.get(k) for k in ("table", "id", "seq", "row_hash")} for e in entries]
    if statement and signed != listed:
        problems.append("the chain positions in verdict.json are not the ones that were signed")
    return entries


def _verify_against_db(store: EvidenceStore, entries: list[dict], public, problems: list[str]) -> int:
    report = store.verify_chain(public_key=public)
    problems += [f"database: {p}" for p in report.problems]
    for e in entries:
        table, rid = e.get("table"), e.get("id")
        if table not in ("checks", "overrides"):
            continue
        what = f"{table[:-1]} #{rid}"
        try:
            here = store.chain_record(table, int(rid))
        except (TypeError, ValueError, EvidenceError):
            problems.append(f"{what} of the bundle is not in the database {store.where}")
            continue
        row = here.get("row", {})
        # The database's chain was verified above: a row equal to the bundle's record is the one signed.
        if here != e.get("record") or row.get("chain_seq") != e.get("seq"):
            recorded = (e.get("record") or {}).get("row", {}).get("status")
            problems.append(f"{what} differs between the bundle and the database"
                            + (f" (bundle: {recorded}, database: {row.get('status')})"
                               if table == "checks" and recorded else ""))
    return report.rows


def verify_bundle(path: str | os.PathLike, *, key=None, store: EvidenceStore | None = None) -> VerifiedBundle:
    """Verify an appeal zip completely; returns what was established, raises naming every problem.

    Parameters
    ----------
    key : the seller's published Ed25519 public key; the bundle must be signed by it (None: any
        key, whose fingerprint is returned for the reviewer to compare).
    store : the evidence database: its chain is verified too, and each check of the bundle compared
        with its row there.

    Raises
    ------
    BundleUnsafe
        Not a regular file, too large, too many members, a compression bomb, encrypted or an
        unknown compression: refused before anything is decompressed.
    BundleMismatch
        Anything that does not hold; the message names each problem.
    EvidenceError
        The file cannot be read as a zip at all.
    """
    path = Path(path)
    problems: list[str] = []
    with _open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        declared = _declared_members(f, size)
        if declared is not None and declared > MAX_MEMBERS:
            raise BundleUnsafe(f"{path} declares {declared} members, more than an appeal bundle has "
                               f"(at most {MAX_MEMBERS}); it is not a packcheck bundle")
        f.seek(0)
        try:
            with zipfile.ZipFile(f) as z:
                infos = z.infolist()
                problems += _check_members(path, infos)
                by_name = {i.filename: i for i in infos}
                if SUMS not in by_name:
                    raise BundleMismatch(f"{path} has no SHA256SUMS file; it is not a packcheck appeal bundle")
                sums = _read_bounded(z, by_name[SUMS], MAX_JSON_BYTES)
                expected = _parse_sums(sums, problems)
                hashes: dict[str, str] = {}
                for name, digest in expected.items():
                    if _name_problem(name) or name in (SUMS, SIGNATURE):
                        problems.append(f"SHA256SUMS lists {name!r}, which a bundle cannot hold")
                        continue
                    if name not in by_name:
                        problems.append(f"{name} is listed in SHA256SUMS but missing from the bundle")
                        continue
                    actual = hashes[name] = _hash_member(z, by_name[name])
                    if actual != digest:
                        problems.append(f"{name} does not match SHA256SUMS (expected {digest[:16]}..., "
                                        f"found {actual[:16]}...)")
                problems += [f"{n} is in the bundle but not in SHA256SUMS" for n in by_name
                             if n not in (SUMS, SIGNATURE) and n not in expected]
                signature = _read_bounded(z, by_name[SIGNATURE], MAX_JSON_BYTES) if SIGNATURE in by_name else None
                verdict = _read_bounded(z, by_name[VERDICT], MAX_JSON_BYTES) if VERDICT in by_name else None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError, ValueError) as e:
            raise EvidenceError(f"{path} cannot be read as a zip file ({e})") from None
    statement, public = _verify_signature(path, signature, sums, problems, key)
    try:
        doc = json.loads(verdict) if verdict is not None else None
    except ValueError:
        doc = None
    if doc is None:
        problems.append("verdict.json is missing or not JSON")
        entries = []
    else:
        entries = _verify_verdict(doc, statement, public, hashes, problems)
    chain_rows = 0
    if store is not None and public is not None:
        chain_rows = _verify_against_db(store, entries, public, problems)
    if problems:
        raise BundleMismatch(f"{path}: " + "; ".join(problems))
    return VerifiedBundle(path, str(doc.get("order_id")), tuple(sorted(hashes)), len(doc.get("checks", [])),
                          fingerprint(public), str(statement.get("made_at")), store is not None, chain_rows)


__all__ = ["write_bundle", "verify_bundle", "Bundle", "VerifiedBundle", "BundleMismatch", "BundleUnsafe"]

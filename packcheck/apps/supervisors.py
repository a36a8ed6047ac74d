"""Who may let a box ship that was not a PASS: the supervisors file, and the codes it checks.

A station override (``!ok NAME REASON``) counts only when NAME is in the
supervisors file and the person types NAME's PIN or badge code. The file holds,
per supervisor, a name and a salted hash of the code (``hashlib.scrypt``, a salt
of 16 random bytes per entry), never the code itself. It is made and changed by
``packcheck supervisors add|remove`` (:func:`add_supervisor`,
:func:`remove_supervisor`), written with mode 0600 (read and written by its
owner only), and lives outside the data folder: whoever can edit the shop's
CSVs must not be able to make themselves a supervisor. :meth:`Supervisors.load`
refuses a file that others can read or write, that belongs to another user, that
is a symbolic link, or that lies inside the data folder.

Default place: ``$PACKCHECK_SUPERVISORS``, else
``$XDG_CONFIG_HOME/packcheck/supervisors.json`` (``~/.config/...``). No click, no
printing, no prompting: the CLI asks for the code.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import PackcheckError
from ..util.fsio import atomic_write

FORMAT = "packcheck-supervisors/1"
#: scrypt's cost: about 50 ms and 16 MB per check, so guessing a 6-digit PIN from a stolen
#: file takes hours of a machine, not seconds.
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_CODE_CHARS = 4
_NAME_RE = re.compile(r"[^\s\x00-\x1f\x7f]{1,40}")


class SupervisorError(PackcheckError):
    """The supervisors file is missing, unsafe or damaged, or a name or code is not acceptable."""


def default_path() -> Path:
    """Where the supervisors file is unless ``--supervisors`` says otherwise."""
    if os.environ.get("PACKCHECK_SUPERVISORS"):
        return Path(os.environ["PACKCHECK_SUPERVISORS"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "packcheck" / "supervisors.json"


def _digest(code: str, salt: bytes, params: dict) -> bytes:
    return hashlib.scrypt(code.encode("utf-8"), salt=salt, n=params["n"], r=params["r"], p=params["p"],
                          maxmem=64 * 1024 * 1024, dklen=32)


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME_RE.fullmatch(name):
        raise SupervisorError(f"'{name}' cannot be a supervisor's name: use 1 to 40 characters without spaces "
                              "(it is typed after !ok)")
    return name


@dataclass(frozen=True)
class Supervisors:
    """The supervisors of one file: names and salted code hashes."""

    path: Path
    entries: dict

    @classmethod
    def load(cls, path: str | os.PathLike, *, data_dir: str | os.PathLike | None = None) -> "Supervisors":
        """Read and vet the file: it must be a regular file of this user, mode 0600 or stricter, not a
        symbolic link, and not inside ``data_dir``."""
        path = Path(path)
        if data_dir is not None:
            real, folder = Path(os.path.realpath(path)), Path(os.path.realpath(data_dir))
            if real == folder or folder in real.parents:
                raise SupervisorError(f"the supervisors file {path} is inside the data folder {data_dir}: anyone who "
                                      "can change the shop's CSVs could add themselves; move it out (the default is "
                                      f"{default_path()})")
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            raise SupervisorError(f"no supervisors file at {path}; create it with 'packcheck supervisors add NAME'"
                                  ) from None
        except OSError as e:
            raise SupervisorError(f"the supervisors file {path} cannot be read ({e.strerror or e})") from None
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
            raise SupervisorError(f"the supervisors file {path} is not a regular file (a link?); give the file itself")
        if st.st_mode & 0o077:
            raise SupervisorError(f"the supervisors file {path} can be read or changed by other users (mode "
                                  f"{stat.S_IMODE(st.st_mode):04o}); make it private: chmod 600 {path}")
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise SupervisorError(f"the supervisors file {path} belongs to another user (uid {st.st_uid}); the "
                                  "account that runs the station must own it")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format") != FORMAT or not isinstance(doc.get("supervisors"), dict):
                raise ValueError(f"not a {FORMAT} file")
            entries = {check_name(n): e for n, e in doc["supervisors"].items()}
            for e in entries.values():
                bytes.fromhex(e["salt"]), bytes.fromhex(e["hash"]), int(e["n"]), int(e["r"]), int(e["p"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError, SupervisorError) as e:
            raise SupervisorError(f"the supervisors file {path} is damaged ({e}); make it again with "
                                  "'packcheck supervisors add NAME'") from None
        return cls(path, entries)

    def names(self) -> list[str]:
        return sorted(self.entries)

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def verify(self, name: str, code: str | None) -> bool:
        """Is ``code`` the code of supervisor ``name``? (False for an unknown name or no code.)"""
        e = self.entries.get(name)
        if e is None or not code:
            return False
        got = _digest(code, bytes.fromhex(e["salt"]), {k: int(e[k]) for k in ("n", "r", "p")})
        return hmac.compare_digest(got, bytes.fromhex(e["hash"]))


def _read_entries(path: Path) -> dict:
    if not path.exists():
        return {}
    return dict(Supervisors.load(path).entries)


def _write(path: Path, entries: dict) -> None:
    doc = {"format": FORMAT, "note": "supervisor names and scrypt hashes of their codes; edit with "
                                     "'packcheck supervisors add|remove'", "supervisors": entries}
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(path, lambda f: f.write(json.dumps(doc, indent=2, sort_keys=True) + "\n"), mode=0o600)
    except OSError as e:
        raise SupervisorError(f"cannot write the supervisors file {path} ({e.strerror or e})") from None


def add_supervisor(path: str | os.PathLike, name: str, code: str, *, now: str = "") -> bool:
    """Add ``name`` with ``code`` (or give an existing supervisor a new code); True when the name is new."""
    path = Path(path)
    name = check_name(name)
    if len(code or "") < MIN_CODE_CHARS:
        raise SupervisorError(f"a code needs at least {MIN_CODE_CHARS} characters")
    if code.strip().lower() == name.lower():
        raise SupervisorError("a supervisor's code cannot be their name")
    entries = _read_entries(path)
    salt = secrets.token_bytes(16)
    new = name not in entries
    entries[name] = {"salt": salt.hex(), "hash": _digest(code, salt, SCRYPT).hex(), "kdf": "scrypt", **SCRYPT,
                     "added_at": now}
    _write(path, entries)
    return new


def remove_supervisor(path: str | os.PathLike, name: str) -> None:
    path = Path(path)
    entries = _read_entries(path)
    if name not in entries:
        raise SupervisorError(f"'{name}' is not a supervisor in {path} (there are: {', '.join(sorted(entries)) or 'none'})")
    del entries[name]
    _write(path, entries)

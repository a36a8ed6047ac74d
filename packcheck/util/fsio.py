"""Writing files so that a reader never sees half of one and a power cut loses none.

:func:`atomic_write` is the one way packcheck writes a file that matters (the
audit's CSV and report, evidence photos, appeal bundles, thresholds files): the
bytes go to a temporary file beside the target, are fsynced, and only then take
the target's name, by a rename (replacing an older file) or a hard link (never
replacing one: content-addressed stores). Temporary files are named
``.tmp-HOST-PID-RANDOM.NAME``; :func:`sweep_temp_files` removes those a killed
writer of this machine left behind, and never a live writer's.
"""
from __future__ import annotations

import os
import re
import socket
import uuid
from pathlib import Path
from typing import IO, Callable

TEMP_PREFIX = ".tmp-"
_TEMP_NAME = re.compile(r"\.tmp-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{8}\..+")


def temp_path(path: str | os.PathLike) -> Path:
    """A fresh temporary name beside ``path`` that only this process (and thread) uses."""
    path = Path(path)
    return path.parent / f"{TEMP_PREFIX}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.{path.name}"


def atomic_write(path: str | os.PathLike, write: Callable[[IO], None], *, binary: bool = False,
                 encoding: str = "utf-8", newline: str | None = "", overwrite: bool = True,
                 mode: int | None = None) -> bool:
    """Write ``path`` all at once: ``write(f)`` fills a temporary file, which then becomes ``path``.

    Parameters
    ----------
    path : the file to write; its folder is created if needed.
    write : called with the temporary file, open for text (or bytes with ``binary=True``).
    overwrite : True replaces an existing ``path`` (rename); False keeps it (hard link, which
        fails when the name exists: the store already holds these bytes).
    mode : permission bits the file has from its creation on (e.g. 0o600: its owner's only),
        set before anything is written; None leaves them to the umask.

    Returns
    -------
    bool
        False when ``overwrite=False`` and ``path`` already existed, else True.

    The temporary file is fsynced before it takes the name, and the folder after,
    so the new name survives a power cut with all its bytes. When ``write`` raises,
    the temporary file is removed and ``path`` is untouched.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(p, lambda f: f.write("one\\n")), p.read_text()
    (True, 'one\\n')
    >>> atomic_write(p, lambda f: f.write("two\\n"), overwrite=False), p.read_text()
    (False, 'one\\n')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    written = True
    try:
        with (open(tmp, "xb") if binary else open(tmp, "x", encoding=encoding, newline=newline)) as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                written = False  # another writer stored the same name meanwhile
            except OSError:
                # A file system without hard links: rename instead, unless the name exists.
                if path.exists():
                    written = False
                else:
                    os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return written


def fsync_dir(path: str | os.PathLike) -> None:
    """fsync a folder, so a rename or link inside it is on disk (a no-op where the OS cannot)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sweep_temp_files(folder: str | os.PathLike, pattern: str = f"{TEMP_PREFIX}*") -> int:
    """Remove the temporary files (matching ``pattern`` under ``folder``) that a writer on this
    machine left when it was killed; a running writer's are kept. Returns how many went."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    host = socket.gethostname()
    removed = 0
    for p in folder.glob(pattern):
        m = _TEMP_NAME.fullmatch(p.name)
        if m and m["host"] == host and not _pid_alive(int(m["pid"])):
            try:
                p.unlink()
                removed += 1
            except OSError:
                pass
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

"""Writing files so that a reader never sees half of one, a power cut loses none, and nothing
planted in the target folder can redirect a write.

:func:`atomic_write` is the one way packcheck writes a file that matters (the
audit's CSV, report and summary, evidence photos, appeal bundles, thresholds
files): the bytes go to a temporary file beside the target, are fsynced, and
only then take the target's name, by a rename (replacing an older file) or a
hard link (never replacing one: content-addressed stores).

Hostile folders are expected. The temporary file gets an unpredictable name
(``.tmp-HOST-PID-RANDOM.NAME``, 64 random bits) and is created with
``O_CREAT|O_EXCL|O_NOFOLLOW``, as ``mkstemp`` does, so a symlink or file planted
beside the target is never written through; a target that is a folder, a device
node, a pipe or a socket is refused (:func:`check_output_path`), never replaced.
A write that fails (a full disk, a read-only folder) raises
:class:`~packcheck.errors.OutputError` naming the file, and leaves no temporary
file behind. :func:`sweep_temp_files` removes the temporary files a killed writer
of this machine left, and never a live writer's. :func:`open_regular` opens a
file packcheck keeps updating in place (the audit journal) the same careful way.
"""
from __future__ import annotations

import errno
import os
import re
import secrets
import socket
import stat
from pathlib import Path
from typing import IO, Callable

from ..errors import OutputError

TEMP_PREFIX = ".tmp-"
_TEMP_NAME = re.compile(r"\.tmp-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{8,}\..+")
#: Characters of the target's name kept in a temporary name (the rest would overflow NAME_MAX).
_TEMP_NAME_KEEP = 120
#: The first 16 bytes of every SQLite database file.
_SQLITE_MAGIC = b"SQLite format 3\x00"
#: OS errors that mean "this file cannot be written here", whatever packcheck was writing.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EIO,
                 errno.ENAMETOOLONG, errno.ENOTDIR, errno.ELOOP, errno.EISDIR}


def temp_path(path: str | os.PathLike) -> Path:
    """A fresh, unpredictable temporary name beside ``path`` that only this process (and thread) uses."""
    path = Path(path)
    return path.parent / (f"{TEMP_PREFIX}{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(8)}."
                          f"{path.name[-_TEMP_NAME_KEEP:]}")


def write_error(path: str | os.PathLike, e: OSError, what: str = "") -> OutputError:
    """The :class:`OutputError` for an OS error while writing ``path``, saying what to do about it."""
    reason = e.strerror or str(e)
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        advice = "free some space on that disk (or choose a folder on another one) and run again"
    elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "choose a folder you can write to"
    else:
        advice = "choose another file name or folder"
    return OutputError(f"cannot write {what + ' ' if what else ''}{path} ({reason}); {advice}")


def check_output_path(path: str | os.PathLike, *, what: str = "", replace_database: bool = True) -> Path:
    """``path`` as a place packcheck may write a file: refused (never replaced) when a folder, device
    node, pipe or socket is there. A symbolic link there is replaced by the new file, never followed.
    ``replace_database=False`` also refuses an SQLite database there (an evidence store or a
    listing index given as a report's name by mistake).

    Examples
    --------
    >>> check_output_path("/dev/null")
    Traceback (most recent call last):
    packcheck.errors.OutputError: /dev/null is a device, not a regular file; packcheck does not replace it: give the name of a file to write
    """
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    except OSError as e:
        raise write_error(path, e, what) from None
    label = f"{what + ' ' if what else ''}{path}"
    if stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{label} is a folder; give the name of a file to write")
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        kind = ("a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a named pipe" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a special file")
        raise OutputError(f"{label} is {kind}, not a regular file; packcheck does not replace it: "
                          "give the name of a file to write")
    if not replace_database and stat.S_ISREG(st.st_mode):
        try:
            with open(path, "rb") as f:
                head = f.read(16)
        except OSError:
            head = b""
        if head == _SQLITE_MAGIC:
            raise OutputError(f"{label} is an SQLite database (an evidence store or listing index?); packcheck "
                              "does not replace it: choose another name")
    return path


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file (after symlinks and ``..``), whether or not it exists yet."""
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def open_regular(path: str | os.PathLike, *, what: str = "") -> int:
    """A read-write descriptor of the regular file ``path``, created if missing, never through a symlink.

    For a file updated in place (the audit journal). ``O_NOFOLLOW`` refuses a symlink
    planted at the name; a folder, device, pipe or socket there is refused too.
    """
    path = Path(path)
    check_output_path(path, what=what)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OutputError(f"{what + ' ' if what else ''}{path} is a symbolic link; packcheck does not write "
                              "through one: remove it or choose another name") from None
        raise write_error(path, e, what) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped in between: still refused
        os.close(fd)
        check_output_path(path, what=what)
        raise OutputError(f"{what + ' ' if what else ''}{path} is not a regular file")
    os.set_blocking(fd, True)
    return fd


def _create_temp(path: Path) -> tuple[int, Path]:
    """Create a new temporary file beside ``path`` (``mkstemp``'s flags, the usual file mode)."""
    for _ in range(16):
        tmp = temp_path(path)
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666), tmp
        except FileExistsError:
            continue
    raise OutputError(f"cannot create a temporary file beside {path}: every name tried exists")


def atomic_write(path: str | os.PathLike, write: Callable[[IO], None], *, binary: bool = False,
                 encoding: str = "utf-8", newline: str | None = "", overwrite: bool = True,
                 mode: int | None = None) -> bool:
    """Write ``path`` all at once: ``write(f)`` fills a temporary file, which then becomes ``path``.

    Parameters
    ----------
    path : the file to write; its folder is created if needed. A folder, device,
        pipe or socket at ``path`` is refused (:func:`check_output_path`).
    write : called with the temporary file, open for text (or bytes with ``binary=True``).
    overwrite : True replaces an existing ``path`` (rename); False keeps it (hard link, which
        fails when the name exists: the store already holds these bytes).
    mode : permission bits the file has from its creation on (e.g. 0o600: its owner's only),
        set before anything is written; None leaves them to the umask.

    Returns
    -------
    bool
        False when ``overwrite=False`` and ``path`` already existed, else True.

    Raises
    ------
    OutputError
        ``path`` cannot be written (refused as above, a full disk, a read-only
        folder); the message names it. The temporary file is gone and ``path``
        is as it was.

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
    check_output_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(path)
    except OSError as e:
        raise write_error(path, e) from None
    written = True
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding=encoding, newline=newline)) as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        check_output_path(path)  # again, just before the rename: a device made meanwhile is not replaced
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                written = False  # another writer stored the same name meanwhile
            except OSError as e:
                if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
                    raise
                # A file system without hard links: rename instead, unless the name exists.
                if path.exists():
                    written = False
                else:
                    os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as e:
        if e.errno in _WRITE_ERRNOS:
            raise write_error(path, e) from None
        raise
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
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

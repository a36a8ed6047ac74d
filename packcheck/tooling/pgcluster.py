"""A real, throwaway PostgreSQL server, for the tests and ``packcheck bench fleet``: no mocks of the database.

:class:`Cluster` runs ``initdb`` and ``pg_ctl`` in a temporary folder, listening only on a unix
socket in that folder (on a random port number), and removes it all when stopped. As root the
server runs as the ``postgres`` account (PostgreSQL refuses root). The tests skip, with the reason,
only when the server binaries are absent (Debian: ``apt-get install postgresql``, as ``.ci/run``
does). ``durable=False`` (the tests) turns fsync off; the benchmark keeps it on.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def find_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: on PATH, else Debian's /usr/lib/postgresql/N/bin (newest)."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One PostgreSQL server in a temporary folder; :meth:`new_database` gives each test its own database."""

    def __init__(self, bindir: Path, *, durable: bool = False):
        self.bindir = bindir
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="packcheck-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.user = "packcheck"
        self._as = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: use its own account
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 120) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    def start(self) -> "Cluster":
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.user,
                  "--no-sync", "-E", "UTF8", "--locale=C")
        self._start_server()
        return self

    def _start_server(self) -> None:
        # Only a unix socket in our folder; fsync off unless durable: test databases are thrown away.
        options = (f"-k {self.root} -p {self.port} -c listen_addresses= -c max_connections=200"
                   + ("" if self.durable else " -c fsync=off"))
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@/{database}?host={self.root}&port={self.port}"

    def new_database(self) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.split("/")[3].split("?")[0]
        with psycopg.connect(self.url(), autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def restart(self, *, down_s: float = 0.0) -> None:
        """Stop the server (fast: open connections are cut), wait ``down_s``, start it again."""
        import time

        self.stop_server()
        time.sleep(down_s)
        self._start_server()

    def stop_server(self) -> None:
        """Stop the server (fast: open connections are cut); the cluster stays for :meth:`start_server`."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def start_server(self) -> None:
        self._start_server()

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

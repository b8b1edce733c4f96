"""A throw-away PostgreSQL server (Debian's ``postgresql`` binaries) for tests and demos.

`LocalPostgres` runs ``initdb`` in a fresh temporary directory and starts ``postgres`` on a
free 127.0.0.1 port (no Unix socket, trust authentication for the superuser ``kubeheal``,
fsync off: the data is disposable; it survives a crash of the server, not of the machine).
`create_database` hands out one empty database per test; `kill` and `restart` play a server
that goes away and comes back; `stop` (or leaving the ``with`` block) stops the server and
deletes the directory.

PostgreSQL refuses to run as root. When the current user is root the server runs as the
``postgres`` system user that Debian's package creates (or ``nobody`` when it is absent),
through ``setpriv``; the data directory is created outside pytest's root-only temporary
tree and handed to that user.

Errors: missing binaries, a server that does not start or a failed command raise
`PostgresServerError`, with the tail of the server log when the server is involved.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import psycopg

__all__ = ["LocalPostgres", "PostgresServerError", "find_binaries"]

SUPERUSER = "kubeheal"
HOST = "127.0.0.1"


class PostgresServerError(RuntimeError):
    """The local PostgreSQL server could not be set up, started or used."""


def find_binaries() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with initdb and postgres, if any."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/postgres")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for bindir in reversed(found):
        if (bindir / "initdb").exists():
            return bindir
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _run_as() -> str | None:
    """The user to run the server as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise PostgresServerError("running as root and there is no 'postgres' or 'nobody' user")


class LocalPostgres:
    """One disposable PostgreSQL server on 127.0.0.1. Use as a context manager."""

    def __init__(self, *, bindir: Path | None = None, start_timeout: float = 30.0) -> None:
        self.bindir = bindir or find_binaries()
        self.start_timeout = start_timeout
        self.port = 0
        self.workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._user = _run_as()
        self._databases = 0

    # -- lifecycle

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _command(self, *args: str) -> list[str]:
        assert self.bindir is not None
        argv = [str(self.bindir / args[0]), *args[1:]]
        if self._user is None:
            return argv
        # setpriv execs (runuser forks), so the process we start is postgres itself.
        return ["setpriv", f"--reuid={self._user}", f"--regid={self._user}", "--init-groups",
                "--", *argv]  # fmt: skip

    @property
    def data_dir(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "postgres.log"

    def start(self) -> None:
        """initdb and start the server; returns once it accepts connections."""
        if self.bindir is None:
            raise PostgresServerError(
                "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin: run scripts/setup "
                "(Debian package 'postgresql')"
            )
        self.workdir = Path(tempfile.mkdtemp(prefix="kubeheal-pg-"))
        if self._user:
            info = pwd.getpwnam(self._user)
            os.chown(self.workdir, info.pw_uid, info.pw_gid)
        init = subprocess.run(
            self._command(
                "initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust",
                "-E", "UTF8", "--locale=C", "--no-sync",
            ),
            capture_output=True, text=True, check=False, cwd=self.workdir,
        )  # fmt: skip
        if init.returncode != 0:
            self._cleanup()
            raise PostgresServerError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        self.port = _free_port()
        self._launch()

    def restart(self) -> None:
        """Start the server again on its data and port after `kill` (the server is back)."""
        if self.workdir is None or self._process is not None:
            raise PostgresServerError("restart() is for a server stopped with kill()")
        self._launch()

    def _launch(self) -> None:
        log = self.log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                self._command(
                    "postgres", "-D", str(self.data_dir), "-p", str(self.port),
                    "-c", f"listen_addresses={HOST}", "-c", "unix_socket_directories=",
                    "-c", "fsync=off",
                    "-c", "full_page_writes=off", "-c", "max_connections=60",
                ),
                stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
            )  # fmt: skip
        finally:
            log.close()
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    tail = self.log_tail()
                    self.stop()
                    raise PostgresServerError(
                        f"PostgreSQL did not start on {HOST}:{self.port}:\n{tail}"
                    ) from None
                time.sleep(0.05)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """Stop the server at once, keeping its data: "PostgreSQL is gone".

        An immediate shutdown (SIGQUIT): every connection is cut without a goodbye, no
        checkpoint is written, and `restart` goes through crash recovery, as after a crash.
        """
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def stop(self) -> None:
        """Stop the server and delete its directory. Idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # "fast" shutdown: disconnect clients
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self._cleanup()

    def _cleanup(self) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    # -- databases

    def url(self, dbname: str) -> str:
        """Connection URL of ``dbname`` as the superuser (no password: trust auth)."""
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    def create_database(self, prefix: str = "ledger") -> str:
        """Create an empty database with a fresh name; return its URL."""
        self._databases += 1
        name = f"{prefix}_{os.getpid()}_{self._databases}"
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database of ``url`` (closing its connections first)."""
        name = url.rsplit("/", 1)[1]
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def execute(self, sql: str) -> None:
        """Run one statement as the superuser on the ``postgres`` database (autocommit)."""
        try:
            with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as c:
                c.execute(sql.encode())
        except psycopg.Error as e:
            raise PostgresServerError(f"{sql!r} failed: {e}") from e

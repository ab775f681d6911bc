"""A throwaway PostgreSQL cluster on a free loopback port (tests and `rtw chaos`).

Uses the server binaries of Debian's `postgresql` package. PostgreSQL refuses to run as
root, so as root the cluster belongs to the `postgres` system user (`runuser`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess  # nosec B404  # runs the PostgreSQL server binaries, fixed argv
import tempfile
import uuid
from pathlib import Path

import psycopg

from services.runtime.devserver import free_port

logger = logging.getLogger(__name__)

#: Server settings for a disposable cluster: durability traded for speed.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def server_bin_dir() -> Path:
    """The newest `/usr/lib/postgresql/<major>/bin` holding `initdb`."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    if initdb := shutil.which("initdb"):
        return Path(initdb).parent
    raise PostgresUnavailableError(
        "PostgreSQL server binaries not found: `apt-get install -y postgresql`"
    )


class TempPostgres:
    """Start with `start()`, stop with `stop()`; `url(dbname)` for clients. `durable` keeps
    PostgreSQL's default fsync settings (for measurements)."""

    def __init__(self, *, max_connections: int = 300, durable: bool = False) -> None:
        self.port = free_port()
        self._bin = server_bin_dir()
        self._root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="rtw-pg-"))
        self._max_connections = max_connections
        self._durable = durable

    def _run(self, *args: str) -> None:
        cmd = [str(self._bin / args[0]), *args[1:]]
        if self._root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)  # nosec B603  # no shell

    def start(self) -> TempPostgres:
        """initdb, then start the server and wait until it accepts connections."""
        data = self.dir / "data"
        if self._root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync")  # fmt: skip
        self.resume()
        logger.info("PostgreSQL on 127.0.0.1:%s (%s)", self.port, self.dir)
        return self

    def resume(self) -> None:
        """Start the server on its existing cluster and wait until it accepts connections."""
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.dir}",
                "-c listen_addresses=127.0.0.1",
                f"-c max_connections={self._max_connections}",
                *(() if self._durable else (f"-c {s}" for s in FAST_SETTINGS)),
            ]
        )
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-o", options,
                  "-l", str(self.dir / "server.log"), "-w", "-t", "60", "start")  # fmt: skip

    def halt(self) -> None:
        """Stop the server, keeping the cluster (what a restart or a failover looks like to
        clients: every connection dropped, new ones refused until `resume`)."""
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def url(self, dbname: str = "postgres") -> str:
        """Connection URL of one database (user `postgres`, trust auth on loopback)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh database; return its URL."""
        name = name or f"rtw_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.url(name)

    def stop(self) -> None:
        """Stop the server and delete the cluster."""
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

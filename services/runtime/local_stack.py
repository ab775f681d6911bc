"""Run the three workers as separate local processes (rtw dev, rtw demo, tests)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from services.contracts import TaskQueue
from services.runtime.devserver import free_port, stop_process

logger = logging.getLogger(__name__)


class WorkerProcessError(RuntimeError):
    """A worker process did not become ready or did not stop cleanly."""


@dataclass
class WorkerProcess:
    """One `rtw worker QUEUE` child process."""

    queue: TaskQueue
    health_port: int
    env: Mapping[str, str]
    log_file: Path | None = None
    module: str = "services"
    process: asyncio.subprocess.Process | None = field(default=None, init=False)

    async def start(self) -> None:
        """Spawn `python -m services worker QUEUE` (`module` replaces `services`)."""
        out: object = None  # inherit: logs go to the terminal
        handle = None
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            handle = self.log_file.open("ab")
            out = handle
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                self.module,
                "worker",
                self.queue.value,
                "--health-port",
                str(self.health_port),
                env={**os.environ, **self.env},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,  # type: ignore[arg-type]
                stderr=out,  # type: ignore[arg-type]
            )
        finally:
            if handle is not None:
                handle.close()

    async def wait_ready(self, *, timeout: float = 60.0) -> None:
        """Poll /readyz until 200; fail early if the process dies."""
        assert self.process is not None
        url = f"http://127.0.0.1:{self.health_port}/readyz"
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while True:
                if self.process.returncode is not None:
                    raise WorkerProcessError(
                        f"{self.queue} worker exited with {self.process.returncode}"
                        + (f"; see {self.log_file}" if self.log_file else "")
                    )
                try:
                    async with http.get(url) as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise WorkerProcessError(f"{self.queue} worker not ready after {timeout}s")
                await asyncio.sleep(0.1)

    async def stop(self, *, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Signal the worker and wait for its exit code (killed after `timeout`)."""
        if self.process is None:
            return 0
        return await stop_process(self.process, sig=sig, timeout=timeout)


@dataclass
class LocalStack:
    """The three worker services as processes against one Temporal address."""

    address: str
    env: Mapping[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    queues: Sequence[TaskQueue] = tuple(TaskQueue)
    workers: dict[TaskQueue, WorkerProcess] = field(default_factory=dict, init=False)

    async def start(self, *, timeout: float = 60.0) -> None:
        """Start every worker and wait until all are ready."""
        for queue in self.queues:
            worker = WorkerProcess(
                queue=queue,
                health_port=free_port(),
                env={"TEMPORAL_ADDRESS": self.address, **self.env},
                log_file=self.log_dir / f"{queue.value}.log" if self.log_dir else None,
            )
            self.workers[queue] = worker
            await worker.start()
        try:
            await asyncio.gather(*(w.wait_ready(timeout=timeout) for w in self.workers.values()))
        except BaseException:
            await self.stop()
            raise
        logger.info("workers ready: %s", ", ".join(q.value for q in self.workers))

    async def stop(self) -> dict[TaskQueue, int]:
        """SIGTERM every worker and collect exit codes."""
        codes = await asyncio.gather(*(w.stop() for w in self.workers.values()))
        return dict(zip(self.workers, codes, strict=True))

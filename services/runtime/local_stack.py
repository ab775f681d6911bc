"""Run the three workers as separate local processes (rtw dev, rtw demo, tests)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.contracts import TaskQueue
from services.runtime.child_process import spawn_rtw, wait_until_ready
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
        self.process = await spawn_rtw(
            ["worker", self.queue.value, "--health-port", str(self.health_port)],
            env=self.env,
            log_file=self.log_file,
            module=self.module,
        )

    async def wait_ready(self, *, timeout: float = 60.0) -> None:
        """Poll /readyz until 200; fail early if the process dies."""
        assert self.process is not None
        await wait_until_ready(
            self.process,
            self.health_port,
            timeout=timeout,
            what=f"{self.queue} worker",
            log_file=self.log_file,
            error=WorkerProcessError,
        )

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
    #: How long `stop` waits for a worker to drain before killing it (above the drain time).
    stop_timeout: float = 60.0
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
        """SIGTERM every worker (each drains its in-flight work) and collect exit codes."""
        codes = await asyncio.gather(
            *(w.stop(timeout=self.stop_timeout) for w in self.workers.values())
        )
        return dict(zip(self.workers, codes, strict=True))

    def force(self) -> None:
        """Signal every running worker again: one already draining exits at once (130)."""
        for worker in self.workers.values():
            if worker.process is not None and worker.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGTERM)

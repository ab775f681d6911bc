"""Worker processes of one benchmark variant: spawned one after another, each timed from
spawn to its first poll as the server sees it (cold start), then measured from /proc."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.client import Client

from services.bench.procstat import cpu_seconds, peak_rss_mb
from services.orchestration.liveness import task_queue_pollers
from services.runtime.devserver import stop_process
from services.runtime.local_stack import WorkerProcessError

logger = logging.getLogger(__name__)

WORKFLOW = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
ACTIVITY = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY


@dataclass(frozen=True)
class ProcessSpec:
    """One worker process: its name in the results, its command and the queue it polls."""

    name: str
    argv: Sequence[str]
    task_queue: str
    polls_workflows: bool
    env: Mapping[str, str] = field(default_factory=dict)


def platform_spec(role: str, *, prefix: str, env: Mapping[str, str], name: str = "") -> ProcessSpec:
    """`rtw worker ROLE` (through `python -m services`)."""
    return ProcessSpec(
        name=name or role,
        argv=[sys.executable, "-m", "services", "worker", role],
        task_queue=prefix + role,
        polls_workflows=role == "orchestration",
        env={"RTW_QUEUE_PREFIX": prefix, **env},
    )


def bare_spec(role: str, *, prefix: str, address: str) -> ProcessSpec:
    """A bare-SDK worker (`python -m services.bench.bare_worker ROLE`)."""
    return ProcessSpec(
        name=role,
        argv=[
            sys.executable,
            "-m",
            "services.bench.bare_worker",
            role,
            "--address",
            address,
            "--prefix",
            prefix,
        ],
        task_queue=prefix + role,
        polls_workflows=role == "orchestration",
    )


def base_env() -> dict[str, str]:
    """This process's environment without OpenTelemetry settings (variants add their own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}


@dataclass
class Running:
    """A spawned worker and what was measured of it."""

    spec: ProcessSpec
    process: asyncio.subprocess.Process
    cold_start_s: float = 0.0
    cold_start_cpu_s: float = 0.0


class WorkerSet:
    """The worker processes of one variant; `async with` starts and stops them."""

    def __init__(
        self, client: Client, specs: Sequence[ProcessSpec], *, log_dir: Path, timeout: float = 60
    ) -> None:
        self._client = client
        self._specs = specs
        self._log_dir = log_dir
        self._timeout = timeout
        self.running: list[Running] = []

    async def _spawn(self, spec: ProcessSpec) -> Running:
        self._log_dir.mkdir(parents=True, exist_ok=True)
        with (self._log_dir / f"{spec.name}.log").open("ab") as log:
            began = time.perf_counter()
            process = await asyncio.create_subprocess_exec(
                *spec.argv,
                env={**base_env(), **spec.env},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        running = Running(spec, process)
        self.running.append(running)
        kind = WORKFLOW if spec.polls_workflows else ACTIVITY
        deadline = began + self._timeout
        while await task_queue_pollers(self._client, spec.task_queue, kind) == 0:
            if process.returncode is not None:
                raise WorkerProcessError(
                    f"{spec.name} exited with {process.returncode}; see {self._log_dir}"
                )
            if time.perf_counter() > deadline:
                raise WorkerProcessError(f"{spec.name} not polling after {self._timeout}s")
            await asyncio.sleep(0.02)
        running.cold_start_s = round(time.perf_counter() - began, 3)
        running.cold_start_cpu_s = round(cpu_seconds(process.pid), 3)
        return running

    async def __aenter__(self) -> WorkerSet:
        try:
            for spec in self._specs:  # one at a time: each cold start has the machine
                await self._spawn(spec)
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """SIGTERM every worker (killed after 20 s)."""
        await asyncio.gather(*(stop_process(r.process, timeout=20) for r in self.running))

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far, by process name."""
        return {r.spec.name: cpu_seconds(r.process.pid) for r in self.running}

    def peak_rss(self) -> dict[str, float]:
        """Peak RSS in MB, by process name."""
        return {r.spec.name: round(peak_rss_mb(r.process.pid), 1) for r in self.running}

    def cold_starts(self) -> dict[str, float]:
        """Seconds from spawn to first poll, by process name."""
        return {r.spec.name: r.cold_start_s for r in self.running}

    def cold_start_cpu(self) -> dict[str, float]:
        """CPU seconds each process used until its first poll (less noisy than wall time on
        a shared machine)."""
        return {r.spec.name: r.cold_start_cpu_s for r in self.running}

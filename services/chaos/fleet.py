"""Several `rtw worker` processes per queue, each killable and restartable by index."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.contracts import TaskQueue
from services.runtime.devserver import free_port
from services.runtime.local_stack import WorkerProcess

logger = logging.getLogger(__name__)

Replica = tuple[TaskQueue, int]


@dataclass
class Fleet:
    """Worker replicas sharing one Temporal address and one environment (database URL)."""

    env: Mapping[str, str]
    replicas: Mapping[TaskQueue, int]
    log_dir: Path
    workers: dict[Replica, WorkerProcess] = field(default_factory=dict, init=False)
    generation: dict[Replica, int] = field(default_factory=dict, init=False)
    #: Replicas whose restart the caller handles itself (the supervisor leaves them alone).
    held: set[Replica] = field(default_factory=set, init=False)
    #: Deaths the caller caused on purpose (SIGKILL), so the supervisor does not report them.
    injected: set[Replica] = field(default_factory=set, init=False)
    #: Exit codes of deaths nobody injected: `queue-index: code`.
    unexpected_exits: list[str] = field(default_factory=list, init=False)
    restarts: int = field(default=0, init=False)

    def _spawn(self, replica: Replica) -> WorkerProcess:
        queue, index = replica
        self.generation[replica] = self.generation.get(replica, 0) + 1
        log = self.log_dir / f"{queue.value}-{index}.{self.generation[replica]}.log"
        worker = WorkerProcess(queue=queue, health_port=free_port(), env=self.env, log_file=log)
        self.workers[replica] = worker
        return worker

    async def start(self, *, timeout: float = 90.0) -> None:
        """Start every replica and wait until all are ready."""
        for queue, count in self.replicas.items():
            for index in range(count):
                await self._spawn((queue, index)).start()
        await asyncio.gather(*(w.wait_ready(timeout=timeout) for w in self.workers.values()))

    def of(self, queue: TaskQueue) -> list[Replica]:
        """The replicas of one queue."""
        return [r for r in self.workers if r[0] is queue]

    async def supervise(self, *, delay: float = 1.0, injected_codes: frozenset[int]) -> None:
        """Restart replicas that died, as Kubernetes would (run as a task; cancel to stop).

        Exit codes in `injected_codes` (a fault hook's own exit) count as injected.
        """
        while True:
            await asyncio.sleep(0.2)
            for replica, worker in list(self.workers.items()):
                proc = worker.process
                if replica in self.held or proc is None or proc.returncode is None:
                    continue
                if replica not in self.injected and proc.returncode not in injected_codes:
                    self.unexpected_exits.append(
                        f"{replica[0].value}-{replica[1]}: exit {proc.returncode}"
                    )
                self.injected.discard(replica)
                self.held.add(replica)
                try:
                    await asyncio.sleep(delay)
                    await self.restart(replica)
                    self.restarts += 1
                finally:
                    self.held.discard(replica)

    async def settle(self, *, timeout: float = 90.0) -> None:
        """Wait until the supervisor has restarted every replica that died."""
        async with asyncio.timeout(timeout):
            while not self._settled():  # noqa: ASYNC110 - processes have no event to await
                await asyncio.sleep(0.2)

    def _settled(self) -> bool:
        return not self.held and all(
            w.process is not None and w.process.returncode is None for w in self.workers.values()
        )

    async def kill(self, replica: Replica) -> None:
        """SIGKILL one replica (no drain: what an OOM kill or a node loss does); the
        supervisor restarts it."""
        self.injected.add(replica)
        worker = self.workers[replica]
        if worker.process is not None and worker.process.returncode is None:
            worker.process.send_signal(signal.SIGKILL)
            await worker.process.wait()
        logger.info("killed %s-%d", replica[0].value, replica[1])

    async def restart(self, replica: Replica, *, timeout: float = 90.0) -> None:
        """Start a fresh process in the replica's place and wait until it is ready."""
        worker = self._spawn(replica)
        await worker.start()
        await worker.wait_ready(timeout=timeout)

    async def terminate(self, replica: Replica, *, timeout: float = 60.0) -> int:
        """SIGTERM one replica (drain) and return its exit code."""
        return await self.workers[replica].stop(timeout=timeout)

    async def stop(self) -> dict[str, int]:
        """SIGTERM every replica; exit codes by `queue-index`."""
        replicas = list(self.workers)
        codes = await asyncio.gather(*(self.workers[r].stop() for r in replicas))
        return {f"{q.value}-{i}": code for (q, i), code in zip(replicas, codes, strict=True)}

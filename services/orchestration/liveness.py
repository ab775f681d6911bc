"""Are the workers alive? Pollers per task queue, and a `Ping` round trip through each."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.client import Client

from services.contracts import PING_WORKFLOW, PingRequest, PingResult, TaskQueue, queue_name
from services.runtime.pollers import POLLED, describe_pollers


@dataclass(frozen=True)
class QueuePollers:
    """Pollers seen on one task queue (the fewest over the task types it serves)."""

    queue: str
    pollers: int


async def task_queue_pollers(client: Client, task_queue: str, kind: TaskQueueType.ValueType) -> int:
    """Workers polling `task_queue` for one kind of task, as the server last saw them (it
    keeps listing a stopped worker for a few minutes)."""
    return len(await describe_pollers(client, task_queue, kind))


async def queue_pollers(client: Client, *, prefix: str) -> list[QueuePollers]:
    """Pollers of every queue the deployment serves (the fewest over its task kinds)."""
    found = []
    for queue, kinds in POLLED.items():
        name = queue_name(queue, prefix=prefix)
        counts = [await task_queue_pollers(client, name, kind) for kind in kinds]
        found.append(QueuePollers(name, min(counts)))
    return found


async def ping(client: Client, *, prefix: str, timeout: timedelta) -> PingResult:
    """Run `Ping` on the deployment's orchestration queue: one no-op activity per queue."""
    result: PingResult = await client.execute_workflow(
        PING_WORKFLOW,
        PingRequest(caller="rtw ping"),
        id=f"ping-{uuid.uuid4().hex}",
        task_queue=queue_name(TaskQueue.ORCHESTRATION, prefix=prefix),
        result_type=PingResult,
        execution_timeout=timeout,
    )
    return result

"""Builds of the three services as worker processes, and the `rtw deployment` commands the
chart's hooks run (tests/chart checks the rendered hooks run exactly these)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from services.contracts import TaskQueue
from services.runtime.devserver import free_port
from services.runtime.local_stack import WorkerProcess

#: The `--fix` the chart's pre-upgrade guard passes, minus the release-specific commands.
CHART_FIX_STEM = "keep {builds} in versioning.retainedBuilds"


class Build:
    """One build of the three services: three `rtw worker` processes with one build id."""

    def __init__(self, build_id: str, env: dict[str, str], logs: Path, *, breaking: bool = False):
        self.build_id = build_id
        self.workers = {
            queue: WorkerProcess(
                queue=queue,
                health_port=free_port(),
                env={**env, "RTW_BUILD_ID": build_id},
                log_file=logs / f"{build_id}-{queue.value}.log",
                module="tests.integration.breaking_saga"
                if breaking and queue is TaskQueue.ORCHESTRATION
                else "services",
            )
            for queue in TaskQueue
        }

    def identity(self, queue: TaskQueue) -> str:
        """The worker identity (pid@host) the history records for this build's `queue`."""
        process = self.workers[queue].process
        assert process is not None
        return f"{process.pid}@"

    async def start(self) -> None:
        for worker in self.workers.values():
            await worker.start()
        await asyncio.gather(*(w.wait_ready() for w in self.workers.values()))

    async def stop(self) -> dict[TaskQueue, int]:
        codes = await asyncio.gather(*(w.stop() for w in self.workers.values()))
        return dict(zip(self.workers, codes, strict=True))


async def builds_of_workflow_tasks(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The build id recorded on every completed workflow task of a run."""
    history = await handle.fetch_history()
    return [
        event.workflow_task_completed_event_attributes.deployment_version.build_id
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]


def guard_args(
    current: str, retained: Sequence[str], *, allow_stranding: bool = False
) -> list[str]:
    """What the pre-upgrade and pre-rollback hooks run (before their `--fix` text): every
    build the release keeps is a `--keep`, the current one first."""
    args = ["deployment", "guard"]
    for build in (current, *retained):
        args += ["--keep", build]
    return [*args, "--allow-stranding"] if allow_stranding else args


def promote_args(build: str, *, wait: int, queues: Iterable[str]) -> list[str]:
    """What the post-install, post-upgrade and post-rollback hook runs."""
    args = ["deployment", "promote", build, "--wait", str(wait)]
    for queue in queues:
        args += ["--queue", queue]
    return args

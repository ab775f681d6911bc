"""`Ping`: proves every queue has a live worker, moving no money and touching no state."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, VersioningBehavior

with workflow.unsafe.imports_passed_through():
    from services.contracts import (
        PING_TIMEOUT_SECONDS,
        PING_WORKFLOW,
        PingRequest,
        PingResult,
        Pong,
        TaskQueue,
        ping_activity,
        queue_name,
        queue_prefix_of,
    )

#: A queue whose worker does not answer within this is reported as down (the default of
#: `PingRequest.timeout_seconds`).
PING_TIMEOUT = timedelta(seconds=PING_TIMEOUT_SECONDS)


# PINNED: a run lasts seconds; pinning it to the current build is what makes it a probe of it.
@workflow.defn(name=PING_WORKFLOW, versioning_behavior=VersioningBehavior.PINNED)
class Ping:
    """Runs each queue's no-op `<queue>.ping` activity once, in parallel; fails with the
    queue that did not answer in time.

    Also the gate of a new orchestration build under Temporal's worker controller: started
    pinned to that build, its `orchestration.ping` can only be answered by that build's
    workers (a pinned workflow's activities on its own task queue stay on its version), so
    a build that does not serve the queue's activities fails the gate and is never ramped.
    """

    @workflow.run
    async def run(self, request: PingRequest) -> PingResult:
        """One pong per queue."""
        prefix = queue_prefix_of(workflow.info().task_queue)
        answers = await asyncio.gather(
            *(
                workflow.execute_activity(
                    ping_activity(queue),
                    request,
                    task_queue=queue_name(queue, prefix=prefix),
                    result_type=Pong,
                    schedule_to_close_timeout=timedelta(seconds=request.timeout_seconds),
                    retry_policy=RetryPolicy(maximum_attempts=1),
                )
                for queue in TaskQueue
            )
        )
        return PingResult(answers=list(answers))


@workflow.defn(name=PING_WORKFLOW)
class UnversionedPing(Ping):
    """`Ping` for workers with Worker Versioning off: the same workflow without a
    versioning behavior (a server refuses one from an unversioned worker). Kept in this
    module so that a run's sandbox imports nothing more."""

    @workflow.run
    async def run(self, request: PingRequest) -> PingResult:
        """See `Ping.run`."""
        return await super().run(request)

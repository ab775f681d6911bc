"""Who polls a task queue, as the server sees it (DescribeTaskQueue)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import PollerInfo
from temporalio.api.taskqueue.v1 import TaskQueue as TaskQueueRef
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from services.contracts import TaskQueue

#: What each queue's workers poll (the orchestration worker runs workflows and activities).
POLLED: dict[TaskQueue, tuple[TaskQueueType.ValueType, ...]] = {
    TaskQueue.ORCHESTRATION: (
        TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    ),
    TaskQueue.PAYMENTS: (TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,),
    TaskQueue.NOTIFICATIONS: (TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,),
}


async def describe_pollers(
    client: Client,
    task_queue: str,
    kind: TaskQueueType.ValueType,
    *,
    timeout: timedelta = timedelta(seconds=5),
) -> Sequence[PollerInfo]:
    """The pollers of `task_queue` for one kind of task, as the server last saw them (it
    keeps listing a stopped worker for a few minutes)."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueueRef(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=kind,
        ),
        timeout=timeout,
    )
    return list(response.pollers)

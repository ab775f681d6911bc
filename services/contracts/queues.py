"""Task-queue names: the one place every service and client takes them from."""

from enum import StrEnum


class TaskQueue(StrEnum):
    """The three task queues rtw serves, one worker service each (defaults; configurable)."""

    ORCHESTRATION = "orchestration"
    PAYMENTS = "payments"
    NOTIFICATIONS = "notifications"


def queue_name(queue: TaskQueue, *, prefix: str = "") -> str:
    """The task-queue name of a service under an optional deployment prefix."""
    return f"{prefix}{queue.value}"


def queue_prefix_of(orchestration_queue: str) -> str:
    """The prefix a deployment uses, read off the orchestration queue's name.

    Workflows call this with their own task queue, so they reach the other queues of the
    same deployment without any configuration of their own.
    """
    if not orchestration_queue.endswith(TaskQueue.ORCHESTRATION.value):
        raise ValueError(
            f"orchestration task queue {orchestration_queue!r} must end in "
            f"{TaskQueue.ORCHESTRATION.value!r}"
        )
    return orchestration_queue.removesuffix(TaskQueue.ORCHESTRATION.value)

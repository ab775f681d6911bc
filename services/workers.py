"""Which worker each task queue runs: the one table `rtw worker QUEUE` looks up.

Each factory is imported only when its queue is served: a payments worker does not load
the workflows, nor an orchestration worker the ledger.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, cast

from services.contracts import TaskQueue

if TYPE_CHECKING:
    from services.runtime.worker_host import WorkerFactory

#: Module and name of each queue's worker factory.
WORKER_FACTORIES: dict[TaskQueue, tuple[str, str]] = {
    TaskQueue.ORCHESTRATION: ("services.orchestration.worker", "orchestration_worker"),
    TaskQueue.PAYMENTS: ("services.payments.worker", "payments_worker"),
    TaskQueue.NOTIFICATIONS: ("services.notifications.worker", "notifications_worker"),
}


def worker_factory(queue: TaskQueue) -> WorkerFactory:
    """The factory of the worker serving `queue` (importing its service on first use)."""
    module, name = WORKER_FACTORIES[queue]
    return cast("WorkerFactory", getattr(importlib.import_module(module), name))

"""Which worker each task queue runs: the one table `rtw worker QUEUE` looks up."""

from __future__ import annotations

from services.contracts import TaskQueue
from services.notifications import notifications_worker
from services.orchestration import orchestration_worker
from services.payments import payments_worker
from services.runtime.worker_host import WorkerFactory

WORKER_FACTORIES: dict[TaskQueue, WorkerFactory] = {
    TaskQueue.ORCHESTRATION: orchestration_worker,
    TaskQueue.PAYMENTS: payments_worker,
    TaskQueue.NOTIFICATIONS: notifications_worker,
}

"""Notifications worker wiring: outbox channel → activities on the `notifications` queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client
from temporalio.worker import Worker

from services.contracts import TaskQueue
from services.notifications.activities import NotificationActivities
from services.notifications.outbox import outbox_for
from services.runtime.config import Settings
from services.runtime.database import Database, StoreIdentity
from services.runtime.ping import ping_activity_for
from services.runtime.worker_host import worker_options


@asynccontextmanager
async def notifications_worker(
    client: Client, settings: Settings, db: Database, store: StoreIdentity
) -> AsyncIterator[Worker]:
    """A worker running the notification activities over the outbox in `db`."""
    activities = NotificationActivities(
        channel=outbox_for(db), hold_seconds=settings.fault_step_delay_ms / 1000
    )
    yield Worker(
        client,
        activities=[activities.send, ping_activity_for(TaskQueue.NOTIFICATIONS, store=store)],
        **worker_options(settings, TaskQueue.NOTIFICATIONS, store),  # type: ignore[arg-type]
    )

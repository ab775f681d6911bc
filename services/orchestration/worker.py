"""Orchestration worker wiring: the workflows plus orchestration-local activities."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client
from temporalio.worker import Worker

from services.contracts import TaskQueue
from services.orchestration.inventory import InventoryActivities, SqliteInventory
from services.orchestration.order_saga import OrderSaga
from services.runtime.config import Settings
from services.runtime.worker_host import worker_options

#: Every workflow type this service runs.
WORKFLOWS: list[type] = [OrderSaga]


@asynccontextmanager
async def orchestration_worker(client: Client, settings: Settings) -> AsyncIterator[Worker]:
    """A worker running the workflows and the inventory activities, owning the store."""
    store = SqliteInventory(settings.inventory_path)
    inventory = InventoryActivities(store=store)
    try:
        yield Worker(
            client,
            workflows=WORKFLOWS,
            activities=[inventory.reserve, inventory.release],
            **worker_options(settings, TaskQueue.ORCHESTRATION),  # type: ignore[arg-type]
        )
    finally:
        await store.close()

"""Orchestration worker wiring: the workflows plus orchestration-local activities."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client
from temporalio.worker import Worker

from services.contracts import TaskQueue
from services.orchestration.carrier import CarrierActivities, PolicyActivities
from services.orchestration.inventory import InventoryActivities, SqliteInventory
from services.orchestration.order_saga import OrderSaga
from services.orchestration.reconciliation import Reconciliation
from services.orchestration.saga_outcomes import ReconciliationActivities
from services.orchestration.settings import OrchestrationSettings
from services.orchestration.shipment import Shipment
from services.orchestration.subscription import Subscription
from services.runtime.config import Settings
from services.runtime.worker_host import worker_options

#: Every workflow type this service runs.
WORKFLOWS: list[type] = [OrderSaga, Shipment, Subscription, Reconciliation]


@asynccontextmanager
async def orchestration_worker(client: Client, settings: Settings) -> AsyncIterator[Worker]:
    """A worker running the workflows and the orchestration-local activities."""
    local = OrchestrationSettings()
    store = SqliteInventory(settings.inventory_path)
    inventory = InventoryActivities(store=store)
    policy = PolicyActivities(policy=local.order_policy())
    carrier = CarrierActivities(client=client, auto_deliver=local.simulated_carrier_auto_deliver)
    outcomes = ReconciliationActivities(client=client)
    try:
        yield Worker(
            client,
            workflows=WORKFLOWS,
            activities=[
                inventory.reserve,
                inventory.release,
                policy.order_policy,
                carrier.book_shipment,
                outcomes.saga_outcomes,
            ],
            **worker_options(settings, TaskQueue.ORCHESTRATION),  # type: ignore[arg-type]
        )
    finally:
        await store.close()

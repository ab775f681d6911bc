"""Orchestration worker wiring: the workflows plus orchestration-local activities."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client
from temporalio.worker import Worker

from services.contracts import TaskQueue
from services.events import events_for
from services.orchestration.carrier import CarrierActivities, PolicyActivities
from services.orchestration.claims import ClaimActivities, claims_for
from services.orchestration.event_recording import EventActivities
from services.orchestration.idempotency import IdempotencyKey
from services.orchestration.inventory import DEFAULT_CATALOG, InventoryActivities, inventory_for
from services.orchestration.order_saga import OrderSaga
from services.orchestration.ping import Ping
from services.orchestration.reconciliation import Reconciliation
from services.orchestration.saga_outcomes import ReconciliationActivities
from services.orchestration.search_attributes import order_search_attributes_registered
from services.orchestration.settings import OrchestrationSettings
from services.orchestration.shipment import Shipment
from services.orchestration.subscription import Subscription
from services.orchestration.unversioned import UNVERSIONED_WORKFLOWS
from services.runtime.config import Settings
from services.runtime.database import Database, StoreIdentity
from services.runtime.ping import ping_activity_for
from services.runtime.worker_host import worker_options

#: Every workflow type this service runs, each with its versioning behavior.
WORKFLOWS: list[type] = [OrderSaga, Shipment, Subscription, Reconciliation, Ping, IdempotencyKey]


def workflows_for(settings: Settings) -> list[type]:
    """`WORKFLOWS`, or their behavior-free twins when Worker Versioning is off."""
    return WORKFLOWS if settings.versioning.worker_versioning else UNVERSIONED_WORKFLOWS


@asynccontextmanager
async def orchestration_worker(
    client: Client, settings: Settings, db: Database, store: StoreIdentity
) -> AsyncIterator[Worker]:
    """A worker running the workflows and the orchestration-local activities (stock and
    order claims in `db`)."""
    local = OrchestrationSettings()
    stock = inventory_for(db)
    await stock.seed(DEFAULT_CATALOG)
    hold = settings.fault_step_delay_ms / 1000
    inventory = InventoryActivities(store=stock, hold_seconds=hold)
    claims = ClaimActivities(store=claims_for(db), catalog=stock, hold_seconds=hold)
    has_attributes = await order_search_attributes_registered(client)
    policy = PolicyActivities(
        policy=local.order_policy().model_copy(
            update={
                "search_attributes": has_attributes,
                # customer ids are personal; search attributes are stored in the clear
                "customer_search_attribute": settings.temporal.codec.keys_file is None,
            }
        )
    )
    events = events_for(db)
    recorder = EventActivities(store=events)
    carrier = CarrierActivities(
        client=client, auto_deliver=local.simulated_carrier_auto_deliver, events=events
    )
    outcomes = ReconciliationActivities(client=client)
    yield Worker(
        client,
        workflows=workflows_for(settings),
        activities=[
            claims.claim_order,
            inventory.reserve,
            inventory.release,
            policy.order_policy,
            carrier.book_shipment,
            recorder.record_order_events,
            outcomes.saga_outcomes,
            ping_activity_for(TaskQueue.ORCHESTRATION, store=store),
        ],
        # An update refused by its validator is echoed back to the server in the
        # workflow task; with the SDK's own 2 MB check on, a hostile >2 MB update fails
        # that task twice and its caller waits 20 s (measured). Off, the server refuses
        # the update at once (FAILED_PRECONDITION) and no task fails. rtw's workflows
        # keep their own payloads far below the limit (bounded inputs and status).
        disable_payload_error_limit=True,
        **worker_options(settings, TaskQueue.ORCHESTRATION, store),  # type: ignore[arg-type]
    )

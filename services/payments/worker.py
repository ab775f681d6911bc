"""Payments worker wiring: ledger + provider → activities on the `payments` queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client
from temporalio.worker import Worker

from services.contracts import TaskQueue
from services.events import events_for
from services.payments.activities import PaymentActivities
from services.payments.ledger import Ledger
from services.payments.ledger_postgres import PostgresLedger
from services.payments.ledger_sqlite import SqliteLedger
from services.payments.provider import SimulatedProvider
from services.runtime.config import Settings
from services.runtime.database import Database, PostgresDatabase, StoreIdentity
from services.runtime.ping import ping_activity_for
from services.runtime.worker_host import worker_options


def ledger_for(db: Database) -> Ledger:
    """The ledger backend of the configured database."""
    return PostgresLedger(db) if isinstance(db, PostgresDatabase) else SqliteLedger(db)


@asynccontextmanager
async def payments_worker(
    client: Client, settings: Settings, db: Database, store: StoreIdentity
) -> AsyncIterator[Worker]:
    """A worker running the payment activities over the ledger in `db`."""
    provider = SimulatedProvider(latency_ms=settings.payments_provider_latency_ms)
    activities = PaymentActivities(
        ledger=ledger_for(db),
        provider=provider,
        events=events_for(db),
        crash_after_capture=settings.fault_crash_after_capture,
    )
    yield Worker(
        client,
        activities=[
            activities.authorize,
            activities.capture,
            activities.void,
            activities.refund,
            activities.charge,
            activities.ledger_summary,
            ping_activity_for(TaskQueue.PAYMENTS, store=store),
        ],
        **worker_options(settings, TaskQueue.PAYMENTS, store),  # type: ignore[arg-type]
    )

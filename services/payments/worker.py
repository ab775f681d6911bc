"""Payments worker wiring: ledger + provider → activities on the `payments` queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client
from temporalio.worker import Worker

from services.contracts import TaskQueue
from services.payments.activities import PaymentActivities
from services.payments.ledger import SqliteLedger
from services.payments.provider import SimulatedProvider
from services.runtime.config import Settings
from services.runtime.worker_host import worker_options


@asynccontextmanager
async def payments_worker(client: Client, settings: Settings) -> AsyncIterator[Worker]:
    """A worker running the payment activities, owning its ledger connection."""
    ledger = SqliteLedger(settings.ledger_path)
    provider = SimulatedProvider(latency_ms=settings.payments_provider_latency_ms)
    activities = PaymentActivities(ledger=ledger, provider=provider)
    try:
        yield Worker(
            client,
            activities=[
                activities.authorize,
                activities.capture,
                activities.void,
                activities.refund,
                activities.charge,
                activities.ledger_summary,
            ],
            **worker_options(settings, TaskQueue.PAYMENTS),  # type: ignore[arg-type]
        )
    finally:
        await ledger.close()

"""What every payment activity shares: results from ledger entries, typed refusals, and
heartbeats while the provider works."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Protocol, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from services.contracts import (
    PAYMENT_DECLINED,
    OrderEvent,
    PaymentResult,
)
from services.payments.ledger import EntryKind, LedgerEntry, LedgerViolationError, now_iso
from services.payments.provider import PaymentDeclinedError

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds between heartbeats while a provider call is in flight (the SDK throttles them to
#: 80 % of the activity's heartbeat timeout), so a killed worker is noticed within that timeout.
HEARTBEAT_EVERY = 1.0


def result_of(entry: LedgerEntry) -> PaymentResult:
    return PaymentResult(
        idempotency_key=entry.key,
        kind=entry.kind.value,
        amount_cents=entry.amount_cents,
        currency=entry.currency,
        provider_ref=entry.provider_ref,
    )


def noop(key: str, kind: EntryKind, currency: str = "") -> PaymentResult:
    return PaymentResult(
        idempotency_key=key, kind=kind.value, amount_cents=0, currency=currency, applied=False
    )


def declined(exc: PaymentDeclinedError) -> ApplicationError:
    """A decline: a business outcome (benign, non-retryable), not a worker fault."""
    return ApplicationError(
        str(exc),
        type=PAYMENT_DECLINED,
        non_retryable=True,
        category=ApplicationErrorCategory.BENIGN,
    )


def refused(violation: LedgerViolationError) -> ApplicationError:
    """A state-machine violation: non-retryable, typed, the money unchanged."""
    return ApplicationError(str(violation), type=violation.type, non_retryable=True)


@asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    """Heartbeat in the background while the body runs (no-op outside an activity)."""
    if not activity.in_activity():
        yield
        return

    async def beat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            activity.heartbeat()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()


async def call_provider(provider_call: Awaitable[T]) -> T:
    async with _heartbeating():
        return await provider_call


class Keyed(Protocol):
    """Any payment request: an idempotency key and the order it belongs to."""

    @property
    def idempotency_key(self) -> str: ...

    @property
    def order_id(self) -> str: ...

    @property
    def events(self) -> list[OrderEvent]: ...


def planned_entry(
    request: Keyed,
    kind: EntryKind,
    amount_cents: int,
    currency: str,
    *,
    ref: str = "",
    parent: str | None = None,
) -> LedgerEntry:
    return LedgerEntry(
        key=request.idempotency_key,
        order_id=request.order_id,
        kind=kind,
        amount_cents=amount_cents,
        currency=currency,
        provider_ref=ref,
        created_at=now_iso(),
        parent_key=parent,
    )

"""Stand-in activities registered under the real activity names, for saga unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from services.contracts import (
    AUTHORIZE_PAYMENT,
    CAPTURE_PAYMENT,
    CHARGE_PAYMENT,
    LEDGER_SUMMARY,
    OUT_OF_STOCK,
    PAYMENT_DECLINED,
    REFUND_PAYMENT,
    RELEASE_INVENTORY,
    RESERVE_INVENTORY,
    SEND_NOTIFICATION,
    VOID_AUTHORIZATION,
    AuthorizePaymentRequest,
    CapturePaymentRequest,
    ChargePaymentRequest,
    InventoryResult,
    LedgerSummary,
    LedgerSummaryRequest,
    NotificationReceipt,
    NotificationRequest,
    PaymentResult,
    RefundPaymentRequest,
    ReleaseInventoryRequest,
    ReserveInventoryRequest,
    VoidAuthorizationRequest,
)
from services.events import EventStore

Hook = Callable[[Any], Any]


@dataclass
class Recorder:
    """Calls made to the stand-ins, in order, with the task queue each ran on."""

    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    hooks: dict[str, Hook] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    #: Where the order events a request carries are written once its hook passed (as the
    #: real step writes them with its own row); None: not written.
    events: EventStore | None = None

    def names(self) -> list[str]:
        """Activity names in call order (retries included)."""
        return [name for name, _, _ in self.calls]

    async def record(self, name: str, request: Any) -> None:
        info = activity.info()
        self.calls.append((name, info.task_queue, request))
        self.attempts[name] = info.attempt
        hook = self.hooks.get(name)
        if hook is not None:
            result = hook(request)
            if asyncio.iscoroutine(result):
                await result
        if self.events is not None and getattr(request, "events", None):
            await self.events.record(request.events)


def declined(_: Any) -> None:
    raise ApplicationError("card declined", type=PAYMENT_DECLINED, non_retryable=True)


def out_of_stock(_: Any) -> None:
    raise ApplicationError("not enough stock: sku-1", type=OUT_OF_STOCK, non_retryable=True)


class StandIns:
    """Payment, inventory and notification activities that only record and obey hooks."""

    def __init__(self, recorder: Recorder) -> None:
        self.rec = recorder

    @activity.defn(name=AUTHORIZE_PAYMENT)
    async def authorize(self, r: AuthorizePaymentRequest) -> PaymentResult:
        await self.rec.record(AUTHORIZE_PAYMENT, r)
        return PaymentResult(
            idempotency_key=r.idempotency_key,
            kind="authorization",
            amount_cents=r.amount_cents,
            currency=r.currency,
            provider_ref=f"auth_{r.idempotency_key}",
        )

    @activity.defn(name=CAPTURE_PAYMENT)
    async def capture(self, r: CapturePaymentRequest) -> PaymentResult:
        await self.rec.record(CAPTURE_PAYMENT, r)
        return PaymentResult(
            idempotency_key=r.idempotency_key,
            kind="capture",
            amount_cents=3000,
            currency="USD",
            provider_ref=f"capture_{r.idempotency_key}",
        )

    @activity.defn(name=VOID_AUTHORIZATION)
    async def void(self, r: VoidAuthorizationRequest) -> PaymentResult:
        await self.rec.record(VOID_AUTHORIZATION, r)
        return PaymentResult(
            idempotency_key=r.idempotency_key,
            kind="void",
            amount_cents=3000,
            currency="USD",
            provider_ref=f"void_{r.idempotency_key}",
        )

    @activity.defn(name=REFUND_PAYMENT)
    async def refund(self, r: RefundPaymentRequest) -> PaymentResult:
        await self.rec.record(REFUND_PAYMENT, r)
        return PaymentResult(
            idempotency_key=r.idempotency_key,
            kind="refund",
            amount_cents=3000,
            currency="USD",
            provider_ref=f"refund_{r.idempotency_key}",
        )

    @activity.defn(name=CHARGE_PAYMENT)
    async def charge(self, r: ChargePaymentRequest) -> PaymentResult:
        await self.rec.record(CHARGE_PAYMENT, r)
        return PaymentResult(
            idempotency_key=r.idempotency_key,
            kind="capture",
            amount_cents=r.amount_cents,
            currency=r.currency,
        )

    @activity.defn(name=LEDGER_SUMMARY)
    async def ledger_summary(self, r: LedgerSummaryRequest) -> LedgerSummary:
        await self.rec.record(LEDGER_SUMMARY, r)
        return self.ledger

    ledger = LedgerSummary()

    @activity.defn(name=RESERVE_INVENTORY)
    async def reserve(self, r: ReserveInventoryRequest) -> InventoryResult:
        await self.rec.record(RESERVE_INVENTORY, r)
        return InventoryResult(reservation_key=r.reservation_key, applied=True)

    @activity.defn(name=RELEASE_INVENTORY)
    async def release(self, r: ReleaseInventoryRequest) -> InventoryResult:
        await self.rec.record(RELEASE_INVENTORY, r)
        return InventoryResult(reservation_key=r.reservation_key, applied=True)

    @activity.defn(name=SEND_NOTIFICATION)
    async def send(self, r: NotificationRequest) -> NotificationReceipt:
        await self.rec.record(SEND_NOTIFICATION, r)
        return NotificationReceipt(dedupe_key=r.dedupe_key, channel="test")

    def payments(self) -> list[Callable[..., Any]]:
        return [
            self.authorize,
            self.capture,
            self.void,
            self.refund,
            self.charge,
            self.ledger_summary,
        ]

    def inventory(self) -> list[Callable[..., Any]]:
        return [self.reserve, self.release]

    def notifications(self) -> list[Callable[..., Any]]:
        return [self.send]

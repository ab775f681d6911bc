"""Payment activities: each checks the ledger, calls the provider with the same key, records."""

from __future__ import annotations

import logging
from typing import Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from services.contracts import (
    AUTHORIZATION_MISSING,
    AUTHORIZE_PAYMENT,
    CAPTURE_PAYMENT,
    CHARGE_PAYMENT,
    LEDGER_SUMMARY,
    PAYMENT_DECLINED,
    REFUND_PAYMENT,
    VOID_AUTHORIZATION,
    AuthorizePaymentRequest,
    CapturePaymentRequest,
    ChargePaymentRequest,
    LedgerSummary,
    LedgerSummaryRequest,
    OrderMoney,
    PaymentResult,
    RefundPaymentRequest,
    VoidAuthorizationRequest,
)
from services.payments.ledger import EntryKind, Ledger, LedgerEntry, now_iso
from services.payments.provider import PaymentDeclinedError, PaymentProvider

logger = logging.getLogger(__name__)


def _result(entry: LedgerEntry) -> PaymentResult:
    return PaymentResult(
        idempotency_key=entry.key,
        kind=entry.kind.value,
        amount_cents=entry.amount_cents,
        currency=entry.currency,
        provider_ref=entry.provider_ref,
    )


def _noop(key: str, kind: EntryKind, currency: str = "") -> PaymentResult:
    return PaymentResult(
        idempotency_key=key, kind=kind.value, amount_cents=0, currency=currency, applied=False
    )


class _Keyed(Protocol):
    """Any payment request: an idempotency key and the order it belongs to."""

    @property
    def idempotency_key(self) -> str: ...

    @property
    def order_id(self) -> str: ...


class PaymentActivities:
    """Money movements, exactly once per idempotency key under retries and crashes.

    Order of operations: look the key up in the ledger (done before → same answer), else
    call the provider with the same key (it dedupes a call that happened before a crash),
    then record. A crash between the provider call and the record is healed by the retry.
    """

    def __init__(self, *, ledger: Ledger, provider: PaymentProvider) -> None:
        self._ledger = ledger
        self._provider = provider

    async def _record(
        self, request: _Keyed, kind: EntryKind, amount_cents: int, currency: str, ref: str
    ) -> LedgerEntry:
        """Record a movement under the request's idempotency key (first write wins)."""
        return await self._ledger.record(
            LedgerEntry(
                key=request.idempotency_key,
                order_id=request.order_id,
                kind=kind,
                amount_cents=amount_cents,
                currency=currency,
                provider_ref=ref,
                created_at=now_iso(),
            )
        )

    @activity.defn(name=AUTHORIZE_PAYMENT)
    async def authorize(self, request: AuthorizePaymentRequest) -> PaymentResult:
        """Hold the order total on the payment method; a decline is a business failure."""
        if done := await self._ledger.get(request.idempotency_key):
            return _result(done)
        try:
            charge = await self._provider.authorize(
                idempotency_key=request.idempotency_key,
                payment_method=request.payment_method,
                amount_cents=request.amount_cents,
                currency=request.currency,
            )
        except PaymentDeclinedError as exc:
            raise ApplicationError(str(exc), type=PAYMENT_DECLINED, non_retryable=True) from exc
        entry = await self._record(
            request,
            EntryKind.AUTHORIZATION,
            request.amount_cents,
            request.currency,
            charge.reference,
        )
        logger.info(
            "authorized %s %s for order %s", entry.amount_cents, entry.currency, entry.order_id
        )
        return _result(entry)

    @activity.defn(name=CAPTURE_PAYMENT)
    async def capture(self, request: CapturePaymentRequest) -> PaymentResult:
        """Capture the full authorized amount."""
        if done := await self._ledger.get(request.idempotency_key):
            return _result(done)
        auth = await self._ledger.get(request.authorization_key)
        if auth is None:
            raise ApplicationError(
                f"no authorization {request.authorization_key!r} to capture",
                type=AUTHORIZATION_MISSING,
                non_retryable=True,
            )
        charge = await self._provider.capture(
            idempotency_key=request.idempotency_key, authorization_ref=auth.provider_ref
        )
        entry = await self._record(
            request, EntryKind.CAPTURE, auth.amount_cents, auth.currency, charge.reference
        )
        return _result(entry)

    @activity.defn(name=VOID_AUTHORIZATION)
    async def void(self, request: VoidAuthorizationRequest) -> PaymentResult:
        """Release an uncaptured authorization; no-op when none exists or it was captured."""
        if done := await self._ledger.get(request.idempotency_key):
            return _result(done)
        auth = await self._ledger.get(request.authorization_key)
        if auth is None:
            return _noop(request.idempotency_key, EntryKind.VOID)
        order_entries = await self._ledger.entries(order_id=request.order_id)
        if any(e.kind is EntryKind.CAPTURE for e in order_entries):
            return _noop(request.idempotency_key, EntryKind.VOID, auth.currency)
        charge = await self._provider.void(
            idempotency_key=request.idempotency_key, authorization_ref=auth.provider_ref
        )
        entry = await self._record(
            request, EntryKind.VOID, auth.amount_cents, auth.currency, charge.reference
        )
        return _result(entry)

    @activity.defn(name=REFUND_PAYMENT)
    async def refund(self, request: RefundPaymentRequest) -> PaymentResult:
        """Refund the capture in full; no-op when nothing was captured."""
        if done := await self._ledger.get(request.idempotency_key):
            return _result(done)
        capture = await self._ledger.get(request.capture_key)
        if capture is None:
            return _noop(request.idempotency_key, EntryKind.REFUND)
        charge = await self._provider.refund(
            idempotency_key=request.idempotency_key, capture_ref=capture.provider_ref
        )
        entry = await self._record(
            request, EntryKind.REFUND, capture.amount_cents, capture.currency, charge.reference
        )
        return _result(entry)

    @activity.defn(name=CHARGE_PAYMENT)
    async def charge(self, request: ChargePaymentRequest) -> PaymentResult:
        """Authorize and capture in one go (a subscription cycle), once per key.

        Recorded as one capture entry under the request's key; a decline is a business
        failure and records nothing, so a later attempt (with its own key) can succeed.
        """
        if done := await self._ledger.get(request.idempotency_key):
            return _result(done)
        try:
            auth = await self._provider.authorize(
                idempotency_key=f"{request.idempotency_key}:auth",
                payment_method=request.payment_method,
                amount_cents=request.amount_cents,
                currency=request.currency,
            )
        except PaymentDeclinedError as exc:
            raise ApplicationError(str(exc), type=PAYMENT_DECLINED, non_retryable=True) from exc
        charge = await self._provider.capture(
            idempotency_key=request.idempotency_key, authorization_ref=auth.reference
        )
        entry = await self._record(
            request, EntryKind.CAPTURE, request.amount_cents, request.currency, charge.reference
        )
        logger.info("charged %s %s for %s", entry.amount_cents, entry.currency, entry.order_id)
        return _result(entry)

    @activity.defn(name=LEDGER_SUMMARY)
    async def ledger_summary(self, request: LedgerSummaryRequest) -> LedgerSummary:
        """Read-only: captured and refunded money per order id (orders with a capture)."""
        by_order: dict[str, OrderMoney] = {}
        for entry in await self._ledger.entries():
            if request.since is not None and entry.created_at < request.since:
                continue
            money = by_order.setdefault(
                entry.order_id, OrderMoney(order_id=entry.order_id, currency=entry.currency)
            )
            if entry.kind is EntryKind.CAPTURE:
                money.captured_cents += entry.amount_cents
                money.capture_keys.append(entry.key)
                money.first_capture_at = money.first_capture_at or entry.created_at
            elif entry.kind is EntryKind.REFUND:
                money.refunded_cents += entry.amount_cents
        return LedgerSummary(orders=[m for m in by_order.values() if m.captured_cents])

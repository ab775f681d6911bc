"""Payment activities: check the ledger's state machine, call the provider with the same
key, record. References to earlier movements come from the request (the saga's history)."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from services.contracts import (
    ALREADY_CAPTURED,
    AUTHORIZATION_MISSING,
    AUTHORIZE_PAYMENT,
    CAPTURE_MISSING,
    CAPTURE_PAYMENT,
    CHARGE_PAYMENT,
    LEDGER_SUMMARY,
    REFUND_PAYMENT,
    VOID_AUTHORIZATION,
    AuthorizePaymentRequest,
    CapturePaymentRequest,
    ChargePaymentRequest,
    LedgerSummary,
    LedgerSummaryRequest,
    OpenAuthorization,
    OrderMoney,
    PaymentResult,
    RefundPaymentRequest,
    VoidAuthorizationRequest,
)
from services.events.store import EventStore
from services.payments._movements import (
    Keyed,
    call_provider,
    declined,
    noop,
    planned_entry,
    refused,
    result_of,
)
from services.payments.ledger import EntryKind, Ledger, LedgerEntry, LedgerViolationError
from services.payments.provider import PaymentDeclinedError, PaymentProvider
from services.runtime.settle import to_completion

logger = logging.getLogger(__name__)

#: Exit code of an injected crash (`RTW_FAULT_CRASH_AFTER_CAPTURE`).
CRASH_EXIT_CODE = 70


class PaymentActivities:
    """Money movements, exactly once per idempotency key under retries and crashes.

    Order of operations: the ledger's state machine is checked first (a retry returns the
    recorded answer, a forbidden movement fails typed and non-retryable without touching the
    provider), then the provider is called with the same key (it dedupes a call made before
    a crash), then the movement is recorded, re-checked atomically against racing replicas.
    """

    def __init__(
        self,
        *,
        ledger: Ledger,
        provider: PaymentProvider,
        events: EventStore,
        crash_after_capture: Path | None = None,
    ) -> None:
        self._ledger = ledger
        self._events = events
        self._provider = provider
        self._crash_after_capture = crash_after_capture

    def _maybe_crash_after_capture(self) -> None:
        """Fault injection for `rtw chaos`: die between the ledger's commit and the reply."""
        flag = self._crash_after_capture
        if flag is not None and flag.exists():
            with contextlib.suppress(FileNotFoundError):
                flag.unlink()
                logger.warning("fault injection: exiting after a committed capture")
                os._exit(CRASH_EXIT_CODE)

    async def _preflight(self, entry: LedgerEntry, request: Keyed) -> LedgerEntry | None:
        """The entry a retry recorded before (its events made sure of), or None."""
        try:
            done = await self._ledger.check(entry)
        except LedgerViolationError as violation:
            raise refused(violation) from None
        if done is not None:
            await self._events.record(request.events)
        return done

    async def _unchanged(self, request: Keyed, result: PaymentResult) -> PaymentResult:
        """A step that moved no money still records the order events it was handed."""
        await self._events.record(request.events)
        return result

    async def _record(self, entry: LedgerEntry, request: Keyed) -> LedgerEntry:
        try:
            return await self._ledger.record(entry, request.events)
        except LedgerViolationError as violation:
            logger.error(
                "ledger refused %s for order %s: %s", entry.kind, entry.order_id, violation
            )
            raise refused(violation) from None

    async def _reversed_entry(
        self, key: str, ref_in_saga: str | None, missing_type: str
    ) -> LedgerEntry | None:
        """The entry a compensation reverses; None when it never happened (the saga holds no
        reference and the ledger has no entry). An entry the saga holds but the ledger lacks
        is refused loudly: the stores are not shared, and a silent no-op would leave money
        held."""
        entry = await self._ledger.get(key)
        if entry is None and ref_in_saga is not None:
            raise ApplicationError(
                f"the saga holds {ref_in_saga!r} but the ledger has no {key!r}: "
                "is RTW_DATABASE_URL shared by every replica?",
                type=missing_type,
                non_retryable=True,
            )
        return entry

    @activity.defn(name=AUTHORIZE_PAYMENT)
    async def authorize(self, request: AuthorizePaymentRequest) -> PaymentResult:
        """Hold the order total on the payment method; a decline is a business failure."""
        return await to_completion(self._authorize(request))

    async def _authorize(self, request: AuthorizePaymentRequest) -> PaymentResult:
        planned = planned_entry(
            request, EntryKind.AUTHORIZATION, request.amount_cents, request.currency
        )
        if done := await self._preflight(planned, request):
            return result_of(done)
        try:
            charge = await call_provider(
                self._provider.authorize(
                    idempotency_key=request.idempotency_key,
                    payment_method=request.payment_method,
                    amount_cents=request.amount_cents,
                    currency=request.currency,
                )
            )
        except PaymentDeclinedError as exc:
            raise declined(exc) from exc
        entry = await self._record(
            planned_entry(
                request,
                EntryKind.AUTHORIZATION,
                request.amount_cents,
                request.currency,
                ref=charge.reference,
            ),
            request,
        )
        logger.info(
            "authorized %s %s for order %s", entry.amount_cents, entry.currency, entry.order_id
        )
        return result_of(entry)

    @activity.defn(name=CAPTURE_PAYMENT)
    async def capture(self, request: CapturePaymentRequest) -> PaymentResult:
        """Capture the authorized amount; refused (typed) without a live authorization."""
        return await to_completion(self._capture(request))

    async def _capture(self, request: CapturePaymentRequest) -> PaymentResult:
        auth = await self._ledger.get(request.authorization_key)
        currency = auth.currency if auth else ""
        planned = planned_entry(
            request,
            EntryKind.CAPTURE,
            request.amount_cents,
            currency,
            parent=request.authorization_key,
        )
        if done := await self._preflight(planned, request):
            return result_of(done)
        assert auth is not None  # the pre-flight refuses a capture without its authorization
        if auth.provider_ref != request.authorization_ref:
            raise ApplicationError(
                f"authorization {request.authorization_key!r} has reference "
                f"{auth.provider_ref!r}, the saga holds {request.authorization_ref!r}",
                type=AUTHORIZATION_MISSING,
                non_retryable=True,
            )
        charge = await call_provider(
            self._provider.capture(
                idempotency_key=request.idempotency_key,
                authorization_ref=request.authorization_ref,
            )
        )
        entry = await self._record(
            planned_entry(
                request,
                EntryKind.CAPTURE,
                request.amount_cents,
                auth.currency,
                ref=charge.reference,
                parent=request.authorization_key,
            ),
            request,
        )
        self._maybe_crash_after_capture()
        return result_of(entry)

    @activity.defn(name=VOID_AUTHORIZATION)
    async def void(self, request: VoidAuthorizationRequest) -> PaymentResult:
        """Release an uncaptured authorization.

        A no-op when the authorization never happened (no reference in the saga and none in
        the ledger) or was captured (the refund compensates that). An authorization the saga
        holds but the ledger lacks is refused loudly: the stores are not shared.
        """
        return await to_completion(self._void(request))

    async def _void(self, request: VoidAuthorizationRequest) -> PaymentResult:
        auth = await self._reversed_entry(
            request.authorization_key, request.authorization_ref, AUTHORIZATION_MISSING
        )
        if auth is None:
            return await self._unchanged(request, noop(request.idempotency_key, EntryKind.VOID))
        planned = planned_entry(
            request, EntryKind.VOID, auth.amount_cents, auth.currency, parent=auth.key
        )
        try:  # one read of the state machine: a retry's entry, or why not
            if done := await self._ledger.check(planned):
                return await self._unchanged(request, result_of(done))
        except LedgerViolationError as violation:
            if violation.type == ALREADY_CAPTURED:
                return await self._unchanged(
                    request, noop(request.idempotency_key, EntryKind.VOID, auth.currency)
                )
            raise refused(violation) from None
        charge = await call_provider(
            self._provider.void(
                idempotency_key=request.idempotency_key, authorization_ref=auth.provider_ref
            )
        )
        entry = await self._record(
            planned_entry(
                request,
                EntryKind.VOID,
                auth.amount_cents,
                auth.currency,
                ref=charge.reference,
                parent=auth.key,
            ),
            request,
        )
        return result_of(entry)

    @activity.defn(name=REFUND_PAYMENT)
    async def refund(self, request: RefundPaymentRequest) -> PaymentResult:
        """Refund what is left of the capture; a no-op when nothing was captured."""
        return await to_completion(self._refund(request))

    async def _refund(self, request: RefundPaymentRequest) -> PaymentResult:
        if done := await self._ledger.get(request.idempotency_key):
            return await self._unchanged(request, result_of(done))
        capture = await self._reversed_entry(
            request.capture_key, request.capture_ref, CAPTURE_MISSING
        )
        if capture is None:
            return await self._unchanged(request, noop(request.idempotency_key, EntryKind.REFUND))
        refunded = sum(
            c.amount_cents
            for c in await self._ledger.children(capture.key)
            if c.kind is EntryKind.REFUND
        )
        planned = planned_entry(
            request,
            EntryKind.REFUND,
            capture.amount_cents - refunded,
            capture.currency,
            parent=capture.key,
        )
        if planned.amount_cents == 0:
            return await self._unchanged(
                request, noop(request.idempotency_key, EntryKind.REFUND, capture.currency)
            )
        if done := await self._preflight(planned, request):
            return result_of(done)
        charge = await call_provider(
            self._provider.refund(
                idempotency_key=request.idempotency_key, capture_ref=capture.provider_ref
            )
        )
        entry = await self._record(
            planned_entry(
                request,
                EntryKind.REFUND,
                planned.amount_cents,
                capture.currency,
                ref=charge.reference,
                parent=capture.key,
            ),
            request,
        )
        return result_of(entry)

    @activity.defn(name=CHARGE_PAYMENT)
    async def charge(self, request: ChargePaymentRequest) -> PaymentResult:
        """Authorize and capture in one go (a subscription cycle), once per key.

        Recorded as one capture entry under the request's key; a decline is a business
        failure and records nothing, so a later attempt (with its own key) can succeed.
        """
        return await to_completion(self._charge(request))

    async def _charge(self, request: ChargePaymentRequest) -> PaymentResult:
        planned = planned_entry(request, EntryKind.CAPTURE, request.amount_cents, request.currency)
        if done := await self._preflight(planned, request):
            return result_of(done)
        try:
            auth = await call_provider(
                self._provider.authorize(
                    idempotency_key=f"{request.idempotency_key}:auth",
                    payment_method=request.payment_method,
                    amount_cents=request.amount_cents,
                    currency=request.currency,
                )
            )
        except PaymentDeclinedError as exc:
            raise declined(exc) from exc
        charge = await call_provider(
            self._provider.capture(
                idempotency_key=request.idempotency_key, authorization_ref=auth.reference
            )
        )
        entry = await self._record(
            planned_entry(
                request,
                EntryKind.CAPTURE,
                request.amount_cents,
                request.currency,
                ref=charge.reference,
            ),
            request,
        )
        logger.info("charged %s %s for %s", entry.amount_cents, entry.currency, entry.order_id)
        return result_of(entry)

    @activity.defn(name=LEDGER_SUMMARY)
    async def ledger_summary(self, request: LedgerSummaryRequest) -> LedgerSummary:
        """Read-only, in SQL: saga captures per order, and authorizations left open."""
        totals = await self._ledger.saga_capture_totals(since=request.since)
        by_order: dict[str, OrderMoney] = {}
        for t in totals:
            money = by_order.setdefault(
                t.order_id,
                OrderMoney(
                    order_id=t.order_id, currency=t.currency, first_capture_at=t.first_capture_at
                ),
            )
            money.captured_cents += t.captured_cents
            money.refunded_cents += t.refunded_cents
        dangling = await self._ledger.dangling_authorizations(
            since=request.since, before=request.dangling_before
        )
        return LedgerSummary(
            orders=list(by_order.values()),
            open_authorizations=[
                OpenAuthorization(
                    order_id=a.order_id,
                    idempotency_key=a.key,
                    currency=a.currency,
                    amount_cents=a.amount_cents,
                    authorized_at=a.created_at,
                )
                for a in dangling
            ],
        )

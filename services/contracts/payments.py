"""Payments service contract: activity names and models (queue `payments`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.contracts.events import OrderEvent

AUTHORIZE_PAYMENT = "payments.authorize"
CAPTURE_PAYMENT = "payments.capture"
VOID_AUTHORIZATION = "payments.void"
REFUND_PAYMENT = "payments.refund"

#: Error types raised by payment activities (non-retryable business failures).
PAYMENT_DECLINED = "PaymentDeclined"
AUTHORIZATION_MISSING = "AuthorizationMissing"
#: The ledger's state machine refused a movement (non-retryable; the money is unchanged).
AUTHORIZATION_VOIDED = "AuthorizationVoided"
ALREADY_CAPTURED = "AlreadyCaptured"
CAPTURE_MISSING = "CaptureMissing"
AMOUNT_EXCEEDS_AUTHORIZATION = "AmountExceedsAuthorization"
REFUND_EXCEEDS_CAPTURE = "RefundExceedsCapture"
IDEMPOTENCY_CONFLICT = "IdempotencyConflict"

#: Every error type the ledger raises for a forbidden movement.
LEDGER_VIOLATIONS = frozenset(
    {
        AUTHORIZATION_MISSING,
        AUTHORIZATION_VOIDED,
        ALREADY_CAPTURED,
        CAPTURE_MISSING,
        AMOUNT_EXCEEDS_AUTHORIZATION,
        REFUND_EXCEEDS_CAPTURE,
        IDEMPOTENCY_CONFLICT,
    }
)

#: Largest amount one payment may move, in minor units (fits every store with room to spare).
MAX_PAYMENT_CENTS = 10**12


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    idempotency_key: str = Field(
        min_length=1, max_length=512, description="stable business key: workflow run + step"
    )
    order_id: str = Field(min_length=1, max_length=256)
    events: list[OrderEvent] = Field(
        default_factory=list, description="order events to record with this step's write"
    )


class AuthorizePaymentRequest(_Request):
    """Hold money on the customer's payment method."""

    customer_id: str
    payment_method: str
    amount_cents: int = Field(gt=0, le=MAX_PAYMENT_CENTS)
    currency: str


class CapturePaymentRequest(_Request):
    """Capture the order's authorization. The provider reference and amount come from the
    authorize step's result, carried in the saga's history (never from a local file)."""

    authorization_key: str
    authorization_ref: str = Field(min_length=1)
    amount_cents: int = Field(gt=0, le=MAX_PAYMENT_CENTS)


class VoidAuthorizationRequest(_Request):
    """Release an uncaptured authorization. `authorization_ref` is None when the saga never
    saw the authorize step finish: then a missing ledger entry is a no-op."""

    authorization_key: str
    authorization_ref: str | None = None


class RefundPaymentRequest(_Request):
    """Refund the order's capture in full. `capture_ref` is None when the saga never saw the
    capture finish: then a missing ledger entry is a no-op."""

    capture_key: str
    capture_ref: str | None = None


class PaymentResult(BaseModel):
    """What a payment step did; `applied` is False for a no-op."""

    model_config = ConfigDict(frozen=True)

    idempotency_key: str
    kind: str
    amount_cents: int
    currency: str
    provider_ref: str | None = None
    applied: bool = True


CHARGE_PAYMENT = "payments.charge"
LEDGER_SUMMARY = "payments.ledger_summary"


class ChargePaymentRequest(_Request):
    """Authorize and capture in one go (a subscription cycle); `order_id` is the payer's
    business id, e.g. the subscription's workflow id."""

    customer_id: str
    payment_method: str
    amount_cents: int = Field(gt=0, le=MAX_PAYMENT_CENTS)
    currency: str


class LedgerSummaryRequest(BaseModel):
    """Read-only: saga captures created at or after `since` (ISO 8601), and authorizations
    created in [since, `dangling_before`) that were neither captured nor voided."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    since: str
    dangling_before: str


class OrderMoney(BaseModel):
    """Saga captures and refunds of one order id, in minor units."""

    order_id: str
    currency: str
    captured_cents: int = 0
    refunded_cents: int = 0
    first_capture_at: str | None = None


class OpenAuthorization(BaseModel):
    """An authorization still holding money (neither captured nor voided)."""

    order_id: str
    idempotency_key: str
    currency: str
    amount_cents: int
    authorized_at: str


class LedgerSummary(BaseModel):
    """Answer of `payments.ledger_summary`."""

    orders: list[OrderMoney] = Field(default_factory=list)
    open_authorizations: list[OpenAuthorization] = Field(default_factory=list)

"""Payments service contract: activity names and models (queue `payments`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

AUTHORIZE_PAYMENT = "payments.authorize"
CAPTURE_PAYMENT = "payments.capture"
VOID_AUTHORIZATION = "payments.void"
REFUND_PAYMENT = "payments.refund"

#: Error types raised by payment activities (non-retryable business failures).
PAYMENT_DECLINED = "PaymentDeclined"
AUTHORIZATION_MISSING = "AuthorizationMissing"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    idempotency_key: str = Field(
        min_length=1, description="stable business key: workflow id + step"
    )
    order_id: str = Field(min_length=1)


class AuthorizePaymentRequest(_Request):
    """Hold money on the customer's payment method."""

    customer_id: str
    payment_method: str
    amount_cents: int = Field(gt=0)
    currency: str


class CapturePaymentRequest(_Request):
    """Capture the order's authorization."""

    authorization_key: str


class VoidAuthorizationRequest(_Request):
    """Release an uncaptured authorization (no-op when none or already captured)."""

    authorization_key: str


class RefundPaymentRequest(_Request):
    """Refund the order's capture (no-op when nothing was captured)."""

    capture_key: str


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
    amount_cents: int = Field(gt=0)
    currency: str


class LedgerSummaryRequest(BaseModel):
    """Read-only: money per order id for entries created at or after `since` (ISO 8601)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    since: str | None = None


class OrderMoney(BaseModel):
    """Ledger totals of one order id, in minor units."""

    order_id: str
    currency: str
    capture_keys: list[str] = Field(default_factory=list)
    captured_cents: int = 0
    refunded_cents: int = 0
    first_capture_at: str | None = None


class LedgerSummary(BaseModel):
    """Answer of `payments.ledger_summary`: only orders with a capture."""

    orders: list[OrderMoney] = Field(default_factory=list)

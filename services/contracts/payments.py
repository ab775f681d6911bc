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

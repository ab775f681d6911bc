"""Order saga contract: workflow names, input, status and result models."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    field_validator,
    model_validator,
)
from temporalio.common import SearchAttributeKey

from services.contracts.events import OrderEvent

ORDER_SAGA_WORKFLOW = "OrderSaga"
STATUS_QUERY = "status"

#: Update names (and signals of the same names, for fire-and-forget clients).
APPROVE = "approve"
REJECT = "reject"
#: Update that waits until the saga has validated its input and returns its `status`
#: (sent with update-with-start, so a client learns the validated state at once).
ACCEPTED = "accepted"

#: Orchestration-local (local) activity giving a saga the deployment's order policy.
ORDER_POLICY = "orchestration.order_policy"
#: Orchestration-local activity: the saga's first step, claiming its order id.
CLAIM_ORDER = "orchestration.claim_order"

#: Custom search attributes (Keyword) the saga keeps current when the namespace has them:
#: list orders with `RtwOrderState="awaiting_approval" AND RtwCustomerId="c-1"`.
ORDER_STATE_ATTRIBUTE = "RtwOrderState"
CUSTOMER_ID_ATTRIBUTE = "RtwCustomerId"
ORDER_SEARCH_ATTRIBUTES = (ORDER_STATE_ATTRIBUTE, CUSTOMER_ID_ATTRIBUTE)
#: Keyword set at start by the HTTP gateway: the request's Idempotency-Key, so that a key
#: reused for another order id is found (a client-made random string, nothing personal).
IDEMPOTENCY_KEY_ATTRIBUTE = "RtwIdempotencyKey"
#: The same attributes as typed keys, for the SDK's search-attribute calls.
ORDER_STATE_KEY = SearchAttributeKey.for_keyword(ORDER_STATE_ATTRIBUTE)
CUSTOMER_ID_KEY = SearchAttributeKey.for_keyword(CUSTOMER_ID_ATTRIBUTE)
IDEMPOTENCY_KEY = SearchAttributeKey.for_keyword(IDEMPOTENCY_KEY_ATTRIBUTE)

#: Error types of a saga refused at its start (non-retryable; nothing moved).
INVALID_ORDER = "InvalidOrder"
ORDER_ALREADY_EXISTS = "OrderAlreadyExists"
#: Error type of an update or signal payload that is too large or malformed.
PAYLOAD_TOO_LARGE = "PayloadTooLarge"
INVALID_DECISION = "InvalidDecision"

#: Upper bounds that keep every amount far inside the stores' 64-bit integers.
MAX_QUANTITY = 10_000
MAX_UNIT_PRICE_CENTS = 10**10
MAX_ORDER_TOTAL_CENTS = 10**12
#: Largest approve/reject payload accepted (encoded JSON bytes).
MAX_DECISION_BYTES = 16 * 1024

#: Error types of the approval step.
APPROVAL_REFUSED = "ApprovalRefused"
ORDER_REJECTED = "OrderRejected"
APPROVAL_EXPIRED = "ApprovalExpired"

#: ISO 4217 codes this template accepts. Amounts are always integer minor units.
SUPPORTED_CURRENCIES = frozenset(
    {"USD", "EUR", "GBP", "CHF", "CAD", "AUD", "JPY", "SEK", "NOK", "DKK"}
)

#: Order, customer, SKU and payment-method ids: they end up in workflow ids, idempotency
#: keys and log lines, so letters, digits and `._:-` only (surrounding blanks are dropped).
Identifier = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]{1,128}$"
    ),
]


def order_workflow_id(order_id: str) -> str:
    """Return the saga's workflow id for an order: one saga per order id."""
    return f"order-{order_id}"


class OrderItem(BaseModel):
    """One line of an order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: Identifier
    quantity: int = Field(gt=0, le=MAX_QUANTITY, strict=True)
    unit_price_cents: int = Field(gt=0, le=MAX_UNIT_PRICE_CENTS, strict=True)


class OrderInput(BaseModel):
    """Saga input; plain JSON of this shape works from any client."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_id: Identifier
    customer_id: Identifier
    currency: str = Field(
        description="ISO 4217 code (case-insensitive)",
        json_schema_extra={"enum": list[JsonValue](sorted(SUPPORTED_CURRENCIES))},
    )
    payment_method: Identifier
    items: list[OrderItem] = Field(min_length=1, max_length=500)

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        code = value.strip().upper()
        if code not in SUPPORTED_CURRENCIES:
            raise ValueError(
                f"unknown currency {value!r}; expected one of {sorted(SUPPORTED_CURRENCIES)}"
            )
        return code

    @model_validator(mode="after")
    def _bounded_total(self) -> OrderInput:
        if self.total_cents > MAX_ORDER_TOTAL_CENTS:
            raise ValueError(
                f"order total {self.total_cents} exceeds the maximum of {MAX_ORDER_TOTAL_CENTS} "
                "minor units"
            )
        return self

    @property
    def total_cents(self) -> int:
        """Order total in minor units."""
        return sum(item.quantity * item.unit_price_cents for item in self.items)


class OrderState(StrEnum):
    """Where a saga is; `status` and the result report it."""

    RECEIVED = "received"
    AUTHORIZING = "authorizing"
    RESERVING = "reserving"
    AWAITING_APPROVAL = "awaiting_approval"
    CAPTURING = "capturing"
    CONFIRMING = "confirming"
    SHIPPING = "shipping"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    FAILED = "failed"


class OrderPolicy(BaseModel):
    """Deployment policy a saga reads once at start (through a local activity, so that it
    is recorded in the history and replays deterministically)."""

    model_config = ConfigDict(frozen=True)

    approval_threshold_cents: int = Field(default=100_000, ge=0)
    approval_timeout_seconds: int = Field(default=24 * 3600, gt=0)
    shipment_pickup_sla_seconds: int = Field(default=48 * 3600, gt=0)
    shipment_delivery_sla_seconds: int = Field(default=14 * 24 * 3600, gt=0)
    search_attributes: bool = Field(
        default=False,
        description="the namespace has RtwOrderState and RtwCustomerId: the saga keeps the "
        "state current, so visibility can list orders by state",
    )
    customer_search_attribute: bool = Field(
        default=False,
        description="also set RtwCustomerId (search attributes are never encrypted, so the "
        "orchestration worker turns this off while payloads are encrypted)",
    )


class OrderPolicyRequest(BaseModel):
    """Input of the policy look-up (the order it is for, for logs)."""

    model_config = ConfigDict(frozen=True)

    order_id: str


class ApprovalRequest(BaseModel):
    """Payload of the `approve` and `reject` updates and signals."""

    model_config = ConfigDict(extra="forbid")

    reviewer: str = Field(default="", max_length=256)
    reason: str = Field(default="", max_length=4096)


class OrderClaimRequest(BaseModel):
    """Input of the claim step: this run wants the order id."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    workflow_id: str
    run_id: str
    skus: list[str] = Field(
        default_factory=list, description="checked against the catalogue before the claim"
    )
    events: list[OrderEvent] = Field(
        default_factory=list, description="order events to record with this step's write"
    )


class OrderClaim(BaseModel):
    """The order id is this run's."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    run_id: str


class ApprovalDecision(StrEnum):
    """How the approval step ended."""

    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class ApprovalInfo(BaseModel):
    """The approval step of a large order, as `status` shows it."""

    threshold_cents: int
    deadline: datetime | None = None
    decision: ApprovalDecision | None = None
    reviewer: str | None = None
    reason: str | None = None
    decided_at: datetime | None = None


class ApprovalResult(BaseModel):
    """Answer of the `approve` / `reject` updates."""

    order_id: str
    decision: ApprovalDecision
    reviewer: str
    reason: str = ""


class ShipmentSummary(BaseModel):
    """The order's shipment (child workflow `Shipment`), as `status` shows it."""

    workflow_id: str
    state: str
    tracking_number: str | None = None


class PaymentSummary(BaseModel):
    """Money moved for one order, in minor units."""

    authorized_cents: int = 0
    captured_cents: int = 0
    refunded_cents: int = 0
    voided_cents: int = 0


class FailureInfo(BaseModel):
    """Why a saga did not complete."""

    type: str
    message: str
    step: str | None = None


class OrderStatus(BaseModel):
    """Answer of the `status` query, and the saga's result."""

    order_id: str
    workflow_id: str
    state: OrderState
    currency: str
    total_cents: int
    steps_done: list[str] = Field(default_factory=list)
    compensations_run: list[str] = Field(default_factory=list)
    payment: PaymentSummary = Field(default_factory=PaymentSummary)
    failure: FailureInfo | None = None
    warnings: list[str] = Field(default_factory=list)
    approval: ApprovalInfo | None = None
    shipment: ShipmentSummary | None = None

"""Order events: each business transition of an order, once, with a per-order sequence number.

The saga numbers its events (1, 2, 3, … per order, deterministically) and hands them to the
step that makes the change durable; that step writes them in the same database transaction
as its ledger, stock, claim or outbox row. `(order_id, seq)` is unique, so a retried or
replayed step writes nothing twice. Readers (the gateway's SSE stream, outbound webhooks)
deliver them in `seq` order.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, JsonValue

#: Orchestration-local activity recording events that no other step carries.
RECORD_ORDER_EVENTS = "orchestration.record_order_events"


class OrderEventType(StrEnum):
    """What happened to an order. `order.<state>` for the saga's own transitions (the last
    event of every order is one of the `FINAL_EVENTS`), the other prefixes for facts."""

    RECEIVED = "order.received"
    AUTHORIZED = "payment.authorized"
    RESERVED = "inventory.reserved"
    AWAITING_APPROVAL = "order.awaiting_approval"
    APPROVED = "approval.approved"
    REJECTED_BY_REVIEWER = "approval.rejected"
    APPROVAL_EXPIRED = "approval.expired"
    CAPTURED = "payment.captured"
    SHIPPING = "order.shipping"
    PICKED_UP = "shipment.picked_up"
    IN_TRANSIT = "shipment.in_transit"
    DELIVERED = "shipment.delivered"
    LOST = "shipment.lost"
    COMPENSATING = "order.compensating"
    RELEASED = "compensation.release_inventory"
    VOIDED = "compensation.void_authorization"
    REFUNDED = "compensation.refund_payment"
    FAILURE_NOTIFIED = "compensation.notify_failure"
    COMPLETED = "order.completed"
    COMPENSATED = "order.compensated"
    REJECTED = "order.rejected"
    CANCELLED = "order.cancelled"
    FAILED = "order.failed"


#: The events an order's stream ends with: its outcome.
FINAL_EVENTS = frozenset(
    {
        OrderEventType.COMPLETED,
        OrderEventType.COMPENSATED,
        OrderEventType.REJECTED,
        OrderEventType.CANCELLED,
        OrderEventType.FAILED,
    }
)


def outcome_event(state: str) -> OrderEventType:
    """The final event of an order that ended in `state` (completed, compensated, …)."""
    return OrderEventType(f"order.{state}")


class OrderEvent(BaseModel):
    """One transition of one order: its public fields only (never a payment method, never
    customer data beyond the customer id)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_id: str = Field(min_length=1, max_length=128)
    seq: int = Field(ge=1, description="1, 2, 3, … per order, without gaps")
    type: OrderEventType
    occurred_at: datetime = Field(description="when the saga made the transition")
    data: dict[str, JsonValue] = Field(default_factory=dict)

    @property
    def event_id(self) -> str:
        """Globally unique id: `<order_id>:<seq>` (the `Rtw-Event-Id` of webhooks)."""
        return f"{self.order_id}:{self.seq}"

    @property
    def final(self) -> bool:
        """True for the order's last event."""
        return self.type in FINAL_EVENTS


class RecordEventsRequest(BaseModel):
    """Record events no other step carries; `order_id` alone asks for the last seq."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_id: str
    events: list[OrderEvent] = Field(default_factory=list)


class RecordedEvents(BaseModel):
    """The highest seq recorded for the order (0 for none)."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    last_seq: int = 0

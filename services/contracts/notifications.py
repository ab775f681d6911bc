"""Notifications service contract: activity names and models (queue `notifications`)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from services.contracts.events import OrderEvent

SEND_NOTIFICATION = "notifications.send"


class NotificationKind(StrEnum):
    """Templates the notifications service knows."""

    ORDER_CONFIRMED = "order_confirmed"
    ORDER_FAILED = "order_failed"
    SHIPMENT_ESCALATION = "shipment_escalation"
    SUBSCRIPTION_PAYMENT_FAILED = "subscription_payment_failed"
    SUBSCRIPTION_SUSPENDED = "subscription_suspended"
    RECONCILIATION_ALERT = "reconciliation_alert"


#: Recipient id of notices meant for the operations team, not a customer.
OPS_RECIPIENT = "ops"


class NotificationRequest(BaseModel):
    """A message to one customer; delivered once per `dedupe_key`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dedupe_key: str = Field(min_length=1)
    customer_id: str
    kind: NotificationKind
    order_id: str | None = None
    data: dict[str, str | int] = Field(default_factory=dict)
    events: list[OrderEvent] = Field(
        default_factory=list, description="order events to record with this step's write"
    )


class NotificationReceipt(BaseModel):
    """Proof of delivery; `duplicate` is True when the key was already delivered."""

    model_config = ConfigDict(frozen=True)

    dedupe_key: str
    channel: str
    duplicate: bool = False

"""Shipment contract: the child workflow `Shipment`, its carrier events and booking activity."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from services.contracts.events import OrderEvent

SHIPMENT_WORKFLOW = "Shipment"
CARRIER_EVENT = "carrier_event"

#: Orchestration-local activity that books the shipment with the carrier.
BOOK_SHIPMENT = "carrier.book_shipment"


def shipment_workflow_id(order_id: str) -> str:
    """Workflow id of an order's shipment: one shipment per order."""
    return f"shipment-{order_id}"


class CarrierEventKind(StrEnum):
    """What a carrier reports about a parcel."""

    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    LOST = "lost"


class ShipmentState(StrEnum):
    """Where a shipment is; `delivered` and `lost` are final."""

    BOOKING = "booking"
    AWAITING_PICKUP = "awaiting_pickup"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    LOST = "lost"


class CarrierEvent(BaseModel):
    """Payload of the `carrier_event` signal; applied once per `event_id`."""

    event_id: str = Field(min_length=1)
    event: CarrierEventKind


class ShipmentInput(BaseModel):
    """Input of the `Shipment` child workflow."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_id: str
    customer_id: str
    pickup_sla_seconds: int = Field(default=48 * 3600, gt=0)
    delivery_sla_seconds: int = Field(default=14 * 24 * 3600, gt=0)
    events: list[OrderEvent] = Field(
        default_factory=list, description="the order's events the booking records"
    )
    next_event_seq: int = Field(
        default=0, ge=0, description="seq of the shipment's first carrier event (0: none)"
    )


class BookShipmentRequest(BaseModel):
    """Book a parcel with the carrier (idempotent per `booking_key`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    booking_key: str = Field(min_length=1)
    order_id: str
    shipment_workflow_id: str
    events: list[OrderEvent] = Field(
        default_factory=list, description="order events to record with this step's write"
    )


class ShipmentBooking(BaseModel):
    """The carrier's answer to a booking."""

    tracking_number: str
    simulated_events: bool = False


class AppliedEvent(BaseModel):
    """A carrier event as the shipment saw it."""

    event_id: str
    event: CarrierEventKind
    outcome: str  # applied | stale | ignored_after_final


class ShipmentStatus(BaseModel):
    """Answer of the shipment's `status` query, and its result."""

    order_id: str
    workflow_id: str
    state: ShipmentState
    tracking_number: str | None = None
    events: list[AppliedEvent] = Field(default_factory=list)
    duplicates_ignored: int = 0
    escalations: list[str] = Field(default_factory=list)
    next_event_seq: int = Field(default=0, description="seq the order's next event gets")
    unrecorded_events: list[OrderEvent] = Field(
        default_factory=list, description="carrier events for the saga to record with its next"
    )

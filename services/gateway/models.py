"""What the HTTP API takes and returns, beyond the order contracts it reuses."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.contracts import CarrierEventKind
from services.contracts.orders import Identifier


class FieldError(BaseModel):
    """One invalid field of a request: where it is and what is wrong (never its value)."""

    loc: list[str | int] = Field(
        description='path of the field, e.g. ["body", "items", 0, "quantity"]'
    )
    msg: str = Field(description="what is wrong with it")


class Problem(BaseModel):
    """Every error answer (4xx and 5xx): what went wrong, in one sentence, and its kind.

    Never echoes what the request sent; a 422 also lists the invalid fields in `errors`.
    """

    type: str = Field(description="machine-readable kind, e.g. OrderConflict, ApprovalRefused")
    detail: str = Field(description="for a person")
    errors: list[FieldError] | None = Field(
        default=None, description="422 only: each invalid field of the request"
    )


class OrderSummary(BaseModel):
    """One order as visibility lists it (no worker asked)."""

    order_id: str
    workflow_id: str
    state: str | None = Field(description="RtwOrderState; null until the saga published it")
    customer_id: str | None = None
    started_at: datetime | None = None
    closed_at: datetime | None = None
    total_cents: int | None = None
    currency: str | None = None


class OrderPage(BaseModel):
    """A page of orders; pass `next_page` as `page` for the next one."""

    orders: list[OrderSummary]
    next_page: str | None = None


class CancelAccepted(BaseModel):
    """The saga was asked to cancel; it compensates and ends `cancelled`."""

    order_id: str
    workflow_id: str
    status: str = "cancel_requested"


class CarrierWebhook(BaseModel):
    """A carrier's event for an order's shipment (the `carrier_event` signal plus the order)."""

    model_config = ConfigDict(extra="forbid")

    order_id: Identifier
    event_id: str = Field(min_length=1, max_length=256)
    event: CarrierEventKind


class WebhookAccepted(BaseModel):
    """The event was handed to the shipment (applied once per `event_id`)."""

    order_id: str
    event_id: str
    status: str = "accepted"

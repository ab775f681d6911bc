"""Inventory contract: orchestration-local activities (queue `orchestration`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.contracts.events import OrderEvent
from services.contracts.orders import OrderItem

RESERVE_INVENTORY = "inventory.reserve"
RELEASE_INVENTORY = "inventory.release"

#: Error type for a reservation that cannot be met (non-retryable).
OUT_OF_STOCK = "OutOfStock"


class ReserveInventoryRequest(BaseModel):
    """Reserve every item of an order, all or nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reservation_key: str = Field(min_length=1)
    order_id: str
    items: list[OrderItem]
    events: list[OrderEvent] = Field(
        default_factory=list, description="order events to record with this step's write"
    )


class ReleaseInventoryRequest(BaseModel):
    """Give back a reservation (no-op when it never happened or was released)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reservation_key: str = Field(min_length=1)
    events: list[OrderEvent] = Field(
        default_factory=list, description="order events to record with this step's write"
    )


class InventoryResult(BaseModel):
    """What an inventory step did; `applied` is False for a no-op."""

    model_config = ConfigDict(frozen=True)

    reservation_key: str
    applied: bool

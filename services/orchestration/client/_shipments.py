"""A shipment's carrier events and status."""

from __future__ import annotations

from temporalio.client import Client

from services.contracts import (
    CARRIER_EVENT,
    STATUS_QUERY,
    CarrierEvent,
    ShipmentStatus,
    shipment_workflow_id,
)


async def send_carrier_event(client: Client, order_id: str, event: CarrierEvent) -> None:
    """Signal a carrier event to the order's shipment (applied once per event id)."""
    await client.get_workflow_handle(shipment_workflow_id(order_id)).signal(CARRIER_EVENT, event)


async def shipment_status(client: Client, order_id: str) -> ShipmentStatus:
    """The shipment's `status` query."""
    status: ShipmentStatus = await client.get_workflow_handle(shipment_workflow_id(order_id)).query(
        STATUS_QUERY, result_type=ShipmentStatus
    )
    return status

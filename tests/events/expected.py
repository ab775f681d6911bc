"""What an order's events must be, read off its final status (for tests and the chaos audit)."""

from __future__ import annotations

from typing import Any

DECIDED = {
    "approved": "approval.approved",
    "rejected": "approval.rejected",
    "expired": "approval.expired",
}


def expected_types(status: dict[str, Any], *, carrier: list[str] | None = None) -> list[str]:
    """The event types an order with this final `status` recorded, in order. `carrier`: the
    carrier events its shipment applied (default: picked up, in transit, delivered when it
    was delivered)."""
    steps, compensations = status["steps_done"], status["compensations_run"]
    found = ["order.received"]
    if "authorize_payment" in steps:
        found.append("payment.authorized")
    if "reserve_inventory" in steps:
        found.append("inventory.reserved")
    approval = status.get("approval")
    if approval and approval.get("deadline"):
        found.append("order.awaiting_approval")
        if approval.get("decision"):
            found.append(DECIDED[approval["decision"]])
    if "capture_payment" in steps:
        found.append("payment.captured")
    shipment = status.get("shipment")
    if shipment:
        found.append("order.shipping")
        if carrier is None:
            carrier = (
                ["picked_up", "in_transit", "delivered"] if shipment["state"] == "delivered" else []
            )
        found += [f"shipment.{kind}" for kind in carrier]
    if compensations:
        found.append("order.compensating")
        found += [f"compensation.{name}" for name in compensations]
    found.append(f"order.{status['state']}")
    return found

"""What a command acts on (an order, its shipment, a subscription), so that Temporal's
answers read in those words: `no order o-1`, `order o-1 has ended (completed)`, never the
SDK's `workflow not found for ID` or `workflow execution already completed`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.contracts import order_workflow_id, shipment_workflow_id, subscription_workflow_id

if TYPE_CHECKING:
    from temporalio.client import Client


@dataclass(frozen=True)
class Subject:
    """The thing a command acts on and what it wants to do to it."""

    noun: str
    workflow_id: str
    action: str
    absent: str = ""

    async def not_found(self, client: Client) -> str:
        """The line for a NOT_FOUND answer: there is none, or it has ended already."""
        from temporalio.client import WorkflowExecutionStatus
        from temporalio.service import RPCError, RPCStatusCode

        try:
            description = await client.get_workflow_handle(self.workflow_id).describe()
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
            return self.absent or f"no {self.noun}"
        status = description.status
        if status is None or status is WorkflowExecutionStatus.RUNNING:
            return f"{self.noun} cannot {self.action} now; try again"
        return f"{self.noun} has ended ({status.name.lower()}); nothing to {self.action}"


def order(order_id: str, action: str) -> Subject:
    """An order's saga."""
    return Subject(f"order {order_id}", order_workflow_id(order_id), action)


def shipment(order_id: str, action: str) -> Subject:
    """An order's shipment (it exists once the order ships)."""
    return Subject(
        f"the shipment of order {order_id}",
        shipment_workflow_id(order_id),
        action,
        absent=f"no shipment for order {order_id} (it starts when the order ships)",
    )


def subscription(subscription_id: str, action: str) -> Subject:
    """A subscription."""
    return Subject(
        f"subscription {subscription_id}", subscription_workflow_id(subscription_id), action
    )

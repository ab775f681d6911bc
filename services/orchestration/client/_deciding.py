"""Deciding an order: approve, reject or cancel."""

from __future__ import annotations

from temporalio.client import Client

from services.contracts import APPROVE, REJECT, ApprovalRequest, ApprovalResult
from services.orchestration.client._reading import order_handle


async def cancel_order(client: Client, order_id: str) -> None:
    """Ask the saga to cancel: it compensates what it did and ends `cancelled`.

    Raises `RPCError` NOT_FOUND for an unknown order.
    """
    await order_handle(client, order_id).cancel()


async def decide_order(
    client: Client, order_id: str, decision: str, request: ApprovalRequest
) -> ApprovalResult:
    """Send the `approve` or `reject` update; raises `WorkflowUpdateFailedError` when the
    saga's validator refuses it (no reviewer, already decided or expired, no approval)."""
    if decision not in (APPROVE, REJECT):
        raise ValueError(f"decision must be {APPROVE!r} or {REJECT!r}")
    result: ApprovalResult = await order_handle(client, order_id).execute_update(
        decision, request, result_type=ApprovalResult
    )
    return result

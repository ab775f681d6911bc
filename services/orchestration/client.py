"""Client-side API of the workflows: orders (start once, wait, query, approve/reject),
shipments (carrier events), subscriptions."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ApplicationError,
    CancelledError,
    TerminatedError,
    WorkflowAlreadyStartedError,
)
from temporalio.service import RPCError

from services.contracts import (
    APPROVE,
    CARRIER_EVENT,
    ORDER_SAGA_WORKFLOW,
    REJECT,
    STATUS_QUERY,
    SUBSCRIPTION_WORKFLOW,
    ApprovalRequest,
    ApprovalResult,
    CarrierEvent,
    FailureInfo,
    OrderInput,
    OrderState,
    OrderStatus,
    ShipmentStatus,
    SubscriptionInput,
    SubscriptionStatus,
    order_workflow_id,
    shipment_workflow_id,
    subscription_workflow_id,
)


@dataclass(frozen=True)
class StartedOrder:
    """A saga handle, and whether this call started it (False: it already existed)."""

    handle: WorkflowHandle[object, OrderStatus]
    created: bool

    @property
    def workflow_id(self) -> str:
        """The saga's workflow id."""
        return self.handle.id


@dataclass(frozen=True)
class OrderOutcome:
    """How a saga ended: its final status, or the failure that ended it."""

    workflow_id: str
    status: OrderStatus | None
    error: FailureInfo | None = None

    @property
    def completed(self) -> bool:
        """True only for an order that went through."""
        return self.status is not None and self.status.state is OrderState.COMPLETED


async def start_order(client: Client, order: OrderInput, *, task_queue: str) -> StartedOrder:
    """Start the saga for `order`, or return the existing one: one saga per order id."""
    workflow_id = order_workflow_id(order.order_id)
    try:
        handle: WorkflowHandle[object, OrderStatus] = await client.start_workflow(
            ORDER_SAGA_WORKFLOW,
            order,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            result_type=OrderStatus,
        )
    except WorkflowAlreadyStartedError:
        return StartedOrder(order_handle(client, order.order_id), created=False)
    return StartedOrder(handle, created=True)


def order_handle(client: Client, order_id: str) -> WorkflowHandle[object, OrderStatus]:
    """Handle of the saga for an order id."""
    return client.get_workflow_handle(order_workflow_id(order_id), result_type=OrderStatus)


async def order_status(client: Client, order_id: str) -> OrderStatus:
    """The saga's `status` query."""
    status: OrderStatus = await order_handle(client, order_id).query(
        STATUS_QUERY, result_type=OrderStatus
    )
    return status


async def wait_for_order(handle: WorkflowHandle[object, OrderStatus]) -> OrderOutcome:
    """Wait for the saga to end and say how it ended."""
    try:
        return OrderOutcome(handle.id, await handle.result())
    except WorkflowFailureError as exc:
        cause = exc.cause
        status: OrderStatus | None = None
        if isinstance(cause, ApplicationError):
            if cause.details:
                try:
                    status = OrderStatus.model_validate(cause.details[0])
                except ValueError:
                    status = None
            error = FailureInfo(type=cause.type or "ApplicationError", message=cause.message)
        elif isinstance(cause, CancelledError | TerminatedError):
            error = FailureInfo(type=type(cause).__name__, message=str(cause))
            try:
                status = await handle.query(STATUS_QUERY, result_type=OrderStatus)
            except RPCError:
                status = None
        else:
            error = FailureInfo(type=type(cause).__name__, message=str(cause))
        return OrderOutcome(handle.id, status, error)


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


async def send_carrier_event(client: Client, order_id: str, event: CarrierEvent) -> None:
    """Signal a carrier event to the order's shipment (applied once per event id)."""
    await client.get_workflow_handle(shipment_workflow_id(order_id)).signal(CARRIER_EVENT, event)


async def shipment_status(client: Client, order_id: str) -> ShipmentStatus:
    """The shipment's `status` query."""
    status: ShipmentStatus = await client.get_workflow_handle(shipment_workflow_id(order_id)).query(
        STATUS_QUERY, result_type=ShipmentStatus
    )
    return status


def subscription_handle(
    client: Client, subscription_id: str
) -> WorkflowHandle[object, SubscriptionStatus]:
    """Handle of a subscription (follows continue-as-new: no run id)."""
    return client.get_workflow_handle(
        subscription_workflow_id(subscription_id), result_type=SubscriptionStatus
    )


async def start_subscription(
    client: Client, subscription: SubscriptionInput, *, task_queue: str
) -> tuple[WorkflowHandle[object, SubscriptionStatus], bool]:
    """Start a subscription once per id; returns its handle and whether this call started it."""
    try:
        handle: WorkflowHandle[object, SubscriptionStatus] = await client.start_workflow(
            SUBSCRIPTION_WORKFLOW,
            subscription,
            id=subscription_workflow_id(subscription.subscription_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            result_type=SubscriptionStatus,
        )
    except WorkflowAlreadyStartedError:
        return subscription_handle(client, subscription.subscription_id), False
    return handle, True

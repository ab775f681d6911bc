"""Client-side API of the order saga: start (once per order), wait, query."""

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
    ORDER_SAGA_WORKFLOW,
    STATUS_QUERY,
    FailureInfo,
    OrderInput,
    OrderState,
    OrderStatus,
    order_workflow_id,
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

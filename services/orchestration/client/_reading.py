"""Reading an order: its handle, its `status`, and how a closed saga ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError
from temporalio.service import RPCError, RPCStatusCode

from services.contracts import STATUS_QUERY, FailureInfo, OrderState, OrderStatus, order_workflow_id
from services.orchestration.liveness import task_queue_pollers


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


def order_handle(client: Client, order_id: str) -> WorkflowHandle[object, OrderStatus]:
    """Handle of the saga for an order id."""
    return client.get_workflow_handle(order_workflow_id(order_id), result_type=OrderStatus)


#: A query needs a worker to answer it; without one the server holds it this long at most.
STATUS_QUERY_TIMEOUT = timedelta(seconds=5)


async def order_status(
    client: Client, order_id: str, *, rpc_timeout: timedelta | None = STATUS_QUERY_TIMEOUT
) -> OrderStatus:
    """The saga's `status` query (answered by an orchestration worker)."""
    status: OrderStatus = await order_handle(client, order_id).query(
        STATUS_QUERY, result_type=OrderStatus, rpc_timeout=rpc_timeout
    )
    return status


async def workflow_pollers(client: Client, task_queue: str) -> int:
    """How many workers poll `task_queue` for workflow tasks (as the server last saw them)."""
    return await task_queue_pollers(client, task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)


class OrderStatusUnavailableError(Exception):
    """Why an order has no `status` to show; the message is one line for a person."""


class OrderNotFoundError(OrderStatusUnavailableError):
    """No saga has this order id."""


async def explain_order(
    client: Client,
    order_id: str,
    *,
    handle: WorkflowHandle[object, OrderStatus] | None = None,
) -> OrderStatus | OrderOutcome:
    """The order's status, within seconds, or how it ended when no status can be had.

    Returns the `status` query's answer, or, for a saga that ended without one (an order
    that failed validation before its handlers existed), its `OrderOutcome` (check
    `.error`). Raises `OrderStatusUnavailableError` (no such order, no worker to answer) and
    lets `RPCError` UNAVAILABLE through (the server is gone).
    """
    handle = handle or order_handle(client, order_id)
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            message = f"no order {order_id} (no workflow {handle.id})"
            raise OrderNotFoundError(message) from None
        raise
    running = description.status is WorkflowExecutionStatus.RUNNING
    if await workflow_pollers(client, description.task_queue) == 0:
        if not running:
            return await wait_for_order(handle)
        raise OrderStatusUnavailableError(
            f"order {order_id} is running but no worker polls task queue "
            f"{description.task_queue!r} to answer its status; start one with "
            "'rtw worker orchestration' (or 'rtw dev')"
        )
    try:
        return await order_status(client, order_id)
    except (WorkflowQueryFailedError, RPCError) as exc:
        if isinstance(exc, RPCError) and exc.status is RPCStatusCode.UNAVAILABLE:
            raise
        if not running:
            return await wait_for_order(handle)
        message = exc.message if isinstance(exc, RPCError) else str(exc)
        raise OrderStatusUnavailableError(f"cannot query order {order_id}: {message}") from None


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
                status = await handle.query(
                    STATUS_QUERY, result_type=OrderStatus, rpc_timeout=STATUS_QUERY_TIMEOUT
                )
            except (RPCError, WorkflowQueryFailedError):
                status = None
        else:
            error = FailureInfo(type=type(cause).__name__, message=str(cause))
        return OrderOutcome(handle.id, status, error)

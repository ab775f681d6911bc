"""Reading an order: the run that owns it, its `status`, and how a closed saga ended.

Every reader (the CLI, the gateway, the inbox) goes through `explain_order`, so all of
them tell the same story:
- the run that owns the order's claim speaks for the order: a later run of the same id
  that the claim refused (started by a client that allows duplicates, e.g. the `temporal`
  CLI) never changes what the order shows;
- a closed run reports its real end: a saga that failed or was terminated mid-step says
  `failed` (or `cancelled`), with the failure, never the step it was in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError
from temporalio.service import RPCError, RPCStatusCode

from services.contracts import (
    ORDER_ALREADY_EXISTS,
    STATUS_QUERY,
    FailureInfo,
    OrderClaim,
    OrderState,
    OrderStatus,
    order_workflow_id,
)
from services.orchestration.liveness import task_queue_pollers

OrderHandle = WorkflowHandle[Any, OrderStatus]

#: States a saga ends in; any other state of a closed run was cut short.
FINAL_STATES = frozenset(
    {
        OrderState.COMPLETED,
        OrderState.COMPENSATED,
        OrderState.REJECTED,
        OrderState.CANCELLED,
        OrderState.FAILED,
    }
)


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


def order_handle(client: Client, order_id: str, *, run_id: str | None = None) -> OrderHandle:
    """Handle of the saga for an order id (its latest run unless `run_id` is given)."""
    return client.get_workflow_handle(
        order_workflow_id(order_id), run_id=run_id, result_type=OrderStatus
    )


#: A query needs a worker to answer it; without one the server holds it this long at most.
STATUS_QUERY_TIMEOUT = timedelta(seconds=5)


async def order_status(
    client: Client, order_id: str, *, rpc_timeout: timedelta | None = STATUS_QUERY_TIMEOUT
) -> OrderStatus:
    """The `status` query of the order's latest run (answered by an orchestration worker).
    A reader that may meet a closed or refused run uses `explain_order` instead."""
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


def refused_in_favour_of(cause: BaseException | None) -> str | None:
    """The owning run's id, when `cause` is the failure of a run the claim refused."""
    if not isinstance(cause, ApplicationError) or cause.type != ORDER_ALREADY_EXISTS:
        return None
    for detail in cause.details:
        try:
            return OrderClaim.model_validate(detail).run_id
        except ValueError:
            continue
    return None


async def owning_run(
    client: Client, order_id: str
) -> tuple[OrderHandle, WorkflowExecutionDescription]:
    """The run that owns the order's claim, pinned by run id, and its description.

    That is the latest run, unless the latest was refused by the claim: then the run its
    refusal names. Raises `OrderNotFoundError`; lets other `RPCError`s through.
    """
    latest = order_handle(client, order_id)
    try:
        description = await latest.describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise OrderNotFoundError(f"no order {order_id}") from None
        raise
    handle = order_handle(client, order_id, run_id=description.run_id)
    if description.status is WorkflowExecutionStatus.FAILED:
        try:
            await handle.result(follow_runs=False)
        except WorkflowFailureError as exc:
            owner = refused_in_favour_of(exc.cause)
            if owner is not None and owner != description.run_id:
                handle = order_handle(client, order_id, run_id=owner)
                description = await handle.describe()
    return handle, description


async def explain_order(
    client: Client,
    order_id: str,
    *,
    rpc_timeout: timedelta = STATUS_QUERY_TIMEOUT,
) -> OrderStatus | OrderOutcome:
    """The order's status, within seconds, or how it ended when no status can be had.

    A running order answers its `status` query; a closed one reports how it ended
    (`wait_for_order`). Returns an `OrderOutcome` only for a saga that ended without a
    status (an order refused before its handlers existed; check `.error`). Raises
    `OrderStatusUnavailableError` (no such order, no worker to answer) and lets `RPCError`
    UNAVAILABLE through (the server is gone).
    """
    handle, description = await owning_run(client, order_id)
    if description.status is not WorkflowExecutionStatus.RUNNING:
        outcome = await wait_for_order(handle)
        return outcome.status if outcome.status is not None else outcome
    if await workflow_pollers(client, description.task_queue) == 0:
        raise OrderStatusUnavailableError(
            f"order {order_id} is running but no worker polls task queue "
            f"{description.task_queue!r} to answer its status; start one with "
            "'rtw worker orchestration' (or 'rtw dev')"
        )
    try:
        status: OrderStatus = await handle.query(
            STATUS_QUERY, result_type=OrderStatus, rpc_timeout=rpc_timeout
        )
    except (WorkflowQueryFailedError, RPCError) as exc:
        if isinstance(exc, RPCError) and exc.status is RPCStatusCode.UNAVAILABLE:
            raise
        message = exc.message if isinstance(exc, RPCError) else str(exc)
        raise OrderStatusUnavailableError(f"cannot query order {order_id}: {message}") from None
    return status


async def wait_for_order(handle: OrderHandle) -> OrderOutcome:
    """Wait for the saga to end and say how it ended, with the status a closed run can
    still give (its result, its failure's details, or its history replayed by a worker),
    corrected to the real end when the run was cut short."""
    try:
        return OrderOutcome(handle.id, await handle.result())
    except WorkflowFailureError as exc:
        cause = exc.cause
        error = FailureInfo(
            type=(cause.type if isinstance(cause, ApplicationError) else None)
            or type(cause).__name__,
            message=cause.message if isinstance(cause, ApplicationError) else str(cause),
        )
        status = _status_in_details(cause) or await _replayed_status(handle)
        if status is not None and status.state not in FINAL_STATES:
            status = status.model_copy(
                update={
                    "state": OrderState.CANCELLED
                    if isinstance(cause, CancelledError)
                    else OrderState.FAILED,
                    "failure": status.failure or error,
                }
            )
        if isinstance(cause, TerminatedError) and status is not None:
            status = status.model_copy(update={"state": OrderState.FAILED, "failure": error})
        return OrderOutcome(handle.id, status, error)


def _status_in_details(cause: BaseException | None) -> OrderStatus | None:
    """The final status an `OrderFailed` failure carries."""
    if isinstance(cause, ApplicationError) and cause.details:
        try:
            return OrderStatus.model_validate(cause.details[0])
        except ValueError:
            return None
    return None


async def _replayed_status(handle: OrderHandle) -> OrderStatus | None:
    """The `status` of a closed run, replayed by a worker; None when none can be had."""
    try:
        status: OrderStatus = await handle.query(
            STATUS_QUERY, result_type=OrderStatus, rpc_timeout=STATUS_QUERY_TIMEOUT
        )
    except (RPCError, WorkflowQueryFailedError):
        return None
    return status

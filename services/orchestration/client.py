"""Client-side API of the workflows: orders (start once, wait, query, approve/reject),
shipments (carrier events), subscriptions."""

from __future__ import annotations

import hashlib
import json
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
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ApplicationError,
    CancelledError,
    TerminatedError,
    WorkflowAlreadyStartedError,
)
from temporalio.service import RPCError, RPCStatusCode

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
from services.orchestration.liveness import task_queue_pollers


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


#: Memo key holding the sha256 of the order body a saga was started with (by `start_order`).
INPUT_SHA256_MEMO = "rtw_input_sha256"


class OrderConflictError(Exception):
    """An order id already has a saga, started with a different body."""

    def __init__(self, order_id: str, workflow_id: str) -> None:
        super().__init__(
            f"order {order_id} already exists ({workflow_id}) with a different body; "
            "use a new order id, or send the same body to attach to it"
        )
        self.order_id = order_id
        self.workflow_id = workflow_id


def order_fingerprint(order: OrderInput) -> str:
    """sha256 of the validated order's canonical JSON (sorted keys, no whitespace)."""
    canonical = json.dumps(
        json.loads(order.model_dump_json()), sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def start_order(client: Client, order: OrderInput, *, task_queue: str) -> StartedOrder:
    """Start the saga for `order`, or return the existing one: one saga per order id.

    Raises `OrderConflictError` when the existing saga was started (by rtw) with a
    different body; a saga started without the memo (e.g. by the `temporal` CLI) is
    taken as the same order.
    """
    workflow_id = order_workflow_id(order.order_id)
    fingerprint = order_fingerprint(order)
    try:
        handle: WorkflowHandle[object, OrderStatus] = await client.start_workflow(
            ORDER_SAGA_WORKFLOW,
            order,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            result_type=OrderStatus,
            memo={INPUT_SHA256_MEMO: fingerprint},
        )
    except WorkflowAlreadyStartedError:
        existing = order_handle(client, order.order_id)
        description = await existing.describe()
        stored = await description.memo_value(INPUT_SHA256_MEMO, None)
        if stored is not None and stored != fingerprint:
            raise OrderConflictError(order.order_id, workflow_id) from None
        return StartedOrder(existing, created=False)
    return StartedOrder(handle, created=True)


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


async def explain_order(client: Client, order_id: str) -> OrderStatus | OrderOutcome:
    """The order's status, within seconds, or how it ended when no status can be had.

    Returns the `status` query's answer, or, for a saga that ended without one (an order
    that failed validation before its handlers existed), its `OrderOutcome` (check
    `.error`). Raises `OrderStatusUnavailableError` (no such order, no worker to answer) and
    lets `RPCError` UNAVAILABLE through (the server is gone).
    """
    handle = order_handle(client, order_id)
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            message = f"no order {order_id} (no workflow {handle.id})"
            raise OrderStatusUnavailableError(message) from None
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

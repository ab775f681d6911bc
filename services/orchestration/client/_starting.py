"""Starting an order once per id: conflicts, fingerprints, idempotency keys."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import (
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from services.contracts import (
    ACCEPTED,
    BOUND_ORDER_MEMO,
    IDEMPOTENCY_KEY_ATTRIBUTE,
    IDEMPOTENCY_KEY_WORKFLOW,
    ORDER_SAGA_WORKFLOW,
    IdempotencyKeyClaim,
    OrderInput,
    OrderStatus,
    idempotency_workflow_id,
    order_workflow_id,
)
from services.orchestration.client._reading import (
    OrderStatusUnavailableError,
    explain_order,
    order_handle,
)
from services.orchestration.client._start_attributes import start_attributes


@dataclass(frozen=True)
class StartedOrder:
    """A saga handle, and whether this call started it (False: it already existed)."""

    handle: WorkflowHandle[object, OrderStatus]
    created: bool

    @property
    def workflow_id(self) -> str:
        """The saga's workflow id."""
        return self.handle.id


#: Memo key holding the sha256 of the order body a saga was started with (by `start_order`).
INPUT_SHA256_MEMO = "rtw_input_sha256"
#: Memo keys with the order's amount, so lists show it without asking a worker.
TOTAL_CENTS_MEMO = "rtw_total_cents"
CURRENCY_MEMO = "rtw_currency"
#: Memo key with the Idempotency-Key of the HTTP request that submitted the order.
IDEMPOTENCY_KEY_MEMO = "rtw_idempotency_key"


class OrderConflictError(Exception):
    """An order id already has a saga, started with a different body."""

    def __init__(self, order_id: str, workflow_id: str) -> None:
        super().__init__(
            f"order {order_id} already exists ({workflow_id}) with a different body; "
            "use a new order id, or send the same body to attach to it"
        )
        self.order_id = order_id
        self.workflow_id = workflow_id


class IdempotencyKeyReusedError(Exception):
    """An Idempotency-Key already started the saga of another order id."""

    def __init__(self, key: str, order_id: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used for order {order_id}; "
            "use a new key for a new order"
        )
        self.key = key
        self.order_id = order_id


#: What a key may hold: it goes into a visibility query as a quoted literal.
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9._:+/=-]{1,255}$"


async def order_id_of_key(client: Client, key: str) -> str | None:
    """The order id whose saga was started under `key`, as visibility knows it (for audits:
    visibility lags a start by up to a second; `bind_idempotency_key` is what refuses a
    reused key)."""
    if not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key):
        raise ValueError(f"an Idempotency-Key must match {IDEMPOTENCY_KEY_PATTERN}")
    query = f"{IDEMPOTENCY_KEY_ATTRIBUTE} = '{key}' AND WorkflowType = '{ORDER_SAGA_WORKFLOW}'"
    async for found in client.list_workflows(query, limit=1):
        return found.id.removeprefix(order_workflow_id(""))
    return None


async def bind_idempotency_key(client: Client, key: str, order_id: str, *, task_queue: str) -> bool:
    """Bind `key` to `order_id` for good, atomically; True when this call made the binding.

    Starts the `IdempotencyKey` marker under `idempotency-<sha256 of key>` with *reject
    duplicate*: of any number of requests racing with one key, the server lets exactly one
    start it. The others (and later retries) read the bound order id from its memo: the
    same id proceeds (a retry), another raises `IdempotencyKeyReusedError`. The binding
    lasts while the server keeps the marker: the namespace's retention after it closed.
    """
    workflow_id = idempotency_workflow_id(key)
    try:
        await client.start_workflow(
            IDEMPOTENCY_KEY_WORKFLOW,
            IdempotencyKeyClaim(order_id=order_id),
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            memo={BOUND_ORDER_MEMO: order_id},
        )
    except WorkflowAlreadyStartedError:
        description = await client.get_workflow_handle(workflow_id).describe()
        bound = await description.memo_value(BOUND_ORDER_MEMO, None)
        if bound != order_id:
            raise IdempotencyKeyReusedError(key, str(bound)) from None
        return False
    return True


def _retrieve_start_error(operation: WithStartWorkflowOperation[Any, Any]) -> None:
    """Mark the start outcome of an update-with-start as seen, whatever happens.

    The SDK sets the start's error (already started, unreachable, cancelled) on the
    operation's own future as well as raising it; nobody awaits that future here, so at
    garbage collection asyncio logged "Future exception was never retrieved" once per
    refused start. The future is private (temporalio 1.35.0, temporalio/client/_workflow.py
    `WithStartWorkflowOperation._workflow_handle`, set in client/_client.py
    `_start_update_with_start.on_start_error`); `workflow_handle()` is its public reader.
    """
    future: Awaitable[object] | None = getattr(operation, "_workflow_handle", None)
    if isinstance(future, asyncio.Future):
        future.add_done_callback(lambda done: done.cancelled() or done.exception())


def order_fingerprint(order: OrderInput) -> str:
    """sha256 of the validated order's canonical JSON (sorted keys, no whitespace)."""
    canonical = json.dumps(
        json.loads(order.model_dump_json()), sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def order_memo(order: OrderInput) -> dict[str, object]:
    """The memo every rtw client starts a saga with: body fingerprint and amount."""
    return {
        INPUT_SHA256_MEMO: order_fingerprint(order),
        TOTAL_CENTS_MEMO: order.total_cents,
        CURRENCY_MEMO: order.currency,
    }


async def existing_order(client: Client, order: OrderInput) -> WorkflowHandle[object, OrderStatus]:
    """The saga that already has `order`'s id, if it was started with the same body.

    The one conflict check of every rtw client (CLI and gateway). Raises
    `OrderConflictError` when the existing saga was started (by rtw) with a different body;
    a saga started without the memo (e.g. by the `temporal` CLI) is taken as the same order.
    """
    existing = order_handle(client, order.order_id)
    description = await existing.describe()
    stored = await description.memo_value(INPUT_SHA256_MEMO, None)
    if stored is not None and stored != order_fingerprint(order):
        raise OrderConflictError(order.order_id, existing.id)
    return existing


async def start_order(client: Client, order: OrderInput, *, task_queue: str) -> StartedOrder:
    """Start the saga for `order`, or return the existing one: one saga per order id.

    Raises `OrderConflictError` when the existing saga has a different body
    (see `existing_order`).
    """
    try:
        handle: WorkflowHandle[object, OrderStatus] = await client.start_workflow(
            ORDER_SAGA_WORKFLOW,
            order,
            id=order_workflow_id(order.order_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            result_type=OrderStatus,
            memo=order_memo(order),
            search_attributes=await start_attributes(client, order),
            # Only takes effect in a process that also runs an orchestration worker on this
            # client (its first workflow task comes back with the start response); the SDK
            # drops the request otherwise, so it costs rtw's separate starters nothing.
            request_eager_start=True,
        )
    except WorkflowAlreadyStartedError:
        return StartedOrder(await existing_order(client, order), created=False)
    return StartedOrder(handle, created=True)


@dataclass(frozen=True)
class SubmittedOrder:
    """A saga's validated status, and whether this call started it."""

    status: OrderStatus
    created: bool


async def submit_order(
    client: Client,
    order: OrderInput,
    *,
    task_queue: str,
    timeout: timedelta,
    idempotency_key: str | None = None,
    key_attribute: bool = False,
) -> SubmittedOrder:
    """Start the saga with update-with-start and return its validated status at once.

    The `accepted` update rides in the start request and completes as soon as the saga
    has validated its input, long before the saga ends. An order id that exists returns
    that saga's current status (`created=False`), after the same conflict check as
    `start_order`. `idempotency_key` (the HTTP request's) is bound to the order id first
    (`bind_idempotency_key`: a key that already started another order id is refused) and
    kept in the saga's memo; with `key_attribute` (the namespace has `RtwIdempotencyKey`)
    it is also set as a search attribute.
    Raises `OrderConflictError`, `IdempotencyKeyReusedError`, `OrderStatusUnavailableError`
    (no worker answered within `timeout`) and `RPCError` (the server is unreachable).
    """
    if idempotency_key:
        await bind_idempotency_key(client, idempotency_key, order.order_id, task_queue=task_queue)
    attributes = await start_attributes(
        client, order, idempotency_key=idempotency_key if key_attribute else None
    )
    operation: WithStartWorkflowOperation[object, OrderStatus] = WithStartWorkflowOperation(
        ORDER_SAGA_WORKFLOW,
        order,
        id=order_workflow_id(order.order_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        result_type=OrderStatus,
        memo={
            **order_memo(order),
            **({IDEMPOTENCY_KEY_MEMO: idempotency_key} if idempotency_key else {}),
        },
        search_attributes=attributes,
    )
    _retrieve_start_error(operation)
    try:
        async with asyncio.timeout(timeout.total_seconds()):
            update = await client.start_update_with_start_workflow(
                ACCEPTED,
                start_workflow_operation=operation,
                wait_for_stage=WorkflowUpdateStage.COMPLETED,
                result_type=OrderStatus,
                rpc_timeout=timeout,
            )
            status: OrderStatus = await update.result(rpc_timeout=timeout)
    except WorkflowAlreadyStartedError:
        await existing_order(client, order)  # raises OrderConflictError on another body
        found = await explain_order(client, order.order_id)
        current = found if isinstance(found, OrderStatus) else found.status
        if current is None:
            raise OrderStatusUnavailableError(
                f"order {order.order_id} ended before it had a status"
            ) from None
        return SubmittedOrder(current, created=False)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise OrderStatusUnavailableError(
            f"Temporal or the orchestration workers did not confirm order {order.order_id} "
            f"within {timeout.total_seconds():g}s (it may have started)"
        ) from None
    return SubmittedOrder(status, created=True)

"""What `rtw order start --wait` says on stderr while it waits: state changes, what the
order waits for, and a warning when no worker polls its task queue.

It asks the saga nothing. Every `status` query is a billable action (on Temporal Cloud, and
in the server's own `action` metric), and a client polling one every second while an order
waits a day for approval would cost 86 400 of them. Instead it follows the saga's history as
it grows (a long poll of GetWorkflowExecutionHistory, which is not billed) and reads the
states the saga itself publishes there: its `RtwOrderState` search-attribute upserts, and
the approval deadline timer (which a namespace without the order search attributes has too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import typer
from temporalio.api.common.v1 import SearchAttributes
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle
from temporalio.converter import decode_search_attributes
from temporalio.service import RPCError

from services.contracts import ORDER_STATE_ATTRIBUTE, OrderState, OrderStatus
from services.orchestration.client import workflow_pollers
from services.runtime.invocation import rtw_command

logger = logging.getLogger(__name__)

#: Without a worker polling this long, say so (a worker just starting needs a moment).
NO_WORKER_WARNING_SECONDS = 5.0
#: How often the task queue's pollers are checked (DescribeTaskQueue: not billed), and how
#: long to wait before following the history again after it failed to answer.
POLL_INTERVAL_SECONDS = 1.0
#: Summary of the saga's approval deadline timer (services/orchestration/order_approval.py).
APPROVAL_TIMER_SUMMARY = "approval-deadline"


def describe_state(order_id: str, state: OrderState) -> str:
    """The stderr line for a state the order entered, with the next command when it waits."""
    if state is OrderState.AWAITING_APPROVAL:
        rtw = rtw_command()
        return (
            f"rtw: order {order_id}: awaiting approval: run "
            f"`{rtw} order approve {order_id} --reviewer NAME` "
            f"(or `{rtw} order reject {order_id} --reviewer NAME`)"
        )
    return f"rtw: order {order_id}: {state.value}"


async def state_of(client: Client, event: HistoryEvent) -> OrderState | None:
    """The state a history event says the order entered, if it says one."""
    # The `received` an rtw client starts an order with is not news: states from the upserts.
    if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
        return _published(
            event.upsert_workflow_search_attributes_event_attributes.search_attributes
        )
    if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED and event.HasField("user_metadata"):
        try:
            [summary] = await client.data_converter.decode([event.user_metadata.summary])
        except Exception:  # a summary this client cannot read says nothing about the order
            return None
        if summary == APPROVAL_TIMER_SUMMARY:
            return OrderState.AWAITING_APPROVAL
    return None


def _published(fields: SearchAttributes) -> OrderState | None:
    """The `RtwOrderState` among search attributes a history event set, if any."""
    values = decode_search_attributes(fields).get(ORDER_STATE_ATTRIBUTE)
    if values and isinstance(values[0], str):
        with contextlib.suppress(ValueError):
            return OrderState(values[0])
    return None


async def _follow_history(
    client: Client, handle: WorkflowHandle[object, OrderStatus], order_id: str, interval: float
) -> None:
    """Print each state the saga publishes, until its history ends (or until cancelled)."""
    last_event = 0
    last_state: OrderState | None = None
    while True:
        try:
            async for event in handle.fetch_history_events(wait_new_event=True):
                if event.event_id <= last_event:
                    continue  # seen before a failed poll: the history is read again
                last_event = event.event_id
                state = await state_of(client, event)
                if state is not None and state is not last_state:
                    typer.echo(describe_state(order_id, state), err=True)
                    last_state = state
            return
        except RPCError as exc:  # the wait for the result reports Temporal's errors
            logger.debug("following the history failed: %s", exc)
        await asyncio.sleep(interval)


async def _warn_without_worker(
    client: Client, task_queue: str, no_worker_after: float, interval: float
) -> None:
    """Warn once when no worker has polled the queue for `no_worker_after` seconds."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    while True:
        try:
            if await workflow_pollers(client, task_queue) == 0:
                if loop.time() - began >= no_worker_after:
                    rtw = rtw_command()
                    typer.echo(
                        f"rtw: warning: no worker polls task queue {task_queue!r}; the order "
                        f"waits until one does (start one with '{rtw} worker orchestration' "
                        f"or '{rtw} dev')",
                        err=True,
                    )
                    return
            else:
                began = loop.time()
        except RPCError as exc:
            logger.debug("pollers check failed: %s", exc)
        await asyncio.sleep(interval)


async def report_progress(
    client: Client,
    handle: WorkflowHandle[object, OrderStatus],
    *,
    order_id: str,
    task_queue: str,
    no_worker_after: float = NO_WORKER_WARNING_SECONDS,
    interval: float = POLL_INTERVAL_SECONDS,
) -> None:
    """Print the order's progress on stderr until cancelled (when its result arrives).

    No billable action: the history is followed, never queried (see the module docstring).
    Temporal errors are not reported here: the wait for the result reports them.
    """
    watching = asyncio.create_task(
        _warn_without_worker(client, task_queue, no_worker_after, interval)
    )
    try:
        await _follow_history(client, handle, order_id, interval)
        await asyncio.Event().wait()  # the history ended first: the result is on its way
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching

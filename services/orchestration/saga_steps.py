"""How OrderSaga calls its steps: timeouts, retries, and cancellation that never races money.

Every step that moves money or stock is called with `WAIT_CANCELLATION_COMPLETED`: when the
order is cancelled while the step runs on a worker, the saga waits until that step has
finished (or is known not to have started) before any compensation runs, so a void can never
overtake the authorization it undoes, nor a refund the capture. The activities finish a
movement they have begun even when asked to cancel (`services.runtime.settle`), so "finished"
always has a definite answer, recorded in the ledger or the stock store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from services.contracts import OUT_OF_STOCK, PAYMENT_DECLINED

T = TypeVar("T")

#: Error types that end an order with compensation instead of failing the workflow.
BUSINESS_FAILURES = frozenset({PAYMENT_DECLINED, OUT_OF_STOCK})

#: One attempt of a payment or notification call.
STEP_TIMEOUT = timedelta(seconds=30)
#: Payment calls heartbeat while the provider works, so a payments worker killed mid-call
#: is noticed after this long (not after STEP_TIMEOUT) and the call retried elsewhere.
PAYMENT_HEARTBEAT_TIMEOUT = timedelta(seconds=4)
#: One attempt of a stock or claim step (a single database transaction).
LOCAL_STEP_TIMEOUT = timedelta(seconds=10)
#: How long a forward step keeps retrying infrastructure errors (a database restarting or
#: failing over, every replica of a queue away) before the order compensates instead:
#: attempts back off to one every 30 s, so an outage of up to ~14 minutes costs no order.
FORWARD_STEP_BUDGET = timedelta(minutes=15)

#: Forward steps: retry transient failures within FORWARD_STEP_BUDGET; business failures
#: (a decline, no stock) are final at once.
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
    non_retryable_error_types=sorted(BUSINESS_FAILURES),
)
#: Compensations must happen: retry until they do (visible in the UI while pending).
COMPENSATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60)
)

#: A cancelled step reports back before the saga moves on (see the module docstring).
SETTLE_FIRST = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED


def payment_call(
    activity: str, request: Any, *, queue: str, result_type: type[T], forward: bool
) -> Awaitable[T]:
    """A payments activity: heartbeats, settles before a compensation, bounded if forward."""
    return workflow.execute_activity(
        activity,
        request,
        task_queue=queue,
        result_type=result_type,
        start_to_close_timeout=STEP_TIMEOUT,
        heartbeat_timeout=PAYMENT_HEARTBEAT_TIMEOUT,
        schedule_to_close_timeout=FORWARD_STEP_BUDGET if forward else None,
        retry_policy=STEP_RETRY if forward else COMPENSATION_RETRY,
        cancellation_type=SETTLE_FIRST,
    )


def local_call(activity: str, request: Any, *, result_type: type[T], forward: bool) -> Awaitable[T]:
    """An orchestration-local step (stock, claim) run as a local activity in the saga's
    workflow task; settles before a compensation, bounded if forward."""
    return workflow.execute_local_activity(
        activity,
        request,
        result_type=result_type,
        start_to_close_timeout=LOCAL_STEP_TIMEOUT,
        schedule_to_close_timeout=FORWARD_STEP_BUDGET if forward else None,
        retry_policy=STEP_RETRY if forward else COMPENSATION_RETRY,
        cancellation_type=SETTLE_FIRST,
    )


def stop_if_cancelled() -> None:
    """Raise `CancelledError` when the order was cancelled while the last step ran.

    A step called with SETTLE_FIRST that finishes after the cancel request returns its
    result instead of raising, so the saga checks after recording that result.
    """
    if workflow.cancellation_reason() is not None:
        raise asyncio.CancelledError("order cancelled")


async def to_the_end(work: Awaitable[T]) -> T:
    """Await `work` to its end even when the order is cancelled meanwhile: compensations
    are never abandoned half way (the cancel is remembered by the server, and
    `workflow.cancellation_reason()` tells the saga about it afterwards)."""
    task = asyncio.ensure_future(work)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise

"""The saga's order events, workflow side: numbered here, recorded by the steps.

Each transition gets the next per-order sequence number at the moment the saga makes it
(deterministic: replay numbers it the same). The events then wait for the step that makes
the change durable and travel in its request (`events`); the step writes them in the same
transaction as its ledger, stock, claim or outbox row. A step's own event (`payment.authorized`
for the authorization) is handed to it too, so it is written exactly when the step's write
commits. Transitions with no write of their own (waiting for approval, approved, completed)
are recorded by the orchestration-local activity `orchestration.record_order_events`, a
local activity in the workflow task that made them.

When a step fails, what it was handed may or may not be in the store:

- a non-retryable `ApplicationError` (a decline, no stock, a refused claim or ledger move)
  is raised before the step commits: nothing was written, its events are handed on;
- anything else (its retry budget spent, cancelled before it started) may come after a
  commit: the saga asks the store for the order's last seq (a local activity, recorded in
  the history, so replay gets the same answer) and hands on only what is missing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from pydantic import JsonValue

    from services.contracts import (
        RECORD_ORDER_EVENTS,
        OrderEvent,
        OrderEventType,
        RecordedEvents,
        RecordEventsRequest,
    )

T = TypeVar("T")

#: One attempt of the recording transaction; it retries until it succeeds (an event that
#: happened must be recorded).
RECORD_TIMEOUT = timedelta(seconds=10)
RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)

Step = Callable[[list[OrderEvent]], Awaitable[T]]


async def record_events(order_id: str, events: list[OrderEvent]) -> int:
    """Record `events` (none: only ask) with the orchestration-local activity; the store's
    last seq for the order."""
    result: RecordedEvents = await workflow.execute_local_activity(
        RECORD_ORDER_EVENTS,
        RecordEventsRequest(order_id=order_id, events=events),
        result_type=RecordedEvents,
        start_to_close_timeout=RECORD_TIMEOUT,
        retry_policy=RECORD_RETRY,
        cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    )
    return result.last_seq


def nothing_written(err: BaseException) -> bool:
    """True when a failed step certainly committed nothing (see the module docstring)."""
    cause = err.cause if isinstance(err, ActivityError | ChildWorkflowError) else err
    return isinstance(cause, ApplicationError) and cause.non_retryable


class EventLog:
    """One order's events as the saga (or its shipment) makes them."""

    def __init__(self, order_id: str, *, next_seq: int = 1) -> None:
        self.order_id = order_id
        self._next = next_seq
        self._pending: list[OrderEvent] = []
        #: The last failed step committed all the same (its own event is in the store): the
        #: cancel arrived in the workflow task that brought its result, which the SDK then
        #: drops (`RAISE_ON_CANCELLING_COMPLETED_ACTIVITY`). Its effect stands.
        self.failed_step_committed = False

    @property
    def next_seq(self) -> int:
        """The seq the next event gets."""
        return self._next

    @property
    def pending(self) -> list[OrderEvent]:
        """Events made but not yet handed to a step."""
        return list(self._pending)

    def emit(self, kind: OrderEventType, **data: JsonValue) -> OrderEvent:
        """Make the next event (it waits for a step to record it)."""
        event = OrderEvent(
            order_id=self.order_id,
            seq=self._next,
            type=kind,
            occurred_at=workflow.now(),
            data=data,
        )
        self._next += 1
        self._pending.append(event)
        return event

    def take(self) -> list[OrderEvent]:
        """Hand every pending event to the step about to run."""
        handed, self._pending = self._pending, []
        return handed

    def adopt(self, next_seq: int, unrecorded: list[OrderEvent]) -> None:
        """Continue after a child that numbered events of this order: its unrecorded ones
        wait for the next step, numbering goes on where it stopped."""
        self._pending.extend(unrecorded)
        self._next = max(self._next, next_seq)

    async def carry(self, step: Step[T], *own: tuple[OrderEventType, dict[str, JsonValue]]) -> T:
        """Run `step` with the pending events plus its `own` events (recorded only if the
        step succeeds); on failure hand on whatever it did not record, then re-raise."""
        mine = [self.emit(kind, **data) for kind, data in own]
        handed = self.take()
        self.failed_step_committed = False
        try:
            return await step(handed)
        except GeneratorExit:  # the run is evicted from the worker's cache: no workflow left
            raise
        except BaseException as err:
            others = [e for e in handed if e not in mine]
            first = mine[0] if mine else None
            if nothing_written(err):
                self._pending = others + self._pending
                if first is not None:
                    self._next = first.seq
            else:
                await self.resync(others, skipped=first)
            raise

    async def resync(self, handed: list[OrderEvent], *, skipped: OrderEvent | None = None) -> None:
        """After a step of unknown outcome: ask the store how far the order's events go.
        If the step's own event (`skipped`) is there, the step committed everything it was
        handed; otherwise hand on what of `handed` is missing and give `skipped`'s number
        to the next event (the step did not happen)."""
        last = await record_events(self.order_id, [])
        if skipped is not None and last >= skipped.seq:
            self._next = last + 1
            self.failed_step_committed = True
            return
        self._pending = [e for e in handed if e.seq > last] + self._pending
        if skipped is not None:
            self._next = skipped.seq
        else:  # a child may have numbered (and recorded) events past what it was handed
            self._next = max(self._next, last + 1)

    async def flush(self) -> None:
        """Record the pending events now, with the orchestration-local activity."""
        if handed := self.take():
            await record_events(self.order_id, handed)

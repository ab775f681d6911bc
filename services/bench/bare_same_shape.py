"""A bare-SDK workflow of the same shape as rtw's OrderSaga (happy path), for the
`platform_vs_bare_*` ratios.

It mirrors what OrderSaga asks of Temporal, step for step, without rtw's platform (plugin,
pydantic models, stores): the claim and policy local activities, authorize on the payments
queue with heartbeats, reserve as a local activity, capture on the payments queue,
then the confirmation on the notifications queue alongside the Shipment child, whose booking
(a local activity) signals it three times while it waits with its SLA timers; and, as
OrderSaga does on a namespace that has them, the order's state and customer set at start
(`START_ATTRIBUTES`, as rtw's clients start orders) and the `RtwOrderState` upserts
(shipping, completed), and the local activity that records the order events
no step carried (`order.completed`).

When OrderSaga's shape changes, change this file to match: `rtw bench run` reports both
histories' event counts and types (`shape_check` in the results) and its test fails while
they differ.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

with workflow.unsafe.imports_passed_through():
    from services.bench.bare_activities import (
        BOOK,
        CARRIER_SIGNAL,
        STEP,
        BareBooking,
        BareResult,
        BareSagaInput,
        BareStep,
    )
    from services.bench.bare_workflows import NOTIFICATIONS, PAYMENTS, step

TIMEOUT = timedelta(seconds=30)
#: OrderSaga's default shipment SLAs (pickup, delivery).
SLAS = {"pickup": timedelta(hours=48), "delivery": timedelta(days=14)}
RANK = {"picked_up": 1, "in_transit": 2, "delivered": 3}
#: The search attributes OrderSaga keeps current (registered by the dev server).
STATE = SearchAttributeKey.for_keyword("RtwOrderState")
CUSTOMER = SearchAttributeKey.for_keyword("RtwCustomerId")
#: What an rtw client starts an order with (the saga then skips its `authorizing` upsert).
START_ATTRIBUTES = TypedSearchAttributes(
    [SearchAttributePair(STATE, "received"), SearchAttributePair(CUSTOMER, "c-bare")]
)
#: The start attributes of each bare workflow that takes some.
BARE_START_ATTRIBUTES = {"BareSameShapeSaga": START_ATTRIBUTES}


@workflow.defn(name="BareSameShapeShipment")
class BareSameShapeShipment:
    """Books (the booking signals three carrier events), then waits for `delivered` with a
    timer on the nearest SLA, re-armed after every applied event, like rtw's Shipment."""

    def __init__(self) -> None:
        self._rank = 0

    @workflow.signal(name=CARRIER_SIGNAL)
    def carrier_event(self, event: str) -> None:
        self._rank = max(self._rank, RANK[event.rsplit(":", 1)[1]])

    @workflow.run
    async def run(self, saga: BareSagaInput) -> str:
        info = workflow.info()
        started = workflow.now()
        await workflow.execute_local_activity(
            BOOK,
            BareBooking(saga_id=saga.saga_id, shipment_id=info.workflow_id),
            result_type=BareResult,
            start_to_close_timeout=TIMEOUT,
        )
        while self._rank < RANK["delivered"]:
            seen = self._rank
            due = [
                started + SLAS[name]
                for name, need in (("pickup", 1), ("delivery", 3))
                if self._rank < need
            ]
            with contextlib.suppress(TimeoutError):  # an SLA passed: keep waiting
                await workflow.wait_condition(
                    lambda seen=seen: self._rank != seen,  # type: ignore[misc]
                    timeout=max(min(due) - workflow.now(), timedelta(seconds=1)),
                )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return saga.saga_id


@workflow.defn(name="BareSameShapeSaga")
class BareSameShapeSaga:
    """OrderSaga's happy path, bare."""

    @workflow.run
    async def run(self, saga: BareSagaInput) -> str:
        await local_step(saga.saga_id, "claim")
        await local_step(saga.saga_id, "policy")
        await step(saga.saga_id, "authorize", PAYMENTS, heartbeat=True)
        await local_step(saga.saga_id, "reserve")
        await step(saga.saga_id, "capture", PAYMENTS, heartbeat=True)
        confirmation = asyncio.create_task(step(saga.saga_id, "notify", NOTIFICATIONS))
        workflow.upsert_search_attributes([STATE.value_set("shipping")])
        await workflow.execute_child_workflow(
            BareSameShapeShipment.run,
            saga,
            id=f"bare-same-shipment-{saga.saga_id}",
            task_queue=workflow.info().task_queue,
        )
        await confirmation
        workflow.upsert_search_attributes([STATE.value_set("completed")])
        await local_step(saga.saga_id, "events")  # the order events no step carried
        await workflow.wait_condition(workflow.all_handlers_finished)
        return saga.saga_id


async def local_step(saga_id: str, name: str) -> BareResult:
    """Run the generic step activity as a local activity."""
    result: BareResult = await workflow.execute_local_activity(
        STEP,
        BareStep(saga_id=saga_id, step=name),
        result_type=BareResult,
        start_to_close_timeout=timedelta(seconds=10),
    )
    return result

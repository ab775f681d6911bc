"""Bare-SDK baselines: noop, one activity, four activities on one queue, and the naive
saga shape that `optimized_vs_naive_*` ratios compare OrderSaga against (kept fixed)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

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

TIMEOUT = timedelta(seconds=30)

#: Queue roles; a bare stack's queues are `<prefix><role>` like rtw's.
ORCHESTRATION, PAYMENTS, NOTIFICATIONS = "orchestration", "payments", "notifications"


def queue(role: str) -> str:
    """The task queue of `role` in this workflow's stack (same prefix as its own queue)."""
    own = workflow.info().task_queue
    return own[: -len(ORCHESTRATION)] + role


async def step(saga_id: str, name: str, role: str, *, heartbeat: bool = False) -> BareResult:
    """Run the generic step activity on `role`'s queue."""
    result: BareResult = await workflow.execute_activity(
        STEP,
        BareStep(saga_id=saga_id, step=name, heartbeat=heartbeat),
        task_queue=queue(role),
        result_type=BareResult,
        start_to_close_timeout=TIMEOUT,
        heartbeat_timeout=timedelta(seconds=4) if heartbeat else None,
    )
    return result


@workflow.defn(name="BareNoop")
class BareNoop:
    """Returns at once: the floor of one workflow."""

    @workflow.run
    async def run(self, saga: BareSagaInput) -> str:
        return saga.saga_id


@workflow.defn(name="BareOneActivity")
class BareOneActivity:
    """One activity on its own queue."""

    @workflow.run
    async def run(self, saga: BareSagaInput) -> str:
        await step(saga.saga_id, "one", ORCHESTRATION)
        return saga.saga_id


@workflow.defn(name="BareFourActivities")
class BareFourActivities:
    """Four sequential activities on its own queue."""

    @workflow.run
    async def run(self, saga: BareSagaInput) -> str:
        for name in ("first", "second", "third", "fourth"):
            await step(saga.saga_id, name, ORCHESTRATION)
        return saga.saga_id


@workflow.defn(name="BareNaiveShipment")
class BareNaiveShipment:
    """Books the parcel (the booking sends three carrier signals), waits for `delivered`."""

    def __init__(self) -> None:
        self._events: list[str] = []

    @workflow.signal(name=CARRIER_SIGNAL)
    def carrier_event(self, event: str) -> None:
        self._events.append(event)

    @workflow.run
    async def run(self, saga: BareSagaInput) -> str:
        info = workflow.info()
        await workflow.execute_activity(
            BOOK,
            BareBooking(saga_id=saga.saga_id, shipment_id=info.workflow_id),
            result_type=BareResult,
            start_to_close_timeout=TIMEOUT,
        )
        await workflow.wait_condition(lambda: any(e.endswith(":delivered") for e in self._events))
        return saga.saga_id


@workflow.defn(name="BareNaiveSaga")
class BareNaiveSaga:
    """The fixed naive shape: a local activity, four activities on three queues, a child
    with three signals."""

    @workflow.run
    async def run(self, saga: BareSagaInput) -> str:
        await workflow.execute_local_activity(
            STEP,
            BareStep(saga_id=saga.saga_id, step="policy"),
            result_type=BareResult,
            start_to_close_timeout=TIMEOUT,
        )
        await step(saga.saga_id, "authorize", PAYMENTS)
        await step(saga.saga_id, "reserve", ORCHESTRATION)
        await step(saga.saga_id, "capture", PAYMENTS)
        await step(saga.saga_id, "notify", NOTIFICATIONS)
        await workflow.execute_child_workflow(
            BareNaiveShipment.run,
            saga,
            id=f"bare-naive-shipment-{saga.saga_id}",
            task_queue=workflow.info().task_queue,
        )
        return saga.saga_id

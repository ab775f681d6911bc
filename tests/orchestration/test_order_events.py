"""Order events on the time-skipping server: every transition once, numbered 1, 2, 3, …
without a gap, recorded by the step that made it durable, ending with the outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from services.contracts import (
    APPROVE,
    AUTHORIZE_PAYMENT,
    CAPTURE_PAYMENT,
    REJECT,
    RESERVE_INVENTORY,
    ApprovalRequest,
    OrderEvent,
    OrderState,
    OrderStatus,
)
from services.events import SqliteEvents
from tests.orchestration.rig import LARGE_ORDER, SagaRig, eventually, saga_rig, saga_state
from tests.orchestration.standins import declined, out_of_stock

HAPPY = [
    "order.received",
    "payment.authorized",
    "inventory.reserved",
    "payment.captured",
    "order.shipping",
    "shipment.picked_up",
    "shipment.in_transit",
    "shipment.delivered",
    "order.completed",
]


@pytest.fixture
async def rig(time_skipping_env: WorkflowEnvironment, queue_prefix: str) -> AsyncIterator[SagaRig]:
    async with saga_rig(time_skipping_env, queue_prefix) as rig:
        yield rig


async def events_of(rig: SagaRig, order_id: str) -> list[OrderEvent]:
    """The order's events as stored, checked to be numbered 1..n without a gap."""
    stored = await SqliteEvents(rig.db).after(order_id, 0)
    events = [s.event for s in stored]
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), events
    return events


def types(events: list[OrderEvent]) -> list[str]:
    return [e.type.value for e in events]


async def test_a_completed_order_has_one_event_per_transition(rig: SagaRig) -> None:
    result = await rig.run()

    events = await events_of(rig, result.order_id)
    assert types(events) == HAPPY
    received, authorized = events[0].data, events[1].data
    assert received["customer_id"] == "c-1"
    assert received["total_cents"] == result.total_cents
    assert "payment_method" not in received, "the payment method is never published"
    assert authorized == {"amount_cents": result.total_cents, "currency": "USD"}
    delivered = events[7].data
    assert delivered["tracking_number"] == result.shipment.tracking_number  # type: ignore[union-attr]
    # each step carried its own event: the authorize request held `payment.authorized`
    authorize = next(r for n, _, r in rig.rec.calls if n == AUTHORIZE_PAYMENT)
    assert [e.type.value for e in authorize.events] == ["payment.authorized"]
    assert [e.seq for e in authorize.events] == [2]


async def test_a_declined_card_hands_its_number_on_and_ends_compensated(rig: SagaRig) -> None:
    rig.rec.hooks[AUTHORIZE_PAYMENT] = declined

    result = await rig.run()

    assert result.state is OrderState.COMPENSATED
    events = await events_of(rig, result.order_id)
    assert types(events) == [
        "order.received",
        "order.compensating",
        "compensation.void_authorization",
        "compensation.notify_failure",
        "order.compensated",
    ]
    assert events[1].data == {"reason": "PaymentDeclined", "step": "authorize_payment"}


async def test_out_of_stock_records_each_compensation(rig: SagaRig) -> None:
    rig.rec.hooks[RESERVE_INVENTORY] = out_of_stock

    result = await rig.run()

    assert types(await events_of(rig, result.order_id)) == [
        "order.received",
        "payment.authorized",
        "order.compensating",
        "compensation.release_inventory",
        "compensation.void_authorization",
        "compensation.notify_failure",
        "order.compensated",
    ]


async def test_retried_steps_write_their_events_once(rig: SagaRig) -> None:
    def flaky(_: Any) -> None:
        if rig.rec.attempts[CAPTURE_PAYMENT] < 3:
            raise RuntimeError("provider timed out")

    rig.rec.hooks[CAPTURE_PAYMENT] = flaky
    result = await rig.run()

    assert rig.rec.attempts[CAPTURE_PAYMENT] == 3
    assert types(await events_of(rig, result.order_id)) == HAPPY


@pytest.mark.parametrize(
    ("decision", "decided", "outcome"),
    [(APPROVE, "approval.approved", "order.completed"), (REJECT, "approval.rejected", None)],
)
async def test_an_approval_is_announced_when_it_starts_and_when_it_is_decided(
    rig: SagaRig, decision: str, decided: str, outcome: str | None
) -> None:
    handle = await rig.start(LARGE_ORDER)
    waiting = await saga_state(handle, "awaiting_approval")
    events = await events_of(rig, waiting.order_id)
    assert types(events)[-1] == "order.awaiting_approval", "recorded while it waits"
    assert events[-1].data["threshold_cents"] == 100_000

    await handle.execute_update(decision, ApprovalRequest(reviewer="alice", reason="ok"))
    result = await handle.result()

    events = await events_of(rig, result.order_id)
    assert types(events)[:5] == [
        "order.received",
        "payment.authorized",
        "inventory.reserved",
        "order.awaiting_approval",
        decided,
    ]
    assert events[4].data == {"reviewer": "alice"}
    if outcome is not None:
        assert types(events)[-1] == outcome
        assert types(events)[5] == "payment.captured"
    else:
        assert types(events)[5:] == [
            "order.compensating",
            "compensation.release_inventory",
            "compensation.void_authorization",
            "compensation.notify_failure",
            "order.rejected",
        ]


async def test_a_cancelled_order_ends_with_its_cancellation(rig: SagaRig) -> None:
    handle = await rig.start(LARGE_ORDER)
    waiting: OrderStatus = await saga_state(handle, "awaiting_approval")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()

    assert types(await events_of(rig, waiting.order_id))[-6:] == [
        "order.awaiting_approval",
        "order.compensating",
        "compensation.release_inventory",
        "compensation.void_authorization",
        "compensation.notify_failure",
        "order.cancelled",
    ]


async def test_a_manual_carrier_s_events_are_recorded_as_they_arrive(
    time_skipping_env: WorkflowEnvironment, queue_prefix: str
) -> None:
    from services.contracts import CARRIER_EVENT, CarrierEvent, CarrierEventKind

    async with saga_rig(time_skipping_env, queue_prefix, auto_deliver=False) as rig:
        handle = await rig.start()
        status = await saga_state(handle, "shipping")
        shipment = rig.client.get_workflow_handle(f"shipment-{status.order_id}")
        await shipment.signal(
            CARRIER_EVENT, CarrierEvent(event_id="e-1", event=CarrierEventKind.PICKED_UP)
        )
        await eventually(
            lambda: events_of(rig, status.order_id),
            lambda events: types(events)[-1] == "shipment.picked_up",
        )
        for event_id, kind in (("e-1", "picked_up"), ("e-2", "in_transit"), ("e-3", "delivered")):
            await shipment.signal(  # e-1 again: a duplicate, applied once
                CARRIER_EVENT, CarrierEvent(event_id=event_id, event=CarrierEventKind(kind))
            )
        await handle.result()
        events = await events_of(rig, status.order_id)
    assert types(events) == HAPPY
    assert [e.data["event_id"] for e in events[5:8]] == ["e-1", "e-2", "e-3"]

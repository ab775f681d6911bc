"""The `Shipment` child: carrier events (duplicate, out of order), SLA escalation, lost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionDescription, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from services.contracts import (
    CARRIER_EVENT,
    REFUND_PAYMENT,
    RELEASE_INVENTORY,
    STATUS_QUERY,
    CarrierEvent,
    CarrierEventKind,
    OrderState,
    ShipmentStatus,
    shipment_workflow_id,
)
from tests.orchestration.rig import ORDER, SagaRig, eventually, saga_rig, saga_state


@pytest.fixture
async def rig(time_skipping_env: WorkflowEnvironment, queue_prefix: str) -> AsyncIterator[SagaRig]:
    async with saga_rig(time_skipping_env, queue_prefix, auto_deliver=False) as rig:
        yield rig


async def shipment_of(
    rig: SagaRig, order_handle: WorkflowHandle[Any, Any]
) -> WorkflowHandle[Any, ShipmentStatus]:
    status = await saga_state(order_handle, "shipping")
    handle = rig.client.get_workflow_handle(
        shipment_workflow_id(status.order_id), result_type=ShipmentStatus
    )
    await eventually(
        lambda: handle.query(STATUS_QUERY, result_type=ShipmentStatus),
        lambda s: s.state.value == "awaiting_pickup",
    )
    return handle


async def send(handle: WorkflowHandle[Any, Any], event_id: str, event: str) -> None:
    await handle.signal(
        CARRIER_EVENT, CarrierEvent(event_id=event_id, event=CarrierEventKind(event))
    )


async def test_duplicate_and_out_of_order_events_apply_once_and_never_go_back(
    rig: SagaRig,
) -> None:
    order = await rig.start(ORDER)
    shipment = await shipment_of(rig, order)
    status = await saga_state(order, "shipping")
    assert status.shipment is not None
    assert status.shipment.workflow_id == shipment.id

    await send(shipment, "e-2", "in_transit")  # arrives before picked_up
    await send(shipment, "e-1", "picked_up")  # late: stale, no step back
    await send(shipment, "e-2", "in_transit")  # duplicate delivery of the same event
    # Signals are applied by the workflow's next task; wait for it rather than race it.
    mid: ShipmentStatus = await eventually(
        lambda: shipment.query(STATUS_QUERY, result_type=ShipmentStatus),
        lambda s: len(s.events) + s.duplicates_ignored >= 3,
    )
    assert mid.state.value == "in_transit"
    await send(shipment, "e-3", "delivered")
    await send(shipment, "e-3", "delivered")

    final = await order.result()
    assert final.state is OrderState.COMPLETED
    assert final.steps_done[-1] == "ship_order"
    assert final.shipment is not None
    assert final.shipment.state == "delivered"
    shipped = await shipment.result()
    assert [(e.event_id, e.outcome) for e in shipped.events] == [
        ("e-2", "applied"),
        ("e-1", "stale"),
        ("e-3", "applied"),
    ]
    assert shipped.duplicates_ignored >= 1
    assert shipped.escalations == []


async def test_lost_parcel_refunds_and_notifies_without_returning_stock(rig: SagaRig) -> None:
    order = await rig.start(ORDER)
    shipment = await shipment_of(rig, order)

    await send(shipment, "e-1", "picked_up")
    await send(shipment, "e-9", "lost")
    await send(shipment, "e-10", "delivered")  # after the final event: ignored
    final = await order.result()

    assert final.state is OrderState.COMPENSATED
    assert final.failure is not None
    assert (final.failure.type, final.failure.step) == ("ShipmentLost", "ship_order")
    assert final.compensations_run == ["refund_payment", "notify_failure"]
    assert REFUND_PAYMENT in rig.rec.names()
    assert RELEASE_INVENTORY not in rig.rec.names(), "lost goods do not return to stock"
    assert rig.notices("order_failed")[0].data["reason"] == "ShipmentLost"
    assert final.payment.refunded_cents == 3000


async def test_missed_pickup_sla_escalates_once_and_keeps_waiting(rig: SagaRig) -> None:
    order = await rig.start(ORDER)
    shipment = await shipment_of(rig, order)

    await rig.env.sleep(timedelta(hours=49))  # past the 48 h pickup SLA
    escalated: ShipmentStatus = await eventually(
        lambda: shipment.query(STATUS_QUERY, result_type=ShipmentStatus),
        lambda s: "pickup" in s.escalations,
    )
    assert escalated.state.value == "awaiting_pickup"
    notices = rig.notices("shipment_escalation")
    assert [(n.customer_id, n.data["sla"]) for n in notices] == [("ops", "pickup")]

    await send(shipment, "e-1", "picked_up")
    await rig.env.sleep(timedelta(days=14))  # and past the delivery SLA
    await eventually(
        lambda: shipment.query(STATUS_QUERY, result_type=ShipmentStatus),
        lambda s: "delivery" in s.escalations,
    )
    await send(shipment, "e-2", "delivered")
    final = await order.result()
    assert final.state is OrderState.COMPLETED
    assert [n.data["sla"] for n in rig.notices("shipment_escalation")] == ["pickup", "delivery"]


async def test_simulated_carrier_delivers_on_its_own(
    time_skipping_env: WorkflowEnvironment, queue_prefix: str
) -> None:
    async with saga_rig(time_skipping_env, queue_prefix, auto_deliver=True) as rig:
        final = await rig.run(ORDER)
        shipment = await rig.client.get_workflow_handle(
            shipment_workflow_id(final.order_id), result_type=ShipmentStatus
        ).result()
    assert final.state is OrderState.COMPLETED
    assert [e.event.value for e in shipment.events] == ["picked_up", "in_transit", "delivered"]
    assert shipment.tracking_number is not None


async def test_cancelling_while_shipping_cancels_the_shipment_and_compensates(
    rig: SagaRig,
) -> None:
    order = await rig.start(ORDER)
    shipment = await shipment_of(rig, order)

    await order.cancel()
    status = await saga_state(order, "cancelled")

    assert status.compensations_run == [
        "refund_payment",
        "release_inventory",
        "void_authorization",
        "notify_failure",
    ]
    described: WorkflowExecutionDescription = await eventually(
        shipment.describe, lambda d: d.status is not None and d.status.name != "RUNNING"
    )
    assert described.status is not None
    assert described.status.name == "CANCELED"

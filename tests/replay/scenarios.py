"""Representative runs whose histories are kept under `tests/replay/histories/`.

Each scenario drives real workflow code on the time-skipping server (stand-in activities
on the other queues, as in the unit tests) and returns the handles whose histories to keep.
Regenerate with `python -m tests.replay.generate` (see docs/changing-workflows.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle

from services.contracts import (
    APPROVE,
    AUTHORIZE_PAYMENT,
    CANCEL,
    CARRIER_EVENT,
    CHANGE_PLAN,
    ORDER_SAGA_WORKFLOW,
    RECONCILIATION_WORKFLOW,
    REJECT,
    STATUS_QUERY,
    SUBSCRIPTION_WORKFLOW,
    ApprovalRequest,
    CancelRequest,
    CarrierEvent,
    CarrierEventKind,
    ChangePlanRequest,
    LedgerSummary,
    OrderMoney,
    OrderStatus,
    ReconciliationInput,
    ShipmentStatus,
    SubscriptionStatus,
)
from tests.orchestration.rig import LARGE_ORDER, ORDER, SagaRig, eventually, saga_state
from tests.orchestration.standins import declined

#: A named history to keep: file stem → handle (with run id for one run of a chain).
Kept = dict[str, WorkflowHandle[Any, Any]]
Scenario = Callable[[SagaRig], Awaitable[Kept]]


async def _order(rig: SagaRig, name: str, order: dict[str, Any]) -> WorkflowHandle[Any, Any]:
    order_id = f"replay-{name}"
    return await rig.client.start_workflow(
        ORDER_SAGA_WORKFLOW,
        {**order, "order_id": order_id},
        id=f"order-{order_id}",
        task_queue=rig.orchestration_queue,
        result_type=OrderStatus,
    )


async def order_approved(rig: SagaRig) -> Kept:
    """Large order, approved by update; the simulated carrier delivers."""
    handle = await _order(rig, "approved", LARGE_ORDER)
    await saga_state(handle, "awaiting_approval")
    await handle.execute_update(APPROVE, ApprovalRequest(reviewer="alice", reason="vip"))
    await handle.result()
    shipment = rig.client.get_workflow_handle("shipment-replay-approved")
    return {"order_approved": handle, "shipment_delivered": shipment}


async def order_rejected(rig: SagaRig) -> Kept:
    """Large order, an invalid reject signal (ignored), then rejected by update."""
    handle = await _order(rig, "rejected", LARGE_ORDER)
    await saga_state(handle, "awaiting_approval")
    await handle.signal(REJECT, {"reason": "no reviewer"})
    await handle.execute_update(REJECT, ApprovalRequest(reviewer="bob", reason="fraud"))
    await handle.result()
    return {"order_rejected": handle}


async def order_approval_timed_out(rig: SagaRig) -> Kept:
    """Large order nobody decides: the 24 h timer auto-rejects it."""
    handle = await _order(rig, "timed-out", LARGE_ORDER)
    await handle.result()
    return {"order_approval_timed_out": handle}


async def order_compensated(rig: SagaRig) -> Kept:
    """Declined card: void and notify."""
    rig.rec.hooks[AUTHORIZE_PAYMENT] = declined
    try:
        handle = await _order(
            rig, "declined", {**ORDER, "payment_method": "pm_card_chargeDeclined"}
        )
        await handle.result()
    finally:
        del rig.rec.hooks[AUTHORIZE_PAYMENT]
    return {"order_compensated": handle}


async def order_shipment_lost(rig: SagaRig) -> Kept:
    """Needs a rig whose carrier does not auto-deliver: out-of-order and duplicate carrier
    events, a missed pickup SLA (escalation), then lost: refund and notice."""
    handle = await _order(rig, "lost", ORDER)
    await saga_state(handle, "shipping")
    shipment = rig.client.get_workflow_handle("shipment-replay-lost", result_type=ShipmentStatus)
    await eventually(
        lambda: shipment.query(STATUS_QUERY, result_type=ShipmentStatus),
        lambda s: s.state.value == "awaiting_pickup",
    )
    await rig.env.sleep(timedelta(hours=49))
    await eventually(
        lambda: shipment.query(STATUS_QUERY, result_type=ShipmentStatus),
        lambda s: "pickup" in s.escalations,
    )
    for event_id, kind in (
        ("e-2", CarrierEventKind.IN_TRANSIT),
        ("e-1", CarrierEventKind.PICKED_UP),
        ("e-2", CarrierEventKind.IN_TRANSIT),
        ("e-3", CarrierEventKind.LOST),
    ):
        await shipment.signal(CARRIER_EVENT, CarrierEvent(event_id=event_id, event=kind))
    await handle.result()
    return {"order_shipment_lost": handle, "shipment_lost": shipment}


async def subscription_continue_as_new(rig: SagaRig) -> Kept:
    """Three cycles per run; a plan change in run 1 applied in run 2; cancelled in run 2."""
    handle = await rig.client.start_workflow(
        SUBSCRIPTION_WORKFLOW,
        {
            "subscription_id": "replay",
            "customer_id": "c-1",
            "plan": "basic",
            "payment_method": "pm_card_visa",
            "cycles_per_run": 3,
        },
        id="subscription-replay",
        task_queue=rig.orchestration_queue,
        result_type=SubscriptionStatus,
    )
    first_run = handle.result_run_id
    await eventually(
        lambda: handle.query(STATUS_QUERY, result_type=SubscriptionStatus),
        lambda s: s.cycles_billed == 1,
    )
    await handle.execute_update(CHANGE_PLAN, ChangePlanRequest(plan="premium"))
    await rig.env.sleep(timedelta(days=100))
    await eventually(
        lambda: handle.query(STATUS_QUERY, result_type=SubscriptionStatus),
        lambda s: s.cycles_billed >= 4 and s.runs == 2,
    )
    await handle.execute_update(CANCEL, CancelRequest(reason="replay"))
    await handle.result()
    return {
        "subscription_run1_continued_as_new": rig.client.get_workflow_handle(
            handle.id, run_id=first_run
        ),
        "subscription_run2_cancelled": rig.client.get_workflow_handle(handle.id),
    }


async def reconciliation_alert(rig: SagaRig) -> Kept:
    """One orphaned capture: report and ops alert."""
    rig.standins.ledger = LedgerSummary(
        orders=[
            OrderMoney(
                order_id="gone",
                currency="USD",
                capture_keys=["order-gone:capture"],
                captured_cents=3000,
                first_capture_at="2000-01-01T00:00:00.000+00:00",
            )
        ]
    )
    handle = await rig.client.start_workflow(
        RECONCILIATION_WORKFLOW,
        ReconciliationInput(),
        id="reconciliation-replay",
        task_queue=rig.orchestration_queue,
    )
    await handle.result()
    return {"reconciliation_alert": handle}


#: Scenarios for a rig whose simulated carrier auto-delivers.
AUTO_DELIVER: list[Scenario] = [
    order_approved,
    order_rejected,
    order_approval_timed_out,
    order_compensated,
    subscription_continue_as_new,
    reconciliation_alert,
]
#: Scenarios for a rig whose shipments wait for carrier events.
MANUAL_CARRIER: list[Scenario] = [order_shipment_lost]

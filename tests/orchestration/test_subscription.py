"""Subscription: monthly billing on timers over 13+ simulated months, dunning, plan changes,
cancellation, and continue-as-new that loses nothing."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from services.contracts import (
    CANCEL,
    CHANGE_PLAN,
    CHARGE_PAYMENT,
    STATUS_QUERY,
    SUBSCRIPTION_WORKFLOW,
    CancelRequest,
    ChangePlanRequest,
    SubscriptionStatus,
    subscription_workflow_id,
)
from services.orchestration.subscription import add_months
from tests.orchestration.rig import SagaRig, eventually, saga_rig
from tests.orchestration.standins import declined


@pytest.fixture
async def rig(time_skipping_env: WorkflowEnvironment, queue_prefix: str) -> AsyncIterator[SagaRig]:
    async with saga_rig(time_skipping_env, queue_prefix) as rig:
        yield rig


async def start(rig: SagaRig, **extra: Any) -> WorkflowHandle[Any, SubscriptionStatus]:
    sub_id = f"s-{uuid.uuid4().hex[:8]}"
    return await rig.client.start_workflow(
        SUBSCRIPTION_WORKFLOW,
        {
            "subscription_id": sub_id,
            "customer_id": "c-1",
            "plan": "basic",
            "payment_method": "pm_card_visa",
            **extra,
        },
        id=subscription_workflow_id(sub_id),
        task_queue=rig.orchestration_queue,
        result_type=SubscriptionStatus,
    )


async def status_when(
    handle: WorkflowHandle[Any, Any], check: Any, *, timeout: float = 30
) -> SubscriptionStatus:
    status: SubscriptionStatus = await eventually(
        lambda: handle.query(STATUS_QUERY, result_type=SubscriptionStatus), check, timeout=timeout
    )
    return status


def charges(rig: SagaRig) -> list[Any]:
    return [r for n, _, r in rig.rec.calls if n == CHARGE_PAYMENT]


def test_add_months_clamps_to_the_end_of_short_months() -> None:
    jan31 = datetime(2025, 1, 31, 9, tzinfo=UTC)
    assert [add_months(jan31, n).date().isoformat() for n in (1, 2, 13)] == [
        "2025-02-28",
        "2025-03-31",
        "2026-02-28",
    ]


async def test_thirteen_months_of_billing_across_continue_as_new(rig: SagaRig) -> None:
    handle = await start(rig)
    first = await status_when(handle, lambda s: s.cycles_billed == 1)
    assert first.next_billing_at is not None
    run_one = (await handle.describe()).run_id

    # A plan change in run 1, a few cycles before continue-as-new, must survive it.
    await rig.env.sleep(timedelta(days=300))
    await status_when(handle, lambda s: s.cycles_billed >= 10)
    changed = await handle.execute_update(
        CHANGE_PLAN, ChangePlanRequest(plan="premium"), result_type=SubscriptionStatus
    )
    assert (changed.plan, changed.pending_plan) == ("basic", "premium")

    await rig.env.sleep(timedelta(days=130))  # 14 cycles in all: >13 simulated months
    status = await status_when(handle, lambda s: s.cycles_billed >= 14, timeout=60)

    assert status.runs >= 2, "the 12-cycle run must have continued as new"
    assert (await handle.describe()).run_id != run_one
    assert status.plan == "premium"
    assert status.pending_plan is None
    keys = [c.idempotency_key for c in charges(rig)]
    assert len(keys) == len(set(keys)) == status.cycles_billed, "one charge per cycle"
    assert keys[0] == f"{handle.id}:cycle-1:try-1"
    amounts = {c.idempotency_key.split(":")[1]: c.amount_cents for c in charges(rig)}
    changed_at = next(r.cycle for r in status.history if r.plan == "premium")
    assert amounts[f"cycle-{changed_at - 1}"] == 900, "the change waits for the next cycle"
    assert amounts[f"cycle-{changed_at}"] == 4900
    months = [r.at.year * 12 + r.at.month for r in status.history]
    steps = {b - a for a, b in itertools.pairwise(months)}
    assert steps == {1}, f"one cycle per calendar month: {months}"

    cancelled = await handle.execute_update(
        CANCEL, CancelRequest(reason="moving on"), result_type=SubscriptionStatus
    )
    assert cancelled.state.value == "cancelled"
    final = await handle.result()
    assert final.state.value == "cancelled"
    assert final.cycles_billed == status.cycles_billed, "no charge after cancel"


async def test_declined_charges_run_dunning_then_suspend_with_a_notice(rig: SagaRig) -> None:
    rig.rec.hooks[CHARGE_PAYMENT] = declined
    handle = await start(rig, payment_method="pm_card_chargeDeclined")

    final = await handle.result()  # time skips through the 1, 3 and 7 day retries

    assert final.state.value == "suspended"
    assert final.cycles_billed == 0
    assert [c.idempotency_key.rsplit(":", 1)[1] for c in charges(rig)] == [
        "try-1",
        "try-2",
        "try-3",
        "try-4",
    ]
    assert len(rig.notices("subscription_payment_failed")) == 4
    assert len(rig.notices("subscription_suspended")) == 1
    assert final.history[-1].charged is False


async def test_dunning_recovers_when_a_retry_succeeds(rig: SagaRig) -> None:
    def decline_first(request: Any) -> None:
        if request.idempotency_key.endswith("try-1"):
            declined(request)

    rig.rec.hooks[CHARGE_PAYMENT] = decline_first
    handle = await start(rig)

    status = await status_when(handle, lambda s: s.state.value == "past_due")
    assert status.dunning_attempt == 1
    await rig.env.sleep(timedelta(days=2))
    status = await status_when(handle, lambda s: s.cycles_billed == 1)
    assert status.state.value == "active"
    assert status.history[-1].attempts == 2
    await handle.execute_update(CANCEL, CancelRequest())
    await handle.result()


async def test_updates_are_validated(rig: SagaRig) -> None:
    handle = await start(rig)
    await status_when(handle, lambda s: s.cycles_billed == 1)

    for plan, message in (("gold", "unknown plan"), ("basic", "already on plan")):
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(CHANGE_PLAN, ChangePlanRequest(plan=plan))
        assert isinstance(refused.value.cause, ApplicationError)
        assert message in refused.value.cause.message

    await handle.execute_update(CANCEL, CancelRequest(reason="done"))
    final = await handle.result()
    with pytest.raises(RPCError):  # ended: the server itself refuses further updates
        await handle.execute_update(CANCEL, CancelRequest(reason="again"))
    assert final.cancel_reason == "done"


async def test_cancel_during_a_charge_keeps_the_charge_and_stops_billing(rig: SagaRig) -> None:
    charging = asyncio.Event()
    release = asyncio.Event()

    async def slow(_: Any) -> None:
        charging.set()
        await release.wait()

    rig.rec.hooks[CHARGE_PAYMENT] = slow
    handle = await start(rig)
    await asyncio.wait_for(charging.wait(), 20)

    cancelled = await handle.execute_update(
        CANCEL, CancelRequest(reason="changed my mind"), result_type=SubscriptionStatus
    )
    assert cancelled.state.value == "cancelled"
    release.set()
    final = await handle.result()

    assert final.state.value == "cancelled", "a charge finishing later must not revive it"
    assert final.cycles_billed == 1, "the charge in flight is kept (and in the history)"
    assert final.next_billing_at is None
    assert len(charges(rig)) == 1

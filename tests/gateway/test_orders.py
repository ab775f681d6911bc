"""The order API against a real gateway, real workers and the real dev server."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from tests.gateway.conftest import (
    BOB_TOKEN,
    LEGACY_TOKEN,
    SERVICE_TOKEN,
    GatewayStack,
    large_order,
    new_order,
)
from tests.integration.helpers import rtw, write_order

pytestmark = pytest.mark.integration


async def test_submit_returns_validated_status_at_once_and_is_idempotent(
    stack: GatewayStack,
) -> None:
    order = new_order()
    started = time.perf_counter()
    key = f"key-{uuid.uuid4().hex}"
    first = await stack.submit(order, key=key)
    elapsed = time.perf_counter() - started

    assert first.status_code == 201, first.text
    body = first.json()
    assert body["order_id"] == order["order_id"]
    assert body["workflow_id"] == f"order-{order['order_id']}"
    assert body["total_cents"] == 3000
    assert body["state"] not in ("completed", "compensated")  # not after the saga ended
    assert elapsed < 3, f"POST /orders took {elapsed:.2f}s"
    assert first.headers["x-request-id"]

    again = await stack.submit(order, key=key)
    assert again.status_code == 200, again.text
    assert again.json()["order_id"] == order["order_id"]


async def test_same_order_id_with_another_body_is_a_conflict_for_api_and_cli(
    stack: GatewayStack, tmp_path: Path
) -> None:
    order = new_order()
    assert (await stack.submit(order)).status_code == 201
    changed = {**order, "payment_method": "pm_card_chargeDeclined"}

    conflict = await stack.submit(changed)

    assert conflict.status_code == 409, conflict.text
    assert conflict.json()["type"] == "OrderConflict"
    assert order["order_id"] in conflict.json()["detail"]
    assert "different body" in conflict.json()["detail"]
    cli = await rtw(
        "order", "start", "--file", str(write_order(tmp_path, changed)), env=stack.workers.env
    )
    assert cli.code == 1
    assert "conflict" in cli.stderr
    assert "different body" in cli.stderr


async def test_a_key_reused_for_another_order_id_is_a_conflict(
    stack: GatewayStack, dev_client: Client
) -> None:
    first, second = new_order(), new_order()
    key = f"reused-{uuid.uuid4().hex}"
    assert (await stack.submit(first, key=key)).status_code == 201

    reused = await stack.submit(second, key=key)  # at once: no visibility lag to wait out

    assert reused.status_code == 409, reused.text
    assert reused.json()["type"] == "IdempotencyKeyReused"
    assert first["order_id"] in reused.json()["detail"]
    second_runs = f"WorkflowId = 'order-{second['order_id']}'"
    assert [wf async for wf in dev_client.list_workflows(second_runs)] == [], "nothing started"
    assert (await stack.submit(first, key=key)).status_code == 200, "its own order: a retry"
    quoted = await stack.submit(new_order(), key="it's")
    assert quoted.status_code == 422, "a key goes into a visibility query: a safe alphabet only"


async def test_one_key_with_ten_order_ids_in_parallel_starts_exactly_one_order(
    stack: GatewayStack, dev_client: Client
) -> None:
    key = f"race-{uuid.uuid4().hex}"
    orders = [new_order("race") for _ in range(10)]

    answers = await asyncio.gather(*(stack.submit(order, key=key) for order in orders))

    codes = sorted(answer.status_code for answer in answers)
    assert codes == [201] + [409] * 9, [a.text for a in answers]
    winner = orders[[a.status_code for a in answers].index(201)]["order_id"]
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["type"] == "IdempotencyKeyReused"
            assert winner in answer.json()["detail"]
    ids = " OR ".join(f"WorkflowId = 'order-{order['order_id']}'" for order in orders)
    started = [wf.id async for wf in dev_client.list_workflows(ids)]
    assert started == [f"order-{winner}"], "one key, one order"
    retry = await stack.submit(orders[[a.status_code for a in answers].index(201)], key=key)
    assert retry.status_code == 200, "the winner's retry is answered with its status"


async def test_invalid_body_is_422_with_field_paths_and_never_echoes_the_input(
    stack: GatewayStack,
) -> None:
    marker = "SECRET-4111111111111111"
    bad = new_order(
        currency=f"<b>{marker}</b>",
        items=[{"sku": "sku-1", "quantity": 0, "unit_price_cents": 1.5, marker: 1}],
    )

    response = await stack.submit(bad)

    assert response.status_code == 422
    body = response.json()
    assert set(body) == {"type", "detail", "errors"}
    assert body["type"] == "InvalidRequest"
    locations = {tuple(error["loc"]) for error in body["errors"]}
    assert ("body", "items", 0, "quantity") in locations
    assert ("body", "items", 0, "unit_price_cents") in locations
    assert ("body", "currency") in locations
    assert ("body", "items", 0) in locations  # the unknown field, not named
    assert "items.0.quantity" in body["detail"]
    assert marker not in response.text, "an error never repeats what was sent"
    assert "1.5" not in response.text


async def test_auth_and_idempotency_key_are_required(stack: GatewayStack) -> None:
    order = new_order()
    async with stack.http(token=None) as anonymous:
        missing = await anonymous.post("/orders", json=order, headers={"Idempotency-Key": "k"})
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = await anonymous.post(
            "/orders",
            json=order,
            headers={"Idempotency-Key": "k", "Authorization": "Bearer not-a-token"},
        )
        assert wrong.status_code == 401
        assert (await anonymous.get("/orders")).status_code == 401
    async with stack.http() as http:
        no_key = await http.post("/orders", json=order)
        assert no_key.status_code == 422
        assert ["header", "idempotency-key"] in [e["loc"] for e in no_key.json()["errors"]]
        # nothing was started by the refused requests
        assert (await http.get(f"/orders/{order['order_id']}")).status_code == 404


async def test_status_of_an_order_and_404_for_an_unknown_one(stack: GatewayStack) -> None:
    order = new_order()
    assert (await stack.submit(order)).status_code == 201
    async with stack.http() as http:
        unknown = await http.get(f"/orders/nope-{uuid.uuid4().hex[:8]}")
        assert unknown.status_code == 404
        assert unknown.json()["type"] == "OrderNotFound"
    # the shipment waits for the carrier: the saga is past capture and shipping
    status = await stack.wait_state(order["order_id"], "shipping")
    assert status["payment"]["captured_cents"] == 3000


async def test_waiting_orders_are_listed_by_state_and_customer_and_paginated(
    stack: GatewayStack,
) -> None:
    customer = f"c-{uuid.uuid4().hex[:8]}"
    orders = [large_order(customer_id=customer) for _ in range(3)]
    for order in orders:
        assert (await stack.submit(order)).status_code == 201
    wanted = {o["order_id"] for o in orders}
    async with stack.http() as http, asyncio.timeout(30):
        while True:
            listed = await http.get(
                "/orders", params={"state": "awaiting_approval", "customer": customer}
            )
            assert listed.status_code == 200, listed.text
            if {o["order_id"] for o in listed.json()["orders"]} == wanted:
                break
            await asyncio.sleep(0.3)
        for summary in listed.json()["orders"]:
            assert summary["state"] == "awaiting_approval"
            assert summary["customer_id"] == customer
            assert summary["total_cents"] == 150_000
            assert summary["currency"] == "USD"

        seen: list[str] = []
        page: str | None = None
        for _ in range(5):
            params = {"state": "awaiting_approval", "customer": customer, "page_size": "2"}
            if page:
                params["page"] = page
            response = await http.get("/orders", params=params)
            assert response.status_code == 200
            seen += [o["order_id"] for o in response.json()["orders"]]
            page = response.json()["next_page"]
            if page is None:
                break
        assert sorted(seen) == sorted(wanted)

        other = await http.get("/orders", params={"customer": f"c-{uuid.uuid4().hex[:8]}"})
        assert other.json()["orders"] == []
        bad = await http.get("/orders", params={"state": "nonsense"})
        assert bad.status_code == 422


async def test_approve_goes_through_the_update_and_a_second_decision_is_409(
    stack: GatewayStack,
) -> None:
    order = large_order()
    assert (await stack.submit(order)).status_code == 201
    await stack.wait_state(order["order_id"], "awaiting_approval")
    async with stack.http(token=SERVICE_TOKEN) as shop:
        forbidden = await shop.post(f"/orders/{order['order_id']}/approve", json={})
        assert forbidden.status_code == 403, forbidden.text
        assert forbidden.json()["type"] == "Forbidden"
        assert "shop has role service" in forbidden.json()["detail"]
    async with stack.http() as http:
        named = await http.post(
            f"/orders/{order['order_id']}/approve", json={"reviewer": "the-ceo", "reason": "ok"}
        )
        assert named.status_code == 422, "the reviewer is the token's principal, not free text"
        assert "principal" in named.json()["detail"]
        approved = await http.post(f"/orders/{order['order_id']}/approve", json={"reason": "ok"})
        assert approved.status_code == 200, approved.text
        assert approved.json()["decision"] == "approved"
        assert approved.json()["reviewer"] == "alice"
    async with stack.http(token=BOB_TOKEN) as bob:
        again = await bob.post(f"/orders/{order['order_id']}/reject", json={"reason": "late"})
        assert again.status_code == 409
        assert again.json() == {
            "type": "ApprovalRefused",
            "detail": f"order {order['order_id']} is already approved",
        }
        missing = await bob.post("/orders/nope-x/approve", json={})
        assert missing.status_code == 404
    status = await stack.wait_state(order["order_id"], "shipping")
    assert status["approval"]["reviewer"] == "alice"


async def test_reject_compensates(stack: GatewayStack) -> None:
    order = large_order()
    assert (await stack.submit(order)).status_code == 201
    await stack.wait_state(order["order_id"], "awaiting_approval")
    async with stack.http(token=LEGACY_TOKEN) as http:  # a token-only line: still a reviewer
        rejected = await http.post(f"/orders/{order['order_id']}/reject", json={"reason": "fraud"})
        assert rejected.status_code == 200, rejected.text
    final = await stack.wait_state(order["order_id"], "rejected")
    assert "void_authorization" in final["compensations_run"]
    assert final["approval"]["reviewer"].startswith("token-")


async def test_deciding_a_closed_order_is_409_order_closed_with_its_outcome(
    stack: GatewayStack,
) -> None:
    order = large_order()
    assert (await stack.submit(order)).status_code == 201
    await stack.wait_state(order["order_id"], "awaiting_approval")
    async with stack.http() as http:
        assert (await http.post(f"/orders/{order['order_id']}/reject", json={})).status_code == 200
        await stack.wait_state(order["order_id"], "rejected")
        for decision, done in (("approve", "approved"), ("reject", "rejected")):
            late = await http.post(f"/orders/{order['order_id']}/{decision}", json={})
            assert late.status_code == 409, late.text
            assert late.json() == {
                "type": "OrderClosed",
                "detail": f"order {order['order_id']} has ended (rejected); it cannot be {done}",
            }
        unknown = await http.post(f"/orders/none-{uuid.uuid4().hex[:8]}/approve", json={})
        assert unknown.status_code == 404


async def test_cancel_compensates_and_a_closed_order_cannot_be_cancelled(
    stack: GatewayStack,
) -> None:
    order = large_order()
    assert (await stack.submit(order)).status_code == 201
    await stack.wait_state(order["order_id"], "awaiting_approval")
    async with stack.http() as http:
        cancelled = await http.post(f"/orders/{order['order_id']}/cancel")
        assert cancelled.status_code == 202, cancelled.text
        final = await stack.wait_state(order["order_id"], "cancelled")
        assert final["compensations_run"][:2] == ["release_inventory", "void_authorization"]
        assert final["payment"]["voided_cents"] == 150_000
        again = await http.post(f"/orders/{order['order_id']}/cancel")
        assert again.status_code == 409
        assert again.json()["type"] == "OrderClosed"
        assert "has ended (cancelled)" in again.json()["detail"]
        assert (await http.post("/orders/nope-y/cancel")).status_code == 404


async def test_cli_cancel(stack: GatewayStack) -> None:
    order = large_order()
    assert (await stack.submit(order)).status_code == 201
    await stack.wait_state(order["order_id"], "awaiting_approval")

    result = await rtw("order", "cancel", order["order_id"], env=stack.workers.env)

    assert result.code == 0, result.stderr
    assert "cancellation requested" in result.stdout
    await stack.wait_state(order["order_id"], "cancelled")
    again = await rtw("order", "cancel", order["order_id"], env=stack.workers.env)
    assert again.code == 1
    assert "has ended" in again.stderr


async def test_smoke_check_fails_when_the_order_does_not_complete(stack: GatewayStack) -> None:
    """`python -m services.gateway.smoke` (the chart's helm test): here the carrier waits for
    webhooks, so the order stays `shipping` and the check must fail (the passing run is in
    tests/observability/test_gateway_traces.py, where the carrier delivers)."""
    tokens = stack.gateway.env["RTW_GATEWAY_TOKENS_FILE"]
    command = [
        sys.executable, "-m", "services.gateway.smoke",
        "--url", stack.url, "--token-file", tokens, "--timeout", "4",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 1, out.decode()
    assert "POST /orders -> 201" in out.decode()
    assert "did not end within 4s (last state 'shipping')" in out.decode()

"""Every reader tells the same, true story of an order: the run that owns it speaks for it,
and a closed run says how it really ended.

A refused duplicate (the same workflow id started again with the `temporal` CLI, which
allows duplicates) must not change what `rtw order status`, `GET /orders/{id}`, the list or
the inbox show; an order terminated mid-wait must not show as still waiting."""

from __future__ import annotations

import json

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from services.contracts import ORDER_ALREADY_EXISTS, OrderClaim, order_workflow_id
from tests.gateway.conftest import GatewayStack, new_order
from tests.integration.helpers import LARGE_ITEMS, rtw, run_temporal_cli

pytestmark = pytest.mark.integration


async def listed(stack: GatewayStack, order_id: str, **params: str) -> list[dict[str, object]]:
    async with stack.http() as http:
        response = await http.get("/orders", params={"page_size": "1000", **params})
    assert response.status_code == 200, response.text
    return [o for o in response.json()["orders"] if o["order_id"] == order_id]


async def test_a_refused_duplicate_never_changes_what_the_order_shows(
    stack: GatewayStack, dev_client: Client
) -> None:
    order = new_order("owned")
    order_id = order["order_id"]
    assert (await stack.submit(order)).status_code == 201
    await stack.wait_state(order_id, "shipping")
    await stack.deliver(order_id)
    owner = await stack.wait_state(order_id, "completed")
    owner_run = (
        await dev_client.get_workflow_handle(order_workflow_id(order_id)).describe()
    ).run_id

    # A README way in: start it again with the temporal CLI (its default policy allows it).
    await run_temporal_cli(
        stack.workers.server.address, "workflow", "start", "--type", "OrderSaga",
        "--task-queue", stack.workers.orchestration_queue,
        "--workflow-id", order_workflow_id(order_id), "--input", json.dumps(order),
    )  # fmt: skip
    refused = dev_client.get_workflow_handle(order_workflow_id(order_id))
    with pytest.raises(WorkflowFailureError) as ended:
        await refused.result()
    cause = ended.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == ORDER_ALREADY_EXISTS
    assert OrderClaim.model_validate(cause.details[0]).run_id == owner_run, "it names the owner"

    async with stack.http() as http:
        shown = (await http.get(f"/orders/{order_id}")).json()
    assert shown["state"] == "completed", shown
    assert shown["payment"] == owner["payment"]
    assert shown["steps_done"] == owner["steps_done"]

    cli = await rtw("order", "status", order_id, env=stack.workers.env)
    assert cli.code == 0, cli.stderr
    assert cli.json()["state"] == "completed"
    assert cli.json()["payment"]["captured_cents"] == owner["payment"]["captured_cents"]

    assert [o["state"] for o in await listed(stack, order_id)] == ["completed"]
    assert [o["state"] for o in await listed(stack, order_id, state="completed")] == ["completed"]
    assert await listed(stack, order_id, state="failed") == []


async def test_an_order_terminated_while_waiting_says_failed_everywhere(
    stack: GatewayStack, dev_client: Client
) -> None:
    order = {**new_order("cut"), "items": LARGE_ITEMS}
    order_id = order["order_id"]
    assert (await stack.submit(order)).status_code == 201
    await stack.wait_state(order_id, "awaiting_approval")
    assert await listed(stack, order_id, state="awaiting_approval") != []

    await dev_client.get_workflow_handle(order_workflow_id(order_id)).terminate("operator")

    async with stack.http() as http:
        shown = (await http.get(f"/orders/{order_id}")).json()
    async with stack.http(token=None) as browser:
        signed_in = await browser.post("/inbox/login", data={"token": stack.token})
        assert signed_in.status_code == 303, signed_in.text
        inbox = await browser.get("/inbox")
    assert "/inbox/logout" in inbox.text, "signed in: the inbox itself, not the sign-in form"
    assert shown["state"] == "failed", shown
    assert shown["failure"]["type"] == "TerminatedError", shown
    cli = await rtw("order", "status", order_id, env=stack.workers.env)
    assert cli.json()["state"] == "failed", cli.stdout
    # Visibility keeps the attribute it had; the list says how the run really ended.
    assert await listed(stack, order_id, state="awaiting_approval") == []
    assert [o["state"] for o in await listed(stack, order_id)] == ["failed"]
    assert order_id not in inbox.text

"""The three real worker processes against a real dev server, driven by the real CLI."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from services.contracts import ORDER_SAGA_WORKFLOW, OrderInput, OrderState, OrderStatus
from services.orchestration.client import order_fingerprint
from services.runtime.devserver import DevServer
from tests.integration.helpers import (
    WorkerStack,
    order_json,
    rtw,
    start_with_temporal_cli,
    write_order,
)

pytestmark = pytest.mark.integration


Stack = WorkerStack


#: The order the image ships (/opt/rtw/examples/order.json).
EXAMPLE_ORDER = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "order.json"


@pytest.fixture(scope="module")
async def stack(
    dev_server: DevServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    stack = Stack(dev_server, tmp_path_factory.mktemp("stack"), f"it-{uuid.uuid4().hex[:8]}-")
    async with stack.running():
        yield stack


def new_id() -> str:
    return f"it-{uuid.uuid4().hex[:10]}"


async def test_order_completes_through_cli_with_money_and_mail_once(
    stack: Stack, tmp_path: Path
) -> None:
    order_id = new_id()
    path = write_order(tmp_path, order_json(order_id))

    started = await rtw("order", "start", "--file", str(path), "--wait", env=stack.env)

    assert started.code == 0, started.stderr
    assert started.stdout.startswith(f"order-{order_id}\n")
    outcome = started.json()
    assert outcome["status"]["state"] == "completed"
    assert outcome["status"]["payment"]["captured_cents"] == 3000

    status = await rtw("order", "status", order_id, env=stack.env)
    assert status.code == 0, status.stderr
    assert status.json()["steps_done"] == [
        "authorize_payment",
        "reserve_inventory",
        "capture_payment",
        "send_confirmation",
        "ship_order",
    ]
    assert status.json()["shipment"]["state"] == "delivered"  # by the simulated carrier
    assert await stack.ledger_kinds(order_id) == ["authorization", "capture"]
    mine = await stack.outbox(order_id)
    assert [m["kind"] for m in mine] == ["order_confirmed"]

    ledger = await rtw("payments", "ledger", "--order-id", order_id, env=stack.env)
    assert ledger.code == 0, ledger.stderr
    header, *rows = ledger.stdout.splitlines()
    assert header.split() == ["created_at", "order_id", "kind", "amount_cents", "currency", "key"]
    assert [row.split()[1:4] for row in rows] == [
        [order_id, "authorization", "3000"],
        [order_id, "capture", "3000"],
    ]


async def test_ledger_of_an_order_without_entries_says_so(stack: Stack) -> None:
    result = await rtw("payments", "ledger", "--order-id", "no-such-order", env=stack.env)

    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == ["no ledger entries for order no-such-order"]


async def test_order_from_stdin(stack: Stack) -> None:
    order_id = new_id()
    result = await rtw(
        "order",
        "start",
        "--file",
        "-",
        "--wait",
        env=stack.env,
        stdin=json.dumps(order_json(order_id)),
    )
    assert result.code == 0, result.stderr
    assert result.json()["status"]["state"] == "completed"


@pytest.mark.parametrize(
    ("overrides", "failure", "ledger", "compensations"),
    [
        pytest.param(
            {"payment_method": "pm_card_chargeDeclined"},
            "PaymentDeclined",
            [],
            ["void_authorization", "notify_failure"],
            id="declined-card",
        ),
        pytest.param(
            {"items": [{"sku": "sku-discontinued", "quantity": 1, "unit_price_cents": 900}]},
            "OutOfStock",
            ["authorization", "void"],
            ["release_inventory", "void_authorization", "notify_failure"],
            id="out-of-stock",
        ),
    ],
)
async def test_business_failures_end_compensated(
    stack: Stack,
    tmp_path: Path,
    overrides: dict[str, object],
    failure: str,
    ledger: list[str],
    compensations: list[str],
) -> None:
    order_id = new_id()
    path = write_order(tmp_path, order_json(order_id, **overrides))

    result = await rtw("order", "start", "--file", str(path), "--wait", env=stack.env)

    assert result.code == 1, "only a completed order exits 0"
    status = result.json()["status"]
    assert status["state"] == "compensated"
    assert status["failure"]["type"] == failure
    assert status["compensations_run"] == compensations
    assert await stack.ledger_kinds(order_id) == ledger


async def test_cli_rejects_invalid_order_naming_the_field_and_starts_nothing(
    stack: Stack, dev_client: Client, tmp_path: Path
) -> None:
    order_id = new_id()
    bad = order_json(order_id, items=[{"sku": "sku-1", "quantity": 0, "unit_price_cents": 1}])
    result = await rtw("order", "start", "--file", str(write_order(tmp_path, bad)), env=stack.env)

    assert result.code == 2
    assert "items.0.quantity" in result.stderr
    with pytest.raises(RPCError):
        await dev_client.get_workflow_handle(f"order-{order_id}").describe()


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param("junk", id="string"),
        pytest.param([1, 2], id="list"),
        pytest.param({"order_id": 5, "items": "many"}, id="wrong-types"),
        pytest.param({**order_json("x"), "currency": "ZZZ"}, id="unknown-currency"),
    ],
)
async def test_junk_payload_fails_its_workflow_and_the_worker_keeps_going(
    stack: Stack, dev_client: Client, payload: object
) -> None:
    handle = await dev_client.start_workflow(
        ORDER_SAGA_WORKFLOW,
        payload,
        id=f"junk-{new_id()}",
        task_queue=stack.orchestration_queue,
        retry_policy=RetryPolicy(maximum_attempts=1),
    )
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "InvalidOrder"

    follow_up = await rtw(
        "order",
        "start",
        "--file",
        "-",
        "--wait",
        env=stack.env,
        stdin=json.dumps(order_json(new_id())),
    )
    assert follow_up.code == 0, "the same workers must still serve good orders"


async def test_status_of_an_order_that_failed_validation_names_the_failure(
    stack: Stack, dev_client: Client
) -> None:
    order_id = new_id()
    handle = await dev_client.start_workflow(
        ORDER_SAGA_WORKFLOW,
        {"order_id": order_id, "items": []},  # no customer, no currency, no items
        id=f"order-{order_id}",
        task_queue=stack.orchestration_queue,
        retry_policy=RetryPolicy(maximum_attempts=1),
    )
    with pytest.raises(WorkflowFailureError):
        await handle.result()

    status = await rtw("order", "status", order_id, env=stack.env)

    assert status.code == 1, status
    [line] = status.stderr.splitlines()
    assert line.startswith(
        f"rtw: order {order_id} failed before it had a status: InvalidOrder: invalid order: "
    ), line
    assert "customer_id" in line
    assert status.stdout == ""


async def test_duplicate_start_reports_the_existing_saga(
    stack: Stack, dev_client: Client, tmp_path: Path
) -> None:
    order_id = new_id()
    path = str(write_order(tmp_path, order_json(order_id)))

    first = await rtw("order", "start", "--file", path, env=stack.env)
    second = await rtw("order", "start", "--file", path, "--wait", env=stack.env)

    assert first.code == 0, first.stderr
    assert second.code == 0, second.stderr
    assert "already exists" in second.stdout
    assert "already exists" not in first.stdout
    runs = [wf async for wf in dev_client.list_workflows(f"WorkflowId = 'order-{order_id}'")]
    assert len(runs) == 1, "starting the same order twice must not start two sagas"
    assert await stack.ledger_kinds(order_id) == ["authorization", "capture"]


async def test_same_order_id_with_another_body_is_a_conflict(
    stack: Stack, dev_client: Client, tmp_path: Path
) -> None:
    order_id = new_id()
    first_path = write_order(tmp_path, order_json(order_id))
    first = await rtw("order", "start", "--file", str(first_path), env=stack.env)
    other_body = json.dumps(order_json(order_id, customer_id="c-2"))
    second = await rtw("order", "start", "--file", "-", env=stack.env, stdin=other_body)

    assert first.code == 0, first.stderr
    assert second.code == 1, second
    assert second.stderr.splitlines() == [
        f"rtw: conflict: order {order_id} already exists (order-{order_id}) with a different "
        "body; use a new order id, or send the same body to attach to it"
    ]
    assert second.stdout == ""
    runs = [wf async for wf in dev_client.list_workflows(f"WorkflowId = 'order-{order_id}'")]
    assert len(runs) == 1
    description = await dev_client.get_workflow_handle(f"order-{order_id}").describe()
    assert await description.memo_value("rtw_input_sha256") == order_fingerprint(
        OrderInput.model_validate(order_json(order_id))
    )


async def test_new_id_starts_a_new_order_on_every_run(stack: Stack, dev_client: Client) -> None:
    """`helm test` with tests.fullSaga: the image's example order under a fresh id each run, so
    a second run can never pass on the first run's completed order."""
    example = str(EXAMPLE_ORDER)
    runs = [
        await rtw("order", "start", "--file", example, "--new-id", "helm-test", "--wait",
                  env=stack.env)
        for _ in range(2)
    ]  # fmt: skip

    for run in runs:
        assert run.code == 0, run.stderr
    ids = [run.stdout.splitlines()[0] for run in runs]
    assert ids[0] != ids[1]
    for workflow_id in ids:
        assert re.fullmatch(r"order-helm-test-\d{10}-[0-9a-f]{6}", workflow_id), workflow_id
        status = await dev_client.get_workflow_handle(workflow_id).query("status")
        assert status["state"] == "completed"


async def test_plain_json_from_the_temporal_cli_starts_a_saga(
    stack: Stack, dev_server: DevServer, dev_client: Client
) -> None:
    order_id = new_id()
    await start_with_temporal_cli(
        dev_server.address, stack.orchestration_queue, order_json(order_id)
    )

    result = await dev_client.get_workflow_handle(
        f"order-{order_id}", result_type=OrderStatus
    ).result()
    assert result.state is OrderState.COMPLETED


async def test_workers_report_live_and_ready(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http:
        for worker in stack.processes.workers.values():
            for path in ("/healthz", "/readyz"):
                async with http.get(f"http://127.0.0.1:{worker.health_port}{path}") as resp:
                    assert resp.status == 200, (worker.queue, path, await resp.text())

"""Workflow patterns through the real worker processes, the `rtw` CLI and the `temporal` CLI:
approval, carrier events, lost parcels, subscriptions, schedules and reconciliation."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, ScheduleOverlapPolicy

from services.contracts import (
    ORDER_SAGA_WORKFLOW,
    RECONCILIATION_WORKFLOW,
    STATUS_QUERY,
    OrderState,
    OrderStatus,
    ReconciliationInput,
    ReconciliationReport,
    ShipmentStatus,
)
from services.runtime.devserver import DevServer
from services.runtime.invocation import rtw_command
from tests.integration.helpers import (
    LARGE_ITEMS,
    WorkerStack,
    eventually,
    order_json,
    rtw,
    run_temporal_cli,
    write_order,
)

pytestmark = pytest.mark.integration

#: Three worker processes whose simulated carrier does NOT deliver on its own.
Stack = WorkerStack


@pytest.fixture(scope="module")
async def stack(
    dev_server: DevServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    stack = Stack(
        dev_server,
        tmp_path_factory.mktemp("patterns"),
        f"pt-{uuid.uuid4().hex[:8]}-",
        extra_env={"RTW_SIMULATED_CARRIER_AUTO_DELIVER": "false"},
    )
    async with stack.running():
        yield stack


def new_id() -> str:
    return f"pt-{uuid.uuid4().hex[:10]}"


async def order_in_state(client: Client, order_id: str, state: str) -> OrderStatus:
    handle = client.get_workflow_handle(f"order-{order_id}")
    return await eventually(
        lambda: handle.query(STATUS_QUERY, result_type=OrderStatus),
        lambda s: s.state.value == state,
    )


async def shipment_booked(client: Client, order_id: str) -> ShipmentStatus:
    handle = client.get_workflow_handle(f"shipment-{order_id}")
    return await eventually(
        lambda: handle.query(STATUS_QUERY, result_type=ShipmentStatus),
        lambda s: s.state.value == "awaiting_pickup",
    )


async def test_large_order_waits_for_approval_then_ships_on_carrier_events(
    stack: Stack, dev_client: Client, tmp_path: Path
) -> None:
    order_id = new_id()
    path = write_order(tmp_path, order_json(order_id, items=LARGE_ITEMS))
    waiting = asyncio.create_task(
        rtw("order", "start", "--file", str(path), "--wait", env=stack.env)
    )

    await order_in_state(dev_client, order_id, "awaiting_approval")
    status = await rtw("order", "status", order_id, env=stack.env)
    assert status.json()["approval"]["deadline"] is not None
    assert await stack.ledger_kinds(order_id) == ["authorization"], "nothing captured yet"

    no_reviewer = await rtw("order", "approve", order_id, "--reviewer", " ", env=stack.env)
    assert no_reviewer.code == 1
    assert "reviewer is required" in no_reviewer.stderr
    approved = await rtw(
        "order", "approve", order_id, "--reviewer", "alice", "--reason", "vip", env=stack.env
    )
    assert approved.code == 0, approved.stderr
    assert approved.json()["decision"] == "approved"
    again = await rtw("order", "reject", order_id, "--reviewer", "bob", env=stack.env)
    assert again.code == 1
    assert "already approved" in again.stderr

    await order_in_state(dev_client, order_id, "shipping")
    await shipment_booked(dev_client, order_id)
    for event_id, event in (
        ("e-2", "in_transit"),
        ("e-1", "picked_up"),
        ("e-2", "in_transit"),
        ("e-3", "delivered"),
    ):
        sent = await rtw(
            "shipment", "event", order_id, event, "--event-id", event_id, env=stack.env
        )
        assert sent.code == 0, sent.stderr

    finished = await waiting
    assert finished.code == 0, finished.stdout + finished.stderr
    outcome = finished.json()["status"]
    assert outcome["state"] == "completed"
    assert outcome["steps_done"] == [
        "authorize_payment",
        "reserve_inventory",
        "approval",
        "capture_payment",
        "send_confirmation",
        "ship_order",
    ]
    assert outcome["approval"]["reviewer"] == "alice"
    assert outcome["shipment"]["state"] == "delivered"
    shipment = await rtw("shipment", "status", order_id, env=stack.env)
    assert shipment.json()["duplicates_ignored"] == 1
    assert [e["outcome"] for e in shipment.json()["events"]] == ["applied", "stale", "applied"]
    assert await stack.ledger_kinds(order_id) == ["authorization", "capture"]

    # --wait told the person at the terminal what happened and what it waited for
    progress = finished.stderr.splitlines()
    assert all(line.startswith(f"rtw: order {order_id}: ") for line in progress), progress
    rtw_cmd = rtw_command()  # as it can be typed here (`.venv/bin/rtw` from the checkout)
    awaiting = (
        f"rtw: order {order_id}: awaiting approval: run "
        f"`{rtw_cmd} order approve {order_id} --reviewer NAME` "
        f"(or `{rtw_cmd} order reject {order_id} --reviewer NAME`)"
    )
    assert awaiting in progress
    assert progress.index(awaiting) < progress.index(f"rtw: order {order_id}: shipping")


async def test_rejected_order_exits_one_and_is_compensated(
    stack: Stack, dev_client: Client, tmp_path: Path
) -> None:
    order_id = new_id()
    path = write_order(tmp_path, order_json(order_id, items=LARGE_ITEMS))
    waiting = asyncio.create_task(
        rtw("order", "start", "--file", str(path), "--wait", env=stack.env)
    )
    await order_in_state(dev_client, order_id, "awaiting_approval")

    rejected = await rtw(
        "order", "reject", order_id, "--reviewer", "bob", "--reason", "fraud", env=stack.env
    )
    assert rejected.code == 0, rejected.stderr

    finished = await waiting
    assert finished.code == 1, "only a completed order exits 0"
    status = finished.json()["status"]
    assert status["state"] == "rejected"
    assert status["compensations_run"] == [
        "release_inventory",
        "void_authorization",
        "notify_failure",
    ]
    assert await stack.ledger_kinds(order_id) == ["authorization", "void"]


async def test_plain_json_through_the_temporal_cli_update_signal_query(
    stack: Stack, dev_client: Client
) -> None:
    order_id = new_id()
    await run_temporal_cli(
        stack.server.address,
        "workflow",
        "start",
        "--type",
        ORDER_SAGA_WORKFLOW,
        "--task-queue",
        stack.orchestration_queue,
        "--workflow-id",
        f"order-{order_id}",
        "--input",
        json.dumps(order_json(order_id, items=LARGE_ITEMS)),
    )
    await order_in_state(dev_client, order_id, "awaiting_approval")

    updated = await run_temporal_cli(
        stack.server.address,
        "workflow",
        "update",
        "execute",
        "--workflow-id",
        f"order-{order_id}",
        "--name",
        "approve",
        "--input",
        json.dumps({"reviewer": "ops-cli", "reason": "checked"}),
    )
    assert "approved" in updated

    await order_in_state(dev_client, order_id, "shipping")
    await shipment_booked(dev_client, order_id)
    await run_temporal_cli(
        stack.server.address,
        "workflow",
        "signal",
        "--workflow-id",
        f"shipment-{order_id}",
        "--name",
        "carrier_event",
        "--input",
        json.dumps({"event_id": "cli-1", "event": "delivered"}),
    )
    result = await dev_client.get_workflow_handle(
        f"order-{order_id}", result_type=OrderStatus
    ).result()
    assert result.state is OrderState.COMPLETED

    queried = await run_temporal_cli(
        stack.server.address,
        "workflow",
        "query",
        "--workflow-id",
        f"order-{order_id}",
        "--name",
        "status",
    )
    assert '"completed"' in queried
    assert '"ops-cli"' in queried


async def test_lost_parcel_is_refunded_with_a_notice(
    stack: Stack, dev_client: Client, tmp_path: Path
) -> None:
    order_id = new_id()
    path = write_order(tmp_path, order_json(order_id))
    started = await rtw("order", "start", "--file", str(path), env=stack.env)
    assert started.code == 0, started.stderr
    await order_in_state(dev_client, order_id, "shipping")
    await shipment_booked(dev_client, order_id)

    lost = await rtw("shipment", "event", order_id, "lost", env=stack.env)
    assert lost.code == 0, lost.stderr
    result = await dev_client.get_workflow_handle(
        f"order-{order_id}", result_type=OrderStatus
    ).result()

    assert result.state is OrderState.COMPENSATED
    assert result.compensations_run == ["refund_payment", "notify_failure"]
    assert await stack.ledger_kinds(order_id) == ["authorization", "capture", "refund"]
    notices = [m for m in await stack.outbox() if m["order_id"] == order_id]
    assert [m["kind"] for m in notices] == ["order_confirmed", "order_failed"]
    assert notices[-1]["data"]["reason"] == "ShipmentLost"


async def test_subscription_lifecycle_through_the_cli(stack: Stack) -> None:
    sub_id = new_id()
    started = await rtw(
        "subscription", "start", "--id", sub_id, "--customer", "c-9", "--plan", "basic",
        env=stack.env,
    )  # fmt: skip
    assert started.code == 0, started.stderr
    assert started.stdout.strip() == f"subscription-{sub_id}"

    async def status() -> dict[str, Any]:
        result = await rtw("subscription", "status", sub_id, env=stack.env)
        assert result.code == 0, result.stderr
        data: dict[str, Any] = result.json()
        return data

    first = await eventually(status, lambda s: s["cycles_billed"] == 1)
    assert first["state"] == "active"
    assert first["next_billing_at"] is not None

    changed = await rtw("subscription", "change-plan", sub_id, "--plan", "premium", env=stack.env)
    assert changed.code == 0, changed.stderr
    assert changed.json()["pending_plan"] == "premium"
    unknown = await rtw("subscription", "change-plan", sub_id, "--plan", "gold", env=stack.env)
    assert unknown.code == 1
    assert "unknown plan" in unknown.stderr

    cancelled = await rtw("subscription", "cancel", sub_id, "--reason", "test", env=stack.env)
    assert cancelled.code == 0, cancelled.stderr
    assert cancelled.json()["state"] == "cancelled"
    assert await stack.ledger_kinds(f"subscription-{sub_id}") == ["capture"]


async def test_schedules_apply_is_idempotent_and_listed(stack: Stack, dev_client: Client) -> None:
    first = await rtw("schedules", "apply", env=stack.env)
    second = await rtw("schedules", "apply", env=stack.env)
    assert first.code == 0, first.stderr
    assert second.code == 0, second.stderr
    schedule_id = f"{stack.prefix}reconciliation-daily"
    assert first.json() == [{"schedule_id": schedule_id, "action": "created"}]
    assert second.json() == [{"schedule_id": schedule_id, "action": "unchanged"}]

    desc = await dev_client.get_schedule_handle(schedule_id).describe()
    assert desc.schedule.policy.overlap is ScheduleOverlapPolicy.SKIP
    assert desc.schedule.policy.catchup_window == timedelta(hours=6)
    updated_at = desc.info.last_updated_at

    moved = await rtw("schedules", "apply", "--hour-utc", "4", env=stack.env)
    assert moved.json() == [{"schedule_id": schedule_id, "action": "updated"}]
    assert (await dev_client.get_schedule_handle(schedule_id).describe()).info.last_updated_at != (
        updated_at
    )
    back = await rtw("schedules", "apply", env=stack.env)
    assert back.json() == [{"schedule_id": schedule_id, "action": "updated"}]

    async def listed() -> list[dict[str, Any]]:
        result = await rtw("schedules", "list", env=stack.env)
        assert result.code == 0, result.stderr
        data: list[dict[str, Any]] = result.json()
        return data

    found = await eventually(
        listed, lambda rows: any(r["schedule_id"] == schedule_id for r in rows)
    )
    [row] = [r for r in found if r["schedule_id"] == schedule_id]
    assert row["workflow"] == RECONCILIATION_WORKFLOW
    assert row["calendars"][0]["hour"] == [3]

    # The schedule's action really runs: trigger it now and wait for the run's report.
    schedule = dev_client.get_schedule_handle(schedule_id)
    try:
        await schedule.trigger()
        desc = await eventually(schedule.describe, lambda d: bool(d.info.recent_actions))
        action = desc.info.recent_actions[0].action
        workflow_id = getattr(action, "workflow_id", "")
        assert workflow_id.startswith(f"{stack.prefix}reconciliation")
        report = await dev_client.get_workflow_handle(
            workflow_id, result_type=ReconciliationReport
        ).result()
        assert report.checked_orders >= 0
    finally:
        await schedule.delete()


async def test_reconciliation_reports_an_orphaned_charge_and_alerts(
    stack: Stack, dev_client: Client, tmp_path: Path
) -> None:
    order_id = new_id()
    path = write_order(tmp_path, order_json(order_id))
    assert (await rtw("order", "start", "--file", str(path), env=stack.env)).code == 0
    await order_in_state(dev_client, order_id, "shipping")  # captured
    await dev_client.get_workflow_handle(f"order-{order_id}").terminate("operator error")

    report = await dev_client.execute_workflow(
        RECONCILIATION_WORKFLOW,
        ReconciliationInput(grace_minutes=0),
        id=f"reconcile-{new_id()}",
        task_queue=stack.orchestration_queue,
        result_type=ReconciliationReport,
    )

    mine = [o for o in report.orphaned if o.order_id == order_id]
    assert [(o.saga_outcome, o.captured_cents, o.refunded_cents) for o in mine] == [
        ("terminated", 3000, 0)
    ]
    assert report.alert_sent
    alerts = [m for m in await stack.outbox() if m["kind"] == "reconciliation_alert"]
    assert alerts
    assert order_id in alerts[-1]["data"]["orders"]

"""SIGTERM drains a worker: in-flight activities finish, readiness drops, exit code 0."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client, WorkflowHandle

from services.chaos.fleet import Fleet
from services.contracts import AUTHORIZE_PAYMENT, OrderInput, OrderState, TaskQueue
from services.orchestration.client import start_order
from services.payments import ledger_for
from services.runtime.database import SqliteDatabase
from services.runtime.devserver import DevServer, free_port
from services.runtime.local_stack import LocalStack, WorkerProcess
from tests.integration.helpers import order_json, wait_for_started_activity

pytestmark = pytest.mark.integration

LATENCY_MS = 2500


async def readiness_after_signal(port: int) -> tuple[int, str]:
    """/readyz once the signal has been handled (it must drop while the drain runs)."""
    url = f"http://127.0.0.1:{port}/readyz"
    async with aiohttp.ClientSession() as http, asyncio.timeout(5):
        while True:
            async with http.get(url) as resp:
                if resp.status != 200:
                    return resp.status, (await resp.json())["reason"]
            await asyncio.sleep(0.02)


async def test_sigterm_lets_the_in_flight_payment_finish_and_exits_zero(
    dev_server: DevServer, dev_client: Client, tmp_path: Path
) -> None:
    prefix = f"drain-{uuid.uuid4().hex[:8]}-"
    env = {
        "TEMPORAL_ADDRESS": dev_server.address,
        "RTW_QUEUE_PREFIX": prefix,
        "RTW_DATA_DIR": str(tmp_path),
        "RTW_PAYMENTS_PROVIDER_LATENCY_MS": str(LATENCY_MS),
        "RTW_GRACEFUL_SHUTDOWN_SECONDS": "20",
    }
    others = LocalStack(
        address=dev_server.address,
        env=env,
        log_dir=tmp_path / "logs",
        queues=(TaskQueue.ORCHESTRATION, TaskQueue.NOTIFICATIONS),
    )
    payments = WorkerProcess(TaskQueue.PAYMENTS, free_port(), env, tmp_path / "logs" / "p1.log")
    await others.start()
    await payments.start()
    await payments.wait_ready()
    order = OrderInput.model_validate(order_json(f"drain-{uuid.uuid4().hex[:8]}"))
    try:
        started = await start_order(dev_client, order, task_queue=f"{prefix}orchestration")
        await wait_for_started_activity(started.handle, AUTHORIZE_PAYMENT)

        assert payments.process is not None
        payments.process.send_signal(signal.SIGTERM)
        assert await readiness_after_signal(payments.health_port) == (503, "draining")
        code = await asyncio.wait_for(payments.process.wait(), 30)
        assert code == 0

        db = SqliteDatabase(tmp_path / "rtw.sqlite3")
        await db.open()
        try:
            entries = await ledger_for(db).entries(order_id=order.order_id)
        finally:
            await db.close()
        assert [e.kind.value for e in entries] == ["authorization"], (
            "the in-flight authorization must have finished before the worker exited"
        )

        successor = WorkerProcess(
            TaskQueue.PAYMENTS, free_port(), env, tmp_path / "logs" / "p2.log"
        )
        await successor.start()
        try:
            result = await asyncio.wait_for(started.handle.result(), 60)
        finally:
            assert await successor.stop() == 0
        assert result.state is OrderState.COMPLETED

        history = await started.handle.fetch_history()
        attempts = [
            e.activity_task_started_event_attributes.attempt
            for e in history.events
            if e.HasField("activity_task_started_event_attributes")
        ]
        assert all(a == 1 for a in attempts), f"no step may have been retried: {attempts}"
    finally:
        await payments.stop()
        codes = await others.stop()
        assert set(codes.values()) == {0}, json.dumps({q.value: c for q, c in codes.items()})


async def workflow_task_timeouts(
    handle: WorkflowHandle[Any, Any],
) -> list[tuple[TimeoutType.ValueType, float]]:
    """(timeout type, seconds since that task was scheduled) of each workflow-task timeout."""
    found: list[tuple[TimeoutType.ValueType, float]] = []
    scheduled = 0.0
    async for event in handle.fetch_history_events():
        at = event.event_time.ToDatetime().timestamp()
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            scheduled = at
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            kind = event.workflow_task_timed_out_event_attributes.timeout_type
            found.append((kind, at - scheduled))
    return found


async def test_a_drained_orchestration_worker_hands_its_sagas_over(
    dev_server: DevServer, dev_client: Client, tmp_path: Path
) -> None:
    """Two orchestration replicas; one is SIGTERMed while 30 sagas run. Every saga completes
    on the other. Sagas cached on the drained worker move on after the sticky-queue timeout
    (2 s, not the SDK's 10 s). What the SDK still forces is measured, not hidden: a workflow
    task its poller took just as it shut down waits out the task timeout (START_TO_CLOSE,
    10 s by default), see docs/operations.md."""
    prefix = f"handover-{uuid.uuid4().hex[:6]}-"
    env = {
        "TEMPORAL_ADDRESS": dev_server.address,
        "RTW_QUEUE_PREFIX": prefix,
        "RTW_DATA_DIR": str(tmp_path),
    }
    fleet = Fleet(
        env=env,
        replicas={TaskQueue.ORCHESTRATION: 2, TaskQueue.PAYMENTS: 1, TaskQueue.NOTIFICATIONS: 1},
        log_dir=tmp_path / "logs",
    )
    await fleet.start()
    try:
        handles = [
            (
                await start_order(
                    dev_client,
                    OrderInput.model_validate(order_json(f"ho-{uuid.uuid4().hex[:8]}")),
                    task_queue=f"{prefix}orchestration",
                )
            ).handle
            for _ in range(30)
        ]
        await asyncio.sleep(0.3)
        assert await fleet.terminate((TaskQueue.ORCHESTRATION, 0)) == 0

        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)

        assert {r.state for r in results} == {OrderState.COMPLETED}
        timeouts = [t for h in handles for t in await workflow_task_timeouts(h)]
        sticky = [s for kind, s in timeouts if kind == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START]
        assert all(s < 3.5 for s in sticky), f"sticky hand-over took {sticky}"
        dropped = [s for kind, s in timeouts if kind == TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE]
        assert all(s < 12 for s in dropped), f"a dropped task waits the task timeout: {dropped}"
    finally:
        codes = await fleet.stop()
        assert set(codes.values()) == {0}, codes

"""Eager workflow start on the embedded dev server: a saga started by a process that runs an
orchestration worker gets its first workflow task with the start response; any other
starter is unaffected."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHandle

from services.contracts import OrderInput, OrderState, OrderStatus, TaskQueue
from services.orchestration.client import start_order
from services.orchestration.worker import orchestration_worker
from services.runtime.config import Settings, TemporalSettings
from services.runtime.connection import connect
from services.runtime.database import open_database
from services.runtime.devserver import DevServer

pytestmark = pytest.mark.integration


def _order(order_id: str) -> OrderInput:
    return OrderInput.model_validate(
        {
            "order_id": order_id,
            "customer_id": "c-1",
            "currency": "USD",
            "items": [{"sku": "sku-1", "quantity": 1, "unit_price_cents": 1000}],
            "payment_method": "pm_card_visa",
        }
    )


def _eagerly_started(handle: WorkflowHandle[object, OrderStatus]) -> bool:
    # The SDK records it on the handle under this (unmangled) attribute name.
    return bool(getattr(handle, "__temporal_eagerly_started", False))


async def _state_after_first_task(handle: WorkflowHandle[object, OrderStatus]) -> OrderState:
    """The saga's state once its first workflow task ran (no payments worker: it waits)."""
    for _ in range(100):
        status: OrderStatus = await handle.query("status", result_type=OrderStatus)
        if status.state is not OrderState.RECEIVED:
            return status.state
        await asyncio.sleep(0.1)
    raise AssertionError("the saga never got past its first workflow task")


async def test_a_start_from_the_orchestration_workers_process_is_eager(
    dev_server: DevServer,
    queue_prefix: str,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RTW_QUEUE_PREFIX", queue_prefix)
    monkeypatch.setenv("RTW_DATA_DIR", str(data_dir))
    monkeypatch.setenv("RTW_WORKER_VERSIONING", "false")
    settings = Settings()
    queue = settings.queue_name(TaskQueue.ORCHESTRATION)
    own: Client = await connect(TemporalSettings(address=dev_server.address))
    other: Client = await connect(TemporalSettings(address=dev_server.address))
    suffix = queue_prefix.strip("-")

    db = await open_database(settings.database, data_dir=settings.data_dir)
    store = await db.identity()
    async with orchestration_worker(own, settings, db, store) as worker, worker:
        eager = await start_order(own, _order(f"eager-{suffix}"), task_queue=queue)
        plain = await start_order(other, _order(f"plain-{suffix}"), task_queue=queue)

        assert eager.created
        assert plain.created
        assert _eagerly_started(eager.handle), "the worker's own client should start eagerly"
        assert not _eagerly_started(plain.handle), "a client without a worker cannot"
        # Both ran their first task (claim, policy) and wait for the payments queue.
        assert await _state_after_first_task(eager.handle) is OrderState.AUTHORIZING
        assert await _state_after_first_task(plain.handle) is OrderState.AUTHORIZING
        for started in (eager, plain):
            await started.handle.terminate("test over")
    await db.close()

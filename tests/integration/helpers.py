"""Helpers for tests that drive real worker processes and the real `rtw` CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from services.chaos.fleet import Fleet
from services.chaos.postgres import TempPostgres
from services.contracts import ORDER_SAGA_WORKFLOW, TaskQueue
from services.runtime.database import PostgresDatabase
from services.runtime.devserver import DevServer, temporal_cli
from services.runtime.local_stack import LocalStack

T = TypeVar("T")

#: 100 units at 1200 cents = 120000: above the default approval threshold.
LARGE_ITEMS = [{"sku": "sku-2", "quantity": 100, "unit_price_cents": 1200}]


async def eventually(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], *, timeout: float = 30
) -> T:
    """Poll until `check(probe())` holds (RPC errors and refused connections, e.g. to a
    health port not yet open, count as not yet)."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                value = await probe()
                if check(value):
                    return value
            except (RPCError, aiohttp.ClientError):
                pass
            await asyncio.sleep(0.1)


async def probe(port: int, path: str) -> tuple[int, dict[str, object]]:
    """A worker's health endpoint: status code and JSON body."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http,
        http.get(f"http://127.0.0.1:{port}{path}") as resp,
    ):
        return resp.status, await resp.json()


@dataclass(frozen=True)
class CliResult:
    """Exit code and output of one `rtw` invocation."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout parsed as JSON, skipping any line before the document."""
        start = min(i for i in (self.stdout.find("{"), self.stdout.find("[")) if i >= 0)
        return json.loads(self.stdout[start:])


async def rtw(
    *args: str, env: Mapping[str, str], stdin: str | None = None, cwd: Path | None = None
) -> CliResult:
    """Run `python -m services ARGS` (the `rtw` command) in a subprocess."""

    def run() -> CliResult:
        proc = subprocess.run(
            [sys.executable, "-m", "services", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            cwd=cwd,
            timeout=120,
            check=False,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return await asyncio.to_thread(run)


def order_json(order_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid order payload."""
    return {
        "order_id": order_id,
        "customer_id": "c-1",
        "currency": "USD",
        "payment_method": "pm_card_visa",
        "items": [{"sku": "sku-1", "quantity": 2, "unit_price_cents": 1500}],
        **overrides,
    }


def write_order(directory: Path, order: dict[str, Any]) -> Path:
    """Write an order file and return its path."""
    path = directory / f"{order.get('order_id', 'order')}.json"
    path.write_text(json.dumps(order), encoding="utf-8")
    return path


async def wait_for_started_activity(
    handle: WorkflowHandle[Any, Any], activity_type: str, *, timeout: float = 30
) -> None:
    """Wait until a worker has picked up `activity_type` for this workflow."""
    async with asyncio.timeout(timeout):
        while True:
            desc = await handle.describe()
            for pending in desc.raw_description.pending_activities:
                if (
                    pending.activity_type.name == activity_type
                    and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                ):
                    return
            await asyncio.sleep(0.05)


class WorkerStack:
    """One prefixed deployment for a test module: three `rtw worker` processes and the
    environment the CLI needs to reach them."""

    def __init__(
        self,
        server: DevServer,
        data_dir: Path,
        prefix: str,
        *,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.server = server
        self.env = {
            "TEMPORAL_ADDRESS": server.address,
            "RTW_QUEUE_PREFIX": prefix,
            "RTW_DATA_DIR": str(data_dir),
            "RTW_LOG_FORMAT": "json",
            **(extra_env or {}),
        }
        self.prefix = prefix
        self.data_dir = data_dir
        self.processes = LocalStack(address=server.address, env=self.env, log_dir=data_dir / "logs")

    @property
    def orchestration_queue(self) -> str:
        """Where this stack's sagas run."""
        return f"{self.prefix}{TaskQueue.ORCHESTRATION.value}"

    async def outbox(self, order_id: str | None = None) -> list[dict[str, Any]]:
        """Notifications this stack stored, read with `rtw notifications outbox`."""
        args = ["--order-id", order_id] if order_id else []
        result = await rtw("notifications", "outbox", *args, "--json", env=self.env)
        assert result.code == 0, result.stderr
        messages: list[dict[str, Any]] = result.json()
        return messages

    async def ledger_kinds(self, order_id: str) -> list[str]:
        """Kinds of the ledger entries of one order, read with `rtw payments ledger`."""
        result = await rtw("payments", "ledger", "--order-id", order_id, "--json", env=self.env)
        assert result.code == 0, result.stderr
        return [entry["kind"] for entry in result.json()]

    @asynccontextmanager
    async def running(self) -> AsyncIterator[WorkerStack]:
        """Start the workers; on exit SIGTERM them and insist that each exits 0."""
        await self.processes.start()
        try:
            yield self
        finally:
            codes = await self.processes.stop()
            assert set(codes.values()) == {0}, f"workers must exit 0 on SIGTERM: {codes}"


async def run_temporal_cli(address: str, *args: str) -> str:
    """Run the `temporal` CLI against `address`; return stdout (exit 0 asserted)."""
    proc = await asyncio.create_subprocess_exec(
        temporal_cli(), *args, "--address", address,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, f"temporal {' '.join(args)}: {err.decode()}"
    return out.decode()


async def start_with_temporal_cli(address: str, task_queue: str, order: dict[str, Any]) -> str:
    """Start an OrderSaga from plain JSON with the `temporal` CLI (an uninstrumented client);
    return its workflow id."""
    workflow_id = f"order-{order['order_id']}"
    await run_temporal_cli(
        address, "workflow", "start", "--type", ORDER_SAGA_WORKFLOW, "--task-queue", task_queue,
        "--workflow-id", workflow_id, "--input", json.dumps(order),
    )  # fmt: skip
    return workflow_id


async def migrated_database(server: TempPostgres) -> str:
    """A fresh database on `server`, migrated as `rtw db migrate` does; its URL."""
    url = server.create_database()
    db = PostgresDatabase(url, pool_size=1)
    await db.open()
    try:
        await db.migrate()
    finally:
        await db.close()
    return url


def fleet_env(server: DevServer, url: str, prefix: str, work: Path) -> dict[str, str]:
    """What every worker of a test's fleet on PostgreSQL gets (add the test's own knobs)."""
    return {
        "TEMPORAL_ADDRESS": server.address,
        "RTW_QUEUE_PREFIX": prefix,
        "RTW_DATABASE_URL": url,
        "RTW_DATABASE_POOL_SIZE": "4",
        "RTW_DATA_DIR": str(work / "data"),
        "RTW_LOG_FORMAT": "json",
    }


@asynccontextmanager
async def running_fleet(
    env: Mapping[str, str], log_dir: Path, *, per_queue: int = 1
) -> AsyncIterator[Fleet]:
    """`per_queue` worker processes of every queue, started and ready; on exit each gets
    SIGTERM and must exit 0."""
    fleet = Fleet(env=env, replicas=dict.fromkeys(TaskQueue, per_queue), log_dir=log_dir)
    await fleet.start()
    try:
        yield fleet
    finally:
        codes = await fleet.stop()
    assert set(codes.values()) == {0}, f"workers must exit 0 on SIGTERM: {codes}"

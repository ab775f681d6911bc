"""Readiness tells the truth about the store, and every worker of a deployment uses one store.

Real worker processes on a real PostgreSQL (its own cluster per test, so it can be stopped,
starved of connections and restarted) and a real dev server.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from temporalio.client import Client

from services.chaos.audit import OrderBooks
from services.chaos.audit import order_books as read_books
from services.chaos.fleet import Fleet
from services.chaos.postgres import TempPostgres
from services.contracts import OrderInput, OrderState, TaskQueue
from services.orchestration.client import start_order, wait_for_order
from services.runtime.database import PostgresDatabase
from services.runtime.devserver import DevServer, free_port
from services.runtime.local_stack import WorkerProcess
from tests.integration.helpers import (
    eventually,
    fleet_env,
    migrated_database,
    order_json,
    probe,
    rtw,
    running_fleet,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def own_postgres() -> Iterator[TempPostgres]:
    """A PostgreSQL of this test's own (it gets stopped), with few connections."""
    server = TempPostgres(max_connections=20).start()
    try:
        yield server
    finally:
        server.stop()


def store_env(server: DevServer, url: str, prefix: str, work: Path) -> dict[str, str]:
    """Small pools that give idle connections back after 2 s; unversioned workers."""
    return fleet_env(server, url, prefix, work) | {
        "RTW_DATABASE_POOL_SIZE": "3",
        "RTW_DATABASE_POOL_MAX_IDLE_SECONDS": "2",
        "RTW_WORKER_VERSIONING": "false",
    }


def order(prefix: str) -> OrderInput:
    return OrderInput.model_validate(order_json(f"{prefix}{uuid.uuid4().hex[:6]}"))


async def readiness(fleet: Fleet) -> list[int]:
    return [(await probe(w.health_port, "/readyz"))[0] for w in fleet.workers.values()]


async def liveness(fleet: Fleet) -> list[int]:
    return [(await probe(w.health_port, "/healthz"))[0] for w in fleet.workers.values()]


async def test_a_store_outage_turns_readiness_off_and_orders_finish_once_it_is_back(
    dev_server: DevServer, dev_client: Client, own_postgres: TempPostgres, tmp_path: Path
) -> None:
    url = await migrated_database(own_postgres)
    prefix = f"so-{uuid.uuid4().hex[:6]}-"
    async with running_fleet(
        store_env(dev_server, url, prefix, tmp_path), tmp_path / "logs"
    ) as fleet:
        queue = f"{prefix}{TaskQueue.ORCHESTRATION.value}"
        own_postgres.halt()
        # Every worker notices within three checks (2 s apart) and stops taking work.
        await eventually(lambda: readiness(fleet), lambda codes: set(codes) == {503}, timeout=20)
        assert set(await liveness(fleet)) == {200}, "a store outage is no reason to restart"
        _, body = await probe(fleet.workers[(TaskQueue.PAYMENTS, 0)].health_port, "/readyz")
        assert "store" in str(body["reason"]), body

        during = order(prefix)
        started = await start_order(dev_client, during, task_queue=queue)
        await asyncio.sleep(5)
        own_postgres.resume()

        await eventually(lambda: readiness(fleet), lambda codes: set(codes) == {200}, timeout=30)
        outcome = await asyncio.wait_for(wait_for_order(started.handle), timeout=120)
        assert outcome.status is not None
        assert outcome.status.state is OrderState.COMPLETED, outcome


async def take_every_connection(url: str) -> list[psycopg.AsyncConnection[Any]]:
    """Open connections until the server refuses one (another client hogging them all)."""
    held: list[psycopg.AsyncConnection[Any]] = []
    while True:
        try:
            held.append(await psycopg.AsyncConnection.connect(url))
        except psycopg.OperationalError as exc:
            if "too many clients" not in str(exc):
                raise
            return held


async def test_a_replica_without_a_connection_waits_unready_and_joins_when_one_frees(
    dev_server: DevServer, dev_client: Client, own_postgres: TempPostgres, tmp_path: Path
) -> None:
    url = await migrated_database(own_postgres)
    prefix = f"sc-{uuid.uuid4().hex[:6]}-"
    env = store_env(dev_server, url, prefix, tmp_path)
    async with running_fleet(env, tmp_path / "logs"):
        await a_late_replica_waits_for_a_connection(dev_client, url, prefix, env, tmp_path)


async def a_late_replica_waits_for_a_connection(
    dev_client: Client, url: str, prefix: str, env: dict[str, str], tmp_path: Path
) -> None:
    await eventually(lambda: _client_connections(url), lambda n: n <= 3)  # one per process
    sizing = await rtw("db", "status", env=env)
    assert sizing.code == 0, sizing.stderr
    assert "of 17 (max_connections 20, 3 reserved for superusers)" in sizing.stdout, sizing.stdout
    hog = await take_every_connection(url)
    late = WorkerProcess(
        TaskQueue.PAYMENTS, free_port(), env, log_file=tmp_path / "logs" / "payments-late.log"
    )
    try:
        await late.start()
        status, body = await eventually(
            lambda: probe(late.health_port, "/readyz"),
            lambda r: "waiting for the store" in str(r[1].get("reason", "")),
        )
        assert status == 503
        assert "out of connections" in str(body["reason"]), body
        assert (await probe(late.health_port, "/healthz"))[0] == 200

        # The replicas that have a connection keep serving orders.
        queue = f"{prefix}{TaskQueue.ORCHESTRATION.value}"
        started = await start_order(dev_client, order(prefix), task_queue=queue)
        outcome = await asyncio.wait_for(wait_for_order(started.handle), timeout=60)
        assert outcome.completed, outcome

        result = await rtw("db", "status", env=env)
        assert result.code == 1, result
        assert "out of connections" in result.stderr
        assert "max_connections" in result.stderr

        for conn in hog:
            await conn.close()
        hog = []
        await late.wait_ready(timeout=30)
    finally:
        for conn in hog:
            await conn.close()
        code = await late.stop()
    assert code == 0, "the late replica drains and exits 0 too"


async def _client_connections(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rtw'"
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


async def test_idle_pooled_connections_go_back_to_the_server(
    dev_server: DevServer, dev_client: Client, own_postgres: TempPostgres, tmp_path: Path
) -> None:
    url = await migrated_database(own_postgres)
    prefix = f"si-{uuid.uuid4().hex[:6]}-"
    async with running_fleet(store_env(dev_server, url, prefix, tmp_path), tmp_path / "logs"):
        queue = f"{prefix}{TaskQueue.ORCHESTRATION.value}"
        starts = [start_order(dev_client, order(prefix), task_queue=queue) for _ in range(12)]
        handles = [s.handle for s in await asyncio.gather(*starts)]
        outcomes = await asyncio.gather(*(wait_for_order(h) for h in handles))
        assert all(o.completed for o in outcomes)
        # The burst may have opened up to 3 per process; idle ones close after 2 s.
        assert await eventually(lambda: _client_connections(url), lambda n: n <= 3, timeout=30)


async def test_a_worker_on_another_store_refuses_to_start_and_ping_shows_each_store(
    dev_server: DevServer, postgres_server: TempPostgres, tmp_path: Path
) -> None:
    url = await migrated_database(postgres_server)
    prefix = f"ss-{uuid.uuid4().hex[:6]}-"
    env = store_env(dev_server, url, prefix, tmp_path)
    async with running_fleet(env, tmp_path / "logs"):
        # The same deployment, but no RTW_DATABASE_URL: its own SQLite file.
        sqlite_env = {k: v for k, v in env.items() if k != "RTW_DATABASE_URL"}
        stray = await rtw("worker", "payments", env=sqlite_env)
        assert stray.code == 1
        lines = [line for line in stray.stderr.splitlines() if "refusing to start" in line]
        assert len(lines) == 1, stray.stderr
        assert "sqlite:" in lines[0], lines[0]
        assert "postgresql://" in lines[0], lines[0]

        pinged = await rtw("ping", env=env)
        assert pinged.code == 0, pinged.stderr
        stores = {a["queue"]: a["store"] for a in json.loads(pinged.stdout)["answers"]}
        assert len(stores) == 3
        assert len(set(stores.values())) == 1
        assert next(iter(stores.values())).startswith("postgresql://127.0.0.1:")


#: The outage the slow test rides out; forward steps retry for FORWARD_STEP_BUDGET (15 min).
LONG_OUTAGE_SECONDS = 300


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_paid_orders_ride_out_a_five_minute_store_outage(
    dev_server: DevServer, dev_client: Client, own_postgres: TempPostgres, tmp_path: Path
) -> None:
    """Orders caught mid-step by a 5-minute PostgreSQL outage all complete once it is back:
    no order fails, nothing is charged twice or left held."""
    url = await migrated_database(own_postgres)
    prefix = f"sl-{uuid.uuid4().hex[:6]}-"
    env = store_env(dev_server, url, prefix, tmp_path) | {
        "RTW_PAYMENTS_PROVIDER_LATENCY_MS": "1500"
    }
    async with running_fleet(env, tmp_path / "logs"):
        queue = f"{prefix}{TaskQueue.ORCHESTRATION.value}"
        orders = [order(prefix) for _ in range(6)]
        handles = []
        for each in orders:
            handles.append((await start_order(dev_client, each, task_queue=queue)).handle)
            await asyncio.sleep(0.5)
        own_postgres.halt()
        await asyncio.sleep(LONG_OUTAGE_SECONDS)
        own_postgres.resume()
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(wait_for_order(h) for h in handles)), timeout=400
        )
        assert [o.status.state if o.status else o.error for o in outcomes] == [
            OrderState.COMPLETED
        ] * len(orders)
        for each in orders:
            books = await order_books(url, each.order_id)
            assert books.captured_cents == each.total_cents, books
            assert books.open_holds == [], books


async def order_books(url: str, order_id: str) -> OrderBooks:
    db = PostgresDatabase(url, pool_size=1)
    await db.open()
    try:
        return await read_books(db, order_id)
    finally:
        await db.close()

"""Order events on PostgreSQL with real processes: two gateway replicas hear every event
through LISTEN/NOTIFY, outbound webhooks survive a failing receiver, and a step retried
after its worker was killed writes its event once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from temporalio.client import Client

from services.chaos.fleet import Fleet
from services.chaos.postgres import TempPostgres
from services.contracts import TaskQueue, order_workflow_id
from services.events import PostgresEvents
from services.gateway import verify
from services.gateway.process import GatewayProcess
from services.payments.activities import CRASH_EXIT_CODE
from services.runtime.database import PostgresDatabase
from services.runtime.devserver import DevServer, free_port
from tests.events.expected import expected_types
from tests.events.sse_client import read_stream
from tests.gateway.conftest import TOKEN, write_secrets
from tests.integration.helpers import eventually, fleet_env, migrated_database, order_json, rtw

pytestmark = [pytest.mark.integration, pytest.mark.scale, pytest.mark.timeout(300)]

RECEIVER_SECRET = "whsec-" + uuid.uuid4().hex
#: The receiver answers 500 to this many deliveries before it starts accepting.
FAILURES = 5


@dataclass
class Receiver:
    """A shop's endpoint on loopback: fails FAILURES times, then accepts; checks signatures."""

    port: int = field(default_factory=free_port)
    attempts: int = 0
    accepted: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify(RECEIVER_SECRET.encode(), body, request.headers["Rtw-Signature"], tolerance=60)
        except Exception:
            self.bad_signatures += 1
            return web.Response(status=401)
        self.attempts += 1
        if self.attempts <= FAILURES:
            return web.Response(status=500)
        event = json.loads(body)
        assert request.headers["Rtw-Event-Id"] == event["id"]
        self.accepted.append(event)
        return web.Response(status=204)

    def of(self, order_id: str) -> list[dict[str, Any]]:
        return [e for e in self.accepted if e["order_id"] == order_id]


@dataclass
class PgStack:
    client: Client
    db: PostgresDatabase
    fleet: Fleet
    gateways: list[GatewayProcess]
    queue: str
    prefix: str
    receiver: Receiver
    env: dict[str, str]

    def http(self, index: int = 0) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.gateways[index].url,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        )

    async def submit(self, order: dict[str, Any]) -> None:
        async with self.http() as http:
            answer = await http.post(
                "/orders", json=order, headers={"Idempotency-Key": order["order_id"]}
            )
        assert answer.status_code == 201, answer.text

    async def final_status(self, order_id: str) -> dict[str, Any]:
        handle = self.client.get_workflow_handle(order_workflow_id(order_id))
        await asyncio.wait_for(handle.result(), 120)
        async with self.http() as http:
            body: dict[str, Any] = (await http.get(f"/orders/{order_id}")).json()
        return body


@pytest.fixture(scope="module")
async def pg_stack(
    dev_server: DevServer,
    dev_client: Client,
    postgres_server: TempPostgres,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[PgStack]:
    work = tmp_path_factory.mktemp("events-pg")
    url = await migrated_database(postgres_server)
    db = PostgresDatabase(url, pool_size=4)
    await db.open()
    prefix = f"ev-{uuid.uuid4().hex[:8]}-"
    crash_flag = work / "crash-after-capture"
    env = fleet_env(dev_server, url, prefix, work) | {
        "RTW_PAYMENTS_PROVIDER_LATENCY_MS": "300",
        "RTW_FAULT_CRASH_AFTER_CAPTURE": str(crash_flag),
    }
    receiver = Receiver()
    runner = web.AppRunner(web.Application())
    runner.app.router.add_post("/hook", receiver.handle)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", receiver.port).start()
    endpoints = work / "endpoints.json"
    endpoints.write_text(
        json.dumps(
            {
                "endpoints": [
                    {
                        "id": "shop",
                        "url": f"http://127.0.0.1:{receiver.port}/hook",
                        "events": ["*"],
                        "secret": RECEIVER_SECRET,
                        "allow_private_network": True,  # the receiver is on loopback
                    },
                    {
                        "id": "blocked",
                        "url": f"http://127.0.0.1:{receiver.port}/hook",
                        "events": ["order.completed"],
                        "secret": RECEIVER_SECRET,
                    },
                ]
            }
        )
    )
    fleet = Fleet(
        env=env,
        replicas={TaskQueue.ORCHESTRATION: 1, TaskQueue.PAYMENTS: 2, TaskQueue.NOTIFICATIONS: 1},
        log_dir=work / "logs",
    )
    gateway_env = {
        **env,
        **write_secrets(work),
        "RTW_WEBHOOK_ENDPOINTS_FILE": str(endpoints),
        "RTW_WEBHOOK_RETRY_SECONDS": "0.1",
        "RTW_WEBHOOK_GIVE_UP_HOURS": "0.004",  # 14 s: the blocked endpoint gives up in time
    }
    gateways = [
        GatewayProcess(
            port=free_port(),
            health_port=free_port(),
            env=gateway_env,
            log_file=work / "logs" / f"gateway-{i}.log",
        )
        for i in range(2)
    ]
    await fleet.start()
    supervisor = asyncio.create_task(fleet.supervise(injected_codes=frozenset({CRASH_EXIT_CODE})))
    try:
        for gateway in gateways:
            await gateway.start()
        yield PgStack(
            dev_client,
            db,
            fleet,
            gateways,
            f"{prefix}{TaskQueue.ORCHESTRATION.value}",
            prefix,
            receiver,
            env,
        )
    finally:
        supervisor.cancel()
        for gateway in gateways:
            await gateway.stop()
        codes = await fleet.stop()
        await runner.cleanup()
        await db.close()
        assert set(codes.values()) == {0}, codes


async def stored_types(stack: PgStack, order_id: str) -> list[str]:
    events = [s.event for s in await PostgresEvents(stack.db).after(order_id, 0)]
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), events
    return [e.type.value for e in events]


async def test_both_gateway_replicas_stream_every_event_as_it_is_recorded(
    pg_stack: PgStack,
) -> None:
    order = order_json(f"{pg_stack.prefix}two-{uuid.uuid4().hex[:6]}")
    order_id = order["order_id"]
    async with pg_stack.http(0) as first, pg_stack.http(1) as second:
        # open both streams before the order exists in the store: every event arrives live
        await pg_stack.submit(order)
        streams = [
            asyncio.create_task(read_stream(http, f"/orders/{order_id}/events"))
            for http in (first, second)
        ]
        received = await asyncio.wait_for(asyncio.gather(*streams), 90)
    final = await pg_stack.final_status(order_id)
    want = expected_types(final)
    for messages in received:
        assert [m.event for m in messages] == want
        assert [m.id for m in messages] == [str(i) for i in range(1, len(want) + 1)]
    assert await stored_types(pg_stack, order_id) == want


async def test_a_receiver_that_fails_five_times_gets_every_event_once_in_order(
    pg_stack: PgStack,
) -> None:
    order = order_json(f"{pg_stack.prefix}hook-{uuid.uuid4().hex[:6]}")
    order_id = order["order_id"]
    await pg_stack.submit(order)
    final = await pg_stack.final_status(order_id)
    want = expected_types(final)
    got = await eventually(
        lambda: asyncio.sleep(0, pg_stack.receiver.of(order_id)),
        lambda events: len(events) >= len(want),
        timeout=60,
    )
    await asyncio.sleep(1.0)  # nothing more arrives: no duplicates
    got = pg_stack.receiver.of(order_id)
    assert pg_stack.receiver.attempts > FAILURES, "the first five deliveries were refused"
    assert [e["id"] for e in got] == [f"{order_id}:{i}" for i in range(1, len(want) + 1)]
    assert [e["type"] for e in got] == want
    assert pg_stack.receiver.bad_signatures == 0
    async with pg_stack.http(1) as http:
        page = (await http.get("/webhooks/deliveries", params={"order_id": order_id})).json()
    shop = [d for d in page["deliveries"] if d["endpoint"] == "shop"]
    assert {d["state"] for d in shop} == {"delivered"}
    assert len(shop) == len(want)


async def test_a_private_target_is_refused_listed_as_failed_and_replayable(
    pg_stack: PgStack,
) -> None:
    order = order_json(f"{pg_stack.prefix}ssrf-{uuid.uuid4().hex[:6]}")
    order_id = order["order_id"]
    await pg_stack.submit(order)
    await pg_stack.final_status(order_id)

    async def failed() -> list[dict[str, Any]]:
        async with pg_stack.http() as http:
            answer = await http.get(
                "/webhooks/deliveries",
                params={"state": "failed", "endpoint": "blocked", "order_id": order_id},
            )
        found: list[dict[str, Any]] = answer.json()["deliveries"]
        return found

    found = await eventually(failed, lambda rows: len(rows) == 1, timeout=60)
    assert "private, loopback or link-local" in found[0]["last_error"]
    assert found[0]["event_type"] == "order.completed"
    assert not [e for e in pg_stack.receiver.of(order_id) if e["type"] == "order.completed"][1:]

    cli = await rtw("webhooks", "failed", "--order-id", order_id, "--json", env=pg_stack.env)
    assert cli.code == 0, cli.stderr
    assert [d["id"] for d in cli.json()] == [found[0]["id"]]
    async with pg_stack.http() as http:
        replayed = await http.post(f"/webhooks/deliveries/{found[0]['id']}/replay")
        missing = await http.post("/webhooks/deliveries/999999999/replay")
    assert replayed.status_code == 200, replayed.text
    assert [d["state"] for d in replayed.json()["replayed"]] == ["failed"]
    assert missing.status_code == 404
    # replayed, it is refused again (the target is still private) and fails again in time
    again = await eventually(
        failed,
        lambda rows: len(rows) == 1 and rows[0]["attempts"] > found[0]["attempts"],
        timeout=60,
    )
    assert again[0]["id"] == found[0]["id"]


async def test_a_capture_retried_after_its_worker_died_writes_its_event_once(
    pg_stack: PgStack,
) -> None:
    """The payments worker commits the capture (and its event) and dies before replying;
    another replica runs the capture again: it finds the entry, and the event stays one."""
    flag = Path(pg_stack.env["RTW_FAULT_CRASH_AFTER_CAPTURE"])
    await asyncio.to_thread(flag.touch)
    order = order_json(f"{pg_stack.prefix}kill-{uuid.uuid4().hex[:6]}")
    order_id = order["order_id"]
    await pg_stack.submit(order)
    final = await pg_stack.final_status(order_id)
    assert not await asyncio.to_thread(flag.exists), "a worker died after committing it"
    assert final["state"] == "completed"
    assert await stored_types(pg_stack, order_id) == expected_types(final)
    handle = pg_stack.client.get_workflow_handle(order_workflow_id(order_id))
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in (await handle.fetch_history()).events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert max(attempts) >= 2, "the capture ran twice"
    await pg_stack.fleet.settle()


async def test_an_authorization_retried_after_a_sigkill_writes_its_event_once(
    pg_stack: PgStack,
) -> None:
    order = order_json(f"{pg_stack.prefix}sigkill-{uuid.uuid4().hex[:6]}")
    order_id = order["order_id"]
    await pg_stack.submit(order)
    handle = pg_stack.client.get_workflow_handle(order_workflow_id(order_id))

    async def running_authorize() -> str:
        description = await handle.describe()
        for pending in description.raw_description.pending_activities:
            if pending.activity_type.name == "payments.authorize" and pending.last_worker_identity:
                return pending.last_worker_identity
        return ""

    identity = await eventually(running_authorize, bool, timeout=30)
    pid = int(identity.split("@", 1)[0])
    victim = next(
        r for r, w in pg_stack.fleet.workers.items() if w.process and w.process.pid == pid
    )
    await pg_stack.fleet.kill(victim)  # mid-call: the provider takes 300 ms
    final = await pg_stack.final_status(order_id)
    assert final["state"] == "completed"
    types = await stored_types(pg_stack, order_id)
    assert types == expected_types(final)
    assert types.count("payment.authorized") == 1
    await pg_stack.fleet.settle()

"""With payload encryption on, the gateway reads and writes through the same codec as the
workers: the order API works, the list by state shows amounts from the (encrypted) memo, the
customer id never reaches visibility (search attributes are not encrypted), and what Temporal
stores is ciphertext."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from services.gateway.process import GatewayProcess
from services.runtime.config import TemporalSettings
from services.runtime.connection import connect
from services.runtime.devserver import DevServer, free_port
from tests.gateway.conftest import TOKEN, large_order, write_secrets
from tests.integration.helpers import WorkerStack
from tests.security.keys import fresh_keys, write_keys

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def encrypted(
    dev_server: DevServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[GatewayProcess]:
    data = tmp_path_factory.mktemp("encrypted")
    keys = write_keys(data / "keys.json", "k1", fresh_keys("k1"))
    workers = WorkerStack(
        dev_server,
        data,
        f"enc-{uuid.uuid4().hex[:8]}-",
        extra_env={"RTW_CODEC_KEYS_FILE": str(keys)},
    )
    gateway = GatewayProcess(
        port=free_port(),
        health_port=free_port(),
        env={**workers.env, **write_secrets(data)},
        log_file=data / "gateway.log",
    )
    async with workers.running():
        await gateway.start()
        yield gateway
        assert await gateway.stop() == 0


async def test_orders_round_trip_through_the_codec(
    encrypted: GatewayProcess, dev_server: DevServer
) -> None:
    order = large_order("enc", customer_id=f"c-{uuid.uuid4().hex[:6]}")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=encrypted.url, headers=headers, timeout=30) as http:
        created = await http.post(
            "/orders", json=order, headers={"Idempotency-Key": order["order_id"]}
        )
        assert created.status_code == 201, created.text
        async with asyncio.timeout(30):
            while True:
                listed = await http.get("/orders", params={"state": "awaiting_approval"})
                rows = [r for r in listed.json()["orders"] if r["order_id"] == order["order_id"]]
                if rows:
                    break
                await asyncio.sleep(0.3)
        assert rows[0]["total_cents"] == 150_000
        assert rows[0]["currency"] == "USD"
        assert rows[0]["customer_id"] is None, "customer ids stay out of visibility"
        by_customer = await http.get("/orders", params={"customer": order["customer_id"]})
        assert by_customer.status_code == 422
        assert by_customer.json()["type"] == "CustomerFilterOff"
        status = await http.get(f"/orders/{order['order_id']}")
        assert status.json()["state"] == "awaiting_approval"
    # a client without the keys sees ciphertext only
    plain = await connect(TemporalSettings(address=dev_server.address))
    history = await plain.get_workflow_handle(f"order-{order['order_id']}").fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert order["order_id"].encode() not in started.input.payloads[0].data
    assert b"binary/encrypted" in started.input.payloads[0].metadata["encoding"]

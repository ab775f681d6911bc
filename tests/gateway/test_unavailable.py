"""A clear 503 within a bounded time when workers or Temporal cannot answer."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.gateway.process import GatewayProcess
from services.runtime.devserver import DevServer, free_port
from tests.gateway.conftest import TOKEN, new_order, write_secrets

pytestmark = pytest.mark.integration

TIMEOUT = 2.0


async def start_gateway(address: str, data: Path) -> GatewayProcess:
    gateway = GatewayProcess(
        port=free_port(),
        health_port=free_port(),
        env={
            "TEMPORAL_ADDRESS": address,
            "RTW_QUEUE_PREFIX": f"nobody-{uuid.uuid4().hex[:8]}-",  # no worker polls these
            "RTW_GATEWAY_REQUEST_TIMEOUT_SECONDS": str(TIMEOUT),
            **write_secrets(data),
        },
        log_file=data / "gateway.log",
    )
    await gateway.start()
    return gateway


@pytest.fixture
async def lonely_gateway(dev_server: DevServer, tmp_path: Path) -> AsyncIterator[GatewayProcess]:
    """A gateway on a deployment whose orchestration workers are all gone."""
    gateway = await start_gateway(dev_server.address, tmp_path)
    yield gateway
    assert await gateway.stop() == 0


def client(gateway: GatewayProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=gateway.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )


async def test_no_orchestration_worker_is_503_within_the_timeout(
    lonely_gateway: GatewayProcess,
) -> None:
    order = new_order("lonely")
    async with client(lonely_gateway) as http:
        started = time.perf_counter()
        submitted = await http.post(
            "/orders", json=order, headers={"Idempotency-Key": order["order_id"]}
        )
        submit_took = time.perf_counter() - started
        started = time.perf_counter()
        status = await http.get(f"/orders/{order['order_id']}")
        status_took = time.perf_counter() - started

    assert submitted.status_code == 503, submitted.text
    assert submitted.json()["type"] == "Unavailable"
    assert "worker" in submitted.json()["detail"]
    assert status.status_code == 503, status.text
    assert submit_took < TIMEOUT + 1.5
    assert status_took < TIMEOUT + 1.5


async def test_temporal_gone_is_503_within_the_timeout(tmp_path: Path) -> None:
    server = DevServer(data_dir=tmp_path / "temporal", port=free_port(), ui_port=None)
    await server.start()
    gateway = await start_gateway(server.address, tmp_path)
    try:
        await server.stop()
        async with client(gateway) as http:
            started = time.perf_counter()
            response = await http.get("/orders/o-1")
            took = time.perf_counter() - started
            listed = await http.get("/orders")
        assert response.status_code == 503, response.text
        assert response.json()["type"] == "Unavailable"
        assert listed.status_code == 503, listed.text
        assert took < TIMEOUT + 1.5
    finally:
        await server.stop()
        assert await gateway.stop() == 0

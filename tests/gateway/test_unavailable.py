"""A clear 503 within a bounded time when workers or Temporal cannot answer; readiness that
follows Temporal; and no unretrieved future in the log around those 503s."""

from __future__ import annotations

import asyncio
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


def assert_says_retry_with_the_same_key(response: httpx.Response, order_id: str) -> None:
    detail = response.json()["detail"]
    assert f"Order {order_id} may exist now" in detail
    assert "retry with the same Idempotency-Key and body" in detail


async def readyz(gateway: GatewayProcess) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as http:
        return await http.get(f"http://127.0.0.1:{gateway.health_port}/readyz")


async def healthz(gateway: GatewayProcess) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as http:
        return await http.get(f"http://127.0.0.1:{gateway.health_port}/healthz")


async def readiness_becomes(gateway: GatewayProcess, status: int, *, within: float) -> float:
    """Seconds until /readyz answers `status` (fails after `within`)."""
    started = time.perf_counter()
    async with asyncio.timeout(within):
        while True:
            if (await readyz(gateway)).status_code == status:
                break
            await asyncio.sleep(0.2)
    return time.perf_counter() - started


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
    assert_says_retry_with_the_same_key(submitted, order["order_id"])
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
            order = new_order("gone")
            submitted = await http.post(
                "/orders", json=order, headers={"Idempotency-Key": order["order_id"]}
            )
        assert response.status_code == 503, response.text
        assert response.json()["type"] == "Unavailable"
        assert listed.status_code == 503, listed.text
        assert took < TIMEOUT + 1.5
        assert submitted.status_code == 503, submitted.text
        assert_says_retry_with_the_same_key(submitted, order["order_id"])
    finally:
        await server.stop()
        assert await gateway.stop() == 0


async def test_readyz_is_503_while_temporal_does_not_answer_and_200_again_after(
    tmp_path: Path,
) -> None:
    port = free_port()
    server = DevServer(data_dir=tmp_path / "temporal", port=port, ui_port=None)
    await server.start()
    gateway = await start_gateway(server.address, tmp_path)
    try:
        assert (await readyz(gateway)).status_code == 200
        await server.stop()

        went_down = await readiness_becomes(gateway, 503, within=10)
        body = (await readyz(gateway)).json()
        assert body["ready"] is False
        assert body["reason"].startswith("Temporal unreachable")
        assert (await healthz(gateway)).status_code == 200, "alive: a restart would not help"

        server = DevServer(data_dir=tmp_path / "temporal", port=port, ui_port=None)
        await server.start()
        came_back = await readiness_becomes(gateway, 200, within=20)
        async with client(gateway) as http:
            assert (await http.get("/orders/o-1")).status_code == 404, "Temporal answers again"
        print(f"/readyz 503 {went_down:.1f}s after the stop, 200 {came_back:.1f}s after restart")
        assert went_down < 5
    finally:
        await server.stop()
        assert await gateway.stop() == 0
    log = (tmp_path / "gateway.log").read_text()
    assert log.count("Temporal does not answer") == 1, "one line per outage, not per check"
    assert log.count("Temporal answers again") == 1


async def test_no_unretrieved_future_is_logged_around_503s(tmp_path: Path) -> None:
    """Every refused or failed update-with-start left its start future's error unretrieved
    ("Future exception was never retrieved" at garbage collection, once per request): here
    duplicates of existing orders and submissions while the server is down, 60 of each."""
    port = free_port()
    server = DevServer(data_dir=tmp_path / "temporal", port=port, ui_port=None)
    await server.start()
    gateway = await start_gateway(server.address, tmp_path)
    codes: list[int] = []
    try:
        async with client(gateway) as http:
            orders = [new_order("dup") for _ in range(3)]

            async def submit(order: dict[str, object]) -> None:
                answer = await http.post(
                    "/orders", json=order, headers={"Idempotency-Key": str(order["order_id"])}
                )
                codes.append(answer.status_code)

            # no worker: each order is created, then every submission is a refused duplicate
            await asyncio.gather(*(submit(order) for order in orders))
            for _ in range(20):
                await asyncio.gather(*(submit(order) for order in orders))
            await server.stop()
            for _ in range(20):
                await asyncio.gather(*(submit(new_order("down")) for _ in range(3)))
    finally:
        await server.stop()
        assert await gateway.stop() == 0
    assert codes.count(503) >= 100, codes
    log = (tmp_path / "gateway.log").read_text()
    assert log.count("POST /orders 503") == codes.count(503)
    assert "Future exception was never retrieved" not in log
    assert "Traceback" not in log

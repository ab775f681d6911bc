"""A real gateway process in front of real workers on the real dev server."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, async_playwright

from services.gateway import sign
from services.gateway.process import GatewayProcess
from services.runtime.devserver import DevServer, free_port
from tests.integration.helpers import WorkerStack, order_json

#: Reviewer alice's token (every test's default caller), reviewer bob's, a shop's service token.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

TOKEN = "test-token-" + uuid.uuid4().hex
BOB_TOKEN = "bob-token-" + uuid.uuid4().hex
SERVICE_TOKEN = "shop-token-" + uuid.uuid4().hex
#: A line in the format before names and roles: still accepted, as a reviewer.
LEGACY_TOKEN = "legacy-token-" + uuid.uuid4().hex
SECRET = b"whsec-" + uuid.uuid4().hex.encode()


@dataclass
class GatewayStack:
    """Workers, a gateway in front of them, and what a client needs to call it."""

    workers: WorkerStack
    gateway: GatewayProcess
    token: str
    secret: bytes

    @property
    def url(self) -> str:
        """Base URL of the API."""
        return self.gateway.url

    def http(self, *, token: str | None = TOKEN) -> httpx.AsyncClient:
        """An HTTP client of the API (with the bearer token unless `token` is None)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)

    async def submit(self, order: dict[str, Any], *, key: str | None = None) -> httpx.Response:
        """POST /orders with an Idempotency-Key."""
        async with self.http() as http:
            return await http.post(
                "/orders", json=order, headers={"Idempotency-Key": key or order["order_id"]}
            )

    async def carrier(
        self, body: dict[str, Any], *, timestamp: int | None = None, secret: bytes | None = None
    ) -> httpx.Response:
        """POST /webhooks/carrier, signed like a carrier signs it."""
        raw = json.dumps(body).encode()
        signature = sign(secret or self.secret, raw, timestamp=timestamp)
        async with self.http(token=None) as http:
            return await http.post(
                "/webhooks/carrier",
                content=raw,
                headers={"Rtw-Signature": signature, "Content-Type": "application/json"},
            )

    async def wait_state(self, order_id: str, *states: str, timeout: float = 30) -> dict[str, Any]:
        """Poll GET /orders/{id} until its state is one of `states`."""
        async with self.http() as http, asyncio.timeout(timeout):
            while True:
                response = await http.get(f"/orders/{order_id}")
                if response.status_code == 200 and response.json()["state"] in states:
                    body: dict[str, Any] = response.json()
                    return body
                await asyncio.sleep(0.2)

    async def deliver(self, order_id: str) -> None:
        """Play the carrier: picked_up, in_transit, delivered, each signed."""
        for event in ("picked_up", "in_transit", "delivered"):
            response = await self.carrier(
                {"order_id": order_id, "event_id": f"{order_id}:{event}", "event": event}
            )
            assert response.status_code == 202, response.text


def write_secrets(directory: Path) -> dict[str, str]:
    """Tokens and webhook secret files, as Secrets would be mounted."""
    tokens = directory / "tokens"
    tokens.write_text(
        "# <token> <name> <role>\n"
        f"{TOKEN} alice reviewer\n"
        f"{BOB_TOKEN} bob reviewer\n"
        f"{SERVICE_TOKEN} shop service\n"
        f"{LEGACY_TOKEN}\n"
    )
    secret = directory / "webhook-secret"
    secret.write_bytes(SECRET + b"\n")
    return {"RTW_GATEWAY_TOKENS_FILE": str(tokens), "RTW_WEBHOOK_SECRET_FILE": str(secret)}


@pytest.fixture(scope="module")
async def stack(
    dev_server: DevServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[GatewayStack]:
    """Three workers (carrier events come from webhooks) and one gateway, one prefix."""
    data = tmp_path_factory.mktemp("gateway")
    workers = WorkerStack(
        dev_server,
        data,
        f"gw-{uuid.uuid4().hex[:8]}-",
        extra_env={"RTW_SIMULATED_CARRIER_AUTO_DELIVER": "false"},
    )
    env = {**workers.env, **write_secrets(data), "RTW_GATEWAY_REQUEST_TIMEOUT_SECONDS": "3"}
    gateway = GatewayProcess(
        port=free_port(), health_port=free_port(), env=env, log_file=data / "logs" / "gateway.log"
    )
    async with workers.running():
        await gateway.start()
        try:
            yield GatewayStack(workers, gateway, TOKEN, SECRET)
        finally:
            assert await gateway.stop() == 0, "the gateway must exit 0 on SIGTERM"


def new_order(prefix: str = "gw", **overrides: Any) -> dict[str, Any]:
    """A valid order with a fresh id."""
    return order_json(f"{prefix}-{uuid.uuid4().hex[:10]}", **overrides)


def large_order(prefix: str = "gw", **overrides: Any) -> dict[str, Any]:
    """An order at the approval threshold (it waits for approve/reject)."""
    return new_order(
        prefix, items=[{"sku": "sku-2", "quantity": 1, "unit_price_cents": 150_000}], **overrides
    )


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, driven by playwright."""
    if not shutil.which(CHROMIUM):
        # Required like nginx and PostgreSQL: a skip here would hide the browser test in CI.
        pytest.fail("no chromium binary on this machine: apt-get install chromium (see README)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            await browser.close()

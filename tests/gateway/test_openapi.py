"""The committed OpenAPI document is the one the code serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Route, expect

from services.gateway import openapi_document
from services.gateway.process import GatewayProcess
from services.runtime.devserver import DevServer, free_port
from tests.gateway.conftest import GatewayStack, write_secrets

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
REGENERATE = "regenerate it: .venv/bin/rtw gateway --openapi > docs/openapi.json"


def test_committed_openapi_matches_the_code() -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed == openapi_document(), f"docs/openapi.json drifted from the code; {REGENERATE}"


def test_document_names_every_operation_and_the_bearer_scheme() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/orders",
        "/orders/{order_id}",
        "/orders/{order_id}/approve",
        "/orders/{order_id}/reject",
        "/orders/{order_id}/cancel",
        "/orders/{order_id}/events",
        "/webhooks/carrier",
        "/webhooks/deliveries",
        "/webhooks/deliveries/{delivery_id}/replay",
    }
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "security" not in document["paths"]["/webhooks/carrier"]["post"]
    assert document["paths"]["/webhooks/deliveries"]["get"]["security"]
    events = document["paths"]["/orders/{order_id}/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"]


def test_every_error_answer_is_documented_as_a_problem() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas, "FastAPI's own 422 shape is not what we send"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Problem"}, (
                        f"{method} {path} {status}"
                    )
            if "requestBody" in operation:
                assert "413" in operation["responses"], f"{method} {path}"


@pytest.mark.integration
async def test_the_running_gateway_serves_the_committed_document_and_docs(
    stack: GatewayStack,
) -> None:
    async with stack.http(token=None) as http:
        served = await http.get("/openapi.json")
        docs = await http.get("/docs")
        assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
        loaded = [(await http.get(asset)).status_code for asset in assets]
    assert served.json() == json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert "://" not in docs.text, "nothing from outside the gateway"
    assert len(assets) == 3
    assert loaded == [200, 200, 200]


@pytest.mark.integration
async def test_the_docs_page_works_with_no_network_beyond_the_gateway(
    stack: GatewayStack, browser: Browser
) -> None:
    context = await browser.new_context()
    outside: list[str] = []

    async def only_the_gateway(route: Route) -> None:
        if route.request.url.startswith(stack.url):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_the_gateway)
    page = await context.new_page()
    await page.goto(f"{stack.url}/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("rtw gateway")
    await expect(page.get_by_text("/orders/{order_id}/approve")).to_be_visible()
    assert outside == []
    await context.close()


@pytest.mark.integration
async def test_docs_can_be_turned_off(dev_server: DevServer, tmp_path: Path) -> None:
    gateway = GatewayProcess(
        port=free_port(),
        health_port=free_port(),
        env={
            "TEMPORAL_ADDRESS": dev_server.address,
            "RTW_GATEWAY_DOCS": "false",
            **write_secrets(tmp_path),
        },
        log_file=tmp_path / "gateway.log",
    )
    await gateway.start()
    try:
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            for path in ("/docs", "/openapi.json", "/docs/assets/swagger-ui-bundle.js"):
                response = await http.get(path)
                assert response.status_code == 404, path
                assert response.json() == {"type": "NotFound", "detail": "Not Found"}
    finally:
        assert await gateway.stop() == 0

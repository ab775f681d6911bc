"""The committed OpenAPI document is the one the code serves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.gateway import openapi_document
from tests.gateway.conftest import GatewayStack

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
        "/webhooks/carrier",
    }
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "security" not in document["paths"]["/webhooks/carrier"]["post"]


@pytest.mark.integration
async def test_the_running_gateway_serves_the_committed_document_and_docs(
    stack: GatewayStack,
) -> None:
    async with stack.http(token=None) as http:
        served = await http.get("/openapi.json")
        docs = await http.get("/docs")
    assert served.json() == json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()

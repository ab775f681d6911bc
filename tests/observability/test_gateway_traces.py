"""One trace from the HTTP request to the last activity; JSON logs carry the request id."""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.bench.receiver import OtlpReceiver, ReceivedSpan
from services.gateway.process import GatewayProcess
from services.runtime.devserver import free_port
from tests.gateway.conftest import TOKEN, new_order, write_secrets
from tests.observability.conftest import TracedStack
from tests.observability.traces import activity_types, in_order, orphans, roots, workflow_trace

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def traced_gateway(
    traced_stack: TracedStack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[GatewayProcess]:
    """A gateway exporting its spans to the receiver, in front of the traced workers."""
    data = tmp_path_factory.mktemp("traced-gateway")
    gateway = GatewayProcess(
        port=free_port(),
        health_port=free_port(),
        env={**traced_stack.env, **write_secrets(data)},
        log_file=data / "gateway.log",
    )
    await gateway.start()
    yield gateway
    assert await gateway.stop() == 0


async def submit(gateway: GatewayProcess, order: dict[str, str], **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        return await http.post(
            "/orders",
            json=order,
            headers={
                "Authorization": f"Bearer {TOKEN}",
                "Idempotency-Key": order["order_id"],
                **headers,
            },
        )


def json_lines(path: Path) -> list[dict[str, object]]:
    """The JSON log records in a log file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


STEPS = ["payments.authorize", "inventory.reserve", "payments.capture", "notifications.send"]


async def saga_trace(receiver: OtlpReceiver, trace_id: str) -> list[ReceivedSpan]:
    """The spans of one trace once the gateway's span and the saga's last step are in."""

    def ready(spans: list[ReceivedSpan]) -> bool:
        trace = [s for s in spans if s.trace_id == trace_id]
        names = {(s.service, s.name) for s in trace}
        return (
            in_order(STEPS, activity_types(trace))
            and ("rtw-gateway", "POST /orders") in names
            and ("rtw-orchestration", "RunWorkflow:OrderSaga") in names
        )

    await receiver.wait_for(ready, timeout=30)
    return receiver.trace(trace_id)


def saga_done(trace: list[ReceivedSpan]) -> bool:
    return in_order(STEPS, activity_types(trace))


async def test_incoming_traceparent_continues_into_the_saga(
    traced_gateway: GatewayProcess, otlp_receiver: OtlpReceiver
) -> None:
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    order = new_order("traced")

    response = await submit(traced_gateway, order, traceparent=f"00-{trace_id}-{parent_id}-01")

    assert response.status_code == 201, response.text
    trace = await saga_trace(otlp_receiver, trace_id)
    assert any(s.name == "RunWorkflow:OrderSaga" for s in trace)
    (server,) = [s for s in trace if s.service == "rtw-gateway" and s.name == "POST /orders"]
    assert server.parent_span_id == parent_id  # the caller's span, not exported by us
    assert server.attributes["http.response.status_code"] == 201
    assert [s for s in orphans(trace) if s is not server] == []
    services = {s.service for s in trace}
    assert {"rtw-gateway", "rtw-orchestration", "rtw-payments", "rtw-notifications"} <= services


async def test_without_traceparent_the_gateway_starts_the_trace_and_logs_the_request_id(
    traced_gateway: GatewayProcess, otlp_receiver: OtlpReceiver
) -> None:
    order = new_order("untraced")

    response = await submit(traced_gateway, order, **{"X-Request-Id": "req-untraced-1"})

    assert response.status_code == 201
    assert response.headers["x-request-id"] == "req-untraced-1"
    run = await workflow_trace(otlp_receiver, f"order-{order['order_id']}", complete=saga_done)
    trace = await saga_trace(otlp_receiver, run[0].trace_id)
    (root,) = roots(trace)
    assert (root.service, root.name) == ("rtw-gateway", "POST /orders")
    assert root.attributes["rtw.request_id"] == "req-untraced-1"
    assert traced_gateway.log_file is not None
    records = json_lines(Path(traced_gateway.log_file))
    access = [r for r in records if r.get("request_id") == "req-untraced-1"]
    assert access, "the access log line carries the request id"
    assert access[-1]["trace_id"] == root.trace_id
    assert access[-1]["http_status"] == 201


async def test_smoke_check_of_helm_test_completes_an_order(traced_gateway: GatewayProcess) -> None:
    """The chart's `helm test` command, against a gateway whose carrier delivers."""
    command = [
        sys.executable, "-m", "services.gateway.smoke", "--url", traced_gateway.url,
        "--token-file", traced_gateway.env["RTW_GATEWAY_TOKENS_FILE"], "--timeout", "60",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    assert "POST /orders -> 201" in out.decode()
    assert out.decode().rstrip().endswith("-> completed")

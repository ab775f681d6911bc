"""Property-based fuzz of the API from its OpenAPI document (schemathesis, a second process):
no 5xx, and every answer conforms to the document."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.gateway.process import GatewayProcess
from services.runtime.devserver import free_port
from tests.gateway.conftest import GatewayStack

pytestmark = pytest.mark.integration

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    )
)


@pytest.fixture
async def fuzzed_gateway(stack: GatewayStack) -> AsyncIterator[GatewayProcess]:
    """A gateway of its own, with outbound webhooks on, whose event streams close after 2 s:
    the fuzzer's orders wait (for approval, for a carrier) and their streams would otherwise
    stay open; a real client just resumes with Last-Event-ID."""
    endpoints = stack.workers.data_dir / "fuzz-endpoints.json"
    endpoints.write_text(  # webhooks on, to a port nothing listens on: deliveries just fail
        '{"endpoints": [{"id": "fuzz", "url": "http://127.0.0.1:9/", "events": ["*"], '
        '"secret": "fuzz-secret-0123456789", "allow_private_network": true}]}'
    )
    env = {
        **stack.gateway.env,
        "RTW_GATEWAY_EVENTS_MAX_STREAM_SECONDS": "2",
        "RTW_WEBHOOK_ENDPOINTS_FILE": str(endpoints),
    }
    log = stack.workers.data_dir / "logs" / "gateway-fuzz.log"
    gateway = GatewayProcess(port=free_port(), health_port=free_port(), env=env, log_file=log)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    stack: GatewayStack, fuzzed_gateway: GatewayProcess, tmp_path: Path
) -> None:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{fuzzed_gateway.url}/openapi.json",
        "--checks", CHECKS,
        "--header", f"Authorization: Bearer {stack.token}",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", "40",
        "--seed", "12",
        "--request-timeout", "20",
        "--report-dir", str(tmp_path),
        "--no-color",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,  # schemathesis keeps a cache directory in its working directory
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=280)
    report = out.decode()
    print(report)  # the summary belongs in the test log
    assert proc.returncode == 0, report
    assert "No issues found" in report or "passed" in report

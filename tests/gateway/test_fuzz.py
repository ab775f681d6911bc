"""Property-based fuzz of the API from its OpenAPI document (schemathesis, a second process):
no 5xx, and every answer conforms to the document."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

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


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    stack: GatewayStack, tmp_path: Path
) -> None:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{stack.url}/openapi.json",
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

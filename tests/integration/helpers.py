"""Helpers for tests that drive real worker processes and the real `rtw` CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import WorkflowHandle


@dataclass(frozen=True)
class CliResult:
    """Exit code and output of one `rtw` invocation."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout parsed as JSON, skipping any line before the document."""
        start = min(i for i in (self.stdout.find("{"), self.stdout.find("[")) if i >= 0)
        return json.loads(self.stdout[start:])


async def rtw(*args: str, env: Mapping[str, str], stdin: str | None = None) -> CliResult:
    """Run `python -m services ARGS` (the `rtw` command) in a subprocess."""

    def run() -> CliResult:
        proc = subprocess.run(
            [sys.executable, "-m", "services", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=120,
            check=False,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return await asyncio.to_thread(run)


def order_json(order_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid order payload."""
    return {
        "order_id": order_id,
        "customer_id": "c-1",
        "currency": "USD",
        "payment_method": "pm_card_visa",
        "items": [{"sku": "sku-1", "quantity": 2, "unit_price_cents": 1500}],
        **overrides,
    }


def write_order(directory: Path, order: dict[str, Any]) -> Path:
    """Write an order file and return its path."""
    path = directory / f"{order.get('order_id', 'order')}.json"
    path.write_text(json.dumps(order), encoding="utf-8")
    return path


async def wait_for_started_activity(
    handle: WorkflowHandle[Any, Any], activity_type: str, *, timeout: float = 30
) -> None:
    """Wait until a worker has picked up `activity_type` for this workflow."""
    async with asyncio.timeout(timeout):
        while True:
            desc = await handle.describe()
            for pending in desc.raw_description.pending_activities:
                if (
                    pending.activity_type.name == activity_type
                    and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                ):
                    return
            await asyncio.sleep(0.05)

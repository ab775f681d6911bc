"""`rtw ping` (what `helm test` runs): every queue polled and answering, or one clear line."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.runtime.devserver import DevServer
from tests.integration.helpers import WorkerStack, rtw

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(
    dev_server: DevServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkerStack]:
    stack = WorkerStack(
        dev_server, tmp_path_factory.mktemp("ping"), f"ping-{uuid.uuid4().hex[:8]}-"
    )
    async with stack.running():
        yield stack


async def test_ping_reaches_a_worker_on_every_queue_and_moves_nothing(stack: WorkerStack) -> None:
    result = await rtw("ping", "--timeout", "30", env=stack.env)

    assert result.code == 0, result.stderr
    report = result.json()
    queues = [f"{stack.prefix}{q}" for q in ("orchestration", "payments", "notifications")]
    assert sorted(report["pollers"]) == sorted(queues)
    assert all(count >= 1 for count in report["pollers"].values())
    assert sorted(a["queue"] for a in report["answers"]) == sorted(queues)
    ledger = await rtw("payments", "ledger", "--json", env=stack.env)
    assert ledger.code == 0, ledger.stderr
    assert ledger.json() == [], "a ping moves no money"


async def test_ping_names_the_queues_nobody_polls(dev_server: DevServer, tmp_path: Path) -> None:
    env = {
        "TEMPORAL_ADDRESS": dev_server.address,
        "RTW_QUEUE_PREFIX": f"nobody-{uuid.uuid4().hex[:6]}-",
        "RTW_DATA_DIR": str(tmp_path),
    }
    result = await rtw("ping", "--timeout", "10", env=env)

    assert result.code == 1
    assert result.stderr.startswith("rtw: no worker polls task queue(s) nobody-")
    assert "Traceback" not in result.stderr

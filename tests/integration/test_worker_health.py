"""Probes that mean something: `/healthz` says "starting" until the worker reaches Temporal
(the startup probe waits for that), a missing namespace is one fatal line, and `/readyz`
turns ready only once the worker polls."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest

from services.contracts import TaskQueue
from services.runtime.devserver import DevServer, free_port
from services.runtime.local_stack import WorkerProcess
from tests.integration.helpers import probe

pytestmark = pytest.mark.integration


async def until_serving(port: int) -> None:
    async with asyncio.timeout(30):
        while True:
            try:
                await probe(port, "/healthz")
                return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)


async def test_healthz_says_starting_until_temporal_is_reached(tmp_path: Path) -> None:
    nothing_there = f"127.0.0.1:{free_port()}"
    worker = WorkerProcess(
        TaskQueue.PAYMENTS,
        free_port(),
        {"TEMPORAL_ADDRESS": nothing_there, "RTW_DATA_DIR": str(tmp_path)},
        tmp_path / "worker.log",
    )
    await worker.start()
    try:
        await until_serving(worker.health_port)
        status, body = await probe(worker.health_port, "/healthz")
        assert (status, body["reason"], body["started"]) == (503, "starting", False)
        status, _ = await probe(worker.health_port, "/readyz")
        assert status == 503
    finally:
        assert await worker.stop(sig=signal.SIGTERM) == 0, "a stop while connecting is clean"


async def test_a_missing_namespace_is_fatal_and_named(
    dev_server: DevServer, tmp_path: Path
) -> None:
    worker = WorkerProcess(
        TaskQueue.NOTIFICATIONS,
        free_port(),
        {
            "TEMPORAL_ADDRESS": dev_server.address,
            "TEMPORAL_NAMESPACE": "no-such-namespace",
            "RTW_DATA_DIR": str(tmp_path),
        },
        tmp_path / "worker.log",
    )
    await worker.start()
    assert worker.process is not None
    code = await asyncio.wait_for(worker.process.wait(), 60)
    log = (tmp_path / "worker.log").read_text()
    assert code == 1
    assert "namespace 'no-such-namespace' does not exist" in log
    assert "Traceback" not in log


async def test_healthz_and_readyz_pass_once_the_worker_polls(
    dev_server: DevServer, tmp_path: Path
) -> None:
    worker = WorkerProcess(
        TaskQueue.NOTIFICATIONS,
        free_port(),
        {"TEMPORAL_ADDRESS": dev_server.address, "RTW_DATA_DIR": str(tmp_path),
         "RTW_QUEUE_PREFIX": "health-"},
        tmp_path / "worker.log",
    )  # fmt: skip
    await worker.start()
    try:
        await worker.wait_ready()
        status, body = await probe(worker.health_port, "/healthz")
        assert (status, body["started"]) == (200, True)
        status, body = await probe(worker.health_port, "/readyz")
        assert (status, body["reason"]) == (200, "polling")
    finally:
        assert await worker.stop() == 0

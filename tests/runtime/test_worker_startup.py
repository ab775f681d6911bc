"""What a worker loads and serves before its first poll: the probes answer without a web
framework (the standard library's http.server), and each `rtw worker QUEUE` imports only
its own service."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from services.contracts import TaskQueue
from services.runtime.health import REQUEST_TIMEOUT_SECONDS, HealthServer, HealthState


async def request(port: int, head: str) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.encode())
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 5)  # the server closes after one response
    writer.close()
    header, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = header.decode().split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in fields.items()}, body


async def get(port: int, path: str) -> tuple[int, dict[str, object]]:
    status, _, body = await request(port, f"GET {path} HTTP/1.1\r\nHost: pod\r\n\r\n")
    return status, json.loads(body)


async def test_probes_follow_the_worker_state() -> None:
    state = HealthState()
    async with HealthServer(state, host="127.0.0.1", port=0) as server:
        port = server.bound_port
        assert port
        assert await get(port, "/healthz") == (
            503,
            {"alive": True, "started": False, "reason": "starting"},
        )
        assert await get(port, "/readyz") == (503, {"ready": False, "reason": "starting"})
        state.mark_started()
        assert (await get(port, "/healthz"))[0] == 200
        state.mark_ready()
        assert await get(port, "/readyz?verbose=1") == (200, {"ready": True, "reason": "polling"})
        state.mark_fatal("worker failed: boom")
        assert await get(port, "/healthz") == (
            503,
            {"alive": False, "started": True, "reason": "worker failed: boom"},
        )


async def test_other_paths_methods_and_garbage_get_no_probe_answer() -> None:
    async with HealthServer(HealthState(), host="127.0.0.1", port=0) as server:
        port = server.bound_port
        assert port
        assert (await get(port, "/metrics"))[0] == 404
        status, headers, _ = await request(port, "POST /healthz HTTP/1.1\r\n\r\n")
        assert (status, headers["allow"]) == (405, "GET, HEAD")
        status, headers, body = await request(port, "HEAD /readyz HTTP/1.1\r\n\r\n")
        assert (status, headers["content-type"], body) == (
            503,
            "application/json; charset=utf-8",
            b"",
        )
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"not http\r\n\r\n")
        refused = await asyncio.wait_for(reader.read(), 5)
        assert b"400" in refused  # a Bad Request, and the server is still up
        writer.close()
        assert (await get(port, "/healthz"))[0] == 503


async def test_a_client_that_never_sends_its_request_is_dropped() -> None:
    async with HealthServer(HealthState(), host="127.0.0.1", port=0) as server:
        assert server.bound_port
        reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
        writer.write(b"GET /healthz HTTP/1.1\r\n")  # and then nothing
        assert await asyncio.wait_for(reader.read(), REQUEST_TIMEOUT_SECONDS + 5) == b""
        writer.close()
        assert (await get(server.bound_port, "/healthz"))[0] == 503


@pytest.mark.parametrize("queue", list(TaskQueue))
def test_a_worker_imports_no_web_framework_postgres_driver_or_other_service(
    queue: TaskQueue,
) -> None:
    """Checked in a fresh interpreter: what `rtw worker QUEUE` has loaded once its worker
    factory is resolved (with SQLite and tracing off, as here)."""
    code = f"""
import sys
import services.cli.app
from services.runtime.worker_host import WorkerHost
from services.workers import worker_factory
from services.contracts import TaskQueue
worker_factory(TaskQueue({queue.value!r}))
print(" ".join(sorted(sys.modules)))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "RTW_DATABASE"))}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    loaded = set(out.stdout.split())
    heavy = ("aiohttp", "fastapi", "uvicorn", "jinja2", "psycopg", "cryptography")
    assert not {m for m in loaded if m.split(".")[0] in heavy}
    assert "opentelemetry.sdk" not in loaded
    others = {"services.orchestration.worker", "services.payments", "services.notifications"}
    expected = {
        TaskQueue.ORCHESTRATION: "services.orchestration.worker",
        TaskQueue.PAYMENTS: "services.payments",
        TaskQueue.NOTIFICATIONS: "services.notifications",
    }[queue]
    assert loaded & others == {expected}

"""One Ctrl+C in a real terminal stops `rtw dev`, `make dev` and `rtw demo` once: every
worker and the gateway drain and exit 0, and a payment in flight finishes first.

The terminal is a pseudo-terminal whose foreground process group gets the SIGINT, as a
person's shell would deliver it (not `kill -INT` on one process)."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest

from services.contracts import AUTHORIZE_PAYMENT, OrderInput
from services.orchestration.client import start_order
from services.runtime.config import TemporalSettings
from services.runtime.connection import connect
from services.runtime.devserver import DevServer, free_port, port_in_use
from tests.integration.helpers import order_json, rtw, wait_for_started_activity
from tests.integration.terminal import Terminal

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: Long enough that the authorization is still running when Ctrl+C arrives.
LATENCY_MS = 3000
FORCED = "forcing"  # the workers' and gateway's "second SIGTERM: forcing exit"
ALL_DRAINED = "workers stopped: orchestration=0, payments=0, notifications=0"


def terminal_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "RTW_"))}
    return {
        **env,
        "RTW_DATA_DIR": str(data_dir),
        "RTW_PAYMENTS_PROVIDER_LATENCY_MS": str(LATENCY_MS),
        "RTW_GATEWAY_PORT": str(free_port()),
        **extra,
    }


async def authorization_in_flight(address: str, prefix: str = "") -> str:
    """Start an order on the stack at `address`; return its id once its payment runs."""
    client = await connect(TemporalSettings(address=address))
    order = OrderInput.model_validate(order_json(f"ctrlc-{uuid.uuid4().hex[:8]}"))
    started = await start_order(client, order, task_queue=f"{prefix}orchestration")
    await wait_for_started_activity(started.handle, AUTHORIZE_PAYMENT)
    return order.order_id


async def ledger_kinds(env: dict[str, str], order_id: str | None = None) -> list[str]:
    args = ["--order-id", order_id] if order_id else []
    result = await rtw("payments", "ledger", *args, "--json", env=env)
    assert result.code == 0, result.stderr
    return [entry["kind"] for entry in result.json()]


def assert_one_drain(output: str) -> None:
    assert "Ctrl+C: stopping; the gateway and the workers finish their in-flight work" in output
    assert ALL_DRAINED in output, output
    assert FORCED not in output, output
    assert output.count("SIGTERM received: draining") == 3, output  # one per worker


async def test_rtw_dev_started_as_the_unreachable_message_says_drains_on_one_ctrl_c(
    tmp_path: Path,
) -> None:
    port = free_port()
    address = f"localhost:{port}"
    env = terminal_env(tmp_path)
    missing = await rtw("order", "status", "o-1", env={"TEMPORAL_ADDRESS": address})
    (line,) = missing.stderr.splitlines()
    advice = re.search(r"start one with '([^']+)'", line)
    assert advice is not None, line
    command = shlex.split(advice.group(1))
    assert command[1:] == ["dev", "--port", str(port)]

    terminal = Terminal(command, env=env, cwd=Path.cwd())
    try:
        await asyncio.to_thread(terminal.wait_for, "Press Ctrl+C", timeout=120)
        again = await rtw("order", "status", "o-1", env={"TEMPORAL_ADDRESS": address})
        assert again.stderr.splitlines() == ["rtw: no order o-1"]
        order_id = await authorization_in_flight(address)

        terminal.press_ctrl_c()
        code = await asyncio.to_thread(terminal.wait, timeout=90)
    finally:
        terminal.close()

    assert code == 0, terminal.output
    assert_one_drain(terminal.output)
    assert "gateway stopped: 0" in terminal.output
    assert await ledger_kinds(env, order_id) == ["authorization"], (
        "the payment in flight finished before its worker exited"
    )
    assert not port_in_use(port), "the embedded server stopped after the workers"


async def test_make_dev_drains_on_one_ctrl_c(dev_server: DevServer, tmp_path: Path) -> None:
    prefix = f"makedev-{uuid.uuid4().hex[:6]}-"
    env = terminal_env(tmp_path, TEMPORAL_ADDRESS=dev_server.address, RTW_QUEUE_PREFIX=prefix)

    terminal = Terminal(["make", "--no-print-directory", "dev"], env=env, cwd=ROOT)
    try:
        await asyncio.to_thread(terminal.wait_for, "Press Ctrl+C", timeout=120)
        order_id = await authorization_in_flight(dev_server.address, prefix)

        terminal.press_ctrl_c()
        code = await asyncio.to_thread(terminal.wait, timeout=90)
    finally:
        terminal.close()

    # make got the same SIGINT: it waits for `rtw dev` to finish, then dies of it (a shell
    # shows 130), with nothing left to say: `rtw dev` stopped cleanly.
    assert code == -signal.SIGINT, terminal.output
    assert "Interrupt" not in terminal.output
    assert_one_drain(terminal.output)
    assert "gateway stopped: 0" in terminal.output
    assert await ledger_kinds(env, order_id) == ["authorization"]


async def test_rtw_demo_stops_on_one_ctrl_c_and_its_workers_drain(tmp_path: Path) -> None:
    env = terminal_env(tmp_path)
    logs = tmp_path / "logs"
    rtw_script = str(Path(sys.executable).parent / "rtw")
    command = [rtw_script, "demo", "--port", str(free_port()), "--ui-port", str(free_port())]

    terminal = Terminal(command, env=env, cwd=tmp_path)
    try:
        await asyncio.to_thread(terminal.wait_for, "starting workers", timeout=120)
        await asyncio.to_thread(workers_polling, logs, timeout=60)
        await asyncio.sleep(1.0)  # the demo's orders start; their payments take 3 s each

        terminal.press_ctrl_c()
        code = await asyncio.to_thread(terminal.wait, timeout=90)
    finally:
        terminal.close()

    assert code == 130, terminal.output
    assert "demo interrupted (Ctrl+C)" in terminal.output
    assert ALL_DRAINED in terminal.output
    worker_logs = "".join(_text(logs / f"{q}.log") for q in ("orchestration", "payments"))
    assert FORCED not in worker_logs
    assert "authorization" in await ledger_kinds(env), "payments in flight finished"


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def workers_polling(logs: Path, *, timeout: float) -> None:
    """Block until each worker's log says it polls (the demo's workers log to files)."""
    deadline = time.monotonic() + timeout
    queues = ("orchestration", "payments", "notifications")
    while not all("worker polling" in _text(logs / f"{q}.log") for q in queues):
        assert time.monotonic() < deadline, f"workers not polling after {timeout}s"
        time.sleep(0.1)

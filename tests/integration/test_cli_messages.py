"""The `rtw` CLI explains itself: one line instead of a traceback when Temporal is away."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from services.runtime.devserver import DevServer, free_port
from services.runtime.invocation import rtw_command
from tests.integration.helpers import eventually, order_json, rtw, write_order

pytestmark = pytest.mark.integration

RTW = rtw_command()  # `.venv/bin/rtw` from the checkout: what a person can type here

CLIENT_COMMANDS = [
    ["order", "start", "--file", "ORDER"],
    ["order", "start", "--wait", "--file", "ORDER"],
    ["order", "status", "o-1"],
    ["order", "approve", "o-1", "--reviewer", "ann"],
    ["order", "reject", "o-1", "--reviewer", "ann"],
    ["shipment", "event", "o-1", "picked_up"],
    ["shipment", "status", "o-1"],
    ["subscription", "start", "--id", "s-1", "--customer", "c-1"],
    ["subscription", "status", "s-1"],
    ["subscription", "cancel", "s-1"],
    ["subscription", "change-plan", "s-1", "--plan", "premium"],
    ["schedules", "apply"],
    ["schedules", "list"],
]


def spawn_wait(order_file: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """`rtw order start --wait --file ORDER_FILE` in the background, output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "services", "order", "start", "--wait", "--file", str(order_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A command in the background, its output discarded."""
    return subprocess.Popen(
        argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@pytest.mark.parametrize("command", CLIENT_COMMANDS, ids=lambda c: " ".join(c[:2]))
async def test_unreachable_temporal_is_one_line_and_exit_1(
    command: list[str], tmp_path: Path
) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"  # nothing listens there
    order_file = write_order(tmp_path, order_json("o-1"))
    args = [str(order_file) if a == "ORDER" else a for a in command]

    began = time.monotonic()
    result = await rtw(*args, env={"TEMPORAL_ADDRESS": address})
    elapsed = time.monotonic() - began

    assert result.code == 1, result
    assert result.stderr.splitlines() == [
        f"rtw: cannot reach Temporal at {address}: connection refused; start one with "
        f"'{RTW} dev --port {port}' or set TEMPORAL_ADDRESS"
    ]
    assert "Traceback" not in result.stdout + result.stderr
    assert elapsed < 10, f"took {elapsed:.1f}s: client commands must not retry for long"


async def test_server_dying_during_wait_is_one_line_and_exit_1(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = DevServer(data_dir=tmp_path_factory.mktemp("dying"), port=free_port(), ui_port=None)
    await server.start()
    order_id = f"it-{uuid.uuid4().hex[:10]}"
    order_file = write_order(tmp_path_factory.mktemp("orders"), order_json(order_id))
    # no worker polls this prefix: the saga waits until the server goes away
    proc = spawn_wait(order_file, {"TEMPORAL_ADDRESS": server.address, "RTW_QUEUE_PREFIX": "x-"})
    try:
        assert proc.stdout is not None
        first = await asyncio.to_thread(proc.stdout.readline)
        assert first.strip() == f"order-{order_id}"
        await server.stop()
        stdout, stderr = await asyncio.to_thread(proc.communicate, timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        await server.stop()

    assert proc.returncode == 1, (stdout, stderr)
    assert "Traceback" not in stdout + stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"rtw: lost the connection to Temporal at {server.address}"), stderr
    assert stdout.strip() == ""  # after the workflow id: no outcome was printed


async def test_wait_warns_when_no_worker_polls_and_status_answers_quickly(
    dev_server: DevServer, dev_client: Client, tmp_path: Path
) -> None:
    prefix = f"nobody-{uuid.uuid4().hex[:8]}-"  # no worker polls these queues
    env = {"TEMPORAL_ADDRESS": dev_server.address, "RTW_QUEUE_PREFIX": prefix}
    order_id = f"it-{uuid.uuid4().hex[:10]}"
    order_file = write_order(tmp_path, order_json(order_id))
    proc = spawn_wait(order_file, env)
    try:
        assert proc.stdout is not None
        assert proc.stderr is not None
        first = await asyncio.to_thread(proc.stdout.readline)
        assert first.strip() == f"order-{order_id}"
        warning = await asyncio.wait_for(asyncio.to_thread(proc.stderr.readline), timeout=20)
        assert warning.strip() == (
            f"rtw: warning: no worker polls task queue '{prefix}orchestration'; the order "
            f"waits until one does (start one with '{RTW} worker orchestration' or '{RTW} dev')"
        )

        began = time.monotonic()
        status = await rtw("order", "status", order_id, env=env)
        elapsed = time.monotonic() - began
        assert status.code == 1, status
        assert status.stderr.splitlines() == [
            f"rtw: order {order_id} is running but no worker polls task queue "
            f"'{prefix}orchestration' to answer its status; start one with "
            f"'{RTW} worker orchestration' (or '{RTW} dev')"
        ]
        assert elapsed < 10, f"took {elapsed:.1f}s"

        # The advice works as printed: the worker it names answers the status.
        advice = re.search(r"start one with '([^']+)'", status.stderr)
        assert advice is not None
        worker = spawn(shlex.split(advice.group(1)), {**env, "RTW_DATA_DIR": str(tmp_path)})
        try:
            answered = await eventually(
                lambda: rtw("order", "status", order_id, env=env),
                lambda result: result.code == 0,
                timeout=60,
            )
        finally:
            worker.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(worker.wait, 60) == 0
    finally:
        proc.kill()
        proc.wait()
        await dev_client.get_workflow_handle(f"order-{order_id}").terminate("test over")

    assert answered.json()["state"] in {"received", "authorizing"}, answered.stdout


async def test_status_of_an_unknown_order_is_one_line(dev_server: DevServer) -> None:
    result = await rtw(
        "order", "status", "no-such-order", env={"TEMPORAL_ADDRESS": dev_server.address}
    )
    assert result.code == 1
    assert result.stderr.splitlines() == ["rtw: no order no-such-order"]


@pytest.mark.parametrize(
    ("bad", "line"),
    [
        (
            {"RTW_GRACEFUL_SHUTDOWN_SECONDS": "-1"},
            "rtw: invalid configuration: RTW_GRACEFUL_SHUTDOWN_SECONDS: "
            "Input should be greater than or equal to 0",
        ),
        (
            {"TEMPORAL_TLS_CLIENT_KEY_PATH": "/keys/client.key"},
            "rtw: invalid configuration: TEMPORAL_TLS_CLIENT_CERT_PATH and "
            "TEMPORAL_TLS_CLIENT_KEY_PATH go together",
        ),
        (
            {"TEMPORAL_API_KEY_FILE": "/keys/api-key"},
            "rtw: invalid configuration: set TEMPORAL_API_KEY or TEMPORAL_API_KEY_FILE, not both",
        ),
    ],
)
async def test_bad_configuration_names_the_variable_and_never_the_secret(
    bad: dict[str, str], line: str
) -> None:
    result = await rtw("order", "status", "o-1", env={"TEMPORAL_API_KEY": "sekret-123", **bad})

    assert result.code == 2, result
    assert result.stderr.splitlines() == [line]
    assert "sekret-123" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


async def test_bad_order_policy_stops_the_orchestration_worker_in_one_line() -> None:
    result = await rtw(
        "worker",
        "orchestration",
        env={"TEMPORAL_API_KEY": "sekret-123", "RTW_APPROVAL_THRESHOLD_CENTS": "-5"},
    )

    assert result.code == 2, result
    assert result.stderr.splitlines() == [
        "rtw: invalid configuration: RTW_APPROVAL_THRESHOLD_CENTS: "
        "Input should be greater than or equal to 0"
    ]
    assert "sekret-123" not in result.stdout + result.stderr


async def test_an_empty_ledger_says_so(tmp_path: Path) -> None:
    env = {"RTW_DATA_DIR": str(tmp_path), "RTW_DATABASE_URL": ""}  # a fresh SQLite ledger

    everything = await rtw("payments", "ledger", env=env)
    since = await rtw("payments", "ledger", "--since", "2026-01-01T00:00:00+00:00", env=env)

    assert everything.code == 0, everything.stderr
    assert everything.stdout.splitlines() == ["no ledger entries"]
    assert since.code == 0, since.stderr
    assert since.stdout.splitlines() == ["no ledger entries since 2026-01-01T00:00:00+00:00"]


async def test_a_relative_data_dir_is_resolved_once_and_named(tmp_path: Path) -> None:
    """RTW_DATA_DIR=state means <cwd>/state, and the state commands say which file they read."""
    env = {"RTW_DATA_DIR": "state", "RTW_DATABASE_URL": ""}
    database = tmp_path / "state" / "rtw.sqlite3"  # tmp_path is absolute and resolved

    ledger = await rtw("payments", "ledger", env=env, cwd=tmp_path)
    outbox = await rtw("notifications", "outbox", env=env, cwd=tmp_path)

    assert ledger.code == 0, ledger.stderr
    assert ledger.stderr.splitlines() == [f"ledger in sqlite {database}"]
    assert outbox.code == 0, outbox.stderr
    assert outbox.stderr.splitlines() == [f"outbox in sqlite {database}"]
    assert outbox.stdout.splitlines() == ["no delivered messages"]
    assert database.exists()


async def test_order_commands_speak_of_orders_never_of_workflows(
    dev_server: DevServer, dev_client: Client, tmp_path: Path
) -> None:
    """Unknown and ended orders, shipments and subscriptions, in the commands' own words."""
    env = {"TEMPORAL_ADDRESS": dev_server.address, "RTW_QUEUE_PREFIX": "nobody-voice-"}
    ended = f"it-{uuid.uuid4().hex[:10]}"
    started = await rtw("order", "start", "--file", str(write_order(tmp_path, order_json(ended))),
                        env=env)  # fmt: skip
    assert started.code == 0, started.stderr
    await dev_client.get_workflow_handle(f"order-{ended}").terminate("test: an ended order")

    said = {
        " ".join(args): await rtw(*args, env=env)
        for args in (
            ("order", "approve", "nope", "--reviewer", "ann"),
            ("order", "reject", ended, "--reviewer", "ann"),
            ("order", "cancel", ended),
            ("order", "cancel", "nope"),
            ("shipment", "event", "nope", "delivered"),
            ("shipment", "status", "nope"),
            ("subscription", "change-plan", "s-nope", "--plan", "premium"),
            ("subscription", "cancel", "s-nope"),
            ("subscription", "status", "s-nope"),
        )
    }

    assert {command: result.stderr.strip() for command, result in said.items()} == {
        "order approve nope --reviewer ann": "rtw: no order nope",
        f"order reject {ended} --reviewer ann": (
            f"rtw: order {ended} has ended (terminated); nothing to reject"
        ),
        f"order cancel {ended}": f"rtw: order {ended} has ended (terminated); nothing to cancel",
        "order cancel nope": "rtw: no order nope",
        "shipment event nope delivered": (
            "rtw: no shipment for order nope (it starts when the order ships)"
        ),
        "shipment status nope": "rtw: no shipment for order nope (it starts when the order ships)",
        "subscription change-plan s-nope --plan premium": "rtw: no subscription s-nope",
        "subscription cancel s-nope": "rtw: no subscription s-nope",
        "subscription status s-nope": "rtw: no subscription s-nope",
    }
    assert {result.code for result in said.values()} == {1}

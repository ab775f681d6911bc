"""`rtw demo` and `rtw dev`: the README's first command works on a bare machine."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest

from services.runtime.devserver import DevServer, free_port
from services.runtime.local_stack import LocalStack
from tests.integration.helpers import CliResult, rtw

pytestmark = pytest.mark.integration


async def test_demo_runs_every_order_to_its_expected_end_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    port, ui_port = free_port(), free_port()
    env = {"RTW_DATA_DIR": str(tmp_path), "TEMPORAL_ADDRESS": ""}
    os.environ.pop("TEMPORAL_ADDRESS", None)

    result = await rtw("demo", "--port", str(port), "--ui-port", str(ui_port), env=env)

    assert result.code == 0, result.stdout + result.stderr
    outcomes = re.findall(r"^order (\S+) \((.+)\) -> (\w+) (.*)$", result.stdout, re.M)
    assert len(outcomes) >= 3, result.stdout
    assert all(mark == "ok" for *_, mark in outcomes), result.stdout
    assert {state for _, _, state, _ in outcomes} >= {"completed", "compensated"}
    assert f"http://localhost:{ui_port}/namespaces/default/workflows" in result.stdout
    assert "workers stopped: orchestration=0, payments=0, notifications=0" in result.stdout
    assert (tmp_path / "temporal.db").exists(), "the dev server keeps its history under .rtw/"
    # The ledger command it prints runs as printed and shows the first order's money.
    (ledger,) = re.findall(r"^Ledger:  (.+)$", result.stdout, re.M)
    shown = await shell(ledger + " --json", env=env)
    assert shown.code == 0, shown.stderr
    assert [e["kind"] for e in json.loads(shown.stdout)] == ["authorization", "capture"]


async def test_demo_beside_a_running_stack_says_what_to_run_and_that_works(
    tmp_path: Path,
) -> None:
    """A stack serving the usual queues (auto-delivering carrier, like `rtw dev`) on the
    port the demo wants: the demo refuses in one line, and the command it suggests runs the
    demo against that server on queues of its own, every order ending as expected."""
    server = DevServer(data_dir=tmp_path / "server", port=free_port(), ui_port=None)
    await server.start()
    running = LocalStack(address=server.address, env={"RTW_DATA_DIR": str(tmp_path / "dev")})
    env = {"RTW_DATA_DIR": str(tmp_path / "demo")}
    try:
        await running.start()
        refused = await rtw("demo", "--port", str(server.port), env=env)
        (line,) = refused.stderr.splitlines()
        advice = re.search(r"with '([^']+)'", line)
        assert advice is not None, line
        assert line == (
            f"rtw: port {server.port} is taken (another Temporal server runs there?): run the "
            f"demo against it with '{advice.group(1)}' (the demo uses task queues of its own)"
        )
        assert refused.code == 1

        result = await shell(advice.group(1), env=env)
    finally:
        codes = await running.stop()
        await server.stop()

    assert result.code == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    outcomes = re.findall(r"^order \S+ \(.+\) -> \w+ (.*)$", result.stdout, re.M)
    assert len(outcomes) == 5, result.stdout
    assert set(outcomes) == {"ok"}, result.stdout
    assert set(codes.values()) == {0}


async def shell(command: str, *, env: dict[str, str]) -> CliResult:
    """Run a command line as a person would paste it into a shell."""
    proc = await asyncio.create_subprocess_shell(
        command,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode is not None
    return CliResult(proc.returncode, out.decode(), err.decode())


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_dev_uses_an_existing_server_and_stops_on_ctrl_c(
    dev_server: DevServer, tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    """With RTW_DATABASE_URL on an empty database, `rtw dev` migrates it before the workers
    start (a deployment runs `rtw db migrate` itself). The banner's advice matches the
    carrier setting, and its first command runs as printed."""
    extra = {}
    if database == "postgresql":
        extra["RTW_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    else:  # shipments wait for carrier events: the banner must not say otherwise
        extra["RTW_SIMULATED_CARRIER_AUTO_DELIVER"] = "false"
    gateway_port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services",
        "dev",
        env={
            **os.environ,
            "TEMPORAL_ADDRESS": dev_server.address,
            "RTW_DATA_DIR": str(tmp_path),
            "RTW_QUEUE_PREFIX": f"devcmd-{database}-",
            "RTW_GATEWAY_PORT": str(gateway_port),
            **extra,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    async with asyncio.timeout(60):
        while not any("Press Ctrl+C" in line for line in seen):
            line = (await proc.stdout.readline()).decode()
            assert line, "rtw dev exited early:\n" + "".join(seen)
            seen.append(line)
    assert any(f"running against {dev_server.address}" in line for line in seen)
    if database == "postgresql":
        assert any(line.startswith("migrated 127.0.0.1:") for line in seen), seen
    assert not any("embedded Temporal" in line for line in seen)
    assert any(f"Gateway: http://127.0.0.1:{gateway_port}/docs" in line for line in seen)
    banner = "".join(seen)
    if database == "postgresql":
        assert "The simulated carrier delivers shipments on its own" in banner
        (first,) = re.findall(r"^  (\S+ order start --file \S+ --wait)$", banner, re.M)
        prefix = f"devcmd-{database}-"
        assert f"(RTW_QUEUE_PREFIX={prefix}: set it for these commands too)" in banner
        ran = await shell(
            first, env={"TEMPORAL_ADDRESS": dev_server.address, "RTW_QUEUE_PREFIX": prefix}
        )
        assert ran.code == 0, ran.stdout + ran.stderr
        assert json.loads(ran.stdout[ran.stdout.index("{") :])["status"]["state"] == "completed"
    else:
        assert "delivers shipments on its own" not in banner
        assert "Shipments wait for carrier events (RTW_SIMULATED_CARRIER_AUTO_DELIVER=false)" in (
            banner
        )
    token = (tmp_path / "gateway-tokens").read_text().strip()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway_port}") as http:
        listed = await http.get("/orders", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200, listed.text

    proc.send_signal(signal.SIGINT)
    rest, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, "".join(seen) + rest.decode()
    assert "workers stopped: orchestration=0, payments=0, notifications=0" in rest.decode()
    assert "gateway stopped: 0" in rest.decode()

"""mTLS for real: workers and the CLI through nginx requiring client certificates."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.contracts import TaskQueue
from services.runtime.devserver import DevServer, free_port
from services.runtime.local_stack import WorkerProcess
from tests.integration.helpers import WorkerStack, order_json, rtw, write_order
from tests.security.conftest import Pki, tls_env
from tests.security.pki import Issued
from tests.security.proxy import Nginx, settle

pytestmark = pytest.mark.integration

BIG_ITEM = {"sku": "sku-1", "quantity": 1, "unit_price_cents": 150_000}


def mtls_stack(
    server: DevServer, proxy: Nginx, directory: Path, env: dict[str, str]
) -> WorkerStack:
    return WorkerStack(
        server,
        directory,
        f"tls-{uuid.uuid4().hex[:8]}-",
        extra_env={"TEMPORAL_ADDRESS": proxy.mtls_address, **env},
    )


@pytest.fixture(scope="module")
async def stack(
    dev_server: DevServer, proxy: Nginx, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkerStack]:
    env = tls_env(pki.ca.ca, pki.client)
    stack = mtls_stack(dev_server, proxy, tmp_path_factory.mktemp("mtls"), env)
    async with stack.running():
        yield stack


async def test_a_saga_completes_over_mtls(stack: WorkerStack, tmp_path: Path) -> None:
    order_id = f"tls-{uuid.uuid4().hex[:8]}"
    path = write_order(tmp_path, order_json(order_id))
    started = await rtw("order", "start", "--file", str(path), "--wait", env=stack.env)
    assert started.code == 0, started.stderr
    assert started.json()["status"]["state"] == "completed"
    pinged = await rtw("ping", "--timeout", "20", env=stack.env)
    assert pinged.code == 0, pinged.stderr


@pytest.mark.parametrize(
    ("case", "setting"),
    [
        ("no client certificate", "TEMPORAL_TLS_CLIENT_CERT_PATH"),
        ("certificate from another CA", "TEMPORAL_TLS_CLIENT_CERT_PATH"),
        ("wrong server name", "TEMPORAL_TLS_SERVER_NAME"),
        ("server CA not trusted", "TEMPORAL_TLS_SERVER_CA_CERT_PATH"),
    ],
)
async def test_a_refused_client_gets_a_clear_error_naming_the_setting(
    stack: WorkerStack, pki: Pki, case: str, setting: str
) -> None:
    env = {
        "no client certificate": tls_env(pki.ca.ca),
        "certificate from another CA": tls_env(pki.ca.ca, pki.foreign_client),
        "wrong server name": tls_env(pki.ca.ca, pki.client, name="wrong.rtw.test"),
        "server CA not trusted": tls_env(pki.other_ca.ca, pki.client),
    }[case]
    result = await rtw("ping", env={**stack.env, **_only_tls(env)})
    assert result.code != 0
    assert setting in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def _only_tls(env: dict[str, str]) -> dict[str, str]:
    """TLS settings replacing the stack's (unset ones are emptied)."""
    names = (
        "TEMPORAL_TLS_CLIENT_CERT_PATH",
        "TEMPORAL_TLS_CLIENT_KEY_PATH",
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
        "TEMPORAL_TLS_SERVER_NAME",
    )
    return {name: env.get(name, "") for name in names}


async def test_a_rotated_client_certificate_is_rolled_out_without_dropping_work(
    dev_server: DevServer, proxy: Nginx, pki: Pki, tmp_path: Path
) -> None:
    """cert-manager renews the Secret (here: from a new CA); a rolling restart picks it up
    while a saga waits for approval; then the proxy stops trusting the old CA."""
    mounted = Issued(tmp_path / "tls.crt", tmp_path / "tls.key")  # the Secret's mount
    shutil.copy(pki.client.cert, mounted.cert)
    shutil.copy(pki.client.key, mounted.key)
    stack = mtls_stack(dev_server, proxy, tmp_path / "stack", tls_env(pki.ca.ca, mounted))
    (tmp_path / "stack").mkdir()
    new_ca = pki.other_ca
    renewed = new_ca.issue("renewed", common_name="rtw-worker")
    try:
        async with stack.running():
            order_id = f"rot-{uuid.uuid4().hex[:8]}"
            path = write_order(tmp_path, order_json(order_id, items=[BIG_ITEM]))
            assert (await rtw("order", "start", "--file", str(path), env=stack.env)).code == 0
            await _wait_for_state(stack, order_id, "awaiting_approval")

            # the proxy trusts old and new CA during the rollout; the Secret changes
            proxy.configure(
                server=pki.server, client_cas=[pki.ca.ca, new_ca.ca], api_keys=["key-1"]
            )
            proxy.reload()
            await settle()
            shutil.copy(renewed.cert, mounted.cert)
            shutil.copy(renewed.key, mounted.key)
            await _rolling_restart(stack)

            # the old CA is withdrawn: only the renewed certificate gets in now
            proxy.configure(server=pki.server, client_cas=[new_ca.ca], api_keys=["key-1"])
            proxy.reload()
            await settle()
            old = await rtw("ping", env={**stack.env, **_only_tls(tls_env(pki.ca.ca, pki.client))})
            assert old.code != 0
            approved = await rtw("order", "approve", order_id, "--reviewer", "r-1", env=stack.env)
            assert approved.code == 0, approved.stderr
            await _wait_for_state(stack, order_id, "completed")
            second = write_order(tmp_path, order_json(f"{order_id}-2"))
            after = await rtw("order", "start", "--file", str(second), "--wait", env=stack.env)
            assert after.code == 0, after.stderr
            assert after.json()["status"]["state"] == "completed"
    finally:
        proxy.configure(server=pki.server, client_cas=[pki.ca.ca], api_keys=["key-1"])
        proxy.reload()
        await settle()


async def _rolling_restart(stack: WorkerStack) -> None:
    """One queue at a time: start a replacement, wait until it polls, drain the old one."""
    for queue in TaskQueue:
        old = stack.processes.workers[queue]
        new = WorkerProcess(
            queue=queue,
            health_port=free_port(),
            env={**stack.env},
            log_file=stack.data_dir / "logs" / f"{queue.value}-2.log",
        )
        await new.start()
        await new.wait_ready()
        stack.processes.workers[queue] = new
        assert await old.stop() == 0


async def _wait_for_state(stack: WorkerStack, order_id: str, state: str) -> None:
    import asyncio

    async with asyncio.timeout(60):
        while True:
            status = await rtw("order", "status", order_id, env=stack.env)
            if status.code == 0 and status.json().get("state") == state:
                return
            await asyncio.sleep(0.3)

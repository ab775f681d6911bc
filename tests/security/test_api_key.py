"""API keys for real: a gRPC proxy checks `authorization`; a changed key file is picked up
by running workers without a restart."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from services.runtime.credentials import API_KEY_CHECK_SECONDS
from services.runtime.devserver import DevServer
from tests.integration.helpers import WorkerStack, order_json, rtw, write_order
from tests.security.conftest import Pki, tls_env
from tests.security.proxy import Nginx, settle

pytestmark = pytest.mark.integration


async def test_a_rotated_api_key_is_used_by_running_workers_without_a_restart(
    dev_server: DevServer, proxy: Nginx, pki: Pki, tmp_path: Path
) -> None:
    key_file = tmp_path / "api-key"  # the mounted Secret
    # The rotated key is distinctive, so the log check below cannot match a queue or order id.
    new_key = f"k2-{uuid.uuid4().hex[:10]}"  # short: the proxy keeps keys in an nginx map
    key_file.write_text("key-1\n", encoding="utf-8")
    (tmp_path / "stack").mkdir()
    stack = WorkerStack(
        dev_server,
        tmp_path / "stack",
        f"key-{uuid.uuid4().hex[:8]}-",
        extra_env={
            "TEMPORAL_ADDRESS": proxy.api_key_address,
            "TEMPORAL_API_KEY_FILE": str(key_file),
            **tls_env(pki.ca.ca),
        },
    )
    try:
        async with stack.running():
            pids = {q: w.process.pid for q, w in stack.processes.workers.items() if w.process}
            await _saga_completes(stack, tmp_path)

            # rollout of a new key: the proxy accepts both, the Secret changes, ...
            proxy.configure(server=pki.server, client_cas=[pki.ca.ca], api_keys=["key-1", new_key])
            proxy.reload()
            await settle()
            key_file.write_text(f"{new_key}\n", encoding="utf-8")
            await asyncio.sleep(API_KEY_CHECK_SECONDS + 1.5)
            # ... and the old key is revoked
            proxy.configure(server=pki.server, client_cas=[pki.ca.ca], api_keys=[new_key])
            proxy.reload()
            await settle()

            revoked = await rtw("ping", env={**stack.env, "TEMPORAL_API_KEY_FILE": "",
                                             "TEMPORAL_API_KEY": "key-1"})  # fmt: skip
            assert revoked.code != 0
            assert "TEMPORAL_API_KEY_FILE" in revoked.stderr
            await _saga_completes(stack, tmp_path)
            for queue, worker in stack.processes.workers.items():
                assert worker.process is not None
                assert worker.process.returncode is None
                assert worker.process.pid == pids[queue], "no worker may have restarted"
            logs = "".join(p.read_text() for p in (stack.data_dir / "logs").glob("*.log"))
            assert "API key updated" in logs
            assert new_key not in logs
    finally:
        proxy.configure(server=pki.server, client_cas=[pki.ca.ca], api_keys=["key-1"])
        proxy.reload()
        await settle()


async def _saga_completes(stack: WorkerStack, tmp_path: Path) -> None:
    order_id = f"key-{uuid.uuid4().hex[:8]}"
    path = write_order(tmp_path, order_json(order_id))
    started = await rtw("order", "start", "--file", str(path), "--wait", env=stack.env)
    assert started.code == 0, started.stderr
    assert started.json()["status"]["state"] == "completed"

"""Secrets never leak: a worker fleet and the CLI run with recognizable credentials through a
saga, a declined payment and bad input; none of the secrets shows up anywhere."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from services.bench.receiver import OtlpReceiver
from services.contracts import TaskQueue
from services.runtime.devserver import DevServer, free_port
from services.runtime.local_stack import WorkerProcess
from tests.integration.helpers import CliResult, order_json, rtw, run_temporal_cli, write_order
from tests.security.conftest import Pki, tls_env
from tests.security.keys import write_keys
from tests.security.proxy import Nginx, settle

pytestmark = pytest.mark.integration

API_KEY = "rtw-apikey-SENTINEL-7f3c9a"


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[OtlpReceiver]:
    async with OtlpReceiver() as running:
        yield running


def _key_material(path: Path) -> list[str]:
    """Recognizable pieces of a PEM private key: each base64 line of its body."""
    lines = path.read_text(encoding="ascii").splitlines()
    return [line for line in lines if line and not line.startswith("-----") and len(line) > 20]


async def test_no_secret_reaches_logs_spans_probes_metrics_errors_or_cli_output(
    dev_server: DevServer,
    proxy: Nginx,
    pki: Pki,
    receiver: OtlpReceiver,
    tmp_path: Path,
) -> None:
    codec_key = "c2VjcmV0LWNvZGVjLWtleS1TRU5USU5FTC0wMTIzNDU="  # base64 of 32 bytes
    assert len(__import__("base64").b64decode(codec_key)) == 32
    keys = write_keys(tmp_path / "keys.json", "hyg-1", {"hyg-1": codec_key})
    api_key_file = tmp_path / "api-key"
    api_key_file.write_text(API_KEY + "\n", encoding="utf-8")
    secrets = [API_KEY, codec_key, *_key_material(pki.client.key)]

    proxy.configure(server=pki.server, client_cas=[pki.ca.ca], api_keys=["key-1", API_KEY])
    proxy.reload()
    await settle()
    prefix = f"hyg-{uuid.uuid4().hex[:8]}-"
    env = {
        "TEMPORAL_ADDRESS": proxy.api_key_address,
        "TEMPORAL_API_KEY_FILE": str(api_key_file),
        **tls_env(pki.ca.ca, pki.client),  # the key file is loaded, the proxy asks for none
        "RTW_CODEC_KEYS_FILE": str(keys),
        "RTW_QUEUE_PREFIX": prefix,
        "RTW_DATA_DIR": str(tmp_path / "data"),
        "RTW_LOG_FORMAT": "json",
        "RTW_LOG_LEVEL": "DEBUG",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    workers: dict[TaskQueue, tuple[WorkerProcess, int]] = {}
    outputs: list[str] = []
    try:
        for queue in TaskQueue:
            metrics_port = free_port()
            worker = WorkerProcess(
                queue=queue,
                health_port=free_port(),
                env={**env, "RTW_METRICS_PORT": str(metrics_port)},
                log_file=tmp_path / "logs" / f"{queue.value}.log",
            )
            await worker.start()
            workers[queue] = (worker, metrics_port)
        await asyncio.gather(*(w.wait_ready() for w, _ in workers.values()))

        ok, declined = f"hyg-ok-{uuid.uuid4().hex[:6]}", f"hyg-no-{uuid.uuid4().hex[:6]}"
        runs = [
            await rtw("order", "start", "--file", str(write_order(tmp_path, order_json(ok))),
                      "--wait", env=env),
            await rtw("order", "start", "--file", str(write_order(tmp_path, order_json(
                declined, payment_method="pm_card_chargeDeclined"))), "--wait", env=env),
            await rtw("order", "start", "--file", "-", stdin='{"order_id": 5', env=env),
            await rtw("order", "start", "--file", "-",
                      stdin=json.dumps(order_json("x", items=[])), env=env),
            await rtw("order", "status", ok, env=env),
            await rtw("order", "status", "no-such-order", env=env),
            await rtw("ping", "--timeout", "20", env=env),
            await rtw("ping", env={**env, "TEMPORAL_API_KEY_FILE": "",
                                   "TEMPORAL_API_KEY": API_KEY + "-revoked"}),
        ]  # fmt: skip
        assert [r.code for r in runs[:2]] == [0, 1], [r.stderr for r in runs[:2]]
        assert runs[0].json()["status"]["state"] == "completed"
        assert runs[1].json()["status"]["state"] == "compensated"
        assert [runs[2].code, runs[3].code] == [2, 2], "bad input is refused before starting"
        assert runs[-1].code != 0, "a wrong key is refused"
        outputs += [_text(r) for r in runs]
        # bad input sent past the CLI: the saga fails it with a typed error
        orchestration = f"{prefix}{TaskQueue.ORCHESTRATION.value}"
        bad = f"order-hyg-bad-{uuid.uuid4().hex[:6]}"
        outputs.append(
            await run_temporal_cli(
                dev_server.address, "workflow", "start", "--type", "OrderSaga",
                "--task-queue", orchestration, "--workflow-id", bad, "--input", '{"order_id": 7}',
            )
        )  # fmt: skip
        for workflow_id in (f"order-{ok}", f"order-{declined}", bad):
            outputs.append(await _history_when_closed(dev_server.address, workflow_id))

        async with aiohttp.ClientSession() as http:
            for worker, metrics_port in workers.values():
                for url in (
                    f"http://127.0.0.1:{worker.health_port}/healthz",
                    f"http://127.0.0.1:{worker.health_port}/readyz",
                    f"http://127.0.0.1:{metrics_port}/metrics",
                ):
                    async with http.get(url) as resp:
                        outputs.append(await resp.text())
        await asyncio.sleep(1)  # the last span batch
    finally:
        codes = [await w.stop() for w, _ in workers.values()]
        proxy.configure(server=pki.server, client_cas=[pki.ca.ca], api_keys=["key-1"])
        proxy.reload()
        await settle()
    assert codes == [0, 0, 0]

    logs = [p.read_text(encoding="utf-8") for p in (tmp_path / "logs").glob("*.log")]
    assert any('"level": "debug"' in log or '"level": "info"' in log for log in logs)
    assert receiver.requests, "spans were exported"
    places = {
        "worker stdout/stderr (JSON logs)": "\n".join(logs),
        "exported spans": "\n".join(receiver.requests),
        "probes, metrics, rtw and temporal CLI output, histories": "\n".join(outputs),
    }
    for where, text in places.items():
        for secret in secrets:
            assert secret not in text, f"a secret appeared in {where}"
    # the failures themselves were recorded (the check above read real error text)
    assert "InvalidOrder" in places["probes, metrics, rtw and temporal CLI output, histories"]
    assert "TEMPORAL_API_KEY_FILE" in runs[-1].stderr


def _text(result: CliResult) -> str:
    return f"{result.stdout}\n{result.stderr}"


async def _history_when_closed(address: str, workflow_id: str) -> str:
    async with asyncio.timeout(60):
        while True:
            shown = await run_temporal_cli(
                address, "workflow", "describe", "-w", workflow_id, "--output", "json"
            )
            if '"status": "WORKFLOW_EXECUTION_STATUS_RUNNING"' not in shown:
                break
            await asyncio.sleep(0.3)
    history = await run_temporal_cli(
        address, "workflow", "show", "-w", workflow_id, "--output", "json"
    )
    return shown + history

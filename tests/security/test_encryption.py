"""Encrypted payloads end to end: real workers, the real CLI, key rotation, a removed key."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from services.contracts import TaskQueue
from services.orchestration.replay import history_replayer
from services.runtime.codec import KEY_ID_METADATA, EncryptionCodec, KeyRing
from services.runtime.config import CodecSettings, TemporalSettings
from services.runtime.connection import connect
from services.runtime.devserver import DevServer, free_port
from services.runtime.local_stack import WorkerProcess
from tests.integration.helpers import WorkerStack, order_json, rtw, run_temporal_cli, write_order
from tests.security.codec_server import codec_server_process, wait_healthy
from tests.security.keys import fresh_keys, write_keys

pytestmark = pytest.mark.integration

CUSTOMER = "c-private-7731"
#: At or above the default approval threshold: the saga waits for a decision.
BIG_ITEM = {"sku": "sku-1", "quantity": 1, "unit_price_cents": 150_000}


@pytest.fixture(scope="module")
def keys() -> dict[str, str]:
    return fresh_keys("k1", "k2")


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, str]) -> Path:
    return write_keys(tmp_path_factory.mktemp("keys") / "keys.json", "k1", {"k1": keys["k1"]})


@pytest.fixture(scope="module")
async def stack(
    dev_server: DevServer, tmp_path_factory: pytest.TempPathFactory, keys_file: Path
) -> AsyncIterator[WorkerStack]:
    stack = WorkerStack(
        dev_server,
        tmp_path_factory.mktemp("enc"),
        f"enc-{uuid.uuid4().hex[:8]}-",
        extra_env={"RTW_CODEC_KEYS_FILE": str(keys_file)},
    )
    async with stack.running():
        yield stack


@pytest.fixture(scope="module")
async def client(dev_server: DevServer, keys_file: Path) -> Client:
    return await connect(
        TemporalSettings(address=dev_server.address, codec=CodecSettings(keys_file=keys_file))
    )


#: Where a history keeps payloads the codec does not touch, by Temporal's design: search
#: attributes, memo, headers, and the SDK's own local-activity bookkeeping (sequence number,
#: attempt, timestamps; the activity's result next to it is encrypted).
UNENCRYPTED = {"searchAttributes", "memo", "header", "markerRecordedEventAttributes.details.data"}


def payloads_in(history_json: str, *, skip: set[str] = UNENCRYPTED) -> list[dict[str, Any]]:
    """Every payload object in a history's JSON, outside the `skip` fields."""
    found: list[dict[str, Any]] = []

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            if "metadata" in node and "data" in node:
                found.append(node)
            for name, value in node.items():
                where = (*path, name)
                if name not in skip and ".".join(where[-3:]) not in skip:
                    walk(value, where)
        elif isinstance(node, list):
            for value in node:
                walk(value, path)

    walk(json.loads(history_json), ())
    return found


def key_ids(history_json: str) -> set[str]:
    import base64

    return {
        base64.b64decode(p["metadata"][KEY_ID_METADATA]).decode()
        for p in payloads_in(history_json, skip=set())
        if KEY_ID_METADATA in p["metadata"]
    }


async def test_a_saga_runs_encrypted_and_the_server_never_sees_customer_fields(
    stack: WorkerStack, client: Client, tmp_path: Path
) -> None:
    order_id = f"enc-{uuid.uuid4().hex[:8]}"
    path = write_order(tmp_path, order_json(order_id, customer_id=CUSTOMER))
    started = await rtw("order", "start", "--file", str(path), "--wait", env=stack.env)
    assert started.code == 0, started.stderr
    assert started.json()["status"]["state"] == "completed"

    # what anyone with access to the server (or its Web UI without the codec) sees
    shown = await run_temporal_cli(
        stack.server.address, "workflow", "show", "-w", f"order-{order_id}", "--output", "json"
    )
    assert CUSTOMER not in shown
    assert "pm_card_visa" not in shown
    assert key_ids(shown) == {"k1"}
    # every workflow, activity and result payload is sealed (headers and memo aside)
    encodings = {
        p["metadata"].get("encoding") for p in payloads_in(shown) if "encoding" in p["metadata"]
    }
    assert encodings == {"YmluYXJ5L2VuY3J5cHRlZA=="}  # base64 of binary/encrypted

    # search attributes and memo stay readable: what rtw puts there holds nothing personal
    described = await client.get_workflow_handle(f"order-{order_id}").describe()
    visible = json.dumps(
        {
            "search": {k: repr(v) for k, v in described.search_attributes.items()},
            "memo": repr(await described.memo()),
        }
    )
    for private in (CUSTOMER, "pm_card_visa", "customer_id", "payment_method"):
        assert private not in visible


async def test_the_codec_server_shows_the_same_run_decrypted_to_token_holders(
    stack: WorkerStack, keys_file: Path, tmp_path: Path
) -> None:
    order_id = f"dec-{uuid.uuid4().hex[:8]}"
    path = write_order(tmp_path, order_json(order_id, customer_id=CUSTOMER))
    assert (await rtw("order", "start", "--file", str(path), "--wait", env=stack.env)).code == 0
    tokens = tmp_path / "tokens"
    tokens.write_text("tok-show-1\n", encoding="utf-8")
    show = ("workflow", "show", "-w", f"order-{order_id}", "--output", "json")
    with codec_server_process(keys_file, tokens, tmp_path / "codec.log") as url:
        await wait_healthy(url)
        decoded = await run_temporal_cli(
            stack.server.address,
            *show,
            "--codec-endpoint",
            url,
            "--codec-auth",
            "Bearer tok-show-1",
        )
        sealed = await run_temporal_cli(stack.server.address, *show)
    plain = [base64.b64decode(p["data"]) for p in payloads_in(decoded)]
    assert any(CUSTOMER.encode() in data for data in plain)
    assert CUSTOMER not in sealed
    encodings = {base64.b64decode(p["metadata"]["encoding"]) for p in payloads_in(decoded)}
    assert b"binary/encrypted" not in encodings


async def test_rotation_keeps_in_flight_sagas_readable_and_seals_new_data_with_the_new_key(
    stack: WorkerStack, client: Client, keys_file: Path, keys: dict[str, str], tmp_path: Path
) -> None:
    write_keys(keys_file, "k1", {"k1": keys["k1"]})
    order_id = f"rot-{uuid.uuid4().hex[:8]}"
    path = write_order(tmp_path, order_json(order_id, items=[BIG_ITEM]))
    started = await rtw("order", "start", "--file", str(path), env=stack.env)
    assert started.code == 0, started.stderr
    handle = client.get_workflow_handle(f"order-{order_id}")
    await _wait_for_state(stack, order_id, "awaiting_approval")

    write_keys(keys_file, "k2", {"k1": keys["k1"], "k2": keys["k2"]})  # rotate, no restart
    await asyncio.sleep(1.5)  # workers re-check the file at most every second
    approved = await rtw("order", "approve", order_id, "--reviewer", "r-1", env=stack.env)
    assert approved.code == 0, approved.stderr
    assert (await handle.result())["state"] == "completed"

    history = await handle.fetch_history()
    assert key_ids(history.to_json()) == {"k1", "k2"}
    # the recorded run replays with both keys, and fails naming k1 without it
    both = EncryptionCodec(KeyRing(active="k2", keys=_raw(keys)))
    result = await history_replayer(codec=both).replay_workflow(history)
    assert result.replay_failure is None
    only_new = EncryptionCodec(KeyRing(active="k2", keys={"k2": _raw(keys)["k2"]}))
    failed = await history_replayer(codec=only_new).replay_workflow(
        WorkflowHistory.from_json(history.workflow_id, history.to_json()),
        raise_on_replay_failure=False,
    )
    assert "payload encrypted with key 'k1'" in str(failed.replay_failure)


async def test_removing_a_key_still_referenced_fails_loudly_naming_it(
    stack: WorkerStack, client: Client, keys_file: Path, keys: dict[str, str], tmp_path: Path
) -> None:
    write_keys(keys_file, "k1", {"k1": keys["k1"], "k2": keys["k2"]})
    order_id = f"rm-{uuid.uuid4().hex[:8]}"
    path = write_order(tmp_path, order_json(order_id, items=[BIG_ITEM]))
    assert (await rtw("order", "start", "--file", str(path), env=stack.env)).code == 0
    await _wait_for_state(stack, order_id, "awaiting_approval")

    # k1 is dropped and the orchestration worker restarted (a rolling update would do this)
    write_keys(keys_file, "k2", {"k2": keys["k2"]})
    old = stack.processes.workers[TaskQueue.ORCHESTRATION]
    assert await old.stop() == 0
    new = WorkerProcess(
        queue=TaskQueue.ORCHESTRATION,
        health_port=free_port(),
        env={**stack.env},
        log_file=stack.data_dir / "logs" / "orchestration-2.log",
    )
    stack.processes.workers[TaskQueue.ORCHESTRATION] = new
    await new.start()
    await new.wait_ready()

    handle = client.get_workflow_handle(f"order-{order_id}")
    await handle.signal("approve", {"reviewer": "r-1", "reason": "ok"})
    message = await _workflow_task_failure(client, handle.id)
    assert "'k1'" in message
    assert "RTW_CODEC_KEYS_FILE" in message
    await handle.terminate("test over")
    write_keys(keys_file, "k1", {"k1": keys["k1"], "k2": keys["k2"]})


def _raw(keys: dict[str, str]) -> dict[str, bytes]:
    import base64

    return {k: base64.b64decode(v) for k, v in keys.items()}


async def _wait_for_state(stack: WorkerStack, order_id: str, state: str) -> None:
    async with asyncio.timeout(30):
        while True:
            status = await rtw("order", "status", order_id, env=stack.env)
            if status.code == 0 and status.json().get("state") == state:
                return
            await asyncio.sleep(0.2)


async def _workflow_task_failure(client: Client, workflow_id: str) -> str:
    """The message of the first failed workflow task of a run (waits for one)."""
    handle = client.get_workflow_handle(workflow_id)
    async with asyncio.timeout(30):
        while True:
            async for event in handle.fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    return event.workflow_task_failed_event_attributes.failure.message
            await asyncio.sleep(0.3)

"""Worker Versioning on the real dev server: a pinned order survives an incompatible build.

Build v1 of all three services runs and is promoted; a large order waits for approval on
it and a subscription runs. Build v2 arrives with an OrderSaga change no v1 history can
replay, and is promoted. The waiting order still finishes on v1, new orders run on v2,
the subscription moves to v2 at its next task, and v1 reports drained only once the order
closed. Replaying the order's history with v2's saga fails: without versioning, v2 would
have broken it.
"""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.common import VersioningBehavior

from services.contracts import (
    APPROVE,
    CHANGE_PLAN,
    ApprovalRequest,
    ChangePlanRequest,
    OrderInput,
    OrderState,
    OrderStatus,
    SubscriptionInput,
    TaskQueue,
)
from services.orchestration.client import order_status, start_order, start_subscription
from services.orchestration.order_saga import OrderSaga
from services.orchestration.replay import history_replayer
from services.orchestration.worker import WORKFLOWS
from services.runtime.devserver import DevServer, free_port, temporal_cli
from services.runtime.local_stack import LocalStack, WorkerProcess
from tests.integration.breaking_saga import BreakingOrderSaga
from tests.integration.builds import Build, builds_of_workflow_tasks
from tests.integration.helpers import LARGE_ITEMS, eventually, order_json, rtw

pytestmark = pytest.mark.integration

#: Waits on deployment routing and drainage get a minute (sagas elsewhere get 30 s).
ROUTING_TIMEOUT = 60


async def activity_identities(handle: WorkflowHandle[Any, Any], activity: str) -> list[str]:
    """Identities of the workers that started `activity` for this run."""
    history = await handle.fetch_history()
    scheduled = {
        event.event_id
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == activity
    }
    return [
        event.activity_task_started_event_attributes.identity
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and event.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]


@pytest.fixture
def env(dev_server: DevServer, queue_prefix: str, tmp_path: Path) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": dev_server.address,
        "RTW_QUEUE_PREFIX": queue_prefix,
        "RTW_DATA_DIR": str(tmp_path / "data"),
        "RTW_PROMOTE_ON_START": "never",  # promotion is the test's (and the CLI's) job
    }


async def test_a_pinned_order_finishes_on_its_build_across_an_incompatible_upgrade(
    dev_client: Client, env: dict[str, str], queue_prefix: str, tmp_path: Path
) -> None:
    client = dev_client
    queue = f"{queue_prefix}orchestration"
    v1 = Build("v1", env, tmp_path / "logs", breaking=False)
    v2 = Build("v2", env, tmp_path / "logs", breaking=True)
    await v1.start()
    try:
        promoted = await rtw("deployment", "promote", "v1", env=env)
        assert promoted.code == 0, promoted.stderr
        assert f"rtw-{queue_prefix}orchestration: v1 is current" in promoted.stdout

        waiting = OrderInput.model_validate(
            order_json(f"vw-{uuid.uuid4().hex[:8]}", items=LARGE_ITEMS)
        )
        order_v1 = (await start_order(client, waiting, task_queue=queue)).handle
        await eventually(
            lambda: order_status(client, waiting.order_id),
            lambda s: s.state is OrderState.AWAITING_APPROVAL,
            timeout=ROUTING_TIMEOUT,
        )
        subscription, _ = await start_subscription(
            client,
            SubscriptionInput(
                subscription_id=f"vs-{uuid.uuid4().hex[:8]}",
                customer_id="c-1",
                plan="basic",
                payment_method="pm_card_visa",
            ),
            task_queue=queue,
        )
        await eventually(
            lambda: builds_of_workflow_tasks(subscription),
            lambda builds: "v1" in builds,
            timeout=ROUTING_TIMEOUT,
        )

        await v2.start()
        try:
            promoted = await rtw("deployment", "promote", "v2", env=env)
            assert promoted.code == 0, promoted.stderr

            status = await rtw("deployment", "status", "--json", env=env)
            assert status.code == 0, status.stderr
            orchestration = next(
                d for d in status.json() if d["task_queue"] == queue
            )  # the queue's deployment
            assert orchestration["current"] == "v2"
            by_build = {v["build_id"]: v for v in orchestration["versions"]}
            assert by_build["v1"]["open_pinned"] >= 1  # the waiting order (and nothing else)
            assert by_build["v2"]["pollers"] >= 1

            before = await rtw("deployment", "drain-status", "v1", env=env)
            assert before.code == 1, before.stdout + before.stderr
            assert f"order-{waiting.order_id}" in before.stdout

            # New orders run on v2 (whose saga starts with the incompatible timer).
            fresh = OrderInput.model_validate(order_json(f"vn-{uuid.uuid4().hex[:8]}"))
            order_v2 = (await start_order(client, fresh, task_queue=queue)).handle
            done: OrderStatus = await order_v2.result()
            assert done.state is OrderState.COMPLETED
            assert set(await builds_of_workflow_tasks(order_v2)) == {"v2"}
            timers = [
                e
                for e in (await order_v2.fetch_history()).events
                if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
            ]
            assert timers, "v2's saga (with its extra timer) ran the new order"

            # The subscription moves to v2 at its next task.
            await subscription.execute_update(CHANGE_PLAN, ChangePlanRequest(plan="premium"))
            described = await subscription.describe()
            info = described.raw_description.workflow_execution_info.versioning_info
            assert info.deployment_version.build_id == "v2"
            assert info.behavior == VersioningBehavior.AUTO_UPGRADE.value
            assert (await builds_of_workflow_tasks(subscription))[-1] == "v2"

            # The waiting v1 order is approved and completes on v1 ...
            await order_v1.execute_update(
                APPROVE, ApprovalRequest(reviewer="versioning-test", reason="ok")
            )
            finished: OrderStatus = await order_v1.result()
            assert finished.state is OrderState.COMPLETED
            assert set(await builds_of_workflow_tasks(order_v1)) == {"v1"}
            pinned = (await order_v1.describe()).raw_description.workflow_execution_info
            assert pinned.versioning_info.behavior == VersioningBehavior.PINNED.value
            # ... while its payment capture ran on the payments deployment's current build
            # (v2): activities on another queue follow that queue's own routing.
            captured_by = await activity_identities(order_v1, "payments.capture")
            assert captured_by, "the approved order captured its payment"
            assert all(i.startswith(v2.identity(TaskQueue.PAYMENTS)) for i in captured_by)

            # v1 is drained only now that the order (and its shipment) closed.
            drained = await eventually(
                lambda: rtw("deployment", "drain-status", "v1", env=env),
                lambda result: result.code == 0,
                timeout=ROUTING_TIMEOUT,
            )
            assert "build v1: drained" in drained.stdout

            # The negative control: without versioning, v2 would replay v1's order and fail.
            history = await order_v1.fetch_history()
            compatible = await history_replayer(WORKFLOWS).replay_workflow(
                history, raise_on_replay_failure=False
            )
            assert compatible.replay_failure is None, repr(compatible.replay_failure)
            breaking = [BreakingOrderSaga if w is OrderSaga else w for w in WORKFLOWS]
            broken = await history_replayer(breaking).replay_workflow(
                history, raise_on_replay_failure=False
            )
            assert isinstance(broken.replay_failure, workflow.NondeterminismError), repr(
                broken.replay_failure
            )
        finally:
            assert set((await v2.stop()).values()) == {0}
    finally:
        assert set((await v1.stop()).values()) == {0}


@pytest.fixture(scope="module")
async def server_without_versioning(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[DevServer]:
    """A dev server with Worker Deployments switched off, like an older or locked-down one."""
    server = DevServer(
        data_dir=tmp_path_factory.mktemp("no-versioning"),
        port=free_port(),
        ui_port=None,
        dynamic_config=["system.enableDeploymentVersions=false"],
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_a_server_that_refuses_versioning_stops_the_worker_in_one_line(
    server_without_versioning: DevServer, tmp_path: Path
) -> None:
    env = {"TEMPORAL_ADDRESS": server_without_versioning.address, "RTW_DATA_DIR": str(tmp_path)}

    result = await rtw("worker", "payments", env=env)

    assert result.code == 1, result
    assert "Traceback" not in result.stderr
    refusals = [line for line in result.stderr.splitlines() if "Worker Versioning" in line]
    assert len(refusals) == 1, result.stderr
    assert "set RTW_WORKER_VERSIONING=false" in refusals[0]


async def test_with_versioning_off_the_workers_serve_that_server(
    server_without_versioning: DevServer, queue_prefix: str, tmp_path: Path
) -> None:
    env = {
        "TEMPORAL_ADDRESS": server_without_versioning.address,
        "RTW_QUEUE_PREFIX": queue_prefix,
        "RTW_DATA_DIR": str(tmp_path),
        "RTW_WORKER_VERSIONING": "false",
    }
    stack = LocalStack(address=server_without_versioning.address, env=env)
    await stack.start()
    try:
        pinged = await rtw("ping", "--timeout", "30", env=env)
        assert pinged.code == 0, pinged.stderr
        status = await rtw("deployment", "status", env=env)
        assert status.code == 1
        assert "set RTW_WORKER_VERSIONING=false" in status.stderr
    finally:
        assert set((await stack.stop()).values()) == {0}


async def test_a_first_build_claims_its_deployment_and_later_ones_only_when_told(
    dev_server: DevServer, queue_prefix: str, tmp_path: Path
) -> None:
    env = {
        "TEMPORAL_ADDRESS": dev_server.address,
        "RTW_QUEUE_PREFIX": queue_prefix,
        "RTW_DATA_DIR": str(tmp_path),
    }

    async def payments_current() -> str | None:
        status = await rtw("deployment", "status", "--json", env=env)
        assert status.code == 0, status.stderr
        (payments,) = [d for d in status.json() if d["task_queue"] == f"{queue_prefix}payments"]
        current: str | None = payments["current"]
        return current

    started = []
    try:
        for build, promote in (("b1", "if-unset"), ("b2", "if-unset"), ("b3", "always")):
            worker = WorkerProcess(
                queue=TaskQueue.PAYMENTS,
                health_port=free_port(),
                env={**env, "RTW_BUILD_ID": build, "RTW_PROMOTE_ON_START": promote},
                log_file=tmp_path / f"{build}.log",
            )
            started.append(worker)
            await worker.start()
            await worker.wait_ready()
            if build == "b2":
                assert await payments_current() == "b1"  # a running deployment is not taken over
                log = (tmp_path / "b2.log").read_text()
                assert "new workflows go to build b1" in log
                assert "rtw deployment promote b2" in log
            else:
                assert await payments_current() == build
        # Promoting the current build again (a rerun hook Job) is a no-op that succeeds.
        again = await rtw("deployment", "promote", "b3", "--queue", "payments", env=env)
        assert again.code == 0, again.stderr
        assert again.stdout.splitlines() == [f"rtw-{queue_prefix}payments: b3 is current"]
        # A ramp sends part of the new work to another build; that build is not drained.
        ramped = await rtw("deployment", "promote", "b2", "--ramp", "30", "--queue", "payments",
                           env=env)  # fmt: skip
        assert ramped.code == 0, ramped.stderr
        status = await rtw("deployment", "status", env=env)
        assert "current b3, ramping b2 at 30%" in status.stdout
        drain = await rtw("deployment", "drain-status", "b2", env=env)
        assert drain.code == 1
        assert "still receives new work (current or ramping)" in drain.stdout
    finally:
        codes = [await w.stop() for w in started]
        assert set(codes) == {0}


async def test_rtw_dev_names_workflows_left_on_an_earlier_build_and_how_to_move_them(
    dev_client: Client, dev_server: DevServer, queue_prefix: str, tmp_path: Path
) -> None:
    from services.devstack import build_report
    from services.runtime.config import Settings, TemporalSettings
    from services.runtime.versioning import VersioningSettings

    env = {
        "TEMPORAL_ADDRESS": dev_server.address,
        "RTW_QUEUE_PREFIX": queue_prefix,
        "RTW_DATA_DIR": str(tmp_path),
        "RTW_PROMOTE_ON_START": "always",  # what rtw dev sets
    }
    old = LocalStack(address=dev_server.address, env={**env, "RTW_BUILD_ID": "dev-1"})
    await old.start()
    try:
        waiting = OrderInput.model_validate(
            order_json(f"vd-{uuid.uuid4().hex[:8]}", items=LARGE_ITEMS)
        )
        handle = (
            await start_order(dev_client, waiting, task_queue=f"{queue_prefix}orchestration")
        ).handle
        await eventually(
            lambda: order_status(dev_client, waiting.order_id),
            lambda s: s.state is OrderState.AWAITING_APPROVAL,
            timeout=ROUTING_TIMEOUT,
        )
    finally:
        assert set((await old.stop()).values()) == {0}

    new = LocalStack(address=dev_server.address, env={**env, "RTW_BUILD_ID": "dev-2"})
    await new.start()
    try:
        settings = Settings(
            temporal=TemporalSettings(address=dev_server.address),
            queue_prefix=queue_prefix,
            versioning=VersioningSettings(build_id="dev-2"),
        )
        report = await eventually(
            lambda: build_report(settings, dev_server.address),
            lambda lines: any("pinned to earlier build dev-1" in line for line in lines),
            timeout=ROUTING_TIMEOUT,
        )
        assert report[0] == "Workers run build dev-2 (current: dev-2)."
        command = report[-1].strip()
        assert command.startswith("temporal workflow update-options")
        moved = await asyncio.to_thread(
            subprocess.run,
            [*shlex.split(command.replace("temporal", temporal_cli(), 1)), "--yes",
             "--address", dev_server.address],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert moved.returncode == 0, moved.stderr

        async def approve() -> Any:
            return await handle.execute_update(
                APPROVE, ApprovalRequest(reviewer="dev", reason="moved")
            )

        await eventually(approve, lambda _: True, timeout=ROUTING_TIMEOUT)
        finished: OrderStatus = await handle.result()
        assert finished.state is OrderState.COMPLETED
        assert (await builds_of_workflow_tasks(handle))[-1] == "dev-2"
    finally:
        assert set((await new.stop()).values()) == {0}

"""Drain-aware upgrades and rollbacks on the real dev server, driven through the commands the
chart's hooks run (tests.integration.builds): the guard refuses to remove a build while
orders are pinned to it and passes once they close; a rollback re-promotes the build it
restores; `rtw deployment status` says which builds can go; `promote` answers at once for
a build nobody has seen and says what it waits for."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHandle

from services.contracts import (
    APPROVE,
    ApprovalRequest,
    OrderInput,
    OrderState,
    OrderStatus,
    TaskQueue,
)
from services.orchestration.client import order_status, start_order
from services.runtime.devserver import DevServer, free_port
from services.runtime.local_stack import WorkerProcess
from tests.integration.builds import (
    CHART_FIX_STEM,
    Build,
    builds_of_workflow_tasks,
    guard_args,
    promote_args,
)
from tests.integration.helpers import LARGE_ITEMS, CliResult, eventually, order_json, rtw

pytestmark = pytest.mark.integration

QUEUES = ("orchestration", "payments", "notifications")
#: Routing, drainage and visibility get a minute (sagas elsewhere get 30 s).
ROUTING_TIMEOUT = 60


@pytest.fixture
def env(dev_server: DevServer, queue_prefix: str, tmp_path: Path) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": dev_server.address,
        "RTW_QUEUE_PREFIX": queue_prefix,
        "RTW_DATA_DIR": str(tmp_path / "data"),
        "RTW_PROMOTE_ON_START": "never",  # as in the chart: the hooks promote
    }


async def waiting_order(client: Client, queue_prefix: str) -> WorkflowHandle[object, OrderStatus]:
    """A large order that waits for approval, pinned to the current build."""
    order = OrderInput.model_validate(order_json(f"ug-{uuid.uuid4().hex[:8]}", items=LARGE_ITEMS))
    handle = (await start_order(client, order, task_queue=f"{queue_prefix}orchestration")).handle
    await eventually(
        lambda: order_status(client, order.order_id),
        lambda s: s.state is OrderState.AWAITING_APPROVAL,
        timeout=ROUTING_TIMEOUT,
    )
    return handle


async def approve(handle: WorkflowHandle[object, OrderStatus]) -> OrderStatus:
    await handle.execute_update(APPROVE, ApprovalRequest(reviewer="guard-test", reason="ok"))
    result: OrderStatus = await handle.result()
    assert result.state is OrderState.COMPLETED
    return result


async def hook(args: list[str], env: dict[str, str], *, fix: str | None = None) -> CliResult:
    """Run one hook's command (`rtw ARGS`), with the chart's `--fix` text for a guard."""
    return await rtw(*args, *(["--fix", fix] if fix else []), env=env)


async def test_the_guard_refuses_to_remove_a_build_with_open_pinned_orders_until_they_close(
    dev_client: Client, env: dict[str, str], queue_prefix: str, tmp_path: Path
) -> None:
    orchestration = f"rtw-{queue_prefix}orchestration"
    old = Build("g1", env, tmp_path / "logs")
    new = Build("g2", env, tmp_path / "logs")
    await old.start()
    try:
        installed = await hook(promote_args("g1", wait=60, queues=QUEUES), env)
        assert installed.code == 0, installed.stderr
        order = await waiting_order(dev_client, queue_prefix)

        await new.start()
        try:
            # The upgrade to g2 that keeps g1 passes; the one that drops it is refused.
            kept = await hook(guard_args("g2", ["g1"]), env, fix=CHART_FIX_STEM)
            assert kept.code == 0, kept.stderr
            dropped = await hook(guard_args("g2", []), env, fix=CHART_FIX_STEM)
            assert dropped.code == 1, dropped.stdout + dropped.stderr
            lines = dropped.stderr.splitlines()
            assert lines[0].startswith("rtw: refusing this release: it removes the workers of")
            assert "build g1: 1 open pinned workflow(s) on" in dropped.stderr
            assert f"on {orchestration} (OrderSaga 1)" in dropped.stderr
            assert "fix: keep g1 in versioning.retainedBuilds" in dropped.stderr
            assert "rtw deployment drain-status g1" in dropped.stderr
            assert "Traceback" not in dropped.stderr
            # The emergency override lets it through, and still says what it strands.
            forced = await hook(guard_args("g2", [], allow_stranding=True), env)
            assert forced.code == 0, forced.stderr
            assert "WARNING: stranding allowed" in forced.stderr
            assert "build g1: 1 open pinned workflow(s)" in forced.stderr

            promoted = await hook(promote_args("g2", wait=60, queues=QUEUES), env)
            assert promoted.code == 0, promoted.stderr
            status = await rtw("deployment", "status", env=env)
            assert "still draining: g1 (1 open pinned workflow(s))" in status.stdout
            assert "can be removed" not in status.stdout

            await approve(order)
            assert set(await builds_of_workflow_tasks(order)) == {"g1"}
            passed = await eventually(
                lambda: hook(guard_args("g2", []), env, fix=CHART_FIX_STEM),
                lambda result: result.code == 0,
                timeout=ROUTING_TIMEOUT,
            )
            assert "no build other than g2 has open pinned workflows" in passed.stdout
            status = await rtw("deployment", "status", env=env)
            assert (
                "drained on every queue (no new work, no open pinned workflow), can be removed: g1"
            ) in status.stdout
            described = await rtw("deployment", "status", "--json", env=env)
            for deployment in described.json():
                by_build = {v["build_id"]: v for v in deployment["versions"]}
                assert by_build["g1"]["drained"] is True
                assert by_build["g2"]["drained"] is False  # current
        finally:
            assert set((await new.stop()).values()) == {0}
    finally:
        assert set((await old.stop()).values()) == {0}


async def test_a_rollback_waits_for_the_new_builds_orders_then_re_promotes_the_old_build(
    dev_client: Client, env: dict[str, str], queue_prefix: str, tmp_path: Path
) -> None:
    """Revision 1 runs r1; revision 2 runs r2 with r1 retained; `helm rollback` to 1 would
    remove r2. Each step runs what the chart's hooks run, in Helm's order."""
    r1 = Build("r1", env, tmp_path / "logs")
    r2 = Build("r2", env, tmp_path / "logs")
    await r1.start()
    try:
        # helm install (revision 1): post-install promote.
        assert (await hook(promote_args("r1", wait=300, queues=QUEUES), env)).code == 0
        # helm upgrade (revision 2): pre-upgrade guard, new Deployments, post-upgrade promote.
        assert (await hook(guard_args("r2", ["r1"]), env)).code == 0
        await r2.start()
        upgraded = await hook(promote_args("r2", wait=300, queues=QUEUES), env)
        assert upgraded.code == 0, upgraded.stderr
        on_r2 = await waiting_order(dev_client, queue_prefix)

        # helm rollback 1: revision 1's pre-rollback guard keeps only r1, so it refuses
        # while an order is pinned to r2 ...
        refused = await hook(guard_args("r1", []), env)
        assert refused.code == 1
        assert "build r2: 1 open pinned workflow(s)" in refused.stderr
        assert "(OrderSaga 1)" in refused.stderr
        # ... and passes once that order (and its shipment) closed.
        await approve(on_r2)
        assert set(await builds_of_workflow_tasks(on_r2)) == {"r2"}
        await eventually(
            lambda: hook(guard_args("r1", []), env),
            lambda result: result.code == 0,
            timeout=ROUTING_TIMEOUT,
        )
        # The rollback deletes r2's Deployments, then revision 1's post-rollback promote
        # makes r1 current again once it polls.
        assert set((await r2.stop()).values()) == {0}
        restored = await hook(promote_args("r1", wait=300, queues=QUEUES), env)
        assert restored.code == 0, restored.stderr
        status = await rtw("deployment", "status", "--json", env=env)
        assert {d["current"] for d in status.json()} == {"r1"}

        fresh = OrderInput.model_validate(order_json(f"ug-{uuid.uuid4().hex[:8]}"))
        handle = (
            await start_order(dev_client, fresh, task_queue=f"{queue_prefix}orchestration")
        ).handle
        done: OrderStatus = await handle.result()
        assert done.state is OrderState.COMPLETED
        assert set(await builds_of_workflow_tasks(handle)) == {"r1"}
    finally:
        await r2.stop()
        assert set((await r1.stop()).values()) == {0}


async def test_promote_answers_at_once_for_an_unknown_build_and_says_what_it_waits_for(
    env: dict[str, str], queue_prefix: str, tmp_path: Path
) -> None:
    running = WorkerProcess(
        queue=TaskQueue.PAYMENTS,
        health_port=free_port(),
        env={**env, "RTW_BUILD_ID": "p1", "RTW_PROMOTE_ON_START": "always"},
        log_file=tmp_path / "p1.log",
    )
    await running.start()
    late: WorkerProcess | None = None
    try:
        await running.wait_ready()
        began = time.monotonic()
        unknown = await rtw("deployment", "promote", "nope", "--queue", "payments", env=env)
        elapsed = time.monotonic() - began
        assert unknown.code == 1
        assert elapsed < 20, f"took {elapsed:.1f}s"  # was the whole 60 s default wait
        assert "no Worker Deployment knows build nope" in unknown.stderr
        assert f"rtw-{queue_prefix}payments: p1 (current)" in unknown.stderr
        assert "rtw deployment promote nope --wait 120" in unknown.stderr

        # An explicit wait for a build that never comes says what it waits for, then fails.
        waited = await rtw(
            "deployment", "promote", "p9", "--queue", "payments", "--wait", "5", env=env
        )
        assert waited.code == 1
        waiting = f"rtw: waiting for build p9 to poll task queue(s) {queue_prefix}payments"
        assert waiting in waited.stderr
        assert "has no pollers on task queue(s)" in waited.stderr

        # A build whose worker arrives during the wait is promoted.
        late = WorkerProcess(
            queue=running.queue,
            health_port=free_port(),
            env={**env, "RTW_BUILD_ID": "p2"},
            log_file=tmp_path / "p2.log",
        )
        promoting = asyncio.create_task(
            rtw("deployment", "promote", "p2", "--queue", "payments", "--wait", "90", env=env)
        )
        await asyncio.sleep(4)
        await late.start()
        promoted = await promoting
        assert promoted.code == 0, promoted.stderr
        assert "rtw: waiting for build p2 to poll" in promoted.stderr
        assert promoted.stdout.strip() == f"rtw-{queue_prefix}payments: p2 is current"
    finally:
        codes = [await running.stop()] + ([await late.stop()] if late else [])
        assert set(codes) == {0}


async def test_the_guard_passes_on_a_server_without_worker_deployments(tmp_path: Path) -> None:
    """The unversioned chart still runs the guard (keeping no build); on a server without
    Worker Deployments nothing can be pinned, so it lets the release go on."""
    server = DevServer(
        data_dir=tmp_path / "server",
        port=free_port(),
        ui_port=None,
        dynamic_config=["system.enableDeploymentVersions=false"],
    )
    await server.start()
    try:
        env = {"TEMPORAL_ADDRESS": server.address, "RTW_DATA_DIR": str(tmp_path)}
        result = await rtw("deployment", "guard", env=env)
        assert result.code == 0, result.stdout + result.stderr
        assert "the server runs no Worker Deployments" in result.stdout
    finally:
        await server.stop()

"""A rollout as Temporal's worker controller runs it, played against the real dev server with
the controller's own calls (tests/integration/controller_moves.py), on worker processes that
get their version the way the controller's pods do (TEMPORAL_DEPLOYMENT_NAME,
TEMPORAL_WORKER_BUILD_ID; RTW_BUILD_ID set to something else to show it loses).

Build A of the three queues is gated (Ping, on the orchestration queue only: the other
versions have no workflow task queue) and made current; a large order waits for approval on
it. Build B is gated, ramped 10 % then 50 %, made current. New orders run on B; the waiting
order finishes on A, which only then reports drained. A build C that does not serve its
queue's activities fails its gate, and the controller would route nothing to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError

from services.contracts import (
    APPROVE,
    ApprovalRequest,
    OrderInput,
    OrderState,
    OrderStatus,
    PingResult,
    TaskQueue,
    queue_name,
)
from services.orchestration.client import order_status, start_order
from services.runtime.devserver import DevServer, free_port
from services.runtime.local_stack import WorkerProcess
from tests.integration import controller_moves as controller
from tests.integration.builds import builds_of_workflow_tasks
from tests.integration.helpers import LARGE_ITEMS, eventually, order_json, rtw

pytestmark = pytest.mark.integration

ROUTING_TIMEOUT = 60
#: The Kubernetes namespace the controller would prefix (what the chart's pods see).
K8S_NAMESPACE = "rtw"
GATE_INPUT = {"caller": "temporal-worker-controller", "timeout_seconds": 60}


class ControlledBuild:
    """One build's worker processes, each configured like a pod of its queue's
    WorkerDeployment: the controller's two variables plus the chart's RTW_DEPLOYMENT_NAME."""

    def __init__(
        self,
        build_id: str,
        env: Mapping[str, str],
        logs: Path,
        *,
        stem: str,
        prefix: str,
        queues: tuple[TaskQueue, ...] = tuple(TaskQueue),
        module: str = "services",
    ) -> None:
        self.build_id = build_id
        self.workers = {
            queue: WorkerProcess(
                queue=queue,
                health_port=free_port(),
                env={
                    **env,
                    "RTW_DEPLOYMENT_NAME": f"{K8S_NAMESPACE}/{stem}",
                    "TEMPORAL_DEPLOYMENT_NAME": deployment(stem, prefix, queue),
                    "TEMPORAL_WORKER_BUILD_ID": build_id,
                    "RTW_BUILD_ID": "what-the-image-says",  # the injected id wins
                },
                log_file=logs / f"{build_id}-{queue.value}.log",
                module=module,
            )
            for queue in queues
        }

    def pid(self, queue: TaskQueue) -> int:
        process = self.workers[queue].process
        assert process is not None
        return process.pid

    async def start(self) -> None:
        for worker in self.workers.values():
            await worker.start()
        for worker in self.workers.values():
            await worker.wait_ready()

    async def stop(self) -> set[int]:
        return {await worker.stop() for worker in self.workers.values()}


def deployment(stem: str, prefix: str, queue: TaskQueue) -> str:
    """`<k8s namespace>/<WorkerDeployment name>`, the chart's WorkerDeployment being
    `<stem>-<prefix><queue>`."""
    return f"{K8S_NAMESPACE}/{stem}-{prefix.replace('.', '-')}{queue.value}"


async def roll_out(
    client: Client, stem: str, prefix: str, build: str, *, steps: tuple[float, ...]
) -> PingResult:
    """The controller's moves for one build on every queue: the gate on each workflow task
    queue (only orchestration has one), then the ramp steps, then current. Returns the
    gate's result."""
    gated: PingResult | None = None
    for queue in (TaskQueue.PAYMENTS, TaskQueue.NOTIFICATIONS, TaskQueue.ORCHESTRATION):
        name = deployment(stem, prefix, queue)
        await eventually(
            lambda: controller.routing(client, name),  # noqa: B023 (awaited in this iteration)
            lambda r: build in r.versions,
            timeout=ROUTING_TIMEOUT,
        )
        task_queues = await controller.gate_task_queues(client, name, build)
        if queue is TaskQueue.ORCHESTRATION:
            assert task_queues == [queue_name(queue, prefix=prefix)]
            (task_queue,) = task_queues
            gate = await controller.start_gate(client, name, build, task_queue, "Ping", GATE_INPUT)
            gated = PingResult.model_validate(await gate.result())
            assert set(await builds_of_workflow_tasks(gate)) == {build}
        else:  # activities only: the controller would never promote it with a gate set
            assert task_queues == []
        await controller.claim(client, name)
        if (await controller.routing(client, name)).current:
            for percentage in steps:
                await controller.set_ramping(client, name, build, percentage)
                ramped = await controller.routing(client, name)
                assert (ramped.ramping, ramped.ramp_percentage) == (build, percentage)
        await controller.set_current(client, name, build)
        assert (await controller.routing(client, name)).current == build
    assert gated is not None
    return gated


@pytest.fixture
def env(dev_server: DevServer, queue_prefix: str, tmp_path: Path) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": dev_server.address,
        "RTW_QUEUE_PREFIX": queue_prefix,
        "RTW_DATA_DIR": str(tmp_path / "data"),
        "RTW_PROMOTE_ON_START": "never",  # what the chart sets: routing is the controller's
    }


async def test_a_controller_rollout_keeps_the_waiting_order_on_its_build(
    dev_client: Client, env: dict[str, str], queue_prefix: str, tmp_path: Path
) -> None:
    client = dev_client
    stem = f"ctl{uuid.uuid4().hex[:6]}"
    orchestration = queue_name(TaskQueue.ORCHESTRATION, prefix=queue_prefix)
    logs = tmp_path / "logs"
    a = ControlledBuild("a-1", env, logs, stem=stem, prefix=queue_prefix)
    b = ControlledBuild("b-2", env, logs, stem=stem, prefix=queue_prefix)
    c = ControlledBuild(
        "c-3",
        env,
        logs,
        stem=stem,
        prefix=queue_prefix,
        queues=(TaskQueue.ORCHESTRATION,),
        module="tests.integration.unserved_build",
    )
    cli_env = {**env, "RTW_DEPLOYMENT_NAME": f"{K8S_NAMESPACE}/{stem}"}
    await a.start()
    try:
        first = await roll_out(client, stem, queue_prefix, "a-1", steps=(10, 50))
        answered = {pong.queue: pong.worker for pong in first.answers}
        assert answered[orchestration].endswith(f":{a.pid(TaskQueue.ORCHESTRATION)}")

        waiting = OrderInput.model_validate(
            order_json(f"cw-{uuid.uuid4().hex[:8]}", items=LARGE_ITEMS)
        )
        order_a = (await start_order(client, waiting, task_queue=orchestration)).handle
        await eventually(
            lambda: order_status(client, waiting.order_id),
            lambda s: s.state is OrderState.AWAITING_APPROVAL,
            timeout=ROUTING_TIMEOUT,
        )

        await b.start()
        try:
            gated = await roll_out(client, stem, queue_prefix, "b-2", steps=(10, 50))
            # the gate's own queue was answered by build b's orchestration worker
            answered = {pong.queue: pong.worker for pong in gated.answers}
            assert answered[orchestration].endswith(f":{b.pid(TaskQueue.ORCHESTRATION)}")

            # rtw's CLI finds the controller-named deployments: a still has the order
            before = await rtw("deployment", "drain-status", "a-1", env=cli_env)
            assert before.code == 1, before.stdout + before.stderr
            assert f"order-{waiting.order_id}" in before.stdout

            fresh = OrderInput.model_validate(order_json(f"cn-{uuid.uuid4().hex[:8]}"))
            order_b = (await start_order(client, fresh, task_queue=orchestration)).handle
            done: OrderStatus = await order_b.result()
            assert done.state is OrderState.COMPLETED
            assert set(await builds_of_workflow_tasks(order_b)) == {"b-2"}

            # A build that does not serve its queue's activities fails its gate ...
            await c.start()
            try:
                name = deployment(stem, queue_prefix, TaskQueue.ORCHESTRATION)
                await eventually(
                    lambda: controller.routing(client, name),
                    lambda r: "c-3" in r.versions,
                    timeout=ROUTING_TIMEOUT,
                )
                gate = await controller.start_gate(
                    client, name, "c-3", orchestration, "Ping", GATE_INPUT
                )
                with pytest.raises(WorkflowFailureError) as failed:
                    await gate.result()
                assert isinstance(failed.value.cause, ActivityError)
                assert failed.value.cause.activity_type == "orchestration.ping"
                # ... so no routing moves (getVersionConfigDiff waits for COMPLETED gates),
                # and new orders keep going to b.
                routed = await controller.routing(client, name)
                assert (routed.current, routed.ramping) == ("b-2", "")
                later = OrderInput.model_validate(order_json(f"cl-{uuid.uuid4().hex[:8]}"))
                order_later = (await start_order(client, later, task_queue=orchestration)).handle
                assert (await order_later.result()).state is OrderState.COMPLETED
                assert set(await builds_of_workflow_tasks(order_later)) == {"b-2"}
            finally:
                assert await c.stop() == {0}

            # The waiting order is approved and finishes on a, its build.
            await order_a.execute_update(
                APPROVE, ApprovalRequest(reviewer="controller-test", reason="ok")
            )
            finished: OrderStatus = await order_a.result()
            assert finished.state is OrderState.COMPLETED
            assert set(await builds_of_workflow_tasks(order_a)) == {"a-1"}

            # Only now is a drained: what the controller waits for before its sunset delays.
            drained = await eventually(
                lambda: rtw("deployment", "drain-status", "a-1", env=cli_env),
                lambda result: result.code == 0,
                timeout=ROUTING_TIMEOUT,
            )
            assert "build a-1: drained" in drained.stdout
        finally:
            assert await b.stop() == {0}
    finally:
        assert await a.stop() == {0}

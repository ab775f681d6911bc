"""`Ping` as the gate of a new build: it passes only when every queue's ping activity is
served, and it waits as long as the gate's input says (the worker controller's first
install starts all queues' builds at once)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, TimeoutError, TimeoutType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from services.contracts import PingRequest, PingResult, Pong, TaskQueue, ping_activity, queue_name
from services.orchestration.ping import UnversionedPing


@activity.defn(name="orchestration.reserve_stock")
async def other_activity() -> None:
    """An activity the build serves, so its worker polls the queue's activity tasks."""


def pong(queue: TaskQueue) -> Callable[..., Any]:
    @activity.defn(name=ping_activity(queue))
    async def answer(request: PingRequest) -> Pong:
        return Pong(queue=activity.info().task_queue, worker="test:1")

    return answer


async def run_gate(
    env: WorkflowEnvironment,
    request: dict[str, object],
    *,
    served: set[TaskQueue],
    polled: set[TaskQueue],
) -> PingResult:
    """Run Ping with the JSON a WorkerDeployment's gate input carries; workers poll the
    `polled` queues, and only the `served` ones register their ping activity (the others
    serve another activity: their workers poll the queue but cannot answer the ping)."""
    prefix = f"gate-{uuid.uuid4().hex[:8]}-"
    async with AsyncExitStack() as stack:
        for queue in polled:
            await stack.enter_async_context(
                Worker(
                    env.client,
                    task_queue=queue_name(queue, prefix=prefix),
                    workflows=[UnversionedPing] if queue is TaskQueue.ORCHESTRATION else [],
                    activities=[pong(queue)] if queue in served else [other_activity],
                )
            )
        result: PingResult = await env.client.execute_workflow(
            "Ping",
            request,
            id=f"test-gate-{uuid.uuid4().hex[:8]}",
            task_queue=queue_name(TaskQueue.ORCHESTRATION, prefix=prefix),
            result_type=PingResult,
        )
        return result


async def test_the_gate_passes_when_every_queue_answers(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    everything = set(TaskQueue)
    result = await run_gate(
        time_skipping_env,
        {"caller": "worker-controller", "timeout_seconds": 300},
        served=everything,
        polled=everything,
    )
    assert sorted(p.queue.rsplit("-", 1)[-1] for p in result.answers) == sorted(everything)


async def test_the_gate_fails_when_the_new_build_does_not_serve_its_queues_activities(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    with pytest.raises(WorkflowFailureError) as caught:
        await run_gate(
            time_skipping_env,
            {"caller": "worker-controller", "timeout_seconds": 300},
            served={TaskQueue.PAYMENTS, TaskQueue.NOTIFICATIONS},
            polled=set(TaskQueue),
        )
    failure = caught.value.cause
    assert isinstance(failure, ActivityError)
    assert failure.activity_type == "orchestration.ping"
    assert "not registered" in str(failure.cause)


async def test_the_gate_waits_as_long_as_its_input_says_then_fails(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # The test server does not skip time over an activity no worker polls: a short real wait.
    started = time.monotonic()
    with pytest.raises(WorkflowFailureError) as caught:
        await run_gate(
            time_skipping_env,
            {"caller": "worker-controller", "timeout_seconds": 3},
            served=set(TaskQueue),
            polled={TaskQueue.ORCHESTRATION, TaskQueue.NOTIFICATIONS},  # no payments worker
        )
    waited = time.monotonic() - started
    failure = caught.value.cause
    assert isinstance(failure, ActivityError)
    assert failure.activity_type == "payments.ping"
    assert isinstance(failure.cause, TimeoutError)
    # Never picked up: the server reports the schedule-to-close bound as either kind (the
    # schedule-to-start bound defaults to it), depending on which timer it fires first.
    assert failure.cause.type in (TimeoutType.SCHEDULE_TO_CLOSE, TimeoutType.SCHEDULE_TO_START)
    assert 3 <= waited < 15  # the input's 3 s, not rtw ping's 20 s


def test_rtw_ping_keeps_its_twenty_seconds_and_the_input_is_bounded() -> None:
    assert PingRequest().timeout_seconds == 20
    assert PingRequest.model_validate({"caller": "rtw"}).timeout_seconds == 20
    with pytest.raises(ValueError, match="timeout_seconds"):
        PingRequest.model_validate({"timeout_seconds": 0})

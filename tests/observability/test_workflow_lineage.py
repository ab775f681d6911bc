"""Long-running and scheduled workflows: each continue-as-new run and each scheduled start
gets its own trace, linked to where it came from, instead of one endless trace."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
)
from temporalio.worker import Worker

from services.runtime.config import TemporalSettings
from services.runtime.connection import connect
from services.runtime.devserver import DevServer
from tests.observability.workflows import LoopInput, TraceLoop, tick

pytestmark = pytest.mark.integration


@pytest.fixture
async def traced_worker(
    dev_server: DevServer, memory_spans: InMemorySpanExporter
) -> AsyncIterator[tuple[Client, str]]:
    """An in-process worker on a traced client (the global provider is the in-memory one)."""
    client = await connect(TemporalSettings(address=dev_server.address), tracing=True)
    queue = f"lineage-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[TraceLoop], activities=[tick]):
        yield client, queue


async def spans_until(
    exporter: InMemorySpanExporter,
    done: Callable[[Sequence[ReadableSpan]], bool],
    *,
    timeout: float = 15.0,
) -> Sequence[ReadableSpan]:
    """Poll the exporter (it has no event to wait on) until `done`, within `timeout`."""
    async with asyncio.timeout(timeout):
        while not done(spans := exporter.get_finished_spans()):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return spans


def runs_of(spans: Sequence[ReadableSpan], workflow_id: str) -> list[ReadableSpan]:
    found = [
        s
        for s in spans
        if s.name == "RunWorkflow:TraceLoop"
        and (s.attributes or {}).get("temporalWorkflowID") == workflow_id
    ]
    return sorted(found, key=lambda s: s.start_time or 0)


async def test_each_continue_as_new_run_is_a_new_trace_linked_to_the_previous_run(
    traced_worker: tuple[Client, str], memory_spans: InMemorySpanExporter
) -> None:
    client, queue = traced_worker
    workflow_id = f"loop-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        TraceLoop.run,
        LoopInput(order_id="o-loop", amount_cents=1200, runs_left=2),
        id=workflow_id,
        task_queue=queue,
    )
    assert await handle.result() == 0

    spans = await spans_until(memory_spans, lambda s: len(runs_of(s, workflow_id)) == 3)
    runs = runs_of(spans, workflow_id)
    traces = [r.context.trace_id for r in runs]
    assert len(set(traces)) == 3, "one trace per run"

    first, *continued = runs
    start = next(
        s
        for s in spans
        if s.name == "StartWorkflow:TraceLoop"
        and (s.attributes or {}).get("temporalWorkflowID") == workflow_id
    )
    assert first.parent is not None
    assert first.parent.span_id == start.context.span_id
    previous = first
    for run in continued:
        assert run.parent is None, "a continued run starts a new trace"
        assert [(link.context.trace_id, link.context.span_id) for link in run.links] == [
            (previous.context.trace_id, previous.context.span_id)
        ]
        assert (run.attributes or {})["temporal.continued_run_id"] == (
            (previous.attributes or {})["temporalRunID"]
        )
        previous = run
    assert [(r.attributes or {})["rtw.outcome"] for r in runs] == [
        "continued_as_new",
        "continued_as_new",
        "completed",
    ]
    for run in runs:
        ticks = [
            s
            for s in spans
            if s.name == "RunActivity:test.tick" and s.context.trace_id == run.context.trace_id
        ]
        assert len(ticks) == 1, "each run's activity is in that run's trace"
        assert (ticks[0].attributes or {})["rtw.order_id"] == "o-loop"


async def test_a_scheduled_workflow_gets_its_own_root_span_with_the_schedule_id(
    traced_worker: tuple[Client, str], memory_spans: InMemorySpanExporter
) -> None:
    client, queue = traced_worker
    schedule_id = f"sched-{uuid.uuid4().hex[:8]}"
    workflow_id = f"scheduled-{uuid.uuid4().hex[:8]}"
    schedule = await client.create_schedule(
        schedule_id,
        Schedule(
            action=ScheduleActionStartWorkflow(
                TraceLoop.run,
                LoopInput(order_id="o-sched", amount_cents=500, runs_left=0),
                id=workflow_id,
                task_queue=queue,
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=365))]),
        ),
    )
    try:
        await schedule.trigger()

        def scheduled_root(spans: Sequence[ReadableSpan]) -> bool:
            return any(
                (s.attributes or {}).get("temporal.schedule_id") == schedule_id for s in spans
            )

        spans = await spans_until(memory_spans, scheduled_root)
    finally:
        await schedule.delete()
    (root,) = [s for s in spans if (s.attributes or {}).get("temporal.schedule_id") == schedule_id]
    assert root.name == "RunWorkflow:TraceLoop"
    assert root.parent is None, "a scheduled start is the root of its own trace"
    trace_spans = [s for s in spans if s.context.trace_id == root.context.trace_id]
    assert {s.name for s in trace_spans} >= {"StartActivity:test.tick", "RunActivity:test.tick"}

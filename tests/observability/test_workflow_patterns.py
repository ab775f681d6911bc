"""Traces of the other workflow patterns: the shipment child and its signals, the approval
update, Subscription's continue-as-new runs and the Schedule-started reconciliation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from services.bench.receiver import OtlpReceiver, ReceivedSpan
from services.contracts import ORDER_SAGA_WORKFLOW, TaskQueue
from services.orchestration.schedules import apply_schedules
from services.runtime.config import TemporalSettings
from services.runtime.connection import connect
from services.runtime.devserver import DevServer
from tests.integration.helpers import order_json, rtw, write_order
from tests.observability.conftest import TracedStack
from tests.observability.traces import (
    WORKER_SERVICES,
    activity_types,
    orphans,
    roots,
    span_named,
    workflow_trace,
)

pytestmark = pytest.mark.integration


def new_id() -> str:
    return f"wp-{uuid.uuid4().hex[:10]}"


def by_id(trace: Sequence[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {s.span_id: s for s in trace}


async def wait_spans(
    receiver: OtlpReceiver, find: Callable[[list[ReceivedSpan]], bool], what: str
) -> list[ReceivedSpan]:
    try:
        return await receiver.wait_for(find, timeout=20)
    except TimeoutError:
        raise AssertionError(f"never received: {what}") from None


@pytest.fixture(scope="module")
async def traced_client(dev_server: DevServer, memory_spans: InMemorySpanExporter) -> Client:
    """An instrumented client in this process (its spans land in `memory_spans`)."""
    return await connect(TemporalSettings(address=dev_server.address), tracing=True)


async def test_shipment_child_and_carrier_signals_join_the_saga_trace(
    traced_stack: TracedStack, otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    order_id = new_id()
    path = write_order(tmp_path, order_json(order_id))
    result = await rtw("order", "start", "--file", str(path), "--wait", env=traced_stack.env)
    assert result.code == 0, result.stderr

    def shipped(trace: list[ReceivedSpan]) -> bool:
        return span_named(trace, "RunWorkflow:Shipment") is not None and any(
            s.name == "HandleSignal:carrier_event" for s in trace
        )

    trace = await workflow_trace(otlp_receiver, f"order-{order_id}", complete=shipped)
    spans = by_id(trace)
    saga = span_named(trace, f"RunWorkflow:{ORDER_SAGA_WORKFLOW}")
    child = span_named(trace, "RunWorkflow:Shipment")
    assert saga is not None
    assert child is not None
    start_child = spans[child.parent_span_id]
    assert start_child.name == "StartChildWorkflow:Shipment"
    assert start_child.parent_span_id == saga.span_id
    signals = [s for s in trace if s.name == "HandleSignal:carrier_event"]
    assert signals, "carrier events reach the shipment inside the saga's trace"
    for signal in signals:
        sender = spans[signal.parent_span_id]
        assert sender.name == "SignalWorkflow:carrier_event"
    assert child.attributes["rtw.order_id"] == order_id
    assert "customer_id" not in str(child.attributes)
    assert orphans(trace) == []
    assert len(roots(trace)) == 1


async def test_approval_update_carries_the_approvers_trace_and_the_saga_stays_one_trace(
    traced_stack: TracedStack,
    otlp_receiver: OtlpReceiver,
    dev_client: Client,
    traced_client: Client,
    memory_spans: InMemorySpanExporter,
) -> None:
    order_id = new_id()
    workflow_id = f"order-{order_id}"
    big = order_json(order_id, items=[{"sku": "sku-1", "quantity": 1, "unit_price_cents": 150000}])
    await dev_client.start_workflow(  # uninstrumented start: the saga's span is the root
        ORDER_SAGA_WORKFLOW,
        big,
        id=workflow_id,
        task_queue=traced_stack.queue(TaskQueue.ORCHESTRATION),
    )
    handle = traced_client.get_workflow_handle(workflow_id)
    async with asyncio.timeout(20):
        while True:
            try:
                status = await handle.query("status")
                if status["state"] == "awaiting_approval":
                    break
            except (WorkflowQueryFailedError, RPCError):  # not validated yet
                pass
            await asyncio.sleep(0.1)

    await handle.execute_update("approve", {"reviewer": "r-1", "reason": "known customer"})
    await handle.result()

    (client_span,) = [
        s
        for s in memory_spans.get_finished_spans()
        if s.name == "StartWorkflowUpdate:approve"
        and (s.attributes or {}).get("temporalWorkflowID") == workflow_id
    ]
    approver_trace = format(client_span.context.trace_id, "032x")

    def handled(spans: list[ReceivedSpan]) -> bool:
        return any(s.name == "HandleUpdate:approve" and s.trace_id == approver_trace for s in spans)

    await wait_spans(otlp_receiver, handled, "HandleUpdate:approve in the approver's trace")
    update = next(
        s
        for s in otlp_receiver.spans
        if s.name == "HandleUpdate:approve" and s.trace_id == approver_trace
    )
    assert update.parent_span_id == format(client_span.context.span_id, "016x")
    assert update.service == "rtw-orchestration"

    def finished(trace: list[ReceivedSpan]) -> bool:
        # The confirmation's span (notifications) is exported after the capture's: wait for
        # every service's batch, not only the payments one.
        exported = {s.service for s in trace}
        return "payments.capture" in activity_types(trace) and exported >= WORKER_SERVICES

    saga_trace = await workflow_trace(otlp_receiver, workflow_id, complete=finished)
    (root,) = roots(saga_trace)
    assert root.name == f"RunWorkflow:{ORDER_SAGA_WORKFLOW}"
    assert root.attributes["rtw.amount_cents"] == 150000
    assert {"payments.authorize", "payments.capture"} <= set(activity_types(saga_trace))
    assert {s.service for s in saga_trace} == WORKER_SERVICES
    assert orphans(saga_trace) == []


async def test_each_subscription_run_is_a_new_trace_linked_to_the_previous_run(
    traced_stack: TracedStack, otlp_receiver: OtlpReceiver, dev_client: Client
) -> None:
    subscription_id = new_id()
    workflow_id = f"subscription-{subscription_id}"
    first = await dev_client.start_workflow(
        "Subscription",
        {
            "subscription_id": subscription_id,
            "customer_id": "c-1",
            "plan": "basic",
            "payment_method": "pm_card_visa",
            "cycles_per_run": 1,
        },
        id=workflow_id,
        task_queue=traced_stack.queue(TaskQueue.ORCHESTRATION),
    )
    latest = dev_client.get_workflow_handle(workflow_id)
    async with asyncio.timeout(20):
        # polls the server: there is no event to wait on
        while (await latest.describe()).run_id == first.result_run_id:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    await latest.execute_update("cancel", {"reason": "test over"})
    await latest.result()

    def runs(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
        found = [
            s
            for s in spans
            if s.name == "RunWorkflow:Subscription"
            and s.attributes.get("temporalWorkflowID") == workflow_id
        ]
        return sorted(found, key=lambda s: s.start_ns)

    spans = await wait_spans(otlp_receiver, lambda s: len(runs(s)) == 2, "two Subscription runs")
    run1, run2 = runs(spans)
    assert run1.trace_id != run2.trace_id, "a continued run starts a new trace"
    assert run1.parent_span_id == ""
    assert run2.parent_span_id == ""
    assert run2.links == ((run1.trace_id, run1.span_id),), "linked to the run it continues"
    assert run1.attributes["rtw.outcome"] == "continued_as_new"
    assert run2.attributes["rtw.outcome"] == "cancelled"
    billed = [s for s in otlp_receiver.trace(run1.trace_id) if s.name.startswith("RunActivity:")]
    assert billed, "the first run's billing is in the first run's trace"


async def test_scheduled_reconciliation_gets_its_own_root_span_with_the_schedule_id(
    traced_stack: TracedStack, otlp_receiver: OtlpReceiver, dev_client: Client
) -> None:
    changes = await apply_schedules(dev_client, prefix=traced_stack.prefix)
    schedule_ids = [c.schedule_id for c in changes if "reconciliation" in c.schedule_id]
    (schedule_id,) = schedule_ids
    schedule = dev_client.get_schedule_handle(schedule_id)
    try:
        await schedule.trigger()

        def scheduled(spans: list[ReceivedSpan]) -> bool:
            return any(
                s.name == "RunWorkflow:Reconciliation"
                and s.attributes.get("temporal.schedule_id") == schedule_id
                for s in spans
            )

        await wait_spans(otlp_receiver, scheduled, f"a Reconciliation run by {schedule_id}")
    finally:
        await schedule.delete()
    (root,) = [
        s
        for s in otlp_receiver.spans
        if s.name == "RunWorkflow:Reconciliation"
        and s.attributes.get("temporal.schedule_id") == schedule_id
    ]
    assert root.parent_span_id == "", "a scheduled run is the root of its own trace"
    assert root.service == "rtw-orchestration"
    trace = otlp_receiver.trace(root.trace_id)
    assert any(s.name.startswith("RunActivity:") for s in trace)
    assert orphans(trace) == []

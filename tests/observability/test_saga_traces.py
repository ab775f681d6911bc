"""One saga = one trace across the CLI and the three worker services, whoever starts it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from services.bench.receiver import OtlpReceiver, ReceivedSpan
from services.contracts import ORDER_SAGA_WORKFLOW, TaskQueue
from services.runtime.devserver import DevServer
from tests.integration.helpers import order_json, rtw, start_with_temporal_cli, write_order
from tests.observability.conftest import TracedStack
from tests.observability.traces import (
    WORKER_SERVICES,
    activity_types,
    in_order,
    orphans,
    roots,
    span_named,
    workflow_trace,
)

pytestmark = pytest.mark.integration

FORWARD_STEPS = [
    "payments.authorize",
    "inventory.reserve",
    "payments.capture",
    "notifications.send",
]


def new_id() -> str:
    return f"tr-{uuid.uuid4().hex[:10]}"


def has_activities(*expected: str) -> Callable[[list[ReceivedSpan]], bool]:
    def complete(trace: list[ReceivedSpan]) -> bool:
        return in_order(list(expected), activity_types(trace))

    return complete


async def test_cli_started_saga_is_one_trace_across_four_services(
    traced_stack: TracedStack, otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    order_id = new_id()
    env = {**traced_stack.env}
    # Personal values no run id or span id (hex UUIDs) can contain by chance.
    customer, card = "cust-Jane-Roe", "pm_card_visa_Jane"
    order = order_json(order_id, customer_id=customer, payment_method=card)
    path = write_order(tmp_path, order)

    result = await rtw("order", "start", "--file", str(path), "--wait", env=env)
    assert result.code == 0, result.stderr

    def complete(trace: list[ReceivedSpan]) -> bool:
        return (
            in_order(FORWARD_STEPS, activity_types(trace))
            and span_named(trace, f"StartWorkflow:{ORDER_SAGA_WORKFLOW}") is not None
        )

    trace = await workflow_trace(otlp_receiver, f"order-{order_id}", complete=complete)

    assert {s.service for s in trace} == {"rtw-cli", *WORKER_SERVICES}
    assert orphans(trace) == []
    (root,) = roots(trace)
    assert (root.name, root.service) == (f"StartWorkflow:{ORDER_SAGA_WORKFLOW}", "rtw-cli")
    steps = activity_types(trace)
    assert in_order(FORWARD_STEPS, steps), f"one activity span per step, in order: {steps}"
    assert all(steps.count(step) == 1 for step in FORWARD_STEPS), steps

    run = span_named(trace, f"RunWorkflow:{ORDER_SAGA_WORKFLOW}")
    assert run is not None
    assert run.parent_span_id == root.span_id
    assert run.end_ns > run.start_ns, "the workflow span covers the saga"
    assert run.attributes["rtw.order_id"] == order_id
    assert run.attributes["rtw.amount_cents"] == 3000
    assert run.attributes["rtw.currency"] == "USD"
    assert run.attributes["rtw.outcome"] == "completed"
    by_id = {s.span_id: s for s in trace}
    for span in trace:
        if span.name.removeprefix("RunActivity:") in FORWARD_STEPS:
            parent = by_id[span.parent_span_id]
            assert parent.name == span.name.replace("RunActivity:", "StartActivity:")
            assert parent.parent_span_id == run.span_id, "the saga's steps hang off its span"
            assert span.attributes["rtw.order_id"] == order_id
            assert span.attributes["rtw.outcome"] == "ok"

    authorize = span_named(trace, "RunActivity:payments.authorize")
    assert authorize is not None
    assert authorize.service == "rtw-payments"
    assert authorize.attributes["rtw.amount_cents"] == 3000
    assert authorize.resource["temporal.task_queue"] == traced_stack.queue(TaskQueue.PAYMENTS)
    assert authorize.resource["deployment.environment"] == "test"
    assert authorize.resource["service.version"]

    everything = json.dumps([(s.attributes, s.resource) for s in trace])
    for personal in ("customer_id", "payment_method", customer, card):
        assert personal not in everything, f"{personal} must never be on a span"


async def test_compensated_saga_trace_holds_the_compensations(
    traced_stack: TracedStack, otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    order_id = new_id()
    order = order_json(
        order_id, items=[{"sku": "sku-discontinued", "quantity": 1, "unit_price_cents": 900}]
    )
    path = write_order(tmp_path, order)

    result = await rtw("order", "start", "--file", str(path), "--wait", env=traced_stack.env)
    assert result.code == 1, result.stderr

    expected = [
        "payments.authorize",
        "inventory.reserve",
        "inventory.release",
        "payments.void",
        "notifications.send",
    ]
    trace = await workflow_trace(
        otlp_receiver, f"order-{order_id}", complete=has_activities(*expected)
    )
    assert in_order(expected, activity_types(trace))
    assert orphans(trace) == []
    assert len(roots(trace)) == 1
    run = span_named(trace, f"RunWorkflow:{ORDER_SAGA_WORKFLOW}")
    assert run is not None
    assert run.attributes["rtw.outcome"] == "compensated"
    reserve = span_named(trace, "RunActivity:inventory.reserve")
    assert reserve is not None
    assert reserve.attributes["rtw.outcome"] == "OutOfStock"


async def test_saga_from_the_uninstrumented_temporal_cli_is_still_one_trace(
    traced_stack: TracedStack, otlp_receiver: OtlpReceiver, dev_server: DevServer
) -> None:
    order_id = new_id()
    await start_with_temporal_cli(
        dev_server.address, traced_stack.queue(TaskQueue.ORCHESTRATION), order_json(order_id)
    )

    trace = await workflow_trace(
        otlp_receiver, f"order-{order_id}", complete=has_activities(*FORWARD_STEPS)
    )

    assert {s.service for s in trace} == WORKER_SERVICES
    assert orphans(trace) == []
    (root,) = roots(trace)
    assert (root.name, root.service) == (f"RunWorkflow:{ORDER_SAGA_WORKFLOW}", "rtw-orchestration")
    assert in_order(FORWARD_STEPS, activity_types(trace))
    fragments = {
        s.trace_id
        for s in otlp_receiver.spans
        if s.attributes.get("temporalWorkflowID") == f"order-{order_id}"
    }
    assert fragments == {root.trace_id}, "every workflow task must add to the same trace"


async def test_cli_exports_over_otlp_http_when_selected_and_flushes_before_exit(
    traced_stack: TracedStack, otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    order_id = new_id()
    path = write_order(tmp_path, order_json(order_id))
    env = {
        **traced_stack.env,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.http_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "600000",  # only the flush at the end can send the span
    }

    # Without --wait: the command's one client call is the start.
    started = await rtw("order", "start", "--file", str(path), env=env)

    assert started.code == 0, started.stderr
    span = span_named(
        otlp_receiver.spans,
        f"StartWorkflow:{ORDER_SAGA_WORKFLOW}",
        temporalWorkflowID=f"order-{order_id}",
    )
    assert span is not None, "the CLI flushed its span over OTLP/HTTP before exiting"
    assert span.service == "rtw-cli"
    assert span.resource["service.version"]

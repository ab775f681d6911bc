"""Worker logs carry the ids of the exported spans; workers expose SDK metrics to Prometheus."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.bench.receiver import OtlpReceiver, ReceivedSpan
from services.contracts import TaskQueue
from tests.integration.helpers import order_json, rtw, write_order
from tests.observability.conftest import TracedStack
from tests.observability.traces import activity_types, span_named, workflow_trace

pytestmark = pytest.mark.integration


def json_lines(stack: TracedStack, queue: TaskQueue) -> list[dict[str, Any]]:
    """The worker's log file, parsed; every line must be JSON."""
    return [json.loads(line) for line in stack.log_lines(queue)]


async def run_saga(stack: TracedStack, tmp_path: Path) -> str:
    order_id = f"lg-{uuid.uuid4().hex[:10]}"
    path = write_order(tmp_path, order_json(order_id))
    result = await rtw("order", "start", "--file", str(path), "--wait", env=stack.env)
    assert result.code == 0, result.stderr
    return order_id


def done(count: int) -> Callable[[list[ReceivedSpan]], bool]:
    return lambda trace: len(set(activity_types(trace))) >= count


async def test_json_logs_carry_the_trace_of_the_saga(
    traced_stack: TracedStack, otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    order_id = await run_saga(traced_stack, tmp_path)
    workflow_id = f"order-{order_id}"
    trace = await workflow_trace(otlp_receiver, workflow_id, complete=done(4))
    trace_id = trace[0].trace_id
    span_ids = {s.span_id for s in trace}

    workflow_logs = [
        e
        for e in json_lines(traced_stack, TaskQueue.ORCHESTRATION)
        if e.get("workflow_id") == workflow_id
    ]
    received = [e for e in workflow_logs if "received" in e["message"]]
    assert len(received) == 1, "workflow.logger writes once, not again on replay"
    assert received[0]["trace_id"] == trace_id
    assert received[0]["span_id"] in span_ids
    assert received[0]["workflow_type"] == "OrderSaga"

    run = span_named(trace, "RunActivity:payments.authorize")
    assert run is not None
    payment_logs = [
        e
        for e in json_lines(traced_stack, TaskQueue.PAYMENTS)
        if e.get("workflow_id") == workflow_id
    ]
    authorized = [e for e in payment_logs if e["message"].startswith("authorized")]
    assert len(authorized) == 1
    assert authorized[0]["activity_type"] == "payments.authorize"
    assert (authorized[0]["trace_id"], authorized[0]["span_id"]) == (trace_id, run.span_id)

    sent = [
        e
        for e in json_lines(traced_stack, TaskQueue.NOTIFICATIONS)
        if e.get("workflow_id") == workflow_id
    ]
    assert sent, "the notifications worker logs the delivery"
    assert {e["trace_id"] for e in sent} == {trace_id}
    assert {e["activity_type"] for e in sent} == {"notifications.send"}


async def scrape(port: int) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        assert resp.status == 200
        return await resp.text()


def metric_names(text: str) -> set[str]:
    return {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


async def test_workers_expose_workflow_and_activity_metrics(
    traced_stack: TracedStack, tmp_path: Path
) -> None:
    await run_saga(traced_stack, tmp_path)

    orchestration = await scrape(traced_stack.metrics_ports[TaskQueue.ORCHESTRATION])
    payments = await scrape(traced_stack.metrics_ports[TaskQueue.PAYMENTS])

    names = metric_names(orchestration)
    for expected in (
        "temporal_workflow_completed",
        "temporal_workflow_task_schedule_to_start_latency_bucket",
        "temporal_worker_task_slots_available",
        "rtw_workflow_outcomes",
    ):
        assert expected in names, f"{expected} missing from {sorted(names)}"
    outcome_lines = [
        line for line in orchestration.splitlines() if line.startswith("rtw_workflow_outcomes{")
    ]
    assert any('outcome="completed"' in line for line in outcome_lines), outcome_lines
    assert "temporal_activity_execution_latency_bucket" in metric_names(payments)
    assert "temporal_activity_schedule_to_start_latency_bucket" in metric_names(payments)
    task_queue_label = f'task_queue="{traced_stack.queue(TaskQueue.PAYMENTS)}"'
    assert task_queue_label in payments


#: Counters the SDK only creates once the event happened (not in a fresh stack's scrape).
EVENT_ONLY_METRICS = frozenset(
    {
        "temporal_workflow_failed",
        "temporal_workflow_canceled",
        "temporal_workflow_continue_as_new",
        "temporal_workflow_task_execution_failed",
        "temporal_activity_execution_failed",
        "temporal_sticky_cache_total_forced_eviction",
    }
)


async def test_dashboard_queries_only_metrics_the_workers_export(
    traced_stack: TracedStack, tmp_path: Path
) -> None:
    import re

    await run_saga(traced_stack, tmp_path)
    scrapes = [await scrape(port) for port in traced_stack.metrics_ports.values()]
    exported = set().union(*(metric_names(text) for text in scrapes))
    dashboard = json.loads(
        (Path(__file__).parents[2] / "deploy" / "grafana" / "rtw-workers.json").read_text()
    )
    queries = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    used = {name for q in queries for name in re.findall(r"\b((?:temporal|rtw)_[a-z_]+)\{", q)}
    assert len(used) >= 10
    missing = used - exported - EVENT_ONLY_METRICS
    assert not missing, f"dashboard queries metrics no worker exports: {sorted(missing)}"
    for label in ("task_queue", "namespace", "worker_type", "activity_type", "workflow_type"):
        assert any(f'{label}="' in text for text in scrapes), f"no metric has a {label} label"

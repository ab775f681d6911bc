"""How `rtw bench cost` counts: the server's `action` metric read from Prometheus text, the
same actions counted from a history, the price of a million orders, latest.json kept whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import (
    ActivityTaskStartedEventAttributes,
    HistoryEvent,
    MarkerRecordedEventAttributes,
    WorkflowExecutionSignaledEventAttributes,
    WorkflowExecutionStartedEventAttributes,
)

from services.bench.actions import by_namespace, delta, parse_actions
from services.bench.billable import (
    ACTIVITY,
    ACTIVITY_RETRY,
    CHILD,
    CHILD_EXTRA,
    MARKERS,
    SIGNAL,
    START,
    START_WITH_UPDATE,
    TIMER,
    history_actions,
)
from services.bench.cost_report import list_price, markdown, tiered_price, update_latest

FRONTEND = 'operation="RespondWorkflowTaskCompleted",service_name="frontend"'
METRICS = f"""\
# HELP action action counter
# TYPE action counter
action{{action_type="grpc_StartWorkflowExecution",namespace="default",{FRONTEND}}} 4
action{{action_type="command_BatchMarkers",namespace="default",{FRONTEND}}} 12
action{{action_type="message_UpdateWorkflowExecution:Acceptance",namespace="default"}} 2
action{{action_type="grpc_StartWorkflowExecution",namespace="temporal_system"}} 2
actions_total{{namespace="default"}} 99
service_requests{{operation="PollActivityTaskQueue"}} 7
"""


def test_the_action_counter_is_read_by_namespace_and_type() -> None:
    counts = parse_actions(METRICS)

    assert counts == {
        ("default", "grpc_StartWorkflowExecution"): 4,
        ("default", "command_BatchMarkers"): 12,
        ("default", "message_UpdateWorkflowExecution_Acceptance"): 2,  # `:` as older servers
        ("temporal_system", "grpc_StartWorkflowExecution"): 2,
    }


def test_a_delta_is_what_was_added_in_one_namespace() -> None:
    before = parse_actions(METRICS)
    after = parse_actions(
        METRICS.replace("} 4\n", "} 5\n").replace("} 12\n", "} 15\n")
        + 'action{action_type="command_StartTimer",namespace="default"} 1\n'
    )

    assert delta(before, after, namespace="default") == {
        "command_BatchMarkers": 3,
        "command_StartTimer": 1,
        "grpc_StartWorkflowExecution": 1,
    }
    assert by_namespace(before, after) == {"default": 5}
    assert delta(after, after) == {}


def event(event_id: int, kind: EventType.ValueType, **attributes: object) -> HistoryEvent:
    return HistoryEvent(event_id=event_id, event_type=kind, **attributes)  # type: ignore[arg-type]


def test_a_history_bills_markers_once_per_workflow_task_and_a_child_twice() -> None:
    started = WorkflowExecutionStartedEventAttributes()
    events = [
        event(1, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
              workflow_execution_started_event_attributes=started),
        event(4, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
        # two local activities in the task completed at event 4: one action
        event(5, EventType.EVENT_TYPE_MARKER_RECORDED,
              marker_recorded_event_attributes=MarkerRecordedEventAttributes(
                  workflow_task_completed_event_id=4)),
        event(6, EventType.EVENT_TYPE_MARKER_RECORDED,
              marker_recorded_event_attributes=MarkerRecordedEventAttributes(
                  workflow_task_completed_event_id=4)),
        event(7, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
        event(8, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
              activity_task_started_event_attributes=ActivityTaskStartedEventAttributes(
                  attempt=3)),  # two retries
        event(12, EventType.EVENT_TYPE_MARKER_RECORDED,
              marker_recorded_event_attributes=MarkerRecordedEventAttributes(
                  workflow_task_completed_event_id=11)),
        event(13, EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED),
        event(14, EventType.EVENT_TYPE_TIMER_STARTED),
        # a client's signal is billed here; a workflow's is billed to the workflow sending it
        event(15, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
              workflow_execution_signaled_event_attributes=WorkflowExecutionSignaledEventAttributes()),
        event(16, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
              workflow_execution_signaled_event_attributes=WorkflowExecutionSignaledEventAttributes(
                  external_workflow_execution=WorkflowExecution(workflow_id="parent"))),
    ]  # fmt: skip

    assert history_actions(events) == {
        START: 1,
        MARKERS: 2,
        ACTIVITY: 1,
        ACTIVITY_RETRY: 2,
        CHILD: 1,
        CHILD_EXTRA: 1,
        TIMER: 1,
        SIGNAL: 1,
    }


def test_a_child_or_continued_run_is_billed_to_the_run_that_started_it() -> None:
    child = WorkflowExecutionStartedEventAttributes(
        parent_workflow_execution=WorkflowExecution(workflow_id="order-1")
    )
    continued = WorkflowExecutionStartedEventAttributes(continued_execution_run_id="r-1")
    top = WorkflowExecutionStartedEventAttributes()
    kind = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED

    assert (
        history_actions([event(1, kind, workflow_execution_started_event_attributes=child)]) == {}
    )
    again = event(1, kind, workflow_execution_started_event_attributes=continued)
    assert history_actions([again]) == {}
    started_with_update = history_actions(
        [event(1, kind, workflow_execution_started_event_attributes=top)], start=START_WITH_UPDATE
    )
    assert started_with_update == {START_WITH_UPDATE: 1}


def test_a_million_orders_at_the_published_prices() -> None:
    assert list_price(16e6) == pytest.approx(800.0)
    # 5M at $50, 5M at $45, 6M at $40
    assert tiered_price(16e6) == pytest.approx(250 + 225 + 240)
    assert tiered_price(1e6) == pytest.approx(50.0)
    assert tiered_price(300e6) == pytest.approx(250 + 225 + 400 + 1050 + 1500 + 2500 + 100 * 25)


def result(happy: float) -> dict[str, object]:
    row = {
        "what": "w",
        "orders": 1,
        "expected": "completed",
        "outcomes": ["completed"],
        "ended_as_expected": True,
        "actions_per_order": happy,
        "by_type": {"grpc_StartWorkflowExecution": 1.0},
        "history_actions": [round(happy)],
        "history_matches_metric": True,
    }
    meta = {
        "started_at": "2026-12-08T00:00:00+00:00",
        "machine": "Test CPU",
        "cpus": 2,
        "loadavg_start": "0.1",
        "loadavg_end": "0.2",
        "command": "rtw bench cost",
        "server": "1.9.1",
        "bytecode": "compiled",
    }
    return {"meta": meta, "orders": {"happy": row}, "worker_start": {}, "rollout": {}}


def test_latest_json_gains_the_happy_orders_actions_and_keeps_the_rest(tmp_path: Path) -> None:
    latest = tmp_path / "latest.json"
    latest.write_text(json.dumps({"ratios": {"platform_vs_bare_p50_c1": 1.1}, "meta": {"x": 1}}))

    update_latest(latest, result(16.0), report="cost-x.md")

    data = json.loads(latest.read_text())
    assert data["ratios"] == {"platform_vs_bare_p50_c1": 1.1, "actions_per_happy_order": 16.0}
    assert data["meta"] == {"x": 1}
    assert data["cost"]["report"] == "cost-x.md"
    assert data["cost"]["actions_per_order"] == {"happy": 16.0}


def test_the_report_prices_a_million_happy_orders() -> None:
    text = markdown(result(16.0))

    assert "| happy | w | 16 | 16 | yes |" in text
    assert "16,000,000 actions, USD 800.00 at $50 per million, USD 715.00" in text

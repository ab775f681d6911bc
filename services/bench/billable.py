"""Billable actions counted from workflow histories, named as the server's `action` metric
names them, so the two counts can be checked against each other.

The rules are Temporal Cloud's (docs.temporal.io/evaluate/cloud/actions, "Temporal Cloud
Actions") and the server's metric (temporal server, common/rpc/interceptor/telemetry.go):
a start by a client (its RPC named by the caller), a child start (two), every scheduled
activity and every retry of one, one for all the local-activity markers of a workflow task,
every timer, search-attribute upsert, workflow-properties change, continue-as-new and
accepted update, and every signal (counted in the history that sends it when a workflow
sends it). Queries, heartbeats and rejected updates are billed too but leave no event:
only the metric sees them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

#: Metric names of the actions a history shows.
START = "grpc_StartWorkflowExecution"
START_WITH_UPDATE = "grpc_ExecuteMultiOperation"
CHILD = "command_StartChildWorkflowExecution"
CHILD_EXTRA = "command_StartChildWorkflowExecution_Extra"
ACTIVITY = "command_ScheduleActivityTask"
ACTIVITY_RETRY = "activity_retry"
MARKERS = "command_BatchMarkers"
TIMER = "command_StartTimer"
SIGNAL = "grpc_SignalWorkflowExecution"
SIGNAL_EXTERNAL = "command_SignalExternalWorkflowExecution"
UPSERT = "command_UpsertWorkflowSearchAttributes"
PROPERTIES = "command_ModifyWorkflowProperties"
CONTINUE_AS_NEW = "command_ContinueAsNewWorkflowExecution"
UPDATE_ACCEPTED = "message_UpdateWorkflowExecution_Acceptance"
UPDATE_REJECTED = "message_UpdateWorkflowExecution_Rejection"
QUERY = "grpc_QueryWorkflow"
HEARTBEAT = "grpc_RecordActivityTaskHeartbeat"
OPTIONS = "grpc_UpdateWorkflowExecutionOptions"

#: What each action type is, for reports.
LABELS: dict[str, str] = {
    START: "workflow start",
    START_WITH_UPDATE: "workflow start with update",
    CHILD: "child workflow start",
    CHILD_EXTRA: "child workflow start (second action)",
    ACTIVITY: "activity",
    ACTIVITY_RETRY: "activity retry",
    MARKERS: "local activities (one per workflow task)",
    TIMER: "timer",
    SIGNAL: "signal from a client",
    SIGNAL_EXTERNAL: "signal from a workflow",
    UPSERT: "search-attribute upsert",
    PROPERTIES: "memo change",
    CONTINUE_AS_NEW: "continue-as-new",
    UPDATE_ACCEPTED: "update accepted",
    UPDATE_REJECTED: "update rejected",
    QUERY: "query",
    HEARTBEAT: "activity heartbeat",
    OPTIONS: "workflow options update",
}

#: One action per event of these types.
_ONE_PER_EVENT: dict[int, str] = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: ACTIVITY,
    EventType.EVENT_TYPE_TIMER_STARTED: TIMER,
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: SIGNAL_EXTERNAL,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: UPSERT,
    EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED: PROPERTIES,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: CONTINUE_AS_NEW,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED: OPTIONS,
}


def history_actions(events: Iterable[HistoryEvent], *, start: str = START) -> Counter[str]:
    """The billable actions one run's history shows, by the metric's action type.

    Args:
        events: the run's history events.
        start: how a client started it (`START`, or `START_WITH_UPDATE` for
            update-with-start); a child's start is billed to its parent, a
            continue-as-new run's to the run before it.
    """
    counts: Counter[str] = Counter()
    marker_tasks: set[int] = set()
    for event in events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            started = event.workflow_execution_started_event_attributes
            if not started.HasField("parent_workflow_execution") and not (
                started.continued_execution_run_id
            ):
                counts[start] += 1
        elif kind == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            counts[CHILD] += 1
            counts[CHILD_EXTRA] += 1
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker_tasks.add(
                event.marker_recorded_event_attributes.workflow_task_completed_event_id
            )
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attempt = event.activity_task_started_event_attributes.attempt
            counts[ACTIVITY_RETRY] += max(attempt - 1, 0)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            signaled = event.workflow_execution_signaled_event_attributes
            if not signaled.HasField("external_workflow_execution"):
                counts[SIGNAL] += 1
        elif kind in _ONE_PER_EVENT:
            counts[_ONE_PER_EVENT[kind]] += 1
    if marker_tasks:
        counts[MARKERS] += len(marker_tasks)
    return +counts


def label(action_type: str) -> str:
    """A reader's name for an action type (the type itself when unknown)."""
    return LABELS.get(action_type, action_type)

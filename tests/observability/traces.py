"""Helpers to read traces out of the receiver."""

from __future__ import annotations

from collections.abc import Callable

from services.bench.receiver import OtlpReceiver, ReceivedSpan

WORKER_SERVICES = frozenset({"rtw-orchestration", "rtw-payments", "rtw-notifications"})


def span_named(spans: list[ReceivedSpan], name: str, **attributes: object) -> ReceivedSpan | None:
    """The first span with this name and these attribute values."""
    for span in spans:
        if span.name == name and all(span.attributes.get(k) == v for k, v in attributes.items()):
            return span
    return None


def orphans(trace: list[ReceivedSpan]) -> list[ReceivedSpan]:
    """Spans whose parent is not in the trace (the root has no parent and is no orphan)."""
    ids = {s.span_id for s in trace}
    return [s for s in trace if s.parent_span_id and s.parent_span_id not in ids]


def roots(trace: list[ReceivedSpan]) -> list[ReceivedSpan]:
    """Spans without a parent."""
    return [s for s in trace if not s.parent_span_id]


def in_order(expected: list[str], actual: list[str]) -> bool:
    """`expected` is a subsequence of `actual` (other steps may come in between)."""
    remaining = iter(actual)
    return all(step in remaining for step in expected)


def activity_types(trace: list[ReceivedSpan]) -> list[str]:
    """`RunActivity:X` span names as activity types, in start order."""
    runs = sorted((s for s in trace if s.name.startswith("RunActivity:")), key=lambda s: s.start_ns)
    return [s.name.removeprefix("RunActivity:") for s in runs]


async def workflow_trace(
    receiver: OtlpReceiver,
    workflow_id: str,
    *,
    complete: Callable[[list[ReceivedSpan]], bool],
    timeout: float = 20.0,
) -> list[ReceivedSpan]:
    """The trace holding the `RunWorkflow` span of `workflow_id`, once `complete(trace)`."""

    def ready(spans: list[ReceivedSpan]) -> bool:
        run = span_named(spans, "RunWorkflow:OrderSaga", temporalWorkflowID=workflow_id)
        if run is None:
            return False
        trace = [s for s in spans if s.trace_id == run.trace_id]
        return complete(trace) and not orphans(trace)  # parents may arrive a batch later

    try:
        spans = await receiver.wait_for(ready, timeout=timeout)
    except TimeoutError:
        names = sorted(
            (s.service, s.name, s.trace_id[:8])
            for s in receiver.spans
            if s.attributes.get("temporalWorkflowID") == workflow_id
        )
        raise AssertionError(
            f"trace of {workflow_id} incomplete after {timeout}s: {names}"
        ) from None
    run = span_named(spans, "RunWorkflow:OrderSaga", temporalWorkflowID=workflow_id)
    assert run is not None
    return receiver.trace(run.trace_id)

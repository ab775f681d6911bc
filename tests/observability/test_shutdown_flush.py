"""SIGTERM flushes the spans a worker still buffers: nothing is lost on a rolling update."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from services.bench.receiver import OtlpReceiver, ReceivedSpan
from services.contracts import OrderInput, OrderState, TaskQueue
from services.orchestration.client import start_order
from services.runtime.devserver import DevServer
from services.runtime.local_stack import LocalStack
from tests.integration.helpers import order_json
from tests.observability.test_saga_traces import FORWARD_STEPS as FORWARD
from tests.observability.traces import (
    WORKER_SERVICES,
    activity_types,
    in_order,
    orphans,
    span_named,
)

pytestmark = pytest.mark.integration


async def test_sigterm_exports_buffered_spans_before_exit(
    dev_server: DevServer, dev_client: Client, otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    prefix = f"flush-{uuid.uuid4().hex[:8]}-"
    stack = LocalStack(
        address=dev_server.address,
        env={
            "RTW_QUEUE_PREFIX": prefix,
            "RTW_DATA_DIR": str(tmp_path),
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "600000",  # no periodic export: only the flush sends
        },
        log_dir=tmp_path / "logs",
    )
    await stack.start()
    try:
        order = OrderInput.model_validate(order_json(f"fl-{uuid.uuid4().hex[:8]}"))
        started = await start_order(
            dev_client, order, task_queue=f"{prefix}{TaskQueue.ORCHESTRATION.value}"
        )
        assert (await started.handle.result()).state is OrderState.COMPLETED
        assert not [
            s
            for s in otlp_receiver.spans
            if s.attributes.get("temporalWorkflowID") == started.workflow_id
        ], "spans are still buffered in the workers"
    finally:
        codes = await stack.stop()
    assert set(codes.values()) == {0}

    def flushed(spans: list[ReceivedSpan]) -> bool:
        run = span_named(
            otlp_receiver.spans, "RunWorkflow:OrderSaga", temporalWorkflowID=started.workflow_id
        )
        if run is None:
            return False
        trace = otlp_receiver.trace(run.trace_id)
        return in_order(FORWARD, activity_types(trace)) and not orphans(trace)

    await otlp_receiver.wait_for(flushed, timeout=5)
    run = span_named(
        otlp_receiver.spans, "RunWorkflow:OrderSaga", temporalWorkflowID=started.workflow_id
    )
    assert run is not None
    trace = otlp_receiver.trace(run.trace_id)
    assert {s.service for s in trace} == WORKER_SERVICES
    assert orphans(trace) == []

"""A collector that does not answer costs a process one log line, not time: exports give up
after a short timeout on the batch thread, the line names the endpoint, and the workers,
the CLI and the demo stop without waiting for spans that cannot go anywhere."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision

from services.bench.receiver import OtlpReceiver
from services.contracts import TaskQueue
from services.runtime import trace_export
from services.runtime.config import TelemetrySettings
from services.runtime.devserver import DevServer, free_port
from services.runtime.local_stack import LocalStack
from services.runtime.trace_export import CollectorGate, build_exporter
from tests.integration.helpers import eventually, order_json, rtw, write_order

DROPPED = "spans dropped: the OTLP collector at"


def finished_spans(count: int) -> list[ReadableSpan]:
    """`count` ended spans from a private SDK provider (not the process's global one)."""
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    for n in range(count):
        with tracer.start_as_current_span(f"span-{n}"):
            pass
    return list(memory.get_finished_spans())


async def until(check: Callable[[], bool], *, timeout: float = 5.0) -> None:
    await eventually(lambda: asyncio.sleep(0.02), lambda _: check(), timeout=timeout)


async def test_a_dead_collector_is_said_once_costs_no_spans_and_is_found_again(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trace_export, "RETRY_AFTER_SECONDS", 0.5)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    exporter = build_exporter(TelemetrySettings(exporter_otlp_endpoint=endpoint))
    gate = CollectorGate(ALWAYS_ON, exporter)
    caplog.set_level(logging.INFO, logger="services.runtime.trace_export")

    exporter.watch()
    await until(lambda: exporter.reachable is False)
    began = time.monotonic()
    dropped_batches = [exporter.export(finished_spans(2)) for _ in range(5)]
    dropped_in = time.monotonic() - began
    await asyncio.sleep(1.2)  # the watcher asks twice more

    assert dropped_batches == [SpanExportResult.FAILURE] * 5
    assert dropped_in < 0.5, "while the collector is down, batches are dropped at once"
    assert gate.should_sample(None, 1, "RunWorkflow:OrderSaga").decision is Decision.DROP
    dropped = [r.getMessage() for r in caplog.records if DROPPED in r.getMessage()]
    assert dropped == [
        f"{DROPPED} {endpoint} does not answer (OTEL_EXPORTER_OTLP_ENDPOINT); tracing goes on "
        "and exports again once it does"
    ]

    async with OtlpReceiver(port=port) as receiver:
        await until(lambda: exporter.reachable is None)  # the watcher found it listening
        sampled = gate.should_sample(None, 1, "RunWorkflow:OrderSaga")
        assert sampled.decision is Decision.RECORD_AND_SAMPLE
        result = await asyncio.to_thread(exporter.export, finished_spans(2))
        assert result is SpanExportResult.SUCCESS
        assert receiver.span_count == 2
    again = [r.getMessage() for r in caplog.records if "answers again" in r.getMessage()]
    assert again == [f"the OTLP collector at {endpoint} answers again: exporting spans"]
    exporter.shutdown()


@pytest.mark.integration
async def test_workers_and_cli_with_a_dead_collector_run_sagas_and_stop_at_once(
    dev_server: DevServer, tmp_path: Path
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    prefix = f"deadcol-{uuid.uuid4().hex[:6]}-"
    env = {
        "TEMPORAL_ADDRESS": dev_server.address,
        "RTW_QUEUE_PREFIX": prefix,
        "RTW_DATA_DIR": str(tmp_path),
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    stack = LocalStack(address=dev_server.address, env=env, log_dir=tmp_path / "logs")
    await stack.start()
    try:
        order = write_order(tmp_path, order_json(f"dc-{uuid.uuid4().hex[:8]}"))
        started = await rtw("order", "start", "--file", str(order), "--wait", env=env)
        await asyncio.sleep(1.0)  # a batch or two of the saga's spans fail to export
    finally:
        began = time.monotonic()
        codes = await stack.stop()  # one SIGTERM each
        stopped_in = time.monotonic() - began

    assert started.code == 0, started.stderr
    # The CLI says it once on the console, naming the endpoint; nothing of the exporter's own.
    assert [line for line in started.stderr.splitlines() if "spans" in line] == [
        f"{DROPPED} {endpoint} does not answer (OTEL_EXPORTER_OTLP_ENDPOINT); tracing goes on "
        "and exports again once it does"
    ]
    assert set(codes.values()) == {0}
    for queue in TaskQueue:
        log = (tmp_path / "logs" / f"{queue.value}.log").read_text(encoding="utf-8")
        assert log.count(DROPPED) == 1, f"{queue}: {log}"
        assert endpoint in log
        assert "Transient error" not in log, "the exporter's own retries stay quiet"
        assert "not exported within" not in log, "no wait for spans that cannot go anywhere"
    # The drain has nothing in flight; before, each worker waited 5 s for its last spans.
    assert stopped_in < 4, f"workers took {stopped_in:.1f}s to stop"

"""Fixtures: an in-process OTLP/gRPC receiver and the three real workers exporting to it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.contrib.opentelemetry import ReplaySafeTracerProvider, create_tracer_provider

from services.bench.receiver import OtlpReceiver
from services.contracts import TaskQueue
from services.runtime.devserver import DevServer, free_port
from services.runtime.local_stack import WorkerProcess


@pytest.fixture(scope="session")
async def otlp_receiver() -> AsyncIterator[OtlpReceiver]:
    """A real OTLP trace service on 127.0.0.1 (gRPC, and HTTP/protobuf), keeping every span."""
    async with OtlpReceiver(http=True) as receiver:
        yield receiver


@pytest.fixture(scope="session")
def memory_spans() -> Iterator[InMemorySpanExporter]:
    """This process's global tracer provider (replay-safe), keeping finished spans in memory.

    For tests that run workers in-process; OpenTelemetry's global provider can be set once.
    """
    if isinstance(trace.get_tracer_provider(), ReplaySafeTracerProvider):
        pytest.fail("another fixture already installed a tracer provider")
    provider = create_tracer_provider(
        resource=Resource.create({"service.name": "rtw-test"}), shutdown_on_exit=False
    )
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    try:
        yield exporter
    finally:
        provider.shutdown()


@dataclass
class TracedStack:
    """Three worker processes exporting spans to the receiver, with metrics ports and logs."""

    env: dict[str, str]
    prefix: str
    data_dir: Path
    workers: dict[TaskQueue, WorkerProcess] = field(default_factory=dict)
    metrics_ports: dict[TaskQueue, int] = field(default_factory=dict)

    def queue(self, queue: TaskQueue) -> str:
        return f"{self.prefix}{queue.value}"

    def log_lines(self, queue: TaskQueue) -> list[str]:
        path = self.data_dir / "logs" / f"{queue.value}.log"
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@pytest.fixture(scope="module")
async def traced_stack(
    dev_server: DevServer, otlp_receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TracedStack]:
    """Like `rtw dev`'s workers, with OTEL_EXPORTER_OTLP_ENDPOINT pointing at the receiver."""
    data_dir = tmp_path_factory.mktemp("traced")
    prefix = f"obs-{uuid.uuid4().hex[:8]}-"
    stack = TracedStack(
        env={
            "TEMPORAL_ADDRESS": dev_server.address,
            "RTW_QUEUE_PREFIX": prefix,
            "RTW_DATA_DIR": str(data_dir),
            "RTW_LOG_FORMAT": "json",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "RTW_ENVIRONMENT": "test",
        },
        prefix=prefix,
        data_dir=data_dir,
    )
    for queue in TaskQueue:
        port = free_port()
        stack.metrics_ports[queue] = port
        stack.workers[queue] = WorkerProcess(
            queue=queue,
            health_port=free_port(),
            env={**stack.env, "RTW_METRICS_PORT": str(port)},
            log_file=data_dir / "logs" / f"{queue.value}.log",
        )
    try:
        for worker in stack.workers.values():
            await worker.start()
        for worker in stack.workers.values():
            await worker.wait_ready()
        yield stack
    finally:
        codes = {q.value: await w.stop() for q, w in stack.workers.items()}
        assert set(codes.values()) == {0}, f"workers must exit 0 on SIGTERM: {codes}"

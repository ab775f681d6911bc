"""OpenTelemetry tracing for one rtw process: resource, OTLP exporter, flush on shutdown.

Tracing is configured by OpenTelemetry's standard `OTEL_*` variables (read into
`TelemetrySettings`). With no endpoint it is off: nothing from the OpenTelemetry SDK is
imported, no interceptor is installed and no span is created.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any, TypeVar

from services.runtime.config import Settings, TelemetrySettings

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from temporalio.contrib.opentelemetry import ReplaySafeTracerProvider

    from services.runtime.trace_export import ReportingExporter

logger = logging.getLogger(__name__)

#: `service.name` of the command line client.
CLI_SERVICE = "rtw-cli"

#: Resource attribute naming the task queue a worker serves.
TASK_QUEUE_ATTRIBUTE = "temporal.task_queue"

#: How long shutdown waits for the last spans to reach the collector (workers).
FLUSH_TIMEOUT_SECONDS = 5.0
#: The same for a CLI command: a person is waiting.
CLI_FLUSH_TIMEOUT_SECONDS = 2.0
#: Timeout of `Telemetry.flush`.
FLUSH_TIMEOUT_MILLIS = 5_000

T = TypeVar("T")


def service_version() -> str:
    """The installed `rtw` distribution's version ("0+unknown" when run from a bare tree)."""
    try:
        return metadata.version("rtw")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def resource_attributes(
    telemetry: TelemetrySettings,
    *,
    service: str,
    environment: str,
    task_queue: str | None = None,
    from_env: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The process's resource attributes.

    Precedence, lowest first: rtw's defaults (service.name, service.version,
    deployment.environment, task queue), then `OTEL_RESOURCE_ATTRIBUTES` (`from_env`), then
    `OTEL_SERVICE_NAME`.
    """
    attributes: dict[str, Any] = {
        "service.name": service,
        "service.namespace": "rtw",
        "service.version": service_version(),
        "deployment.environment": environment,
        "deployment.environment.name": environment,
    }
    if task_queue is not None:
        attributes[TASK_QUEUE_ATTRIBUTE] = task_queue
    attributes.update(from_env or {})
    if telemetry.service_name:
        attributes["service.name"] = telemetry.service_name
    return attributes


def build_resource(
    telemetry: TelemetrySettings, *, service: str, environment: str, task_queue: str | None
) -> Resource:
    """An SDK `Resource` from `resource_attributes` (reads OTEL_RESOURCE_ATTRIBUTES)."""
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource

    detected = dict(OTELResourceDetector().detect().attributes)
    detected.pop("service.name", None)  # OTEL_SERVICE_NAME arrives through the settings
    return Resource.create(
        resource_attributes(
            telemetry,
            service=service,
            environment=environment,
            task_queue=task_queue,
            from_env=detected,
        )
    )


@dataclass
class Telemetry:
    """Tracing state of one process; `provider` is None when tracing is off.

    Build it with `start_telemetry`, hand it to `connect`, and call `shutdown` (or use `run`)
    before the process exits so that buffered spans are exported.
    """

    provider: ReplaySafeTracerProvider | None = None
    service: str = ""
    exporter: ReportingExporter | None = None

    @property
    def enabled(self) -> bool:
        """True when spans are recorded and exported."""
        return self.provider is not None

    def flush(self, timeout_millis: int = FLUSH_TIMEOUT_MILLIS) -> bool:
        """Export buffered spans now; True when everything went out in time."""
        if self.provider is None:
            return True
        return self.provider.force_flush(timeout_millis)

    def shutdown(self, timeout_seconds: float = FLUSH_TIMEOUT_SECONDS) -> bool:
        """Export what is buffered and stop, within `timeout_seconds` (idempotent).

        The exporter retries an unreachable collector for up to its export timeout; the
        wait is bounded here so that a dead collector never holds a process up (both the
        worker and the CLI exit right after), and skipped when the collector is known to be
        down (the last export failed, or nothing listens). True when everything went out.
        """
        provider, self.provider = self.provider, None
        if provider is None:
            return True
        if self.exporter is not None and self.exporter.collector_down():
            timeout_seconds = 0.0  # the spans cannot go anywhere: do not wait for them
        done = threading.Thread(target=provider.shutdown, name="otel-shutdown", daemon=True)
        done.start()
        done.join(timeout_seconds)
        if done.is_alive():
            if timeout_seconds:
                where = self.exporter.endpoint if self.exporter is not None else "the collector"
                logger.warning("last spans not exported within %ss to %s", timeout_seconds, where)
            return False
        return True

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """`asyncio.run(main)`, then flush and shut down (CLI commands end in `os._exit`)."""
        try:
            return asyncio.run(main)
        finally:
            self.shutdown(CLI_FLUSH_TIMEOUT_SECONDS)


#: The one tracer provider this process installed (OpenTelemetry's global is set-once), and
#: its exporter.
_installed: ReplaySafeTracerProvider | None = None
_exporter: ReportingExporter | None = None


def start_telemetry(
    settings: Settings, *, service: str, task_queue: str | None = None
) -> Telemetry:
    """Install the process's tracer provider from settings; a disabled `Telemetry` when off.

    The provider is a Temporal replay-safe one (deterministic span ids inside workflows,
    no duplicate spans on replay) exporting in batches over OTLP, and becomes
    OpenTelemetry's global provider, which the Temporal interceptors use.
    """
    global _installed, _exporter
    telemetry = settings.telemetry
    if not telemetry.enabled:
        return Telemetry(service=service)
    if _installed is not None:
        return Telemetry(provider=_installed, service=service, exporter=_exporter)

    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from temporalio.contrib.opentelemetry import create_tracer_provider

    from services.runtime.trace_export import build_exporter, gated_sampler, traces_endpoint

    exporter = build_exporter(telemetry)
    provider = create_tracer_provider(
        sampler=gated_sampler(exporter),  # nothing is recorded while the collector is down
        resource=build_resource(
            telemetry, service=service, environment=settings.environment, task_queue=task_queue
        ),
        shutdown_on_exit=False,  # shut down explicitly: the CLI leaves through os._exit
    )
    # Batches leave on the processor's own thread: the work never waits for the collector.
    provider.add_span_processor(BatchSpanProcessor(exporter))
    exporter.watch()
    trace.set_tracer_provider(provider)
    _installed, _exporter = provider, exporter
    logger.info(
        "tracing on: %s to %s as %s",
        telemetry.protocol.value,
        traces_endpoint(telemetry),
        service,
    )
    return Telemetry(provider=provider, service=service, exporter=exporter)

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

from services.runtime.config import OtlpProtocol, Settings, TelemetrySettings

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import SpanExporter
    from temporalio.contrib.opentelemetry import ReplaySafeTracerProvider

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


def traces_endpoint(telemetry: TelemetrySettings) -> str | None:
    """Where spans go. A base endpoint gets `/v1/traces` appended for OTLP/HTTP (per spec)."""
    if telemetry.exporter_otlp_traces_endpoint:
        return telemetry.exporter_otlp_traces_endpoint
    base = telemetry.exporter_otlp_endpoint
    if base is None:
        return None
    if telemetry.protocol is OtlpProtocol.HTTP_PROTOBUF:
        return base.rstrip("/") + "/v1/traces"
    return base


def build_exporter(telemetry: TelemetrySettings) -> SpanExporter:
    """The OTLP span exporter for the configured protocol (gRPC unless http/protobuf)."""
    endpoint = traces_endpoint(telemetry)
    if telemetry.protocol is OtlpProtocol.HTTP_PROTOBUF:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        return HttpExporter(endpoint=endpoint)
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcExporter,
    )

    return GrpcExporter(endpoint=endpoint)


@dataclass
class Telemetry:
    """Tracing state of one process; `provider` is None when tracing is off.

    Build it with `start_telemetry`, hand it to `connect`, and call `shutdown` (or use `run`)
    before the process exits so that buffered spans are exported.
    """

    provider: ReplaySafeTracerProvider | None = None
    service: str = ""

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

        The exporter retries an unreachable collector for up to OTEL_EXPORTER_OTLP_TIMEOUT;
        the wait is bounded here so that a dead collector never holds a process up (both the
        worker and the CLI exit right after). True when everything was exported in time.
        """
        provider, self.provider = self.provider, None
        if provider is None:
            return True
        done = threading.Thread(target=provider.shutdown, name="otel-shutdown", daemon=True)
        done.start()
        done.join(timeout_seconds)
        if done.is_alive():
            logger.warning("spans not exported within %ss: collector unreachable?", timeout_seconds)
            return False
        return True

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """`asyncio.run(main)`, then flush and shut down (CLI commands end in `os._exit`)."""
        try:
            return asyncio.run(main)
        finally:
            self.shutdown(CLI_FLUSH_TIMEOUT_SECONDS)


#: The one tracer provider this process installed (OpenTelemetry's global is set-once).
_installed: ReplaySafeTracerProvider | None = None


def start_telemetry(
    settings: Settings, *, service: str, task_queue: str | None = None
) -> Telemetry:
    """Install the process's tracer provider from settings; a disabled `Telemetry` when off.

    The provider is a Temporal replay-safe one (deterministic span ids inside workflows,
    no duplicate spans on replay) exporting in batches over OTLP, and becomes
    OpenTelemetry's global provider, which the Temporal interceptors use.
    """
    global _installed
    telemetry = settings.telemetry
    if not telemetry.enabled:
        return Telemetry(service=service)
    if _installed is not None:
        return Telemetry(provider=_installed, service=service)

    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from temporalio.contrib.opentelemetry import create_tracer_provider

    provider = create_tracer_provider(
        resource=build_resource(
            telemetry, service=service, environment=settings.environment, task_queue=task_queue
        ),
        shutdown_on_exit=False,  # shut down explicitly: the CLI leaves through os._exit
    )
    provider.add_span_processor(BatchSpanProcessor(build_exporter(telemetry)))
    trace.set_tracer_provider(provider)
    _installed = provider
    logger.info(
        "tracing on: %s to %s as %s",
        telemetry.protocol.value,
        traces_endpoint(telemetry),
        service,
    )
    return Telemetry(provider=provider, service=service)

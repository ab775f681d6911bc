"""Span export that never slows a process down: OTLP with a short timeout, one log line when
the collector cannot be reached (naming it), and a quick answer to "is anyone listening?"."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from services.runtime.config import OtlpProtocol, TelemetrySettings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

logger = logging.getLogger(__name__)

#: How long one export may take, retries included, unless OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT
#: says otherwise (OpenTelemetry's default is 10 s). Export runs on the batch processor's
#: thread, never on the one doing the work; this bounds how long a dead collector holds spans.
EXPORT_TIMEOUT_SECONDS = 2.0
#: How long a TCP connect may take to count the collector as listening.
PROBE_TIMEOUT_SECONDS = 0.3
#: While the collector does not answer, batches are dropped without an attempt (no connect,
#: no retry) for this long after each failed one.
RETRY_AFTER_SECONDS = 5.0

#: The exporters' own loggers repeat every failed batch (a warning per retry, an error per
#: batch); `ReportingExporter` says it once per outage instead.
_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
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


def endpoint_address(endpoint: str, protocol: OtlpProtocol) -> tuple[str, int]:
    """(host, port) of an OTLP endpoint; the protocol's default port when none is given."""
    parts = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
    if parts.port is not None:
        return parts.hostname or "localhost", parts.port
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None:
        default = 4318 if protocol is OtlpProtocol.HTTP_PROTOBUF else 4317
    return parts.hostname or "localhost", default


def listening(endpoint: str, protocol: OtlpProtocol) -> bool:
    """True when a TCP connection to the endpoint opens within `PROBE_TIMEOUT_SECONDS`."""
    try:
        with socket.create_connection(
            endpoint_address(endpoint, protocol), timeout=PROBE_TIMEOUT_SECONDS
        ):
            return True
    except OSError:
        return False


def collector_warning(telemetry: TelemetrySettings) -> str | None:
    """The one line to print when tracing is on but nothing listens at the endpoint."""
    endpoint = traces_endpoint(telemetry) if telemetry.enabled else None
    if endpoint is None or listening(endpoint, telemetry.protocol):
        return None
    return (
        f"tracing: nothing answers at {endpoint} (OTEL_EXPORTER_OTLP_ENDPOINT): spans are "
        "dropped until a collector listens there (docs/observability.md: Jaeger without Docker)"
    )


def export_timeout() -> float:
    """Seconds one export may take: OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT, else a short one."""
    for name in ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"):
        if os.environ.get(name):
            return float(os.environ[name])
    return EXPORT_TIMEOUT_SECONDS


def build_exporter(telemetry: TelemetrySettings) -> ReportingExporter:
    """The OTLP span exporter for the configured protocol (gRPC unless http/protobuf)."""
    endpoint = traces_endpoint(telemetry)
    assert endpoint is not None, "tracing is on only with an endpoint"
    timeout = export_timeout()
    inner: SpanExporter
    if telemetry.protocol is OtlpProtocol.HTTP_PROTOBUF:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        inner = HttpExporter(endpoint=endpoint, timeout=timeout)
    else:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        inner = GrpcExporter(endpoint=endpoint, timeout=timeout)
    for name in _EXPORTER_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return ReportingExporter(inner, endpoint=endpoint, protocol=telemetry.protocol)


class ReportingExporter(SpanExporter):
    """Wraps an OTLP exporter: says once when spans start being dropped (and once when the
    collector answers again), and knows whether the collector was last reachable."""

    def __init__(self, inner: SpanExporter, *, endpoint: str, protocol: OtlpProtocol) -> None:
        self._inner = inner
        self.endpoint = endpoint
        self.protocol = protocol
        #: True/False after an export succeeded/failed; None before the first one.
        self.reachable: bool | None = None
        self._lock = threading.Lock()
        self._failed_at = 0.0

    def _seen(self, reachable: bool) -> None:
        """Record what the last attempt found; log once when that changes."""
        with self._lock:
            before, self.reachable = self.reachable, reachable
        if not reachable and before is not False:
            logger.warning(
                "spans dropped: the OTLP collector at %s does not answer "
                "(OTEL_EXPORTER_OTLP_ENDPOINT); tracing goes on and exports again once it does",
                self.endpoint,
            )
        elif reachable and before is False:
            logger.info("the OTLP collector at %s answers again: exporting spans", self.endpoint)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export through the wrapped exporter and report a change of reachability.

        The wrapped exporter only runs while something listens at the endpoint: before the
        first export, and at most every `RETRY_AFTER_SECONDS` while the collector is down, a
        TCP connect decides. Until then batches are dropped at once: no gRPC channel, no
        retries, nothing that competes with the work for the CPU.
        """
        if self.reachable is not True:
            if time.monotonic() - self._failed_at < RETRY_AFTER_SECONDS:
                return SpanExportResult.FAILURE
            if not listening(self.endpoint, self.protocol):
                self._failed_at = time.monotonic()
                self._seen(False)
                return SpanExportResult.FAILURE
        result = self._inner.export(spans)
        if result is not SpanExportResult.SUCCESS:
            self._failed_at = time.monotonic()
        self._seen(result is SpanExportResult.SUCCESS)
        return result

    def collector_down(self) -> bool:
        """True when the last export failed, or, before any export, nothing listens (said
        once, as a failed export would)."""
        if self.reachable is None and not listening(self.endpoint, self.protocol):
            self._seen(False)
        return self.reachable is False

    @property
    def inner(self) -> SpanExporter:
        """The wrapped OTLP exporter."""
        return self._inner

    def shutdown(self) -> None:
        """Shut the wrapped exporter down."""
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush the wrapped exporter."""
        return self._inner.force_flush(timeout_millis)

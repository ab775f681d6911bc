"""Span export that never slows a process down: OTLP with a short timeout, one log line when
the collector cannot be reached (naming it), and a quick answer to "is anyone listening?"."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from opentelemetry.sdk.trace import sampling
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

from services.runtime.config import OtlpProtocol, TelemetrySettings

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import Link, SpanKind
    from opentelemetry.trace.span import TraceState
    from opentelemetry.util.types import Attributes

logger = logging.getLogger(__name__)

#: How long one export may take, retries included, unless OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT
#: says otherwise (OpenTelemetry's default is 10 s). Export runs on the batch processor's
#: thread, never on the one doing the work; this bounds how long a dead collector holds spans.
EXPORT_TIMEOUT_SECONDS = 2.0
#: How long a TCP connect may take to count the collector as listening.
PROBE_TIMEOUT_SECONDS = 0.3
#: While the collector does not answer, it is asked again (a TCP connect) this often.
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
    """Wraps an OTLP exporter and watches its collector.

    While the collector does not answer, `reachable` is False: batches are dropped at once
    (no gRPC channel, no retries) and `CollectorGate` keeps new spans from being recorded at
    all, so a dead collector costs the work nothing. A watcher thread tries a TCP connect at
    start and every `RETRY_AFTER_SECONDS` while it is down. The log says once that spans are
    dropped, naming the endpoint, and once that they flow again.
    """

    def __init__(self, inner: SpanExporter, *, endpoint: str, protocol: OtlpProtocol) -> None:
        self._inner = inner
        self.endpoint = endpoint
        self.protocol = protocol
        #: True after an export succeeded, False while the collector does not answer, None
        #: while that is not known (at start; after the watcher found it listening again).
        self.reachable: bool | None = None
        self._reported_down = False
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._watcher: threading.Thread | None = None

    def watch(self) -> None:
        """Start the watcher thread (once)."""
        if self._watcher is None:
            self._watcher = threading.Thread(
                target=self._watch, name="otlp-collector-watch", daemon=True
            )
            self._watcher.start()

    def _watch(self) -> None:
        while not self._stopped.is_set():
            if self.reachable is not True:
                if not listening(self.endpoint, self.protocol):
                    self._down()
                elif self.reachable is False:
                    self.reachable = None  # record spans again; the next export confirms
            self._stopped.wait(RETRY_AFTER_SECONDS)

    def _down(self) -> None:
        with self._lock:
            self.reachable = False
            said, self._reported_down = self._reported_down, True
        if not said:
            logger.warning(
                "spans dropped: the OTLP collector at %s does not answer "
                "(OTEL_EXPORTER_OTLP_ENDPOINT); tracing goes on and exports again once it does",
                self.endpoint,
            )

    def _up(self) -> None:
        with self._lock:
            self.reachable = True
            said, self._reported_down = self._reported_down, False
        if said:
            logger.info("the OTLP collector at %s answers again: exporting spans", self.endpoint)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export through the wrapped exporter, unless the collector is known to be down."""
        if self.reachable is False:
            return SpanExportResult.FAILURE
        result = self._inner.export(spans)
        if result is SpanExportResult.SUCCESS:
            self._up()
        else:
            self._down()
        return result

    def collector_down(self) -> bool:
        """True when the collector does not answer (asked now when it is not known yet)."""
        if self.reachable is None and not listening(self.endpoint, self.protocol):
            self._down()
        return self.reachable is False

    @property
    def inner(self) -> SpanExporter:
        """The wrapped OTLP exporter."""
        return self._inner

    def shutdown(self) -> None:
        """Stop watching; shut the wrapped exporter down."""
        self._stopped.set()
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush the wrapped exporter."""
        return self._inner.force_flush(timeout_millis)


class CollectorGate(Sampler):
    """Samples as `delegate` (OTEL_TRACES_SAMPLER) while the collector answers or may answer;
    records nothing while it is known not to: a span that cannot be exported is never made."""

    def __init__(self, delegate: Sampler, exporter: ReportingExporter) -> None:
        self._delegate = delegate
        self._exporter = exporter

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        """DROP while the collector is down, else the delegate's decision."""
        if self._exporter.reachable is False:
            return SamplingResult(Decision.DROP)
        return self._delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        """The delegate's description, gated."""
        return f"CollectorGate{{{self._delegate.get_description()}}}"


def gated_sampler(exporter: ReportingExporter) -> CollectorGate:
    """OTEL_TRACES_SAMPLER's sampler (ParentBased(AlwaysOn) unless set), behind the gate.

    `_get_from_env_or_default` is how the SDK's own TracerProvider reads the variable
    (opentelemetry-sdk 1.45, `opentelemetry/sdk/trace/__init__.py`, TracerProvider.__init__).
    """
    return CollectorGate(sampling._get_from_env_or_default(), exporter)

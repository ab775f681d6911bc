"""An in-process OTLP/gRPC trace receiver: a collector stand-in for tests and benchmarks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import grpc  # type: ignore[import-untyped]
from aiohttp import web
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

logger = logging.getLogger(__name__)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind)


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


@dataclass(frozen=True)
class ReceivedSpan:
    """One exported span, flattened: ids in hex, attributes as plain values."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    links: tuple[tuple[str, str], ...] = ()

    @property
    def service(self) -> str:
        """The exporting process's `service.name`."""
        return str(self.resource.get("service.name", ""))


@dataclass
class OtlpReceiver:
    """`async with OtlpReceiver() as r:` listens on 127.0.0.1:`r.port`; spans land in `r.spans`.

    OTLP/gRPC on `port`; with `http=True` also OTLP/HTTP (protobuf) on `http_port`.

    Args:
        keep: store spans (off for benchmarks, which only count them).
    """

    host: str = "127.0.0.1"
    port: int = 0
    keep: bool = True
    http: bool = False
    http_port: int = 0
    spans: list[ReceivedSpan] = field(default_factory=list)
    #: Every export request as received (text form), when `keep`: events and status too.
    requests: list[str] = field(default_factory=list)
    span_count: int = 0
    _server: Any = None
    _http_runner: web.AppRunner | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def endpoint(self) -> str:
        """The OTEL_EXPORTER_OTLP_ENDPOINT value for exporters (plaintext gRPC)."""
        return f"http://{self.host}:{self.port}"

    @property
    def http_endpoint(self) -> str:
        """The OTEL_EXPORTER_OTLP_ENDPOINT value for OTLP/HTTP (`/v1/traces` is appended)."""
        return f"http://{self.host}:{self.http_port}"

    async def _start_http(self) -> None:
        async def export(request: web.Request) -> web.Response:
            message = trace_service_pb2.ExportTraceServiceRequest()
            message.ParseFromString(await request.read())
            self._store(message)
            body = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            return web.Response(body=body, content_type="application/x-protobuf")

        app = web.Application()
        app.router.add_post("/v1/traces", export)
        self._http_runner = web.AppRunner(app, access_log=None)
        await self._http_runner.setup()
        site = web.TCPSite(self._http_runner, self.host, self.http_port)
        await site.start()
        self.http_port = int(self._http_runner.addresses[0][1])

    def _store(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        if self.keep:
            self.requests.append(str(request))
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                self.span_count += len(scope_spans.spans)
                if not self.keep:
                    continue
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            name=span.name,
                            kind=span.kind,
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            attributes=_attributes(span.attributes),
                            resource=resource,
                            links=tuple(
                                (link.trace_id.hex(), link.span_id.hex()) for link in span.links
                            ),
                        )
                    )
        self._changed.set()

    async def __aenter__(self) -> OtlpReceiver:
        receiver = self

        class Servicer(trace_service_pb2_grpc.TraceServiceServicer):
            async def Export(  # noqa: N802 (gRPC method name)
                self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
            ) -> trace_service_pb2.ExportTraceServiceResponse:
                receiver._store(request)
                return trace_service_pb2.ExportTraceServiceResponse()

        self._server = grpc.aio.server()
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            Servicer(), self._server
        )
        self.port = self._server.add_insecure_port(f"{self.host}:{self.port}")
        await self._server.start()
        if self.http:
            await self._start_http()
        logger.info("OTLP receiver on %s", self.endpoint)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http_runner is not None:
            await self._http_runner.cleanup()
            self._http_runner = None
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        """Every span received so far of one trace."""
        return [s for s in self.spans if s.trace_id == trace_id]

    async def wait_for(
        self, condition: Callable[[list[ReceivedSpan]], bool], *, timeout: float = 20.0
    ) -> list[ReceivedSpan]:
        """Wait until `condition(spans)` holds (re-checked on every export); raise on timeout."""
        async with asyncio.timeout(timeout):
            while not condition(self.spans):
                self._changed.clear()
                await self._changed.wait()
        return self.spans

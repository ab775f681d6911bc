"""Tracing config from OTEL_* variables: off without an endpoint, resource, exporter choice."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpExporter,
)
from opentelemetry.sdk.trace import TracerProvider

from services.contracts import AuthorizePaymentRequest
from services.runtime.config import LogFormat, OtlpProtocol, Settings, TelemetrySettings
from services.runtime.logs import JsonFormatter, TemporalContextFilter
from services.runtime.plugin import BusinessContextInterceptor, RtwPlugin, business_attributes
from services.runtime.telemetry import build_resource, resource_attributes, start_telemetry
from services.runtime.trace_export import (
    build_exporter,
    endpoint_address,
    export_timeout,
    traces_endpoint,
)

OTEL_VARS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
)


@pytest.fixture(autouse=True)
def clean_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in OTEL_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_tracing_is_on_only_with_an_endpoint(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], enabled: bool
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings().telemetry.enabled is enabled


def test_off_means_no_provider_no_interceptor_and_no_sdk_loaded() -> None:
    """Checked in a fresh interpreter: without an endpoint the OTel SDK is never imported."""
    code = """
import sys
from services.runtime.config import Settings
from services.runtime.telemetry import start_telemetry
from services.runtime.connection import connect
from services.runtime.plugin import RtwPlugin
telemetry = start_telemetry(Settings(), service="rtw-cli")
plugin = RtwPlugin(tracing=telemetry.enabled)
print(telemetry.enabled, [type(i).__name__ for i in plugin.interceptors or []],
      any(m.startswith("opentelemetry.sdk") for m in sys.modules))
"""
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split() == ["False", "['BusinessContextInterceptor']", "False"]


def test_start_telemetry_without_endpoint_is_a_no_op() -> None:
    telemetry = start_telemetry(Settings(), service="rtw-payments")
    assert not telemetry.enabled
    assert telemetry.flush()
    telemetry.shutdown()
    assert RtwPlugin(tracing=False).interceptors is not None


def test_resource_names_the_service_version_environment_and_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "k8s.pod.name=pay-1,deployment.environment=x")
    resource = build_resource(
        TelemetrySettings(), service="rtw-payments", environment="prod", task_queue="eu-payments"
    )
    attrs = dict(resource.attributes)
    assert attrs["service.name"] == "rtw-payments"
    assert attrs["service.version"]
    assert attrs["temporal.task_queue"] == "eu-payments"
    assert attrs["k8s.pod.name"] == "pay-1", "OTEL_RESOURCE_ATTRIBUTES are kept"
    assert attrs["deployment.environment"] == "x", "and win over rtw's defaults"
    assert attrs["telemetry.sdk.language"] == "python"


def test_otel_service_name_overrides_the_default() -> None:
    attrs = resource_attributes(
        TelemetrySettings(service_name="checkout-payments"),
        service="rtw-payments",
        environment="dev",
    )
    assert attrs["service.name"] == "checkout-payments"
    assert "temporal.task_queue" not in attrs


def test_grpc_is_the_default_protocol_and_http_protobuf_is_selectable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    grpc = TelemetrySettings(exporter_otlp_endpoint="http://collector:4317")
    assert grpc.protocol is OtlpProtocol.GRPC
    assert isinstance(build_exporter(grpc).inner, GrpcExporter)
    assert traces_endpoint(grpc) == "http://collector:4317"

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    http = Settings().telemetry
    assert http.protocol is OtlpProtocol.HTTP_PROTOBUF
    assert traces_endpoint(http) == "http://collector:4318/v1/traces"
    exporter = build_exporter(http)
    assert isinstance(exporter.inner, HttpExporter)
    exporter.shutdown()

    explicit = TelemetrySettings(
        exporter_otlp_endpoint="http://ignored:4318",
        exporter_otlp_traces_endpoint="http://traces:9999/custom",
        exporter_otlp_protocol=OtlpProtocol.HTTP_PROTOBUF,
    )
    assert traces_endpoint(explicit) == "http://traces:9999/custom"


@pytest.mark.parametrize(
    ("endpoint", "protocol", "address"),
    [
        ("http://localhost:4317", OtlpProtocol.GRPC, ("localhost", 4317)),
        ("localhost:4317", OtlpProtocol.GRPC, ("localhost", 4317)),
        ("http://jaeger", OtlpProtocol.GRPC, ("jaeger", 80)),
        ("https://otel.example/v1/traces", OtlpProtocol.HTTP_PROTOBUF, ("otel.example", 443)),
        ("collector", OtlpProtocol.HTTP_PROTOBUF, ("collector", 4318)),
    ],
)
def test_the_collector_address_probed_is_the_endpoints(
    endpoint: str, protocol: OtlpProtocol, address: tuple[str, int]
) -> None:
    assert endpoint_address(endpoint, protocol) == address


def test_exports_give_up_quickly_unless_the_otel_timeout_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TIMEOUT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", raising=False)
    assert export_timeout() == 2.0
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "10")
    assert export_timeout() == 10.0
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "3")
    assert export_timeout() == 3.0


def test_unknown_protocol_is_rejected_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(ValueError, match="exporter_otlp_protocol"):
        Settings()


def test_business_attributes_are_an_allowlist_without_personal_data() -> None:
    request = AuthorizePaymentRequest(
        idempotency_key="order-1:authorize",
        order_id="o-1",
        customer_id="c-secret",
        payment_method="pm_card_visa",
        amount_cents=4200,
        currency="EUR",
    )
    assert business_attributes(request) == {
        "rtw.order_id": "o-1",
        "rtw.amount_cents": 4200,
        "rtw.currency": "EUR",
    }
    raw_order = {"order_id": "o-2", "customer_id": "c-1", "payment_method": "pm", "currency": "USD"}
    assert business_attributes(raw_order) == {"rtw.order_id": "o-2", "rtw.currency": "USD"}
    assert business_attributes("junk") == {}
    assert not BusinessContextInterceptor(tracing=False).tracing


def test_log_records_carry_the_current_trace_and_span() -> None:
    tracer = TracerProvider().get_tracer("test")
    record_filter = TemporalContextFilter()
    formatter = JsonFormatter(service="rtw-test")
    with tracer.start_as_current_span("work") as span:
        record = logging.makeLogRecord({"msg": "hello", "levelname": "INFO", "name": "t"})
        record_filter.filter(record)
    entry = json.loads(formatter.format(record))
    context = span.get_span_context()
    assert entry["trace_id"] == format(context.trace_id, "032x")
    assert entry["span_id"] == format(context.span_id, "016x")

    outside = logging.makeLogRecord({"msg": "quiet", "temporal_workflow": {"workflow_id": "w-1"}})
    record_filter.filter(outside)
    entry = json.loads(formatter.format(outside))
    assert "trace_id" not in entry
    assert entry["workflow_id"] == "w-1"
    assert "temporal_workflow" not in entry, "flattened, not repeated"
    assert LogFormat.JSON.value == "json"

"""The rtw plugin: cross-cutting client and worker setup in one place.

Payload format (pydantic converter), tracing (OpenTelemetry interceptors) and business
context on spans and metrics are configured here once; every client and every worker built
from such a client shares them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanContext
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.common import SearchAttributeKey
from temporalio.converter import PayloadCodec, PayloadConverter
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.plugin import SimplePlugin
from temporalio.worker import (
    ActivityInboundInterceptor,
    ContinueAsNewInput,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    Interceptor,
    Worker,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from services.runtime.converter import rtw_data_converter
from services.runtime.credentials import refresh_api_key

PLUGIN_NAME = "rtw.RtwPlugin"

#: Header the SDK's OpenTelemetry interceptors carry the W3C trace context in.
TRACE_HEADER = "_tracer-data"
#: Header carrying the previous run's span context across continue-as-new (a link, not a parent).
LINK_HEADER = "_rtw-trace-link"

#: Input/output fields copied onto spans, under these attribute names. An allowlist: fields
#: that identify people or payment instruments (customer_id, payment_method, …) never appear.
BUSINESS_FIELDS: Mapping[str, str] = {
    "order_id": "rtw.order_id",
    "amount_cents": "rtw.amount_cents",
    "total_cents": "rtw.amount_cents",
    "currency": "rtw.currency",
}
OUTCOME_ATTRIBUTE = "rtw.outcome"
SCHEDULE_ID_ATTRIBUTE = "temporal.schedule_id"
#: Counter of finished workflow runs by type and outcome (replay-safe SDK metric).
OUTCOME_METRIC = "rtw_workflow_outcomes"

SCHEDULED_BY_ID = SearchAttributeKey.for_keyword("TemporalScheduledById")


def business_attributes(value: Any) -> dict[str, str | int]:
    """Allowlisted business fields of a model or mapping, as span attributes."""
    found: dict[str, str | int] = {}
    for field, attribute in BUSINESS_FIELDS.items():
        item = value.get(field) if isinstance(value, Mapping) else getattr(value, field, None)
        if isinstance(item, str | int) and not isinstance(item, bool):
            found.setdefault(attribute, item)
    return found


def _outcome_of_result(result: Any) -> str:
    state = getattr(result, "state", None)
    if state is None and isinstance(result, Mapping):
        state = result.get("state")
    return str(getattr(state, "value", state)) if state is not None else "completed"


def _outcome_of_error(error: BaseException) -> str:
    if isinstance(error, ApplicationError) and error.type:
        return error.type
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    return type(error).__name__


_PROPAGATOR = TraceContextTextMapPropagator()


def _current_span() -> Span | None:
    """The recording OpenTelemetry span of this context, or None (tracing off)."""
    span = trace.get_current_span()
    return span if span.is_recording() else None


class BusinessContextInterceptor(ClientInterceptor, Interceptor):
    """Adds business context to the SDK's spans, links continue-as-new runs, counts outcomes.

    Listed after `OpenTelemetryInterceptor`, so the span it decorates (`RunWorkflow:…`,
    `RunActivity:…`) is the current one when it runs; its workflow outbound half runs before
    the SDK's and turns continue-as-new into a fresh trace linked to the previous run.
    """

    def __init__(self, *, tracing: bool) -> None:
        """Args: tracing: decorate spans (off: only the outcome metric is recorded)."""
        super().__init__()
        self.tracing = tracing

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Decorate activity spans."""
        return _ActivityInbound(next) if self.tracing else next

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        """Decorate workflow spans and count outcomes."""
        return _TracedWorkflowInbound if self.tracing else _WorkflowInbound


class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        span = _current_span()
        if span is None:
            return await super().execute_activity(input)
        if input.args:
            span.set_attributes(business_attributes(input.args[0]))
        span.set_attribute("temporal.activity_type", activity.info().activity_type)
        try:
            result = await super().execute_activity(input)
        except BaseException as err:
            span.set_attribute(OUTCOME_ATTRIBUTE, _outcome_of_error(err))
            raise
        span.set_attributes({OUTCOME_ATTRIBUTE: "ok", **business_attributes(result)})
        return result


class _WorkflowInbound(WorkflowInboundInterceptor):
    """Counts workflow outcomes on the SDK's (replay-safe) metric meter."""

    def _decorate_start(self, input: ExecuteWorkflowInput) -> None:
        """Hook for the traced variant."""

    def _decorate_end(self, outcome: str, result: Any) -> None:
        """Hook for the traced variant."""

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        self._decorate_start(input)
        try:
            result = await super().execute_workflow(input)
        except workflow.ContinueAsNewError:
            self._finish("continued_as_new", None)
            raise
        except (FailureError, asyncio.CancelledError) as err:
            self._finish(_outcome_of_error(err), None)
            raise
        self._finish(_outcome_of_result(result), result)
        return result

    def _finish(self, outcome: str, result: Any) -> None:
        self._decorate_end(outcome, result)
        info = workflow.info()
        workflow.metric_meter().create_counter(
            OUTCOME_METRIC, "workflow runs finished, by type and outcome"
        ).add(1, {"workflow_type": info.workflow_type, "outcome": outcome})


class _TracedWorkflowInbound(_WorkflowInbound):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_TracedWorkflowOutbound(outbound))

    def _decorate_start(self, input: ExecuteWorkflowInput) -> None:
        span = _current_span()
        if span is None:
            return
        if input.args:
            span.set_attributes(business_attributes(input.args[0]))
        info = workflow.info()
        span.set_attribute("temporal.workflow_type", info.workflow_type)
        schedule_id = info.typed_search_attributes.get(SCHEDULED_BY_ID)
        if schedule_id:
            span.set_attribute(SCHEDULE_ID_ATTRIBUTE, schedule_id)
        previous = _span_context_from(input.headers.get(LINK_HEADER))
        if previous is not None:
            span.add_link(previous, {"rtw.link": "continued_from"})
            if info.continued_run_id:
                span.set_attribute("temporal.continued_run_id", info.continued_run_id)

    def _decorate_end(self, outcome: str, result: Any) -> None:
        span = _current_span()
        if span is None:
            return
        span.set_attribute(OUTCOME_ATTRIBUTE, outcome)
        if result is not None:
            span.set_attributes(business_attributes(result))


class _TracedWorkflowOutbound(WorkflowOutboundInterceptor):
    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        """Start the next run in a new trace, linked to this one (no endless traces)."""
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        headers = {k: v for k, v in input.headers.items() if k != TRACE_HEADER}
        if carrier:
            headers[LINK_HEADER] = PayloadConverter.default.to_payloads([carrier])[0]
        input.headers = headers
        # With no current context, the SDK's interceptor (next in line) propagates no parent.
        token = otel_context.attach(otel_context.Context())
        try:
            super().continue_as_new(input)
        finally:
            otel_context.detach(token)


def _span_context_from(payload: Payload | None) -> SpanContext | None:
    if payload is None:
        return None
    carrier = PayloadConverter.default.from_payloads([payload])[0]
    if not isinstance(carrier, dict):
        return None
    span_context = trace.get_current_span(_PROPAGATOR.extract(carrier)).get_span_context()
    return span_context if span_context.is_valid else None


#: Modules workflows share with the worker instead of re-importing them in every workflow
#: run's sandbox: platform code and pure models, no workflow logic. Re-importing them cost
#: the orchestration worker ~330 ms of CPU per saga (measured with `rtw bench tracing`).
SANDBOX_PASSTHROUGH = (
    "services.contracts",
    "services.runtime",
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
)


def sandbox_passthrough(*, tracing: bool) -> Callable[[WorkflowRunner | None], WorkflowRunner]:
    """A workflow-runner hook adding `SANDBOX_PASSTHROUGH` (and OpenTelemetry when tracing:
    workflows then share the process's context and tracer provider)."""
    modules = (*SANDBOX_PASSTHROUGH, "opentelemetry") if tracing else SANDBOX_PASSTHROUGH

    def configure(runner: WorkflowRunner | None) -> WorkflowRunner:
        if runner is None:
            raise ValueError("no workflow runner to configure")
        if isinstance(runner, SandboxedWorkflowRunner):
            return dataclasses.replace(
                runner, restrictions=runner.restrictions.with_passthrough_modules(*modules)
            )
        return runner

    return configure


def tracing_interceptors() -> list[Any]:
    """The SDK's OpenTelemetry interceptor (with its client/workflow/activity spans)."""
    from temporalio.contrib.opentelemetry import OpenTelemetryInterceptor

    return [OpenTelemetryInterceptor(add_temporal_spans=True)]


class RtwPlugin(SimplePlugin):
    """Data converter (pydantic JSON, optionally encrypted) plus the interceptors every rtw
    client and worker shares.

    Used by the client; workers built from that client inherit it, so both sides always
    agree on the payload format, on encryption and on tracing.
    """

    def __init__(
        self,
        *,
        interceptors: Sequence[ClientInterceptor] = (),
        tracing: bool = False,
        codec: PayloadCodec | None = None,
        api_key_file: Path | None = None,
    ) -> None:
        """Args:
        interceptors: extra client (and worker) interceptors.
        tracing: install OpenTelemetry tracing; needs the process's replay-safe tracer
            provider (`services.runtime.telemetry.start_telemetry`). Off costs nothing.
        codec: payload codec (`services.runtime.codec.EncryptionCodec`); None: plain JSON.
        api_key_file: while a worker runs, a changed file updates its client's API key.
        """
        chain: list[Any] = tracing_interceptors() if tracing else []
        chain += [BusinessContextInterceptor(tracing=tracing), *interceptors]
        converter = (
            dataclasses.replace(rtw_data_converter, payload_codec=codec)
            if codec is not None
            else rtw_data_converter
        )
        self.api_key_file = api_key_file
        super().__init__(
            PLUGIN_NAME,
            data_converter=converter,
            interceptors=chain,
            workflow_runner=sandbox_passthrough(tracing=tracing),
        )

    async def run_worker(self, worker: Worker, next: Callable[[Worker], Awaitable[None]]) -> None:
        """Run the worker; with an API key file, keep the client's key current meanwhile."""
        if self.api_key_file is None:
            await next(worker)
            return
        refresher = asyncio.create_task(refresh_api_key(worker.client, self.api_key_file))
        try:
            await next(worker)
        finally:
            refresher.cancel()

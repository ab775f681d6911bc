"""Process-wide logging: JSON lines for machines, a readable format for people.

Every record carries the context needed to find it again: the current trace and span ids
(when tracing is on) and the Temporal workflow and activity it was written from. Workflow
code logs through `workflow.logger`, which stays quiet while a workflow replays.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace
from temporalio import activity

from services.runtime.config import LogFormat

#: LogRecord attributes that are not user-supplied extras.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

#: Extras the SDK's workflow/activity loggers attach, flattened by `TemporalContextFilter`.
_SDK_EXTRAS = ("temporal_workflow", "temporal_activity")

#: Fields copied from the SDK's logger details, and what they are called in our records.
_WORKFLOW_FIELDS = {
    "workflow_id": "workflow_id",
    "run_id": "run_id",
    "workflow_type": "workflow_type",
}
_ACTIVITY_FIELDS = {
    "workflow_id": "workflow_id",
    "workflow_run_id": "run_id",
    "activity_type": "activity_type",
    "activity_id": "activity_id",
    "attempt": "attempt",
}


def _copy(record: logging.LogRecord, details: Mapping[str, Any], names: Mapping[str, str]) -> None:
    for source, target in names.items():
        value = details.get(source)
        if value is not None and not hasattr(record, target):
            setattr(record, target, value)


class TemporalContextFilter(logging.Filter):
    """Adds `trace_id`/`span_id` and workflow/activity identity to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            record.trace_id = format(span_context.trace_id, "032x")
            record.span_id = format(span_context.span_id, "016x")
        workflow_details = getattr(record, "temporal_workflow", None)
        if isinstance(workflow_details, Mapping):
            _copy(record, workflow_details, _WORKFLOW_FIELDS)
        activity_details = getattr(record, "temporal_activity", None)
        if isinstance(activity_details, Mapping):
            _copy(record, activity_details, _ACTIVITY_FIELDS)
        elif activity.in_activity():  # plain `logging` loggers used inside activities
            info = activity.info()
            _copy(
                record,
                {
                    "workflow_id": info.workflow_id,
                    "workflow_run_id": info.workflow_run_id,
                    "activity_type": info.activity_type,
                    "activity_id": info.activity_id,
                    "attempt": info.attempt,
                },
                _ACTIVITY_FIELDS,
            )
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with any `extra=` fields and Temporal's context."""

    def __init__(self, *, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "service": self._service,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _STANDARD_ATTRS or key in _SDK_EXTRAS or key.startswith("_"):
                continue
            entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ConsoleFormatter(logging.Formatter):
    """`time level service logger: message`, plus `[trace=… wf=… act=…]` when known."""

    def __init__(self, *, service: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)-7s {service} %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        tags = [
            f"{label}={value}"
            for label, value in (
                ("trace", getattr(record, "trace_id", None)),
                ("wf", getattr(record, "workflow_id", None)),
                ("act", getattr(record, "activity_type", None)),
            )
            if value
        ]
        return f"{line} [{' '.join(tags)}]" if tags else line


def configure_logging(*, service: str, fmt: LogFormat, level: str = "INFO") -> None:
    """Install one stderr handler on the root logger (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(TemporalContextFilter())
    if fmt is LogFormat.JSON:
        handler.setFormatter(JsonFormatter(service=service))
    else:
        handler.setFormatter(ConsoleFormatter(service=service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())

"""The platform half of rtw: config, connection, plugin, telemetry, health, worker host.

The names below load on first use (PEP 562): every `services.runtime.*` import runs this
module first, and a process that only needs the settings (a CLI command, a worker before
it builds its health server) should not pay for the worker host and its dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.runtime.config import (
        LogFormat,
        OtlpProtocol,
        Settings,
        TelemetrySettings,
        TemporalSettings,
        WorkerTuning,
        load_settings,
    )
    from services.runtime.connection import ConfigurationError, connect
    from services.runtime.health import HealthServer, HealthState
    from services.runtime.plugin import RtwPlugin
    from services.runtime.telemetry import Telemetry, start_telemetry
    from services.runtime.versioning import VersioningSettings
    from services.runtime.worker_host import WorkerFactory, WorkerHost, worker_options

_EXPORTS = {
    "ConfigurationError": "connection",
    "HealthServer": "health",
    "HealthState": "health",
    "LogFormat": "config",
    "OtlpProtocol": "config",
    "RtwPlugin": "plugin",
    "Settings": "config",
    "Telemetry": "telemetry",
    "TelemetrySettings": "config",
    "TemporalSettings": "config",
    "VersioningSettings": "versioning",
    "WorkerFactory": "worker_host",
    "WorkerHost": "worker_host",
    "WorkerTuning": "config",
    "connect": "connection",
    "load_settings": "config",
    "start_telemetry": "telemetry",
    "worker_options": "worker_host",
}

__all__ = [
    "ConfigurationError",
    "HealthServer",
    "HealthState",
    "LogFormat",
    "OtlpProtocol",
    "RtwPlugin",
    "Settings",
    "Telemetry",
    "TelemetrySettings",
    "TemporalSettings",
    "VersioningSettings",
    "WorkerFactory",
    "WorkerHost",
    "WorkerTuning",
    "connect",
    "load_settings",
    "start_telemetry",
    "worker_options",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

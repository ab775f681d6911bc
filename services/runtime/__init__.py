"""The platform half of rtw: config, connection, plugin, telemetry, health, worker host."""

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

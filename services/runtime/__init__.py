"""The platform half of rtw: config, connection, plugin, health, worker host, dev server."""

from services.runtime.config import (
    LogFormat,
    Settings,
    TemporalSettings,
    WorkerTuning,
    load_settings,
)
from services.runtime.connection import ConfigurationError, connect
from services.runtime.health import HealthServer, HealthState
from services.runtime.plugin import RtwPlugin
from services.runtime.worker_host import WorkerFactory, WorkerHost, worker_options

__all__ = [
    "ConfigurationError",
    "HealthServer",
    "HealthState",
    "LogFormat",
    "RtwPlugin",
    "Settings",
    "TemporalSettings",
    "WorkerFactory",
    "WorkerHost",
    "WorkerTuning",
    "connect",
    "load_settings",
    "worker_options",
]

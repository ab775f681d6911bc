"""Settings: one typed object per process, from environment variables and files."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.contracts import TaskQueue, queue_name
from services.runtime.versioning import DeploymentNameError, VersioningSettings


class LogFormat(StrEnum):
    """How log records are written."""

    JSON = "json"
    CONSOLE = "console"


class CodecSettings(BaseSettings):
    """Payload encryption (off unless a keys file is given)."""

    model_config = SettingsConfigDict(
        env_prefix="RTW_CODEC_", extra="ignore", hide_input_in_errors=True
    )

    keys_file: Path | None = Field(
        default=None,
        description='JSON {"active": id, "keys": {id: base64 of 32 bytes}} (a mounted Secret); '
        "unset: payloads are plain JSON",
    )

    @field_validator("keys_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`RTW_CODEC_KEYS_FILE=` (empty) means no encryption."""
        return None if isinstance(value, str) and not value.strip() else value


class SandboxMode(StrEnum):
    """How the orchestration worker runs workflow code (`RTW_WORKFLOW_SANDBOX`).

    `strict`: the SDK's sandbox, with rtw's platform and model packages passed through; it
    catches non-deterministic calls and isolates each run's module state. `off`: no sandbox;
    cheaper per workflow run, but nothing stops workflow code from reading the clock, random
    numbers, files or the network, or from sharing module state between runs. Tests and
    history replays always run sandboxed.
    """

    STRICT = "strict"
    OFF = "off"


class TemporalSettings(BaseSettings):
    """How to reach Temporal; Temporal's own environment variable names."""

    model_config = SettingsConfigDict(
        env_prefix="TEMPORAL_", extra="ignore", hide_input_in_errors=True
    )

    address: str | None = Field(
        default=None,
        description="host:port of the frontend; unset means the embedded dev server (rtw dev)",
    )
    namespace: str = "default"
    api_key: SecretStr | None = Field(default=None, description="prefer api_key_file")
    api_key_file: Path | None = Field(default=None, description="file holding the API key")
    tls: bool | None = Field(default=None, description="force TLS on/off; on when certs are set")
    tls_client_cert_path: Path | None = None
    tls_client_key_path: Path | None = None
    tls_server_ca_cert_path: Path | None = None
    tls_server_name: str | None = None
    profile: str | None = Field(
        default=None,
        description="profile of the Temporal CLI's TOML config file; environment variables win",
    )
    config_file: Path | None = Field(
        default=None,
        description="that TOML file; default: the Temporal CLI's "
        "(~/.config/temporalio/temporal.toml)",
    )
    codec: CodecSettings = Field(
        default_factory=CodecSettings, description="payload encryption (RTW_CODEC_*)"
    )

    @field_validator(
        "address",
        "api_key",
        "api_key_file",
        "tls_client_cert_path",
        "tls_client_key_path",
        "tls_server_ca_cert_path",
        "tls_server_name",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`TEMPORAL_ADDRESS=` (empty) means unset, as shells and Compose files expect."""
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _apply_profile(self) -> TemporalSettings:
        """Fill what the environment left unset from the Temporal CLI's config profile, read
        by the SDK's own `temporalio.envconfig` (the CLI's precedence: env over file)."""
        from temporalio.envconfig import ClientConfigProfile

        try:
            loaded = ClientConfigProfile.load(
                profile=self.profile, config_source=self.config_file, disable_env=True
            )
        except Exception as exc:  # the SDK's ConfigError: unknown profile, bad TOML
            where = self.config_file or "the Temporal CLI's config file"
            raise ValueError(
                f"TEMPORAL_PROFILE/TEMPORAL_CONFIG_FILE: cannot load profile "
                f"{self.profile or 'default'!r} from {where}: {exc}"
            ) from None
        found: dict[str, object] = {"address": loaded.address, "namespace": loaded.namespace}
        if loaded.api_key and not {"api_key", "api_key_file"} & self.model_fields_set:
            found["api_key"] = SecretStr(loaded.api_key)
        if loaded.tls is not None:
            found["tls"] = not loaded.tls.disabled
            found["tls_server_name"] = loaded.tls.server_name
            for field, source in (
                ("tls_server_ca_cert_path", loaded.tls.server_root_ca_cert),
                ("tls_client_cert_path", loaded.tls.client_cert),
                ("tls_client_key_path", loaded.tls.client_private_key),
            ):
                if source is not None and not isinstance(source, Path):
                    raise ValueError(
                        f"TEMPORAL_PROFILE: the profile holds certificate data inline; rtw reads "
                        f"certificates from files: use {field.removeprefix('tls_')[:-5]}_path"
                    )
                found[field] = source
        for field, value in found.items():
            if value is not None and field not in self.model_fields_set:
                setattr(self, field, value)
        return self

    @model_validator(mode="after")
    def _pairs_complete(self) -> TemporalSettings:
        if (self.tls_client_cert_path is None) != (self.tls_client_key_path is None):
            raise ValueError(
                "TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH go together"
            )
        if self.api_key is not None and self.api_key_file is not None:
            raise ValueError("set TEMPORAL_API_KEY or TEMPORAL_API_KEY_FILE, not both")
        return self

    def resolved_api_key(self) -> str | None:
        """The API key, read from its file when one is configured."""
        if self.api_key_file is not None:
            return self.api_key_file.read_text(encoding="utf-8").strip()
        return self.api_key.get_secret_value() if self.api_key else None

    @property
    def tls_enabled(self) -> bool:
        """TLS is on when forced, or when any certificate or an API key is configured."""
        if self.tls is not None:
            return self.tls
        return any(
            (
                self.tls_client_cert_path,
                self.tls_server_ca_cert_path,
                self.api_key,
                self.api_key_file,
            )
        )


class OtlpProtocol(StrEnum):
    """OTLP transports (the values of OTEL_EXPORTER_OTLP_PROTOCOL)."""

    GRPC = "grpc"
    HTTP_PROTOBUF = "http/protobuf"


class TelemetrySettings(BaseSettings):
    """Tracing export, from OpenTelemetry's own environment variable names.

    Only what decides *whether* and *how* to export lives here; the exporters still read the
    rest of the standard variables themselves (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT,
    _CERTIFICATE, OTEL_BSP_*, OTEL_TRACES_SAMPLER and _ARG).
    """

    model_config = SettingsConfigDict(env_prefix="OTEL_", extra="ignore", hide_input_in_errors=True)

    exporter_otlp_endpoint: str | None = Field(
        default=None, description="collector base URL, e.g. http://jaeger:4317; unset: no tracing"
    )
    exporter_otlp_traces_endpoint: str | None = Field(
        default=None, description="traces-only endpoint; wins over the base endpoint"
    )
    exporter_otlp_protocol: OtlpProtocol = OtlpProtocol.GRPC
    exporter_otlp_traces_protocol: OtlpProtocol | None = None
    service_name: str | None = Field(
        default=None, description="overrides the per-process default (rtw-<queue>, rtw-cli)"
    )
    sdk_disabled: bool = False
    traces_exporter: str = Field(default="otlp", description="`none` turns tracing off")

    @property
    def protocol(self) -> OtlpProtocol:
        """The transport for traces."""
        return self.exporter_otlp_traces_protocol or self.exporter_otlp_protocol

    @property
    def enabled(self) -> bool:
        """Tracing is on only when an endpoint is configured and nothing turns it off."""
        has_endpoint = bool(self.exporter_otlp_traces_endpoint or self.exporter_otlp_endpoint)
        return has_endpoint and not self.sdk_disabled and self.traces_exporter.lower() != "none"


class WorkerTuning(BaseSettings):
    """Per-process worker tuning; the chart sets one set per queue."""

    model_config = SettingsConfigDict(env_prefix="RTW_", extra="ignore", hide_input_in_errors=True)

    max_concurrent_activities: int = Field(default=100, gt=0)
    max_concurrent_workflow_tasks: int = Field(
        default=16,
        gt=0,
        description="workflow tasks at once; the SDK runs each on a thread of a pool this "
        "large, and they are CPU work under the GIL: 16 kept the throughput of 100 at 64 "
        "sagas in flight with 6 MB less peak RSS (rtw bench run, 2 cores)",
    )
    max_concurrent_activity_polls: int = Field(default=5, gt=0)
    max_concurrent_workflow_task_polls: int = Field(default=5, gt=0)
    graceful_shutdown_seconds: float = Field(
        default=30.0, ge=0, description="time in-flight activities get to finish on SIGTERM"
    )
    sticky_queue_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        description="how long a workflow's next task waits for the worker that cached it "
        "before any worker may take it (the SDK's default of 10 s stalls every saga cached "
        "on a worker that drains or dies for that long)",
    )


class DatabaseSettings(BaseSettings):
    """Where workers keep state (ledger, stock, order claims, outbox).

    `RTW_DATABASE_URL` (`postgresql://user@host:5432/rtw`) selects the PostgreSQL that every
    replica of every queue shares; unset keeps SQLite under `RTW_DATA_DIR` (one host only).
    """

    model_config = SettingsConfigDict(
        env_prefix="RTW_DATABASE_", extra="ignore", hide_input_in_errors=True
    )

    url: SecretStr | None = Field(
        default=None, description="postgresql://… of the shared database; unset: local SQLite"
    )
    password_file: Path | None = Field(
        default=None, description="file holding the password (a mounted Secret)"
    )
    pool_size: int = Field(default=10, gt=0, le=100, description="connections per process")
    pool_max_idle_seconds: float = Field(
        default=60.0,
        gt=0,
        description="a pooled connection idle this long is closed (the pool keeps one), so "
        "a burst's connections go back to the server",
    )

    @field_validator("url", mode="before")
    @classmethod
    def _check_url(cls, value: object) -> object:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if not isinstance(raw, str) or not raw.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql://")
        return value

    @property
    def shared(self) -> bool:
        """True when state is in the shared PostgreSQL."""
        return self.url is not None


class Settings(BaseSettings):
    """Everything one rtw process needs; build once, pass in."""

    model_config = SettingsConfigDict(env_prefix="RTW_", extra="ignore", hide_input_in_errors=True)

    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    tuning: WorkerTuning = Field(default_factory=WorkerTuning)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    versioning: VersioningSettings = Field(default_factory=VersioningSettings)

    data_dir: Path = Field(
        default=Path(".rtw"),
        description="local files: the SQLite stores when no database URL (made absolute on load)",
        validate_default=True,
    )
    health_port: int | None = Field(default=None, ge=0, le=65535)

    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    log_format: LogFormat = LogFormat.CONSOLE
    log_level: str = "INFO"
    environment: str = Field(
        default="dev",
        validation_alias=AliasChoices("RTW_ENVIRONMENT", "DEPLOYMENT_ENVIRONMENT"),
    )

    workflow_sandbox: SandboxMode = Field(
        default=SandboxMode.STRICT,
        description="`strict` (default) or `off`: see docs/capacity.md for what off gives up",
    )

    queue_prefix: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]*$",
        description="prepended to every task-queue name (one Temporal namespace, many stacks)",
    )

    payments_provider_latency_ms: int = Field(
        default=0, ge=0, description="simulated network latency of the stand-in payment provider"
    )
    fault_step_delay_ms: int = Field(
        default=0,
        ge=0,
        le=60_000,
        description="fault injection (tests, rtw chaos): every stock, claim and outbox step "
        "is held this long after its commit, so a cancel or a kill lands while it is in flight",
    )
    fault_crash_after_capture: Path | None = Field(
        default=None,
        description="fault injection (rtw chaos): while this file exists, the next payments "
        "worker to commit a capture deletes it and dies before the activity returns",
    )

    @model_validator(mode="after")
    def _controller_settings_fit(self) -> Settings:
        """What Temporal's worker controller injects must name one of rtw's queues' Worker
        Deployments, and needs versioning on (see services.runtime.versioning)."""
        versioning = self.versioning
        if versioning.controller_deployment_name is None:
            return self
        if not versioning.worker_versioning:
            raise ValueError(
                "TEMPORAL_DEPLOYMENT_NAME is set (Temporal's worker controller runs this pod), "
                "but RTW_WORKER_VERSIONING is false: the controller routes only versioned "
                "workers; remove RTW_WORKER_VERSIONING=false"
            )
        try:
            versioning.stem(prefix=self.queue_prefix)
        except DeploymentNameError as exc:
            raise ValueError(str(exc)) from None
        return self

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        """Resolve once, so every message and child process names the same directory."""
        return value.expanduser().resolve()

    def queue_name(self, queue: TaskQueue) -> str:
        """The configured task-queue name for a service."""
        return queue_name(queue, prefix=self.queue_prefix)


def load_settings() -> Settings:
    """Read the settings from the environment (raises a ValidationError naming the variable)."""
    return Settings()


def _env_name(model: type[BaseSettings], loc: tuple[int | str, ...]) -> str | None:
    """The environment variable behind an error location of `model`, if any."""
    if not loc:
        return None
    name = str(loc[0])
    field = model.model_fields.get(name)
    prefix = model.model_config.get("env_prefix", "")
    if field is None:  # an alias (RTW_ENVIRONMENT) is reported as itself
        return name if name.isupper() else f"{prefix}{name}".upper()
    nested = field.annotation
    if isinstance(nested, type) and issubclass(nested, BaseSettings) and len(loc) > 1:
        return _env_name(nested, loc[1:])
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    if isinstance(alias, str):
        return alias
    return f"{prefix}{name}".upper()


def describe_settings_error(error: ValidationError, *models: type[BaseSettings]) -> list[str]:
    """One line per problem, each naming its environment variable, never its value.

    `models` are the settings classes the error may come from, besides this module's.
    """
    known: dict[str, type[BaseSettings]] = {
        cls.__name__: cls
        for cls in (
            Settings,
            TemporalSettings,
            TelemetrySettings,
            WorkerTuning,
            DatabaseSettings,
            VersioningSettings,
            CodecSettings,
        )
    }
    known.update({cls.__name__: cls for cls in models})
    model = known.get(error.title)
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        variable = _env_name(model, item["loc"]) if model is not None else None
        lines.append(f"{variable}: {message}" if variable else message)
    return lines

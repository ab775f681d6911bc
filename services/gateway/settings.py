"""Gateway settings (`RTW_GATEWAY_*`), next to the process's `Settings`."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """How the HTTP gateway listens and authenticates (env prefix `RTW_GATEWAY_`)."""

    model_config = SettingsConfigDict(
        env_prefix="RTW_GATEWAY_", extra="ignore", hide_input_in_errors=True
    )

    host: str = Field(
        default="0.0.0.0",  # nosec B104  # a container's service port; the NetworkPolicy limits it
        description="address the API listens on",
    )
    port: int = Field(default=8000, ge=0, le=65535, description="API port")
    tokens_file: Path | None = Field(
        default=None,
        description="bearer tokens for the API and the inbox, one per line as "
        "'<token> <name> <role>' (a mounted Secret)",
    )
    session_key_file: Path | None = Field(
        default=None,
        description="key (>= 32 bytes) signing inbox sessions, shared by all replicas (a "
        "mounted Secret); changing it signs everyone out. Unset: derived from the tokens file",
    )
    session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="how long an inbox sign-in lasts"
    )
    trusted_proxies: str = Field(
        default="127.0.0.1",
        description="comma-separated IPs or networks (CIDR) of the proxies whose "
        "X-Forwarded-Proto and X-Forwarded-For are believed (the TLS-terminating ingress); "
        "'*' trusts any peer",
    )
    webhook_secret_file: Path | None = Field(
        default=None,
        validation_alias="RTW_WEBHOOK_SECRET_FILE",
        description="the carrier's HMAC-SHA256 secret (a mounted Secret); unset: webhooks off",
    )
    webhook_endpoints_file: Path | None = Field(
        default=None,
        validation_alias="RTW_WEBHOOK_ENDPOINTS_FILE",
        description="outbound webhooks: the endpoints order events are POSTed to (JSON, a "
        "mounted Secret; see services/webhooks/endpoints.py); unset: none sent",
    )
    webhook_retry_seconds: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        validation_alias="RTW_WEBHOOK_RETRY_SECONDS",
        description="first wait before a failed delivery is tried again (doubling after)",
    )
    webhook_retry_max_seconds: float = Field(
        default=600.0,
        gt=0,
        le=86400,
        validation_alias="RTW_WEBHOOK_RETRY_MAX_SECONDS",
        description="longest wait between two tries of a delivery",
    )
    webhook_give_up_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 14,
        validation_alias="RTW_WEBHOOK_GIVE_UP_HOURS",
        description="a delivery still failing after this long is `failed` (replayable)",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=120,
        validation_alias="RTW_WEBHOOK_TIMEOUT_SECONDS",
        description="how long one delivery may take",
    )
    webhook_tolerance_seconds: int = Field(
        default=300, gt=0, le=3600, description="how old a signed webhook may be (replays)"
    )
    request_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="answer 503 when Temporal or workers take longer"
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="origins allowed by CORS; empty: CORS off"
    )
    page_size: int = Field(default=50, gt=0, le=1000, description="default page of GET /orders")
    graceful_shutdown_seconds: float = Field(
        default=10.0, ge=0, description="time in-flight requests get to finish on SIGTERM"
    )
    max_body_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="largest request body read, any route and transfer encoding (413 past it)",
    )
    events: bool = Field(
        default=True,
        description="serve order events (GET /orders/{id}/events, the live inbox and order "
        "page, outbound webhooks): the gateway then reads the workers' database "
        "(RTW_DATABASE_URL, else the SQLite file under RTW_DATA_DIR)",
    )
    events_keepalive_seconds: float = Field(
        default=15.0, gt=0, le=15, description="a keep-alive comment on an idle event stream"
    )
    events_max_stream_seconds: float = Field(
        default=900.0,
        gt=0,
        le=86400,
        description="an event stream is closed after this long (the client resumes with "
        "Last-Event-ID, maybe on another replica): spreads streams over new replicas and "
        "stays below proxies' connection limits",
    )
    events_poll_seconds: float = Field(
        default=0.05,
        gt=0,
        le=5,
        description="SQLite only: how often the one reader of the process looks for new "
        "events (PostgreSQL announces them through LISTEN/NOTIFY)",
    )
    docs: bool = Field(
        default=True,
        description="serve the interactive API docs (/docs, assets served locally) and "
        "/openapi.json; turn off in production if the API should not describe itself",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        """Each entry an IP address or network: uvicorn would take a typo as a literal
        that never matches, and the scheme behind the proxy would stay `http`."""
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        if entries == ["*"]:
            return "*"
        for entry in entries:
            try:
                if "/" in entry:
                    ipaddress.ip_network(entry, strict=False)
                else:
                    ipaddress.ip_address(entry)
            except ValueError:
                raise ValueError(
                    "RTW_GATEWAY_TRUSTED_PROXIES: each entry must be an IP address or a "
                    "network such as 10.0.0.0/8 (or '*' alone)"
                ) from None
        return ",".join(entries)

    @field_validator(
        "tokens_file",
        "webhook_secret_file",
        "session_key_file",
        "webhook_endpoints_file",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty variable (as Compose files and shells write it) means unset."""
        return None if isinstance(value, str) and not value.strip() else value

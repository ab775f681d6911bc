"""Gateway settings (`RTW_GATEWAY_*`), next to the process's `Settings`."""

from __future__ import annotations

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
        description="bearer tokens for the API and the inbox, one per line (a mounted Secret)",
    )
    webhook_secret_file: Path | None = Field(
        default=None,
        validation_alias="RTW_WEBHOOK_SECRET_FILE",
        description="the carrier's HMAC-SHA256 secret (a mounted Secret); unset: webhooks off",
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

    @field_validator("tokens_file", "webhook_secret_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty variable (as Compose files and shells write it) means unset."""
        return None if isinstance(value, str) and not value.strip() else value

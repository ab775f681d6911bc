"""Settings of `rtw codec-server` (RTW_CODEC_SERVER_*); the keys come from RTW_CODEC_KEYS_FILE."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.runtime.config import CodecSettings


class CodecServerSettings(BaseSettings):
    """Who may call the codec server, from where, and where it listens."""

    model_config = SettingsConfigDict(
        env_prefix="RTW_CODEC_SERVER_", extra="ignore", hide_input_in_errors=True
    )

    codec: CodecSettings = Field(default_factory=CodecSettings)
    token_file: Path | None = Field(
        default=None,
        description="file of accepted bearer tokens, one per line (a mounted Secret); this or "
        "jwks_url is required: without either the server refuses to start",
    )
    jwks_url: str | None = Field(
        default=None,
        description="JWKS of the identity provider the Web UI signs people in with: the "
        "access token the UI forwards is accepted when signed by it, unexpired, for "
        "jwt_audience (and jwt_issuer)",
    )
    jwt_audience: str | None = Field(default=None, description="required `aud` of those tokens")
    jwt_issuer: str | None = Field(default=None, description="required `iss` of those tokens")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=["http://localhost:8233"],
        description="comma-separated browser origins allowed to call it (the Web UI's)",
    )
    host: str = "0.0.0.0"  # nosec B104  # a container's service port; the NetworkPolicy limits it
    port: int = Field(default=8888, ge=0, le=65535)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0, description="larger bodies: 413")

    @field_validator("token_file", "jwks_url", "jwt_audience", "jwt_issuer", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _jwt_needs_audience(self) -> CodecServerSettings:
        if self.jwks_url and not self.jwt_audience:
            raise ValueError(
                "RTW_CODEC_SERVER_JWT_AUDIENCE is required with RTW_CODEC_SERVER_JWKS_URL "
                "(tokens minted for other applications must not open payloads)"
            )
        return self

"""Settings of `rtw codec-server` (RTW_CODEC_SERVER_*); the keys come from RTW_CODEC_KEYS_FILE."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
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
        description="file of accepted bearer tokens, one per line (a mounted Secret); "
        "required: without it the server refuses to start",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=["http://localhost:8233"],
        description="comma-separated browser origins allowed to call it (the Web UI's)",
    )
    host: str = "0.0.0.0"  # nosec B104  # a container's service port; the NetworkPolicy limits it
    port: int = Field(default=8888, ge=0, le=65535)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0, description="larger bodies: 413")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

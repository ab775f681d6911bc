"""`rtw codec-server` and `rtw codec-key`: the payload codec's operator commands."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

codec_app = typer.Typer(help="Payload encryption: the codec server and keys.", no_args_is_help=True)


@codec_app.command("server")
def codec_server(
    port: Annotated[
        int | None, typer.Option(help="listen port (env RTW_CODEC_SERVER_PORT)")
    ] = None,
) -> None:
    """Serve Temporal's remote codec protocol (/encode, /decode) for the Web UI and CLI."""
    from services.codec_server import CodecServerSettings, serve
    from services.runtime.config import describe_settings_error, load_settings
    from services.runtime.connection import ConfigurationError
    from services.runtime.logs import configure_logging

    try:
        settings = CodecServerSettings()
        process = load_settings()
    except ValidationError as exc:
        for line in describe_settings_error(exc, CodecServerSettings):
            typer.echo(f"rtw: invalid configuration: {line}", err=True)
        raise typer.Exit(2) from None
    if port is not None:
        settings = settings.model_copy(update={"port": port})
    configure_logging(service="rtw-codec-server", fmt=process.log_format, level=process.log_level)
    try:
        serve(settings)
    except ConfigurationError as exc:
        typer.echo(f"rtw: {exc}", err=True)
        raise typer.Exit(2) from None


def codec_key() -> None:
    """Print a fresh random key (base64 of 32 bytes) for RTW_CODEC_KEYS_FILE."""
    from services.runtime.codec import new_key as make

    typer.echo(make())

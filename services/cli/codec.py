"""`rtw codec-server`, `codec-key`, `codec-token`, `codec-init`: the payload codec's operator
commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

PortOption = Annotated[int | None, typer.Option(help="listen port (env RTW_CODEC_SERVER_PORT)")]


def codec_server(port: PortOption = None) -> None:
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


def codec_key(
    keys_file: Annotated[
        Path | None, typer.Option(help="add the new key to this keys file (created if missing)")
    ] = None,
    key_id: Annotated[str | None, typer.Option(help="id of the new key (with --keys-file)")] = None,
    activate: Annotated[
        bool, typer.Option(help="make the new key the one new payloads are encrypted with")
    ] = False,
    if_missing: Annotated[
        bool, typer.Option(help="do nothing when --keys-file exists (first-start jobs)")
    ] = False,
) -> None:
    """Print a fresh key, or add one to a keys file (never removing old keys)."""
    from services.runtime.codec import new_key
    from services.runtime.keyfiles import add_key

    if keys_file is None:
        typer.echo(new_key())
        return
    if key_id is None:
        typer.echo("rtw: --key-id is required with --keys-file", err=True)
        raise typer.Exit(2)
    if if_missing and keys_file.exists():
        typer.echo(f"{keys_file} exists; left as it is")
        return
    try:
        created = add_key(keys_file, key_id, activate=activate)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        typer.echo(f"rtw: cannot update {keys_file}: {reason}", err=True)
        raise typer.Exit(2) from None
    state = "created with" if created else ("added and activated" if activate else "added")
    typer.echo(f"{keys_file}: {state} key {key_id!r}")


def codec_token(
    file: Annotated[Path, typer.Option(help="token file to write (RTW_CODEC_SERVER_TOKEN_FILE)")],
    if_missing: Annotated[bool, typer.Option(help="do nothing when the file exists")] = False,
) -> None:
    """Write a fresh random bearer token for the codec server (never printed)."""
    from services.runtime.keyfiles import write_token

    if if_missing and file.exists():
        typer.echo(f"{file} exists; left as it is")
        return
    write_token(file)
    typer.echo(f"wrote a new token to {file}")


def codec_init(
    directory: Annotated[Path, typer.Argument(help="where keys.json and tokens go")],
    key_id: Annotated[str, typer.Option(help="id of the first key")] = "k1",
) -> None:
    """Make a keys file and a codec-server token in DIRECTORY, each only if missing (a
    stack's first start, e.g. Compose's rtw-codec-init)."""
    from services.runtime.keyfiles import add_key, write_token

    keys, tokens = directory / "keys.json", directory / "tokens"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not keys.exists():
            add_key(keys, key_id, activate=True)
            typer.echo(f"{keys}: created with key {key_id!r}")
        if not tokens.exists():
            write_token(tokens)
            typer.echo(f"{tokens}: created")
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        typer.echo(f"rtw: cannot initialise {directory}: {reason}", err=True)
        raise typer.Exit(2) from None

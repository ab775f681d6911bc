"""Helpers shared by the `rtw` command modules."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError

from services.runtime.config import Settings, describe_settings_error, load_settings
from services.runtime.invocation import rtw_command

if TYPE_CHECKING:
    from temporalio.client import Client

    from services.runtime.database import Database

#: How long a client command keeps retrying a refused connection (a server just starting);
#: workers wait much longer, a person at a terminal should not.
CONNECT_RETRY_SECONDS = 3.0


def settings_or_exit() -> Settings:
    """The process settings, or exit 2 with the message naming the bad variable."""
    try:
        return load_settings()
    except ValidationError as exc:
        for line in describe_settings_error(exc):
            typer.echo(f"rtw: invalid configuration: {line}", err=True)
        raise typer.Exit(2) from None


T = TypeVar("T")


def with_database(work: Callable[[Database], Awaitable[T]], *, require_current: bool = True) -> T:
    """Open the configured database, run `work`, close; one line and exit 1 on failure."""
    from services.runtime.database import DatabaseError, open_database

    settings = settings_or_exit()

    async def run() -> T:
        db = await open_database(
            settings.database, data_dir=settings.data_dir, require_current=require_current
        )
        try:
            return await work(db)
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except DatabaseError as exc:
        typer.echo(f"rtw: {exc}", err=True)
        raise typer.Exit(1) from None


def print_json(data: Any) -> None:
    """Pretty, stable JSON on stdout."""
    typer.echo(json.dumps(data, indent=2, sort_keys=True))


def connection_reason(exc: BaseException) -> str:
    """A few words for why a connection failed, from the SDK's long transport error."""
    text = str(exc)
    if re.search(r"ConnectionRefused|Connection refused", text):
        return "connection refused"
    if re.search(r"(?i)timed? ?out|deadline", text):
        return "timed out"
    if re.search(r"(?i)dns|resolve|lookup", text):
        return "cannot resolve the host name"
    if re.search(r"(?i)tls|certificate|handshake", text):
        return "TLS handshake failed"
    if re.search(r"(?i)unauthenticated|permission denied|api key", text):
        return "not authorised (check TEMPORAL_API_KEY)"
    return "connection failed"


#: Hosts where `rtw dev` can start the server a client command looks for.
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def start_server_advice(address: str) -> str:
    """What to run so that a client command finds Temporal at `address`: `rtw dev` on that
    port for a local address; for another host, only the variable to check."""
    host, _, port = address.rpartition(":")
    if host not in _LOCAL_HOSTS or not port.isdigit():
        return "check TEMPORAL_ADDRESS, or start a local stack with " + f"'{rtw_command()} dev'"
    options = "" if port == "7233" else f" --port {port}"
    return f"start one with '{rtw_command()} dev{options}' or set TEMPORAL_ADDRESS"


def typed_advice(message: str) -> str:
    """A message from a lower layer with its suggested `'rtw …'` commands written the way
    `rtw` can be typed here (`'.venv/bin/rtw …'` when it is not on PATH)."""
    return message.replace("'rtw ", f"'{rtw_command()} ")


def unreachable_message(address: str, exc: BaseException) -> str:
    """The one line a client command prints when Temporal cannot be reached."""
    return (
        f"rtw: cannot reach Temporal at {address}: {connection_reason(exc)}; "
        f"{start_server_advice(address)}"
    )


def run_client_command(body: Callable[[Client, Settings], Awaitable[int]]) -> NoReturn:
    """Connect, run `body(client, settings)` and exit with its code.

    An unreachable server, or one that goes away while the command waits, is one line on
    stderr and exit 1, never a traceback; the connection is retried only briefly
    (`CONNECT_RETRY_SECONDS`). Other Temporal errors are left to `body`.
    """
    from temporalio.runtime import Runtime, TelemetryConfig
    from temporalio.service import RPCError, RPCStatusCode

    from services.runtime.connection import DEFAULT_LOCAL_ADDRESS, ConfigurationError, connect
    from services.runtime.telemetry import CLI_SERVICE, start_telemetry

    settings = settings_or_exit()
    telemetry = start_telemetry(settings, service=CLI_SERVICE)
    address = settings.temporal.address or DEFAULT_LOCAL_ADDRESS

    async def main() -> int:
        try:
            client = await connect(
                settings.temporal,
                tracing=telemetry.enabled,
                # the SDK core's own retry warnings would print transport dumps on stdout
                runtime=Runtime(telemetry=TelemetryConfig(logging=None)),
                retry_for_seconds=CONNECT_RETRY_SECONDS,
                log_retries=False,
            )
        except ConfigurationError as exc:
            typer.echo(f"rtw: {exc}", err=True)
            return 2
        except RuntimeError as exc:
            typer.echo(unreachable_message(address, exc), err=True)
            return 1
        try:
            return await body(client, settings)
        except RPCError as exc:
            if exc.status is not RPCStatusCode.UNAVAILABLE:
                raise
            typer.echo(
                f"rtw: lost the connection to Temporal at {address}: {connection_reason(exc)}",
                err=True,
            )
            return 1

    raise typer.Exit(telemetry.run(main()))  # flushes spans before main()'s os._exit

"""`rtw gateway`: the HTTP gateway (order API, carrier webhooks, approvals inbox)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from services.cli._support import settings_or_exit


def gateway(
    port: Annotated[int | None, typer.Option(help="API port (env RTW_GATEWAY_PORT)")] = None,
    health_port: Annotated[
        int | None, typer.Option(help="serve /healthz and /readyz here (env RTW_HEALTH_PORT)")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Prometheus metrics port (env RTW_METRICS_PORT)")
    ] = None,
    openapi: Annotated[
        bool, typer.Option("--openapi", help="print the OpenAPI document and exit")
    ] = False,
) -> None:
    """Serve the HTTP gateway until SIGTERM/SIGINT, then finish in-flight requests."""
    from services.gateway import GatewayHost, GatewaySettings, openapi_document
    from services.gateway.middleware import RequestIdFilter
    from services.runtime.config import describe_settings_error
    from services.runtime.logs import configure_logging

    if openapi:
        typer.echo(json.dumps(openapi_document(), indent=2, sort_keys=True))
        raise typer.Exit(0)
    settings = settings_or_exit()
    try:
        gateway_settings = GatewaySettings()
    except ValidationError as exc:
        for line in describe_settings_error(exc, GatewaySettings):
            typer.echo(f"rtw: invalid configuration: {line}", err=True)
        raise typer.Exit(2) from None
    overrides: dict[str, Any] = {}
    if health_port is not None:
        overrides["health_port"] = health_port
    if metrics_port is not None:
        overrides["metrics_port"] = metrics_port
    settings = settings.model_copy(update=overrides)
    if port is not None:
        gateway_settings = gateway_settings.model_copy(update={"port": port})
    configure_logging(service="rtw-gateway", fmt=settings.log_format, level=settings.log_level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdFilter())
    raise typer.Exit(asyncio.run(GatewayHost(settings, gateway_settings).run()))

"""The FastAPI application: order API, carrier webhooks, approvals inbox."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.gateway import inbox, orders, webhooks
from services.gateway.context import Gateway
from services.gateway.errors import ApiError
from services.gateway.settings import GatewaySettings
from services.runtime.telemetry import service_version

DESCRIPTION = """Events into rtw over HTTP: submit orders, follow and decide them,
and receive signed carrier webhooks. Authenticate with `Authorization: Bearer <token>`
(tokens from `RTW_GATEWAY_TOKENS_FILE`); webhooks are authenticated by their signature."""


def create_app(gateway: Gateway | None, settings: GatewaySettings | None = None) -> FastAPI:
    """Build the app; `gateway` is None only to render the OpenAPI document."""
    from services.gateway.middleware import RequestContextMiddleware

    settings = settings or (gateway.settings if gateway else GatewaySettings())
    app = FastAPI(
        title="rtw gateway",
        version=service_version(),
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        # FastAPI's OpenTelemetry spans: a server span per request that continues an
        # incoming W3C `traceparent` (or starts the trace), on the process's provider
        # (services.runtime.telemetry). Its log records would carry request bodies: off.
        telemetry={"tracing": True, "logs": False, "metrics": False, "auto_configure": False},
    )
    app.state.gateway = gateway
    app.include_router(orders.router)
    app.include_router(webhooks.router)
    app.include_router(inbox.router)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(
            {"type": exc.kind, "detail": exc.detail}, status_code=exc.status, headers=headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "BadRequest" if exc.status_code == 400 else "HTTPError"
        return JSONResponse(
            {"type": kind, "detail": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "traceparent"],
        )
    app.add_middleware(RequestContextMiddleware)
    return app


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document (what `/openapi.json` serves; committed as docs/openapi.json)."""
    return create_app(None).openapi()

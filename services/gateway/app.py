"""The FastAPI application: order API, carrier webhooks, approvals inbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from services.gateway import (
    deliveries,
    inbox,
    live_inbox,
    order_events,
    orders,
    problems,
    webhooks,
)
from services.gateway.body_limit import BodyLimitMiddleware
from services.gateway.context import Gateway
from services.gateway.middleware import RequestContextMiddleware
from services.gateway.settings import GatewaySettings
from services.runtime.telemetry import service_version

DESCRIPTION = """Events into rtw over HTTP: submit orders, follow and decide them,
and receive signed carrier webhooks. Authenticate with `Authorization: Bearer <token>`
(tokens from `RTW_GATEWAY_TOKENS_FILE`); webhooks are authenticated by their signature.
Every error answer is `{"type", "detail"}` (a 422 adds `errors`, the invalid fields)."""

#: Swagger UI's files from the pinned `fastapi-offline` package: the docs page loads
#: nothing from outside the gateway (FastAPI's default page pulls them from a CDN).
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
DOCS_ASSETS_URL = "/docs/assets"


def create_app(gateway: Gateway | None, settings: GatewaySettings | None = None) -> FastAPI:
    """Build the app; `gateway` is None only to render the OpenAPI document."""
    settings = settings or (gateway.settings if gateway else GatewaySettings())
    app = FastAPI(
        title="rtw gateway",
        version=service_version(),
        description=DESCRIPTION,
        openapi_url="/openapi.json" if settings.docs else None,
        docs_url=None,
        redoc_url=None,
        # FastAPI's OpenTelemetry spans: a server span per request that continues an
        # incoming W3C `traceparent` (or starts the trace), on the process's provider
        # (services.runtime.telemetry). Its log records would carry request bodies: off.
        telemetry={"tracing": True, "logs": False, "metrics": False, "auto_configure": False},
    )
    app.state.gateway = gateway
    app.include_router(orders.router)
    app.include_router(order_events.router)
    app.include_router(webhooks.router)
    app.include_router(deliveries.router)
    app.include_router(live_inbox.router)
    app.include_router(inbox.router)
    problems.install(app)
    if settings.docs:
        _serve_docs(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problems.document_problems(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "traceparent"],
        )
    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.max_body_bytes,
        by_prefix={"/webhooks/": webhooks.MAX_BODY_BYTES},
    )
    app.add_middleware(RequestContextMiddleware)  # outermost: every answer has a request id
    return app


def _serve_docs(app: FastAPI) -> None:
    """`/docs`: Swagger UI with its assets served by the gateway itself."""
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="rtw gateway · API",
            swagger_js_url=f"{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS_URL}/favicon.png",
            oauth2_redirect_url=None,
            # no badge from the public validator service
            swagger_ui_parameters={"validatorUrl": None},
        )


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document (what `/openapi.json` serves; committed as docs/openapi.json)."""
    return create_app(None).openapi()

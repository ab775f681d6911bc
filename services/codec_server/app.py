"""Temporal's remote codec protocol over HTTP: `POST /encode`, `POST /decode`.

The Web UI (with its codec endpoint set) and `temporal … --codec-endpoint` send the payloads
they show here, as the JSON form of `temporal.api.common.v1.Payloads`, and get them back
decrypted (or encrypted). Callers must present an accepted bearer token; payload contents are
never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from services.codec_server.auth import Authenticator
from services.runtime.codec import CodecIntegrityError, CodecKeyError, EncryptionCodec

logger = logging.getLogger(__name__)

#: Headers the Web UI sends with codec requests.
ALLOWED_HEADERS = ["Authorization", "Content-Type", "X-Namespace"]


def _error(status: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def build_app(
    codec: EncryptionCodec,
    auth: Authenticator,
    *,
    cors_origins: Sequence[str],
    max_body_bytes: int = 4 * 1024 * 1024,
) -> FastAPI:
    """The codec server's ASGI app.

    Args:
        codec: the payload codec (the same keys file the workers use).
        auth: who may call (static tokens, forwarded access tokens).
        cors_origins: browser origins allowed to call (the Web UI's).
        max_body_bytes: larger request bodies are refused with 413.
    """
    app = FastAPI(title="rtw codec server", docs_url=None, redoc_url=None, openapi_url=None)

    async def transform(
        request: Request, convert: Callable[[Sequence[Payload]], Awaitable[list[Payload]]]
    ) -> Response:
        if not await auth.allows(request.headers.get("authorization")):
            logger.warning("refused a %s request: missing or wrong bearer token", request.url.path)
            return _error(401, "a valid bearer token is required")
        body = await request.body()
        if len(body) > max_body_bytes:
            return _error(413, f"body larger than {max_body_bytes} bytes")
        payloads = Payloads()
        try:
            json_format.Parse(body, payloads)
        except (json_format.ParseError, UnicodeDecodeError):
            return _error(400, 'body must be JSON of the form {"payloads": [...]}')
        try:
            converted = await convert(payloads.payloads)
        except (CodecKeyError, CodecIntegrityError) as exc:
            return _error(400, str(exc))
        text = json_format.MessageToJson(Payloads(payloads=converted))
        return Response(text, media_type="application/json")

    @app.post("/encode")
    async def encode(request: Request) -> Response:
        """Encrypt payloads with the active key."""
        return await transform(request, codec.encode)

    @app.post("/decode")
    async def decode(request: Request) -> Response:
        """Decrypt payloads with the keys they name; others come back unchanged."""
        return await transform(request, codec.decode)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness and readiness: the keys were read at start."""
        return {"status": "ok"}

    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(cors_origins),
        allow_methods=["POST"],
        allow_headers=ALLOWED_HEADERS,
        allow_credentials=True,
    )
    return app

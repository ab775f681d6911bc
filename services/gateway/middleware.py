"""Per-request context: a request id in every log line and on the request's span."""

from __future__ import annotations

import contextvars
import json
import logging
import time
import uuid

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("services.gateway.access")

#: The id of the request being served (for log records).
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "rtw_request_id", default=None
)

REQUEST_ID_HEADER = "x-request-id"


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to records written while a request is served."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = request_id_var.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


def _safe_request_id(value: str | None) -> str:
    """The caller's X-Request-Id when it is a sane token, else a fresh one."""
    if value and len(value) <= 128 and value.replace("-", "").replace("_", "").isalnum():
        return value
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """ASGI middleware: request id (header, span attribute, log records), access log."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = _safe_request_id(headers.get(REQUEST_ID_HEADER))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_code = 500
        responded = False

        async def send_with_id(message: Message) -> None:
            nonlocal status_code, responded
            if message["type"] == "http.response.start":
                status_code, responded = message["status"], True
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
            await send(message)

        # FastAPI's own telemetry has opened the server span (continuing `traceparent`)
        span = trace.get_current_span()
        span.set_attribute("rtw.request_id", request_id)
        try:
            await self._app(scope, receive, send_with_id)
        except Exception:
            # Logged here, with the request id; the client gets the documented shape.
            logger.exception("%s %s failed", scope["method"], scope["path"])
            if responded:
                raise
            await _internal_error(send_with_id, request_id)
        finally:
            logger.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status_code,
                extra={
                    "http_status": status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            request_id_var.reset(token)


async def _internal_error(send: Send, request_id: str) -> None:
    """A 500 in the gateway's error shape, naming the request id to look up in the log."""
    body = json.dumps(
        {
            "type": "InternalError",
            "detail": f"the gateway failed to answer this request (request id {request_id}); "
            "the error is in its log",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

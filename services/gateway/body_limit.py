"""A request body limit enforced while the body is read, for every route and encoding.

A declared `Content-Length` over the limit is answered 413 before the application runs; a
chunked body (no length) is counted as the application reads it and cut off at the limit,
so a request never costs more memory than the limit, whatever it claims. The 413 closes the
connection, so the rest of a large upload is not read: after a short linger (up to
`LINGER_BYTES` or `LINGER_SECONDS` of the upload read and dropped, as nginx's
`lingering_close` does), so that closing with unread bytes in the socket (a TCP reset) does
not destroy the 413 before a client that is still sending has read it.

Starlette 1.10 has a `RequestBodyLimitMiddleware` (FastAPI's `max_body_size`), but it
answers in plain text, outside the application's error handlers: this one answers with the
gateway's `{"type", "detail"}` and closes the connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

#: After a 413, at most this much more of the upload is read (and dropped), for at most
#: this long, before the connection is closed.
LINGER_BYTES = 1024 * 1024
LINGER_SECONDS = 2.0


class BodyTooLargeError(Exception):
    """Raised into the application when it reads past the limit."""


def too_large_message(limit: int) -> str:
    """The 413's sentence for a person."""
    return f"the request body is larger than {limit} bytes"


class BodyLimitMiddleware:
    """ASGI middleware: at most `limit` bytes of request body, or `by_prefix[p]` for paths
    under the prefix `p` (the longest matching prefix wins)."""

    def __init__(self, app: ASGIApp, *, limit: int, by_prefix: dict[str, int] | None = None):
        self._app = app
        self._limit = limit
        self._by_prefix = sorted((by_prefix or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        """The limit of a request path."""
        for prefix, limit in self._by_prefix:
            if path.startswith(prefix):
                return limit
        return self._limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            # A client waiting for `100 Continue` has sent nothing: no linger (reading
            # would make uvicorn send the `100 Continue`).
            await _answer_too_large(send, receive, limit, linger=not _expects_continue(scope))
            return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLargeError
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                # The application turned the error into an answer of its own (FastAPI makes
                # a failed body read a 400): the client gets the 413 instead.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _answer_too_large(send, receive, limit, linger=True)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._app(scope, limited_receive, guarded_send)
        except BodyTooLargeError:
            if started:
                raise
            started = True
            await _answer_too_large(send, receive, limit, linger=True)
        if exceeded:
            logger.warning(
                "%s %s: request body over %d bytes refused", scope["method"], scope["path"], limit
            )


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return str(value.decode("latin-1").strip())
    return None


def _content_length(scope: Scope) -> int | None:
    """The declared length (uvicorn has answered 400 to a malformed one already)."""
    text = _header(scope, b"content-length")
    return int(text) if text and text.isascii() and text.isdigit() else None


def _expects_continue(scope: Scope) -> bool:
    return (_header(scope, b"expect") or "").lower() == "100-continue"


async def _answer_too_large(send: Send, receive: Receive, limit: int, *, linger: bool) -> None:
    """413 in the gateway's error shape; `Connection: close` stops reading the upload.

    The whole answer goes out at once (its Content-Length tells the client it is complete);
    with `linger`, the response is held open while a bounded part of the upload is drained,
    since the connection closes when the response ends.
    """
    body = json.dumps({"type": "TooLarge", "detail": too_large_message(limit)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": linger})
    if not linger:
        return
    drained = 0
    deadline = time.monotonic() + LINGER_SECONDS
    try:
        while drained <= LINGER_BYTES and (left := deadline - time.monotonic()) > 0:
            async with asyncio.timeout(left):
                message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
            drained += len(message.get("body", b""))
    except TimeoutError:
        pass
    await send({"type": "http.response.body", "body": b""})

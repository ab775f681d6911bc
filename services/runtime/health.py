"""Startup, liveness and readiness over HTTP (`/healthz`, `/readyz`).

`/healthz` is 503 "starting" until the worker has connected to Temporal and found its
namespace, then 200 until a fatal error; `/readyz` is 200 only while the worker polls.

Served by a few lines of asyncio rather than a web framework: probes send one small GET
per connection, and every worker starts this server before anything else, so it must not
add an HTTP library's import time and memory to each worker's cold start.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from http import HTTPStatus

logger = logging.getLogger(__name__)

#: Seconds a client gets to send its request head before the connection is dropped.
REQUEST_TIMEOUT_SECONDS = 5.0

#: Longest request head read (request line and headers); longer ones are dropped.
MAX_REQUEST_HEAD = 8192


@dataclass
class HealthState:
    """What the probes report; the worker host flips these as it goes."""

    alive: bool = True
    started: bool = False
    ready: bool = False
    reason: str = field(default="starting")

    def mark_started(self) -> None:
        """Connected to Temporal and the namespace exists: the startup probe may pass."""
        self.started, self.reason = True, "connected"

    def mark_ready(self) -> None:
        """Connected and polling."""
        self.ready, self.reason = True, "polling"

    def mark_draining(self) -> None:
        """Shutting down: stop taking traffic, stay alive while in-flight work finishes."""
        self.ready, self.reason = False, "draining"

    def mark_fatal(self, reason: str) -> None:
        """The worker failed and will not recover on its own."""
        self.alive, self.ready, self.reason = False, False, reason


def probe_response(state: HealthState, method: str, path: str) -> tuple[int, dict[str, object]]:
    """Status code and JSON body of one request (`GET` or `HEAD`; query strings ignored)."""
    if method not in ("GET", "HEAD"):
        return 405, {"error": "method not allowed"}
    path = path.split("?", 1)[0]
    if path == "/healthz":
        # 503 "starting" until connected: the startup probe waits for it; liveness is only
        # probed after that, and fails from then on only on a fatal worker error.
        healthy = state.alive and state.started
        body: dict[str, object] = {
            "alive": state.alive,
            "started": state.started,
            "reason": state.reason,
        }
        return (200 if healthy else 503), body
    if path == "/readyz":
        return (200 if state.ready else 503), {"ready": state.ready, "reason": state.reason}
    return 404, {"error": "not found"}


class HealthServer:
    """An HTTP/1.1 server of the two probe paths on one port; use as an async context manager.

    One request per connection (`Connection: close`), which is how probes call.
    """

    def __init__(
        self,
        state: HealthState,
        *,
        host: str = "0.0.0.0",  # nosec B104  # the kubelet probes the pod IP; NetworkPolicy limits it
        port: int = 8080,
    ) -> None:
        self._state = state
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self.bound_port: int | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            status, body = probe_response(self._state, method, target)
            payload = json.dumps(body).encode()
            header = (
                f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
                "Content-Type: application/json; charset=utf-8\r\n"
                f"Content-Length: {len(payload)}\r\n"
                + ("Allow: GET, HEAD\r\n" if status == 405 else "")
                + "Connection: close\r\n\r\n"
            )
            writer.write(header.encode("latin-1") + (b"" if method == "HEAD" else payload))
            await writer.drain()
        except (
            TimeoutError,
            ValueError,
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            pass  # a client that went away or sent no HTTP request head: nothing to answer
        finally:
            writer.close()

    async def __aenter__(self) -> HealthServer:
        self._server = await asyncio.start_server(
            self._handle, self._host, self._port, limit=MAX_REQUEST_HEAD
        )
        sockets = self._server.sockets
        self.bound_port = int(sockets[0].getsockname()[1]) if sockets else self._port
        logger.info("health endpoints on :%s (/healthz, /readyz)", self.bound_port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

"""Startup, liveness and readiness over HTTP (`/healthz`, `/readyz`).

`/healthz` is 503 "starting" until the worker has connected to Temporal and found its
namespace, then 200 until a fatal error; `/readyz` is 200 only while the worker polls and
its dependencies (Temporal, the store) answer.

Served by the standard library's `http.server` on a thread of its own rather than a web
framework: every worker starts this server before anything else, and aiohttp cost each one
about 0.15 s and 12 MB before its first poll (`http.server`: about 0.03 s and 1 MB).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

logger = logging.getLogger(__name__)

#: Seconds a client gets to send its request before the connection is dropped.
REQUEST_TIMEOUT_SECONDS = 5.0


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

    def mark_unready(self, reason: str) -> None:
        """A dependency is away: take no traffic until it is back (still alive)."""
        self.ready, self.reason = False, reason

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


def _handler_for(state: HealthState) -> type[BaseHTTPRequestHandler]:
    """A request handler class answering the probes from `state`."""

    class ProbeHandler(BaseHTTPRequestHandler):
        timeout = REQUEST_TIMEOUT_SECONDS  # a slow or silent client is dropped
        protocol_version = "HTTP/1.1"

        def _answer(self, *, with_body: bool) -> None:
            status, body = probe_response(state, self.command, self.path)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            if status == 405:
                self.send_header("Allow", "GET, HEAD")
            self.send_header("Connection", "close")
            self.end_headers()
            if with_body:
                self.wfile.write(payload)
            self.close_connection = True  # one request per connection, as probes call

        def do_GET(self) -> None:
            self._answer(with_body=True)

        def do_HEAD(self) -> None:
            self._answer(with_body=False)

        def do_POST(self) -> None:
            self._answer(with_body=True)

        do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            """Probes every few seconds are not worth a log line."""

    return ProbeHandler


class HealthServer:
    """The two probe paths on one port, served from a daemon thread; use as an async
    context manager."""

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
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.bound_port: int | None = None

    async def __aenter__(self) -> HealthServer:
        self._server = ThreadingHTTPServer((self._host, self._port), _handler_for(self._state))
        self._server.daemon_threads = True
        self.bound_port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="rtw-health", daemon=True
        )
        self._thread.start()
        logger.info("health endpoints on :%s (/healthz, /readyz)", self.bound_port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await asyncio.to_thread(self._server.shutdown)
            self._server.server_close()

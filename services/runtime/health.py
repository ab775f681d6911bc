"""Startup, liveness and readiness over HTTP (`/healthz`, `/readyz`), served by aiohttp.

`/healthz` is 503 "starting" until the worker has connected to Temporal and found its
namespace, then 200 until a fatal error; `/readyz` is 200 only while the worker polls.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from aiohttp import web

logger = logging.getLogger(__name__)


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


class HealthServer:
    """A tiny aiohttp app bound to one port; use as an async context manager."""

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
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    def _app(self) -> web.Application:
        async def healthz(_: web.Request) -> web.Response:
            # 503 "starting" until connected: the startup probe waits for it; liveness is only
            # probed after that, and fails from then on only on a fatal worker error.
            healthy = self._state.alive and self._state.started
            return web.json_response(
                {
                    "alive": self._state.alive,
                    "started": self._state.started,
                    "reason": self._state.reason,
                },
                status=200 if healthy else 503,
            )

        async def readyz(_: web.Request) -> web.Response:
            status = 200 if self._state.ready else 503
            return web.json_response(
                {"ready": self._state.ready, "reason": self._state.reason}, status=status
            )

        app = web.Application()
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/readyz", readyz)
        return app

    async def __aenter__(self) -> HealthServer:
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        addresses = self._runner.addresses
        self.bound_port = int(addresses[0][1]) if addresses else self._port
        logger.info("health endpoints on :%s (/healthz, /readyz)", self.bound_port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

"""Run the gateway: health on its own port, connect to Temporal, serve HTTP until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from contextlib import AbstractAsyncContextManager
from types import FrameType

import uvicorn

from services.contracts import IDEMPOTENCY_KEY_ATTRIBUTE, TaskQueue
from services.gateway.app import create_app
from services.gateway.auth import TokenFileError, TokenStore
from services.gateway.context import Gateway
from services.gateway.readiness import GatewayReadiness, watch_temporal
from services.gateway.sessions import SessionKeyError, Sessions
from services.gateway.settings import GatewaySettings
from services.orchestration.search_attributes import missing_keywords
from services.runtime.config import Settings
from services.runtime.connection import connect
from services.runtime.health import HealthServer, HealthState
from services.runtime.telemetry import start_telemetry
from services.runtime.worker_host import FORCED_EXIT_CODE, build_runtime, serving_client

logger = logging.getLogger(__name__)

SERVICE = "rtw-gateway"
CONNECT_RETRY_SECONDS = 60.0


class _Server(uvicorn.Server):
    """uvicorn's server, turning readiness off as soon as a signal asks it to stop."""

    def __init__(self, config: uvicorn.Config, readiness: GatewayReadiness) -> None:
        super().__init__(config)
        self._readiness = readiness

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._readiness.serving()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:
            logger.warning("second %s: forcing exit", signal.Signals(sig).name)
            os._exit(FORCED_EXIT_CODE)
        logger.info("%s received: finishing in-flight requests", signal.Signals(sig).name)
        self._readiness.draining()
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal after a graceful stop; a drained gateway exits 0
        self._captured_signals.clear()


def read_secret(path: object) -> bytes:
    """A secret from a mounted file (trailing newline dropped); never logged."""
    try:
        with open(str(path), "rb") as handle:
            secret = handle.read().strip()
    except OSError as exc:
        raise TokenFileError(f"cannot read RTW_WEBHOOK_SECRET_FILE: {exc.strerror}") from exc
    if not secret:
        raise TokenFileError("RTW_WEBHOOK_SECRET_FILE is empty")
    return secret


class GatewayHost:
    """Owns the gateway process: probes, connection, HTTP server, drain on SIGTERM."""

    def __init__(self, settings: Settings, gateway: GatewaySettings) -> None:
        self._settings = settings
        self._gateway = gateway
        self.health = HealthState()

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT; in-flight requests get the graceful timeout."""
        if self._gateway.tokens_file is None:
            logger.error("RTW_GATEWAY_TOKENS_FILE is required: the API never runs without auth")
            return 2
        try:
            tokens = TokenStore(self._gateway.tokens_file)
            sessions = Sessions(
                tokens,
                key_file=self._gateway.session_key_file,
                lifetime_seconds=self._gateway.session_hours * 3600,
            )
            secret = (
                read_secret(self._gateway.webhook_secret_file)
                if self._gateway.webhook_secret_file
                else None
            )
        except (TokenFileError, SessionKeyError) as exc:
            logger.error("%s", exc)
            return 2
        if self._gateway.session_key_file is None:
            logger.info(
                "no RTW_GATEWAY_SESSION_KEY_FILE: inbox sessions are signed with a key derived "
                "from the tokens file (any change to it signs everyone out)"
            )
        if secret is None:
            logger.warning("no RTW_WEBHOOK_SECRET_FILE: carrier webhooks answer 503")
        telemetry = start_telemetry(self._settings, service=SERVICE)
        health_cm: AbstractAsyncContextManager[object] = (
            HealthServer(self.health, port=self._settings.health_port)
            if self._settings.health_port is not None
            else contextlib.nullcontext()
        )
        try:
            async with health_cm:
                return await self._serve(tokens, sessions, secret, tracing=telemetry.enabled)
        finally:
            await asyncio.to_thread(telemetry.shutdown)

    async def _serve(
        self, tokens: TokenStore, sessions: Sessions, secret: bytes | None, *, tracing: bool
    ) -> int:
        connecting = connect(
            self._settings.temporal,
            runtime=build_runtime(self._settings),
            retry_for_seconds=CONNECT_RETRY_SECONDS,
            tracing=tracing,
        )
        if (client := await serving_client(connecting, self.health)) is None:
            return 1
        self.health.mark_started()
        key_attribute = await missing_keywords(client, [IDEMPOTENCY_KEY_ATTRIBUTE]) == []
        if not key_attribute:
            logger.info(
                "search attribute %s is not registered as Keyword: sagas do not carry their "
                "Idempotency-Key as a search attribute (keys are still bound to their orders)",
                IDEMPOTENCY_KEY_ATTRIBUTE,
            )
        gateway = Gateway(
            client=client,
            settings=self._gateway,
            tokens=tokens,
            sessions=sessions,
            orchestration_queue=self._settings.queue_name(TaskQueue.ORCHESTRATION),
            webhook_secret=secret,
            customer_filter=self._settings.temporal.codec.keys_file is None,
            key_attribute=key_attribute,
        )
        config = uvicorn.Config(
            create_app(gateway),
            host=self._gateway.host,
            port=self._gateway.port,
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=int(self._gateway.graceful_shutdown_seconds) or None,
            # X-Forwarded-Proto/-For only from the proxies named in the settings (the
            # TLS-terminating ingress): the inbox's cookies are `Secure` behind it.
            proxy_headers=True,
            forwarded_allow_ips=self._gateway.trusted_proxies,
        )
        readiness = GatewayReadiness(self.health)
        server = _Server(config, readiness)
        logger.info(
            "gateway starting on http://%s:%s (Temporal %s, queue %s)",
            self._gateway.host,
            self._gateway.port,
            client.service_client.config.target_host,
            gateway.orchestration_queue,
        )
        watcher = asyncio.create_task(watch_temporal(client, readiness), name="rtw-temporal-check")
        try:
            await server.serve()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if not server.started:
            self.health.mark_fatal("HTTP server did not start")
            return 1
        logger.info("gateway stopped cleanly")
        return 0

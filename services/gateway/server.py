"""Run the gateway: health on its own port, connect to Temporal, serve HTTP until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn
from temporalio.client import Client

from services.contracts import IDEMPOTENCY_KEY_ATTRIBUTE, TaskQueue
from services.events import events_for
from services.gateway.app import create_app
from services.gateway.auth import TokenFileError, TokenStore
from services.gateway.context import Gateway
from services.gateway.events_hub import EventHub, listen_conninfo
from services.gateway.readiness import GatewayReadiness, watch_temporal
from services.gateway.sessions import SessionKeyError, Sessions
from services.gateway.settings import GatewaySettings
from services.orchestration.search_attributes import missing_keywords
from services.runtime.config import Settings
from services.runtime.connection import connect
from services.runtime.database import Database, DatabaseError, open_database
from services.runtime.health import HealthServer, HealthState
from services.runtime.telemetry import start_telemetry
from services.runtime.worker_host import FORCED_EXIT_CODE, build_runtime, serving_client
from services.webhooks import Endpoints, EndpointsFileError, deliveries_for

if TYPE_CHECKING:  # the dispatcher imports the gateway's hub: imported when started
    from services.webhooks.dispatcher import DispatchPolicy

logger = logging.getLogger(__name__)

SERVICE = "rtw-gateway"
CONNECT_RETRY_SECONDS = 60.0


class _Server(uvicorn.Server):
    """uvicorn's server, turning readiness off as soon as a signal asks it to stop."""

    def __init__(
        self, config: uvicorn.Config, readiness: GatewayReadiness, hub: EventHub | None
    ) -> None:
        super().__init__(config)
        self._readiness = readiness
        self._hub = hub

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
        if self._hub is not None:  # open event streams end; clients resume elsewhere
            self._hub.close()
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
        self._endpoints: Endpoints | None = None
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
            endpoints = (
                Endpoints(self._gateway.webhook_endpoints_file)
                if self._gateway.webhook_endpoints_file and self._gateway.events
                else None
            )
        except (TokenFileError, SessionKeyError, EndpointsFileError) as exc:
            logger.error("%s", exc)
            return 2
        self._endpoints = endpoints
        if self._gateway.webhook_endpoints_file and not self._gateway.events:
            logger.warning("RTW_WEBHOOK_ENDPOINTS_FILE is ignored: order events are off")
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
        readiness = GatewayReadiness(self.health)
        db: Database | None = None
        hub: EventHub | None = None
        if self._gateway.events:
            if (db := await self._open_store()) is None:
                return 1
            hub = EventHub(
                events_for(db),
                db,
                poll_seconds=self._gateway.events_poll_seconds,
                on_reader=readiness.reader,
                conninfo=listen_conninfo(db, self._settings.database),
            )
        try:
            return await self._serve_http(
                client, tokens, sessions, secret, key_attribute, readiness, db, hub
            )
        finally:
            if db is not None:
                await db.close()

    def _dispatch_policy(self) -> DispatchPolicy:
        from services.webhooks.dispatcher import DispatchPolicy

        g = self._gateway
        return DispatchPolicy(
            window=timedelta(hours=g.webhook_give_up_hours),
            first_retry_seconds=g.webhook_retry_seconds,
            max_retry_seconds=g.webhook_retry_max_seconds,
            timeout_seconds=g.webhook_timeout_seconds,
        )

    async def _open_store(self) -> Database | None:
        """The workers' database, for order events (retried for CONNECT_RETRY_SECONDS)."""
        settings = self._settings
        deadline = asyncio.get_running_loop().time() + CONNECT_RETRY_SECONDS
        while True:
            try:
                db = await open_database(settings.database, data_dir=settings.data_dir)
            except DatabaseError as exc:
                if asyncio.get_running_loop().time() > deadline:
                    self.health.mark_fatal(str(exc))
                    logger.error("order events need the workers' database: %s", exc)
                    return None
                logger.warning("waiting for the store (order events): %s", exc)
                await asyncio.sleep(2)
                continue
            logger.info("order events from %s %s", db.backend, db.where)
            return db

    async def _serve_http(
        self,
        client: Client,
        tokens: TokenStore,
        sessions: Sessions,
        secret: bytes | None,
        key_attribute: bool,
        readiness: GatewayReadiness,
        db: Database | None,
        hub: EventHub | None,
    ) -> int:
        gateway = Gateway(
            client=client,
            settings=self._gateway,
            tokens=tokens,
            sessions=sessions,
            orchestration_queue=self._settings.queue_name(TaskQueue.ORCHESTRATION),
            webhook_secret=secret,
            customer_filter=self._settings.temporal.codec.keys_file is None,
            key_attribute=key_attribute,
            db=db,
            events=hub.store if hub is not None else None,
            hub=hub,
            deliveries=deliveries_for(db) if db is not None and self._endpoints else None,
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
        server = _Server(config, readiness, hub)
        logger.info(
            "gateway starting on http://%s:%s (Temporal %s, queue %s)",
            self._gateway.host,
            self._gateway.port,
            client.service_client.config.target_host,
            gateway.orchestration_queue,
        )
        background = [
            asyncio.create_task(watch_temporal(client, readiness, db=db), name="rtw-checks")
        ]
        if hub is not None:
            background.append(asyncio.create_task(hub.run(), name="rtw-event-reader"))
        if gateway.deliveries is not None and self._endpoints is not None:
            from services.webhooks.dispatcher import Dispatcher

            dispatcher = Dispatcher(
                gateway.deliveries, self._endpoints, policy=self._dispatch_policy(), hub=hub
            )
            background.append(asyncio.create_task(dispatcher.run(), name="rtw-webhooks"))
            logger.info("outbound webhooks to %d endpoint(s)", len(self._endpoints.current()))
        try:
            await server.serve()
        finally:
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if not server.started:
            self.health.mark_fatal("HTTP server did not start")
            return 1
        logger.info("gateway stopped cleanly")
        return 0

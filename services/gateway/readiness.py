"""The gateway's readiness: serving HTTP, not draining, Temporal answering and, with order
events on, the store answering and its event reader connected.

Every route needs Temporal, so a replica whose Temporal connection does not answer should
leave the Service's endpoints until it does. One background task asks the server a cheap,
unbilled question (`GetSystemInfo`, what the SDK itself asks on connect) every
`CHECK_SECONDS`, whatever the probe rate; `/readyz` reads the last answer. Liveness stays
up meanwhile: a restart would not bring Temporal back.
"""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client

from services.runtime.database import Database
from services.runtime.dependencies import CHECK_SECONDS, check_store, check_temporal
from services.runtime.health import HealthState

logger = logging.getLogger(__name__)


class GatewayReadiness:
    """Combines what readiness depends on into the process's `HealthState`."""

    def __init__(self, health: HealthState) -> None:
        self._health = health
        self._serving = False
        self._draining = False
        self._temporal_error: str | None = None
        self._store_error: str | None = None
        self._reader_error: str | None = None

    @property
    def temporal_error(self) -> str | None:
        """Why Temporal is taken as down, or None while it answers."""
        return self._temporal_error

    def serving(self) -> None:
        """The HTTP server listens."""
        self._serving = True
        self._apply()

    def draining(self) -> None:
        """Shutting down: not ready from now on, whatever Temporal does."""
        self._draining = True
        self._health.mark_draining()

    def temporal(self, error: str | None) -> None:
        """The outcome of the latest check (None: Temporal answered)."""
        if error is not None and self._temporal_error is None:
            logger.warning("Temporal does not answer (%s): /readyz is 503 until it does", error)
        elif error is None and self._temporal_error is not None:
            logger.info("Temporal answers again: /readyz is 200")
        self._temporal_error = error
        self._apply()

    def store(self, error: str | None) -> None:
        """The outcome of the latest store check, or of the event reader (None: fine)."""
        if error is not None and self._store_error is None:
            logger.warning("the store does not answer (%s): /readyz is 503 until it does", error)
        elif error is None and self._store_error is not None:
            logger.info("the store answers again")
        self._store_error = error
        self._apply()

    def reader(self, error: str | None) -> None:
        """Whether the process's reader of new order events works (None) or why not."""
        self._reader_error = error
        self._apply()

    def _apply(self) -> None:
        if self._draining or not self._serving:
            return
        if self._temporal_error is not None:
            self._health.ready = False
            self._health.reason = f"Temporal unreachable: {self._temporal_error}"
        elif self._store_error is not None or self._reader_error is not None:
            self._health.ready = False
            self._health.reason = f"store unreachable: {self._store_error or self._reader_error}"
        else:
            self._health.mark_ready()


async def watch_temporal(
    client: Client,
    readiness: GatewayReadiness,
    *,
    db: Database | None = None,
    every: float = CHECK_SECONDS,
) -> None:
    """Check Temporal (and the store, when events are on) every `every` seconds until
    cancelled."""
    while True:
        if db is None:
            readiness.temporal(await check_temporal(client))
        else:
            temporal, store = await asyncio.gather(check_temporal(client), check_store(db))
            readiness.temporal(temporal)
            readiness.store(store)
        await asyncio.sleep(every)

"""The webhook dispatcher: delivers order events to the configured endpoints, signed, in
order per order, at least once, retried with backoff for the delivery window (24 h).

It runs in the gateway process (every replica; leases share the work) over the delivery
table: no Temporal workflow or activity per delivery, so webhooks cost no billable
Temporal actions, and a receiver that is down for a day costs a row per event, not a
workflow. A dispatcher that dies mid-delivery leaves a lease that expires; the delivery is
then made again (at least once: receivers dedupe by `Rtw-Event-Id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from dataclasses import dataclass
from datetime import timedelta

import aiohttp

from services.events.store import StoredEvent, now
from services.gateway.events_hub import EventHub, Item
from services.gateway.signing import SIGNATURE_HEADER, sign
from services.gateway.sse import event_payload
from services.runtime.telemetry import service_version
from services.webhooks.deliveries import Delivery, DeliveryStore
from services.webhooks.endpoints import Endpoint, Endpoints
from services.webhooks.targets import TargetRefusedError, refused_target, resolver_kwargs

logger = logging.getLogger(__name__)

EVENT_ID_HEADER = "Rtw-Event-Id"
EVENT_TYPE_HEADER = "Rtw-Event-Type"
#: Longest answer body read from a receiver (it is not used).
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class DispatchPolicy:
    """How deliveries are retried."""

    window: timedelta = timedelta(hours=24)
    first_retry_seconds: float = 1.0
    max_retry_seconds: float = 600.0
    timeout_seconds: float = 10.0
    lease: timedelta = timedelta(seconds=60)
    batch: int = 32
    tick_seconds: float = 1.0

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt `attempts + 1`: doubling, capped, with 20 % jitter."""
        base = min(self.first_retry_seconds * 2 ** max(attempts - 1, 0), self.max_retry_seconds)
        jitter: float = random.uniform(0.8, 1.2)  # nosec B311  # jitter, not security
        return float(base) * jitter


class Dispatcher:
    """Fans events out to deliveries and makes the due ones, until cancelled."""

    def __init__(
        self,
        store: DeliveryStore,
        endpoints: Endpoints,
        *,
        policy: DispatchPolicy | None = None,
        hub: EventHub | None = None,
    ) -> None:
        self._store = store
        self._endpoints = endpoints
        self._policy = policy or DispatchPolicy()
        self._hub = hub
        self._sessions: dict[tuple[str, bool], aiohttp.ClientSession] = {}

    async def run(self) -> None:
        """Deliver until cancelled; woken by new events (the hub) or every tick."""
        sub = self._hub.subscribe(None) if self._hub is not None else None
        try:
            while True:
                try:
                    await self.once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("webhook dispatch failed; retrying")
                await self._wait(sub.queue if sub is not None else None)
        finally:
            if sub is not None and self._hub is not None:
                self._hub.unsubscribe(sub)
            for session in self._sessions.values():
                await session.close()

    async def _wait(self, queue: asyncio.Queue[Item] | None) -> None:
        if queue is None:
            await asyncio.sleep(self._policy.tick_seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(queue.get(), timeout=self._policy.tick_seconds)
        while not queue.empty():
            queue.get_nowait()

    async def once(self) -> int:
        """One round: fan out new events, deliver what is due; how many were attempted."""
        endpoints = self._endpoints.current()
        while await self._store.fan_out(endpoints, window=self._policy.window) >= 500:
            pass
        attempted = 0
        while due := await self._store.claim(limit=self._policy.batch, lease=self._policy.lease):
            attempted += len(due)
            await asyncio.gather(*(self._deliver(d, e) for d, e in due))
        return attempted

    def _session(self, endpoint: Endpoint) -> aiohttp.ClientSession:
        key = (endpoint.id, endpoint.allow_private_network)
        if key not in self._sessions:
            connector = aiohttp.TCPConnector(
                **resolver_kwargs(allow_private=endpoint.allow_private_network)
            )
            self._sessions[key] = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._policy.timeout_seconds),
                headers={"User-Agent": f"rtw-webhooks/{service_version()}"},
            )
        return self._sessions[key]

    async def _deliver(self, delivery: Delivery, stored: StoredEvent) -> None:
        endpoint = self._endpoints.get(delivery.endpoint)
        if endpoint is None:
            await self._store.give_up(delivery, error="endpoint no longer configured", status=None)
            return
        status: int | None = None
        url = str(endpoint.url)
        error = refused_target(url, allow_private=endpoint.allow_private_network)
        if error is None:
            body = json.dumps(event_payload(stored), separators=(",", ":")).encode()
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(endpoint.secret.encode(), body),
                EVENT_ID_HEADER: delivery.event_id,
                EVENT_TYPE_HEADER: delivery.event_type,
            }
            try:
                async with self._session(endpoint).post(
                    url, data=body, headers=headers, allow_redirects=False
                ) as answer:
                    status = answer.status
                    await answer.content.read(MAX_ANSWER_BYTES)
            except TargetRefusedError as exc:
                error = str(exc)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if status is not None and 200 <= status < 300:
            await self._store.delivered(delivery, status)
            return
        reason = error or f"HTTP {status}"
        if now() - delivery.created_at >= self._policy.window:
            logger.warning(
                "webhook %s to %s failed for good: %s", delivery.event_id, endpoint.id, reason
            )
            await self._store.give_up(delivery, error=reason, status=status)
            return
        wait = self._policy.backoff(delivery.attempts + 1)
        await self._store.retry(
            delivery, error=reason, status=status, at=now() + timedelta(seconds=wait)
        )

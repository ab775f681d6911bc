"""One reader of new order events per gateway process, fanned out to every open stream.

With PostgreSQL the reader is a `LISTEN rtw_order_events` connection: the trigger of
migration 3 announces each event when its transaction commits, the hub reads that one row
and hands it to the streams that follow its order (and to the inbox's). No stream polls the
database or Temporal. With SQLite (`rtw dev`) one task polls the table every
`RTW_GATEWAY_EVENTS_POLL_SECONDS` for rows past the last position it saw.

Subscribers get `StoredEvent`s, `RESYNC` when the reader was interrupted and events may
have been missed (each stream then reads what it lacks from the store), and `CLOSED` when
the gateway shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from services.events.store import EventStore, StoredEvent
from services.runtime.database import Database, PostgresDatabase, postgres_conninfo
from services.runtime.migrations import EVENTS_CHANNEL

logger = logging.getLogger(__name__)

#: Sent to every subscriber when events may have been missed (reader reconnected).
RESYNC: Final = "resync"
#: Sent to every subscriber when the gateway shuts down.
CLOSED: Final = "closed"

Item = StoredEvent | str

#: Seconds between attempts to re-open a lost LISTEN connection.
RECONNECT_SECONDS = 1.0
#: Largest backlog a subscriber queue holds; a client that cannot keep up is resynced.
QUEUE_SIZE = 1000


@dataclass(eq=False)
class Subscription:
    """One stream's view of the hub: `order_id` None follows every order (the inbox)."""

    order_id: str | None
    queue: asyncio.Queue[Item] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))

    def put(self, item: Item) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:  # too slow: drop the backlog, let it read the store
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)


class EventHub:
    """Follows new order events for this process and fans them out to subscriptions."""

    def __init__(
        self,
        store: EventStore,
        db: Database,
        *,
        poll_seconds: float = 0.05,
        on_reader: Callable[[str | None], None] | None = None,
        conninfo: str | None = None,
    ) -> None:
        """`on_reader(error)` hears whether the reader works (None) or why not;
        `conninfo` is the PostgreSQL connection string for the LISTEN connection."""
        self._store = store
        self._db = db
        self._poll = poll_seconds
        self._on_reader = on_reader or (lambda _: None)
        self._conninfo = conninfo
        self._subs: dict[str | None, set[Subscription]] = {}
        self._closed = False

    @property
    def store(self) -> EventStore:
        """Where streams read what they lack."""
        return self._store

    @property
    def subscribers(self) -> int:
        """Open subscriptions in this process."""
        return sum(len(s) for s in self._subs.values())

    def subscribe(self, order_id: str | None) -> Subscription:
        """Follow `order_id` (None: every order) from now on."""
        sub = Subscription(order_id)
        if self._closed:
            sub.put(CLOSED)
        self._subs.setdefault(order_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop following."""
        subs = self._subs.get(sub.order_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.order_id]

    def close(self) -> None:
        """End every stream (the gateway drains)."""
        self._closed = True
        self._broadcast(CLOSED)

    def _broadcast(self, item: Item) -> None:
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.put(item)

    def _wants(self, order_id: str) -> bool:
        return bool(self._subs.get(order_id) or self._subs.get(None))

    def _deliver(self, stored: StoredEvent) -> None:
        for key in (stored.event.order_id, None):
            for sub in list(self._subs.get(key, ())):
                sub.put(stored)

    async def run(self) -> None:
        """Read new events until cancelled."""
        if isinstance(self._db, PostgresDatabase):
            await self._listen()
        else:
            await self._poll_table()

    async def _poll_table(self) -> None:
        position = await self._store.latest_position()
        self._on_reader(None)
        while True:
            await asyncio.sleep(self._poll)
            try:
                fresh = await self._store.since(position)
            except Exception as exc:  # the file locked or gone: say so, keep trying
                self._on_reader(f"cannot read order events: {exc}")
                continue
            self._on_reader(None)
            for stored in fresh:
                position = max(position, stored.position)
                if self._wants(stored.event.order_id):
                    self._deliver(stored)

    async def _listen(self) -> None:
        from psycopg import AsyncConnection

        conninfo = self._conninfo
        assert conninfo is not None
        first = True
        while True:
            try:
                conn = await AsyncConnection.connect(conninfo, autocommit=True, connect_timeout=5)
            except Exception as exc:
                self._on_reader(f"cannot LISTEN for order events: {exc}")
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            try:
                await conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                self._on_reader(None)
                if not first:  # whatever was announced while away is in the store
                    self._broadcast(RESYNC)
                first = False
                async for notify in conn.notifies():
                    await self._announced(notify.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("LISTEN connection lost (%s): reconnecting", exc)
                self._on_reader(f"LISTEN connection lost: {exc}")
                await asyncio.sleep(RECONNECT_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()

    async def _announced(self, payload: str) -> None:
        """One `<order_id> <seq>` notification: read that event if anyone follows it."""
        order_id, _, seq_text = payload.rpartition(" ")
        if not order_id or not seq_text.isdigit() or not self._wants(order_id):
            return
        try:
            found = await self._store.after(order_id, int(seq_text) - 1, limit=1)
        except Exception as exc:
            logger.warning("cannot read order event %s: %s", payload, exc)
            for key in (order_id, None):
                for sub in list(self._subs.get(key, ())):
                    sub.put(RESYNC)
            return
        for stored in found:
            self._deliver(stored)


def listen_conninfo(db: Database, settings: Any) -> str | None:
    """The LISTEN connection's connection string (PostgreSQL only)."""
    return postgres_conninfo(settings) if isinstance(db, PostgresDatabase) else None

"""Order events in the workers' shared database: written inside a step's own transaction,
read back in order by the gateway (SSE, the live inbox) and the webhook dispatcher.

`write_sqlite` / `write_postgres` add events to a transaction the caller holds open (the
ledger's, the reservation's, the claim's, the outbox's), so an event exists exactly when the
change it reports does. `(order_id, seq)` is unique and a repeated write is ignored, so a
retried or replayed step writes nothing twice. On PostgreSQL a trigger announces every new
row on `rtw_order_events` when its transaction commits (migration 3).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from services.contracts import OrderEvent, OrderEventType
from services.runtime.database import Database, PostgresDatabase, SqliteDatabase

if TYPE_CHECKING:  # psycopg loads with the pool, only when PostgreSQL is used
    from psycopg import AsyncConnection

_COLUMNS = "position, order_id, seq, type, occurred_at, recorded_at, data"
_SQLITE_INSERT = (
    "INSERT OR IGNORE INTO order_events (order_id, seq, type, occurred_at, recorded_at, data) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_PG_INSERT = (
    "INSERT INTO order_events (order_id, seq, type, occurred_at, recorded_at, data) "
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (order_id, seq) DO NOTHING"
)


def now() -> datetime:
    """The current UTC time (what `recorded_at` holds)."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """A UTC time as SQLite stores it: fixed width, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _row(event: OrderEvent, recorded: datetime) -> tuple[str, int, str, Any, Any, str]:
    return (
        event.order_id,
        event.seq,
        event.type.value,
        event.occurred_at,
        recorded,
        json.dumps(event.data, sort_keys=True, separators=(",", ":")),
    )


def write_sqlite(conn: sqlite3.Connection, events: Iterable[OrderEvent]) -> None:
    """Add `events` to the caller's open SQLite transaction (repeats ignored)."""
    recorded = now()
    for event in events:
        order, seq, kind, occurred, at, data = _row(event, recorded)
        conn.execute(_SQLITE_INSERT, (order, seq, kind, iso(occurred), iso(at), data))


async def write_postgres(conn: AsyncConnection[Any], events: Iterable[OrderEvent]) -> None:
    """Add `events` to the caller's open PostgreSQL transaction (repeats ignored)."""
    recorded = now()
    for event in events:
        await conn.execute(_PG_INSERT, _row(event, recorded))


def _time(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored: its global position and when it was recorded (committed)."""

    position: int
    event: OrderEvent
    recorded_at: datetime


def _stored(row: Sequence[Any]) -> StoredEvent:
    position, order_id, seq, kind, occurred, recorded, data = row
    return StoredEvent(
        position=int(position),
        event=OrderEvent(
            order_id=order_id,
            seq=int(seq),
            type=OrderEventType(kind),
            occurred_at=_time(occurred),
            data=json.loads(data),
        ),
        recorded_at=_time(recorded),
    )


#: Orders whose latest event is `order.awaiting_approval` (the approvals inbox).
_AWAITING = (
    f"SELECT {_COLUMNS} FROM order_events e WHERE e.type = 'order.awaiting_approval' "  # nosec B608
    "AND NOT EXISTS (SELECT 1 FROM order_events l WHERE l.order_id = e.order_id "
    "AND l.seq > e.seq) ORDER BY e.position"
)


class EventStore(Protocol):
    """Storage port of order events (`SqliteEvents`, `PostgresEvents`)."""

    async def record(self, events: Sequence[OrderEvent]) -> None:
        """Write `events` in a transaction of their own (repeats ignored)."""
        ...

    async def last_seq(self, order_id: str) -> int:
        """The highest seq recorded for `order_id` (0 for none)."""
        ...

    async def after(self, order_id: str, seq: int, *, limit: int = 1000) -> list[StoredEvent]:
        """`order_id`'s events with a seq above `seq`, in seq order."""
        ...

    async def since(self, position: int, *, limit: int = 1000) -> list[StoredEvent]:
        """Every order's events past `position`, in position order."""
        ...

    async def latest_position(self) -> int:
        """The highest position recorded (0 for none)."""
        ...

    async def of_orders(self, order_ids: Sequence[str]) -> list[StoredEvent]:
        """All events of these orders, in position order."""
        ...

    async def awaiting_approval(self) -> list[StoredEvent]:
        """The `order.awaiting_approval` event of every order still waiting."""
        ...


class _Queries:
    """The reads both stores answer with the same SQL (`?` placeholders; PostgreSQL's
    `_select` turns them into `%s`)."""

    async def _select(self, sql: str, params: Sequence[Any]) -> list[StoredEvent]:
        raise NotImplementedError

    async def after(self, order_id: str, seq: int, *, limit: int = 1000) -> list[StoredEvent]:
        return await self._select(
            f"SELECT {_COLUMNS} FROM order_events WHERE order_id = ? AND seq > ? "  # nosec B608
            "ORDER BY seq LIMIT ?",
            (order_id, seq, limit),
        )

    async def since(self, position: int, *, limit: int = 1000) -> list[StoredEvent]:
        return await self._select(
            f"SELECT {_COLUMNS} FROM order_events WHERE position > ? "  # nosec B608
            "ORDER BY position LIMIT ?",
            (position, limit),
        )

    async def of_orders(self, order_ids: Sequence[str]) -> list[StoredEvent]:
        if not order_ids:
            return []
        marks = ",".join("?" * len(order_ids))
        return await self._select(
            f"SELECT {_COLUMNS} FROM order_events WHERE order_id IN ({marks}) "  # nosec B608
            "ORDER BY position",
            list(order_ids),
        )

    async def awaiting_approval(self) -> list[StoredEvent]:
        return await self._select(_AWAITING, ())


class SqliteEvents(_Queries):
    """`EventStore` on the embedded SQLite file."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def record(self, events: Sequence[OrderEvent]) -> None:
        def work(c: sqlite3.Connection) -> None:
            c.execute("BEGIN IMMEDIATE")
            try:
                write_sqlite(c, events)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

        if events:
            await self._db.run(work)

    async def last_seq(self, order_id: str) -> int:
        row = await self._db.run(
            lambda c: c.execute(
                "SELECT coalesce(max(seq), 0) FROM order_events WHERE order_id = ?", (order_id,)
            ).fetchone()
        )
        return int(row[0])

    async def _select(self, sql: str, params: Sequence[Any]) -> list[StoredEvent]:
        rows = await self._db.run(lambda c: c.execute(sql, params).fetchall())
        return [_stored(r) for r in rows]

    async def latest_position(self) -> int:
        row = await self._db.run(
            lambda c: c.execute("SELECT coalesce(max(position), 0) FROM order_events").fetchone()
        )
        return int(row[0])


class PostgresEvents(_Queries):
    """`EventStore` on the shared PostgreSQL."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._pool = db.pool

    async def record(self, events: Sequence[OrderEvent]) -> None:
        if not events:
            return
        async with self._pool.connection() as conn, conn.transaction():
            await write_postgres(conn, events)

    async def last_seq(self, order_id: str) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT coalesce(max(seq), 0) FROM order_events WHERE order_id = %s", (order_id,)
            )
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _select(self, sql: str, params: Sequence[Any]) -> list[StoredEvent]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql.replace("?", "%s").encode(), params)
            rows = await cur.fetchall()
        return [_stored(r) for r in rows]

    async def latest_position(self) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT coalesce(max(position), 0) FROM order_events")
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def of_orders(self, order_ids: Sequence[str]) -> list[StoredEvent]:
        # One array parameter, however many orders (the shared query spells one `?` each).
        if not order_ids:
            return []
        return await self._select(
            f"SELECT {_COLUMNS} FROM order_events WHERE order_id = ANY(?) "  # nosec B608
            "ORDER BY position",
            (list(order_ids),),
        )


def events_for(db: Database) -> EventStore:
    """The event store of the configured database."""
    return PostgresEvents(db) if isinstance(db, PostgresDatabase) else SqliteEvents(db)

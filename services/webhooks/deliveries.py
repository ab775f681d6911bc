"""Webhook deliveries in the workers' database: made from the order events, leased to one
dispatcher at a time, retried with backoff, given up after the delivery window.

- `fan_out` turns events not yet fanned out into one delivery per endpoint that wants their
  type (`order_events.fanned_out`, not a cursor: an event committed late is still found).
- `claim` leases due deliveries, only the oldest undelivered one of each (endpoint, order),
  so each order's events reach an endpoint in seq order; several dispatchers (gateway
  replicas) share the work (`FOR UPDATE SKIP LOCKED` on PostgreSQL, `BEGIN IMMEDIATE` on
  SQLite), and a lease that expires (its dispatcher died) makes the delivery due again.
- A delivery still failing when its window (24 h) has passed is `failed`, and so is every
  later one of that order for that endpoint (never delivered out of order); `replay` makes
  them pending again (all of an order's for an endpoint at once, so they go in order).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from services.contracts import OrderEvent, OrderEventType
from services.events.store import StoredEvent, iso, now
from services.runtime.database import Database, PostgresDatabase, SqliteDatabase
from services.webhooks.endpoints import Endpoint

_COLUMNS = (
    "d.id, d.endpoint, d.order_id, d.seq, d.event_type, d.state, d.attempts, "
    "d.next_attempt_at, d.last_error, d.last_status, d.created_at, d.delivered_at"
)
_EVENT = "e.position, e.occurred_at, e.recorded_at, e.data"
#: Due, not leased, and the oldest undelivered one of its (endpoint, order).
_DUE = (
    "d.state = 'pending' AND d.next_attempt_at <= ? AND (d.lease_until IS NULL OR "
    "d.lease_until < ?) AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE "
    "p.endpoint = d.endpoint AND p.order_id = d.order_id AND p.seq < d.seq AND "
    "p.state <> 'delivered')"
)


def _time(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


@dataclass(frozen=True)
class Delivery:
    """One event for one endpoint."""

    id: int
    endpoint: str
    order_id: str
    seq: int
    event_type: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    last_status: int | None
    created_at: datetime
    delivered_at: datetime | None

    @property
    def event_id(self) -> str:
        """`<order_id>:<seq>`, the `Rtw-Event-Id` header."""
        return f"{self.order_id}:{self.seq}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "event_id": self.event_id,
            "order_id": self.order_id,
            "seq": self.seq,
            "event_type": self.event_type,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at.isoformat(),
            "last_error": self.last_error,
            "last_status": self.last_status,
            "created_at": self.created_at.isoformat(),
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
        }


def _delivery(row: Sequence[Any]) -> Delivery:
    ident, endpoint, order, seq, kind, state, attempts, due, error, status, created, done = row
    due_at, created_at = _time(due), _time(created)
    assert due_at is not None
    assert created_at is not None
    return Delivery(
        int(ident), endpoint, order, int(seq), kind, state, int(attempts), due_at,
        error, status, created_at, _time(done),
    )  # fmt: skip


def _due(row: Sequence[Any]) -> tuple[Delivery, StoredEvent]:
    delivery = _delivery(row[:12])
    position, occurred, recorded, data = row[12:]
    occurred_at, recorded_at = _time(occurred), _time(recorded)
    assert occurred_at is not None
    assert recorded_at is not None
    event = OrderEvent(
        order_id=delivery.order_id,
        seq=delivery.seq,
        type=OrderEventType(delivery.event_type),
        occurred_at=occurred_at,
        data=json.loads(data),
    )
    return delivery, StoredEvent(int(position), event, recorded_at)


class DeliveryStore(Protocol):
    """Storage port of webhook deliveries (`SqliteDeliveries`, `PostgresDeliveries`)."""

    async def fan_out(self, endpoints: Sequence[Endpoint], *, window: timedelta) -> int:
        """Make deliveries of events not yet fanned out; how many events were looked at."""
        ...

    async def claim(self, *, limit: int, lease: timedelta) -> list[tuple[Delivery, StoredEvent]]:
        """Lease up to `limit` due deliveries, each with its event."""
        ...

    async def delivered(self, delivery: Delivery, status: int) -> None:
        """The endpoint answered 2xx."""
        ...

    async def retry(
        self, delivery: Delivery, *, error: str, status: int | None, at: datetime
    ) -> None:
        """Failed this time; due again at `at`."""
        ...

    async def give_up(self, delivery: Delivery, *, error: str, status: int | None) -> None:
        """Failed past the window: `failed`, with every later one of its order/endpoint."""
        ...

    async def listing(
        self, *, state: str | None, endpoint: str | None, order_id: str | None, limit: int
    ) -> list[Delivery]:
        """Deliveries, oldest first."""
        ...

    async def replay(
        self, *, delivery_id: int | None, endpoint: str | None, order_id: str | None
    ) -> list[Delivery]:
        """Make failed deliveries pending again (one id with every failed one of its order
        for its endpoint, so they still go in order; or every failed one matching the
        filters); the ones replayed."""
        ...


def _fan_rows(
    events: Sequence[tuple[int, str, int, str, datetime]],
    endpoints: Sequence[Endpoint],
    *,
    window: timedelta,
    at: datetime,
) -> list[tuple[str, str, int, str]]:
    """(endpoint, order, seq, type) of the deliveries to make; events older than the window
    (webhooks were off, or no dispatcher ran) make none."""
    rows = []
    for _, order_id, seq, kind, recorded in events:
        if at - recorded > window:
            continue
        rows += [(e.id, order_id, seq, kind) for e in endpoints if e.wants(kind)]
    return rows


def _filters(endpoint: str | None, order_id: str | None, mark: str) -> tuple[str, list[object]]:
    where: list[str] = []
    params: list[object] = []
    if endpoint is not None:
        where.append(f"d.endpoint = {mark}")
        params.append(endpoint)
    if order_id is not None:
        where.append(f"d.order_id = {mark}")
        params.append(order_id)
    return "".join(f" AND {w}" for w in where), params


class SqliteDeliveries:
    """`DeliveryStore` on the embedded SQLite file."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def _tx(self, work: Any) -> Any:
        def run(c: sqlite3.Connection) -> Any:
            c.execute("BEGIN IMMEDIATE")
            try:
                result = work(c)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            return result

        return await self._db.run(run)

    async def fan_out(self, endpoints: Sequence[Endpoint], *, window: timedelta) -> int:
        at = now()

        def work(c: sqlite3.Connection) -> int:
            found = [
                (int(p), o, int(s), t, datetime.fromisoformat(r))
                for p, o, s, t, r in c.execute(
                    "SELECT position, order_id, seq, type, recorded_at FROM order_events "
                    "WHERE NOT fanned_out ORDER BY position LIMIT 500"
                )
            ]
            for endpoint, order_id, seq, kind in _fan_rows(found, endpoints, window=window, at=at):
                c.execute(
                    "INSERT OR IGNORE INTO webhook_deliveries (endpoint, order_id, seq, "
                    "event_type, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (endpoint, order_id, seq, kind, iso(at), iso(at)),
                )
            c.executemany(
                "UPDATE order_events SET fanned_out = 1 WHERE position = ?",
                [(p,) for p, *_ in found],
            )
            return len(found)

        result: int = await self._tx(work)
        return result

    async def claim(self, *, limit: int, lease: timedelta) -> list[tuple[Delivery, StoredEvent]]:
        at = now()

        def work(c: sqlite3.Connection) -> list[tuple[Delivery, StoredEvent]]:
            rows = c.execute(
                f"SELECT {_COLUMNS}, {_EVENT} FROM webhook_deliveries d JOIN order_events e "  # nosec B608
                f"ON e.order_id = d.order_id AND e.seq = d.seq WHERE {_DUE} "
                "ORDER BY d.next_attempt_at, d.id LIMIT ?",
                (iso(at), iso(at), limit),
            ).fetchall()
            c.executemany(
                "UPDATE webhook_deliveries SET lease_until = ? WHERE id = ?",
                [(iso(at + lease), r[0]) for r in rows],
            )
            return [_due(r) for r in rows]

        result: list[tuple[Delivery, StoredEvent]] = await self._tx(work)
        return result

    async def delivered(self, delivery: Delivery, status: int) -> None:
        await self._tx(
            lambda c: c.execute(
                "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, "
                "delivered_at = ?, lease_until = NULL, last_status = ?, last_error = NULL "
                "WHERE id = ?",
                (iso(now()), status, delivery.id),
            )
        )

    async def retry(
        self, delivery: Delivery, *, error: str, status: int | None, at: datetime
    ) -> None:
        await self._tx(
            lambda c: c.execute(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?, "
                "lease_until = NULL, last_error = ?, last_status = ? WHERE id = ?",
                (iso(at), error, status, delivery.id),
            )
        )

    async def give_up(self, delivery: Delivery, *, error: str, status: int | None) -> None:
        def work(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE webhook_deliveries SET state = 'failed', attempts = attempts + 1, "
                "lease_until = NULL, last_error = ?, last_status = ? WHERE id = ?",
                (error, status, delivery.id),
            )
            c.execute(
                "UPDATE webhook_deliveries SET state = 'failed', last_error = ? WHERE "
                "endpoint = ? AND order_id = ? AND seq > ? AND state = 'pending'",
                (f"not sent: {delivery.event_id} failed before it", delivery.endpoint,
                 delivery.order_id, delivery.seq),
            )  # fmt: skip

        await self._tx(work)

    async def listing(
        self, *, state: str | None, endpoint: str | None, order_id: str | None, limit: int
    ) -> list[Delivery]:
        where, params = _filters(endpoint, order_id, "?")
        if state is not None:
            where += " AND d.state = ?"
            params.append(state)
        rows = await self._db.run(
            lambda c: c.execute(
                f"SELECT {_COLUMNS} FROM webhook_deliveries d WHERE 1 = 1{where} "  # nosec B608
                "ORDER BY d.id LIMIT ?",
                [*params, limit],
            ).fetchall()
        )
        return [_delivery(r) for r in rows]

    async def replay(
        self, *, delivery_id: int | None, endpoint: str | None, order_id: str | None
    ) -> list[Delivery]:
        at = iso(now())

        def work(c: sqlite3.Connection) -> list[Delivery]:
            if delivery_id is not None:
                first = c.execute(
                    "SELECT endpoint, order_id, seq FROM webhook_deliveries WHERE id = ? "
                    "AND state = 'failed'",
                    (delivery_id,),
                ).fetchone()
                if first is None:
                    return []
                where = " AND d.endpoint = ? AND d.order_id = ?"
                params: list[object] = list(first[:2])
            else:
                where, params = _filters(endpoint, order_id, "?")
            rows = c.execute(
                f"SELECT {_COLUMNS} FROM webhook_deliveries d WHERE d.state = 'failed'"  # nosec B608
                f"{where} ORDER BY d.id",
                params,
            ).fetchall()
            c.executemany(
                "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = ?, "
                "created_at = ?, lease_until = NULL WHERE id = ?",
                [(at, at, r[0]) for r in rows],
            )
            return [_delivery(r) for r in rows]

        result: list[Delivery] = await self._tx(work)
        return result


class PostgresDeliveries:
    """`DeliveryStore` on the shared PostgreSQL (several gateway replicas at once)."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._pool = db.pool

    async def fan_out(self, endpoints: Sequence[Endpoint], *, window: timedelta) -> int:
        at = now()
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT position, order_id, seq, type, recorded_at FROM order_events "
                "WHERE NOT fanned_out ORDER BY position LIMIT 500 FOR UPDATE SKIP LOCKED"
            )
            found = [(int(p), o, int(s), t, r) for p, o, s, t, r in await cur.fetchall()]
            rows = _fan_rows(found, endpoints, window=window, at=at)
            if rows:
                async with conn.cursor() as many:
                    await many.executemany(
                        "INSERT INTO webhook_deliveries (endpoint, order_id, seq, event_type, "
                        "next_attempt_at, created_at) VALUES (%s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT DO NOTHING",
                        [(*row, at, at) for row in rows],
                    )
            if found:
                await conn.execute(
                    "UPDATE order_events SET fanned_out = true WHERE position = ANY(%s)",
                    ([p for p, *_ in found],),
                )
        return len(found)

    async def claim(self, *, limit: int, lease: timedelta) -> list[tuple[Delivery, StoredEvent]]:
        at = now()
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                (
                    f"SELECT {_COLUMNS}, {_EVENT} FROM webhook_deliveries d JOIN order_events e "  # nosec B608
                    f"ON e.order_id = d.order_id AND e.seq = d.seq WHERE {_DUE} "
                    "ORDER BY d.next_attempt_at, d.id LIMIT %s FOR UPDATE OF d SKIP LOCKED"
                ).replace("?", "%s"),
                (at, at, limit),
            )
            rows = await cur.fetchall()
            if rows:
                await conn.execute(
                    "UPDATE webhook_deliveries SET lease_until = %s WHERE id = ANY(%s)",
                    (at + lease, [r[0] for r in rows]),
                )
        return [_due(r) for r in rows]

    async def _exec(self, sql: str, params: Sequence[object]) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(sql.encode(), params)

    async def delivered(self, delivery: Delivery, status: int) -> None:
        await self._exec(
            "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, "
            "delivered_at = %s, lease_until = NULL, last_status = %s, last_error = NULL "
            "WHERE id = %s",
            (now(), status, delivery.id),
        )

    async def retry(
        self, delivery: Delivery, *, error: str, status: int | None, at: datetime
    ) -> None:
        await self._exec(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = %s, "
            "lease_until = NULL, last_error = %s, last_status = %s WHERE id = %s",
            (at, error, status, delivery.id),
        )

    async def give_up(self, delivery: Delivery, *, error: str, status: int | None) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                "UPDATE webhook_deliveries SET state = 'failed', attempts = attempts + 1, "
                "lease_until = NULL, last_error = %s, last_status = %s WHERE id = %s",
                (error, status, delivery.id),
            )
            await conn.execute(
                "UPDATE webhook_deliveries SET state = 'failed', last_error = %s WHERE "
                "endpoint = %s AND order_id = %s AND seq > %s AND state = 'pending'",
                (f"not sent: {delivery.event_id} failed before it", delivery.endpoint,
                 delivery.order_id, delivery.seq),
            )  # fmt: skip

    async def listing(
        self, *, state: str | None, endpoint: str | None, order_id: str | None, limit: int
    ) -> list[Delivery]:
        where, params = _filters(endpoint, order_id, "%s")
        if state is not None:
            where += " AND d.state = %s"
            params.append(state)
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM webhook_deliveries d WHERE true{where} "  # nosec B608
                "ORDER BY d.id LIMIT %s".encode(),
                [*params, limit],
            )
            return [_delivery(r) for r in await cur.fetchall()]

    async def replay(
        self, *, delivery_id: int | None, endpoint: str | None, order_id: str | None
    ) -> list[Delivery]:
        at = now()
        async with self._pool.connection() as conn, conn.transaction():
            if delivery_id is not None:
                cur = await conn.execute(
                    "SELECT endpoint, order_id, seq FROM webhook_deliveries WHERE id = %s "
                    "AND state = 'failed' FOR UPDATE",
                    (delivery_id,),
                )
                first = await cur.fetchone()
                if first is None:
                    return []
                where = " AND d.endpoint = %s AND d.order_id = %s"
                params: list[object] = list(first[:2])
            else:
                where, params = _filters(endpoint, order_id, "%s")
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM webhook_deliveries d WHERE d.state = 'failed'"  # nosec B608
                f"{where} ORDER BY d.id FOR UPDATE".encode(),
                params,
            )
            rows = await cur.fetchall()
            if rows:
                await conn.execute(
                    "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = %s, "
                    "created_at = %s, lease_until = NULL WHERE id = ANY(%s)",
                    (at, at, [r[0] for r in rows]),
                )
        return [_delivery(r) for r in rows]


def deliveries_for(db: Database) -> DeliveryStore:
    """The delivery store of the configured database."""
    return PostgresDeliveries(db) if isinstance(db, PostgresDatabase) else SqliteDeliveries(db)

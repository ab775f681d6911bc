"""The outbox channel: each message stored once per dedupe key, for a relay to deliver.

SQLite (embedded) and PostgreSQL (shared) backends; `dedupe_key` is unique in the table,
so a retried or duplicated send never stores a second row, whichever replica runs it.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from services.contracts import NotificationRequest
from services.events.store import write_postgres, write_sqlite
from services.runtime.database import Database, PostgresDatabase, SqliteDatabase


def _row(message: NotificationRequest) -> tuple[str, str, str, str | None, str, str]:
    return (
        message.dedupe_key,
        message.kind.value,
        message.customer_id,
        message.order_id,
        json.dumps(message.model_dump(mode="json", exclude={"events"}), sort_keys=True),
        datetime.now(UTC).isoformat(timespec="milliseconds"),
    )


def _message(stored: str, created_at: str | datetime) -> dict[str, Any]:
    at = created_at if isinstance(created_at, str) else created_at.isoformat()
    return {**json.loads(stored), "delivered_at": at}


class SqliteOutbox:
    """Outbox in the embedded SQLite file."""

    name = "outbox"

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def deliver(self, message: NotificationRequest) -> bool:
        row = _row(message)

        def work(c: sqlite3.Connection) -> bool:
            c.execute("BEGIN IMMEDIATE")
            try:
                cur = c.execute(
                    "INSERT OR IGNORE INTO outbox (dedupe_key, kind, customer_id, order_id, "
                    "message, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    row,
                )
                write_sqlite(c, message.events)  # with the message; repeats ignored
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            return bool(cur.rowcount)

        return await self._db.run(work)

    async def delivered(self, *, order_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT message, created_at FROM outbox"
        params: tuple[str, ...] = ()
        if order_id is not None:
            sql, params = sql + " WHERE order_id = ?", (order_id,)
        rows = await self._db.run(lambda c: c.execute(sql + " ORDER BY seq", params).fetchall())
        return [_message(m, at) for m, at in rows]


class PostgresOutbox:
    """Outbox in the shared PostgreSQL."""

    name = "outbox"

    def __init__(self, db: PostgresDatabase) -> None:
        self._pool = db.pool

    async def deliver(self, message: NotificationRequest) -> bool:
        key, kind, customer, order, body, at = _row(message)
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "INSERT INTO outbox (dedupe_key, kind, customer_id, order_id, message, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (dedupe_key) DO NOTHING RETURNING seq",
                (key, kind, customer, order, body, datetime.fromisoformat(at)),
            )
            stored = await cur.fetchone() is not None
            await write_postgres(conn, message.events)  # with the message; repeats ignored
            return stored

    async def delivered(self, *, order_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT message, created_at FROM outbox"
        params: tuple[str, ...] = ()
        if order_id is not None:
            sql, params = sql + " WHERE order_id = %s", (order_id,)
        async with self._pool.connection() as conn:
            cur = await conn.execute((sql + " ORDER BY seq").encode(), params)
            return [_message(m, at) for m, at in await cur.fetchall()]


Outbox = SqliteOutbox | PostgresOutbox


def outbox_for(db: Database) -> Outbox:
    """The outbox backend of the configured database."""
    return PostgresOutbox(db) if isinstance(db, PostgresDatabase) else SqliteOutbox(db)

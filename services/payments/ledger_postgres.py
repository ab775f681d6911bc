"""The payments ledger in the shared PostgreSQL: every replica sees every movement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from services.contracts import OrderEvent
from services.events.store import write_postgres
from services.payments.ledger import (
    EntryKind,
    LedgerEntry,
    OrderTotals,
    check_transition,
)
from services.payments.ledger_sql import (
    COLUMNS,
    DANGLING_AUTHORIZATIONS,
    SAGA_CAPTURE_TOTALS,
    SELECT,
    entries_query,
    violation_of_unique,
)
from services.runtime.database import PostgresDatabase

if TYPE_CHECKING:  # psycopg loads with the pool, only when PostgreSQL is used
    from psycopg import AsyncConnection

#: Constant SQL (module constants only; values are bound parameters).
_INSERT = (
    "INSERT INTO ledger (key, order_id, kind, amount_cents, currency, "  # nosec B608
    "provider_ref, created_at, parent_key) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
    f"ON CONFLICT (key) DO NOTHING RETURNING {COLUMNS}"
)


def _pg(sql: str) -> bytes:
    """A shared query with PostgreSQL's placeholders."""
    return sql.replace("?", "%s").encode()


def _iso(value: datetime | str) -> str:
    return value if isinstance(value, str) else value.isoformat(timespec="milliseconds")


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    key, order_id, kind, amount, currency, ref, created, parent = row
    return LedgerEntry(key, order_id, EntryKind(kind), amount, currency, ref, _iso(created), parent)


async def _one(conn: AsyncConnection[Any], sql: str, params: tuple[Any, ...]) -> LedgerEntry | None:
    cur = await conn.execute(sql, params)
    row = await cur.fetchone()
    return _entry(row) if row else None


async def _children(conn: AsyncConnection[Any], parent_key: str) -> list[LedgerEntry]:
    cur = await conn.execute(f"{SELECT} WHERE parent_key = %s ORDER BY seq", (parent_key,))
    return [_entry(r) for r in await cur.fetchall()]


async def _check(
    conn: AsyncConnection[Any], entry: LedgerEntry, *, lock: bool
) -> LedgerEntry | None:
    parent = None
    siblings: list[LedgerEntry] = []
    if entry.parent_key:
        # FOR UPDATE serialises every movement on one authorization (or capture) across
        # all replicas: the second capture waits, then sees the first and is refused.
        parent = await _one(
            conn,
            f"{SELECT} WHERE key = %s" + (" FOR UPDATE" if lock else ""),
            (entry.parent_key,),
        )
        siblings = await _children(conn, entry.parent_key)
    existing = await _one(conn, f"{SELECT} WHERE key = %s", (entry.key,))
    return check_transition(entry, existing=existing, parent=parent, siblings=siblings)


class PostgresLedger:
    """`Ledger` on the shared PostgreSQL."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._pool = db.pool

    async def get(self, key: str) -> LedgerEntry | None:
        async with self._pool.connection() as conn:
            return await _one(conn, f"{SELECT} WHERE key = %s", (key,))

    async def check(self, entry: LedgerEntry) -> LedgerEntry | None:
        async with self._pool.connection() as conn:
            return await _check(conn, entry, lock=False)

    async def record(self, entry: LedgerEntry, events: Sequence[OrderEvent] = ()) -> LedgerEntry:
        from psycopg import errors

        try:
            async with self._pool.connection() as conn, conn.transaction():
                if (earlier := await _check(conn, entry, lock=True)) is not None:
                    await write_postgres(conn, events)  # recorded with it; repeats ignored
                    return earlier
                stored = await _one(
                    conn,
                    _INSERT,
                    (
                        entry.key,
                        entry.order_id,
                        entry.kind.value,
                        entry.amount_cents,
                        entry.currency,
                        entry.provider_ref,
                        datetime.fromisoformat(entry.created_at),
                        entry.parent_key,
                    ),
                )
                if stored is not None:
                    await write_postgres(conn, events)
        except errors.UniqueViolation as exc:
            raise violation_of_unique(exc.diag.constraint_name or str(exc), entry) from exc
        if stored is not None:
            return stored
        # Another replica inserted the same key between our check and insert: compare.
        async with self._pool.connection() as conn, conn.transaction():
            again = await _check(conn, entry, lock=False)
            if again is not None:
                await write_postgres(conn, events)
        assert again is not None
        return again

    async def children(self, parent_key: str) -> list[LedgerEntry]:
        async with self._pool.connection() as conn:
            return await _children(conn, parent_key)

    async def entries(
        self, *, order_id: str | None = None, since: str | None = None, limit: int | None = None
    ) -> list[LedgerEntry]:
        sql, params = entries_query(
            order_id=order_id,
            since=datetime.fromisoformat(since) if since is not None else None,
            limit=limit,
        )
        async with self._pool.connection() as conn:
            cur = await conn.execute(_pg(sql), params)
            return [_entry(r) for r in await cur.fetchall()]

    async def saga_capture_totals(self, *, since: str) -> list[OrderTotals]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(_pg(SAGA_CAPTURE_TOTALS), (datetime.fromisoformat(since),))
            rows = await cur.fetchall()
        return [OrderTotals(o, cur_, cap, int(ref), _iso(at)) for o, cur_, cap, at, ref in rows]

    async def dangling_authorizations(self, *, since: str, before: str) -> list[LedgerEntry]:
        params = (datetime.fromisoformat(since), datetime.fromisoformat(before))
        async with self._pool.connection() as conn:
            cur = await conn.execute(_pg(DANGLING_AUTHORIZATIONS), params)
            return [_entry(r) for r in await cur.fetchall()]

"""The payments ledger in the embedded SQLite file (`rtw dev`, `make demo`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from services.contracts import OrderEvent
from services.events.store import write_sqlite
from services.payments.ledger import (
    EntryKind,
    LedgerEntry,
    OrderTotals,
    check_transition,
)
from services.payments.ledger_sql import (
    DANGLING_AUTHORIZATIONS,
    SAGA_CAPTURE_TOTALS,
    SELECT,
    entries_query,
    violation_of_unique,
)
from services.runtime.database import SqliteDatabase


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    key, order_id, kind, amount, currency, ref, created, parent = row
    return LedgerEntry(key, order_id, EntryKind(kind), amount, currency, ref, created, parent)


def _get(conn: sqlite3.Connection, key: str) -> LedgerEntry | None:
    row = conn.execute(f"{SELECT} WHERE key = ?", (key,)).fetchone()
    return _entry(row) if row else None


def _children(conn: sqlite3.Connection, parent_key: str) -> list[LedgerEntry]:
    rows = conn.execute(f"{SELECT} WHERE parent_key = ? ORDER BY seq", (parent_key,))
    return [_entry(r) for r in rows]


def _check(conn: sqlite3.Connection, entry: LedgerEntry) -> LedgerEntry | None:
    parent = _get(conn, entry.parent_key) if entry.parent_key else None
    siblings = _children(conn, entry.parent_key) if entry.parent_key else []
    return check_transition(entry, existing=_get(conn, entry.key), parent=parent, siblings=siblings)


def _record(
    conn: sqlite3.Connection, entry: LedgerEntry, events: Sequence[OrderEvent]
) -> LedgerEntry:
    conn.execute("BEGIN IMMEDIATE")  # one writer at a time across processes: the lock
    try:
        if (earlier := _check(conn, entry)) is not None:
            write_sqlite(conn, events)  # recorded with the entry; a repeat is ignored
            conn.execute("COMMIT")
            return earlier
        conn.execute(
            "INSERT INTO ledger (key, order_id, kind, amount_cents, currency, provider_ref, "
            "created_at, parent_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.key,
                entry.order_id,
                entry.kind.value,
                entry.amount_cents,
                entry.currency,
                entry.provider_ref,
                entry.created_at,
                entry.parent_key,
            ),
        )
        write_sqlite(conn, events)
        conn.execute("COMMIT")
        return entry
    except sqlite3.IntegrityError as exc:
        conn.execute("ROLLBACK")
        raise violation_of_unique(str(exc), entry) from exc
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class SqliteLedger:
    """`Ledger` on the embedded SQLite database."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def get(self, key: str) -> LedgerEntry | None:
        return await self._db.run(lambda c: _get(c, key))

    async def check(self, entry: LedgerEntry) -> LedgerEntry | None:
        return await self._db.run(lambda c: _check(c, entry))

    async def record(self, entry: LedgerEntry, events: Sequence[OrderEvent] = ()) -> LedgerEntry:
        return await self._db.run(lambda c: _record(c, entry, events))

    async def children(self, parent_key: str) -> list[LedgerEntry]:
        return await self._db.run(lambda c: _children(c, parent_key))

    async def entries(
        self, *, order_id: str | None = None, since: str | None = None, limit: int | None = None
    ) -> list[LedgerEntry]:
        sql, params = entries_query(order_id=order_id, since=since, limit=limit)
        return await self._db.run(lambda c: [_entry(r) for r in c.execute(sql, params)])

    async def saga_capture_totals(self, *, since: str) -> list[OrderTotals]:
        rows = await self._db.run(lambda c: c.execute(SAGA_CAPTURE_TOTALS, (since,)).fetchall())
        return [OrderTotals(o, cur, cap, int(ref), at) for o, cur, cap, at, ref in rows]

    async def dangling_authorizations(self, *, since: str, before: str) -> list[LedgerEntry]:
        return await self._db.run(
            lambda c: [_entry(r) for r in c.execute(DANGLING_AUTHORIZATIONS, (since, before))]
        )

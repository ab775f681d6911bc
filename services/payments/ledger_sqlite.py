"""The payments ledger in the embedded SQLite file (`rtw dev`, `make demo`)."""

from __future__ import annotations

import sqlite3
from typing import Any

from services.payments.ledger import (
    EntryKind,
    LedgerEntry,
    LedgerViolationError,
    OrderTotals,
    check_transition,
)
from services.payments.ledger_sql import COLUMNS, violation_of_unique
from services.runtime.database import SqliteDatabase

_SELECT = f"SELECT {COLUMNS} FROM ledger"


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    key, order_id, kind, amount, currency, ref, created, parent = row
    return LedgerEntry(key, order_id, EntryKind(kind), amount, currency, ref, created, parent)


def _get(conn: sqlite3.Connection, key: str) -> LedgerEntry | None:
    row = conn.execute(f"{_SELECT} WHERE key = ?", (key,)).fetchone()
    return _entry(row) if row else None


def _children(conn: sqlite3.Connection, parent_key: str) -> list[LedgerEntry]:
    rows = conn.execute(f"{_SELECT} WHERE parent_key = ? ORDER BY seq", (parent_key,))
    return [_entry(r) for r in rows]


def _check(conn: sqlite3.Connection, entry: LedgerEntry) -> LedgerEntry | None:
    parent = _get(conn, entry.parent_key) if entry.parent_key else None
    siblings = _children(conn, entry.parent_key) if entry.parent_key else []
    return check_transition(entry, existing=_get(conn, entry.key), parent=parent, siblings=siblings)


def _record(conn: sqlite3.Connection, entry: LedgerEntry) -> LedgerEntry:
    conn.execute("BEGIN IMMEDIATE")  # one writer at a time across processes: the lock
    try:
        if (earlier := _check(conn, entry)) is not None:
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

    async def record(self, entry: LedgerEntry) -> LedgerEntry:
        return await self._db.run(lambda c: _record(c, entry))

    async def children(self, parent_key: str) -> list[LedgerEntry]:
        return await self._db.run(lambda c: _children(c, parent_key))

    async def entries(
        self, *, order_id: str | None = None, since: str | None = None, limit: int | None = None
    ) -> list[LedgerEntry]:
        where, params = [], []
        if order_id is not None:
            where.append("order_id = ?")
            params.append(order_id)
        if since is not None:
            where.append("created_at >= ?")
            params.append(since)
        sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return await self._db.run(lambda c: [_entry(r) for r in c.execute(sql, params)])

    async def saga_capture_totals(self, *, since: str) -> list[OrderTotals]:
        sql = """
            SELECT c.order_id, c.currency, c.amount_cents, c.created_at,
                   coalesce((SELECT sum(r.amount_cents) FROM ledger r
                             WHERE r.parent_key = c.key AND r.kind = 'refund'), 0)
            FROM ledger c
            WHERE c.kind = 'capture' AND c.parent_key IS NOT NULL AND c.created_at >= ?
            ORDER BY c.seq"""
        rows = await self._db.run(lambda c: c.execute(sql, (since,)).fetchall())
        return [OrderTotals(o, cur, cap, int(ref), at) for o, cur, cap, at, ref in rows]

    async def dangling_authorizations(self, *, since: str, before: str) -> list[LedgerEntry]:
        sql = f"""
            {_SELECT} a WHERE a.kind = 'authorization' AND a.created_at >= ?
              AND a.created_at < ?
              AND NOT EXISTS (SELECT 1 FROM ledger x WHERE x.parent_key = a.key
                              AND x.kind IN ('capture', 'void'))
            ORDER BY a.seq"""
        return await self._db.run(lambda c: [_entry(r) for r in c.execute(sql, (since, before))])

    async def close(self) -> None:
        """The database is owned by whoever opened it."""


__all__ = ["LedgerViolationError", "SqliteLedger"]

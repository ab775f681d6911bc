"""Stock and reservations: SQLite (embedded) and PostgreSQL (shared) backends.

A reservation is one transaction, all items or none. On PostgreSQL each item is a
conditional `UPDATE … WHERE available >= qty` in SKU order (no deadlocks, no oversell
whatever the number of replicas); the `available >= 0` check backs it up.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Protocol

from services.contracts import OrderEvent
from services.events.store import write_postgres, write_sqlite
from services.runtime.database import Database, PostgresDatabase, SqliteDatabase

#: Stock a fresh store starts with; an unknown SKU has none.
DEFAULT_CATALOG: Mapping[str, int] = {
    "sku-1": 1_000_000,
    "sku-2": 1_000_000,
    "sku-3": 1_000_000,
    "sku-limited": 5,
    "sku-discontinued": 0,
}


class OutOfStockError(Exception):
    """A reservation asked for more than is available."""


class InventoryStore(Protocol):
    """Storage port of the inventory activities."""

    async def seed(self, catalog: Mapping[str, int]) -> None:
        """Create SKUs that do not exist yet (existing stock is left alone)."""
        ...

    async def reserve(
        self,
        key: str,
        order_id: str,
        items: dict[str, int],
        events: Sequence[OrderEvent] = (),
    ) -> bool:
        """Reserve all items once per key, recording `events` in the same transaction;
        False when the key was reserved before (the events then made sure of)."""
        ...

    async def release(self, key: str, events: Sequence[OrderEvent] = ()) -> bool:
        """Give a reservation back once, recording `events` in the same transaction; False
        when there was nothing (left) to release (the events recorded all the same)."""
        ...

    async def available(self, sku: str) -> int:
        """Units of `sku` not reserved."""
        ...

    async def unknown(self, skus: Sequence[str]) -> list[str]:
        """Those of `skus` the catalogue does not list (sorted)."""
        ...


def _shortage(items: dict[str, int], available: Mapping[str, int]) -> str:
    short = [
        f"{sku} (requested {qty}, available {available.get(sku, 0)})"
        for sku, qty in sorted(items.items())
        if available.get(sku, 0) < qty
    ]
    return "not enough stock: " + ", ".join(short)


class SqliteInventory:
    """`InventoryStore` in the embedded SQLite file (`BEGIN IMMEDIATE` serialises writers)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def seed(self, catalog: Mapping[str, int]) -> None:
        await self._db.run(
            lambda c: c.executemany(
                "INSERT OR IGNORE INTO stock (sku, available) VALUES (?, ?)", catalog.items()
            )
        )

    @staticmethod
    def _reserve(
        c: sqlite3.Connection,
        key: str,
        order_id: str,
        items: dict[str, int],
        events: Sequence[OrderEvent],
    ) -> bool:
        c.execute("BEGIN IMMEDIATE")
        try:
            if c.execute("SELECT 1 FROM reservations WHERE key = ?", (key,)).fetchone():
                write_sqlite(c, events)
                c.execute("COMMIT")
                return False
            stock = {
                sku: int(row[0])
                for sku in items
                if (
                    row := c.execute("SELECT available FROM stock WHERE sku = ?", (sku,)).fetchone()
                )
            }
            if any(stock.get(sku, 0) < qty for sku, qty in items.items()):
                raise OutOfStockError(_shortage(items, stock))
            for sku, qty in sorted(items.items()):
                c.execute("UPDATE stock SET available = available - ? WHERE sku = ?", (qty, sku))
            c.execute(
                "INSERT INTO reservations (key, order_id, items) VALUES (?, ?, ?)",
                (key, order_id, json.dumps(items, sort_keys=True)),
            )
            write_sqlite(c, events)
            c.execute("COMMIT")
            return True
        except BaseException:
            c.execute("ROLLBACK")
            raise

    @staticmethod
    def _release(c: sqlite3.Connection, key: str, events: Sequence[OrderEvent]) -> bool:
        c.execute("BEGIN IMMEDIATE")
        try:
            row = c.execute(
                "SELECT items FROM reservations WHERE key = ? AND released = 0", (key,)
            ).fetchone()
            write_sqlite(c, events)
            if row is None:
                c.execute("COMMIT")
                return False
            for sku, qty in sorted(json.loads(row[0]).items()):
                c.execute("UPDATE stock SET available = available + ? WHERE sku = ?", (qty, sku))
            c.execute("UPDATE reservations SET released = 1 WHERE key = ?", (key,))
            c.execute("COMMIT")
            return True
        except BaseException:
            c.execute("ROLLBACK")
            raise

    async def reserve(
        self,
        key: str,
        order_id: str,
        items: dict[str, int],
        events: Sequence[OrderEvent] = (),
    ) -> bool:
        return await self._db.run(lambda c: self._reserve(c, key, order_id, items, events))

    async def release(self, key: str, events: Sequence[OrderEvent] = ()) -> bool:
        return await self._db.run(lambda c: self._release(c, key, events))

    async def available(self, sku: str) -> int:
        row = await self._db.run(
            lambda c: c.execute("SELECT available FROM stock WHERE sku = ?", (sku,)).fetchone()
        )
        return int(row[0]) if row else 0

    async def unknown(self, skus: Sequence[str]) -> list[str]:
        def work(c: sqlite3.Connection) -> list[str]:
            marks = ",".join("?" * len(skus))
            rows = c.execute(f"SELECT sku FROM stock WHERE sku IN ({marks})", list(skus))  # nosec B608 - placeholders only
            return sorted(set(skus) - {str(r[0]) for r in rows})

        return await self._db.run(work) if skus else []


class PostgresInventory:
    """`InventoryStore` in the shared PostgreSQL: every orchestration replica, one stock."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._pool = db.pool

    async def seed(self, catalog: Mapping[str, int]) -> None:
        async with self._pool.connection() as conn, conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO stock (sku, available) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                list(catalog.items()),
            )

    async def reserve(
        self,
        key: str,
        order_id: str,
        items: dict[str, int],
        events: Sequence[OrderEvent] = (),
    ) -> bool:
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "INSERT INTO reservations (key, order_id, items) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO NOTHING RETURNING key",
                (key, order_id, json.dumps(items, sort_keys=True)),
            )
            if await cur.fetchone() is None:
                await write_postgres(conn, events)
                return False
            short = False
            for sku, qty in sorted(items.items()):
                cur = await conn.execute(
                    "UPDATE stock SET available = available - %s "
                    "WHERE sku = %s AND available >= %s RETURNING available",
                    (qty, sku, qty),
                )
                short = short or await cur.fetchone() is None
            if short:
                # Raising rolls back what was taken above; the message shows committed levels.
                raise OutOfStockError(_shortage(items, await self._levels_outside(items)))
            await write_postgres(conn, events)
            return True

    async def _levels_outside(self, items: dict[str, int]) -> dict[str, int]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT sku, available FROM stock WHERE sku = ANY(%s)", (list(items),)
            )
            return {sku: int(a) for sku, a in await cur.fetchall()}

    async def release(self, key: str, events: Sequence[OrderEvent] = ()) -> bool:
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "UPDATE reservations SET released = true WHERE key = %s AND NOT released "
                "RETURNING items",
                (key,),
            )
            row = await cur.fetchone()
            await write_postgres(conn, events)
            if row is None:
                return False
            for sku, qty in sorted(json.loads(row[0]).items()):
                await conn.execute(
                    "UPDATE stock SET available = available + %s WHERE sku = %s", (qty, sku)
                )
            return True

    async def available(self, sku: str) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT available FROM stock WHERE sku = %s", (sku,))
            row = await cur.fetchone()
            return int(row[0]) if row else 0

    async def unknown(self, skus: Sequence[str]) -> list[str]:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT sku FROM stock WHERE sku = ANY(%s)", (list(skus),))
            return sorted(set(skus) - {str(r[0]) for r in await cur.fetchall()})


def inventory_for(db: Database) -> InventoryStore:
    """The inventory backend of the configured database."""
    return PostgresInventory(db) if isinstance(db, PostgresDatabase) else SqliteInventory(db)

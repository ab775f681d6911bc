"""Inventory store and its activities (orchestration-local: same queue as the saga)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from services.contracts import (
    OUT_OF_STOCK,
    RELEASE_INVENTORY,
    RESERVE_INVENTORY,
    InventoryResult,
    ReleaseInventoryRequest,
    ReserveInventoryRequest,
)

#: Stock a fresh store starts with; an unknown SKU has none.
DEFAULT_CATALOG: Mapping[str, int] = {
    "sku-1": 1_000_000,
    "sku-2": 1_000_000,
    "sku-3": 1_000_000,
    "sku-limited": 5,
    "sku-discontinued": 0,
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stock (sku TEXT PRIMARY KEY, available INTEGER NOT NULL
    CHECK (available >= 0));
CREATE TABLE IF NOT EXISTS reservations (key TEXT PRIMARY KEY, order_id TEXT NOT NULL,
    items TEXT NOT NULL, released INTEGER NOT NULL DEFAULT 0);
"""


class OutOfStockError(Exception):
    """A reservation asked for more than is available."""


class SqliteInventory:
    """Stock levels and reservations in one SQLite file; reservations are all or nothing."""

    def __init__(self, path: Path, *, catalog: Mapping[str, int] = DEFAULT_CATALOG) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._db.executemany(
            "INSERT OR IGNORE INTO stock (sku, available) VALUES (?, ?)", catalog.items()
        )
        self._lock = asyncio.Lock()

    def _reserve(self, key: str, order_id: str, items: dict[str, int]) -> bool:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if self._db.execute("SELECT 1 FROM reservations WHERE key = ?", (key,)).fetchone():
                self._db.execute("COMMIT")
                return False
            short = []
            for sku, qty in sorted(items.items()):
                row = self._db.execute(
                    "SELECT available FROM stock WHERE sku = ?", (sku,)
                ).fetchone()
                available = row[0] if row else 0
                if available < qty:
                    short.append(f"{sku} (requested {qty}, available {available})")
            if short:
                raise OutOfStockError("not enough stock: " + ", ".join(short))
            for sku, qty in items.items():
                self._db.execute(
                    "UPDATE stock SET available = available - ? WHERE sku = ?", (qty, sku)
                )
            self._db.execute(
                "INSERT INTO reservations (key, order_id, items) VALUES (?, ?, ?)",
                (key, order_id, json.dumps(items, sort_keys=True)),
            )
            self._db.execute("COMMIT")
            return True
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _release(self, key: str) -> bool:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute(
                "SELECT items FROM reservations WHERE key = ? AND released = 0", (key,)
            ).fetchone()
            if row is None:
                self._db.execute("COMMIT")
                return False
            for sku, qty in json.loads(row[0]).items():
                self._db.execute(
                    "UPDATE stock SET available = available + ? WHERE sku = ?", (qty, sku)
                )
            self._db.execute("UPDATE reservations SET released = 1 WHERE key = ?", (key,))
            self._db.execute("COMMIT")
            return True
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _available(self, sku: str) -> int:
        row = self._db.execute("SELECT available FROM stock WHERE sku = ?", (sku,)).fetchone()
        return int(row[0]) if row else 0

    async def reserve(self, key: str, order_id: str, items: dict[str, int]) -> bool:
        """Reserve once per key; False when the key was reserved before."""
        async with self._lock:
            return await asyncio.to_thread(self._reserve, key, order_id, items)

    async def release(self, key: str) -> bool:
        """Release once per key; False when there was nothing (left) to release."""
        async with self._lock:
            return await asyncio.to_thread(self._release, key)

    async def available(self, sku: str) -> int:
        """Units of `sku` not reserved."""
        async with self._lock:
            return await asyncio.to_thread(self._available, sku)

    async def close(self) -> None:
        async with self._lock:
            self._db.close()


class InventoryActivities:
    """Reserve and release stock for orders, idempotent per reservation key."""

    def __init__(self, *, store: SqliteInventory) -> None:
        self._store = store

    @activity.defn(name=RESERVE_INVENTORY)
    async def reserve(self, request: ReserveInventoryRequest) -> InventoryResult:
        """Reserve all items or none; not enough stock is a business failure."""
        wanted: dict[str, int] = {}
        for item in request.items:
            wanted[item.sku] = wanted.get(item.sku, 0) + item.quantity
        try:
            applied = await self._store.reserve(request.reservation_key, request.order_id, wanted)
        except OutOfStockError as exc:
            raise ApplicationError(str(exc), type=OUT_OF_STOCK, non_retryable=True) from exc
        return InventoryResult(reservation_key=request.reservation_key, applied=applied)

    @activity.defn(name=RELEASE_INVENTORY)
    async def release(self, request: ReleaseInventoryRequest) -> InventoryResult:
        """Give the reservation back; no-op when it never happened."""
        applied = await self._store.release(request.reservation_key)
        return InventoryResult(reservation_key=request.reservation_key, applied=applied)

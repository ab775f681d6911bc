"""The payments ledger: every money movement once, keyed by a stable business key."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol


class EntryKind(StrEnum):
    """Kinds of ledger entry."""

    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


@dataclass(frozen=True)
class LedgerEntry:
    """One money movement."""

    key: str
    order_id: str
    kind: EntryKind
    amount_cents: int
    currency: str
    provider_ref: str
    created_at: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "kind": self.kind.value}


class Ledger(Protocol):
    """Storage port of the payments service (SQLite here; PostgreSQL can follow)."""

    async def get(self, key: str) -> LedgerEntry | None:
        """The entry recorded under `key`, if any."""
        ...

    async def record(self, entry: LedgerEntry) -> LedgerEntry:
        """Insert `entry` unless its key exists; return the stored entry either way."""
        ...

    async def entries(self, *, order_id: str | None = None) -> list[LedgerEntry]:
        """Entries in insertion order, optionally for one order."""
        ...

    async def close(self) -> None:
        """Release the storage."""
        ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
    currency TEXT NOT NULL,
    provider_ref TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_order ON ledger (order_id);
"""


def now_iso() -> str:
    """Current UTC time for ledger rows."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class SqliteLedger:
    """A ledger in one SQLite file (WAL), safe for several worker processes on one host."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = asyncio.Lock()

    @staticmethod
    def _row(row: tuple[Any, ...]) -> LedgerEntry:
        key, order_id, kind, amount, currency, ref, created = row
        return LedgerEntry(key, order_id, EntryKind(kind), amount, currency, ref, created)

    def _get(self, key: str) -> LedgerEntry | None:
        row = self._db.execute(
            "SELECT key, order_id, kind, amount_cents, currency, provider_ref, created_at "
            "FROM ledger WHERE key = ?",
            (key,),
        ).fetchone()
        return self._row(row) if row else None

    def _record(self, e: LedgerEntry) -> LedgerEntry:
        self._db.execute(
            "INSERT OR IGNORE INTO ledger "
            "(key, order_id, kind, amount_cents, currency, provider_ref, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                e.key,
                e.order_id,
                e.kind.value,
                e.amount_cents,
                e.currency,
                e.provider_ref,
                e.created_at,
            ),
        )
        stored = self._get(e.key)
        assert stored is not None
        return stored

    def _entries(self, order_id: str | None) -> list[LedgerEntry]:
        sql = (
            "SELECT key, order_id, kind, amount_cents, currency, provider_ref, created_at "
            "FROM ledger"
        )
        params: tuple[str, ...] = ()
        if order_id is not None:
            sql, params = sql + " WHERE order_id = ?", (order_id,)
        return [self._row(r) for r in self._db.execute(sql + " ORDER BY seq", params)]

    async def get(self, key: str) -> LedgerEntry | None:
        async with self._lock:
            return await asyncio.to_thread(self._get, key)

    async def record(self, entry: LedgerEntry) -> LedgerEntry:
        async with self._lock:
            return await asyncio.to_thread(self._record, entry)

    async def entries(self, *, order_id: str | None = None) -> list[LedgerEntry]:
        async with self._lock:
            return await asyncio.to_thread(self._entries, order_id)

    async def close(self) -> None:
        async with self._lock:
            self._db.close()

"""Order claims: the first saga run of an order id owns it, for good.

Temporal lets a closed workflow id start again (the `temporal` CLI's default reuse policy),
so the saga's first step claims its order id in the shared store. A later run of the same
id finds the claim held by another run and ends at once as `OrderAlreadyExists`, before
any money or stock moves; a retried claim by the same run succeeds. The refusal names the
run that owns the order, so readers can show that run instead of the refused one.

The claim also checks every SKU against the stock catalogue first: an unknown SKU is an
input error (`InvalidOrder`) before any money is authorized.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from typing import Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from services.contracts import (
    CLAIM_ORDER,
    INVALID_ORDER,
    ORDER_ALREADY_EXISTS,
    OrderClaim,
    OrderClaimRequest,
    OrderEvent,
)
from services.events.store import write_postgres, write_sqlite
from services.runtime.database import Database, PostgresDatabase, SqliteDatabase
from services.runtime.settle import to_completion


class ClaimStore(Protocol):
    """Storage port of order claims."""

    async def claim(
        self, order_id: str, workflow_id: str, run_id: str, events: Sequence[OrderEvent] = ()
    ) -> tuple[str, str]:
        """Claim `order_id` for this run unless claimed; return the holder (workflow, run).
        `events` are recorded in the same transaction when this run holds the claim."""
        ...


class SqliteClaims:
    """Claims in the embedded SQLite file."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def claim(
        self, order_id: str, workflow_id: str, run_id: str, events: Sequence[OrderEvent] = ()
    ) -> tuple[str, str]:
        def work(c: sqlite3.Connection) -> tuple[str, str]:
            c.execute("BEGIN IMMEDIATE")
            try:
                c.execute(
                    "INSERT OR IGNORE INTO order_claims (order_id, workflow_id, run_id) "
                    "VALUES (?, ?, ?)",
                    (order_id, workflow_id, run_id),
                )
                row = c.execute(
                    "SELECT workflow_id, run_id FROM order_claims WHERE order_id = ?", (order_id,)
                ).fetchone()
                if str(row[1]) == run_id:
                    write_sqlite(c, events)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            return str(row[0]), str(row[1])

        return await self._db.run(work)


class PostgresClaims:
    """Claims in the shared PostgreSQL (`ON CONFLICT DO NOTHING`: first run wins)."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._pool = db.pool

    async def claim(
        self, order_id: str, workflow_id: str, run_id: str, events: Sequence[OrderEvent] = ()
    ) -> tuple[str, str]:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO order_claims (order_id, workflow_id, run_id) VALUES (%s, %s, %s) "
                "ON CONFLICT (order_id) DO NOTHING",
                (order_id, workflow_id, run_id),
            )
            cur = await conn.execute(
                "SELECT workflow_id, run_id FROM order_claims WHERE order_id = %s", (order_id,)
            )
            row = await cur.fetchone()
            assert row is not None
            if str(row[1]) == run_id:
                await write_postgres(conn, events)
            return str(row[0]), str(row[1])


def claims_for(db: Database) -> ClaimStore:
    """The claims backend of the configured database."""
    return PostgresClaims(db) if isinstance(db, PostgresDatabase) else SqliteClaims(db)


class Catalog(Protocol):
    """What the claim asks of the stock store."""

    async def unknown(self, skus: Sequence[str]) -> list[str]:
        """Those of `skus` the catalogue does not list."""
        ...


class ClaimActivities:
    """The saga's first step (a local activity on the orchestration worker)."""

    def __init__(self, *, store: ClaimStore, catalog: Catalog, hold_seconds: float = 0.0) -> None:
        self._store = store
        self._catalog = catalog
        self._hold_seconds = hold_seconds  # fault injection: RTW_FAULT_STEP_DELAY_MS

    @activity.defn(name=CLAIM_ORDER)
    async def claim_order(self, request: OrderClaimRequest) -> OrderClaim:
        """Claim the order id for this run, or refuse with `OrderAlreadyExists` (naming the
        owning run in its details) or `InvalidOrder` (an SKU the catalogue lacks)."""
        return await to_completion(self._claim(request))

    async def _claim(self, request: OrderClaimRequest) -> OrderClaim:
        if unknown := await self._catalog.unknown(request.skus):
            raise ApplicationError(
                f"invalid order: unknown SKU {', '.join(unknown)} (not in the catalogue)",
                type=INVALID_ORDER,
                non_retryable=True,
            )
        workflow_id, run_id = await self._store.claim(
            request.order_id, request.workflow_id, request.run_id, request.events
        )
        if self._hold_seconds:
            await asyncio.sleep(self._hold_seconds)
        if run_id != request.run_id:
            raise ApplicationError(
                f"order {request.order_id} already ran as {workflow_id} (run {run_id}); "
                "an order id is used once — use a new order id to order again",
                OrderClaim(order_id=request.order_id, run_id=run_id).model_dump(),
                type=ORDER_ALREADY_EXISTS,
                non_retryable=True,
            )
        return OrderClaim(order_id=request.order_id, run_id=run_id)

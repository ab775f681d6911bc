"""Inventory activities (orchestration-local: same queue as the saga) over a stock store."""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from services.contracts import (
    OUT_OF_STOCK,
    RELEASE_INVENTORY,
    RESERVE_INVENTORY,
    InventoryResult,
    ReleaseInventoryRequest,
    ReserveInventoryRequest,
)
from services.orchestration.inventory_stores import (
    DEFAULT_CATALOG,
    InventoryStore,
    OutOfStockError,
    PostgresInventory,
    SqliteInventory,
    inventory_for,
)
from services.runtime.settle import to_completion

__all__ = [
    "DEFAULT_CATALOG",
    "InventoryActivities",
    "InventoryStore",
    "OutOfStockError",
    "PostgresInventory",
    "SqliteInventory",
    "inventory_for",
]


class InventoryActivities:
    """Reserve and release stock for orders, idempotent per reservation key; a step that has
    begun finishes even when cancelled (see `services.runtime.settle`)."""

    def __init__(self, *, store: InventoryStore, hold_seconds: float = 0.0) -> None:
        self._store = store
        self._hold_seconds = hold_seconds  # fault injection: RTW_FAULT_STEP_DELAY_MS

    @activity.defn(name=RESERVE_INVENTORY)
    async def reserve(self, request: ReserveInventoryRequest) -> InventoryResult:
        """Reserve all items or none; not enough stock is a business failure."""
        return await to_completion(self._reserve(request))

    async def _reserve(self, request: ReserveInventoryRequest) -> InventoryResult:
        wanted: dict[str, int] = {}
        for item in request.items:
            wanted[item.sku] = wanted.get(item.sku, 0) + item.quantity
        try:
            applied = await self._store.reserve(
                request.reservation_key, request.order_id, wanted, request.events
            )
        except OutOfStockError as exc:
            raise ApplicationError(
                str(exc),
                type=OUT_OF_STOCK,
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,  # an outcome, not a worker fault
            ) from exc
        if self._hold_seconds:
            await asyncio.sleep(self._hold_seconds)
        return InventoryResult(reservation_key=request.reservation_key, applied=applied)

    @activity.defn(name=RELEASE_INVENTORY)
    async def release(self, request: ReleaseInventoryRequest) -> InventoryResult:
        """Give the reservation back; no-op when it never happened."""
        applied = await to_completion(self._store.release(request.reservation_key, request.events))
        return InventoryResult(reservation_key=request.reservation_key, applied=applied)

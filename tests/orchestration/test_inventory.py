"""Inventory reservations: all or nothing, once per key, released once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from services.contracts import OrderItem, ReleaseInventoryRequest, ReserveInventoryRequest
from services.orchestration import InventoryActivities, SqliteInventory

env = ActivityEnvironment()


@pytest.fixture
async def store(data_dir: Path) -> AsyncIterator[SqliteInventory]:
    store = SqliteInventory(data_dir / "inv.sqlite3", catalog={"sku-a": 10, "sku-b": 1})
    yield store
    await store.close()


def reserve(key: str, **qty: int) -> ReserveInventoryRequest:
    return ReserveInventoryRequest(
        reservation_key=key,
        order_id="o-1",
        items=[
            OrderItem(sku=s.replace("_", "-"), quantity=q, unit_price_cents=100)
            for s, q in qty.items()
        ],
    )


async def test_reserve_twice_takes_stock_once(store: SqliteInventory) -> None:
    activities = InventoryActivities(store=store)
    first = await env.run(activities.reserve, reserve("k1", sku_a=3))
    second = await env.run(activities.reserve, reserve("k1", sku_a=3))

    assert first.applied
    assert not second.applied
    assert await store.available("sku-a") == 7


async def test_out_of_stock_reserves_nothing(store: SqliteInventory) -> None:
    activities = InventoryActivities(store=store)

    with pytest.raises(ApplicationError) as err:
        await env.run(activities.reserve, reserve("k1", sku_a=3, sku_b=2))

    assert err.value.type == "OutOfStock"
    assert err.value.non_retryable
    assert "sku-b (requested 2, available 1)" in err.value.message
    assert await store.available("sku-a") == 10, "all or nothing"


async def test_unknown_sku_is_out_of_stock(store: SqliteInventory) -> None:
    with pytest.raises(ApplicationError, match="sku-zzz"):
        await env.run(InventoryActivities(store=store).reserve, reserve("k1", sku_zzz=1))


async def test_release_twice_restores_once_and_unknown_key_is_noop(
    store: SqliteInventory,
) -> None:
    activities = InventoryActivities(store=store)
    release = ReleaseInventoryRequest(reservation_key="k1")
    assert not (await env.run(activities.release, release)).applied

    await env.run(activities.reserve, reserve("k1", sku_a=4))
    assert (await env.run(activities.release, release)).applied
    assert not (await env.run(activities.release, release)).applied
    assert await store.available("sku-a") == 10

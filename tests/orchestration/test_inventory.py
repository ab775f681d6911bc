"""Inventory reservations on both backends: all or nothing, once per key, released once,
and never oversold by concurrent reservations."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.testing import ActivityEnvironment

from services.contracts import OrderItem, ReleaseInventoryRequest, ReserveInventoryRequest
from services.orchestration.inventory import InventoryActivities, InventoryStore, inventory_for
from services.runtime.database import Database

env = ActivityEnvironment()


@pytest.fixture
async def store(database: Database) -> InventoryStore:
    store = inventory_for(database)
    await store.seed({"sku-a": 10, "sku-b": 1})
    return store


def reserve(key: str, **qty: int) -> ReserveInventoryRequest:
    return ReserveInventoryRequest(
        reservation_key=key,
        order_id="o-1",
        items=[
            OrderItem(sku=s.replace("_", "-"), quantity=q, unit_price_cents=100)
            for s, q in qty.items()
        ],
    )


async def test_reserve_twice_takes_stock_once(store: InventoryStore) -> None:
    activities = InventoryActivities(store=store)
    first = await env.run(activities.reserve, reserve("k1", sku_a=3))
    second = await env.run(activities.reserve, reserve("k1", sku_a=3))

    assert first.applied
    assert not second.applied
    assert await store.available("sku-a") == 7


async def test_out_of_stock_reserves_nothing(store: InventoryStore) -> None:
    activities = InventoryActivities(store=store)

    with pytest.raises(ApplicationError) as err:
        await env.run(activities.reserve, reserve("k1", sku_a=3, sku_b=2))

    assert err.value.type == "OutOfStock"
    assert err.value.non_retryable
    assert err.value.category is ApplicationErrorCategory.BENIGN, "an outcome, not a fault"
    assert "sku-b (requested 2, available 1)" in err.value.message
    assert await store.available("sku-a") == 10, "all or nothing"


async def test_unknown_sku_is_out_of_stock(store: InventoryStore) -> None:
    with pytest.raises(ApplicationError, match="sku-zzz"):
        await env.run(InventoryActivities(store=store).reserve, reserve("k1", sku_zzz=1))


async def test_release_twice_restores_once_and_unknown_key_is_noop(
    store: InventoryStore,
) -> None:
    activities = InventoryActivities(store=store)
    release = ReleaseInventoryRequest(reservation_key="k1")
    assert not (await env.run(activities.release, release)).applied

    await env.run(activities.reserve, reserve("k1", sku_a=4))
    assert (await env.run(activities.release, release)).applied
    assert not (await env.run(activities.release, release)).applied
    assert await store.available("sku-a") == 10


async def test_seeding_again_leaves_stock_alone(store: InventoryStore) -> None:
    await env.run(InventoryActivities(store=store).reserve, reserve("k1", sku_a=4))
    await store.seed({"sku-a": 10})
    assert await store.available("sku-a") == 6


async def test_concurrent_reservations_never_oversell(database: Database) -> None:
    """Twenty reservations of 3 units race for 10 (each through its own store object, as
    replicas would): exactly 3 succeed, stock ends at 1, never below zero."""
    stores = [inventory_for(database) for _ in range(20)]
    await stores[0].seed({"sku-hot": 10})

    async def one(i: int) -> str:
        try:
            await env.run(
                InventoryActivities(store=stores[i]).reserve, reserve(f"race-{i}", sku_hot=3)
            )
        except ApplicationError as err:
            return err.type or "untyped"
        return "reserved"

    outcomes = await asyncio.gather(*(one(i) for i in range(20)))

    assert outcomes.count("reserved") == 3
    assert set(outcomes) == {"reserved", "OutOfStock"}
    assert await stores[0].available("sku-hot") == 1

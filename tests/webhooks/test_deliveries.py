"""The delivery store on both backends: fan-out by type, one in flight per order and
endpoint in seq order, leases, give-up with every later one, replay in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.contracts import OrderEvent, OrderEventType
from services.events import events_for
from services.runtime.database import Database
from services.webhooks.deliveries import deliveries_for
from services.webhooks.endpoints import Endpoint, EndpointsFileError, parse_endpoints

WINDOW = timedelta(hours=24)
LEASE = timedelta(seconds=30)
SHOP = Endpoint(id="shop", url="https://shop.example/h", events=["*"], secret="s" * 16)
FINAL_ONLY = Endpoint(
    id="ops",
    url="https://ops.example/h",
    events=["order.completed"],
    secret="s" * 16,
)


def event(order_id: str, seq: int, kind: OrderEventType) -> OrderEvent:
    return OrderEvent(order_id=order_id, seq=seq, type=kind, occurred_at=datetime.now(UTC))


async def record(db: Database, order_id: str) -> None:
    await events_for(db).record(
        [
            event(order_id, 1, OrderEventType.RECEIVED),
            event(order_id, 2, OrderEventType.AUTHORIZED),
            event(order_id, 3, OrderEventType.COMPLETED),
        ]
    )


async def test_each_endpoint_gets_the_types_it_asked_for_one_at_a_time_in_order(
    database: Database,
) -> None:
    await record(database, "o-1")
    store = deliveries_for(database)
    assert await store.fan_out([SHOP, FINAL_ONLY], window=WINDOW) == 3
    assert await store.fan_out([SHOP, FINAL_ONLY], window=WINDOW) == 0, "fanned out once"

    first = await store.claim(limit=10, lease=LEASE)
    assert sorted((d.endpoint, d.seq) for d, _ in first) == [("ops", 3), ("shop", 1)]
    assert await store.claim(limit=10, lease=LEASE) == [], "leased, and the rest waits its turn"
    shop = next(d for d, _ in first if d.endpoint == "shop")
    stored = next(e for d, e in first if d.endpoint == "shop")
    assert stored.event.type is OrderEventType.RECEIVED
    await store.delivered(shop, 204)
    (second, _) = (await store.claim(limit=10, lease=LEASE))[0]
    assert (second.endpoint, second.seq) == ("shop", 2)


async def test_a_delivery_that_gives_up_fails_the_later_ones_and_replay_restores_order(
    database: Database,
) -> None:
    await record(database, "o-2")
    store = deliveries_for(database)
    await store.fan_out([SHOP], window=WINDOW)
    (first, _), *_ = await store.claim(limit=10, lease=LEASE)
    await store.retry(first, error="HTTP 500", status=500, at=datetime.now(UTC))
    (again, _), *_ = await store.claim(limit=10, lease=LEASE)
    assert again.id == first.id and again.attempts == 1  # noqa: PT018
    await store.give_up(again, error="HTTP 503", status=503)

    failed = await store.listing(state="failed", endpoint=None, order_id="o-2", limit=10)
    assert [d.seq for d in failed] == [1, 2, 3]
    assert failed[0].last_status == 503
    assert "failed before it" in (failed[1].last_error or "")
    assert await store.claim(limit=10, lease=LEASE) == []

    replayed = await store.replay(delivery_id=failed[1].id, endpoint=None, order_id=None)
    assert [d.seq for d in replayed] == [1, 2, 3], "the order's failed ones, to keep the order"
    (next_one, _), *_ = await store.claim(limit=10, lease=LEASE)
    assert next_one.seq == 1
    assert await store.replay(delivery_id=failed[1].id, endpoint=None, order_id=None) == []


async def test_events_older_than_the_window_make_no_delivery(database: Database) -> None:
    await record(database, "o-3")
    store = deliveries_for(database)
    assert await store.fan_out([SHOP], window=timedelta(microseconds=1)) == 3
    assert await store.listing(state=None, endpoint=None, order_id="o-3", limit=10) == []


def test_an_endpoints_file_is_checked_and_never_echoes_a_secret() -> None:
    good = b'{"endpoints": [{"id": "a", "url": "https://x.example/", "events": ["order.*"],'
    good += b' "secret": "0123456789abcdef"}]}'
    (endpoint,) = parse_endpoints(good)
    assert endpoint.wants("order.cancelled")
    assert not endpoint.wants("payment.captured")
    with pytest.raises(EndpointsFileError) as short:
        parse_endpoints(good.replace(b"0123456789abcdef", b"short-secret"))
    assert "secret" in str(short.value)
    assert "short-secret" not in str(short.value)
    with pytest.raises(EndpointsFileError, match="url"):
        parse_endpoints(good.replace(b"https://x.example/", b"ftp://x.example/"))
    with pytest.raises(EndpointsFileError, match="not JSON"):
        parse_endpoints(b"{")

"""The order-event store on both backends: a repeated write is ignored, reads come in seq and
position order, and PostgreSQL announces each new event when its transaction commits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from services.contracts import OrderEvent, OrderEventType
from services.events import PostgresEvents, events_for
from services.runtime.database import Database, PostgresDatabase
from services.runtime.migrations import EVENTS_CHANNEL


def event(order_id: str, seq: int, kind: OrderEventType, **data: object) -> OrderEvent:
    return OrderEvent(
        order_id=order_id,
        seq=seq,
        type=kind,
        occurred_at=datetime.now(UTC),
        data=data,
    )


async def test_a_repeated_write_is_ignored_and_reads_come_in_order(database: Database) -> None:
    store = events_for(database)
    first = [event("o-1", 1, OrderEventType.RECEIVED, customer_id="c-1")]
    await store.record(first)
    await store.record([event("o-2", 1, OrderEventType.RECEIVED)])
    await store.record([*first, event("o-1", 2, OrderEventType.AUTHORIZED, amount_cents=3000)])
    await store.record(first)  # a retried step: nothing new

    assert await store.last_seq("o-1") == 2
    assert await store.last_seq("o-unknown") == 0
    stored = await store.after("o-1", 0)
    assert [(s.event.seq, s.event.type) for s in stored] == [
        (1, OrderEventType.RECEIVED),
        (2, OrderEventType.AUTHORIZED),
    ]
    assert stored[1].event.data == {"amount_cents": 3000}
    assert [s.event.seq for s in await store.after("o-1", 1)] == [2]
    since = await store.since(0)
    assert [s.position for s in since] == sorted(s.position for s in since)
    assert len(since) == 3
    assert await store.latest_position() == since[-1].position
    assert [s.event.order_id for s in await store.of_orders(["o-2"])] == ["o-2"]


async def test_orders_waiting_for_approval_are_those_whose_last_event_says_so(
    database: Database,
) -> None:
    store = events_for(database)
    await store.record([event("w-1", 1, OrderEventType.AWAITING_APPROVAL)])
    await store.record(
        [
            event("w-2", 1, OrderEventType.AWAITING_APPROVAL),
            event("w-2", 2, OrderEventType.APPROVED, reviewer="alice"),
        ]
    )
    assert [s.event.order_id for s in await store.awaiting_approval()] == ["w-1"]


async def test_postgresql_announces_an_event_when_its_transaction_commits(
    postgres_url: str,
) -> None:
    from psycopg import AsyncConnection

    db = PostgresDatabase(postgres_url)
    await db.open()
    await db.migrate()
    listener = await AsyncConnection.connect(postgres_url, autocommit=True)
    try:
        await listener.execute(f"LISTEN {EVENTS_CHANNEL}")
        store = PostgresEvents(db)
        await store.record([event("n-1", 1, OrderEventType.RECEIVED)])
        await store.record([event("n-1", 1, OrderEventType.RECEIVED)])  # ignored: no notice
        await store.record([event("n-1", 2, OrderEventType.AUTHORIZED)])
        payloads = []
        async with asyncio.timeout(10):
            async for notice in listener.notifies():
                payloads.append(notice.payload)
                if len(payloads) == 2:
                    break
        assert payloads == ["n-1 1", "n-1 2"]
    finally:
        await listener.close()
        await db.close()

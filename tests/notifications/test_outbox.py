"""The outbox stores each dedupe key once, across retries and replicas, on both backends."""

from __future__ import annotations

import asyncio

from temporalio.testing import ActivityEnvironment

from services.contracts import NotificationKind, NotificationRequest
from services.notifications import NotificationActivities, outbox_for
from services.runtime.database import Database

MESSAGE = NotificationRequest(
    dedupe_key="order-o-1:order_confirmed",
    customer_id="c-1",
    kind=NotificationKind.ORDER_CONFIRMED,
    order_id="o-1",
    data={"total_cents": 3000, "currency": "USD"},
)


async def test_retried_send_is_delivered_once(database: Database) -> None:
    channel = outbox_for(database)
    send = NotificationActivities(channel=channel).send
    env = ActivityEnvironment()

    first = await env.run(send, MESSAGE)
    second = await env.run(send, MESSAGE)

    assert not first.duplicate
    assert second.duplicate
    delivered = await channel.delivered()
    assert len(delivered) == 1
    assert delivered[0]["dedupe_key"] == MESSAGE.dedupe_key
    assert delivered[0]["data"] == {"total_cents": 3000, "currency": "USD"}


async def test_replicas_share_the_dedupe(database: Database) -> None:
    one, two = outbox_for(database), outbox_for(database)

    assert await one.deliver(MESSAGE)
    assert not await two.deliver(MESSAGE), "the second replica must see the first's delivery"
    other = MESSAGE.model_copy(
        update={"dedupe_key": "order-o-2:order_confirmed", "order_id": "o-2"}
    )
    assert await two.deliver(other)
    assert not await one.deliver(other)
    assert [m["dedupe_key"] for m in await one.delivered()] == [
        MESSAGE.dedupe_key,
        other.dedupe_key,
    ]
    assert [m["dedupe_key"] for m in await one.delivered(order_id="o-2")] == [other.dedupe_key]


async def test_concurrent_sends_of_one_key_store_one_row(database: Database) -> None:
    outboxes = [outbox_for(database) for _ in range(10)]
    stored = await asyncio.gather(*(o.deliver(MESSAGE) for o in outboxes))
    assert stored.count(True) == 1
    assert len(await outboxes[0].delivered()) == 1

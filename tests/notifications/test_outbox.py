"""The outbox channel delivers each dedupe key once, across retries and processes."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import ActivityEnvironment

from services.contracts import NotificationKind, NotificationRequest
from services.notifications import NotificationActivities, OutboxChannel

MESSAGE = NotificationRequest(
    dedupe_key="order-o-1:order_confirmed",
    customer_id="c-1",
    kind=NotificationKind.ORDER_CONFIRMED,
    order_id="o-1",
    data={"total_cents": 3000, "currency": "USD"},
)


async def test_retried_send_is_delivered_once(data_dir: Path) -> None:
    channel = OutboxChannel(data_dir / "outbox.jsonl")
    send = NotificationActivities(channel=channel).send
    env = ActivityEnvironment()

    first = await env.run(send, MESSAGE)
    second = await env.run(send, MESSAGE)

    assert not first.duplicate
    assert second.duplicate
    delivered = channel.delivered()
    assert len(delivered) == 1
    assert delivered[0]["dedupe_key"] == MESSAGE.dedupe_key
    assert delivered[0]["data"] == {"total_cents": 3000, "currency": "USD"}


async def test_two_writers_on_one_outbox_share_the_dedupe(data_dir: Path) -> None:
    path = data_dir / "outbox.jsonl"
    one, two = OutboxChannel(path), OutboxChannel(path)

    assert await one.deliver(MESSAGE)
    assert not await two.deliver(MESSAGE), "the second process must see the first's delivery"
    other = MESSAGE.model_copy(update={"dedupe_key": "order-o-2:order_confirmed"})
    assert await two.deliver(other)
    assert not await one.deliver(other)
    assert [m["dedupe_key"] for m in one.delivered()] == [MESSAGE.dedupe_key, other.dedupe_key]


async def test_a_torn_last_line_is_ignored_and_the_message_resent(data_dir: Path) -> None:
    path = data_dir / "outbox.jsonl"
    path.write_text('{"dedupe_key": "order-o-1:order_confirmed", "cut', encoding="utf-8")
    channel = OutboxChannel(path)

    assert await channel.deliver(MESSAGE)
    assert [m["dedupe_key"] for m in channel.delivered()] == [MESSAGE.dedupe_key]

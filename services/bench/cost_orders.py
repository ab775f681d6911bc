"""The fixed set of orders `rtw bench cost` counts, each driven to its end the way a shop, a
reviewer or a carrier would, and only through calls that leave the count as the order
makes it (no status query: a waiting client reads the history, which is not billed)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.converter import decode_search_attributes
from temporalio.exceptions import CancelledError

from services.bench.billable import START, START_WITH_UPDATE
from services.bench.driver import order
from services.contracts import (
    APPROVE,
    ORDER_STATE_ATTRIBUTE,
    REJECT,
    ApprovalRequest,
    CarrierEvent,
    CarrierEventKind,
    OrderInput,
    OrderState,
    OrderStatus,
    idempotency_workflow_id,
    order_workflow_id,
    shipment_workflow_id,
)
from services.orchestration.client import (
    decide_order,
    send_carrier_event,
    start_order,
    submit_order,
)

#: Above the default approval threshold (100 000 cents): the order waits for a reviewer.
LARGE_CENTS = 150_000
#: How long a driver waits for what it waits for (a saga step, the result).
WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class Ran:
    """One order run to its end: how it ended, and the workflows it ran with the action
    that started each (a child's start is billed to its parent)."""

    outcome: str
    workflows: tuple[tuple[str, str], ...]


Drive = Callable[[Client, str, str], Awaitable[Ran]]


@dataclass(frozen=True)
class OrderType:
    """One kind of order: what it is, how it is driven and how it must end."""

    name: str
    what: str
    drive: Drive
    expected: str
    carrier_events: bool = False
    """Needs a stack whose simulated carrier does not report by itself."""


async def await_event(
    handle: WorkflowHandle[object, object], found: Callable[[HistoryEvent], bool]
) -> HistoryEvent:
    """The first event of the handle's history that `found` accepts, waiting for new events
    as they are written (a long poll of the history: not a billable action)."""
    async for event in handle.fetch_history_events(wait_new_event=True):
        if found(event):
            return event
    raise LookupError(f"{handle.id} closed without the event waited for")


#: Summary of the saga's approval deadline timer (services/orchestration/order_approval.py).
APPROVAL_TIMER_SUMMARY = b'"approval-deadline"'


def state_upsert(state: OrderState) -> Callable[[HistoryEvent], bool]:
    """Matches the search-attribute upsert that publishes `state` (for `awaiting_approval`,
    also the approval deadline timer: a namespace without the attributes has no upsert)."""

    def found(event: HistoryEvent) -> bool:
        if (
            state is OrderState.AWAITING_APPROVAL
            and event.event_type == EventType.EVENT_TYPE_TIMER_STARTED
            and event.user_metadata.summary.data == APPROVAL_TIMER_SUMMARY
        ):
            return True
        if event.event_type != EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            return False
        attributes = event.upsert_workflow_search_attributes_event_attributes.search_attributes
        return decode_search_attributes(attributes).get(ORDER_STATE_ATTRIBUTE) == [state.value]

    return found


def _saga(order_id: str, start: str = START) -> tuple[tuple[str, str], ...]:
    return ((order_workflow_id(order_id), start), (shipment_workflow_id(order_id), START))


async def _finish(handle: WorkflowHandle[object, OrderStatus], order_id: str) -> Ran:
    try:
        status = await handle.result()
        outcome = status.state.value
    except WorkflowFailureError as exc:
        outcome = "cancelled" if isinstance(exc.cause, CancelledError) else type(exc.cause).__name__
    return Ran(outcome, _saga(order_id))


async def _started(
    client: Client, body: OrderInput, queue: str
) -> WorkflowHandle[object, OrderStatus]:
    started = await start_order(client, body, task_queue=queue)
    if not started.created:
        raise RuntimeError(f"order {body.order_id} existed before this run")
    return started.handle


def _plain(payment_method: str, *, sku: str = "sku-1") -> Drive:
    async def drive(client: Client, order_id: str, queue: str) -> Ran:
        body = order(order_id, payment_method)
        if sku != "sku-1":
            body = body.model_copy(
                update={"items": [body.items[0].model_copy(update={"sku": sku})]}
            )
        return await _finish(await _started(client, body, queue), order_id)

    return drive


def _decided(decision: str) -> Drive:
    async def drive(client: Client, order_id: str, queue: str) -> Ran:
        handle = await _started(
            client, order(order_id, "pm_card_visa", unit_price_cents=LARGE_CENTS), queue
        )
        await await_event(handle, state_upsert(OrderState.AWAITING_APPROVAL))
        await decide_order(
            client, order_id, decision, ApprovalRequest(reviewer="bench", reason="bench")
        )
        return await _finish(handle, order_id)

    return drive


async def _cancelled(client: Client, order_id: str, queue: str) -> Ran:
    handle = await _started(
        client, order(order_id, "pm_card_visa", unit_price_cents=LARGE_CENTS), queue
    )
    await await_event(handle, state_upsert(OrderState.AWAITING_APPROVAL))
    await handle.cancel()
    return await _finish(handle, order_id)


def _after(event_id: int, kind: EventType.ValueType) -> Callable[[HistoryEvent], bool]:
    """An event of `kind` written after event `event_id`."""
    return lambda e: e.event_id > event_id and e.event_type == kind


async def _carrier(client: Client, order_id: str, queue: str) -> Ran:
    """The carrier's webhook reports picked_up, in_transit and delivered, one at a time,
    each once the shipment has applied the one before."""
    handle = await _started(client, order(order_id, "pm_card_visa"), queue)
    shipment = client.get_workflow_handle(shipment_workflow_id(order_id))
    await await_event(handle, _after(0, EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED))
    seen = (await await_event(shipment, _after(0, EventType.EVENT_TYPE_MARKER_RECORDED))).event_id
    for kind in (
        CarrierEventKind.PICKED_UP,
        CarrierEventKind.IN_TRANSIT,
        CarrierEventKind.DELIVERED,
    ):
        event = CarrierEvent(event_id=f"{order_id}-{kind.value}", event=kind)
        await send_carrier_event(client, order_id, event)
        signaled = await await_event(
            shipment, _after(seen, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
        )
        if kind is not CarrierEventKind.DELIVERED:
            applied = _after(signaled.event_id, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
            seen = (await await_event(shipment, applied)).event_id
    return await _finish(handle, order_id)


ORDER_TYPES: tuple[OrderType, ...] = (
    OrderType(
        "happy",
        "card accepted, in stock, below the approval threshold, delivered",
        _plain("pm_card_visa"),
        "completed",
    ),
    OrderType(
        "declined",
        "card declined: void, failure notice",
        _plain("pm_card_chargeDeclined"),
        "compensated",
    ),
    OrderType(
        "out_of_stock",
        "no stock: release, void, failure notice",
        _plain("pm_card_visa", sku="sku-discontinued"),
        "compensated",
    ),
    OrderType(
        "approved",
        "above the threshold, approved by a reviewer (update), delivered",
        _decided(APPROVE),
        "completed",
    ),
    OrderType(
        "rejected",
        "above the threshold, rejected by a reviewer (update)",
        _decided(REJECT),
        "rejected",
    ),
    OrderType(
        "cancelled",
        "cancelled while it waits for approval: release, void, notice",
        _cancelled,
        "cancelled",
    ),
    OrderType(
        "carrier_events",
        "happy, with picked_up, in_transit, delivered from the carrier's "
        "webhook one at a time (not the simulated carrier)",
        _carrier,
        "completed",
        carrier_events=True,
    ),
)


async def submitted(client: Client, order_id: str, queue: str) -> Ran:
    """A happy order as the gateway submits it (POST /orders with an Idempotency-Key): the
    key's `IdempotencyKey` marker, then update-with-start of the saga (`accepted`)."""
    key = f"bench-key-{order_id}"
    sent = await submit_order(
        client,
        order(order_id, "pm_card_visa"),
        task_queue=queue,
        timeout=timedelta(seconds=WAIT_SECONDS),
        idempotency_key=key,
        key_attribute=True,
    )
    if not sent.created:
        raise RuntimeError(f"order {order_id} existed before this run")
    handle = client.get_workflow_handle(order_workflow_id(order_id), result_type=OrderStatus)
    ran = await _finish(handle, order_id)
    marker = (idempotency_workflow_id(key), START)
    return Ran(ran.outcome, (*_saga(order_id, START_WITH_UPDATE), marker))
